#!/usr/bin/env bash
# Nothing is left behind (issue 3): after 200 create/exec/terminate cycles, after terminating
# sandboxes with running and orphaned processes, and after each kind of failed create: no agent
# or other process of the sandboxes, no cgroup named runbox-sb_*, no mount, no loop device.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup
CYCLES=${SB_CYCLES:-200}
PAR=${SB_PARALLEL:-4}

# empty sandbox cgroups (a live sandbox always has its agent in its cgroup) that were not there
# at the start: the leaks, whoever made them; another daemon on this host may have its own
empty_cgroups() {
	local d
	for d in $(sb_cgroup_dirs); do
		[ -s "$d/cgroup.procs" ] || echo "$d"
	done
}
leaked_cgroups() { comm -13 <(echo "$BASE_EMPTY") <(empty_cgroups | sort) | tr '\n' ' '; }
# agents this daemon started (its children) and any process in a terminated sandbox's cgroup
our_agents() {
	local p
	for p in $(agent_pids); do
		[ "$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null)" = "$RB_DAEMON_PID" ] && echo "$p"
	done
	# shellcheck disable=SC2046
	sb_host_pids $(sb_all_ids | awk '$2 == "terminated" { print $1 }')
}
overlays_host() { grep -c ' - overlay ' /proc/self/mountinfo; }
overlays_daemon() { grep -c ' - overlay ' "/proc/$RB_DAEMON_PID/mountinfo"; }
mounts_daemon() { wc -l <"/proc/$RB_DAEMON_PID/mountinfo"; }
loops() { losetup -a 2>/dev/null | wc -l; }
# snapshot: what must be the same before and after
snapshot() {
	echo "processes-of-ours: $(our_agents | sort -u | tr '\n' ' ')"
	local t
	t=$(sb_all_ids | awk '$2 == "terminated" { print $1 }')
	# shellcheck disable=SC2086
	echo "cgroups-of-terminated: $([ -z "$t" ] || sb_cgroup_dirs $t | tr '\n' ' ')"
	echo "empty-cgroups: $(leaked_cgroups)"
	echo "overlay-mounts-host: $(overlays_host)"
	echo "mounts-daemon: $(mounts_daemon)"
	echo "loop-devices: $(loops)"
}
# settle SNAPSHOT: wait up to 5 s for the state to come back to SNAPSHOT; prints the last one
settle() {
	local s i
	for ((i = 0; i < 50; i++)); do
		s=$(snapshot)
		[ "$s" = "$1" ] && break
		sleep 0.1
	done
	printf '%s' "$s"
}

BASE_EMPTY=$(empty_cgroups | sort)
base=$(snapshot)
base_agents=$(agent_pids | wc -l)

