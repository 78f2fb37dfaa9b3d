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
 *  - The start of each frame is read through a buffer on the stack
 *    (CONN_RBUF), so an idle connection holds no read buffer at all. A
 *    frame that lies whole in that buffer is handed to on_frame where it
 *    lies (gx_decoder_borrow); a frame cut by the read's end is copied into
 *    the decoder, and the rest of a large payload (CONN_INPLACE_MIN bytes or
 *    more missing) is received straight into the decoder's payload buffer
 *    (gx_decoder_room), so the kernel's copy is the only one. After a large
 *    frame the next header is read alone (head_first): a peer that sends
 *    blocks of a tensor pays one recv more per block, not a copy of its
 *    first CONN_RBUF bytes.
 *  - gx_conn_send copies the payload into the queue; gx_conn_send_buf
 *    queues a reference to a gx_buf instead (payloads of CONN_REF_MIN bytes
 *    or more on plaintext connections), so an answer fanned out to many
 *    connections is one buffer, not one copy each.
 *  - Closing while this connection's callback is on the stack only marks it;
 *    on_close runs and the memory is freed when the handler unwinds, so
 *    gx_conn_close from on_frame is safe, and on_close never runs inside
 *    the on_frame that asked for the close. Elsewhere (a timer, another
 *    connection's callback) on_close runs before gx_conn_close returns.
 *  - A flushing close ends with shutdown(SHUT_WR) and drains what the peer
 *    already sent before close(2): closing a socket with unread input makes
 *    the kernel send RST, which can destroy the last frames (an ERROR) in
 *    flight to the peer.
 *  - Output goes through a byte queue (net/bytequeue.h). Written segments
 *    of CONN_SPARE_MIN bytes or more are kept for reuse (at most
 *    CONN_SPARES, CONN_SPARE_MAX bytes in all, per connection) rather
 *    than freed: a large malloc is an mmap, and touching fresh pages costs a
 *    page fault each, which made up much of a server's CPU time when every
 *    round queued new multi-megabyte frames. A spare is reused for a frame
 *    it fits without wasting more than half of it; the spares are freed
 *    with the connection.
 *  - The secure layer is in conn_secure.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../base/passes.h"
#include "conn_internal.h"

static void conn_event(gx_ev *ev, int fd, void *ud, int mask);

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
	/* Every frame is handed to on_frame before the read buffer is used
	 * again, so whole frames need not be copied into the decoder. */
	gx_decoder_borrow(c->dec, 1);
	c->ev = ev;
	c->fd = fd;
	c->state = C_OPEN;
	c->on_frame = on_frame;
	c->on_close = on_close;
	c->ud = ud;
	gx_bq_pool_init(&c->pool, CONN_SPARES, CONN_SPARE_MIN, CONN_SPARE_MAX, 0);
	gx_bq_init(&c->out, &c->pool);
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
	free(c->backlog);
	gx_bq_clear(&c->out);
	conn_held_clear(c);
	if (c->sec)
		conn_sec_free(c);
	gx_bq_pool_clear(&c->pool);
	gx_decoder_free(c->dec);
	free(c);
}

/* Marks c closed and leaves the loop; finishes now unless c's handler is
 * on the stack (then the handler finishes it as it returns). */
void conn_shut(gx_conn *c, int err, const char *why)
{
	if (c->state == C_CLOSED)
		return;
	c->state = C_CLOSED;
	c->cerr = err;
	c->cerrno = err == GX_EIO ? errno : 0;
	if (why != c->why)
		snprintf(c->why, sizeof c->why, "%s", why ? why : "");
	if (c->sec && c->sec->timer) {
		gx_ev_timer_del(c->ev, c->sec->timer);
		c->sec->timer = 0;
	}
	gx_ev_del(c->ev, c->fd, GX_EV_READ | GX_EV_WRITE);
	if (!c->busy)
		conn_finish(c);
}

void conn_io_error(gx_conn *c, const char *what)
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

/* A decoder error ends the connection with the frame and byte it hit. */
static void frame_error(gx_conn *c, int rc)
{
	char why[CONN_WHY];
	snprintf(why, sizeof why, "frame %llu at byte %llu: %s%s",
		 (unsigned long long)c->st.frames_in, (unsigned long long)c->frame_start,
		 gx_strerror(rc),
		 rc == GX_EMAGIC && c->peer_secure
			 ? " (the peer speaks the secure protocol: no --key here?)"
			 : "");
	conn_shut(c, rc, why);
}

