#!/usr/bin/env bash
# Pause, resume and metrics (the lifecycle issue): a paused sandbox's processes stop (its cgroup's
# cpu time stands still), and after resume they go on with the same pids, files and memory;
# pausedAt; exec and files calls on a paused sandbox are refused at once unless autoResume;
# wrong states are 409 INVALID_STATE; terminate of a paused sandbox leaves nothing behind;
# metrics see a memory hog and a disk write; pause racing exec and terminate; the CLI verbs.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup

state_of() { sapi GET "/api/v1/sandboxes/$1" && jf 'd.get("state")'; }
cpu_of() { sapi GET "/api/v1/sandboxes/$1/metrics" && jf '(d.get("cpu") or {}).get("usageUsec")'; }
# what the kernel says of sandbox ID's freezer: frozen, thawed, or none (no cgroup left)
kernel_freezer() {
	local d
	for d in $(sb_cgroup_dirs "$1"); do
		if [ -f "$d/cgroup.freeze" ] && [ "$(cat "$d/cgroup.freeze")" = 1 ]; then
			grep -q '^frozen 1' "$d/cgroup.events" && echo frozen || echo freezing
			return
		fi
		if [ -f "$d/freezer.state" ] && [ "$(cat "$d/freezer.state")" != THAWED ]; then
			[ "$(cat "$d/freezer.state")" = FROZEN ] && echo frozen || echo freezing
			return
		fi
	done
	if [ -n "$(sb_cgroup_dirs "$1")" ]; then echo thawed; else echo none; fi
}

# --- pause a busy sandbox -----------------------------------------------------------------------------
sb_new "sandbox for pause" || exit 1
A=$SB_ID
# a busy loop, a sleeper, and a counter whose value lives in its shell's memory
sx "$A" 'while :; do :; done >/dev/null 2>&1 & echo $! >/tmp/busy.pid
sleep 1000 >/dev/null 2>&1 & echo $! >/tmp/sleep.pid
(i=0; while :; do i=$((i+1)); echo $i >/tmp/count; sleep 0.05; done) >/dev/null 2>&1 &
echo kept >/tmp/file; cat /tmp/busy.pid /tmp/sleep.pid'
expect_eq "setup: background processes started" "$STATUS|$EC" "200|0"
PIDS_BEFORE=${OUT%$'\n'}
sleep 0.3
COUNT_BEFORE=$(inside "$A" 'cat /tmp/count')

t0=$(now_ms)
sapi POST "/api/v1/sandboxes/$A/pause"
dt=$(($(now_ms) - t0))
expect_eq "pause: 200 ($dt ms)" "$STATUS" 200
expect_py "pause: answers the Sandbox, state paused, pausedAt ISO 8601" "$BODY" \
	"d.get('id') == '$A' and d.get('state') == 'paused' and bool(__import__('re').match(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d', d.get('pausedAt') or ''))"
expect_eq "pause: the kernel says frozen" "$(kernel_freezer "$A")" frozen
u0=$(cpu_of "$A")
sleep 1
u1=$(cpu_of "$A")
check "paused: cpu usage does not grow over 1 s with a busy loop inside ($u0 -> $u1 usec)" \
	test -n "$u0" -a -n "$u1" -a "$((u1 - u0))" -le 10000
sapi GET "/api/v1/sandboxes/$A"
expect_py "get: state paused, pausedAt set" "$BODY" "d.get('state') == 'paused' and d.get('pausedAt') is not None"
sapi GET "/api/v1/sandboxes?state=paused"
expect_py "list state=paused: has it" "$BODY" "'$A' in [s['id'] for s in d.get('data', [])]"

# --- what a paused sandbox refuses, at once ----------------------------------------------------------
t0=$(now_ms)
sx "$A" 'echo hi'
dt=$(($(now_ms) - t0))
expect_err "exec on paused: 409 INVALID_STATE" 409 INVALID_STATE
check "exec on paused: refused within 500 ms ($dt ms)" test "$dt" -lt 500
for call in "GET /files?path=/tmp/file" "GET /files/list?path=/tmp" "GET /files/exists?path=/tmp/file" \
	"DELETE /files?path=/tmp/file"; do
	t0=$(now_ms)
	sapi "${call%% *}" "/api/v1/sandboxes/$A${call#* }"
	dt=$(($(now_ms) - t0))
	expect_err "$call on paused: 409 INVALID_STATE ($dt ms)" 409 INVALID_STATE
