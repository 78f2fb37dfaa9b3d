# scripts/netns.sh — data centers as Linux network namespaces, for WAN
# experiments and tests on one machine. A POSIX sh library: source it, then
#
#   gx_ns_check [tbf] || exit $?     # 77 + a one-line reason when unusable
#   trap 'gx_ns_down' EXIT; trap 'exit 1' HUP INT TERM
#   gx_ns_up dc0 dc1                 # a "center" namespace and one per DC
#   gx_ns_rate dc0 100mbit           # tbf on both ends of dc0's link
#   gx_ns_mesh TABLE                 # or: every packet through geomx-netem
#   gx_ns_mesh_reload TABLE2         # its links changed while it runs
#   ip netns exec "$(gx_ns_name dc0)" geomx-ps ... &   # $! is the program
#   gx_ns_exec center CMD...         # in the foreground
#   gx_ns_addr center                # the address every DC reaches it at
#   gx_ns_list; gx_ns_pids           # this run's namespaces; what runs inside
#   gx_ns_down                       # kill what runs inside, delete all
#
# The shape is a star, like HiPS's traffic: every data center is joined to
# the center by its own veth pair and subnet (DC number i, from 0 in the
# order given to gx_ns_up: 10.211.<i+1>.0/24, .1 the center's end "wan<i>",
# .2 the DC's end "wan"). The center also holds 10.211.0.1/32 on its
# loopback, reachable from every DC through that DC's own link (each DC's
# default route is its link), so a server in the center listens on one
# address for all. The center does not forward between DCs (gx_ns_mesh
# makes it: the packet-level WAN, every DC reaching every other). Loopback is up
# in every namespace: processes of one DC talk over 127.0.0.1 among
# themselves, as inside a real data center.
#
# A WAN that changes during a run ("after round 30, dc1's links drop to 10
# Mbit/s"): gx_ns_mesh_reload TABLE gives the running geomx-netem a new
# table of links for the same data centers (atomically: the file it reads
# is replaced by a rename, then SIGHUP) and returns once geomx-netem has
# said it took it (status 0) or why it refused it (status 1, its reason);
# every wait is bounded by $GX_NS_TIMEOUT s. What happens to packets held
# at that moment: geomx-netem(1), RELOADING THE TABLE.
#
# Namespaces are named PREFIX-NAME with PREFIX = $GX_NS_PREFIX, by default
# "gx" + the shell's pid + "x" + 4 random hex digits: parallel runs and
# leftovers of dead ones never collide, and gx_ns_down deletes exactly what
# this run made. The veth pairs are created inside the namespaces (ip -n ...
# peer netns ...), so the host's own interfaces, addresses and routes are
# never touched; deleting a namespace deletes its veth ends. Every ip and tc
# call is bounded by `timeout`. gx_ns_up and gx_ns_down keep their state
# in GX_NS_* variables: call them in the shell that owns the run, not in a
# $(...) subshell. Needs root, iproute2's ip and tc, for gx_ns_rate the
# tbf qdisc, and for gx_ns_mesh a TUN device and geomx-netem on PATH (the
# kernel's netem is absent here: delay, jitter and loss are geomx-relay's
# per connection, or geomx-netem's per packet). A script that must end on
# SIGTERM while it waits for a job waits with `wait` (a signal interrupts
# it), not in a foreground command (the trap would run only after it).

GX_NS_PREFIX=${GX_NS_PREFIX:-gx$$x$(od -An -N2 -tx1 /dev/urandom 2>/dev/null | tr -d ' \n')}
GX_NS_NET=${GX_NS_NET:-10.211}
GX_NS_TIMEOUT=${GX_NS_TIMEOUT:-10}
GX_NS_DCS=""
GX_NS_UP=0

