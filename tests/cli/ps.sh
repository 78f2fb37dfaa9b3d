#!/bin/sh
# tests/cli/ps.sh — geomx-ps: help, usage errors, an unreachable upstream, the
# port line, and a global server that refuses garbage from raw clients and
# goes on serving. Every process started here is killed and waited for on
# exit, whatever happens. Golden files: tests/cli/golden/ps-*. The
# multi-process jobs (workers, values, failures) are integration tests.
GX_TOP=$(cd "${GX_TOP:-.}" && pwd)
. "$GX_TOP/tests/cli/lib.sh"
P=geomx-ps
command -v $P >/dev/null 2>&1 || PATH="$GX_TOP/${BUILD:-build}/bin:$PATH"
command -v $P >/dev/null 2>&1 || { echo "$P not built"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "python3 missing"; exit 77; }


# ---------------------------------------------------------------- usage
runcmd $P --help
expect_rc help-rc 0
expect_golden help-stdout "$OUT" ps-help.out
expect_empty help-stderr "$ERR"

runcmd $P -V
expect_rc version-rc 0
expect_match version-line "$OUT" '^geomx-ps \(geomx\) [0-9]+\.[0-9]+\.[0-9]+$'

runcmd $P --role global --bogus
expect_rc badflag-rc 2
expect_golden badflag-stderr "$ERR" ps-badflag.err
expect_empty badflag-stdout "$OUT"

runcmd $P --role local --workers 2
expect_rc no-upstream-rc 2
expect_golden no-upstream-stderr "$ERR" ps-no-upstream.err

# The link codecs and HFA: each misuse is a usage error naming the problem.
bad_use() { # NAME REGEX ARGS...
	_bn=$1 _bre=$2
	shift 2
	runcmd $P "$@"
	expect_rc "$_bn-rc" 2
	expect_match "$_bn-says" "$ERR" "$_bre"
}
bad_use wan-codec-unknown "invalid --wan-codec 'gzip': unknown codec" \
	--role local --upstream 127.0.0.1:1 --wan-codec gzip
bad_use wan-codec-ratio "bsc:RATIO wants a ratio in \(0, 1\]" \
	--role local --upstream 127.0.0.1:1 --wan-codec bsc:2
bad_use mpq-bound "BOUND is a positive element count" \
	--role local --upstream 127.0.0.1:1 --wan-codec mpq:0.01:x
bad_use wan-codec-global "--wan-codec is for --role local" --role global --wan-codec fp16
bad_use lan-codec-bsc "invalid --lan-codec 'bsc:0.1' \(want none or fp16\)" \
	--role local --upstream 127.0.0.1:1 --lan-codec bsc:0.1
bad_use ef-without-codec "--ef-momentum is for a coded WAN" \
	--role local --upstream 127.0.0.1:1 --ef-momentum 0.9
bad_use ef-momentum-range "invalid --ef-momentum '1'" \
	--role local --upstream 127.0.0.1:1 --wan-codec fp16 --ef-momentum 1
bad_use k1-without-hfa "--k1 is for --sync hfa" --role global --k1 5
bad_use k2-zero "invalid --k2 '0'" --role global --sync hfa --k2 0
bad_use sync-unknown "invalid --sync 'async' \(want full, mixed or hfa\)" --role global --sync async
bad_use schedule-unknown "invalid --schedule 'lifo' \(want fifo or p3\)" --role global --schedule lifo
bad_use credit-under-fifo "--credit is for --schedule p3" --role global --schedule fifo --credit auto
bad_use credit-small "invalid --credit '1Ki' \(want auto or bytes, 4Ki to 1Gi\)" \
	--role global --schedule p3 --credit 1Ki
bad_use credit-word "invalid --credit 'fast'" --role global --schedule p3 --credit fast
bad_use overlay-unknown "invalid --overlay 'tree' \(want star or adaptive\)" --role global --overlay tree
bad_use overlay-local "--overlay is for --role global" --role local --upstream 127.0.0.1:1 --overlay adaptive
bad_use overlay-mixed "--overlay adaptive folds the parties' sums of a round: it needs --sync full" \
	--role global --overlay adaptive --sync mixed
bad_use overlay-elastic "--overlay adaptive does not go on without a party" \
	--role global --overlay adaptive --elastic
bad_use overlay-parties "--overlay adaptive plans for at most 8 parties" \
	--role global --overlay adaptive --parties 9
bad_use overlay-epsilon-star "--overlay-epsilon is for --overlay adaptive" --role global --overlay-epsilon 0.2
bad_use overlay-epsilon-range "invalid --overlay-epsilon '1.5' \(want 0..1\)" \
	--role global --overlay adaptive --overlay-epsilon 1.5