done
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/tmp/w content=x)"
expect_err "POST files on paused: 409 INVALID_STATE" 409 INVALID_STATE
sapi POST "/api/v1/sandboxes/$A/files?path=/tmp/up" "" -H 'Content-Type: application/octet-stream' --data-binary x
expect_err "upload (octet-stream) on paused: 409 INVALID_STATE" 409 INVALID_STATE
sapi POST "/api/v1/sandboxes/$A/files/mkdir" "$(j path=/tmp/d)"
expect_err "mkdir on paused: 409 INVALID_STATE" 409 INVALID_STATE
sapi POST "/api/v1/sandboxes/$A/pause"
expect_err "pause of a paused sandbox: 409 INVALID_STATE" 409 INVALID_STATE
expect_eq "still paused after the refusals" "$(state_of "$A")|$(kernel_freezer "$A")" "paused|frozen"

# --- resume ------------------------------------------------------------------------------------------
sapi POST "/api/v1/sandboxes/$A/resume"
expect_eq "resume: 200" "$STATUS" 200
expect_py "resume: state running, pausedAt null" "$BODY" "d.get('state') == 'running' and d.get('pausedAt', 1) is None"
expect_eq "resume: the kernel says thawed" "$(kernel_freezer "$A")" thawed
u0=$(cpu_of "$A")
sleep 1
u1=$(cpu_of "$A")
check "resumed: cpu usage grows again ($u0 -> $u1 usec over 1 s)" test -n "$u1" -a "$((u1 - u0))" -ge 200000
expect_eq "resumed: the same processes, alive (kill -0 by pid)" \
	"$(inside "$A" 'for p in $(cat /tmp/busy.pid /tmp/sleep.pid); do kill -0 $p && echo $p; done')" "$PIDS_BEFORE"
expect_eq "resumed: files as they were" "$(inside "$A" 'cat /tmp/file')" kept
COUNT_AFTER=$(inside "$A" 'cat /tmp/count')
check "resumed: the counter goes on from its memory ($COUNT_BEFORE -> $COUNT_AFTER)" \
	test "${COUNT_AFTER:-0}" -gt "${COUNT_BEFORE:-0}"
sapi POST "/api/v1/sandboxes/$A/resume"
expect_err "resume of a running sandbox: 409 INVALID_STATE" 409 INVALID_STATE
sapi POST "/api/v1/sandboxes/$A/pause" "{}"
expect_eq "pause again (with an empty JSON body): 200" "$STATUS" 200
sapi POST "/api/v1/sandboxes/$A/resume"
expect_eq "resume again: 200, running" "$STATUS|$(state_of "$A")" "200|running"

# --- autoResume --------------------------------------------------------------------------------------
sapi POST "/api/v1/sandboxes/$A/pause"
sx "$A" 'echo woke' autoResume:=true
expect_eq "exec with autoResume: true on paused: runs" "$STATUS|${OUT%$'\n'}" "200|woke"
expect_eq "autoResume leaves it running, thawed, pausedAt null" \
	"$(state_of "$A")|$(jf 'str(d.get("pausedAt"))')|$(kernel_freezer "$A")" "running|None|thawed"
sapi POST "/api/v1/sandboxes/$A/pause"
sapi GET "/api/v1/sandboxes/$A/files?path=/tmp/file&autoResume=true"
expect_eq "GET files ?autoResume=true on paused: 200 with the content" "$STATUS|$(jf 'd.get("content")')" "200|kept"
sapi POST "/api/v1/sandboxes/$A/pause"
sapi POST "/api/v1/sandboxes/$A/files" "$(j path=/tmp/w content=x autoResume:=true)"
expect_eq "POST files with autoResume: true on paused: 200" "$STATUS|$(state_of "$A")" "200|running"
sapi POST "/api/v1/sandboxes/$A/pause"
sapi POST "/api/v1/sandboxes/$A/files?path=/tmp/up&autoResume=true" "" -H 'Content-Type: application/octet-stream' --data-binary xyz
expect_eq "upload ?autoResume=true on paused: 200" "$STATUS|$(state_of "$A")" "200|running"
sapi POST "/api/v1/sandboxes/$A/pause"
sapi DELETE "/api/v1/sandboxes/$A/files?path=/tmp/w&autoResume=true"
expect_eq "DELETE files ?autoResume=true on paused: 200" "$STATUS|$(state_of "$A")" "200|running"
sapi POST "/api/v1/sandboxes/$A/pause"
sx "$A" 'echo no' autoResume:=false
expect_err "exec with autoResume: false on paused: 409 INVALID_STATE" 409 INVALID_STATE
sx "$A" 'echo no' autoResume=yes
expect_err "autoResume not a boolean: 400 INVALID_CONFIG" 400 INVALID_CONFIG
sapi POST "/api/v1/sandboxes/$A/resume"
sx "$A" 'echo fine' autoResume:=true
expect_eq "autoResume on a running sandbox: runs as usual" "$STATUS|${OUT%$'\n'}" "200|fine"

