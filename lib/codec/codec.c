/*
 * codec.c — gx_codec: turns a float tensor into a frame payload and back.
 *
 * Encode is: choose the wire codec (fixed, or the MPQ policy by size), fold
 * the gradient into the error-feedback state when one is given, produce the
 * raw payload (dense F32/F16, or top-k + sparse pack), optionally run it
 * through zstd, and finally tell the error-feedback state exactly what the
 * receiver will decode. Decode trusts nothing in the header beyond what it
 * re-checks itself and writes dst only once the payload is known good.
 * docs/codecs.md describes the policy and the formats.
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "../base/passes.h"
#include "codec_internal.h"
#include "gx_codec.h"

/* A scratch buffer that only grows (a handle serves tensors of many sizes;
 * keeping the largest avoids an allocation per call). */
struct scratch {
	void *p;
	size_t cap; /* bytes */
};

struct gx_codec {
	gx_codec_opts o;
	gx_rng rng;         /* sampled top-k; seeded once from o.seed */
	struct scratch idx; /* uint32_t: selected / decoded indices */
	struct scratch val; /* float: gathered values, or f16 values read back */
	struct scratch raw; /* payload before zstd (encode) / after it (decode) */
	ZSTD_CCtx *cctx;    /* made on first use: most handles never compress */
	ZSTD_DCtx *dctx;
};

/* Makes s hold at least need bytes. Contents are not kept: every user
 * overwrites its scratch, and free+malloc avoids copying a stale buffer. */
static int grow(struct scratch *s, size_t need)
{
	if (need <= s->cap)
		return 0;
	free(s->p);
	s->p = malloc(need);
	s->cap = s->p ? need : 0;
	return s->p ? 0 : GX_ENOMEM;
}

void gx_codec_opts_default(gx_codec_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof *o);
	o->codec = GX_CODEC_F32;
	o->topk_ratio = GX_DEFAULT_TOPK;
	o->exact = 0;
	o->mpq_bound = GX_DEFAULT_MPQ_BOUND;
	o->zstd_level = 0;
	o->index_enc = GX_IDX_AUTO;
	o->crc = 0;
	o->seed = 1;
}

static int opts_check(const gx_codec_opts *o)
{
	switch (o->codec) {
	case GX_CODEC_F32:
	case GX_CODEC_F16:
		break;
	case GX_CODEC_SPARSE_F32:
	case GX_CODEC_SPARSE_F16:
	case GX_CODEC_MPQ:
		/* Written so that NaN fails too. */
		if (!(o->topk_ratio > 0 && o->topk_ratio <= 1))
			return GX_EINVAL;
		break;
	default:
		return GX_EINVAL;
	}
	if (o->index_enc < 0 || o->index_enc >= GX_IDX__MAX)
		return GX_EINVAL;
	if (o->zstd_level && (o->zstd_level < ZSTD_minCLevel() || o->zstd_level > ZSTD_maxCLevel()))
		return GX_EINVAL;
	return 0;
}

gx_codec *gx_codec_create(const gx_codec_opts *o, int *err)
{
	int rc = o ? opts_check(o) : GX_EINVAL;
	gx_codec *c = NULL;
	if (!rc) {
		c = calloc(1, sizeof *c);
		if (!c)
			rc = GX_ENOMEM;
	}
	if (err)
		*err = rc;
	if (rc)
		return NULL;
	c->o = *o;
	gx_rng_seed(&c->rng, o->seed);
	return c;
}

void gx_codec_free(gx_codec *c)
{
	if (!c)
		return;
	free(c->idx.p);
	free(c->val.p);
	free(c->raw.p);
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	free(c);
}

int gx_codec_choose(const gx_codec *c, uint64_t n)
{
	if (!c)
		return GX_EINVAL;
	int wc = c->o.codec;
	if (wc == GX_CODEC_MPQ)
		wc = n < c->o.mpq_bound ? GX_CODEC_F16 : GX_CODEC_SPARSE_F32;
	/* A sparse frame must have count >= 1 (gx_frame_hdr_check); an empty
	 * tensor goes as an empty dense payload instead. */
	if (n == 0 && (wc == GX_CODEC_SPARSE_F32 || wc == GX_CODEC_SPARSE_F16))
		wc = GX_CODEC_F32;
	return wc;
}

/* Entries kept of n: round(ratio * n), at least one, at most n. */
static uint64_t topk_count(const gx_codec *c, uint64_t n)
{
	double k = c->o.topk_ratio * (double)n + 0.5;
	uint64_t ki = k >= (double)n ? n : (uint64_t)k;
	return ki < 1 && n ? 1 : ki;
}

