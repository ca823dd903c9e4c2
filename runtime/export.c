/*
 * Exporters: the configuration's observability.exporters, each a subscriber of the bus with its
 * own bounded queue and its own thread. The bus pushes under its lock (a pointer into a ring;
 * when the ring is full the oldest event is dropped and counted); the thread takes batches of
 * batchSize, or what came within flushIntervalMs, and hands them to the provider, retrying a
 * failed batch with exponential backoff (maxRetries times) before giving it up. Nothing an
 * exporter does can hold up the API.
 */
#include "export-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "runtime.h"

#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS	 10000

static const struct rb_rt_exporter_ops *const providers[] = {
    &rb_rt_export_ndjson,
    &rb_rt_export_webhook,
};

static const char *const shared_keys[] = {"batchSize", "flushIntervalMs", "maxQueue", "maxRetries",
					  NULL};

struct rb_rt_exporters {
	struct rb_rt_exporter *list;
};

/* the running set, for GET /api/v1/info */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rb_rt_exporters *running;

long long rb_rt_export_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec mono_at(long long ms)
{
	return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
}

int rb_rt_export_get_long(const cJSON *obj, const char *key, const char *field, long lo, long hi,
			  long *out, struct rb_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble ||
	    v->valuedouble < (double)lo || v->valuedouble > (double)hi)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "%s.%s must be a whole number from %ld to %ld", field, key, lo,
				    hi);
	*out = (long)v->valuedouble;
	return 0;
}

char *rb_rt_export_join(struct rb_rt_ev_text *const *batch, size_t n, const char *open,
			const char *sep, const char *close, size_t *len)
{
	size_t lo = strlen(open), ls = strlen(sep), lc = strlen(close), size = lo + lc + 1;
	char *buf, *w;

	for (size_t i = 0; i < n; i++)
		size += batch[i]->len + ls;
	buf = malloc(size);
	if (!buf)
		return NULL;
	w = mempcpy(buf, open, lo);
	for (size_t i = 0; i < n; i++) {
		if (i)
			w = mempcpy(w, sep, ls);
		w = mempcpy(w, batch[i]->json, batch[i]->len);
	}
	w = mempcpy(w, close, lc);
	*w = '\0';
	*len = (size_t)(w - buf);
	return buf;
}

/* ---- the queue ---- */