# _gx_ns_ip ARGS... / _gx_ns_tc ARGS... — ip and tc, bounded in time.
_gx_ns_ip() { timeout -k 2 "$GX_NS_TIMEOUT" ip "$@"; }
_gx_ns_tc() { timeout -k 2 "$GX_NS_TIMEOUT" tc "$@"; }
_gx_ns_err() { echo "netns: $*" >&2; }

# gx_ns_name NAME — prints the real namespace name of center or a DC.
gx_ns_name() { echo "$GX_NS_PREFIX-$1"; }

# _gx_ns_index DC — prints the DC's number (0, 1, ...); status 1 when DC
# is not one of gx_ns_up's.
_gx_ns_index() {
	_gi=0
	for _gd in $GX_NS_DCS; do
		[ "$_gd" = "$1" ] && { echo "$_gi"; return 0; }
		_gi=$((_gi + 1))
	done
	_gx_ns_err "no data center '$1' (have: ${GX_NS_DCS:-none})"
	return 1
}

# gx_ns_list — prints the namespaces of this run (PREFIX-*) that exist now,
# one a line.
gx_ns_list() {
	_gx_ns_ip netns list 2>/dev/null | awk -v p="$GX_NS_PREFIX-" 'index($1, p) == 1 { print $1 }'
}

# gx_ns_check [tbf|tun] — status 0 when this machine can run the harness;
# otherwise status 77 and one line on stderr saying why: not root, no ip or
# tc, namespaces or veth pairs cannot be made (a probe namespace is created
# and deleted), with "tbf" the tbf qdisc is unavailable, with "tun" no TUN
# device can be made (gx_ns_mesh needs one).
gx_ns_check() {
	if [ "$(id -u)" != 0 ]; then
		echo "network namespaces need root (running as uid $(id -u))" >&2
		return 77
	fi
	for _gc in ip tc timeout; do
		command -v "$_gc" >/dev/null 2>&1 || { echo "$_gc not found (iproute2/coreutils)" >&2; return 77; }
	done
	_gp="$GX_NS_PREFIX-probe"
	if ! _gw=$(_gx_ns_ip netns add "$_gp" 2>&1); then
		echo "cannot create a network namespace: $(echo "$_gw" | head -n 1)" >&2
		return 77
	fi
	_gr=0
	if ! _gw=$(_gx_ns_ip -n "$_gp" link add pa type veth peer name pb 2>&1); then
		echo "cannot create a veth pair in a namespace: $(echo "$_gw" | head -n 1)" >&2
		_gr=77
	elif ! _gw=$(_gx_ns_ip netns exec "$_gp" true 2>&1); then
		echo "cannot run a program in a namespace (ip netns exec): $(echo "$_gw" | head -n 1)" >&2
		_gr=77
	elif [ "${1:-}" = tun ] &&
		! _gw=$(_gx_ns_ip -n "$_gp" tuntap add dev gxprobe mode tun 2>&1); then
		echo "cannot make a TUN device (geomx-netem needs one): $(echo "$_gw" | head -n 1)" >&2
		_gr=77
	elif [ "${1:-}" = tbf ] &&
		! _gw=$(_gx_ns_tc -n "$_gp" qdisc add dev pa root tbf rate 10mbit burst 32kbit latency 50ms 2>&1); then
		echo "tc tbf is unavailable: $(echo "$_gw" | head -n 1)" >&2
		_gr=77
	fi
	_gx_ns_ip netns del "$_gp" 2>/dev/null
	return $_gr
}

