/* The cgroup v2 manager: one tree, limits in memory.max, cpu.max and pids.max, the core
 * cgroup.freeze and cgroup.kill, and cgroup.events to wait on without sleeping. */
#include "isolation/cgroup-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"

const struct rb_cg2_ctrl_name rb_cg2_ctrls[3] = {
    {"cpu", RB_ISO_CG_CPU},
    {"memory", RB_ISO_CG_MEMORY},
    {"pids", RB_ISO_CG_PIDS},
};

static const char *dir_of(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c)
{
	int h = rb_cg_hier_of(cg, c);

	return h >= 0 ? cg->dir[h] : NULL;
}

int rb_cg2_set(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c,
	       const struct rb_iso_cgroup_limits *lim, struct rb_error *err)
{
	const char *dir = dir_of(cg, c);
	char val[64];
	int r;

	switch (c) {
	case RB_ISO_CG_MEMORY:
		if (lim->memory_bytes)
			snprintf(val, sizeof(val), "%" PRIu64, lim->memory_bytes);
		else
			snprintf(val, sizeof(val), "max");
		r = rb_cg_write(dir, "memory.max", val, err);
		/* memory.swap.max exists only with swap accounting; a limit means no swap */
		if (r == 0 && rb_cg_has(dir, "memory.swap.max"))
			r = rb_cg_write(dir, "memory.swap.max", lim->memory_bytes ? "0" : "max",
					err);
		return r;
	case RB_ISO_CG_CPU:
		if (lim->cpus > 0)
			snprintf(val, sizeof(val), "%lld %d",
				 (long long)(lim->cpus * RB_ISO_CGROUP_CPU_PERIOD + 0.5),
				 RB_ISO_CGROUP_CPU_PERIOD);
		else
			snprintf(val, sizeof(val), "max %d", RB_ISO_CGROUP_CPU_PERIOD);
		return rb_cg_write(dir, "cpu.max", val, err);
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

int rb_cg2_stat(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c, struct rb_iso_cgroup_stats *st,
		struct rb_error *err)
{
	const char *dir = dir_of(cg, c);
	int r;

	switch (c) {
	case RB_ISO_CG_CPUACCT:
		return rb_cg_read_key(dir, "cpu.stat", "usage_usec", &st->cpu_usage_usec, err);
	case RB_ISO_CG_MEMORY:
		r = rb_cg_read_u64(dir, "memory.current", &st->memory_current, err);
		/* memory.peak appeared with Linux 5.19 */
		if (r == 0 && rb_cg_has(dir, "memory.peak"))
			r = rb_cg_read_u64(dir, "memory.peak", &st->memory_peak, err);
		if (r == 0)
			r = rb_cg_read_key(dir, "memory.events", "oom_kill", &st->oom_kills, err);
		return r;
	case RB_ISO_CG_PIDS:
		return rb_cg_read_u64(dir, "pids.current", &st->pids_current, err);
	default:
		return 0;
	}
}

static bool event_is(const char *buf, const char *key, uint64_t want)
{
	size_t klen = strlen(key);

	for (const char *line = buf; line && *line;) {
		if (!strncmp(line, key, klen) && line[klen] == ' ')
			return strtoull(line + klen + 1, NULL, 10) == want;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return false;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int rb_cg2_wait_event(const char *dir, const char *key, uint64_t want, int timeout_ms,
		      struct rb_error *err)
{
	long long deadline = now_us() + (long long)timeout_ms * 1000, recheck = 50;
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	char buf[256];

	if (asprintf(&path, "%s/cgroup.events", dir) < 0)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ENODEV) && !strcmp(key, "populated") && !want)
		return 0; /* a cgroup gone is an empty one */
	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", path);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLPRI};
		struct timespec wait;
		long long left;
		ssize_t n;

		/* Reading re-arms the notification: kernfs wakes POLLPRI on the next change. */
		if (lseek(fd, 0, SEEK_SET) < 0)
			return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "lseek %s", path);
		n = read(fd, buf, sizeof(buf) - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "read %s", path);
		buf[n] = '\0';
		if (event_is(buf, key, want))
			return 0;
		left = deadline - now_us();
		if (left <= 0)
			return rb_error_set(err, ETIMEDOUT, RB_INTERNAL_ERROR,
					    "%s: no \"%s %" PRIu64 "\" after %d ms", path, key,
					    want, timeout_ms);
		/* The kernel sends at most one cgroup.events notification per 10 ms per file
		 * (cgroup_file_notify), so a change that follows another closely (a pause just
		 * after a resume) is told late: re-read early too, at 50, 100, 200 ... us, so a
		 * freeze done in 0.1 ms or a kill done in 1 ms is seen then. */
		if (left > recheck)
			left = recheck;
		recheck *= 2;
		wait = (struct timespec){left / 1000000, left % 1000000 * 1000};
		if (ppoll(&p, 1, &wait, NULL) < 0 && errno != EINTR)
			return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "poll %s", path);
	}
}