bad_use overlay-seed "invalid --overlay-seed 'x'" --role global --overlay adaptive --overlay-seed x
bad_use overlay-addr "invalid --overlay-addr '10.0.0.1' \(want HOST:PORT, port 1..65535\)" \
	--role local --upstream 127.0.0.1:1 --overlay-addr 10.0.0.1
bad_use overlay-plan-bad "invalid --overlay-plan '0,2,0:G,0,0' for 3 parties: HOLD:" \
	--role global --parties 3 --overlay adaptive --overlay-plan 0,2,0:G,0,0
bad_use overlay-plan-cycle "FROM: every party must get the answers from G" \
	--role global --parties 3 --overlay adaptive --overlay-plan 0,0,0:1,0,G
bad_use overlay-plan-star "--overlay-plan is for --overlay adaptive" --role global --overlay-plan G:G
bad_use overlay-addr-global "--overlay-addr is for --role local" --role global --overlay-addr 10.0.0.1:5
runcmd env GEOMX_SCHEDULE=lifo $P --role global
expect_rc schedule-env-rc 2
expect_match schedule-env-says "$ERR" "invalid GEOMX_SCHEDULE 'lifo'"

runcmd $P --role global --optimizer sgdd
expect_rc bad-optimizer-rc 2
expect_golden bad-optimizer-stderr "$ERR" ps-bad-optimizer.err

for a in "" "--role middle" "--role local --upstream 127.0.0.1:1 --workers 0" \
	"--role global --parties 0" "--role global --listen nowhere" \
	"--role global --listen 127.0.0.1:70000" "--role local --upstream 127.0.0.1" \
	"--role local --upstream 127.0.0.1:1,x" "--role global --upstream 127.0.0.1:1" \
	"--role local --upstream 127.0.0.1:1 --lr 0.1" "--role global --workers 2" \
	"--role local --upstream 127.0.0.1:1 --sync mixed" "--role global --sync half" \
	"--role global --beta1 0.8" "--role global --optimizer adam --beta1 1" \
	"--role global --lr 0" "--role global --lr x" "--role global --optimizer nesterov --momentum 0" \
	"--role global --heartbeat 6" "--role global --heartbeat-timeout 0" \
	"--role global --connect-timeout -1" "--role global --stats-format xml" \
	"--role global extra"; do
	tn=$(echo "bad $a" | tr ' =,:.' '_____')
	runcmd $P $a
	expect_rc "$tn-rc" 2
	expect_lines "$tn-two-lines" "$ERR" 2
	expect_match "$tn-hint" "$ERR" "^Try '$P --help' for more information\.$"
	expect_empty "$tn-stdout" "$OUT"
done

# ------------------------------------------------- unreachable upstream
# A port nobody listens on: bound by the kernel, then released.
dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
runcmd $P --role local --upstream "127.0.0.1:$dead" --connect-timeout 1
took=$(python3 -c "import sys; print(round($(date +%s.%N) - $start, 2))")
expect_rc unreachable-rc 1
expect_match unreachable-names-address "$ERR" "upstream 127\.0\.0\.1:$dead unreachable: connection refused \(gave up after 1 s\)$"
expect_match unreachable-waiting-line "$ERR" "^$P\[local 0\]: waiting for upstream 127\.0\.0\.1:$dead \(connection refused\)$"
expect_match unreachable-port-line "$OUT" '^[0-9]+$'
if python3 -c "import sys; sys.exit(not (0.9 <= $took <= 10))"; then ok unreachable-in-time
else notok unreachable-in-time "took $took s"; fi

runcmd $P -q --role local --party 3 --upstream "127.0.0.1:$dead" --connect-timeout 0.2
expect_rc unreachable-quiet-rc 1
expect_lines unreachable-quiet-one-line "$ERR" 1
expect_match unreachable-quiet-tag "$ERR" "^$P\[local 3\]: upstream "

# ------------------------------------------------- a global and raw clients
cat >"$T/client.py" <<'EOF'
# client.py PORT MODE — a raw peer of a geomx parameter server.
#   garbage: sends bytes that are no frame; hello3: a HELLO of protocol
#   version 3; local: a proper local server of party 0 that says goodbye.
# Prints what comes back: "error CODE MESSAGE", "ack ROLE SYNC", "bye", "eof".
import socket, struct, sys

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF

def frame(ftype, payload=b""):
    h = struct.pack("<IBBHIIQQIIBBHIIII", 0x52465847, 1, ftype, 0, 0, 0, 0, 0, len(payload),
                    len(payload), 0, 0, 0, 0, 0, 0, 0)
    return h + struct.pack("<I", crc32c(h)) + payload

