/* test_optim.c — the optimizers against torch.optim's own numbers
 * (tests/ref/optim_ref.h, written by tests/ref/optim_ref.py), option
 * validation, names, defaults and DC-ASGD's per-sender backups. When
 * /usr/bin/python3 can import torch the reference is regenerated and compared
 * with the committed header. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "geomx.h"
#include "t.h"
#include "../ref/optim_ref.h"

#define REL_TOL 1e-5
#define ABS_TOL 1e-7

static double worst_rel;
static const char *worst_case;
static int worst_step;

static int close_enough(float got, float want)
{
	double d = fabs((double)got - (double)want);
	return d <= ABS_TOL + REL_TOL * fabs((double)want);
}

static void note_error(const char *name, int step, float got, float want)
{
	double d = fabs((double)got - (double)want);
	double rel = d / fmax(fabs((double)want), 1e-30);
	if (d > ABS_TOL && rel > worst_rel) {
		worst_rel = rel;
		worst_case = name;
		worst_step = step;
	}
}

static gx_optim_opts case_opts(const struct optim_ref_case *c)
{
	gx_optim_opts o;
	memset(&o, 0, sizeof o);
	o.kind = gx_optim_kind_of(c->kind);
	o.lr = c->lr;
	o.momentum = c->momentum;
	o.beta1 = c->beta1;
	o.beta2 = c->beta2;
	o.eps = c->eps;
	o.rho = c->rho;
	o.weight_decay = c->weight_decay;
	o.lambda = c->lambda;
	return o;
}

/* Runs case c on n elements, element i being a copy of reference element
 * i % OPTIM_REF_N (n > OPTIM_REF_N exercises the vectorised loop bodies),
 * with the DC-ASGD schedule of the script. Returns mismatches. */
