/*
 * gen_frame_corpus.c — writes the seed corpus of fuzz_frame: valid frames of
 * every codec with every flag combination, multi-frame streams, and one
 * malformed frame per validation error. Deterministic, so rerunning it
 * rewrites the same files. Each file starts with the two chunking bytes
 * fuzz_frame.c reads (largest chunk - 1, chunk seed).
 *
 *   make BUILD=build build/libgeomx.a
 *   cc -std=c11 -Ilib -D_GNU_SOURCE tests/fuzz/gen_frame_corpus.c build/libgeomx.a \
 *      -lzstd -lpthread -o build/gen_frame_corpus
 *   build/gen_frame_corpus tests/fuzz/corpus/frame
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "geomx.h"

static const char *outdir;
static uint64_t rs = 42;
static int nfiles;

static uint32_t rnd(void)
{
	rs = rs * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rs >> 33);
}

/* A stream under construction. */
typedef struct buf {
	uint8_t d[1 << 16];
	size_t n;
} buf;

static void emit(const char *name, uint8_t max, uint8_t seed, const buf *b)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", outdir, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	uint8_t pre[2] = { max, seed };
	if (fwrite(pre, 1, 2, f) != 2 || fwrite(b->d, 1, b->n, f) != b->n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	nfiles++;
}

/* A plausible raw payload for codec with count elements; returns its size. */
static size_t make_raw(int codec, uint64_t count, uint8_t *out)
{
	size_t n = 0;
	switch (codec) {
	case GX_CODEC_NONE:
		n = 1 + rnd() % 40;
		for (size_t i = 0; i < n; i++)
			out[i] = (uint8_t)rnd();
		return n;
	case GX_CODEC_F32:
		for (uint64_t i = 0; i < count; i++) {
			float v = (float)((int)(rnd() % 2001) - 1000) / 256.0f;
			memcpy(out + 4 * i, &v, 4); /* the corpus is made on little-endian hosts */
		}
		return (size_t)count * 4;
	case GX_CODEC_F16:
		for (uint64_t i = 0; i < count; i++) {
			uint16_t v = (uint16_t)(0x3c00 + rnd() % 0x400);
			out[2 * i] = (uint8_t)v;
			out[2 * i + 1] = (uint8_t)(v >> 8);
		}
		return (size_t)count * 2;
	default: {
		/* a 12-byte sparse header (u8 index_enc, u8, u16, u32 nnz,
		 * u32 index_bytes), raw u32 indices, then the values */
		uint32_t nnz = 1 + (uint32_t)(count / 10);
		uint32_t vsize = codec == GX_CODEC_SPARSE_F32 ? 4 : 2;
		memset(out, 0, 12);
		out[0] = GX_IDX_U32;
		memcpy(out + 4, &nnz, 4);
		uint32_t ib = 4 * nnz;
		memcpy(out + 8, &ib, 4);
		n = 12;
		for (uint32_t i = 0; i < nnz; i++, n += 4) {
			uint32_t idx = i * 10;
			memcpy(out + n, &idx, 4);
		}
		for (uint32_t i = 0; i < nnz; i++, n += vsize)
			for (uint32_t k = 0; k < vsize; k++)
				out[n + k] = (uint8_t)rnd();
		return n;
	}
	}
}

/* Appends a valid frame of codec with flags to b; returns the header so a
 * caller can break it. */
static gx_frame_hdr add_frame(buf *b, int type, int codec, unsigned flags, uint64_t count)
{
	static uint8_t raw[1 << 14], z[1 << 15];
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = (uint8_t)type;
	h.codec = (uint8_t)codec;
	h.flags = (uint16_t)flags;
	h.key = rnd() % 16;
	h.sender = rnd() % 4;
	h.seq = rnd() % 1000;
	h.round = rnd() % 100;
	h.channel = (uint16_t)(rnd() % 3);
	h.priority = (uint8_t)(rnd() % 4);
	h.count = codec == GX_CODEC_NONE ? 0 : count;
	size_t rn = make_raw(codec, h.count, raw);
	const uint8_t *pl = raw;
	size_t pn = rn;
	if (flags & GX_FF_ZSTD) {
		pn = ZSTD_compress(z, sizeof z, raw, rn, 3);
		if (ZSTD_isError(pn)) {
			fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(pn));
			exit(1);
		}
		pl = z;
	}
	h.raw_len = (uint32_t)rn;
	h.payload_len = (uint32_t)pn;
	if (flags & GX_FF_CRC)
		h.payload_crc = gx_crc32c(0, pl, pn);
	if (gx_frame_hdr_check(&h, NULL) != 0) {
		fprintf(stderr, "generated an invalid header: %d\n", gx_frame_hdr_check(&h, NULL));
		exit(1);
	}
	gx_frame_hdr_pack(&h, b->d + b->n);
	memcpy(b->d + b->n + GX_FRAME_HDR_SIZE, pl, pn);
	b->n += GX_FRAME_HDR_SIZE + pn;
	return h;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One malformed frame: a valid F32 frame whose header is then edited by
 * poke (with the header CRC recomputed unless keep_crc). */
static void bad(const char *name, void (*poke)(gx_frame_hdr *h), int byte, uint8_t val,
		int keep_crc)
{
	buf *b = calloc(1, sizeof *b);
	gx_frame_hdr h = add_frame(b, GX_FT_TENSOR, GX_CODEC_F32, GX_FF_CRC, 8);
	if (poke) {
		poke(&h);
		gx_frame_hdr_pack(&h, b->d);
	}
	if (byte >= 0) {
		b->d[byte] = val;
		if (!keep_crc)
			put32(b->d + 60, gx_crc32c(0, b->d, 60));
	}
	emit(name, 255, 0, b);
	free(b);
}

