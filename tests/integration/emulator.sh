#!/bin/sh
# tests/integration/emulator.sh — the packet-level WAN (geomx-netem behind
# scripts/netns.sh's gx_ns_mesh) against what its table says, measured with
# real TCP and UDP between namespaces (geomx-bench link). Four data
# centers and the center, one pair of sites per property:
#   a. dc0 <-> center, 25 ms each way: UDP echo round trips have a median
#      of 50 +- 1 ms and none is shorter than 50 ms.
#   b. dc1 <-> center, 25 ms, 100 Mbit/s: a 40 MB TCP transfer's goodput
#      after its first second is 90..100 Mbit/s (at most 96.5: the payload
#      of a 1500-byte packet is 1448 bytes, timestamps on); slow start is
#      seen in the arrivals per round trip (50 ms bins centred on the
#      flights): the first carries the initial window, at most a tenth of
#      what the link carries in a round trip (603 kB), each of the next
#      three more than the one before (the congestion window doubles; the
#      receiver's window, which starts at 20 segments and grows with what
#      arrives, may slow the growth down to 1.4-fold), the first three
#      together under a quarter of a round trip's worth, and within 1 s a
#      round trip carries at least 80 %.
#   c. dc2 -> center, 1 % loss: 10^5 datagrams lose 1 +- 0.2 % (6 standard
#      deviations of the binomial, 0.031 %).
#   d. dc0 <-> dc1 (DC to DC: the mesh), 25 ms with 2 ms jitter: one-way
#      delays of datagrams 4 ms apart (so the kept order never holds one
#      back) are uniform on [23, 27] ms: quartiles 24, 25, 26 +- 0.35 ms
#      (about 5 standard errors for 600 samples), the deviation within
#      10 % of 2 / sqrt(3) = 1.155 ms, none below 23 ms, none reordered.
#   e. dc0 -> dc2, 25 ms: under 100 Mbit/s of 1428-byte datagrams the
#      one-way delay's median is within 1 ms of 25 ms.
#   f. dc2 -> dc1, 25 ms, 100 Mbit/s, a 50 ms drop-tail queue: 200 Mbit/s
#      offered for 1 s: about half is dropped (45..55 %) and what arrives
#      waited in a full queue, 25 + 50 ms (median 74..77 ms).
#   g. dc1 -> dc0, 10 ms with 5 % reordered: some datagrams overtake.
#   h. dc1 -> dc2 burst loss ge=1%,25%,50%: long-run loss 1/52 = 1.92 %
#      +- 0.45 % over 10^5 datagrams (the chain's correlation widens the
#      binomial's 0.043 % about 2.6-fold: 4 deviations).
#   i. dc1 and dc2 -> dc3, each 5 ms and 100 Mbit/s on a link of its own,
#      into dc3's ingress access link of 50 Mbit/s: two TCP streams at once
#      for 3 s; from 0.5 to 2.5 s of each (past slow start, before the
#      end) their goodputs sum to 40..50.5 Mbit/s (the payload of 50 Mbit/s
#      is 48.3: 1448 of 1500 bytes; the 50 ms queue keeps the link busy
#      through TCP's backoffs, the rest is room for the two windows' few
#      ms apart), and each is 5..45 Mbit/s: both get a share, neither comes
#      near the 96.5 its own link would carry (without the shared ingress,
#      the sum would be twice that). The statistics count the access link.
#   j. dc3 -> center, 5 ms, 50 Mbit/s, then reloaded (gx_ns_mesh_reload:
#      the table file replaced, SIGHUP, its "table reloaded" line waited
#      for) at 10 Mbit/s: a TCP stream's goodput from 0.5 to 2 s of a 2 s
#      run is 40..50.5 Mbit/s before (48.3 is the payload of 50) and
#      8..10.5 after (9.65 of 10); between the two a broken table is
#      refused with its own name and line and the old links stay.
# Lower bounds are exact (the emulator never hurries a packet); upper ones
# leave room for a loaded machine's wakeups. The host's interfaces, routes
# and rules are untouched. Skips (77) without root, namespaces or TUN.
# shellcheck disable=SC2086
. "${GX_TOP:-.}/tests/integration/lib.sh"
. "$GX_TOP/scripts/netns.sh"
gx_ns_check tun || exit $?
trap 'gx_ns_down; cleanup' EXIT

