/*
 * net/dial.h — library-private: reaching a server. One dialer for every
 * link geomx makes: a local server's links to the global servers
 * (lib/ps/ps_up.c), the worker client's links to its servers
 * (lib/kv/kv_dial.c) and the relay's far side (lib/relay/fwd.c).
 *
 * A dial runs on the caller's event loop, in stages:
 *  1. connect: a non-blocking connect to host:port. A failed attempt is
 *     retried after a backoff that doubles from GX_DIAL_BACKOFF_MIN_MS to
 *     GX_DIAL_BACKOFF_MAX_MS, for as long as the next attempt would start
 *     before the deadline (timeout_ms after gx_dial_start).
 *  2. raw dials (no hello; the relay, which speaks its own secure records
 *     on the bare socket) end here: on_ready gets the connected descriptor.
 *  3. framed dials: a gx_conn on the socket, made secure (gx_conn_secure,
 *     client side) when psk is set, is handed to on_open; HELLO goes out
 *     (docs/protocol.md) and the dialer reads the answer: HELLO_ACK, whose
 *     protocol version it checks before anything else, then CONFIG. Each
 *     is shown to the caller's check before it is accepted; then on_ready.
 * Until on_ready the dialer reads every frame of the connection; from then
 * on they go to the caller's on_frame. The deadline covers every stage.
 *
 * Errors, one per cause, as on_fail reports them:
 *   GX_ETIMEOUT  the deadline passed (why: the last attempt's reason, or
 *                "no answer to our HELLO within N s" once connected)
 *   GX_EPROTO    the server broke the protocol (a frame other than the one
 *                expected, a malformed HELLO_ACK or CONFIG, a CONFIG that
 *                contradicts the HELLO_ACK), or speaks another protocol
 *                version: "it speaks protocol version 2, this program
 *                speaks version 1". The dialer sends ERROR with the reason.
 *   GX_EREFUSED  the server answered ERROR (why: its message)
 *   GX_EPEER     the connection closed during the hello
 *   GX_ENOMEM, GX_EIO  no memory, no timer
 *   anything a check returns (then ERROR is sent only for GX_EPROTO)
 * The reason of a failed connect attempt (d->why, and on_fail's why for
 * GX_ETIMEOUT) reads inside a sentence: "connection refused", not
 * "cannot connect to 127.0.0.1:1: Connection refused".
 *
 * Threading: the loop's thread only. Callbacks may run before
 * gx_dial_start returns (an attempt that fails at once).
 */
#ifndef GX_DIAL_H
#define GX_DIAL_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "../wire/control.h"

#define GX_DIAL_BACKOFF_MIN_MS 50
#define GX_DIAL_BACKOFF_MAX_MS 1000

/* Where a dial is; readable by the caller, written only by the dialer. */
enum {
	GX_DIAL_IDLE,       /* not started, cancelled, or over (ready or failed) */
	GX_DIAL_WAIT,       /* an attempt failed; the next one is due */
	GX_DIAL_CONNECTING, /* a connect is in progress */
	GX_DIAL_HELLO,      /* framed: HELLO sent, waiting for HELLO_ACK */
	GX_DIAL_CONFIG,     /* framed: HELLO_ACK accepted, waiting for CONFIG */
};

typedef struct gx_dial gx_dial;

/* The caller's side of a dial; ud is gx_dial_opts.ud. Only on_ready and
 * on_fail are required. Every callback may call gx_dial_cancel. */
