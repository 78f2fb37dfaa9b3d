/*
 * kv/gx_kv.h — the worker client of the parameter servers.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_KV_H
#define GX_KV_H

#include <stddef.h>
#include <stdint.h>
#include "../net/gx_net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------- worker client */

typedef struct gx_kv_opts {
	const char *servers;      /* "host:port[,...]": the local PS (or, flat, the global servers) */
	uint32_t rank;            /* worker rank within its party */
	uint32_t party;           /* data center id */
	uint64_t split_bound;     /* flat mode with several servers: as gx_ps_opts */
	double connect_timeout;   /* seconds */
	double heartbeat, heartbeat_timeout;
	double reconnect_timeout; /* seconds a broken link to a local server may
				   * take to be dialled again, the requests not
				   * answered sent again (0: the client fails at
				   * once); not to global servers (flat) */
	int restarted;            /* this worker's process was restarted: its first
				   * HELLO asks for its place back (a local server
				   * that kept it answers INIT with the place's
				   * rounds: gx_kv_round) */
	size_t credit;            /* bytes handed to a connection ahead of the
				   * wire: parts wait in priority order in the
				   * client until its queue holds less, and the
				   * kernel holds no more unsent (P3's credit;
				   * gx_conn_set_credit; GX_CREDIT_AUTO: tuned to
				   * the link). 0: 256 KiB queued, the kernel's
				   * buffer unbounded */
	gx_frame_limits limits;
	const uint8_t *psk;       /* 32-byte pre-shared key as gx_ps_opts; NULL: plaintext */
	gx_log_fn *log;           /* called on the client's I/O thread; NULL: silent */
	void *log_ud;
} gx_kv_opts;

void gx_kv_opts_default(gx_kv_opts *o);

/* The worker's side: one background I/O thread per client. A gx_kv may be
 * used from one application thread at a time. */
typedef struct gx_kv gx_kv;
/* A request handle (> 0); wait on it exactly once. */
typedef int64_t gx_kv_req;

/* Connects (retrying until connect_timeout) and says hello. NULL with *err. */
gx_kv *gx_kv_connect(const gx_kv_opts *o, int *err);
/* Registers the model: nkeys tensors, keys[i] of counts[i] elements, with
 * initial values values[i]. Blocks until the servers answered: then every
 * values[i] holds the value the global tier kept (the first worker's), so all
 * workers start identical. Returns 0 or a negative gx_error. */
int gx_kv_init(gx_kv *kv, size_t nkeys, const uint32_t *keys, const uint64_t *counts,
	       float *const *values);
/* Starts pushing gradient g of key (copied before return; under HFA sync,
 * the change of the worker's model since its last reply) and, for
 * pushpull, receiving the updated parameters into dst (which must stay valid
 * and untouched until the wait; the replies are received straight into it,
 * block by block, and a request that fails may leave some of them there).
 * priority 0 is the most urgent; equal priorities go in order. Returns a
 * handle or a negative gx_error. */
gx_kv_req gx_kv_push(gx_kv *kv, uint32_t key, const float *g, int priority);
gx_kv_req gx_kv_pushpull(gx_kv *kv, uint32_t key, const float *g, float *dst, int priority);
/* gx_kv_pushpull without its copy: g is lent, read where it lies while
 * the blocks go out, and must stay allocated and unchanged until the wait
 * for this request (gx_kv_wait or gx_kv_wait_all) has returned, whatever it
 * returns; the wait returns only once no connection holds g. dst NULL:
 * push only; else dst may not overlap g. Under an fp16 LAN g is encoded
 * at the call, as with gx_kv_pushpull. */
gx_kv_req gx_kv_pushpull_borrowed(gx_kv *kv, uint32_t key, const float *g, float *dst,
				  int priority);
/* Starts fetching the current parameters of key into dst (as pushpull's). */
gx_kv_req gx_kv_pull(gx_kv *kv, uint32_t key, float *dst, int priority);
/* The round key's next push carries: the pushes so far, counted from the
 * round the server named when it answered INIT — 0 for a job's first
 * workers, the job's current round for a worker that replaces a dead one
 * (geomx-ps --elastic), its place's round for a restarted one (restarted:
 * per key, the round after its last push, or that push's round while it
 * is being gathered). A negative gx_error for a key not registered. */
long gx_kv_round(const gx_kv *kv, uint32_t key);
/* Under an fp16 LAN: key's push residual, what rounding its pushes so far
 * kept back for the next (count floats, owned by kv), else NULL. Read, or
 * restored, by the thread that pushes, between its pushes: a worker's
 * checkpoint keeps it. */
float *gx_kv_residual(gx_kv *kv, uint32_t key);
/* Under an fp16 LAN: takes g through key's residual as a push of it would,
 * sending nothing — a restarted worker's push the servers already had.
 * 0 (also on an F32 LAN, where it does nothing) or a gx_error. */
int gx_kv_fold(gx_kv *kv, uint32_t key, const float *g);
/* Waits for one request; 0 or the gx_error that failed it. */
int gx_kv_wait(gx_kv *kv, gx_kv_req r);
/* Waits for every outstanding request; 0 or the first error. */
int gx_kv_wait_all(gx_kv *kv);
/* What the servers told the client to follow (their CONFIG, docs/
 * protocol.md), known once gx_kv_connect returned. */
typedef struct gx_kv_info {
	int sync;     /* enum gx_sync */
	uint32_t k1;  /* HFA: local optimizer steps between pushes (else 0) */
	uint32_t k2;  /* HFA: local rounds per global round (else 0) */
	int lan;      /* GX_LINK_NONE or GX_LINK_FP16: what pushes and replies use */
	uint32_t block; /* elements per block tensors travel in (0: whole) */
	int inside_step; /* restarted: its process had died inside a step, some
			  * of whose pushes were in: the values INIT gave of
			  * those are the step's results, not what the step
			  * is computed from (gx_kv_round names the step) */
} gx_kv_info;
void gx_kv_info_get(const gx_kv *kv, gx_kv_info *out);
/* Traffic so far, summed over the client's connections. */
int gx_kv_stats(gx_kv *kv, uint64_t *bytes_out, uint64_t *bytes_in);
/* Says goodbye (waits for outstanding requests and the servers' BYE) and
 * frees; returns 0 or the first error. gx_kv_free frees without goodbye. */
int gx_kv_close(gx_kv *kv);
void gx_kv_free(gx_kv *kv);

#ifdef __cplusplus
}
#endif
#endif
