/*
 * f16.c — IEEE binary16 <-> binary32 conversion on the CPU.
 *
 * Two twins with bit-identical results: portable scalar code and the F16C
 * instructions (vcvtps2ph / vcvtph2ps). The F16C ones are compiled with a
 * per-function target attribute rather than a global -mf16c so the library
 * still runs on CPUs without F16C; lib/codec/f16.c picks one at run time.
 *
 * The scalar code mirrors what F16C does with NaNs (quiet the NaN, keep the
 * sign and as many payload bits as fit) so the twins agree bit-for-bit on
 * every input, not only on numbers.
 */
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static inline uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static inline float bits_f32(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static inline uint16_t f32_to_f16_one(float f)
{
	uint32_t x = f32_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t ax = x & 0x7fffffffu;

	if (ax >= 0x7f800000u) {
		/* Inf stays inf; NaN keeps the top payload bits and gets the quiet
		 * bit, so a signalling NaN whose payload lives only in the low bits
		 * cannot turn into an infinity. */
		if (ax == 0x7f800000u)
			return sign | 0x7c00;
		return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff);
	}
	/* 65520 = 0x477ff000 is the midpoint between 65504 (max finite) and the
	 * next step, 65536; ties go to even, which is the infinity encoding. */
	if (ax >= 0x477ff000u)
		return sign | 0x7c00;
	if (ax >= 0x38800000u) {
		/* Normal half (|f| >= 2^-14): rebias the exponent by 127 - 15 and
		 * round the 13 dropped mantissa bits to nearest even. A carry out of
		 * the mantissa correctly bumps the exponent. */
		uint32_t odd = (ax >> 13) & 1;
		ax += 0xfffu + odd;
		return sign | (uint16_t)((ax - 0x38000000u) >> 13);
	}
	/* Subnormal half or zero. Below 2^-25 everything rounds to zero, and
	 * 2^-25 itself is the tie between 0 and 2^-24, which goes to even (0). */
	if (ax <= 0x33000000u)
		return sign;
	{
		/* The value is mant * 2^(e - 150); in units of 2^-24 it is
		 * mant >> (126 - e), with 14 <= 126 - e <= 24 here. A rounding carry
		 * into bit 10 yields the smallest normal, which is the right answer. */
		uint32_t e = ax >> 23;
		uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
		uint32_t shift = 126 - e;
		uint32_t q = mant >> shift;
		uint32_t rem = mant & ((1u << shift) - 1);
		uint32_t half = 1u << (shift - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
		return sign | (uint16_t)q;
	}
}

static inline float f16_to_f32_one(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;

	if (exp == 0x1f) /* inf, or NaN made quiet with its payload kept */
		return bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0));
	if (exp != 0)
		return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
	if (mant == 0)
		return bits_f32(sign);
	{
		/* Subnormal half: normalise by hand rather than multiplying by
		 * 2^-24, so a flush-to-zero FP mode cannot change the answer (every
		 * half subnormal is a normal float). */
		int lz = __builtin_clz(mant) - 21; /* shift that brings the top bit to bit 10 */
		mant = (mant << lz) & 0x3ff;
		return bits_f32(sign | ((uint32_t)(113 - lz) << 23) | (mant << 13));
	}
}

void gx_k_f32_to_f16_scalar(const float *src, uint16_t *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = f32_to_f16_one(src[i]);
}

void gx_k_f16_to_f32_scalar(const uint16_t *src, float *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = f16_to_f32_one(src[i]);
}

#if defined(__x86_64__) || defined(__i386__)

__attribute__((target("f16c,avx"))) void gx_k_f32_to_f16_f16c(const float *src, uint16_t *dst,
								 size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m128i a = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
		__m128i b = _mm256_cvtps_ph(_mm256_loadu_ps(src + i + 8), _MM_FROUND_TO_NEAREST_INT);
		_mm_storeu_si128((__m128i *)(dst + i), a);
		_mm_storeu_si128((__m128i *)(dst + i + 8), b);
	}
	if (i + 8 <= n) {
		__m128i a = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
		_mm_storeu_si128((__m128i *)(dst + i), a);
		i += 8;
	}
	if (i < n) {
		/* Tail through a zero-padded block, so no access goes past the
		 * caller's buffers and the same instruction converts every element. */
		float in[8] = { 0 };
		uint16_t out[8];
		memcpy(in, src + i, (n - i) * sizeof *src);
		_mm_storeu_si128((__m128i *)out,
				 _mm256_cvtps_ph(_mm256_loadu_ps(in), _MM_FROUND_TO_NEAREST_INT));
		memcpy(dst + i, out, (n - i) * sizeof *dst);
	}
}

__attribute__((target("f16c,avx"))) void gx_k_f16_to_f32_f16c(const uint16_t *src, float *dst,
								 size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i)));
		__m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i + 8)));
		_mm256_storeu_ps(dst + i, a);
		_mm256_storeu_ps(dst + i + 8, b);
	}
	if (i + 8 <= n) {
		_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
		i += 8;
	}
	if (i < n) {
		uint16_t in[8] = { 0 };
		float out[8];
		memcpy(in, src + i, (n - i) * sizeof *src);
		_mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)in)));
		memcpy(dst + i, out, (n - i) * sizeof *dst);
	}
}

#else /* no F16C on this architecture: callers never get here (the probe says no) */

void gx_k_f32_to_f16_f16c(const float *src, uint16_t *dst, size_t n)
{
	gx_k_f32_to_f16_scalar(src, dst, n);
}

void gx_k_f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n)
{
	gx_k_f16_to_f32_scalar(src, dst, n);
}

#endif
