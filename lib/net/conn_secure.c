/*
 * conn_secure.c — the secure layer of a framed connection (gx_conn_secure,
 * net/secure.h), under the frame decoder and above the socket:
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
#include <unistd.h>

#include "../wire/control.h"
#include "conn_internal.h"

void conn_sec_free(gx_conn *c)
{
	conn_sec *cs = c->sec;
	if (cs->timer)
		gx_ev_timer_del(c->ev, cs->timer);
	gx_bq_clear(&cs->held);
	free(cs->buf);
	gx_sec_free(cs->s);
	free(cs);
	c->sec = NULL;
}

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
	return conn_queue_seg(c, k);
}

/* Seals a frame given as its packed header and payload into one chunk of
 * records and queues it. The first record joins the header to the
 * payload's start through a buffer on the stack; the rest is sealed
 * straight from the payload. */
int conn_sec_send(gx_conn *c, const uint8_t hdr[GX_FRAME_HDR_SIZE], const uint8_t *payload,
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
	return conn_queue_seg(c, k);
}

/* Ends the stream in order: a CLOSE record, best effort (without it the
 * peer reports a truncated stream). */
void conn_sec_queue_close(gx_conn *c)
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
	conn_queue_seg(c, k);
}

/* The handshake just completed; rest (restlen bytes, records) came after
 * it. Takes the record buffer, seals the held frames and, for a flushing
 * close that waited for this, ends the stream. 0, or the gx_error for which
 * it closed c. */
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
		return GX_ENOMEM;
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
			w = conn_queue_seg(c, z);
		} else if (z) {
			gx_bq_seg_put(&c->pool, z);
		}
		if (w < 0) {
			snprintf(why, sizeof why, "%s: cannot queue a frame: %s", c->name,
				 gx_strerror((int)w));
			conn_shut(c, (int)w, why);
			return (int)w;
		}
	}
	if (c->state == C_FLUSHING) {
		conn_sec_queue_close(c);
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
void conn_sec_input(gx_conn *c)
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
			conn_feed_frames(c, p, plen);
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
void conn_sec_read(gx_conn *c)
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
		conn_sec_input(c);
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

/* gx_conn_secure with one key (psk) or, a server, a ring (ring). */
static int secure(gx_conn *c, const struct gx_key *psk, const gx_keyring *ring, int role,
		  int timeout_ms)
{
	uint8_t m1[GX_SEC_HELLO_BYTES];

	if (!c || (!psk && !ring) || (role != GX_SEC_CLIENT && role != GX_SEC_SERVER) ||
	    timeout_ms < 0)
		return GX_EINVAL;
	/* too late once a byte moved or a frame was queued in plaintext */
	if (c->sec || c->state != C_OPEN || c->out.head || c->st.bytes_in || c->st.bytes_out)
		return GX_EINVAL;
	conn_sec *cs = calloc(1, sizeof *cs);
	if (!cs)
		return GX_ENOMEM;
	cs->s = ring ? gx_sec_new_ring(ring, 0) : gx_sec_new(psk, role, 0);
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

int gx_conn_secure(gx_conn *c, const struct gx_key *psk, int role, int timeout_ms)
{
	return psk ? secure(c, psk, NULL, role, timeout_ms) : GX_EINVAL;
}

int gx_conn_secure_ring(gx_conn *c, const gx_keyring *ring, int timeout_ms)
{
	return ring ? secure(c, NULL, ring, GX_SEC_SERVER, timeout_ms) : GX_EINVAL;
}

const struct gx_key *gx_conn_peer_key(const gx_conn *c)
{
	return c && c->sec ? gx_sec_peer_key(c->sec->s) : NULL;
}

struct gx_dg_key *gx_conn_datagram_key(const gx_conn *c, int send)
{
	return c && c->sec ? gx_sec_datagram_key(c->sec->s, send) : NULL;
}
