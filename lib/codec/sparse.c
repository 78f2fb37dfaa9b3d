/*
 * sparse.c — the sparse payload: a 12-byte fixed part, an index encoding and
 * the values (docs/codecs.md has the byte layout).
 *
 * Every index encoding except U32 and BITMAP stores gaps: d[0] = idx[0] and
 * d[j] = idx[j] - idx[j-1] - 1. Subtracting one makes "strictly increasing"
 * a property of the format (a duplicate cannot be written) and lets runs of
 * adjacent indices encode as zeros.
 *
 * Decoding is two-phase: the indices are decoded and checked into a scratch
 * array first, and dst is written only when the whole payload is known good,
 * so a corrupt frame never half-lands in an aggregate.
 */
#include <limits.h>
#include <string.h>

#include "codec_internal.h"
#include "gx_codec.h"

/* ------------------------------------------------------------- small helpers */

static inline void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Bytes of the LEB128 encoding of v (1..5). */
static inline size_t varint_len(uint32_t v)
{
	/* (bits(v|1) + 6) / 7 via clz: bits 1..32 -> 1..5 bytes. */
	unsigned bits = 32 - (unsigned)__builtin_clz(v | 1);
	return (bits + 6) / 7;
}

/* Bits needed to hold v (0 for 0). */
static inline unsigned bit_width(uint32_t v)
{
	return v ? 32 - (unsigned)__builtin_clz(v) : 0;
}

static inline uint32_t gap(const uint32_t *idx, size_t j)
{
	return j ? idx[j] - idx[j - 1] - 1 : idx[0];
}

static uint64_t bitmap_bytes(uint64_t n)
{
	return n / 8 + (n % 8 != 0);
}

/* ------------------------------------------------------------------- sizes */

/* A bitmap addresses at most 2^32 elements (indices are u32 and the decoder
 * refuses more); beyond that it is never a candidate. */
static uint64_t bitmap_size(uint64_t n)
{
	return n > (uint64_t)UINT32_MAX + 1 ? UINT64_MAX : bitmap_bytes(n);
}

/* Sizes of the four index encodings in one pass, for AUTO. size[enc]. */
static void index_sizes(const uint32_t *idx, size_t k, uint64_t n, uint64_t size[GX_IDX__MAX])
{
	uint64_t vsz = 0, bsz = 0;
	for (size_t b = 0; b < k; b += GX_BITPACK_BLOCK) {
		size_t e = k - b < GX_BITPACK_BLOCK ? k : b + GX_BITPACK_BLOCK;
		uint32_t or_ = 0;
		for (size_t j = b; j < e; j++) {
			uint32_t d = gap(idx, j);
			or_ |= d;
			vsz += varint_len(d);
		}
		bsz += 1 + ((uint64_t)(e - b) * bit_width(or_) + 7) / 8;
	}
	size[GX_IDX_AUTO] = 0;
	size[GX_IDX_U32] = (uint64_t)k * 4;
	size[GX_IDX_VARINT] = vsz;
	size[GX_IDX_BITPACK] = bsz;
	size[GX_IDX_BITMAP] = bitmap_size(n);
}

/* The smallest encoding; on a tie the one that decodes fastest (see the
 * measurements in docs/codecs.md: U32, BITPACK, BITMAP, VARINT). */
static int pick_smallest(const uint64_t size[GX_IDX__MAX])
{
	static const int order[] = { GX_IDX_U32, GX_IDX_BITPACK, GX_IDX_BITMAP, GX_IDX_VARINT };
	int best = order[0];
	for (size_t i = 1; i < sizeof order / sizeof order[0]; i++)
		if (size[order[i]] < size[best])
			best = order[i];
	return best;
}

size_t gx_sparse_index_size(const uint32_t *idx, size_t k, uint64_t n, int enc)
{
	if (enc < 0 || enc >= GX_IDX__MAX || (k && !idx))
		return 0;
	if (enc == GX_IDX_U32)
		return k * 4;
	if (enc == GX_IDX_BITMAP)
		return (size_t)bitmap_bytes(n);
	uint64_t size[GX_IDX__MAX];
	index_sizes(idx, k, n, size);
	if (enc == GX_IDX_AUTO)
		enc = pick_smallest(size);
	return (size_t)size[enc];
}

