/*
 * ps_acc.c — the gradients of one round of one tensor (or slice), gathered
 * from its contributors (workers by rank on a local server, parties by id on
 * a global one).
 *
 * The sum is built in contributor order whatever the order of arrival: the
 * contribution whose turn it is is decoded straight into the sum, an early
 * one is decoded into a buffer of its own and added when its turn comes, and
 * a contributor that is no longer waited for (dead, gone) is skipped. Floats
 * do not associate, so this is what makes every sum, and every value derived
 * from it, the same from run to run.
 */
#include <stdlib.h>
#include <string.h>

#include "ps_internal.h"

ps_acc *ps_acc_get(ps_acc **head, ps_spare *sp, gx_buf_pool *pool, uint32_t round, int n,
		   uint64_t count)
{
	ps_acc **pp = head;
	while (*pp && (*pp)->round < round)
		pp = &(*pp)->next;
	if (*pp && (*pp)->round == round)
		return *pp;
	if (count > SIZE_MAX / sizeof(float))
		return NULL;
	size_t nf = (size_t)(count ? count : 1);
	ps_acc *a = sp->acc;
	if (a && (a->n != n || a->count != count)) {
		ps_acc_free(a);
		a = NULL;
	}
	sp->acc = NULL;
	if (a) {
		/* ps_acc_put left no pend buffers behind */
		float *sum = a->sum;
		gx_buf *sumb = a->sumb;
		gx_buf **pend = a->pend;
		uint8_t *pushed = a->pushed;
		memset(a, 0, sizeof *a);
		memset(pushed, 0, (size_t)n);
		a->pend = pend;
		a->pushed = pushed;
		a->sum = sum;
		a->sumb = sumb;
		if (sumb && gx_buf_shared(sumb)) {
			/* still queued somewhere: not ours to write */
			gx_buf_unref(sumb);
			a->sum = NULL;
			a->sumb = NULL;
		}
	} else {
		a = calloc(1, sizeof *a);
		if (!a)
			return NULL;
		a->pend = calloc((size_t)n, sizeof *a->pend);
		a->pushed = calloc((size_t)n, 1);
		if (!a->pend || !a->pushed) {
			ps_acc_free(a);
			return NULL;
		}
	}
	if (!a->sum && pool) {
		a->sumb = gx_buf_pool_get(pool, nf * sizeof(float));
		if (!a->sumb) {
			ps_acc_free(a);
			return NULL;
		}
		a->sum = (float *)a->sumb->data;
	}
	if (!a->sum && sp->buf) {
		a->sum = sp->buf;
		sp->buf = NULL;
	}
	/* Not cleared: the first term overwrites it (GX_DECODE_FIRST), with
	 * the bits adding it to zeros would give, saving a pass. */
	if (!a->sum && !(a->sum = malloc(nf * sizeof(float)))) {
		ps_acc_free(a);
		return NULL;
	}
	a->round = round;
	a->n = n;
	a->count = count;
	a->t_first = gx_now_ns();
	a->next = *pp;
	*pp = a;
	return a;
}

void ps_acc_put(ps_spare *sp, ps_acc *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->n; i++) {
		gx_buf_unref(a->pend[i]);
		a->pend[i] = NULL;
	}
	a->next = NULL;
	if (!sp->acc) {
		sp->acc = a;
		return;
	}
	if (!sp->buf && a->sum && !a->sumb && sp->acc->count == a->count) {
		sp->buf = a->sum;
		a->sum = NULL;
	}
	ps_acc_free(a);
}

float *ps_buf_get(ps_spare *sp, uint64_t count)
{
	float *b = sp->buf;
	if (b) {
		sp->buf = NULL;
		return b;
	}
	if (count > SIZE_MAX / sizeof(float))
		return NULL;
	return malloc((size_t)(count ? count : 1) * sizeof(float));
}

void ps_buf_put(ps_spare *sp, float *buf)
{
	if (!sp->buf)
		sp->buf = buf;
	else
		free(buf);
}

void ps_spare_free(ps_spare *sp)
{
	ps_acc_free(sp->acc);
	free(sp->buf);
	sp->acc = NULL;
	sp->buf = NULL;
}

int ps_contrib_at(const gx_ps *ps, int k)
{
	if (!ps->ordered)
		return k;
	return ps->order ? ps->order[k] : -1;
}

/* Whether contributor i may push h into a: 0 or GX_EPROTO. */
static int acc_admits(const ps_acc *a, int i, const gx_frame_hdr *h)
{
	return i < 0 || i >= a->n || a->pushed[i] || h->count != a->count ? GX_EPROTO : 0;
}

/* Contributor i's push (of codec) is in: folded or waiting in pend. */
static void acc_pushed(ps_acc *a, int i, int codec)
{
	a->pushed[i] = 1;
	a->npushed++;
	a->codecs |= 1u << codec;
}

/* ps_acc_add, the push counted as one of codec (the aggregate's coding
 * follows the contributions'). */
