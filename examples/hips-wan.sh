#!/bin/sh
# examples/hips-wan.sh — the HiPS training of examples/hips-2dc.sh (one
# global PS running Adam, two data centers of one local PS and two
# geomx-train workers, cnn on four shards of Fashion-MNIST, 2 epochs,
# batches of 8) with each data center in its own Linux network namespace
# and a geomx-relay at each end of every WAN link (scripts/netns.sh):
#
#   namespace "center"                         namespace "dc0" (dc1 alike)
#   geomx-ps --role global                     geomx-train rank 0, rank 1
#     ^ 127.0.0.1                                | 127.0.0.1
#   geomx-relay --secure listen  <== WAN ==>   geomx-ps --role local
#     on 10.211.0.1 (the center's              | 127.0.0.1
#     address every DC reaches)                geomx-relay --secure connect
#                                                [--rate R --delay D]
#
# The WAN is one veth pair per data center (its own subnet); inside a data
# center everything talks over that namespace's loopback. The servers and
# workers speak plaintext frames to their relay, which seals the stream into
# authenticated records with the job's pre-shared key (geomx-relay --genkey,
# into a temporary folder, mode 0600) before it leaves the data center: the
# relays, not the servers, hold the key, so only the WAN carries ciphertext
# and the programs say so with --insecure (plaintext is not their default:
# examples/hips-2dc.sh gives every program its key instead). The DC's edge relay
# can emulate the WAN (rate, delay) in both directions; tbf on the veths can
# add a kernel rate limit. Or the WAN is emulated packet by packet
# (--netem TABLE): every IP packet between a data center and the center
# goes through geomx-netem in the center, which gives it the delay, jitter,
# loss and rate of its pair of sites, so TCP's own congestion control and
# retransmissions are what the job meets (examples/netem-2dc.sh). The protocol is deterministic, so the workers'
# losses, checksums and accuracies are the same bits as in the run without
# namespaces, relays or key (--no-wan).
#
# Usage: sh examples/hips-wan.sh [OPTION]...
#   --epochs N        passes over each worker's shard (default 2)
#   --steps N         stop each worker after N steps (default 0: no limit)
#   --batch N         batch per worker (default 8: a global batch of 32)
#   --limit N         use the first N training images (default: all 60000)
#   --test-limit N    evaluate on the first N test images (default: all)
#   --model SPEC      the model (default cnn)
#   --rate RATE       the edge relays' emulated link rate, e.g. 100mbit
#                     (default $GX_WAN_RATE, else none)
#   --delay TIME      the edge relays' one-way delay, e.g. 25ms
#                     (default $GX_WAN_DELAY, else none)
#   --tbf RATE        a tbf rate limit on both ends of each veth link
#                     (default $GX_WAN_TBF, else none)
#   --netem TABLE     the packet-level WAN instead: geomx-netem's links per
#                     pair of sites (lines "dc0 center delay=40ms loss=0.5%";
#                     sites dc0, dc1, center; geomx-netem(1); '-': from
#                     standard input); not with --rate, --delay or --tbf
#   --reports DIR     copy every worker's TSV report to DIR/wPR.tsv
#   --no-wan          the same job on the host's loopback: no namespaces,
#                     no relays, no key (the reference)
# Environment: BUILD (the build folder, default build), GEOMX_FASHION_MNIST
# (the dataset's folder), GX_WAN_RATE, GX_WAN_DELAY, GX_WAN_TBF.
# Exit status: 0 done, 1 a process failed or the workers disagree, 2 usage,
# 77 network namespaces are unavailable (not root, no ip/tc, ...), 130 on
# Ctrl-C. Every process and namespace it made is gone when it exits.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
# usage STATUS — the header's usage part: to stdout for --help (0), to
# stderr on misuse (2).
usage() {
	sed -n '/^# Usage:/,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&"$(( $1 == 0 ? 1 : 2 ))"
	exit "$1"
}
EPOCHS=2 STEPS=0 BATCH=8 LIMIT=0 TEST_LIMIT=0 MODEL=cnn REPORTS="" WAN=1 NETEM=
RATE=${GX_WAN_RATE:-} DELAY=${GX_WAN_DELAY:-} TBF=${GX_WAN_TBF:-}
while [ $# -gt 0 ]; do
	case $1 in
	--epochs|--steps|--batch|--limit|--test-limit|--model|--rate|--delay|--tbf|--reports|--netem)
		[ $# -ge 2 ] || { echo "hips-wan: $1 needs a value" >&2; usage 2; }
		case $1 in
		--epochs) EPOCHS=$2 ;; --steps) STEPS=$2 ;; --batch) BATCH=$2 ;;
		--limit) LIMIT=$2 ;; --test-limit) TEST_LIMIT=$2 ;; --model) MODEL=$2 ;;
		--rate) RATE=$2 ;; --delay) DELAY=$2 ;; --tbf) TBF=$2 ;; --reports) REPORTS=$2 ;;
		--netem) NETEM=$2 ;;
		esac
		shift 2 ;;
	--no-wan) WAN=0; shift ;;
	-h|--help) usage 0 ;;
	*) echo "hips-wan: unknown option '$1'" >&2; usage 2 ;;
	esac
