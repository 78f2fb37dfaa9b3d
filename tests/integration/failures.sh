#!/bin/sh
# tests/integration/failures.sh — what the servers do when things go wrong:
#  a. a worker killed (SIGKILL) mid-run: its local server names it at once,
#     and by default the whole job fails, every process with status 1;
#  b. the same with --elastic: the survivors finish every round, status 0,
#     and every round is the mean over the workers still pushing
#     (tests/integration/oracle.py elastic); likewise a whole data center
#     lost by a global server with --elastic;
#  c. a worker stopped (SIGSTOP) is found dead by the heartbeat timeout,
#     while its partner, blocked waiting for it, is not;
#  d. rogue clients (tests/integration/rogue.py) — bytes that are no frame,
#     a HELLO of protocol version 2, of a taken or out-of-range rank or of the
#     wrong role, a connection that says nothing — are answered with an ERROR
#     and disconnected alone, before and during a job that completes;
#  e. registered workers that break the protocol (a key not in the table, a
#     round out of order, a push before init, a wrong count, bytes that are
#     no frame) are dropped (--elastic) and the proper one finishes; one whose
#     key table differs fails the job (default);
#  f. start-up: a local server says which upstream and which worker ranks
#     it is waiting for, then gets on with the job when they come; and gives
#     up after --connect-timeout when its upstream never answers;
#  g. a job idle longer than the heartbeat timeout (slow rounds) is alive:
#     heartbeats keep every link up;
#  h. signals: SIGUSR1 logs the statistics and goes on, SIGTERM stops the
#     server (status 1, statistics written) and the job with it;
#  i. a local server announcing more workers (MEMBERS) than its HELLO said
#     is refused.
# shellcheck disable=SC2086 # ports, $HB and option strings are split on purpose
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
ROGUE="python3 $GX_TOP/tests/integration/rogue.py"
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
# The workers' client sends a heartbeat every second (GX_DEFAULT_HEARTBEAT):
# the servers' timeout must exceed it.
HB="--heartbeat 0.2 --heartbeat-timeout 2"

# rounds_done DUMP — rounds a 2-key worker has finished.
rounds_done() { echo $(($(wc -l <"$1" 2>/dev/null || echo 0) / 2)); }

# --- g. (in the background while the rest runs) an idle job ---------------
# Two rounds, each after 2.5 s of "compute": longer than the 2 s timeout.
spawn g.g geomx-ps --role global --parties 1 $HB
g=$(port_of g.g)
spawn g.l geomx-ps --role local --reconnect-timeout 0 --workers 2 --upstream 127.0.0.1:$g $HB
l=$(port_of g.l)
for w in 0 1; do
	spawn g.w$w geomx-bench worker --ps 127.0.0.1:$l --rank $w --sizes 4,7 --rounds 2 \
		--sleep 2500 --dump "$T/g.w$w"
done

# The local servers here keep no place for a worker whose link breaks
# (--reconnect-timeout 0): a killed worker is dead at once, as these cases
# are about (tests/integration/reconnect.sh is about links that come back).

# --- a. SIGKILL, default: the job fails everywhere ------------------------
spawn a.g geomx-ps --role global --parties 2 $HB
g=$(port_of a.g)
spawn a.l0 geomx-ps --role local --reconnect-timeout 0 --party 0 --workers 2 --upstream 127.0.0.1:$g $HB
spawn a.l1 geomx-ps --role local --reconnect-timeout 0 --party 1 --workers 1 --upstream 127.0.0.1:$g $HB
l0=$(port_of a.l0) l1=$(port_of a.l1)
for w in 0 1; do
	spawn a.w0$w geomx-bench worker --ps 127.0.0.1:$l0 --party 0 --rank $w --sizes 4,7 \
		--rounds 400 --sleep 50 --dump "$T/a.w0$w"
