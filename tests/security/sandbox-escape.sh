#!/usr/bin/env bash
# Escape attempts against a sandbox with runbox's default isolation (issue 3). Each case is an
# attack that must fail, checked from inside the sandbox (an exec, or rbattack, a static program
# built here and copied in) or on the host (a file's sha256 before and after). The files API is
# attacked with symlinks, "..", FIFOs and devices planted inside the sandbox.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/../integration/images-common.bash"
. "$HERE/../integration/sandbox-common.bash"
sb_setup

TOKEN=rbsecret$RANDOM$RANDOM$$
SECRET=/tmp/rbtest-secret-$$
echo "$TOKEN" >"$SECRET"
rb_on_exit "rm -f $SECRET /etc/rbtest-evil-$$"
HOST_SHA() { sha256sum /etc/passwd /etc/hostname /etc/hosts "$SECRET" 2>/dev/null; }
host_sha0=$(HOST_SHA)

sb_new "sandbox A" || exit 1
A=$SB_ID
inside "$A" "mkdir -p /workspace && echo 'marker$$:x:4242:4242::/:/bin/sh' >> /etc/passwd" >/dev/null
SB_PASSWD=$(inside "$A" 'cat /etc/passwd')
expect_contains "sandbox's /etc/passwd has our marker (the sandbox's own copy)" "$SB_PASSWD" "marker$$"
check "host's /etc/passwd does not have the marker" test -z "$(grep "marker$$" /etc/passwd)"

# --- identity, privileges, namespaces -----------------------------------------------------------------
ST=$(inside "$A" 'cat /proc/self/status')
field() { sed -n "s/^$1:[[:space:]]*//p" <<<"$ST"; }
expect_eq "CapEff is Docker's default set (00000000a80425fb)" "$(field CapEff)" 00000000a80425fb
expect_eq "CapPrm is the same set" "$(field CapPrm)" 00000000a80425fb
expect_eq "CapBnd is the same set" "$(field CapBnd)" 00000000a80425fb
expect_eq "CapInh is empty" "$(field CapInh)" 0000000000000000
expect_eq "CapAmb is empty" "$(field CapAmb)" 0000000000000000
expect_eq "NoNewPrivs 1" "$(field NoNewPrivs)" 1
expect_eq "Seccomp 2 (filter)" "$(field Seccomp)" 2
expect_eq "user nobody: CapEff 0" "$(sx "$A" 'grep CapEff /proc/self/status' user=nobody; echo "$OUT")" $'CapEff:\t0000000000000000'
for m in uid_map gid_map; do
	map=$(inside "$A" "cat /proc/self/$m")
	if python3 -c '
import sys
rows = [list(map(int, l.split())) for l in sys.argv[1].strip().splitlines()]
ok = rows and rows[0][0] == 0 and rows[0][1] >= 1073741824
ok = ok and all(h > 0 and not (h <= 0 < h + n) for _, h, n in rows)
sys.exit(0 if ok else 1)' "$map" 2>/dev/null; then pass "$m maps 0 to an unprivileged host id >= 2^30 ($(echo $map))"; else
		fail "$m maps 0 to an unprivileged host id >= 2^30: '$map'"; fi
done
hostuid=$(inside "$A" 'cat /proc/self/uid_map' | awk 'NR == 1 { print $2 }')
owner=$(for p in $(sb_host_pids "$A"); do stat -c %u "/proc/$p"; done | sort -u | tr '\n' ' ')
expect_eq "on the host, the sandbox's processes run as that id, not root" "$owner" "$hostuid "

