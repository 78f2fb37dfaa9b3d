/*
 * ps_codec.c — the link codecs of the parameter servers (docs/protocol.md,
 * "Link codecs"): a local's coded pushes across the WAN with error feedback
 * per slice, the global's coded aggregate answered to every party, a
 * local's fp16 answers to its workers, and the error feedback state
 * written at the end.
 *
 * Choices:
 *  - The aggregate goes down as the contributions came up, so a local's
 *    choice decides both directions without a second option at the global;
 *    every party gets the same bytes (encoded once), which is what keeps
 *    the locals' copies identical.
 *  - A sparse aggregate carries every nonzero element of the sum exactly
 *    (float32): the union of the parties' selections. Where that would not
 *    be smaller than dense F32 (many parties, a large ratio), it goes F32.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps_dgt.h"
#include "ps_local.h"

/* ------------------------------------------------------------- scratch */

static void *grow(void **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return *p;
	size_t nc = *cap ? *cap : 4096;
	while (nc < need)
		nc *= 2;
	void *q = realloc(*p, nc);
	if (!q)
		return NULL;
	*p = q;
	*cap = nc;
	return q;
}

static float *floats(gx_ps *ps, uint64_t n)
{
	if (n > SIZE_MAX / sizeof(float))
		return NULL;
	return grow((void **)&ps->fscratch, &ps->fscratch_cap, (size_t)(n ? n : 1) * sizeof(float));
}

/* ---------------------------------------------------------- lifetime */

static gx_codec *make_codec(gx_ps *ps, int codec, double ratio, uint64_t bound)
{
	gx_codec_opts co;
	gx_codec_opts_default(&co);
	co.codec = codec;
	co.topk_ratio = ratio;
	co.mpq_bound = bound;
	co.seed = 0x9e3779b9u + ps->o.party;
	int e = 0;
	gx_codec *c = gx_codec_create(&co, &e);
	if (!c)
		ps_log(ps, GX_LOG_ERROR, "cannot create a codec: %s", gx_strerror(e));
	return c;
}

int ps_codec_init(gx_ps *ps)
{
	if (!(ps->henc = make_codec(ps, GX_CODEC_F16, GX_DEFAULT_TOPK, GX_DEFAULT_MPQ_BOUND)))
		return GX_ENOMEM;
	if (!(ps->denc = make_codec(ps, GX_CODEC_F32, GX_DEFAULT_TOPK, GX_DEFAULT_MPQ_BOUND)))
		return GX_ENOMEM;
	return 0;
}

int ps_codec_init_wan(gx_ps *ps)
{
	ps_local_state *ls = ps->loc;
	const gx_link_codec *w = &ps->o.wan;
	switch (w->kind) {
	case GX_LINK_NONE:
		return 0;
	case GX_LINK_FP16:
		ls->wenc = make_codec(ps, GX_CODEC_F16, GX_DEFAULT_TOPK, GX_DEFAULT_MPQ_BOUND);
		break;
	case GX_LINK_BSC:
		ls->wenc = make_codec(ps, GX_CODEC_SPARSE_F32, w->ratio, GX_DEFAULT_MPQ_BOUND);
		break;
	case GX_LINK_MPQ:
		ls->wenc = make_codec(ps, GX_CODEC_MPQ, w->ratio, w->bound);
		break;
	default:
		return GX_EINVAL;
	}
	ls->agg = 1;
	return ls->wenc ? 0 : GX_ENOMEM;
}

void ps_codec_free(gx_ps *ps)
{
	gx_codec_free(ps->denc);
	gx_codec_free(ps->henc);
	free(ps->fscratch);
	ps->denc = ps->henc = NULL;
	ps->fscratch = NULL;
	ps->fscratch_cap = 0;
}

/* ------------------------------------------------------------ sending */

/* Sends one coded payload to c through the door, from this server. */
static void send_coded(gx_ps *ps, gx_conn *c, const gx_tensor_payload *pl, int type,
		       uint32_t key, uint32_t block, uint32_t round)
{
	gx_tensor_route r = { .type = type, .key = key, .block = block, .round = round,
			      .sender = ps->sender };
	ps_send_tensor(ps, c, &r, pl);
}

