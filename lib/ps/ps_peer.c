/*
 * ps_peer.c — the parameter server's core, its side of the connections:
 * accepting, the hello, the frames every peer may send, closes, violations,
 * dead members, goodbyes and the end of the job (docs/protocol.md). What a
 * role does with a peer goes through its ps_role table.
 *
 * Choices:
 *  - The job ends through one door, ps_finish: it stops accepting, sends
 *    ERROR (on failure or stop) or closes (on success) every link after its
 *    output is flushed, and lets the loop run until every link is gone or
 *    a second has passed.
 *  - A connection is a member only once its role admitted its HELLO
 *    (ps_admit); before that, its death is nobody's concern but a log line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ps_internal.h"

static void *on_header(gx_conn *c, const gx_frame_hdr *h, void *ud);

#define DRAIN_MS 1000        /* how long the end waits for output to flush */
#define ACCEPT_PAUSE_MS 100  /* after a failed accept */

/* --------------------------------------------------------- the job's end */

void ps_stop_accepting(gx_ps *ps)
{
	if (ps->accepting) {
		gx_ev_del(ps->ev, ps->lfd, GX_EV_READ);
		ps->accepting = 0;
	}
}

void ps_finish(gx_ps *ps, int rc, ps_peer *skip, const char *fmt, ...)
{
	if (ps->finishing)
		return;
	char msg[1100] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
	}
	ps->finishing = 1;
	ps->rc = rc;
	int code = rc ? rc : ps->stop_req ? GX_EPEER : 0;
	if (rc)
		ps_log(ps, GX_LOG_ERROR, "%s", msg);
	else
		ps_log(ps, GX_LOG_INFO, "%s", msg);
	ps_stop_accepting(ps);
	ps->drain_until = gx_now_ms() + DRAIN_MS;
	for (ps_peer *p = ps->peers; p; p = p->next) {
		p->gone = 1;
		if (p->fd >= 0) { /* an upstream connect in progress */
			gx_ev_del(ps->ev, p->fd, GX_EV_READ | GX_EV_WRITE);
			close(p->fd);
			p->fd = -1;
		}
		if (!p->c || p == skip)
			continue;
		if (code && ps->stop_req && ps->o.checkpoint)
			gx_conn_close(p->c, 0, msg); /* stopped to resume: the parties
						      * keep dialling (ps_peer_lost) */
		else if (code)
			gx_send_error(p->c, code, "%s: %s", ps->name, msg);
		else
			gx_conn_close(p->c, 1, "job done");
	}
}

void ps_check_done(gx_ps *ps)
{
	if (ps->finishing || ps->ending)
		return;
	int bye = 0, dead = 0;
	for (int i = 0; i < ps->n; i++) {
		if (ps->slot[i] == SLOT_EMPTY || ps->slot[i] == SLOT_LIVE)
			return;
		bye += ps->slot[i] == SLOT_BYE;
		dead += ps->slot[i] == SLOT_DEAD;
	}
	const ps_words *w = ps->role->words(ps);
	if (!bye) {
		ps_finish(ps, GX_EPEER, NULL, "every %s died", w->one);
		return;
	}
	if (dead)
		ps_log(ps, GX_LOG_WARN, "%d of %d %s finished, %d died", bye, ps->n,
		       ps->n > 1 ? w->many : w->one, dead);
	ps->ending = 1;
	ps->role->done(ps);
}

void ps_peer_dead(gx_ps *ps, ps_peer *p, const char *why)
{
	if (p->gone || ps->finishing)
		return;
	p->gone = 1;
	if (p->state == PEER_MEMBER)
		ps->slot[p->slot] = SLOT_DEAD;
	if (p->c)
		gx_conn_close(p->c, 1, why);
	if (!ps->o.elastic) {
		ps_finish(ps, GX_EPEER, p, "%s died: %s", p->label, why);
		return;
	}
	ps_log(ps, GX_LOG_ERROR, "%s died: %s", p->label, why);
	int live = 0;
	for (int i = 0; i < ps->n; i++)
		live += ps->slot[i] == SLOT_EMPTY || ps->slot[i] == SLOT_LIVE;
	ps_log(ps, GX_LOG_WARN, "elastic: going on without it (%d of %d still expected)", live,
	       ps->n);
	if (ps->role->lost)
		ps->role->lost(ps);
	ps->role->settle(ps);
	ps_check_done(ps);
}

