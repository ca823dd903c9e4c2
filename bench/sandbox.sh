#!/usr/bin/env bash
# sandbox.sh: the sandbox figures of issue 3's "Performance" section, side by side with crun:
# create -> exec true -> terminate over the API (vs `crun run`), exec true into a running sandbox
# (vs `crun exec`), a 4 KiB file read over the API (JSON and octet-stream), and PSS per idle
# sandbox. Requests go through bench/sandbox-bench.c (one keep-alive connection over the unix
# socket), built here with cc. See bench/README.md.
#
# Environment: RUNBOX (default build/runbox), BENCH_DIR (default /tmp/runbox-bench: a work dir
# under it is removed at exit), IMAGE (default runbox/default:latest), N_CYCLE (200), WARM_CYCLE
# (10), N_EXEC (1000), N_READ (1000), WARM (20: warm-up for the exec and read loops), N_IDLE (100),
# CRUN (1: compare with crun; 0 skips it), PROFILE (0: 1 adds an `strace -f -c` pass over
# PROFILE_N cycles after the measurements, whose summary goes to the results).
set -euo pipefail
# shellcheck source=bench/common.bash
. "$(dirname "$0")/common.bash"
bench_init sandbox
RUNBOX=${RUNBOX:-$ROOT/build/runbox}
IMAGE=${IMAGE:-runbox/default:latest}
N_CYCLE=${N_CYCLE:-200}
WARM_CYCLE=${WARM_CYCLE:-10}
N_EXEC=${N_EXEC:-1000}
N_READ=${N_READ:-1000}
WARM=${WARM:-20}
N_IDLE=${N_IDLE:-100}
CRUN=${CRUN:-1}
PROFILE=${PROFILE:-0}
PROFILE_N=${PROFILE_N:-50}
OUT=$RESULTS/sandbox-$(date +%Y%m%d-%H%M%S)

bench_need cc python3 hyperfine
[ "$PROFILE" = 0 ] || bench_need strace
bench_prepare
CRUN_ID=rbbench-$$

# --- cleanup: sandboxes, daemon, crun containers, work dir ---------------------------------------
agents_of() { # pids of runbox-agent processes whose parent is $1
	local p
	for p in $(pgrep -P "$1" 2>/dev/null || true); do
		[ "$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)" = "$1" ] || continue
		case $(readlink "/proc/$p/exe" 2>/dev/null) in *runbox-agent*) echo "$p" ;; esac
	done
}
cleanup() {
	local p left
	set +e
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		# terminate every sandbox still running (the agents outlive the daemon by design)
		bench_delete_sandboxes running
		left=$(agents_of "$DPID")
		bench_kill_pid "$DPID" 100
		for p in $left; do
			case $(readlink "/proc/$p/exe" 2>/dev/null) in
			*runbox-agent*) log "agent $p outlived the daemon: killed"; kill -9 "$p" ;;
			esac
		done
	fi
	[ "$CRUN" = 0 ] || bench_crun_cleanup
	[ -z "${STRACE_PID:-}" ] || kill "$STRACE_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_build_sb
bench_start_daemon
FSTYPE=$(stat -f -c %T "$STATE")
bench_machine "state dir on $FSTYPE" "$(hyperfine --version)" >"$OUT/machine.txt"
log "daemon $DPID; state dir $STATE on $FSTYPE; results in $OUT"

pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

# --- 1. create -> exec true -> DELETE ----------------------------------------------------------------
log "1. create -> exec true -> DELETE: $N_CYCLE iterations after $WARM_CYCLE warm-up"
"$SB" "$SOCK" cycle "$IMAGE" "$N_CYCLE" "$WARM_CYCLE" "$OUT/cycle.txt"

# --- 2. exec true into a running sandbox, 3. 4 KiB reads -----------------------------------------------
ID=$("$SB" "$SOCK" create "$IMAGE" 1)
log "2. exec true into $ID: $N_EXEC iterations after $WARM warm-up"
"$SB" "$SOCK" exec "$ID" "$N_EXEC" "$WARM" "$OUT/exec.txt"
# a 4096-byte text file (so the JSON answer is utf-8, not base64)
CONTENT=$(python3 -c 'import string; s=(string.ascii_letters+string.digits)*70; print(s[:4095])')
"$SB" "$SOCK" req POST "/api/v1/sandboxes/$ID/files" \
	"{\"path\":\"/tmp/4k.txt\",\"content\":\"$CONTENT\n\"}" >/dev/null
