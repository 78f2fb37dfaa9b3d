/*
 * geomx-ps — a parameter server of a HiPS topology: the global tier (the
 * model, the optimizer) or a data center's local server (sums its workers,
 * talks to the global servers). Prints the port it listens on, then serves
 * until the job is done. See geomx-ps(1).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "geomx.h"

#define MAX_PEERS 65536 /* parties or workers, as the library allows */

enum {
	OPT_ROLE = 256, OPT_LISTEN, OPT_PARTIES, OPT_WORKERS, OPT_PARTY, OPT_UPSTREAM, OPT_SYNC,
	OPT_SUM, OPT_OPTIMIZER, OPT_LR, OPT_MOMENTUM, OPT_BETA1, OPT_BETA2, OPT_EPS, OPT_RHO,
	OPT_WD, OPT_LAMBDA, OPT_SPLIT, OPT_BLOCK, OPT_CTIMEOUT, OPT_HB, OPT_HBT, OPT_WHBT, OPT_RTIMEOUT, OPT_ELASTIC, OPT_STATS,
	OPT_STATS_FMT,
	OPT_KEY, OPT_INSECURE, OPT_K1, OPT_K2, OPT_WAN, OPT_LAN, OPT_SPARSE_MIN, OPT_EF_MOM, OPT_EF_SAVE,
	OPT_CKPT, OPT_CKPT_EVERY, OPT_RESUME, OPT_SCHEDULE, OPT_CREDIT, OPT_DGT, OPT_DGT_RATE,
	OPT_DGT_TARGET, OPT_DGT_GRACE, OPT_OVERLAY, OPT_OVL_EPS, OPT_OVL_SEED, OPT_OVL_ADDR,
	OPT_OVL_PLAN
};

/* --dgt K:C[:BLOCK]: K the share of a slice's blocks sent reliably at
 * first, C the lossy channels, BLOCK elements a datagram (0 or absent:
 * what the path's MTU fits). */
static void dgt_parse(const char *arg, gx_ps_opts *o)
{
	char buf[96], *c1, *c2;
	long v;
	snprintf(buf, sizeof buf, "%s", arg);
	if (strlen(arg) >= sizeof buf || !(c1 = strchr(buf, ':')))
		cli_usage_error("invalid --dgt '%s' (K:C[:BLOCK], e.g. 0.1:2)", arg);
	*c1++ = '\0';
	if ((c2 = strchr(c1, ':')))
		*c2++ = '\0';
	if (cli_parse_double(buf, &o->dgt.k) || !(o->dgt.k > 0 && o->dgt.k <= 1))
		cli_usage_error("invalid --dgt K '%s' (0 < K <= 1: the share sent reliably)", buf);
	if (cli_parse_int(c1, 1, GX_DGT_CHANNELS_MAX, &v))
		cli_usage_error("invalid --dgt C '%s' (1..%d lossy channels)", c1,
				GX_DGT_CHANNELS_MAX);
	o->dgt.channels = (int)v;
	o->dgt.block = 0;
	if (c2) {
		if (cli_parse_int(c2, 0, 65535, &v))
			cli_usage_error("invalid --dgt BLOCK '%s' (elements a datagram, 1..65535; "
					"0: what the path's MTU fits)", c2);
		o->dgt.block = (uint32_t)v;
	}
}

/* The optimizer's hyperparameters: flag, field, and the kinds that use it. */
enum { HP_LR, HP_MOMENTUM, HP_BETA1, HP_BETA2, HP_EPS, HP_RHO, HP_WD, HP_LAMBDA, HP__N };
static const char *const hp_flag[HP__N] = { "lr", "momentum", "beta1", "beta2", "eps", "rho",
					    "weight-decay", "lambda" };

static float *hp_field(gx_optim_opts *o, int i)
{
	float *f[HP__N] = { &o->lr, &o->momentum, &o->beta1, &o->beta2, &o->eps, &o->rho,
			    &o->weight_decay, &o->lambda };
	return f[i];
}

/* Nonzero when kind uses hyperparameter i. */
static int hp_used(int kind, int i)
{
	switch (i) {
	case HP_LR:
	case HP_WD:
		return 1;
	case HP_MOMENTUM:
		return kind == GX_OPT_MOMENTUM || kind == GX_OPT_NESTEROV || kind == GX_OPT_DCASGD;
	case HP_BETA1:
	case HP_BETA2:
		return kind == GX_OPT_ADAM || kind == GX_OPT_ADAMW;
	case HP_EPS:
		return kind >= GX_OPT_ADAGRAD && kind <= GX_OPT_ADAMW;
	case HP_RHO:
		return kind == GX_OPT_RMSPROP || kind == GX_OPT_ADADELTA;
	case HP_LAMBDA:
		return kind == GX_OPT_DCASGD;
	}
	return 0;
}

