/*
 * geomx-bench — measurements of libgeomx on this machine.
 *
 *   geomx-bench codec [OPTION]...   encode/decode throughput of each codec (cmd/geomx-bench/codec.c)
 *   geomx-bench gen --count N ...   random float32 test data on stdout
 *   geomx-bench worker --ps ADDR    a synthetic worker (cmd/geomx-bench/worker.c)
 *   geomx-bench ps [OPTION]...      a PS topology on loopback vs TCP (cmd/geomx-bench/ps.c)
 *   geomx-bench relay [OPTION]...   a stream through geomx-relay pairs vs TCP (cmd/geomx-bench/relay.c)
 *   geomx-bench link MODE ...       a network link probe: serve, rtt, udp, tcp (cmd/geomx-bench/link.c)
 *
 * Every throughput is also given as a ratio to memcpy of the same number of
 * bytes, timed in the same run and interleaved with the op it is compared to,
 * because absolute figures on a shared machine mean little. The methodology
 * is in man/man1/geomx-bench.1 and docs/benchmarks.md.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "geomx.h"

/* Defaults, used by the code and printed by the help text. */
#define DEF_SEED 1
#define DEF_SCALE 1.0
#define SPARSE_DENSITY 0.01 /* gen --dist sparse: fraction of nonzeros */


static const struct option top_long[] = {
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{NULL, 0, NULL, 0},
};

static void top_help(void)
{
	printf("Usage: %s COMMAND [OPTION]...\n"
	       "Measure libgeomx on this machine.\n"
	       "\n"
	       "Commands:\n"
	       "  codec   encode and decode throughput of each codec, as ratios to memcpy\n"
	       "  gen     write random little-endian float32 test data to stdout\n"
	       "  link    probe a network link: a server, and round-trip times, UDP loss and\n"
	       "          one-way delays, TCP throughput against it\n"
	       "  ps      push+pull throughput of a parameter-server topology on loopback,\n"
	       "          as a ratio to a plain TCP stream\n"
	       "  relay   throughput of a stream through geomx-relay pairs (plain, encrypted,\n"
	       "          compressed) on loopback, as a ratio to a plain TCP stream\n"
	       "  worker  a synthetic worker: deterministic gradients to a parameter server\n"
	       "\n"
	       "Options:\n"
	       "  -q, --quiet     fewer messages on stderr\n"
	       "  -v, --verbose   more messages on stderr\n"
	       "  -h, --help      show this help and exit\n"
	       "  -V, --version   show the version and exit\n"
	       "\n"
	       "'%s COMMAND --help' shows the options of a command.\n"
	       "Exit status: 0 ok, 1 failure (a codec failed or decoded wrongly, I/O error,\n"
	       "a parameter server failed or refused the worker, a relay failed, a link\n"
	       "probe got no answer), 2 usage.\n",
	       cli_prog, cli_prog);
}

/* --------------------------------------------------------------------- gen */

enum { OPT_SEED = 256, OPT_SCALE };

