#!/bin/sh
# tests/integration/codecs.sh — the link codecs and HFA through whole HiPS
# jobs on loopback (docs/protocol.md, "Link codecs", "HFA sync"): one or two
# global servers, two local servers of two synthetic workers each
# (geomx-bench worker, exact gradients), six rounds of four tensors of
# 1..50000 elements. Under every WAN codec, LAN codec and sync mode, every
# process must end by itself with status 0 and the four workers must hold
# the same parameters after every round and at the end (HFA: within a data
# center, all four after a global round; mixed: within a data center); the
# error-feedback invariant is checked through the servers (what the locals
# sent plus what they kept equals what the workers pushed); HFA's rounds
# are counted per tier; a mixed global refuses a coded WAN at the hello.
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
SIZES=1,10,1000,50000
NKEYS=4
NBLOCKS=$(blocks_of "$SIZES") # what a round updates, at the default --block
R=6

# same NAME — the four workers' dumps (every round, start, end) are identical.
same() {
	w="$T/$1.w"
	for x in "" .init .final; do
		for pw in 01 10 11; do
			if ! cmp -s "${w}00$x" "$w$pw$x"; then
				notok "$1: the four workers hold identical parameters (every round, start, end)" \
					"$(basename "$w$pw$x") differs from $(basename "${w}00$x")"
				return 1
			fi
		done
	done
	ok "$1: the four workers hold identical parameters (every round, start, end)"
}

# same_hfa NAME — HFA: each data center's two workers agree after every
# round, all four at the start and the end (a global round).
same_hfa() {
	w="$T/$1.w"
	for f in "${w}00 ${w}01" "${w}10 ${w}11" "${w}00.init ${w}10.init" "${w}00.final ${w}01.final" \
		"${w}00.final ${w}10.final" "${w}00.final ${w}11.final"; do
		# shellcheck disable=SC2086
		if ! cmp -s $f; then
			notok "$1: workers agree within a data center every round, all four at the start and after a global round" \
				"differ: $f"
			return 1
		fi
	done
	ok "$1: workers agree within a data center every round, all four at the start and after a global round"
}

# same_mixed NAME — mixed sync: the data centers do not wait for each
# other, so only each data center's two workers agree (every round, end).
same_mixed() {
	w="$T/$1.w"
	for f in "${w}00 ${w}01" "${w}10 ${w}11" "${w}00.final ${w}01.final" "${w}10.final ${w}11.final"; do
		# shellcheck disable=SC2086
		if ! cmp -s $f; then
			notok "$1: each data center's workers agree every round and at the end" "differ: $f"
			return 1
		fi
	done
	ok "$1: each data center's workers agree every round and at the end"
}

# job NAME NGLOBAL "GLOBAL ARGS" "LOCAL ARGS" [WORKER ARGS] — runs a job, then
# checks the exits and the dumps.
job() {
	_j=$1
	start_hips "$_j" "$2" 2 2 "$3" "$4"
	# shellcheck disable=SC2086
	start_workers "$_j" 2 2 --sizes "$SIZES" --rounds "$R" -q ${5:-}
	# shellcheck disable=SC2046
	expect_all "$_j: the workers, the local servers and the global server exit 0 by themselves" \
		30 0 $(hips_names "$_j" "$2" 2 2)
	case $3 in *hfa*) same_hfa "$_j" ;; *mixed*) same_mixed "$_j" ;; *) same "$_j" ;; esac
}

# wan_bytes NAME — bytes between the global server and the locals, both ways.
wan_bytes() { awk -F '\t' '$1 == "link" { s += $4 + $5 } END { print s + 0 }' "$T/$1.g0.stats"; }

job dense 1 "--optimizer sgd --lr 0.5" ""
job fp16 1 "--optimizer sgd --lr 0.5" "--wan-codec fp16"
job bsc 1 "--optimizer momentum --lr 0.25 --momentum 0.5" "--wan-codec bsc:0.01 --sparse-min 100"
job mpq 1 "--optimizer adam --lr 0.01" "--wan-codec mpq:0.01:2000"
job lan16 1 "--optimizer sgd --lr 0.5" "--lan-codec fp16"
job bsc-lan16 1 "--optimizer adam --lr 0.01" "--wan-codec bsc:0.05 --lan-codec fp16 --ef-momentum 0.9"
job bsc-2gps 2 "--optimizer sgd --lr 0.5" "--wan-codec bsc:0.01 --split-bound 1000"
job mixed-dcasgd-lan16 1 "--sync mixed --optimizer dcasgd --lr 0.1" "--lan-codec fp16"
job hfa 1 "--sync hfa --k1 1 --k2 4" "" "--rounds 8"
job hfa-fp16 1 "--sync hfa --k1 1 --k2 2" "--wan-codec fp16 --lan-codec fp16"
job hfa-bsc 1 "--sync hfa --k1 1 --k2 3" "--wan-codec bsc:0.05"

