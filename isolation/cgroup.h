/*
 * One cgroup per sandbox. The host's hierarchies are probed once (cgroup v2, v1, or hybrid: v1
 * controllers beside a cgroup2 tree); the probe picks a manager, a table of operations with one
 * implementation per mode, as crun's cgroup managers do. Every sandbox cgroup lives at
 * <our own cgroup>/runbox/runbox-<sandbox id> in each hierarchy it uses: runbox never creates a
 * cgroup anywhere else in the host's tree. docs/cgroups.md tells what goes where.
 */
#ifndef RB_ISO_CGROUP_H
#define RB_ISO_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "common/error.h"

#define RB_ISO_CGROUP_MAX_HIER	  8
#define RB_ISO_CGROUP_PATH_MAX	  1024
#define RB_ISO_CGROUP_PARENT	  "runbox"	  /* below our own cgroup; holds the sandboxes */
#define RB_ISO_CGROUP_PREFIX	  "runbox-"	  /* + sandbox id: one sandbox's cgroup */
#define RB_ISO_CGROUP_DAEMON_LEAF "runbox-daemon" /* where prepare_root moves the daemon (v2) */
#define RB_ISO_CGROUP_MIN_MEMORY  (6ULL << 20)
#define RB_ISO_CGROUP_CPU_PERIOD  100000     /* usec, for cpu.max and cpu.cfs_period_us */
#define RB_ISO_CGROUP_TIMEOUT_MS  5000	     /* freeze, thaw, kill and rmdir give up after this */
#define RB_ISO_CGROUP_UNKNOWN	  UINT64_MAX /* a statistic this host does not provide */

enum rb_iso_cgroup_mode {
	RB_ISO_CGROUP_NONE,
	RB_ISO_CGROUP_V1,
	RB_ISO_CGROUP_V2,
	RB_ISO_CGROUP_HYBRID,
};

/* What runbox uses from the hierarchies. UNIFIED is the cgroup2 tree itself (cgroup.freeze,
 * cgroup.kill, CLONE_INTO_CGROUP), whether or not it holds controllers. On v2, CPUACCT is the
 * core cpu.stat and FREEZER the core cgroup.freeze. */
enum rb_iso_cgroup_ctrl {
	RB_ISO_CG_CPU,
	RB_ISO_CG_CPUACCT,
	RB_ISO_CG_MEMORY,
	RB_ISO_CG_PIDS,
	RB_ISO_CG_FREEZER,
	RB_ISO_CG_UNIFIED,
	RB_ISO_CG_NCTRL,
};

struct rb_iso_cgroup_hier {
	int version;	    /* 1 or 2 */
	unsigned int id;    /* hierarchy id in /proc/self/cgroup (0 for cgroup2) */
	unsigned int ctrls; /* 1 << rb_iso_cgroup_ctrl for each thing this hierarchy gives us */
	bool writable;	    /* we may create cgroups below own */
	char mount[256];
	char own[RB_ISO_CGROUP_PATH_MAX]; /* our cgroup: mount + our path in /proc/self/cgroup */
};

struct rb_iso_cgroup;
struct rb_iso_cgroup_ops;

struct rb_iso_cgroup_info {
	enum rb_iso_cgroup_mode mode;
	const struct rb_iso_cgroup_ops *ops; /* the manager for this mode */
	size_t n_hier;
	struct rb_iso_cgroup_hier hier[RB_ISO_CGROUP_MAX_HIER];
	int ctrl_hier[RB_ISO_CG_NCTRL]; /* index into hier[], or -1 when nothing provides it */

	/* cgroup2 (when ctrl_hier[RB_ISO_CG_UNIFIED] >= 0) */
	char v2_controllers[256]; /* our cgroup.controllers: what was delegated to us */
	char v2_subtree[256];	  /* our cgroup.subtree_control: what our children get */
	bool v2_delegated;	  /* cpu, memory and pids all delegated to us */
	bool v2_subtree_writable; /* we may write our cgroup.subtree_control */
	bool v2_needs_prepare;	  /* rb_iso_cgroup_prepare_root() must run before creating */
	bool v2_prepared;	  /* we run in <own>/runbox-daemon */
	bool has_freeze;	  /* cgroup.freeze (kernel 5.2) */
	bool has_kill;		  /* cgroup.kill (kernel 5.14) */
	bool clone_into_cgroup;	  /* clone3(CLONE_INTO_CGROUP) works (kernel 5.7) */
	bool clone_into_complete; /* ... and alone puts the child in every hierarchy (pure v2) */

	/* cgroup v1 */
	bool v1_memsw; /* memory.memsw.limit_in_bytes: swap accounting is on */
	bool v1_cfs;   /* cpu.cfs_quota_us: CFS bandwidth control */
};

/* Limits of one sandbox; 0 in a field means "no limit". */
struct rb_iso_cgroup_limits {
	uint64_t memory_bytes; /* RB_ISO_CGROUP_MIN_MEMORY .. physical memory; no swap */
	double cpus;	       /* fractional CPUs: 0.01 .. online CPUs */
	uint64_t pids_max;     /* 1 .. kernel.pid_max */
};

/* Fields this host cannot tell hold RB_ISO_CGROUP_UNKNOWN. */
struct rb_iso_cgroup_stats {
	uint64_t cpu_usage_usec;
	uint64_t memory_current;
	uint64_t memory_peak;
	uint64_t pids_current;
	uint64_t oom_kills; /* times the OOM killer killed a process in this cgroup */
};

