/*
 * The default seccomp filter, compiled once and applied cheaply.
 *
 * Policy: Docker's default profile as it stands with Docker's default capabilities, i.e. the
 * allowlist, its argument rules (clone without namespace flags, clone3 -> ENOSYS so libc falls
 * back to clone, a fixed set of personalities, no AF_VSOCK sockets) and only those
 * capability-gated calls whose capability we grant (chroot, for CAP_SYS_CHROOT). Everything else
 * fails with EPERM. Two deliberate departures, both stricter: ptrace and process_vm_readv/writev
 * are denied (Docker allows them on kernels >= 4.8), and so is io_uring (as Docker does
 * since 25.0).
 *
 * ABIs: the native one only. A system call through another (i386's int $0x80, x32) kills the
 * process, so 32-bit programs do not run in a sandbox (Docker's profile allows them). Their
 * entry points are old ground for kernel bugs, and their rules more than doubled what the
 * kernel prepares for each sandbox (0.27 ms against 0.11 on a small VM). The table keeps the
 * names that exist only in some ABIs (the *32 calls, socketcall): libseccomp skips those the
 * native ABI lacks, and a foreign ABI put back in rb_sc_abis gets the same rules.
 *
 * Why a compiled program: building it takes libseccomp ~15 ms and allocates; the daemon does
 * that once. Each sandbox's child (between clone and exec, where only async-signal-safe code may
 * run) then installs the ready program with prctl + seccomp: no malloc, no libseccomp state. The
 * kernel still prepares every filter it is given (JIT, per-syscall action cache), about 0.1 ms
 * for this one on a small VM; a binary tree of syscall numbers keeps that, and the cost of each
 * filtered call, low.
 */
#include "isolation/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"

struct rb_iso_seccomp {
	struct sock_fprog prog;
	struct sock_filter insns[];
};

/*
 * Allowed without conditions. Every name here predates the numbers shared by all architectures
 * (424 on, Linux 5.1) and is known to any libseccomp >= 2.4, so a name libseccomp cannot resolve
 * is a typo and fails the build of the filter. Names that exist only in some ABIs (the i386 *32
 * and *64 variants, epoll_*_old) are added where they exist. send and recv are left out: on
 * these ABIs they exist only through socketcall.
 */
/* clang-format off */
static const char *const rb_sc_allow[] = {
	/* processes, threads, limits */
	"execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid", "waitpid",
	"kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid",
	"getsid", "setsid", "set_tid_address", "set_robust_list", "get_robust_list", "rseq",
	"restart_syscall", "prctl", "arch_prctl", "modify_ldt", "get_thread_area",
	"set_thread_area", "seccomp", "capget", "capset", "prlimit64", "getrlimit", "setrlimit",
	"ugetrlimit", "getrusage", "times", "sysinfo", "uname", "getcpu", "getrandom",
	"membarrier", "umask",
	/* scheduling */
	"sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr",
	"sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
	"sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
	"sched_rr_get_interval_time64", "sched_yield", "getpriority", "setpriority", "ioprio_get",
	"ioprio_set",
	/* credentials (the kernel checks CAP_SETUID/CAP_SETGID) */
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid",
	"setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid",
	"setfsgid", "getuid32", "geteuid32", "getgid32", "getegid32", "getresuid32", "getresgid32",
	"getgroups32", "setuid32", "setgid32", "setreuid32", "setregid32", "setresuid32",
	"setresgid32", "setgroups32", "setfsuid32", "setfsgid32",
	/* memory */
	"brk", "mmap", "mmap2", "munmap", "mprotect", "mremap", "madvise", "mincore", "mlock",
	"mlock2", "mlockall", "munlock", "munlockall", "msync", "remap_file_pages", "pkey_alloc",
	"pkey_free", "pkey_mprotect", "memfd_create",
	/* signals and timers */
	"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
	"rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
	"sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "pause", "alarm",
	"getitimer", "setitimer", "timer_create", "timer_delete", "timer_getoverrun",
	"timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
	"timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
	/* clocks: reading; adjtimex and clock_adjtime change the clock only with CAP_SYS_TIME */
	"clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
	"clock_nanosleep", "clock_nanosleep_time64", "clock_adjtime", "clock_adjtime64",
	"adjtimex", "gettimeofday", "nanosleep", "time",
	/* file descriptors and data */
	"open", "openat", "creat", "close", "read", "write", "readv", "writev", "pread64",
	"pwrite64", "preadv", "preadv2", "pwritev", "pwritev2", "lseek", "_llseek", "dup", "dup2",
	"dup3", "fcntl", "fcntl64", "flock", "fsync", "fdatasync", "sync", "syncfs",
	"sync_file_range", "fadvise64", "fadvise64_64", "readahead", "fallocate", "ftruncate",
	"ftruncate64", "truncate", "truncate64", "sendfile", "sendfile64", "splice", "tee",
	"vmsplice", "copy_file_range", "ioctl", "pipe", "pipe2",
	/* file metadata */
	"stat", "stat64", "fstat", "fstat64", "lstat", "lstat64", "newfstatat", "fstatat64",
	"statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "access", "faccessat", "chmod",
	"fchmod", "fchmodat", "chown", "fchown", "fchownat", "lchown", "chown32", "fchown32",
	"lchown32", "utime", "utimes", "utimensat", "utimensat_time64", "futimesat", "getxattr",
	"lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr",
	"flistxattr", "removexattr", "lremovexattr", "fremovexattr", "name_to_handle_at",
	/* directories and names; chroot because CAP_SYS_CHROOT is granted */
	"chdir", "fchdir", "getcwd", "mkdir", "mkdirat", "rmdir", "rename", "renameat",
	"renameat2", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "readlink",
	"readlinkat", "getdents", "getdents64", "mknod", "mknodat", "chroot",
	/* waiting on descriptors */
	"poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
	"epoll_wait_old", "epoll_pwait", "eventfd", "eventfd2", "inotify_init", "inotify_init1",
	"inotify_add_watch", "inotify_rm_watch", "fanotify_mark", "futex", "futex_time64",
	/* Linux AIO (io_uring stays denied) */
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
	"io_pgetevents_time64",
	/* sockets; socket itself has a rule below */
	"socketpair", "socketcall", "bind", "connect", "listen", "accept", "accept4",
	"getsockname", "getpeername", "getsockopt", "setsockopt", "sendto", "sendmsg", "sendmmsg",
	"recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64", "shutdown",
	/* System V and POSIX IPC (the sandbox has its own IPC namespace) */
	"ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
	"semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open",
	"mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
	"mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
};
/* clang-format on */

