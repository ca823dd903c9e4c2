/*
 * The daemon's event bus: every transition and operation becomes a RuntimeEvent
 * {id, timestamp, type, sandboxId, runId, data}. Emitting never blocks on a consumer: events go
 * into a bounded ring (the SSE stream reads it, and replays what it still holds) and into each
 * exporter's own bounded queue; whoever falls behind loses the oldest events and is told how
 * many. Internal to runtime/.
 */
#ifndef RB_RUNTIME_EVENTS_H
#define RB_RUNTIME_EVENTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "common/error.h"

/* The reference's RuntimeEventType values that runbox emits, and runbox's network.denied. */
enum rb_rt_ev_type {
	RB_EV_SANDBOX_CREATED,
	RB_EV_SANDBOX_STARTED,
	RB_EV_SANDBOX_PAUSED,
	RB_EV_SANDBOX_RESUMED,
	RB_EV_SANDBOX_TERMINATED,
	RB_EV_SANDBOX_ERROR,
	RB_EV_EXEC_STARTED,
	RB_EV_EXEC_COMPLETED,
	RB_EV_EXEC_ERROR,
	RB_EV_FILE_CREATED,
	RB_EV_FILE_READ,
	RB_EV_FILE_DELETED,
	RB_EV_FILE_ERROR,
	RB_EV_PORT_EXPOSED,
	RB_EV_PORT_CLOSED,
	RB_EV_NETWORK_DENIED,
	RB_EV__COUNT,
};

typedef uint32_t rb_rt_ev_mask; /* bit 1 << type; 0 in a filter: every type */
#define RB_EV_BIT(t) ((rb_rt_ev_mask)1 << (t))

#define RB_RT_EV_RING	4096 /* events the ring holds for the stream and its replays */
#define RB_RT_EV_ID_LEN 24   /* "evt_" + 20 */

const char *rb_rt_ev_type_name(enum rb_rt_ev_type t);
/* Add "exec.completed", "sandbox.*" (a prefix) or "*" to m; -EINVAL for anything else. */
int rb_rt_ev_mask_add(rb_rt_ev_mask *m, const char *name);
/* A comma-separated list of those; on -EINVAL *bad points at the offending name's start. */
int rb_rt_ev_mask_parse(const char *list, rb_rt_ev_mask *m, const char **bad);

/* An event's JSON text, shared by the ring and the queues that hold it. */
struct rb_rt_ev_text {
	atomic_int refs;
	size_t len;
	char json[]; /* compact, NUL-terminated, no newline */
};
void rb_rt_ev_text_put(struct rb_rt_ev_text *t);

/* Emit an event; takes data (NULL: {}). NULL sandbox_id or run_id: "". */
void rb_rt_ev_emit(enum rb_rt_ev_type type, const char *sandbox_id, const char *run_id,
		   cJSON *data);

/* ---- reading the ring (the SSE stream) ---- */

struct rb_rt_ev_filter {
	rb_rt_ev_mask types; /* 0: all */
	char sandbox_id[32]; /* "": all */
};

struct rb_rt_ev_item {
	enum rb_rt_ev_type type;
	char id[RB_RT_EV_ID_LEN + 1];
	struct rb_rt_ev_text *text; /* a reference: rb_rt_ev_text_put */
};

/* The events after *next that pass f, at most max, waiting up to timeout_ms for a first one;
 * *next moves past what was looked at. Returns how many (0 on timeout), or -ESHUTDOWN once the
 * streams are closed. *lost (may be NULL) gets how many events the ring dropped before the
 * reader came to them (of any type: some may not have passed f). */
int rb_rt_ev_read(uint64_t *next, const struct rb_rt_ev_filter *f, struct rb_rt_ev_item *out,
		  size_t max, int timeout_ms, uint64_t *lost);
/* Where a reader starts: after event id (-ENOENT when the ring no longer holds it, and *next is
 * the oldest held), at the first event at or after a time, or at what comes next. */
