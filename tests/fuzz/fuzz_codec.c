/*
 * fuzz_codec.c — gx_codec_decode on arbitrary bytes.
 *
 * Input: an 8-byte prefix that becomes the frame header, then the payload.
 *   byte 0     codec (taken modulo 8, so unknown codecs 5..7 are tried too)
 *   byte 1     flags (taken modulo 8: ZSTD, CRC, LAST)
 *   bytes 2-3  count, little-endian (so at most 65535 elements)
 *   bytes 4-7  raw_len, little-endian; used only with GX_FF_ZSTD (without
 *              it raw_len is the payload length, as the frame layer demands),
 *              and then capped to 1 MiB like a receiver's max_payload would
 *   rest       the payload
 * Headers gx_frame_hdr_check refuses are decoded anyway: decode must not
 * trust its header, so it must survive those too.
 *
 * Besides "no crash, no out-of-bounds access" (ASan/UBSan), it checks that
 * both modes agree: overwrite and accumulate succeed or fail together, a
 * failed decode leaves dst untouched, and where both succeed, accumulating
 * onto zeros gives what overwriting gives.
 *
 * The seed corpus (tests/fuzz/corpus/codec) holds real encodings of every
 * wire codec, index encoding and zstd setting. It is rebuilt by compiling
 * this file with -DGX_FUZZ_CODEC_MAKE_CORPUS, which adds a main():
 *   cc -DGX_FUZZ_CODEC_MAKE_CORPUS -Ilib -Ikernels tests/fuzz/fuzz_codec.c \
 *      build/libgeomx.a -lzstd -lz -lm -lpthread -o /tmp/mkcorpus &&
 *   /tmp/mkcorpus tests/fuzz/corpus/codec
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"

#define PREFIX 8
#define MAX_RAW (1u << 20)

static gx_codec *codec;
static float *dst_a, *dst_b;

/* NaN-aware equality: the same number, both NaN, or both zero (0 + -0 is
 * +0 where overwrite gives -0). */
static int same(float a, float b)
{
	return a == b || (a != a && b != b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < PREFIX)
		return 0;
	if (!codec) {
		gx_codec_opts o;
		gx_codec_opts_default(&o);
		/* One handle for every input, as a receiver keeps one: its
		 * scratch carries over but decoding never reads stale scratch. */
		codec = gx_codec_create(&o, NULL);
		dst_a = malloc(65536 * sizeof(float));
		dst_b = malloc(65536 * sizeof(float));
		if (!codec || !dst_a || !dst_b)
			abort();
	}
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.codec = data[0] % 8;
	h.flags = data[1] % 8;
	h.count = (uint64_t)data[2] | (uint64_t)data[3] << 8;
	uint32_t raw = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 |
		       (uint32_t)data[7] << 24;
	const uint8_t *payload = data + PREFIX;
	size_t plen = size - PREFIX;
	if (plen > MAX_RAW)
		return 0;
	h.payload_len = (uint32_t)plen;
	h.raw_len = (h.flags & GX_FF_ZSTD) ? raw % (MAX_RAW + 1) : (uint32_t)plen;
	if (h.flags & GX_FF_CRC)
		h.payload_crc = gx_crc32c(0, payload, plen);
	gx_frame_limits lim = { MAX_RAW, 65535 };
	(void)gx_frame_hdr_check(&h, &lim);

	/* Copy the payload to an exact-size buffer so any read past
	 * payload_len is an ASan report (libFuzzer's buffer is exact already,
	 * replay's is not). */
	uint8_t *p = malloc(plen ? plen : 1);
	if (!p)
		abort();
	memcpy(p, payload, plen);

	size_t n = (size_t)h.count;
	for (size_t i = 0; i < n; i++) {
		dst_a[i] = NAN;
		dst_b[i] = 0.0f;
	}
	int ra = gx_codec_decode(codec, &h, p, dst_a, 0);
	int rb = gx_codec_decode(codec, &h, p, dst_b, 1);
	if ((ra == 0) != (rb == 0))
		abort();
	for (size_t i = 0; i < n; i++) {
		/* touched by a refused payload */
		if ((rb && dst_b[i] != 0.0f) || (ra && dst_a[i] == dst_a[i]))
			abort();
		if (!ra && !same(dst_a[i], dst_b[i]))
			abort();
	}
	if (ra && (ra >= 0 || ra <= GX_E__LAST))
		abort(); /* not a gx_error */
	free(p);
	return 0;
}

