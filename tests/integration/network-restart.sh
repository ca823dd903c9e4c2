#!/usr/bin/env bash
# Private sandboxes across daemon restarts (docs/api.md "Daemon restarts", docs/network.md
# "Restarts"): after kill -9 or SIGTERM of the daemon, the next one takes a private sandbox back
# with its network as it was: veth, address, NAT, egress policy (an IP and a domain through the
# DNS proxy), denied counts and exposed ports. While no daemon runs its filtering stays. A
# sandbox whose agent died meanwhile is swept as lost with its veth, chains and sets, and so is
# whatever else earlier daemons left in the table. In the world of network-common.bash, with
# dnsmasq in the wan as in network-dns.sh: nothing touches the machine's own namespace.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/network-common.bash"
net_dnsmasq_or_skip network-restart
net_preflight network-restart ss curl

world_dns() {
	net_world_dns "11 12 53" \
		--host-record=allowed.test,198.51.100.11 \
		--host-record=other.test,198.51.100.12
}
if ! world_dns; then
	fail "network-restart: build the test world"
	exit 1
fi
serve_http "$WAN" 0.0.0.0 8080
for p in "$WAN 198.51.100.11 8080" "$WAN 10.99.0.11 8080" "$WAN $RES 53"; do
	# shellcheck disable=SC2086
	wait_port $p || fail "network-restart: a test server on $p"
done
# (on exit, net_daemon_stop kills what is left of the sandboxes, should a case fail while no
# daemon runs)
start() {
	if net_daemon_start --dns-upstream $RES; then return 0; fi
	fail "the daemon starts: $(tail -5 "$RB_TEST_ROOT/daemon.log")"
	exit 1
}
start

