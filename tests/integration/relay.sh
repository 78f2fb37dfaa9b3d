#!/bin/sh
# tests/integration/relay.sh — geomx-relay forwards byte streams intact:
#  a. one relay: a few MB each way at once, checked at both ends (sha256);
#  b. relay pairs (an edge relay toward a center relay): plain, --zstd (on
#     text, and on data zstd shrinks a hundredfold, so decompression stops
#     and resumes as the queue fills and empties), --secure, --secure with
#     --zstd; the same checks, and the statistics
#     say what crossed the link between them (sealed records: more bytes
#     than the plaintext; zstd on compressible data: fewer);
#  c. 8 connections at once through the encrypted, compressed pair;
#  d. the far side down when a connection comes: the relay says what it
#     waits for, holds the connection, and forwards it once the far side
#     is up;
#  e. the far side never comes: after --connect-timeout the connection is
#     closed with a line that says why, and the relay serves on;
#  f. the far side dies mid-stream: the near side is reset, one line names
#     both ends, and the relay serves the next connection; and (f2) the
#     far side's reset is seen while reading it is paused by a full queue;
#  g. a relay pair whose ends disagree about --zstd: the one that expects
#     zstd and gets something else says so and closes the connection;
#  h. SIGTERM: status 0 and a final statistics line, connections open or not.
# Peers: tests/integration/relay-peer.py. Loopback, ephemeral ports, every
# process reaped (lib.sh).
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
command -v geomx-relay >/dev/null 2>&1 || { echo "geomx-relay not built"; exit 77; }
PEER="python3 $GX_TOP/tests/integration/relay-peer.py"
MB=1000000

geomx-relay --genkey "$T/job.key" || { notok "genkey"; finish; }

# free_port — a port nobody listens on: bound by the kernel, then released.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# sha N SEED KIND — the sha256 of relay-peer.py's data.
sha() { $PEER sha --bytes "$1" --seed "$2" --kind "$3"; }
# stat_json FILE EXPR — EXPR (Python, over the last line s) of a relay's
# statistics, which must be its final line; a tuple's items separated by
# blanks.
stat_json() {
	python3 -c 'import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert s["final"]
v = eval(sys.argv[2])
print(*v) if isinstance(v, tuple) else print(v)' "$1" "$2" 2>/dev/null
}
# relay NAME ARGS... — spawns geomx-relay --listen 127.0.0.1:0 ARGS (stats
# in $T/NAME.stats); sets RPORT.
relay() {
	_rn=$1
	shift
	spawn "$_rn" geomx-relay --listen 127.0.0.1:0 --stats "$T/$_rn.stats" "$@"
	RPORT=$(port_of "$_rn")
}
# stop TEST NAME... — SIGTERM to the relays NAME..., then each must exit 0.
stop() {
	_st=$1
	shift
	for _s in "$@"; do kill -TERM "$(pid_of "$_s")" 2>/dev/null; done
	expect_all "$_st: the relays exit 0 on SIGTERM" 30 0 "$@"
}
# xfer NAME PORT UP DOWN KIND COUNT — COUNT clients through PORT to the
# stream server NAME.s (which sends DOWN bytes of seed 11), each sending UP
# bytes (seed 20 + i); checks what each client read and what the server read.
xfer() {
	_xn=$1 _xp=$2 _xu=$3 _xd=$4 _xk=$5 _xc=$6
	if $PEER client --port "$_xp" --send "$_xu" --seed 20 --kind "$_xk" --count "$_xc" \
		--expect "$_xd" --expect-seed 11 --expect-kind "$_xk" >"$T/$_xn.client" 2>&1; then
		ok "$_xn: $_xc client(s) read the $((_xd / 1000)) kB the server sent, intact"
	else
		notok "$_xn: $_xc client(s) read the $((_xd / 1000)) kB the server sent, intact" \
			"$(tr '\n' '|' <"$T/$_xn.client" | head -c 600)"
	fi
	_xi=0 _xbad=""
	while [ $_xi -lt "$_xc" ]; do
		_want="recv $_xu $(sha "$_xu" $((20 + _xi)) "$_xk")"
		wait_match "$T/$_xn.s.out" "^conn [0-9]+ $_want$" 30 || _xbad="$_xbad $_xi"
		_xi=$((_xi + 1))
	done
	if [ -z "$_xbad" ]; then
		ok "$_xn: the server read each client's $((_xu / 1000)) kB, intact (sha256)"
	else
		notok "$_xn: the server read each client's $((_xu / 1000)) kB, intact (sha256)" \
			"missing clients:$_xbad" "$(tr '\n' '|' <"$T/$_xn.s.out")"
	fi
}

