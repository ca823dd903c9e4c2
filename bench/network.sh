#!/usr/bin/env bash
# Network benchmarks (docs/network.md), in namespaces of their own like tests/integration/network.sh:
#   1. create latency, p50 over N creates, network.mode private vs none (target: ≤ 3 ms more)
#   2. TCP throughput (iperf3) from a private sandbox's namespace to a server in the "wan",
#      through its veth, runbox's nftables chains and NAT, against the same path from a namespace
#      on a bare veth without runbox's rules (target: ≥ 90%)
# Usage: bench/network.sh [N]   (root; BUILD=build-e picks the build; needs iperf3)
set -u
# shellcheck source=bench/common.bash
. "$(dirname "$0")/common.bash"
bench_init network
BUILD=${BUILD:-build}
RUNBOX=${RUNBOX:-$ROOT/$BUILD/runbox}
N=${1:-50}
bench_need_root
bench_need iperf3 curl

WAN=rbbench-wan-$$ HOST=rbbench-host-$$ BARE=rbbench-bare-$$
WORK=$(mktemp -d /tmp/runbox-bench-net.XXXXXX)
SOCK=$WORK/sock
PIDS=()
DPID=""
cleanup() {
	for p in $DPID "${PIDS[@]}"; do bench_kill_pid "$p"; done
	ip netns del "$BARE" 2>/dev/null
	ip netns del "$HOST" 2>/dev/null
	ip netns del "$WAN" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
W=(ip netns exec "$WAN") H=(ip netns exec "$HOST") B=(ip netns exec "$BARE")

ip netns add "$WAN" && ip netns add "$HOST" && ip netns add "$BARE" || exit 1
ip link add "rbbu$$" type veth peer name "rbbw$$"
ip link set "rbbu$$" netns "$HOST" name uplink
ip link set "rbbw$$" netns "$WAN" name uplink
ip link add "rbbh$$" type veth peer name "rbbb$$"
ip link set "rbbh$$" netns "$HOST" name bare0
ip link set "rbbb$$" netns "$BARE" name eth0
for ns in "$WAN" "$HOST" "$BARE"; do ip netns exec "$ns" ip link set lo up; done
"${W[@]}" ip addr add 10.99.0.1/24 dev uplink && "${W[@]}" ip link set uplink up
"${W[@]}" ip route add 10.77.0.0/30 via 10.99.0.2
"${H[@]}" ip addr add 10.99.0.2/24 dev uplink && "${H[@]}" ip link set uplink up
"${H[@]}" ip route add default via 10.99.0.1
"${H[@]}" ip addr add 10.77.0.1/30 dev bare0 && "${H[@]}" ip link set bare0 up
"${H[@]}" sysctl -qw net.ipv4.ip_forward=1
"${B[@]}" ip addr add 10.77.0.2/30 dev eth0 && "${B[@]}" ip link set eth0 up
"${B[@]}" ip route add default via 10.77.0.1
"${W[@]}" iperf3 -s -B 10.99.0.1 -p 5201 >/dev/null 2>&1 &
PIDS+=($!)

nsenter --net=/run/netns/"$HOST" "$RUNBOX" serve --socket "$SOCK" --state-dir "$WORK/state" \
	--default-network private >"$WORK/daemon.log" 2>&1 &
DPID=$!
bench_wait_daemon "$DPID" "$SOCK" "$WORK/daemon.log" || exit 1

# create latency: the API's round trip, as a client sees it
p50() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
create_ms() { # mode
	local out id
	out=$(curl -s --unix-socket "$SOCK" -w '\n%{time_total}' -H 'Content-Type: application/json' \
		--data-binary "{\"image\":\"runbox/default:latest\",\"network\":{\"mode\":\"$1\"}}" \
		http://x/api/v1/sandboxes)
	id=$(printf '%s' "$out" | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	printf '%s' "$out" | tail -1 | awk '{printf "%.3f\n", $1 * 1000}'
	curl -s --unix-socket "$SOCK" -X DELETE "http://x/api/v1/sandboxes/$id" >/dev/null
}
for mode in none private; do create_ms $mode >/dev/null; done # warm up (the table is made once)
: >"$WORK/none" && : >"$WORK/private"
for ((i = 0; i < N; i++)); do # interleaved, so drift hits both alike
	create_ms none >>"$WORK/none"
	create_ms private >>"$WORK/private"
done
NONE=$(p50 <"$WORK/none")
PRIV=$(p50 <"$WORK/private")
echo "create p50 over $N: none ${NONE} ms, private ${PRIV} ms, difference $(awk -v a="$PRIV" -v b="$NONE" 'BEGIN{printf "%.2f", a-b}') ms (target <= 3)"

# throughput: iperf3 from the sandbox's network namespace (the host's iperf3 binary, run in it)
id=$(curl -s --unix-socket "$SOCK" -H 'Content-Type: application/json' \
	--data-binary '{"image":"runbox/default:latest","network":{"mode":"private"}}' \
	http://x/api/v1/sandboxes | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
agent=$(pgrep -P "$DPID" -f runbox-agent | head -1)
gbits() { python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'; }
SBT=$(nsenter --net=/proc/"$agent"/ns/net iperf3 -c 10.99.0.1 -p 5201 -t "${IPERF_SECONDS:-5}" -J | gbits)
BARET=$("${B[@]}" iperf3 -c 10.99.0.1 -p 5201 -t "${IPERF_SECONDS:-5}" -J | gbits)
echo "tcp: private sandbox (veth + nftables + NAT) ${SBT} Gbit/s, bare veth ${BARET} Gbit/s, ratio $(awk -v a="$SBT" -v b="$BARET" 'BEGIN{printf "%.0f%%", 100*a/b}') (target >= 90%)"
curl -s --unix-socket "$SOCK" -X DELETE "http://x/api/v1/sandboxes/$id" >/dev/null
