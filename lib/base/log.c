/*
 * log.c — log lines for a gx_log_fn (base/log.h).
 */
#include <stdio.h>

#include "log.h"

void gx_logv(gx_log_fn *fn, void *ud, int level, const char *fmt, va_list ap)
{
	if (!fn)
		return;
	char msg[GX_LOG_LINE_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fn(ud, level, msg);
}
