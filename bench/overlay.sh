#!/bin/sh
# bench/overlay.sh — the adaptive overlay (geomx-ps --overlay adaptive)
# against HiPS's star on uneven WANs. The job: 4 data centers x 1 synthetic
# worker (geomx-bench worker, one tensor of $GX_OVL_COUNT floats: a party
# pushes what the reference cnn does, 715 KB, and gets as much back), a
# local PS per data center, one global PS (Adam, full sync) in the center,
# every link keyed (the job's key). Each data center in a network namespace
# of its own, every packet between sites through geomx-netem
# (scripts/netns.sh, gx_ns_mesh): the links between data centers are pair
# links, the center's ingress and egress are access links that all its
# traffic shares. Settings:
#   center    the center's access 50 Mbit/s each way, every pair of data
#             centers 100 Mbit/s: the star moves 4 x 715 KB through 50
#             Mbit/s each way (about 458 ms up, as much down), a fold that
#             sends the center one sum and a tree that passes the answers on
#             a quarter of that
#   friendly  the center's access 400 Mbit/s, data centers 50 Mbit/s apart:
#             the star is the best plan
#   drop      as center, until round $GX_OVL_DROP: then every link of data
#             center 2 (to the others and to the center) falls to 10 Mbit/s
#             (geomx-netem reloads its table: gx_ns_mesh_reload); the
#             overlay runs against the best static plan for the new links
#             (--overlay-plan: the plan of least time by the links'
#             capacities, every plan tried, worked out here in Python,
#             apart from the library's planner) through the same change
# For each setting, the star and the overlay run in turns ($GX_OVL_REPEAT
# times), $GX_OVL_ROUNDS rounds each; a round's time is the time between the
# ends of worker 0's rounds (geomx-bench worker --report), the job's pace
# (from round 1: round 0 has no round before it). Prints every
# round's time (overlay.tsv; a plot, overlay.png, with gnuplot) and, from
# round $GX_OVL_FROM on, the median round of each run, and PASS/FAIL lines
# for the issue's targets:
#   center: the overlay >= 1.6x faster a round than the star, from round 10
#     (the first 10 rounds are its to find the plan);
#   friendly: the overlay no more than 5 % slower than the star;
#   drop: from 5 rounds after the change, the overlay within 20 % of the
#     best static plan for the new links.
# The overlay explores: a share epsilon (0.1) of its rounds run on a random
# plan, and they count.
#
# Usage: sh bench/overlay.sh [--report]   (root: namespaces and a TUN device)
#   --report: run nothing; the checks and the plot from GX_OVL_OUT.
# Environment (defaults in brackets): BUILD [build]; GX_OVL_SETTINGS
#   ["center friendly drop"]; GX_OVL_ROUNDS [40; drop: twice]; GX_OVL_FROM [10];
#   GX_OVL_DROP [30];
#   GX_OVL_REPEAT [1]; GX_OVL_COUNT [178762]; GX_OVL_OUT [$BUILD/overlay];
#   GX_OVL_TIMEOUT [300] seconds a run may take.
BUILD=${BUILD:-build}
B=$BUILD/bin
SETTINGS=${GX_OVL_SETTINGS:-center friendly drop}
DROP=${GX_OVL_DROP:-30}
ROUNDS=${GX_OVL_ROUNDS:-40}
FROM=${GX_OVL_FROM:-10}
REPEAT=${GX_OVL_REPEAT:-1}
COUNT=${GX_OVL_COUNT:-178762}
OUT=${GX_OVL_OUT:-$BUILD/overlay}
TIMEOUT=${GX_OVL_TIMEOUT:-300}
TOP=${GX_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
DCS="dc0 dc1 dc2 dc3"
BENCH=overlay
. "$TOP/bench/lib.sh"
PIDS=""
mkdir -p "$OUT" || exit 1
TSV=$OUT/overlay.tsv
PNG=$OUT/overlay.png

# table SETTING [after] — geomx-netem's links of a setting (gx_ns_mesh adds
# the sites); with after, those from round DROP on.
table() {
	case $1 in
	center|drop) acc=50 pair=100 ;;
	friendly) acc=400 pair=50 ;;
	*) echo "overlay: no setting '$1' (center, friendly, drop)" >&2; return 1 ;;
	esac
	echo "access center rate=${acc}mbit"
	for a in $DCS; do
		for b in $DCS; do
			[ "$a" \< "$b" ] && echo "$a $b rate=${pair}mbit"
		done
	done
	# (later lines win)
	[ -n "${2:-}" ] && echo "dc2 * rate=10mbit"
	return 0
}

