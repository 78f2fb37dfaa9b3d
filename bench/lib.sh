# bench/lib.sh — what the benchmark scripts that run a whole job share:
# the processes they start (PID_NAME, their output in $D/NAME.out and
# .err, every pid in $PIDS), the port a server prints first, waiting for
# them, and stopping them. $BENCH names the script in messages.

# bench_start NAME NS CMD... — CMD in the background under timeout (its
# limit $TIMEOUT s), in network namespace NS unless NS is empty (ip netns
# exec execs, so the pid kept is still timeout's), its output in
# $D/NAME.out and $D/NAME.err.
bench_start() {
	_bn=$1 _bs=$2
	shift 2
	if [ -n "$_bs" ]; then
		ip netns exec "$(gx_ns_name "$_bs")" timeout -k 5 "$TIMEOUT" "$@" >"$D/$_bn.out" 2>"$D/$_bn.err" </dev/null &
	else
		timeout -k 5 "$TIMEOUT" "$@" >"$D/$_bn.out" 2>"$D/$_bn.err" </dev/null &
	fi
	PIDS="$PIDS $!"
	eval "PID_$_bn=\$!"
}
# bench_port NAME — the port NAME printed first; status 1 (and why, on
# stderr) when it exits first or prints none within 60 s.
bench_port() {
	eval "_bp=\$PID_$1"
	_bi=0
	until [ -s "$D/$1.out" ] || [ $_bi -ge 600 ] || ! kill -0 "$_bp" 2>/dev/null; do
		sleep 0.1
		_bi=$((_bi + 1))
	done
	_bp=$(head -n 1 "$D/$1.out")
	case $_bp in ''|*[!0-9]*) echo "$BENCH: $1 did not start: $(tail -n 2 "$D/$1.err")" >&2; return 1 ;; esac
	echo "$_bp"
}
# bench_waitall NAME... — 0 when every one exited 0; else says which.
bench_waitall() {
	for _bn in "$@"; do
		eval "_bp=\$PID_$_bn"
		wait "$_bp" || { echo "$BENCH: $D: $_bn failed (status $?): $(tail -n 2 "$D/$_bn.err" | tr '\n' ' ')" >&2; return 1; }
	done
}
# bench_stop_all — ends every process started and waits for it.
bench_stop_all() {
	for _bp in $PIDS; do kill -TERM "$_bp" 2>/dev/null; done
	for _bp in $PIDS; do wait "$_bp" 2>/dev/null; done
	PIDS=""
}
