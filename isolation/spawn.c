/*
 * Starting a sandbox. The parent clones the child into new namespaces, maps its ids, builds
 * its root as a detached mount and hands it over; the child attaches it and mounts what a
 * sandbox has while the parent puts it in its cgroups (spec->attach), then, told so, confines
 * itself and executes the agent from a sealed memfd. Everything the child needs is prepared
 * before the clone, because after it the child may only make system calls.
 *
 * Where we can (x86_64), the child shares the daemon's memory until it executes the agent, as
 * posix_spawn's children do: copying the daemon's page tables at the clone and tearing the copy
 * down at the exec cost about a millisecond. A short-lived thread makes that clone with
 * CLONE_VFORK and sleeps in it until the exec, so the child runs on a stack of that thread's
 * and nobody else uses that thread's state (errno, malloc's cache) meanwhile; the request's own
 * thread maps the ids and builds the root in parallel.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/proto.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "fs/fs.h"
#include "isolation-internal.h"

extern const char rb_agent_blob_start[], rb_agent_blob_end[];

#define SPAWN_TIMEOUT_MS 10000

static int make_agent_memfd(struct rb_error *err)
{
	_cleanup_close_ int fd = memfd_create("runbox-agent", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	const char *p = rb_agent_blob_start;
	size_t left = (size_t)(rb_agent_blob_end - rb_agent_blob_start);

	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "memfd_create");
	while (left > 0) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "write the agent");
		p += n;
		left -= (size_t)n;
	}
	/* sealed: nothing, not even the daemon, can change the agent any more */
	if (fchmod(fd, 0555) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "seal the agent");
	return TAKE_FD(fd);
}

int rb_iso_ctx_new(const char *state_dir, struct rb_iso_ctx **out, struct rb_error *err)
{
	struct rb_iso_ctx *ctx = calloc(1, sizeof(*ctx));
	int r;

	if (!ctx)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	ctx->agent_memfd = -1;
	ctx->attach_dir = rb_path_join(state_dir, "rootfs-mnt");
	if (!ctx->attach_dir) {
		rb_iso_ctx_free(ctx);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	r = rb_mkdir_p(ctx->attach_dir, 0700);
	if (r < 0) {
		rb_error_set(err, -r, RB_INTERNAL_ERROR, "mkdir %s: %s", ctx->attach_dir,
			     strerror(-r));
		rb_iso_ctx_free(ctx);
		return r;
	}
	/* what the daemon was started with (a shell's background job ignores SIGINT): the child
	 * puts these back to the default, so that the agent and the commands start clean */
	sigemptyset(&ctx->ignored);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			sigaddset(&ctx->ignored, sig);
	}
	ctx->agent_memfd = make_agent_memfd(err);
	if (ctx->agent_memfd < 0) {
		r = ctx->agent_memfd;
		rb_iso_ctx_free(ctx);
		return r;
	}
	r = rb_iso_confine_prepare(&ctx->confine, err);
	if (r < 0) {
		rb_iso_ctx_free(ctx);
		return r;
	}
	*out = ctx;
	return 0;
}

void rb_iso_ctx_free(struct rb_iso_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->agent_memfd >= 0)
		close(ctx->agent_memfd);
	rb_iso_confine_release(&ctx->confine);
	free(ctx->attach_dir);
	free(ctx);
}

/* ---- the child ---- */

struct child_args {
	int sync, parent_end;
	int agent_memfd;
	const struct rb_iso_confine *confine;
	const sigset_t *ignored;
	struct rb_fs_child fs;
	const char *workdir;
	bool *workdir_made; /* the parent's: seen there only while the memory is shared */
};

/* RESULT with err 0: the child runs; with err set: step failed */
static void tell_parent(int sync, int errnum, const char *step)
{
	struct rb_ag_hdr h = {.op = RB_AG_RESULT, .err = errnum, .len = (uint32_t)strlen(step)};
	struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)step, h.len}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};

	sendmsg(sync, &m, MSG_NOSIGNAL);
}

