/*
 * Attacks on the default confinement, as root on the real kernel. Each attempt runs in a forked
 * child that first gets its own mount, uts and ipc namespaces (as a sandbox has, and so that a
 * failing case cannot touch the host), then Docker's default capabilities, then the default
 * seccomp filter (the sandbox's order), then tries the attack and exits with the result: 0 when
 * the call succeeded, its errno otherwise. Where the attack is harmless unconfined, it is also run
 * unconfined, and with each layer alone, so every case shows it can fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/kcmp.h>
#include <linux/keyctl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "isolation/caps.h"
#include "isolation/seccomp.h"

/* Exit codes of a child beyond errno values. */
#define T_BAD	  249  /* an allowed operation ran but gave a wrong result */
#define T_SETUP	  250  /* the child's own preparation failed */
#define T_CAPS	  251  /* rb_iso_caps_apply failed */
#define T_SECCOMP 252  /* rb_iso_seccomp_apply failed */
#define T_SIGNAL  1000 /* + the signal that killed the child */

/* Exit codes of the exec'd helper (--rb-whoami). */
#define W_ROOT	10 /* euid 0: the setuid bit worked */
#define W_CAPS	11 /* not root, but with effective capabilities */
#define W_CLEAN 12 /* neither */

#define NOBODY 65534

enum mode { NONE, CAPS, SECCOMP, FULL };
static const char *const mode_names[] = {"unconfined", "caps only", "seccomp only", "caps+seccomp"};

static struct {
	struct rb_iso_seccomp *filter;
	int last_cap;
	char dir[64], mnt[96], file[96], scratch[96], node[96], suid[96], fcap[96];
	char *low;	   /* below 4 GiB, for pointers passed through int $0x80 */
	long base_filters; /* seccomp filters the test itself runs under */
	int quiet;
	unsigned long clone_flags;
	const struct denied *denied;
} g;

#define RES(x) ((x) < 0 ? errno : 0)

/*
 * What a daemon started with ambient capabilities (systemd's AmbientCapabilities=) would hand
 * down: every permitted capability inheritable, and CAP_CHOWN ambient. The confinement must not
 * let any of it through.
 */
static int inherit_privileges(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	data[0].inheritable = data[0].permitted;
	data[1].inheritable = data[1].permitted;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -1;
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (long)CAP_CHOWN, 0L, 0L);
}

/* Fork, confine as `m`, run fn; returns fn's result or one of the T_ codes. */
static int in_child(enum mode m, int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return T_SETUP;
	if (pid == 0) {
		if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(T_SETUP);
		setsid(); /* no controlling terminal, for vhangup */
		if (m != NONE && inherit_privileges() < 0)
			_exit(T_SETUP);
		if ((m == CAPS || m == FULL) &&
		    rb_iso_caps_apply(rb_iso_caps_default_mask(), g.last_cap) < 0)
			_exit(T_CAPS);
		if ((m == SECCOMP || m == FULL) && rb_iso_seccomp_apply(g.filter) < 0)
			_exit(T_SECCOMP);
		_exit(fn());
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return T_SETUP;
	return WIFSIGNALED(st) ? T_SIGNAL + WTERMSIG(st) : WEXITSTATUS(st);
}

static const char *describe(int r, char *buf, size_t len)
{
	if (r == 0)
		snprintf(buf, len, "success");
	else if (r >= T_SIGNAL)
		snprintf(buf, len, "killed by signal %d", r - T_SIGNAL);
	else if (r >= T_BAD)
		snprintf(buf, len, "child code %d", r);
	else
		snprintf(buf, len, "%s", strerrorname_np(r) ? strerrorname_np(r) : "errno?");
	return buf;
}

static void expect_in(const char *what, enum mode m, int (*fn)(void), int want)
{
	char a[64], b[64];
	int got = in_child(m, fn);

	if (got != want)
		fail_msg("%s, %s: got %s, want %s", what, mode_names[m],
			 describe(got, a, sizeof(a)), describe(want, b, sizeof(b)));
}
#define EXPECT(m, fn, want) expect_in(#fn, m, fn, want)

/* The attack works unconfined, and each layer that should stop it does. */
static void attack(const char *what, int (*fn)(void), int caps_stop_it)
{
	expect_in(what, NONE, fn, 0);
	if (caps_stop_it)
		expect_in(what, CAPS, fn, EPERM);
	expect_in(what, SECCOMP, fn, EPERM);
	expect_in(what, FULL, fn, EPERM);
}

/* ---- /proc/self/status ---- */

static int status_field(const char *key, unsigned long long *val, int base)
{
	char line[256];
	size_t klen = strlen(key);
	FILE *f = fopen("/proc/self/status", "re");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			*val = strtoull(line + klen + 1, NULL, base);
			found = 1;
		}
	fclose(f);
	return found;
}

