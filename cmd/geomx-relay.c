/*
 * geomx-relay — the WAN gateway of a data center: forwards every TCP
 * connection it accepts to one far address, both ways, optionally over the
 * secure protocol, compressed with zstd, and through an emulated WAN link.
 * Prints the port it listens on, then serves until SIGINT or SIGTERM. See
 * geomx-relay(1); the engine is lib/relay (gx_relay.h), this file its options.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "geomx.h"

enum {
	OPT_LISTEN = 256, OPT_CONNECT, OPT_CTIMEOUT, OPT_QUEUE, OPT_MAX_CONNS, OPT_KEY, OPT_SECURE,
	OPT_HTIMEOUT, OPT_MAX_HS, OPT_GENKEY, OPT_PARTY, OPT_RANK, OPT_ZSTD, OPT_WAN, OPT_SEED, OPT_STATS,
	OPT_STATS_EVERY,
	/* the emulation flags: 4 kinds x (both, up, down), in this order */
	OPT_EMU
};
enum { EMU_RATE, EMU_DELAY, EMU_JITTER, EMU_LOSS, EMU__N };
static const char *const emu_name[EMU__N] = { "rate", "delay", "jitter", "loss" };

static void usage(void)
{
	printf("Usage: %s --listen HOST:PORT --connect HOST:PORT [OPTION]...\n"
	       "  or:  %s --genkey FILE [--key FILE --party P [--rank R]]\n"
	       "Forward every TCP connection accepted on --listen to --connect, both ways: the\n"
	       "WAN gateway of a data center. The link to the far side may be encrypted and\n"
	       "authenticated (--key), compressed (--zstd) and run through an emulated WAN\n"
	       "(--rate, --delay, --jitter, --loss). Prints the port it listens on as one\n"
	       "line on standard output, then serves until SIGINT or SIGTERM.\n\n",
	       cli_prog, cli_prog);
	printf("Forwarding:\n"
	       "      --listen HOST:PORT   where to accept connections (port 0: a free one)\n"
	       "      --connect HOST:PORT  where to forward each of them\n"
	       "      --connect-timeout SEC  how long to keep trying to reach --connect for a\n"
	       "                           connection before closing it (default %g)\n"
	       "      --queue BYTES        bytes queued per direction of a connection before\n"
	       "                           reading stops (default %uMi; raised to twice what\n"
	       "                           an emulated link holds in flight)\n"
	       "      --max-conns N        connections at a time; more are refused (default %d)\n",
	       GX_DEFAULT_CONNECT_TIMEOUT, GX_RELAY_DEF_QUEUE >> 20, GX_RELAY_DEF_MAX_CONNS);
	printf("Security:\n"
	       "      --key FILE           pre-shared key file (mode 0600), as geomx-ps --key\n"
	       "      --secure SIDE        which side speaks the secure protocol: connect\n"
	       "                           (default with --key), listen or both\n"
	       "      --handshake-timeout SEC  time for a secure handshake (default %g)\n"
	       "      --max-handshakes N   secure handshakes pending at a time; one more drops\n"
	       "                           the oldest from the busiest address (default %d)\n"
	       "      --genkey FILE        write a new random key to FILE (mode 0600), exit;\n"
	       "                           with --key and --party, party P's key derived from\n"
	       "                           it, with --rank too its worker R's (docs/security.md)\n",
	       GX_RELAY_DEF_HANDSHAKE_TIMEOUT, GX_RELAY_DEF_MAX_HS);
	printf("Compression:\n"
	       "      --zstd[=LEVEL]       compress what goes to the WAN side, decompress what\n"
	       "                           comes from it (level 1..19, default %d); the peer\n"
	       "                           relay needs --zstd too\n"
	       "      --wan SIDE           the WAN side, listen or connect (default: the\n"
	       "                           secure side, else connect)\n",
	       GX_RELAY_DEF_ZSTD);
	printf("WAN emulation (per direction of each connection):\n"
	       "      --rate RATE          link rate, e.g. 100mbit, 1gbit, 12.5MB (bits: bit\n"
	       "                           kbit mbit gbit tbit, kbps mbps gbps are bits too;\n"
	       "                           bytes: B kB MB GB KiB MiB GiB; per second; 0: none)\n"
	       "      --delay TIME         one-way delay, e.g. 25ms (units s, ms, us)\n"
	       "      --jitter TIME        the delay varies uniformly by up to this either way;\n"
	       "                           the order of bytes is kept\n"
	       "      --loss P             segment loss, e.g. 0.1%% or 0.001: a lost %d-byte\n"
	       "                           segment holds its stream for max(%d ms, the\n"
	       "                           emulated round trip), as TCP's retransmission\n"
	       "      --rate-up RATE, --delay-up TIME, --jitter-up TIME, --loss-up P\n"
	       "                           toward --connect only (override the above)\n"
	       "      --rate-down RATE, --delay-down TIME, --jitter-down TIME, --loss-down P\n"
	       "                           toward --listen only\n"
	       "      --seed N             seed of jitter and loss draws (default %d)\n",
	       GX_RELAY_SEGMENT, GX_RELAY_HOLD_MIN_MS, GX_RELAY_DEF_SEED);
	printf("Output and messages:\n"
	       "      --stats FILE         JSON lines of statistics, every --stats-every seconds\n"
	       "                           and at the end ('-': standard error)\n"
	       "      --stats-every SEC    seconds between statistics lines (default %g)\n"
	       "  -q, --quiet              print errors only\n"
	       "  -v, --verbose            a line per connection (twice: each of its steps)\n"
	       "  -h, --help               display this help and exit\n"
	       "  -V, --version            output version information and exit\n\n"
	       "Signals: SIGINT and SIGTERM close every connection, write the last statistics\n"
	       "and exit 0.\n"
	       "Environment: GEOMX_VERBOSE.\n"
	       "Exit status: 0 done (stopped by a signal, or --genkey wrote the key), 1 runtime\n"
	       "failure (cannot listen, cannot write the key or the statistics), 2 usage error\n"
	       "(bad flags, a refused key file). See %s(1).\n",
	       GX_RELAY_DEF_STATS_EVERY, cli_prog);
}

