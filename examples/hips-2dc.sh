#!/bin/sh
# examples/hips-2dc.sh — real HiPS training on localhost: two "data centers"
# of two geomx-train workers each, a local PS per data center, one global PS
# running Adam. Fashion-MNIST's 60000 training images are cut into 4 shards
# (one per worker); the workers train the `cnn` model and every one of them
# holds the same parameters after every step (the checksum column of their
# reports agrees). Prints the test accuracy, the wall time and the bytes that
# crossed the data-center boundary (the global PS's links to the two local
# servers, from its --stats file).
#
# Each worker takes batches of 8, so the global PS applies the mean gradient
# of 4 x 8 = 32 images per step — the same global batch (and number of steps)
# as the standalone reference run (batch 32).
#
# Usage: sh examples/hips-2dc.sh [EPOCHS]     (default 2; BUILD=dir picks the build)
# Environment: GEOMX_FASHION_MNIST (the dataset's folder), GEOMX_DEMO_STEPS
# (stop each worker after that many steps: a quick run).
# Every process is killed on failure or Ctrl-C; the status is nonzero when
# any process failed.
set -u
B=${BUILD:-build}/bin
EPOCHS=${1:-2}
BATCH=8
STEPS=${GEOMX_DEMO_STEPS:-0}
DATA=${GEOMX_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
for p in geomx-ps geomx-train; do
	[ -x "$B/$p" ] || { echo "hips-2dc: $B/$p is missing: run 'make' first (or set BUILD)" >&2; exit 1; }
done
[ -r "$DATA/train-images-idx3-ubyte.gz" ] ||
	{ echo "hips-2dc: $DATA has no Fashion-MNIST: install dataset-fashion-mnist (make deps)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/geomx-2dc.XXXXXX") || exit 1
PIDS=""
cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "hips-2dc: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM HUP

# start NAME CMD... — runs CMD in the background, stdout to $T/NAME, stderr
# to $T/NAME.err.
start() {
	n=$1; shift
	"$@" >"$T/$n" 2>"$T/$n.err" </dev/null &
	PIDS="$PIDS $!"
	eval "PID_$n=\$!"
}
port() { # the port a server printed on its first line
	i=0
	until [ -s "$T/$1" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
	p=$(head -n 1 "$T/$1")
	case $p in ''|*[!0-9]*) echo "hips-2dc: $1 did not start: $(tail -n 3 "$T/$1.err")" >&2; exit 1 ;; esac
	echo "$p"
}

t0=$(date +%s.%N)
start global "$B/geomx-ps" --role global --parties 2 --optimizer adam --lr 0.001 \
	--stats "$T/global.stats" --stats-format json
G=$(port global) || exit 1
for dc in 0 1; do
	start local$dc "$B/geomx-ps" --role local --party $dc --workers 2 --upstream "127.0.0.1:$G"
done
for dc in 0 1; do
	L=$(port local$dc) || exit 1
	for r in 0 1; do
		# Four workers on two cores: one BLAS thread each.
		start w$dc$r "$B/geomx-train" --data fashion-mnist --model cnn --epochs "$EPOCHS" \
			--batch $BATCH --steps "$STEPS" --seed 1 --threads 1 --shard $((dc * 2 + r))/4 \
			--ps "127.0.0.1:$L" --party $dc --rank $r --report-every 100 -q
	done
done
echo "hips-2dc: 1 global PS (Adam, lr 0.001), 2 data centers x (1 local PS + 2 workers)," \
	"cnn on Fashion-MNIST, 4 shards, $EPOCHS epochs, batch $BATCH"

# Wait for everyone; any failure stops the rest.
fail=0
for n in w00 w01 w10 w11 local0 local1 global; do
	eval "p=\$PID_$n"
	if ! wait "$p"; then
		echo "hips-2dc: $n failed: $(tail -n 3 "$T/$n.err")" >&2
		fail=1
		break
	fi
done
[ $fail = 0 ] || exit 1
PIDS=""
t1=$(date +%s.%N)

# The workers' checksums must agree at every report.
for w in w01 w10 w11; do
	if ! cut -f 1,8 "$T/w00" | cmp -s - "$(cut -f 1,8 "$T/$w" >"$T/$w.sum"; echo "$T/$w.sum")"; then
		echo "hips-2dc: worker $w's parameters differ from worker w00's" >&2
		exit 1
	fi
done
final=$(tail -n 1 "$T/w00")
steps=$(echo "$final" | cut -f 1)
acc=$(echo "$final" | cut -f 10)
# The global PS's links are the local servers: what crossed the boundary.
wan=$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
l = [x for x in s["links"] if x["role"] == "local"]
print(sum(x["bytes_in"] for x in l), sum(x["bytes_out"] for x in l))' "$T/global.stats") || exit 1
echo "steps per worker:       $steps (all 4 workers' parameter checksums agree at every report)"
echo "test accuracy:          $acc (10000 test images)"
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "wall time:              %.1f s\n", b - a }'
echo "$wan" | awk '{ printf "data-center boundary:   %.1f MB up (locals -> global), %.1f MB down\n", $1 / 1e6, $2 / 1e6 }'
