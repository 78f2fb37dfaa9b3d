/*
 * options.c — geomx-sparsify's command line: usage, option parsing and the
 * GEOMX_* defaults (geomx-sparsify(1)).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli.h"
#include "sparsify.h"

static void usage(void)
{
	gx_codec_opts d;
	gx_codec_opts_default(&d);
	printf("Usage: %s [OPTION]... [FILE]\n"
	       "Sparsify, quantize and compress a stream of tensors (geomx frames), keeping\n"
	       "error feedback per tensor, or decode such a stream (-d). With no FILE, or\n"
	       "when FILE is -, read standard input. Output goes to standard output.\n\n",
	       cli_prog);
	printf("Input:\n"
	       "      --from FORMAT    frames (default), raw (little-endian float32) or idx\n"
	       "      --chunk N        raw: split the input into tensors of N elements\n"
	       "      --same-key       raw: give the chunks key 0 and rounds 0, 1, ...\n"
	       "                       (default: keys 0, 1, ...)\n"
	       "      --limit N        process at most N tensors\n"
	       "      --max-elems N    refuse tensors of more than N elements (default %llu)\n",
	       (unsigned long long)GX_DEFAULT_MAX_COUNT);
	printf("Encoding (default: dense float32):\n"
	       "  -k, --topk RATIO     keep the largest RATIO of each tensor (0.01 or 1%%)\n"
	       "      --exact          exact top-k (default: sampled threshold, as in DGC)\n"
	       "      --fp16           float16 values (dense, or the values kept by -k)\n"
	       "      --mpq BOUND      mixed precision: tensors under BOUND elements (e.g. %u)\n"
	       "                       dense float16, the rest sparse float32 at the -k\n"
	       "                       ratio (default %g)\n"
	       "  -z, --zstd[=LEVEL]   add a zstd stage (default level %d; %d..%d)\n"
	       "      --index-enc ENC  sparse indices: auto (default), u32, varint, bitpack,\n"
	       "                       bitmap\n"
	       "      --seed N         seed of the sampled selection (default %llu)\n"
	       "      --no-crc         do not checksum the output payloads\n",
	       GX_DEFAULT_MPQ_BOUND, GX_DEFAULT_TOPK, GX_DEFAULT_ZSTD_LEVEL, ZLEVEL_MIN,
	       ZLEVEL_MAX, (unsigned long long)d.seed);
	printf("Error feedback (on for lossy encodings):\n"
	       "      --residual FILE  start from the state in FILE if it exists; save it there\n"
	       "      --momentum[=F]   DGC momentum correction, factor F (default %g)\n"
	       "      --no-ef          encode every tensor on its own\n",
	       (double)GX_DEFAULT_MOMENTUM);
	printf("Decoding:\n"
	       "  -d, --decode         decode to dense float32 frames\n"
	       "      --to FORMAT      frames (default) or raw (little-endian float32 values)\n"
	       "Output and messages:\n"
	       "  -o, --output FILE    write FILE (atomically) instead of standard output\n"
	       "  -f, --force          allow binary data to or from a terminal\n"
	       "      --stats          print a summary on standard error at the end\n"
	       "  -q, --quiet          print errors only\n"
	       "  -v, --verbose        say more (twice: a line per tensor)\n"
	       "  -h, --help           display this help and exit\n"
	       "  -V, --version        output version information and exit\n\n"
	       "Environment: GEOMX_SEED, GEOMX_ZSTD_LEVEL, GEOMX_VERBOSE.\n"
	       "Exit status: 0 ok, 1 runtime failure, 2 usage error. See %s(1).\n",
	       cli_prog);
}

static int parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_zlevel(const char *s, int *out)
{
	long v;
	if (cli_parse_int(s, ZLEVEL_MIN, ZLEVEL_MAX, &v) || v == 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int pick(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

enum {
	OPT_FROM = 256, OPT_TO, OPT_CHUNK, OPT_LIMIT, OPT_MAXEL, OPT_EXACT, OPT_FP16, OPT_MPQ,
	OPT_IENC, OPT_SEED, OPT_NOCRC, OPT_RESID, OPT_MOM, OPT_NOEF, OPT_STATS, OPT_SAMEKEY
};

void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "from", 1, 0, OPT_FROM }, { "to", 1, 0, OPT_TO }, { "chunk", 1, 0, OPT_CHUNK },
		{ "same-key", 0, 0, OPT_SAMEKEY },
		{ "limit", 1, 0, OPT_LIMIT }, { "max-elems", 1, 0, OPT_MAXEL },
		{ "topk", 1, 0, 'k' }, { "exact", 0, 0, OPT_EXACT }, { "fp16", 0, 0, OPT_FP16 },
		{ "mpq", 1, 0, OPT_MPQ }, { "zstd", 2, 0, 'z' }, { "index-enc", 1, 0, OPT_IENC },
		{ "seed", 1, 0, OPT_SEED }, { "no-crc", 0, 0, OPT_NOCRC },
		{ "residual", 1, 0, OPT_RESID }, { "momentum", 2, 0, OPT_MOM },
		{ "no-ef", 0, 0, OPT_NOEF }, { "decode", 0, 0, 'd' }, { "output", 1, 0, 'o' },
		{ "force", 0, 0, 'f' }, { "stats", 0, 0, OPT_STATS }, { "quiet", 0, 0, 'q' },
		{ "verbose", 0, 0, 'v' }, { "help", 0, 0, 'h' }, { "version", 0, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	static const char *const fmts[] = { "frames", "raw", "idx" };
	static const char *const encs[] = { "auto", "u32", "varint", "bitpack", "bitmap" };
	const char *enc_only = NULL; /* an option -d cannot take */
	const char *bare = NULL;     /* -z or --momentum given without its value */
	int fp16 = 0, k_set = 0, mpq_set = 0, seed_set = 0, z_set = 0, z_level = 0;
	int exact_set = 0, ienc_set = 0;
	double ratio = GX_DEFAULT_TOPK;
	gx_codec_opts_default(&opt.co);
	opt.co.crc = 1;
	opt.max_elems = GX_DEFAULT_MAX_COUNT;
	int c;
	while ((c = getopt_long(argc, argv, "k:z::do:fqvhV", lo, NULL)) != -1) {
		switch (c) {
		case OPT_FROM:
			if ((opt.from = pick(optarg, fmts, 3)) < 0)
				cli_usage_error("invalid --from '%s' (want frames, raw or idx)", optarg);
			break;
		case OPT_TO:
			if ((opt.to = pick(optarg, fmts, 2)) < 0)
				cli_usage_error("invalid --to '%s' (want frames or raw)", optarg);
			break;
		case OPT_CHUNK:
			if (cli_parse_count(optarg, &opt.chunk) || !opt.chunk)
				cli_usage_error("invalid --chunk '%s' (want a positive element count)",
						optarg);
			break;
		case OPT_SAMEKEY:
			opt.same_key = 1;
			break;
		case OPT_LIMIT:
			if (cli_parse_count(optarg, &opt.limit))
				cli_usage_error("invalid --limit '%s' (want a tensor count)", optarg);
			opt.limit_set = 1;
			break;
		case OPT_MAXEL:
			if (cli_parse_count(optarg, &opt.max_elems) || !opt.max_elems ||
			    opt.max_elems > (1ull << 32))
				cli_usage_error("invalid --max-elems '%s' (want 1..%llu elements)",
						optarg, 1ull << 32);
			break;
		case 'k':
			if (cli_parse_ratio(optarg, &ratio))
				cli_usage_error("invalid top-k ratio '%s' (want a fraction in (0, 1], "
						"e.g. 0.01 or 1%%)", optarg);
			k_set = 1;
			enc_only = "-k";
			break;
		case OPT_EXACT:
			opt.co.exact = exact_set = 1;
			enc_only = "--exact";
			break;
		case OPT_FP16:
			fp16 = 1;
			enc_only = "--fp16";
			break;
		case OPT_MPQ:
			if (cli_parse_count(optarg, &opt.co.mpq_bound) || !opt.co.mpq_bound)
				cli_usage_error("invalid --mpq bound '%s' (want a positive element "
						"count, e.g. %u)", optarg, GX_DEFAULT_MPQ_BOUND);
			mpq_set = 1;
			enc_only = "--mpq";
			break;
		case 'z':
			if (optarg && parse_zlevel(optarg, &z_level))
				cli_usage_error("invalid zstd level '%s' (want %d..%d, not 0)", optarg,
						ZLEVEL_MIN, ZLEVEL_MAX);
			z_set = optarg ? 2 : 1;
			bare = optarg ? bare : "--zstd";
			enc_only = "-z";
			break;
		case OPT_IENC:
			if ((opt.co.index_enc = pick(optarg, encs, 5)) < 0)
				cli_usage_error("invalid --index-enc '%s' (want auto, u32, varint, "
						"bitpack or bitmap)", optarg);
			ienc_set = 1;
			enc_only = "--index-enc";
			break;
		case OPT_SEED:
			if (parse_u64(optarg, &opt.co.seed))
				cli_usage_error("invalid --seed '%s' (want an integer 0..2^64-1)", optarg);
			seed_set = 1;
			enc_only = "--seed";
			break;
		case OPT_NOCRC:
			opt.co.crc = 0;
			break;
		case OPT_RESID:
			opt.residual = optarg;
			enc_only = "--residual";
			break;
		case OPT_MOM: {
			double m = GX_DEFAULT_MOMENTUM;
			if (optarg && (cli_parse_double(optarg, &m) || !(m > 0 && m < 1)))
				cli_usage_error("invalid momentum '%s' (want a factor in (0, 1))", optarg);
			opt.momentum = (float)m;
			bare = optarg ? bare : "--momentum";
			enc_only = "--momentum";
			break;
		}
		case OPT_NOEF:
			opt.no_ef = 1;
			enc_only = "--no-ef";
			break;
		case 'd': opt.decode = 1; break;
		case 'o': opt.output = optarg; break;
		case 'f': opt.force = 1; break;
		case OPT_STATS: opt.stats = 1; break;
		case 'q': cli_verbosity = 0; break;
		case 'v': cli_verbosity++; break;
		case 'h': usage(); exit(CLI_OK);
		case 'V': cli_print_version(); exit(CLI_OK);
		default: cli_bad_option();
		}
	}
	double num;
	if (bare && optind < argc && cli_parse_double(argv[optind], &num) == 0 &&
	    access(argv[optind], F_OK) != 0)
		cli_usage_error("'%s' is not an input file; attach the value: %s=%s", argv[optind],
				bare, argv[optind]);
	if (argc - optind > 1)
		cli_usage_error("extra operand '%s' (one input at most)", argv[optind + 1]);
	opt.input = optind < argc ? argv[optind] : "-";
	if (opt.decode && enc_only)
		cli_usage_error("-d cannot be combined with %s", enc_only);
	if (opt.decode && opt.from != FMT_FRAMES)
		cli_usage_error("-d reads frames only (not --from %s)", fmts[opt.from]);
	if (opt.chunk && opt.from != FMT_RAW)
		cli_usage_error("--chunk needs --from raw");
	if (opt.same_key && !opt.chunk)
		cli_usage_error("--same-key needs --chunk");
	if (opt.chunk > opt.max_elems)
		cli_usage_error("--chunk %" PRIu64 " exceeds --max-elems %" PRIu64, opt.chunk,
				opt.max_elems);
	if (mpq_set && fp16)
		cli_usage_error("--mpq and --fp16 cannot be combined (--mpq already sends small "
				"tensors as float16)");
	if ((exact_set || ienc_set) && !k_set && !mpq_set)
		cli_usage_error("%s needs -k or --mpq", exact_set ? "--exact" : "--index-enc");
	if (opt.no_ef && (opt.residual || opt.momentum))
		cli_usage_error("--no-ef cannot be combined with %s",
				opt.residual ? "--residual" : "--momentum");
	if (!seed_set && cli_env("SEED") && parse_u64(cli_env("SEED"), &opt.co.seed))
		cli_usage_error("invalid GEOMX_SEED '%s' (want an integer)", cli_env("SEED"));
	if (z_set == 1) {
		z_level = GX_DEFAULT_ZSTD_LEVEL;
		if (cli_env("ZSTD_LEVEL") && parse_zlevel(cli_env("ZSTD_LEVEL"), &z_level))
			cli_usage_error("invalid GEOMX_ZSTD_LEVEL '%s' (want %d..%d, not 0)",
					cli_env("ZSTD_LEVEL"), ZLEVEL_MIN, ZLEVEL_MAX);
	}
	opt.co.zstd_level = z_level;
	opt.co.topk_ratio = ratio;
	if (mpq_set)
		opt.co.codec = GX_CODEC_MPQ;
	else if (k_set)
		opt.co.codec = fp16 ? GX_CODEC_SPARSE_F16 : GX_CODEC_SPARSE_F32;
	else
		opt.co.codec = fp16 ? GX_CODEC_F16 : GX_CODEC_F32;
	opt.use_ef = !opt.decode && !opt.no_ef &&
		     (opt.residual || opt.momentum || opt.co.codec != GX_CODEC_F32);
}

