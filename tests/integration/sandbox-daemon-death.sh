#!/usr/bin/env bash
# The agent outlives its daemon (issue 3): kill -9 of the daemon leaves every sandbox's agent and
# processes running, untouched. A daemon started again on the same state directory then either
# takes the sandbox back (usable) or ends it (terminated, its processes gone): nothing is left
# running that no daemon knows of.
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

# again, on the same state: the sandbox is either back or cleanly ended
if ! rb_daemon_start; then
	fail "the daemon starts again on the same state directory"
	for p in $AGENT $TICKERS; do kill -9 "$p" 2>/dev/null; done
	exit 0
fi
pass "the daemon starts again on the same state directory"
sapi GET "/api/v1/sandboxes/$A"
expect_eq "after the restart the sandbox's record is there" "$STATUS" 200
state=$(jf 'd.get("state")')
case "$state" in
running)
	expect_eq "after the restart: exec works in the sandbox taken back" \
		"$(inside "$A" 'test -s /tmp/tick && echo ok')" ok
	;;
terminated)
	sleep 0.3
	left=""
	for p in $AGENT $TICKERS; do running "$p" && left+="$p "; done
	expect_eq "after the restart: the sandbox it ended has no process left" "$left" ""
	expect_eq "after the restart: the ended sandbox says why" "$(jf 'd.get("terminationReason")')" lost
	;;
*)
	fail "after the restart the sandbox is running or terminated, not '$state'"
	;;
esac
# nothing of ours survives the suite, whatever happened above
for p in $AGENT $TICKERS; do running "$p" && [ "$state" != running ] && kill -9 "$p"; done
exit 0
