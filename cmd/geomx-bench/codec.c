/*
 * codec.c — geomx-bench codec: encode and decode throughput of each codec on
 * random normal floats, each figure also a ratio to memcpy of the same bytes
 * timed in the same run (man/man1/geomx-bench.1).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cli.h"
#include "geomx.h"

/* Defaults, used by the code and printed by the help text. */
#define DEF_MIN_TIME 0.2 /* seconds of timed op per row */
#define DEF_REPEAT 3     /* at least this many samples per row */
#define DEF_SEED 1
#define MAX_SIZE (1ull << 26) /* floats: payloads stay under GX_DEFAULT_MAX_PAYLOAD */
#define MAX_SAMPLES (1u << 18) /* per op and row; at 1 ms a sample, over 4 minutes */

static const uint64_t def_sizes[] = {10000, 100000, 1000000, 10000000};
#define N_DEF_SIZES (sizeof def_sizes / sizeof def_sizes[0])

/* ------------------------------------------------------------------ timing */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of v[0..n), n >= 1; sorts v. Shared with cmd/geomx-bench/ps.c. */
double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------------ codecs */

enum { K_MEMCPY, K_CODEC, K_KERNEL, K_INDEX };

struct cdef {
	const char *name;
	int kind;
	int codec; /* enum gx_wire_codec or GX_CODEC_MPQ; K_INDEX: enum gx_index_enc */
	int exact;
	int zstd;
	int ef;
	const char *what;
};

static const struct cdef cdefs[] = {
	{"memcpy", K_MEMCPY, 0, 0, 0, 0, "baseline: memcpy of the N*4 input bytes (always measured)"},
	{"f32", K_CODEC, GX_CODEC_F32, 0, 0, 0, "codec handle, dense float32"},
	{"f16", K_CODEC, GX_CODEC_F16, 0, 0, 0, "codec handle, dense binary16"},
	{"f16-kernel", K_KERNEL, GX_CODEC_F16, 0, 0, 0, "gx_f32_to_f16 / gx_f16_to_f32 alone"},
	{"topk-exact", K_CODEC, GX_CODEC_SPARSE_F32, 1, 0, 0, "codec handle, exact top-k, float32 values"},
	{"topk-sampled", K_CODEC, GX_CODEC_SPARSE_F32, 0, 0, 0,
	 "codec handle, sampled top-k, float32 values"},
	{"topk-sampled-f16", K_CODEC, GX_CODEC_SPARSE_F16, 0, 0, 0,
	 "codec handle, sampled top-k, binary16 values"},
	{"topk-sampled+ef", K_CODEC, GX_CODEC_SPARSE_F32, 0, 0, 1,
	 "topk-sampled with error feedback and momentum correction"},
	{"mpq", K_CODEC, GX_CODEC_MPQ, 0, 0, 0, "codec handle, mixed precision policy"},
	{"f32+zstd", K_CODEC, GX_CODEC_F32, 0, 1, 0, "dense float32 then zstd"},
	{"topk-sampled+zstd", K_CODEC, GX_CODEC_SPARSE_F32, 0, 1, 0, "topk-sampled then zstd"},
	/* The index encodings alone: gx_sparse_pack (SPARSE_F32) of one fixed
	 * index set, an exact top-k of the input taken once; decode through a
	 * handle. */
	{"idx-u32", K_INDEX, GX_IDX_U32, 1, 0, 0, "gx_sparse_pack of a fixed top-k, U32 indices"},
	{"idx-varint", K_INDEX, GX_IDX_VARINT, 1, 0, 0, "the same, VARINT (LEB128 gaps)"},
	{"idx-bitpack", K_INDEX, GX_IDX_BITPACK, 1, 0, 0, "the same, BITPACK (gaps, 128 per block)"},
	{"idx-bitmap", K_INDEX, GX_IDX_BITMAP, 1, 0, 0, "the same, BITMAP (one bit per element)"},
	{"idx-auto", K_INDEX, GX_IDX_AUTO, 1, 0, 0, "the same, AUTO (the smallest of the four)"},
};
#define N_CDEFS (sizeof cdefs / sizeof cdefs[0])

/* What one row works on. All buffers are allocated and prefaulted once per
 * size; the codec handle and error-feedback state once per row. */
