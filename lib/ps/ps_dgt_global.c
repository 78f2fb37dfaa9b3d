/*
 * ps_dgt_global.c — the global tier's side of DGT (ps_dgt.h): the
 * datagram port, each (slice, party)'s round gathered from its DGT_PUSH
 * and its datagrams, closed when every block is in, at its last datagram
 * or at a deadline, answered with DGT_ACK and counted as the party's
 * push; under full sync the answers sent down as datagrams, and their
 * blocks sent again when asked for.
 *
 * Choices:
 *  - The datagram port is a UDP socket on the listening address and port
 *    number, bound when the first local under DGT says HELLO (a job
 *    without DGT opens no UDP port): a local sends its datagrams to the
 *    address it dials, so DGT needs a path that carries UDP (geomx-netem
 *    or a real network, not a geomx-relay). Datagrams from anyone else
 *    are dropped at the header or at authentication, and counted.
 *  - The deadline (docs/design.md, "Closing a round"): its own datagrams
 *    no longer coming for --dgt-grace once its reliable blocks are in;
 *    before its first, the DGT_PUSH's arrival plus the time the datagrams
 *    queued at the sender before and with this round take at its pace,
 *    plus the grace, then while the party's keep coming.
 *  - A datagram that overtakes the slice's first DGT_PUSH is placed when
 *    the slice's block size is known: from an earlier round, or from the
 *    datagram itself when it is not the last of several blocks.
 *  - A party's answers go to where its last placed datagram of channel 0
 *    or 1 came from (its channel 1 socket), paced at the rate its
 *    DGT_PUSH says; each answer is kept (a reference) until the next, for
 *    the party's asks.
 */
#include <math.h>
#include <netinet/in.h>
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
	uint32_t up_block; /* the party's block size as its DGT_PUSH says */
	int rel;          /* the open round's DGT_PUSH is in */
	uint32_t expect;  /* blocks that will come: reliable + lossy */
	uint32_t owed;    /* rounds closed before their DGT_PUSH came */
	uint32_t copies;  /* the open round's reliable blocks in by datagram */
	uint32_t rel_n;   /* and how many it has (the datagrams' rel) */
	int ended;        /* the open round's last datagram (GX_DG_END) is in */
	int codec;
	long long timer;
	uint64_t t_last;  /* ns, this round's last datagram placed; 0 none yet */
	gx_tensor_payload ans; /* the answer last sent as datagrams (a
				* reference), kept for the local's DGT_ACK */
	uint32_t ans_round, ans_block, ans_nb;
	uint8_t asks_seen; /* the kept answer's asks by datagram served, by
			    * attempt: a replay of one is passed over */
	gx_ps *ps;
	ps_gslice *s;
	int party;
} ps_dgt_slot;

/* A party under DGT: what comes from it, and its answers going down. */
typedef struct ps_dgt_party {
	uint32_t late;    /* late datagrams since the last ACK */
	uint64_t t_last;  /* ns, the party's last datagram placed */
	ps_dg_out out;    /* answers down: fd[1] the port, to the party's
			   * address once a datagram of it was placed */
	gx_dg_key *tx;    /* the key of what goes to it */
	double rate;      /* its pace, from its DGT_PUSH; 0 not known yet */
} ps_dgt_party;

struct ps_dgt_global {
	int fd;
	gx_dg_rx *rx;
	ps_dgt_party *party; /* [parties] */
	uint64_t datagrams, placed, dup, late_all, stray, forged, malformed;
	uint64_t late_ch[GX_DGT_CHANNELS_MAX + 1]; /* late, by lossy channel */
	uint64_t closed_full, closed_deadline;
	uint64_t copies_unused; /* reliable blocks' copies after the block */
	uint64_t answers_dgram, answers_link, answer_blocks, repaired_blocks;
	uint64_t asks, asks_stray; /* asks by datagram answered, passed over */
};

static void on_readable(gx_ev *ev, int fd, void *ud, int mask);

