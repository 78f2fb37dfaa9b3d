/* test_codec.c — gx_codec: options, policy, round trips of every wire codec
 * with and without zstd, CRC, accumulate, error feedback through encode, and
 * refusal of malformed payloads (run under SAN=address too: every decode
 * reads from an exact-size copy of the payload). */
#include <math.h>
#include <stdint.h>

#include <zstd.h>

#include "codec/codec_internal.h"
#include "geomx.h"
#include "t.h"

static const int wire[] = { GX_CODEC_F32, GX_CODEC_F16, GX_CODEC_SPARSE_F32, GX_CODEC_SPARSE_F16 };
#define NWIRE (sizeof wire / sizeof wire[0])

static gx_codec *make(int codec, double ratio, int exact, int zstd, int enc, int crc)
{
	gx_codec_opts o;
	gx_codec_opts_default(&o);
	o.codec = codec;
	o.topk_ratio = ratio;
	o.exact = exact;
	o.zstd_level = zstd;
	o.index_enc = enc;
	o.crc = crc;
	int err = 1;
	gx_codec *c = gx_codec_create(&o, &err);
	if (!c || err)
		printf("#   gx_codec_create failed: %s\n", gx_strerror(err));
	return c;
}

static void fill(float *x, size_t n, uint64_t seed)
{
	gx_rng r;
	gx_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		x[i] = gx_rng_normal(&r);
}

/* Decodes from an exact-size heap copy of the payload so that ASan reports
 * any read past payload_len. */
static int decode_exact(gx_codec *c, const gx_frame_hdr *h, const uint8_t *p, float *dst, int acc)
{
	uint8_t *copy = malloc(h->payload_len ? h->payload_len : 1);
	if (!copy)
		return GX_ENOMEM;
	if (h->payload_len)
		memcpy(copy, p, h->payload_len);
	int rc = gx_codec_decode(c, h, copy, dst, acc);
	free(copy);
	return rc;
}

static float f16_round(float v)
{
	uint16_t h;
	gx_f32_to_f16(&v, &h, 1);
	gx_f16_to_f32(&h, &v, 1);
	return v;
}