static struct {
	gx_relay_opts c;
	const char *genkey;
	long party, rank; /* --genkey: whose key to derive (-1: none) */
	const char *key_path;
	int secure_set; /* --secure given: -1 none */
	int wan_set;
	long zstd_level;
	/* emulation: [kind][0 both, 1 up, 2 down] */
	const char *emu[EMU__N][3];
} opt;

/* --genkey: a new key, or one derived from --key's; a CLI_* status. */
static int genkey(void)
{
	char err[512], kn[80];
	if (!opt.key_path) {
		if (gx_key_generate(opt.genkey, err, sizeof err) != 0) {
			cli_error("%s", err);
			return CLI_FAIL;
		}
		cli_info("wrote a new key to %s", opt.genkey);
		return CLI_OK;
	}
	gx_key from, k, want;
	cli_load_key(opt.key_path, &from);
	memset(&want, 0, sizeof want);
	want.scope = opt.rank >= 0 ? GX_KEY_WORKER : GX_KEY_PARTY;
	want.party = (uint32_t)opt.party;
	want.rank = (uint32_t)(opt.rank >= 0 ? opt.rank : 0);
	char wn[80];
	gx_key_name(&want, wn, sizeof wn);
	gx_key_name(&from, kn, sizeof kn);
	int rc = gx_key_derive(&from, want.scope, want.party, want.rank, &k);
	explicit_bzero(&from, sizeof from);
	if (rc) {
		cli_error("%s holds %s, which cannot give %s", opt.key_path, kn, wn);
		return CLI_USAGE;
	}
	rc = gx_key_save(opt.genkey, &k, err, sizeof err);
	explicit_bzero(&k, sizeof k);
	if (rc) {
		cli_error("%s", err);
		return CLI_FAIL;
	}
	cli_info("wrote %s to %s", wn, opt.genkey);
	return CLI_OK;
}

static void parse_addr(const char *flag, const char *s, char *host, size_t hostcap, int *port,
		       int lo)
{
	if (gx_net_split(s, host, hostcap, port) != 0 || *port < lo)
		cli_usage_error("invalid --%s '%s' (want HOST:PORT, port %d..65535)", flag, s, lo);
}

static double parse_seconds(const char *flag, const char *s)
{
	double v;
	if (cli_parse_double(s, &v) || !(v > 0) || v > 1e6)
		cli_usage_error("invalid --%s '%s' (want seconds, more than 0)", flag, s);
	return v;
}

/* The emulation of direction d from the flags (a direction's own flag
 * wins over the common one). */
