/*
 * worker.c — `geomx-bench worker`: a synthetic worker for tests and
 * benchmarks. It registers K tensors with a parameter server (the local PS
 * of its data center, or the global servers in flat mode), then for R
 * rounds pushes a gradient per tensor and receives the updated parameters.
 *
 * Everything is deterministic so an independent oracle can recompute the
 * run exactly: the gradient of key k at round r for (party p, rank w) is
 *   g[i] = ((i*7 + k*13 + r*5 + p*11 + w*3) mod 64 - 32) / 64
 * (multiples of 1/64 in [-0.5, 0.484375], exact in float32), and the
 * parameters the global tier kept at init are written out (--dump). The
 * initial values depend on (seed, party, rank) unless --same-init, so a run
 * with several workers shows that the global keeps one INIT and every worker
 * starts from it. With --objective quadratic the gradient depends on the
 * parameters instead: g[i] = w[i] - t[i], the gradient of the convex
 * 0.5 * |w - t|^2 towards a target t[i] = ((i*7 + k*13 + w*3) mod 64 - 32) / 64
 * of the rank (not the party), so a job converges to the mean target over
 * the ranks whether its data centers synchronize or not. See
 * geomx-bench(1), "worker".
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli.h"
#include "geomx.h"

/* Parameters are written as little-endian float32 by copying them. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "geomx-bench needs a little-endian host"
#endif

int cmd_worker(int argc, char **argv);

#define DEF_KEYS 1
#define DEF_SIZE 1024
#define DEF_ROUNDS 10
#define DEF_SEED 1
#define MAX_KEYS 65536
#define MAX_FLOATS (1ull << 26)   /* per key: one frame stays under the default payload limit */
#define MAX_TOTAL (1ull << 28)    /* floats over all keys */
#define MAX_ROUNDS 100000000L
#define MAX_SLEEP_MS 3600000L

enum {
	OPT_PS = 256, OPT_RANK, OPT_PARTY, OPT_KEYS, OPT_SIZE, OPT_SIZES, OPT_ROUNDS, OPT_SEED,
	OPT_SAME_INIT, OPT_SPLIT, OPT_SLEEP, OPT_DUMP, OPT_REPORT, OPT_CTIMEOUT, OPT_OBJECTIVE, OPT_KEY,
	OPT_HB, OPT_HBTIMEOUT, OPT_RTIMEOUT, OPT_RESTARTED, OPT_INSECURE
};

/* What the gradients are: fixed values, or those of a convex objective. */
enum { OBJ_SYNTHETIC, OBJ_QUADRATIC };

static const struct option worker_long[] = {
	{"ps", required_argument, NULL, OPT_PS},
	{"rank", required_argument, NULL, OPT_RANK},
	{"party", required_argument, NULL, OPT_PARTY},
	{"keys", required_argument, NULL, OPT_KEYS},
	{"size", required_argument, NULL, OPT_SIZE},
	{"sizes", required_argument, NULL, OPT_SIZES},
	{"rounds", required_argument, NULL, OPT_ROUNDS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"same-init", no_argument, NULL, OPT_SAME_INIT},
	{"split-bound", required_argument, NULL, OPT_SPLIT},
	{"sleep", required_argument, NULL, OPT_SLEEP},
	{"dump", required_argument, NULL, OPT_DUMP},
	{"report", no_argument, NULL, OPT_REPORT},
	{"connect-timeout", required_argument, NULL, OPT_CTIMEOUT},
	{"heartbeat", required_argument, NULL, OPT_HB},
	{"heartbeat-timeout", required_argument, NULL, OPT_HBTIMEOUT},
	{"reconnect-timeout", required_argument, NULL, OPT_RTIMEOUT},
	{"restarted", no_argument, NULL, OPT_RESTARTED},
	{"insecure", no_argument, NULL, OPT_INSECURE},
	{"objective", required_argument, NULL, OPT_OBJECTIVE},
	{"key", required_argument, NULL, OPT_KEY},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{NULL, 0, NULL, 0},
};

