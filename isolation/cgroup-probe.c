/* Probe the host's cgroup hierarchies once: which mount gives each controller, where our own
 * cgroup is in it, what cgroup2 was delegated to us, and which kernel features are there. */
#include "isolation/cgroup-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include "common/cleanup.h"

#define MAX_LINES 32

struct self_cg { /* one line of /proc/self/cgroup */
	unsigned int id;
	char ctrls[256];
	char path[RB_ISO_CGROUP_PATH_MAX];
};

struct cg_mount { /* one cgroup or cgroup2 line of /proc/self/mountinfo */
	int version;
	char root[RB_ISO_CGROUP_PATH_MAX];
	char point[256];
	char opts[256];
};

static const struct {
	const char *name;
	enum rb_iso_cgroup_ctrl ctrl;
} v1_ctrls[] = {
    {"cpu", RB_ISO_CG_CPU},   {"cpuacct", RB_ISO_CG_CPUACCT}, {"memory", RB_ISO_CG_MEMORY},
    {"pids", RB_ISO_CG_PIDS}, {"freezer", RB_ISO_CG_FREEZER},
};

static const char *const ctrl_names[RB_ISO_CG_NCTRL] = {"cpu",	"cpuacct", "memory",
							"pids", "freezer", "unified"};

const char *rb_iso_cgroup_ctrl_name(enum rb_iso_cgroup_ctrl ctrl)
{
	return ctrl < RB_ISO_CG_NCTRL ? ctrl_names[ctrl] : "?";
}

const char *rb_iso_cgroup_mode_name(enum rb_iso_cgroup_mode mode)
{
	switch (mode) {
	case RB_ISO_CGROUP_V1:
		return "v1";
	case RB_ISO_CGROUP_V2:
		return "v2";
	case RB_ISO_CGROUP_HYBRID:
		return "hybrid";
	default:
		return "none";
	}
}

/* True when word is one of the sep-separated items of list. */
static bool has_item(const char *list, const char *word, char sep)
{
	size_t len = strlen(word);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, sep);
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == len && !strncmp(p, word, len))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static int read_self(struct self_cg *lines, size_t *n, struct rb_error *err)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	char buf[RB_ISO_CGROUP_PATH_MAX + 300];

	*n = 0;
	if (!f)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open /proc/self/cgroup");
	while (*n < MAX_LINES && fgets(buf, sizeof(buf), f)) {
		struct self_cg *l = &lines[*n];
		char *c1 = strchr(buf, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		buf[strcspn(buf, "\n")] = '\0';
		*c1 = *c2 = '\0';
		l->id = (unsigned int)strtoul(buf, NULL, 10);
		snprintf(l->ctrls, sizeof(l->ctrls), "%s", c1 + 1);
		snprintf(l->path, sizeof(l->path), "%s", c2 + 1);
		(*n)++;
	}
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
			*out++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

static int read_mounts(struct cg_mount *mounts, size_t *n, struct rb_error *err)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	*n = 0;
	if (!f)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open /proc/self/mountinfo");
	while (*n < MAX_LINES && getline(&line, &cap, f) > 0) {
		char root[RB_ISO_CGROUP_PATH_MAX], point[256], fstype[32], opts[256];
		const char *sep = strstr(line, " - ");
		struct cg_mount *m = &mounts[*n];

		/* id parent major:minor root mountpoint options [optional...] - fstype source opts
		 */
		if (!sep || sscanf(line, "%*s %*s %*s %1023s %255s", root, point) != 2 ||
		    sscanf(sep + 3, "%31s %*s %255s", fstype, opts) != 2)
			continue;
		if (!strcmp(fstype, "cgroup"))
			m->version = 1;
		else if (!strcmp(fstype, "cgroup2"))
			m->version = 2;
		else
			continue;
		unescape(root);
		unescape(point);
		snprintf(m->root, sizeof(m->root), "%s", root);
		snprintf(m->point, sizeof(m->point), "%s", point);
		snprintf(m->opts, sizeof(m->opts), "%s", opts);
		(*n)++;
	}
	return 0;
}

/* Our cgroup in mount m: its mountpoint plus our path relative to the mount's root. */
static bool own_path(const struct cg_mount *m, const char *path, char *out, size_t size)
{
	size_t rlen = strcmp(m->root, "/") ? strlen(m->root) : 0;

	if (strncmp(path, m->root, rlen) || (path[rlen] != '/' && path[rlen] != '\0'))
		return false; /* the mount shows another part of the tree than ours */
	if ((size_t)snprintf(out, size, "%s%s", m->point, path + rlen) >= size)
		return false;
	if (strlen(out) > 1 && out[strlen(out) - 1] == '/')
		out[strlen(out) - 1] = '\0';
	return access(out, F_OK) == 0;
}