size_t gx_codec_bound(const gx_codec *c, uint64_t n)
{
	if (!c)
		return 0;
	int wc = gx_codec_choose(c, n);
	switch (wc) {
	case GX_CODEC_F32:
		return n > SIZE_MAX / 4 ? SIZE_MAX : (size_t)n * 4;
	case GX_CODEC_F16:
		return n > SIZE_MAX / 2 ? SIZE_MAX : (size_t)n * 2;
	default: {
		uint64_t k = topk_count(c, n);
		if (k > SIZE_MAX)
			return SIZE_MAX;
		/* The zstd stage never makes a payload bigger (it falls back to
		 * raw), so the raw bound is the bound. */
		return gx_sparse_bound_enc((size_t)k, n, wc, c->o.index_enc);
	}
	}
}

/* The sparse part of encode: select, gather, pack into dst. On success
 * *len is the raw payload size and c->idx / c->val hold what was sent
 * (c->val already rounded the way the receiver will see it). */
static int encode_sparse(gx_codec *c, int wc, const float *v, uint64_t n, uint8_t *dst,
			 size_t dcap, size_t *len, size_t *nsel)
{
	uint64_t k = topk_count(c, n);
	int rc = grow(&c->idx, (size_t)k * sizeof(uint32_t) + 1);
	if (!rc)
		rc = grow(&c->val, (size_t)k * sizeof(float) + 1);
	if (rc)
		return rc;
	uint32_t *idx = c->idx.p;
	float *val = c->val.p;
	long got = 0;
	if (k)
		got = c->o.exact ? gx_topk_exact(v, (size_t)n, (size_t)k, idx)
				 : gx_topk_sampled(v, (size_t)n, (size_t)k, &c->rng, idx);
	if (got < 0)
		return (int)got;
	if ((uint64_t)got > k) /* a selector bug must not overrun scratch */
		return GX_EINVAL;
	size_t m = (size_t)got;
	for (size_t j = 0; j < m; j++)
		val[j] = v[idx[j]];
	long r = gx_sparse_pack(idx, val, m, n, wc, c->o.index_enc, dst, dcap);
	if (r < 0)
		return (int)r;
	if (wc == GX_CODEC_SPARSE_F16) {
		/* Round the kept values as the receiver will see them. */
		uint16_t h[1024];
		for (size_t j = 0; j < m; j += 1024) {
			size_t b = m - j < 1024 ? m - j : 1024;
			gx_f32_to_f16(val + j, h, b);
			gx_f16_to_f32(h, val + j, b);
		}
	}
	*len = (size_t)r;
	*nsel = m;
	return 0;
}

