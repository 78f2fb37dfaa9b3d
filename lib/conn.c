/*
 * conn.c — framed connections on a gx_ev, built like redis' client handling
 * (src/networking.c): input is read in pieces and fed to the incremental
 * frame decoder, which validates each header against the limits before it
 * allocates; output is a queue of whole frames written with partial writes
 * in mind; both directions move at most a fixed number of bytes per
 * readiness event so one busy peer cannot starve the others.
 *
 * Choices:
 *  - gx_conn_send never writes: it queues the frame and watches for
 *    writability, and the loop writes on its next iteration. Sends made by
 *    one callback coalesce into one sendmsg, a write error is never reported
 *    from inside gx_conn_send, and the cost is one epoll round (microseconds).
 *  - Writes use sendmsg(MSG_NOSIGNAL), so a dead peer is an EPIPE error, never
 *    a SIGPIPE, whatever the program does with signals.
 *  - Input is read through a buffer on the stack (CONN_RBUF) and copied into
 *    the decoder, so an idle connection holds no read buffer at all.
 *  - Closing while this connection's callback is on the stack only marks it;
 *    on_close runs and the memory is freed when the handler unwinds, so
 *    gx_conn_close from on_frame is safe, and on_close never runs inside
 *    the on_frame that asked for the close. Elsewhere (a timer, another
 *    connection's callback) on_close runs before gx_conn_close returns.
 *  - A flushing close ends with shutdown(SHUT_WR) and drains what the peer
 *    already sent before close(2): closing a socket with unread input makes
 *    the kernel send RST, which can destroy the last frames (an ERROR) in
 *    flight to the peer.
 *  - Written chunks of CONN_SPARE_MIN bytes or more are kept for reuse (at
 *    most CONN_SPARES, CONN_SPARE_MAX bytes in all, per connection) rather
 *    than freed: a large malloc is an mmap, and touching fresh pages costs a
 *    page fault each, which made up much of a server's CPU time when every
 *    round queued new multi-megabyte frames. A spare is reused for a frame
 *    it fits without wasting more than half of it; the spares are freed
 *    with the connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net.h"

#define CONN_RBUF (64u << 10) /* bytes per recv; on the stack */
#define CONN_IOV 64           /* frames per sendmsg */
#define CONN_WHY 256
#define CONN_SPARES 4                 /* written chunks kept for reuse */
#define CONN_SPARE_MIN (64u << 10)    /* smaller ones are freed */
#define CONN_SPARE_MAX ((size_t)64 << 20) /* bytes kept in all */

enum { C_OPEN, C_FLUSHING, C_CLOSED };

typedef struct out_chunk {
	struct out_chunk *next;
	size_t cap;      /* bytes data can hold */
	size_t len, off; /* bytes in data, bytes already written */
	uint8_t data[];  /* packed header + payload */
} out_chunk;

struct gx_conn {
	gx_ev *ev;
	int fd;
	int state;
	int busy;          /* this connection's handler is on the stack */
	int flushed;       /* closing after a completed flush */
	gx_decoder *dec;
	gx_conn_frame_fn *on_frame;
	gx_conn_close_fn *on_close;
	void *ud;
	out_chunk *head, *tail;
	size_t pending;    /* queued bytes not yet written */
	out_chunk *spare[CONN_SPARES]; /* written chunks kept for reuse, oldest first */
	int nspare;
	size_t spare_bytes;
	gx_conn_stats st;
	uint64_t last_rx;
	uint64_t consumed;    /* input bytes fed to the decoder */
	uint64_t frame_start; /* input offset where the current frame began */
	int cerr;
	int cerrno;
	char why[CONN_WHY];
	char name[128];
};

static void conn_event(gx_ev *ev, int fd, void *ud, int mask);

/* A chunk for len bytes: a fitting spare or a new one. */
static out_chunk *chunk_get(gx_conn *c, size_t len)
{
	int best = -1;
	for (int i = 0; i < c->nspare; i++) {
		size_t cap = c->spare[i]->cap;
		if (cap >= len && cap / 2 <= len && (best < 0 || cap < c->spare[best]->cap))
			best = i;
	}
	if (best >= 0) {
		out_chunk *k = c->spare[best];
		c->spare_bytes -= k->cap;
		c->nspare--;
		memmove(&c->spare[best], &c->spare[best + 1],
			(size_t)(c->nspare - best) * sizeof c->spare[0]);
		return k;
	}
	out_chunk *k = malloc(sizeof *k + len);
	if (k)
		k->cap = len;
	return k;
}

/* Keeps a written chunk for reuse, dropping the oldest spares to make room,
 * or frees it. */
static void chunk_put(gx_conn *c, out_chunk *k)
{
	if (k->cap < CONN_SPARE_MIN || k->cap > CONN_SPARE_MAX) {
		free(k);
		return;
	}
	while (c->nspare > 0 &&
	       (c->nspare == CONN_SPARES || c->spare_bytes + k->cap > CONN_SPARE_MAX)) {
		out_chunk *o = c->spare[0];
		c->spare_bytes -= o->cap;
		c->nspare--;
		memmove(&c->spare[0], &c->spare[1], (size_t)c->nspare * sizeof c->spare[0]);
		free(o);
	}
	c->spare[c->nspare++] = k;
	c->spare_bytes += k->cap;
}

