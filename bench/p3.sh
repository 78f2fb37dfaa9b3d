#!/bin/sh
# bench/p3.sh — what geomx-train --schedule p3 buys over fifo, against the
# floor measured in the same run. The job: 2 data centers x 2 workers
# (geomx-train, one BLAS thread each, batches of 32), a local PS per data
# center, one global PS (Adam) under full sync, every data center's link to
# the global through a geomx-relay that emulates it (--rate, --delay; one
# connection per data center, so the relay's rate is the link's). For each
# model (cnn, the reference; cnn-wide, 2.4 M parameters, where computing a
# step and moving it are of the same order here), each link rate and each
# one-way delay, three runs:
#   fifo   every gradient pushed after the backward pass, every answer
#          awaited before the next step; tensors in blocks of
#          $GX_P3_BLOCK elements (the global's --block), each passed on by
#          the local and answered by the global as soon as it is complete;
#          every link sends in the order frames are made
#   p3     --schedule p3 on every program: each layer's gradients pushed as
#          the backward pass has them, the next forward pass waiting layer
#          by layer, and on every link (workers, locals, global) tensor
#          frames beyond the credit ($GX_P3_CREDIT, auto: each link's
#          own, tuned while it runs) sent by priority, the first layers'
#          first; blocks as fifo
#   p3w    p3 with whole tensors (--block 0)
#   p3@C   p3 with the credit C, for each C of $GX_P3_CREDITS (the table
#          credit.tsv), to show whether the default credit is within 5 %
#          of the best of them everywhere (the credits auto chose, every
#          link's at the end of the p3 run: autocredit.tsv)
# and the floor of a step, measured in the same run:
#   compute  the mean step of the same four workers run standalone at the
#            same time (communication off; their optimizer is plain SGD,
#            one pass over the parameters)
#   xfer     what one direction of a data center's link carries a step
#            (every tensor as F32 with its 64-byte header) at the rate
#   floor    max(compute, xfer) + the round trip (2 x delay)
# and, from p3's runs, the measured causes of a gap to the floor:
#   cpu      the CPU the whole job spends a step, over the cores
#   l1wait   from the four workers' --trace: the time from the last
#            worker's push of the first layer to the first answer for it,
#            a median over steps; under full sync no worker computes in
#            it (that gradient is the last a backward pass makes, its
#            answer the first a forward pass needs), so p3's step is at
#            least compute + l1wait however the other layers overlap
# A run's step is worker 0's mean step after its first WARM steps (slow
# start, first touches), on its training clock.
# Prints a table and PASS/FAIL lines for the targets of the P3 issue:
#   where compute and xfer are within 2x of each other, p3 >= 1.25x faster
#     than fifo;
#   everywhere, p3 within 1.2x of the floor (and, as a second line, of
#     the largest of the floor, cpu and compute + l1wait);
#   nowhere p3 slower than fifo by more than 3 %;
#   dense cnn on 100 Mbit/s without delay, blocks (p3) >= 1.6x shorter
#     steps than whole tensors (p3w);
#   the default credit within 5 % of the best credit tried, everywhere.
# The relay's queue (--queue, $GX_P3_QUEUE) is the bottleneck's buffer:
# what it holds has left every priority queue.
# Writes the table (TSV) and a plot of step time against rate (fifo, p3,
# p3w, floor; one panel per model and delay) with gnuplot when it is
# installed.
#
# Usage: sh bench/p3.sh [--report]
#   --report: run nothing; the checks and the plot again from the table of
#   an earlier run in GX_P3_OUT.
# Environment (defaults in brackets): BUILD [build]; GEOMX_FASHION_MNIST;
#   GX_P3_MODELS ["cnn cnn-wide"]; GX_P3_RATES ["0 1000 300 100"] (Mbit/s,
#   0: unshaped loopback); GX_P3_DELAYS ["0 10"] (ms one way);
#   GX_P3_STEPS_cnn [150], GX_P3_STEPS_cnn_wide [24]; GX_P3_WARM [6];
#   GX_P3_BLOCK [geomx-ps's default] (elements); GX_P3_CREDIT [auto,
#   the default]; GX_P3_CREDITS ["64Ki 256Ki 1Mi"] (empty: no sweep;
#   they run in turns with fifo and p3);
#   GX_P3_QUEUE [128Ki] (the relay's --queue on a shaped link; unshaped:
#   64Mi, what a step has in flight); GX_P3_OUT [$BUILD/p3];
#   GX_P3_TIMEOUT [300] seconds a run may take; GX_P3_REPEAT [1]: fifo and
#   p3 run in turns this many times a setting, the median of each kept;
#   GX_P3_SERVERS [the workers'], fifo: the servers under fifo;
#   GX_P3_NICE [0]: the workers' niceness; GX_P3_RT [0], 1: the servers
#   and relays at real-time priority (chrt -f 10, root);
#   GX_P3_PIN [1]: the servers, relays and geomx-netem on the last core,
#   the workers (standalone too) on the others, as if on hosts of their
#   own (without it, on one machine, a server's work on one tensor
#   pre-empts a worker's backward pass and the overlap loses what it
#   gains; 0: every process on every core);
#   GX_P3_RELAY_OPTS: more flags for the relays; GX_P3_LINK [relay],
#   packet: no relays, each data center in a network namespace of its own
#   and every packet to and from the center through geomx-netem, which
#   gives it the link's rate, delay and a drop-tail queue of GX_P3_QUEUE
#   (root, a TUN device: scripts/netns.sh, found under GX_TOP [the
#   checkout the script is in]); TCP's congestion control then
#   meets the link, and the transfer bound leaves out the packets' headers
#   (about 3.5 %).
# Exit status: 0 every check passed, 1 a check or a run failed, 130 on
# Ctrl-C, 143 on SIGTERM; every process it started is gone when it exits.
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
set -u
BUILD=${BUILD:-build}
B=$BUILD/bin
DATA=${GEOMX_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
MODELS=${GX_P3_MODELS:-cnn cnn-wide}
RATES=${GX_P3_RATES:-0 1000 300 100}
DELAYS=${GX_P3_DELAYS:-0 10}
WARM=${GX_P3_WARM:-6}
BLOCK=${GX_P3_BLOCK:-}
CREDIT=${GX_P3_CREDIT:-auto}
CREDITS=${GX_P3_CREDITS-64Ki 256Ki 1Mi}
QUEUE=${GX_P3_QUEUE:-128Ki}
NICE=${GX_P3_NICE:-0}
REPEAT=${GX_P3_REPEAT:-1}
# GX_P3_RT=1: the servers and relays under SCHED_FIFO (as root), as if the
# network path ran on hosts of its own and the workers' compute could not
# delay it
RT=""
[ "${GX_P3_RT:-0}" = 1 ] && RT="chrt -f 10"
# GX_P3_PIN=1 (the default): the servers and relays (and geomx-netem) on
# the last core, the workers (the standalone ones too) on the others, so
# that neither takes CPU from the other, as on hosts of their own
WPIN=""
if [ "${GX_P3_PIN:-1}" = 1 ]; then
	NC=$(nproc)
	[ "$NC" -ge 2 ] || { echo "p3: GX_P3_PIN=1 needs 2 cores or more" >&2; exit 2; }
	WPIN="taskset -c 0-$((NC - 2))" RT="taskset -c $((NC - 1)) $RT"
fi
# GX_P3_LINK=packet: every data center in a network namespace of its own,
# every IP packet to and from the center through geomx-netem (the link's
# rate, delay and a drop-tail queue of GX_P3_QUEUE), TCP's own congestion
# control meeting it; no relays
LINK=${GX_P3_LINK:-relay}
case $LINK in relay|packet) ;; *) echo "p3: GX_P3_LINK is relay or packet, not '$LINK'" >&2; exit 2 ;; esac
OUT=${GX_P3_OUT:-$BUILD/p3}
TIMEOUT=${GX_P3_TIMEOUT:-300}
for p in geomx-ps geomx-train $([ "$LINK" = packet ] && echo geomx-netem || echo geomx-relay); do
	[ -x "$B/$p" ] || { echo "p3: $B/$p is missing: run 'make' first (or set BUILD)" >&2; exit 1; }
