/* The sandbox cgroup handle, the steps every manager shares, the hybrid manager, and the public
 * entry points, which go through the manager the probe chose. */
#include "isolation/cgroup-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"

/* ---- files ---- */

static int file_path(char *buf, size_t size, const char *dir, const char *file)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, file) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int rb_cg_write(const char *dir, const char *file, const char *val, struct rb_error *err)
{
	char path[RB_ISO_CGROUP_PATH_MAX + 64];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(val);
	ssize_t n;

	if (file_path(path, sizeof(path), dir, file) < 0)
		return rb_error_set(err, ENAMETOOLONG, RB_INTERNAL_ERROR, "%s/%s: path too long",
				    dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return rb_error_sys(err, errno, rb_cg_code(errno), "open %s", path);
	do
		n = write(fd, val, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return rb_error_sys(err, errno, rb_cg_code(errno), "write \"%s\" to %s", val, path);
	if ((size_t)n != len)
		return rb_error_set(err, EIO, RB_INTERNAL_ERROR, "short write to %s", path);
	return 0;
}

static ssize_t read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;

	while (got + 1 < size) {
		ssize_t n = read(fd, buf + got, size - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

int rb_cg_read(const char *dir, const char *file, char *buf, size_t size, struct rb_error *err)
{
	char path[RB_ISO_CGROUP_PATH_MAX + 64];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (file_path(path, sizeof(path), dir, file) < 0)
		return rb_error_set(err, ENAMETOOLONG, RB_INTERNAL_ERROR, "%s/%s: path too long",
				    dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", path);
	n = read_all(fd, buf, size);
	if (n < 0)
		return rb_error_sys(err, (int)-n, RB_INTERNAL_ERROR, "read %s", path);
	return 0;
}

int rb_cg_read_u64(const char *dir, const char *file, uint64_t *v, struct rb_error *err)
{
	char buf[64], *end;
	int r;

	r = rb_cg_read(dir, file, buf, sizeof(buf), err);
	if (r < 0)
		return r;
	if (!strncmp(buf, "max", 3)) {
		*v = UINT64_MAX;
		return 0;
	}
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return rb_error_set(err, EINVAL, RB_INTERNAL_ERROR, "%s/%s: not a number: %.20s",
				    dir, file, buf);
	return 0;
}

int rb_cg_read_key(const char *dir, const char *file, const char *key, uint64_t *v,
		   struct rb_error *err)
{
	char buf[4096];
	size_t klen = strlen(key);
	int r;

	r = rb_cg_read(dir, file, buf, sizeof(buf), err);
	if (r < 0)
		return r;
	for (char *line = buf; *line;) {
		char *nl = strchr(line, '\n');

		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			*v = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return rb_error_set(err, ENOENT, RB_INTERNAL_ERROR, "%s/%s: no key %s", dir, file, key);
}

int rb_cg_read_pids(const char *dir, pid_t **pids, size_t *n, struct rb_error *err)
{
	char path[RB_ISO_CGROUP_PATH_MAX + 64];
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ pid_t *out = NULL;
	size_t cap = 0, cnt = 0;
	long long p;

	*pids = NULL;
	*n = 0;
	if (file_path(path, sizeof(path), dir, "cgroup.procs") < 0)
		return rb_error_set(err, ENAMETOOLONG, RB_INTERNAL_ERROR, "%s: path too long", dir);
	f = fopen(path, "re");
	if (!f && (errno == ENOENT || errno == ENODEV))
		return 0;
	if (!f)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", path);
	while (fscanf(f, "%lld", &p) == 1) {
		if (cnt == cap) {
			pid_t *grown = realloc(out, (cap ? cap * 2 : 32) * sizeof(*out));

			if (!grown)
				return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR,
						    "out of memory");
			out = grown;
			cap = cap ? cap * 2 : 32;
		}
		out[cnt++] = (pid_t)p;
	}
	*pids = TAKE_PTR(out);
	*n = cnt;
	return 0;
}

bool rb_cg_has(const char *dir, const char *file)
{
	char path[RB_ISO_CGROUP_PATH_MAX + 64];

	return file_path(path, sizeof(path), dir, file) == 0 && access(path, F_OK) == 0;
}

bool rb_cg_has_word(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += len)
		if ((p == list || p[-1] == ' ') &&
		    (p[len] == '\0' || p[len] == ' ' || p[len] == '\n'))
			return true;
	return false;
}

enum rb_code rb_cg_code(int errnum)
{
	switch (errnum) {
	case ENOSPC:
	case EAGAIN:
	case ENOMEM:
		return RB_RESOURCE_EXHAUSTED;
	default:
		return RB_INTERNAL_ERROR;
	}
}

long long rb_cg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rb_cg_backoff(int *step_ms)
{
	struct timespec ts = {0, (long)*step_ms * 1000000L};

	nanosleep(&ts, NULL);
	if (*step_ms < 20)
		*step_ms *= 2;
}

/* ---- the handle ---- */

int rb_cg_hier_of(const struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl ctrl)
{
	int i = cg->info->ctrl_hier[ctrl];

	return i >= 0 && cg->dir[i] ? i : -1;
}

static bool hier_used(const struct rb_iso_cgroup_info *info, size_t i)
{
	for (int c = 0; c < RB_ISO_CG_NCTRL; c++)
		if (info->ctrl_hier[c] == (int)i)
			return true;
	return false;
}

static int check_id(const char *id, struct rb_error *err)
{
	size_t len = strlen(id);

	if (len == 0 || len > 64)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "sandbox id \"%.64s\": 1 to 64 characters", id);
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					    "sandbox id \"%s\": only letters, digits, _ and -", id);
	return 0;
}

void rb_iso_cgroup_free(struct rb_iso_cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < RB_ISO_CGROUP_MAX_HIER; i++)
		free(cg->dir[i]);
	free(cg);
}

static void cg_freep(struct rb_iso_cgroup **cg)
{
	rb_iso_cgroup_free(*cg);
}

/* A handle with every directory named, nothing created. */
static int cg_new(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
		  struct rb_iso_cgroup **out, struct rb_error *err)
{
	_cleanup_(cg_freep) struct rb_iso_cgroup *cg = NULL;
	int r;

	r = check_id(sandbox_id, err);
	if (r < 0)
		return r;
	if (info->mode == RB_ISO_CGROUP_NONE || !info->ops)
		return rb_error_set(err, EOPNOTSUPP, RB_INTERNAL_ERROR,
				    "no cgroup hierarchy is available to runbox");
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	cg->info = info;
	snprintf(cg->name, sizeof(cg->name), "%s%s", RB_ISO_CGROUP_PREFIX, sandbox_id);
	for (size_t i = 0; i < info->n_hier; i++) {
		if (!hier_used(info, i))
			continue;
		if (asprintf(&cg->dir[i], "%s/%s/%s", info->hier[i].own, RB_ISO_CGROUP_PARENT,
			     cg->name) < 0) {
			cg->dir[i] = NULL;
			return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		}
	}
	*out = TAKE_PTR(cg);
	return 0;
}

/* rmdir dir and any cgroups below it (a sandbox may nest its own), deepest first. */
static int rmdir_tree(const char *dir)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	/* most have none below: one rmdir does */
	if (rmdir(dir) == 0 || errno == ENOENT)
		return 0;
	if (errno != EBUSY && errno != ENOTEMPTY)
		return -errno;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		_cleanup_free_ char *sub = NULL;
		int r;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (asprintf(&sub, "%s/%s", dir, de->d_name) < 0)
			return -ENOMEM;
		r = rmdir_tree(sub);
		if (r < 0)
			return r;
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static void undo_create(struct rb_iso_cgroup *cg)
{
	for (size_t i = 0; i < RB_ISO_CGROUP_MAX_HIER; i++)
		if (cg->created[i] && cg->dir[i])
			rmdir(cg->dir[i]);
}

static int make_parent(const struct rb_iso_cgroup_info *info, size_t i, struct rb_error *err)
{
	const struct rb_iso_cgroup_hier *h = &info->hier[i];
	_cleanup_free_ char *parent = NULL;

	if (asprintf(&parent, "%s/%s", h->own, RB_ISO_CGROUP_PARENT) < 0)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	if (mkdir(parent, 0755) < 0) {
		if (errno != EEXIST)
			return rb_error_sys(err, errno, rb_cg_code(errno), "mkdir %s", parent);
	} else if (h->version == 1) {
		int r = rb_cg1_init_dir(parent, err);

		if (r < 0)
			return r;
	}
	return h->version == 2 ? rb_cg2_init_parent(info, parent, err) : 0;
}

/* The hierarchy a clone starts the sandbox in (CLONE_INTO_CGROUP: its v2 cgroup), or -1. */
static int clone_hier(const struct rb_iso_cgroup *cg)
{
	return cg->info->clone_into_cgroup ? rb_cg_hier_of(cg, RB_ISO_CG_UNIFIED) : -1;
}

/* Make cg's directories not made yet; with clone_only, only clone_hier's. On failure, what
 * this handle made is undone. */
static int make_dirs(struct rb_iso_cgroup *cg, bool clone_only, struct rb_error *err)
{
	const struct rb_iso_cgroup_info *info = cg->info;
	int r;

	for (size_t i = 0; i < info->n_hier; i++) {
		if (!cg->dir[i] || cg->created[i] || (clone_only && (int)i != clone_hier(cg)))
			continue;
		if (info->hier[i].version == 2 && info->v2_needs_prepare) {
			undo_create(cg);
			return rb_error_set(err, EPERM, RB_INTERNAL_ERROR,
					    "%s: controllers are not enabled for children "
					    "(rb_iso_cgroup_prepare_root has not run)",
					    info->hier[i].own);
		}
		r = make_parent(info, i, err);
		if (r == 0 && mkdir(cg->dir[i], 0755) < 0)
			r = errno == EEXIST ? rb_error_set(err, EEXIST, RB_INVALID_STATE,
							   "%s exists already", cg->dir[i])
					    : rb_error_sys(err, errno, rb_cg_code(errno),
							   "mkdir %s", cg->dir[i]);
		if (r == 0) {
			cg->created[i] = true;
			if (info->hier[i].version == 1)
				r = rb_cg1_init_dir(cg->dir[i], err);
		}
		if (r < 0) {
			undo_create(cg);
			return r;
		}
	}
	return 0;
}

static int create_some(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
		       bool clone_only, struct rb_iso_cgroup **out, struct rb_error *err)
{
	_cleanup_(cg_freep) struct rb_iso_cgroup *cg = NULL;
	int r;

	r = cg_new(info, sandbox_id, &cg, err);
	if (r == 0)
		r = make_dirs(cg, clone_only, err);
	if (r < 0)
		return r;
	*out = TAKE_PTR(cg);
	return 0;
}

int rb_cg_create(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
		 struct rb_iso_cgroup **out, struct rb_error *err)
{
	return create_some(info, sandbox_id, false, out, err);
}

int rb_iso_cgroup_create_first(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
			       struct rb_iso_cgroup **out, struct rb_error *err)
{
	int r;

	if (!info->ops)
		return rb_error_set(err, EOPNOTSUPP, RB_INTERNAL_ERROR,
				    "no cgroup hierarchy is available to runbox");
	r = create_some(info, sandbox_id, true, out, err);
	if (r < 0 && err)
		rb_error_wrap(err, "sandbox %s: create cgroup", sandbox_id);
	return r;
}

int rb_iso_cgroup_create_rest(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	int r = make_dirs(cg, false, err);

	if (r < 0 && err)
		rb_error_wrap(err, "cgroup %s: create", cg->name);
	return r;
}

int rb_iso_cgroup_load(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
		       struct rb_iso_cgroup **out, struct rb_error *err)
{
	_cleanup_(cg_freep) struct rb_iso_cgroup *cg = NULL;
	bool any = false;
	int r;

	r = cg_new(info, sandbox_id, &cg, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < info->n_hier; i++)
		if (cg->dir[i] && access(cg->dir[i], F_OK) == 0)
			any = true;
	if (!any)
		return rb_error_set(err, ENOENT, RB_NOT_FOUND,
				    "cgroup %s: not found in any hierarchy", cg->name);
	*out = TAKE_PTR(cg);
	return 0;
}

int rb_cg_attach(struct rb_iso_cgroup *cg, pid_t pid, struct rb_error *err)
{
	char val[32];

	snprintf(val, sizeof(val), "%d", (int)pid);
	for (size_t i = 0; i < cg->info->n_hier; i++) {
		int r;

		if (!cg->dir[i])
			continue;
		r = rb_cg_write(cg->dir[i], "cgroup.procs", val, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int rb_cg_destroy(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	long long deadline = rb_cg_now_ms() + RB_ISO_CGROUP_TIMEOUT_MS;
	bool killed = false;
	int r, step = 1;

	for (size_t i = 0; i < cg->info->n_hier; i++) {
		if (!cg->dir[i])
			continue;
		while ((r = rmdir_tree(cg->dir[i])) == -EBUSY && rb_cg_now_ms() < deadline) {
			/* Something is left in it: killed once, the whole cgroup. Usually nothing
			 * is, since the caller ended the sandbox's pid 1, which takes the namespace
			 * with it, and the kernel refuses to remove a cgroup that holds a task. */
			if (!killed) {
				r = cg->info->ops->kill_all(cg, err);
				if (r < 0)
					return r;
				killed = true;
				continue;
			}
			/* A killed task leaves its cgroups a moment after it is gone from
			 * cgroup.procs. */
			rb_cg_backoff(&step);
		}
		if (r < 0)
			return rb_error_sys(err, -r, RB_INTERNAL_ERROR, "rmdir %s", cg->dir[i]);
	}
	return 0;
}

/* ---- kill without cgroup.kill ---- */

static int freeze_with(struct rb_iso_cgroup *cg, int version, bool frozen, struct rb_error *err)
{
	if (version == 2)
		return rb_cg2_freeze(cg, frozen, err);
	if (version == 1)
		return rb_cg1_freeze(cg, frozen, err);
	return 0;
}

/* The pids in the cgroup: in the freezer's hierarchy, or in every hierarchy when h < 0. */
static int cg_pids(struct rb_iso_cgroup *cg, int h, pid_t **pids, size_t *n, struct rb_error *err)
{
	*pids = NULL;
	*n = 0;
	if (h >= 0)
		return rb_cg_read_pids(cg->dir[h], pids, n, err);
	for (size_t i = 0; i < cg->info->n_hier; i++) {
		_cleanup_free_ pid_t *more = NULL;
		size_t m;
		pid_t *all;
		int r;

		if (!cg->dir[i])
			continue;
		r = rb_cg_read_pids(cg->dir[i], &more, &m, err);
		if (r < 0 || m == 0)
			continue;
		all = realloc(*pids, (*n + m) * sizeof(pid_t));
		if (!all)
			return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		memcpy(all + *n, more, m * sizeof(pid_t));
		*pids = all;
		*n += m;
	}
	return 0;
}

int rb_cg_kill_loop(struct rb_iso_cgroup *cg, int freezer_version, struct rb_error *err)
{
	long long deadline = rb_cg_now_ms() + RB_ISO_CGROUP_TIMEOUT_MS;
	int h = freezer_version == 2   ? rb_cg_hier_of(cg, RB_ISO_CG_UNIFIED)
		: freezer_version == 1 ? rb_cg_hier_of(cg, RB_ISO_CG_FREEZER)
				       : -1;
	int step = 1;

	if (h < 0)
		freezer_version = 0;
	for (;;) {
		_cleanup_free_ pid_t *pids = NULL;
		size_t n;
		int r;

		if (h >= 0 && access(cg->dir[h], F_OK) < 0)
			return 0;
		/* Frozen, nothing can fork or exit, so the pids read stay the ones killed. A
		 * freeze that times out still leaves most tasks stopped: kill anyway. */
		freeze_with(cg, freezer_version, true, err);
		r = cg_pids(cg, h, &pids, &n, err);
		for (size_t k = 0; r == 0 && k < n; k++)
			if (pids[k] > 0 && pids[k] != getpid())
				kill(pids[k], SIGKILL);
		freeze_with(cg, freezer_version, false, err);
		if (r < 0)
			return r;
		if (n == 0)
			return 0;
		if (rb_cg_now_ms() > deadline)
			return rb_error_set(err, ETIMEDOUT, RB_INTERNAL_ERROR,
					    "%s: %zu processes survive SIGKILL", cg->name, n);
		if (freezer_version == 2)
			rb_cg2_wait_event(cg->dir[h], "populated", 0, 100, NULL);
		else
			rb_cg_backoff(&step);
	}
}

/* ---- limits and stats, controller by controller ---- */

static const enum rb_iso_cgroup_ctrl limit_ctrls[] = {RB_ISO_CG_MEMORY, RB_ISO_CG_CPU,
						      RB_ISO_CG_PIDS};

static bool limit_set(const struct rb_iso_cgroup_limits *lim, enum rb_iso_cgroup_ctrl c)
{
	return c == RB_ISO_CG_MEMORY ? lim->memory_bytes > 0
	       : c == RB_ISO_CG_CPU  ? lim->cpus > 0
				     : lim->pids_max > 0;
}

int rb_cg_set_limits(struct rb_iso_cgroup *cg, const struct rb_iso_cgroup_limits *lim,
		     rb_cg_set_fn v1, rb_cg_set_fn v2, struct rb_error *err)
{
	int r;

	r = rb_iso_cgroup_validate_limits(lim, err);
	if (r < 0)
		return r;
	for (size_t k = 0; k < RB_ARRAY_SIZE(limit_ctrls); k++) {
		enum rb_iso_cgroup_ctrl c = limit_ctrls[k];
		int h = rb_cg_hier_of(cg, c);
		rb_cg_set_fn set = h < 0 ? NULL : cg->info->hier[h].version == 1 ? v1 : v2;

		if (!set) {
			if (!limit_set(lim, c))
				continue;
			return rb_error_set(
			    err, EOPNOTSUPP, RB_INVALID_CONFIG,
			    "%s limit: no %s controller is available to runbox here",
			    rb_iso_cgroup_ctrl_name(c), rb_iso_cgroup_ctrl_name(c));
		}
		r = set(cg, c, lim, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int rb_cg_stats(struct rb_iso_cgroup *cg, struct rb_iso_cgroup_stats *st, rb_cg_stat_fn v1,
		rb_cg_stat_fn v2, struct rb_error *err)
{
	static const enum rb_iso_cgroup_ctrl ctrls[] = {RB_ISO_CG_CPUACCT, RB_ISO_CG_MEMORY,
							RB_ISO_CG_PIDS};

	st->cpu_usage_usec = st->memory_current = st->memory_peak = RB_ISO_CGROUP_UNKNOWN;
	st->pids_current = st->oom_kills = RB_ISO_CGROUP_UNKNOWN;
	for (size_t k = 0; k < RB_ARRAY_SIZE(ctrls); k++) {
		int h = rb_cg_hier_of(cg, ctrls[k]);
		rb_cg_stat_fn stat = h < 0 ? NULL : cg->info->hier[h].version == 1 ? v1 : v2;
		int r;

		if (!stat)
			continue;
		r = stat(cg, ctrls[k], st, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the hybrid manager: v1 controllers, the cgroup2 tree for freeze and kill ---- */

static int hybrid_freezer(struct rb_iso_cgroup *cg)
{
	if (cg->info->has_freeze && rb_cg_hier_of(cg, RB_ISO_CG_UNIFIED) >= 0)
		return 2;
	return rb_cg_hier_of(cg, RB_ISO_CG_FREEZER) >= 0 ? 1 : 0;
}

static int hybrid_set_limits(struct rb_iso_cgroup *cg, const struct rb_iso_cgroup_limits *lim,
			     struct rb_error *err)
{
	return rb_cg_set_limits(cg, lim, rb_cg1_set, rb_cg2_set, err);
}

static int hybrid_open_fd(struct rb_iso_cgroup *cg, int *fd, struct rb_error *err)
{
	return rb_cg2_open_fd(cg, fd, err);
}

static int hybrid_freeze_to(struct rb_iso_cgroup *cg, bool frozen, struct rb_error *err)
{
	int v = hybrid_freezer(cg);

	if (v == 0)
		return rb_error_set(err, EOPNOTSUPP, RB_INTERNAL_ERROR,
				    "%s: no freezer: neither cgroup.freeze nor a v1 freezer",
				    cg->name);
	return freeze_with(cg, v, frozen, err);
}

static int hybrid_freeze(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return hybrid_freeze_to(cg, true, err);
}

static int hybrid_thaw(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return hybrid_freeze_to(cg, false, err);
}

static int hybrid_kill_all(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	if (cg->info->has_kill && rb_cg_hier_of(cg, RB_ISO_CG_UNIFIED) >= 0) {
		int r = rb_cg2_kill(cg, err);

		if (r < 0)
			return r;
		/* v1 hierarchies hold the same processes; make sure none escaped the v2 tree. */
		return rb_cg_kill_loop(cg, 0, err);
	}
	return rb_cg_kill_loop(cg, hybrid_freezer(cg), err);
}

static int hybrid_stats(struct rb_iso_cgroup *cg, struct rb_iso_cgroup_stats *st,
			struct rb_error *err)
{
	return rb_cg_stats(cg, st, rb_cg1_stat, rb_cg2_stat, err);
}

const struct rb_iso_cgroup_ops rb_iso_cgroup_hybrid_ops = {
    .name = "hybrid",
    .create = rb_cg_create,
    .set_limits = hybrid_set_limits,
    .attach_pid = rb_cg_attach,
    .open_fd = hybrid_open_fd,
    .freeze = hybrid_freeze,
    .thaw = hybrid_thaw,
    .kill_all = hybrid_kill_all,
    .stats = hybrid_stats,
    .destroy = rb_cg_destroy,
};

/* ---- the door ---- */

int rb_iso_cgroup_validate_limits(const struct rb_iso_cgroup_limits *lim, struct rb_error *err)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t pid_max = 4194304;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");

	if (f) {
		if (fscanf(f, "%" SCNu64, &pid_max) != 1)
			pid_max = 4194304;
		fclose(f);
	}
	if (lim->memory_bytes && lim->memory_bytes < RB_ISO_CGROUP_MIN_MEMORY)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "memory limit %" PRIu64
				    " bytes is below the minimum of %llu MiB",
				    lim->memory_bytes, RB_ISO_CGROUP_MIN_MEMORY >> 20);
	if (lim->memory_bytes > ram)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "memory limit %" PRIu64 " bytes exceeds this host's %" PRIu64
				    " bytes of memory",
				    lim->memory_bytes, ram);
	if (!(lim->cpus >= 0) || (lim->cpus > 0 && lim->cpus < 0.01)) /* NaN fails >= too */
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "cpu limit %g: must be at least 0.01 CPUs", lim->cpus);
	if (ncpu > 0 && lim->cpus > (double)ncpu)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "cpu limit %g exceeds the %ld online CPUs", lim->cpus, ncpu);
	if (lim->pids_max > pid_max)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "pids limit %" PRIu64 " exceeds kernel.pid_max %" PRIu64,
				    lim->pids_max, pid_max);
	return 0;
}

int rb_iso_cgroup_create(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
			 struct rb_iso_cgroup **out, struct rb_error *err)
{
	int r;

	if (!info->ops)
		return rb_error_set(err, EOPNOTSUPP, RB_INTERNAL_ERROR,
				    "no cgroup hierarchy is available to runbox");
	r = info->ops->create(info, sandbox_id, out, err);
	if (r < 0 && err)
		rb_error_wrap(err, "sandbox %s: create cgroup", sandbox_id);
	return r;
}

/* The other entry points only add the cgroup's name to an error. */
#define CALL(cg, what, ...)                                                                        \
	({                                                                                         \
		int _r = (cg)->info->ops->what((cg), __VA_ARGS__);                                 \
		if (_r < 0 && err)                                                                 \
			rb_error_wrap(err, "cgroup %s: " #what, (cg)->name);                       \
		_r;                                                                                \
	})

int rb_iso_cgroup_set_limits(struct rb_iso_cgroup *cg, const struct rb_iso_cgroup_limits *lim,
			     struct rb_error *err)
{
	return CALL(cg, set_limits, lim, err);
}

int rb_iso_cgroup_attach_pid(struct rb_iso_cgroup *cg, pid_t pid, struct rb_error *err)
{
	return CALL(cg, attach_pid, pid, err);
}

int rb_iso_cgroup_open_fd(struct rb_iso_cgroup *cg, int *fd, struct rb_error *err)
{
	return CALL(cg, open_fd, fd, err);
}

int rb_iso_cgroup_freeze(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return CALL(cg, freeze, err);
}

int rb_iso_cgroup_thaw(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return CALL(cg, thaw, err);
}

int rb_iso_cgroup_kill_all(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return CALL(cg, kill_all, err);
}

int rb_iso_cgroup_stats(struct rb_iso_cgroup *cg, struct rb_iso_cgroup_stats *st,
			struct rb_error *err)
{
	return CALL(cg, stats, st, err);
}

int rb_iso_cgroup_destroy(struct rb_iso_cgroup *cg, struct rb_error *err)
{
	return CALL(cg, destroy, err);
}

int rb_iso_cgroup_oom_killed(struct rb_iso_cgroup *cg, bool *killed, struct rb_error *err)
{
	struct rb_iso_cgroup_stats st;
	int r;

	*killed = false;
	r = rb_iso_cgroup_stats(cg, &st, err);
	if (r < 0)
		return r;
	*killed = st.oom_kills != RB_ISO_CGROUP_UNKNOWN && st.oom_kills > 0;
	return 0;
}

const char *rb_iso_cgroup_path(const struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl ctrl)
{
	int h = ctrl < RB_ISO_CG_NCTRL ? rb_cg_hier_of(cg, ctrl) : -1;

	return h < 0 ? NULL : cg->dir[h];
}

const char *rb_iso_cgroup_name(const struct rb_iso_cgroup *cg)
{
	return cg->name;
}
