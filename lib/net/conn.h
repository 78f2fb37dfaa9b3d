/*
 * net/conn.h — library-private networking: an epoll event loop in the style of
 * redis ae (file events + monotonic timers), socket helpers in the style of
 * redis anet, and framed connections (incremental decoding, output queue,
 * per-event byte caps). Used by lib/ps/ps.c (servers) and lib/kv/kv.c (the worker
 * client's I/O thread). Not part of the public interface; never prints.
 *
 * Threading: a gx_ev and the connections on it belong to the one thread that
 * runs the loop. gx_ev_wake is the only call safe from other threads.
 */
#ifndef GX_CONN_H
#define GX_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "gx_net.h"
#include "../base/buf.h"

/* ------------------------------------------------------------ event loop */

#define GX_EV_READ 1
#define GX_EV_WRITE 2
/* Errors and hang-ups only (EPOLLERR, EPOLLHUP), for a descriptor whose
 * reading and writing are paused: a peer's reset is seen all the same. It
 * is also reported, with the other bits watched, wherever they are. */
#define GX_EV_HUP 4

typedef struct gx_ev gx_ev;

/* Called when fd is ready for the events in mask (GX_EV_READ|GX_EV_WRITE|GX_EV_HUP). */
typedef void gx_ev_file_fn(gx_ev *ev, int fd, void *ud, int mask);
/* A timer: returns the delay in ms until it fires again, or -1 to end it. */
typedef long gx_ev_timer_fn(gx_ev *ev, long long id, void *ud);

/* A loop for descriptors below setsize (grows on demand). NULL on failure. */
gx_ev *gx_ev_create(int setsize);
/* Frees the loop and its timers; the descriptors watched are not closed
 * (close the gx_conns on it first). NULL is accepted. */
void gx_ev_free(gx_ev *ev);

/* Adds mask to the events watched on fd, with one callback and user data per
 * fd (a second add replaces them). 0 or GX_EIO. */
int gx_ev_add(gx_ev *ev, int fd, int mask, gx_ev_file_fn *fn, void *ud);
/* Stops watching the events in mask on fd; with no events left, forgets fd. */
void gx_ev_del(gx_ev *ev, int fd, int mask);
/* Events currently watched on fd. */
int gx_ev_mask(const gx_ev *ev, int fd);

/* A timer firing after ms milliseconds (monotonic clock). Returns its id
 * (> 0) or a negative gx_error. */
long long gx_ev_timer(gx_ev *ev, long ms, gx_ev_timer_fn *fn, void *ud);
/* Cancels a timer; safe from inside any callback, its own included. */
void gx_ev_timer_del(gx_ev *ev, long long id);

/* Waits once (at most timeout_ms, -1 forever, clipped to the next timer) and
 * runs the ready callbacks and due timers. Returns the number of events
 * processed or GX_EIO. Not to be called from inside a callback of the same
 * loop. */
int gx_ev_once(gx_ev *ev, int timeout_ms);
/* Runs gx_ev_once until gx_ev_stop. Returns 0 or GX_EIO. */
int gx_ev_run(gx_ev *ev);
/* Makes gx_ev_run return after the current iteration. Loop thread only. */
void gx_ev_stop(gx_ev *ev);
/* Wakes a loop blocked in epoll_wait; safe from any thread and from a signal
 * handler (it writes to an eventfd). The loop then runs its wake callback. */
void gx_ev_wake(gx_ev *ev);
/* The callback run on the loop thread after gx_ev_wake (NULL: none). */
void gx_ev_on_wake(gx_ev *ev, void (*fn)(gx_ev *ev, void *ud), void *ud);


/* --------------------------------------------------------------- sockets */


/* A listening TCP socket (SO_REUSEADDR, non-blocking, backlog 511). port 0
 * picks a free one (gx_net_port tells which). Returns the fd or GX_EIO with
 * a one-line reason in err. */
int gx_net_listen(const char *host, int port, char *err, size_t errcap);
/* A non-blocking UDP socket bound to host:port (0: any free port), or one
 * connected to host:port (a UDP connect sends nothing: it fixes the peer).
 * fd, or GX_EIO with a one-line reason in err. The datagram channels'
 * options: net/dgram.h. */
int gx_net_udp_bind(const char *host, int port, char *err, size_t errcap);
int gx_net_udp_connect(const char *host, int port, char *err, size_t errcap);
/* The local port a socket is bound to, or GX_EIO (errno set). */
int gx_net_port(int fd);
/* Accepts one connection, non-blocking, with TCP_NODELAY and keepalive.
 * Returns the fd, GX_ENEEDMORE when none is pending, or GX_EIO. peer gets
 * "ip:port". */
int gx_net_accept(int lfd, char *peer, size_t peercap);
/* Starts a non-blocking connect; returns the fd (connection in progress or
 * done) or GX_EIO with a reason in err. gx_net_connect_result tells, once the
 * fd is writable, whether it succeeded (0) or why not (errno value). */
int gx_net_connect(const char *host, int port, char *err, size_t errcap);
int gx_net_connect_result(int fd);
/* What a socket may receive at once, set before its connection starts (on
 * a listening socket: for every connection it accepts from then on). 0
 * leaves the kernel's choice. */