static void push(struct rb_rt_ev_sub *sub, enum rb_rt_ev_type type, struct rb_rt_ev_text *t)
{
	struct rb_rt_exporter *x = (struct rb_rt_exporter *)sub;

	pthread_mutex_lock(&x->lock);
	if (x->len == x->max_queue) {
		/* full: the oldest goes, so what is delivered is what is recent */
		rb_rt_ev_text_put(x->q[x->head]);
		x->head = (x->head + 1) % x->max_queue;
		x->len--;
		x->dropped++;
	}
	atomic_fetch_add(&t->refs, 1);
	x->q[(x->head + x->len) % x->max_queue] = t;
	if (x->len++ == 0)
		x->first_ms = rb_rt_export_now_ms();
	x->accepted++;
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

/* Wait up to ms, or until stopping; true when stopping. */
static bool pause_or_stop(struct rb_rt_exporter *x, long ms)
{
	struct timespec at = mono_at(rb_rt_export_now_ms() + ms);
	bool stopping;

	pthread_mutex_lock(&x->lock);
	while (!x->stopping && pthread_cond_timedwait(&x->cond, &x->lock, &at) != ETIMEDOUT)
		;
	stopping = x->stopping;
	pthread_mutex_unlock(&x->lock);
	return stopping;
}

/* One batch: tries with backoff between them; once stopping, one try. */
static void deliver(struct rb_rt_exporter *x, struct rb_rt_ev_text *const *batch, size_t n)
{
	long backoff = BACKOFF_FIRST_MS;
	struct rb_error err;
	int r = -EIO;

	for (long attempt = 0; attempt <= x->max_retries; attempt++) {
		rb_error_clear(&err);
		r = x->ops->send(x, batch, n, &err);
		if (r == 0 || attempt == x->max_retries || pause_or_stop(x, backoff))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	pthread_mutex_lock(&x->lock);
	if (r == 0) {
		x->sent += n;
	} else {
		x->failed += n;
		snprintf(x->last_error, sizeof(x->last_error), "%s", err.msg);
		/* stopping, and the receiver fails: what is left is given up, not tried in turn */
		x->give_up = x->stopping;
	}
	pthread_mutex_unlock(&x->lock);
}

static void *exporter_main(void *arg)
{
	struct rb_rt_exporter *x = arg;
	struct rb_rt_ev_text **batch = calloc(x->batch_size, sizeof(*batch));

	pthread_mutex_lock(&x->lock);
	for (;;) {
		size_t n;

		while (!x->stopping &&
		       (x->len == 0 || (x->len < x->batch_size && x->flush_ms > 0 &&
					rb_rt_export_now_ms() < x->first_ms + x->flush_ms))) {
			if (x->len == 0) {
				pthread_cond_wait(&x->cond, &x->lock);
			} else {
				struct timespec at = mono_at(x->first_ms + x->flush_ms);

				pthread_cond_timedwait(&x->cond, &x->lock, &at);
			}
		}
		if (x->stopping && rb_rt_export_now_ms() >= x->stop_by_ms)
			x->give_up = true; /* out of time: what is left is dropped */
		if (x->len == 0 || !batch || x->give_up)
			break;
		n = x->len < x->batch_size ? x->len : x->batch_size;
		for (size_t i = 0; i < n; i++)
			batch[i] = x->q[(x->head + i) % x->max_queue];
		x->head = (x->head + n) % x->max_queue;
		x->len -= n;
		x->first_ms = rb_rt_export_now_ms();
		pthread_mutex_unlock(&x->lock);
		deliver(x, batch, n);
		for (size_t i = 0; i < n; i++)
			rb_rt_ev_text_put(batch[i]);
		pthread_mutex_lock(&x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	free(batch);
	return NULL;
}

/* ---- one exporter's life ---- */

static void exporter_free(struct rb_rt_exporter *x)
{
	if (x->started) {
		pthread_mutex_lock(&x->lock);
		x->stopping = true;
		x->stop_by_ms = rb_rt_export_now_ms() + RB_RT_EXPORT_STOP_MS;
		pthread_cond_broadcast(&x->cond);
		pthread_mutex_unlock(&x->lock);
		pthread_join(x->thread, NULL);
	}
	for (size_t i = 0; i < x->len; i++)
		rb_rt_ev_text_put(x->q[(x->head + i) % x->max_queue]);
	x->failed += x->len;
	if (x->opened && x->ops->close)
		x->ops->close(x);
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	free(x->q);
	free(x);
}

static int check_keys(const cJSON *obj, const char *field, const char *const *a,
		      const char *const *b, struct rb_error *err)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, obj)
	{
		bool known = false;

		for (size_t i = 0; a && a[i] && !known; i++)
			known = !strcmp(a[i], it->string);
		for (size_t i = 0; b && b[i] && !known; i++)
			known = !strcmp(b[i], it->string);
		if (!known)
			return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					    "%s.%s is not a known setting", field, it->string);
	}
	return 0;
}

static int parse_filter(const cJSON *filter, const char *field, rb_rt_ev_mask *types,
			struct rb_error *err)
{
	static const char *const keys[] = {"types", NULL};
	const cJSON *list, *it;
	char ffield[160];
	int r, i = 0;

	if (!filter || cJSON_IsNull(filter))
		return 0;
	if (!cJSON_IsObject(filter))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "%s.filter must be an object",
				    field);
	snprintf(ffield, sizeof(ffield), "%s.filter", field);
	r = check_keys(filter, ffield, keys, NULL, err);
	if (r < 0)
		return r;
	list = cJSON_GetObjectItemCaseSensitive(filter, "types");
	if (list && !cJSON_IsArray(list))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "%s.filter.types must be an array of event types", field);
	cJSON_ArrayForEach(it, list)
	{
		if (!cJSON_IsString(it) || rb_rt_ev_mask_add(types, it->valuestring) < 0)
			return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					    "%s.filter.types[%d] is not an event type (such as "
					    "exec.completed, or sandbox.* for a family)",
					    field, i);
		i++;
	}
	return 0;
}