static int run_case(const struct optim_ref_case *c, size_t n)
{
	gx_optim_opts o = case_opts(c);
	int err = 1, bad = 0;
	gx_optim *op = gx_optim_create(&o, n, 2, &err);
	if (!op) {
		printf("#   %s: create failed: %s\n", c->name, gx_strerror(err));
		return 1;
	}
	float *w = malloc(n * sizeof *w), *g = malloc(n * sizeof *g);
	if (!w || !g) {
		printf("#   out of memory\n");
		bad = 1;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		w[i] = optim_ref_w0[i % OPTIM_REF_N];
	if (gx_optim_backup(op, w, 0) != 0)
		bad++;
	for (int t = 0; t < OPTIM_REF_STEPS; t++) {
		int s = optim_ref_dc_sender[t];
		for (size_t i = 0; i < n; i++)
			g[i] = optim_ref_grad[t][i % OPTIM_REF_N];
		if (gx_optim_step(op, w, g, s) != 0) {
			printf("#   %s: step %d failed\n", c->name, t);
			bad++;
			break;
		}
		if (gx_optim_backup(op, w, s) != 0)
			bad++;
		for (size_t i = 0; i < n; i++) {
			float want = c->w[t][i % OPTIM_REF_N];
			note_error(c->name, t, w[i], want);
			if (!close_enough(w[i], want)) {
				if (bad < 5)
					printf("#   %s (n=%zu) step %d element %zu: %.9g, torch %.9g\n",
					       c->name, n, t, i, w[i], want);
				bad++;
			}
		}
	}
	if (gx_optim_steps(op) != OPTIM_REF_STEPS)
		bad++;
out:
	free(w);
	free(g);
	gx_optim_free(op);
	return bad;
}

static void test_reference(void)
{
	for (size_t k = 0; k < OPTIM_REF_NCASES; k++)
		T_ASSERT(run_case(&optim_ref_cases[k], OPTIM_REF_N) == 0);
	printf("# worst relative difference from the reference: %.3g (%s, step %d)\n", worst_rel,
	       worst_case ? worst_case : "-", worst_step);
}

static void test_reference_tiled(void)
{
	for (size_t k = 0; k < OPTIM_REF_NCASES; k++)
		T_ASSERT(run_case(&optim_ref_cases[k], 1003) == 0);
}

/* Every kind appears in the reference. */
static void test_reference_covers_kinds(void)
{
	int seen[GX_OPT__MAX] = { 0 };
	for (size_t k = 0; k < OPTIM_REF_NCASES; k++) {
		int kind = gx_optim_kind_of(optim_ref_cases[k].kind);
		T_REQUIRE(kind >= 0 && kind < GX_OPT__MAX);
		seen[kind] = 1;
	}
	for (int k = 0; k < GX_OPT__MAX; k++)
		T_ASSERT(seen[k]);
}

static void test_names(void)
{
	static const char *const want[GX_OPT__MAX] = { "sgd",      "momentum", "nesterov",
						       "adagrad",  "rmsprop",  "adadelta",
						       "adam",     "adamw",    "dcasgd" };
	for (int k = 0; k < GX_OPT__MAX; k++) {
		const char *n = gx_optim_name(k);
		T_REQUIRE(n);
		T_ASSERT(strcmp(n, want[k]) == 0);
		T_EQ(gx_optim_kind_of(n), k);
	}
	T_ASSERT(gx_optim_name(-1) == NULL);
	T_ASSERT(gx_optim_name(GX_OPT__MAX) == NULL);
	T_EQ(gx_optim_kind_of("SGD"), GX_EINVAL);
	T_EQ(gx_optim_kind_of("adam "), GX_EINVAL);
	T_EQ(gx_optim_kind_of(""), GX_EINVAL);
	T_EQ(gx_optim_kind_of(NULL), GX_EINVAL);
}

/* PyTorch's defaults, and every default set creates. */
static void test_defaults(void)
{
	gx_optim_opts o;
	gx_optim_opts_default(&o, GX_OPT_SGD);
	T_EQ(o.kind, GX_OPT_SGD);
	T_ASSERT(o.lr == 0.01f && o.weight_decay == 0.0f && o.momentum == 0.0f);
	gx_optim_opts_default(&o, GX_OPT_MOMENTUM);
	T_ASSERT(o.lr == 0.01f && o.momentum == 0.9f);
	gx_optim_opts_default(&o, GX_OPT_NESTEROV);
	T_ASSERT(o.lr == 0.01f && o.momentum == 0.9f);
	gx_optim_opts_default(&o, GX_OPT_ADAGRAD);
	T_ASSERT(o.lr == 0.01f && o.eps == 1e-10f && o.weight_decay == 0.0f);
	gx_optim_opts_default(&o, GX_OPT_RMSPROP);
	T_ASSERT(o.lr == 0.01f && o.rho == 0.99f && o.eps == 1e-8f && o.momentum == 0.0f);
	gx_optim_opts_default(&o, GX_OPT_ADADELTA);
	T_ASSERT(o.lr == 1.0f && o.rho == 0.9f && o.eps == 1e-6f);
	gx_optim_opts_default(&o, GX_OPT_ADAM);
	T_ASSERT(o.lr == 0.001f && o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f &&
		 o.weight_decay == 0.0f);
	gx_optim_opts_default(&o, GX_OPT_ADAMW);
	T_ASSERT(o.lr == 0.001f && o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f &&
		 o.weight_decay == 0.01f);
	gx_optim_opts_default(&o, GX_OPT_DCASGD);
	T_ASSERT(o.lr == 0.01f && o.lambda == 0.04f && o.momentum == 0.0f && o.weight_decay == 0.0f);
	/* The reference's unnamed cases are the defaults. */
	for (size_t k = 0; k < OPTIM_REF_NCASES; k++) {
		const struct optim_ref_case *c = &optim_ref_cases[k];
		if (strcmp(c->name, c->kind) != 0 || strcmp(c->kind, "sgd") == 0 ||
		    strcmp(c->kind, "momentum") == 0 || strcmp(c->kind, "nesterov") == 0)
			continue;
		gx_optim_opts_default(&o, gx_optim_kind_of(c->kind));
		T_ASSERT(o.lr == c->lr && o.weight_decay == c->weight_decay);
	}
	for (int k = 0; k < GX_OPT__MAX; k++) {
		gx_optim_opts_default(&o, k);
		int err = 1;
		gx_optim *op = gx_optim_create(&o, 3, 1, &err);
		T_ASSERT(op && err == 0);
		gx_optim_free(op);
	}
	gx_optim_opts_default(NULL, 0);
}

/* create must fail with GX_EINVAL after mut changes the defaults of kind. */
static void expect_einval(int kind, void (*mut)(gx_optim_opts *), uint64_t n, int nsenders,
			  int line)
{
	gx_optim_opts o;
	gx_optim_opts_default(&o, kind);
	if (mut)
		mut(&o);
	int err = 0;
	gx_optim *op = gx_optim_create(&o, n, nsenders, &err);
	if (op || err != GX_EINVAL) {
		printf("#   line %d: %s accepted or wrong error %d\n", line, gx_optim_name(kind), err);
		t_case_failed = 1;
	}
	gx_optim_free(op);
}

static void lr0(gx_optim_opts *o) { o->lr = 0.0f; }
static void lrneg(gx_optim_opts *o) { o->lr = -0.1f; }
static void lrnan(gx_optim_opts *o) { o->lr = NAN; }
static void lrinf(gx_optim_opts *o) { o->lr = INFINITY; }
static void mom1(gx_optim_opts *o) { o->momentum = 1.0f; }
static void momneg(gx_optim_opts *o) { o->momentum = -0.1f; }
static void mom0(gx_optim_opts *o) { o->momentum = 0.0f; }
static void b1one(gx_optim_opts *o) { o->beta1 = 1.0f; }
static void b2neg(gx_optim_opts *o) { o->beta2 = -0.01f; }
static void b2nan(gx_optim_opts *o) { o->beta2 = NAN; }
static void eps0(gx_optim_opts *o) { o->eps = 0.0f; }
static void epsinf(gx_optim_opts *o) { o->eps = INFINITY; }
static void rho1(gx_optim_opts *o) { o->rho = 1.0f; }
static void rhoneg(gx_optim_opts *o) { o->rho = -0.5f; }
static void wdneg(gx_optim_opts *o) { o->weight_decay = -0.01f; }
static void wdnan(gx_optim_opts *o) { o->weight_decay = NAN; }
static void lamneg(gx_optim_opts *o) { o->lambda = -0.04f; }
static void badkind(gx_optim_opts *o) { o->kind = GX_OPT__MAX; }
static void negkind(gx_optim_opts *o) { o->kind = -1; }

#define EINVAL_IF(kind, mut) expect_einval(kind, mut, 5, 1, __LINE__)

static void test_validation(void)
{
	for (int k = 0; k < GX_OPT__MAX; k++) {
		EINVAL_IF(k, lr0);
		EINVAL_IF(k, lrneg);
		EINVAL_IF(k, lrnan);
		EINVAL_IF(k, lrinf);
		EINVAL_IF(k, wdneg);
		EINVAL_IF(k, wdnan);
		expect_einval(k, NULL, 0, 1, __LINE__); /* no elements */
	}
	EINVAL_IF(GX_OPT_SGD, badkind);
	EINVAL_IF(GX_OPT_SGD, negkind);
	EINVAL_IF(GX_OPT_MOMENTUM, mom1);
	EINVAL_IF(GX_OPT_MOMENTUM, momneg);
	EINVAL_IF(GX_OPT_NESTEROV, mom0);
	EINVAL_IF(GX_OPT_NESTEROV, mom1);
	EINVAL_IF(GX_OPT_DCASGD, mom1);
	EINVAL_IF(GX_OPT_DCASGD, momneg);
	EINVAL_IF(GX_OPT_ADAM, b1one);
	EINVAL_IF(GX_OPT_ADAM, b2neg);
	EINVAL_IF(GX_OPT_ADAMW, b2nan);
	EINVAL_IF(GX_OPT_ADAMW, b1one);
	for (int k = GX_OPT_ADAGRAD; k <= GX_OPT_ADAMW; k++) {
		EINVAL_IF(k, eps0);
		EINVAL_IF(k, epsinf);
	}
	EINVAL_IF(GX_OPT_RMSPROP, rho1);
	EINVAL_IF(GX_OPT_ADADELTA, rho1);
	EINVAL_IF(GX_OPT_ADADELTA, rhoneg);
	EINVAL_IF(GX_OPT_DCASGD, lamneg);
	expect_einval(GX_OPT_DCASGD, NULL, 5, 0, __LINE__);
	expect_einval(GX_OPT_DCASGD, NULL, 5, -1, __LINE__);

	/* NULL options; err may be NULL. */
	int err = 0;
	T_ASSERT(gx_optim_create(NULL, 5, 1, &err) == NULL);
	T_EQ(err, GX_EINVAL);
	gx_optim_opts o;
	gx_optim_opts_default(&o, GX_OPT_ADAM);
	o.eps = 0.0f;
	T_ASSERT(gx_optim_create(&o, 5, 1, NULL) == NULL);

	/* Fields a kind does not use are not checked: a zeroed struct with a
	 * learning rate is valid SGD, and nsenders matters only to DC-ASGD. */
	memset(&o, 0, sizeof o);
	o.kind = GX_OPT_SGD;
	o.lr = 0.5f;
	o.beta1 = 7.0f;
	gx_optim *op = gx_optim_create(&o, 5, 0, &err);
	T_ASSERT(op && err == 0);
	gx_optim_free(op);
	/* Momentum 0 is plain SGD for the momentum kind (as in PyTorch). */
	gx_optim_opts_default(&o, GX_OPT_MOMENTUM);
	o.momentum = 0.0f;
	op = gx_optim_create(&o, 5, 0, &err);
	T_ASSERT(op && err == 0);
	gx_optim_free(op);
	gx_optim_free(NULL);
	T_EQ(gx_optim_steps(NULL), 0);
}

static void test_step_errors(void)
{
	gx_optim_opts o;
	float w[4] = { 1, 2, 3, 4 }, g[4] = { 1, 1, 1, 1 };
	gx_optim_opts_default(&o, GX_OPT_DCASGD);
	gx_optim *op = gx_optim_create(&o, 4, 2, NULL);
	T_REQUIRE(op);
	T_EQ(gx_optim_step(op, w, g, 2), GX_EINVAL);
	T_EQ(gx_optim_step(op, w, g, -1), GX_EINVAL);
	T_EQ(gx_optim_step(op, NULL, g, 0), GX_EINVAL);
	T_EQ(gx_optim_step(op, w, NULL, 0), GX_EINVAL);
	T_EQ(gx_optim_step(NULL, w, g, 0), GX_EINVAL);
	T_EQ(gx_optim_backup(op, w, 2), GX_EINVAL);
	T_EQ(gx_optim_backup(op, NULL, 0), GX_EINVAL);
	T_EQ(gx_optim_backup(NULL, w, 0), GX_EINVAL);
	T_EQ(gx_optim_steps(op), 0); /* failed steps do not count */
	T_ASSERT(w[0] == 1 && w[3] == 4);
	T_EQ(gx_optim_step(op, w, g, 1), 0);
	T_EQ(gx_optim_steps(op), 1);
	gx_optim_free(op);

	/* Other kinds ignore sender, and backup is a no-op. */
	gx_optim_opts_default(&o, GX_OPT_ADAM);
	op = gx_optim_create(&o, 4, 0, NULL);
	T_REQUIRE(op);
	T_EQ(gx_optim_backup(op, w, 99), 0);
	T_EQ(gx_optim_step(op, w, g, -7), 0);
	T_EQ(gx_optim_step(op, w, g, 12345), 0);
	T_EQ(gx_optim_steps(op), 2);
	gx_optim_free(op);
}

/* DC-ASGD's backups are per sender: a sender without one gets plain SGD,
 * and a stale backup changes the update by lambda*g*g*(w - bak). */
static void test_dcasgd_backups(void)
{
	enum { n = 5 };
	gx_optim_opts o;
	gx_optim_opts_default(&o, GX_OPT_DCASGD);
	o.lr = 0.1f;
	o.lambda = 0.5f;
	gx_optim *dc = gx_optim_create(&o, n, 3, NULL);
	T_REQUIRE(dc);
	float w[n] = { 1, -1, 0.5f, 2, 0 }, g[n] = { 0.3f, -0.2f, 1, 2, -1 };
	float plain[n], bak[n];
	memcpy(bak, w, sizeof w);
	T_EQ(gx_optim_backup(dc, w, 1), 0);
	/* Sender 0 has no backup: SGD. */
	memcpy(plain, w, sizeof w);
	for (int i = 0; i < n; i++)
		plain[i] = plain[i] - o.lr * g[i];
	T_EQ(gx_optim_step(dc, w, g, 0), 0);
	for (int i = 0; i < n; i++)
		T_ASSERT(w[i] == plain[i]);
	/* Sender 1's backup is the starting point: compensated. */
	float before[n], want[n];
	memcpy(before, w, sizeof w);
	for (int i = 0; i < n; i++) {
		float d = g[i] + ((o.lambda * g[i]) * g[i]) * (before[i] - bak[i]);
		want[i] = before[i] - o.lr * d;
	}
	T_EQ(gx_optim_step(dc, w, g, 1), 0);
	for (int i = 0; i < n; i++)
		T_ASSERT(w[i] == want[i]);
	/* A backup taken now cancels the compensation for sender 2. */
	T_EQ(gx_optim_backup(dc, w, 2), 0);
	memcpy(before, w, sizeof w);
	T_EQ(gx_optim_step(dc, w, g, 2), 0);
	for (int i = 0; i < n; i++)
		T_ASSERT(w[i] == before[i] - o.lr * g[i]);
	T_EQ(gx_optim_steps(dc), 3);
	gx_optim_free(dc);
}

/* Momentum's first step takes the gradient as the buffer (PyTorch), so one
 * step of momentum equals one of SGD, and nesterov's is (1+m) times it. */
static void test_first_step(void)
{
	enum { n = 3 };
	gx_optim_opts o;
	float w1[n] = { 1, 2, 3 }, w2[n] = { 1, 2, 3 }, w3[n] = { 1, 2, 3 };
	const float g[n] = { 0.5f, -1, 2 };
	gx_optim_opts_default(&o, GX_OPT_SGD);
	gx_optim *a = gx_optim_create(&o, n, 0, NULL);
	gx_optim_opts_default(&o, GX_OPT_MOMENTUM);
	gx_optim *b = gx_optim_create(&o, n, 0, NULL);
	gx_optim_opts_default(&o, GX_OPT_NESTEROV);
	gx_optim *c = gx_optim_create(&o, n, 0, NULL);
	T_REQUIRE(a && b && c);
	T_EQ(gx_optim_step(a, w1, g, 0), 0);
	T_EQ(gx_optim_step(b, w2, g, 0), 0);
	T_EQ(gx_optim_step(c, w3, g, 0), 0);
	for (int i = 0; i < n; i++) {
		T_ASSERT(w1[i] == w2[i]);
		T_ASSERT(w3[i] == (float)(i + 1) + -o.lr * (g[i] + o.momentum * g[i]));
	}
	gx_optim_free(a);
	gx_optim_free(b);
	gx_optim_free(c);
}

/* ------------------------------------------------- re-running the oracle */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, 4096, f);
		len += got;
		if (got < 4096)
			break;
	}
	fclose(f);
	buf[len] = 0;
	return buf;
}

