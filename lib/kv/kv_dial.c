/*
 * kv_dial.c — the worker client reaching its servers, on the I/O thread:
 * one dial per server (net/dial.h: connect with backoff until
 * connect_timeout, HELLO, HELLO_ACK, CONFIG), what the client checks in
 * each server's answers, and the connect phase's end: every server ready
 * (gx_kv_connect returns the client) or the first failure (it returns the
 * error, with one line per server that was not reached); and where a
 * worker restarted in its place goes on from. Also the servers' list and
 * the options gx_kv_connect checks first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_internal.h"

/* Splits "host:port[,host:port...]" into kv->srv (gx_net_addr_list). */
int kv_parse_servers(gx_kv *kv, const char *list)
{
	size_t n = 0;
	if (gx_net_addr_list(list, NULL, 0, &n, NULL, 0) != 0)
		return GX_EINVAL;
	gx_net_addr *a = calloc(n, sizeof *a);
	kv->srv = calloc(n, sizeof *kv->srv);
	if (!a || !kv->srv) {
		free(a);
		return GX_ENOMEM;
	}
	gx_net_addr_list(list, a, n, &n, NULL, 0);
	for (size_t i = 0; i < n; i++) {
		kv_srv *s = &kv->srv[i];
		snprintf(s->addr, sizeof s->addr, "%s", a[i].text);
		snprintf(s->host, sizeof s->host, "%s", a[i].host[0] ? a[i].host : "127.0.0.1");
		s->port = a[i].port;
		s->kv = kv;
		s->idx = (int)i;
		gx_heap_init(&s->heap, kv_part_less);
		kv->nsrv++;
	}
	free(a);
	return 0;
}

int kv_check_opts(const gx_kv_opts *o)
{
	if (!o || !o->servers || !*o->servers)
		return GX_EINVAL;
	if (!(o->connect_timeout >= 0 && o->connect_timeout < 1e6) ||
	    !(o->heartbeat > 0 && o->heartbeat < 1e6) ||
	    !(o->heartbeat_timeout > 0 && o->heartbeat_timeout < 1e6))
		return GX_EINVAL;
	if (o->limits.max_payload < GX_FRAME_HDR_SIZE || o->limits.max_count == 0)
		return GX_EINVAL;
	return 0;
}

static void dial_retry(gx_dial *d, void *ud)
{
	kv_srv *s = ud;
	uint64_t now = gx_now_ms();
	if (now - s->last_log >= KV_WAIT_LOG_MS) {
		kv_log(s->kv, GX_LOG_WARN, "waiting for %s (%s)", s->addr, d->why);
		s->last_log = now;
	}
}

static void dial_open(gx_dial *d, gx_conn *c, void *ud)
{
	kv_srv *s = ud;
	s->c = c;
	s->st = S_HELLO;
	if (s->kv->o.credit)
		gx_conn_set_credit(c, s->kv->o.credit);
}

static int dial_check_ack(gx_dial *d, const gx_hello *a, char *why, size_t cap, void *ud)
{
	kv_srv *s = ud;
	gx_kv *kv = s->kv;
	if (a->role != GX_ROLE_GLOBAL && a->role != GX_ROLE_LOCAL) {
		snprintf(why, cap, "HELLO_ACK from role %u, expected a local or global server",
			 a->role);
		return GX_EPROTO;
	}
	if (kv->nsrv > 1 && a->role != GX_ROLE_GLOBAL) {
		snprintf(why, cap, "server %s is a local server, but several servers mean flat mode "
			 "(global servers only)", s->addr);
		return GX_EINVAL;
	}
	if (a->role == GX_ROLE_GLOBAL && a->nservers && (int)a->nservers != kv->nsrv) {
		snprintf(why, cap, "server %s says there are %u global servers, %d given", s->addr,
			 a->nservers, kv->nsrv);
		return GX_EINVAL;
	}
	s->ack = *a;
	s->st = S_CONFIG;
	return 0;
}