void ps_peer_lost(gx_ps *ps, ps_peer *p, const char *why)
{
	if (p->gone || ps->finishing || p->away_ms)
		return;
	if (p->state != PEER_MEMBER || ps->o.reconnect_timeout <= 0 || !ps->role->may_rejoin ||
	    !ps->role->may_rejoin(ps, p)) {
		ps_peer_dead(ps, p, why);
		return;
	}
	p->away_ms = gx_now_ms();
	ps_log(ps, GX_LOG_WARN, "%s lost: %s; keeping its place for %g s", p->label, why,
	       ps->o.reconnect_timeout);
	if (p->c)
		gx_conn_close(p->c, 0, why); /* its on_close sees it away */
}

void ps_take_place(gx_ps *ps, ps_peer *p, ps_peer *old, const char *label)
{
	int slot = old->slot;
	old->away_ms = 0;
	old->gone = 1;
	old->state = PEER_HELLO; /* reaped as any closed connection */
	p->rejoined = 1;
	ps_admit(ps, p, slot, label);
	ps_log(ps, GX_LOG_WARN, "%s is back", p->label);
}

void ps_peer_bye(gx_ps *ps, ps_peer *p)
{
	p->gone = 1;
	ps->slot[p->slot] = SLOT_BYE;
	gx_send_ctl(p->c, GX_FT_BYE, 0, 0, NULL, 0);
	gx_conn_close(p->c, 1, "goodbye");
	ps_log(ps, GX_LOG_INFO, "%s said goodbye", p->label);
	ps->role->settle(ps);
	ps_check_done(ps);
}

void ps_violation(gx_ps *ps, ps_peer *p, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->gone || !p->c)
		return;
	if (p->up || p->state == PEER_SIBLING) { /* a link the job needs */
		gx_send_error(p->c, code, "%s: %s", ps->name, msg);
		ps_finish(ps, code, p, "%s: %s", p->label, msg);
		return;
	}
	gx_send_error(p->c, code, "%s", msg);
	if (p->state == PEER_MEMBER) {
		char why[1100];
		snprintf(why, sizeof why, "protocol error: %s", msg);
		ps_peer_dead(ps, p, why);
	} else {
		ps_log(ps, GX_LOG_WARN, "%s refused: %s", p->label, msg);
		p->gone = 1;
	}
}

/* HELLO_ACK, then the CONFIG the peer must follow. */
void ps_send_welcome(gx_ps *ps, ps_peer *p)
{
	gx_hello a;
	gx_config c;
	memset(&a, 0, sizeof a);
	memset(&c, 0, sizeof c);
	ps->role->ack(ps, p, &a, &c);
	a.proto = GX_PROTO_VERSION;
	a.role = (uint8_t)ps->o.role;
	snprintf(a.name, sizeof a.name, "%s", ps->name);
	uint8_t buf[GX_HELLO_SIZE], cb[GX_CONFIG_SIZE];
	gx_hello_pack(&a, buf);
	gx_send_ctl(p->c, GX_FT_HELLO_ACK, 0, 0, buf, GX_HELLO_SIZE);
	gx_config_pack(&c, cb);
	gx_send_ctl(p->c, GX_FT_CONFIG, 0, 0, cb, GX_CONFIG_SIZE);
}

void ps_admit(gx_ps *ps, ps_peer *p, int slot, const char *label)
{
	p->state = PEER_MEMBER;
	gx_conn_set_limits(p->c, &ps->o.limits); /* a member may send tensors */
	p->slot = slot;
	snprintf(p->label, sizeof p->label, "%s", label);
	gx_conn_set_name(p->c, p->label);
	ps->who[slot] = p;
	ps->slot[slot] = SLOT_LIVE;
	p->tx_ms = gx_now_ms();
	ps_send_welcome(ps, p);

	int have = 0;
	for (int i = 0; i < ps->n; i++)
		have += ps->slot[i] != SLOT_EMPTY;
	ps_log(ps, GX_LOG_INFO, "%s joined (%d of %d)", p->label, have, ps->n);
}

/* ---------------------------------------------------------- connections */

static void on_accept(gx_ev *ev, int fd, void *ud, int mask);

static long resume_accepting(gx_ev *ev, long long id, void *ud)
{
	gx_ps *ps = ud;
	if (ps->accepting && !ps->finishing)
		gx_ev_add(ps->ev, ps->lfd, GX_EV_READ, on_accept, ps);
	return -1;
}

