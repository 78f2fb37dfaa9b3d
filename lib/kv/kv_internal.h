/*
 * kv_internal.h — library-private: the worker client's state, shared by
 * lib/kv/kv.c (the application side: the public gx_kv_* calls), lib/kv/kv_io.c
 * (the background I/O thread) and lib/kv/kv_dial.c (its dials). Not
 * installed; may change freely.
 *
 * Threads. The application thread makes requests; one I/O thread per client
 * runs a gx_ev loop that owns every socket, connection, send queue and
 * waiter list. They meet only under kv->mu:
 *  - application -> I/O: requests are appended to kv->subq under the mutex,
 *    then gx_ev_wake; the wake callback takes the whole queue;
 *  - I/O -> application: a finished request gets done = 1 and its result
 *    under the mutex and a broadcast of kv->cv; reply data has been written
 *    to the caller's buffer before, so the mutex orders those writes before
 *    the application's wakeup;
 *  - traffic counters are copied under the mutex after every loop iteration.
 * A request belongs to the application once it is done: the I/O thread drops
 * every reference to it (send heap, waiter list) before marking it done.
 *
 * Send order (the P3 scheduling issue builds on this). Each request is cut
 * into parts, one per slice of its key (the MultiGPS placement; one part
 * when unsplit); each part is one frame. Parts wait in a per-connection
 * binary heap ordered by (priority, order), order being a client-wide
 * counter taken in submission order, so priority 0 goes first and equal
 * priorities go FIFO. A part moves from the heap into the connection's own
 * byte queue (gx_tensor_send) only while that queue holds less than the
 * credit (gx_kv_opts.credit, else KV_LOW_WATER bytes; with a credit the
 * kernel's unsent bytes are bounded too): the heap, not the connection's FIFO, decides what goes
 * next, and an urgent request queued behind a bulk transfer overtakes every
 * part not yet handed over. The pump runs after every loop iteration, so a
 * connection that drained by a write event is refilled at once. Slicing
 * tensors into chunks (P3) only means more, smaller parts per request — the
 * part already carries (slice, offset, count) and the reply matching is per
 * slice — so an urgent request then overtakes a bulk one at chunk
 * boundaries instead of frame boundaries.
 */
#ifndef GX_KV_INTERNAL_H
#define GX_KV_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "gx_kv.h"
#include "../codec/gx_codec.h"
#include "../net/gx_net.h"
#include "../sched/gx_sched.h"
#include "../base/log.h"
#include "../net/conn.h"
#include "../wire/control.h"
#include "../net/secure.h"
#include "../net/dial.h"
#include "../base/buf.h"
#include "../base/heap.h"
#include "../sched/tensor_send.h"
#include "../base/passes.h"

/* Tensor payloads are copied with memcpy as little-endian float32 (as in
 * lib/codec/codec_internal.h). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "geomx payload code assumes a little-endian host"
#endif

/* A connection's own byte queue is refilled from the priority heap only
 * below this many bytes. Small enough that an urgent frame waits behind at
 * most this much already-committed data (plus the kernel's socket buffer),
 * large enough to keep a fast link busy between two loop iterations. */
#define KV_LOW_WATER (256u << 10) /* gx_kv_opts.credit 0 */
/* How often "waiting for" a server is logged while its dial retries. */
#define KV_WAIT_LOG_MS 2000

/* Waiter lists per slice: which reply type a part waits for. */
enum { KV_W_INIT, KV_W_PUSH, KV_W_PULL, KV_W__N };

struct kv_req;

/* One frame of a request: the slice it carries, its place in the send heap,
 * then (once handed to the connection) in its slice's waiter list. */
typedef struct kv_part {
	struct kv_req *r;
	uint32_t si;         /* index into kv->slices */
	uint64_t order;      /* FIFO within a priority */
	struct kv_part *next;
} kv_part;

typedef struct kv_req {
	gx_kv_req id;
	int type;            /* frame sent: GX_FT_INIT, GX_FT_PUSH or GX_FT_PULL */
	int prio;            /* 0 most urgent */
	uint32_t ki;         /* index into kv->keys */
	uint32_t round;      /* PUSH: the key's push counter at call time */
	float *dst;          /* reply goes here (whole tensor); NULL: discarded */
	gx_buf *buf;         /* payload, the whole tensor as F32 (F16 on an fp16
			      * LAN push); NULL for PULL. The connections
			      * send it by reference: the bytes do not change
			      * once the request is submitted */
	uint32_t nparts;
	uint32_t ready;      /* atomic: parts whose bytes are in buf (the
			      * application copies a push part by part after
			      * submitting it, so the first part travels while
			      * the rest is copied); the I/O thread sends part j
			      * only once ready > j */
	uint32_t unsent;     /* I/O: parts not yet handed to a connection */
	uint32_t left;       /* I/O: parts not yet answered */
	int err;             /* I/O: first error of a part */
	int lent;            /* under mu: buf is the caller's own array
			      * (gx_kv_pushpull_borrowed), and a connection
			      * may still hold it; cleared by its last
			      * release (lend_released) */
	struct gx_kv *kv;    /* for lend_released */
	int done;            /* under mu */
	int result;          /* under mu, once done */
	struct kv_req *qnext; /* submission queue; the free list in wait_all */
	kv_part parts[];
} kv_req;

