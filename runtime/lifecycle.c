/*
 * Pause, resume and metrics of live sandboxes. Pause and resume are the cgroup freezer: every
 * process of the sandbox stops where it is, memory and files stay as they were. A transition
 * marks the sandbox busy under the manager's lock and runs the freezer outside it, so the
 * other sandboxes never wait on this one; whoever needs this one settled (hold, terminate,
 * another pause) waits for the manager's `settled` broadcast instead.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "events.h"
#include "sandbox.h"

#define CPU_SAMPLE_MIN_US 250000 /* a percentage over less than this reuses the last one */

/* The sandbox id in the state from, marked busy and held; INVALID_STATE in another state. */
static int begin(struct rb_rt_sandboxes *m, const char *id, enum rb_rt_sb_state from,
		 struct rb_rt_sandbox **out, struct rb_error *err)
{
	struct rb_rt_sandbox *sb = NULL;
	int r;

	*out = NULL;
	pthread_mutex_lock(&m->lock);
	r = rb_rt_sb_settle(m, id, &sb, err);
	if (r >= 0 && sb && sb->state == from) {
		sb->busy = true;
		sb->refs++;
		*out = sb;
	} else if (r >= 0) {
		r = rb_error_set(err, EBUSY, RB_INVALID_STATE, "sandbox %s is %s, not %s", id,
				 sb ? rb_rt_sb_state_name(sb->state) : "gone",
				 rb_rt_sb_state_name(from));
	}
	pthread_mutex_unlock(&m->lock);
	return r < 0 ? r : 0;
}

/* Record the outcome (state to when r is 0), wake the waiters, let go. */
static int end(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb, int r, enum rb_rt_sb_state to,
	       cJSON **out, struct rb_error *err)
{
	pthread_mutex_lock(&m->lock);
	if (r == 0) {
		enum rb_rt_sb_state was = sb->state;
		cJSON *was_at =
		    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(sb->doc, "pausedAt"), 1);

		rb_rt_sb_set_state(sb, to);
		rb_rt_sb_set_time(sb->doc, "pausedAt", to == RB_SB_PAUSED ? rb_now_ms() : -1);
		r = rb_rt_sb_save(m, sb, err);
		if (r < 0) {
			/* the registry must not disagree with the kernel: undo */
			struct rb_error ignored;

			if (to == RB_SB_PAUSED)
				rb_iso_cgroup_thaw(sb->cg, &ignored);
			else
				rb_iso_cgroup_freeze(sb->cg, &ignored);
			rb_rt_sb_set_state(sb, was);
			if (was_at)
				cJSON_ReplaceItemInObjectCaseSensitive(sb->doc, "pausedAt",
								       TAKE_PTR(was_at));
		}
		cJSON_Delete(was_at);
	}
	if (r == 0 && out)
		*out = cJSON_Duplicate(sb->doc, 1);
	rb_rt_ev_sandbox_transition(sb->id, to == RB_SB_PAUSED, r < 0 ? err : NULL);
	sb->busy = false;
	pthread_cond_broadcast(&m->settled);
	pthread_mutex_unlock(&m->lock);
	rb_rt_sandbox_put(m, sb);
	return r;
}

int rb_rt_sandbox_pause(struct rb_rt_sandboxes *m, const char *id, cJSON **out,
			struct rb_error *err)
{
	struct rb_rt_sandbox *sb;
	int r = begin(m, id, RB_SB_RUNNING, &sb, err);

	if (r < 0 || !sb)
		return r;
	/* returns once every task is frozen; a freeze that times out is undone */
	r = rb_iso_cgroup_freeze(sb->cg, err);
	if (r < 0)
		rb_error_wrap(err, "pause %s", id);
	return end(m, sb, r, RB_SB_PAUSED, out, err);
}

int rb_rt_sandbox_resume(struct rb_rt_sandboxes *m, const char *id, cJSON **out,
			 struct rb_error *err)
{
	struct rb_rt_sandbox *sb;
	int r = begin(m, id, RB_SB_PAUSED, &sb, err);

	if (r < 0 || !sb)
		return r;
	r = rb_iso_cgroup_thaw(sb->cg, err);
	if (r < 0)
		rb_error_wrap(err, "resume %s", id);
	return end(m, sb, r, RB_SB_RUNNING, out, err);
}

/* ---- metrics ---- */

