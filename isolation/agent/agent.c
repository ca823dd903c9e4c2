/*
 * runbox-agent: pid 1 of every sandbox. It is started from a sealed memfd by the daemon,
 * already confined (namespaces, capabilities, seccomp, no_new_privs), and from then on it
 * reaps orphans, starts commands and does file operations from inside the sandbox, so paths
 * resolve against the sandbox's own root. It keeps running when the daemon goes away.
 * A small static program: one thread, one poll loop, no allocation after start but for
 * the request table.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"

#define MAX_REQS 4096

struct req {
	int fd;		/* the request's socket, or -1 once the daemon let go of it */
	pid_t pid;	/* the command it started, or 0 */
	uint32_t flags; /* the command's RB_AG_EXEC_* */
};

static struct req reqs[MAX_REQS];
static size_t n_reqs;
static int ctl = RB_AGENT_CTL_FD;
static int pickup = -1; /* our end of the spare pair whose other end sits at RB_AGENT_PICKUP_FD */
static char msgbuf[RB_AGENT_MAX_MSG + sizeof(struct rb_ag_hdr) + 1];
extern char **environ;

static int send_msg(int fd, uint32_t op, int32_t err, const void *payload, uint32_t len,
		    const int *fds, int nfds)
{
	return rb_ag_send(fd, op, err, payload, len, NULL, 0, fds, nfds);
}

/* One message; fds (up to RB_AGENT_MAX_FDS) land in fds[], the rest are closed. */
static ssize_t recv_msg(int fd, struct rb_ag_hdr **h, int *fds, int *nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = {msgbuf, sizeof(msgbuf) - 1};
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *in = (int *)CMSG_DATA(c);

		for (int i = 0; i < count; i++) {
			if (*nfds < RB_AGENT_MAX_FDS)
				fds[(*nfds)++] = in[i];
			else
				close(in[i]);
		}
	}
	if ((size_t)n < sizeof(struct rb_ag_hdr) || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		errno = EMSGSIZE;
		return -1;
	}
	*h = (struct rb_ag_hdr *)msgbuf;
	if ((*h)->len > (size_t)n - sizeof(struct rb_ag_hdr))
		(*h)->len = (uint32_t)((size_t)n - sizeof(struct rb_ag_hdr));
	msgbuf[n] = '\0';
	return n;
}

static void drop_req(size_t i)
{
	if (reqs[i].fd >= 0)
		close(reqs[i].fd);
	reqs[i] = reqs[--n_reqs];
}

/* ---- users ---- */

/* "name", "uid", "uid:gid" or "name:group", looked up in the sandbox's own /etc files. */
static int lookup_id(const char *file, const char *key, unsigned *id, unsigned *gid)
{
	char line[1024], *end;
	unsigned long v = strtoul(key, &end, 10);
	FILE *f;

	if (*key && !*end) {
		*id = (unsigned)v;
		if (gid) {
			*gid = (unsigned)v;
			/* a numeric uid takes its group from passwd when it is listed there */
			f = fopen(file, "re");
			while (f && fgets(line, sizeof(line), f)) {
				char *save, *name = strtok_r(line, ":", &save);
				(void)name;
				strtok_r(NULL, ":", &save);
				char *u = strtok_r(NULL, ":", &save),
				     *g = strtok_r(NULL, ":", &save);
				if (u && g && strtoul(u, NULL, 10) == v) {
					*gid = (unsigned)strtoul(g, NULL, 10);
					break;
				}
			}
			if (f)
				fclose(f);
		}
		return 0;
	}
	f = fopen(file, "re");
	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		char *save, *name = strtok_r(line, ":", &save);

		if (!name || strcmp(name, key))
			continue;
		strtok_r(NULL, ":", &save);
		char *u = strtok_r(NULL, ":", &save), *g = strtok_r(NULL, ":", &save);
		if (!u) {
			fclose(f);
			return -EINVAL;
		}
		*id = (unsigned)strtoul(u, NULL, 10);
		if (gid)
			*gid = g ? (unsigned)strtoul(g, NULL, 10) : *id;
		fclose(f);
		return 0;
	}
	fclose(f);
	return -ENOENT;
}

/* Who a command runs as: the ids of "user[:group]", looked up by the agent (the command's
 * process only switches to them). Empty: root, as the agent is. */
struct who {
	unsigned uid, gid;
	int set;
};

