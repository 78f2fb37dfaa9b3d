#!/bin/sh
# tests/integration/netns-hips.sh — a HiPS job across network namespaces
# (scripts/netns.sh): the global server in the center namespace behind a
# geomx-relay --secure listen; in each of two data-center namespaces a local
# server and two synthetic workers (geomx-bench worker) on the DC's
# loopback, and a geomx-relay --secure connect at the DC's edge, so every
# byte between the data centers and the center crosses a veth link inside
# relay-to-relay records sealed with the job's key (geomx-relay --genkey).
# The job must end as on loopback (tests/integration/hips-exact.sh): every
# worker holds the same parameters, bit for bit what
# tests/integration/oracle.py computes. The relays' statistics must agree
# with each other and with the servers': what the DC relays sealed is what
# the center relay opened, more than the plaintext it carries, and the
# plaintext is what the global server counted; the veth links carried at
# least those bytes. A peer without the key (plaintext geomx) is refused at
# the center's WAN address. Afterwards no namespace of the run and no process is
# left. Skips (77) without root or namespaces.
. "${GX_TOP:-.}/tests/integration/lib.sh"
. "$GX_TOP/scripts/netns.sh"
need_python
gx_ns_check || exit $?
command -v geomx-relay >/dev/null 2>&1 || { echo "geomx-relay not built"; exit 77; }
trap 'gx_ns_down; cleanup' EXIT
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
SIZES=1,10,1000,50000
NBLOCKS=$(blocks_of "$SIZES") # what a round updates, at the default --block
R=6

# nspawn NAME NS CMD... — spawn (lib.sh) CMD inside namespace NS.
nspawn() {
	_sn=$1 _ns=$2
	shift 2
	spawn "$_sn" ip netns exec "$(gx_ns_name "$_ns")" "$@"
}
# relay_field FILE EXPR — EXPR (Python, over the object s) of the relay's
# last statistics line, which must be its final one.
relay_field() {
	python3 -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
s = json.loads(lines[-1])
assert s["final"], "the last line is not the final one"
print(eval(sys.argv[2]))' "$1" "$2"
}

if gx_ns_up dc0 dc1; then ok "gx_ns_up: a center and two data-center namespaces"
else notok "gx_ns_up: a center and two data-center namespaces"; finish; fi
CENTER=$(gx_ns_addr center)

if geomx-relay --genkey "$T/job.key" 2>"$T/genkey.err" && [ "$(stat -c %a "$T/job.key")" = 600 ]; then
	ok "geomx-relay --genkey writes the job's key, mode 0600"
else
	notok "geomx-relay --genkey writes the job's key, mode 0600" "$(cat "$T/genkey.err")"
fi
KEY="--key $T/job.key"

# Center: the global server on its loopback, the relay on the WAN address.
nspawn g center geomx-ps --role global --parties 2 --optimizer sgd --lr 0.5 \
	--stats "$T/g.stats"
G=$(port_of g)
# shellcheck disable=SC2086
nspawn rc center geomx-relay --listen "$CENTER:0" --connect "127.0.0.1:$G" $KEY --secure listen \
	--stats "$T/rc.stats"
RC=$(port_of rc)
# Each DC: its edge relay, the local server behind it, two workers.
for d in 0 1; do
	# shellcheck disable=SC2086
	nspawn "r$d" "dc$d" geomx-relay --listen 127.0.0.1:0 --connect "$CENTER:$RC" $KEY --secure connect \
		--stats "$T/r$d.stats"
done
for d in 0 1; do
	E=$(port_of "r$d")
	nspawn "l$d" "dc$d" geomx-ps --role local --party $d --workers 2 --upstream "127.0.0.1:$E" \
		--stats "$T/l$d.stats"
done
for d in 0 1; do
	L=$(port_of "l$d")
	for r in 0 1; do
		nspawn "w$d$r" "dc$d" geomx-bench worker --ps "127.0.0.1:$L" --party $d --rank $r \
			--sizes "$SIZES" --rounds "$R" --dump "$T/w$d$r" -q
	done
