/*
 * topk.c — top-k selection by magnitude: exact, and sampled threshold (DGC).
 *
 * Both return indices in increasing order without sorting them: selection
 * finds the k-th largest magnitude T, then one ordered pass (over the data,
 * or over candidates collected in index order) takes every |x| > T and, in
 * index order, just enough |x| == T to make k. That fixes the tie rule
 * (lower index wins) and the output order at once.
 *
 * Magnitudes are compared through mag(): |x|, with NaN mapped to -1 so that
 * a NaN ranks below every number and NaNs tie among themselves (only picked,
 * lowest index first, when k exceeds the count of numbers).
 *
 * The design, the constants and measured speeds are in docs/codecs.md
 * (section "Selection, error feedback and fp16").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gx_codec.h"
#include "kernels.h"

/* Sample size: 1% of the tensor but at least SAMPLE_MIN draws. */
#define SAMPLE_DIV 100
#define SAMPLE_MIN 4096
/* The threshold is the r-th largest sampled magnitude. r0 = k*m/n would aim
 * at k candidates exactly; the count found above the r-th sample point
 * spreads like a Gamma(r) variable (relative spread 1/sqrt(r)), so r sits
 * above r0 by MARGIN (25%, the DGC-style slack that dominates for large r0)
 * or by SIGMAS standard deviations (which dominates for small r0), whichever
 * is larger: one pass then finds fewer than k with probability ~1e-4. */
#define MARGIN 1.25
#define SIGMAS 4.0
/* Never estimate from fewer than RANK_MIN sample points above the threshold:
 * for tiny k the estimate would be all noise, and a few hundred extra
 * candidates cost nothing to trim. */
#define RANK_MIN 16
/* Below this size the exact path is as cheap as sampling. */
#define SAMPLED_MIN_N (4 * SAMPLE_MIN)
/* Above k = n/20 the radix exact path wins: the threshold pass then keeps
 * so many candidates that trimming them costs more than the histograms
 * (measured crossover near 5% on 10^7 floats; docs/codecs.md). */
#define SAMPLED_MAX_DIV 20

static inline float mag(float v)
{
	float a = fabsf(v);
	return a == a ? a : -1.0f;
}

static int cmp_float(const void *pa, const void *pb)
{
	float a = *(const float *)pa, b = *(const float *)pb;
	return (a > b) - (a < b);
}

/*
 * Floyd–Rivest selection (CACM algorithm 489): rearranges a[left..right] so
 * that a[k] holds the value a sort would put there, everything before it is
 * <= and everything after >=. Unlike median-of-three quickselect it first
 * selects, within a small subrange around k, a pivot that should land just
 * beside position k, so for k near either end (the top-k case) the big
 * partition moves few elements and its scan loops are well predicted —
 * about n + min(k, n - k) comparisons expected. Duplicates split evenly.
 * *budget bounds the total number of partitions; when it runs out the range
 * is sorted instead, which caps adversarial inputs at O(n log n).
 * a must not contain NaN (callers map NaN to -1).
 */
static void fr_select(float *a, ptrdiff_t left, ptrdiff_t right, ptrdiff_t k, int *budget)
{
	while (right > left) {
		if (--*budget < 0) {
			qsort(a + left, (size_t)(right - left + 1), sizeof *a, cmp_float);
			return;
		}
		if (right - left > 600) {
			double n = (double)(right - left + 1);
			double i = (double)(k - left + 1);
			double z = log(n);
			double s = 0.5 * exp(2.0 * z / 3.0);
			double sd = 0.5 * sqrt(z * s * (n - s) / n) * (i - n / 2 < 0 ? -1.0 : 1.0);
			ptrdiff_t nl = (ptrdiff_t)((double)k - i * s / n + sd);
			ptrdiff_t nr = (ptrdiff_t)((double)k + (n - i) * s / n + sd);
			if (nl < left)
				nl = left;
			if (nr > right)
				nr = right;
			fr_select(a, nl, nr, k, budget);
		}
		float t = a[k], tmp;
		ptrdiff_t i = left, j = right;
#define SWAP(p, q) (tmp = a[p], a[p] = a[q], a[q] = tmp)
		SWAP(left, k);
		if (a[right] > t)
			SWAP(right, left);
		while (i < j) {
			SWAP(i, j);
			i++;
			j--;
			while (a[i] < t)
				i++;
			while (a[j] > t)
				j--;
		}
		if (a[left] == t) {
			SWAP(left, j);
		} else {
			j++;
			SWAP(j, right);
		}
#undef SWAP
		if (j <= k)
			left = j + 1;
		if (k <= j)
			right = j - 1;
	}
}

