# The world the network suites share (tests/integration/network*.sh), sourced after
# tests/lib.sh: a "wan" namespace, a "host" namespace whose uplink is that wan, and the daemon
# under test in the host namespace. Nothing here touches the machine's own namespace, tables,
# routes or sysctls, and no packet leaves these namespaces. Not a suite.
#
#   wan  (10.99.0.1 .11 .12 /24, 10.99.5.1/24, 169.254.169.254, fd00:99::1)
#    │ veth
#   host (10.99.0.2, fd00:99::2; default route via the wan; ip_forward on here only):
#        runbox serve --default-network private
#    │ rbv<slot> ... eth0: the sandboxes, 10.88.x.y/30
#
# net_preflight NAME skips (exit 0) without root, the tools or nftables; build_world makes the
# namespaces (removed on exit, with every process in PIDS); net_daemon_start FLAGS... runs the
# daemon in the host namespace.
# shellcheck disable=SC2034 # RB_DAEMON_PID, SB: read by lib.sh and the suites
[ -x /usr/bin/python3 ] && python3() { /usr/bin/python3 "$@"; }

net_preflight() { # suite name, extra tools...
	local name=$1 t
	shift
	if [ "$(id -u)" != 0 ]; then
		skip "$name: needs root"
		exit 0
	fi
	for t in ip nft nsenter python3 "$@"; do
		if ! command -v "$t" >/dev/null; then
			skip "$name: $t is not installed"
			exit 0
		fi
	done
	if ! unshare -n nft add table inet rbprobe 2>/dev/null; then
		skip "$name: nftables is missing from the kernel"
		exit 0
	fi
}

WAN=rbtest-wan-$$
HOST=rbtest-host-$$
W=(ip netns exec "$WAN")
H=(ip netns exec "$HOST")
PIDS=()

cleanup_world() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	ip netns del "$HOST" 2>/dev/null
	ip netns del "$WAN" 2>/dev/null
	true
}
rb_on_exit cleanup_world

