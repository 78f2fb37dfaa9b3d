/*
 * ps_dgt_local.c — a local server's DGT rounds (ps_dgt.h): each slice's
 * plan, its reliable part in a DGT_PUSH, its blocks sealed into datagrams
 * (the reliable ones' copies, twice, and the lossy ones, most important
 * channel first) and paced out (ps_dgt_out.c); the global's DGT_ACK
 * folded back, and K moved once a round; the answers' datagrams read and
 * handed to ps_dgt_answers.c.
 *
 * Choices:
 *  - One UDP socket per channel and upstream server, connected (so ICMP
 *    errors come back, the kernel routes once, and only the global's port
 *    reaches it), each with its DS field; the answers come to channel 1's.
 *  - One paced FIFO per upstream server: a slice's datagrams leave
 *    together, slices in the order pushed. So each block's round can
 *    close, and its answer come down, while later blocks still go up
 *    (sending every slice's channel 1 before any channel 2 held every
 *    round open until the train's end: a 40-step trial at 0 % loss ran
 *    1.28x TCP's step); the shaper's DS classes give the channels their
 *    priority where the path is contended.
 *  - A slice's next round is planned while up to GX_DGT_INFLIGHT wait for
 *    their words (the answers, as datagrams, overtake them); one more is
 *    held until a word comes.
 */
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../wire/control.h"
#include "ps_dgt.h"
#include "ps_local.h"

typedef struct dgt_up {
	ps_dg_out out;   /* its fd[1..channels]: one socket a channel; the
			  * answers come to fd[1] */
	gx_dg_key *tx, *rx;
	gx_dg_rx *in;
	int watched;     /* fd[1] on the loop */
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
	uint64_t acks;
	/* the answers down: datagrams placed, twice, late, stray, that did
	 * not open or parse; slices whole from datagrams alone and after a
	 * DGT_ACK; blocks asked for again */
	uint64_t a_placed, a_dup, a_late, a_stray, a_forged, a_malformed;
	uint64_t a_whole, a_repaired, a_asked;
	double folded_sq, pushed_sq;
};

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
		ps_dg_out_init(&dl->up[i].out, ps, o->dgt.rate);
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
		if (u->watched && ps->ev)
			gx_ev_del(ps->ev, u->out.fd[1], GX_EV_READ);
		for (int c = 0; c <= GX_DGT_CHANNELS_MAX; c++)
			if (u->out.fd[c] >= 0)
				close(u->out.fd[c]);
		ps_dg_out_free(&u->out);
		gx_dg_key_free(u->tx);
		gx_dg_key_free(u->rx);
		gx_dg_rx_free(u->in);
	}
	free(dl->chan);
	free(dl->idx);
	free(dl->up);
	free(dl);
	ps->loc->dgt = NULL;
}

/* The answers' datagrams on an upstream's channel 1 socket (connected:
 * only the global's port reaches it). */
static void on_answers(gx_ev *ev, int fd, void *ud, int mask)
{
	(void)ev;
	(void)mask;
	dgt_up *d = ud;
	gx_ps *ps = d->ps;
	ps_dgt_local *dl = ps->loc->dgt;
	/* a bounded number of batches an event (a flood cannot hold the loop) */
	for (int k = 0; k < 64 && !ps->finishing; k++) {
		int n = gx_dg_recv(fd, d->in);
		if (n <= 0)
			return;
		for (int i = 0; i < n && !ps->finishing; i++) {
			gx_dg_head h;
			const uint8_t *body;
			int r = gx_dg_peek(d->in->buf[i], d->in->len[i], d->rx != NULL, &h);
			if (r || h.kind != GX_DG_ANSWER) {
				dl->a_malformed++;
				continue;
			}
			if (gx_dg_open(d->rx, d->in->buf[i], d->in->len[i], &h, &body)) {
				dl->a_forged++;
				continue;
			}
			switch (ps_dgt_answer_datagram(ps, &h, body)) {
			case PS_DGA_PLACED:
				dl->a_placed++;
				break;
			case PS_DGA_DUP:
				dl->a_dup++;
				break;
			case PS_DGA_LATE:
				dl->a_late++;
				break;
			case PS_DGA_NOMEM:
				ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)",
					  h.key);
				return;
			default:
				dl->a_stray++;
			}
		}
	}
}

