/* test_sparse.c — the sparse payload: every index encoding round-trips, AUTO
 * picks the smallest, and every malformation is refused without touching dst. */
#include <stdint.h>

#include "codec/codec_internal.h"
#include "geomx.h"
#include "t.h"

static const int encs[] = { GX_IDX_U32, GX_IDX_VARINT, GX_IDX_BITPACK, GX_IDX_BITMAP };
#define NENC (sizeof encs / sizeof encs[0])

/* k distinct sorted indices of [0, n) by selection sampling (Knuth S). */
static size_t random_set(gx_rng *r, uint64_t n, size_t k, uint32_t *idx)
{
	size_t got = 0;
	for (uint64_t i = 0; i < n && got < k; i++)
		if (gx_rng_below(r, n - i) < k - got)
			idx[got++] = (uint32_t)i;
	return got;
}

static void random_values(gx_rng *r, float *v, size_t k)
{
	for (size_t j = 0; j < k; j++)
		v[j] = gx_rng_normal(r) * 10.0f + (j & 1 ? 0.5f : -0.5f);
}

/* Packs, checks size and layout, unpacks (overwrite and accumulate) and
 * compares. Returns 0 when everything matched. */
static int round_trip(const uint32_t *idx, const float *val, size_t k, uint64_t n, int vc,
		      int enc)
{
	int bad = 0;
	size_t cap = gx_sparse_bound(k, n, vc);
	uint8_t *buf = malloc(cap + 1);
	uint32_t *scratch = malloc(k * 4 + 4);
	float *dst = malloc(n * sizeof(float) + 4);
	if (!buf || !scratch || !dst) {
		printf("#   out of memory\n");
		free(buf), free(scratch), free(dst);
		return 1;
	}
	long len = gx_sparse_pack(idx, val, k, n, vc, enc, buf, cap);
	T_ASSERT(len > 0);
	if (len <= 0) {
		bad = 1;
		goto out;
	}
	T_ASSERT((size_t)len <= gx_sparse_bound_enc(k, n, vc, enc));
	size_t ib = gx_sparse_index_size(idx, k, n, enc);
	size_t vs = vc == GX_CODEC_SPARSE_F32 ? 4 : 2;
	T_EQ(len, (long)(GX_SPARSE_HDR_SIZE + ib + k * vs));
	if (enc != GX_IDX_AUTO)
		T_EQ(buf[0], enc);
	T_EQ(buf[1] | buf[2] | buf[3], 0);

	for (size_t i = 0; i < n; i++)
		dst[i] = 123.0f;
	int rc = gx_sparse_unpack(buf, (size_t)len, n, vc, scratch, dst, 0);
	T_EQ(rc, 0);
	size_t j = 0;
	for (size_t i = 0; i < n && !bad; i++) {
		float want = 0.0f;
		if (j < k && idx[j] == i) {
			want = val[j++];
			if (vc == GX_CODEC_SPARSE_F16) {
				uint16_t h;
				gx_f32_to_f16(&want, &h, 1);
				gx_f16_to_f32(&h, &want, 1);
			}
		}
		if (dst[i] != want) {
			printf("#   n=%llu k=%zu enc=%d: dst[%zu] = %g, want %g\n",
			       (unsigned long long)n, k, enc, i, dst[i], want);
			bad = 1;
		}
	}
	for (size_t m = 0; m < k && !bad; m++)
		if (scratch[m] != idx[m])
			bad = 1;
	/* Accumulate: adding onto 1.0 everywhere. */
	for (size_t i = 0; i < n; i++)
		dst[i] = 1.0f;
	rc = gx_sparse_unpack(buf, (size_t)len, n, vc, scratch, dst, 1);
	T_EQ(rc, 0);
	j = 0;
	for (size_t i = 0; i < n && !bad; i++) {
		float want = 1.0f;
		if (j < k && idx[j] == i) {
			float v = val[j++];
			if (vc == GX_CODEC_SPARSE_F16) {
				uint16_t h;
				gx_f32_to_f16(&v, &h, 1);
				gx_f16_to_f32(&h, &v, 1);
			}
			want += v;
		}
		if (dst[i] != want)
			bad = 1;
	}
out:
	if (bad)
		t_case_failed = 1;
	free(buf), free(scratch), free(dst);
	return bad;
}