size_t gx_sparse_bound_enc(size_t k, uint64_t n, int value_codec, int enc)
{
	size_t vs = gx_sparse_value_size(value_codec);
	if (!vs || enc < 0 || enc >= GX_IDX__MAX)
		return SIZE_MAX;
	if (k > n)
		k = (size_t)n;
	/* Every gap is below n, so each takes at most the width of n-1. */
	uint32_t maxgap = n > UINT32_MAX ? UINT32_MAX : n ? (uint32_t)(n - 1) : 0;
	uint64_t ib;
	switch (enc) {
	case GX_IDX_AUTO: /* AUTO never exceeds U32 */
	case GX_IDX_U32:
		ib = (uint64_t)k * 4;
		break;
	case GX_IDX_VARINT:
		ib = (uint64_t)k * varint_len(maxgap);
		break;
	case GX_IDX_BITPACK: {
		uint64_t w = bit_width(maxgap), full = k / GX_BITPACK_BLOCK, r = k % GX_BITPACK_BLOCK;
		ib = full * (1 + GX_BITPACK_BLOCK / 8 * w) + (r ? 1 + (r * w + 7) / 8 : 0);
		break;
	}
	default:
		ib = bitmap_bytes(n);
		break;
	}
	uint64_t total = GX_SPARSE_HDR_SIZE + ib + (uint64_t)k * vs;
	return total > SIZE_MAX ? SIZE_MAX : (size_t)total;
}

size_t gx_sparse_bound(size_t k, uint64_t n, int value_codec)
{
	size_t m = 0;
	for (int e = GX_IDX_U32; e < GX_IDX__MAX; e++) {
		size_t b = gx_sparse_bound_enc(k, n, value_codec, e);
		if (b > m)
			m = b;
	}
	return m;
}

/* ---------------------------------------------------------------- encoders */

static size_t enc_varint(const uint32_t *idx, size_t k, uint8_t *o)
{
	uint8_t *p = o;
	for (size_t j = 0; j < k; j++) {
		uint32_t d = gap(idx, j);
		while (d >= 0x80) {
			*p++ = (uint8_t)(d | 0x80);
			d >>= 7;
		}
		*p++ = (uint8_t)d;
	}
	return (size_t)(p - o);
}

static size_t enc_bitpack(const uint32_t *idx, size_t k, uint8_t *o)
{
	uint8_t *p = o;
	uint32_t d[GX_BITPACK_BLOCK];
	for (size_t b = 0; b < k; b += GX_BITPACK_BLOCK) {
		size_t cnt = k - b < GX_BITPACK_BLOCK ? k - b : GX_BITPACK_BLOCK;
		uint32_t or_ = 0;
		for (size_t j = 0; j < cnt; j++) {
			d[j] = gap(idx, b + j);
			or_ |= d[j];
		}
		unsigned w = bit_width(or_);
		*p++ = (uint8_t)w;
		if (!w)
			continue;
		/* LSB-first: value j of the block occupies bits [j*w, j*w+w). acc
		 * holds < 32 pending bits before each add, so < 64 bits in all;
		 * whole 32-bit words go out as they fill. */
		uint64_t acc = 0;
		unsigned nb = 0;
		for (size_t j = 0; j < cnt; j++) {
			acc |= (uint64_t)d[j] << nb;
			nb += w;
			if (nb >= 32) {
				uint32_t lo = (uint32_t)acc;
				memcpy(p, &lo, 4);
				p += 4;
				acc >>= 32;
				nb -= 32;
			}
		}
		for (; nb > 0; nb = nb > 8 ? nb - 8 : 0) {
			*p++ = (uint8_t)acc;
			acc >>= 8;
		}
	}
	return (size_t)(p - o);
}

static size_t enc_bitmap(const uint32_t *idx, size_t k, uint64_t n, uint8_t *o)
{
	size_t nb = (size_t)bitmap_bytes(n);
	memset(o, 0, nb);
	for (size_t j = 0; j < k; j++)
		o[idx[j] >> 3] |= (uint8_t)(1u << (idx[j] & 7));
	return nb;
}

