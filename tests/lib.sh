# Shared by the bash suites: a private daemon per script, assertions, and cleanup that runs
# even when a case fails. Source it; then call rb_daemon_start and the check helpers.
set -u
RUNBOX=${RUNBOX:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/${BUILD:-build}/runbox}
RB_TESTBIN=${RB_TESTBIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/${BUILD:-build}/tests}
RB_TEST_ROOT=$(mktemp -d /tmp/runbox-test.XXXXXX)
export RUNBOX_SOCKET=$RB_TEST_ROOT/runbox.sock
export RUNBOX_STATE_DIR=$RB_TEST_ROOT/state
RB_DAEMON_PID=""
_rb_cleanups=()

rb_on_exit() { _rb_cleanups+=("$1"); }

_rb_cleanup() {
	local i
	for ((i = ${#_rb_cleanups[@]} - 1; i >= 0; i--)); do eval "${_rb_cleanups[$i]}" || true; done
	rb_daemon_stop
	rm -rf "$RB_TEST_ROOT"
}
trap _rb_cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }
skip() { echo "SKIP: $*"; }

# check NAME CMD...: the command must succeed.
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# check_fails NAME CMD...: the command must fail.
check_fails() {
	local name=$1
	shift
	if "$@"; then fail "$name (unexpectedly succeeded)"; else pass "$name"; fi
}

# expect_contains NAME HAYSTACK NEEDLE
expect_contains() {
	if [[ "$2" == *"$3"* ]]; then pass "$1"; else fail "$1: '$3' not in: ${2:0:600}"; fi
}

expect_eq() {
	if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected '$3', got '${2:0:600}'"; fi
}

# The daemons of the suites run in the machine's own network namespace: their sandboxes get
# mode none unless a flag says otherwise, so that no suite adds veths, nftables tables or
# ip_forward there (the network suites build their own namespaces, network-common.bash).
rb_daemon_start() { # extra serve flags...
	"$RUNBOX" serve --socket "$RUNBOX_SOCKET" --state-dir "$RUNBOX_STATE_DIR" \
		--default-network none "$@" \
		>>"$RB_TEST_ROOT/daemon.log" 2>&1 &
	RB_DAEMON_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		[ -S "$RUNBOX_SOCKET" ] && curl -sf --unix-socket "$RUNBOX_SOCKET" http://x/api/v1/health >/dev/null && return 0
		kill -0 "$RB_DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "daemon did not start:"
	cat "$RB_TEST_ROOT/daemon.log"
	return 1
}

rb_daemon_stop() {
	[ -n "$RB_DAEMON_PID" ] || return 0
	kill "$RB_DAEMON_PID" 2>/dev/null
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$RB_DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$RB_DAEMON_PID" 2>/dev/null
	wait "$RB_DAEMON_PID" 2>/dev/null
	RB_DAEMON_PID=""
}

# api METHOD PATH [JSON]: prints the body, then a last line "HTTP <status>".
api() {
	local args=(-s --unix-socket "$RUNBOX_SOCKET" -X "$1" -w '\nHTTP %{http_code}\n')
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${args[@]}" "http://runbox$2"
}

# Fixtures (tests/fixtures/make-images.sh) are made once per machine into a cache directory.
rb_fixtures() {
	RB_FIXTURES=${RB_FIXTURES:-/tmp/runbox-fixtures}
	bash "$(dirname "${BASH_SOURCE[0]}")/fixtures/make-images.sh" "$RB_FIXTURES" >&2 || return 1
	export RB_FIXTURES
}