host_state() { ip -o link show | sed 's/ link\/.*//; s/state [A-Z]*//' | sort; ip route; ip rule; }
host_state >"$T/host.before"

cat >"$T/table" <<'EOF'
dc0 center delay=25ms
dc1 center delay=25ms rate=100mbit
dc2 > center loss=1%
dc0 dc1 delay=25ms jitter=2ms
dc0 > dc2 delay=25ms
dc2 > dc1 delay=25ms rate=100mbit queue=50ms
dc1 > dc0 delay=10ms reorder=5%
dc1 > dc2 ge=1%,25%,50%
dc1 dc3 delay=5ms rate=100mbit
dc2 dc3 delay=5ms rate=100mbit
access dc3 in rate=50mbit
dc3 > center delay=5ms rate=50mbit
EOF

if gx_ns_up dc0 dc1 dc2 dc3 && GX_NS_NETEM_LOG="$T/netem.err" GX_NS_NETEM_STATS="$T/netem.tsv" gx_ns_mesh "$T/table"; then
	ok "a mesh of four data centers through geomx-netem"
else
	notok "a mesh of four data centers through geomx-netem" "$(cat "$T/netem.err" 2>/dev/null)"
	finish
fi

for ns in center dc0 dc1 dc2 dc3; do
	spawn "srv.$ns" ip netns exec "$(gx_ns_name "$ns")" geomx-bench link serve
	eval "PORT_$ns=\$(port_of srv.$ns)"
done
at() { eval "echo $(gx_ns_addr "$1"):\$PORT_$1"; }

# field LINE KEY — KEY's value in a probe's "k=v k=v" line.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# within X LO HI — LO <= X <= HI
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x >= lo && x <= hi) }'; }
probe() { # probe FROM_NS ARGS... — the probe's line, or "" with its error in $T/probe.err
	_f=$1; shift
	gx_ns_exec "$_f" geomx-bench link "$@" 2>"$T/probe.err"
}

# a. round trips
r=$(probe dc0 rtt "$(at center)" --count 200 --interval 5ms)
if within "$(field "$r" p50_ms)" 50 51 && within "$(field "$r" min_ms)" 50 1000 && [ "$(field "$r" lost)" = 0 ]; then
	ok "a. 25 ms each way: round trip $(field "$r" p50_ms) ms (median; min $(field "$r" min_ms))"
else
	notok "a. 25 ms each way: round trip 50 +- 1 ms" "$r $(cat "$T/probe.err")"
fi

# b. TCP goodput and slow start
r=$(probe dc1 tcp "$(at center)" --bytes 40M --trace "$T/trace")
if [ "$(field "$r" bytes)" = 40000000 ] && [ -s "$T/trace" ]; then
	steady=$(awk '$1 >= 1000 { b += $2; if ($1 > last) last = $1 } END { if (last > 1000) printf "%.2f", b * 8 / ((last + 1 - 1000) / 1000) / 1e6 }' "$T/trace")
	if within "$steady" 90 100; then ok "b. 100 Mbit/s, 50 ms round trip: TCP goodput $steady Mbit/s after the first second"
	else notok "b. TCP goodput 90..100 Mbit/s" "$r; after 1 s: $steady"; fi
	# bins of one round trip, centred on the flights: [50k - 25, 50k + 25) ms
	awk '{ k = int(($1 + 25) / 50); b[k] += $2; if (k > n) n = k } END { for (i = 0; i <= n; i++) print i, b[i] + 0 }' "$T/trace" >"$T/rtts"
	if awk -v cap=603000 '
		{ b[$1] = $2; n = $1 }
		END {
			if (b[0] < 1448 || b[0] > cap / 10 || b[0] + b[1] + b[2] > cap / 4) exit 1
			for (i = 1; i <= 3; i++) if (b[i] <= b[i - 1]) exit 1
			for (i = 0; i <= 20 && i <= n; i++) if (b[i] >= 0.8 * cap) exit 0
			exit 1
		}' "$T/rtts"; then
		ok "b. slow start: $(head -n 6 "$T/rtts" | awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $2 / 1000 }') kB in the first round trips"
	else
		notok "b. slow start: the first round trips carry less" "$(head -n 12 "$T/rtts" | tr '\n' ' ')"
	fi