static long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A statistic, or null when this host cannot tell it. */
static void add_stat(cJSON *obj, const char *key, uint64_t v)
{
	if (v == RB_ISO_CGROUP_UNKNOWN)
		cJSON_AddNullToObject(obj, key);
	else
		cJSON_AddNumberToObject(obj, key, (double)v);
}

/* Percent of one CPU (docker stats' figure) since the previous sample, which any caller may
 * have taken; the first one averages over the sandbox's life. Caller holds m->lock. */
static double cpu_percent(struct rb_rt_sandbox *sb, uint64_t usec, long long now_us)
{
	long long since = sb->cpu_sample.at_us;
	uint64_t before = sb->cpu_sample.usec;

	if (since && now_us - since < CPU_SAMPLE_MIN_US)
		return sb->cpu_sample.percent;
	if (!since) {
		since = now_us - (rb_now_ms() - sb->created_ms) * 1000;
		before = 0;
	}
	sb->cpu_sample.percent = now_us > since && usec >= before
				     ? 100.0 * (double)(usec - before) / (double)(now_us - since)
				     : 0;
	sb->cpu_sample.usec = usec;
	sb->cpu_sample.at_us = now_us;
	return sb->cpu_sample.percent;
}

int rb_rt_sandbox_metrics(struct rb_rt_sandboxes *m, const char *id, cJSON **out,
			  struct rb_error *err)
{
	struct rb_rt_sandbox *sb;
	struct rb_iso_cgroup_stats st;
	struct statfs fs;
	const cJSON *res;
	cJSON *body, *o;
	char when[32];
	long long now = mono_us();
	bool have_fs;
	int r = rb_rt_sandbox_hold_as(m, id, RB_RT_HOLD_LIVE, &sb, err);

	if (r < 0)
		return r;
	r = rb_iso_cgroup_stats(sb->cg, &st, err);
	/* the upper tmpfs is the sandbox's disk: what it holds is what the sandbox wrote */
	have_fs = sb->iso.upper_fd >= 0 && fstatfs(sb->iso.upper_fd, &fs) == 0;
	pthread_mutex_lock(&m->lock);
	if (r < 0 && sb->state == RB_SB_TERMINATED)
		r = rb_error_set(err, EBUSY, RB_INVALID_STATE, "sandbox %s was terminated", id);
	if (r < 0) {
		pthread_mutex_unlock(&m->lock);
		rb_rt_sandbox_put(m, sb);
		return r;
	}
	res = cJSON_GetObjectItemCaseSensitive(sb->doc, "resources");
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "id", sb->id);
	cJSON_AddStringToObject(body, "state", rb_rt_sb_state_name(sb->state));
	rb_format_time(rb_now_ms(), when);
	cJSON_AddStringToObject(body, "timestamp", when);

	o = cJSON_AddObjectToObject(body, "cpu");
	add_stat(o, "usageUsec", st.cpu_usage_usec);
	if (st.cpu_usage_usec == RB_ISO_CGROUP_UNKNOWN)
		cJSON_AddNullToObject(o, "percent");
	else
		cJSON_AddNumberToObject(
		    o, "percent",
		    (double)(long long)(cpu_percent(sb, st.cpu_usage_usec, now) * 100 + 0.5) / 100);
	cJSON_AddNumberToObject(o, "limit",
				cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "cpu")));

	o = cJSON_AddObjectToObject(body, "memory");
	add_stat(o, "currentBytes", st.memory_current);
	add_stat(o, "peakBytes", st.memory_peak);
	cJSON_AddNumberToObject(
	    o, "limitBytes",
	    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "memoryMb")) * 1048576);
	add_stat(o, "oomKills", st.oom_kills);

	o = cJSON_AddObjectToObject(body, "pids");
	add_stat(o, "current", st.pids_current);
	cJSON_AddNumberToObject(o, "limit", (double)m->default_pids);

	o = cJSON_AddObjectToObject(body, "disk");
	if (have_fs) {
		cJSON_AddNumberToObject(o, "usedBytes",
					(double)(fs.f_blocks - fs.f_bfree) * (double)fs.f_bsize);
		cJSON_AddNumberToObject(o, "limitBytes", (double)fs.f_blocks * (double)fs.f_bsize);
	} else {
		cJSON_AddNullToObject(o, "usedBytes");
		cJSON_AddNullToObject(o, "limitBytes");
	}
	pthread_mutex_unlock(&m->lock);
	rb_rt_sandbox_put(m, sb);
	*out = body;
	return 0;
}
