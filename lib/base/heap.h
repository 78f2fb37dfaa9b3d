/*
 * base/heap.h — library-private: a binary min-heap of pointers, ordered by
 * the caller's comparison. The one priority queue of the library: the
 * worker client's queue of parts to send (kv/kv_io.c), a connection's
 * frames waiting for credit (net/conn_held.c) and geomx-netem's packets
 * waiting for their time (relay/netem.c) all sit on it. One thread.
 */
#ifndef GX_HEAP_H
#define GX_HEAP_H

#include <stddef.h>

/* Nonzero when a goes before b. */
typedef int gx_heap_less_fn(const void *a, const void *b);

typedef struct gx_heap {
	void **v;
	size_t n, cap;
	gx_heap_less_fn *less;
} gx_heap;

/* An empty heap ordered by less (nothing allocated until the first push). */
void gx_heap_init(gx_heap *h, gx_heap_less_fn *less);
/* Frees the array (not the items). */
void gx_heap_free(gx_heap *h);
/* Makes room for cap items at once, so that pushes up to that many never
 * allocate (a hot path that must not fail); 0 or GX_ENOMEM. */
int gx_heap_reserve(gx_heap *h, size_t cap);
/* Adds x; 0 or GX_ENOMEM (x not added). */
int gx_heap_push(gx_heap *h, void *x);
/* The first item, or NULL when empty. */
void *gx_heap_top(const gx_heap *h);
/* Removes and returns the first item, or NULL when empty. */
void *gx_heap_pop(gx_heap *h);

#endif
