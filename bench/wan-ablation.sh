#!/bin/sh
# bench/wan-ablation.sh — what each part of geomx buys on a slow WAN. The
# job of examples/hips-2dc.sh (2 data centers x 2 geomx-train workers, the
# `cnn` model on 4 shards of Fashion-MNIST) runs once per configuration
# with every data center's WAN link emulated at 100 Mbit/s and 25 ms one
# way (a 50 ms round trip), in both directions:
#
#   flat          4 workers straight to one global PS (geomx-ps --role global
#                 --parties 4, flat mode), dense fp32: each DC's two workers
#                 cross that DC's link
#   hips-dense    global + one local PS per DC; only local <-> global crosses
#   hips-fp16     locals with --wan-codec fp16 --lan-codec fp16
#   hips-bsc      locals with --wan-codec bsc:0.01 (top 1 %, error feedback)
#   hips-mpq      locals with --wan-codec mpq:0.01
#   hfa           global --sync hfa --k1 20 --k2 10; the workers run their
#                 own optimizer (HFA_WORKER_OPT below)
#   hfa-tuned     the same with --k1 $GX_ABL_HFA_K1 --k2 $GX_ABL_HFA_K2
#   mixed         global --sync mixed (Adam)
#   mixed-dcasgd  global --sync mixed --optimizer dcasgd
#
# The link. geomx-relay emulates rate and delay per direction of each
# connection it forwards (geomx-relay(1), WAN emulation): one relay with
# --rate 100mbit lets each of its connections have 100 Mbit/s. Under HiPS a
# DC's link carries one connection (its local PS to the global), so the
# DC's relay gets the whole rate; flat, it carries two (one per worker),
# which must share the link. Two arrangements, GX_ABL_LINK:
#   split (the default; no root needed): everything on loopback, one
#     geomx-relay per DC between its servers/workers and the global PS, with
#     --delay 25ms and --rate 100mbit divided by the connections that share
#     the link (50mbit each, flat). That is exactly a fair share of the link
#     whenever both connections are busy, and they are: under full sync the
#     global answers all four workers of a round at once, and both workers
#     of a DC push the same bytes as soon as they have computed the same
#     batch size. (Only a worker that starts pushing a few ms before the
#     other one cannot borrow the idle half meanwhile; flat errs slow by at
#     most that much per step.) The script checks that each relay carried
#     exactly the connections it was divided among.
#   tbf (root, network namespaces, tc tbf; scripts/netns.sh): each DC in its
#     own namespace, joined to the center by a veth pair with a kernel tbf
#     of 100mbit on both ends: one queue shared by everything crossing it.
#     The DC's geomx-relay adds only the 25 ms delay. TCP over tbf carries
#     1448/1514 of the rate as payload (95.6 Mbit/s).
#   packet (root, network namespaces, a TUN device): each DC in its own
#     namespace, and every IP packet between a DC and the center crosses
#     geomx-netem (scripts/netns.sh, gx_ns_mesh), which gives it the rate
#     (drop-tail queue of 50 ms), the delay and the loss (GX_ABL_LOSS) of
#     the DC's link: TCP's own slow start, congestion window and
#     retransmissions are what the job meets. The relays only forward
#     and count (GX_ABL_RELAY=0: none).
#   Measured on 2 cores, 100 steps: flat 262 ms a step split, 252 tbf;
#   hips-dense 163 and 157: the two agree within 4 %, on both rows alike
#   (the relay's own shaping costs that much over the kernel's).
# WAN bytes are what the DC relays put on and took off the WAN (their
# --stats: up.bytes_out + down.bytes_in), summed over both DCs.
#
# Measures, per configuration (one row each): WAN bytes (both directions,
# both DCs); the wall time of the job (the first server started to the last
# process gone); the time to 85 % test accuracy, on worker 0's training
# clock (geomx-train --eval-every: every EVAL_EVERY steps worker 0
# evaluates on the first TEST_LIMIT test images; the clock leaves those
# evaluations out, from each report's samples_s); the accuracy at the first
# evaluation at or past BUDGET training samples (all 4 workers together);
# the final accuracy of worker 0's model on the whole test set (its --save
# checkpoint, evaluated afterwards); and the mean step (worker 0's clock)
# beside what the WAN alone costs per step: the configured round trip
# times the WAN round trips per step (1, or 1/(k1 k2) under HFA) and the
# link's serialization of the step's WAN bytes (bytes per DC / rate).
# Then the acceptance checks, each a PASS, FAIL or SKIP (a configuration
# not run) line:
#   best time to 85 % >= 10x faster than flat; hips-bsc >= 3x faster than
#   flat; hips-bsc's WAN bytes >= 50x fewer than flat's (the sentence's
#   baseline; hips-dense's ratio is printed too); hips-bsc's
#   final accuracy no more than 1 point below hips-dense's; every final
#   accuracy >= 0.85.
# Writes accuracy-vs-time curves (one series per configuration) to a PNG
# with gnuplot (Debian's gnuplot-nox: `sh scripts/deps.sh bench`, which
# the script runs only when asked, GX_ABL_DEPS=1, its output on standard
# error; without gnuplot the table is still printed). Every
# configuration's raw logs stay in OUT/NAME/; the script names OUT at the
# end.
#
# Usage: sh bench/wan-ablation.sh [--report] [CONFIG]...
#   CONFIG: the configurations to run (default: $CONFIGS, else all nine);
#   --report: run nothing, print the table, the checks and the plot again
#   from the logs of an earlier run in GX_ABL_OUT.
# Environment (defaults in brackets):
#   BUILD                  the build folder [build]
#   GEOMX_FASHION_MNIST    the dataset's folder [/usr/share/datasets/fashion-mnist]
#   CONFIGS                configurations when none are given
#   GX_ABL_EPOCHS [2]      passes over each worker's shard
#   GX_ABL_BATCH [32]      batch per worker (a global batch of 4x)
#   GX_ABL_STEPS [0]       stop each worker after N steps (0: no limit; quick runs)
#   GX_ABL_EVAL_EVERY [24] worker 0 evaluates every N steps
#   GX_ABL_TEST_LIMIT [5000]  ... on the first N test images
#   GX_ABL_BUDGET [60000]  the common sample budget (all workers) for acc@budget
#   GX_ABL_RATE_MBIT [100], GX_ABL_DELAY_MS [25]   the emulated link (rate 0:
#                          unshaped, only the delay)
#   GX_ABL_LINK [split]    split, tbf or packet (see above)
#   GX_ABL_LOSS [0]        packet only: each packet's loss, each way, e.g. 1%
#   GX_ABL_RELAY [1]       0: no geomx-relay on the path: the data centers
#                          reach the global PS directly, so the link alone
#                          shapes it (tbf: its rate; no delay), and the WAN
#                          bytes come from the global PS's statistics
#   GX_ABL_HFA_K1 [5], GX_ABL_HFA_K2 [40]          hfa-tuned's k1, k2
#   GX_ABL_OPT, GX_ABL_DCASGD_OPT, GX_ABL_HFA_OPT  the optimizer flags of the
#                          global (synchronous rows), of mixed-dcasgd's global,
#                          of the workers under HFA (defaults: below)
#   GX_ABL_LOCAL_OPT []    more flags for every local PS (e.g. --ef-momentum 0.9)
#   GX_ABL_TIMEOUT [900]   seconds a configuration may take before it is killed
#   GX_ABL_OUT [$BUILD/wan-ablation]   where the logs go (gitignored by default)
#   GX_ABL_PNG [$GX_ABL_OUT/wan-ablation.png]      the plot
#   GX_ABL_DEPS [0]        1: install gnuplot-nox when it is missing (as root)
# The defaults (2 epochs of batches of 32 per worker, 936 steps) keep the
# nine rows near 17 minutes on 2 cores, flat the longest (about 4 min), and
# let flat reach 85 % (at step 240, 62 s) and end at 0.87.
# Exit status: 0 every check passed or was skipped, 1 a check failed or a
# configuration failed, 2 usage, 130 on Ctrl-C, 143 on SIGTERM. Every process it started
# is gone when it exits (and, with tbf, every namespace).
# The data path in plaintext, asked for (the programs refuse it by default;
# bench/secure-ps.sh measures what encryption costs).
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
usage() {
	sed -n '/^# Usage:/,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&"$(( $1 == 0 ? 1 : 2 ))"
	exit "$1"
}
ALL="flat hips-dense hips-fp16 hips-bsc hips-mpq hfa hfa-tuned mixed mixed-dcasgd"
REPORT=0
case ${1:-} in
-h|--help) usage 0 ;;
--report) REPORT=1; shift ;;
-*) echo "wan-ablation: unknown option '$1'" >&2; usage 2 ;;
esac
if [ $# -gt 0 ]; then LIST=$*; else LIST=${CONFIGS:-$ALL}; fi
for c in $LIST; do
	case " $ALL " in *" $c "*) ;; *) echo "wan-ablation: unknown configuration '$c' (known: $ALL)" >&2; usage 2 ;; esac
