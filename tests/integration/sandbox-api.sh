#!/usr/bin/env bash
# The sandbox API (issue 3): create, get, list with filters and pages, exec (output, exit codes,
# env, cwd, stdin, argv, user, signals, timeouts, streaming, truncation), files (text, binary,
# 20 MB, list, exists, mkdir, delete), terminate, and every error code. What a sandbox does is
# checked from inside it (an exec or a sha256 computed on the host), not from runbox's answer.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup

# --- create and get -----------------------------------------------------------------------------
sb_create "$(j image="$SB_IMAGE" env.FOO=bar env.SPACED="a  b" metadata.suite=api metadata.n=1)"
expect_eq "create: 201" "$STATUS" 201
A=$SB_ID
[ -n "$A" ] || { fail "create gave no id: $BODY"; exit 1; }
C=$BODY
expect_py "create: id is sb_ + 10 [a-z0-9]" "$C" '__import__("re").fullmatch(r"sb_[a-z0-9]{10}", d.get("id", "")) is not None'
expect_py "create: state running, image as asked" "$C" 'd.get("state") == "running" and d.get("image") == E["SB_IMAGE"]'
expect_py "create: env and metadata as given" "$C" \
	'd.get("env", {}).get("FOO") == "bar" and d.get("metadata") == {"suite": "api", "n": "1"}'
expect_py "create: resources has numeric cpu, memoryMb, diskMb" "$C" \
	'all(isinstance(d.get("resources", {}).get(k), (int, float)) and d["resources"][k] > 0 for k in ("cpu", "memoryMb", "diskMb"))'
expect_py "create: timeoutMs 300000 and idleTimeoutMs 120000 by default" "$C" \
	'd.get("timeoutMs") == 300000 and d.get("idleTimeoutMs") == 120000'
expect_py "create: createdAt and startedAt ISO 8601, pausedAt and terminatedAt null" "$C" \
	'all(bool(__import__("re").match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", d.get(k) or "")) for k in ("createdAt", "startedAt")) and d.get("pausedAt", 1) is None and d.get("terminatedAt", 1) is None'
expect_py "create: network is an object" "$C" 'isinstance(d.get("network"), dict)'
export SB_IMAGE
ids=""
for i in 1 2 3 4 5 6 7 8; do
	sb_create
	ids+=" $SB_ID"
done
expect_py "8 more creates: 9 distinct ids" "$(python3 -c 'import sys,json; print(json.dumps(sys.argv[1:]))' $ids "$A")" \
	'len(set(d)) == 9 and all(x.startswith("sb_") for x in d)'
for i in $ids; do sapi DELETE "/api/v1/sandboxes/$i"; done

# workdir: the image's WorkingDir when it has one, else /workspace; it exists and exec starts there
api_call GET "/api/v1/images/$(urlenc "$SB_IMAGE")"
IMG_WD=$(printf '%s' "$BODY" | pyj '(d.get("config") or {}).get("workingDir") or ""')
WANT_WD=${IMG_WD:-/workspace}
expect_eq "create: workdir defaults to the image's WorkingDir or /workspace ($WANT_WD)" "$(printf '%s' "$C" | pyj 'd.get("workdir")')" "$WANT_WD"
expect_eq "exec starts in the workdir (pwd inside)" "$(inside "$A" pwd)" "$WANT_WD"$''
expect_eq "the sandbox's env is in every exec (FOO, SPACED)" "$(inside "$A" 'printf "%s|%s" "$FOO" "$SPACED"')" "bar|a  b"
expect_contains "the image's Env applies (PATH has /bin)" "$(inside "$A" 'echo $PATH')" "/bin"

sb_new "workdir /srv/app" "$(j image="$SB_IMAGE" workdir=/srv/app)" && {
	W=$SB_ID
	expect_eq "workdir /srv/app: created, and exec's pwd is it" "$(inside "$W" 'pwd; test -d /srv/app && echo dir')" $'/srv/app\ndir'
	sapi DELETE "/api/v1/sandboxes/$W"
}

expect_eq "/etc/hostname, /etc/hosts and /etc/resolv.conf are provided" \
	"$(inside "$A" 'for f in /etc/hostname /etc/hosts /etc/resolv.conf; do test -f $f && echo y; done')" $'y\ny\ny'

sapi GET "/api/v1/sandboxes/$A"
expect_eq "get: 200" "$STATUS" 200
expect_py "get: same id, state running, same createdAt" "$BODY" \
	"d.get('id') == '$A' and d.get('state') == 'running' and d.get('createdAt') == $(printf '%s' "$C" | pyj 'd.get("createdAt")' | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')"

