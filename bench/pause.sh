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
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNBOX=${RUNBOX:-$ROOT/build/runbox}
BENCH_DIR=${BENCH_DIR:-/tmp/runbox-bench}
IMAGE=${IMAGE:-runbox/default:latest}
N=${N:-500}
WARM=${WARM:-20}
CRUN=${CRUN:-1}
RESULTS=$ROOT/bench/results
OUT=$RESULTS/pause-$(date +%Y%m%d-%H%M%S)

need=(cc python3)
[ "$CRUN" = 0 ] || need+=(crun unshare)
for t in "${need[@]}"; do
	command -v "$t" >/dev/null || { echo "pause: $t is needed" >&2; exit 1; }
done
[ -x "$RUNBOX" ] || { echo "pause: $RUNBOX is not built (make)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "pause: run as root" >&2; exit 1; }
mkdir -p "$BENCH_DIR" "$OUT"
log() { echo "pause: $*" >&2; }
trap 'echo "pause: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

WORK=$(mktemp -d "$BENCH_DIR/pause.XXXXXX")
SOCK=$WORK/s.sock
STATE=$WORK/state
DPID=
CRUN_ID=rbpause-$$
SB=$WORK/sandbox-bench

# --- cleanup: sandboxes (resumed or not, DELETE kills them), daemon, crun containers, work dir ----------
cleanup() {
	set +e
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		for st in running paused; do
			"$SB" "$SOCK" req GET "/api/v1/sandboxes?state=$st&limit=100" 2>/dev/null |
				python3 -c 'import json,sys
try: [print(s["id"]) for s in json.load(sys.stdin)["data"]]
except Exception: pass' | "$SB" "$SOCK" delete - 2>/dev/null
		done
		kill "$DPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	if [ "$CRUN" != 0 ] && crun list 2>/dev/null | grep -q "$CRUN_ID"; then
		unshare -m --propagation private sh -c "touch '$WORK/empty'
			mount --bind '$WORK/empty' /sys/fs/cgroup/unified/cgroup.controllers
			for c in $CRUN_ID-idle $CRUN_ID-busy; do crun resume \$c; crun kill \$c KILL; done
			sleep 0.2; crun delete -f $CRUN_ID-idle; crun delete -f $CRUN_ID-busy" >/dev/null 2>&1
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -Wall -Wextra -o "$SB" "$ROOT/bench/sandbox-bench.c"

# --- the daemon ------------------------------------------------------------------------------------
"$RUNBOX" serve --socket "$SOCK" --state-dir "$STATE" >>"$WORK/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 200); do
	"$SB" "$SOCK" req GET /api/v1/health >/dev/null 2>&1 && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.05
done
"$SB" "$SOCK" req GET /api/v1/health >/dev/null 2>&1 || {
	log "the daemon did not start:"; cat "$WORK/daemon.log" >&2; exit 1; }
CGMODE=$("$SB" "$SOCK" req GET /api/v1/info | python3 -c 'import json,sys; print(json.load(sys.stdin)["cgroup"]["version"])')
{
	echo "date: $(date -Is)"
	echo "host: $(uname -n), kernel $(uname -r), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "runbox: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); cgroups $CGMODE; state dir on $(stat -f -c %T "$STATE")"
	echo "crun: $(crun --version 2>/dev/null | head -1 || echo none)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
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
	DIFF=$("$SB" "$SOCK" req GET "/api/v1/images/$IMAGE" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["layers"][0]["diffId"])')
	LAYER=$STATE/images/layers/${DIFF%%:*}/${DIFF#*:}
	[ -d "$LAYER" ] || { log "no unpacked layer at $LAYER"; exit 1; }
	cp -a "$LAYER" "$WORK/rootfs"
	mkdir -p "$WORK/spec" "$WORK/bundle-idle" "$WORK/bundle-busy"
	(cd "$WORK/spec" && crun spec)
	python3 - "$WORK" <<'EOF'
import json, sys
w = sys.argv[1]
for name, args in (("bundle-idle", ["sleep", "100000"]),
                   ("bundle-busy", ["sh", "-c", "while :; do :; done"])):
    c = json.load(open("%s/spec/config.json" % w))
    c["process"]["args"] = args
    c["process"]["terminal"] = False
    c["root"]["path"] = w + "/rootfs"
    json.dump(c, open("%s/%s/config.json" % (w, name), "w"), indent=1)
EOF
	cat >"$WORK/crun-inner.sh" <<EOF
set -eu
# Debian's crun 1.8 refuses this hybrid host's cgroups: hide the cgroup2 tree's controllers, here
# only (a private mount namespace), so it takes the v1 hierarchies and the v1 freezer
touch '$WORK/empty'
mount --bind '$WORK/empty' /sys/fs/cgroup/unified/cgroup.controllers
trap 'for c in $CRUN_ID-idle $CRUN_ID-busy; do crun resume \$c; crun kill \$c KILL; done 2>/dev/null; sleep 0.2; crun delete -f $CRUN_ID-idle 2>/dev/null; crun delete -f $CRUN_ID-busy 2>/dev/null || true' EXIT
for c in idle busy; do
	crun run -d --bundle '$WORK/bundle-'\$c $CRUN_ID-\$c </dev/null >/dev/null 2>&1
	'$SB' - alternate $N $WARM '$OUT/crun-'\$c.txt "crun pause $CRUN_ID-\$c" "crun resume $CRUN_ID-\$c"
done
EOF
	grep -v "$WORK" /proc/self/mountinfo | sort >"$WORK/mountinfo.before"
	if unshare -m --propagation private bash "$WORK/crun-inner.sh" 2>"$WORK/crun.err"; then
		CRUN_STATUS=ok
	else
		CRUN_STATUS="failed: $(grep -v '^ *$' "$WORK/crun.err" | tail -3 | tr '\n' ' ')"
		log "crun $CRUN_STATUS"
	fi
	cp "$WORK/crun.err" "$OUT/crun.log"
	grep -v "$WORK" /proc/self/mountinfo | sort >"$WORK/mountinfo.after"
	grep -q cgroup.controllers /proc/self/mountinfo &&
		CRUN_STATUS="$CRUN_STATUS; WARNING: the host has a mount on cgroup.controllers"
	echo "host mountinfo lines changed during the crun runs: $(diff "$WORK/mountinfo.before" "$WORK/mountinfo.after" | grep -c '^[<>]' || true)" >>"$OUT/machine.txt"
	crun list 2>/dev/null | grep -q "$CRUN_ID" && CRUN_STATUS="$CRUN_STATUS; WARNING: a crun container $CRUN_ID-* remains"
fi
echo "$CRUN_STATUS" >"$OUT/crun-status.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

# --- the table ---------------------------------------------------------------------------------------
python3 - "$OUT" "$CRUN_STATUS" >"$OUT/table.md" <<'EOF'
import json, os, sys
out, crun_status = sys.argv[1], sys.argv[2]

def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)

def stats(name, i):
    p = os.path.join(out, name)
    if not os.path.exists(p):
        return None
    xs = [float(l.split()[i]) for l in open(p) if l.strip()]
    return {"n": len(xs), "p50": pct(xs, 50), "p90": pct(xs, 90), "p99": pct(xs, 99),
            "mean": sum(xs) / len(xs)} if xs else None

ms = lambda v: "%.3f" % v
summary = {}
print("| measure (ms) | n | p50 | p90 | p99 | mean | crun, same run: p50 / p90 | crun p50 / ours | p50 ≤ 1 ms |")
print("|---|---|---|---|---|---|---|---|---|")
for case in ("idle", "busy"):
    for i, what in ((0, "pause"), (1, "resume")):
        ours, peer = stats("runbox-%s.txt" % case, i), stats("crun-%s.txt" % case, i)
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
	echo "## pause ($(date -I), $(uname -r), $(nproc) cpus, cgroups $CGMODE)"
	echo
	cat "$OUT/table.md"
	sed -n '/^load average/p' "$OUT/machine.txt"
} | tee "$OUT/report.md"
log "raw results: $OUT"
