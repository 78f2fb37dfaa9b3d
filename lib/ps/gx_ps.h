/*
 * ps/gx_ps.h — the parameter servers (global and local roles).
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_PS_H
#define GX_PS_H

#include <stddef.h>
#include <stdint.h>
#include "../codec/gx_codec.h"
#include "../optim/gx_optim.h"
#include "../net/gx_net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------- parameter servers */

typedef struct gx_ps_opts {
	int role;                 /* GX_ROLE_GLOBAL or GX_ROLE_LOCAL */
	const char *listen;       /* "host:port"; port 0 picks a free one */
	int parties;              /* global: data centers (local servers) expected */
	int workers;              /* local: workers expected */
	uint32_t party;           /* local: this data center's id */
	const char *upstream;     /* local: "host:port[,host:port...]", global servers in index order */
	int sync;                 /* enum gx_sync */
	int sum;                  /* nonzero: apply the sum of gradients, not their mean */
	gx_optim_opts optim;      /* global: the optimizer */
	uint64_t split_bound;     /* local: MultiGPS split bound (elements) */
	uint32_t block;           /* global: tensors travel between a local server
				   * and its workers and up to the global tier in
				   * blocks of at most this many elements, so that
				   * each hop passes one block on while the next
				   * arrives; 0: whole. Told to the local servers in
				   * CONFIG (not with a coded WAN). */
	size_t credit;            /* P3: on every link, tensor frames that find this
				   * many bytes queued wait and go out by priority
				   * (gx_conn_set_credit; GX_CREDIT_AUTO: tuned); 0:
				   * in the order made (fifo) */
	int overlay;              /* global: GX_OVERLAY_STAR (HiPS's star) or
				   * GX_OVERLAY_ADAPTIVE: the locals' pushes are
				   * folded on their way as each round's plan says
				   * (docs/design.md, "The adaptive overlay"); told
				   * to the locals in CONFIG */
	double overlay_epsilon;   /* global, adaptive: the share of rounds on a
				   * random plan, so that links the best plan does
				   * not use are measured again; 0..1 */
	uint64_t overlay_seed;    /* global, adaptive: the seed of those draws */
	const char *overlay_plan; /* global, adaptive: every round on this plan
				   * (gx_ovl_plan_text's "HOLD:FROM"), neither
				   * chosen nor drawn; NULL: chosen each round */
	const char *overlay_addr; /* local, adaptive: "HOST:PORT" the other data
				   * centers' local servers reach this one at; NULL:
				   * its listening address */
	double connect_timeout;   /* seconds to keep retrying upstream / waiting for peers */
	double heartbeat;         /* seconds between heartbeats */
	double heartbeat_timeout; /* seconds of silence after which a peer is dead */
	double wan_heartbeat_timeout; /* the same for a link between a local and a
				   * global server; 0: GX_DEFAULT_WAN_HEARTBEAT_TIMEOUT
				   * or heartbeat_timeout, the longer */
	int elastic;              /* nonzero: drop a dead worker and go on */
	double reconnect_timeout; /* seconds a broken link between a local and a
				   * global server may take to be dialled again
				   * (the local re-dials, the global keeps the
				   * party's place, the round in flight is sent
				   * again exactly once); 0: a broken link is a
				   * dead peer at once. Not with a coded WAN. */
	uint32_t k1, k2;          /* global, HFA: local steps per local round, local
				   * rounds per global round (both >= 1) */
	gx_link_codec wan;        /* local: how its aggregate crosses the WAN */
	struct {
		double k;         /* local, DGT: the share of a slice's blocks
				   * sent reliably at first (0 < k <= 1); 0: no
				   * DGT. Blocks are F16 under --wan-codec fp16,
				   * else F32; not with bsc or mpq */
		int channels;     /* lossy channels, 1..8 */
		uint32_t block;   /* elements a datagram; 0: what the path's MTU
				   * fits */
		double rate;      /* bytes a second the datagrams are paced at */
		double target;    /* K moves so that a round delays this share
				   * of the push's energy; 0: K stays */
		double k_min;     /* K's least */
		double grace;     /* global: seconds a round waits for datagrams
				   * beyond their expected arrival */
	} dgt;
	int lan;                  /* local: GX_LINK_NONE or GX_LINK_FP16 with its workers */
	uint64_t sparse_min;      /* local, BSC: slices of fewer elements travel dense */
	float ef_momentum;        /* local, BSC/MPQ/FP16: error feedback's momentum
				   * correction (0: residual only) */
	const char *ef_save;      /* local: at the end, write the error-feedback state
				   * here (GX_FT_STATE frames, atomically); NULL: not */
	const char *checkpoint;   /* global: a directory for the slices' state
				   * (value, optimizer, rounds), written at the
				   * end or stop and every checkpoint_every rounds
				   * of a slice, before that round is answered;
				   * NULL: none */
	uint32_t checkpoint_every; /* 0: only at the end or stop */
	int resume;               /* global: start from the checkpoint's slices;
				   * every party comes back to them */
	gx_frame_limits limits;   /* incoming frames */
	const gx_key *key;        /* every link accepted and opened is authenticated
				   * and encrypted (docs/security.md); NULL:
				   * plaintext. Copied. A global server needs the
				   * job's key and takes the parties' (and, flat,
				   * workers') derived from it; a local server the
				   * job's or its party's, dials with its party's
				   * and takes its workers'. A peer's HELLO must
				   * claim the identity of the key it holds. */
	gx_log_fn *log;           /* NULL: silent */
	void *log_ud;
} gx_ps_opts;


