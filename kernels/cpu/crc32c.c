/*
 * crc32c.c — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of frame headers and payloads.
 *
 * Two twins with one contract: crc is the value returned by a previous call
 * (0 to start); the pre- and post-inversion live inside, so
 * crc(crc(0, a), b) == crc(0, a || b). The software twin is slice-by-8; the
 * hardware twin uses the SSE4.2 crc32 instruction and is compiled for that
 * target with a function attribute, so the rest of the library needs no
 * -msse4.2 and still runs on CPUs without it.
 */
#include <pthread.h>
#include <string.h>

#include "kernels.h"

#define CRC32C_POLY 0x82F63B78u

/* t[k][b] is the CRC of byte b followed by k zero bytes: slice-by-8 folds
 * eight input bytes per step with eight independent lookups. Built once on
 * first use; pthread_once makes the first calls from several threads safe. */
static uint32_t crc_tab[8][256];
static pthread_once_t crc_tab_once = PTHREAD_ONCE_INIT;

static void crc_tab_make(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_tab[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++) {
			uint32_t c = crc_tab[k - 1][b];
			crc_tab[k][b] = (c >> 8) ^ crc_tab[0][c & 0xff];
		}
}

/* Byte-wise little-endian loads: correct on any host and any alignment;
 * compilers turn them into a single load on x86. */
static inline uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t gx_k_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	pthread_once(&crc_tab_once, crc_tab_make);
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = load_le32(p) ^ crc, hi = load_le32(p + 4);
		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		      crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^
		      crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
		      crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) uint32_t gx_k_crc32c_hw(uint32_t crc, const void *buf,
							  size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;
	/* Align first: 8-byte loads that straddle cache lines cost extra. */
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#elif defined(__i386__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) uint32_t gx_k_crc32c_hw(uint32_t crc, const void *buf,
							  size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;
	while (len >= 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		c = _mm_crc32_u32(c, v);
		p += 4;
		len -= 4;
	}
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return ~c;
}
#else
/* No crc32 instruction on this architecture; gx_k_cpu_has_sse42() is 0 so
 * callers never pick this, but keep the symbol and the contract. */
uint32_t gx_k_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return gx_k_crc32c_sw(crc, buf, len);
}
#endif
