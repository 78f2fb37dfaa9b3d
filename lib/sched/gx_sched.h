/*
 * sched/gx_sched.h — scheduling decisions: where slices of tensors live
 * among several global servers.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_SCHED_H
#define GX_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include "../base/gx_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- placement */

/* Where a slice of a tensor lives among several global servers (MultiGPS),
 * and the blocks a tensor travels in. */
typedef struct gx_slice {
	uint32_t key;    /* tensor key */
	uint32_t block;  /* slice index within the key, 0.. */
	uint64_t offset; /* first element of the slice in the tensor */
	uint64_t count;  /* elements in the slice */
	uint32_t server; /* server index, 0..nservers-1 */
} gx_slice;

/* Places nkeys tensors (keys[i] with counts[i] elements) on nservers servers
 * so that bytes are balanced: a tensor of more than split_bound elements is
 * cut into nservers near-equal contiguous slices, slice s on server s; the
 * others go whole, largest first (ties: lower key), each to the server with
 * the fewest elements so far (ties: lower index). Deterministic, so every
 * process computes the same placement. Writes the slices to out sorted by
 * (key, block) and returns their number, or GX_EINVAL (duplicate key, zero
 * count, nservers < 1, cap too small; nothing is written then) or GX_ENOMEM.
 * A tensor over the bound with fewer elements than servers becomes
 * min(nservers, count) slices, so no slice is empty. */
long gx_place(const uint32_t *keys, const uint64_t *counts, size_t nkeys, int nservers,
	      uint64_t split_bound, gx_slice *out, size_t cap);
/* Slices gx_place can write at most. */
size_t gx_place_bound(size_t nkeys, int nservers);
/* As gx_place, with every tensor cut into blocks of at most block elements
 * (the last one shorter; block 0: no blocks, exactly gx_place): block b is
 * elements [b * block, ...) of its tensor, a slice of its own with block
 * number b, so that every hop can pass one block on while the next arrives.
 * Servers are placed as by gx_place at the granularity of blocks: a tensor
 * over split_bound is cut into min(nservers, blocks) near-equal contiguous
 * runs of blocks, run j on server j; the other tensors go whole, all their
 * blocks on one server. A tensor of more than UINT32_MAX blocks is
 * GX_EINVAL. */
long gx_place_blocks(const uint32_t *keys, const uint64_t *counts, size_t nkeys, int nservers,
		     uint64_t split_bound, uint64_t block, gx_slice *out, size_t cap);
/* Slices gx_place_blocks can write at most (SIZE_MAX on overflow). */
size_t gx_place_blocks_bound(const uint64_t *counts, size_t nkeys, int nservers,
			     uint64_t block);
#define GX_DEFAULT_SPLIT_BOUND (1u << 20) /* elements */

/* ------------------------------------------------------------------ overlay */

/* The adaptive overlay (docs/design.md, "The adaptive overlay"): how one
 * round's pushes of P data centers reach the global tier and how its answers
 * come back, chosen from measured links rather than always through the
 * center (the star). Nodes 0..P-1 are the data centers (parties), node P
 * the sink (the global server of the slice). */
#define GX_OVL_MAX_PARTIES 8

/* A round's routes.
 *
 * The push: the parties' sums are folded in party order,
 * S_k = S_(k-1) + p_k with S_0 = p_0, as the star's global server folds
 * them (ps_acc.c), so that the result has the star's bits whatever the
 * route; what a plan chooses is the node where each S_k is made. hold[k]
 * is that node: hold[0] is 0 or P; hold[k] is hold[k-1] (party k's sum
 * goes there), k (S_(k-1) goes to party k) or P (both go to the sink,
 * which never passes a sum on again). The sink gets S_(P-1) last.
 *
 * The answers: party i gets them from node from[i] (P: the sink), which
 * passes them on as it gets them; following from[] leads every party to
 * the sink without a cycle. */
typedef struct gx_ovl_plan {
	int parties;
	uint8_t hold[GX_OVL_MAX_PARTIES];
	uint8_t from[GX_OVL_MAX_PARTIES];
} gx_ovl_plan;

/* The star: every party's sum to the sink, every answer from it. */
void gx_ovl_star(gx_ovl_plan *p, int parties);
/* 0 when p is a plan as above (1 <= parties <= GX_OVL_MAX_PARTIES),
 * else GX_EINVAL. */
int gx_ovl_check(const gx_ovl_plan *p);