static void p_type0(gx_frame_hdr *h) { h->type = 0; }
static void p_type64(gx_frame_hdr *h) { h->type = GX_FT__MAX; }
static void p_codec(gx_frame_hdr *h) { h->codec = GX_CODEC__MAX; }
static void p_flags(gx_frame_hdr *h) { h->flags |= 1u << 3; }
static void p_crcnoflag(gx_frame_hdr *h) { h->flags = 0; }
/* sizes just over fuzz_frame.c's limits (1 MiB, 2^24 elements) */
static void p_bigpayload(gx_frame_hdr *h)
{
	h->payload_len = h->raw_len = (1u << 20) + 4;
	h->count = h->raw_len / 4;
}
static void p_bigcount(gx_frame_hdr *h)
{
	h->codec = GX_CODEC_SPARSE_F32;
	h->count = (1ull << 24) + 1;
}
static void p_rawne(gx_frame_hdr *h) { h->raw_len += 4; }
static void p_zstd0(gx_frame_hdr *h) { h->flags |= GX_FF_ZSTD; h->payload_len = 0; }
static void p_nonecount(gx_frame_hdr *h) { h->codec = GX_CODEC_NONE; }
static void p_f16len(gx_frame_hdr *h) { h->codec = GX_CODEC_F16; }
static void p_sparse0(gx_frame_hdr *h) { h->codec = GX_CODEC_SPARSE_F16; h->count = 0; }
static void p_sparseshort(gx_frame_hdr *h)
{
	h->codec = GX_CODEC_SPARSE_F32;
	h->payload_len = h->raw_len = 8;
}
static void p_f32wrap(gx_frame_hdr *h) { h->count += 1ull << 62; }
static void p_paycrc(gx_frame_hdr *h) { h->payload_crc ^= 1; }

int main(int argc, char **argv)
{
	static const char *cname[] = { "none", "f32", "f16", "sparse_f32", "sparse_f16" };
	if (argc != 2) {
		fprintf(stderr, "usage: gen_frame_corpus DIR\n");
		return 2;
	}
	outdir = argv[1];

	/* every codec x every flag combination, one frame each, chunked in
	 * a few different ways */
	for (int c = 0; c < GX_CODEC__MAX; c++)
		for (unsigned fl = 0; fl <= GX_FF__ALL; fl++) {
			buf *b = calloc(1, sizeof *b);
			char name[64];
			add_frame(b, GX_FT_TENSOR, c, fl, 1 + rnd() % 64);
			snprintf(name, sizeof name, "valid-%s-flags%u", cname[c], fl);
			emit(name, (uint8_t)(fl * 9), (uint8_t)c, b);
			free(b);
		}

	/* streams of several frames, fed whole, bytewise and in random chunks */
	static const uint8_t chunking[][2] = { { 255, 0 }, { 0, 0 }, { 63, 7 }, { 100, 200 } };
	for (int s = 0; s < 4; s++) {
		buf *b = calloc(1, sizeof *b);
		char name[64];
		int n = 3 + s * 3;
		for (int i = 0; i < n; i++) {
			/* now and then a control type */
			int type = i % 4 == 3 ? 16 + (int)(rnd() % 48)
					      : GX_FT_TENSOR + (int)(rnd() % 2);
			unsigned fl = rnd() % 8;
			if (i == n - 1)
				fl |= GX_FF_LAST;
			add_frame(b, type, (int)(rnd() % GX_CODEC__MAX), fl, 1 + rnd() % 200);
		}
		snprintf(name, sizeof name, "stream-%d-frames", n);
		emit(name, chunking[s][0], chunking[s][1], b);
		free(b);
	}

	/* one per validation error */
	bad("bad-magic", NULL, 0, 'g', 0);
	bad("bad-version", NULL, 4, 2, 0);
	bad("bad-hdr-crc", NULL, 61, 0x5a, 1);
	bad("bad-reserved", NULL, 57, 1, 0);
	bad("bad-type-0", p_type0, -1, 0, 0);
	bad("bad-type-64", p_type64, -1, 0, 0);
	bad("bad-codec", p_codec, -1, 0, 0);
	bad("bad-flags-unknown", p_flags, -1, 0, 0);
	bad("bad-flags-crc-without-flag", p_crcnoflag, -1, 0, 0);
	bad("toobig-payload", p_bigpayload, -1, 0, 0);
	bad("toobig-count", p_bigcount, -1, 0, 0);
	bad("len-raw-ne-payload", p_rawne, -1, 0, 0);
	bad("len-zstd-empty", p_zstd0, -1, 0, 0);
	bad("len-none-count", p_nonecount, -1, 0, 0);
	bad("len-f16", p_f16len, -1, 0, 0);
	bad("len-sparse-count0", p_sparse0, -1, 0, 0);
	bad("len-sparse-short", p_sparseshort, -1, 0, 0);
	bad("toobig-count-f32-wrap", p_f32wrap, -1, 0, 0);
	bad("payload-crc", p_paycrc, -1, 0, 0);

	/* a valid frame, then one cut short in its payload */
	buf *b = calloc(1, sizeof *b);
	add_frame(b, GX_FT_TENSOR, GX_CODEC_F16, GX_FF_CRC, 30);
	add_frame(b, GX_FT_STATE, GX_CODEC_F32, 0, 30);
	b->n -= 17;
	emit("truncated-payload", 31, 3, b);
	b->n = GX_FRAME_HDR_SIZE - 1;
	emit("truncated-header", 0, 0, b);
	free(b);

	fprintf(stderr, "%d files in %s\n", nfiles, outdir);
	return 0;
}
