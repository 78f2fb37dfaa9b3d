/*
 * ps_dgt_answers.c — a local server's answers from the global tier as
 * datagrams (ps_dgt.h, docs/protocol.md "DGT answers"): placed straight
 * into the round's buffer as they come, the round's slice answered when
 * the last is in; the blocks that did not come asked for again by a
 * DGT_ACK and taken from the DGT_PUSH that brings them on the link.
 *
 * Choices:
 *  - The slice's answer is awaited for the oldest round sent up that still
 *    misses it (full sync: there is one): datagrams of another round are
 *    late (a slice already in) or stray, dropped and counted.
 *  - The word to ask comes when the global's last datagram of the round
 *    (GX_DG_END) is in, or when none came for --dgt-grace after the last,
 *    or at the deadline of the global's DGT_PUSH (its queue ahead and the
 *    round's datagrams at its pace, plus the grace) when none came at
 *    all. Answers go down one path, in one class: what the END overtakes
 *    is lost.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/le.h"
#include "../codec/gx_codec.h"
#include "../wire/control.h"
#include "ps_dgt.h"
#include "ps_local.h"

struct ps_dgt_ans {
	int open;         /* a round is being gathered */
	uint32_t round;
	int codec;        /* its coding (from its first datagram or word) */
	uint32_t block, nb, have;
	uint8_t *bits;    /* [ceil(nb / 8)] blocks in */
	int ended;        /* the global's last datagram of it is in */
	int asked;        /* asks sent: the DGT_ACK on the link with the first,
			   * each also as a datagram (GX_DG_ASK) */
	uint64_t t_last;  /* ns, its last datagram placed; 0 none */
	long long timer;
	/* the slice's next push, held while the global's word on its last
	 * (DGT_ACK, on the link) is still on the way behind the answer that
	 * came as datagrams: its sum, sent when the word comes */
	float *held;
	int holding;
	uint32_t held_round;
	gx_ps *ps;
	ps_lkey *k;
	int b;
};

int ps_dgt_answers_init(gx_ps *ps, ps_lkey *k)
{
	if (!(k->dga = calloc((size_t)k->nsl, sizeof *k->dga)))
		return GX_ENOMEM;
	for (int b = 0; b < k->nsl; b++)
		k->dga[b] = (ps_dgt_ans){ .ps = ps, .k = k, .b = b };
	return 0;
}

static void ans_reset(ps_dgt_ans *a)
{
	if (a->timer)
		gx_ev_timer_del(a->ps->ev, a->timer);
	a->timer = 0;
	a->open = a->ended = a->asked = 0;
	a->have = 0;
	a->t_last = 0;
}

void ps_dgt_answers_free(ps_lkey *k)
{
	for (int b = 0; k->dga && b < k->nsl; b++) {
		ps_dgt_ans *a = &k->dga[b];
		if (a->timer && a->ps->ev)
			gx_ev_timer_del(a->ps->ev, a->timer);
		free(a->bits);
		free(a->held);
	}
	free(k->dga);
	k->dga = NULL;
}

/* Opens a's gathering of round (codec): its blocks' size from the local's
 * own (ps_dgt_answer_block). 0 or GX_ENOMEM. */
static int ans_open(ps_dgt_ans *a, uint32_t round, int codec)
{
	uint32_t up_block;
	int up_codec;
	ps_dgt_local_geometry(a->ps, &up_block, &up_codec);
	uint32_t block = ps_dgt_answer_block(up_block, up_codec, codec);
	uint64_t count = a->k->sl[a->b].count;
	uint32_t nb = (uint32_t)((count + block - 1) / block);
	if (!a->bits || nb > a->nb || block != a->block) {
		free(a->bits);
		if (!(a->bits = malloc(((size_t)nb + 7) / 8)))
			return GX_ENOMEM;
	}
	ans_reset(a);
	memset(a->bits, 0, ((size_t)nb + 7) / 8);
	a->open = 1;
	a->round = round;
	a->codec = codec;
	a->block = block;
	a->nb = nb;
	return 0;
}

/* The round a's slice waits for an answer of: its own when open, else the
 * oldest sent up that misses it. NULL when none does. */
static ps_fwd *awaited(ps_dgt_ans *a)
{
	for (ps_fwd *f = a->k->fwds; f; f = f->next)
		if (!f->got[a->b])
			return f;
	return NULL;
}

/* Places block bi's n values (codec a->codec) of round f. 1 placed, 0
 * already in, or GX_EPROTO (out of place). */