/* The decoder holds a whole frame: hand it to on_frame. */
static void deliver_frame(gx_conn *c)
{
	gx_frame_hdr h;
	const uint8_t *p;
	gx_decoder_frame(c->dec, &h, &p);
	c->head_first = h.payload_len >= CONN_INPLACE_MIN;
	c->st.frames_in++;
	c->frame_start = c->consumed;
	if (c->on_frame)
		c->on_frame(c, &h, p, c->ud);
	/* Answers piling up for a peer that does not read them: stop taking
	 * its requests (redis's client output buffer limit, as backpressure). */
	if (c->out_high && c->state == C_OPEN && gx_conn_pending(c) > c->out_high) {
		c->paused = 1;
		gx_ev_del(c->ev, c->fd, GX_EV_READ);
	}
}

/* Keeps n undelivered bytes for when reading resumes. */
static void backlog_keep(gx_conn *c, const uint8_t *b, size_t n)
{
	uint8_t *k = realloc(c->backlog, c->backlog_len + n);
	if (!k) {
		conn_shut(c, GX_ENOMEM, "out of memory keeping input while paused");
		return;
	}
	memcpy(k + c->backlog_len, b, n);
	c->backlog = k;
	c->backlog_len += n;
}

/* The output drained below half the bound: frames flow again, those kept
 * first. */
static void conn_resume(gx_conn *c)
{
	c->paused = 0;
	uint8_t *b = c->backlog;
	size_t n = c->backlog_len;
	c->backlog = NULL;
	c->backlog_len = 0;
	if (b) {
		conn_feed_frames(c, b, n);
		free(b);
	}
	if (c->sec && conn_reading(c))
		conn_sec_input(c);
	if (conn_reading(c) && gx_ev_add(c->ev, c->fd, GX_EV_READ, conn_event, c) != 0)
		conn_shut(c, GX_EIO, "cannot watch the socket again");
}

/* Feeds n bytes of the frame stream to the decoder, calling on_frame for
 * every frame, until the bytes are used or the connection closes. */
void conn_feed_frames(gx_conn *c, const uint8_t *buf, size_t n)
{
	size_t off = 0;
	while (off < n && c->state == C_OPEN && !c->paused) {
		size_t used = 0;
		int rc = gx_decoder_feed(c->dec, buf + off, n - off, &used);
		off += used;
		c->consumed += used;
		if (rc == 1) {
			deliver_frame(c);
		} else if (rc < 0) {
			frame_error(c, rc);
			return;
		}
	}
	if (off < n && c->paused && c->state == C_OPEN)
		backlog_keep(c, buf + off, n - off);
}

/* Whether input is read: while open, and while a flushing close waits for
 * the handshake that lets its frames out. */
int conn_reading(const gx_conn *c)
{
	return (c->state == C_OPEN && !c->paused) ||
	       (c->state == C_FLUSHING && c->sec && !gx_sec_established(c->sec->s));
}

/* The peer ended its stream: in order between frames, truncated inside one. */
static void conn_eof(gx_conn *c)
{
	if (gx_decoder_pending(c->dec)) {
		char why[CONN_WHY];
		snprintf(why, sizeof why, "connection closed inside a frame (frame %llu at byte %llu)",
			 (unsigned long long)c->st.frames_in, (unsigned long long)c->frame_start);
		conn_shut(c, GX_ETRUNC, why);
	} else {
		conn_shut(c, 0, "connection closed by peer");
	}
}

/* Reads up to GX_CONN_READ_CAP bytes. The start of each frame (its header
 * and whatever follows it in the same read) goes through a buffer on the
 * stack into the decoder; the rest of a large payload is received straight
 * into the decoder's payload buffer, so those bytes are copied once, by the
 * kernel, instead of twice. */
