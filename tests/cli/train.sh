#!/bin/sh
# tests/cli/train.sh — geomx-train's usage, its messages for bad flags and
# missing data, the columns of its reports (a few steps on a 16-line CSV)
# and, with --ps, that the optimizer flags draw no warning before the
# servers' sync mode is known (fast: the real training runs are in
# tests/integration/train.sh and train-hfa.sh). Golden files:
# tests/cli/golden/train-*.
GX_TOP=$(cd "${GX_TOP:-.}" && pwd)
. "$GX_TOP/tests/cli/lib.sh"
cd "$T" || exit 1   # file names in messages (golden files) are relative
P=geomx-train
command -v $P >/dev/null 2>&1 || { echo "$P not built"; exit 77; }

runcmd $P --help
expect_rc help-rc 0
expect_golden help-stdout "$OUT" train-help.out
expect_empty help-stderr "$ERR"

runcmd $P -V
expect_rc version-rc 0
expect_match version "$OUT" '^geomx-train \(geomx\) [0-9]+\.[0-9]+\.[0-9]+$'

runcmd $P --bogus
expect_rc badflag-rc 2
expect_golden badflag-stderr "$ERR" train-badflag.err
expect_empty badflag-stdout "$OUT"

runcmd $P
expect_rc nodata-rc 2
expect_golden nodata-stderr "$ERR" train-nodata.err

for a in "--data mnist" "--data fashion-mnist --shard 3/3" "--data fashion-mnist --shard 1/2x" \
	"--data fashion-mnist --batch 0" "--data fashion-mnist --epochs x" "--data fashion-mnist --lr 0" \
	"--data fashion-mnist --threads 0" "--data fashion-mnist --format xml" \
	"--data fashion-mnist --shard-by row" "--data fashion-mnist --report-every x" \
	"--train a.idx" "--train a.csv --data-format csv --train-labels b" \
	"--data fashion-mnist --train a" "--data fashion-mnist x" "--data-dir d --train a.csv --data-format csv" \
	"--data fashion-mnist --regression"; do
	tn=$(echo "bad $a" | tr ' =%/' '_:p.')
	# shellcheck disable=SC2086
	runcmd $P $a
	expect_rc "$tn-rc" 2
	expect_match "$tn-hint" "$ERR" "^Try 'geomx-train --help' for more information\.$"
	expect_empty "$tn-stdout" "$OUT"
done

# Missing data: one line naming the file, status 1.
runcmd $P --train missing-images.gz --train-labels missing-labels.gz
expect_rc missing-rc 1
expect_golden missing-stderr "$ERR" train-missing.err
expect_empty missing-stdout "$OUT"

printf '1,2,0\n3,4,1\n5,6\n' >bad.csv
runcmd $P --train bad.csv --data-format csv --model logreg
expect_rc badcsv-rc 1
expect_golden badcsv-stderr "$ERR" train-badcsv.err

runcmd $P --data fashion-mnist --data-dir nowhere
expect_rc nodir-rc 1
expect_golden nodir-stderr "$ERR" train-nodir.err

# Reports: 11 columns, time_s (3rd) and samples (11th, step x batch) the
# ones a time-to-accuracy benchmark reads; JSON lines with the same names.
i=0
while [ $i -lt 16 ]; do echo "$i,$((i % 3)),$((i % 2))"; i=$((i + 1)); done >small.csv
runcmd $P --train small.csv --data-format csv --model logreg --batch 4 --epochs 2 --steps 6 --report-every 2 \
	--optimizer adam --lr 0.01
expect_rc report-tsv-rc 0
expect_match report-tsv-header "$OUT" \
	"$(printf '^step\tepoch\ttime_s\tloss\tsamples_s\tbytes_out\tbytes_in\tchecksum\ttest_loss\ttest_acc\tsamples$')"
expect_lines report-tsv-lines "$OUT" 4
if awk -F '\t' 'NR > 1 && (NF != 11 || $11 != $1 * 4 || $3 !~ /^[0-9]+\.[0-9][0-9][0-9]$/) { bad = 1 }
	END { exit bad + 0 }' "$OUT" && [ "$(tail -n 1 "$OUT" | cut -f 1,11)" = "$(printf '6\t24')" ]; then
	ok report-tsv-samples
else
	notok report-tsv-samples "want 11 columns, samples = step x 4, time_s with 3 decimals:" \
		"$(tr '\n' '|' <"$OUT")"
fi
expect_empty report-tsv-stderr "$ERR"

runcmd $P --train small.csv --data-format csv --model logreg --batch 4 --epochs 2 --steps 6 --report-every 4 \
	--format json
expect_rc report-json-rc 0
expect_lines report-json-lines "$OUT" 2
expect_match report-json-first "$OUT" \
	'^\{"step":4,"epoch":1\.000,"time_s":[0-9]+\.[0-9]{3},"loss":[0-9.]+,"samples_s":([0-9.]+|null),"bytes_out":0,"bytes_in":0,"checksum":"[0-9a-f]{8}","test_loss":null,"test_acc":null,"samples":16\}$'
expect_match report-json-last "$OUT" '^\{"step":6,.*,"time_s":[0-9]+\.[0-9]{3},.*,"samples":24\}$'

# Durable progress: --checkpoint FILE every N steps and at the end;
# --resume goes on from it, bit for bit as a run never stopped (Adam's
# state comes back with the parameters).
for a in "--resume" "--checkpoint-every 2" "--checkpoint c.ck --resume --load c.ck"; do
	tn=$(echo "ckpt $a" | tr ' .-' '___')
	# shellcheck disable=SC2086
	runcmd $P --train small.csv --data-format csv --model logreg $a
	expect_rc "$tn-rc" 2
	expect_match "$tn-msg" "$ERR" "^geomx-train: --(resume|checkpoint-every) (needs --checkpoint FILE|excludes --load)"
