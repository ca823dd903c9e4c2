#!/usr/bin/env bash
# Ingress ports (docs/network.md): network.ingress.allowPorts at create, POST/GET/DELETE
# .../ports, forwarded by the daemon from 127.0.0.1:<a port it picks> in its own namespace to the
# sandbox (its address in mode private, its loopback in mode none); port.exposed / port.closed
# events; connections and listeners gone with the port and with the sandbox. In the test world
# of network-common.bash: nothing touches the machine's own namespace, no packet leaves it.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/network-common.bash"
net_preflight network-ports curl

if ! build_world; then
	fail "network-ports: build the test world"
	exit 1
fi
net_daemon_start || {
	fail "network-ports: the daemon starts"
	exit 1
}

# hget URL: the body of a GET from the daemon's namespace (the host's loopback)
hget() { "${H[@]}" curl -sf --max-time 5 "$1"; }
# serve ID PORT TEXT: busybox httpd in the sandbox, on PORT, serving TEXT at /
serve() {
	sx "$1" "mkdir -p /tmp/www$2 && echo $3 >/tmp/www$2/index.html && head -c 3000000 /dev/urandom >/tmp/www$2/big && httpd -p $2 -h /tmp/www$2 </dev/null >/dev/null 2>&1; sleep 0.2; netstat -ltn"
}
port_url() { # ID PORT: the URL GET .../ports gives for PORT
	call GET "/api/v1/sandboxes/$1/ports"
	jget "[p['url'] for p in d if p['port'] == $2][0]" 2>/dev/null
}

# ---- private, allowPorts at create ----
if ! create '{"image":"runbox/default:latest","network":{"mode":"private","ingress":{"allowPorts":[8000]}}}'; then
	fail "private sandbox with allowPorts created: $STATUS $BODY"
	exit 1
