#!/bin/sh
# tests/integration/hips-exact.sh — a whole HiPS job on loopback: one global
# server (--parties 2), two local servers (--workers 2) and four synthetic
# workers (geomx-bench worker) with tensors of several sizes, fully
# synchronous. After every round every worker must hold exactly what the
# optimizer makes of the mean of all pushes: tests/integration/oracle.py
# recomputes the run in float32 from the parameters the workers started
# from and checks the per-round CRC-32C lines and the final parameters bit
# for bit (SGD, momentum, --sum: dyadic learning rates keep the float32
# arithmetic exact), or to 1e-5 relative (Adam). Every process must end by
# itself with status 0.
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
SIZES=1,10,1000,50000
NBLOCKS=$(blocks_of "$SIZES") # what a round updates, at the default --block
R=6

# job NAME "GLOBAL ARGS" "ORACLE ARGS" [SLICES] — runs the job, then checks
# it; SLICES: the slices each round updates (default: NBLOCKS).
job() {
	_j=$1
	start_hips "$_j" 1 2 2 "$2" ""
	start_workers "$_j" 2 2 --sizes "$SIZES" --rounds "$R" -q
	# shellcheck disable=SC2046
	expect_all "$_j: the workers, the local servers and the global server exit 0 by themselves" \
		30 0 $(hips_names "$_j" 1 2 2)

	w="$T/$_j.w"
	same=1
	for x in "" .init .final; do
		for pw in 01 10 11; do
			cmp -s "${w}00$x" "$w$pw$x" || { same=0; notok "$_j: the four workers' dumps are identical" \
				"$(basename "$w$pw$x") differs from $(basename "${w}00$x")"; break 2; }
		done
	done
	[ $same = 1 ] && ok "$_j: the four workers' dumps are identical (rounds, start, end)"

	# The INIT kept is one worker's proposal, so the start is not all zeros.
	if [ -s "${w}00.init" ] && [ "$(od -An -v -tx1 "${w}00.init" | tr -d ' \n' | tr -d 0)" != "" ]; then
		ok "$_j: the workers start from the values the global tier kept"
	else
		notok "$_j: the workers start from the values the global tier kept" "${w}00.init empty or zero"
	fi

	# shellcheck disable=SC2086
	$ORACLE hips --sizes "$SIZES" --parties 2 --workers 2 --rounds "$R" $3 \
		--init "${w}00.init" --dump "${w}00" --final "${w}00.final" >"$T/$_j.oracle" 2>&1
	orc=$?
	case $3 in *--rtol*) what="final parameters match the oracle to 1e-5 relative" ;;
	*) what="every round's CRC-32C and the final parameters match the oracle bit for bit" ;; esac
	if [ $orc -eq 0 ]; then
		ok "$_j: $what"
		cat "$T/$_j.oracle"
	else
		notok "$_j: $what" "$(tr '\n' '|' <"$T/$_j.oracle")"
	fi

	g=$T/$_j.g0.stats l0=$T/$_j.l0.stats l1=$T/$_j.l1.stats
	got="global rounds $(stat_field "$g" rounds 2) updates $(stat_field "$g" updates 2)"
	got="$got, locals rounds $(stat_field "$l0" rounds 2) $(stat_field "$l1" rounds 2)"
	got="$got, updates $(stat_field "$l0" updates 2) $(stat_field "$l1" updates 2)"
	got="$got, staleness max $(stat_field "$g" staleness 4)"
	_ns=${4:-$NBLOCKS}
	want="global rounds $R updates $((R * _ns)), locals rounds $R $R, updates $((R * _ns)) $((R * _ns)), staleness max 0"
	if [ "$got" = "$want" ]; then ok "$_j: the statistics count $R rounds of $_ns slices"
	else notok "$_j: the statistics count $R rounds of $_ns slices" "got:  $got" "want: $want"; fi
}

job sgd "--optimizer sgd --lr 0.5" "--optimizer sgd --lr 0.5"
job momentum "--optimizer momentum --lr 0.25 --momentum 0.5" "--optimizer momentum --lr 0.25 --momentum 0.5"
job sum "--optimizer sgd --lr 0.125 --sum" "--optimizer sgd --lr 0.125 --sum"
job adam "--optimizer adam --lr 0.01" "--optimizer adam --lr 0.01 --rtol 1e-5"
# Blocks of 256: 1, 1, 4 and 196 per tensor, each gathered, stepped and
# answered on its own; the oracle knows nothing of them.
job blocks "--optimizer momentum --lr 0.25 --momentum 0.5 --block 256" \
	"--optimizer momentum --lr 0.25 --momentum 0.5" 202

finish
