#!/bin/sh
# tests/integration/relay-wan.sh — geomx-relay's WAN emulation is accurate
# on its own (the acceptance of the relay issue), and bounded:
#  a. --rate 100mbit: a bulk stream through the relay never arrives faster
#     than 12.5 MB/s (all it brought, from the moment the client began to
#     connect), and at 80% of it at least (bytes received from 0.5 s after
#     the first byte, over 2.5 s: the first burst, which fills the socket
#     buffers, is not counted); at the same time, with --rate-up 40mbit,
#     the other direction likewise at 5 MB/s (over 2 s);
#  b. --delay 25ms: every round trip of small messages through the relay
#     takes 48 ms at least (twice the delay, less 1 ms of timer slack each
#     way), and the shortest at most 75 ms (a busy machine's wake-ups
#     add to them);
#  c. --jitter 5ms on --delay 20ms: every round trip at least 28 ms, the
#     shortest at most 75 ms, and not all alike;
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
# The contract bounds the rate from above: nothing arrives faster than the
# link, counted from the moment the client began to connect (the relay can
# send nothing before), up to one chunk released early (RELAY_SLACK_NS, 1
# ms of the link) — whatever the load. From below, on a busy machine, a
# starved relay or peer may lose time; at least 80% of the rate must still
# arrive over the window (a shaper off by a factor fails either way).
spawn a.s $PEER serve --send $((60 * MB)) --seed 11 --measure 0.5:2.0
relay a.r --connect "127.0.0.1:$(port_of a.s)" --rate 100mbit --rate-up 40mbit
$PEER client --port "$RPORT" --send $((30 * MB)) --measure 0.5:2.5 >"$T/a.client" 2>&1
wait_match "$T/a.s.out" '^conn 0 rate ' 30
down=$(field "$T/a.client" rate)
up=$(awk '$1 == "conn" && $3 == "rate" { print $4; exit }' "$T/a.s.out")
# rate_ok NAME RATE LINE START — LINE's "rate R total B last T": R at
# least 80% of RATE, and B no more than RATE * (T - START) + one chunk.
rate_ok() {
	python3 - "$@" <<'PY'
import sys
name, rate, line, start = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), float(sys.argv[4])
f = dict(zip(line[::2], line[1::2]))
r, total, last = float(f["rate"]), int(f["total"]), float(f["last"])
cap = rate * (last - start + 0.001) + 2 * 65536
print("# %s: %.0f bytes/s over the window; %d bytes in %.3f s from the connection, at most %.0f"
      % (name, r, total, last - start, cap))
sys.exit(not (r >= 0.8 * rate and total <= cap))
PY
}
start=$(field "$T/a.client" start)
if [ -n "$down" ] && [ -n "$start" ] && rate_ok down 12500000 "$(grep '^rate ' "$T/a.client")" "$start"; then
	ok "a: --rate 100mbit: $down bytes/s arrive (never more than 12.5e6, at least 80% of it)"
else
	notok "a: --rate 100mbit: never more than 12.5e6 bytes/s, at least 80% of it" "got ${down:-nothing}: $(cat "$T/a.client")"
fi
if [ -n "$up" ] && [ -n "$start" ] && rate_ok up 5000000 "$(grep '^conn 0 rate ' "$T/a.s.out" | cut -d' ' -f3-)" "$start"; then
	ok "a: --rate-up 40mbit, at the same time: $up bytes/s arrive (never more than 5e6, at least 80% of it)"
else
	notok "a: --rate-up 40mbit: never more than 5e6 bytes/s, at least 80% of it" "got ${up:-nothing}: $(cat "$T/a.s.out")"
fi

# --- b. delay --------------------------------------------------------------
# The contract bounds the delay from below: a chunk never leaves before its
# time (less RELAY_SLACK_NS, 1 ms), so every round trip takes at least
# 2 * (25 - 1) ms, whatever the load. From above, wake-ups on a busy
# machine add their own, to every round trip at times: the shortest of 20
# must still tell 50 ms from a delay applied twice.
spawn b.s $PEER serve --mode echo
S=$(port_of b.s)
$PEER pingpong --port "$S" --count 20 >"$T/b.direct" 2>&1
relay b.r --connect "127.0.0.1:$S" --delay 25ms
$PEER pingpong --port "$RPORT" --count 20 >"$T/b.relay" 2>&1
d0=$(field "$T/b.direct" rtt_ms) d1=$(field "$T/b.relay" rtt_ms)
added=$(python3 -c "print(round(${d1:-0} - ${d0:-0}, 3))")
if [ -n "$d0" ] && [ -n "$d1" ] && python3 - "$T/b.relay" "$added" <<'PY'
import sys
rtts = [float(x) for x in open(sys.argv[1]).read().split("rtts_ms ")[1].split(",")]
assert len(rtts) == 20
assert 2 * (25 - 1) <= min(rtts) <= 50 + 25, rtts
PY
then
	ok "b: --delay 25ms adds $added ms to the round trip (each at least 48 ms; medians of 20)"
