#!/bin/sh
# bench/index-enc.sh — the sparse index encodings compared (the table in
# docs/codecs.md, "Measured: bytes and speed per index"): geomx-bench codec's
# idx-* rows on 10^6 floats at densities 0.001, 0.01, 0.1 and 0.3. Each run
# packs one fixed index set (the exact top-k of the input at that density)
# with U32, VARINT, BITPACK, BITMAP and AUTO and decodes it through the codec
# handle. Prints the table (a ratio column first, then geomx-bench's), then
# one PASS or FAIL line per check of what AUTO's design relies on:
#   - idx-auto's bytes_out equals the smallest of the four fixed encodings'
#     at every density;
#   - idx-bitpack's bytes_out is below idx-varint's at densities 0.001 to 0.1.
# Exits 1 on a FAIL or when geomx-bench itself fails (e.g. a wrong decode).
#
# BUILD picks the build folder (default build); GX_BENCH_ARGS adds options
# to every run (e.g. "--min-time 0.5"); GX_IDX_RATIOS replaces the list of
# densities (sizes alone, quickly:
#   GX_IDX_RATIOS="0.0001 0.003 0.05 0.2 0.5" \
#   GX_BENCH_ARGS="--min-time 0 --repeat 1" sh bench/index-enc.sh
# the bitpack check applies to the densities from 0.001 to 0.1).
# The data path in plaintext, asked for (the programs refuse it by default;
# bench/secure-ps.sh measures what encryption costs).
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin/geomx-bench
if [ ! -x "$BIN" ]; then
	echo "bench/index-enc.sh: $BIN not found (run make BUILD=$BUILD first)" >&2
	exit 1
fi
RATIOS=${GX_IDX_RATIOS:-0.001 0.01 0.1 0.3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gx-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
tab=$(printf '\t')

echo "== geomx-bench codec, index encodings ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc 2>/dev/null || echo ?) cores)"
fail=0
for r in $RATIOS; do
	# shellcheck disable=SC2086 # GX_BENCH_ARGS is split on purpose
	"$BIN" codec --size 1e6 --ratio "$r" --codec idx-u32 --codec idx-varint \
		--codec idx-bitpack --codec idx-bitmap --codec idx-auto ${GX_BENCH_ARGS:-} >"$tmp/one"
	rc=$?
	if [ ! -f "$tmp/all" ]; then
		head -n 1 "$tmp/one" | sed "s/^/ratio$tab/" >"$tmp/all"
	fi
	sed "1d; s/^/$r$tab/" "$tmp/one" >>"$tmp/all"
	if [ "$rc" -ne 0 ]; then
		echo "FAIL geomx-bench codec --ratio $r exited with status $rc" >"$tmp/err"
		fail=1
		break
	fi
done
column -t -s "$tab" "$tmp/all" 2>/dev/null || cat "$tmp/all"
if [ "$fail" -ne 0 ]; then
	cat "$tmp/err"
	exit 1
fi
echo

# Encode rows only: bytes_out is field 9 (after the ratio column).
for r in $RATIOS; do
	awk -F '\t' -v r="$r" '
		$1 == r && $4 == "encode" { b[$2] = $9 }
		END {
			n = split("idx-u32 idx-varint idx-bitpack idx-bitmap", fixed, " ")
			min = -1; names = ""
			for (i = 1; i <= n; i++) {
				if (!(fixed[i] in b)) { print "note: ratio " r ": no " fixed[i] " row (skipped)"; continue }
				if (min < 0 || b[fixed[i]] + 0 < min) min = b[fixed[i]] + 0
			}
			for (i = 1; i <= n; i++)
				if ((fixed[i] in b) && b[fixed[i]] + 0 == min) names = names " " fixed[i]
			if (!("idx-auto" in b) || min < 0) {
				print "FAIL ratio " r ": idx-auto or every fixed encoding missing"; bad = 1
			} else if (b["idx-auto"] + 0 == min) {
				print "PASS ratio " r ": idx-auto " b["idx-auto"] " bytes = the smallest (" substr(names, 2) ")"
			} else {
				print "FAIL ratio " r ": idx-auto " b["idx-auto"] " bytes, smallest is " min " (" substr(names, 2) ")"; bad = 1
			}
			if (r + 0 >= 0.001 && r + 0 <= 0.1) {
				if (!("idx-bitpack" in b) || !("idx-varint" in b)) {
					print "FAIL ratio " r ": no idx-bitpack or idx-varint row"; bad = 1
				} else if (b["idx-bitpack"] + 0 < b["idx-varint"] + 0) {
					print "PASS ratio " r ": idx-bitpack " b["idx-bitpack"] " bytes < idx-varint " b["idx-varint"]
				} else {
					print "FAIL ratio " r ": idx-bitpack " b["idx-bitpack"] " bytes, not below idx-varint " b["idx-varint"]; bad = 1
				}
			}
			exit bad
		}' "$tmp/all" || fail=1
done
exit $fail