/* The CONFIG after HELLO_ACK: what this client must follow. */
static int dial_check_config(gx_dial *d, const gx_config *c, char *why, size_t cap, void *ud)
{
	kv_srv *s = ud;
	gx_kv *kv = s->kv;
	if (c->lan && s->ack.role != GX_ROLE_LOCAL) {
		snprintf(why, cap, "a global server cannot ask for an fp16 LAN");
		return GX_EPROTO;
	}
	for (int i = 0; i < kv->nsrv; i++) {
		const kv_srv *o = &kv->srv[i];
		if (o != s && o->st == S_READY &&
		    (o->cfg.sync != c->sync || o->cfg.k1 != c->k1 || o->cfg.k2 != c->k2)) {
			snprintf(why, cap, "server %s runs other settings (sync, k1, k2) than server %s",
				 s->addr, o->addr);
			return GX_EINVAL;
		}
	}
	return 0;
}

static void dial_ready(gx_dial *d, int fd, void *ud)
{
	kv_srv *s = ud;
	gx_kv *kv = s->kv;
	const gx_config *c = &d->cfg;
	s->cfg = *c;
	s->st = S_READY;
	s->ready_at = s->last_tx = gx_now_ms();
	if (s->redial) { /* its parts wait in the heap: the loop's pump sends them */
		s->redial = 0;
		kv_log(kv, GX_LOG_WARN, "server %s is back: sending again what it had not answered",
		       s->addr);
		return;
	}
	kv_log(kv, GX_LOG_INFO, "connected to %s server %s (%s)", gx_role_name(s->ack.role),
	       s->addr, s->ack.name);
	for (int i = 0; i < kv->nsrv; i++)
		if (kv->srv[i].st != S_READY)
			return;
	pthread_mutex_lock(&kv->mu);
	kv->info.sync = c->sync;
	kv->info.k1 = c->k1;
	kv->info.k2 = c->k2;
	kv->info.lan = c->lan;
	kv->info.block = kv->nsrv == 1 ? c->block : 0;
	kv->phase = P_READY;
	pthread_cond_broadcast(&kv->cv);
	pthread_mutex_unlock(&kv->mu);
}

/* The deadline passed: one line per server not ready. */
static void log_timeouts(gx_kv *kv, const kv_srv *failed, const char *why)
{
	for (int i = 0; i < kv->nsrv; i++) {
		const kv_srv *s = &kv->srv[i];
		const char *r = s->dial.why[0] ? s->dial.why : "no answer";
		if (s->st == S_READY)
			continue;
		if (s->st == S_HELLO || s->st == S_CONFIG)
			r = "no answer to HELLO";
		else if (s == failed)
			r = why;
		else if (s->dial.state == GX_DIAL_CONNECTING)
			r = "no answer";
		kv_log(kv, GX_LOG_ERROR, "could not connect to %s within %g s (%s)", s->addr,
		       kv->o.connect_timeout, r);
	}
}

static void dial_fail(gx_dial *d, int err, const char *why, void *ud)
{
	kv_srv *s = ud;
	gx_kv *kv = s->kv;
	if (s->redial) {
		kv_log(kv, GX_LOG_ERROR, "server %s lost and not back: %s (gave up after %g s)",
		       s->addr, why, kv->o.reconnect_timeout);
		s->st = S_CLOSED;
		kv_fail(kv, GX_EPEER);
		return;
	}
	switch (err) {
	case GX_ETIMEOUT:
		log_timeouts(kv, s, why);
		break;
	case GX_EPROTO:
		kv_log(kv, GX_LOG_ERROR, "server %s: protocol error: %s", s->addr, why);
		break;
	case GX_EREFUSED:
		kv_log(kv, GX_LOG_ERROR, "server %s refused us: %s", s->addr, why);
		break;
	case GX_EPEER:
		kv_log(kv, GX_LOG_ERROR, "server %s closed the connection during the hello: %s",
		       s->addr, why);
		break;
	case GX_EINVAL: /* our checks: the line names the server */
		kv_log(kv, GX_LOG_ERROR, "%s", why);
		break;
	default:
		kv_log(kv, GX_LOG_ERROR, "server %s: %s", s->addr, why);
	}
	s->st = S_CLOSED; /* the dialer closes the connection it opened */
	kv_connect_failed(kv, err);
}