static int add_hier(struct rb_iso_cgroup_info *info, int version, unsigned int id,
		    const struct cg_mount *m, const char *own)
{
	struct rb_iso_cgroup_hier *h;

	for (size_t i = 0; i < info->n_hier; i++)
		if (info->hier[i].version == version && info->hier[i].id == id)
			return (int)i;
	if (info->n_hier == RB_ISO_CGROUP_MAX_HIER)
		return -1;
	h = &info->hier[info->n_hier];
	h->version = version;
	h->id = id;
	h->writable = access(own, W_OK) == 0;
	snprintf(h->mount, sizeof(h->mount), "%s", m->point);
	snprintf(h->own, sizeof(h->own), "%s", own);
	return (int)info->n_hier++;
}

static void probe_v1(struct rb_iso_cgroup_info *info, const struct self_cg *self, size_t n_self,
		     const struct cg_mount *mounts, size_t n_mounts)
{
	for (size_t k = 0; k < RB_ARRAY_SIZE(v1_ctrls); k++) {
		const char *name = v1_ctrls[k].name;

		for (size_t s = 0; s < n_self; s++) {
			char own[RB_ISO_CGROUP_PATH_MAX];
			int h = -1;

			if (self[s].id == 0 || !has_item(self[s].ctrls, name, ','))
				continue;
			for (size_t i = 0; i < n_mounts && h < 0; i++)
				if (mounts[i].version == 1 && has_item(mounts[i].opts, name, ',') &&
				    own_path(&mounts[i], self[s].path, own, sizeof(own)))
					h = add_hier(info, 1, self[s].id, &mounts[i], own);
			if (h >= 0) {
				info->ctrl_hier[v1_ctrls[k].ctrl] = h;
				info->hier[h].ctrls |= 1U << v1_ctrls[k].ctrl;
			}
			break;
		}
	}
	if (info->ctrl_hier[RB_ISO_CG_MEMORY] >= 0)
		info->v1_memsw = rb_cg_has(info->hier[info->ctrl_hier[RB_ISO_CG_MEMORY]].own,
					   "memory.memsw.limit_in_bytes");
	if (info->ctrl_hier[RB_ISO_CG_CPU] >= 0)
		info->v1_cfs =
		    rb_cg_has(info->hier[info->ctrl_hier[RB_ISO_CG_CPU]].own, "cpu.cfs_quota_us");
}

/* cgroup.freeze and cgroup.kill exist in every cgroup but the root: look at ours, or at a
 * short-lived child of ours when ours is the root. */
static void probe_core_files(struct rb_iso_cgroup_info *info, const struct rb_iso_cgroup_hier *h)
{
	char tmp[RB_ISO_CGROUP_PATH_MAX + 64];
	const char *dir = h->own;
	bool made = false;

	if (!strcmp(h->own, h->mount)) {
		snprintf(tmp, sizeof(tmp), "%s/runbox-probe-%d", h->own, (int)getpid());
		made = mkdir(tmp, 0755) == 0;
		if (!made)
			return;
		dir = tmp;
	}
	info->has_freeze = rb_cg_has(dir, "cgroup.freeze");
	info->has_kill = rb_cg_has(dir, "cgroup.kill");
	if (made)
		rmdir(tmp);
}

/* Whether clone3(CLONE_INTO_CGROUP) works: a child that exits at once, into the cgroup we
 * already run in, so the probe moves nothing. */
static bool probe_clone_into(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct clone_args args = {0};
	long pid;
	int status;

	if (fd < 0)
		return false;
	args.flags = CLONE_INTO_CGROUP;
	args.exit_signal = SIGCHLD;
	args.cgroup = (uint64_t)fd;
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return false;
	while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR)
		;
	return true;
}