int ps_dgt_up_ready(gx_ps *ps, ps_peer *u)
{
	ps_dgt_local *dl = ps->loc->dgt;
	if (!dl)
		return 0;
	dgt_up *d = &dl->up[u->slot];
	char err[300];
	for (int c = 1; c <= dl->channels; c++) {
		if (d->out.fd[c] >= 0)
			continue;
		gx_dg_opts op = { .tos = PS_DGT_TOS(c) };
		d->out.fd[c] = gx_dg_connect(u->host, u->port, &op, err, sizeof err);
		if (d->out.fd[c] < 0) {
			ps_finish(ps, GX_EIO, u, "DGT: %s", err);
			return GX_EIO;
		}
	}
	if ((!d->tx && ps->o.key && !(d->tx = gx_conn_datagram_key(u->c, 1))) ||
	    (!d->rx && ps->o.key && !(d->rx = gx_conn_datagram_key(u->c, 0))) ||
	    (!d->in && !(d->in = gx_dg_rx_new()))) {
		ps_finish(ps, GX_ENOMEM, u, "DGT: no datagram key for %s", u->label);
		return GX_ENOMEM;
	}
	d->ps = ps;
	if (!d->watched) {
		if (gx_ev_add(ps->ev, d->out.fd[1], GX_EV_READ, on_answers, d)) {
			ps_finish(ps, GX_EIO, u, "DGT: cannot watch the datagram socket");
			return GX_EIO;
		}
		d->watched = 1;
	}
	if (!ps->o.dgt.block) {
		/* what the path's MTU fits, the least over the servers (every
		 * link is ready before the first push) */
		int mtu = gx_dg_path_mtu(d->out.fd[1]);
		size_t fit = mtu > 0 ? gx_dg_fit(d->out.fd[1], mtu) : 0;
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

int ps_dgt_key_init(gx_ps *ps, ps_lkey *k)
{
	ps_dgt_local *dl = ps->loc->dgt;
	if (!(k->dgt = calloc((size_t)k->nsl, sizeof *k->dgt)))
		goto nomem;
	for (int b = 0; b < k->nsl; b++) {
		if (!(k->dgt[b] = gx_dgt_create(k->sl[b].count, dl->block, dl->codec)))
			goto nomem;
		/* the plans' scratch: room for the most blocks of a slice */
		uint32_t nb = gx_dgt_nblocks(k->dgt[b]);
		if (k->sl[b].block > GX_DG_SLICE_MAX || nb - 1 > GX_DG_INDEX_MAX) {
			ps_finish(ps, GX_EINVAL, NULL, "key %u: DGT: slice %u of %u blocks of %u "
				  "elements; datagrams number at most %u slices of %u blocks (cut the "
				  "tensor with --block)", k->key, k->sl[b].block, nb, dl->block,
				  GX_DG_SLICE_MAX + 1, GX_DG_INDEX_MAX + 1);
			return GX_EINVAL;
		}
		if (nb > dl->scratch) {
			free(dl->chan);
			free(dl->idx);
			dl->chan = malloc(nb);
			dl->idx = malloc(nb * sizeof *dl->idx);
			dl->scratch = dl->chan && dl->idx ? nb : 0;
			if (!dl->scratch)
				goto nomem;
		}
	}
	if (ps_dgt_answers_init(ps, k))
		goto nomem;
	return 0;
nomem:
	ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
	return GX_ENOMEM;
}

static const void *plan_values(void *ud, uint32_t b, uint16_t *n)
{
	return gx_dgt_values(ud, b, n);
}

void ps_dgt_push(gx_ps *ps, ps_lkey *k, int b, uint32_t round, const float *x)
{
	ps_dgt_local *dl = ps->loc->dgt;
	const gx_slice *s = &k->sl[b];
	ps_peer *u = ps->loc->ups[s->server];
	dgt_up *d = &dl->up[s->server];
	gx_dgt *g = k->dgt[b];
	if (gx_dgt_planned(g) >= GX_DGT_INFLIGHT) {
		/* the answers of the last rounds came as datagrams ahead of
		 * the words on them: this one goes when a word comes */
		if (ps_dgt_hold(k, b, round, x))
			ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)", k->key);
		return;
	}
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
	/* the reliable part goes first (a shaper serves the link first): the
	 * datagrams wait behind its bytes, and the global's deadline counts
	 * them as ahead of this round's datagrams, with the queue's and what
	 * the bucket owes */
	gx_dgt_push m = { .codec = (uint8_t)dl->codec, .channels = (uint8_t)dl->channels,
			  .block = dl->block, .nblocks = nb, .lossy = lossy, .nrel = nrel,
			  .rate = (uint64_t)ps->o.dgt.rate };
	m.ahead = ps_dg_out_charge(&d->out, gx_dgt_push_size(&m, elems) + GX_FRAME_HDR_SIZE);
	gx_tensor_route rt = { .key = k->key, .block = s->block, .round = round,
			       .sender = ps->o.party };
	long sent = ps_dgt_send_push(ps, u->c, &rt, &m, dl->idx, plan_values, g);
	if (sent < 0) {
		ps_finish(ps, (int)sent, NULL, "key %u block %u: DGT: %s", k->key, s->block,
			  gx_strerror((int)sent));
		return;
	}
	/* The datagrams, in passes: copies of the reliable blocks (channel 0),
	 * channel 1's lossy blocks, 2's ..., each in block order, and before
	 * the last channel's the copies again (the same bytes: two chances,
	 * apart, for the blocks the round cannot close without, so that it
	 * seldom waits for the link's DGT_PUSH, which a loss on the link holds
	 * up by a round trip or more). The last datagram of a first pass
	 * carries GX_DG_END. */
	int C = dl->channels, npass = C + 2, pass_ch[GX_DGT_CHANNELS_MAX + 2];
	for (int p = 0; p < C; p++)
		pass_ch[p] = p;
	pass_ch[C] = 0;
	pass_ch[C + 1] = C;
	uint32_t end = nb;
	for (int p = 0; p < npass; p++)
		for (uint32_t i = 0; i < nb && p != C; i++)
			if (dl->chan[i] == pass_ch[p])
				end = i;
	for (int p = 0; p < npass && !ps->finishing; p++)
		for (uint32_t i = 0; i < nb && !ps->finishing; i++) {
			int c = dl->chan[i];
			if (c != pass_ch[p])
				continue;
			uint16_t n;
			const void *v = gx_dgt_values(g, i, &n);
			gx_dg_head h = { .kind = GX_DG_BLOCK, .channel = (uint8_t)c,
					 .codec = (uint8_t)dl->codec, .party = ps->o.party,
					 .key = k->key, .slice = s->block, .round = round, .block = i,
					 .count = n,
					 .flags = (i + 1 == nb ? GX_DG_LAST : 0) |
						  (i == end ? GX_DG_END : 0),
					 .rel = nrel };
			if (ps_dg_out_seal(&d->out, d->tx, &h, v)) {
				ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)",
					  k->key);
				return;
			}
		}
	ps_dg_out_pump(&d->out);
}

