/* test_f16.c — binary16 conversion: scalar vs F16C vs an independent
 * reference vs the CUDA twin, exhaustively over halves. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "kernels.h"
#include "t.h"

static uint64_t sm_state = 12345;
static uint64_t rnd(void) /* splitmix64: the test's own generator */
{
	uint64_t z = (sm_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t fbits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float bitsf(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static int h_isnan(uint16_t h)
{
	return (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
}

/* Reference decoder written from the definition, with libm. */
static double ref_h2d(uint16_t h)
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v;
	if (e == 31)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = ldexp(m, -24);
	else
		v = ldexp(1024 + m, e - 25);
	return (h & 0x8000) ? -v : v;
}

/* Reference encoder: scale to an integer grid in double (exact) and let
 * nearbyint round half to even. */
static uint16_t ref_f2h(float f)
{
	uint16_t sign = (fbits(f) >> 16) & 0x8000;
	double a = fabs((double)f);
	if (isnan(f))
		return sign | 0x7e00;
	if (a >= 65520.0)
		return sign | 0x7c00;
	if (a < 0x1p-14)
		return sign | (uint16_t)nearbyint(a * 0x1p24); /* 1024 = smallest normal */
	int ex;
	frexp(a, &ex);
	int e = ex - 1; /* a in [2^e, 2^(e+1)) */
	double q = nearbyint(ldexp(a, 10 - e));
	if (q == 2048.0) {
		q = 1024.0;
		e++;
	}
	if (e + 15 >= 31)
		return sign | 0x7c00;
	return sign | (uint16_t)(((e + 15) << 10) | ((int)q - 1024));
}

static void test_all_halves(void)
{
	static uint16_t h[65536], back[65536];
	static float s[65536], v[65536];
	for (int i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;
	gx_k_f16_to_f32_scalar(h, s, 65536);
	int bad = 0;
	for (int i = 0; i < 65536 && bad < 10; i++) {
		double r = ref_h2d(h[i]);
		if (h_isnan(h[i])) {
			/* NaN stays NaN, quiet, sign kept. */
			if (!isnan(s[i]) || !(fbits(s[i]) & 0x400000) ||
			    (fbits(s[i]) >> 31) != (unsigned)(h[i] >> 15)) {
				printf("#   half %04x -> %08x\n", i, fbits(s[i]));
				bad++;
			}
		} else if ((double)s[i] != r || !signbit(s[i]) != !signbit(r)) {
			printf("#   half %04x -> %.9g, want %.9g\n", i, s[i], r);
			bad++;
		}
	}
	T_EQ(bad, 0);

	/* Round trip through the scalar encoder. */
	gx_k_f32_to_f16_scalar(s, back, 65536);
	bad = 0;
	for (int i = 0; i < 65536 && bad < 10; i++) {
		int ok = h_isnan(h[i]) ? h_isnan(back[i]) : back[i] == h[i];
		if (!ok) {
			printf("#   half %04x -> %08x -> %04x\n", i, fbits(s[i]), back[i]);
			bad++;
		}
	}
	T_EQ(bad, 0);

	if (!gx_k_cpu_has_f16c())
		T_SKIP("no F16C on this CPU (scalar checked against the reference)");
	gx_k_f16_to_f32_f16c(h, v, 65536);
	bad = 0;
	for (int i = 0; i < 65536 && bad < 10; i++) {
		int ok = h_isnan(h[i]) ? isnan(v[i]) && isnan(s[i]) : fbits(v[i]) == fbits(s[i]);
		if (!ok) {
			printf("#   half %04x: f16c %08x scalar %08x\n", i, fbits(v[i]), fbits(s[i]));
			bad++;
		}
	}
	T_EQ(bad, 0);
	gx_k_f32_to_f16_f16c(v, back, 65536);
	bad = 0;
	for (int i = 0; i < 65536 && bad < 10; i++) {
		int ok = h_isnan(h[i]) ? h_isnan(back[i]) : back[i] == h[i];
		if (!ok) {
			printf("#   half %04x -> f16c round trip %04x\n", i, back[i]);
			bad++;
		}
	}
	T_EQ(bad, 0);
}

/* Float bit patterns that exercise every rounding case. */
static size_t make_patterns(uint32_t **out)
{
	size_t cap = 65536 + 1000000 + 65536 * 6 + 4096, n = 0;
	uint32_t *p = malloc(cap * sizeof *p);
	if (!p)
		return 0;
	for (uint64_t b = 0; b < (1ull << 32); b += 1u << 16) /* every 2^16-th pattern */
		p[n++] = (uint32_t)b;
	for (int i = 0; i < 1000000; i++) /* random patterns */
		p[n++] = (uint32_t)rnd();
	/* The exact midpoints between adjacent finite halves (exact floats: a
	 * half has 11 significant bits, a midpoint 12), one float ulp either
	 * side, and the same negated. Includes 65520, the max-finite/inf tie. */
	for (uint32_t h = 0; h < 0x7c00; h++) {
		float mid = (float)((ref_h2d((uint16_t)h) + ref_h2d((uint16_t)(h + 1))) / 2);
		uint32_t mb = fbits(mid);
		uint32_t c[3] = { mb, mb + 1, mb - 1 };
		for (int j = 0; j < 3; j++) {
			p[n++] = c[j];
			p[n++] = c[j] | 0x80000000u;
		}
	}
	/* Neighbourhoods of the boundaries: smallest subnormal and its halfway
	 * point, subnormal/normal, max finite / overflow, infinity and NaNs. */
	const float edges[] = { 0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1p-26f, 0x1p-14f,
				0x1.ffcp-15f, 65504.0f, 65520.0f, 65536.0f, INFINITY,
				0.0f, 1.0f, 0x1p-149f, 0x1p-126f };
	for (size_t e = 0; e < sizeof edges / sizeof *edges; e++)
		for (int d = -64; d <= 64; d++) {
			uint32_t b = fbits(edges[e]) + (uint32_t)d;
			p[n++] = b;
			p[n++] = b ^ 0x80000000u;
		}
	const uint32_t nans[] = { 0x7fc00000u, 0x7f800001u, 0x7fbfffffu, 0x7f802000u,
				  0x7fffffffu, 0xffc00000u, 0xff800001u, 0x7fa00000u };
	for (size_t e = 0; e < sizeof nans / sizeof *nans; e++)
		p[n++] = nans[e];
	*out = p;
	return n;
}

static void test_f32_patterns(void)
{
	uint32_t *p;
	size_t n = make_patterns(&p);
	T_REQUIRE(n > 0);
	float *f = malloc(n * sizeof *f);
	uint16_t *hs = malloc(n * 2), *hv = malloc(n * 2);
	T_REQUIRE(f && hs && hv);
	for (size_t i = 0; i < n; i++)
		f[i] = bitsf(p[i]);
	gx_k_f32_to_f16_scalar(f, hs, n);
	int bad = 0;
	for (size_t i = 0; i < n && bad < 10; i++) {
		uint16_t r = ref_f2h(f[i]);
		int ok = isnan(f[i]) ? h_isnan(hs[i]) && (hs[i] & 0x200) &&
					       (hs[i] >> 15) == (p[i] >> 31)
				     : hs[i] == r;
		if (!ok) {
			printf("#   float %08x: scalar %04x, reference %04x\n", p[i], hs[i], r);
			bad++;
		}
	}
	T_EQ(bad, 0);
	if (gx_k_cpu_has_f16c()) {
		gx_k_f32_to_f16_f16c(f, hv, n);
		bad = 0;
		for (size_t i = 0; i < n && bad < 10; i++) {
			int ok = isnan(f[i]) ? h_isnan(hv[i]) && h_isnan(hs[i]) : hv[i] == hs[i];
			if (!ok) {
				printf("#   float %08x: f16c %04x, scalar %04x\n", p[i], hv[i], hs[i]);
				bad++;
			}
		}
		T_EQ(bad, 0);
	}
	free(p);
	free(f);
	free(hs);
	free(hv);
	if (!gx_k_cpu_has_f16c())
		T_SKIP("no F16C on this CPU (scalar checked against the reference)");
}

static uint16_t enc1(float f)
{
	uint16_t h;
	gx_k_f32_to_f16_scalar(&f, &h, 1);
	return h;
}

static float dec1(uint16_t h)
{
	float f;
	gx_k_f16_to_f32_scalar(&h, &f, 1);
	return f;
}

static void test_known_values(void)
{
	T_EQ(enc1(0.0f), 0x0000);
	T_EQ(enc1(-0.0f), 0x8000);
	T_EQ(enc1(1.0f), 0x3c00);
	T_EQ(enc1(-2.0f), 0xc000);
	T_EQ(enc1(1.0009765625f), 0x3c01); /* 1 + 2^-10, exact */
	T_EQ(enc1(1.00048828125f), 0x3c00); /* 1 + 2^-11: tie, to even */
	T_EQ(enc1(1.00146484375f), 0x3c02); /* 1 + 3*2^-11: tie, to even (up) */
	T_EQ(enc1(65504.0f), 0x7bff);
	T_EQ(enc1(65519.996f), 0x7bff);
	T_EQ(enc1(65520.0f), 0x7c00); /* tie between max finite and 2^16: to inf */
	T_EQ(enc1(-65520.0f), 0xfc00);
	T_EQ(enc1(1e10f), 0x7c00);
	T_EQ(enc1(INFINITY), 0x7c00);
	T_EQ(enc1(-INFINITY), 0xfc00);
	T_EQ(enc1(0x1p-24f), 0x0001); /* smallest subnormal */
	T_EQ(enc1(0x1p-25f), 0x0000); /* tie between 0 and 2^-24: to even (0) */
	T_EQ(enc1(-0x1p-25f), 0x8000);
	T_EQ(enc1(0x1.000002p-25f), 0x0001); /* just above the tie */
	T_EQ(enc1(0x1.8p-25f), 0x0001);       /* 3*2^-26 rounds to 2^-24 */
	T_EQ(enc1(0x1.8p-24f), 0x0002);       /* 1.5*2^-24: tie, to even (2) */
	T_EQ(enc1(0x1p-14f), 0x0400);         /* smallest normal */
	T_EQ(enc1(0x1.ffcp-15f), 0x0400);     /* 1023.5*2^-24: tie, to even (normal) */
	T_EQ(enc1(0x1.ffap-15f), 0x03ff);     /* just below that tie */
	T_EQ(enc1(0x1.ff8p-15f), 0x03ff);     /* largest subnormal */
	T_EQ(enc1(0x1p-149f), 0x0000);
	T_EQ(enc1(0.1f), 0x2e66);
	T_EQ(enc1(3.14159265f), 0x4248);
	T_ASSERT(h_isnan(enc1(NAN)));
	T_ASSERT(h_isnan(enc1(bitsf(0x7f800001u)))); /* low-payload sNaN is not inf */
	T_EQ(dec1(0x3c00), 1.0f);
	T_EQ(dec1(0x7bff), 65504.0f);
	T_ASSERT(dec1(0x0001) == 0x1p-24f);
	T_ASSERT(dec1(0x03ff) == 0x1.ff8p-15f);
	T_ASSERT(dec1(0x8000) == 0.0f && signbit(dec1(0x8000)));
	T_ASSERT(isinf(dec1(0x7c00)) && dec1(0x7c00) > 0);
	T_ASSERT(isinf(dec1(0xfc00)) && dec1(0xfc00) < 0);
	T_ASSERT(isnan(dec1(0x7c01)) && isnan(dec1(0xfe00)));
}

/* The public entry points, every length 0..64 (the F16C tails) with guard
 * elements to catch writes past the end. */
static void test_public_lengths(void)
{
	float src[80], back[80];
	uint16_t h[80], ref[80];
	for (int i = 0; i < 80; i++)
		src[i] = (float)((int64_t)(rnd() % 2000001) - 1000000) / 997.0f;
	const char *no = getenv("GEOMX_NO_F16C");
	int forced_off = no && no[0] && strcmp(no, "0") != 0;
	T_EQ(gx_f16_accelerated(), !forced_off && gx_k_cpu_has_f16c());
	for (size_t n = 0; n <= 64; n++) {
		for (int i = 0; i < 80; i++) {
			h[i] = 0xabcd;
			back[i] = 7.0f;
		}
		gx_f32_to_f16(src, h, n);
		gx_k_f32_to_f16_scalar(src, ref, n);
		for (size_t i = 0; i < n; i++)
			T_EQ(h[i], ref[i]);
		for (size_t i = n; i < 80; i++)
			T_EQ(h[i], 0xabcd);
		gx_f16_to_f32(h, back, n);
		for (size_t i = 0; i < n; i++)
			T_ASSERT(back[i] == dec1(ref[i]));
		for (size_t i = n; i < 80; i++)
			T_ASSERT(back[i] == 7.0f);
	}
	gx_f32_to_f16(NULL, NULL, 5); /* ignored, not a crash */
	gx_f16_to_f32(NULL, NULL, 5);
}

static void test_cuda_vs_cpu(void)
{
	int dev = gx_k_cuda_available();
	if (dev <= 0)
		T_SKIP("no CUDA device: %s", gx_k_cuda_last_error());
	static uint16_t h[65536];
	static float fc[65536], fg[65536];
	for (int i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;
	gx_k_f16_to_f32_scalar(h, fc, 65536);
	T_REQUIRE(gx_k_f16_to_f32_cuda_host(h, fg, 65536) == 0);
	int bad = 0;
	for (int i = 0; i < 65536 && bad < 10; i++) {
		int ok = h_isnan(h[i]) ? isnan(fg[i]) : fbits(fg[i]) == fbits(fc[i]);
		if (!ok) {
			printf("#   half %04x: cuda %08x cpu %08x\n", i, fbits(fg[i]), fbits(fc[i]));
			bad++;
		}
	}
	T_EQ(bad, 0);

	size_t n = 1u << 20;
	float *f = malloc(n * sizeof *f);
	uint16_t *a = malloc(n * 2), *b = malloc(n * 2);
	T_REQUIRE(f && a && b);
	for (size_t i = 0; i < n; i++) {
		/* Half the bit patterns random, half random values in the half range
		 * (the former are mostly overflow or underflow). */
		f[i] = (i & 1) ? bitsf((uint32_t)rnd())
			       : (float)((double)(int64_t)(rnd() >> 11) * 0x1p-53 * 131072.0 - 65536.0) *
					 (float)ldexp(1.0, -(int)(rnd() % 30));
	}
	f[0] = 65520.0f;
	f[2] = 0x1p-25f;
	f[4] = 0x1.8p-25f;
	gx_k_f32_to_f16_scalar(f, a, n);
	T_REQUIRE(gx_k_f32_to_f16_cuda_host(f, b, n) == 0);
	bad = 0;
	for (size_t i = 0; i < n && bad < 10; i++) {
		int ok = isnan(f[i]) ? h_isnan(a[i]) && h_isnan(b[i]) : a[i] == b[i];
		if (!ok) {
			printf("#   float %08x: cuda %04x cpu %04x\n", fbits(f[i]), b[i], a[i]);
			bad++;
		}
	}
	T_EQ(bad, 0);
	free(f);
	free(a);
	free(b);
}

int main(void)
{
	T_RUN(test_all_halves);
	T_RUN(test_f32_patterns);
	T_RUN(test_known_values);
	T_RUN(test_public_lengths);
	T_RUN(test_cuda_vs_cpu);
	T_DONE();
}
