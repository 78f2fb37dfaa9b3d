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

#include "ps_dgt.h"
#include "ps_local.h"
#include "ps_overlay.h"

#define WAIT_LOG_MS 2000

/* ---------------------------------------------------------- lifetime */

int ps_local_init(gx_ps *ps)
{
	char err[400];
	size_t n = 0;
	if (gx_net_addr_list(ps->upstream_s, NULL, 0, &n, err, sizeof err) != 0) {
		ps_log(ps, GX_LOG_ERROR, "invalid upstream address list: %s", err);
		return GX_EINVAL;
	}
	gx_net_addr *a = calloc(n, sizeof *a);
	ps->loc->ups = calloc(n, sizeof *ps->loc->ups);
	ps->loc->announced = calloc(n, sizeof *ps->loc->announced);
	if (!a || !ps->loc->ups || !ps->loc->announced) {
		free(a);
		return GX_ENOMEM;
	}
	gx_net_addr_list(ps->upstream_s, a, n, &n, NULL, 0);
	for (size_t i = 0; i < n; i++) {
		ps_peer *u = calloc(1, sizeof *u);
		if (!u) {
			free(a);
			return GX_ENOMEM;
		}
		u->ps = ps;
		u->up = 1;
		u->wan = 1;
		u->slot = (int)i;
		u->fd = -1;
		u->role = GX_ROLE_GLOBAL;
		u->ust = UP_WAIT;
		snprintf(u->why, sizeof u->why, "not tried yet");
		u->next = ps->peers;
		ps->peers = u;
		ps->loc->ups[i] = u;
		ps->loc->nups = (int)i + 1;
		snprintf(u->host, sizeof u->host, "%s", a[i].host);
		u->port = a[i].port;
		ps_clean(u->addr, sizeof u->addr, a[i].text);
		snprintf(u->label, sizeof u->label, "upstream %s", u->addr);
		ps->loc->announced[i] = (uint32_t)ps->o.workers;
	}
	free(a);
	ps->loc->up_sync = ps->o.sync;
	return 0;
}

/* ------------------------------------------------------------ upstream */

/* The dial of each upstream link (net/dial.h): connect with backoff until
 * --connect-timeout, HELLO, HELLO_ACK, CONFIG. */

static void up_retry(gx_dial *d, void *ud)
{
	ps_peer *u = ud;
	gx_ps *ps = u->ps;
	if (ps->finishing) {
		gx_dial_cancel(d);
		return;
	}
	snprintf(u->why, sizeof u->why, "%s", d->why);
	u->ust = UP_WAIT;
	if (!ps->loc->up_logged) { /* the first failure is worth a line at once */
		ps_log(ps, GX_LOG_WARN, "waiting for %s (%s)", u->label, u->why);
		ps->last_wait_log = gx_now_ms();
		ps->loc->up_logged = 1;
	}
}

static void up_open(gx_dial *d, gx_conn *c, void *ud)
{
	ps_peer *u = ud;
	gx_ps *ps = u->ps;
	u->c = c;
	gx_conn_set_credit(c, ps->o.credit);
	if (ps->finishing) {
		gx_dial_cancel(d);
		gx_conn_close(c, 0, "server stopped");
		return;
	}
	u->ust = UP_HELLO;
	u->t_open = u->tx_ms = gx_now_ms();
	ps_log(ps, GX_LOG_DEBUG, "%s: connected, hello sent", u->label);
}

static int up_check_ack(gx_dial *d, const gx_hello *a, char *why, size_t cap, void *ud)
{
	ps_peer *u = ud;
	gx_ps *ps = u->ps;
	if (a->role != GX_ROLE_GLOBAL) {
		snprintf(why, cap, "it is a %s server, not a global one",
			 a->role == GX_ROLE_LOCAL ? "local" : "worker, not a");
		return GX_EPROTO;
	}
	if (ps->loc->nready > 0 && a->sync != ps->loc->up_sync) {
		snprintf(why, cap, "its sync mode (%s) differs from the other global servers' (%s)",
			 gx_sync_name(a->sync), gx_sync_name(ps->loc->up_sync));
		return GX_EPROTO;
	}
	ps->loc->up_sync = a->sync;
	u->ust = UP_CONFIG;
	return 0;
}

