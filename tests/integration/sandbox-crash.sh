#!/usr/bin/env bash
# kill -9 of the daemon in the middle of creates, terminates, pauses and execs (issue 4), at
# different moments: a burst of concurrent requests, then kill -9 after 0, 1, 2, 3, 5, 8, 13...
# ms (and a random bit). After each restart on the same state directory: every record is live
# (running or paused, and exec works) or terminated (user or lost); no cgroup, agent, mount or
# image hold is left without a live sandbox. At the end everything is terminated and nothing
# is left at all.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup
ROUNDS=${CRASH_ROUNDS:-14}
DELAYS=(0 1 2 3 5 8 13 21 34 55)
POOL=5
IMAGES_DB=$RUNBOX_STATE_DIR/images/images.db
REG=$RB_TEST_ROOT/registry
BASE_CG=$(sb_cgroup_dirs)
BASE_AGENTS=$(agent_pids)

# every record: "id state reason"
reg_dump() {
	local off=0 out
	: >"$REG"
	while :; do
		out=$(curl -s --max-time 30 --unix-socket "$RUNBOX_SOCKET" "http://runbox/api/v1/sandboxes?limit=100&offset=$off") || return 0
		printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for s in d.get("data", []):
    print(s["id"], s.get("state"), s.get("terminationReason") or "-")
sys.exit(0 if d.get("pagination", {}).get("hasMore") else 3)
' >>"$REG" 2>/dev/null
		[ $? = 0 ] || break
		off=$((off + 100))
	done
}
reg_state() { awk -v i="$1" '$1 == i { print $2 }' "$REG"; }
live_ids() { awk '$2 == "running" || $2 == "paused" { print $1 }' "$REG"; }

# other runbox daemons on this host share our parent cgroup: their sandboxes are none of ours
others() {
	local p c
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = "$RB_DAEMON_PID" ] && continue
		c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
		[[ "$c" == *runbox\ serve* ]] && [[ "$c" != *" $RUNBOX_STATE_DIR "* ]] && echo "${p#/proc/}"
	done
	return 0
}
# copies of our daemon other than itself: a create's child cloned from it that never became an
# agent (it waits for a root that will never come)
clones() {
	local p c
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = "$RB_DAEMON_PID" ] && continue
		c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
		[[ "$c" == *runbox\ serve*" $RUNBOX_STATE_DIR "* ]] && [ "$(awk '{ print $3 }' "$p/stat" 2>/dev/null)" != Z ] && echo "${p#/proc/}"
	done
	return 0
}

# the sandbox id of a process from its cgroup ("" when in none)
sb_of() { grep -o 'runbox-sb_[a-z0-9]*' "/proc/$1/cgroup" 2>/dev/null | head -1 | sed 's/^runbox-//'; }