log "3. 4 KiB read: $N_READ iterations each, JSON and octet-stream"
"$SB" "$SOCK" read "$ID" /tmp/4k.txt 4096 json "$N_READ" "$WARM" "$OUT/read-json.txt"
"$SB" "$SOCK" read "$ID" /tmp/4k.txt 4096 raw "$N_READ" "$WARM" "$OUT/read-raw.txt"
"$SB" "$SOCK" delete "$ID"

# --- 4. PSS per idle sandbox ------------------------------------------------------------------------
log "4. PSS of $N_IDLE idle sandboxes"
for _ in $(seq 50); do [ -z "$(agents_of "$DPID")" ] && break; sleep 0.1; done
D0=$(pss_kb "$DPID")
"$SB" "$SOCK" create "$IMAGE" "$N_IDLE" >"$WORK/idle.ids"
sleep 1
AGENTS=$(agents_of "$DPID")
D1=$(pss_kb "$DPID")
# shellcheck disable=SC2086 # one argument per pid
python3 - "$D0" "$D1" "$N_IDLE" $AGENTS >"$OUT/memory.json" <<'EOF'
import json, sys
d0, d1, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pids = sys.argv[4:]
tot = {}
for p in pids:
    with open("/proc/%s/smaps_rollup" % p) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k.startswith("Pss"):
                tot[k] = tot.get(k, 0) + int(v.split()[0])
per = (tot.get("Pss", 0) + (d1 - d0)) / n
json.dump({"sandboxes": n, "agents_found": len(pids), "daemon_pss_before_kb": d0,
           "daemon_pss_after_kb": d1, "agents_pss_kb": tot, "per_sandbox_kb": round(per, 1)},
          sys.stdout, indent=1)
EOF
"$SB" "$SOCK" delete - <"$WORK/idle.ids"
for _ in $(seq 100); do [ -z "$(agents_of "$DPID")" ] && break; sleep 0.1; done
LEFT=$(agents_of "$DPID" | wc -l)
RUNNING=$("$SB" "$SOCK" req GET "/api/v1/sandboxes?state=running&limit=1" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["pagination"]["total"])')
echo "after terminating the $N_IDLE: $LEFT agent processes left, $RUNNING sandboxes running" >"$OUT/idle-cleanup.txt"
if [ "$LEFT" != 0 ] || [ "$RUNNING" != 0 ]; then log "WARNING: $(cat "$OUT/idle-cleanup.txt")"; fi

# --- optional: where the daemon's time goes (perturbs timing: after the measurements) -----------------
if [ "$PROFILE" != 0 ]; then
	log "profile: strace -f -c over $PROFILE_N cycles"
	strace -f -c -w -q -o "$OUT/strace-summary.txt" -p "$DPID" &
	STRACE_PID=$!
	sleep 1
	"$SB" "$SOCK" cycle "$IMAGE" "$PROFILE_N" 0 "$OUT/cycle-straced.txt"
	kill -INT "$STRACE_PID"; wait "$STRACE_PID" || true; STRACE_PID=
fi

# --- 5. crun, in a private mount namespace ----------------------------------------------------------
CRUN_STATUS="not run (CRUN=0)"
if [ "$CRUN" != 0 ]; then
	log "5. crun run / crun exec of the same rootfs"
	bench_crun_bundles bundle-run '["true"]' bundle-exec '["sleep", "1000"]'
	bench_crun_measure "$(cat <<EOF
set -eu
trap '$(bench_crun_rm exec)' EXIT
# crun run (not -d) deletes the container when it exits: the id is free again for the next run
crun run --bundle '$WORK/bundle-run' $CRUN_ID-run
hyperfine -N --style basic --warmup $WARM_CYCLE --runs $N_CYCLE --export-json '$OUT/crun-run.json' \
	-n 'crun run' 'crun run --bundle $WORK/bundle-run $CRUN_ID-run' >&2
crun run -d --bundle '$WORK/bundle-exec' $CRUN_ID-exec </dev/null >/dev/null 2>&1
crun exec $CRUN_ID-exec true
hyperfine -N --style basic --warmup $WARM --runs $N_EXEC --export-json '$OUT/crun-exec.json' \
	-n 'crun exec' 'crun exec $CRUN_ID-exec true' >&2
EOF
)"
fi
bench_end_measure

# --- the table ---------------------------------------------------------------------------------------
bench_py "$OUT" "$CRUN_STATUS" >"$OUT/table.md" <<'EOF'
import json, os, sys
out, crun_status = sys.argv[1], sys.argv[2]

def col(name, i=0):
    with open(os.path.join(out, name)) as f:
        return [float(l.split()[i]) for l in f if l.strip()]

