/*
 * ps_global.h — library-private: the global role of the parameter server,
 * shared by its files: ps_global.c (the slices, their rounds and answers)
 * and ps_global_ckpt.c (their checkpoints). The core (ps_internal.h) never
 * includes it.
 */
#ifndef GX_PS_GLOBAL_H
#define GX_PS_GLOBAL_H

#include "ps_internal.h"

/* One slice (key, block). */
typedef struct ps_gslice {
	uint32_t key, block;
	uint64_t count;
	float *w;            /* the value, in wb */
	gx_buf *wb;          /* answers send it by reference; changed only when
			      * no connection holds it any more (own_value) */
	float *g;            /* scratch: a gradient */
	gx_optim *opt;
	uint32_t *next_round; /* [parties] next round expected from each */
	uint64_t *seen;      /* [parties] updates applied when it last got w */
	uint64_t updates;
	uint64_t rounds;     /* full sync: rounds completed */
	ps_acc *accs;
	ps_spare spare;
	struct {
		uint64_t link;   /* the connection it went on (ps_peer.link) */
		uint32_t round;
	} *answered;         /* [parties] the last PUSH_REPLY to each: a replay of
			      * that round on that link was answered already */
	gx_tensor_payload agg; /* coded WAN: the last round's aggregate as sent
				* (agg.buf NULL: none), kept for a party whose
				* link broke before it had it */
	uint32_t agg_round;
	struct ps_dgt_slot *dgt; /* [parties] DGT rounds being gathered
				  * (ps_dgt_global.c), or NULL */
} ps_gslice;

/* The global role's state (ps->glob). */
struct ps_global_state {
	int flat;             /* -1 unknown, 0 locals, 1 workers */
	int nassigned;        /* flat: slots handed out */
	int agg;              /* -1 unknown, 0 it applies updates, 1 the locals
			       * do (coded WAN) */
	uint32_t *slot_workers; /* [n] workers behind each party */
	int resumed;          /* --resume: the slices came from a checkpoint,
			       * and every party comes back to them */
	ps_gslice **map;      /* open addressing on (key, block) */
	size_t map_n, map_cap;
	gx_keyent *ftable;    /* flat: the first worker's key table */
	size_t nftable;
	struct ps_dgt_global *dgt; /* the datagram port (ps_dgt_global.c) */
	struct ps_ovl_global *ovl; /* --overlay adaptive (ps_ovl_global.c), or NULL */
};

/* ps_global.c: "connected", "finished" or "dead": a slot's state in words. */
const char *ps_slot_word(int st);
/* Applies the completed rounds of s, oldest first, and answers them. */
void ps_global_settle_slice(gx_ps *ps, ps_gslice *s);
/* Applies the completed rounds of every slice (the role's settle). */
void ps_global_settle(gx_ps *ps);
/* Party i's push of the round it is expected to send next for s, as
 * values already decoded (count floats; codec: how they came, for the
 * aggregate's coding), then whatever rounds that completes. 0, or a
 * gx_error after the job's end (GX_ENOMEM). */
int ps_global_contribute(gx_ps *ps, ps_gslice *s, int i, const float *v, int codec);

/* ps_global_flat.c: a worker's HELLO (flat mode: a party of one). */
void ps_global_flat_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl);
/* A flat worker's key table, which must match the first one. */
void ps_global_flat_keytable(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
/* Whether key is in the flat workers' key table. */
int ps_global_flat_key(const ps_global_state *g, uint32_t key);

/* The slice (key, block), or NULL. */
ps_gslice *map_get(const ps_global_state *g, uint32_t key, uint32_t block);
/* Adds s; 0 or GX_ENOMEM. */
int map_put(ps_global_state *g, ps_gslice *s);
/* A new slice of count elements: its value buffer, scratch, counters and,
 * with with_opt (the server applies updates), its optimizer; NULL with
 * *err (GX_ENOMEM, or the optimizer's error). */
ps_gslice *slice_new(gx_ps *ps, uint32_t key, uint32_t block, uint64_t count, int with_opt,
		     int *err);
void slice_free(ps_gslice *s);

/* ---------------------------------------------------- ps_global_ckpt.c */

/* A slice's checkpoint file, parsed where it lies (ps_ckpt_parse). */
typedef struct ps_ckpt {
	uint32_t key, block, parties;
	uint64_t count, rounds, updates;
	const uint8_t *next_round; /* [parties] u32, read with ps_ckpt_next_round */
	const uint8_t *seen;       /* [parties] u64, ps_ckpt_seen */
	const uint8_t *w;          /* count float32 */
	const uint8_t *opt;        /* opt_len bytes: gx_optim_state_load's */
	size_t opt_len;
	const uint8_t *agg;        /* the last aggregate kept (ps_ckpt_agg), or NULL */
	const uint8_t *agg_bytes;  /* its payload (payload_len bytes) */
} ps_ckpt;

/* Checks len bytes as a checkpoint file written for parties parties (its
 * magic, version, lengths and checksum) and points *c into them; 0, or a
 * gx_error with a one-line reason in why. Untrusted input
 * (tests/fuzz/fuzz_ckpt.c). */
int ps_ckpt_parse(const uint8_t *b, size_t len, uint32_t parties, ps_ckpt *c, char *why,
		  size_t cap);
uint32_t ps_ckpt_next_round(const ps_ckpt *c, uint32_t i);
uint64_t ps_ckpt_seen(const ps_ckpt *c, uint32_t i);
/* The kept aggregate's round and coding fields (c->agg not NULL). */
void ps_ckpt_agg(const ps_ckpt *c, uint32_t *round, gx_frame_hdr *h);

/* --checkpoint: writes s's state (value, optimizer, round counters, the
 * aggregate kept) atomically to its file in the directory; 0 or a
 * gx_error (logged). */
int ps_ckpt_write(gx_ps *ps, const ps_gslice *s);
/* Every slice; 0 or the first error. */
int ps_ckpt_write_all(gx_ps *ps);
/* --resume: every slice of the directory's checkpoint back in the map;
 * returns how many, or a gx_error (logged). */
long ps_ckpt_resume(gx_ps *ps);

#endif