else
	notok "b: --delay 25ms: each round trip at least 48 ms, the shortest at most 75" \
		"direct ${d0:-?} ms, relay ${d1:-?} ms" "$(tr '\n' ' ' <"$T/b.relay")"
fi

# --- c. jitter -------------------------------------------------------------
# Jitter only subtracts down to delay - jitter each way (the contract, as
# above: at least 2 * (20 - 5 - 1) ms); from above the shortest (34 ms on
# an idle machine) must stay under 50 ms plus what a busy machine adds.
relay c.r --connect "127.0.0.1:$S" --delay 20ms --jitter 5ms --seed 7
$PEER pingpong --port "$RPORT" --count 20 >"$T/c.relay" 2>&1
if python3 - "$T/c.relay" <<'PY'
import sys
rtts = [float(x) for x in open(sys.argv[1]).read().split("rtts_ms ")[1].split(",")]
assert len(rtts) == 20
assert 2 * (20 - 5 - 1) <= min(rtts) <= 50 + 25, rtts
assert max(rtts) - min(rtts) >= 3, rtts
PY
then ok "c: --jitter 5ms on 20ms: round trips from 28 ms, varying ($(field "$T/c.relay" rtts_ms | cut -c1-60)...)"
else notok "c: --jitter 5ms on 20ms: round trips from 28 ms, the shortest at most 75, varying" "$(tr '\n' ' ' <"$T/c.relay")"; fi

# --- d. loss ---------------------------------------------------------------
spawn d.s $PEER serve --send $((2 * MB)) --seed 11
relay d.r --connect "127.0.0.1:$(port_of d.s)" --loss 2% --delay 5ms --rate 400mbit --seed 3
if $PEER client --port "$RPORT" --send $((2 * MB)) --seed 20 --expect $((2 * MB)) --expect-seed 11 \
	>"$T/d.client" 2>&1 && wait_match "$T/d.s.out" "^conn 0 recv $((2 * MB)) $($PEER sha --bytes $((2 * MB)) --seed 20)$" 30; then
	ok "d: --loss 2%: 2 MB each way arrive intact"
else
	notok "d: --loss 2%: 2 MB each way arrive intact" "$(cat "$T/d.client" "$T/d.s.out" | tr '\n' '|')"
fi
kill -TERM "$(pid_of d.r)"
expect_exit "d: the relay exits 0 on SIGTERM" d.r 30 0
losses=$(python3 -c 'import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(s["up"]["losses"], s["down"]["losses"])' "$T/d.r.stats" 2>/dev/null)
if [ -n "$losses" ] && [ "${losses% *}" -gt 0 ] && [ "${losses#* }" -gt 0 ]; then
	ok "d: ... and the statistics count lost segments both ways ($losses)"
else
	notok "d: the statistics count lost segments both ways" "${losses:-no final line}"
fi

# --- e. backpressure -------------------------------------------------------
# The client makes its 100 MB before it sends (seconds on a busy machine):
# wait for the queue to fill, then for 8 more statistics lines (2 s). On
# every line, what the relay read less what it sent, its queue, stays under
# the bound: reading stops there.
spawn e.s $PEER serve --send 0 --seed 11
relay e.r --connect "127.0.0.1:$(port_of e.s)" --rate 8mbit --stats-every 0.25
spawn e.c $PEER client --port "$RPORT" --send $((100 * MB)) --seed 20
wait_match "$T/e.r.stats" '"up":\{[^}]*"queued":([5-9][0-9]{5}|[0-9]{7,})' 60
n0=$(wc -l <"$T/e.r.stats")
_i=0
while [ "$(wc -l <"$T/e.r.stats")" -lt $((n0 + 8)) ] && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$(pid_of e.r)/status")
kill -TERM "$(pid_of e.r)"
expect_exit "e: the relay exits 0 on SIGTERM" e.r 30 0
if python3 - "$T/e.r.stats" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
lines = [l for l in lines if not l["final"]]  # the final one: the queue dropped
bound = (1 << 20) + 65556
for l in lines:
    u = l["up"]
    assert u["plain_bytes"] - u["bytes_out"] == u["queued"] <= bound, l
q = max(l["up"]["queued"] for l in lines)
assert len(lines) >= 9 and q > 500_000, q
print("# most queued: %d bytes; read: %d, sent: %d" % (q, lines[-1]["up"]["plain_bytes"], lines[-1]["up"]["bytes_out"]))
PY
then ok "e: a fast sender into --rate 8mbit: reading stops at the queue's bound"
else notok "e: a fast sender into --rate 8mbit: reading stops at the queue's bound" "$(tail -n 3 "$T/e.r.stats")"; fi
if [ -n "$rss" ] && [ "$rss" -lt 32768 ]; then ok "e: ... and the relay's memory stays small (${rss} kB resident)"
else notok "e: the relay's memory stays small" "VmRSS ${rss:-?} kB"; fi

finish
