/*
 * codec/dgt.h — differential gradient transmission (DGT, Zhou et al.,
 * FGCS 2021), the arithmetic: which blocks of a push go over the reliable
 * channel and which over the lossy ones, what the receiver makes of what
 * arrived, and what the sender keeps of what did not. No sockets here
 * (the channels are net/dgram.h, the rounds lib/ps); used by the servers.
 *
 * The sender (a local server, one gx_dgt per slice it pushes upstream):
 * each round g = the data center's sum + the residual is cut into blocks
 * of `block` elements; each block's contribution is an exponential moving
 * average (alpha 0.3) of its mean |g|; the blocks are ranked by it, the
 * top fraction K goes reliably (channel 0) and the rest over C lossy
 * channels in contribution order (channel 1 the most important of them).
 * The residual then holds what the codec's rounding leaves (F16) as if
 * every block arrived; once the receiver says which did, every block that
 * did not is folded back whole (residual_b = g_b), so a lost block is
 * delayed to a later round, never destroyed: over rounds, what arrived
 * plus the residual equals what was pushed.
 *
 * The receiver (the global tier, one gx_dgt_rx per party and slice): a
 * round's blocks are placed as they come, reliable or not, into a zeroed
 * copy of the slice; a block already in, a block of a closed round (late)
 * or of no round it can have open is refused and counted by the caller.
 *
 * K follows the share of the push's energy that a round delays: ranking
 * puts the blocks that carry most of |g| first, so the share delayed is
 * loss x (what the lossy channels carry); K grows when that share is above
 * a target and shrinks below it (gx_dgt_k_next; docs/design.md).
 *
 * Not thread-safe; each state belongs to its caller.
 */
#ifndef GX_CODEC_DGT_H
#define GX_CODEC_DGT_H

#include <stddef.h>
#include <stdint.h>

#include "../wire/gx_wire.h"

#define GX_DGT_ALPHA 0.3f   /* the contribution's moving-average weight */
/* Rounds planned before the word on the first comes back: a round may be
 * planned while the receiver's word on the last is still on the way (its
 * answer came sooner); that round's losses then go in the round after. */
#define GX_DGT_INFLIGHT 4

typedef struct gx_dgt gx_dgt;

/* A slice of count elements in blocks of block elements (the last one
 * shorter), coded as codec (GX_CODEC_F32 or GX_CODEC_F16). NULL on a bad
 * argument (count 0, block 0 or above 65535, another codec) or no memory. */
gx_dgt *gx_dgt_create(uint64_t count, uint32_t block, int codec);
void gx_dgt_free(gx_dgt *d);
uint32_t gx_dgt_nblocks(const gx_dgt *d);
uint32_t gx_dgt_block(const gx_dgt *d);

/* One round's plan for sum (count elements): g = sum + residual, the
 * contributions updated, chan[b] (nblocks entries) set to each block's
 * channel: 0 for the k * nblocks most important (rounded to the nearest
 * whole number, half up: none where that is below one half, all with
 * k = 1), 1..channels for the rest, split in contribution order into
 * channels near-equal runs. The residual is what the coding rounds off.
 * 0, or GX_EINVAL (k outside 0..1, channels outside 1..GX_DGT_CHANNELS_MAX,
 * GX_DGT_INFLIGHT plans already waiting for gx_dgt_fold). */
int gx_dgt_plan(gx_dgt *d, const float *sum, double k, int channels, uint8_t *chan);
/* How many plans wait for their gx_dgt_fold (0..GX_DGT_INFLIGHT). */
int gx_dgt_planned(const gx_dgt *d);
/* The coded values of block b of the newest planned round (F32: floats,
 * F16: binary16), *count of them. NULL when b is out of range or no plan
 * waits. */
const void *gx_dgt_values(const gx_dgt *d, uint32_t b, uint16_t *count);

/* What a round delayed: blocks lost of those sent on lossy channels, and
 * the squared norms of g and of what was folded back. */
typedef struct gx_dgt_fold_stats {
	uint32_t sent[GX_DGT_CHANNELS_MAX + 1]; /* blocks per channel */
	uint32_t lost[GX_DGT_CHANNELS_MAX + 1];
	double g_sq, folded_sq;
} gx_dgt_fold_stats;

/* The receiver's word on the oldest planned round: bit b of arrived (LSB
 * first) set when block b arrived. Blocks that did not are folded back into
 * the residual (whole, exactly, when no later round was planned since;
 * else their coded values added to the residual that round left). st (may
 * be NULL) gets the round's figures. 0, or GX_EINVAL without a plan. */
int gx_dgt_fold(gx_dgt *d, const uint8_t *arrived, gx_dgt_fold_stats *st);
/* The residual (count floats). */
const float *gx_dgt_residual(const gx_dgt *d);

/* K's controller: the fraction sent reliably, between k_min and k_max,
 * moved each round by the square root of (the share of energy delayed /
 * target), that factor held to 0.5..2 (no loss: halves until k_min). */
typedef struct gx_dgt_k {
	double k, k_min, k_max, target;
} gx_dgt_k;
double gx_dgt_k_next(gx_dgt_k *c, double folded_sq, double g_sq);

/* ------------------------------------------------------------ receiver */

typedef struct gx_dgt_rx gx_dgt_rx;

enum {
	GX_DGT_PLACED = 0, /* the block is in */
	GX_DGT_DUP = 1,    /* already in (a replay, or sent twice) */
	GX_DGT_LATE = 2,   /* of a round already closed */
	GX_DGT_STRAY = 3,  /* of a round that cannot be open next, or a block
			    * or count that does not fit the slice */
};

/* A receiver for a slice of count elements in blocks of block, whose first
 * round to open is first (a receiver made again mid-job goes on from the
 * slice's rounds). NULL on a bad argument or no memory. */
gx_dgt_rx *gx_dgt_rx_create(uint64_t count, uint32_t block, uint64_t first);
void gx_dgt_rx_free(gx_dgt_rx *r);
/* Places block b of round (count elements of codec at vals; F16 decoded).
 * The round after the last closed one opens on its first block. Returns
 * GX_DGT_PLACED, GX_DGT_DUP, GX_DGT_LATE or GX_DGT_STRAY. */
int gx_dgt_rx_put(gx_dgt_rx *r, uint64_t round, uint32_t b, int codec, const uint8_t *vals,
		  uint16_t count);
/* The open round (1 and *round) or none (0). */
int gx_dgt_rx_open(const gx_dgt_rx *r, uint64_t *round);
/* Blocks in, and of the slice. */
uint32_t gx_dgt_rx_have(const gx_dgt_rx *r);
uint32_t gx_dgt_rx_nblocks(const gx_dgt_rx *r);
/* Closes the open round (or, with none open, the round after the last
 * closed, which then had nothing): its values (count floats, zero where
 * nothing arrived) and bitmap (ceil(nblocks / 8) bytes) are held, and no
 * round opens (its blocks are GX_DGT_STRAY), until gx_dgt_rx_release.
 * Returns the round closed. */
uint64_t gx_dgt_rx_close(gx_dgt_rx *r);
const float *gx_dgt_rx_values(const gx_dgt_rx *r);
const uint8_t *gx_dgt_rx_bitmap(const gx_dgt_rx *r);
void gx_dgt_rx_release(gx_dgt_rx *r);

#endif
