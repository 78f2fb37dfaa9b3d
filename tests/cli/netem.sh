# tests/cli/netem.sh — geomx-netem without a device: help, the table as it
# is understood (--check: links and access links), and the one-line,
# located reason (exit 2) for each kind of bad input; as non-root, the
# device it cannot attach to (exit 1). With a network namespace of its own
# (unshare -rn: a TUN device there touches nothing of the host's; skipped
# where it cannot be made or /dev/net/tun cannot be opened), SIGHUP:
# a broken table, one of other sites and a missing file are refused in one
# line each while it goes on, a good one is taken ("table reloaded: N
# links"), and SIGTERM still ends it with 0. The emulation itself:
# tests/unit/test_netem.c and tests/integration/emulator*.sh.
. "${GX_TOP:-.}/tests/cli/lib.sh"
PATH="${BUILD:-build}/bin:$PATH"

runcmd geomx-netem --help
expect_rc "help exits 0" 0
expect_golden "help text" "$OUT" netem-help
expect_empty "help: nothing on stderr" "$ERR"

runcmd geomx-netem -V
expect_rc "version exits 0" 0
expect_match "version line" "$OUT" '^geomx-netem \(geomx\) [0-9]+\.[0-9]+\.[0-9]+$'

cat >"$T/table" <<'TAB'
# two data centers and the center
site center 10.211.0.0/16
site dc0 10.211.1.2
site dc1 10.211.2.2/32
dc0 center delay=40ms loss=0.5%   # 80 ms round trip
dc1 > center delay=80ms rate=100mbit queue=20ms ge=1%,30%
dc0 dc1 delay=60ms jitter=1ms reorder=1%
access center in rate=50mbit          # shared by dc0 and dc1
access dc0 out rate=1gbit queue=64KiB
TAB
runcmd geomx-netem --check --table "$T/table" --line "center > dc1 rate=1gbit"
expect_rc "--check exits 0" 0
cat >"$T/want" <<'TAB'
center > dc0: delay 40 ms, jitter 0 ms, rate unlimited, queue 0 bytes, loss 0.5%, reorder 0%
center > dc1: delay 0 ms, jitter 0 ms, rate 1 Gbit/s, queue 6250000 bytes, loss 0%, reorder 0%
dc0 > center: delay 40 ms, jitter 0 ms, rate unlimited, queue 0 bytes, loss 0.5%, reorder 0%
dc0 > dc1: delay 60 ms, jitter 1 ms, rate unlimited, queue 0 bytes, loss 0%, reorder 1%
dc1 > center: delay 80 ms, jitter 0 ms, rate 100 Mbit/s, queue 250000 bytes, burst loss (p_gb 0.01, p_bg 0.3, bad 1, good 0), reorder 0%
dc1 > dc0: delay 60 ms, jitter 1 ms, rate unlimited, queue 0 bytes, loss 0%, reorder 1%
access center in: rate 50 Mbit/s, queue 312500 bytes
access dc0 out: rate 1 Gbit/s, queue 65536 bytes
TAB
if cmp -s "$OUT" "$T/want"; then ok "--check prints each direction and access link as understood (--line after --table wins)"
else notok "--check prints each direction and access link as understood" "$(diff "$T/want" "$OUT" | tr '\n' '|')"; fi

# access links of every site, both ways, then one way of one removed
runcmd geomx-netem --check --line "site a 10.0.1.0/24" --line "site b 10.0.2.0/24" \
	--line "access * rate=10mbit queue=20ms" --line "access b in rate=0"
expect_rc "--check of access links exits 0" 0
printf '%s\n' "access a in: rate 10 Mbit/s, queue 25000 bytes" "access a out: rate 10 Mbit/s, queue 25000 bytes" \
	"access b out: rate 10 Mbit/s, queue 25000 bytes" >"$T/want"
if cmp -s "$OUT" "$T/want"; then ok "access * sets both ways of every site; rate=0 removes one"
else notok "access * sets both ways of every site; rate=0 removes one" "$(diff "$T/want" "$OUT" | tr '\n' '|')"; fi

# bad FILE_LINE WANT_REGEX — a table whose third line is FILE_LINE is refused
# (exit 2) with one line naming file:3 and the reason.
bad() {
	printf 'site a 10.0.1.0/24\nsite b 10.0.2.0/24\n%s\n' "$1" >"$T/bad"
	runcmd geomx-netem --check --table "$T/bad"
	if [ "$RC" -eq 2 ] && grep -Eq "^geomx-netem: $T/bad:3: $2" "$ERR" && [ ! -s "$OUT" ]; then
		ok "refused, exit 2: '$1'"
	else
		notok "refused, exit 2: '$1'" "rc $RC: $(head -c 300 "$ERR")"
	fi
}
bad "a c delay=1ms" "no site 'c'"
bad "a b delay=2ms jitter=3ms" "jitter above the delay"
bad "a b rate=fast" "invalid rate 'fast'"
bad "a b loss=1% ge=1%,30%" "loss= and ge= together"
bad "a b queue=64KiB" "queue= without rate="
bad "a b speed=9" "unknown key 'speed'"
bad "site c 300.1.2.3" "site 'c': bad prefix '300.1.2.3'"
bad "site a 10.0.9.0/24" "site 'a' named twice"
bad "site access 10.0.9.0/24" "bad site name 'access'"
bad "access c in rate=1mbit" "no site 'c'"
bad "access a up rate=1mbit" "'up' is not a way of an access link"
bad "access a in delay=5ms rate=1mbit" "key 'delay' on an access link"
bad "access b out" "an access link needs rate="
bad "access b out rate=1mbit queue=0.1us" "the queue holds less than a byte"