int ps_dgt_global_init(gx_ps *ps)
{
	ps_global_state *g = ps->glob;
	ps_dgt_global *d = calloc(1, sizeof *d);
	if (!d || !(d->party = calloc((size_t)ps->n, sizeof *d->party)) ||
	    !(d->rx = gx_dg_rx_new())) {
		if (d)
			free(d->party);
		free(d);
		return GX_ENOMEM;
	}
	d->fd = -1;
	for (int i = 0; i < ps->n; i++)
		ps_dg_out_init(&d->party[i].out, ps, 0);
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
	for (int i = 0; i < ps->n; i++)
		d->party[i].out.fd[1] = d->fd;
	ps_log(ps, GX_LOG_INFO, "DGT: datagrams on UDP port %d", ps->port);
	return 0;
}

static void slot_free(gx_ps *ps, ps_dgt_slot *t)
{
	if (t->timer)
		gx_ev_timer_del(ps->ev, t->timer);
	gx_dgt_rx_free(t->rx);
	ps_codec_drop_kept(&t->ans);
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
	for (int i = 0; i < ps->n; i++) {
		ps_dg_out_free(&d->party[i].out);
		gx_dg_key_free(d->party[i].tx);
	}
	gx_dg_rx_free(d->rx);
	free(d->party);
	free(d);
	g->dgt = NULL;
}

int ps_dgt_global_admit(gx_ps *ps, ps_peer *p, int party)
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
	ps_dgt_party *pp = &ps->glob->dgt->party[party];
	gx_dg_key_free(p->dgk);
	gx_dg_key_free(pp->tx);
	p->dgk = pp->tx = NULL;
	pp->out.to_len = 0; /* (learnt again from its datagrams) */
	if (ps->o.key && (!(p->dgk = gx_conn_datagram_key(p->c, 0)) ||
			  !(pp->tx = gx_conn_datagram_key(p->c, 1)))) {
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
 * (only between rounds) when the size changes. A block of the slice's
 * size or more is the slice in one block, whatever the sender's size:
 * that of its one datagram. 0 or an error. */
static int slot_rx(ps_dgt_slot *t, uint32_t block)
{
	if (block > t->s->count)
		block = (uint32_t)t->s->count;
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
	gx_tensor_route rt = { .key = s->key, .block = s->block, .round = round,
			       .sender = ps->sender };
	if (p && p->c && ps_dgt_send_ack(ps, p->c, &rt, nb, d->party[t->party].late,
					 gx_dgt_rx_bitmap(t->rx))) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)", s->key);
		return;
	}
	d->party[t->party].late = 0;
	if (!t->rel)
		t->owed++; /* its DGT_PUSH, held up on the link, is passed over */
	t->rel = 0;
	t->t_last = 0;
	t->copies = t->rel_n = 0;
	t->ended = 0;
	ps_global_contribute(ps, s, t->party, gx_dgt_rx_values(t->rx), t->codec);
	gx_dgt_rx_release(t->rx);
}

/* Whether every reliable block of the open round is in: its DGT_PUSH
 * came, or the copies of all its reliable blocks did (the datagrams say
 * how many there are). Then the round may close at its deadline. */
static int knows_reliable(const ps_dgt_slot *t)
{
	return t->rel || (t->t_last && t->copies >= t->rel_n);
}