PS=$(inside "$A" 'for p in /proc/[0-9]*; do echo "${p#/proc/} $(tr "\0" " " < $p/cmdline)"; done')
expect_eq "pid 1 is runbox-agent" "$(awk '$1 == 1 { print $2 }' <<<"$PS")" runbox-agent
n=$(wc -l <<<"$PS")
check "only the sandbox's processes are visible ($n: $(echo $PS | head -c 200))" test "$n" -le 5
expect_eq "no host process visible (the daemon's 'serve --socket' is not in any cmdline)" "$(grep -c 'serve --socket' <<<"$PS")" 0
expect_eq "hostname is not the host's" "$(inside "$A" hostname | grep -cx "$(hostname)")" 0
expect_eq "only loopback network (/proc/net/dev)" "$(inside "$A" 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "')" lo
expect_eq "/proc/self/cgroup shows no host cgroup path" "$(inside "$A" 'cat /proc/self/cgroup' | grep -c -e runbox -e system.slice -e user.slice)" 0
check "/proc/1/exe is not a host file (memfd)" test -z "$(inside "$A" 'readlink /proc/1/exe' | grep -v -e memfd -e deleted)"

# --- mounts, /proc and /sys ----------------------------------------------------------------------------
sx "$A" 'mkdir -p /mnt; busybox mount -t tmpfs none /mnt; echo rc=$?; grep -c " /mnt " /proc/self/mountinfo'
expect_eq "mount -t tmpfs fails (and nothing is mounted)" "$OUT" $'rc=1\n0\n'
sx "$A" 'busybox mount -o remount,rw /sys 2>&1; echo rc=$?'
expect_contains "remount /sys rw fails" "$OUT" "rc=1"
sx "$A" 'busybox umount /proc/kcore 2>&1; busybox umount -l /proc/kcore 2>&1; echo rc=$?; wc -c < /proc/kcore'
expect_contains "umount of a masked path fails" "$OUT" "rc=1"
sx "$A" 'busybox unshare -U true 2>&1; echo rc=$?'
expect_contains "unshare -U fails" "$OUT" "rc=1"
sx "$A" 'busybox unshare -m true 2>&1; echo rc=$?'
expect_contains "unshare -m fails" "$OUT" "rc=1"
for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/kallsyms; do
	sx "$A" "c=\$(cat $f 2>/dev/null | head -c 4096 | wc -c); test -e $f && echo \$c || echo absent"
	if [ "$OUT" = "absent"$'\n' ] || [ "$OUT" = "0"$'\n' ] || { [ "$f" = /proc/kallsyms ] && [ -z "$(inside "$A" "grep -v '^0000000000000000' $f | head -1")" ]; }; then
		pass "$f is masked (empty or absent)"
	else fail "$f is masked: reads $OUT bytes"; fi
done
sx "$A" 'echo evil > /proc/sys/kernel/hostname; echo rc=$?; cat /proc/sys/kernel/hostname'
check "writing /proc/sys/kernel/hostname fails" test "${OUT%%$'\n'*}" = rc=1 -a "$(hostname)" != evil
sx "$A" 'echo h > /proc/sysrq-trigger; echo rc=$?'
expect_contains "/proc/sysrq-trigger is not writable" "$OUT" "rc=1"
sx "$A" 'echo 3 > /proc/sys/vm/drop_caches; echo rc=$?'
expect_contains "/proc/sys is read-only (drop_caches)" "$OUT" "rc=1"
sx "$A" 'touch /sys/rbx 2>&1; echo rc=$?; echo 1 > /sys/kernel/mm/ksm/run; echo rc=$?; grep " /sys " /proc/self/mountinfo'
check "/sys is read-only (touch and a write fail; mounted ro): $(echo $OUT)" test "$(grep -c 'rc=1' <<<"$OUT")" = 2 -a -n "$(grep -E ' /sys [^ ]* ro[, ]' <<<"$OUT")"
DEV=$(inside "$A" 'ls -A /dev' | tr '\n' ' ')
extra=$(for d in $DEV; do case $d in null | zero | full | random | urandom | tty | ptmx | pts | shm | fd | stdin | stdout | stderr | mqueue | console | core) ;; *) echo -n "$d " ;; esac; done)
check "/dev is minimal (extra: '$extra')" test -z "$extra"
expect_eq "no block device in /dev" "$(inside "$A" 'find /dev -type b | wc -l')" 0
sx "$A" 'mknod /tmp/sda b 8 0 2>&1; head -c 1 /tmp/sda >/dev/null 2>&1; echo rc=$?'
expect_contains "mknod of a host disk + read fails" "$OUT" "rc=1"
sx "$A" 'ls -l /proc/$$/fd'
check "no descriptor beyond stdio leaks into commands (a socket or anon inode): $(echo "$OUT" | tr '\n' ' ' | head -c 300)" \
	test -z "$(awk '$NF ~ /^(socket|anon_inode)/ && $(NF-2) + 0 > 2' <<<"$OUT")"

