/*
 * f16.c — public binary16 conversion: picks the F16C kernels or the scalar
 * ones once, at run time.
 *
 * GEOMX_NO_F16C=1 in the environment (any value but empty or "0") forces the
 * scalar path even on a CPU with F16C, to test or benchmark the fallback on
 * ordinary hardware. It is
 * read once, on the first conversion or gx_f16_accelerated() call; changing
 * it later has no effect. Both paths give bit-identical results.
 */
#include <stdlib.h>

#include "gx_codec.h"
#include "kernels.h"

/* 0: not decided yet, 1: scalar, 2: F16C. Racing first calls compute the same
 * value, so a plain store is enough (as in kernels/cpu/cpu.c). */
static volatile int f16_mode;

static int mode(void)
{
	int m = f16_mode;
	if (!m) {
		const char *e = getenv("GEOMX_NO_F16C");
		int forced_off = e && e[0] && !(e[0] == '0' && e[1] == '\0');
		m = (!forced_off && gx_k_cpu_has_f16c()) ? 2 : 1;
		f16_mode = m;
	}
	return m;
}

int gx_f16_accelerated(void)
{
	return mode() == 2;
}

void gx_f32_to_f16(const float *src, uint16_t *dst, size_t n)
{
	if (!n || !src || !dst)
		return;
	if (mode() == 2)
		gx_k_f32_to_f16_f16c(src, dst, n);
	else
		gx_k_f32_to_f16_scalar(src, dst, n);
}

void gx_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
	if (!n || !src || !dst)
		return;
	if (mode() == 2)
		gx_k_f16_to_f32_f16c(src, dst, n);
	else
		gx_k_f16_to_f32_scalar(src, dst, n);
}