static void test_round_trip_densities(void)
{
	static const uint64_t ns[] = { 1, 2, 7, 8, 9, 63, 64, 65, 127, 128, 129, 1000, 65536, 100003 };
	static const double dens[] = { 0.0, 0.001, 0.01, 0.1, 0.5, 0.9, 1.0 };
	gx_rng r;
	gx_rng_seed(&r, 42);
	uint32_t *idx = malloc(100003 * 4);
	float *val = malloc(100003 * 4);
	T_REQUIRE(idx && val);
	for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
		for (size_t b = 0; b < sizeof dens / sizeof dens[0]; b++) {
			uint64_t n = ns[a];
			size_t k = (size_t)(dens[b] * (double)n + 0.5);
			k = random_set(&r, n, k, idx);
			random_values(&r, val, k);
			for (size_t e = 0; e < NENC; e++)
				for (int vc = GX_CODEC_SPARSE_F32; vc <= GX_CODEC_SPARSE_F16; vc++)
					if (round_trip(idx, val, k, n, vc, encs[e]))
						goto done;
			if (round_trip(idx, val, k, n, GX_CODEC_SPARSE_F32, GX_IDX_AUTO))
				goto done;
		}
done:
	free(idx), free(val);
}

static void test_edge_sets(void)
{
	uint32_t idx[300];
	float val[300];
	for (int i = 0; i < 300; i++)
		val[i] = (float)i - 150.5f;
	for (size_t e = 0; e < NENC; e++) {
		/* k = 0 */
		T_ASSERT(!round_trip(idx, val, 0, 1000, GX_CODEC_SPARSE_F32, encs[e]));
		/* index 0 alone, n-1 alone, both */
		idx[0] = 0;
		T_ASSERT(!round_trip(idx, val, 1, 1000, GX_CODEC_SPARSE_F32, encs[e]));
		idx[0] = 999;
		T_ASSERT(!round_trip(idx, val, 1, 1000, GX_CODEC_SPARSE_F32, encs[e]));
		idx[0] = 0, idx[1] = 999;
		T_ASSERT(!round_trip(idx, val, 2, 1000, GX_CODEC_SPARSE_F32, encs[e]));
		/* k = n, n spanning blocks of 128 exactly and not */
		for (int i = 0; i < 300; i++)
			idx[i] = (uint32_t)i;
		T_ASSERT(!round_trip(idx, val, 256, 256, GX_CODEC_SPARSE_F32, encs[e]));
		T_ASSERT(!round_trip(idx, val, 300, 300, GX_CODEC_SPARSE_F16, encs[e]));
		/* n = 1 */
		idx[0] = 0;
		T_ASSERT(!round_trip(idx, val, 1, 1, GX_CODEC_SPARSE_F32, encs[e]));
		/* one value per bitpack block of alternating widths */
		for (int i = 0; i < 300; i++)
			idx[i] = (uint32_t)(i * 3 + (i % 128 == 5 ? 1 : 0) + i / 128 * 1000);
		T_ASSERT(!round_trip(idx, val, 300, 4000, GX_CODEC_SPARSE_F32, encs[e]));
	}
}

/* Gaps above 2^28 (5-byte varints, 29+ bit widths): checked through the
 * index decoder alone (dst NULL), since a dst of 2^32 floats is too big. */
