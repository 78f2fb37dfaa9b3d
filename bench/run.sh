#!/bin/sh
# bench/run.sh — `make bench`: runs every bench/*.sh (but this one) with
# BUILD set, then reports which passed. Benchmarks are not tests: they take
# minutes and their figures depend on the machine; each script prints its
# own table and PASS/FAIL lines and exits nonzero on a FAIL, 77 when this
# machine cannot run it (no root for namespaces, no TUN device): skipped.
set -u
BUILD=${BUILD:-build}
export BUILD
dir=$(dirname "$0")
failed="" passed="" skipped=""
for s in "$dir"/*.sh; do
	[ -f "$s" ] || continue
	n=$(basename "$s" .sh)
	[ "$n" = run ] && continue
	sh "$s"
	case $? in
	0) passed="$passed $n" ;;
	77) skipped="$skipped $n" ;;
	*) failed="$failed $n" ;;
	esac
	echo
done
echo "== bench summary"
[ -n "$passed" ] && echo "passed:$passed"
[ -n "$skipped" ] && echo "skipped (cannot run here):$skipped"
if [ -n "$failed" ]; then
	echo "failed:$failed"
	exit 1
fi
exit 0