# gx_ns_up DC... — creates the center and one namespace per DC (names of
# letters, digits and _; not "center"), links and addresses them. Status 0,
# or 1 with a message (what was made is left for gx_ns_down to delete).
gx_ns_up() {
	[ "$GX_NS_UP" = 0 ] || { _gx_ns_err "gx_ns_up: already up ($GX_NS_PREFIX)"; return 1; }
	[ $# -ge 1 ] || { _gx_ns_err "gx_ns_up: no data centers named"; return 1; }
	[ $# -le 254 ] || { _gx_ns_err "gx_ns_up: at most 254 data centers"; return 1; }
	for _gd in "$@"; do
		case $_gd in
		center|''|*[!A-Za-z0-9_]*) _gx_ns_err "gx_ns_up: bad data center name '$_gd'"; return 1 ;;
		esac
	done
	if [ -n "$(gx_ns_list)" ]; then
		_gx_ns_err "gx_ns_up: namespaces named $GX_NS_PREFIX-* exist already"
		return 1
	fi
	GX_NS_UP=1
	_gc=$(gx_ns_name center)
	_gx_ns_ip netns add "$_gc" || return 1
	_gx_ns_ip -n "$_gc" link set lo up || return 1
	_gx_ns_ip -n "$_gc" addr add "$GX_NS_NET.0.1/32" dev lo || return 1
	_gi=0
	for _gd in "$@"; do
		_gn=$(gx_ns_name "$_gd")
		_gs="$GX_NS_NET.$((_gi + 1))"
		_gx_ns_ip netns add "$_gn" || return 1
		GX_NS_DCS="$GX_NS_DCS $_gd"
		_gx_ns_ip -n "$_gn" link set lo up &&
			_gx_ns_ip -n "$_gc" link add "wan$_gi" type veth peer name wan netns "$_gn" &&
			_gx_ns_ip -n "$_gc" addr add "$_gs.1/24" dev "wan$_gi" &&
			_gx_ns_ip -n "$_gn" addr add "$_gs.2/24" dev wan &&
			_gx_ns_ip -n "$_gc" link set "wan$_gi" up &&
			_gx_ns_ip -n "$_gn" link set wan up &&
			_gx_ns_ip -n "$_gn" route add default via "$_gs.1" dev wan || return 1
		_gi=$((_gi + 1))
	done
	return 0
}

# gx_ns_addr NS [DC] — prints NS's address on its WAN link: a DC's end of
# its link, or for "center" the address all DCs reach it at (with DC: the
# center's end of that DC's link).
gx_ns_addr() {
	if [ "$1" = center ]; then
		if [ -n "${2:-}" ]; then
			_gi=$(_gx_ns_index "$2") || return 1
			echo "$GX_NS_NET.$((_gi + 1)).1"
		else
			echo "$GX_NS_NET.0.1"
		fi
	else
		_gi=$(_gx_ns_index "$1") || return 1
		echo "$GX_NS_NET.$((_gi + 1)).2"
	fi
}

# gx_ns_exec NS CMD... — runs CMD in namespace NS (center or a DC) and
# returns its status. To start a background process whose $! is the
# program itself, use: ip netns exec "$(gx_ns_name NS)" CMD... &
gx_ns_exec() {
	_gn=$(gx_ns_name "$1")
	shift
	ip netns exec "$_gn" "$@"
}

# _gx_ns_burst RATE — prints tbf's bucket size in bytes for RATE (tc's
# units: bit kbit mbit gbit tbit, bps kbps mbps gbps tbps = bytes/s): 5 ms
# of traffic, at least 16 KiB. Status 1 on a rate it does not understand.
_gx_ns_burst() {
	echo "$1" | awk '{
		if (match($0, /^[0-9]+(\.[0-9]+)?/) == 0) exit 1
		n = substr($0, 1, RLENGTH) + 0; u = tolower(substr($0, RLENGTH + 1))
		m["bit"] = 1 / 8; m["kbit"] = 1e3 / 8; m["mbit"] = 1e6 / 8; m["gbit"] = 1e9 / 8; m["tbit"] = 1e12 / 8
		m["bps"] = 1; m["kbps"] = 1e3; m["mbps"] = 1e6; m["gbps"] = 1e9; m["tbps"] = 1e12
		if (!(u in m) || n <= 0) exit 1
		b = n * m[u] * 0.005
		if (b < 16384) b = 16384
		printf "%d\n", b
	}'
}