done

BUILD=${BUILD:-build}
DATA=${GEOMX_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
EPOCHS=${GX_ABL_EPOCHS:-2}
BATCH=${GX_ABL_BATCH:-32}
STEPS=${GX_ABL_STEPS:-0}
EVAL_EVERY=${GX_ABL_EVAL_EVERY:-24}
TEST_LIMIT=${GX_ABL_TEST_LIMIT:-5000}
BUDGET=${GX_ABL_BUDGET:-60000}
RATE_MBIT=${GX_ABL_RATE_MBIT:-100}
DELAY_MS=${GX_ABL_DELAY_MS:-25}
RELAY=${GX_ABL_RELAY:-1}
LINK=${GX_ABL_LINK:-split}
LOSS=${GX_ABL_LOSS:-0}
# hfa-tuned: average inside a DC every 5 steps (LAN, cheap) and across the
# WAN every 40 of those, so the WAN carries what hfa's --k1 20 --k2 10
# sends. Measured (2 epochs, one run each; HFA is compute-bound here, and
# the differences are near the noise of one run): time to 85 % 3.2 s for
# 5/40, 2.9 s for 10/20, 3.5 s for 2/50, 6.5 s for 5/4 (8x the WAN bytes);
# final accuracy 0.873-0.877 for all.
HFA_K1=${GX_ABL_HFA_K1:-5}
HFA_K2=${GX_ABL_HFA_K2:-40}
TIMEOUT=${GX_ABL_TIMEOUT:-900}
OUT=${GX_ABL_OUT:-$BUILD/wan-ablation}
TARGET_ACC=0.85
# The global tier's optimizer (every synchronous row; under a coded WAN the
# locals apply it): Adam at 0.002 for the global batch of 4 x 32 reaches
# 85 % in about 340 steps and 0.88 after 2 epochs standalone.
OPT=${GX_ABL_OPT:---optimizer adam --lr 0.002}
# DC-ASGD is SGD with delay compensation (lambda 0.04), here without
# momentum, as in the paper: over this WAN, 300 steps gave 0.835 at lr 0.1,
# 0.826 at 0.2, 0.797 at 0.01 and 0.781 at 0.02 with momentum 0.9 (which
# diverged at 0.05).
DCASGD=${GX_ABL_DCASGD_OPT:---optimizer dcasgd --lr 0.1}
# Under HFA each worker steps its own model on its batch of 32 (Adam at
# 0.002 reached 85 % in 2.4 s against 3.0 s at 0.001, with --k1 20 --k2 10).
HFA_WORKER_OPT=${GX_ABL_HFA_OPT:---optimizer adam --lr 0.002}
BSC="bsc:0.01" MPQ="mpq:0.01"
for n in "$EPOCHS" "$BATCH" "$STEPS" "$EVAL_EVERY" "$TEST_LIMIT" "$BUDGET" "$RATE_MBIT" "$DELAY_MS" \
	"$HFA_K1" "$HFA_K2" "$TIMEOUT"; do
	case $n in ''|*[!0-9]*) echo "wan-ablation: '$n' is not a whole number" >&2; usage 2 ;; esac
