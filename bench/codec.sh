#!/bin/sh
# bench/codec.sh — the codec table and the project's two acceptance checks:
# on 10^7 floats, f16 encode >= 0.5x memcpy and sampled top-k at 1% encode
# >= 0.15x memcpy (both through the codec handle, ratios taken in the same
# run). Prints the table, then one PASS or FAIL line per check; exits 1 on a
# FAIL or when the benchmark itself fails.
#
# BUILD picks the build folder (default build); GX_BENCH_ARGS adds options
# to the codec run (e.g. "--min-time 0.5").
# The data path in plaintext, asked for (the programs refuse it by default;
# bench/secure-ps.sh measures what encryption costs).
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin/geomx-bench
if [ ! -x "$BIN" ]; then
	echo "bench/codec.sh: $BIN not found (run make BUILD=$BUILD first)" >&2
	exit 1
fi
tsv=$(mktemp "${TMPDIR:-/tmp}/gx-bench.XXXXXX") || exit 1
trap 'rm -f "$tsv"' EXIT INT TERM

echo "== geomx-bench codec ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc 2>/dev/null || echo ?) cores)"
# shellcheck disable=SC2086 # GX_BENCH_ARGS is split on purpose
"$BIN" codec --ratio 0.01 ${GX_BENCH_ARGS:-} >"$tsv"
rc=$?
column -t -s "$(printf '\t')" "$tsv" 2>/dev/null || cat "$tsv"
if [ "$rc" -ne 0 ]; then
	echo "FAIL geomx-bench codec exited with status $rc"
	exit 1
fi
echo

# check NAME CODEC OP SIZE MIN — one acceptance line from the TSV.
fail=0
check() {
	r=$(awk -F '\t' -v c="$2" -v o="$3" -v n="$4" \
		'$1 == c && $3 == o && $2 == n { print $7; exit }' "$tsv")
	if [ -z "$r" ]; then
		echo "FAIL $1: no $2 $3 row for size $4"
		fail=1
	elif awk -v r="$r" -v m="$5" 'BEGIN { exit !(r + 0 >= m + 0) }'; then
		echo "PASS $1: ${r}x memcpy (target >= ${5}x)"
	else
		echo "FAIL $1: ${r}x memcpy (target >= ${5}x)"
		fail=1
	fi
}
check "f16 encode, 1e7 floats" f16 encode 10000000 0.5
check "topk-sampled 1% encode, 1e7 floats" topk-sampled encode 10000000 0.15
exit $fail
