/* test_ef.c — error feedback: nothing is lost over rounds, fp16 error is
 * carried forward, and momentum correction follows the DGC recurrence. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "t.h"

enum { N = 20000, K = 200, R = 25 }; /* N above the size where sampling starts */

static gx_rng g;

static void gradient(float *x)
{
	for (int i = 0; i < N; i++)
		x[i] = gx_rng_normal(&g) * (1.0f + (float)(i % 7)); /* uneven scales */
}

/* sum over rounds of what was sent + the final residual == sum of inputs. */
static void invariant_run(int quantise, int sampled)
{
	gx_ef *ef = gx_ef_create(N, 0.0f);
	T_REQUIRE(ef);
	static float x[N], sent[K];
	static double total_in[N], total_sent[N];
	static uint32_t idx[K];
	memset(total_in, 0, sizeof total_in);
	memset(total_sent, 0, sizeof total_sent);
	gx_rng sel;
	gx_rng_seed(&sel, 5);
	for (int r = 0; r < R; r++) {
		gradient(x);
		for (int i = 0; i < N; i++)
			total_in[i] += x[i];
		float *v = gx_ef_accumulate(ef, x);
		T_REQUIRE(v == gx_ef_residual(ef));
		long k = sampled ? gx_topk_sampled(v, N, K, &sel, idx) : gx_topk_exact(v, N, K, idx);
		T_REQUIRE(k == K);
		for (int j = 0; j < K; j++)
			sent[j] = v[idx[j]];
		if (quantise) {
			uint16_t h[K];
			gx_f32_to_f16(sent, h, K);
			gx_f16_to_f32(h, sent, K);
		}
		for (int j = 0; j < K; j++)
			total_sent[idx[j]] += sent[j];
		if (quantise) {
			float before[K];
			for (int j = 0; j < K; j++)
				before[j] = v[idx[j]];
			gx_ef_commit_sparse(ef, idx, sent, K);
			/* What stays behind is the rounding error: at most half a
			 * binary16 step (2^-11 relative, with a little float slack). */
			for (int j = 0; j < K; j++)
				T_ASSERT(fabsf(v[idx[j]]) <= fabsf(before[j]) * 0x1.1p-11f);
		} else {
			gx_ef_commit_sparse(ef, idx, NULL, K);
			for (int j = 0; j < K; j++)
				T_ASSERT(v[idx[j]] == 0.0f);
		}
	}
	const float *v = gx_ef_residual(ef);
	double worst = 0;
	for (int i = 0; i < N; i++) {
		double err = fabs(total_sent[i] + v[i] - total_in[i]) / (1.0 + fabs(total_in[i]));
		worst = err > worst ? err : worst;
	}
	T_ASSERT(worst < 1e-4);
	gx_ef_free(ef);
}

static void test_invariant_exact(void) { invariant_run(0, 0); }
static void test_invariant_fp16(void) { invariant_run(1, 0); }
static void test_invariant_sampled(void) { invariant_run(0, 1); }

/* DGC momentum correction, recomputed here in double:
 *   u = m*u + g;  v += u;  send top-k of v;  where sent: v = 0, u = 0. */
static void test_momentum_recurrence(void)
{
	const float m = 0.9f;
	gx_ef *ef = gx_ef_create(N, m);
	T_REQUIRE(ef);
	T_ASSERT(gx_ef_momentum(ef) == m);
	T_ASSERT(gx_ef_velocity(ef) != NULL);
	static float x[N];
	static double u[N], v[N];
	static uint32_t idx[K];
	memset(u, 0, sizeof u);
	memset(v, 0, sizeof v);
	double worst = 0;
	for (int r = 0; r < R; r++) {
		gradient(x);
		for (int i = 0; i < N; i++) {
			u[i] = m * u[i] + x[i];
			v[i] += u[i];
		}
		float *ev = gx_ef_accumulate(ef, x);
		const float *eu = gx_ef_velocity(ef);
		for (int i = 0; i < N; i++) {
			double e1 = fabs(ev[i] - v[i]) / (1.0 + fabs(v[i]));
			double e2 = fabs(eu[i] - u[i]) / (1.0 + fabs(u[i]));
			worst = e1 > worst ? e1 : worst;
			worst = e2 > worst ? e2 : worst;
		}
		/* Select from the library's v (float), mask the same indices in
		 * the reference. */
		T_REQUIRE(gx_topk_exact(ev, N, K, idx) == K);
		gx_ef_commit_sparse(ef, idx, NULL, K);
		for (int j = 0; j < K; j++) {
			v[idx[j]] = 0;
			u[idx[j]] = 0;
			T_ASSERT(ev[idx[j]] == 0.0f && eu[idx[j]] == 0.0f);
		}
	}
	T_ASSERT(worst < 1e-4);
	gx_ef_free(ef);
}