static void test_opts(void)
{
	gx_codec_opts o;
	memset(&o, 0xa5, sizeof o);
	gx_codec_opts_default(&o);
	T_EQ(o.codec, GX_CODEC_F32);
	T_ASSERT(o.topk_ratio == GX_DEFAULT_TOPK);
	T_EQ(o.exact, 0);
	T_EQ(o.mpq_bound, GX_DEFAULT_MPQ_BOUND);
	T_EQ(o.zstd_level, 0);
	T_EQ(o.index_enc, GX_IDX_AUTO);
	T_EQ(o.crc, 0);
	T_EQ(o.seed, 1);

	int err = 0;
	T_ASSERT(gx_codec_create(NULL, &err) == NULL);
	T_EQ(err, GX_EINVAL);
	struct {
		int codec;
		double ratio;
		int enc, zstd;
	} bad[] = {
		{ GX_CODEC_NONE, 0.1, 0, 0 },       { GX_CODEC__MAX, 0.1, 0, 0 },
		{ -1, 0.1, 0, 0 },                  { GX_CODEC_SPARSE_F32, 0.0, 0, 0 },
		{ GX_CODEC_SPARSE_F16, 1.5, 0, 0 }, { GX_CODEC_MPQ, NAN, 0, 0 },
		{ GX_CODEC_F32, 0.1, GX_IDX__MAX, 0 }, { GX_CODEC_F32, 0.1, -1, 0 },
		{ GX_CODEC_F32, 0.1, 0, 1000 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		gx_codec_opts_default(&o);
		o.codec = bad[i].codec;
		o.topk_ratio = bad[i].ratio;
		o.index_enc = bad[i].enc;
		o.zstd_level = bad[i].zstd;
		err = 0;
		gx_codec *c = gx_codec_create(&o, &err);
		T_ASSERT(c == NULL);
		T_EQ(err, GX_EINVAL);
		gx_codec_free(c);
	}
	/* A dense codec does not care about the ratio; NULL err is fine. */
	gx_codec_opts_default(&o);
	o.topk_ratio = 0;
	gx_codec *c = gx_codec_create(&o, NULL);
	T_ASSERT(c != NULL);
	gx_codec_free(c);
	gx_codec_free(NULL);
}

static void test_choose_and_bound(void)
{
	gx_codec *m = make(GX_CODEC_MPQ, 0.01, 1, 0, GX_IDX_AUTO, 0);
	T_REQUIRE(m);
	T_EQ(gx_codec_choose(m, 1), GX_CODEC_F16);
	T_EQ(gx_codec_choose(m, GX_DEFAULT_MPQ_BOUND - 1), GX_CODEC_F16);
	T_EQ(gx_codec_choose(m, GX_DEFAULT_MPQ_BOUND), GX_CODEC_SPARSE_F32);
	T_EQ(gx_codec_choose(m, 1u << 20), GX_CODEC_SPARSE_F32);
	T_EQ(gx_codec_choose(m, 0), GX_CODEC_F16);
	T_EQ(gx_codec_bound(m, 100), 200);
	/* 1% of 10^6 with AUTO: never more than u32 indices */
	T_EQ(gx_codec_bound(m, 1000000), 12 + 10000 * 8);
	gx_codec_free(m);

	for (size_t w = 0; w < NWIRE; w++) {
		gx_codec *c = make(wire[w], 0.25, 1, 0, GX_IDX_AUTO, 0);
		T_REQUIRE(c);
		T_EQ(gx_codec_choose(c, 12345), wire[w]);
		/* an empty tensor goes dense: a sparse frame needs count >= 1 */
		T_EQ(gx_codec_choose(c, 0), wire[w] == GX_CODEC_F16 ? GX_CODEC_F16 : GX_CODEC_F32);
		gx_codec_free(c);
	}
	T_EQ(gx_codec_choose(NULL, 5), GX_EINVAL);
	T_EQ(gx_codec_bound(NULL, 5), 0);
	gx_codec *b = make(GX_CODEC_SPARSE_F32, 0.5, 1, 0, GX_IDX_BITMAP, 0);
	T_REQUIRE(b);
	T_EQ(gx_codec_bound(b, 1000), 12 + 125 + 500 * 4);
	gx_codec_free(b);
}

/* Encodes x with c into a fresh header; checks the header is one the frame
 * layer accepts. Returns the payload (malloc'd) or NULL. */
static uint8_t *encode(gx_codec *c, const float *x, uint64_t n, gx_ef *ef, gx_frame_hdr *h)
{
	size_t cap = gx_codec_bound(c, n);
	uint8_t *out = malloc(cap + 1);
	if (!out)
		return NULL;
	gx_frame_hdr_init(h);
	h->type = GX_FT_TENSOR;
	int rc = gx_codec_encode(c, x, n, ef, h, out, cap);
	if (rc) {
		printf("#   encode: %s\n", gx_strerror(rc));
		free(out);
		return NULL;
	}
	int hc = gx_frame_hdr_check(h, NULL);
	if (hc) {
		printf("#   encoded header refused by the frame layer: %s\n", gx_strerror(hc));
		t_case_failed = 1;
	}
	if (h->payload_len > cap || h->raw_len > cap) {
		printf("#   payload %u / raw %u beyond bound %zu\n", h->payload_len, h->raw_len, cap);
		t_case_failed = 1;
	}
	return out;
}

static void test_round_trip_dense(void)
{
	const size_t n = 50001;
	float *x = malloc(n * 4), *y = malloc(n * 4);
	T_REQUIRE(x && y);
	fill(x, n, 3);
	x[0] = 0.0f, x[1] = -0.0f, x[2] = 65504.0f, x[3] = 1e-8f, x[4] = INFINITY;
	for (int z = 0; z < 2; z++) {
		gx_codec *c = make(GX_CODEC_F32, 0.1, 0, z ? 3 : 0, GX_IDX_AUTO, 0);
		T_REQUIRE(c);
		gx_frame_hdr h;
		uint8_t *p = encode(c, x, n, NULL, &h);
		T_REQUIRE(p);
		T_EQ(h.codec, GX_CODEC_F32);
		T_EQ(h.count, n);
		T_EQ(h.raw_len, n * 4);
		T_EQ(decode_exact(c, &h, p, y, 0), 0);
		T_ASSERT(memcmp(x, y, n * 4) == 0);
		free(p);
		gx_codec_free(c);

		c = make(GX_CODEC_F16, 0.1, 0, z ? 3 : 0, GX_IDX_AUTO, 0);
		T_REQUIRE(c);
		p = encode(c, x, n, NULL, &h);
		T_REQUIRE(p);
		T_EQ(h.codec, GX_CODEC_F16);
		T_EQ(h.raw_len, n * 2);
		T_EQ(decode_exact(c, &h, p, y, 0), 0);
		for (size_t i = 0; i < n; i++) {
			T_ASSERT(y[i] == f16_round(x[i]));
			/* half precision: 11 significant bits in the normal range */
			if (fabsf(x[i]) >= 6.2e-5f && fabsf(x[i]) <= 65504.0f &&
			    !(fabsf(y[i] - x[i]) <= fabsf(x[i]) * (1.0f / 2048.0f))) {
				printf("#   f16 error too large at %zu: %g vs %g\n", i, y[i], x[i]);
				t_case_failed = 1;
				break;
			}
		}
		free(p);
		gx_codec_free(c);
	}
	free(x), free(y);
}

/* Sparse with exact selection keeps exactly k entries, and they are the
 * largest magnitudes; F16 values are the rounded inputs. */
static void test_round_trip_sparse(void)
{
	const size_t n = 100000;
	float *x = malloc(n * 4), *y = malloc(n * 4);
	T_REQUIRE(x && y);
	fill(x, n, 5);
	static const double ratios[] = { 0.00001, 0.001, 0.01, 0.3, 1.0 };
	for (int vc = GX_CODEC_SPARSE_F32; vc <= GX_CODEC_SPARSE_F16; vc++)
		for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++)
			for (int enc = 0; enc < GX_IDX__MAX; enc++) {
				gx_codec *c = make(vc, ratios[r], 1, 0, enc, 0);
				T_REQUIRE(c);
				gx_frame_hdr h;
				uint8_t *p = encode(c, x, n, NULL, &h);
				T_REQUIRE(p);
				T_EQ(h.codec, vc);
				T_EQ(decode_exact(c, &h, p, y, 0), 0);
				size_t k = (size_t)(ratios[r] * n + 0.5), kept = 0;
				float minkept = INFINITY, maxdrop = 0;
				int wrong = 0;
				for (size_t i = 0; i < n; i++) {
					if (y[i] != 0.0f) {
						kept++;
						if (fabsf(x[i]) < minkept)
							minkept = fabsf(x[i]);
						float want = vc == GX_CODEC_SPARSE_F16 ? f16_round(x[i]) : x[i];
						wrong += y[i] != want;
					} else if (fabsf(x[i]) > maxdrop) {
						maxdrop = fabsf(x[i]);
					}
				}
				T_EQ(kept, k < 1 ? 1 : k);
				T_EQ(wrong, 0);
				T_ASSERT(minkept >= maxdrop);
				if (enc != GX_IDX_AUTO)
					T_EQ(p[0], enc);
				free(p);
				gx_codec_free(c);
			}
	free(x), free(y);
}

