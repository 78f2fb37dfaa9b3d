#!/bin/sh
# bench/emulator.sh — what geomx-netem costs and how exact it is, on this
# machine (root: network namespaces and a TUN device).
#
# One data center and the center (scripts/netns.sh). First the bare path:
# a TCP bulk transfer (geomx-bench link tcp, 4 s) from the DC to the
# center over the veth pair alone, REPEAT times. Then the same path through
# geomx-netem (gx_ns_mesh): every packet read from the TUN device, given a
# link, and written back:
#   netem         a link without delay, rate or loss: the emulator's bare
#                 forwarding
#   netem-1ms     1 ms each way: every packet held in the heap and
#                 released by the timer
# TCP's segments here are 1500-byte packets (the TUN device's MTU), so
# goodput / 1448 is the packets per second the emulator forwards.
# Then its accuracy under load: 25 ms one way, unshaped, 20000 datagrams
# of 1400 bytes at 100 Mbit/s; the one-way delay's quantiles (the two ends
# share the machine's clock).
# Prints a table and PASS/FAIL lines:
#   forwarding: netem's median goodput >= 1 Gbit/s (the issue's floor),
#     with its ratio to the bare path's;
#   delay under 100 Mbit/s: median and 95th percentile within 1 ms of 25.
# Usage: sh bench/emulator.sh   (as root; BUILD [build], GX_EMU_REPEAT [3])
# Exit status: 0 all PASS, 1 a FAIL or a failure, 77 no namespaces or TUN.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-build}/bin
REPEAT=${GX_EMU_REPEAT:-3}
for p in geomx-netem geomx-bench; do
	[ -x "$B/$p" ] || { echo "emulator: $B/$p is missing: run 'make' first (or set BUILD)" >&2; exit 1; }
done
PATH="$(cd "$B" && pwd):$PATH"
. "$TOP/scripts/netns.sh"
gx_ns_check tun || exit $?
T=$(mktemp -d "${TMPDIR:-/tmp}/gx-emu.XXXXXX") || exit 1
SRV=""
cleanup() {
	[ -n "$SRV" ] && kill -TERM "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	gx_ns_down
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

gx_ns_up dc0 || exit 1
ip netns exec "$(gx_ns_name center)" geomx-bench link serve >"$T/port" 2>"$T/serve.err" &
SRV=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ] && kill -0 "$SRV" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
TO=$(gx_ns_addr center):$(head -n 1 "$T/port")
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# tcp NAME — REPEAT transfers of 4 s; their goodputs (Mbit/s) to $T/NAME.
tcp() {
	: >"$T/$1"
	for _r in $(seq "$REPEAT"); do
		_l=$(gx_ns_exec dc0 geomx-bench link tcp "$TO" --seconds 4 2>>"$T/err") ||
			{ echo "emulator: $1: $(tail -n 1 "$T/err")" >&2; exit 1; }
		field "$_l" mbps >>"$T/$1"
	done
}
tcp bare
printf 'dc0 center\n' >"$T/table"
GX_NS_NETEM_STATS="$T/netem.tsv" gx_ns_mesh "$T/table" || exit 1
tcp netem
kill -TERM "$GX_NS_NETEM_PID"; wait "$GX_NS_NETEM_PID" 2>/dev/null
# The same device and routes, a new emulator with a 1 ms link.
ip netns exec "$(gx_ns_name center)" geomx-netem --tun gxem --line "site center $(gx_ns_addr center)/16" \
	--line "site dc0 $(gx_ns_addr dc0)/32" --line "dc0 center delay=1ms" >"$T/emu.out" 2>"$T/emu.err" &
EMU=$!
i=0
while [ ! -s "$T/emu.out" ] && [ $i -lt 100 ] && kill -0 "$EMU" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
tcp netem-1ms
kill -TERM "$EMU"; wait "$EMU" 2>/dev/null
ip netns exec "$(gx_ns_name center)" geomx-netem --tun gxem --line "site center $(gx_ns_addr center)/16" \
	--line "site dc0 $(gx_ns_addr dc0)/32" --line "dc0 center delay=25ms" >"$T/emu2.out" 2>"$T/emu2.err" &
EMU=$!
i=0
while [ ! -s "$T/emu2.out" ] && [ $i -lt 100 ] && kill -0 "$EMU" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
load=$(gx_ns_exec dc0 geomx-bench link udp "$TO" --count 20000 --bitrate 100mbit --size 1400 2>>"$T/err") ||
	{ echo "emulator: delay under load: $(tail -n 1 "$T/err")" >&2; exit 1; }
kill -TERM "$EMU"; wait "$EMU" 2>/dev/null

bare=$(median <"$T/bare") netem=$(median <"$T/netem") n1=$(median <"$T/netem-1ms")
echo "== emulator ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores): TCP dc0 -> center, 4 s, median of $REPEAT"
printf '%-10s %10s %10s %8s   %s\n' path mbps kpps x_bare samples
for n in bare netem netem-1ms; do
	m=$(median <"$T/$n")
	printf '%-10s %10.0f %10.1f %8.3f   %s\n' "$n" "$m" "$(echo "$m" | awk '{ print $1 * 1e6 / 8 / 1448 / 1e3 }')" \
		"$(awk -v a="$m" -v b="$bare" 'BEGIN { print a / b }')" "$(tr '\n' ' ' <"$T/$n")"
done
echo "delay under load (25 ms one way, 100 Mbit/s of 1428-byte packets): $load"
st=0
if awk -v m="$netem" -v m1="$n1" 'BEGIN { exit !(m >= 1000 && m1 >= 1000) }'; then
	echo "PASS forwarding: netem $netem Mbit/s, netem-1ms $n1 (floor 1000; bare path $bare, x$(awk -v a="$netem" -v b="$bare" 'BEGIN { printf "%.3f", a / b }'))"
else
	echo "FAIL forwarding: netem $netem Mbit/s, netem-1ms $n1 (floor 1000; bare path $bare)"
	st=1
fi
p50=$(field "$load" delay_p50_ms) p95=$(field "$load" delay_p95_ms)
if awk -v a="$p50" -v b="$p95" 'BEGIN { exit !(a >= 25 && a <= 26 && b >= 25 && b <= 26) }'; then
	echo "PASS delay under 100 Mbit/s: median $p50 ms, p95 $p95 ms (25 +- 1)"
else
	echo "FAIL delay under 100 Mbit/s: median $p50 ms, p95 $p95 ms (25 +- 1)"
	st=1
fi
exit $st
