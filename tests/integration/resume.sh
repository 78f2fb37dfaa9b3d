#!/bin/sh
# tests/integration/resume.sh — the global server checkpoints its slices
# (--checkpoint DIR) and starts again from them (--resume) while the rest of
# the job waits (--reconnect-timeout): one data center, a local server and
# two workers, 40 rounds, Adam (its state must come back too);
#  a. undisturbed, the job's checksums per round;
#  b. the global server killed (SIGKILL) at a round drawn from 2..10 (K,
#     printed) and started again with
#     --resume, having written each slice before answering its rounds
#     (--checkpoint-every 1): every process exits 0, and every round's
#     parameters are bit for bit those of a;
#  c. the same stopped with SIGTERM, writing its checkpoint then
#     (--checkpoint-every 0): the same;
#  d. --resume of a damaged checkpoint: refused with a message, status 1;
#  e. the local server (--checkpoint: its key table) killed (SIGKILL) at
#     round K and started again with --resume on its port: it asks the
#     global tier for the values and rounds, the workers come back, every
#     process exits 0 and every round's parameters are those of a;
#  f. the same stopped with SIGTERM (status 1; the workers keep dialling);
#  g. a local server resumed against a global server that lost the job
#     (started again without --resume): refused, with the reason;
#  h. under HFA sync (k2 3: every third local round a global one), where a
#     local server keeps state of its own (each key's value and base, in
#     its files before every answer): an undisturbed job, and the same with
#     the local server killed at round K and resumed: every round's
#     parameters the same;
#  i. the same with a coded WAN (bsc with momentum correction, momentum SGD
#     applied at the local), whose state is the local's too (each key's
#     value, error feedback and optimizer state);
#  j. the same under HFA with a coded WAN;
#  l. the same with an fp16 LAN (full sync, Adam): the local keeps each
#     key's view, what its workers hold;
#  m. HFA with an fp16 LAN and an fp16 WAN;
#  n. mixed sync (the global's INIT names the party's own next round);
#  k. i's job through a relay, the relay and the global server killed at
#     round K and both started again, the global with --resume (its files
#     keep each slice's last aggregate, coded as sent, which the local asks
#     for again when the relay lost it);
#  o, p. the same with n's job (mixed sync) and h's (HFA).
# shellcheck disable=SC2086 # $HB and $G_OPTS are split on purpose
. "${GX_TOP:-.}/tests/integration/lib.sh"
HB="--heartbeat 0.2 --heartbeat-timeout 2"
G_OPTS="--parties 1 --block 16384 --optimizer adam --lr 0.01"
SIZES=4,7,70000
ROUNDS=40
# the round the killed servers die at, drawn per run (and printed)
K=$(awk 'BEGIN { srand(); print 2 + int(rand() * 9) }')
echo "# the servers die at round $K"

# job NAME [GLOBAL OPTION...] — global, local, two workers.
job() {
	_j=$1
	shift
	spawn $_j.g geomx-ps --role global $G_OPTS $HB "$@"
	G=$(port_of $_j.g)
	spawn $_j.l geomx-ps --role local --workers 2 --upstream 127.0.0.1:$G $HB
	_l=$(port_of $_j.l)
	two_workers $_j $_l $SIZES $ROUNDS
}

# same NAME CHECK — NAME's checksums per round are a's.
same() { same_dumps a "$1" "$2" $((ROUNDS * 3)); }

job a
expect_all "a. undisturbed: every process exits 0" 120 0 a.w0 a.w1 a.l a.g

mkdir "$T/b.ck"
job b --checkpoint "$T/b.ck" --checkpoint-every 1
wait_match "$T/b.w0" "^$K " 60 || echo "# b: the job did not reach round $K"
kill -KILL "$(pid_of b.g)"
wait_pid "$(pid_of b.g)" 10
spawn b.g2 geomx-ps --role global $G_OPTS $HB --listen 127.0.0.1:$G --checkpoint "$T/b.ck" \
	--checkpoint-every 1 --resume
expect_all "b. the global server killed and resumed: every process exits 0" 120 0 \
	b.w0 b.w1 b.l b.g2
same b "b. ... and every round's parameters are those of the undisturbed job"
expect_match "b. the resumed server says where it started from" "$T/b.g2.err" \
	"resumed 7 slices from .*b\.ck"
echo "# $(grep -o 'is back: [0-9]* frames\{0,1\}' "$T/b.l.err")"