static void test_mpq(void)
{
	gx_codec *c = make(GX_CODEC_MPQ, 0.01, 1, 0, GX_IDX_AUTO, 0);
	T_REQUIRE(c);
	float x[2000], y[2000];
	fill(x, 2000, 8);
	gx_frame_hdr h;
	uint8_t *p = encode(c, x, 1023, NULL, &h);
	T_REQUIRE(p);
	T_EQ(h.codec, GX_CODEC_F16);
	T_EQ(decode_exact(c, &h, p, y, 0), 0);
	for (size_t i = 0; i < 1023; i++)
		T_ASSERT(y[i] == f16_round(x[i]));
	free(p);
	p = encode(c, x, 2000, NULL, &h);
	T_REQUIRE(p);
	T_EQ(h.codec, GX_CODEC_SPARSE_F32);
	T_EQ(decode_exact(c, &h, p, y, 0), 0);
	size_t kept = 0;
	for (size_t i = 0; i < 2000; i++)
		if (y[i] != 0) {
			kept++;
			T_ASSERT(y[i] == x[i]);
		}
	T_EQ(kept, 20);
	free(p);
	gx_codec_free(c);
}

/* zstd on and off decode to the same floats; the flag is set only when
 * zstd made the payload strictly smaller. Same seed: same sampled choice. */