/* Whether p is a connection still to say HELLO. */
static int pending(const ps_peer *p)
{
	return !p->up && !p->gone && p->c && p->state == PEER_HELLO && !p->join_wait;
}

/* The oldest connection waiting for its HELLO from src's address, and how
 * many wait from it. */
static ps_peer *oldest_from(gx_ps *ps, const ps_peer *src, int *count)
{
	ps_peer *old = NULL;
	*count = 0;
	for (ps_peer *q = ps->peers; q; q = q->next)
		if (pending(q) && gx_net_same_host(q->addr, src->addr)) {
			(*count)++;
			if (!old || q->t_open <= old->t_open)
				old = q;
		}
	return old;
}

/* After newcomer joined the connections waiting for a HELLO: above the
 * caps, the one waiting longest from the address with the most waiting
 * goes (the newcomer's address when it is over its own cap). A flood so
 * displaces its own connections, and idle ones before busy ones. */
static void evict_pending(gx_ps *ps, ps_peer *newcomer)
{
	int n = 0;
	ps_peer *victim = oldest_from(ps, newcomer, &n);
	if (n <= PS_PENDING_PER_SOURCE) {
		int total = 0;
		for (ps_peer *q = ps->peers; q; q = q->next)
			total += pending(q);
		if (total <= PS_PENDING)
			return;
		/* The newest PS_PENDING + 1 (all, with the caps kept), oldest
		 * first: the list runs newest first, so filled backwards. */
		const char *names[PS_PENDING + 1];
		ps_peer *who[PS_PENDING + 1];
		int m = total > PS_PENDING + 1 ? PS_PENDING + 1 : total, k = m;
		for (ps_peer *q = ps->peers; q && k > 0; q = q->next)
			if (pending(q)) {
				k--;
				names[k] = q->addr;
				who[k] = q;
			}
		victim = who[gx_net_evict_pick(names, (size_t)m)];
	}
	uint64_t now = gx_now_ms();
	if (now - ps->last_evict_log >= 1000) {
		ps_log(ps, GX_LOG_WARN, "too many connections without HELLO: closed %s",
		       victim->label);
		ps->last_evict_log = now;
	}
	victim->gone = 1;
	gx_conn_close(victim->c, 0, "too many connections without HELLO");
}

static void on_accept(gx_ev *ev, int fd, void *ud, int mask)
{
	gx_ps *ps = ud;
	for (int k = 0; k < 64 && ps->accepting; k++) {
		char addr[64];
		int cfd = gx_net_accept(ps->lfd, addr, sizeof addr);
		if (cfd == GX_ENEEDMORE)
			return;
		if (cfd < 0) {
			uint64_t now = gx_now_ms();
			if (now - ps->last_accept_err >= 1000) {
				ps_log(ps, GX_LOG_WARN, "cannot accept a connection: %s",
				       strerror(errno));
				ps->last_accept_err = now;
			}
			/* Out of descriptors, say: the socket stays readable, so
			 * stop watching it for a moment rather than spin. */
			gx_ev_del(ps->ev, ps->lfd, GX_EV_READ);
			if (gx_ev_timer(ps->ev, ACCEPT_PAUSE_MS, resume_accepting, ps) < 0)
				resume_accepting(ps->ev, 0, ps);
			return;
		}
		ps_peer *p = calloc(1, sizeof *p);
		if (!p) {
			close(cfd);
			ps_log(ps, GX_LOG_WARN, "out of memory: refused a connection from %s",
			       addr);
			continue;
		}
		p->link = ++ps->links;
		p->ps = ps;
		p->fd = -1;
		p->state = PEER_HELLO;
		p->t_open = p->tx_ms = gx_now_ms();
		ps_clean(p->addr, sizeof p->addr, addr);
		snprintf(p->label, sizeof p->label, "connection from %s", p->addr);
		static const gx_frame_limits prehello = {PS_PREHELLO_PAYLOAD, PS_PREHELLO_PAYLOAD};
		p->c = gx_conn_create(ps->ev, cfd, &prehello, ps_on_frame, ps_on_close, p);
		if (!p->c) {
			free(p);
			ps_log(ps, GX_LOG_WARN, "out of memory: refused a connection from %s",
			       addr);
			continue;
		}
		gx_conn_set_name(p->c, p->label);
		gx_conn_set_out_bound(p->c, PS_OUT_BOUND);
		gx_conn_set_credit(p->c, ps->o.credit);
		if (ps->role->header)
			gx_conn_set_on_header(p->c, on_header);
		if (ps->ring && gx_conn_secure_ring(p->c, ps->ring, 0)) {
			gx_conn_close(p->c, 0, "out of memory");
			ps_log(ps, GX_LOG_WARN, "out of memory: refused a connection from %s",
			       addr);
			continue;
		}
		p->next = ps->peers;
		ps->peers = p;
		ps_log(ps, GX_LOG_DEBUG, "%s", p->label);
		evict_pending(ps, p);
	}
}