done
spawn a.w10 geomx-bench worker --ps 127.0.0.1:$l1 --party 1 --rank 0 --sizes 4,7 \
	--rounds 400 --sleep 50 --dump "$T/a.w10"
wait_match "$T/a.w00" '^2 1 ' 60 || echo "# a: the job did not reach round 3: $(tail -c 300 "$T/a.l0.err")"
t=$(now_ms)
kill -KILL "$(pid_of a.w01)"
if wait_match "$T/a.l0.err" 'worker 1 \(127\.0\.0\.1:[0-9]+\) died' 30; then
	ms=$(($(now_ms) - t))
	ok "a: the local server names the killed worker"
	echo "# after $ms ms: $(grep -E 'worker 1 .*died' "$T/a.l0.err" | head -n 1)"
else
	notok "a: the local server names the killed worker" "stderr: $(tr '\n' '|' <"$T/a.l0.err")"
fi
wait_pid "$(pid_of a.w01)" 5
expect_all "a: without --elastic the other workers and every server exit 1" 60 1 a.w00 a.w10 a.l0 a.l1 a.g
# Each survivor says what happened, not just that something did.
for n in a.w00 a.w10 a.l1 a.g; do
	if grep -q 'worker 1 (127\.0\.0\.1:[0-9]*) died' "$T/$n.err"; then :; else bad="${bad:-} $n"; fi
done
if [ -z "${bad:-}" ]; then
	ok "a: every other process's error names the dead worker"
	echo "# other data center's worker: $(head -n 1 "$T/a.w10.err")"
else
	notok "a: every other process's error names the dead worker" "not in:$bad"
	for n in $bad; do echo "#   $n: $(tr '\n' '|' <"$T/$n.err" | head -c 300)"; done
fi
unset bad
rounds=$(rounds_done "$T/a.w00")
if [ "$rounds" -lt 400 ]; then ok "a: the job stopped early"; else notok "a: the job stopped early" "$rounds rounds done"; fi

# --- b. SIGKILL, --elastic: the survivors finish --------------------------
# Three workers; the model on two global servers (key 1, 7 floats, split
# over both: the MEMBERS message must reach each); worker 1 killed after
# round 3, worker 2 after round 8; worker 0 goes on alone. Full and mixed
# synchronization (one data center: the same arithmetic).
# b_job NAME SYNC
b_job() {
	spawn $1.g0 geomx-ps --role global --parties 1 --sync $2 --optimizer sgd --lr 0.5 $HB --stats "$T/$1.g0.stats"
	spawn $1.g1 geomx-ps --role global --parties 1 --sync $2 --optimizer sgd --lr 0.5 $HB --stats "$T/$1.g1.stats"
	up=127.0.0.1:$(port_of $1.g0),127.0.0.1:$(port_of $1.g1)
	spawn $1.l geomx-ps --role local --reconnect-timeout 0 --workers 3 --elastic --split-bound 5 --upstream $up $HB
	l=$(port_of $1.l)
	for w in 0 1 2; do
		spawn $1.w$w geomx-bench worker --ps 127.0.0.1:$l --rank $w --sizes 4,7 --rounds 30 \
			--sleep 30 --dump "$T/$1.w$w"
	done
	wait_match "$T/$1.w0" '^2 1 ' 60 || echo "# $1: the job did not reach round 3: $(tail -c 300 "$T/$1.l.err")"
	kill -KILL "$(pid_of $1.w1)"
	wait_match "$T/$1.w0" '^7 1 ' 60
	kill -KILL "$(pid_of $1.w2)"
	wait_pid "$(pid_of $1.w1)" 5
	wait_pid "$(pid_of $1.w2)" 5
	expect_all "$1: with --elastic the surviving worker and the servers exit 0 ($2 sync)" 60 0 $1.w0 $1.l $1.g0 $1.g1
	if [ "$(rounds_done "$T/$1.w0")" = 30 ] && [ -s "$T/$1.w0.final" ]; then
		ok "$1: the surviving worker did all 30 rounds"
	else
		notok "$1: the surviving worker did all 30 rounds" "$(rounds_done "$T/$1.w0") rounds: $(tail -c 300 "$T/$1.w0.err")"
	fi
	if grep -Eq 'worker 1 \(127\.0\.0\.1:[0-9]+\) died: ' "$T/$1.l.err" &&
		grep -Eq 'worker 2 \(127\.0\.0\.1:[0-9]+\) died: ' "$T/$1.l.err" &&
		[ "$(grep -c 'elastic: going on without it' "$T/$1.l.err")" = 2 ]; then
		ok "$1: the local server names each dead worker and goes on without it"
	else
		notok "$1: the local server names each dead worker and goes on without it" "$(tr '\n' '|' <"$T/$1.l.err")"
	fi
	if $ORACLE elastic --sizes 4,7 --workers 3 --dropped 1,2 --rounds 30 --optimizer sgd --lr 0.5 \
		--init "$T/$1.w0.init" --dump "$T/$1.w0" --final "$T/$1.w0.final" >"$T/$1.oracle" 2>&1; then
		ok "$1: every round is the mean over the workers still pushing (oracle, bit for bit)"
		cat "$T/$1.oracle"
	else
		notok "$1: every round is the mean over the workers still pushing (oracle, bit for bit)" \
			"$(tr '\n' '|' <"$T/$1.oracle")"
	fi
}
b_job b full
b_job bm mixed