/* The value at ascending position pos of a[0..n) (n > pos), a rearranged. */
static float nth_float(float *a, size_t n, size_t pos)
{
	int budget = 64;
	for (size_t m = n; m > 1; m >>= 1)
		budget += 4;
	fr_select(a, 0, (ptrdiff_t)n - 1, (ptrdiff_t)pos, &budget);
	return a[pos];
}

/* How many of a[0..n) exceed t. */
static size_t count_gt(const float *a, size_t n, float t)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += a[i] > t;
	return c;
}

/* The ordered pass when T is the k-th largest magnitude and gt elements are
 * strictly above it: every mag > T plus the first k - gt with mag == T.
 * Stops as soon as k are taken. */
static size_t take_ordered(const float *x, size_t n, float t, size_t k, size_t gt, uint32_t *idx)
{
	size_t eq_left = k - gt, c = 0;
	for (size_t i = 0; i < n && c < k; i++) {
		float m = mag(x[i]);
		if (m > t) {
			idx[c++] = (uint32_t)i;
		} else if (m == t && eq_left) {
			idx[c++] = (uint32_t)i;
			eq_left--;
		}
	}
	return c;
}

static long take_all(size_t n, uint32_t *idx)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	return (long)n;
}

/* Keeps the top k of c > k candidates (every |x| >= some threshold, in index
 * order, no NaN) in index order. Since the candidates include every element
 * at or above the threshold and there are at least k of them, their top k is
 * exactly the top k of the whole tensor. */
static long trim(const float *x, const uint32_t *cand, size_t c, size_t k, uint32_t *idx)
{
	if (c == k) {
		memcpy(idx, cand, k * sizeof *idx);
		return (long)k;
	}
	float *vals = malloc(2 * c * sizeof *vals);
	if (!vals)
		return GX_ENOMEM;
	float *tmp = vals + c;
	for (size_t j = 0; j < c; j++)
		vals[j] = fabsf(x[cand[j]]);
	memcpy(tmp, vals, c * sizeof *vals);
	size_t pos = c - k;
	float t = nth_float(tmp, c, pos);
	size_t eq_left = k - count_gt(tmp + pos + 1, k - 1, t), o = 0;
	for (size_t j = 0; j < c && o < k; j++) {
		if (vals[j] > t) {
			idx[o++] = cand[j];
		} else if (vals[j] == t && eq_left) {
			idx[o++] = cand[j];
			eq_left--;
		}
	}
	free(vals);
	return (long)o;
}

/* Common argument checks; returns 1 when the caller must go on selecting,
 * 0 with *ret set when the answer is already known. */
static int check_args(const float *x, size_t n, size_t *k, uint32_t *idx, long *ret)
{
	if ((n && !x) || (uint64_t)n > (uint64_t)UINT32_MAX + 1) {
		*ret = GX_EINVAL; /* indices are uint32 */
		return 0;
	}
	if (*k > n)
		*k = n;
	if (!*k) {
		*ret = 0;
		return 0;
	}
	if (!idx) {
		*ret = GX_EINVAL;
		return 0;
	}
	if (*k == n) {
		*ret = take_all(n, idx);
		return 0;
	}
	return 1;
}

/* Exact selection for any input: a scratch copy of every magnitude, then
 * Floyd–Rivest. Used when NaNs or infinities are present (the radix path
 * below ranks bit patterns, which would put NaN above infinity) and for
 * small tensors. */
