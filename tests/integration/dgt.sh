#!/bin/sh
# tests/integration/dgt.sh — differential gradient transmission through
# whole HiPS jobs (docs/design.md, docs/protocol.md "DGT rounds"): two
# local servers under --dgt push part of every slice as UDP datagrams to
# the global server, two synthetic workers each (geomx-bench worker).
#  1. On loopback, plaintext and with --key (sealed datagrams), and with
#     binary16 blocks: every process ends by itself with status 0, the four
#     workers hold the same parameters every round, datagrams went and were
#     placed, none was lost, and the answers came as datagrams; with a key, datagrams that do not open (forged) and that are
#     not datagrams (malformed), sent at the global's port while the job
#     runs, are dropped and counted, and the job is undisturbed; a flood of
#     100000 of them leaves the global's memory where it was.
#     Replays: every datagram of a job, sniffed on loopback (root), sent
#     again at once, 200 of them: every one is dropped and counted (a block
#     already in, or of a closed round), and the job is undisturbed.
#  2. Across network namespaces whose links to the center lose 5 % of the
#     packets each way (geomx-netem), each DC's way up shaped by DS class
#     (gx_ns_prio): the lossy channels' datagrams reach the shaper in their
#     classes (DSCP 10 and 12), the TCP links in the first; with K held at
#     0.2 (--dgt-target 0: a K that adapts would send everything reliably
#     on so lossy a path, and keep nothing back), blocks are lost, answers'
#     blocks lost on the way down are asked for and repaired (the four
#     workers stay identical), and the error-feedback invariant holds
#     through the servers (SGD with lr 1 and --sum, so what the parameters
#     moved is what arrived: what arrived plus what the locals kept equals
#     what the workers pushed, tests/integration/oracle.py ef). Skips this
#     part (not the rest) without root or namespaces.
#  3. The flags' refusals.
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
SIZES=1,10,1000,50000
R=6

# same NAME — the four workers' dumps (every round, start, end) are identical.
same() {
	for x in "" .init .final; do
		for pw in 01 10 11; do
			if ! cmp -s "$T/$1.w00$x" "$T/$1.w$pw$x"; then
				notok "$1: the four workers hold identical parameters" \
					"$1.w$pw$x differs from $1.w00$x"
				return 1
			fi
		done
	done
	ok "$1: the four workers hold identical parameters (every round, start, end)"
}
# line FILE RECORD — the first line of a stats file whose first field is RECORD.
line() { awk -F '\t' -v r="$2" '$1 == r { print; exit }' "$1"; }

