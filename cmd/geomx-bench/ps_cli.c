/*
 * ps_cli.c — `geomx-bench ps`: its options and help (geomx-bench(1)); the
 * run itself is ps.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "geomx.h"
#include "ps_internal.h"
#include "ps_opts.h"

/* --------------------------------------------------------------- options */

enum {
	OPT_WORKERS = 256, OPT_KEYS, OPT_SIZE, OPT_PARTIES, OPT_SERVERS, OPT_ROUNDS,
	OPT_MIN_TIME, OPT_REPEAT, OPT_FORMAT, OPT_PS_BIN, OPT_SPLIT, OPT_BLOCK, OPT_KEY, OPT_INSECURE
};

static const struct option ps_long[] = {
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"keys", required_argument, NULL, OPT_KEYS},
	{"size", required_argument, NULL, OPT_SIZE},
	{"parties", required_argument, NULL, OPT_PARTIES},
	{"servers", required_argument, NULL, OPT_SERVERS},
	{"rounds", required_argument, NULL, OPT_ROUNDS},
	{"min-time", required_argument, NULL, OPT_MIN_TIME},
	{"repeat", required_argument, NULL, OPT_REPEAT},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"ps-bin", required_argument, NULL, OPT_PS_BIN},
	{"split-bound", required_argument, NULL, OPT_SPLIT},
	{"block", required_argument, NULL, OPT_BLOCK},
	{"insecure", no_argument, NULL, OPT_INSECURE},
	{"key", required_argument, NULL, OPT_KEY},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void ps_help(void)
{
	printf("Usage: %s ps [OPTION]...\n"
	       "Measure push+pull throughput through a real HiPS topology on loopback: global\n"
	       "and local geomx-ps processes, W worker threads with their own clients. In the\n"
	       "same run, a plain TCP stream of the same bytes on 127.0.0.1 is the baseline,\n"
	       "and the same rounds through four forwarding-only hops (client, forwarder,\n"
	       "echo) the bound, passing pieces on as they come and, store-and-forward,\n"
	       "whole messages; PS, TCP and chain samples alternate and the medians are\n"
	       "compared.\n"
	       "\n"
	       "  -w, --workers W     workers, spread over the parties (default: %d)\n"
	       "  -k, --keys K        tensors per worker, all in flight each round (default: %d)\n"
	       "  -s, --size S        floats per tensor; 1e6, 10M, 1Mi accepted (default: 1Mi)\n"
	       "  -p, --parties P     data centers: local servers (default: %d)\n"
	       "      --servers N     global servers (default: %d)\n"
	       "  -r, --rounds R      timed rounds in all, after a warm-up round\n"
	       "  -t, --min-time SEC  instead of --rounds: enough rounds for SEC seconds\n"
	       "                      (default: %g)\n"
	       "      --repeat N      samples of each, PS and TCP, taking turns (default: %d)\n"
	       "      --split-bound N local servers split tensors above N floats over the\n"
	       "                      global servers (default: %u)\n"
	       "      --block N       tensors travel in blocks of at most N floats, each passed\n"
	       "                      on while the next arrives (default: %u; 0: whole)\n"
	       "      --key FILE      the job's key file: every link (workers, servers) is\n"
	       "                      authenticated and encrypted (default: $GEOMX_KEY)\n"
	       "      --insecure      without a key: plaintext links (a warning; also\n"
	       "                      GEOMX_INSECURE=1); with neither, it refuses to run\n"
	       "      --format FMT    tsv (with a header line) or json (default: tsv)\n"
	       "      --ps-bin PATH   the geomx-ps program (default: $GEOMX_PS, else the one\n"
	       "                      next to this program, else geomx-ps in PATH)\n"
	       "  -q, --quiet         fewer messages on stderr (servers: errors only)\n"
	       "  -v, --verbose       more messages on stderr (each sample)\n"
	       "  -h, --help          show this help and exit\n"
	       "  -V, --version       show the version and exit\n"
	       "\n"
	       "Columns: workers keys size parties servers rounds reps round_ms rounds_per_s\n"
	       "ps_mbps tcp_mbps x_tcp chain_mbps x_chain bytes_per_round sf_mbps x_sf\n"
	       "block_mbps x_block opt_mbps x_opt\n"
	       "(ps_mbps: gradient bytes pushed plus parameter bytes received per second,\n"
	       "summed over the workers, in 10^6 bytes/s; tcp_mbps: the baseline stream;\n"
	       "x_tcp: ps_mbps / tcp_mbps; chain_mbps: the same rounds through four\n"
	       "forwarding-only hops, the bound of any synchronous two-tier server here;\n"
	       "x_chain: ps_mbps / chain_mbps; sf_mbps: the chain store-and-forward, each\n"
	       "hop passing a round's message on once all of it is in, the bound of\n"
	       "servers that handle each tensor as one frame; x_sf: ps_mbps / sf_mbps;\n"
	       "block_mbps: the chain passing pieces of the --block size on once each is\n"
	       "in, the bound of servers that handle each block as one frame; x_block:\n"
	       "ps_mbps / block_mbps; opt_mbps: the same with an SGD step at the echo on\n"
	       "each block, the bound of servers that apply an optimizer; x_opt:\n"
	       "ps_mbps / opt_mbps).\n",
	       cli_prog, DEF_WORKERS, DEF_KEYS, DEF_PARTIES, DEF_SERVERS, DEF_MIN_TIME, DEF_REPEAT,
	       GX_DEFAULT_SPLIT_BOUND, GX_DEFAULT_BLOCK);
}