# --- syscalls, by a static program copied in ---------------------------------------------------------
cat >"$RB_TEST_ROOT/rbattack.c" <<'EOF'
/* rbattack: each attack prints "ok NAME" when refused, "ESCAPED NAME: why" when it worked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void res(const char *name, int escaped, const char *why)
{
	if (escaped)
		printf("ESCAPED %s: %s\n", name, why);
	else
		printf("ok %s (%s)\n", name, why);
	fflush(stdout);
}
#define REFUSED(name, expr) do { errno = 0; long r_ = (long)(expr); res(name, r_ >= 0, r_ >= 0 ? "succeeded" : strerror(errno)); } while (0)

int main(int argc, char **argv)
{
	const char *secret = argc > 1 ? argv[1] : "/nonexistent";
	char buf[64];
	REFUSED("unshare-user", unshare(CLONE_NEWUSER));
	REFUSED("unshare-mount", unshare(CLONE_NEWNS));
	REFUSED("unshare-net", unshare(CLONE_NEWNET));
	{
		errno = 0;
		long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (r == 0)
			_exit(0);
		if (r > 0)
			waitpid((pid_t)r, NULL, 0);
		res("clone-newuser", r >= 0, r >= 0 ? "succeeded" : strerror(errno));
	}
	mkdir("/tmp/rbm", 0755);
	REFUSED("mount-tmpfs", mount("none", "/tmp/rbm", "tmpfs", 0, NULL));
	REFUSED("mount-proc", mount("proc", "/tmp/rbm", "proc", 0, NULL));
	REFUSED("umount-kcore-mask", umount2("/proc/kcore", MNT_DETACH));
	REFUSED("ptrace-attach-pid1", ptrace(PTRACE_ATTACH, 1, NULL, NULL));
	REFUSED("open-pid1-mem", open("/proc/1/mem", O_RDONLY));
	{
		/* the agent's memory through /proc/1/mem: its first mapping */
		unsigned long addr = 0;
		FILE *m = fopen("/proc/1/maps", "r");
		if (m) {
			if (fscanf(m, "%lx", &addr) != 1)
				addr = 0;
			fclose(m);
		}
		int fd = open("/proc/1/mem", O_RDONLY);
		ssize_t n = fd >= 0 && addr ? pread(fd, buf, 16, (off_t)addr) : -1;
		res("read-pid1-memory", n > 0, n > 0 ? "read 16 bytes of the agent's memory" : strerror(errno));
	}
	{
		struct iovec l = { buf, sizeof(buf) }, rm = { (void *)0x400000, sizeof(buf) };
		errno = 0;
		long r = process_vm_readv(1, &l, 1, &rm, 1, 0);
		res("process_vm_readv-pid1", r >= 0 || errno == EFAULT, r >= 0 ? "succeeded" : strerror(errno));
	}
	REFUSED("open-pid1-exe-write", open("/proc/1/exe", O_WRONLY));
	{
		int fd = open("/proc/1/exe", O_RDONLY);
		if (fd >= 0) {
			snprintf(buf, sizeof(buf), "/proc/self/fd/%d", fd);
			REFUSED("reopen-pid1-exe-write", open(buf, O_WRONLY));
		} else {
			res("reopen-pid1-exe-write", 0, strerror(errno));
		}
	}
	REFUSED("keyctl", syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, "rb"));
	REFUSED("add_key", syscall(SYS_add_key, "user", "rb", "x", 1, -3));
	{
		errno = 0;
		long r = syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, NULL, 0);
		res("bpf", !(r < 0 && (errno == EPERM || errno == ENOSYS)), r >= 0 ? "succeeded" : strerror(errno));
		errno = 0;
		r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
		res("perf_event_open", !(r < 0 && (errno == EPERM || errno == ENOSYS || errno == EACCES)), r >= 0 ? "succeeded" : strerror(errno));
		errno = 0;
		r = syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0);
		res("open_by_handle_at", !(r < 0 && (errno == EPERM || errno == ENOSYS)), r >= 0 ? "succeeded" : strerror(errno));
	}
	REFUSED("finit_module", syscall(SYS_finit_module, 0, "", 0));
	REFUSED("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
	REFUSED("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0 /* CAD_OFF */, NULL));
	REFUSED("sethostname", sethostname("evil", 4));
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		REFUSED("clock_settime", clock_settime(CLOCK_REALTIME, &ts));
	}
	REFUSED("swapoff", syscall(SYS_swapoff, "/dev/sda"));
	{
		unlink("/tmp/rbsda");
		int r = mknod("/tmp/rbsda", S_IFBLK | 0600, makedev(8, 0));
		int fd = r == 0 ? open("/tmp/rbsda", O_RDONLY) : -1;
		res("mknod-open-host-disk", fd >= 0, fd >= 0 ? "opened" : strerror(errno));
	}
	REFUSED("write-proc-sys", open("/proc/sys/kernel/core_pattern", O_WRONLY));
	/* the classic chroot escape: chroot into a subdir, climb out with .., chroot there */
	{
		pid_t p = fork();
		if (p == 0) {
			mkdir("/tmp/rbjail", 0755);
			if (chroot("/tmp/rbjail") == 0) {
				for (int i = 0; i < 64; i++)
					if (chdir("..") < 0)
						break;
				chroot(".");
			}
			struct stat st;
			_exit(stat(secret, &st) == 0 ? 1 : 0);
		}
		int s = 0;
		waitpid(p, &s, 0);
		res("chroot-escape-sees-host-file", WIFEXITED(s) && WEXITSTATUS(s) == 1, "stat of the host's secret");
	}
	return 0;
}
EOF
if cc -static -O1 -o "$RB_TEST_ROOT/rbattack" "$RB_TEST_ROOT/rbattack.c" 2>"$RB_TEST_ROOT/cc.log"; then
	{ printf '{"path":"/workspace/rbattack","encoding":"base64","mode":493,"content":"'; base64 -w0 "$RB_TEST_ROOT/rbattack"; printf '"}'; } >"$RB_TEST_ROOT/rbattack.json"
	sapi POST "/api/v1/sandboxes/$A/files" "@$RB_TEST_ROOT/rbattack.json"
	sx "$A" "chmod 755 /workspace/rbattack; /workspace/rbattack $SECRET" timeoutMs:=30000
	if [ "$(grep -c '^ok\|^ESCAPED' <<<"$OUT")" -lt 25 ]; then
		fail "rbattack ran in the sandbox: exit $EC, ${OUT:0:300} ${ERR:0:300} ${BODY:0:200}"
	fi
	while read -r verdict name why; do
		case $verdict in
		ok) pass "syscall attack refused: $name $why" ;;
		ESCAPED) fail "syscall attack refused: $name: $why" ;;
		esac
	done <<<"$OUT"
	sx "$A" "/workspace/rbattack $SECRET | grep -c ^ok" user=nobody timeoutMs:=30000
	check "rbattack as nobody: every attack refused (${OUT//[[:space:]]/} ok)" test "${OUT//[[:space:]]/}" -ge 25
