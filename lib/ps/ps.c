/*
 * ps.c — the parameter server's core (docs/protocol.md): creation and the
 * options, the loop, heartbeats and silence, and the helpers both roles
 * use. ps_peer.c holds the core's side of the connections and the job's
 * end; a role (ps_global.c, ps_local.c) is reached only through its
 * ps_role table (ps_internal.h), chosen once by gx_ps_create.
 *
 * Choices:
 *  - Nothing is freed while a callback may still hold it: a closed
 *    connection only clears its peer's pointer, and peers that never
 *    became members are reaped by the loop between iterations. Members
 *    stay until gx_ps_free, for the stats.
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

#include "../net/dgram.h"
#include "ps_internal.h"

#define TICK_MS 100          /* the housekeeping timer, at most */
#define WAIT_LOG_MS 2000     /* "waiting for ..." lines */

void ps_log(gx_ps *ps, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gx_logv(ps->o.log, ps->o.log_ud, level, fmt, ap);
	va_end(ap);
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

int ps_take_keytable(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl,
		     const gx_keyent *first, size_t nfirst, gx_keyent **e, size_t *n)
{
	*e = NULL;
	*n = 0;
	if (p->has_table) {
		ps_violation(ps, p, GX_EPROTO, "a second KEYTABLE");
		return GX_EPROTO;
	}
	int r = h->codec == GX_CODEC_NONE ? gx_keytable_parse(pl, h->payload_len, e, n) : GX_EPROTO;
	if (r == GX_ENOMEM) {
		ps_finish(ps, r, NULL, "out of memory");
		return r;
	}
	if (r || *n == 0) {
		if (!r)
			free(*e);
		*e = NULL;
		ps_violation(ps, p, GX_EPROTO, "malformed KEYTABLE");
		return r ? r : GX_EPROTO;
	}
	if (!first)
		return 0;
	char diff[160] = "";
	if (*n != nfirst)
		snprintf(diff, sizeof diff, "%zu keys, the first worker's has %zu", *n, nfirst);
	for (size_t i = 0; !diff[0] && i < *n; i++) {
		const gx_keyent *a = &(*e)[i], *b = &first[i];
		if (a->key != b->key || a->count != b->count)
			snprintf(diff, sizeof diff, "entry %zu is key %u of %llu elements, "
				 "the first worker's is key %u of %llu", i, a->key,
				 (unsigned long long)a->count, b->key, (unsigned long long)b->count);
	}
	free(*e);
	*e = NULL;
	if (diff[0]) {
		ps_violation(ps, p, GX_EKEY, "its key table differs: %s", diff);
		return GX_EKEY;
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

int ps_send_tensor(gx_ps *ps, gx_conn *c, const gx_tensor_route *r, const gx_tensor_payload *p)
{
	if (!c)
		return GX_EIO;
	gx_tensor_route rp = *r;
	if (!rp.priority)
		rp.priority = ps_prio_of(ps, r->key);
	return ps_sent(ps, gx_tensor_send(c, &rp, p));
}

int ps_send_f32(gx_ps *ps, gx_conn *c, int type, uint32_t key, uint32_t block, uint32_t round,
		uint32_t sender, const float *x, uint64_t n)
{
	gx_tensor_route r = { .type = type, .key = key, .block = block, .round = round,
			      .sender = sender };
	gx_tensor_payload p;
	gx_tensor_payload_f32(&p, x, n, NULL);
	return ps_send_tensor(ps, c, &r, &p);
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
	o->block = GX_DEFAULT_BLOCK;
	o->overlay_epsilon = GX_DEFAULT_OVL_EPSILON;
	o->overlay_seed = 1;
	o->connect_timeout = GX_DEFAULT_CONNECT_TIMEOUT;
	o->heartbeat = GX_DEFAULT_HEARTBEAT;
	o->heartbeat_timeout = GX_DEFAULT_HEARTBEAT_TIMEOUT;
	o->reconnect_timeout = GX_DEFAULT_RECONNECT_TIMEOUT;
	o->k1 = GX_DEFAULT_K1;
	o->k2 = GX_DEFAULT_K2;
	o->wan.kind = GX_LINK_NONE;
	o->wan.ratio = GX_DEFAULT_TOPK;
	o->wan.bound = GX_DEFAULT_MPQ_BOUND;
	o->lan = GX_LINK_NONE;
	o->sparse_min = GX_DEFAULT_SPARSE_MIN;
	o->dgt.channels = 1;
	o->dgt.target = GX_DEFAULT_DGT_TARGET;
	o->dgt.k_min = GX_DEFAULT_DGT_K_MIN;
	o->dgt.grace = GX_DEFAULT_DGT_GRACE;
	gx_frame_limits_default(&o->limits);
}

int ps_set_contributors(gx_ps *ps, int n, const char *many)
{
	if (n < 1 || n > PS_MAX_CONTRIB) {
		ps_log(ps, GX_LOG_ERROR, "invalid number of %s %d (want 1..%d)", many, n,
		       PS_MAX_CONTRIB);
		return GX_EINVAL;
	}
	ps->n = n;
	return 0;
}

static int bad_seconds(double s)
{
	return !(s > 0 && s < 1e7);
}

/* The role tables by enum gx_role. */
static const ps_role *const roles[] = {
	[GX_ROLE_GLOBAL] = &ps_global_role,
	[GX_ROLE_LOCAL] = &ps_local_role,
};

/* Checks what gx_ps_create cannot work without, and chooses the role;
 * logs the reason. */
static int opts_check(gx_ps *ps)
{
	const gx_ps_opts *o = &ps->o;
	if (o->role < 0 || (size_t)o->role >= sizeof roles / sizeof *roles || !roles[o->role]) {
		ps_log(ps, GX_LOG_ERROR, "invalid role %d (want global or local)", o->role);
		return GX_EINVAL;
	}
	ps->role = roles[o->role];
	int rc = ps->role->opts(ps);
	if (rc)
		return rc;
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
	ps->listen_s = strdup(o->listen ? o->listen : "127.0.0.1:0");
	ps->ef_save_s = o->ef_save ? strdup(o->ef_save) : NULL;
	if (o->ef_save && !ps->ef_save_s)
		goto fail;
	ps->o.ef_save = ps->ef_save_s;
	if (!(ps->o.wan_heartbeat_timeout > 0)) /* the default, never below the LAN's */
		ps->o.wan_heartbeat_timeout = o->heartbeat_timeout > GX_DEFAULT_WAN_HEARTBEAT_TIMEOUT ?
					      o->heartbeat_timeout : GX_DEFAULT_WAN_HEARTBEAT_TIMEOUT;
	if (o->ef_save) { /* what a server killed while saving left */
		int n = gx_atomic_sweep(o->ef_save);
		if (n > 0)
			ps_log(ps, GX_LOG_INFO, "%s: removed %d stale temporar%s of an interrupted "
			       "save", o->ef_save, n, n == 1 ? "y" : "ies");
	}
	ps->upstream_s = o->upstream ? strdup(o->upstream) : NULL;
	ps->overlay_addr_s = o->overlay_addr ? strdup(o->overlay_addr) : NULL;
	ps->overlay_plan_s = o->overlay_plan ? strdup(o->overlay_plan) : NULL;
	if (!ps->listen_s || (o->upstream && !ps->upstream_s) ||
	    (o->overlay_addr && !ps->overlay_addr_s) || (o->overlay_plan && !ps->overlay_plan_s))
		goto fail;
	ps->o.listen = ps->listen_s;
	ps->o.upstream = ps->upstream_s;
	ps->o.overlay_addr = ps->overlay_addr_s;
	ps->o.overlay_plan = ps->overlay_plan_s;
	ps->o.key = NULL; /* (set by ps_keys once the key is checked) */
	if (!ps->o.limits.max_payload || !ps->o.limits.max_count)
		gx_frame_limits_default(&ps->o.limits);
	if ((rc = opts_check(ps)))
		goto fail;
	if (o->key && (rc = ps_keys(ps, o->key)) != 0)
		goto fail;

	rc = GX_ENOMEM;
	ps->slot = calloc((size_t)ps->n, 1);
	ps->who = calloc((size_t)ps->n, sizeof *ps->who);
	if (!ps->slot || !ps->who)
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
	/* Payloads fanned out by reference; large ones are kept for reuse,
	 * since a fresh multi-megabyte buffer pays its page faults again. */
	rc = GX_ENOMEM;
	if (!(ps->bufs = gx_buf_pool_create(PS_BUFS, PS_BUF_MIN, PS_BUF_MAX)))
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
	if ((rc = ps->role->init(ps)))
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
	free(p->answered);
	gx_dg_key_free(p->dgk);
	gx_buf_unref(p->landing);
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
	if (ps->role)
		ps->role->free(ps);
	for (ps_peer *p = ps->peers, *n; p; p = n) {
		n = p->next;
		peer_free(p);
	}
	if (ps->lfd >= 0)
		close(ps->lfd);
	gx_ev_free(ps->ev);
	gx_buf_pool_free(ps->bufs); /* after the connections let go of theirs */
	gx_codec_free(ps->codec);
	ps_codec_free(ps);
	free(ps->ef_save_s);
	ps_prio_free(ps);
	free(ps->slot);
	free(ps->who);
	free(ps->order);
	free(ps->listen_s);
	free(ps->upstream_s);
	free(ps->overlay_addr_s);
	free(ps->overlay_plan_s);
	explicit_bzero(&ps->psk, sizeof ps->psk);
	gx_keyring_free(ps->rings[0]);
	gx_keyring_free(ps->rings[1]);
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

/* ------------------------------------------------------------- waiting */

/* What the server still waits for, e.g. "2 of 4 workers: rank 1, rank 3". */
static int describe_missing(gx_ps *ps, char *buf, size_t cap)
{
	int missing = 0;
	for (int i = 0; i < ps->n; i++)
		missing += ps->slot[i] == SLOT_EMPTY;
	if (!missing)
		return 0;
	const ps_words *w = ps->role->words(ps);
	size_t len = (size_t)snprintf(buf, cap, "%d of %d %s", missing, ps->n,
				      ps->n == 1 ? w->one : w->many);
	if (!w->slot) /* slots are handed out as contributors come: no names */
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
					w->slot, i);
		shown++;
	}
	return missing;
}

/* ------------------------------------------------------------ the loop */

static int live_links(gx_ps *ps)
{
	for (ps_peer *p = ps->peers; p; p = p->next)
		if (p->c)
			return 1;
	return 0;
}

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
	if (ps->role->tick)
		ps->role->tick(ps, now);
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
	uint64_t wan_hbt = (uint64_t)(o->wan_heartbeat_timeout * 1000);
	for (ps_peer *p = ps->peers; p && !ps->finishing; p = p->next) {
		if (p->away_ms && !p->gone &&
		    now - p->away_ms >= (uint64_t)(o->reconnect_timeout * 1000)) {
			char why[96];
			snprintf(why, sizeof why, "not back within %g s", o->reconnect_timeout);
			p->away_ms = 0;
			ps_peer_dead(ps, p, why);
			continue;
		}
		if (!p->c || p->gone)
			continue;
		if (p->join_wait)
			continue; /* said HELLO; admitted at the next round boundary */
		if (!p->up && p->state == PEER_HELLO) {
			uint64_t due = (uint64_t)(o->connect_timeout * 1000);
			if (due > PS_HELLO_MS)
				due = PS_HELLO_MS;
			if (now - p->t_open >= due)
				ps_violation(ps, p, GX_ETIMEOUT, "no HELLO within %g s",
					     (double)due / 1000);
			continue;
		}
		if (p->up && p->ust != UP_READY && p->ust != UP_BYE)
			continue;
		uint64_t rx = gx_conn_last_rx(p->c);
		if (rx < p->t_open)
			rx = p->t_open;
		/* Not read while its answers drain (gx_conn_set_out_bound): alive
		 * as long as it reads them. */
		int paused = gx_conn_paused(p->c);
		if (paused && p->tx_ms > rx)
			rx = p->tx_ms;
		if (now > rx && now - rx > (p->wan ? wan_hbt : hbt)) {
			char why[128];
			if (paused)
				snprintf(why, sizeof why,
					 "not reading its answers for %.1f s (%zu bytes queued)",
					 (double)(now - rx) / 1000, gx_conn_pending(p->c));
			else
				snprintf(why, sizeof why, "silent for %.1f s",
					 (double)(now - rx) / 1000);
			if (p->up && o->reconnect_timeout > 0) {
				/* a stalled link: closed, and its role dials again */
				gx_conn_close(p->c, 0, why);
			} else if (p->up) {
				ps_finish(ps, GX_EPEER, NULL, "%s died: %s", p->label, why);
			} else if (paused) {
				ps_peer_dead(ps, p, why); /* alive, and not reading: no way back */
			} else {
				ps_peer_lost(ps, p, why);
			}
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
	ps->role->start(ps);
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
	int r = ps->role->end ? ps->role->end(ps) : 0;
	if (r && !ps->rc)
		ps->rc = r;
	return ps->rc;
}
