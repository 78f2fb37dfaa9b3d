#!/bin/sh
# tests/integration/train-hfa.sh — geomx-train under HFA sync on loopback:
# one global server (--sync hfa --k1 4 --k2 3), two local servers with two
# workers each, four geomx-train workers (logreg, Adam run by each worker)
# on the four quarters of a Fashion-MNIST subset, 22 steps: 6 local rounds
# (the last after steps 21-22, the sync at the end), 2 global rounds (after
# steps 12 and 22). Every process must exit 0; a report follows every sync,
# and the parameter checksums must agree inside a data center at every
# report, across data centers exactly at the global rounds (so all four at
# the end) and nowhere else; the loss must fall, the test accuracy be sane,
# each worker send a model's worth per sync, not a gradient per step; the
# servers' statistics must count ceil(22 / 4) local and floor(6 / 3) global
# rounds of each of the 2 tensors. Skips without Fashion-MNIST.
# $TR is split into words on purpose.
# shellcheck disable=SC2086
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_fashion_mnist
command -v geomx-train >/dev/null 2>&1 || { echo "geomx-train not built"; exit 77; }

K1=4 K2=3 STEPS=22 BATCH=32
NKEYS=2 NPARAMS=7850          # logreg: dense0.weight (10 x 784), dense0.bias (10)
NBLOCKS=$(blocks_of 7840,10)  # what a round updates, at the default --block
LROUNDS=$(((STEPS + K1 - 1) / K1))   # 6: one per K1 steps and one for the rest
GROUNDS=$((LROUNDS / K2))            # 2
# 4000 samples, 1000 per worker, batch 32: 31 steps per epoch, so 22 steps
# stay within the first epoch.
TR="geomx-train --data fashion-mnist --model logreg --limit 4000 --test-limit 1000 --seed 3
	--batch $BATCH --steps $STEPS --report-every $K1 --optimizer adam --lr 0.01 -v"

start_hips h 1 2 2 "--sync hfa --k1 $K1 --k2 $K2" ""
for p in 0 1; do
	for r in 0 1; do
		spawn "h.w$p$r" $TR --shard "$((2 * p + r))/4" --ps "127.0.0.1:$(eval echo "\$LPORT$p")" \
			--party $p --rank $r
	done
done
expect_all "hfa: four workers, two locals and the global exit 0 by themselves" 60 0 \
	h.w00 h.w01 h.w10 h.w11 h.l0 h.l1 h.g0

# Reports after steps 4, 8, 12, 16, 20 (each right after a sync) and 22
# (after the final sync).
bad=""
for w in 00 01 10 11; do
	o=$T/h.w$w.out
	[ "$(grep -c '^[0-9]' "$o")" -eq 6 ] && [ "$(tail -n 1 "$o" | cut -f 1,11)" = "$(printf '%s\t%s' \
		$STEPS $((STEPS * BATCH)))" ] || bad="$bad w$w: $(tr '\n' '|' <"$o")"
done
if [ -z "$bad" ]; then
	ok "hfa: 6 reports per worker, the last at step $STEPS with $((STEPS * BATCH)) samples"
else
	notok "hfa: 6 reports per worker, the last at step $STEPS with $((STEPS * BATCH)) samples" "$bad"
fi

for p in 0 1; do
	cut -f 1,8 "$T/h.w${p}0.out" >"$T/c${p}0"
	cut -f 1,8 "$T/h.w${p}1.out" >"$T/c${p}1"
	if [ -s "$T/c${p}0" ] && cmp -s "$T/c${p}0" "$T/c${p}1"; then
		ok "hfa: data center $p: both workers' checksums agree at every report"
	else
		notok "hfa: data center $p: both workers' checksums agree at every report" \
			"$(paste "$T/c${p}0" "$T/c${p}1" | tr '\n' '|')"
	fi
done

fin=$(for w in 00 01 10 11; do tail -n 1 "$T/h.w$w.out" | cut -f 8; done | sort -u)
if [ -n "$fin" ] && [ "$(echo "$fin" | wc -l)" -eq 1 ] &&
	[ "$(tail -n 1 "$T/h.w00.out" | cut -f 1)" = $STEPS ]; then
	ok "hfa: the four workers end with the same parameters (checksum $fin)"
else
	notok "hfa: the four workers end with the same parameters" "final checksums: $(echo "$fin" | tr '\n' ' ')"
