#!/bin/sh
# examples/hips-synthetic.sh — a two-data-center HiPS topology on localhost,
# made of the programs: one global PS, one local PS per data center, two
# synthetic workers in each (geomx-bench worker). Every worker ends with the
# same parameters: the last column of their reports (a CRC-32C of all
# parameters) agrees. Usage: sh examples/hips-synthetic.sh [ROUNDS]
set -eu
B=${BUILD:-build}/bin
ROUNDS=${1:-20}
T=$(mktemp -d "${TMPDIR:-/tmp}/geomx-hips.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT INT TERM

port() { # the port a server printed on its first line
	i=0
	until [ -s "$1" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
	head -n 1 "$1"
}

# the job's key for the global PS, each data center's for its own programs
"$B/geomx-relay" --genkey "$T/job.key"
for p in 0 1; do "$B/geomx-relay" --genkey "$T/dc$p.key" --key "$T/job.key" --party $p; done

"$B/geomx-ps" --role global --parties 2 --optimizer adam --lr 0.001 --key "$T/job.key" >"$T/global" &
G=$(port "$T/global")
for p in 0 1; do
	"$B/geomx-ps" --role local --party $p --workers 2 --upstream 127.0.0.1:$G \
		--key "$T/dc$p.key" >"$T/local$p" &
done
for p in 0 1; do
	L=$(port "$T/local$p")
	for r in 0 1; do
		"$B/geomx-bench" worker --ps 127.0.0.1:$L --party $p --rank $r --key "$T/dc$p.key" \
			--sizes 416,16,12800,32 --rounds "$ROUNDS" --report >"$T/worker$p$r" &
	done
done
wait
for f in "$T"/worker*; do printf '%s: ' "$(basename "$f")"; tail -n 1 "$f"; done