static long exact_generic(const float *x, size_t n, size_t k, uint32_t *idx)
{
	float *s = malloc(n * sizeof *s);
	if (!s)
		return GX_ENOMEM;
	for (size_t i = 0; i < n; i++)
		s[i] = mag(x[i]);
	size_t pos = n - k;
	float t = nth_float(s, n, pos);
	/* Only positions after pos can hold values above t. */
	size_t gt = count_gt(s + pos + 1, k - 1, t);
	free(s);

	/* Usually exactly k elements reach t (no ties at the k-th magnitude):
	 * then the fast threshold kernel produces the answer directly. Otherwise
	 * (ties, or t is the NaN rank) the tie-aware scalar pass does. */
	if (t >= 0 && gx_k_select_ge(x, n, t, idx, k) == k)
		return (long)k;
	return (long)take_ordered(x, n, t, k, gt, idx);
}

static inline uint32_t mag_key(float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return u & 0x7fffffffu;
}

static inline float key_float(uint32_t key)
{
	float f;
	memcpy(&f, &key, sizeof f);
	return f;
}

/* Radix levels over the 31 magnitude bits: 11 + 11 + 9. For non-negative
 * floats the bit pattern orders like the value, so a histogram of the top
 * bits locates the k-th largest magnitude without moving any data. */
#define RBINS 2048
#define RSHIFT1 20
#define RSHIFT2 9
/* Stop refining once the elements at or above the current bin's floor are
 * few enough to gather and trim directly. */
#define RADIX_LIMIT(k) (2 * (k) + 65536)

/* Histogram of (key >> shift) & mask over the elements whose key >> pshift
 * equals prefix (pshift 32: all elements), into tot. Four sub-histograms
 * so that runs of equal bins do not serialise on one counter; each counts
 * at most n/4 < 2^32 elements. */
static void radix_hist(const float *x, size_t n, int shift, uint32_t mask, int pshift,
		       uint32_t prefix, uint32_t (*h)[RBINS], uint64_t *tot)
{
	memset(h, 0, 4 * sizeof *h);
	size_t i = 0;
	if (pshift >= 32) {
		for (; i + 4 <= n; i += 4) {
			h[0][(mag_key(x[i]) >> shift) & mask]++;
			h[1][(mag_key(x[i + 1]) >> shift) & mask]++;
			h[2][(mag_key(x[i + 2]) >> shift) & mask]++;
			h[3][(mag_key(x[i + 3]) >> shift) & mask]++;
		}
		for (; i < n; i++)
			h[0][(mag_key(x[i]) >> shift) & mask]++;
	} else {
		/* Branchless: every element adds 0 or 1 to its bin. */
		for (; i + 4 <= n; i += 4) {
			uint32_t k0 = mag_key(x[i]), k1 = mag_key(x[i + 1]);
			uint32_t k2 = mag_key(x[i + 2]), k3 = mag_key(x[i + 3]);
			h[0][(k0 >> shift) & mask] += (k0 >> pshift) == prefix;
			h[1][(k1 >> shift) & mask] += (k1 >> pshift) == prefix;
			h[2][(k2 >> shift) & mask] += (k2 >> pshift) == prefix;
			h[3][(k3 >> shift) & mask] += (k3 >> pshift) == prefix;
		}
		for (; i < n; i++) {
			uint32_t k0 = mag_key(x[i]);
			h[0][(k0 >> shift) & mask] += (k0 >> pshift) == prefix;
		}
	}
	for (uint32_t b = 0; b <= mask; b++)
		tot[b] = (uint64_t)h[0][b] + h[1][b] + h[2][b] + h[3][b];
}

/*
 * Exact top-k by radix selection: histogram passes over x narrow down the
 * bin of the k-th largest magnitude, tracking above = how many elements lie
 * above the bin and in = how many in it. Once above + in is small, one
 * threshold pass collects everything at or above the bin's floor and trim()
 * picks the k; if all 31 bits get fixed (heavy ties) the k-th magnitude is
 * known exactly and an ordered pass takes the k. No copy of x is made: the
 * scratch is O(k) (at most RADIX_LIMIT candidates), and at 1% of 10^7
 * floats this is about 7x faster than copy-and-select, whose page faults on
 * a fresh 40 MB scratch alone cost more than all the passes here.
 * Returns 1 with *ret set, or 0 when the input holds NaN or infinity.
 */