int rb_rt_ev_seek_id(const char *id, uint64_t *next);
uint64_t rb_rt_ev_seek_time(long long ms);
uint64_t rb_rt_ev_seek_end(void);
uint64_t rb_rt_ev_seek_oldest(void);
/* Wake every reader and have each return -ESHUTDOWN: the daemon is stopping. */
void rb_rt_ev_close_streams(void);

/* ---- subscribers (exporters): called under the bus lock, so push must not block ---- */

struct rb_rt_ev_sub {
	rb_rt_ev_mask types; /* 0: all */
	void (*push)(struct rb_rt_ev_sub *s, enum rb_rt_ev_type type, struct rb_rt_ev_text *t);
	struct rb_rt_ev_sub *next;
};
void rb_rt_ev_subscribe(struct rb_rt_ev_sub *s);
void rb_rt_ev_unsubscribe(struct rb_rt_ev_sub *s);
/* "events" of GET /api/v1/info: the ring's and the exporters' counters, added to obj. */
void rb_rt_ev_info_json(cJSON *obj);

/* ---- the hooks: one call where a thing happens (event_hooks.c) ---- */

struct rb_rt_sandbox;
struct rb_iso_exit;

/* A create succeeded: sandbox.created, then sandbox.started. config is the request's. */
void rb_rt_ev_sandbox_created(const char *id, const cJSON *config, long long created_ms);
/* A create failed: sandbox.error with the error's code (id may be ""). */
void rb_rt_ev_sandbox_failed(const char *id, const cJSON *config, const struct rb_error *err);
/* sandbox.terminated {reason, totalRuntimeMs, totalPausedMs}; forgets the sandbox. */
void rb_rt_ev_sandbox_terminated(const char *id, const char *reason, long long created_ms);
/* A pause (paused true) or resume ended: sandbox.paused / sandbox.resumed, or sandbox.error
 * when err is given. */
void rb_rt_ev_sandbox_transition(const char *id, bool paused, const struct rb_error *err);
/* exec.started of a command (pid: its pid in the sandbox); exec.completed, or exec.error when
 * err is given or the command timed out. started: whether exec.started was emitted. */
void rb_rt_ev_exec_started(const struct rb_rt_sandbox *sb, char *const *argv, int pid);
void rb_rt_ev_exec_finished(const struct rb_rt_sandbox *sb, char *const *argv, int pid,
			    const struct rb_iso_exit *ex, long long duration_ms, bool timed_out,
			    const struct rb_error *err);
/* file.created / file.read / file.deleted of path (size: its bytes, or one of these), or
 * file.error {operation, path, code, message} when err is given. No event when sb is NULL (the
 * sandbox was not found). */
#define RB_EV_SIZE_NONE (-1LL) /* no size to tell */
#define RB_EV_SIZE_DIR	(-2LL) /* a directory (mkdir) */
void rb_rt_ev_file(enum rb_rt_ev_type type, const struct rb_rt_sandbox *sb, const char *path,
		   long long size, const struct rb_error *err);
/* port.exposed / port.closed with the Port as data (taken). */
void rb_rt_ev_port(const char *id, bool exposed, cJSON *port);
/* network.denied {address, port, count}: a destination newly denied, or denied again. */
void rb_rt_ev_network_denied(const char *id, const char *address, uint16_t port, uint64_t count,
			     void *ud);

/* ---- exporters and the configuration file (export.c, config.c) ---- */

struct rb_rt_config;
struct rb_rt_exporters;
/* Start the exporters of the configuration file (cfg->config, read by rb_rt_config_load).
 * INVALID_CONFIG names the field at fault. *out is NULL when there are none. */
int rb_rt_exporters_start(const struct rb_rt_config *cfg, struct rb_rt_exporters **out,
			  struct rb_error *err);
/* Flush what is queued (one try each) and stop. */
void rb_rt_exporters_stop(struct rb_rt_exporters *set);
/* Each exporter's counters (provider, queued, dropped, sent, failed...), added to arr. */
void rb_rt_exporters_info(cJSON *arr);
static inline void rb_rt_exporters_stopp(struct rb_rt_exporters **set)
{
	if (*set)
		rb_rt_exporters_stop(*set);
}

#endif