static int ans_place(ps_dgt_ans *a, ps_fwd *f, uint32_t bi, const uint8_t *v, uint32_t n)
{
	if (bi >= a->nb || n != gx_dgt_block_len(a->k->sl[a->b].count, a->block, bi))
		return GX_EPROTO;
	if ((a->bits[bi >> 3] >> (bi & 7)) & 1)
		return 0;
	float *dst = f->buf + ps_slice_at(a->k, &a->k->sl[a->b]) + (uint64_t)bi * a->block;
	if (a->codec == GX_CODEC_F16) {
		uint16_t h[256];
		for (uint32_t i = 0; i < n; i += 256) {
			uint32_t m = n - i < 256 ? n - i : 256;
			memcpy(h, v + 2 * (size_t)i, 2 * (size_t)m);
			gx_f16_to_f32(h, dst + i, m);
		}
	} else {
		memcpy(dst, v, (size_t)n * 4);
	}
	a->bits[bi >> 3] |= (uint8_t)(1u << (bi & 7));
	a->have++;
	return 1;
}

/* The slice's answer is whole: the round takes it. */
static void ans_done(ps_dgt_ans *a, ps_fwd *f, int asked)
{
	ps_dgt_local_note_answer(a->ps, asked);
	ans_reset(a);
	ps_local_slice_in(a->ps, a->k, f, a->b);
}

/* Asks upstream u for the blocks of the open round that did not come. */
static long ans_timer(gx_ev *ev, long long id, void *ud);

/* Asks upstream for the blocks of the open round that did not come: the
 * first time on the link (it gets there, if late behind a loss on it) and
 * as a datagram, then as a datagram again each round trip and grace while
 * they do not come, up to GX_DG_ASK_TRIES. */
static void ans_ask(ps_dgt_ans *a)
{
	gx_ps *ps = a->ps;
	const gx_slice *s = &a->k->sl[a->b];
	ps_peer *u = ps->loc->ups[s->server];
	if (a->asked >= (int)GX_DG_ASK_TRIES || !u || !u->c)
		return;
	if (!a->asked) {
		gx_tensor_route rt = { .key = a->k->key, .block = s->block, .round = a->round,
				       .sender = ps->o.party };
		if (ps_dgt_send_ack(ps, u->c, &rt, a->nb, 0, a->bits)) {
			ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)", a->k->key);
			return;
		}
		ps_dgt_local_note_asked(ps, a->nb - a->have);
	}
	gx_dg_head h = { .kind = GX_DG_ASK, .channel = 1, .codec = GX_CODEC_NONE,
			 .party = ps->o.party, .key = a->k->key, .slice = s->block,
			 .round = a->round, .block = GX_DG_ASK_BLOCK + (uint32_t)a->asked,
			 .count = (uint16_t)((a->nb + 7) / 8) };
	int r = (a->nb + 7) / 8 <= 8192 ? ps_dgt_send_ask(ps, (int)s->server, &h, a->bits) : 0;
	if (r) {
		ps_finish(ps, r, NULL, "key %u: DGT ask: %s", a->k->key, gx_strerror(r));
		return;
	}
	a->asked++;
	double wait = ps_dgt_up_rtt(ps, (int)s->server) + ps->o.dgt.grace;
	long ms = (long)ceil(wait * 1000);
	if (!a->timer) {
		long long t = gx_ev_timer(ps->ev, ms > 0 ? ms : 1, ans_timer, a);
		a->timer = t > 0 ? t : 0;
	}
}

static long ans_timer(gx_ev *ev, long long id, void *ud)
{
	(void)ev;
	(void)id;
	ps_dgt_ans *a = ud;
	a->timer = 0;
	if (!a->open || a->ps->finishing)
		return -1;
	if (a->asked) {
		ans_ask(a); /* the blocks asked for have not come: again */
		return -1;
	}
	/* while its datagrams keep coming, up to a grace after the last */
	uint64_t grace = (uint64_t)(a->ps->o.dgt.grace * 1e9), now = gx_now_ns();
	if (!a->ended && a->t_last && now < a->t_last + grace) {
		long ms = (long)((a->t_last + grace - now + 999999) / 1000000);
		long long t = gx_ev_timer(a->ps->ev, ms, ans_timer, a);
		if (t > 0) {
			a->timer = t;
			return -1;
		}
	}
	ans_ask(a);
	return -1;
}

