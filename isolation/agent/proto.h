/*
 * The wire between the daemon and a sandbox's agent, over SOCK_SEQPACKET unix sockets: one
 * message per packet, a fixed header then a payload, file descriptors alongside by SCM_RIGHTS.
 *
 * The agent's control socket (fd RB_AGENT_CTL_FD) carries only new request sockets: for each
 * operation the daemon makes a socketpair and hands one end to the agent, so every operation
 * has a channel of its own and neither side needs to route replies.
 * A restarted daemon takes the agent's spare control end (fd RB_AGENT_PICKUP_FD) with
 * pidfd_getfd(); the agent then serves on that pair and makes a fresh spare.
 */
#ifndef RB_AGENT_PROTO_H
#define RB_AGENT_PROTO_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define RB_AGENT_CTL_FD	   3
#define RB_AGENT_PICKUP_FD 4
#define RB_AGENT_MAX_MSG   (256 * 1024) /* a command line and its environment must fit */
#define RB_AGENT_MAX_FDS   3

enum rb_agent_op {
	/* requests */
	RB_AG_EXEC = 1, /* fds: stdin, stdout, stderr (none with RB_AG_EXEC_TTY); payload: struct
			 * rb_ag_exec + strings */
	RB_AG_SIGNAL,	/* int32 signal for the exec's process group */
	RB_AG_OPEN,	/* struct rb_ag_open + path; reply RESULT with the fd */
	RB_AG_STAT,	/* path; reply RESULT with struct rb_ag_stat */
	RB_AG_LIST,	/* path; replies ENTRY... then END */
	RB_AG_REMOVE,	/* struct rb_ag_path_flags + path */
	RB_AG_MKDIR,	/* struct rb_ag_path_flags + path */
	RB_AG_PING,
	RB_AG_HELLO, /* on a control socket taken over by a restarted daemon */
	/* replies */
	RB_AG_STARTED = 64, /* int32 pid; with RB_AG_EXEC_TTY the pty's master as fd */
	RB_AG_EXITED,	    /* struct rb_ag_exit */
	RB_AG_RESULT,	    /* err set on failure; payload depends on the request */
	RB_AG_ENTRY,	    /* struct rb_ag_stat + name */
	RB_AG_END,
};

struct rb_ag_hdr {
	uint32_t op;
	int32_t err;  /* 0, or a positive errno in replies */
	uint32_t len; /* payload bytes after the header */
	uint32_t reserved;
};

#define RB_AG_EXEC_SETSID 1u
/* stdin, stdout and stderr are a new pty's slave, the command's controlling terminal */
#define RB_AG_EXEC_TTY 2u
/* SIGKILL the command's process group when the command ends or the daemon lets go of the
 * channel, so that nothing it started outlives an interactive session */
#define RB_AG_EXEC_KILL_GROUP 4u

struct rb_ag_exec {
	uint32_t flags;
	uint32_t argc, envc;
	/* RB_AG_EXEC_TTY: the terminal's first size (0: left as it is) */
	uint16_t rows, cols;
	/* then: user\0 cwd\0 argv[0]\0 ... env[0]\0 ... */
};

enum { RB_AG_STAGE_FDS = 1, RB_AG_STAGE_USER, RB_AG_STAGE_CWD, RB_AG_STAGE_EXEC };

struct rb_ag_exit {
	int32_t status;	    /* raw wait status, or -1 when exec itself failed */
	int32_t exec_errno; /* why exec failed */
	int32_t stage;	    /* where it failed: RB_AG_STAGE_* */
	int32_t reserved;
	int64_t user_usec, sys_usec;
};

#define RB_AG_OPEN_MKDIRS 1u /* create missing parent directories */

struct rb_ag_open {
	int32_t flags; /* O_RDONLY, or O_WRONLY|O_CREAT|O_TRUNC ... */
	uint32_t mode;
	uint32_t opts;
	uint32_t reserved;
};

struct rb_ag_path_flags {
	uint32_t recursive;
	uint32_t mode;
};

struct rb_ag_stat {
	uint32_t mode; /* st_mode; 0 when the path does not exist */
	uint32_t reserved;
	int64_t size;
	int64_t mtime_ms;
};

/* One message: the header, up to two payload parts, and fds by SCM_RIGHTS. Shared by the
 * agent and the daemon, which is why it lives here, inline. */
static inline int rb_ag_send(int fd, uint32_t op, int32_t err, const void *a, size_t alen,
			     const void *b, size_t blen, const int *fds, int nfds)
{
	struct rb_ag_hdr h = {.op = op, .err = err, .len = (uint32_t)(alen + blen)};
	struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)a, alen}, {(void *)b, blen}};
	char cbuf[CMSG_SPACE(sizeof(int) * RB_AGENT_MAX_FDS)];
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};

	if (nfds > RB_AGENT_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	while (sendmsg(fd, &m, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

#endif
