#!/bin/sh
# tests/integration/relay-wan.sh — geomx-relay's WAN emulation is accurate
# on its own (the acceptance of the relay issue), and bounded:
#  a. --rate 100mbit: a bulk stream through the relay arrives at 12.5 MB/s
#     within 5% (bytes received from 0.5 s after the first byte, over
#     2.5 s: the first burst, which fills the socket buffers, is not
#     counted); at the same time, with --rate-up 40mbit, the other
#     direction arrives at 5 MB/s within 5% (over 2 s);
#  b. --delay 25ms: the round trip of small messages through the relay,
#     minus the round trip without it, is 50 ms within 2 ms (medians of 20);
#  c. --jitter 5ms on --delay 20ms: every round trip between 30 and 50 ms
#     (plus 2 ms), and not all alike;
#  d. --loss 2% (and a delay): the bytes still arrive intact both ways, and
#     the statistics count the lost segments;
#  e. backpressure: a sender far faster than --rate 8mbit fills the queue
#     and stops there: the relay's queue stays under its bound (1 MiB plus
#     one chunk) and its memory small.
# Peers: tests/integration/relay-peer.py. Loopback, ephemeral ports, every
# process reaped (lib.sh).
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
command -v geomx-relay >/dev/null 2>&1 || { echo "geomx-relay not built"; exit 77; }
PEER="python3 $GX_TOP/tests/integration/relay-peer.py"
MB=1000000

# within VALUE WANT TOLERANCE — |VALUE - WANT| <= TOLERANCE (decimals).
within() { python3 -c 'import sys; v, w, t = map(float, sys.argv[1:]); sys.exit(abs(v - w) > t)' "$@"; }
# field FILE KEY — the value after "KEY " on the first line that has it.
field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$1"; }
relay() {
	_rn=$1
	shift
	spawn "$_rn" geomx-relay --listen 127.0.0.1:0 --stats "$T/$_rn.stats" "$@"
	RPORT=$(port_of "$_rn")
}

# --- a. rate -------------------------------------------------------------
spawn a.s $PEER serve --send $((60 * MB)) --seed 11 --measure 0.5:2.0
relay a.r --connect "127.0.0.1:$(port_of a.s)" --rate 100mbit --rate-up 40mbit
$PEER client --port "$RPORT" --send $((30 * MB)) --measure 0.5:2.5 >"$T/a.client" 2>&1
down=$(field "$T/a.client" rate)
wait_match "$T/a.s.out" '^conn 0 rate ' 5
up=$(awk '$1 == "conn" && $3 == "rate" { print $4; exit }' "$T/a.s.out")
if [ -n "$down" ] && within "$down" 12500000 625000; then
	ok "a: --rate 100mbit: $down bytes/s arrive (12.5e6 +- 5%)"
else
	notok "a: --rate 100mbit: 12.5e6 bytes/s +- 5% arrive" "got ${down:-nothing}: $(cat "$T/a.client")"
fi
if [ -n "$up" ] && within "$up" 5000000 250000; then
	ok "a: --rate-up 40mbit, at the same time: $up bytes/s arrive (5e6 +- 5%)"
else
	notok "a: --rate-up 40mbit: 5e6 bytes/s +- 5% arrive" "got ${up:-nothing}: $(cat "$T/a.s.out")"
fi

# --- b. delay --------------------------------------------------------------
spawn b.s $PEER serve --mode echo
S=$(port_of b.s)
$PEER pingpong --port "$S" --count 20 >"$T/b.direct" 2>&1
relay b.r --connect "127.0.0.1:$S" --delay 25ms
$PEER pingpong --port "$RPORT" --count 20 >"$T/b.relay" 2>&1
d0=$(field "$T/b.direct" rtt_ms) d1=$(field "$T/b.relay" rtt_ms)
added=$(python3 -c "print(round(${d1:-0} - ${d0:-0}, 3))")
if [ -n "$d0" ] && [ -n "$d1" ] && within "$added" 50 2; then
	ok "b: --delay 25ms adds $added ms to the round trip (50 +- 2; medians of 20)"