# A data center lost: the global server keeps its place for
# --reconnect-timeout, then goes on with the others.
spawn b2.g geomx-ps --role global --parties 2 --elastic --reconnect-timeout 1 $HB \
	--stats "$T/b2.g.stats"
g=$(port_of b2.g)
spawn b2.l0 geomx-ps --role local --reconnect-timeout 0 --party 0 --workers 2 --upstream 127.0.0.1:$g $HB
spawn b2.l1 geomx-ps --role local --reconnect-timeout 0 --party 1 --workers 1 --upstream 127.0.0.1:$g $HB
l0=$(port_of b2.l0) l1=$(port_of b2.l1)
for w in 0 1; do
	spawn b2.w0$w geomx-bench worker --ps 127.0.0.1:$l0 --party 0 --rank $w --sizes 4,7 \
		--rounds 30 --sleep 40 --dump "$T/b2.w0$w"
done
spawn b2.w10 geomx-bench worker --ps 127.0.0.1:$l1 --party 1 --rank 0 --sizes 4,7 \
	--rounds 30 --sleep 40 --reconnect-timeout 0 --dump "$T/b2.w10"
wait_match "$T/b2.w00" '^2 1 ' 60 || echo "# b2: the job did not reach round 3: $(tail -c 300 "$T/b2.g.err")"
kill -KILL "$(pid_of b2.l1)"
wait_pid "$(pid_of b2.l1)" 5
expect_all "b: a global server with --elastic goes on without a dead data center: the rest exit 0" \
	60 0 b2.w00 b2.w01 b2.l0 b2.g
expect_all "b: ... the dead data center's worker exits 1" 60 1 b2.w10
if [ "$(rounds_done "$T/b2.w00")" = 30 ] && cmp -s "$T/b2.w00.final" "$T/b2.w01.final" &&
	grep -Eq 'local 1 \(127\.0\.0\.1:[0-9]+\) died' "$T/b2.g.err"; then
	ok "b: ... which did every round, while the global server named the dead one"
else
	notok "b: ... which did every round, while the global server named the dead one" \
		"$(rounds_done "$T/b2.w00") rounds; global: $(tr '\n' '|' <"$T/b2.g.err")"
fi