# best_static — the plan of least time for the links after the drop, every
# plan tried (2^4 pushes, 5^3 trees of answers): a push or the answers take
# what their most loaded link or access needs (capacities in Mbit/s); among
# plans alike in that, the one that loads the others least.
best_static() {
	python3 - <<'PY'
import itertools
P, G = 4, 4
def cap(u, v):
    if u == v: return None
    if 2 in (u, v): return 10.0
    return 100.0 if u < G and v < G else float("inf")
ACC = 50.0
def pushes():
    for h in itertools.product(range(P + 1), repeat=P):
        if h[0] not in (0, G): continue
        if all((h[k - 1] == G and h[k] == G) or (h[k - 1] != G and h[k] in (h[k - 1], k, G))
               for k in range(1, P)):
            yield h
def sends(h):
    s = []
    for k in range(P):
        if h[k] != k: s.append((k, h[k]))
        if k > 0 and h[k - 1] != h[k]: s.append((h[k - 1], h[k]))
    if h[P - 1] != G: s.append((h[P - 1], G))
    return s
def cost(edges):
    # the most loaded link or access, then (among plans alike in that) the
    # sum over all of them: less queued everywhere else
    load = {}
    for e in edges: load[e] = load.get(e, 0) + 1
    terms = [n / cap(*e) for e, n in load.items()]
    terms.append(sum(n for (u, v), n in load.items() if v == G) / ACC)
    terms.append(sum(n for (u, v), n in load.items() if u == G) / ACC)
    return (max(terms), sum(terms))
def trees():
    for f in itertools.product(range(P + 1), repeat=P):
        ok = True
        for i in range(P):
            seen, v = set(), i
            while v != G and ok:
                if f[v] == v or v in seen: ok = False
                seen.add(v); v = f[v]
        if ok: yield f
h = min(pushes(), key=lambda h: (cost(sends(h)), h != (G,) * P))
f = min(trees(), key=lambda f: (cost([(f[i], i) for i in range(P)]), f != (G,) * P))
n = lambda x: "G" if x == G else str(x)
print(",".join(map(n, h)) + ":" + ",".join(map(n, f)))
PY
}

