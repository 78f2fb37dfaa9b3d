#!/bin/sh
# tests/integration/restart.sh — a worker's process restarted in its own
# place (geomx-train --resume, geomx-bench worker --restarted) while the
# local server keeps it (--reconnect-timeout): one data center, two workers,
# full sync;
#  a. undisturbed: both workers' final parameters;
#  b. worker 1 dies inside round 0, after its push of key 0 was in and
#     answered (rogue.py partial) but before those of keys 1 and 2: started
#     again with --restarted it says so, goes on, and every process exits 0
#     with the final parameters of a, bit for bit;
#  c. worker 1, first to come, pushes its whole round 0 and dies before
#     worker 0 has come (the round is being gathered): the same;
#  d. b under mixed sync (one party), against an undisturbed mixed job;
#  e. geomx-train: worker 1 killed (SIGKILL) at a random step and started
#     again with --resume: worker 0's parameters at every step, and both
#     workers' at the end, are those of an undisturbed run (skipped without
#     Fashion-MNIST);
#  f. the same under HFA sync (k1 4, k2 2; each worker's model and Adam
#     state its own, in its checkpoint every 4 steps);
#  g. the same as e with a coded WAN (bsc), the optimizer at the local;
#  h. the same as e with an fp16 LAN (the residuals of the worker's pushes
#     its own, in its checkpoint);
#  i. the same as f with an fp16 LAN;
#  j. the same as e under mixed sync;
#  k. b with flat workers: the global server keeps their places.
# shellcheck disable=SC2086 # $HB and $TR are split on purpose
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
HB="--heartbeat 0.2 --heartbeat-timeout 2"
SIZES=4,7,1000
W="geomx-bench worker --sizes $SIZES --rounds 12 --same-init $HB"

# servers NAME [GLOBAL OPTION...] — a global and a local server keeping
# away workers' places (the local's options in $LOPT); LOCAL gets the
# local's port.
servers() {
	_s=$1
	shift
	spawn $_s.g geomx-ps --role global --parties 1 --optimizer adam --lr 0.01 $HB "$@"
	spawn $_s.l geomx-ps --role local --workers 2 --upstream 127.0.0.1:$(port_of $_s.g) \
		--reconnect-timeout 60 $HB ${LOPT:-}
	LOCAL=127.0.0.1:$(port_of $_s.l)
}