static void usage(void)
{
	gx_ps_opts d;
	gx_ps_opts_default(&d);
	printf("Usage: %s --role global|local [OPTION]...\n"
	       "Run a parameter server of a hierarchical (HiPS) topology: the global tier,\n"
	       "which holds the model and applies the optimizer, or a data center's local\n"
	       "server, which sums its workers' gradients and exchanges them with the global\n"
	       "servers. Prints the port it listens on as one line on standard output, then\n"
	       "serves until every peer has said goodbye.\n\n", cli_prog);
	printf("Topology:\n"
	       "      --role ROLE        global or local (required)\n"
	       "      --listen HOST:PORT where to listen (default %s; port 0: a free one)\n"
	       "      --parties N        global: data centers (local servers) expected; flat\n"
	       "                         mode: workers expected (default %d)\n"
	       "      --workers N        local: workers expected (default %d)\n"
	       "      --party ID         local: this data center's id (default %u)\n"
	       "      --upstream LIST    local: the global servers, HOST:PORT[,HOST:PORT...],\n"
	       "                         in server index order (required)\n"
	       "      --split-bound N    local: tensors of more than N elements are split over\n"
	       "                         the global servers (default %llu)\n"
	       "      --block N          global: tensors travel from the workers up and back in\n"
	       "                         blocks of at most N elements, each passed on while\n"
	       "                         the next arrives (default %u; 0: whole tensors; not\n"
	       "                         with a WAN codec, which codes whole slices)\n"
	       "      --schedule S       fifo: every link sends in the order frames are made;\n"
	       "                         p3: tensor frames go out by their priority (the\n"
	       "                         workers' layer order) once the link's credit is\n"
	       "                         used (default: $GEOMX_SCHEDULE, else fifo)\n"
	       "      --credit C         p3: bytes a link queues ahead of the wire, or auto:\n"
	       "                         what the link drains in 4 ms, measured (default auto)\n",
	       d.listen, d.parties, d.workers, d.party, (unsigned long long)d.split_bound, d.block);
	printf("The adaptive overlay:\n"
	       "      --overlay O        global: star (default: every data center pushes to\n"
	       "                         this server and gets the answers from it) or\n"
	       "                         adaptive: each round's pushes are summed on their way\n"
	       "                         between the data centers' local servers, where the\n"
	       "                         links as measured say (full sync, plain F32, up to\n"
	       "                         %d parties; the same bits as the star)\n"
	       "      --overlay-epsilon X  global: the share of rounds on the best plan with\n"
	       "                         one random change, so that links out of use are\n"
	       "                         measured again (default %g)\n"
	       "      --overlay-seed N   global: the seed of those draws (default %llu)\n"
	       "      --overlay-plan HOLD:FROM  global: every round on this plan instead, e.g.\n"
	       "                         0,0,0,0:G,0,0,0 (where each party's sum is added to\n"
	       "                         the ones before it; whom each gets the answers from;\n"
	       "                         G: this server)\n"
	       "      --overlay-addr HOST:PORT  local: where the other data centers' local\n"
	       "                         servers reach this one (default: its --listen)\n",
	       GX_OVL_MAX_PARTIES, d.overlay_epsilon, (unsigned long long)d.overlay_seed);
	printf("Link codecs (local):\n"
	       "      --wan-codec C      how the data center's aggregate crosses the WAN: none\n"
	       "                         (default), fp16, bsc:RATIO (top RATIO of the elements,\n"
	       "                         error feedback, sparse both ways) or mpq:RATIO[:BOUND]\n"
	       "                         (fp16 below BOUND elements, default %llu, else bsc);\n"
	       "                         with a codec this server applies the updates\n"
	       "      --lan-codec C      none (default) or fp16: what the workers push and get\n"
	       "      --sparse-min N     bsc: slices of fewer elements travel dense (default %llu)\n"
	       "      --ef-momentum M    error feedback's momentum correction, 0 <= M < 1\n"
	       "                         (default 0: the residual only)\n"
	       "      --ef-save FILE     at the end, write the error-feedback state to FILE\n",
	       (unsigned long long)d.wan.bound, (unsigned long long)d.sparse_min);
	printf("Differential gradient transmission (DGT; local, but --dgt-grace):\n"
	       "      --dgt K:C[:BLOCK]  push each slice's most important share K of blocks over\n"
	       "                         the link and the rest as UDP datagrams over C lossy\n"
	       "                         channels (1..%d), BLOCK elements each (default: what\n"
	       "                         the path's MTU fits); what is lost is sent again\n"
	       "                         later (error feedback); dense F32, or F16 with\n"
	       "                         --wan-codec fp16\n"
	       "      --dgt-rate RATE    the path's rate, e.g. 100mbit: the datagrams' pace\n"
	       "                         (required with --dgt)\n"
	       "      --dgt-target X     K moves so that a round delays this share of the\n"
	       "                         push's energy (default %g; 0: K stays)\n"
	       "      --dgt-grace MS     global: how long a round waits for datagrams beyond\n"
	       "                         their expected arrival (default %g)\n",
	       GX_DGT_CHANNELS_MAX, GX_DEFAULT_DGT_TARGET, GX_DEFAULT_DGT_GRACE * 1000);
	printf("Synchronization and optimizer (global):\n"
	       "      --sync MODE        full (default): one update per round from every\n"
	       "                         party; mixed: each party's push applied on arrival;\n"
	       "                         hfa: workers step alone, models are averaged\n"
	       "      --k1 N             hfa: worker steps per local average (default %u)\n"
	       "      --k2 N             hfa: local averages per global one (default %u)\n"
	       "      --sum              apply the sum of the gradients, not their mean\n"
	       "      --optimizer NAME   sgd (default), momentum, nesterov, adagrad, rmsprop,\n"
	       "                         adadelta, adam, adamw or dcasgd\n"
	       "      --lr X             learning rate\n"
	       "      --momentum X       momentum factor (momentum, nesterov, dcasgd)\n"
	       "      --beta1 X          adam, adamw: first moment decay\n"
	       "      --beta2 X          adam, adamw: second moment decay\n"
	       "      --eps X            adagrad, rmsprop, adadelta, adam, adamw\n"
	       "      --rho X            rmsprop's alpha, adadelta's rho\n"
	       "      --weight-decay X   L2 penalty (decoupled for adamw)\n"
	       "      --lambda X         dcasgd's variance control\n"
	       "    Defaults:\n", d.k1, d.k2);
	for (int k = 0; k < GX_OPT__MAX; k++) {
		gx_optim_opts o;
		gx_optim_opts_default(&o, k);
		printf("      %-9s", gx_optim_name(k));
		for (int i = 0; i < HP__N; i++)
			if (hp_used(k, i))
				printf(" %s %g", hp_flag[i], (double)*hp_field(&o, i));
		printf("\n");
	}
	printf("Failures:\n"
	       "      --connect-timeout SEC  how long to try to reach the upstream servers and\n"
	       "                         to wait for every peer to connect (default %g)\n"
	       "      --heartbeat SEC    send a heartbeat on a link idle this long (default %g)\n"
	       "      --heartbeat-timeout SEC  a peer silent this long is dead (default %g)\n"
	       "      --wan-heartbeat-timeout SEC  the same for a link between a local and a\n"
	       "                         global server (default %g, or --heartbeat-timeout\n"
	       "                         if longer)\n"
	       "      --reconnect-timeout SEC  a broken link between a local and a global\n"
	       "                         server may take this long to come back; 0: never\n"
	       "                         (default %g)\n"
	       "      --elastic          go on without a dead worker (or party) instead of\n"
	       "                         failing the job\n"
	       "      --checkpoint DIR   global: keep the slices' state (value, optimizer,\n"
	       "                         rounds) in DIR, written at the end or on SIGTERM;\n"
	       "                         local: its key table, and under hfa, a coded WAN\n"
	       "                         or an fp16 LAN each key's own state, before\n"
	       "                         every answer;\n"
	       "                         either: SIGTERM leaves the peers dialling\n"
	       "      --checkpoint-every N  global: and every N rounds of a slice, before\n"
	       "                         they are answered (1: a crash loses nothing)\n"
	       "      --resume           start from DIR's checkpoint\n",
	       d.connect_timeout, d.heartbeat, d.heartbeat_timeout, GX_DEFAULT_WAN_HEARTBEAT_TIMEOUT,
	       d.reconnect_timeout);
	printf("Security:\n"
	       "      --key FILE         pre-shared key file (geomx-relay --genkey; mode 0600):\n"
	       "                         every link, listening and upstream, is authenticated\n"
	       "                         and encrypted (default: $GEOMX_KEY); the job's key,\n"
	       "                         or a local server's party's (docs/security.md)\n"
	       "      --insecure         without a key: plaintext, unauthenticated links\n"
	       "                         (a warning; also GEOMX_INSECURE=1); with neither,\n"
	       "                         the server refuses to start\n");
	printf("Output and messages:\n"
	       "      --stats FILE       write the traffic and round statistics to FILE at\n"
	       "                         the end ('-': standard error)\n"
	       "      --stats-format FMT tsv (default) or json\n"
	       "  -q, --quiet            print errors only\n"
	       "  -v, --verbose          say more (twice: debugging)\n"
	       "  -h, --help             display this help and exit\n"
	       "  -V, --version          output version information and exit\n\n"
	       "Signals: SIGINT and SIGTERM stop the server (status 1); SIGUSR1 logs the\n"
	       "statistics.\n"
	       "Environment: GEOMX_VERBOSE.\n"
	       "Exit status: 0 job done, 1 runtime failure (a dead or refusing peer, an\n"
	       "unreachable upstream) or stopped by a signal, 2 usage error. See %s(1).\n",
	       cli_prog);
}

