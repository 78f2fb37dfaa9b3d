/*
 * ps.c — the parameter server (docs/protocol.md), the part both roles
 * share: creation, the loop, accepting, the hello, heartbeats and silence,
 * dead peers and the end of the job. ps_global.c and ps_local.c hold what
 * each role does with the frames, ps_acc.c the rounds being gathered,
 * ps_stats.c the statistics.
 *
 * Choices:
 *  - Nothing is freed while a callback may still hold it: a closed
 *    connection only clears its peer's pointer, and peers that never
 *    became members are reaped by the loop between iterations. Members
 *    stay until gx_ps_free, for the stats.
 *  - The job ends through one door, ps_finish: it stops accepting, sends
 *    ERROR (on failure or stop) or closes (on success) every link after its
 *    output is flushed, and lets the loop run until every link is gone or
 *    a second has passed.
 *  - Contributions to a round are summed in contributor order (workers by
 *    rank, parties by id), not arrival order (ps_acc.c): the result is
 *    reproducible bit for bit and an oracle can compute it the same way.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ps_internal.h"

#define TICK_MS 100          /* the housekeeping timer, at most */
#define WAIT_LOG_MS 2000     /* "waiting for ..." lines */
#define DRAIN_MS 1000        /* how long the end waits for output to flush */
#define MAX_CONTRIB 65536    /* parties or workers */
#define ACCEPT_PAUSE_MS 100  /* after a failed accept */

const char *ps_role_name(int role)
{
	switch (role) {
	case GX_ROLE_GLOBAL: return "global";
	case GX_ROLE_LOCAL: return "local";
	case GX_ROLE_WORKER: return "worker";
	default: return "?";
	}
}

void ps_log(gx_ps *ps, int level, const char *fmt, ...)
{
	if (!ps->o.log)
		return;
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ps->o.log(ps->o.log_ud, level, msg);
}

void ps_clean(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < cap; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[i] = ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\' ? '?' : (char)ch;
	}
	if (cap)
		dst[i] = '\0';
}

int ps_empty_ctl(const gx_frame_hdr *h)
{
	return h->codec == GX_CODEC_NONE && h->payload_len == 0 && h->count == 0;
}

int ps_parse_keytable(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl,
		      gx_keyent **e, size_t *n)
{
	int r = h->codec == GX_CODEC_NONE ? gx_keytable_parse(pl, h->payload_len, e, n) : GX_EPROTO;
	if (r == GX_ENOMEM) {
		ps_finish(ps, r, NULL, "out of memory");
		return r;
	}
	if (r || *n == 0) {
		if (!r)
			free(*e);
		ps_violation(ps, p, GX_EPROTO, "malformed KEYTABLE");
		return r ? r : GX_EPROTO;
	}
	return 0;
}

int ps_send_slice_ctl(gx_conn *c, int type, uint32_t key, uint32_t block)
{
	if (!c)
		return GX_EIO;
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = (uint8_t)type;
	h.key = key;
	h.block = block;
	h.codec = GX_CODEC_NONE;
	return gx_conn_send(c, &h, NULL);
}

int ps_sent(gx_ps *ps, int rc)
{
	/* GX_EIO: the link is closing, and its on_close tells the story. */
	if (rc && rc != GX_EIO && !ps->finishing)
		ps_finish(ps, rc, NULL, "cannot queue a frame: %s", gx_strerror(rc));
	return rc;
}

int ps_send_f32(gx_ps *ps, gx_conn *c, int type, uint32_t key, uint32_t block, uint32_t round,
		uint32_t sender, const float *x, uint64_t n)
{
	if (!c)
		return GX_EIO;
	return ps_sent(ps, gx_send_f32(c, type, key, block, round, sender, x, n));
}

/* ------------------------------------------------------------- options */