static int lookup_user(const char *user, struct who *w)
{
	char buf[256], *colon;
	unsigned g2;
	int r;

	w->uid = w->gid = 0;
	w->set = 0;
	if (!*user)
		return 0;
	snprintf(buf, sizeof(buf), "%s", user);
	colon = strchr(buf, ':');
	if (colon)
		*colon++ = '\0';
	r = lookup_id("/etc/passwd", buf, &w->uid, &w->gid);
	if (r < 0)
		return r;
	if (colon && lookup_id("/etc/group", colon, &g2, NULL) == 0)
		w->gid = g2;
	else if (colon)
		return -ENOENT;
	w->set = 1;
	return 0;
}

/* In the command's process: raw system calls, since it shares the agent's memory until it
 * executes (libc's set*id would take libc's locks there). tty: the command's terminal, given
 * to the user as login does. */
static int become(const struct who *w, int tty)
{
	if (w->set && tty >= 0)
		(void)!fchown(tty, w->uid, (gid_t)-1);
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		return -errno;
	if (w->set && (syscall(SYS_setresgid, w->gid, w->gid, w->gid) < 0 ||
		       syscall(SYS_setresuid, w->uid, w->uid, w->uid) < 0))
		return -errno;
	return 0;
}

/* ---- commands ---- */

/* A new pty of the sandbox's own devpts, at the size asked: the master for the daemon, the
 * slave for the command. */
static int open_pty(const struct rb_ag_exec *x, int *master, int *slave)
{
	struct winsize ws = {.ws_row = x->rows, .ws_col = x->cols};
	int unlock = 0, e;

	/* non-blocking: whatever root inside put at the path, opening it cannot hang us (and
	 * the daemon wants the master so anyway) */
	*master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (*master < 0)
		return -errno;
	/* the peer by the master itself, not by a path someone could have replaced */
	if (ioctl(*master, TIOCSPTLCK, &unlock) == 0) {
		*slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (*slave >= 0) {
			if (ws.ws_row && ws.ws_col)
				ioctl(*master, TIOCSWINSZ, &ws);
			return 0;
		}
	}
	e = errno;
	close(*master);
	*master = -1;
	return -e;
}

/* What a command's process needs, all prepared by the agent. */
struct cmd {
	char **argv, **envp;
	const char *cwd;
	const int *io; /* its stdin, stdout, stderr */
	int tty;
	struct who who;
};

/* Where a command's process says why it did not execute: it shares our memory until it
 * executes or exits (vfork), and we sleep meanwhile, so plain variables do. */
static volatile int32_t child_err, child_stage;
static char **agent_env; /* environ, which a command's process points at its own */

static __attribute__((noreturn)) void run_command(const struct cmd *c)
{
	sigset_t none;
	int e = 0, stage = RB_AG_STAGE_FDS;

	/* every signal as by default (the daemon started us so), none blocked */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	/* a session leader without a terminal takes the pty as its controlling one */
	if (dup2(c->io[0], 0) < 0 || dup2(c->io[1], 1) < 0 || dup2(c->io[2], 2) < 0 ||
	    (c->tty && ioctl(0, TIOCSCTTY, 0) < 0))
		e = errno;
	if (!e) {
		stage = RB_AG_STAGE_USER;
		syscall(SYS_close_range, 3, ~0U, 4u /* CLOSE_RANGE_CLOEXEC */);
		e = -become(&c->who, c->tty ? 0 : -1);
	}
	if (!e) {
		stage = RB_AG_STAGE_CWD;
		if (*c->cwd && chdir(c->cwd) < 0)
			e = errno;
	}
	if (!e) {
		stage = RB_AG_STAGE_EXEC;
		/* execvp searches the PATH of environ: the command's (spawn() puts ours back) */
		environ = c->envp;
		execvp(c->argv[0], c->argv);
		e = errno;
	}
	child_err = e;
	child_stage = stage;
	_exit(127);
}

/* The command's process, or -1. vfork: no copy of our page tables to make and tear down, and
 * we run again once the command executes (child_err 0) or its process gives up. */
static __attribute__((noinline)) pid_t spawn(const struct cmd *c)
{
	pid_t pid;

	child_err = 0;
	child_stage = 0;
	pid = vfork();
	if (pid == 0)
		run_command(c);
	environ = agent_env;
	return pid;
}

