/*
 * ps_up.c — the local role's links to the global servers: connecting with
 * backoff until --connect-timeout, the hello and the CONFIG that follows it,
 * the wait lines, MEMBERS, the goodbye and a link's end (docs/protocol.md).
 *
 * Choices:
 *  - Workers are accepted only once every upstream server has answered the
 *    hello and its CONFIG: whatever a worker sends can then go straight
 *    upstream, and the settings a worker is told are the global tier's.
 *  - Global servers whose CONFIGs differ (optimizer, --sum, k1, k2) are
 *    refused: the data centers' copies would drift apart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps_local.h"

#define RETRY_FIRST_MS 50
#define RETRY_MAX_MS 1000
#define WAIT_LOG_MS 2000

/* ---------------------------------------------------------- lifetime */

int ps_local_init(gx_ps *ps)
{
	const char *s = ps->upstream_s;
	int n = 1;
	for (const char *q = s; *q; q++)
		n += *q == ',';
	ps->loc->ups = calloc((size_t)n, sizeof *ps->loc->ups);
	ps->loc->announced = calloc((size_t)n, sizeof *ps->loc->announced);
	if (!ps->loc->ups || !ps->loc->announced)
		return GX_ENOMEM;
	for (int i = 0; i < n; i++) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		char item[300];
		if (len >= sizeof item)
			len = sizeof item - 1;
		memcpy(item, s, len);
		item[len] = '\0';
		ps_peer *u = calloc(1, sizeof *u);
		if (!u)
			return GX_ENOMEM;
		u->ps = ps;
		u->up = 1;
		u->slot = i;
		u->fd = -1;
		u->role = GX_ROLE_GLOBAL;
		u->ust = UP_WAIT;
		u->retry_ms = RETRY_FIRST_MS;
		snprintf(u->why, sizeof u->why, "not tried yet");
		u->next = ps->peers;
		ps->peers = u;
		ps->loc->ups[i] = u;
		ps->loc->nups = i + 1;
		ps_clean(u->addr, sizeof u->addr, item);
		snprintf(u->label, sizeof u->label, "upstream %s", u->addr);
		if (!len || gx_net_split(item, u->host, sizeof u->host, &u->port) || !u->port) {
			ps_log(ps, GX_LOG_ERROR, "invalid upstream address '%s' (want HOST:PORT)",
			       u->addr);
			return GX_EINVAL;
		}
		ps->loc->announced[i] = (uint32_t)ps->o.workers;
		s = e ? e + 1 : s + len;
	}
	ps->loc->up_sync = ps->o.sync;
	return 0;
}

/* ------------------------------------------------------------ upstream */

static void up_try(gx_ps *ps, ps_peer *u);

static long on_retry(gx_ev *ev, long long id, void *ud)
{
	ps_peer *u = ud;
	if (!u->ps->finishing && u->ust == UP_WAIT)
		up_try(u->ps, u);
	return -1;
}

static void up_failed(gx_ps *ps, ps_peer *u, const char *why)
{
	/* gx_net_connect's reason repeats the address the log line names. */
	const char *pre = "cannot connect to ";
	if (why && !strncmp(why, pre, strlen(pre)) && strstr(why, ": "))
		why = strstr(why, ": ") + 2;
	snprintf(u->why, sizeof u->why, "%s", why && *why ? why : "failed");
	/* strerror's "Connection refused" reads better inside a sentence. */
	if (u->why[0] >= 'A' && u->why[0] <= 'Z' && u->why[1] >= 'a' && u->why[1] <= 'z')
		u->why[0] = (char)(u->why[0] - 'A' + 'a');
	u->ust = UP_WAIT;
	uint64_t now = gx_now_ms();
	if (!ps->loc->up_logged) { /* the first failure is worth a line at once */
		ps_log(ps, GX_LOG_WARN, "waiting for %s (%s)", u->label, u->why);
		ps->last_wait_log = now;
		ps->loc->up_logged = 1;
	}
	uint64_t deadline = ps->t_start + (uint64_t)(ps->o.connect_timeout * 1000);
	long d = u->retry_ms;
	u->retry_ms = d * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : d * 2;
	if (now + (uint64_t)d > deadline)
		d = now < deadline ? (long)(deadline - now) : 1;
	/* The tick gives up at the deadline; until then, try again. */
	if (gx_ev_timer(ps->ev, d, on_retry, u) < 0)
		ps_finish(ps, GX_ENOMEM, NULL, "cannot start a timer");
}