/* One entry of observability.exporters, started. */
static int exporter_new(const cJSON *entry, const char *field, struct rb_rt_exporter **out,
			struct rb_error *err)
{
	static const char *const keys[] = {"provider", "config", "filter", NULL};
	const char *provider =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "provider"));
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(entry, "config");
	struct rb_rt_exporter *x;
	pthread_condattr_t ca;
	char cfield[128];
	long batch, queue = 10000, flush, retries = 5;
	int r;

	if (!cJSON_IsObject(entry))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "%s must be an object", field);
	r = check_keys(entry, field, keys, NULL, err);
	if (r < 0)
		return r;
	if (!provider)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "%s.provider is required (\"ndjson\" or \"webhook\")", field);
	if (config && !cJSON_IsObject(config) && !cJSON_IsNull(config))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "%s.config must be an object",
				    field);
	x = calloc(1, sizeof(*x));
	if (!x)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&x->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	for (size_t i = 0; i < RB_ARRAY_SIZE(providers) && !x->ops; i++)
		if (!strcmp(providers[i]->provider, provider))
			x->ops = providers[i];
	if (!x->ops) {
		exporter_free(x);
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "%s.provider \"%.64s\" is not an exporter runbox has "
				    "(\"ndjson\" or \"webhook\")",
				    field, provider);
	}
	snprintf(x->name, sizeof(x->name), "%s (%s)", provider, field);
	snprintf(cfield, sizeof(cfield), "%s.config", field);
	batch = (long)x->ops->default_batch;
	flush = x->ops->default_flush_ms;
	r = parse_filter(cJSON_GetObjectItemCaseSensitive(entry, "filter"), field, &x->sub.types,
			 err);
	if (r == 0)
		r = check_keys(config, cfield, shared_keys, x->ops->keys, err);
	if (r == 0)
		r = rb_rt_export_get_long(config, "batchSize", cfield, 1, 10000, &batch, err);
	if (r == 0)
		r = rb_rt_export_get_long(config, "flushIntervalMs", cfield, 0, 3600000, &flush,
					  err);
	if (r == 0)
		r = rb_rt_export_get_long(config, "maxQueue", cfield, 1, 10000000, &queue, err);
	if (r == 0)
		r = rb_rt_export_get_long(config, "maxRetries", cfield, 0, 100, &retries, err);
	if (r == 0 && (x->q = calloc((size_t)queue, sizeof(*x->q))) == NULL)
		r = rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	x->batch_size = (size_t)batch;
	x->flush_ms = flush;
	x->max_queue = (size_t)queue;
	x->max_retries = retries;
	if (r == 0)
		r = x->ops->open(x, config, cfield, err);
	x->opened = r == 0;
	if (r < 0) {
		exporter_free(x);
		return r;
	}
	x->sub.push = push;
	r = pthread_create(&x->thread, NULL, exporter_main, x);
	if (r != 0) {
		exporter_free(x);
		return rb_error_sys(err, r, RB_INTERNAL_ERROR, "starting exporter %s", field);
	}
	x->started = true;
	*out = x;
	return 0;
}

/* Append one exporter, started, to the set. */
static int add_exporter(struct rb_rt_exporters *set, const cJSON *entry, const char *field,
			struct rb_error *err)
{
	struct rb_rt_exporter *x = NULL, **tail = &set->list;
	int r = exporter_new(entry, field, &x, err);

	if (r < 0)
		return r;
	while (*tail)
		tail = &(*tail)->next;
	*tail = x;
	return 0;
}