static const gx_dial_cbs dial_cbs = {
	.on_retry = dial_retry,
	.on_open = dial_open,
	.check_ack = dial_check_ack,
	.check_config = dial_check_config,
	.on_ready = dial_ready,
	.on_fail = dial_fail,
};

/* The options every dial of this client shares; label is the caller's. */
static gx_dial_opts dial_opts(gx_kv *kv, const gx_hello *hl, char *label)
{
	gx_dial_opts o = {
		.timeout_ms = (long)(kv->o.connect_timeout * 1000),
		.cb = &dial_cbs,
		.hello = hl,
		.psk = kv->o.psk ? &kv->psk : NULL,
		.lim = &kv->o.limits,
		.label = label,
		.on_frame = kv_conn_frame,
		.on_close = kv_conn_close,
		.on_header = kv_conn_header,
	};
	return o;
}

static void worker_hello(const gx_kv *kv, gx_hello *hl)
{
	memset(hl, 0, sizeof *hl);
	hl->role = GX_ROLE_WORKER;
	hl->rank = kv->o.rank;
	hl->party = kv->o.party;
	hl->mode = kv->o.restarted ? GX_HELLO_RESTARTED : GX_HELLO_NEW;
}

int kv_redial(kv_srv *s)
{
	gx_kv *kv = s->kv;
	char label[320];
	gx_hello hl;
	worker_hello(kv, &hl);
	hl.mode = GX_HELLO_BACK; /* to its place, with what was not answered */
	snprintf(label, sizeof label, "server %s", s->addr);
	gx_dial_opts o = dial_opts(kv, &hl, label);
	o.timeout_ms = (long)(kv->o.reconnect_timeout * 1000);
	o.retry_closed = 1; /* a relay on the way may be restarting */
	o.host = s->host;
	o.port = s->port;
	o.ud = s;
	s->st = S_DIAL;
	s->redial = 1;
	int e = gx_dial_start(&s->dial, kv->ev, &o);
	if (e)
		kv_log(kv, GX_LOG_ERROR, "cannot dial %s again: %s", s->addr, gx_strerror(e));
	return e;
}

int kv_start_dials(gx_kv *kv)
{
	char label[320];
	gx_hello hl;
	worker_hello(kv, &hl);
	gx_dial_opts o = dial_opts(kv, &hl, label);
	for (int i = 0; i < kv->nsrv && !kv->io_exit; i++) {
		kv_srv *s = &kv->srv[i];
		snprintf(label, sizeof label, "server %s", s->addr);
		o.host = s->host;
		o.port = s->port;
		o.ud = s;
		s->last_log = gx_now_ms();
		int e = gx_dial_start(&s->dial, kv->ev, &o);
		if (e) {
			kv_log(kv, GX_LOG_ERROR, "cannot connect to %s: %s", s->addr,
			       gx_strerror(e));
			kv_connect_failed(kv, e);
			return e;
		}
	}
	return 0;
}

/* A restarted worker goes on from the earliest round of its place: every
 * key pushes from there, and a slice whose place was one round further
 * (its push of that round was in before the process died) takes that push
 * as one sent again and answers with the round's result. */
int kv_restart_rounds(gx_kv *kv)
{
	uint32_t lo = UINT32_MAX, hi = 0;
	for (size_t i = 0; i < kv->nkeys; i++) {
		if (kv->keys[i].init_lo < lo)
			lo = kv->keys[i].init_lo;
		if (kv->keys[i].init_round > hi)
			hi = kv->keys[i].init_round;
	}
	if (kv->nkeys && hi - lo > 1) {
		kv_log(kv, GX_LOG_ERROR, "restarted: its place's rounds run from %u to %u (at most "
		       "one apart in a synchronous job)", lo, hi);
		return GX_EPROTO;
	}
	for (size_t i = 0; i < kv->nkeys; i++)
		kv->keys[i].rounds = lo;
	kv->info.inside_step = kv->nkeys && hi != lo;
	return 0;
}
