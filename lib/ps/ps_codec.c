/*
 * ps_codec.c — the link codecs of the parameter servers (docs/protocol.md,
 * "Link codecs"): a local's coded pushes across the WAN with error feedback
 * per slice, the global's coded aggregate answered to every party, a
 * local's fp16 answers to its workers, the CONFIG frame, and the error
 * feedback state written at the end.
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

#include "ps_internal.h"

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

static uint8_t *bytes(gx_ps *ps, size_t n)
{
	return grow((void **)&ps->scratch, &ps->scratch_cap, n ? n : 1);
}

static float *floats(gx_ps *ps, uint64_t n)
{
	if (n > SIZE_MAX / sizeof(float))
		return NULL;
	return grow((void **)&ps->fscratch, &ps->fscratch_cap, (size_t)(n ? n : 1) * sizeof(float));
}

static uint32_t *indices(gx_ps *ps, uint64_t n)
{
	if (n > SIZE_MAX / sizeof(uint32_t))
		return NULL;
	return grow((void **)&ps->iscratch, &ps->iscratch_cap,
		    (size_t)(n ? n : 1) * sizeof(uint32_t));
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
		ps_log(ps, LOG_ERR, "cannot create a codec: %s", gx_strerror(e));
	return c;
}

int ps_codec_init(gx_ps *ps)
{
	if (!(ps->henc = make_codec(ps, GX_CODEC_F16, GX_DEFAULT_TOPK, GX_DEFAULT_MPQ_BOUND)))
		return GX_ENOMEM;
	if (!(ps->denc = make_codec(ps, GX_CODEC_F32, GX_DEFAULT_TOPK, GX_DEFAULT_MPQ_BOUND)))
		return GX_ENOMEM;
	if (ps->o.role != GX_ROLE_LOCAL)
		return 0;
	const gx_link_codec *w = &ps->o.wan;
	switch (w->kind) {
	case GX_LINK_NONE:
		return 0;
	case GX_LINK_FP16:
		ps->wenc = make_codec(ps, GX_CODEC_F16, GX_DEFAULT_TOPK, GX_DEFAULT_MPQ_BOUND);
		break;
	case GX_LINK_BSC:
		ps->wenc = make_codec(ps, GX_CODEC_SPARSE_F32, w->ratio, GX_DEFAULT_MPQ_BOUND);
		break;
	case GX_LINK_MPQ:
		ps->wenc = make_codec(ps, GX_CODEC_MPQ, w->ratio, w->bound);
		break;
	default:
		return GX_EINVAL;
	}
	ps->agg = 1;
	return ps->wenc ? 0 : GX_ENOMEM;
}

void ps_codec_free(gx_ps *ps)
{
	gx_codec_free(ps->wenc);
	gx_codec_free(ps->denc);
	gx_codec_free(ps->henc);
	free(ps->scratch);
	free(ps->fscratch);
	free(ps->iscratch);
	ps->wenc = ps->denc = ps->henc = NULL;
	ps->scratch = NULL;
	ps->fscratch = NULL;
	ps->iscratch = NULL;
	ps->scratch_cap = ps->fscratch_cap = ps->iscratch_cap = 0;
}

const char *ps_sync_name(int sync)
{
	return sync == GX_SYNC_FULL ? "full" : sync == GX_SYNC_MIXED ? "mixed" : "hfa";
}

/* ------------------------------------------------------------- config */

void ps_send_config(gx_ps *ps, ps_peer *p)
{
	gx_config c;
	memset(&c, 0, sizeof c);
	if (ps->o.role == GX_ROLE_GLOBAL) {
		c.sync = (uint8_t)ps->o.sync;
		c.mode = (uint8_t)p->mode;
		c.sum = ps->o.sum != 0;
		c.optim = ps->o.optim;
		if (ps->o.sync == GX_SYNC_HFA) {
			c.k1 = ps->o.k1;
			c.k2 = ps->o.k2;
		}
	} else {
		c = ps->up_cfg;
		c.sync = (uint8_t)ps->up_sync;
		c.mode = 0;
		c.lan = (uint8_t)ps->o.lan;
	}
	uint8_t b[GX_CONFIG_SIZE];
	gx_config_pack(&c, b);
	gx_send_ctl(p->c, GX_FT_CONFIG, 0, 0, b, GX_CONFIG_SIZE);
}

/* ------------------------------------------------------------ sending */

/* Sends one encoded frame (h filled by gx_codec_encode or by hand) to c. */
static void send_coded(gx_ps *ps, gx_conn *c, gx_frame_hdr *h, int type, uint32_t key,
		       uint32_t block, uint32_t round, const uint8_t *payload)
{
	if (!c)
		return;
	h->type = (uint8_t)type;
	h->key = key;
	h->block = block;
	h->round = round;
	h->sender = ps->o.role == GX_ROLE_LOCAL ? ps->o.party : 0;
	ps_sent(ps, gx_conn_send(c, h, payload));
}

