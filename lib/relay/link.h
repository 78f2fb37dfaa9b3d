/*
 * relay/link.h — library-private: one direction of an emulated WAN link,
 * for whatever crosses it in units — geomx-relay's chunks of a TCP stream,
 * and packets. What a unit of len bytes arriving at now meets:
 *  - rate: the link sends one unit at a time; it starts when the link is
 *    free, max(now, the end of the previous one), and takes len / rate,
 *    on a virtual clock, so the long-run rate is exact whatever the
 *    timers' granularity;
 *  - delay, and jitter: a uniform draw in [-jitter, +jitter] (never before
 *    it arrived);
 *  - order: a unit is never released before the one ahead of it, so a
 *    short draw of jitter after a long one waits for it.
 * What a loss means is the caller's: the relay holds a chunk for TCP's
 * retransmission timeout, a packet emulator drops it (link_draw; bursts
 * of losses: link_ge_lost).
 */
#ifndef GX_RELAY_LINK_H
#define GX_RELAY_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "../base/gx_base.h"
#include "gx_relay.h"

typedef struct link_dir {
	uint64_t vclock;       /* ns when the link is free again */
	uint64_t last_release; /* ns: the previous unit's release */
	gx_rng rng;            /* jitter's and loss's draws */
	int bad;               /* Gilbert-Elliott: in the bad state */
} link_dir;

/* A direction whose draws start from seed. */
void link_init(link_dir *d, uint64_t seed);
/* When a unit of len bytes arriving at now leaves through the rate, the
 * delay and the jitter of c (the order not yet kept: link_release). The
 * three steps of it, for a caller that keeps them apart (the packet
 * emulator, whose links may change under held packets): */
uint64_t link_stamp(link_dir *d, const gx_relay_link *c, size_t len, uint64_t now);
/* - when the unit has gone through c's rate: the end of its turn on the
 *   virtual clock (now without a rate); */
uint64_t link_send(link_dir *d, const gx_relay_link *c, size_t len, uint64_t now);
/* - a draw of c's jitter in [-jitter, +jitter] ns (none drawn, 0, when c
 *   has no jitter); */
int64_t link_jitter(link_dir *d, const gx_relay_link *c);
/* - t moved by the draw j, but never before now (the arrival). */
uint64_t link_jittered(uint64_t t, int64_t j, uint64_t now);
/* The rate changes at now from old to new bytes/s (0: unlimited): a time t
 * on the old virtual clock (the end of a unit's turn, or the clock itself)
 * on the new one. What is still to be sent after now goes at the new rate,
 * so the bytes waiting neither vanish nor burst out; t <= now is past and
 * stays. */
uint64_t link_retime(uint64_t t, double old_rate, double new_rate, uint64_t now);
/* t, or the previous unit's release when that is later; it becomes the
 * previous one. */
uint64_t link_release(link_dir *d, uint64_t t);
/* One draw: 1 with probability p. */
int link_draw(link_dir *d, double p);
/* Whether the next unit is lost under g, from the state the previous one
 * left (which it then moves on). */
int link_ge_lost(link_dir *d, const gx_relay_ge *g);
/* Bytes that arrived before now and wait for the link still (the queue a
 * drop-tail bound applies to); 0 without a rate. */
uint64_t link_backlog(const link_dir *d, const gx_relay_link *c, uint64_t now);

#endif
