#!/usr/bin/env bash
# pause.sh: pause and resume of a sandbox over the API (POST .../pause, POST .../resume, each
# returning once the cgroup freezer says frozen / thawed), side by side with `crun pause` and
# `crun resume` of the same busybox rootfs in the same run. Two cases each: idle (pid 1 only,
# crun's `sleep`) and busy (a shell busy loop spinning inside). Requests go through
# bench/sandbox-bench.c (one keep-alive connection); crun's commands are timed from fork to exit
# by the same program (no shell). See bench/README.md.
#
# Environment: RUNBOX (default build/runbox), BENCH_DIR (default /tmp/runbox-bench: a work dir
# under it is removed at exit), IMAGE (default runbox/default:latest), N (500), WARM (20), CRUN
# (1: compare with crun; 0 skips it).
set -euo pipefail
# shellcheck source=bench/common.bash
. "$(dirname "$0")/common.bash"
bench_init pause
RUNBOX=${RUNBOX:-$ROOT/build/runbox}
IMAGE=${IMAGE:-runbox/default:latest}
N=${N:-500}
WARM=${WARM:-20}
CRUN=${CRUN:-1}
OUT=$RESULTS/pause-$(date +%Y%m%d-%H%M%S)

bench_need cc python3
bench_prepare
CRUN_ID=rbpause-$$

# --- cleanup: sandboxes (resumed or not, DELETE kills them), daemon, crun containers, work dir ----------
cleanup() {
	set +e
	bench_stop_daemon running paused
	[ "$CRUN" = 0 ] || bench_crun_cleanup
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_build_sb
bench_start_daemon
CGMODE=$("$SB" "$SOCK" req GET /api/v1/info | python3 -c 'import json,sys; print(json.load(sys.stdin)["cgroup"]["version"])')
bench_machine "cgroups $CGMODE; state dir on $(stat -f -c %T "$STATE")" >"$OUT/machine.txt"
log "daemon $DPID (cgroups $CGMODE); results in $OUT"

# --- runbox: idle, then busy ----------------------------------------------------------------------------
IDLE=$("$SB" "$SOCK" create "$IMAGE" 1)
log "runbox idle sandbox $IDLE: pause + resume, $N after $WARM warm-up"
"$SB" "$SOCK" pause "$IDLE" "$N" "$WARM" "$OUT/runbox-idle.txt"
"$SB" "$SOCK" delete "$IDLE"
BUSY=$("$SB" "$SOCK" create "$IMAGE" 1)
"$SB" "$SOCK" req POST "/api/v1/sandboxes/$BUSY/exec" \
	'{"command":"while :; do :; done >/dev/null 2>&1 &"}' >/dev/null
log "runbox busy sandbox $BUSY: pause + resume, $N after $WARM warm-up"
"$SB" "$SOCK" pause "$BUSY" "$N" "$WARM" "$OUT/runbox-busy.txt"
"$SB" "$SOCK" delete "$BUSY"

# --- crun, in a private mount namespace ----------------------------------------------------------
CRUN_STATUS="not run (CRUN=0)"
if [ "$CRUN" != 0 ]; then
	log "crun pause / crun resume of the same rootfs, idle and busy"
	bench_crun_bundles bundle-idle '["sleep", "100000"]' bundle-busy '["sh", "-c", "while :; do :; done"]'
	bench_crun_measure "$(cat <<EOF
set -eu
trap '$(bench_crun_rm idle busy)' EXIT
for c in idle busy; do
	crun run -d --bundle '$WORK/bundle-'\$c $CRUN_ID-\$c </dev/null >/dev/null 2>&1
	'$SB' - alternate $N $WARM '$OUT/crun-'\$c.txt "crun pause $CRUN_ID-\$c" "crun resume $CRUN_ID-\$c"
done
EOF
)"
fi
bench_end_measure

# --- the table ---------------------------------------------------------------------------------------
bench_py "$OUT" "$CRUN_STATUS" >"$OUT/table.md" <<'EOF'
import json, os, sys
out, crun_status = sys.argv[1], sys.argv[2]

def col(name, i):
    p = os.path.join(out, name)
    return [float(l.split()[i]) for l in open(p) if l.strip()] if os.path.exists(p) else []

ms = lambda v: "%.3f" % v
summary = {}
print("| measure (ms) | n | p50 | p90 | p99 | mean | crun, same run: p50 / p90 | crun p50 / ours | p50 ≤ 1 ms |")
print("|---|---|---|---|---|---|---|---|---|")
for case in ("idle", "busy"):
    for i, what in ((0, "pause"), (1, "resume")):
        ours, peer = stats(col("runbox-%s.txt" % case, i)), stats(col("crun-%s.txt" % case, i))
        summary["%s_%s" % (what, case)] = {"runbox": ours, "crun": peer}
        pc = "%s / %s" % (ms(peer["p50"]), ms(peer["p90"])) if peer else "not measured (%s)" % crun_status
        ratio = "%.1f×" % (peer["p50"] / ours["p50"]) if peer else "–"
        print("| %s, %s sandbox | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            what, case, ours["n"], ms(ours["p50"]), ms(ours["p90"]), ms(ours["p99"]),
            ms(ours["mean"]), pc, ratio, "**met**" if ours["p50"] <= 1 else "**not met**"))
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
print()
print("crun: %s." % crun_status)
EOF
{
	bench_heading "cgroups $CGMODE"
	echo
	cat "$OUT/table.md"
	sed -n '/^load average/p' "$OUT/machine.txt"
} | tee "$OUT/report.md"
log "raw results: $OUT"