done
if [ "$EVAL_EVERY" = 0 ]; then
	echo "wan-ablation: GX_ABL_EVAL_EVERY must be above 0" >&2
	usage 2
fi
case $LINK in split|tbf|packet) ;; *) echo "wan-ablation: GX_ABL_LINK is split, tbf or packet, not '$LINK'" >&2; usage 2 ;; esac
case $LOSS in 0) ;; *%) [ "$LINK" = packet ] || { echo "wan-ablation: GX_ABL_LOSS needs GX_ABL_LINK=packet" >&2; usage 2; } ;;
*) echo "wan-ablation: GX_ABL_LOSS is a percentage (e.g. 1%), not '$LOSS'" >&2; usage 2 ;; esac
case $RELAY in 0|1) ;; *) echo "wan-ablation: GX_ABL_RELAY is 0 or 1, not '$RELAY'" >&2; usage 2 ;; esac
# Without a relay nothing adds the delay (but geomx-netem), and on loopback
# (split) nothing limits the rate either: what is configured is what runs.
if [ "$RELAY" = 0 ] && [ "$LINK" != packet ]; then
	DELAY_MS=0
	[ "$LINK" = split ] && RATE_MBIT=0
fi

B=$BUILD/bin
for p in geomx-ps geomx-train geomx-relay $([ "$LINK" = packet ] && echo geomx-netem); do
	[ -x "$B/$p" ] || { echo "wan-ablation: $B/$p is missing: run 'make BUILD=$BUILD' first" >&2; exit 1; }
