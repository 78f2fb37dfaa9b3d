/*
 * geomx-netem — a packet-level WAN emulator: IP packets routed into a TUN
 * device get the delay, jitter, loss, rate and queue of the link between
 * their sites, and the rate and queue of the sites' access links, and are
 * written back into it (lib/relay/netem.c). The table of sites and links
 * comes from --table files and --line lines, in the order given.
 * scripts/netns.sh (gx_ns_mesh) makes the device and the routes that send
 * data-center traffic through it; see geomx-netem(1).
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "geomx.h"

enum { OPT_TUN = 256, OPT_TABLE, OPT_LINE, OPT_SEED, OPT_STATS, OPT_STATS_EVERY, OPT_MAX_PACKETS,
       OPT_CHECK, OPT_REALTIME };
#define DEF_RT_PRIORITY 10 /* SCHED_FIFO: above every normal process, below the kernel's threads */

static void usage(void)
{
	printf("Usage: %s --tun DEVICE (--table FILE | --line TEXT)... [OPTION]...\n"
	       "  or:  %s --check (--table FILE | --line TEXT)...\n"
	       "Emulate WAN links between sites at the level of IP packets: every packet the\n"
	       "kernel routes into the TUN device DEVICE gets the one-way delay, jitter, loss,\n"
	       "rate and queue of the link from its source's site to its destination's, and is\n"
	       "written back into the device when its time comes. Prints the device's name as\n"
	       "one line on standard output once attached, then runs until SIGINT or SIGTERM.\n\n",
	       cli_prog, cli_prog);
	printf("The table (one entry a line; # starts a comment; later lines win):\n"
	       "  site NAME PREFIX...       a site: IPv4 addresses or prefixes, e.g. 10.1.0.0/16\n"
	       "  A B KEY=VALUE...          the links A -> B and B -> A (A, B: sites or *)\n"
	       "  A > B KEY=VALUE...        the link A -> B only\n"
	       "  access SITE [in|out] rate=RATE [queue=BYTES|TIME]\n"
	       "                            SITE's access link: one bottleneck shared by all\n"
	       "                            traffic into (in) or out of (out) the site, both\n"
	       "                            ways when neither is said; rate=0 removes it\n"
	       "Keys of a link (all optional; an unnamed pair passes untouched):\n"
	       "  delay=TIME                one-way delay, e.g. 25ms (units s, ms, us)\n"
	       "  jitter=TIME               uniform in [-TIME, +TIME], at most the delay; the\n"
	       "                            order of packets is kept\n"
	       "  rate=RATE                 e.g. 100mbit, 1gbit, 12.5MB (per second)\n"
	       "  queue=BYTES|TIME          drop-tail bound on what waits for the rate, e.g.\n"
	       "                            256KiB or 20ms (default %d ms at the rate, at least\n"
	       "                            %d bytes)\n"
	       "  loss=P                    independent loss, e.g. 1%% or 0.01\n"
	       "  ge=P_GB,P_BG[,BAD[,GOOD]] Gilbert-Elliott burst loss instead: the chance to\n"
	       "                            enter and to leave the bad state per packet, and\n"
	       "                            the loss in the bad and good states (default 1, 0)\n"
	       "  reorder=P                 a packet skips the delay and jitter (it overtakes\n"
	       "                            those still held)\n"
	       "A packet from A to B crosses A's out access link, the link A -> B (its delay\n"
	       "is the propagation), then B's in access link: each where set (an unnamed pair\n"
	       "too crosses its sites' access links), each met when the packet leaves the one\n"
	       "before. An access link adds only its rate and its queue (the same keys and\n"
	       "default as a link's).\n\n",
	       GX_NETEM_DEF_QUEUE_MS, GX_NETEM_MIN_QUEUE);
	printf("Options:\n"
	       "      --tun DEVICE          the TUN device to attach to (made by `ip tuntap\n"
	       "                            add DEVICE mode tun`, or made now)\n"
	       "      --table FILE          table lines from FILE ('-': standard input)\n"
	       "      --line TEXT           one table line\n"
	       "      --check               read the table, print it as understood, exit\n"
	       "      --realtime[=PRIO]     run under SCHED_FIFO at PRIO (1-99, default %d), so\n"
	       "                            busy processes beside it do not delay its packets;\n"
	       "                            without the right to, a warning and normal\n"
	       "                            scheduling\n"
	       "      --seed N              seed of the jitter, loss and reorder draws\n"
	       "                            (default %d)\n"
	       "      --max-packets N       packets held at once; more are dropped (default %d)\n"
	       "      --stats FILE          TSV of each direction's counts (in, out, lost,\n"
	       "                            dropped by the queue, overflow, reordered) and of\n"
	       "                            each access link's (src or dst *), every\n"
	       "                            --stats-every seconds and at the end\n"
	       "      --stats-every SEC     (default %g)\n"
	       "  -q, --quiet               print errors only\n"
	       "  -v, --verbose             more messages\n"
	       "  -h, --help                display this help and exit\n"
	       "  -V, --version             output version information and exit\n\n"
	       "Signals: SIGINT and SIGTERM drop what is held, write the last statistics and\n"
	       "exit 0. SIGHUP reads the table again (the same --table files and --line\n"
	       "texts, in order) and switches to it between two packets; one that does not\n"
	       "parse or names other sites is refused in one line, and the running one stays.\n"
	       "Exit status: 0 done, 1 runtime failure (cannot attach to the device, read\n"
	       "it, or open the statistics file), 2 usage error (bad flags, a bad table\n"
	       "line). See %s(1).\n",
	       DEF_RT_PRIORITY, GX_RELAY_DEF_SEED, GX_NETEM_DEF_MAX_PACKETS, GX_NETEM_DEF_STATS_EVERY,
	       cli_prog);
}

