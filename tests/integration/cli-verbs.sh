#!/usr/bin/env bash
# The sandbox verbs of the CLI (issue 3): run, create, exec, ps, inspect, rm, cp, files. Exit
# codes are the point: the command's own for run and exec, 124 for a timeout, 128+N for a
# signal, 1 for an API error, 2 for usage, 125 with no daemon. Outputs are checked as a user
# would see them; copies are compared by sha256.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
IMG=runbox/default:latest
T=$RB_TEST_ROOT

if ! rb_daemon_start; then
	fail "daemon starts"
	exit 1
fi
# an agent outlives its daemon: terminate what we made before the daemon goes
rb_on_exit 'for id in $("$RUNBOX" ps -q); do "$RUNBOX" rm -f "$id" >/dev/null; done'

# rb NAME RC CMD...: the runbox command CMD must exit RC; its output is left in OUT and ERR.
rb() {
	local name=$1 want=$2
	shift 2
	"$RUNBOX" "$@" >"$T/out" 2>"$T/err" </dev/null
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	if [ "$RC" = "$want" ]; then pass "$name"; else fail "$name: exit $RC, not $want (stderr: ${ERR:0:300})"; fi
}

# --- run ----------------------------------------------------------------------------------------
rb "run: the command's exit code is ours" 7 run --rm $IMG sh -c 'exit 7'
rb "run: output on stdout and stderr" 0 run --rm $IMG sh -c 'echo to-out; echo to-err >&2'
expect_eq "run: stdout as printed" "$OUT" "to-out"
expect_eq "run: stderr as printed, nothing else" "$ERR" "to-err"
rb "run: argv form, no shell" 0 run --rm $IMG echo 'a  b;$HOME'
expect_eq "run: argument kept whole" "$OUT" 'a  b;$HOME'
rb "run: -e" 0 run --rm -e FOO=bar -e EMPTY= $IMG sh -c 'echo "$FOO|$EMPTY|${EMPTY+set}"'
expect_eq "run: -e values" "$OUT" "bar||set"
rb "run: -w" 0 run --rm -w /tmp $IMG pwd
expect_eq "run: -w is the working directory" "$OUT" "/tmp"
out=$(printf 'line one\nline two\n' | "$RUNBOX" run --rm -i $IMG sh -c 'cat; echo done')
expect_eq "run -i: stdin reaches the command" "$out" $'line one\nline two\ndone'
rb "run: --timeout exits 124" 124 run --rm --timeout 300 $IMG sleep 10
expect_contains "run: --timeout says why" "$ERR" "EXECUTION_TIMEOUT"
rb "run: a command killed by SIGKILL exits 137" 137 run --rm $IMG sh -c 'kill -9 $$'
rb "run: a missing command exits 127" 127 run --rm $IMG /no/such/cmd
rb "run: without CMD, the image's cmd (/bin/sh) reads no input" 0 run --rm $IMG
rb "run: --json prints the result" 3 run --rm --json $IMG sh -c 'echo hi; exit 3'
expect_eq "run --json: stdout and exitCode" \
	"$(printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["stdout"].strip(), d["exitCode"])')" "hi 3"
rb "run: without --rm the sandbox is left running" 0 run --label case=keep $IMG true
expect_contains "run: ... and says so on stderr" "$ERR" "left running"
kept=$("$RUNBOX" ps -q --filter label=case=keep)
expect_contains "run: ... and ps shows it" "$ERR" "${kept:-<no sandbox listed>}"
[ -n "$kept" ] && "$RUNBOX" rm -f "$kept" >/dev/null
rb "run --rm: the sandbox is gone afterwards" 0 run --rm --label case=rm $IMG true
expect_eq "run --rm: terminated" "$("$RUNBOX" ps -a --filter label=case=rm --json |
	python3 -c 'import json,sys; print([s["state"] for s in json.load(sys.stdin)])')" "['terminated']"
expect_eq "run --rm: prints nothing of its own" "$ERR" ""

"$RUNBOX" run --rm --label case=sigint $IMG sleep 60 >/dev/null 2>&1 &
pid=$!
for ((i = 0; i < 100; i++)); do
	[ -n "$("$RUNBOX" ps -q --filter label=case=sigint)" ] && break
	sleep 0.05