void gx_ps_opts_default(gx_ps_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof *o);
	o->role = GX_ROLE_LOCAL;
	o->listen = "127.0.0.1:0";
	o->parties = 1;
	o->workers = 1;
	o->sync = GX_SYNC_FULL;
	gx_optim_opts_default(&o->optim, GX_OPT_SGD);
	o->split_bound = GX_DEFAULT_SPLIT_BOUND;
	o->connect_timeout = GX_DEFAULT_CONNECT_TIMEOUT;
	o->heartbeat = GX_DEFAULT_HEARTBEAT;
	o->heartbeat_timeout = GX_DEFAULT_HEARTBEAT_TIMEOUT;
	o->k1 = GX_DEFAULT_K1;
	o->k2 = GX_DEFAULT_K2;
	o->wan.kind = GX_LINK_NONE;
	o->wan.ratio = GX_DEFAULT_TOPK;
	o->wan.bound = GX_DEFAULT_MPQ_BOUND;
	o->lan = GX_LINK_NONE;
	o->sparse_min = GX_DEFAULT_SPARSE_MIN;
	gx_frame_limits_default(&o->limits);
}

static int bad_seconds(double s)
{
	return !(s > 0 && s < 1e7);
}

/* Checks what gx_ps_create cannot work without; logs the reason. */
static int opts_check(gx_ps *ps)
{
	const gx_ps_opts *o = &ps->o;
	if (o->role != GX_ROLE_GLOBAL && o->role != GX_ROLE_LOCAL) {
		ps_log(ps, GX_LOG_ERROR, "invalid role %d (want global or local)", o->role);
		return GX_EINVAL;
	}
	if (o->role == GX_ROLE_GLOBAL && (o->parties < 1 || o->parties > MAX_CONTRIB)) {
		ps_log(ps, GX_LOG_ERROR, "invalid number of parties %d (want 1..%d)", o->parties,
		       MAX_CONTRIB);
		return GX_EINVAL;
	}
	if (o->role == GX_ROLE_LOCAL && (o->workers < 1 || o->workers > MAX_CONTRIB)) {
		ps_log(ps, GX_LOG_ERROR, "invalid number of workers %d (want 1..%d)", o->workers,
		       MAX_CONTRIB);
		return GX_EINVAL;
	}
	if (o->role == GX_ROLE_LOCAL && (!o->upstream || !*o->upstream)) {
		ps_log(ps, GX_LOG_ERROR, "a local server needs its upstream global servers");
		return GX_EINVAL;
	}
	if (o->sync != GX_SYNC_FULL && o->sync != GX_SYNC_MIXED && o->sync != GX_SYNC_HFA) {
		ps_log(ps, GX_LOG_ERROR, "invalid sync mode %d", o->sync);
		return GX_EINVAL;
	}
	if (o->sync == GX_SYNC_HFA && (o->k1 < 1 || o->k2 < 1)) {
		ps_log(ps, GX_LOG_ERROR, "HFA needs k1 and k2 of at least 1 (got %u and %u)", o->k1,
		       o->k2);
		return GX_EINVAL;
	}
	if (o->wan.kind < GX_LINK_NONE || o->wan.kind > GX_LINK_MPQ ||
	    ((o->wan.kind == GX_LINK_BSC || o->wan.kind == GX_LINK_MPQ) &&
	     !(o->wan.ratio > 0 && o->wan.ratio <= 1)) ||
	    (o->wan.kind == GX_LINK_MPQ && o->wan.bound < 1)) {
		ps_log(ps, GX_LOG_ERROR, "invalid WAN codec");
		return GX_EINVAL;
	}
	if (o->lan != GX_LINK_NONE && o->lan != GX_LINK_FP16) {
		ps_log(ps, GX_LOG_ERROR, "invalid LAN codec (none or fp16)");
		return GX_EINVAL;
	}
	if (!isfinite(o->ef_momentum) || o->ef_momentum < 0 || o->ef_momentum >= 1) {
		ps_log(ps, GX_LOG_ERROR, "invalid error-feedback momentum %g (want 0 <= m < 1)",
		       (double)o->ef_momentum);
		return GX_EINVAL;
	}
	if (bad_seconds(o->connect_timeout) || bad_seconds(o->heartbeat) ||
	    bad_seconds(o->heartbeat_timeout)) {
		ps_log(ps, GX_LOG_ERROR, "invalid timeouts (connect %g s, heartbeat %g s, "
		       "heartbeat timeout %g s)", o->connect_timeout, o->heartbeat,
		       o->heartbeat_timeout);
		return GX_EINVAL;
	}
	if (o->split_bound < 1) {
		ps_log(ps, GX_LOG_ERROR, "invalid split bound 0");
		return GX_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------ lifetime */

static void on_wake(gx_ev *ev, void *ud);

gx_ps *gx_ps_create(const gx_ps_opts *o, int *err)
{
	int rc = GX_EINVAL;
	gx_ps *ps = NULL;
	if (!o)
		goto fail;
	rc = GX_ENOMEM;
	if (!(ps = calloc(1, sizeof *ps)))
		goto fail;
	ps->o = *o;
	ps->lfd = -1;
	ps->flat = -1;
	ps->agg = -1;
	ps->listen_s = strdup(o->listen ? o->listen : "127.0.0.1:0");
	ps->ef_save_s = o->ef_save ? strdup(o->ef_save) : NULL;
	if (o->ef_save && !ps->ef_save_s)
		goto fail;
	ps->o.ef_save = ps->ef_save_s;
	ps->upstream_s = o->upstream ? strdup(o->upstream) : NULL;
	if (!ps->listen_s || (o->upstream && !ps->upstream_s))
		goto fail;
	ps->o.listen = ps->listen_s;
	ps->o.upstream = ps->upstream_s;
	if (o->psk) {
		memcpy(ps->psk.k, o->psk, sizeof ps->psk.k);
		ps->o.psk = ps->psk.k;
	}
	if (!ps->o.limits.max_payload || !ps->o.limits.max_count)
		gx_frame_limits_default(&ps->o.limits);
	if ((rc = opts_check(ps)))
		goto fail;
	if (o->role == GX_ROLE_GLOBAL)
		snprintf(ps->name, sizeof ps->name, "global");
	else
		snprintf(ps->name, sizeof ps->name, "local %u", o->party);

	rc = GX_ENOMEM;
	ps->n = o->role == GX_ROLE_GLOBAL ? o->parties : o->workers;
	ps->slot = calloc((size_t)ps->n, 1);
	ps->who = calloc((size_t)ps->n, sizeof *ps->who);
	ps->slot_workers = calloc((size_t)ps->n, sizeof *ps->slot_workers);
	if (!ps->slot || !ps->who || !ps->slot_workers)
		goto fail;
	if (!(ps->ev = gx_ev_create(64))) {
		ps_log(ps, GX_LOG_ERROR, "cannot create the event loop");
		rc = GX_EIO;
		goto fail;
	}
	gx_codec_opts co;
	gx_codec_opts_default(&co);
	if (!(ps->codec = gx_codec_create(&co, &rc)))
		goto fail;
	if ((rc = ps_codec_init(ps)))
		goto fail;

	char host[256], ebuf[256];
	int port;
	if (gx_net_split(ps->listen_s, host, sizeof host, &port)) {
		ps_log(ps, GX_LOG_ERROR, "invalid listen address '%s' (want HOST:PORT)",
		       ps->listen_s);
		rc = GX_EINVAL;
		goto fail;
	}
	ebuf[0] = '\0';
	ps->lfd = gx_net_listen(host, port, ebuf, sizeof ebuf);
	if (ps->lfd < 0) {
		/* gx_net_listen's reason names the address already. */
		if (ebuf[0])
			ps_log(ps, GX_LOG_ERROR, "%s", ebuf);
		else
			ps_log(ps, GX_LOG_ERROR, "cannot listen on %s", ps->listen_s);
		rc = ps->lfd;
		ps->lfd = -1;
		goto fail;
	}
	ps->port = gx_net_port(ps->lfd);
	rc = o->role == GX_ROLE_GLOBAL ? ps_global_init(ps) : ps_local_init(ps);
	if (rc)
		goto fail;
	gx_ev_on_wake(ps->ev, on_wake, ps);
	if (err)
		*err = 0;
	return ps;
fail:
	if (rc == GX_ENOMEM && ps)
		ps_log(ps, GX_LOG_ERROR, "out of memory");
	gx_ps_free(ps);
	if (err)
		*err = rc;
	return NULL;
}

int gx_ps_port(const gx_ps *ps)
{
	return ps ? ps->port : -1;
}

static void peer_free(ps_peer *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	free(p->next_round);
	free(p->did_init);
	free(p);
}

void gx_ps_free(gx_ps *ps)
{
	if (!ps)
		return;
	ps->finishing = 1; /* a close now is nobody's death */
	for (ps_peer *p = ps->peers; p; p = p->next) {
		p->gone = 1;
		if (p->c)
			gx_conn_close(p->c, 0, "server freed");
		if (p->fd >= 0 && ps->ev)
			gx_ev_del(ps->ev, p->fd, GX_EV_READ | GX_EV_WRITE);
	}
	if (ps->o.role == GX_ROLE_GLOBAL)
		ps_global_free(ps);
	else
		ps_local_free(ps);
	for (ps_peer *p = ps->peers, *n; p; p = n) {
		n = p->next;
		peer_free(p);
	}
	if (ps->lfd >= 0)
		close(ps->lfd);
	gx_ev_free(ps->ev);
	gx_codec_free(ps->codec);
	ps_codec_free(ps);
	free(ps->ef_save_s);
	free(ps->slot);
	free(ps->who);
	free(ps->slot_workers);
	free(ps->listen_s);
	free(ps->upstream_s);
	explicit_bzero(&ps->psk, sizeof ps->psk);
	free(ps);
}

void gx_ps_stop(gx_ps *ps)
{
	if (!ps)
		return;
	ps->stop_req = 1;
	gx_ev_wake(ps->ev);
}

void gx_ps_request_stats(gx_ps *ps)
{
	if (!ps)
		return;
	ps->stats_req = 1;
	gx_ev_wake(ps->ev);
}

/* --------------------------------------------------------- the job's end */

static int live_links(gx_ps *ps)
{
	for (ps_peer *p = ps->peers; p; p = p->next)
		if (p->c)
			return 1;
	return 0;
}

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
		if (code)
			gx_send_error(p->c, code, "%s: %s", ps->name, msg);
		else
			gx_conn_close(p->c, 1, "job done");
	}
}

