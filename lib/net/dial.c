/*
 * dial.c — the one dialer (net/dial.h): connect with backoff until a
 * deadline, then for the parameter-server protocol the secure channel, HELLO,
 * HELLO_ACK and CONFIG, reported through the caller's callbacks.
 *
 * Choices:
 *  - One deadline timer per dial, armed at the start: it ends a wait, a
 *    connect nobody answers and a hello alike. A retry is scheduled only
 *    when it would start before the deadline, so the two never race.
 *  - The connection's callbacks are the dialer's for its whole life: it
 *    reads the hello itself, then passes every frame on to the caller's
 *    on_frame; every close goes to the caller's on_close once on_open has
 *    handed the connection over. The caller keeps its own user data.
 *  - A protocol version other than ours is GX_EPROTO, as the servers
 *    answer a HELLO of another version (docs/protocol.md); it is read from
 *    the first two bytes before the HELLO_ACK is parsed, so a future
 *    version with another layout is named as such and not as "malformed".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dial.h"
#include "secure.h"

static void attempt(gx_dial *d);
static void attempt_failed(gx_dial *d, const char *why);

/* ------------------------------------------------------------- helpers */

int gx_dial_hello_name(char *name, size_t cap)
{
	char host[64] = "";
	if (gethostname(host, sizeof host - 1) != 0 || !host[0])
		snprintf(host, sizeof host, "?");
	host[sizeof host - 1] = '\0';
	for (char *c = host; *c; c++)
		if ((unsigned char)*c < 0x21 || (unsigned char)*c >= 0x7f)
			*c = '?';
	if (cap)
		snprintf(name, cap, "%.28s:%ld", host, (long)getpid());
	return 0;
}

int gx_dial_reason(char *out, size_t cap, const char *why)
{
	const char *pre = "cannot connect to ";
	if (!cap)
		return 0;
	if (why && !strncmp(why, pre, strlen(pre)) && strstr(why, ": "))
		why = strstr(why, ": ") + 2;
	snprintf(out, cap, "%s", why && *why ? why : "failed");
	/* strerror's "Connection refused" reads better inside a sentence. */
	if (out[0] >= 'A' && out[0] <= 'Z' && out[1] >= 'a' && out[1] <= 'z')
		out[0] = (char)(out[0] - 'A' + 'a');
	return 0;
}

static void timer_stop(gx_dial *d, long long *id)
{
	if (*id > 0)
		gx_ev_timer_del(d->ev, *id);
	*id = 0;
}

/* Lets go of the timers and of a connect in progress. */
static void release(gx_dial *d)
{
	timer_stop(d, &d->timer);
	timer_stop(d, &d->dl_timer);
	if (*d->o.fdp >= 0) {
		gx_ev_del(d->ev, *d->o.fdp, GX_EV_READ | GX_EV_WRITE);
		close(*d->o.fdp);
		*d->o.fdp = -1;
	}
	d->state = GX_DIAL_IDLE;
}

/* The dial is over with err. A connection already handed over is closed,
 * with ERROR first when tell (the caller's on_close follows from the loop). */