static void test_zstd_identical(void)
{
	const size_t n = 200000;
	float *x = malloc(n * 4), *y0 = malloc(n * 4), *y1 = malloc(n * 4);
	T_REQUIRE(x && y0 && y1);
	fill(x, n, 11);
	/* make it compressible: a run of zeros and coarse values */
	for (size_t i = 0; i < n / 2; i++)
		x[i] = i % 3 ? 0.0f : (float)(i % 7);
	int compressed = 0;
	for (size_t w = 0; w < NWIRE; w++)
		for (int exact = 0; exact < 2; exact++) {
			gx_codec *a = make(wire[w], 0.05, exact, 0, GX_IDX_AUTO, 0);
			gx_codec *b = make(wire[w], 0.05, exact, 3, GX_IDX_AUTO, 0);
			T_REQUIRE(a && b);
			gx_frame_hdr ha, hb;
			uint8_t *pa = encode(a, x, n, NULL, &ha), *pb = encode(b, x, n, NULL, &hb);
			T_REQUIRE(pa && pb);
			T_EQ(ha.flags & GX_FF_ZSTD, 0);
			T_EQ(ha.raw_len, hb.raw_len);
			if (hb.flags & GX_FF_ZSTD) {
				compressed++;
				T_ASSERT(hb.payload_len < hb.raw_len);
			} else {
				T_EQ(hb.payload_len, hb.raw_len);
			}
			T_EQ(decode_exact(a, &ha, pa, y0, 0), 0);
			T_EQ(decode_exact(b, &hb, pb, y1, 0), 0);
			T_ASSERT(memcmp(y0, y1, n * 4) == 0);
			/* each handle decodes the other's frames: decode ignores options */
			T_EQ(decode_exact(a, &hb, pb, y1, 0), 0);
			T_ASSERT(memcmp(y0, y1, n * 4) == 0);
			free(pa), free(pb);
			gx_codec_free(a);
			gx_codec_free(b);
		}
	T_ASSERT(compressed >= 4);

	/* Incompressible: a tiny payload cannot shrink, so it goes raw, unflagged. */
	gx_codec *z = make(GX_CODEC_F32, 0.05, 0, 19, GX_IDX_AUTO, 0);
	T_REQUIRE(z);
	gx_frame_hdr h;
	uint8_t *p = encode(z, x + n - 1, 1, NULL, &h);
	T_REQUIRE(p);
	T_EQ(h.flags & GX_FF_ZSTD, 0);
	T_EQ(h.payload_len, 4);
	T_EQ(decode_exact(z, &h, p, y0, 0), 0);
	T_ASSERT(y0[0] == x[n - 1]);
	free(p);
	/* ... even when the caller's buffer has room for the bigger zstd frame. */
	uint8_t roomy[4096];
	gx_frame_hdr_init(&h);
	T_EQ(gx_codec_encode(z, x + n - 8, 8, NULL, &h, roomy, sizeof roomy), 0);
	T_EQ(h.flags & GX_FF_ZSTD, 0);
	T_EQ(h.payload_len, 32);
	T_ASSERT(memcmp(roomy, x + n - 8, 32) == 0);
	/* Empty tensor: an empty dense payload, no zstd frame. */
	p = encode(z, NULL, 0, NULL, &h);
	T_REQUIRE(p);
	T_EQ(h.payload_len, 0);
	T_EQ(h.flags & GX_FF_ZSTD, 0);
	T_EQ(decode_exact(z, &h, p, NULL, 0), 0);
	free(p);
	gx_codec_free(z);
	free(x), free(y0), free(y1);
}

static void test_crc_and_flags(void)
{
	float x[3000];
	fill(x, 3000, 12);
	for (size_t w = 0; w < NWIRE; w++)
		for (int z = 0; z < 2; z++) {
			gx_codec *c = make(wire[w], 0.1, 0, z ? 1 : 0, GX_IDX_AUTO, 1);
			T_REQUIRE(c);
			uint8_t out[16384];
			gx_frame_hdr h;
			gx_frame_hdr_init(&h);
			h.type = GX_FT_TENSOR;
			h.flags = GX_FF_LAST | GX_FF_ZSTD; /* stale ZSTD must go, LAST stay */
			T_REQUIRE(gx_codec_bound(c, 3000) <= sizeof out);
			T_EQ(gx_codec_encode(c, x, 3000, NULL, &h, out, sizeof out), 0);
			T_ASSERT(h.flags & GX_FF_CRC);
			T_ASSERT(h.flags & GX_FF_LAST);
			T_EQ(h.payload_crc, gx_crc32c(0, out, h.payload_len));
			T_EQ(gx_frame_hdr_check(&h, NULL), 0);
			gx_codec_free(c);

			/* without crc: flag cleared and payload_crc zeroed */
			c = make(wire[w], 0.1, 0, z ? 1 : 0, GX_IDX_AUTO, 0);
			T_REQUIRE(c);
			h.payload_crc = 0x1234;
			T_EQ(gx_codec_encode(c, x, 3000, NULL, &h, out, sizeof out), 0);
			T_EQ(h.flags & GX_FF_CRC, 0);
			T_EQ(h.payload_crc, 0);
			T_EQ(gx_frame_hdr_check(&h, NULL), 0);
			gx_codec_free(c);
		}
}

/* A whole frame through the frame layer: pack, feed to a decoder (which
 * verifies the CRC), decode. */
