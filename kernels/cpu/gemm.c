/*
 * gemm.c — the matrix product every layer of lib/nn/nn.c rests on, a thin
 * row-major wrapper around the CPU BLAS (OpenBLAS). Its CUDA twin will call
 * cuBLAS with the same arguments (swapping operands for column-major).
 */
#include <cblas.h>

#include "kernels.h"

void gx_k_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		const float *b, int ldb, float beta, float *c, int ldc)
{
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
		    m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gx_k_blas_threads(int n)
{
	openblas_set_num_threads(n);
}