/*
 * 0 when the caller is confined as a sandbox is (with `filters` seccomp filters in all), else T_BAD
 * with the first difference on stderr.
 */
static int check_status(unsigned long long filters)
{
	const uint64_t caps = rb_iso_caps_default_mask();
	const struct {
		const char *key;
		int base;
		unsigned long long want;
	} w[] = {
	    {"Seccomp", 10, 2},	   {"Seccomp_filters", 10, filters},
	    {"NoNewPrivs", 10, 1}, {"CapInh", 16, 0},
	    {"CapPrm", 16, caps},  {"CapEff", 16, caps},
	    {"CapBnd", 16, caps},  {"CapAmb", 16, 0},
	};

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		unsigned long long v = ~0ULL;

		if (!status_field(w[i].key, &v, w[i].base) || v != w[i].want) {
			if (!g.quiet)
				fprintf(stderr, "status: %s is %llx, want %llx\n", w[i].key, v,
					w[i].want);
			return T_BAD;
		}
	}
	return 0;
}

static int a_status(void)
{
	return check_status((unsigned long long)g.base_filters + 1);
}

/* The same after an exec: nothing is regained by executing a (root-owned) program. */
static int a_status_after_exec(void)
{
	char filters[32];

	snprintf(filters, sizeof(filters), "%ld", g.base_filters + 1);
	execl("/proc/self/exe", "test_seccomp_caps", "--rb-status", filters, (char *)NULL);
	return errno;
}

static int whoami(void)
{
	unsigned long long eff = ~0ULL;

	if (geteuid() == 0)
		return W_ROOT;
	if (!status_field("CapEff", &eff, 16) || eff)
		return W_CAPS;
	return W_CLEAN;
}

/* Docker's default set, spelled out apart from rb_iso_caps_default_mask(); the name helpers. */
static void default_mask(void **state)
{
	const char *const spellings[] = {"CAP_NET_RAW", "cap_net_raw", "NET_RAW"};
	struct rb_error err = {0};
	char *s = NULL;
	int cap;

	assert_int_equal(rb_iso_caps_format(rb_iso_caps_default_mask(), &s, &err), 0);
	assert_string_equal(s, "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,"
			       "CAP_SETGID,CAP_SETUID,CAP_SETPCAP,CAP_NET_BIND_SERVICE,CAP_NET_RAW,"
			       "CAP_SYS_CHROOT,CAP_MKNOD,CAP_AUDIT_WRITE,CAP_SETFCAP");
	free(s);
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		cap = -1;
		assert_int_equal(rb_iso_caps_from_name(spellings[i], &cap, &err), 0);
		assert_int_equal(cap, CAP_NET_RAW);
	}
	assert_int_equal(rb_iso_caps_from_name("CAP_NOT_A_CAP", &cap, &err), -EINVAL);
	assert_int_equal(err.code, RB_INVALID_CONFIG);
}

static void confined_status(void **state)
{
	EXPECT(FULL, a_status, 0);
	EXPECT(FULL, a_status_after_exec, 0);
	/* the check itself: an unconfined child does not pass it, nor one without the caps */
	g.quiet = 1;
	EXPECT(NONE, a_status, T_BAD);
	EXPECT(SECCOMP, a_status, T_BAD);
	g.quiet = 0;
}

/* ---- the attacks ---- */

static int a_mount(void)
{
	return RES(mount("none", g.mnt, "tmpfs", 0, NULL));
}

static void mount_denied(void **state)
{
	attack("mount tmpfs", a_mount, 1);
}

static int a_unshare_user(void)
{
	return RES(unshare(CLONE_NEWUSER));
}

static void unshare_userns_denied(void **state)
{
	/* caps alone do not stop it: a user namespace needs no capability, only the filter helps */
	attack("unshare(CLONE_NEWUSER)", a_unshare_user, 0);
}

static int a_traceme(void)
{
	return RES(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

static int a_attach(void)
{
	pid_t t = fork();
	int r, st;

	if (t < 0)
		return T_SETUP;
	if (t == 0) {
		pause();
		_exit(0);
	}
	r = RES(ptrace(PTRACE_ATTACH, t, NULL, NULL));
	kill(t, SIGKILL);
	while (waitpid(t, &st, __WALL) == t && !WIFEXITED(st) && !WIFSIGNALED(st))
		;
	return r;
}

static int a_vm_readv(void)
{
	char src[8] = "runbox", dst[8];
	struct iovec l = {dst, sizeof(dst)}, r = {src, sizeof(src)};

	return RES(process_vm_readv(getpid(), &l, 1, &r, 1, 0));
}

static void ptrace_denied(void **state)
{
	attack("ptrace(PTRACE_TRACEME)", a_traceme, 0);
	attack("ptrace(PTRACE_ATTACH) on a child", a_attach, 0);
	attack("process_vm_readv on itself", a_vm_readv, 0);
}

static int a_bpf(void)
{
	union bpf_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd >= 0)
		close((int)fd);
	return RES(fd);
}

static void bpf_denied(void **state)
{
	attack("bpf(BPF_MAP_CREATE)", a_bpf, 1);
}

static int a_keyctl(void)
{
	return RES(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, (long)KEY_SPEC_PROCESS_KEYRING, 1L));
}

