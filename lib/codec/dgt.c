/*
 * dgt.c — differential gradient transmission, the arithmetic (codec/dgt.h):
 * ranking blocks by contribution, the channels of a round, folding back
 * what was lost, K's controller, and the receiver's reassembly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/gx_base.h"
#include "../wire/control.h"
#include "dgt.h"
#include "gx_codec.h"

/* The rounds planned and not folded yet: the oldest at head. */
struct gx_dgt {
	uint64_t count;
	uint32_t block, nblocks;
	int codec;
	int planned, head; /* rounds in flight (0..GX_DGT_INFLIGHT), the oldest */
	uint64_t folds;    /* folds so far */
	uint64_t folds_at[GX_DGT_INFLIGHT]; /* folds when a round was planned */
	float *g[GX_DGT_INFLIGHT];      /* a planned round's g = sum + residual */
	float *res;                     /* the residual */
	float *contrib;                 /* per block: the moving average of mean |g| */
	uint32_t *rank;                 /* scratch: blocks by contribution */
	uint8_t *chan[GX_DGT_INFLIGHT]; /* a planned round's channels */
	uint16_t *h[GX_DGT_INFLIGHT];   /* F16: a planned round's coded values */
};

static uint32_t blocks_of(uint64_t count, uint32_t block)
{
	return (uint32_t)((count + block - 1) / block);
}

gx_dgt *gx_dgt_create(uint64_t count, uint32_t block, int codec)
{
	if (!count || !block || block > UINT16_MAX ||
	    (codec != GX_CODEC_F32 && codec != GX_CODEC_F16) || count > SIZE_MAX / sizeof(float) ||
	    blocks_of(count, block) == 0 || (count + block - 1) / block > UINT32_MAX)
		return NULL;
	gx_dgt *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->count = count;
	d->block = block;
	d->nblocks = blocks_of(count, block);
	d->codec = codec;
	int ok = 1;
	for (int i = 0; i < GX_DGT_INFLIGHT; i++) {
		d->g[i] = malloc((size_t)count * sizeof *d->g[i]);
		d->chan[i] = malloc(d->nblocks);
		if (codec == GX_CODEC_F16)
			d->h[i] = malloc((size_t)count * sizeof *d->h[i]);
		ok &= d->g[i] && d->chan[i] && (codec != GX_CODEC_F16 || d->h[i]);
	}
	d->res = calloc((size_t)count, sizeof *d->res);
	d->contrib = calloc(d->nblocks, sizeof *d->contrib);
	d->rank = malloc(d->nblocks * sizeof *d->rank);
	if (!ok || !d->res || !d->contrib || !d->rank) {
		gx_dgt_free(d);
		return NULL;
	}
	/* a block not seen yet ranks below every block seen */
	for (uint32_t b = 0; b < d->nblocks; b++)
		d->contrib[b] = -1.0f;
	return d;
}

void gx_dgt_free(gx_dgt *d)
{
	if (!d)
		return;
	for (int i = 0; i < GX_DGT_INFLIGHT; i++) {
		free(d->g[i]);
		free(d->chan[i]);
		free(d->h[i]);
	}
	free(d->res);
	free(d->contrib);
	free(d->rank);
	free(d);
}

uint32_t gx_dgt_nblocks(const gx_dgt *d)
{
	return d ? d->nblocks : 0;
}

uint32_t gx_dgt_block(const gx_dgt *d)
{
	return d ? d->block : 0;
}

/* Elements of block b (wire/control.h: the one rule the messages follow). */
static uint32_t len_of(const gx_dgt *d, uint32_t b)
{
	return gx_dgt_block_len(d->count, d->block, b);
}

/* Ranking: contribution descending, then block ascending (so a plan is
 * the same on every machine). */
static int by_contrib(const void *a, const void *b, void *ctx)
{
	const float *c = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	float cx = c[x], cy = c[y];
	if (cx != cy)
		return cx > cy ? -1 : 1;
	return x < y ? -1 : x > y;
}

