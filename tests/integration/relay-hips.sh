#!/bin/sh
# tests/integration/relay-hips.sh — a whole HiPS job (as
# tests/integration/hips-exact.sh: one global server, here three data
# centers of a local server and two synthetic workers) with every WAN link
# through geomx-relay, the global server speaking only encrypted links
# (--key):
#   data center 0: local server -> edge relay --key (--secure connect),
#                  straight to the global server's secure protocol;
#   data center 1: local server -> edge relay --key --zstd, an emulated
#                  WAN (--delay 5ms --rate 1gbit) -> center relay --secure
#                  both --zstd --wan listen -> the global server;
#   data center 2: a local server with --key itself -> relay --secure both
#                  (the relay accepting a geomx program's secure link) ->
#                  the global server.
# The local servers and workers of data centers 0 and 1 run without a key:
# the relays hold it. The job must end as without relays: every process
# exits 0 by itself, every worker holds the same parameters, bit for bit
# what tests/integration/oracle.py computes. Then the relays exit 0 on
# SIGTERM and their statistics agree: both ends of data center 1's WAN link
# saw the same wire bytes and the same geomx frames.
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
command -v geomx-relay >/dev/null 2>&1 || { echo "geomx-relay not built"; exit 77; }
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
SIZES=1,10,1000,50000
R=6

geomx-relay --genkey "$T/job.key" || { notok genkey; finish; }
K="--key $T/job.key"
relay() {
	_rn=$1
	shift
	spawn "$_rn" geomx-relay --listen 127.0.0.1:0 --stats "$T/$_rn.stats" "$@"
	RPORT=$(port_of "$_rn")
}
# js FILE EXPR — EXPR (Python, over s) of a relay's final statistics line;
# a tuple's items separated by blanks.
js() {
	python3 -c 'import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert s["final"]
v = eval(sys.argv[2])
print(*v) if isinstance(v, tuple) else print(v)' "$1" "$2" 2>/dev/null
}

# shellcheck disable=SC2086
spawn j.g0 geomx-ps --role global --parties 3 $K --stats "$T/j.g0.stats"
G=$(port_of j.g0)
# shellcheck disable=SC2086
relay r0 --connect "127.0.0.1:$G" $K --secure connect
R0=$RPORT
# shellcheck disable=SC2086
relay rc --connect "127.0.0.1:$G" $K --secure both --zstd --wan listen
# shellcheck disable=SC2086
relay r1 --connect "127.0.0.1:$RPORT" $K --zstd --delay 5ms --rate 1gbit
R1=$RPORT
# shellcheck disable=SC2086
relay r2 --connect "127.0.0.1:$G" $K --secure both
R2=$RPORT
spawn j.l0 geomx-ps --role local --party 0 --workers 2 --upstream "127.0.0.1:$R0" --stats "$T/j.l0.stats"
spawn j.l1 geomx-ps --role local --party 1 --workers 2 --upstream "127.0.0.1:$R1" --stats "$T/j.l1.stats"
# shellcheck disable=SC2086
spawn j.l2 geomx-ps --role local --party 2 --workers 2 --upstream "127.0.0.1:$R2" $K \
	--stats "$T/j.l2.stats"
# shellcheck disable=SC2034 # start_workers reads LPORT0 and LPORT1
LPORT0=$(port_of j.l0)
# shellcheck disable=SC2034
LPORT1=$(port_of j.l1)
LPORT2=$(port_of j.l2)
start_workers j 2 2 --sizes "$SIZES" --rounds "$R" -q
for w in 0 1; do
	# shellcheck disable=SC2086
	spawn "j.w2$w" geomx-bench worker --ps "127.0.0.1:$LPORT2" --party 2 --rank $w $K \
		--dump "$T/j.w2$w" --sizes "$SIZES" --rounds "$R" -q
done
# shellcheck disable=SC2046
expect_all "the workers, the local servers and the global server exit 0 by themselves" \
	40 0 $(hips_names j 1 3 2)

same=1
for x in "" .init .final; do
	for pw in 01 10 11 20 21; do
		cmp -s "$T/j.w00$x" "$T/j.w$pw$x" || { same=0; notok "the six workers' dumps are identical" \
			"j.w$pw$x differs from j.w00$x"; break 2; }
	done
done
[ $same = 1 ] && ok "the six workers' dumps are identical (rounds, start, end)"
if $ORACLE hips --sizes "$SIZES" --parties 3 --workers 2 --rounds "$R" \
	--init "$T/j.w00.init" --dump "$T/j.w00" --final "$T/j.w00.final" >"$T/oracle" 2>&1; then
	ok "every round's CRC-32C and the final parameters match the oracle bit for bit"
	cat "$T/oracle"
else
	notok "every round's CRC-32C and the final parameters match the oracle bit for bit" \
		"$(tr '\n' '|' <"$T/oracle")"
fi

for n in r0 r1 rc r2; do kill -TERM "$(pid_of $n)" 2>/dev/null; done
expect_all "the relays exit 0 on SIGTERM" 10 0 r0 r1 rc r2

hs="$(js "$T/r0.stats" 's["handshakes"], s["handshake_failures"], s["closed"], s["aborted"]')"
hs="$hs / $(js "$T/rc.stats" 's["handshakes"], s["handshake_failures"], s["closed"], s["aborted"]')"
hs="$hs / $(js "$T/r2.stats" 's["handshakes"], s["handshake_failures"], s["closed"], s["aborted"]')"
if [ "$hs" = "1 0 1 0 / 2 0 1 0 / 2 0 1 0" ]; then
	ok "secure links: one per hop (relay to global server, local server to relay), all closed in order"
else
	notok "secure links: one per hop, all closed in order" \
		"handshakes failures closed aborted: got $hs, want 1 0 1 0 / 2 0 1 0 / 2 0 1 0"
fi
f0=$(js "$T/r0.stats" 's["up"]["frames"], s["down"]["frames"]')
if [ -n "$f0" ] && [ "${f0% *}" -gt $((R * 4)) ] && [ "${f0#* }" -gt $((R * 4)) ]; then
	ok "data center 0's relay counted the geomx frames it carried (up, down: $f0)"
else
	notok "data center 0's relay counted the geomx frames it carried" "up, down: ${f0:-none}"
fi
e1=$(js "$T/r1.stats" 's["up"]["bytes_out"], s["down"]["bytes_in"], s["up"]["frames"], s["down"]["frames"], s["up"]["plain_bytes"], s["down"]["plain_bytes"]')
c1=$(js "$T/rc.stats" 's["up"]["bytes_in"], s["down"]["bytes_out"], s["up"]["frames"], s["down"]["frames"], s["up"]["plain_bytes"], s["down"]["plain_bytes"]')
if [ -n "$e1" ] && [ "$e1" = "$c1" ]; then
	ok "data center 1's WAN link: both ends saw the same wire bytes, frames and plaintext ($e1)"
else
	notok "data center 1's WAN link: both ends saw the same wire bytes, frames and plaintext" "edge $e1" "center $c1"
fi
finish
