/*
 * A load answered as NDJSON: the load runs in its own thread and writes one line per (throttled)
 * progress report into a pipe, then a last line with the images or the error. The response's
 * reader blocks on the pipe, which is fine with a thread per connection. The job is freed by the
 * response's free callback on every path: it closes the read end (so a load whose client went
 * away only loses its progress lines) and joins the thread.
 */
#include "runtime-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_INTERVAL_MS 100

struct load_job {
	struct rb_image_store *store;
	char *path, *name;
	char req_id[RB_RT_REQ_ID_SIZE];
	int rfd, wfd;
	pthread_t thread;
	bool started;
	bool broken; /* the reader is gone; written by the load thread only */
	/* throttle state, load thread only */
	char last_phase[16];
	unsigned last_index;
	uint64_t last_done;
	long long last_ms;
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write obj as one line (and free it); after the first failed write, drop lines. */
static void put_line(struct load_job *job, cJSON *obj)
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
	while (!job->broken && off < len) {
		ssize_t n = write(job->wfd, line + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			job->broken = true;
		else
			off += (size_t)n;
	}
	free(line);
}

static void on_progress(const struct rb_image_progress *p, void *userdata)
{
	struct load_job *job = userdata;
	const char *phase = p->phase ? p->phase : "";
	long long now = mono_ms();
	bool changed = strcmp(phase, job->last_phase) || p->layer_index != job->last_index;
	bool finished = p->total && p->done >= p->total && p->done != job->last_done;
	cJSON *line, *o;

	if (job->broken || (!changed && !finished && now - job->last_ms < PROGRESS_INTERVAL_MS))
		return;
	snprintf(job->last_phase, sizeof(job->last_phase), "%s", phase);
	job->last_index = p->layer_index;
	job->last_done = p->done;
	job->last_ms = now;

	line = cJSON_CreateObject();
	o = cJSON_AddObjectToObject(line, "progress");
	cJSON_AddStringToObject(o, "phase", phase);
	if (p->layer)
		cJSON_AddStringToObject(o, "layer", p->layer);
	else
		cJSON_AddNullToObject(o, "layer");
	cJSON_AddNumberToObject(o, "index", p->layer_index);
	cJSON_AddNumberToObject(o, "count", p->layer_count);
	cJSON_AddNumberToObject(o, "done", (double)p->done);
	cJSON_AddNumberToObject(o, "total", (double)p->total);
	put_line(job, line);
}

static void *load_main(void *arg)
{
	struct load_job *job = arg;
	struct rb_image_load_opts opts = {
	    .path = job->path,
	    .name = job->name,
	    .progress = on_progress,
	    .progress_userdata = job,
	};
	struct rb_error err;
	cJSON *loaded = NULL, *last;

	rb_error_clear(&err);
	if (rb_image_load(job->store, &opts, &loaded, &err) < 0) {
		last = rb_rt_error_json(job->req_id, &err, NULL);
	} else {
		last = cJSON_CreateObject();
		cJSON_AddItemToObject(last, "images", loaded);
	}
	put_line(job, last);
	close(job->wfd);
	job->wfd = -1;
	return NULL;
}

static ssize_t read_lines(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct load_job *job = cls;

	for (;;) {
		ssize_t n = read(job->rfd, buf, max);

		if (n > 0)
			return n;
		if (n == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (errno != EINTR)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
}

static void job_free(void *cls)
{
	struct load_job *job = cls;

	if (job->rfd >= 0)
		close(job->rfd);
	if (job->started)
		pthread_join(job->thread, NULL);
	if (job->wfd >= 0)
		close(job->wfd);
	free(job->path);
	free(job->name);
	free(job);
}

int rb_rt_load_stream(struct rb_rt_req *req, const char *path, const char *name,
		      struct rb_error *err)
{
	struct load_job *job = calloc(1, sizeof(*job));
	struct MHD_Response *resp;
	int fds[2], r;

	if (!job)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	job->rfd = job->wfd = -1;
	job->store = req->srv->store;
	job->path = strdup(path);
	job->name = name ? strdup(name) : NULL;
	memcpy(job->req_id, req->id, sizeof(job->req_id));
	if (!job->path || (name && !job->name)) {
		job_free(job);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		job_free(job);
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "pipe");
	}
	job->rfd = fds[0];
	job->wfd = fds[1];
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, read_lines, job,
						 job_free);
	if (!resp) {
		job_free(job);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "cannot create a response");
	}
	/* from here the response owns the job */
	r = rb_rt_reply(req, 200, resp, "application/x-ndjson");
	if (r < 0)
		return rb_error_set(err, -r, RB_INTERNAL_ERROR, "cannot queue the response");
	/* the reader only runs after this handler returns, so the thread may start last */
	r = pthread_create(&job->thread, NULL, load_main, job);
	if (r != 0) {
		struct rb_error terr;

		rb_error_sys(&terr, r, RB_INTERNAL_ERROR, "cannot start the load");
		put_line(job, rb_rt_error_json(job->req_id, &terr, NULL));
		close(job->wfd);
		job->wfd = -1;
		return 0;
	}
	job->started = true;
	return 0;
}