int cmd_ps(int argc, char **argv)
{
	struct popts o;
	memset(&o, 0, sizeof o);
	o.workers = DEF_WORKERS;
	o.keys = DEF_KEYS;
	o.size = DEF_SIZE;
	o.parties = DEF_PARTIES;
	o.servers = DEF_SERVERS;
	o.repeat = DEF_REPEAT;
	o.min_time = DEF_MIN_TIME;
	o.split_bound = GX_DEFAULT_SPLIT_BOUND;
	o.block = GX_DEFAULT_BLOCK;
	int c, have_rounds = 0, have_time = 0;
	long lv;
	double dv;
	uint64_t uv;

	while ((c = getopt_long(argc, argv, "w:k:s:p:r:t:qvhV", ps_long, NULL)) != -1) {
		switch (c) {
		case 'w':
		case OPT_WORKERS:
			if (cli_parse_int(optarg, 1, MAX_PEERS, &lv))
				cli_usage_error("invalid --workers '%s' (want 1 to %d)", optarg, MAX_PEERS);
			o.workers = (int)lv;
			break;
		case 'k':
		case OPT_KEYS:
			if (cli_parse_count(optarg, &uv) || uv == 0 || uv > MAX_KEYS)
				cli_usage_error("invalid --keys '%s' (want 1 to %d)", optarg, MAX_KEYS);
			o.keys = (size_t)uv;
			break;
		case 's':
		case OPT_SIZE:
			if (cli_parse_count(optarg, &o.size) || o.size == 0 || o.size > MAX_FLOATS)
				cli_usage_error("invalid --size '%s' (want 1 to %llu floats)", optarg,
						(unsigned long long)MAX_FLOATS);
			break;
		case 'p':
		case OPT_PARTIES:
			if (cli_parse_int(optarg, 1, MAX_PEERS, &lv))
				cli_usage_error("invalid --parties '%s' (want 1 to %d)", optarg, MAX_PEERS);
			o.parties = (int)lv;
			break;
		case OPT_SERVERS:
			if (cli_parse_int(optarg, 1, MAX_PEERS, &lv))
				cli_usage_error("invalid --servers '%s' (want 1 to %d)", optarg, MAX_PEERS);
			o.servers = (int)lv;
			break;
		case 'r':
		case OPT_ROUNDS:
			if (cli_parse_int(optarg, 1, MAX_ROUNDS, &lv))
				cli_usage_error("invalid --rounds '%s' (want 1 to %ld)", optarg, MAX_ROUNDS);
			o.rounds = lv;
			have_rounds = 1;
			break;
		case 't':
		case OPT_MIN_TIME:
			if (cli_parse_double(optarg, &dv) || dv < 0 || dv > 3600)
				cli_usage_error("invalid --min-time '%s' (want 0 to 3600 seconds)", optarg);
			o.min_time = dv;
			have_time = 1;
			break;
		case OPT_REPEAT:
			if (cli_parse_int(optarg, 1, 1000, &lv))
				cli_usage_error("invalid --repeat '%s' (want 1 to 1000)", optarg);
			o.repeat = lv;
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "json"))
				o.json = 1;
			else if (!strcmp(optarg, "tsv"))
				o.json = 0;
			else
				cli_usage_error("invalid --format '%s' (want tsv or json)", optarg);
			break;
		case OPT_PS_BIN:
			if (!*optarg)
				cli_usage_error("invalid --ps-bin '' (want a program)");
			o.ps_bin = optarg;
			break;
		case OPT_SPLIT:
			if (cli_parse_count(optarg, &o.split_bound) || o.split_bound == 0)
				cli_usage_error("invalid --split-bound '%s' (want a number of floats > 0)",
						optarg);
			break;
		case OPT_BLOCK:
			if (cli_parse_count(optarg, &uv) || uv > UINT32_MAX)
				cli_usage_error("invalid --block '%s' (want a number of floats, 0 for "
						"whole tensors)", optarg);
			o.block = (uint32_t)uv;
			break;
		case OPT_KEY:
			o.key_file = optarg;
			break;
		case OPT_INSECURE:
			o.insecure = 1;
			break;
		case 'q':
			if (cli_verbosity > 0)
				cli_verbosity--;
			break;
		case 'v':
			cli_verbosity++;
			break;
		case 'h':
			ps_help();
			return CLI_OK;
		case 'V':
			cli_print_version();
			return CLI_OK;
		default:
			cli_bad_option();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (have_rounds && have_time)
		cli_usage_error("--rounds and --min-time exclude each other");
	if (o.parties > o.workers)
		cli_usage_error("--parties %d needs at least as many --workers (got %d)", o.parties,
				o.workers);
	if ((uint64_t)o.workers * o.keys * o.size > MAX_TOTAL)
		cli_usage_error("workers x keys x size is %llu floats (at most %llu)",
				(unsigned long long)((uint64_t)o.workers * o.keys * o.size),
				(unsigned long long)MAX_TOTAL);
	/* the servers are given the same file, or --insecure */
	const char *kp = o.key_file ? o.key_file : cli_env("KEY");
	o.key_file = cli_secure_key(o.key_file, o.insecure, &o.key) ? kp : NULL;
	o.insecure = !o.key_file;
	return ps_run(&o);
}