static void ans_arm(ps_dgt_ans *a, double secs)
{
	if (a->timer || a->asked)
		return;
	long ms = (long)ceil(secs * 1000);
	long long t = gx_ev_timer(a->ps->ev, ms > 0 ? ms : 1, ans_timer, a);
	if (t > 0)
		a->timer = t;
	else
		ans_ask(a);
}

int ps_dgt_answer_datagram(gx_ps *ps, const gx_dg_head *h, const uint8_t *body)
{
	int b;
	ps_lkey *k = ps_dgt_slice(ps, h->key, h->slice, &b);
	if (!k || !k->dga || h->party != ps->o.party)
		return PS_DGA_STRAY;
	ps_dgt_ans *a = &k->dga[b];
	ps_fwd *f = awaited(a);
	if (!f || h->round != f->round)
		return f && h->round < f->round ? PS_DGA_LATE : PS_DGA_STRAY;
	if ((!a->open || a->round != f->round) && ans_open(a, f->round, h->codec))
		return PS_DGA_NOMEM;
	if (h->codec != a->codec)
		return PS_DGA_STRAY;
	int r = ans_place(a, f, h->block, body, h->count);
	if (r < 0)
		return PS_DGA_STRAY;
	if (r == 0)
		return PS_DGA_DUP;
	a->t_last = gx_now_ns();
	a->ended |= (h->flags & GX_DG_END) != 0;
	if (a->have == a->nb)
		ans_done(a, f, a->asked);
	else if (a->ended && !a->asked)
		ans_ask(a);
	else
		ans_arm(a, ps->o.dgt.grace);
	return PS_DGA_PLACED;
}

void ps_dgt_answer_word(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	int b;
	ps_lkey *k = ps_dgt_slice(ps, h->key, h->block, &b);
	gx_dgt_push m;
	if (!k || !k->dga || h->codec != GX_CODEC_NONE ||
	    gx_dgt_push_parse(pl, h->payload_len, k->sl[b].count, &m)) {
		ps_violation(ps, u, GX_EPROTO, "key %u block %u: malformed or unexpected DGT_PUSH",
			     h->key, h->block);
		return;
	}
	ps_dgt_ans *a = &k->dga[b];
	ps_fwd *f = awaited(a);
	if (!f || h->round < f->round)
		return; /* its datagrams brought it all already */
	if (h->round != f->round) {
		ps_violation(ps, u, GX_EPROTO, "key %u block %u: a DGT answer of round %u, "
			     "awaited round %u", h->key, h->block, h->round, f->round);
		return;
	}
	if ((!a->open || a->round != f->round) && ans_open(a, f->round, m.codec)) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u (DGT)", h->key);
		return;
	}
	if (m.codec != a->codec || m.block != a->block || m.nblocks != a->nb) {
		ps_violation(ps, u, GX_EPROTO, "key %u block %u: a DGT answer in blocks of %u "
			     "elements, want %u", h->key, h->block, m.block, a->block);
		return;
	}
	const uint8_t *v = m.values;
	size_t es = gx_wire_elem_size(m.codec);
	for (uint32_t i = 0; i < m.nrel; i++) {
		uint32_t bi = get32(m.index + 4 * (size_t)i);
		uint32_t n = gx_dgt_block_len(k->sl[b].count, m.block, bi);
		ans_place(a, f, bi, v, n);
		v += (size_t)n * es;
	}
	if (a->have == a->nb) {
		ans_done(a, f, a->asked);
		return;
	}
	if (!m.lossy || !m.rate) {
		/* (a word that repairs leaves nothing out) */
		ps_violation(ps, u, GX_EPROTO, "key %u block %u round %u: a DGT answer without "
			     "all its blocks", h->key, h->block, h->round);
		return;
	}
	/* the datagrams ahead of and with this answer, at the global's pace */
	if (!a->t_last)
		ans_arm(a, ps_dgt_due(&m, 0, ps->o.dgt.grace));
}

int ps_dgt_hold(ps_lkey *k, int b, uint32_t round, const float *x)
{
	ps_dgt_ans *a = &k->dga[b];
	size_t bytes = (size_t)k->sl[b].count * sizeof(float);
	if (!a->held && !(a->held = malloc(bytes)))
		return GX_ENOMEM;
	memcpy(a->held, x, bytes);
	a->held_round = round;
	a->holding = 1;
	return 0;
}

const float *ps_dgt_held(ps_lkey *k, int b, uint32_t *round)
{
	ps_dgt_ans *a = k->dga ? &k->dga[b] : NULL;
	if (!a || !a->holding)
		return NULL;
	a->holding = 0;
	*round = a->held_round;
	return a->held;
}