# --- list: filters and pages ----------------------------------------------------------------------
G=()
for g in g1 g1 g2; do
	sb_create "$(j image="$SB_IMAGE" metadata.group=$g metadata.suite=api-list)"
	G+=("$SB_ID")
done
sapi GET "/api/v1/sandboxes?metadata.group=g1"
expect_py "list metadata.group=g1: exactly the two g1 sandboxes" "$BODY" \
	"sorted(s['id'] for s in d.get('data', [])) == sorted(['${G[0]}', '${G[1]}']) and d.get('pagination', {}).get('total') == 2"
sapi GET "/api/v1/sandboxes?metadata.group=g2&metadata.suite=api-list"
expect_py "list with two metadata filters (AND): only the g2 one" "$BODY" "[s['id'] for s in d.get('data', [])] == ['${G[2]}']"
sapi GET "/api/v1/sandboxes?metadata.group=nope"
expect_py "list metadata.group=nope: none" "$BODY" "d.get('data') == [] and d.get('pagination', {}).get('total') == 0"
sapi GET "/api/v1/sandboxes?image=$(urlenc "$SB_IMAGE")&metadata.suite=api-list"
expect_py "list image=runbox/default:latest: has the three" "$BODY" "d.get('pagination', {}).get('total') == 3"
sapi GET "/api/v1/sandboxes?image=$(urlenc other/image:latest)"
expect_py "list image=other/image:latest: none" "$BODY" "d.get('pagination', {}).get('total') == 0"

B=()
for i in $(seq 22); do
	sb_create "$(j image="$SB_IMAGE" metadata.batch=b22)"
	B+=("$SB_ID")
done
sapi GET "/api/v1/sandboxes?metadata.batch=b22"
expect_py "list: limit 20 by default (22 match: 20 given, hasMore)" "$BODY" \
	"len(d.get('data', [])) == 20 and d.get('pagination') == {'total': 22, 'limit': 20, 'offset': 0, 'hasMore': True}"
P1=$BODY
sapi GET "/api/v1/sandboxes?metadata.batch=b22&offset=20"
expect_py "list offset 20: the other 2, hasMore false" "$BODY" \
	"len(d.get('data', [])) == 2 and d.get('pagination', {}).get('hasMore') is False and d['pagination'].get('offset') == 20"
expect_py "list: the two pages together are the 22, no repeats" "$(printf '[%s,%s]' "$P1" "$BODY")" \
	"sorted(s['id'] for p in d for s in p['data']) == sorted('${B[*]}'.split())"
sapi GET "/api/v1/sandboxes?metadata.batch=b22&limit=5&offset=5"
expect_py "list limit 5 offset 5: 5 of them, hasMore" "$BODY" \
	"len(d['data']) == 5 and d['pagination'] == {'total': 22, 'limit': 5, 'offset': 5, 'hasMore': True}"
sapi GET "/api/v1/sandboxes?limit=101"
if [ "$STATUS" = 200 ]; then
	expect_py "list limit=101: clamped to at most 100" "$BODY" "d['pagination']['limit'] <= 100 and len(d['data']) <= 100"
else expect_err "list limit=101: refused" 400 "INVALID_CONFIG|INVALID_REQUEST"; fi
sapi GET "/api/v1/sandboxes?limit=abc"
expect_err "list limit=abc: 400" 400 "INVALID_CONFIG|INVALID_REQUEST"
sapi DELETE "/api/v1/sandboxes/${B[0]}"
sapi GET "/api/v1/sandboxes?metadata.batch=b22&state=running&limit=100"
expect_py "list state=running: 21, not the terminated one" "$BODY" \
	"d['pagination']['total'] == 21 and '${B[0]}' not in [s['id'] for s in d['data']] and all(s['state'] == 'running' for s in d['data'])"
sapi GET "/api/v1/sandboxes?metadata.batch=b22&state=terminated"
expect_py "list state=terminated: just it" "$BODY" "[s['id'] for s in d['data']] == ['${B[0]}']"
sapi GET "/api/v1/sandboxes?state=bogus"
expect_err "list state=bogus: 400" 400 "INVALID_CONFIG|INVALID_REQUEST"
for i in "${B[@]:1}" "${G[@]}"; do sapi DELETE "/api/v1/sandboxes/$i"; done

# --- exec -------------------------------------------------------------------------------------------
sx "$A" 'echo out; echo err >&2; exit 3'
expect_eq "exec: 200" "$STATUS" 200
expect_py "exec: stdout, stderr, exitCode 3, signal null, durationMs a number" "$BODY" \
	'd.get("stdout") == "out\n" and d.get("stderr") == "err\n" and d.get("exitCode") == 3 and d.get("signal", 1) is None and isinstance(d.get("durationMs"), (int, float))'
