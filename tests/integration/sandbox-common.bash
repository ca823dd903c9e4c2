# Helpers for the sandbox suites (tests/integration/sandbox*.sh, tests/security/sandbox*.sh),
# sourced after tests/lib.sh and images-common.bash (pyj, expect_py, urlenc, cli). Not a suite.
# Every answer's X-Request-Id is recorded; sb_check_request_ids reports the ones that lacked it.
# On exit every sandbox the private daemon knows is terminated before the daemon stops, since an
# agent outlives its daemon; an agent of ours that survives that is reported and killed by pid.

# the system's python when there is one: a version manager's shim costs ~0.2 s a call
[ -x /usr/bin/python3 ] && python3() { /usr/bin/python3 "$@"; }
export SB_IMAGE=${SB_IMAGE:-runbox/default:latest}
SB_NORID=$RB_TEST_ROOT/answers-without-request-id
SB_ANSWERS=$RB_TEST_ROOT/answers
: >"$SB_NORID"
: >"$SB_ANSWERS"

sb_setup() {
	if ! rb_daemon_start "$@"; then
		fail "daemon starts"
		exit 1
	fi
	rb_on_exit sb_terminate_all
	api_call POST /api/v1/sandboxes '{}'
	if [ "$STATUS" = 404 ] && [[ "$BODY" != *INVALID* ]]; then
		skip "the sandbox API is not there yet (POST /api/v1/sandboxes is 404: $BODY)"
		exit 0
	fi
}

# j KEY=STRING KEY:=JSON KEY@=FILE ...: a JSON object (httpie's notation; KEY@=FILE takes the
# string from FILE). KEY may be a.b for nesting.
j() {
	python3 -c '
import json, sys
o = {}
for a in sys.argv[1:]:
    if ":=" in a and a.index(":=") < a.index("="):
        k, v = a.split(":=", 1)
        v = json.loads(v)
    elif "@=" in a and a.index("@=") < a.index("="):
        k, v = a.split("@=", 1)
        v = open(v, encoding="utf-8").read()
    else:
        k, v = a.split("=", 1)
    t = o
    ks = k.split(".")
    for x in ks[:-1]:
        t = t.setdefault(x, {})
    t[ks[-1]] = v
print(json.dumps(o))
' "$@"
}

