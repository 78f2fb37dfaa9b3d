#!/bin/sh
# tests/integration/reconnect.sh — a broken link between a local and the
# global server comes back (--reconnect-timeout): one data center (a local
# server and two workers) reaches the global server through geomx-relay;
#  a. undisturbed, the job's checksums per round;
#  b. the relay killed (SIGKILL) mid-run and started again on its port: the
#     local server dials again, the global server keeps its place, the round
#     in flight goes again exactly once — every process exits 0 and every
#     round's parameters are bit for bit those of a;
#  c. the relay killed and not started again, --reconnect-timeout 2: both
#     servers give up after it, saying so, with status 1;
#  d. --reconnect-timeout 0: the broken link ends the job at once, as a
#     dead peer;
#  e. the relay stopped (SIGSTOP) past --wan-heartbeat-timeout 1 and then
#     continued: both servers find the WAN link silent, the local server
#     dials again, and the job ends bit for bit as a did;
#  f. the workers reach their local server through a relay, killed and
#     started again mid-run: the workers' clients dial again and send what
#     had no answer, the local server keeps their places and takes a
#     replayed round once — bit for bit as a again;
#  g. two global servers (the tensors split between them, --split-bound),
#     each behind its relay: one relay killed and started again; the other
#     link carries on, and the job ends as the same job undisturbed;
#  h. a coded WAN (bsc, momentum at the locals; fp16, Adam): the relay,
#     which holds the answers 150 ms (most likely the round's when it
#     dies), killed and started again — the local sends its coded push
#     again as it was first sent (its error feedback taken once), the
#     global the aggregate it kept, and the job ends bit for bit as
#     undisturbed;
#  i. the global's side of h made certain: a local (rogue.py comeback)
#     reads a round's aggregate, drops the link, comes back and pushes
#     that round again: the same aggregate, byte for byte;
#  j. flat workers (parties of one, straight to the global server) through
#     a relay killed and started again: the global keeps their places, bit
#     for bit as undisturbed.
# shellcheck disable=SC2086 # $HB is split on purpose
. "${GX_TOP:-.}/tests/integration/lib.sh"
command -v geomx-relay >/dev/null 2>&1 || { echo "geomx-relay not built"; exit 77; }
need_python
HB="--heartbeat 0.2 --heartbeat-timeout 2"
SIZES=4,7,70000
ROUNDS=40

# job NAME [GLOBAL/LOCAL OPTION...] — global, relay, local, two workers;
# $JG: options of the global server only, $JL of the local, $JR of the relay.
job() {
	_j=$1
	shift
	spawn $_j.g geomx-ps --role global --parties 1 --block 16384 $HB ${JG:-} "$@"
	_g=$(port_of $_j.g)
	spawn $_j.r geomx-relay --listen 127.0.0.1:0 --connect 127.0.0.1:$_g ${JR:-}
	RPORT=$(port_of $_j.r)
	spawn $_j.l geomx-ps --role local --workers 2 --upstream 127.0.0.1:$RPORT $HB ${JL:-} "$@"
	_l=$(port_of $_j.l)
	two_workers $_j $_l $SIZES $ROUNDS
}

# relay_again NAME CASE [RELAY OPTION...] — once NAME's worker 0 is at
# round 10, its relay (NAME.r, in front of NAME.g) killed and started again
# on its port as NAME.r2.
relay_again() {
	_n=$1 _c=$2
	shift 2
	wait_match "$T/$_n.w0" "^10 " 60 || echo "# $_c: the job did not reach round 10"
	kill -KILL "$(pid_of $_n.r)"
	wait_pid "$(pid_of $_n.r)" 10
	spawn $_n.r2 geomx-relay --listen 127.0.0.1:$RPORT \
		--connect 127.0.0.1:"$(head -n 1 "$T/$_n.g.out")" "$@"
}

job a
expect_all "a. undisturbed: every process exits 0" 120 0 a.w0 a.w1 a.l a.g
kill -TERM "$(pid_of a.r)" 2>/dev/null

job b
relay_again b b
expect_all "b. the relay killed and started again: every process exits 0" 120 0 \
	b.w0 b.w1 b.l b.g
same_dumps a b \
	"b. ... and every round's parameters are those of the undisturbed job" $((ROUNDS * 3))
expect_match "b. the local server says it lost the link and dialled again" "$T/b.l.err" \
	"upstream 127\.0\.0\.1:$RPORT lost: .*dialling it again"