done
sleep 0.3
kill -INT $pid
wait $pid
expect_eq "run --rm: SIGINT exits 130" "$?" 130
expect_eq "run --rm: SIGINT terminates the sandbox" "$("$RUNBOX" ps -a --filter label=case=sigint --json |
	python3 -c 'import json,sys; print([s["state"] for s in json.load(sys.stdin)])')" "['terminated']"

# --- create, exec, ps, inspect, rm ---------------------------------------------------------------
rb "create: prints the id" 0 create --label case=life --label tier=a --memory 256 --cpus 0.5 -e X=1 $IMG
ID=$OUT
check "create: an sb_ id" grep -qE '^sb_[a-z0-9]{10}$' <<<"$ID"
rb "exec: the command's exit code" 4 exec "$ID" sh -c 'echo $X; exit 4'
expect_eq "exec: output, and the sandbox's env" "$OUT" "1"
rb "exec: -e -w -u" 0 exec -e Y=2 -w /tmp -u 1000 "$ID" sh -c 'echo "$Y $(pwd) $(id -u)"'
expect_eq "exec: -e -w -u apply" "$OUT" "2 /tmp 1000"
rb "exec: the command's own flags stay its own" 0 exec "$ID" ls -d /tmp
expect_eq "exec: ls -d ran" "$OUT" "/tmp"
out=$(echo piped | "$RUNBOX" exec -i "$ID" cat)
expect_eq "exec -i: stdin" "$out" "piped"
rb "exec: --timeout exits 124" 124 exec --timeout 200 "$ID" sleep 5
rb "ps: lists it" 0 ps
expect_contains "ps: header" "$OUT" "SANDBOX ID"
expect_contains "ps: the row" "$(grep "$ID" <<<"$OUT")" "running"
expect_contains "ps: labels" "$(grep "$ID" <<<"$OUT")" "case=life"
expect_contains "ps: created, relative" "$(grep "$ID" <<<"$OUT")" "ago"
rb "ps -q --filter label" 0 ps -q --filter label=case=life
expect_eq "ps -q --filter label: only it" "$OUT" "$ID"
rb "ps --filter state=terminated" 0 ps -q --filter state=terminated
check "ps --filter state=terminated: not the running one" bash -c "! grep -q $ID <<<'$OUT'"
rb "ps --json" 0 ps --json --filter label=tier=a
expect_eq "ps --json: the sandbox" "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin)])')" "['$ID']"
rb "inspect" 0 inspect "$ID"
expect_eq "inspect: an array with its config" "$(printf '%s' "$OUT" | python3 -c '
import json,sys; d=json.load(sys.stdin)[0]; print(d["id"], d["state"], d["resources"]["memoryMb"], d["resources"]["cpu"], d["metadata"]["case"], d["env"]["X"])')" \
	"$ID running 256 0.5 life 1"
rb "rm: refuses a running sandbox" 1 rm "$ID"
expect_contains "rm: says how" "$ERR" "rm -f"
rb "rm -f: terminates it" 0 rm -f "$ID"
expect_eq "rm -f: prints the id" "$OUT" "$ID"
expect_eq "rm -f: terminated" "$("$RUNBOX" inspect "$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])')" "terminated"
rb "rm: a terminated one is confirmed" 0 rm "$ID"
rb "ps: terminated is hidden without -a" 0 ps -q
check "ps: ... hidden" bash -c "! grep -q $ID <<<'$OUT'"
rb "ps -a: ... shown" 0 ps -a -q
expect_contains "ps -a: it is there" "$OUT" "$ID"
rb "exec: into a terminated sandbox is an API error" 1 exec "$ID" true