static void test_huge_gaps(void)
{
	const uint64_t n = 1ull << 32;
	uint32_t idx[5] = { 0, (1u << 28) + 7, (1u << 31) + 3, 0xfffffffeu, 0xffffffffu };
	float val[5] = { 1, 2, 3, 4, 5 };
	uint32_t got[5];
	uint8_t buf[256];
	static const int gap_encs[] = { GX_IDX_U32, GX_IDX_VARINT, GX_IDX_BITPACK, GX_IDX_AUTO };
	for (size_t e = 0; e < 4; e++) {
		for (size_t first = 0; first < 2; first++) {
			const uint32_t *ix = idx + first;
			size_t k = 5 - first;
			long len = gx_sparse_pack(ix, val, k, n, GX_CODEC_SPARSE_F32, gap_encs[e], buf,
						  sizeof buf);
			T_ASSERT(len > 0);
			if (len <= 0)
				continue;
			T_ASSERT(buf[0] != GX_IDX_BITMAP);
			memset(got, 0, sizeof got);
			T_EQ(gx_sparse_unpack(buf, (size_t)len, n, GX_CODEC_SPARSE_F32, got, NULL, 0), 0);
			for (size_t j = 0; j < k; j++)
				T_EQ(got[j], ix[j]);
			/* One element fewer: the last index is now out of range. */
			T_EQ(gx_sparse_unpack(buf, (size_t)len, n - 1, GX_CODEC_SPARSE_F32, got, NULL, 0),
			     GX_ECORRUPT);
		}
	}
	/* Bitmap with a gap above 2^28: a 48 MiB bitmap, indices decoded only. */
	uint64_t bn = 3ull << 27;
	uint32_t bidx[3] = { 1, (1u << 28) + 9, (uint32_t)bn - 1 };
	size_t cap = gx_sparse_bound(3, bn, GX_CODEC_SPARSE_F32);
	uint8_t *big = malloc(cap);
	T_REQUIRE(big);
	long len = gx_sparse_pack(bidx, val, 3, bn, GX_CODEC_SPARSE_F32, GX_IDX_BITMAP, big, cap);
	T_EQ(len, (long)(12 + bn / 8 + 12));
	if (len > 0) {
		T_EQ(gx_sparse_unpack(big, (size_t)len, bn, GX_CODEC_SPARSE_F32, got, NULL, 0), 0);
		for (size_t j = 0; j < 3; j++)
			T_EQ(got[j], bidx[j]);
	}
	free(big);
}

static void test_auto_smallest(void)
{
	static const uint64_t ns[] = { 100, 5000, 1000000 };
	static const double dens[] = { 0.0, 0.0005, 0.001, 0.01, 0.03, 0.1, 0.2, 0.5, 1.0 };
	gx_rng r;
	gx_rng_seed(&r, 7);
	uint32_t *idx = malloc(1000000 * 4);
	float *val = calloc(1000000, 4);
	uint8_t *buf = malloc(gx_sparse_bound(1000000, 1000000, GX_CODEC_SPARSE_F32));
	T_REQUIRE(idx && val && buf);
	int seen[GX_IDX__MAX] = { 0 };
	for (size_t a = 0; a < 3; a++)
		for (size_t b = 0; b < sizeof dens / sizeof dens[0]; b++) {
			uint64_t n = ns[a];
			size_t k = random_set(&r, n, (size_t)(dens[b] * (double)n), idx);
			size_t best = SIZE_MAX;
			for (size_t e = 0; e < NENC; e++) {
				size_t s = gx_sparse_index_size(idx, k, n, encs[e]);
				if (s < best)
					best = s;
			}
			T_EQ(gx_sparse_index_size(idx, k, n, GX_IDX_AUTO), best);
			long len = gx_sparse_pack(idx, val, k, n, GX_CODEC_SPARSE_F32, GX_IDX_AUTO, buf,
						  gx_sparse_bound(k, n, GX_CODEC_SPARSE_F32));
			T_EQ(len, (long)(GX_SPARSE_HDR_SIZE + best + 4 * k));
			if (len > 0) {
				T_EQ(gx_sparse_index_size(idx, k, n, buf[0]), best);
				seen[buf[0]]++;
			}
		}
	/* Over this range of densities more than one encoding wins. */
	T_ASSERT(seen[GX_IDX_BITMAP] > 0);
	T_ASSERT(seen[GX_IDX_BITPACK] + seen[GX_IDX_VARINT] > 0);
	free(idx), free(val), free(buf);
}