# gx_ns_rate DC RATE — limits DC's link to RATE (e.g. 100mbit) in each
# direction: a tbf qdisc on both veth ends (bucket: 5 ms of traffic or
# 16 KiB; queue: $GX_NS_TBF_LATENCY, default 50ms). RATE "none" removes
# the limits. Status 0, 1 on failure, 2 on a bad rate.
gx_ns_rate() {
	_gi=$(_gx_ns_index "$1") || return 1
	_gn=$(gx_ns_name "$1")
	_gc=$(gx_ns_name center)
	if [ "$2" = none ]; then
		_gx_ns_tc -n "$_gn" qdisc del dev wan root 2>/dev/null
		_gx_ns_tc -n "$_gc" qdisc del dev "wan$_gi" root 2>/dev/null
		return 0
	fi
	_gb=$(_gx_ns_burst "$2") || { _gx_ns_err "gx_ns_rate: bad rate '$2' (e.g. 100mbit, 12.5mbps)"; return 2; }
	_gx_ns_tc -n "$_gn" qdisc replace dev wan root tbf rate "$2" burst "$_gb" \
		latency "${GX_NS_TBF_LATENCY:-50ms}" &&
		_gx_ns_tc -n "$_gc" qdisc replace dev "wan$_gi" root tbf rate "$2" burst "$_gb" \
			latency "${GX_NS_TBF_LATENCY:-50ms}"
}

# gx_ns_prio DC RATE [PACKETS] — DC's link towards the center at RATE with
# priority by the DS field: an htb qdisc on the DC's end, four classes
# under one of RATE, each guaranteed a sliver (8 kbit) and allowed all of
# RATE, the spare lent strictly in class order, each a drop-tail FIFO of
# PACKETS (default 170, about 256 KiB of full-size packets): class 1
# everything unmarked (DSCP 0: geomx's TCP links), classes 2, 3 and 4 DSCP
# 10, 12 and 14 and above (geomx-ps --dgt's lossy channels 1, 2 and 3 on:
# DSCP 8 + 2 x channel). (This kernel has htb where the prio qdisc may be
# missing.) Status 0, 1 on failure, 2 on a bad rate.
gx_ns_prio() {
	_gn=$(gx_ns_name "$1")
	_gx_ns_index "$1" >/dev/null || return 1
	_gb=$(_gx_ns_burst "$2") || { _gx_ns_err "gx_ns_prio: bad rate '$2' (e.g. 100mbit)"; return 2; }
	_gq=${3:-170}
	_gx_ns_tc -n "$_gn" qdisc replace dev wan root handle 1: htb default 11 &&
		_gx_ns_tc -n "$_gn" class add dev wan parent 1: classid 1:1 htb rate "$2" ceil "$2" \
			burst "$_gb" cburst "$_gb" quantum 1514 || return 1
	for _gk in 1 2 3 4; do
		_gx_ns_tc -n "$_gn" class add dev wan parent 1:1 classid "1:1$_gk" htb rate 8kbit \
			ceil "$2" burst "$_gb" cburst "$_gb" prio "$((_gk - 1))" quantum 1514 &&
			_gx_ns_tc -n "$_gn" qdisc add dev wan parent "1:1$_gk" handle "1$_gk:" \
				pfifo limit "$_gq" || return 1
	done
	# DS field (DSCP << 2): 0x28 AF11, 0x30 AF12, 0x38 and above
	for _gt in "0x28 0xfc 1:12" "0x30 0xfc 1:13" "0x38 0xf8 1:14" "0x40 0xc0 1:14" \
		"0x80 0x80 1:14"; do
		set -- $_gt
		_gx_ns_tc -n "$_gn" filter add dev wan parent 1: protocol ip prio 1 u32 \
			match ip tos "$1" "$2" flowid "$3" || return 1
	done
}

