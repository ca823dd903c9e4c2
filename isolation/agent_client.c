/* The daemon's side of the agent's wire: one socketpair per operation (see agent/proto.h). */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/proto.h"
#include "common/cleanup.h"
#include "isolation.h"

static int send_msg(int fd, uint32_t op, const void *a, size_t alen, const void *b, size_t blen,
		    const int *fds, int nfds)
{
	return rb_ag_send(fd, op, 0, a, alen, b, blen, fds, nfds);
}

/* One reply: header into *h, payload into buf (up to len), an fd if one came. */
static ssize_t recv_reply(int fd, struct rb_ag_hdr *h, void *buf, size_t len, int *rfd)
{
	char data[sizeof(*h) + sizeof(struct rb_ag_stat) + 512];
	char cbuf[CMSG_SPACE(sizeof(int) * RB_AGENT_MAX_FDS)];
	struct iovec iov = {data, sizeof(data)};
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;

	memset(h, 0, sizeof(*h));
	if (rfd)
		*rfd = -1;
	do
		n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int)), *in;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		in = (int *)CMSG_DATA(c);
		for (int i = 0; i < count; i++) {
			if (rfd && *rfd < 0)
				*rfd = in[i];
			else
				close(in[i]);
		}
	}
	if (n < (ssize_t)sizeof(*h))
		return -EPIPE; /* the agent is gone */
	memcpy(h, data, sizeof(*h));
	n -= (ssize_t)sizeof(*h);
	if ((size_t)n > len)
		n = (ssize_t)len;
	memcpy(buf, data + sizeof(*h), (size_t)n);
	return n;
}

int rb_iso_agent_channel(int ctl, struct rb_error *err)
{
	int sp[2], r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "socketpair");
	/* one packet, so concurrent callers on the same control socket never interleave */
	r = send_msg(ctl, RB_AG_PING, NULL, 0, NULL, 0, &sp[1], 1);
	close(sp[1]);
	if (r < 0) {
		close(sp[0]);
		return rb_error_set(err, -r, RB_INTERNAL_ERROR, "the sandbox's agent is gone: %s",
				    strerror(-r));
	}
	return sp[0];
}

static int agent_gone(struct rb_error *err, ssize_t r)
{
	return rb_error_set(err, r < 0 ? (int)-r : EPIPE, RB_INTERNAL_ERROR,
			    "the sandbox's agent did not answer");
}

int rb_iso_exec_start(int ctl, const struct rb_iso_exec *x, int *chan, pid_t *pid, int *pty,
		      struct rb_error *err)
{
	struct rb_ag_exec hx = {.flags = RB_AG_EXEC_SETSID};
	_cleanup_free_ char *strings = NULL;
	_cleanup_close_ int c = -1, master = -1;
	size_t len = 0, off = 0;
	int fds[3] = {x->stdin_fd, x->stdout_fd, x->stderr_fd};
	struct rb_ag_hdr h;
	int32_t p32;
	ssize_t n;
	int r;

