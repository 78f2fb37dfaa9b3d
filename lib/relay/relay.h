/*
 * relay.h — what the parts of the relay engine share: its interface
 * (relay.c), the forwarding of connections on the event loop (fwd.c), the
 * emulated link: token bucket, delay line, loss (shape.c; the queues are
 * net/bytequeue.h's), the WAN stage: secure
 * records and zstd (wan.c), and the statistics and log lines (stats.c).
 * Private to lib/relay/; gx_relay.h is the interface. See geomx-relay(1).
 *
 * A forwarded connection is a pair of sides: NEAR, the accepted connection,
 * and FAR, the one the relay makes to --connect. Bytes flow in two
 * directions: UP from NEAR to FAR, DOWN from FAR to NEAR. Each direction
 * reads its source side, turns what it reads into the plaintext stream
 * (opening secure records, undoing zstd), turns that into what its
 * destination side wants (zstd, secure records) and queues it; the queue
 * releases bytes to the destination when the emulated link lets them go.
 * All of it runs on one thread, the loop's.
 */
#ifndef GX_RELAY_H
#define GX_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "gx_relay.h"
#include "../base/gx_base.h"
#include "../wire/gx_wire.h"
#include "../net/conn.h"
#include "../net/bytequeue.h"
#include "../net/secure.h"
#include "../net/dial.h"
#include "link.h"

enum { UP = GX_RELAY_UP, DOWN = GX_RELAY_DOWN };
enum { NEAR = GX_RELAY_NEAR, FAR = GX_RELAY_FAR };

/* One chunk holds one sealed record of the largest size. */
#define RELAY_CHUNK (GX_SEC_RECORD_MAX + GX_SEC_OVERHEAD)
/* Parties whose keys a relay holding the job's key takes on its near side. */
#define RELAY_PARTIES 256 /* party keys a relay holding the job key takes */
#define RELAY_RANKS 256   /* worker keys a relay holding a party key takes */
/* A secure or compressed source's input buffer: two whole records. */
#define RELAY_IN_CAP (2 * RELAY_CHUNK)
/* Bytes read (written) per readiness event and direction, so one busy
 * connection cannot starve the others. */
#define RELAY_READ_CAP (1u << 20)
#define RELAY_WRITE_CAP (1u << 20)
#define RELAY_POOL 64         /* full-size chunks kept for reuse */
#define RELAY_SEGMENT GX_RELAY_SEGMENT
#define RELAY_HOLD_MIN_MS GX_RELAY_HOLD_MIN_MS
#define RELAY_SLACK_NS 1000000 /* a chunk due this soon is released now (fwd.c: arm_timer) */
#define RELAY_WAIT_LOG_MS 2000 /* "waiting for ..." lines */

typedef gx_relay_link shape_cfg;

typedef gx_relay_opts relay_cfg;

/* Bytes on their way to a destination (net/bytequeue.h): a segment of the
 * direction's queue, released at its release_ns. */
typedef gx_bq_seg chunk;

/* Counts geomx frames in a plaintext stream (64-byte headers, "GXFR",
 * payload length at byte 32); gives up for good on a stream that is not
 * (or stops being) one. */
enum { FC_UNKNOWN, FC_GEOMX, FC_OTHER };
typedef struct frame_count {
	int state;
	uint32_t hlen;  /* header bytes collected */
	uint64_t skip;  /* payload bytes still to pass */
	int in_frame;   /* a header was read, its payload not yet passed */
	uint8_t hdr[GX_FRAME_HDR_SIZE];
} frame_count;

struct pair;

