#!/bin/sh
# tests/integration/mixed.sh — mixed synchronization (--sync mixed at the
# global server): data centers do not wait for each other. Data center 1's
# workers sleep 40 ms before every round (slow compute), data center 0's
# 5 ms; the fast one must finish its rounds while the slow one is still early in its own, the
# global server must report stale updates, and training must still reach
# the optimum of a convex problem (geomx-bench worker --objective
# quadratic: the optimum is the mean target over the ranks), with SGD and
# with DC-ASGD. The same problem fully synchronous reaches it too, bit for
# bit as tests/integration/oracle.py computes it.
# shellcheck disable=SC2086 # ports, $HB and option strings are split on purpose
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
SIZES=1,10,1000
NKEYS=3
R=50
FAST=5     # ms of "compute" per round in data center 0: 0.25 s in all
SLEEP=40   # ms per round in data center 1: at least 2 s in all
TOL=1e-3   # distance to the optimum; 0.75^50 * 4 is about 2e-6

# mixed_job NAME "GLOBAL ARGS"
mixed_job() {
	_j=$1
	start_hips "$_j" 1 2 2 "--sync mixed $2" ""
	t0=$(now_ms)
	spawn "$_j.w00" geomx-bench worker --ps "127.0.0.1:$LPORT0" --party 0 --rank 0 -q \
		--objective quadratic --sizes $SIZES --rounds $R --dump "$T/$_j.w00" --sleep $FAST
	spawn "$_j.w01" geomx-bench worker --ps "127.0.0.1:$LPORT0" --party 0 --rank 1 -q \
		--objective quadratic --sizes $SIZES --rounds $R --dump "$T/$_j.w01" --sleep $FAST
	spawn "$_j.w10" geomx-bench worker --ps "127.0.0.1:$LPORT1" --party 1 --rank 0 -q \
		--objective quadratic --sizes $SIZES --rounds $R --dump "$T/$_j.w10" --sleep $SLEEP
	spawn "$_j.w11" geomx-bench worker --ps "127.0.0.1:$LPORT1" --party 1 --rank 1 -q \
		--objective quadratic --sizes $SIZES --rounds $R --dump "$T/$_j.w11" --sleep $SLEEP

	# When each worker ends, and how far data center 1 was when data center
	# 0 was done.
	fast_ms="" slow_ms="" slow_lines=""
	p00=$(pid_of "$_j.w00") p01=$(pid_of "$_j.w01") p10=$(pid_of "$_j.w10") p11=$(pid_of "$_j.w11")
	while [ $(($(now_ms) - t0)) -lt 30000 ]; do
		if [ -z "$fast_ms" ] && ! kill -0 "$p00" 2>/dev/null && ! kill -0 "$p01" 2>/dev/null; then
			fast_ms=$(($(now_ms) - t0))
			slow_lines=$(cat "$T/$_j.w10" "$T/$_j.w11" 2>/dev/null | wc -l)
		fi
		if [ -z "$slow_ms" ] && ! kill -0 "$p10" 2>/dev/null && ! kill -0 "$p11" 2>/dev/null; then
			slow_ms=$(($(now_ms) - t0))
		fi
		[ -n "$fast_ms" ] && [ -n "$slow_ms" ] && break
		sleep 0.02
	done
	# shellcheck disable=SC2046
	expect_all "$_j: every process exits 0 by itself" 30 0 $(hips_names "$_j" 1 2 2)

	fast_rounds=$(cat "$T/$_j.w00" "$T/$_j.w01" | wc -l)
	slow_rounds=$(cat "$T/$_j.w10" "$T/$_j.w11" | wc -l)
	# Rounds data center 1 had done (per worker) when data center 0 was done.
	slow_at=$(( ${slow_lines:-0} / (2 * NKEYS) ))
	if [ "$fast_rounds" -eq $((2 * R * NKEYS)) ] && [ "$slow_rounds" -eq $((2 * R * NKEYS)) ] &&
		[ -n "$fast_ms" ] && [ -n "$slow_ms" ] && [ "$slow_at" -lt $((R / 2)) ] &&
		[ $((2 * fast_ms)) -lt "$slow_ms" ]; then
		ok "$_j: the fast data center finishes well before the slow one"
		echo "# data center 0 finished its $R rounds in $fast_ms ms, when data center 1 had done $slow_at (it took $slow_ms ms)"
	else
		notok "$_j: the fast data center finishes well before the slow one" \
			"data center 0 done after ${fast_ms:-?} ms, data center 1 after ${slow_ms:-?} ms" \
			"data center 1 had done $slow_at of $R rounds then" \
			"dump lines: $fast_rounds and $slow_rounds, want $((2 * R * NKEYS)) each"
	fi

	st=$T/$_j.g0.stats
	sn=$(stat_field "$st" staleness 2) smean=$(stat_field "$st" staleness 3) smax=$(stat_field "$st" staleness 4)
	upd=$(stat_field "$st" updates 2)
	if [ "${sn:-0}" -gt 0 ] && [ "${smax:-0}" -gt 0 ] && awk -v m="${smean:-0}" 'BEGIN { exit !(m > 0) }'; then
		ok "$_j: the global server reports stale updates"
		echo "# staleness: count $sn, mean $smean, max $smax"
	else
		notok "$_j: the global server reports stale updates" "staleness line: $(grep '^staleness' "$st" 2>/dev/null)"
	fi
	# Mixed: every push of every data center is one update of each tensor.
	if [ "$upd" = $((2 * R * NKEYS)) ]; then ok "$_j: one update per push (2 data centers x $R rounds x $NKEYS tensors)"
	else notok "$_j: one update per push (2 data centers x $R rounds x $NKEYS tensors)" "updates '$upd', want $((2 * R * NKEYS))"; fi

	# The model at the end is what data center 1, the last to train, holds.
	if $ORACLE optimum --sizes $SIZES --workers 2 --final "$T/$_j.w10.final" --tol $TOL >"$T/$_j.opt" 2>&1 &&
		cmp -s "$T/$_j.w10.final" "$T/$_j.w11.final"; then
		ok "$_j: training converges to the optimum"
		cat "$T/$_j.opt"
	else
		notok "$_j: training converges to the optimum" "$(tr '\n' '|' <"$T/$_j.opt")" \
			"$(cmp "$T/$_j.w10.final" "$T/$_j.w11.final" 2>&1)"
	fi
}