static long deadline(gx_ev *ev, long long id, void *ud)
{
	(void)ev;
	(void)id;
	ps_dgt_slot *t = ud;
	ps_dgt_global *d = t->ps->glob->dgt;
	t->timer = 0;
	if (!knows_reliable(t) || t->ps->finishing)
		return -1;
	/* The round's datagrams still coming: wait while they do, up to
	 * --dgt-grace after the last. Before the first of them, while the
	 * party's do (this round's queue behind other slices' at the sender
	 * and on the way), up to the grace or 40 ms (four default graces),
	 * whichever is longer, after the party's last: a round whose every
	 * datagram is lost is rare (its reliable blocks' copies go twice), a
	 * sender held off its loop a while is not. What is not
	 * placed (a replay) extends nothing. (The party's datagrams of a later
	 * round say nothing of this one's: a lower channel's, in a lower DS
	 * class, lag behind a higher's wherever the path is backed up.) */
	uint64_t grace = (uint64_t)(t->ps->o.dgt.grace * 1e9), now = gx_now_ns();
	uint64_t stall = (uint64_t)(4 * GX_DEFAULT_DGT_GRACE * 1e9);
	uint64_t until = t->t_last ? t->t_last + grace
				   : d->party[t->party].t_last + (grace > stall ? grace : stall);
	if (!t->ended && now < until) {
		long ms = (long)((until - now + 999999) / 1000000);
		long long id2 = gx_ev_timer(t->ps->ev, ms, deadline, t);
		if (id2 > 0) {
			t->timer = id2;
			return -1;
		}
	}
	close_round(t->ps, t, 0);
	return -1;
}

/* Every block in (by the DGT_PUSH and datagrams, or by datagrams alone:
 * the reliable blocks' copies) closes the round; else, once the reliable
 * ones are all in by datagram, the round waits for the rest as long as
 * they keep coming (the DGT_PUSH, held up on the link by a loss, would
 * hold it longer). */
static void maybe_close(gx_ps *ps, ps_dgt_slot *t)
{
	uint32_t have = gx_dgt_rx_have(t->rx);
	if (have >= (t->rel ? t->expect : gx_dgt_rx_nblocks(t->rx))) {
		close_round(ps, t, 1);
		return;
	}
	if (!knows_reliable(t))
		return;
	if (t->ended) {
		close_round(ps, t, 0); /* the rest are lost */
		return;
	}
	if (t->timer)
		return;
	long ms = (long)ceil(ps->o.dgt.grace * 1000);
	long long id = gx_ev_timer(ps->ev, ms > 0 ? ms : 1, deadline, t);
	if (id <= 0)
		close_round(ps, t, 0);
	else
		t->timer = id;
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
	ps_dgt_slot *t = slot_of(ps, s, i);
	if (!t) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)", h->key);
		return;
	}
	ps_dgt_party *pp = &ps->glob->dgt->party[i];
	if (m.rate && (double)m.rate != pp->rate) {
		pp->rate = (double)m.rate;
		ps_dg_out_rate(&pp->out, pp->rate);
	}
	t->up_block = m.block;
	if (t->owed && h->round == s->next_round[i] - t->owed) {
		t->owed--; /* its blocks came as datagrams: the round is over */
		return;
	}
	if (h->round != s->next_round[i]) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: DGT round %u, expected round %u",
			     h->key, h->block, h->round, s->next_round[i]);
		return;
	}
	int r = slot_rx(t, m.block);
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
		/* (a block in already: its copy came as a datagram) */
		if (st != GX_DGT_PLACED && st != GX_DGT_DUP) {
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
	if (t->timer)
		return; /* (armed by its datagrams already) */
	/* the datagrams ahead of and with this round's (the reliable
	 * blocks' two copies too), at the sender's pace */
	double secs = ps_dgt_due(&m, 2 * (uint64_t)m.nrel, ps->o.dgt.grace);
	long ms = (long)ceil(secs * 1000);
	long long id = gx_ev_timer(ps->ev, ms > 0 ? ms : 1, deadline, t);
	if (id <= 0) {
		close_round(ps, t, 0);
		return;
	}
	t->timer = id;
}

/* ------------------------------------------------------------ answers */

static const void *kept_values(void *ud, uint32_t b, uint16_t *n)
{
	const ps_dgt_slot *t = ud;
	size_t es = gx_wire_elem_size(t->ans.h.codec);
	if (b >= t->ans_nb)
		return NULL;
	*n = (uint16_t)gx_dgt_block_len(t->s->count, t->ans_block, b);
	return t->ans.bytes + (size_t)b * t->ans_block * es;
}

/* Block b of t's kept answer sealed and queued to party i. Sealed again
 * for a repair, it is the very same bytes (the same head, body and
 * nonce). */