# _gx_ns_mesh_table [TABLE] — prints geomx-netem's table: a site for each DC
# (its address, a /32) and the center (the rest of $GX_NS_NET), then TABLE.
_gx_ns_mesh_table() {
	echo "site center $GX_NS_NET.0.0/16"
	_gi=0
	for _gd in $GX_NS_DCS; do
		echo "site $_gd $GX_NS_NET.$((_gi + 1)).2/32"
		_gi=$((_gi + 1))
	done
	[ -z "${1:-}" ] || cat "$1"
}

# _gx_ns_mesh_where MSG FILE [TABLE] — MSG, one of geomx-netem's, with
# "FILE:LINE:" (the table _gx_ns_mesh_table wrote) made TABLE's own name
# and line (less the site lines before it).
_gx_ns_mesh_where() {
	echo "$1" | awk -v f="$2:" -v t="${3:-table}" -v k="$(($(echo "$GX_NS_DCS" | wc -w) + 1))" '{
		i = index($0, f)
		if (i && match(substr($0, i + length(f)), /^[0-9]+:/))
			$0 = substr($0, 1, i - 1) t ":" (substr($0, i + length(f), RLENGTH - 1) - k) \
				substr($0, i + length(f) + RLENGTH - 1)
		print
	}'
}

# gx_ns_mesh [TABLE] — the packet-level WAN: every DC reaches every other
# DC and the center, and every packet between them (both ways) goes through
# geomx-netem in the center, which gives it the link of its pair from TABLE
# (a file of lines "A B KEY=VALUE..." or "A > B KEY=VALUE...", A and B
# being DC names, "center" or "*"; geomx-netem(1) lists the keys; no TABLE
# or an empty one: every packet passes untouched). How: a TUN device
# "gxem" in the center; policy rules send what arrives from a DC's link,
# and what the center sends to a DC, to a table whose only route is the
# device, and the local table is looked up after them, so packets to the
# center's own address go through the device too (not those to the
# center's end of a DC's link, which ARP must find local); what geomx-netem writes
# back enters from the device, matches none of those rules and is routed
# (or delivered) as usual. Sites given to geomx-netem: each DC's address
# (a /32) and the center (the rest of $GX_NS_NET). Call after gx_ns_up,
# once. It runs with $GX_NS_NETEM_OPTS (default --realtime: SCHED_FIFO, so
# that busy processes beside it, the job's workers, do not delay its
# packets). Its statistics go to $GX_NS_NETEM_STATS when set, its messages to
# $GX_NS_NETEM_LOG (default a file of the run's, which gx_ns_mesh_reload
# reads); GX_NS_NETEM_PID is its pid, GX_NS_NETEM_TABLE the table file it
# reads (gx_ns_mesh_reload replaces it), and gx_ns_down ends it with the
# rest and removes the files. Status 0; 1 with a message (the emulator's
# own when it refused the table).
gx_ns_mesh() {
	[ "$GX_NS_UP" = 1 ] || { _gx_ns_err "gx_ns_mesh: gx_ns_up first"; return 1; }
	[ -z "${GX_NS_NETEM_PID:-}" ] || { _gx_ns_err "gx_ns_mesh: already meshed"; return 1; }
	command -v geomx-netem >/dev/null 2>&1 || { _gx_ns_err "gx_ns_mesh: geomx-netem not on PATH"; return 1; }
	_gc=$(gx_ns_name center)
	_gt=$(mktemp "${TMPDIR:-/tmp}/gx-netem.XXXXXX") || return 1
	_gx_ns_mesh_table "${1:-}" >"$_gt" || { rm -f "$_gt"; return 1; }
	if ! _gw=$(geomx-netem --check --table "$_gt" 2>&1 >/dev/null); then
		_gx_ns_err "gx_ns_mesh: $(_gx_ns_mesh_where "$(echo "$_gw" | head -n 1)" "$_gt" "${1:-}")"
		rm -f "$_gt"
		return 1
	fi
	# Early demux would tie a packet that arrives from a DC's link to the
	# center's socket before routing sends it to the device, and the kernel
	# does not forward a packet tied to a socket: off.
	for _gs in net.ipv4.ip_forward=1 net.ipv4.ip_early_demux=0 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.accept_local=1 \
		net.ipv4.conf.default.accept_local=1; do
		ip netns exec "$_gc" sysctl -qw "$_gs" || { rm -f "$_gt"; return 1; }
	done
	_gx_ns_ip -n "$_gc" tuntap add dev gxem mode tun &&
		_gx_ns_ip -n "$_gc" link set gxem txqueuelen 10000 up &&
		_gx_ns_ip -n "$_gc" route add default dev gxem src "$GX_NS_NET.0.1" table 100 &&
		_gx_ns_ip -n "$_gc" rule add pref 100 lookup local &&
		_gx_ns_ip -n "$_gc" rule del pref 0 lookup local || { rm -f "$_gt"; return 1; }
	_gi=0
	for _gd in $GX_NS_DCS; do
		_gx_ns_ip -n "$_gc" rule add pref 5 to "$GX_NS_NET.$((_gi + 1)).1" lookup local &&
			_gx_ns_ip -n "$_gc" rule add pref 10 iif "wan$_gi" lookup 100 &&
			_gx_ns_ip -n "$_gc" rule add pref 20 iif lo to "$GX_NS_NET.$((_gi + 1)).2" lookup 100 ||
			{ rm -f "$_gt"; return 1; }
		_gi=$((_gi + 1))
	done
	_go="$_gt.out"
	GX_NS_NETEM_ERR=${GX_NS_NETEM_LOG:-$_gt.log}
	# shellcheck disable=SC2086 # the options are words on purpose
	ip netns exec "$_gc" geomx-netem --tun gxem --table "$_gt" ${GX_NS_NETEM_OPTS---realtime} \
		${GX_NS_NETEM_STATS:+--stats "$GX_NS_NETEM_STATS"} >"$_go" 2>"$GX_NS_NETEM_ERR" &
	GX_NS_NETEM_PID=$!
	_gi=0
	while [ ! -s "$_go" ] && kill -0 "$GX_NS_NETEM_PID" 2>/dev/null && [ $_gi -lt 300 ]; do
		sleep 0.05
		_gi=$((_gi + 1))
	done
	if [ ! -s "$_go" ]; then
		_gx_ns_err "gx_ns_mesh: geomx-netem did not start"
		rm -f "$_gt" "$_go" "$_gt.log"
		return 1
	fi
	rm -f "$_go"
	GX_NS_NETEM_TABLE=$_gt
	return 0
}

