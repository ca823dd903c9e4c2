/*
 * The sandboxes' clocks: timeoutMs (a lifetime, terminated with reason "timeout" when it is
 * up; POST .../timeout starts a new one from now), idleTimeoutMs (paused when no API request
 * has used the sandbox for that long; 0: never), and the retention of terminated records.
 * Deadlines are in the record (expiresAt), so they hold across a restart; idleness starts
 * again from the restart.
 *
 * One thread looks at the live sandboxes every TICK_MS under the manager's lock, collects
 * what is due, and acts after letting go of the lock, through the same terminate and pause
 * that the API uses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fsutil.h"
#include "events.h"
#include "sandbox.h"

#define TICK_MS 200

struct due {
	char id[16];
	bool expire; /* else: idle */
};

long long rb_rt_sb_expiry(const cJSON *doc, long long created_ms)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "timeoutMs");
	const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "expiresAt"));
	long long ms;

	if (at && rb_parse_time(at, &ms) == 0)
		return ms;
	return created_ms + (cJSON_IsNumber(t) ? (long long)t->valuedouble : 300000);
}

static long long idle_limit(const struct rb_rt_sandbox *sb)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(sb->doc, "idleTimeoutMs");

	return cJSON_IsNumber(t) ? (long long)t->valuedouble : 0;
}

/* Terminated records older than the retention go; their images were released long ago. */
static void purge(struct rb_rt_sandboxes *m, long long now)
{
	sqlite3_stmt *st = NULL;
	char cutoff[32];

	if (m->retention_ms <= 0)
		return;
	rb_format_time(now - m->retention_ms, cutoff);
	pthread_mutex_lock(&m->lock);
	if (sqlite3_prepare_v2(m->db,
			       "DELETE FROM sandboxes WHERE state = 'terminated'"
			       " AND json_extract(doc, '$.terminatedAt') < ?",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, cutoff, -1, SQLITE_STATIC);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&m->lock);
}

static size_t collect(struct rb_rt_sandboxes *m, long long now, struct due **out)
{
	struct due *due = NULL;
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_live; i++) {
		struct rb_rt_sandbox *sb = m->live[i];
		long long idle = idle_limit(sb);
		bool expire = now >= sb->expires_ms;
		struct due *more;

		/* idle: running, nobody using it now (refs 1 is the table's own), quiet that long
		 */
		if (!expire && !(sb->state == RB_SB_RUNNING && !sb->busy && sb->refs == 1 &&
				 idle > 0 && now - sb->last_active_ms >= idle))
			continue;
		more = realloc(due, (n + 1) * sizeof(*due));
		if (!more)
			break;
		due = more;
		snprintf(due[n].id, sizeof(due[n].id), "%s", sb->id);
		due[n++].expire = expire;
		/* not again at the next tick while this one is acted on */
		if (!expire)
			sb->last_active_ms = now;
	}
	pthread_mutex_unlock(&m->lock);
	*out = due;
	return n;
}

static void *timer_main(void *arg)
{
	struct rb_rt_sandboxes *m = arg;
	long long next_purge = 0;

	pthread_mutex_lock(&m->lock);
	while (!m->timer_stop) {
		struct timespec until;
		struct due *due;
		long long now;
		size_t n;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&m->timer_wake, &m->lock, &until);
		if (m->timer_stop)
			break;
		pthread_mutex_unlock(&m->lock);
		now = rb_now_ms();
		n = collect(m, now, &due);
		for (size_t i = 0; i < n; i++) {
			struct rb_error err;

			/* a sandbox that went meanwhile answers NOT_FOUND or INVALID_STATE: fine */
			if (due[i].expire)
				rb_rt_sandbox_terminate(m, due[i].id, "timeout", NULL, &err);
			else
				rb_rt_sandbox_pause(m, due[i].id, NULL, &err);
		}
		free(due);
		if (now >= next_purge) {
			purge(m, now);
			/* a minute apart, or sooner for a short retention */
			next_purge =
			    now +
			    (m->retention_ms > 0 && m->retention_ms < 240000
				 ? (m->retention_ms / 4 > TICK_MS ? m->retention_ms / 4 : TICK_MS)
				 : 60000);
		}
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int rb_rt_timers_start(struct rb_rt_sandboxes *m, struct rb_error *err)
{
	int r;

	m->timer_stop = false;
	r = pthread_create(&m->timer, NULL, timer_main, m);
	if (r != 0)
		return rb_error_set(err, r, RB_INTERNAL_ERROR, "start the timer thread: %s",
				    strerror(r));
	m->timer_on = true;
	return 0;
}

void rb_rt_timers_stop(struct rb_rt_sandboxes *m)
{
	if (!m->timer_on)
		return;
	pthread_mutex_lock(&m->lock);
	m->timer_stop = true;
	pthread_cond_broadcast(&m->timer_wake);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->timer, NULL);
	m->timer_on = false;
}

int rb_rt_sandbox_set_timeout(struct rb_rt_sandboxes *m, const char *id, long long timeout_ms,
			      cJSON **out, struct rb_error *err)
{
	struct rb_rt_sandbox *sb;
	long long now = rb_now_ms();
	int r;

	pthread_mutex_lock(&m->lock);
	r = rb_rt_sb_settle(m, id, &sb, err);
	if (r == 0) {
		sb->expires_ms = now + timeout_ms;
		sb->last_active_ms = now;
		cJSON_ReplaceItemInObjectCaseSensitive(sb->doc, "timeoutMs",
						       cJSON_CreateNumber((double)timeout_ms));
		rb_rt_sb_set_time(sb->doc, "expiresAt", sb->expires_ms);
		r = rb_rt_sb_save(m, sb, err);
		if (r == 0 && out)
			*out = cJSON_Duplicate(sb->doc, 1);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}
