/* An ExecRequest, parsed once and shared by exec (exec.c) and its interactive form (attach.c). */
#ifndef RB_RUNTIME_EXEC_INTERNAL_H
#define RB_RUNTIME_EXEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime-internal.h"
#include "sandbox.h"

#define RB_RT_EXEC_DEFAULT_TIMEOUT_MS 60000
#define RB_RT_EXEC_MAX_TIMEOUT_MS     300000

struct rb_rt_exec_req {
	struct rb_rt_sandboxes *m;
	struct rb_rt_sandbox *sb; /* held until rb_rt_exec_req_clear */
	char **argv, **env;
	char *cwd, *user, *stdin_data;
	size_t stdin_len;
	long timeout_ms;
	bool tty; /* interactive only: the command's stdio is a pty */
	uint16_t rows, cols;
};

/* Hold the sandbox req->params[0] and parse the body into x (cleared first). */
int rb_rt_exec_req_parse(struct rb_rt_req *req, const cJSON *in, struct rb_rt_exec_req *x,
			 struct rb_error *err);
void rb_rt_exec_req_clear(struct rb_rt_exec_req *x);

/* "runbox: cannot execute "x": ..." for a command that never ran, into buf; its length. */
size_t rb_rt_exec_never_ran(const struct rb_rt_exec_req *x, const struct rb_iso_exit *ex, char *buf,
			    size_t size);
/* exitCode, durationMs, signal and oomKilled of an ExecutionResult, added to res. */
void rb_rt_exec_status_json(cJSON *res, const struct rb_iso_exit *ex, long long duration_ms,
			    bool timed_out, bool oom_killed);

/* attach.c: answer 101 and relay the command over the upgraded connection. Takes x. */
int rb_rt_exec_attach(struct rb_rt_req *req, struct rb_rt_exec_req *x, struct rb_error *err);
/* Does the request ask for the upgrade (Upgrade: runbox-exec)? */
bool rb_rt_exec_wants_attach(struct rb_rt_req *req);

#endif