gx_conn *gx_conn_create(gx_ev *ev, int fd, const gx_frame_limits *lim, gx_conn_frame_fn *on_frame,
			gx_conn_close_fn *on_close, void *ud)
{
	if (!ev || fd < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	/* Whatever the caller did: a blocking socket would stall the loop. */
	gx_net_nonblock(fd);
	gx_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return NULL;
	}
	c->dec = gx_decoder_create(lim);
	if (!c->dec) {
		free(c);
		close(fd);
		return NULL;
	}
	c->ev = ev;
	c->fd = fd;
	c->state = C_OPEN;
	c->on_frame = on_frame;
	c->on_close = on_close;
	c->ud = ud;
	/* Silence counts from the connection's birth, so a peer that never
	 * says anything times out like one that went quiet. */
	c->last_rx = gx_now_ms();
	if (gx_net_peer_name(fd, c->name, sizeof c->name) != 0)
		snprintf(c->name, sizeof c->name, "fd %d", fd);
	if (gx_ev_add(ev, fd, GX_EV_READ, conn_event, c) != 0) {
		gx_decoder_free(c->dec);
		free(c);
		close(fd);
		return NULL;
	}
	return c;
}

/* Reads and throws away what the peer has already sent, up to a cap, so
 * the close that follows sends FIN rather than RST. */
static void drain_input(int fd)
{
	uint8_t buf[4096];
	size_t total = 0;
	while (total < GX_CONN_READ_CAP) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

/* The end: on_close, then the descriptor and the memory. */
static void conn_finish(gx_conn *c)
{
	if (c->on_close) {
		errno = c->cerrno;
		c->on_close(c, c->cerr, c->why, c->ud);
	}
	if (c->flushed) {
		shutdown(c->fd, SHUT_WR);
		drain_input(c->fd);
	}
	close(c->fd);
	for (out_chunk *k = c->head, *n; k; k = n) {
		n = k->next;
		free(k);
	}
	for (int i = 0; i < c->nspare; i++)
		free(c->spare[i]);
	gx_decoder_free(c->dec);
	free(c);
}

/* Marks c closed and leaves the loop; finishes now unless c's handler is
 * on the stack (then the handler finishes it as it returns). */
static void conn_shut(gx_conn *c, int err, const char *why)
{
	if (c->state == C_CLOSED)
		return;
	c->state = C_CLOSED;
	c->cerr = err;
	c->cerrno = err == GX_EIO ? errno : 0;
	if (why != c->why)
		snprintf(c->why, sizeof c->why, "%s", why ? why : "");
	gx_ev_del(c->ev, c->fd, GX_EV_READ | GX_EV_WRITE);
	if (!c->busy)
		conn_finish(c);
}

static void conn_io_error(gx_conn *c, const char *what)
{
	char why[2 * CONN_WHY]; /* cut to CONN_WHY by conn_shut */
	int e = errno;
	/* A failed flush keeps the reason the close was asked for. */
	if (c->state == C_FLUSHING)
		snprintf(why, sizeof why, "%s (flush failed: %s: %s)", c->why, what, strerror(e));
	else
		snprintf(why, sizeof why, "%s: %s", what, strerror(e));
	errno = e;
	conn_shut(c, GX_EIO, why);
}

static void conn_read(gx_conn *c)
{
	uint8_t buf[CONN_RBUF];
	size_t budget = GX_CONN_READ_CAP;

	while (budget > 0 && c->state == C_OPEN) {
		size_t want = budget < sizeof buf ? budget : sizeof buf;
		ssize_t n = recv(c->fd, buf, want, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_io_error(c, "read");
			return;
		}
		if (n == 0) {
			if (gx_decoder_pending(c->dec)) {
				char why[CONN_WHY];
				snprintf(why, sizeof why,
					 "connection closed inside a frame (frame %llu at byte %llu)",
					 (unsigned long long)c->st.frames_in,
					 (unsigned long long)c->frame_start);
				conn_shut(c, GX_ETRUNC, why);
			} else {
				conn_shut(c, 0, "connection closed by peer");
			}
			return;
		}
		budget -= (size_t)n;
		c->st.bytes_in += (uint64_t)n;
		c->last_rx = gx_now_ms();
		size_t off = 0;
		while (off < (size_t)n && c->state == C_OPEN) {
			size_t used = 0;
			int rc = gx_decoder_feed(c->dec, buf + off, (size_t)n - off, &used);
			off += used;
			c->consumed += used;
			if (rc == 1) {
				gx_frame_hdr h;
				const uint8_t *p;
				gx_decoder_frame(c->dec, &h, &p);
				c->st.frames_in++;
				c->frame_start = c->consumed;
				if (c->on_frame)
					c->on_frame(c, &h, p, c->ud);
			} else if (rc < 0) {
				char why[CONN_WHY];
				snprintf(why, sizeof why, "frame %llu at byte %llu: %s",
					 (unsigned long long)c->st.frames_in,
					 (unsigned long long)c->frame_start, gx_strerror(rc));
				conn_shut(c, rc, why);
				return;
			}
		}
		/* A short read means the socket is empty: spare the recv that
		 * would say EAGAIN; level-triggered epoll reports new data. */
		if ((size_t)n < want)
			return;
	}
}

static void conn_write(gx_conn *c)
{
	size_t budget = GX_CONN_WRITE_CAP;

	while (c->head && budget > 0) {
		struct iovec iov[CONN_IOV];
		size_t want = 0;
		int niov = 0;
		for (out_chunk *k = c->head; k && niov < CONN_IOV && want < budget; k = k->next) {
			size_t l = k->len - k->off;
			if (l > budget - want)
				l = budget - want;
			iov[niov].iov_base = k->data + k->off;
			iov[niov].iov_len = l;
			niov++;
			want += l;
		}
		struct msghdr m;
		memset(&m, 0, sizeof m);
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)niov;
		ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_io_error(c, "write");
			return;
		}
		size_t left = (size_t)w;
		budget -= left;
		c->pending -= left;
		c->st.bytes_out += left;
		while (left > 0) {
			out_chunk *k = c->head;
			size_t l = k->len - k->off;
			if (left < l) {
				k->off += left;
				break;
			}
			left -= l;
			c->head = k->next;
			if (!c->head)
				c->tail = NULL;
			chunk_put(c, k);
			c->st.frames_out++;
		}
		if ((size_t)w < want)
			return; /* the socket buffer is full */
	}
	if (!c->head) {
		gx_ev_del(c->ev, c->fd, GX_EV_WRITE);
		if (c->state == C_FLUSHING) {
			c->flushed = 1;
			conn_shut(c, 0, c->why);
		}
	}
}

