# tests/integration/lib.sh — helpers for multi-process tests on loopback,
# sourced by tests/integration/*.sh. Every process started with `spawn` is
# killed and reaped on exit, whatever happens; ports are ephemeral (servers
# listen on port 0 and print the port they got). Checks print "ok NAME" or
# "not ok NAME" like the other layers.
set -u
GX_TOP=$(cd "${GX_TOP:-.}" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/gx-int.XXXXXX") || exit 1
_pids=""
_rc=0

cleanup() {
	for p in $_pids; do kill -TERM "$p" 2>/dev/null; done
	# Give them a moment, then make sure.
	_i=0
	while [ $_i -lt 20 ]; do
		_alive=""
		for p in $_pids; do kill -0 "$p" 2>/dev/null && _alive="$_alive $p"; done
		[ -z "$_alive" ] && break
		sleep 0.1
		_i=$((_i + 1))
	done
	for p in $_pids; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { echo "ok $1"; }
notok() { echo "not ok $1"; shift; for l in "$@"; do echo "#   $l"; done; _rc=1; }
check() { # check NAME CMD... — ok when CMD succeeds
	_n=$1; shift
	if "$@"; then ok "$_n"; else notok "$_n" "failed: $*"; fi
}

# spawn NAME CMD... — starts CMD in the background, stdout to $T/NAME.out,
# stderr to $T/NAME.err; sets $PID.
spawn() {
	_name=$1; shift
	"$@" >"$T/$_name.out" 2>"$T/$_name.err" </dev/null &
	PID=$!
	_pids="$_pids $PID"
	eval "PID_$(echo "$_name" | tr -c 'A-Za-z0-9_\n' _)=$PID"
}

# port_of NAME — waits (up to 10 s) for the first line of NAME's stdout, a port.
port_of() {
	_i=0
	while [ $_i -lt 100 ]; do
		if [ -s "$T/$1.out" ]; then
			_p=$(head -n 1 "$T/$1.out")
			case $_p in *[!0-9]*|"") ;; *) echo "$_p"; return 0 ;; esac
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	echo "# no port from $1: $(head -c 300 "$T/$1.err")" >&2
	echo 0
	return 1
}

# wait_pid PID SECONDS — waits for PID to end within SECONDS; sets $WRC to its
# status (124 when it had to be killed).
wait_pid() {
	_i=0
	_lim=$(($2 * 10))
	while kill -0 "$1" 2>/dev/null && [ $_i -lt $_lim ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		WRC=124
	else
		wait "$1"
		WRC=$?
	fi
}

# pid_of PROC — the pid of a process started as spawn PROC.
pid_of() { eval "echo \$PID_$(echo "$1" | tr -c 'A-Za-z0-9_\n' _)"; }

# expect_exit NAME PROC SECONDS WANT — process PROC (a spawn name) ends within
# SECONDS with status WANT.
expect_exit() {
	wait_pid "$(pid_of "$2")" "$3"
	if [ "$WRC" -eq "$4" ]; then ok "$1"; else notok "$1" "exit status $WRC, want $4" "$(tail -c 400 "$T/$2.err")"; fi
}

finish() { exit $_rc; }
