/*
 * Isolation: turning a prepared image into a confined process tree whose pid 1 is runbox's
 * agent. A sandbox gets new user (root inside = an unprivileged host range), mount, pid, uts,
 * ipc, net and cgroup namespaces, Docker's default capabilities and seccomp filter, and
 * no_new_privs; the agent is executed from a sealed memfd.
 */
#ifndef RB_ISOLATION_H
#define RB_ISOLATION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

struct rb_iso_ctx; /* daemon-wide: the agent memfd, the compiled seccomp filter, probes */

int rb_iso_ctx_new(const char *state_dir, struct rb_iso_ctx **out, struct rb_error *err);
void rb_iso_ctx_free(struct rb_iso_ctx *ctx);

#define RB_ISO_IDS_PER_SANDBOX 65536u
#define RB_ISO_ID_BASE	       0x40000000u /* host ids of sandbox n: BASE + n * 65536 ... */

struct rb_iso_spec {
	const char *id; /* the sandbox id, also its hostname */
	char *const *layer_dirs;
	size_t n_layers;
	uint64_t disk_bytes;
	uint32_t id_slot; /* which host id range root inside maps to */
	int cgroup_fd;	  /* a v2 cgroup directory to start in (CLONE_INTO_CGROUP), or -1 */
	/* Put the child in its cgroups (0, or -errno with err filled). Called while the child sets
	 * itself up; the agent is executed once it returns. */
	int (*attach)(pid_t pid, void *userdata, struct rb_error *err);
	void *userdata;	     /* for attach */
	const char *resolv;  /* /etc/resolv.conf contents, or NULL for none */
	const char *workdir; /* made if it can be (see workdir_made), or NULL */
};

struct rb_iso_sandbox {
	pid_t pid;    /* the agent, pid 1 inside */
	int pidfd;    /* of the agent */
	int ctl;      /* the agent's control socket */
	int upper_fd; /* the sandbox's disk (tmpfs), for usage figures */
	uid_t host_uid;
	/* the child made spec->workdir, as the agent would have: confined, in the sandbox's
	 * root. When not (it failed, or the child had no way to tell), asking the agent says
	 * why. */
	bool workdir_made;
};

int rb_iso_spawn(struct rb_iso_ctx *ctx, const struct rb_iso_spec *spec, struct rb_iso_sandbox *out,
		 struct rb_error *err);
/* Kill the whole sandbox (its pid 1, which takes every other process with it) and reap it. */
int rb_iso_kill(struct rb_iso_sandbox *sb);
/* Its first half: SIGKILL to pid 1, not waiting. */
int rb_iso_kill_start(struct rb_iso_sandbox *sb);
void rb_iso_sandbox_close(struct rb_iso_sandbox *sb);
/* Take back the sandbox whose agent is pid (after a daemon restart): checks that pid is still
 * the agent of the sandbox whose cgroups are named cgroup_leaf, takes its spare control socket
 * and, with probe (not for a frozen sandbox), asks it something. RB_NOT_FOUND when that agent
 * is gone. */
int rb_iso_reattach(pid_t pid, const char *cgroup_leaf, uid_t host_uid, bool probe,
		    struct rb_iso_sandbox *out, struct rb_error *err);

/* ---- talking to the agent ---- */

/* A new request channel to the agent: returns the daemon's end, or -errno. */
int rb_iso_agent_channel(int ctl, struct rb_error *err);
/* Is the agent there? A request it must answer within timeout_ms. */
int rb_iso_agent_probe(int ctl, int timeout_ms, struct rb_error *err);

struct rb_iso_exec {
	const char *const *argv;
	const char *const *env;
	const char *cwd;
	const char *user;		    /* "", "name", "uid", "uid:gid" */
	int stdin_fd, stdout_fd, stderr_fd; /* not with tty */
	int tty;	     /* stdio is a new pty inside the sandbox, the command's terminal */
	uint16_t rows, cols; /* tty: its first size (0: left as it is) */
	int kill_group;	     /* its process group is killed when it ends or when chan is closed */
};
/* Start a command: *chan gets the channel its end arrives on; *pid is 0 when it could not be
 * executed at all (rb_iso_exec_wait then says why). With x->tty, *pty gets the pty's master
 * (non-blocking, close-on-exec), or -1 when the command never ran. */
int rb_iso_exec_start(int ctl, const struct rb_iso_exec *x, int *chan, pid_t *pid, int *pty,
		      struct rb_error *err);
struct rb_iso_exit {
	int exited; /* 1: exit_code valid; 0: killed by signal */
	int exit_code;
	int signal;
	int exec_errno; /* the command could not be started */
	int exec_stage; /* 1 fds, 2 user, 3 working directory, 4 exec */
	int64_t user_usec, sys_usec;
};
/* Wait for the command's end on its channel (poll it for POLLIN first if need be). */
int rb_iso_exec_wait(int chan, struct rb_iso_exit *ex, struct rb_error *err);
int rb_iso_exec_signal(int chan, int sig);

struct rb_iso_stat {
	uint32_t mode;
	int64_t size, mtime_ms;
};
/* Open a regular file inside the sandbox; flags as open(2). The fd comes back. */
int rb_iso_file_open(int ctl, const char *path, int flags, mode_t mode, int mkdirs, int *fd,
		     struct rb_iso_stat *st, struct rb_error *err);
int rb_iso_file_stat(int ctl, const char *path, struct rb_iso_stat *st, struct rb_error *err);
int rb_iso_file_mkdir(int ctl, const char *path, int recursive, struct rb_error *err);
int rb_iso_file_remove(int ctl, const char *path, int recursive, struct rb_error *err);
typedef int (*rb_iso_list_fn)(const char *name, const struct rb_iso_stat *st, void *ud);
int rb_iso_file_list(int ctl, const char *path, rb_iso_list_fn fn, void *ud, struct rb_error *err);

#endif
