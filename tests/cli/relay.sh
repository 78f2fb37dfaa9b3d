#!/bin/sh
# tests/cli/relay.sh — geomx-relay: help, usage errors (status 2, one line
# and the hint, nothing on stdout), the forms of rates, times and losses it
# accepts, --genkey (mode 0600, never overwrites), key files it refuses
# (group/other-readable, malformed, missing: status 2 with gx_key_load's
# message), a statistics file or a listening address it cannot have
# (status 1), and the port line, SIGTERM and the statistics lines. Every relay started here is
# stopped and waited for on exit. Forwarding itself is tested in
# tests/integration/relay*.sh. Golden file: tests/cli/golden/relay-help.out.
GX_TOP=$(cd "${GX_TOP:-.}" && pwd)
. "$GX_TOP/tests/cli/lib.sh"
P=geomx-relay
command -v $P >/dev/null 2>&1 || PATH="$GX_TOP/${BUILD:-build}/bin:$PATH"
command -v $P >/dev/null 2>&1 || { echo "$P not built"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "python3 missing"; exit 77; }

# stop PID — SIGTERM, then waits (up to 30 s); sets $SRC to the status.
stop() {
	kill -TERM "$1" 2>/dev/null
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill -9 "$1" 2>/dev/null
	wait "$1"
	SRC=$?
}

# ---------------------------------------------------------------- usage
runcmd $P --help
expect_rc help-rc 0
expect_golden help-stdout "$OUT" relay-help.out
expect_empty help-stderr "$ERR"

runcmd $P -V
expect_rc version-rc 0
expect_match version-line "$OUT" '^geomx-relay \(geomx\) [0-9]+\.[0-9]+\.[0-9]+$'

runcmd $P --listen 127.0.0.1:0 --connect 127.0.0.1:1 --bogus
expect_rc badflag-rc 2
expect_match badflag-names-it "$ERR" "^geomx-relay: unrecognized option '--bogus'$"
expect_lines badflag-two-lines "$ERR" 2
expect_empty badflag-stdout "$OUT"

L="--listen 127.0.0.1:0"
C="--connect 127.0.0.1:1"
echo 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef >"$T/good.key"
chmod 600 "$T/good.key"
# Each: the arguments, then the message expected on the first line.
while IFS='|' read -r args msg; do
	[ -z "$args" ] && continue
	tn=$(echo "bad $args" | tr -c 'A-Za-z0-9\n' '_' | cut -c1-60)
	# shellcheck disable=SC2086 # the arguments are split on purpose
	runcmd $P $args
	expect_rc "$tn-rc" 2
	expect_lines "$tn-two-lines" "$ERR" 2
	expect_match "$tn-message" "$ERR" "$msg"
	expect_match "$tn-hint" "$ERR" "^Try '$P --help' for more information\.$"
	expect_empty "$tn-stdout" "$OUT"