# 1. Loopback.
mkkey() { (umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$1" && echo >>"$1"); }
K=$T/job.key
mkkey "$K"
for mode in plain sealed; do
	ka=""
	[ $mode = sealed ] && ka="--key $K"
	# (a grace of seconds: on a loaded machine a local held off its loop
	# longer than the default's 10 ms would look like loss)
	start_hips $mode 1 2 2 "$ka --optimizer sgd --lr 0.5 --dgt-grace 2000" \
		"$ka --dgt 0.2:2:100 --dgt-rate 1gbit"
	G=$(port_of $mode.g0)
	if [ $mode = sealed ]; then
		# intruders at the datagram port, once both locals are in
		python3 - "$G" >"$T/$mode.intruder" 2>&1 <<'EOF'
import socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
body = bytes(400)
for i in range(200):
    # a well-formed head for party 0 (key 0, round 0, slice 0, block i,
    # 100 F32 elements), a tag made up
    h = b"GXDG" + bytes([1, 1, 1, 1]) + struct.pack("<IIIHHHHI", 0, 0, 0, 0, i, 100, 0, 0)
    s.sendto(h + body + bytes(16), ("127.0.0.1", port))
for i in range(50):
    s.sendto(b"not a datagram %d" % i, ("127.0.0.1", port))
print("sent 200 forged, 50 malformed")
EOF
		# a flood: the global's memory stays where it was
		gp=$PID_sealed_g0
		r0=$(awk '/^VmRSS/ { print $2 }' "/proc/$gp/status")
		python3 - "$G" >"$T/$mode.flood" 2>&1 <<'EOF'
import socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
h = b"GXDG" + bytes([1, 1, 1, 1]) + struct.pack("<IIIHHHHI", 0, 1, 0, 0, 0, 356, 0, 0)
d = h + bytes(356 * 4 + 16)
for i in range(100000):
    s.sendto(d, ("127.0.0.1", port))
print("flooded 100000")
EOF
		r1=$(awk '/^VmRSS/ { print $2 }' "/proc/$gp/status")
		if [ $((r1 - r0)) -lt 4096 ]; then
			ok "sealed: 100000 forged datagrams of 1460 bytes: the global's memory grew by $((r1 - r0)) KiB (its receive batch is fixed)"
		else
			notok "sealed: a flood leaves the global's memory where it was" "VmRSS $r0 KiB, then $r1 KiB"
		fi
	fi
	# shellcheck disable=SC2086
	start_workers $mode 2 2 --sizes "$SIZES" --rounds "$R" -q $ka
	# shellcheck disable=SC2046
	expect_all "$mode: every process exits 0 by itself" 60 0 $(hips_names $mode 1 2 2)
	same $mode
	# dgt_in: datagrams placed duplicate late stray forged malformed
	# kernel_dropped closed_full closed_deadline copies_unused
	in=$(line "$T/$mode.g0.stats" dgt_in)
	set -- $in
	if [ "${3:-0}" -gt 0 ] && [ "$4" = 0 ] && [ "$5" = 0 ] && [ "${11:-x}" = 0 ]; then
		ok "$mode: the global placed $3 datagrams, none twice or late; every round closed with all its blocks (${10})"
	else
		notok "$mode: datagrams placed, none twice or late, no round closed at its deadline" "$in"
	fi
	if [ $mode = sealed ]; then
		if [ "$(($7 + $9))" -ge 100200 ] && [ "$8" -ge 50 ]; then
			ok "sealed: 100200 forged datagrams dropped and counted ($7 read, $9 dropped by the kernel for want of room), 50 malformed ($8)"
		else
			notok "sealed: forged and malformed datagrams counted" "$in" "$(cat "$T/$mode.intruder")"
		fi
	fi
	for p in 0 1; do
		c1=$(line "$T/$mode.l$p.stats" dgt)
		lost=$(awk -F '\t' '$1 == "channel" { l += $5 } END { print l + 0 }' "$T/$mode.l$p.stats")
		if [ -n "$c1" ] && [ "$lost" = 0 ]; then
			ok "$mode: local $p sent its lossy blocks, none lost on loopback"
		else
			notok "$mode: local $p's DGT statistics" "$(tr '\n' '|' <"$T/$mode.l$p.stats")"
		fi
		# the answers: as datagrams (after the first round's, on the link),
		# none that did not open
		set -- $(line "$T/$mode.l$p.stats" dgt_answers)
		if [ "${2:-0}" -gt 0 ] && [ "$9" = 0 ] && [ "${10}" = 0 ]; then
			ok "$mode: local $p took $2 answers of slices as datagrams ($5 datagrams)"
		else
			notok "$mode: local $p's answers as datagrams" "$(line "$T/$mode.l$p.stats" dgt_answers)"
		fi
	done
done

# binary16 blocks (--wan-codec fp16): pushed and answered as datagrams,
# every worker with the same parameters.
start_hips f16 1 2 2 "--optimizer sgd --lr 0.5 --dgt-grace 2000 --stats-format json" \
	"--dgt 0.2:2:100 --dgt-rate 1gbit --wan-codec fp16 --stats-format json"
start_workers f16 2 2 --sizes "$SIZES" --rounds "$R" -q
# shellcheck disable=SC2046
expect_all "f16: every process exits 0 by itself" 60 0 $(hips_names f16 1 2 2)
same f16
# (the statistics in JSON: the DGT objects parse, with their figures)
if python3 - "$T/f16.l0.stats" "$T/f16.g0.stats" >"$T/f16.json" 2>&1 <<'EOF'
import json, sys
l, g = (json.load(open(p)) for p in sys.argv[1:3])
d = l['dgt']
assert d['block'] == 100 and d['answers']['whole'] > 0, d
assert len(g['dgt']['late_by_channel']) == 8 and g['dgt_answers']['datagrams'] > 0, g
print(d['answers']['whole'], g['dgt_answers']['datagrams'])
EOF
then
	ok "f16: blocks of 100 binary16 elements; answers of slices as datagrams (local, global: $(cat "$T/f16.json"))"
else
	notok "f16: binary16 blocks and answers as datagrams (JSON statistics)" "$(tr '\n' '|' <"$T/f16.json")"
fi

# Replays: a sniffer on loopback sends every datagram to the global's port
# again as soon as it sees it, 200 of them.
if [ "$(id -u)" = 0 ]; then
	start_hips rp 1 2 2 "--optimizer sgd --lr 0.5 --dgt-grace 2000" "--dgt 0.2:2:100 --dgt-rate 1gbit"
	G=$(port_of rp.g0)
	cat >"$T/sniff.py" <<'EOF'
import socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind(("lo", 0))
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("ready", flush=True)
sent = 0
while sent < n:
    pkt, addr = s.recvfrom(70000)
    if addr[2] != socket.PACKET_HOST or len(pkt) < 14 + 28:
        continue
    ip = pkt[14:]
    if ip[0] >> 4 != 4 or ip[9] != 17:
        continue
    ihl = (ip[0] & 15) * 4
    dport = struct.unpack(">H", ip[ihl + 2:ihl + 4])[0]
    # blocks of lossy channels (a reliable block's copy goes twice by
    # design, so its replay is not told from its second copy)
    d = ip[ihl + 8:]
    if dport != port or d[:4] != b"GXDG" or d[5] != 1 or d[6] == 0:
        continue
    out.sendto(ip[ihl + 8:], ("127.0.0.1", port))
    sent += 1
print("replayed", sent, flush=True)
EOF
	spawn rp.sniff python3 "$T/sniff.py" "$G" 200
	wait_match "$T/rp.sniff.out" ready 30 || notok "replays: the sniffer is ready" "$(cat "$T/rp.sniff.err")"
	start_workers rp 2 2 --sizes "$SIZES" --rounds 60 -q
	# shellcheck disable=SC2046
	expect_all "replays: every process exits 0 by itself" 60 0 $(hips_names rp 1 2 2) rp.sniff
	same rp
	set -- $(line "$T/rp.g0.stats" dgt_in)
	if [ "$(($4 + $5))" = 200 ] && [ "$7" = 0 ]; then
		ok "replays: 200 datagrams sent again, all dropped and counted ($4 already in, $5 late)"
	else
		notok "replays: 200 datagrams sent again, all dropped and counted" \
			"$(line "$T/rp.g0.stats" dgt_in)" "$(cat "$T/rp.sniff.out")"
	fi
else
	echo "# skipped the replays: sniffing loopback needs root"
fi

# 3. Refusals (usage errors, status 2).
refuse() {
	_w=$1 _m=$2
	shift 2
	spawn ref geomx-ps "$@"
	expect_exit "refused: $_w (status 2)" ref 10 2
	expect_match "refused: $_w: says why" "$T/ref.err" "$_m"
}
refuse "--dgt without --dgt-rate" "needs --dgt-rate" --role local --upstream 127.0.0.1:1 --dgt 0.1:2
refuse "--dgt with bsc" "dense blocks" --role local --upstream 127.0.0.1:1 --dgt 0.1:2 \
	--dgt-rate 100mbit --wan-codec bsc:0.01
refuse "K above 1" "invalid --dgt K" --role local --upstream 127.0.0.1:1 --dgt 1.5:2 --dgt-rate 1gbit
refuse "nine channels" "invalid --dgt C" --role local --upstream 127.0.0.1:1 --dgt 0.1:9 --dgt-rate 1gbit
refuse "--dgt-rate alone" "is for --dgt" --role local --upstream 127.0.0.1:1 --dgt-rate 1gbit
refuse "--dgt-grace at a local" "is for --role global" --role local --upstream 127.0.0.1:1 \
	--dgt 0.1:2 --dgt-rate 1gbit --dgt-grace 5
refuse "--dgt at the global" "is for --role local" --role global --dgt 0.1:2 --dgt-rate 1gbit

# 2. A lossy path: namespaces and geomx-netem.
. "$GX_TOP/scripts/netns.sh"
if ! why=$(gx_ns_check tun 2>&1); then
	echo "# skipped the lossy path: $why"
	finish
fi
command -v geomx-netem >/dev/null 2>&1 || { echo "# skipped the lossy path: geomx-netem not built"; finish; }
trap 'gx_ns_down; cleanup' EXIT
gx_ns_up dc0 dc1 || { notok "namespaces up" "gx_ns_up failed"; finish; }
printf 'dc0 > center loss=0.05\ndc1 > center loss=0.05\ncenter > dc0 loss=0.05\ncenter > dc1 loss=0.05\n' \
	>"$T/netem.table"
gx_ns_mesh "$T/netem.table" || { notok "the packet-level WAN is up" "gx_ns_mesh failed"; finish; }
for dc in dc0 dc1; do
	gx_ns_prio $dc 100mbit || { notok "$dc's way up shaped by DS class" "gx_ns_prio failed"; finish; }
done
CA=$(gx_ns_addr center)
spawn ef.g0 ip netns exec "$(gx_ns_name center)" geomx-ps --role global --parties 2 \
	--listen "$CA:0" --optimizer sgd --lr 1 --sum --stats "$T/ef.g0.stats"
GP=$(port_of ef.g0)
for p in 0 1; do
	spawn "ef.l$p" ip netns exec "$(gx_ns_name dc$p)" geomx-ps --role local --party $p \
		--workers 2 --upstream "$CA:$GP" --dgt 0.2:2 --dgt-rate 100mbit --dgt-target 0 \
		--ef-save "$T/ef.l$p.state" --stats "$T/ef.l$p.stats"
	eval "LP$p=\$(port_of ef.l$p)"
done
for p in 0 1; do
	for w in 0 1; do
		spawn "ef.w$p$w" ip netns exec "$(gx_ns_name dc$p)" geomx-bench worker \
			--ps "127.0.0.1:$(eval echo "\$LP$p")" --party $p --rank $w \
			--dump "$T/ef.w$p$w" --sizes "$SIZES" --rounds "$R" -q
	done
done
# shellcheck disable=SC2046
expect_all "lossy: every process exits 0" 120 0 ef.w00 ef.w01 ef.w10 ef.w11 ef.l0 ef.l1 ef.g0
lost=$(awk -F '\t' '$1 == "channel" && $2 > 0 { l += $5 } END { print l + 0 }' "$T/ef.l0.stats" "$T/ef.l1.stats")
if [ "$lost" -gt 0 ] && [ "$(line "$T/ef.g0.stats" dgt_late | awk -F '\t' '{ print NF }')" = 9 ]; then
	ok "lossy: the path lost $lost blocks of the lossy channels (late by channel: $(line "$T/ef.g0.stats" dgt_late | cut -f 2-3))"
else
	notok "lossy: blocks were lost" "$(cat "$T/ef.l0.stats" "$T/ef.l1.stats" | tr '\n' '|')"
fi
same ef
# dgt_answers: whole repaired blocks_asked placed duplicate late stray
# forged malformed
ans=""
for p in 0 1; do
	ans="$ans $(line "$T/ef.l$p.stats" dgt_answers | cut -f2-4 | tr '\t' /)"
done
if echo "$ans" | awk '{ for (i = 1; i <= NF; i++) { split($i, a, "/"); if (!(a[1] > 0 && a[2] > 0 && a[3] > 0)) exit 1 } }'; then
	ok "lossy: answers came as datagrams, the lost blocks of some asked for and repaired (whole/repaired/blocks asked:$ans)"
else
	notok "lossy: answers as datagrams, repaired" "$ans" "$(line "$T/ef.g0.stats" dgt_out)"
fi
# class_pkts DC CLASS — packets the DC's shaper sent in class 1:CLASS.
class_pkts() {
	tc -n "$(gx_ns_name "$1")" -s class show dev wan |
		awk -v c="1:$2" '$1 == "class" { on = ($3 == c) } on && $1 == "Sent" { print $4; exit }'
}
k=""
for dc in dc0 dc1; do
	k="$k $dc: $(class_pkts $dc 11)/$(class_pkts $dc 12)/$(class_pkts $dc 13)/$(class_pkts $dc 14)"
done
if echo "$k" | awk '{ for (i = 2; i <= NF; i += 2) { split($i, p, "/"); if (!(p[1] > 0 && p[2] > 0 && p[3] > 0 && p[4] == 0)) exit 1 } }'; then
	ok "lossy: the shapers saw the link (class 1), channels 1 and 2 (classes 2, 3) and nothing else, in packets:$k"
else
	notok "lossy: the shapers' classes (link/ch1/ch2/other packets)" "$k"
fi
if $ORACLE ef --sizes "$SIZES" --rounds "$R" --init "$T/ef.w00.init" --final "$T/ef.w00.final" \
	--state "$T/ef.l0.state" --state "$T/ef.l1.state" >"$T/ef.oracle" 2>&1; then
	ok "lossy: what arrived plus what the locals kept equals what the workers pushed"
	cat "$T/ef.oracle"
else
	notok "lossy: what arrived plus what the locals kept equals what the workers pushed" \
		"$(tr '\n' '|' <"$T/ef.oracle")"
fi
finish