static __attribute__((noreturn)) void child_fail(int sync, int errnum, const char *step)
{
	tell_parent(sync, errnum, step);
	_exit(1);
}

static int recv_fd(int sock)
{
	struct rb_ag_hdr h;
	struct iovec iov = {&h, sizeof(h)};
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) <= 0)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

/* Close every descriptor from 3 up but keep_a and keep_b. Async-signal-safe. */
static void close_all_but(int keep_a, int keep_b)
{
	unsigned lo = (unsigned)(keep_a < keep_b ? keep_a : keep_b);
	unsigned hi = (unsigned)(keep_a < keep_b ? keep_b : keep_a);

	if (lo > 3)
		syscall(SYS_close_range, 3, lo - 1, 0);
	if (hi > lo + 1)
		syscall(SYS_close_range, lo + 1 > 3 ? lo + 1 : 3, hi - 1, 0);
	syscall(SYS_close_range, hi + 1, ~0U, 0);
}

/* The network namespace's loopback, up (the sandbox's root may bring it down again). */
static void loopback_up(void)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

static __attribute__((noreturn)) void child(const struct child_args *a)
{
	static char *const argv[] = {"runbox-agent", NULL};
	static char *const envp[] = {
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	const char *step = "";
	struct rb_ag_hdr go;
	int mount_fd, s, m;

	/* Nothing of the daemon's but what it needs, first of all. A copy of another create's
	 * end of its sync socket, taken at this clone, would keep that child from seeing the
	 * daemon die: after a kill -9 in the middle of concurrent creates, each child waited on
	 * the other's copy for ever, outside any sandbox cgroup. */
	close_all_but(a->sync, a->agent_memfd);
	tell_parent(a->sync, 0, "");
	/* made here rather than at the clone: the parent maps ids meanwhile. Owned by the
	 * sandbox's user namespace, as the other namespaces are. */
	if (unshare(CLONE_NEWNET) < 0)
		child_fail(a->sync, errno, "create the network namespace");
	/* while the parent builds the root: our capabilities in the new user namespace, which
	 * owns this network namespace, are all we need */
	loopback_up();
	mount_fd = recv_fd(a->sync);
	if (mount_fd < 0)
		_exit(1); /* the parent gave up */
	if (rb_fs_child_attach(&a->fs, mount_fd, &step) < 0)
		child_fail(a->sync, errno, step);
	close(mount_fd);
	/* the maps are written: become root of the new namespace, for real */
	/* raw system calls: glibc's wrappers would try to change the credentials of every thread
	 * of the daemon this process was copied from, taking locks another thread may have held
	 * at the clone, and hang */
	if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0 ||
	    syscall(SYS_setgroups, 0, NULL) < 0)
		child_fail(a->sync, errno, "become root of the user namespace");
	if (rb_fs_child_setup(&a->fs, &step) < 0)
		child_fail(a->sync, errno, step);
	/* the parent has put us in our cgroups meanwhile (nothing from the image runs before) */
	if (recv(a->sync, &go, sizeof(go), 0) < (ssize_t)sizeof(go))
		_exit(1); /* the parent gave up */
	/* in our own cgroups: their root is what the sandbox sees */
	if (unshare(CLONE_NEWCGROUP) < 0)
		child_fail(a->sync, errno, "unshare the cgroup namespace");
	if (rb_iso_confine_apply(a->confine, &step) < 0)
		child_fail(a->sync, errno, step);
	/* the working directory, confined as the agent is: one request to it less. A failure
	 * is the agent's to tell, when the daemon asks it. */
	if (a->workdir && rb_fs_child_mkdirs(a->workdir) == 0)
		__atomic_store_n(a->workdir_made, true, __ATOMIC_RELEASE);
	/* every signal's action as by default for the agent and what it starts (exec resets the
	 * handled ones): an ignored SIGINT would make ^C on a terminal do nothing */
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(a->ignored, sig) == 1)
			sigaction(sig, &(struct sigaction){.sa_handler = SIG_DFL}, NULL);
	/* the agent's fds: its control socket at 3, itself at 4 (gone at exec), nothing else */
	s = fcntl(a->sync, F_DUPFD, 100);
	m = fcntl(a->agent_memfd, F_DUPFD, 100);
	if (s < 0 || m < 0 || dup2(s, RB_AGENT_CTL_FD) < 0 || dup3(m, 4, O_CLOEXEC) < 0)
		child_fail(a->sync, errno, "arrange the agent's descriptors");
	syscall(SYS_close_range, 5, ~0U, 0);
	syscall(SYS_execveat, 4, "", argv, envp, AT_EMPTY_PATH);
	child_fail(RB_AGENT_CTL_FD, errno, "execute the agent");
	_exit(1);
}