def hello(proto):
    return struct.pack("<HBBIIIII40s", proto, 2, 0, 0, 0, 1, 0, 0, b"ps.sh")

def recv_frame(s):
    buf = b""
    while len(buf) < 64:
        d = s.recv(64 - len(buf))
        if not d:
            return None, None
        buf += d
    ftype = buf[5]
    plen = struct.unpack_from("<I", buf, 32)[0]
    pl = b""
    while len(pl) < plen:
        d = s.recv(plen - len(pl))
        if not d:
            return None, None
        pl += d
    return ftype, pl

def report(s):
    t, pl = recv_frame(s)
    if t is None:
        print("eof")
    elif t == 18:
        code, n = struct.unpack_from("<iI", pl)
        print("error", code, pl[8:8 + n].decode())
    elif t == 17:
        print("ack", pl[2], pl[3])
    elif t == 20:
        print("bye")
    elif t == 23:
        print("config sync %d lan %d mode %d" % (pl[0], pl[1], pl[2]))
    else:
        print("frame", t)
    return t

port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
if mode == "garbage":
    s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 8)
    report(s)
    report(s)
elif mode == "hello3":
    s.sendall(frame(16, hello(3)))
    report(s)
    report(s)
elif mode == "local":
    s.sendall(frame(16, hello(2)))
    if report(s) == 17 and report(s) == 23:
        s.sendall(frame(20))
        report(s)
        report(s)
EOF
client() { python3 "$T/client.py" "$@"; }

$P --role global --connect-timeout 5 >"$T/g.out" 2>"$T/g.err" &
G=$!
PIDS="$PIDS $G"
gport=$(wait_port "$T/g.out")
if [ -n "$gport" ]; then ok global-port-line; else notok global-port-line "no port on stdout"; fi
expect_match global-port-is-number "$T/g.out" '^[0-9]+$'

client "$gport" garbage >"$T/c1" 2>&1
expect_golden garbage-gets-error "$T/c1" ps-garbage.out
client "$gport" hello3 >"$T/c2" 2>&1
expect_golden version-gets-error "$T/c2" ps-version.out
if kill -0 $G 2>/dev/null; then ok global-survives-garbage; else notok global-survives-garbage "it exited"; fi
client "$gport" local >"$T/c3" 2>&1
expect_golden proper-peer-served "$T/c3" ps-local.out
wait $G
RC=$?
PIDS=""
expect_rc global-done-rc 0
expect_match global-logs-garbage "$T/g.err" "^$P\[global\]: connection from 127\.0\.0\.1:[0-9]+ refused: protocol error: frame 0 at byte 0: bad magic: not a geomx frame$"
expect_match global-logs-version "$T/g.err" "^$P\[global\]: connection from 127\.0\.0\.1:[0-9]+ refused: protocol version 3 is not supported \(this server speaks version 2\)$"
# It runs plaintext because the suite asked (GEOMX_INSECURE), and says so
# first.
expect_match global-warns-plaintext "$T/g.err" \
	"^$P: GEOMX_INSECURE: links are plaintext and unauthenticated: anyone on the network can read, change or inject frames$"
# Two lines, the refusals; besides them only the periodic "waiting for"
# line, which the clients' pace (seconds each on a busy machine) decides,
# and that warning.
grep -Ev "^$P\[global\]: waiting for 1 of 1 party: party 0$|^$P: GEOMX_INSECURE: " "$T/g.err" \
	>"$T/g.err.events"
expect_lines global-log-lines "$T/g.err.events" 2

# Secure by default: without a key, and not asked for plaintext, a server
# refuses to start (status 2) and says what to give; --insecure runs with a
# warning; GEOMX_KEY names the key.
runcmd env -u GEOMX_INSECURE -u GEOMX_KEY $P --role global --listen 127.0.0.1:0
expect_rc no-key-rc 2
expect_match no-key-msg "$ERR" "^$P: no key: links would be plaintext and unauthenticated; give --key FILE \(geomx-relay --genkey FILE makes one; or GEOMX_KEY=FILE\), or --insecure$"
expect_empty no-key-stdout "$OUT"

# A stop by signal: status 1, said so, statistics written.
$P --role global --parties 2 --stats "$T/stats.json" --stats-format json >"$T/s.out" 2>"$T/s.err" &
G=$!
PIDS="$PIDS $G"
wait_port "$T/s.out" >/dev/null
kill -TERM $G
wait $G
RC=$?
PIDS=""
expect_rc sigterm-rc 1
expect_match sigterm-message "$T/s.err" "^$P: stopped by signal \(SIGTERM\)$"
expect_match sigterm-stats "$T/stats.json" '^\{"server":"global","role":"global","rounds":0,'

finish
