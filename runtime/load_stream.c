/* A load answered as NDJSON: one line per (throttled) progress report, then a last line with
 * the images or the error. */
#include "runtime-internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRESS_INTERVAL_MS 100

struct load_job {
	struct rb_image_store *store;
	struct rb_rt_stream *stream;
	char *path, *name;
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

static void on_progress(const struct rb_image_progress *p, void *userdata)
{
	struct load_job *job = userdata;
	const char *phase = p->phase ? p->phase : "";
	long long now = mono_ms();
	bool changed = strcmp(phase, job->last_phase) || p->layer_index != job->last_index;
	bool finished = p->total && p->done >= p->total && p->done != job->last_done;
	cJSON *line, *o;

	if (rb_rt_stream_broken(job->stream) ||
	    (!changed && !finished && now - job->last_ms < PROGRESS_INTERVAL_MS))
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
	rb_rt_stream_line(job->stream, line);
}

static void load_main(struct rb_rt_stream *s, void *arg)
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

	job->stream = s;
	rb_error_clear(&err);
	if (rb_image_load(job->store, &opts, &loaded, &err) < 0) {
		last = rb_rt_error_json(rb_rt_stream_request_id(s), &err, NULL);
	} else {
		last = cJSON_CreateObject();
		cJSON_AddItemToObject(last, "images", loaded);
	}
	rb_rt_stream_line(s, last);
}

static void job_free(void *arg)
{
	struct load_job *job = arg;

	free(job->path);
	free(job->name);
	free(job);
}

int rb_rt_load_stream(struct rb_rt_req *req, const char *path, const char *name,
		      struct rb_error *err)
{
	struct load_job *job = calloc(1, sizeof(*job));

	if (!job)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	job->store = req->srv->store;
	job->path = strdup(path);
	job->name = name ? strdup(name) : NULL;
	if (!job->path || (name && !job->name)) {
		job_free(job);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	return rb_rt_stream_start(req, load_main, job, job_free, err);
}
