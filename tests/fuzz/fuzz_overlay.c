/*
 * fuzz_overlay.c — libFuzzer target for the adaptive overlay's payloads:
 * a plan (OVL_PLAN, gx_ovl_parse in lib/sched/overlay.c) and the parties'
 * addresses (OVL_PEERS, gx_ovl_peers_parse in lib/wire/control.c), which
 * every local server parses from the global's frames, and what a local
 * server measured of a link (OVL_REPORT, gx_ovl_report_parse), which the
 * global parses.
 *
 * Input: byte 0 modulo 3 picks the parser (0: a plan, 1: the addresses,
 * 2: a report); the rest is the payload. A plan accepted must pack back to
 * the very bytes it came from, pass gx_ovl_check, give a push whose
 * transfers stay among its nodes and end with the whole sum at the sink,
 * and cost a finite time on links nothing is known of. Addresses accepted
 * must lie within the payload, be printable and pack back to its bytes; a
 * report must pack back to its bytes. Violations abort(). The seeds
 * (tests/fuzz/corpus/overlay) are the star of 1 and 4 parties, a chain of
 * 4, the largest plan, plans broken in each way the parser refuses,
 * address lists whole and broken, and reports.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "wire/control.h"

#define FAIL(...)                                              \
	do {                                                   \
		fprintf(stderr, "fuzz_overlay: " __VA_ARGS__); \
		fputc('\n', stderr);                           \
		abort();                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_plan(const uint8_t *data, size_t size)
{
	gx_ovl_plan p;
	if (gx_ovl_parse(data, size, &p) != 0)
		return;
	uint8_t back[1 + 2 * GX_OVL_MAX_PARTIES];
	int n = gx_ovl_pack(&p, back, sizeof back);
	if (n < 0 || (size_t)n != size || memcmp(back, data, size) != 0)
		FAIL("a plan accepted does not pack back to its bytes");
	if (gx_ovl_check(&p) != 0)
		FAIL("a plan accepted fails the check");
	gx_ovl_send s[2 * GX_OVL_MAX_PARTIES];
	int m = gx_ovl_push_sends(&p, s);
	if (m < 1 || m > 2 * p.parties)
		FAIL("%d transfers for %d parties", m, p.parties);
	for (int i = 0; i < m; i++)
		if (s[i].src > p.parties || s[i].dst > p.parties || s[i].src == s[i].dst ||
		    s[i].first > s[i].last || s[i].last >= p.parties)
			FAIL("transfer %d is not one among the plan's nodes", i);
	if (s[m - 1].dst != p.parties || s[m - 1].last != p.parties - 1)
		FAIL("the push does not end with the whole sum at the sink");
	gx_ovl_links l;
	gx_ovl_links_init(&l, p.parties, 0.5);
	if (!isfinite(gx_ovl_push_cost(&l, &p, 1e6)) || !isfinite(gx_ovl_pull_cost(&l, &p, 1e6)))
		FAIL("an infinite cost");
}

static void fuzz_peers(const uint8_t *data, size_t size)
{
	const char *a[GX_OVL_PEERS_MAX];
	uint16_t len[GX_OVL_PEERS_MAX];
	uint32_t n = 0;
	if (gx_ovl_peers_parse(data, size, a, len, GX_OVL_PEERS_MAX, &n) != 0)
		return;
	static char s[GX_OVL_PEERS_MAX][GX_OVL_ADDR_MAX + 1];
	const char *sp[GX_OVL_PEERS_MAX];
	for (uint32_t i = 0; i < n; i++) {
		if ((const uint8_t *)a[i] < data || (const uint8_t *)a[i] + len[i] > data + size ||
		    !len[i] || len[i] > GX_OVL_ADDR_MAX)
			FAIL("address %u outside the payload", i);
		for (uint16_t j = 0; j < len[i]; j++)
			if (a[i][j] < 0x21 || a[i][j] > 0x7e)
				FAIL("address %u not printable", i);
		memcpy(s[i], a[i], len[i]);
		s[i][len[i]] = '\0';
		sp[i] = s[i];
	}
	static uint8_t back[4 + GX_OVL_PEERS_MAX * (2 + GX_OVL_ADDR_MAX)];
	size_t m = gx_ovl_peers_pack(sp, n, back, sizeof back);
	if (m != size || memcmp(back, data, size) != 0)
		FAIL("addresses accepted do not pack back to their bytes");
}

static void fuzz_report(const uint8_t *data, size_t size)
{
	gx_ovl_report r;
	if (gx_ovl_report_parse(data, size, &r) != 0)
		return;
	uint8_t back[GX_OVL_REPORT_SIZE];
	gx_ovl_report_pack(&r, back);
	if (size != GX_OVL_REPORT_SIZE || memcmp(back, data, size) != 0 || !r.ns)
		FAIL("a report accepted does not pack back to its bytes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: fuzz_plan(data + 1, size - 1); break;
	case 1: fuzz_peers(data + 1, size - 1); break;
	default: fuzz_report(data + 1, size - 1);
	}
	return 0;
}