static int a_add_key(void)
{
	return RES(
	    syscall(SYS_add_key, "user", "runbox-test", "x", 1L, (long)KEY_SPEC_PROCESS_KEYRING));
}

static void keyring_denied(void **state)
{
	/* the kernel keyring is not namespaced: no capability guards it, only the filter */
	attack("keyctl(KEYCTL_GET_KEYRING_ID)", a_keyctl, 0);
	attack("add_key", a_add_key, 0);
}

static int a_open_by_handle(void)
{
	struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
	int mount_id, dfd, fd;

	if (!h)
		return T_SETUP;
	h->handle_bytes = MAX_HANDLE_SZ;
	/* name_to_handle_at is allowed; opening by handle bypasses path checks and is not */
	if (name_to_handle_at(AT_FDCWD, g.file, h, &mount_id, 0) < 0)
		return T_SETUP;
	dfd = open(g.dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return T_SETUP;
	fd = open_by_handle_at(dfd, h, O_RDONLY);
	if (fd >= 0)
		close(fd);
	return RES(fd);
}

static void open_by_handle_denied(void **state)
{
	attack("open_by_handle_at", a_open_by_handle, 1);
}

static int a_clone(void)
{
	long pid = syscall(SYS_clone, g.clone_flags | SIGCHLD, 0L, NULL, NULL, 0L);

	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return errno;
	waitpid((pid_t)pid, NULL, 0);
	return 0;
}

static int a_clone3(void)
{
	/* struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, ... */
	uint64_t args[11] = {0};
	long pid;

	args[4] = SIGCHLD;
	pid = syscall(SYS_clone3, args, sizeof(args));
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return errno;
	waitpid((pid_t)pid, NULL, 0);
	return 0;
}

static void *thread_main(void *p)
{
	return p;
}

static int a_thread(void)
{
	pthread_t t;
	int r = pthread_create(&t, NULL, thread_main, NULL);

	if (r == 0)
		pthread_join(t, NULL);
	return r;
}

static void clone_namespaces_denied(void **state)
{
	static const struct {
		unsigned long flag;
		const char *name;
	} ns[] = {
	    {CLONE_NEWNS, "CLONE_NEWNS"},	  {CLONE_NEWUTS, "CLONE_NEWUTS"},
	    {CLONE_NEWIPC, "CLONE_NEWIPC"},	  {CLONE_NEWUSER, "CLONE_NEWUSER"},
	    {CLONE_NEWPID, "CLONE_NEWPID"},	  {CLONE_NEWNET, "CLONE_NEWNET"},
	    {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	};

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "raw clone(%s)", ns[i].name);
		g.clone_flags = ns[i].flag;
		expect_in(what, SECCOMP, a_clone, EPERM);
		expect_in(what, FULL, a_clone, EPERM);
	}
	g.clone_flags = CLONE_NEWNS;
	expect_in("raw clone(CLONE_NEWNS)", NONE, a_clone, 0);
	/* clone3 hides its flags from the filter: ENOSYS, so that libc falls back to clone */
	EXPECT(FULL, a_clone3, ENOSYS);
	EXPECT(NONE, a_clone3, 0);
	/* and plain processes and threads still work */
	g.clone_flags = 0;
	expect_in("raw clone(0)", FULL, a_clone, 0);
	EXPECT(FULL, a_thread, 0);
}

/* ---- other ABIs ---- */

#if defined(__x86_64__)
/* The i386 syscall gate, from this 64-bit process: i386 numbers, 32-bit arguments. */
static long int80(long nr, long a, long b, long c, long d, long e)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}
#define RES32(x) ((x) < 0 && (x) > -4096 ? (int)-(x) : 0)
/* arch/x86/entry/syscalls/syscall_32.tbl */
#define I386_GETPID  20
#define I386_MOUNT   21
#define I386_PTRACE  26
#define I386_CLONE   120
#define I386_KEYCTL  288
#define I386_UNSHARE 310
#define I386_BPF     357
#define I386_SOCKET  359