typedef struct gx_sockbuf {
	int rcvbuf; /* SO_RCVBUF, bytes */
	int mss;    /* TCP_MAXSEG: the largest segment the peer may send */
} gx_sockbuf;
/* Applies b (NULL: nothing); best effort, as the kernel rounds both. */
void gx_net_set_sockbuf(int fd, const gx_sockbuf *b);
/* gx_net_connect with b applied to the socket before it connects. */
int gx_net_connect_buf(const char *host, int port, const gx_sockbuf *b, char *err, size_t errcap);
/* The peer of a connected TCP socket as "ip:port" ("[ip]:port" for IPv6)
 * in buf; 0, or GX_EIO with "?" in buf (not connected, not TCP/IP). */
int gx_net_peer_name(int fd, char *buf, size_t cap);
/* The length of the address part of such a name ("ip:port", "[ip]:port");
 * two names with equal address parts are one source, for per-source caps. */
size_t gx_net_host_len(const char *name);
/* Nonzero when two such names have the same address, whatever their ports. */
int gx_net_same_host(const char *a, const char *b);
/* Of n connections named so, oldest first, the one to close when there are
 * too many: the oldest from the address with the most (ties: the address
 * whose oldest is older), found in one pass. A flood from one address so
 * displaces its own connections, never another's, and idle ones age
 * while genuine peers move on. Its index, or -1 when n is 0. */
long gx_net_evict_pick(const char *const *names, size_t n);
/* Socket options; 0 or GX_EIO. */
int gx_net_nonblock(int fd);
int gx_net_nodelay(int fd);
int gx_net_keepalive(int fd, int idle_s);

/* ---------------------------------------------------- framed connections */

typedef struct gx_conn gx_conn;

/* Per-direction traffic counters of a connection. */
typedef struct gx_conn_stats {
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
	uint64_t credit; /* the credit in force (gx_conn_set_credit; 0: none) */
} gx_conn_stats;

/* Called for every complete, validated frame; payload valid during the call.
 * The callback may send on any connection and may close this one (then the
 * rest of the buffered input is dropped). */
typedef void gx_conn_frame_fn(gx_conn *c, const gx_frame_hdr *h, const uint8_t *payload, void *ud);
/* Called once when the connection closes: err 0 for an orderly end of stream
 * or gx_conn_close, else the gx_error (or GX_EIO with errno) that ended it,
 * and a one-line reason. The connection is freed after this returns. */
typedef void gx_conn_close_fn(gx_conn *c, int err, const char *why, void *ud);
/* Called when a frame's header has arrived and its payload (of at least
 * 16 KiB, not yet whole) is being received: returns where
 * the payload_len bytes should go (gx_decoder_place: a buffer of the
 * owner's, handed to on_frame as the payload once the frame is whole), or
 * NULL for the connection's own. Plaintext connections only. */
typedef void *gx_conn_header_fn(gx_conn *c, const gx_frame_hdr *h, void *ud);

/* Wraps a connected non-blocking fd (takes ownership) on loop ev. lim bounds
 * incoming frames (NULL: defaults). Returns NULL on ENOMEM (fd closed). */
gx_conn *gx_conn_create(gx_ev *ev, int fd, const gx_frame_limits *lim, gx_conn_frame_fn *on_frame,
			gx_conn_close_fn *on_close, void *ud);
/* Queues a frame (header packed here; payload copied, payload_len bytes).
 * Writing happens from the loop, at most GX_CONN_WRITE_CAP bytes per event
 * (never inside this call). Returns 0, GX_ENOMEM, or GX_EIO if the
 * connection is closing; also GX_EINVAL for a NULL payload with payload_len
 * > 0, or gx_frame_hdr_check's error for a malformed header (size limits
 * are the receiver's and are not applied here). */
int gx_conn_send(gx_conn *c, const gx_frame_hdr *h, const void *payload);
/* Like gx_conn_send, but the payload (payload_len bytes at payload, inside
 * b) is queued by reference: c holds a reference to b until the bytes are
 * written, and nobody may change them until then. The same buffer can so
 * be queued on many connections at the cost of one. (Secure connections,
 * and payloads under a few KiB, copy as gx_conn_send does.) b NULL is
 * gx_conn_send. GX_EINVAL also when the payload is not inside b. */
int gx_conn_send_buf(gx_conn *c, const gx_frame_hdr *h, gx_buf *b, const void *payload);
/* Closes after the queued output is flushed (or at once when flush == 0),
 * calling on_close with err 0 and why. Safe inside callbacks. Reading stops
 * at once. Without output to flush, on_close runs before this returns,
 * except when called from this connection's own on_frame: then it runs
 * right after on_frame returns. With output to flush it runs from the loop
 * once the output is written (err 0) or the write fails (GX_EIO). */
