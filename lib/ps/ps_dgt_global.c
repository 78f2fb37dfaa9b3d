/*
 * ps_dgt_global.c — the global tier's side of DGT (ps_dgt.h): the
 * datagram port, each (slice, party)'s round gathered from its DGT_PUSH
 * and its datagrams, closed when every block is in or at the deadline,
 * answered with DGT_ACK and counted as the party's push.
 *
 * Choices:
 *  - The datagram port is a UDP socket on the listening address and port
 *    number, bound when the first local under DGT says HELLO (a job
 *    without DGT opens no UDP port): a local sends its datagrams to the
 *    address it dials, so DGT needs a path that carries UDP (geomx-netem
 *    or a real network, not a geomx-relay). Datagrams from anyone else
 *    are dropped at the header or at authentication, and counted.
 *  - The deadline: the DGT_PUSH's arrival plus the time the datagrams
 *    queued at the sender before and with this round take at its pace,
 *    plus --dgt-grace, and then as long as the party's datagrams keep
 *    arriving less than --dgt-grace apart (a round's may wait behind
 *    other slices' and the link's bytes on the way). A round whose blocks
 *    are all in closes at once.
 *  - A datagram that overtakes the slice's first DGT_PUSH is placed when
 *    the slice's block size is known: from an earlier round, or from the
 *    datagram itself when it is not the slice's last block (GX_DG_LAST).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/le.h"
#include "../wire/control.h"
#include "ps_dgt.h"
#include "ps_global.h"

typedef struct ps_dgt_slot {
	gx_dgt_rx *rx;
	uint32_t block;   /* the rx's block size */
	int rel;          /* the open round's DGT_PUSH is in */
	uint32_t expect;  /* blocks that will come: reliable + lossy */
	int codec;
	long long timer;
	gx_ps *ps;
	ps_gslice *s;
	int party;
} ps_dgt_slot;

struct ps_dgt_global {
	int fd;
	gx_dg_rx *rx;
	uint32_t *late;   /* [parties] late datagrams since the last ACK */
	uint64_t *t_last; /* [parties] ns, the party's last datagram placed */
	uint64_t datagrams, placed, dup, late_all, stray, forged, malformed;
	uint64_t closed_full, closed_deadline;
};

static void on_readable(gx_ev *ev, int fd, void *ud, int mask);

int ps_dgt_global_init(gx_ps *ps)
{
	ps_global_state *g = ps->glob;
	ps_dgt_global *d = calloc(1, sizeof *d);
	if (!d || !(d->late = calloc((size_t)ps->n, sizeof *d->late)) ||
	    !(d->t_last = calloc((size_t)ps->n, sizeof *d->t_last)) || !(d->rx = gx_dg_rx_new())) {
		if (d) {
			free(d->late);
			free(d->t_last);
			free(d);
		}
		return GX_ENOMEM;
	}
	d->fd = -1;
	g->dgt = d;
	char host[GX_NET_HOST_MAX + 1], err[300];
	int port;
	if (gx_net_split(ps->listen_s, host, sizeof host, &port) != 0)
		host[0] = '\0';
	/* room for a round's datagrams from every party at once */
	gx_dg_opts o = { .rcvbuf = 8 << 20 };
	d->fd = gx_dg_bind(host, ps->port, &o, err, sizeof err);
	if (d->fd < 0) {
		ps_log(ps, GX_LOG_ERROR, "DGT unavailable: %s", err);
		return GX_EIO;
	}
	if (gx_ev_add(ps->ev, d->fd, GX_EV_READ, on_readable, ps)) {
		ps_log(ps, GX_LOG_ERROR, "DGT unavailable: cannot watch the datagram port");
		return GX_EIO;
	}
	ps_log(ps, GX_LOG_INFO, "DGT: datagrams on UDP port %d", ps->port);
	return 0;
}

static void slot_free(gx_ps *ps, ps_dgt_slot *t)
{
	if (t->timer)
		gx_ev_timer_del(ps->ev, t->timer);
	gx_dgt_rx_free(t->rx);
}

