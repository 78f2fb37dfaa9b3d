/* test_topk.c — exact and sampled top-k against a full-sort reference, the
 * threshold kernel against a plain loop. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "kernels.h"
#include "t.h"

static gx_rng g; /* the test's data generator; selection gets its own rngs */

static float refmag(float v)
{
	return isnan(v) ? -1.0f : fabsf(v);
}

static const float *sort_x;
static int by_mag_desc(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	float ma = refmag(sort_x[a]), mb = refmag(sort_x[b]);
	if (ma != mb)
		return ma > mb ? -1 : 1;
	return a < b ? -1 : a > b;
}

static int by_index(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	return a < b ? -1 : a > b;
}

/* The definition: sort everything by (magnitude desc, index asc), keep k,
 * list them by index. */
static size_t ref_topk(const float *x, size_t n, size_t k, uint32_t *out)
{
	uint32_t *all = malloc((n ? n : 1) * sizeof *all);
	for (size_t i = 0; i < n; i++)
		all[i] = (uint32_t)i;
	sort_x = x;
	qsort(all, n, sizeof *all, by_mag_desc);
	if (k > n)
		k = n;
	memcpy(out, all, k * sizeof *out);
	qsort(out, k, sizeof *out, by_index);
	free(all);
	return k;
}

enum { D_NORMAL, D_TIES, D_ZERO, D_NAN, D_SIGNED_TIES, D_CLUSTER, D_MOSTLY_NAN, D_NARROW, D__N };

static void fill(float *x, size_t n, int dist)
{
	for (size_t i = 0; i < n; i++) {
		switch (dist) {
		case D_NORMAL: x[i] = gx_rng_normal(&g) * 1e-3f; break;
		case D_TIES: x[i] = (float)((int)gx_rng_below(&g, 7) - 3); break;
		case D_ZERO: x[i] = (i & 1) ? -0.0f : 0.0f; break;
		case D_NAN: {
			uint64_t c = gx_rng_below(&g, 20);
			x[i] = c == 0 ? NAN : c == 1 ? -INFINITY : c == 2 ? 0.0f : gx_rng_normal(&g);
			break;
		}
		case D_SIGNED_TIES: x[i] = (gx_rng_below(&g, 2) ? 1.0f : -1.0f) * (float)gx_rng_below(&g, 3); break;
		case D_CLUSTER: {
			/* Half exactly 1.0, a sliver just above, the rest zero: the
			 * sampled threshold lands on a huge tie and must recover. */
			uint64_t c = gx_rng_below(&g, 1000);
			x[i] = c < 5 ? 1.0f + gx_rng_float(&g) : c < 500 ? -1.0f : 0.0f;
			break;
		}
		case D_NARROW: /* one top-level radix bin: the finer levels decide */
			x[i] = (gx_rng_below(&g, 2) ? 1.0f : -1.0f) * (1.0f + 1e-3f * gx_rng_float(&g));
			break;
		case D_MOSTLY_NAN: /* NaNs reach the top k: they come last */
			x[i] = gx_rng_below(&g, 20) ? -NAN : gx_rng_normal(&g);
			break;
		}
	}
}

static int strictly_increasing(const uint32_t *idx, size_t k, size_t n)
{
	for (size_t i = 0; i < k; i++)
		if (idx[i] >= n || (i && idx[i] <= idx[i - 1]))
			return 0;
	return 1;
}

static void test_exact_vs_sort(void)
{
	static const size_t ns[] = { 1, 2, 3, 5, 8, 17, 33, 100, 1000, 4097, 20000, 70001 };
	int cases = 0;
	for (size_t a = 0; a < sizeof ns / sizeof *ns; a++) {
		size_t n = ns[a];
		float *x = malloc(n * sizeof *x);
		uint32_t *got = malloc((n + 8) * sizeof *got), *want = malloc((n + 8) * sizeof *want);
		T_REQUIRE(x && got && want);
		for (int d = 0; d < D__N; d++) {
			fill(x, n, d);
			size_t ks[] = { 0, 1, 2, n / 100, n / 10, n / 3, n / 2, n - 1, n, n + 5 };
			for (size_t b = 0; b < sizeof ks / sizeof *ks; b++) {
				size_t k = ks[b];
				long r = gx_topk_exact(x, n, k, got);
				size_t w = ref_topk(x, n, k, want);
				cases++;
				if (r != (long)w || memcmp(got, want, w * sizeof *got) ||
				    !strictly_increasing(got, w, n)) {
					printf("#   n %zu k %zu dist %d: got %ld, want %zu\n", n, k, d, r, w);
					t_case_failed = 1;
				}
			}
		}
		free(x);
		free(got);
		free(want);
	}
	T_ASSERT(cases > 600);
}