/* The CONFIG after the HELLO_ACK: what the global tier runs. */
static int up_check_config(gx_dial *d, const gx_config *c, char *why, size_t cap, void *ud)
{
	ps_peer *u = ud;
	gx_ps *ps = u->ps;
	if (c->mode != ps->loc->hello.mode) {
		snprintf(why, cap, "its CONFIG contradicts our HELLO (a coded WAN or none)");
		return GX_EPROTO;
	}
	if (ps->loc->have_cfg && (c->k1 != ps->loc->up_cfg.k1 || c->k2 != ps->loc->up_cfg.k2 ||
			     c->sum != ps->loc->up_cfg.sum || c->block != ps->loc->up_cfg.block ||
			     memcmp(&c->optim, &ps->loc->up_cfg.optim, sizeof c->optim))) {
		snprintf(why, cap, "its settings (optimizer, --sum, k1, k2, --block) differ from the "
			 "other global servers'");
		return GX_EPROTO;
	}
	return 0;
}

static void up_ready(gx_dial *d, int fd, void *ud)
{
	ps_peer *u = ud;
	gx_ps *ps = u->ps;
	const gx_config *c = &d->cfg;
	ps->loc->up_cfg = *c;
	ps->loc->have_cfg = 1;
	if (ps_dgt_up_ready(ps, u))
		return;
	if (c->overlay && ps_ovl_local_start(ps, u))
		return;
	u->ust = UP_READY;
	u->tx_ms = gx_now_ms();
	ps->loc->nready++;
	if (u->rejoined) {
		u->rejoined = 0;
		int n = ps_local_replay(ps, u);
		ps_log(ps, GX_LOG_WARN, "%s is back: %d frame%s it had not answered sent again",
		       u->label, n, n == 1 ? "" : "s");
		return;
	}
	if (c->sync == GX_SYNC_HFA)
		ps_log(ps, GX_LOG_INFO, "%s ready (hfa sync, k1 %u, k2 %u)", u->label, c->k1, c->k2);
	else
		ps_log(ps, GX_LOG_INFO, "%s ready (%s sync)", u->label, gx_sync_name(c->sync));
	if (ps->loc->nready == ps->loc->nups && ps->loc->restore) {
		ps->loc->restore = 0; /* accepting once every key is back */
		ps_local_restore(ps);
	} else if (ps->loc->nready == ps->loc->nups) {
		ps_log(ps, GX_LOG_INFO, "accepting %d worker%s on port %d", ps->n,
		       ps->n == 1 ? "" : "s", ps->port);
		ps_start_accepting(ps);
	}
}

static void up_fail(gx_dial *d, int err, const char *why, void *ud)
{
	ps_peer *u = ud;
	gx_ps *ps = u->ps;
	int hello = u->ust == UP_HELLO || u->ust == UP_CONFIG;
	if (ps->finishing || u->gone)
		return;
	u->gone = 1;
	if (u->rejoined)
		ps_finish(ps, err == GX_ETIMEOUT ? GX_EPEER : err, u, "%s lost and not back: %s "
			  "(gave up after %g s)", u->label, why, ps->o.reconnect_timeout);
	else if (err == GX_ETIMEOUT && hello)
		ps_finish(ps, err, u, "%s: no answer to our HELLO within %g s", u->label,
			  ps->o.connect_timeout);
	else if (err == GX_ETIMEOUT)
		ps_finish(ps, err, u, "%s unreachable: %s (gave up after %g s)", u->label, why,
			  ps->o.connect_timeout);
	else if (err == GX_EREFUSED)
		ps_finish(ps, err, u, "%s refused this server: %s", u->label, why);
	else if (err == GX_EPEER)
		ps_finish(ps, err, u, "%s closed the connection during the hello: %s", u->label, why);
	else
		ps_finish(ps, err, u, "%s: %s", u->label, why);
}