done <<EOF
$C|missing --listen HOST:PORT
$L|missing --connect HOST:PORT
--listen nowhere $C|invalid --listen 'nowhere'
--listen 127.0.0.1:70000 $C|invalid --listen
$L --connect 127.0.0.1:0|invalid --connect '127.0.0.1:0'
$L --connect [::1]|invalid --connect
$L $C extra|unexpected argument 'extra'
$L $C --secure listen|--secure needs --key FILE
$L $C --key $T/good.key --secure sideways|invalid --secure 'sideways'
$L $C --wan listen|--wan says where --zstd applies
$L $C --zstd --wan north|invalid --wan 'north'
$L $C --zstd=0|invalid --zstd level '0'
$L $C --zstd=20|invalid --zstd level '20'
$L $C --rate 100|invalid --rate '100' \(want a rate with its unit
$L $C --rate 100mbits|invalid --rate '100mbits'
$L $C --rate -5mbit|invalid --rate '-5mbit'
$L $C --rate 0.5bit|invalid --rate '0.5bit'
$L $C --rate 100Mb|invalid --rate '100Mb'
$L $C --rate 20tbit|invalid --rate '20tbit'
$L $C --rate-up fast|invalid --rate-up 'fast'
$L $C --delay 25|invalid --delay '25' \(want a time with its unit
$L $C --delay 61s|invalid --delay '61s'
$L $C --delay -1ms|invalid --delay '-1ms'
$L $C --delay 5min|invalid --delay '5min'
$L $C --jitter-down 1h|invalid --jitter-down '1h'
$L $C --loss 1|invalid --loss '1'
$L $C --loss 100%|invalid --loss '100%'
$L $C --loss -0.1|invalid --loss '-0.1'
$L $C --loss-up 5x|invalid --loss-up '5x'
$L $C --queue 1k|invalid --queue '1k'
$L $C --max-conns 0|invalid --max-conns '0'
$L $C --max-handshakes 0|invalid --max-handshakes '0'
$L $C --stats-every 0|invalid --stats-every '0'
$L $C --connect-timeout -1|invalid --connect-timeout '-1'
$L $C --handshake-timeout x|invalid --handshake-timeout 'x'
$L $C --seed -3|invalid --seed '-3'
$L $C --stats=|invalid --stats ''
--genkey $T/k $L|--genkey FILE takes no --listen
EOF

# ----------------------------------------------------------------- keys
runcmd $P --genkey "$T/new.key"
expect_rc genkey-rc 0
expect_empty genkey-stdout "$OUT"
expect_empty genkey-stderr "$ERR"
if [ "$(stat -c %a "$T/new.key" 2>/dev/null)" = 600 ]; then ok genkey-mode-0600
else notok genkey-mode-0600 "mode $(stat -c %a "$T/new.key" 2>&1)"; fi
expect_match genkey-64-hex "$T/new.key" '^[0-9a-f]{64}$'
expect_lines genkey-one-line "$T/new.key" 1
cp "$T/new.key" "$T/new.key.before"
runcmd $P --genkey "$T/new.key"
expect_rc genkey-exists-rc 1
expect_match genkey-exists-message "$ERR" "^geomx-relay: .*new\.key exists$"
if cmp -s "$T/new.key" "$T/new.key.before"; then ok genkey-exists-unchanged
else notok genkey-exists-unchanged "the key file changed"; fi
runcmd $P --genkey "$T/nodir/x.key"
expect_rc genkey-nodir-rc 1
expect_match genkey-nodir-message "$ERR" "^geomx-relay: cannot create .*nodir/x\.key"

cp "$T/new.key" "$T/open.key"
chmod 644 "$T/open.key"
runcmd $P $L $C --key "$T/open.key"
expect_rc key-0644-rc 2
expect_match key-0644-message "$ERR" "open\.key is readable by others \(mode 0644\); chmod 600 .*open\.key$"
expect_empty key-0644-stdout "$OUT"
chmod 640 "$T/open.key"
runcmd $P $L $C --key "$T/open.key" --secure listen
expect_rc key-0640-rc 2
expect_match key-0640-message "$ERR" "mode 0640"
printf 'not a key\n' >"$T/junk.key"
chmod 600 "$T/junk.key"
runcmd $P $L $C --key "$T/junk.key"
expect_rc key-junk-rc 2
expect_match key-junk-message "$ERR" "junk\.key: not a key file"
runcmd $P $L $C --key "$T/missing.key"
expect_rc key-missing-rc 2
expect_match key-missing-message "$ERR" "cannot open .*missing\.key"

# --------------------------------------------- accepted forms, port line
# A relay started with these must print its port and stop on SIGTERM
# with status 0 (parsing them never fails).
n=0
for args in "--rate 100mbit --delay 25ms --jitter 5ms --loss 0.1%" \
	"--rate 12.5MB/s --delay 0.5s --loss 0.001" "--rate 1gbps --delay 800us --jitter 0" \
	"--rate 800kbit/s --rate-down 0 --delay-up 1ms --loss-down 0" \
	"--rate 2MiB --zstd --wan listen" "--zstd=19 --queue 4Mi --max-conns 10" \
	"--key $T/good.key" "--key $T/good.key --secure both --zstd=3 --wan listen"; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	$P $L $C $args >"$T/acc$n.out" 2>"$T/acc$n.err" &
	pid=$!
	PIDS="$PIDS $pid"
	port=$(wait_port "$T/acc$n.out")
	stop $pid
	case $port in
	[1-9]*) if [ "$SRC" -eq 0 ] && [ ! -s "$T/acc$n.err" ]; then ok "accepts: $args"
		else notok "accepts: $args" "status $SRC: $(cat "$T/acc$n.err")"; fi ;;
	*) notok "accepts: $args" "no port: $(cat "$T/acc$n.err")" ;;
	esac
