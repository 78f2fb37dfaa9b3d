#!/bin/sh
# tests/cli/train.sh — geomx-train's usage and its messages for bad flags and
# missing data (fast: nothing trains here; tests/integration/train.sh
# trains). Golden files: tests/cli/golden/train-*.
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

finish
