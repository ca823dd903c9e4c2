/*
 * The event bus: a ring of the last RB_RT_EV_RING events under one mutex, a condition variable
 * the stream's readers wait on, and the exporters' push callbacks. An emitter holds the lock for
 * a few pointer moves and one short snprintf: the event's data is printed before, and nothing in
 * the lock waits on a consumer. A reader that falls a whole ring behind loses the oldest events
 * and is told how many.
 */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

static const char *const type_names[RB_EV__COUNT] = {
    [RB_EV_SANDBOX_CREATED] = "sandbox.created",
    [RB_EV_SANDBOX_STARTED] = "sandbox.started",
    [RB_EV_SANDBOX_PAUSED] = "sandbox.paused",
    [RB_EV_SANDBOX_RESUMED] = "sandbox.resumed",
    [RB_EV_SANDBOX_TERMINATED] = "sandbox.terminated",
    [RB_EV_SANDBOX_ERROR] = "sandbox.error",
    [RB_EV_EXEC_STARTED] = "exec.started",
    [RB_EV_EXEC_COMPLETED] = "exec.completed",
    [RB_EV_EXEC_ERROR] = "exec.error",
    [RB_EV_FILE_CREATED] = "file.created",
    [RB_EV_FILE_READ] = "file.read",
    [RB_EV_FILE_DELETED] = "file.deleted",
    [RB_EV_FILE_ERROR] = "file.error",
    [RB_EV_PORT_EXPOSED] = "port.exposed",
    [RB_EV_PORT_CLOSED] = "port.closed",
    [RB_EV_NETWORK_DENIED] = "network.denied",
};

const char *rb_rt_ev_type_name(enum rb_rt_ev_type t)
{
	return (unsigned)t < RB_EV__COUNT ? type_names[t] : "unknown";
}

int rb_rt_ev_mask_add(rb_rt_ev_mask *m, const char *name)
{
	size_t len = strlen(name);
	rb_rt_ev_mask add = 0;

	if (!strcmp(name, "*"))
		add = RB_EV_BIT(RB_EV__COUNT) - 1;
	for (int t = 0; t < RB_EV__COUNT && !add; t++)
		if (!strcmp(type_names[t], name))
			add = RB_EV_BIT(t);
	/* "sandbox.*": every type of that family */
	if (!add && len > 2 && !strcmp(name + len - 2, ".*"))
		for (int t = 0; t < RB_EV__COUNT; t++)
			if (!strncmp(type_names[t], name, len - 1))
				add |= RB_EV_BIT(t);
	if (!add)
		return -EINVAL;
	*m |= add;
	return 0;
}

int rb_rt_ev_mask_parse(const char *list, rb_rt_ev_mask *m, const char **bad)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");
		char name[64];

		if (n == 0 || n >= sizeof(name)) {
			*bad = p;
			return -EINVAL;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (rb_rt_ev_mask_add(m, name) < 0) {
			*bad = p;
			return -EINVAL;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

void rb_rt_ev_text_put(struct rb_rt_ev_text *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		free(t);
}

struct slot {
	uint64_t seq; /* 0: empty */
	enum rb_rt_ev_type type;
	long long ts_ms;
	char id[RB_RT_EV_ID_LEN + 1];
	char sandbox_id[32];
	struct rb_rt_ev_text *text;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC, set up once */
	pthread_once_t once;
	struct slot ring[RB_RT_EV_RING];
	uint64_t next_seq; /* the next event's; the first is 1 */
	bool closing;
	struct rb_rt_ev_sub *subs;
} bus = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .once = PTHREAD_ONCE_INIT,
    .next_seq = 1,
};

static void bus_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&bus.cond, &a);
	pthread_condattr_destroy(&a);
}

static uint64_t oldest(void)
{
	return bus.next_seq > RB_RT_EV_RING ? bus.next_seq - RB_RT_EV_RING : 1;
}

/* A string as a JSON literal ("null" for NULL), in a new string. */
static char *json_string(const char *s)
{
	cJSON *j = s ? cJSON_CreateString(s) : cJSON_CreateNull();
	char *out = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	return out;
}

void rb_rt_ev_emit(enum rb_rt_ev_type type, const char *sandbox_id, const char *run_id, cJSON *data)
{
	_cleanup_free_ char *data_s = data ? cJSON_PrintUnformatted(data) : strdup("{}");
	_cleanup_free_ char *sb_s = json_string(sandbox_id ? sandbox_id : "");
	_cleanup_free_ char *run_s = json_string(run_id ? run_id : "");
	struct rb_rt_ev_text *t;
	struct slot *s;
	char id[RB_RT_EV_ID_LEN + 1] = "evt_", when[32];
	size_t cap;
	long long now;
	int n;

	cJSON_Delete(data);
	pthread_once(&bus.once, bus_init);
	if (!data_s || !sb_s || !run_s || rb_random_id(id + 4, RB_RT_EV_ID_LEN - 4) < 0)
		return;
	/* the envelope's own bytes: keys, id, time, type */
	cap = strlen(data_s) + strlen(sb_s) + strlen(run_s) + 160;
	t = malloc(sizeof(*t) + cap);
	if (!t)
		return;
	atomic_init(&t->refs, 1);
	pthread_mutex_lock(&bus.lock);
	/* time and place in the ring under one lock: timestamps never go back along the ring */
	now = rb_now_ms();
	rb_format_time(now, when);
	n = snprintf(t->json, cap,
		     "{\"id\":\"%s\",\"timestamp\":\"%s\",\"type\":\"%s\",\"sandboxId\":%s,"
		     "\"runId\":%s,\"data\":%s}",
		     id, when, rb_rt_ev_type_name(type), sb_s, run_s, data_s);
	t->len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
	s = &bus.ring[bus.next_seq % RB_RT_EV_RING];
	rb_rt_ev_text_put(s->text);
	*s = (struct slot){.seq = bus.next_seq++, .type = type, .ts_ms = now, .text = t};
	memcpy(s->id, id, sizeof(s->id));
	snprintf(s->sandbox_id, sizeof(s->sandbox_id), "%s", sandbox_id ? sandbox_id : "");
	for (struct rb_rt_ev_sub *sub = bus.subs; sub; sub = sub->next)
		if (!sub->types || (sub->types & RB_EV_BIT(type)))
			sub->push(sub, type, t);
	pthread_cond_broadcast(&bus.cond);
	pthread_mutex_unlock(&bus.lock);
}

