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
#   - over an emulated WAN (geomx-relay --rate 500mbit --delay 5ms between
#     the local and the global server), where the link is what a round
#     waits for, a round in blocks takes at most 0.7x a round of whole
#     tensors (printed against the bound: one way's bytes and a round trip).
# Draws round_ms and x_chain against the block size with gnuplot when it is
# there (scripts/deps.sh bench installs it as root).
#
# BUILD picks the build folder (default build); REPEAT the passes (default
# 3); SIZE the tensor's floats (default 1048576); GX_BLOCKS_OUT the folder
# for the table and the plot (default: a temporary one, removed, the plot
# kept as docs/img/blocks.png only when GX_BLOCKS_PNG says so).
# The data path in plaintext, asked for (the programs refuse it by default;
# bench/secure-ps.sh measures what encryption costs).
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
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
if awk -v x="$xd" 'BEGIN { exit !(x + 0 >= 0.8) }'; then
	echo "PASS --block $DEFAULT: ${xd}x the four-hop chain (median of $REPEAT; target >= 0.8x)"
else
	echo "FAIL --block $DEFAULT: ${xd}x the four-hop chain (median of $REPEAT; target >= 0.8x)"
	fail=1
fi

# Over an emulated WAN (geomx-relay between the local and the global server,
# WAN_RATE and WAN_DELAY each way): there the link, not the CPU, is what a
# round waits for, and blocks let the answers come down while the rest of
# the push still goes up. The bound: one direction's bytes at the rate
# plus a round trip. Rounds R1 and R2 of one worker (geomx-bench worker),
# start-up cancelled out: ms per round = (wall(R2) - wall(R1)) / (R2 - R1).
WAN_RATE=${WAN_RATE:-500mbit}
WAN_DELAY_MS=${WAN_DELAY_MS:-5}
# wan_wall BLOCK ROUNDS — wall-clock ms of a worker's ROUNDS rounds
wan_wall() {
	d=$OUT/wan
	rm -rf "$d" && mkdir -p "$d" || return 1
	"$BUILD/bin/geomx-ps" --role global --parties 1 --block "$1" -q >"$d/g" &
	gp=$!
	wait_line "$d/g" || return 1
	"$BUILD/bin/geomx-relay" --listen 127.0.0.1:0 --connect "127.0.0.1:$(head -n 1 "$d/g")" \
		--rate "$WAN_RATE" --delay "${WAN_DELAY_MS}ms" -q >"$d/r" &
	rp=$!
	wait_line "$d/r" || return 1
	"$BUILD/bin/geomx-ps" --role local --workers 1 --upstream "127.0.0.1:$(head -n 1 "$d/r")" \
		-q >"$d/l" &
	lp=$!
	wait_line "$d/l" || return 1
	s=$(date +%s%N)
	"$BUILD/bin/geomx-bench" worker --ps "127.0.0.1:$(head -n 1 "$d/l")" --size "$SIZE" \
		--rounds "$2" -q >/dev/null || return 1
	e=$(date +%s%N)
	wait "$gp" "$lp"
	kill "$rp" 2>/dev/null
	wait "$rp" 2>/dev/null
	echo $(((e - s) / 1000000))
}
# wait_line FILE — until FILE has a line (a server's port), 30 s at most
wait_line() {
	i=0
	while [ ! -s "$1" ] && [ $i -lt 600 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -s "$1" ]
}
R1=4 R2=20
echo "== over an emulated WAN: geomx-relay --rate $WAN_RATE --delay ${WAN_DELAY_MS}ms between the local and the global server"
for b in 0 $DEFAULT; do
	w1=$(wan_wall "$b" $R1) && w2=$(wan_wall "$b" $R2) || {
		echo "FAIL the WAN run with --block $b failed"
		exit 1
	}
	echo "$b $(((w2 - w1) / (R2 - R1)))" >>"$OUT/wan.txt"
done
bound=$(awk -v s="$SIZE" -v r="$WAN_RATE" -v d="$WAN_DELAY_MS" 'BEGIN {
	n = r + 0; u = r; sub(/^[0-9.]+/, "", u)
	bps = n * (u == "gbit" ? 1e9 : u == "mbit" ? 1e6 : u == "kbit" ? 1e3 : 1)
	printf "%.0f", s * 4 * 8 / bps * 1000 + 2 * d }')
w0=$(awk '$1 == 0 { print $2 }' "$OUT/wan.txt")
wd=$(awk -v d=$DEFAULT '$1 == d { print $2 }' "$OUT/wan.txt")
echo "whole tensors: $w0 ms a round; --block $DEFAULT: $wd ms; the bound (one way's bytes + a round trip): $bound ms"
ratio=$(awk -v a="$wd" -v b="$w0" 'BEGIN { printf "%.3f", a / b }')
if awk -v x="$ratio" 'BEGIN { exit !(x <= 0.7) }'; then
	echo "PASS WAN: --block $DEFAULT takes ${ratio}x the round of whole tensors (target <= 0.7x; $(awk -v b="$bound" -v w="$wd" 'BEGIN { printf "%.2f", b / w }')x of the bound)"
else
	echo "FAIL WAN: --block $DEFAULT takes ${ratio}x the round of whole tensors (target <= 0.7x)"
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
