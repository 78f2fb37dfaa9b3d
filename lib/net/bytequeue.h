/*
 * net/bytequeue.h — library-private: the one output queue of the library.
 * A queue of segments on their way to a socket, written with sendmsg(2)
 * (MSG_NOSIGNAL | MSG_DONTWAIT) in bounded pieces, handling partial writes.
 * A segment holds its bytes inline (taken from a pool of spares, so large
 * ones are reused rather than faulted in afresh), or refers to a slice of a
 * reference-counted gx_buf, so one payload can be queued on several
 * connections without a copy each. A segment may carry a release time (the
 * relay's emulated link): it is not written before then.
 *
 * Used by framed connections (net/conn.c) and the relay (relay/fwd.c). One
 * thread: a queue and its pool belong to the thread of their event loop.
 */
#ifndef GX_BYTEQUEUE_H
#define GX_BYTEQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "gx_net.h"

typedef struct gx_bq_seg {
	struct gx_bq_seg *next;
	uint64_t release_ns; /* gx_now_ns() from which it may be written; 0 at once */
	size_t cap;          /* bytes data can hold (0 for a reference) */
	size_t len, off;     /* bytes held, bytes already written */
	int frames;          /* frames that end in it (for counters) */
	gx_buf *ref;         /* a reference: the bytes are at ptr, in ref */
	const uint8_t *ptr;
	uint8_t data[];
} gx_bq_seg;

/* Spare segments kept for reuse: up to max_count of at least min_cap bytes,
 * max_bytes in all, the oldest dropped first. A new segment for more than
 * grain / 2 bytes is made at least grain bytes, so a stream of varying
 * sizes reuses one size. */
typedef struct gx_bq_pool {
	int max_count, n;
	size_t min_cap, max_bytes, grain, bytes;
	gx_bq_seg *spare[64]; /* oldest first */
} gx_bq_pool;

typedef struct gx_bq {
	gx_bq_seg *head, *tail;
	size_t bytes;     /* not yet written */
	size_t mem;       /* what the segments cost: headers and capacity */
	gx_bq_pool *pool; /* where written segments go; may be shared */
} gx_bq;

void gx_bq_pool_init(gx_bq_pool *p, int max_count, size_t min_cap, size_t max_bytes,
		     size_t grain);
void gx_bq_pool_clear(gx_bq_pool *p);

/* An empty queue returning its segments to pool. */
void gx_bq_init(gx_bq *q, gx_bq_pool *pool);
/* Drops every segment (releasing references). */
void gx_bq_clear(gx_bq *q);

/* A segment with room for len bytes (len 0 and off 0 set; fill data and
 * set len), NULL on ENOMEM. Give it to gx_bq_append or gx_bq_seg_put. */
gx_bq_seg *gx_bq_seg_get(gx_bq_pool *p, size_t len);
/* Returns an unqueued segment to p (or frees it; releases a reference). */
void gx_bq_seg_put(gx_bq_pool *p, gx_bq_seg *s);
/* A segment referring to len bytes at ptr inside b (takes a reference of
 * its own). NULL on ENOMEM. */
gx_bq_seg *gx_bq_seg_ref(gx_buf *b, const void *ptr, size_t len);
/* What a segment costs its queue. */
size_t gx_bq_seg_cost(const gx_bq_seg *s);

/* Appends s (its len bytes) to the queue. */
void gx_bq_append(gx_bq *q, gx_bq_seg *s);
/* Appends a copy of len bytes, in segments of at most max_seg bytes (0: one
 * segment) ending frames frames in the last. 0 or GX_ENOMEM (nothing
 * queued then). */
int gx_bq_push(gx_bq *q, const void *b, size_t len, size_t max_seg, int frames);

/* Writes the queue's due segments (release_ns <= due_ns) to fd, at most
 * budget bytes. Returns the bytes written (0 when the socket is full or
 * nothing is due), or GX_EIO with errno set. *frames (may be NULL) gets
 * the frames completed. Written segments go back to the pool. */
long gx_bq_write(gx_bq *q, int fd, size_t budget, uint64_t due_ns, uint64_t *frames);

#endif