def hf(name):
    p = os.path.join(out, name)
    if not os.path.exists(p):
        return None
    return stats([t * 1000 for t in json.load(open(p))["results"][0]["times"]])

ms = lambda v: "%.3f" % v if v < 1 else "%.2f" % v
def cells(s):
    return " | ".join(ms(s[k]) for k in ("p50", "p90", "p99", "mean"))

cyc = stats(col("cycle.txt"))
steps = {k: stats(col("cycle.txt", i)) for i, k in ((1, "create"), (2, "exec"), (3, "DELETE"))}
exe = stats(col("exec.txt"))
rj, rr = stats(col("read-json.txt")), stats(col("read-raw.txt"))
mem = json.load(open(os.path.join(out, "memory.json")))
crun_run, crun_exec = hf("crun-run.json"), hf("crun-exec.json")
summary = {"cycle": cyc, "cycle_steps": steps, "exec": exe, "read_json": rj, "read_raw": rr,
           "memory": mem, "crun_run": crun_run, "crun_exec": crun_exec, "crun_status": crun_status}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)

def ok(b):
    return "**met**" if b else "**not met**"
def row(*c):
    c = list(c) + [""] * (10 - len(c))
    print("| " + " | ".join(str(x) for x in c) + " |")
def st(s):
    return [s["n"]] + [ms(s[k]) for k in ("p50", "p90", "p99", "mean")]
def peer(s, name, ours, need):
    if not s:
        return ["%s: not measured (%s)" % (name, crun_status), "–", "≥ %d×: not checked" % need]
    r = s["p50"] / ours["p50"]
    return ["%s: p50 %s, p90 %s, p99 %s, mean %s" % (name, ms(s["p50"]), ms(s["p90"]), ms(s["p99"]), ms(s["mean"])),
            "%.1f×" % r, "≥ %d×: %s" % (need, ok(r >= need))]

row("measure (ms)", "n", "p50", "p90", "p99", "mean", "peer, same run (ms)", "peer p50 / ours", "ratio target", "p50 target")
row(*["---"] * 10)
row("1. create → exec `true` → DELETE", *st(cyc), *peer(crun_run, "`crun run`", cyc, 2),
    "≤ 5 ms: " + ok(cyc["p50"] <= 5))
for k, s in steps.items():
    row("&nbsp;&nbsp;of which " + k, *st(s))
row("&nbsp;&nbsp;vs `docker run`", "", "", "", "", "",
    "214, quoted in issue 3 (measured elsewhere; no Docker engine on this machine: **not measured here**)",
    "%.0f×" % (214 / cyc["p50"]), "≥ 40×: " + ok(214 / cyc["p50"] >= 40))
row("2. exec `true` into a running sandbox", *st(exe), *peer(crun_exec, "`crun exec`", exe, 5),
    "≤ 1 ms: " + ok(exe["p50"] <= 1))
row("&nbsp;&nbsp;vs `docker exec`", "", "", "", "", "",
    "69, quoted in issue 3 (**not measured here**)", "%.0f×" % (69 / exe["p50"]))
row("3. 4 KiB file read, JSON", *st(rj), "", "", "", "≤ 0.3 ms: " + ok(rj["p50"] <= 0.3))
row("3. 4 KiB file read, octet-stream", *st(rr), "", "", "", "≤ 0.3 ms: " + ok(rr["p50"] <= 0.3))
per = mem["per_sandbox_kb"]
a = mem["agents_pss_kb"]
row("4. PSS per idle sandbox: agents + daemon growth, / %d (%d agents found)" % (mem["sandboxes"], mem["agents_found"]),
    "", "%.0f KiB" % per, "", "", "",
    "docker shim 13.5 MB, podman conmon 1.1 MB (quoted in issue 3, not measured here)", "", "",
    "≤ 1 MiB: " + ok(per <= 1024))
print()
print("PSS detail: agents total %d KiB (anon %d, file %d, shmem %d); daemon %d → %d KiB (%+d KiB)."
      % (a.get("Pss", 0), a.get("Pss_Anon", 0), a.get("Pss_File", 0), a.get("Pss_Shmem", 0),
         mem["daemon_pss_before_kb"], mem["daemon_pss_after_kb"],
         mem["daemon_pss_after_kb"] - mem["daemon_pss_before_kb"]))
print("crun: %s." % crun_status)
EOF
{
	bench_heading "state dir on $FSTYPE"
	echo
	cat "$OUT/table.md"
	echo
	cat "$OUT/idle-cleanup.txt"
	sed -n '/^load average at end/p' "$OUT/machine.txt"
} | tee "$OUT/report.md"
log "raw results: $OUT"