# what is wrong now, one line each (nothing: all is well)
problems() {
	local id st reason p d alone
	alone=$([ -z "$(others)" ] && echo yes)
	reg_dump
	while read -r id st reason; do
		[ -n "$id" ] || continue
		case $st in
		running)
			sx "$id" 'echo ok'
			[ "$OUT" = "ok
" ] || echo "$id running, but exec: HTTP $STATUS ${BODY:0:200}"
			;;
		paused)
			sapi POST "/api/v1/sandboxes/$id/resume" ''
			[ "$STATUS" = 200 ] || echo "$id paused, but resume: HTTP $STATUS ${BODY:0:200}"
			sx "$id" 'echo ok'
			[ "$OUT" = "ok
" ] || echo "$id resumed, but exec: HTTP $STATUS ${BODY:0:200}"
			;;
		terminated)
			[[ "$reason" =~ ^(user|lost)$ ]] || echo "$id terminated for '$reason'"
			;;
		*) echo "$id is $st" ;;
		esac
		if [ "$st" = running ] || [ "$st" = paused ]; then
			[ -n "$(sb_cgroup_dirs "$id")" ] || echo "$id $st without a cgroup"
		fi
	done <"$REG"
	reg_dump # the resumes above
	# cgroups: ours only for live records
	for d in $(comm -13 <(echo "$BASE_CG") <(sb_cgroup_dirs)); do
		id=${d##*/runbox-}
		st=$(reg_state "$id")
		if [ -n "$st" ]; then
			[ "$st" = running ] || [ "$st" = paused ] || echo "cgroup $d of a $st sandbox"
		elif [ -n "$alone" ]; then
			echo "cgroup $d with no record"
		fi
	done
	# agents: each in the cgroup of a live sandbox
	for p in $(comm -13 <(echo "$BASE_AGENTS" | sort) <(agent_pids | sort)); do
		[ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" = Z ] && continue
		id=$(sb_of "$p")
		st=$([ -n "$id" ] && reg_state "$id")
		if [ -n "$st" ]; then
			[ "$st" = running ] || [ "$st" = paused ] || echo "agent $p of a $st sandbox $id"
		elif [ -n "$alone" ]; then
			echo "agent $p in ${id:-no sandbox cgroup} with no record"
		fi
	done
	for p in $(clones); do echo "a copy of the daemon, pid $p, in ${p:+$(sb_of "$p")}, left waiting"; done
	# mounts: the roots are detached; nothing under the state directory is mounted
	grep -F " $RUNBOX_STATE_DIR/" /proc/self/mountinfo | sed 's/^/host mount: /'
	grep -F " $RUNBOX_STATE_DIR/" "/proc/$RB_DAEMON_PID/mountinfo" 2>/dev/null | sed 's/^/daemon mount: /'
	# image holds: exactly the live sandboxes
	if command -v sqlite3 >/dev/null; then
		local held
		held=$(sqlite3 -readonly "$IMAGES_DB" 'SELECT holder FROM holders' 2>&1 | sort)
		[ "$held" = "$(live_ids | sort)" ] || echo "image holders [$(echo $held)] are not the live sandboxes [$(echo $(live_ids | sort))]"
	fi
	sapi GET "/api/v1/images/$(urlenc "$SB_IMAGE")"
	[ "$(jf 'd.get("inUse")')" = "$(live_ids | wc -l)" ] || echo "image inUse $(jf 'd.get("inUse")'), live sandboxes $(live_ids | wc -l)"
	return 0
}

# a burst: creates, terminates, a pause and execs, all at once, in the background
burst() {
	local ids=("$@") i c="curl -s -o /dev/null --max-time 20 --unix-socket $RUNBOX_SOCKET -H Content-Type:application/json"
	for ((i = 0; i < 3; i++)); do
		$c -X POST --data-binary "{\"image\":\"$SB_IMAGE\"}" http://runbox/api/v1/sandboxes &
	done
	$c -X DELETE "http://runbox/api/v1/sandboxes/${ids[0]}" &
	$c -X DELETE "http://runbox/api/v1/sandboxes/${ids[1]}" &
	$c -X POST "http://runbox/api/v1/sandboxes/${ids[2]}/pause" &
	$c -X POST --data-binary '{"command":"echo a; sleep 0.01; echo b"}' "http://runbox/api/v1/sandboxes/${ids[3]}/exec" &
	$c -X POST --data-binary '{"command":"head -c 100000 /dev/zero | wc -c"}' "http://runbox/api/v1/sandboxes/${ids[4]}/exec" &
	$c -X POST --data-binary '{"command":"echo c >/workspace/f"}' "http://runbox/api/v1/sandboxes/${ids[4]}/exec" &
}

# whatever happens, no copy of our daemon outlives the suite (found by cmdline, never by an old pid)
kill_strays() {
	local p
	for p in $(clones); do kill -9 "$p" 2>/dev/null; done
	return 0
}
rb_on_exit kill_strays
if ! command -v sqlite3 >/dev/null; then
	skip "sqlite3 is not installed: image holders are checked through inUse only"
fi
for ((round = 1; round <= ROUNDS; round++)); do
	# a pool of running sandboxes to act on
	reg_dump
	n=$(awk '$2 == "running"' "$REG" | wc -l)
	for ((k = n; k < POOL; k++)); do sb_create; done
	reg_dump
	mapfile -t pool < <(awk '$2 == "running" { print $1 }' "$REG" | head -$POOL)
	if [ ${#pool[@]} -lt $POOL ]; then
		fail "round $round: a pool of $POOL running sandboxes (have ${#pool[@]}: $BODY)"
		break
	fi
	delay=$((DELAYS[(round - 1) % ${#DELAYS[@]}] + (round > ${#DELAYS[@]} ? RANDOM % 40 : 0)))
	burst "${pool[@]}"
	[ "$delay" = 0 ] || sleep "$(printf '0.%03d' "$delay")"
	kill -9 "$RB_DAEMON_PID"
	wait "$RB_DAEMON_PID" 2>/dev/null
	RB_DAEMON_PID=""
	wait # the burst's requests end with the daemon
	if ! rb_daemon_start; then
		fail "round $round: the daemon starts again after kill -9 at $delay ms"
		exit 1
	fi
	got=$(problems)
	if [ -z "$got" ]; then
		pass "round $round, kill -9 $delay ms into the burst: every record live and usable or terminated; no cgroup, agent, mount or image hold left over ($(live_ids | wc -l) live, $(grep -c terminated "$REG") terminated)"
	else
		fail "round $round, kill -9 $delay ms into the burst: $(head -20 <<<"$got" | tr '\n' ';')"
	fi
done

# everything ends; nothing is left
reg_dump
for id in $(live_ids); do sapi DELETE "/api/v1/sandboxes/$id"; done
sleep 0.2
got=$(problems)
reg_dump
expect_eq "at the end: no sandbox is live" "$(live_ids | wc -l)" 0
expect_eq "at the end: nothing is left over" "$got" ""
left=$(comm -13 <(echo "$BASE_CG") <(sb_cgroup_dirs) | while read -r d; do [ -n "$(reg_state "${d##*/runbox-}")" ] && echo "$d"; done)
expect_eq "at the end: no cgroup of any of this daemon's sandboxes" "$left" ""
exit 0
