#!/usr/bin/env bash
# Image loading through the CLI and the API: every archive kind (oci-archive with gzip, zstd and
# uncompressed layers, docker-archive, a multi-platform index), names, ids and config as
# umoci/skopeo computed them (tests/fixtures/facts.env), and the unpacked layers on disk.
# See images-store.sh (reload, concurrency, rmi and GC) and images-errors.sh (rejections).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
images_setup

# --- the built-in default image -----------------------------------------------------------------
cli out images --json
expect_py "images --json lists runbox/default:latest" "$out" 'img(d, "runbox/default:latest") is not None'
api_call GET /api/v1/images
expect_py "GET /api/v1/images has data[] with runbox/default:latest" "$BODY" \
	'isinstance(d.get("data"), list) and img(d, "runbox/default:latest") is not None'
DEFAULT_ID=$(printf '%s' "$BODY" | pyj '(img(d, "runbox/default:latest") or {}).get("id", "")')
DEFAULT_DIFFS=$(printf '%s' "$BODY" | pyj 'diff_ids(img(d, "runbox/default:latest") or {})')
found=""
for h in $DEFAULT_DIFFS; do
	f=$(layer_dir "$h")/bin/busybox
	[ -f "$f" ] && [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$BUSYBOX_SHA256" ] && found=$f
done
if [ -n "$found" ]; then pass "default image: a layer holds /bin/busybox"; else
	fail "default image: no layer of [$DEFAULT_DIFFS] holds a bin/busybox equal to /bin/busybox"; fi
api_call GET "/api/v1/images/$(urlenc runbox/default:latest)"
expect_eq "GET /api/v1/images/runbox%2Fdefault:latest is 200" "$STATUS" 200
expect_py "GET of the percent-encoded name gives the default image" "$BODY" \
	"d.get('id') == '$DEFAULT_ID' and d.get('id', '').startswith('sha256:')"

# --- oci-archive (gzip) through the CLI ---------------------------------------------------------
cli out load -i "$FX/busybox-oci.tar"
expect_eq "load -i busybox-oci.tar exits 0" "$RC" 0
expect_contains "load prints 'Loaded image: busybox:latest'" "$out" "Loaded image: busybox:latest"
cli out images --json
expect_py "images --json: busybox:latest has the config digest as id" "$out" \
	'(img(d, "busybox:latest") or {}).get("id") == E["BUSYBOX_ID"]'
IMG=$(printf '%s' "$out" | pyj 'img(d, "busybox:latest")')
expect_py "image: digest is the manifest's digest" "$IMG" 'd.get("digest") == E["OCI_MANIFEST"]'
expect_py "image: architecture amd64, os linux" "$IMG" 'd.get("architecture") == "amd64" and d.get("os") == "linux"'
expect_py "image: layer diffIds in order" "$IMG" 'diff_ids(d) == E["BUSYBOX_DIFF_IDS"]'
expect_py "image: layer digests are the gzip blobs'" "$IMG" \
	'[l.get("digest") for l in d["layers"]] == words(E["OCI_LAYER_DIGESTS"])'
expect_py "image: layer sizeBytes are the blob sizes" "$IMG" \
	'[l.get("sizeBytes") for l in d["layers"]] == [int(E["BUSYBOX_LAYER%d_BLOB_SIZE" % i]) for i in (1, 2, 3)]'
expect_py "image: layer 1 unpackedBytes >= busybox's size" "$IMG" \
	'd["layers"][0].get("unpackedBytes", 0) >= os.path.getsize("/bin/busybox")'
expect_py "image: sizeBytes >= sum of layer blobs" "$IMG" \
	'd.get("sizeBytes", 0) >= sum(l.get("sizeBytes", 0) for l in d["layers"]) > 0'

cli out image inspect busybox:latest
expect_eq "image inspect busybox:latest exits 0" "$RC" 0
expect_py "inspect: config env" "$out" '(img(d, "busybox:latest") or {}).get("config", {}).get("env") == json.loads(E["BUSYBOX_ENV"])'
expect_py "inspect: config cmd" "$out" '(img(d, "busybox:latest") or {}).get("config", {}).get("cmd") == ["/bin/sh"]'
expect_py "inspect: config workingDir" "$out" '(img(d, "busybox:latest") or {}).get("config", {}).get("workingDir") == E["BUSYBOX_WORKDIR"]'
expect_py "inspect: config labels" "$out" '(img(d, "busybox:latest") or {}).get("config", {}).get("labels") == json.loads(E["BUSYBOX_LABELS"])'
expect_py "inspect: config exposedPorts has 8080/tcp" "$out" '"8080/tcp" in ((img(d, "busybox:latest") or {}).get("config", {}).get("exposedPorts") or [])'
expect_py "inspect: no entrypoint" "$out" 'not (img(d, "busybox:latest") or {}).get("config", {}).get("entrypoint")'

api_call GET /api/v1/images/busybox:latest
expect_eq "GET /api/v1/images/busybox:latest is 200" "$STATUS" 200
expect_py "GET by name: id" "$BODY" 'd.get("id") == E["BUSYBOX_ID"]'
api_call GET "/api/v1/images/$BUSYBOX_ID"
expect_py "GET by id: names has busybox:latest" "$BODY" '"busybox:latest" in (d.get("names") or [])'
cli out image inspect "${BUSYBOX_ID:7:12}"
expect_py "image inspect by a 12-hex id prefix" "$out" '(imgs(d) or [{}])[0].get("id") == E["BUSYBOX_ID"]'

h=${BUSYBOX_DIFF_IDS%% *}
if [ -d "$STORE/layers/sha256/${h#sha256:}" ]; then pass "layers are unpacked at STATE/images/layers/sha256/HEX"; else
	fail "layers are unpacked at STATE/images/layers/sha256/HEX: no $STORE/layers/sha256/${h#sha256:}; layers/ has: $(cd "$STORE/layers" && find . -maxdepth 2 | head -8 | tr '\n' ' ')"; fi
check_busybox_layers "oci gzip: unpacked layers (busybox sha256, whiteout 0/0, opaque xattr)" "$BUSYBOX_DIFF_IDS"

cli out images -q
if grep -qx -e "$BUSYBOX_ID" -e "${BUSYBOX_ID:7:12}" -e "${BUSYBOX_ID:7}" <<<"$out"; then
	pass "images -q prints the id"; else fail "images -q: no line with ${BUSYBOX_ID:0:19}..: $out"; fi
cli out images
expect_contains "images (table) shows busybox" "$out" "busybox"

cli out load -i "$FX/busybox-oci.tar" --name mybox:v1
expect_eq "load --name mybox:v1 exits 0" "$RC" 0
expect_contains "load --name prints 'Loaded image: mybox:v1'" "$out" "Loaded image: mybox:v1"
cli out images --json
expect_py "--name adds a name: one image with busybox:latest and mybox:v1" "$out" \
	'[set(i.get("names") or []) >= {"busybox:latest", "mybox:v1"} for i in imgs(d) if i.get("id") == E["BUSYBOX_ID"]] == [True]'
cli out load -i "$FX/busybox-oci.tar" --json
expect_py "load --json gives the image" "$out" '(img(d, "busybox:latest") or {}).get("id") == E["BUSYBOX_ID"]'

# --- docker-archive -----------------------------------------------------------------------------
fresh_store docker
cli out load -i "$FX/busybox-docker.tar"
expect_eq "load -i busybox-docker.tar exits 0" "$RC" 0
expect_contains "docker-archive: 'Loaded image: ...busybox:latest'" "$out" "busybox:latest"
cli out images --json
expect_py "docker-archive: id is the config digest, name from RepoTags" "$out" \
	'[i["id"] for i in imgs(d) if any(n.endswith("busybox:latest") for n in i.get("names") or [])] == [E["DOCKER_ID"]]'
IMG=$(printf '%s' "$out" | pyj '[i for i in imgs(d) if i.get("id") == E["DOCKER_ID"]][0]')
expect_py "docker-archive: diffIds" "$IMG" 'diff_ids(d) == E["DOCKER_DIFF_IDS"]'
expect_py "docker-archive: config cmd, env, labels" "$IMG" \
	'd.get("config", {}).get("cmd") == ["/bin/sh"] and d["config"].get("env") == json.loads(E["BUSYBOX_ENV"]) and d["config"].get("labels") == json.loads(E["BUSYBOX_LABELS"])'
check_busybox_layers "docker-archive: unpacked layers" "$DOCKER_DIFF_IDS"
api_call POST /api/v1/images/load "{\"path\":\"$FX/busybox-docker.tar\",\"name\":\"dbox:1\"}"
expect_eq "API load of docker-archive with name is 201" "$STATUS" 201
expect_py "API load: images[] has dbox:1 with the id" "$BODY" \
	'[i.get("id") for i in d.get("images", []) if "dbox:1" in (i.get("names") or [])] == [E["DOCKER_ID"]]'

# --- zstd layers --------------------------------------------------------------------------------
fresh_store zstd
cli out load -i "$FX/busybox-zstd.tar"
expect_eq "load -i busybox-zstd.tar exits 0" "$RC" 0
expect_contains "zstd: 'Loaded image: busybox-zstd:latest'" "$out" "Loaded image: $ZSTD_NAME"
cli out image inspect "$ZSTD_NAME"
expect_py "zstd: id, manifest digest and zstd layer digests" "$out" \
	'(lambda i: i.get("id") == E["ZSTD_ID"] and i.get("digest") == E["ZSTD_MANIFEST"] and [l.get("digest") for l in i["layers"]] == words(E["ZSTD_LAYER_DIGESTS"]))(imgs(d)[0])'
check_busybox_layers "zstd: unpacked layers" "$ZSTD_DIFF_IDS"

# --- uncompressed layers, through the API ---------------------------------------------------------
fresh_store plain
api_call POST /api/v1/images/load "{\"path\":\"$FX/busybox-uncompressed.tar\"}"
expect_eq "API load of uncompressed-layer archive is 201" "$STATUS" 201
expect_py "uncompressed: id and layer digests (= diffIds)" "$BODY" \
	'(lambda i: i.get("id") == E["PLAIN_ID"] and [l.get("digest") for l in i["layers"]] == words(E["PLAIN_DIFF_IDS"]) and E["PLAIN_NAME"] in i.get("names", []))(d["images"][0])'
check_busybox_layers "uncompressed: unpacked layers" "$PLAIN_DIFF_IDS"

# --- multi-platform index: linux/arm64 listed first, linux/amd64 second -----------------------------
fresh_store multi
cli out load -i "$FX/multi-oci.tar"
expect_eq "load -i multi-oci.tar exits 0" "$RC" 0
expect_contains "multi: 'Loaded image: multi:latest'" "$out" "Loaded image: $MULTI_NAME"
cli out image inspect "$MULTI_NAME"
expect_py "multi: the amd64 image is picked (id, architecture)" "$out" \
	'imgs(d)[0].get("id") == E["BUSYBOX_ID"] and imgs(d)[0].get("architecture") == "amd64"'
expect_py "multi: digest is amd64's manifest (or the index), never arm64's" "$out" \
	'imgs(d)[0].get("digest") in (E["MULTI_AMD64_MANIFEST"], E["MULTI_TOP_DIGEST"])'
arm_left=""
[ -e "$(layer_dir "$ARM_DIFF_IDS")" ] && arm_left+=" layer"
[ -e "$STORE/blobs/sha256/${ARM_ID#sha256:}" ] && arm_left+=" config-blob"
[ -e "$STORE/blobs/sha256/${ARM_LAYER_DIGESTS#sha256:}" ] && arm_left+=" layer-blob"
if [ -z "$arm_left" ]; then pass "multi: nothing of the arm64 image is stored"; else
	fail "multi: arm64 image stored:$arm_left"; fi
cli out images --json
expect_py "multi: images has no arm64 image" "$out" 'all(i.get("id") != E["ARM_ID"] for i in imgs(d))'
check_busybox_layers "multi: unpacked layers" "$BUSYBOX_DIFF_IDS"