long gx_sparse_pack(const uint32_t *idx, const float *val, size_t k, uint64_t n, int value_codec,
		    int enc, uint8_t *out, size_t cap)
{
	size_t vs = gx_sparse_value_size(value_codec);
	if (!vs || enc < 0 || enc >= GX_IDX__MAX || k > n || k > UINT32_MAX ||
	    (k && (!idx || !val)) || !out)
		return GX_EINVAL;
	/* The caller promises strictly increasing indices below n; a broken
	 * promise would put an undecodable payload on the wire, so check. */
	for (size_t j = 0; j < k; j++)
		if ((j && idx[j] <= idx[j - 1]) || idx[j] >= n)
			return GX_EINVAL;

	uint64_t size[GX_IDX__MAX];
	if (enc == GX_IDX_AUTO || enc == GX_IDX_VARINT || enc == GX_IDX_BITPACK) {
		index_sizes(idx, k, n, size);
	} else {
		size[GX_IDX_U32] = (uint64_t)k * 4;
		size[GX_IDX_BITMAP] = bitmap_size(n);
	}
	if (enc == GX_IDX_AUTO)
		enc = pick_smallest(size);
	uint64_t ib = size[enc];
	if (ib > UINT32_MAX)
		return GX_ETOOBIG;
	uint64_t total = GX_SPARSE_HDR_SIZE + ib + (uint64_t)k * vs;
	if (total > cap || total > LONG_MAX)
		return GX_EINVAL;

	out[0] = (uint8_t)enc;
	out[1] = 0;
	out[2] = out[3] = 0;
	put_u32(out + 4, (uint32_t)k);
	put_u32(out + 8, (uint32_t)ib);
	uint8_t *p = out + GX_SPARSE_HDR_SIZE;
	size_t w = 0;
	switch (enc) {
	case GX_IDX_U32:
		memcpy(p, idx, k * 4);
		w = k * 4;
		break;
	case GX_IDX_VARINT:
		w = enc_varint(idx, k, p);
		break;
	case GX_IDX_BITPACK:
		w = enc_bitpack(idx, k, p);
		break;
	default:
		w = enc_bitmap(idx, k, n, p);
		break;
	}
	if (w != ib) /* size and encoder disagree: a bug here, not bad input */
		return GX_EINVAL;
	p += ib;
	if (vs == 4) {
		memcpy(p, val, k * 4);
	} else {
		/* gx_f32_to_f16 wants an aligned uint16_t array; p may be odd. */
		uint16_t h[1024];
		for (size_t j = 0; j < k; j += 1024) {
			size_t m = k - j < 1024 ? k - j : 1024;
			gx_f32_to_f16(val + j, h, m);
			memcpy(p + 2 * j, h, 2 * m);
		}
	}
	return (long)total;
}

/* ---------------------------------------------------------------- decoders */

int gx_sparse_parse(const uint8_t *p, size_t len, uint64_t count, int value_codec,
		    gx_sparse_info *info)
{
	size_t vs = gx_sparse_value_size(value_codec);
	if (!vs)
		return GX_ECODEC;
	if (len < GX_SPARSE_HDR_SIZE || !p)
		return GX_ELENGTH;
	int enc = p[0];
	if (enc == GX_IDX_AUTO || enc >= GX_IDX__MAX)
		return GX_ECORRUPT;
	if (p[1] || p[2] || p[3])
		return GX_ERESERVED;
	uint32_t nnz = get_u32(p + 4), ib = get_u32(p + 8);
	if (nnz > count)
		return GX_ELENGTH;
	if ((uint64_t)GX_SPARSE_HDR_SIZE + ib + (uint64_t)nnz * vs != len)
		return GX_ELENGTH;
	switch (enc) {
	case GX_IDX_U32:
		if (ib != (uint64_t)nnz * 4)
			return GX_ELENGTH;
		break;
	case GX_IDX_VARINT: /* 1..5 bytes each */
		if (ib < nnz || ib > (uint64_t)nnz * 5)
			return GX_ELENGTH;
		break;
	case GX_IDX_BITPACK: /* at least the width bytes */
		if (ib < (uint64_t)nnz / GX_BITPACK_BLOCK + (nnz % GX_BITPACK_BLOCK != 0))
			return GX_ELENGTH;
		break;
	default:
		if (ib != bitmap_bytes(count))
			return GX_ELENGTH;
		break;
	}
	info->enc = enc;
	info->nnz = nnz;
	info->index_bytes = ib;
	return 0;
}

/* Indices must lie below lim = min(count, 2^32): they are u32 on the wire. */
static int dec_u32(const uint8_t *s, uint32_t nnz, uint64_t lim, uint32_t *idx)
{
	memcpy(idx, s, (size_t)nnz * 4);
	/* One branch-free pass: any violation sets bad. */
	uint32_t bad = 0;
	for (uint32_t j = 1; j < nnz; j++)
		bad |= idx[j] <= idx[j - 1];
	if (bad || (nnz && idx[nnz - 1] >= lim))
		return GX_ECORRUPT;
	return 0;
}

