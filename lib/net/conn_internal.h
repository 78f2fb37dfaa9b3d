/*
 * net/conn_internal.h — what the two halves of a framed connection share:
 * net/conn.c (reading, writing, sending, closing) and net/conn_secure.c
 * (the secure layer under the frame decoder). Private to lib/net.
 */
#ifndef GX_CONN_INTERNAL_H
#define GX_CONN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../base/heap.h"
#include "bytequeue.h"
#include "conn.h"
#include "secure.h"

#define CONN_RBUF (64u << 10) /* bytes per recv; on the stack */
#ifndef CONN_INPLACE_MIN /* (-D for experiments) */
#define CONN_INPLACE_MIN (16u << 10) /* payload bytes missing that are received in place */
#endif
#ifndef CONN_INPLACE_RECV
#define CONN_INPLACE_RECV (64u << 10) /* bytes per recv in place (larger is slower: docs/benchmarks.md) */
#endif
#ifndef CONN_REF_MIN
#define CONN_REF_MIN (16u << 10) /* payloads sent by reference, not copied (gx_conn_send_buf) */
#endif
#define CONN_WHY 256
#define CONN_SPARES 4                 /* written chunks kept for reuse */
#define CONN_SPARE_MIN (64u << 10)    /* smaller ones are freed */
#define CONN_SPARE_MAX ((size_t)64 << 20) /* bytes kept in all */
#define SEC_HS_BUF (GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD) /* input during the handshake */
#define SEC_IBUF (120u << 10) /* input once established: one record and room to read */

enum { C_OPEN, C_FLUSHING, C_CLOSED };

/* A credit tuned while running (GX_CREDIT_AUTO): the rate the kernel
 * drains the socket's unsent bytes, sampled at the wakes that find the
 * link still owed bytes (conn_held.c). */
typedef struct conn_auto {
	int on;
	int backlog;     /* the last write left bytes queued or held */
	uint64_t t0;     /* ns: when the current sample began */
	uint64_t sent0;  /* bytes the kernel had sent then */
	size_t q0;       /* and had unsent */
	double rate;     /* bytes/s the credit is made of */
	size_t lowat;    /* the TCP_NOTSENT_LOWAT set last */
} conn_auto;


/* The secure layer of a connection. */
typedef struct conn_sec {
	gx_sec *s;
	uint8_t *buf;    /* SEC_IBUF bytes once established, else NULL */
	size_t len;      /* input bytes held (in buf, or in hs before) */
	uint8_t hs[SEC_HS_BUF];
	gx_bq held;      /* frames sent before the handshake completed */
	long long timer; /* the handshake's deadline (0: none) */
	int ms;
	int got_close;   /* the peer's CLOSE record arrived */
} conn_sec;

struct gx_conn {
	gx_ev *ev;
	int fd;
	int state;
	int busy;          /* this connection's handler is on the stack */
	int flushed;       /* closing after a completed flush */
	gx_decoder *dec;
	gx_conn_frame_fn *on_frame;
	gx_conn_close_fn *on_close;
	gx_conn_header_fn *on_header;
	uint64_t asked;       /* frames_in + 1 of the frame on_header was asked about */
	void *ud;
	gx_bq out;         /* queued bytes not yet written */
	gx_bq_pool pool;   /* written segments kept for reuse */
	gx_conn_stats st;
	uint64_t last_rx;
	uint64_t consumed;    /* input bytes fed to the decoder */
	uint64_t frame_start; /* input offset where the current frame began */
	int cerr;
	int cerrno;
	int peer_secure;      /* plaintext, and the peer's first bytes were "GXHS" */
	int head_first;       /* the last frame was large: the next one's header
			       * is read alone, so its payload lands in place */
	size_t out_high;      /* gx_conn_set_out_bound: 0 none */
	int paused;           /* reading stopped until the output drains */
	uint8_t *backlog;     /* input read but not delivered when reading
			       * paused mid-buffer (at most one read's or
			       * record's worth) */
	size_t backlog_len;
	conn_sec *sec;        /* NULL: plaintext */
	conn_auto aut;        /* credit tuning, when on (the credit itself: st.credit) */
	gx_heap held;         /* frames waiting for credit (conn_held.c) */
	size_t held_bytes;
	uint64_t held_epoch, held_order;
	char why[CONN_WHY];
	char name[128];
};

/* conn.c */
/* Marks c closed with err and why and leaves the loop. */
void conn_shut(gx_conn *c, int err, const char *why);
/* A read or write failed (errno): closes c saying what. */
void conn_io_error(gx_conn *c, const char *what);
/* Whether input is read: while open, and while a flushing close waits for
 * the handshake that lets its frames out. */
int conn_reading(const gx_conn *c);
/* Feeds n bytes of the frame stream to the decoder and on to on_frame;
 * what a pause leaves undelivered is kept in the backlog. */
void conn_feed_frames(gx_conn *c, const uint8_t *buf, size_t n);
/* conn_secure.c: decrypts and delivers the records already read (after a
 * pause ends). */
void conn_sec_input(gx_conn *c);
/* Queues a filled segment and watches for writability; 0 or GX_EIO. */
int conn_queue_seg(gx_conn *c, gx_bq_seg *k);

/* Queues a frame now, past the credit (payload in b, or b NULL: copied);
 * 0 or a gx_error. */
int conn_send_now(gx_conn *c, const gx_frame_hdr *h, gx_buf *b, const void *payload);

/* conn_held.c */
/* Whether a frame must wait for credit rather than be queued now. */
int conn_hold_wanted(const gx_conn *c, const gx_frame_hdr *h);
/* Holds a frame (a reference to b, or a copy of the payload); 0 or GX_ENOMEM. */
int conn_hold(gx_conn *c, const gx_frame_hdr *h, gx_buf *b, const void *payload);
/* Moves held frames to the byte queue while it holds less than the credit
 * (all: every one); 0 or the first error of conn_send_now. */
int conn_release(gx_conn *c, int all);
/* Drops every held frame. */
void conn_held_clear(gx_conn *c);
/* Under GX_CREDIT_AUTO, before a write: a sample of the link's rate. */
void conn_auto_sample(gx_conn *c);
/* One sample of a tuned credit: sent bytes left the kernel in dt_ns; full
 * says the kernel had bytes unsent when the sample began, starved that it
 * had none when it ended. Updates a->rate; returns the credit. */
size_t conn_auto_update(conn_auto *a, uint64_t dt_ns, uint64_t sent, int full, int starved);

/* conn_secure.c */
/* Reads and opens what a secure connection has (handshake or records). */
void conn_sec_read(gx_conn *c);
/* Seals a frame (packed header, payload) and queues it; 0 or a gx_error. */
int conn_sec_send(gx_conn *c, const uint8_t hdr[GX_FRAME_HDR_SIZE], const uint8_t *payload,
		  size_t plen);
/* Queues the CLOSE record that ends a secure stream in order. */
void conn_sec_queue_close(gx_conn *c);
/* Frees the secure layer (its timer, held frames, buffers, keys). */
void conn_sec_free(gx_conn *c);

#endif
