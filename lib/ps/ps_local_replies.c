/*
 * ps_local_replies.c — the local role: what the global tier answers
 * (INIT_REPLY, PUSH_REPLY, PULL_REPLY) and the other frames of an upstream
 * link once it is ready (docs/protocol.md). ps_local.c sends what these
 * answer; ps_up.c makes the links.
 *
 * Choices:
 *  - Rounds complete in order: each global server answers a slice's rounds
 *    in order, and a round is answered to the workers only once every one
 *    of its slices is back.
 *  - Each server answers its pulls in order, so a PULL_REPLY is for the
 *    oldest pull still missing that slice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps_dgt.h"
#include "ps_local.h"
#include "ps_overlay.h"

/* The entry (*kp) and the index in it (*bp) of the slice a reply names, or
 * NULL. With blocks the slice is the entry's block; without, the key's
 * entry holds every slice of it, numbered from 0. */
static const gx_slice *find_slice(gx_ps *ps, const gx_frame_hdr *h, ps_lkey **kp, int *bp)
{
	int blocks = ps->loc->block != 0;
	ps_lkey *k = ps_local_key(ps, h->key, blocks ? h->block : 0);
	uint32_t b = blocks ? 0 : h->block;
	if (!k || b >= (uint32_t)k->nsl)
		return NULL;
	*kp = k;
	*bp = (int)b;
	return &k->sl[b];
}

ps_fwd *ps_local_fwd_of(ps_lkey *k, uint32_t round)
{
	ps_fwd *f = k->fwds;
	while (f && f->round != round)
		f = f->next;
	return f;
}

/* The request in flight for k's pulls when it still misses slice b, or
 * NULL. */
static ps_pull *pull_missing(ps_lkey *k, int b)
{
	ps_pull *q = k->pulls;
	return q && q->sent && !q->got[b] ? q : NULL;
}

/* As find_slice, checked against the sender; NULL after a violation. */
static const gx_slice *reply_slice(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, ps_lkey **kp,
				   int *bp)
{
	ps_lkey *k = NULL;
	int b = 0;
	if (!find_slice(ps, h, &k, &b)) {
		ps_violation(ps, u, GX_EKEY, "a reply for key %u block %u, which this server never "
			     "asked for", h->key, h->block);
		return NULL;
	}
	const gx_slice *s = &k->sl[b];
	if (s->server != (uint32_t)(u->sib ? 0 : u->slot)) { /* the overlay: one server */
		ps_violation(ps, u, GX_EPROTO, "a reply for key %u block %u, which lives on "
			     "another server", h->key, h->block);
		return NULL;
	}
	if (h->codec == GX_CODEC_NONE || h->count != s->count) {
		ps_violation(ps, u, GX_EKEY, "key %u block %u: %llu elements, want %llu", h->key,
			     h->block, (unsigned long long)h->count, (unsigned long long)s->count);
		return NULL;
	}
	*kp = k;
	*bp = b;
	return s;
}

void *ps_local_up_header(gx_conn *c, const gx_frame_hdr *h, void *ud)
{
	ps_peer *u = ud;
	gx_ps *ps = u->ps;
	ps_lkey *k;
	int b;
	const gx_slice *s;
	if (ps->finishing || u->gone || u->ust != UP_READY || h->codec != GX_CODEC_F32 ||
	    (h->flags & GX_FF_ZSTD) || !(s = find_slice(ps, h, &k, &b)) ||
	    s->server != (uint32_t)u->slot || h->count != s->count)
		return NULL;
	if (h->type == GX_FT_PUSH_REPLY) {
		ps_fwd *f = ps_local_fwd_of(k, h->round);
		return f && !f->got[b] ? f->buf + ps_slice_at(k, s) : NULL;
	} else if (h->type == GX_FT_PULL_REPLY) {
		ps_pull *q = pull_missing(k, b);
		return q ? q->buf + ps_slice_at(k, s) : NULL;
	}
	return NULL;
}

/* Decodes u's reply h (a what) into dst (where ps_local_up_header may have
 * had it received already); 0, or a gx_error after a violation. */
static int decode_reply(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl,
			const char *what, float *dst)
{
	int r = gx_codec_decode(ps->codec, h, pl, dst, 0);
	if (r)
		ps_violation(ps, u, r, "key %u block %u: bad %s payload: %s", h->key, h->block,
			     what, gx_strerror(r));
	return r;
}