sx "$A" 'exit 255'
expect_eq "exec: exit 255" "$EC" 255
sx "$A" 'sleep 0.3'
expect_py "exec: durationMs of sleep 0.3 is 300..3000" "$BODY" '300 <= d.get("durationMs", 0) < 3000'
sx "$A" 'printf "%s|%s|%s" "$A" "$FOO" "$B"' env:='{"A":"x y","FOO":"over","B":"é"}'
expect_eq "exec env: added, overriding the sandbox's, utf-8" "$OUT" "x y|over|é"
sx "$A" 'pwd' cwd=/tmp
expect_eq "exec cwd /tmp" "$OUT" $'/tmp\n'
sx "$A" 'cat; echo; wc -l' stdin=$'hello\nworld\n'
expect_eq "exec stdin: cat echoes it (then it is at EOF)" "$OUT" $'hello\nworld\n\n0\n'
head -c 300000 /dev/zero | tr '\0' a >"$RB_TEST_ROOT/stdin300k"
sx "$A" 'wc -c' stdin@="$RB_TEST_ROOT/stdin300k"
expect_eq "exec stdin of 300000 bytes: all read" "${OUT//[[:space:]]/}" 300000
t0=$(now_ms)
sx "$A" 'cat; echo done' timeoutMs:=5000
expect_eq "exec without stdin: cat sees EOF at once" "$OUT|$(($(now_ms) - t0 < 3000))" "done
|1"
sxa "$A" '["printf", "%s|", "a b", "$HOME", "*", ";", "exit 9"]'
expect_eq "exec argv: no shell (no expansion, no splitting)" "$OUT|$EC" 'a b|$HOME|*|;|exit 9||0'
sxa "$A" '["/bin/sh", "-c", "exit 4"]'
expect_eq "exec argv: exit code" "$EC" 4
sxa "$A" '["/no/such/binary"]'
if [ "$STATUS" = 200 ]; then expect_eq "exec argv of a missing binary: exit 127" "$EC" 127; else
	expect_err "exec argv of a missing binary: an error" "4.." "INVALID_REQUEST|INVALID_CONFIG"; fi
sx "$A" 'no-such-command-xyz'
expect_py "exec of a command not found: exit 127, stderr says so" "$BODY" \
	'd.get("exitCode") == 127 and "not found" in d.get("stderr", "")'
sx "$A" 'id -u; id -g; whoami' user=nobody
expect_eq "exec user nobody: uid and gid 65534 (id inside)" "$OUT" $'65534\n65534\nnobody\n'
sx "$A" 'id -u' user=1000
expect_eq "exec user 1000 (numeric): uid 1000" "$OUT" $'1000\n'
sx "$A" 'id -u; touch /root/x 2>&1 || echo denied' user=nobody
expect_contains "exec user nobody cannot write /root" "$OUT" "denied"
sx "$A" 'id -u'
expect_eq "exec default user is root (0) inside" "$OUT" $'0\n'
sx "$A" 'kill -9 $$'
expect_py "exec killed by SIGKILL: signal SIGKILL, exitCode null or 137" "$BODY" \
	'd.get("signal") in ("SIGKILL", "KILL", "9", 9) and d.get("exitCode") in (None, 137)'
sx "$A" 'echo x; exit 0' cwd=/no/such/dir
if [ "$STATUS" = 200 ]; then check "exec cwd that does not exist: fails" test "$EC" != 0; else
	expect_err "exec cwd that does not exist: an error" "4.." "INVALID_REQUEST|INVALID_CONFIG"; fi
long=$(head -c 10000 /dev/zero | tr '\0' x)
sx "$A" "echo $long | wc -c"
expect_eq "exec of a 10 kB command works" "${OUT//[[:space:]]/}" 10001

# background processes: exec returns when the command does, not when its children do
t0=$(now_ms)
sx "$A" 'sleep 30 >/dev/null 2>&1 & echo started'
expect_eq "exec with a background child returns at once" "$OUT|$(($(now_ms) - t0 < 5000))" $'started\n|1'

# --- timeout ----------------------------------------------------------------------------------------
t0=$(now_ms)
sx "$A" 'echo partial; echo perr >&2; sleep 10; echo never' timeoutMs:=500
dt=$(($(now_ms) - t0))
expect_err "exec timeoutMs 500 of sleep 10: EXECUTION_TIMEOUT" "4..|5.." EXECUTION_TIMEOUT
check "exec timeout: answered within 3 s (took ${dt} ms)" test "$dt" -lt 3000
expect_py "exec timeout: details carry the partial stdout and stderr" "$BODY" \
	'(lambda x: "partial" in json.dumps(x) and "perr" in json.dumps(x) and "never" not in json.dumps(x))(d["error"].get("details"))'