void ps_check_done(gx_ps *ps)
{
	if (ps->finishing || ps->byeing)
		return;
	int bye = 0, dead = 0;
	for (int i = 0; i < ps->n; i++) {
		if (ps->slot[i] == SLOT_EMPTY || ps->slot[i] == SLOT_LIVE)
			return;
		bye += ps->slot[i] == SLOT_BYE;
		dead += ps->slot[i] == SLOT_DEAD;
	}
	const char *what = ps->o.role == GX_ROLE_LOCAL || ps->flat == 1 ? "worker" : "party";
	if (!bye) {
		ps_finish(ps, GX_EPEER, NULL, "every %s died", what);
		return;
	}
	if (dead)
		ps_log(ps, GX_LOG_WARN, "%d of %d %s%s finished, %d died", bye, ps->n, what,
		       ps->n > 1 ? (what[0] == 'p' ? "ies" : "s") : "", dead);
	if (ps->o.role == GX_ROLE_LOCAL)
		ps_local_bye(ps);
	else
		ps_finish(ps, 0, NULL, "job done: every %s said goodbye", what);
}

static void settle(gx_ps *ps)
{
	if (ps->o.role == GX_ROLE_GLOBAL)
		ps_global_settle(ps);
	else
		ps_local_settle(ps);
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
	if (ps->o.role == GX_ROLE_LOCAL)
		ps_local_members(ps);
	settle(ps);
	ps_check_done(ps);
}

