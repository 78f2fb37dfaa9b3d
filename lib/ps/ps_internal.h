/*
 * ps_internal.h — library-private: the parameter server's core and the
 * table through which it drives a role.
 *
 * The server is a core plus one role, global or local, chosen once by
 * gx_ps_create from the options:
 *
 *  - The core (ps.c: creation, options, the loop, heartbeats and silence;
 *    ps_peer.c: accepting, the hello, the frames every peer may send,
 *    closes, deaths, goodbyes and the end of the job; ps_acc.c: the rounds
 *    being gathered; ps_stats.c: the statistics) knows connections and
 *    contributors, not what a role does with them. It calls a role only
 *    through the role's ps_role table (ps->role, picked from the two tables
 *    below by o.role), never a role's function by name.
 *  - The roles (ps_global.c; ps_local.c, ps_local_replies.c and ps_up.c,
 *    whose private header is ps_local.h) fill in their table and call the
 *    core's helpers declared here. The calls run one way: role -> core.
 *  - ps_codec.c, the link codecs, serves both sides: the encoders and
 *    scratch of every server (made and freed by the core), the global's
 *    coded aggregate, and the local role's coded pushes, fp16 answers and
 *    error-feedback state (declared in ps_local.h). It calls only the core.
 *
 * State: struct gx_ps is the core's. A role's own state is a struct the
 * role defines, allocates in its init and frees in its free (ps_global.c:
 * ps_global_state, private to it; ps_local.h: ps_local_state); the core
 * keeps the pointer to the chosen role's (the anonymous union in gx_ps:
 * glob or loc) and never looks inside. struct ps_peer is the core's too;
 * its fields marked upstream, local and global are kept by the roles (the
 * local role alone opens upstream links).
 *
 * Everything runs on the loop thread; only gx_ps_stop and
 * gx_ps_request_stats are called from elsewhere.
 */
#ifndef GX_PS_INTERNAL_H
#define GX_PS_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "gx_ps.h"
#include "../net/gx_net.h"
#include "../sched/gx_sched.h"
#include "../base/log.h"
#include "../net/conn.h"
#include "../wire/control.h"
#include "../net/secure.h"
#include "../net/dial.h"
#include "../sched/tensor_send.h"
#include "../base/passes.h"

#define PS_MAX_CONTRIB 65536 /* parties or workers */

/* A contributor's standing: workers of a local, parties of a global. Only
 * EMPTY (not connected yet) and LIVE contributors are waited for. */
enum { SLOT_EMPTY, SLOT_LIVE, SLOT_BYE, SLOT_DEAD };

/* Downstream connection states. PEER_SIBLING: another data center's local
 * server under the overlay (not a contributor: its frames and its close go
 * to the role's up_frame and up_closed, as a link this server dialled). */
enum { PEER_HELLO, PEER_MEMBER, PEER_CLOSED, PEER_SIBLING };

/* Upstream link states (local role): UP_CONFIG after the HELLO_ACK, until
 * the CONFIG that follows it. The core watches the silence of links in
 * UP_READY and UP_BYE only. */
enum { UP_WAIT, UP_CONNECTING, UP_HELLO, UP_CONFIG, UP_READY, UP_BYE, UP_CLOSED };

typedef struct ps_peer ps_peer;