ps_out=""
for i in 1 2 3 4 5 6 7 8 9 10; do
	ps_out=$(inside "$A" 'ps -o pid,args')
	[[ "$ps_out" == *"sleep 10"* ]] || break
	sleep 0.2
done
if [[ "$ps_out" == *"sleep 10"* ]]; then fail "exec timeout: the sleep is killed (ps inside): $ps_out"; else
	pass "exec timeout: the sleep is killed (ps inside)"; fi
sx "$A" 'sh -c "sleep 20; echo never"; echo never2' timeoutMs:=500
sleep 0.3
expect_eq "exec timeout kills the whole process group (no sleep 20 left)" "$(inside "$A" 'ps -o args' | grep -c 'sleep 2[0]')" 0
sx "$A" 'true' timeoutMs:=300001
expect_err "exec timeoutMs 300001: INVALID_CONFIG" 400 INVALID_CONFIG
sx "$A" 'true' timeoutMs:=-1
expect_err "exec timeoutMs -1: INVALID_CONFIG" 400 INVALID_CONFIG

# --- streaming --------------------------------------------------------------------------------------
stream() { # JSON -> lines "T_MS<TAB>line"
	curl -sN --max-time 30 --unix-socket "$RUNBOX_SOCKET" -X POST -H 'Content-Type: application/json' \
		-H 'Accept: application/x-ndjson' --data-binary "$2" "http://runbox/api/v1/sandboxes/$1/exec" |
		python3 -c '
import sys, time
t0 = time.time()
for l in sys.stdin.buffer:
    sys.stdout.write("%d\t%s\n" % ((time.time() - t0) * 1000, l.decode("utf-8", "replace").rstrip("\n")))
'
}
export STREAM
STREAM=$(stream "$A" "$(j command='echo one; sleep 1.5; echo two; echo three >&2; exit 4')")
expect_py "stream: every line is JSON, the last is the result (exitCode 4)" "$(printf '%s' "$STREAM" | python3 -c 'import json,sys; print(json.dumps([l.split("\t",1)[1] for l in sys.stdin.read().splitlines()]))')" \
	'all(json.loads(x) is not None for x in d) and (lambda r: r.get("exitCode", (r.get("result") or {}).get("exitCode")) == 4)(json.loads(d[-1]))'
expect_py "stream: 'one' arrives at least 1 s before the end, 'two' and 'three' before the result" "[]" '
(lambda L: any("one" in l[1] for l in L[:-1]) and any("two" in l[1] for l in L[:-1]) and any("three" in l[1] for l in L[:-1])
 and min(int(l[0]) for l in L if "one" in l[1]) <= int(L[-1][0]) - 1000)([l.split("\t", 1) for l in E["STREAM"].splitlines()])'
STREAM=$(stream "$A" "$(j command='echo early; sleep 10' timeoutMs:=500)")
expect_py "stream with a timeout: output, then an EXECUTION_TIMEOUT line" "[]" \
	'(lambda L: "early" in "".join(L[:-1]) and "EXECUTION_TIMEOUT" in L[-1])([l.split("\t", 1)[1] for l in E["STREAM"].splitlines()])'

# --- truncation: the daemon's memory stays flat ------------------------------------------------------
echo 5 >"/proc/$RB_DAEMON_PID/clear_refs"
rss0=$(daemon_kb VmRSS)
sx "$A" 'yes | head -c 20000000; echo tail-marker >&2'
expect_py "exec of 20 MB output: 200, truncated true, stdout cut, the command completed" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps({"truncated": d.get("truncated"), "n": len(d.get("stdout", "")), "ec": d.get("exitCode"), "err": d.get("stderr")}))' "$SB_BODY_FILE" 2>&1)" \
	'd["truncated"] is True and 0 < d["n"] < 20000000 and d["ec"] == 0 and "tail-marker" in d["err"]'
sx "$A" 'yes | head -c 20000000 >&2'
expect_py "exec of 20 MB on stderr: truncated too" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps({"truncated": d.get("truncated"), "n": len(d.get("stderr", ""))}))' "$SB_BODY_FILE" 2>&1)" \
	'd["truncated"] is True and 0 < d["n"] < 20000000'
n=$(curl -sN --max-time 60 --unix-socket "$RUNBOX_SOCKET" -X POST -H 'Content-Type: application/json' -H 'Accept: application/x-ndjson' \
	--data-binary '{"command":"yes | head -c 50000000"}' "http://runbox/api/v1/sandboxes/$A/exec" | tail -c 2000)