static void start_exec(size_t ri, struct rb_ag_hdr *h, int *fds, int nfds)
{
	struct rb_ag_exec *x = (struct rb_ag_exec *)(h + 1);
	char *p = (char *)(x + 1), *end = (char *)(h + 1) + h->len;
	char *argv[4096], *envp[4096], *user, *cwd;
	int e = 0, stage = RB_AG_STAGE_FDS, master = -1, slave = -1;
	int tty = h->len >= sizeof(*x) && (x->flags & RB_AG_EXEC_TTY), slave3[3];
	const int *io = fds;
	struct rb_ag_exit ex = {0};
	struct who who;
	pid_t pid = 0;

	if (h->len < sizeof(*x) || nfds != (tty ? 0 : 3) || x->argc == 0 || x->argc >= 4096 ||
	    x->envc >= 4096) {
		send_msg(reqs[ri].fd, RB_AG_RESULT, EINVAL, NULL, 0, NULL, 0);
		goto out;
	}
	/* strings: user, cwd, argv..., env... each NUL-terminated inside the payload */
	user = p;
	p += strnlen(p, (size_t)(end - p)) + 1;
	cwd = p;
	p += strnlen(p, (size_t)(end - p)) + 1;
	for (uint32_t i = 0; i < x->argc + x->envc; i++) {
		if (p >= end) {
			send_msg(reqs[ri].fd, RB_AG_RESULT, EINVAL, NULL, 0, NULL, 0);
			goto out;
		}
		if (i < x->argc)
			argv[i] = p;
		else
			envp[i - x->argc] = p;
		p += strnlen(p, (size_t)(end - p)) + 1;
	}
	argv[x->argc] = NULL;
	envp[x->envc] = NULL;
	if (tty) {
		int r = open_pty(x, &master, &slave);

		if (r < 0) {
			send_msg(reqs[ri].fd, RB_AG_RESULT, -r, NULL, 0, NULL, 0);
			goto out;
		}
		slave3[0] = slave3[1] = slave3[2] = slave;
		io = slave3;
	}
	/* the user's ids from the sandbox's own files, here rather than in the command's process,
	 * which may not allocate */
	e = -lookup_user(user, &who);
	if (e) {
		stage = RB_AG_STAGE_USER;
	} else {
		struct cmd c = {
		    .argv = argv, .envp = envp, .cwd = cwd, .io = io, .tty = tty, .who = who};

		pid = spawn(&c);
		if (pid < 0) {
			send_msg(reqs[ri].fd, RB_AG_RESULT, errno, NULL, 0, NULL, 0);
			goto out;
		}
		e = child_err;
		stage = child_stage;
		if (e)
			waitpid(pid, NULL, 0);
	}
	if (slave >= 0) {
		close(slave);
		slave = -1;
	}
	if (e) {
		int32_t none = 0;

		/* STARTED then EXITED, as for any command, so the daemon has one path */
		ex.status = -1;
		ex.exec_errno = e;
		ex.stage = stage;
		send_msg(reqs[ri].fd, RB_AG_STARTED, 0, &none, sizeof(none), &master,
			 master >= 0 ? 1 : 0);
		send_msg(reqs[ri].fd, RB_AG_EXITED, 0, &ex, sizeof(ex), NULL, 0);
		goto out;
	}
	reqs[ri].pid = pid;
	reqs[ri].flags = x->flags;
	{
		int32_t p32 = pid;
		send_msg(reqs[ri].fd, RB_AG_STARTED, 0, &p32, sizeof(p32), &master,
			 master >= 0 ? 1 : 0);
	}
	if (master >= 0)
		close(master);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return; /* the request stays for SIGNAL and EXITED */
out:
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	drop_req(ri);
}

/* The command's whole process group (it leads its own session), or the command alone. */
static void kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0)
		kill(pid, sig);
}

static void reap(void)
{
	struct rusage ru;
	int status;
	pid_t pid;

	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		for (size_t i = 0; i < n_reqs; i++) {
			if (reqs[i].pid != pid)
				continue;
			struct rb_ag_exit ex = {
			    .status = status,
			    .user_usec = ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
			    .sys_usec = ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec,
			};
			/* what it left behind in its group goes with it */
			if (reqs[i].flags & RB_AG_EXEC_KILL_GROUP)
				kill(-pid, SIGKILL);
			if (reqs[i].fd >= 0)
				send_msg(reqs[i].fd, RB_AG_EXITED, 0, &ex, sizeof(ex), NULL, 0);
			drop_req(i);
			break;
		}
	}
}

/* ---- files ---- */

static void fill_stat(const struct stat *st, struct rb_ag_stat *out)
{
	out->mode = st->st_mode;
	out->reserved = 0;
	out->size = st->st_size;
	out->mtime_ms = st->st_mtim.tv_sec * 1000LL + st->st_mtim.tv_nsec / 1000000;
}

