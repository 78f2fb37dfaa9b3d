#!/bin/sh
# tests/cli/bench.sh — geomx-bench: help, usage errors, the shape (not the
# values) of codec output in TSV and JSON, and gen's bytes.
. "${GX_TOP:-.}/tests/cli/lib.sh"
PATH="${BUILD:-build}/bin:$PATH"

runcmd geomx-bench --help
expect_rc "help exits 0" 0
expect_golden "help text" "$OUT" bench-help
expect_empty "help: nothing on stderr" "$ERR"

runcmd geomx-bench codec --help
expect_rc "codec --help exits 0" 0
expect_golden "codec help text" "$OUT" bench-codec-help

runcmd geomx-bench gen --help
expect_rc "gen --help exits 0" 0
expect_golden "gen help text" "$OUT" bench-gen-help

runcmd geomx-bench -V
expect_rc "version exits 0" 0
expect_match "version line" "$OUT" '^geomx-bench \(geomx\) [0-9]+\.[0-9]+\.[0-9]+$'

runcmd geomx-bench codec --bogus
expect_rc "bad flag exits 2" 2
expect_golden "bad flag message" "$ERR" bench-bad-flag
expect_empty "bad flag: nothing on stdout" "$OUT"

runcmd geomx-bench frobnicate
expect_rc "unknown command exits 2" 2
expect_golden "unknown command message" "$ERR" bench-unknown-cmd

runcmd geomx-bench
expect_rc "missing command exits 2" 2

runcmd geomx-bench codec --codec nosuch
expect_rc "unknown codec exits 2" 2
expect_match "unknown codec named" "$ERR" "unknown codec 'nosuch'"

runcmd geomx-bench codec --size 0
expect_rc "size 0 exits 2" 2

runcmd geomx-bench codec --list
expect_rc "codec --list exits 0" 0
expect_lines "codec --list: 16 codecs" "$OUT" 16

# The shape of a short run: header, memcpy first, then f16's two ops.
runcmd geomx-bench codec --size 1000 --min-time 0.01 --codec f16 --codec memcpy
expect_rc "codec run exits 0" 0
expect_lines "codec run: header and 3 rows" "$OUT" 4
if awk -F '\t' '
	NR == 1 { if ($0 != "codec\tsize\top\tms\tmbps\tmemcpy_mbps\tx_memcpy\tbytes_out\tcompression\treps\tidx_bytes_per_nnz") exit 1; next }
	NF != 11 || $2 != 1000 || $11 != "0.000" { exit 1 }
	{ for (i = 4; i <= 11; i++) if ($i !~ /^[0-9]+(\.[0-9]+)?$/ || (i < 8 && $i + 0 <= 0) || (i == 10 && $i < 1)) exit 1 }
	NR == 2 && !($1 == "memcpy" && $3 == "copy" && $7 == "1.000" && $8 == 4000) { exit 1 }
	NR == 3 && !($1 == "f16" && $3 == "encode" && $8 == 2000 && $9 == "2.00") { exit 1 }
	NR == 4 && !($1 == "f16" && $3 == "decode" && $8 == 2000) { exit 1 }
' "$OUT"; then ok "codec run: columns and rows"; else notok "codec run: columns and rows" "$(tr '\t\n' ' |' <"$OUT")"; fi

runcmd geomx-bench codec --size 1k --min-time 0.01 --codec f16 --format json
expect_rc "json run exits 0" 0
expect_lines "json run: 3 lines" "$OUT" 3
if python3 -c '
import json, sys
keys = {"codec", "size", "op", "ms", "mbps", "memcpy_mbps", "x_memcpy", "bytes_out", "compression", "reps",
        "idx_bytes_per_nnz"}
rows = [json.loads(l) for l in sys.stdin]
assert [(r["codec"], r["op"]) for r in rows] == [("memcpy", "copy"), ("f16", "encode"), ("f16", "decode")]
assert all(set(r) == keys and r["size"] == 1000 for r in rows)
' <"$OUT" 2>"$T/py"; then ok "json rows parse"; else notok "json rows parse" "$(tail -n 1 "$T/py")"; fi

# Every codec once on a small buffer: each decode is checked by the program.
runcmd geomx-bench codec --size 5000 --min-time 0 --repeat 1
expect_rc "all codecs encode and decode correctly" 0
expect_lines "all codecs: header, copy and 15x2 rows" "$OUT" 32