int gx_codec_encode(gx_codec *c, const float *x, uint64_t n, gx_ef *ef, gx_frame_hdr *h,
		    uint8_t *out, size_t cap)
{
	if (!c || !h || (n && !x))
		return GX_EINVAL;
	int wc = gx_codec_choose(c, n);
	int sparse = wc == GX_CODEC_SPARSE_F32 || wc == GX_CODEC_SPARSE_F16;
	size_t bound = gx_codec_bound(c, n);
	/* Lengths travel as u32; sparse indices are u32. */
	if (bound > UINT32_MAX || (sparse && n > UINT32_MAX))
		return GX_ETOOBIG;
	/* Every argument is checked before ef is touched, so a refused call
	 * leaves the error-feedback state as it was. */
	if (cap < bound || (bound && !out))
		return GX_EINVAL;
	if (ef && gx_ef_count(ef) != n)
		return GX_EINVAL;

	const float *v = x;
	if (ef) {
		v = gx_ef_accumulate(ef, x);
		if (!v)
			return GX_EINVAL;
	}

	int zstd = c->o.zstd_level != 0;
	const uint8_t *raw = NULL; /* the payload before the zstd stage */
	size_t raw_len = 0, nsel = 0;
	int rc = 0;
	switch (wc) {
	case GX_CODEC_F32:
		raw_len = (size_t)n * 4;
		if (zstd) {
			raw = (const uint8_t *)v; /* compress straight from the input */
		} else {
			if (raw_len)
				memcpy(out, v, raw_len);
			raw = out;
		}
		break;
	case GX_CODEC_F16: {
		raw_len = (size_t)n * 2;
		/* gx_f32_to_f16 wants an aligned uint16_t array; out may be odd. */
		uint16_t *h16;
		if (!zstd && ((uintptr_t)out & 1) == 0) {
			h16 = (uint16_t *)(void *)out;
		} else {
			if ((rc = grow(&c->raw, raw_len + 1)))
				return rc;
			h16 = c->raw.p;
		}
		gx_f32_to_f16(v, h16, (size_t)n);
		if (ef) {
			if ((rc = grow(&c->val, (size_t)n * sizeof(float) + 1)))
				return rc;
			gx_f16_to_f32(h16, c->val.p, (size_t)n);
		}
		if (!zstd && (uint8_t *)h16 != out)
			memcpy(out, h16, raw_len);
		raw = zstd ? (const uint8_t *)h16 : out;
		break;
	}
	default: {
		uint8_t *dst = out;
		size_t dcap = cap;
		if (zstd) {
			if ((rc = grow(&c->raw, bound + 1)))
				return rc;
			dst = c->raw.p;
			dcap = bound;
		}
		if ((rc = encode_sparse(c, wc, v, n, dst, dcap, &raw_len, &nsel)))
			return rc;
		raw = dst;
		break;
	}
	}

	uint16_t flags = (uint16_t)(h->flags & ~(GX_FF_ZSTD | GX_FF_CRC));
	size_t payload_len = raw_len;
	if (zstd && raw_len) {
		if (!c->cctx && !(c->cctx = ZSTD_createCCtx()))
			return GX_ENOMEM;
		/* Only a strictly smaller result is worth the receiver's time: give
		 * zstd one byte less than raw and send raw when it does not fit. */
		size_t zcap = raw_len - 1 < cap ? raw_len - 1 : cap;
		size_t z = ZSTD_compressCCtx(c->cctx, out, zcap, raw, raw_len, c->o.zstd_level);
		if (!ZSTD_isError(z)) {
			payload_len = z;
			flags |= GX_FF_ZSTD;
		} else if (ZSTD_getErrorCode(z) == ZSTD_error_dstSize_tooSmall) {
			memcpy(out, raw, raw_len);
		} else {
			return GX_EZSTD;
		}
	}

	/* The payload is final: record what the receiver will decode. */
	if (ef) {
		switch (wc) {
		case GX_CODEC_F32:
			/* Everything was sent exactly. Zeroing (rather than v -= v)
			 * keeps an infinite entry from turning into NaN. */
			memset(gx_ef_residual(ef), 0, (size_t)n * sizeof(float));
			break;
		case GX_CODEC_F16:
			gx_ef_commit_dense(ef, c->val.p);
			break;
		case GX_CODEC_SPARSE_F32:
			gx_ef_commit_sparse(ef, c->idx.p, NULL, nsel);
			break;
		default:
			gx_ef_commit_sparse(ef, c->idx.p, c->val.p, nsel);
			break;
		}
	}

	h->codec = (uint8_t)wc;
	h->count = n;
	h->payload_len = (uint32_t)payload_len;
	h->raw_len = (uint32_t)raw_len;
	h->payload_crc = 0;
	if (c->o.crc) {
		flags |= GX_FF_CRC;
		h->payload_crc = gx_crc32c(0, out, payload_len);
	}
	h->flags = flags;
	return 0;
}

int gx_codec_encode_nonzero(gx_codec *c, const float *x, uint64_t n, gx_frame_hdr *h,
			    uint8_t *out, size_t cap)
{
	if (!c || !h || (n && (!x || !out)) || n > UINT32_MAX / 4)
		return GX_EINVAL;
	if (cap < n * 4)
		return GX_ETOOBIG;
	gx_frame_hdr_init(h);
	h->count = n;
	int rc = grow(&c->idx, (size_t)(n ? n : 1) * sizeof(uint32_t));
	if (!rc)
		rc = grow(&c->val, (size_t)(n ? n : 1) * sizeof(float));
	if (rc)
		return rc;
	uint32_t *idx = c->idx.p;
	float *val = c->val.p;
	size_t k = 0;
	for (uint64_t i = 0; i < n; i++)
		if (x[i] != 0.0f) {
			idx[k] = (uint32_t)i;
			val[k++] = x[i];
		}
	long len = -1;
	/* Sparse only where it is smaller than dense: then it fits in cap. */
	if (gx_sparse_bound(k, n, GX_CODEC_SPARSE_F32) < n * 4)
		len = gx_sparse_pack(idx, val, k, n, GX_CODEC_SPARSE_F32, c->o.index_enc, out, cap);
	if (len == GX_ENOMEM)
		return GX_ENOMEM;
	if (len >= 0 && (uint64_t)len < n * 4) {
		h->codec = GX_CODEC_SPARSE_F32;
		h->payload_len = h->raw_len = (uint32_t)len;
	} else {
		h->codec = GX_CODEC_F32;
		h->payload_len = h->raw_len = (uint32_t)(n * 4);
		if (n)
			memcpy(out, x, (size_t)n * 4);
	}
	return 0;
}