/* A pooled buffer for a payload of up to cap bytes; NULL ends the job. */
static gx_buf *payload_buf(gx_ps *ps, size_t cap, uint32_t key)
{
	gx_buf *b = gx_buf_pool_get(ps->bufs, cap ? cap : 1);
	if (!b)
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", key);
	return b;
}

void ps_codec_send_kept(gx_ps *ps, gx_conn *c, const gx_tensor_payload *pl, int type,
			uint32_t key, uint32_t block, uint32_t round)
{
	send_coded(ps, c, pl, type, key, block, round);
}

void ps_codec_drop_kept(gx_tensor_payload *pl)
{
	gx_buf_unref(pl->buf);
	pl->buf = NULL;
	pl->bytes = NULL;
}

/* Keeps pl in *keep (a reference of its buffer), releasing what it held. */
static void keep_payload(gx_tensor_payload *keep, const gx_tensor_payload *pl)
{
	gx_buf *old = keep->buf;
	*keep = *pl;
	gx_buf_ref(pl->buf);
	gx_buf_unref(old);
}

int ps_codec_make_agg(gx_ps *ps, uint32_t key, uint32_t block, const float *x, uint64_t n,
		      uint32_t codecs, gx_tensor_payload *out)
{
	int dense32 = (codecs & (1u << GX_CODEC_F32)) != 0;
	int f16 = !dense32 && (codecs & (1u << GX_CODEC_F16));
	size_t cap = f16 ? gx_codec_bound(ps->henc, n) : (size_t)n * 4;
	gx_buf *b = payload_buf(ps, cap, key);
	if (!b)
		return GX_ENOMEM;
	gx_frame_hdr_init(&out->h);
	int r = 0;
	if (dense32) {
		memcpy(b->data, x, (size_t)n * 4);
		GX_PASS(GX_PASS_COPY, n * 4);
		gx_tensor_payload_f32(out, (const float *)b->data, n, b);
	} else {
		/* F16 as the contributions came; sparse: every nonzero element,
		 * exactly (or dense where that is smaller). */
		r = f16 ? gx_codec_encode(ps->henc, x, n, NULL, &out->h, b->data, cap)
			: gx_codec_encode_nonzero(ps->henc, x, n, &out->h, b->data, cap);
		out->bytes = b->data;
		out->buf = b;
	}
	if (r) {
		ps_finish(ps, r, NULL, "key %u block %u: cannot encode the aggregate: %s", key, block,
			  gx_strerror(r));
		gx_buf_unref(b);
		out->buf = NULL;
	}
	return r;
}

void ps_codec_push_up(gx_ps *ps, ps_lkey *k, int b, uint32_t round, const float *x,
		      gx_tensor_payload *keep)
{
	if (ps->loc->dgt) {
		ps_dgt_push(ps, k, b, round, x);
		return;
	}
	const gx_slice *s = &k->sl[b];
	gx_codec *c = ps->loc->wenc;
	if (ps->o.wan.kind == GX_LINK_BSC && s->count < ps->o.sparse_min)
		c = ps->denc;
	size_t cap = gx_codec_bound(c, s->count);
	gx_buf *buf = payload_buf(ps, cap, k->key);
	if (!buf)
		return;
	gx_tensor_payload pl = { .bytes = buf->data, .buf = buf };
	gx_frame_hdr_init(&pl.h);
	int r = gx_codec_encode(c, x, s->count, k->ef[b], &pl.h, buf->data, cap);
	if (r)
		ps_finish(ps, r, NULL, "key %u block %u: cannot encode for the WAN: %s", k->key,
			  s->block, gx_strerror(r));
	else
		send_coded(ps, ps->loc->ups[s->server]->c, &pl, GX_FT_PUSH, k->key, s->block, round);
	if (keep && !r)
		keep_payload(keep, &pl);
	gx_buf_unref(buf);
}

