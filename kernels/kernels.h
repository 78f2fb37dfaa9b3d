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