# --- a. one relay --------------------------------------------------------
spawn a.s $PEER serve --send $((3 * MB)) --seed 11
relay a.r --connect "127.0.0.1:$(port_of a.s)"
xfer a "$RPORT" $((4 * MB)) $((3 * MB)) random 1
stop a a.r
if [ "$(stat_json "$T/a.r.stats" 's["up"]["plain_bytes"], s["down"]["plain_bytes"], s["closed"], s["aborted"]')" = \
	"$((4 * MB)) $((3 * MB)) 1 0" ]; then
	ok "a: the statistics count the bytes each way and one connection closed in order"
else
	notok "a: the statistics count the bytes each way and one connection closed in order" "$(tail -n 1 "$T/a.r.stats")"
fi

# --- b. relay pairs ------------------------------------------------------
# pair NAME KIND "CENTER ARGS" "EDGE ARGS"
pair() {
	_pn=$1 _pk=$2
	spawn "$_pn.s" $PEER serve --send $((3 * MB)) --seed 11 --kind "$_pk"
	# shellcheck disable=SC2086
	relay "$_pn.c" --connect "127.0.0.1:$(port_of "$_pn.s")" $3
	# shellcheck disable=SC2086
	relay "$_pn.e" --connect "127.0.0.1:$RPORT" $4
	xfer "$_pn" "$RPORT" $((4 * MB)) $((3 * MB)) "$_pk" 1
	stop "$_pn" "$_pn.e" "$_pn.c"
	EUP=$(stat_json "$T/$_pn.e.stats" 's["up"]["bytes_out"]')
	EPLAIN=$(stat_json "$T/$_pn.e.stats" 's["up"]["plain_bytes"]')
	CIN=$(stat_json "$T/$_pn.c.stats" 's["up"]["bytes_in"]')
	if [ -n "$EUP" ] && [ "$EUP" = "$CIN" ]; then
		ok "$_pn: what the edge relay sent is what the center relay read ($EUP bytes)"
	else
		notok "$_pn: what the edge relay sent is what the center relay read" "edge $EUP, center $CIN"
	fi
}
K="--key $T/job.key"
pair b-plain random "" ""
if [ "$EUP" = "$EPLAIN" ]; then ok "b-plain: no options, the bytes pass unchanged"
else notok "b-plain: no options, the bytes pass unchanged" "wire $EUP, plaintext $EPLAIN"; fi
pair b-zstd text "--zstd --wan listen" "--zstd"
if [ -n "$EUP" ] && [ "$EUP" -lt $((EPLAIN / 2)) ]; then
	ok "b-zstd: zstd carried $((EPLAIN / 1000)) kB of text in $((EUP / 1000)) kB"
else
	notok "b-zstd: zstd carried the text in fewer bytes" "wire $EUP, plaintext $EPLAIN"
fi
# Data that zstd shrinks a hundredfold: the center relay's decompressor
# fills its queue many times over from one read, and must go on from where
# it stopped whenever the queue has room again.
pair b-expand sparse "--zstd=3 --wan listen --queue 128Ki" "--zstd=3 --queue 128Ki"
if [ -n "$EUP" ] && [ "$EUP" -lt $((EPLAIN / 20)) ]; then
	ok "b-expand: $((EPLAIN / 1000)) kB of mostly zeros in $((EUP / 1000)) kB, expanded back intact"
else
	notok "b-expand: mostly zeros compressed twentyfold at least" "wire $EUP, plaintext $EPLAIN"
fi
pair b-secure random "$K --secure listen" "$K"
if [ -n "$EUP" ] && [ "$EUP" -gt "$EPLAIN" ] &&
	[ "$(stat_json "$T/b-secure.c.stats" 's["handshakes"], s["handshake_failures"]')" = "1 0" ]; then
	ok "b-secure: one handshake, records ($EUP bytes on the link for $EPLAIN)"
else
	notok "b-secure: one handshake, records" "wire $EUP, plaintext $EPLAIN" "$(tail -n 1 "$T/b-secure.c.stats")"