static void test_pack_rejects(void)
{
	uint32_t idx[4] = { 1, 5, 5, 9 };
	float val[4] = { 0 };
	uint8_t buf[128];
	T_EQ(gx_sparse_pack(idx, val, 4, 10, GX_CODEC_SPARSE_F32, GX_IDX_U32, buf, sizeof buf),
	     GX_EINVAL); /* duplicate */
	idx[2] = 3;
	T_EQ(gx_sparse_pack(idx, val, 4, 10, GX_CODEC_SPARSE_F32, GX_IDX_U32, buf, sizeof buf),
	     GX_EINVAL); /* decreasing */
	idx[2] = 7;
	T_EQ(gx_sparse_pack(idx, val, 4, 9, GX_CODEC_SPARSE_F32, GX_IDX_U32, buf, sizeof buf),
	     GX_EINVAL); /* out of range */
	T_EQ(gx_sparse_pack(idx, val, 4, 3, GX_CODEC_SPARSE_F32, GX_IDX_U32, buf, sizeof buf),
	     GX_EINVAL); /* k > n */
	T_EQ(gx_sparse_pack(idx, val, 4, 10, GX_CODEC_F32, GX_IDX_U32, buf, sizeof buf), GX_EINVAL);
	T_EQ(gx_sparse_pack(idx, val, 4, 10, GX_CODEC_SPARSE_F32, GX_IDX__MAX, buf, sizeof buf),
	     GX_EINVAL);
	T_EQ(gx_sparse_pack(idx, val, 4, 10, GX_CODEC_SPARSE_F32, -1, buf, sizeof buf), GX_EINVAL);
	T_EQ(gx_sparse_pack(idx, val, 4, 10, GX_CODEC_SPARSE_F32, GX_IDX_U32, buf, 12 + 16 + 15),
	     GX_EINVAL); /* cap one short */
	T_EQ(gx_sparse_pack(idx, val, 4, 10, GX_CODEC_SPARSE_F32, GX_IDX_U32, buf, 12 + 16 + 16),
	     12 + 16 + 16);
	/* A bitmap cannot address more than 2^32 elements; AUTO avoids it. */
	T_EQ(gx_sparse_pack(idx, val, 4, 1ull << 33, GX_CODEC_SPARSE_F32, GX_IDX_BITMAP, buf,
			    sizeof buf),
	     GX_ETOOBIG);
	T_ASSERT(gx_sparse_pack(idx, val, 4, 1ull << 33, GX_CODEC_SPARSE_F32, GX_IDX_AUTO, buf,
				sizeof buf) > 0);
	T_ASSERT(buf[0] != GX_IDX_BITMAP);
	T_EQ(gx_sparse_index_size(idx, 4, 10, 99), 0);
	T_EQ(gx_sparse_bound_enc(4, 10, GX_CODEC_F16, GX_IDX_U32), SIZE_MAX);
}

/* Builds a payload by hand: enc, nnz, index bytes, then nnz zero values. */
static size_t handmade(uint8_t *buf, int enc, uint32_t nnz, const uint8_t *ib, uint32_t iblen)
{
	memset(buf, 0, 12);
	buf[0] = (uint8_t)enc;
	memcpy(buf + 4, &nnz, 4);
	memcpy(buf + 8, &iblen, 4);
	memcpy(buf + 12, ib, iblen);
	memset(buf + 12 + iblen, 0, (size_t)nnz * 4);
	return 12 + iblen + (size_t)nnz * 4;
}