static void conn_read(gx_conn *c)
{
	uint8_t buf[CONN_RBUF];
	size_t budget = GX_CONN_READ_CAP;

	if (c->sec) {
		conn_sec_read(c);
		return;
	}
	while (budget > 0 && c->state == C_OPEN && !c->paused) {
		uint8_t *dst;
		size_t room = gx_decoder_room(c->dec, &dst);
		/* A large payload on its way: its owner may want it where it
		 * belongs (once per frame). */
		if (c->on_header && room >= CONN_INPLACE_MIN && c->asked != c->st.frames_in + 1) {
			c->asked = c->st.frames_in + 1;
			void *to = c->on_header(c, gx_decoder_header(c->dec), c->ud);
			if (to && gx_decoder_place(c->dec, to) == 0)
				room = gx_decoder_room(c->dec, &dst);
		}
		int inplace = room >= CONN_INPLACE_MIN;
		size_t want = inplace && room < CONN_INPLACE_RECV ? room : inplace ? CONN_INPLACE_RECV : sizeof buf;
		/* After a large frame, most likely another: its header alone,
		 * one recv more per large frame instead of copying up to
		 * sizeof buf of its payload out of the stack. */
		if (!inplace && c->head_first)
			want = room ? room : GX_FRAME_HDR_SIZE;
		if (want > budget)
			want = budget;
		ssize_t n = recv(c->fd, inplace ? dst : buf, want, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_io_error(c, "read");
			return;
		}
		if (n == 0) {
			conn_eof(c);
			return;
		}
		/* A secure client's msg1 where frames were expected. */
		if (!inplace && c->st.bytes_in == 0 && n >= 4 && memcmp(buf, "GXHS", 4) == 0)
			c->peer_secure = 1;
		budget -= (size_t)n;
		c->st.bytes_in += (uint64_t)n;
		c->last_rx = gx_now_ms();
		if (inplace) {
			c->consumed += (uint64_t)n;
			int rc = gx_decoder_commit(c->dec, (size_t)n);
			if (rc == 1)
				deliver_frame(c);
			else if (rc < 0)
				frame_error(c, rc);
		} else {
			conn_feed_frames(c, buf, (size_t)n);
		}
		/* A short read means the socket is empty: spare the recv that
		 * would say EAGAIN; level-triggered epoll reports new data. */
		if ((size_t)n < want)
			return;
	}
}

static void conn_write(gx_conn *c)
{
	uint64_t frames;
	if (c->aut.on)
		conn_auto_sample(c);
	long w = gx_bq_write(&c->out, c->fd, GX_CONN_WRITE_CAP, UINT64_MAX, &frames);
	if (w < 0) {
		conn_io_error(c, "write");
		return;
	}
	c->st.bytes_out += (uint64_t)w;
	c->st.frames_out += frames;
	int rc;
	if (c->held.n && c->state != C_CLOSED && (rc = conn_release(c, 0)) != 0) {
		conn_shut(c, rc, "cannot queue a held frame");
		return;
	}
	c->aut.backlog = c->out.head || c->held.n;
	if (c->paused && c->state == C_OPEN && gx_conn_pending(c) <= c->out_high / 2)
		conn_resume(c);
	if (c->state == C_CLOSED)
		return;
	if (!c->out.head) {
		gx_ev_del(c->ev, c->fd, GX_EV_WRITE);
		/* (a flushing close before the handshake completed still has
		 * its frames held) */
		if (c->state == C_FLUSHING && !(c->sec && c->sec->held.head)) {
			c->flushed = 1;
			conn_shut(c, 0, c->why);
		}
	}
}

static void conn_event(gx_ev *ev, int fd, void *ud, int mask)
{
	gx_conn *c = ud;
	c->busy++;
	if ((mask & GX_EV_READ) && conn_reading(c))
		conn_read(c);
	if ((mask & GX_EV_WRITE) && c->state != C_CLOSED)
		conn_write(c);
	c->busy--;
	if (c->state == C_CLOSED && !c->busy)
		conn_finish(c);
}

/* Appends a filled segment to the write queue and watches for writability;
 * 0, or GX_EIO (the segment is dropped). */
int conn_queue_seg(gx_conn *c, gx_bq_seg *k)
{
	if (!(gx_ev_mask(c->ev, c->fd) & GX_EV_WRITE) &&
	    gx_ev_add(c->ev, c->fd, GX_EV_WRITE, conn_event, c) != 0) {
		gx_bq_seg_put(&c->pool, k);
		return GX_EIO;
	}
	gx_bq_append(&c->out, k);
	return 0;
}

/* What every send checks: 0, or the error gx_conn_send returns. */
static int send_check(const gx_conn *c, const gx_frame_hdr *h, const void *payload)
{
	/* Structure only: the receiver's size limits are its own business. */
	static const gx_frame_limits nolim = { UINT32_MAX, UINT64_MAX };

	if (!c || !h || (h->payload_len && !payload))
		return GX_EINVAL;
	if (c->state != C_OPEN)
		return GX_EIO;
	return gx_frame_hdr_check(h, &nolim);
}