done
expect_all "the workers, the local servers and the global server exit 0 by themselves" 40 0 \
	w00 w01 w10 w11 l0 l1 g

same=1
for x in "" .init .final; do
	for pw in 01 10 11; do
		cmp -s "$T/w00$x" "$T/w$pw$x" || { same=0; notok "the four workers' dumps are identical" \
			"w$pw$x differs from w00$x"; break 2; }
	done
done
[ $same = 1 ] && ok "the four workers' dumps are identical (rounds, start, end)"
if $ORACLE hips --sizes "$SIZES" --parties 2 --workers 2 --rounds "$R" --optimizer sgd --lr 0.5 \
	--init "$T/w00.init" --dump "$T/w00" --final "$T/w00.final" >"$T/oracle" 2>&1; then
	ok "every round's CRC-32C and the final parameters match the oracle bit for bit"
else
	notok "every round's CRC-32C and the final parameters match the oracle bit for bit" \
		"$(tr '\n' '|' <"$T/oracle")"
fi
got="global rounds $(stat_field "$T/g.stats" rounds 2) updates $(stat_field "$T/g.stats" updates 2)"
got="$got, locals rounds $(stat_field "$T/l0.stats" rounds 2) $(stat_field "$T/l1.stats" rounds 2)"
want="global rounds $R updates $((R * NBLOCKS)), locals rounds $R $R"
if [ "$got" = "$want" ]; then ok "the servers count $R rounds of $NBLOCKS blocks"
else notok "the servers count $R rounds of $NBLOCKS blocks" "got:  $got" "want: $want"; fi

# The center's WAN entrance takes key holders only: a peer in dc0 that
# speaks plaintext geomx (a 64-byte frame header) is closed without an
# answer.
if gx_ns_exec dc0 python3 -c 'import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GXFR" + bytes(60))
try:
    sys.exit(0 if s.recv(1024) == b"" else 1)
except ConnectionResetError:
    sys.exit(0)' "$CENTER" "$RC" 2>"$T/intruder.err" &&
	wait_match "$T/rc.err" 'plaintext' 5; then
	ok "a plaintext peer at the center's WAN address is refused (\"$(grep -m 1 -o 'peer speaks plaintext[^)]*)' "$T/rc.err")\")"
else
	notok "a plaintext peer at the center's WAN address is refused" "$(cat "$T/intruder.err")" \
		"center relay: $(tail -c 300 "$T/rc.err")"
fi

# The relays serve until told to stop: SIGTERM, status 0, a final line.
for n in r0 r1 rc; do kill -TERM "$(pid_of $n)" 2>/dev/null; done
expect_all "the relays exit 0 on SIGTERM" 10 0 r0 r1 rc
if [ -z "$(gx_ns_pids)" ]; then ok "no process is left in the namespaces"
else notok "no process is left in the namespaces" "$(gx_ns_pids | tr '\n' ' ')"; fi

