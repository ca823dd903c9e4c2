/*
 * GET /metrics: the daemon's figures in the Prometheus text format (0.0.4). The counters are
 * relaxed atomics bumped at the edges (the HTTP layer, the event hooks, exec); only the gauge of
 * sandboxes by state reads the registry, with one indexed count under the sandboxes' lock.
 */
#include "runtime-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "events.h"
#include "sandbox.h"

#define MAX_ROUTES 64 /* rb_rt_routes[]; more fall in the "other" row */
#define N_CODES	   (RB_NOT_FOUND + 1)

/* the statuses the API answers; anything else is counted as "other" */
static const unsigned statuses[] = {101, 200, 201, 204, 206, 400, 401, 403, 404, 405,
				    408, 409, 410, 413, 415, 422, 429, 500, 503, 504};
#define N_STATUS (RB_ARRAY_SIZE(statuses) + 1)

/* termination reasons as the code gives them; anything else is "other" */
static const char *const reasons[] = {"user", "timeout", "lost", "daemon stopped",
				      "daemon failed to start"};
#define N_REASONS (RB_ARRAY_SIZE(reasons) + 1)

/* upper bounds in seconds, for commands from a `true` (~0.5 ms) to a build (minutes) */
static const double exec_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				      0.5,    1,     2.5,    5,	    10,	  30,	 60,   120, 300};
#define N_BUCKETS (RB_ARRAY_SIZE(exec_buckets) + 1) /* + the +Inf one */

static struct {
	atomic_ulong requests[MAX_ROUTES + 2][N_STATUS]; /* + "other" route, + unmatched */
	atomic_ulong errors[N_CODES];
	atomic_ulong creates[2]; /* ok, error */
	atomic_ulong terminations[N_REASONS];
	atomic_ulong exec_bucket[N_BUCKETS]; /* not cumulative: one bucket each */
	atomic_ulong exec_sum_us;
	long long started_ms;
} mx;

#define BUMP(c) atomic_fetch_add_explicit(&(c), 1, memory_order_relaxed)
#define READ(c) atomic_load_explicit(&(c), memory_order_relaxed)

void rb_rt_metrics_init(void)
{
	mx.started_ms = rb_now_ms();
}

void rb_rt_metrics_request(const struct rb_rt_route *route, unsigned status)
{
	size_t row = MAX_ROUTES + 1, col = N_STATUS - 1;

	if (status == 0)
		return; /* never answered (the client went away first) */
	if (route) {
		size_t i = (size_t)(route - rb_rt_routes);

		row = i < MAX_ROUTES ? i : MAX_ROUTES;
	}
	for (size_t i = 0; i < RB_ARRAY_SIZE(statuses); i++)
		if (statuses[i] == status)
			col = i;
	BUMP(mx.requests[row][col]);
}

void rb_rt_metrics_error(enum rb_code code)
{
	if ((unsigned)code < N_CODES)
		BUMP(mx.errors[code]);
}

void rb_rt_metrics_create(bool ok)
{
	BUMP(mx.creates[ok ? 0 : 1]);
}

void rb_rt_metrics_terminated(const char *reason)
{
	size_t i = 0;

	while (i < RB_ARRAY_SIZE(reasons) && (!reason || strcmp(reasons[i], reason) != 0))
		i++;
	BUMP(mx.terminations[i]);
}

void rb_rt_metrics_exec(long long duration_us)
{
	double s = (double)duration_us / 1e6;
	size_t i = 0;

	if (duration_us < 0)
		duration_us = 0;
	while (i < RB_ARRAY_SIZE(exec_buckets) && s > exec_buckets[i])
		i++;
	BUMP(mx.exec_bucket[i]);
	atomic_fetch_add_explicit(&mx.exec_sum_us, (unsigned long)duration_us,
				  memory_order_relaxed);
}

/* ---- the text ---- */

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		char *grown = realloc(o->buf, o->cap * 2 + (size_t)n);

		if (!grown) {
			o->oom = true;
			return;
		}
		o->buf = grown;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* a label value with \, " and newlines escaped, as the format wants */
static const char *label(const char *v, char *buf, size_t size)
{
	size_t n = 0;

	for (; *v && n + 3 < size; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			buf[n++] = '\\';
			buf[n++] = *v == '\n' ? 'n' : *v;
		} else {
			buf[n++] = *v;
		}
	}
	buf[n] = '\0';
	return buf;
}

static void sandboxes_by_state(struct out *o, struct rb_rt_sandboxes *m)
{
	static const char *const states[] = {"creating", "running", "paused", "terminated"};
	long long n[RB_ARRAY_SIZE(states)] = {0};
	sqlite3_stmt *st = NULL;

	pthread_mutex_lock(&m->lock);
	if (sqlite3_prepare_v2(m->db, "SELECT state, count(*) FROM sandboxes GROUP BY state", -1,
			       &st, NULL) == SQLITE_OK)
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *s = (const char *)sqlite3_column_text(st, 0);

			for (size_t i = 0; s && i < RB_ARRAY_SIZE(states); i++)
				if (!strcmp(s, states[i]))
					n[i] = sqlite3_column_int64(st, 1);
		}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&m->lock);
	family(o, "runbox_sandboxes", "gauge",
	       "Sandboxes by state (terminated: records still kept).");
	for (size_t i = 0; i < RB_ARRAY_SIZE(states); i++)
		put(o, "runbox_sandboxes{state=\"%s\"} %lld\n", states[i], n[i]);
}