expect_contains "stream of 50 MB output: ends with a result line" "$n" "exitCode"
hwm=$(daemon_kb VmHWM)
check "daemon's peak RSS stays < 100 MB after 90 MB of output (VmRSS before ${rss0} kB, VmHWM ${hwm} kB)" test "${hwm:-999999}" -lt 102400

# --- files ------------------------------------------------------------------------------------------
inside "$A" 'mkdir -p /workspace' >/dev/null
TXT=$'héllo\nwörld ✓\n'
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/hello.txt content="$TXT")"
expect_status "files write utf-8: 2xx" "20."
expect_eq "files write utf-8: the bytes inside (sha256)" "$(inside "$A" 'sha256sum /workspace/hello.txt' | cut -d' ' -f1)" \
	"$(printf '%s' "$TXT" | sha256sum | cut -d' ' -f1)"
sapi GET "/api/v1/sandboxes/$A/files?path=$(urlenc /workspace/hello.txt)"
export TXT
expect_py "files read utf-8: path, content, encoding utf-8" "$BODY" \
	'd.get("content") == E["TXT"] and d.get("encoding") == "utf-8" and d.get("path") == "/workspace/hello.txt"'
inside "$A" 'printf "made inside\n" > /workspace/in.txt' >/dev/null
sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/in.txt"
expect_py "files read of a file made by exec" "$BODY" 'd.get("content") == "made inside\n"'

BIN=$RB_TEST_ROOT/bin4k
{ printf '\0\377\376\200'; head -c 4092 /dev/urandom; } >"$BIN"
BIN_SHA=$(sha256sum <"$BIN" | cut -d' ' -f1)
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/bin.dat content="$(base64 -w0 "$BIN")" encoding=base64)"
expect_status "files write base64: 2xx" "20."
expect_eq "files write base64: sha256 inside = host's" "$(inside "$A" 'sha256sum /workspace/bin.dat; stat -c %s /workspace/bin.dat' | tr '\n' ' ')" "$BIN_SHA  /workspace/bin.dat 4096 "
sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/bin.dat"
expect_py "files read binary: encoding base64, decodes to the same sha256" "$BODY" \
	"d.get('encoding') == 'base64' and __import__('hashlib').sha256(__import__('base64').b64decode(d.get('content', ''))).hexdigest() == '$BIN_SHA'"
inside "$A" "printf '\\377\\000abc' > /workspace/made.bin" >/dev/null
sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/made.bin"
expect_py "files read of non-utf-8 bytes made inside: base64 of them" "$BODY" \
	"d.get('encoding') == 'base64' and __import__('base64').b64decode(d.get('content', '')) == b'\\xff\\x00abc'"
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/empty content=)"
expect_eq "files write of empty content: an empty file inside" "$(inside "$A" 'stat -c %s /workspace/empty')" 0

sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/run.sh content=$'#!/bin/sh\necho ran\n' mode:=493)"
[[ "$STATUS" == 20? ]] || sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/run.sh content=$'#!/bin/sh\necho ran\n' mode=0755)"
expect_eq "files write with mode 0755: mode inside, and it runs" "$(inside "$A" 'stat -c %a /workspace/run.sh; /workspace/run.sh')" $'755\nran'
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/workspace/hello.txt content=short)"
expect_eq "files write over an existing file replaces it whole" "$(inside "$A" 'cat /workspace/hello.txt')" "short"

sapi POST "/api/v1/sandboxes/$A/files/mkdir" "$(j path=/workspace/a/b/c recursive:=true)"
expect_status "files mkdir recursive: 2xx" "20."
expect_eq "files mkdir recursive: the dirs inside" "$(inside "$A" 'test -d /workspace/a/b/c && echo ok')" ok
sapi POST "/api/v1/sandboxes/$A/files/mkdir" "$(j path=/workspace/x/y recursive:=false)"
expect_status "files mkdir without recursive under a missing parent: 4xx" "4.."
expect_eq "... and nothing is made" "$(inside "$A" 'test -e /workspace/x && echo made || echo no')" no
sapi POST "/api/v1/sandboxes/$A/files/mkdir" "$(j path=/workspace/x)"
expect_eq "files mkdir of one level" "$(inside "$A" 'test -d /workspace/x && echo ok')" ok

