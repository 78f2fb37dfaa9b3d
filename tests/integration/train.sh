#!/bin/sh
# tests/integration/train.sh — geomx-train on real data: a two-worker HiPS
# job on loopback (one global server running Adam, one local server with
# --workers 2, two geomx-train workers on the two halves of a Fashion-MNIST
# subset) must lower the loss and keep both workers' parameters identical at
# every report; flat, four workers must end with the same bits whichever
# order they connect in; a worker given optimizer flags under full sync must warn
# that they are ignored; standalone, a checkpoint must reproduce the
# parameters, a corrupted or mismatched checkpoint must be refused (exit 1),
# a run stopped by SIGTERM must save its state and go on from it bit for
# bit (--checkpoint, --resume), and bad flags must exit 2. Skips without Fashion-MNIST.
# $TR is split into words on purpose.
# shellcheck disable=SC2086
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_fashion_mnist
command -v geomx-train >/dev/null 2>&1 || { echo "geomx-train not built"; exit 77; }
TR="geomx-train --data fashion-mnist --test-limit 2000 --seed 3"

# ------------------------------------------------------------- distributed
# 4000 samples, 2000 per worker, batch 32: 62 steps per epoch, 5 epochs.
start_hips j 1 1 2 "--optimizer adam --lr 0.003" ""
for r in 0 1; do
	spawn "j.w0$r" $TR --model logreg --limit 4000 --shard "$r/2" --epochs 5 --batch 32 \
		--report-every 31 --eval-every 155 --ps "127.0.0.1:$LPORT0" --party 0 --rank $r -q
done
expect_all "hips: two workers, the local and the global server exit 0 by themselves" 60 0 \
	j.w00 j.w01 j.l0 j.g0

w0=$T/j.w00.out w1=$T/j.w01.out
n0=$(grep -c '^[0-9]' "$w0")
if [ "$n0" -eq 10 ] && [ "$(tail -n 1 "$w0" | cut -f 1)" = 310 ]; then
	ok "hips: 10 reports, 310 steps (floor(2000 / 32) = 62 per epoch)"
else
	notok "hips: 10 reports, 310 steps (floor(2000 / 32) = 62 per epoch)" "$(tr '\n' '|' <"$w0")"
fi
if [ "$n0" -gt 0 ] && cut -f 1,8 "$w0" >"$T/c0" && cut -f 1,8 "$w1" >"$T/c1" && cmp -s "$T/c0" "$T/c1"; then
	ok "hips: both workers' parameter checksums agree at every report"
else
	notok "hips: both workers' parameter checksums agree at every report" \
		"$(paste "$T/c0" "$T/c1" | tr '\n' '|')"
fi
if [ "$(cut -f 8 "$w0" | sed 1d | sort -u | wc -l)" -eq "$n0" ]; then
	ok "hips: the parameters change between reports"
else
	notok "hips: the parameters change between reports" "$(cut -f 8 "$w0" | tr '\n' ' ')"
fi
first=$(sed -n 2p "$w0" | cut -f 4) last=$(tail -n 1 "$w0" | cut -f 4)
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(a != "" && b != "" && b < a - 0.3) }'; then
	ok "hips: the loss falls ($first -> $last)"
else
	notok "hips: the loss falls by 0.3 or more" "first $first, last $last"
fi
acc=$(tail -n 1 "$w0" | cut -f 10)
if awk -v a="$acc" 'BEGIN { exit !(a != "" && a > 0.6) }'; then
	ok "hips: test accuracy above 0.6 ($acc)"
else
	notok "hips: test accuracy above 0.6" "got '$acc'"
fi
if [ "$(sed -n 2p "$w0" | cut -f 6)" -gt 0 ] && [ "$(sed -n 2p "$w0" | cut -f 7)" -gt 0 ]; then
	ok "hips: the reports count bytes sent and received"
else
	notok "hips: the reports count bytes sent and received" "$(sed -n 2p "$w0")"
fi