# The index encodings on one index set: k = 200 of 20000, float32 values.
# Payload = 12 + index bytes + 800; U32 and BITMAP sizes are arithmetic,
# AUTO is the smallest of the four, encode and decode rows agree.
runcmd geomx-bench codec --size 20000 --min-time 0.01 --codec idx-u32 --codec idx-varint \
	--codec idx-bitpack --codec idx-bitmap --codec idx-auto
expect_rc "idx rows exit 0 (decodes checked)" 0
expect_lines "idx rows: header, copy and 5x2 rows" "$OUT" 12
if awk -F '\t' '
	function bad() { failed = 1; exit 1 } # END runs after exit: it must know
	NR == 1 || $1 == "memcpy" { next }
	NF != 11 || $2 != 20000 || $3 != (NR % 2 ? "encode" : "decode") { bad() }
	{ for (i = 4; i <= 11; i++) if ($i !~ /^[0-9]+(\.[0-9]+)?$/ || $i + 0 <= 0) bad() }
	$3 == "encode" { b[$1] = $8; ipn[$1] = $11; seen++ }
	$3 == "decode" && (b[$1] != $8 || ipn[$1] != $11) { bad() }
	{ d = $8 - 812 - $11 * 200; if (d > 0.5 || d < -0.5) bad() }
	END {
		if (failed || seen != 5 || b["idx-u32"] != 1612 || ipn["idx-u32"] != "4.000") exit 1
		if (b["idx-bitmap"] != 3312 || ipn["idx-bitmap"] != "12.500") exit 1
		if (!(b["idx-bitpack"] < b["idx-varint"] && b["idx-varint"] < b["idx-u32"])) exit 1
		m = b["idx-u32"]
		split("idx-varint idx-bitpack idx-bitmap", o, " ")
		for (i in o) if (b[o[i]] < m) m = b[o[i]]
		exit b["idx-auto"] != m
	}
' "$OUT"; then ok "idx rows: sizes, bytes per index, AUTO smallest"; else notok "idx rows: sizes, bytes per index, AUTO smallest" "$(tr '\t\n' ' |' <"$OUT")"; fi

runcmd geomx-bench gen --count 1000 --seed 5
expect_rc "gen exits 0" 0
n=$(wc -c <"$OUT")
if [ "$n" -eq 4000 ]; then ok "gen writes N*4 bytes"; else notok "gen writes N*4 bytes" "$n bytes"; fi
cp "$OUT" "$T/gen1"
runcmd geomx-bench gen --count 1000 --seed 5
if cmp -s "$OUT" "$T/gen1"; then ok "gen is reproducible by seed"; else notok "gen is reproducible by seed"; fi
runcmd geomx-bench gen --count 1000 --seed 6
if cmp -s "$OUT" "$T/gen1"; then notok "gen: another seed, other bytes"; else ok "gen: another seed, other bytes"; fi

for d in uniform sparse; do
	runcmd geomx-bench gen -n 1Ki --dist $d --scale 2
	n=$(wc -c <"$OUT")
	if [ "$RC" -eq 0 ] && [ "$n" -eq 4096 ]; then ok "gen --dist $d"; else notok "gen --dist $d" "exit $RC, $n bytes"; fi
done
if python3 -c '
import struct, sys
v = struct.unpack("<1024f", open(sys.argv[1], "rb").read())
z = sum(1 for x in v if x == 0)
assert 950 < z < 1024, z
' "$OUT" 2>"$T/py"; then ok "gen sparse: mostly zeros"; else notok "gen sparse: mostly zeros" "$(tail -n 1 "$T/py")"; fi

runcmd geomx-bench gen --count 10 --dist cauchy
expect_rc "gen bad --dist exits 2" 2
expect_golden "gen bad --dist message" "$ERR" bench-gen-bad-dist

runcmd geomx-bench gen
expect_rc "gen without --count exits 2" 2

# ps: a real topology on loopback (the geomx-ps beside geomx-bench, run here
# through a link with a name of this test's own, so that a server left
# behind would be found), the shape of the output only (the figures are the
# machine's). The program itself checks the parameters every worker ends with.
runcmd geomx-bench ps --help
expect_rc "ps --help exits 0" 0
expect_golden "ps help text" "$OUT" bench-ps-help