done
for n in "$EPOCHS" "$STEPS" "$BATCH" "$LIMIT" "$TEST_LIMIT"; do
	case $n in ''|*[!0-9]*) echo "hips-wan: '$n' is not a whole number" >&2; usage 2 ;; esac
done
if [ "$WAN" = 0 ] && [ -n "$RATE$DELAY$TBF$NETEM" ]; then
	echo "hips-wan: --rate, --delay, --tbf and --netem shape the WAN: not with --no-wan" >&2
	usage 2
fi
if [ -n "$NETEM" ] && [ -n "$RATE$DELAY$TBF" ]; then
	echo "hips-wan: --netem emulates the WAN by itself: not with --rate, --delay or --tbf" >&2
	usage 2
fi
if [ -n "$NETEM" ] && [ "$NETEM" != - ] && [ ! -r "$NETEM" ]; then
	echo "hips-wan: cannot read the table $NETEM" >&2
	exit 2
fi
B=${BUILD:-build}/bin
DATA=${GEOMX_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
for p in geomx-ps geomx-train geomx-relay ${NETEM:+geomx-netem}; do
	[ -x "$B/$p" ] || { echo "hips-wan: $B/$p is missing: run 'make' first (or set BUILD)" >&2; exit 1; }
done
B=$(cd "$B" && pwd)
PATH="$B:$PATH" # gx_ns_mesh starts geomx-netem
[ -r "$DATA/train-images-idx3-ubyte.gz" ] ||
	{ echo "hips-wan: $DATA has no Fashion-MNIST: install dataset-fashion-mnist (make deps)" >&2; exit 1; }
if [ -n "$REPORTS" ]; then
	mkdir -p "$REPORTS" || exit 1
	REPORTS=$(cd "$REPORTS" && pwd)
fi

. "$TOP/scripts/netns.sh"
if [ "$WAN" = 1 ]; then
	if [ -n "$TBF" ]; then gx_ns_check tbf; elif [ -n "$NETEM" ]; then gx_ns_check tun; else gx_ns_check; fi
	rc=$?
	[ $rc = 0 ] || { echo "hips-wan: network namespaces are unavailable (see above)" >&2; exit "$rc"; }
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/geomx-wan.XXXXXX") || exit 1
if [ "$NETEM" = - ]; then
	cat >"$T/netem.table" || exit 1
	NETEM=$T/netem.table
fi
PIDS=""
cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	if [ "$WAN" = 1 ]; then gx_ns_down; fi
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "hips-wan: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM HUP

# start NAME NS CMD... — runs CMD in the background in namespace NS (the
# host when empty), stdout to $T/NAME, stderr to $T/NAME.err.
start() {
	n=$1 ns=$2
	shift 2
	if [ -n "$ns" ]; then
		ip netns exec "$(gx_ns_name "$ns")" "$@" >"$T/$n" 2>"$T/$n.err" </dev/null &
	else
		"$@" >"$T/$n" 2>"$T/$n.err" </dev/null &
	fi
	PIDS="$PIDS $!"
	eval "PID_$n=\$!"
}
port() { # the port a server printed on its first line
	i=0
	until [ -s "$T/$1" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
	p=$(head -n 1 "$T/$1")
	case $p in ''|*[!0-9]*) echo "hips-wan: $1 did not start: $(tail -n 3 "$T/$1.err")" >&2; exit 1 ;; esac
	echo "$p"
}
# relay_sum FIELD FILE... — the sum of a field (e.g. up.bytes_out) of the
# relays' final statistics lines.
relay_sum() {
	python3 -c 'import json, sys
d, k = sys.argv[1].split(".")
t = 0
for f in sys.argv[2:]:
    s = json.loads(open(f).read().splitlines()[-1])
    assert s["final"], f + ": no final statistics line"
    t += s[d][k]
print(t)' "$@"
}

if [ "$WAN" = 1 ]; then
	gx_ns_up dc0 dc1 || exit 1
	for dc in dc0 dc1; do
		if [ -n "$TBF" ]; then gx_ns_rate "$dc" "$TBF" || exit 1; fi
	done
	if [ -n "$NETEM" ]; then
		GX_NS_NETEM_STATS="$T/netem.tsv" gx_ns_mesh "$NETEM" || exit 1
	fi
	NSC=center NS0=dc0 NS1=dc1
	CENTER=$(gx_ns_addr center)
	"$B/geomx-relay" --genkey "$T/job.key" || exit 1
	EMU=""
	[ -n "$RATE" ] && EMU="$EMU --rate $RATE"
	[ -n "$DELAY" ] && EMU="$EMU --delay $DELAY"
else
	NSC="" NS0="" NS1=""
fi

t0=$(date +%s.%N)
start global "$NSC" "$B/geomx-ps" --role global --parties 2 --optimizer adam --lr 0.001 \
	--insecure --stats "$T/global.stats" --stats-format json
G=$(port global) || exit 1
if [ "$WAN" = 1 ]; then
	start relayc center "$B/geomx-relay" --listen "$CENTER:0" --connect "127.0.0.1:$G" \
		--key "$T/job.key" --secure listen --stats "$T/relayc.stats"
	RC=$(port relayc) || exit 1
	for dc in 0 1; do
		# shellcheck disable=SC2086
		start relay$dc dc$dc "$B/geomx-relay" --listen 127.0.0.1:0 --connect "$CENTER:$RC" \
			--key "$T/job.key" --secure connect $EMU --stats "$T/relay$dc.stats"
	done
	UP0=127.0.0.1:$(port relay0) || exit 1
	UP1=127.0.0.1:$(port relay1) || exit 1
else
	UP0=127.0.0.1:$G UP1=127.0.0.1:$G
fi
start local0 "$NS0" "$B/geomx-ps" --role local --party 0 --workers 2 --upstream "$UP0" --insecure
start local1 "$NS1" "$B/geomx-ps" --role local --party 1 --workers 2 --upstream "$UP1" --insecure
LIMITS=""
[ "$LIMIT" -gt 0 ] && LIMITS="--limit $LIMIT"
[ "$TEST_LIMIT" -gt 0 ] && LIMITS="$LIMITS --test-limit $TEST_LIMIT"
for dc in 0 1; do
	L=$(port local$dc) || exit 1
	eval "ns=\$NS$dc"
	for r in 0 1; do
		# Four workers on two cores: one BLAS thread each.
		# shellcheck disable=SC2086
		start w$dc$r "$ns" "$B/geomx-train" --data fashion-mnist --model "$MODEL" --epochs "$EPOCHS" \
			--batch "$BATCH" --steps "$STEPS" $LIMITS \
			--seed 1 --threads 1 --shard $((dc * 2 + r))/4 \
			--ps "127.0.0.1:$L" --party $dc --rank $r --report-every 50 -q --insecure
	done
done
if [ "$WAN" = 1 ]; then
	what="2 data-center namespaces, relays with --key at both ends of each WAN link"
	[ -n "$RATE$DELAY" ] && what="$what, emulated WAN:${RATE:+ rate $RATE}${DELAY:+ delay $DELAY}"
	[ -n "$TBF" ] && what="$what, tbf $TBF on the veths"
	[ -n "$NETEM" ] && what="$what, packet-level WAN (geomx-netem): $(grep -v '^ *#' "$NETEM" | grep . | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
else
	what="loopback, no relays (--no-wan)"
fi
echo "hips-wan: $what; 1 global PS (Adam, lr 0.001), 2 x (1 local PS + 2 workers)," \
	"$MODEL on Fashion-MNIST, 4 shards, $EPOCHS epochs, batch $BATCH"

# Wait for everyone; any failure stops the rest.
for n in w00 w01 w10 w11 local0 local1 global; do
	eval "p=\$PID_$n"
	if ! wait "$p"; then
		echo "hips-wan: $n failed: $(tail -n 3 "$T/$n.err")" >&2
		exit 1
	fi
done
t1=$(date +%s.%N)
if [ "$WAN" = 1 ]; then
	# The relays serve until told to stop; they write their last
	# statistics and exit 0.
	for n in relay0 relay1 relayc; do
		eval "p=\$PID_$n"
		kill -TERM "$p"
		wait "$p" || { echo "hips-wan: $n failed: $(tail -n 3 "$T/$n.err")" >&2; exit 1; }
	done
fi
PIDS=""

for w in w01 w10 w11; do
	cut -f 1,8 "$T/$w" >"$T/$w.sum"
	if ! cut -f 1,8 "$T/w00" | cmp -s - "$T/$w.sum"; then
		echo "hips-wan: worker $w's parameters differ from worker w00's" >&2
		exit 1
	fi
done
if [ -n "$REPORTS" ]; then
	for w in w00 w01 w10 w11; do cp "$T/$w" "$REPORTS/$w.tsv" || exit 1; done
fi
final=$(tail -n 1 "$T/w00")
echo "steps per worker:       $(echo "$final" | cut -f 1) (all 4 workers' parameter checksums agree at every report)"
for w in w00 w01 w10 w11; do
	printf "%-24s%s (checksum %s)\n" "test accuracy, $w:" "$(tail -n 1 "$T/$w" | cut -f 10)" "$(tail -n 1 "$T/$w" | cut -f 8)"
done
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "wall time:              %.1f s\n", b - a }'
# What the global PS counted on its links to the local servers (through
# the center relay in the WAN run): the plaintext frames.
plain=$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
l = [x for x in s["links"] if x["role"] == "local"]
print(sum(x["bytes_in"] for x in l), sum(x["bytes_out"] for x in l))' "$T/global.stats") || exit 1
echo "$plain" | awk '{ printf "frames (global PS):     %.1f MB up (locals -> global), %.1f MB down\n", $1 / 1e6, $2 / 1e6 }'
if [ "$WAN" = 1 ]; then
	up=$(relay_sum up.bytes_out "$T/relay0.stats" "$T/relay1.stats") || exit 1
	down=$(relay_sum down.bytes_in "$T/relay0.stats" "$T/relay1.stats") || exit 1
	echo "$up $down" | awk '{ printf "WAN, sealed (relays):   %.1f MB up, %.1f MB down\n", $1 / 1e6, $2 / 1e6 }'
fi
if [ -n "$NETEM" ]; then
	# geomx-netem's last counts, once gx_ns_down has stopped it: packets
	# into the WAN and those it lost.
	gx_ns_down
	awk -F '\t' 'NR > 1 { last[$2 " > " $3] = $0 }
		END { for (k in last) { split(last[k], f, "\t"); if (f[4] > 0)
			printf "WAN packets, %-9s %d in, %d lost (%.2f %%)\n", k ":", f[4], f[8], 100 * f[8] / f[4] } }' \
		"$T/netem.tsv" | sort
fi
exit 0