fi
pair b-both text "$K --secure listen --zstd" "$K --zstd"
if [ -n "$EUP" ] && [ "$EUP" -lt $((EPLAIN / 2)) ]; then
	ok "b-both: sealed and compressed: $((EPLAIN / 1000)) kB of text in $((EUP / 1000)) kB"
else
	notok "b-both: sealed and compressed" "wire $EUP, plaintext $EPLAIN"
fi

# --- c. concurrent connections -------------------------------------------
spawn c.s $PEER serve --send $((1 * MB)) --seed 11 --kind text
relay c.c --connect "127.0.0.1:$(port_of c.s)" $K --secure listen --zstd
relay c.e --connect "127.0.0.1:$RPORT" $K --zstd
xfer c "$RPORT" $((2 * MB)) $((1 * MB)) text 8
stop c c.e c.c
if [ "$(stat_json "$T/c.c.stats" 's["accepted"], s["closed"], s["handshakes"]')" = "8 8 8" ]; then
	ok "c: the center relay accepted, authenticated and closed 8 connections in order"
else
	notok "c: the center relay accepted, authenticated and closed 8 connections in order" "$(tail -n 1 "$T/c.c.stats")"
fi

# --- d. the far side down at first ---------------------------------------
F=$(free_port)
relay d.r --connect "127.0.0.1:$F" --connect-timeout 20
$PEER client --port "$RPORT" --send 200000 --seed 20 --expect 300000 --expect-seed 11 >"$T/d.client" 2>&1 &
dclient=$!
if wait_match "$T/d.r.err" "^geomx-relay: waiting for 127\.0\.0\.1:$F \(connection refused\); holding 1 connection$" 30; then
	ok "d: the relay says what it waits for and that it holds the connection"
else
	notok "d: the relay says what it waits for" "$(tr '\n' '|' <"$T/d.r.err")"
fi
sleep 0.5
spawn d.s $PEER serve --port "$F" --send 300000 --seed 11
wait_pid $dclient 40
if [ "$WRC" -eq 0 ]; then ok "d: once the far side is up, the held connection is forwarded intact"
else notok "d: once the far side is up, the held connection is forwarded intact" "$(tr '\n' '|' <"$T/d.client")"; fi
expect_match "d: the relay says the far side is reachable" "$T/d.r.err" "^geomx-relay: 127\.0\.0\.1:$F is reachable$"

# --- e. the far side never comes -----------------------------------------
F=$(free_port)
relay e.r --connect "127.0.0.1:$F" --connect-timeout 1
t0=$(now_ms)
$PEER client --port "$RPORT" --send 1000 --expect 1000 >"$T/e.client" 2>&1
ms=$(($(now_ms) - t0))
# Never before the timeout (the relay's clock starts after t0); the upper
# bound only tells 1 s from the default (30 s) on a busy machine.
if grep -q "BAD" "$T/e.client" && [ $ms -ge 990 ] && [ $ms -le 15000 ]; then
	ok "e: the held connection is closed after --connect-timeout 1 ($ms ms)"
else
	notok "e: the held connection is closed after --connect-timeout 1" "after $ms ms: $(cat "$T/e.client")"
fi
expect_match "e: one line says why" "$T/e.r.err" \
	"^geomx-relay: conn 1 \(127\.0\.0\.1:[0-9]+ > 127\.0\.0\.1:$F\): 127\.0\.0\.1:$F unreachable: connection refused \(gave up after 1 s\); closing 127\.0\.0\.1:[0-9]+$"
spawn e.s $PEER serve --port "$F" --send 1000 --seed 11
port_of e.s >/dev/null
if $PEER client --port "$RPORT" --send 1000 --expect 1000 --expect-seed 11 >"$T/e.client2" 2>&1; then
	ok "e: the relay serves on: the next connection is forwarded"
else
	notok "e: the relay serves on: the next connection is forwarded" "$(cat "$T/e.client2")"
fi