#ifdef GX_FUZZ_CODEC_MAKE_CORPUS
#include <stdio.h>

static int write_case(const char *dir, const char *name, const gx_frame_hdr *h, const uint8_t *p)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	uint8_t pre[PREFIX] = { h->codec, (uint8_t)(h->flags & 7), (uint8_t)h->count,
				(uint8_t)(h->count >> 8), (uint8_t)h->raw_len, (uint8_t)(h->raw_len >> 8),
				(uint8_t)(h->raw_len >> 16), (uint8_t)(h->raw_len >> 24) };
	int ok = fwrite(pre, 1, PREFIX, f) == PREFIX &&
		 fwrite(p, 1, h->payload_len, f) == h->payload_len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	static const char *cname[] = { "none", "f32", "f16", "sparse_f32", "sparse_f16" };
	static const char *ename[] = { "auto", "u32", "varint", "bitpack", "bitmap" };
	static const size_t sizes[] = { 1, 300, 3000 };
	static const double ratios[] = { 0.01, 0.3 };
	float *x = malloc(3000 * sizeof(float));
	uint8_t *out = malloc(65536);
	if (!x || !out)
		return 1;
	gx_rng r;
	gx_rng_seed(&r, 2024);
	for (size_t i = 0; i < 3000; i++) /* half smooth (compressible), half noise */
		x[i] = i < 1500 ? (float)(i % 17) * 0.25f : gx_rng_normal(&r);
	int files = 0;
	for (int c = GX_CODEC_F32; c < GX_CODEC__MAX; c++)
		for (int z = 0; z < 2; z++)
			for (int e = 0; e < GX_IDX__MAX; e++)
				for (size_t s = 0; s < 3; s++)
					for (size_t q = 0; q < 2; q++) {
						int sparse = c >= GX_CODEC_SPARSE_F32;
						/* dense codecs ignore enc and ratio */
						if (!sparse && (e || q))
							continue;
						/* a sparse 1-element tensor once is enough */
						if (sparse && sizes[s] == 1 && (e != 1 || q))
							continue;
						gx_codec_opts o;
						gx_codec_opts_default(&o);
						o.codec = c;
						o.zstd_level = z ? 3 : 0;
						o.index_enc = e;
						o.topk_ratio = ratios[q];
						o.exact = 1;
						gx_codec *k = gx_codec_create(&o, NULL);
						gx_frame_hdr h;
						gx_frame_hdr_init(&h);
						h.type = GX_FT_TENSOR;
						const float *src = x + (sizes[s] == 3000 ? 0 : 1500);
						if (!k ||
						    gx_codec_encode(k, src, sizes[s], NULL, &h, out, 65536)) {
							fprintf(stderr, "encode failed\n");
							return 1;
						}
						char name[128];
						snprintf(name, sizeof name, "%s-%s%s-n%zu%s", cname[c],
							 sparse ? ename[e] : "dense",
							 !z ? "" : (h.flags & GX_FF_ZSTD) ? "-zstd" : "-zstd-raw",
							 sizes[s], q ? "-r30" : "");
						if (write_case(argv[1], name, &h, out)) {
							perror(name);
							return 1;
						}
						files++;
						gx_codec_free(k);
					}
	/* The opaque codec: count 0, empty payload. */
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	if (write_case(argv[1], "none-empty", &h, out))
		return 1;
	files++;
	fprintf(stderr, "%d files\n", files);
	free(x);
	free(out);
	return 0;
}
#endif