static void probe_v2(struct rb_iso_cgroup_info *info, const struct self_cg *self, size_t n_self,
		     const struct cg_mount *mounts, size_t n_mounts)
{
	char own[RB_ISO_CGROUP_PATH_MAX], here[RB_ISO_CGROUP_PATH_MAX];
	const struct self_cg *line = NULL;
	const struct cg_mount *m = NULL;
	size_t len, leaf = strlen(RB_ISO_CGROUP_DAEMON_LEAF);
	struct rb_iso_cgroup_hier *hier;
	bool v1_used = false;
	int h;

	for (size_t s = 0; s < n_self && !line; s++)
		if (self[s].id == 0 && self[s].ctrls[0] == '\0')
			line = &self[s];
	for (size_t i = 0; line && i < n_mounts && !m; i++)
		if (mounts[i].version == 2 && own_path(&mounts[i], line->path, here, sizeof(here)))
			m = &mounts[i];
	if (!m)
		return;
	/* A daemon that prepare_root moved (or its restarted self) keeps the parent as base. */
	snprintf(own, sizeof(own), "%s", here);
	len = strlen(own);
	if (len > leaf + 1 && own[len - leaf - 1] == '/' &&
	    !strcmp(own + len - leaf, RB_ISO_CGROUP_DAEMON_LEAF)) {
		own[len - leaf - 1] = '\0';
		info->v2_prepared = true;
	}
	h = add_hier(info, 2, 0, m, own);
	if (h < 0)
		return;
	hier = &info->hier[h];
	info->ctrl_hier[RB_ISO_CG_UNIFIED] = h;
	hier->ctrls |= 1U << RB_ISO_CG_UNIFIED;
	if (rb_cg_read(own, "cgroup.controllers", info->v2_controllers,
		       sizeof(info->v2_controllers), NULL) < 0)
		info->v2_controllers[0] = '\0';
	if (rb_cg_read(own, "cgroup.subtree_control", info->v2_subtree, sizeof(info->v2_subtree),
		       NULL) < 0)
		info->v2_subtree[0] = '\0';
	info->v2_controllers[strcspn(info->v2_controllers, "\n")] = '\0';
	info->v2_subtree[strcspn(info->v2_subtree, "\n")] = '\0';
	info->v2_subtree_writable =
	    rb_cg_has(own, "cgroup.subtree_control") && access(own, W_OK) == 0;
	info->v2_delegated = true;
	for (size_t k = 0; k < RB_ARRAY_SIZE(rb_cg2_ctrls); k++) {
		enum rb_iso_cgroup_ctrl c = rb_cg2_ctrls[k].ctrl;
		bool avail = rb_cg_has_word(info->v2_controllers, rb_cg2_ctrls[k].name);

		info->v2_delegated &= avail;
		/* A controller bound to a v1 hierarchy cannot be in cgroup2 at the same time. */
		if (info->ctrl_hier[c] >= 0 || !avail)
			continue;
		info->ctrl_hier[c] = h;
		hier->ctrls |= 1U << c;
		if (!rb_cg_has_word(info->v2_subtree, rb_cg2_ctrls[k].name))
			info->v2_needs_prepare = true;
	}
	probe_core_files(info, hier);
	if (info->ctrl_hier[RB_ISO_CG_CPUACCT] < 0) { /* cpu.stat's usage_usec is core */
		info->ctrl_hier[RB_ISO_CG_CPUACCT] = h;
		hier->ctrls |= 1U << RB_ISO_CG_CPUACCT;
	}
	if (info->ctrl_hier[RB_ISO_CG_FREEZER] < 0 && info->has_freeze) {
		info->ctrl_hier[RB_ISO_CG_FREEZER] = h;
		hier->ctrls |= 1U << RB_ISO_CG_FREEZER;
	}
	info->clone_into_cgroup = probe_clone_into(here);
	for (size_t i = 0; i < info->n_hier; i++)
		v1_used |= info->hier[i].version == 1;
	info->clone_into_complete = info->clone_into_cgroup && !v1_used;
}

int rb_iso_cgroup_probe(struct rb_iso_cgroup_info *info, struct rb_error *err)
{
	struct self_cg self[MAX_LINES];
	struct cg_mount mounts[MAX_LINES];
	size_t n_self, n_mounts;
	bool v1, v2;
	int r;

	memset(info, 0, sizeof(*info));
	for (int c = 0; c < RB_ISO_CG_NCTRL; c++)
		info->ctrl_hier[c] = -1;
	r = read_self(self, &n_self, err);
	if (r == 0)
		r = read_mounts(mounts, &n_mounts, err);
	if (r < 0)
		return err ? rb_error_wrap(err, "probe cgroups") : r;
	probe_v1(info, self, n_self, mounts, n_mounts);
	v1 = info->n_hier > 0;
	probe_v2(info, self, n_self, mounts, n_mounts);
	v2 = info->ctrl_hier[RB_ISO_CG_UNIFIED] >= 0;
	if (v1 && v2) {
		info->mode = RB_ISO_CGROUP_HYBRID;
		info->ops = &rb_iso_cgroup_hybrid_ops;
	} else if (v1) {
		info->mode = RB_ISO_CGROUP_V1;
		info->ops = &rb_iso_cgroup_v1_ops;
	} else if (v2) {
		info->mode = RB_ISO_CGROUP_V2;
		info->ops = &rb_iso_cgroup_v2_ops;
	}
	return 0;
}

