/* cuda_none.c — the CUDA twins in a build without CUDA (CUDA=0): they report
 * no device and fail, so callers fall back to the CPU kernels. */
#include "kernels.h"

int gx_k_cuda_available(void) { return 0; }
const char *gx_k_cuda_last_error(void) { return "built without CUDA (make CUDA=1)"; }
int gx_k_f32_to_f16_cuda(const float *s, uint16_t *d, size_t n, void *st) { return -1; }
int gx_k_f16_to_f32_cuda(const uint16_t *s, float *d, size_t n, void *st) { return -1; }
int gx_k_f32_to_f16_cuda_host(const float *s, uint16_t *d, size_t n) { return -1; }
int gx_k_f16_to_f32_cuda_host(const uint16_t *s, float *d, size_t n) { return -1; }