	if (x->tty) {
		hx.flags |= RB_AG_EXEC_TTY;
		hx.rows = x->rows;
		hx.cols = x->cols;
	}
	if (x->kill_group)
		hx.flags |= RB_AG_EXEC_KILL_GROUP;
	if (pty)
		*pty = -1;
	len += strlen(x->user ? x->user : "") + 1 + strlen(x->cwd ? x->cwd : "") + 1;
	for (const char *const *a = x->argv; *a; a++, hx.argc++)
		len += strlen(*a) + 1;
	for (const char *const *e = x->env; e && *e; e++, hx.envc++)
		len += strlen(*e) + 1;
	if (len + sizeof(hx) > RB_AGENT_MAX_MSG)
		return rb_error_set(err, E2BIG, RB_COMMAND_TOO_LONG,
				    "the command and its environment take %zu bytes, more than %d",
				    len, RB_AGENT_MAX_MSG);
	strings = malloc(len);
	if (!strings)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
#define PUT(s)                                                                                     \
	do {                                                                                       \
		size_t l_ = strlen(s) + 1;                                                         \
		memcpy(strings + off, (s), l_);                                                    \
		off += l_;                                                                         \
	} while (0)
	PUT(x->user ? x->user : "");
	PUT(x->cwd ? x->cwd : "");
	for (const char *const *a = x->argv; *a; a++)
		PUT(*a);
	for (const char *const *e = x->env; e && *e; e++)
		PUT(*e);
#undef PUT
	c = rb_iso_agent_channel(ctl, err);
	if (c < 0)
		return c;
	r = send_msg(c, RB_AG_EXEC, &hx, sizeof(hx), strings, len, fds, x->tty ? 0 : 3);
	if (r < 0)
		return agent_gone(err, r);
	n = recv_reply(c, &h, &p32, sizeof(p32), &master);
	if (n < 0)
		return agent_gone(err, n);
	if (h.op == RB_AG_RESULT)
		return rb_error_set(err, h.err, RB_INTERNAL_ERROR,
				    "the agent refused the command: %s", strerror(h.err));
	if (h.op != RB_AG_STARTED)
		return agent_gone(err, -EPROTO);
	if (x->tty && p32 && master < 0)
		return rb_error_set(err, EPROTO, RB_INTERNAL_ERROR,
				    "the agent started the command without its terminal");
	*pid = p32;
	if (x->tty && pty)
		*pty = TAKE_FD(master);
	*chan = TAKE_FD(c);
	return 0;
}

int rb_iso_exec_wait(int chan, struct rb_iso_exit *ex, struct rb_error *err)
{
	struct rb_ag_exit w;
	struct rb_ag_hdr h;
	ssize_t n = recv_reply(chan, &h, &w, sizeof(w), NULL);

	memset(ex, 0, sizeof(*ex));
	if (n < (ssize_t)sizeof(w) || h.op != RB_AG_EXITED)
		return agent_gone(err, n);
	ex->user_usec = w.user_usec;
	ex->sys_usec = w.sys_usec;
	if (w.status == -1) {
		ex->exec_errno = w.exec_errno;
		ex->exec_stage = w.stage;
		ex->exited = 1;
		ex->exit_code = w.stage == RB_AG_STAGE_EXEC && w.exec_errno == ENOENT ? 127 : 126;
	} else if (WIFEXITED(w.status)) {
		ex->exited = 1;
		ex->exit_code = WEXITSTATUS(w.status);
	} else {
		ex->signal = WTERMSIG(w.status);
		ex->exit_code = 128 + ex->signal;
	}
	return 0;
}

int rb_iso_exec_signal(int chan, int sig)
{
	int32_t s = sig;

	return send_msg(chan, RB_AG_SIGNAL, &s, sizeof(s), NULL, 0, NULL, 0);
}

static int simple_op(int ctl, uint32_t op, const void *a, size_t alen, const char *path,
		     struct rb_ag_hdr *h, void *buf, size_t len, int *rfd, struct rb_error *err)
{
	_cleanup_close_ int c = rb_iso_agent_channel(ctl, err);
	ssize_t n;
	int r;

	if (c < 0)
		return c;
	r = send_msg(c, op, a, alen, path, strlen(path) + 1, NULL, 0);
	if (r < 0)
		return agent_gone(err, r);
	n = recv_reply(c, h, buf, len, rfd);
	if (n < 0)
		return agent_gone(err, n);
	if (h->err)
		return rb_error_set(err, h->err,
				    h->err == ENOENT ? RB_NOT_FOUND : RB_INVALID_REQUEST, "%s: %s",
				    path, strerror(h->err));
	return (int)n;
}

static void to_stat(const struct rb_ag_stat *in, struct rb_iso_stat *out)
{
	out->mode = in->mode;
	out->size = in->size;
	out->mtime_ms = in->mtime_ms;
}

int rb_iso_file_open(int ctl, const char *path, int flags, mode_t mode, int mkdirs, int *fd,
		     struct rb_iso_stat *st, struct rb_error *err)
{
	struct rb_ag_open o = {
	    .flags = flags, .mode = mode, .opts = mkdirs ? RB_AG_OPEN_MKDIRS : 0};
	struct rb_ag_stat s = {0};
	struct rb_ag_hdr h;
	int r = simple_op(ctl, RB_AG_OPEN, &o, sizeof(o), path, &h, &s, sizeof(s), fd, err);

