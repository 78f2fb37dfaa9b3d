#!/bin/sh
# examples/hips-2dc.sh — real HiPS training on localhost: two "data centers"
# of two geomx-train workers each, a local PS per data center, one global
# PS. Fashion-MNIST's 60000 training images are cut into 4 shards (one per
# worker), each worker trains the `cnn` model on batches of 8 (4 x 8 = 32
# images a step, the standalone reference run's batch). Prints the test
# accuracy, the wall time, and the bytes that crossed the data-center
# boundary (the global PS's links to the two local servers, from its
# --stats file) against what dense HiPS (F32 both ways every step) would
# have sent for the same steps.
#
# The configuration is the fastest of bench/wan-ablation.sh
# (docs/benchmarks.md): HFA sync, --k1 20 --k2 10. Each worker takes 20 Adam
# steps (lr 0.001) of its own, its local server then averages the data
# center's models, and every 10th such round the global tier averages the
# data centers'. The two workers of a data center agree at every report
# (the checksum column), all four at the end.
#
# Usage: sh examples/hips-2dc.sh [EPOCHS]     (default 2; BUILD=dir picks the build)
# Environment: GEOMX_FASHION_MNIST (the dataset's folder), GEOMX_DEMO_STEPS
# (stop each worker after that many steps: a quick run); GEOMX_GLOBAL_ARGS,
# GEOMX_LOCAL_ARGS, GEOMX_WORKER_ARGS replace the servers' and workers'
# extra arguments (e.g. GEOMX_LOCAL_ARGS= GEOMX_GLOBAL_ARGS="--optimizer
# adam --lr 0.001" for dense HiPS).
# Every process is killed on failure or Ctrl-C; the status is nonzero when
# any process failed.
set -u
B=${BUILD:-build}/bin
EPOCHS=${1:-2}
BATCH=8
STEPS=${GEOMX_DEMO_STEPS:-0}
GARGS=${GEOMX_GLOBAL_ARGS-"--sync hfa --k1 20 --k2 10"}
LARGS=${GEOMX_LOCAL_ARGS-""}
WARGS=${GEOMX_WORKER_ARGS-"--optimizer adam --lr 0.001"}
DATA=${GEOMX_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
for p in geomx-ps geomx-train geomx-relay; do
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

# Every link authenticated and encrypted (docs/security.md): the job's key
# for the global PS, each data center's own (derived from it) for its local
# PS and its workers, so neither data center can pass for the other.
"$B/geomx-relay" --genkey "$T/job.key" || exit 1
for dc in 0 1; do
	"$B/geomx-relay" --genkey "$T/dc$dc.key" --key "$T/job.key" --party $dc || exit 1
done

t0=$(date +%s.%N)
# shellcheck disable=SC2086
start global "$B/geomx-ps" --role global --parties 2 $GARGS --key "$T/job.key" \
	--stats "$T/global.stats" --stats-format json
G=$(port global) || exit 1
for dc in 0 1; do
	# shellcheck disable=SC2086
	start local$dc "$B/geomx-ps" --role local --party $dc --workers 2 --upstream "127.0.0.1:$G" \
		--key "$T/dc$dc.key" $LARGS
done
for dc in 0 1; do
	L=$(port local$dc) || exit 1
	for r in 0 1; do
		# Four workers on two cores: one BLAS thread each.
		# shellcheck disable=SC2086
		start w$dc$r "$B/geomx-train" --data fashion-mnist --model cnn --epochs "$EPOCHS" \
			--batch $BATCH --steps "$STEPS" --seed 1 --threads 1 --shard $((dc * 2 + r))/4 \
			--ps "127.0.0.1:$L" --party $dc --rank $r --key "$T/dc$dc.key" --report-every 100 \
			-v -v $WARGS
	done
done
echo "hips-2dc: 1 global PS ($GARGS), 2 data centers x (1 local PS${LARGS:+ ($LARGS)} + 2 workers)," \
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

# The workers' checksums: the two of a data center agree at every report
# (HFA averages across data centers only every k2 rounds) and all four at
# the end (under mixed sync the data centers may end apart).
same_sums() { # A B [last]: the step and checksum columns of A and B agree
	n=$(wc -l <"$T/$1")
	[ -n "${3:-}" ] || n=0
	tail -n +$((n > 0 ? n : 1)) "$T/$1" | cut -f 1,8 >"$T/$1.sum"
	tail -n +$((n > 0 ? n : 1)) "$T/$2" | cut -f 1,8 >"$T/$2.sum"
	cmp -s "$T/$1.sum" "$T/$2.sum"
}
for pair in "w00 w01" "w10 w11"; do
	# shellcheck disable=SC2086
	same_sums $pair || { echo "hips-2dc: workers $pair hold different parameters" >&2; exit 1; }
done
case $GARGS in
*mixed*) agree="each data center's workers agree at every report" ;;
*)
	same_sums w00 w10 last || { echo "hips-2dc: the data centers end with different parameters" >&2; exit 1; }
	agree="each data center's workers agree at every report, all 4 at the end" ;;
esac
final=$(tail -n 1 "$T/w00")
steps=$(echo "$final" | cut -f 1)
acc=$(echo "$final" | cut -f 10)
# The global PS's links are the local servers: what crossed the boundary.
wan=$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
l = [x for x in s["links"] if x["role"] == "local"]
print(sum(x["bytes_in"] for x in l), sum(x["bytes_out"] for x in l))' "$T/global.stats") || exit 1
echo "steps per worker:       $steps ($agree)"
echo "test accuracy:          $acc (10000 test images)"
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "wall time:              %.1f s\n", b - a }'
echo "$wan" | awk '{ printf "data-center boundary:   %.1f MB up (locals -> global), %.1f MB down\n", $1 / 1e6, $2 / 1e6 }'
# Dense HiPS sends every tensor as F32 (64-byte header + 4 bytes an element)
# up and down, from each data center, at INIT and every step.
model=$(sed -n 's/.* \([0-9][0-9]*\) parameters in \([0-9][0-9]*\) tensors.*/\1 \2/p' "$T/w00.err" | head -n 1)
if [ -n "$model" ]; then
	echo "$wan $model $steps" | awk '{ dense = ($5 + 1) * 2 * 2 * ($4 * 64 + $3 * 4); got = $1 + $2
		printf "against dense HiPS:     %.1f MB would have crossed: %.1f MB saved (%.1fx fewer bytes)\n",
			dense / 1e6, (dense - got) / 1e6, dense / got }'
fi