void ps_peer_bye(gx_ps *ps, ps_peer *p)
{
	p->gone = 1;
	ps->slot[p->slot] = SLOT_BYE;
	gx_send_ctl(p->c, GX_FT_BYE, 0, 0, NULL, 0);
	gx_conn_close(p->c, 1, "goodbye");
	ps_log(ps, GX_LOG_INFO, "%s said goodbye", p->label);
	settle(ps);
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
	if (p->up) {
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

void ps_admit(gx_ps *ps, ps_peer *p, int slot, const char *label)
{
	p->state = PEER_MEMBER;
	p->slot = slot;
	snprintf(p->label, sizeof p->label, "%s", label);
	gx_conn_set_name(p->c, p->label);
	ps->who[slot] = p;
	ps->slot[slot] = SLOT_LIVE;
	p->tx_ms = gx_now_ms();

	gx_hello a;
	memset(&a, 0, sizeof a);
	a.proto = GX_PROTO_VERSION;
	a.role = (uint8_t)ps->o.role;
	if (ps->o.role == GX_ROLE_GLOBAL) {
		a.sync = (uint8_t)ps->o.sync;
	} else {
		a.sync = (uint8_t)ps->up_sync;
		a.rank = ps->o.party;
		a.party = ps->o.party;
	}
	snprintf(a.name, sizeof a.name, "%s", ps->name);
	uint8_t buf[GX_HELLO_SIZE];
	gx_hello_pack(&a, buf);
	gx_send_ctl(p->c, GX_FT_HELLO_ACK, 0, 0, buf, GX_HELLO_SIZE);
	ps_send_config(ps, p);

	int have = 0;
	for (int i = 0; i < ps->n; i++)
		have += ps->slot[i] != SLOT_EMPTY;
	ps_log(ps, GX_LOG_INFO, "%s joined (%d of %d)", p->label, have, ps->n);
}

/* ---------------------------------------------------------- connections */

/* What the server still waits for, e.g. "2 of 4 workers: rank 1, rank 3". */
static int describe_missing(gx_ps *ps, char *buf, size_t cap)
{
	int missing = 0;
	for (int i = 0; i < ps->n; i++)
		missing += ps->slot[i] == SLOT_EMPTY;
	if (!missing)
		return 0;
	int local = ps->o.role == GX_ROLE_LOCAL;
	const char *what = local || ps->flat == 1 ? (ps->n == 1 ? "worker" : "workers")
						  : (ps->n == 1 ? "party" : "parties");
	size_t len = (size_t)snprintf(buf, cap, "%d of %d %s", missing, ps->n, what);
	if (ps->flat == 1) /* slots are handed out as workers come: no names */
		return missing;
	int shown = 0;
	for (int i = 0; i < ps->n && len < cap; i++) {
		if (ps->slot[i] != SLOT_EMPTY)
			continue;
		if (shown == 16) {
			snprintf(buf + len, cap - len, ", ...");
			break;
		}
		len += (size_t)snprintf(buf + len, cap - len, "%s%s %d", shown ? ", " : ": ",
					local ? "rank" : "party", i);
		shown++;
	}
	return missing;
}

static void on_accept(gx_ev *ev, int fd, void *ud, int mask);

static long resume_accepting(gx_ev *ev, long long id, void *ud)
{
	gx_ps *ps = ud;
	if (ps->accepting && !ps->finishing)
		gx_ev_add(ps->ev, ps->lfd, GX_EV_READ, on_accept, ps);
	return -1;
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
		p->ps = ps;
		p->fd = -1;
		p->state = PEER_HELLO;
		p->t_open = p->tx_ms = gx_now_ms();
		ps_clean(p->addr, sizeof p->addr, addr);
		snprintf(p->label, sizeof p->label, "connection from %s", p->addr);
		p->c = gx_conn_create(ps->ev, cfd, &ps->o.limits, ps_on_frame, ps_on_close, p);
		if (!p->c) {
			free(p);
			ps_log(ps, GX_LOG_WARN, "out of memory: refused a connection from %s",
			       addr);
			continue;
		}
		gx_conn_set_name(p->c, p->label);
		if (ps->o.psk && gx_conn_secure(p->c, &ps->psk, GX_SEC_SERVER, 0)) {
			gx_conn_close(p->c, 0, "out of memory");
			ps_log(ps, GX_LOG_WARN, "out of memory: refused a connection from %s",
			       addr);
			continue;
		}
		p->next = ps->peers;
		ps->peers = p;
		ps_log(ps, GX_LOG_DEBUG, "%s", p->label);
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
	p->role = hl.role;
	p->rank = hl.rank;
	p->party = hl.party;
	p->workers = hl.workers;
	if (ps->o.role == GX_ROLE_GLOBAL)
		ps_global_hello(ps, p, &hl);
	else
		ps_local_hello(ps, p, &hl);
	if (p->state == PEER_MEMBER && hl.name[0])
		ps_log(ps, GX_LOG_DEBUG, "%s calls itself '%s'", p->label, hl.name);
}

void ps_on_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *pl, void *ud)
{
	ps_peer *p = ud;
	gx_ps *ps = p->ps;
	if (ps->finishing || (p->gone && !p->up))
		return;
	if (p->up) {
		ps_local_up_frame(ps, p, h, pl);
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
	}
	if (ps->o.role == GX_ROLE_GLOBAL)
		ps_global_frame(ps, p, h, pl);
	else
		ps_local_frame(ps, p, h, pl);
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
	/* A secure link that failed its handshake or its records: conn.c has
	 * told a plaintext peer why; anything written raw here would read as
	 * plaintext to a keyed peer, or as a forged record. */
	int sec = ps->o.psk != NULL;
	int decode_error = err < 0 && err != GX_EIO && !(sec && !gx_conn_established(c)) &&
			   err != GX_EAUTH && err != GX_ETRUNC && err != GX_ETIMEOUT;
	if (decode_error && !sec && !p->gone && !ps->finishing)
		error_raw(c, err, why);
	p->c = NULL;
	if (p->up) {
		ps_local_up_closed(ps, p, err, why);
		return;
	}
	if (p->gone || ps->finishing)
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
		ps_peer_dead(ps, p, reason);
	} else {
		p->gone = 1;
		if (err)
			ps_log(ps, GX_LOG_WARN, "%s refused: %s", p->label, reason);
		else
			ps_log(ps, GX_LOG_DEBUG, "%s closed before its HELLO", p->label);
	}
}