# --- 200 cycles, $PAR at a time ------------------------------------------------------------------------
worker() { # N: cycles N, N+PAR, ...
	local i id st out
	for ((i = $1; i < CYCLES; i += PAR)); do
		out=$(curl -s --max-time 30 --unix-socket "$RUNBOX_SOCKET" -w '\n%{http_code}' -H 'Content-Type: application/json' \
			-d "{\"image\":\"$SB_IMAGE\",\"metadata\":{\"cycle\":\"$i\"}}" http://runbox/api/v1/sandboxes)
		st=${out##*$'\n'}
		id=$(sed -n 's/.*"id":"\(sb_[a-z0-9]*\)".*/\1/p' <<<"${out%$'\n'*}")
		if [ "$st" != 201 ] || [ -z "$id" ]; then echo "create $i: $st $(tr '\n' ' ' <<<"${out%$'\n'*}" | head -c 200)"; continue; fi
		out=$(curl -s --max-time 30 --unix-socket "$RUNBOX_SOCKET" -H 'Content-Type: application/json' \
			-d "{\"command\":\"echo cycle-$i; cat /proc/1/cmdline\"}" "http://runbox/api/v1/sandboxes/$id/exec")
		[[ "$out" == *"\"stdout\":\"cycle-$i\\nrunbox-agent"* ]] || echo "exec $i ($id): $(tr '\n' ' ' <<<"${out:0:200}")"
		st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 --unix-socket "$RUNBOX_SOCKET" -X DELETE "http://runbox/api/v1/sandboxes/$id")
		[[ "$st" == 20? ]] || echo "delete $i ($id): $st"
	done
}
t0=$(now_ms)
wpids=()
for ((w = 0; w < PAR; w++)); do
	worker $w >"$RB_TEST_ROOT/worker.$w" 2>&1 &
	wpids+=($!)
done
wait "${wpids[@]}" # not a bare wait: the daemon is a child too
dt=$(($(now_ms) - t0))
errs=$(cat "$RB_TEST_ROOT"/worker.*)
if [ -z "$errs" ]; then pass "$CYCLES create/exec/terminate cycles, $PAR in parallel: all fine (${dt} ms)"; else
	fail "$CYCLES cycles: $(wc -l <<<"$errs") went wrong, e.g.: $(head -3 <<<"$errs" | tr '\n' ';')"; fi
sapi GET "/api/v1/sandboxes?state=terminated&limit=1"
expect_py "after the cycles: $CYCLES records, all terminated" "$BODY" "d['pagination']['total'] == $CYCLES"
sapi GET "/api/v1/sandboxes?state=running&limit=1"
expect_py "after the cycles: none running" "$BODY" "d['pagination']['total'] == 0"
after=$(settle "$base")
expect_eq "after the cycles: no agent, cgroup, mount or loop device left" "$after" "$base"
check "after the cycles: the host's agent count is back to $base_agents (now $(agent_pids | wc -l); another daemon's sandboxes count too)" \
	test "$(agent_pids | wc -l)" -le "$base_agents"
check "after the cycles: the state dir holds no per-sandbox mount point still mounted" \
	test -z "$(grep -F "$RUNBOX_STATE_DIR" /proc/self/mountinfo "/proc/$RB_DAEMON_PID/mountinfo")"

# --- terminate with busy, orphaned and stuck processes ----------------------------------------------------
if sb_new "busy sandbox"; then
	S=$SB_ID
	inside "$S" '(trap "" HUP; exec sleep 1234) >/dev/null 2>&1 & sh -c "sleep 1235 & sleep 1236 &" ; setsid sleep 1237 >/dev/null 2>&1 < /dev/null &' >/dev/null
	curl -s -o /dev/null --max-time 60 --unix-socket "$RUNBOX_SOCKET" -H 'Content-Type: application/json' \
		-d '{"command":"sleep 1238","timeoutMs":60000}' "http://runbox/api/v1/sandboxes/$S/exec" &
	execpid=$!
	for ((i = 0; i < 30; i++)); do
		n=$(pgrep -f '^sleep 123[4-8]$' | wc -l)
		[ "$n" -ge 5 ] && break
		sleep 0.1
	done
	check "busy sandbox: the host sees its 5 sleeps ($n) and the agent ($(sb_host_pids "$S" | wc -l) processes in its cgroups)" test "$n" = 5
	t0=$(now_ms)
	sapi DELETE "/api/v1/sandboxes/$S"
	wait "$execpid"
	dt=$(($(now_ms) - t0))
	expect_status "busy sandbox: delete 2xx" "20."
	check "busy sandbox: delete and the running exec's answer within 5 s ($dt ms)" test "$dt" -lt 5000
	expect_eq "busy sandbox: no process of it left (orphans, setsid, the running exec)" "$(sb_host_pids "$S")" ""
	expect_eq "busy sandbox: no sleep 123x left on the host" "$(pgrep -f '^sleep 123[4-8]$' | wc -l)" 0
	expect_eq "busy sandbox: its cgroups are gone" "$(sb_cgroup_dirs "$S")" ""
fi
if sb_new "frozen-ish sandbox (stopped processes)"; then
	S=$SB_ID
	inside "$S" 'sleep 999 & kill -STOP $!; sh -c "trap \"\" TERM; sleep 998" >/dev/null 2>&1 &' >/dev/null
	sapi DELETE "/api/v1/sandboxes/$S"
	sleep 0.2
	expect_eq "stopped and TERM-ignoring processes are killed by terminate" "$(sb_host_pids "$S")" ""
fi

# --- failed creates leave nothing ------------------------------------------------------------------------
files_state() { (cd "$RUNBOX_STATE_DIR" && find . -path ./images -prune -o -print | grep -v -E '\.db(-wal|-shm|-journal)?$' | sort); }
sapi GET "/api/v1/sandboxes?limit=1"
total0=$(jf 'd["pagination"]["total"]')
bad() { # NAME WANT-STATUS WANT-CODE JSON
	local s0 f0 s1 f1
	s0=$(snapshot)
	f0=$(files_state)
	sapi POST /api/v1/sandboxes "$4"
	expect_err "failed create ($1): $2 $3" "$2" "$3"
	s1=$(settle "$s0")
	f1=$(files_state)
	expect_eq "failed create ($1): no agent, cgroup, mount or loop device left" "$s1" "$s0"
	expect_eq "failed create ($1): nothing new in the state dir" "$(diff <(echo "$f0") <(echo "$f1") | grep '^[<>]')" ""
}
bad "unknown image" "4.." "INVALID_CONFIG|INVALID_REQUEST|IMAGE_NOT_FOUND|NOT_FOUND" "$(j image=no/such-image:latest)"
bad "memoryMb 1" 400 INVALID_CONFIG "$(j image="$SB_IMAGE" resources.memoryMb:=1)"
bad "diskMb -5" 400 INVALID_CONFIG "$(j image="$SB_IMAGE" resources.diskMb:=-5)"
bad "cpu 1000" 400 INVALID_CONFIG "$(j image="$SB_IMAGE" resources.cpu:=1000)"
bad "malformed JSON" 400 INVALID_REQUEST '{"image":'
bad "workdir through a file (/bin/sh/x)" "4..|5.." "INVALID_CONFIG|INVALID_REQUEST|INTERNAL_ERROR" "$(j image="$SB_IMAGE" workdir=/bin/sh/x)"
bad "env key with =" "400" "INVALID_CONFIG|INVALID_REQUEST" "$(j image="$SB_IMAGE" env:='{"A=B":"c"}')"
sapi GET "/api/v1/sandboxes?limit=1"
expect_eq "failed creates leave no record in the list" "$(jf 'd["pagination"]["total"]')" "$total0"

# --- all sandboxes terminated: back to the start --------------------------------------------------------
expect_eq "at the end: no agent, cgroup, mount or loop device left" "$(settle "$base")" "$base"
sb_check_request_ids