static gx_netem *the_emu;
static volatile sig_atomic_t stop_sig, reload_asked;

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
	if (the_emu)
		gx_netem_stop(the_emu);
}

/* SIGHUP: the reload is the engine's thread's (on_wake), between packets;
 * here only the flag and the wake. */
static void on_hup(int sig)
{
	(void)sig;
	reload_asked = 1;
	if (the_emu)
		gx_netem_wake(the_emu);
}

static void emu_log(void *ud, int level, const char *msg)
{
	(void)ud;
	if (level == GX_LOG_ERROR || level <= cli_verbosity)
		fprintf(stderr, "%s: %s\n", cli_prog, msg);
}

/* The table's sources as the command line gives them, in order: read
 * once at the start and again at each SIGHUP, by the same code. Standard
 * input cannot be read twice: what came from it is kept (text). */
typedef struct source {
	const char *arg; /* the --table FILE or the --line TEXT */
	int is_file;
	char *text;      /* --table -: what standard input held */
	size_t len;
} source;
static source *sources;
static int nsources;

/* Standard input, whole, into src (at the start, once per --table -). */
static int slurp_stdin(source *src)
{
	size_t cap = 0;
	for (;;) {
		if (cap - src->len < 4096) {
			char *b = realloc(src->text, cap = cap ? cap * 2 : 65536);
			if (!b)
				return -1;
			src->text = b;
		}
		size_t r = fread(src->text + src->len, 1, cap - src->len, stdin);
		src->len += r;
		if (r == 0)
			return ferror(stdin) ? -1 : 0;
	}
}

/* The lines of f (named name) into t: 0, or -1 with "NAME:LINE: reason"
 * in err. */
