/*
 * fuzz_frame.c — libFuzzer target for the frame decoder.
 *
 * Input: byte 0 sets the largest chunk (1 + byte), byte 1 seeds the chunk
 * sizes (0: every chunk the largest size); the rest is the byte stream. The
 * stream is decoded twice, once in a single feed and once in those chunks
 * (bit 1 of byte 1: each payload placed in a buffer of its own once its
 * header is in, gx_decoder_place), and the two runs must agree on every
 * frame, the final status and where it came. Each frame's header must re-pack to the very bytes it came from,
 * re-parse to itself and pass gx_frame_hdr_check; a rejected stream must be
 * rejected for the reason gx_frame_hdr_parse (or the payload CRC) gives.
 * Violations abort(), which is how a fuzz target reports them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "kernels.h"

#define FAIL(...)                                                     \
	do {                                                          \
		fprintf(stderr, "fuzz_frame: " __VA_ARGS__);          \
		fputc('\n', stderr);                                  \
		abort();                                              \
	} while (0)

/* Moderate limits so the fuzzer explores rejection paths and a declared
 * length cannot make one input allocate much. */
static const gx_frame_limits lim = { 1u << 20, 1u << 24 };

typedef struct run {
	size_t *ends; /* offset just past each frame */
	size_t nframes;
	int rc;       /* final status: 0 or the error */
	size_t where; /* bytes consumed when the run stopped */
	int pending;  /* gx_decoder_pending at the end */
} run;

static int hdr_same(const gx_frame_hdr *a, const gx_frame_hdr *b)
{
	return a->version == b->version && a->type == b->type && a->flags == b->flags &&
	       a->key == b->key && a->sender == b->sender && a->round == b->round &&
	       a->seq == b->seq && a->count == b->count && a->payload_len == b->payload_len &&
	       a->raw_len == b->raw_len && a->codec == b->codec && a->priority == b->priority &&
	       a->channel == b->channel && a->block == b->block &&
	       a->payload_crc == b->payload_crc;
}

/* A frame the decoder returned, ending at offset end of s. */
static void check_frame(const gx_decoder *d, const uint8_t *s, size_t start, size_t end)
{
	gx_frame_hdr h, g;
	const uint8_t *p = NULL;
	uint8_t b[GX_FRAME_HDR_SIZE];

	gx_decoder_frame(d, &h, &p);
	if (!p)
		FAIL("ready frame without a payload pointer");
	if (end - start != GX_FRAME_HDR_SIZE + (size_t)h.payload_len)
		FAIL("frame of %zu bytes declares payload_len %u", end - start, h.payload_len);
	if (gx_frame_hdr_check(&h, &lim) != 0)
		FAIL("decoded header fails gx_frame_hdr_check: %d", gx_frame_hdr_check(&h, &lim));
	gx_frame_hdr_pack(&h, b);
	if (memcmp(b, s + start, sizeof b) != 0)
		FAIL("header does not re-pack to its bytes at %zu", start);
	if (gx_frame_hdr_parse(b, &lim, &g) != 0 || !hdr_same(&h, &g))
		FAIL("re-packed header does not parse back");
	if (memcmp(p, s + start + GX_FRAME_HDR_SIZE, h.payload_len) != 0)
		FAIL("payload differs from the input");
	uint32_t c = gx_crc32c(0, p, h.payload_len);
	if ((h.flags & GX_FF_CRC) && c != h.payload_crc)
		FAIL("payload CRC not verified");
	/* the CRC twins agree on whatever bytes the fuzzer makes */
	if (gx_k_crc32c_sw(0, p, h.payload_len) != c ||
	    (gx_k_cpu_has_sse42() && gx_k_crc32c_hw(0, p, h.payload_len) != c))
		FAIL("CRC-32C software and hardware twins disagree");
}

/* Why the frame starting at start of s (len bytes in all) should fail. */
static void check_error(const uint8_t *s, size_t len, size_t start, size_t where, int rc)
{
	gx_frame_hdr h;
	/* A bad magic is reported as soon as its 4 bytes are in. */
	if (len - start >= 4 && memcmp(s + start, "GXFR", 4) != 0) {
		if (rc != GX_EMAGIC || where != start + 4)
			FAIL("decoder error %d at %zu on a bad magic at %zu", rc, where, start);
		return;
	}
	if (len - start < GX_FRAME_HDR_SIZE)
		FAIL("error %d before a whole header", rc);
	int prc = gx_frame_hdr_parse(s + start, &lim, &h);
	if (prc != 0) {
		if (rc != prc || where != start + GX_FRAME_HDR_SIZE)
			FAIL("decoder error %d at %zu, parse says %d at %zu", rc, where, prc,
			     start + GX_FRAME_HDR_SIZE);
		return;
	}
	size_t end = start + GX_FRAME_HDR_SIZE + (size_t)h.payload_len;
	if (rc == GX_ENOMEM)
		return;
	if (rc != GX_ECRC || !(h.flags & GX_FF_CRC) || where != end || end > len ||
	    gx_crc32c(0, s + start + GX_FRAME_HDR_SIZE, h.payload_len) == h.payload_crc)
		FAIL("decoder error %d at %zu on a header that parses", rc, where);
}

