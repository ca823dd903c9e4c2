#!/usr/bin/env bash
# The agent outlives its daemon (issues 3 and 4): kill -9 of the daemon leaves every sandbox's
# agent and processes running, untouched, and a daemon started again on the same state directory
# takes them back, running or paused. SIGTERM leaves them running too (--stop-sandboxes ends
# them). A sandbox whose agent died while no daemon ran is marked lost and cleaned up. A second
# daemon on the same state directory is refused.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup

# a process that runs (a zombie waiting for a parent that never reaps it does not)
running() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# the agent of sandbox $1 on the host: the process of its cgroup whose cmdline is runbox-agent
agent_of() {
	local p
	for p in $(sb_host_pids "$1"); do
		[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")" = "runbox-agent " ] && echo "$p"
	done
	return 0
}

sb_new "create a sandbox" || exit 0
A=$SB_ID
# a ticker in the background, its output nowhere the exec would wait on
sx "$A" 'sh -c "i=0; while :; do i=\$((i + 1)); echo \$i >/tmp/tick; sleep 0.05; done" >/dev/null 2>&1 &'
expect_eq "start a background ticker" "$STATUS" 200
sleep 0.3
AGENT=$(agent_of "$A")
check "the sandbox's agent is found on the host" test -n "$AGENT"
TICKERS=""
for p in $(sb_host_pids "$A"); do
	grep -q "while" "/proc/$p/cmdline" 2>/dev/null && TICKERS+="$p "
done
check "the ticker runs in the sandbox's cgroup" test -n "$TICKERS"

kill -9 "$RB_DAEMON_PID"
wait "$RB_DAEMON_PID" 2>/dev/null
OLD_DAEMON=$RB_DAEMON_PID
RB_DAEMON_PID=""
sleep 0.5
check "kill -9 of the daemon: it is gone" bash -c "! kill -0 $OLD_DAEMON 2>/dev/null"
check "kill -9 of the daemon: the agent keeps running" running "${AGENT:-0}"
alive=0
for p in $TICKERS; do running "$p" && alive=$((alive + 1)); done
expect_eq "kill -9 of the daemon: the sandbox's processes keep running" "$alive" "$(wc -w <<<"$TICKERS" | tr -d ' ')"
t1=$(cat "/proc/${AGENT:-0}/root/tmp/tick" 2>/dev/null)
sleep 0.3
t2=$(cat "/proc/${AGENT:-0}/root/tmp/tick" 2>/dev/null)
check "kill -9 of the daemon: the ticker still ticks inside ($t1 -> $t2)" \
	test -n "$t1" -a -n "$t2" -a "$t1" != "$t2"
check "kill -9 of the daemon: the agent's parent is not the dead daemon" \
	test "$(awk '{ print $4 }' "/proc/${AGENT:-0}/stat" 2>/dev/null)" != "$OLD_DAEMON"

# again, on the same state: the sandbox is taken back, untouched
if ! rb_daemon_start; then
	fail "the daemon starts again on the same state directory"
	for p in $AGENT $TICKERS; do kill -9 "$p" 2>/dev/null; done
	exit 0
fi
pass "the daemon starts again on the same state directory"
sapi GET "/api/v1/sandboxes/$A"
expect_eq "after kill -9 and a restart: the sandbox is running" "$(jf 'd.get("state")')" running
t1=$(inside "$A" 'cat /tmp/tick')
sleep 0.2
t2=$(inside "$A" 'cat /tmp/tick')
check "after the restart: exec works, and the ticker still ticks ($t1 -> $t2)" \
	test -n "$t1" -a -n "$t2" -a "$t1" != "$t2"
expect_eq "after the restart: the same agent" "$(agent_of "$A")" "$AGENT"
sx "$A" 'echo kept >/workspace/f'
expect_eq "after the restart: files can be written" "$STATUS" 200

# a second daemon on the same state directory is refused while this one runs
out=$("$RUNBOX" serve --socket "$RB_TEST_ROOT/other.sock" --state-dir "$RUNBOX_STATE_DIR" 2>&1)
rc=$?
check "a second daemon on the same state directory is refused ($out)" test "$rc" -ne 0
check "the refusal names the state directory" grep -q "$RUNBOX_STATE_DIR" <<<"$out"

# SIGTERM: the daemon stops, the sandboxes stay, and come back with the next daemon
sapi POST "/api/v1/sandboxes/$A/pause" ''
expect_eq "pause before a clean stop" "$STATUS" 200
sb_new "a second sandbox, running through the stop" || exit 0
B=$SB_ID
AGENT_B=$(agent_of "$B")
rb_daemon_stop
check "SIGTERM: the running sandbox's agent keeps running" running "${AGENT_B:-0}"
check "SIGTERM: the paused sandbox's agent keeps running" running "${AGENT:-0}"
if ! rb_daemon_start; then
	fail "the daemon starts again after SIGTERM"
	for p in $AGENT $AGENT_B $TICKERS; do kill -9 "$p" 2>/dev/null; done
	exit 0
fi
sapi GET "/api/v1/sandboxes/$A"
expect_eq "after SIGTERM and a restart: the paused sandbox is still paused" "$(jf 'd.get("state")')" paused
# a resume the daemon died in before saying so: the cgroup is thawed, the record says paused.
# The next daemon freezes it again, as the record says.
kill -9 "$RB_DAEMON_PID"
wait "$RB_DAEMON_PID" 2>/dev/null
RB_DAEMON_PID=""
for d in $(sb_cgroup_dirs "$A"); do
	[ -f "$d/cgroup.freeze" ] && echo 0 >"$d/cgroup.freeze"
	[ -f "$d/freezer.state" ] && echo THAWED >"$d/freezer.state"
