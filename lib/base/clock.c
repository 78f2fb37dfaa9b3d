/*
 * clock.c — monotonic time for timers, heartbeats, deadlines and rates.
 */
#include <time.h>

#include "gx_base.h"

uint64_t gx_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t gx_now_ms(void)
{
	return gx_now_ns() / 1000000ull;
}