static void requests(struct out *o)
{
	char esc[256];

	family(o, "runbox_api_requests_total", "counter",
	       "API requests answered, by route pattern and HTTP status.");
	for (size_t r = 0; r < MAX_ROUTES + 2; r++) {
		const char *route = r == MAX_ROUTES + 1			   ? "unmatched"
				    : r < rb_rt_n_routes && r < MAX_ROUTES ? rb_rt_routes[r].pattern
									   : "other";
		const char *method =
		    r < rb_rt_n_routes && r < MAX_ROUTES ? rb_rt_routes[r].method : "";

		for (size_t s = 0; s < N_STATUS; s++) {
			unsigned long v = READ(mx.requests[r][s]);
			char code[16];

			if (!v)
				continue;
			if (s < RB_ARRAY_SIZE(statuses))
				snprintf(code, sizeof(code), "%u", statuses[s]);
			else
				snprintf(code, sizeof(code), "other");
			put(o,
			    "runbox_api_requests_total{method=\"%s\",route=\"%s\",code=\"%s\"} "
			    "%lu\n",
			    method, label(route, esc, sizeof(esc)), code, v);
		}
	}
	family(o, "runbox_api_errors_total", "counter", "API error answers, by error code.");
	for (size_t c = 1; c < N_CODES; c++)
		put(o, "runbox_api_errors_total{code=\"%s\"} %lu\n", rb_code_name((enum rb_code)c),
		    READ(mx.errors[c]));
}

static void lifecycle(struct out *o)
{
	char esc[64];

	family(o, "runbox_sandbox_creates_total", "counter", "Sandbox creates, by result.");
	put(o, "runbox_sandbox_creates_total{result=\"ok\"} %lu\n", READ(mx.creates[0]));
	put(o, "runbox_sandbox_creates_total{result=\"error\"} %lu\n", READ(mx.creates[1]));
	family(o, "runbox_sandbox_terminations_total", "counter",
	       "Sandboxes terminated, by reason (lost: found dead at a restart).");
	for (size_t i = 0; i < N_REASONS; i++)
		put(o, "runbox_sandbox_terminations_total{reason=\"%s\"} %lu\n",
		    i < RB_ARRAY_SIZE(reasons) ? label(reasons[i], esc, sizeof(esc)) : "other",
		    READ(mx.terminations[i]));
}

static void exec_histogram(struct out *o)
{
	unsigned long cum = 0;

	family(o, "runbox_exec_duration_seconds", "histogram",
	       "Duration of non-interactive execs, from the start to the exit and the output "
	       "drained.");
	for (size_t i = 0; i < N_BUCKETS; i++) {
		cum += READ(mx.exec_bucket[i]);
		if (i < RB_ARRAY_SIZE(exec_buckets))
			put(o, "runbox_exec_duration_seconds_bucket{le=\"%g\"} %lu\n",
			    exec_buckets[i], cum);
		else
			put(o, "runbox_exec_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
	}
	/* the count is the +Inf bucket's, read once, so the two always agree */
	put(o, "runbox_exec_duration_seconds_sum %.6f\n", (double)READ(mx.exec_sum_us) / 1e6);
	put(o, "runbox_exec_duration_seconds_count %lu\n", cum);
}

static void events(struct out *o)
{
	cJSON *info = cJSON_CreateObject(), *ev, *x;
	const cJSON *e;
	double emitted = 0, dropped = 0;

	rb_rt_ev_info_json(info);
	ev = cJSON_GetObjectItemCaseSensitive(info, "events");
	e = cJSON_GetObjectItemCaseSensitive(ev, "emitted");
	if (cJSON_IsNumber(e))
		emitted = e->valuedouble;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(ev, "exporters"))
	{
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(x, "dropped");

		if (cJSON_IsNumber(d))
			dropped += d->valuedouble;
	}
	cJSON_Delete(info);
	family(o, "runbox_events_emitted_total", "counter", "RuntimeEvents emitted.");
	put(o, "runbox_events_emitted_total %.0f\n", emitted);
	family(o, "runbox_events_dropped_total", "counter",
	       "Events the exporters' full queues dropped.");
	put(o, "runbox_events_dropped_total %.0f\n", dropped);
}

int rb_rt_api_metrics(struct rb_rt_req *req, struct rb_error *err)
{
	struct rb_rt_server *srv = req->srv;
	struct out o = {.cap = 16384};
	struct MHD_Response *resp;

	o.buf = malloc(o.cap);
	if (!o.buf)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	family(&o, "runbox_build_info", "gauge", "The daemon's version; always 1.");
	put(&o, "runbox_build_info{version=\"%s\"} 1\n", RB_VERSION);
	family(&o, "runbox_start_time_seconds", "gauge", "When the daemon started, Unix time.");
	put(&o, "runbox_start_time_seconds %.3f\n", (double)mx.started_ms / 1e3);
	family(&o, "runbox_api_requests_in_flight", "gauge", "API requests being served.");
	put(&o, "runbox_api_requests_in_flight %d\n", atomic_load(&srv->inflight));
	if (srv->sandboxes)
		sandboxes_by_state(&o, srv->sandboxes);
	lifecycle(&o);
	exec_histogram(&o);
	requests(&o);
	events(&o);
	if (o.oom) {
		free(o.buf);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	resp = MHD_create_response_from_buffer(o.len, o.buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(o.buf);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	return rb_rt_reply(req, 200, resp, "text/plain; version=0.0.4; charset=utf-8");
}