expect_match "b. ... and that it is back, sending again what was not answered" "$T/b.l.err" \
	"upstream 127\.0\.0\.1:$RPORT is back: [0-9]+ frames? it had not answered sent again"
echo "# $(grep -o 'is back: [0-9]* frames\{0,1\}' "$T/b.l.err")"
expect_match "b. the global server kept the party's place" "$T/b.g.err" \
	"local 0 \(127\.0\.0\.1:[0-9]+\) lost: .*keeping its place"
expect_match "b. ... and saw it come back" "$T/b.g.err" "local 0 \(127\.0\.0\.1:[0-9]+\) is back"
kill -TERM "$(pid_of b.r2)" 2>/dev/null

job c --reconnect-timeout 2
wait_match "$T/c.w0" "^5 " 60 || echo "# c: the job did not reach round 5"
kill -KILL "$(pid_of c.r)"
expect_all "c. the relay never comes back: both servers give up with status 1" 60 1 c.l c.g
expect_match "c. the local server says why" "$T/c.l.err" "lost and not back: .*gave up after 2 s"
expect_match "c. the global server says why" "$T/c.g.err" "local 0 .* died: not back within 2 s"

job d --reconnect-timeout 0
wait_match "$T/d.w0" "^5 " 60 || echo "# d: the job did not reach round 5"
kill -KILL "$(pid_of d.r)"
expect_all "d. --reconnect-timeout 0: the job ends at once, status 1" 30 1 d.l d.g
expect_match "d. the global server names the dead party" "$T/d.g.err" "local 0 .* died: connection closed"

job e --wan-heartbeat-timeout 1
wait_match "$T/e.w0" "^10 " 60 || echo "# e: the job did not reach round 10"
kill -STOP "$(pid_of e.r)"
wait_match "$T/e.l.err" "upstream .* lost: silent for" 30 || echo "# e: the local server never found the link silent"
wait_match "$T/e.g.err" "local 0 .* lost: silent for" 30 || echo "# e: the global server never found the link silent"
kill -CONT "$(pid_of e.r)"
expect_all "e. a WAN link stalled past its heartbeat timeout comes back: every process exits 0" \
	120 0 e.w0 e.w1 e.l e.g
same_dumps a e "e. ... and every round's parameters are those of the undisturbed job"

spawn f.g geomx-ps --role global --parties 1 --block 16384 $HB
fg=$(port_of f.g)
spawn f.l geomx-ps --role local --workers 2 --upstream 127.0.0.1:$fg $HB
fl=$(port_of f.l)
spawn f.r geomx-relay --listen 127.0.0.1:0 --connect 127.0.0.1:$fl
FR=$(port_of f.r)
two_workers f $FR $SIZES $ROUNDS
wait_match "$T/f.w0" "^10 " 60 || echo "# f: the job did not reach round 10"
kill -KILL "$(pid_of f.r)"
wait_pid "$(pid_of f.r)" 10
spawn f.r2 geomx-relay --listen 127.0.0.1:$FR --connect 127.0.0.1:$fl
expect_all "f. the workers' relay killed and started again: every process exits 0" 120 0 \
	f.w0 f.w1 f.l f.g
same_dumps a f "f. ... and every round's parameters are those of the undisturbed job"
expect_match "f. the local server kept the workers' places" "$T/f.l.err" \
	"worker 0 \(127\.0\.0\.1:[0-9]+\) lost: .*keeping its place"
expect_match "f. ... and saw them come back" "$T/f.l.err" "worker 1 \(127\.0\.0\.1:[0-9]+\) is back"
kill -TERM "$(pid_of f.r2)" 2>/dev/null

# two NAME — two global servers, a relay before each, a local splitting
# the 50000-float tensor between them, two workers.
two() {
	_j=$1
	for _s in 0 1; do
		spawn $_j.g$_s geomx-ps --role global --parties 1 --block 8192 $HB
		eval "_g$_s=\$(port_of $_j.g$_s)"
	done
	spawn $_j.r0 geomx-relay --listen 127.0.0.1:0 --connect 127.0.0.1:$_g0
	spawn $_j.r1 geomx-relay --listen 127.0.0.1:0 --connect 127.0.0.1:$_g1
	R0=$(port_of $_j.r0) R1=$(port_of $_j.r1) G1=$_g1
	spawn $_j.l geomx-ps --role local --workers 2 --split-bound 20000 \
		--upstream 127.0.0.1:$R0,127.0.0.1:$R1 $HB
	_l=$(port_of $_j.l)
	two_workers $_j $_l 4,7,50000 $ROUNDS
}
two g1
expect_all "g. two global servers, undisturbed: every process exits 0" 120 0 \
	g1.w0 g1.w1 g1.l g1.g0 g1.g1
