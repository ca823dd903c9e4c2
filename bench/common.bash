# bench/common.bash: what the bench scripts share. Sourced, never run (bench/run.sh runs *.sh):
#   . "$(dirname "$0")/common.bash"; bench_init NAME
# It sets ROOT (the checkout), RESULTS (bench/results) and BENCH_DIR, and changes no shell
# option: each script keeps its own `set`.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # for the scripts that source this
RESULTS=$ROOT/bench/results
BENCH_DIR=${BENCH_DIR:-/tmp/runbox-bench}

# bench_init NAME: messages say NAME; under set -e (where a failing command ends the run) that
# command and its line are said too.
bench_init() {
	BENCH_NAME=$1
	[[ $- != *e* ]] || trap 'echo "$BENCH_NAME: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
}
log() { echo "$BENCH_NAME: $*" >&2; }
die() {
	log "$*"
	exit 1
}
# bench_need TOOL...: each is on PATH, or the run ends saying which is missing.
bench_need() {
	local t
	for t in "$@"; do command -v "$t" >/dev/null || die "$t is needed"; done
}
bench_need_root() { [ "$(id -u)" = 0 ] || die "run as root"; }
bench_need_runbox() { [ -x "$RUNBOX" ] || die "$RUNBOX is not built (make)"; }

# bench_prepare: for a bench with a daemon of its own (and crun unless CRUN=0): the checks, then
# $OUT and a work dir under BENCH_DIR, WORK; SOCK and STATE in it, DPID empty.
bench_prepare() {
	[ "$CRUN" = 0 ] || bench_need crun unshare
	bench_need_runbox
	bench_need_root
	mkdir -p "$BENCH_DIR" "$OUT"
	WORK=$(mktemp -d "$BENCH_DIR/$BENCH_NAME.XXXXXX")
	SOCK=$WORK/s.sock
	STATE=$WORK/state
	DPID=
}

# bench_kill_pid PID [TENTHS]: TERM, up to TENTHS tenths of a second (50), then KILL; reaped
# when it is our child.
bench_kill_pid() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq "${2:-50}"); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# bench_build_sb: bench/sandbox-bench.c built into $WORK; sets SB.
bench_build_sb() {
	SB=$WORK/sandbox-bench
	cc -O2 -Wall -Wextra -o "$SB" "$ROOT/bench/sandbox-bench.c"
}
# bench_health SOCK: the daemon on SOCK answers GET /api/v1/health (through $SB once built).
bench_health() {
	if [ -n "${SB:-}" ]; then
		"$SB" "$1" req GET /api/v1/health
	else
		curl -sf --unix-socket "$1" http://x/api/v1/health
	fi >/dev/null 2>&1
}
# bench_wait_daemon PID SOCK LOG: up to 10 s for the daemon PID to answer on SOCK; when it does
# not, its LOG goes to stderr and the status is 1.
bench_wait_daemon() {
	for _ in $(seq 200); do
		bench_health "$2" && return 0
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	bench_health "$2" && return 0
	log "the daemon did not start:"
	cat "$3" >&2
	return 1
}
# bench_start_daemon: `runbox serve` on $SOCK with state $STATE, logging to $WORK/daemon.log;
# sets DPID, or ends the run when it does not answer. Its sandboxes get mode none unless a
# flag says otherwise (the machine's own namespace gets no veth, table or ip_forward).
bench_start_daemon() { # extra serve flags...
	"$RUNBOX" serve --socket "$SOCK" --state-dir "$STATE" --default-network none "$@" \
		>>"$WORK/daemon.log" 2>&1 &
	DPID=$!
	bench_wait_daemon "$DPID" "$SOCK" "$WORK/daemon.log" || exit 1
}
# bench_delete_sandboxes STATE...: DELETE every sandbox in each state (paused ones too).
bench_delete_sandboxes() {
	local st
	for st in "$@"; do
		"$SB" "$SOCK" req GET "/api/v1/sandboxes?state=$st&limit=100" 2>/dev/null |
			python3 -c 'import json,sys
try: [print(s["id"]) for s in json.load(sys.stdin)["data"]]
except Exception: pass' | "$SB" "$SOCK" delete - 2>/dev/null
	done
}
# bench_stop_daemon STATE...: when the daemon ($DPID) runs, the sandboxes in each state
# deleted, then the daemon stopped.
bench_stop_daemon() {
	[ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null || return 0
	bench_delete_sandboxes "$@"
	bench_kill_pid "$DPID" 100
}

# bench_machine RUNBOX_NOTE [CRUN_NOTE]: the lines of machine.txt at the start of a run.
bench_machine() {
	echo "date: $(date -Is)"
	echo "host: $(uname -n), kernel $(uname -r), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "runbox: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); $1"
	echo "crun: $(crun --version 2>/dev/null | head -1 || echo none)${2:+; $2}"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}