else
	notok "b. a 40 MB TCP transfer" "$r $(cat "$T/probe.err")"
fi

# c. independent loss
r=$(probe dc2 udp "$(at center)" --count 100000 --pps 50000)
if within "$(field "$r" loss_pct)" 0.8 1.2; then ok "c. 1 % loss: $(field "$r" loss_pct) % of 10^5 datagrams lost"
else notok "c. 1 % loss: 1 +- 0.2 % over 10^5 datagrams" "$r $(cat "$T/probe.err")"; fi

# d. jitter, DC to DC
r=$(probe dc0 udp "$(at dc1)" --count 600 --pps 250)
if within "$(field "$r" delay_p25_ms)" 23.65 24.35 && within "$(field "$r" delay_p50_ms)" 24.65 25.35 &&
	within "$(field "$r" delay_p75_ms)" 25.65 26.35 && within "$(field "$r" delay_sd_ms)" 1.04 1.27 &&
	within "$(field "$r" delay_min_ms)" 23 100 && [ "$(field "$r" reordered)" = 0 ] && [ "$(field "$r" lost)" = 0 ]; then
	ok "d. 25 +- 2 ms uniform, dc0 -> dc1: quartiles $(field "$r" delay_p25_ms) $(field "$r" delay_p50_ms) $(field "$r" delay_p75_ms), deviation $(field "$r" delay_sd_ms) ms"
else
	notok "d. jitter's spread as set, dc0 -> dc1" "$r $(cat "$T/probe.err")"
fi

# e. delay under load
r=$(probe dc0 udp "$(at dc2)" --count 20000 --bitrate 100mbit --size 1400)
if within "$(field "$r" delay_p50_ms)" 25 26 && within "$(field "$r" delay_min_ms)" 25 1000; then
	ok "e. 25 ms under 100 Mbit/s: one-way delay $(field "$r" delay_p50_ms) ms (median; p95 $(field "$r" delay_p95_ms))"
else
	notok "e. 25 ms under 100 Mbit/s: median within 1 ms" "$r $(cat "$T/probe.err")"
fi

# f. the rate's drop-tail queue, overloaded
r=$(probe dc2 udp "$(at dc1)" --count 17500 --bitrate 200mbit --size 1400 --grace 1s)
if within "$(field "$r" loss_pct)" 45 55 && within "$(field "$r" delay_p50_ms)" 74 77; then
	ok "f. 200 Mbit/s into 100: $(field "$r" loss_pct) % dropped, the rest $(field "$r" delay_p50_ms) ms (a full 50 ms queue)"
else
	notok "f. 200 Mbit/s into 100: half dropped, 75 ms" "$r $(cat "$T/probe.err")"
fi

# g. reordering
r=$(probe dc1 udp "$(at dc0)" --count 2000 --pps 2000)
if [ "$(field "$r" reordered)" -gt 0 ] 2>/dev/null && [ "$(field "$r" lost)" = 0 ]; then
	ok "g. reorder=5 %: $(field "$r" reordered) datagrams overtaken"
else
	notok "g. reorder=5 %: datagrams overtaken" "$r $(cat "$T/probe.err")"
fi

# h. burst loss
r=$(probe dc1 udp "$(at dc2)" --count 100000 --pps 50000)
if within "$(field "$r" loss_pct)" 1.47 2.37; then ok "h. burst loss ge=1%,25%,50%: $(field "$r" loss_pct) % (1.92 expected)"
else notok "h. burst loss: 1.92 +- 0.45 %" "$r $(cat "$T/probe.err")"; fi