# gx_ns_mesh_reload [TABLE] — the running mesh's links become TABLE's (as
# gx_ns_mesh's TABLE; none: every packet passes), for the same data
# centers: the table file geomx-netem reads is replaced (written beside it,
# then renamed, so it never reads half of one), geomx-netem gets SIGHUP and
# reads it between two packets. Returns when geomx-netem has said so:
# status 0 when it took the table, 1 with its reason (TABLE:LINE: ...)
# when it refused it and runs on with the links it had, 1 when it said
# nothing within $GX_NS_TIMEOUT s. It needs geomx-netem's messages: no -q
# in GX_NS_NETEM_OPTS, and GX_NS_NETEM_LOG unset or a regular file.
gx_ns_mesh_reload() {
	[ -n "${GX_NS_NETEM_TABLE:-}" ] || { _gx_ns_err "gx_ns_mesh_reload: gx_ns_mesh first"; return 1; }
	[ -f "$GX_NS_NETEM_ERR" ] ||
		{ _gx_ns_err "gx_ns_mesh_reload: geomx-netem's messages go to $GX_NS_NETEM_ERR, not a file to read"; return 1; }
	# (its answers so far: this call's is the next one)
	_gn=$(grep -Ec 'table (not )?reloaded' "$GX_NS_NETEM_ERR")
	_gx_ns_mesh_table "${1:-}" >"$GX_NS_NETEM_TABLE.new" && mv -f "$GX_NS_NETEM_TABLE.new" "$GX_NS_NETEM_TABLE" ||
		{ rm -f "$GX_NS_NETEM_TABLE.new"; _gx_ns_err "gx_ns_mesh_reload: cannot write the table"; return 1; }
	kill -HUP "$GX_NS_NETEM_PID" 2>/dev/null ||
		{ _gx_ns_err "gx_ns_mesh_reload: geomx-netem ($GX_NS_NETEM_PID) is not running"; return 1; }
	_gi=0
	while [ "$(grep -Ec 'table (not )?reloaded' "$GX_NS_NETEM_ERR")" -le "$_gn" ] &&
		kill -0 "$GX_NS_NETEM_PID" 2>/dev/null && [ $_gi -lt $((GX_NS_TIMEOUT * 20)) ]; do
		sleep 0.05
		_gi=$((_gi + 1))
	done
	_gw=$(grep -E 'table (not )?reloaded' "$GX_NS_NETEM_ERR" | sed -n "$((_gn + 1))p")
	case $_gw in
	*"table reloaded"*) return 0 ;;
	"") _gx_ns_err "gx_ns_mesh_reload: geomx-netem said nothing of the table within ${GX_NS_TIMEOUT}s" ;;
	*) _gx_ns_err "gx_ns_mesh_reload: $(_gx_ns_mesh_where "${_gw#*: }" "$GX_NS_NETEM_TABLE" "${1:-}")" ;;
	esac
	return 1
}

