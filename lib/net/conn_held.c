/*
 * conn_held.c — a connection's credit (gx_conn_set_credit): tensor frames
 * that find more than the credit already queued wait here, in priority
 * order, and move to the byte queue as it drains below the credit.
 *
 * Why at the connection: it is the last place a frame can still be
 * overtaken. Every hop that forwards tensors (a worker, a local server, the
 * global one) queues what it sends on a gx_conn; once the bytes are in the
 * byte queue, or in the kernel's buffer, their order is fixed. So the byte
 * queue is kept short (the credit) and the kernel's unsent bytes too
 * (TCP_NOTSENT_LOWAT, the same value), and a frame of priority 0 waits
 * behind at most about twice the credit of lower ones, plus what is in
 * flight on the path.
 *
 * Order: (epoch, priority, key, block, arrival). Only the frames that carry a tensor
 * (INIT .. PULL_REPLY and OVL_PART, whose header's priority their sender chose) are
 * reordered. Any other frame is a barrier: it goes after everything held
 * before it and before everything sent after it, because the protocol
 * relies on those frames' places (a MEMBERS frame before the answers of
 * the round it describes, a BYE after the last answer). A barrier ends
 * an epoch.
 */
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "../base/heap.h"
#include "../base/passes.h"
#include "conn_internal.h"

typedef struct conn_held {
	uint64_t epoch, order;
	int prio;         /* 0..255; 256: a barrier */
	gx_frame_hdr h;
	gx_buf *b;        /* holds the payload (a reference; NULL: none) */
	const void *payload;
} conn_held;

static int held_less(const void *x, const void *y)
{
	const conn_held *a = x, *b = y;
	if (a->epoch != b->epoch)
		return a->epoch < b->epoch;
	if (a->prio != b->prio)
		return a->prio < b->prio;
	/* Within a priority, by key and block rather than by arrival: every
	 * local server then sends the blocks it holds in one order, and the
	 * global, which answers a block once every party's is in, answers
	 * them as they come instead of waiting for a block one party sent
	 * last (with arrival order, a late answer burst filled the links'
	 * queues at the end of every round: docs/benchmarks.md). One key's
	 * block keeps the order of its rounds. */
	if (a->h.key != b->h.key)
		return a->h.key < b->h.key;
	if (a->h.block != b->h.block)
		return a->h.block < b->h.block;
	return a->order < b->order;
}

static int reorderable(int type)
{
	return (type >= GX_FT_INIT && type <= GX_FT_PULL_REPLY) || type == GX_FT_OVL_PART;
}

static void set_lowat(gx_conn *c, size_t bytes)
{
	/* Not a TCP socket (a test's socket pair): the byte queue's credit
	 * still holds. */
	int v = bytes > (size_t)1 << 30 ? 1 << 30 : (int)bytes;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v);
	c->aut.lowat = bytes;
}

void gx_conn_set_credit(gx_conn *c, size_t bytes)
{
	if (!c)
		return;
	if (!c->held.less)
		gx_heap_init(&c->held, held_less);
	memset(&c->aut, 0, sizeof c->aut);
	if (bytes == GX_CREDIT_AUTO) {
		c->aut.on = 1;
		bytes = GX_DEFAULT_CREDIT;
		c->aut.rate = GX_DEFAULT_CREDIT / (GX_CREDIT_AUTO_US / 1e6);
	}
	c->st.credit = bytes;
	if (bytes)
		set_lowat(c, bytes);
	else
		conn_release(c, 1);
}

size_t gx_conn_credit(const gx_conn *c)
{
	return c ? (size_t)c->st.credit : 0;
}

/*
 * The tuned credit. What a credit must cover is the link's draining while
 * the sender is away: woken when the kernel holds less than the credit
 * unsent, the loop must refill before the rest has left, or the link idles.
 * Beyond that a credit only delays the urgent frames behind it. So the
 * credit is the bytes the link drains in GX_CREDIT_AUTO_US: 64Ki at
 * 100 Mbit/s, 500K at 1 Gbit/s.
 *
 * The rate is what left the kernel's unsent bytes (SIOCOUTQNSD) between two
 * wakes, over a millisecond at least (loopback moves 64K segments at once),
 * while the sender had bytes waiting for the link. Only a sample that
 * began with bytes unsent measures the link: the path's buffers were full
 * then (the window was closed), so what left is what the link passed on.
 * A burst that finds the path empty fills its buffers at memory speed and
 * says nothing of the link; on a path whose buffers take all a sender has
 * (a fast one, or a round smaller than them), the credit does not hold
 * anything back and stays where it started.
 * Such a sample moves the rate towards its own by its length over 8 ms,
 * so the rate is a mean over the last several milliseconds of the link's
 * time (not over samples, which a window opening at once, 64K on loopback,
 * would cut short and make fast), and one slow turn of a busy loop does
 * not halve the credit; one that ended with nothing unsent (starved) saw
 * at least the link's rate, and may only raise it.
 */
