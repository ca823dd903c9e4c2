#!/usr/bin/env bash
# Runs every benchmark in bench/ (each bench/<name>.sh but this file) and prints their tables.
# Results go to bench/results/ (not committed). Usage: bench/run.sh [name...]
set -u
cd "$(dirname "$0")"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in *.sh; do [ "$f" = run.sh ] || names+=("${f%.sh}"); done
fi
rc=0
for n in "${names[@]}"; do
	echo "=== $n"
	bash "./$n.sh" || { echo "bench $n failed" >&2; rc=1; }
done
exit $rc