int gx_dgt_plan(gx_dgt *d, const float *sum, double k, int channels, uint8_t *chan)
{
	if (!d || !sum || d->planned >= GX_DGT_INFLIGHT || !(k >= 0 && k <= 1) || channels < 1 ||
	    channels > GX_DGT_CHANNELS_MAX)
		return GX_EINVAL;
	int slot = (d->head + d->planned) % GX_DGT_INFLIGHT;
	float *g = d->g[slot];
	uint8_t *ch = d->chan[slot];
	for (uint32_t b = 0; b < d->nblocks; b++) {
		uint64_t at = (uint64_t)b * d->block;
		uint32_t n = len_of(d, b);
		double a = 0;
		for (uint32_t i = 0; i < n; i++) {
			float v = sum[at + i] + d->res[at + i];
			g[at + i] = v;
			a += fabsf(v);
		}
		float m = (float)(a / n);
		d->contrib[b] = d->contrib[b] < 0 ? m
						   : GX_DGT_ALPHA * m + (1 - GX_DGT_ALPHA) * d->contrib[b];
		d->rank[b] = b;
	}
	qsort_r(d->rank, d->nblocks, sizeof *d->rank, by_contrib, d->contrib);
	/* the nearest whole number of blocks, none at all included: a slice
	 * of a few blocks with one always reliable would send that share of
	 * its bytes over the link (and its copies) whatever K says; what is
	 * lost comes in a later round */
	uint32_t nrel = (uint32_t)floor(k * d->nblocks + 0.5);
	uint32_t rest = d->nblocks - nrel;
	for (uint32_t i = 0; i < d->nblocks; i++) {
		uint32_t b = d->rank[i];
		/* run j of the rest: [j * rest / C, (j + 1) * rest / C) */
		ch[b] = i < nrel ? 0
				 : (uint8_t)(1 + (uint64_t)(i - nrel) * (uint64_t)channels / rest);
	}
	/* what the coding keeps back, as if every block arrives */
	if (d->codec == GX_CODEC_F16) {
		/* the coded values decoded into res, then what they miss */
		gx_f32_to_f16(g, d->h[slot], (size_t)d->count);
		gx_f16_to_f32(d->h[slot], d->res, (size_t)d->count);
		for (uint64_t i = 0; i < d->count; i++)
			d->res[i] = g[i] - d->res[i];
	} else {
		memset(d->res, 0, (size_t)d->count * sizeof *d->res);
	}
	if (chan)
		memcpy(chan, ch, d->nblocks);
	d->folds_at[slot] = d->folds;
	d->planned++;
	return 0;
}

const void *gx_dgt_values(const gx_dgt *d, uint32_t b, uint16_t *count)
{
	if (!d || !d->planned || b >= d->nblocks)
		return NULL;
	if (count)
		*count = (uint16_t)len_of(d, b);
	uint64_t at = (uint64_t)b * d->block;
	int slot = (d->head + d->planned - 1) % GX_DGT_INFLIGHT; /* the newest */
	return d->codec == GX_CODEC_F16 ? (const void *)(d->h[slot] + at)
					: (const void *)(d->g[slot] + at);
}

int gx_dgt_fold(gx_dgt *d, const uint8_t *arrived, gx_dgt_fold_stats *st)
{
	if (!d || !arrived || !d->planned)
		return GX_EINVAL;
	gx_dgt_fold_stats s;
	memset(&s, 0, sizeof s);
	const float *g = d->g[d->head];
	const uint16_t *h = d->h[d->head];
	/* with no round planned and no word folded since it, the residual
	 * holds what the round's coding kept back (res = g - coded): a lost
	 * block's g goes in whole, exactly; else the residual holds more (a
	 * later round's, or an earlier one's losses), and a lost block's coded
	 * values are added to it (for the round after) */
	int alone = d->planned == 1 && d->folds_at[d->head] == d->folds;
	for (uint32_t b = 0; b < d->nblocks; b++) {
		uint64_t at = (uint64_t)b * d->block;
		uint32_t n = len_of(d, b);
		int c = d->chan[d->head][b], in = (arrived[b >> 3] >> (b & 7)) & 1;
		double sq = 0;
		for (uint32_t i = 0; i < n; i++)
			sq += (double)g[at + i] * g[at + i];
		s.g_sq += sq;
		s.sent[c]++;
		if (in)
			continue;
		s.lost[c]++;
		s.folded_sq += sq;
		if (alone) {
			memcpy(d->res + at, g + at, n * sizeof *d->res);
		} else if (d->codec == GX_CODEC_F16) {
			float v[256];
			for (uint32_t i = 0; i < n; i += 256) {
				uint32_t m = n - i < 256 ? n - i : 256;
				gx_f16_to_f32(h + at + i, v, m);
				for (uint32_t j = 0; j < m; j++)
					d->res[at + i + j] += v[j];
			}
		} else {
			for (uint32_t i = 0; i < n; i++)
				d->res[at + i] += g[at + i];
		}
	}
	d->head = (d->head + 1) % GX_DGT_INFLIGHT;
	d->planned--;
	d->folds++;
	if (st)
		*st = s;
	return 0;
}

int gx_dgt_planned(const gx_dgt *d)
{
	return d ? d->planned : 0;
}