done
B=$(cd "$B" && pwd)
PATH="$B:$PATH" # gx_ns_mesh starts geomx-netem
[ -r "$DATA/train-images-idx3-ubyte.gz" ] ||
	{ echo "wan-ablation: $DATA has no Fashion-MNIST: install dataset-fashion-mnist (make deps)" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "wan-ablation: python3 is missing (make deps)" >&2; exit 1; }
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
case $OUT in *[[:space:]]*) echo "wan-ablation: '$OUT' has blanks: set GX_ABL_OUT to a folder without" >&2; exit 2 ;; esac
PNG=${GX_ABL_PNG:-$OUT/wan-ablation.png}

# gnuplot, for the curves: the project's dependency script installs it
# when asked (GX_ABL_DEPS=1; as root, else it prints the apt-get line), its
# output kept off the table on standard output; the table comes anyway.
if [ "${GX_ABL_DEPS:-0}" = 1 ] && ! command -v gnuplot >/dev/null 2>&1; then
	sh "$TOP/scripts/deps.sh" bench >&2
fi
if command -v gnuplot >/dev/null 2>&1; then
	PLOT=1
else
	PLOT=0
	echo "wan-ablation: no gnuplot: no plot (sh scripts/deps.sh bench as root, or" \
		"GX_ABL_DEPS=1, installs Debian's gnuplot-nox)" >&2
fi

if [ "$LINK" != split ] && [ "$REPORT" = 0 ]; then
	. "$TOP/scripts/netns.sh"
	gx_ns_check "$([ "$LINK" = tbf ] && echo tbf || echo tun)" ||
		{ echo "wan-ablation: GX_ABL_LINK=$LINK needs network namespaces (see above)" >&2; exit 1; }
fi

BENCH=wan-ablation
. "$TOP/bench/lib.sh"
PIDS=""
NS_MADE=0
cleanup() {
	bench_stop_all
	if [ "$NS_MADE" = 1 ]; then gx_ns_down; fi
}
trap cleanup EXIT
trap 'echo "wan-ablation: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM HUP

if [ "$LINK" != split ] && [ "$REPORT" = 0 ]; then
	NS_MADE=1
	gx_ns_up dc0 dc1 || exit 1
	if [ "$LINK" = tbf ] && [ "$RATE_MBIT" != 0 ]; then
		for dc in dc0 dc1; do gx_ns_rate "$dc" "${RATE_MBIT}mbit" || exit 1; done
	fi
	if [ "$LINK" = packet ]; then
		for dc in dc0 dc1; do
			echo "$dc center$([ "$DELAY_MS" = 0 ] || echo " delay=${DELAY_MS}ms")$([ "$RATE_MBIT" = 0 ] ||
				echo " rate=${RATE_MBIT}mbit")$([ "$LOSS" = 0 ] || echo " loss=$LOSS")"
		done >"$OUT/netem.table"
		GX_NS_NETEM_STATS="$OUT/netem.tsv" gx_ns_mesh "$OUT/netem.table" || exit 1
	fi
	CENTER=$(gx_ns_addr center)
	# shellcheck disable=SC2034 # NS0, NS1 are read through eval
	NSC=center NS0=dc0 NS1=dc1
else
	CENTER=127.0.0.1
	# shellcheck disable=SC2034
	NSC="" NS0="" NS1=""
fi

# fail MESSAGE — a configuration failed: say why, stop its processes.
fail() {
	echo "wan-ablation: $NAME: $*" >&2
	echo "status=failed: $*" >>"$D/meta"
	bench_stop_all
	return 1
}
# waitfor NAME... — waits for each; fails naming the first that failed.
waitfor() {
	for n in "$@"; do
		eval "p=\$PID_$n"
		wait "$p"
		rc=$?
		case $rc in
		0) ;;
		124) fail "$n timed out after $TIMEOUT s (GX_ABL_TIMEOUT)"; return 1 ;;
		137) fail "$n was killed (SIGKILL: from outside, or $TIMEOUT s + 5 past GX_ABL_TIMEOUT)"; return 1 ;;
		*) fail "$n exited with status $rc: $(tail -n 2 "$D/$n.err" | tr '\n' ' ')"; return 1 ;;
		esac
	done
}