/* Frees closed connections that never became members. */
static void reap(gx_ps *ps)
{
	for (ps_peer **pp = &ps->peers; *pp;) {
		ps_peer *p = *pp;
		if (!p->c && !p->up && p->state != PEER_MEMBER) {
			*pp = p->next;
			peer_free(p);
		} else {
			pp = &p->next;
		}
	}
}

/* ------------------------------------------------------------ the loop */

static void log_stats(gx_ps *ps)
{
	long n = gx_ps_stats(ps, NULL, 0, 0);
	if (n <= 0)
		return;
	char *buf = malloc((size_t)n + 1);
	if (!buf)
		return;
	gx_ps_stats(ps, buf, (size_t)n + 1, 0);
	for (char *line = buf, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		ps_log(ps, GX_LOG_WARN, "stats: %s", line);
	}
	free(buf);
}

static void flags(gx_ps *ps)
{
	if (ps->stats_req) {
		ps->stats_req = 0;
		log_stats(ps);
	}
	if (ps->stop_req && !ps->finishing)
		ps_finish(ps, 0, NULL, "stopped");
}

static void on_wake(gx_ev *ev, void *ud)
{
	flags(ud);
}

/* Heartbeats, silence, hello deadlines, the wait for contributors. */
static void housekeeping(gx_ps *ps)
{
	uint64_t now = gx_now_ms();
	const gx_ps_opts *o = &ps->o;
	if (o->role == GX_ROLE_LOCAL)
		ps_local_tick(ps, now);
	if (ps->finishing)
		return;
	char miss[512];
	if (ps->accepting && describe_missing(ps, miss, sizeof miss)) {
		if (now - ps->t_accept >= (uint64_t)(o->connect_timeout * 1000)) {
			ps_finish(ps, GX_ETIMEOUT, NULL, "timed out after %g s waiting for %s",
				  o->connect_timeout, miss);
			return;
		}
		if (now - ps->last_wait_log >= WAIT_LOG_MS) {
			ps_log(ps, GX_LOG_WARN, "waiting for %s", miss);
			ps->last_wait_log = now;
		}
	}
	uint64_t hb = (uint64_t)(o->heartbeat * 1000);
	uint64_t hbt = (uint64_t)(o->heartbeat_timeout * 1000);
	for (ps_peer *p = ps->peers; p && !ps->finishing; p = p->next) {
		if (!p->c || p->gone)
			continue;
		if (!p->up && p->state == PEER_HELLO) {
			if (now - p->t_open >= (uint64_t)(o->connect_timeout * 1000))
				ps_violation(ps, p, GX_ETIMEOUT, "no HELLO within %g s",
					     o->connect_timeout);
			continue;
		}
		if (p->up && p->ust != UP_READY && p->ust != UP_BYE)
			continue;
		uint64_t rx = gx_conn_last_rx(p->c);
		if (rx < p->t_open)
			rx = p->t_open;
		if (now > rx && now - rx > hbt) {
			char why[96];
			snprintf(why, sizeof why, "silent for %.1f s", (double)(now - rx) / 1000);
			if (p->up)
				ps_finish(ps, GX_EPEER, NULL, "%s died: %s", p->label, why);
			else
				ps_peer_dead(ps, p, why);
			continue;
		}
		const gx_conn_stats *st = gx_conn_get_stats(p->c);
		if (st->bytes_out != p->tx_bytes) {
			p->tx_bytes = st->bytes_out;
			p->tx_ms = now;
		} else if (now - p->tx_ms >= hb && !gx_conn_pending(p->c)) {
			gx_send_ctl(p->c, GX_FT_HEARTBEAT, 0, 0, NULL, 0);
			p->tx_ms = now;
		}
	}
}