# --- f. the far side dies mid-stream ---------------------------------------
spawn f.s $PEER serve --send $((100 * MB)) --seed 11
S=$(port_of f.s)
relay f.r --connect "127.0.0.1:$S" --rate 200mbit --stats-every 0.1
# The client keeps sending (400 MB at 200 Mbit/s: 16 s), so the relay
# writes to the dying server all along and learns of its death from the
# next write. The server is killed once the client's bytes flow (the
# client makes its data first, which takes a while on a busy machine).
$PEER client --port "$RPORT" --send $((400 * MB)) --seed 20 --expect 1 >"$T/f.client" 2>&1 &
fclient=$!
wait_match "$T/f.r.stats" '"up":\{"bytes_in":[0-9]+,"bytes_out":[1-9]' 60
kill -KILL "$(pid_of f.s)"
t0=$(now_ms)
# Either a reset reaches the client, or the end of the bytes the server
# sent and then a reset (the relay resets the near side as soon as it
# learns; the contract bounds no time, but well before the client is done
# sending, 16 s).
wait_pid $fclient 12
ms=$(($(now_ms) - t0))
if [ "$WRC" -ne 124 ] && grep -Eq "BAD (recv|send)" "$T/f.client"; then
	ok "f: the near side is closed when the far side dies ($ms ms; client: $(head -c 80 "$T/f.client"))"
else
	notok "f: the near side is closed when the far side dies" "after $ms ms: $(cat "$T/f.client")"
fi
expect_match "f: one line names both ends and what happened" "$T/f.r.err" \
	"^geomx-relay: conn 1 \(127\.0\.0\.1:[0-9]+ > 127\.0\.0\.1:$S\): 127\.0\.0\.1:$S (reset|closed) the connection; closing both sides$"
spawn f.s2 $PEER serve --port "$S" --send 1000 --seed 11
port_of f.s2 >/dev/null
if $PEER client --port "$RPORT" --send 1000 --expect 1000 --expect-seed 11 >"$T/f.client2" 2>&1; then
	ok "f: the relay serves the next connection"
else
	notok "f: the relay serves the next connection" "$(cat "$T/f.client2")"
fi

# --- f2. the far side resets while the relay neither reads nor writes it --
# The client neither reads nor sends after its first bytes: the relay's
# queue toward it fills (so it stops reading the server) and nothing waits
# to go up. The server dies with those bytes unread, so its kernel resets
# the connection; the relay must see the reset then, not when the client
# next reads or sends (it holds its connection 60 s).
spawn f2.s $PEER serve --mode deaf --send $((20 * MB)) --seed 11
S=$(port_of f2.s)
relay f2.r --connect "127.0.0.1:$S" --queue 128Ki --stats-every 0.1
spawn f2.c $PEER idle --port "$RPORT" --count 1 --bytes 1000 --hold 60
wait_match "$T/f2.r.stats" '"up":\{"bytes_in":1000,"bytes_out":1000,.*"down":\{[^}]*"queued":([6-9][0-9]{4}|[0-9]{6,})' 30
kill -KILL "$(pid_of f2.s)"
if wait_match "$T/f2.r.err" "^geomx-relay: conn 1 \(127\.0\.0\.1:[0-9]+ > 127\.0\.0\.1:$S\): 127\.0\.0\.1:$S reset the connection; closing both sides$" 20; then
	ok "f2: a reset from the far side is seen while the relay's reading of it is paused"
else
	notok "f2: a reset from the far side is seen while the relay's reading of it is paused" \
		"$(tr '\n' '|' <"$T/f2.r.err")" "$(tail -n 1 "$T/f2.r.stats")"
fi

# --- g. --zstd at one end only ---------------------------------------------
spawn g.s $PEER serve --send 1000 --seed 11
relay g.c --connect "127.0.0.1:$(port_of g.s)" --zstd --wan listen
relay g.e --connect "127.0.0.1:$RPORT"
$PEER client --port "$RPORT" --send 1000 --expect 1000 >"$T/g.client" 2>&1
expect_match "g: the center relay (--zstd) gets no zstd and says so" "$T/g.c.err" \
	"^geomx-relay: conn 1 \(.*\): 127\.0\.0\.1:[0-9]+ does not send zstd data: no --zstd there \(every relay of a pair needs --zstd\); closing both sides$"
if grep -q BAD "$T/g.client"; then ok "g: ... and the client's connection is closed"
else notok "g: ... and the client's connection is closed" "$(cat "$T/g.client")"; fi
# Straight from a program speaking geomx frames.
$PEER raw --port "$(cat "$T/g.c.out")" --text "GXFR and the rest of a frame" >"$T/g.raw" 2>&1
expect_match "g: geomx frames where zstd was expected are named as such" "$T/g.c.err" \
	"sends plain geomx frames, not zstd: no --zstd there"
