/*
 * network.denied: one thread reads each private sandbox's denied<N> set (daddr . dport with a
 * counter) every second and reports each destination that is new or whose count grew. A
 * dump of an empty set is one netlink round trip per sandbox: cheap when nothing is denied.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net-internal.h"

#define POLL_MS 1000

struct rb_net_seen {
	uint64_t key; /* address (4 bytes) . port (2), as the set holds them */
	uint64_t count;
};

struct report {
	char id[32];
	char address[INET_ADDRSTRLEN];
	uint16_t port;
	uint64_t count;
};

struct dump {
	struct rb_net_seen *v;
	size_t n, cap;
};

static void collect(const void *key, uint32_t key_len, uint64_t packets, void *ud)
{
	struct dump *d = ud;
	struct rb_net_seen *v;

	if (key_len < 6)
		return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;

		v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return;
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n].key = 0;
	memcpy(&d->v[d->n].key, key, 6);
	d->v[d->n++].count = packets;
}

static int by_key(const void *a, const void *b)
{
	const struct rb_net_seen *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static const struct rb_net_seen *find(const struct rb_net_seen *v, size_t n, uint64_t key)
{
	struct rb_net_seen k = {.key = key};

	return n ? bsearch(&k, v, n, sizeof(*v), by_key) : NULL;
}

/* ctx->lock held: what changed in ns's set since the last look, appended to *out. */
static void look(struct rb_net_sandbox *ns, struct report **out, size_t *n_out)
{
	struct dump d = {0};
	struct rb_error ignored;
	char set[32];

	snprintf(set, sizeof(set), "denied%u", ns->slot);
	if (rb_nft_open(ns->ctx, &ignored) < 0 ||
	    rb_nft_set_dump(ns->ctx, set, collect, &d, &ignored) < 0) {
		free(d.v);
		return;
	}
	qsort(d.v, d.n, sizeof(*d.v), by_key);
	for (size_t i = 0; i < d.n && !ns->denied_quiet; i++) {
		const struct rb_net_seen *old =
		    find(ns->denied_seen, ns->n_denied_seen, d.v[i].key);
		struct report *r;
		uint8_t k[8];

		if (d.v[i].count == 0 || (old && old->count >= d.v[i].count))
			continue;
		r = realloc(*out, (*n_out + 1) * sizeof(**out));
		if (!r)
			break;
		*out = r;
		r += (*n_out)++;
		memcpy(k, &d.v[i].key, 8);
		snprintf(r->id, sizeof(r->id), "%s", ns->name);
		inet_ntop(AF_INET, k, r->address, sizeof(r->address));
		r->port = (uint16_t)(k[4] << 8 | k[5]);
		r->count = d.v[i].count;
	}
	/* an adopted sandbox's past denials were told by the daemon before: only news count */
	ns->denied_quiet = false;
	free(ns->denied_seen);
	ns->denied_seen = d.v;
	ns->n_denied_seen = d.n;
}

static void *poll_main(void *arg)
{
	struct rb_net_ctx *ctx = arg;

	pthread_mutex_lock(&ctx->lock);
	while (!ctx->denied_stop) {
		struct report *reps = NULL;
		size_t n = 0;
		struct timespec until;

		for (size_t i = 0; i < ctx->n_watched; i++)
			look(ctx->watched[i], &reps, &n);
		pthread_mutex_unlock(&ctx->lock);
		for (size_t i = 0; i < n; i++)
			ctx->denied_fn(reps[i].id, reps[i].address, reps[i].port, reps[i].count,
				       ctx->denied_ud);
		free(reps);
		pthread_mutex_lock(&ctx->lock);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += POLL_MS / 1000;
		while (!ctx->denied_stop &&
		       pthread_cond_timedwait(&ctx->denied_wake, &ctx->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&ctx->lock);
	return NULL;
}

int rb_net_ctx_on_denied(struct rb_net_ctx *ctx, rb_net_denied_fn fn, void *ud,
			 struct rb_error *err)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	if (!ctx || ctx->denied_fn)
		return 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ctx->denied_wake, &ca);
	pthread_condattr_destroy(&ca);
	ctx->denied_fn = fn;
	ctx->denied_ud = ud;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&ctx->denied_thread, NULL, poll_main, ctx);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		ctx->denied_fn = NULL;
		pthread_cond_destroy(&ctx->denied_wake);
		return rb_error_set(err, r, RB_RESOURCE_EXHAUSTED,
				    "start the network.denied thread: %s", strerror(r));
	}
	return 0;
}

void rb_net_denied_stop(struct rb_net_ctx *ctx)
{
	if (!ctx->denied_fn)
		return;
	pthread_mutex_lock(&ctx->lock);
	ctx->denied_stop = true;
	pthread_cond_broadcast(&ctx->denied_wake);
	pthread_mutex_unlock(&ctx->lock);
	pthread_join(ctx->denied_thread, NULL);
	pthread_cond_destroy(&ctx->denied_wake);
	ctx->denied_fn = NULL;
}

void rb_net_denied_watch(struct rb_net_sandbox *ns, bool on)
{
	struct rb_net_ctx *ctx = ns->ctx;

	if (!ctx || ns->ops != &rb_net_ops_private)
		return;
	pthread_mutex_lock(&ctx->lock);
	for (size_t i = 0; i < ctx->n_watched; i++)
		if (ctx->watched[i] == ns) {
			ctx->watched[i] = ctx->watched[--ctx->n_watched];
			break;
		}
	if (on) {
		struct rb_net_sandbox **w =
		    realloc(ctx->watched, (ctx->n_watched + 1) * sizeof(*w));

		if (w) {
			ctx->watched = w;
			ctx->watched[ctx->n_watched++] = ns;
		}
	}
	pthread_mutex_unlock(&ctx->lock);
}

void rb_net_sandbox_set_name(struct rb_net_sandbox *ns, const char *id)
{
	if (!ns)
		return;
	snprintf(ns->name, sizeof(ns->name), "%s", id);
	rb_net_denied_watch(ns, true);
}
