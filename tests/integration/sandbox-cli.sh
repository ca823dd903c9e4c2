#!/usr/bin/env bash
# The sandbox CLI (issue 3): run, create, exec, ps, inspect, rm, cp, files; exit codes are the
# command's; what each flag did is checked from inside the sandbox.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup
I=$SB_IMAGE

# ours: sandboxes of this daemon that are not terminated
running_ids() { sb_all_ids | awk '$2 != "terminated" { print $1 }' | sort; }

# --- run ---------------------------------------------------------------------------------------------
before=$(running_ids)
rbx out run --rm "$I" echo hi
expect_eq "run --rm IMAGE echo hi: prints hi, exit 0" "$out|$RC" "hi|0"
rbx out run --rm "$I" sh -c 'exit 7'
expect_eq "run: the exit code is the command's (7)" "$RC" 7
rbx out run --rm "$I" sh -c 'echo o; echo e >&2'
expect_eq "run: stdout and stderr kept apart" "$out|$ERRO" "o|e"
rbx out run --rm -e K=V -e 'S=a b' "$I" sh -c 'printf "%s|%s" "$K" "$S"'
expect_eq "run -e K=V (twice)" "$out" "V|a b"
rbx out run --rm -w /tmp "$I" pwd
expect_eq "run -w /tmp" "$out" /tmp
out=$(printf 'line1\nline2\n' | "$RUNBOX" run --rm -i "$I" wc -l)
expect_eq "run -i: our stdin goes to the command" "${out//[[:space:]]/}" 2
t0=$(now_ms)
rbx out run --rm --timeout 500 "$I" sleep 10
dt=$(($(now_ms) - t0))
check "run --timeout 500 sleep 10: exit 124 within 5 s (exit $RC, $dt ms)" test "$RC" = 124 -a "$dt" -lt 5000
rbx out run --rm --memory 64 "$I" sh -c 'head -c 200000000 /dev/zero | tail >/dev/null'
expect_eq "run --memory 64: holding 200 MB is killed (137)" "$RC" 137
rbx out run --rm --disk 64 "$I" sh -c 'dd if=/dev/zero of=/big bs=1M count=100 2>&1'
expect_contains "run --disk 64: writing 100 MB fails with ENOSPC inside" "$out" "No space left"
rbx out run --rm "$I" sh -c 'exit 0' extra-arg-is-\$0
expect_eq "run IMAGE CMD ARG...: the command's own argv (no re-splitting)" "$RC" 0
rbx out run --rm "$I" printf '%s|' 'a b' '$HOME' '*'
expect_eq "run: arguments reach the command as they are" "$out" 'a b|$HOME|*|'
rbx out run --rm "$I" no-such-cmd
expect_eq "run of a command not found: exit 127" "$RC" 127
rbx out run --rm --json "$I" sh -c 'echo j; exit 2'
expect_py "run --json: the result as JSON" "$out" 'd.get("stdout") == "j\n" and d.get("exitCode") == 2'
sleep 0.3
expect_eq "run --rm leaves no sandbox running" "$(running_ids)" "$before"
rbx out run --rm no/such-image:latest true
check "run of an unknown image: fails with a message (exit $RC: $ERRO)" test "$RC" != 0 -a -n "$ERRO"
rbx out run --rm --memory 1 "$I" true
expect_contains "run --memory 1: refused, naming memoryMb" "$RC|$ERRO" "memoryMb"

# --- create, exec, inspect, ps -----------------------------------------------------------------------
rbx S create --cpus 0.5 --memory 128 --disk 64 --label team=cli --label n=1 -e A=1 -w /srv/app "$I"
check "create prints an id (exit $RC: '$S' $ERRO)" test "$RC" = 0 -a -n "$(grep -xE 'sb_[a-z0-9]{10}' <<<"$S")"
rbx out inspect "$S"
expect_py "inspect: the flags' values (cpu 0.5, memory 128, disk 64, labels, env, workdir)" "$out" \
	'(lambda s: s.get("id") == "'"$S"'" and s.get("resources") == {"cpu": 0.5, "memoryMb": 128, "diskMb": 64} and s.get("metadata") == {"team": "cli", "n": "1"} and s.get("env", {}).get("A") == "1" and s.get("workdir") == "/srv/app")(d[0] if isinstance(d, list) else d)'