static int add_lines(gx_netem_table *t, FILE *f, const char *name, char *err, size_t cap)
{
	char buf[1100], why[256];
	long n = 0;
	while (fgets(buf, sizeof buf, f)) {
		n++;
		size_t len = strlen(buf);
		if (len == sizeof buf - 1 && buf[len - 1] != '\n') {
			snprintf(err, cap, "%s:%ld: line too long", name, n);
			return -1;
		}
		if (gx_netem_table_line(t, buf, why, sizeof why)) {
			snprintf(err, cap, "%s:%ld: %s", name, n, why);
			return -1;
		}
	}
	if (ferror(f)) {
		snprintf(err, cap, "cannot read table %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

/* Every source, in order, into t: 0, or -1 with one line in err naming
 * where and why. */
static int read_table(gx_netem_table *t, char *err, size_t cap)
{
	for (int i = 0; i < nsources; i++) {
		const source *src = &sources[i];
		char why[256];
		if (!src->is_file) {
			if (gx_netem_table_line(t, src->arg, why, sizeof why)) {
				snprintf(err, cap, "--line '%s': %s", src->arg, why);
				return -1;
			}
			continue;
		}
		if (!strcmp(src->arg, "-") && src->len == 0)
			continue; /* (fmemopen refuses an empty buffer) */
		FILE *f = strcmp(src->arg, "-") ? fopen(src->arg, "r")
						: fmemopen(src->text, src->len, "r");
		if (!f) {
			snprintf(err, cap, "cannot read table %s: %s", src->arg, strerror(errno));
			return -1;
		}
		int rc = add_lines(t, f, src->arg, err, cap);
		fclose(f);
		if (rc)
			return -1;
	}
	return 0;
}

static void free_sources(void)
{
	for (int i = 0; i < nsources; i++)
		free(sources[i].text);
	free(sources);
}

/* Directions with a link and access links in t. */
static int count_links(const gx_netem_table *t)
{
	int n = gx_netem_table_sites(t), links = 0;
	for (int a = 0; a < n; a++) {
		for (int b = 0; b < n; b++)
			links += gx_netem_table_link(t, a, b) != NULL;
		links += (gx_netem_table_access(t, a, GX_NETEM_IN) != NULL) +
			 (gx_netem_table_access(t, a, GX_NETEM_OUT) != NULL);
	}
	return links;
}

/* The engine woke for a SIGHUP: the sources read again and, when they
 * parse and name the same sites, the engine switched to them; else the
 * running table stays, and the reason is said. */
static void on_wake(void *ud, gx_netem *e)
{
	(void)ud;
	if (!reload_asked)
		return;
	reload_asked = 0; /* a SIGHUP from now on asks for another reload */
	char err[1400];
	gx_netem_table *t = gx_netem_table_new();
	if (!t)
		cli_error("table not reloaded: out of memory");
	else if (read_table(t, err, sizeof err) || gx_netem_reload(e, t, err, sizeof err))
		cli_error("table not reloaded: %s", err);
	else
		cli_warn("table reloaded: %d links", count_links(t));
	gx_netem_table_free(t);
}

/* --check: every direction that has a link, then every access link, one
 * line each. */
static void print_table(const gx_netem_table *t)
{
	int n = gx_netem_table_sites(t);
	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++) {
			const gx_netem_link *l = gx_netem_table_link(t, a, b);
			if (!l)
				continue;
			char rate[32] = "unlimited";
			if (l->l.rate > 0)
				gx_relay_fmt_rate(rate, sizeof rate, l->l.rate);
			printf("%s > %s: delay %g ms, jitter %g ms, rate %s, queue %llu bytes, ",
			       gx_netem_table_site(t, a), gx_netem_table_site(t, b),
			       (double)l->l.delay_ns / 1e6, (double)l->l.jitter_ns / 1e6, rate,
			       (unsigned long long)l->queue);
			if (l->ge.p_gb > 0)
				printf("burst loss (p_gb %g, p_bg %g, bad %g, good %g), ", l->ge.p_gb,
				       l->ge.p_bg, l->ge.loss_bad, l->ge.loss_good);
			else
				printf("loss %g%%, ", l->l.loss * 100);
			printf("reorder %g%%\n", l->reorder * 100);
		}
	static const char *const way_name[2] = { [GX_NETEM_IN] = "in", [GX_NETEM_OUT] = "out" };
	for (int a = 0; a < n; a++)
		for (int w = GX_NETEM_IN; w <= GX_NETEM_OUT; w++) {
			const gx_netem_link *l = gx_netem_table_access(t, a, w);
			if (!l)
				continue;
			char rate[32];
			gx_relay_fmt_rate(rate, sizeof rate, l->l.rate);
			printf("access %s %s: rate %s, queue %llu bytes\n", gx_netem_table_site(t, a),
			       way_name[w], rate, (unsigned long long)l->queue);
		}
}

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	argv[0] = (char *)cli_prog;
	static const struct option longs[] = {
		{ "tun", 1, 0, OPT_TUN },         { "table", 1, 0, OPT_TABLE },
		{ "line", 1, 0, OPT_LINE },       { "seed", 1, 0, OPT_SEED },
		{ "stats", 1, 0, OPT_STATS },     { "stats-every", 1, 0, OPT_STATS_EVERY },
		{ "max-packets", 1, 0, OPT_MAX_PACKETS }, { "check", 0, 0, OPT_CHECK },
		{ "realtime", 2, 0, OPT_REALTIME },
		{ "quiet", 0, 0, 'q' },           { "verbose", 0, 0, 'v' },
		{ "help", 0, 0, 'h' },            { "version", 0, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	gx_netem_opts o;
	gx_netem_opts_default(&o);
	int check = 0, c;
	long rt = 0;
	uint64_t u;
	sources = calloc((size_t)argc, sizeof *sources);
	if (!sources) {
		cli_error("out of memory");
		return CLI_FAIL;
	}
	while ((c = getopt_long(argc, argv, "qvhV", longs, NULL)) != -1) {
		switch (c) {
		case OPT_TUN:
			if (!*optarg || strlen(optarg) > 15 || strchr(optarg, '/') || strchr(optarg, ' '))
				cli_usage_error("invalid --tun '%s' (a device name of 1 to 15 characters)",
						optarg);
			o.tun = optarg;
			break;
		case OPT_TABLE:
		case OPT_LINE:
			sources[nsources].arg = optarg;
			sources[nsources].is_file = c == OPT_TABLE;
			if (c == OPT_TABLE && !strcmp(optarg, "-") && slurp_stdin(&sources[nsources]))
				cli_usage_error("cannot read table -: %s", strerror(errno));
			nsources++;
			break;
		case OPT_SEED:
			if (cli_parse_count(optarg, &o.seed))
				cli_usage_error("invalid --seed '%s'", optarg);
			break;
		case OPT_STATS:
			o.stats_path = optarg;
			break;
		case OPT_STATS_EVERY:
			if (cli_parse_double(optarg, &o.stats_every) || !(o.stats_every >= 0.01))
				cli_usage_error("invalid --stats-every '%s' (want seconds, at least 0.01)",
						optarg);
			break;
		case OPT_MAX_PACKETS:
			if (cli_parse_count(optarg, &u) || u < 1 || u > (1u << 24))
				cli_usage_error("invalid --max-packets '%s' (want 1 to %u)", optarg,
						1u << 24);
			o.max_packets = (size_t)u;
			break;
		case OPT_CHECK:
			check = 1;
			break;
		case OPT_REALTIME:
			rt = DEF_RT_PRIORITY;
			if (optarg && cli_parse_int(optarg, 1, 99, &rt))
				cli_usage_error("invalid --realtime '%s' (want a priority, 1 to 99)", optarg);
			break;
		case 'q':
			if (cli_verbosity > 0)
				cli_verbosity--;
			break;
		case 'v':
			cli_verbosity++;
			break;
		case 'h':
			usage();
			free_sources();
			return CLI_OK;
		case 'V':
			cli_print_version();
			free_sources();
			return CLI_OK;
		default:
			cli_bad_option();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!nsources)
		cli_usage_error("no table (--table FILE or --line TEXT)");
	gx_netem_table *t = gx_netem_table_new();
	if (!t) {
		cli_error("out of memory");
		return CLI_FAIL;
	}
	char err[1400];
	if (read_table(t, err, sizeof err))
		cli_usage_error("%s", err);
	if (check) {
		print_table(t);
		gx_netem_table_free(t);
		free_sources();
		return CLI_OK;
	}
	if (!o.tun)
		cli_usage_error("missing --tun DEVICE");

	signal(SIGPIPE, SIG_IGN);
	if (rt) {
		struct sched_param sp = { .sched_priority = (int)rt };
		if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
			cli_warn("--realtime: cannot run under SCHED_FIFO (%s); normal scheduling",
				 strerror(errno));
	}
	o.log = emu_log;
	o.wake = on_wake;
	gx_netem *e = gx_netem_create(&o, t, NULL);
	gx_netem_table_free(t);
	if (!e) {
		free_sources();
		return CLI_FAIL;
	}
	the_emu = e;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	printf("%s\n", o.tun);
	if (fflush(stdout) != 0) {
		cli_error("write error on standard output: %s", strerror(errno));
		the_emu = NULL;
		gx_netem_free(e);
		free_sources();
		return CLI_FAIL;
	}
	int rc = gx_netem_run(e);
	/* on_stop stays installed to the end (cli.h, cli_stop_again) */
	the_emu = NULL;
	gx_netem_free(e);
	free_sources();
	if (rc)
		return CLI_FAIL;
	cli_info("stopped by %s", stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
	return CLI_OK;
}
