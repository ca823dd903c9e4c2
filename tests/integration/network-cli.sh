#!/usr/bin/env bash
# network.denied events and the network CLI (docs/network.md, docs/cli.md): a denied
# destination becomes an event when it first appears and when its count grows; runbox
# run/create --network --allow --deny-by-default -p, runbox network ID [set], runbox port. In
# the test world of network-common.bash: nothing touches the machine's own namespace.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/network-common.bash"
net_preflight network-cli curl

if ! build_world; then
	fail "network-cli: build the test world"
	exit 1
fi
serve_http "$WAN" 0.0.0.0 8080
wait_port "$WAN" 10.99.0.11 8080 || fail "network-cli: the wan's server"
net_daemon_start || {
	fail "network-cli: the daemon starts"
	exit 1
}
expect_py() { if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$2" "$3"; then pass "$1"; else fail "$1: ${2:0:400}"; fi; }
rb() { "$RUNBOX" --socket "$RUNBOX_SOCKET" "$@"; }
denied_events() { # sandbox: the network.denied events so far, as a JSON list
	curl -sN --max-time 1 --unix-socket "$RUNBOX_SOCKET" "http://runbox/api/v1/events?since=0&type=network.denied&sandboxId=$1" 2>/dev/null |
		python3 -c 'import json,sys; print(json.dumps([json.loads(l[5:]) for l in sys.stdin if l.startswith("data:")]))'
}

# ---- the CLI's flags at create ----
out=$(rb create --network private --allow 10.99.0.11 --allow 10.99.5.0/24:8081 --deny-by-default -p 8000 -p 8001 runbox/default:latest 2>"$RB_TEST_ROOT/create.err")
A=$(printf '%s' "$out" | head -1)
expect_contains "create --network ... prints the id" "$A" "sb_"
expect_contains "create -p prints each port's URL on stderr" "$(cat "$RB_TEST_ROOT/create.err")" "8000 -> http://127.0.0.1:"
call GET "/api/v1/sandboxes/$A"
expect_py "create flags: the SandboxConfig's network" "$BODY" \
	'd["network"] == {"mode": "private", "egress": {"allow": ["10.99.0.11", "10.99.5.0/24:8081"], "default": "deny"}, "ingress": {"allowPorts": [8000, 8001]}}'
out=$(rb port "$A")
expect_contains "runbox port ID: every port" "$out" "8001 -> http://127.0.0.1:"
out=$(rb port "$A" 8000)
if [[ "$out" =~ ^http://127\.0\.0\.1:[0-9]+$ ]]; then pass "runbox port ID PORT: the URL alone"; else fail "runbox port ID 8000: $out"; fi
rb port "$A" 9 >/dev/null 2>&1
expect_eq "runbox port ID PORT not exposed: exit 1" "$?" 1
out=$(rb port --json "$A")
expect_py "runbox port --json: the Ports" "$out" 'sorted(p["port"] for p in d) == [8000, 8001]'
rb create --network bridge runbox/default:latest >/dev/null 2>&1
expect_eq "create --network bridge: a usage error" "$?" 2
rb create -p 0 runbox/default:latest >/dev/null 2>&1
expect_eq "create -p 0: a usage error" "$?" 2

# ---- network.denied ----
check "allowed: 10.99.0.11:8080" reach "$A" 10.99.0.11 8080
check "denied: 10.99.0.12:8080" refused "$A" 10.99.0.12 8080
sleep 2.2
EVS=$(denied_events "$A")
expect_py "network.denied for a new destination {address, port, count}" "$EVS" \
	'any(e["data"] == {"address": "10.99.0.12", "port": 8080, "count": 1} for e in d)'
expect_py "network.denied: one event, nothing for the allowed destination" "$EVS" 'len(d) == 1'
refused "$A" 10.99.0.12 8080
refused "$A" 10.99.0.12 8080
sleep 2.2
EVS=$(denied_events "$A")
expect_py "network.denied again when the count grows" "$EVS" \
	'd[-1]["data"]["address"] == "10.99.0.12" and d[-1]["data"]["count"] >= 2 and len(d) == 2'
sleep 1.2
expect_py "no network.denied while nothing more is denied" "$(denied_events "$A")" 'len(d) == 2'

# ---- runbox network ----
out=$(rb network "$A")
expect_contains "runbox network: the mode" "$out" "Mode:       private"
expect_contains "runbox network: the default" "$out" "Egress:     default deny"
expect_contains "runbox network: the allowlist" "$out" "allow     10.99.5.0/24:8081"
expect_contains "runbox network: the denied destinations" "$out" "10.99.0.12:8080"
out=$(rb network --json "$A")
expect_py "runbox network --json: GET .../network" "$out" 'd["mode"] == "private" and d["egress"]["default"] == "deny"'
out=$(rb network set "$A" --allow 10.99.0.12)
expect_contains "runbox network set --allow: the new list" "$out" "allow     10.99.0.12"
expect_contains "runbox network set --allow keeps the default" "$out" "default deny"
check "network set took effect: 10.99.0.12:8080 reachable" reach "$A" 10.99.0.12 8080
check "network set replaced the list: 10.99.0.11 refused" refused "$A" 10.99.0.11 8080
out=$(rb network set "$A" --default allow)
expect_contains "runbox network set --default allow" "$out" "default allow"
expect_contains "runbox network set --default keeps the list" "$out" "allow     10.99.0.12"
check "default allow: 10.99.0.11 reachable again" reach "$A" 10.99.0.11 8080
rb network set "$A" >/dev/null 2>&1
expect_eq "runbox network set with nothing to set: a usage error" "$?" 2
rb network set "$A" --default maybe >/dev/null 2>&1
expect_eq "runbox network set --default maybe: a usage error" "$?" 2

# ---- run -p, --network none ----
out=$(rb run --rm --network none -p 7000 runbox/default:latest sh -c 'ip -o link | grep -c eth0; echo done' 2>"$RB_TEST_ROOT/run.err")
expect_contains "run --network none: no eth0" "$out" $'0\ndone'
expect_contains "run -p: the URL on stderr" "$(cat "$RB_TEST_ROOT/run.err")" "7000 -> http://127.0.0.1:"
rb rm -f "$A" >/dev/null

# ---- the default mode: private without a flag; the configuration file's "network" ----
out=$(rb run --rm runbox/default:latest sh -c 'ip -o -4 addr show eth0 | grep -c "inet 10.88."')
expect_eq "a daemon started without flags gives private networking by default" "$out" 1
net_daemon_stop
printf '{"network": {"defaultMode": "none", "pool": "10.77.0.0/16"}}' >"$RB_TEST_ROOT/net-config.json"
if net_daemon_start --config "$RB_TEST_ROOT/net-config.json"; then
	out=$(rb run --rm runbox/default:latest sh -c 'ip -o link | grep -c eth0; echo done')
	expect_contains "config network.defaultMode none: no eth0" "$out" $'0\ndone'
	out=$(rb run --rm --network private runbox/default:latest sh -c 'ip -o -4 addr show eth0')
	expect_contains "config network.pool: a private sandbox's address is from it" "$out" "inet 10.77."
	net_daemon_stop
else
	fail "the daemon starts with a network section in its configuration"
fi
if net_daemon_start --config "$RB_TEST_ROOT/net-config.json" --default-network private; then
	out=$(rb run --rm runbox/default:latest sh -c 'ip -o -4 addr show eth0')
	expect_contains "--default-network wins over the configuration file" "$out" "inet 10.77."
	net_daemon_stop
else
	fail "the daemon starts with --config and --default-network"
fi
