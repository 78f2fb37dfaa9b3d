/*
 * ps_internal.h — library-private: the parameter server's shared state.
 * lib/ps/ps.c holds what both roles share (connections, hello, heartbeats,
 * failures, the end of the job), lib/ps/ps_acc.c the round accumulators,
 * lib/ps/ps_stats.c the statistics; lib/ps/ps_global.c the global role,
 * lib/ps/ps_local.c the local role. Everything runs on the loop thread; only
 * gx_ps_stop and gx_ps_request_stats are called from elsewhere.
 */
#ifndef GX_PS_INTERNAL_H
#define GX_PS_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "gx_ps.h"
#include "../net/gx_net.h"
#include "../sched/gx_sched.h"
#include "../net/conn.h"
#include "../wire/control.h"
#include "../net/secure.h"
#include "../net/dial.h"

/* A contributor's standing: workers of a local, parties of a global. Only
 * EMPTY (not connected yet) and LIVE contributors are waited for. */
enum { SLOT_EMPTY, SLOT_LIVE, SLOT_BYE, SLOT_DEAD };

/* Downstream connection states. */
enum { PEER_HELLO, PEER_MEMBER, PEER_CLOSED };

/* Upstream link states (local role): UP_CONFIG after the HELLO_ACK, until
 * the CONFIG that follows it. */
enum { UP_WAIT, UP_CONNECTING, UP_HELLO, UP_CONFIG, UP_READY, UP_BYE, UP_CLOSED };

/* Log levels of gx_log_fn. */
enum { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

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
	/* local: a worker's progress, one entry per key of the table */
	int has_table;
	uint32_t *next_round;
	uint8_t *did_init;
	/* global, flat mode: the key table it sent */
	int sent_table;
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
	float *sum;
	float **pend;      /* [n] decoded, waiting for their turn */
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

/* Local role: a round sent upstream, waiting for its slices. */
typedef struct ps_fwd ps_fwd;
struct ps_fwd {
	ps_fwd *next;
	uint32_t round;    /* upstream round */
	uint32_t wround;   /* the workers' round it answers (HFA: differs) */
	int left;          /* slices not answered yet */
	uint8_t *got;      /* [slices] */
	uint8_t *who;      /* [workers] the workers to answer */
	float *buf;        /* the whole tensor */
	uint64_t t_first;  /* ns */
};

/* Local role: a worker's PULL, waiting for its slices. */
typedef struct ps_pull ps_pull;
struct ps_pull {
	ps_pull *next;
	int worker;
	int left;
	uint8_t *got;
	float *buf;
};

/* Local role: one key of the table. */
typedef struct ps_lkey {
	uint32_t key;
	uint64_t count;
	const gx_slice *sl; /* its slices in ps->place, blocks 0..nsl-1 */
	int nsl;
	int init;           /* 0 none, 1 sent upstream, 2 done */
	int init_left;
	float *value;       /* the latest value (init_buf until init is done) */
	uint8_t *init_wait; /* [workers] an INIT to answer */
	uint8_t *init_got;  /* [nsl] slices the global tier answered */
	ps_acc *accs;       /* rounds being gathered */
	ps_spare spare;
	gx_ef **ef;         /* [nsl] coded WAN: error feedback per slice */
	gx_optim *opt;      /* coded WAN, full sync: the optimizer, applied here */
	float *view;        /* fp16 LAN: what the workers hold */
	float *base;        /* HFA: the value the global tier last gave */
	ps_fwd *fwds, **fwd_tail;
	ps_pull *pulls, **pull_tail;
	uint64_t rounds;    /* rounds answered */
} ps_lkey;

/* Global role: one slice (key, block). */
typedef struct ps_gslice {
	uint32_t key, block;
	uint64_t count;
	float *w;
	float *g;            /* scratch: a gradient */
	gx_optim *opt;
	uint32_t *next_round; /* [parties] next round expected from each */
	uint64_t *seen;      /* [parties] updates applied when it last got w */
	uint64_t updates;
	uint64_t rounds;     /* full sync: rounds completed */
	ps_acc *accs;
	ps_spare spare;
} ps_gslice;

struct gx_ps {
	gx_ps_opts o;
	gx_key psk;           /* o.psk points here when set */
	char *listen_s, *upstream_s, *ef_save_s;
	char name[32];        /* "global", "local 0" */
	gx_ev *ev;
	gx_codec *codec;      /* decoding only */
	int lfd, port;
	int accepting;
	volatile sig_atomic_t stop_req, stats_req;
	int ran, over, finishing, rc;
	uint64_t t_start;     /* ms: run started */
	uint64_t t_accept;    /* ms: accepting started */
	uint64_t drain_until; /* ms */
	uint64_t last_wait_log, last_accept_err;
	long long tick;
	ps_peer *peers;