static int child_entry(void *arg)
{
	child(arg);
}

/* ---- the clone ---- */

struct spawner {
	struct clone_args ca;
	struct child_args *a;
	pid_t pid;
	int pidfd;
	long result; /* the clone's: a pid or -errno */
};

#if defined(__x86_64__)
#define SPAWN_SHARED_VM 1
#define SPAWN_STACK	(128 << 10)

/* clone3 onto the stack in ca, running fn(arg) there; glibc has no wrapper for it. The child
 * never returns into C code of ours: it calls fn and exits with its value. */
static long clone3_run(struct clone_args *ca, int (*fn)(void *), void *arg)
{
	register long rax __asm__("rax") = SYS_clone3;
	register struct clone_args *rdi __asm__("rdi") = ca;
	register size_t rsi __asm__("rsi") = sizeof(*ca);
	register int (*r12)(void *) __asm__("r12") = fn;
	register void *r13 __asm__("r13") = arg;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "mov %%eax, %%edi\n\t"
			 "mov $60, %%eax\n\t" /* exit */
			 "syscall\n\t"
			 "hlt\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory");
	return rax;
}
#else
#define SPAWN_SHARED_VM 0
#define SPAWN_STACK	0
#endif

/* The spawner thread: clones, and with a shared memory stays asleep until the child executes
 * the agent or dies. A failed clone is told on the child's end of the sync socket. */
static void *spawner_main(void *arg)
{
	struct spawner *sp = arg;
#if SPAWN_SHARED_VM
	char stack[SPAWN_STACK] __attribute__((aligned(16)));

	sp->ca.flags |= CLONE_VM | CLONE_VFORK;
	sp->ca.stack = (uint64_t)(uintptr_t)stack;
	sp->ca.stack_size = sizeof(stack);
	sp->result = clone3_run(&sp->ca, child_entry, sp->a); /* raw: -errno on failure */
#else
	sp->result = syscall(SYS_clone3, &sp->ca, sizeof(sp->ca));
	if (sp->result == 0)
		child(sp->a);
	if (sp->result < 0)
		sp->result = -errno;
#endif
	if (sp->result < 0)
		tell_parent(sp->a->sync, (int)-sp->result, "clone a sandbox");
	return NULL;
}

/* ---- the parent ---- */

static int write_map(pid_t pid, const char *which, uid_t base, struct rb_error *err)
{
	char path[64], map[64];
	_cleanup_close_ int fd = -1;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, which);
	n = snprintf(map, sizeof(map), "0 %u %u\n", base, RB_ISO_IDS_PER_SANDBOX);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, (size_t)n) != n)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "write %s", path);
	return 0;
}

