/*
 * bytequeue.c — the output queue shared by framed connections and the
 * relay (net/bytequeue.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bytequeue.h"

#define BQ_IOV 64 /* segments per sendmsg */

void gx_bq_pool_init(gx_bq_pool *p, int max_count, size_t min_cap, size_t max_bytes, size_t grain)
{
	memset(p, 0, sizeof *p);
	int most = (int)(sizeof p->spare / sizeof p->spare[0]);
	p->max_count = max_count < 0 ? 0 : max_count > most ? most : max_count;
	p->min_cap = min_cap;
	p->max_bytes = max_bytes;
	p->grain = grain;
}

void gx_bq_pool_clear(gx_bq_pool *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->spare[i]);
	p->n = 0;
	p->bytes = 0;
}

void gx_bq_init(gx_bq *q, gx_bq_pool *pool)
{
	memset(q, 0, sizeof *q);
	q->pool = pool;
}

gx_bq_seg *gx_bq_seg_get(gx_bq_pool *p, size_t len)
{
	int best = -1;
	for (int i = 0; i < p->n; i++) {
		size_t cap = p->spare[i]->cap;
		if (cap >= len && cap / 2 <= len && (best < 0 || cap < p->spare[best]->cap))
			best = i;
	}
	gx_bq_seg *s;
	if (best >= 0) {
		s = p->spare[best];
		p->bytes -= s->cap;
		p->n--;
		memmove(&p->spare[best], &p->spare[best + 1], (size_t)(p->n - best) * sizeof p->spare[0]);
	} else {
		size_t cap = len;
		if (p->grain && len > p->grain / 2 && len < p->grain)
			cap = p->grain;
		s = malloc(sizeof *s + (cap ? cap : 1));
		if (!s)
			return NULL;
		s->cap = cap;
	}
	s->next = NULL;
	s->release_ns = 0;
	s->len = s->off = 0;
	s->frames = 0;
	s->ref = NULL;
	s->ptr = NULL;
	return s;
}

gx_bq_seg *gx_bq_seg_ref(gx_buf *b, const void *ptr, size_t len)
{
	gx_bq_seg *s = malloc(sizeof *s);
	if (!s)
		return NULL;
	memset(s, 0, sizeof *s);
	s->ref = gx_buf_ref(b);
	s->ptr = ptr;
	s->len = len;
	return s;
}

void gx_bq_seg_put(gx_bq_pool *p, gx_bq_seg *s)
{
	if (!s)
		return;
	if (s->ref) {
		gx_buf_unref(s->ref);
		free(s);
		return;
	}
	if (!p || s->cap < p->min_cap || s->cap > p->max_bytes || p->max_count == 0) {
		free(s);
		return;
	}
	while (p->n > 0 && (p->n == p->max_count || p->bytes + s->cap > p->max_bytes)) {
		gx_bq_seg *o = p->spare[0];
		p->bytes -= o->cap;
		p->n--;
		memmove(&p->spare[0], &p->spare[1], (size_t)p->n * sizeof p->spare[0]);
		free(o);
	}
	p->spare[p->n++] = s;
	p->bytes += s->cap;
}

size_t gx_bq_seg_cost(const gx_bq_seg *s)
{
	return sizeof *s + s->cap;
}

static const uint8_t *seg_bytes(const gx_bq_seg *s)
{
	return s->ref ? s->ptr : s->data;
}

void gx_bq_append(gx_bq *q, gx_bq_seg *s)
{
	s->next = NULL;
	if (q->tail)
		q->tail->next = s;
	else
		q->head = s;
	q->tail = s;
	q->bytes += s->len - s->off;
	q->mem += gx_bq_seg_cost(s);
}

int gx_bq_push(gx_bq *q, const void *b, size_t len, size_t max_seg, int frames)
{
	const uint8_t *p = b;
	gx_bq_seg *first = NULL, *last = NULL;
	size_t left = len;
	do {
		size_t m = max_seg && left > max_seg ? max_seg : left;
		gx_bq_seg *s = gx_bq_seg_get(q->pool, m);
		if (!s) {
			while (first) {
				gx_bq_seg *n = first->next;
				gx_bq_seg_put(q->pool, first);
				first = n;
			}
			return GX_ENOMEM;
		}
		if (m)
			memcpy(s->data, p, m);
		s->len = m;
		p += m;
		left -= m;
		if (last)
			last->next = s;
		else
			first = s;
		last = s;
	} while (left > 0);
	last->frames = frames;
	while (first) {
		gx_bq_seg *n = first->next;
		gx_bq_append(q, first);
		first = n;
	}
	return 0;
}

void gx_bq_clear(gx_bq *q)
{
	while (q->head) {
		gx_bq_seg *s = q->head;
		q->head = s->next;
		gx_bq_seg_put(q->pool, s);
	}
	q->tail = NULL;
	q->bytes = q->mem = 0;
}

/* Takes the head segment (written, or empty) off the queue, counting its
 * frame ends. */
static void retire_head(gx_bq *q, uint64_t *frames)
{
	gx_bq_seg *s = q->head;
	q->head = s->next;
	if (!q->head)
		q->tail = NULL;
	q->mem -= gx_bq_seg_cost(s);
	if (frames)
		*frames += (uint64_t)s->frames;
	gx_bq_seg_put(q->pool, s);
}

long gx_bq_write(gx_bq *q, int fd, size_t budget, uint64_t due_ns, uint64_t *frames)
{
	size_t done = 0;
	if (frames)
		*frames = 0;
	while (q->head && done < budget) {
		struct iovec iov[BQ_IOV];
		size_t want = 0;
		int n = 0;
		for (gx_bq_seg *s = q->head; s && n < BQ_IOV && want < budget - done; s = s->next) {
			if (s->release_ns > due_ns)
				break;
			size_t l = s->len - s->off;
			if (l > budget - done - want)
				l = budget - done - want;
			if (!l)
				continue; /* an empty segment (a frame end marker) */
			iov[n].iov_base = (void *)(seg_bytes(s) + s->off);
			iov[n].iov_len = l;
			n++;
			want += l;
		}
		if (!n) {
			/* only empty segments due: retire them */
			while (q->head && q->head->len == q->head->off && q->head->release_ns <= due_ns)
				retire_head(q, frames);
			break;
		}
		struct msghdr m;
		memset(&m, 0, sizeof m);
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)n;
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return GX_EIO;
		}
		size_t left = (size_t)w;
		done += left;
		q->bytes -= left;
		/* Retire what was written, and the empty segments after it. */
		while (q->head) {
			gx_bq_seg *s = q->head;
			size_t l = s->len - s->off;
			if (left < l || (l == 0 && s->release_ns > due_ns)) {
				s->off += left;
				break;
			}
			left -= l;
			retire_head(q, frames);
		}
		if ((size_t)w < want)
			break; /* the socket buffer is full */
	}
	return (long)done;
}
