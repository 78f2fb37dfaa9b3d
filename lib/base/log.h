/*
 * base/log.h — library-private: formatting a log line for a gx_log_fn, the
 * one way the servers and the client say something.
 */
#ifndef GX_LOG_H
#define GX_LOG_H

#include <stdarg.h>

#include "gx_base.h"

/* Formats one line (cut at GX_LOG_LINE_MAX bytes) and hands it to fn with
 * ud and level; nothing when fn is NULL. */
void gx_logv(gx_log_fn *fn, void *ud, int level, const char *fmt, va_list ap);
/* The same with tail (NULL: none) appended to the formatted line, e.g. a
 * rate limiter's "(and 3 more like it before)". */
void gx_logv_tail(gx_log_fn *fn, void *ud, int level, const char *tail, const char *fmt,
		  va_list ap);

#define GX_LOG_LINE_MAX 1200

#endif
