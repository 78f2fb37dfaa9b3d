/*
 * im2col.c — unrolls convolution windows into columns so that a convolution
 * of a whole batch is one GEMM (the pairing of darknet's im2col.c and
 * gemm.c), and the adjoint col2im for the input gradient.
 *
 * The batch is channel-major, x [c][n][h][w]; the columns of examples b0 ..
 * b0+nb-1 form col [c*k*k][nb*oh*ow], one row per (channel, ky, kx) tap
 * holding that tap for every output position of those examples, so
 * W [oc][c*k*k] x col lands in out [oc][n][oh][ow] (leading dimension
 * n*oh*ow) in the layout the next layer wants. Callers cut the batch into
 * chunks whose columns fit in cache. With stride 1 each output row is a
 * contiguous slice of an input row, copied with memcpy; padding is handled by
 * clipping the slice and zeroing the rest.
 */
#include <string.h>

#include "kernels.h"
#include "vec.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GX_IM2COL_AVX2 1

/* The stride-1, unpadded cases with eight-float vectors: the same copies and
 * the same additions in the same order as the four-float loops below, so the
 * results are bit-identical; only the instruction count halves. */
__attribute__((target("avx2"))) static void im2col_s1_avx2(const float *x, int c, int n, int h,
							    int w, int k, int b0, int nb, float *col)
{
	int oh = h - k + 1, ow = w - k + 1;
	size_t plane = (size_t)h * w, orow = (size_t)nb * oh * ow;

	for (int ci = 0; ci < c; ci++)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++) {
				float *dst = col + ((size_t)(ci * k + ky) * k + kx) * orow;
				for (int b = b0; b < b0 + nb; b++) {
					const float *src = x + ((size_t)ci * n + b) * plane +
							   (size_t)ky * w + kx;
					if (ow == 8) {
						for (int oy = 0; oy < oh; oy++, dst += 8, src += w)
							_mm256_storeu_ps(dst, _mm256_loadu_ps(src));
						continue;
					}
					for (int oy = 0; oy < oh; oy++, dst += ow, src += w) {
						int i = 0;
						for (; i + 8 <= ow; i += 8)
							_mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
						for (; i + 4 <= ow; i += 4)
							_mm_storeu_ps(dst + i, _mm_loadu_ps(src + i));
						for (; i < ow; i++)
							dst[i] = src[i];
					}
				}
			}
}

__attribute__((target("avx2"))) static void col2im_s1_avx2(const float *col, int c, int n, int h,
							    int w, int k, int b0, int nb, float *x)
{
	int oh = h - k + 1, ow = w - k + 1;
	size_t plane = (size_t)h * w, orow = (size_t)nb * oh * ow;

	for (int ci = 0; ci < c; ci++)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++) {
				const float *src = col + ((size_t)(ci * k + ky) * k + kx) * orow;
				for (int b = b0; b < b0 + nb; b++) {
					float *dst = x + ((size_t)ci * n + b) * plane +
						     (size_t)ky * w + kx;
					if (ow == 8) {
						for (int oy = 0; oy < oh; oy++, src += 8, dst += w)
							_mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst),
											    _mm256_loadu_ps(src)));
						continue;
					}
					for (int oy = 0; oy < oh; oy++, src += ow, dst += w) {
						int i = 0;
						for (; i + 8 <= ow; i += 8)
							_mm256_storeu_ps(dst + i,
									 _mm256_add_ps(_mm256_loadu_ps(dst + i),
										       _mm256_loadu_ps(src + i)));
						for (; i + 4 <= ow; i += 4)
							_mm_storeu_ps(dst + i, _mm_add_ps(_mm_loadu_ps(dst + i),
											  _mm_loadu_ps(src + i)));
						for (; i < ow; i++)
							dst[i] += src[i];
					}
				}
			}
}
#endif

/* The ox range [lo, hi) whose ix = ox*stride - pad + kx lies in [0, w). */
static void clip(int ow, int w, int stride, int pad, int kx, int *lo, int *hi)
{
	int a = 0, b = ow;
	while (a < b && a * stride - pad + kx < 0)
		a++;
	while (b > a && (b - 1) * stride - pad + kx >= w)
		b--;
	*lo = a;
	*hi = b;
}