int ps_local_key_modes(gx_ps *ps, ps_lkey *k)
{
	const ps_local_state *ls = ps->loc;
	size_t bytes = (size_t)k->count * sizeof(float);
	int hfa = ls->up_sync == GX_SYNC_HFA, e = 0;
	if (ls->agg == 1) {
		if (ls->dgt) {
			if ((e = ps_dgt_key_init(ps, k)))
				return e;
		} else {
			k->ef = calloc((size_t)k->nsl, sizeof *k->ef);
			for (int b = 0; k->ef && b < k->nsl; b++)
				if (!(k->ef[b] = gx_ef_create(k->sl[b].count, ps->o.ef_momentum)))
					goto nomem;
			if (!k->ef)
				goto nomem;
		}
		if (!hfa && !(k->opt = gx_optim_create(&ls->up_cfg.optim, k->count, 1, &e))) {
			e = e ? e : GX_ENOMEM;
			ps_finish(ps, e, NULL, "key %u: cannot create the global tier's optimizer "
				  "here: %s", k->key, gx_strerror(e));
			return e;
		}
	}
	if (ps->o.lan == GX_LINK_FP16) {
		if (!(k->view = malloc(bytes)))
			goto nomem;
		memcpy(k->view, k->value, bytes);
		GX_PASS(GX_PASS_COPY, bytes);
	}
	if (hfa) {
		if (!(k->base = malloc(bytes)))
			goto nomem;
		memcpy(k->base, k->value, bytes);
		GX_PASS(GX_PASS_COPY, bytes);
	}
	return 0;
nomem:
	ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
	return GX_ENOMEM;
}

static void on_init_reply(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_lkey *k;
	int b;
	const gx_slice *s = reply_slice(ps, u, h, &k, &b);
	if (!s)
		return;
	if (k->init != 1 || k->init_got[b]) {
		ps_violation(ps, u, GX_EPROTO, "an unexpected INIT_REPLY for key %u block %u",
			     h->key, h->block);
		return;
	}
	if (decode_reply(ps, u, h, pl, "INIT_REPLY", k->value + ps_slice_at(k, s)))
		return;
	k->init_got[b] = 1;
	if (ps->loc->restoring && h->round < k->rounds)
		k->rounds = h->round; /* the slice's settled rounds: the key's earliest */
	if (--k->init_left > 0)
		return;
	if (ps_local_key_modes(ps, k))
		return;
	k->init = 2;
	ps_codec_answer(ps, k, k->init_wait, GX_FT_INIT_REPLY, 0, 0);
	memset(k->init_wait, 0, (size_t)ps->n);
	if (ps->loc->restoring)
		ps_local_restored_key(ps);
}

void ps_local_push_reply(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_lkey *k;
	int b;
	const gx_slice *s = reply_slice(ps, u, h, &k, &b);
	if (!s)
		return;
	ps_fwd *f = ps_local_fwd_of(k, h->round);
	if (!f || f->got[b]) {
		ps_violation(ps, u, GX_EPROTO, "an unexpected PUSH_REPLY for key %u block %u round "
			     "%u", h->key, h->block, h->round);
		return;
	}
	if (decode_reply(ps, u, h, pl, "PUSH_REPLY", f->buf + ps_slice_at(k, s)))
		return;
	if (ps->loc->ovl) /* passed on first: the data centers below it wait */
		ps_ovl_local_relay(ps, u, h, f->buf + ps_slice_at(k, s), f->bufb);
	ps_local_slice_in(ps, k, f, b);
}

void ps_local_slice_in(gx_ps *ps, ps_lkey *k, ps_fwd *f, int b)
{
	ps_local_state *ls = ps->loc;
	f->got[b] = 1;
	f->left--;
	/* Rounds complete in order: each slice's replies come in order. */
	int hfa = ls->up_sync == GX_SYNC_HFA;
	size_t bytes = (size_t)k->count * sizeof(float);
	while ((f = k->fwds) && f->left == 0) {
		if (hfa) {
			if (ls->agg == 1) {
				for (uint64_t i = 0; i < k->count; i++)
					k->base[i] += f->buf[i];
				GX_PASS(GX_PASS_DECODE, bytes);
			} else {
				memcpy(k->base, f->buf, bytes);
				GX_PASS(GX_PASS_COPY, bytes);
			}
			memcpy(k->value, k->base, bytes);
			GX_PASS(GX_PASS_COPY, bytes);
			ps_buf_put(&k->spare, f->buf);
		} else if (ls->agg == 1) {
			int r = gx_optim_step(k->opt, k->value, f->buf, 0);
			ps_buf_put(&k->spare, f->buf);
			if (r) {
				f->buf = NULL;
				ps_finish(ps, r, NULL, "key %u: the optimizer failed: %s", k->key,
					  gx_strerror(r));
				return;
			}
		} else {
			if (k->valueb)
				gx_buf_unref(k->valueb);
			else
				ps_buf_put(&k->spare, k->value);
			k->value = f->buf;
			k->valueb = f->bufb;
			f->bufb = NULL;
		}
		f->buf = NULL;
		k->rounds++;
		ps_codec_answer(ps, k, f->who, GX_FT_PUSH_REPLY, f->wround, hfa);
		ps->updates++;
		ps->wait_ns += gx_now_ns() - f->t_first;
		ps_local_note_up(ps, gx_now_ns() - f->t_up);
		k->fwds = f->next;
		if (!k->fwds)
			k->fwd_tail = &k->fwds;
		ps_fwd_free(f, k->nsl);
	}
	if (hfa)
		ps_local_settle_key(ps, k); /* a round that waited for this one */
}

static void on_pull_reply(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_lkey *k;
	int b;
	const gx_slice *s = reply_slice(ps, u, h, &k, &b);
	if (!s)
		return;
	/* One request per key is in flight: the reply is for it. */
	ps_pull *q = pull_missing(k, b);
	if (!q) {
		ps_violation(ps, u, GX_EPROTO, "an unexpected PULL_REPLY for key %u block %u",
			     h->key, h->block);
		return;
	}
	if (decode_reply(ps, u, h, pl, "PULL_REPLY", q->buf + ps_slice_at(k, s)))
		return;
	q->got[b] = 1;
	if (--q->left > 0)
		return;
	/* Every PULL of the group gets the one answer, by reference. */
	gx_tensor_payload pay;
	gx_tensor_payload_f32(&pay, q->buf, k->count, q->bufb);
	for (int i = 0; i < ps->n; i++) {
		ps_peer *w = ps->who[i];
		gx_tensor_route rt = { .type = GX_FT_PULL_REPLY, .key = k->key, .block = k->block,
				       .round = h->round, .sender = ps->o.party };
		for (uint32_t j = 0; j < q->want[i] && w && w->c && !w->gone; j++)
			ps_send_tensor(ps, w->c, &rt, &pay);
	}
	k->pulls = q->next;
	if (k->pull_tail == &q->next)
		k->pull_tail = &k->pulls;
	ps_pull_free(q);
	if (k->pulls)
		ps_pull_ask(ps, k, k->pulls);
}

void ps_local_up_frame(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	if (u->sib) {
		ps_ovl_local_frame(ps, u, h, pl);
		return;
	}
	if (u->gone || !u->c)
		return;
	if (h->type == GX_FT_ERROR) {
		char msg[GX_ERROR_MSG_MAX + 1];
		int code = 0;
		if (gx_errmsg_parse(pl, h->payload_len, &code, msg, sizeof msg))
			snprintf(msg, sizeof msg, "(malformed ERROR)");
		u->gone = 1;
		gx_conn_close(u->c, 1, "error from upstream");
		if (u->ust == UP_HELLO || u->ust == UP_CONFIG)
			ps_finish(ps, GX_EREFUSED, u, "%s refused this server: %s", u->label, msg);
		else
			ps_finish(ps, GX_EPEER, u, "%s failed: %s", u->label, msg);
		return;
	}
	if (u->ust == UP_HELLO || u->ust == UP_CONFIG) {
		ps_up_handshake(ps, u, h, pl);
		return;
	}
	switch (h->type) {
	case GX_FT_HEARTBEAT:
		if (!ps_empty_ctl(h))
			ps_violation(ps, u, GX_EPROTO, "malformed HEARTBEAT");
		return;
	case GX_FT_BYE:
		if (u->ust != UP_BYE) {
			ps_violation(ps, u, GX_EPROTO, "BYE before this server said goodbye");
			return;
		}
		gx_conn_close(u->c, 1, "goodbye");
		return;
	case GX_FT_INIT_REPLY:
		on_init_reply(ps, u, h, pl);
		return;
	case GX_FT_PUSH_REPLY:
		ps_local_push_reply(ps, u, h, pl);
		return;
	case GX_FT_PULL_REPLY:
		on_pull_reply(ps, u, h, pl);
		return;
	case GX_FT_DGT_ACK:
		ps_dgt_on_ack(ps, u, h, pl);
		return;
	case GX_FT_DGT_PUSH:
		ps_dgt_answer_word(ps, u, h, pl);
		return;
	default:
		if (ps_ovl_local_up_frame(ps, u, h, pl))
			return;
		ps_violation(ps, u, GX_EPROTO, "unexpected frame type %u", h->type);
	}
}

/* ------------------------------------------------------------ statistics */

void ps_local_note_up(gx_ps *ps, uint64_t ns)
{
	ps_local_state *ls = ps->loc;
	if (!ls->up_ms && !(ls->up_ms = malloc(PS_UP_TIMES * sizeof *ls->up_ms)))
		return; /* (only the figures are missing then) */
	if (ls->n_up < PS_UP_TIMES)
		ls->up_ms[ls->n_up++] = (float)((double)ns / 1e6);
}

static int by_value(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

void ps_local_stats(const gx_ps *ps, ps_sbuf *b, int json)
{
	const ps_local_state *ls = ps->loc;
	size_t n = ls->n_up;
	double mean = 0, p99 = 0, max = 0;
	float *v = n ? malloc(n * sizeof *v) : NULL;
	if (v) {
		memcpy(v, ls->up_ms, n * sizeof *v);
		qsort(v, n, sizeof *v, by_value);
		for (size_t i = 0; i < n; i++)
			mean += v[i];
		mean /= (double)n;
		p99 = v[(n * 99 + 99) / 100 - 1];
		max = v[n - 1];
		free(v);
	}
	if (json)
		ps_sb_printf(b, ",\"push_rounds\":{\"count\":%zu,\"mean_ms\":%.3f,\"p99_ms\":%.3f,"
			     "\"max_ms\":%.3f}", n, mean, p99, max);
	else
		ps_sb_printf(b, "push_rounds\t%zu\t%.3f\t%.3f\t%.3f\n", n, mean, p99, max);
	ps_dgt_stats(ps, b, json);
	ps_ovl_local_stats(ps, b, json);
}