/* One connection: a downstream peer (accepted) or an upstream global server. */
struct ps_peer {
	ps_peer *next;
	gx_ps *ps;
	gx_conn *c;          /* NULL once closed */
	int up;              /* an upstream link (we connected) */
	int state;           /* PEER_* (downstream) */
	int gone;            /* its departure is handled: a close is no death */
	int role;            /* enum gx_role of the peer, once known */
	int slot;            /* contributor index, or server index upstream */
	int mode;            /* a local's HELLO mode: 1 coded WAN (global role) */
	uint32_t rank, party, workers;
	char addr[64];       /* "ip:port" */
	char label[112];     /* "worker 1 (127.0.0.1:40112)", for log lines */
	uint64_t t_open;     /* ms */
	uint64_t tx_bytes;   /* bytes written as of tx_ms (heartbeats) */
	uint64_t tx_ms;
	gx_conn_stats st;    /* the counters at close */
	/* upstream */
	int ust;             /* UP_* */
	char host[256];
	int port;
	int fd;              /* while connecting, else -1 (the dial's, dial.fdp) */
	gx_dial dial;        /* reaching it: net/dial.h */
	char why[160];       /* why the last attempt failed */
	int has_table;       /* a worker's KEYTABLE was taken */
	gx_buf *landing;     /* the payload of the frame being received, placed
			      * by the role's header callback; the frame's
			      * handler may take it, else it goes after it */
	int join_wait;       /* local, --elastic: said HELLO to replace dead
			      * worker `rank`; admitted at a round boundary */
	int wan;             /* a link between a local and a global server:
			      * held to --wan-heartbeat-timeout */
	int sib;             /* local, overlay: a link to another data center's
			      * local server (dialled: up; accepted:
			      * PEER_SIBLING); its party in party */
	int sib_bye;         /* ... which said goodbye: its close is no failure */
	uint64_t away_ms;    /* a member whose link broke, its place kept
			      * since (ps_peer_lost); 0: not away */
	int rejoined;        /* came back in a lost member's place: its
			      * replayed pushes are no protocol error */
	uint64_t link;       /* this connection's number (ps->links): a reply
			      * sent on it is not sent again for its replay */
	/* local: a worker's progress, one entry per key of the table */
	uint32_t *next_round;
	uint8_t *did_init;
	uint32_t *answered;  /* [keys] round + 1 of the last PUSH_REPLY sent on
			      * this link (NULL: none yet): not sent twice */
	struct gx_dg_key *dgk; /* global, a local under DGT: the key its
				* datagrams open with (NULL: plaintext) */
};

/* The gradients of one round of one tensor (or slice), gathered from the
 * contributors. Contributions are summed in contributor order whatever the
 * order they arrive in (an early one waits in pend), so the sum and every
 * value derived from it are reproducible bit for bit. */
typedef struct ps_acc ps_acc;
struct ps_acc {
	ps_acc *next;
	uint32_t round;
	int n;             /* contributors */
	int next_i;        /* contributions below next_i are folded into sum */
	int npushed;
	uint64_t workers;  /* workers behind the contributions (global) */
	uint64_t count;    /* floats */
	uint32_t codecs;   /* 1 << codec of every contribution */
	float *sum;        /* undefined until the first term is in (summed) */
	gx_buf *sumb;      /* the buffer sum lives in when it came from a pool */
	int summed;        /* terms folded into sum */
	gx_buf **pend;     /* [n] decoded, waiting for their turn (ps->bufs) */
	uint8_t *pushed;   /* [n] */
	uint64_t t_first;  /* ns, first contribution */
};

/* What a tensor (key) or slice keeps across rounds so that a round does
 * not allocate, and page-fault in, multi-megabyte buffers afresh: the last
 * finished accumulator (its sum included) and one spare tensor-sized
 * buffer (the local's previous value, a finished pull's buffer). All of one
 * owner's buffers hold the same count of floats. */
typedef struct ps_spare {
	ps_acc *acc;
	float *buf;
} ps_spare;

typedef struct ps_role ps_role;

/* Text appended to a caller's buffer (gx_ps_stats): len counts what it
 * would take, as snprintf does, whatever fitted. */