two g2
wait_match "$T/g2.w0" "^10 " 60 || echo "# g: the job did not reach round 10"
kill -KILL "$(pid_of g2.r1)"
wait_pid "$(pid_of g2.r1)" 10
spawn g2.r1b geomx-relay --listen 127.0.0.1:$R1 --connect 127.0.0.1:$G1
expect_all "g. one of two global servers' relays killed and started again: every process exits 0" \
	120 0 g2.w0 g2.w1 g2.l g2.g0 g2.g1
same_dumps g1 g2 "g. ... and every round's parameters are those of the undisturbed job"
kill -TERM "$(pid_of g1.r0)" "$(pid_of g1.r1)" "$(pid_of g2.r0)" "$(pid_of g2.r1b)" 2>/dev/null

# coded NAME WHAT — case h for one coded WAN (JG, JL set): undisturbed,
# then the relay killed at round 10 and started again.
coded() {
	JR="--delay-up 5ms --delay-down 150ms"
	job $1.u
	expect_all "h. $2, undisturbed: every process exits 0" 120 0 $1.u.w0 $1.u.w1 $1.u.l $1.u.g
	kill -TERM "$(pid_of $1.u.r)" 2>/dev/null
	job $1.k
	relay_again $1.k h $JR
	expect_all "h. $2, the relay killed and started again: every process exits 0" 120 0 \
		$1.k.w0 $1.k.w1 $1.k.l $1.k.g
	same_dumps $1.u $1.k \
		"h. $2: ... and every round's parameters are those of the undisturbed job" $((ROUNDS * 3))
	expect_match "h. $2: the local server came back" "$T/$1.k.l.err" \
		"upstream 127\.0\.0\.1:$RPORT is back: [0-9]+ frames? it had not answered sent again"
	echo "# $2: $(grep -o 'is back: [0-9]* frames\{0,1\}' "$T/$1.k.l.err"), and" \
		"$(grep -c 'aggregate sent again' "$T/$1.k.g.err") aggregate(s) sent again"
	kill -TERM "$(pid_of $1.k.r2)" 2>/dev/null
	JR=
}
JG="-v --optimizer momentum --lr 0.25 --momentum 0.5" JL="--wan-codec bsc:0.01 --sparse-min 100"
coded hb "bsc"
JG="-v --optimizer adam --lr 0.01" JL="--wan-codec fp16"
coded hf "fp16"
JG= JL=

spawn i.g geomx-ps --role global --parties 1 $HB
python3 "$GX_TOP/tests/integration/rogue.py" comeback "127.0.0.1:$(port_of i.g)" --sizes 1000 \
	>"$T/i.out" 2>&1
expect_match "i. a coded WAN's local comes back for an answer it lost: the same aggregate" \
	"$T/i.out" "^# the same aggregate again"
expect_all "i. ... and the global server ends the job with status 0" 30 0 i.g
expect_match "i. ... having kept the party's place" "$T/i.g.err" "local 0 \(.*\) is back"

# flat NAME — two flat workers (parties of one) reach a global server
# through a relay.
flat() {
	spawn $1.g geomx-ps --role global --parties 2 --block 16384 $HB
	spawn $1.r geomx-relay --listen 127.0.0.1:0 --connect 127.0.0.1:$(port_of $1.g)
	RPORT=$(port_of $1.r)
	two_workers $1 $RPORT $SIZES $ROUNDS
}
flat j1
expect_all "j. flat workers, undisturbed: every process exits 0" 120 0 j1.w0 j1.w1 j1.g
kill -TERM "$(pid_of j1.r)" 2>/dev/null
flat j2
relay_again j2 j
expect_all "j. flat workers, their relay killed and started again: every process exits 0" 120 0 \
	j2.w0 j2.w1 j2.g
same_dumps j1 j2 \
	"j. ... and every round's parameters are those of the undisturbed job" $((ROUNDS * 3))
expect_match "j. the global server kept the workers' places" "$T/j2.g.err" \
	"worker 0 of party 0 \(127\.0\.0\.1:[0-9]+\) is back"
kill -TERM "$(pid_of j2.r2)" 2>/dev/null
finish