static const struct option gen_long[] = {
	{"count", required_argument, NULL, 'n'},
	{"dist", required_argument, NULL, 'd'},
	{"seed", required_argument, NULL, OPT_SEED},
	{"scale", required_argument, NULL, OPT_SCALE},
	{"force", no_argument, NULL, 'f'},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void gen_help(void)
{
	printf("Usage: %s gen --count N [OPTION]...\n"
	       "Write N random little-endian float32 values to stdout.\n"
	       "\n"
	       "  -n, --count N       how many floats (required); 1e6, 10M, 64Ki accepted\n"
	       "  -d, --dist DIST     normal (mean 0, deviation SCALE), uniform (in\n"
	       "                      [-SCALE, SCALE)) or sparse (%g%% normal, the rest 0)\n"
	       "                      (default: normal)\n"
	       "      --seed N        seed; the same seed gives the same bytes (default: %d)\n"
	       "      --scale X       scale, > 0 (default: %g)\n"
	       "  -f, --force         write to a terminal anyway\n"
	       "  -q, --quiet         fewer messages on stderr\n"
	       "  -v, --verbose       more messages on stderr\n"
	       "  -h, --help          show this help and exit\n"
	       "  -V, --version       show the version and exit\n",
	       cli_prog, SPARSE_DENSITY * 100, DEF_SEED, DEF_SCALE);
}

enum { D_NORMAL, D_UNIFORM, D_SPARSE };

static int cmd_gen(int argc, char **argv)
{
	uint64_t count = 0, seed = DEF_SEED;
	int have_count = 0, dist = D_NORMAL, force = 0, c;
	double scale = DEF_SCALE;

	while ((c = getopt_long(argc, argv, "n:d:fqvhV", gen_long, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (cli_parse_count(optarg, &count))
				cli_usage_error("invalid --count '%s'", optarg);
			have_count = 1;
			break;
		case 'd':
			if (!strcmp(optarg, "normal"))
				dist = D_NORMAL;
			else if (!strcmp(optarg, "uniform"))
				dist = D_UNIFORM;
			else if (!strcmp(optarg, "sparse"))
				dist = D_SPARSE;
			else
				cli_usage_error("invalid --dist '%s' (want normal, uniform or sparse)", optarg);
			break;
		case OPT_SEED:
			if (cli_parse_count(optarg, &seed))
				cli_usage_error("invalid --seed '%s'", optarg);
			break;
		case OPT_SCALE:
			if (cli_parse_double(optarg, &scale) || !(scale > 0))
				cli_usage_error("invalid --scale '%s' (want a number > 0)", optarg);
			break;
		case 'f':
			force = 1;
			break;
		case 'q':
			if (cli_verbosity > 0)
				cli_verbosity--;
			break;
		case 'v':
			cli_verbosity++;
			break;
		case 'h':
			gen_help();
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
	if (!have_count)
		cli_usage_error("missing --count");
	if (cli_refuse_binary_tty(1, force))
		return CLI_FAIL;
	cli_info("gen: %llu floats, seed %llu, scale %g", (unsigned long long)count,
		 (unsigned long long)seed, scale);

	gx_rng r;
	gx_rng_seed(&r, seed);
	enum { CHUNK = 16384 };
	static uint8_t buf[CHUNK * 4];
	float s = (float)scale;
	for (uint64_t done = 0; done < count;) {
		size_t m = count - done < CHUNK ? (size_t)(count - done) : CHUNK;
		for (size_t i = 0; i < m; i++) {
			float v;
			if (dist == D_NORMAL)
				v = s * gx_rng_normal(&r);
			else if (dist == D_UNIFORM)
				v = s * (2 * gx_rng_float(&r) - 1);
			else
				v = gx_rng_float(&r) < SPARSE_DENSITY ? s * gx_rng_normal(&r) : 0.0f;
			uint32_t u;
			memcpy(&u, &v, 4);
			buf[4 * i] = (uint8_t)u;
			buf[4 * i + 1] = (uint8_t)(u >> 8);
			buf[4 * i + 2] = (uint8_t)(u >> 16);
			buf[4 * i + 3] = (uint8_t)(u >> 24);
		}
		if (gx_write_full(1, buf, m * 4)) {
			cli_error("write error on stdout: %s", strerror(errno));
			return CLI_FAIL;
		}
		done += m;
	}
	return CLI_OK;
}

/* -------------------------------------------------------------------- main */

int cmd_codec(int argc, char **argv);  /* cmd/geomx-bench/codec.c */
int cmd_worker(int argc, char **argv); /* cmd/geomx-bench/worker.c */
int cmd_ps(int argc, char **argv);     /* cmd/geomx-bench/ps.c */
int cmd_relay(int argc, char **argv);  /* cmd/geomx-bench/relay.c */
int cmd_link(int argc, char **argv);   /* cmd/geomx-bench/link.c */

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	/* getopt_long names argv[0] in its messages: make it the short name. */
	argv[0] = (char *)cli_prog;
	int c;
	while ((c = getopt_long(argc, argv, "+qvhV", top_long, NULL)) != -1) {
		switch (c) {
		case 'q':
			if (cli_verbosity > 0)
				cli_verbosity--;
			break;
		case 'v':
			cli_verbosity++;
			break;
		case 'h':
			top_help();
			return CLI_OK;
		case 'V':
			cli_print_version();
			return CLI_OK;
		default:
			cli_bad_option();
		}
	}
	if (optind >= argc)
		cli_usage_error("missing command (codec, gen, link, ps, relay or worker)");
	const char *cmd = argv[optind];
	char **sub = argv + optind;
	int subc = argc - optind;
	sub[0] = (char *)cli_prog;
	optind = 0; /* glibc: full reinitialisation for the command's options */
	if (!strcmp(cmd, "codec"))
		return cmd_codec(subc, sub);
	if (!strcmp(cmd, "gen"))
		return cmd_gen(subc, sub);
	if (!strcmp(cmd, "worker"))
		return cmd_worker(subc, sub);
	if (!strcmp(cmd, "ps"))
		return cmd_ps(subc, sub);
	if (!strcmp(cmd, "relay"))
		return cmd_relay(subc, sub);
	if (!strcmp(cmd, "link"))
		return cmd_link(subc, sub);
	cli_usage_error("unknown command '%s' (codec, gen, link, ps, relay or worker)", cmd);
}
