#!/usr/bin/env bash
# GET /metrics (issue 4): the Prometheus text format 0.0.4, parsed here line by line: HELP and
# TYPE before each family's samples, histogram buckets that only grow, +Inf equal to the count;
# and the counters move with what the API did.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
. "$HERE/images-common.bash"
. "$HERE/sandbox-common.bash"
sb_setup

METRICS=$RB_TEST_ROOT/metrics
scrape() { curl -s -D "$METRICS.hdr" -o "$METRICS" --unix-socket "$RUNBOX_SOCKET" http://runbox/metrics; }
# value SERIES: the sample's value ('' when absent)
value() { python3 "$RB_TEST_ROOT/parse.py" "$METRICS" "$1"; }
cat >"$RB_TEST_ROOT/parse.py" <<'EOF'
import re, sys
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r'^(' + NAME + r')(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
types, helps, samples, errors = {}, {}, [], []
for n, line in enumerate(open(sys.argv[1], encoding="utf-8").read().split("\n"), 1):
    if line == "":
        continue
    if line.startswith("# HELP "):
        name = line.split(" ")[2]
        if name in helps: errors.append(f"line {n}: a second HELP for {name}")
        helps[name] = line
        continue
    if line.startswith("# TYPE "):
        _, _, name, t = line.split(" ", 3)
        if t not in ("counter", "gauge", "histogram", "summary", "untyped"): errors.append(f"line {n}: type {t}")
        if name in types: errors.append(f"line {n}: a second TYPE for {name}")
        if any(s[0] == name or s[0].startswith(name + "_") for s in samples if s[0] not in types): pass
        types[name] = t
        continue
    if line.startswith("#"):
        continue
    m = SAMPLE.match(line)
    if not m:
        errors.append(f"line {n}: not a sample: {line!r}")
        continue
    name, labels, value = m.group(1), dict(LABEL.findall(m.group(3) or "")), m.group(4)
    try:
        v = float(value)
    except ValueError:
        errors.append(f"line {n}: value {value!r}")
        continue
    fam = name
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and types.get(name[: -len(suf)]) == "histogram":
            fam = name[: -len(suf)]
    if fam not in types: errors.append(f"line {n}: {name} before its TYPE")
    if fam not in helps: errors.append(f"line {n}: {name} without HELP")
    if types.get(fam) == "counter" and not name.endswith("_total"): errors.append(f"line {n}: counter {name} not _total")
    if v < 0 and types.get(fam) in ("counter", "histogram"): errors.append(f"line {n}: negative {name}")
    samples.append((name, labels, v, fam))
# histograms: buckets grow, end in +Inf, and +Inf is the count
for fam, t in types.items():
    if t != "histogram": continue
    b = [(s[1]["le"], s[2]) for s in samples if s[0] == fam + "_bucket"]
    les = [float(le) for le, _ in b]
    if not b or b[-1][0] != "+Inf": errors.append(f"{fam}: no +Inf bucket last")
    if les != sorted(les): errors.append(f"{fam}: le not increasing")
    if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)): errors.append(f"{fam}: buckets not monotonic {b}")
    cnt = [s[2] for s in samples if s[0] == fam + "_count"]
    if not cnt or not b or cnt[0] != b[-1][1]: errors.append(f"{fam}: +Inf {b[-1][1] if b else None} != count {cnt}")
    if not [s for s in samples if s[0] == fam + "_sum"]: errors.append(f"{fam}: no _sum")
if len(sys.argv) > 2:
    q = sys.argv[2]
    name, _, rest = q.partition("{")
    want = dict(LABEL.findall(rest))
    got = [s[2] for s in samples if s[0] == name and all(s[1].get(k) == v for k, v in want.items())]
    print("%g" % sum(got) if got else "")
else:
    print("\n".join(errors) if errors else "ok")
EOF