# gx_ns_pids — prints the pids of every process inside this run's
# namespaces, one a line.
gx_ns_pids() {
	for _gn in $(gx_ns_list); do _gx_ns_ip netns pids "$_gn" 2>/dev/null; done
}

# gx_ns_down — ends every process inside this run's namespaces (TERM, then
# KILL after 3 s; children of this shell are reaped) and deletes the
# namespaces, with their veth pairs. Idempotent; safe in an EXIT trap and
# after a partial gx_ns_up. Status 1 when something could not be removed.
gx_ns_down() {
	_gr=0
	_gp=$(gx_ns_pids)
	if [ -n "$_gp" ]; then
		# shellcheck disable=SC2086
		kill -TERM $_gp 2>/dev/null
		_gi=0
		while [ -n "$(gx_ns_pids)" ] && [ $_gi -lt 30 ]; do sleep 0.1; _gi=$((_gi + 1)); done
		_gq=$(gx_ns_pids)
		if [ -n "$_gq" ]; then
			# shellcheck disable=SC2086
			kill -KILL $_gq 2>/dev/null
			_gi=0
			while [ -n "$(gx_ns_pids)" ] && [ $_gi -lt 30 ]; do sleep 0.1; _gi=$((_gi + 1)); done
		fi
		_gq=$(gx_ns_pids)
		if [ -n "$_gq" ]; then
			_gx_ns_err "processes survive SIGKILL in $GX_NS_PREFIX-*: $(echo "$_gq" | tr '\n' ' ')"
			_gr=1
		else
			# Every one has ended (a zombie has left its namespace): reap
			# those that were this shell's children; wait returns at once
			# for the others.
			for _gq in $_gp; do wait "$_gq" 2>/dev/null; done
		fi
	fi
	for _gn in $(gx_ns_list); do
		_gx_ns_ip netns del "$_gn" 2>/dev/null || { _gx_ns_err "cannot delete namespace $_gn"; _gr=1; }
	done
	[ -z "${GX_NS_NETEM_TABLE:-}" ] ||
		rm -f "$GX_NS_NETEM_TABLE" "$GX_NS_NETEM_TABLE.new" "$GX_NS_NETEM_TABLE.log"
	GX_NS_DCS=""
	GX_NS_UP=0
	GX_NS_NETEM_PID=""
	GX_NS_NETEM_TABLE=""
	return $_gr
}
