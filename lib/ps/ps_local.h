/*
 * ps_local.h — library-private: the local role of the parameter server,
 * shared by its files: ps_local.c (its table, the key table, the workers'
 * frames and the rounds sent upstream), ps_local_replies.c (what the global
 * tier answers), ps_up.c (the links to the global servers) and the local
 * half of ps_codec.c. The core (ps_internal.h) never includes it.
 */
#ifndef GX_PS_LOCAL_H
#define GX_PS_LOCAL_H

#include "ps_internal.h"

/* Local role: a round sent upstream, waiting for its slices. */
typedef struct ps_fwd ps_fwd;
struct ps_fwd {
	ps_fwd *next;
	gx_buf *sent;      /* what went up (F32, not a coded WAN), kept until
			    * answered: sent again if the link breaks */
	gx_tensor_payload *coded; /* [slices] coded WAN: what went up as it was
				   * coded (its error feedback already taken),
				   * kept the same way; NULL: not kept */
	uint32_t members;  /* the workers it sums, as announced with it */
	uint32_t round;    /* upstream round */
	uint32_t wround;   /* the workers' round it answers (HFA: differs) */
	int left;          /* slices not answered yet */
	uint8_t *got;      /* [slices] */
	uint8_t *who;      /* [workers] the workers to answer */
	float *buf;        /* the whole tensor: the global tier's answers */
	gx_buf *bufb;      /* the pooled buffer buf lives in, or NULL */
	uint64_t t_first;  /* ns */
	uint64_t t_up;     /* ns, when it went upstream */
};

/* Local role: the workers' PULLs of a key answered by one request to the
 * global tier. A key has at most one such request in flight (the first in
 * k->pulls, sent) and one group gathering the PULLs that arrive meanwhile
 * (unsent; sent when the first is answered, so that its answer is newer
 * than every PULL in it). Memory: one buffer per key, however many PULLs. */
typedef struct ps_pull ps_pull;
struct ps_pull {
	ps_pull *next;
	uint32_t *want;    /* [workers] PULL_REPLYs owed to each */
	int sent;          /* asked upstream: buf, got and left are live */
	int left;
	uint8_t *got;      /* [slices] */
	float *buf;        /* the whole tensor, in bufb */
	gx_buf *bufb;
};

/* Local role: one key of the table, or with blocks (ls->block) one block
 * of a key: what the workers send as one frame, gathered, sent upstream and
 * answered on its own. */
typedef struct ps_lkey {
	uint32_t key;
	uint32_t block;     /* the block the workers name; 0 without blocks */
	uint64_t off;       /* its first element in the key */
	uint64_t count;     /* its elements */
	const gx_slice *sl; /* its slices upstream (nsl; one with blocks: the
			     * block itself), offsets in the key */
	int nsl;
	int init;           /* 0 none, 1 sent upstream, 2 done */
	int init_left;
	float *value;       /* the latest value (init_buf until init is done) */
	gx_buf *valueb;     /* the pooled buffer value lives in (then it is never
			     * changed in place, so answers share it), or NULL */
	uint8_t *init_wait; /* [workers] an INIT to answer */
	uint8_t *init_got;  /* [nsl] slices the global tier answered */
	ps_acc *accs;       /* rounds being gathered */
	ps_spare spare;
	gx_ef **ef;         /* [nsl] coded WAN: error feedback per slice */
	struct gx_dgt **dgt; /* [nsl] --dgt instead: DGT's state per slice
			      * (its residual is the error feedback) */
	struct ps_dgt_ans *dga; /* [nsl] --dgt: the answers coming as
				 * datagrams (ps_dgt_answers.c) */
	gx_optim *opt;      /* coded WAN, full sync: the optimizer, applied here */
	float *view;        /* fp16 LAN: what the workers hold */
	float *base;        /* HFA: the value the global tier last gave */
	ps_fwd *fwds, **fwd_tail;
	ps_pull *pulls, **pull_tail;
	uint64_t rounds;    /* rounds answered */
} ps_lkey;

/* The local role's state (ps->loc). */
struct ps_local_state {
	int agg;              /* 1: coded WAN (this server applies the updates) */
	struct ps_dgt_local *dgt; /* --dgt: its DGT rounds (ps_dgt.h), or NULL */
	struct ps_ovl_local *ovl; /* the overlay (ps_overlay.h), once the CONFIG
				   * says so; NULL: the star */
	gx_codec *wenc;       /* coded WAN: the encoder */
	gx_config up_cfg;     /* the global tier's CONFIG */
	int have_cfg;
	ps_peer **ups;        /* [nups] the upstream links (also on ps->peers) */
	int nups, nready, up_sync, byeing;
	int up_logged;        /* a waiting line about upstream was written */
	uint64_t bye_until;
	gx_keyent *table;     /* [ntable] the first worker's key table */
	size_t ntable;
	uint32_t block;       /* elements per block (the global tier's CONFIG);
			       * 0: whole keys */
	ps_lkey *keys;        /* [nkeys] by (key, block) */
	size_t nkeys;
	gx_slice *place;
	size_t nplace;
	uint32_t *announced;  /* [nups] workers last announced upstream */
	int joining;          /* peers waiting to replace dead workers (join_wait) */
	int restore;          /* --resume: the table came from the checkpoint and
			       * is placed once the global tier is ready */
	uint32_t resume_block; /* ... the checkpoint's block size */
	int restoring;        /* keys whose INIT (value, rounds) is not answered */
	int resumed;          /* every key restored: workers come back to places */
	gx_hello hello;       /* what this server says to the global tier */
	gx_dial_opts dial;    /* how it dials it (ps_local_start), again after a
			       * broken link */
	float *up_ms;         /* [PS_UP_TIMES] each round's time upstream (from
			       * its push to its last answer), ms, the first ones */
	size_t n_up;
};

