/*
 * select.c — threshold selection: the indices of every |x[i]| >= thr.
 *
 * This is the one full pass over the tensor in sampled top-k, so it must run
 * near memory bandwidth. The AVX2 version compares 32 floats per step and
 * skips the step with a single test when none qualifies — the common case at
 * the 1% densities top-k uses — and walks the set bits of the mask otherwise.
 * The scalar version is branchless so that random data does not cost a
 * misprediction per qualifying element.
 *
 * Comparisons are ordered (a NaN compares false with everything), so NaN
 * never qualifies, whatever thr is.
 */
#include <math.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* Writes qualifying indices from start on, while fewer than cap are stored;
 * returns c plus the number that qualified in [start, n). */
static size_t select_scalar(const float *x, size_t start, size_t n, float thr, uint32_t *idx,
			    size_t cap, size_t c)
{
	size_t i = start;
	/* idx[c] is written unconditionally and kept only when the element
	 * qualifies; the loop condition keeps c < cap so the store is in bounds. */
	for (; i < n && c < cap; i++) {
		idx[c] = (uint32_t)i;
		c += fabsf(x[i]) >= thr;
	}
	for (; i < n; i++)
		c += fabsf(x[i]) >= thr;
	return c;
}

#if defined(__x86_64__) || defined(__i386__)

__attribute__((target("avx2"))) static size_t select_avx2(const float *x, size_t n, float thr,
							   uint32_t *idx, size_t cap)
{
	const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	const __m256 t = _mm256_set1_ps(thr);
	size_t c = 0, i = 0;

	for (; i + 32 <= n; i += 32) {
		__m256 a0 = _mm256_and_ps(_mm256_loadu_ps(x + i), absmask);
		__m256 a1 = _mm256_and_ps(_mm256_loadu_ps(x + i + 8), absmask);
		__m256 a2 = _mm256_and_ps(_mm256_loadu_ps(x + i + 16), absmask);
		__m256 a3 = _mm256_and_ps(_mm256_loadu_ps(x + i + 24), absmask);
		/* GE_OQ: ordered, so NaN lanes are 0. */
		uint32_t m = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a0, t, _CMP_GE_OQ)) |
			     (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a1, t, _CMP_GE_OQ)) << 8 |
			     (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a2, t, _CMP_GE_OQ)) << 16 |
			     (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a3, t, _CMP_GE_OQ)) << 24;
		if (!m)
			continue;
		uint32_t base = (uint32_t)i;
		if (c + 32 <= cap) {
			uint32_t *o = idx + c;
			c += (size_t)__builtin_popcount(m);
			do {
				*o++ = base + (uint32_t)__builtin_ctz(m);
				m &= m - 1;
			} while (m);
		} else {
			/* Near (or past) cap: store only while room is left, keep counting. */
			do {
				if (c < cap)
					idx[c] = base + (uint32_t)__builtin_ctz(m);
				c++;
				m &= m - 1;
			} while (m);
		}
	}
	return select_scalar(x, i, n, thr, idx, cap, c);
}

#endif

size_t gx_k_select_ge(const float *x, size_t n, float thr, uint32_t *idx, size_t cap)
{
	if (!idx)
		cap = 0;
#if defined(__x86_64__) || defined(__i386__)
	if (gx_k_cpu_has_avx2())
		return select_avx2(x, n, thr, idx, cap);
#endif
	return select_scalar(x, 0, n, thr, idx, cap, 0);
}
