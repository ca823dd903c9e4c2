/* The daemon's sandboxes: the registry (SQLite) and the live ones (memory), their lifecycle. */
#ifndef RB_RUNTIME_SANDBOX_H
#define RB_RUNTIME_SANDBOX_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "common/error.h"
#include "isolation/cgroup.h"
#include "isolation/isolation.h"
#include "netpolicy/netpolicy.h"

struct rb_image_store;

enum rb_rt_sb_state { RB_SB_CREATING, RB_SB_RUNNING, RB_SB_PAUSED, RB_SB_TERMINATED };

struct rb_rt_sandbox {
	char id[16];
	enum rb_rt_sb_state state;
	cJSON *doc; /* the API's Sandbox object; guarded by the manager's lock */
	struct rb_iso_sandbox iso;
	struct rb_iso_cgroup *cg;
	struct rb_net_sandbox *net; /* its network (netpolicy/), NULL until set up */
	uint32_t slot;
	char **env; /* the image's Env under the sandbox's env, "K=V", NULL-terminated */
	char *workdir;
	char *user; /* the image's User */
	long long created_ms;
	uint64_t oom_seen; /* OOM kills already reported */
	int refs;
	/* guarded by the manager's lock: */
	bool busy; /* a pause or resume is under way: others wait on the manager's settled */
	long long expires_ms;	  /* timeoutMs: terminated then (timers.c) */
	long long last_active_ms; /* idleTimeoutMs: the last request using it ended then */
	struct {
		uint64_t usec;
		long long at_us; /* CLOCK_MONOTONIC */
		double percent;
	} cpu_sample; /* the metrics' last cpu reading, for its percentage */
};

struct rb_rt_sandboxes {
	pthread_mutex_t lock;
	pthread_cond_t settled; /* broadcast when a sandbox's busy clears */
	sqlite3 *db;
	struct rb_image_store *store;
	struct rb_iso_ctx *iso;
	struct rb_iso_cgroup_info cg;
	struct rb_rt_sandbox **live;
	size_t n_live;
	unsigned char *slots; /* one byte a slot: taken or not */
	size_t n_slots;
	uint64_t host_memory_mb;
	int host_cpus;
	uint64_t default_pids;
	struct rb_net_ctx *net; /* the daemon's networking */
	bool stop_on_close;	/* terminate the sandboxes at close rather than leave them */
	long long retention_ms; /* terminated records are kept that long; <= 0: for ever */
	/* timers.c's thread */
	pthread_t timer;
	pthread_cond_t timer_wake;
	bool timer_on, timer_stop;
};

/* Opens the registry and takes back the sandboxes a previous daemon left, with their networks
 * (net: the daemon's networking, owned from here on; NULL: none). */
int rb_rt_sandboxes_open(struct rb_rt_sandboxes *m, const char *state_dir,
			 struct rb_image_store *store, struct rb_net_ctx *net,
			 struct rb_error *err);
/* Terminates every live sandbox (reason given), then frees. */
void rb_rt_sandboxes_close(struct rb_rt_sandboxes *m, const char *reason);

/* Validate a SandboxConfig and start it; *out is the Sandbox object. */
int rb_rt_sandbox_create(struct rb_rt_sandboxes *m, const cJSON *config, cJSON **out,
			 struct rb_error *err);
int rb_rt_sandbox_get(struct rb_rt_sandboxes *m, const char *id, cJSON **out, struct rb_error *err);
struct rb_rt_list_query {
	const char *state, *image;
	const char *meta_key[8], *meta_value[8];
	size_t n_meta;
	long limit, offset;
};
int rb_rt_sandbox_list(struct rb_rt_sandboxes *m, const struct rb_rt_list_query *q, cJSON **out,
		       struct rb_error *err);
int rb_rt_sandbox_terminate(struct rb_rt_sandboxes *m, const char *id, const char *reason,
			    cJSON **out, struct rb_error *err);

enum rb_rt_hold {
	RB_RT_HOLD_RUNNING = 0,	    /* INVALID_STATE unless running */
	RB_RT_HOLD_AUTO_RESUME = 1, /* a paused sandbox is resumed first (autoResume) */
	RB_RT_HOLD_LIVE = 2,	    /* running or paused, as it is (metrics) */
};
/* A live sandbox, held until rb_rt_sandbox_put; INVALID_STATE when not as asked. A pause or
 * resume under way is waited for first. */
int rb_rt_sandbox_hold_as(struct rb_rt_sandboxes *m, const char *id, enum rb_rt_hold how,
			  struct rb_rt_sandbox **out, struct rb_error *err);
/* rb_rt_sandbox_hold_as(..., RB_RT_HOLD_RUNNING, ...) */
int rb_rt_sandbox_hold(struct rb_rt_sandboxes *m, const char *id, struct rb_rt_sandbox **out,
		       struct rb_error *err);
void rb_rt_sandbox_put(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb);
/* Freeze and thaw the whole sandbox (its cgroup); *out (may be NULL) is the Sandbox object.
 * INVALID_STATE: pause of one not running, resume of one not paused. lifecycle.c */
int rb_rt_sandbox_pause(struct rb_rt_sandboxes *m, const char *id, cJSON **out,
			struct rb_error *err);
int rb_rt_sandbox_resume(struct rb_rt_sandboxes *m, const char *id, cJSON **out,
			 struct rb_error *err);
/* cpu, memory, pids and disk figures of a live sandbox, as the metrics route answers them. */
int rb_rt_sandbox_metrics(struct rb_rt_sandboxes *m, const char *id, cJSON **out,
			  struct rb_error *err);

/* For the manager's own files (sandbox.c, lifecycle.c); the caller holds m->lock. */
/* Wait until sandbox id is not busy; *out is it while live. Else *out is NULL and err says
 * SANDBOX_NOT_FOUND, or INVALID_STATE for a terminated one. */
int rb_rt_sb_settle(struct rb_rt_sandboxes *m, const char *id, struct rb_rt_sandbox **out,
		    struct rb_error *err);
/* The state into sb and its object; the object into the registry. */
void rb_rt_sb_set_state(struct rb_rt_sandbox *sb, enum rb_rt_sb_state s);
void rb_rt_sb_set_time(cJSON *doc, const char *key, long long ms); /* ms < 0: null */
int rb_rt_sb_save(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb, struct rb_error *err);
/* Its exposed ports with their host ports, for a daemon that restarts. */
int rb_rt_sb_save_ports(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb, struct rb_error *err);
const char *rb_rt_sb_state_name(enum rb_rt_sb_state s);

/* The clocks (timers.c): timeoutMs, idleTimeoutMs and the retention of terminated records. */
int rb_rt_timers_start(struct rb_rt_sandboxes *m, struct rb_error *err);
void rb_rt_timers_stop(struct rb_rt_sandboxes *m);
/* A new lifetime from now (keep-alive): timeoutMs and expiresAt change. */
int rb_rt_sandbox_set_timeout(struct rb_rt_sandboxes *m, const char *id, long long timeout_ms,
			      cJSON **out, struct rb_error *err);
/* When a sandbox's lifetime ends: its expiresAt, else createdAt + timeoutMs. */
long long rb_rt_sb_expiry(const cJSON *doc, long long created_ms);

/* After recovery: remove the cgroups of this registry's sandboxes that are not live, and release
 * image holds no live sandbox stands for (strays.c). */
void rb_rt_sb_sweep_strays(struct rb_rt_sandboxes *m);

/* Has the OOM killer struck in this sandbox since the last time this said so? */
bool rb_rt_sandbox_oom_check(struct rb_rt_sandbox *sb);

#endif
