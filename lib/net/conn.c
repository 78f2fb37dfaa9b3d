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
 *  - Output goes through a byte queue (net/bytequeue.h). Written segments
 *    of CONN_SPARE_MIN bytes or more are kept for reuse (at most
 *    CONN_SPARES, CONN_SPARE_MAX bytes in all, per connection) rather
 *    than freed: a large malloc is an mmap, and touching fresh pages costs a
 *    page fault each, which made up much of a server's CPU time when every
 *    round queued new multi-megabyte frames. A spare is reused for a frame
 *    it fits without wasting more than half of it; the spares are freed
 *    with the connection.
 *
 * Secure connections (gx_conn_secure, secure.h) add a layer under the frame
 * decoder and above the socket:
 *  - Input goes into a per-connection buffer and is used in place: the
 *    handshake from a small fixed buffer (SEC_HS_BUF, so a flood of
 *    half-open handshakes costs little memory), then records opened in
 *    place in SEC_IBUF bytes, allocated once the handshake succeeded and
 *    kept for the connection's life (below glibc's mmap threshold, and
 *    never allocated and freed per event). What stays buffered beyond the
 *    record being opened is less than one record.
 *  - Frames sent before the handshake completes wait, unsealed, in a list
 *    of their own; once established they are sealed in order and queued.
 *    Later frames are sealed inside gx_conn_send straight into their chunk,
 *    each frame a run of records of its own, so the write queue and its
 *    partial writes work as for plaintext. Handshake messages and the
 *    client's CONFIRM are queued as raw chunks that count as no frame.
 *  - A plaintext peer (its first bytes are a frame header) gets one
 *    plaintext ERROR frame saying why before the close, so its log names
 *    the cause too; it is written once, best effort, never queued.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn.h"
#include "../wire/control.h"
#include "bytequeue.h"
#include "secure.h"

#define CONN_RBUF (64u << 10) /* bytes per recv; on the stack */
#define CONN_INPLACE_MIN (16u << 10) /* payload bytes missing that are received in place */
#define CONN_REF_MIN (16u << 10) /* payloads sent by reference, not copied (gx_conn_send_buf) */
#define CONN_WHY 256
#define CONN_SPARES 4                 /* written chunks kept for reuse */
#define CONN_SPARE_MIN (64u << 10)    /* smaller ones are freed */
#define CONN_SPARE_MAX ((size_t)64 << 20) /* bytes kept in all */
#define SEC_HS_BUF (GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD) /* input during the handshake */
#define SEC_IBUF (120u << 10) /* input once established: one record and room to read */

enum { C_OPEN, C_FLUSHING, C_CLOSED };


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
	conn_sec *sec;        /* NULL: plaintext */
	char why[CONN_WHY];
	char name[128];
};

static void conn_event(gx_ev *ev, int fd, void *ud, int mask);
static void sec_read(gx_conn *c);

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
	gx_bq_clear(&c->out);
	if (c->sec) {
		conn_sec *cs = c->sec;
		if (cs->timer)
			gx_ev_timer_del(c->ev, cs->timer);
		gx_bq_clear(&cs->held);
		free(cs->buf);
		gx_sec_free(cs->s);
		free(cs);
	}
	gx_bq_pool_clear(&c->pool);
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
	if (c->sec && c->sec->timer) {
		gx_ev_timer_del(c->ev, c->sec->timer);
		c->sec->timer = 0;
	}
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
	c->st.frames_in++;
	c->frame_start = c->consumed;
	if (c->on_frame)
		c->on_frame(c, &h, p, c->ud);
}

/* Feeds n bytes of the frame stream to the decoder, calling on_frame for
 * every frame, until the bytes are used or the connection closes. */