/* One transfer of a push: node src sends dst the sum of parties
 * first..last (first == last: one party's own; first == 0: a prefix
 * S_last). */
typedef struct gx_ovl_send {
	uint8_t src, dst, first, last;
} gx_ovl_send;
/* The transfers of p's push in the order the fold needs them, into out
 * (2 * parties entries at most); returns their number, or GX_EINVAL. */
int gx_ovl_push_sends(const gx_ovl_plan *p, gx_ovl_send *out);

/* Network perception: each directed link's goodput (bytes over the wall
 * time of a transfer) and latency, and each node's ingress and egress
 * (what all its transfers at once get through it, where its own access
 * link is the bottleneck), smoothed (EWMA), kept by the coordinator from
 * the transfers the job makes anyway. */
typedef struct gx_ovl_links {
	int parties;
	double alpha; /* a new sample's weight, (0, 1] */
	double rate[GX_OVL_MAX_PARTIES + 1][GX_OVL_MAX_PARTIES + 1]; /* bytes/s, 0: never */
	double lat[GX_OVL_MAX_PARTIES + 1][GX_OVL_MAX_PARTIES + 1];  /* seconds, < 0: never */
	uint64_t seen[GX_OVL_MAX_PARTIES + 1][GX_OVL_MAX_PARTIES + 1]; /* round of the last rate sample + 1 */
	double cin[GX_OVL_MAX_PARTIES + 1], cout[GX_OVL_MAX_PARTIES + 1]; /* bytes/s, 0: never */
} gx_ovl_links;
#define GX_DEFAULT_OVL_ALPHA 0.5
#define GX_DEFAULT_OVL_EPSILON 0.1

void gx_ovl_links_init(gx_ovl_links *l, int parties, double alpha);
/* A transfer of bytes from src to dst that took secs (> 0) in round, alone
 * on its link and its nodes; samples that are not finite and positive are
 * ignored. */
void gx_ovl_links_rate(gx_ovl_links *l, int src, int dst, double bytes, double secs,
		       uint64_t round);
/* The link's one-way latency (half a round trip, say), secs >= 0. */
void gx_ovl_links_lat(gx_ovl_links *l, int src, int dst, double secs);

/* One round's transfers as their receivers measured them, in each phase
 * (0: the push, 1: the answers): bytes and seconds of the transfer on each
 * directed link, 0 where there was none. */
typedef struct gx_ovl_round {
	double bytes[2][GX_OVL_MAX_PARTIES + 1][GX_OVL_MAX_PARTIES + 1];
	double secs[2][GX_OVL_MAX_PARTIES + 1][GX_OVL_MAX_PARTIES + 1];
	uint8_t bound[2][GX_OVL_MAX_PARTIES + 1][GX_OVL_MAX_PARTIES + 1]; /* 1: only a lower bound */
} gx_ovl_round;
/* Folds a round into the estimates (smoothed; a figure that moves by more
 * than half is taken at once: WAN rates change in steps). A lower bound
 * (bound) only raises an estimate, or sets one never made. A transfer alone
 * at both ends, or one that went at less than half the pace of the fastest
 * it shared a node with (its own link held it back), is a sample of its
 * link as it is. Transfers of a phase that share a receiver
 * (or a sender) ran at once and shared its access: their total over the
 * longest of them is a sample of that node's ingress (egress); a link
 * never measured alone is credited with that total, since alone it might
 * have had all of it (a link measured at a quarter of the center's ingress
 * while four shared it would otherwise never look better than that), and
 * a link measured alone before keeps its estimate unless it now did better
 * even shared. */
void gx_ovl_links_round(gx_ovl_links *l, const gx_ovl_round *m, uint64_t round);

/* What the planner takes the link to give: its estimate, or for a link
 * never measured the best estimate of any link (optimism: an unknown link
 * gets tried, which measures it), or 1 when none is known. */
double gx_ovl_rate(const gx_ovl_links *l, int src, int dst);
double gx_ovl_latency(const gx_ovl_links *l, int src, int dst);

/* A link's transfers as its receiver sees them, round by round: the bytes
 * of a round's frames over the time from its first frame to its last (the
 * first frame's own time is not seen, so its bytes do not count). Two
 * rounds may be under way at once (a key's next round starts while
 * another's answers still travel). Zero-initialised: none yet. */
