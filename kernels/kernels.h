/*
 * kernels.h — compute kernels shared by libgeomx.
 *
 * Kernels come in twins with the same shape: kernels/cpu/NAME.c works on host
 * memory, kernels/cuda/NAME.cu on device memory (plus a stream argument,
 * NULL for the default stream). They know nothing of lib/ internals and
 * return 0 on success or -1 on failure (CUDA twins: -1 when a CUDA call
 * failed; gx_k_cuda_last_error() names it). Callers (lib/) map these to
 * gx_error codes. CPU kernels are thread-safe.
 */
#ifndef GX_KERNELS_H
#define GX_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CPU features, probed once (cpuid), cached. */
int gx_k_cpu_has_f16c(void);
int gx_k_cpu_has_sse42(void);
int gx_k_cpu_has_avx2(void);

/* binary16 <-> binary32, round to nearest even. The _scalar and _f16c
 * variants are exposed so tests can compare them; the _f16c ones must only
 * be called when gx_k_cpu_has_f16c(). */
void gx_k_f32_to_f16_scalar(const float *src, uint16_t *dst, size_t n);
void gx_k_f16_to_f32_scalar(const uint16_t *src, float *dst, size_t n);
void gx_k_f32_to_f16_f16c(const float *src, uint16_t *dst, size_t n);
void gx_k_f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n);

/* CRC-32C; _hw requires gx_k_cpu_has_sse42(). */
uint32_t gx_k_crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t gx_k_crc32c_hw(uint32_t crc, const void *buf, size_t len);

/* Writes to idx (in increasing order) every i with |x[i]| >= thr, at most
 * cap of them; returns how many qualified in all (may exceed cap, in which
 * case only the first cap were written). NaN never qualifies. */
size_t gx_k_select_ge(const float *x, size_t n, float thr, uint32_t *idx, size_t cap);

/* ---- neural-network kernels (lib/nn/nn.c) ----
 *
 * Spatial activations of a batch are stored channel-major, [c][n][h][w]
 * ("CNHW"), so one convolution of the whole batch is one GEMM; flat ones
 * are [n][features]. CUDA twins will take the same arguments on device
 * memory plus a stream and return 0 or -1. */

/* C[m x n] = alpha * op(A) * op(B) + beta * C, row-major; ta/tb nonzero
 * means A/B are given transposed (op(A) = A^T). BLAS (cblas_sgemm). */
void gx_k_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		const float *b, int ldb, float beta, float *c, int ldc);
/* Threads the CPU BLAS uses (process-wide). */
void gx_k_blas_threads(int n);

/* Output side of a k x k window with stride and zero padding pad. */
#define GX_K_CONV_OUT(in, k, stride, pad) (((in) + 2 * (pad) - (k)) / (stride) + 1)

/* x [c][n][h][w], examples b0 .. b0+nb-1 -> col [c*k*k][nb*oh*ow] (row
 * ci*k*k + ky*k + kx), zero outside the input. */
void gx_k_im2col(const float *x, int c, int n, int h, int w, int k, int stride, int pad, int b0,
		 int nb, float *col);
/* The adjoint: examples b0 .. b0+nb-1 of x [c][n][h][w] = sum of the col
 * entries that read them (those examples are overwritten, others untouched). */
void gx_k_col2im(const float *col, int c, int n, int h, int w, int k, int stride, int pad, int b0,
		 int nb, float *x);

/* Max-pooling of planes h x w planes (no padding, windows k x k every
 * stride; oh = (h - k) / stride + 1): y [planes][oh][ow], and arg the index
 * within its plane of each maximum (the first one on ties; comparisons are
 * ordered, so a NaN wins only when it comes first). */
void gx_k_maxpool_fwd(const float *x, int planes, int h, int w, int k, int stride, float *y,
		      uint32_t *arg);
/* dx [planes][h][w] = sum of the dy whose maximum each element was (dx is
 * overwritten). */
void gx_k_maxpool_bwd(const float *dy, const uint32_t *arg, int planes, int h, int w, int k,
		      int stride, float *dx);
/* gx_k_maxpool_bwd followed by gx_k_relu_bwd(x, dx, dx) in one pass, where x
 * [planes][h][w] is the pooling's input (the ReLU's output): a dy lands only
 * where x > 0. Bit-identical to the two calls. */
void gx_k_maxpool_relu_bwd(const float *dy, const uint32_t *arg, const float *x, int planes,
			   int h, int w, int k, int stride, float *dx);

/* y = max(x, 0), in place allowed (y == x). */
void gx_k_relu_fwd(const float *x, float *y, size_t n);
/* dx = y > 0 ? dy : 0, where y is the ReLU's output; dx == dy allowed. */
void gx_k_relu_bwd(const float *y, const float *dy, float *dx, size_t n);
/* y[r][j] += b[j] for rows x cols (dense), or y[r][j] += b[r] (conv planes)
 * when per_row. */
void gx_k_add_bias(float *y, const float *b, int rows, size_t cols, int per_row);
/* gx_k_add_bias then gx_k_relu_fwd in place, in one pass (bit-identical). */
void gx_k_add_bias_relu(float *y, const float *b, int rows, size_t cols, int per_row);
/* db[j] = sum_r dy[r][j], or db[r] = sum_j dy[r][j] when per_row. */
void gx_k_bias_grad(const float *dy, int rows, size_t cols, int per_row, float *db);
/* [a][b][inner] -> [b][a][inner]. */
void gx_k_transpose(const float *x, int a, int b, size_t inner, float *y);

/* Softmax cross-entropy of n rows of classes logits against labels (each in
 * [0, classes)): returns the summed loss; dz = scale * (softmax - onehot)
 * (dz may be NULL). */
double gx_k_softmax_xent(const float *z, const int32_t *labels, int n, int classes, float scale,
			 float *dz);
/* Squared error: returns sum (y - t)^2 over cnt elements; dy = scale * 2 *
 * (y - t) (dy may be NULL). */
double gx_k_sq_err(const float *y, const float *t, size_t cnt, float scale, float *dy);

/* ---- CUDA twins (built with CUDA=1 only) ---- */
int gx_k_cuda_available(void); /* number of usable devices, 0 when none */
const char *gx_k_cuda_last_error(void);
int gx_k_f32_to_f16_cuda(const float *d_src, uint16_t *d_dst, size_t n, void *stream);
int gx_k_f16_to_f32_cuda(const uint16_t *d_src, float *d_dst, size_t n, void *stream);
/* Host-memory convenience used by tests: copies in, runs, copies out. */
int gx_k_f32_to_f16_cuda_host(const float *src, uint16_t *dst, size_t n);
int gx_k_f16_to_f32_cuda_host(const uint16_t *src, float *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif
