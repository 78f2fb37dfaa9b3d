/*
 * heap.c — a binary min-heap of pointers (base/heap.h).
 */
#include <stdlib.h>

#include "gx_base.h"
#include "heap.h"

void gx_heap_init(gx_heap *h, gx_heap_less_fn *less)
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->less = less;
}

void gx_heap_free(gx_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

int gx_heap_reserve(gx_heap *h, size_t cap)
{
	if (cap <= h->cap)
		return 0;
	void **nv = realloc(h->v, cap * sizeof *nv);
	if (!nv)
		return GX_ENOMEM;
	h->v = nv;
	h->cap = cap;
	return 0;
}

int gx_heap_push(gx_heap *h, void *x)
{
	if (h->n == h->cap && gx_heap_reserve(h, h->cap ? h->cap * 2 : 64) != 0)
		return GX_ENOMEM;
	size_t i = h->n++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!h->less(x, h->v[up]))
			break;
		h->v[i] = h->v[up];
		i = up;
	}
	h->v[i] = x;
	return 0;
}

void *gx_heap_top(const gx_heap *h)
{
	return h->n ? h->v[0] : NULL;
}

void *gx_heap_pop(gx_heap *h)
{
	if (!h->n)
		return NULL;
	void *top = h->v[0], *x = h->v[--h->n];
	size_t i = 0, n = h->n;
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		void *best = x;
		if (l < n && h->less(h->v[l], best)) {
			m = l;
			best = h->v[l];
		}
		if (l + 1 < n && h->less(h->v[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	if (n)
		h->v[i] = x;
	return top;
}