static int mkdir_p(char *path, mode_t mode, int include_last)
{
	char *end = path + strlen(path);

	for (char *s = path + 1; s <= end; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		if (*s == '\0' && !include_last)
			break;
		char saved = *s;
		*s = '\0';
		int r = mkdir(path, mode);
		*s = saved;
		if (r < 0 && errno != EEXIST)
			return -errno;
	}
	return 0;
}

static int remove_tree(int dfd, const char *name)
{
	int fd, r = 0;
	DIR *d;
	struct dirent *de;

	if (unlinkat(dfd, name, 0) == 0)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && r == 0)
			r = remove_tree(dirfd(d), de->d_name);
	closedir(d);
	if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		r = -errno;
	return r;
}

static void file_op(int fd, struct rb_ag_hdr *h)
{
	char *payload = (char *)(h + 1);
	struct rb_ag_stat st_out = {0};
	struct stat st;
	int r = 0;

	switch (h->op) {
	case RB_AG_OPEN: {
		struct rb_ag_open *o = (struct rb_ag_open *)payload;
		char *path = (char *)(o + 1);
		int f;

		if (h->len < sizeof(*o) + 2 || path[0] != '/') {
			send_msg(fd, RB_AG_RESULT, EINVAL, NULL, 0, NULL, 0);
			return;
		}
		if ((o->opts & RB_AG_OPEN_MKDIRS) && (r = mkdir_p(path, 0755, 0)) < 0) {
			send_msg(fd, RB_AG_RESULT, -r, NULL, 0, NULL, 0);
			return;
		}
		/* non-blocking so that a FIFO planted at the path cannot hang us */
		f = open(path, o->flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, o->mode & 07777);
		if (f < 0) {
			send_msg(fd, RB_AG_RESULT, errno, NULL, 0, NULL, 0);
			return;
		}
		if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
			int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
			close(f);
			send_msg(fd, RB_AG_RESULT, e, NULL, 0, NULL, 0);
			return;
		}
		fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK);
		fill_stat(&st, &st_out);
		send_msg(fd, RB_AG_RESULT, 0, &st_out, sizeof(st_out), &f, 1);
		close(f);
		return;
	}
	case RB_AG_STAT:
		if (stat(payload, &st) < 0) {
			send_msg(fd, RB_AG_RESULT, errno, NULL, 0, NULL, 0);
			return;
		}
		fill_stat(&st, &st_out);
		send_msg(fd, RB_AG_RESULT, 0, &st_out, sizeof(st_out), NULL, 0);
		return;
	case RB_AG_LIST: {
		DIR *d = opendir(payload);
		struct dirent *de;

		if (!d) {
			send_msg(fd, RB_AG_RESULT, errno, NULL, 0, NULL, 0);
			return;
		}
		send_msg(fd, RB_AG_RESULT, 0, NULL, 0, NULL, 0);
		while ((de = readdir(d))) {
			char ebuf[sizeof(struct rb_ag_stat) + 256];
			size_t n = strlen(de->d_name);

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			/* the entry itself, not what a symlink points at */
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			fill_stat(&st, &st_out);
			memcpy(ebuf, &st_out, sizeof(st_out));
			memcpy(ebuf + sizeof(st_out), de->d_name, n + 1);
			if (send_msg(fd, RB_AG_ENTRY, 0, ebuf, (uint32_t)(sizeof(st_out) + n + 1),
				     NULL, 0) < 0)
				break;
		}
		closedir(d);
		send_msg(fd, RB_AG_END, 0, NULL, 0, NULL, 0);
		return;
	}
	case RB_AG_REMOVE:
	case RB_AG_MKDIR: {
		struct rb_ag_path_flags *pf = (struct rb_ag_path_flags *)payload;
		char *path = (char *)(pf + 1);

		if (h->len < sizeof(*pf) + 2 || path[0] != '/') {
			send_msg(fd, RB_AG_RESULT, EINVAL, NULL, 0, NULL, 0);
			return;
		}
		if (h->op == RB_AG_MKDIR)
			r = pf->recursive
				? mkdir_p(path, pf->mode ? pf->mode : 0755, 1)
				: (mkdir(path, pf->mode ? pf->mode : 0755) < 0 ? -errno : 0);
		else if (pf->recursive)
			r = remove_tree(AT_FDCWD, path);
		else if (unlink(path) < 0)
			r = errno == EISDIR ? (rmdir(path) < 0 ? -errno : 0) : -errno;
		send_msg(fd, RB_AG_RESULT, -r, NULL, 0, NULL, 0);
		return;
	}
	case RB_AG_PING:
		send_msg(fd, RB_AG_RESULT, 0, NULL, 0, NULL, 0);
		return;
	default:
		send_msg(fd, RB_AG_RESULT, ENOSYS, NULL, 0, NULL, 0);
	}
}