static void fail(gx_dial *d, int err, int tell, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void fail(gx_dial *d, int err, int tell, const char *fmt, ...)
{
	char why[GX_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	release(d);
	if (d->c) {
		if (tell && d->o.sender)
			gx_send_error(d->c, err, "%s: %s", d->o.sender, why);
		else if (tell)
			gx_send_error(d->c, err, "%s", why);
		else
			gx_conn_close(d->c, 1, why);
	}
	d->o.cb->on_fail(d, err, why, d->o.ud);
}

/* ---------------------------------------------------------- the hello */

/* A caller's check said rc: 0 goes on; an error ends the dial, telling the
 * server when it broke the protocol. Returns rc. */
static int verdict(gx_dial *d, int rc, const char *why)
{
	if (rc < 0)
		fail(d, rc, rc == GX_EPROTO, "%s", why);
	return rc < 0 ? rc : 0;
}

static void on_ack(gx_dial *d, const gx_frame_hdr *h, const uint8_t *pl)
{
	char why[GX_ERROR_MSG_MAX] = "";
	gx_hello a;
	if (h->type != GX_FT_HELLO_ACK) {
		fail(d, GX_EPROTO, 1, "expected HELLO_ACK, got frame type %u", h->type);
		return;
	}
	if (h->codec == GX_CODEC_NONE && h->payload_len >= 2 &&
	    (unsigned)(pl[0] | pl[1] << 8) != GX_PROTO_VERSION) {
		fail(d, GX_EPROTO, 1, "it speaks protocol version %u, this program speaks version %u",
		     (unsigned)(pl[0] | pl[1] << 8), (unsigned)GX_PROTO_VERSION);
		return;
	}
	if (h->codec != GX_CODEC_NONE || gx_hello_parse(pl, h->payload_len, &a) != 0) {
		fail(d, GX_EPROTO, 1, "malformed HELLO_ACK");
		return;
	}
	if (d->o.cb->check_ack && verdict(d, d->o.cb->check_ack(d, &a, why, sizeof why, d->o.ud), why))
		return;
	d->ack = a;
	d->state = GX_DIAL_CONFIG;
}

static void on_config(gx_dial *d, const gx_frame_hdr *h, const uint8_t *pl)
{
	char why[GX_ERROR_MSG_MAX] = "";
	gx_config c;
	if (h->type != GX_FT_CONFIG || h->codec != GX_CODEC_NONE ||
	    gx_config_parse(pl, h->payload_len, &c) != 0) {
		fail(d, GX_EPROTO, 1, "expected CONFIG after HELLO_ACK, got %s",
		     h->type == GX_FT_CONFIG ? "a malformed one" : "another frame");
		return;
	}
	/* (what mode means is the caller's: check_config) */
	if (c.sync != d->ack.sync) {
		fail(d, GX_EPROTO, 1, "its CONFIG contradicts its HELLO_ACK");
		return;
	}
	if (d->o.cb->check_config &&
	    verdict(d, d->o.cb->check_config(d, &c, why, sizeof why, d->o.ud), why))
		return;
	d->cfg = c;
	release(d);
	d->ready = 1;
	d->o.cb->on_ready(d, -1, d->o.ud);
}

static void on_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *pl, void *ud)
{
	gx_dial *d = ud;
	if (d->ready) {
		d->o.on_frame(c, h, pl, d->o.ud);
		return;
	}
	if (c != d->c || (d->state != GX_DIAL_HELLO && d->state != GX_DIAL_CONFIG))
		return; /* cancelled: the caller is closing it */
	if (h->type == GX_FT_ERROR) {
		int code = GX_EPEER;
		char msg[GX_ERROR_MSG_MAX + 1];
		if (gx_errmsg_parse(pl, h->payload_len, &code, msg, sizeof msg) != 0)
			snprintf(msg, sizeof msg, "(malformed ERROR frame)");
		fail(d, GX_EREFUSED, 0, "%s", msg);
	} else if (d->state == GX_DIAL_HELLO) {
		on_ack(d, h, pl);
	} else {
		on_config(d, h, pl);
	}
}

static void *on_header(gx_conn *c, const gx_frame_hdr *h, void *ud)
{
	gx_dial *d = ud;
	return d->ready && d->o.on_header ? d->o.on_header(c, h, d->o.ud) : NULL;
}

static void on_close(gx_conn *c, int err, const char *why, void *ud)
{
	gx_dial *d = ud;
	if (c != d->c)
		return; /* never handed over */
	d->c = NULL;
	int was = d->state;
	d->o.on_close(c, err, why, d->o.ud);
	if ((was == GX_DIAL_HELLO || was == GX_DIAL_CONFIG) && d->state == was) {
		if (d->o.retry_closed)
			attempt_failed(d, why && *why ? why : gx_strerror(err));
		else
			fail(d, GX_EPEER, 0, "%s", why && *why ? why : gx_strerror(err));
	}
}

/* ----------------------------------------------------------- connecting */

static long on_deadline(gx_ev *ev, long long id, void *ud)
{
	gx_dial *d = ud;
	d->dl_timer = 0;
	if (d->state == GX_DIAL_HELLO || d->state == GX_DIAL_CONFIG)
		fail(d, GX_ETIMEOUT, 1, "no answer to our HELLO within %g s",
		     (double)d->o.timeout_ms / 1000);
	else if (d->state != GX_DIAL_IDLE)
		fail(d, GX_ETIMEOUT, 0, "%s", d->why[0] ? d->why : "no answer");
	return -1;
}

static long on_retry(gx_ev *ev, long long id, void *ud)
{
	gx_dial *d = ud;
	d->timer = 0;
	if (d->state == GX_DIAL_WAIT)
		attempt(d);
	return -1;
}

/* The attempt failed: wait for the next one, or for the deadline when the
 * next one would come after it. */
static void attempt_failed(gx_dial *d, const char *why)
{
	gx_dial_reason(d->why, sizeof d->why, why);
	d->state = GX_DIAL_WAIT;
	long ms = d->backoff_ms;
	d->backoff_ms = ms * 2 > GX_DIAL_BACKOFF_MAX_MS ? GX_DIAL_BACKOFF_MAX_MS : ms * 2;
	if (gx_now_ms() + (uint64_t)ms < d->deadline) {
		long long t = gx_ev_timer(d->ev, ms, on_retry, d);
		if (t < 0) {
			fail(d, (int)t, 0, "cannot start a timer");
			return;
		}
		d->timer = t;
	}
	if (d->o.cb->on_retry)
		d->o.cb->on_retry(d, d->o.ud);
}

/* The socket is connected: a raw dial is done; a framed one says HELLO. */
static void connected(gx_dial *d, int fd)
{
	if (!d->o.hello) {
		release(d);
		d->ready = 1;
		d->o.cb->on_ready(d, fd, d->o.ud);
		return;
	}
	gx_conn *c = gx_conn_create(d->ev, fd, d->o.lim, on_frame, on_close, d);
	if (!c) {
		fail(d, GX_ENOMEM, 0, "out of memory");
		return;
	}
	gx_conn_set_name(c, d->label);
	gx_conn_set_on_header(c, on_header);
	if (d->o.psk && gx_conn_secure(c, d->o.psk, GX_SEC_CLIENT, 0) != 0) {
		gx_conn_close(c, 0, "out of memory");
		fail(d, GX_ENOMEM, 0, "out of memory");
		return;
	}
	uint8_t b[GX_HELLO_SIZE];
	gx_hello_pack(&d->hello, b);
	int e = gx_send_ctl(c, GX_FT_HELLO, 0, 0, b, GX_HELLO_SIZE);
	if (e) {
		gx_conn_close(c, 0, "cannot send HELLO");
		fail(d, e, 0, "cannot send HELLO: %s", gx_strerror(e));
		return;
	}
	d->c = c;
	d->state = GX_DIAL_HELLO;
	if (d->o.cb->on_open)
		d->o.cb->on_open(d, c, d->o.ud);
}

static void on_writable(gx_ev *ev, int fd, void *ud, int mask)
{
	gx_dial *d = ud;
	int e = gx_net_connect_result(fd);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (!e && getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 && errno == ENOTCONN)
		return; /* a stale event (the descriptor was reused): still connecting */
	gx_ev_del(ev, fd, GX_EV_READ | GX_EV_WRITE);
	*d->o.fdp = -1;
	if (e) {
		close(fd);
		attempt_failed(d, strerror(e));
		return;
	}
	connected(d, fd);
}

static void attempt(gx_dial *d)
{
	char err[300] = "";
	d->state = GX_DIAL_CONNECTING;
	int fd = gx_net_connect_buf(d->o.host, d->o.port, &d->o.sb, err, sizeof err);
	if (fd < 0) {
		attempt_failed(d, err);
		return;
	}
	*d->o.fdp = fd;
	if (gx_ev_add(d->ev, fd, GX_EV_WRITE, on_writable, d) != 0) {
		close(fd);
		*d->o.fdp = -1;
		attempt_failed(d, "cannot watch the socket");
	}
}

int gx_dial_start(gx_dial *d, gx_ev *ev, const gx_dial_opts *o)
{
	if (!d || !ev || !o || !o->cb || !o->cb->on_ready || !o->cb->on_fail || !o->host ||
	    o->port < 1 || o->port > 65535 || o->timeout_ms < 0 ||
	    (o->hello && (!o->on_frame || !o->on_close)))
		return GX_EINVAL;
	memset(d, 0, sizeof *d);
	d->ev = ev;
	d->o = *o;
	d->fd = -1;
	if (!d->o.fdp)
		d->o.fdp = &d->fd;
	*d->o.fdp = -1;
	if (o->hello) {
		d->hello = *o->hello;
		d->hello.proto = GX_PROTO_VERSION;
		gx_dial_hello_name(d->hello.name, sizeof d->hello.name);
		d->o.hello = &d->hello;
	}
	snprintf(d->label, sizeof d->label, "%s", o->label ? o->label : "");
	d->backoff_ms = GX_DIAL_BACKOFF_MIN_MS;
	d->deadline = gx_now_ms() + (uint64_t)o->timeout_ms;
	long long t = gx_ev_timer(ev, o->timeout_ms, on_deadline, d);
	if (t < 0)
		return (int)t;
	d->dl_timer = t;
	attempt(d);
	return 0;
}

int gx_dial_cancel(gx_dial *d)
{
	if (d && d->state != GX_DIAL_IDLE)
		release(d);
	return 0;
}