# The daemon stops before the world goes: it is the last cleanup registered, so the first to
# run. Its sandboxes would outlive it (and their agents the world), so they are terminated
# first; then anything of ours still in the sandboxes' cgroups is killed (net_sb_kill_left).
net_daemon_stop() {
	local id
	if [ -n "$RB_DAEMON_PID" ]; then
		for id in $(curl -s --max-time 10 --unix-socket "$RUNBOX_SOCKET" \
			"http://runbox/api/v1/sandboxes?limit=100" | python3 -c '
import json, sys
for s in json.load(sys.stdin).get("data", []):
    if s.get("state") != "terminated":
        print(s["id"])' 2>/dev/null); do
			curl -s -o /dev/null --max-time 30 --unix-socket "$RUNBOX_SOCKET" -X DELETE \
				"http://runbox/api/v1/sandboxes/$id"
		done
	fi
	rb_daemon_stop
	net_sb_kill_left
}

# The processes of every sandbox of this suite's registry (by their cgroups), killed: for a
# suite that ends while its daemon is down, with sandboxes it had left running.
net_sb_kill_left() {
	local ids pat="" id p left
	[ -f "$RUNBOX_STATE_DIR/sandboxes.db" ] || return 0
	ids=$(python3 -c 'import sqlite3, sys; print(" ".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("select id from sandboxes")))' \
		"$RUNBOX_STATE_DIR/sandboxes.db" 2>/dev/null)
	for id in $ids; do pat+="${pat:+|}runbox-$id([/:]|\$)"; done
	[ -n "$pat" ] || return 0
	left=$(grep -lE "$pat" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3)
	[ -n "$left" ] || return 0
	for p in $left; do kill -9 "$p" 2>/dev/null; done
	sleep 0.2
	for id in $ids; do
		find /sys/fs/cgroup -depth -type d -path "*/runbox-$id*" -exec rmdir {} + 2>/dev/null
	done
	true
}

build_world() {
	ip netns add "$WAN" && ip netns add "$HOST" || return 1
	ip link add "rbtu$$" type veth peer name "rbtw$$" || return 1
	ip link set "rbtu$$" netns "$HOST" && ip link set "rbtw$$" netns "$WAN" || return 1
	"${W[@]}" ip link set lo up
	"${H[@]}" ip link set lo up
	"${W[@]}" ip link set "rbtw$$" name uplink
	"${H[@]}" ip link set "rbtu$$" name uplink
	local a
	for a in 10.99.0.1/24 10.99.0.11/24 10.99.0.12/24 10.99.5.1/24 169.254.169.254/16; do
		"${W[@]}" ip addr add $a dev uplink || return 1
	done
	"${W[@]}" ip -6 addr add fd00:99::1/64 dev uplink nodad
	"${W[@]}" ip link set uplink up
	"${H[@]}" ip addr add 10.99.0.2/24 dev uplink
	"${H[@]}" ip -6 addr add fd00:99::2/64 dev uplink nodad
	"${H[@]}" ip link set uplink up
	"${H[@]}" ip route add default via 10.99.0.1
	"${H[@]}" ip -6 route add default via fd00:99::1
	# forwarding in the test's host namespace only (the daemon would set it there too)
	"${H[@]}" sysctl -qw net.ipv4.ip_forward=1
	"${H[@]}" sysctl -qw net.ipv6.conf.all.forwarding=1
}

serve_http() { # netns bind port
	ip netns exec "$1" python3 -m http.server --bind "$2" "$3" >/dev/null 2>&1 &
	PIDS+=($!)
}

wait_port() { # netns addr port
	local i
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$1" python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)' "$2" "$3" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# The wan's resolver for the suites with domains (network-dns.sh, network-restart.sh): dnsmasq
# from Debian on $RES (198.51.100.53), port 53. net_dnsmasq_or_skip NAME ends a suite without
# it; net_world_dns "N..." DNSMASQ-OPTIONS... builds the world, gives the wan 198.51.100.N for
# each N, and starts dnsmasq answering the records in the options (--host-record=...).
DNSMASQ=${DNSMASQ:-/usr/sbin/dnsmasq}
RES=198.51.100.53
net_dnsmasq_or_skip() {
	[ -x "$DNSMASQ" ] && return 0
	skip "$1: dnsmasq is not installed (dnsmasq-base)"
	exit 0
}
net_world_dns() {
	local a addrs=$1
	shift
	build_world || return 1
	for a in $addrs; do
		"${W[@]}" ip addr add 198.51.100.$a/24 dev uplink || return 1
	done
	ip netns exec "$WAN" "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --no-resolv \
		--no-hosts --pid-file= --bind-interfaces --listen-address=$RES --port=53 \
		--local-ttl=60 --log-facility=- "$@" >>"$RB_TEST_ROOT/dnsmasq.log" 2>&1 &
	PIDS+=($!)
}

net_daemon_start() { # extra serve flags...
	local i
	nsenter --net=/run/netns/"$HOST" "$RUNBOX" serve --socket "$RUNBOX_SOCKET" \
		--state-dir "$RUNBOX_STATE_DIR" "$@" \
		>>"$RB_TEST_ROOT/daemon.log" 2>&1 &
	RB_DAEMON_PID=$!
	rb_on_exit net_daemon_stop
	for ((i = 0; i < 200; i++)); do
		curl -sf --unix-socket "$RUNBOX_SOCKET" http://x/api/v1/health >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# call METHOD PATH [BODY]: sets STATUS and BODY
call() {
	local out
	out=$(curl -s --unix-socket "$RUNBOX_SOCKET" -X "$1" -w '\n%{http_code}' \
		${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://runbox$2")
	STATUS=${out##*$'\n'}
	BODY=${out%$'\n'*}
}
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); exec("r="+sys.argv[2]); print(r)' "$BODY" "$1"; }

create() { # json: sets SB (id) or fails
	call POST /api/v1/sandboxes "$1"
	SB=""
	[ "$STATUS" = 201 ] || [ "$STATUS" = 200 ] || return 1
	SB=$(jget 'd["id"]')
}

# sx ID CMD: run CMD in the sandbox; OUT is stdout+stderr, MS the round trip in ms
sx() {
	local t0 t1
	t0=$(date +%s%N)
	call POST "/api/v1/sandboxes/$1/exec" "$(python3 -c 'import json,sys; print(json.dumps({"command": sys.argv[1]}))' "$2")"
	t1=$(date +%s%N)
	MS=$(((t1 - t0) / 1000000))
	OUT=$(jget 'd.get("stdout","")+d.get("stderr","")' 2>/dev/null)
}

# reach ID ADDR PORT: an HTTP answer came back
reach() {
	sx "$1" "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $2 $3 | head -1"
	[[ "$OUT" == *"HTTP/1.0 200"* ]]
}

# refused ID ADDR PORT: no answer, and fast (a reset or an ICMP error, not a timeout)
refused() {
	sx "$1" "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 $2 $3 | head -1"
	if [[ "$OUT" == *"HTTP/1.0"* ]]; then
		echo "  reached $2:$3"
		return 1
	fi
	if [ "$MS" -ge 1000 ]; then
		echo "  $2:$3 refused after ${MS} ms (a timeout, not a reject): $OUT"
		return 1
	fi
	return 0
}

host_has_link() { "${H[@]}" ip -o link show | grep -q "$1"; }
table() { "${H[@]}" nft list table inet runbox 2>/dev/null; }