static int exact_radix(const float *x, size_t n, size_t k, uint32_t *idx, long *ret)
{
	uint32_t(*h)[RBINS] = malloc(4 * sizeof *h);
	uint64_t *tot = malloc(RBINS * sizeof *tot);
	if (!h || !tot) {
		free(h);
		free(tot);
		*ret = GX_ENOMEM;
		return 1;
	}
	static const struct {
		int shift, pshift;
		uint32_t mask;
	} lv[3] = { { RSHIFT1, 32, RBINS - 1 },
		    { RSHIFT2, RSHIFT1, RBINS - 1 },
		    { 0, RSHIFT2, (1u << RSHIFT2) - 1 } };
	uint64_t above = 0, in = n;
	uint32_t prefix = 0;
	int level;
	for (level = 0; level < 3; level++) {
		radix_hist(x, n, lv[level].shift, lv[level].mask, lv[level].pshift, prefix, h, tot);
		if (level == 0) {
			/* Bins from 0x7f8 up hold infinity and NaN (bit patterns above
			 * infinity): those need the value-aware path. */
			uint64_t special = 0;
			for (uint32_t b = 0x7f8; b < RBINS; b++)
				special += tot[b];
			if (special) {
				free(h);
				free(tot);
				return 0;
			}
		}
		uint32_t b = lv[level].mask;
		while (above + tot[b] < k) /* terminates: the bins hold >= k in all */
			above += tot[b--];
		in = tot[b];
		prefix = (prefix << (lv[level].pshift - lv[level].shift)) | b;
		if (above + in <= RADIX_LIMIT(k))
			break;
	}
	free(h);
	free(tot);

	if (level == 3) {
		/* Every bit fixed: prefix is the k-th largest key, `above`
		 * elements exceed it and `in` equal it. */
		float t = key_float(prefix);
		if (above + in == k && gx_k_select_ge(x, n, t, idx, k) == k)
			*ret = (long)k;
		else
			*ret = (long)take_ordered(x, n, t, k, (size_t)above, idx);
		return 1;
	}
	size_t c = (size_t)(above + in);
	float bin_floor = key_float(prefix << lv[level].shift);
	uint32_t *cand = malloc(c * sizeof *cand);
	if (!cand) {
		*ret = GX_ENOMEM;
		return 1;
	}
	if (gx_k_select_ge(x, n, bin_floor, cand, c) != c)
		*ret = exact_generic(x, n, k, idx); /* x changed under us; stay correct */
	else
		*ret = trim(x, cand, c, k, idx);
	free(cand);
	return 1;
}

/* Under this size the copy-and-select path is as fast and the histograms'
 * fixed cost would dominate. */
#define RADIX_MIN_N 16384

long gx_topk_exact(const float *x, size_t n, size_t k, uint32_t *idx)
{
	long ret;
	if (!check_args(x, n, &k, idx, &ret))
		return ret;
	if (n >= RADIX_MIN_N && exact_radix(x, n, k, idx, &ret))
		return ret;
	return exact_generic(x, n, k, idx);
}

