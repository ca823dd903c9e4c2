#!/usr/bin/env bash
# Domain allowlists end to end (docs/network.md, "DNS proxy"): the world of network.sh, with a
# real resolver (dnsmasq) in the wan and the daemon's proxy asking it. The wan's servers have
# addresses from the documentation range 198.51.100.0/24, which the proxy's rebinding filter
# lets through; rebind.test points at a private one (10.99.0.11). No packet leaves the test's
# namespaces.
#
#   wan  10.99.0.1 .11/24; 198.51.100.11 .12 .13 .14 .15 /24: HTTP on 8080 and 8081
#        198.51.100.53: dnsmasq on 53 (UDP, TCP), and 853 and 8080 listening (DNS-over-TLS's port,
#        and a control)
#   host runbox serve --default-network private --dns-upstream 198.51.100.53
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/network-common.bash"
net_dnsmasq_or_skip network-dns
net_preflight network-dns ss

world_dns() {
	net_world_dns "11 12 13 14 15 53" \
		--host-record=allowed.test,198.51.100.11 \
		--host-record=other.test,198.51.100.12 \
		--host-record=sub.wild.test,198.51.100.13 \
		--host-record=wild.test,198.51.100.14 \
		--host-record=ports.test,198.51.100.15 \
		--host-record=late.test,198.51.100.12 \
		--host-record=rebind.test,10.99.0.11 \
		--host-record=target.test,198.51.100.14 \
		--cname=alias.test,target.test
}
if ! world_dns; then
	fail "network-dns: build the test world"
	exit 1
fi
serve_http "$WAN" 0.0.0.0 8080
serve_http "$WAN" 0.0.0.0 8081
serve_http "$WAN" $RES 853
for p in "$WAN 198.51.100.11 8080" "$WAN 198.51.100.11 8081" "$WAN $RES 853" "$WAN $RES 53"; do
	# shellcheck disable=SC2086
	wait_port $p || fail "network-dns: a test server on $p"
done
check "world: the host resolves allowed.test at the wan's resolver" \
	"${H[@]}" python3 -c '
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x07allowed\x04test\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(q, (sys.argv[1], 53))
a = s.recv(512); sys.exit(0 if bytes([198, 51, 100, 11]) in a else 1)' $RES

if ! net_daemon_start --dns-upstream $RES; then
	fail "network-dns: the daemon starts"
	cat "$RB_TEST_ROOT/daemon.log"
	exit 1
fi

# resolves ID NAME: the proxy gave an address (ADDRS: the ones it printed)
resolves() {
	sx "$1" "nslookup $2"
	ADDRS=$(printf '%s\n' "$OUT" | sed -n '/^Name:/,$s/^Address[^:]*: *//p')
	[ -n "$ADDRS" ]
}
# refused_name ID NAME: REFUSED, no address
refused_name() {
	sx "$1" "nslookup $2"
	if [[ "$OUT" != *REFUSED* ]] || [[ "$OUT" == *"Name:"*"Address"* ]]; then
		echo "  $2: $OUT"
		return 1
	fi
}
listeners() { "${H[@]}" ss -Hlnut | grep -c " $1:53 "; }
check_gone() { [ "$(listeners "$1")" = 0 ]; }
check_both() { [ "$(listeners "$1")" = 2 ]; }

# ---- default deny with domains ----
POLICY='{"default":"deny","allow":["allowed.test","*.wild.test","ports.test:8081","rebind.test","alias.test"]}'
if ! create "{\"image\":\"runbox/default:latest\",\"network\":{\"mode\":\"private\",\"egress\":$POLICY}}"; then
	fail "sandbox with domain entries created: $STATUS $BODY"
	cat "$RB_TEST_ROOT/daemon.log"
	exit 1
fi
A=$SB
call GET "/api/v1/sandboxes/$A/network"
A_GW=$(jget 'd["gateway"]')
sx "$A" "cat /etc/resolv.conf"
expect_contains "resolv.conf names the gateway" "$OUT" "nameserver $A_GW"
check "the proxy listens on the gateway's port 53 (UDP and TCP)" check_both "$A_GW"

check "allowed.test resolves" resolves "$A" allowed.test
expect_eq "allowed.test: the wan's address" "$ADDRS" 198.51.100.11
check "allowed.test reachable on 8080 by name" reach "$A" allowed.test 8080
check "allowed.test reachable on 8081 (any port)" reach "$A" 198.51.100.11 8081
check "*.wild.test: sub.wild.test resolves" resolves "$A" sub.wild.test
check "*.wild.test: sub.wild.test reachable" reach "$A" 198.51.100.13 8080
check "*.wild.test does not match wild.test (REFUSED)" refused_name "$A" wild.test
check "wild.test's address unreachable" refused "$A" 198.51.100.14 8080
check "a CNAME to a name outside the list: the allowed alias resolves" resolves "$A" alias.test
expect_eq "alias.test: its target's address" "$ADDRS" 198.51.100.14
check "alias.test's address reachable once resolved" reach "$A" 198.51.100.14 8080
check "ports.test:8081 resolves" resolves "$A" ports.test
check "ports.test: its port (8081) reachable" reach "$A" 198.51.100.15 8081
check "ports.test: another port (8080) refused" refused "$A" 198.51.100.15 8080
check "other.test REFUSED" refused_name "$A" other.test
check "other.test's address unreachable by literal" refused "$A" 198.51.100.12 8080
sx "$A" "nslookup rebind.test"
if [[ "$OUT" != *10.99.0.11* ]]; then pass "rebind.test: the private address is dropped from the answer"; else fail "rebinding: $OUT"; fi
check "rebind.test's private address unreachable" refused "$A" 10.99.0.11 8080
sx "$A" "nslookup allowed.test $RES"
if [[ "$OUT" != *198.51.100.11* ]]; then pass "DNS straight to the wan's resolver blocked"; else fail "direct DNS: $OUT"; fi
check "TCP/53 to the wan's resolver refused" refused "$A" $RES 53
check "TCP/853 (DNS over TLS) refused" refused "$A" $RES 853

