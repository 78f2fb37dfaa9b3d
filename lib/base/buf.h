/*
 * base/buf.h — library-private: reference-counted byte buffers, so that one
 * payload can be queued on several connections (an answer fanned out to
 * every party or worker) without a copy per receiver. The last reference
 * frees the buffer, or gives it back to the pool it came from.
 *
 * Reference counts are atomic: a buffer may be made on one thread and
 * released on another. A pool is not: it belongs to one thread, and every
 * buffer taken from it must be released on that thread.
 */
#ifndef GX_BUF_H
#define GX_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "gx_base.h"

typedef struct gx_buf_pool gx_buf_pool;

typedef struct gx_buf {
	uint8_t *data;     /* cap bytes */
	size_t cap;
	size_t len;        /* bytes in use: the caller's to set */
	int refs;          /* atomic */
	gx_buf_pool *pool; /* where the last release puts it; NULL: freed */
	void (*on_release)(void *ud); /* gx_buf_lend: called by the last
				       * release instead of freeing data */
	void *ud;
} gx_buf;

/* A buffer of cap bytes (contents undefined) with one reference. NULL on
 * ENOMEM. */
gx_buf *gx_buf_new(size_t cap);
/* A buffer over len bytes the caller owns (nothing is copied), with one
 * reference: the caller leaves them unchanged until the last release, which
 * frees only the buffer and then calls on_release(ud) — on whichever
 * thread released last. NULL on ENOMEM. */
gx_buf *gx_buf_lend(void *data, size_t len, void (*on_release)(void *ud), void *ud);
/* Takes another reference; returns b. */
gx_buf *gx_buf_ref(gx_buf *b);
/* Drops a reference; the last one frees b or keeps it in its pool. NULL is
 * accepted. */
void gx_buf_unref(gx_buf *b);
/* Nonzero while a reference other than the caller's holds b (a connection
 * that has not written it yet): its bytes may not change. */
static inline int gx_buf_shared(const gx_buf *b)
{
	return __atomic_load_n(&b->refs, __ATOMIC_ACQUIRE) > 1;
}

/* A pool keeping up to max_count released buffers of at least min_cap
 * bytes, max_bytes in all (the oldest goes first to make room). NULL on
 * ENOMEM. */
gx_buf_pool *gx_buf_pool_create(int max_count, size_t min_cap, size_t max_bytes);
/* A buffer of at least cap bytes with one reference: a kept one that fits
 * without wasting more than half of it, or a new one. NULL on ENOMEM. */
gx_buf *gx_buf_pool_get(gx_buf_pool *p, size_t cap);
/* Frees the pool and what it keeps. Buffers still referenced elsewhere are
 * freed when released (they forget the pool now). NULL is accepted. */
void gx_buf_pool_free(gx_buf_pool *p);

#endif