# sapi METHOD PATH [BODY|@FILE|""] [curl args...]: sets STATUS, BODY (also in SB_BODY_FILE), RID
# (the X-Request-Id header) and SB_HDRS. Bodies go through a file, so they may be any size.
sapi() {
	local m=$1 p=$2
	shift 2
	local t=$RB_TEST_ROOT/sapi.$BASHPID
	local args=(-s --unix-socket "$RUNBOX_SOCKET" -X "$m" -D "$t.hdr" -o "$t.body" -w '%{http_code}'
		--max-time "${SAPI_MAX_TIME:-120}")
	if [ $# -ge 1 ]; then
		if [ -z "$1" ]; then
			:
		elif [[ $1 == @* ]]; then
			args+=(-H 'Content-Type: application/json' --data-binary "$1")
		else
			printf '%s' "$1" >"$t.req"
			args+=(-H 'Content-Type: application/json' --data-binary "@$t.req")
		fi
		shift
	fi
	: >"$t.hdr"
	: >"$t.body"
	STATUS=$(curl "${args[@]}" "$@" "http://runbox$p")
	SB_BODY_FILE=$t.body
	SB_HDRS=$(tr -d '\r' <"$t.hdr")
	RID=$(sed -n 's/^[Xx]-[Rr]equest-[Ii]d: *//p' <<<"$SB_HDRS" | tail -1)
	if [ "$(stat -c %s "$t.body")" -lt 4000000 ]; then BODY=$(cat "$t.body"); else BODY="<large: $SB_BODY_FILE>"; fi
	echo "$m $p $STATUS" >>"$SB_ANSWERS"
	[ -n "$RID" ] || echo "$m $p -> $STATUS" >>"$SB_NORID"
	return 0
}

# jf EXPR: pyj over BODY.
jf() { printf '%s' "$BODY" | pyj "$1"; }

# sb_create [JSON]: POST /api/v1/sandboxes (default: the default image); sets SB_ID ("" on failure).
sb_create() {
	sapi POST /api/v1/sandboxes "${1:-$(j image="$SB_IMAGE")}"
	SB_ID=""
	if [ "$STATUS" = 201 ]; then SB_ID=$(jf 'd.get("id") or ""'); fi
}

# sb_new NAME [JSON]: sb_create that must work; a FAIL line names the case otherwise.
sb_new() {
	sb_create "${2:-}"
	if [ -z "$SB_ID" ]; then
		fail "$1: create: HTTP $STATUS ${BODY:0:400}"
		return 1
	fi
}

# sx ID COMMAND [KEY=V KEY:=JSON ...]: exec; sets STATUS, BODY, OUT, ERR, EC (exitCode or "").
sx() {
	local id=$1 cmd=$2
	shift 2
	sapi POST "/api/v1/sandboxes/$id/exec" "$(j command="$cmd" "$@")"
	sx_fields
}
# sxa ID JSON-ARGV [KEY=V ...]: exec of an argv array, no shell.
sxa() {
	local id=$1 argv=$2
	shift 2
	sapi POST "/api/v1/sandboxes/$id/exec" "$(j argv:="$argv" "$@")"
	sx_fields
}
sx_fields() {
	OUT="" ERR="" EC=""
	[ "$STATUS" = 200 ] || return 0
	local t=$RB_TEST_ROOT/sx.$BASHPID
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ec = d.get("exitCode")
for n, v in (("out", d.get("stdout") or ""), ("err", d.get("stderr") or ""), ("ec", "" if ec is None else str(ec))):
    with open(sys.argv[2] + "." + n, "w") as f:
        f.write(v + "x")
' "$SB_BODY_FILE" "$t" 2>/dev/null || return 0
	OUT=$(<"$t.out") ERR=$(<"$t.err") EC=$(<"$t.ec")
	OUT=${OUT%x} ERR=${ERR%x} EC=${EC%x}
}

# inside ID COMMAND: prints the command's stdout (exec must answer 200), for checks from inside.
inside() {
	sx "$1" "$2"
	if [ "$STATUS" != 200 ]; then
		echo "<exec failed: HTTP $STATUS ${BODY:0:300}>"
		return 1
	fi
	printf '%s' "$OUT"
}

# expect_err NAME HTTP-STATUS CODE: the last answer is that error, in the API's shape, whose
# requestId is the X-Request-Id header. STATUS may be a regex (4..).
expect_err() {
	local name=$1 want_status=$2 want_code=$3 got
	got=$(printf '%s' "$BODY" | RID="$RID" pyj '(lambda e: "%s|%s|%s|%s" % (e.get("code"), bool(e.get("message")), isinstance(e.get("retryable"), bool), e.get("requestId") == E["RID"] and E["RID"] != ""))(d.get("error") or {})' 2>&1)
	if [[ "$STATUS" =~ ^($want_status)$ ]] && [[ "$got" =~ ^($want_code)\|True\|True\|True$ ]]; then
		pass "$name"
	else
		fail "$name: want HTTP $want_status $want_code with message, retryable and requestId (= X-Request-Id '$RID'); got HTTP $STATUS [$got] ${BODY:0:400}"
	fi
}

# expect_status NAME REGEX
expect_status() {
	if [[ "$STATUS" =~ ^($2)$ ]]; then pass "$1"; else fail "$1: HTTP $STATUS (want $2): ${BODY:0:400}"; fi
}

sb_check_request_ids() {
	local n
	n=$(wc -l <"$SB_ANSWERS")
	if [ -s "$SB_NORID" ]; then
		fail "every answer carries X-Request-Id: $(wc -l <"$SB_NORID") of $n did not, e.g. $(head -3 "$SB_NORID" | tr '\n' ';')"
	else
		pass "every answer carries X-Request-Id ($n answers)"
	fi
}

# Every sandbox id the daemon knows (any state), one a line.
sb_all_ids() {
	local off=0 out
	while :; do
		out=$(curl -s --max-time 30 --unix-socket "$RUNBOX_SOCKET" "http://runbox/api/v1/sandboxes?limit=100&offset=$off") || return 0
		printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for s in d.get("data", []):
    print(s["id"], s.get("state"))
sys.exit(0 if d.get("pagination", {}).get("hasMore") else 3)
' 2>/dev/null
		[ $? = 0 ] || break
		off=$((off + 100))
		[ $off -lt 100000 ] || break
	done
}

# host pids of the processes in the cgroups of these sandboxes (their agents and commands)
sb_host_pids() {
	local id pat=""
	for id in "$@"; do pat+="${pat:+|}runbox-$id([/:]|\$)"; done
	[ -n "$pat" ] || return 0
	grep -lE "$pat" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | sort -n
}
# the agents' pids (cmdline exactly runbox-agent)
agent_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")" = "runbox-agent " ] && echo "${p#/proc/}"
	done
	return 0
}
sb_cgroup_dirs() { # [ID...]: cgroup directories of these sandboxes (default: of any sandbox)
	local names=() id
	if [ $# -eq 0 ]; then names=(-name 'runbox-sb_*'); else
		names=(-false)
		for id in "$@"; do names+=(-o -name "runbox-$id"); done
	fi
	find /sys/fs/cgroup -maxdepth 12 -type d \( "${names[@]}" \) 2>/dev/null | sort
}
# the cgroup directory of sandbox ID in the hierarchy whose path contains CTRL (memory, pids, cpu,)
sb_cgroup_dir() {
	sb_cgroup_dirs "$1" | grep -E "/sys/fs/cgroup/[^/]*$2[^/]*/" | head -1
}

sb_terminate_all() {
	[ -n "$RB_DAEMON_PID" ] || return 0
	local ids id st
	ids=$(sb_all_ids)
	while read -r id st; do
		[ -n "$id" ] || continue
		[ "$st" = terminated ] || curl -s -o /dev/null --max-time 30 --unix-socket "$RUNBOX_SOCKET" -X DELETE "http://runbox/api/v1/sandboxes/$id"
	done <<<"$ids"
	# anything of ours left? (give the kernel a moment to reap)
	local left i
	# shellcheck disable=SC2046
	for ((i = 0; i < 20; i++)); do
		left=$(sb_host_pids $(cut -d' ' -f1 <<<"$ids"))
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		echo "FAIL: cleanup: processes of this suite's sandboxes survive DELETE: $(echo $left); killing them"
		# shellcheck disable=SC2086
		kill -9 $left 2>/dev/null
	fi
}

# daemon memory (kB) from /proc/PID/status: VmRSS and VmHWM
daemon_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$RB_DAEMON_PID/status" 2>/dev/null; }

now_ms() { date +%s%3N; }

# rbx OUTVAR ARGS...: runbox with stdout only into OUTVAR, stderr into ERRO, status into RC
rbx() {
	local __v=$1 __o
	shift
	__o=$("$RUNBOX" "$@" 2>"$RB_TEST_ROOT/cli.err")
	RC=$?
	ERRO=$(cat "$RB_TEST_ROOT/cli.err")
	printf -v "$__v" '%s' "$__o"
}