static int start_all(struct rb_rt_exporters *set, const cJSON *root, struct rb_error *err)
{
	static const char *const keys[] = {"provider", "config", "exporters", NULL};
	const cJSON *obs = cJSON_GetObjectItemCaseSensitive(root, "observability"), *list, *it;
	char field[64];
	int r, i = 0;

	if (!obs || cJSON_IsNull(obs))
		return 0;
	if (!cJSON_IsObject(obs))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "observability must be an object");
	r = check_keys(obs, "observability", keys, NULL, err);
	if (r < 0)
		return r;
	list = cJSON_GetObjectItemCaseSensitive(obs, "exporters");
	if (list && !cJSON_IsArray(list) && !cJSON_IsNull(list))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "observability.exporters must be an array");
	/* the reference's shorthand: observability.provider and .config, one exporter */
	if (cJSON_GetObjectItemCaseSensitive(obs, "provider")) {
		cJSON *entry = cJSON_CreateObject();

		cJSON_AddItemReferenceToObject(entry, "provider",
					       cJSON_GetObjectItemCaseSensitive(obs, "provider"));
		if (cJSON_GetObjectItemCaseSensitive(obs, "config"))
			cJSON_AddItemReferenceToObject(
			    entry, "config", cJSON_GetObjectItemCaseSensitive(obs, "config"));
		r = add_exporter(set, entry, "observability", err);
		cJSON_Delete(entry);
		if (r < 0)
			return r;
	}
	cJSON_ArrayForEach(it, list)
	{
		snprintf(field, sizeof(field), "observability.exporters[%d]", i++);
		r = add_exporter(set, it, field, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int rb_rt_exporters_start(const struct rb_rt_config *cfg, struct rb_rt_exporters **out,
			  struct rb_error *err)
{
	_cleanup_(rb_rt_exporters_stopp) struct rb_rt_exporters *set = NULL;
	int r;

	*out = NULL;
	if (!cfg->config)
		return 0;
	set = calloc(1, sizeof(*set));
	r = set ? start_all(set, cfg->config, err)
		: rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	if (r < 0)
		return rb_error_wrap(err, "configuration");
	for (struct rb_rt_exporter *x = set->list; x; x = x->next)
		rb_rt_ev_subscribe(&x->sub);
	pthread_mutex_lock(&running_lock);
	running = set;
	pthread_mutex_unlock(&running_lock);
	*out = TAKE_PTR(set);
	return 0;
}

void rb_rt_exporters_stop(struct rb_rt_exporters *set)
{
	pthread_mutex_lock(&running_lock);
	if (running == set)
		running = NULL;
	pthread_mutex_unlock(&running_lock);
	while (set->list) {
		struct rb_rt_exporter *x = set->list;

		set->list = x->next;
		rb_rt_ev_unsubscribe(&x->sub);
		exporter_free(x);
	}
	free(set);
}

void rb_rt_exporters_info(cJSON *arr)
{
	pthread_mutex_lock(&running_lock);
	for (struct rb_rt_exporter *x = running ? running->list : NULL; x; x = x->next) {
		cJSON *o = cJSON_CreateObject();

		pthread_mutex_lock(&x->lock);
		cJSON_AddStringToObject(o, "provider", x->ops->provider);
		cJSON_AddStringToObject(o, "name", x->name);
		cJSON_AddNumberToObject(o, "queued", (double)x->len);
		cJSON_AddNumberToObject(o, "maxQueue", (double)x->max_queue);
		cJSON_AddNumberToObject(o, "accepted", (double)x->accepted);
		cJSON_AddNumberToObject(o, "sent", (double)x->sent);
		cJSON_AddNumberToObject(o, "dropped", (double)x->dropped);
		cJSON_AddNumberToObject(o, "failed", (double)x->failed);
		if (x->last_error[0])
			cJSON_AddStringToObject(o, "lastError", x->last_error);
		else
			cJSON_AddNullToObject(o, "lastError");
		pthread_mutex_unlock(&x->lock);
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&running_lock);
}