void gx_k_im2col(const float *x, int c, int n, int h, int w, int k, int stride, int pad, int b0,
		 int nb, float *col)
{
	int oh = GX_K_CONV_OUT(h, k, stride, pad), ow = GX_K_CONV_OUT(w, k, stride, pad);
	size_t plane = (size_t)h * w, orow = (size_t)nb * oh * ow;

	if (stride == 1 && pad == 0) { /* every window inside: no clipping */
#ifdef GX_IM2COL_AVX2
		if (gx_k_cpu_has_avx2()) {
			im2col_s1_avx2(x, c, n, h, w, k, b0, nb, col);
			return;
		}
#endif
		for (int ci = 0; ci < c; ci++)
			for (int ky = 0; ky < k; ky++)
				for (int kx = 0; kx < k; kx++) {
					float *dst = col + ((size_t)(ci * k + ky) * k + kx) * orow;
					for (int b = b0; b < b0 + nb; b++) {
						const float *src = x + ((size_t)ci * n + b) * plane +
								   (size_t)ky * w + kx;
						if (ow == 8)
							for (int oy = 0; oy < oh; oy++, dst += 8, src += w) {
								v4_store(dst, v4_load(src));
								v4_store(dst + 4, v4_load(src + 4));
							}
						else
							for (int oy = 0; oy < oh; oy++, dst += ow, src += w)
								v4_copy_row(dst, src, (size_t)ow);
					}
				}
		return;
	}
	for (int ci = 0; ci < c; ci++)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++) {
				float *dst = col + ((size_t)(ci * k + ky) * k + kx) * orow;
				int lo, hi;
				clip(ow, w, stride, pad, kx, &lo, &hi);
				for (int b = b0; b < b0 + nb; b++) {
					const float *src = x + ((size_t)ci * n + b) * plane;
					for (int oy = 0; oy < oh; oy++, dst += ow) {
						int iy = oy * stride - pad + ky;
						if (iy < 0 || iy >= h || lo >= hi) {
							memset(dst, 0, sizeof *dst * ow);
							continue;
						}
						const float *row = src + (size_t)iy * w;
						if (lo > 0)
							memset(dst, 0, sizeof *dst * lo);
						if (stride == 1) {
							v4_copy_row(dst + lo, row + lo - pad + kx,
								    (size_t)(hi - lo));
						} else {
							for (int ox = lo; ox < hi; ox++)
								dst[ox] = row[ox * stride - pad + kx];
						}
						if (hi < ow)
							memset(dst + hi, 0, sizeof *dst * (ow - hi));
					}
				}
			}
}

void gx_k_col2im(const float *col, int c, int n, int h, int w, int k, int stride, int pad, int b0,
		 int nb, float *x)
{
	int oh = GX_K_CONV_OUT(h, k, stride, pad), ow = GX_K_CONV_OUT(w, k, stride, pad);
	size_t plane = (size_t)h * w, orow = (size_t)nb * oh * ow;

	for (int ci = 0; ci < c; ci++)
		memset(x + ((size_t)ci * n + b0) * plane, 0, sizeof *x * plane * nb);
	if (stride == 1 && pad == 0) { /* every window inside: no clipping */
#ifdef GX_IM2COL_AVX2
		if (gx_k_cpu_has_avx2()) {
			col2im_s1_avx2(col, c, n, h, w, k, b0, nb, x);
			return;
		}
#endif
		for (int ci = 0; ci < c; ci++)
			for (int ky = 0; ky < k; ky++)
				for (int kx = 0; kx < k; kx++) {
					const float *src = col + ((size_t)(ci * k + ky) * k + kx) * orow;
					for (int b = b0; b < b0 + nb; b++) {
						float *dst = x + ((size_t)ci * n + b) * plane +
							     (size_t)ky * w + kx;
						if (ow == 8)
							for (int oy = 0; oy < oh; oy++, src += 8, dst += w) {
								v4_store(dst, v4_load(dst) + v4_load(src));
								v4_store(dst + 4,
									 v4_load(dst + 4) + v4_load(src + 4));
							}
						else
							for (int oy = 0; oy < oh; oy++, src += ow, dst += w)
								v4_add_row(dst, src, (size_t)ow);
					}
				}
		return;
	}
	for (int ci = 0; ci < c; ci++)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++) {
				const float *src = col + ((size_t)(ci * k + ky) * k + kx) * orow;
				int lo, hi;
				clip(ow, w, stride, pad, kx, &lo, &hi);
				for (int b = b0; b < b0 + nb; b++) {
					float *dst = x + ((size_t)ci * n + b) * plane;
					for (int oy = 0; oy < oh; oy++, src += ow) {
						int iy = oy * stride - pad + ky;
						if (iy < 0 || iy >= h)
							continue;
						float *row = dst + (size_t)iy * w;
						if (stride == 1) {
							v4_add_row(row - pad + kx + lo, src + lo,
								   (size_t)(hi - lo));
						} else {
							for (int ox = lo; ox < hi; ox++)
								row[ox * stride - pad + kx] += src[ox];
						}
					}
				}
			}
}