inside "$A" 'printf 12345 > /workspace/a/five; mkdir -p /workspace/a/sub; ln -s five /workspace/a/lnk' >/dev/null
sapi GET "/api/v1/sandboxes/$A/files/list?path=/workspace/a"
expect_py "files list: names, paths, isDirectory, sizeBytes, modifiedAt" "$BODY" '
(lambda e: set(e) >= {"b", "five", "sub"} and e["five"].get("sizeBytes") == 5 and e["five"].get("isDirectory") is False
 and e["sub"].get("isDirectory") is True and e["five"].get("path") == "/workspace/a/five"
 and bool(__import__("re").match(r"\d{4}-\d\d-\d\dT", e["five"].get("modifiedAt") or "")))({x["name"]: x for x in d.get("entries", [])})'
expect_py "files list: no . or .. entries" "$BODY" 'not {".", ".."} & {x["name"] for x in d.get("entries", [])}'
sapi GET "/api/v1/sandboxes/$A/files/list?path=/workspace/nope"
expect_status "files list of a missing dir: 404" 404

for p in /workspace/a/five:true /workspace/a/sub:true /workspace/none:false /workspace/a/lnk:true; do
	sapi GET "/api/v1/sandboxes/$A/files/exists?path=$(urlenc "${p%:*}")"
	want=False
	[ "${p#*:}" = true ] && want=True
	expect_py "files exists ${p%:*}: ${p#*:}" "$BODY" "d.get('exists') is $want"
done

sapi DELETE "/api/v1/sandboxes/$A/files?path=/workspace/a/five"
expect_eq "files delete of a file: gone inside" "$(inside "$A" 'test -e /workspace/a/five && echo there || echo gone')" gone
sapi DELETE "/api/v1/sandboxes/$A/files?path=/workspace/a&recursive=false"
expect_status "files delete of a non-empty dir without recursive: 4xx" "4.."
expect_eq "... it is still there" "$(inside "$A" 'test -d /workspace/a/b/c && echo there')" there
sapi DELETE "/api/v1/sandboxes/$A/files?path=/workspace/a&recursive=true"
expect_status "files delete recursive: 2xx" "20."
expect_eq "files delete recursive: gone inside" "$(inside "$A" 'test -e /workspace/a && echo there || echo gone')" gone
sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/a/five"
expect_status "files read of a missing file: 404" 404
sapi GET "/api/v1/sandboxes/$A/files"
expect_err "files read without path: INVALID_REQUEST" 400 "INVALID_REQUEST|INVALID_CONFIG"
sapi GET "/api/v1/sandboxes/$A/files?path=relative/path"
expect_status "files read of a relative path: 4xx or resolved against the workdir" "4..|404|200"