static int dec_varint(const uint8_t *s, uint32_t ib, uint32_t nnz, uint64_t lim, uint32_t *idx)
{
	uint64_t next = 0; /* the smallest index the next entry may take */
	uint32_t pos = 0;
	for (uint32_t j = 0; j < nnz; j++) {
		if (pos >= ib)
			return GX_ECORRUPT;
		uint32_t b = s[pos++], v = b & 0x7f;
		if (b & 0x80) {
			unsigned shift = 7;
			for (;;) {
				if (pos >= ib)
					return GX_ECORRUPT;
				b = s[pos++];
				/* The 5th byte carries bits 28..31 only. */
				if (shift == 28 && b > 0x0f)
					return GX_ECORRUPT;
				v |= (b & 0x7f) << shift;
				if (!(b & 0x80))
					break;
				shift += 7;
			}
			/* A zero final byte after a continuation is over-long:
			 * one value, one encoding. */
			if (b == 0)
				return GX_ECORRUPT;
		}
		uint64_t x = next + v;
		if (x >= lim)
			return GX_ECORRUPT;
		idx[j] = (uint32_t)x;
		next = x + 1;
	}
	return pos == ib ? 0 : GX_ECORRUPT;
}

static int dec_bitpack(const uint8_t *s, uint32_t ib, uint32_t nnz, uint64_t lim, const uint8_t *end,
		       uint32_t *idx)
{
	uint64_t next = 0;
	uint32_t pos = 0;
	uint8_t tmp[GX_BITPACK_BLOCK * 4 + 8];
	for (uint32_t b = 0; b < nnz; b += GX_BITPACK_BLOCK) {
		uint32_t cnt = nnz - b < GX_BITPACK_BLOCK ? nnz - b : GX_BITPACK_BLOCK;
		if (pos >= ib)
			return GX_ECORRUPT;
		unsigned w = s[pos++];
		if (w > 32)
			return GX_ECORRUPT;
		uint32_t bits = cnt * w, nbytes = (bits + 7) / 8;
		if (nbytes > ib - pos)
			return GX_ECORRUPT;
		const uint8_t *src = s + pos;
		pos += nbytes;
		uint32_t *o = idx + b;
		if (w == 0) {
			if (next + cnt > lim)
				return GX_ECORRUPT;
			for (uint32_t j = 0; j < cnt; j++)
				o[j] = (uint32_t)(next + j);
			next += cnt;
			continue;
		}
		/* Padding bits after the last value must be zero. */
		if ((bits & 7) && (src[nbytes - 1] >> (bits & 7)))
			return GX_ECORRUPT;
		/* Each value is read with one unaligned 8-byte load (w <= 32 plus a
		 * shift <= 7 fits in 64 bits). Near the end of the buffer the block
		 * is copied to a padded local first so the loads stay in bounds. */
		if ((size_t)(end - src) < (size_t)nbytes + 8) {
			memcpy(tmp, src, nbytes);
			memset(tmp + nbytes, 0, 8);
			src = tmp;
		}
		uint64_t mask = (1ull << w) - 1;
		for (uint32_t j = 0, bit = 0; j < cnt; j++, bit += w) {
			uint64_t d = (load64(src + (bit >> 3)) >> (bit & 7)) & mask;
			uint64_t x = next + d;
			o[j] = (uint32_t)x;
			next = x + 1;
		}
		/* Indices only grow, so checking the last of the block suffices;
		 * next - 1 cannot wrap (at most 2^32 + 128 * 2^32). */
		if (next - 1 >= lim)
			return GX_ECORRUPT;
	}
	return pos == ib ? 0 : GX_ECORRUPT;
}

static int dec_bitmap(const uint8_t *s, uint32_t ib, uint32_t nnz, uint64_t count, uint32_t *idx)
{
	/* Bits at or beyond count must be clear (count <= ib * 8 < count + 8). */
	if (count % 8 && (s[ib - 1] >> (count % 8)))
		return GX_ECORRUPT;
	if (count > (uint64_t)UINT32_MAX + 1 && nnz) /* indices must fit in u32 */
		return GX_ECORRUPT;
	/* One pass: each word's popcount is checked against what remains of
	 * nnz before its indices are written, so idx never overflows. */
	size_t nw = ib / 8;
	uint32_t left = nnz;
	uint32_t *o = idx;
	for (size_t i = 0; i < nw; i++) {
		uint64_t w = load64(s + 8 * i);
		if (!w)
			continue;
		uint32_t pc = (uint32_t)__builtin_popcountll(w);
		if (pc > left)
			return GX_ECORRUPT;
		left -= pc;
		uint32_t base = (uint32_t)(i * 64);
		do {
			*o++ = base + (uint32_t)__builtin_ctzll(w);
			w &= w - 1;
		} while (w);
	}
	for (size_t i = nw * 8; i < ib; i++) {
		unsigned w = s[i];
		uint32_t pc = (uint32_t)__builtin_popcount(w);
		if (pc > left)
			return GX_ECORRUPT;
		left -= pc;
		uint32_t base = (uint32_t)(i * 8);
		while (w) {
			*o++ = base + (uint32_t)__builtin_ctz(w);
			w &= w - 1;
		}
	}
	return left ? GX_ECORRUPT : 0;
}

