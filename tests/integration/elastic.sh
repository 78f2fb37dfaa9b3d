#!/bin/sh
# tests/integration/elastic.sh — a job that grows back (--elastic): a data
# center of three workers loses one (SIGKILL) at round 10 (its place kept
# for --reconnect-timeout, in case its link comes back); a new worker of
# the same rank replaces it at once, is taken in at the next
# round boundary, learns the round it joins at from its INIT's answer, and
# runs the job's remaining rounds with the others:
#  a. every process exits 0;
#  b. the replacement joined after the death, and from that round on its
#     parameters are the others' at every round;
#  c. all three workers end with the same parameters, bit for bit;
#  d. the local server says who joined, in whose place.
# shellcheck disable=SC2086 # $HB is split on purpose
. "${GX_TOP:-.}/tests/integration/lib.sh"
HB="--heartbeat 0.2 --heartbeat-timeout 2"
SIZES=4,7,70000
ROUNDS=60

spawn g geomx-ps --role global --parties 1 --block 16384 $HB
G=$(port_of g)
spawn l geomx-ps --role local --workers 3 --elastic --upstream 127.0.0.1:$G $HB
L=$(port_of l)
for w in 0 1 2; do
	spawn w$w geomx-bench worker --ps 127.0.0.1:$L --rank $w --sizes $SIZES --rounds $ROUNDS \
		--sleep 20 --dump "$T/w$w"
done
wait_match "$T/w0" "^10 " 60 || echo "# the job did not reach round 10"
kill -KILL "$(pid_of w2)"
wait_match "$T/l.err" "worker 2 \(127\.0\.0\.1:[0-9]+\) (died|lost)" 30 ||
	echo "# the local server did not see worker 2 go"
spawn w2b geomx-bench worker --ps 127.0.0.1:$L --rank 2 --sizes $SIZES --rounds $ROUNDS \
	--sleep 20 --dump "$T/w2b"
expect_all "a. the job with a replacement worker: every process exits 0" 120 0 w0 w1 w2b l g
j=$(head -n 1 "$T/w2b" | cut -d ' ' -f 1)
if [ -n "$j" ] && [ "$j" -gt 10 ] && [ "$j" -lt $ROUNDS ] &&
	awk -v j="$j" '$1 >= j' "$T/w0" | cmp -s - "$T/w2b"; then
	ok "b. the replacement joined at round $j, and from then on holds the others' parameters"
else
	notok "b. the replacement joined after the death and holds the others' parameters" \
		"joined at '${j:-?}'; $(head -n 2 "$T/w2b" | tr '\n' '|')"
fi
if cmp -s "$T/w0.final" "$T/w1.final" && cmp -s "$T/w0.final" "$T/w2b.final"; then
	ok "c. all three workers end with the same parameters"
else
	notok "c. all three workers end with the same parameters"
fi
expect_match "d. the local server says who joined" "$T/l.err" \
	"worker 2 \(127\.0\.0\.1:[0-9]+\) joins in a dead worker's place"
finish
