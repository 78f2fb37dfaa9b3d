#!/bin/sh
# tests/run.sh — the whole suite: C unit tests, CLI golden tests, fuzz corpus
# replays (and, as they come, multi-process integration tests). Every test
# prints "ok NAME", "not ok NAME" or "skip NAME: why" lines; a program that
# exits 77 without printing is a skip, one that fails without a "not ok" line
# is a failure. Ends with "N passed, N failed, N skipped".
set -u
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
export BUILD
export PATH="$BUILD/bin:$PATH"
export GX_TOP="$(pwd)"
# The programs refuse plaintext links unless asked (docs/security.md, "Secure
# by default"): the suite asks, once, for the tests that are about something
# else; the tests of keys give --key or clear GEOMX_INSECURE themselves, and
# a user's GEOMX_KEY does not leak in.
export GEOMX_INSECURE=1
unset GEOMX_KEY
TIMEOUT=${GX_TEST_TIMEOUT:-300}
ONLY=${GX_TEST_ONLY:-}
pass=0 fail=0 skip=0
failed_names=""
log=$(mktemp "${TMPDIR:-/tmp}/gx-test.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT INT TERM

run() { # run NAME CMD...
	name=$1; shift
	if [ -n "$ONLY" ]; then
		case $name in *$ONLY*) ;; *) return 0 ;; esac
	fi
	start=$(date +%s)
	timeout -k 5 "$TIMEOUT" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	end=$(date +%s)
	p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log"); s=$(grep -c '^skip ' "$log")
	if [ "$rc" -eq 77 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		s=$((s + 1))
		echo "skip $name: $(tail -n 1 "$log")" >>"$log"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "not ok $name: timed out after ${TIMEOUT}s" >>"$log"
		else
			echo "not ok $name: exit status $rc" >>"$log"
		fi
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	if [ "$f" -gt 0 ]; then
		cat "$log"
		failed_names="$failed_names $name"
	else
		grep -E '^(skip )' "$log"
	fi
	printf '%-40s %3d ok %3d failed %3d skipped  %ss\n' "$name" "$p" "$f" "$s" $((end - start))
}

echo "== unit tests"
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run "unit/$(basename "$t")" "$t"
done

echo "== CLI tests"
for t in tests/cli/*.sh; do
	[ -f "$t" ] || continue
	case $(basename "$t") in lib.sh) continue ;; esac
	run "cli/$(basename "$t" .sh)" sh "$t"
done

echo "== fuzz corpus replays"
for r in "$BUILD"/tests/replay_fuzz_*; do
	[ -x "$r" ] || continue
	n=$(basename "$r"); n=${n#replay_fuzz_}
	run "fuzz/$n" "$r" "tests/fuzz/corpus/$n"
done

if [ -d tests/integration ]; then
	echo "== integration tests"
	for t in tests/integration/*.sh; do
		[ -f "$t" ] || continue
		case $(basename "$t") in lib.sh) continue ;; esac
		run "integration/$(basename "$t" .sh)" sh "$t"
	done
fi

[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