# The global server's links: the center relay's two connections.
gin=$(awk -F '\t' '$1 == "link" && $3 == "local" { s += $4 } END { print s + 0 }' "$T/g.stats")
gout=$(awk -F '\t' '$1 == "link" && $3 == "local" { s += $5 } END { print s + 0 }' "$T/g.stats")
up0=$(relay_field "$T/r0.stats" 's["up"]["bytes_out"]')
up1=$(relay_field "$T/r1.stats" 's["up"]["bytes_out"]')
dn0=$(relay_field "$T/r0.stats" 's["down"]["bytes_in"]')
dn1=$(relay_field "$T/r1.stats" 's["down"]["bytes_in"]')
pup=$(($(relay_field "$T/r0.stats" 's["up"]["plain_bytes"]') + $(relay_field "$T/r1.stats" 's["up"]["plain_bytes"]')))
pdn=$(($(relay_field "$T/r0.stats" 's["down"]["plain_bytes"]') + $(relay_field "$T/r1.stats" 's["down"]["plain_bytes"]')))
cin=$(relay_field "$T/rc.stats" 's["up"]["bytes_in"]')
cout=$(relay_field "$T/rc.stats" 's["down"]["bytes_out"]')
cpin=$(relay_field "$T/rc.stats" 's["up"]["plain_bytes"]')
cpout=$(relay_field "$T/rc.stats" 's["down"]["plain_bytes"]')
hs="$(relay_field "$T/r0.stats" '(s["accepted"], s["handshakes"], s["handshake_failures"])')"
hs="$hs $(relay_field "$T/r1.stats" '(s["accepted"], s["handshakes"], s["handshake_failures"])')"
hs="$hs $(relay_field "$T/rc.stats" '(s["accepted"], s["handshakes"], s["handshake_failures"])')"
if [ "$hs" = "(1, 1, 0) (1, 1, 0) (3, 2, 1)" ]; then
	ok "one secure link per data center and the intruder's failure (accepted, handshakes, failures: $hs)"
else
	notok "one secure link per data center and the intruder's failure" \
		"got $hs, want (1, 1, 0) (1, 1, 0) (3, 2, 1)"
fi
# The center read the intruder's 64 bytes too.
if [ "$cin" -eq $((up0 + up1 + 64)) ] && [ "$cout" -eq $((dn0 + dn1)) ]; then
	ok "the WAN bytes agree at both ends: $((cin / 1000)) kB up, $((cout / 1000)) kB down"
else
	notok "the WAN bytes agree at both ends" "up: DCs sent $up0 + $up1 (+ 64), center read $cin" \
		"down: center sent $cout, DCs read $dn0 + $dn1"
fi
if [ "$pup" -eq "$gin" ] && [ "$cpin" -eq "$gin" ] && [ "$pdn" -eq "$gout" ] && [ "$cpout" -eq "$gout" ] &&
	[ "$gin" -gt $((R * 51011 * 4 * 2)) ]; then
	ok "the plaintext the relays carried is what the global server counted ($gin B in, $gout B out)"
else
	notok "the plaintext the relays carried is what the global server counted" \
		"global in $gin out $gout; DC relays $pup $pdn; center relay $cpin $cpout"
fi
if [ $((up0 + up1)) -gt "$gin" ] && [ "$cout" -gt "$gout" ]; then
	ok "the WAN carried sealed records: $((up0 + up1 - gin)) + $((cout - gout)) bytes of handshakes and record overhead"
else
	notok "the WAN carried sealed records (more than the plaintext)" "WAN $((up0 + up1))/$cout, plaintext $gin/$gout"
fi
# The veth links (their DC ends) carried at least the relays' bytes.
vtx=0 vrx=0
for d in 0 1; do
	vtx=$((vtx + $(gx_ns_exec "dc$d" cat /sys/class/net/wan/statistics/tx_bytes)))
	vrx=$((vrx + $(gx_ns_exec "dc$d" cat /sys/class/net/wan/statistics/rx_bytes)))
done
if [ "$vtx" -ge "$cin" ] && [ "$vrx" -ge "$cout" ]; then
	ok "the DCs' veth links carried it: $((vtx / 1000)) kB out, $((vrx / 1000)) kB in"
else
	notok "the DCs' veth links carried it" "veth tx $vtx rx $vrx, relays $cin $cout"
fi

gx_ns_down
rc=$?
if [ $rc -eq 0 ] && [ -z "$(gx_ns_list)" ] && ! ip netns list | grep -q "^$GX_NS_PREFIX-"; then
	ok "gx_ns_down: no namespace named $GX_NS_PREFIX-* is left"
else
	notok "gx_ns_down: no namespace named $GX_NS_PREFIX-* is left" "rc $rc: $(ip netns list | tr '\n' ' ')"
fi
left=""
for p in $_pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
if [ -z "$left" ]; then ok "no process of the test is left"; else notok "no process of the test is left" "$left"; fi

finish