else
	fail "rbattack builds (cc -static): $(head -5 "$RB_TEST_ROOT/cc.log")"
fi

# --- host files are not reachable ------------------------------------------------------------------------
sx "$A" "ls $SECRET 2>&1; cat $SECRET 2>&1; echo rc=\$?"
expect_eq "the host's secret file is not at its path inside" "$(grep -c "$TOKEN" <<<"$OUT")" 0
inside "$A" "echo ${TOKEN}ctl > /workspace/control" >/dev/null
sx "$A" "find / \\( -path /proc -o -path /sys \\) -prune -o -type f -print 2>/dev/null | xargs grep -l '$TOKEN' 2>/dev/null" timeoutMs:=120000
expect_eq "a search of every file inside finds the control token only (not the host's secret)" "$OUT" $'/workspace/control\n'
sx "$A" "test -e $RUNBOX_SOCKET && echo sock; test -e $RB_TEST_ROOT && echo root; test -e $RUNBOX_STATE_DIR && echo state; find / \\( -path /proc -o -path /sys \\) -prune -o -type s -print 2>/dev/null" timeoutMs:=60000
expect_eq "the API socket, its directory and the state dir do not exist inside; no socket file at all" "$OUT" ""

# --- the files API, attacked with symlinks, .., FIFOs and devices --------------------------------------
inside "$A" 'cd /workspace && ln -s / evil && ln -s /etc/../../ evil2 && ln -s /proc/1/root evil3 && ln -s ../../../../../../../ evil4 &&
	ln -s /etc etclink && ln -s /etc/hostname hn && ln -s '"$SECRET"' secretlink && ln -s '"$RUNBOX_STATE_DIR"' statelink &&
	mkfifo fifo && ln -s /dev/zero zerolink' >/dev/null
