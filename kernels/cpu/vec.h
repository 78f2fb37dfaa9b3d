/*
 * vec.h — four-float vectors (GCC vector extensions, SSE on x86-64) for the
 * element-wise kernels. The default -O2 build does not auto-vectorize these
 * loops (GCC's "very cheap" cost model refuses loops that need an epilogue or
 * alias checks), and a data-dependent branch (ReLU, max) mispredicts half
 * the time on random signs, so they are written with vectors and masks.
 * Loads and stores are unaligned.
 */
#ifndef GX_K_VEC_H
#define GX_K_VEC_H

#include <stdint.h>
#include <string.h>

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f v4_load(const float *p)
{
	v4f v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline void v4_store(float *p, v4f v)
{
	memcpy(p, &v, sizeof v);
}

static inline v4f v4_set1(float x)
{
	return (v4f){ x, x, x, x };
}

/* m ? a : b, lane by lane (m lanes are all ones or zero, as comparisons give) */
static inline v4f v4_sel(v4i m, v4f a, v4f b)
{
	return (v4f)(((v4i)a & m) | ((v4i)b & ~m));
}

static inline v4i v4_seli(v4i m, v4i a, v4i b)
{
	return (a & m) | (b & ~m);
}

/* d[0..n) += s[0..n) */
static inline void v4_add_row(float *restrict d, const float *restrict s, size_t n)
{
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		v4_store(d + i, v4_load(d + i) + v4_load(s + i));
	for (; i < n; i++)
		d[i] += s[i];
}

/* d[0..n) = s[0..n), for short rows where a memcpy call costs more than
 * the copy. GCC would turn the plain loop back into a memmove call (loop
 * distribution); the empty asm, which has no effect, stops that. */
static inline void v4_copy_row(float *restrict d, const float *restrict s, size_t n)
{
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		v4_store(d + i, v4_load(s + i));
		__asm__("");
	}
	for (; i < n; i++)
		d[i] = s[i];
}

#endif
