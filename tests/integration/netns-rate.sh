#!/bin/sh
# tests/integration/netns-rate.sh — the namespace harness (scripts/netns.sh)
# itself: gx_ns_up makes a center and a data center joined by a veth pair
# without touching the host's interfaces; a DC reaches the center's address
# over its link; gx_ns_rate puts a tbf limit on both ends, and a bulk TCP
# transfer (tests/integration/netns-bulk.py) measures the rate it set to
# within 10%, in each direction, where the bare link carries several times
# more; gx_ns_down kills what runs inside, deletes every namespace of the
# run, and is idempotent. Skips (77) without root, ip, tc, tbf or
# namespaces.
# $BULK and the result lines are split into words on purpose.
# shellcheck disable=SC2086
. "${GX_TOP:-.}/tests/integration/lib.sh"
. "$GX_TOP/scripts/netns.sh"
need_python
gx_ns_check tbf || exit $?
trap 'gx_ns_down; cleanup' EXIT
BULK="python3 $GX_TOP/tests/integration/netns-bulk.py"
RATE=50mbit
RATE_BPS=50000000
BYTES=15000000 # 2.4 s at 50 Mbit/s

host_links() { ip -o link show | sed 's/ link\/.*//; s/state [A-Z]*//' | sort; }
host_links >"$T/host.before"

if gx_ns_up dc0; then ok "gx_ns_up makes a center and one data center"
else notok "gx_ns_up makes a center and one data center" "$(gx_ns_list | tr '\n' ' ')"; finish; fi
host_links >"$T/host.during"
check "the host's interfaces are untouched by gx_ns_up" cmp -s "$T/host.before" "$T/host.during"
if [ "$(gx_ns_list | sort | tr '\n' ' ')" = "$GX_NS_PREFIX-center $GX_NS_PREFIX-dc0 " ]; then
	ok "the run's namespaces are $GX_NS_PREFIX-{center,dc0}"
else
	notok "the run's namespaces are $GX_NS_PREFIX-{center,dc0}" "$(gx_ns_list | tr '\n' ' ')"
fi
gx_ns_rate dc0 7furlongs 2>"$T/badrate.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "bad rate" "$T/badrate.err"; then ok "gx_ns_rate refuses a bad rate (status 2)"
else notok "gx_ns_rate refuses a bad rate (status 2)" "rc $rc: $(cat "$T/badrate.err")"; fi

CENTER=$(gx_ns_addr center)
DC0=$(gx_ns_addr dc0)
NC=$(gx_ns_name center) ND=$(gx_ns_name dc0)

# transfer NAME FROM_NS TO_NS TO_ADDR — BYTES bytes from a sender in FROM_NS
# to a receiver in TO_NS; prints the receiver's "BYTES SECONDS BITS_PER_S".
transfer() {
	spawn "$1.rx" ip netns exec "$3" $BULK recv "$4"
	_p=$(port_of "$1.rx")
	spawn "$1.tx" ip netns exec "$2" $BULK send "$4" "$_p" "$BYTES"
	wait_pid "$(pid_of "$1.tx")" 30
	_tx=$WRC
	wait_pid "$(pid_of "$1.rx")" 10
	if [ "$_tx" -ne 0 ] || [ "$WRC" -ne 0 ]; then
		echo "# $1: sender $_tx, receiver $WRC: $(cat "$T/$1.tx.err" "$T/$1.rx.err" | tr '\n' ' ')" >&2
		return 1
	fi
	sed -n 2p "$T/$1.rx.out"
}

# within NAME RESULT — RESULT's rate is within 10% of RATE_BPS.
within() {
	set -- "$1" $2
	if [ "${2:-}" = "$BYTES" ] && awk -v r="$4" -v w="$RATE_BPS" 'BEGIN { exit !(r >= 0.9 * w && r <= 1.1 * w) }'; then
		ok "$1: $(awk -v r="$4" 'BEGIN { printf "%.1f", r / 1e6 }') Mbit/s through a $RATE tbf (within 10%)"
	else
		notok "$1: within 10% of $RATE" "got: bytes ${2:-none}, ${3:-?} s, ${4:-?} bit/s"
	fi
}

# The bare link: as fast as the machine copies, far above the limit to come.
bare=$(transfer bare "$ND" "$NC" "$CENTER")
set -- $bare
if [ "${1:-}" = "$BYTES" ] && awk -v r="$3" -v w="$RATE_BPS" 'BEGIN { exit !(r > 3 * w) }'; then
	ok "without tbf the link carries over 3 x $RATE ($(awk -v r="$3" 'BEGIN { printf "%.0f", r / 1e6 }') Mbit/s)"
else
	notok "without tbf the link carries over 3 x $RATE" "got: $bare"
fi

if gx_ns_rate dc0 "$RATE"; then ok "gx_ns_rate dc0 $RATE"; else notok "gx_ns_rate dc0 $RATE"; fi
if gx_ns_exec dc0 tc qdisc show dev wan | grep -q 'tbf.*rate 50Mbit' &&
	gx_ns_exec center tc qdisc show dev wan0 | grep -q 'tbf.*rate 50Mbit'; then
	ok "both ends of dc0's link have a 50 Mbit tbf"
else
	notok "both ends of dc0's link have a 50 Mbit tbf" \
		"$(gx_ns_exec dc0 tc qdisc show dev wan; gx_ns_exec center tc qdisc show dev wan0)"
fi
within "dc0 -> center" "$(transfer up "$ND" "$NC" "$CENTER")"
within "center -> dc0" "$(transfer down "$NC" "$ND" "$DC0")"

# Something left running inside: gx_ns_down ends it.
ip netns exec "$ND" sleep 300 &
sleeper=$!
_pids="$_pids $sleeper"
gx_ns_down
rc=$?
if [ $rc -eq 0 ] && [ -z "$(gx_ns_list)" ]; then ok "gx_ns_down deletes every namespace of the run"
else notok "gx_ns_down deletes every namespace of the run" "rc $rc, left: $(gx_ns_list | tr '\n' ' ')"; fi
if kill -0 "$sleeper" 2>/dev/null; then notok "gx_ns_down ends the processes inside" "pid $sleeper lives"
else ok "gx_ns_down ends the processes inside"; fi
left=""
for p in $_pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
if [ -z "$left" ]; then ok "no process of the test is left"; else notok "no process of the test is left" "$left"; fi
host_links >"$T/host.after"
check "the host's interfaces are as before" cmp -s "$T/host.before" "$T/host.after"
if gx_ns_down; then ok "gx_ns_down is idempotent"; else notok "gx_ns_down is idempotent"; fi

finish