static void resolve_emu(int d)
{
	gx_relay_link *s = &opt.c.link[d];
	static const char *const dn[2] = { "-up", "-down" };
	for (int k = 0; k < EMU__N; k++) {
		const char *v = opt.emu[k][1 + d] ? opt.emu[k][1 + d] : opt.emu[k][0];
		const char *suf = opt.emu[k][1 + d] ? dn[d] : "";
		if (!v)
			continue;
		int bad;
		switch (k) {
		case EMU_RATE:
			bad = gx_relay_parse_rate(v, &s->rate);
			if (bad)
				cli_usage_error("invalid --rate%s '%s' (want a rate with its unit, e.g. "
						"100mbit, 1gbit or 12.5MB; 1kbit to 10tbit, or 0)", suf, v);
			break;
		case EMU_DELAY:
		case EMU_JITTER:
			bad = gx_relay_parse_time(v, k == EMU_DELAY ? &s->delay_ns : &s->jitter_ns);
			if (bad)
				cli_usage_error("invalid --%s%s '%s' (want a time with its unit, e.g. "
						"25ms, 0.5s or 800us; at most 60s)", emu_name[k], suf, v);
			break;
		default:
			bad = gx_relay_parse_loss(v, &s->loss);
			if (bad)
				cli_usage_error("invalid --loss%s '%s' (want a fraction or a percentage "
						"below 100%%, e.g. 0.001 or 0.1%%)", suf, v);
			break;
		}
	}
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", 1, 0, OPT_LISTEN }, { "connect", 1, 0, OPT_CONNECT },
		{ "connect-timeout", 1, 0, OPT_CTIMEOUT }, { "queue", 1, 0, OPT_QUEUE },
		{ "max-conns", 1, 0, OPT_MAX_CONNS }, { "key", 1, 0, OPT_KEY },
		{ "secure", 1, 0, OPT_SECURE }, { "handshake-timeout", 1, 0, OPT_HTIMEOUT },
		{ "max-handshakes", 1, 0, OPT_MAX_HS }, { "genkey", 1, 0, OPT_GENKEY },
		{ "party", 1, 0, OPT_PARTY }, { "rank", 1, 0, OPT_RANK },
		{ "zstd", 2, 0, OPT_ZSTD }, { "wan", 1, 0, OPT_WAN }, { "seed", 1, 0, OPT_SEED },
		{ "stats", 1, 0, OPT_STATS }, { "stats-every", 1, 0, OPT_STATS_EVERY },
		{ "rate", 1, 0, OPT_EMU + 0 }, { "rate-up", 1, 0, OPT_EMU + 1 },
		{ "rate-down", 1, 0, OPT_EMU + 2 }, { "delay", 1, 0, OPT_EMU + 3 },
		{ "delay-up", 1, 0, OPT_EMU + 4 }, { "delay-down", 1, 0, OPT_EMU + 5 },
		{ "jitter", 1, 0, OPT_EMU + 6 }, { "jitter-up", 1, 0, OPT_EMU + 7 },
		{ "jitter-down", 1, 0, OPT_EMU + 8 }, { "loss", 1, 0, OPT_EMU + 9 },
		{ "loss-up", 1, 0, OPT_EMU + 10 }, { "loss-down", 1, 0, OPT_EMU + 11 },
		{ "quiet", 0, 0, 'q' }, { "verbose", 0, 0, 'v' }, { "help", 0, 0, 'h' },
		{ "version", 0, 0, 'V' }, { 0, 0, 0, 0 }
	};
	gx_relay_opts *c = &opt.c;
	gx_relay_opts_default(c);
	opt.secure_set = -1;
	opt.wan_set = -1;
	opt.party = opt.rank = -1;
	int c_, max_conns_set = 0;
	long v;
	uint64_t u;
	while ((c_ = getopt_long(argc, argv, "qvhV", lo, NULL)) != -1) {
		switch (c_) {
		case OPT_LISTEN:
			parse_addr("listen", optarg, c->listen_host, sizeof c->listen_host,
				   &c->listen_port, 0);
			c->listen_s = optarg;
			break;
		case OPT_CONNECT:
			parse_addr("connect", optarg, c->connect_host, sizeof c->connect_host,
				   &c->connect_port, 1);
			c->connect_s = optarg;
			break;
		case OPT_CTIMEOUT:
			c->connect_timeout = parse_seconds("connect-timeout", optarg);
			break;
		case OPT_HTIMEOUT:
			c->handshake_timeout = parse_seconds("handshake-timeout", optarg);
			break;
		case OPT_STATS_EVERY:
			c->stats_every = parse_seconds("stats-every", optarg);
			break;
		case OPT_QUEUE:
			if (cli_parse_count(optarg, &u) || u < (128u << 10) || u > (1ull << 30))
				cli_usage_error("invalid --queue '%s' (want bytes, 128Ki to 1Gi)", optarg);
			c->queue[GX_RELAY_UP] = c->queue[GX_RELAY_DOWN] = (size_t)u;
			break;
		case OPT_MAX_CONNS:
			if (cli_parse_int(optarg, 1, 1000000, &v))
				cli_usage_error("invalid --max-conns '%s' (want 1..1000000)", optarg);
			c->max_conns = (int)v;
			max_conns_set = 1;
			break;
		case OPT_MAX_HS:
			if (cli_parse_int(optarg, 1, 65536, &v))
				cli_usage_error("invalid --max-handshakes '%s' (want 1..65536)", optarg);
			c->max_handshakes = (int)v;
			break;
		case OPT_KEY:
			opt.key_path = optarg;
			break;
		case OPT_GENKEY:
			opt.genkey = optarg;
			break;
		case OPT_PARTY:
		case OPT_RANK:
			if (cli_parse_int(optarg, 0, UINT32_MAX, &v))
				cli_usage_error("invalid --%s '%s'", c_ == OPT_PARTY ? "party" : "rank",
						optarg);
			*(c_ == OPT_PARTY ? &opt.party : &opt.rank) = v;
			break;
		case OPT_SECURE:
			if (!strcmp(optarg, "listen"))
				opt.secure_set = GX_RELAY_NEAR;
			else if (!strcmp(optarg, "connect"))
				opt.secure_set = GX_RELAY_FAR;
			else if (!strcmp(optarg, "both"))
				opt.secure_set = 2;
			else
				cli_usage_error("invalid --secure '%s' (want listen, connect or both)",
						optarg);
			break;
		case OPT_WAN:
			if (!strcmp(optarg, "listen"))
				opt.wan_set = GX_RELAY_NEAR;
			else if (!strcmp(optarg, "connect"))
				opt.wan_set = GX_RELAY_FAR;
			else
				cli_usage_error("invalid --wan '%s' (want listen or connect)", optarg);
			break;
		case OPT_ZSTD:
			if (optarg && cli_parse_int(optarg, 1, 19, &v))
				cli_usage_error("invalid --zstd level '%s' (want 1..19)", optarg);
			c->zstd = 1;
			c->zstd_level = optarg ? (int)v : GX_RELAY_DEF_ZSTD;
			break;
		case OPT_SEED:
			if (cli_parse_count(optarg, &u))
				cli_usage_error("invalid --seed '%s' (want a whole number)", optarg);
			c->seed = u;
			break;
		case OPT_STATS:
			if (!*optarg)
				cli_usage_error("invalid --stats '' (want a file, or '-')");
			c->stats_path = optarg;
			break;
		case 'q': cli_verbosity = 0; break;
		case 'v': cli_verbosity++; break;
		case 'h': usage(); exit(CLI_OK);
		case 'V': cli_print_version(); exit(CLI_OK);
		default:
			if (c_ >= OPT_EMU && c_ < OPT_EMU + 3 * EMU__N) {
				opt.emu[(c_ - OPT_EMU) / 3][(c_ - OPT_EMU) % 3] = optarg;
				break;
			}
			cli_bad_option();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (opt.genkey) {
		if (c->listen_s || c->connect_s)
			cli_usage_error("--genkey FILE takes no --listen or --connect");
		if (!opt.key_path != (opt.party < 0))
			cli_usage_error("--genkey derives a key with both --key FILE and --party P");
		if (opt.rank >= 0 && opt.party < 0)
			cli_usage_error("--rank goes with --party");
		return;
	}
	if (opt.party >= 0 || opt.rank >= 0)
		cli_usage_error("--party and --rank go with --genkey");
	if (!c->listen_s)
		cli_usage_error("missing --listen HOST:PORT");
	if (!c->connect_s)
		cli_usage_error("missing --connect HOST:PORT");
	if (opt.secure_set >= 0 && !opt.key_path)
		cli_usage_error("--secure needs --key FILE");
	if (opt.wan_set >= 0 && !c->zstd)
		cli_usage_error("--wan says where --zstd applies: give --zstd too");
	for (int d = 0; d < 2; d++)
		resolve_emu(d);

	if (opt.key_path) {
		cli_load_key(opt.key_path, &c->key);
		int s = opt.secure_set >= 0 ? opt.secure_set : GX_RELAY_FAR;
		c->secure[GX_RELAY_NEAR] = s == GX_RELAY_NEAR || s == 2;
		c->secure[GX_RELAY_FAR] = s == GX_RELAY_FAR || s == 2;
	}
	if (opt.wan_set >= 0)
		c->wan = opt.wan_set;
	else
		c->wan = c->secure[GX_RELAY_NEAR] && !c->secure[GX_RELAY_FAR] ? GX_RELAY_NEAR : GX_RELAY_FAR;

	/* Each connection takes two descriptors. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * (rlim_t)c->max_conns + 64) {
			int m = rl.rlim_cur > 96 ? (int)((rl.rlim_cur - 64) / 2) : 16;
			if (max_conns_set)
				cli_warn("--max-conns %d lowered to %d: %llu descriptors allowed",
					 c->max_conns, m, (unsigned long long)rl.rlim_cur);
			c->max_conns = m;
		}
	}
}

static volatile sig_atomic_t stop_sig;
static gx_relay *the_relay;

static void on_stop(int sig)
{
	if (cli_stop_again()) { /* a second signal: no more patience */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	if (stop_sig)
		return;
	stop_sig = sig;
	if (the_relay)
		gx_relay_stop(the_relay);
}

/* The relay's lines: "PROG: message", level 0 always, the others up to the
 * verbosity (1 default, 2 -v, 3 -vv). */
static void relay_log(void *ud, int level, const char *msg)
{
	(void)ud;
	if (level == GX_LOG_ERROR || level <= cli_verbosity)
		fprintf(stderr, "%s: %s\n", cli_prog, msg);
}

/* One line saying what this relay does, for -v. */
static void say_setup(const gx_relay_opts *c, int port)
{
	static const char *const sn[2] = { "listen", "connect" };
	char sec[64] = "no encryption", zs[48] = "no compression", emu[2][160];
	if (c->secure[GX_RELAY_NEAR] || c->secure[GX_RELAY_FAR])
		snprintf(sec, sizeof sec, "secure on the %s side%s",
			 c->secure[GX_RELAY_NEAR] && c->secure[GX_RELAY_FAR] ? "listen and connect" :
			 sn[c->secure[GX_RELAY_NEAR] ? GX_RELAY_NEAR : GX_RELAY_FAR], c->secure[GX_RELAY_NEAR] && c->secure[GX_RELAY_FAR] ? "s" : "");
	if (c->zstd)
		snprintf(zs, sizeof zs, "zstd level %d on the %s side", c->zstd_level, sn[c->wan]);
	for (int d = 0; d < 2; d++) {
		const gx_relay_link *s = &c->link[d];
		char rate[32] = "unlimited";
		if (s->rate > 0)
			gx_relay_fmt_rate(rate, sizeof rate, s->rate);
		snprintf(emu[d], sizeof emu[d], "%s, delay %g ms, jitter %g ms, loss %g%%, queue %zu",
			 rate, (double)s->delay_ns / 1e6, (double)s->jitter_ns / 1e6, s->loss * 100,
			 c->queue[d]);
	}
	if (cli_verbosity < 2)
		return;
	fprintf(stderr, "%s: port %d, forwarding to %s; %s; %s; up: %s; down: %s; seed %llu\n", cli_prog, port,
	     c->connect_s, sec, zs, emu[GX_RELAY_UP], emu[GX_RELAY_DOWN], (unsigned long long)c->seed);
}

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	argv[0] = (char *)cli_prog; /* getopt names the program by argv[0] */
	parse_args(argc, argv);
	if (opt.genkey)
		return genkey();

	signal(SIGPIPE, SIG_IGN);
	opt.c.log = relay_log;
	opt.c.log_level = cli_verbosity;
	gx_relay *r = gx_relay_create(&opt.c, NULL);
	explicit_bzero(&opt.c.key, sizeof opt.c.key);
	if (!r)
		return CLI_FAIL;
	the_relay = r;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	printf("%d\n", gx_relay_port(r));
	if (fflush(stdout) != 0) {
		cli_error("write error on standard output: %s", strerror(errno));
		the_relay = NULL;
		gx_relay_free(r);
		return CLI_FAIL;
	}
	say_setup(&opt.c, gx_relay_port(r));
	int rc = gx_relay_run(r);
	const char *why = stop_sig == SIGINT ? "stopped by SIGINT" : stop_sig ? "stopped by SIGTERM"
									     : "event loop failed";
	if (rc)
		cli_error("the event loop failed: %s", strerror(errno));
	gx_relay_close(r, why);
	/* on_stop stays installed to the end (cli.h, cli_stop_again) */
	the_relay = NULL;
	gx_relay_free(r);
	if (rc)
		return CLI_FAIL;
	if (cli_verbosity >= 2)
		fprintf(stderr, "%s: %s\n", cli_prog, why);
	return CLI_OK;
}