int conn_send_now(gx_conn *c, const gx_frame_hdr *h, gx_buf *b, const void *payload)
{
	/* Sealing copies anyway, and a small payload costs less to copy than
	 * to refer to. */
	if (b && !c->sec && h->payload_len >= CONN_REF_MIN) {
		gx_bq_seg *k = gx_bq_seg_get(&c->pool, GX_FRAME_HDR_SIZE);
		gx_bq_seg *r = k ? gx_bq_seg_ref(b, payload, h->payload_len) : NULL;
		if (!r) {
			gx_bq_seg_put(&c->pool, k);
			return GX_ENOMEM;
		}
		gx_frame_hdr_pack(h, k->data);
		k->len = GX_FRAME_HDR_SIZE;
		r->frames = 1;
		int rc = conn_queue_seg(c, k);
		if (rc != 0) {
			gx_bq_seg_put(&c->pool, r);
			return rc;
		}
		gx_bq_append(&c->out, r);
		return 0;
	}
	if (c->sec && gx_sec_established(c->sec->s)) {
		uint8_t hdr[GX_FRAME_HDR_SIZE];
		gx_frame_hdr_pack(h, hdr);
		return conn_sec_send(c, hdr, payload, h->payload_len);
	}
	size_t len = GX_FRAME_HDR_SIZE + (size_t)h->payload_len;
	gx_bq_seg *k = gx_bq_seg_get(&c->pool, len);
	if (!k)
		return GX_ENOMEM;
	k->len = len;
	k->frames = 1;
	gx_frame_hdr_pack(h, k->data);
	if (h->payload_len) {
		memcpy(k->data + GX_FRAME_HDR_SIZE, payload, h->payload_len);
		GX_PASS(GX_PASS_COPY, h->payload_len);
	}
	if (c->sec) {
		/* held until the handshake completes */
		gx_bq_append(&c->sec->held, k);
		return 0;
	}
	return conn_queue_seg(c, k);
}

int gx_conn_send(gx_conn *c, const gx_frame_hdr *h, const void *payload)
{
	return gx_conn_send_buf(c, h, NULL, payload);
}

int gx_conn_send_buf(gx_conn *c, const gx_frame_hdr *h, gx_buf *b, const void *payload)
{
	int rc = send_check(c, h, payload);
	if (rc != 0)
		return rc;
	const uint8_t *p = payload;
	if (b && h->payload_len && (p < b->data || p + h->payload_len > b->data + b->cap))
		return GX_EINVAL;
	if (conn_hold_wanted(c, h))
		return conn_hold(c, h, b, payload);
	return conn_send_now(c, h, b, payload);
}

void gx_conn_close(gx_conn *c, int flush, const char *why)
{
	if (!c || c->state == C_CLOSED)
		return;
	/* What waits for credit goes before the end (a CLOSE record). */
	if (flush && c->state == C_OPEN && c->held.n) {
		int rc = conn_release(c, 1);
		if (rc != 0) {
			conn_shut(c, rc, "cannot queue a held frame");
			return;
		}
	}
	if (flush && c->sec && c->state == C_OPEN) {
		if (gx_sec_established(c->sec->s)) {
			conn_sec_queue_close(c);
		} else if (c->sec->held.head) {
			/* the frames go out once the handshake is done:
			 * keep reading until then */
			c->state = C_FLUSHING;
			snprintf(c->why, sizeof c->why, "%s", why ? why : "");
			return;
		}
	}
	if (flush && c->state == C_FLUSHING)
		return;
	if (flush && c->out.head) {
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

int gx_conn_established(const gx_conn *c)
{
	return c && c->sec && gx_sec_established(c->sec->s);
}

size_t gx_conn_pending(const gx_conn *c)
{
	return c ? c->out.bytes + c->held_bytes + (c->sec ? c->sec->held.bytes : 0) : 0;
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

void gx_conn_set_on_header(gx_conn *c, gx_conn_header_fn *fn)
{
	if (c)
		c->on_header = fn;
}

int gx_conn_fd(const gx_conn *c)
{
	return c ? c->fd : -1;
}

uint64_t gx_conn_last_rx(const gx_conn *c)
{
	return c ? c->last_rx : 0;
}

void gx_conn_set_out_bound(gx_conn *c, size_t high)
{
	c->out_high = high;
}

int gx_conn_paused(const gx_conn *c)
{
	return c && c->paused;
}

void gx_conn_set_limits(gx_conn *c, const gx_frame_limits *lim)
{
	gx_decoder_set_limits(c->dec, lim);
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