static int starts_number(const char *p)
{
	if (*p == '-' || *p == '+')
		p++;
	if (*p == '.')
		p++;
	return isdigit((unsigned char)*p);
}

/* Text equal except that numbers may differ by 1e-6 relative (another torch
 * build may round an operation differently). Returns 0 when they match, else
 * the 1-based line of the first difference. */
static int compare_headers(const char *a, const char *b)
{
	int line = 1;
	char prev = 0; /* a number starts a token, not the tail of an identifier */
	while (*a || *b) {
		if (starts_number(a) && starts_number(b) && prev != '_' && !isalnum((unsigned char)prev)) {
			char *ea, *eb;
			double x = strtod(a, &ea), y = strtod(b, &eb);
			if (!(fabs(x - y) <= 1e-12 + 1e-6 * fabs(y)))
				return line;
			prev = ea[-1];
			a = ea;
			b = eb;
			continue;
		}
		if (*a != *b)
			return line;
		line += *a == '\n';
		prev = *a++;
		b++;
	}
	return 0;
}

static uint64_t lcg(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return *x >> 33;
}

/* A term where zeros of both signs and exact cancellations are common. */
static float zeroish(uint64_t *x)
{
	static const float v[] = {0.0f, -0.0f, 0.5f, -0.5f, 0.25f, -0.25f, 1e-30f, -1e-30f};
	return v[lcg(x) % 8];
}