int ps_start_accepting(gx_ps *ps)
{
	if (ps->accepting || ps->finishing)
		return 0;
	if (gx_ev_add(ps->ev, ps->lfd, GX_EV_READ, on_accept, ps)) {
		ps_finish(ps, GX_EIO, NULL, "cannot watch the listening socket");
		return GX_EIO;
	}
	ps->accepting = 1;
	ps->t_accept = ps->last_wait_log = gx_now_ms();
	return 0;
}

static void on_hello(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	if (h->type != GX_FT_HELLO) {
		ps_violation(ps, p, GX_EPROTO, "expected HELLO, got frame type %u", h->type);
		return;
	}
	if (h->codec != GX_CODEC_NONE || h->payload_len != GX_HELLO_SIZE) {
		if (h->codec == GX_CODEC_NONE && h->payload_len >= 2 &&
		    (pl[0] | pl[1] << 8) != GX_PROTO_VERSION) {
			ps_violation(ps, p, GX_EPROTO, "protocol version %u is not supported "
				     "(this server speaks version %u)", pl[0] | pl[1] << 8,
				     GX_PROTO_VERSION);
			return;
		}
		ps_violation(ps, p, GX_EPROTO, "malformed HELLO (%u payload bytes, want %u)",
			     h->payload_len, GX_HELLO_SIZE);
		return;
	}
	unsigned proto = pl[0] | pl[1] << 8;
	if (proto != GX_PROTO_VERSION) {
		ps_violation(ps, p, GX_EPROTO, "protocol version %u is not supported (this "
			     "server speaks version %u)", proto, GX_PROTO_VERSION);
		return;
	}
	gx_hello hl;
	if (gx_hello_parse(pl, h->payload_len, &hl)) {
		ps_violation(ps, p, GX_EPROTO, "malformed HELLO");
		return;
	}
	if (ps_claim_check(ps, p, &hl))
		return;
	p->role = hl.role;
	p->rank = hl.rank;
	p->party = hl.party;
	p->workers = hl.workers;
	ps->role->hello(ps, p, &hl);
	if (p->state == PEER_MEMBER && hl.name[0])
		ps_log(ps, GX_LOG_DEBUG, "%s calls itself '%s'", p->label, hl.name);
}

/* A member's large frame is on its way: the role may have it received in a
 * buffer of its choosing (ps_role.header). */
static void *on_header(gx_conn *c, const gx_frame_hdr *h, void *ud)
{
	ps_peer *p = ud;
	gx_ps *ps = p->ps;
	if (ps->finishing || p->gone || p->up || p->state != PEER_MEMBER || p->landing)
		return NULL;
	p->landing = ps->role->header(ps, p, h);
	return p->landing ? p->landing->data : NULL;
}

static void peer_frame(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);

void ps_on_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *pl, void *ud)
{
	ps_peer *p = ud;
	peer_frame(p->ps, p, h, pl);
	if (p->landing) { /* not taken by the frame's handler */
		gx_buf_unref(p->landing);
		p->landing = NULL;
	}
}