done
[ -r "$DATA/train-images-idx3-ubyte.gz" ] ||
	{ echo "p3: $DATA has no Fashion-MNIST: install dataset-fashion-mnist (make deps)" >&2; exit 1; }
mkdir -p "$OUT" || exit 1

NS_MADE=0
if [ "$LINK" = packet ] && [ "${1:-}" != --report ]; then
	TOP=${GX_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
	. "$TOP/scripts/netns.sh"
	gx_ns_check tun || { echo "p3: GX_P3_LINK=packet needs network namespaces and a TUN device (above)" >&2; exit 1; }
	PATH="$B:$PATH" # gx_ns_mesh starts geomx-netem
fi
BENCH=p3
. "${GX_TOP:-$(cd "$(dirname "$0")/.." && pwd)}/bench/lib.sh"
PIDS=""
# link_up RATE DELAY / link_down — the packet-level link of one setting.
link_up() {
	[ "$LINK" = packet ] || return 0
	NS_MADE=1
	gx_ns_up dc0 dc1 || return 1
	lk=""
	# (geomx-netem spells binary units KiB, MiB)
	[ "$1" != 0 ] && lk="rate=${1}mbit queue=$(echo "$QUEUE" | sed 's/i$/iB/')"
	[ "$2" != 0 ] && lk="$lk delay=${2}ms"
	printf 'dc0 center %s\ndc1 center %s\n' "$lk" "$lk" >"$OUT/netem.table"
	gx_ns_mesh "$OUT/netem.table" || return 1
	# (with its threads)
	[ -z "$WPIN" ] || taskset -a -p -c $(($(nproc) - 1)) "$GX_NS_NETEM_PID" >/dev/null
}
link_down() {
	[ "$NS_MADE" = 1 ] || return 0
	gx_ns_down
	NS_MADE=0
}
trap 'bench_stop_all; link_down' EXIT
trap 'echo "p3: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM HUP

# start NAME CMD... — bench_start in namespace $NS when set.
start() {
	_sn=$1
	shift
	bench_start "$_sn" "${NS:-}" "$@"
}
# mean_step FILE — worker 0's mean step in ms after WARM steps (its
# reports: step in column 1, training clock in column 3).
mean_step() {
	awk -F '\t' -v w="$WARM" '$1 == w { t0 = $3 } $1 ~ /^[0-9]+$/ { n = $1; t = $3 }
		END { if (t0 == "" || n <= w) exit 1; printf "%.1f", (t - t0) * 1000 / (n - w) }' "$1"
}
# job_cpu — JCPU gets the CPU ticks (user + system) the job's processes
# (the timeouts in PIDS and their children) have used so far, WCPU the
# workers' part of them.
job_cpu() {
	JCPU=0 WCPU=0
	for p in $PIDS ${GX_NS_NETEM_PID:-}; do
		for jc in $p $(cat "/proc/$p/task/$p/children" 2>/dev/null); do
			jt=$(awk '{ print $14 + $15 }' "/proc/$jc/stat" 2>/dev/null) || jt=0
			JCPU=$((JCPU + ${jt:-0}))
			case " ${PID_w00:-} ${PID_w01:-} ${PID_w10:-} ${PID_w11:-} " in
			*" $p "*) WCPU=$((WCPU + ${jt:-0})) ;;
			esac
		done
	done
}
# at_report STEP — waits for worker 0's report of STEP, then job_cpu;
# status 1 when worker 0 ended without it.
at_report() {
	until awk -F '\t' -v s="$1" '$1 == s { f = 1 } END { exit !f }' "$D/w00.out" 2>/dev/null; do
		eval "kill -0 \$PID_w00" 2>/dev/null || return 1
		sleep 0.05
	done
	job_cpu
}
# l1wait DIR — from the four workers' --trace files: the median, over the
# steps after WARM, of the time between the last worker's push of the
# first layer (tensor 0) in a step and the first answer for it in the next
# (0 where no worker waited for it). Under full sync no worker computes
# meanwhile: the first layer's gradient is the last a backward pass makes
# and its answer the first the forward pass needs, so the step is at least
# the compute plus this wait, however the other layers overlap.
l1wait() {
	awk -F '\t' -v w="$WARM" -v n="$STEPS" 'FNR > 1 && $3 == 0 && $1 > w && $1 < n - w {
		if ($2 == "push" && $5 > push[$1]) push[$1] = $5
		if ($2 == "wait" && (!($1 in ans) || $6 < ans[$1])) ans[$1] = $6 }
		END { for (s in push) { if (!((s + 1) in push)) continue
			d = ((s + 1) in ans) ? (ans[s + 1] - push[s]) * 1000 : 0
			v[++k] = d < 0 ? 0 : d }
		if (!k) { print "-"; exit }
		for (i = 2; i <= k; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
		printf "%.1f", k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }' "$1"/w??.trace
}
# median X... — the median of the numbers, or - without any.
median() {
	printf '%s\n' "$@" | grep . | sort -n | awk '{ a[NR] = $1 }
		END { if (!NR) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# cvar S — S (a credit, a model) as part of a variable's name (1.5M: 1_5M, cnn-wide: cnn_wide)
cvar() { echo "$1" | tr -c 'A-Za-z0-9\n' _; }
# auto_credits — the credits the last p3 run ended with, from the servers'
# statistics: a local's up link, the global's down links, a local's links to
# its workers (every link's, comma-separated), into autocredit.tsv.
auto_credits() {
	awk -F '\t' -v m="$MODEL" -v r="$RATE" -v d="$DELAY" '
		$1 == "link" && FILENAME ~ /l[01]\.stats$/ && $3 == "global" { up = up "," $8 }
		$1 == "link" && FILENAME ~ /l[01]\.stats$/ && $3 == "worker" { wk = wk "," $8 }
		$1 == "link" && FILENAME ~ /g\.stats$/ && $3 == "local" { dn = dn "," $8 }
		END { printf "%s\t%s\t%s\t%s\t%s\t%s\n", m, r, d, substr(up, 2), substr(dn, 2), substr(wk, 2) }' \
		"$D/l0.stats" "$D/l1.stats" "$D/g.stats" >>"$OUT/autocredit.tsv" 2>/dev/null
}
steps_of() { eval "echo \${GX_P3_STEPS_$(cvar "$1"):-}"; }

# worker ARGS... — geomx-train with the common flags.
wflags() { echo "--data fashion-mnist --data-dir $DATA --model $MODEL --batch 32 --steps $STEPS --seed 1 --threads 1 --report-every $WARM -q"; }

# compute — four standalone workers at once: RES gets worker 0's mean
# step. (compute and job run in this shell, not in $(...), so that PIDS
# names everything to stop on Ctrl-C.)
compute() {
	NS=""
	D=$OUT/$MODEL/compute
	rm -rf "$D" && mkdir -p "$D" || return 1
	for w in 0 1 2 3; do
		# shellcheck disable=SC2046
		start w$w $WPIN "$B/geomx-train" $(wflags) --shard $w/4 --optimizer sgd --lr 0.01 $([ $w = 0 ] && echo -v -v)
	done
	bench_waitall w0 w1 w2 w3 || { bench_stop_all; return 1; }
	PIDS=""
	RES=$(mean_step "$D/w0.out") || { echo "p3: $D: no step times in w0.out" >&2; return 1; }
}

# job RUN RATE DELAY [CREDIT] — one distributed run (fifo, p3, p3w); RES
# gets worker 0's mean step.
job() {
	D=$OUT/$MODEL/$1-r$2-d$3${4:+-c$4}
	rm -rf "$D" && mkdir -p "$D" || return 1
	sched="--schedule p3 --credit ${4:-$CREDIT}" gb=${BLOCK:+--block $BLOCK}
	case $1 in fifo) sched="--schedule fifo" ;; p3w) gb="--block 0" ;; esac
	# the servers' schedule: the workers' unless GX_P3_SERVERS=fifo (the
	# worker's overlap alone, for comparison)
	ssched=$sched
	[ "${GX_P3_SERVERS:-}" = fifo ] && ssched="--schedule fifo"
	NS="" gl=""
	[ "$LINK" = packet ] && NS=center gl="--listen $(gx_ns_addr center):0"
	# shellcheck disable=SC2086
	start g $RT "$B/geomx-ps" --role global --parties 2 --optimizer adam --lr 0.001 $gb \
		--stats "$D/g.stats" $gl $ssched
	G=$(bench_port g) || { bench_stop_all; return 1; }
	# an unshaped link with a delay holds what is in flight: room for a
	# whole step (the relay raises a shaped link's queue to twice its
	# bandwidth-delay product by itself)
	emu="--queue 64Mi"
	[ "$2" != 0 ] && emu="--queue $QUEUE --rate ${2}mbit"
	[ "$3" != 0 ] && emu="$emu --delay ${3}ms"
	[ "$LINK" = relay ] && for dc in 0 1; do
		# shellcheck disable=SC2086
		start r$dc $RT "$B/geomx-relay" --listen 127.0.0.1:0 --connect "127.0.0.1:$G" $emu ${GX_P3_RELAY_OPTS:-}
	done
	for dc in 0 1; do
		if [ "$LINK" = packet ]; then
			NS=dc$dc UP="$(gx_ns_addr center):$G"
		else
			UP="127.0.0.1:$(bench_port r$dc)" || { bench_stop_all; return 1; }
		fi
		# shellcheck disable=SC2086
		start l$dc $RT "$B/geomx-ps" --role local --party $dc --workers 2 --upstream "$UP" \
			--stats "$D/l$dc.stats" $ssched
	done
	for dc in 0 1; do
		[ "$LINK" = packet ] && NS=dc$dc
		L=$(bench_port l$dc) || { bench_stop_all; return 1; }
		for r in 0 1; do
			# shellcheck disable=SC2046,SC2086
			start w$dc$r $WPIN nice -n "$NICE" "$B/geomx-train" $(wflags) --shard $((dc * 2 + r))/4 \
				--ps "127.0.0.1:$L" --party $dc --rank $r $sched \
				--trace "$D/w$dc$r.trace"
		done
	done
	# The CPU the whole job (workers, servers, relays) spends a step, from
	# worker 0's report of step WARM to its next-to-last one: spread over
	# the cores, a floor no schedule can beat on this machine; pinned, the
	# larger of the workers' over their cores and the rest's over its one.
	CPUF=-
	if at_report "$WARM"; then
		jc1=$JCPU wc1=$WCPU
		if at_report $((STEPS - WARM)); then
			CPUF=$(awk -v a="$jc1" -v b="$JCPU" -v wa="$wc1" -v wb="$WCPU" -v pin="${WPIN:+1}" \
				-v n="$(nproc)" -v s=$((STEPS - 2 * WARM)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
				if (pin) { w = (wb - wa) / (n - 1); r = (b - a) - (wb - wa); t = w > r ? w : r }
				else t = (b - a) / n
				printf "%.1f", t * 1000 / hz / s }')
		fi
	fi
	bench_waitall w00 w01 w10 w11 l0 l1 g || { bench_stop_all; return 1; }
	if [ "$LINK" = relay ]; then
		for dc in 0 1; do eval "kill -TERM \$PID_r$dc"; done
		bench_waitall r0 r1 || { bench_stop_all; return 1; }
	fi
	PIDS=""
	RES=$(mean_step "$D/w00.out") || { echo "p3: $D: no step times in w00.out" >&2; return 1; }
	L1W=$(l1wait "$D")
}

# checks — the PASS/FAIL lines from the table.
checks() {
awk -F '\t' 'NR > 1 && $7 != "-" && $8 != "-" {
	c = $4; x = $5; same = (x > 0 && c <= 2 * x && x <= 2 * c)
	if (same) { n1++; if ($7 / $8 < 1.25) bad1 = bad1 sprintf(" %s/%s/%s:%.2fx", $1, $2, $3, $7 / $8); else good1 = good1 sprintf(" %s/%s/%s:%.2fx", $1, $2, $3, $7 / $8) }
	n2++; if ($8 / $6 > 1.2) bad2 = bad2 sprintf(" %s/%s/%s:%.2fx", $1, $2, $3, $8 / $6)
	# the measured causes of a gap to the floor, as bounds: the CPU the
	# job spends a step (column 10), and the compute plus the wait for
	# the first layer (column 12), which no overlap of the other layers hides
	cf = $6; why = "floor"
	if ($10 != "-" && $10 > cf) { cf = $10; why = "cpu" }
	if ($12 != "" && $12 != "-" && $4 + $12 > cf) { cf = $4 + $12; why = "compute+l1wait" }
	if ($8 / cf > 1.2) bad4 = bad4 sprintf(" %s/%s/%s:%.2fx(of %s)", $1, $2, $3, $8 / cf, why)
	else if ($8 / $6 > 1.2) cpu4 = cpu4 sprintf(" %s/%s/%s:%.2fx(of %s %.1f)", $1, $2, $3, $8 / cf, why, cf)
	if ($8 / $7 > 1.03) bad3 = bad3 sprintf(" %s/%s/%s:%.2fx", $1, $2, $3, $8 / $7)
	if ($1 == "cnn" && $2 == 100 && $3 == 0 && $9 != "-") blk = sprintf("%.2f", $9 / $8)
	n3++
}
END {
	if (!n3) { print "FAIL no setting was measured"; exit }
	if (!n1) print "SKIP p3 >= 1.25x faster than fifo where compute and transfer are within 2x: no such setting"
	else if (bad1 == "") print "PASS p3 >= 1.25x faster than fifo where compute and transfer are within 2x:" good1
	else print "FAIL p3 >= 1.25x faster than fifo where compute and transfer are within 2x:" bad1
	if (bad2 == "") printf "PASS p3 within 1.2x of the floor in all %d settings\n", n2
	else print "FAIL p3 within 1.2x of the floor:" bad2
	if (bad4 == "") printf "PASS p3 within 1.2x of the floor or of its measured cause (the CPU the job spends a step over the cores, or the compute plus the first layer'"'"'s wait); beyond the floor:%s\n", (cpu4 == "" ? " none" : cpu4)
	else print "FAIL p3 more than 1.2x of the floor and of its measured causes (the CPU a step, compute + the first layer'"'"'s wait):" bad4
	if (bad3 == "") printf "PASS p3 never more than 3%% slower than fifo (%d settings)\n", n3
	else print "FAIL p3 more than 3% slower than fifo:" bad3
	if (blk == "") print "SKIP blocks (p3) vs whole tensors (p3w), cnn, 100 Mbit/s, no delay: not run"
	else if (blk >= 1.6) print "PASS blocks (p3) vs whole tensors (p3w), cnn, 100 Mbit/s, no delay: " blk "x (target >= 1.6x)"
	else print "FAIL blocks (p3) vs whole tensors (p3w), cnn, 100 Mbit/s, no delay: " blk "x (target >= 1.6x)"
}' "$TSV" | tee "$OUT/checks"
	[ -s "$CTSV" ] && awk -F '\t' -v def="$CREDIT" 'NR > 1 {
		k = $1 "/" $2 "/" $3; if (!(k in best) || $5 < best[k]) { best[k] = $5; bc[k] = $4 }
		if ($4 == def) mine[k] = $5; tried[$4] = 1; order[k] = NR }
	END {
		for (c in tried) if (c != def) others = others " " c
		if (others == "") { print "SKIP the default credit within 5% of the best: no other credit tried"; exit }
		for (k in mine) { n++; r = mine[k] / best[k]; if (r > 1.05) bad = bad sprintf(" %s:%.3fx(best %s)", k, r, bc[k]); if (r > worst) worst = r }
		if (!n) print "SKIP the default credit within 5% of the best: no runs"
		else if (bad == "") printf "PASS the default credit %s within 5%% of the best of {%s%s} in all %d settings (worst %.3fx)\n", def, def, others, n, worst
		else print "FAIL the default credit " def " more than 5% slower than the best credit:" bad
	}' "$CTSV" | tee -a "$OUT/checks"
}