size_t conn_auto_update(conn_auto *a, uint64_t dt_ns, uint64_t sent, int full, int starved)
{
	double r = dt_ns ? (double)sent * 1e9 / (double)dt_ns : 0.0;
	/* weighed by its length: a mean over time, not over samples (a short
	 * sample is one with a window opening in it) */
	double w = (double)dt_ns / 8e6;
	if (full && (!starved || r > a->rate))
		a->rate += (r - a->rate) * (w < 1 ? w : 1);
	/* Kept within the credit's bounds, so that a rise from the least and
	 * a fall from the most take a few samples. */
	const double lo = GX_CREDIT_AUTO_MIN / (GX_CREDIT_AUTO_US / 1e6);
	const double hi = GX_CREDIT_AUTO_MAX / (GX_CREDIT_AUTO_US / 1e6);
	a->rate = a->rate < lo ? lo : a->rate > hi ? hi : a->rate;
	return (size_t)(a->rate * (GX_CREDIT_AUTO_US / 1e6) + 0.5);
}

void conn_auto_sample(gx_conn *c)
{
	conn_auto *a = &c->aut;
	uint64_t now = gx_now_ns();
	/* Most wakes fall inside a sample: no system call for them. */
	if (a->backlog && now - a->t0 < 1000000)
		return;
	int q;
	if (ioctl(c->fd, SIOCOUTQNSD, &q) != 0 || q < 0 || (uint64_t)q > c->st.bytes_out) {
		a->on = 0; /* not TCP: the credit stays */
		return;
	}
	uint64_t sent = c->st.bytes_out - (uint64_t)q;
	if (a->backlog) {
		size_t credit = conn_auto_update(a, now - a->t0, sent - a->sent0, a->q0 > 0, q == 0);
		c->st.credit = credit;
		/* The kernel's bound follows when the credit moved by an eighth. */
		if (credit > a->lowat + a->lowat / 8 || credit < a->lowat - a->lowat / 8)
			set_lowat(c, credit);
	}
	a->t0 = now;
	a->sent0 = sent;
	a->q0 = (size_t)q;
}

size_t gx_conn_backlog(const gx_conn *c)
{
	int q = 0;
	if (!c || c->fd < 0)
		return 0;
	if (ioctl(c->fd, SIOCOUTQNSD, &q) != 0 || q < 0)
		q = 0;
	return gx_conn_pending(c) + (size_t)q;
}

int conn_hold_wanted(const gx_conn *c, const gx_frame_hdr *h)
{
	if (!c->st.credit)
		return 0;
	if (c->held.n)
		return 1;
	return reorderable(h->type) && c->out.bytes >= c->st.credit;
}

int conn_hold(gx_conn *c, const gx_frame_hdr *h, gx_buf *b, const void *payload)
{
	conn_held *e = malloc(sizeof *e);
	if (!e)
		return GX_ENOMEM;
	e->h = *h;
	e->order = c->held_order++;
	e->epoch = c->held_epoch;
	e->prio = reorderable(h->type) ? h->priority : 256;
	e->b = NULL;
	e->payload = payload;
	if (b) {
		e->b = gx_buf_ref(b);
	} else if (h->payload_len) {
		/* Copied once, into a buffer the release then queues by
		 * reference (conn_send_now), not copied a second time. */
		if (!(e->b = gx_buf_new(h->payload_len))) {
			free(e);
			return GX_ENOMEM;
		}
		memcpy(e->b->data, payload, h->payload_len);
		GX_PASS(GX_PASS_COPY, h->payload_len);
		e->payload = e->b->data;
	}
	if (gx_heap_push(&c->held, e) != 0) {
		if (e->b)
			gx_buf_unref(e->b);
		free(e);
		return GX_ENOMEM;
	}
	if (e->prio == 256)
		c->held_epoch++;
	c->held_bytes += GX_FRAME_HDR_SIZE + (size_t)h->payload_len;
	return 0;
}

static void held_drop(conn_held *e)
{
	if (e->b)
		gx_buf_unref(e->b);
	free(e);
}

int conn_release(gx_conn *c, int all)
{
	conn_held *e;
	while ((all || c->out.bytes < c->st.credit) && (e = gx_heap_pop(&c->held))) {
		c->held_bytes -= GX_FRAME_HDR_SIZE + (size_t)e->h.payload_len;
		int rc = conn_send_now(c, &e->h, e->b, e->payload);
		held_drop(e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void conn_held_clear(gx_conn *c)
{
	conn_held *e;
	while ((e = gx_heap_pop(&c->held)))
		held_drop(e);
	gx_heap_free(&c->held);
	c->held_bytes = 0;
}