static void test_through_frames(void)
{
	const size_t n = 40000;
	float *x = malloc(n * 4), *y = malloc(n * 4), *y2 = malloc(n * 4);
	T_REQUIRE(x && y && y2);
	fill(x, n, 13);
	for (size_t w = 0; w < NWIRE; w++) {
		gx_codec *c = make(wire[w], 0.01, 0, 3, GX_IDX_AUTO, 1);
		T_REQUIRE(c);
		gx_frame_hdr h;
		uint8_t *p = encode(c, x, n, NULL, &h);
		T_REQUIRE(p);
		T_EQ(decode_exact(c, &h, p, y, 0), 0);
		uint8_t hb[GX_FRAME_HDR_SIZE];
		gx_frame_hdr_pack(&h, hb);
		gx_decoder *d = gx_decoder_create(NULL);
		T_REQUIRE(d);
		size_t used = 0;
		T_EQ(gx_decoder_feed(d, hb, sizeof hb, &used), 0);
		T_EQ(gx_decoder_feed(d, p, h.payload_len, &used), 1);
		gx_frame_hdr h2;
		const uint8_t *pl = NULL;
		gx_decoder_frame(d, &h2, &pl);
		T_EQ(decode_exact(c, &h2, pl, y2, 0), 0);
		T_ASSERT(memcmp(y, y2, n * 4) == 0);
		/* a flipped payload bit is caught by the frame layer's CRC */
		gx_decoder_reset(d);
		p[h.payload_len / 2] ^= 1;
		T_EQ(gx_decoder_feed(d, hb, sizeof hb, &used), 0);
		T_EQ(gx_decoder_feed(d, p, h.payload_len, &used), GX_ECRC);
		gx_decoder_free(d);
		free(p);
		gx_codec_free(c);
	}
	free(x), free(y), free(y2);
}

static void test_accumulate(void)
{
	const size_t n = 5000;
	float *x = malloc(n * 4), *y = malloc(n * 4), *z = malloc(n * 4);
	T_REQUIRE(x && y && z);
	fill(x, n, 14);
	for (size_t w = 0; w < NWIRE; w++)
		for (int zs = 0; zs < 2; zs++) {
			gx_codec *c = make(wire[w], 0.1, 1, zs * 3, GX_IDX_AUTO, 0);
			T_REQUIRE(c);
			gx_frame_hdr h;
			uint8_t *p = encode(c, x, n, NULL, &h);
			T_REQUIRE(p);
			T_EQ(decode_exact(c, &h, p, y, 0), 0);
			for (size_t i = 0; i < n; i++)
				z[i] = (float)i * 0.5f;
			T_EQ(decode_exact(c, &h, p, z, 1), 0);
			int bad = 0;
			for (size_t i = 0; i < n; i++)
				bad += z[i] != (float)i * 0.5f + y[i];
			T_EQ(bad, 0);
			/* twice: adds again */
			T_EQ(decode_exact(c, &h, p, z, 1), 0);
			bad = 0;
			for (size_t i = 0; i < n; i++)
				bad += z[i] != ((float)i * 0.5f + y[i]) + y[i];
			T_EQ(bad, 0);
			free(p);
			gx_codec_free(c);
		}
	free(x), free(y), free(z);
}

/* GX_DECODE_FIRST over any contents of dst gives the bits of zeroing dst
 * and adding (0.0f + -0.0f is +0.0f), for every codec, with zstd and not. */
/* gx_codec_fold_f32: a first term is 0.0f + x (-0.0 becomes +0.0), also in
 * place; later terms add. 19 elements: the blocks of 8 and the tail. */
static void test_fold_f32(void)
{
	float src[19], dst[19];
	for (int i = 0; i < 19; i++) {
		src[i] = i % 3 == 0 ? -0.0f : (float)i * 0.5f;
		dst[i] = 99.0f;
	}
	gx_codec_fold_f32(dst, src, 19, 1);
	for (int i = 0; i < 19; i++) {
		float want = src[i] + 0.0f;
		T_REQUIRE(memcmp(&dst[i], &want, 4) == 0 && !signbit(dst[i]));
	}
	gx_codec_fold_f32(dst, src, 19, 0);
	for (int i = 0; i < 19; i++)
		T_REQUIRE(dst[i] == (float)(i % 3 == 0 ? 0 : i));
	memcpy(dst, src, sizeof dst);
	gx_codec_fold_f32(dst, dst, 19, 1); /* in place */
	for (int i = 0; i < 19; i++)
		T_REQUIRE(!signbit(dst[i]) && dst[i] == src[i]);
}

static void test_decode_first(void)
{
	const size_t n = 4099;
	float *x = malloc(n * 4), *want = malloc(n * 4), *got = malloc(n * 4);
	T_REQUIRE(x && want && got);
	fill(x, n, 15);
	for (size_t i = 0; i < n; i += 7)
		x[i] = -0.0f; /* signed zeros, kept by the dense codecs */
	for (size_t w = 0; w < NWIRE; w++)
		for (int zs = 0; zs < 2; zs++) {
			gx_codec *c = make(wire[w], 0.1, 1, zs * 3, GX_IDX_AUTO, 0);
			T_REQUIRE(c);
			gx_frame_hdr h;
			uint8_t *p = encode(c, x, n, NULL, &h);
			T_REQUIRE(p);
			memset(want, 0, n * 4);
			T_EQ(decode_exact(c, &h, p, want, 1), 0);
			for (size_t i = 0; i < n; i++)
				got[i] = -(float)i - 1; /* garbage, never read */
			T_EQ(decode_exact(c, &h, p, got, GX_DECODE_FIRST), 0);
			T_EQ(memcmp(got, want, n * 4), 0);
			int negz = 0;
			for (size_t i = 0; i < n; i++)
				negz += got[i] == 0.0f && signbit(got[i]);
			T_EQ(negz, 0);
			free(p);
			gx_codec_free(c);
		}
	free(x), free(want), free(got);
}

