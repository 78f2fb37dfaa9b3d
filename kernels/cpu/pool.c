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