	/* contributors: parties (global) or workers (local) */
	int n;
	uint8_t *slot;        /* [n] SLOT_* */
	ps_peer **who;        /* [n] */
	uint32_t *slot_workers; /* [n] workers behind each (global) */
	int flat;             /* global: -1 unknown, 0 locals, 1 workers */
	int nassigned;        /* global, flat: slots handed out */
	int *order;           /* global, flat: slots in (party, rank) order, the
			       * summing order, once every slot is handed out
			       * (slots go in connection order); NULL: by slot */

	/* stats */
	uint64_t updates, wait_ns, stale_n, stale_sum, stale_max;

	/* global */
	int agg;              /* global: -1 unknown, 0 it applies updates, 1 the
			       * locals do (coded WAN); local: 1 coded WAN */
	uint8_t *scratch;     /* coding: bytes */
	size_t scratch_cap;
	float *fscratch;      /* coding: floats */
	size_t fscratch_cap;
	uint32_t *iscratch;   /* coding: indices */
	size_t iscratch_cap;
	gx_codec *wenc;       /* local, coded WAN: the encoder */
	gx_codec *denc;       /* local, coded WAN: dense F32 (below sparse-min) */
	gx_codec *henc;       /* F16 dense */
	gx_config up_cfg;     /* local: the global tier's CONFIG */
	int have_cfg;
	ps_gslice **map;      /* open addressing on (key, block) */
	size_t map_n, map_cap;
	gx_keyent *ftable;    /* flat: the first worker's key table */
	size_t nftable;