/* d[j] += f[j], or for a sum's first term d[j] = f[j] + 0.0f (not a copy:
 * 0.0f + -0.0f is +0.0f, the bits the term would have after zeros). */
static inline void fold_f32(float *d, const float *f, size_t m, int first)
{
	if (first)
		for (size_t j = 0; j < m; j++)
			d[j] = f[j] + 0.0f;
	else
		for (size_t j = 0; j < m; j++)
			d[j] += f[j];
}

void gx_add_f32_bytes(float *dst, const uint8_t *src, size_t n, int first)
{
	/* Fixed blocks of 8 so that gcc's -O2 (very cheap) vectorizer turns the
	 * inner loop into SIMD; a plain loop of unknown trip count stays
	 * scalar and runs at half the speed. */
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		float f[8];
		memcpy(f, src + 4 * i, sizeof f);
		fold_f32(dst + i, f, 8, first);
	}
	for (; i < n; i++) {
		float f;
		memcpy(&f, src + 4 * i, 4);
		fold_f32(dst + i, &f, 1, first);
	}
}

void gx_f16_bytes_to_f32(const uint8_t *src, float *dst, size_t n, int accumulate)
{
	if (!accumulate && ((uintptr_t)src & 1) == 0) {
		gx_f16_to_f32((const uint16_t *)(const void *)src, dst, n);
		return;
	}
	/* Unaligned source or adding: convert through small aligned blocks. */
	uint16_t h[2048];
	float f[2048];
	for (size_t j = 0; j < n; j += 2048) {
		size_t m = n - j < 2048 ? n - j : 2048;
		memcpy(h, src + 2 * j, 2 * m);
		if (!accumulate) {
			gx_f16_to_f32(h, dst + j, m);
			continue;
		}
		gx_f16_to_f32(h, f, m);
		gx_add_f32_bytes(dst + j, (const uint8_t *)f, m, 0);
	}
}

int gx_sparse_unpack(const uint8_t *p, size_t len, uint64_t count, int value_codec,
		     uint32_t *idx, float *dst, int accumulate)
{
	gx_sparse_info in;
	int rc = gx_sparse_parse(p, len, count, value_codec, &in);
	if (rc)
		return rc;
	if (in.nnz && !idx)
		return GX_EINVAL;
	const uint8_t *s = p + GX_SPARSE_HDR_SIZE;
	uint64_t lim = count < (uint64_t)UINT32_MAX + 1 ? count : (uint64_t)UINT32_MAX + 1;
	switch (in.enc) {
	case GX_IDX_U32:
		rc = dec_u32(s, in.nnz, lim, idx);
		break;
	case GX_IDX_VARINT:
		rc = dec_varint(s, in.index_bytes, in.nnz, lim, idx);
		break;
	case GX_IDX_BITPACK:
		rc = dec_bitpack(s, in.index_bytes, in.nnz, lim, p + len, idx);
		break;
	default:
		rc = dec_bitmap(s, in.index_bytes, in.nnz, count, idx);
		break;
	}
	if (rc || !dst)
		return rc;

	/* Everything checked: now, and only now, write dst. */
	if (!accumulate && count)
		memset(dst, 0, (size_t)count * sizeof *dst);
	const uint8_t *v = s + in.index_bytes;
	uint32_t nnz = in.nnz;
	if (value_codec == GX_CODEC_SPARSE_F32) {
		if (accumulate) {
			for (uint32_t j = 0; j < nnz; j++) {
				float f;
				memcpy(&f, v + 4 * (size_t)j, 4);
				dst[idx[j]] += f;
			}
		} else {
			for (uint32_t j = 0; j < nnz; j++)
				memcpy(&dst[idx[j]], v + 4 * (size_t)j, 4);
		}
		return 0;
	}
	float f[1024];
	for (uint32_t j = 0; j < nnz; j += 1024) {
		uint32_t m = nnz - j < 1024 ? nnz - j : 1024;
		gx_f16_bytes_to_f32(v + 2 * (size_t)j, f, m, 0);
		const uint32_t *ix = idx + j;
		if (accumulate)
			for (uint32_t i = 0; i < m; i++)
				dst[ix[i]] += f[i];
		else
			for (uint32_t i = 0; i < m; i++)
				dst[ix[i]] = f[i];
	}
	return 0;
}
