/*
 * ps_dgt_out.c — a paced FIFO of sealed datagrams (ps_dgt.h): a local's
 * blocks up to a global server, a global's answers down to a local.
 *
 * Choices:
 *  - One queue per destination, in the order pushed: a slice's datagrams
 *    leave together and in their order, so that a receiver can close a
 *    round at its last one (GX_DG_END).
 *  - A token bucket at the path's rate with a burst of 10 ms of it: a
 *    sender whose loop was busy a few milliseconds (summing, planning the
 *    next slice) catches up from the bucket instead of losing the time;
 *    the path's queue takes the burst.
 *  - A send that fails (the port unreachable, no buffer) drops the
 *    datagram: it is then lost like one the path dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "../wire/control.h"
#include "ps_dgt.h"

void ps_dg_out_init(ps_dg_out *o, gx_ps *ps, double rate)
{
	memset(o, 0, sizeof *o);
	for (int c = 0; c <= GX_DGT_CHANNELS_MAX; c++)
		o->fd[c] = -1;
	o->ps = ps;
	ps_dg_out_rate(o, rate);
}

void ps_dg_out_rate(ps_dg_out *o, double rate)
{
	double burst = rate * 0.010;
	if (burst < 4 * 1500)
		burst = 4 * 1500;
	gx_dg_pacer_init(&o->pacer, rate, burst, gx_now_ns());
}

void ps_dg_out_free(ps_dg_out *o)
{
	ps_dg_queue *q = &o->q;
	for (size_t i = 0; i < q->len; i++)
		free(q->v[(q->head + i) % q->cap].b);
	free(q->v);
	memset(q, 0, sizeof *q);
	o->queued = 0;
	if (o->timer && o->ps && o->ps->ev)
		gx_ev_timer_del(o->ps->ev, o->timer);
	o->timer = 0;
}

int ps_dg_out_push(ps_dg_out *o, uint8_t *b, size_t n, int ch)
{
	ps_dg_queue *q = &o->q;
	if (q->len == q->cap) {
		size_t nc = q->cap ? 2 * q->cap : 256;
		ps_dg_item *v = malloc(nc * sizeof *v);
		if (!v)
			return GX_ENOMEM;
		for (size_t i = 0; i < q->len; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->cap = nc;
		q->head = 0;
	}
	q->v[(q->head + q->len) % q->cap] = (ps_dg_item){ b, n, ch };
	q->len++;
	o->queued += n;
	return 0;
}

static long pump_timer(gx_ev *ev, long long id, void *ud)
{
	(void)ev;
	(void)id;
	ps_dg_out *o = ud;
	o->timer = 0;
	ps_dg_out_pump(o);
	return -1;
}

static void arm(ps_dg_out *o, uint64_t wait_ns)
{
	if (o->timer)
		return;
	long ms = (long)((wait_ns + 999999) / 1000000);
	long long id = gx_ev_timer(o->ps->ev, ms, pump_timer, o);
	o->timer = id > 0 ? id : 0;
}

void ps_dg_out_pump(ps_dg_out *o)
{
	uint64_t now = gx_now_ns();
	int budget = 4096; /* datagrams a call: the loop serves the rest too */
	ps_dg_queue *q = &o->q;
	const struct sockaddr *to = o->to_len ? (const struct sockaddr *)&o->to : NULL;
	while (q->len && budget > 0) {
		int c = q->v[q->head].ch;
		uint8_t *bufs[GX_DG_BATCH];
		size_t lens[GX_DG_BATCH];
		int n = 0;
		uint64_t wait = 0;
		/* consecutive datagrams of one socket in a batch */
		while (n < GX_DG_BATCH && (size_t)n < q->len) {
			ps_dg_item *it = &q->v[(q->head + (size_t)n) % q->cap];
			if (it->ch != c)
				break;
			/* (the path carries the IP and UDP headers too) */
			if ((wait = gx_dg_pacer_take(&o->pacer, it->n + GX_DG_IP4_OVERHEAD, now)) != 0)
				break;
			bufs[n] = it->b;
			lens[n] = it->n;
			n++;
		}
		int sent = n ? gx_dg_send_to(o->fd[c], to, o->to_len, bufs, lens, n) : 0;
		if (sent < 0) {
			/* dropped here: lost like on the path */
			o->send_failed++;
			sent = 1;
		}
		for (int i = 0; i < sent; i++) {
			ps_dg_item *it = &q->v[q->head];
			o->queued -= it->n;
			free(it->b);
			q->head = (q->head + 1) % q->cap;
			q->len--;
		}
		o->datagrams += (uint64_t)sent;
		budget -= sent ? sent : 1;
		if (sent < n) /* the socket is full: try again shortly */
			wait = wait ? wait : 1000000;
		if (wait) {
			arm(o, wait);
			return;
		}
	}
	if (q->len)
		arm(o, 0);
}

