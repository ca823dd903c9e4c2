#!/usr/bin/env bash
# Rejections: missing files, relative paths, files that are no archive, unknown images, and
# archives whose blobs do not match their digests. A rejected load leaves nothing behind.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
images_setup

# expect_error NAME STATUS CODE: the last api_call answered STATUS with a well-formed error CODE
expect_error() {
	expect_py "$1" "$BODY" \
		"'$STATUS' == '$2' and d['error']['code'] == '$3' and bool(d['error'].get('message')) and 'requestId' in d['error'] and isinstance(d['error'].get('retryable'), bool)"
}

BEFORE=$(store_listing)
IMAGES_BEFORE=$("$RUNBOX" images --json 2>&1 | pyj 'sorted(i.get("id") for i in imgs(d))')
# nothing_left NAME: blobs/, layers/, tmp/ and the image list are as before
nothing_left() {
	local now imgs
	now=$(store_listing)
	imgs=$("$RUNBOX" images --json 2>&1 | pyj 'sorted(i.get("id") for i in imgs(d))')
	if [ "$now" = "$BEFORE" ] && [ "$imgs" = "$IMAGES_BEFORE" ]; then pass "$1"; else
		fail "$1: store changed: $(diff <(echo "$BEFORE") <(echo "$now") | head -6 | tr '\n' ' ') images $IMAGES_BEFORE -> $imgs"
	fi
}

# --- missing file -----------------------------------------------------------------------------------
cli out load -i "$RB_TEST_ROOT/no-such.tar"
if [ "$RC" -ne 0 ] && [[ "$out" == *no-such.tar* ]]; then pass "load of a missing file fails and names it (exit $RC)"; else
	fail "load of a missing file: exit $RC, output: $out"; fi
api_call POST /api/v1/images/load "{\"path\":\"$RB_TEST_ROOT/no-such.tar\"}"
expect_py "API load of a missing file: 4xx with an error object" "$BODY" \
	"400 <= int('$STATUS') < 500 and d['error']['code'] in ('INVALID_CONFIG', 'INVALID_REQUEST', 'IMAGE_NOT_FOUND', 'INVALID_IMAGE')"

# --- relative path and bad requests ---------------------------------------------------------------------
api_call POST /api/v1/images/load '{"path":"busybox-oci.tar"}'
expect_error "API load with a relative path: 400 INVALID_CONFIG" 400 INVALID_CONFIG
api_call POST /api/v1/images/load '{"path":'
expect_error "API load with broken JSON: 400 INVALID_REQUEST" 400 INVALID_REQUEST
api_call POST /api/v1/images/load '{"name":"x:1"}'
expect_py "API load without a path: 400" "$BODY" "'$STATUS' == '400' and d['error']['code'] in ('INVALID_REQUEST', 'INVALID_CONFIG')"
api_call POST /api/v1/images/load "{\"path\":\"$FX/busybox-oci.tar\",\"name\":\"Bad Name!!\"}"
expect_py "API load with an invalid --name: 400" "$BODY" "'$STATUS' == '400' and d['error']['code'] in ('INVALID_REQUEST', 'INVALID_CONFIG')"
nothing_left "bad requests leave the store as it was"

# --- not an archive ---------------------------------------------------------------------------------
cli out load -i "$FX/not-an-archive.tar"
if [ "$RC" -ne 0 ] && grep -qiE 'archive|tar' <<<"$out"; then pass "load of a text file fails naming the problem (exit $RC)"; else
	fail "load of a text file: exit $RC, output: $out"; fi
api_call POST /api/v1/images/load "{\"path\":\"$FX/not-an-archive.tar\"}"
expect_error "API load of a text file: 400 INVALID_IMAGE" 400 INVALID_IMAGE
expect_py "API load of a text file: message names the problem" "$BODY" \
	'any(w in d["error"]["message"].lower() for w in ("archive", "tar"))'