# run NAME — one configuration; its files in $OUT/NAME.
run() {
	NAME=$1 D=$OUT/$1
	rm -rf "$D" && mkdir -p "$D" || return 1
	hips=1 conns=1 gopt="--parties 2 $OPT" lopt=${GX_ABL_LOCAL_OPT:-} wopt="" rps=1
	case $NAME in
	flat) hips=0 conns=2 gopt="--parties 4 $OPT" ;;
	hips-dense) ;;
	hips-fp16) lopt="--wan-codec fp16 --lan-codec fp16${lopt:+ $lopt}" ;;
	hips-bsc) lopt="--wan-codec $BSC${lopt:+ $lopt}" ;;
	hips-mpq) lopt="--wan-codec $MPQ${lopt:+ $lopt}" ;;
	hfa) gopt="--parties 2 --sync hfa --k1 20 --k2 10" wopt=$HFA_WORKER_OPT rps="1/200" ;;
	hfa-tuned) gopt="--parties 2 --sync hfa --k1 $HFA_K1 --k2 $HFA_K2" wopt=$HFA_WORKER_OPT
		rps="1/$((HFA_K1 * HFA_K2))" ;;
	mixed) gopt="--parties 2 --sync mixed $OPT" ;;
	mixed-dcasgd) gopt="--parties 2 --sync mixed $DCASGD" ;;
	esac
	if [ "$RELAY" = 0 ]; then
		emu="none"
	elif [ "$LINK" = packet ]; then
		emu="" # the link is geomx-netem's; the relays forward and count
	elif [ "$LINK" = split ] && [ "$RATE_MBIT" != 0 ]; then
		emu="--rate $(awk -v r="$RATE_MBIT" -v n="$conns" 'BEGIN { printf "%g", r / n }')mbit --delay ${DELAY_MS}ms"
	else
		emu="--delay ${DELAY_MS}ms"
	fi
	{
		echo "link=$LINK"
		echo "conns=$conns"
		echo "relay=$emu"
		echo "wan_rounds_per_step=$rps"
		echo "global=$gopt"
		echo "local=$lopt"
		echo "worker=$wopt"
	} >"$D/meta"
	echo "== $NAME: global [$gopt]${lopt:+ locals [$lopt]}${wopt:+ workers [$wopt]}, relays [$emu]" >&2

	t0=$(date +%s.%N)
	# shellcheck disable=SC2086 # option strings are split on purpose
	bench_start global "$NSC" "$B/geomx-ps" --role global --listen "$CENTER:0" $gopt \
		--stats "$D/global.stats" --stats-format json -q
	G=$(bench_port global) || { fail "global did not start"; return 1; }
	ns=""
	for dc in $([ "$RELAY" = 1 ] && echo 0 1); do
		eval "ns=\$NS$dc"
		# shellcheck disable=SC2086
		bench_start relay$dc "$ns" "$B/geomx-relay" --listen 127.0.0.1:0 --connect "$CENTER:$G" $emu \
			--stats "$D/relay$dc.stats" -q
	done
	for dc in 0 1; do
		# the DC's way to the global PS: its relay, or straight
		if [ "$RELAY" = 1 ]; then
			R=$(bench_port relay$dc) || { fail "relay$dc did not start"; return 1; }
			UP=127.0.0.1:$R
		else
			UP=$CENTER:$G
		fi
		eval "ns=\$NS$dc"
		if [ $hips = 1 ]; then
			# shellcheck disable=SC2086
			bench_start local$dc "$ns" "$B/geomx-ps" --role local --party $dc --workers 2 \
				--upstream "$UP" $lopt -q
			L=$(bench_port local$dc) || { fail "local$dc did not start"; return 1; }
		fi
		for r in 0 1; do
			if [ $hips = 1 ]; then
				who="--ps 127.0.0.1:$L --party $dc --rank $r"
			else
				who="--ps $UP --party $((dc * 2 + r)) --rank 0"
			fi
			if [ $dc$r = 00 ]; then
				# Worker 0 evaluates as it goes and keeps its model.
				ev="--eval-every $EVAL_EVERY --report-every 0 --test-limit $TEST_LIMIT --save $D/w00.ckpt"
			else
				ev="--report-every 0 --test-limit 1000"
			fi
			# Four workers on two cores: one BLAS thread each.
			# shellcheck disable=SC2086
			bench_start w$dc$r "$ns" "$B/geomx-train" --data fashion-mnist --data-dir "$DATA" --model cnn \
				--epochs "$EPOCHS" --batch "$BATCH" --steps "$STEPS" --seed 1 --threads 1 \
				--shard $((dc * 2 + r))/4 $who $wopt $ev -q
		done
	done
	if [ $hips = 1 ]; then
		waitfor w00 w01 w10 w11 local0 local1 global || return 1
	else
		waitfor w00 w01 w10 w11 global || return 1
	fi
	t1=$(date +%s.%N)
	# The relays serve until told to stop; they write their last
	# statistics and exit 0.
	if [ "$RELAY" = 1 ]; then
		for n in relay0 relay1; do
			eval "p=\$PID_$n"
			kill -TERM "$p" 2>/dev/null
		done
		waitfor relay0 relay1 || return 1
	fi
	PIDS=""
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "wall_s=%.3f\n", b - a }' >>"$D/meta"
	cp "$D/w00.out" "$D/w00.tsv"
	# The final accuracy: worker 0's model on the whole test set.
	"$B/geomx-train" --data fashion-mnist --data-dir "$DATA" --model cnn --load "$D/w00.ckpt" \
		--epochs 0 -q >"$D/final.tsv" 2>"$D/final.err" ||
		{ fail "evaluating w00.ckpt failed: $(tail -n 1 "$D/final.err")"; return 1; }
	echo "status=ok" >>"$D/meta"
}