static void send_hello(gx_ps *ps, ps_peer *u)
{
	gx_hello hl;
	memset(&hl, 0, sizeof hl);
	hl.proto = GX_PROTO_VERSION;
	hl.role = GX_ROLE_LOCAL;
	hl.rank = ps->o.party;
	hl.party = ps->o.party;
	hl.workers = (uint32_t)ps->o.workers;
	hl.mode = ps->loc->agg == 1;
	char host[64] = "";
	gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	for (char *c = host; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == 0x7f)
			*c = '?';
	snprintf(hl.name, sizeof hl.name, "%.28s:%ld", host, (long)getpid());
	uint8_t b[GX_HELLO_SIZE];
	gx_hello_pack(&hl, b);
	gx_send_ctl(u->c, GX_FT_HELLO, 0, 0, b, GX_HELLO_SIZE);
}

static void on_connected(gx_ev *ev, int fd, void *ud, int mask)
{
	ps_peer *u = ud;
	gx_ps *ps = u->ps;
	gx_ev_del(ev, fd, GX_EV_READ | GX_EV_WRITE);
	u->fd = -1;
	int e = gx_net_connect_result(fd);
	if (e) {
		close(fd);
		up_failed(ps, u, strerror(e));
		return;
	}
	u->c = gx_conn_create(ev, fd, &ps->o.limits, ps_on_frame, ps_on_close, u);
	if (!u->c) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory");
		return;
	}
	gx_conn_set_name(u->c, u->label);
	if (ps->o.psk && gx_conn_secure(u->c, &ps->psk, GX_SEC_CLIENT, 0)) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory");
		return;
	}
	u->ust = UP_HELLO;
	u->t_open = u->tx_ms = gx_now_ms();
	send_hello(ps, u);
	ps_log(ps, GX_LOG_DEBUG, "%s: connected, hello sent", u->label);
}

static void up_try(gx_ps *ps, ps_peer *u)
{
	char err[256] = "";
	u->ust = UP_CONNECTING;
	int fd = gx_net_connect(u->host, u->port, err, sizeof err);
	if (fd < 0) {
		up_failed(ps, u, err);
		return;
	}
	u->fd = fd;
	if (gx_ev_add(ps->ev, fd, GX_EV_WRITE, on_connected, u)) {
		close(fd);
		u->fd = -1;
		up_failed(ps, u, "cannot watch the socket");
	}
}

int ps_local_start(gx_ps *ps)
{
	ps_log(ps, GX_LOG_INFO, "port %d, %d worker%s, upstream %s", ps->port, ps->n,
	       ps->n == 1 ? "" : "s", ps->upstream_s);
	for (int i = 0; i < ps->loc->nups && !ps->finishing; i++)
		up_try(ps, ps->loc->ups[i]);
	return 0;
}

