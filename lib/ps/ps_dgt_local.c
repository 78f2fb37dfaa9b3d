/*
 * ps_dgt_local.c — a local server's DGT rounds (ps_dgt.h): each slice's
 * plan, its reliable part in a DGT_PUSH, its lossy blocks sealed into
 * datagrams and paced out over the channels' sockets, most important
 * channel first; the global's DGT_ACK folded back, and K moved once a
 * round.
 *
 * Choices:
 *  - One UDP socket per channel and upstream server, connected (so ICMP
 *    errors come back and the kernel routes once), each with its DS field.
 *  - The pacer is one per upstream server, and its queue one FIFO: a
 *    slice's datagrams leave together, its channel 1's first, slices in
 *    the order pushed. So each block's round can close, and its answer
 *    come down, while later blocks still go up (sending every slice's
 *    channel 1 before any channel 2 held every round open until the
 *    train's end: a 40-step trial at 0 % loss ran 1.28x TCP's step); the
 *    shaper's DS classes give the channels their priority where the path
 *    is contended.
 *  - A send that fails (the server's port unreachable, no buffer) drops
 *    the datagram: it is then lost like one the path dropped, and folded
 *    back when the global's word comes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../wire/control.h"
#include "ps_dgt.h"
#include "ps_local.h"

typedef struct dg_out {
	uint8_t *b;
	size_t n;
	int ch;   /* its channel: the socket it leaves by */
} dg_out;

/* A FIFO of sealed datagrams. */
typedef struct dg_queue {
	dg_out *v;
	size_t head, len, cap;
} dg_queue;

typedef struct dgt_up {
	int fd[GX_DGT_CHANNELS_MAX + 1]; /* [1..channels] */
	gx_dg_key *tx;
	dg_queue q;
	size_t queued;                   /* bytes in the queue */
	gx_dg_pacer pacer;
	long long timer;
	gx_ps *ps;
} dgt_up;

struct ps_dgt_local {
	int codec, channels;
	uint32_t block;
	gx_dgt_k k;
	dgt_up *up;           /* [nups] */
	uint8_t *chan;        /* scratch: a plan's channels */
	uint32_t *idx;        /* scratch: its reliable blocks */
	size_t scratch;
	/* K: the round whose ACKs are being summed */
	int k_open;
	uint32_t k_round;
	double f_sq, g_sq;
	/* statistics */
	uint64_t sent[GX_DGT_CHANNELS_MAX + 1], lost[GX_DGT_CHANNELS_MAX + 1];
	uint64_t datagrams, send_failed, acks;
	double folded_sq, pushed_sq;
};

static void q_free(dg_queue *q)
{
	for (size_t i = 0; i < q->len; i++)
		free(q->v[(q->head + i) % q->cap].b);
	free(q->v);
	memset(q, 0, sizeof *q);
}