rbx out exec "$S" sh -c 'pwd; echo $A'
expect_eq "exec: runs in the workdir with the env (from inside)" "$out" $'/srv/app\n1'
expect_eq "create --memory 128: the memory cgroup's limit" "$(cat "$(sb_cgroup_dir "$S" memory)/memory.limit_in_bytes" 2>/dev/null)" 134217728
rbx out exec "$S" sh -c 'exit 3'
expect_eq "exec: the exit code is the command's (3)" "$RC" 3
rbx out exec -e B=2 -w /tmp "$S" sh -c 'echo $B; pwd'
expect_eq "exec -e -w" "$out" $'2\n/tmp'
rbx out exec -u nobody "$S" id -u
expect_eq "exec -u nobody: uid 65534" "$out" 65534
out=$(printf 'abc' | "$RUNBOX" exec -i "$S" cat)
expect_eq "exec -i: stdin" "$out" abc
t0=$(now_ms)
rbx out exec --timeout 500 "$S" sleep 10
check "exec --timeout 500: exit 124 within 5 s (exit $RC, $(($(now_ms) - t0)) ms)" test "$RC" = 124 -a $(($(now_ms) - t0)) -lt 5000
rbx out exec --json "$S" sh -c 'echo x'
expect_py "exec --json: the result" "$out" 'd.get("stdout") == "x\n" and d.get("exitCode") == 0'
rbx out exec sb_0000000000 true
check "exec in an unknown sandbox: fails, saying so (exit $RC: $ERRO)" test "$RC" != 0 -a -n "$(grep -i 'not found\|SANDBOX_NOT_FOUND' <<<"$ERRO")"

rbx S2 create --label team=other "$I"
rbx out ps
check "ps lists both running sandboxes" test -n "$(grep -F "$S" <<<"$out")" -a -n "$(grep -F "$S2" <<<"$out")"
rbx out ps -q --filter label=team=cli
expect_eq "ps -q --filter label=team=cli: just the first" "$out" "$S"
rbx out ps -q --filter label=team=cli --filter label=n=1
expect_eq "ps with two label filters" "$out" "$S"
rbx out ps -q --filter state=running
check "ps --filter state=running: both" test "$(grep -cE "^($S|$S2)$" <<<"$out")" = 2
rbx out ps --json
expect_py "ps --json: both, with state running" "$out" \
	"sorted(s['id'] for s in (d if isinstance(d, list) else d.get('data', [])) if s['id'] in ('$S', '$S2') and s['state'] == 'running') == sorted(['$S', '$S2'])"

