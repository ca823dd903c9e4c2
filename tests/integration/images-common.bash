# Helpers for the image suites (images*.sh), sourced after tests/lib.sh. Not a suite itself
# (tests/run.sh only runs *.sh). JSON is read with python3 so jq is not needed.

# images_setup: fixtures, their facts (exported, so python sees them), a fresh daemon.
images_setup() {
	rb_fixtures || { fail "fixtures are built (tests/fixtures/make-images.sh)"; exit 1; }
	set -a
	# shellcheck disable=SC1091
	. "$RB_FIXTURES/facts.env"
	set +a
	FX=$RB_FIXTURES
	fresh_store state || exit 1
}

# fresh_store NAME: (re)start the private daemon on an empty state dir $RB_TEST_ROOT/NAME.
fresh_store() {
	rb_daemon_stop
	export RUNBOX_STATE_DIR=$RB_TEST_ROOT/$1
	STORE=$RUNBOX_STATE_DIR/images
	export STORE
	if ! rb_daemon_start; then
		fail "daemon starts on a fresh state dir ($1)"
		return 1
	fi
}

# pyj EXPR: evaluates a python expression over the JSON on stdin (as d); prints strings raw and
# anything else as JSON. imgs(d) accepts a bare array, {"data":[...]} or {"images":[...]};
# img(d, ref) finds the image with that id or name; E is os.environ.
pyj() {
	python3 -c '
import json, os, sys
E = os.environ
def imgs(d):
    if isinstance(d, dict):
        for k in ("data", "images"):
            if isinstance(d.get(k), list):
                return d[k]
        return [d]
    return d
def img(d, ref):
    for i in imgs(d):
        if i.get("id") == ref or ref in (i.get("names") or []):
            return i
    return None
def diff_ids(i):
    return " ".join(l.get("diffId", "") for l in i.get("layers", []))
def words(s):
    return s.split()
try:
    d = json.load(sys.stdin)
except ValueError as e:
    print("<not JSON: %s>" % e)
    sys.exit(2)
r = eval(sys.argv[1])
print(r if isinstance(r, str) else json.dumps(r, sort_keys=True))
' "$1"
}

# api_call METHOD PATH [JSON]: sets BODY and STATUS.
api_call() {
	local out
	out=$(api "$@")
	STATUS=${out##*HTTP }
	BODY=${out%$'\n'HTTP *}
	[ "$BODY" != "$out" ] || BODY=""
}

urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# cli OUTVAR ARGS...: runs runbox, stdout+stderr into OUTVAR, exit status into RC.
cli() {
	local __v=$1
	shift
	local __o
	__o=$("$RUNBOX" "$@" 2>&1)
	RC=$?
	printf -v "$__v" '%s' "$__o"
}

# store_listing: every path under blobs/ and tmp/ of the store and the top two levels of layers/
# (with inode numbers), sorted; what a failed load must leave unchanged.
store_listing() {
	(
		cd "$STORE" 2>/dev/null || exit 0
		find blobs tmp -mindepth 1 2>/dev/null
		find layers -mindepth 1 -maxdepth 2 -printf '%p %i\n' 2>/dev/null
	) | sort
}

# layer_dir DIGEST: where the layer with that diff_id is unpacked (layers/ALGO/HEX).
layer_dir() {
	echo "$STORE/layers/${1%%:*}/${1#*:}"
}

# layer_names: the diff_id hex of every unpacked layer in the store (either layout), and any
# other entry of layers/ as it is, one a line, sorted.
layer_names() {
	local e
	for e in "$STORE"/layers/* "$STORE"/layers/.[!.]*; do
		[ -e "$e" ] || continue
		case "${e##*/}" in
		sha256 | sha512) ls -A "$e" ;;
		*) echo "${e##*/}" ;;
		esac
	done | sort
}

# layer_tree_listing: every entry of every unpacked layer with inode, mtime and ctime.
layer_tree_listing() {
	(cd "$STORE/layers" 2>/dev/null && find . -printf '%p %i %T@\n' | sort)
}

