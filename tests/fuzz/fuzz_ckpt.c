/*
 * fuzz_ckpt.c — libFuzzer target for the global server's checkpoint parser
 * (ps_ckpt_parse, lib/ps/ps_global_ckpt.c), which reads files from disk.
 *
 * Input: byte 0 picks the parties the file must have been written for
 * (1 + byte mod 8); the rest is the file. What the parser accepts must lie
 * within the input, end to end (counters, value, optimizer state, the
 * aggregate kept, checksum), and every field must be readable; whatever it rejects must
 * come with a reason. Violations abort(), which is how a fuzz target
 * reports them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "ps/ps_global.h"

#define FAIL(...)                                           \
	do {                                                \
		fprintf(stderr, "fuzz_ckpt: " __VA_ARGS__); \
		fputc('\n', stderr);                        \
		abort();                                    \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint32_t parties = 1 + data[0] % 8;
	const uint8_t *b = data + 1;
	size_t len = size - 1;
	ps_ckpt c;
	char why[200] = "";
	int rc = ps_ckpt_parse(b, len, parties, &c, why, sizeof why);
	if (rc) {
		if (rc > 0 || !why[0])
			FAIL("rejected with %d and no reason", rc);
		return 0;
	}
	if (c.parties != parties || c.count == 0)
		FAIL("accepted %u parties, %llu elements", c.parties, (unsigned long long)c.count);
	const uint8_t *end = c.opt + c.opt_len;
	uint32_t agg_round = 0;
	gx_frame_hdr ah;
	memset(&ah, 0, sizeof ah);
	if (c.agg) {
		ps_ckpt_agg(&c, &agg_round, &ah);
		if (c.agg != end || c.agg_bytes != c.agg + 32 || ah.count != c.count)
			FAIL("the aggregate is not where it belongs");
		end = c.agg_bytes + ah.payload_len;
	}
	if (c.next_round != b + 44 || c.seen != c.next_round + 4 * (size_t)parties ||
	    c.w != c.seen + 8 * (size_t)parties + 16 || c.opt != c.w + 4 * (size_t)c.count ||
	    end + 4 != b + len)
		FAIL("the parts do not tile the file");
	volatile uint64_t sink = agg_round;
	for (size_t i = 0; c.agg && i < ah.payload_len; i++)
		sink += c.agg_bytes[i];
	for (uint32_t i = 0; i < parties; i++)
		sink += ps_ckpt_next_round(&c, i) + ps_ckpt_seen(&c, i);
	for (size_t i = 0; i < (size_t)c.count * 4; i++)
		sink += c.w[i];
	for (size_t i = 0; i < c.opt_len; i++)
		sink += c.opt[i];
	(void)sink;
	return 0;
}