# --- cp and files ------------------------------------------------------------------------------
rb "create for files" 0 create $IMG
F=$OUT
head -c 3000000 /dev/urandom >"$T/bin.dat"
sum=$(sha256sum <"$T/bin.dat" | cut -d' ' -f1)
rb "cp: host to sandbox" 0 cp "$T/bin.dat" "$F:/workspace/in.dat"
rb "cp: ... sha256 inside" 0 exec "$F" sha256sum /workspace/in.dat
expect_eq "cp: host to sandbox, same bytes" "${OUT%% *}" "$sum"
rb "cp: into a sandbox directory keeps the name" 0 cp "$T/bin.dat" "$F:/tmp"
rb "cp: ... /tmp/bin.dat" 0 exec "$F" sha256sum /tmp/bin.dat
expect_eq "cp: into a directory, same bytes" "${OUT%% *}" "$sum"
rb "cp: sandbox to host" 0 cp "$F:/workspace/in.dat" "$T/back.dat"
expect_eq "cp: sandbox to host, same bytes" "$(sha256sum <"$T/back.dat" | cut -d' ' -f1)" "$sum"
mkdir "$T/dir"
rb "cp: sandbox to a host directory" 0 cp "$F:/tmp/bin.dat" "$T/dir"
expect_eq "cp: ... keeps the name, same bytes" "$(sha256sum <"$T/dir/bin.dat" | cut -d' ' -f1)" "$sum"
rb "cp: a sandbox directory is refused" 1 cp "$F:/bin" "$T/dir"
expect_contains "cp: ... not supported yet" "$ERR" "not supported yet"
rb "cp: a host directory is refused" 1 cp "$T/dir" "$F:/tmp"
expect_contains "cp: ... not supported yet" "$ERR" "not supported yet"
rb "cp: a missing sandbox file" 1 cp "$F:/nope" "$T/nope"
check "cp: ... leaves no host file" test ! -e "$T/nope"
check "cp: ... and no temporary file" bash -c "! ls -A '$T' | grep -q runbox-cp"
rb "cp: neither side a sandbox is usage" 2 cp "$T/a" "$T/b"

rb "files mkdir -p" 0 files mkdir -p "$F" /workspace/d/e
out=$(printf 'some text\n' | "$RUNBOX" files write "$F" /workspace/d/e/t.txt; echo "rc=$?")
expect_eq "files write: from stdin" "$out" "rc=0"
rb "files write: from a file, relative to the workdir" 0 files write "$F" d/b.dat "$T/bin.dat"
rb "files cat: text" 0 files cat "$F" /workspace/d/e/t.txt
expect_eq "files cat: the text" "$OUT" "some text"
expect_eq "files cat: binary, same bytes" \
	"$("$RUNBOX" files cat "$F" /workspace/d/b.dat | sha256sum | cut -d' ' -f1)" "$sum"
rb "files ls" 0 files ls "$F" /workspace/d
expect_contains "files ls: the directory" "$OUT" "e/"
expect_contains "files ls: the file and its size" "$(grep b.dat <<<"$OUT")" "3000000"
rb "files ls --json" 0 files ls --json "$F" d
expect_eq "files ls --json: names" "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(sorted(e["name"] for e in json.load(sys.stdin)))')" "['b.dat', 'e']"
rb "files rm: a non-empty directory without -r" 1 files rm "$F" /workspace/d
rb "files rm -r" 0 files rm -r "$F" /workspace/d
rb "files ls: gone" 1 files ls "$F" /workspace/d
rb "files cat: a missing file" 1 files cat "$F" /nope
rb "files: an unknown sub-command is usage" 2 files frob "$F"
"$RUNBOX" rm -f "$F" >/dev/null

# --- errors ------------------------------------------------------------------------------------
rb "run: an unknown image is an API error" 1 run --rm nosuch/image:latest true
expect_contains "run: ... with a message" "$ERR" "not found"
rb "create: an unknown image" 1 create nosuch/image:latest
rb "exec: an unknown id" 1 exec sb_nosuchbox0 true
expect_contains "exec: ... SANDBOX_NOT_FOUND" "$ERR" "SANDBOX_NOT_FOUND"
rb "inspect: an unknown id" 1 inspect sb_nosuchbox0
rb "rm: an unknown id" 1 rm -f sb_nosuchbox0
rb "files ls: an unknown id" 1 files ls sb_nosuchbox0 /
rb "run: no image is usage" 2 run
rb "run: an unknown flag is usage" 2 run --frob $IMG true
rb "exec: no command is usage" 2 exec sb_x
rb "create: a relative -w is usage" 2 create -w tmp $IMG
rb "run: a bad --timeout is usage" 2 run --timeout 0 $IMG true
rb "ps: a bad filter is usage" 2 ps --filter colour=red
RUNBOX_SOCKET=$T/none/s.sock RUNBOX_STATE_DIR=/proc/runbox-nonexistent \
	rb "run: no daemon, none startable: 125" 125 run --rm $IMG true