typedef struct side {
	struct pair *p;
	int idx;       /* NEAR or FAR */
	int fd;        /* -1 before connecting or once closed */
	int secure;    /* speaks secure.h */
	int watch;     /* GX_EV_* watched */
	int hup_seen;  /* an orderly hang-up seen: GX_EV_HUP no longer watched */
	gx_sec *sec;
	/* handshake bytes read and not yet used */
	uint8_t hs[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
	size_t hs_len, hs_need;
	uint64_t hs_total; /* handshake bytes read in all */
	char name[80];     /* "127.0.0.1:40112", or --connect's HOST:PORT */
} side;

typedef struct dir {
	struct pair *p;
	int d;             /* UP or DOWN */
	side *src, *dst;
	/* source: a secure or compressed source's input not yet used */
	uint8_t *in;
	size_t in_off, in_len;
	const uint8_t *pl; /* plaintext (an opened record) or compressed input not yet used */
	size_t pl_len;
	ZSTD_DCtx *dz;     /* the source is the WAN side, --zstd */
	int dz_mid;        /* inside a zstd frame */
	int dz_more;       /* the decompressor may hold more output */
	int judged;        /* the WAN stream's first bytes were looked at */
	ZSTD_CCtx *cz;     /* the destination is the WAN side, --zstd */
	int cz_dirty;      /* fed since the last flush */
	int eof;           /* the source socket said end of stream */
	int ended;         /* the stream ended in order (FIN, or a CLOSE record) */
	int more;          /* wan_pump stopped at a full queue with input left */
	int fin_queued;    /* the end is queued (zstd end, CLOSE record) */
	int done;          /* the end was passed on: shutdown(SHUT_WR) */
	/* destination queue, oldest first */
	gx_bq q;           /* mem: what it holds, chunk overhead included;
			    * bytes: not yet written */
	long long timer;   /* release timer id, 0 none */
	uint64_t timer_at; /* ns it is set for */
	link_dir link;     /* the emulated link */
	frame_count fc;
	uint64_t nbytes;   /* written to the destination */
} dir;

enum { P_HANDSHAKE, P_CONNECTING, P_FAR_HANDSHAKE, P_OPEN };

typedef struct pair {
	struct gx_relay *r;
	uint64_t id;
	int state;
	int busy;        /* callbacks of this pair on the stack */
	int dead;        /* closed; freed when no longer busy */
	side s[2];
	dir d[2];
	long long hs_timer;
	uint64_t t_accept_ms;
	gx_dial dial;    /* P_CONNECTING: reaching the far side (net/dial.h) */
	struct pair *prev, *next;   /* every pair */
	struct pair *hprev, *hnext; /* pending handshakes, oldest first */
	int in_hs;
	char label[200]; /* "conn 7 (127.0.0.1:40112 > 127.0.0.1:7000)" */
} pair;

/* At most n lines per second; the rest are counted and said with the next. */
typedef struct ratelim {
	uint64_t t0_ms;
	unsigned n, shown, dropped;
} ratelim;

typedef struct dir_stats {
	uint64_t bytes_in, bytes_out, plain, frames, losses, queued;
	int frames_known;
	uint64_t last_in, last_out; /* at the previous line */
} dir_stats;

typedef struct relay_stats {
	uint64_t accepted, closed, aborted, refused;
	uint64_t hs_done, hs_failed, hs_dropped, far_failed;
	dir_stats d[2];
} relay_stats;

typedef struct gx_relay {
	relay_cfg cfg;
	gx_keyring *ring;   /* its near side's peers' keys (wan_hs_start) */
	uint64_t hold_ns;   /* a lost segment holds its stream this long */
	gx_ev *ev;
	int lfd, port;
	int listen_paused;
	pair *pairs;
	size_t npairs;
	pair *hs_head, *hs_tail;
	int nhs;
	uint64_t next_id;
	gx_bq_pool pool;   /* full-size chunks kept for reuse, for every pair */
	uint8_t *scratch;  /* RELAY_CHUNK: plaintext read before sealing or compressing */
	uint8_t *zbuf;     /* RELAY_CHUNK: compressor and decompressor output */
	relay_stats st;
	uint64_t t0_ns;
	uint64_t last_stats_ns;
	long long stats_timer;
	int stats_fd;      /* -1 none */
	uint64_t last_wait_log_ms;
	ratelim rl_hs, rl_drop, rl_refuse, rl_accept;
	int stopping;
	volatile int stop_asked; /* gx_relay_stop */
} relay;


/* ---- fwd.c: the relay, its connections */

/* Listens; 0 or a gx_error (logged why). */
int relay_start(relay *r);
/* Closes every connection (reset) and the listener. */
void relay_close_all(relay *r, const char *why);
void relay_release(relay *r);
/* Says a side of p failed the link or broke the protocol (err, a negative
 * gx_error, the cause): closes p, resetting both sides, with one log line.
 * Returns err, so a failing path reads `return pair_abort(p, GX_E..., ...)`. */
int pair_abort(pair *p, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Closes p at once (resetting both sides when reset) without a line;
 * freed once no callback of p is on the stack. */
void pair_kill(pair *p, int reset);
/* Queues len bytes (already in their wire form) toward d's destination,
 * stamped by the emulated link. 0, or GX_ENOMEM when p was aborted for it. */
int dir_queue(dir *d, const uint8_t *b, size_t len);
/* Queues chunk c (its len bytes are the wire form). */
void dir_queue_chunk(dir *d, chunk *c);
/* Nonzero when d's queue holds as much as it may. */
int dir_full(const dir *d);

/* ---- shape.c: the emulated link */

/* The release time of len bytes queued on d at now (0: at once when the
 * direction is not emulated); counts a lost segment in *lost. */
uint64_t shape_stamp(dir *d, size_t len, uint64_t now, int *lost);
/* Under a rate limit, the socket settings of d's source: a kernel receive
 * buffer of about a millisecond of the link, segments of a quarter of it
 * (8 KiB at least). */
gx_sockbuf shape_sockbuf(const relay *r, int d);
/* Bytes per read for d: small reads under a rate limit, so the link's
 * bursts stay short. */
size_t shape_read_size(const relay *r, int d);
/* Nonzero when direction d is emulated at all. */
int shape_active(const relay_cfg *c, int d);
/* ---- wan.c: the WAN stage (secure records, zstd) */

/* Sets up the direction's zstd streams as the options say; 0 or GX_ENOMEM. */
int wan_dir_init(dir *d);
void wan_dir_free(dir *d);
/* Starts the secure handshake on side s (a server waits, a client queues
 * its first message). 0, or a gx_error when p was closed (the cause). */
int wan_hs_start(pair *p, side *s);
/* Reads handshake bytes on side s and answers them. 0, 1 when the link is
 * established, a gx_error when p was closed (the log says why). */
int wan_hs_read(pair *p, side *s);
/* Reads d's source (up to RELAY_READ_CAP bytes, or until d's queue is
 * full) and passes what it read on. 0, or a gx_error when p was closed. */
int wan_read(dir *d);
/* Passes on input d holds (records, compressed bytes) while the queue has
 * room; at the end of the stream, queues the end. 0, or a gx_error when p
 * was closed. */
int wan_pump(dir *d);
/* Nonzero when d holds source input it has not passed on. */
int wan_buffered(const dir *d);
/* Closes p for the errno e of a read or write (what) on side s, with one
 * line ("X reset the connection"). Returns the gx_error (GX_EPEER for a
 * reset or close, else GX_EIO). */
int wan_io_fail(dir *d, side *s, int e, const char *what);

/* ---- stats.c: statistics and log lines */

/* A log line through the options' callback: level 0 error, 1 warning
 * (default), 2 info (-v), 3 debug (-vv). */
void rlog(const relay *r, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like rlog at level 1, at most lim->n lines per second. */
void rlog_limited(const relay *r, ratelim *lim, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Feeds n plaintext bytes of a stream to its frame counter; returns the
 * frames completed. */
uint64_t frames_feed(frame_count *fc, const uint8_t *b, size_t n);
/* Opens the statistics file (truncating it); 0 or GX_EIO (said why). */
int stats_open(relay *r);
/* Writes one JSON line; final says it is the last. */
void stats_line(relay *r, int final);
void stats_close(relay *r);

#endif