/* ------------------------------------------------------------- the word */

ps_lkey *ps_dgt_slice(gx_ps *ps, uint32_t key, uint32_t block, int *b)
{
	/* with blocks, the block is a key of the table; else a slice of one */
	ps_lkey *k = ps_local_key(ps, key, block);
	if (!k)
		k = ps_local_key(ps, key, 0);
	int i = 0;
	while (k && i < k->nsl && k->sl[i].block != block)
		i++;
	if (!k || i >= k->nsl)
		return NULL;
	*b = i;
	return k;
}

void ps_dgt_local_geometry(const gx_ps *ps, uint32_t *block, int *codec)
{
	*block = ps->loc->dgt->block;
	*codec = ps->loc->dgt->codec;
}

void ps_dgt_local_note_answer(gx_ps *ps, int asked)
{
	if (asked)
		ps->loc->dgt->a_repaired++;
	else
		ps->loc->dgt->a_whole++;
}

void ps_dgt_local_note_asked(gx_ps *ps, uint32_t n)
{
	ps->loc->dgt->a_asked += n;
}

int ps_dgt_send_ask(gx_ps *ps, int server, const gx_dg_head *h, const uint8_t *bits)
{
	dgt_up *d = &ps->loc->dgt->up[server];
	uint8_t buf[GX_DG_HEAD + GX_DG_TAG + 8192], *p = buf;
	if ((size_t)h->count > sizeof buf - GX_DG_HEAD - GX_DG_TAG)
		return GX_EINVAL;
	long n = gx_dg_seal(d->tx, h, bits, buf, sizeof buf);
	if (n < 0)
		return (int)n;
	/* past the queue (it is a few bytes, and the round waits on it) */
	size_t len = (size_t)n;
	gx_dg_pacer_charge(&d->out.pacer, len + GX_DG_IP4_OVERHEAD, gx_now_ns());
	if (gx_dg_send(d->out.fd[1], &p, &len, 1) != 1)
		d->out.send_failed++;
	return 0;
}

