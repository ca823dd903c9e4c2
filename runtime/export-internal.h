/* The exporters' shared machinery (export.c) and their providers (export_ndjson.c,
 * export_webhook.c): one table of operations a provider. */
#ifndef RB_RUNTIME_EXPORT_INTERNAL_H
#define RB_RUNTIME_EXPORT_INTERNAL_H

#include <pthread.h>

#include "events.h"

struct rb_rt_exporter;

struct rb_rt_exporter_ops {
	const char *provider;
	/* the keys of its "config" beside the shared ones (batchSize, flushIntervalMs,
	 * maxQueue, maxRetries), NULL-terminated */
	const char *const *keys;
	size_t default_batch;
	long default_flush_ms;
	/* Read config (field: its path, "observability.exporters[0].config", for messages) and
	 * get ready; x->priv is the provider's. */
	int (*open)(struct rb_rt_exporter *x, const cJSON *config, const char *field,
		    struct rb_error *err);
	/* Deliver a batch, oldest first; on the exporter's own thread only. */
	int (*send)(struct rb_rt_exporter *x, struct rb_rt_ev_text *const *batch, size_t n,
		    struct rb_error *err);
	void (*close)(struct rb_rt_exporter *x);
};

extern const struct rb_rt_exporter_ops rb_rt_export_ndjson, rb_rt_export_webhook;

struct rb_rt_exporter {
	struct rb_rt_ev_sub sub; /* first: the bus hands it back to push */
	const struct rb_rt_exporter_ops *ops;
	void *priv;
	char name[96]; /* "ndjson (observability.exporters[0])" */
	size_t batch_size, max_queue;
	long flush_ms, max_retries;

	pthread_mutex_t lock;
	pthread_cond_t cond;	  /* CLOCK_MONOTONIC */
	struct rb_rt_ev_text **q; /* a ring of max_queue */
	size_t head, len;
	long long first_ms; /* when the oldest queued event came (monotonic) */
	bool stopping;
	bool give_up;	      /* stopping and the receiver failed: the rest is dropped */
	long long stop_by_ms; /* stopping: the flush ends by then (monotonic ms); read by send */
	/* counters, under lock */
	uint64_t accepted, dropped, sent, failed;
	char last_error[256];

	pthread_t thread;
	bool opened, started;
	struct rb_rt_exporter *next;
};

#define RB_RT_EXPORT_STOP_MS 2000 /* what a stopping exporter has to flush its queue */

/* Monotonic milliseconds. */
long long rb_rt_export_now_ms(void);
/* A whole number field of obj within [lo, hi] into *out (left as is when absent). */
int rb_rt_export_get_long(const cJSON *obj, const char *key, const char *field, long lo, long hi,
			  long *out, struct rb_error *err);
/* The batch's texts in one NUL-terminated buffer: open, the texts with sep between them, close;
 * its length without the NUL in *len. NULL when out of memory. */
char *rb_rt_export_join(struct rb_rt_ev_text *const *batch, size_t n, const char *open,
			const char *sep, const char *close, size_t *len);

#endif