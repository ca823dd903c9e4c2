#!/usr/bin/env bash
# Network policy (docs/network.md) in a world of its own: a "wan" namespace with HTTP servers on
# addresses of its own, a "host" namespace whose uplink is that wan, and the daemon under test
# running in the host namespace. Nothing here touches the machine's own namespace, tables,
# routes or sysctls, and no packet leaves these namespaces.
#
#   wan  (10.99.0.1 .11 .12 /24, 10.99.5.1/24, 169.254.169.254, fd00:99::1): servers on 8080, 8081
#    │ veth
#   host (10.99.0.2, fd00:99::2; default route via the wan; ip_forward on here only):
#        runbox serve --default-network private; servers on 127.0.0.1:9090 and *:9091
#    │ rbv<slot> ... eth0: the sandboxes, 10.88.x.y/30
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/network-common.bash"
net_preflight network

if ! build_world; then
	fail "network: build the test world"
	exit 1
fi
serve_http "$WAN" 0.0.0.0 8080
serve_http "$WAN" 0.0.0.0 8081
serve_http "$WAN" :: 8082
serve_http "$HOST" 127.0.0.1 9090
serve_http "$HOST" 0.0.0.0 9091
for p in "$WAN 10.99.0.1 8080" "$WAN 10.99.0.1 8081" "$WAN fd00:99::1 8082" "$HOST 127.0.0.1 9090" "$HOST 10.99.0.2 9091"; do
	# shellcheck disable=SC2086
	wait_port $p || fail "network: a test server on $p"
done
check "world: the host reaches the wan (NAT has somewhere to go)" \
	"${H[@]}" curl -sf -o /dev/null http://10.99.0.11:8080/
check "world: the host reaches 169.254.169.254 (so blocking it means something)" \
	"${H[@]}" curl -sf -o /dev/null http://169.254.169.254:8080/
check "world: the host reaches its own loopback service" \
	"${H[@]}" curl -sf -o /dev/null http://127.0.0.1:9090/
check "world: the host reaches the wan over IPv6" \
	"${H[@]}" curl -sf -o /dev/null "http://[fd00:99::1]:8082/"

net_daemon_start

# ---- private mode, default allow ----
if ! create '{"image":"runbox/default:latest"}'; then
	fail "private sandbox created: $STATUS $BODY"
	cat "$RB_TEST_ROOT/daemon.log"
	exit 1
fi
A=$SB
call GET "/api/v1/sandboxes/$A/network"
expect_eq "GET network: mode private" "$(jget 'd["mode"]')" private
A_ADDR=$(jget 'd["address"]')
A_GW=$(jget 'd["gateway"]')
A_IF=$(jget 'd["interface"]')
expect_contains "GET network: an address from the pool" "$A_ADDR" "10.88."
call GET "/api/v1/sandboxes/$A"
expect_eq "the Sandbox object says mode private" "$(jget 'd["network"]["mode"]')" private
sx "$A" "ip -4 addr show eth0; ip route; ip link show lo"
expect_contains "the sandbox has its address on eth0" "$OUT" "inet $A_ADDR/30"
expect_contains "the sandbox's default route is its gateway" "$OUT" "default via $A_GW"
expect_contains "the sandbox's loopback is up" "$OUT" "LOOPBACK,UP"
check "default allow: reaches 10.99.0.11:8080" reach "$A" 10.99.0.11 8080
check "default allow: reaches 10.99.0.12:8081" reach "$A" 10.99.0.12 8081
check "host loopback service (127.0.0.1:9090 in the daemon's netns) unreachable" refused "$A" 127.0.0.1 9090
check "the gateway's other ports unreachable ($A_GW:9091)" refused "$A" "$A_GW" 9091
check "the gateway's loopback-bound port unreachable ($A_GW:9090)" refused "$A" "$A_GW" 9090
check "the host's uplink address unreachable (10.99.0.2:9091)" refused "$A" 10.99.0.2 9091
check "metadata 169.254.169.254 blocked, fast" refused "$A" 169.254.169.254 8080
sx "$A" "nc -w 3 fd00:99::1 8082 </dev/null; ip -6 route; ip -6 addr show scope global"
if [[ "$OUT" != *"fd00"* ]] && [ "$MS" -lt 2500 ]; then pass "IPv6: no global address or route in the sandbox, the wan's v6 server unreachable"; else fail "IPv6 closed: $OUT"; fi
GW6=$("${H[@]}" ip -6 -o addr show dev "$A_IF" scope link | awk '{print $4}' | cut -d/ -f1)
if [ -n "$GW6" ]; then
	check "IPv6: the gateway's link-local address closed too" refused "$A" "$GW6%eth0" 9091
fi

# ---- a second sandbox: default deny with an allowlist ----
if ! create '{"image":"runbox/default:latest","network":{"mode":"private","egress":{"default":"deny","allow":["10.99.0.11","10.99.5.0/24:8081"]}}}'; then
	fail "sandbox with an allowlist created: $STATUS $BODY"
fi
B=$SB
call GET "/api/v1/sandboxes/$B/network"
B_ADDR=$(jget 'd["address"]')
B_IF=$(jget 'd["interface"]')
expect_eq "GET network: egress as given" "$(jget 'json.dumps(d["egress"], sort_keys=True)')" \
	'{"allow": ["10.99.0.11", "10.99.5.0/24:8081"], "default": "deny"}'
