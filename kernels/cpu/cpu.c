/* cpu.c — CPU feature probes (cpuid), done once and cached. */
#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static int probe(void)
{
	unsigned a, b, c, d, f = 0;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
	int ymm = 0;
	if (osxsave) {
		unsigned lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		ymm = (lo & 6) == 6; /* the OS saves XMM and YMM state */
	}
	if ((c >> 20) & 1)
		f |= 1; /* SSE4.2 */
	if (((c >> 29) & 1) && avx && ymm)
		f |= 2; /* F16C (needs AVX state) */
	if (avx && ymm && __get_cpuid_max(0, NULL) >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		if ((b >> 5) & 1)
			f |= 4; /* AVX2 */
	}
	return f | 0x100;
}
#else
static int probe(void) { return 0x100; }
#endif

static int features(void)
{
	/* Racing first calls compute the same value; a plain int store is fine. */
	static volatile int cached;
	int f = cached;
	if (!f)
		cached = f = probe();
	return f;
}

int gx_k_cpu_has_sse42(void) { return (features() & 1) != 0; }
int gx_k_cpu_has_f16c(void) { return (features() & 2) != 0; }
int gx_k_cpu_has_avx2(void) { return (features() & 4) != 0; }
