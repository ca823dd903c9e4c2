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

struct rb_image_store;

enum rb_rt_sb_state { RB_SB_CREATING, RB_SB_RUNNING, RB_SB_PAUSED, RB_SB_TERMINATED };

struct rb_rt_sandbox {
	char id[16];
	enum rb_rt_sb_state state;
	cJSON *doc; /* the API's Sandbox object; guarded by the manager's lock */
	struct rb_iso_sandbox iso;
	struct rb_iso_cgroup *cg;
	uint32_t slot;
	char **env; /* the image's Env under the sandbox's env, "K=V", NULL-terminated */
	char *workdir;
	char *user; /* the image's User */
	long long created_ms;
	uint64_t oom_seen; /* OOM kills already reported */
	int refs;
};

struct rb_rt_sandboxes {
	pthread_mutex_t lock;
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
};

int rb_rt_sandboxes_open(struct rb_rt_sandboxes *m, const char *state_dir,
			 struct rb_image_store *store, struct rb_error *err);
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

/* A running sandbox, held until rb_rt_sandbox_put; INVALID_STATE when not running. */
int rb_rt_sandbox_hold(struct rb_rt_sandboxes *m, const char *id, struct rb_rt_sandbox **out,
		       struct rb_error *err);
void rb_rt_sandbox_put(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb);
/* Has the OOM killer struck in this sandbox since the last time this said so? */
bool rb_rt_sandbox_oom_check(struct rb_rt_sandbox *sb);

#endif