	if (r < 0)
		return r;
	if (*fd < 0)
		return rb_error_set(err, EPROTO, RB_INTERNAL_ERROR, "%s: the agent sent no file",
				    path);
	if (st)
		to_stat(&s, st);
	return 0;
}

int rb_iso_file_stat(int ctl, const char *path, struct rb_iso_stat *st, struct rb_error *err)
{
	struct rb_ag_stat s = {0};
	struct rb_ag_hdr h;
	int r = simple_op(ctl, RB_AG_STAT, NULL, 0, path, &h, &s, sizeof(s), NULL, err);

	if (r < 0)
		return r;
	to_stat(&s, st);
	return 0;
}

int rb_iso_agent_probe(int ctl, int timeout_ms, struct rb_error *err)
{
	_cleanup_close_ int c = rb_iso_agent_channel(ctl, err);
	struct rb_ag_stat st;
	struct rb_ag_hdr h;
	struct pollfd p;
	ssize_t n;
	int r;

	if (c < 0)
		return c;
	r = send_msg(c, RB_AG_STAT, NULL, 0, "/", 2, NULL, 0);
	if (r < 0)
		return agent_gone(err, r);
	p = (struct pollfd){.fd = c, .events = POLLIN};
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return rb_error_set(err, ETIMEDOUT, RB_INTERNAL_ERROR,
				    "the sandbox's agent did not answer within %d ms", timeout_ms);
	n = recv_reply(c, &h, &st, sizeof(st), NULL);
	if (n < 0)
		return agent_gone(err, n);
	return 0;
}

int rb_iso_file_mkdir(int ctl, const char *path, int recursive, struct rb_error *err)
{
	struct rb_ag_path_flags pf = {.recursive = (uint32_t)recursive, .mode = 0755};
	struct rb_ag_hdr h;
	int r = simple_op(ctl, RB_AG_MKDIR, &pf, sizeof(pf), path, &h, NULL, 0, NULL, err);

	return r < 0 ? r : 0;
}

int rb_iso_file_remove(int ctl, const char *path, int recursive, struct rb_error *err)
{
	struct rb_ag_path_flags pf = {.recursive = (uint32_t)recursive};
	struct rb_ag_hdr h;
	int r = simple_op(ctl, RB_AG_REMOVE, &pf, sizeof(pf), path, &h, NULL, 0, NULL, err);

	return r < 0 ? r : 0;
}

int rb_iso_file_list(int ctl, const char *path, rb_iso_list_fn fn, void *ud, struct rb_error *err)
{
	_cleanup_close_ int c = rb_iso_agent_channel(ctl, err);
	char buf[sizeof(struct rb_ag_stat) + 512];
	struct rb_ag_hdr h;
	ssize_t n;
	int r = 0;

	if (c < 0)
		return c;
	if (send_msg(c, RB_AG_LIST, path, strlen(path) + 1, NULL, 0, NULL, 0) < 0)
		return agent_gone(err, -EPIPE);
	n = recv_reply(c, &h, buf, sizeof(buf), NULL);
	if (n < 0)
		return agent_gone(err, n);
	if (h.err)
		return rb_error_set(err, h.err, h.err == ENOENT ? RB_NOT_FOUND : RB_INVALID_REQUEST,
				    "%s: %s", path, strerror(h.err));
	for (;;) {
		struct rb_ag_stat s;
		struct rb_iso_stat st;

		n = recv_reply(c, &h, buf, sizeof(buf) - 1, NULL);
		if (n < 0)
			return agent_gone(err, n);
		if (h.op == RB_AG_END)
			return r;
		if (h.op != RB_AG_ENTRY || (size_t)n <= sizeof(s))
			continue;
		buf[n] = '\0';
		memcpy(&s, buf, sizeof(s));
		to_stat(&s, &st);
		if (r == 0)
			r = fn(buf + sizeof(s), &st, ud);
	}
}