# busybox_layer_problems DIFF_IDS: checks the three unpacked layers of the busybox fixture:
# files, links, ownership, the whiteout (0/0 char device) and the opaque dir (xattr). Prints the
# problems found; fails when there are any.
busybox_layer_problems() {
	python3 - "$STORE" "$1" <<'EOF'
import hashlib, os, stat, sys
store, ids = sys.argv[1], [x.split(":", 1)[-1] for x in sys.argv[2].split()]
E = os.environ
bad = []
def layer_dir(h):
    p = os.path.join(store, "layers", h)
    q = os.path.join(store, "layers", "sha256", h)
    return q if not os.path.isdir(p) and os.path.isdir(q) else p
dirs = [layer_dir(h) for h in ids]
for p in dirs:
    if not os.path.isdir(p):
        bad.append("no layer dir " + p)
if len(dirs) != 3:
    bad.append("expected 3 layers, got %d" % len(dirs))
def lst(p):
    try:
        return os.lstat(p)
    except OSError:
        return None
if not bad:
    l1, l2, l3 = dirs
    bb = os.path.join(l1, "bin/busybox")
    st = lst(bb)
    if st is None or not stat.S_ISREG(st.st_mode):
        bad.append("layer 1: no regular bin/busybox")
    else:
        with open(bb, "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest()
        if h != E["BUSYBOX_SHA256"]:
            bad.append("layer 1: bin/busybox sha256 %s != %s" % (h, E["BUSYBOX_SHA256"]))
        if stat.S_IMODE(st.st_mode) != 0o755 or st.st_uid != 0 or st.st_gid != 0:
            bad.append("layer 1: bin/busybox mode %o owner %d:%d" % (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
    sh = os.path.join(l1, "bin/sh")
    if not os.path.islink(sh) or os.readlink(sh) != "busybox":
        bad.append("layer 1: bin/sh is not a symlink to busybox")
    for f in ("etc/passwd", "etc/motd", "opt/data/a", "opt/data/b"):
        if not os.path.isfile(os.path.join(l1, f)):
            bad.append("layer 1: no " + f)
    st = lst(os.path.join(l2, E["WHITEOUT_PATH"]))
    if st is None:
        bad.append("layer 2: no whiteout at " + E["WHITEOUT_PATH"])
    elif not stat.S_ISCHR(st.st_mode) or st.st_rdev != 0:
        bad.append("layer 2: %s is not a 0/0 char device (mode %o rdev %d)" % (E["WHITEOUT_PATH"], st.st_mode, st.st_rdev))
    if lst(os.path.join(l2, "etc/.wh.motd")) is not None:
        bad.append("layer 2: etc/.wh.motd left as a file")
    od = os.path.join(l3, E["OPAQUE_DIR"])
    if not os.path.isdir(od):
        bad.append("layer 3: no dir " + E["OPAQUE_DIR"])
    else:
        try:
            v = os.getxattr(od, "trusted.overlay.opaque", follow_symlinks=False)
        except OSError as e:
            v = "<%s>" % e.strerror
        if v != b"y":
            bad.append("layer 3: %s trusted.overlay.opaque = %r" % (E["OPAQUE_DIR"], v))
        if sorted(os.listdir(od)) != ["c"]:
            bad.append("layer 3: %s holds %s, want ['c']" % (E["OPAQUE_DIR"], sorted(os.listdir(od))))
        else:
            with open(os.path.join(od, "c")) as f:
                if f.read() != "new c\n":
                    bad.append("layer 3: opt/data/c has the wrong content")
print("; ".join(bad))
sys.exit(1 if bad else 0)
EOF
}

# check_busybox_layers NAME DIFF_IDS
check_busybox_layers() {
	local out
	if out=$(busybox_layer_problems "$2"); then pass "$1"; else fail "$1: $out"; fi
}

# expect_py NAME JSON EXPR: EXPR (python, over d) must be True.
expect_py() {
	local out
	out=$(printf '%s' "$2" | pyj "$3" 2>&1)
	if [ "$out" = "true" ]; then pass "$1"; else fail "$1: ($3) is $out; JSON: ${2:0:600}"; fi
}