call GET "/api/v1/sandboxes/$A/network"
DNS=$(jget 'json.dumps(d["dns"], sort_keys=True)')
if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["allowed"]>=5 and d["refused"]>=2 and d["rebinding"]>=1 and d["failed"]==0 else 1)' "$DNS"; then
	pass "GET network: dns stats count allowed, refused and rebinding ($DNS)"
else
	fail "GET network: dns stats: $DNS"
fi

# ---- PATCH: a domain more, at once ----
check "late.test REFUSED before the PATCH" refused_name "$A" late.test
call PATCH "/api/v1/sandboxes/$A/network" "{\"egress\":{\"default\":\"deny\",\"allow\":[\"allowed.test\",\"late.test:8081\"]}}"
expect_eq "PATCH adding late.test answers 200" "$STATUS" 200
check "PATCH took effect: late.test resolves" resolves "$A" late.test
check "late.test:8081 reachable" reach "$A" 198.51.100.12 8081
check "late.test on 8080 refused (its entry names 8081)" refused "$A" 198.51.100.12 8080
check "PATCH dropped *.wild.test: sub.wild.test REFUSED" refused_name "$A" sub.wild.test
check "PATCH flushed what the old policy let in (198.51.100.13)" refused "$A" 198.51.100.13 8080

# ---- default allow: every name resolves, but DNS goes only through the proxy ----
if create '{"image":"runbox/default:latest","network":{"mode":"private"}}'; then
	B=$SB
	call GET "/api/v1/sandboxes/$B/network"
	B_GW=$(jget 'd["gateway"]')
	check "default allow: other.test resolves through the proxy" resolves "$B" other.test
	check "default allow: other.test reachable" reach "$B" other.test 8080
	sx "$B" "nslookup other.test $RES"
	if [[ "$OUT" != *198.51.100.12* ]]; then pass "default allow: DNS straight to the wan's resolver still blocked"; else fail "default allow, direct DNS: $OUT"; fi
	check "default allow: TCP/853 still refused" refused "$B" $RES 853
	check "default allow: the resolver's other ports reachable (8080)" reach "$B" $RES 8080
	sx "$B" "nslookup rebind.test"
	if [[ "$OUT" != *10.99.0.11* ]]; then pass "default allow: rebinding dropped too"; else fail "default allow, rebinding: $OUT"; fi
	call DELETE "/api/v1/sandboxes/$B"
	check "after terminate: no proxy socket on B's gateway" check_gone "$B_GW"
else
	fail "default-allow sandbox created: $STATUS $BODY"
fi

# ---- mode none: the host's resolv.conf, no proxy ----
if create '{"image":"runbox/default:latest","network":{"mode":"none"}}'; then
	sx "$SB" "cat /etc/resolv.conf"
	if [[ "$OUT" != *"runbox: the DNS proxy"* ]]; then pass "mode none: the host's resolv.conf"; else fail "mode none resolv.conf: $OUT"; fi
	call GET "/api/v1/sandboxes/$SB/network"
	expect_eq "mode none: dns is null" "$(jget 'd["dns"]')" None
	call DELETE "/api/v1/sandboxes/$SB"
fi

call DELETE "/api/v1/sandboxes/$A"
check "after terminate: no proxy socket on A's gateway" check_gone "$A_GW"

# ---- a create that fails late leaves no proxy behind ----
call POST /api/v1/sandboxes "{\"image\":\"runbox/default:latest\",\"workdir\":\"/proc/sys/nope\",\"network\":{\"egress\":$POLICY}}"
if [ "$STATUS" -ge 400 ]; then pass "a create that fails late fails ($STATUS)"; else fail "a create that fails late: $STATUS $BODY"; fi
if "${H[@]}" ss -Hlnut | grep -q ':53 '; then
	fail "after a failed create: a proxy socket is left: $("${H[@]}" ss -Hlnut)"
else
	pass "after a failed create: no proxy socket left"
fi
T=$(table)
if [[ "$T" == *"set dns"* ]] || [[ "$T" == *"chain sb"* ]]; then fail "nftables objects left: $T"; else pass "no chain or set left"; fi
grep -v '^TP ' "$RB_TEST_ROOT/daemon.log" | grep -i "error\|fatal" | head -5
rb_daemon_stop
if "${H[@]}" ss -Hlnut | grep -q ':53 '; then fail "a stopped daemon leaves a proxy socket"; else pass "a stopped daemon leaves no proxy socket"; fi
