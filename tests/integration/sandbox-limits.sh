#!/usr/bin/env bash
# Resource limits of sandboxes (issue 3): memory (an OOM kill stays inside), pids (a fork bomb
# stays inside), disk (ENOSPC inside, the host unaffected), cpu (a fractional quota). Each is
# measured from inside the sandbox; the host's view (cgroup files) is checked beside it.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup
CLK_TCK=$(getconf CLK_TCK)

# --- memory ---------------------------------------------------------------------------------------
if sb_new "memory 64 MB" "$(j image="$SB_IMAGE" resources.memoryMb:=64)"; then
	M=$SB_ID
	d=$(sb_cgroup_dir "$M" memory)
	lim=$(cat "$d/memory.limit_in_bytes" "$d/memory.max" 2>/dev/null | head -1)
	expect_eq "memory 64 MB: the host's memory cgroup of the sandbox has the limit ($d)" "$lim" 67108864
	sx "$M" 'head -c 30000000 /dev/zero | tail | wc -c'
	expect_eq "memory 64 MB: 30 MB held by tail fits" "${OUT//[[:space:]]/}" 30000000
	t0=$(now_ms)
	sx "$M" 'head -c 200000000 /dev/zero | tail >/dev/null' timeoutMs:=60000
	dt=$(($(now_ms) - t0))
	expect_py "memory 64 MB: holding 200 MB is killed (SIGKILL / 137) within the sandbox (${dt} ms)" "$BODY" \
		'd.get("exitCode") == 137 or d.get("signal") in ("SIGKILL", "KILL", 9, "9")'
	expect_py "memory 64 MB: the exec result reports the OOM kill (oomKilled true)" "$BODY" 'd.get("oomKilled") is True'
	sx "$M" 'head -c 30000000 /dev/zero | tail | wc -c'
	expect_py "memory 64 MB: a command that fits reports oomKilled false" "$BODY" 'd.get("oomKilled") is False'
	sx "$M" 'awk '\''BEGIN { s = "x"; for (i = 0; i < 40; i++) s = s s; print length(s) }'\'
	expect_py "memory 64 MB: awk doubling a string to 1 TB is killed too" "$BODY" \
		'd.get("exitCode") in (137, 2, 1) and "1099511627776" not in d.get("stdout", "")'
	expect_eq "memory 64 MB: the sandbox answers after the OOM kills" "$(inside "$M" 'echo still here')" "still here"
	expect_eq "memory 64 MB: its agent (pid 1) survived" "$(inside "$M" 'cat /proc/1/cmdline | tr "\0" " "')" "runbox-agent "
	check "memory 64 MB: the daemon survived" kill -0 "$RB_DAEMON_PID"
	sapi DELETE "/api/v1/sandboxes/$M"
fi

# --- pids: a fork bomb ------------------------------------------------------------------------------
if sb_new "fork bomb" "$(j image="$SB_IMAGE" resources.memoryMb:=1024)"; then
	F=$SB_ID
	d=$(sb_cgroup_dir "$F" pids)
	pmax=$(cat "$d/pids.max" 2>/dev/null)
	if [[ "$pmax" =~ ^[0-9]+$ ]] && [ "$pmax" -le 65536 ]; then
		pass "fork bomb: the sandbox's pids cgroup has a limit (pids.max $pmax at $d)"
		host_before=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)
		t0=$(now_ms)
		curl -s -o "$RB_TEST_ROOT/bomb.out" --max-time 60 --unix-socket "$RUNBOX_SOCKET" -X POST \
			-H 'Content-Type: application/json' --data-binary '{"command":"bomb() { bomb | bomb & }; bomb; sleep 60","timeoutMs":6000}' \
			"http://runbox/api/v1/sandboxes/$F/exec" &
		bomb_pid=$!
		sleep 3
		peak=$(cat "$d/pids.current" 2>/dev/null || wc -l <"$d/cgroup.procs")
		host_ok=0
		for i in $(seq 20); do /bin/true && host_ok=$((host_ok + 1)); done
		expect_eq "fork bomb: the host can still fork (20 of 20 /bin/true during the bomb)" "$host_ok" 20
		check "fork bomb: the sandbox holds at most pids.max processes ($peak of $pmax)" test "${peak:-999999}" -le "$pmax"
		host_during=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)
		check "fork bomb: host process count grew by at most pids.max ($host_before -> $host_during)" \
			test $((host_during - host_before)) -le $((pmax + 50))
		wait "$bomb_pid"
		expect_contains "fork bomb: the exec ends with EXECUTION_TIMEOUT ($(($(now_ms) - t0)) ms)" "$(cat "$RB_TEST_ROOT/bomb.out")" EXECUTION_TIMEOUT
		alive=""
		for i in $(seq 30); do
			alive=$(inside "$F" 'echo alive; ls -d /proc/[0-9]* | wc -l' 2>/dev/null)
			[[ "$alive" == alive* ]] && break
			sleep 1
		done
		expect_contains "fork bomb: afterwards the sandbox answers" "$alive" alive
		n=""
		for i in $(seq 20); do
			n=$(inside "$F" 'ls -d /proc/[0-9]* | wc -l')
			[ "${n:-99}" -lt 10 ] 2>/dev/null && break
			sleep 0.5
		done
		check "fork bomb: its processes are gone after the timeout (processes inside: $n)" test "${n:-99}" -lt 10 2>/dev/null
	else
		fail "fork bomb: the sandbox's pids cgroup has no limit (pids.max '$pmax' at '$d'); the bomb is not run"
	fi
	sapi DELETE "/api/v1/sandboxes/$F"
