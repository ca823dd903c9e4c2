#!/usr/bin/env bash
# Interactive exec: exec -i / -t and run -i / -t over POST .../exec upgraded to runbox-exec
# frames. Our stdin streams to the command as it comes, -t gives it a pty inside the sandbox
# (its size ours), the exit code is the command's, and a client that goes away leaves nothing
# running. Terminal cases run the CLI under a pty of a small python wrapper.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup
I=$SB_IMAGE


# onpty ROWS COLS SCRIPT ARGS...: ARGS (runbox ...) on a new pty of that size; SCRIPT is what to
# do, one step a line: "send TEXT" (\r for Enter), "sleep S", "resize R C" (then SIGWINCH to
# the client). Prints what the pty showed, then "EXIT n" and "RESTORED True|False" (the pty's
# modes after the client are those before it).
onpty() {
	local rows=$1 cols=$2 script=$3
	shift 3
	python3 - "$rows" "$cols" "$script" "$@" <<'EOF'
import fcntl, os, pty, select, signal, struct, sys, termios, time
rows, cols, script, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
before = termios.tcgetattr(fd)
out = b""
def pump(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
pump(0.8)
for step in script.split("\n"):
    if not step.strip():
        continue
    op, _, arg = step.partition(" ")
    if op == "send":
        os.write(fd, arg.encode().decode("unicode_escape").encode())
        pump(0.5)
    elif op == "sleep":
        pump(float(arg))
    elif op == "resize":
        r, c = arg.split()
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", int(r), int(c), 0, 0))
        os.kill(pid, signal.SIGWINCH)
        pump(0.3)
code = None
end = time.time() + 20
while time.time() < end:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        code = os.waitstatus_to_exitcode(st)
        break
    pump(0.1)
if code is None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
after = termios.tcgetattr(fd)
sys.stdout.write(out.decode("utf-8", "replace").replace("\r", ""))
print("\nEXIT %s" % code)
print("RESTORED %s" % (before == after))
EOF
}

# no PATTERN in the sandbox's process list after a moment (up to 5 s)
gone_inside() {
	local id=$1 pat=$2 i ps
	for ((i = 0; i < 25; i++)); do
		ps=$(inside "$id" 'ps -o args')
		grep -q -- "$pat" <<<"$ps" || return 0
		sleep 0.2
	done
	echo "still there: $ps"
	return 1
}

sb_new "interactive sandbox" || exit 1
S=$SB_ID

# --- -i: our stdin, as it comes ----------------------------------------------------------------------
out=$(printf 'a\nb\n' | "$RUNBOX" exec -i "$S" cat)
expect_eq "exec -i: piped stdin reaches cat, output back in order" "$out" $'a\nb'
out=$(seq 1 2000 | "$RUNBOX" exec -i "$S" sh -c 'while read l; do echo "o$l"; echo "e$l" >&2; done' 2>"$RB_TEST_ROOT/e")
expect_eq "exec -i: 2000 lines through a shell loop, stdout in order" "$(md5sum <<<"$out")" "$(seq 1 2000 | sed 's/^/o/' | md5sum)"
expect_eq "exec -i: and stderr apart, in order" "$(md5sum <"$RB_TEST_ROOT/e")" "$(seq 1 2000 | sed 's/^/e/' | md5sum)"
head -c 3000000 /dev/urandom >"$RB_TEST_ROOT/blob"
expect_eq "exec -i: 3 MB of binary stdin, byte for byte (flow control, NUL bytes)" \
	"$("$RUNBOX" exec -i "$S" md5sum <"$RB_TEST_ROOT/blob" | cut -d' ' -f1)" "$(md5sum <"$RB_TEST_ROOT/blob" | cut -d' ' -f1)"
expect_eq "exec -i: 3 MB back out of cat, byte for byte" \
	"$("$RUNBOX" exec -i "$S" cat <"$RB_TEST_ROOT/blob" | md5sum | cut -d' ' -f1)" "$(md5sum <"$RB_TEST_ROOT/blob" | cut -d' ' -f1)"
# live: the first line is answered while our stdin is still open
t0=$(now_ms)
first=$( (echo first; sleep 3; echo second) | "$RUNBOX" exec -i "$S" sh -c 'read a; echo "got $a"; read b; echo "got $b"' |
	while read -r l; do echo "$(($(now_ms) - t0)) $l"; done)
t1=$(sed -n 1p <<<"$first" | cut -d' ' -f1)
check "exec -i streams: the first line's answer came before our stdin ended (${t1:-?} ms: $(echo $first))" \
	test -n "$t1" -a "${t1:-9999}" -lt 2500 -a "$(cut -d' ' -f2- <<<"$first" | tr '\n' '|')" = "got first|got second|"
t0=$(now_ms)
out=$(timeout 10 "$RUNBOX" exec -i "$S" cat </dev/null)
RC=$?
check "exec -i: stdin EOF ends cat (exit $RC, $(($(now_ms) - t0)) ms)" test "$RC" = 0 -a -z "$out"
rbx out exec -i "$S" sh -c 'exit 7' </dev/null
expect_eq "exec -i: the exit code is the command's (7)" "$RC" 7
rbx out exec -i "$S" sh -c 'kill -9 $$' </dev/null
expect_eq "exec -i: killed by SIGKILL: 137" "$RC" 137
rbx out exec -i "$S" no-such-command </dev/null
check "exec -i of a command not found: 127, saying so ($ERRO)" test "$RC" = 127 -a -n "$(grep -F no-such-command <<<"$ERRO")"
out=$(printf 'x\n' | "$RUNBOX" exec -i --json "$S" cat)
expect_py "exec -i --json: still the whole result" "$out" 'd.get("stdout") == "x\n" and d.get("exitCode") == 0'

# --- timeouts, errors --------------------------------------------------------------------------------
t0=$(now_ms)
rbx out exec -i --timeout 500 "$S" sleep 30 < <(sleep 10)
dt=$(($(now_ms) - t0))
check "exec -i --timeout 500 sleep 30: exit 124 within 5 s (exit $RC, $dt ms: $ERRO)" test "$RC" = 124 -a "$dt" -lt 5000
check "exec -i --timeout: the sleep is gone" gone_inside "$S" 'sleep 30'
rbx out exec -i sb_0000000000 true </dev/null
check "exec -i in an unknown sandbox: exit 1, SANDBOX_NOT_FOUND ($ERRO)" test "$RC" = 1 -a -n "$(grep SANDBOX_NOT_FOUND <<<"$ERRO")"
rbx out exec -t --json "$S" true
expect_eq "exec -t --json: a usage error (2)" "$RC" 2
sapi POST "/api/v1/sandboxes/$S/exec" "$(j argv:='["true"]' tty:=true)"
expect_err "tty without the upgrade: 400 INVALID_CONFIG" 400 INVALID_CONFIG
sapi POST /api/v1/sandboxes/sb_0000000000/exec "$(j argv:='["true"]')" -H 'Connection: Upgrade' -H 'Upgrade: runbox-exec'
expect_err "upgrade for an unknown sandbox: the usual 404 SANDBOX_NOT_FOUND" 404 SANDBOX_NOT_FOUND
sapi POST "/api/v1/sandboxes/$S/exec" "$(j argv:='["true"]' rows:=0 tty:=true)" -H 'Connection: Upgrade' -H 'Upgrade: runbox-exec'
expect_err "upgrade with rows 0: 400 INVALID_CONFIG" 400 INVALID_CONFIG

# --- -t: a terminal inside ---------------------------------------------------------------------------
rbx out exec -t "$S" sh -c 'tty; test -t 0 && test -t 1 && echo TTY01' </dev/null
out=$(tr -d '\r' <<<"$out")
check "exec -t: the command's stdio is a pty of the sandbox ($(echo $out))" \
	test -n "$(grep -xE '/dev/pts/[0-9]+' <<<"$out")" -a -n "$(grep -x TTY01 <<<"$out")"
out=$(onpty 37 111 "" "$RUNBOX" exec -it "$S" stty size)
check "exec -it: the window size is ours (37 111) ($(echo $out))" test -n "$(grep -x '37 111' <<<"$out")" -a -n "$(grep -x 'EXIT 0' <<<"$out")"
check "exec -it: our terminal is put back as it was" test -n "$(grep -x 'RESTORED True' <<<"$out")"
out=$(onpty 24 80 $'send stty size\\r\nresize 50 132\nsend stty size; tty; echo "pg=$(ps -o pid,pgid,args | grep -c [s]tty)"\\r\nsend exit 5\\r' "$RUNBOX" exec -it "$S" sh)
check "exec -it sh: typed lines run; a resize reaches the pty (24 80, then 50 132); exit 5 ($(echo $out | tail -c 300))" \
	test -n "$(grep -x '24 80' <<<"$out")" -a -n "$(grep -x '50 132' <<<"$out")" -a -n "$(grep -x 'EXIT 5' <<<"$out")"
check "exec -it sh: terminal restored after the session" test -n "$(grep -x 'RESTORED True' <<<"$out")"
out=$(onpty 24 80 $'send sleep 30\\r\nsend \\x03\nsend echo after-ctrl-c\\r\nsend exit\\r' "$RUNBOX" exec -it "$S" sh)
check "exec -it: ^C interrupts the command inside, not us ($(echo $out | tail -c 200))" \
	test -n "$(grep -x 'after-ctrl-c' <<<"$out")" -a -n "$(grep -x 'EXIT 0' <<<"$out")"
out=$(onpty 30 100 $'send tty; stty size\\r\nsend exit 3\\r' "$RUNBOX" run --rm -it "$I" sh)
check "run --rm -it: a pty of our size, exit 3 ($(echo $out | tail -c 200))" \
	test -n "$(grep -xE '/dev/pts/[0-9]+' <<<"$out")" -a -n "$(grep -x '30 100' <<<"$out")" -a -n "$(grep -x 'EXIT 3' <<<"$out")"
out=$(printf 'hello\n' | "$RUNBOX" run --rm -i "$I" sh -c 'cat; exit 4')
expect_eq "run --rm -i: piped stdin, the exit code" "$out|$?" "hello|4"

# --- the client goes away ----------------------------------------------------------------------------
"$RUNBOX" exec -i "$S" sh -c 'sleep 301 & sleep 302' < <(sleep 60) >/dev/null 2>&1 &
cpid=$!
sleep 1
check "exec -i: the command runs meanwhile" test -n "$(inside "$S" 'ps -o args' | grep 'sleep 30[12]')"
kill -9 "$cpid"
wait "$cpid" 2>/dev/null
check "client killed mid-command (pipes): nothing of it is left inside" gone_inside "$S" 'sleep 30[12]'
"$RUNBOX" exec -it "$S" sh -c "trap '' HUP; sleep 303" < <(sleep 60) >/dev/null 2>&1 &
cpid=$!
sleep 1
kill -9 "$cpid"
wait "$cpid" 2>/dev/null
check "client killed mid-command (tty, SIGHUP ignored): killed all the same" gone_inside "$S" 'sleep 303'
rbx out exec -i "$S" sh -c 'sleep 304 & echo started' </dev/null
check "exec -i: what the command left behind in its group ends with it ($out)" gone_inside "$S" 'sleep 304'
"$RUNBOX" exec -i "$S" sleep 305 < <(sleep 60) >/dev/null 2>&1 &
cpid=$!
sleep 1
kill -TERM "$cpid"
wait "$cpid"
rc=$?
check "exec -i ended by SIGTERM: exit 143 ($rc)" test "$rc" = 143
check "exec -i ended by SIGTERM: the command gone soon after" gone_inside "$S" 'sleep 305'


# --- the daemon keeps nothing ------------------------------------------------------------------------
nfd() { ls "/proc/$RB_DAEMON_PID/fd" | wc -l; }
sleep 0.5
before=$(nfd)
for i in 1 2 3 4 5; do
	echo x | "$RUNBOX" exec -i "$S" cat >/dev/null
	"$RUNBOX" exec -t "$S" true </dev/null >/dev/null
	"$RUNBOX" exec -i "$S" sleep 306 < <(sleep 60) >/dev/null 2>&1 &
	cpid=$!
	sleep 0.3
	kill -9 "$cpid"
	wait "$cpid" 2>/dev/null
done
gone_inside "$S" 'sleep 306' >/dev/null
sleep 0.5
after=$(nfd)
check "the daemon's open files after 15 sessions (5 cut off): no more than before ($before, $after)" test "$after" -le "$before"
rbx out exec "$S" echo still-fine
expect_eq "plain exec still works afterwards" "$out" still-fine

# --- a stopping daemon does not wait for sessions ----------------------------------------------------
"$RUNBOX" exec -i "$S" sleep 307 < <(sleep 60) >"$RB_TEST_ROOT/stop.out" 2>&1 &
cpid=$!
sleep 1
t0=$(now_ms)
rb_daemon_stop
dt=$(($(now_ms) - t0))
wait "$cpid"
rc=$?
check "daemon stop with a session open: done within 3 s ($dt ms); the client told, exit $rc: $(cat "$RB_TEST_ROOT/stop.out")" \
	test "$dt" -lt 3000 -a "$rc" != 0
# back up, so that the usual cleanup terminates whatever outlived the daemon
rb_daemon_start || fail "the daemon starts again"