# a directory is no archive either
api_call POST /api/v1/images/load "{\"path\":\"$FX/layout\"}"
expect_py "API load of a directory: 400" "$BODY" "'$STATUS' == '400' and d['error']['code'] in ('INVALID_IMAGE', 'INVALID_CONFIG')"
nothing_left "rejected files leave the store as it was"

# --- unknown images -----------------------------------------------------------------------------------
api_call GET /api/v1/images/nope:latest
expect_error "GET of an unknown image: 404 IMAGE_NOT_FOUND" 404 IMAGE_NOT_FOUND
api_call DELETE /api/v1/images/nope:latest
expect_error "DELETE of an unknown image: 404 IMAGE_NOT_FOUND" 404 IMAGE_NOT_FOUND
api_call GET /api/v1/images/sha256:0000000000000000000000000000000000000000000000000000000000000000
expect_error "GET of an unknown id: 404 IMAGE_NOT_FOUND" 404 IMAGE_NOT_FOUND
cli out image inspect nope:latest
if [ "$RC" -ne 0 ] && grep -qiE 'not found|no such|IMAGE_NOT_FOUND' <<<"$out"; then pass "image inspect of an unknown image fails (exit $RC)"; else
	fail "image inspect nope:latest: exit $RC, output: $out"; fi
cli out rmi nope:latest
if [ "$RC" -ne 0 ] && grep -qiE 'not found|no such|IMAGE_NOT_FOUND' <<<"$out"; then pass "rmi of an unknown image fails (exit $RC)"; else
	fail "rmi nope:latest: exit $RC, output: $out"; fi

# --- corrupted blobs ------------------------------------------------------------------------------------
# corrupt-gzip.tar: one byte of a layer blob's gzip header changed; the layer still decompresses
# to the right diff_id, so only a check of the blob's own digest catches it.
cli out load -i "$FX/corrupt-gzip.tar"
if [ "$RC" -ne 0 ] && grep -qi digest <<<"$out"; then pass "load of a blob that does not match its digest fails with a digest error (exit $RC)"; else
	fail "corrupt-gzip.tar: exit $RC, output: $out"; fi
nothing_left "a blob digest mismatch (CLI) leaves no blob, layer, tmp file or record"
api_call POST /api/v1/images/load "{\"path\":\"$FX/corrupt-gzip.tar\"}"
expect_error "API: blob digest mismatch is 400 INVALID_IMAGE" 400 INVALID_IMAGE
expect_py "API: blob digest mismatch message says digest" "$BODY" '"digest" in d["error"]["message"].lower()'
nothing_left "a blob digest mismatch (API) leaves nothing behind"

# corrupt-data.tar: uncompressed layers; one byte of bin/busybox flipped: blob digest and diff_id wrong
cli out load -i "$FX/corrupt-data.tar"
if [ "$RC" -ne 0 ] && grep -qi digest <<<"$out"; then pass "load of a layer whose content is corrupted fails with a digest error (exit $RC)"; else
	fail "corrupt-data.tar: exit $RC, output: $out"; fi
nothing_left "a corrupted layer leaves no blob, layer, tmp file or record"
api_call POST /api/v1/images/load "{\"path\":\"$FX/corrupt-data.tar\"}"
expect_error "API: corrupted layer is 400 INVALID_IMAGE" 400 INVALID_IMAGE
nothing_left "a corrupted layer (API) leaves nothing behind"

# the good archives with the same digests still load, with the right content
out=$(cd "$FX" && "$RUNBOX" load -i busybox-oci.tar 2>&1)
RC=$?
expect_eq "after the rejections the good oci archive loads (CLI, relative path)" "$RC" 0
cli out load -i "$FX/busybox-uncompressed.tar"
expect_eq "after the rejections the good uncompressed archive loads" "$RC" 0
check_busybox_layers "after the rejections: layers hold the right content" "$BUSYBOX_DIFF_IDS"