# run SETTING MODE N — one job (MODE star, overlay or static); its rounds
# appended to the table as SETTING MODE N ROUND MS.
run() {
	D=$OUT/$1-$2-$3
	rm -rf "$D" && mkdir -p "$D" || return 1
	ovl="" r=$ROUNDS
	[ "$2" = overlay ] && ovl="--overlay adaptive"
	[ "$2" = static ] && ovl="--overlay adaptive --overlay-plan $STATIC"
	[ "$1" = drop ] && r=$((2 * ROUNDS))
	NS=center
	# shellcheck disable=SC2086
	bench_start g center "$B/geomx-ps" --role global --parties 4 --optimizer adam --lr 0.001 \
		--listen "$(gx_ns_addr center):0" --key "$KEY" --stats "$D/g.stats" $ovl
	G=$(bench_port g) || { bench_stop_all; return 1; }
	i=0
	for dc in $DCS; do
		bench_start l$i "$dc" "$B/geomx-ps" --role local --party $i --workers 1 \
			--listen "$(gx_ns_addr "$dc"):0" --upstream "$(gx_ns_addr center):$G" \
			--key "$KEY" --stats "$D/l$i.stats"
		i=$((i + 1))
	done
	i=0
	for dc in $DCS; do
		L=$(bench_port l$i) || { bench_stop_all; return 1; }
		bench_start w$i "$dc" "$B/geomx-bench" worker --ps "$(gx_ns_addr "$dc"):$L" \
			--party $i --sizes "$COUNT" --rounds "$r" --same-init --report --key "$KEY"
		i=$((i + 1))
	done
	if [ "$1" = drop ]; then
		# the links change once worker 0 has ended round DROP - 1
		_k=0
		until [ "$(awk -F '\t' -v d="$((DROP - 1))" '$1 == d' "$D/w0.out" | wc -l)" -gt 0 ] ||
			[ $_k -ge 6000 ] || ! kill -0 "$PID_w0" 2>/dev/null; do
			sleep 0.05
			_k=$((_k + 1))
		done
		gx_ns_mesh_reload "$OUT/drop.after" || echo "overlay: $D: the links did not change" >&2
	fi
	bench_waitall w0 w1 w2 w3 l0 l1 l2 l3 g || { bench_stop_all; return 1; }
	[ "$1" = drop ] && { gx_ns_mesh_reload "$OUT/drop.table" || return 1; }
	PIDS=""
	# a round's time: from the end of the round before (when the worker
	# pushes this one) to its own end, so that a round is the job's pace,
	# whatever order the workers get their answers in
	awk -F '\t' -v s="$1" -v m="$2" -v n="$3" 'NR > 2 { printf "%s\t%s\t%s\t%s\t%.3f\n", s, m, n, $1, ($7 - e) * 1000 } NR > 1 { e = $7 }' \
		"$D/w0.out" >>"$TSV"
}

if [ "${1:-}" != --report ]; then
	for p in geomx-ps geomx-bench geomx-netem geomx-relay; do
		[ -x "$B/$p" ] || { echo "overlay: $B/$p is missing: run 'make' first (or set BUILD)" >&2; exit 1; }
	done
	. "$TOP/scripts/netns.sh"
	gx_ns_check tun || { echo "overlay: needs network namespaces and a TUN device (above)" >&2; exit 1; }
	PATH="$B:$PATH" # gx_ns_mesh starts geomx-netem
	NS_MADE=0
	trap 'bench_stop_all; [ "$NS_MADE" = 1 ] && gx_ns_down' EXIT
	trap 'echo "overlay: interrupted" >&2; exit 130' INT
	trap 'exit 143' TERM HUP
	KEY=$OUT/job.key
	rm -f "$KEY"
	"$B/geomx-relay" --genkey "$KEY" >/dev/null || exit 1
	echo "== overlay ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores): 4 DCs x 1 worker, $COUNT floats, full sync, Adam, $ROUNDS rounds, packet-level links (geomx-netem)"
	printf 'setting\tmode\trun\tround\tms\n' >"$TSV"
	for s in $SETTINGS; do
		table "$s" >"$OUT/$s.table" || exit 2
		gx_ns_up $DCS || exit 1
		NS_MADE=1
		gx_ns_mesh "$OUT/$s.table" || { echo "overlay: the links of '$s' did not come up" >&2; exit 1; }
		modes="star overlay"
		if [ "$s" = drop ]; then
			table drop after >"$OUT/drop.after" || exit 2
			STATIC=$(best_static) || exit 1
			echo "drop: the best static plan for the links after round $DROP: $STATIC"
			modes="static overlay"
		fi
		n=0
		while [ $n -lt "$REPEAT" ]; do
			for m in $modes; do
				run "$s" "$m" "$n" || echo "overlay: $s $m run $n failed" >&2
			done
			n=$((n + 1))
		done
		gx_ns_down
		NS_MADE=0
	done
fi