int gx_codec_decode(gx_codec *c, const gx_frame_hdr *h, const uint8_t *payload, float *dst,
		    int accumulate)
{
	if (!c || !h || (h->payload_len && !payload) || (h->count && !dst))
		return GX_EINVAL;
	if (h->flags & ~GX_FF__ALL)
		return GX_EFLAGS;
	int zstd = (h->flags & GX_FF_ZSTD) != 0;
	uint64_t count = h->count;
	uint32_t raw_len = h->raw_len;
	/* dst holds count floats, so count * 4 must be a size. */
	if (count > SIZE_MAX / sizeof(float))
		return GX_ETOOBIG;
	if (!zstd && raw_len != h->payload_len)
		return GX_ELENGTH;

	/* The raw size the codec allows, checked before anything is allocated
	 * or decompressed: memory spent on a frame is bounded by its count. */
	size_t vs = 0;
	switch (h->codec) {
	case GX_CODEC_NONE:
		return count ? GX_ELENGTH : 0;
	case GX_CODEC_F32:
		if (count > UINT32_MAX / 4 || raw_len != count * 4)
			return GX_ELENGTH;
		break;
	case GX_CODEC_F16:
		if (count > UINT32_MAX / 2 || raw_len != count * 2)
			return GX_ELENGTH;
		break;
	case GX_CODEC_SPARSE_F32:
	case GX_CODEC_SPARSE_F16:
		vs = gx_sparse_value_size(h->codec);
		/* Index bytes are at most 5 per entry (a varint) or count/8 (a
		 * bitmap, smaller than 5 per element), nnz <= count. */
		if (raw_len < GX_SPARSE_HDR_SIZE ||
		    (uint64_t)raw_len - GX_SPARSE_HDR_SIZE > (uint64_t)(5 + vs) * (count > UINT32_MAX ? UINT32_MAX : count))
			return GX_ELENGTH;
		break;
	default:
		return GX_ECODEC;
	}

	const uint8_t *raw = payload;
	if (zstd) {
		if (!c->dctx && !(c->dctx = ZSTD_createDCtx()))
			return GX_ENOMEM;
		/* Exactly one zstd frame, covering the whole payload, whose
		 * declared size is raw_len. */
		size_t fl = ZSTD_findFrameCompressedSize(payload, h->payload_len);
		if (ZSTD_isError(fl) || fl != h->payload_len)
			return GX_EZSTD;
		unsigned long long fcs = ZSTD_getFrameContentSize(payload, h->payload_len);
		if (fcs == ZSTD_CONTENTSIZE_UNKNOWN || fcs == ZSTD_CONTENTSIZE_ERROR)
			return GX_EZSTD;
		if (fcs != raw_len)
			return GX_ELENGTH;
		int rc = grow(&c->raw, (size_t)raw_len + 1);
		if (rc)
			return rc;
		size_t r = ZSTD_decompressDCtx(c->dctx, c->raw.p, raw_len, payload, h->payload_len);
		if (ZSTD_isError(r))
			return GX_EZSTD;
		if (r != raw_len)
			return GX_ELENGTH;
		raw = c->raw.p;
	}

	/* Received where it belongs (gx_decoder_place): already decoded. */
	if (h->codec == GX_CODEC_F32 && !accumulate && (const void *)raw == (const void *)dst)
		return 0;
	GX_PASS(GX_PASS_DECODE, raw_len);
	int first = accumulate == GX_DECODE_FIRST;
	switch (h->codec) {
	case GX_CODEC_F32:
		if (accumulate)
			gx_add_f32_bytes(dst, raw, (size_t)count, first);
		else if (count)
			memcpy(dst, raw, (size_t)count * 4);
		return 0;
	case GX_CODEC_F16:
		gx_f16_bytes_to_f32(raw, dst, (size_t)count, accumulate && !first);
		break;
	default: {
		gx_sparse_info in;
		int rc = gx_sparse_parse(raw, raw_len, count, h->codec, &in);
		if (rc)
			return rc;
		if ((rc = grow(&c->idx, (size_t)in.nnz * sizeof(uint32_t) + 1)))
			return rc;
		rc = gx_sparse_unpack(raw, raw_len, count, h->codec, c->idx.p, dst,
				      accumulate && !first);
		if (rc)
			return rc;
	}
	}
	/* The first term of a sum, overwritten above: + 0.0f gives the bits
	 * that adding it to zeros gives. */
	if (first)
		gx_add_f32_bytes(dst, (const uint8_t *)dst, (size_t)count, 1);
	return 0;
}

void gx_codec_fold_f32(float *dst, const float *src, uint64_t n, int first)
{
	gx_add_f32_bytes(dst, (const uint8_t *)src, (size_t)n, first);
}
