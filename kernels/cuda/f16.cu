/*
 * f16.cu — binary16 <-> binary32 on the GPU, twin of kernels/cpu/f16.c.
 *
 * Same rounding (to nearest even, via __float2half_rn) and the same results
 * as the CPU kernels on every number; NaNs come back as NaN (the GPU returns
 * its canonical NaN rather than preserving the payload).
 *
 * Every CUDA call is checked. A failure returns -1 and leaves a message that
 * gx_k_cuda_last_error() returns; the message buffer is per thread so
 * concurrent callers do not overwrite each other's reasons.
 */
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdint.h>
#include <stdio.h>

#include "kernels.h"

static thread_local char last_err[256] = "no CUDA error";

static int fail(const char *what, cudaError_t e)
{
	snprintf(last_err, sizeof last_err, "%s: %s (%s)", what, cudaGetErrorString(e),
		 cudaGetErrorName(e));
	/* Clear the sticky-if-recoverable error state so the next call starts
	 * clean; unrecoverable errors stay and keep failing, which is right. */
	(void)cudaGetLastError();
	return -1;
}

#define CK(call)                                  \
	do {                                      \
		cudaError_t ck_e_ = (call);       \
		if (ck_e_ != cudaSuccess)         \
			return fail(#call, ck_e_); \
	} while (0)

static __global__ void k_f32_to_f16(const float *__restrict__ s, uint16_t *__restrict__ d, size_t n)
{
	size_t stride = (size_t)gridDim.x * blockDim.x;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
		d[i] = __half_as_ushort(__float2half_rn(s[i]));
}

static __global__ void k_f16_to_f32(const uint16_t *__restrict__ s, float *__restrict__ d, size_t n)
{
	size_t stride = (size_t)gridDim.x * blockDim.x;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
		d[i] = __half2float(__ushort_as_half(s[i]));
}

/* Enough blocks to fill any current GPU; the grid-stride loop covers the rest. */
static unsigned grid_for(size_t n)
{
	size_t b = (n + 255) / 256;
	return (unsigned)(b > 8192 ? 8192 : b);
}

extern "C" int gx_k_cuda_available(void)
{
	int count = 0;
	cudaError_t e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess) {
		/* No driver, no device, or a driver older than the runtime: not an
		 * error for the caller, just no GPU. Keep the reason for logs. */
		fail("cudaGetDeviceCount", e);
		return 0;
	}
	return count;
}

extern "C" const char *gx_k_cuda_last_error(void)
{
	return last_err;
}

extern "C" int gx_k_f32_to_f16_cuda(const float *d_src, uint16_t *d_dst, size_t n, void *stream)
{
	if (n == 0)
		return 0;
	k_f32_to_f16<<<grid_for(n), 256, 0, (cudaStream_t)stream>>>(d_src, d_dst, n);
	CK(cudaGetLastError());
	return 0;
}

extern "C" int gx_k_f16_to_f32_cuda(const uint16_t *d_src, float *d_dst, size_t n, void *stream)
{
	if (n == 0)
		return 0;
	k_f16_to_f32<<<grid_for(n), 256, 0, (cudaStream_t)stream>>>(d_src, d_dst, n);
	CK(cudaGetLastError());
	return 0;
}

/* Host-memory helpers: allocate, copy in, convert, copy out (the synchronous
 * copy also surfaces errors from the kernel itself), free. */
template <typename In, typename Out>
static int via_device(const In *src, Out *dst, size_t n,
		      int (*run)(const In *, Out *, size_t, void *))
{
	if (n == 0)
		return 0;
	if (n > SIZE_MAX / sizeof(float)) { /* byte counts would wrap */
		snprintf(last_err, sizeof last_err, "%zu elements: too many to allocate", n);
		return -1;
	}
	In *d_in = NULL;
	Out *d_out = NULL;
	int rc = -1;
	cudaError_t e;
	if ((e = cudaMalloc((void **)&d_in, n * sizeof(In))) != cudaSuccess) {
		fail("cudaMalloc(src)", e);
		goto out;
	}
	if ((e = cudaMalloc((void **)&d_out, n * sizeof(Out))) != cudaSuccess) {
		fail("cudaMalloc(dst)", e);
		goto out;
	}
	if ((e = cudaMemcpy(d_in, src, n * sizeof(In), cudaMemcpyHostToDevice)) != cudaSuccess) {
		fail("cudaMemcpy(host to device)", e);
		goto out;
	}
	if (run(d_in, d_out, n, NULL) != 0)
		goto out;
	if ((e = cudaMemcpy(dst, d_out, n * sizeof(Out), cudaMemcpyDeviceToHost)) != cudaSuccess) {
		fail("cudaMemcpy(device to host)", e);
		goto out;
	}
	rc = 0;
out:
	/* Free both even after a failure; a failing free only matters when
	 * everything else worked. */
	if (d_in && (e = cudaFree(d_in)) != cudaSuccess && rc == 0)
		rc = fail("cudaFree(src)", e);
	if (d_out && (e = cudaFree(d_out)) != cudaSuccess && rc == 0)
		rc = fail("cudaFree(dst)", e);
	return rc;
}

extern "C" int gx_k_f32_to_f16_cuda_host(const float *src, uint16_t *dst, size_t n)
{
	return via_device<float, uint16_t>(src, dst, n, gx_k_f32_to_f16_cuda);
}

extern "C" int gx_k_f16_to_f32_cuda_host(const uint16_t *src, float *dst, size_t n)
{
	return via_device<uint16_t, float>(src, dst, n, gx_k_f16_to_f32_cuda);
}