# --- metrics -----------------------------------------------------------------------------------------
sapi GET "/api/v1/sandboxes/$A/metrics"
expect_eq "metrics: 200" "$STATUS" 200
expect_py "metrics: id, state, timestamp, cpu, memory, pids, disk" "$BODY" \
	"d.get('id') == '$A' and d.get('state') == 'running' and isinstance(d.get('timestamp'), str) and all(isinstance(d.get(k), dict) for k in ('cpu', 'memory', 'pids', 'disk'))"
expect_py "metrics: numbers where they belong (usageUsec, percent, currentBytes, peakBytes, limitBytes, pids, disk)" "$BODY" \
	"all(isinstance(v, (int, float)) for v in (d['cpu']['usageUsec'], d['cpu']['percent'], d['memory']['currentBytes'], d['memory']['peakBytes'], d['memory']['limitBytes'], d['pids']['current'], d['disk']['usedBytes'], d['disk']['limitBytes']))"
expect_py "metrics: busy loop: cpu percent plausible (20..400)" "$BODY" "20 <= d['cpu']['percent'] <= 400"
expect_py "metrics: pids counts the agent and the background processes (>= 4)" "$BODY" "d['pids']['current'] >= 4"
expect_py "metrics: memory limit is resources.memoryMb, disk limit about diskMb" "$BODY" \
	"d['memory']['limitBytes'] == 4096 * 1048576 and abs(d['disk']['limitBytes'] - 10240 * 1048576) < 1048576"
M0=$(jf 'd["memory"]["currentBytes"]')
D0=$(jf 'd["disk"]["usedBytes"]')
sx "$A" "awk 'BEGIN { s = sprintf(\"%50000000s\", \"x\"); system(\"sleep 3\") }' >/dev/null 2>&1 & sleep 1"
sapi GET "/api/v1/sandboxes/$A/metrics"
expect_py "metrics: a 50 MB memory hog shows in currentBytes ($M0 before)" "$BODY" "d['memory']['currentBytes'] - $M0 >= 45e6"
expect_py "metrics: peakBytes >= currentBytes" "$BODY" "d['memory']['peakBytes'] >= d['memory']['currentBytes']"
sx "$A" 'dd if=/dev/urandom of=/root/big bs=1M count=10 2>/dev/null; sync'
sapi GET "/api/v1/sandboxes/$A/metrics"
expect_py "metrics: a 10 MB file shows in disk usedBytes ($D0 before)" "$BODY" "10 * 1048576 <= d['disk']['usedBytes'] - $D0 <= 12 * 1048576"
sapi POST "/api/v1/sandboxes/$A/pause"
sapi GET "/api/v1/sandboxes/$A/metrics"
expect_py "metrics of a paused sandbox: 200, state paused" "$BODY" "d.get('state') == 'paused'"
sapi POST "/api/v1/sandboxes/$A/resume"

# --- unknown and terminated --------------------------------------------------------------------------
for r in "POST pause" "POST resume" "GET metrics"; do
	sapi "${r% *}" "/api/v1/sandboxes/sb_nosuchbox/${r#* }"
	expect_err "${r#* } of an unknown id: 404 SANDBOX_NOT_FOUND" 404 SANDBOX_NOT_FOUND
done
sapi GET "/api/v1/sandboxes/$A/pause"
expect_status "GET .../pause: 405" 405

# --- terminate while paused --------------------------------------------------------------------------
sapi POST "/api/v1/sandboxes/$A/pause"
HOSTPIDS=$(sb_host_pids "$A")
t0=$(now_ms)
sapi DELETE "/api/v1/sandboxes/$A"
dt=$(($(now_ms) - t0))
expect_eq "terminate a paused sandbox: 200 terminated ($dt ms)" "$STATUS|$(jf 'd.get("state")')" "200|terminated"
check "terminate a paused sandbox: within 5 s ($dt ms)" test "$dt" -lt 5000
expect_eq "terminate a paused sandbox: no cgroup left" "$(sb_cgroup_dirs "$A")" ""
left=""
for p in $HOSTPIDS; do [ -d "/proc/$p" ] && left+=" $p"; done
expect_eq "terminate a paused sandbox: none of its $(echo $HOSTPIDS | wc -w) processes left" "$left" ""
for r in "POST pause" "POST resume" "GET metrics"; do
	sapi "${r% *}" "/api/v1/sandboxes/$A/${r#* }"
	expect_err "${r#* } of a terminated sandbox: 409 INVALID_STATE" 409 INVALID_STATE
done

