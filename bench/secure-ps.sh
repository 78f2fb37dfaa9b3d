#!/bin/sh
# bench/secure-ps.sh — what encryption costs the parameter servers on the
# LAN path: `geomx-bench ps` plaintext and with --key (every link, worker to
# local to global and back, authenticated and encrypted), runs taken in
# turns in the same period, for 64 KB and 4 MB tensors (1 worker, 1 key).
# Prints each run's round time and throughput, then per size the medians and
# the ratio secure / plaintext of the round times: the cost. geomx-bench
# checks the workers' parameters after every run (the same as plaintext,
# bit for bit); PASS when every run did, FAIL (exit 1) when one failed.
#
# BUILD picks the build folder (default build); GX_SEC_RUNS the runs of each
# kind per size (default 3).
# The data path in plaintext, asked for (the programs refuse it by default;
# bench/secure-ps.sh measures what encryption costs).
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin/geomx-bench
if [ ! -x "$BIN" ] || [ ! -x "$BUILD/bin/geomx-ps" ] || [ ! -x "$BUILD/bin/geomx-relay" ]; then
	echo "bench/secure-ps.sh: $BIN, geomx-ps or geomx-relay not in $BUILD/bin (run make BUILD=$BUILD first)" >&2
	exit 1
fi
RUNS=${GX_SEC_RUNS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gx-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; trap - INT; kill -INT $$' INT
trap 'rm -rf "$tmp"; trap - TERM; kill -TERM $$' TERM
"$BUILD/bin/geomx-relay" --genkey "$tmp/key" || exit 1

echo "== geomx-bench ps, plaintext and --key ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc 2>/dev/null || echo ?) cores)"
printf 'size\tlinks\trun\tround_ms\tps_mbps\n' >"$tmp/all"
fail=0
for s in 16Ki 1Mi; do
	i=1
	while [ $i -le "$RUNS" ]; do
		for mode in plain secure; do
			set -- --workers 1 --keys 1 --size $s --min-time 0.5 --repeat 3 -q
			[ $mode = secure ] && set -- "$@" --key "$tmp/key"
			if "$BIN" ps "$@" >"$tmp/one"; then
				# round_ms is field 8, ps_mbps 10
				awk -F '\t' -v s=$s -v m=$mode -v i=$i 'NR == 2 {
					printf "%s\t%s\t%d\t%s\t%s\n", s, m, i, $8, $10 }' "$tmp/one" >>"$tmp/all"
			else
				echo "FAIL geomx-bench ps $* exited with status $?"
				fail=1
			fi
		done
		i=$((i + 1))
	done
done
column -t -s "$(printf '\t')" "$tmp/all" 2>/dev/null || cat "$tmp/all"
echo
for s in 16Ki 1Mi; do
	for mode in plain secure; do
		awk -F '\t' -v s=$s -v m=$mode '$1 == s && $2 == m { print $4 }' "$tmp/all" | sort -g >"$tmp/$s.$mode"
	done
	mp=$(awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }' "$tmp/$s.plain")
	ms=$(awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }' "$tmp/$s.secure")
	if [ -n "$mp" ] && [ -n "$ms" ]; then
		awk -v s=$s -v p="$mp" -v q="$ms" 'BEGIN {
			printf "cost %s tensors: a round takes %.3f ms plaintext, %.3f ms encrypted: %.2fx\n",
				s, p, q, q / p }'
	fi
done
if [ $fail -eq 0 ]; then
	echo "PASS every run, plaintext and encrypted, ended with the right parameters"
fi
exit $fail