/* Decodes with accumulate onto a sentinel and checks dst did not change. */
static int decode_untouched(const uint8_t *buf, size_t len, uint64_t n)
{
	enum { MAXN = 1024 };
	float dst[MAXN];
	uint32_t scratch[MAXN];
	if (n > MAXN) {
		printf("#   test bug: count %llu too large\n", (unsigned long long)n);
		t_case_failed = 1;
		return GX_EINVAL;
	}
	for (int i = 0; i < MAXN; i++)
		dst[i] = 7.0f;
	int rc = gx_sparse_unpack(buf, len, n, GX_CODEC_SPARSE_F32, scratch, dst, 1);
	for (int i = 0; i < MAXN && rc; i++)
		if (dst[i] != 7.0f) {
			printf("#   dst changed by a refused payload (rc %d)\n", rc);
			t_case_failed = 1;
			break;
		}
	if (rc == 0) {
		/* overwrite mode must agree */
		int rc2 = gx_sparse_unpack(buf, len, n, GX_CODEC_SPARSE_F32, scratch, dst, 0);
		if (rc2 != 0)
			return rc2;
	}
	return rc;
}

static void test_malformed_common(void)
{
	uint8_t buf[256];
	uint32_t idx[3] = { 2, 5, 9 };
	float val[3] = { 1, 2, 3 };
	for (size_t e = 0; e < NENC; e++) {
		long len = gx_sparse_pack(idx, val, 3, 40, GX_CODEC_SPARSE_F32, encs[e], buf, sizeof buf);
		T_REQUIRE(len > 0);
		T_EQ(decode_untouched(buf, (size_t)len, 40), 0);
		/* every truncation, and one extra byte */
		for (long l = 0; l < len; l++)
			T_ASSERT(decode_untouched(buf, (size_t)l, 40) < 0);
		buf[len] = 0;
		T_EQ(decode_untouched(buf, (size_t)len + 1, 40), GX_ELENGTH);
		/* wrong value codec for the bytes: length no longer adds up */
		T_ASSERT(gx_sparse_unpack(buf, (size_t)len, 40, GX_CODEC_SPARSE_F16, idx, NULL, 0) < 0);
		T_EQ(gx_sparse_unpack(buf, (size_t)len, 40, GX_CODEC_F32, idx, NULL, 0), GX_ECODEC);
		/* nnz larger than count */
		T_EQ(decode_untouched(buf, (size_t)len, 2), GX_ELENGTH);
		/* reserved bytes */
		for (int b = 1; b < 4; b++) {
			buf[b] = 1;
			T_EQ(decode_untouched(buf, (size_t)len, 40), GX_ERESERVED);
			buf[b] = 0;
		}
		/* unknown encodings, AUTO included */
		uint8_t save = buf[0];
		static const uint8_t bad[] = { GX_IDX_AUTO, GX_IDX__MAX, 0x80, 0xff };
		for (size_t b = 0; b < sizeof bad; b++) {
			buf[0] = bad[b];
			T_EQ(decode_untouched(buf, (size_t)len, 40), GX_ECORRUPT);
		}
		buf[0] = save;
		/* nnz and index_bytes fields lying */
		buf[4]++;
		T_ASSERT(decode_untouched(buf, (size_t)len, 40) < 0);
		buf[4]--;
		buf[8]++;
		T_ASSERT(decode_untouched(buf, (size_t)len, 40) < 0);
		buf[8]--;
		buf[11] = 0x80; /* huge index_bytes must not wrap any sum */
		T_ASSERT(decode_untouched(buf, (size_t)len, 40) < 0);
		buf[11] = 0;
		buf[7] = 0xff; /* huge nnz */
		T_ASSERT(decode_untouched(buf, (size_t)len, 40) < 0);
		buf[7] = 0;
		T_EQ(decode_untouched(buf, (size_t)len, 40), 0);
	}
}