[ -s "$TSV" ] || { echo "overlay: no table in $TSV" >&2; exit 1; }
# the mean round from round FROM on, per setting and mode (all runs)
mean() {
	awk -F '\t' -v s="$1" -v m="$2" -v f="$FROM" '$1 == s && $2 == m && $4 >= f { t += $5; n++ }
		END { if (n) printf "%.1f", t / n }' "$TSV"
}
# the median round from round FROM on, per setting and mode (all runs)
med() {
	awk -F '\t' -v s="$1" -v m="$2" -v f="$FROM" '$1 == s && $2 == m && $4 >= f { print $5 }' "$TSV" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
printf '%-10s %10s %10s %8s\n' setting star_ms overlay_ms speedup
rc=0
for s in $SETTINGS; do
	if [ "$s" = drop ]; then
		f=$FROM
		FROM=$((DROP + 5))
		st=$(med drop static) ov=$(med drop overlay)
		means="means $(mean drop static) $(mean drop overlay)"
		FROM=$f
		if [ -z "$st" ] || [ -z "$ov" ]; then
			echo "FAIL drop: no rounds measured"
			rc=1
			continue
		fi
		x=$(awk -v a="$ov" -v b="$st" 'BEGIN { printf "%.2f", a / b }')
		printf '%-10s %10s %10s %7sx  (static: the best static plan, from round %d; %s)\n' drop \
			"$st" "$ov" "$(awk -v a="$st" -v b="$ov" 'BEGIN { printf "%.2f", a / b }')" \
			$((DROP + 5)) "$means"
		if awk -v x="$x" 'BEGIN { exit !(x <= 1.2) }'; then
			echo "PASS drop: 5 rounds after the change the overlay's round is $x x the best static plan's (target <= 1.2)"
		else
			echo "FAIL drop: 5 rounds after the change the overlay's round is $x x the best static plan's (target <= 1.2)"
			rc=1
		fi
		continue
	fi
	st=$(med "$s" star) ov=$(med "$s" overlay)
	if [ -z "$st" ] || [ -z "$ov" ]; then
		echo "FAIL $s: no rounds measured"
		rc=1
		continue
	fi
	sp=$(awk -v a="$st" -v b="$ov" 'BEGIN { printf "%.2f", a / b }')
	printf '%-10s %10s %10s %7sx  (means %s %s)\n' "$s" "$st" "$ov" "$sp" "$(mean "$s" star)" \
		"$(mean "$s" overlay)"
	case $s in
	center)
		if awk -v x="$sp" 'BEGIN { exit !(x >= 1.6) }'; then
			echo "PASS center: the overlay $sp x faster a round than the star from round $FROM (target >= 1.6)"
		else
			echo "FAIL center: the overlay $sp x faster a round than the star from round $FROM (target >= 1.6)"
			rc=1
		fi ;;
	friendly)
		if awk -v x="$sp" 'BEGIN { exit !(x >= 1 / 1.05) }'; then
			echo "PASS friendly: the overlay at $sp x the star's speed (target: no more than 5 % slower)"
		else
			echo "FAIL friendly: the overlay at $sp x the star's speed (target: no more than 5 % slower)"
			rc=1
		fi ;;
	esac
done
echo "(ms a round: the median from round $FROM on (drop: from 5 rounds after the change) of the job's rounds, every run, and their means; table: $TSV)"

if command -v gnuplot >/dev/null 2>&1; then
	{
		echo "set terminal pngcairo size 1000,420 font ',10'"
		echo "set output '$PNG'"
		echo "set multiplot layout 1,$(echo "$SETTINGS" | wc -w)"
		echo "set xlabel 'round'; set ylabel 'ms a round (the job'\''s pace)'; set key top center; set grid"
		for s in $SETTINGS; do
			echo "set title '$s'"
			a=star
			[ "$s" = drop ] && a=static
			echo "plot '$TSV' using (strcol(1) eq '$s' && strcol(2) eq '$a' && \$3 == 0 ? \$4 : 1/0):5 with linespoints title '$a', \\"
			echo "     '$TSV' using (strcol(1) eq '$s' && strcol(2) eq 'overlay' && \$3 == 0 ? \$4 : 1/0):5 with linespoints title 'overlay'"
		done
		echo "unset multiplot"
	} | gnuplot 2>"$OUT/gnuplot.err" && echo "plot: $PNG"
fi
exit $rc