psbin=$(command -v geomx-ps)
case $psbin in /*) ;; *) psbin=$(pwd)/$psbin ;; esac
ln -s "$psbin" "$T/gx-bench-ps-$$"
runcmd geomx-bench ps --workers 2 --keys 2 --size 1000 --rounds 3 --ps-bin "$T/gx-bench-ps-$$"
expect_rc "ps run exits 0" 0
expect_lines "ps run: header and 1 row" "$OUT" 2
if awk -F '\t' '
	NR == 1 { if ($0 != "workers\tkeys\tsize\tparties\tservers\trounds\treps\tround_ms\trounds_per_s\tps_mbps\ttcp_mbps\tx_tcp\tchain_mbps\tx_chain\tbytes_per_round\tsf_mbps\tx_sf\tblock_mbps\tx_block\topt_mbps\tx_opt") exit 1; next }
	NF != 21 || $1 != 2 || $2 != 2 || $3 != 1000 || $4 != 1 || $5 != 1 || $6 != 3 || $7 != 3 || $15 != 32000 { exit 1 }
	{ for (i = 8; i <= 21; i++) if (i != 15 && ($i !~ /^[0-9]+(\.[0-9]+)?$/ || $i + 0 <= 0)) exit 1 }
	{ x = $10 / $11; if (x / $12 < 0.95 || x / $12 > 1.05) exit 1 }
	{ x = $10 / $13; if (x / $14 < 0.95 || x / $14 > 1.05) exit 1 }
	{ x = $10 / $16; if (x / $17 < 0.95 || x / $17 > 1.05) exit 1 }
	{ x = $10 / $18; if (x / $19 < 0.95 || x / $19 > 1.05) exit 1 }
	{ x = $10 / $20; if (x / $21 < 0.95 || x / $21 > 1.05) exit 1 }
' "$OUT"; then ok "ps run: columns and values"; else notok "ps run: columns and values" "$(tr '\t\n' ' |' <"$OUT")"; fi
if command -v pgrep >/dev/null 2>&1; then
	if pgrep -f "gx-bench-ps-$$" >/dev/null; then
		notok "ps run: no server left behind" "$(pgrep -af "gx-bench-ps-$$")"
		pkill -f "gx-bench-ps-$$"
	else
		ok "ps run: no server left behind"
	fi
fi

# Two parties of 2 and 1 workers, two global servers splitting the tensor.
runcmd geomx-bench ps -w 3 -p 2 --servers 2 --split-bound 500 -k 1 -s 1000 -r 2 --repeat 2 \
	--format json
expect_rc "ps json run exits 0" 0
if python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
keys = {"workers", "keys", "size", "parties", "servers", "rounds", "reps", "round_ms", "rounds_per_s",
        "ps_mbps", "tcp_mbps", "x_tcp", "chain_mbps", "x_chain", "bytes_per_round", "sf_mbps", "x_sf",
        "block_mbps", "x_block", "opt_mbps", "x_opt"}
assert len(rows) == 1 and set(rows[0]) == keys, rows
r = rows[0]
assert (r["workers"], r["parties"], r["servers"], r["rounds"], r["reps"]) == (3, 2, 2, 2, 2), r
assert r["bytes_per_round"] == 3 * 1000 * 4 * 2 and r["x_tcp"] > 0 and r["x_chain"] > 0, r
assert r["sf_mbps"] > 0 and abs(r["ps_mbps"] / r["sf_mbps"] / r["x_sf"] - 1) < 0.05, r
assert r["block_mbps"] > 0 and abs(r["ps_mbps"] / r["block_mbps"] / r["x_block"] - 1) < 0.05, r
assert r["opt_mbps"] > 0 and abs(r["ps_mbps"] / r["opt_mbps"] / r["x_opt"] - 1) < 0.05, r
' <"$OUT" 2>"$T/py"; then ok "ps json row parses"; else notok "ps json row parses" "$(tail -n 1 "$T/py")"; fi

runcmd geomx-bench ps --workers 1 --parties 2
expect_rc "ps: more parties than workers exits 2" 2
expect_match "ps: parties named" "$ERR" "parties 2 needs at least as many --workers"
runcmd geomx-bench ps --rounds 3 --min-time 1
expect_rc "ps: --rounds with --min-time exits 2" 2
runcmd geomx-bench ps --ps-bin "$T/no-such-ps" --rounds 1
expect_rc "ps: missing server program exits 1" 1
expect_match "ps: missing program named" "$ERR" "cannot run $T/no-such-ps"

# link: the help, usage errors, then a real run on loopback: a server, some
# garbage it must survive, and each probe against it. Only what loopback
# promises even on a loaded machine is asserted: every echo and every byte
# of the TCP stream come back; of the UDP datagrams (a server descheduled
# long enough overflows its socket buffer) at least 1990 of 2000, and the
# line's shape.
runcmd geomx-bench link --help
expect_rc "link --help exits 0" 0
expect_golden "link help text" "$OUT" bench-link-help

runcmd geomx-bench link udp
expect_rc "link udp without an address exits 2" 2
expect_match "link udp: missing address named" "$ERR" "link udp: missing HOST:PORT"

runcmd geomx-bench link udp 127.0.0.1:1 --count 0
expect_rc "link udp --count 0 exits 2" 2

runcmd geomx-bench link frob
expect_rc "link: unknown mode exits 2" 2

geomx-bench link serve --listen 127.0.0.1 >"$T/link.out" 2>"$T/link.err" &
L=$!
PIDS="$PIDS $L"
lport=$(wait_port "$T/link.out")
if [ -n "$lport" ]; then ok "link serve: port line"; else notok "link serve: port line" "$(head -c 300 "$T/link.err")"; fi

python3 - "$lport" >"$T/garbage" 2>&1 <<'EOF'
import os, socket, sys
a = ("127.0.0.1", int(sys.argv[1]))
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(os.urandom(40), a)
s = socket.create_connection(a, timeout=10)
s.sendall(b"nonsense\n")
print(s.makefile().readline(), end="")
EOF
expect_match "link serve: a bad command gets an error line" "$T/garbage" '^error unknown command'

ms='[0-9]+\.[0-9]{3}'
runcmd geomx-bench link rtt "127.0.0.1:$lport" --count 20 --interval 1ms --timeout 10s
expect_rc "link rtt exits 0" 0
expect_match "link rtt: every echo back" "$OUT" \
	"^rtt sent=20 received=20 lost=0 min_ms=$ms p50_ms=$ms mean_ms=$ms p90_ms=$ms max_ms=$ms sd_ms=$ms\$"

runcmd geomx-bench link udp "127.0.0.1:$lport" --count 2000 --pps 2000 --grace 1s
expect_rc "link udp exits 0" 0
expect_match "link udp: the line's shape" "$OUT" \
	"^udp sent=2000 received=[0-9]+ lost=[0-9]+ loss_pct=[0-9]+\.[0-9]{4} reordered=[0-9]+ dup=[0-9]+ delay_min_ms=$ms delay_p5_ms=$ms delay_p25_ms=$ms delay_p50_ms=$ms delay_p75_ms=$ms delay_p95_ms=$ms delay_max_ms=$ms delay_mean_ms=$ms delay_sd_ms=$ms\$"
if awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	END { exit !(v["received"] >= 1990 && v["received"] + v["lost"] == 2000) }' "$OUT"; then
	ok "link udp: at least 1990 of 2000 received"
else
	notok "link udp: at least 1990 of 2000 received" "$(cat "$OUT")"
fi

runcmd geomx-bench link tcp "127.0.0.1:$lport" --bytes 10M --trace "$T/trace"
expect_rc "link tcp exits 0" 0
expect_match "link tcp: every byte counted" "$OUT" '^tcp bytes=10000000 seconds=[0-9]+\.[0-9]{6} mbps=[0-9]+\.[0-9]{3}$'
if awk '$1 != NR - 1 || NF != 2 { bad = 1 } { s += $2 } END { exit bad || s != 10000000 }' "$T/trace"; then
	ok "link tcp: the trace's 1 ms bins sum to the bytes"
else
	notok "link tcp: the trace's 1 ms bins sum to the bytes" "$(head -c 300 "$T/trace")"
fi

kill -TERM "$L"
wait "$L"
RC=$?
PIDS=""
expect_rc "link serve exits 0 after SIGTERM" 0

finish