if [ "$STEPS" -gt 0 ]; then steps=" (at most $STEPS steps)"; else steps=""; fi
if [ "$RATE_MBIT" = 0 ]; then RATE_TXT="unshaped"; else RATE_TXT="${RATE_MBIT} Mbit/s"; fi
[ "$REPORT" = 1 ] || echo "== wan-ablation ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc 2>/dev/null || echo ?) cores): cnn, Fashion-MNIST," \
	"2 DCs x 2 workers, $EPOCHS epochs$steps, batch $BATCH per worker; WAN $RATE_TXT," \
	"$([ "$RELAY" = 1 ] || [ "$LINK" = packet ] && echo "${DELAY_MS} ms each way per DC" || echo "no relay, no delay")$([ "$LOSS" = 0 ] || echo ", $LOSS loss each way") (link: $LINK)"
failed=""
for c in $LIST; do
	[ "$REPORT" = 1 ] && break
	run "$c" || failed="$failed $c"
done

python3 - "$OUT" "$BATCH" "$RATE_MBIT" "$DELAY_MS" "$BUDGET" "$TARGET_ACC" "$LIST" <<'PYEOF'
import json, os, sys
out, batch, rate, delay, budget, target, configs = sys.argv[1:]
batch, rate, delay, budget, target = int(batch), float(rate), float(delay), int(budget), float(target)
configs = configs.split()
WORKERS = 4

def meta(d):
    m = {}
    for l in open(os.path.join(d, 'meta')):
        k, _, v = l.rstrip('\n').partition('=')
        m[k] = v
    return m

def tsv(path):
    lines = [l.rstrip('\n').split('\t') for l in open(path) if l.strip()]
    head = lines[0]
    return [dict(zip(head, l)) for l in lines[1:]]

def last_json(path):
    import json
    return json.loads(open(path).read().splitlines()[-1])