static struct {
	gx_ps_opts o;
	const char *stats;
	int json;
	gx_key key;
	const char *key_path; /* --key */
	int insecure;         /* --insecure */
} opt;

static gx_ps *the_ps;
static volatile sig_atomic_t stop_sig;
static char log_tag[48];

static void log_line(void *ud, int level, const char *msg)
{
	if (level > cli_verbosity)
		return;
	fprintf(stderr, "%s[%s]: %s\n", cli_prog, log_tag, msg);
}

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
	gx_ps_stop(the_ps);
}

static void on_usr1(int sig)
{
	gx_ps_request_stats(the_ps);
}

/* "HOST:PORT" with a port in lo..65535 (the library resolves the host). */
static int check_addr(const char *s, size_t len, long lo)
{
	const char *c = NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ':')
			c = s + i;
	if (!c || c == s + len - 1 || c - s > 255)
		return -1;
	char port[16];
	size_t pl = (size_t)(s + len - c - 1);
	if (pl >= sizeof port)
		return -1;
	memcpy(port, c + 1, pl);
	port[pl] = '\0';
	long v;
	return cli_parse_int(port, lo, 65535, &v);
}

static int parse_float(const char *s, float *out)
{
	double v;
	if (cli_parse_double(s, &v) || v > 3.4e38 || v < -3.4e38)
		return -1;
	*out = (float)v;
	return 0;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "role", 1, 0, OPT_ROLE }, { "listen", 1, 0, OPT_LISTEN },
		{ "parties", 1, 0, OPT_PARTIES }, { "workers", 1, 0, OPT_WORKERS },
		{ "party", 1, 0, OPT_PARTY }, { "upstream", 1, 0, OPT_UPSTREAM },
		{ "sync", 1, 0, OPT_SYNC }, { "sum", 0, 0, OPT_SUM },
		{ "optimizer", 1, 0, OPT_OPTIMIZER }, { "lr", 1, 0, OPT_LR },
		{ "momentum", 1, 0, OPT_MOMENTUM }, { "beta1", 1, 0, OPT_BETA1 },
		{ "beta2", 1, 0, OPT_BETA2 }, { "eps", 1, 0, OPT_EPS }, { "rho", 1, 0, OPT_RHO },
		{ "weight-decay", 1, 0, OPT_WD }, { "lambda", 1, 0, OPT_LAMBDA },
		{ "split-bound", 1, 0, OPT_SPLIT }, { "block", 1, 0, OPT_BLOCK },
		{ "schedule", 1, 0, OPT_SCHEDULE }, { "credit", 1, 0, OPT_CREDIT },
		{ "connect-timeout", 1, 0, OPT_CTIMEOUT },
		{ "heartbeat", 1, 0, OPT_HB }, { "heartbeat-timeout", 1, 0, OPT_HBT },
		{ "reconnect-timeout", 1, 0, OPT_RTIMEOUT },
		{ "wan-heartbeat-timeout", 1, 0, OPT_WHBT },
		{ "elastic", 0, 0, OPT_ELASTIC }, { "stats", 1, 0, OPT_STATS },
		{ "stats-format", 1, 0, OPT_STATS_FMT }, { "key", 1, 0, OPT_KEY },
		{ "insecure", 0, 0, OPT_INSECURE },
		{ "k1", 1, 0, OPT_K1 }, { "k2", 1, 0, OPT_K2 }, { "wan-codec", 1, 0, OPT_WAN },
		{ "lan-codec", 1, 0, OPT_LAN }, { "sparse-min", 1, 0, OPT_SPARSE_MIN },
		{ "ef-momentum", 1, 0, OPT_EF_MOM }, { "ef-save", 1, 0, OPT_EF_SAVE },
		{ "checkpoint", 1, 0, OPT_CKPT }, { "checkpoint-every", 1, 0, OPT_CKPT_EVERY },
		{ "resume", 0, 0, OPT_RESUME },
		{ "dgt", 1, 0, OPT_DGT }, { "dgt-rate", 1, 0, OPT_DGT_RATE },
		{ "dgt-target", 1, 0, OPT_DGT_TARGET }, { "dgt-grace", 1, 0, OPT_DGT_GRACE },
		{ "overlay", 1, 0, OPT_OVERLAY }, { "overlay-epsilon", 1, 0, OPT_OVL_EPS },
		{ "overlay-seed", 1, 0, OPT_OVL_SEED }, { "overlay-addr", 1, 0, OPT_OVL_ADDR },
		{ "overlay-plan", 1, 0, OPT_OVL_PLAN },
		{ "quiet", 0, 0, 'q' },
		{ "verbose", 0, 0, 'v' }, { "help", 0, 0, 'h' }, { "version", 0, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	gx_ps_opts *o = &opt.o;
	gx_ps_opts_default(o);
	o->role = 0;
	int kind = GX_OPT_SGD;
	float hp[HP__N];
	int hp_set[HP__N] = { 0 };
	const char *global_only = NULL, *local_only = NULL, *hfa_flag = NULL, *ef_flag = NULL;
	const char *schedule_arg = NULL, *credit_arg = NULL, *dgt_flag = NULL, *ovl_flag = NULL;
	int hbt_set = 0, c;
	long v;
	while ((c = getopt_long(argc, argv, "qvhV", lo, NULL)) != -1) {
		switch (c) {
		case OPT_ROLE:
			o->role = gx_role_parse(optarg);
			if (o->role != GX_ROLE_GLOBAL && o->role != GX_ROLE_LOCAL)
				cli_usage_error("invalid --role '%s' (want global or local)", optarg);
			break;
		case OPT_LISTEN:
			if (check_addr(optarg, strlen(optarg), 0))
				cli_usage_error("invalid --listen '%s' (want HOST:PORT, port 0..65535)",
						optarg);
			o->listen = optarg;
			break;
		case OPT_PARTIES:
			if (cli_parse_int(optarg, 1, MAX_PEERS, &v))
				cli_usage_error("invalid --parties '%s' (want 1..%d)", optarg, MAX_PEERS);
			o->parties = (int)v;
			global_only = "--parties";
			break;
		case OPT_WORKERS:
			if (cli_parse_int(optarg, 1, MAX_PEERS, &v))
				cli_usage_error("invalid --workers '%s' (want 1..%d)", optarg, MAX_PEERS);
			o->workers = (int)v;
			local_only = "--workers";
			break;
		case OPT_PARTY:
			if (cli_parse_int(optarg, 0, MAX_PEERS - 1, &v))
				cli_usage_error("invalid --party '%s' (want 0..%d)", optarg,
						MAX_PEERS - 1);
			o->party = (uint32_t)v;
			local_only = "--party";
			break;
		case OPT_UPSTREAM: {
			char why[400];
			size_t n;
			if (gx_net_addr_list(optarg, NULL, 0, &n, why, sizeof why))
				cli_usage_error("invalid --upstream '%s': %s", optarg, why);
			o->upstream = optarg;
			local_only = "--upstream";
			break;
		}
		case OPT_SYNC:
			if ((o->sync = gx_sync_parse(optarg)) < 0)
				cli_usage_error("invalid --sync '%s' (want full, mixed or hfa)", optarg);
			global_only = "--sync";
			break;
		case OPT_K1:
		case OPT_K2:
			if (cli_parse_int(optarg, 1, 1000000, &v))
				cli_usage_error("invalid --%s '%s' (want 1..1000000)",
						c == OPT_K1 ? "k1" : "k2", optarg);
			*(c == OPT_K1 ? &o->k1 : &o->k2) = (uint32_t)v;
			global_only = c == OPT_K1 ? "--k1" : "--k2";
			hfa_flag = global_only;
			break;
		case OPT_WAN: {
			char why[160];
			if (gx_link_codec_parse(optarg, &o->wan, why, sizeof why))
				cli_usage_error("invalid --wan-codec %s", why);
			local_only = "--wan-codec";
			break;
		}
		case OPT_DGT:
			dgt_parse(optarg, o);
			local_only = "--dgt";
			break;
		case OPT_DGT_RATE:
			if (gx_relay_parse_rate(optarg, &o->dgt.rate) || !(o->dgt.rate > 0))
				cli_usage_error("invalid --dgt-rate '%s' (a rate such as 100mbit)",
						optarg);
			local_only = dgt_flag = "--dgt-rate";
			break;
		case OPT_DGT_TARGET:
			if (cli_parse_double(optarg, &o->dgt.target) ||
			    !(o->dgt.target >= 0 && o->dgt.target < 1))
				cli_usage_error("invalid --dgt-target '%s' (0 <= X < 1)", optarg);
			local_only = dgt_flag = "--dgt-target";
			break;
		case OPT_DGT_GRACE: {
			double ms;
			if (cli_parse_double(optarg, &ms) || !(ms >= 0 && ms <= 60000))
				cli_usage_error("invalid --dgt-grace '%s' (milliseconds, 0..60000)",
						optarg);
			o->dgt.grace = ms / 1000;
			global_only = "--dgt-grace";
			break;
		}
		case OPT_OVERLAY:
			if (!strcmp(optarg, "star"))
				o->overlay = GX_OVERLAY_STAR;
			else if (!strcmp(optarg, "adaptive"))
				o->overlay = GX_OVERLAY_ADAPTIVE;
			else
				cli_usage_error("invalid --overlay '%s' (want star or adaptive)", optarg);
			global_only = "--overlay";
			break;
		case OPT_OVL_EPS:
			if (cli_parse_double(optarg, &o->overlay_epsilon) ||
			    !(o->overlay_epsilon >= 0 && o->overlay_epsilon <= 1))
				cli_usage_error("invalid --overlay-epsilon '%s' (want 0..1)", optarg);
			global_only = ovl_flag = "--overlay-epsilon";
			break;
		case OPT_OVL_SEED:
			if (cli_parse_count(optarg, &o->overlay_seed))
				cli_usage_error("invalid --overlay-seed '%s' (want a number)", optarg);
			global_only = ovl_flag = "--overlay-seed";
			break;
		case OPT_OVL_PLAN:
			o->overlay_plan = optarg;
			global_only = ovl_flag = "--overlay-plan";
			break;
		case OPT_OVL_ADDR:
			if (check_addr(optarg, strlen(optarg), 1) || strlen(optarg) > GX_OVL_ADDR_MAX)
				cli_usage_error("invalid --overlay-addr '%s' (want HOST:PORT, port "
						"1..65535)", optarg);
			o->overlay_addr = optarg;
			local_only = "--overlay-addr";
			break;
		case OPT_LAN:
			if (!strcmp(optarg, "none"))
				o->lan = GX_LINK_NONE;
			else if (!strcmp(optarg, "fp16"))
				o->lan = GX_LINK_FP16;
			else
				cli_usage_error("invalid --lan-codec '%s' (want none or fp16)", optarg);
			local_only = "--lan-codec";
			break;
		case OPT_SPARSE_MIN:
			if (cli_parse_count(optarg, &o->sparse_min))
				cli_usage_error("invalid --sparse-min '%s' (want an element count)",
						optarg);
			local_only = "--sparse-min";
			ef_flag = "--sparse-min";
			break;
		case OPT_EF_MOM: {
			float m;
			if (parse_float(optarg, &m) || !(m >= 0) || !(m < 1))
				cli_usage_error("invalid --ef-momentum '%s' (want 0 <= M < 1)", optarg);
			o->ef_momentum = m;
			local_only = "--ef-momentum";
			ef_flag = "--ef-momentum";
			break;
		}
		case OPT_CKPT:
			if (!*optarg)
				cli_usage_error("invalid --checkpoint '' (want a directory)");
			o->checkpoint = optarg;
			break;
		case OPT_CKPT_EVERY: {
			uint64_t n;
			if (cli_parse_count(optarg, &n) || n > UINT32_MAX)
				cli_usage_error("invalid --checkpoint-every '%s' (want a number of "
						"rounds, 0 for only at the end)", optarg);
			o->checkpoint_every = (uint32_t)n;
			global_only = "--checkpoint-every";
			break;
		}
		case OPT_RESUME:
			o->resume = 1;
			break;
		case OPT_EF_SAVE:
			if (!*optarg)
				cli_usage_error("invalid --ef-save '' (want a file name)");
			o->ef_save = optarg;
			local_only = "--ef-save";
			ef_flag = "--ef-save";
			break;
		case OPT_SUM:
			o->sum = 1;
			global_only = "--sum";
			break;
		case OPT_OPTIMIZER:
			if ((kind = gx_optim_kind_of(optarg)) < 0)
				cli_usage_error("unknown optimizer '%s' (want sgd, momentum, nesterov, "
						"adagrad, rmsprop, adadelta, adam, adamw or dcasgd)",
						optarg);
			global_only = "--optimizer";
			break;
		case OPT_LR:
		case OPT_MOMENTUM:
		case OPT_BETA1:
		case OPT_BETA2:
		case OPT_EPS:
		case OPT_RHO:
		case OPT_WD:
		case OPT_LAMBDA: {
			int i = c - OPT_LR;
			if (parse_float(optarg, &hp[i]))
				cli_usage_error("invalid --%s '%s' (want a number)", hp_flag[i], optarg);
			hp_set[i] = 1;
			global_only = i == HP_LR ? "--lr" : "an optimizer option";
			break;
		}
		case OPT_SPLIT:
			if (cli_parse_count(optarg, &o->split_bound) || !o->split_bound)
				cli_usage_error("invalid --split-bound '%s' (want a positive element "
						"count)", optarg);
			local_only = "--split-bound";
			break;
		case OPT_BLOCK: {
			uint64_t b;
			if (cli_parse_count(optarg, &b) || b > UINT32_MAX)
				cli_usage_error("invalid --block '%s' (want an element count, 0 for "
						"whole tensors)", optarg);
			o->block = (uint32_t)b;
			global_only = "--block";
			break;
		}
		case OPT_WHBT: {
			double s;
			if (cli_parse_double(optarg, &s) || !(s > 0) || s > 1e6)
				cli_usage_error("invalid --wan-heartbeat-timeout '%s' (want seconds, "
						"more than 0)", optarg);
			o->wan_heartbeat_timeout = s;
			break;
		}
		case OPT_RTIMEOUT: {
			double s;
			if (cli_parse_double(optarg, &s) || !(s >= 0) || s > 1e6)
				cli_usage_error("invalid --reconnect-timeout '%s' (want seconds, 0 or "
						"more)", optarg);
			o->reconnect_timeout = s;
			break;
		}
		case OPT_CTIMEOUT:
		case OPT_HB:
		case OPT_HBT: {
			static const char *const nm[] = { "connect-timeout", "heartbeat",
							  "heartbeat-timeout" };
			double s;
			if (cli_parse_double(optarg, &s) || !(s > 0) || s > 1e6)
				cli_usage_error("invalid --%s '%s' (want seconds, more than 0)",
						nm[c - OPT_CTIMEOUT], optarg);
			if (c == OPT_CTIMEOUT)
				o->connect_timeout = s;
			else if (c == OPT_HB)
				o->heartbeat = s;
			else
				o->heartbeat_timeout = s, hbt_set = 1;
			break;
		}
		case OPT_ELASTIC:
			o->elastic = 1;
			break;
		case OPT_SCHEDULE:
			schedule_arg = optarg;
			break;
		case OPT_CREDIT:
			credit_arg = optarg;
			break;
		case OPT_STATS:
			opt.stats = optarg;
			break;
		case OPT_KEY:
			opt.key_path = optarg;
			break;
		case OPT_INSECURE:
			opt.insecure = 1;
			break;
		case OPT_STATS_FMT:
			if (!strcmp(optarg, "tsv"))
				opt.json = 0;
			else if (!strcmp(optarg, "json"))
				opt.json = 1;
			else
				cli_usage_error("invalid --stats-format '%s' (want tsv or json)", optarg);
			break;
		case 'q': cli_verbosity = 0; break;
		case 'v': cli_verbosity++; break;
		case 'h': usage(); exit(CLI_OK);
		case 'V': cli_print_version(); exit(CLI_OK);
		default: cli_bad_option();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->role)
		cli_usage_error("missing --role (global or local)");
	o->credit = cli_schedule(schedule_arg, credit_arg);
	if (o->role == GX_ROLE_GLOBAL && local_only)
		cli_usage_error("%s is for --role local", local_only);
	if ((o->resume || o->checkpoint_every) && !o->checkpoint)
		cli_usage_error("%s needs --checkpoint DIR",
				o->resume ? "--resume" : "--checkpoint-every");
	if (o->role == GX_ROLE_LOCAL && global_only)
		cli_usage_error("%s is for --role global%s", global_only,
				strcmp(global_only, "--sync") ? "" : " (a local server follows the global "
				"tier's mode)");
	if (hfa_flag && o->sync != GX_SYNC_HFA)
		cli_usage_error("%s is for --sync hfa", hfa_flag);
	if (ovl_flag && o->overlay != GX_OVERLAY_ADAPTIVE)
		cli_usage_error("%s is for --overlay adaptive", ovl_flag);
	if (o->overlay == GX_OVERLAY_ADAPTIVE && o->sync != GX_SYNC_FULL)
		cli_usage_error("--overlay adaptive folds the parties' sums of a round: it needs "
				"--sync full");
	if (o->overlay == GX_OVERLAY_ADAPTIVE && o->elastic)
		cli_usage_error("--overlay adaptive does not go on without a party (--elastic)");
	if (o->overlay == GX_OVERLAY_ADAPTIVE && o->parties > GX_OVL_MAX_PARTIES)
		cli_usage_error("--overlay adaptive plans for at most %d parties", GX_OVL_MAX_PARTIES);
	if (o->overlay_plan) {
		gx_ovl_plan pl;
		char why[200];
		if (gx_ovl_plan_text(o->overlay_plan, o->parties, &pl, why, sizeof why))
			cli_usage_error("invalid --overlay-plan '%s' for %d parties: %s", o->overlay_plan,
					o->parties, why);
	}
	if (dgt_flag && !o->dgt.k)
		cli_usage_error("%s is for --dgt K:C[:BLOCK]", dgt_flag);
	if (o->dgt.k && !(o->dgt.rate > 0))
		cli_usage_error("--dgt needs --dgt-rate RATE: the path's rate, which the datagrams "
				"are paced at (sending faster only buys drops)");
	if (o->dgt.k && (o->wan.kind == GX_LINK_BSC || o->wan.kind == GX_LINK_MPQ))
		cli_usage_error("--dgt sends dense blocks (--wan-codec none or fp16): a sparse push "
				"has no unimportant blocks left to lose");
	if (o->dgt.k && o->dgt.k_min > o->dgt.k)
		o->dgt.k_min = o->dgt.k;
	if (ef_flag && o->wan.kind == GX_LINK_NONE && !o->dgt.k)
		cli_usage_error("%s is for a coded WAN (--wan-codec fp16, bsc:RATIO or mpq:RATIO)",
				ef_flag);
	if (o->role == GX_ROLE_LOCAL && !o->upstream)
		cli_usage_error("--role local needs --upstream HOST:PORT[,...] (the global servers)");
	if (o->wan_heartbeat_timeout && !(o->wan_heartbeat_timeout > o->heartbeat))
		cli_usage_error("--wan-heartbeat-timeout %g must exceed --heartbeat %g",
				o->wan_heartbeat_timeout, o->heartbeat);
	if (!(o->heartbeat_timeout > o->heartbeat))
		cli_usage_error("--heartbeat-timeout %g must exceed --heartbeat %g%s",
				o->heartbeat_timeout, o->heartbeat,
				hbt_set ? "" : " (the default timeout)");

	gx_optim_opts_default(&o->optim, kind);
	for (int i = 0; i < HP__N; i++) {
		if (!hp_set[i])
			continue;
		if (!hp_used(kind, i))
			cli_usage_error("--%s does not apply to --optimizer %s", hp_flag[i],
					gx_optim_name(kind));
		*hp_field(&o->optim, i) = hp[i];
	}
	const gx_optim_opts *p = &o->optim;
	const char *bad = NULL;
	if (!(p->lr > 0))
		bad = "--lr must be more than 0";
	else if (!(p->weight_decay >= 0))
		bad = "--weight-decay must be 0 or more";
	else if (hp_used(kind, HP_MOMENTUM) && !(p->momentum >= 0 && p->momentum < 1))
		bad = "--momentum must be in [0, 1)";
	else if (kind == GX_OPT_NESTEROV && p->momentum == 0)
		bad = "nesterov needs a --momentum above 0";
	else if (hp_used(kind, HP_BETA1) && !(p->beta1 >= 0 && p->beta1 < 1 && p->beta2 >= 0 &&
					      p->beta2 < 1))
		bad = "--beta1 and --beta2 must be in [0, 1)";
	else if (hp_used(kind, HP_EPS) && !(p->eps > 0))
		bad = "--eps must be more than 0";
	else if (hp_used(kind, HP_RHO) && !(p->rho >= 0 && p->rho < 1))
		bad = "--rho must be in [0, 1)";
	else if (hp_used(kind, HP_LAMBDA) && !(p->lambda >= 0))
		bad = "--lambda must be 0 or more";
	if (bad)
		cli_usage_error("%s", bad);
	/* last: every other flag is judged before the key's absence */
	if (cli_secure_key(opt.key_path, opt.insecure, &opt.key))
		o->key = &opt.key;
}

/* Writes the stats at the end: to stderr ('-') or atomically to a file. */
static int write_stats(gx_ps *ps)
{
	long n = gx_ps_stats(ps, NULL, 0, opt.json);
	char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (!buf) {
		cli_error("cannot format the statistics: %s", gx_strerror(n < 0 ? (int)n : GX_ENOMEM));
		return -1;
	}
	gx_ps_stats(ps, buf, (size_t)n + 1, opt.json);
	int rc = 0;
	if (!strcmp(opt.stats, "-")) {
		fputs(buf, stderr);
	} else {
		char tmp[4200];
		int fd = gx_atomic_open(opt.stats, tmp, sizeof tmp);
		if (fd < 0 || gx_write_full(fd, buf, (size_t)n) || gx_atomic_commit(fd, tmp, opt.stats)) {
			cli_error("%s: cannot write the statistics: %s", opt.stats, strerror(errno));
			if (fd >= 0)
				gx_atomic_abort(fd, tmp);
			rc = -1;
		}
	}
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	argv[0] = (char *)cli_prog; /* getopt names the program by argv[0] */
	parse_args(argc, argv);
	if (opt.o.role == GX_ROLE_GLOBAL)
		snprintf(log_tag, sizeof log_tag, "global");
	else
		snprintf(log_tag, sizeof log_tag, "local %u", opt.o.party);
	opt.o.log = log_line;

	signal(SIGPIPE, SIG_IGN);
	int err;
	gx_ps *ps = gx_ps_create(&opt.o, &err);
	if (!ps)
		return CLI_FAIL; /* the log has said why */
	the_ps = ps;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	printf("%d\n", gx_ps_port(ps));
	fflush(stdout);
	int rc = gx_ps_run(ps);
	if (opt.stats && write_stats(ps))
		rc = rc ? rc : GX_EIO;
	/* on_stop stays installed to the end (cli.h, cli_stop_again) */
	signal(SIGUSR1, SIG_IGN);
	the_ps = NULL;
	gx_ps_free(ps);
	if (stop_sig) {
		cli_error("stopped by signal (%s)", stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
		return CLI_FAIL;
	}
	return rc ? CLI_FAIL : CLI_OK;
}
