/*
 * ps_overlay.h — library-private: the adaptive overlay in the servers
 * (docs/protocol.md, "The adaptive overlay"; the plans: sched/overlay.c).
 * The global's side (ps_ovl_global.c): the parties' addresses, a plan for
 * every round, the sums that arrive as prefixes of the fold. The local's
 * (ps_ovl_local.c): the links between data centers and the folds a plan
 * gives this data center. The roles call these; the core never does.
 */
#ifndef GX_PS_OVERLAY_H
#define GX_PS_OVERLAY_H

#include "ps_internal.h"

typedef struct ps_ovl_global ps_ovl_global;
typedef struct ps_ovl_local ps_ovl_local;

/* ------------------------------------------------------ ps_ovl_global.c */

/* The global's overlay state, made by global_init when o.overlay is set;
 * 0 or GX_ENOMEM. Freed with the role's state. */
int ps_ovl_global_new(gx_ps *ps);
void ps_ovl_global_free(gx_ps *ps);
/* A local server's HELLO to a global under the overlay: -1 after refusing
 * it (a violation), else 0. */
int ps_ovl_global_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl);
/* A member's frame the global role does not know: 1 when it was the
 * overlay's (OVL_ADDR), else 0. */
int ps_ovl_global_frame(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
/* A slice completed round r: before its answers go out, every party has
 * the plan of round r + 1 (sent once, to all at once). */
void ps_ovl_global_answering(gx_ps *ps, uint32_t r);
/* Whether this server answers party i's push of round r itself (the star,
 * or the plan says so); else another data center passes it on. */
int ps_ovl_global_answers(const gx_ps *ps, int i, uint32_t r);
/* GX_OVL_BACKLOG when a frame of count floats queued on c now waits behind
 * one frame's worth or more (the link, not what feeds it, sets its pace),
 * else 0: the bit its channel carries for the receiver's measurement. */
int ps_ovl_backlog(const gx_conn *c, uint64_t count);
/* A push of party's link came in (h): the link's rate, measured. */
void ps_ovl_global_note_in(gx_ps *ps, int party, const gx_frame_hdr *h);
struct ps_gslice;
/* A PUSH whose channel is c + 1: S_c, the sum of parties 0..c for s, the
 * fold's first term; then whatever rounds that completes. */
void ps_ovl_global_prefix(gx_ps *ps, ps_peer *p, struct ps_gslice *s, const gx_frame_hdr *h,
			  const uint8_t *pl);
/* Statistics lines: the rounds under each kind of plan, the estimates. */
void ps_ovl_global_stats(const gx_ps *ps, ps_sbuf *b, int json);

/* ------------------------------------------------------- ps_ovl_local.c */

struct ps_lkey;
/* The CONFIG said overlay (ps_up.c, up_ready): checks what it needs (one
 * global server, a key that proves the siblings' identities) and tells
 * the global where the siblings reach this server; 0 or a gx_error after
 * ending the job. */
int ps_ovl_local_start(gx_ps *ps, ps_peer *u);
void ps_ovl_local_free(gx_ps *ps);
/* A frame from the global the local role does not know (OVL_PEERS,
 * OVL_PLAN): 1 when the overlay took it. */
int ps_ovl_local_up_frame(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);
/* Another data center's local server said HELLO to this one. */
void ps_ovl_local_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl);
/* A frame, and the close, of a link to a sibling (p->sib). */
void ps_ovl_local_frame(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
void ps_ovl_local_closed(gx_ps *ps, ps_peer *p, int err, const char *why);
/* This data center's sum of slice b of k for round is ready at sum (in
 * buf, referenced while needed): it goes where the round's plan says. */
void ps_ovl_local_own(gx_ps *ps, struct ps_lkey *k, int b, uint32_t round, const float *sum,
		      gx_buf *buf);
/* The global said goodbye: 1 when the job's end waits for other local
 * servers' goodbyes (then it ends with the last one, or the goodbye's
 * deadline), 0 when it may end now. */
int ps_ovl_local_hold_end(gx_ps *ps);
/* Whether it waits for them now (their links' heartbeats watch them, not
 * the goodbye's deadline). */
int ps_ovl_local_ending(const gx_ps *ps);
/* Statistics: folds made here, sums in and out. */
void ps_ovl_local_stats(const gx_ps *ps, ps_sbuf *b, int json);
/* A PUSH_REPLY (h) of a slice is in from u, its values at x (in buf, or
 * buf NULL: copied): the link measured, and the answer passed on to the
 * data centers that get the answers from this one under the round's plan. */
void ps_ovl_local_relay(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const float *x,
			gx_buf *buf);
/* Every worker is done: BYE to the siblings, whose closes are then no
 * failure. */
void ps_ovl_local_bye(gx_ps *ps);

#endif
