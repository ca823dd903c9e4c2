#!/usr/bin/env bash
# The image store under load: a reload unpacks nothing, concurrent loads are safe and leave one
# dir per layer, rmi removes names and collects blobs and layers nothing else references.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
images_setup

layer_dir_stats() { # DIFF_IDS: inode and mtime of each layer dir
	local h
	for h in $1; do stat -c '%n %i %Y' "$(layer_dir "$h")" 2>&1; done
}
# exactly_one_dir_per_layer NAME: layers/ holds exactly the diffIds of the listed images, tmp/ is empty
exactly_one_dir_per_layer() {
	local want have tmp
	want=$("$RUNBOX" images --json 2>&1 | pyj '" ".join(sorted({l["diffId"].split(":")[1] for i in imgs(d) for l in i.get("layers", [])}))')
	have=$(layer_names | tr '\n' ' ')
	tmp=$(ls -A "$STORE/tmp" 2>&1)
	if [ "$want " = "$have" ] && [ -z "$tmp" ]; then pass "$1"; else
		fail "$1: layers/ has [$have], images reference [$want], tmp/ has [$tmp]"; fi
}

EMPTY_LISTING=$(store_listing) # the default image only

# --- reload ----------------------------------------------------------------------------------------
cli out load -i "$FX/busybox-oci.tar"
expect_eq "first load exits 0" "$RC" 0
before_dirs=$(layer_dir_stats "$BUSYBOX_DIFF_IDS")
before_tree=$(layer_tree_listing)
before_store=$(store_listing)
t0=$(date +%s%N)
cli out load -i "$FX/busybox-oci.tar"
t1=$(date +%s%N)
expect_eq "reload exits 0" "$RC" 0
expect_contains "reload prints 'Loaded image: busybox:latest'" "$out" "Loaded image: busybox:latest"
expect_eq "reload: layer dirs keep inode and mtime" "$(layer_dir_stats "$BUSYBOX_DIFF_IDS")" "$before_dirs"
if [ "$(layer_tree_listing)" = "$before_tree" ]; then pass "reload: no file of any layer is re-created"; else
	fail "reload: layer trees changed: $(diff <(echo "$before_tree") <(layer_tree_listing) | head -5)"; fi
expect_eq "reload: blobs/, layers/ and tmp/ unchanged" "$(store_listing)" "$before_store"
ms=$(((t1 - t0) / 1000000))
if [ "$ms" -lt 1000 ]; then pass "reload is quick (${ms} ms through the CLI)"; else fail "reload took ${ms} ms"; fi
api_call POST /api/v1/images/load "{\"path\":\"$FX/busybox-oci.tar\"}"
expect_eq "API reload is 201" "$STATUS" 201
expect_py "API reload: same id" "$BODY" 'd["images"][0].get("id") == E["BUSYBOX_ID"]'
expect_eq "API reload: layer trees unchanged" "$(layer_tree_listing)" "$before_tree"
# the same layers from another archive kind are not unpacked again either
cli out load -i "$FX/busybox-docker.tar"
expect_eq "docker-archive of the same image: exits 0, layer dirs unchanged" \
	"$RC $(layer_dir_stats "$BUSYBOX_DIFF_IDS")" "0 $before_dirs"

# --- concurrent loads ------------------------------------------------------------------------------
fresh_store conc1
"$RUNBOX" load -i "$FX/busybox-oci.tar" >"$RB_TEST_ROOT/c1.out" 2>&1 &
p1=$!
"$RUNBOX" load -i "$FX/busybox-docker.tar" --name conc:2 >"$RB_TEST_ROOT/c2.out" 2>&1 &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
expect_eq "two CLI loads at once (oci + docker of one image) both succeed" "$r1 $r2" "0 0"
[ "$r1 $r2" = "0 0" ] || cat "$RB_TEST_ROOT/c1.out" "$RB_TEST_ROOT/c2.out"
cli out images --json
expect_py "concurrent CLI loads: one image with both names" "$out" \
	'[{"busybox:latest", "conc:2"} <= set(i.get("names") or []) for i in imgs(d) if i.get("id") == E["BUSYBOX_ID"]] == [True]'
exactly_one_dir_per_layer "concurrent CLI loads: exactly one dir per layer, tmp/ empty"
check_busybox_layers "concurrent CLI loads: layers intact" "$BUSYBOX_DIFF_IDS"

fresh_store conc2
pids=()
for n in 1 2 3; do
	api POST /api/v1/images/load "{\"path\":\"$FX/busybox-oci.tar\",\"name\":\"par:$n\"}" >"$RB_TEST_ROOT/p$n.out" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