void ps_codec_send_agg(gx_ps *ps, gx_conn **cs, int nc, int type, uint32_t key, uint32_t block,
		      uint32_t round, const float *x, uint64_t n, uint32_t codecs)
{
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	const uint8_t *payload = (const uint8_t *)x;
	int dense32 = (codecs & (1u << GX_CODEC_F32)) != 0;
	if (!dense32 && !(codecs & (1u << GX_CODEC_F16))) {
		/* Sparse: every nonzero element, exactly. */
		uint32_t *idx = indices(ps, n);
		float *val = floats(ps, n);
		if (!idx || !val) {
			ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", key);
			return;
		}
		size_t k = 0;
		for (uint64_t i = 0; i < n; i++)
			if (x[i] != 0.0f) {
				idx[k] = (uint32_t)i;
				val[k++] = x[i];
			}
		size_t cap = gx_sparse_bound(k, n, GX_CODEC_SPARSE_F32);
		uint8_t *out = bytes(ps, cap);
		long len = out ? gx_sparse_pack(idx, val, k, n, GX_CODEC_SPARSE_F32, GX_IDX_AUTO,
						out, cap) : GX_ENOMEM;
		if (len == GX_ENOMEM) {
			ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", key);
			return;
		}
		if (len >= 0 && (uint64_t)len < n * 4) {
			h.codec = GX_CODEC_SPARSE_F32;
			h.count = n;
			h.payload_len = h.raw_len = (uint32_t)len;
			payload = out;
		} else {
			dense32 = 1;
		}
	} else if (!dense32) {
		size_t cap = gx_codec_bound(ps->henc, n);
		uint8_t *out = bytes(ps, cap);
		int r = out ? gx_codec_encode(ps->henc, x, n, NULL, &h, out, cap) : GX_ENOMEM;
		if (r) {
			ps_finish(ps, r, NULL, "key %u block %u: cannot encode the aggregate: %s", key,
				  block, gx_strerror(r));
			return;
		}
		payload = out;
	}
	if (dense32) {
		gx_frame_hdr_init(&h);
		h.codec = GX_CODEC_F32;
		h.count = n;
		h.payload_len = h.raw_len = (uint32_t)(n * 4);
		payload = (const uint8_t *)x;
	}
	for (int i = 0; i < nc && !ps->finishing; i++) {
		gx_frame_hdr hc = h;
		send_coded(ps, cs[i], &hc, type, key, block, round, payload);
	}
}

void ps_codec_push_up(gx_ps *ps, ps_lkey *k, int b, uint32_t round, const float *x)
{
	const gx_slice *s = &k->sl[b];
	gx_codec *c = ps->wenc;
	if (ps->o.wan.kind == GX_LINK_BSC && s->count < ps->o.sparse_min)
		c = ps->denc;
	size_t cap = gx_codec_bound(c, s->count);
	uint8_t *out = bytes(ps, cap);
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	int r = out ? gx_codec_encode(c, x, s->count, k->ef[b], &h, out, cap) : GX_ENOMEM;
	if (r) {
		ps_finish(ps, r, NULL, "key %u block %u: cannot encode for the WAN: %s", k->key,
			  s->block, gx_strerror(r));
		return;
	}
	send_coded(ps, ps->ups[s->server]->c, &h, GX_FT_PUSH, k->key, s->block, round, out);
}

void ps_codec_answer(gx_ps *ps, ps_lkey *k, const uint8_t *which, int type, uint32_t round,
		    int full)
{
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	const uint8_t *payload = (const uint8_t *)k->value;
	if (k->view && full)
		memcpy(k->view, k->value, (size_t)k->count * sizeof(float));
	if (ps->o.lan == GX_LINK_FP16 && type == GX_FT_PUSH_REPLY && !full) {
		/* The difference to what the workers hold, in F16; both sides
		 * add what it decodes to, so the rounding is carried over. */
		float *d = floats(ps, k->count);
		size_t cap = gx_codec_bound(ps->henc, k->count);
		uint8_t *out = d ? bytes(ps, cap) : NULL;
		if (!out) {
			ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
			return;
		}
		for (uint64_t i = 0; i < k->count; i++)
			d[i] = k->value[i] - k->view[i];
		int r = gx_codec_encode(ps->henc, d, k->count, NULL, &h, out, cap);
		if (!r)
			r = gx_codec_decode(ps->henc, &h, out, k->view, 1);
		if (r) {
			ps_finish(ps, r, NULL, "key %u: cannot encode the answer: %s", k->key,
				  gx_strerror(r));
			return;
		}
		payload = out;
	} else {
		if (ps->o.lan == GX_LINK_FP16)
			payload = (const uint8_t *)k->view;
		h.codec = GX_CODEC_F32;
		h.count = k->count;
		h.payload_len = h.raw_len = (uint32_t)(k->count * 4);
	}
	for (int i = 0; i < ps->n && !ps->finishing; i++) {
		ps_peer *w = ps->who[i];
		if (which[i] && w && w->c && !w->gone) {
			gx_frame_hdr hc = h;
			send_coded(ps, w->c, &hc, type, k->key, 0, round, payload);
		}
	}
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
		ps_log(ps, LOG_ERR, "cannot write the error-feedback state %s: %s", path,
		       strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < ps->nkeys; i++) {
		const ps_lkey *k = &ps->keys[i];
		for (int b = 0; k->ef && b < k->nsl; b++) {
			if (!k->ef[b])
				continue;
			int r = gx_ef_state_write(fd, k->key, k->sl[b].block, k->ef[b]);
			if (r) {
				int e = r == GX_EIO ? errno : EFBIG; /* else GX_ETOOBIG */
				gx_atomic_abort(fd, tmp);
				ps_log(ps, LOG_ERR, "cannot write the error-feedback state %s: %s",
				       path, strerror(e));
				return -1;
			}
		}
	}
	if (gx_atomic_commit(fd, tmp, path)) {
		ps_log(ps, LOG_ERR, "cannot write the error-feedback state %s: %s", path,
		       strerror(errno));
		return -1;
	}
	return 0;
}
