#!/usr/bin/env bash
# Runs the suites named (unit integration security; default: all) and closes with one line
# "N passed, N failed, N skipped". Unit tests are cmocka binaries; the other suites are bash
# scripts that source tests/lib.sh and report one "PASS:"/"FAIL:"/"SKIP:" line per case.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export RUNBOX=${RUNBOX:-$PWD/$BUILD/runbox}
export RB_TESTBIN=$PWD/$BUILD/tests
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit security-c integration security)

pass=0 fail=0 skip=0
failed=()
log=$(mktemp -d /tmp/runbox-test-log.XXXXXX)

count() { # file
	local p f s
	p=$(grep -c '^PASS:' "$1" || true)
	f=$(grep -c '^FAIL:' "$1" || true)
	s=$(grep -c '^SKIP:' "$1" || true)
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}

for suite in "${suites[@]}"; do
	case "$suite" in
	unit | security-c)
		dir=${suite%-c}
		for t in "$BUILD"/tests/"$dir"/test_*; do
			[ -x "$t" ] || continue
			name=$(basename "$t")
			out="$log/$name.log"
			opts=${ASAN_OPTIONS:-}
			# LeakSanitizer needs ptrace, which the confined children of this suite are
			# refused by design; leaks are still checked in every other suite
			[ "$name" = test_seccomp_caps ] && opts="detect_leaks=0${opts:+:$opts}"
			ASAN_OPTIONS=$opts CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$out" 2>&1
			rc=$?
			p=$(grep -c '^\[       OK \]' "$out" || true)
			f=$(grep -c '^\[  FAILED  \]' "$out" || true)
			s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s).*/\1/p' "$out")
			s=${s:-0}
			skip=$((skip + s))
			# a skip must say why: cmocka prints the test's own message just before it
			grep -B3 '^\[  SKIPPED \]' "$out" | grep -v -e '^\[' -e '^--' | sort -u |
				sed "s|^|  $name skip: |" || true
			# a crash before cmocka's summary still counts as a failure
			if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
			pass=$((pass + p)) fail=$((fail + f))
			if [ "$f" -gt 0 ]; then
				failed+=("$name")
				cat "$out"
			fi
			printf '%-40s %3d passed %3d failed\n' "$dir/$name" "$p" "$f"
		done
		;;
	integration | security)
		for t in tests/"$suite"/*.sh; do
			[ -f "$t" ] || continue
			name="$suite/$(basename "$t" .sh)"
			out="$log/$(basename "$t").log"
			timeout 600 bash "$t" >"$out" 2>&1
			rc=$?
			count "$out"
			f=$(grep -c '^FAIL:' "$out" || true)
			if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
				echo "FAIL: $name exited $rc" >>"$out"
				fail=$((fail + 1))
				f=1
			fi
			grep '^SKIP:' "$out" | sed "s|^|  $name |"
			if [ "$f" -gt 0 ]; then
				failed+=("$name")
				# every failure, wherever it is in the log, then how the suite ended
				echo "--- $name: failures"
				grep -a -A4 '^FAIL:' "$out" | head -n 100
				echo "--- $name: the end of its log"
				tail -n 40 "$out"
			fi
			printf '%-40s %3d passed %3d failed\n' "$name" "$(grep -c '^PASS:' "$out")" "$f"
		done
		;;
	*) echo "unknown suite $suite" >&2; exit 2 ;;
	esac
done

rm -rf "$log"
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