struct job {
	const struct cdef *d;
	uint64_t n;
	const float *x;   /* input, n floats */
	float *cpy;       /* memcpy destination, n floats */
	uint8_t *out;     /* encoded payload, cap bytes */
	size_t cap;
	float *dec;       /* decoded, n floats */
	gx_codec *c;
	gx_ef *ef;
	gx_frame_hdr h;   /* header of the last encode */
	size_t out_len;   /* payload bytes of the last encode */
	double *samples;  /* 2 * MAX_SAMPLES sample times */
	int err;          /* first gx_error from an op */
	uint32_t *idx;    /* idx-* rows: exact top-k of x, increasing, made once */
	float *val;       /* x at those indices */
	size_t k;
};

typedef void (*op_fn)(struct job *);

static void op_memcpy(struct job *j)
{
	memcpy(j->cpy, j->x, j->n * sizeof(float));
	/* The destination escapes: the copy cannot be dropped or merged. */
	__asm__ volatile("" : : "r"(j->cpy) : "memory");
}

static void op_encode(struct job *j)
{
	int e = gx_codec_encode(j->c, j->x, j->n, j->ef, &j->h, j->out, j->cap);
	if (e < 0 && !j->err)
		j->err = e;
	j->out_len = j->h.payload_len;
	__asm__ volatile("" : : "r"(j->out) : "memory");
}

static void op_decode(struct job *j)
{
	int e = gx_codec_decode(j->c, &j->h, j->out, j->dec, 0);
	if (e < 0 && !j->err)
		j->err = e;
	__asm__ volatile("" : : "r"(j->dec) : "memory");
}

static void op_ipack(struct job *j)
{
	long r = gx_sparse_pack(j->idx, j->val, j->k, j->n, GX_CODEC_SPARSE_F32, j->d->codec, j->out,
				j->cap);
	if (r < 0 && !j->err)
		j->err = (int)r;
	j->out_len = r < 0 ? 0 : (size_t)r;
	__asm__ volatile("" : : "r"(j->out) : "memory");
}

static void op_kencode(struct job *j)
{
	gx_f32_to_f16(j->x, (uint16_t *)j->out, j->n);
	j->out_len = j->n * sizeof(uint16_t);
	__asm__ volatile("" : : "r"(j->out) : "memory");
}

static void op_kdecode(struct job *j)
{
	gx_f16_to_f32((const uint16_t *)j->out, j->dec, j->n);
	__asm__ volatile("" : : "r"(j->dec) : "memory");
}

/* Calls op enough times in a row that one sample lasts about target seconds
 * (clock reads then cost well under 1% even on the smallest sizes). */
struct timed {
	op_fn op;
	long inner;  /* calls per sample */
	double *t;   /* per-call seconds of each sample */
	size_t n;
	double total;
};

static void calibrate(struct timed *s, struct job *j, double target)
{
	s->op(j); /* warm-up: caches, lazy allocations, F16C probe */
	double t0 = cli_now();
	s->op(j);
	double t1 = cli_now() - t0;
	long inner = 1;
	if (t1 < target)
		inner = t1 > 0 ? (long)ceil(target / t1) : 1000000;
	if (inner > 1000000)
		inner = 1000000;
	s->inner = inner;
	s->n = 0;
	s->total = 0;
}

static void sample(struct timed *s, struct job *j)
{
	double t0 = cli_now();
	for (long i = 0; i < s->inner; i++)
		s->op(j);
	double dt = cli_now() - t0;
	s->total += dt;
	s->t[s->n++] = dt / (double)s->inner;
}

struct bopts {
	double min_time;
	long repeat;
	double ratio;
	uint64_t seed;
	int json;
};

/* Median per-call seconds of op and, interleaved sample by sample with it,
 * of memcpy on the same input (*base), so both see the same machine. With
 * op == NULL only memcpy is measured. */