# The WAN bytes of the rounds, both directions: fp16 and bsc against dense
# (the INITs, F32 both ways in every mode, taken out).
init=$((2 * 2 * 4 * (1 + 10 + 1000 + 50000)))
d=$(($(wan_bytes dense) - init)) f=$(($(wan_bytes fp16) - init)) b=$(($(wan_bytes bsc) - init))
if [ "$d" -gt 0 ] && [ "$f" -lt $((d * 6 / 10)) ] && [ "$b" -lt $((d / 10)) ]; then
	ok "WAN bytes of the rounds: dense $d, fp16 $f (< 60%), bsc:0.01 $b (< 10%)"
else
	notok "WAN bytes of the rounds: dense $d, fp16 $f (< 60%), bsc:0.01 $b (< 10%)" "$(tr '\n' '|' <"$T/dense.g0.stats")"
fi

# HFA: eight local rounds per key, a global one every fourth: two.
got="locals $(stat_field "$T/hfa.l0.stats" rounds 2) $(stat_field "$T/hfa.l1.stats" rounds 2), global $(stat_field "$T/hfa.g0.stats" rounds 2) updates $(stat_field "$T/hfa.g0.stats" updates 2)"
want="locals 8 8, global 2 updates $((2 * NBLOCKS))"
if [ "$got" = "$want" ]; then ok "hfa: rounds per tier: $got"
else notok "hfa: rounds per tier (k1 1, k2 4, 8 pushes)" "got:  $got" "want: $want"; fi

# The error-feedback invariant: SGD with lr 1 and --sum, so init - final is
# everything the locals sent; their saved residuals are what they kept.
spawn ef.g0 geomx-ps --role global --parties 2 --optimizer sgd --lr 1 --sum --stats "$T/ef.g0.stats"
UP=127.0.0.1:$(port_of ef.g0)
for p in 0 1; do
	spawn "ef.l$p" geomx-ps --role local --party $p --workers 2 --upstream "$UP" \
		--wan-codec bsc:0.02 --sparse-min 0 --ef-save "$T/ef.l$p.state"
	eval "LPORT$p=\$(port_of ef.l$p)"
done
start_workers ef 2 2 --sizes "$SIZES" --rounds "$R" -q
# shellcheck disable=SC2046
expect_all "ef: every process exits 0" 30 0 ef.g0 ef.l0 ef.l1 ef.w00 ef.w01 ef.w10 ef.w11
if $ORACLE ef --sizes "$SIZES" --rounds "$R" --init "$T/ef.w00.init" --final "$T/ef.w00.final" \
	--state "$T/ef.l0.state" --state "$T/ef.l1.state" >"$T/ef.oracle" 2>&1; then
	ok "ef: what the locals sent plus what they kept equals what the workers pushed"
	cat "$T/ef.oracle"
else
	notok "ef: what the locals sent plus what they kept equals what the workers pushed" \
		"$(tr '\n' '|' <"$T/ef.oracle")"
fi

# A coded WAN needs full or hfa sync at the global tier.
spawn mx.g0 geomx-ps --role global --parties 1 --sync mixed
spawn mx.l0 geomx-ps --role local --workers 1 --upstream "127.0.0.1:$(port_of mx.g0)" --wan-codec fp16
expect_exit "mixed + coded WAN: the local is refused at the hello (status 1)" mx.l0 10 1
expect_match "mixed + coded WAN: the local says why" "$T/mx.l0.err" "needs full or hfa sync"

# Blocks change how tensors travel, not what they carry: the same jobs with
# the same start (--same-init), whole and in blocks of 300 elements (key 3
# in 167 blocks), give the same parameters bit for bit, every round.
# samebits A B WHAT — A's and B's dumps of every worker are identical.
samebits() {
	for x in "" .init .final; do
		for pw in 00 01 10 11; do
			if ! cmp -s "$T/$1.w$pw$x" "$T/$2.w$pw$x"; then
				notok "$3" "$2.w$pw$x differs from $1.w$pw$x"
				return 1
			fi
		done
	done
	ok "$3 (every round, every worker, start and end)"
}
job lan16-whole 1 "--optimizer adam --lr 0.01 --block 0" "--lan-codec fp16" "--same-init"
job lan16-blocks 1 "--optimizer adam --lr 0.01 --block 300" "--lan-codec fp16" "--same-init"
samebits lan16-whole lan16-blocks "fp16 LAN, adam: blocks of 300 give the parameters of whole tensors"
job hfa-whole 1 "--sync hfa --k1 1 --k2 4 --block 0" "" "--rounds 8 --same-init"
job hfa-blocks 1 "--sync hfa --k1 1 --k2 4 --block 300" "" "--rounds 8 --same-init"
samebits hfa-whole hfa-blocks "hfa: blocks of 300 give the parameters of whole tensors"
# A coded WAN keeps whole slices: its local is told no blocks.
job bsc-noblocks 1 "--optimizer sgd --lr 0.5 --block 300" "--wan-codec bsc:0.01 --sparse-min 100"
upd=$(stat_field "$T/bsc-noblocks.g0.stats" updates 2)
if [ "$upd" = $((R * NKEYS)) ]; then
	ok "bsc: a local with a coded WAN sends whole slices, not blocks ($upd updates)"
else
	notok "bsc: a local with a coded WAN sends whole slices, not blocks" "updates '$upd', want $((R * NKEYS))"
fi

finish