# first NAME — worker 0, waited for until its INIT is answered.
first() {
	spawn $1.w0 $W --ps $LOCAL --rank 0 --dump "$T/$1.w0"
	_i=0
	while [ ! -s "$T/$1.w0.init" ] && [ $_i -lt 600 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
}

# same NAME CHECK [REF] — NAME's final parameters are REF's (default a),
# worker by worker.
same() {
	_ref=${3:-a}
	if cmp -s "$T/$_ref.w0.final" "$T/$1.w0.final" && cmp -s "$T/$_ref.w1.final" "$T/$1.w1.final"
	then
		ok "$2"
	else
		notok "$2" "$(ls -l "$T/$_ref.w0.final" "$T/$1.w0.final" "$T/$1.w1.final" 2>&1 | tr '\n' '|')"
	fi
}

# dies_restarts NAME SAYS — worker 1 a rogue that pushes key 0 of round 0,
# has it answered and dies (checked as "SAYS worker 1 pushes ..."), then
# the real worker 1 started again in its place with --restarted.
dies_restarts() {
	spawn $1.r python3 "$GX_TOP/tests/integration/rogue.py" member $LOCAL --rank 1 \
		--sizes $SIZES --then partial --push 0
	expect_exit "$2 worker 1 pushes key 0 of round 0, has it answered and dies" $1.r 30 0
	spawn $1.w1 $W --ps $LOCAL --rank 1 --dump "$T/$1.w1" --restarted -v
}

servers a
first a
spawn a.w1 $W --ps $LOCAL --rank 1 --dump "$T/a.w1"
expect_all "a. undisturbed: every process exits 0" 60 0 a.w0 a.w1 a.l a.g

# b: worker 1 a rogue that pushes key 0 of round 0, has it answered, and
# dies.
servers b
first b
dies_restarts b "b."
expect_all "b. ... started again with --restarted: every process exits 0" 60 0 b.w0 b.w1 b.l b.g
same b "b. ... and both workers end with the undisturbed job's parameters"
expect_match "b. the restarted worker says it goes on inside round 0" "$T/b.w1.err" \
	"restarted at round 0, inside it"

# c: worker 1 (first, with a's initial values) pushes all of round 0 and
# dies before worker 0 has come: its round is being gathered.
servers c
spawn c.r python3 "$GX_TOP/tests/integration/rogue.py" member $LOCAL --rank 1 --sizes $SIZES \
	--then partial --push 0,1,2 --no-wait --init "$T/a.w0.init"
expect_exit "c. worker 1 pushes all of round 0 and dies, unanswered" c.r 30 0
spawn c.w1 $W --ps $LOCAL --rank 1 --dump "$T/c.w1" --restarted -v
wait_match "$T/c.w1.err" "restarted at round" 30
expect_match "c. started again, it goes on at round 0 (its pushes are being gathered)" \
	"$T/c.w1.err" "restarted at round 0$"
first c
expect_all "c. ... worker 0 comes: every process exits 0" 60 0 c.w0 c.w1 c.l c.g
same c "c. ... and both workers end with the undisturbed job's parameters"
expect_match "b. the local server says so" "$T/b.l.err" "was restarted: it goes on"

# d: mixed sync (one party: deterministic), worker 1 as in b
servers da --sync mixed
first da
spawn da.w1 $W --ps $LOCAL --rank 1 --dump "$T/da.w1"
expect_all "d. mixed sync, undisturbed: every process exits 0" 60 0 da.w0 da.w1 da.l da.g
servers d --sync mixed
first d
dies_restarts d "d. mixed sync:"
expect_all "d. ... started again with --restarted: every process exits 0" 60 0 d.w0 d.w1 d.l d.g
same d "d. ... and both workers end with the undisturbed mixed job's parameters" da

# k: b with flat workers (parties of one, straight to a global server that
# keeps their places), against an undisturbed flat job
for j in ka kb; do
	spawn $j.g geomx-ps --role global --parties 2 --optimizer adam --lr 0.01 \
		--reconnect-timeout 60 $HB
	LOCAL=127.0.0.1:$(port_of $j.g)
	first $j
	if [ $j = ka ]; then
		spawn ka.w1 $W --ps $LOCAL --rank 1 --dump "$T/ka.w1"
	else
		dies_restarts kb "k. flat:"
	fi
done
expect_all "k. flat: undisturbed, and worker 1 restarted: every process exits 0" 60 0 \
	ka.w0 ka.w1 ka.g kb.w0 kb.w1 kb.g
same kb "k. ... and both workers end with the undisturbed flat job's parameters" ka
expect_match "k. the restarted worker says it goes on inside round 0" "$T/kb.w1.err" \
	"restarted at round 0, inside it"
expect_match "k. the global server says it was restarted" "$T/kb.g.err" "was restarted: it goes on"

# freeze_kill WORKER LOCAL — kills WORKER (SIGKILL) while its local server
# is stopped (SIGSTOP, then SIGCONT), so that however late this script
# gets to it on a busy machine the job cannot have ended first.
freeze_kill() {
	kill -STOP "$(pid_of "$2")"
	kill -KILL "$(pid_of "$1")"
	kill -CONT "$(pid_of "$2")"
}

DATA=${GEOMX_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
if [ ! -r "$DATA/train-images-idx3-ubyte.gz" ] || ! command -v geomx-train >/dev/null 2>&1; then
	echo "# e: skipped (Fashion-MNIST not installed in $DATA)"
	finish
fi
# kill_resume C WHAT LO EVERY TRAIN [SERVER OPTION...] — the same geomx-train
# job twice, Ca undisturbed, and Cb with worker 1 (--checkpoint-every EVERY)
# killed after a step drawn from LO..20 and started again with --resume;
# checks that every process exits 0, that worker 0's parameters at every
# step and both workers' at the end are Ca's. $n is the step drawn.
kill_resume() {
	_c=$1 _what=$2 _lo=$3 _every=$4 _tr=$5
	shift 5
	for j in ${_c}a ${_c}b; do
		servers $j "$@"
		spawn $j.w0 $_tr --shard 0/2 --ps $LOCAL --rank 0
		spawn $j.w1 $_tr --shard 1/2 --ps $LOCAL --rank 1 --checkpoint "$T/$j.ck" \
			--checkpoint-every $_every
	done
	n=$(awk -v lo="$_lo" 'BEGIN { srand(); print lo + int(rand() * (21 - lo)) }')
	wait_match "$T/${_c}b.w1.out" "^$n[[:space:]]" 120 ||
		echo "# $_c: worker 1 did not reach step $n"
	freeze_kill ${_c}b.w1 ${_c}b.l
	wait_pid "$(pid_of ${_c}b.w1)" 10
	spawn ${_c}b.w1b $_tr --shard 1/2 --ps $LOCAL --rank 1 --checkpoint "$T/${_c}b.ck" \
		--checkpoint-every $_every --resume -v -v
	expect_all "$_c. $_what: worker 1 killed after step $n and resumed: every process exits 0" \
		120 0 ${_c}a.w0 ${_c}a.w1 ${_c}a.l ${_c}a.g ${_c}b.w0 ${_c}b.w1b ${_c}b.l ${_c}b.g
	cut -f 1,8 "$T/${_c}a.w0.out" >"$T/${_c}a.c0"
	cut -f 1,8 "$T/${_c}b.w0.out" >"$T/${_c}b.c0"
	_same="$_c. ... worker 0's parameters at every step and both workers' at the end are the undisturbed run's"
	if cmp -s "$T/${_c}a.c0" "$T/${_c}b.c0" && [ "$(wc -l <"$T/${_c}a.c0")" -gt 10 ] &&
		[ "$(tail -n 1 "$T/${_c}a.w1.out" | cut -f 8)" = \
			"$(tail -n 1 "$T/${_c}b.w1b.out" | cut -f 8)" ]; then
		ok "$_same"
	else
		notok "$_same" "$(diff "$T/${_c}a.c0" "$T/${_c}b.c0" | head -n 4 | tr '\n' '|')"
	fi
}

TRAIN="geomx-train --data fashion-mnist --test-limit 500 --seed 3 --model mlp --limit 2000 \
--epochs 4 --batch 32 --report-every 1 -q"
kill_resume e geomx-train 3 1 "$TRAIN"
expect_match "e. the resumed worker says where it goes on" "$T/eb.w1b.err" "resuming (inside step|at step)"
# f: HFA sync, the same kill at a random step
kill_resume f HFA 1 4 "$TRAIN --optimizer adam --lr 0.003" --sync hfa --k1 4 --k2 2
# g: a coded WAN (the model's copy and the optimizer at the local server)
LOPT="--wan-codec bsc:0.05 --sparse-min 100"
kill_resume g "a coded WAN" 3 1 "$TRAIN"
# h, i: an fp16 LAN (the residuals of the worker's pushes in its checkpoint)
LOPT="--lan-codec fp16"
kill_resume h "an fp16 LAN" 3 1 "$TRAIN"
kill_resume i "HFA with an fp16 LAN" 1 4 "$TRAIN --optimizer adam --lr 0.003" --sync hfa --k1 4 \
	--k2 2
echo "# h: $(grep -o 'taken through the residuals again\|resuming [a-z]* step' "$T/hb.w1b.err" | head -n 1)"
LOPT=
# j: mixed sync (one party)
kill_resume j "mixed sync" 3 1 "$TRAIN" --sync mixed
finish
