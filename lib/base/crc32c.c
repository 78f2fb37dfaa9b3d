/*
 * crc32c.c — CRC-32C (Castagnoli), for frame headers and payloads and for
 * model checksums: the SSE4.2 instruction where the CPU has it.
 */
#include "gx_base.h"
#include "kernels.h"

uint32_t gx_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* gx_k_cpu_has_sse42 caches its probe, so asking every call is cheap
	 * and needs no global state of our own. */
	if (gx_k_cpu_has_sse42())
		return gx_k_crc32c_hw(crc, buf, len);
	return gx_k_crc32c_sw(crc, buf, len);
}