	/* local */
	ps_peer **ups;        /* [nups] */
	int nups, nready, up_sync, byeing;
	int up_logged;        /* a waiting line about upstream was written */
	uint64_t bye_until;
	ps_lkey *keys;
	size_t nkeys;
	gx_slice *place;
	size_t nplace;
	uint32_t *announced;  /* [nups] workers last announced upstream */
};

/* ------------------------------------------------------------- ps.c */

/* The callbacks of every connection (ud: its ps_peer). */
void ps_on_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *pl, void *ud);
void ps_on_close(gx_conn *c, int err, const char *why, void *ud);
int ps_start_accepting(gx_ps *ps);
void ps_stop_accepting(gx_ps *ps);
/* "global", "local", "worker". */
const char *ps_role_name(int role);
void ps_log(gx_ps *ps, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Ends the job: rc 0 closes every link after its output is flushed; an
 * error sends ERROR (code rc, the message) to every live link but skip. */
void ps_finish(gx_ps *ps, int rc, ps_peer *skip, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A peer broke the protocol: ERROR to it, a log line, and for a member the
 * rules of a dead peer. */
void ps_violation(gx_ps *ps, ps_peer *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A member died (closed without BYE, silent, refused to follow). */
void ps_peer_dead(gx_ps *ps, ps_peer *p, const char *why);
/* A member said BYE: answer and close; it is no longer waited for. */
void ps_peer_bye(gx_ps *ps, ps_peer *p);
/* Makes p the member in slot: label, HELLO_ACK, bookkeeping. */
void ps_admit(gx_ps *ps, ps_peer *p, int slot, const char *label);
/* Ends the job when no contributor is waited for any more. */
void ps_check_done(gx_ps *ps);
/* Frames of a control type with an empty payload. */
int ps_empty_ctl(const gx_frame_hdr *h);
/* Parses p's KEYTABLE frame into a malloc'd non-empty table (*e, *n). On
 * failure it has already answered (a violation by p, or the job's end on
 * ENOMEM) and returns nonzero. */
int ps_parse_keytable(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl,
		      gx_keyent **e, size_t *n);
/* A send's result: a failure other than a closing link (GX_EIO) ends the
 * job, since a frame that was never sent would hang it. Returns rc. */
int ps_sent(gx_ps *ps, int rc);
/* gx_send_f32 through ps_sent; GX_EIO for a closed link (c NULL). */
int ps_send_f32(gx_ps *ps, gx_conn *c, int type, uint32_t key, uint32_t block, uint32_t round,
		uint32_t sender, const float *x, uint64_t n);
/* Sends a control frame naming a slice (gx_send_ctl has no block). */
int ps_send_slice_ctl(gx_conn *c, int type, uint32_t key, uint32_t block);
/* A copy of a label or name with anything unprintable replaced. */
void ps_clean(char *dst, size_t cap, const char *src);

/* ------------------------------------------------------------ ps_codec.c */

/* The link codecs' side of the servers (docs/protocol.md, "Link codecs"). */

/* Creates the encoders the options need; 0 or a gx_error (logged). */
int ps_codec_init(gx_ps *ps);
void ps_codec_free(gx_ps *ps);
/* Sends the aggregate x (n floats) of a slice to each live connection in
 * cs[0..nc), encoded once, as the contributions were (codecs: a mask of
 * 1 << codec): all sparse -> SPARSE_F32 of its nonzero elements (F32 when
 * that is not smaller), any F32 -> F32, else F16. */
void ps_codec_send_agg(gx_ps *ps, gx_conn **cs, int nc, int type, uint32_t key, uint32_t block,
		      uint32_t round, const float *x, uint64_t n, uint32_t codecs);
/* Local, coded WAN: encodes x (slice b of k, its count of floats) with the
 * slice's error feedback and sends it upstream as PUSH of round. */
void ps_codec_push_up(gx_ps *ps, ps_lkey *k, int b, uint32_t round, const float *x);
/* Local: answers the workers in which[] with k's value: F32, or with an
 * fp16 LAN the F16 difference value - view (view follows) unless full (then
 * the F32 value, which view becomes: after an HFA global round, so that
 * every data center's workers hold the same bits). */
void ps_codec_answer(gx_ps *ps, ps_lkey *k, const uint8_t *which, int type, uint32_t round,
		    int full);
/* Local: writes the error-feedback state to o.ef_save (atomically); 0 or -1
 * (logged). */
int ps_codec_save_ef(gx_ps *ps);
/* Sends CONFIG to p right after its HELLO_ACK. */
void ps_send_config(gx_ps *ps, ps_peer *p);
const char *ps_sync_name(int sync);

/* ------------------------------------------------------------- ps_acc.c */

/* The contributor summed k-th: k itself, or in flat mode the k-th slot in
 * (party, rank) order; -1 while that order is not known yet. */
int ps_contrib_at(const gx_ps *ps, int k);

/* The accumulator of round in the list *head (sorted by round), made when
 * new (from sp's spares where they fit, zeroed); NULL on ENOMEM. */
ps_acc *ps_acc_get(ps_acc **head, ps_spare *sp, uint32_t round, int n, uint64_t count);
/* Adds contributor i's push; 0 or the decoding error (the sum unchanged). */
int ps_acc_add(gx_ps *ps, ps_acc *a, int i, const gx_frame_hdr *h, const uint8_t *payload);
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

/* ------------------------------------------------------- ps_global.c */

int ps_global_init(gx_ps *ps);
void ps_global_free(gx_ps *ps);
void ps_global_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl);
void ps_global_frame(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
/* Contributors changed (dead, bye): complete what can be completed. */
void ps_global_settle(gx_ps *ps);
uint64_t ps_global_rounds(gx_ps *ps);

/* ----------------------------------------------------------- ps_up.c */

/* The local role's upstream links (ps_local_init, _start, _tick,
 * _up_closed, _bye and _members below live there too). */
/* MEMBERS to u: the workers the party now aggregates. */
void ps_send_members(gx_ps *ps, ps_peer *u, uint32_t workers);
/* A frame from u before it is ready; the dialer reads those, so one that
 * reaches here is a protocol error. */
void ps_up_handshake(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);

/* -------------------------------------------------------- ps_local.c */

int ps_local_init(gx_ps *ps);
void ps_local_free(gx_ps *ps);
int ps_local_start(gx_ps *ps);
void ps_local_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl);
void ps_local_frame(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
void ps_local_up_frame(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);
void ps_local_up_closed(gx_ps *ps, ps_peer *u, int err, const char *why);
void ps_local_tick(gx_ps *ps, uint64_t now);
void ps_local_settle(gx_ps *ps);
/* Every worker is done: BYE upstream, then finish. */
void ps_local_bye(gx_ps *ps);
/* A worker was dropped (elastic): tell the global tier. */
void ps_local_members(gx_ps *ps);
uint64_t ps_local_rounds(gx_ps *ps);

#endif