# bench_end_measure: CRUN_STATUS into $OUT/crun-status.txt, the load average at the end into
# machine.txt.
bench_end_measure() {
	echo "$CRUN_STATUS" >"$OUT/crun-status.txt"
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
}
# bench_py ARG... <<'EOF': python3 - ARG... running the script on stdin, with pct(xs, p) and
# stats(xs) (n, p50, p90, p99, mean; None for no values) defined before it.
bench_py() {
	python3 - "$@" < <(
		cat <<'EOF'
def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)

def stats(xs):
    return {"n": len(xs), "p50": pct(xs, 50), "p90": pct(xs, 90), "p99": pct(xs, 99),
            "mean": sum(xs) / len(xs)} if xs else None

EOF
		cat
	)
}
# bench_heading NOTE: a report's first line.
bench_heading() { echo "## $BENCH_NAME ($(date -I), $(uname -r), $(nproc) cpus, $1)"; }

# ---- crun, the peer: the same busybox rootfs, containers $CRUN_ID-* ----------------------------
# Debian's crun 1.8 refuses this hybrid host's cgroups: it runs in a private mount namespace
# where the cgroup2 tree's controllers are hidden, so it takes the v1 hierarchies (and the v1
# freezer). The host sees no mount.

# bench_crun SCRIPT: bash SCRIPT (its text) in such a namespace.
bench_crun() {
	unshare -m --propagation private bash -c "touch '$WORK/empty' &&
mount --bind '$WORK/empty' /sys/fs/cgroup/unified/cgroup.controllers || exit 1
$1"
}
# bench_crun_rm NAME...: the shell text that kills and deletes containers $CRUN_ID-NAME
# (resumed first, should they be paused), each error ignored.
bench_crun_rm() {
	local n ids=
	for n in "$@"; do ids+=" $CRUN_ID-$n"; done
	echo "for c in$ids; do crun resume \$c; crun kill \$c KILL; done 2>/dev/null; sleep 0.2
for c in$ids; do crun delete -f \$c; done 2>/dev/null; true"
}
# bench_crun_cleanup: every container $CRUN_ID-* still there, killed and deleted.
bench_crun_cleanup() {
	local left
	left=$(crun list 2>/dev/null | awk -v p="$CRUN_ID-" 'index($1, p) == 1 {print substr($1, length(p) + 1)}')
	# shellcheck disable=SC2086 # one argument per container
	[ -z "$left" ] || bench_crun "$(bench_crun_rm $left)" >/dev/null 2>&1
}
# bench_crun_bundles NAME ARGS_JSON...: the image's one layer copied to $WORK/rootfs and a
# bundle $WORK/NAME for each NAME, crun's default spec running ARGS_JSON (no terminal).
bench_crun_bundles() {
	local diff layer
	diff=$("$SB" "$SOCK" req GET "/api/v1/images/$IMAGE" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["layers"][0]["diffId"])')
	layer=$STATE/images/layers/${diff%%:*}/${diff#*:}
	[ -d "$layer" ] || die "no unpacked layer at $layer"
	cp -a "$layer" "$WORK/rootfs"
	mkdir -p "$WORK/spec"
	(cd "$WORK/spec" && crun spec)
	python3 - "$WORK" "$@" <<'EOF'
import json, os, sys
w, a = sys.argv[1], sys.argv[2:]
for name, args in zip(a[::2], a[1::2]):
    c = json.load(open("%s/spec/config.json" % w))
    c["process"]["args"] = json.loads(args)
    c["process"]["terminal"] = False
    c["root"]["path"] = w + "/rootfs"
    os.makedirs("%s/%s" % (w, name), exist_ok=True)
    json.dump(c, open("%s/%s/config.json" % (w, name), "w"), indent=1)
EOF
}
# bench_crun_measure SCRIPT: bench_crun SCRIPT, its stderr kept in $OUT/crun.log; sets
# CRUN_STATUS (ok, or why not, with warnings when the host was touched or a container remains)
# and notes in $OUT/machine.txt how the host's mounts changed meanwhile.
bench_crun_measure() {
	local changed
	grep -v "$WORK" /proc/self/mountinfo | sort >"$WORK/mountinfo.before"
	if bench_crun "$1" 2>"$WORK/crun.err"; then
		CRUN_STATUS=ok
	else
		CRUN_STATUS="failed: $(grep -v '^ *$' "$WORK/crun.err" | tail -3 | tr '\n' ' ')"
		log "crun $CRUN_STATUS"
	fi
	cp "$WORK/crun.err" "$OUT/crun.log"
	grep -v "$WORK" /proc/self/mountinfo | sort >"$WORK/mountinfo.after"
	if grep -q cgroup.controllers /proc/self/mountinfo; then
		CRUN_STATUS="$CRUN_STATUS; WARNING: the host has a mount on cgroup.controllers"
	fi
	changed=$(diff "$WORK/mountinfo.before" "$WORK/mountinfo.after" | grep -c '^[<>]' || true)
	echo "host mountinfo lines changed during the crun runs: $changed (other work on the machine may mount too)" >>"$OUT/machine.txt"
	diff "$WORK/mountinfo.before" "$WORK/mountinfo.after" >>"$OUT/machine.txt" || true
	if crun list 2>/dev/null | grep -q "$CRUN_ID"; then
		CRUN_STATUS="$CRUN_STATUS; WARNING: a crun container $CRUN_ID-* remains"
	fi
}