static int a32_getpid(void)
{
	long r = int80(I386_GETPID, 0, 0, 0, 0, 0);

	return r == getpid() ? 0 : r < 0 ? RES32(r) : T_BAD;
}

static int a32_mount(void)
{
	/* g.low holds "none\0tmpfs\0<mount point>" */
	return RES32(int80(I386_MOUNT, (long)g.low, (long)(g.low + 11), (long)(g.low + 5), 0, 0));
}

static int a32_unshare_user(void)
{
	return RES32(int80(I386_UNSHARE, CLONE_NEWUSER, 0, 0, 0, 0));
}

static int a32_traceme(void)
{
	return RES32(int80(I386_PTRACE, PTRACE_TRACEME, 0, 0, 0, 0));
}

static int a32_clone_user(void)
{
	long pid = int80(I386_CLONE, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return RES32(pid);
}

static int a32_keyctl(void)
{
	return RES32(int80(I386_KEYCTL, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1, 0, 0));
}

static int a32_bpf(void)
{
	return RES32(int80(I386_BPF, -1, 0, 0, 0, 0));
}

static int a32_vsock(void)
{
	long fd = int80(I386_SOCKET, AF_VSOCK, SOCK_STREAM, 0, 0, 0);

	return fd == -EAFNOSUPPORT ? 0 : RES32(fd);
}
#endif

static void i386_abi(void **state)
{
#if defined(__x86_64__)
	int probe = in_child(NONE, a32_getpid);

	if (probe != 0) {
		char d[64];

		print_message("SKIP: i386 ABI: kernel without IA32 emulation (int $0x80: %s)\n",
			      describe(probe, d, sizeof(d)));
		skip();
	}
	/* the attacks work through int $0x80 unconfined; the filter knows only the native ABI, so
	 * any call through that gate, even an allowed one, kills the process */
	EXPECT(NONE, a32_mount, 0);
	EXPECT(NONE, a32_unshare_user, 0);
	EXPECT(NONE, a32_clone_user, 0);
	EXPECT(SECCOMP, a32_mount, T_SIGNAL + SIGSYS);
	EXPECT(FULL, a32_mount, T_SIGNAL + SIGSYS);
	EXPECT(FULL, a32_unshare_user, T_SIGNAL + SIGSYS);
	EXPECT(FULL, a32_traceme, T_SIGNAL + SIGSYS);
	EXPECT(FULL, a32_clone_user, T_SIGNAL + SIGSYS);
	EXPECT(FULL, a32_keyctl, T_SIGNAL + SIGSYS);
	EXPECT(FULL, a32_bpf, T_SIGNAL + SIGSYS);
	EXPECT(FULL, a32_vsock, T_SIGNAL + SIGSYS);
	EXPECT(FULL, a32_getpid, T_SIGNAL + SIGSYS);
#else
	skip();
#endif
}

#if defined(__x86_64__)
#define X32_BIT 0x40000000L
static int ax32_mount(void)
{
	return RES(syscall(X32_BIT | SYS_mount, "none", g.mnt, "tmpfs", 0L, NULL));
}

static int ax32_unshare_user(void)
{
	return RES(syscall(X32_BIT | SYS_unshare, (long)CLONE_NEWUSER));
}
#endif

static void x32_abi(void **state)
{
#if defined(__x86_64__)
	/* the filter answers before the kernel looks for x32 support: a foreign ABI, killed */
	EXPECT(FULL, ax32_mount, T_SIGNAL + SIGSYS);
	EXPECT(FULL, ax32_unshare_user, T_SIGNAL + SIGSYS);
	EXPECT(SECCOMP, ax32_mount, T_SIGNAL + SIGSYS);
#else
	skip();
#endif
}

/* ---- everything else Docker denies, with arguments that make each call harmless ---- */

struct denied {
	const char *name;
	long nr;
	long a[6];
};

static int a_denied(void)
{
	const long *a = g.denied->a;

	return RES(syscall(g.denied->nr, a[0], a[1], a[2], a[3], a[4], a[5]));
}

static void denied_table(void **state)
{
	static struct timeval bad_tv = {0, -1};
	static struct timespec ts = {0, 0};
	const long nx = (long)"/runbox-nonexistent", empty = (long)"";
	const struct denied t[] = {
	    {"mount", SYS_mount, {0, nx, 0, 0, 0}},
	    {"umount2", SYS_umount2, {nx, 0}},
	    {"pivot_root", SYS_pivot_root, {nx, nx}},
	    {"setns", SYS_setns, {-1, 0}},
	    {"unshare", SYS_unshare, {CLONE_NEWNS}},
	    {"kexec_load", SYS_kexec_load, {0, 0, 0, 0xdead0000L}},
	    {"kexec_file_load", SYS_kexec_file_load, {-1, -1, 0, 0, 0xdead0000L}},
	    {"init_module", SYS_init_module, {0, 0, empty}},
	    {"finit_module", SYS_finit_module, {-1, empty, 0}},
	    {"delete_module", SYS_delete_module, {(long)"runbox_nonexistent", O_NONBLOCK}},
	    {"bpf", SYS_bpf, {-1, 0, 0}},
	    {"perf_event_open", SYS_perf_event_open, {0, 0, -1, -1, 0}},
	    {"keyctl", SYS_keyctl, {KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0}},
	    {"add_key", SYS_add_key, {0, 0, 0, 0, 0}},
	    {"request_key", SYS_request_key, {0, 0, 0, 0}},
	    {"open_by_handle_at", SYS_open_by_handle_at, {-1, 0, 0}},
	    {"userfaultfd", SYS_userfaultfd, {-1}},
	    {"iopl", SYS_iopl, {4}},
	    {"ioperm", SYS_ioperm, {0x10000, 1, 0}},
	    {"reboot", SYS_reboot, {0, 0, 0, 0}},
	    {"swapon", SYS_swapon, {nx, 0}},
	    {"swapoff", SYS_swapoff, {nx}},
	    {"acct", SYS_acct, {nx}},
	    {"settimeofday", SYS_settimeofday, {(long)&bad_tv, 0}},
	    {"clock_settime", SYS_clock_settime, {CLOCK_MONOTONIC, (long)&ts}},
	    {"sethostname", SYS_sethostname, {(long)"rb", 2}},
	    {"setdomainname", SYS_setdomainname, {(long)"rb", 2}},
	    {"mount_setattr", SYS_mount_setattr, {-1, empty, 0, 0, 0}},
	    {"open_tree", SYS_open_tree, {-1, empty, 0}},
	    {"move_mount", SYS_move_mount, {-1, empty, -1, empty, 0}},
	    {"fsopen", SYS_fsopen, {(long)"runbox_nonexistent", 0}},
	    {"fsmount", SYS_fsmount, {-1, 0, 0}},
	    {"fsconfig", SYS_fsconfig, {-1, 0, 0, 0, 0}},
	    {"fspick", SYS_fspick, {-1, empty, 0}},
	    {"quotactl", SYS_quotactl, {0, 0, 0, 0}},
	    {"quotactl_fd", SYS_quotactl_fd, {-1, 0, 0, 0}},
	    {"lookup_dcookie", SYS_lookup_dcookie, {0, 0, 0}},
	    {"syslog", SYS_syslog, {10, 0, 0}}, /* SYSLOG_ACTION_SIZE_BUFFER */
	    {"vhangup", SYS_vhangup, {0}},
	    {"nfsservctl", SYS_nfsservctl, {0}},
	    {"io_uring_setup", SYS_io_uring_setup, {1, 0}},
	    {"ptrace", SYS_ptrace, {PTRACE_TRACEME}},
	    {"process_vm_writev", SYS_process_vm_writev, {0, 0, 0, 0, 0, 0}},
	    {"kcmp", SYS_kcmp, {0, 0, KCMP_FILE, 0, 0}},
	    {"pidfd_getfd", SYS_pidfd_getfd, {-1, 0, 0}},
	    {"process_madvise", SYS_process_madvise, {-1, 0, 0, 0, 0}},
	    {"get_mempolicy", SYS_get_mempolicy, {0, 0, 0, 0, 0}},
	    {"set_mempolicy", SYS_set_mempolicy, {0, 0, 0}},
	    {"mbind", SYS_mbind, {0, 0, 0, 0, 0, 0}},
	    {"set_mempolicy_home_node", SYS_set_mempolicy_home_node, {0, 0, 0, 0}},
	    {"move_pages", SYS_move_pages, {0, 0, 0, 0, 0, 0}},
	    {"migrate_pages", SYS_migrate_pages, {0, 0, 0, 0}},
	    {"fanotify_init", SYS_fanotify_init, {-1, 0}},
	    {"uselib", SYS_uselib, {0}},
	    {"_sysctl", SYS__sysctl, {0}},
	    {"ustat", SYS_ustat, {0, 0}},
	    {"lsm_get_self_attr", 459, {0, 0, 0, 0}},
	    {"lsm_set_self_attr", 460, {0, 0, 0, 0}},
	    {"lsm_list_modules", 461, {0, 0, 0}},
	    {"open_tree_attr", 467, {-1, empty, 0, 0, 0}},
	    {"an unknown number", 1000, {0}},
	};
	char failed[2048] = "";
	size_t len = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		g.denied = &t[i];
		for (enum mode m = SECCOMP; m <= FULL; m++) {
			char d[64];
			int r = in_child(m, a_denied);

			if (r != EPERM && len < sizeof(failed) - 128)
				len += (size_t)snprintf(failed + len, sizeof(failed) - len,
							" %s (%s: %s)", t[i].name, mode_names[m],
							describe(r, d, sizeof(d)));
		}
	}
	if (len)
		fail_msg("not denied with EPERM:%s", failed);
}