/* Over R rounds: sum of decoded payloads + final residual == sum of inputs. */
static void ef_rounds(int codec, int exact, int zstd, int enc)
{
	const size_t n = 3000;
	const int R = 30;
	gx_codec *c = make(codec, 0.02, exact, zstd, enc, 0);
	gx_ef *ef = gx_ef_create(n, 0.0f);
	float *g = malloc(n * 4), *y = malloc(n * 4);
	double *sum_in = calloc(n, sizeof(double)), *sum_out = calloc(n, sizeof(double));
	T_REQUIRE(c && ef && g && y && sum_in && sum_out);
	for (int r = 0; r < R; r++) {
		fill(g, n, 100 + (uint64_t)r);
		for (size_t i = 0; i < n; i++)
			sum_in[i] += g[i];
		gx_frame_hdr h;
		uint8_t *p = encode(c, g, n, ef, &h);
		T_REQUIRE(p);
		T_EQ(decode_exact(c, &h, p, y, 0), 0);
		for (size_t i = 0; i < n; i++)
			sum_out[i] += y[i];
		free(p);
	}
	const float *v = gx_ef_residual(ef);
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs(sum_out[i] + v[i] - sum_in[i]);
		if (d > worst)
			worst = d;
	}
	if (worst > 1e-4) {
		printf("#   codec %d: |sent + residual - inputs| up to %g\n", codec, worst);
		t_case_failed = 1;
	}
	/* Residual is exactly zero after a lossless dense round. */
	if (codec == GX_CODEC_F32)
		for (size_t i = 0; i < n; i++)
			T_ASSERT(v[i] == 0.0f);
	free(g), free(y), free(sum_in), free(sum_out);
	gx_ef_free(ef);
	gx_codec_free(c);
}

static void test_error_feedback(void)
{
	for (size_t w = 0; w < NWIRE; w++) {
		ef_rounds(wire[w], 1, 0, GX_IDX_AUTO);
		ef_rounds(wire[w], 0, 3, GX_IDX_VARINT);
	}
	ef_rounds(GX_CODEC_MPQ, 0, 0, GX_IDX_AUTO);
}

/* Sparse exact F32 with error feedback: the residual is zero exactly where
 * sent and untouched elsewhere. */
static void test_error_feedback_sparse_exact(void)
{
	const size_t n = 1000;
	gx_codec *c = make(GX_CODEC_SPARSE_F32, 0.05, 1, 0, GX_IDX_AUTO, 0);
	gx_ef *ef = gx_ef_create(n, 0.0f);
	float g[1000], y[1000];
	T_REQUIRE(c && ef);
	fill(g, n, 21);
	gx_frame_hdr h;
	uint8_t *p = encode(c, g, n, ef, &h);
	T_REQUIRE(p);
	T_EQ(decode_exact(c, &h, p, y, 0), 0);
	const float *v = gx_ef_residual(ef);
	for (size_t i = 0; i < n; i++)
		T_ASSERT(y[i] != 0 ? v[i] == 0 : v[i] == g[i]);
	free(p);
	/* An ef of the wrong size is refused and left alone. */
	gx_ef *ef2 = gx_ef_create(n + 1, 0.0f);
	T_REQUIRE(ef2);
	uint8_t out[16384];
	T_EQ(gx_codec_encode(c, g, n, ef2, &h, out, sizeof out), GX_EINVAL);
	for (size_t i = 0; i < n + 1; i++)
		T_ASSERT(gx_ef_residual(ef2)[i] == 0.0f);
	/* So is a too small buffer (before the state is touched). */
	float before = v[0];
	T_EQ(gx_codec_encode(c, g, n, ef, &h, out, gx_codec_bound(c, n) - 1), GX_EINVAL);
	T_ASSERT(v[0] == before);
	T_EQ(gx_codec_encode(c, NULL, n, ef, &h, out, sizeof out), GX_EINVAL);
	T_EQ(gx_codec_encode(c, g, n, ef, NULL, out, sizeof out), GX_EINVAL);
	T_EQ(gx_codec_encode(NULL, g, n, ef, &h, out, sizeof out), GX_EINVAL);
	gx_ef_free(ef2);
	gx_ef_free(ef);
	gx_codec_free(c);
}

