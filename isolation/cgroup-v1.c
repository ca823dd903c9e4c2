/* The cgroup v1 manager: one hierarchy per controller (or a few mounted together), limits in
 * memory.limit_in_bytes, cpu.cfs_quota_us and pids.max, the freezer in freezer.state. */
#include "isolation/cgroup-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"

static const char *dir_of(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c)
{
	int h = rb_cg_hier_of(cg, c);

	return h >= 0 ? cg->dir[h] : NULL;
}

int rb_cg1_init_dir(const char *dir, struct rb_error *err)
{
	char buf[256];
	_cleanup_free_ char *parent = NULL;
	char *slash;

	/* Only a hierarchy with cpuset mounted in it needs this: a new cpuset cgroup starts
	 * with no cpus and no mems, and no task can join it. */
	if (!rb_cg_has(dir, "cpuset.cpus"))
		return 0;
	parent = strdup(dir);
	if (!parent)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	for (int k = 0; k < 2; k++) {
		const char *file = k == 0 ? "cpuset.cpus" : "cpuset.mems";
		int r;

		r = rb_cg_read(dir, file, buf, sizeof(buf), err);
		if (r < 0)
			return r;
		if (buf[0] != '\n' && buf[0] != '\0')
			continue;
		r = rb_cg_read(parent, file, buf, sizeof(buf), err);
		if (r == 0)
			r = rb_cg_write(dir, file, buf, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int set_memory(struct rb_iso_cgroup *cg, const char *dir, uint64_t bytes,
		      struct rb_error *err)
{
	char val[32];
	int r;

	if (bytes)
		snprintf(val, sizeof(val), "%" PRIu64, bytes);
	else
		snprintf(val, sizeof(val), "-1");
	/* memory.memsw (memory + swap) must stay >= memory: equal means no swap. Raising the
	 * limit means raising memsw first, lowering it means lowering the limit first. */
	r = rb_cg_write(dir, "memory.limit_in_bytes", val, err);
	if (r == -EINVAL && cg->info->v1_memsw) {
		r = rb_cg_write(dir, "memory.memsw.limit_in_bytes", val, err);
		if (r == 0)
			r = rb_cg_write(dir, "memory.limit_in_bytes", val, err);
		return r;
	}
	if (r == 0 && cg->info->v1_memsw)
		r = rb_cg_write(dir, "memory.memsw.limit_in_bytes", val, err);
	return r;
}

int rb_cg1_set(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c,
	       const struct rb_iso_cgroup_limits *lim, struct rb_error *err)
{
	const char *dir = dir_of(cg, c);
	char val[32];
	int r;

	switch (c) {
	case RB_ISO_CG_MEMORY:
		return set_memory(cg, dir, lim->memory_bytes, err);
	case RB_ISO_CG_CPU:
		if (!cg->info->v1_cfs) {
			if (lim->cpus <= 0)
				return 0;
			return rb_error_set(err, EOPNOTSUPP, RB_INVALID_CONFIG,
					    "cpu limit: the kernel has no CFS bandwidth control "
					    "(cpu.cfs_quota_us)");
		}
		snprintf(val, sizeof(val), "%d", RB_ISO_CGROUP_CPU_PERIOD);
		r = rb_cg_write(dir, "cpu.cfs_period_us", val, err);
		if (r < 0)
			return r;
		if (lim->cpus > 0)
			snprintf(val, sizeof(val), "%lld",
				 (long long)(lim->cpus * RB_ISO_CGROUP_CPU_PERIOD + 0.5));
		else
			snprintf(val, sizeof(val), "-1");
		return rb_cg_write(dir, "cpu.cfs_quota_us", val, err);
	case RB_ISO_CG_PIDS:
		if (lim->pids_max)
			snprintf(val, sizeof(val), "%" PRIu64, lim->pids_max);
		else
			snprintf(val, sizeof(val), "max");
		return rb_cg_write(dir, "pids.max", val, err);
	default:
		return 0;
	}
}

int rb_cg1_stat(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c, struct rb_iso_cgroup_stats *st,
		struct rb_error *err)
{
	const char *dir = dir_of(cg, c);
	uint64_t v;
	int r;

	switch (c) {
	case RB_ISO_CG_CPUACCT:
		r = rb_cg_read_u64(dir, "cpuacct.usage", &v, err); /* nanoseconds */
		if (r == 0)
			st->cpu_usage_usec = v / 1000;
		return r;
	case RB_ISO_CG_MEMORY:
		r = rb_cg_read_u64(dir, "memory.usage_in_bytes", &st->memory_current, err);
		if (r == 0)
			r = rb_cg_read_u64(dir, "memory.max_usage_in_bytes", &st->memory_peak, err);
		/* oom_kill appeared in memory.oom_control with Linux 4.13 */
		if (r == 0 && rb_cg_read_key(dir, "memory.oom_control", "oom_kill", &v, NULL) == 0)
			st->oom_kills = v;
		return r;
	case RB_ISO_CG_PIDS:
		return rb_cg_read_u64(dir, "pids.current", &st->pids_current, err);
	default:
		return 0;
	}
}

/* freezer.state has no notification: write the state, read it back until it holds. A cgroup
 * stuck in FREEZING past the timeout is thawed again, so nothing stays half frozen. */
int rb_cg1_freeze(struct rb_iso_cgroup *cg, bool frozen, struct rb_error *err)
{
	const char *dir = dir_of(cg, RB_ISO_CG_FREEZER);
	const char *want = frozen ? "FROZEN" : "THAWED";
	long long deadline = rb_cg_now_ms() + RB_ISO_CGROUP_TIMEOUT_MS;
	char state[32];
	int r, step = 1;

	if (!dir)
		return rb_error_set(err, EOPNOTSUPP, RB_INTERNAL_ERROR,
				    "%s: no v1 freezer hierarchy", cg->name);
	for (;;) {
		r = rb_cg_write(dir, "freezer.state", want, err);
		if (r == 0)
			r = rb_cg_read(dir, "freezer.state", state, sizeof(state), err);
		if (r < 0)
			return r;
		if (!strncmp(state, want, strlen(want)))
			return 0;
		if (rb_cg_now_ms() > deadline)
			break;
		rb_cg_backoff(&step);
	}
	if (frozen)
		rb_cg_write(dir, "freezer.state", "THAWED", NULL);
	return rb_error_set(err, ETIMEDOUT, RB_INTERNAL_ERROR,
			    "%s/freezer.state: still %.*s after %d ms", dir,
			    (int)strcspn(state, "\n"), state, RB_ISO_CGROUP_TIMEOUT_MS);
}

static int v1_set_limits(struct rb_iso_cgroup *cg, const struct rb_iso_cgroup_limits *lim,
			 struct rb_error *err)
{
	return rb_cg_set_limits(cg, lim, rb_cg1_set, NULL, err);
}

static int v1_open_fd(struct rb_iso_cgroup *cg, int *fd, struct rb_error *err)
{
	*fd = -1; /* CLONE_INTO_CGROUP takes cgroup2 only */
	return 0;
}

static int v1_freeze(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return rb_cg1_freeze(cg, true, err);
}

static int v1_thaw(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return rb_cg1_freeze(cg, false, err);
}

static int v1_kill_all(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return rb_cg_kill_loop(cg, rb_cg_hier_of(cg, RB_ISO_CG_FREEZER) >= 0 ? 1 : 0, err);
}

static int v1_stats(struct rb_iso_cgroup *cg, struct rb_iso_cgroup_stats *st, struct rb_error *err)
{
	return rb_cg_stats(cg, st, rb_cg1_stat, NULL, err);
}

const struct rb_iso_cgroup_ops rb_iso_cgroup_v1_ops = {
    .name = "v1",
    .create = rb_cg_create,
    .set_limits = v1_set_limits,
    .attach_pid = rb_cg_attach,
    .open_fd = v1_open_fd,
    .freeze = v1_freeze,
    .thaw = v1_thaw,
    .kill_all = v1_kill_all,
    .stats = v1_stats,
    .destroy = rb_cg_destroy,
};