/* ---- argument rules ---- */

static int a_persona_query(void)
{
	return RES(personality(0xffffffff));
}

static int a_persona_linux32(void)
{
	return RES(personality(PER_LINUX32));
}

static int a_persona_no_aslr(void)
{
	return RES(personality(ADDR_NO_RANDOMIZE));
}

static int a_vsock(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd >= 0)
		close(fd);
	/* unconfined the address family may simply be absent: not a denial */
	return fd < 0 && errno == EAFNOSUPPORT ? 0 : RES(fd);
}

/* The kernel reads the family as an int: the high half of the register must not hide vsock. */
static int a_vsock_high_bits(void)
{
	long fd = syscall(SYS_socket, (1L << 32) | AF_VSOCK, (long)SOCK_STREAM, 0L);

	if (fd >= 0)
		close((int)fd);
	return fd < 0 && errno == EAFNOSUPPORT ? 0 : RES(fd);
}

static void argument_rules(void **state)
{
	EXPECT(FULL, a_persona_query, 0);
	EXPECT(FULL, a_persona_linux32, 0);
	/* switching off address space randomisation is not among the allowed personalities */
	EXPECT(NONE, a_persona_no_aslr, 0);
	EXPECT(FULL, a_persona_no_aslr, EPERM);
	EXPECT(NONE, a_vsock, 0);
	EXPECT(FULL, a_vsock, EPERM);
	EXPECT(NONE, a_vsock_high_bits, 0);
	EXPECT(FULL, a_vsock_high_bits, EPERM);
}