# 20 MB: written as base64 JSON, checked inside, read back (JSON or octet-stream)
BIG=$RB_TEST_ROOT/big20m
head -c 20971520 /dev/urandom >"$BIG"
BIG_SHA=$(sha256sum <"$BIG" | cut -d' ' -f1)
{ printf '{"path":"/workspace/big.bin","encoding":"base64","content":"'; base64 -w0 "$BIG"; printf '"}'; } >"$BIG.json"
sapi POST "/api/v1/sandboxes/$A/files" "@$BIG.json"
expect_status "files write 20 MB: 2xx" "20."
expect_eq "files write 20 MB: sha256 inside = host's" "$(inside "$A" 'sha256sum /workspace/big.bin' | cut -d' ' -f1)" "$BIG_SHA"
sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/big.bin"
got=$(python3 -c '
import base64, hashlib, json, sys
d = json.load(open(sys.argv[1]))
print(hashlib.sha256(base64.b64decode(d["content"]) if d.get("encoding") == "base64" else d["content"].encode("latin-1")).hexdigest())' "$SB_BODY_FILE" 2>&1)
expect_eq "files read 20 MB (JSON): same sha256" "$got" "$BIG_SHA"
hwm=$(daemon_kb VmHWM)
check "daemon's peak RSS stays < 200 MB over a 20 MB JSON file roundtrip (VmHWM ${hwm} kB)" test "${hwm:-999999}" -lt 204800
echo 5 >"/proc/$RB_DAEMON_PID/clear_refs"
rss0=$(daemon_kb VmRSS)
sapi GET "/api/v1/sandboxes/$A/files?path=/workspace/big.bin" "" -H 'Accept: application/octet-stream'
expect_eq "files read 20 MB as octet-stream: Content-Type and the same sha256" \
	"$(grep -i '^content-type' <<<"$SB_HDRS" | tr -d ' ') $(sha256sum <"$SB_BODY_FILE" | cut -d' ' -f1)" "Content-Type:application/octet-stream $BIG_SHA"
hwm=$(daemon_kb VmHWM)
check "files read as octet-stream streams: daemon's peak RSS grows < 8 MB (VmRSS ${rss0} kB before, VmHWM ${hwm} kB)" test $((${hwm:-999999} - ${rss0:-0})) -lt 8192
# a file larger than JSON can carry (64 MB) is written as an octet-stream body, with flat memory
head -c 67108864 /dev/urandom >"$BIG"
BIG_SHA=$(sha256sum <"$BIG" | cut -d' ' -f1)
echo 5 >"/proc/$RB_DAEMON_PID/clear_refs"
rss0=$(daemon_kb VmRSS)
sapi POST "/api/v1/sandboxes/$A/files?path=/workspace/big64.bin" "" -H 'Content-Type: application/octet-stream' --data-binary "@$BIG"
hwm=$(daemon_kb VmHWM)
expect_status "files write of 64 MB as an octet-stream body: 2xx" "20."
expect_eq "files write of 64 MB as octet-stream: sha256 inside = host's" "$(inside "$A" 'sha256sum /workspace/big64.bin' | cut -d' ' -f1)" "$BIG_SHA"
check "files write as octet-stream streams: daemon's peak RSS grows < 16 MB (VmRSS ${rss0} kB before, VmHWM ${hwm} kB)" test $((${hwm:-999999} - ${rss0:-0})) -lt 16384
inside "$A" 'rm -f /workspace/big64.bin /workspace/big.bin' >/dev/null
rm -f "$BIG" "$BIG.json"

# --- errors -----------------------------------------------------------------------------------------
sapi POST /api/v1/sandboxes '{"image": '
expect_err "create with malformed JSON: INVALID_REQUEST" 400 INVALID_REQUEST
sapi POST /api/v1/sandboxes '[1,2]'
expect_err "create with a JSON array: INVALID_REQUEST" 400 INVALID_REQUEST
sapi POST /api/v1/sandboxes '{}'
expect_err "create without image: 400" 400 "INVALID_REQUEST|INVALID_CONFIG"
sapi POST /api/v1/sandboxes '{"image": 5}'
expect_err "create with image a number: 400" 400 "INVALID_REQUEST|INVALID_CONFIG"
sapi POST /api/v1/sandboxes "$(j image="$SB_IMAGE" env:='{"A":1}')"
expect_err "create with a non-string env value: 400" 400 "INVALID_REQUEST|INVALID_CONFIG"
sapi POST /api/v1/sandboxes "$(j image=no/such-image:latest)"
expect_status "create with an unknown image: 4xx" "4.."
cfg() { # NAME FIELD-IN-DETAILS JSON
	sapi POST /api/v1/sandboxes "$3"
	expect_err "create $1: INVALID_CONFIG" 400 INVALID_CONFIG
	expect_py "create $1: details name the field ($2)" "$BODY" "'$2' in json.dumps((d.get('error') or {}).get('details'))"
}
cfg "memoryMb 1" memoryMb "$(j image="$SB_IMAGE" resources.memoryMb:=1)"
cfg "memoryMb 10000000" memoryMb "$(j image="$SB_IMAGE" resources.memoryMb:=10000000)"
cfg "diskMb -5" diskMb "$(j image="$SB_IMAGE" resources.diskMb:=-5)"
cfg "cpu 0" cpu "$(j image="$SB_IMAGE" resources.cpu:=0)"
cfg "cpu above the host's CPUs ($(($(nproc) + 1)))" cpu "$(j image="$SB_IMAGE" resources.cpu:=$(($(nproc) + 1)))"
cfg "timeoutMs 86400001" timeoutMs "$(j image="$SB_IMAGE" timeoutMs:=86400001)"
cfg "timeoutMs -1" timeoutMs "$(j image="$SB_IMAGE" timeoutMs:=-1)"
cfg "idleTimeoutMs -1" idleTimeoutMs "$(j image="$SB_IMAGE" idleTimeoutMs:=-1)"
cfg "workdir relative" workdir "$(j image="$SB_IMAGE" workdir=rel/dir)"
cfg "21 metadata keys" metadata "$(python3 -c 'import json,os; print(json.dumps({"image": os.environ["SB_IMAGE"], "metadata": {"k%d" % i: "v" for i in range(21)}}))')"
sb_create "$(j image="$SB_IMAGE" resources.cpu:=0.5 metadata.ok=1)"
expect_eq "create with cpu 0.5 (fractional) is accepted" "$STATUS" 201
[ -n "$SB_ID" ] && sapi DELETE "/api/v1/sandboxes/$SB_ID"

NF=sb_0000000000
sapi GET "/api/v1/sandboxes/$NF"
expect_err "get of an unknown id: SANDBOX_NOT_FOUND" 404 SANDBOX_NOT_FOUND
sapi DELETE "/api/v1/sandboxes/$NF"
expect_err "delete of an unknown id: SANDBOX_NOT_FOUND" 404 SANDBOX_NOT_FOUND
sx "$NF" true
expect_err "exec in an unknown id: SANDBOX_NOT_FOUND" 404 SANDBOX_NOT_FOUND
sapi GET "/api/v1/sandboxes/$NF/files?path=/etc/passwd"
expect_err "files read in an unknown id: SANDBOX_NOT_FOUND" 404 SANDBOX_NOT_FOUND
sapi GET "/api/v1/sandboxes/..%2F..%2Fetc/files?path=/etc/passwd"
expect_status "an id with ../ in it: 4xx" "4.."
sapi POST "/api/v1/sandboxes/$A/exec" '{"command": '
expect_err "exec with malformed JSON: INVALID_REQUEST" 400 INVALID_REQUEST
sapi POST "/api/v1/sandboxes/$A/exec" '{}'
expect_err "exec without command or argv: 400" 400 "INVALID_REQUEST|INVALID_CONFIG"
sapi POST "/api/v1/sandboxes/$A/exec" '{"argv": []}'
expect_err "exec with an empty argv: 400" 400 "INVALID_REQUEST|INVALID_CONFIG"
sapi POST "/api/v1/sandboxes/$A/exec" '{"command": 42}'
expect_err "exec with command a number: 400" 400 "INVALID_REQUEST|INVALID_CONFIG"
sx "$A" 'true' user=no-such-user
if [ "$STATUS" = 200 ]; then
	expect_py "exec as an unknown user: fails, and says why" "$BODY" 'd.get("exitCode") != 0 and "no-such-user" in d.get("stderr", "")'
else expect_err "exec as an unknown user: an error" "4.." "INVALID_REQUEST|INVALID_CONFIG"; fi
python3 -c 'import json; print(json.dumps({"command": "echo " + "a" * 300000}))' >"$RB_TEST_ROOT/long.json"
sapi POST "/api/v1/sandboxes/$A/exec" "@$RB_TEST_ROOT/long.json"
expect_err "exec of a 300 kB command: COMMAND_TOO_LONG" "400|413" COMMAND_TOO_LONG
sapi GET /api/v1/no-such-route
expect_status "an unknown route: 404" 404
expect_py "an unknown route: an error object with requestId" "$BODY" 'bool((d.get("error") or {}).get("requestId"))'

# RESOURCE_EXHAUSTED: a file write into a full disk
sb_new "RESOURCE_EXHAUSTED" "$(j image="$SB_IMAGE" resources.diskMb:=64)" && {
	D=$SB_ID
	inside "$D" 'dd if=/dev/zero of=/fill bs=1M count=200 2>/dev/null; sync' >/dev/null
	{ printf '{"path":"/more.bin","encoding":"base64","content":"'; head -c 2000000 /dev/urandom | base64 -w0; printf '"}'; } >"$RB_TEST_ROOT/more.json"
	sapi POST "/api/v1/sandboxes/$D/files" "@$RB_TEST_ROOT/more.json"
	expect_err "files write into a full disk: RESOURCE_EXHAUSTED" "4..|5.." RESOURCE_EXHAUSTED
	sapi DELETE "/api/v1/sandboxes/$D"
}

# --- terminate --------------------------------------------------------------------------------------
sb_new "terminate" && {
	T=$SB_ID
	sapi DELETE "/api/v1/sandboxes/$T"
	expect_status "delete: 200 or 204" "200|204"
	sapi GET "/api/v1/sandboxes/$T"
	expect_py "after delete: the record stays, state terminated, terminatedAt set" "$BODY" \
		'd.get("state") == "terminated" and bool(__import__("re").match(r"\d{4}-\d\d-\d\dT", d.get("terminatedAt") or ""))'
	sx "$T" 'echo hi'
	expect_err "exec in a terminated sandbox: INVALID_STATE" 409 INVALID_STATE
	sapi GET "/api/v1/sandboxes/$T/files?path=/etc/passwd"
	expect_err "files read in a terminated sandbox: INVALID_STATE" 409 INVALID_STATE
	sapi POST "/api/v1/sandboxes/$T/files" "$(j path=/x content=y)"
	expect_err "files write in a terminated sandbox: INVALID_STATE" 409 INVALID_STATE
	check "a terminated sandbox has no process left on the host" test -z "$(sb_host_pids "$T")"
	sapi DELETE "/api/v1/sandboxes/$T"
	expect_status "a second delete: 200/204 (idempotent) or 409" "200|204|409"
}

# the first sandbox still works after all of the above
expect_eq "the first sandbox still answers" "$(inside "$A" 'echo alive')" alive
sapi GET /api/v1/health
expect_status "health: 200" 200
sb_check_request_ids