const float *gx_dgt_residual(const gx_dgt *d)
{
	return d ? d->res : NULL;
}

double gx_dgt_k_next(gx_dgt_k *c, double folded_sq, double g_sq)
{
	double share = g_sq > 0 ? folded_sq / g_sq : 0;
	double f = c->target > 0 ? sqrt(share / c->target) : 1;
	f = f < 0.5 ? 0.5 : f > 2 ? 2 : f;
	double k = c->k * f;
	/* (from 0 nothing grows: a floor of a thousandth of the way) */
	if (k < 1e-3 && f > 1)
		k = 1e-3;
	c->k = k < c->k_min ? c->k_min : k > c->k_max ? c->k_max : k;
	return c->k;
}

/* ------------------------------------------------------------ receiver */

struct gx_dgt_rx {
	uint64_t count, cur, next;
	uint32_t block, nblocks, have;
	int open, held;
	float *v;
	uint8_t *bits;
};

gx_dgt_rx *gx_dgt_rx_create(uint64_t count, uint32_t block, uint64_t first)
{
	if (!count || !block || block > UINT16_MAX || count > SIZE_MAX / sizeof(float) ||
	    (count + block - 1) / block > UINT32_MAX)
		return NULL;
	gx_dgt_rx *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->next = first;
	r->count = count;
	r->block = block;
	r->nblocks = blocks_of(count, block);
	r->v = calloc((size_t)count, sizeof *r->v);
	r->bits = calloc((r->nblocks + 7) / 8, 1);
	if (!r->v || !r->bits) {
		gx_dgt_rx_free(r);
		return NULL;
	}
	return r;
}

void gx_dgt_rx_free(gx_dgt_rx *r)
{
	if (!r)
		return;
	free(r->v);
	free(r->bits);
	free(r);
}

static void rx_clear(gx_dgt_rx *r)
{
	memset(r->v, 0, (size_t)r->count * sizeof *r->v);
	memset(r->bits, 0, (r->nblocks + 7) / 8);
	r->have = 0;
}

int gx_dgt_rx_put(gx_dgt_rx *r, uint64_t round, uint32_t b, int codec, const uint8_t *vals,
		  uint16_t count)
{
	if (r->open ? round < r->cur : round < r->next)
		return GX_DGT_LATE;
	if (r->open ? round != r->cur : (round != r->next || r->held))
		return GX_DGT_STRAY;
	if (b >= r->nblocks)
		return GX_DGT_STRAY;
	uint64_t at = (uint64_t)b * r->block;
	uint32_t n = gx_dgt_block_len(r->count, r->block, b);
	if (count != n || (codec != GX_CODEC_F32 && codec != GX_CODEC_F16))
		return GX_DGT_STRAY;
	if (!r->open) {
		rx_clear(r);
		r->open = 1;
		r->cur = round;
	}
	if ((r->bits[b >> 3] >> (b & 7)) & 1)
		return GX_DGT_DUP;
	if (codec == GX_CODEC_F32) {
		memcpy(r->v + at, vals, n * sizeof(float));
	} else {
		/* (vals need not be aligned: through an aligned copy) */
		uint16_t h[1024];
		for (uint32_t i = 0; i < n; i += 1024) {
			uint32_t m = n - i < 1024 ? n - i : 1024;
			memcpy(h, vals + 2 * (size_t)i, m * sizeof *h);
			gx_f16_to_f32(h, r->v + at + i, m);
		}
	}
	r->bits[b >> 3] |= (uint8_t)(1u << (b & 7));
	r->have++;
	return GX_DGT_PLACED;
}

int gx_dgt_rx_open(const gx_dgt_rx *r, uint64_t *round)
{
	if (r->open && round)
		*round = r->cur;
	return r->open;
}

uint32_t gx_dgt_rx_have(const gx_dgt_rx *r)
{
	return r->open ? r->have : 0;
}

uint32_t gx_dgt_rx_nblocks(const gx_dgt_rx *r)
{
	return r->nblocks;
}

uint64_t gx_dgt_rx_close(gx_dgt_rx *r)
{
	if (!r->open) {
		rx_clear(r);
		r->cur = r->next;
	}
	r->open = 0;
	r->held = 1;
	r->next = r->cur + 1;
	return r->cur;
}

const float *gx_dgt_rx_values(const gx_dgt_rx *r)
{
	return r->v;
}

const uint8_t *gx_dgt_rx_bitmap(const gx_dgt_rx *r)
{
	return r->bits;
}

void gx_dgt_rx_release(gx_dgt_rx *r)
{
	r->held = 0;
}
