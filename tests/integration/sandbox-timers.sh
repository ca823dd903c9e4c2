#!/usr/bin/env bash
# The sandboxes' clocks (issue 4): timeoutMs ends a sandbox with reason timeout, POST .../timeout
# starts a new lifetime from now, idleTimeoutMs pauses a sandbox nobody uses (0: never), the
# deadline holds across a daemon restart, and terminated records go after --keep-terminated.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup --keep-terminated 2

state_of() { sapi GET "/api/v1/sandboxes/$1"; jf 'd.get("state")'; }
# wait_state ID STATE SECONDS: until the sandbox is in STATE, or the time is up
wait_state() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(state_of "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# a lifetime
sb_new "create with timeoutMs 1500" "$(j image="$SB_IMAGE" timeoutMs:=1500 idleTimeoutMs:=0)" || exit 0
T=$SB_ID
sapi GET "/api/v1/sandboxes/$T"
check "expiresAt is createdAt + timeoutMs" python3 -c '
import json, sys, datetime
d = json.loads(sys.argv[1])
f = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
sys.exit(0 if (f(d["expiresAt"]) - f(d["createdAt"])).total_seconds() == 1.5 else 1)' "$BODY"
expect_eq "running before its time" "$(state_of "$T")" running
check "terminated when its time is up" wait_state "$T" terminated 4
sapi GET "/api/v1/sandboxes/$T"
expect_eq "the reason is timeout" "$(jf 'd.get("terminationReason")')" timeout
expect_eq "nothing of it runs" "$(sb_host_pids "$T" | tr '\n' ' ')" ""

# keep-alive
sb_new "create with timeoutMs 1500 (keep-alive)" "$(j image="$SB_IMAGE" timeoutMs:=1500 idleTimeoutMs:=0)" || exit 0
K=$SB_ID
sleep 1
sapi POST "/api/v1/sandboxes/$K/timeout" '{"timeoutMs": 3000}'
expect_eq "POST .../timeout answers 200" "$STATUS" 200
expect_eq "it sets timeoutMs" "$(jf 'd.get("timeoutMs")')" 3000
sleep 1.5
expect_eq "keep-alive: still running past the first deadline" "$(state_of "$K")" running
check "keep-alive: terminated at the new deadline" wait_state "$K" terminated 3
sb_new "a sandbox for bad keep-alives" "$(j image="$SB_IMAGE" idleTimeoutMs:=0)" || exit 0
for bad in '{"timeoutMs": 0}' '{"timeoutMs": 86400001}' '{"timeoutMs": "x"}' '{"timeoutMs": 1.5}' '{}' 'nope'; do
	sapi POST "/api/v1/sandboxes/$SB_ID/timeout" "$bad"
	check "keep-alive $bad is refused with 400" test "$STATUS" = 400
done
sapi POST "/api/v1/sandboxes/sb_nosuchbox0/timeout" '{"timeoutMs": 1000}'
expect_eq "keep-alive of an unknown sandbox: 404" "$STATUS" 404
sapi DELETE "/api/v1/sandboxes/$SB_ID"
sapi POST "/api/v1/sandboxes/$SB_ID/timeout" '{"timeoutMs": 1000}'
expect_eq "keep-alive of a terminated sandbox: 409" "$STATUS" 409

# idleness
sb_new "create with idleTimeoutMs 1000" "$(j image="$SB_IMAGE" idleTimeoutMs:=1000)" || exit 0
I=$SB_ID
for _ in 1 2 3 4 5 6; do
	sx "$I" true
	sleep 0.4
done
expect_eq "idle: requests every 0.4 s keep it running" "$(state_of "$I")" running
expect_eq "idle: a request in flight longer than idleTimeoutMs is not cut" \
	"$(inside "$I" 'sleep 1.6; echo done')" "done"
check "idle: paused after 1 s without requests" wait_state "$I" paused 3
sapi GET "/api/v1/sandboxes/$I"
check "idle: pausedAt is set" test -n "$(jf 'd.get("pausedAt") or ""')"
sx "$I" 'echo back' autoResume:=true
expect_eq "idle: autoResume brings it back" "$OUT" $'back\n'
expect_eq "idle: running after autoResume" "$(state_of "$I")" running

sb_new "create with idleTimeoutMs 0" "$(j image="$SB_IMAGE" idleTimeoutMs:=0)" || exit 0
Z=$SB_ID
sleep 1.5
expect_eq "idleTimeoutMs 0: never paused" "$(state_of "$Z")" running

# the deadline holds across a restart
sb_new "create with timeoutMs 3000 (restart)" "$(j image="$SB_IMAGE" timeoutMs:=3000 idleTimeoutMs:=0)" || exit 0
R=$SB_ID
kill -9 "$RB_DAEMON_PID"
wait "$RB_DAEMON_PID" 2>/dev/null
RB_DAEMON_PID=""
rb_daemon_start --keep-terminated 2 || { fail "the daemon starts again"; exit 0; }
expect_eq "after a restart: still running before its deadline" "$(state_of "$R")" running
check "after a restart: terminated at the deadline set before it" wait_state "$R" terminated 5
sapi GET "/api/v1/sandboxes/$R"
expect_eq "after a restart: the reason is timeout" "$(jf 'd.get("terminationReason")')" timeout

# retention: --keep-terminated 2
sapi DELETE "/api/v1/sandboxes/$Z"
sapi GET "/api/v1/sandboxes/$Z"
expect_eq "a terminated sandbox is listed at first" "$STATUS" 200
gone=""
for ((i = 0; i < 60; i++)); do
	sapi GET "/api/v1/sandboxes/$Z"
	[ "$STATUS" = 404 ] && { gone=1; break; }
	sleep 0.1
done
check "--keep-terminated 2: its record is gone a few seconds later" test -n "$gone"
sapi GET "/api/v1/sandboxes/$I"
expect_eq "a live sandbox's record stays" "$STATUS" 200
exit 0