static void test_exact_args(void)
{
	float x[4] = { 1, -5, 3, 2 };
	uint32_t idx[4];
	T_EQ(gx_topk_exact(x, 0, 3, idx), 0);
	T_EQ(gx_topk_exact(NULL, 0, 3, idx), 0);
	T_EQ(gx_topk_exact(x, 4, 0, NULL), 0);
	T_EQ(gx_topk_exact(NULL, 4, 2, idx), GX_EINVAL);
	T_EQ(gx_topk_exact(x, 4, 2, NULL), GX_EINVAL);
	T_EQ(gx_topk_exact(x, 4, 2, idx), 2);
	T_EQ(idx[0], 1);
	T_EQ(idx[1], 2);
	T_EQ(gx_topk_exact(x, 4, 9, idx), 4);
	for (int i = 0; i < 4; i++)
		T_EQ(idx[i], i);
	/* Ties at the k-th magnitude go to the lower index, signs ignored. */
	float t[6] = { 2, -3, 3, 1, -3, 3 };
	T_EQ(gx_topk_exact(t, 6, 2, idx), 2);
	T_EQ(idx[0], 1);
	T_EQ(idx[1], 2);
	/* NaN only after every number, infinity first. */
	float nn[5] = { NAN, 0.0f, -INFINITY, NAN, -0.0f };
	T_EQ(gx_topk_exact(nn, 5, 3, idx), 3);
	T_EQ(idx[0], 1);
	T_EQ(idx[1], 2);
	T_EQ(idx[2], 4);
	T_EQ(gx_topk_exact(nn, 5, 4, idx), 4);
	T_EQ(idx[0], 0);
}

/* The strongest property sampled selection has by construction: whatever
 * count c it returns, the indices are exactly the exact top-c (it always
 * keeps the top of a set that holds every element at or above some
 * threshold), and c == k unless the sample misjudged. */
static void test_sampled_vs_exact(void)
{
	static const size_t ns[] = { 100, 5000, 16384, 20000, 100003, 1000000 };
	int calls = 0, full = 0;
	for (size_t a = 0; a < sizeof ns / sizeof *ns; a++) {
		size_t n = ns[a];
		float *x = malloc(n * sizeof *x);
		uint32_t *got = malloc((n + 8) * sizeof *got), *want = malloc((n + 8) * sizeof *want);
		T_REQUIRE(x && got && want);
		gx_rng sel;
		gx_rng_seed(&sel, 1000 + n);
		for (int d = 0; d < D__N; d++) {
			fill(x, n, d);
			size_t ks[] = { 0, 1, 3, 50, n / 1000, n / 100, n / 20, n / 3, n - 1, n, n + 1 };
			for (size_t b = 0; b < sizeof ks / sizeof *ks; b++) {
				size_t k = ks[b], kk = k < n ? k : n;
				for (int rep = 0; rep < 2; rep++) {
					long r = gx_topk_sampled(x, n, k, &sel, got);
					calls++;
					if (r < 0 || (size_t)r > kk) {
						printf("#   n %zu k %zu dist %d: returned %ld\n", n, k, d, r);
						t_case_failed = 1;
						continue;
					}
					full += (size_t)r == kk;
					long e = gx_topk_exact(x, n, (size_t)r, want);
					if (e != r || memcmp(got, want, (size_t)r * sizeof *got) ||
					    !strictly_increasing(got, (size_t)r, n)) {
						printf("#   n %zu k %zu dist %d: not the exact top-%ld\n", n,
						       k, d, r);
						t_case_failed = 1;
					}
				}
			}
		}
		free(x);
		free(got);
		free(want);
	}
	/* Every call here should find k; allow a rare sampling miss. */
	printf("#   %d of %d sampled calls returned k\n", full, calls);
	T_ASSERT(full >= calls - calls / 100);
}