static void measure(struct job *j, op_fn op, const struct bopts *o, double *t_op, double *t_base,
		    size_t *reps)
{
	double target = o->min_time / 20;
	if (target > 1e-3)
		target = 1e-3;
	if (target < 2e-5)
		target = 2e-5;
	struct timed b = {op_memcpy, 0, j->samples, 0, 0};
	struct timed s = {op ? op : op_memcpy, 0, j->samples + MAX_SAMPLES, 0, 0};
	calibrate(&b, j, target);
	calibrate(&s, j, target);
	while ((s.total < o->min_time || s.n < (size_t)o->repeat) && s.n < MAX_SAMPLES) {
		sample(&b, j);
		sample(&s, j);
		if (j->err)
			break;
	}
	*t_base = bench_median(b.t, b.n);
	*t_op = bench_median(s.t, s.n);
	*reps = s.n;
}

static void *xalloc(size_t bytes)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, bytes ? bytes : 64)) {
		cli_error("out of memory (%zu bytes)", bytes);
		exit(CLI_FAIL);
	}
	memset(p, 0, bytes); /* prefault: page faults are not part of any op */
	return p;
}

/* Checks what decoding the last encode gave, so a codec that silently does
 * nothing cannot look fast. Returns 0 or prints why and returns -1. */
static int verify(struct job *j, const struct bopts *o)
{
	const struct cdef *d = j->d;
	int wire = d->kind == K_KERNEL ? GX_CODEC_F16 : gx_codec_choose(j->c, j->n);
	int sparse = wire == GX_CODEC_SPARSE_F32 || wire == GX_CODEC_SPARSE_F16;
	int half = wire == GX_CODEC_F16 || wire == GX_CODEC_SPARSE_F16;
	uint64_t nz = 0;
	float minsel = INFINITY, maxrest = 0;
	for (uint64_t i = 0; i < j->n; i++) {
		float x = j->x[i], y = j->dec[i];
		if (sparse && y == 0) {
			if (fabsf(x) > maxrest)
				maxrest = fabsf(x);
			continue;
		}
		nz++;
		if (fabsf(x) < minsel)
			minsel = fabsf(x);
		if (d->ef)
			continue; /* sends the accumulated vector, not x */
		float tol = half ? fabsf(x) * 0x1p-11f + 0x1p-24f : 0;
		if (!(fabsf(y - x) <= tol)) {
			cli_error("%s, size %llu: decoded element %llu is %g, input was %g", d->name,
				  (unsigned long long)j->n, (unsigned long long)i, (double)y, (double)x);
			return -1;
		}
	}
	if (!sparse)
		return 0;
	double want = (double)j->n * o->ratio;
	uint64_t hi = (uint64_t)ceil(want) + 1, lo = (uint64_t)floor(want / 2);
	if (nz > hi || nz < lo || (nz == 0 && want >= 1)) {
		cli_error("%s, size %llu: %llu elements decoded, top-k at %g wants about %.0f", d->name,
			  (unsigned long long)j->n, (unsigned long long)nz, o->ratio, want);
		return -1;
	}
	if (d->exact && minsel < maxrest) {
		cli_error("%s, size %llu: exact top-k kept |x| = %g but left out %g", d->name,
			  (unsigned long long)j->n, (double)minsel, (double)maxrest);
		return -1;
	}
	return 0;
}

/* idx-* rows: the decoded buffer holds exactly x at the chosen indices and
 * +0 everywhere else (compared bit for bit). */