typedef struct gx_dial_cbs {
	/* An attempt failed (d->why says why); another follows the backoff. */
	void (*on_retry)(gx_dial *d, void *ud);
	/* Framed: the connection exists and its HELLO is queued. From now on
	 * the connection is the caller's to close, and the caller's on_close
	 * runs when it closes, in any stage. */
	void (*on_open)(gx_dial *d, gx_conn *c, void *ud);
	/* Framed: the HELLO_ACK (version and form already checked) and the
	 * CONFIG (already checked against the HELLO_ACK and our HELLO). Return
	 * 0 to accept, or a negative gx_error with a reason in why. */
	int (*check_ack)(gx_dial *d, const gx_hello *ack, char *why, size_t cap, void *ud);
	int (*check_config)(gx_dial *d, const gx_config *cfg, char *why, size_t cap, void *ud);
	/* Done. Raw: fd is the connected socket, now the caller's. Framed: fd
	 * is -1; d->c, d->ack and d->cfg hold the result. */
	void (*on_ready)(gx_dial *d, int fd, void *ud);
	/* Failed for good (the table above). Nothing of the dial is left but
	 * a connection handed to on_open, which the dialer has closed (after
	 * flushing its ERROR when it sent one): its on_close follows, or ran
	 * just before when the close is what failed the dial. */
	void (*on_fail)(gx_dial *d, int err, const char *why, void *ud);
} gx_dial_cbs;

typedef struct gx_dial_opts {
	const char *host;            /* as gx_net_connect takes it */
	int port;                    /* 1..65535 */
	long timeout_ms;             /* the deadline, from gx_dial_start; >= 0 */
	const gx_dial_cbs *cb;
	void *ud;
	/* Where the descriptor of a connect in progress is kept (-1 when
	 * none); NULL: inside the dialer. A caller whose own teardown closes
	 * that descriptor (and sets it to -1) passes its own. */
	int *fdp;
	gx_sockbuf sb;               /* set on the socket before it connects
				      * (zero: the kernel's) */
	/* Framed dials (hello != NULL) */
	const gx_hello *hello;       /* copied; proto and name are filled in */
	const gx_key *psk;           /* secure when set (copied by the conn) */
	const gx_frame_limits *lim;  /* NULL: defaults */
	const char *label;           /* the connection's name, e.g. "server HOST:PORT" (copied) */
	const char *sender;          /* prefix of the ERROR messages we send; NULL none */
	gx_conn_frame_fn *on_frame;  /* after on_ready */
	gx_conn_close_fn *on_close;  /* after on_open */
	gx_conn_header_fn *on_header; /* optional, after on_ready */
	int retry_closed;            /* a connection closed or reset before the
				      * hello is answered is one more failed
				      * attempt, not the dial's end: for a link
				      * dialled again, whose relay may be
				      * restarting */
} gx_dial_opts;

struct gx_dial {
	int state;                   /* GX_DIAL_* */
	char why[160];               /* the last failed attempt's reason ("" none) */
	gx_conn *c;                  /* from on_open until its close */
	gx_hello ack;                /* framed, once accepted */
	gx_config cfg;               /* framed, once on_ready */
	int ready;                   /* on_ready ran: frames go to the caller */
	/* private */
	gx_ev *ev;
	gx_dial_opts o;
	gx_hello hello;
	char label[128];
	int fd;
	long backoff_ms;
	long long timer;             /* retry (WAIT) */
	long long dl_timer;          /* the deadline */
	uint64_t deadline;           /* ms, gx_now_ms */
};

/* Starts a dial on loop ev into d (caller-owned; its previous content is
 * ignored), copying o, hello and label (host and sender must outlive the
 * dial). d must stay where it is until the dial is over and any
 * connection it handed over has closed: that connection's callbacks are
 * the dialer's, passing on to the caller's. The first attempt is made at once. 0, or GX_EINVAL (a bad
 * option), GX_ENOMEM/GX_EIO (no timer): then no callback has run. */
int gx_dial_start(gx_dial *d, gx_ev *ev, const gx_dial_opts *o);

/* Stops a dial in progress without a callback: the connect in progress
 * and the timers go. A connection handed to on_open stays open: the
 * caller closes it (its on_close follows; on_fail does not). Returns 0;
 * a dial that is over, or was never started after a zeroed d, is left
 * as it is. */
int gx_dial_cancel(gx_dial *d);

/* The HELLO name field of this process: "HOST:PID", the host name cut to
 * fit and every byte outside printable ASCII shown as '?'. 0. */
int gx_dial_hello_name(char *name, size_t cap);

/* A connect failure's reason as it reads inside a sentence: gx_net_connect's
 * "cannot connect to WHERE: " dropped, strerror's capital lowered
 * ("connection refused"). 0. */
int gx_dial_reason(char *out, size_t cap, const char *why);

#endif
