/* Kernel facts the daemon reports and, later, isolation relies on: probed once at start. */
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

/* the v1 controllers, space-delimited for a word search */
static const char v1_controllers[] = " cpuset cpu cpuacct blkio memory devices freezer net_cls "
				     "perf_event net_prio hugetlb pids rdma misc ";

static void add_word(char *list, size_t size, const char *word)
{
	size_t n = strlen(list), len = strlen(word);

	/* skip duplicates: the same controller may be mounted twice */
	for (const char *p = list; (p = strstr(p, word)); p += len) {
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return;
	}
	if (n + len + 2 > size)
		return;
	if (n > 0)
		list[n++] = ' ';
	memcpy(list + n, word, len + 1);
}

/* The controllers named in a v1 mount's super options ("rw,cpu,cpuacct"). */
static void add_v1_controllers(struct rb_rt_host *h, const char *opts)
{
	while (*opts) {
		size_t len = strcspn(opts, ",");
		char word[34];

		if (len + 2 < sizeof(word)) {
			snprintf(word, sizeof(word), " %.*s ", (int)len, opts);
			if (strstr(v1_controllers, word)) {
				word[len + 1] = '\0';
				add_word(h->controllers, sizeof(h->controllers), word + 1);
			}
		}
		opts += len;
		if (*opts == ',')
			opts++;
	}
}

void rb_rt_probe_cgroup_mountinfo(const char *mountinfo, struct rb_rt_host *h)
{
	char root_fstype[32] = "";
	int have_v1 = 0;
	const char *line = mountinfo;

	h->cgroup = RB_RT_CGROUP_NONE;
	h->cgroup2_mount[0] = '\0';
	h->controllers[0] = '\0';
	while (line && *line) {
		const char *eol = strchrnul(line, '\n');
		char buf[4096], mnt[256], fstype[32], source[256], opts[1024];
		const char *sep;
		size_t len = (size_t)(eol - line);

		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE
			 * SUPEROPTS */
			sep = strstr(buf, " - ");
			if (sep && sscanf(buf, "%*s %*s %*s %*s %255s", mnt) == 1 &&
			    sscanf(sep + 3, "%31s %255s %1023s", fstype, source, opts) == 3) {
				if (!strcmp(mnt, "/sys/fs/cgroup"))
					snprintf(root_fstype, sizeof(root_fstype), "%s", fstype);
				if (!strcmp(fstype, "cgroup2") &&
				    (!h->cgroup2_mount[0] || !strcmp(mnt, "/sys/fs/cgroup")))
					snprintf(h->cgroup2_mount, sizeof(h->cgroup2_mount), "%s",
						 mnt);
				if (!strcmp(fstype, "cgroup")) {
					have_v1 = 1;
					add_v1_controllers(h, opts);
				}
			}
		}
		line = *eol ? eol + 1 : NULL;
	}
	if (have_v1 && strcmp(root_fstype, "cgroup2"))
		h->cgroup = h->cgroup2_mount[0] ? RB_RT_CGROUP_HYBRID : RB_RT_CGROUP_V1;
	else if (!strcmp(root_fstype, "cgroup2") || h->cgroup2_mount[0])
		h->cgroup = RB_RT_CGROUP_V2;
}

/* /proc files report size 0, so read to the end rather than trust fstat. */
static int read_proc(const char *path, size_t max, char **out, struct rb_error *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", path);
	do {
		if (cap - len < 4096) {
			char *grown;

			if (cap >= max)
				return rb_error_set(err, EFBIG, RB_INTERNAL_ERROR,
						    "%s is larger than %zu bytes", path, max);
			cap = cap ? cap * 2 : 16384;
			grown = realloc(buf, cap + 1);
			if (!grown)
				return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR,
						    "out of memory");
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f))
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "read %s", path);
	buf[len] = '\0';
	*out = TAKE_PTR(buf);
	return 0;
}

int rb_rt_probe_host(struct rb_rt_host *h, struct rb_error *err)
{
	_cleanup_free_ char *text = NULL;
	struct utsname u;
	int r;

	memset(h, 0, sizeof(*h));
	r = read_proc("/proc/self/mountinfo", 16 << 20, &text, err);
	if (r < 0)
		return rb_error_wrap(err, "probing cgroups");
	rb_rt_probe_cgroup_mountinfo(text, h);
	if (h->cgroup == RB_RT_CGROUP_V2) {
		_cleanup_free_ char *path = rb_path_join(h->cgroup2_mount, "cgroup.controllers");
		_cleanup_free_ char *ctl = NULL;
		struct rb_error ignored;

		/* an empty or unreadable list is a fact worth reporting, not a failure */
		if (path && read_proc(path, 4096, &ctl, &ignored) == 0) {
			ctl[strcspn(ctl, "\n")] = '\0';
			snprintf(h->controllers, sizeof(h->controllers), "%s", ctl);
		}
	}
	if (uname(&u) < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "uname");
	snprintf(h->kernel_release, sizeof(h->kernel_release), "%s", u.release);
	snprintf(h->machine, sizeof(h->machine), "%s", u.machine);
	return 0;
}

const char *rb_rt_cgroup_mode_name(enum rb_rt_cgroup_mode mode)
{
	switch (mode) {
	case RB_RT_CGROUP_V1:
		return "v1";
	case RB_RT_CGROUP_HYBRID:
		return "hybrid";
	case RB_RT_CGROUP_V2:
		return "v2";
	case RB_RT_CGROUP_NONE:
		break;
	}
	return "none";
}

void rb_rt_host_to_json(const struct rb_rt_host *h, cJSON *obj)
{
	cJSON *cg = cJSON_AddObjectToObject(obj, "cgroup");
	cJSON *kernel = cJSON_AddObjectToObject(obj, "kernel");
	cJSON *ctl;
	const char *p = h->controllers;

	cJSON_AddStringToObject(cg, "version", rb_rt_cgroup_mode_name(h->cgroup));
	if (h->cgroup2_mount[0])
		cJSON_AddStringToObject(cg, "unifiedMount", h->cgroup2_mount);
	else
		cJSON_AddNullToObject(cg, "unifiedMount");
	ctl = cJSON_AddArrayToObject(cg, "controllers");
	while (*p) {
		size_t len = strcspn(p, " ");
		char word[64];

		if (len > 0 && len < sizeof(word)) {
			memcpy(word, p, len);
			word[len] = '\0';
			cJSON_AddItemToArray(ctl, cJSON_CreateString(word));
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	cJSON_AddStringToObject(kernel, "release", h->kernel_release);
	cJSON_AddStringToObject(kernel, "machine", h->machine);
}
