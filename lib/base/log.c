/*
 * log.c — log lines for a gx_log_fn (base/log.h).
 */
#include <stdio.h>

#include "log.h"

void gx_logv_tail(gx_log_fn *fn, void *ud, int level, const char *tail, const char *fmt,
		  va_list ap)
{
	if (!fn)
		return;
	char msg[GX_LOG_LINE_MAX];
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (tail && n >= 0 && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - (size_t)n, "%s", tail);
	fn(ud, level, msg);
}

void gx_logv(gx_log_fn *fn, void *ud, int level, const char *fmt, va_list ap)
{
	gx_logv_tail(fn, ud, level, NULL, fmt, ap);
}