fi
A=$SB
serve "$A" 8000 hello-private
expect_contains "the sandbox's server listens on 8000" "$OUT" ":8000"
call GET "/api/v1/sandboxes/$A/ports"
expect_eq "GET ports: 200" "$STATUS" 200
expect_py() { if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$2" "$3"; then pass "$1"; else fail "$1: ${2:0:400}"; fi; }
expect_py "GET ports: the allowPorts port, as a Port {port, url, exposedAt}" "$BODY" \
	'len(d) == 1 and d[0]["port"] == 8000 and d[0]["url"].startswith("http://127.0.0.1:") and d[0]["exposedAt"].endswith("Z")'
URL_A=$(port_url "$A" 8000)
expect_eq "the URL answers from the host's loopback (private: to the sandbox's address)" "$(hget "$URL_A/")" hello-private
sum_in=$(sx "$A" "md5sum /tmp/www8000/big" && echo "${OUT%% *}")
sum_out=$("${H[@]}" curl -sf --max-time 10 "$URL_A/big" | md5sum | cut -d' ' -f1)
expect_eq "3 MB through the relay, intact" "$sum_out" "$sum_in"
# ten at once
pids=()
for i in $(seq 10); do
	"${H[@]}" curl -sf --max-time 10 -o "$RB_TEST_ROOT/par$i" "$URL_A/big" &
	pids+=($!)
done
ok=1
for p in "${pids[@]}"; do wait "$p" || ok=0; done
for i in $(seq 10); do [ "$(md5sum <"$RB_TEST_ROOT/par$i" | cut -d' ' -f1)" = "$sum_in" ] || ok=0; done
if [ $ok = 1 ]; then pass "ten connections at once, each intact"; else fail "ten connections at once"; fi
HP=${URL_A##*:}
if "${H[@]}" ss -ltn | grep -q "127.0.0.1:$HP "; then pass "the listener is on 127.0.0.1 only"; else fail "listener 127.0.0.1:$HP: $("${H[@]}" ss -ltn)"; fi
if "${H[@]}" ss -ltn | grep -q "0.0.0.0:$HP "; then fail "a listener on every address"; else pass "no listener on other addresses"; fi
if [ "$("${H[@]}" cat /proc/sys/net/ipv4/conf/all/route_localnet)" = 0 ]; then pass "route_localnet stays off"; else fail "route_localnet turned on"; fi
if table | grep -qi "dnat"; then fail "a DNAT rule: $(table | grep -i dnat)"; else pass "no DNAT rule"; fi

# ---- POST, GET, DELETE ----
serve "$A" 8001 second
call POST "/api/v1/sandboxes/$A/ports" '{"port":8001}'
expect_eq "POST ports: 201" "$STATUS" 201
expect_py "POST ports: a Port" "$BODY" 'd["port"] == 8001 and d["url"].startswith("http://127.0.0.1:")'
URL_B=$(jget 'd["url"]')
call POST "/api/v1/sandboxes/$A/ports" '{"port":8001}'
expect_eq "POST the same port again: 200" "$STATUS" 200
expect_eq "POST the same port again: the same URL" "$(jget 'd["url"]')" "$URL_B"
expect_eq "the second port answers" "$(hget "$URL_B/")" second
call GET "/api/v1/sandboxes/$A"
expect_py "the Sandbox object lists both in ingress.allowPorts" "$BODY" 'd["network"]["ingress"]["allowPorts"] == [8000, 8001]'
for bad in '{"port":0}' '{"port":70000}' '{"port":"80"}' '{}' '{"port":1.5}'; do
	call POST "/api/v1/sandboxes/$A/ports" "$bad"
	if [ "$STATUS" = 400 ] && [[ "$BODY" == *INVALID_CONFIG* ]] && [[ "$BODY" == *'"field":"port"'* ]]; then
		pass "POST ports $bad: 400 naming the field"
	else
		fail "POST ports $bad: $STATUS $BODY"
	fi
done
call POST "/api/v1/sandboxes/sb_nope/ports" '{"port":80}'
expect_eq "POST ports of an unknown sandbox: 404" "$STATUS" 404
# a connection open across the DELETE is closed by it
HPB=${URL_B##*:}
"${H[@]}" python3 - "$HPB" >"$RB_TEST_ROOT/held" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # unfinished: httpd waits for the rest
time.sleep(0.5)
s.settimeout(5)
t = time.time()
try:
    while s.recv(4096):
        pass
    print("closed after %.1f" % (time.time() - t))
except Exception as e:
    print("error", e)
EOF
held=$!
sleep 0.3
call DELETE "/api/v1/sandboxes/$A/ports/8001"
expect_eq "DELETE port: 204" "$STATUS" 204
wait $held
held_out=$(cat "$RB_TEST_ROOT/held")
if [[ "$held_out" == "closed after 0."* ]] || [[ "$held_out" == "closed after 1."* ]]; then pass "a connection held open is closed with its port"; else fail "held connection: $held_out"; fi
if hget "$URL_B/" >/dev/null; then fail "the closed port's URL still answers"; else pass "the closed port's URL no longer answers"; fi
call DELETE "/api/v1/sandboxes/$A/ports/8001"
expect_eq "DELETE a port not exposed: 404" "$STATUS" 404
call DELETE "/api/v1/sandboxes/$A/ports/abc"
expect_eq "DELETE ports/abc: 400" "$STATUS" 400
call GET "/api/v1/sandboxes/$A/ports"
expect_py "GET ports after DELETE: only 8000" "$BODY" '[p["port"] for p in d] == [8000]'
call GET "/api/v1/sandboxes/$A"
expect_py "the Sandbox object drops it from allowPorts" "$BODY" 'd["network"]["ingress"]["allowPorts"] == [8000]'
# a port with nothing behind it: the connection is closed, the daemon stays well
call POST "/api/v1/sandboxes/$A/ports" '{"port":8999}'
URL_C=$(jget 'd["url"]')
if hget "$URL_C/" >/dev/null; then fail "a port with no server answered"; else pass "a port with no server behind it: the connection closes"; fi

# ---- mode none: no route in, connections start inside its namespace ----
if create '{"image":"runbox/default:latest","network":{"mode":"none"}}'; then
	N=$SB
	serve "$N" 8000 hello-none
	call POST "/api/v1/sandboxes/$N/ports" '{"port":8000}'
	expect_eq "mode none: POST ports 201" "$STATUS" 201
	URL_N=$(jget 'd["url"]')
	expect_eq "mode none: the URL reaches the sandbox's loopback server" "$(hget "$URL_N/")" hello-none
	sum_in=$(sx "$N" "md5sum /tmp/www8000/big" && echo "${OUT%% *}")
	sum_out=$("${H[@]}" curl -sf --max-time 10 "$URL_N/big" | md5sum | cut -d' ' -f1)
	expect_eq "mode none: 3 MB intact" "$sum_out" "$sum_in"
	sx "$N" "ip -o link"
	if [[ "$OUT" != *eth0* ]]; then pass "mode none: still no interface but loopback"; else fail "mode none: $OUT"; fi
else
	fail "mode none sandbox: $STATUS $BODY"
fi

# ---- events ----
curl -sN --max-time 1.5 --unix-socket "$RUNBOX_SOCKET" "http://runbox/api/v1/events?since=0&type=port.*" >"$RB_TEST_ROOT/ports.sse" 2>/dev/null
EVS=$(python3 -c 'import json,sys; print(json.dumps([json.loads(l[5:]) for l in open(sys.argv[1]) if l.startswith("data:")]))' "$RB_TEST_ROOT/ports.sse")
expect_py "port.exposed at create (allowPorts), with the Port as data" "$EVS" \
	"any(e['type'] == 'port.exposed' and e['sandboxId'] == '$A' and e['data']['port'] == 8000 and e['data']['url'] == '$URL_A' for e in d)"
expect_py "port.exposed for a POST, once" "$EVS" \
	"len([e for e in d if e['type'] == 'port.exposed' and e['sandboxId'] == '$A' and e['data']['port'] == 8001]) == 1"
expect_py "port.closed for the DELETE" "$EVS" \
	"any(e['type'] == 'port.closed' and e['sandboxId'] == '$A' and e['data']['port'] == 8001 and e['data']['url'] == '$URL_B' for e in d)"

# ---- the sandbox goes: its ports go ----
call DELETE "/api/v1/sandboxes/$A"
if hget "$URL_A/" >/dev/null; then fail "after terminate: the URL still answers"; else pass "after terminate: the URL no longer answers"; fi
HPA=${URL_A##*:}
if "${H[@]}" ss -ltn | grep -q "127.0.0.1:$HPA "; then fail "after terminate: a listener is left"; else pass "after terminate: no listener left"; fi
call GET "/api/v1/sandboxes/$A/ports"
expect_eq "GET ports of a terminated sandbox: 409" "$STATUS" 409
[ -n "${N:-}" ] && call DELETE "/api/v1/sandboxes/$N"
if "${H[@]}" ss -ltn | grep -q "127.0.0.1:${URL_N##*:} "; then fail "mode none: a listener is left"; else pass "mode none: no listener left after terminate"; fi
grep -v '^TP ' "$RB_TEST_ROOT/daemon.log" | grep -i "error\|fatal" | head -5