expect_py() { if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$2" "$3"; then pass "$1"; else fail "$1: ${2:0:400}"; fi; }
resolves() { # ID NAME: the proxy gave an address
	sx "$1" "nslookup $2"
	[[ "$OUT" == *"Name:"*"Address"* ]]
}
refused_name() { # ID NAME: REFUSED, no address
	sx "$1" "nslookup $2"
	[[ "$OUT" == *REFUSED* ]] && [[ "$OUT" != *"Name:"*"Address"* ]]
}
denied_events() { # ID: the network.denied events of this daemon so far, as a JSON list
	curl -sN --max-time 1 --unix-socket "$RUNBOX_SOCKET" "http://runbox/api/v1/events?since=0&type=network.denied&sandboxId=$1" 2>/dev/null |
		python3 -c 'import json,sys; print(json.dumps([json.loads(l[5:]) for l in sys.stdin if l.startswith("data:")]))'
}
agent_of() { # ID: its agent's pid, as the registry has it
	python3 -c 'import sqlite3, sys; r = sqlite3.connect(sys.argv[1]).execute("select pid from agents where id=?", (sys.argv[2],)).fetchone(); print(r[0] if r else "")' \
		"$RUNBOX_STATE_DIR/sandboxes.db" "$1"
}
# from_sandbox ID ADDR PORT: connect from the sandbox's namespace with no daemon to ask (a
# process of the host entering only its network namespace); prints ok, refused or timeout
from_sandbox() {
	nsenter -t "$(agent_of "$1")" -n python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close(); print("ok")
except ConnectionRefusedError: print("refused")
except OSError as e: print("timeout" if isinstance(e, socket.timeout) else "error %s" % e)' "$2" "$3"
}
kill9() {
	kill -9 "$RB_DAEMON_PID"
	wait "$RB_DAEMON_PID" 2>/dev/null
	RB_DAEMON_PID=""
}
hget() { "${H[@]}" curl -sf --max-time 5 "$1"; }
# what the table holds of slot N: its chains and sets (and their number), and its map elements
objects_of() {
	table | grep -E "(chain (sb|in|deny)|set (dns4_|dns6_|dnsp4_|denied))$1 \{|\"rbv$1\"" | sed 's/^[[:space:]]*//'
}
has_table() { "${H[@]}" nft list table inet runbox >/dev/null 2>&1; }
chain_of() { "${H[@]}" nft list chain inet runbox "$1" 2>/dev/null | grep -v handle; }
port_url() { # ID PORT: the URL GET .../ports gives for PORT
	call GET "/api/v1/sandboxes/$1/ports"
	jget "[p['url'] for p in d if p['port'] == $2][0]" 2>/dev/null
}

# ---- a private sandbox with an allowlist (a domain, an IP) and an exposed port ----
if ! create '{"image":"runbox/default:latest","network":{"mode":"private","egress":{"allow":["allowed.test","10.99.0.11"],"default":"deny"},"ingress":{"allowPorts":[8000]}}}'; then
	fail "private sandbox created: $STATUS $BODY"
	exit 1
fi
A=$SB
call GET "/api/v1/sandboxes/$A/network"
A_ADDR=$(jget 'd["address"]')
A_GW=$(jget 'd["gateway"]')
A_IF=$(jget 'd["interface"]')
A_SLOT=${A_IF#rbv}
sx "$A" "mkdir -p /tmp/www && echo hello-a >/tmp/www/index.html && httpd -p 8000 -h /tmp/www </dev/null >/dev/null 2>&1; sleep 0.2; netstat -ltn"
expect_contains "the sandbox serves on 8000" "$OUT" ":8000"
URL_A=$(port_url "$A" 8000)
expect_eq "before: the exposed port answers" "$(hget "$URL_A/")" hello-a
check "before: allowed.test reachable by name" reach "$A" allowed.test 8080
check "before: 10.99.0.12 refused" refused "$A" 10.99.0.12 8080
# and a sandbox of mode none with a port: its port comes back too
if ! create '{"image":"runbox/default:latest","network":{"mode":"none","ingress":{"allowPorts":[8002]}}}'; then
	fail "a sandbox of mode none: $STATUS $BODY"
	exit 1
fi
N=$SB
sx "$N" "mkdir -p /tmp/www && echo hello-n >/tmp/www/index.html && httpd -p 8002 -h /tmp/www </dev/null >/dev/null 2>&1; sleep 0.2"
URL_N=$(port_url "$N" 8002)
expect_eq "before: mode none's port answers" "$(hget "$URL_N/")" hello-n
SB_CHAIN=$(chain_of "sb$A_SLOT")
IN_CHAIN=$(chain_of "in$A_SLOT")
OBJECTS=$(objects_of "$A_SLOT")
expect_eq "before: the slot's objects (3 chains, 4 sets, 2 map elements)" "$(wc -l <<<"$OBJECTS")" 9

# ---- kill -9 ----
kill9
check "kill -9: the veth stays" host_has_link "$A_IF"
expect_eq "kill -9: the chains, sets and map elements stay" "$(objects_of "$A_SLOT")" "$OBJECTS"
expect_eq "no daemon: an allowed IP is still reached (NAT stays)" "$(from_sandbox "$A" 10.99.0.11 8080)" ok
expect_eq "no daemon: a denied IP is still refused (the filter stays)" "$(from_sandbox "$A" 10.99.0.12 8080)" refused
expect_eq "no daemon: the host's own services stay closed" "$(from_sandbox "$A" "$A_GW" 22)" refused

start
call GET "/api/v1/sandboxes/$A"
expect_eq "after kill -9 and a restart: running" "$(jget 'd["state"]')" running
expect_py "after the restart: the Sandbox object's network as before" "$BODY" \
	'd["network"] == {"mode": "private", "egress": {"allow": ["allowed.test", "10.99.0.11"], "default": "deny"}, "ingress": {"allowPorts": [8000]}}'
sx "$A" "echo ok"
expect_eq "after the restart: exec works" "$OUT" ok
call GET "/api/v1/sandboxes/$A/network"
expect_eq "after the restart: the same address, gateway and interface" \
	"$(jget 'd["address"] + " " + d["gateway"] + " " + d["interface"]')" "$A_ADDR $A_GW $A_IF"
# one refused before the kill, one while no daemon ran; and the gateway's port 22 once
expect_py "after the restart: the denied counts of before, and of while no daemon ran" "$BODY" \
	'sorted((x["address"], x["port"], x["count"]) for x in d["denied"]) == sorted([("10.99.0.12", 8080, 2), ("'"$A_GW"'", 22, 1)])'
expect_eq "after the restart: the proxy listens on the gateway again (UDP, TCP)" \
	"$("${H[@]}" ss -Hlnut | grep -c " $A_GW:53 ")" 2
check "after the restart: allowed.test resolves" resolves "$A" allowed.test
check "after the restart: allowed.test reachable by name" reach "$A" allowed.test 8080
check "after the restart: other.test REFUSED" refused_name "$A" other.test
check "after the restart: the allowed IP reachable" reach "$A" 10.99.0.11 8080
sleep 1.5
expect_eq "after the restart: old denials are not reported again" "$(denied_events "$A")" "[]"
check "after the restart: a non-allowed IP refused (reset, not a timeout)" refused "$A" 10.99.0.12 8080
sleep 1.5
expect_py "after the restart: a new denial is reported, counted on from before" "$(denied_events "$A")" \
	'[(e["data"]["address"], e["data"]["port"], e["data"]["count"]) for e in d] == [("10.99.0.12", 8080, 3)]'
call GET "/api/v1/sandboxes/$A/network"
expect_py "after the restart: GET network counts it" "$BODY" \
	'("10.99.0.12", 8080, 3) in [(x["address"], x["port"], x["count"]) for x in d["denied"]]'
expect_eq "after the restart: the port has its URL of before" "$(port_url "$A" 8000)" "$URL_A"
expect_eq "after the restart: the port answers from the host's loopback" "$(hget "$URL_A/")" hello-a
call GET "/api/v1/sandboxes/$N/network"
expect_eq "mode none, after the restart: GET network answers" "$STATUS $(jget 'd["mode"]')" "200 none"
expect_eq "mode none, after the restart: its port has its URL of before" "$(port_url "$N" 8002)" "$URL_N"
expect_eq "mode none, after the restart: the port answers" "$(hget "$URL_N/")" hello-n
expect_eq "after the restart: the sandbox's chain sb<N> as before, rebuilt once" "$(chain_of "sb$A_SLOT")" "$SB_CHAIN"
expect_eq "after the restart: its chain in<N> as before" "$(chain_of "in$A_SLOT")" "$IN_CHAIN"
expect_eq "after the restart: the slot's objects as before" "$(objects_of "$A_SLOT")" "$OBJECTS"

# ---- SIGTERM, paused, its host port taken meanwhile ----
call POST "/api/v1/sandboxes/$A/pause" ''
expect_eq "pause before a clean stop" "$STATUS" 200
rb_daemon_stop
check "SIGTERM: the veth stays" host_has_link "$A_IF"
expect_eq "SIGTERM: the chains, sets and map elements stay" "$(objects_of "$A_SLOT")" "$OBJECTS"
check "SIGTERM: the table stays while a private sandbox runs" has_table
expect_eq "SIGTERM: no proxy socket left" "$("${H[@]}" ss -Hlnut | grep -c " $A_GW:53 ")" 0
expect_eq "no daemon: a denied IP is still refused" "$(from_sandbox "$A" 10.99.0.12 8080)" refused
HP=${URL_A##*:}
"${H[@]}" python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(120)' "$HP" &
TAKER=$!
PIDS+=("$TAKER")
wait_port "$HOST" 127.0.0.1 "$HP" || fail "something else listens on the port's host port"
start
call GET "/api/v1/sandboxes/$A"
expect_eq "after SIGTERM and a restart: still paused" "$(jget 'd["state"]')" paused
call POST "/api/v1/sandboxes/$A/resume" ''
expect_eq "it resumes" "$STATUS" 200
check "after SIGTERM: allowed.test reachable by name" reach "$A" allowed.test 8080
check "after SIGTERM: other.test REFUSED" refused_name "$A" other.test
check "after SIGTERM: 10.99.0.12 refused" refused "$A" 10.99.0.12 8080
URL_A2=$(port_url "$A" 8000)
check "its host port taken meanwhile: the port gets another ($URL_A2)" test -n "$URL_A2" -a "$URL_A2" != "$URL_A"
expect_eq "the other URL answers" "$(hget "$URL_A2/")" hello-a
curl -sN --max-time 1 --unix-socket "$RUNBOX_SOCKET" "http://runbox/api/v1/events?since=0&type=port.exposed&sandboxId=$A" >"$RB_TEST_ROOT/ports.sse" 2>/dev/null
expect_contains "port.exposed says the new URL" "$(cat "$RB_TEST_ROOT/ports.sse")" "\"url\":\"$URL_A2\""
kill "$TAKER" 2>/dev/null
expect_eq "the slot's objects as before" "$(objects_of "$A_SLOT")" "$OBJECTS"

# ---- an agent that dies while no daemon runs; leftovers of sandboxes no longer recorded ----
if ! create '{"image":"runbox/default:latest","network":{"mode":"private","egress":{"allow":["10.99.0.11"]},"ingress":{"allowPorts":[8001]}}}'; then
	fail "a second private sandbox: $STATUS $BODY"
	exit 1
fi
B=$SB
call GET "/api/v1/sandboxes/$B/network"
B_IF=$(jget 'd["interface"]')
B_GW=$(jget 'd["gateway"]')
B_SLOT=${B_IF#rbv}
B_AGENT=$(agent_of "$B")
check "the second sandbox has its objects" test "$(objects_of "$B_SLOT" | wc -l)" = 9
kill9
kill -9 "$B_AGENT"
"${H[@]}" nft add chain inet runbox sb9999
"${H[@]}" nft add set inet runbox dns4_9999 '{ type ipv4_addr; }'
"${H[@]}" nft add element inet runbox fwd_map '{ "rbv9999" : jump sb9999 }'
"${H[@]}" ip link add rbv9999 type veth peer name rbtest9999
check "leftovers of no record made (a chain, a set, a map element, a link)" \
	test "$(objects_of 9999 | wc -l)" = 3 -a -n "$("${H[@]}" ip -o link show rbv9999 2>/dev/null)"
# and the veth of the sandbox that lives on, deleted from outside: it is made again
"${H[@]}" ip link del "$A_IF"
start
call GET "/api/v1/sandboxes/$B"
expect_eq "an agent dead while the daemon was down: terminated, lost" \
	"$(jget 'd["state"] + " " + str(d.get("terminationReason"))')" "terminated lost"
check_fails "its veth is gone" host_has_link "$B_IF"
expect_eq "its chains, sets and map elements are gone" "$(objects_of "$B_SLOT")" ""
expect_eq "no proxy socket on its gateway" "$("${H[@]}" ss -Hlnut | grep -c " $B_GW:53 ")" 0
T=$(table)
if [[ "$T" == *sb9999* ]] || [[ "$T" == *dns4_9999* ]]; then fail "leftovers of no record stay: $T"; else pass "leftovers of no record are removed from the table"; fi
check_fails "an rbv link of no record is removed" host_has_link rbv9999
call GET "/api/v1/sandboxes/$A"
expect_eq "the other sandbox is taken back" "$(jget 'd["state"]')" running
check "its veth, deleted while no daemon ran, is made again" host_has_link "$A_IF"
sx "$A" "ip -4 addr show eth0; ip route"
expect_contains "its eth0 has its address again" "$OUT" "inet $A_ADDR/30"
expect_contains "and its default route" "$OUT" "default via $A_GW"
check "and its network works" reach "$A" 10.99.0.11 8080
check "and its policy holds" refused "$A" 10.99.0.12 8080
check "and its names resolve" resolves "$A" allowed.test
expect_eq "its objects as before" "$(objects_of "$A_SLOT")" "$OBJECTS"

# ---- terminate: nothing left; a clean stop then removes the table ----
call DELETE "/api/v1/sandboxes/$N"
call DELETE "/api/v1/sandboxes/$A"
check_fails "after terminate: no veth left" "${H[@]}" sh -c "ip -o link show | grep -q ' rbv'"
T=$(table)
if [[ "$T" == *"chain sb"* ]] || [[ "$T" == *"chain in"[0-9]* ]] || [[ "$T" == *"chain deny"* ]] ||
	[[ "$T" == *"set dns"* ]] || [[ "$T" == *"set denied"* ]] || [[ "$T" == *'"rbv'[0-9]* ]]; then
	fail "after terminate: nftables objects left: $T"
else
	pass "after terminate: no chain, set or map element left"
fi
if "${H[@]}" ss -Hltn | grep -q "127.0.0.1:${URL_A2##*:} "; then fail "after terminate: its port's listener is left"; else pass "after terminate: no port listener left"; fi
grep -v '^TP ' "$RB_TEST_ROOT/daemon.log" | grep -i "error\|fatal\|warning" | head -5
rb_daemon_stop
check_fails "a clean stop with no private sandbox left removes the table" has_table

# ---- --stop-sandboxes: a clean stop ends private sandboxes, and their network goes ----
if net_daemon_start --dns-upstream $RES --stop-sandboxes; then
	if create '{"image":"runbox/default:latest","network":{"mode":"private"}}'; then
		C=$SB
		call GET "/api/v1/sandboxes/$C/network"
		C_IF=$(jget 'd["interface"]')
		rb_daemon_stop
		check_fails "--stop-sandboxes: the veth goes with the daemon" host_has_link "$C_IF"
		check_fails "--stop-sandboxes: so does the table" has_table
		start
		call GET "/api/v1/sandboxes/$C"
		expect_eq "--stop-sandboxes: the record says terminated" "$(jget 'd["state"] + " " + d["terminationReason"]')" "terminated daemon stopped"
		check_fails "and the next daemon makes no table" has_table
	else
		fail "--stop-sandboxes: a private sandbox: $STATUS $BODY"
	fi
else
	fail "the daemon starts with --stop-sandboxes"
fi

# ---- a lost private sandbox whose table is gone too: nothing to sweep, and no complaint ----
if create '{"image":"runbox/default:latest","network":{"mode":"private"}}'; then
	D=$SB
	D_AGENT=$(agent_of "$D")
	kill9
	kill -9 "$D_AGENT"
	"${H[@]}" nft delete table inet runbox
	start
	call GET "/api/v1/sandboxes/$D"
	expect_eq "no table left: the sandbox is lost" "$(jget 'd["state"] + " " + d["terminationReason"]')" "terminated lost"
	check_fails "no table left: none is made" has_table
	check_fails "no table left: no warning" grep -q "earlier daemons" "$RB_TEST_ROOT/daemon.log"
else
	fail "a last private sandbox: $STATUS $BODY"
fi