typedef struct ps_sbuf {
	char *p;
	size_t cap, len;
} ps_sbuf;
void ps_sb_printf(ps_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What log lines call a contributor: one ("worker", "party"), many
 * ("workers", "parties"), and the number of its slot ("rank", "party";
 * NULL: slots are handed out in the order contributors come, so a missing
 * one has no name). */
typedef struct ps_words {
	const char *one, *many, *slot;
} ps_words;

typedef struct ps_global_state ps_global_state;
typedef struct ps_local_state ps_local_state;

struct gx_ps {
	gx_ps_opts o;
	gx_key psk;           /* the key it dials with (a local: its party's);
			       * o.key set: every link is secure */
	gx_keyring *ring;     /* o.key set: the keys its peers may hold (new
			       * connections are checked against it) */
	int job_key;          /* o.key was the job's (a local then also takes
			       * the other parties' keys: the overlay) */
	uint64_t links;       /* connections accepted (ps_peer.link) */
	gx_keyring *rings[2]; /* the rings made (ps_keys), freed at the end: a
			       * global's ring without the flat workers' keys
			       * replaces the whole one once its job is HiPS */
	char *listen_s, *upstream_s, *ef_save_s, *overlay_addr_s, *overlay_plan_s;
	char name[32];        /* "global", "local 0" (the role's opts) */
	const ps_role *role;  /* the role's table */
	struct ps_prio_tab *prio; /* per key, the priority its frames travel
				   * with (ps_prio.c); NULL until one is named */
	union {               /* the role's state, owned by the role */
		ps_global_state *glob;
		ps_local_state *loc;
	};
	uint32_t sender;      /* the sender field of the frames it sends */
	gx_ev *ev;
	gx_codec *codec;      /* decoding only */
	int lfd, port;
	int accepting;
	volatile sig_atomic_t stop_req, stats_req;
	int ran, over, finishing, rc;
	int ending;           /* every contributor is done: the role ends the job */
	uint64_t t_start;     /* ms: run started */
	uint64_t t_accept;    /* ms: accepting started */
	uint64_t drain_until; /* ms */
	uint64_t last_wait_log, last_accept_err, last_evict_log;
	long long tick;
	ps_peer *peers;

	/* contributors: parties (global) or workers (local) */
	int n;
	uint8_t *slot;        /* [n] SLOT_* */
	ps_peer **who;        /* [n] */
	/* The summing order when it is not by slot (set by the role): with
	 * ordered, order[k] is the slot summed k-th, and while order is NULL
	 * nothing is summed (the global role, flat: (party, rank) order, known
	 * once every slot is handed out, since slots go in connection order). */
	int ordered;
	int *order;

	/* stats */
	uint64_t updates, wait_ns, stale_n, stale_sum, stale_max;

	/* link codecs (ps_codec.c) */
	float *fscratch;      /* coding: floats */
	size_t fscratch_cap;
	gx_codec *denc;       /* dense F32 (a local's slices below sparse-min) */
	gx_buf_pool *bufs;    /* payloads sent by reference (fan-out, encodings) */
	gx_codec *henc;       /* F16 dense */
};

/* The pool of payload buffers: how many kept, the smallest kept, bytes kept. */
/* What one peer may cost (docs/security.md, "Memory under any peer"):
 * before its HELLO is accepted a connection may send frames of at most
 * PS_PREHELLO_PAYLOAD bytes, and at most PS_PENDING connections (and
 * PS_PENDING_PER_SOURCE from one address) may be waiting for theirs: past
 * that, the one waiting longest from the address with the most waiting is
 * closed (genuine peers say HELLO within milliseconds; idle ones age). A
 * HELLO is due within PS_HELLO_MS (or --connect-timeout if shorter). A
 * peer's queued answers past PS_OUT_BOUND stop its requests being read
 * (gx_conn_set_out_bound). */
#define PS_PREHELLO_PAYLOAD 4096
#define PS_PENDING 64
#define PS_PENDING_PER_SOURCE 16
#define PS_HELLO_MS 10000
#define PS_OUT_BOUND ((size_t)64 << 20)

#define PS_BUFS 16
#define PS_BUF_MIN (64u << 10)
#define PS_BUF_MAX ((size_t)256 << 20)

/* ------------------------------------------------------------- the role */

/* What a role does; the core calls nothing else of it. Every member is
 * called on the loop thread (opts, init and free from gx_ps_create and
 * gx_ps_free); a member marked optional may be NULL. */
struct ps_role {
	/* Checks the role's own options, logging why not (GX_EINVAL), and
	 * fills in what the core takes from them: ps->name, ps->n (the
	 * contributors) and ps->sender. Called before anything is made. */
	int (*opts)(gx_ps *ps);
	/* Makes the role's state once the socket listens; 0 or a gx_error
	 * (logged, but for GX_ENOMEM, which the core logs). */
	int (*init)(gx_ps *ps);
	/* Frees the role's state: none, or what a failed init left, included. */
	void (*free)(gx_ps *ps);
	/* gx_ps_run begins: the first log line, then accept (ps_start_accepting)
	 * or first connect upstream; 0 or a gx_error (the job ended already). */
	int (*start)(gx_ps *ps);
	/* Optional: housekeeping of every timer tick (now: ms), before the
	 * core's. */
	void (*tick)(gx_ps *ps, uint64_t now);
	/* A connection's HELLO, parsed (p->role, rank, party, workers set):
	 * ps_admit it or ps_violation it. */
	void (*hello)(gx_ps *ps, ps_peer *p, const gx_hello *hl);
	/* The role's part of the HELLO_ACK (sync, rank, party) and of the CONFIG
	 * that ps_admit sends to the new member p (both zeroed before). */
	void (*ack)(const gx_ps *ps, const ps_peer *p, gx_hello *a, gx_config *c);
	/* A member's KEYTABLE, INIT, PUSH and PULL frames (the core handles
	 * HELLO, ERROR, HEARTBEAT and BYE itself, and dispatches these). */
	void (*keytable)(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
	void (*init_key)(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
	void (*push)(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
	void (*pull)(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h);
	/* Optional: the header of a member's large frame is in and its
	 * payload is on its way: returns a buffer of the pool (ps->bufs, of
	 * payload_len bytes at least) for the payload to be received in, which
	 * the core keeps in p->landing for the frame's handler, or NULL. */
	gx_buf *(*header)(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h);
	/* Optional: a member's frame of any other type; without it such a
	 * frame is a protocol violation. */
	void (*other)(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
	/* A frame, and the close, of an upstream link (p->up): only a role
	 * that opens such links sets these. */
	void (*up_frame)(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);
	void (*up_closed)(gx_ps *ps, ps_peer *u, int err, const char *why);
	/* Contributors changed (dead, goodbye): complete what can be completed. */
	void (*settle)(gx_ps *ps);
	/* Optional: nonzero when member p, its link broken, keeps its place
	 * for --reconnect-timeout (ps_peer_lost) rather than dying at once. */
	int (*may_rejoin)(const gx_ps *ps, const ps_peer *p);
	/* Optional: a member died and the job goes on (elastic), before settle. */
	void (*lost)(gx_ps *ps);
	/* Every contributor said goodbye or died, one at least goodbye: end the
	 * job (ps_finish, at once or later). */
	void (*done)(gx_ps *ps);
	/* What log lines call the contributors. */
	const ps_words *(*words)(const gx_ps *ps);
	/* Optional: the loop is over; saves what outlives the run; 0 or a
	 * gx_error (logged). */
	int (*end)(gx_ps *ps);
	/* Rounds completed, for the stats. */
	uint64_t (*rounds)(const gx_ps *ps);
	/* Optional: the role's own statistics lines (TSV), or JSON members
	 * (each led by a comma), appended to b. */
	void (*stats)(const gx_ps *ps, ps_sbuf *b, int json);
};

/* The two roles' tables (ps_global.c, ps_local.c). */
extern const ps_role ps_global_role;
extern const ps_role ps_local_role;

/* ------------------------------------------------------- ps.c, ps_peer.c */

/* The callbacks of every connection (ud: its ps_peer). */
void ps_on_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *pl, void *ud);
void ps_on_close(gx_conn *c, int err, const char *why, void *ud);
/* Starts accepting connections; 0, or GX_EIO after ending the job. */
int ps_start_accepting(gx_ps *ps);
void ps_stop_accepting(gx_ps *ps);
void ps_log(gx_ps *ps, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Ends the job: rc 0 closes every link after its output is flushed; an
 * error sends ERROR (code rc, the message) to every live link but skip. */
void ps_finish(gx_ps *ps, int rc, ps_peer *skip, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* ps_keys.c: from the key given (o.key), the ring of the keys its peers may
 * hold and the key it dials with; 0 or a gx_error after a log line. */
int ps_keys(gx_ps *ps, const gx_key *key);
/* A global whose job is HiPS: new connections are checked against the
 * job's and the parties' keys only, not the flat workers'. */
void ps_keys_hips(gx_ps *ps);
/* Whether p's HELLO claims the identity of the key it holds (its link's
 * peer key); -1 after refusing it (a violation), else 0. */
int ps_claim_check(gx_ps *ps, ps_peer *p, const gx_hello *hl);

/* A peer broke the protocol: ERROR to it, a log line, and for a member the
 * rules of a dead peer. */
void ps_violation(gx_ps *ps, ps_peer *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A member died (closed without BYE, silent, refused to follow). */
void ps_peer_dead(gx_ps *ps, ps_peer *p, const char *why);
/* A member's link broke (closed without goodbye, reset, silent): where the
 * role lets it rejoin, its place is kept for --reconnect-timeout and the
 * link closed; else it is dead (ps_peer_dead). */
void ps_peer_lost(gx_ps *ps, ps_peer *p, const char *why);
/* p, which said HELLO coming back, takes the place of old, a member lost
 * (away) in its slot: old is retired, p admitted as rejoined (its replayed
 * round is taken once), and a line says it is back. */
void ps_take_place(gx_ps *ps, ps_peer *p, ps_peer *old, const char *label);
/* A member said BYE: answer and close; it is no longer waited for. */
void ps_peer_bye(gx_ps *ps, ps_peer *p);
/* HELLO_ACK and the CONFIG to p, as the role fills them in. */
void ps_send_welcome(gx_ps *ps, ps_peer *p);
/* Makes p the member in slot: label, HELLO_ACK and CONFIG, bookkeeping. */
void ps_admit(gx_ps *ps, ps_peer *p, int slot, const char *label);
/* Ends the job when no contributor is waited for any more. */
void ps_check_done(gx_ps *ps);
/* For a role's opts: n contributors, called many ("parties") in the log
 * line if n is out of range (then GX_EINVAL), become ps->n; 0 or GX_EINVAL. */
int ps_set_contributors(gx_ps *ps, int n, const char *many);
/* Frames of a control type with an empty payload. */
int ps_empty_ctl(const gx_frame_hdr *h);
/* p's KEYTABLE frame: a second one, a malformed or empty one, and one that
 * differs from the first worker's table first[0..nfirst) (when first is
 * not NULL) are violations. Returns 0 with the table in a malloc'd *e, *n
 * when first is NULL, 0 with *e NULL when it matches first; or a gx_error,
 * after which it has already answered (a violation by p, or the job's end
 * on GX_ENOMEM). The caller sets p->has_table once it took the table. */
int ps_take_keytable(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl,
		     const gx_keyent *first, size_t nfirst, gx_keyent **e, size_t *n);
/* A send's result: a failure other than a closing link (GX_EIO) ends the
 * job, since a frame that was never sent would hang it. Returns rc. */
int ps_sent(gx_ps *ps, int rc);
/* A tensor frame through the door (sched/tensor_send.h) and ps_sent, with
 * the priority the key's frames travel with (ps_prio_of) when r names none;
 * GX_EIO for a closed link (c NULL). */
int ps_send_tensor(gx_ps *ps, gx_conn *c, const gx_tensor_route *r, const gx_tensor_payload *p);
/* ps_prio.c: the priority a peer named for key in a frame it sent (INIT,
 * PUSH, PULL), kept for every tensor frame this server sends for that key;
 * ps_prio_of gives it (0 for a key never named). */
void ps_prio_note(gx_ps *ps, uint32_t key, int prio);
int ps_prio_of(const gx_ps *ps, uint32_t key);
void ps_prio_free(gx_ps *ps);
/* A dense float32 tensor (copied) through ps_send_tensor. */
int ps_send_f32(gx_ps *ps, gx_conn *c, int type, uint32_t key, uint32_t block, uint32_t round,
		uint32_t sender, const float *x, uint64_t n);
/* Sends a control frame naming a slice (gx_send_ctl has no block). */
int ps_send_slice_ctl(gx_conn *c, int type, uint32_t key, uint32_t block);
/* A copy of a label or name with anything unprintable replaced. */
void ps_clean(char *dst, size_t cap, const char *src);

/* ------------------------------------------------------------ ps_codec.c */

/* The link codecs' side of the servers (docs/protocol.md, "Link codecs");
 * the local role's part is declared in ps_local.h. */

/* Creates the encoders both roles have; 0 or a gx_error (logged). */
int ps_codec_init(gx_ps *ps);
void ps_codec_free(gx_ps *ps);
/* Codes the aggregate x (n floats) of a slice into *out (a pooled buffer,
 * referenced by out->buf) as the contributions were (codecs: a mask of
 * 1 << codec): all sparse -> SPARSE_F32 of its nonzero elements (F32 when
 * that is not smaller), any F32 -> F32, else F16. 0, or a gx_error after
 * ending the job. */
int ps_codec_make_agg(gx_ps *ps, uint32_t key, uint32_t block, const float *x, uint64_t n,
		      uint32_t codecs, gx_tensor_payload *out);
/* Sends a payload made by ps_codec_make_agg or kept by ps_codec_push_up,
 * as it was made. */
void ps_codec_send_kept(gx_ps *ps, gx_conn *c, const gx_tensor_payload *pl, int type,
			uint32_t key, uint32_t block, uint32_t round);
/* Releases a kept payload (its buffer); it then holds nothing. */
void ps_codec_drop_kept(gx_tensor_payload *pl);

/* ------------------------------------------------------------- ps_acc.c */

/* Adds contributor i's push whose F32 payload lies as sent in b (a landed
 * buffer; the reference is taken): kept as it is where a decoded copy
 * would be (an early contribution; with raw_first, the sum's first term,
 * which then keeps a -0.0 that 0.0f + value would make +0.0), else decoded
 * from it. 0 or a gx_error (b released either way). */
int ps_acc_take(gx_ps *ps, ps_acc *a, int i, const gx_frame_hdr *h, gx_buf *b, int raw_first);

/* The sum of contributors 0..last (slot order) as one push, the sum's
 * first term: kept as it lies in b (a landed buffer with the F32 payload,
 * referenced; NULL: decoded from payload). GX_EPROTO when any of them is
 * in already, or the sum has begun; b is released either way. */
int ps_acc_prefix(gx_ps *ps, ps_acc *a, int last, const gx_frame_hdr *h, const uint8_t *payload,
		  gx_buf *b);

/* The contributor summed k-th: k itself, or with ps->ordered the k-th of
 * ps->order; -1 while that order is not known yet. */
int ps_contrib_at(const gx_ps *ps, int k);

/* The accumulator of round in the list *head (sorted by round), made when
 * new (from sp's spares where they fit; its sum from pool when pool is not
 * NULL, so that it can be sent by reference: a->sumb); NULL on ENOMEM. */
ps_acc *ps_acc_get(ps_acc **head, ps_spare *sp, gx_buf_pool *pool, uint32_t round, int n,
		   uint64_t count);
/* Adds contributor i's push; 0 or the decoding error (the sum unchanged). */
int ps_acc_add(gx_ps *ps, ps_acc *a, int i, const gx_frame_hdr *h, const uint8_t *payload);
/* Adds contributor i's values (a->count floats, decoded already), counted
 * as a push of codec; 0, GX_EPROTO (not expected from i) or GX_ENOMEM. */
int ps_acc_add_values(gx_ps *ps, ps_acc *a, int i, const float *v, int codec);
/* Folds waiting contributions into the sum, skipping contributors that are
 * no longer waited for; returns nonzero when the round is complete. */
int ps_acc_settle(gx_ps *ps, ps_acc *a);
void ps_acc_free(ps_acc *a);
void ps_acc_free_all(ps_acc *a);
/* Done with a (out of any list): kept in sp for the next round, or freed. */
void ps_acc_put(ps_spare *sp, ps_acc *a);
/* A buffer of count floats, contents undefined: sp's spare or a new one. */
float *ps_buf_get(ps_spare *sp, uint64_t count);
/* Done with buf (count floats, or NULL): kept in sp as its spare, or freed. */
void ps_buf_put(ps_spare *sp, float *buf);
void ps_spare_free(ps_spare *sp);

#endif
