#!/bin/sh
# tests/integration/schedule.sh — geomx-train --schedule p3 (each layer's
# gradients pushed as the backward pass has them, the next forward pass
# waiting layer by layer for its answers) against --schedule fifo, on
# loopback: 2 data centers x 2 workers, the cnn model on 2000 Fashion-MNIST
# images. Under full sync the arithmetic is the same, so every report line
# of every worker (step, loss, parameter checksum, test loss and accuracy)
# must be the same bits, with whole tensors, with tensors in blocks
# (--block), with an fp16 LAN and with fp16 and bsc WAN codecs, the
# servers under p3 too; under mixed sync a p3 run must finish
# and learn (its loss falls, its accuracy beats chance threefold); under HFA p3 says it has nothing to overlap; the priority a
# worker pushes a tensor with comes back with its answers (flat and HiPS);
# --trace writes a line for each push and wait, in order (fifo and p3);
# a bad --schedule exits 2. Skips without Fashion-MNIST.
# shellcheck disable=SC2086
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_fashion_mnist
command -v geomx-train >/dev/null 2>&1 || { echo "geomx-train not built"; exit 77; }
TR="geomx-train --data fashion-mnist --model cnn --limit 2000 --test-limit 500 --seed 5 --batch 16
	--steps 40 --report-every 10 --eval-every 20 --threads 1 -q"

