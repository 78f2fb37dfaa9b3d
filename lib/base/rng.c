/*
 * rng.c — xoshiro256** (Blackman & Vigna), seeded through splitmix64.
 *
 * The state is a plain value (gx_rng) so a codec or a test can copy it to
 * replay a sequence. splitmix64 spreads any 64-bit seed, zero included, over
 * the 256-bit state; since splitmix64 is a bijection of its counter, four
 * consecutive outputs cannot all be zero, so the forbidden all-zero xoshiro
 * state never arises.
 */
#include <math.h>

#include "gx_base.h"

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void gx_rng_seed(gx_rng *r, uint64_t seed)
{
	if (!r)
		return;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t gx_rng_next(gx_rng *r)
{
	if (!r)
		return 0;
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Lemire's nearly-divisionless method: the high half of x * bound is uniform
 * in [0, bound) once the few low halves below 2^64 mod bound are rejected;
 * the division that computes that limit runs only when a low half is small
 * enough to possibly need rejecting. */
uint64_t gx_rng_below(gx_rng *r, uint64_t bound)
{
	if (bound == 0 || !r) /* documented as bound > 0; answer something harmless */
		return 0;
	unsigned __int128 m = (unsigned __int128)gx_rng_next(r) * bound;
	uint64_t lo = (uint64_t)m;
	if (lo < bound) {
		uint64_t limit = -bound % bound; /* 2^64 mod bound */
		while (lo < limit) {
			m = (unsigned __int128)gx_rng_next(r) * bound;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* The top 24 bits: every value is an exact float and 1.0 is unreachable. */
float gx_rng_float(gx_rng *r)
{
	return (float)(gx_rng_next(r) >> 40) * 0x1p-24f;
}

/* Box–Muller with one output per call: gx_rng is a plain value type with no
 * room to cache the second deviate, and a fixed two draws per call keeps the
 * stream position predictable. Doubles with 53-bit uniforms keep the tails
 * (u1 is in (0, 1], so log never sees 0). */
float gx_rng_normal(gx_rng *r)
{
	double u1 = (double)((gx_rng_next(r) >> 11) + 1) * 0x1p-53;
	double u2 = (double)(gx_rng_next(r) >> 11) * 0x1p-53;
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
