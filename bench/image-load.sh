#!/usr/bin/env bash
# image-load.sh: how fast runbox loads a large layer, against tar and umoci on the same layer
# and the same filesystem; the daemon's peak memory during a load; the time to reload an image
# whose layers are present. See bench/README.md.
#
# Usage: bench/image-load.sh [--tmpfs | --disk]
#   --tmpfs (default) the whole measurement runs in a private mount namespace (unshare -m
#           --propagation private) with a tmpfs on its work dir: inputs are copied there, every
#           tool unpacks there, and the daemons under test run there. The host sees no mount; the
#           tmpfs goes with the namespace. Needs root.
#   --disk  the work dir is a plain directory under BENCH_DIR, on whatever filesystem that is.
#
# Environment: RUNBOX (default build/runbox), BENCH_DIR (default /tmp/runbox-bench: the cached
# layer and archive, and a work dir removed at exit), LAYER_MB (default 200), RUNS (default 5).
set -euo pipefail
# shellcheck source=bench/common.bash
. "$(dirname "$0")/common.bash"
bench_init image-load
RUNBOX=${RUNBOX:-$ROOT/build/runbox}
LAYER_MB=${LAYER_MB:-200}
RUNS=${RUNS:-5}
CACHE=$BENCH_DIR/cache-${LAYER_MB}mb
STAMP=$CACHE/.done-v1
MODE=tmpfs
for a in "$@"; do
	case $a in
	--tmpfs) MODE=tmpfs ;;
	--disk) MODE=disk ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) log "unknown argument $a (--tmpfs or --disk)"; exit 2 ;;
	esac
done
# Marker of the re-executed script inside the namespace: the work dir the tmpfs is mounted on.
NS_WORK=${RUNBOX_BENCH_NS_WORK:-}
unset RUNBOX_BENCH_NS_WORK

bench_need hyperfine umoci tar gzip python3 curl sha256sum
mkdir -p "$BENCH_DIR" "$RESULTS"

# --- tmpfs: re-run this script in a mount namespace of its own ----------------------------------
# The outer run makes the (empty) work dir, runs the namespace and waits for it, then removes the
# dir. Everything the inner run starts is inside the namespace and is killed by pid before it
# ends; when its last process is gone the namespace, and with it the tmpfs, is gone too.
if [ "$MODE" = tmpfs ] && [ -z "$NS_WORK" ]; then
	[ "$(id -u)" = 0 ] || die "--tmpfs needs root (or use --disk)"
	bench_need unshare
	outer_work=$(mktemp -d "$BENCH_DIR/work.XXXXXX")
	rc=0
	RUNBOX_BENCH_NS_WORK=$outer_work unshare -m --propagation private -- bash "$0" "$@" || rc=$?
	if mountpoint -q "$outer_work"; then
		log "$outer_work is still a mount point on the host"
		rc=1
	else
		rm -rf "$outer_work"
	fi
	exit $rc