/*
 * Allowed, newer than some libseccomp releases. From 424 on, every architecture shares one
 * number per call, so when the installed libseccomp does not know a name the native ABI gets
 * the number below; the other ABIs get the call only where libseccomp knows it (and EPERM
 * otherwise, the safe side).
 */
static const struct {
	const char *name;
	int nr;
} rb_sc_allow_new[] = {
    {"pidfd_send_signal", 424},
    {"pidfd_open", 434},
    {"close_range", 436},
    {"openat2", 437},
    {"faccessat2", 439},
    {"epoll_pwait2", 441},
    {"landlock_create_ruleset", 444},
    {"landlock_add_rule", 445},
    {"landlock_restrict_self", 446},
    {"memfd_secret", 447},
    {"process_mrelease", 448},
    {"futex_waitv", 449},
    {"cachestat", 451},
    {"fchmodat2", 452},
    {"map_shadow_stack", 453},
    {"futex_wake", 454},
    {"futex_wait", 455},
    {"futex_requeue", 456},
    {"statmount", 457},
    {"listmount", 458},
    {"mseal", 462},
    {"setxattrat", 463},
    {"getxattrat", 464},
    {"listxattrat", 465},
    {"removexattrat", 466},
#if defined(__x86_64__)
    {"uretprobe", 335}, /* x86_64 only; a no-op outside a uretprobe trampoline */
#endif
};

/* Namespace flags a sandboxed clone may not carry (no CAP_SYS_ADMIN, as in Docker). */
#define RB_SC_CLONE_NS                                                                             \
	((scmp_datum_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
			CLONE_NEWNET | CLONE_NEWCGROUP))

/* personality(2) values allowed: PER_LINUX, PER_LINUX32, their UNAME26 forms, and the query. */
static const scmp_datum_t rb_sc_personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/*
 * socket(2): every address family but AF_VSOCK, the channel to a hypervisor host. The kernel
 * reads the family as an int, so "a0 != AF_VSOCK" would let AF_VSOCK | 1 << 32 through; instead
 * the whole register must fall in one of these aligned blocks covering [0, 64) without 40.
 * (Families end at 46 today; above 63 the kernel would answer EAFNOSUPPORT anyway.)
 */