static int q_push(dg_queue *q, uint8_t *b, size_t n, int ch)
{
	if (q->len == q->cap) {
		size_t nc = q->cap ? 2 * q->cap : 256;
		dg_out *v = malloc(nc * sizeof *v);
		if (!v)
			return GX_ENOMEM;
		for (size_t i = 0; i < q->len; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->cap = nc;
		q->head = 0;
	}
	q->v[(q->head + q->len) % q->cap] = (dg_out){ b, n, ch };
	q->len++;
	return 0;
}

int ps_dgt_local_init(gx_ps *ps)
{
	const gx_ps_opts *o = &ps->o;
	if (o->dgt.k == 0)
		return 0;
	if (!(o->dgt.k > 0 && o->dgt.k <= 1) || o->dgt.channels < 1 ||
	    o->dgt.channels > GX_DGT_CHANNELS_MAX || o->dgt.block > 65535 ||
	    !(o->dgt.rate > 0) || !(o->dgt.target >= 0 && o->dgt.target < 1) ||
	    !(o->dgt.k_min > 0 && o->dgt.k_min <= o->dgt.k)) {
		ps_log(ps, GX_LOG_ERROR, "invalid DGT settings (K %g, %d channels, block %u, rate "
		       "%g B/s, target %g, K's least %g)", o->dgt.k, o->dgt.channels, o->dgt.block,
		       o->dgt.rate, o->dgt.target, o->dgt.k_min);
		return GX_EINVAL;
	}
	if (o->wan.kind == GX_LINK_BSC || o->wan.kind == GX_LINK_MPQ) {
		ps_log(ps, GX_LOG_ERROR, "DGT sends dense blocks (F32, or F16 with --wan-codec "
		       "fp16): a sparse push has no unimportant blocks left to lose");
		return GX_EINVAL;
	}
	ps_local_state *ls = ps->loc;
	ps_dgt_local *dl = calloc(1, sizeof *dl);
	if (!dl || !(dl->up = calloc((size_t)ls->nups, sizeof *dl->up))) {
		free(dl);
		return GX_ENOMEM;
	}
	dl->codec = o->wan.kind == GX_LINK_FP16 ? GX_CODEC_F16 : GX_CODEC_F32;
	dl->channels = o->dgt.channels;
	dl->block = o->dgt.block;
	dl->k = (gx_dgt_k){ .k = o->dgt.k, .k_min = o->dgt.k_min, .k_max = 1,
			    .target = o->dgt.target };
	for (int i = 0; i < ls->nups; i++)
		for (int c = 0; c <= GX_DGT_CHANNELS_MAX; c++)
			dl->up[i].fd[c] = -1;
	ls->dgt = dl;
	/* coded, with its pushes as DGT rounds */
	ls->agg = 1;
	/* A DGT round cannot be made again as it went (its datagrams are
	 * gone, its residual waits for the global's word): a broken link to
	 * the global tier ends the job. */
	ps->o.reconnect_timeout = 0;
	return 0;
}

void ps_dgt_local_free(gx_ps *ps)
{
	ps_dgt_local *dl = ps->loc ? ps->loc->dgt : NULL;
	if (!dl)
		return;
	for (int i = 0; i < ps->loc->nups; i++) {
		dgt_up *u = &dl->up[i];
		for (int c = 0; c <= GX_DGT_CHANNELS_MAX; c++)
			if (u->fd[c] >= 0)
				close(u->fd[c]);
		q_free(&u->q);
		if (u->timer && ps->ev)
			gx_ev_timer_del(ps->ev, u->timer);
		gx_dg_key_free(u->tx);
	}
	free(dl->chan);
	free(dl->idx);
	free(dl->up);
	free(dl);
	ps->loc->dgt = NULL;
}

int ps_dgt_up_ready(gx_ps *ps, ps_peer *u)
{
	ps_dgt_local *dl = ps->loc->dgt;
	if (!dl)
		return 0;
	dgt_up *d = &dl->up[u->slot];
	d->ps = ps;
	char err[300];
	for (int c = 1; c <= dl->channels; c++) {
		if (d->fd[c] >= 0)
			continue;
		gx_dg_opts op = { .tos = PS_DGT_TOS(c) };
		d->fd[c] = gx_dg_connect(u->host, u->port, &op, err, sizeof err);
		if (d->fd[c] < 0) {
			ps_finish(ps, GX_EIO, u, "DGT: %s", err);
			return GX_EIO;
		}
	}
	if (!d->tx && ps->o.key && !(d->tx = gx_conn_datagram_key(u->c, 1))) {
		ps_finish(ps, GX_ENOMEM, u, "DGT: no datagram key for %s", u->label);
		return GX_ENOMEM;
	}
	double burst = ps->o.dgt.rate * 0.002;
	if (burst < 4 * 1500)
		burst = 4 * 1500;
	gx_dg_pacer_init(&d->pacer, ps->o.dgt.rate, burst, gx_now_ns());
	if (!ps->o.dgt.block) {
		/* what the path's MTU fits, the least over the servers (every
		 * link is ready before the first push) */
		int mtu = gx_dg_path_mtu(d->fd[1]);
		size_t fit = mtu > 0 ? gx_dg_fit(d->fd[1], mtu) : 0;
		size_t es = gx_wire_elem_size(dl->codec);
		size_t oh = gx_dg_overhead(d->tx);
		size_t b = fit > oh ? (fit - oh) / es : 0;
		if (b < 1) {
			ps_finish(ps, GX_EIO, u, "DGT: the path to %s has an MTU of %d", u->label,
				  mtu);
			return GX_EIO;
		}
		if (b > 65535)
			b = 65535;
		if (!dl->block || b < dl->block)
			dl->block = (uint32_t)b;
		ps_log(ps, GX_LOG_INFO, "DGT to %s: path MTU %d, blocks of %u elements, %d lossy "
		       "channel%s paced at %.0f B/s, K %.3g", u->label, mtu, dl->block,
		       dl->channels, dl->channels == 1 ? "" : "s", ps->o.dgt.rate, dl->k.k);
	}
	return 0;
}

/* ------------------------------------------------------------- sending */

static long pump_timer(gx_ev *ev, long long id, void *ud);

/* Sends what the pacer lets go, in the queue's order (consecutive
 * datagrams of one channel in a batch); arms a timer for the rest. */
static void pump(dgt_up *d)
{
	gx_ps *ps = d->ps;
	ps_dgt_local *dl = ps->loc->dgt;
	uint64_t now = gx_now_ns();
	int budget = 4096; /* datagrams a call: the loop serves the rest too */
	dg_queue *q = &d->q;
	while (q->len && budget > 0) {
		int c = q->v[q->head].ch;
		uint8_t *bufs[GX_DG_BATCH];
		size_t lens[GX_DG_BATCH];
		int n = 0;
		uint64_t wait = 0;
		while (n < GX_DG_BATCH && (size_t)n < q->len) {
			dg_out *o = &q->v[(q->head + (size_t)n) % q->cap];
			if (o->ch != c)
				break;
			/* (the path carries the IP and UDP headers too) */
			if ((wait = gx_dg_pacer_take(&d->pacer, o->n + GX_DG_IP4_OVERHEAD, now)) != 0)
				break;
			bufs[n] = o->b;
			lens[n] = o->n;
			n++;
		}
		int sent = n ? gx_dg_send(d->fd[c], bufs, lens, n) : 0;
		if (sent < 0) {
			/* dropped here: lost like on the path (folded back) */
			dl->send_failed++;
			sent = 1;
		}
		for (int i = 0; i < sent; i++) {
			dg_out *o = &q->v[q->head];
			d->queued -= o->n;
			free(o->b);
			q->head = (q->head + 1) % q->cap;
			q->len--;
		}
		dl->datagrams += (uint64_t)sent;
		budget -= sent ? sent : 1;
		if (sent < n) /* the socket is full: try again shortly */
			wait = wait ? wait : 1000000;
		if (wait) {
			if (!d->timer) {
				long ms = (long)((wait + 999999) / 1000000);
				long long id = gx_ev_timer(ps->ev, ms, pump_timer, d);
				d->timer = id > 0 ? id : 0;
			}
			return;
		}
	}
	if (d->queued && !d->timer) {
		long long id = gx_ev_timer(ps->ev, 0, pump_timer, d);
		d->timer = id > 0 ? id : 0;
	}
}

static long pump_timer(gx_ev *ev, long long id, void *ud)
{
	(void)ev;
	(void)id;
	dgt_up *d = ud;
	d->timer = 0;
	pump(d);
	return -1;
}

int ps_dgt_key_init(gx_ps *ps, ps_lkey *k)
{
	ps_dgt_local *dl = ps->loc->dgt;
	if (!(k->dgt = calloc((size_t)k->nsl, sizeof *k->dgt)))
		return GX_ENOMEM;
	for (int b = 0; b < k->nsl; b++) {
		if (!(k->dgt[b] = gx_dgt_create(k->sl[b].count, dl->block, dl->codec)))
			return GX_ENOMEM;
		/* the plans' scratch: room for the most blocks of a slice */
		uint32_t nb = gx_dgt_nblocks(k->dgt[b]);
		if (nb > dl->scratch) {
			free(dl->chan);
			free(dl->idx);
			dl->chan = malloc(nb);
			dl->idx = malloc(nb * sizeof *dl->idx);
			dl->scratch = dl->chan && dl->idx ? nb : 0;
			if (!dl->scratch)
				return GX_ENOMEM;
		}
	}
	return 0;
}

void ps_dgt_push(gx_ps *ps, ps_lkey *k, int b, uint32_t round, const float *x)
{
	ps_dgt_local *dl = ps->loc->dgt;
	const gx_slice *s = &k->sl[b];
	ps_peer *u = ps->loc->ups[s->server];
	dgt_up *d = &dl->up[s->server];
	gx_dgt *g = k->dgt[b];
	uint32_t nb = gx_dgt_nblocks(g), nrel = 0, lossy = 0;
	int r = gx_dgt_plan(g, x, dl->k.k, dl->channels, dl->chan);
	if (r) {
		ps_finish(ps, r, NULL, "key %u block %u: DGT: %s", k->key, s->block, gx_strerror(r));
		return;
	}
	uint64_t elems = 0;
	for (uint32_t i = 0; i < nb; i++) {
		if (dl->chan[i]) {
			lossy++;
			continue;
		}
		dl->idx[nrel++] = i;
		elems += gx_dgt_block_len(s->count, dl->block, i);
	}
	uint64_t ahead = d->queued >> 10;
	gx_dgt_push m = { .codec = (uint8_t)dl->codec, .channels = (uint8_t)dl->channels,
			  .block = dl->block, .nblocks = nb, .lossy = lossy, .nrel = nrel,
			  .rate = (uint64_t)ps->o.dgt.rate,
			  .ahead = ahead > UINT32_MAX ? UINT32_MAX : (uint32_t)ahead };
	size_t size = gx_dgt_push_size(&m, elems);
	gx_buf *buf = gx_buf_pool_get(ps->bufs, size);
	if (!buf) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)", k->key);
		return;
	}
	long at = gx_dgt_push_pack_head(&m, dl->idx, buf->data, size);
	size_t es = gx_wire_elem_size(dl->codec);
	for (uint32_t i = 0; at > 0 && i < nrel; i++) {
		uint16_t n;
		const void *v = gx_dgt_values(g, dl->idx[i], &n);
		memcpy(buf->data + at, v, (size_t)n * es);
		at += (long)((size_t)n * es);
	}
	gx_tensor_payload pl = { .bytes = buf->data, .buf = buf };
	gx_frame_hdr_init(&pl.h);
	pl.h.codec = GX_CODEC_NONE;
	pl.h.payload_len = pl.h.raw_len = (uint32_t)size;
	gx_tensor_route rt = { .type = GX_FT_DGT_PUSH, .key = k->key, .block = s->block,
			       .round = round, .sender = ps->o.party };
	ps_send_tensor(ps, u->c, &rt, &pl);
	gx_buf_unref(buf);
	/* the reliable part goes first (a shaper serves the link first): the
	 * datagrams wait behind its bytes */
	gx_dg_pacer_charge(&d->pacer, size + GX_FRAME_HDR_SIZE, gx_now_ns());
	/* the lossy blocks: channel 1's, then 2's ..., each in block order */
	size_t cap = GX_DG_HEAD + (size_t)dl->block * es + GX_DG_TAG;
	for (uint32_t j = 0; j < (uint32_t)dl->channels * nb && !ps->finishing; j++) {
		uint32_t i = j % nb;
		int c = dl->chan[i];
		if (c != (int)(j / nb) + 1)
			continue;
		uint16_t n;
		const void *v = gx_dgt_values(g, i, &n);
		gx_dg_head h = { .kind = GX_DG_BLOCK, .channel = (uint8_t)c,
				 .codec = (uint8_t)dl->codec, .party = ps->o.party, .key = k->key,
				 .slice = s->block, .round = round, .block = i, .count = n,
				 .flags = i + 1 == nb ? GX_DG_LAST : 0 };
		uint8_t *o = malloc(cap);
		long len = o ? gx_dg_seal(d->tx, &h, v, o, cap) : GX_ENOMEM;
		if (len < 0 || q_push(&d->q, o, (size_t)len, c)) {
			free(o);
			ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)", k->key);
			return;
		}
		d->queued += (size_t)len;
	}
	pump(d);
}