mkdir "$T/c.ck"
job c --checkpoint "$T/c.ck"
wait_match "$T/c.w0" "^$K " 60 || echo "# c: the job did not reach round $K"
kill -TERM "$(pid_of c.g)"
expect_exit "c. SIGTERM: the global server stops, status 1" c.g 30 1
spawn c.g2 geomx-ps --role global $G_OPTS $HB --listen 127.0.0.1:$G --checkpoint "$T/c.ck" \
	--resume
expect_all "c. ... resumed: every process exits 0" 120 0 c.w0 c.w1 c.l c.g2
same c "c. ... and every round's parameters are those of the undisturbed job"

# ljob NAME — as job, the local server keeping its table in $T/NAME.lck.
ljob() {
	mkdir "$T/$1.lck"
	spawn $1.g geomx-ps --role global $G_OPTS $HB
	G=$(port_of $1.g)
	spawn $1.l geomx-ps --role local --workers 2 --upstream 127.0.0.1:$G $HB --checkpoint "$T/$1.lck"
	L=$(port_of $1.l)
	two_workers $1 $L $SIZES $ROUNDS
}
ljob e
wait_match "$T/e.w0" "^$K " 60 || echo "# e: the job did not reach round $K"
kill -KILL "$(pid_of e.l)"
wait_pid "$(pid_of e.l)" 10
spawn e.l2 geomx-ps --role local --workers 2 --upstream 127.0.0.1:$G $HB --listen 127.0.0.1:$L \
	--checkpoint "$T/e.lck" --resume
expect_all "e. the local server killed and resumed: every process exits 0" 120 0 e.w0 e.w1 e.l2 e.g
same e "e. ... and every round's parameters are those of the undisturbed job"
expect_match "e. the resumed local server says where it goes on" "$T/e.l2.err" \
	"resumed at rounds? [0-9]+"

ljob f
wait_match "$T/f.w0" "^$K " 60 || echo "# f: the job did not reach round $K"
kill -TERM "$(pid_of f.l)"
expect_exit "f. SIGTERM: the local server stops, status 1" f.l 30 1
spawn f.l2 geomx-ps --role local --workers 2 --upstream 127.0.0.1:$G $HB --listen 127.0.0.1:$L \
	--checkpoint "$T/f.lck" --resume
expect_all "f. ... resumed: every process exits 0" 120 0 f.w0 f.w1 f.l2 f.g
same f "f. ... and every round's parameters are those of the undisturbed job"

spawn g.g geomx-ps --role global $G_OPTS $HB
spawn g.l geomx-ps --role local --workers 2 --upstream 127.0.0.1:$(port_of g.g) $HB \
	--checkpoint "$T/f.lck" --resume
expect_exit "g. a local server resumed against a global server without the job: status 1" g.l 30 1
expect_match "g. ... with the reason" "$T/g.l.err" "does not keep"
kill -TERM "$(pid_of g.g)" 2>/dev/null

f=$(ls "$T/c.ck" | head -n 1)
printf 'x' | dd of="$T/c.ck/$f" bs=1 seek=100 conv=notrunc 2>/dev/null
geomx-ps --role global $G_OPTS --checkpoint "$T/c.ck" --resume >"$T/d.out" 2>"$T/d.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "resume: .*$f: checksum mismatch" "$T/d.err"; then
	ok "d. a damaged checkpoint is refused, naming the file, status 1"
else
	notok "d. a damaged checkpoint is refused, naming the file, status 1" "rc $rc: $(head -c 300 "$T/d.err")"
fi
# kjob NAME "GLOBAL OPTIONS" [LOCAL OPTION...] — a job whose local server
# keeps state of its own; kill_local NAME CASE WHAT — the undisturbed job
# NAME.a, then NAME.b with the local server killed at round K and resumed
# from its files, every round the same; the global's options in $KG, the
# local's in $KL.
kjob() {
	_h=$1
	shift
	spawn $_h.g geomx-ps --role global --parties 1 --block 16384 $KG $HB
	G=$(port_of $_h.g)
	spawn $_h.l geomx-ps --role local --workers 2 --upstream 127.0.0.1:$G $HB $KL "$@"
	L=$(port_of $_h.l)
	two_workers $_h $L $SIZES $ROUNDS
}
kill_local() {
	kjob $1a
	expect_all "$2. $3, undisturbed: every process exits 0" 120 0 $1a.w0 $1a.w1 $1a.l $1a.g
	mkdir "$T/$1b.lck"
	kjob $1b --checkpoint "$T/$1b.lck"
	wait_match "$T/$1b.w0" "^$K " 60 || echo "# $2: the job did not reach round $K"
	kill -KILL "$(pid_of $1b.l)"
	wait_pid "$(pid_of $1b.l)" 10
	spawn $1b.l2 geomx-ps --role local --workers 2 --upstream 127.0.0.1:$G $HB $KL \
		--listen 127.0.0.1:$L --checkpoint "$T/$1b.lck" --resume
	expect_all "$2. $3: the local server killed and resumed: every process exits 0" 120 0 \
		$1b.w0 $1b.w1 $1b.l2 $1b.g
	same_dumps $1a $1b \
		"$2. ... and every round's parameters are those of the undisturbed job" $((ROUNDS * 3))
}
KG="--sync hfa --k1 1 --k2 3" KL=
kill_local h h "HFA"
expect_match "h. the resumed local server read its HFA state" "$T/hb.l2.err" "and their HFA state"
KG="--optimizer momentum --lr 0.25 --momentum 0.5"
KL="--wan-codec bsc:0.01 --sparse-min 100 --ef-momentum 0.9"
kill_local i i "a coded WAN (bsc, DGC momentum correction)"
expect_match "i. the resumed local server read its values, error feedback and optimizer" \
	"$T/ib.l2.err" "and their values, error feedback and optimizer state"