void ps_local_tick(gx_ps *ps, uint64_t now)
{
	if (ps->finishing)
		return;
	if (ps->loc->byeing) {
		if (now >= ps->loc->bye_until) {
			for (int i = 0; i < ps->loc->nups; i++)
				if (ps->loc->ups[i]->ust == UP_BYE)
					ps_log(ps, GX_LOG_WARN, "%s did not answer our goodbye "
					       "within %g s", ps->loc->ups[i]->label,
					       ps->o.heartbeat_timeout);
			ps_finish(ps, 0, NULL, "job done");
		}
		return;
	}
	uint64_t deadline = ps->t_start + (uint64_t)(ps->o.connect_timeout * 1000);
	int waiting = 0;
	for (int i = 0; i < ps->loc->nups; i++) {
		ps_peer *u = ps->loc->ups[i];
		if (u->ust != UP_WAIT && u->ust != UP_CONNECTING && u->ust != UP_HELLO &&
		    u->ust != UP_CONFIG)
			continue;
		waiting++;
		if (now < deadline)
			continue;
		if (u->ust == UP_HELLO || u->ust == UP_CONFIG)
			ps_finish(ps, GX_ETIMEOUT, NULL, "%s: no answer to our HELLO within %g s",
				  u->label, ps->o.connect_timeout);
		else
			ps_finish(ps, GX_ETIMEOUT, NULL, "%s unreachable: %s (gave up after %g s)",
				  u->label, u->why, ps->o.connect_timeout);
		return;
	}
	if (waiting && now - ps->last_wait_log >= WAIT_LOG_MS) {
		for (int i = 0; i < ps->loc->nups; i++) {
			ps_peer *u = ps->loc->ups[i];
			if (u->ust == UP_WAIT || u->ust == UP_CONNECTING)
				ps_log(ps, GX_LOG_WARN, "waiting for %s (%s)", u->label, u->why);
			else if (u->ust == UP_HELLO || u->ust == UP_CONFIG)
				ps_log(ps, GX_LOG_WARN, "waiting for %s to answer our HELLO",
				       u->label);
		}
		ps->last_wait_log = now;
	}
}

void ps_local_up_closed(gx_ps *ps, ps_peer *u, int err, const char *why)
{
	int was = u->ust;
	u->ust = UP_CLOSED;
	if (ps->finishing || u->gone)
		return;
	if (was == UP_BYE) {
		for (int i = 0; i < ps->loc->nups; i++)
			if (ps->loc->ups[i]->ust != UP_CLOSED)
				return;
		ps_finish(ps, 0, NULL, "job done");
		return;
	}
	u->gone = 1;
	if (was == UP_HELLO || was == UP_CONFIG)
		ps_finish(ps, GX_EPEER, NULL, "%s closed the connection during the hello%s%s",
			  u->label, err ? ": " : "", err ? why : "");
	else if (!err || (err == GX_EIO && errno == ECONNRESET))
		ps_finish(ps, GX_EPEER, NULL, "%s died: connection closed%s", u->label,
			  err ? " (reset)" : "");
	else
		ps_finish(ps, GX_EPEER, NULL, "%s died: %s", u->label, why);
}

void ps_local_bye(gx_ps *ps)
{
	ps->loc->byeing = 1;
	ps_stop_accepting(ps);
	ps->loc->bye_until = gx_now_ms() + (uint64_t)(ps->o.heartbeat_timeout * 1000);
	int sent = 0;
	for (int i = 0; i < ps->loc->nups; i++) {
		ps_peer *u = ps->loc->ups[i];
		if (u->c && u->ust == UP_READY) {
			gx_send_ctl(u->c, GX_FT_BYE, 0, 0, NULL, 0);
			u->ust = UP_BYE;
			sent++;
		}
	}
	ps_log(ps, GX_LOG_INFO, "every worker is done; saying goodbye upstream");
	if (!sent)
		ps_finish(ps, 0, NULL, "job done");
}

void ps_send_members(gx_ps *ps, ps_peer *u, uint32_t workers)
{
	uint8_t b[4] = { (uint8_t)workers, (uint8_t)(workers >> 8), (uint8_t)(workers >> 16),
			 (uint8_t)(workers >> 24) };
	if (u->c)
		ps_sent(ps, gx_send_ctl(u->c, GX_FT_MEMBERS, 0, 0, b, 4));
}