/* ---- what must keep working ---- */

static int a_exec_true(void)
{
	pid_t p = fork();
	int st;

	if (p < 0)
		return errno;
	if (p == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	if (waitpid(p, &st, 0) < 0)
		return errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : T_BAD;
}

static int a_tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0)
		close(fd);
	return RES(fd);
}

static int a_file_rw(void)
{
	char buf[16] = "";
	int fd = open(g.scratch, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno;
	if (write(fd, "runbox", 6) != 6 || lseek(fd, 0, SEEK_SET) != 0 ||
	    read(fd, buf, sizeof(buf)) != 6 || memcmp(buf, "runbox", 6)) {
		close(fd);
		return T_BAD;
	}
	close(fd);
	return RES(unlink(g.scratch));
}

static int a_clock(void)
{
	struct timespec ts;

	return RES(clock_gettime(CLOCK_MONOTONIC, &ts));
}

static int a_adjtimex_read(void)
{
	struct timex tx = {.modes = 0};

	return RES(adjtimex(&tx));
}

static int a_chroot(void)
{
	return RES(chroot("/"));
}

static int a_fchmodat2(void)
{
	int fd = open(g.scratch, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno;
	close(fd);
	/* newer than this libseccomp's table on some systems: allowed by number */
	return RES(syscall(452, AT_FDCWD, g.scratch, 0644, 0));
}

static void allowed_still_work(void **state)
{
	EXPECT(FULL, a_exec_true, 0);
	EXPECT(FULL, a_tcp_socket, 0);
	EXPECT(FULL, a_file_rw, 0);
	EXPECT(FULL, a_clock, 0);
	EXPECT(FULL, a_adjtimex_read, 0);
	EXPECT(FULL, a_chroot, 0);
	EXPECT(FULL, a_fchmodat2, 0);
	EXPECT(FULL, a_thread, 0);
}

/* ---- the capability layer on its own ---- */

static int a_rcvbufforce(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), size = 65536, r;

	if (fd < 0)
		return T_SETUP;
	r = RES(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)));
	close(fd);
	return r;
}

static int a_raise_rlimit(void)
{
	struct rlimit rl, lower;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max < 2)
		return T_SETUP;
	lower.rlim_max = rl.rlim_max - 1;
	lower.rlim_cur = rl.rlim_cur < lower.rlim_max ? rl.rlim_cur : lower.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &lower) < 0)
		return T_SETUP;
	return RES(setrlimit(RLIMIT_NOFILE, &rl)); /* raising a hard limit: CAP_SYS_RESOURCE */
}

static int a_renice(void)
{
	int prio;

	errno = 0;
	prio = getpriority(PRIO_PROCESS, 0);
	if (prio == -1 && errno)
		return T_SETUP;
	/* a lower nice value than the current one: CAP_SYS_NICE */
	return RES(setpriority(PRIO_PROCESS, 0, prio - 1));
}