KG="--sync hfa --k1 1 --k2 3" KL="--wan-codec bsc:0.05"
kill_local j j "HFA with a coded WAN"
KG="--optimizer adam --lr 0.01" KL="--lan-codec fp16"
kill_local l l "an fp16 LAN (the view the workers hold)"
expect_match "l. the resumed local server read its values and views" "$T/lb.l2.err" \
	"and their values and views state"
KG="--sync hfa --k1 1 --k2 2" KL="--wan-codec fp16 --lan-codec fp16"
kill_local m m "HFA with an fp16 LAN and WAN"
KG="--sync mixed --optimizer adam --lr 0.01" KL=
kill_local n n "mixed sync (one party: its rounds are the job's)"

# kill_global NAME REF WHAT — the job of $KG, $KL through a relay ($KR),
# the global server (--checkpoint-every 1) and the relay killed at round K
# and both started again, the global with --resume: every round the same
# as REF's undisturbed job.
kill_global() {
	mkdir "$T/$1.ck"
	spawn $1.g geomx-ps --role global --parties 1 --block 16384 $KG $HB \
		--checkpoint "$T/$1.ck" --checkpoint-every 1
	G=$(port_of $1.g)
	spawn $1.r geomx-relay --listen 127.0.0.1:0 --connect 127.0.0.1:$G $KR
	R=$(port_of $1.r)
	spawn $1.l geomx-ps --role local --workers 2 --upstream 127.0.0.1:$R $HB $KL
	two_workers $1 "$(port_of $1.l)" $SIZES $ROUNDS
	wait_match "$T/$1.w0" "^$K " 60 || echo "# $1: the job did not reach round $K"
	kill -KILL "$(pid_of $1.g)" "$(pid_of $1.r)"
	wait_pid "$(pid_of $1.g)" 10
	wait_pid "$(pid_of $1.r)" 10
	spawn $1.g2 geomx-ps --role global --parties 1 --block 16384 $KG $HB \
		--listen 127.0.0.1:$G --checkpoint "$T/$1.ck" --checkpoint-every 1 --resume -v
	spawn $1.r2 geomx-relay --listen 127.0.0.1:$R --connect 127.0.0.1:$G $KR
	expect_all "$1. $3: the global server killed and resumed: every process exits 0" 120 0 \
		$1.w0 $1.w1 $1.l $1.g2
	same_dumps $2 $1 \
		"$1. ... and every round's parameters are those of the undisturbed job" $((ROUNDS * 3))
	kill -TERM "$(pid_of $1.r2)" 2>/dev/null
}

# k: i's job through a relay that holds the answers 150 ms (most likely
# with a round's aggregate in it when it dies, which the global's files
# keep as it was sent)
KG="--optimizer momentum --lr 0.25 --momentum 0.5"
KL="--wan-codec bsc:0.01 --sparse-min 100 --ef-momentum 0.9"
KR="--delay-up 5ms --delay-down 150ms"
kill_global k ia "a coded WAN"
echo "# k: $(grep -o 'is back: [0-9]* frames\{0,1\}' "$T/k.l.err"), and" \
	"$(grep -c 'aggregate sent again' "$T/k.g2.err") aggregate(s) sent again"
# o, p: n's (mixed sync) and h's (HFA) jobs, the global killed
KR=
KG="--sync mixed --optimizer adam --lr 0.01" KL=
kill_global o na "mixed sync"
KG="--sync hfa --k1 1 --k2 3" KL=
kill_global p ha "HFA"
finish