check "allowed IP, first port (10.99.0.11:8080)" reach "$B" 10.99.0.11 8080
check "allowed IP, second port (10.99.0.11:8081)" reach "$B" 10.99.0.11 8081
check "non-allowed IP refused fast (10.99.0.12:8080)" refused "$B" 10.99.0.12 8080
check "CIDR:port allowed (10.99.5.1:8081)" reach "$B" 10.99.5.1 8081
check "CIDR, other port refused (10.99.5.1:8080)" refused "$B" 10.99.5.1 8080
check "another sandbox's address blocked (A -> B)" refused "$A" "$B_ADDR" 7000
call GET "/api/v1/sandboxes/$A/network"
expect_contains "A's denied list counts the sandbox it tried" "$BODY" "\"address\":\"$B_ADDR\",\"port\":7000"
expect_contains "A's denied list counts the metadata address" "$BODY" '"address":"169.254.169.254","port":8080,"count":1'
call GET "/api/v1/sandboxes/$B/network"
expect_contains "B's denied list counts 10.99.0.12:8080" "$BODY" '"address":"10.99.0.12","port":8080'

# ---- PATCH while running ----
call PATCH "/api/v1/sandboxes/$B/network" '{"egress":{"default":"deny","allow":["10.99.0.11","10.99.0.12:8080"]}}'
expect_eq "PATCH network answers 200" "$STATUS" 200
check "PATCH took effect: 10.99.0.12:8080 now reachable" reach "$B" 10.99.0.12 8080
check "PATCH replaced the rest: 10.99.5.1:8081 now refused" refused "$B" 10.99.5.1 8081
call GET "/api/v1/sandboxes/$B"
expect_contains "the Sandbox object shows the new policy" "$BODY" '"allow":["10.99.0.11","10.99.0.12:8080"]'
call PATCH "/api/v1/sandboxes/$B/network" '{"egress":{"default":"allow"}}'
check "PATCH to default allow: 10.99.5.1:8080 reachable" reach "$B" 10.99.5.1 8080
call PATCH "/api/v1/sandboxes/$B/network" '{"egress":{"allow":["10.0.0.1/8"]}}'
expect_eq "PATCH with a bad CIDR: 400" "$STATUS" 400
expect_contains "PATCH with a bad CIDR names the field" "$BODY" "network.egress.allow[0]"
check "a refused PATCH left the policy as it was" reach "$B" 10.99.5.1 8080

# ---- validation ----
for bad in '{"mode":"bridge"}' '{"egress":{"allow":["10.0.0.1/8"]}}' '{"egress":{"allow":["1.2.3.4:99999"]}}' \
	'{"egress":{"default":"maybe"}}' '{"ingress":{"allowPorts":[0]}}' '{"egress":{"allow":["bad..name"]}}'; do
	call POST /api/v1/sandboxes "{\"image\":\"runbox/default:latest\",\"network\":$bad}"
	if [ "$STATUS" = 400 ] && [[ "$BODY" == *INVALID_CONFIG* ]] && [[ "$BODY" == *'field \"network.'* ]]; then
		pass "INVALID_CONFIG naming the field for $bad"
	else
		fail "network $bad: $STATUS $BODY"
	fi
done

# ---- mode none in the same daemon ----
if create '{"image":"runbox/default:latest","network":{"mode":"none"}}'; then
	N=$SB
	sx "$N" "ip -o link; ip -4 route; printf x | nc -w 2 10.99.0.11 8080; echo"
	if [[ "$OUT" != *eth0* ]] && [[ "$OUT" == *"LOOPBACK,UP"* ]] && [[ "$OUT" != *HTTP* ]]; then
		pass "mode none: loopback only (up), nothing else"
	else
		fail "mode none: $OUT"
	fi
	call DELETE "/api/v1/sandboxes/$N"
else
	fail "mode none sandbox created: $STATUS $BODY"
fi

# ---- nothing left behind ----
call DELETE "/api/v1/sandboxes/$A"
call DELETE "/api/v1/sandboxes/$B"
T=$(table)
if host_has_link "$A_IF" || host_has_link "$B_IF"; then fail "after terminate: a veth is left"; else pass "after terminate: no veth left"; fi
if [[ "$T" == *"chain sb"* ]] || [[ "$T" == *"chain in"[0-9]* ]] || [[ "$T" == *"chain deny"* ]] ||
	[[ "$T" == *"set dns"* ]] || [[ "$T" == *"set denied"* ]] || [[ "$T" == *'"rbv'[0-9]* ]]; then
	fail "after terminate: nftables objects left: $T"
else
	pass "after terminate: no chain, set or map element left"
fi
if "${H[@]}" ip -4 route | grep -q "10\.88\."; then fail "after terminate: a route is left"; else pass "after terminate: no route left"; fi

# a create that fails after its network was made (the working directory cannot be created)
call POST /api/v1/sandboxes '{"image":"runbox/default:latest","workdir":"/proc/sys/nope"}'
if [ "$STATUS" -ge 400 ]; then pass "a create that fails late fails ($STATUS)"; else fail "a create that fails late: $STATUS $BODY"; fi
T=$(table)
if "${H[@]}" ip -o link show | grep -q ' rbv'; then fail "after a failed create: a veth is left"; else pass "after a failed create: no veth left"; fi
if [[ "$T" == *"chain sb"* ]] || [[ "$T" == *"set dns"* ]] || [[ "$T" == *'"rbv'[0-9]* ]]; then
	fail "after a failed create: nftables objects left: $T"
else
	pass "after a failed create: no chain, set or element left"
fi
if "${H[@]}" ip -4 route | grep -q "10\.88\."; then fail "after a failed create: a route is left"; else pass "after a failed create: no route left"; fi
grep -v '^TP ' "$RB_TEST_ROOT/daemon.log" | grep -i "error\|fatal" | head -5
rb_daemon_stop
if "${H[@]}" nft list table inet runbox >/dev/null 2>&1; then fail "the daemon's table outlives it"; else pass "a stopped daemon removes its table"; fi