static void test_malformed_u32(void)
{
	uint8_t buf[256];
	uint32_t v[3];
	v[0] = 1, v[1] = 4, v[2] = 4; /* duplicate */
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_U32, 3, (uint8_t *)v, 12), 10), GX_ECORRUPT);
	v[2] = 3; /* decreasing */
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_U32, 3, (uint8_t *)v, 12), 10), GX_ECORRUPT);
	v[2] = 10; /* == count */
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_U32, 3, (uint8_t *)v, 12), 10), GX_ECORRUPT);
	v[2] = 9;
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_U32, 3, (uint8_t *)v, 12), 10), 0);
	/* index_bytes not 4 * nnz (total still consistent) */
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_U32, 2, (uint8_t *)v, 12), 10), GX_ELENGTH);
}

static void test_malformed_varint(void)
{
	uint8_t buf[256];
	/* Valid: 0, then gap 0 -> 1, then 127 -> 129, then 128 -> 258. */
	static const uint8_t good[] = { 0x00, 0x00, 0x7f, 0x80, 0x01 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 4, good, 5), 300), 0);
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 4, good, 5), 258), GX_ECORRUPT);
	/* over-long: 0 written as 0x80 0x00 */
	static const uint8_t ol[] = { 0x80, 0x00 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 1, ol, 2), 300), GX_ECORRUPT);
	static const uint8_t ol2[] = { 0x81, 0x80, 0x00 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 1, ol2, 3), 300), GX_ECORRUPT);
	/* continuation runs past index_bytes (into the values) */
	static const uint8_t run[] = { 0x05, 0x81 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 2, run, 2), 300), GX_ECORRUPT);
	/* 5th byte with bits beyond 32, and a 6-byte varint */
	static const uint8_t big[] = { 0xff, 0xff, 0xff, 0xff, 0x10 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 1, big, 5), 300), GX_ECORRUPT);
	static const uint8_t six[] = { 0x81, 0x80, 0x80, 0x80, 0x80, 0x00 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 2, six, 6), 300), GX_ECORRUPT);
	/* largest 5-byte value is fine as a gap syntactically but out of range here */
	static const uint8_t max5[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 1, max5, 5), 300), GX_ECORRUPT);
	/* index bytes left over after nnz varints */
	static const uint8_t extra[] = { 0x01, 0x01, 0x01 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 2, extra, 3), 300), GX_ECORRUPT);
	/* sum of gaps overflowing 32 bits must not wrap into range */
	static const uint8_t wrap[] = { 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x05 };
	T_EQ(gx_sparse_unpack(buf, handmade(buf, GX_IDX_VARINT, 2, wrap, 6), 1ull << 32,
			      GX_CODEC_SPARSE_F32, (uint32_t[2]){ 0 }, NULL, 0),
	     GX_ECORRUPT);
	/* index_bytes below nnz or above 5 * nnz */
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 3, good, 2), 300), GX_ELENGTH);
	static const uint8_t z11[11] = { 0 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_VARINT, 2, z11, 11), 300), GX_ELENGTH);
}

static void test_malformed_bitpack(void)
{
	uint8_t buf[1024];
	/* 3 gaps of width 2: 1, 2, 3 -> indices 1, 4, 8; bits 01 10 11 -> 0x39 */
	uint8_t ok[] = { 2, 0x39 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 3, ok, 2), 9), 0);
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 3, ok, 2), 8), GX_ECORRUPT);
	/* nonzero padding bit */
	uint8_t pad[] = { 2, 0x79 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 3, pad, 2), 100), GX_ECORRUPT);
	/* width above 32 */
	uint8_t w33[1 + 13] = { 33 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 3, w33, 14), 100), GX_ECORRUPT);
	/* width larger than the bytes present */
	uint8_t w8[] = { 8, 1, 1 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 3, w8, 3), 100), GX_ECORRUPT);
	/* a leftover byte after the blocks */
	uint8_t lo[] = { 2, 0x39, 0 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 3, lo, 3), 100), GX_ECORRUPT);
	/* width 0: consecutive indices 0..2, out of range for count 2 */
	uint8_t w0[] = { 0 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 3, w0, 1), 3), 0);
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 3, w0, 1), 2), GX_ELENGTH);
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 2, w0, 1), 1), GX_ELENGTH);
	/* no width byte at all for nnz > 0 */
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 1, w0, 0), 3), GX_ELENGTH);
	/* width 32 gaps of 2^32-1 must not wrap into range */
	uint8_t w32[] = { 32, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	T_EQ(gx_sparse_unpack(buf, handmade(buf, GX_IDX_BITPACK, 2, w32, 9), 1ull << 32,
			      GX_CODEC_SPARSE_F32, (uint32_t[2]){ 0 }, NULL, 0),
	     GX_ECORRUPT);
	/* a second block missing: 129 entries need two width bytes */
	uint8_t one[] = { 0 };
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITPACK, 129, one, 1), 200), GX_ELENGTH);
	uint8_t two[] = { 0, 0 };
	float big[200];
	uint32_t sc[200];
	T_EQ(gx_sparse_unpack(buf, handmade(buf, GX_IDX_BITPACK, 129, two, 2), 200,
			      GX_CODEC_SPARSE_F32, sc, big, 0),
	     0);
	T_EQ(sc[128], 128);
}