static int answer_block(gx_ps *ps, ps_dgt_slot *t, int i, uint32_t b)
{
	ps_dgt_party *pp = &ps->glob->dgt->party[i];
	uint16_t n = 0;
	const void *v = kept_values(t, b, &n);
	gx_dg_head h = { .kind = GX_DG_ANSWER, .channel = 1, .codec = (uint8_t)t->ans.h.codec,
			 .party = (uint32_t)i, .key = t->s->key, .slice = t->s->block,
			 .round = t->ans_round, .block = b, .count = n,
			 .flags = b + 1 == t->ans_nb ? GX_DG_LAST | GX_DG_END : 0 };
	return ps_dg_out_seal(&pp->out, pp->tx, &h, v);
}

int ps_dgt_answer(gx_ps *ps, ps_gslice *s, int i, const gx_tensor_payload *pl, uint32_t round)
{
	ps_dgt_global *d = ps->glob->dgt;
	ps_peer *p = ps->who[i];
	ps_dgt_slot *t = d && s->dgt ? &s->dgt[i] : NULL;
	ps_dgt_party *pp = d ? &d->party[i] : NULL;
	int codec = pl->h.codec;
	size_t es = gx_wire_elem_size(codec);
	/* Full sync: the party's next answer of s waits for its next push,
	 * which waits for this one, so one kept answer a slice is enough. */
	if (!p || !p->c || p->mode != PS_HELLO_DGT || !d)
		return 0;
	uint32_t ab = t && t->up_block ? ps_dgt_answer_block(t->up_block, t->codec, codec) : 1;
	uint64_t nb = (s->count + ab - 1) / ab;
	if (!t || !t->up_block || !pp->out.to_len || !(pp->rate > 0) || ps->o.sync != GX_SYNC_FULL ||
	    !es || pl->h.flags || pl->h.payload_len != s->count * es || !pl->buf ||
	    nb - 1 > GX_DG_INDEX_MAX) {
		d->answers_link++;
		return 0;
	}
	ps_codec_drop_kept(&t->ans);
	t->ans = *pl;
	gx_buf_ref(pl->buf);
	t->ans_round = round;
	t->asks_seen = 0;
	t->ans_block = ab;
	t->ans_nb = (uint32_t)nb;
	/* the word on the link first: the local closes the round at a
	 * deadline of it if the datagrams' last is lost */
	gx_dgt_push m = { .codec = (uint8_t)codec, .channels = 1, .block = ab,
			  .nblocks = (uint32_t)nb, .lossy = (uint32_t)nb,
			  .rate = (uint64_t)pp->rate };
	m.ahead = ps_dg_out_charge(&pp->out, gx_dgt_push_size(&m, 0) + GX_FRAME_HDR_SIZE);
	gx_tensor_route rt = { .key = s->key, .block = s->block, .round = round,
			       .sender = ps->sender };
	long r = ps_dgt_send_push(ps, p->c, &rt, &m, NULL, kept_values, t);
	for (uint32_t b = 0; r >= 0 && b < nb; b++)
		r = answer_block(ps, t, i, b);
	if (r < 0) {
		ps_finish(ps, (int)r, NULL, "key %u block %u: DGT answer: %s", s->key, s->block,
			  gx_strerror((int)r));
		return 1;
	}
	d->answers_dgram++;
	d->answer_blocks += nb;
	ps_dg_out_pump(&pp->out);
	return 1;
}

