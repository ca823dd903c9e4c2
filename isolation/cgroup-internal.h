/* Shared by cgroup.c (handle, generic steps, hybrid manager), cgroup-probe.c, cgroup-v1.c and
 * cgroup-v2.c. Not part of the room's door. */
#ifndef RB_ISO_CGROUP_INTERNAL_H
#define RB_ISO_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "isolation/cgroup.h"

struct rb_iso_cgroup {
	const struct rb_iso_cgroup_info *info;
	char name[80]; /* runbox-<sandbox id> */
	char *
	    dir[RB_ISO_CGROUP_MAX_HIER]; /* the sandbox's directory per hierarchy, NULL if unused */
	bool created[RB_ISO_CGROUP_MAX_HIER]; /* made by this handle: undone if create fails */
};

/* Per-controller steps of one cgroup version, for the managers to combine. */
typedef int (*rb_cg_set_fn)(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c,
			    const struct rb_iso_cgroup_limits *lim, struct rb_error *err);
typedef int (*rb_cg_stat_fn)(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c,
			     struct rb_iso_cgroup_stats *st, struct rb_error *err);

/* Files of a cgroup directory. Reads and writes go through one read(2)/write(2), as cgroupfs
 * wants; errors name the file. */
int rb_cg_write(const char *dir, const char *file, const char *val, struct rb_error *err);
int rb_cg_read(const char *dir, const char *file, char *buf, size_t size, struct rb_error *err);
/* A number, or "max" as UINT64_MAX. */
int rb_cg_read_u64(const char *dir, const char *file, uint64_t *v, struct rb_error *err);
/* The value of key in a flat keyed file ("key value" lines); -ENOENT if the key is absent. */
int rb_cg_read_key(const char *dir, const char *file, const char *key, uint64_t *v,
		   struct rb_error *err);
/* The pids in dir/cgroup.procs; a directory already gone gives none. */
int rb_cg_read_pids(const char *dir, pid_t **pids, size_t *n, struct rb_error *err);
bool rb_cg_has(const char *dir, const char *file);
/* True when word is one of the space-separated words of list. */
bool rb_cg_has_word(const char *list, const char *word);
/* RB_RESOURCE_EXHAUSTED for errnos that mean "too many", else RB_INTERNAL_ERROR. */
enum rb_code rb_cg_code(int errnum);
long long rb_cg_now_ms(void);
/* Sleep a little, growing *step_ms up to 20 ms: for v1 files, which have no notification. */
void rb_cg_backoff(int *step_ms);

/* The hierarchy index serving ctrl for this handle, or -1. */
int rb_cg_hier_of(const struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl ctrl);

/* Steps every manager shares. */
int rb_cg_create(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
		 struct rb_iso_cgroup **out, struct rb_error *err);
int rb_cg_attach(struct rb_iso_cgroup *cg, pid_t pid, struct rb_error *err);
int rb_cg_destroy(struct rb_iso_cgroup *cg, struct rb_error *err);
/* Limits and stats controller by controller, with the step of the controller's hierarchy's
 * version; a NULL step means this manager cannot use that version. */
int rb_cg_set_limits(struct rb_iso_cgroup *cg, const struct rb_iso_cgroup_limits *lim,
		     rb_cg_set_fn v1, rb_cg_set_fn v2, struct rb_error *err);
int rb_cg_stats(struct rb_iso_cgroup *cg, struct rb_iso_cgroup_stats *st, rb_cg_stat_fn v1,
		rb_cg_stat_fn v2, struct rb_error *err);
/* Without cgroup.kill: freeze (with the freezer of version freezer_version, 0 for none),
 * SIGKILL every pid in cgroup.procs, thaw, and again until the cgroup is empty. */
int rb_cg_kill_loop(struct rb_iso_cgroup *cg, int freezer_version, struct rb_error *err);

/* cgroup v1 */
int rb_cg1_set(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c,
	       const struct rb_iso_cgroup_limits *lim, struct rb_error *err);
int rb_cg1_stat(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c, struct rb_iso_cgroup_stats *st,
		struct rb_error *err);
int rb_cg1_freeze(struct rb_iso_cgroup *cg, bool frozen, struct rb_error *err);
/* Give a new v1 cgroup in a hierarchy with cpuset its parent's cpus and mems. */
int rb_cg1_init_dir(const char *dir, struct rb_error *err);

/* cgroup v2 */
int rb_cg2_set(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c,
	       const struct rb_iso_cgroup_limits *lim, struct rb_error *err);
int rb_cg2_stat(struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl c, struct rb_iso_cgroup_stats *st,
		struct rb_error *err);
int rb_cg2_freeze(struct rb_iso_cgroup *cg, bool frozen, struct rb_error *err);
/* cgroup.kill, then wait for "populated 0". */
int rb_cg2_kill(struct rb_iso_cgroup *cg, struct rb_error *err);
int rb_cg2_open_fd(struct rb_iso_cgroup *cg, int *fd, struct rb_error *err);
/* Wait until dir/cgroup.events says "key want"; poll(2) on the file, no sleeping. */
int rb_cg2_wait_event(const char *dir, const char *key, uint64_t want, int timeout_ms,
		      struct rb_error *err);
/* Enable in parent/cgroup.subtree_control the controllers the sandboxes take from v2. */
int rb_cg2_init_parent(const struct rb_iso_cgroup_info *info, const char *parent,
		       struct rb_error *err);
int rb_cg2_prepare_root(struct rb_iso_cgroup_info *info, struct rb_error *err);
/* The v2 controller names runbox needs ("cpu", "memory", "pids") and their ctrl. */
extern const struct rb_cg2_ctrl_name {
	const char *name;
	enum rb_iso_cgroup_ctrl ctrl;
} rb_cg2_ctrls[3];

#endif