static void conn_event(gx_ev *ev, int fd, void *ud, int mask)
{
	gx_conn *c = ud;
	c->busy++;
	if ((mask & GX_EV_READ) && c->state == C_OPEN)
		conn_read(c);
	if ((mask & GX_EV_WRITE) && c->state != C_CLOSED)
		conn_write(c);
	c->busy--;
	if (c->state == C_CLOSED && !c->busy)
		conn_finish(c);
}

int gx_conn_send(gx_conn *c, const gx_frame_hdr *h, const void *payload)
{
	/* Structure only: the receiver's size limits are its own business. */
	static const gx_frame_limits nolim = { UINT32_MAX, UINT64_MAX };

	if (!c || !h || (h->payload_len && !payload))
		return GX_EINVAL;
	if (c->state != C_OPEN)
		return GX_EIO;
	int rc = gx_frame_hdr_check(h, &nolim);
	if (rc != 0)
		return rc;
	size_t len = GX_FRAME_HDR_SIZE + (size_t)h->payload_len;
	out_chunk *k = chunk_get(c, len);
	if (!k)
		return GX_ENOMEM;
	k->next = NULL;
	k->len = len;
	k->off = 0;
	gx_frame_hdr_pack(h, k->data);
	if (h->payload_len)
		memcpy(k->data + GX_FRAME_HDR_SIZE, payload, h->payload_len);
	if (!(gx_ev_mask(c->ev, c->fd) & GX_EV_WRITE) &&
	    gx_ev_add(c->ev, c->fd, GX_EV_WRITE, conn_event, c) != 0) {
		chunk_put(c, k);
		return GX_EIO;
	}
	if (c->tail)
		c->tail->next = k;
	else
		c->head = k;
	c->tail = k;
	c->pending += len;
	return 0;
}

void gx_conn_close(gx_conn *c, int flush, const char *why)
{
	if (!c || c->state == C_CLOSED)
		return;
	if (flush && c->head) {
		if (c->state == C_OPEN) {
			c->state = C_FLUSHING;
			snprintf(c->why, sizeof c->why, "%s", why ? why : "");
			gx_ev_del(c->ev, c->fd, GX_EV_READ);
		}
		return;
	}
	if (flush)
		c->flushed = 1;
	conn_shut(c, 0, why);
}

size_t gx_conn_pending(const gx_conn *c)
{
	return c ? c->pending : 0;
}

const gx_conn_stats *gx_conn_get_stats(const gx_conn *c)
{
	return c ? &c->st : NULL;
}

void *gx_conn_ud(const gx_conn *c)
{
	return c ? c->ud : NULL;
}

void gx_conn_set_ud(gx_conn *c, void *ud)
{
	if (c)
		c->ud = ud;
}

int gx_conn_fd(const gx_conn *c)
{
	return c ? c->fd : -1;
}

uint64_t gx_conn_last_rx(const gx_conn *c)
{
	return c ? c->last_rx : 0;
}

void gx_conn_set_name(gx_conn *c, const char *name)
{
	if (c)
		snprintf(c->name, sizeof c->name, "%s", name ? name : "");
}

const char *gx_conn_name(const gx_conn *c)
{
	return c ? c->name : "";
}
