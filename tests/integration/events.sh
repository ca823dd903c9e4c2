#!/usr/bin/env bash
# Events and exporters (the lifecycle issue): GET /api/v1/events streams a sandbox's life in order
# (created, started, exec.started, exec.completed, file.created, file.read, file.deleted,
# terminated) with the RuntimeEvent fields; type and sandboxId filters; Last-Event-ID and ?since=
# replays; the ndjson exporter appends (filtered by types); the webhook exporter POSTs batches to a
# receiver on 127.0.0.1, and a slow or dead receiver neither slows execs nor grows without bound
# (its drops show in GET /api/v1/info); a bad configuration file stops serve with the field named;
# `runbox events` prints; a stream ends when the daemon stops.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
# the webhook receivers are on 127.0.0.1: no proxy in between
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

EV=$RB_TEST_ROOT/ev
mkdir -p "$EV"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

# receiver NAME DELAY: a python HTTP receiver on a free port of 127.0.0.1 that appends each POST's
# body as a line to $EV/NAME.posts, answering after DELAY seconds; sets PORT.
receiver() {
	local name=$1 delay=$2 i
	rm -f "$EV/$name.port"
	# the binary itself (not sandbox-common's python3 function), so that $! is its pid
	"$PY" -c '
import http.server, sys, time
port_file, out, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(delay)
        with open(out, "ab") as f:
            f.write(body + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
' "$EV/$name.port" "$EV/$name.posts" "$delay" >/dev/null 2>&1 &
	local pid=$!
	rb_on_exit "kill $pid 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		[ -s "$EV/$name.port" ] && break
		sleep 0.05
	done
	PORT=$(cat "$EV/$name.port" 2>/dev/null)
}

# a port nothing listens on: bound and closed at once
dead_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# stream NAME QUERY [curl args]: GET /api/v1/events?QUERY into $EV/NAME.sse in the background;
# sets STREAM_PID (stopped by stream_stop, and at exit)
stream() {
	local name=$1 q=$2
	shift 2
	curl -sN --unix-socket "$RUNBOX_SOCKET" "$@" "http://runbox/api/v1/events?$q" >"$EV/$name.sse" 2>/dev/null &
	STREAM_PID=$!
	rb_on_exit "kill $STREAM_PID 2>/dev/null"
	# the stream is open once its preamble came
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q '^retry:' "$EV/$name.sse" 2>/dev/null && break
		sleep 0.02
	done
}
stream_stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# sse_json FILE: the stream's frames as a JSON list of {"id","event","data"}
sse_json() {
	python3 -c '
import json, sys
frames, cur = [], {}
for line in open(sys.argv[1], encoding="utf-8").read().split("\n"):
    if line == "":
        if "data" in cur:
            frames.append(cur)
        cur = {}
    elif line.startswith(":"):
        continue
    else:
        k, _, v = line.partition(":")
        v = v[1:] if v.startswith(" ") else v
        if k == "data":
            v = json.loads(v)
        cur[k] = v
print(json.dumps(frames))
' "$1"
}

# wait_lines FILE PYEXPR: up to 5 s for PYEXPR over the file's JSON lines (as L) to hold
wait_lines() {
	local i
	for ((i = 0; i < 50; i++)); do
		python3 -c '
import json, os, sys
E = os.environ
try:
    L = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
except (OSError, ValueError):
    sys.exit(1)
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$1" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# --- a daemon with exporters: ndjson (all, and filtered) and a webhook --------------------------
receiver hook 0
HOOK_PORT=$PORT
cat >"$EV/config.json" <<EOF
{"observability": {"exporters": [
  {"provider": "ndjson", "config": {"path": "$EV/log/all.ndjson"}},
  {"provider": "ndjson", "config": {"path": "$EV/log/some.ndjson"},
   "filter": {"types": ["exec.completed", "sandbox.*"]}},
  {"provider": "webhook", "config": {"url": "http://127.0.0.1:$HOOK_PORT/hook", "batchSize": 100,
   "flushIntervalMs": 200, "maxQueue": 1000, "headers": {"X-Test": "events"}}}
]}}
EOF
sb_setup --config "$EV/config.json"

sb_new "other sandbox" || exit 1
OTHER=$SB_ID
stream all ""
ALL_PID=$STREAM_PID
stream typed "type=exec.*,file.read"
TYPED_PID=$STREAM_PID
sb_new "events sandbox" "$(j image="$SB_IMAGE" metadata.runId=run-7 metadata.team=a)" || exit 1
A=$SB_ID
stream one "sandboxId=$A"
ONE_PID=$STREAM_PID
sx "$A" 'echo hi; exit 3'
expect_eq "exec answers (exit 3)" "$EC" 3
sx "$OTHER" 'true'
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/tmp/f.txt content=hello)"
expect_status "file write" 200
sapi GET "/api/v1/sandboxes/$A/files?path=/tmp/f.txt"
expect_status "file read" 200
sapi DELETE "/api/v1/sandboxes/$A/files?path=/tmp/f.txt"
expect_status "file delete" 200
sapi DELETE "/api/v1/sandboxes/$A"
expect_status "terminate" 200
sleep 0.3
for p in $ALL_PID $TYPED_PID $ONE_PID; do stream_stop "$p"; done

ALL=$(sse_json "$EV/all.sse")
export A OTHER
expect_py "stream: the sandbox's events in order" "$ALL" \
	'[f["event"] for f in d if f["data"]["sandboxId"] == E["A"]] == ["sandbox.created", "sandbox.started", "exec.started", "exec.completed", "file.created", "file.read", "file.deleted", "sandbox.terminated"]'
expect_py "stream: every frame is a RuntimeEvent (id, timestamp RFC 3339 ms UTC, type, sandboxId, runId, data) whose id and event lines match" "$ALL" \
	'len(d) >= 10 and all(set(f["data"]) == {"id", "timestamp", "type", "sandboxId", "runId", "data"} and f["id"] == f["data"]["id"] and f["id"].startswith("evt_") and f["event"] == f["data"]["type"] and __import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", f["data"]["timestamp"]) and isinstance(f["data"]["data"], dict) for f in d)'
expect_py "stream: ids unique, timestamps never go back" "$ALL" \
	'len({f["id"] for f in d}) == len(d) and [f["data"]["timestamp"] for f in d] == sorted(f["data"]["timestamp"] for f in d)'
expect_py "stream: runId is the metadata's runId, and \"\" for a sandbox without one" "$ALL" \
	'all(f["data"]["runId"] == ("run-7" if f["data"]["sandboxId"] == E["A"] else "") for f in d)'
ev() { printf '%s' "$ALL" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([f["data"]["data"] for f in d if f["data"]["sandboxId"] == sys.argv[1] and f["event"] == sys.argv[2]][0]))' "$A" "$1"; }
expect_py "sandbox.created: image and metadata" "$(ev sandbox.created)" \
	'd.get("image") == E["SB_IMAGE"] and d.get("metadata") == {"runId": "run-7", "team": "a"}'
expect_py "exec.started: command and pid" "$(ev exec.started)" 'd.get("command") == "echo hi; exit 3" and isinstance(d.get("pid"), int)'
expect_py "exec.completed: command, exitCode 3, durationMs, signal null" "$(ev exec.completed)" \
	'd.get("command") == "echo hi; exit 3" and d.get("exitCode") == 3 and isinstance(d.get("durationMs"), (int, float)) and d.get("signal", 1) is None'
expect_py "file.created: path and sizeBytes" "$(ev file.created)" 'd == {"path": "/tmp/f.txt", "sizeBytes": 5}'
expect_py "file.read: path and sizeBytes" "$(ev file.read)" 'd == {"path": "/tmp/f.txt", "sizeBytes": 5}'
expect_py "file.deleted: path" "$(ev file.deleted)" 'd.get("path") == "/tmp/f.txt"'
expect_py "sandbox.terminated: reason and totalRuntimeMs" "$(ev sandbox.terminated)" \
	'd.get("reason") == "user" and isinstance(d.get("totalRuntimeMs"), (int, float)) and d["totalRuntimeMs"] >= 0'
expect_py "type filter exec.*,file.read: only those types, from both sandboxes" "$(sse_json "$EV/typed.sse")" \
	'sorted({f["event"] for f in d}) == ["exec.completed", "exec.started", "file.read"] and {f["data"]["sandboxId"] for f in d} == {E["A"], E["OTHER"]}'
expect_py "sandboxId filter: only that sandbox's events" "$(sse_json "$EV/one.sse")" \
	'len(d) >= 6 and all(f["data"]["sandboxId"] == E["A"] for f in d)'

# --- replays ------------------------------------------------------------------------------------
X=$(printf '%s' "$ALL" | python3 -c 'import json,sys; d=json.load(sys.stdin); print([f["id"] for f in d if f["event"] == "exec.started" and f["data"]["sandboxId"] == sys.argv[1]][0])' "$A")
curl -sN --max-time 1.5 --unix-socket "$RUNBOX_SOCKET" -H "Last-Event-ID: $X" "http://runbox/api/v1/events" >"$EV/replay.sse"
export WANT_AFTER
WANT_AFTER=$(printf '%s' "$ALL" | python3 -c 'import json,sys; d=json.load(sys.stdin); i=[f["id"] for f in d].index(sys.argv[1]); print(json.dumps([f["id"] for f in d[i+1:]]))' "$X")
expect_py "Last-Event-ID replays exactly what followed that event" "$(sse_json "$EV/replay.sse")" \
	'[f["id"] for f in d] == __import__("json").loads(E["WANT_AFTER"])'
curl -sN --max-time 1.5 --unix-socket "$RUNBOX_SOCKET" "http://runbox/api/v1/events?since=$X&sandboxId=$A" >"$EV/since.sse"
expect_py "?since=ID&sandboxId= replays the rest of that sandbox's life" "$(sse_json "$EV/since.sse")" \
	'[f["event"] for f in d] == ["exec.completed", "file.created", "file.read", "file.deleted", "sandbox.terminated"]'
curl -sN --max-time 1.5 --unix-socket "$RUNBOX_SOCKET" "http://runbox/api/v1/events?since=0&type=sandbox.created" >"$EV/since0.sse"
expect_py "?since=0&type=sandbox.created: every create the ring holds" "$(sse_json "$EV/since0.sse")" \
	'{f["data"]["sandboxId"] for f in d} >= {E["A"], E["OTHER"]} and all(f["event"] == "sandbox.created" for f in d)'
sapi GET "/api/v1/events?type=nope.x"
expect_err "an unknown type is refused" 400 INVALID_CONFIG

# --- exporters ----------------------------------------------------------------------------------
if wait_lines "$EV/log/all.ndjson" '[e["type"] for e in L if e["sandboxId"] == E["A"]] == ["sandbox.created", "sandbox.started", "exec.started", "exec.completed", "file.created", "file.read", "file.deleted", "sandbox.terminated"]'; then
	pass "ndjson exporter: one RuntimeEvent a line, the sandbox's eight in order"
else
	fail "ndjson exporter: $(head -c 600 "$EV/log/all.ndjson" 2>&1)"
fi
if wait_lines "$EV/log/some.ndjson" 'len(L) >= 5 and all(e["type"] == "exec.completed" or e["type"].startswith("sandbox.") for e in L) and [e["type"] for e in L if e["sandboxId"] == E["A"]] == ["sandbox.created", "sandbox.started", "exec.completed", "sandbox.terminated"]'; then
	pass "ndjson exporter with filter.types [exec.completed, sandbox.*]: only those"
else
	fail "ndjson exporter, filtered: $(head -c 600 "$EV/log/some.ndjson" 2>&1)"
fi
if wait_lines "$EV/hook.posts" 'all(isinstance(b, list) and b for b in L) and [e["type"] for b in L for e in b if e["sandboxId"] == E["A"]] == ["sandbox.created", "sandbox.started", "exec.started", "exec.completed", "file.created", "file.read", "file.deleted", "sandbox.terminated"]'; then
	pass "webhook exporter: POSTs JSON arrays holding the sandbox's events in order"
else
	fail "webhook exporter: $(head -c 600 "$EV/hook.posts" 2>&1)"
fi
expect_py "webhook exporter: batches (fewer POSTs than events)" "$(python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1]) if l.strip()]))' "$EV/hook.posts")" \
	'len(d) < sum(len(b) for b in d)'
sapi GET /api/v1/info
expect_py "info: events counters and the three exporters, nothing dropped" "$BODY" \
	'(lambda e: e["emitted"] >= 10 and e["capacity"] == 4096 and [x["provider"] for x in e["exporters"]] == ["ndjson", "ndjson", "webhook"] and all(x["dropped"] == 0 and x["failed"] == 0 for x in e["exporters"]))(d["events"])'

# --- the CLI ------------------------------------------------------------------------------------
out=$(timeout 10 "$RUNBOX" events --json --since 0 --filter "sandbox=$A" --count 8 2>&1)
expect_py "runbox events --json: a JSON event a line" "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in sys.stdin if l.strip()]))' 2>&1)" \
	'[e["type"] for e in d] == ["sandbox.created", "sandbox.started", "exec.started", "exec.completed", "file.created", "file.read", "file.deleted", "sandbox.terminated"]'
out=$(timeout 10 "$RUNBOX" events --since 0 --filter "sandbox=$A" --filter type=exec.completed --count 1 2>&1)
expect_contains "runbox events: a readable line" "$out" "exec.completed     $A run=run-7 echo hi; exit 3 exit=3"
timeout 10 "$RUNBOX" events --filter type=bogus >/dev/null 2>"$EV/cli.err"
rc=$?
expect_eq "runbox events --filter type=bogus: exit 1 with the daemon's message" "$rc:$(grep -c 'unknown event type' "$EV/cli.err")" "1:1"

# --- a stream ends when the daemon stops ----------------------------------------------------------
stream last ""
LAST_PID=$STREAM_PID
sb_terminate_all
t0=$(now_ms)
rb_daemon_stop
t1=$(now_ms)
for ((i = 0; i < 50; i++)); do kill -0 "$LAST_PID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$LAST_PID" 2>/dev/null; then
	fail "an open stream ends when the daemon stops"
	stream_stop "$LAST_PID"
else
	pass "an open stream ends when the daemon stops (daemon stopped in $((t1 - t0)) ms)"
fi
expect_contains "the stream's last words say so" "$(tail -3 "$EV/last.sse")" ": the daemon is stopping"

# --- a slow and a dead receiver do not slow the API ------------------------------------------------
# twenty execs, as the clients would do them
twenty() {
	local t0 i
	t0=$(now_ms)
	for ((i = 0; i < 20; i++)); do sx "$1" "echo $i"; done
	echo $(($(now_ms) - t0))
}
if ! rb_daemon_start; then fail "daemon without exporters starts"; exit 1; fi
sb_new "baseline sandbox" || exit 1
BASE=$(twenty "$SB_ID")
sb_terminate_all
rb_daemon_stop

receiver slow 2
DEAD=$(dead_port)
cat >"$EV/slow.json" <<EOF
{"observability": {"exporters": [
  {"provider": "webhook", "config": {"url": "http://127.0.0.1:$PORT/", "batchSize": 1,
   "flushIntervalMs": 0, "maxQueue": 5, "maxRetries": 0, "timeoutMs": 10000}},
  {"provider": "webhook", "config": {"url": "http://127.0.0.1:$DEAD/", "batchSize": 1,
   "flushIntervalMs": 0, "maxQueue": 5, "maxRetries": 3}}
]}}
EOF
if ! rb_daemon_start --config "$EV/slow.json"; then fail "daemon with a slow and a dead webhook starts"; exit 1; fi
sb_new "slow receiver sandbox" || exit 1
SLOW=$(twenty "$SB_ID")
if [ "$SLOW" -le $((BASE * 5 + 3000)) ]; then
	pass "20 execs with a slow and a dead receiver: ${SLOW} ms (without exporters: ${BASE} ms)"
else
	fail "20 execs with a slow and a dead receiver took ${SLOW} ms, without exporters ${BASE} ms"
fi
sapi GET /api/v1/info
expect_py "info: both receivers' queues stay bounded (maxQueue 5) and count their drops" "$BODY" \
	'all(x["queued"] <= 5 and x["dropped"] > 0 for x in d["events"]["exporters"])'
# its batches fail after 3 retries (0.2 + 0.4 + 0.8 s of backoff)
for ((i = 0; i < 50; i++)); do
	sapi GET /api/v1/info
	[ "$(jf 'd["events"]["exporters"][1]["failed"] > 0')" = true ] && break
	sleep 0.1
done
expect_py "info: the dead receiver's failures and last error" "$BODY" \
	'(lambda x: x["failed"] > 0 and "127.0.0.1" in (x["lastError"] or ""))(d["events"]["exporters"][1])'
sb_terminate_all
t0=$(now_ms)
rb_daemon_stop
t1=$(now_ms)
if [ $((t1 - t0)) -lt 4500 ]; then
	pass "a daemon with a slow receiver stops in bounded time ($((t1 - t0)) ms)"
else
	fail "a daemon with a slow receiver took $((t1 - t0)) ms to stop"
fi

# --- a bad configuration file stops serve, naming the field ----------------------------------------
# bad_config NAME JSON NEEDLE: serve exits non-zero at once with NEEDLE in its message
bad_config() {
	local name=$1 dir=$RB_TEST_ROOT/bad.$RANDOM rc
	mkdir -p "$dir"
	printf '%s' "$2" >"$dir/config.json"
	timeout 10 "$RUNBOX" serve --socket "$dir/s.sock" --state-dir "$dir/state" --config "$dir/config.json" >"$dir/out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qF -- "$3" "$dir/out"; then
		pass "bad config: $name: exit $rc, names $3"
	else
		fail "bad config: $name: exit $rc: $(head -c 400 "$dir/out")"
	fi
}
bad_config "webhook url" '{"observability":{"exporters":[{"provider":"webhook","config":{"url":"ftp://x"}}]}}' "observability.exporters[0].config.url"
bad_config "unknown provider" '{"observability":{"exporters":[{"provider":"ndjson","config":{"path":"/tmp/x"}},{"provider":"kafka"}]}}' "observability.exporters[1].provider"
bad_config "filter type" '{"observability":{"exporters":[{"provider":"ndjson","config":{"path":"/tmp/x"},"filter":{"types":["exec.done"]}}]}}' "observability.exporters[0].filter.types[0]"
bad_config "batchSize" '{"observability":{"exporters":[{"provider":"webhook","config":{"url":"http://127.0.0.1:1/","batchSize":0}}]}}' "observability.exporters[0].config.batchSize"
bad_config "unknown setting" '{"observability":{"exporters":[{"provider":"ndjson","config":{"path":"/tmp/x","pth":1}}]}}' "observability.exporters[0].config.pth"
bad_config "relative ndjson path" '{"observability":{"exporters":[{"provider":"ndjson","config":{"path":"x.ndjson"}}]}}' "observability.exporters[0].config.path"
bad_config "unknown section" '{"observabilty":{}}' "observabilty is not a known section"
bad_config "network.defaultMode" '{"network":{"defaultMode":"host"}}' 'network.defaultMode is "none" or "private"'
bad_config "network.pool" '{"network":{"pool":"10.0.0.0/30"}}' "network.pool: network pool"
bad_config "network.dnsUpstream" '{"network":{"dnsUpstream":["10.0.0.53","nowhere"]}}' "network.dnsUpstream[1]"
bad_config "network unknown setting" '{"network":{"defaultmode":"none"}}' "network.defaultmode is not a setting"
bad_config "not JSON" '{"observability": ' "not a JSON object"
dir=$RB_TEST_ROOT/badenv
mkdir -p "$dir"
printf '{"observability":{"exporters":"x"}}' >"$dir/config.json"
RUNBOX_CONFIG=$dir/config.json timeout 10 "$RUNBOX" serve --socket "$dir/s.sock" --state-dir "$dir/state" >"$dir/out" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "observability.exporters must be an array" "$dir/out"; then
	pass "RUNBOX_CONFIG is read: its bad exporters stop serve"
else
	fail "RUNBOX_CONFIG: exit $rc: $(head -c 400 "$dir/out")"
fi
timeout 10 "$RUNBOX" serve --socket "$dir/s.sock" --state-dir "$dir/state" --config "$dir/missing.json" >"$dir/out" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "missing.json" "$dir/out"; then
	pass "--config FILE that does not exist: serve refuses, naming it"
else
	fail "--config missing file: exit $rc: $(head -c 400 "$dir/out")"
fi