HOST_PASSWD=$(cat /etc/passwd)
for l in evil evil2 evil3 evil4; do
	sapi GET "/api/v1/sandboxes/$A/files?path=$(urlenc "/workspace/$l/etc/passwd")"
	got=$(jf 'd.get("content") or ""')
	if [[ "$got" == *"marker$$"* ]] || { [ "$l" = evil3 ] && [[ "$STATUS" == 4* ]]; }; then
		pass "files read via symlink $l -> /etc/passwd gives the sandbox's passwd (HTTP $STATUS)"
	elif [ "$got" = "$HOST_PASSWD" ]; then
		fail "files read via symlink $l: THE HOST'S /etc/passwd"
	else fail "files read via symlink $l -> /etc/passwd: HTTP $STATUS ${BODY:0:300}"; fi
done
sapi GET "/api/v1/sandboxes/$A/files?path=$(urlenc /workspace/../../../etc/passwd)"
expect_contains "files read of /workspace/../../../etc/passwd resolves inside" "$(jf 'd.get("content") or ""')" "marker$$"
sapi GET "/api/v1/sandboxes/$A/files?path=$(urlenc /workspace/../../../etc/shadow)"
check "files read of /workspace/../../../etc/shadow is not the host's shadow" test -z "$(grep -F "$(head -1 /etc/shadow)" <<<"$BODY")"
sapi GET "/api/v1/sandboxes/$A/files/list?path=$(urlenc /workspace/../../..)"
host_only=$(comm -23 <(ls -A / | sort) <(inside "$A" 'ls -A /' | sort) | tr '\n' ' ')
listed=$(jf '" ".join(sorted(e["name"] for e in d.get("entries", [])))')
leak=$(for n in $host_only; do [[ " $listed " == *" $n "* ]] && echo -n "$n "; done)
check "files list of /workspace/../../.. is the sandbox's / (bin is there; host-only [$host_only] are not: leak '$leak')" \
	test -z "$leak" -a -n "$(grep -w bin <<<"$listed")"
sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/secretlink"
check "files read via a symlink to the host's secret path: no token (HTTP $STATUS)" test -z "$(grep "$TOKEN" <<<"$BODY")"
sapi GET "/api/v1/sandboxes/$A/files/list?path=/workspace/statelink"
expect_status "files list via a symlink to the host's state dir: 404 (it does not exist inside)" 404
sapi POST "/api/v1/sandboxes/$A/files" "$(j path="/workspace/etclink/rbtest-evil-$$" content="evil$$")"
expect_eq "files write through a symlink to /etc lands in the sandbox's /etc" "$(inside "$A" "cat /etc/rbtest-evil-$$")" "evil$$"
check "... and not in the host's /etc" test ! -e "/etc/rbtest-evil-$$"
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/hn content="evilhost$$")"
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/evil/etc/passwd content="root:x:0:0::/:/bin/sh$$")"
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/secretlink content="overwritten")"
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/../../../etc/hosts content="evil$$")"
sapi DELETE "/api/v1/sandboxes/$A/files?path=$(urlenc /workspace/evil4/tmp/rbtest-secret-$$)"
expect_eq "writes and deletes through symlinks and .. leave the host's /etc/passwd, hostname, hosts and the secret unchanged" "$(HOST_SHA)" "$host_sha0"
t0=$(now_ms)
sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/fifo" "" --max-time 5
dt=$(($(now_ms) - t0))
check "files read of a FIFO: an error within 5 s, not a hang (HTTP $STATUS, ${dt} ms)" test "$STATUS" != 000 -a "${STATUS:0:1}" = 4
for p in /dev/zero /workspace/zerolink /dev/urandom /proc/self/fd/0; do
	t0=$(now_ms)
	sapi GET "/api/v1/sandboxes/$A/files?path=$p" "" --max-time 5
	check "files read of $p: an error within 5 s, not endless (HTTP $STATUS, $(($(now_ms) - t0)) ms)" test "${STATUS:0:1}" = 4