static int same_bits(float a, float b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

/* gx_optim_step_sum on a sum whose first term was not added to zeros gives
 * bit for bit gx_optim_step on the sum begun from zeros, for every kind
 * (weights of both zero signs included); and the two sums differ at most
 * in the sign of a zero (what makes it so). */
static void test_step_sum(void)
{
	enum { N = 4096, TERMS = 4 };
	static float raw[N], ref[N], w1[N], w2[N];
	uint64_t x = 99;
	int sums_bad = 0;
	for (int i = 0; i < N; i++) {
		float t = zeroish(&x);
		raw[i] = t;
		ref[i] = 0.0f + t;
		for (int k = 1; k < TERMS; k++) {
			t = zeroish(&x);
			raw[i] += t;
			ref[i] += t;
		}
		sums_bad |= !same_bits(raw[i] + 0.0f, ref[i]) || !same_bits(ref[i] + 0.0f, ref[i]);
	}
	T_ASSERT(!sums_bad);
	int negzero = 0;
	for (int i = 0; i < N; i++)
		negzero += same_bits(raw[i], -0.0f);
	T_ASSERT(negzero > 0); /* the case at stake occurs */
	for (int kind = 0; kind < GX_OPT__MAX; kind++) {
		gx_optim_opts o;
		gx_optim_opts_default(&o, kind);
		o.weight_decay = kind % 2 ? 0.01f : 0.0f;
		if (kind == GX_OPT_DCASGD)
			o.lambda = 0.5f;
		gx_optim *a = gx_optim_create(&o, N, 1, NULL), *b = gx_optim_create(&o, N, 1, NULL);
		T_REQUIRE(a && b);
		for (int i = 0; i < N; i++)
			w1[i] = w2[i] = i % 3 == 0 ? -0.0f : i % 3 == 1 ? 0.0f : zeroish(&x);
		int bad = 0;
		for (int step = 0; step < 3; step++) {
			T_EQ(gx_optim_step_sum(a, w1, raw, 0), 0);
			T_EQ(gx_optim_step(b, w2, ref, 0), 0);
			T_EQ(gx_optim_backup(a, w1, 0), 0);
			T_EQ(gx_optim_backup(b, w2, 0), 0);
			for (int i = 0; i < N; i++)
				bad |= !same_bits(w1[i], w2[i]);
		}
		if (bad)
			printf("#   %s: step_sum differs from step on the sum from zeros\n",
			       gx_optim_name(kind));
		T_ASSERT(!bad);
		gx_optim_free(a);
		gx_optim_free(b);
	}
}

/* A saved state loaded into a fresh optimizer steps on bit for bit as the
 * original does, for every kind; bytes of another shape are refused. */
static void test_state_roundtrip(void)
{
	enum { N = 1000, SENDERS = 3 };
	static float w1[N], w2[N], g[N];
	uint64_t x = 5;
	for (int kind = 0; kind < GX_OPT__MAX; kind++) {
		gx_optim_opts o;
		gx_optim_opts_default(&o, kind);
		if (kind == GX_OPT_DCASGD) {
			o.lambda = 0.3f;
			o.momentum = 0.5f;
		}
		gx_optim *a = gx_optim_create(&o, N, SENDERS, NULL);
		T_REQUIRE(a);
		for (int i = 0; i < N; i++)
			w1[i] = (float)(lcg(&x) % 1000) / 500.0f - 1.0f;
		for (int step = 0; step < 4; step++) {
			for (int i = 0; i < N; i++)
				g[i] = (float)(lcg(&x) % 1000) / 1000.0f - 0.5f;
			T_EQ(gx_optim_step(a, w1, g, step % 2), 0);
			T_EQ(gx_optim_backup(a, w1, step % 2), 0);
		}
		size_t n = gx_optim_state_size(a);
		uint8_t *st = malloc(n + 1);
		T_REQUIRE(st);
		T_EQ(gx_optim_state_save(a, st, n - 1), GX_EINVAL);
		T_EQ(gx_optim_state_save(a, st, n), 0);
		gx_optim *b = gx_optim_create(&o, N, SENDERS, NULL);
		T_REQUIRE(b);
		T_EQ(gx_optim_state_load(b, st, n + 1), GX_ELENGTH);
		T_EQ(gx_optim_state_load(b, st, n), 0);
		T_EQ(gx_optim_steps(b), 4);
		memcpy(w2, w1, sizeof w1);
		int bad = 0;
		for (int step = 0; step < 3; step++) {
			for (int i = 0; i < N; i++)
				g[i] = (float)(lcg(&x) % 1000) / 1000.0f - 0.5f;
			T_EQ(gx_optim_step(a, w1, g, 1), 0);
			T_EQ(gx_optim_step(b, w2, g, 1), 0);
			bad |= memcmp(w1, w2, sizeof w1) != 0;
		}
		if (bad)
			printf("#   %s: the loaded state steps otherwise\n", gx_optim_name(kind));
		T_ASSERT(!bad);
		free(st);
		gx_optim_free(a);
		gx_optim_free(b);
	}
}

static void test_reference_is_current(void)
{
	const char *top = getenv("GX_TOP");
	char script[4096], header[4096], tmp[4096], cmd[12800];
	if (!top)
		top = ".";
	snprintf(script, sizeof script, "%s/tests/ref/optim_ref.py", top);
	snprintf(header, sizeof header, "%s/tests/ref/optim_ref.h", top);
	if (access(script, R_OK) != 0 || access(header, R_OK) != 0)
		T_SKIP("tests/ref/optim_ref.py not found under %.200s (set GX_TOP)", top);
	if (strchr(script, '\'') || strchr(header, '\''))
		T_SKIP("source path contains a quote");
	if (access("/usr/bin/python3", X_OK) != 0)
		T_SKIP("no /usr/bin/python3");
	if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
		T_SKIP("/usr/bin/python3 cannot import torch (apt-get install python3-torch)");
	const char *td = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/gx-optim-ref.XXXXXX", td && *td && !strchr(td, '\'') ? td : "/tmp");
	int fd = mkstemp(tmp);
	T_REQUIRE(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' -o '%s'", script, tmp);
	int rc = system(cmd);
	char *fresh = rc == 0 ? slurp(tmp) : NULL, *committed = slurp(header);
	unlink(tmp);
	T_ASSERT(rc == 0);
	if (fresh && committed) {
		int line = compare_headers(fresh, committed);
		if (line)
			printf("#   regenerated reference differs from %s at line %d\n", header, line);
		T_ASSERT(line == 0);
	} else {
		T_ASSERT(fresh && committed);
	}
	free(fresh);
	free(committed);
}

int main(void)
{
	T_RUN(test_names);
	T_RUN(test_defaults);
	T_RUN(test_validation);
	T_RUN(test_step_errors);
	T_RUN(test_step_sum);
	T_RUN(test_state_roundtrip);
	T_RUN(test_first_step);
	T_RUN(test_dcasgd_backups);
	T_RUN(test_reference_covers_kinds);
	T_RUN(test_reference);
	T_RUN(test_reference_tiled);
	T_RUN(test_reference_is_current);
	T_DONE();
}