enum { GX_OVERLAY_STAR = 0, GX_OVERLAY_ADAPTIVE = 1 };

#define GX_DEFAULT_K1 20
#define GX_DEFAULT_K2 10
#define GX_DEFAULT_SPARSE_MIN 1024 /* elements */
#define GX_DEFAULT_BLOCK (4u << 10) /* elements: 16 KB of float32 (docs/benchmarks.md, "Priority propagation") */
/* DGT (docs/design.md; its channels: GX_DGT_CHANNELS_MAX): K moves so that a
 * round delays this share of the push's energy, not below K_MIN; a round
 * waits GRACE seconds beyond its datagrams' expected arrival. */
#define GX_DEFAULT_DGT_TARGET 0.01
#define GX_DEFAULT_DGT_K_MIN 0.01
#define GX_DEFAULT_DGT_GRACE 0.010

/* Defaults: local role, listen "127.0.0.1:0", 1 party, 1 worker, full sync,
 * mean, SGD lr 0.01, the default split bound and block, timeouts above
 * (reconnect GX_DEFAULT_RECONNECT_TIMEOUT), not elastic,
 * k1 20 and k2 10, WAN and LAN codecs none, sparse-min 1024, no momentum
 * correction. */
void gx_ps_opts_default(gx_ps_opts *o);

typedef struct gx_ps gx_ps;

/* Creates a server and binds its listening socket (so gx_ps_port is known
 * before gx_ps_run). NULL with *err on failure (err may be NULL; the log
 * callback has the reason). */
gx_ps *gx_ps_create(const gx_ps_opts *o, int *err);
void gx_ps_free(gx_ps *ps);
/* The bound listening port. */
int gx_ps_port(const gx_ps *ps);
/* Serves until every expected peer has connected and said goodbye (returns
 * 0), gx_ps_stop was called (0), or a failure ends the job (a negative
 * gx_error: a dead peer without elastic, upstream unreachable within the
 * connect timeout, ...; logged). */
int gx_ps_run(gx_ps *ps);
/* Ask a running server to stop, or to write its stats through the log
 * (level 1). Both only set a flag and wake the loop: async-signal-safe. */
void gx_ps_stop(gx_ps *ps);
void gx_ps_request_stats(gx_ps *ps);
/* Writes the stats (per link and direction: bytes, frames; rounds; waiting
 * time; staleness under mixed sync) into buf as TSV lines, or one JSON object
 * when json; returns the length (snprintf-like) or a negative gx_error.
 * Loop thread only (e.g. after gx_ps_run returns, or from the log callback). */
long gx_ps_stats(gx_ps *ps, char *buf, size_t cap, int json);

#ifdef __cplusplus
}
#endif
#endif
