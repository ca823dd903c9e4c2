/*
 * GET /api/v1/events: the event bus as Server-Sent Events. The response's reader runs in the
 * connection's own thread (a thread per connection) and blocks on the bus, a second at a time:
 * between waits it looks whether the client hung up, every HEARTBEAT_MS of silence it sends a
 * comment so that proxies keep the connection, and when the daemon stops the bus wakes it to end
 * the stream (rb_rt_ev_close_streams, before the daemon drains its requests).
 */
#include "runtime-internal.h"
#include "events.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fsutil.h"

#define HEARTBEAT_MS 15000
#define SLICE_MS     1000 /* how long one wait on the bus lasts */
#define BATCH	     32

struct sse {
	uint64_t next;
	struct rb_rt_ev_filter f;
	int fd; /* the connection's socket, to see a hang-up */
	char *buf;
	size_t len, off, cap;
	long long last_ms; /* when something was last sent */
	bool ending;
};

static int append(struct sse *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int append(struct sse *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < s->cap - s->len)
			break;
		size_t cap = (s->cap ? s->cap * 2 : 4096) + (size_t)n;
		char *grown = realloc(s->buf, cap);

		if (!grown)
			return -ENOMEM;
		s->buf = grown;
		s->cap = cap;
	}
	s->len += (size_t)n;
	return 0;
}

static bool client_gone(const struct sse *s)
{
	struct pollfd p = {.fd = s->fd, .events = POLLRDHUP};

	return s->fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Fill s->buf with what there is to send next; false when the stream is over. */
static bool fill(struct sse *s)
{
	struct rb_rt_ev_item items[BATCH];
	uint64_t lost = 0;
	int n;

	for (;;) {
		if (s->ending)
			return false;
		n = rb_rt_ev_read(&s->next, &s->f, items, BATCH, SLICE_MS, &lost);
		if (n == -ESHUTDOWN) {
			s->ending = true;
			append(s, ": the daemon is stopping\n\n");
			return true;
		}
		/* not a RuntimeEventType: an EventSource only sees it when it listens for it */
		if (lost)
			append(s, "event: dropped\ndata: {\"dropped\":%llu}\n\n",
			       (unsigned long long)lost);
		for (int i = 0; i < n; i++) {
			append(s, "id: %s\nevent: %s\ndata: %s\n\n", items[i].id,
			       rb_rt_ev_type_name(items[i].type), items[i].text->json);
			rb_rt_ev_text_put(items[i].text);
		}
		if (s->len)
			return true;
		if (client_gone(s))
			return false;
		if (rb_now_ms() - s->last_ms >= HEARTBEAT_MS) {
			append(s, ": heartbeat\n\n");
			return true;
		}
	}
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse *s = cls;
	size_t n;

	if (s->off == s->len) {
		s->off = s->len = 0;
		if (!fill(s))
			return s->ending ? MHD_CONTENT_READER_END_OF_STREAM
					 : MHD_CONTENT_READER_END_WITH_ERROR;
		if (!s->len)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(out, s->buf + s->off, n);
	s->off += n;
	s->last_ms = rb_now_ms();
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;

	free(s->buf);
	free(s);
}

/* "2024-05-01T12:00:00Z" or with ".123": ms since the epoch; -1 when it is not one. */
static long long parse_time(const char *s)
{
	struct tm tm = {0};
	int ms = 0, used = 0;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
		return -1;
	s += used;
	if (*s == '.') {
		int digits = 0;

		for (s++; *s >= '0' && *s <= '9'; s++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*s - '0');
		for (; digits < 3; digits++)
			ms *= 10;
	}
	if (strcmp(s, "Z"))
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000 + ms;
}

/* Where the stream starts: Last-Event-ID, else ?since= (an event id, a time, or 0 for all that
 * is held), else at the next event. */
static int start_at(struct rb_rt_req *req, struct sse *s, struct rb_error *err)
{
	const char *last = rb_rt_header(req, "Last-Event-ID");
	_cleanup_free_ char *since = NULL;
	long long ms;
	int r;

	if (last && *last) {
		rb_rt_ev_seek_id(last, &s->next); /* not held: from the oldest */
		return 0;
	}
	r = rb_rt_query(req, "since", &since, err);
	if (r < 0)
		return r;
	if (!since || !*since) {
		s->next = rb_rt_ev_seek_end();
	} else if (!strcmp(since, "0")) {
		s->next = rb_rt_ev_seek_oldest();
	} else if (!strncmp(since, "evt_", 4)) {
		rb_rt_ev_seek_id(since, &s->next);
	} else if ((ms = parse_time(since)) >= 0) {
		s->next = rb_rt_ev_seek_time(ms);
	} else {
		return rb_rt_field_error(req, err, "since",
					 "query \"since\" must be an event id, an RFC 3339 UTC "
					 "time or 0, not \"%.64s\"",
					 since);
	}
	return 0;
}

static int parse_filter(struct rb_rt_req *req, struct sse *s, struct rb_error *err)
{
	_cleanup_free_ char *types = NULL, *sandbox = NULL;
	const char *bad = NULL;
	int r = rb_rt_query(req, "type", &types, err);

	if (r == 0)
		r = rb_rt_query(req, "sandboxId", &sandbox, err);
	if (r < 0)
		return r;
	if (types && rb_rt_ev_mask_parse(types, &s->f.types, &bad) < 0)
		return rb_rt_field_error(req, err, "type",
					 "query \"type\" has an unknown event type at \"%.64s\" "
					 "(give names such as exec.completed or sandbox.*, "
					 "comma-separated)",
					 bad);
	if (sandbox && strlen(sandbox) >= sizeof(s->f.sandbox_id))
		return rb_rt_field_error(req, err, "sandboxId",
					 "query \"sandboxId\" is not a sandbox id");
	if (sandbox)
		snprintf(s->f.sandbox_id, sizeof(s->f.sandbox_id), "%s", sandbox);
	return 0;
}

int rb_rt_api_events(struct rb_rt_req *req, struct rb_error *err)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sse *s = calloc(1, sizeof(*s));
	struct MHD_Response *resp;
	int r;

	if (!s)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	s->fd = ci ? ci->connect_fd : -1;
	r = parse_filter(req, s, err);
	if (r == 0)
		r = start_at(req, s, err);
	/* at once, so the client sees the headers before the first event */
	if (r == 0)
		r = append(s, ": runbox events\nretry: 1000\n\n");
	if (r < 0) {
		sse_free(s);
		return r == -ENOMEM ? rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory")
				    : r;
	}
	s->last_ms = rb_now_ms();
	resp =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_free);
	if (!resp) {
		sse_free(s);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "cannot create a response");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	r = rb_rt_reply(req, 200, resp, "text/event-stream");
	if (r < 0)
		return rb_error_set(err, -r, RB_INTERNAL_ERROR, "cannot queue the response");
	return 0;
}
