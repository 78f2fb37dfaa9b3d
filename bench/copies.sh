#!/bin/sh
# bench/copies.sh — how many times a round passes over the tensor's bytes in
# user space: a debug build (make DEBUG=1) counts the bytes each program
# copies (into an output queue, out of a receive buffer, between the
# library's buffers) and decodes (into floats, or decoded and added into a
# sum), and each program appends its totals at exit to $GEOMX_PASSES.
# One worker, one local and one global server, one key of 4 MB (1Mi floats; SIZE),
# through geomx-bench ps; two runs of R1 and R2 rounds, so that start-up
# cancels out: passes per round = (bytes(R2) - bytes(R1)) / (R2 - R1) / 4 MiB.
# Prints the table and one PASS/FAIL line against MAX_PASSES (copies and
# decodes together, all programs); exits 1 on a FAIL.
#
# Then the same rounds counted from outside, for any build: an LD_PRELOAD
# shim (bench/memcpy-count.c) counts the bytes each program copies with
# memcpy/memmove in calls of 16 KiB or more, for BUILD (default build) and,
# when BASE_BUILD names the build folder of another version (e.g. a
# checkout of an older commit), for that one too: copies per round before
# and after.
#
# BUILD_DEBUG names the debug build folder (default build-debug; built here
# when missing). SIZE sets the tensor's float count for the debug count
# (default 1048576, 4 MB; e.g. SIZE=4096 for 16 KiB frames, which arrive
# whole in one read and are decoded where they lie).
# The data path in plaintext, asked for (the programs refuse it by default;
# bench/secure-ps.sh measures what encryption costs).
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
set -u
BD=${BUILD_DEBUG:-build-debug}
MAX_PASSES=${MAX_PASSES:-9}
R1=${R1:-10}
R2=${R2:-60}
SIZE=${SIZE:-1048576}
case $SIZE in ''|*[!0-9]*) echo "bench/copies.sh: SIZE must be a number of floats" >&2; exit 2 ;; esac
MB=$(awk -v s="$SIZE" 'BEGIN { b = 4 * s; if (b >= 1048576) printf "%g MB", b / 1048576; else printf "%g KiB", b / 1024 }')
if ! make -s --no-print-directory DEBUG=1 BUILD="$BD" all >/dev/null; then
	echo "bench/copies.sh: cannot build the debug build in $BD" >&2
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gx-copies.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; trap - INT; kill -INT $$' INT
trap 'rm -rf "$tmp"; trap - TERM; kill -TERM $$' TERM

# run R: geomx-bench ps for R rounds; the counts of its programs in $tmp/R.
run() {
	GEOMX_PASSES="$tmp/$1" GEOMX_PS="$BD/bin/geomx-ps" "$BD/bin/geomx-bench" ps \
		--workers 1 --keys 1 --size "$SIZE" --rounds "$1" --repeat 1 -q >/dev/null || {
		echo "FAIL geomx-bench ps --rounds $1 failed" >&2
		exit 1
	}
}
run "$R1"
run "$R2"

# Per program, in the order they exit: the global server, the local server
# (both geomx-ps; the one that copies more per round is the local, which
# forwards both ways), the client (geomx-bench, the worker's library).
awk -v r1="$R1" -v r2="$R2" -v f1="$tmp/$R1" -v size="$SIZE" '
FILENAME == f1 { c1[$1] += $4; d1[$1] += $6; next }
{ c2[$1] += $4; d2[$1] += $6 }
END {
	mb = 4 * size * (r2 - r1)
	printf "%-22s %8s %8s\n", "program", "copies", "decodes"
	tc = td = 0
	for (p in c2) {
		c = (c2[p] - c1[p]) / mb; d = (d2[p] - d1[p]) / mb
		printf "%-22s %8.2f %8.2f\n", (p == "geomx-ps" ? "geomx-ps (both)" : p " (worker)"), c, d
		tc += c; td += d
	}
	printf "%-22s %8.2f %8.2f\n", "all", tc, td
	printf "passes per round: %.2f copies + %.2f decodes = %.2f\n", tc, td, tc + td
}' "$tmp/$R1" "$tmp/$R2" >"$tmp/table"
cat "$tmp/table"
total=$(sed -n 's/^passes per round: .* = //p' "$tmp/table")
# A round may pass over nothing; the start-up (INIT, its answers) never does.
if [ "$(awk '{ t += $4 + $6 } END { print (t > 0) }' "$tmp/$R2")" != 1 ]; then
	echo "FAIL no passes counted: is $BD a debug build (make DEBUG=1)?"
	exit 1
fi
rc=0
if awk -v t="$total" -v m="$MAX_PASSES" 'BEGIN { exit !(t <= m) }'; then
	echo "PASS passes over a $MB tensor per push+pull round: $total (target <= $MAX_PASSES)"
else
	echo "FAIL passes over a $MB tensor per push+pull round: $total (target <= $MAX_PASSES)"
	rc=1
fi

# memcpy/memmove bytes per round, counted by the shim, for a build folder.
shim="$tmp/memcpy-count.so"
if ! ${CC:-cc} -O2 -shared -fPIC -o "$shim" "$(dirname "$0")/memcpy-count.c" -ldl; then
	echo "bench/copies.sh: cannot build the memcpy shim" >&2
	exit 1
fi
memcpys() {
	for r in "$R1" "$R2"; do
		GX_MEMCPY_COUNT="$tmp/m.$r" LD_PRELOAD="$shim" GEOMX_PS="$1/bin/geomx-ps" \
			"$1/bin/geomx-bench" ps --workers 1 --keys 1 --size 1Mi --rounds "$r" \
			--repeat 1 -q >/dev/null || return 1
	done
	awk -v r1="$R1" -v r2="$R2" -v f1="$tmp/m.$R1" '
	FILENAME == f1 { a += $3; next } { b += $3 }
	END { printf "%.2f", (b - a) / (4 * 1048576 * (r2 - r1)) }' "$tmp/m.$R1" "$tmp/m.$R2"
	rm -f "$tmp/m.$R1" "$tmp/m.$R2"
}
B=${BUILD:-build}
after=$(memcpys "$B") || { echo "FAIL geomx-bench ps ($B) failed under the shim"; exit 1; }
if [ -n "${BASE_BUILD:-}" ]; then
	before=$(memcpys "$BASE_BUILD") || { echo "FAIL geomx-bench ps ($BASE_BUILD) failed"; exit 1; }
	echo "memcpy per round (all programs, calls >= 16 KiB): $BASE_BUILD $before, $B $after"
else
	echo "memcpy per round (all programs, calls >= 16 KiB): $B $after"
fi
exit $rc
