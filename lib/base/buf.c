/*
 * buf.c — reference-counted byte buffers and the pools that keep them
 * (base/buf.h). Large buffers are kept rather than freed because glibc
 * hands blocks that large back to the kernel, and every reuse of a fresh
 * one pays its page faults again (docs/benchmarks.md measured that as the
 * largest single cost of a parameter-server round).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define POOL_MAX 64

struct gx_buf_pool {
	int max_count;
	size_t min_cap, max_bytes, bytes;
	int n;
	int live;               /* buffers out of the pool that will come back */
	int dying;              /* gx_buf_pool_free ran while some were out */
	gx_buf *kept[POOL_MAX]; /* oldest first */
};

gx_buf *gx_buf_new(size_t cap)
{
	gx_buf *b = malloc(sizeof *b);
	if (!b)
		return NULL;
	b->data = malloc(cap ? cap : 1);
	if (!b->data) {
		free(b);
		return NULL;
	}
	b->cap = cap;
	b->len = 0;
	b->refs = 1;
	b->pool = NULL;
	b->on_release = NULL;
	b->ud = NULL;
	return b;
}

gx_buf *gx_buf_lend(void *data, size_t len, void (*on_release)(void *ud), void *ud)
{
	gx_buf *b = malloc(sizeof *b);
	if (!b)
		return NULL;
	b->data = data;
	b->cap = b->len = len;
	b->refs = 1;
	b->pool = NULL;
	b->on_release = on_release;
	b->ud = ud;
	return b;
}

gx_buf *gx_buf_ref(gx_buf *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

static void buf_destroy(gx_buf *b)
{
	void (*on_release)(void *) = b->on_release;
	void *ud = b->ud;
	if (!on_release)
		free(b->data);
	free(b);
	if (on_release)
		on_release(ud);
}

static void pool_maybe_free(gx_buf_pool *p)
{
	if (p->dying && p->live == 0)
		free(p);
}

/* Keeps b in p, dropping the oldest to make room; or frees it. */
static void pool_put(gx_buf_pool *p, gx_buf *b)
{
	p->live--;
	if (p->dying || b->cap < p->min_cap || b->cap > p->max_bytes) {
		b->pool = NULL;
		buf_destroy(b);
		pool_maybe_free(p);
		return;
	}
	while (p->n > 0 && (p->n == p->max_count || p->bytes + b->cap > p->max_bytes)) {
		gx_buf *o = p->kept[0];
		p->bytes -= o->cap;
		p->n--;
		memmove(&p->kept[0], &p->kept[1], (size_t)p->n * sizeof p->kept[0]);
		buf_destroy(o);
	}
	p->kept[p->n++] = b;
	p->bytes += b->cap;
}

void gx_buf_unref(gx_buf *b)
{
	if (!b)
		return;
	/* Release ordering: the writes of every holder happen before the
	 * last one frees or reuses the bytes. */
	if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (b->pool)
		pool_put(b->pool, b);
	else
		buf_destroy(b);
}

gx_buf_pool *gx_buf_pool_create(int max_count, size_t min_cap, size_t max_bytes)
{
	gx_buf_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->max_count = max_count < 1 ? 1 : max_count > POOL_MAX ? POOL_MAX : max_count;
	p->min_cap = min_cap;
	p->max_bytes = max_bytes;
	return p;
}

gx_buf *gx_buf_pool_get(gx_buf_pool *p, size_t cap)
{
	int best = -1;
	for (int i = 0; i < p->n; i++) {
		size_t c = p->kept[i]->cap;
		if (c >= cap && c / 2 <= cap && (best < 0 || c < p->kept[best]->cap))
			best = i;
	}
	gx_buf *b;
	if (best >= 0) {
		b = p->kept[best];
		p->bytes -= b->cap;
		p->n--;
		memmove(&p->kept[best], &p->kept[best + 1], (size_t)(p->n - best) * sizeof p->kept[0]);
		b->refs = 1;
		b->len = 0;
	} else if (!(b = gx_buf_new(cap))) {
		return NULL;
	}
	b->pool = p;
	p->live++;
	return b;
}

void gx_buf_pool_free(gx_buf_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++)
		buf_destroy(p->kept[i]);
	p->n = 0;
	p->bytes = 0;
	p->dying = 1;
	pool_maybe_free(p);
}
