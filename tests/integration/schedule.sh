#!/bin/sh
# tests/integration/schedule.sh — geomx-train --schedule p3 (each layer's
# gradients pushed as the backward pass has them, the next forward pass
# waiting layer by layer for its answers) against --schedule fifo, on
# loopback: 2 data centers x 2 workers, the cnn model on 2000 Fashion-MNIST
# images. Under full sync the arithmetic is the same, so every report line
# of every worker (step, loss, parameter checksum, test loss and accuracy)
# must be the same bits, with whole tensors, with tensors in blocks
# (--block) and with an fp16 LAN; under mixed sync a p3 run must finish
# and learn (its loss falls, its accuracy beats chance threefold); under HFA p3 says it has nothing to overlap; the priority a
# worker pushes a tensor with comes back with its answers (flat and HiPS);
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
				--party $p --rank $r --schedule "$2" ${5:-}
		done
	done
	expect_all "$1 ($2): four workers, two locals and the global exit 0 by themselves" 120 0 \
		"$1.w00" "$1.w01" "$1.w10" "$1.w11" "$1.l0" "$1.l1" "$1.g0"
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
job p3 p3 "$ADAM" ""
same "full sync: p3 gives fifo's bits at every report of every worker (4 reports x 4 workers)" fifo p3
job p3b p3 "$ADAM --block 4096" ""
same "full sync, blocks of 4096: p3 gives fifo's bits (blocks do not change the sums)" fifo p3b
job f16 fifo "$ADAM" "--lan-codec fp16"
job p3f16 p3 "$ADAM" "--lan-codec fp16"
same "full sync, fp16 LAN: p3 gives fifo's bits" f16 p3f16

# Mixed sync answers each party at once, so how far 80 steps get depends on
# how the parties interleave on a busy machine: the loss must fall and the
# model beat chance (0.1) threefold, no more.
job mix p3 "--sync mixed $ADAM" "" "--steps 80"
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
	--sizes 4,300,5000 --then partial --push 0,1,2 --prio
expect_exit "priority, flat: the rogue worker's pushes are answered" pf.r 30 0
prio_answers pf.r "priority, flat: the global answers each key with the priority it was pushed with"
start_hips ph 1 1 1 "" ""
spawn ph.r python3 "$GX_TOP/tests/integration/rogue.py" member "127.0.0.1:$LPORT0" \
	--sizes 4,300,5000 --then partial --push 0,1,2 --prio
expect_exit "priority, hips: the rogue worker's pushes are answered" ph.r 30 0
prio_answers ph.r "priority, hips: the local answers each key with the priority it was pushed with"

spawn bad geomx-train --data fashion-mnist --schedule lifo
expect_exit "a bad --schedule exits 2" bad 30 2
expect_match "a bad --schedule is named" "$T/bad.err" "invalid --schedule 'lifo' \\(want fifo or p3\\)"
finish