static int verify_index(const struct job *j)
{
	size_t m = 0;
	for (uint64_t i = 0; i < j->n; i++) {
		float want = m < j->k && j->idx[m] == i ? j->x[j->idx[m++]] : 0.0f;
		if (memcmp(&j->dec[i], &want, sizeof want)) {
			cli_error("%s, size %llu: decoded element %llu is %g, want %g", j->d->name,
				  (unsigned long long)j->n, (unsigned long long)i, (double)j->dec[i],
				  (double)want);
			return -1;
		}
	}
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Index bytes per kept element when the last encode left a sparse payload
 * without zstd (its fixed part holds nnz at 4 and index_bytes at 8); else 0. */
static double idx_per_nnz(const struct job *j)
{
	int sparse = j->h.codec == GX_CODEC_SPARSE_F32 || j->h.codec == GX_CODEC_SPARSE_F16;
	if ((j->d->kind != K_CODEC && j->d->kind != K_INDEX) || !sparse ||
	    (j->h.flags & GX_FF_ZSTD) || j->out_len < 12 || !rd32(j->out + 4))
		return 0;
	return (double)rd32(j->out + 8) / rd32(j->out + 4);
}

static void print_header(const struct bopts *o)
{
	if (!o->json)
		printf("codec\tsize\top\tms\tmbps\tmemcpy_mbps\tx_memcpy\tbytes_out\tcompression\treps"
		       "\tidx_bytes_per_nnz\n");
}

static void print_row(const struct bopts *o, const char *name, uint64_t n, const char *op,
		      double t, double tb, size_t bytes_out, size_t reps, double ipn)
{
	double bytes = (double)n * sizeof(float);
	double mbps = bytes / t / 1e6, base = bytes / tb / 1e6;
	double comp = bytes_out ? bytes / (double)bytes_out : 0;
	/* ms in fixed notation with at least 4 significant digits. */
	double ms = t * 1e3;
	int prec = ms > 0 ? 4 - (int)floor(log10(ms)) : 3;
	prec = prec < 3 ? 3 : prec > 12 ? 12 : prec;
	if (o->json)
		printf("{\"codec\":\"%s\",\"size\":%llu,\"op\":\"%s\",\"ms\":%.*f,\"mbps\":%.1f,"
		       "\"memcpy_mbps\":%.1f,\"x_memcpy\":%.3f,\"bytes_out\":%zu,"
		       "\"compression\":%.2f,\"reps\":%zu,\"idx_bytes_per_nnz\":%.3f}\n",
		       name, (unsigned long long)n, op, prec, ms, mbps, base, tb / t, bytes_out, comp,
		       reps, ipn);
	else
		printf("%s\t%llu\t%s\t%.*f\t%.1f\t%.1f\t%.3f\t%zu\t%.2f\t%zu\t%.3f\n", name,
		       (unsigned long long)n, op, prec, ms, mbps, base, tb / t, bytes_out, comp, reps,
		       ipn);
	fflush(stdout);
}

/* Makes j->out at least bytes long (prefaulted). */
static void grow_out(struct job *j, size_t bytes)
{
	if (bytes <= j->cap)
		return;
	free(j->out);
	j->out = xalloc(bytes);
	j->cap = bytes;
}

/* The idx-* rows' index set, made once per size outside any timing: the
 * exact top-k of x, k rounded as the codec handle rounds it, so every
 * encoding packs the same indices and values. */
static int make_index(struct job *j, const struct bopts *o)
{
	if (j->idx)
		return 0;
	double kd = o->ratio * (double)j->n + 0.5;
	size_t k = kd >= (double)j->n ? (size_t)j->n : kd < 1 ? 1 : (size_t)kd;
	j->idx = xalloc(k * sizeof *j->idx);
	j->val = xalloc(k * sizeof *j->val);
	long r = gx_topk_exact(j->x, j->n, k, j->idx);
	if (r < 0) {
		cli_error("size %llu: exact top-k failed: %s", (unsigned long long)j->n,
			  gx_strerror((int)r));
		return -1;
	}
	j->k = (size_t)r;
	for (size_t i = 0; i < j->k; i++)
		j->val[i] = j->x[j->idx[i]];
	return 0;
}

/* Creates j->c for a codec row, or a default handle (decode only) for an
 * idx-* row. */
static int make_codec(struct job *j, const struct bopts *o)
{
	const struct cdef *d = j->d;
	gx_codec_opts co;
	gx_codec_opts_default(&co);
	if (d->kind == K_CODEC) {
		co.codec = d->codec;
		co.topk_ratio = o->ratio;
		co.exact = d->exact;
		co.zstd_level = d->zstd ? GX_DEFAULT_ZSTD_LEVEL : 0;
		co.seed = o->seed;
	}
	int err = 0;
	if (!(j->c = gx_codec_create(&co, &err))) {
		cli_error("%s: cannot create the codec: %s", d->name, gx_strerror(err));
		return -1;
	}
	if (d->ef && !(j->ef = gx_ef_create(j->n, GX_DEFAULT_MOMENTUM))) {
		cli_error("%s: cannot create the error-feedback state: %s", d->name,
			  gx_strerror(GX_ENOMEM));
		return -1;
	}
	return 0;
}

/* idx-* rows, once the encode has been measured: checks the payload's
 * fixed part against the library's own size of the index encoding and
 * builds the valid frame header that gx_codec_decode gets. */
static int index_header(struct job *j)
{
	const struct cdef *d = j->d;
	size_t ib = gx_sparse_index_size(j->idx, j->k, j->n, d->codec);
	if (j->out_len != 12 + ib + j->k * sizeof(float) || rd32(j->out + 4) != j->k ||
	    rd32(j->out + 8) != ib || (d->codec != GX_IDX_AUTO && j->out[0] != d->codec)) {
		cli_error("%s, size %llu: payload of %zu bytes disagrees with gx_sparse_index_size",
			  d->name, (unsigned long long)j->n, j->out_len);
		return -1;
	}
	gx_frame_hdr_init(&j->h);
	j->h.type = GX_FT_TENSOR;
	j->h.codec = GX_CODEC_SPARSE_F32;
	j->h.count = j->n;
	j->h.payload_len = j->h.raw_len = (uint32_t)j->out_len;
	int e = gx_frame_hdr_check(&j->h, NULL);
	if (e) {
		cli_error("%s, size %llu: frame header refused: %s", d->name,
			  (unsigned long long)j->n, gx_strerror(e));
		return -1;
	}
	return 0;
}

static int bench_one(struct job *j, const struct bopts *o)
{
	const struct cdef *d = j->d;
	double t, tb;
	size_t reps;

	if (d->kind == K_MEMCPY) {
		measure(j, NULL, o, &t, &tb, &reps);
		if (memcmp(j->cpy, j->x, j->n * sizeof(float))) {
			cli_error("memcpy, size %llu: the copy differs", (unsigned long long)j->n);
			return -1;
		}
		print_row(o, d->name, j->n, "copy", t, t, j->n * sizeof(float), reps, 0);
		return 0;
	}

	op_fn enc = op_kencode, dec = op_kdecode;
	grow_out(j, j->n * sizeof(uint16_t));
	if (d->kind == K_CODEC) {
		if (make_codec(j, o))
			return -1;
		grow_out(j, gx_codec_bound(j->c, j->n));
		enc = op_encode;
		dec = op_decode;
	} else if (d->kind == K_INDEX) {
		if (make_index(j, o) || make_codec(j, o))
			return -1;
		grow_out(j, gx_sparse_bound(j->k, j->n, GX_CODEC_SPARSE_F32));
		/* An encoding that cannot hold this index set (BITMAP beyond 2^32
		 * elements, beyond --size's limit today) is left out, not failed. */
		j->err = 0;
		op_ipack(j);
		if (j->err == GX_ETOOBIG) {
			cli_warn("%s, size %llu: skipped: the encoding cannot hold this index set (%s)",
				 d->name, (unsigned long long)j->n, gx_strerror(GX_ETOOBIG));
			return 0;
		}
		enc = op_ipack;
		dec = op_decode;
	}
	j->err = 0;
	memset(j->dec, 0xff, j->n * sizeof(float)); /* NaN: nothing left from the last row */

	measure(j, enc, o, &t, &tb, &reps);
	if (j->err) {
		cli_error("%s, size %llu: encode failed: %s", d->name, (unsigned long long)j->n,
			  gx_strerror(j->err));
		return -1;
	}
	if (d->kind == K_INDEX && index_header(j))
		return -1;
	size_t out_len = j->out_len;
	double ipn = idx_per_nnz(j);
	print_row(o, d->name, j->n, "encode", t, tb, out_len, reps, ipn);

	/* The payload decoded is the one the last encode left. */
	measure(j, dec, o, &t, &tb, &reps);
	if (j->err) {
		cli_error("%s, size %llu: decode failed: %s", d->name, (unsigned long long)j->n,
			  gx_strerror(j->err));
		return -1;
	}
	if (d->kind == K_INDEX ? verify_index(j) : verify(j, o))
		return -1;
	print_row(o, d->name, j->n, "decode", t, tb, out_len, reps, ipn);
	return 0;
}

static const struct cdef *find_cdef(const char *name)
{
	for (size_t i = 0; i < N_CDEFS; i++)
		if (!strcmp(cdefs[i].name, name))
			return &cdefs[i];
	return NULL;
}

enum { OPT_REPEAT = 256, OPT_SEED, OPT_FORMAT, OPT_LIST, OPT_SCALE };

static const struct option codec_long[] = {
	{"size", required_argument, NULL, 's'},
	{"codec", required_argument, NULL, 'c'},
	{"ratio", required_argument, NULL, 'r'},
	{"min-time", required_argument, NULL, 't'},
	{"repeat", required_argument, NULL, OPT_REPEAT},
	{"seed", required_argument, NULL, OPT_SEED},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"list", no_argument, NULL, OPT_LIST},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void codec_help(void)
{
	printf("Usage: %s codec [OPTION]...\n"
	       "Measure encode and decode throughput of the geomx codecs on N random normal\n"
	       "floats. Each figure is the median of at least --repeat samples and at least\n"
	       "--min-time seconds of the op, and is also given as a ratio to memcpy of the\n"
	       "same N*4 bytes, timed interleaved with it. Decoded data is checked.\n"
	       "\n"
	       "  -s, --size N        floats per buffer, repeatable; 1e6, 10M, 64Ki accepted\n"
	       "                      (default: ",
	       cli_prog);
	for (size_t i = 0; i < N_DEF_SIZES; i++) {
		uint64_t v = def_sizes[i];
		int e = 0;
		while (v >= 10 && v % 10 == 0) {
			v /= 10;
			e++;
		}
		printf(e ? "%s%llue%d" : "%s%llu", i ? " " : "", (unsigned long long)v, e);
	}
	printf(")\n"
	       "  -c, --codec NAME    codec to measure, repeatable (default: all; see --list);\n"
	       "                      memcpy, the baseline, is always measured\n"
	       "  -r, --ratio R       top-k fraction kept, 0.01 or 1%% (default: %g)\n"
	       "  -t, --min-time SEC  timed seconds per op at least (default: %g)\n"
	       "      --repeat N      samples per op at least (default: %d)\n"
	       "      --seed N        seed of the data and of sampled selection (default: %d)\n"
	       "      --format FMT    tsv (with a header line) or json (one object per line)\n"
	       "                      (default: tsv)\n"
	       "      --list          list the codec names and exit\n"
	       "  -q, --quiet         fewer messages on stderr\n"
	       "  -v, --verbose       more messages on stderr\n"
	       "  -h, --help          show this help and exit\n"
	       "  -V, --version       show the version and exit\n"
	       "\n"
	       "Columns: codec size op ms mbps memcpy_mbps x_memcpy bytes_out compression reps\n"
	       "idx_bytes_per_nnz (mbps: N*4 bytes / median time, in 10^6 bytes/s; x_memcpy:\n"
	       "mbps / memcpy_mbps; compression: N*4 / bytes_out; idx_bytes_per_nnz: index\n"
	       "bytes of a sparse payload per kept element, 0 for dense or zstd payloads).\n",
	       GX_DEFAULT_TOPK, DEF_MIN_TIME, DEF_REPEAT, DEF_SEED);
}

static void fill_normal(float *x, uint64_t n, uint64_t seed)
{
	gx_rng r;
	gx_rng_seed(&r, seed);
	for (uint64_t i = 0; i < n; i++)
		x[i] = gx_rng_normal(&r);
}

int cmd_codec(int argc, char **argv)
{
	struct bopts o = {DEF_MIN_TIME, DEF_REPEAT, GX_DEFAULT_TOPK, DEF_SEED, 0};
	uint64_t *sizes = NULL;
	size_t nsizes = 0;
	int want[N_CDEFS] = {0};
	int any = 0, c;
	long lv;
	double dv;

	while ((c = getopt_long(argc, argv, "s:c:r:t:qvhV", codec_long, NULL)) != -1) {
		switch (c) {
		case 's': {
			uint64_t v;
			if (cli_parse_count(optarg, &v) || v == 0 || v > MAX_SIZE)
				cli_usage_error("invalid --size '%s' (want 1 to %llu floats)", optarg,
						(unsigned long long)MAX_SIZE);
			uint64_t *p = realloc(sizes, (nsizes + 1) * sizeof *sizes);
			if (!p) {
				cli_error("out of memory");
				return CLI_FAIL;
			}
			sizes = p;
			sizes[nsizes++] = v;
			break;
		}
		case 'c': {
			const struct cdef *d = find_cdef(optarg);
			if (!d)
				cli_usage_error("unknown codec '%s' (see '%s codec --list')", optarg,
						cli_prog);
			want[d - cdefs] = 1;
			any = 1;
			break;
		}
		case 'r':
			if (cli_parse_ratio(optarg, &o.ratio))
				cli_usage_error("invalid --ratio '%s' (want a fraction in (0, 1], or a percentage)",
						optarg);
			break;
		case 't':
			if (cli_parse_double(optarg, &dv) || dv < 0 || dv > 3600)
				cli_usage_error("invalid --min-time '%s' (want 0 to 3600 seconds)", optarg);
			o.min_time = dv;
			break;
		case OPT_REPEAT:
			if (cli_parse_int(optarg, 1, 100000, &lv))
				cli_usage_error("invalid --repeat '%s' (want 1 to 100000)", optarg);
			o.repeat = lv;
			break;
		case OPT_SEED: {
			uint64_t v;
			if (cli_parse_count(optarg, &v))
				cli_usage_error("invalid --seed '%s'", optarg);
			o.seed = v;
			break;
		}
		case OPT_FORMAT:
			if (!strcmp(optarg, "json"))
				o.json = 1;
			else if (!strcmp(optarg, "tsv"))
				o.json = 0;
			else
				cli_usage_error("invalid --format '%s' (want tsv or json)", optarg);
			break;
		case OPT_LIST:
			for (size_t i = 0; i < N_CDEFS; i++)
				printf("%s\t%s\n", cdefs[i].name, cdefs[i].what);
			free(sizes);
			return CLI_OK;
		case 'q':
			if (cli_verbosity > 0)
				cli_verbosity--;
			break;
		case 'v':
			cli_verbosity++;
			break;
		case 'h':
			codec_help();
			free(sizes);
			return CLI_OK;
		case 'V':
			cli_print_version();
			free(sizes);
			return CLI_OK;
		default:
			cli_bad_option();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!nsizes) {
		sizes = malloc(sizeof def_sizes);
		if (!sizes) {
			cli_error("out of memory");
			return CLI_FAIL;
		}
		memcpy(sizes, def_sizes, sizeof def_sizes);
		nsizes = N_DEF_SIZES;
	}
	for (size_t i = 0; i < N_CDEFS; i++)
		if (!any || cdefs[i].kind == K_MEMCPY)
			want[i] = 1;

	cli_info("seed %llu, top-k ratio %g, median of >= %ld samples and >= %g s per op, F16C %s",
		 (unsigned long long)o.seed, o.ratio, o.repeat, o.min_time,
		 gx_f16_accelerated() ? "on" : "off");
	print_header(&o);
	int rc = CLI_OK;
	for (size_t si = 0; si < nsizes && rc == CLI_OK; si++) {
		uint64_t n = sizes[si];
		struct job j;
		memset(&j, 0, sizeof j);
		j.n = n;
		j.samples = xalloc(2 * MAX_SAMPLES * sizeof *j.samples);
		float *x = xalloc(n * sizeof(float));
		fill_normal(x, n, o.seed);
		j.x = x;
		j.cpy = xalloc(n * sizeof(float));
		j.dec = xalloc(n * sizeof(float));
		j.cap = n * sizeof(float); /* grown per row to the codec's bound */
		j.out = xalloc(j.cap);
		for (size_t ci = 0; ci < N_CDEFS && rc == CLI_OK; ci++) {
			if (!want[ci])
				continue;
			j.d = &cdefs[ci];
			cli_info("size %llu: %s", (unsigned long long)n, j.d->name);
			if (bench_one(&j, &o))
				rc = CLI_FAIL;
			gx_codec_free(j.c);
			gx_ef_free(j.ef);
			j.c = NULL;
			j.ef = NULL;
		}
		free(x);
		free(j.idx);
		free(j.val);
		free(j.cpy);
		free(j.dec);
		free(j.out);
		free(j.samples);
	}
	free(sizes);
	if (fflush(stdout) || ferror(stdout)) {
		cli_error("write error on stdout: %s", strerror(errno));
		return CLI_FAIL;
	}
	return rc;
}