/* Same seed, same bytes; sampled selection through the handle's rng. */
static void test_deterministic(void)
{
	const size_t n = 100000;
	float *x = malloc(n * 4);
	T_REQUIRE(x);
	fill(x, n, 31);
	gx_codec *a = make(GX_CODEC_SPARSE_F32, 0.01, 0, 0, GX_IDX_AUTO, 0);
	gx_codec *b = make(GX_CODEC_SPARSE_F32, 0.01, 0, 0, GX_IDX_AUTO, 0);
	T_REQUIRE(a && b);
	for (int r = 0; r < 3; r++) {
		gx_frame_hdr ha, hb;
		uint8_t *pa = encode(a, x, n, NULL, &ha), *pb = encode(b, x, n, NULL, &hb);
		T_REQUIRE(pa && pb);
		T_EQ(ha.payload_len, hb.payload_len);
		T_ASSERT(memcmp(pa, pb, ha.payload_len) == 0);
		free(pa), free(pb);
	}
	gx_codec_free(a);
	gx_codec_free(b);
	free(x);
}

/* Every refusal leaves an accumulating dst as it was. */
static int decode_refused(gx_codec *c, const gx_frame_hdr *h, const uint8_t *p, size_t n)
{
	float *dst = malloc((n ? n : 1) * 4);
	if (!dst)
		return GX_ENOMEM;
	for (size_t i = 0; i < n; i++)
		dst[i] = 3.0f;
	int rc = decode_exact(c, h, p, dst, 1);
	if (rc)
		for (size_t i = 0; i < n; i++)
			if (dst[i] != 3.0f) {
				printf("#   dst changed by a refused payload\n");
				t_case_failed = 1;
				break;
			}
	free(dst);
	return rc;
}

static void test_decode_refuses(void)
{
	const size_t n = 1000;
	float x[1000];
	fill(x, n, 41);
	gx_codec *c = make(GX_CODEC_F32, 0.1, 1, 0, GX_IDX_AUTO, 0);
	T_REQUIRE(c);
	gx_frame_hdr h, b;
	uint8_t *p = encode(c, x, n, NULL, &h);
	T_REQUIRE(p);

	b = h, b.count = n - 1;
	T_EQ(decode_refused(c, &b, p, n), GX_ELENGTH);
	b = h, b.raw_len--;
	T_EQ(decode_refused(c, &b, p, n), GX_ELENGTH);
	b = h, b.payload_len--, b.raw_len--;
	T_EQ(decode_refused(c, &b, p, n), GX_ELENGTH);
	b = h, b.codec = GX_CODEC_F16;
	T_EQ(decode_refused(c, &b, p, n), GX_ELENGTH);
	b = h, b.codec = GX_CODEC_SPARSE_F32; /* garbage as sparse */
	T_ASSERT(decode_refused(c, &b, p, n) < 0);
	b = h, b.codec = GX_CODEC__MAX;
	T_EQ(decode_refused(c, &b, p, n), GX_ECODEC);
	b = h, b.codec = GX_CODEC_NONE;
	T_EQ(decode_refused(c, &b, p, n), GX_ELENGTH);
	b = h, b.flags = 0x80;
	T_EQ(decode_refused(c, &b, p, n), GX_EFLAGS);
	b = h, b.count = 1ull << 40;
	T_EQ(decode_refused(c, &b, p, 0), GX_ELENGTH);
	b = h, b.count = UINT64_MAX, b.codec = GX_CODEC_SPARSE_F32;
	T_EQ(decode_refused(c, &b, p, 0), GX_ETOOBIG);
	/* zstd flag on bytes that are not a zstd frame */
	b = h, b.flags |= GX_FF_ZSTD;
	T_EQ(decode_refused(c, &b, p, n), GX_EZSTD);
	T_EQ(gx_codec_decode(c, &h, NULL, x, 0), GX_EINVAL);
	T_EQ(gx_codec_decode(c, &h, p, NULL, 0), GX_EINVAL);
	T_EQ(gx_codec_decode(NULL, &h, p, x, 0), GX_EINVAL);
	T_EQ(gx_codec_decode(c, NULL, p, x, 0), GX_EINVAL);
	free(p);

	/* Real zstd frames with lying sizes. */
	size_t zcap = ZSTD_compressBound(n * 4) * 2 + 16;
	uint8_t *z = malloc(zcap);
	T_REQUIRE(z);
	memset(x, 0, sizeof x);
	size_t zl = ZSTD_compress(z, zcap, x, n * 4, 1);
	T_REQUIRE(!ZSTD_isError(zl));
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.codec = GX_CODEC_F32;
	h.count = n;
	h.flags = GX_FF_ZSTD;
	h.payload_len = (uint32_t)zl;
	h.raw_len = (uint32_t)n * 4;
	T_EQ(decode_refused(c, &h, z, n), 0);
	/* content size says n*4 but the header says fewer elements */
	b = h, b.count = n / 2, b.raw_len = (uint32_t)n * 2;
	T_EQ(decode_refused(c, &b, z, n), GX_ELENGTH);
	/* truncated zstd frame */
	b = h, b.payload_len--;
	T_EQ(decode_refused(c, &b, z, n), GX_EZSTD);
	/* two frames back to back */
	memcpy(z + zl, z, zl);
	b = h, b.payload_len = (uint32_t)(2 * zl);
	T_EQ(decode_refused(c, &b, z, n), GX_EZSTD);
	/* a frame without a content size */
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	T_REQUIRE(cc);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	zl = ZSTD_compress2(cc, z, zcap, x, n * 4);
	T_REQUIRE(!ZSTD_isError(zl));
	b = h, b.payload_len = (uint32_t)zl;
	T_EQ(decode_refused(c, &b, z, n), GX_EZSTD);
	/* corrupt block content */
	ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	fill(x, n, 42);
	zl = ZSTD_compress2(cc, z, zcap, x, n * 4);
	T_REQUIRE(!ZSTD_isError(zl));
	z[zl - 1] ^= 0xff; /* the checksum */
	b = h, b.payload_len = (uint32_t)zl;
	T_EQ(decode_refused(c, &b, z, n), GX_EZSTD);
	ZSTD_freeCCtx(cc);
	free(z);

	/* Sparse: a corrupted index must not land in dst. */
	gx_codec *s = make(GX_CODEC_SPARSE_F32, 0.1, 1, 0, GX_IDX_U32, 0);
	T_REQUIRE(s);
	fill(x, n, 43);
	p = encode(s, x, n, NULL, &h);
	T_REQUIRE(p);
	T_EQ(decode_refused(s, &h, p, n), 0);
	uint32_t last;
	memcpy(&last, p + 12 + 4 * 99, 4);
	uint32_t oob = (uint32_t)n;
	memcpy(p + 12 + 4 * 99, &oob, 4);
	T_EQ(decode_refused(s, &h, p, n), GX_ECORRUPT);
	memcpy(p + 12 + 4 * 99, &last, 4);
	memcpy(p + 12 + 4 * 50, p + 12 + 4 * 49, 4); /* a duplicate index */
	T_EQ(decode_refused(s, &h, p, n), GX_ECORRUPT);
	/* a sparse raw_len beyond what count could need is refused up front */
	uint8_t *big = calloc(1, 12 + 9 * n + 1);
	T_REQUIRE(big);
	b = h, b.raw_len = b.payload_len = (uint32_t)(12 + 9 * n + 1);
	T_EQ(decode_refused(s, &b, big, n), GX_ELENGTH);
	free(big);
	b = h, b.raw_len = b.payload_len = 11;
	T_EQ(decode_refused(s, &b, p, n), GX_ELENGTH);
	free(p);
	gx_codec_free(s);
	gx_codec_free(c);
}