static const gx_dial_cbs up_cbs = {
	.on_retry = up_retry,
	.on_open = up_open,
	.check_ack = up_check_ack,
	.check_config = up_check_config,
	.on_ready = up_ready,
	.on_fail = up_fail,
};

/* Dials upstream link u with o (the server's options, the time limit and
 * the retry rule of the dial at hand); 0 or gx_dial_start's error. */
static int dial_up(gx_ps *ps, ps_peer *u, gx_dial_opts o)
{
	o.host = u->host;
	o.port = u->port;
	o.ud = u;
	o.fdp = &u->fd;
	o.label = u->label;
	u->ust = UP_CONNECTING;
	return gx_dial_start(&u->dial, ps->ev, &o);
}

int ps_local_start(gx_ps *ps)
{
	ps_log(ps, GX_LOG_INFO, "port %d, %d worker%s, upstream %s", ps->port, ps->n,
	       ps->n == 1 ? "" : "s", ps->upstream_s);
	if (ps->o.resume) {
		int r = ps_local_ckpt_read(ps);
		if (r) {
			ps_finish(ps, r, NULL, "cannot resume from %s", ps->o.checkpoint);
			return r;
		}
		ps->loc->restore = 1;
	}
	gx_hello *hl = &ps->loc->hello;
	memset(hl, 0, sizeof *hl);
	hl->role = GX_ROLE_LOCAL;
	hl->rank = ps->o.party;
	hl->party = ps->o.party;
	hl->workers = (uint32_t)ps->o.workers;
	hl->mode = ps->loc->dgt ? PS_HELLO_DGT : ps->loc->agg == 1;
	gx_dial_opts o = {
		.timeout_ms = (long)(ps->o.connect_timeout * 1000),
		.cb = &up_cbs,
		.hello = hl,
		.psk = ps->o.key ? &ps->psk : NULL,
		.lim = &ps->o.limits,
		.sender = ps->name,
		.on_frame = ps_on_frame,
		.on_close = ps_on_close,
		.on_header = ps_local_up_header,
	};
	ps->loc->dial = o;
	for (int i = 0; i < ps->loc->nups && !ps->finishing; i++) {
		ps_peer *u = ps->loc->ups[i];
		int e = dial_up(ps, u, o);
		if (e) {
			ps_finish(ps, e, NULL, "%s: cannot start connecting: %s", u->label,
				  gx_strerror(e));
			return e;
		}
	}
	return 0;
}