static void worker_help(void)
{
	printf("Usage: %s worker --ps HOST:PORT[,HOST:PORT...] [OPTION]...\n"
	       "Run a synthetic worker: register tensors with a parameter server, then push\n"
	       "deterministic gradients and receive the updated parameters, round by round.\n"
	       "\n"
	       "      --ps LIST        the local PS of this data center, or in flat mode the\n"
	       "                       global servers in index order (required)\n"
	       "      --rank R         this worker's rank in its party (default: 0)\n"
	       "      --party P        this worker's data center (default: 0)\n"
	       "      --keys K         number of tensors, keys 0..K-1 (default: %d)\n"
	       "      --size N         floats per tensor (default: %d)\n"
	       "      --sizes N1,N2,.. one tensor per size, instead of --keys and --size\n"
	       "      --rounds R       training rounds (default: %d); a worker that replaces\n"
	       "                       a dead one (--elastic) does those from the round it\n"
	       "                       joins at\n"
	       "      --seed S         seed of the initial values (default: %d)\n"
	       "      --same-init      initial values from the seed alone; by default they\n"
	       "                       depend on seed, party and rank\n"
	       "      --split-bound N  flat mode: tensors above N floats are split over the\n"
	       "                       servers (default: %u)\n"
	       "      --sleep MS       sleep MS milliseconds before each round's pushes\n"
	       "                       (simulated compute; a slow data center) (default: 0)\n"
	       "      --objective NAME synthetic: the fixed gradients below; quadratic: the\n"
	       "                       gradient w - t of 0.5*|w - t|^2, t the rank's target\n"
	       "                       (default: synthetic)\n"
	       "      --dump FILE      append \"round key crc32c\" per key and round to FILE;\n"
	       "                       write the parameters after init to FILE.init and at\n"
	       "                       the end to FILE.final (raw float32, key order)\n"
	       "      --report         a TSV line per round on stdout: round keys bytes_out\n"
	       "                       bytes_in crc32c round_ms end_unix_s (with a header\n"
	       "                       line)\n"
	       "      --connect-timeout SEC\n"
	       "                       keep trying to reach the servers this long (default: %g)\n"
	       "      --heartbeat SEC  send a heartbeat after SEC idle seconds (default: %g)\n"
	       "      --heartbeat-timeout SEC\n"
	       "                       a server silent this long is dead (default: %g)\n"
	       "      --reconnect-timeout SEC\n"
	       "                       a broken link to the local server may take this long\n"
	       "                       to come back, what it had not answered sent again; 0:\n"
	       "                       never (default: %g)\n"
	       "      --restarted      this worker's process was restarted: it takes its place\n"
	       "                       back (its local server kept it) and goes on from there\n"
	       "      --key FILE       key file (the job's, the party's or this worker's):\n"
	       "                       authenticate and encrypt the link (default: $GEOMX_KEY)\n"
	       "      --insecure       without a key: a plaintext link (a warning; also\n"
	       "                       GEOMX_INSECURE=1); with neither, the worker refuses\n"
	       "  -q, --quiet          fewer messages on stderr\n"
	       "  -v, --verbose        more messages on stderr\n"
	       "  -h, --help           show this help and exit\n"
	       "  -V, --version        show the version and exit\n"
	       "\n"
	       "Gradient of key k at round r for party p, rank w, element i:\n"
	       "  ((i*7 + k*13 + r*5 + p*11 + w*3) mod 64 - 32) / 64\n"
	       "With --objective quadratic: param[i] - t[i], where (any party)\n"
	       "  t[i] = ((i*7 + k*13 + w*3) mod 64 - 32) / 64\n"
	       "Priority of key k is k (earlier layers first); all keys of a round are pushed\n"
	       "before the round is waited for.\n",
	       cli_prog, DEF_KEYS, DEF_SIZE, DEF_ROUNDS, DEF_SEED, GX_DEFAULT_SPLIT_BOUND,
	       GX_DEFAULT_CONNECT_TIMEOUT, GX_DEFAULT_HEARTBEAT, GX_DEFAULT_HEARTBEAT_TIMEOUT,
	       GX_DEFAULT_RECONNECT_TIMEOUT);
}