static int a_adjtimex_write(void)
{
	struct timex tx = {.modes = 0};

	if (adjtimex(&tx) < 0)
		return T_SETUP;
	tx.modes = ADJ_TICK; /* the same tick again: harmless even if it were allowed */
	return RES(adjtimex(&tx));
}

static int a_raw_socket(void)
{
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);

	if (fd >= 0)
		close(fd);
	return RES(fd);
}

static int a_chown(void)
{
	return RES(chown(g.file, 1234, 1234));
}

static int a_mknod(void)
{
	unlink(g.node);
	if (mknod(g.node, S_IFCHR | 0600, makedev(1, 3)) < 0)
		return errno;
	return RES(unlink(g.node));
}

static void capabilities(void **state)
{
	/* allowed by the filter, refused for want of a capability */
	EXPECT(NONE, a_rcvbufforce, 0);
	EXPECT(CAPS, a_rcvbufforce, EPERM); /* CAP_NET_ADMIN */
	EXPECT(FULL, a_rcvbufforce, EPERM);
	EXPECT(NONE, a_renice, 0);
	EXPECT(CAPS, a_renice, EACCES); /* CAP_SYS_NICE */
	EXPECT(FULL, a_renice, EACCES);
	EXPECT(FULL, a_raise_rlimit, EPERM);   /* CAP_SYS_RESOURCE */
	EXPECT(FULL, a_adjtimex_write, EPERM); /* CAP_SYS_TIME */
	/* what Docker's set grants */
	EXPECT(FULL, a_raw_socket, 0); /* CAP_NET_RAW */
	EXPECT(FULL, a_chown, 0);      /* CAP_CHOWN */
	EXPECT(FULL, a_mknod, 0);      /* CAP_MKNOD */
}

/* ---- privilege escalation by exec ---- */

static int become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return -1;
	return 0;
}

static int a_exec_suid(void)
{
	if (become_nobody() < 0)
		return T_SETUP;
	execl(g.suid, "suid", "--rb-whoami", (char *)NULL);
	return errno;
}

static int a_exec_fcap(void)
{
	if (become_nobody() < 0)
		return T_SETUP;
	execl(g.fcap, "fcap", "--rb-whoami", (char *)NULL);
	return errno;
}

static const char *whoami_name(int r, char *buf, size_t len)
{
	static const char *const names[] = {"euid 0", "capabilities", "no privilege"};

	if (r >= W_ROOT && r <= W_CLEAN)
		return names[r - W_ROOT];
	snprintf(buf, len, "exec failed: ");
	describe(r, buf + strlen(buf), len - strlen(buf));
	return buf;
}

/* Run fn, which execs the --rb-whoami helper; want (or also_ok, when >= 0) is expected. */
static void expect_whoami(const char *what, enum mode m, int (*fn)(void), int want, int also_ok)
{
	char a[64], b[64];
	int got = in_child(m, fn);

	if (got != want && got != also_ok)
		fail_msg("%s, %s: got %s, want %s", what, mode_names[m],
			 whoami_name(got, a, sizeof(a)), whoami_name(want, b, sizeof(b)));
}

static void setuid_escalation(void **state)
{
	int control = in_child(NONE, a_exec_suid);

	if (control != W_ROOT) {
		print_message("SKIP: a setuid-root copy in %s does not raise here (%d): nosuid?\n",
			      g.dir, control);
		skip();
	}
	/* no_new_privs: the setuid bit is ignored, and nothing comes back from exec */
	expect_whoami("exec setuid-root as nobody", FULL, a_exec_suid, W_CLEAN, -1);
	expect_whoami("exec setuid-root as nobody", SECCOMP, a_exec_suid, W_CLEAN, -1);
}

static void file_caps_escalation(void **state)
{
	if (!g.fcap[0]) {
		print_message("SKIP: cannot set security.capability under %s\n", g.dir);
		skip();
	}
	/* the control: file capabilities (CAP_SYS_ADMIN, effective) do raise an unconfined user */
	expect_whoami("exec file-caps program as nobody", NONE, a_exec_fcap, W_CAPS, -1);
	/* no_new_privs alone: the exec runs, without the capability */
	expect_whoami("exec file-caps program as nobody", SECCOMP, a_exec_fcap, W_CLEAN, -1);
	/*
	 * Confined: CAP_SYS_ADMIN is out of the bounding set too, and the kernel refuses to run a
	 * capability-dumb program (effective bit) short of its capabilities: EPERM. Both are safe.
	 */
	expect_whoami("exec file-caps program as nobody", FULL, a_exec_fcap, EPERM, W_CLEAN);
}

/* ---- fixture ---- */