void ps_codec_answer(gx_ps *ps, ps_lkey *k, const uint8_t *which, int type, uint32_t round,
		    int full)
{
	if (k->view && full) {
		memcpy(k->view, k->value, (size_t)k->count * sizeof(float));
		GX_PASS(GX_PASS_COPY, k->count * sizeof(float));
	}
	int diff = ps->o.lan == GX_LINK_FP16 && type == GX_FT_PUSH_REPLY && !full;
	gx_tensor_payload pl;
	gx_buf *b;
	if (k->valueb && ps->o.lan != GX_LINK_FP16) {
		/* The value's own buffer, never changed in place: shared, not
		 * copied. */
		b = gx_buf_ref(k->valueb);
		gx_tensor_payload_f32(&pl, k->value, k->count, b);
		goto send;
	}
	size_t cap = diff ? gx_codec_bound(ps->henc, k->count) : (size_t)k->count * 4;
	b = payload_buf(ps, cap, k->key);
	if (!b)
		return;
	gx_frame_hdr_init(&pl.h);
	if (diff) {
		/* The difference to what the workers hold, in F16; both sides
		 * add what it decodes to, so the rounding is carried over. */
		float *d = floats(ps, k->count);
		if (!d) {
			ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
			gx_buf_unref(b);
			return;
		}
		for (uint64_t i = 0; i < k->count; i++)
			d[i] = k->value[i] - k->view[i];
		int r = gx_codec_encode(ps->henc, d, k->count, NULL, &pl.h, b->data, cap);
		if (!r)
			r = gx_codec_decode(ps->henc, &pl.h, b->data, k->view, 1);
		if (r) {
			ps_finish(ps, r, NULL, "key %u: cannot encode the answer: %s", k->key,
				  gx_strerror(r));
			gx_buf_unref(b);
			return;
		}
		pl.bytes = b->data;
		pl.buf = b;
	} else {
		/* One copy, whatever the number of workers it goes to. */
		memcpy(b->data, ps->o.lan == GX_LINK_FP16 ? k->view : k->value,
		       (size_t)k->count * 4);
		GX_PASS(GX_PASS_COPY, k->count * 4);
		gx_tensor_payload_f32(&pl, (const float *)b->data, k->count, b);
	}
send:
	/* (--checkpoint: the state this answer leaves, views included, on
	 * disk before it goes out) */
	if (ps_local_key_durable(ps, k)) {
		gx_buf_unref(b);
		return;
	}
	for (int i = 0; i < ps->n && !ps->finishing; i++) {
		ps_peer *w = ps->who[i];
		if (which[i] && w && w->c && !w->gone) {
			send_coded(ps, w->c, &pl, type, k->key, k->block, round);
			if (type == GX_FT_PUSH_REPLY)
				ps_local_note_answer(ps, w, k, round);
		}
	}
	gx_buf_unref(b);
}

/* ------------------------------------------------------- saving state */

int ps_codec_save_ef(gx_ps *ps)
{
	const char *path = ps->o.ef_save;
	if (!path)
		return 0;
	char tmp[4096];
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	if (fd < 0) {
		ps_log(ps, GX_LOG_ERROR, "cannot write the error-feedback state %s: %s", path,
		       strerror(errno));
		return GX_EIO;
	}
	for (size_t i = 0; i < ps->loc->nkeys; i++) {
		const ps_lkey *k = &ps->loc->keys[i];
		for (int b = 0; (k->ef || k->dgt) && b < k->nsl; b++) {
			/* DGT's residual is written in the same form */
			int r = k->dgt ? gx_ef_state_write_vec(fd, k->key, k->sl[b].block, 0,
							       gx_dgt_residual(k->dgt[b]),
							       k->sl[b].count)
				       : gx_ef_state_write(fd, k->key, k->sl[b].block, k->ef[b]);
			if (r) {
				int e = r == GX_EIO ? errno : EFBIG; /* else GX_ETOOBIG */
				gx_atomic_abort(fd, tmp);
				ps_log(ps, GX_LOG_ERROR, "cannot write the error-feedback state "
				       "%s: %s", path, strerror(e));
				return GX_EIO;
			}
		}
	}
	if (gx_atomic_commit(fd, tmp, path)) {
		ps_log(ps, GX_LOG_ERROR, "cannot write the error-feedback state %s: %s", path,
		       strerror(errno));
		return GX_EIO;
	}
	return 0;
}