void ps_dgt_global_free(gx_ps *ps)
{
	ps_global_state *g = ps->glob;
	ps_dgt_global *d = g ? g->dgt : NULL;
	if (!d)
		return;
	for (size_t i = 0; i < g->map_cap; i++) {
		ps_gslice *s = g->map[i];
		if (!s || !s->dgt)
			continue;
		for (int p = 0; p < ps->n; p++)
			slot_free(ps, &s->dgt[p]);
		free(s->dgt);
		s->dgt = NULL;
	}
	if (d->fd >= 0) {
		gx_ev_del(ps->ev, d->fd, GX_EV_READ);
		close(d->fd);
	}
	gx_dg_rx_free(d->rx);
	free(d->late);
	free(d->t_last);
	free(d);
	g->dgt = NULL;
}

int ps_dgt_global_admit(gx_ps *ps, ps_peer *p)
{
	int r = ps->glob->dgt ? 0 : ps_dgt_global_init(ps);
	if (r == GX_ENOMEM) {
		ps_finish(ps, r, NULL, "out of memory for DGT");
		return r;
	}
	if (r || ps->glob->dgt->fd < 0) {
		ps_violation(ps, p, GX_EPROTO, "this global server has no datagram port for DGT "
			     "(its log says why)");
		return GX_EPROTO;
	}
	gx_dg_key_free(p->dgk);
	p->dgk = NULL;
	if (ps->o.key && !(p->dgk = gx_conn_datagram_key(p->c, 0))) {
		ps_finish(ps, GX_ENOMEM, p, "DGT: no datagram key for %s", p->label);
		return GX_ENOMEM;
	}
	return 0;
}

/* Party i's slot of s, the slots made on first use. */
static ps_dgt_slot *slot_of(gx_ps *ps, ps_gslice *s, int i)
{
	if (!s->dgt) {
		if (!(s->dgt = calloc((size_t)ps->n, sizeof *s->dgt)))
			return NULL;
		for (int p = 0; p < ps->n; p++)
			s->dgt[p] = (ps_dgt_slot){ .ps = ps, .s = s, .party = p };
	}
	return &s->dgt[i];
}

/* A slot's receiver for blocks of `block` elements: made, or made again
 * (only between rounds) when the size changes. 0 or an error. */
static int slot_rx(ps_dgt_slot *t, uint32_t block)
{
	if (t->rx && t->block == block)
		return 0;
	if (t->rx && gx_dgt_rx_open(t->rx, NULL))
		return GX_EPROTO;
	/* (its rounds go on from the slice's) */
	gx_dgt_rx *r = gx_dgt_rx_create(t->s->count, block, t->s->next_round[t->party]);
	if (!r)
		return GX_ENOMEM;
	gx_dgt_rx_free(t->rx);
	t->rx = r;
	t->block = block;
	return 0;
}

/* The round is over for this party: its word, then its push. */
static void close_round(gx_ps *ps, ps_dgt_slot *t, int full)
{
	ps_dgt_global *d = ps->glob->dgt;
	ps_gslice *s = t->s;
	if (t->timer) {
		gx_ev_timer_del(ps->ev, t->timer);
		t->timer = 0;
	}
	uint32_t round = (uint32_t)gx_dgt_rx_close(t->rx);
	uint32_t nb = gx_dgt_rx_nblocks(t->rx);
	if (full)
		d->closed_full++;
	else
		d->closed_deadline++;
	ps_peer *p = ps->who[t->party];
	size_t cap = 8 + ((size_t)nb + 7) / 8;
	gx_buf *b = gx_buf_pool_get(ps->bufs, cap);
	if (!b) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)", s->key);
		return;
	}
	long n = gx_dgt_ack_pack(nb, d->late[t->party], gx_dgt_rx_bitmap(t->rx), b->data, cap);
	d->late[t->party] = 0;
	gx_tensor_payload pl = { .bytes = b->data, .buf = b };
	gx_frame_hdr_init(&pl.h);
	pl.h.codec = GX_CODEC_NONE;
	pl.h.payload_len = pl.h.raw_len = (uint32_t)n;
	gx_tensor_route rt = { .type = GX_FT_DGT_ACK, .key = s->key, .block = s->block,
			       .round = round, .sender = ps->sender };
	if (p && p->c)
		ps_send_tensor(ps, p->c, &rt, &pl);
	gx_buf_unref(b);
	t->rel = 0;
	ps_global_contribute(ps, s, t->party, gx_dgt_rx_values(t->rx), t->codec);
	gx_dgt_rx_release(t->rx);
}

