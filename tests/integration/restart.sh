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
#  d. under mixed sync a restarted worker is refused, with a message;
#  e. geomx-train: worker 1 killed (SIGKILL) at a random step and started
#     again with --resume: worker 0's parameters at every step, and both
#     workers' at the end, are those of an undisturbed run (skipped without
#     Fashion-MNIST);
#  f. the same under HFA sync (k1 4, k2 2; each worker's model and Adam
#     state its own, in its checkpoint every 4 steps).
# shellcheck disable=SC2086 # $HB and $TR are split on purpose
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
HB="--heartbeat 0.2 --heartbeat-timeout 2"
SIZES=4,7,1000
W="geomx-bench worker --sizes $SIZES --rounds 12 --same-init $HB"

# servers NAME [GLOBAL OPTION...] — a global and a local server keeping
# away workers' places; LOCAL gets the local's port.
servers() {
	_s=$1
	shift
	spawn $_s.g geomx-ps --role global --parties 1 --optimizer adam --lr 0.01 $HB "$@"
	spawn $_s.l geomx-ps --role local --workers 2 --upstream 127.0.0.1:$(port_of $_s.g) \
		--reconnect-timeout 60 $HB
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

# same NAME CHECK — NAME's final parameters are a's, worker by worker.
same() {
	if cmp -s "$T/a.w0.final" "$T/$1.w0.final" && cmp -s "$T/a.w1.final" "$T/$1.w1.final"; then
		ok "$2"
	else
		notok "$2" "$(ls -l "$T/a.w0.final" "$T/$1.w0.final" "$T/$1.w1.final" 2>&1 | tr '\n' '|')"
	fi
}

servers a
first a
spawn a.w1 $W --ps $LOCAL --rank 1 --dump "$T/a.w1"
expect_all "a. undisturbed: every process exits 0" 60 0 a.w0 a.w1 a.l a.g

# b: worker 1 a rogue that pushes key 0 of round 0, has it answered, and
# dies.
servers b
first b
spawn b.r python3 "$GX_TOP/tests/integration/rogue.py" member $LOCAL --rank 1 --sizes $SIZES \
	--then partial --push 0
expect_exit "b. worker 1 pushes key 0 of round 0, has it answered and dies" b.r 30 0
spawn b.w1 $W --ps $LOCAL --rank 1 --dump "$T/b.w1" --restarted -v
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

servers d --sync mixed
first d
spawn d.r python3 "$GX_TOP/tests/integration/rogue.py" member $LOCAL --rank 1 --sizes $SIZES \
	--then partial --push ""
expect_exit "d. mixed sync: worker 1 registers and dies" d.r 30 0
spawn d.w1 $W --ps $LOCAL --rank 1 --restarted --reconnect-timeout 0
expect_exit "d. ... started again with --restarted, it is refused (status 1)" d.w1 30 1
expect_match "d. ... with the reason" "$T/d.w1.err" "under full or HFA sync only"
kill -TERM "$(pid_of d.w0)" "$(pid_of d.l)" "$(pid_of d.g)" 2>/dev/null

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
TR="geomx-train --data fashion-mnist --test-limit 500 --seed 3 --model mlp --limit 2000 \
--epochs 4 --batch 32 --report-every 1 -q"
for j in ea eb; do
	servers $j
	spawn $j.w0 $TR --shard 0/2 --ps $LOCAL --rank 0
	spawn $j.w1 $TR --shard 1/2 --ps $LOCAL --rank 1 --checkpoint "$T/$j.ck" --checkpoint-every 1
done
# eb's worker 1 dies at a step of 3 to 20, drawn here
n=$(awk 'BEGIN { srand(); print 3 + int(rand() * 18) }')
wait_match "$T/eb.w1.out" "^$n[[:space:]]" 120 || echo "# e: worker 1 did not reach step $n"
freeze_kill eb.w1 eb.l
wait_pid "$(pid_of eb.w1)" 10
spawn eb.w1b $TR --shard 1/2 --ps $LOCAL --rank 1 --checkpoint "$T/eb.ck" --checkpoint-every 1 \
	--resume -v -v
expect_all "e. geomx-train: worker 1 killed after step $n and resumed: every process exits 0" 120 0 \
	ea.w0 ea.w1 ea.l ea.g eb.w0 eb.w1b eb.l eb.g
cut -f 1,8 "$T/ea.w0.out" >"$T/ea.c0"
cut -f 1,8 "$T/eb.w0.out" >"$T/eb.c0"
if cmp -s "$T/ea.c0" "$T/eb.c0" && [ "$(wc -l <"$T/ea.c0")" -gt 10 ] &&
	[ "$(tail -n 1 "$T/ea.w1.out" | cut -f 8)" = "$(tail -n 1 "$T/eb.w1b.out" | cut -f 8)" ]; then
	ok "e. ... worker 0's parameters at every step and both workers' at the end are the undisturbed run's"
else
	notok "e. ... worker 0's parameters at every step and both workers' at the end are the undisturbed run's" \
		"$(diff "$T/ea.c0" "$T/eb.c0" | head -n 4 | tr '\n' '|')"
fi
expect_match "e. the resumed worker says where it goes on" "$T/eb.w1b.err" "resuming (inside step|at step)"

# f: HFA sync, the same kill at a random step
TRH="geomx-train --data fashion-mnist --test-limit 500 --seed 3 --model mlp --limit 2000 \
--epochs 4 --batch 32 --report-every 1 -q --optimizer adam --lr 0.003"
for j in fa fb; do
	servers $j --sync hfa --k1 4 --k2 2
	spawn $j.w0 $TRH --shard 0/2 --ps $LOCAL --rank 0
	spawn $j.w1 $TRH --shard 1/2 --ps $LOCAL --rank 1 --checkpoint "$T/$j.ck" --checkpoint-every 4
done
n=$(awk 'BEGIN { srand(); print 1 + int(rand() * 20) }')
wait_match "$T/fb.w1.out" "^$n[[:space:]]" 120 || echo "# f: worker 1 did not reach step $n"
freeze_kill fb.w1 fb.l
wait_pid "$(pid_of fb.w1)" 10
spawn fb.w1b $TRH --shard 1/2 --ps $LOCAL --rank 1 --checkpoint "$T/fb.ck" --checkpoint-every 4 \
	--resume -v -v
expect_all "f. HFA: worker 1 killed after step $n and resumed: every process exits 0" 120 0 \
	fa.w0 fa.w1 fa.l fa.g fb.w0 fb.w1b fb.l fb.g
cut -f 1,8 "$T/fa.w0.out" >"$T/fa.c0"
cut -f 1,8 "$T/fb.w0.out" >"$T/fb.c0"
if cmp -s "$T/fa.c0" "$T/fb.c0" && [ "$(wc -l <"$T/fa.c0")" -gt 10 ] &&
	[ "$(tail -n 1 "$T/fa.w1.out" | cut -f 8)" = "$(tail -n 1 "$T/fb.w1b.out" | cut -f 8)" ]; then
	ok "f. ... worker 0's parameters at every step and both workers' at the end are the undisturbed run's"
else
	notok "f. ... worker 0's parameters at every step and both workers' at the end are the undisturbed run's" \
		"$(diff "$T/fa.c0" "$T/fb.c0" | head -n 4 | tr '\n' '|')"
fi
finish