# The other way round, over a secure pair: the edge compresses, the center
# does not expect it and warns (it cannot tell zstd from payload for sure).
# An echo server: nothing comes down before the center relay has judged
# what came up (a stream server's bytes would reach the edge relay, which
# expects zstd, and it would close the connection first).
spawn g2.s $PEER serve --mode echo
relay g2.c --connect "127.0.0.1:$(port_of g2.s)" $K --secure listen
relay g2.e --connect "127.0.0.1:$RPORT" $K --zstd
$PEER client --port "$RPORT" --send 1000 --seed 20 --expect 1000 --expect-seed 20 >"$T/g2.client" 2>&1
expect_match "g: a relay without --zstd receiving zstd from its secure peer warns" "$T/g2.c.err" \
	"^geomx-relay: conn 1 \(.*\): 127\.0\.0\.1:[0-9]+ sends zstd data: if it is a relay with --zstd, this one needs --zstd too"

# --- h. SIGTERM with a connection open ---------------------------------------
spawn h.s $PEER serve --mode echo
relay h.r --connect "127.0.0.1:$(port_of h.s)" --stats-every 0.2
spawn h.c $PEER idle --port "$RPORT" --count 2 --hold 60
wait_match "$T/h.r.stats" '"open":2' 30
kill -TERM "$(pid_of h.r)"
expect_exit "h: SIGTERM with 2 connections open: status 0" h.r 30 0
expect_match "h: ... saying it closes them" "$T/h.r.err" "^geomx-relay: stopped by SIGTERM: closing 2 connections$"
if [ "$(stat_json "$T/h.r.stats" 's["open"], s["aborted"]')" = "0 2" ]; then
	ok "h: ... and a final statistics line"
else
	notok "h: ... and a final statistics line" "$(tail -n 1 "$T/h.r.stats")"
fi


# --- i. under --rate, the sources' kernel buffers stay small --------------
# Otherwise the kernel buffers megabytes in front of the emulated link, a
# FIFO no sender's priority can reach past (docs/design.md): the relay
# bounds the receive buffer of both of its sides to a millisecond of the
# link (100 Mbit/s: 16Ki, the least, which the kernel doubles) and asks
# for segments of 8 KiB. ss(8) tells a socket's receive buffer (rb).
# rb_of FILTER — the receive buffer of the one established socket FILTER names.
rb_of() { ss -tmnH state established "$1" 2>/dev/null | sed -n 's/.*skmem:(.*rb\([0-9]*\),.*/\1/p' | head -n 1; }
if ! command -v ss >/dev/null 2>&1; then
	echo "skip i: the relay's receive buffers: no ss (Debian's iproute2)"
else
	spawn i.s $PEER serve --mode echo --print-mss
	S=$(port_of i.s)
	relay i.r --connect "127.0.0.1:$S" --rate 100mbit
	spawn i.c $PEER idle --port "$RPORT" --count 1 --hold 60
	wait_match "$T/i.s.out" "^conn 0 mss " 30
	rb_near=$(rb_of "( sport = :$RPORT )") rb_far=$(rb_of "( dport = :$S )")
	m_srv=$(sed -n 's/^conn 0 mss //p' "$T/i.s.out")
	if [ "${rb_near:-0}" -gt 0 ] && [ "$rb_near" -le 65536 ] && [ "${rb_far:-0}" -gt 0 ] && [ "$rb_far" -le 65536 ]; then
		ok "i: with --rate 100mbit the relay receives into 64 KiB at most on both sides (near $rb_near, far $rb_far)"
	else
		notok "i: with --rate 100mbit the relay receives into 64 KiB at most on both sides" "near: '$rb_near', far: '$rb_far'"
	fi
	if [ "${m_srv:-99999}" -le 8192 ]; then
		ok "i: ... and the server sends it segments of 8 KiB at most ($m_srv)"
	else
		notok "i: ... and the server sends it segments of 8 KiB at most" "$m_srv"
	fi
	kill -TERM "$(pid_of i.c)" 2>/dev/null
	relay i.r2 --connect "127.0.0.1:$S"
	spawn i.c2 $PEER idle --port "$RPORT" --count 1 --hold 60
	wait_match "$T/i.s.out" "^conn 1 mss " 30
	rb_free=$(rb_of "( sport = :$RPORT )")
	if [ "${rb_free:-0}" -gt 65536 ]; then
		ok "i: without --rate, the kernel's own ($rb_free)"
	else
		notok "i: without --rate, the kernel's own" "rb '$rb_free'"
	fi
	kill -TERM "$(pid_of i.c2)" 2>/dev/null
fi

finish