/* Dense lossy codec: v keeps the quantisation error, u is untouched. */
static void test_commit_dense(void)
{
	gx_ef *ef = gx_ef_create(N, 0.5f);
	T_REQUIRE(ef);
	static float x[N], q[N], u_before[N];
	static uint16_t h[N];
	gradient(x);
	float *v = gx_ef_accumulate(ef, x);
	gradient(x);
	v = gx_ef_accumulate(ef, x);
	memcpy(u_before, gx_ef_velocity(ef), sizeof u_before);
	gx_f32_to_f16(v, h, N);
	gx_f16_to_f32(h, q, N);
	float expect[N];
	for (int i = 0; i < N; i++)
		expect[i] = v[i] - q[i];
	gx_ef_commit_dense(ef, q);
	T_ASSERT(memcmp(v, expect, sizeof expect) == 0);
	T_ASSERT(memcmp(gx_ef_velocity(ef), u_before, sizeof u_before) == 0);
	gx_ef_free(ef);
}

static void test_api(void)
{
	T_ASSERT(gx_ef_create(0, 0.0f) == NULL);
	T_ASSERT(gx_ef_create(10, NAN) == NULL);
	gx_ef_free(NULL);
	T_EQ(gx_ef_count(NULL), 0);

	gx_ef *ef = gx_ef_create(4, 0.0f);
	T_REQUIRE(ef);
	T_EQ(gx_ef_count(ef), 4);
	T_ASSERT(gx_ef_momentum(ef) == 0.0f);
	T_ASSERT(gx_ef_velocity(ef) == NULL);
	float *v = gx_ef_residual(ef);
	for (int i = 0; i < 4; i++)
		T_ASSERT(v[i] == 0.0f); /* created zeroed */
	/* The residual is writable: restore persisted state, then go on. */
	const float saved[4] = { 1, 2, 3, 4 }, g1[4] = { 0.5f, 0.5f, 0.5f, 0.5f };
	memcpy(v, saved, sizeof saved);
	T_ASSERT(gx_ef_accumulate(ef, g1) == v);
	T_ASSERT(v[0] == 1.5f && v[3] == 4.5f);
	T_ASSERT(gx_ef_accumulate(ef, NULL) == NULL);
	T_ASSERT(gx_ef_accumulate(NULL, g1) == NULL);
	/* Out-of-range indices are ignored, not written. */
	const uint32_t idx[3] = { 1, 4, 0xffffffffu };
	const float sent[3] = { 0.25f, 9, 9 };
	gx_ef_commit_sparse(ef, idx, sent, 3);
	T_ASSERT(v[0] == 1.5f && v[1] == 2.25f && v[2] == 3.5f && v[3] == 4.5f);
	gx_ef_commit_sparse(ef, idx, NULL, 1);
	T_ASSERT(v[1] == 0.0f);
	gx_ef_commit_sparse(NULL, idx, NULL, 1);
	gx_ef_commit_dense(NULL, sent);
	gx_ef_commit_dense(ef, NULL);
	gx_ef_free(ef);

	ef = gx_ef_create(3, 0.5f);
	T_REQUIRE(ef);
	const float g2[3] = { 1, 2, 4 };
	gx_ef_accumulate(ef, g2);
	gx_ef_accumulate(ef, g2); /* u = 1.5 g, v = 2.5 g */
	T_ASSERT(gx_ef_velocity(ef)[2] == 6.0f && gx_ef_residual(ef)[2] == 10.0f);
	gx_ef_free(ef);
}

int main(void)
{
	gx_rng_seed(&g, 31337);
	T_RUN(test_invariant_exact);
	T_RUN(test_invariant_fp16);
	T_RUN(test_invariant_sampled);
	T_RUN(test_momentum_recurrence);
	T_RUN(test_commit_dense);
	T_RUN(test_api);
	T_DONE();
}