void ps_dgt_on_answer_ack(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_dgt_global *d = ps->glob->dgt;
	ps_gslice *s = map_get(ps->glob, h->key, h->block);
	ps_dgt_slot *t = d && s && s->dgt ? &s->dgt[p->slot] : NULL;
	const uint8_t *bits;
	uint32_t late;
	if (t && t->ans_nb && h->codec == GX_CODEC_NONE &&
	    (int32_t)(h->round - t->ans_round) <= 0 && (!t->ans.buf || h->round != t->ans_round)) {
		/* an ask on the link behind the datagram ask that repaired it:
		 * the round is over */
		d->asks_stray++;
		return;
	}
	if (!t || !t->ans.buf || t->ans_round != h->round || h->codec != GX_CODEC_NONE ||
	    gx_dgt_ack_parse(pl, h->payload_len, t->ans_nb, &late, &bits)) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u round %u: a DGT_ACK of no answer "
			     "sent as datagrams", h->key, h->block, h->round);
		return;
	}
	uint32_t *idx = malloc(((size_t)t->ans_nb + 1) * sizeof *idx), n = 0;
	if (!idx) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)", h->key);
		return;
	}
	for (uint32_t b = 0; b < t->ans_nb; b++)
		if (!((bits[b >> 3] >> (b & 7)) & 1))
			idx[n++] = b;
	gx_dgt_push m = { .codec = (uint8_t)t->ans.h.codec, .channels = 1, .block = t->ans_block,
			  .nblocks = t->ans_nb, .nrel = n, .rate = (uint64_t)d->party[p->slot].rate };
	gx_tensor_route rt = { .key = s->key, .block = s->block, .round = h->round,
			       .sender = ps->sender };
	/* on the link, and as the same datagrams again: whichever comes
	 * first (the link's bytes wait behind any loss on it) */
	long r = n ? ps_dgt_send_push(ps, p->c, &rt, &m, idx, kept_values, t) : 0;
	for (uint32_t j = 0; r >= 0 && j < n; j++)
		r = answer_block(ps, t, p->slot, idx[j]);
	if (n && r >= 0)
		ps_dg_out_pump(&d->party[p->slot].out);
	free(idx);
	if (r < 0) {
		ps_finish(ps, (int)r, NULL, "key %u block %u: DGT answer: %s", s->key, s->block,
			  gx_strerror((int)r));
		return;
	}
	d->repaired_blocks += n;
	ps_codec_drop_kept(&t->ans);
}

/* An ask by datagram for blocks of t's kept answer: they go again as
 * datagrams (the DGT_ACK on the link, which the local sends too, brings
 * them on the link as well). One that names no kept answer (a repair on
 * the link came first, a replay) is dropped and counted. */
static void on_ask(gx_ps *ps, ps_dgt_slot *t, const gx_dg_head *h, const uint8_t *bits)
{
	ps_dgt_global *d = ps->glob->dgt;
	uint8_t try_bit = (uint8_t)(1u << (h->block - GX_DG_ASK_BLOCK));
	if (!t->ans.buf || t->ans_round != h->round || h->count != (t->ans_nb + 7) / 8 ||
	    (t->asks_seen & try_bit)) {
		d->asks_stray++;
		return;
	}
	t->asks_seen |= try_bit;
	int r = 0;
	uint32_t n = 0;
	for (uint32_t b = 0; r >= 0 && b < t->ans_nb; b++)
		if (!((bits[b >> 3] >> (b & 7)) & 1)) {
			r = answer_block(ps, t, t->party, b);
			n++;
		}
	if (r < 0) {
		ps_finish(ps, r, NULL, "key %u block %u: DGT answer: %s", t->s->key, t->s->block,
			  gx_strerror(r));
		return;
	}
	d->asks++;
	d->repaired_blocks += n;
	ps_dg_out_pump(&d->party[t->party].out);
}

/* ------------------------------------------------------------ datagrams */

/* Datagram h's block (from `from`) is in t's open round. */
static void placed(gx_ps *ps, ps_dgt_slot *t, const gx_dg_head *h,
		   const struct sockaddr_storage *from)
{
	ps_dgt_global *d = ps->glob->dgt;
	uint64_t now = gx_now_ns();
	d->placed++;
	if (h->channel <= 1) {
		/* where the party's answers go: the socket its channel 1 (and
		 * the copies) leave by, as the last fresh datagram that opened
		 * says (a replay from elsewhere is not placed) */
		ps_dg_out *o = &d->party[h->party].out;
		o->to = *from;
		o->to_len = from->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							: sizeof(struct sockaddr_in);
	}
	d->party[h->party].t_last = t->t_last = now;
	t->codec = h->codec;
	t->ended |= (h->flags & GX_DG_END) != 0;
	t->rel_n = h->rel;
	if (h->channel == 0)
		t->copies++;
	maybe_close(ps, t);
}

