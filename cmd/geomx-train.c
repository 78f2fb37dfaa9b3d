/*
 * geomx-train — trains a small network on a dataset, alone (an optimizer
 * here) or as a worker of a HiPS job (gradients to the data center's local
 * parameter server, parameters back from the global tier; under HFA sync,
 * an optimizer here and every k1 steps the model's change up, the averaged
 * model back). Options here;
 * the run in geomx-train/run.c, checkpoints in geomx-train/ckpt.c. See
 * geomx-train(1).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "geomx-train/train.h"

#define DEF_MODEL "cnn"
#define DEF_EPOCHS 1
#define DEF_BATCH 32
#define DEF_SEED 1
#define DEF_OPTIM "sgd"
#define DEF_THREADS 1
#define DEF_REPORT 100
#define MAX_BATCH 65536L
#define MAX_EPOCHS 1000000L
#define MAX_THREADS 256L

enum {
	OPT_DATA = 256, OPT_DATA_DIR, OPT_TRAIN, OPT_TRAIN_LABELS, OPT_TEST, OPT_TEST_LABELS,
	OPT_DFORMAT, OPT_REGRESSION, OPT_LIMIT, OPT_TEST_LIMIT, OPT_SHARD, OPT_SHARD_BY, OPT_MODEL,
	OPT_EPOCHS, OPT_BATCH, OPT_STEPS, OPT_SEED, OPT_OPTIMIZER, OPT_LR, OPT_MOMENTUM, OPT_WD,
	OPT_THREADS, OPT_SAVE, OPT_LOAD, OPT_REPORT, OPT_EVAL, OPT_EVAL_ASYNC, OPT_FORMAT, OPT_PS, OPT_RANK,
	OPT_PARTY, OPT_CTIMEOUT, OPT_KEY, OPT_INSECURE, OPT_CKPT, OPT_CKPT_EVERY, OPT_RESUME,
	OPT_SCHEDULE,
	OPT_CREDIT, OPT_TRACE
};

static const struct option longopts[] = {
	{"data", required_argument, NULL, OPT_DATA},
	{"data-dir", required_argument, NULL, OPT_DATA_DIR},
	{"train", required_argument, NULL, OPT_TRAIN},
	{"train-labels", required_argument, NULL, OPT_TRAIN_LABELS},
	{"test", required_argument, NULL, OPT_TEST},
	{"test-labels", required_argument, NULL, OPT_TEST_LABELS},
	{"data-format", required_argument, NULL, OPT_DFORMAT},
	{"regression", no_argument, NULL, OPT_REGRESSION},
	{"limit", required_argument, NULL, OPT_LIMIT},
	{"test-limit", required_argument, NULL, OPT_TEST_LIMIT},
	{"shard", required_argument, NULL, OPT_SHARD},
	{"shard-by", required_argument, NULL, OPT_SHARD_BY},
	{"model", required_argument, NULL, OPT_MODEL},
	{"epochs", required_argument, NULL, OPT_EPOCHS},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"steps", required_argument, NULL, OPT_STEPS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"optimizer", required_argument, NULL, OPT_OPTIMIZER},
	{"lr", required_argument, NULL, OPT_LR},
	{"momentum", required_argument, NULL, OPT_MOMENTUM},
	{"weight-decay", required_argument, NULL, OPT_WD},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"save", required_argument, NULL, OPT_SAVE},
	{"load", required_argument, NULL, OPT_LOAD},
	{"checkpoint", required_argument, NULL, OPT_CKPT},
	{"checkpoint-every", required_argument, NULL, OPT_CKPT_EVERY},
	{"resume", no_argument, NULL, OPT_RESUME},
	{"report-every", required_argument, NULL, OPT_REPORT},
	{"eval-every", required_argument, NULL, OPT_EVAL},
	{"eval-async", no_argument, NULL, OPT_EVAL_ASYNC},
	{"trace", required_argument, NULL, OPT_TRACE},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"ps", required_argument, NULL, OPT_PS},
	{"rank", required_argument, NULL, OPT_RANK},
	{"party", required_argument, NULL, OPT_PARTY},
	{"connect-timeout", required_argument, NULL, OPT_CTIMEOUT},
	{"key", required_argument, NULL, OPT_KEY},
	{"insecure", no_argument, NULL, OPT_INSECURE},
	{"schedule", required_argument, NULL, OPT_SCHEDULE},
	{"credit", required_argument, NULL, OPT_CREDIT},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{NULL, 0, NULL, 0},
};

static void help(void)
{
	printf("Usage: %s --data fashion-mnist [OPTION]...\n"
	       "  or:  %s --train FILE [--test FILE] [--data-format FMT] [OPTION]...\n"
	       "Train a small neural network on the CPU, alone or as a worker of a HiPS job.\n"
	       "Reports go to stdout (TSV with a header line, or JSON lines).\n"
	       "\n"
	       "Data:\n"
	       "      --data NAME        a known dataset: fashion-mnist (60000 training and\n"
	       "                         10000 test images)\n"
	       "      --data-dir DIR     where fashion-mnist lives (default: $GEOMX_FASHION_MNIST,\n"
	       "                         else %s)\n"
	       "      --train FILE       training set (instead of --data)\n"
	       "      --train-labels FILE  its labels (idx: required)\n"
	       "      --test FILE        test set (optional), --test-labels FILE its labels\n"
	       "      --data-format FMT  idx, csv (label last) or libsvm (default: idx)\n"
	       "      --regression       csv/libsvm labels are values, not classes\n"
	       "      --limit N          use the first N training samples (default: all)\n"
	       "      --test-limit N     evaluate on the first N test samples (default: all)\n"
	       "      --shard I/N        train on shard I of N (0 <= I < N) (default: 0/1)\n"
	       "      --shard-by HOW     contiguous (default) or class (non-IID)\n"
	       "Model and training:\n"
	       "      --model SPEC       cnn, cnn-wide, mlp, logreg, linreg or a spec such as\n"
	       "                         conv:8:3,relu,pool:2,dense:10 (default: %s)\n"
	       "      --epochs N         passes over the shard (default: %d)\n"
	       "      --batch N          samples per step (default: %d)\n"
	       "      --steps N          stop after N steps, 0 no limit (default: 0)\n"
	       "      --seed S           seeds the initial weights and the shuffles (default: %d)\n"
	       "      --optimizer NAME   sgd momentum nesterov adagrad rmsprop adadelta adam\n"
	       "                         adamw dcasgd (default: %s; standalone and HFA)\n"
	       "      --lr X             learning rate (default: the optimizer's)\n"
	       "      --momentum X       momentum (momentum, nesterov, dcasgd)\n"
	       "      --weight-decay X   L2 penalty (decoupled for adamw) (default: 0)\n"
	       "      --threads N        BLAS threads (default: %d)\n"
	       "      --load FILE        start from a checkpoint\n"
	       "      --save FILE        write a checkpoint at the end\n"
	       "      --checkpoint FILE  keep the run's state (parameters, optimizer state,\n"
	       "                         step) in FILE: at the start and the end, when\n"
	       "                         stopped by a signal or a failure that leaves the\n"
	       "                         model whole, and every --checkpoint-every steps\n"
	       "      --checkpoint-every N  steps between checkpoints, 0 none (default: 0)\n"
	       "      --resume           go on from the --checkpoint FILE when it exists\n"
	       "Reports:\n"
	       "      --report-every N   a report every N steps, 0 only at the end (default: %d)\n"
	       "      --eval-every N     test accuracy every N steps, 0 only at the end\n"
	       "                         (default: 0)\n"
	       "      --eval-async       those evaluations in a forked copy of the process\n"
	       "                         while the training goes on (its line comes when\n"
	       "                         done; a synchronous job does not wait for them)\n"
	       "      --format FMT       tsv or json (default: tsv)\n"
	       "      --trace FILE       with --ps: a line for each push of a step's\n"
	       "                         gradients and each wait for their answers (TSV)\n"
	       "Distributed (a worker of a HiPS job; the servers run the optimizer, but under\n"
	       "HFA sync each worker runs its own and sends its model's change every k1 steps):\n"
	       "      --ps HOST:PORT[,...]  the local PS of this data center (or, flat, the\n"
	       "                         global servers)\n"
	       "      --rank R           this worker's rank in its data center (default: 0)\n"
	       "      --party P          this worker's data center (default: 0)\n"
	       "      --connect-timeout SEC  keep trying to reach the servers this long\n"
	       "                         (default: %g)\n"
	       "      --key FILE         key file (the job's, the party's or this worker's):\n"
	       "                         authenticate and encrypt the link to the PS\n"
	       "                         (default: $GEOMX_KEY)\n"
	       "      --insecure         without a key: a plaintext link (a warning; also\n"
	       "                         GEOMX_INSECURE=1); with neither, --ps is refused\n"
	       "      --schedule S       fifo: push every gradient after the backward pass and\n"
	       "                         wait for every answer before the next step; p3: push\n"
	       "                         each layer's as soon as it is computed, first layers\n"
	       "                         first, and start the next forward pass on a layer as\n"
	       "                         soon as its answer is in (default: $GEOMX_SCHEDULE,\n"
	       "                         else fifo)\n"
	       "      --credit C         p3: bytes handed to the link ahead of the wire, or\n"
	       "                         auto: what the link drains in 4 ms, measured; parts\n"
	       "                         beyond wait in priority order (default auto)\n"
	       "  -q, --quiet            fewer messages on stderr\n"
	       "  -v, --verbose          more messages on stderr\n"
	       "  -h, --help             show this help and exit\n"
	       "  -V, --version          show the version and exit\n"
	       "\n"
	       "Every worker takes floor(S / batch) steps per epoch, S the size of the job's\n"
	       "smallest shard. Exit status: 0 success, 1 runtime failure, 2 usage error.\n"
	       "See %s(1).\n",
	       cli_prog, cli_prog, GX_FASHION_MNIST_DIR, DEF_MODEL, DEF_EPOCHS, DEF_BATCH, DEF_SEED,
	       DEF_OPTIM, DEF_THREADS, DEF_REPORT, GX_DEFAULT_CONNECT_TIMEOUT, cli_prog);
}

static void on_signal(int sig)
{
	if (cli_stop_again()) { /* a second signal: no more patience */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	train_stop = 1;
}

