/*
 * fuzz_ovl_plan.c — libFuzzer target for a plan of the adaptive overlay on
 * the wire (gx_ovl_parse, lib/sched/overlay.c), which every local server
 * parses from the global's frames.
 *
 * Whatever the parser accepts must pack back to the very bytes it came
 * from, pass gx_ovl_check, give a push whose transfers stay among its nodes
 * and end at the sink, and cost a finite time on links nothing is known of.
 * Violations abort(). The seeds (tests/fuzz/corpus/ovl_plan) are the star
 * of 1 and 4 parties, a chain of 4 folding at every party in turn with a
 * tree of answers through party 0, the largest plan, and plans broken in
 * each way the parser refuses.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"

#define FAIL(...)                                              \
	do {                                                   \
		fprintf(stderr, "fuzz_ovl_plan: " __VA_ARGS__); \
		fputc('\n', stderr);                           \
		abort();                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gx_ovl_plan p;
	if (gx_ovl_parse(data, size, &p) != 0)
		return 0;
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
	return 0;
}