/* Decodes s[0..len) in chunks of at most max bytes (max 0: one feed),
 * borrowing whole frames from the fed bytes or not (gx_decoder_borrow),
 * placing payloads in buffers of their own or not (gx_decoder_place). */
static void decode(const uint8_t *s, size_t len, size_t max, uint8_t seed, int borrow, int place,
		   run *r)
{
	gx_decoder *d = gx_decoder_create(&lim);
	gx_decoder_borrow(d, borrow);
	size_t pos = 0, start = 0;
	uint32_t x = seed;
	uint8_t *home = NULL; /* the current frame's placed payload */

	if (!d)
		FAIL("gx_decoder_create failed");
	r->nframes = 0;
	r->rc = 0;
	while (pos < len) {
		size_t want = len - pos, used = (size_t)-1;
		if (max) {
			size_t k = max;
			if (seed) {
				x = x * 1103515245u + 12345u;
				k = 1 + (x >> 16) % max;
			}
			if (want > k)
				want = k;
		}
		const gx_frame_hdr *fh = gx_decoder_header(d);
		if (place && fh && !home) {
			home = malloc(fh->payload_len ? fh->payload_len : 1);
			if (!home || gx_decoder_place(d, home) != 0)
				FAIL("cannot place a payload of %u bytes", fh->payload_len);
		}
		int rc = gx_decoder_feed(d, s + pos, want, &used);
		if (used > want)
			FAIL("used %zu of %zu", used, want);
		pos += used;
		if (rc < 0) {
			check_error(s, len, start, pos, rc);
			size_t again;
			if (gx_decoder_feed(d, s + pos, len - pos, &again) != rc || again != 0)
				FAIL("error %d not sticky", rc);
			if (gx_decoder_pending(d))
				FAIL("pending after an error");
			r->rc = rc;
			break;
		}
		if (rc == 1) {
			check_frame(d, s, start, pos);
			if (home) {
				const uint8_t *p;
				gx_decoder_frame(d, NULL, &p);
				if (p != home)
					FAIL("a placed payload handed out from elsewhere");
				free(home);
				home = NULL;
			}
			r->ends[r->nframes++] = pos;
			start = pos;
			if (gx_decoder_pending(d))
				FAIL("pending after a whole frame");
		} else if (rc == 0) {
			if (used != want)
				FAIL("returned 0 with %zu of %zu bytes unused", want - used, want);
			if (!gx_decoder_pending(d) != (pos == start))
				FAIL("pending %d with %zu bytes of a frame", gx_decoder_pending(d),
				     pos - start);
		} else {
			FAIL("feed returned %d", rc);
		}
	}
	free(home);
	r->where = pos;
	r->pending = gx_decoder_pending(d);

	/* Reset forgets everything: a minimal frame decodes afterwards. */
	gx_frame_hdr h;
	uint8_t b[GX_FRAME_HDR_SIZE];
	size_t used;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	gx_frame_hdr_pack(&h, b);
	gx_decoder_reset(d);
	if (gx_decoder_feed(d, b, sizeof b, &used) != 1 || used != sizeof b)
		FAIL("decoder unusable after reset");
	gx_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max = (size_t)data[0] + 1;
	uint8_t seed = data[1];
	const uint8_t *s = data + 2;
	size_t len = size - 2;
	size_t cap = len / GX_FRAME_HDR_SIZE + 1;
	run a = { malloc(cap * sizeof(size_t)), 0, 0, 0, 0 };
	run b = { malloc(cap * sizeof(size_t)), 0, 0, 0, 0 };
	if (!a.ends || !b.ends)
		FAIL("out of memory");

	/* Whole frames borrowed from one feed must decode exactly as chunks
	 * copied into the decoder (or borrowed, when a chunk holds a frame). */
	decode(s, len, 0, 0, 1, 0, &a);
	decode(s, len, max, seed, seed & 1, (seed & 2) != 0, &b);
	if (a.nframes != b.nframes || a.rc != b.rc || a.where != b.where ||
	    a.pending != b.pending)
		FAIL("one feed: %zu frames, status %d at %zu; chunks of <= %zu: %zu frames, "
		     "status %d at %zu",
		     a.nframes, a.rc, a.where, max, b.nframes, b.rc, b.where);
	if (memcmp(a.ends, b.ends, a.nframes * sizeof(size_t)) != 0)
		FAIL("frame boundaries differ between one feed and chunks");
	free(a.ends);
	free(b.ends);
	return 0;
}