static int send_fd(int sock, int fd)
{
	struct rb_ag_hdr h = {.op = RB_AG_HELLO};
	struct iovec iov = {&h, sizeof(h)};
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	memset(cbuf, 0, sizeof(cbuf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Whether the child has written something (its failure, before it exits) or hung up. */
static bool child_said(int sync)
{
	struct pollfd p = {.fd = sync, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

/* The child may execute the agent: it is in its cgroups. */
static int send_go(int sock)
{
	struct rb_ag_hdr h = {.op = RB_AG_RESULT};

	return send(sock, &h, sizeof(h), MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Wait on the sync socket for the message that means the step is done (ok, an op), or for
 * the one that says what failed (a RESULT with err set, and the step's name). */
static int await_step(int sync, bool (*ok)(const struct rb_ag_hdr *), const char *what,
		      const char *prefix, struct rb_error *err)
{
	struct pollfd p = {.fd = sync, .events = POLLIN};
	char buf[sizeof(struct rb_ag_hdr) + 256];
	struct rb_ag_hdr h;
	ssize_t n;
	int r;

	do
		r = poll(&p, 1, SPAWN_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return rb_error_set(err, ETIMEDOUT, RB_INTERNAL_ERROR,
				    "%s did not happen within %d ms", what, SPAWN_TIMEOUT_MS);
	n = recv(sync, buf, sizeof(buf) - 1, 0);
	if (n < (ssize_t)sizeof(h))
		return rb_error_set(err, EPIPE, RB_INTERNAL_ERROR,
				    "the sandbox's first process died before %s", what);
	memcpy(&h, buf, sizeof(h));
	if (ok(&h))
		return 0;
	buf[n] = '\0';
	return rb_error_set(err, h.err > 0 ? h.err : EIO,
			    h.err == ENOSPC || h.err == EAGAIN ? RB_RESOURCE_EXHAUSTED
							       : RB_INTERNAL_ERROR,
			    "%s%s: %s", prefix, buf + sizeof(h), strerror(h.err));
}

/* the child says it runs (or the spawner that the clone failed) */
static bool child_runs(const struct rb_ag_hdr *h)
{
	return h->op == RB_AG_RESULT && h->err == 0;
}

/* the agent says hello once it runs (or the child what failed before) */
static bool agent_runs(const struct rb_ag_hdr *h)
{
	return h->op == RB_AG_HELLO;
}

int rb_iso_spawn(struct rb_iso_ctx *ctx, const struct rb_iso_spec *spec, struct rb_iso_sandbox *out,
		 struct rb_error *err)
{
	char hostname[80], hosts[256], userns[64];
	struct child_args a = {.agent_memfd = ctx->agent_memfd,
			       .confine = &ctx->confine,
			       .ignored = &ctx->ignored,
			       .workdir = spec->workdir,
			       .workdir_made = &out->workdir_made};
	struct spawner sp = {.a = &a, .pidfd = -1};
	struct rb_fs_root root = {-1, -1};
	_cleanup_close_ int userns_fd = -1;
	pthread_attr_t attr;
	pthread_t spawner;
	int sync[2], r;
	uid_t base = RB_ISO_ID_BASE + spec->id_slot * RB_ISO_IDS_PER_SANDBOX;

	memset(out, 0, sizeof(*out));
	out->pidfd = out->ctl = out->upper_fd = -1;
	snprintf(hostname, sizeof(hostname), "%s\n", spec->id);
	snprintf(hosts, sizeof(hosts),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "127.0.1.1\t%s\n",
		 spec->id);
	a.fs = (struct rb_fs_child){.attach_at = ctx->attach_dir,
				    .hostname = hostname,
				    .hosts = hosts,
				    .resolv = spec->resolv ? spec->resolv : ""};
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "socketpair");
	a.sync = sync[1];
	a.parent_end = sync[0];
	/* the network namespace is the child's first act (see child()) */
	sp.ca.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
		      CLONE_PIDFD | CLONE_PARENT_SETTID;
	sp.ca.pidfd = (uint64_t)(uintptr_t)&sp.pidfd;
	sp.ca.parent_tid = (uint64_t)(uintptr_t)&sp.pid;
	sp.ca.exit_signal = SIGCHLD;
	if (spec->cgroup_fd >= 0) {
		sp.ca.flags |= CLONE_INTO_CGROUP;
		sp.ca.cgroup = (uint64_t)spec->cgroup_fd;
	}
	pthread_attr_init(&attr);
#if SPAWN_SHARED_VM
	/* the child's stack is in it */
	pthread_attr_setstacksize(&attr, SPAWN_STACK + (256 << 10));
#endif
	r = pthread_create(&spawner, &attr, spawner_main, &sp);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		close(sync[0]);
		close(sync[1]);
		return rb_error_set(err, r, RB_RESOURCE_EXHAUSTED, "start a thread to clone: %s",
				    strerror(r));
	}
	r = await_step(sync[0], child_runs, "it ran", "", err);
	close(sync[1]);
	/* the kernel wrote the pid and the pidfd before the child ran */
	out->pid = sp.pid;
	out->pidfd = sp.pidfd;
	out->ctl = sync[0];
	out->host_uid = base;
	if (r < 0) {
		rb_iso_kill(out);
		pthread_join(spawner, NULL);
		rb_iso_sandbox_close(out);
		return r;
	}
	r = write_map(out->pid, "uid_map", base, err);
	if (r == 0)
		r = write_map(out->pid, "gid_map", base, err);
	if (r == 0) {
		snprintf(userns, sizeof(userns), "/proc/%d/ns/user", (int)out->pid);
		userns_fd = open(userns, O_RDONLY | O_CLOEXEC);
		if (userns_fd < 0)
			r = rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", userns);
	}
	if (r == 0)
		r = rb_fs_root_build(spec->layer_dirs, spec->n_layers, spec->disk_bytes, userns_fd,
				     base, base, &root, err);
	if (r == 0 && (r = send_fd(out->ctl, root.mount_fd)) < 0)
		rb_error_set(err, -r, RB_INTERNAL_ERROR, "hand the root to the sandbox: %s",
			     strerror(-r));
	if (root.mount_fd >= 0) {
		close(root.mount_fd);
		root.mount_fd = -1;
	}
	/* while the child sets itself up: its cgroups, then word that it may execute the agent */
	if (r == 0 && spec->attach && (r = spec->attach(out->pid, spec->userdata, err)) < 0)
		rb_error_wrap(err, "put the sandbox in its cgroups");
	if (r == 0 && (r = send_go(out->ctl)) < 0)
		rb_error_set(err, -r, RB_INTERNAL_ERROR, "let the sandbox start: %s", strerror(-r));
	/* a child that failed meanwhile has said why (and gone): that is the error to report,
	 * not the attach or the word it was no longer there for */
	if (r < 0 && child_said(out->ctl)) {
		struct rb_error why;

		rb_error_clear(&why);
		if (await_step(out->ctl, agent_runs, "its agent ran", "sandbox setup: ", &why) < 0)
			*err = why;
	}
	if (r == 0)
		r = await_step(out->ctl, agent_runs, "its agent ran", "sandbox setup: ", err);
	if (r < 0) {
		rb_fs_root_close(&root);
		rb_iso_kill(out);
		pthread_join(spawner, NULL);
		rb_iso_sandbox_close(out);
		return r;
	}
	/* the agent runs: the spawner left its clone at the exec */
	pthread_join(spawner, NULL);
	out->upper_fd = root.upper_fd;
	return 0;
}

int rb_iso_kill_start(struct rb_iso_sandbox *sb)
{
	if (sb->pidfd < 0)
		return 0;
	/* pid 1 of the namespace: the kernel takes every other process with it */
	if (syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}

int rb_iso_kill(struct rb_iso_sandbox *sb)
{
	siginfo_t si;
	int r = rb_iso_kill_start(sb);

	if (sb->pidfd < 0 || r < 0)
		return r;
	while (waitid(P_PIDFD, (id_t)sb->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	return 0;
}

void rb_iso_sandbox_close(struct rb_iso_sandbox *sb)
{
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	if (sb->ctl >= 0)
		close(sb->ctl);
	if (sb->upper_fd >= 0)
		close(sb->upper_fd);
	sb->pidfd = sb->ctl = sb->upper_fd = -1;
}