done

# The port line, the statistics, SIGTERM.
$P $L $C --stats "$T/stats" --stats-every 0.2 >"$T/run.out" 2>"$T/run.err" &
pid=$!
PIDS="$PIDS $pid"
port=$(wait_port "$T/run.out")
# Two periodic lines (0.4 s on an idle machine), then the final one.
_i=0
while [ "$(cat "$T/stats" 2>/dev/null | wc -l)" -lt 2 ] && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
stop $pid
expect_match port-line "$T/run.out" '^[1-9][0-9]*$'
expect_lines port-one-line "$T/run.out" 1
if [ "$SRC" -eq 0 ]; then ok sigterm-exit-0; else notok sigterm-exit-0 "status $SRC: $(cat "$T/run.err")"; fi
if python3 - "$T/stats" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
assert len(objs) >= 3, "%d lines" % len(objs)
assert all(not o["final"] for o in objs[:-1]) and objs[-1]["final"], "final flags"
for o in objs:
    for k in ("time", "open", "accepted", "closed", "aborted", "handshakes", "handshake_failures"):
        assert k in o, k
    for d in ("up", "down"):
        for k in ("bytes_in", "bytes_out", "plain_bytes", "rate_in", "rate_out", "queued"):
            assert k in o[d], d + "." + k
        assert "frames" not in o[d], "frames reported with no frames seen"
PY
then ok stats-json-lines
else notok stats-json-lines "$(head -c 300 "$T/stats")"; fi

# Under timeout(1), which passes a SIGTERM on twice at once (to the relay
# and to its process group): one request to stop, status 0, three times.
for n in 1 2 3; do
	timeout 60 $P $L $C >"$T/to$n.out" 2>"$T/to$n.err" &
	pid=$!
	PIDS="$PIDS $pid"
	wait_port "$T/to$n.out" >/dev/null
	stop $pid
	if [ "$SRC" -eq 0 ]; then ok "SIGTERM through timeout(1), run $n: status 0"
	else notok "SIGTERM through timeout(1), run $n: status 0" "status $SRC: $(cat "$T/to$n.err")"; fi
done

# A statistics file that cannot be opened: status 1, the reason.
runcmd $P $L $C --stats "$T/nodir/stats"
expect_rc stats-nodir-rc 1
expect_match stats-nodir-message "$ERR" "^geomx-relay: .*nodir/stats: cannot open the statistics file: No such file or directory$"
expect_empty stats-nodir-stdout "$OUT"

# A listening address that is taken: status 1, the reason.
$P --listen 127.0.0.1:0 $C >"$T/b1.out" 2>"$T/b1.err" &
pid=$!
PIDS="$PIDS $pid"
busy=$(wait_port "$T/b1.out")
runcmd $P --listen "127.0.0.1:$busy" $C
expect_rc listen-taken-rc 1
expect_match listen-taken-message "$ERR" "^geomx-relay: cannot listen on 127\.0\.0\.1:$busy: Address already in use$"
stop $pid

finish