typedef struct kv_key {
	uint32_t key;
	uint64_t count;
	uint32_t s0, ns;     /* its slices: kv->slices[s0 .. s0 + ns) */
	uint32_t rounds;     /* application thread: pushes so far */
	uint32_t init_round; /* I/O thread, before the INIT is done: the round
			      * its answer names, where this worker's pushes
			      * start (a replacement's, under --elastic); the
			      * largest over its slices */
	uint32_t init_lo;    /* ... and the smallest (a restarted worker's
			      * slices may differ by one) */
	int init_seen;
	gx_buf *spare;       /* under mu: a payload buffer (count floats) kept
			      * for the next request, so that a push does not
			      * allocate and page-fault in a fresh copy; it
			      * may still be queued on connections (refs > 1) */
	gx_ef *ef;           /* fp16 LAN, application thread: what the F16
			      * pushes have not carried yet (error feedback) */
	float *view;         /* fp16 LAN, I/O thread: the parameters as the
			      * server's replies built them */
} kv_key;

typedef struct kv_wq {
	kv_part *head, *tail;
} kv_wq;

typedef struct kv_slice {
	uint32_t ki, block;
	uint64_t off, count;
	int server;
	kv_wq wq[KV_W__N];   /* I/O: parts sent and not answered, in send order */
} kv_slice;

/* S_DIAL: connecting (dial.state says how far); S_HELLO: the connection is
 * open, HELLO sent; S_CONFIG: HELLO_ACK accepted, waiting for the CONFIG. */
enum { S_DIAL, S_HELLO, S_CONFIG, S_READY, S_BYE, S_CLOSED };

typedef struct kv_srv {
	struct gx_kv *kv;
	int idx;
	char host[256];
	int port;
	char addr[300];      /* as given, for log lines */
	int st;
	gx_dial dial;        /* S_DIAL .. S_CONFIG: reaching it */
	gx_conn *c;          /* S_HELLO .. S_BYE */
	uint64_t last_log;   /* last "waiting for" line */
	uint64_t ready_at, last_tx;
	gx_heap heap;        /* kv_part *s to send, by (prio, order) */
	uint64_t seq;
	gx_hello ack;
	gx_config cfg;
	int redial;          /* dialled again after a broken link */
} kv_srv;

enum { P_CONNECTING, P_READY, P_FAILED };

struct gx_kv {
	gx_kv_opts o;        /* o.servers not kept (the caller's string) */
	gx_key psk;          /* o.psk points here when set */
	int nsrv;
	kv_srv *srv;
	gx_ev *ev;
	gx_codec *dec;       /* I/O: decodes replies (any wire codec) */
	gx_codec *henc;      /* fp16 LAN, application thread: encodes pushes */
	pthread_t th;
	int th_started;

	/* I/O thread only */
	long long hk_timer;
	long hk_ms;
	int closing;
	uint64_t close_deadline;
	int io_exit;
	int io_model;        /* the model below may be read */
	uint64_t order;
	uint64_t gone_in, gone_out; /* bytes of connections already closed */

	/* what the servers' CONFIG says: written by the I/O thread before
	 * the connect completes (under mu), read-only afterwards */
	gx_kv_info info;

	/* the model: written by the application in gx_kv_init before the
	 * requests that publish it; read-only afterwards */
	int inited;
	size_t nkeys, nslices;
	kv_key *keys;        /* sorted by key */
	kv_slice *slices;    /* sorted by (key, block) */
	uint8_t *ktab;
	size_t ktab_len;

	/* shared, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int phase;
	int conn_err;
	int dead;            /* sticky: every request fails with it */
	int close_err;       /* first error seen while saying goodbye */
	kv_req *subq, *subq_tail;
	int send_ktab, req_close, req_stop;
	int io_done;
	kv_req **tab;        /* live requests by id: tab[id & (tab_cap - 1)] */
	uint64_t tab_cap;
	gx_kv_req lo, hi;    /* ids in [lo, hi) may be live */
	uint64_t bytes_in, bytes_out;
};

/* kv_io.c */
void *kv_io_main(void *arg);
void kv_io_on_wake(gx_ev *ev, void *ud);
/* A server's frames and close once its dial handed the connection over. */
void kv_conn_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *payload, void *ud);
void kv_conn_close(gx_conn *c, int err, const char *why, void *ud);
void *kv_conn_header(gx_conn *c, const gx_frame_hdr *h, void *ud);
/* The connect phase failed with err: gx_kv_connect is told, the I/O thread
 * ends. */
void kv_connect_failed(struct gx_kv *kv, int err);
/* kv_dial.c: starts the dial of every server (I/O thread). 0, or the
 * error that already failed the connect phase. */
int kv_start_dials(struct gx_kv *kv);
/* A server failed after the hello: every request fails with err, the
 * other links close (kv_io.c). */
void kv_fail(struct gx_kv *kv, int err);
/* A ready link to s broke: dials it again (kv_dial.c); 0 or a gx_error. */
int kv_redial(kv_srv *s);
/* After a restarted worker's INIT (gx_kv_opts.restarted; application
 * thread, kv_dial.c): every key's first round, and kv->info.inside_step.
 * 0 or GX_EPROTO. */
int kv_restart_rounds(gx_kv *kv);
/* Done with a request's payload buffer of key index ki (NULL: none): kept
 * as the key's spare, or released (connections may still hold it). Takes
 * mu. */
void kv_buf_put(struct gx_kv *kv, uint32_t ki, gx_buf *buf);
/* kv.c: the index of key in kv->keys (sorted), or -1. The table is fixed after
 * init, so either thread may call it. */
long kv_find_key(const struct gx_kv *kv, uint32_t key);
/* kv_dial.c: the servers' "host:port[,host:port...]" list into kv->srv
 * (gx_net_addr_list), and the options checked; 0 or a gx_error. */
int kv_parse_servers(struct gx_kv *kv, const char *list);
int kv_check_opts(const gx_kv_opts *o);
/* The send heap's order: (priority, order). */
int kv_part_less(const void *a, const void *b);
void kv_log(struct gx_kv *kv, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