mixed_job sgd "--optimizer sgd --lr 0.25"
mixed_job dcasgd "--optimizer dcasgd --lr 0.25"

# Full sync on the same problem: the data centers wait for each other, the
# result is the oracle's to the bit, and it is the optimum.
start_hips full 1 2 2 "--optimizer sgd --lr 0.25" ""
start_workers full 2 2 --objective quadratic --sizes $SIZES --rounds $R -q
# shellcheck disable=SC2046
expect_all "full: every process exits 0 by itself" 30 0 $(hips_names full 1 2 2)
if $ORACLE hips --objective quadratic --sizes $SIZES --rounds $R --optimizer sgd --lr 0.25 \
	--init "$T/full.w00.init" --dump "$T/full.w00" --final "$T/full.w00.final" >"$T/full.oracle" 2>&1 &&
	$ORACLE same "$T/full.w00" "$T/full.w01" "$T/full.w10" "$T/full.w11" >>"$T/full.oracle" 2>&1; then
	ok "full: every round of every worker matches the oracle bit for bit"
else
	notok "full: every round of every worker matches the oracle bit for bit" "$(tr '\n' '|' <"$T/full.oracle")"
fi
if $ORACLE optimum --sizes $SIZES --workers 2 --final "$T/full.w00.final" --tol $TOL >"$T/full.opt" 2>&1; then
	ok "full: training converges to the optimum"
	cat "$T/full.opt"
else
	notok "full: training converges to the optimum" "$(tr '\n' '|' <"$T/full.opt")"
fi
sm=$(stat_field "$T/full.g0.stats" staleness 4)
if [ "$sm" = 0 ]; then ok "full: no stale update"; else notok "full: no stale update" "staleness max '$sm'"; fi

finish
