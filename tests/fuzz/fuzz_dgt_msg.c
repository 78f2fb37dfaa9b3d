/*
 * fuzz_dgt_msg.c — libFuzzer target for the payloads of DGT's rounds
 * (lib/wire/dgt_msg.c): DGT_PUSH and DGT_ACK, which a global server parses
 * from its locals and a local from the global.
 *
 * Input: byte 0 picks the parser (bit 0: push, else ack); bytes 1-4 are
 * the slice's element count (push; u32 LE, at most 2^24) or its blocks
 * (ack); the rest is the payload. Whatever a parser accepts must pack back
 * to the very bytes it came from, and lie within them. Violations abort().
 * The seeds (tests/fuzz/corpus/dgt_msg) are pushes of F32 and F16 blocks,
 * one of cnn's dense tensor (369 blocks of 356), one with its indices out
 * of order, one with no reliable block (an answer's word), and ACKs with
 * and without a bit past their blocks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "wire/control.h"

#define FAIL(...)                                              \
	do {                                                   \
		fprintf(stderr, "fuzz_dgt_msg: " __VA_ARGS__); \
		fputc('\n', stderr);                           \
		abort();                                       \
	} while (0)

static uint8_t g_out[1 << 20];

static void fuzz_push(const uint8_t *p, size_t len, uint64_t count)
{
	gx_dgt_push m;
	if (gx_dgt_push_parse(p, len, count, &m) != 0)
		return;
	if (m.index != p + GX_DGT_MSG_HEAD || m.values < m.index || m.values > p + len)
		FAIL("push: pointers outside the payload");
	uint32_t *idx = malloc(((size_t)m.nrel + 1) * sizeof *idx);
	if (!idx)
		return;
	uint64_t elems = 0;
	for (uint32_t i = 0; i < m.nrel; i++) {
		memcpy(&idx[i], m.index + 4 * (size_t)i, 4);
		elems += gx_dgt_block_len(count, m.block, idx[i]);
	}
	if (gx_dgt_push_size(&m, elems) != len)
		FAIL("push: size %zu, not %zu", gx_dgt_push_size(&m, elems), len);
	long n = gx_dgt_push_pack_head(&m, idx, g_out, sizeof g_out);
	free(idx);
	if (n < 0 || (size_t)n > len || memcmp(g_out, p, (size_t)n) != 0 || p + n != m.values)
		FAIL("push: does not pack back to its bytes");
}

static void fuzz_ack(const uint8_t *p, size_t len, uint32_t nblocks)
{
	uint32_t late;
	const uint8_t *bits;
	if (gx_dgt_ack_parse(p, len, nblocks, &late, &bits) != 0)
		return;
	if (bits != p + 8)
		FAIL("ack: bits outside the payload");
	long n = gx_dgt_ack_pack(nblocks, late, bits, g_out, sizeof g_out);
	if (n != (long)len || memcmp(g_out, p, len) != 0)
		FAIL("ack: does not pack back to its bytes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5 || size > sizeof g_out)
		return 0;
	uint32_t v = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
		     (uint32_t)data[4] << 24;
	if (data[0] & 1)
		fuzz_push(data + 5, size - 5, v & ((1u << 24) - 1));
	else
		fuzz_ack(data + 5, size - 5, v);
	return 0;
}