#define PS_UP_TIMES (1u << 16)
/* Notes a round's time upstream (ns). */
void ps_local_note_up(gx_ps *ps, uint64_t ns);
/* The round sent upstream that a reply of round names, or NULL. */
ps_fwd *ps_local_fwd_of(ps_lkey *k, uint32_t round);
/* Slice b of round f is in f->buf: the round completes when it was the
 * last, and the rounds after it that wait only for it. */
void ps_local_slice_in(gx_ps *ps, ps_lkey *k, ps_fwd *f, int b);
/* The local role's statistics lines: push_rounds, and DGT's. */
void ps_local_stats(const gx_ps *ps, ps_sbuf *b, int json);

/* ---------------------------------------------------------- ps_local.c */

/* The key (or block of a key) of the table, or NULL. */
ps_lkey *ps_local_key(gx_ps *ps, uint32_t key, uint32_t block);
/* Where s's elements start in k's buffers. */
static inline uint64_t ps_slice_at(const ps_lkey *k, const gx_slice *s)
{
	return s->offset - k->off;
}
/* Forwards k's completed rounds upstream, oldest first. */
void ps_local_settle_key(gx_ps *ps, ps_lkey *k);
/* A link to the global tier is back (ps_up.c): sends again, once, what
 * it had not answered — INITs, the rounds in flight, the pull in flight.
 * Returns how many frames. */
int ps_local_replay(gx_ps *ps, ps_peer *u);
/* What goes upstream for slice b of k: its INIT (from k->value), and
 * round `round` of a push whose whole-key sum lies in buf (by reference). */
void ps_local_init_slice(gx_ps *ps, ps_lkey *k, int b);
void ps_local_push_slice(gx_ps *ps, ps_lkey *k, int b, uint32_t round, const float *sum,
			 gx_buf *buf);
/* Asks the global tier for k's value on behalf of the pull group q. */
void ps_pull_ask(gx_ps *ps, ps_lkey *k, ps_pull *q);
/* Frees a pull group (NULL accepted). */
void ps_pull_free(ps_pull *q);
/* Records that w's link got k's PUSH_REPLY of round (a replay of it is not
 * answered again), or says whether it did (ps_local.c). */
void ps_local_note_answer(gx_ps *ps, ps_peer *w, const ps_lkey *k, uint32_t round);
int ps_local_answered(const gx_ps *ps, const ps_peer *w, const ps_lkey *k, uint32_t round);
/* Frees a round sent upstream and what it keeps (nsl: its key's slices). */
void ps_fwd_free(ps_fwd *f, int nsl);

/* ------------------------------------------------------ ps_local_ckpt.c */

/* --checkpoint: writes the key table (DIR/local-PARTY.gxck, atomically);
 * 0 or a gx_error (GX_EIO with errno). */
int ps_local_ckpt_write(gx_ps *ps);
/* --resume: reads it into ls->table; 0 or a gx_error after a log line. */
int ps_local_ckpt_read(gx_ps *ps);
/* A local checkpoint's contents, pointing into the bytes parsed. */
typedef struct ps_lckpt {
	uint32_t block, n;        /* block size; table entries */
	const uint8_t *entries;   /* n x (key u32, count u64) */
} ps_lckpt;
/* Checks len bytes b as the checkpoint of party's server with workers
 * workers; 0, or GX_EFORMAT with why (cap bytes). The entries lie within
 * b, which must outlive c. */
int ps_local_ckpt_parse(const uint8_t *b, size_t len, uint32_t party, uint32_t workers,
			ps_lckpt *c, char *why, size_t cap);
/* Entry i (< c->n) of the table. */
void ps_lckpt_entry(const ps_lckpt *c, uint32_t i, gx_keyent *e);
/* Every upstream link ready: places the table and asks the global tier
 * for every slice (an INIT of GX_ROUND_RESUME); 0 or a gx_error after
 * ending the job. */
int ps_local_restore(gx_ps *ps);
/* --checkpoint, ps_local_own_state: writes k's value, rounds and what the
 * server keeps of its own (HFA's base, the error feedback, the view, the
 * optimizer's state), before an answer that depends on them; 0 or a
 * gx_error (GX_EIO with errno). */