rows = {}
for c in configs:
    d = os.path.join(out, c)
    r = {'name': c}
    rows[c] = r
    try:
        m = meta(d)
    except OSError:
        r['status'] = 'not run'
        continue
    r['status'] = m.get('status', 'failed')
    if r['status'] != 'ok':
        continue
    reps = tsv(os.path.join(d, 'w00.tsv'))
    # Worker 0's training clock without its evaluations: each report's
    # samples_s covers the steps since the previous one, evaluation left out.
    clock, prev, curve = 0.0, 0, []
    for x in reps:
        step = int(x['step'])
        if step > prev and x.get('samples_s'):
            clock += (step - prev) * batch / float(x['samples_s'])
        prev = step
        samples = int(x['samples']) if x.get('samples') else step * batch
        if x.get('test_acc'):
            curve.append((clock, float(x['test_acc']), samples * WORKERS, step))
    r['steps'] = prev
    r['train_s'] = clock
    r['curve'] = curve
    r['t85'] = next((t for t, a, s, st in curve if a >= target), None)
    r['acc_budget'] = next((a for t, a, s, st in curve if s >= budget), None)
    r['final'] = float(tsv(os.path.join(d, 'final.tsv'))[-1]['test_acc'])
    r['wall'] = float(m['wall_s'])
    if m['relay'] == 'none':
        # no relay: what crossed the WAN is what the global PS's links carried
        links = json.loads(open(os.path.join(d, 'global.stats')).read())['links']
        per_dc = [sum(l['bytes_in'] + l['bytes_out'] for l in links)]
    else:
        wan = [last_json(os.path.join(d, 'relay%d.stats' % i)) for i in (0, 1)]
        for i, s in enumerate(wan):
            if s['accepted'] != int(m['conns']):
                r['status'] = 'failed: relay %d carried %d connections, not %s' % (i, s['accepted'],
                                                                                  m['conns'])
        per_dc = [s['up']['bytes_out'] + s['down']['bytes_in'] for s in wan]
    r['wan'] = sum(per_dc)
    st = json.loads(open(os.path.join(d, 'global.stats')).read()).get('staleness', {})
    r['stale'] = '%.2f/%d' % (st['mean'], st['max']) if st.get('count') else '-'
    num, _, den = m['wan_rounds_per_step'].partition('/')
    rps = float(num) / float(den or 1)
    r['step_ms'] = clock / prev * 1e3 if prev else None
    r['rtt_ms'] = 2 * delay * rps
    r['xfer_ms'] = (sum(per_dc) / 2) * 8 / (rate * 1e6) / prev * 1e3 if prev and rate else None
    with open(os.path.join(d, 'curve.dat'), 'w') as f:
        f.write('# train_s\ttest_acc\tsamples (all workers)\tstep\n')
        for p in curve:
            f.write('%.3f\t%.4f\t%d\t%d\n' % p)