/* One datagram from the port. */
static void take(gx_ps *ps, uint8_t *buf, size_t len, const struct sockaddr_storage *from)
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
	if (h.kind == GX_DG_ASK) {
		on_ask(ps, t, &h, body);
		return;
	}
	if (h.kind != GX_DG_BLOCK) {
		d->stray++;
		return;
	}
	if (!t->rx) {
		/* before the slice's first DGT_PUSH: its block size is this
		 * datagram's unless it is the last of several */
		if (((h.flags & GX_DG_LAST) && h.block) || !h.count || slot_rx(t, h.count)) {
			d->stray++;
			return;
		}
	}
	int st = gx_dgt_rx_put(t->rx, h.round, h.block, h.codec, body, h.count);
	if (h.channel == 0 && (st == GX_DGT_DUP || st == GX_DGT_LATE)) {
		/* a reliable block's copy after the link brought it: no loss */
		d->copies_unused++;
		return;
	}
	switch (st) {
	case GX_DGT_PLACED:
		placed(ps, t, &h, from);
		return;
	case GX_DGT_DUP:
		d->dup++;
		return;
	case GX_DGT_LATE:
		d->late_all++;
		d->late_ch[h.channel <= GX_DGT_CHANNELS_MAX ? h.channel : GX_DGT_CHANNELS_MAX]++;
		d->party[h.party].late++;
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
			take(ps, d->rx->buf[i], d->rx->len[i], &d->rx->from[i]);
	}
}

void ps_dgt_global_stats(const gx_ps *ps, ps_sbuf *b, int json)
{
	const ps_dgt_global *d = ps->glob->dgt;
	if (!d || d->fd < 0)
		return;
	static const char *const names[] = { "datagrams", "placed", "duplicate", "late", "stray",
					     "forged", "malformed", "kernel_dropped",
					     "closed_full", "closed_deadline", "copies_unused" };
	const uint64_t v[] = { d->datagrams, d->placed, d->dup, d->late_all, d->stray, d->forged,
			       d->malformed, d->rx->dropped, d->closed_full, d->closed_deadline,
			       d->copies_unused };
	ps_sb_printf(b, "%s", json ? ",\"dgt\":{" : "dgt_in");
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		if (json)
			ps_sb_printf(b, "%s\"%s\":%llu", i ? "," : "", names[i],
				     (unsigned long long)v[i]);
		else
			ps_sb_printf(b, "\t%llu", (unsigned long long)v[i]);
	/* the late ones by lossy channel, 1..GX_DGT_CHANNELS_MAX */
	ps_sb_printf(b, "%s", json ? ",\"late_by_channel\":[" : "\ndgt_late");
	for (int c = 1; c <= GX_DGT_CHANNELS_MAX; c++)
		ps_sb_printf(b, "%s%llu", !json ? "\t" : c > 1 ? "," : "",
			     (unsigned long long)d->late_ch[c]);
	ps_sb_printf(b, "%s", json ? "]}" : "\n");
	/* the answers down */
	if (json)
		ps_sb_printf(b, ",\"dgt_answers\":{\"datagrams\":%llu,\"link\":%llu,"
			     "\"blocks\":%llu,\"repaired\":%llu,\"asks\":%llu,"
			     "\"asks_passed\":%llu}",
			     (unsigned long long)d->answers_dgram, (unsigned long long)d->answers_link,
			     (unsigned long long)d->answer_blocks,
			     (unsigned long long)d->repaired_blocks, (unsigned long long)d->asks,
			     (unsigned long long)d->asks_stray);
	else
		ps_sb_printf(b, "dgt_out\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\n",
			     (unsigned long long)d->answers_dgram, (unsigned long long)d->answers_link,
			     (unsigned long long)d->answer_blocks,
			     (unsigned long long)d->repaired_blocks, (unsigned long long)d->asks,
			     (unsigned long long)d->asks_stray);
}