_Static_assert(AF_VSOCK == 40, "the blocks below leave out 40");
static const struct {
	scmp_datum_t mask, value;
} rb_sc_families[] = {
    {~(scmp_datum_t)0x1f, 0}, /* 0-31 */
    {~(scmp_datum_t)0x7, 32}, /* 32-39 */
    {~(scmp_datum_t)0x0, 41}, /* 41 */
    {~(scmp_datum_t)0x1, 42}, /* 42-43 */
    {~(scmp_datum_t)0x3, 44}, /* 44-47 */
    {~(scmp_datum_t)0xf, 48}, /* 48-63 */
};

/* libseccomp's pseudo numbers at or below this name a call the ABI does not have. */
#define RB_SC_ABSENT (-10000)

/* The ABIs the filter lets a sandbox enter the kernel through: the native one. A program is built
 * per ABI and merged, since libseccomp rejects a raw number on a foreign ABI, which the calls
 * newer than the installed libseccomp need (see rb_sc_allow_new). Any other ABI (i386, x32 on
 * x86_64; arm on aarch64) is a bad architecture to the filter: the process is killed. */
static const struct {
	uint32_t arch;
	const char *name;
} rb_sc_abis[] = {
    {SCMP_ARCH_NATIVE, "native"},
};

static void rb_sc_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}
#define _cleanup_scmp_ _cleanup_(rb_sc_releasep)

struct rb_sc_abi {
	scmp_filter_ctx ctx;
	uint32_t arch; /* the real token, SCMP_ARCH_NATIVE resolved */
	const char *name;
	struct rb_error *err;
};

/* Add a rule for name, if this ABI has the call. Arguments are given as libseccomp takes them. */
static int rb_sc_rule(struct rb_sc_abi *abi, uint32_t action, const char *name, unsigned int argc,
		      const struct scmp_arg_cmp *argv)
{
	int native = seccomp_syscall_resolve_name(name);
	int r;

	if (native == __NR_SCMP_ERROR)
		return rb_error_set(abi->err, EINVAL, RB_INTERNAL_ERROR,
				    "seccomp: libseccomp does not know the syscall %s", name);
	if (seccomp_syscall_resolve_name_arch(abi->arch, name) <= RB_SC_ABSENT)
		return 0;
	/* libseccomp takes the native number and translates it to this ABI's */
	r = seccomp_rule_add_array(abi->ctx, action, native, argc, argv);
	if (r < 0)
		return rb_error_set(abi->err, -r, RB_INTERNAL_ERROR, "seccomp: %s rule for %s: %s",
				    abi->name, name, strerror(-r));
	return 0;
}

static int rb_sc_allow_newer(struct rb_sc_abi *abi, const char *name, int nr)
{
	int r;

	if (seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR)
		return rb_sc_rule(abi, SCMP_ACT_ALLOW, name, 0, NULL);
	if (abi->arch != seccomp_arch_native())
		return 0;
	r = seccomp_rule_add(abi->ctx, SCMP_ACT_ALLOW, nr, 0);
	if (r < 0)
		return rb_error_set(abi->err, -r, RB_INTERNAL_ERROR,
				    "seccomp: rule for %s (%d): %s", name, nr, strerror(-r));
	return 0;
}

/* The whole policy, for one ABI. */
static int rb_sc_fill(struct rb_sc_abi *abi)
{
	struct scmp_arg_cmp arg;
	int r;

	for (size_t i = 0; i < RB_ARRAY_SIZE(rb_sc_allow); i++) {
		r = rb_sc_rule(abi, SCMP_ACT_ALLOW, rb_sc_allow[i], 0, NULL);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < RB_ARRAY_SIZE(rb_sc_allow_new); i++) {
		r = rb_sc_allow_newer(abi, rb_sc_allow_new[i].name, rb_sc_allow_new[i].nr);
		if (r < 0)
			return r;
	}

	/* clone: threads and plain forks, never new namespaces */
	arg = SCMP_A0(SCMP_CMP_MASKED_EQ, RB_SC_CLONE_NS, 0);
	r = rb_sc_rule(abi, SCMP_ACT_ALLOW, "clone", 1, &arg);
	/* clone3 passes its flags in memory, out of the filter's sight: ENOSYS sends libc to clone
	 */
	if (r == 0)
		r = rb_sc_rule(abi, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	for (size_t i = 0; r == 0 && i < RB_ARRAY_SIZE(rb_sc_personas); i++) {
		arg = SCMP_A0(SCMP_CMP_EQ, rb_sc_personas[i], 0);
		r = rb_sc_rule(abi, SCMP_ACT_ALLOW, "personality", 1, &arg);
	}
	for (size_t i = 0; r == 0 && i < RB_ARRAY_SIZE(rb_sc_families); i++) {
		arg = SCMP_A0(SCMP_CMP_MASKED_EQ, rb_sc_families[i].mask, rb_sc_families[i].value);
		r = rb_sc_rule(abi, SCMP_ACT_ALLOW, "socket", 1, &arg);
	}
	return r;
}

static int rb_sc_new_ctx(const struct rb_sc_abi *abi, scmp_filter_ctx *out)
{
	_cleanup_scmp_ scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int r = 0;

	if (!ctx)
		return rb_error_set(abi->err, ENOMEM, RB_INTERNAL_ERROR, "seccomp: init");
	if (abi->arch != seccomp_arch_native()) {
		r = seccomp_arch_add(ctx, abi->arch);
		if (r == 0)
			r = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
	}
	/* a foreign ABI (a 32-bit program, or an attempt to dodge the rules): killed, which says
	 * plainly what happened (SIGSYS) where EPERM on its first call would not */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* a binary tree of syscall numbers: loads 2.5x faster than a linear scan, runs faster */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0)
		return rb_error_set(abi->err, -r, RB_INTERNAL_ERROR, "seccomp: %s filter: %s",
				    abi->name, strerror(-r));
	*out = TAKE_PTR(ctx);
	return 0;
}

