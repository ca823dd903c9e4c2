/*
 * Taking a sandbox back after the daemon restarted. The agent outlived the old daemon; it keeps
 * the other end of a spare control socket at RB_AGENT_PICKUP_FD for this. We check that the
 * process is still that sandbox's agent, take the spare with pidfd_getfd, and ask the agent
 * something over it, which also tells it to serve us from now on.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/proto.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "isolation.h"

#define RB_ISO_REATTACH_TIMEOUT_S 5 /* the first answer of an agent taken back */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static int read_proc(pid_t pid, const char *what, char *buf, size_t len)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

/* pid is an agent (pid 1 of its own namespace, running runbox-agent) in cgroup_leaf */
static int is_the_agent(pid_t pid, const char *cgroup_leaf)
{
	char buf[4096], *ns, *last;
	int n;

	n = read_proc(pid, "cmdline", buf, sizeof(buf));
	if (n < 0 || strcmp(buf, "runbox-agent") != 0)
		return 0;
	if (read_proc(pid, "status", buf, sizeof(buf)) < 0 || !(ns = strstr(buf, "\nNSpid:")))
		return 0;
	ns[strcspn(ns + 1, "\n") + 1] = '\0';
	last = strrchr(ns, '\t');
	if (!last || strcmp(last, "\t1") != 0)
		return 0;
	if (read_proc(pid, "cgroup", buf, sizeof(buf)) < 0)
		return 0;
	/* the leaf ends a path: ".../runbox-sb_x\n" */
	for (char *p = buf; (p = strstr(p, cgroup_leaf)); p++) {
		char end = p[strlen(cgroup_leaf)];

		if (p > buf && p[-1] == '/' && (end == '\n' || end == '\0'))
			return 1;
	}
	return 0;
}

int rb_iso_reattach(pid_t pid, const char *cgroup_leaf, uid_t host_uid, bool probe,
		    struct rb_iso_sandbox *out, struct rb_error *err)
{
	_cleanup_close_ int pidfd = -1, ctl = -1, upper = -1;
	char root[64];
	int r;

	memset(out, 0, sizeof(*out));
	out->pidfd = out->ctl = out->upper_fd = -1;
	if (pid <= 1)
		return rb_error_set(err, ESRCH, RB_NOT_FOUND, "no agent pid recorded");
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return rb_error_sys(err, errno, RB_NOT_FOUND, "agent %d", (int)pid);
	/* checked after the pidfd: if the pid was reused since, the signal below fails */
	if (!is_the_agent(pid, cgroup_leaf))
		return rb_error_set(err, ESRCH, RB_NOT_FOUND,
				    "process %d is not the agent of %s any more", (int)pid,
				    cgroup_leaf);
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		return rb_error_sys(err, errno, RB_NOT_FOUND, "agent %d", (int)pid);
	ctl = (int)syscall(SYS_pidfd_getfd, pidfd, RB_AGENT_PICKUP_FD, 0);
	if (ctl < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "take agent %d's spare socket",
				    (int)pid);
	/* the sandbox's root, whose statfs is its upper tmpfs's: the disk figures */
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	upper = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (upper < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", root);
	/* a first request: the agent switches to this socket, and answers if it is well (a
	 * frozen one switches at its first request after the thaw) */
	/* one that does not answer (frozen by a pause the daemon died in, stopped) must not
	 * hold up the daemon's start for ever: it is given up, and swept */
	r = probe ? rb_iso_agent_probe(ctl, RB_ISO_REATTACH_TIMEOUT_S * 1000, err) : 0;
	if (r < 0)
		return rb_error_wrap(err, "agent %d does not answer", (int)pid);
	out->pid = pid;
	out->host_uid = host_uid;
	out->pidfd = TAKE_FD(pidfd);
	out->ctl = TAKE_FD(ctl);
	out->upper_fd = TAKE_FD(upper);
	return 0;
}