# --- c. SIGSTOP: the heartbeat timeout finds the silent worker -------------
spawn c.g geomx-ps --role global --parties 1 $HB
g=$(port_of c.g)
spawn c.l geomx-ps --role local --reconnect-timeout 0 --workers 2 --elastic --upstream 127.0.0.1:$g $HB
l=$(port_of c.l)
for w in 0 1; do
	spawn c.w$w geomx-bench worker --ps 127.0.0.1:$l --rank $w --sizes 4,7 --rounds 40 \
		--sleep 25 --dump "$T/c.w$w"
done
wait_match "$T/c.w0" '^2 1 ' 60 || echo "# c: the job did not reach round 3: $(tail -c 300 "$T/c.l.err")"
t=$(now_ms)
kill -STOP "$(pid_of c.w1)"
if wait_match "$T/c.l.err" 'worker 1 \(127\.0\.0\.1:[0-9]+\) died: silent' 30; then
	ms=$(($(now_ms) - t))
	# Silent for 2 s (the timeout), counted from the worker's last message,
	# which may precede the SIGSTOP by up to its heartbeat period (1 s) when
	# it waits for its partner; seen on a tick (0.1 s). Under the default
	# 5 s, which a busy machine's wake-ups do not reach.
	if [ $ms -ge 1000 ] && [ $ms -lt 5000 ]; then
		ok "c: a stopped worker is declared dead after the heartbeat timeout"
		echo "# after $ms ms (timeout 2 s): $(grep -E 'worker 1 .*died' "$T/c.l.err" | head -n 1)"
	else
		notok "c: a stopped worker is declared dead after the heartbeat timeout" "after $ms ms, want 1 to 5 s"
	fi
else
	notok "c: a stopped worker is declared dead after the heartbeat timeout" \
		"stderr: $(tr '\n' '|' <"$T/c.l.err")"
fi
kill -CONT "$(pid_of c.w1)" 2>/dev/null
expect_all "c: its partner, blocked waiting for it, is not; it finishes, as do the servers" 60 0 c.w0 c.l c.g
if grep -q 'worker 0 .*died' "$T/c.l.err"; then
	notok "c: the blocked partner is never declared dead" "$(grep 'died' "$T/c.l.err" | tr '\n' '|')"
else
	ok "c: the blocked partner is never declared dead"
fi
expect_all "c: the stopped worker, woken, finds itself dropped and exits 1" 60 1 c.w1

# --- d. rogue clients around a proper job ----------------------------------
# The global server has --connect-timeout 3, for the connection that says
# nothing (its local server, started next, joins at once); the local server
# waits for its workers as long as it takes the rogues before them to run
# (the default 30 s: each is a Python process, seconds on a busy machine).
spawn d.g geomx-ps --role global --parties 1 --connect-timeout 3 $HB
g=$(port_of d.g)
spawn d.l geomx-ps --role local --reconnect-timeout 0 --workers 2 --upstream 127.0.0.1:$g $HB
l=$(port_of d.l)
# Before the workers: garbage, and a HELLO of version 3 claiming rank 0,
# which must stay free.
$ROGUE garbage 127.0.0.1:$l >"$T/d.garbage-l" 2>&1; rc_gl=$?
$ROGUE version 127.0.0.1:$l --rank 0 >"$T/d.version-l" 2>&1; rc_vl=$?
# Hellos that are refused whatever the state (here before the job runs: the
# job's 4 s would not outlast four more Python processes on a loaded
# machine): a rank out of range, the wrong role for the server, a data
# center out of range.
$ROGUE hello 127.0.0.1:$l --rank 2 >"$T/d.range" 2>&1
$ROGUE hello 127.0.0.1:$l --role 2 >"$T/d.role-l" 2>&1
$ROGUE hello 127.0.0.1:$g --role 3 >"$T/d.role-g" 2>&1
$ROGUE hello 127.0.0.1:$g --role 2 --party 1 >"$T/d.party" 2>&1
spawn d.silent $ROGUE silent 127.0.0.1:$g
wait_match "$T/d.silent.out" '^# connected$' 60
t_silent=$(now_ms)
# 40 rounds of 100 ms, started once the silent connection is open: the job
# outlasts its 3 s.
for w in 0 1; do
	spawn d.w$w geomx-bench worker --ps 127.0.0.1:$l --rank $w --sizes 4,7 --rounds 40 \
		--sleep 100 --dump "$T/d.w$w"