done
t1=$(cat "/proc/${AGENT:-0}/root/tmp/tick" 2>/dev/null)
sleep 0.3
t2=$(cat "/proc/${AGENT:-0}/root/tmp/tick" 2>/dev/null)
check "thawed by hand while no daemon runs: the ticker ticks ($t1 -> $t2)" test -n "$t1" -a "$t1" != "$t2"
rb_daemon_start || { fail "the daemon starts again"; for p in $AGENT $AGENT_B $TICKERS; do kill -9 "$p" 2>/dev/null; done; exit 0; }
sapi GET "/api/v1/sandboxes/$A"
expect_eq "after the restart: the record's paused state holds" "$(jf 'd.get("state")')" paused
t1=$(cat "/proc/${AGENT:-0}/root/tmp/tick" 2>/dev/null)
sleep 0.3
t2=$(cat "/proc/${AGENT:-0}/root/tmp/tick" 2>/dev/null)
expect_eq "after the restart: the sandbox is frozen again (the ticker stands still)" "$t2" "$t1"
sapi POST "/api/v1/sandboxes/$A/resume" ''
expect_eq "after the restart: it resumes" "$STATUS" 200
expect_eq "after the restart: its files are as they were" "$(inside "$A" 'cat /workspace/f')" kept
sapi GET "/api/v1/sandboxes/$B"
expect_eq "after SIGTERM and a restart: the running sandbox is running" "$(jf 'd.get("state")')" running
expect_eq "after the restart: exec in it works" "$(inside "$B" 'echo ok')" ok

# an agent that dies while no daemon runs: its sandbox is lost, and cleaned up
kill -9 "$RB_DAEMON_PID"
wait "$RB_DAEMON_PID" 2>/dev/null
RB_DAEMON_PID=""
kill -9 "${AGENT_B:-0}"
sleep 0.2
if ! rb_daemon_start; then
	fail "the daemon starts again after its sandbox's agent died"
	for p in $AGENT $TICKERS; do kill -9 "$p" 2>/dev/null; done
	exit 0
fi
sapi GET "/api/v1/sandboxes/$B"
expect_eq "an agent dead while the daemon was down: the sandbox is terminated" "$(jf 'd.get("state")')" terminated
expect_eq "it says why: lost" "$(jf 'd.get("terminationReason")')" lost
left=$(sb_host_pids "$B" | while read -r p; do running "$p" && echo "$p"; done | tr '\n' ' ')
expect_eq "nothing of it is left running" "$left" ""
sapi GET "/api/v1/sandboxes/$A"
expect_eq "the other sandbox is still taken back" "$(jf 'd.get("state")')" running

# an agent that cannot answer (stopped while no daemon ran) does not hold up the next start:
# it is given up within seconds, and its sandbox swept
sb_new "a sandbox whose agent will be stopped" || exit 0
C=$SB_ID
AGENT_C=$(agent_of "$C")
kill -9 "$RB_DAEMON_PID"
wait "$RB_DAEMON_PID" 2>/dev/null
RB_DAEMON_PID=""
kill -STOP "${AGENT_C:-0}"
t0=$(date +%s%N)
if ! rb_daemon_start; then
	fail "the daemon starts although an agent does not answer"
	for p in $AGENT $AGENT_C $TICKERS; do kill -9 "$p" 2>/dev/null; done
	exit 0
fi
ms=$((($(date +%s%N) - t0) / 1000000))
check "a stopped agent: the daemon answers within 10 s ($ms ms)" test "$ms" -lt 10000
sapi GET "/api/v1/sandboxes/$C"
expect_eq "a stopped agent: its sandbox is terminated, lost" \
	"$(jf 'd.get("state") + " " + str(d.get("terminationReason"))')" "terminated lost"
sleep 0.2
check "a stopped agent: it is gone" bash -c "! { [ -r /proc/${AGENT_C:-0}/stat ] && [ \"\$(awk '{ print \$3 }' /proc/${AGENT_C:-0}/stat)\" != Z ]; }"
sapi GET "/api/v1/sandboxes/$A"
expect_eq "the sandbox beside it is taken back" "$(jf 'd.get("state")')" running

# --stop-sandboxes: a clean stop ends them
rb_daemon_stop
if ! rb_daemon_start --stop-sandboxes; then
	fail "the daemon starts with --stop-sandboxes"
	for p in $AGENT $TICKERS; do kill -9 "$p" 2>/dev/null; done
	exit 0
fi
rb_daemon_stop
sleep 0.2
check "--stop-sandboxes: the sandbox's agent is gone after the stop" bash -c "! { [ -r /proc/${AGENT:-0}/stat ] && [ \"\$(awk '{ print \$3 }' /proc/${AGENT:-0}/stat)\" != Z ]; }"
rb_daemon_start || exit 0
sapi GET "/api/v1/sandboxes/$A"
expect_eq "--stop-sandboxes: the record says terminated" "$(jf 'd.get("state")')" terminated
# nothing of ours survives the suite, whatever happened above
for p in $AGENT $AGENT_B ${AGENT_C:-} $TICKERS; do running "$p" && kill -9 "$p"; done
exit 0