scrape
expect_eq "GET /metrics: 200" "$(head -1 "$METRICS.hdr" | awk '{ print $2 }')" 200
check "Content-Type is text/plain; version=0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' "$METRICS.hdr"
expect_eq "the text parses: HELP and TYPE lines, samples, histograms" "$(python3 "$RB_TEST_ROOT/parse.py" "$METRICS")" ok
expect_eq "runbox_build_info carries the version" "$(value 'runbox_build_info')" 1
check "runbox_build_info{version=...}" grep -q '^runbox_build_info{version="[^"]\+"} 1$' "$METRICS"
for f in runbox_sandboxes runbox_sandbox_creates_total runbox_sandbox_terminations_total \
	runbox_exec_duration_seconds runbox_api_requests_total runbox_api_errors_total runbox_events_dropped_total; do
	check "family $f is there" grep -q "^# TYPE $f " "$METRICS"
done

creates0=$(value 'runbox_sandbox_creates_total{result="ok"}')
errors0=$(value 'runbox_sandbox_creates_total{result="error"}')
execs0=$(value 'runbox_exec_duration_seconds_count')
user0=$(value 'runbox_sandbox_terminations_total{reason="user"}')
nf0=$(value 'runbox_api_errors_total{code="SANDBOX_NOT_FOUND"}')

sb_new "a sandbox" || exit 0
A=$SB_ID
sb_new "another" || exit 0
B=$SB_ID
sx "$A" 'echo a'
sx "$A" 'sleep 0.3'
sx "$B" 'true'
sapi POST "/api/v1/sandboxes/$B/pause" ''
sapi POST /api/v1/sandboxes "$(j image=no/such:image)"
sapi GET /api/v1/sandboxes/sb_nosuchthing
sapi DELETE "/api/v1/sandboxes/$A"
scrape
expect_eq "after: the text still parses" "$(python3 "$RB_TEST_ROOT/parse.py" "$METRICS")" ok
expect_eq "creates{ok} counts the two creates" "$(value 'runbox_sandbox_creates_total{result="ok"}')" $((creates0 + 2))
expect_eq "creates{error} counts the failed one" "$(value 'runbox_sandbox_creates_total{result="error"}')" $((errors0 + 1))
expect_eq "the exec histogram counts three execs" "$(value 'runbox_exec_duration_seconds_count')" $((execs0 + 3))
check "the 0.3 s exec is above the 0.25 s bucket" python3 -c "
import sys; sys.exit(0 if float('$(value 'runbox_exec_duration_seconds_bucket{le="0.25"}')') < float('$(value 'runbox_exec_duration_seconds_count')') else 1)"
check "the sum is at least 0.3 s" python3 -c "import sys; sys.exit(0 if float('$(value runbox_exec_duration_seconds_sum)') >= 0.3 else 1)"
expect_eq "terminations{user} counts the DELETE" "$(value 'runbox_sandbox_terminations_total{reason="user"}')" $((user0 + 1))
expect_eq "errors{SANDBOX_NOT_FOUND} counts the unknown id" "$(value 'runbox_api_errors_total{code="SANDBOX_NOT_FOUND"}')" $((nf0 + 1))
check "requests by route and code: the exec route's 200s" test "$(value 'runbox_api_requests_total{route="/api/v1/sandboxes/{id}/exec",code="200"}')" -ge 3
check "requests by route and code: the create route's 201s" test "$(value 'runbox_api_requests_total{route="/api/v1/sandboxes",code="201"}')" -ge 2
want_live=$(sb_all_ids | awk '$2 == "running"' | wc -l)
expect_eq "sandboxes{running} is the registry's" "$(value 'runbox_sandboxes{state="running"}')" "$want_live"
check "sandboxes{paused} counts the paused one" test "$(value 'runbox_sandboxes{state="paused"}')" -ge 1
check "sandboxes{terminated} counts the kept record" test "$(value 'runbox_sandboxes{state="terminated"}')" -ge 1
check "a 404 route is counted as unmatched" bash -c "curl -s -o /dev/null --unix-socket '$RUNBOX_SOCKET' http://runbox/nothing-here; curl -s --unix-socket '$RUNBOX_SOCKET' http://runbox/metrics | grep -q 'route=\"unmatched\",code=\"404\"'"
# cheap: a hundred scrapes take well under a second each
t0=$(now_ms)
for ((i = 0; i < 100; i++)); do scrape; done
t1=$(now_ms)
check "100 scrapes in under 5 s ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 5000
exit 0