done
$ROGUE garbage 127.0.0.1:$g >"$T/d.garbage-g" 2>&1; rc_gg=$?
$ROGUE version 127.0.0.1:$g --proto 7 >"$T/d.version-g" 2>&1; rc_vg=$?
wait_match "$T/d.w0" '^2 1 ' 60
$ROGUE garbage 127.0.0.1:$l >"$T/d.garbage-mid" 2>&1; rc_gm=$?
$ROGUE hello 127.0.0.1:$l --rank 1 >"$T/d.taken" 2>&1; rc_taken=$?

for c in "garbage-l $rc_gl" "garbage-g $rc_gg" "garbage-mid $rc_gm"; do
	set -- $c
	if [ "$2" = 0 ] && grep -q '^# error -6 .*bad magic' "$T/d.$1"; then
		ok "d: bytes that are no frame get an ERROR and a close ($1)"
	else
		notok "d: bytes that are no frame get an ERROR and a close ($1)" "rogue.py: $(tr '\n' '|' <"$T/d.$1")"
	fi
done
if [ "$rc_vl" = 0 ] && grep -Eq '^# error -21 .*version 3.*version 2' "$T/d.version-l" &&
	[ "$rc_vg" = 0 ] && grep -Eq '^# error -21 .*version 7.*version 2' "$T/d.version-g"; then
	ok "d: a HELLO of another protocol version gets an ERROR naming both versions"
	head -n 1 "$T/d.version-l"
else
	notok "d: a HELLO of another protocol version gets an ERROR naming both versions" \
		"local: $(tr '\n' '|' <"$T/d.version-l")" "global: $(tr '\n' '|' <"$T/d.version-g")"
fi
if [ "$rc_taken" != 0 ] && grep -Eq '^# error .*rank 1' "$T/d.taken"; then
	ok "d: a HELLO for a rank already connected is refused"
	head -n 1 "$T/d.taken"
else
	notok "d: a HELLO for a rank already connected is refused" "rogue.py: $(tr '\n' '|' <"$T/d.taken")"
fi
for c in "range worker rank 2 is out of range \\(this server expects 2 workers, ranks 0\\.\\.1\\)" \
	"role-l role local cannot connect to a local server" \
	"role-g this global server serves local servers" \
	"party party 1 is out of range"; do
	set -- $c
	f=$1
	shift
	if grep -Eq -- "^# error -21 $*" "$T/d.$f"; then
		ok "d: a HELLO the server cannot accept is refused, saying why ($f)"
	else
		notok "d: a HELLO the server cannot accept is refused, saying why ($f)" "rogue.py: $(tr '\n' '|' <"$T/d.$f")"
	fi
done
wait_pid "$(pid_of d.silent)" 60
ms=$(($(now_ms) - t_silent))
if [ "$WRC" = 0 ] && grep -q '^# error -23 .*no HELLO within 3 s' "$T/d.silent.out"; then
	ok "d: a connection that says nothing is closed after --connect-timeout"
else
	notok "d: a connection that says nothing is closed after --connect-timeout" \
		"status $WRC after $ms ms: $(tr '\n' '|' <"$T/d.silent.out")"
fi
expect_all "d: the job completes: workers and servers exit 0" 60 0 d.w0 d.w1 d.l d.g
if [ "$(rounds_done "$T/d.w0")" = 40 ] && cmp -s "$T/d.w0.final" "$T/d.w1.final"; then
	ok "d: both workers did every round and agree"
else
	notok "d: both workers did every round and agree" "$(rounds_done "$T/d.w0") rounds"