f = lambda v, fmt: '-' if v is None else fmt % v
print('%-13s %9s %8s %8s %9s %8s %8s %7s %7s %6s  %s' % ('config', 'wan_MB', 'wall_s', 't85_s',
      'acc@%dk' % (budget // 1000), 'final', 'step_ms', 'rtt_ms', 'xfer_ms', 'stale', 'steps'))
for c in configs:
    r = rows[c]
    if r['status'] != 'ok':
        print('%-13s %s' % (c, r['status']))
        continue
    print('%-13s %9.1f %8.1f %8s %9s %8.4f %8.1f %7.2f %7s %6s  %d' % (c, r['wan'] / 1e6, r['wall'],
          f(r['t85'], '%.1f'), f(r['acc_budget'], '%.4f'), r['final'], r['step_ms'], r['rtt_ms'],
          f(r['xfer_ms'], '%.2f'), r['stale'], r['steps']))
print('(wan_MB: both directions, both DCs, from the relays (without them: the global PS\'s links); t85_s: worker 0\'s training clock, evaluations left out,'
      ' to the first evaluation >= %.2f on its test subset; acc@: the first evaluation at or past %d samples of all'
      ' workers; final: worker 0\'s model on all 10000 test images; step_ms: mean step; rtt_ms, xfer_ms: the'
      ' configured round trip and the serialization of the WAN bytes at %s, per step; stale: mixed'
      ' sync\'s staleness at the global tier, mean/max updates between a party\'s read and its update, which'
      ' DC-ASGD compensates)' % (target, budget, '%g Mbit/s' % rate if rate else 'no set rate (unshaped: none)'))
print()

ok = True
def check(name, need, cond, text):
    global ok
    missing = [n for n in need if n not in rows or rows[n]['status'] == 'not run']
    bad = [n for n in need if n in rows and rows[n]['status'] != 'ok']
    if missing:
        print('SKIP %s (not run: %s)' % (name, ' '.join(missing)))
        return
    if bad:
        print('FAIL %s (failed: %s)' % (name, ' '.join(bad)))
        ok = False
        return
    res = cond()
    ok = ok and res
    print('%s %s: %s' % ('PASS' if res else 'FAIL', name, text()))

def t85(n):
    return rows[n]['t85']
def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b

others = [c for c in configs if c != 'flat' and rows[c]['status'] == 'ok' and rows[c]['t85'] is not None]
best = min(others, key=t85) if others else None
name = 'best time to %.2f vs flat' % target
if 'flat' not in rows or rows['flat']['status'] == 'not run':
    print('SKIP %s (not run: flat)' % name)
elif best is not None:
    check(name, ['flat', best], lambda: (ratio(t85('flat'), t85(best)) or 0) >= 10,
          lambda: '%s %s s, flat %s s: %sx (target >= 10x)' % (best, f(t85(best), '%.1f'), f(t85('flat'), '%.1f'),
                                                            f(ratio(t85('flat'), t85(best)), '%.1f')))
elif [c for c in configs if c != 'flat' and rows[c]['status'] != 'not run']:
    print('FAIL %s: no configuration other than flat reached %.2f' % (name, target))
    ok = False
else:
    print('SKIP %s (no configuration but flat was run)' % name)
check('hips-bsc time to %.2f vs flat' % target, ['flat', 'hips-bsc'],
      lambda: (ratio(t85('flat'), t85('hips-bsc')) or 0) >= 3,
      lambda: 'hips-bsc %s s, flat %s s: %sx (target >= 3x)' % (f(t85('hips-bsc'), '%.1f'), f(t85('flat'), '%.1f'),
                                                              f(ratio(t85('flat'), t85('hips-bsc')), '%.1f')))
# "At least 50x fewer bytes" is read against the flat baseline, like the
# speed-up of the same sentence (docs/design.md); hips-dense's ratio is shown.
check('WAN bytes flat / hips-bsc', ['flat', 'hips-bsc', 'hips-dense'],
      lambda: rows['flat']['wan'] >= 50 * rows['hips-bsc']['wan'],
      lambda: '%.1fx (target >= 50x; hips-dense / hips-bsc: %.1fx)' % (
          rows['flat']['wan'] / rows['hips-bsc']['wan'], rows['hips-dense']['wan'] / rows['hips-bsc']['wan']))
check('hips-bsc final accuracy vs hips-dense', ['hips-dense', 'hips-bsc'],
      lambda: rows['hips-bsc']['final'] >= rows['hips-dense']['final'] - 0.01,
      lambda: 'hips-bsc %.4f, hips-dense %.4f (target: at most 1 point below)' % (rows['hips-bsc']['final'],
                                                                                 rows['hips-dense']['final']))
good = [c for c in configs if rows[c]['status'] == 'ok']
bad = [c for c in configs if rows[c]['status'] not in ('ok', 'not run')]
low = [c for c in good if rows[c]['final'] < target]
res = not bad and not low
ok = ok and res
print('%s every final accuracy >= %.2f: %s' % ('PASS' if res else 'FAIL', target,
      ', '.join(['%s %.4f' % (c, rows[c]['final']) for c in good] + ['%s failed' % c for c in bad])))
with open(os.path.join(out, 'plot.list'), 'w') as fl:
    for c in good:
        fl.write(c + '\n')
sys.exit(0 if ok else 1)
PYEOF
status=$?

if [ "$PLOT" = 1 ] && [ -s "$OUT/plot.list" ]; then
	# One colour per configuration (gnuplot's default cycle has 8).
	set -- '#1f77b4' '#ff7f0e' '#2ca02c' '#d62728' '#9467bd' '#8c564b' '#e377c2' '#7f7f7f' '#bcbd22' '#17becf'
	plots="" i=0
	while read -r c; do
		[ -s "$OUT/$c/curve.dat" ] || continue
		i=$((i + 1))
		plots="$plots${plots:+, }'$OUT/$c/curve.dat' using 1:2 with linespoints linecolor rgb '$1'"
		plots="$plots pointtype $i pointsize 0.6 title '$c'"
		shift
	done <"$OUT/plot.list"
	if gnuplot <<EOF
set terminal pngcairo size 1200,750 noenhanced
set output '$PNG'
set title 'cnn on Fashion-MNIST, 2 DCs x 2 workers, WAN $RATE_TXT + ${DELAY_MS} ms each way$([ "$LOSS" = 0 ] || echo ", $LOSS loss") ($LINK$([ "$RELAY" = 1 ] || echo ", no relay"))'
set xlabel "worker 0's training time, evaluations left out (s)"
set ylabel 'test accuracy (first $TEST_LIMIT test images)'
set logscale x
set yrange [0.6:0.92]
set key bottom right
set grid
plot $plots, $TARGET_ACC with lines dashtype 2 linecolor 'gray' title '$TARGET_ACC'
EOF
	then
		echo "plot: $PNG"
	else
		echo "wan-ablation: gnuplot failed: no plot" >&2
	fi
fi
echo "logs: $OUT/NAME/ (w00.tsv worker 0's reports, curve.dat, relay*.stats, global.stats, *.err, meta)"
[ -z "$failed" ] || { echo "wan-ablation: failed:$failed" >&2; status=1; }
exit "$status"