done
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/fifo content=x)" --max-time 5
check "files write to a FIFO nobody reads: an answer within 5 s (HTTP $STATUS)" test "$STATUS" != 000
expect_eq "after the FIFO and device reads the sandbox still answers" "$(inside "$A" 'echo ok')" ok

# a symlink swapped in and out while the files API reads through it: never the host's file
inside "$A" "mkdir -p /workspace/race/tmp && echo inside > /workspace/race/tmp/rbtest-secret-$$ && cp -a /workspace/race /workspace/racedir &&
	nohup sh -c 'while :; do rm -rf /workspace/race; ln -s / /workspace/race; rm -f /workspace/race; cp -a /workspace/racedir /workspace/race; done' >/dev/null 2>&1 &" >/dev/null
hits=0 inside_n=0
for i in $(seq 150); do
	sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/race/tmp/rbtest-secret-$$"
	[[ "$BODY" == *"$TOKEN"* ]] && hits=$((hits + 1))
	[[ "$BODY" == *'"inside'* ]] && inside_n=$((inside_n + 1))
done
inside "$A" 'pkill -f "rm -rf /workspace/race" 2>/dev/null; for p in /proc/[0-9]*; do grep -q "while :" $p/cmdline 2>/dev/null && kill ${p#/proc/}; done' >/dev/null
check "symlink race: 150 reads never gave the host's secret ($hits hits; $inside_n read the inside copy)" test "$hits" = 0

# --- another sandbox is not reachable -------------------------------------------------------------------
if sb_new "sandbox B"; then
	B=$SB_ID
	TB=rbtokb$RANDOM$RANDOM
	sapi POST "/api/v1/sandboxes/$B/files" "$(j path=/workspace/tokb content="$TB")"
	hostpath=$(grep -rl "$TB" "$RUNBOX_STATE_DIR" 2>/dev/null | head -1)
	sx "$A" "find / \\( -path /proc -o -path /sys \\) -prune -o -type f -print 2>/dev/null | xargs grep -l '$TB' 2>/dev/null" timeoutMs:=120000
	expect_eq "sandbox A cannot find B's token in any file" "$OUT" ""
	sx "$A" "ls /proc/*/root/workspace/tokb 2>/dev/null; cat /proc/*/root/workspace/tokb 2>/dev/null"
	check "sandbox A cannot reach B through /proc/*/root" test -z "$(grep "$TB" <<<"$OUT")"
	if [ -n "$hostpath" ]; then
		sapi GET "/api/v1/sandboxes/$A/files?path=$(urlenc "$hostpath")"
		check "files API of A with the host path of B's file ($hostpath): no token" test -z "$(grep "$TB" <<<"$BODY")"
		inside "$A" "ln -sfn $hostpath /workspace/blink" >/dev/null
		sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/blink"
		check "files API of A through a symlink to B's file on the host: no token" test -z "$(grep "$TB" <<<"$BODY")"
	else
		skip "B's file has no plain copy under the state dir to aim at"
	fi
	sapi GET "/api/v1/sandboxes/$B/files?path=/workspace/tokb"
	expect_eq "B reads its own token (control)" "$(jf 'd.get("content")')" "$TB"
fi
expect_eq "the host's files are unchanged at the end" "$(HOST_SHA)" "$host_sha0"
sb_check_request_ids