static void peer_frame(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	if (ps->finishing || (p->gone && !p->up))
		return;
	if (p->up || p->state == PEER_SIBLING) {
		ps->role->up_frame(ps, p, h, pl);
		return;
	}
	if (p->state == PEER_HELLO) {
		on_hello(ps, p, h, pl);
		return;
	}
	switch (h->type) {
	case GX_FT_HELLO:
		ps_violation(ps, p, GX_EPROTO, "a second HELLO");
		return;
	case GX_FT_ERROR: {
		char msg[GX_ERROR_MSG_MAX + 1], why[GX_ERROR_MSG_MAX + 64];
		int code = 0;
		if (gx_errmsg_parse(pl, h->payload_len, &code, msg, sizeof msg))
			snprintf(msg, sizeof msg, "(malformed)");
		snprintf(why, sizeof why, "it reported an error: %s", msg);
		ps_peer_dead(ps, p, why);
		return;
	}
	case GX_FT_HEARTBEAT:
		if (!ps_empty_ctl(h))
			ps_violation(ps, p, GX_EPROTO, "malformed HEARTBEAT");
		return;
	case GX_FT_BYE:
		if (!ps_empty_ctl(h))
			ps_violation(ps, p, GX_EPROTO, "malformed BYE");
		else
			ps_peer_bye(ps, p);
		return;
	case GX_FT_KEYTABLE:
		ps->role->keytable(ps, p, h, pl);
		return;
	case GX_FT_INIT:
		ps_prio_note(ps, h->key, h->priority);
		ps->role->init_key(ps, p, h, pl);
		return;
	case GX_FT_PUSH:
		ps_prio_note(ps, h->key, h->priority);
		ps->role->push(ps, p, h, pl);
		return;
	case GX_FT_PULL:
		ps_prio_note(ps, h->key, h->priority);
		ps->role->pull(ps, p, h);
		return;
	}
	if (ps->role->other)
		ps->role->other(ps, p, h, pl);
	else
		ps_violation(ps, p, GX_EPROTO, "unexpected frame type %u", h->type);
}

/* A peer whose bytes made no frame gets an ERROR all the same. The
 * connection has already stopped (it cannot queue), so the frame is written
 * straight to the socket, which is still open during on_close; a small
 * frame fits in any socket buffer. Then the write side is shut and the
 * input drained, so the close sends FIN and not an RST that could destroy
 * the ERROR in flight. */
static void error_raw(gx_conn *c, int code, const char *msg)
{
	int fd = gx_conn_fd(c);
	uint8_t buf[GX_FRAME_HDR_SIZE + 8 + 256];
	size_t n = gx_errmsg_pack(code, msg, buf + GX_FRAME_HDR_SIZE, 8 + 256);
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_ERROR;
	h.codec = GX_CODEC_NONE;
	h.payload_len = h.raw_len = (uint32_t)n;
	gx_frame_hdr_pack(&h, buf);
	if (fd < 0 || send(fd, buf, GX_FRAME_HDR_SIZE + n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return;
	shutdown(fd, SHUT_WR);
	char junk[4096];
	for (int k = 0; k < 256 && recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0; k++)
		;
}

void ps_on_close(gx_conn *c, int err, const char *why, void *ud)
{
	ps_peer *p = ud;
	gx_ps *ps = p->ps;
	int reset = err == GX_EIO && errno == ECONNRESET; /* errno: as the close left it */
	p->st = *gx_conn_get_stats(c);
	gx_buf_unref(p->landing); /* a frame cut short by the close */
	p->landing = NULL;
	/* A secure link that failed its handshake or its records: conn.c has
	 * told a plaintext peer why; anything written raw here would read as
	 * plaintext to a keyed peer, or as a forged record. */
	int sec = ps->ring != NULL;
	int decode_error = err < 0 && err != GX_EIO && !(sec && !gx_conn_established(c)) &&
			   err != GX_EAUTH && err != GX_ETRUNC && err != GX_ETIMEOUT;
	if (decode_error && !sec && !p->gone && !ps->finishing)
		error_raw(c, err, why);
	p->c = NULL;
	if (p->up || p->state == PEER_SIBLING) {
		ps->role->up_closed(ps, p, err, why);
		return;
	}
	if (p->gone || ps->finishing || p->away_ms)
		return;
	char reason[320];
	size_t ll = strlen(p->label); /* conn.c's reasons may start with the label */
	if (why && !strncmp(why, p->label, ll) && why[ll] == ':' && why[ll + 1] == ' ')
		why += ll + 2;
	if (!err || reset) /* a killed process resets what it had not read */
		snprintf(reason, sizeof reason, "connection closed%s", reset ? " (reset)" : "");
	else if (decode_error)
		snprintf(reason, sizeof reason, "protocol error: %s", why);
	else
		snprintf(reason, sizeof reason, "%s", why);
	if (p->state == PEER_MEMBER) {
		/* a broken link, not a breach: it may come back */
		if (!err || reset || err == GX_EIO || err == GX_ETRUNC)
			ps_peer_lost(ps, p, reason);
		else
			ps_peer_dead(ps, p, reason);
	} else {
		p->gone = 1;
		if (err)
			ps_log(ps, GX_LOG_WARN, "%s refused: %s", p->label, reason);
		else
			ps_log(ps, GX_LOG_DEBUG, "%s closed before its HELLO", p->label);
	}
}

