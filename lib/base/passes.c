/*
 * passes.c — the counters of base/passes.h: process-wide, atomic.
 */
#include "passes.h"

static uint64_t counts[GX_PASS__N];

void gx_pass_count(int kind, uint64_t bytes)
{
	if (kind >= 0 && kind < GX_PASS__N)
		__atomic_add_fetch(&counts[kind], bytes, __ATOMIC_RELAXED);
}

uint64_t gx_pass_bytes(int kind)
{
	if (kind < 0 || kind >= GX_PASS__N)
		return 0;
	return __atomic_load_n(&counts[kind], __ATOMIC_RELAXED);
}
