/*
 * t_log.h — the unit tests' capture of the library's log lines: logfn (a
 * gx_log_fn) keeps every line as "LEVEL message" in one buffer, log_has
 * looks for a piece of text in it, log_clear empties it. The library logs
 * from its own threads too, hence the lock.
 */
#ifndef GX_T_LOG_H
#define GX_T_LOG_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[16384];

static inline void logfn(void *ud, int level, const char *msg)
{
	(void)ud;
	pthread_mutex_lock(&log_mu);
	size_t l = strlen(logbuf);
	snprintf(logbuf + l, sizeof logbuf - l, "%d %s\n", level, msg);
	pthread_mutex_unlock(&log_mu);
}

static inline int log_has(const char *s)
{
	pthread_mutex_lock(&log_mu);
	int r = strstr(logbuf, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return r;
}

static inline void log_clear(void)
{
	pthread_mutex_lock(&log_mu);
	logbuf[0] = '\0';
	pthread_mutex_unlock(&log_mu);
}

#endif