/* Export the merged filter as raw BPF through a memfd. */
static int rb_sc_export(scmp_filter_ctx ctx, struct rb_iso_seccomp **out, struct rb_error *err)
{
	_cleanup_close_ int fd = memfd_create("runbox-seccomp", MFD_CLOEXEC);
	_cleanup_free_ struct rb_iso_seccomp *f = NULL;
	struct stat st;
	size_t len, done = 0;
	int r;

	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "seccomp: memfd_create");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return rb_error_set(err, -r, RB_INTERNAL_ERROR, "seccomp: export: %s",
				    strerror(-r));
	if (fstat(fd, &st) < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "seccomp: fstat");
	len = (size_t)st.st_size;
	if (len == 0 || len % sizeof(struct sock_filter) ||
	    len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return rb_error_set(err, E2BIG, RB_INTERNAL_ERROR,
				    "seccomp: exported program of %zu bytes is not loadable", len);
	f = malloc(sizeof(*f) + len);
	if (!f)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "seccomp: %zu bytes", len);
	while (done < len) {
		ssize_t n = pread(fd, (char *)f->insns + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return rb_error_sys(err, n < 0 ? errno : EIO, RB_INTERNAL_ERROR,
					    "seccomp: reading the exported program");
		done += (size_t)n;
	}
	f->prog.len = (unsigned short)(len / sizeof(struct sock_filter));
	f->prog.filter = f->insns;
	*out = TAKE_PTR(f);
	return 0;
}

int rb_iso_seccomp_compile(struct rb_iso_seccomp **out, struct rb_error *err)
{
	_cleanup_scmp_ scmp_filter_ctx all = NULL;
	int r;

	for (size_t i = 0; i < RB_ARRAY_SIZE(rb_sc_abis); i++) {
		struct rb_sc_abi abi = {
		    .arch = rb_sc_abis[i].arch == SCMP_ARCH_NATIVE ? seccomp_arch_native()
								   : rb_sc_abis[i].arch,
		    .name = rb_sc_abis[i].name,
		    .err = err,
		};
		_cleanup_scmp_ scmp_filter_ctx ctx = NULL;

		r = rb_sc_new_ctx(&abi, &ctx);
		if (r < 0)
			return r;
		abi.ctx = ctx;
		r = rb_sc_fill(&abi);
		if (r < 0)
			return r;
		if (!all) {
			all = TAKE_PTR(ctx);
			continue;
		}
		/* on success the source context belongs to the merged one */
		r = seccomp_merge(all, ctx);
		if (r < 0)
			return rb_error_set(err, -r, RB_INTERNAL_ERROR, "seccomp: merging %s: %s",
					    abi.name, strerror(-r));
		ctx = NULL;
	}
	return rb_sc_export(all, out, err);
}

int rb_iso_seccomp_apply(const struct rb_iso_seccomp *f)
{
	long r;

	/* lets an unprivileged caller install a filter, and setuid or file caps no longer raise */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
		return -errno;
	/* TSYNC: every thread of the caller gets the filter, or none does */
	r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &f->prog);
	if (r < 0)
		return -errno;
	/* a positive result is the id of a thread that could not be synchronised */
	return r == 0 ? 0 : -EBUSY;
}

size_t rb_iso_seccomp_len(const struct rb_iso_seccomp *f)
{
	return f ? f->prog.len : 0;
}

void rb_iso_seccomp_free(struct rb_iso_seccomp *f)
{
	free(f);
}