int rb_cg2_freeze(struct rb_iso_cgroup *cg, bool frozen, struct rb_error *err)
{
	const char *dir = dir_of(cg, RB_ISO_CG_UNIFIED);
	int r;

	if (!dir || !cg->info->has_freeze)
		return rb_error_set(err, EOPNOTSUPP, RB_INTERNAL_ERROR,
				    "%s: no cgroup.freeze (Linux 5.2)", cg->name);
	r = rb_cg_write(dir, "cgroup.freeze", frozen ? "1" : "0", err);
	if (r == 0)
		r = rb_cg2_wait_event(dir, "frozen", frozen ? 1 : 0, RB_ISO_CGROUP_TIMEOUT_MS, err);
	if (r == -ETIMEDOUT && frozen)
		rb_cg_write(dir, "cgroup.freeze", "0", NULL); /* nothing stays half frozen */
	return r;
}

int rb_cg2_kill(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	const char *dir = dir_of(cg, RB_ISO_CG_UNIFIED);
	int r;

	if (!dir)
		return 0;
	/* The kernel kills every task, including ones forked while it walks the cgroup. */
	r = rb_cg_write(dir, "cgroup.kill", "1", err);
	if (r == -ENOENT || r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	return rb_cg2_wait_event(dir, "populated", 0, RB_ISO_CGROUP_TIMEOUT_MS, err);
}

int rb_cg2_open_fd(struct rb_iso_cgroup *cg, int *fd, struct rb_error *err)
{
	const char *dir = dir_of(cg, RB_ISO_CG_UNIFIED);

	*fd = -1;
	if (!dir || !cg->info->clone_into_cgroup)
		return 0;
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", dir);
	return 0;
}

/* Controllers the sandboxes take from the cgroup2 tree at hierarchy index h. */
static bool takes_from(const struct rb_iso_cgroup_info *info, int h, enum rb_iso_cgroup_ctrl c)
{
	return h >= 0 && info->ctrl_hier[c] == h;
}

int rb_cg2_init_parent(const struct rb_iso_cgroup_info *info, const char *parent,
		       struct rb_error *err)
{
	int h = info->ctrl_hier[RB_ISO_CG_UNIFIED];
	char have[256], val[32];

	for (size_t k = 0; k < RB_ARRAY_SIZE(rb_cg2_ctrls); k++) {
		int r;

		if (!takes_from(info, h, rb_cg2_ctrls[k].ctrl))
			continue;
		r = rb_cg_read(parent, "cgroup.subtree_control", have, sizeof(have), err);
		if (r < 0)
			return r;
		if (rb_cg_has_word(have, rb_cg2_ctrls[k].name))
			continue;
		snprintf(val, sizeof(val), "+%s", rb_cg2_ctrls[k].name);
		r = rb_cg_write(parent, "cgroup.subtree_control", val, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Move every process of from into to, until from is empty (processes may fork meanwhile). */
static int move_all(const char *from, const char *to, struct rb_error *err)
{
	for (int round = 0; round < 100; round++) {
		_cleanup_free_ pid_t *pids = NULL;
		size_t n;
		int r;

		r = rb_cg_read_pids(from, &pids, &n, err);
		if (r < 0)
			return r;
		if (n == 0)
			return 0;
		for (size_t k = 0; k < n; k++) {
			char val[32];

			snprintf(val, sizeof(val), "%d", (int)pids[k]);
			r = rb_cg_write(to, "cgroup.procs", val, err);
			if (r < 0 && r != -ESRCH)
				return r;
		}
	}
	return rb_error_set(err, EBUSY, RB_INTERNAL_ERROR, "%s: processes keep appearing", from);
}

int rb_cg2_prepare_root(struct rb_iso_cgroup_info *info, struct rb_error *err)
{
	int h = info->ctrl_hier[RB_ISO_CG_UNIFIED];
	const struct rb_iso_cgroup_hier *hier;
	_cleanup_free_ char *leaf = NULL;
	bool any = false, is_root;
	int r;

	for (size_t k = 0; k < RB_ARRAY_SIZE(rb_cg2_ctrls); k++)
		any |= takes_from(info, h, rb_cg2_ctrls[k].ctrl);
	if (h < 0 || (info->mode != RB_ISO_CGROUP_V2 && !any))
		return 0;
	hier = &info->hier[h];
	is_root = !strcmp(hier->own, hier->mount);
	if (asprintf(&leaf, "%s/%s", hier->own, RB_ISO_CGROUP_DAEMON_LEAF) < 0)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	/* The root cgroup is exempt from "no internal processes": nothing to move there. */
	if (!is_root && !info->v2_prepared) {
		if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
			return rb_error_sys(err, errno, rb_cg_code(errno), "mkdir %s", leaf);
		r = rb_cg_write(leaf, "cgroup.procs", "0", err);
		if (r < 0)
			return err ? rb_error_wrap(err, "move runbox into %s", leaf) : r;
		info->v2_prepared = true;
	}
	for (size_t k = 0; k < RB_ARRAY_SIZE(rb_cg2_ctrls); k++) {
		char val[32];

		if (!takes_from(info, h, rb_cg2_ctrls[k].ctrl) ||
		    rb_cg_has_word(info->v2_subtree, rb_cg2_ctrls[k].name))
			continue;
		snprintf(val, sizeof(val), "+%s", rb_cg2_ctrls[k].name);
		r = rb_cg_write(hier->own, "cgroup.subtree_control", val, err);
		if (r == -EBUSY && !is_root) {
			/* Other processes share our cgroup: they go into the leaf with us. */
			r = move_all(hier->own, leaf, err);
			if (r == 0)
				r = rb_cg_write(hier->own, "cgroup.subtree_control", val, err);
		}
		if (r < 0)
			return err ? rb_error_wrap(err, "enable %s below %s", rb_cg2_ctrls[k].name,
						   hier->own)
				   : r;
	}
	r = rb_cg_read(hier->own, "cgroup.subtree_control", info->v2_subtree,
		       sizeof(info->v2_subtree), err);
	if (r < 0)
		return r;
	info->v2_subtree[strcspn(info->v2_subtree, "\n")] = '\0';
	info->v2_needs_prepare = false;
	return 0;
}

static int v2_set_limits(struct rb_iso_cgroup *cg, const struct rb_iso_cgroup_limits *lim,
			 struct rb_error *err)
{
	return rb_cg_set_limits(cg, lim, NULL, rb_cg2_set, err);
}

static int v2_freeze(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return rb_cg2_freeze(cg, true, err);
}

static int v2_thaw(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return rb_cg2_freeze(cg, false, err);
}

static int v2_kill_all(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	if (cg->info->has_kill)
		return rb_cg2_kill(cg, err);
	return rb_cg_kill_loop(cg, cg->info->has_freeze ? 2 : 0, err);
}

static int v2_stats(struct rb_iso_cgroup *cg, struct rb_iso_cgroup_stats *st, struct rb_error *err)
{
	return rb_cg_stats(cg, st, NULL, rb_cg2_stat, err);
}

const struct rb_iso_cgroup_ops rb_iso_cgroup_v2_ops = {
    .name = "v2",
    .create = rb_cg_create,
    .set_limits = v2_set_limits,
    .attach_pid = rb_cg_attach,
    .open_fd = rb_cg2_open_fd,
    .freeze = v2_freeze,
    .thaw = v2_thaw,
    .kill_all = v2_kill_all,
    .stats = v2_stats,
    .destroy = rb_cg_destroy,
};
