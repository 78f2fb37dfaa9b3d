#!/bin/sh
# bench/relay.sh — throughput of one TCP stream through pairs of
# geomx-relay processes on loopback (geomx-bench relay: an edge relay and a
# center relay, plain, --key, --zstd, both) against a plain TCP stream on
# 127.0.0.1 measured in the same run, and the acceptance check of the relay
# issue:
#   the encrypted pair (--key): x_tcp >= 0.5
# (x_tcp: the median bytes per second through the pair over the median of
# the direct stream, samples taken in turns). Prints the table, then one
# PASS or FAIL line; exits 1 on a FAIL or when geomx-bench itself fails (a
# relay failed or did not exit 0 on SIGTERM, a stream stalled).
#
# BUILD picks the build folder (default build); GX_RELAY_ARGS adds options
# to the run, after the script's (so "--repeat 9 --size 1Gi" overrides).
# The data path in plaintext, asked for (the programs refuse it by default;
# bench/secure-ps.sh measures what encryption costs).
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin/geomx-bench
if [ ! -x "$BIN" ] || [ ! -x "$BUILD/bin/geomx-relay" ]; then
	echo "bench/relay.sh: $BIN or $BUILD/bin/geomx-relay not found (run make BUILD=$BUILD first)" >&2
	exit 1
fi
TARGET=0.5
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gx-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; trap - INT; kill -INT $$' INT
trap 'rm -rf "$tmp"; trap - TERM; kill -TERM $$' TERM

echo "== geomx-bench relay ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc 2>/dev/null || echo ?) cores)"
# shellcheck disable=SC2086 # GX_RELAY_ARGS is split on purpose
"$BIN" relay --size 256Mi --repeat 5 ${GX_RELAY_ARGS:-} >"$tmp/out"
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL geomx-bench relay exited with status $rc"
	exit 1
fi
column -t -s "$(printf '\t')" "$tmp/out" 2>/dev/null || cat "$tmp/out"
echo

# x_tcp is field 7.
x=$(awk -F '\t' '$1 == "secure" { print $7; exit }' "$tmp/out")
if [ -z "$x" ]; then
	echo "FAIL encrypted relay pair: no secure row"
	exit 1
elif awk -v x="$x" -v t="$TARGET" 'BEGIN { exit !(x + 0 >= t + 0) }'; then
	echo "PASS encrypted relay pair: ${x}x loopback TCP (target >= ${TARGET}x)"
else
	echo "FAIL encrypted relay pair: ${x}x loopback TCP (target >= ${TARGET}x)"
	exit 1
fi
exit 0