/* ------------------------------------------------------------- the word */

void ps_dgt_on_ack(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_dgt_local *dl = ps->loc->dgt;
	/* with blocks, the block is a key of the table; else a slice of one */
	ps_lkey *k = dl ? ps_local_key(ps, h->key, h->block) : NULL;
	if (dl && !k)
		k = ps_local_key(ps, h->key, 0);
	int b = 0;
	while (k && b < k->nsl && k->sl[b].block != h->block)
		b++;
	gx_dgt *g = k && k->dgt && b < k->nsl ? k->dgt[b] : NULL;
	const uint8_t *bits;
	uint32_t late;
	if (!g || h->codec != GX_CODEC_NONE ||
	    gx_dgt_ack_parse(pl, h->payload_len, gx_dgt_nblocks(g), &late, &bits)) {
		ps_violation(ps, u, GX_EPROTO, "key %u block %u: malformed or unexpected DGT_ACK",
			     h->key, h->block);
		return;
	}
	gx_dgt_fold_stats st;
	if (gx_dgt_fold(g, bits, &st)) {
		ps_violation(ps, u, GX_EPROTO, "key %u block %u: DGT_ACK of no round in flight",
			     h->key, h->block);
		return;
	}
	dl->acks++;
	for (int c = 0; c <= GX_DGT_CHANNELS_MAX; c++) {
		dl->sent[c] += st.sent[c];
		dl->lost[c] += st.lost[c];
	}
	dl->folded_sq += st.folded_sq;
	dl->pushed_sq += st.g_sq;
	/* K moves once a round, on what the whole round delayed */
	if (dl->k_open && h->round != dl->k_round) {
		if (dl->k.target > 0)
			gx_dgt_k_next(&dl->k, dl->f_sq, dl->g_sq);
		dl->f_sq = dl->g_sq = 0;
	}
	dl->k_open = 1;
	dl->k_round = h->round;
	dl->f_sq += st.folded_sq;
	dl->g_sq += st.g_sq;
}