int ps_local_key_write(gx_ps *ps, const ps_lkey *k);
/* k's INIT answered while restoring: once all are, workers are accepted. */
void ps_local_restored_key(gx_ps *ps);
/* A worker coming back (HELLO mode 1) to a server that resumed: admitted
 * at its rank with its keys' rounds. 0 or a gx_error after ending the job. */
int ps_local_back(gx_ps *ps, ps_peer *p, uint32_t rank);
/* Whether the server holds state of its own per key, which its checkpoint
 * keeps in a file per key: under HFA (value, base), with a coded WAN
 * (value, error feedback, optimizer) or an fp16 LAN (the view the workers
 * hold) (ps_local.c). */
int ps_local_own_state(const gx_ps *ps);
/* With --checkpoint, where the server holds state of its own: k's state on
 * disk (ps_local_key_write) before the answer that depends on it
 * (ps_codec_answer); 0, or a gx_error after ending the job (ps_local.c). */
int ps_local_key_durable(gx_ps *ps, const ps_lkey *k);
/* Once k's value is known: what the link codecs and HFA keep beside it
 * (error feedback, optimizer, view, base); 0 or a gx_error after ending
 * the job (ps_local_replies.c). */
int ps_local_key_modes(gx_ps *ps, ps_lkey *k);
/* The first key table placed: keys, blocks, slices (ps_local.c). */
int ps_local_build_keys(gx_ps *ps, const gx_keyent *e, size_t n);

/* ------------------------------------------------------ ps_local_join.c */

/* A worker's HELLO: a new one, one coming back (mode 1), a restarted one
 * (mode 2), or a replacement (--elastic). */
void ps_local_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl);
/* --elastic: admits the workers waiting to replace dead ones (join_wait)
 * once no round is being gathered. */
void ps_local_try_join(gx_ps *ps);
/* Whether the workers' round wround of k is being gathered or is upstream. */
int ps_local_round_pending(const ps_lkey *k, uint32_t wround);
/* Answers the INIT of key k (index idx) from a worker arriving once the key
 * is set (again: it sent it before, over a link that broke). */
void ps_local_init_late(gx_ps *ps, ps_peer *p, ps_lkey *k, size_t idx, int again);

/* --------------------------------------------------- ps_local_replies.c */

/* A PUSH_REPLY from u (the global server, or under the overlay another
 * data center's local server passing it on). */
void ps_local_push_reply(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);
/* A frame on upstream link u. */
void ps_local_up_frame(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);
/* A large frame's header on upstream link u (ud): a reply's F32 payload is
 * received where it belongs (the round's or the pull's buffer), or NULL. */
void *ps_local_up_header(gx_conn *c, const gx_frame_hdr *h, void *ud);

/* ----------------------------------------------------------- ps_up.c */

/* Parses the upstream addresses into links; 0 or a gx_error (logged). */
int ps_local_init(gx_ps *ps);
/* The first line, then a connect to every global server. */
int ps_local_start(gx_ps *ps);
/* Reconnects, deadlines, the wait lines, the goodbye's deadline. */
void ps_local_tick(gx_ps *ps, uint64_t now);
void ps_local_up_closed(gx_ps *ps, ps_peer *u, int err, const char *why);
/* Every worker is done: BYE upstream, then finish. */
void ps_local_bye(gx_ps *ps);
/* A worker was dropped (elastic): tell the global tier. */
void ps_local_members(gx_ps *ps);
/* MEMBERS to u: the workers the party now aggregates. */
void ps_send_members(gx_ps *ps, ps_peer *u, uint32_t workers);
/* A frame from u before it is ready: its HELLO_ACK, then its CONFIG. */
void ps_up_handshake(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);

/* ------------------------------------------------------- ps_codec.c */

/* Creates the WAN encoder the options ask for, if any (then agg is 1); 0
 * or a gx_error (logged). */
int ps_codec_init_wan(gx_ps *ps);
/* Encodes x (slice b of k, its count of floats) with the slice's error
 * feedback and sends it upstream as PUSH of round; with keep, keeps the
 * coded payload there too (ps_codec_send_kept sends it again). */
void ps_codec_push_up(gx_ps *ps, ps_lkey *k, int b, uint32_t round, const float *x,
		      gx_tensor_payload *keep);
/* Answers the workers in which[] with k's value: F32, or with an fp16 LAN
 * the F16 difference value - view (view follows) unless full (then the F32
 * value, which view becomes: after an HFA global round, so that every data
 * center's workers hold the same bits). */
void ps_codec_answer(gx_ps *ps, ps_lkey *k, const uint8_t *which, int type, uint32_t round,
		    int full);
/* Writes the error-feedback state to o.ef_save (atomically); 0 or GX_EIO
 * (logged). */
int ps_codec_save_ef(gx_ps *ps);

#endif
