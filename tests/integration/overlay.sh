#!/bin/sh
# tests/integration/overlay.sh — the adaptive overlay (geomx-ps --overlay
# adaptive) on loopback: three data centers of two synthetic workers
# (geomx-bench worker, the same initial values everywhere), one global
# server. With --overlay-epsilon 1 every round runs on the best plan with one
# change drawn at random, so the parties' sums are folded at several kinds
# of place (a data center, another, the global), travel between the local
# servers, and answers are passed on between them; the workers' dumps
# (every round's CRC-32C, the final parameters) must be the star's byte for
# byte, under momentum (checked against the oracle too) and Adam (whose
# arithmetic is not exact, so only the fold's order keeps the bits), and
# with every link encrypted. A local server that holds only its party's key
# cannot link to the others (named); a data center's local server killed
# mid-run is named and every process ends by itself, none left behind.
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
SIZES=1,10,1000,50000
R=12

# mkkey FILE — 32 random bytes as hex, mode 0600.
mkkey() {
	(umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$1" && echo >>"$1")
}
K=$T/job.key
mkkey "$K"

# job NAME "GLOBAL ARGS" "LOCAL ARGS" [WORKER ARGS] — the job, run to its end.
job() {
	start_hips "$1" 1 3 2 "$2" "$3"
	# shellcheck disable=SC2086
	start_workers "$1" 3 2 --sizes "$SIZES" --rounds "$R" --same-init -q ${4:-}
	# shellcheck disable=SC2086
	expect_all "$1: every process exits 0 by itself" 60 0 $(hips_names "$1" 1 3 2)
}

# same NAME REF — NAME's six workers' dumps are REF's worker 0's.
same() {
	_bad=""
	for _w in 00 01 10 11 20 21; do
		for _x in "" .final; do
			cmp -s "$T/$2.w00$_x" "$T/$1.w$_w$_x" || _bad="$_bad $_w$_x"
		done
	done
	if [ -z "$_bad" ] && [ "$(wc -l <"$T/$1.w00")" -eq $((R * 4)) ]; then
		ok "$1: every worker's $R rounds and final parameters are $2's, byte for byte"
	else
		notok "$1: every worker's $R rounds and final parameters are $2's, byte for byte" \
			"differ:$_bad; $(wc -l <"$T/$1.w00") lines"
	fi
}

# folded NAME — the locals' statistics: sums travelled between data
# centers and were folded there; the global counted one plan a round and
# took the measurements of the links between data centers.
folded() {
	_in=0 _fo=0 _an=0
	for _p in 0 1 2; do
		_in=$((_in + $(awk -F '\t' '$1 == "overlay" { print $5 }' "$T/$1.l$_p.stats")))
		_fo=$((_fo + $(awk -F '\t' '$1 == "overlay" { print $3 }' "$T/$1.l$_p.stats")))
		_an=$((_an + $(awk -F '\t' '$1 == "overlay" { print $13 }' "$T/$1.l$_p.stats")))
	done
	_pl=$(awk -F '\t' '$1 == "overlay" { print $3 }' "$T/$1.g0.stats")
	_rp=$(awk -F '\t' '$1 == "overlay" { print $9 }' "$T/$1.g0.stats")
	_dc=$(awk -F '\t' '$1 == "overlay_link" && $2 < 3 && $3 < 3 && $5 > 0' "$T/$1.g0.stats" | wc -l)
	if [ "$_in" -gt 0 ] && [ "$_fo" -gt 0 ] && [ "${_pl:-0}" -ge "$R" ] &&
		[ "${_rp:-0}" -gt 0 ] && [ "$_dc" -gt 0 ] && [ "$_an" -gt 0 ]; then
		ok "$1: sums went between data centers ($_in) and were folded there ($_fo), answers passed on ($_an), $_pl plans, $_rp link reports ($_dc links between data centers measured)"
	else
		notok "$1: sums went between data centers and were folded there, answers passed on, links measured" \
			"sums_in $_in, folds $_fo, answers passed on $_an, plans ${_pl:-none}, reports ${_rp:-none}, links $_dc"
	fi
}

MOM="--optimizer momentum --lr 0.25 --momentum 0.5"
ADAM="--optimizer adam --lr 0.01"
RANDOM_PLANS="--overlay adaptive --overlay-epsilon 1 --overlay-seed 3"

job star "$MOM" ""
job ovl "$MOM $RANDOM_PLANS" ""
same ovl star
folded ovl
$ORACLE hips --sizes "$SIZES" --parties 3 --workers 2 --rounds "$R" $MOM \
	--init "$T/ovl.w00.init" --dump "$T/ovl.w00" --final "$T/ovl.w00.final" >"$T/ovl.oracle" 2>&1 &&
	ok "ovl: every round's CRC-32C and the final parameters match the oracle bit for bit" ||
	notok "ovl: every round's CRC-32C and the final parameters match the oracle bit for bit" \
		"$(tr '\n' '|' <"$T/ovl.oracle")"

# A plan given: every round folds at data centers 0 and 1, and the
# answers pass from 0 to 1 to 2.
job fixed "$MOM --overlay adaptive --overlay-plan 0,1,1:G,0,1" ""
same fixed star
_f=$(awk -F '\t' '$1 == "overlay" { print $3, $5 } $1 == "overlay_plan" { print $2, $4 }' "$T/fixed.g0.stats" | tr '\n' ' ')
[ "$_f" = "13 0 0,1,1:G,0,1 13 " ] && ok "fixed: 13 plans, none drawn at random, all the one given" ||
	notok "fixed: 13 plans, none drawn at random, all the one given" "plans, explored, plans used: $_f"

job astar "$ADAM" ""
job aovl "$ADAM $RANDOM_PLANS" ""
same aovl astar
# The default epsilon: the best plan most rounds (the star, until a link
# measures better), the same bits.
job adef "$ADAM --overlay adaptive" ""
same adef astar

# DC-ASGD keeps a backup of what each party holds: a party answered by
# another data center holds the same.
DCA="--optimizer dcasgd --lr 0.1 --momentum 0.5 --lambda 0.04"
job dstar "$DCA" ""
job dovl "$DCA $RANDOM_PLANS" ""
same dovl dstar

# Every link encrypted, those between the data centers too.
job sec "$ADAM $RANDOM_PLANS --key $K" "--key $K" "--key $K"
same sec astar
folded sec

# A local server with only its party's key cannot tell the others'.
for p in 0 1 2; do
	geomx-relay --genkey "$T/p$p.key" --key "$K" --party $p >/dev/null 2>&1 ||
		notok "derive party $p's key"
done
spawn pk.g0 geomx-ps --role global --parties 2 --overlay adaptive --key "$K" --connect-timeout 5
g=$(port_of pk.g0)
spawn pk.l0 geomx-ps --role local --party 0 --workers 1 --upstream "127.0.0.1:$g" \
	--key "$T/p0.key" --connect-timeout 5
expect_exit "a local server holding its party's key under the overlay exits 1" pk.l0 30 1
expect_match "... saying it needs the job's key" "$T/pk.l0.err" "needs the job's key"
{ kill "$(pid_of pk.g0)"; } 2>/dev/null
wait_pid "$(pid_of pk.g0)" 10

# A data center's local server killed mid-run: named, and everything ends.
start_hips kill 1 3 2 "$MOM $RANDOM_PLANS" ""
start_workers kill 3 2 --sizes "$SIZES" --rounds 100000 --same-init -q --reconnect-timeout 0
wait_match "$T/kill.w00" '^2 1 ' 60 || echo "# kill: the job did not reach round 3: $(tail -c 300 "$T/kill.g0.err")"
kill -KILL "$(pid_of kill.l1)"
wait_pid "$(pid_of kill.l1)" 5
expect_all "kill: the other processes exit 1 by themselves" 60 1 \
	kill.w00 kill.w01 kill.w10 kill.w11 kill.w20 kill.w21 kill.l0 kill.l2 kill.g0
if grep -Eq 'local 1 \(127\.0\.0\.1:[0-9]+\) died' "$T/kill.g0.err" &&
	grep -Eq 'local 1 \(127\.0\.0\.1:[0-9]+\) died' "$T/kill.l0.err" "$T/kill.l2.err"; then
	ok "kill: the global server and a data center name the dead local server"
else
	notok "kill: the global server and a data center name the dead local server" \
		"global: $(tail -c 200 "$T/kill.g0.err" | tr '\n' '|')" \
		"l0: $(tail -c 200 "$T/kill.l0.err" | tr '\n' '|')"
fi

finish
