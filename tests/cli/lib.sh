# tests/cli/lib.sh — helpers for CLI golden tests, sourced by tests/cli/*.sh.
# Each check prints "ok NAME" or "not ok NAME" (with a diff or the reason as
# "#" lines). Scratch files live in $T, removed on exit.
# Plaintext links asked for (tests/run.sh says why), unless the caller chose.
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
set -u
T=$(mktemp -d "${TMPDIR:-/tmp}/gx-cli.XXXXXX") || exit 1
# Servers a script starts in the background go into $PIDS: killed and
# waited for on exit, whatever happens.
PIDS=""
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
GOLDEN=${GX_TOP:-.}/tests/cli/golden
_rc=0

ok() { echo "ok $1"; }
notok() { echo "not ok $1"; shift; for l in "$@"; do echo "#   $l"; done; _rc=1; }

# runcmd CMD... — runs with stdin from /dev/null unless redirected by the caller;
# sets $RC, $OUT (file), $ERR (file).
runcmd() {
	OUT=$T/out ERR=$T/err
	"$@" >"$OUT" 2>"$ERR"
	RC=$?
}

# expect_rc NAME WANT — checks $RC.
expect_rc() {
	if [ "$RC" -eq "$2" ]; then ok "$1"; else notok "$1" "exit status $RC, want $2" "stderr: $(head -c 300 "$ERR")"; fi
}

# expect_golden NAME FILE GOLDEN — FILE must equal tests/cli/golden/GOLDEN.
# GX_BLESS=1 rewrites the golden file instead.
expect_golden() {
	_g=$GOLDEN/$3
	if [ "${GX_BLESS:-0}" = 1 ]; then cp "$2" "$_g"; ok "$1 (blessed)"; return; fi
	if [ ! -f "$_g" ]; then notok "$1" "missing golden file $_g"; return; fi
	if cmp -s "$2" "$_g"; then ok "$1"; else notok "$1" "$(diff "$_g" "$2" | head -20 | tr '\n' '|')"; fi
}

# expect_match NAME FILE REGEX — grep -E must find REGEX in FILE.
expect_match() {
	if grep -Eq -- "$3" "$2"; then ok "$1"; else notok "$1" "no match for /$3/ in: $(head -c 300 "$2")"; fi
}

# expect_lines NAME FILE N — FILE has exactly N lines.
expect_lines() {
	_n=$(wc -l <"$2")
	if [ "$_n" -eq "$3" ]; then ok "$1"; else notok "$1" "$_n lines, want $3: $(head -c 300 "$2")"; fi
}

# expect_empty NAME FILE
expect_empty() {
	if [ ! -s "$2" ]; then ok "$1"; else notok "$1" "not empty: $(head -c 300 "$2")"; fi
}

finish() { exit $_rc; }

# wait_port FILE — waits (up to 30 s) for the port line; prints it.
wait_port() {
	_i=0
	while [ ! -s "$1" ] && [ $_i -lt 600 ]; do sleep 0.05; _i=$((_i + 1)); done
	head -n 1 "$1"
}