/* A manager: one per mode. Every operation returns 0 or -errno and fills err. */
struct rb_iso_cgroup_ops {
	const char *name;
	/* mkdir <own>/runbox (on demand, 0755) and <own>/runbox/runbox-<id> in each hierarchy */
	int (*create)(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
		      struct rb_iso_cgroup **out, struct rb_error *err);
	int (*set_limits)(struct rb_iso_cgroup *cg, const struct rb_iso_cgroup_limits *lim,
			  struct rb_error *err);
	/* write pid (0: the caller) to cgroup.procs in every hierarchy */
	int (*attach_pid)(struct rb_iso_cgroup *cg, pid_t pid, struct rb_error *err);
	/* *fd: an O_DIRECTORY fd of the cgroup2 cgroup for CLONE_INTO_CGROUP, or -1 */
	int (*open_fd)(struct rb_iso_cgroup *cg, int *fd, struct rb_error *err);
	int (*freeze)(struct rb_iso_cgroup *cg, struct rb_error *err); /* returns once frozen */
	int (*thaw)(struct rb_iso_cgroup *cg, struct rb_error *err);
	int (*kill_all)(struct rb_iso_cgroup *cg, struct rb_error *err); /* returns once empty */
	int (*stats)(struct rb_iso_cgroup *cg, struct rb_iso_cgroup_stats *st,
		     struct rb_error *err);
	/* kill_all, then rmdir in every hierarchy; a cgroup already gone is fine */
	int (*destroy)(struct rb_iso_cgroup *cg, struct rb_error *err);
};

extern const struct rb_iso_cgroup_ops rb_iso_cgroup_v1_ops;
extern const struct rb_iso_cgroup_ops rb_iso_cgroup_v2_ops;
extern const struct rb_iso_cgroup_ops rb_iso_cgroup_hybrid_ops;

/* Read /proc/self/cgroup, /proc/self/mountinfo and our cgroups' files; pick the manager. */
int rb_iso_cgroup_probe(struct rb_iso_cgroup_info *info, struct rb_error *err);
/*
 * Called once by the daemon before it creates sandboxes. On pure v2, when our cgroup is not the
 * root, cgroup v2's "no internal processes" rule forbids enabling controllers for children of a
 * cgroup that holds processes: so move the daemon into <own>/runbox-daemon (below our own cgroup,
 * the only place runbox touches), and if the kernel still refuses, the other processes of <own>
 * too; then enable cpu, memory and pids in <own>/cgroup.subtree_control. A later probe from
 * inside runbox-daemon still takes <own> as its base. A no-op on v1, and on hybrid hosts whose
 * cgroup2 tree gives runbox no controller (the usual kind).
 */
int rb_iso_cgroup_prepare_root(struct rb_iso_cgroup_info *info, struct rb_error *err);
const char *rb_iso_cgroup_mode_name(enum rb_iso_cgroup_mode mode);
const char *rb_iso_cgroup_ctrl_name(enum rb_iso_cgroup_ctrl ctrl);
/* For `runbox info`; NULL when out of memory. */
cJSON *rb_iso_cgroup_info_json(const struct rb_iso_cgroup_info *info);

/* RB_INVALID_CONFIG naming the field when a limit is out of range. */
int rb_iso_cgroup_validate_limits(const struct rb_iso_cgroup_limits *lim, struct rb_error *err);

/* The manager's operations, with the sandbox named in errors. info must outlive the handle. */
int rb_iso_cgroup_create(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
			 struct rb_iso_cgroup **out, struct rb_error *err);
/* The same in two steps, for a create that overlaps the sandbox's own setup: first only the
 * cgroup a clone starts the sandbox in (its v2 one, where CLONE_INTO_CGROUP serves; none
 * otherwise), then the others. A failed step undoes what the handle made. */
int rb_iso_cgroup_create_first(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
			       struct rb_iso_cgroup **out, struct rb_error *err);
int rb_iso_cgroup_create_rest(struct rb_iso_cgroup *cg, struct rb_error *err);
/* A handle on an existing sandbox cgroup (a restarted daemon re-attaching); -ENOENT if gone. */
int rb_iso_cgroup_load(const struct rb_iso_cgroup_info *info, const char *sandbox_id,
		       struct rb_iso_cgroup **out, struct rb_error *err);
int rb_iso_cgroup_set_limits(struct rb_iso_cgroup *cg, const struct rb_iso_cgroup_limits *lim,
			     struct rb_error *err);
int rb_iso_cgroup_attach_pid(struct rb_iso_cgroup *cg, pid_t pid, struct rb_error *err);
int rb_iso_cgroup_open_fd(struct rb_iso_cgroup *cg, int *fd, struct rb_error *err);
int rb_iso_cgroup_freeze(struct rb_iso_cgroup *cg, struct rb_error *err);
int rb_iso_cgroup_thaw(struct rb_iso_cgroup *cg, struct rb_error *err);
int rb_iso_cgroup_kill_all(struct rb_iso_cgroup *cg, struct rb_error *err);
int rb_iso_cgroup_stats(struct rb_iso_cgroup *cg, struct rb_iso_cgroup_stats *st,
			struct rb_error *err);
/* *killed: the OOM killer has fired in this cgroup (stats' oom_kills > 0). */
int rb_iso_cgroup_oom_killed(struct rb_iso_cgroup *cg, bool *killed, struct rb_error *err);
int rb_iso_cgroup_destroy(struct rb_iso_cgroup *cg, struct rb_error *err);
/* The sandbox's directory in the hierarchy serving ctrl, or NULL when none does. */
const char *rb_iso_cgroup_path(const struct rb_iso_cgroup *cg, enum rb_iso_cgroup_ctrl ctrl);
const char *rb_iso_cgroup_name(const struct rb_iso_cgroup *cg);
/* Frees the handle only: the cgroups stay unless destroyed. NULL is fine. */
void rb_iso_cgroup_free(struct rb_iso_cgroup *cg);

#endif
