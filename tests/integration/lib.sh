# tests/integration/lib.sh — helpers for multi-process tests on loopback,
# sourced by tests/integration/*.sh. Every process started with `spawn` is
# killed and reaped on exit, whatever happens; ports are ephemeral (servers
# listen on port 0 and print the port they got). Checks print "ok NAME" or
# "not ok NAME" like the other layers.
# Plaintext links asked for (tests/run.sh says why), unless the caller chose.
: "${GEOMX_INSECURE=1}"
export GEOMX_INSECURE
set -u
GX_TOP=$(cd "${GX_TOP:-.}" && pwd)
# Run by hand (BUILD=build-int sh tests/integration/x.sh), the programs of
# $BUILD come first, as tests/run.sh arranges.
if [ -n "${BUILD:-}" ] && [ -d "$BUILD/bin" ]; then PATH="$(cd "$BUILD/bin" && pwd):$PATH"; fi
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
	[ -n "${GX_KEEP:-}" ] && cp -r "$T" "$GX_KEEP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

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

# port_of NAME — waits (up to 60 s: a Python server may make its data
# first) for the first line of NAME's stdout, a port.
port_of() {
	_i=0
	while [ $_i -lt 600 ]; do
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

# expect_all NAME SECONDS WANT PROC... — every PROC (spawn names) ends within
# SECONDS (in all) with status WANT; one check line naming those that did not.
expect_all() {
	_en=$1 _es=$2 _ew=$3
	shift 3
	_edl=$(($(date +%s) + _es))
	: >"$T/.expect_all"
	for _ep in "$@"; do
		_eleft=$((_edl - $(date +%s)))
		[ $_eleft -lt 1 ] && _eleft=1
		wait_pid "$(pid_of "$_ep")" "$_eleft"
		[ "$WRC" -eq "$_ew" ] ||
			echo "$_ep: exit status $WRC, want $_ew; stderr: $(tail -c 300 "$T/$_ep.err" | tr '\n' ' ')" >>"$T/.expect_all"
	done
	if [ -s "$T/.expect_all" ]; then
		echo "not ok $_en"
		sed 's/^/#   /' "$T/.expect_all"
		_rc=1
	else
		ok "$_en"
	fi
}

# expect_match NAME FILE REGEX — grep -E finds REGEX in FILE.
expect_match() {
	if grep -Eq -- "$3" "$2"; then ok "$1"; else notok "$1" "no match for /$3/ in $(basename "$2"): $(head -c 400 "$2" | tr '\n' '|')"; fi
}

# wait_match FILE REGEX SECONDS — waits until grep -E finds REGEX in FILE;
# status 0 when it did, 1 when SECONDS passed first.
wait_match() {
	_wi=0
	while [ $_wi -lt $(($3 * 10)) ]; do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		_wi=$((_wi + 1))
	done
	grep -Eq -- "$2" "$1" 2>/dev/null
}

# two_workers NAME PORT SIZES ROUNDS — NAME.w0 and NAME.w1 (geomx-bench
# worker, --sleep 10, dumps in $T/NAME.w0 and .w1) on the server at
# 127.0.0.1:PORT, worker 1 once worker 0's INIT is answered (its .init
# written, up to 60 s): the values a job keeps are then worker 0's in every
# run, so that runs compare bit for bit.
two_workers() {
	spawn "$1.w0" geomx-bench worker --ps "127.0.0.1:$2" --rank 0 --sizes "$3" --rounds "$4" \
		--sleep 10 --dump "$T/$1.w0"
	_tw=0
	while [ ! -s "$T/$1.w0.init" ] && [ $_tw -lt 600 ]; do
		sleep 0.1
		_tw=$((_tw + 1))
	done
	spawn "$1.w1" geomx-bench worker --ps "127.0.0.1:$2" --rank 1 --sizes "$3" --rounds "$4" \
		--sleep 10 --dump "$T/$1.w1"
}

# same_dumps REF NAME CHECK [LINES] — NAME's per-round dumps (two_workers:
# $T/NAME.w0 and .w1) are REF's byte for byte, and worker 0's has LINES
# lines when given: ok CHECK, else not ok with the first differences.
same_dumps() {
	if cmp -s "$T/$1.w0" "$T/$2.w0" && cmp -s "$T/$1.w1" "$T/$2.w1" &&
		{ [ -z "${4:-}" ] || [ "$(wc -l <"$T/$2.w0")" -eq "$4" ]; }; then
		ok "$3"
	else
		notok "$3" "$(diff "$T/$1.w0" "$T/$2.w0" | head -n 4 | tr '\n' '|')"
	fi
}

# now_ms — milliseconds since the epoch.
now_ms() { date +%s%3N; }

# need_python — skips the script (status 77) when there is no python3.
need_python() {
	command -v python3 >/dev/null 2>&1 && return 0
	echo "python3 not found (the oracles need it)"
	exit 77
}

# stat_field FILE RECORD N — field N (from 1, the record name) of the first
# line of a TSV statistics file (geomx-ps --stats) whose record is RECORD.
stat_field() { awk -F '\t' -v r="$2" -v n="$3" '$1 == r { print $n; exit }' "$1" 2>/dev/null; }

# start_hips NAME NGLOBAL NPARTY NWORKER "GLOBAL ARGS" "LOCAL ARGS" — starts
# NGLOBAL global servers (spawn names NAME.g0, ...; --parties NPARTY), then
# NPARTY local servers NAME.l0, ... (--workers NWORKER, --party P, upstream
# every global server in index order), each with --stats $T/SPAWN_NAME.stats.
# The ARGS strings are split on blanks. Sets UPSTREAM (the global servers'
# addresses) and LPORT0, LPORT1, ... (the local servers' ports).
start_hips() {
	_hn=$1 _hg=$2 _hp=$3 _hw=$4 _hga=$5 _hla=$6
	UPSTREAM=""
	_hk=0
	while [ $_hk -lt "$_hg" ]; do
		# shellcheck disable=SC2086
		spawn "$_hn.g$_hk" geomx-ps --role global --parties "$_hp" --stats "$T/$_hn.g$_hk.stats" $_hga
		_hk=$((_hk + 1))
	done
	_hk=0
	while [ $_hk -lt "$_hg" ]; do
		UPSTREAM="${UPSTREAM:+$UPSTREAM,}127.0.0.1:$(port_of "$_hn.g$_hk")"
		_hk=$((_hk + 1))
	done
	_hk=0
	while [ $_hk -lt "$_hp" ]; do
		# shellcheck disable=SC2086
		spawn "$_hn.l$_hk" geomx-ps --role local --party "$_hk" --workers "$_hw" \
			--upstream "$UPSTREAM" --stats "$T/$_hn.l$_hk.stats" $_hla
		_hk=$((_hk + 1))
	done
	_hk=0
	while [ $_hk -lt "$_hp" ]; do
		eval "LPORT$_hk=\$(port_of \"\$_hn.l\$_hk\")"
		_hk=$((_hk + 1))
	done
}

# start_workers NAME NPARTY NWORKER ARGS... — starts geomx-bench worker for
# every party P and rank W (spawn names NAME.wPW) against local server P of
# start_hips, with --dump $T/NAME.wPW and ARGS.
start_workers() {
	_sn=$1 _sp=$2 _sw=$3
	shift 3
	_sa=0
	while [ $_sa -lt "$_sp" ]; do
		_sb=0
		while [ $_sb -lt "$_sw" ]; do
			spawn "$_sn.w$_sa$_sb" geomx-bench worker --ps "127.0.0.1:$(eval echo "\$LPORT$_sa")" \
				--party "$_sa" --rank "$_sb" --dump "$T/$_sn.w$_sa$_sb" "$@"
			_sb=$((_sb + 1))
		done
		_sa=$((_sa + 1))
	done
}

# hips_names NAME NGLOBAL NPARTY NWORKER — the spawn names of a start_hips
# topology and its start_workers: workers first, then locals, then globals
# (the order in which they end).
hips_names() {
	_nn=""
	_na=0
	while [ $_na -lt "$3" ]; do
		_nb=0
		while [ $_nb -lt "$4" ]; do _nn="$_nn $1.w$_na$_nb"; _nb=$((_nb + 1)); done
		_na=$((_na + 1))
	done
	_na=0
	while [ $_na -lt "$3" ]; do _nn="$_nn $1.l$_na"; _na=$((_na + 1)); done
	_na=0
	while [ $_na -lt "$2" ]; do _nn="$_nn $1.g$_na"; _na=$((_na + 1)); done
	echo "$_nn"
}

# need_fashion_mnist — sets DATA to Fashion-MNIST's folder, or ends the
# test as skipped (77) saying what to install.
need_fashion_mnist() {
	DATA=${GEOMX_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
	if [ ! -r "$DATA/train-images-idx3-ubyte.gz" ] || [ ! -r "$DATA/t10k-labels-idx1-ubyte.gz" ]; then
		echo "Fashion-MNIST not installed in $DATA (Debian package dataset-fashion-mnist)"
		exit 77
	fi
}

# blocks_of SIZES [BLOCK] — how many blocks tensors of SIZES (n1,n2,...)
# travel in, BLOCK elements each (default: geomx-ps's --block default,
# from its help; 0: whole tensors, one each).
blocks_of() {
	_bk=${2:-$(geomx-ps --help | sed -n 's/.*(default \([0-9]*\); 0: whole.*/\1/p')}
	echo "$1" | tr ',' '\n' | awk -v b="${_bk:-0}" '{ n += (b > 0 ? int(($1 + b - 1) / b) : 1) } END { print n }'
}

finish() { exit $_rc; }
