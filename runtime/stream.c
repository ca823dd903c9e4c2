/*
 * Answers streamed as NDJSON: a worker thread writes one JSON line at a time into a pipe and the
 * response's reader blocks on the pipe, which is fine with a thread per connection. The job is
 * freed by the response's free callback on every path: it closes the read end (so a worker whose
 * client went away only loses its lines and runs to its end) and joins the thread.
 */
#include "runtime-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rb_rt_stream {
	rb_rt_stream_fn fn;
	void *ud;
	void (*ud_free)(void *);
	char req_id[RB_RT_REQ_ID_SIZE];
	int rfd, wfd;
	pthread_t thread;
	bool started;
	bool broken; /* the reader is gone; written by the worker only */
};

const char *rb_rt_stream_request_id(const struct rb_rt_stream *s)
{
	return s->req_id;
}

bool rb_rt_stream_broken(const struct rb_rt_stream *s)
{
	return s->broken;
}

void rb_rt_stream_line(struct rb_rt_stream *s, cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj), *line;
	size_t off = 0, len;

	cJSON_Delete(obj);
	if (!text)
		return;
	len = strlen(text);
	line = realloc(text, len + 2);
	if (!line) {
		free(text);
		return;
	}
	line[len++] = '\n';
	line[len] = '\0';
	while (!s->broken && off < len) {
		ssize_t n = write(s->wfd, line + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			s->broken = true;
		else
			off += (size_t)n;
	}
	free(line);
}

static void *stream_main(void *arg)
{
	struct rb_rt_stream *s = arg;

	s->fn(s, s->ud);
	close(s->wfd);
	s->wfd = -1;
	return NULL;
}

static ssize_t read_lines(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct rb_rt_stream *s = cls;

	for (;;) {
		ssize_t n = read(s->rfd, buf, max);

		if (n > 0)
			return n;
		if (n == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (errno != EINTR)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
}

static void stream_free(void *cls)
{
	struct rb_rt_stream *s = cls;

	if (s->rfd >= 0)
		close(s->rfd);
	if (s->started)
		pthread_join(s->thread, NULL);
	if (s->wfd >= 0)
		close(s->wfd);
	if (s->ud_free)
		s->ud_free(s->ud);
	free(s);
}

int rb_rt_stream_start(struct rb_rt_req *req, rb_rt_stream_fn fn, void *ud, void (*ud_free)(void *),
		       struct rb_error *err)
{
	struct rb_rt_stream *s = calloc(1, sizeof(*s));
	struct MHD_Response *resp;
	int fds[2], r;

	if (!s) {
		if (ud_free)
			ud_free(ud);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	s->fn = fn;
	s->ud = ud;
	s->ud_free = ud_free;
	s->rfd = s->wfd = -1;
	memcpy(s->req_id, req->id, sizeof(s->req_id));
	if (pipe2(fds, O_CLOEXEC) < 0) {
		stream_free(s);
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "pipe");
	}
	s->rfd = fds[0];
	s->wfd = fds[1];
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, read_lines, s,
						 stream_free);
	if (!resp) {
		stream_free(s);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "cannot create a response");
	}
	/* from here the response owns the stream */
	r = rb_rt_reply(req, 200, resp, "application/x-ndjson");
	if (r < 0)
		return rb_error_set(err, -r, RB_INTERNAL_ERROR, "cannot queue the response");
	/* the reader only runs after this handler returns, so the thread may start last */
	r = pthread_create(&s->thread, NULL, stream_main, s);
	if (r != 0) {
		struct rb_error terr;

		rb_error_sys(&terr, r, RB_INTERNAL_ERROR, "cannot start the worker");
		rb_rt_stream_line(s, rb_rt_error_json(s->req_id, &terr, NULL));
		close(s->wfd);
		s->wfd = -1;
		return 0;
	}
	s->started = true;
	return 0;
}