static float grad(uint64_t i, uint64_t k, uint64_t r, uint64_t p, uint64_t w)
{
	return (float)((int)((i * 7 + k * 13 + r * 5 + p * 11 + w * 3) % 64) - 32) / 64.0f;
}

/* The quadratic objective's target of key k, element i, for rank w. */
static float target(uint64_t i, uint64_t k, uint64_t w)
{
	return (float)((int)((i * 7 + k * 13 + w * 3) % 64) - 32) / 64.0f;
}

/* Writes n floats of each key, in key order, to path atomically. */
static int write_params(const char *path, float *const *params, const uint64_t *sizes, size_t nkeys)
{
	char tmp[4200];
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	if (fd < 0) {
		cli_error("worker: cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t k = 0; k < nkeys; k++)
		if (gx_write_full(fd, params[k], sizes[k] * 4) != 0) {
			cli_error("worker: cannot write %s: %s", path, strerror(errno));
			gx_atomic_abort(fd, tmp);
			return -1;
		}
	if (gx_atomic_commit(fd, tmp, path) != 0) {
		cli_error("worker: cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int parse_sizes(const char *s, uint64_t **out, size_t *n)
{
	char *copy = strdup(s);
	if (!copy)
		return -1;
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += *p == ',';
	uint64_t *v = malloc(cap * sizeof *v);
	int rc = v ? 0 : -1;
	size_t m = 0;
	for (char *tok = copy, *next; rc == 0 && tok; tok = next) {
		next = strchr(tok, ',');
		if (next)
			*next++ = '\0';
		if (cli_parse_count(tok, &v[m]) || v[m] == 0 || v[m] > MAX_FLOATS)
			rc = -1;
		m++;
	}
	free(copy);
	if (rc) {
		free(v);
		return -1;
	}
	*out = v;
	*n = m;
	return 0;
}

struct wopts {
	const char *ps, *dump;
	uint32_t rank, party;
	uint64_t *sizes;
	size_t nkeys;
	long rounds, sleep_ms;
	uint64_t seed, split_bound;
	int same_init, report, objective, restarted;
	double connect_timeout, heartbeat, heartbeat_timeout, reconnect_timeout;
	int have_key;
	gx_key key;
};

static int run(const struct wopts *o)
{
	char who[64];
	snprintf(who, sizeof who, "worker %u/%u", o->party, o->rank);
	int rc = CLI_FAIL, e;
	gx_kv *kv = NULL;
	FILE *dump = NULL;
	size_t nk = o->nkeys;
	uint64_t maxn = 0;
	uint32_t *keys = calloc(nk, sizeof *keys);
	float **params = calloc(nk, sizeof *params);
	gx_kv_req *reqs = calloc(nk, sizeof *reqs);
	float *g = NULL;
	char path[4096];

	if (!keys || !params || !reqs)
		goto oom;
	for (size_t k = 0; k < nk; k++) {
		keys[k] = (uint32_t)k;
		if (o->sizes[k] > maxn)
			maxn = o->sizes[k];
		params[k] = malloc(o->sizes[k] * sizeof(float));
		if (!params[k])
			goto oom;
	}
	g = malloc(maxn * sizeof(float));
	if (!g)
		goto oom;

	/* Initial values: normal deviates, one generator over the keys in order. */
	gx_rng rng;
	uint64_t s = o->seed;
	if (!o->same_init)
		s ^= ((uint64_t)o->party << 32 | o->rank) * 0x9E3779B97F4A7C15ull;
	gx_rng_seed(&rng, s);
	for (size_t k = 0; k < nk; k++)
		for (uint64_t i = 0; i < o->sizes[k]; i++)
			params[k][i] = gx_rng_normal(&rng);
	cli_info("%s: %zu keys, %ld rounds, seed %llu%s", who, nk, o->rounds,
		 (unsigned long long)o->seed, o->same_init ? " (same init for every worker)" : "");

	if (o->dump) {
		dump = fopen(o->dump, "w");
		if (!dump) {
			cli_error("worker: cannot create %s: %s", o->dump, strerror(errno));
			goto out;
		}
	}

	gx_kv_opts ko;
	gx_kv_opts_default(&ko);
	ko.servers = o->ps;
	ko.rank = o->rank;
	ko.party = o->party;
	ko.split_bound = o->split_bound;
	ko.connect_timeout = o->connect_timeout;
	ko.heartbeat = o->heartbeat;
	ko.heartbeat_timeout = o->heartbeat_timeout;
	ko.reconnect_timeout = o->reconnect_timeout;
	ko.restarted = o->restarted;
	uint8_t wk[32]; /* its own key, from the one given */
	ko.psk = cli_worker_key(o->have_key ? &o->key : NULL, o->party, o->rank, wk);
	ko.log = cli_log;
	ko.log_ud = who;
	kv = gx_kv_connect(&ko, &e);
	if (!kv) {
		cli_error("%s: cannot connect to %s: %s", who, o->ps, gx_strerror(e));
		goto out;
	}
	e = gx_kv_init(kv, nk, keys, o->sizes, params);
	if (e) {
		cli_error("%s: init failed: %s", who, gx_strerror(e));
		goto out;
	}
	if (o->dump) {
		snprintf(path, sizeof path, "%s.init", o->dump);
		if (write_params(path, params, o->sizes, nk))
			goto out;
	}
	if (o->report)
		printf("round\tkeys\tbytes_out\tbytes_in\tcrc32c\tround_ms\tend_unix_s\n");

	/* A worker that replaced a dead one (--elastic on its server) starts
	 * at the job's round, with that round's gradients. */
	long r0 = gx_kv_round(kv, keys[0]);
	gx_kv_info info;
	gx_kv_info_get(kv, &info);
	if (o->restarted)
		cli_info("%s: restarted at round %ld%s", who, r0, info.inside_step ? ", inside it"
										  : "");
	else if (r0 > 0)
		cli_info("%s: joins at round %ld", who, r0);
	for (long r = r0 > 0 ? r0 : 0; r < o->rounds; r++) {
		if (o->sleep_ms) {
			struct timespec ts = {o->sleep_ms / 1000, (o->sleep_ms % 1000) * 1000000L};
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
		uint64_t t_round = gx_now_ns();
		for (size_t k = 0; k < nk; k++) {
			if (o->objective == OBJ_QUADRATIC)
				for (uint64_t i = 0; i < o->sizes[k]; i++)
					g[i] = params[k][i] - target(i, k, o->rank);
			else
				for (uint64_t i = 0; i < o->sizes[k]; i++)
					g[i] = grad(i, k, (uint64_t)r, o->party, o->rank);
			reqs[k] = gx_kv_pushpull(kv, keys[k], g, params[k], (int)k);
			if (reqs[k] < 0) {
				cli_error("%s: round %ld, key %zu: %s", who, r, k, gx_strerror((int)reqs[k]));
				goto out;
			}
		}
		for (size_t k = 0; k < nk; k++) {
			e = gx_kv_wait(kv, reqs[k]);
			if (e) {
				cli_error("%s: round %ld, key %zu: %s", who, r, k, gx_strerror(e));
				goto out;
			}
		}
		uint32_t all = 0;
		for (size_t k = 0; k < nk; k++) {
			uint32_t c = gx_crc32c(0, params[k], o->sizes[k] * 4);
			all = gx_crc32c(all, params[k], o->sizes[k] * 4);
			if (dump)
				fprintf(dump, "%ld %zu %08x\n", r, k, c);
		}
		if (dump && fflush(dump) != 0) {
			cli_error("worker: cannot write %s: %s", o->dump, strerror(errno));
			goto out;
		}
		if (o->report) {
			uint64_t bo = 0, bi = 0;
			gx_kv_stats(kv, &bo, &bi);
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			/* the round's time, from its first push to its last answer,
			 * and when it ended in Unix time, so that the reports of a
			 * job's workers line up */
			printf("%ld\t%zu\t%llu\t%llu\t%08x\t%.3f\t%lld.%06ld\n", r, nk,
			       (unsigned long long)bo, (unsigned long long)bi, all,
			       (double)(gx_now_ns() - t_round) / 1e6, (long long)now.tv_sec,
			       now.tv_nsec / 1000);
			fflush(stdout);
		}
		cli_info("%s: round %ld done", who, r);
	}
	e = gx_kv_close(kv);
	kv = NULL;
	if (e) {
		cli_error("%s: goodbye failed: %s", who, gx_strerror(e));
		goto out;
	}
	if (o->dump) {
		snprintf(path, sizeof path, "%s.final", o->dump);
		if (write_params(path, params, o->sizes, nk))
			goto out;
	}
	rc = CLI_OK;
	goto out;
oom:
	cli_error("worker: out of memory");
out:
	gx_kv_free(kv);
	if (dump && fclose(dump) != 0 && rc == CLI_OK) {
		cli_error("worker: cannot write %s: %s", o->dump, strerror(errno));
		rc = CLI_FAIL;
	}
	if (params)
		for (size_t k = 0; k < nk; k++)
			free(params[k]);
	free(params);
	free(keys);
	free(reqs);
	free(g);
	return rc;
}

int cmd_worker(int argc, char **argv)
{
	struct wopts o;
	memset(&o, 0, sizeof o);
	o.rounds = DEF_ROUNDS;
	o.seed = DEF_SEED;
	o.split_bound = GX_DEFAULT_SPLIT_BOUND;
	o.connect_timeout = GX_DEFAULT_CONNECT_TIMEOUT;
	o.heartbeat = GX_DEFAULT_HEARTBEAT;
	o.heartbeat_timeout = GX_DEFAULT_HEARTBEAT_TIMEOUT;
	o.reconnect_timeout = GX_DEFAULT_RECONNECT_TIMEOUT;
	uint64_t nkeys = DEF_KEYS, size = DEF_SIZE;
	int have_kn = 0, c;
	long lv;
	double dv;

	const char *key_path = NULL;
	int insecure = 0;
	while ((c = getopt_long(argc, argv, "qvhV", worker_long, NULL)) != -1) {
		switch (c) {
		case OPT_PS:
			o.ps = optarg;
			break;
		case OPT_RANK:
			if (cli_parse_int(optarg, 0, INT32_MAX, &lv))
				cli_usage_error("invalid --rank '%s'", optarg);
			o.rank = (uint32_t)lv;
			break;
		case OPT_PARTY:
			if (cli_parse_int(optarg, 0, INT32_MAX, &lv))
				cli_usage_error("invalid --party '%s'", optarg);
			o.party = (uint32_t)lv;
			break;
		case OPT_KEYS:
			if (cli_parse_count(optarg, &nkeys) || nkeys == 0 || nkeys > MAX_KEYS)
				cli_usage_error("invalid --keys '%s' (want 1 to %d)", optarg, MAX_KEYS);
			have_kn = 1;
			break;
		case OPT_SIZE:
			if (cli_parse_count(optarg, &size) || size == 0 || size > MAX_FLOATS)
				cli_usage_error("invalid --size '%s' (want 1 to %llu floats)", optarg,
						(unsigned long long)MAX_FLOATS);
			have_kn = 1;
			break;
		case OPT_SIZES:
			free(o.sizes);
			o.sizes = NULL;
			if (parse_sizes(optarg, &o.sizes, &o.nkeys) || o.nkeys > MAX_KEYS)
				cli_usage_error("invalid --sizes '%s' (want N1,N2,... of 1 to %llu floats)",
						optarg, (unsigned long long)MAX_FLOATS);
			break;
		case OPT_ROUNDS:
			if (cli_parse_int(optarg, 0, MAX_ROUNDS, &lv))
				cli_usage_error("invalid --rounds '%s' (want 0 to %ld)", optarg, MAX_ROUNDS);
			o.rounds = lv;
			break;
		case OPT_SEED:
			if (cli_parse_count(optarg, &o.seed))
				cli_usage_error("invalid --seed '%s'", optarg);
			break;
		case OPT_SAME_INIT:
			o.same_init = 1;
			break;
		case OPT_SPLIT:
			if (cli_parse_count(optarg, &o.split_bound) || o.split_bound == 0)
				cli_usage_error("invalid --split-bound '%s' (want a number of floats > 0)",
						optarg);
			break;
		case OPT_SLEEP:
			if (cli_parse_int(optarg, 0, MAX_SLEEP_MS, &lv))
				cli_usage_error("invalid --sleep '%s' (want 0 to %ld ms)", optarg, MAX_SLEEP_MS);
			o.sleep_ms = lv;
			break;
		case OPT_DUMP:
			o.dump = optarg;
			break;
		case OPT_REPORT:
			o.report = 1;
			break;
		case OPT_OBJECTIVE:
			if (strcmp(optarg, "synthetic") == 0)
				o.objective = OBJ_SYNTHETIC;
			else if (strcmp(optarg, "quadratic") == 0)
				o.objective = OBJ_QUADRATIC;
			else
				cli_usage_error("invalid --objective '%s' (want synthetic or quadratic)",
						optarg);
			break;
		case OPT_CTIMEOUT:
			if (cli_parse_double(optarg, &dv) || dv < 0 || dv > 86400)
				cli_usage_error("invalid --connect-timeout '%s' (want 0 to 86400 seconds)",
						optarg);
			o.connect_timeout = dv;
			break;
		case OPT_KEY:
			key_path = optarg;
			break;
		case OPT_INSECURE:
			insecure = 1;
			break;
		case OPT_RESTARTED:
			o.restarted = 1;
			break;
		case OPT_RTIMEOUT:
			if (cli_parse_double(optarg, &dv) || !(dv >= 0) || dv > 3600)
				cli_usage_error("invalid --reconnect-timeout '%s' (want seconds in [0, "
						"3600])", optarg);
			o.reconnect_timeout = dv;
			break;
		case OPT_HB:
		case OPT_HBTIMEOUT:
			if (cli_parse_double(optarg, &dv) || !(dv > 0) || dv > 3600)
				cli_usage_error("invalid --%s '%s' (want seconds in (0, 3600])",
						c == OPT_HB ? "heartbeat" : "heartbeat-timeout", optarg);
			if (c == OPT_HB)
				o.heartbeat = dv;
			else
				o.heartbeat_timeout = dv;
			break;
		case 'q':
			if (cli_verbosity > 0)
				cli_verbosity--;
			break;
		case 'v':
			cli_verbosity++;
			break;
		case 'h':
			worker_help();
			free(o.sizes);
			return CLI_OK;
		case 'V':
			cli_print_version();
			free(o.sizes);
			return CLI_OK;
		default:
			cli_bad_option();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!o.ps || !*o.ps)
		cli_usage_error("missing --ps");
	if (o.heartbeat_timeout <= o.heartbeat)
		cli_usage_error("--heartbeat-timeout %g must exceed --heartbeat %g", o.heartbeat_timeout,
				o.heartbeat);
	if (o.sizes && have_kn)
		cli_usage_error("--sizes excludes --keys and --size");
	if (!o.sizes) {
		o.sizes = malloc(nkeys * sizeof *o.sizes);
		if (!o.sizes) {
			cli_error("worker: out of memory");
			return CLI_FAIL;
		}
		for (uint64_t k = 0; k < nkeys; k++)
			o.sizes[k] = size;
		o.nkeys = (size_t)nkeys;
	}
	uint64_t total = 0;
	for (size_t k = 0; k < o.nkeys; k++)
		total += o.sizes[k];
	if (total > MAX_TOTAL) {
		free(o.sizes);
		cli_usage_error("too many floats in all: %llu (at most %llu)", (unsigned long long)total,
				(unsigned long long)MAX_TOTAL);
	}
	o.have_key = cli_secure_key(key_path, insecure, &o.key);
	int rc = run(&o);
	free(o.sizes);
	return rc;
}