runcmd geomx-netem --check --line "a b delay=1ms"
expect_rc "a --line naming no site exits 2" 2
expect_match "the --line is quoted" "$ERR" "^geomx-netem: --line 'a b delay=1ms': no site 'a'"
runcmd geomx-netem --check --table "$T/nonexistent"
expect_rc "a missing table exits 2" 2
expect_match "the missing table is named" "$ERR" "cannot read table $T/nonexistent"
runcmd geomx-netem --tun gxem0
expect_rc "no table exits 2" 2
expect_match "no table: said" "$ERR" "no table"
runcmd geomx-netem --line "site a 1.2.3.4"
expect_rc "no --tun exits 2" 2
runcmd geomx-netem --bogus
expect_rc "a bad flag exits 2" 2
runcmd geomx-netem --check --line "site a 1.2.3.4" --max-packets 0
expect_rc "--max-packets 0 exits 2" 2
runcmd geomx-netem --check --line "site a 1.2.3.4" --realtime=100
expect_rc "--realtime=100 exits 2" 2
expect_match "--realtime=100 names the flag" "$ERR" "invalid --realtime '100'"
if [ "$(id -u)" != 0 ]; then
	runcmd geomx-netem --tun gxemtest --line "site a 1.2.3.4"
	expect_rc "as non-root the device cannot be attached to: exit 1" 1
	expect_match "the device is named" "$ERR" "gxemtest|/dev/net/tun"
fi

# wait_for FILE REGEX — until grep -E finds REGEX in FILE, at most 10 s;
# status 1 when it did not.
wait_for() {
	_i=0
	until grep -Eq -- "$2" "$1" 2>/dev/null; do
		[ $_i -lt 200 ] || return 1
		sleep 0.05
		_i=$((_i + 1))
	done
}

# hup TABLE_TEXT REGEX NAME — TABLE_TEXT replaces $T/live (written beside
# it, then renamed; "none": the file removed), SIGHUP, then within 10 s
# the next line on stderr matches REGEX, and the emulator runs on.
hup() {
	_n=$(wc -l <"$T/live.err")
	if [ "$1" = none ]; then rm -f "$T/live"
	else printf '%s\n' "$1" >"$T/live.new" && mv "$T/live.new" "$T/live"; fi
	kill -HUP "$LIVE"
	_i=0
	while [ "$(wc -l <"$T/live.err")" -le "$_n" ] && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
	if sed -n "$((_n + 1))p" "$T/live.err" | grep -Eq -- "$2" && kill -0 "$LIVE" 2>/dev/null; then
		ok "$3"
	else
		notok "$3" "stderr: $(tr '\n' '|' <"$T/live.err")"
	fi
}

if ! unshare -rn sh -c ': <>/dev/net/tun' 2>/dev/null; then
	echo "skip SIGHUP reloads: no network namespace of one's own with a TUN device (unshare -rn)"
else
	printf 'site a 10.0.1.0/24\nsite b 10.0.2.0/24\na b delay=5ms rate=10mbit\n' >"$T/live"
	: >"$T/live.out"
	: >"$T/live.err"
	unshare -rn geomx-netem --tun gxem --table "$T/live" --line "access a in rate=1gbit" \
		>"$T/live.out" 2>"$T/live.err" </dev/null &
	LIVE=$!
	PIDS="$PIDS $LIVE"
	if wait_for "$T/live.out" "^gxem$"; then
		hup "site a 10.0.1.0/24
site b 10.0.2.0/24
a b delay=5ms rate=fast" "^geomx-netem: table not reloaded: $T/live:3: invalid rate 'fast'" \
			"SIGHUP with a broken table: refused, file:line: reason, running on"
		hup "site a 10.0.1.0/24
site c 10.0.2.0/24" "^geomx-netem: table not reloaded: the sites changed: site 2 is 'c' now, was 'b'" \
			"SIGHUP with other sites: refused, running on"
		hup "site a 10.0.1.0/24
site b 10.0.2.0/24
a b delay=20ms
access a out rate=5mbit" "^geomx-netem: table reloaded: 4 links$" \
			"SIGHUP with a good table: reloaded (2 directions, --line's access link and one more)"
		hup none "^geomx-netem: table not reloaded: cannot read table $T/live: " \
			"SIGHUP with the table gone: refused, running on"
		kill -TERM "$LIVE"
		_i=0
		while kill -0 "$LIVE" 2>/dev/null && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
		wait "$LIVE"
		RC=$?
		ERR=$T/live.err
		expect_rc "after the reloads SIGTERM ends it with 0" 0
	else
		notok "geomx-netem starts in a namespace of its own" "$(cat "$T/live.err")"
	fi
fi
finish