static int copy_self(const char *to, mode_t mode)
{
	char buf[65536];
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), out;
	ssize_t n = 0;

	if (in < 0)
		return -1;
	out = open(to, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0700);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	/* chmod after the writes: a write by root would not clear the setuid bit, but be plain */
	if (n < 0 || fchown(out, 0, 0) < 0 || fchmod(out, mode) < 0) {
		close(out);
		return -1;
	}
	return close(out);
}

static int setup_failed(const char *what)
{
	print_message("setup: %s: %s\n", what, strerror(errno));
	return -1;
}

static int group_setup(void **state)
{
	struct rb_error err = {0};
	struct vfs_cap_data cap = {0};
	unsigned long long filters = 0;
	int fd;

	if (geteuid() != 0) {
		print_message("these attacks need root\n");
		return -1;
	}
	if (rb_iso_seccomp_compile(&g.filter, &err) < 0) {
		print_message("compile: %s\n", err.msg);
		return -1;
	}
	g.last_cap = rb_iso_caps_last_cap();
	if (g.last_cap < 0)
		return setup_failed("cap_last_cap");
	if (!status_field("Seccomp_filters", &filters, 10))
		return setup_failed("Seccomp_filters in /proc/self/status");
	g.base_filters = (long)filters;
	snprintf(g.dir, sizeof(g.dir), "/tmp/runbox-seccomp.XXXXXX");
	if (!mkdtemp(g.dir) || chmod(g.dir, 0755) < 0)
		return setup_failed("temporary directory");
	snprintf(g.mnt, sizeof(g.mnt), "%s/mnt", g.dir);
	snprintf(g.file, sizeof(g.file), "%s/file", g.dir);
	snprintf(g.scratch, sizeof(g.scratch), "%s/scratch", g.dir);
	snprintf(g.node, sizeof(g.node), "%s/node", g.dir);
	snprintf(g.suid, sizeof(g.suid), "%s/suid", g.dir);
	if (mkdir(g.mnt, 0755) < 0)
		return setup_failed(g.mnt);
	fd = open(g.file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "runbox\n", 7) != 7 || close(fd) < 0)
		return setup_failed(g.file);
	if (copy_self(g.suid, 04755) < 0)
		return setup_failed(g.suid);
	/* the same program with file capabilities: CAP_SYS_ADMIN permitted and effective */
	snprintf(g.fcap, sizeof(g.fcap), "%s/fcap", g.dir);
	cap.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
	cap.data[0].permitted = 1u << CAP_SYS_ADMIN;
	if (copy_self(g.fcap, 0755) < 0 ||
	    setxattr(g.fcap, "security.capability", &cap, XATTR_CAPS_SZ_2, 0) < 0)
		g.fcap[0] = '\0';
#if defined(__x86_64__)
	g.low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
		     -1, 0);
	if (g.low == MAP_FAILED)
		return setup_failed("mmap(MAP_32BIT)");
	memcpy(g.low, "none\0tmpfs\0", 11);
	snprintf(g.low + 11, 4096 - 11, "%s", g.mnt);
#endif
	print_message("default filter: %zu BPF instructions, last capability %d\n",
		      rb_iso_seccomp_len(g.filter), g.last_cap);
	return 0;
}

static int group_teardown(void **state)
{
	const char *const names[] = {"mnt", "file", "scratch", "node", "suid", "fcap"};
	char p[128];

	for (size_t i = 0; g.dir[0] && i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", g.dir, names[i]);
		if (unlink(p) < 0)
			rmdir(p);
	}
	if (g.dir[0])
		rmdir(g.dir);
	rb_iso_seccomp_free(g.filter);
	return 0;
}

int main(int argc, char **argv)
{
	/* this binary is also the program the children execute */
	if (argc > 2 && !strcmp(argv[1], "--rb-status"))
		return check_status(strtoull(argv[2], NULL, 10));
	if (argc > 1 && !strcmp(argv[1], "--rb-whoami"))
		return whoami();

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(default_mask),
	    cmocka_unit_test(confined_status),
	    cmocka_unit_test(mount_denied),
	    cmocka_unit_test(unshare_userns_denied),
	    cmocka_unit_test(ptrace_denied),
	    cmocka_unit_test(bpf_denied),
	    cmocka_unit_test(keyring_denied),
	    cmocka_unit_test(open_by_handle_denied),
	    cmocka_unit_test(clone_namespaces_denied),
	    cmocka_unit_test(i386_abi),
	    cmocka_unit_test(x32_abi),
	    cmocka_unit_test(denied_table),
	    cmocka_unit_test(argument_rules),
	    cmocka_unit_test(allowed_still_work),
	    cmocka_unit_test(capabilities),
	    cmocka_unit_test(setuid_escalation),
	    cmocka_unit_test(file_caps_escalation),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
