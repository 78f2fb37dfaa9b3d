#!/bin/sh
# bench/run.sh — `make bench`: runs every bench/*.sh (but this one) with
# BUILD set, then reports which passed. Benchmarks are not tests: they take
# minutes and their figures depend on the machine; each script prints its
# own table and PASS/FAIL lines and exits nonzero on a FAIL.
set -u
BUILD=${BUILD:-build}
export BUILD
dir=$(dirname "$0")
failed="" passed=""
for s in "$dir"/*.sh; do
	[ -f "$s" ] || continue
	n=$(basename "$s" .sh)
	[ "$n" = run ] && continue
	if sh "$s"; then passed="$passed $n"; else failed="$failed $n"; fi
	echo
done
echo "== bench summary"
[ -n "$passed" ] && echo "passed:$passed"
if [ -n "$failed" ]; then
	echo "failed:$failed"
	exit 1
fi
exit 0