long gx_topk_sampled(const float *x, size_t n, size_t k, gx_rng *rng, uint32_t *idx)
{
	long ret;
	if (!rng)
		return GX_EINVAL;
	if (!check_args(x, n, &k, idx, &ret))
		return ret;

	size_t m = n / SAMPLE_DIV;
	if (m < SAMPLE_MIN)
		m = SAMPLE_MIN;
	double r0 = (double)k * (double)m / (double)n;
	double rr = fmax(MARGIN * r0, r0 + SIGMAS * sqrt(r0));
	size_t r = rr > (double)m ? m : (size_t)ceil(rr);
	if (r < RANK_MIN)
		r = RANK_MIN;
	/* Small tensors, or k so large that exact selection is faster: the
	 * result is then the exact top k, which sampling only approximates. */
	if (n < SAMPLED_MIN_N || k > n / SAMPLED_MAX_DIV || 2 * r > m)
		return gx_topk_exact(x, n, k, idx);

	float *smp = malloc(m * sizeof *smp);
	if (!smp)
		return GX_ENOMEM;
	/* Stratified: one uniform draw from each of m equal slices. Every
	 * element is equally likely to be drawn (slice sizes differ by at most
	 * one), the estimate is at least as good as m independent draws (better
	 * when magnitudes vary along the tensor, as in concatenated layers), and
	 * the reads go forward through memory instead of hitting a random page
	 * each. Positions are drawn a block at a time and then loaded in a
	 * separate loop: with no generator calls between them the loads are
	 * independent and overlap their cache misses (about 2-4x faster). */
	size_t q = n / m, rem = n % m, acc = 0, lo = 0;
	for (size_t j0 = 0; j0 < m; j0 += 256) {
		uint32_t at[256];
		size_t e = m - j0 < 256 ? m - j0 : 256;
		for (size_t j = 0; j < e; j++) {
			size_t len = q; /* slices of q or q + 1, spread Bresenham-style */
			acc += rem;
			if (acc >= m) {
				acc -= m;
				len++;
			}
			at[j] = (uint32_t)(lo + gx_rng_below(rng, len));
			lo += len;
		}
		for (size_t j = 0; j < e; j++)
			smp[j0 + j] = mag(x[at[j]]);
	}
	/* t = the r-th largest sampled magnitude; the top r of the sample end
	 * up in smp[pos..m), the rest in smp[0..pos), for the retries below. */
	size_t pos = m - r;
	float t = nth_float(smp, m, pos);
	if (t < 0) {
		/* The sample says NaNs reach the top k: let exact selection rank
		 * them (after every number, as documented). */
		free(smp);
		return gx_topk_exact(x, n, k, idx);
	}
	double expect = (double)r * (double)n / (double)m; /* candidates aimed at */
	size_t cap = (size_t)(2.0 * expect) + 256;
	if (cap > n)
		cap = n;
	uint32_t *cand = malloc(cap * sizeof *cand);
	if (!cand) {
		free(smp);
		return GX_ENOMEM;
	}

	size_t c = gx_k_select_ge(x, n, t, cand, cap);
	if (c > cap) {
		/* Far more than expected reach t (heavy ties, or a sample that
		 * missed a dense cluster): rescale the sample rank by what was
		 * observed, so the new threshold aims at the same count, and
		 * rescan. */
		size_t r2 = (size_t)((double)r * expect / (double)c);
		float up = nextafterf(t, INFINITY);
		float t2 = r2 >= 1 ? nth_float(smp + pos, r, r - r2) : up;
		if (!(t2 > t))
			t2 = up;
		size_t c2 = gx_k_select_ge(x, n, t2, cand, cap);
		if (c2 >= k && c2 <= cap) {
			c = c2;
		} else if (c2 < k && t2 == up) {
			/* Fewer than k above t, at least k at or above it: t is the
			 * exact k-th magnitude (the all-zero tensor ends here). */
			ret = (long)take_ordered(x, n, t, k, c2, idx);
			goto out;
		} else {
			ret = gx_topk_exact(x, n, k, idx);
			goto out;
		}
	} else if (c < k) {
		/* The sample put t too high. These c are certainly in the top k
		 * (all above everything left out); keep them as the answer in
		 * case a second, lower pass overflows. The lower threshold is the
		 * sample rank that, at the density just observed, aims at the
		 * original count. */
		memcpy(idx, cand, c * sizeof *idx);
		double r3d = ceil((double)r * expect / (double)(c ? c : 1));
		size_t r3 = r3d >= (double)m ? m : (size_t)r3d;
		float t3 = r3 > r ? nth_float(smp, pos, m - r3) : t;
		if (!(t3 < t))
			t3 = 0.0f;
		size_t c3 = gx_k_select_ge(x, n, t3, cand, cap);
		if (c3 > cap) {
			ret = (long)c;
			goto out;
		}
		if (c3 < k) {
			memcpy(idx, cand, c3 * sizeof *idx);
			ret = (long)c3;
			goto out;
		}
		c = c3;
	}
	ret = trim(x, cand, c, k, idx);
out:
	free(cand);
	free(smp);
	return ret;
}