void gx_conn_close(gx_conn *c, int flush, const char *why);
/* Makes c speak the secure protocol of secure.h as role (GX_SEC_CLIENT or
 * GX_SEC_SERVER) with pre-shared key psk (copied). Call right after
 * gx_conn_create, before anything was read. The handshake starts at once (a
 * client queues msg1); frames sent before it completes are held and sealed
 * when it does; on_frame sees only frames that arrived in authenticated
 * records. A handshake not done within timeout_ms (0: GX_SEC_HANDSHAKE_MS)
 * closes the connection with GX_ETIMEOUT; a failed one with its error
 * (GX_EAUTH, GX_EPROTO, ...) and gx_sec_why's reason, prefixed by the
 * connection's name. A flushing gx_conn_close ends the stream with a CLOSE
 * record; input that ends without one closes with GX_ETRUNC ("stream
 * truncated"). Returns 0, GX_ENOMEM, or GX_EINVAL (called too late). */
struct gx_key;
int gx_conn_secure(gx_conn *c, const struct gx_key *psk, int role, int timeout_ms);
/* gx_conn_secure for a server end that takes any key of ring (which must
 * outlive c): the key the peer proved it holds is then gx_conn_peer_key. */
int gx_conn_secure_ring(gx_conn *c, const gx_keyring *ring, int timeout_ms);
/* The key of c's established peer from its server's ring; NULL without a
 * ring or before the handshake is done. */
const struct gx_key *gx_conn_peer_key(const gx_conn *c);
/* The datagram key (net/dgram.h) of one direction of c's secure session
 * (send 1: the one this end sends in), for the caller to free; NULL on a
 * plaintext connection, before its handshake is done, or without memory. */
struct gx_dg_key;
struct gx_dg_key *gx_conn_datagram_key(const gx_conn *c, int send);
/* 1 when c is secure and its handshake is complete. */
int gx_conn_established(const gx_conn *c);
/* Bytes queued and not yet written. */
size_t gx_conn_pending(const gx_conn *c);
/* What waits ahead of a frame queued now: gx_conn_pending plus the bytes
 * the kernel holds unsent (SIOCOUTQNSD; 0 where the socket cannot tell).
 * A sender that finds one frame's worth or more waiting is sending as fast
 * as the path takes it (the path is the bottleneck, not what feeds it). */
size_t gx_conn_backlog(const gx_conn *c);
const gx_conn_stats *gx_conn_get_stats(const gx_conn *c);
void *gx_conn_ud(const gx_conn *c);
void gx_conn_set_ud(gx_conn *c, void *ud);
/* Sets (or with NULL clears) c's header callback. */
void gx_conn_set_on_header(gx_conn *c, gx_conn_header_fn *fn);
int gx_conn_fd(const gx_conn *c);
/* Milliseconds (gx_now_ms) when a byte last arrived — for heartbeats. */
uint64_t gx_conn_last_rx(const gx_conn *c);
/* A label used in log lines, e.g. "worker 3 (127.0.0.1:40112)". */
void gx_conn_set_name(gx_conn *c, const char *name);
/* Replaces the limits incoming frames are held to (NULL: defaults), from
 * the next frame's header on: a server holds a peer to a HELLO's size until
 * its HELLO is accepted. */
void gx_conn_set_limits(gx_conn *c, const gx_frame_limits *lim);
/* Backpressure: once a frame's handling leaves more than high bytes queued
 * on c (0: no bound), c stops reading and delivering frames until half of
 * them are written; input already read waits, in order. A peer that sends
 * requests without reading the answers so holds at most about high bytes
 * of them plus one frame's answer. For a server's accepted connections:
 * two ends that both bound and both stop reading could wait on each other. */
void gx_conn_set_out_bound(gx_conn *c, size_t high);
/* Credit: with bytes > 0, a tensor frame (INIT .. PULL_REPLY) that finds
 * bytes or more queued and not yet written waits, and frames waiting go
 * out by their header's priority (0 first; equal ones in the order sent)
 * as the queue drains below bytes; the kernel's unsent bytes are bounded to
 * the same (TCP_NOTSENT_LOWAT). Any other frame keeps its place: it goes
 * after every frame sent before it and before every one sent after it.
 * 0 (the default) queues everything at once, in the order sent.
 * GX_CREDIT_AUTO: the credit follows the rate the link drains (see
 * gx_net.h); a socket that is not TCP keeps GX_DEFAULT_CREDIT. */
void gx_conn_set_credit(gx_conn *c, size_t bytes);
/* The credit in force now (bytes; 0: none). */
size_t gx_conn_credit(const gx_conn *c);
/* Nonzero while c's reading is stopped by its bound. */
int gx_conn_paused(const gx_conn *c);
const char *gx_conn_name(const gx_conn *c);

/* ------------------------------------- protocol frames (conn_send.c) */

/* Sends a control frame (codec NONE, count 0) of the given type with key,
 * round and payload; 0 or the gx_conn_send error. */
int gx_send_ctl(gx_conn *c, int type, uint32_t key, uint32_t round, const void *payload, uint32_t len);
/* Sends ERROR with code and a printf-style message, then closes c after the
 * flush. */
void gx_send_error(gx_conn *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Bytes read or written per readiness event, so one busy peer cannot starve
 * the others. */
#define GX_CONN_READ_CAP (1u << 20)
#define GX_CONN_WRITE_CAP (1u << 20)

#endif
