/*
 * pool.c — max-pooling over independent planes (no padding). The forward
 * pass records where each maximum came from, so the backward pass is a
 * scatter-add and never compares again. Comparisons are ordered and strict:
 * the first maximum of a window wins ties, and a NaN is picked only when it
 * comes first. The common 2x2, stride 2 window has a branch-free vector loop
 * (random data would mispredict a branch per comparison).
 */
#include <string.h>

#include "kernels.h"
#include "vec.h"

/* 2x2 windows, stride 2: four windows per step from two rows of eight. */
static void pool2(const float *src, int w, int oh, int ow, float *y, uint32_t *arg)
{
	for (int oy = 0; oy < oh; oy++) {
		const float *r0 = src + (size_t)(2 * oy) * w, *r1 = r0 + w;
		int ox = 0;
		for (; ox + 4 <= ow; ox += 4, y += 4, arg += 4) {
			v4f a0 = v4_load(r0 + 2 * ox), a1 = v4_load(r0 + 2 * ox + 4);
			v4f b0 = v4_load(r1 + 2 * ox), b1 = v4_load(r1 + 2 * ox + 4);
			v4f a = __builtin_shufflevector(a0, a1, 0, 2, 4, 6);
			v4f b = __builtin_shufflevector(a0, a1, 1, 3, 5, 7);
			v4f c = __builtin_shufflevector(b0, b1, 0, 2, 4, 6);
			v4f d = __builtin_shufflevector(b0, b1, 1, 3, 5, 7);
			int base = 2 * oy * w + 2 * ox;
			v4i ia = (v4i){ 0, 2, 4, 6 } + base, ic = ia + w;
			v4i m = b > a;
			a = v4_sel(m, b, a);
			ia = v4_seli(m, ia + 1, ia);
			m = d > c;
			c = v4_sel(m, d, c);
			ic = v4_seli(m, ic + 1, ic);
			m = c > a;
			v4_store(y, v4_sel(m, c, a));
			v4i r = v4_seli(m, ic, ia);
			memcpy(arg, &r, sizeof r);
		}
		for (; ox < ow; ox++) {
			uint32_t i = (uint32_t)(2 * oy * w + 2 * ox), best = i;
			float mx = src[i];
			const uint32_t cand[3] = { i + 1, i + (uint32_t)w, i + (uint32_t)w + 1 };
			for (int q = 0; q < 3; q++)
				if (src[cand[q]] > mx) {
					mx = src[cand[q]];
					best = cand[q];
				}
			*y++ = mx;
			*arg++ = best;
		}
	}
}

void gx_k_maxpool_fwd(const float *x, int planes, int h, int w, int k, int stride, float *y,
		      uint32_t *arg)
{
	int oh = (h - k) / stride + 1, ow = (w - k) / stride + 1;
	size_t plane = (size_t)h * w, op = (size_t)oh * ow;

	for (int p = 0; p < planes; p++, y += op, arg += op) {
		const float *src = x + p * plane;
		if (k == 2 && stride == 2) {
			pool2(src, w, oh, ow, y, arg);
			continue;
		}
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				uint32_t best = (uint32_t)(oy * stride * w + ox * stride);
				float m = src[best];
				for (int ky = 0; ky < k; ky++)
					for (int kx = 0; kx < k; kx++) {
						uint32_t i = (uint32_t)((oy * stride + ky) * w + ox * stride + kx);
						if (src[i] > m) {
							m = src[i];
							best = i;
						}
					}
				y[oy * ow + ox] = m;
				arg[oy * ow + ox] = best;
			}
	}
}

void gx_k_maxpool_bwd(const float *dy, const uint32_t *arg, int planes, int h, int w, int k,
		      int stride, float *dx)
{
	int oh = (h - k) / stride + 1, ow = (w - k) / stride + 1;
	size_t plane = (size_t)h * w, op = (size_t)oh * ow;

	memset(dx, 0, sizeof *dx * plane * planes);
	for (int p = 0; p < planes; p++, dx += plane)
		for (size_t i = 0; i < op; i++)
			dx[*arg++] += *dy++;
}

void gx_k_maxpool_relu_bwd(const float *dy, const uint32_t *arg, const float *x, int planes,
			   int h, int w, int k, int stride, float *dx)
{
	int oh = (h - k) / stride + 1, ow = (w - k) / stride + 1;
	size_t plane = (size_t)h * w, op = (size_t)oh * ow;

	if (k == 2 && stride == 2 && h % 2 == 0 && w % 2 == 0 && ow % 4 == 0) {
		/* Windows tile the plane: each element is written once, as 0 + dy
		 * where it was the maximum and x > 0 (x there is the window's
		 * maximum), +0 elsewhere; no memset, no scatter. */
		const v4f z = v4_set1(0.0f);
		for (int p = 0; p < planes; p++, x += plane, dx += plane)
			for (int oy = 0; oy < oh; oy++) {
				float *r0 = dx + (size_t)(2 * oy) * w, *r1 = r0 + w;
				for (int ox = 0; ox < ow; ox += 4, arg += 4, dy += 4) {
					v4i a;
					memcpy(&a, arg, sizeof a);
					v4f m = (v4f){ x[arg[0]], x[arg[1]], x[arg[2]], x[arg[3]] };
					v4f d = v4_sel(m > z, v4_load(dy), z) + z;
					v4i ia = (v4i){ 0, 2, 4, 6 } + (2 * oy * w + 2 * ox), ic = ia + w;
					v4f e0 = v4_sel(a == ia, d, z), o0 = v4_sel(a == ia + 1, d, z);
					v4f e1 = v4_sel(a == ic, d, z), o1 = v4_sel(a == ic + 1, d, z);
					v4_store(r0 + 2 * ox, __builtin_shufflevector(e0, o0, 0, 4, 1, 5));
					v4_store(r0 + 2 * ox + 4, __builtin_shufflevector(e0, o0, 2, 6, 3, 7));
					v4_store(r1 + 2 * ox, __builtin_shufflevector(e1, o1, 0, 4, 1, 5));
					v4_store(r1 + 2 * ox + 4, __builtin_shufflevector(e1, o1, 2, 6, 3, 7));
				}
			}
		return;
	}
	/* Where x <= 0 (or NaN) the ReLU would zero the sum, so its terms are
	 * replaced by +0 (a select, not a branch: the signs are random), which
	 * leaves that element +0; elsewhere the same sums in the same order. */
	memset(dx, 0, sizeof *dx * plane * planes);
	for (int p = 0; p < planes; p++, dx += plane, x += plane)
		for (size_t i = 0; i < op; i++, arg++, dy++)
			dx[*arg] += x[*arg] > 0.0f ? *dy : 0.0f;
}