# plot — step time against rate, a panel per model and delay (gnuplot).
plot() {
	if command -v gnuplot >/dev/null 2>&1; then
		PNG=$OUT/p3.png
		np=0
		for MODEL in $MODELS; do for DELAY in $DELAYS; do np=$((np + 1)); done; done
		{
			echo "set terminal pngcairo size 1200,$((360 * ((np + 1) / 2))) font ',10'"
			echo "set output '$PNG'"
			echo "set multiplot layout $(((np + 1) / 2)),2"
			echo "set logscale xy; set grid; set key top right; set ylabel 'ms a step'"
			echo "set xlabel 'link rate (Mbit/s; none: unshaped loopback)'"
			echo "set xtics ('100' 100, '300' 300, '1000' 1000, 'none' 10000); set xrange [70:14000]"
			for MODEL in $MODELS; do
				for DELAY in $DELAYS; do
					# one panel's rows, fastest link first; unshaped drawn at 10000
					dat=$OUT/plot-$MODEL-$DELAY.dat
					awk -F '\t' -v m="$MODEL" -v d="$DELAY" 'NR > 1 && $1 == m && $3 == d {
						print ($2 == 0 ? 10000 : $2) "\t" $6 "\t" $7 "\t" $8 "\t" $9 }' "$TSV" | sort -n >"$dat"
					echo "set title '$MODEL, ${DELAY} ms each way'"
					echo "plot '$dat' using 1:3 with linespoints title 'fifo', '' using 1:4 with linespoints title 'p3', '' using 1:5 with linespoints title 'p3, whole tensors', '' using 1:2 with linespoints dt 2 title 'floor'"
				done
			done
			echo "unset multiplot"
		} | gnuplot 2>"$OUT/gnuplot.err" && echo "plot: $PNG"
	fi
}