# job NAME SCHEDULE GLOBAL_ARGS LOCAL_ARGS [WORKER_ARGS] — the 2 x 2 job,
# to its end.
job() {
	start_hips "$1" 1 2 2 "$3" "$4"
	for p in 0 1; do
		for r in 0 1; do
			spawn "$1.w$p$r" $TR --shard $((p * 2 + r))/4 --ps "127.0.0.1:$(eval echo "\$LPORT$p")" \
				--party $p --rank $r --schedule "$2" --trace "$T/$1.w$p$r.trace" ${5:-}
		done
	done
	expect_all "$1 ($2): four workers, two locals and the global exit 0 by themselves" 120 0 \
		"$1.w00" "$1.w01" "$1.w10" "$1.w11" "$1.l0" "$1.l1" "$1.g0"
}
# trace_ok NAME SCHEDULE — worker 0/0's --trace of job NAME: a line a
# push and a wait, steps 1..N in order (N: its last report's step), times in order and within the
# job's lifetime (Unix seconds); under fifo every step pushes all ten
# tensors and waits for them; under p3 each step pushes the five layers
# last first, and every wait of a step comes after the previous step's
# push of the same layer.
trace_ok() {
	_f=$T/$1.w00.trace
	_n=$(tail -n 1 "$T/$1.w00.out" | cut -f 1)
	_why=$(awk -F '\t' -v sch="$2" -v now="$(date +%s)" -v n="$_n" '
		NR == 1 { if ($0 != "step\tevent\tfirst\tlast\tstart\tend") { print "header: " $0; exit } next }
		{ if ($5 > $6 || $5 < now - 900 || $6 > now + 5) { print "times at line " NR ": " $0; exit }
		  if ($1 < step) { print "step order at line " NR; exit }
		  if ($1 > step) { step = $1; k = 0 }
		  if ($2 == "push") {
			k++; pushed[$3] = $5
			if (sch == "fifo" && ($3 != 0 || $4 != 9)) { print "fifo push " $3 "-" $4; exit }
			if (sch == "p3" && $3 != 10 - 2 * k) { print "p3 push order at line " NR ": " $0; exit }
			if ($5 != $6) { print "a push takes no time: " $0; exit }
			np++
		  } else if ($2 == "wait") {
			if (sch == "p3" && $3 in pushed && $5 < pushed[$3] && step > 1) { print "wait before its push: " $0; exit }
			nw++
		  } else { print "event " $2; exit }
		}
		END { if (n < 10 || step != n) print "last step " step ", reports to " n
			else if (sch == "fifo" && (np != n || nw != n)) print np " pushes, " nw " waits"
			else if (sch == "p3" && np != 5 * n) print np " pushes" }' "$_f" 2>&1)
	if [ -s "$_f" ] && [ -z "$_why" ]; then ok "--trace ($1, $2): a line per push and wait, in order"
	else notok "--trace ($1, $2): a line per push and wait, in order" "$_why" "$(head -n 4 "$_f" | tr '\n' '|')"; fi
}
# bits NAME — every worker's reports without the times and byte counts.
bits() {
	for w in w00 w01 w10 w11; do cut -f 1,2,4,8,9,10 "$T/$1.$w.out"; done
}
# same CHECK A B — the reports of jobs A and B are the same bits.
same() {
	bits "$2" >"$T/$2.bits"
	bits "$3" >"$T/$3.bits"
	if [ "$(grep -c '^[0-9]' "$T/$2.bits")" -eq 16 ] && cmp -s "$T/$2.bits" "$T/$3.bits"; then
		ok "$1"
	else
		notok "$1" "$(diff "$T/$2.bits" "$T/$3.bits" | head -n 6 | tr '\n' '|')" \
			"$(head -n 3 "$T/$2.bits" | tr '\n' '|')"
	fi
}

ADAM="--optimizer adam --lr 0.002"
job fifo fifo "$ADAM" ""
P3S="--schedule p3"
job p3 p3 "$ADAM $P3S" "$P3S"
same "full sync: p3 gives fifo's bits at every report of every worker (4 reports x 4 workers)" fifo p3
trace_ok fifo fifo
trace_ok p3 p3
# the smallest credit reorders the most: the sums must not notice
job p3b p3 "$ADAM --block 4096 $P3S --credit 4Ki" "$P3S --credit 4Ki" "--credit 4Ki"
same "full sync, blocks of 4096, credit 4Ki everywhere: p3 gives fifo's bits (neither blocks nor their order change the sums)" fifo p3b
job f16 fifo "$ADAM" "--lan-codec fp16"
job p3f16 p3 "$ADAM $P3S" "--lan-codec fp16 $P3S"
same "full sync, fp16 LAN: p3 gives fifo's bits" f16 p3f16
# WAN codecs code whole slices at the local server (no blocks); their
# arithmetic does not depend on when the pushes come either.
for wc in fp16 bsc:0.05; do
	n=$(echo "$wc" | tr -c 'a-z0-9\n' _)
	job "w$n" fifo "$ADAM" "--wan-codec $wc"
	job "p$n" p3 "$ADAM $P3S" "--wan-codec $wc $P3S"
	same "full sync, --wan-codec $wc: p3 gives fifo's bits" "w$n" "p$n"
done

# Mixed sync answers each party at once, so how far 80 steps get depends on
# how the parties interleave on a busy machine: the loss must fall and the
# model beat chance (0.1) threefold, no more.
job mix p3 "--sync mixed $ADAM $P3S" "$P3S" "--steps 80"
first=$(sed -n 2p "$T/mix.w00.out" | cut -f 4) last=$(tail -n 1 "$T/mix.w00.out" | cut -f 4)
acc=$(tail -n 1 "$T/mix.w00.out" | cut -f 10)
if awk -v a="$first" -v b="$last" -v c="$acc" 'BEGIN { exit !(a != "" && b != "" && c != "" && b < a && c > 0.3) }'; then
	ok "mixed sync, p3: the loss falls ($first -> $last), test accuracy $acc"
else
	notok "mixed sync, p3: the loss falls and test accuracy is above 0.3" "first $first, last $last, accuracy $acc"
fi

start_hips hfa 1 1 1 "--sync hfa --k1 4 --k2 2" ""
spawn hfa.w00 $TR --ps "127.0.0.1:$LPORT0" --schedule p3 --optimizer adam --lr 0.002 -v -v
expect_all "hfa, p3: the worker and the servers exit 0" 120 0 hfa.w00 hfa.l0 hfa.g0
expect_match "hfa, p3: the worker says the pushes go the fifo way" "$T/hfa.w00.err" \
	'--schedule p3 under HFA sync: .* fifo way'

# The priority a worker names for a tensor travels with it: a server keeps
# it per key and gives it to every frame it sends for that key, so the
# answers come back with it — from a global serving the worker directly
# (flat) and from a local server (HiPS). A rogue worker pushes key K with
# priority 7 + 40 K and prints each answer's.
prio_answers() {
	_n=$(grep -c '^# answer key' "$T/$1.out")
	_bad=$(grep '^# answer key' "$T/$1.out" | awk '{ if ($6 != $9 + 0) print }' | tr -d ')' | tr '\n' '|')
	if [ "$_n" -eq 3 ] && [ -z "$_bad" ]; then ok "$2"; else notok "$2" "$(tr '\n' '|' <"$T/$1.out")"; fi
}
spawn pf.g geomx-ps --role global --parties 1
spawn pf.r python3 "$GX_TOP/tests/integration/rogue.py" member "127.0.0.1:$(port_of pf.g)" \
	--sizes 4,300,4000 --then partial --push 0,1,2 --prio
expect_exit "priority, flat: the rogue worker's pushes are answered" pf.r 30 0
prio_answers pf.r "priority, flat: the global answers each key with the priority it was pushed with"
start_hips ph 1 1 1 "" ""
spawn ph.r python3 "$GX_TOP/tests/integration/rogue.py" member "127.0.0.1:$LPORT0" \
	--sizes 4,300,4000 --then partial --push 0,1,2 --prio
expect_exit "priority, hips: the rogue worker's pushes are answered" ph.r 30 0
prio_answers ph.r "priority, hips: the local answers each key with the priority it was pushed with"

# Priority on the wire. One worker pushes a bulk tensor (16 blocks of 64 KB,
# priority 9) and then a small one (priority 0) at once, through a local
# server and an 8 Mbit/s relay to the global one. Under fifo every hop keeps
# the order made: the small one is answered last. Under p3 with a credit
# of 4Ki, the local holds the bulk blocks the link has not taken yet and
# the small tensor overtakes them, and the global's answers do the same on
# the way down: it is answered before most of the bulk.
wire_order() {
	spawn "$1.g" geomx-ps --role global --parties 1 --block 16384 $2
	spawn "$1.rl" geomx-relay --listen 127.0.0.1:0 --connect "127.0.0.1:$(port_of "$1.g")" \
		--rate 8mbit --queue 128Ki
	spawn "$1.l" geomx-ps --role local --party 0 --workers 1 --upstream "127.0.0.1:$(port_of "$1.rl")" $2
	spawn "$1.w" python3 "$GX_TOP/tests/integration/rogue.py" order "127.0.0.1:$(port_of "$1.l")" \
		--sizes 262144,1000 --block 16384 --timeout 60
	expect_exit "wire order ($1): the worker's 17 pushes are answered" "$1.w" 90 0
	# the small tensor's place among the 17 answers (0: first)
	AT=$(sed -n 's/^# order //p' "$T/$1.w.out" | tr ' ' '\n' | grep -n '^1:0$' | cut -d: -f1)
	AT=$((${AT:-99} - 1))
	for _n in "$1.g" "$1.rl" "$1.l"; do kill -TERM "$(pid_of "$_n")" 2>/dev/null; done
}
wire_order wf "--schedule fifo"
if [ "$AT" -eq 16 ]; then ok "wire order, fifo: the small tensor is answered last"
else notok "wire order, fifo: the small tensor is answered last" "$(cat "$T/wf.w.out")"; fi
wire_order wp "--schedule p3 --credit 4Ki"
if [ "$AT" -le 8 ]; then ok "wire order, p3: the small tensor overtakes the bulk (answer $AT of 0..16)"
else notok "wire order, p3: the small tensor overtakes the bulk (answer $AT of 0..16, want <= 8)" "$(cat "$T/wp.w.out")"; fi

spawn bad geomx-train --data fashion-mnist --schedule lifo
expect_exit "a bad --schedule exits 2" bad 30 2
expect_match "a bad --schedule is named" "$T/bad.err" "invalid --schedule 'lifo' \\(want fifo or p3\\)"
finish
