/*
 * fuzz_lckpt.c — libFuzzer target for the local server's checkpoint parser
 * (ps_local_ckpt_parse, lib/ps/ps_local_ckpt.c), which reads a file from
 * disk.
 *
 * Input: byte 0 picks the party (byte mod 4) and byte 1 the workers
 * (1 + byte mod 8) the file must have been written for; the rest is the
 * file. What the parser accepts must lie within the input, end to end
 * (header, entries, checksum), and every entry must be readable; whatever
 * it rejects must come with a reason. Violations abort(), which is how a
 * fuzz target reports them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "ps/ps_local.h"

#define FAIL(...)                                            \
	do {                                                 \
		fprintf(stderr, "fuzz_lckpt: " __VA_ARGS__); \
		fputc('\n', stderr);                         \
		abort();                                     \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint32_t party = data[0] % 4, workers = 1 + data[1] % 8;
	const uint8_t *b = data + 2;
	size_t len = size - 2;
	ps_lckpt c;
	char why[200] = "";
	int rc = ps_local_ckpt_parse(b, len, party, workers, &c, why, sizeof why);
	if (rc) {
		if (rc > 0 || !why[0])
			FAIL("rejected with %d and no reason", rc);
		return 0;
	}
	if (c.entries != b + 24 || c.entries + (size_t)c.n * 12 + 4 != b + len)
		FAIL("the entries do not tile the file");
	volatile uint64_t sink = c.block;
	for (uint32_t i = 0; i < c.n; i++) {
		gx_keyent e;
		ps_lckpt_entry(&c, i, &e);
		sink += e.key + e.count;
	}
	(void)sink;
	return 0;
}
