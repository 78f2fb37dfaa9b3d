#!/bin/sh
# tests/integration/multigps.sh — the model spread over two global servers
# (MultiGPS): the local servers name both (--upstream A,B) and split the
# tensors above --split-bound, so one key lives half on each server. The
# same job run on one global server and on two must give bit-identical
# parameters after every round (Adam, whose rounding would show any slice
# applied twice, late or misplaced), and both servers must have held their
# share: the slices docs/optimizers.md's placement puts on each. Then the
# flat baseline (workers straight to the global servers) on two servers.
# shellcheck disable=SC2086 # ports, $HB and option strings are split on purpose
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
SIZES=1,10,1000,50000
R=6
OPT="--optimizer adam --lr 0.01"

# run NAME NGLOBAL [GLOBAL-OPTION...] (whole tensors unless an option says
# otherwise: --block 0, so that the split is exact to the element)
run() {
	_rn=$1 _rg=$2
	shift 2
	start_hips "$_rn" "$_rg" 2 2 "$OPT --block 0 $*" "--split-bound 20000"
	set -- "$_rn" "$_rg"
	# --same-init: which worker's INIT a server keeps first is a race, and
	# the comparison is about the rounds.
	start_workers "$1" 2 2 --sizes "$SIZES" --rounds "$R" --same-init -q
	# shellcheck disable=SC2046
	expect_all "$1: every process exits 0 by itself ($2 global server(s))" 30 0 $(hips_names "$1" "$2" 2 2)
}

run one 1
run two 2
# Blocks of 4096 (the last arguments win): key 3 travels in 13 blocks, and
# every hop passes them on one by one.
run blk 2 --block 4096

# same NAME WHAT — NAME's parameters are one's, bit for bit.
same() {
	for f in "" .init .final; do
		for pw in 00 01 10 11; do
			if ! cmp -s "$T/one.w00$f" "$T/$1.w$pw$f"; then
				notok "$2" "$1.w$pw$f differs from one.w00$f: $($ORACLE same "$T/one.w00$f" "$T/$1.w$pw$f" | tr '\n' ' ')"
				return
			fi
		done
	done
	ok "$2 (every round, every worker, start and end)"
}
same two "one and two global servers give bit-identical parameters"
same blk "two global servers and blocks of 4096 give the parameters of one server and whole tensors, bit for bit"

# The two-server run against the oracle as well, so that "identical" cannot
# mean "identically wrong".
if $ORACLE hips --sizes "$SIZES" --rounds "$R" $OPT --rtol 1e-5 \
	--init "$T/two.w00.init" --final "$T/two.w00.final" >"$T/oracle" 2>&1; then
	ok "two global servers: final parameters match the oracle"
else
	notok "two global servers: final parameters match the oracle" "$(tr '\n' '|' <"$T/oracle")"
fi

# Placement with the bound 20000: key 3 (50000) is cut in two slices of
# 25000, one per server; then largest first to the least loaded (ties: the
# lower index): key 2 (1000) to server 0, key 1 (10) and key 0 (1) to server
# 1. Each slice is one optimizer step per round.
for s in 0 1; do
	st=$T/two.g$s.stats
	want=$(( (s == 0 ? 2 : 3) * R ))
	upd=$(stat_field "$st" updates 2)
	rounds=$(stat_field "$st" rounds 2)
	inb=$(awk -F '\t' '$1 == "link" { s += $4 } END { print s + 0 }' "$st" 2>/dev/null)
	nlinks=$(awk -F '\t' '$1 == "link" && $3 == "local" && $4 > 0 { n++ } END { print n + 0 }' "$st" 2>/dev/null)
	# Each round brings at least every slice's floats from each local.
	minb=$(( s == 0 ? (25000 + 1000) * 4 * 2 * R : (25000 + 10 + 1) * 4 * 2 * R ))
	if [ "$upd" = "$want" ] && [ "$rounds" = "$R" ] && [ "$nlinks" = 2 ] && [ "${inb:-0}" -ge $minb ]; then
		ok "global server $s received its share of the slices from both locals"
		echo "# $upd slice updates, $inb bytes in"
	else
		notok "global server $s received its share" "updates '$upd' (want $want), rounds '$rounds' (want $R)," \
			"links from locals with traffic '$nlinks' (want 2), bytes in '$inb' (want >= $minb)" \
			"$(tr '\n' '|' <"$st" 2>/dev/null)"
	fi
done

# One global server: everything on it.
upd=$(stat_field "$T/one.g0.stats" updates 2)
if [ "$upd" = $((4 * R)) ]; then ok "one global server: 4 tensors x $R rounds"
else notok "one global server: 4 tensors x $R rounds" "updates '$upd', want $((4 * R))"; fi

# Blocks of 4096: key 3 (50000) is 13 blocks, 12 of 4096 and one of 848,
# split in runs of 7 and 6 (server 0: 28672 elements, server 1: 21328);
# then the whole keys to the least loaded: 2 (1000), 1 and 0 to server 1.
# Each block is one optimizer step per round: 7 and 6 + 3.
u0=$(stat_field "$T/blk.g0.stats" updates 2) u1=$(stat_field "$T/blk.g1.stats" updates 2)
if [ "$u0" = $((7 * R)) ] && [ "$u1" = $((9 * R)) ]; then
	ok "blocks: each global server updated its blocks (7 and 9 a round)"
else
	notok "blocks: each global server updated its blocks" "updates '$u0' and '$u1', want $((7 * R)) and $((9 * R))"
fi

# Flat mode: two workers straight to the two global servers, each its own
# data center; the workers compute the same placement (--split-bound).
for s in 0 1; do
	spawn flat.g$s geomx-ps --role global --parties 2 --optimizer sgd --lr 0.5 --stats "$T/flat.g$s.stats"
done
up=127.0.0.1:$(port_of flat.g0),127.0.0.1:$(port_of flat.g1)
for p in 0 1; do
	spawn flat.w$p geomx-bench worker --ps "$up" --party $p --split-bound 20000 --sizes "$SIZES" \
		--rounds "$R" --dump "$T/flat.w$p" -q
done
expect_all "flat: workers and both global servers exit 0 by themselves" 30 0 flat.w0 flat.w1 flat.g0 flat.g1
if $ORACLE hips --sizes "$SIZES" --parties 2 --workers 1 --rounds "$R" --optimizer sgd --lr 0.5 \
	--init "$T/flat.w0.init" --dump "$T/flat.w0" --final "$T/flat.w0.final" >"$T/flat.oracle" 2>&1 &&
	$ORACLE same "$T/flat.w0" "$T/flat.w1" >>"$T/flat.oracle" &&
	$ORACLE same "$T/flat.w0.final" "$T/flat.w1.final" >>"$T/flat.oracle"; then
	ok "flat: every round of both workers matches the oracle bit for bit"
else
	notok "flat: every round of both workers matches the oracle bit for bit" "$(tr '\n' '|' <"$T/flat.oracle")"
fi
u0=$(stat_field "$T/flat.g0.stats" updates 2) u1=$(stat_field "$T/flat.g1.stats" updates 2)
if [ "$u0" = $((2 * R)) ] && [ "$u1" = $((3 * R)) ]; then
	ok "flat: each global server updated its share of the slices"
else
	notok "flat: each global server updated its share of the slices" "updates '$u0' and '$u1', want $((2 * R)) and $((3 * R))"
fi

finish