static void test_malformed_bitmap(void)
{
	uint8_t buf[256];
	uint8_t bm[2] = { 0x05, 0x00 }; /* indices 0 and 2, n = 10 */
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITMAP, 2, bm, 2), 10), 0);
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITMAP, 1, bm, 2), 10), GX_ECORRUPT);
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITMAP, 3, bm, 2), 10), GX_ECORRUPT);
	/* a bit at index 10 (beyond count) */
	bm[1] = 0x04;
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITMAP, 3, bm, 2), 10), GX_ECORRUPT);
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITMAP, 3, bm, 2), 11), 0);
	/* wrong bitmap size for count */
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITMAP, 3, bm, 2), 17), GX_ELENGTH);
	T_EQ(decode_untouched(buf, handmade(buf, GX_IDX_BITMAP, 3, bm, 2), 8), GX_ELENGTH);
}

/* Random corruption of valid payloads: any answer is fine but a crash, an
 * index outside [0, count) written, or dst touched on error (ASan and the
 * sentinel catch those). */
static void test_random_corruption(void)
{
	gx_rng r;
	gx_rng_seed(&r, 99);
	uint32_t idx[64];
	float val[64];
	uint8_t buf[1024];
	for (int it = 0; it < 20000; it++) {
		uint64_t n = 1 + gx_rng_below(&r, 64);
		size_t k = random_set(&r, n, (size_t)gx_rng_below(&r, n + 1), idx);
		random_values(&r, val, k);
		int vc = GX_CODEC_SPARSE_F32;
		long len = gx_sparse_pack(idx, val, k, n, vc, (int)gx_rng_below(&r, GX_IDX__MAX), buf,
					  sizeof buf);
		T_REQUIRE(len > 0);
		int flips = 1 + (int)gx_rng_below(&r, 3);
		for (int f = 0; f < flips; f++)
			buf[gx_rng_below(&r, (uint64_t)len)] ^= (uint8_t)(1u << gx_rng_below(&r, 8));
		size_t l = (size_t)len;
		if (gx_rng_below(&r, 4) == 0)
			l = (size_t)gx_rng_below(&r, (uint64_t)len + 1);
		uint8_t *copy = malloc(l ? l : 1); /* exact size: ASan sees overreads */
		T_REQUIRE(copy);
		memcpy(copy, buf, l);
		(void)decode_untouched(copy, l, n);
		free(copy);
	}
}

int main(void)
{
	T_RUN(test_round_trip_densities);
	T_RUN(test_edge_sets);
	T_RUN(test_huge_gaps);
	T_RUN(test_auto_smallest);
	T_RUN(test_pack_rejects);
	T_RUN(test_malformed_common);
	T_RUN(test_malformed_u32);
	T_RUN(test_malformed_varint);
	T_RUN(test_malformed_bitpack);
	T_RUN(test_malformed_bitmap);
	T_RUN(test_random_corruption);
	T_DONE();
}