void ps_dgt_stats(const gx_ps *ps, ps_sbuf *b, int json)
{
	const ps_dgt_local *dl = ps->loc->dgt;
	if (!dl)
		return;
	double share = dl->pushed_sq > 0 ? dl->folded_sq / dl->pushed_sq : 0;
	if (json)
		ps_sb_printf(b, ",\"dgt\":{\"k\":%.6g,\"block\":%u,\"datagrams\":%llu,"
			     "\"send_failed\":%llu,\"delayed_share\":%.6g,\"channels\":[", dl->k.k,
			     dl->block, (unsigned long long)dl->datagrams,
			     (unsigned long long)dl->send_failed, share);
	else
		ps_sb_printf(b, "dgt\t%.6g\t%u\t%llu\t%llu\t%.6g\n", dl->k.k, dl->block,
			     (unsigned long long)dl->datagrams, (unsigned long long)dl->send_failed,
			     share);
	for (int c = 0; c <= dl->channels; c++) {
		unsigned long long s = dl->sent[c], l = dl->lost[c];
		if (json)
			ps_sb_printf(b, "%s{\"channel\":%d,\"sent\":%llu,\"delivered\":%llu,"
				     "\"lost\":%llu}", c ? "," : "", c, s, s - l, l);
		else
			ps_sb_printf(b, "channel\t%d\t%llu\t%llu\t%llu\n", c, s, s - l, l);
	}
	if (json)
		ps_sb_printf(b, "]}");
}