fi

# Across data centers: equal after the global rounds (steps 12 and 22),
# different after the rounds the locals answer alone (steps 4, 8, 16, 20).
want="4 diff|8 diff|12 same|16 diff|20 diff|22 same|"
got=$(paste "$T/c00" "$T/c10" | sed 1d |
	awk -F '\t' '{ printf "%s %s|", $1, ($1 == $3 && $2 == $4) ? "same" : "diff" }')
if [ "$got" = "$want" ]; then
	ok "hfa: the data centers agree exactly after the global rounds (steps 12 and $STEPS)"
else
	notok "hfa: the data centers agree exactly after the global rounds (steps 12 and $STEPS)" \
		"got:  $got" "want: $want"
fi

o=$T/h.w00.out
first=$(sed -n 2p "$o" | cut -f 4) last=$(tail -n 1 "$o" | cut -f 4)
acc=$(tail -n 1 "$o" | cut -f 10) tloss=$(tail -n 1 "$o" | cut -f 9)
if awk -v a="$first" -v b="$last" -v acc="$acc" -v tl="$tloss" \
	'BEGIN { exit !(a != "" && b != "" && b < a && acc != "" && acc > 0.55 && tl != "" && tl < 1.5) }'; then
	ok "hfa: the loss falls ($first -> $last), test accuracy $acc, test loss $tloss"
else
	notok "hfa: the loss falls, test accuracy above 0.55, test loss below 1.5" \
		"loss $first -> $last, test accuracy '$acc', test loss '$tloss'"
fi

# Sent: the INIT proposal plus one model's change per local round (F32,
# a few frame headers and heartbeats on top); a gradient every step would
# be STEPS models' worth.
bo=$(tail -n 1 "$o" | cut -f 6)
lo=$((LROUNDS * NPARAMS * 4)) hi=$(((LROUNDS + 2) * NPARAMS * 4))
if [ -n "$bo" ] && [ "$bo" -gt $lo ] && [ "$bo" -lt $hi ]; then
	ok "hfa: a worker sends a model's worth per sync, not a gradient per step ($bo bytes)"
else
	notok "hfa: a worker sends a model's worth per sync, not a gradient per step" \
		"bytes_out '$bo', want more than $lo and less than $hi"
fi

# The optimizer flags apply under HFA: no warning, and -v names k1 and k2.
bad=""
line="HFA sync: $K1 local steps (k1) per push, $K2 local rounds (k2) per global round;"
line="$line optimizer adam, lr 0.01\$"
for w in 00 01 10 11; do
	e=$T/h.w$w.err
	grep -q 'ignored' "$e" && bad="$bad w$w warns: $(grep 'ignored' "$e")"
	grep -q "^geomx-train: worker ${w%?}/${w#?}: $line" "$e" ||
		bad="$bad w$w: no HFA line: $(tail -c 300 "$e" | tr '\n' '|')"
done
if [ -z "$bad" ]; then
	ok "hfa: the workers say k1 and k2 at -v and do not call their optimizer flags ignored"
else
	notok "hfa: the workers say k1 and k2 at -v and do not call their optimizer flags ignored" "$bad"
fi

# Rounds per tier: every local ceil(STEPS / K1) rounds of each tensor, the
# global floor(that / K2).
g=$T/h.g0.stats l0=$T/h.l0.stats l1=$T/h.l1.stats
got="global rounds $(stat_field "$g" rounds 2) updates $(stat_field "$g" updates 2)"
got="$got, locals rounds $(stat_field "$l0" rounds 2) $(stat_field "$l1" rounds 2)"
got="$got, updates $(stat_field "$l0" updates 2) $(stat_field "$l1" updates 2)"
want="global rounds $GROUNDS updates $((GROUNDS * NBLOCKS)), locals rounds $LROUNDS $LROUNDS"
want="$want, updates $((LROUNDS * NBLOCKS)) $((LROUNDS * NBLOCKS))"
if [ "$got" = "$want" ]; then
	ok "hfa: the statistics count $LROUNDS local and $GROUNDS global rounds of $NBLOCKS blocks"
else
	notok "hfa: the statistics count $LROUNDS local and $GROUNDS global rounds of $NBLOCKS blocks" \
		"got:  $got" "want: $want"
fi

finish