static void on_request(size_t ri)
{
	struct rb_ag_hdr *h;
	int fds[RB_AGENT_MAX_FDS], nfds;
	ssize_t n = recv_msg(reqs[ri].fd, &h, fds, &nfds);

	if (n <= 0) {
		/* the daemon let go: a running command goes on, and is still reaped (but an
		 * interactive one has lost its terminal and goes) */
		if (reqs[ri].pid) {
			if (reqs[ri].flags & RB_AG_EXEC_KILL_GROUP)
				kill_group(reqs[ri].pid, SIGKILL);
			close(reqs[ri].fd);
			reqs[ri].fd = -1;
		} else {
			drop_req(ri);
		}
		return;
	}
	if (h->op == RB_AG_EXEC && !reqs[ri].pid) {
		start_exec(ri, h, fds, nfds);
		return;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (h->op == RB_AG_SIGNAL && reqs[ri].pid && h->len >= sizeof(int32_t)) {
		int32_t sig;

		memcpy(&sig, h + 1, sizeof(sig));
		/* the command leads its own session: signal the whole group */
		kill_group(reqs[ri].pid, sig);
		return;
	}
	file_op(reqs[ri].fd, h);
	drop_req(ri);
}

static int new_spare(void)
{
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	/* our end well above the fixed numbers, so placing the spare cannot close it */
	pickup = fcntl(sp[0], F_DUPFD_CLOEXEC, 10);
	close(sp[0]);
	if (pickup < 0 || dup3(sp[1], RB_AGENT_PICKUP_FD, O_CLOEXEC) < 0)
		return -errno;
	if (sp[1] != RB_AGENT_PICKUP_FD)
		close(sp[1]);
	return 0;
}

static void on_control(int fd)
{
	struct rb_ag_hdr *h;
	int fds[RB_AGENT_MAX_FDS], nfds;
	ssize_t n = recv_msg(fd, &h, fds, &nfds);

	if (n <= 0) {
		if (n == 0 || errno != EMSGSIZE) {
			close(fd);
			if (fd == ctl)
				ctl = -1;
		}
		return;
	}
	/* every control message brings request sockets */
	for (int i = 0; i < nfds; i++) {
		if (n_reqs == MAX_REQS) {
			close(fds[i]);
			continue;
		}
		reqs[n_reqs++] = (struct req){.fd = fds[i], .pid = 0, .flags = 0};
	}
}

int main(void)
{
	sigset_t mask;
	int sfd, devnull;

	/* not dumpable: root inside the sandbox may not read or write the agent's memory through
	 * /proc/1/mem (commands get their own dumpable flag back at exec) */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* whatever the daemon left on 0-2, they are /dev/null from here on */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	fcntl(RB_AGENT_CTL_FD, F_SETFD, FD_CLOEXEC);
	sigfillset(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	agent_env = environ;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	/* fd 4 is the spare's place: the spare goes first, everything else lands above it */
	if (new_spare() < 0)
		return 1;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return 1;
	/* the daemon waits for this before it calls the sandbox started */
	send_msg(ctl, RB_AG_HELLO, 0, NULL, 0, NULL, 0);
	for (;;) {
		struct pollfd pfd[MAX_REQS + 3];
		size_t n = 0, base;

		pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = ctl, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = pickup, .events = POLLIN};
		base = n;
		for (size_t i = 0; i < n_reqs; i++)
			pfd[n++] = (struct pollfd){.fd = reqs[i].fd, .events = POLLIN};
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) > 0)
				;
			reap();
		}
		if (pfd[2].revents) {
			/* a restarted daemon took the spare: serve it, make a new spare */
			if (ctl >= 0)
				close(ctl);
			ctl = pickup;
			close(RB_AGENT_PICKUP_FD);
			new_spare();
			on_control(ctl);
		} else if (pfd[1].revents && ctl >= 0) {
			on_control(ctl);
		}
		/* requests, newest last; handling one may move another into its slot */
		for (size_t i = n; i-- > base;) {
			size_t ri = i - base;

			if (!pfd[i].revents || ri >= n_reqs || reqs[ri].fd != pfd[i].fd)
				continue;
			on_request(ri);
		}
	}
}
