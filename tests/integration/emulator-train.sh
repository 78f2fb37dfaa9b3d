#!/bin/sh
# tests/integration/emulator-train.sh — examples/netem-2dc.sh, short: the
# HiPS job of examples/hips-wan.sh across a packet-level WAN (dc0 40 ms
# and dc1 80 ms from the center one way, 0.5 % loss each way, through
# geomx-netem), 20 steps on 4000 Fashion-MNIST images.
#   - Every worker's reports are the same bits as the job's on loopback
#     (--no-wan): the emulator delays and drops packets, TCP retransmits
#     them, and the training sees nothing but time.
#   - The WAN is there: each step waits for dc1's round trip, 160 ms, so
#     20 steps take at least 3.2 s (the loopback job takes a fraction of
#     that), and the emulator lost some packets on every direction.
#   - SIGTERM to the script mid-job: status 143; SIGINT to its process
#     group (Ctrl-C): status 130. Either way every process it started,
#     geomx-netem included, ends and no namespace is left.
# Skips (77) without root, namespaces, TUN or Fashion-MNIST.
. "${GX_TOP:-.}/tests/integration/lib.sh"
. "$GX_TOP/scripts/netns.sh"
need_python
need_fashion_mnist
gx_ns_check tun || exit $?
for p in geomx-ps geomx-train geomx-relay geomx-netem; do
	command -v $p >/dev/null 2>&1 || { echo "$p not built"; exit 77; }
done
BUILD=$(dirname "$(dirname "$(command -v geomx-netem)")")
export BUILD
ARGS="--limit 4000 --test-limit 2000 --steps 20"
P0=$GX_NS_PREFIX
P1=${P0}a P2=${P0}b P3=${P0}c
trap 'for p in $P1 $P2 $P3; do GX_NS_PREFIX=$p gx_ns_down; done; cleanup' EXIT
left() { ip netns list | awk -v p="$1-" 'index($1, p) == 1 { print $1 }' | tr '\n' ' '; }
netems() { pgrep -f "geomx-netem --tun gxem" | tr '\n' ' '; }
before=$(netems)

# shellcheck disable=SC2086
sh "$GX_TOP/examples/hips-wan.sh" --no-wan $ARGS --reports "$T/plain" >"$T/plain.out" 2>"$T/plain.err"
rc=$?
if [ $rc -eq 0 ]; then ok "the job on loopback (--no-wan) exits 0"
else notok "the job on loopback (--no-wan) exits 0" "rc $rc: $(tail -c 400 "$T/plain.err")"; fi

# shellcheck disable=SC2086
GX_NS_PREFIX=$P1 sh "$GX_TOP/examples/netem-2dc.sh" $ARGS --reports "$T/wan" >"$T/wan.out" 2>"$T/wan.err"
rc=$?
if [ $rc -eq 0 ]; then ok "the job across the packet-level WAN exits 0"
else notok "the job across the packet-level WAN exits 0" "rc $rc: $(tail -c 400 "$T/wan.err")"; fi
sed 's/^/# /' "$T/wan.out"

same=1
for w in w00 w01 w10 w11; do
	cut -f 1,2,4,8,9,10 "$T/plain/$w.tsv" >"$T/$w.plain" 2>/dev/null
	cut -f 1,2,4,8,9,10 "$T/wan/$w.tsv" >"$T/$w.wan" 2>/dev/null
	if [ "$(tail -n 1 "$T/$w.plain" | cut -f 1)" != 20 ] || ! cmp -s "$T/$w.plain" "$T/$w.wan"; then
		same=0
		notok "every worker's reports are the same bits across the lossy WAN" \
			"$w differs: $(diff "$T/$w.plain" "$T/$w.wan" | head -n 4 | tr '\n' '|')"
		break
	fi
done
[ $same = 1 ] && ok "every worker's reports are the same bits across the lossy WAN (20 steps, test accuracy $(tail -n 1 "$T/w00.wan" | cut -f 6))"

wall=$(sed -n 's/^wall time: *\([0-9.]*\) s$/\1/p' "$T/wan.out")
if awk -v w="$wall" 'BEGIN { exit !(w != "" && w >= 3.2) }'; then
	ok "20 steps take at least 20 x dc1's 160 ms round trip ($wall s)"
else
	notok "20 steps take at least 20 x 160 ms" "wall time '$wall'"
fi
n=$(grep -c '^WAN packets, .* in, [1-9][0-9]* lost' "$T/wan.out")
if [ "$n" -eq 4 ]; then ok "geomx-netem lost packets on all four directions of the WAN"
else notok "geomx-netem lost packets on all four directions of the WAN" "$(grep '^WAN packets' "$T/wan.out" | tr '\n' '|')"; fi
l=$(left "$P1")
if [ -z "$l" ] && [ "$(netems)" = "$before" ]; then ok "no namespace and no geomx-netem left after the job"
else notok "no namespace and no geomx-netem left after the job" "namespaces '$l', emulators '$(netems)'"; fi

# stop_mid NAME PREFIX SIGNAL TARGET WANT — starts the example (100 steps)
# in its own process group, waits until all 10 processes of the job and
# geomx-netem run in its namespaces, sends SIGNAL to TARGET (pid: the
# script; group: its process group), and checks status WANT and that
# nothing is left.
stop_mid() {
	spawn "$1" env GX_NS_PREFIX="$2" python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setpgid(0, 0)
os.execvp(sys.argv[1], sys.argv[1:])' sh "$GX_TOP/examples/netem-2dc.sh" --limit 4000 --test-limit 2000 --steps 100
	_sp=$PID
	_i=0
	while [ "$(GX_NS_PREFIX=$2 gx_ns_pids | wc -l)" -lt 11 ] && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
	_in=$(GX_NS_PREFIX=$2 gx_ns_pids | tr '\n' ' ')
	if [ "$4" = group ]; then kill "-$3" "-$_sp"; else kill "-$3" "$_sp"; fi
	wait_pid "$_sp" 30
	_alive=""
	for p in $_in; do kill -0 "$p" 2>/dev/null && _alive="$_alive $p"; done
	_l=$(left "$2")
	if [ "$(echo "$_in" | wc -w)" -ge 11 ] && [ "$WRC" -eq "$5" ] && [ -z "$_l" ] && [ -z "$_alive" ] &&
		[ "$(netems)" = "$before" ]; then
		ok "SIG$3 to the $4 mid-job: status $5, the $(echo "$_in" | wc -w) processes in the namespaces (geomx-netem too) end, no namespace left"
	else
		notok "SIG$3 to the $4 mid-job: status $5, everything ends, nothing left" \
			"status $WRC; inside before: '$_in', alive after: '$_alive'; namespaces left: '$_l'" \
			"$(tail -c 300 "$T/$1.err")"
	fi
}
stop_mid term "$P2" TERM script 143
stop_mid int "$P3" INT group 130

finish