void ps_local_members(gx_ps *ps)
{
	uint32_t n = 0;
	for (int i = 0; i < ps->n; i++)
		n += ps->slot[i] != SLOT_DEAD;
	for (int i = 0; i < ps->loc->nups; i++) {
		if (ps->loc->announced[i] != n && ps->loc->ups[i]->ust == UP_READY) {
			ps_send_members(ps, ps->loc->ups[i], n);
			ps->loc->announced[i] = n;
		}
	}
}

/* -------------------------------------------------------- handshake */

static void on_ack(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	gx_hello a;
	if (h->type != GX_FT_HELLO_ACK) {
		ps_violation(ps, u, GX_EPROTO, "expected HELLO_ACK, got frame type %u", h->type);
		return;
	}
	if (h->codec == GX_CODEC_NONE && h->payload_len >= 2 &&
	    (pl[0] | pl[1] << 8) != GX_PROTO_VERSION) {
		ps_violation(ps, u, GX_EPROTO, "it speaks protocol version %u, this server %u",
			     pl[0] | pl[1] << 8, GX_PROTO_VERSION);
		return;
	}
	if (h->codec != GX_CODEC_NONE || gx_hello_parse(pl, h->payload_len, &a)) {
		ps_violation(ps, u, GX_EPROTO, "malformed HELLO_ACK");
		return;
	}
	if (a.role != GX_ROLE_GLOBAL) {
		ps_violation(ps, u, GX_EPROTO, "it is a %s server, not a global one",
			     a.role == GX_ROLE_LOCAL ? "local" : "worker, not a");
		return;
	}
	if (ps->loc->nready > 0 && a.sync != ps->loc->up_sync) {
		ps_violation(ps, u, GX_EPROTO, "its sync mode (%s) differs from the other "
			     "global servers' (%s)", gx_sync_name(a.sync),
			     gx_sync_name(ps->loc->up_sync));
		return;
	}
	ps->loc->up_sync = a.sync;
	u->ust = UP_CONFIG;
}

/* The CONFIG after the HELLO_ACK: what the global tier runs. */
static void on_config(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	gx_config c;
	if (h->type != GX_FT_CONFIG || h->codec != GX_CODEC_NONE ||
	    gx_config_parse(pl, h->payload_len, &c)) {
		ps_violation(ps, u, GX_EPROTO, "expected CONFIG after HELLO_ACK, got %s",
			     h->type == GX_FT_CONFIG ? "a malformed one" : "another frame");
		return;
	}
	if (c.sync != ps->loc->up_sync || c.mode != (ps->loc->agg == 1)) {
		ps_violation(ps, u, GX_EPROTO, "its CONFIG contradicts its HELLO_ACK or our HELLO");
		return;
	}
	if (ps->loc->have_cfg && (c.k1 != ps->loc->up_cfg.k1 || c.k2 != ps->loc->up_cfg.k2 ||
			     c.sum != ps->loc->up_cfg.sum ||
			     memcmp(&c.optim, &ps->loc->up_cfg.optim, sizeof c.optim))) {
		ps_violation(ps, u, GX_EPROTO, "its settings (optimizer, --sum, k1, k2) differ "
			     "from the other global servers'");
		return;
	}
	ps->loc->up_cfg = c;
	ps->loc->have_cfg = 1;
	u->ust = UP_READY;
	u->tx_ms = gx_now_ms();
	ps->loc->nready++;
	if (c.sync == GX_SYNC_HFA)
		ps_log(ps, GX_LOG_INFO, "%s ready (hfa sync, k1 %u, k2 %u)", u->label, c.k1, c.k2);
	else
		ps_log(ps, GX_LOG_INFO, "%s ready (%s sync)", u->label, gx_sync_name(c.sync));
	if (ps->loc->nready == ps->loc->nups) {
		ps_log(ps, GX_LOG_INFO, "accepting %d worker%s on port %d", ps->n,
		       ps->n == 1 ? "" : "s", ps->port);
		ps_start_accepting(ps);
	}
}

void ps_up_handshake(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	if (u->ust == UP_HELLO)
		on_ack(ps, u, h, pl);
	else
		on_config(ps, u, h, pl);
}