static long on_tick(gx_ev *ev, long long id, void *ud)
{
	gx_ps *ps = ud;
	flags(ps);
	housekeeping(ps);
	long ms = (long)(ps->o.heartbeat * 500);
	return ms < 5 ? 5 : ms > TICK_MS ? TICK_MS : ms;
}

int gx_ps_run(gx_ps *ps)
{
	if (!ps || ps->ran)
		return GX_EINVAL;
	ps->ran = 1;
	ps->t_start = ps->last_wait_log = gx_now_ms();
	ps->tick = gx_ev_timer(ps->ev, 5, on_tick, ps);
	if (ps->tick < 0) {
		ps_log(ps, GX_LOG_ERROR, "cannot start the timer: %s", gx_strerror((int)ps->tick));
		return (int)ps->tick;
	}
	if (ps->o.role == GX_ROLE_GLOBAL) {
		ps_log(ps, GX_LOG_INFO, "serving %d part%s on port %d, %s sync, %s", ps->n,
		       ps->n == 1 ? "y" : "ies", ps->port,
		       ps_sync_name(ps->o.sync),
		       gx_optim_name(ps->o.optim.kind) ? gx_optim_name(ps->o.optim.kind) : "?");
		ps_start_accepting(ps);
	} else {
		ps_local_start(ps);
	}
	while (!ps->over) {
		flags(ps);
		int r = gx_ev_once(ps->ev, -1);
		if (r < 0) {
			ps_finish(ps, GX_EIO, NULL, "the event loop failed: %s", strerror(errno));
			ps->over = 1;
		}
		reap(ps);
		if (ps->finishing && (!live_links(ps) || gx_now_ms() >= ps->drain_until))
			ps->over = 1;
	}
	for (ps_peer *p = ps->peers; p; p = p->next) {
		p->gone = 1;
		if (p->c)
			gx_conn_close(p->c, 0, "server stopped");
	}
	reap(ps);
	ps_stop_accepting(ps);
	gx_ev_timer_del(ps->ev, ps->tick);
	if (ps->o.role == GX_ROLE_LOCAL && ps_codec_save_ef(ps) && !ps->rc)
		ps->rc = GX_EIO;
	return ps->rc;
}
