#!/usr/bin/env bash
# One daemon's private networking per network namespace (docs/network.md "One daemon per
# namespace"): the table a daemon makes carries its state directory as its comment; a daemon of
# another state directory in the same namespace refuses private sandboxes with a message naming
# the owner, never replaces or sweeps the table or its veths, so the first daemon's sandboxes
# stay filtered; mode none still works there. In the world of network-common.bash.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/network-common.bash"
net_preflight network-owner curl

if ! build_world; then
	fail "network-owner: build the test world"
	exit 1
fi
serve_http "$WAN" 0.0.0.0 8080
wait_port "$WAN" 10.99.0.12 8080 || fail "network-owner: the wan's server"
net_daemon_start || {
	fail "network-owner: the first daemon starts"
	exit 1
}

# the second daemon: same namespace, its own socket and state
SOCK2=$RB_TEST_ROOT/two.sock
STATE2=$RB_TEST_ROOT/state-two
D2=""
two_stop() {
	local id
	[ -n "$D2" ] || return 0
	for id in $(curl -s --max-time 10 --unix-socket "$SOCK2" "http://runbox/api/v1/sandboxes?limit=100" |
		python3 -c 'import json,sys; [print(s["id"]) for s in json.load(sys.stdin).get("data", []) if s["state"] != "terminated"]' 2>/dev/null); do
		curl -s -o /dev/null --max-time 30 --unix-socket "$SOCK2" -X DELETE "http://runbox/api/v1/sandboxes/$id"
	done
	kill "$D2" 2>/dev/null
	wait "$D2" 2>/dev/null
	D2=""
}
two_start() {
	local i
	nsenter --net=/run/netns/"$HOST" "$RUNBOX" serve --socket "$SOCK2" --state-dir "$STATE2" \
		>>"$RB_TEST_ROOT/daemon-two.log" 2>&1 &
	D2=$!
	for ((i = 0; i < 200; i++)); do
		curl -sf --unix-socket "$SOCK2" http://x/api/v1/health >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
call2() { # METHOD PATH [BODY]: STATUS and BODY, from the second daemon
	local out
	out=$(curl -s --unix-socket "$SOCK2" -X "$1" -w '\n%{http_code}' \
		${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://runbox$2")
	STATUS=${out##*$'\n'}
	BODY=${out%$'\n'*}
}
rb_on_exit two_stop

create '{"image":"runbox/default","network":{"mode":"private","egress":{"default":"deny","allow":["10.99.0.11"]}}}' ||
	{ fail "the first daemon creates a private sandbox: $STATUS $BODY"; exit 1; }
A=$SB
real_state=$(realpath "$RUNBOX_STATE_DIR")
expect_contains "the table's comment names the daemon's state directory" "$(table | head -3)" "comment \"$real_state\""
check "before: the first sandbox's allowed address is reachable" reach "$A" 10.99.0.11 8080
check "before: another address is refused" refused "$A" 10.99.0.12 8080
rules_before=$(table | grep -c .)

if ! two_start; then
	fail "a second daemon (another state directory) starts in the same namespace: $(tail -3 "$RB_TEST_ROOT/daemon-two.log")"
	exit 1
fi
pass "a second daemon (another state directory) starts in the same namespace"
call2 POST /api/v1/sandboxes '{"image":"runbox/default","network":{"mode":"private"}}'
if [ "$STATUS" -ge 400 ] && [[ "$BODY" == *"belongs to the runbox daemon of $real_state"* ]]; then
	pass "the second daemon refuses a private sandbox, naming the table's owner ($STATUS)"
else
	fail "the second daemon's private create: $STATUS ${BODY:0:400}"
fi
call2 GET "/api/v1/sandboxes?state=running"
expect_eq "the refused create left no sandbox" "$(jget 'd["pagination"]["total"]')" 0
call2 POST /api/v1/sandboxes '{"image":"runbox/default"}'
expect_contains "a sandbox without a mode is refused too (private is the default)" "$STATUS $BODY" "belongs to the runbox daemon"
call2 POST /api/v1/sandboxes '{"image":"runbox/default","network":{"mode":"none"}}'
expect_eq "mode none works beside the other daemon" "$STATUS" 201
expect_eq "the table is the same, rule for rule" "$(table | grep -c .)" "$rules_before"
expect_contains "the table still names the first daemon" "$(table | head -3)" "comment \"$real_state\""
check "the first sandbox's veth is there" host_has_link rbv
check "after: the first sandbox's allowed address is reachable" reach "$A" 10.99.0.11 8080
check "after: another address is still refused" refused "$A" 10.99.0.12 8080

# a restart of the second daemon does not sweep the first daemon's veths or table either, even
# with a private sandbox of its own to clean up after (a record left creating, as by a crash:
# that is what makes a daemon sweep its namespace's rbv links and chains at start)
two_stop
python3 -c '
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("insert into sandboxes(id, state, image, created_at, slot, doc) values(?,?,?,?,?,?)",
           ("sb_crashpriv0", "creating", "runbox/default", int(time.time() * 1000), 1,
            "{\"id\": \"sb_crashpriv0\", \"state\": \"creating\", \"image\": \"runbox/default\", \"network\": {\"mode\": \"private\"}}"))
db.commit()' "$STATE2/sandboxes.db" || fail "a private record left creating in the second daemon's registry"
two_start || fail "the second daemon starts again"
call2 GET /api/v1/sandboxes/sb_crashpriv0
expect_eq "the second daemon swept its own crashed private create" "$(jget 'd["state"] + " " + d.get("terminationReason", "")')" "terminated lost"
check "a restart of the second daemon leaves the first's veth" host_has_link rbv
expect_eq "... and its table" "$(table | grep -c .)" "$rules_before"
check "the first sandbox is still filtered" refused "$A" 10.99.0.12 8080

# once the first daemon has no private sandbox and stops, its table goes and the namespace is
# free for the second one
call DELETE "/api/v1/sandboxes/$A"
net_daemon_stop
if table >/dev/null; then fail "the first daemon's table outlived it"; else pass "the first daemon's table went with it"; fi
call2 POST /api/v1/sandboxes '{"image":"runbox/default","network":{"mode":"private"}}'
expect_eq "the second daemon now makes private sandboxes" "$STATUS" 201
expect_contains "... under a table with its own name" "$(table | head -3)" "comment \"$(realpath "$STATE2")\""
two_stop
if table >/dev/null; then fail "the second daemon's table outlived it"; else pass "no table left"; fi
