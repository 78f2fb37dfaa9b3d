#!/bin/sh
# tests/integration/netns-train.sh — examples/hips-wan.sh, short: four
# geomx-train workers (cnn, 4000 Fashion-MNIST images, 250 steps) in two
# data-center namespaces, the global PS in the center, relays sealing every
# WAN link with the job's key and emulating a 1 Gbit/s, 1 ms link. Every
# report of every worker (step, epoch, loss, parameter checksum, test loss,
# test accuracy) must be the same as in the same job on loopback without
# namespaces, relays or key (--no-wan): the protocol is deterministic, so
# the WAN harness changes nothing but time. The script must print the
# sealed WAN bytes, and leave no namespace behind on success, on a failing
# worker and on Ctrl-C (SIGINT to its process group: every process it
# started ends, status 130). Skips (77) without root, namespaces or
# Fashion-MNIST.
. "${GX_TOP:-.}/tests/integration/lib.sh"
. "$GX_TOP/scripts/netns.sh"
need_python
need_fashion_mnist
gx_ns_check || exit $?
for p in geomx-ps geomx-train geomx-relay; do
	command -v $p >/dev/null 2>&1 || { echo "$p not built"; exit 77; }
done
# hips-wan.sh finds the programs in $BUILD/bin.
BUILD=$(dirname "$(dirname "$(command -v geomx-relay)")")
export BUILD
WAN="sh $GX_TOP/examples/hips-wan.sh --limit 4000 --test-limit 2000"
P0=$GX_NS_PREFIX
# Each run of the script gets its own prefix, to look for its leftovers.
P1=${P0}a P2=${P0}b P3=${P0}c
trap 'for p in $P1 $P2 $P3; do GX_NS_PREFIX=$p gx_ns_down; done; cleanup' EXIT

# left PREFIX — the namespaces named PREFIX-* that exist.
left() { ip netns list | awk -v p="$1-" 'index($1, p) == 1 { print $1 }' | tr '\n' ' '; }

$WAN --no-wan --reports "$T/plain" >"$T/plain.out" 2>"$T/plain.err"
rc=$?
if [ $rc -eq 0 ]; then ok "the job on loopback (--no-wan) exits 0"
else notok "the job on loopback (--no-wan) exits 0" "rc $rc: $(tail -c 400 "$T/plain.err")"; fi

GX_NS_PREFIX=$P1 $WAN --rate 1gbit --delay 1ms --reports "$T/wan" >"$T/wan.out" 2>"$T/wan.err"
rc=$?
if [ $rc -eq 0 ]; then ok "the job across namespaces with relays and a key exits 0"
else notok "the job across namespaces with relays and a key exits 0" "rc $rc: $(tail -c 400 "$T/wan.err")"; fi
sed 's/^/# /' "$T/wan.out"

if [ "$(tail -n 1 "$T/plain/w00.tsv" 2>/dev/null | cut -f 1)" = 250 ]; then
	ok "250 steps per worker (1000 images per shard, batch 8, 2 epochs)"
else
	notok "250 steps per worker" "$(tail -n 1 "$T/plain/w00.tsv" 2>/dev/null)"
fi
same=1
for w in w00 w01 w10 w11; do
	cut -f 1,2,4,8,9,10 "$T/plain/$w.tsv" >"$T/$w.plain" 2>/dev/null
	cut -f 1,2,4,8,9,10 "$T/wan/$w.tsv" >"$T/$w.wan" 2>/dev/null
	if [ "$(wc -l <"$T/$w.plain")" -lt 6 ] || ! cmp -s "$T/$w.plain" "$T/$w.wan"; then
		same=0
		notok "every worker's reports are the same bits with and without the WAN harness" \
			"$w differs: $(diff "$T/$w.plain" "$T/$w.wan" | head -n 4 | tr '\n' '|')"
		break
	fi
done
[ $same = 1 ] && ok "every worker's reports are the same bits with and without the WAN harness (loss, checksum, test accuracy $(tail -n 1 "$T/w00.wan" | cut -f 6))"
if grep -Eq '^WAN, sealed \(relays\): +[1-9][0-9.]* MB up, [1-9][0-9.]* MB down' "$T/wan.out"; then
	ok "hips-wan.sh reports the sealed bytes that crossed the WAN"
else
	notok "hips-wan.sh reports the sealed bytes that crossed the WAN" "$(tr '\n' '|' <"$T/wan.out")"
fi
l=$(left "$P1")
if [ -z "$l" ]; then ok "no namespace is left after the job"; else notok "no namespace is left after the job" "$l"; fi

# A worker that fails (a model that does not fit): status 1, all cleaned up.
GX_NS_PREFIX=$P2 $WAN --model conv:8:40 >"$T/fail.out" 2>"$T/fail.err"
rc=$?
l=$(left "$P2")
if [ $rc -eq 1 ] && grep -q 'hips-wan: w00 failed' "$T/fail.err" && [ -z "$l" ]; then
	ok "a failing worker: status 1, the failure named, no namespace left"
else
	notok "a failing worker: status 1, the failure named, no namespace left" "rc $rc, left '$l'" \
		"$(tail -c 300 "$T/fail.err")"
fi

# Ctrl-C: SIGINT to the script's process group, as a terminal sends it, once
# every process of the job runs (global, 3 relays, 2 local, 4 workers).
spawn int env GX_NS_PREFIX="$P3" python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setpgid(0, 0)
os.execvp(sys.argv[1], sys.argv[1:])' sh "$GX_TOP/examples/hips-wan.sh" --limit 4000 --test-limit 2000 \
	--epochs 20 --delay 1ms
ipid=$PID
_i=0
while [ "$(GX_NS_PREFIX=$P3 gx_ns_pids | wc -l)" -lt 10 ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
inside=$(GX_NS_PREFIX=$P3 gx_ns_pids | tr '\n' ' ')
kill -INT "-$ipid"
wait_pid "$ipid" 20
alive=""
for p in $inside; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
l=$(left "$P3")
if [ "$(echo "$inside" | wc -w)" -ge 10 ] && [ "$WRC" -eq 130 ] && grep -q 'hips-wan: interrupted' "$T/int.err" &&
	[ -z "$l" ] && [ -z "$alive" ]; then
	ok "Ctrl-C: status 130, the $(echo "$inside" | wc -w) processes in the namespaces end, no namespace left"
else
	notok "Ctrl-C: status 130, every process ends, no namespace left" \
		"status $WRC; processes inside before: '$inside', alive after: '$alive'; namespaces left: '$l'" \
		"$(tail -c 300 "$T/int.err")"
fi

finish