fi
n=$(grep -Ec 'connection from 127\.0\.0\.1:[0-9]+ refused' "$T/d.l.err")
if [ "$n" -ge 4 ] && grep -q 'refused: protocol version 3 is not supported' "$T/d.l.err" &&
	grep -Eq 'connection from 127\.0\.0\.1:[0-9]+ refused: protocol error: .*bad magic' "$T/d.g.err"; then
	ok "d: the servers log a line naming each refused connection"
else
	notok "d: the servers log a line naming each refused connection" "$n lines in the local's log:" \
		"$(tr '\n' '|' <"$T/d.l.err")" "global: $(tr '\n' '|' <"$T/d.g.err")"
fi

# --- e. workers that break the protocol after joining ----------------------
# Ranks 1 to 6 are rogue.py members, each breaking the protocol its own way
# once its init is answered; rank 0 is a proper worker. With --elastic each
# offender is dropped alone and rank 0 finishes.
spawn e.g geomx-ps --role global --parties 1 $HB
g=$(port_of e.g)
spawn e.l geomx-ps --role local --reconnect-timeout 0 --workers 7 --elastic --upstream 127.0.0.1:$g $HB
l=$(port_of e.l)
spawn e.w0 geomx-bench worker --ps 127.0.0.1:$l --rank 0 --sizes 4,7 --rounds 10 --dump "$T/e.w0"
rank=1
for v in badkey badround noinit badcount garbage badblock; do
	spawn "e.$v" $ROGUE member 127.0.0.1:$l --rank $rank --sizes 4,7 --then $v --key 999
	rank=$((rank + 1))
done
# What each must be told (rogue.py's "# error CODE MESSAGE" line) and the
# local server must log about it.
for c in "badkey 1 -22 key 999 is not in the key table" \
	"badround 2 -21 key 0: round 1, expected round 0" \
	"noinit 3 -21 key 0: PUSH before INIT" \
	"badcount 4 -22 key 0: PUSH of 5 elements, the key table says 4" \
	"garbage 5 -6 frame [0-9]+ at byte [0-9]+: bad magic" \
	"badblock 6 -21 key 0: block 1 is past its end \\(it travels in blocks of 4096 elements\\)"; do
	set -- $c
	v=$1 rank=$2 code=$3
	shift 3
	msg=$*
	wait_pid "$(pid_of "e.$v")" 15
	if [ "$WRC" = 0 ] && grep -Eq -- "^# error $code $msg" "$T/e.$v.out" &&
		grep -Eq "worker $rank \(127\.0\.0\.1:[0-9]+\) died: protocol error: $msg" "$T/e.l.err"; then
		ok "e: $v: the offender gets an ERROR saying why, the log names it"
	else
		notok "e: $v: the offender gets an ERROR saying why, the log names it" \
			"rogue.py (status $WRC): $(tr '\n' '|' <"$T/e.$v.out")" \
			"local: $(grep "worker $rank" "$T/e.l.err" | tr '\n' '|')"
	fi
done
expect_all "e: with --elastic the offenders are dropped and the proper worker finishes, exit 0" 60 0 e.w0 e.l e.g
if [ "$(rounds_done "$T/e.w0")" = 10 ]; then ok "e: the proper worker did all 10 rounds"
else notok "e: the proper worker did all 10 rounds" "$(rounds_done "$T/e.w0") rounds"; fi

