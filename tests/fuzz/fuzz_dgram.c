/*
 * fuzz_dgram.c — libFuzzer target for the datagram parser and opener of
 * lib/net/dgram.c: the bytes anyone who can reach a server's UDP port can
 * send it.
 *
 * Input: byte 0 chooses the mode (its low two bits), the rest is:
 *   0  a datagram, opened as plaintext (CRC-32C);
 *   1  a datagram, opened under a fixed ChaCha20-Poly1305 key;
 *   2  the same under AES-256-GCM (ChaCha20 where the CPU has no AES);
 *   3  a block to seal: head fields (kind, channel, codec u8; party, key,
 *      slice, round, block u32; count u16; rel u32), body bytes, then a tamper
 *      position (u16) and xor (u8); sealed under the ChaCha20 key (bit 2
 *      of byte 0: plaintext), opened, then opened again with the byte at
 *      the position (modulo the length) altered by the xor.
 * Checks: gx_dg_peek and gx_dg_open agree on the shape; a datagram that
 * opens seals back, from what it opened to, into the very same bytes; what
 * is sealed opens to itself; an altered datagram never opens (xor 0: it
 * must). Only the errors the header names come back. Violations abort().
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "net/dgram.h"
#include "net/secure.h"

#define FAIL(...)                                             \
	do {                                                  \
		fprintf(stderr, "fuzz_dgram: " __VA_ARGS__);  \
		fputc('\n', stderr);                          \
		abort();                                      \
	} while (0)

static gx_dg_key *g_chacha, *g_aes;
static uint8_t g_a[GX_DG_MAX + 64], g_b[GX_DG_MAX + 64];

static void setup(void)
{
	static const uint8_t k[32] = { 0x67, 0x78, 0x64, 0x67, 1, 2, 3, 4 };
	if (g_chacha)
		return;
	g_chacha = gx_dg_key_new(GX_SEC_CHACHA20, k);
	g_aes = gx_dg_key_new(GX_SEC_AES256GCM, k);
	if (!g_aes)
		g_aes = g_chacha;
	if (!g_chacha)
		FAIL("no key");
}

static int known(int rc)
{
	return rc == 0 || rc == GX_EMAGIC || rc == GX_EVERSION || rc == GX_ETYPE ||
	       rc == GX_ECODEC || rc == GX_EFLAGS || rc == GX_ELENGTH || rc == GX_EAUTH ||
	       rc == GX_ECRC;
}

/* Opens the n bytes of d (kept intact) under k; on success checks that
 * they seal back to themselves. Returns open's status. */
static int open_check(const gx_dg_key *k, const uint8_t *d, size_t n)
{
	gx_dg_head h, p;
	memcpy(g_a, d, n);
	int peek = gx_dg_peek(d, n, k != NULL, &p);
	int rc = gx_dg_open(k, g_a, n, &h, NULL);
	if (!known(rc) || !known(peek))
		FAIL("unknown status %d (peek %d)", rc, peek);
	if (peek && rc != peek)
		FAIL("peek says %d, open %d", peek, rc);
	if (rc)
		return rc;
	if (peek)
		FAIL("opened what peek refused");
	long m = gx_dg_seal(k, &h, g_a + GX_DG_HEAD, g_b, sizeof g_b);
	if (m != (long)n || memcmp(g_b, d, n) != 0)
		FAIL("an opened datagram does not seal back to itself (%ld of %zu bytes)", m, n);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 1 || size > GX_DG_MAX + 1)
		return 0;
	int mode = data[0] & 3;
	const uint8_t *d = data + 1;
	size_t n = size - 1;
	if (mode < 3) {
		open_check(mode == 0 ? NULL : mode == 1 ? g_chacha : g_aes, d, n);
		return 0;
	}
	if (n < 32) /* the head's fields and a tamper */
		return 0;
	const gx_dg_key *k = (data[0] & 4) ? NULL : g_chacha;
	gx_dg_head h = { .kind = d[0], .channel = d[1], .codec = d[2] };
	memcpy(&h.party, d + 3, 4);
	memcpy(&h.key, d + 7, 4);
	memcpy(&h.slice, d + 11, 4);
	memcpy(&h.round, d + 15, 4);
	memcpy(&h.block, d + 19, 4);
	memcpy(&h.count, d + 23, 2);
	memcpy(&h.rel, d + 25, 4);
	const uint8_t *body = d + 29, *end = d + n;
	/* an ask's body is bytes (codec NONE), a block's elements */
	size_t es = h.kind == GX_DG_ASK ? (h.codec == GX_CODEC_NONE ? 1 : 0)
					: gx_wire_elem_size(h.codec);
	size_t blen = (size_t)h.count * es;
	if ((size_t)(end - body) < blen + 3)
		blen = 0, h.count = 0;
	const uint8_t *tail = body + blen;
	static uint8_t sealed[GX_DG_MAX + 64];
	long m = gx_dg_seal(k, &h, body, sealed, sizeof sealed);
	int good = (h.kind == GX_DG_ASK
			    ? es && h.block >= GX_DG_ASK_BLOCK && h.block <= GX_DG_SLICE_MAX
			    : (h.kind == GX_DG_BLOCK || h.kind == GX_DG_ANSWER) && es &&
				      h.block <= GX_DG_INDEX_MAX) &&
		   h.slice <= GX_DG_SLICE_MAX;
	if (m < 0) {
		if (m != GX_EINVAL || (good && blen + 64 < GX_DG_MAX))
			FAIL("seal refused a good block: %ld", m);
		return 0;
	}
	if (!good)
		FAIL("sealed a bad head");
	if (open_check(k, sealed, (size_t)m) != 0)
		FAIL("a sealed datagram does not open");
	if (memcmp(g_a + GX_DG_HEAD, body, blen) != 0)
		FAIL("a sealed datagram opens to other bytes");
	size_t at = (size_t)(tail[0] | tail[1] << 8) % (size_t)m;
	uint8_t x = tail[2];
	sealed[at] ^= x;
	int rc = open_check(k, sealed, (size_t)m);
	if (x && rc == 0)
		FAIL("an altered datagram (byte %zu ^ %u) opens", at, x);
	if (!x && rc != 0)
		FAIL("an intact datagram does not open: %d", rc);
	return 0;
}