fi

# --- disk -------------------------------------------------------------------------------------------
if sb_new "disk 64 MB" "$(j image="$SB_IMAGE" resources.diskMb:=64)"; then
	K=$SB_ID
	host_df0=$(df -k --output=avail "$RUNBOX_STATE_DIR" | tail -1)
	sx "$K" 'dd if=/dev/zero of=/big bs=1M count=100; echo rc=$?; sync; stat -c %s /big' timeoutMs:=60000
	expect_contains "disk 64 MB: dd of 100 MB to / fails with 'No space left' inside" "$ERR" "No space left"
	expect_contains "disk 64 MB: ... dd exits non-zero" "$OUT" "rc=1"
	size=$(printf "%s" "$OUT" | tail -1)
	check "disk 64 MB: the file stopped at <= 64 MB (${size} bytes)" test "${size:-999999999}" -le 67108864
	sx "$K" 'mkdir -p /workspace; echo x > /workspace/more'
	check "disk 64 MB: a further write fails too (exit $EC)" test "${EC:-0}" != 0
	expect_eq "disk 64 MB: after rm, writes work again" "$(inside "$K" 'rm -f /big; echo y > /workspace/more && cat /workspace/more')" y
	sx "$K" 'dd if=/dev/zero of=/workspace/w bs=1M count=100 2>&1; sync' timeoutMs:=60000
	expect_contains "disk 64 MB: /workspace is limited too" "$OUT" "No space left"
	host_df1=$(df -k --output=avail "$RUNBOX_STATE_DIR" | tail -1)
	inside "$K" 'rm -f /workspace/w' >/dev/null
	check "disk 64 MB: the host's free space fell by < 100 MB ($host_df0 -> $host_df1 kB)" test $((host_df0 - host_df1)) -lt 102400
	sapi DELETE "/api/v1/sandboxes/$K"
fi

# --- cpu --------------------------------------------------------------------------------------------
# busy-loop for 2 s inside; the cpu time the loop got (utime + stime of /proc/PID/stat) over 2 s
CPU_PROBE='sh -c "while :; do :; done" & p=$!; sleep 2; awk "{ print \$14 + \$15 }" /proc/$p/stat; kill $p'
cpu_share() { # ID -> percent of one cpu
	local t
	t=$(inside "$1" "$CPU_PROBE")
	t=${t//[[:space:]]/}
	[[ "$t" =~ ^[0-9]+$ ]] || { echo "?($t)"; return; }
	echo $((t * 100 / CLK_TCK / 2))
}
if sb_new "cpu 0.5" "$(j image="$SB_IMAGE" resources.cpu:=0.5)"; then
	P=$SB_ID
	d=$(sb_cgroup_dir "$P" cpu)
	q=$(cat "$d/cpu.cfs_quota_us" 2>/dev/null || cut -d' ' -f1 "$d/cpu.max" 2>/dev/null)
	p=$(cat "$d/cpu.cfs_period_us" 2>/dev/null || cut -d' ' -f2 "$d/cpu.max" 2>/dev/null)
	check "cpu 0.5: the host's cpu cgroup has quota/period = 0.5 ($q/$p at $d)" test "$((${q:-0} * 2))" = "${p:-x}"
	s=$(cpu_share "$P")
	check "cpu 0.5: a busy loop gets <= 60% of a cpu over 2 s (got $s%)" test "${s//[^0-9]/}" -le 60 -a "${s//[^0-9]/}" -ge 30
	sapi DELETE "/api/v1/sandboxes/$P"
fi
if sb_new "cpu 1" "$(j image="$SB_IMAGE" resources.cpu:=1)"; then
	s=$(cpu_share "$SB_ID")
	check "cpu 1 (control): the same loop gets >= 80% of a cpu (got $s%)" test "${s//[^0-9]/}" -ge 80
	sx "$SB_ID" "( $CPU_PROBE ) & ( $CPU_PROBE ) & wait" timeoutMs:=10000
	t=$(awk '{ s += $1 } END { print s }' <<<"$OUT")
	check "cpu 1: two busy loops together get <= 120% of a cpu (got $((${t:-999} * 100 / CLK_TCK / 2))%)" test $((${t:-999} * 100 / CLK_TCK / 2)) -le 120
	sapi DELETE "/api/v1/sandboxes/$SB_ID"
fi
sb_check_request_ids