int rb_iso_cgroup_prepare_root(struct rb_iso_cgroup_info *info, struct rb_error *err)
{
	if (info->mode == RB_ISO_CGROUP_NONE || info->mode == RB_ISO_CGROUP_V1)
		return 0;
	return rb_cg2_prepare_root(info, err);
}

/* ---- runbox info ---- */

static cJSON *ctrl_list(unsigned int ctrls)
{
	cJSON *a = cJSON_CreateArray();

	for (int c = 0; a && c < RB_ISO_CG_NCTRL; c++)
		if (ctrls & (1U << c))
			cJSON_AddItemToArray(a, cJSON_CreateString(ctrl_names[c]));
	return a;
}

cJSON *rb_iso_cgroup_info_json(const struct rb_iso_cgroup_info *info)
{
	cJSON *o = cJSON_CreateObject(), *hs = NULL, *cs = NULL, *v2 = NULL, *v1 = NULL;
	bool ok = o != NULL;

	ok = ok && cJSON_AddStringToObject(o, "mode", rb_iso_cgroup_mode_name(info->mode));
	ok = ok && cJSON_AddStringToObject(o, "manager", info->ops ? info->ops->name : "none");
	ok = ok && (hs = cJSON_AddArrayToObject(o, "hierarchies"));
	for (size_t i = 0; ok && i < info->n_hier; i++) {
		const struct rb_iso_cgroup_hier *h = &info->hier[i];
		cJSON *e = cJSON_CreateObject();

		ok = e && cJSON_AddItemToArray(hs, e);
		ok = ok && cJSON_AddNumberToObject(e, "version", h->version);
		ok = ok && cJSON_AddStringToObject(e, "mount", h->mount);
		ok = ok && cJSON_AddStringToObject(e, "path", h->own);
		ok = ok && cJSON_AddItemToObject(e, "provides", ctrl_list(h->ctrls));
		ok = ok && cJSON_AddBoolToObject(e, "writable", h->writable);
	}
	ok = ok && (cs = cJSON_AddObjectToObject(o, "controllers"));
	for (int c = 0; ok && c < RB_ISO_CG_NCTRL; c++) {
		int h = info->ctrl_hier[c];

		if (h < 0) {
			ok = cJSON_AddNullToObject(cs, ctrl_names[c]) != NULL;
			continue;
		}
		ok = cJSON_AddStringToObject(cs, ctrl_names[c], info->hier[h].own) != NULL;
	}
	if (ok && info->ctrl_hier[RB_ISO_CG_UNIFIED] < 0) {
		ok = cJSON_AddNullToObject(o, "cgroup2") != NULL;
	} else if (ok) {
		ok = (v2 = cJSON_AddObjectToObject(o, "cgroup2")) != NULL;
		ok = ok && cJSON_AddStringToObject(v2, "controllers", info->v2_controllers);
		ok = ok && cJSON_AddStringToObject(v2, "subtreeControl", info->v2_subtree);
		ok = ok && cJSON_AddBoolToObject(v2, "delegated", info->v2_delegated);
		ok = ok && cJSON_AddBoolToObject(v2, "subtreeWritable", info->v2_subtree_writable);
		ok = ok && cJSON_AddBoolToObject(v2, "needsPrepare", info->v2_needs_prepare);
		ok = ok && cJSON_AddBoolToObject(v2, "prepared", info->v2_prepared);
		ok = ok && cJSON_AddBoolToObject(v2, "freeze", info->has_freeze);
		ok = ok && cJSON_AddBoolToObject(v2, "kill", info->has_kill);
		ok = ok && cJSON_AddBoolToObject(v2, "cloneIntoCgroup", info->clone_into_cgroup);
		ok = ok && cJSON_AddBoolToObject(v2, "cloneIntoCgroupComplete",
						 info->clone_into_complete);
	}
	if (ok && info->mode != RB_ISO_CGROUP_V1 && info->mode != RB_ISO_CGROUP_HYBRID) {
		ok = cJSON_AddNullToObject(o, "cgroup1") != NULL;
	} else if (ok) {
		ok = (v1 = cJSON_AddObjectToObject(o, "cgroup1")) != NULL;
		ok = ok && cJSON_AddBoolToObject(v1, "memsw", info->v1_memsw);
		ok = ok && cJSON_AddBoolToObject(v1, "cfsBandwidth", info->v1_cfs);
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}