static long deadline(gx_ev *ev, long long id, void *ud)
{
	(void)ev;
	(void)id;
	ps_dgt_slot *t = ud;
	t->timer = 0;
	if (!t->rel || t->ps->finishing)
		return -1;
	/* the party's datagrams still coming (this round's may queue behind
	 * other slices' and the link's bytes on the way): wait as long again
	 * while they do; they are finite, and what is not placed (a replay)
	 * extends nothing */
	uint64_t grace = (uint64_t)(t->ps->o.dgt.grace * 1e9);
	if (grace && gx_now_ns() - t->ps->glob->dgt->t_last[t->party] < grace) {
		long ms = (long)((grace + 999999) / 1000000);
		long long id2 = gx_ev_timer(t->ps->ev, ms, deadline, t);
		if (id2 > 0) {
			t->timer = id2;
			return -1;
		}
	}
	close_round(t->ps, t, 0);
	return -1;
}

static void maybe_close(gx_ps *ps, ps_dgt_slot *t)
{
	if (t->rel && gx_dgt_rx_have(t->rx) >= t->expect)
		close_round(ps, t, 1);
}

void ps_dgt_on_push(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_gslice *s = map_get(ps->glob, h->key, h->block);
	int i = p->slot;
	gx_dgt_push m;
	if (p->mode != PS_HELLO_DGT || !s || h->codec != GX_CODEC_NONE ||
	    gx_dgt_push_parse(pl, h->payload_len, s->count, &m)) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: malformed or unexpected DGT_PUSH",
			     h->key, h->block);
		return;
	}
	if (h->round != s->next_round[i]) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: DGT round %u, expected round %u",
			     h->key, h->block, h->round, s->next_round[i]);
		return;
	}
	ps_dgt_slot *t = slot_of(ps, s, i);
	int r = t ? slot_rx(t, m.block) : GX_ENOMEM;
	if (r) {
		if (r == GX_ENOMEM)
			ps_finish(ps, r, NULL, "out of memory for key %u (DGT)", h->key);
		else
			ps_violation(ps, p, r, "key %u block %u: DGT blocks of %u elements in the "
				     "middle of a round of %u", h->key, h->block, m.block, t->block);
		return;
	}
	size_t es = gx_wire_elem_size(m.codec);
	const uint8_t *v = m.values;
	for (uint32_t k = 0; k < m.nrel; k++) {
		uint32_t b = get32(m.index + 4 * (size_t)k);
		uint32_t n = gx_dgt_block_len(s->count, m.block, b);
		int st = gx_dgt_rx_put(t->rx, h->round, b, m.codec, v, (uint16_t)n);
		if (st != GX_DGT_PLACED) {
			ps_violation(ps, p, GX_EPROTO, "key %u block %u round %u: DGT block %u "
				     "cannot be placed", h->key, h->block, h->round, b);
			return;
		}
		v += (size_t)n * es;
	}
	t->rel = 1;
	t->expect = m.nrel + m.lossy;
	t->codec = m.codec;
	if (gx_dgt_rx_have(t->rx) >= t->expect) {
		close_round(ps, t, 1);
		return;
	}
	/* the datagrams ahead of and with this round's, at the sender's pace */
	double bytes = (double)m.ahead * 1024 +
		       (double)m.lossy * ((double)m.block * (double)es + GX_DG_HEAD + GX_DG_TAG);
	double secs = (m.rate ? bytes / (double)m.rate : 0) + ps->o.dgt.grace;
	long ms = (long)ceil(secs * 1000);
	long long id = gx_ev_timer(ps->ev, ms > 0 ? ms : 1, deadline, t);
	if (id <= 0) {
		close_round(ps, t, 0);
		return;
	}
	t->timer = id;
}