typedef struct gx_ovl_meter {
	struct gx_ovl_meter_round {
		uint32_t round;
		int frames, timed;      /* all, backlogged */
		uint64_t bytes, t0, t1; /* t: ns, of the backlogged ones */
		uint64_t abytes, a0, a1; /* of all */
	} r[2];
} gx_ovl_meter;
/* A frame of bytes of round came in at now_ns; a round's transfer is
 * expected frames. A transfer fed slower than its link (a fold waiting for
 * a slow data center's sum, answers waiting for the last contribution)
 * says how fast its input came, which is only a lower bound on its link;
 * frames its sender queued behind others (backlog: GX_OVL_BACKLOG in their
 * channel) went at the link's pace. When this frame completes a transfer
 * of more than one frame, returns 1 with its bytes and seconds: of its
 * backlogged frames when half or more were (*bound 0: the link's figure),
 * else of all (*bound 1: a lower bound); else 0. */
int gx_ovl_meter_frame(gx_ovl_meter *m, uint32_t round, uint64_t bytes, int backlog,
		       uint64_t now_ns, int expected, double *bytes_out, double *secs_out,
		       int *bound);
/* The bit of a frame's channel that says its sender queued it behind one
 * frame's worth or more (gx_conn_backlog); the rest is the channel. */
#define GX_OVL_BACKLOG 0x8000

/* The estimated seconds of p's push and of its answers for bytes a party
 * (each a pipeline of blocks): the most loaded link's, node ingress' or
 * node egress' bytes over its rate (nodes whose capacity is not known do
 * not bound), plus the latencies along the longest chain of transfers that
 * wait for each other. */
double gx_ovl_push_cost(const gx_ovl_links *l, const gx_ovl_plan *p, double bytes);
double gx_ovl_pull_cost(const gx_ovl_links *l, const gx_ovl_plan *p, double bytes);
/* The plan of least estimated cost (push and answers chosen each on its
 * own); among plans within a millionth of the least, the star's parts
 * first, then the first in enumeration order, so that a job without
 * measurements starts as the star. Every push is tried; every tree of
 * answers up to 6 parties, beyond that the widest-path tree. */
void gx_ovl_best(const gx_ovl_links *l, double bytes, gx_ovl_plan *p);
/* A plan drawn from all pushes and all trees of answers, every one with a
 * chance (the tests' and fuzzers' source of plans). */
void gx_ovl_random(gx_rng *r, int parties, gx_ovl_plan *p);
/* One random change to p, which stays a plan: where one sum is made (the
 * folds after it follow), or whom one party gets the answers from. */
void gx_ovl_neighbour(gx_rng *r, gx_ovl_plan *p);
/* epsilon-greedy: the best plan, and with probability epsilon one random
 * change to it (returns 1; else 0). A change rather than a plan drawn from
 * all: it still puts any link into use in time (each change can use any
 * link into or out of a node), and an exploring round costs about what
 * one link's difference costs, not what the worst plan does (a uniform
 * draw cost the star-friendly WAN of bench/overlay.sh 7 % a round). */
int gx_ovl_choose(const gx_ovl_links *l, double bytes, double epsilon, gx_rng *r,
		  gx_ovl_plan *p);

/* A plan as text, "HOLD:FROM": hold[] then from[], comma-separated, each a
 * party's number or G for the sink, e.g. "0,0,0,0:G,0,0,0" (fold
 * everything at party 0, which alone gets the answers and passes them
 * on). 0, or GX_EINVAL with why (cap bytes) when it is not a plan of
 * parties. */
int gx_ovl_plan_text(const char *s, int parties, gx_ovl_plan *p, char *why, size_t cap);
/* p in that form, into out (cap bytes, GX_OVL_PLAN_TEXT is enough for any
 * plan; cut short, and terminated, when cap is less). */
#define GX_OVL_PLAN_TEXT (4 * GX_OVL_MAX_PARTIES + 2)
void gx_ovl_plan_print(const gx_ovl_plan *p, char *out, size_t cap);

/* A plan on the wire: u8 parties, then hold[] and from[] (1 + 2 * parties
 * bytes). gx_ovl_pack returns the bytes written (cap must hold them) or
 * GX_EINVAL; gx_ovl_parse checks everything gx_ovl_check does and the
 * length exactly: 0 or GX_EPROTO. */
int gx_ovl_pack(const gx_ovl_plan *p, uint8_t *out, size_t cap);
int gx_ovl_parse(const uint8_t *in, size_t len, gx_ovl_plan *p);

#ifdef __cplusplus
}
#endif
#endif