static uint64_t parse_count_arg(const char *name, const char *s, int zero_ok)
{
	uint64_t v;
	if (cli_parse_count(s, &v) || (!zero_ok && v == 0))
		cli_usage_error("invalid --%s '%s' (want a whole number%s)", name, s,
				zero_ok ? "" : " > 0");
	return v;
}

static float parse_float_arg(const char *name, const char *s, int pos)
{
	double v;
	if (cli_parse_double(s, &v) || v < 0 || (pos && v == 0) || v > 1e6)
		cli_usage_error("invalid --%s '%s' (want a number%s)", name, s, pos ? " > 0" : " >= 0");
	return (float)v;
}

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	struct topts o;
	memset(&o, 0, sizeof o);
	o.model = DEF_MODEL;
	o.epochs = DEF_EPOCHS;
	o.batch = DEF_BATCH;
	o.seed = DEF_SEED;
	o.threads = DEF_THREADS;
	o.report_every = DEF_REPORT;
	o.shard_n = 1;
	o.connect_timeout = GX_DEFAULT_CONNECT_TIMEOUT;
	o.dformat = DFMT_IDX;
	int kind = gx_optim_kind_of(DEF_OPTIM), c, optim_set = 0;
	float lr = -1, momentum = -1, wd = -1;
	const char *data_dir_flag = NULL, *key_path = NULL;
	const char *schedule_arg = NULL, *credit_arg = NULL;
	int insecure = 0;
	long lv;
	double dv;

	while ((c = getopt_long(argc, argv, "qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DATA:
			if (strcmp(optarg, "fashion-mnist") != 0)
				cli_usage_error("invalid --data '%s' (known: fashion-mnist)", optarg);
			o.data = optarg;
			break;
		case OPT_DATA_DIR:
			data_dir_flag = optarg;
			break;
		case OPT_TRAIN:
			o.train = optarg;
			break;
		case OPT_TRAIN_LABELS:
			o.train_labels = optarg;
			break;
		case OPT_TEST:
			o.test = optarg;
			break;
		case OPT_TEST_LABELS:
			o.test_labels = optarg;
			break;
		case OPT_DFORMAT:
			if (strcmp(optarg, "idx") == 0)
				o.dformat = DFMT_IDX;
			else if (strcmp(optarg, "csv") == 0)
				o.dformat = DFMT_CSV;
			else if (strcmp(optarg, "libsvm") == 0)
				o.dformat = DFMT_LIBSVM;
			else
				cli_usage_error("invalid --data-format '%s' (want idx, csv or libsvm)", optarg);
			break;
		case OPT_REGRESSION:
			o.regression = 1;
			break;
		case OPT_LIMIT:
			o.limit = parse_count_arg("limit", optarg, 0);
			break;
		case OPT_TEST_LIMIT:
			o.test_limit = parse_count_arg("test-limit", optarg, 0);
			break;
		case OPT_SHARD: {
			unsigned long i, n;
			char tail;
			if (sscanf(optarg, "%lu/%lu%c", &i, &n, &tail) != 2 || n == 0 || i >= n ||
			    n > UINT32_MAX || optarg[0] == '-' || strchr(optarg, '-'))
				cli_usage_error("invalid --shard '%s' (want I/N with 0 <= I < N)", optarg);
			o.shard_i = (uint32_t)i;
			o.shard_n = (uint32_t)n;
			break;
		}
		case OPT_SHARD_BY:
			if (strcmp(optarg, "contiguous") == 0)
				o.by_class = 0;
			else if (strcmp(optarg, "class") == 0)
				o.by_class = 1;
			else
				cli_usage_error("invalid --shard-by '%s' (want contiguous or class)", optarg);
			break;
		case OPT_MODEL:
			o.model = optarg;
			break;
		case OPT_EPOCHS:
			if (cli_parse_int(optarg, 0, MAX_EPOCHS, &lv))
				cli_usage_error("invalid --epochs '%s' (want 0 to %ld)", optarg, MAX_EPOCHS);
			o.epochs = lv;
			break;
		case OPT_BATCH:
			if (cli_parse_int(optarg, 1, MAX_BATCH, &lv))
				cli_usage_error("invalid --batch '%s' (want 1 to %ld)", optarg, MAX_BATCH);
			o.batch = lv;
			break;
		case OPT_STEPS:
			o.max_steps = parse_count_arg("steps", optarg, 1);
			break;
		case OPT_SEED:
			if (cli_parse_count(optarg, &o.seed))
				cli_usage_error("invalid --seed '%s'", optarg);
			break;
		case OPT_OPTIMIZER:
			if ((kind = gx_optim_kind_of(optarg)) < 0)
				cli_usage_error("invalid --optimizer '%s' (want sgd, momentum, nesterov, "
						"adagrad, rmsprop, adadelta, adam, adamw or dcasgd)", optarg);
			optim_set = 1;
			break;
		case OPT_LR:
			lr = parse_float_arg("lr", optarg, 1);
			optim_set = 1;
			break;
		case OPT_MOMENTUM:
			momentum = parse_float_arg("momentum", optarg, 0);
			optim_set = 1;
			break;
		case OPT_WD:
			wd = parse_float_arg("weight-decay", optarg, 0);
			optim_set = 1;
			break;
		case OPT_THREADS:
			if (cli_parse_int(optarg, 1, MAX_THREADS, &lv))
				cli_usage_error("invalid --threads '%s' (want 1 to %ld)", optarg, MAX_THREADS);
			o.threads = (int)lv;
			break;
		case OPT_SAVE:
			o.save = optarg;
			break;
		case OPT_LOAD:
			o.load = optarg;
			break;
		case OPT_CKPT:
			o.checkpoint = optarg;
			break;
		case OPT_CKPT_EVERY:
			o.checkpoint_every = parse_count_arg("checkpoint-every", optarg, 1);
			break;
		case OPT_RESUME:
			o.resume = 1;
			break;
		case OPT_REPORT:
			o.report_every = parse_count_arg("report-every", optarg, 1);
			break;
		case OPT_EVAL:
			o.eval_every = parse_count_arg("eval-every", optarg, 1);
			break;
		case OPT_EVAL_ASYNC:
			o.eval_async = 1;
			break;
		case OPT_TRACE:
			o.trace = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "tsv") == 0)
				o.rformat = RFMT_TSV;
			else if (strcmp(optarg, "json") == 0)
				o.rformat = RFMT_JSON;
			else
				cli_usage_error("invalid --format '%s' (want tsv or json)", optarg);
			break;
		case OPT_PS:
			o.ps = optarg;
			break;
		case OPT_RANK:
		case OPT_PARTY:
			if (cli_parse_int(optarg, 0, INT32_MAX, &lv))
				cli_usage_error("invalid --%s '%s'", c == OPT_RANK ? "rank" : "party", optarg);
			if (c == OPT_RANK)
				o.rank = (uint32_t)lv;
			else
				o.party = (uint32_t)lv;
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
		case OPT_SCHEDULE:
			schedule_arg = optarg;
			break;
		case OPT_CREDIT:
			credit_arg = optarg;
			break;
		case 'q':
			if (cli_verbosity > 0)
				cli_verbosity--;
			break;
		case 'v':
			cli_verbosity++;
			break;
		case 'h':
			help();
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
	if (!o.data && !o.train)
		cli_usage_error("no data: give --data fashion-mnist or --train FILE");
	if (o.data && (o.train || o.test || o.train_labels || o.test_labels))
		cli_usage_error("--data excludes --train, --test and their labels");
	if (!o.data && o.dformat == DFMT_IDX &&
	    (!o.train_labels || (o.test && !o.test_labels)))
		cli_usage_error("IDX data needs --train-labels%s", o.test ? " and --test-labels" : "");
	if (!o.data && o.dformat != DFMT_IDX && (o.train_labels || o.test_labels))
		cli_usage_error("--train-labels and --test-labels are for IDX data only");
	if (o.regression && (o.data || o.dformat == DFMT_IDX))
		cli_usage_error("--regression is for csv and libsvm data");
	if (o.test_labels && !o.test)
		cli_usage_error("--test-labels without --test");
	if (o.ps && !*o.ps)
		cli_usage_error("empty --ps");
	if (o.trace && !o.ps)
		cli_usage_error("--trace goes with --ps (a standalone run has no pushes to trace)");
	if ((o.resume || o.checkpoint_every) && !o.checkpoint)
		cli_usage_error("--%s needs --checkpoint FILE", o.resume ? "resume" : "checkpoint-every");
	if (o.resume && o.load)
		cli_usage_error("--resume excludes --load (the checkpoint holds the parameters)");
	if (o.data)
		o.data_dir = data_dir_flag ? data_dir_flag : cli_env("FASHION_MNIST");
	else if (data_dir_flag)
		cli_usage_error("--data-dir goes with --data");

	o.credit = cli_schedule(schedule_arg, credit_arg);
	o.schedule = o.credit ? SCHEDULE_P3 : SCHEDULE_FIFO;
	/* (GEOMX_SCHEDULE, set for a whole job, says nothing to a standalone run) */
	if ((schedule_arg || credit_arg) && o.credit && !o.ps)
		cli_warn("--schedule is ignored without --ps: there is nothing to send");

	/* A worker's link to its servers is secure unless asked otherwise. */
	if (o.ps)
		o.have_key = cli_secure_key(key_path, insecure, &o.key);
	else if (key_path || insecure)
		cli_usage_error("--%s goes with --ps", key_path ? "key" : "insecure");

	gx_optim_opts_default(&o.optim, kind);
	if (lr >= 0)
		o.optim.lr = lr;
	if (momentum >= 0)
		o.optim.momentum = momentum;
	if (wd >= 0)
		o.optim.weight_decay = wd;
	/* Whether the optimizer flags matter with --ps depends on the servers'
	 * sync mode, known once connected (run.c says so then). */
	o.optim_set = optim_set;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return train_run(&o);
}