static void feed_frames(gx_conn *c, const uint8_t *buf, size_t n)
{
	size_t off = 0;
	while (off < n && c->state == C_OPEN) {
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
}

/* Whether input is read: while open, and while a flushing close waits for
 * the handshake that lets its frames out. */
static int conn_reading(const gx_conn *c)
{
	return c->state == C_OPEN ||
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
		sec_read(c);
		return;
	}
	while (budget > 0 && c->state == C_OPEN) {
		uint8_t *dst;
		size_t room = gx_decoder_room(c->dec, &dst);
		int inplace = room >= CONN_INPLACE_MIN;
		size_t want = inplace ? room : sizeof buf;
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
			feed_frames(c, buf, (size_t)n);
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
	long w = gx_bq_write(&c->out, c->fd, GX_CONN_WRITE_CAP, UINT64_MAX, &frames);
	if (w < 0) {
		conn_io_error(c, "write");
		return;
	}
	c->st.bytes_out += (uint64_t)w;
	c->st.frames_out += frames;
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
static int queue_seg(gx_conn *c, gx_bq_seg *k)
{
	if (!(gx_ev_mask(c->ev, c->fd) & GX_EV_WRITE) &&
	    gx_ev_add(c->ev, c->fd, GX_EV_WRITE, conn_event, c) != 0) {
		gx_bq_seg_put(&c->pool, k);
		return GX_EIO;
	}
	gx_bq_append(&c->out, k);
	return 0;
}

static int sec_send(gx_conn *c, const uint8_t hdr[GX_FRAME_HDR_SIZE], const uint8_t *payload,
		    size_t plen);

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

int gx_conn_send(gx_conn *c, const gx_frame_hdr *h, const void *payload)
{
	int rc = send_check(c, h, payload);
	if (rc != 0)
		return rc;
	if (c->sec && gx_sec_established(c->sec->s)) {
		uint8_t hdr[GX_FRAME_HDR_SIZE];
		gx_frame_hdr_pack(h, hdr);
		return sec_send(c, hdr, payload, h->payload_len);
	}
	size_t len = GX_FRAME_HDR_SIZE + (size_t)h->payload_len;
	gx_bq_seg *k = gx_bq_seg_get(&c->pool, len);
	if (!k)
		return GX_ENOMEM;
	k->len = len;
	k->frames = 1;
	gx_frame_hdr_pack(h, k->data);
	if (h->payload_len)
		memcpy(k->data + GX_FRAME_HDR_SIZE, payload, h->payload_len);
	if (c->sec) {
		/* held until the handshake completes */
		gx_bq_append(&c->sec->held, k);
		return 0;
	}
	return queue_seg(c, k);
}

int gx_conn_send_buf(gx_conn *c, const gx_frame_hdr *h, gx_buf *b, const void *payload)
{
	int rc = send_check(c, h, payload);
	if (rc != 0)
		return rc;
	const uint8_t *p = payload;
	if (b && h->payload_len && (p < b->data || p + h->payload_len > b->data + b->cap))
		return GX_EINVAL;
	/* Sealing copies anyway, and a small payload costs less to copy than
	 * to refer to. */
	if (!b || c->sec || h->payload_len < CONN_REF_MIN)
		return gx_conn_send(c, h, payload);
	gx_bq_seg *k = gx_bq_seg_get(&c->pool, GX_FRAME_HDR_SIZE);
	gx_bq_seg *r = k ? gx_bq_seg_ref(b, p, h->payload_len) : NULL;
	if (!r) {
		gx_bq_seg_put(&c->pool, k);
		return GX_ENOMEM;
	}
	gx_frame_hdr_pack(h, k->data);
	k->len = GX_FRAME_HDR_SIZE;
	r->frames = 1;
	if ((rc = queue_seg(c, k)) != 0) {
		gx_bq_seg_put(&c->pool, r);
		return rc;
	}
	gx_bq_append(&c->out, r);
	return 0;
}

static void sec_queue_close(gx_conn *c);

void gx_conn_close(gx_conn *c, int flush, const char *why)
{
	if (!c || c->state == C_CLOSED)
		return;
	if (flush && c->sec && c->state == C_OPEN) {
		if (gx_sec_established(c->sec->s)) {
			sec_queue_close(c);
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

/* ------------------------------------------------------------- secure */

/* Queues n raw bytes (handshake messages) that count as no frame. */
static int queue_raw(gx_conn *c, const uint8_t *p, size_t n)
{
	gx_bq_seg *k = gx_bq_seg_get(&c->pool, n);
	if (!k)
		return GX_ENOMEM;
	memcpy(k->data, p, n);
	k->len = n;
	k->off = 0;
	k->frames = 0;
	return queue_seg(c, k);
}

/* Seals a frame given as its packed header and payload into one chunk of
 * records and queues it. The first record joins the header to the
 * payload's start through a buffer on the stack; the rest is sealed
 * straight from the payload. */
static int sec_send(gx_conn *c, const uint8_t hdr[GX_FRAME_HDR_SIZE], const uint8_t *payload,
		    size_t plen)
{
	uint8_t first[GX_SEC_RECORD_MAX];
	size_t total = GX_FRAME_HDR_SIZE + plen, wire = gx_sec_sealed_len(total);
	size_t f = total < GX_SEC_RECORD_MAX ? total : GX_SEC_RECORD_MAX;

	gx_bq_seg *k = gx_bq_seg_get(&c->pool, wire);
	if (!k)
		return GX_ENOMEM;
	memcpy(first, hdr, GX_FRAME_HDR_SIZE);
	if (f > GX_FRAME_HDR_SIZE)
		memcpy(first + GX_FRAME_HDR_SIZE, payload, f - GX_FRAME_HDR_SIZE);
	long w = gx_sec_seal(c->sec->s, GX_SEC_DATA, first, f, k->data);
	if (w >= 0 && total > f) {
		long w2 = gx_sec_seal_stream(c->sec->s, payload + (f - GX_FRAME_HDR_SIZE), total - f,
					     k->data + w);
		w = w2 < 0 ? w2 : w + w2;
	}
	if (w < 0) {
		gx_bq_seg_put(&c->pool, k);
		return (int)w;
	}
	k->len = wire;
	k->off = 0;
	k->frames = 1;
	return queue_seg(c, k);
}

/* Ends the stream in order: a CLOSE record, best effort (without it the
 * peer reports a truncated stream). */
static void sec_queue_close(gx_conn *c)
{
	gx_bq_seg *k = gx_bq_seg_get(&c->pool, GX_SEC_OVERHEAD);
	if (!k)
		return;
	if (gx_sec_seal(c->sec->s, GX_SEC_CLOSE, NULL, 0, k->data) != GX_SEC_OVERHEAD) {
		gx_bq_seg_put(&c->pool, k);
		return;
	}
	k->len = GX_SEC_OVERHEAD;
	k->off = 0;
	k->frames = 0;
	queue_seg(c, k);
}

/* The handshake just completed; rest (restlen bytes, records) came after
 * it. Takes the record buffer, seals the held frames and, for a flushing
 * close that waited for this, ends the stream. 0, or -1 when it closed c. */
static int sec_up(gx_conn *c, const uint8_t *rest, size_t restlen)
{
	conn_sec *cs = c->sec;
	char why[CONN_WHY];

	if (cs->timer) {
		gx_ev_timer_del(c->ev, cs->timer);
		cs->timer = 0;
	}
	cs->buf = malloc(SEC_IBUF);
	if (!cs->buf) {
		snprintf(why, sizeof why, "%s: out of memory", c->name);
		conn_shut(c, GX_ENOMEM, why);
		return -1;
	}
	memmove(cs->buf, rest, restlen);
	cs->len = restlen;
	while (cs->held.head) {
		gx_bq_seg *k = cs->held.head, *z;
		size_t wire = gx_sec_sealed_len(k->len);
		long w = GX_ENOMEM;
		cs->held.head = k->next;
		if (!cs->held.head)
			cs->held.tail = NULL;
		cs->held.bytes -= k->len;
		cs->held.mem -= gx_bq_seg_cost(k);
		if ((z = gx_bq_seg_get(&c->pool, wire)) != NULL)
			w = gx_sec_seal_stream(cs->s, k->data, k->len, z->data);
		gx_bq_seg_put(&c->pool, k);
		if (w >= 0) {
			z->len = wire;
			z->off = 0;
			z->frames = 1;
			w = queue_seg(c, z);
		} else if (z) {
			gx_bq_seg_put(&c->pool, z);
		}
		if (w < 0) {
			snprintf(why, sizeof why, "%s: cannot queue a frame: %s", c->name,
				 gx_strerror((int)w));
			conn_shut(c, (int)w, why);
			return -1;
		}
	}
	if (c->state == C_FLUSHING) {
		sec_queue_close(c);
		gx_ev_del(c->ev, c->fd, GX_EV_READ);
	}
	return 0;
}

/* A plaintext peer (its first bytes a frame header) gets one ERROR frame
 * saying why before the close: written at once, best effort. Nothing was
 * written to it before, so the socket buffer has room. */
static void tell_plaintext_peer(gx_conn *c)
{
	static const char msg[] =
		"this peer accepts only encrypted links: run with --key (the same key file)";
	uint8_t b[GX_FRAME_HDR_SIZE + 8 + sizeof msg];
	gx_frame_hdr h;

	size_t n = gx_errmsg_pack(GX_EAUTH, msg, b + GX_FRAME_HDR_SIZE, sizeof b - GX_FRAME_HDR_SIZE);
	gx_frame_hdr_init(&h);
	h.type = GX_FT_ERROR;
	h.codec = GX_CODEC_NONE;
	h.payload_len = h.raw_len = (uint32_t)n;
	gx_frame_hdr_pack(&h, b);
	ssize_t w = send(c->fd, b, GX_FRAME_HDR_SIZE + n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w > 0)
		c->st.bytes_out += (uint64_t)w;
	c->flushed = 1; /* FIN after it, not RST */
}

static void sec_fail(gx_conn *c, int err)
{
	conn_sec *cs = c->sec;
	char why[CONN_WHY];

	snprintf(why, sizeof why, "%s: %s", c->name, gx_sec_why(cs->s));
	if (!cs->buf && cs->len >= 4 && memcmp(cs->hs, "GXFR", 4) == 0)
		tell_plaintext_peer(c);
	conn_shut(c, err, why);
}

/* Uses the input held: handshake messages, then records, whose plaintext
 * goes to the frame decoder. Keeps the incomplete rest. */
static void sec_input(gx_conn *c)
{
	conn_sec *cs = c->sec;
	size_t off = 0;
	char why[CONN_WHY];

	while (conn_reading(c)) {
		uint8_t *in = cs->buf ? cs->buf : cs->hs;
		if (!gx_sec_established(cs->s)) {
			uint8_t out[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
			size_t used = 0, outlen = 0;
			int rc = gx_sec_handshake(cs->s, in + off, cs->len - off, &used, out, sizeof out,
						  &outlen);
			off += used;
			if (outlen && queue_raw(c, out, outlen) != 0) {
				snprintf(why, sizeof why, "%s: cannot queue the handshake", c->name);
				conn_shut(c, GX_ENOMEM, why);
				return;
			}
			if (rc == GX_ENEEDMORE)
				break;
			if (rc < 0) {
				sec_fail(c, rc);
				return;
			}
			if (sec_up(c, in + off, cs->len - off) != 0)
				return;
			off = 0;
			continue;
		}
		int type = 0;
		const uint8_t *p = NULL;
		size_t plen = 0, used = 0;
		int rc = gx_sec_open(cs->s, in + off, cs->len - off, &used, &type, &p, &plen);
		if (rc == GX_ENEEDMORE)
			break;
		if (rc < 0) {
			sec_fail(c, rc);
			return;
		}
		off += used;
		if (cs->got_close) {
			snprintf(why, sizeof why, "%s: a record after the close record", c->name);
			conn_shut(c, GX_EPROTO, why);
			return;
		}
		if (type == GX_SEC_CLOSE)
			cs->got_close = 1;
		else
			feed_frames(c, p, plen);
	}
	if (c->state == C_CLOSED)
		return;
	uint8_t *in = cs->buf ? cs->buf : cs->hs;
	memmove(in, in + off, cs->len - off);
	cs->len -= off;
}

static void sec_eof(gx_conn *c)
{
	conn_sec *cs = c->sec;
	char why[CONN_WHY];

	if (!gx_sec_established(cs->s)) {
		snprintf(why, sizeof why,
			 "%s: connection closed during the secure handshake (the peer holds "
			 "another key, or has no --key)",
			 c->name);
		conn_shut(c, GX_EPEER, why);
	} else if (!cs->got_close) {
		snprintf(why, sizeof why,
			 "%s: stream truncated (connection closed without a close record, after "
			 "record %llu)",
			 c->name, (unsigned long long)gx_sec_received(cs->s));
		conn_shut(c, GX_ETRUNC, why);
	} else if (gx_decoder_pending(c->dec)) {
		snprintf(why, sizeof why,
			 "connection closed inside a frame (frame %llu at byte %llu)",
			 (unsigned long long)c->st.frames_in, (unsigned long long)c->frame_start);
		conn_shut(c, GX_ETRUNC, why);
	} else {
		conn_shut(c, 0, "connection closed by peer");
	}
}

/* conn_read for a secure connection: recv straight into the input buffer,
 * during the handshake no more than its messages need. */
static void sec_read(gx_conn *c)
{
	conn_sec *cs = c->sec;
	size_t budget = GX_CONN_READ_CAP;

	while (budget > 0 && conn_reading(c)) {
		int up = cs->buf != NULL;
		uint8_t *in = up ? cs->buf : cs->hs;
		size_t room = (up ? SEC_IBUF : SEC_HS_BUF) - cs->len;
		size_t want = budget < room ? budget : room;
		if (want == 0)
			return; /* (never: a whole unit is always used) */
		ssize_t n = recv(c->fd, in + cs->len, want, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_io_error(c, up ? "read" : "read during the secure handshake");
			return;
		}
		if (n == 0) {
			sec_eof(c);
			return;
		}
		budget -= (size_t)n;
		c->st.bytes_in += (uint64_t)n;
		c->last_rx = gx_now_ms();
		cs->len += (size_t)n;
		sec_input(c);
		if ((size_t)n < want)
			return;
	}
}

static long sec_timeout(gx_ev *ev, long long id, void *ud)
{
	gx_conn *c = ud;
	char why[CONN_WHY];

	c->sec->timer = 0;
	snprintf(why, sizeof why, "%s: secure handshake not done within %d ms", c->name,
		 c->sec->ms);
	conn_shut(c, GX_ETIMEOUT, why);
	return -1;
}

int gx_conn_secure(gx_conn *c, const struct gx_key *psk, int role, int timeout_ms)
{
	uint8_t m1[GX_SEC_HELLO_BYTES];

	if (!c || !psk || (role != GX_SEC_CLIENT && role != GX_SEC_SERVER) || timeout_ms < 0)
		return GX_EINVAL;
	/* too late once a byte moved or a frame was queued in plaintext */
	if (c->sec || c->state != C_OPEN || c->out.head || c->st.bytes_in || c->st.bytes_out)
		return GX_EINVAL;
	conn_sec *cs = calloc(1, sizeof *cs);
	if (!cs)
		return GX_ENOMEM;
	cs->s = gx_sec_new(psk, role, 0);
	gx_bq_init(&cs->held, &c->pool);
	cs->ms = timeout_ms ? timeout_ms : GX_SEC_HANDSHAKE_MS;
	long long t = cs->s ? gx_ev_timer(c->ev, cs->ms, sec_timeout, c) : GX_ENOMEM;
	if (t < 0) {
		gx_sec_free(cs->s);
		free(cs);
		return t == GX_ENOMEM ? GX_ENOMEM : (int)t;
	}
	cs->timer = t;
	c->sec = cs;
	int n = gx_sec_start(cs->s, m1, sizeof m1);
	if (n < 0 || (n > 0 && queue_raw(c, m1, (size_t)n) != 0)) {
		gx_ev_timer_del(c->ev, t);
		gx_sec_free(cs->s);
		free(cs);
		c->sec = NULL;
		return n < 0 ? n : GX_ENOMEM;
	}
	return 0;
}

int gx_conn_established(const gx_conn *c)
{
	return c && c->sec && gx_sec_established(c->sec->s);
}

size_t gx_conn_pending(const gx_conn *c)
{
	return c ? c->out.bytes + (c->sec ? c->sec->held.bytes : 0) : 0;
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