static bool passes(const struct slot *s, const struct rb_rt_ev_filter *f)
{
	if (f->types && !(f->types & RB_EV_BIT(s->type)))
		return false;
	return !f->sandbox_id[0] || !strcmp(f->sandbox_id, s->sandbox_id);
}

int rb_rt_ev_read(uint64_t *next, const struct rb_rt_ev_filter *f, struct rb_rt_ev_item *out,
		  size_t max, int timeout_ms, uint64_t *lost)
{
	struct timespec deadline;
	size_t n = 0;
	int r = 0;

	pthread_once(&bus.once, bus_init);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&bus.lock);
	for (;;) {
		if (bus.closing) {
			r = -ESHUTDOWN;
			break;
		}
		if (*next < oldest()) {
			if (lost)
				*lost += oldest() - *next;
			*next = oldest();
		}
		for (; *next < bus.next_seq && n < max; (*next)++) {
			const struct slot *s = &bus.ring[*next % RB_RT_EV_RING];

			if (!passes(s, f) || !s->text || !s->text->len)
				continue;
			out[n].type = s->type;
			memcpy(out[n].id, s->id, sizeof(out[n].id));
			out[n].text = s->text;
			atomic_fetch_add(&s->text->refs, 1);
			n++;
		}
		if (n > 0 || r == ETIMEDOUT)
			break;
		r = pthread_cond_timedwait(&bus.cond, &bus.lock, &deadline);
	}
	pthread_mutex_unlock(&bus.lock);
	return r == -ESHUTDOWN ? r : (int)n;
}

int rb_rt_ev_seek_id(const char *id, uint64_t *next)
{
	int r = -ENOENT;

	pthread_mutex_lock(&bus.lock);
	*next = oldest();
	for (uint64_t seq = oldest(); seq < bus.next_seq; seq++) {
		const struct slot *s = &bus.ring[seq % RB_RT_EV_RING];

		if (!strcmp(s->id, id)) {
			*next = seq + 1;
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&bus.lock);
	return r;
}

uint64_t rb_rt_ev_seek_time(long long ms)
{
	uint64_t seq;

	pthread_mutex_lock(&bus.lock);
	for (seq = oldest(); seq < bus.next_seq; seq++)
		if (bus.ring[seq % RB_RT_EV_RING].ts_ms >= ms)
			break;
	pthread_mutex_unlock(&bus.lock);
	return seq;
}

uint64_t rb_rt_ev_seek_end(void)
{
	uint64_t seq;

	pthread_mutex_lock(&bus.lock);
	seq = bus.next_seq;
	pthread_mutex_unlock(&bus.lock);
	return seq;
}

uint64_t rb_rt_ev_seek_oldest(void)
{
	uint64_t seq;

	pthread_mutex_lock(&bus.lock);
	seq = oldest();
	pthread_mutex_unlock(&bus.lock);
	return seq;
}

void rb_rt_ev_close_streams(void)
{
	pthread_once(&bus.once, bus_init);
	pthread_mutex_lock(&bus.lock);
	bus.closing = true;
	pthread_cond_broadcast(&bus.cond);
	pthread_mutex_unlock(&bus.lock);
}

void rb_rt_ev_subscribe(struct rb_rt_ev_sub *s)
{
	pthread_mutex_lock(&bus.lock);
	s->next = bus.subs;
	bus.subs = s;
	pthread_mutex_unlock(&bus.lock);
}

void rb_rt_ev_unsubscribe(struct rb_rt_ev_sub *s)
{
	pthread_mutex_lock(&bus.lock);
	for (struct rb_rt_ev_sub **p = &bus.subs; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&bus.lock);
}

void rb_rt_ev_info_json(cJSON *obj)
{
	cJSON *ev = cJSON_AddObjectToObject(obj, "events");
	uint64_t emitted, held;

	pthread_mutex_lock(&bus.lock);
	emitted = bus.next_seq - 1;
	held = bus.next_seq - oldest();
	pthread_mutex_unlock(&bus.lock);
	cJSON_AddNumberToObject(ev, "emitted", (double)emitted);
	cJSON_AddNumberToObject(ev, "buffered", (double)held);
	cJSON_AddNumberToObject(ev, "capacity", RB_RT_EV_RING);
	rb_rt_exporters_info(cJSON_AddArrayToObject(ev, "exporters"));
}