else
	notok "b: --delay 25ms adds 50 +- 2 ms to the round trip" "direct ${d0:-?} ms, relay ${d1:-?} ms" \
		"$(tr '\n' ' ' <"$T/b.relay")"
fi

# --- c. jitter -------------------------------------------------------------
relay c.r --connect "127.0.0.1:$S" --delay 20ms --jitter 5ms --seed 7
$PEER pingpong --port "$RPORT" --count 20 >"$T/c.relay" 2>&1
if python3 - "$T/c.relay" <<'PY'
import sys
rtts = [float(x) for x in open(sys.argv[1]).read().split("rtts_ms ")[1].split(",")]
assert len(rtts) == 20
assert all(30 - 0.5 <= x <= 50 + 2 for x in rtts), rtts
assert max(rtts) - min(rtts) >= 3, rtts
PY
then ok "c: --jitter 5ms on 20ms: round trips in [30, 50] ms, and varying ($(field "$T/c.relay" rtts_ms | cut -c1-60)...)"
else notok "c: --jitter 5ms on 20ms: round trips in [30, 50] ms, and varying" "$(cat "$T/c.relay")"; fi

# --- d. loss ---------------------------------------------------------------
spawn d.s $PEER serve --send $((2 * MB)) --seed 11
relay d.r --connect "127.0.0.1:$(port_of d.s)" --loss 2% --delay 5ms --rate 400mbit --seed 3
if $PEER client --port "$RPORT" --send $((2 * MB)) --seed 20 --expect $((2 * MB)) --expect-seed 11 \
	>"$T/d.client" 2>&1 && wait_match "$T/d.s.out" "^conn 0 recv $((2 * MB)) $($PEER sha --bytes $((2 * MB)) --seed 20)$" 5; then
	ok "d: --loss 2%: 2 MB each way arrive intact"
else
	notok "d: --loss 2%: 2 MB each way arrive intact" "$(cat "$T/d.client" "$T/d.s.out" | tr '\n' '|')"
fi
kill -TERM "$(pid_of d.r)"
expect_exit "d: the relay exits 0 on SIGTERM" d.r 5 0
losses=$(python3 -c 'import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(s["up"]["losses"], s["down"]["losses"])' "$T/d.r.stats" 2>/dev/null)
if [ -n "$losses" ] && [ "${losses% *}" -gt 0 ] && [ "${losses#* }" -gt 0 ]; then
	ok "d: ... and the statistics count lost segments both ways ($losses)"
else
	notok "d: the statistics count lost segments both ways" "${losses:-no final line}"
fi

# --- e. backpressure -------------------------------------------------------
spawn e.s $PEER serve --send 0 --seed 11
relay e.r --connect "127.0.0.1:$(port_of e.s)" --rate 8mbit --stats-every 0.25
spawn e.c $PEER client --port "$RPORT" --send $((100 * MB)) --seed 20
sleep 2
rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$(pid_of e.r)/status")
kill -TERM "$(pid_of e.r)"
expect_exit "e: the relay exits 0 on SIGTERM" e.r 5 0
if python3 - "$T/e.r.stats" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
q = max(l["up"]["queued"] for l in lines)
assert lines[-2]["up"]["plain_bytes"] < 5_000_000, lines[-2]
assert 500_000 < q <= (1 << 20) + 65556, q
print("# most queued: %d bytes; read in 2 s: %d" % (q, lines[-2]["up"]["plain_bytes"]))
PY
then ok "e: a fast sender into --rate 8mbit: reading stops at the queue's bound"
else notok "e: a fast sender into --rate 8mbit: reading stops at the queue's bound" "$(tail -n 3 "$T/e.r.stats")"; fi
if [ -n "$rss" ] && [ "$rss" -lt 32768 ]; then ok "e: ... and the relay's memory stays small (${rss} kB resident)"
else notok "e: the relay's memory stays small" "VmRSS ${rss:-?} kB"; fi

finish