TSV=$OUT/p3.tsv
CTSV=$OUT/credit.tsv
failed=0
case ${1:-} in
''|--report) ;;
-h|--help) sed -n '/^# Usage:/,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "p3: unknown argument '$1' (usage: sh bench/p3.sh [--report])" >&2; exit 2 ;;
esac
if [ "${1:-}" = --report ]; then
	[ -s "$TSV" ] || { echo "p3: no table in $TSV" >&2; exit 1; }
	column -t -s "$(printf '\t')" "$TSV"
	echo
	checks
	plot
	grep -q '^FAIL' "$OUT/checks" && exit 1
	exit 0
fi
printf 'model\trate_mbit\tdelay_ms\tcompute_ms\txfer_ms\tfloor_ms\tfifo_ms\tp3_ms\tp3w_ms\tp3_cpu_ms\tfifo_cpu_ms\tp3_l1wait_ms\n' >"$TSV"
printf 'model\trate_mbit\tdelay_ms\tcredit\tp3_ms\n' >"$CTSV"
printf 'model\trate_mbit\tdelay_ms\trun\tsteps_ms\n' >"$OUT/runs.tsv"
printf 'model\trate_mbit\tdelay_ms\tup_credits\tdown_credits\tworker_credits\n' >"$OUT/autocredit.tsv"
echo "== p3 ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores): 2 DCs x 2 workers, full sync, batch 32, $([ "$LINK" = packet ] && echo "packet-level links (geomx-netem" || echo "relay-emulated links (geomx-relay"), queue $QUEUE); block ${BLOCK:-default}, credit $CREDIT${CREDITS:+ (also tried: $CREDITS)}"
printf '%-9s %6s %5s %8s %8s %8s %8s %8s %8s %8s %8s %7s %7s %7s\n' model rate delay compute xfer floor fifo p3 p3w fifo/p3 p3/floor fifocpu p3cpu l1wait
for MODEL in $MODELS; do
	STEPS=$(steps_of "$MODEL")
	[ -n "$STEPS" ] || case $MODEL in cnn) STEPS=150 ;; *) STEPS=24 ;; esac
	compute || { echo "p3: $MODEL: the standalone run failed" >&2; failed=1; continue; }
	c=$RES
	# shellcheck disable=SC2046
	set -- $(sed -n 's/.* \([0-9][0-9]*\) parameters in \([0-9][0-9]*\) tensors.*/\1 \2/p' "$OUT/$MODEL/compute/w0.err" | head -n 1)
	[ $# = 2 ] || { echo "p3: $MODEL: no parameter count in its log" >&2; failed=1; continue; }
	bytes=$(($1 * 4 + $2 * 64))
	for RATE in $RATES; do
		for DELAY in $DELAYS; do
			link_up "$RATE" "$DELAY" || { echo "p3: the packet-level link of $RATE Mbit/s, $DELAY ms did not come up" >&2; failed=1; link_down; continue; }
			# (job's helpers use p, so the results have names of their own)
			t_fifo=- t_p3=- t_p3w=-
			# fifo and p3 in turns, REPEAT times each: the median of each
			# (every run's step in runs.tsv)
			# (and each credit of the sweep, in the same turns)
			u_fifo=- u_p3=- rf="" rp="" rw="" k=0
			for C in $CREDITS; do eval "rc_$(cvar "$C")=''"; done
			while [ $k -lt "$REPEAT" ]; do
				if job fifo "$RATE" "$DELAY"; then rf="$rf $RES" u_fifo=$CPUF; else failed=1; fi
				if job p3 "$RATE" "$DELAY"; then rp="$rp $RES" u_p3=$CPUF rw="$rw $L1W"; else failed=1; fi
				[ $k = 0 ] && auto_credits
				for C in $CREDITS; do
					[ "$C" = "$CREDIT" ] && continue
					if job p3 "$RATE" "$DELAY" "$C"; then
						eval "rc_$(cvar "$C")=\"\$rc_$(cvar "$C") $RES\""
					else
						failed=1
					fi
				done
				k=$((k + 1))
			done
			printf '%s\t%s\t%s\tfifo\t%s\n%s\t%s\t%s\tp3\t%s\n' "$MODEL" "$RATE" "$DELAY" "$rf" \
				"$MODEL" "$RATE" "$DELAY" "$rp" >>"$OUT/runs.tsv"
			# shellcheck disable=SC2086,SC2046
			t_fifo=$(median $rf) t_p3=$(median $rp) w_p3=$(median $(printf '%s\n' $rw | grep -v '^-$'))
			if job p3w "$RATE" "$DELAY"; then t_p3w=$RES; else failed=1; fi
			[ "$t_p3" != - ] && printf '%s\t%s\t%s\t%s\t%s\n' "$MODEL" "$RATE" "$DELAY" "$CREDIT" "$t_p3" >>"$CTSV"
			for C in $CREDITS; do
				[ "$C" = "$CREDIT" ] && continue
				eval "rc=\$rc_$(cvar "$C")"
				printf '%s\t%s\t%s\tp3@%s\t%s\n' "$MODEL" "$RATE" "$DELAY" "$C" "$rc" >>"$OUT/runs.tsv"
				# shellcheck disable=SC2086
				[ -n "$rc" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$MODEL" "$RATE" "$DELAY" "$C" "$(median $rc)" >>"$CTSV"
			done
			line=$(awk -v m="$MODEL" -v r="$RATE" -v d="$DELAY" -v c="$c" -v b="$bytes" -v f="$t_fifo" -v p="$t_p3" -v pb="$t_p3w" -v u="$u_p3" -v uf="$u_fifo" -v l1="$w_p3" 'BEGIN {
				x = r > 0 ? b * 8 / (r * 1e6) * 1000 : 0
				fl = (c > x ? c : x) + 2 * d
				printf "%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s", m, r, d, c, x, fl, f, p, pb, u, uf, l1 }')
			link_down
			echo "$line" >>"$TSV"
			echo "$line" | awk -F '\t' '{
				printf "%-9s %6s %5s %8s %8s %8s %8s %8s %8s %8s %8s %7s %7s %7s\n", $1, ($2 == 0 ? "none" : $2), $3, $4, $5, $6, $7, $8, $9,
					($7 != "-" && $8 != "-" ? sprintf("%.2fx", $7 / $8) : "-"), ($8 != "-" ? sprintf("%.2fx", $8 / $6) : "-"), $11, $10, ($12 == "" ? "-" : $12) }'
		done
	done
done
echo "(ms a step; rate in Mbit/s, none: unshaped loopback; delay one way; compute: the same four workers standalone; xfer: a data center's push (or answer) at the rate; floor: max(compute, xfer) + 2 x delay; p3/floor: p3's step over the floor; fifocpu, p3cpu: the CPU the job (all its processes) spent a step, over the cores (pinned: the larger of the workers' over their cores and the servers' and links' over theirs): what its step cannot go below on this machine; l1wait: p3's wait a step, with every worker idle, from the last push of the first layer to its answer, the median over steps from the workers' --trace)"
echo
checks
echo "the credits auto chose (bytes, at the end of each setting's first p3 run; a local's up link, the global's down links, the locals' links to their workers):"
column -t -s "$(printf '\t')" "$OUT/autocredit.tsv"
echo
echo "table: $TSV; logs: $OUT/MODEL/RUN/"
plot

grep -q '^FAIL' "$OUT/checks" && failed=1
exit $failed