/* ------------------------------------------------------------ datagrams */

/* One datagram from the port. */
static void take(gx_ps *ps, uint8_t *buf, size_t len)
{
	ps_dgt_global *d = ps->glob->dgt;
	gx_dg_head h;
	d->datagrams++;
	if (gx_dg_peek(buf, len, ps->o.key != NULL, &h) != 0) {
		d->malformed++;
		return;
	}
	ps_peer *p = h.party < (uint32_t)ps->n ? ps->who[h.party] : NULL;
	if (!p || !p->c || p->mode != PS_HELLO_DGT || ps->slot[h.party] != SLOT_LIVE) {
		d->stray++;
		return;
	}
	const uint8_t *body;
	if (gx_dg_open(p->dgk, buf, len, &h, &body) != 0) {
		d->forged++;
		return;
	}
	ps_gslice *s = map_get(ps->glob, h.key, h.slice);
	ps_dgt_slot *t = s ? slot_of(ps, s, (int)h.party) : NULL;
	if (!t) {
		d->stray++;
		return;
	}
	if (!t->rx) {
		/* before the slice's first DGT_PUSH: its block size is this
		 * datagram's unless it is the slice's last block */
		if ((h.flags & GX_DG_LAST) || !h.count || slot_rx(t, h.count)) {
			d->stray++;
			return;
		}
	}
	switch (gx_dgt_rx_put(t->rx, h.round, h.block, h.codec, body, h.count)) {
	case GX_DGT_PLACED:
		d->placed++;
		d->t_last[h.party] = gx_now_ns();
		maybe_close(ps, t);
		return;
	case GX_DGT_DUP:
		d->dup++;
		return;
	case GX_DGT_LATE:
		d->late_all++;
		d->late[h.party]++;
		return;
	default:
		d->stray++;
	}
}

static void on_readable(gx_ev *ev, int fd, void *ud, int mask)
{
	(void)ev;
	(void)mask;
	gx_ps *ps = ud;
	ps_dgt_global *d = ps->glob->dgt;
	/* a bounded number of batches an event, so that a flood cannot hold
	 * the loop from the links */
	for (int k = 0; k < 64 && !ps->finishing; k++) {
		int n = gx_dg_recv(fd, d->rx);
		if (n <= 0)
			return;
		for (int i = 0; i < n && !ps->finishing; i++)
			take(ps, d->rx->buf[i], d->rx->len[i]);
	}
}

void ps_dgt_global_stats(const gx_ps *ps, ps_sbuf *b, int json)
{
	const ps_dgt_global *d = ps->glob->dgt;
	if (!d || d->fd < 0)
		return;
	static const char *const names[] = { "datagrams", "placed", "duplicate", "late", "stray",
					     "forged", "malformed", "kernel_dropped",
					     "closed_full", "closed_deadline" };
	const uint64_t v[] = { d->datagrams, d->placed, d->dup, d->late_all, d->stray, d->forged,
			       d->malformed, d->rx->dropped, d->closed_full, d->closed_deadline };
	ps_sb_printf(b, "%s", json ? ",\"dgt\":{" : "dgt_in");
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		if (json)
			ps_sb_printf(b, "%s\"%s\":%llu", i ? "," : "", names[i],
				     (unsigned long long)v[i]);
		else
			ps_sb_printf(b, "\t%llu", (unsigned long long)v[i]);
	ps_sb_printf(b, "%s", json ? "}" : "\n");
}