static int acc_add(gx_ps *ps, ps_acc *a, int i, const gx_frame_hdr *h, const uint8_t *payload,
		   int codec)
{
	if (acc_admits(a, i, h))
		return GX_EPROTO;
	if (i == ps_contrib_at(ps, a->next_i)) {
		/* Its turn: straight into the sum (unchanged on error). */
		int r = gx_codec_decode(ps->codec, h, payload, a->sum,
					a->summed ? 1 : GX_DECODE_FIRST);
		if (r)
			return r;
		a->summed++;
		a->next_i++;
	} else {
		/* From the pool that the answers' buffers come from: early
		 * contributions are the rule with many contributors, so
		 * their buffers are reused rather than allocated per round. */
		gx_buf *b = gx_buf_pool_get(ps->bufs, (size_t)(a->count ? a->count : 1) * sizeof(float));
		if (!b)
			return GX_ENOMEM;
		int r = gx_codec_decode(ps->codec, h, payload, (float *)b->data, 0);
		if (r) {
			gx_buf_unref(b);
			return r;
		}
		a->pend[i] = b;
	}
	acc_pushed(a, i, codec);
	return 0;
}

int ps_acc_add(gx_ps *ps, ps_acc *a, int i, const gx_frame_hdr *h, const uint8_t *payload)
{
	return acc_add(ps, a, i, h, payload, h->codec);
}

int ps_acc_add_values(gx_ps *ps, ps_acc *a, int i, const float *v, int codec)
{
	/* as an F32 push of them */
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.codec = GX_CODEC_F32;
	h.count = a->count;
	h.payload_len = h.raw_len = (uint32_t)(a->count * sizeof(float));
	return acc_add(ps, a, i, &h, (const uint8_t *)v, codec);
}

int ps_acc_take(gx_ps *ps, ps_acc *a, int i, const gx_frame_hdr *h, gx_buf *b, int raw_first)
{
	int first = i == ps_contrib_at(ps, a->next_i);
	if (acc_admits(a, i, h) || h->codec != GX_CODEC_F32 || (h->flags & GX_FF_ZSTD) ||
	    (first && (a->summed || !raw_first || !a->sumb))) {
		/* decoded as any push (or refused as one) */
		int r = ps_acc_add(ps, a, i, h, b->data);
		gx_buf_unref(b);
		return r;
	}
	if (first) {
		gx_buf_unref(a->sumb);
		a->sumb = b;
		a->sum = (float *)b->data;
		a->summed++;
		a->next_i++;
	} else {
		a->pend[i] = b;
	}
	acc_pushed(a, i, h->codec);
	return 0;
}

int ps_acc_prefix(gx_ps *ps, ps_acc *a, int last, const gx_frame_hdr *h, const uint8_t *payload,
		  gx_buf *b)
{
	int bad = ps->ordered || last < 0 || last >= a->n || a->next_i != 0 || a->summed ||
		  h->count != a->count;
	for (int i = 0; !bad && i <= last; i++)
		bad = a->pushed[i];
	if (bad) {
		gx_buf_unref(b);
		return GX_EPROTO;
	}
	if (b && h->codec == GX_CODEC_F32 && !(h->flags & GX_FF_ZSTD) && a->sumb) {
		gx_buf_unref(a->sumb);
		a->sumb = b;
		a->sum = (float *)b->data;
	} else {
		int r = gx_codec_decode(ps->codec, h, payload, a->sum, GX_DECODE_FIRST);
		gx_buf_unref(b);
		if (r)
			return r;
	}
	a->summed = 1;
	a->next_i = last + 1;
	for (int i = 0; i <= last; i++)
		acc_pushed(a, i, h->codec);
	return 0;
}

int ps_acc_settle(gx_ps *ps, ps_acc *a)
{
	while (a->next_i < a->n) {
		int i = ps_contrib_at(ps, a->next_i);
		if (i < 0)
			break; /* the summing order is not known yet */
		if (a->pend[i]) {
			gx_codec_fold_f32(a->sum, (const float *)a->pend[i]->data, a->count,
					  !a->summed);
			a->summed++;
			GX_PASS(GX_PASS_DECODE, a->count * 4);
			gx_buf_unref(a->pend[i]);
			a->pend[i] = NULL;
		} else if (!a->pushed[i] &&
			   (ps->slot[i] == SLOT_EMPTY || ps->slot[i] == SLOT_LIVE)) {
			break; /* still waited for */
		}
		a->next_i++;
	}
	return a->next_i == a->n && a->npushed > 0;
}

void ps_acc_free(ps_acc *a)
{
	if (!a)
		return;
	if (a->pend)
		for (int i = 0; i < a->n; i++)
			gx_buf_unref(a->pend[i]);
	free(a->pend);
	free(a->pushed);
	if (a->sumb)
		gx_buf_unref(a->sumb);
	else
		free(a->sum);
	free(a);
}

void ps_acc_free_all(ps_acc *a)
{
	while (a) {
		ps_acc *n = a->next;
		ps_acc_free(a);
		a = n;
	}
}