double ps_dgt_up_rtt(gx_ps *ps, int server)
{
	ps_peer *u = ps->loc->ups[server];
	struct tcp_info ti;
	socklen_t l = sizeof ti;
	int fd = u && u->c ? gx_conn_fd(u->c) : -1;
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) != 0 || !ti.tcpi_rtt)
		return 0.1; /* (not known: a tenth of a second) */
	return ti.tcpi_rtt / 1e6;
}

void ps_dgt_on_ack(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_dgt_local *dl = ps->loc->dgt;
	int b;
	ps_lkey *k = dl ? ps_dgt_slice(ps, h->key, h->block, &b) : NULL;
	gx_dgt *g = k && k->dgt ? k->dgt[b] : NULL;
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
	uint32_t round;
	const float *x = ps_dgt_held(k, b, &round);
	if (x)
		ps_dgt_push(ps, k, b, round, x);
}

void ps_dgt_stats(const gx_ps *ps, ps_sbuf *b, int json)
{
	const ps_dgt_local *dl = ps->loc->dgt;
	if (!dl)
		return;
	unsigned long long datagrams = 0, failed = 0;
	for (int i = 0; i < ps->loc->nups; i++) {
		datagrams += dl->up[i].out.datagrams;
		failed += dl->up[i].out.send_failed;
	}
	double share = dl->pushed_sq > 0 ? dl->folded_sq / dl->pushed_sq : 0;
	if (json)
		ps_sb_printf(b, ",\"dgt\":{\"k\":%.6g,\"block\":%u,\"datagrams\":%llu,"
			     "\"send_failed\":%llu,\"delayed_share\":%.6g,\"channels\":[", dl->k.k,
			     dl->block, datagrams, failed, share);
	else
		ps_sb_printf(b, "dgt\t%.6g\t%u\t%llu\t%llu\t%.6g\n", dl->k.k, dl->block,
			     datagrams, failed,
			     share);
	for (int c = 0; c <= dl->channels; c++) {
		unsigned long long s = dl->sent[c], l = dl->lost[c];
		if (json)
			ps_sb_printf(b, "%s{\"channel\":%d,\"sent\":%llu,\"delivered\":%llu,"
				     "\"lost\":%llu}", c ? "," : "", c, s, s - l, l);
		else
			ps_sb_printf(b, "channel\t%d\t%llu\t%llu\t%llu\n", c, s, s - l, l);
	}
	unsigned long long av[] = { dl->a_whole, dl->a_repaired, dl->a_asked, dl->a_placed,
				    dl->a_dup, dl->a_late, dl->a_stray, dl->a_forged,
				    dl->a_malformed };
	static const char *const an[] = { "whole", "repaired", "blocks_asked", "placed",
					   "duplicate", "late", "stray", "forged", "malformed" };
	ps_sb_printf(b, "%s", json ? "],\"answers\":{" : "dgt_answers");
	for (size_t i = 0; i < sizeof av / sizeof *av; i++)
		if (json)
			ps_sb_printf(b, "%s\"%s\":%llu", i ? "," : "", an[i], av[i]);
		else
			ps_sb_printf(b, "\t%llu", av[i]);
	ps_sb_printf(b, "%s", json ? "}}" : "\n");
}