# ------------------------------------------------ optimizer flags, full sync
# Flat (the worker straight to a global server): under full sync the servers
# run the optimizer, so the worker's --optimizer and --lr draw a warning,
# which can only be decided once connected (under HFA they apply:
# train-hfa.sh).
spawn f.g0 geomx-ps --role global --parties 1
spawn f.w0 $TR --model logreg --limit 200 --steps 2 --report-every 0 --optimizer adam --lr 0.1 \
	--ps "127.0.0.1:$(port_of f.g0)"
expect_all "flat: the worker and the global server exit 0" 30 0 f.w0 f.g0
expect_match "flat: under full sync the worker warns that its optimizer flags are ignored" "$T/f.w0.err" \
	'^geomx-train: --optimizer, --lr, --momentum and --weight-decay are ignored under full sync: the parameter servers run the optimizer$'

# ----------------------------------------------- flat: the summing order
# Flat mode sums the workers' gradients in (party, rank) order, not in the
# order they connected: the same job with the workers connecting in the
# opposite order ends with the same bits (real gradients, so the order of
# the float sums shows).
flat4() { # NAME ORDER...
	_f=$1
	shift
	spawn "$_f.g0" geomx-ps --role global --parties 4 --optimizer adam --lr 0.003 -v
	_fp=$(port_of "$_f.g0")
	_fn=0
	for p in "$@"; do
		spawn "$_f.w$p" $TR --model logreg --limit 4000 --shard "$p/4" --steps 15 --batch 32 \
			--report-every 0 --ps "127.0.0.1:$_fp" --party "$p" -q
		_fn=$((_fn + 1))
		wait_match "$T/$_f.g0.err" "joined \\($_fn of 4\\)" 10 || break
	done
	expect_all "flat, 4 workers connecting as $*: every process exits 0" 60 0 \
		"$_f.w0" "$_f.w1" "$_f.w2" "$_f.w3" "$_f.g0"
}
flat4 fa 0 1 2 3
flat4 fb 3 2 1 0
joined() { grep -o 'party [0-9] ([^)]*) joined' "$T/$1.g0.err" | cut -c 7 | tr -d '\n'; }
a=$(tail -n 1 "$T/fa.w0.out" | cut -f 8) b=$(tail -n 1 "$T/fb.w0.out" | cut -f 8)
if [ "$(joined fa)" = 0123 ] && [ "$(joined fb)" = 3210 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then
	ok "flat: connecting in the opposite order gives the same parameters ($a)"
else
	notok "flat: connecting in the opposite order gives the same parameters" \
		"joined $(joined fa) and $(joined fb); checksums '$a' and '$b'"
fi

# -------------------------------------------------------------- standalone
ck=$T/m.ckpt
# A save killed mid-write, an hour ago: its temporary goes at the start.
printf partial >"$T/m.ckpt.tmp.Xy12-_"
touch -d '1 hour ago' "$T/m.ckpt.tmp.Xy12-_"
$TR --model logreg --limit 2000 --steps 40 --optimizer adam --lr 0.01 --save "$ck" \
	--report-every 1000 -v >"$T/s.out" 2>"$T/s.err"
check "save: exit 0, checkpoint written" test $? -eq 0 -a -s "$ck"
if [ ! -e "$T/m.ckpt.tmp.Xy12-_" ] && grep -q 'removed 1 stale temporary' "$T/s.err"; then
	ok "save: an interrupted save's temporary is swept at the start"
else
	notok "save: an interrupted save's temporary is swept at the start" "$(head -c 300 "$T/s.err")"
fi
$TR --model logreg --epochs 0 --load "$ck" >"$T/l.out" 2>"$T/l.err"
rc=$?
a=$(tail -n 1 "$T/s.out" | cut -f 8,9,10) b=$(tail -n 1 "$T/l.out" | cut -f 8,9,10)
if [ $rc -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then
	ok "load: the checkpoint reproduces the checksum and test figures ($a)"
else
	notok "load: the checkpoint reproduces the checksum and test figures" "rc $rc, saved '$a', loaded '$b'" \
		"$(head -c 300 "$T/l.err")"
fi

# A flipped byte in the first tensor's payload (after the header frame of
# 64 + some 200 bytes and the tensor's own 64; logreg's first tensor holds
# 31 KB): the payload checksum fails.
cp "$ck" "$T/bad.ckpt"
printf '\377' | dd of="$T/bad.ckpt" bs=1 seek=2000 conv=notrunc 2>/dev/null
$TR --model logreg --epochs 0 --load "$T/bad.ckpt" >"$T/b.out" 2>"$T/b.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'bad.ckpt: frame 2: .*checksum' "$T/b.err"; then
	ok "load: a flipped byte fails with status 1 and a message"
else
	notok "load: a flipped byte fails with status 1 and a message" "rc $rc: $(head -c 300 "$T/b.err")"
fi
# A flipped byte in the header frame's header.
cp "$ck" "$T/bad2.ckpt"
printf '\377' | dd of="$T/bad2.ckpt" bs=1 seek=20 conv=notrunc 2>/dev/null
$TR --model logreg --epochs 0 --load "$T/bad2.ckpt" >"$T/b.out" 2>"$T/b.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'bad2.ckpt: frame 1: ' "$T/b.err"; then
	ok "load: a corrupted frame header fails with status 1"
else
	notok "load: a corrupted frame header fails with status 1" "rc $rc: $(head -c 300 "$T/b.err")"
fi
head -c $((sz - 10)) "$ck" >"$T/short.ckpt"
$TR --model logreg --epochs 0 --load "$T/short.ckpt" >"$T/b.out" 2>"$T/b.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'short.ckpt: truncated' "$T/b.err"; then
	ok "load: a truncated checkpoint fails with status 1"
else
	notok "load: a truncated checkpoint fails with status 1" "rc $rc: $(head -c 300 "$T/b.err")"
fi
$TR --model dense:16,relu,dense:10 --epochs 0 --load "$ck" >"$T/b.out" 2>"$T/b.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "checkpoint is of model 'dense:10,xent'" "$T/b.err"; then
	ok "load: another model's checkpoint is refused"
else
	notok "load: another model's checkpoint is refused" "rc $rc: $(head -c 300 "$T/b.err")"
fi

# SIGTERM: the run saves its state (--checkpoint) before it stops, and
# --resume goes on from there, bit for bit as a run never stopped (Adam's
# state and the shuffle's place in the epoch come back too).
TS="$TR --model mlp --limit 2000 --epochs 20 --batch 32 --optimizer adam --lr 0.003 --report-every 0"
spawn t.a $TS
spawn t.b $TS --checkpoint "$T/t.ck" --report-every 1
wait_match "$T/t.b.out" "^5[[:space:]]" 60 || echo "# sigterm: the run did not reach step 5"
kill -TERM "$(pid_of t.b)"
expect_exit "sigterm: the run stops with status 1" t.b 30 1
expect_match "sigterm: ... having saved its state" "$T/t.b.err" "stopped by a signal at step [0-9]+; its state is saved in .*t\.ck "
spawn t.c $TS --checkpoint "$T/t.ck" --resume
expect_all "sigterm: the resumed run and an undisturbed one exit 0" 120 0 t.a t.c
a=$(tail -n 1 "$T/t.a.out" | cut -f 1,8) b=$(tail -n 1 "$T/t.c.out" | cut -f 1,8)
if [ -n "$a" ] && [ "$a" = "$b" ]; then
	ok "sigterm: the resumed run ends with the undisturbed run's parameters ($a)"
else
	notok "sigterm: the resumed run ends with the undisturbed run's parameters" "'$a' and '$b'"
fi

# ------------------------------------------------------------------ usage
for a in "--bogus" "--shard 2/2" "--shard 1/0" "--batch 0" "--model conv:8:40" \
	"--optimizer adamx" "--format xml" "--epochs -1"; do
	# shellcheck disable=SC2086
	$TR --model logreg --limit 100 $a >"$T/u.out" 2>"$T/u.err"
	rc=$?
	if [ $rc -eq 2 ] && [ ! -s "$T/u.out" ] && grep -q "Try 'geomx-train --help'" "$T/u.err"; then
		ok "usage: $a exits 2"
	else
		notok "usage: $a exits 2" "rc $rc: $(head -c 300 "$T/u.err")"
	fi
done

finish