fi
# --- the cached layer and image --------------------------------------------------------------------
# The layer is a tar of whole directories of /usr/lib (under usr/lib/), taken in name order while
# they fit, until about LAYER_MB MB: real files, many small and some large. Gzip -6.
build_cache() {
	local tmp
	tmp=$(mktemp -d "$BENCH_DIR/cache.build.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" RETURN
	log "building a ~${LAYER_MB} MB layer from /usr/lib (cached in $CACHE)"
	local budget=$((LAYER_MB * 1000 * 1000)) total=0 size e
	local entries=()
	while read -r e; do
		[ -e "/usr/lib/$e" ] && [ ! -L "/usr/lib/$e" ] || continue
		size=$(du -sb "/usr/lib/$e" 2>/dev/null | cut -f1) || continue
		if [ $((total + size)) -le $((budget * 11 / 10)) ]; then
			entries+=("usr/lib/$e")
			total=$((total + size))
		fi
		[ "$total" -lt $((budget * 95 / 100)) ] || break
	done < <(ls -A /usr/lib | LC_ALL=C sort)
	printf '%s\n' "${entries[@]}" >"$tmp/entries"
	tar -C / --sort=name --numeric-owner -cf "$tmp/layer.tar" --no-recursion usr usr/lib --recursion "${entries[@]}"
	gzip -6 -c "$tmp/layer.tar" >"$tmp/layer.tar.gz"
	python3 - "$tmp" <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for c in iter(lambda: f.read(1 << 20), b""):
            h.update(c)
    return h.hexdigest()
diff_id, blob = sha(d + "/layer.tar"), sha(d + "/layer.tar.gz")
def layout(dir, ref):
    b = os.path.join(dir, "blobs", "sha256")
    os.makedirs(b)
    os.link(d + "/layer.tar.gz", os.path.join(b, blob))
    def put(obj):
        data = json.dumps(obj, separators=(",", ":")).encode()
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(b, h), "wb") as f:
            f.write(data)
        return "sha256:" + h, len(data)
    cfg, cfg_size = put({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
                         "history": [{"created_by": "runbox bench/image-load.sh"}]})
    man, man_size = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfg_size},
                         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                     "digest": "sha256:" + blob, "size": os.path.getsize(d + "/layer.tar.gz")}]})
    with open(os.path.join(dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": man, "size": man_size, "annotations": {"org.opencontainers.image.ref.name": ref}}]}, f)
    with open(os.path.join(dir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return cfg
layout(d + "/layout", "latest")              # for umoci unpack
cfg = layout(d + "/archive", "bench:latest") # the oci-archive for runbox
with open(d + "/facts.env", "w") as f:
    f.write("DIFF_ID=sha256:%s\nBLOB=sha256:%s\nIMAGE_ID=%s\nLAYER_BYTES=%d\nGZ_BYTES=%d\n" % (
        diff_id, blob, cfg, os.path.getsize(d + "/layer.tar"), os.path.getsize(d + "/layer.tar.gz")))
EOF
	# the archive, as skopeo writes it: blobs first, then index.json and oci-layout
	tar -C "$tmp/archive" --sort=name --owner=0 --group=0 --numeric-owner -cf "$tmp/image.tar" blobs index.json oci-layout
	rm -rf "$tmp/archive"
	touch "$tmp/.done-v1"
	rm -rf "$CACHE"
	mv -T "$tmp" "$CACHE"
}
[ -f "$STAMP" ] || build_cache
# shellcheck disable=SC1091
. "$CACHE/facts.env"
FILES=$(tar -tf "$CACHE/layer.tar" | wc -l)
MB=$(python3 -c "print(round($LAYER_BYTES / 1e6, 1))")

# --- work dir and daemons, removed/killed at exit ----------------------------------------------------
DAEMONS=()
if [ -n "$NS_WORK" ]; then
	WORK=$NS_WORK
	# inputs (~2x the gzip size), tar's and umoci's trees, and two daemons' stores (blob + layer)
	mount -t tmpfs -o "size=$((LAYER_MB * 8 + 512))m,mode=0700" runbox-bench "$WORK"
else
	WORK=$(mktemp -d "$BENCH_DIR/work.XXXXXX")
fi
cleanup() {
	local p lock
	for p in "${DAEMONS[@]}"; do bench_kill_pid "$p"; done
	# a daemon the CLI may have started itself (only if ours had died): its pid is in the lock
	# of its state dir, and its command line names our socket
	for lock in "$WORK"/*/lock; do
		[ -f "$lock" ] || continue
		p=$(head -c 32 "$lock" | tr -dc 0-9)
		[ -n "$p" ] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "--socket $WORK/" &&
			bench_kill_pid "$p"
	done
	if [ -n "$NS_WORK" ]; then
		umount "$WORK" 2>/dev/null || umount -l "$WORK" || true
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
FSTYPE=$(stat -f -c %T "$WORK")
if [ -n "$NS_WORK" ]; then
	# the inputs too, so that every read and write of the measurement is in memory
	mkdir "$WORK/in"
	cp -a "$CACHE/layer.tar.gz" "$CACHE/image.tar" "$CACHE/layout" "$WORK/in/"
	CACHE=$WORK/in
fi
log "work dir $WORK on $FSTYPE${NS_WORK:+ (private mount namespace)}; layer: $MB MB uncompressed, $FILES entries, $((GZ_BYTES / 1000000)) MB gzip"

# start_daemon NAME: a private daemon on $WORK/NAME.sock with state $WORK/NAME; sets DPID, SOCK
start_daemon() {
	SOCK=$WORK/$1.sock
	"$RUNBOX" serve --socket "$SOCK" --state-dir "$WORK/$1" >>"$WORK/$1.log" 2>&1 &
	DPID=$!
	DAEMONS+=("$DPID")
	bench_wait_daemon "$DPID" "$SOCK" "$WORK/$1.log"
}
# layer_path STATE: the unpacked bench layer (layers/HEX, or layers/sha256/HEX)
layer_path() {
	local h=${DIFF_ID#sha256:}
	if [ -d "$1/images/layers/sha256/$h" ]; then echo "$1/images/layers/sha256/$h"; else echo "$1/images/layers/$h"; fi
}
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

HF=(hyperfine --style basic --runs "$RUNS" --warmup 1)
STAMP_NOW=$(date +%Y%m%d-%H%M%S)
OUTJ=$WORK/json
mkdir -p "$OUTJ"

# --- (a) tar -xzf and (b) umoci unpack ---------------------------------------------------------------
log "(a) tar -xzf"
"${HF[@]}" --export-json "$OUTJ/tar.json" --prepare "rm -rf '$WORK/tar' && mkdir '$WORK/tar'" \
	-n "tar -xzf" "tar -xzf '$CACHE/layer.tar.gz' -C '$WORK/tar'" >&2
rm -rf "$WORK/tar"
log "(b) umoci unpack"
"${HF[@]}" --export-json "$OUTJ/umoci.json" --prepare "rm -rf '$WORK/bundle'" \
	-n "umoci unpack" "umoci unpack --image '$CACHE/layout:latest' '$WORK/bundle'" >&2
rm -rf "$WORK/bundle"

# --- (c) runbox load, and what only runbox has ---------------------------------------------------------
HAVE_RUNBOX=0
NOTES=()
if [ -x "$RUNBOX" ]; then
	HAVE_RUNBOX=1
	start_daemon load
	export RUNBOX_SOCKET=$SOCK RUNBOX_STATE_DIR=$WORK/load
	LOAD_PID=$DPID
	log "(c) runbox load (rmi -f in --prepare: the image and its layer are collected before each run)"
	"${HF[@]}" --export-json "$OUTJ/runbox.json" --prepare "'$RUNBOX' rmi -f bench:latest >/dev/null 2>&1 || true" \
		-n "runbox load" "'$RUNBOX' load -q -i '$CACHE/image.tar'" >&2
	# sanity: the load really unpacked the layer, and rmi really collects it
	n=$(find "$(layer_path "$WORK/load")" 2>/dev/null | wc -l || true)
	[ "$n" -ge "$FILES" ] || NOTES+=("unpacked layer has $n entries, the tar $FILES")
	"$RUNBOX" image inspect bench:latest 2>/dev/null | grep -q "$IMAGE_ID" ||
		NOTES+=("bench:latest does not have the id $IMAGE_ID after a load")

	log "reload of the present image"
	"$RUNBOX" load -q -i "$CACHE/image.tar" >/dev/null
	hyperfine --style basic -N --warmup 3 --runs 20 --export-json "$OUTJ/reload.json" \
		-n "runbox load (present)" "$RUNBOX load -q -i $CACHE/image.tar" >&2
	hyperfine --style basic -N --warmup 3 --runs 20 --export-json "$OUTJ/reload-api.json" \
		-n "POST /images/load (present)" \
		"curl -sf --unix-socket $SOCK -X POST -H Content-Type:application/json --data-binary '{\"path\":\"$CACHE/image.tar\"}' http://x/api/v1/images/load" >&2
	curl -s --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
		--data-binary "{\"path\":\"$CACHE/image.tar\"}" http://x/api/v1/images/load >"$WORK/reload-body.json" || true
	SERVER_MS=$(python3 -c '
import json, sys
def walk(o, p=""):
    if isinstance(o, dict):
        for k, v in o.items():
            if any(s in k.lower() for s in ("duration", "elapsed", "took", "timing")):
                print("%s%s=%s" % (p, k, json.dumps(v)))
            else:
                walk(v, p + k + ".")
try:
    walk(json.load(open(sys.argv[1])))
except Exception:
    pass' "$WORK/reload-body.json" | head -3 | tr '\n' ' ')
	"$RUNBOX" rmi -f bench:latest >/dev/null 2>&1 || true
	[ ! -e "$(layer_path "$WORK/load")" ] || NOTES+=("rmi -f bench:latest left the layer dir: runs 2.. may have been reloads")

	log "peak memory of a fresh daemon during one load"
	start_daemon mem
	sleep 0.2
	HWM0=$(hwm_kb "$DPID")
	RSS0=$(rss_kb "$DPID")
	RUNBOX_SOCKET=$SOCK RUNBOX_STATE_DIR=$WORK/mem "$RUNBOX" load -q -i "$CACHE/image.tar" >/dev/null
	HWM1=$(hwm_kb "$DPID")
	RSS1=$(rss_kb "$DPID")
	kill -0 "$LOAD_PID" 2>/dev/null || NOTES+=("the load daemon died during the bench: see its log")
else
	log "no runbox at $RUNBOX: only tar and umoci are measured"
fi

# --- report -----------------------------------------------------------------------------------------
OUT=$RESULTS/image-load-$STAMP_NOW.md
for f in "$OUTJ"/*.json; do cp "$f" "$RESULTS/image-load-$STAMP_NOW-$(basename "$f")"; done
export LAYER_BYTES GZ_BYTES FILES FSTYPE HAVE_RUNBOX OUTJ MODE
export HWM0=${HWM0:-} HWM1=${HWM1:-} RSS0=${RSS0:-} RSS1=${RSS1:-} SERVER_MS=${SERVER_MS:-}
{
	echo "## image-load ($(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), work dir on $FSTYPE${NS_WORK:+ in a private mount namespace})"
	echo
	echo "Command: \`bash bench/image-load.sh --$MODE\` (LAYER_MB=$LAYER_MB RUNS=$RUNS)"
	echo
	echo "Layer: $MB MB uncompressed ($FILES entries, from /usr/lib), $(python3 -c "print(round($GZ_BYTES/1e6,1))") MB gzip -6. $RUNS runs each (1 warmup)."
	echo
	python3 - <<'EOF'
import json, os
E = os.environ
mb = int(E["LAYER_BYTES"]) / 1e6
def res(n):
    p = os.path.join(E["OUTJ"], n + ".json")
    if not os.path.exists(p):
        return None
    return json.load(open(p))["results"][0]
tar = res("tar")
print("| what | mean ± σ | MB/s (uncompressed) | throughput vs tar -xzf |")
print("|---|---|---|---|")
for name, label in (("tar", "tar -xzf"), ("umoci", "umoci unpack"), ("runbox", "runbox load (fresh)")):
    r = res(name)
    if r is None:
        print("| %s | n/a | | |" % label)
        continue
    print("| %s | %.3f s ± %.3f | %.0f | %.2f× |" % (label, r["mean"], r["stddev"] or 0, mb / r["mean"], tar["mean"] / r["mean"]))
print()
print("| target | measured | met |")
print("|---|---|---|")
r = res("runbox")
if r:
    x = tar["mean"] / r["mean"]
    print("| load throughput ≥ 1.0× tar -xzf | %.2f× | %s |" % (x, "yes" if x >= 1.0 else "**no**"))
if E["HWM1"]:
    h0, h1 = int(E["HWM0"]), int(E["HWM1"])
    print("| daemon peak memory ≤ 32 MiB | VmHWM %.1f MiB after the load (%.1f MiB before: +%.1f MiB; VmRSS %.1f → %.1f MiB) | %s |" % (
        h1 / 1024, h0 / 1024, (h1 - h0) / 1024, int(E["RSS0"]) / 1024, int(E["RSS1"]) / 1024, "yes" if h1 <= 32 * 1024 else "**no**"))
for n, label in (("reload", "reload, CLI"), ("reload-api", "reload, API (curl)")):
    r = res(n)
    if r:
        ms = r["mean"] * 1000
        print("| %s ≤ 20 ms | %.1f ms ± %.1f (min %.1f) | %s |" % (label, ms, (r["stddev"] or 0) * 1000, r["min"] * 1000, "yes" if ms <= 20 else "**no**"))
if E["SERVER_MS"]:
    print("| daemon-side reload time (from the API answer) | %s | |" % E["SERVER_MS"].strip())
if E["HAVE_RUNBOX"] != "1":
    print("| runbox | not built: not measured | |")
EOF
	for n in "${NOTES[@]}"; do echo; echo "Note: $n"; done
} | tee "$OUT"
log "results in $OUT"