/* Every truncation and single-byte corruption of real payloads: an error or
 * a success, never a crash or an out-of-bounds access (ASan). */
static void test_decode_mutations(void)
{
	float x[600], y[600];
	fill(x, 600, 51);
	for (size_t w = 0; w < NWIRE; w++)
		for (int z = 0; z < 2; z++)
			for (int enc = 1; enc < GX_IDX__MAX; enc++) {
				gx_codec *c = make(wire[w], 0.2, 1, z ? 3 : 0, enc, 0);
				T_REQUIRE(c);
				gx_frame_hdr h, b;
				uint8_t *p = encode(c, x, 600, NULL, &h);
				T_REQUIRE(p);
				for (uint32_t l = 0; l < h.payload_len; l++) {
					b = h, b.payload_len = l;
					if (!(h.flags & GX_FF_ZSTD))
						b.raw_len = l;
					T_ASSERT(decode_exact(c, &b, p, y, 0) < 0);
				}
				for (uint32_t i = 0; i < h.payload_len; i += 3) {
					uint8_t save = p[i];
					p[i] ^= (uint8_t)(0x5a + i);
					(void)decode_exact(c, &h, p, y, i & 1);
					p[i] = save;
				}
				free(p);
				gx_codec_free(c);
			}
}

int main(void)
{
	T_RUN(test_opts);
	T_RUN(test_choose_and_bound);
	T_RUN(test_round_trip_dense);
	T_RUN(test_round_trip_sparse);
	T_RUN(test_mpq);
	T_RUN(test_zstd_identical);
	T_RUN(test_crc_and_flags);
	T_RUN(test_through_frames);
	T_RUN(test_accumulate);
	T_RUN(test_fold_f32);
	T_RUN(test_decode_first);
	T_RUN(test_error_feedback);
	T_RUN(test_error_feedback_sparse_exact);
	T_RUN(test_deterministic);
	T_RUN(test_decode_refuses);
	T_RUN(test_decode_mutations);
	T_DONE();
}