uint32_t ps_dg_out_charge(ps_dg_out *o, size_t link_bytes)
{
	uint64_t now = gx_now_ns();
	gx_dg_pacer_charge(&o->pacer, link_bytes, now);
	uint64_t ahead = ((uint64_t)o->queued + (uint64_t)gx_dg_pacer_debt(&o->pacer, now)) >> 10;
	return ahead > UINT32_MAX ? UINT32_MAX : (uint32_t)ahead;
}

double ps_dgt_due(const gx_dgt_push *m, uint64_t copies, double grace)
{
	double dg = (double)m->block * (double)gx_wire_elem_size(m->codec) + GX_DG_HEAD + GX_DG_TAG;
	double bytes = (double)m->ahead * 1024 + (double)(m->lossy + copies) * dg;
	return (m->rate ? bytes / (double)m->rate : 0) + grace;
}

int ps_dg_out_seal(ps_dg_out *o, const gx_dg_key *k, const gx_dg_head *h, const void *v)
{
	size_t es = h->kind == GX_DG_ASK ? 1 : gx_wire_elem_size(h->codec);
	size_t cap = gx_dg_overhead(k) + (size_t)h->count * es;
	uint8_t *b = malloc(cap);
	long len = b ? gx_dg_seal(k, h, v, b, cap) : GX_ENOMEM;
	/* (channel 0, the reliable blocks' copies, leaves by channel 1's
	 * socket, in its DS class: in order with the lossy blocks) */
	int r = len < 0 ? (int)len : ps_dg_out_push(o, b, (size_t)len, h->channel ? h->channel : 1);
	if (r)
		free(b);
	return r;
}

/* ------------------------------------------------------------ the link */

/* Sends the n bytes of b (a control payload, codec NONE) as a frame of
 * type on c with rt's key, block, round and sender; b's reference goes. */
static void send_control(gx_ps *ps, gx_conn *c, const gx_tensor_route *rt, int type, gx_buf *b,
			 size_t n)
{
	gx_tensor_payload pl = { .bytes = b->data, .buf = b };
	gx_frame_hdr_init(&pl.h);
	pl.h.codec = GX_CODEC_NONE;
	pl.h.payload_len = pl.h.raw_len = (uint32_t)n;
	gx_tensor_route r = *rt;
	r.type = type;
	ps_send_tensor(ps, c, &r, &pl);
	gx_buf_unref(b);
}

long ps_dgt_send_push(gx_ps *ps, gx_conn *c, const gx_tensor_route *rt, const gx_dgt_push *m,
		      const uint32_t *idx, ps_dgt_values_fn vals, void *ud)
{
	size_t es = gx_wire_elem_size(m->codec);
	uint64_t elems = 0;
	uint16_t n;
	for (uint32_t i = 0; i < m->nrel; i++) {
		if (!vals(ud, idx[i], &n))
			return GX_EINVAL;
		elems += n;
	}
	size_t size = gx_dgt_push_size(m, elems);
	gx_buf *buf = gx_buf_pool_get(ps->bufs, size);
	if (!buf)
		return GX_ENOMEM;
	long at = gx_dgt_push_pack_head(m, idx, buf->data, size);
	for (uint32_t i = 0; at > 0 && i < m->nrel; i++) {
		const void *v = vals(ud, idx[i], &n);
		memcpy(buf->data + at, v, (size_t)n * es);
		at += (long)((size_t)n * es);
	}
	if (at < 0) {
		gx_buf_unref(buf);
		return at;
	}
	send_control(ps, c, rt, GX_FT_DGT_PUSH, buf, size);
	return (long)(size + GX_FRAME_HDR_SIZE);
}

int ps_dgt_send_ack(gx_ps *ps, gx_conn *c, const gx_tensor_route *rt, uint32_t nb, uint32_t late,
		    const uint8_t *bits)
{
	size_t cap = 8 + ((size_t)nb + 7) / 8;
	gx_buf *b = gx_buf_pool_get(ps->bufs, cap);
	if (!b)
		return GX_ENOMEM;
	long n = gx_dgt_ack_pack(nb, late, bits, b->data, cap);
	if (n < 0) {
		gx_buf_unref(b);
		return (int)n;
	}
	send_control(ps, c, rt, GX_FT_DGT_ACK, b, (size_t)n);
	return 0;
}