codes=$(for n in 1 2 3; do tail -n1 "$RB_TEST_ROOT/p$n.out"; done | tr '\n' ' ')
expect_eq "three API loads of one archive at once: all 201" "$codes" "HTTP 201 HTTP 201 HTTP 201 "
cli out images --json
expect_py "concurrent API loads: one image with all names" "$out" \
	'[{"busybox:latest", "par:1", "par:2", "par:3"} <= set(i.get("names") or []) for i in imgs(d) if i.get("id") == E["BUSYBOX_ID"]] == [True]'
exactly_one_dir_per_layer "concurrent API loads: exactly one dir per layer, tmp/ empty"
check_busybox_layers "concurrent API loads: layers intact" "$BUSYBOX_DIFF_IDS"

# --- rmi and garbage collection ----------------------------------------------------------------------
fresh_store gc
EMPTY_LISTING=$(store_listing)
read -r L1 L2 L3 <<<"$BUSYBOX_DIFF_IDS"
read -r _ S2 <<<"$SIBLING_DIFF_IDS"
read -r B1 B2 B3 <<<"$OCI_LAYER_DIGESTS"
read -r _ SB2 <<<"$SIBLING_OCI_LAYER_DIGESTS"
has() { if [ "$1" = layers ]; then [ -e "$(layer_dir "$2")" ]; else [ -e "$STORE/$1/${2#sha256:}" ]; fi; }
# present_of KIND DIGESTS...: which of them are on disk
present_of() {
	local k=$1 x r=""
	shift
	for x in "$@"; do has "$k" "$x" && r+=" ${x:7:12}"; done
	echo "[${r# }]"
}

cli out load -i "$FX/busybox-oci.tar" --name extra:1
api_call POST /api/v1/images/load "{\"path\":\"$FX/sibling-oci.tar\"}"
expect_eq "gc setup: busybox and sibling loaded" "$RC $STATUS $(present_of layers "$L1" "$L2" "$L3" "$S2")" \
	"0 201 [${L1:7:12} ${L2:7:12} ${L3:7:12} ${S2:7:12}]"

cli out rmi extra:1
expect_eq "rmi extra:1 (one of two names) exits 0" "$RC" 0
cli out images --json
expect_py "rmi of one name: the image stays with busybox:latest only" "$out" \
	'[i.get("names") for i in imgs(d) if i.get("id") == E["BUSYBOX_ID"]] == [["busybox:latest"]]'
expect_eq "rmi of one name: no layer removed" "$(present_of layers "$L1" "$L2" "$L3")" "[${L1:7:12} ${L2:7:12} ${L3:7:12}]"

cli out rmi busybox:latest
expect_eq "rmi busybox:latest (last name) exits 0" "$RC" 0
api_call GET "/api/v1/images/$BUSYBOX_ID"
expect_eq "rmi of the last name deletes the image (GET by id is 404)" "$STATUS" 404
expect_eq "GC: busybox's own layers are gone, the shared one stays" \
	"$(present_of layers "$L1" "$L2" "$L3")" "[${L1:7:12}]"
expect_eq "GC: busybox's own blobs (layers, config, manifest) are gone, the shared one stays" \
	"$(present_of blobs/sha256 "$B1" "$B2" "$B3" "$BUSYBOX_ID" "$OCI_MANIFEST")" "[${B1:7:12}]"
cli out image inspect sibling:latest
expect_py "GC: sibling still inspects" "$out" 'imgs(d)[0].get("id") == E["SIBLING_ID"]'
f=$(layer_dir "$L1")/bin/busybox
expect_eq "GC: the shared layer's bin/busybox is intact" "$(sha256sum <"$f" 2>&1 | cut -d' ' -f1)" "$BUSYBOX_SHA256"

api_call DELETE /api/v1/images/sibling:latest
expect_eq "DELETE /api/v1/images/sibling:latest is 200" "$STATUS" 200
expect_eq "GC: with every image removed the store is as fresh (blobs, layers, tmp)" "$(store_listing)" "$EMPTY_LISTING"
expect_eq "GC: no sibling layer or blob left" "$(present_of layers "$L1" "$S2")$(present_of blobs/sha256 "$B1" "$SB2" "$SIBLING_ID")" "[][]"

cli out load -i "$FX/busybox-oci.tar" --name byid:1
cli out rmi "$BUSYBOX_ID"
expect_eq "rmi by id exits 0" "$RC" 0
cli out images --json
expect_py "rmi by id removes every name" "$out" 'all(i.get("id") != E["BUSYBOX_ID"] for i in imgs(d))'
expect_eq "rmi by id: store as fresh" "$(store_listing)" "$EMPTY_LISTING"

cli out load -i "$FX/busybox-oci.tar"
cli out rmi -f busybox:latest
expect_eq "rmi -f of an unused image exits 0 and collects it" "$RC $(store_listing)" "0 $EMPTY_LISTING"
cli out images --json
expect_py "after everything: the default image is still listed" "$out" 'img(d, "runbox/default:latest") is not None'