spawn e2.g geomx-ps --role global --parties 1 $HB
g=$(port_of e2.g)
spawn e2.l geomx-ps --role local --reconnect-timeout 0 --workers 2 --upstream 127.0.0.1:$g $HB
l=$(port_of e2.l)
spawn e2.w0 geomx-bench worker --ps 127.0.0.1:$l --rank 0 --sizes 4,7 --rounds 10 --dump "$T/e2.w0"
# Rank 0's table comes first: it has its init answered.
i=0; while [ ! -s "$T/e2.w0.init" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
spawn e2.w1 geomx-bench worker --ps 127.0.0.1:$l --rank 1 --sizes 4,8 --rounds 10 --dump "$T/e2.w1"
expect_all "e: a worker whose key table differs is refused, and (default) the job fails" 60 1 e2.w1 e2.w0 e2.l e2.g
if grep -q 'key table differs' "$T/e2.w1.err" && grep -Eq 'worker 1 .*died: protocol error: its key table differs: .*key 1 of 8' "$T/e2.l.err"; then
	ok "e: the refused worker and the local server say how the tables differ"
	grep 'key table' "$T/e2.l.err" | head -n 1 | sed 's/^/# /'
else
	notok "e: the refused worker and the local server say how the tables differ" \
		"worker: $(tr '\n' '|' <"$T/e2.w1.err")" "local: $(tr '\n' '|' <"$T/e2.l.err")"
fi

# The same refusal in flat mode, where workers talk to the global server
# straight: one check of key tables serves both roles.
spawn e3.g geomx-ps --role global --parties 2 $HB
g=$(port_of e3.g)
spawn e3.w0 geomx-bench worker --ps 127.0.0.1:$g --party 0 --sizes 4,7 --rounds 10 --dump "$T/e3.w0"
i=0; while [ ! -s "$T/e3.w0.init" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
spawn e3.w1 geomx-bench worker --ps 127.0.0.1:$g --party 1 --sizes 4,8 --rounds 10 --dump "$T/e3.w1"
expect_all "e: flat mode: a worker whose key table differs is refused, and the job fails" 60 1 e3.w1 e3.w0 e3.g
if grep -q 'key table differs' "$T/e3.w1.err" && grep -Eq 'died: protocol error: its key table differs: entry 1 is key 1 of 8' "$T/e3.g.err"; then
	ok "e: flat mode: the global server says how the tables differ"
else
	notok "e: flat mode: the global server says how the tables differ" \
		"worker: $(tr '\n' '|' <"$T/e3.w1.err")" "global: $(tr '\n' '|' <"$T/e3.g.err")"
fi

# --- f. start-up: what a server waits for ----------------------------------
gport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A local server whose upstream never comes gives up after --connect-timeout.
dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
spawn f.lone geomx-ps --role local --reconnect-timeout 0 --workers 1 --connect-timeout 1.5 --upstream 127.0.0.1:$dead
spawn f.l geomx-ps --role local --reconnect-timeout 0 --workers 2 --upstream 127.0.0.1:$gport $HB
l=$(port_of f.l)
if wait_match "$T/f.l.err" "waiting for upstream 127\.0\.0\.1:$gport \(connection refused\)" 30; then
	ok "f: a local server says which upstream it waits for"
	grep -m 1 'waiting for upstream' "$T/f.l.err" | sed 's/^/# /'
else
	notok "f: a local server says which upstream it waits for" "stderr: $(tr '\n' '|' <"$T/f.l.err")"
fi
spawn f.g geomx-ps --role global --parties 1 --listen 127.0.0.1:$gport $HB
spawn f.w0 geomx-bench worker --ps 127.0.0.1:$l --rank 0 --sizes 4,7 --rounds 3 --dump "$T/f.w0"
if wait_match "$T/f.l.err" 'waiting for 1 of 2 workers: rank 1$' 30; then
	ok "f: a local server says which worker ranks it waits for"
	grep -m 1 'waiting for 1 of 2' "$T/f.l.err" | sed 's/^/# /'
else
	notok "f: a local server says which worker ranks it waits for" "stderr: $(tr '\n' '|' <"$T/f.l.err")"
fi
spawn f.w1 geomx-bench worker --ps 127.0.0.1:$l --rank 1 --sizes 4,7 --rounds 3 --dump "$T/f.w1"
expect_all "f: once they come, the job completes: every process exits 0" 60 0 f.w0 f.w1 f.l f.g
expect_all "f: a local server whose upstream never answers gives up with status 1" 60 1 f.lone
expect_match "f: ... saying which upstream and why" "$T/f.lone.err" \
	"upstream 127\.0\.0\.1:$dead unreachable: connection refused"

# --- g. the idle job, started first -----------------------------------------
expect_all "g: a job idle longer than the heartbeat timeout stays up: every process exits 0" \
	60 0 g.w0 g.w1 g.l g.g
if [ "$(rounds_done "$T/g.w0")" = 2 ] && ! grep -q died "$T/g.l.err" "$T/g.g.err"; then
	ok "g: nobody was declared dead"
else
	notok "g: nobody was declared dead" "local: $(tr '\n' '|' <"$T/g.l.err")" "global: $(tr '\n' '|' <"$T/g.g.err")"
fi

# --- h. signals ---------------------------------------------------------------
spawn h.g geomx-ps --role global --parties 1 $HB --stats "$T/h.g.stats"
g=$(port_of h.g)
spawn h.l geomx-ps --role local --reconnect-timeout 0 --workers 1 --upstream 127.0.0.1:$g $HB
l=$(port_of h.l)
spawn h.w0 geomx-bench worker --ps 127.0.0.1:$l --sizes 4,7 --rounds 1000 --sleep 10 --dump "$T/h.w0"
wait_match "$T/h.w0" '^2 1 ' 60
kill -USR1 "$(pid_of h.g)"
if wait_match "$T/h.g.err" 'stats: rounds' 30; then
	n1=$(rounds_done "$T/h.w0") n2=$(rounds_done "$T/h.w0") _i=0
	while [ "$n2" -le "$n1" ] && [ $_i -lt 300 ]; do sleep 0.1; n2=$(rounds_done "$T/h.w0"); _i=$((_i + 1)); done
	if [ "$n2" -gt "$n1" ]; then ok "h: SIGUSR1 logs the statistics and the job goes on"
	else notok "h: SIGUSR1 logs the statistics and the job goes on" "rounds $n1 then $n2"; fi
else
	notok "h: SIGUSR1 logs the statistics and the job goes on" "stderr: $(tr '\n' '|' <"$T/h.g.err")"
fi
kill -TERM "$(pid_of h.g)"
expect_all "h: SIGTERM stops the global server, and the job with it: every process exits 1" 60 1 h.g h.l h.w0
r=$(stat_field "$T/h.g.stats" rounds 2)
if grep -q 'stopped by signal' "$T/h.g.err" && grep -q stopped "$T/h.w0.err" && [ "${r:-0}" -gt 0 ]; then
	ok "h: ... saying so, down to the worker, with the statistics written"
	echo "# worker: $(head -n 1 "$T/h.w0.err")"
else
	notok "h: ... saying so, down to the worker, with the statistics written" \
		"global: $(tr '\n' '|' <"$T/h.g.err")" "worker: $(tr '\n' '|' <"$T/h.w0.err")" "stats rounds '$r'"
fi

# --- i. a forged worker count -------------------------------------------------
# A local server that said 2 workers at HELLO announces 1000 (which would
# weigh its sums 500 times over in the mean): refused and disconnected.
spawn i.g geomx-ps --role global --parties 2 --elastic $HB
g=$(port_of i.g)
$ROGUE members 127.0.0.1:$g --party 0 --workers 2 --members 1000 >"$T/i.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q 'MEMBERS of 1000 workers, where its HELLO said 2' "$T/i.out"; then
	ok "i: a local server announcing more workers than its HELLO said is refused"
else
	notok "i: a local server announcing more workers than its HELLO said is refused" \
		"rc $rc: $(tr '\n' '|' <"$T/i.out")"
fi
kill -TERM "$(pid_of i.g)" 2>/dev/null

finish