done
TRS="$P --train small.csv --data-format csv --model dense:4,relu,dense:3 --batch 2 --epochs 3 \
--optimizer adam --lr 0.01 --report-every 0"
runcmd $TRS
expect_rc resume-whole-rc 0
whole=$(tail -n 1 "$OUT" | cut -f 1,8)
# the first 7 steps, with a checkpoint every 3 (the last at 6, then 7 at the end)
runcmd $TRS --steps 7 --checkpoint run.ck --checkpoint-every 3
expect_rc resume-part-rc 0
# the resumed run: --steps 0, 24 steps in all, 17 to go
runcmd $TRS --checkpoint run.ck --resume -v
expect_rc resume-rest-rc 0
expect_match resume-rest-msg "$ERR" "run\.ck: resuming at step 7 of 24$"
if [ "$(tail -n 1 "$OUT" | cut -f 1,8)" = "$whole" ] && [ -n "$whole" ]; then
	ok resume-bit-exact
else
	notok resume-bit-exact "whole run '$whole', resumed '$(tail -n 1 "$OUT" | cut -f 1,8)'"
fi
# A failure that leaves the model whole (here its reports cannot be
# written: a full device) saves the state too, and --resume goes on from it
# bit for bit.
$TRS --report-every 5 --checkpoint fail.ck >/dev/full 2>fail.err
if grep -q "its state at step [0-9]* is saved in fail.ck" fail.err; then
	ok resume-after-failure-saved
else
	notok resume-after-failure-saved "$(head -c 300 fail.err)"
fi
runcmd $TRS --checkpoint fail.ck --resume
expect_rc resume-after-failure-rc 0
if [ "$(tail -n 1 "$OUT" | cut -f 1,8)" = "$whole" ]; then
	ok resume-after-failure-bit-exact
else
	notok resume-after-failure-bit-exact "whole run '$whole', resumed '$(tail -n 1 "$OUT" | cut -f 1,8)'"
fi
runcmd $TRS --checkpoint none.ck --resume -v --steps 1
expect_rc resume-fresh-rc 0
expect_match resume-fresh-msg "$ERR" "none\.ck: no checkpoint yet: starting afresh$"
runcmd $TRS --batch 4 --checkpoint run.ck --resume
expect_rc resume-other-batch-rc 1
expect_match resume-other-batch-msg "$ERR" "run\.ck: written by a run with --batch 2 .*this one has --batch 4"
runcmd $TRS --optimizer sgd --checkpoint run.ck --resume
expect_rc resume-other-optim-rc 1
expect_match resume-other-optim-msg "$ERR" "run\.ck: the optimizer's state does not fit"

# --eval-async: the evaluations in a forked copy give the very lines the
# synchronous ones do (the same model at the same steps), in step order.
EVA="$P --train small.csv --test small.csv --data-format csv --model logreg --batch 4 --epochs 3 --steps 9 \
	--eval-every 3 --report-every 0 --optimizer adam --lr 0.01"
runcmd $EVA
cp "$OUT" eval-sync.out
runcmd $EVA --eval-async
expect_rc eval-async-rc 0
if [ "$(cut -f 1,4,8-10 eval-sync.out)" = "$(cut -f 1,4,8-10 "$OUT")" ] &&
	[ "$(cut -f 1 "$OUT" | tr '\n' ' ')" = "step 3 6 9 " ]; then
	ok eval-async-same-lines
else
	notok eval-async-same-lines "$(tr '\n' '|' <eval-sync.out)" "$(tr '\n' '|' <"$OUT")"
fi
expect_empty eval-async-stderr "$ERR"

# --trace: only with --ps; a path it cannot write is said before anything
# else happens (no data loaded, no connection tried).
runcmd $P --train small.csv --data-format csv --model logreg --batch 4 --trace t.tsv
expect_rc trace-without-ps-rc 2
expect_match trace-without-ps-msg "$ERR" "^geomx-train: --trace goes with --ps"
runcmd $P --train no-such.csv --data-format csv --model logreg --batch 4 --ps 127.0.0.1:1 \
	--connect-timeout 0 --trace no-such-dir/t.tsv
expect_rc trace-unwritable-rc 1
expect_match trace-unwritable-msg "$ERR" "^geomx-train: cannot write --trace no-such-dir/t\.tsv: "
if grep -q 'no-such\.csv' "$ERR"; then notok trace-unwritable-first "$(head -c 300 "$ERR")"; else ok trace-unwritable-first; fi

# With --ps, whether --optimizer and the like matter depends on the servers'
# sync mode (HFA: the worker runs the optimizer), so nothing is said about
# them before connecting: here the only messages are the failure's.
runcmd $P --train small.csv --data-format csv --model logreg --batch 4 --ps 127.0.0.1:1 \
	--connect-timeout 0 --optimizer adam --lr 0.1
expect_rc ps-unreachable-rc 1
if grep -q 'ignored' "$ERR"; then
	notok ps-no-early-optimizer-warning "$(head -c 300 "$ERR")"
else
	ok ps-no-early-optimizer-warning
fi
expect_match ps-unreachable-msg "$ERR" "^geomx-train: worker 0/0: cannot connect to 127\.0\.0\.1:1: "
expect_empty ps-unreachable-stdout "$OUT"

finish