static void test_sampled_reproducible(void)
{
	size_t n = 300000, k = 3000;
	float *x = malloc(n * sizeof *x);
	uint32_t *a = malloc(k * sizeof *a), *b = malloc(k * sizeof *b);
	T_REQUIRE(x && a && b);
	fill(x, n, D_NORMAL);
	gx_rng r1, r2;
	gx_rng_seed(&r1, 77);
	gx_rng_seed(&r2, 77);
	for (int rep = 0; rep < 3; rep++) {
		gx_rng before = r1;
		long c1 = gx_topk_sampled(x, n, k, &r1, a);
		long c2 = gx_topk_sampled(x, n, k, &r2, b);
		/* Same seed, same results; and each call draws a fresh sample, so
		 * the generator moves on. */
		T_EQ(c1, c2);
		T_ASSERT(c1 > 0 && memcmp(a, b, (size_t)c1 * sizeof *a) == 0);
		T_ASSERT(memcmp(&before, &r1, sizeof before) != 0);
		T_ASSERT(memcmp(&r1, &r2, sizeof r1) == 0);
	}
	free(x);
	free(a);
	free(b);
}

static void test_sampled_args(void)
{
	float x[4] = { 1, -5, 3, 2 };
	uint32_t idx[4];
	gx_rng r;
	gx_rng_seed(&r, 1);
	T_EQ(gx_topk_sampled(x, 4, 2, NULL, idx), GX_EINVAL);
	T_EQ(gx_topk_sampled(NULL, 4, 2, &r, idx), GX_EINVAL);
	T_EQ(gx_topk_sampled(x, 4, 2, &r, NULL), GX_EINVAL);
	T_EQ(gx_topk_sampled(x, 0, 2, &r, idx), 0);
	T_EQ(gx_topk_sampled(x, 4, 0, &r, idx), 0);
	T_EQ(gx_topk_sampled(x, 4, 4, &r, idx), 4);
	T_EQ(gx_topk_sampled(x, 4, 2, &r, idx), 2);
	T_EQ(idx[0], 1);
	T_EQ(idx[1], 2);
}

/* The threshold kernel against the obvious loop, at every alignment and
 * length around the vector width, with cap below, at and above the count. */
static void test_select_ge(void)
{
	enum { N = 1000 };
	float x[N];
	uint32_t got[N + 1], want[N];
	for (int i = 0; i < N; i++) {
		uint64_t c = gx_rng_below(&g, 10);
		x[i] = c == 0 ? NAN : c == 1 ? 0.5f : c == 2 ? -0.5f : gx_rng_normal(&g);
	}
	const float thrs[] = { 0.5f, 0.0f, -1.0f, 1.5f, INFINITY, NAN };
	for (size_t t = 0; t < sizeof thrs / sizeof *thrs; t++) {
		for (size_t off = 0; off < 9; off++) {
			for (size_t n = 0; n + off <= N; n += (n < 80 ? 1 : 37)) {
				size_t w = 0;
				for (size_t i = 0; i < n; i++)
					if (fabsf(x[off + i]) >= thrs[t])
						want[w++] = (uint32_t)i;
				size_t caps[] = { 0, w / 2, w, w + 1, n };
				for (size_t c = 0; c < 5; c++) {
					size_t cap = caps[c];
					got[cap] = 0xdeadbeef;
					size_t r = gx_k_select_ge(x + off, n, thrs[t], got, cap);
					size_t stored = w < cap ? w : cap;
					if (r != w || memcmp(got, want, stored * sizeof *got)) {
						printf("#   thr %g off %zu n %zu cap %zu: %zu vs %zu\n",
						       thrs[t], off, n, cap, r, w);
						t_case_failed = 1;
						return;
					}
					if (got[cap] != 0xdeadbeef) {
						printf("#   wrote past cap %zu\n", cap);
						t_case_failed = 1;
						return;
					}
				}
			}
		}
	}
	/* No output buffer: counts only. NaN never qualifies, even at thr 0. */
	size_t numbers = 0;
	for (int i = 0; i < N; i++)
		numbers += !isnan(x[i]);
	T_EQ(gx_k_select_ge(x, N, 0.0f, NULL, 5), numbers);
}

int main(void)
{
	gx_rng_seed(&g, 2024);
	T_RUN(test_exact_vs_sort);
	T_RUN(test_exact_args);
	T_RUN(test_sampled_vs_exact);
	T_RUN(test_sampled_reproducible);
	T_RUN(test_sampled_args);
	T_RUN(test_select_ge);
	T_DONE();
}