void ps_local_tick(gx_ps *ps, uint64_t now)
{
	if (ps->finishing)
		return;
	if (ps->loc->byeing) {
		if (now >= ps->loc->bye_until && !ps_ovl_local_ending(ps)) {
			for (int i = 0; i < ps->loc->nups; i++)
				if (ps->loc->ups[i]->ust == UP_BYE)
					ps_log(ps, GX_LOG_WARN, "%s did not answer our goodbye "
					       "within %g s", ps->loc->ups[i]->label,
					       ps->o.heartbeat_timeout);
			ps_finish(ps, 0, NULL, "job done");
		}
		return;
	}
	int waiting = 0;
	for (int i = 0; i < ps->loc->nups; i++) {
		int st = ps->loc->ups[i]->ust;
		waiting += st == UP_WAIT || st == UP_CONNECTING || st == UP_HELLO || st == UP_CONFIG;
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

/* A ready link broke: dialled again until --reconnect-timeout, the round
 * in flight sent again once it is back (up_ready). 0, or a gx_error when
 * it cannot even start (the caller ends the job). */
static int redial(gx_ps *ps, ps_peer *u, int err, const char *why)
{
	char cause[sizeof u->why];
	if (err == GX_EIO && errno == ECONNRESET)
		snprintf(cause, sizeof cause, "connection closed (reset)");
	else /* the peer's end, or ps.c's close of a silent link, says why */
		snprintf(cause, sizeof cause, "%s", why && *why ? why : gx_strerror(err));
	gx_dial_opts o = ps->loc->dial;
	o.timeout_ms = (long)(ps->o.reconnect_timeout * 1000);
	o.retry_closed = 1; /* a relay on the way may be restarting */
	u->c = NULL;
	u->rejoined = 1; /* up_ready replays */
	snprintf(u->why, sizeof u->why, "%s", cause);
	ps->loc->nready--;
	ps_log(ps, GX_LOG_WARN, "%s lost: %s; dialling it again for up to %g s", u->label, cause,
	       ps->o.reconnect_timeout);
	int e = dial_up(ps, u, o);
	if (e)
		ps_log(ps, GX_LOG_ERROR, "%s: cannot dial again: %s", u->label, gx_strerror(e));
	return e;
}

void ps_local_up_closed(gx_ps *ps, ps_peer *u, int err, const char *why)
{
	if (u->sib) {
		ps_ovl_local_closed(ps, u, err, why);
		return;
	}
	int was = u->ust;
	u->ust = UP_CLOSED;
	if (ps->finishing || u->gone)
		return;
	if (was == UP_BYE) {
		for (int i = 0; i < ps->loc->nups; i++)
			if (ps->loc->ups[i]->ust != UP_CLOSED)
				return;
		if (!ps_ovl_local_hold_end(ps))
			ps_finish(ps, 0, NULL, "job done");
		return;
	}
	if (was == UP_HELLO || was == UP_CONFIG)
		return; /* the dial reports it (up_fail) */
	if (was == UP_READY && ps->o.reconnect_timeout > 0 &&
	    redial(ps, u, err, why) == 0)
		return;
	u->gone = 1;
	if (!err || (err == GX_EIO && errno == ECONNRESET))
		ps_finish(ps, GX_EPEER, NULL, "%s died: connection closed%s", u->label,
			  err ? " (reset)" : "");
	else
		ps_finish(ps, GX_EPEER, NULL, "%s died: %s", u->label, why);
}

void ps_local_bye(gx_ps *ps)
{
	ps->loc->byeing = 1;
	ps_stop_accepting(ps);
	ps_ovl_local_bye(ps);
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

/* ------------------------------------------------------------ replay */

int ps_local_replay(gx_ps *ps, ps_peer *u)
{
	ps_local_state *ls = ps->loc;
	int n = 0;
	/* The workers it sums now: MEMBERS before a round that differs. */
	ls->announced[u->slot] = ls->hello.workers;
	for (size_t i = 0; i < ls->nkeys && !ps->finishing; i++) {
		ps_lkey *k = &ls->keys[i];
		for (int b = 0; b < k->nsl; b++) {
			const gx_slice *s = &k->sl[b];
			if (ps->loc->ups[s->server] != u)
				continue;
			if (k->init == 1 && !k->init_got[b]) {
				ps_local_init_slice(ps, k, b);
				n++;
			}
			for (ps_fwd *f = k->fwds; f; f = f->next) {
				const gx_tensor_payload *coded = f->coded ? &f->coded[b] : NULL;
				if (f->got[b] || (!f->sent && !(coded && coded->buf)))
					continue;
				if (ls->announced[u->slot] != f->members) {
					ps_send_members(ps, u, f->members);
					ls->announced[u->slot] = f->members;
				}
				if (f->sent)
					ps_local_push_slice(ps, k, b, f->round,
							    (const float *)f->sent->data, f->sent);
				else
					ps_codec_send_kept(ps, u->c, coded, GX_FT_PUSH, k->key,
							   s->block, f->round);
				n++;
			}
			ps_pull *q = k->pulls;
			if (q && q->sent && !q->got[b]) {
				ps_sent(ps, ps_send_slice_ctl(u->c, GX_FT_PULL, k->key, s->block));
				n++;
			}
		}
	}
	ps_local_members(ps); /* the workers it sums now */
	return n;
}

/* -------------------------------------------------------- handshake */

void ps_up_handshake(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	/* The dialer reads every frame before the link is ready (up_cbs). */
	ps_violation(ps, u, GX_EPROTO, "unexpected frame type %u during the hello", h->type);
}
