#!/bin/sh
# bench/blocks.sh — what the block size does to a round of a large tensor:
# geomx-bench ps (one worker, one global and one local server, one key of
# 4 MB: 1Mi floats; SIZE) at block sizes from 16Ki to 512Ki floats and
# whole tensors (--block 0), the sizes taken in turns for REPEAT passes so
# that a drift of the host's speed spreads over all of them. Each run
# measures, in the same process and in turns with the servers, the four-hop
# chain that only forwards (x_chain: the servers over that bound) and the
# store-and-forward chain (x_sf). Prints a table of the medians per size,
# then PASS or FAIL:
#   - the default size (65536) takes at least 0.8 of the chain (x_chain,
#     median over the passes: the restructuring issue's target);
#   - blocks beat whole tensors: the default's median round is at most 0.9x
#     the round of --block 0 measured in the same passes.
# Draws round_ms and x_chain against the block size with gnuplot when it is
# there (scripts/deps.sh bench installs it as root).
#
# BUILD picks the build folder (default build); REPEAT the passes (default
# 3); SIZE the tensor's floats (default 1048576); GX_BLOCKS_OUT the folder
# for the table and the plot (default: a temporary one, removed, the plot
# kept as docs/img/blocks.png only when GX_BLOCKS_PNG says so).
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin/geomx-bench
TOP=$(cd "$(dirname "$0")/.." && pwd)
REPEAT=${REPEAT:-3}
SIZE=${SIZE:-1048576}
SIZES="0 16384 32768 65536 131072 262144 524288"
DEFAULT=65536
case $REPEAT in '' | *[!0-9]*) echo "bench/blocks.sh: REPEAT must be a number" >&2; exit 2 ;; esac
case $SIZE in '' | *[!0-9]*) echo "bench/blocks.sh: SIZE must be a number of floats" >&2; exit 2 ;; esac
if [ ! -x "$BIN" ] || [ ! -x "$BUILD/bin/geomx-ps" ]; then
	echo "bench/blocks.sh: $BIN or $BUILD/bin/geomx-ps not found (run make BUILD=$BUILD first)" >&2
	exit 1
fi
if [ -n "${GX_BLOCKS_OUT:-}" ]; then
	OUT=$GX_BLOCKS_OUT
	mkdir -p "$OUT" || exit 1
else
	OUT=$(mktemp -d "${TMPDIR:-/tmp}/gx-blocks.XXXXXX") || exit 1
	trap 'rm -rf "$OUT"' EXIT
	trap 'rm -rf "$OUT"; trap - INT; kill -INT $$' INT
	trap 'rm -rf "$OUT"; trap - TERM; kill -TERM $$' TERM
fi
: >"$OUT/runs"

echo "== bench/blocks.sh ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc 2>/dev/null || echo ?) cores, $SIZE floats, $REPEAT passes)"
pass=1
while [ "$pass" -le "$REPEAT" ]; do
	for b in $SIZES; do
		if ! "$BIN" ps --workers 1 --keys 1 --size "$SIZE" --block "$b" --min-time 2 --repeat 5 \
			>"$OUT/one"; then
			echo "FAIL geomx-bench ps --block $b exited with an error"
			exit 1
		fi
		# round_ms (8), x_chain (14), x_sf (17)
		sed 1d "$OUT/one" | awk -F '\t' -v b="$b" -v p="$pass" '{ print p, b, $8, $14, $17 }' >>"$OUT/runs"
	done
	pass=$((pass + 1))
done

# Medians per size: block round_ms x_chain x_sf, and every pass's x_chain.
awk -v sizes="$SIZES" '
function median(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ n[$2]++; r[$2, n[$2]] = $3; c[$2, n[$2]] = $4; s[$2, n[$2]] = $5; all[$2] = all[$2] " " $4 }
END {
	printf "%-8s %9s %8s %6s  %s\n", "block", "round_ms", "x_chain", "x_sf", "x_chain per pass"
	k = split(sizes, z, " ")
	for (i = 1; i <= k; i++) {
		b = z[i]
		for (j = 1; j <= n[b]; j++) { ra[j] = r[b, j]; ca[j] = c[b, j]; sa[j] = s[b, j] }
		printf "%-8s %9.3f %8.3f %6.3f %s\n", b, median(ra, n[b]), median(ca, n[b]), median(sa, n[b]), all[b]
	}
}' "$OUT/runs" >"$OUT/table"
cat "$OUT/table"

fail=0
xd=$(awk -v d=$DEFAULT '$1 == d { print $3 }' "$OUT/table")
rd=$(awk -v d=$DEFAULT '$1 == d { print $2 }' "$OUT/table")
r0=$(awk '$1 == "0" { print $2 }' "$OUT/table")
if awk -v x="$xd" 'BEGIN { exit !(x + 0 >= 0.8) }'; then
	echo "PASS --block $DEFAULT: ${xd}x the four-hop chain (median of $REPEAT; target >= 0.8x)"
else
	echo "FAIL --block $DEFAULT: ${xd}x the four-hop chain (median of $REPEAT; target >= 0.8x)"
	fail=1
fi
ratio=$(awk -v a="$rd" -v b="$r0" 'BEGIN { printf "%.3f", a / b }')
if awk -v x="$ratio" 'BEGIN { exit !(x <= 0.9) }'; then
	echo "PASS --block $DEFAULT: a round takes ${ratio}x the round of whole tensors (target <= 0.9x)"
else
	echo "FAIL --block $DEFAULT: a round takes ${ratio}x the round of whole tensors (target <= 0.9x)"
	fail=1
fi

if command -v gnuplot >/dev/null 2>&1 || { sh "$TOP/scripts/deps.sh" bench && command -v gnuplot >/dev/null 2>&1; }; then
	PNG=${GX_BLOCKS_PNG:-$OUT/blocks.png}
	# whole tensors drawn at the tensor's size: one block of it
	awk -v s="$SIZE" 'NR > 1 { print ($1 == 0 ? s : $1), $2, $3 }' "$OUT/table" | sort -n >"$OUT/plot.dat"
	if gnuplot <<EOF
set terminal pngcairo size 900,550 noenhanced
set output '$PNG'
set title 'one tensor of $SIZE floats, 1 worker, a local and a global server, 2 cores'
set xlabel 'block (floats; $SIZE: whole tensors, --block 0)'
set logscale x 2
set format x '%.0f'
set ylabel 'round (ms), median of $REPEAT'
set y2label 'x_chain (servers / four-hop forwarding chain)'
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:1.2]
set key bottom left
set grid
plot '$OUT/plot.dat' using 1:2 with linespoints pointtype 7 title 'round ms', \
     '$OUT/plot.dat' using 1:3 axes x1y2 with linespoints pointtype 5 title 'x_chain', \
     0.8 axes x1y2 with lines dashtype 2 linecolor 'gray' title '0.8'
EOF
	then
		echo "plot: $PNG"
	else
		echo "bench/blocks.sh: gnuplot failed: no plot" >&2
	fi
else
	echo "bench/blocks.sh: no gnuplot: no plot (install Debian's gnuplot-nox: apt-get install -y gnuplot-nox)" >&2
fi
exit "$fail"