# --- cp and files ------------------------------------------------------------------------------------
head -c 1000000 /dev/urandom >"$RB_TEST_ROOT/blob"
sha=$(sha256sum <"$RB_TEST_ROOT/blob" | cut -d' ' -f1)
rbx out cp "$RB_TEST_ROOT/blob" "$S:/srv/app/blob"
expect_eq "cp host -> sandbox: exit 0 and the sha256 inside" "$RC $(inside "$S" 'sha256sum /srv/app/blob' | cut -d' ' -f1)" "0 $sha"
rbx out cp "$S:/srv/app/blob" "$RB_TEST_ROOT/back"
expect_eq "cp sandbox -> host: the same bytes" "$RC $(sha256sum <"$RB_TEST_ROOT/back" | cut -d' ' -f1)" "0 $sha"
rbx out cp "$S:/no/such" "$RB_TEST_ROOT/none"
check "cp of a missing file: fails (exit $RC)" test "$RC" != 0 -a ! -s "$RB_TEST_ROOT/none"
printf 'héllo\n\0bin' | "$RUNBOX" files write "$S" /srv/app/w.txt - 2>&1
expect_eq "files write from stdin: the bytes inside" "$(inside "$S" 'od -An -c /srv/app/w.txt' | tr -s ' \n' ' ')" "$(printf 'héllo\n\0bin' | od -An -c | tr -s ' \n' ' ')"
expect_eq "files cat: byte for byte" "$("$RUNBOX" files cat "$S" /srv/app/w.txt | sha256sum)" "$(printf 'héllo\n\0bin' | sha256sum)"
printf '#!/bin/sh\necho script-ran\n' >"$RB_TEST_ROOT/s.sh"
"$RUNBOX" files write -m 755 "$S" /srv/app/s.sh "$RB_TEST_ROOT/s.sh"
expect_eq "files write -m 755 FILE: mode and it runs" "$(inside "$S" 'stat -c %a /srv/app/s.sh; /srv/app/s.sh')" $'755\nscript-ran'
rbx out files mkdir -p "$S" /srv/app/d/e/f
expect_eq "files mkdir -p" "$RC $(inside "$S" 'test -d /srv/app/d/e/f && echo dir')" "0 dir"
rbx out files ls "$S" /srv/app
check "files ls: the names ($(echo $out | head -c 200))" test -n "$(grep -w blob <<<"$out")" -a -n "$(grep -w d <<<"$out")" -a -n "$(grep -w w.txt <<<"$out")"
rbx out files ls --json "$S"
expect_py "files ls --json (default: the workdir): entries with sizes" "$out" \
	'(lambda e: e.get("blob", {}).get("sizeBytes") == 1000000 and e.get("d", {}).get("isDirectory") is True)({x["name"]: x for x in (d if isinstance(d, list) else d.get("entries", []))})'
rbx out files rm "$S" /srv/app/d
check "files rm of a non-empty dir without -r: refused (exit $RC), still there" test "$RC" != 0 -a "$(inside "$S" 'test -d /srv/app/d/e && echo y')" = y
rbx out files rm -r "$S" /srv/app/d
expect_eq "files rm -r" "$RC $(inside "$S" 'test -e /srv/app/d && echo there || echo gone')" "0 gone"
rbx out files rm "$S" /srv/app/w.txt
expect_eq "files rm of a file" "$RC $(inside "$S" 'test -e /srv/app/w.txt && echo there || echo gone')" "0 gone"
rbx out files cat "$S" /no/such/file
check "files cat of a missing file: fails with a message (exit $RC)" test "$RC" != 0 -a -n "$ERRO"

# --- rm ----------------------------------------------------------------------------------------------
rbx out rm "$S2"
check "rm of a running sandbox without -f: refused (exit $RC), still running" \
	test "$RC" != 0 -a "$(sb_all_ids | awk -v i="$S2" '$1 == i { print $2 }')" = running
rbx out rm -f "$S" "$S2"
expect_eq "rm -f of two: exit 0" "$RC" 0
rbx out inspect "$S"
expect_py "after rm -f: inspect shows terminated with terminatedAt" "$out" \
	'(lambda s: s.get("state") == "terminated" and bool(s.get("terminatedAt")))(d[0] if isinstance(d, list) else d)'
check "after rm -f: no process of either left on the host" test -z "$(sb_host_pids "$S" "$S2")"
rbx out exec "$S" true
check "exec in a removed sandbox: fails, naming the state (exit $RC: $ERRO)" test "$RC" != 0 -a -n "$(grep -i 'terminated\|INVALID_STATE' <<<"$ERRO")"
rbx out ps -q
check "ps: no longer lists them" test -z "$(grep -E "^($S|$S2)$" <<<"$out")"
rbx out ps -a -q --filter state=terminated
check "ps -a --filter state=terminated: lists them" test "$(grep -cE "^($S|$S2)$" <<<"$out")" = 2
rbx out rm sb_0000000000
check "rm of an unknown id: fails (exit $RC)" test "$RC" != 0