# i. a shared ingress: both streams at once, each waited for
for dc in dc1 dc2; do
	gx_ns_exec "$dc" geomx-bench link tcp "$(at dc3)" --seconds 3 --trace "$T/$dc.trace" \
		>"$T/$dc.tcp" 2>"$T/$dc.err" &
	eval "TCP_$dc=\$!"
done
wait "$TCP_dc1"; wait "$TCP_dc2"
# mid TRACE — Mbit/s of goodput from 0.5 to 2.5 s
mid() { awk '$1 >= 500 && $1 < 2500 { b += $2 } END { if (NR) printf "%.2f", b * 8 / 2 / 1e6 }' "$1" 2>/dev/null; }
r1=$(mid "$T/dc1.trace") r2=$(mid "$T/dc2.trace")
sum=$(awk -v a="$r1" -v b="$r2" 'BEGIN { if (a != "" && b != "") printf "%.2f", a + b }')
if within "$sum" 40 50.5 && within "$r1" 5 45 && within "$r2" 5 45; then
	ok "i. dc1, dc2 -> dc3 at once through its 50 Mbit/s ingress: $r1 + $r2 = $sum Mbit/s (each on a 100 Mbit/s link)"
else
	notok "i. two streams share dc3's 50 Mbit/s ingress: sum 40..50.5, each 5..45 Mbit/s" \
		"dc1: $(cat "$T/dc1.tcp" "$T/dc1.err"); dc2: $(cat "$T/dc2.tcp" "$T/dc2.err"); $r1 + $r2 = $sum"
fi

# j. a link's rate changed while the emulator runs
# goodput TRACE — Mbit/s from 0.5 to 2 s
goodput() { awk '$1 >= 500 && $1 < 2000 { b += $2 } END { if (NR) printf "%.2f", b * 8 / 1.5 / 1e6 }' "$1" 2>/dev/null; }
r=$(probe dc3 tcp "$(at center)" --seconds 2 --trace "$T/j1.trace")
before=$(goodput "$T/j1.trace")
printf 'dc3 > center delay=5ms rate=slow\n' >"$T/table.bad"
if ! gx_ns_mesh_reload "$T/table.bad" 2>"$T/reload.err" &&
	grep -q "table not reloaded: $T/table.bad:1: invalid rate 'slow'" "$T/reload.err"; then
	ok "j. a broken table is refused, said where: $(cat "$T/reload.err")"
else
	notok "j. a broken table is refused, said where" "$(cat "$T/reload.err")"
fi
sed 's/^dc3 > center .*/dc3 > center delay=5ms rate=10mbit/' "$T/table" >"$T/table.slow"
if gx_ns_mesh_reload "$T/table.slow" 2>"$T/reload.err"; then
	r2=$(probe dc3 tcp "$(at center)" --seconds 2 --trace "$T/j2.trace")
	after=$(goodput "$T/j2.trace")
	if within "$before" 40 50.5 && within "$after" 8 10.5; then
		ok "j. dc3 -> center reloaded from 50 to 10 Mbit/s: TCP goodput $before, then $after Mbit/s"
	else
		notok "j. TCP goodput 40..50.5 Mbit/s, then 8..10.5 after the reload" "before: $r ($before); after: $r2 ($after) $(cat "$T/probe.err")"
	fi
else
	notok "j. the mesh reloaded at 10 Mbit/s" "$(cat "$T/reload.err")"
fi

gx_ns_down
# i. the access link's last counts (written when gx_ns_down stopped it)
acc=$(awk -F '\t' '$2 == "*" && $3 == "dc3" { in_ = $4; drop = $9 } END { if (in_ > 0) print in_, drop }' "$T/netem.tsv")
if [ -n "$acc" ]; then ok "i. the statistics count dc3's ingress: ${acc% *} packets in, ${acc#* } dropped by its queue"
else notok "i. the statistics count dc3's ingress" "$(tail -n 12 "$T/netem.tsv")"; fi
host_state >"$T/host.after"
check "the host's interfaces, routes and rules are as before" cmp -s "$T/host.before" "$T/host.after"
if [ -z "$(gx_ns_list)" ]; then ok "every namespace of the run is gone"; else notok "every namespace of the run is gone" "$(gx_ns_list)"; fi
finish