# --- races -------------------------------------------------------------------------------------------
sb_new "sandbox for races" || exit 1
B=$SB_ID
: >"$RB_TEST_ROOT/race.log"
(
	for i in $(seq 1 15); do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 --unix-socket "$RUNBOX_SOCKET" \
			-X POST -H 'Content-Type: application/json' -d '{"command":"echo x"}' \
			"http://runbox/api/v1/sandboxes/$B/exec"
	done >>"$RB_TEST_ROOT/race.log"
) &
EXECS=$!
for i in $(seq 1 15); do
	curl -s -o /dev/null --max-time 30 --unix-socket "$RUNBOX_SOCKET" -X POST "http://runbox/api/v1/sandboxes/$B/pause"
	curl -s -o /dev/null --max-time 30 --unix-socket "$RUNBOX_SOCKET" -X POST "http://runbox/api/v1/sandboxes/$B/resume"
done
wait "$EXECS"
expect_eq "pause/resume racing 15 execs: every exec answered 200 or 409" \
	"$(grep -cvE '^(200|409)$' "$RB_TEST_ROOT/race.log")|$(wc -l <"$RB_TEST_ROOT/race.log")" "0|15"
expect_eq "after the race: running and thawed, exec works" \
	"$(state_of "$B")|$(kernel_freezer "$B")|$(inside "$B" 'echo ok')" "running|thawed|ok"
sx "$B" 'while :; do :; done >/dev/null 2>&1 &'
racers=()
for i in 1 2 3; do
	curl -s -o /dev/null --max-time 30 --unix-socket "$RUNBOX_SOCKET" -X POST "http://runbox/api/v1/sandboxes/$B/pause" &
	racers+=($!)
	curl -s -o /dev/null --max-time 30 --unix-socket "$RUNBOX_SOCKET" -X POST "http://runbox/api/v1/sandboxes/$B/resume" &
	racers+=($!)
done
t0=$(now_ms)
sapi DELETE "/api/v1/sandboxes/$B"
wait "${racers[@]}" # not a bare wait: the daemon is our child too
dt=$(($(now_ms) - t0))
expect_eq "terminate racing pauses and resumes: 200 terminated" "$STATUS|$(state_of "$B")" "200|terminated"
check "terminate racing pauses and resumes: all done within 10 s ($dt ms)" test "$dt" -lt 10000
expect_eq "terminate racing pauses: no cgroup left" "$(sb_cgroup_dirs "$B")" ""

# --- CLI ---------------------------------------------------------------------------------------------
sb_new "sandbox for the CLI" || exit 1
C=$SB_ID
rbx out pause "$C"
expect_eq "runbox pause ID: prints the id, exit 0" "$out|$RC" "$C|0"
rbx out pause "$C"
expect_eq "runbox pause of a paused one: exit 1, INVALID_STATE on stderr" "$RC|$(grep -c INVALID_STATE <<<"$ERRO")" "1|1"
rbx out stats --no-stream "$C"
expect_contains "runbox stats --no-stream ID: a table with the header" "$out" "SANDBOX ID"
expect_contains "runbox stats --no-stream ID: a row for it, paused" "$(grep "^$C" <<<"$out")" paused
rbx out resume "$C"
expect_eq "runbox resume ID: prints the id, exit 0" "$out|$RC" "$C|0"
rbx out resume "$C"
expect_eq "runbox resume of a running one: exit 1" "$RC" 1
rbx out pause
expect_eq "runbox pause without an id: exit 2" "$RC" 2
rbx out pause sb_nosuchbox
expect_eq "runbox pause of an unknown id: exit 1, SANDBOX_NOT_FOUND" "$RC|$(grep -c SANDBOX_NOT_FOUND <<<"$ERRO")" "1|1"
rbx out --json pause "$C"
expect_py "runbox --json pause: the sandboxes as JSON" "$out" "d[0]['id'] == '$C' and d[0]['state'] == 'paused'"
rbx out resume --json "$C"
expect_py "runbox resume --json: the sandboxes as JSON" "$out" "d[0]['state'] == 'running'"
rbx out stats --json "$C"
expect_py "runbox stats --json ID: an array of metrics" "$out" "d[0]['id'] == '$C' and 'usageUsec' in d[0]['cpu']"
rbx out stats --no-stream
expect_contains "runbox stats --no-stream (no ids): every live sandbox" "$out" "$C"
rbx out stats --no-stream sb_nosuchbox
expect_eq "runbox stats of an unknown id: exit 1" "$RC" 1
out=$(timeout 2.5 "$RUNBOX" stats "$C" 2>&1)
expect_eq "runbox stats ID (live): a table again every second" "$(grep -c 'SANDBOX ID' <<<"$out")" 3
rbx out --help
expect_contains "runbox --help lists pause, resume and stats" "$out" "stats"

sb_check_request_ids
