#!/usr/bin/env bash
# dns.sh: the latency a query through the DNS proxy adds (netpolicy/dns.h), against a fake upstream
# on 127.0.0.1 asked directly, interleaved query by query (bench/dns-bench.c, linked with the
# build's librunbox.a). Loopback only; needs no root. Target: ≤ 0.2 ms added at p50.
# Environment: BUILD (default build: the build dir whose librunbox.a is used), N (20000), WARM (1000).
set -euo pipefail
# shellcheck source=bench/common.bash
. "$(dirname "$0")/common.bash"
bench_init dns
BUILD=${BUILD:-build}
N=${N:-20000}
WARM=${WARM:-1000}
[ -f "$ROOT/$BUILD/librunbox.a" ] || die "$BUILD/librunbox.a is not built (make BUILD=$BUILD)"
mkdir -p "$RESULTS"
WORK=$(mktemp -d /tmp/runbox-dns-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -std=gnu11 -O2 -g -D_GNU_SOURCE -pthread -I"$ROOT" -o "$WORK/dns-bench" "$ROOT/bench/dns-bench.c" \
	"$ROOT/$BUILD/librunbox.a" -pthread
OUT=$RESULTS/dns-$(date +%Y%m%d-%H%M%S).md
{
	echo "## dns: $(date -u '+%Y-%m-%d %H:%MZ'), $(nproc) CPUs, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	"$WORK/dns-bench" "$N" "$WARM"
} | tee "$OUT"
