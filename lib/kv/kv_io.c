/*
 * kv_io.c — the worker client's I/O thread: the per-connection priority
 * heaps and their pump, reply matching,
 * heartbeats, failure handling and the goodbye. The threading contract and
 * the send-order design are described in kv_internal.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_internal.h"

void kv_log(gx_kv *kv, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gx_logv(kv->o.log, kv->o.log_ud, level, fmt, ap);
	va_end(ap);
}

static const char *type_name(int type)
{
	switch (type) {
	case GX_FT_INIT_REPLY: return "INIT_REPLY";
	case GX_FT_PUSH_REPLY: return "PUSH_REPLY";
	case GX_FT_PULL_REPLY: return "PULL_REPLY";
	default: return "frame";
	}
}

/* ------------------------------------------------------------ send heap */

int kv_part_less(const void *x, const void *y)
{
	const kv_part *a = x, *b = y;
	return a->r->prio < b->r->prio || (a->r->prio == b->r->prio && a->order < b->order);
}

/* -------------------------------------------------------- completions */

/* Hands r back to the application. The caller has dropped every reference
 * to r; r must not be touched afterwards. */
static void req_finish(gx_kv *kv, kv_req *r)
{
	pthread_mutex_lock(&kv->mu);
	r->done = 1;
	r->result = r->err;
	pthread_cond_broadcast(&kv->cv);
	pthread_mutex_unlock(&kv->mu);
}

static void part_answered(gx_kv *kv, kv_req *r, int err)
{
	if (err && !r->err)
		r->err = err;
	if (--r->left == 0) {
		/* kept until answered: a broken link sends it again */
		gx_buf *b = r->buf;
		r->buf = NULL;
		kv_buf_put(kv, r->ki, b);
		req_finish(kv, r);
	}
}

/* Closes whatever s holds: a dial in progress or a connection (at once,
 * without flushing). on_close may run later; st
 * S_CLOSED with c still set means "closing". */
static void srv_shut(kv_srv *s, const char *why)
{
	int was = s->st;
	s->st = S_CLOSED;
	gx_dial_cancel(&s->dial);
	if (s->c && was != S_CLOSED)
		gx_conn_close(s->c, 0, why);
}

static int all_closed(const gx_kv *kv)
{
	for (int i = 0; i < kv->nsrv; i++)
		if (kv->srv[i].c || kv->srv[i].dial.state != GX_DIAL_IDLE)
			return 0;
	return 1;
}

void kv_connect_failed(gx_kv *kv, int err)
{
	for (int i = 0; i < kv->nsrv; i++)
		srv_shut(&kv->srv[i], "connect failed");
	pthread_mutex_lock(&kv->mu);
	if (kv->phase == P_CONNECTING) {
		kv->phase = P_FAILED;
		kv->conn_err = err;
	}
	pthread_cond_broadcast(&kv->cv);
	pthread_mutex_unlock(&kv->mu);
	kv->io_exit = 1;
}

/* A server failed after the hello: every outstanding and future request
 * fails with err, and the other connections close without goodbye (a
 * client that lost part of its model is finished; its servers must see it
 * die rather than leave politely). The reason has been logged. */
void kv_fail(gx_kv *kv, int err)
{
	if (kv->dead)
		return;
	if (kv->closing) {
		/* every request was answered: only the goodbye is spoilt */
		pthread_mutex_lock(&kv->mu);
		if (!kv->close_err)
			kv->close_err = err;
		pthread_mutex_unlock(&kv->mu);
		for (int i = 0; i < kv->nsrv; i++)
			srv_shut(&kv->srv[i], "client failed");
		kv->io_exit = 1;
		return;
	}
	for (int i = 0; i < kv->nsrv; i++)
		kv->srv[i].heap.n = 0;
	if (kv->io_model)
		for (size_t i = 0; i < kv->nslices; i++)
			memset(kv->slices[i].wq, 0, sizeof kv->slices[i].wq);
	pthread_mutex_lock(&kv->mu);
	kv->dead = err;
	for (gx_kv_req id = kv->lo; id < kv->hi; id++) {
		kv_req *r = kv->tab[id & (kv->tab_cap - 1)];
		if (r && !r->done) {
			r->done = 1;
			r->result = err;
		}
	}
	kv->subq = kv->subq_tail = NULL;
	pthread_cond_broadcast(&kv->cv);
	pthread_mutex_unlock(&kv->mu);
	for (int i = 0; i < kv->nsrv; i++)
		srv_shut(&kv->srv[i], "client failed");
}

/* A protocol breach by s: ERROR to it (closing after the flush), a log line,
 * and the client fails (or, while connecting, the connect). */
static void proto_error(kv_srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void proto_error(kv_srv *s, const char *fmt, ...)
{
	gx_kv *kv = s->kv;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	kv_log(kv, GX_LOG_ERROR, "server %s: protocol error: %s", s->addr, msg);
	if (s->c && s->st != S_CLOSED) {
		s->st = S_CLOSED;
		gx_send_error(s->c, GX_EPROTO, "%s", msg);
	}
	if (kv->phase == P_CONNECTING)
		kv_connect_failed(kv, GX_EPROTO);
	else
		kv_fail(kv, GX_EPROTO);
}

/* -------------------------------------------------------------- sending */

static int send_part(kv_srv *s, kv_part *p)
{
	gx_kv *kv = s->kv;
	kv_req *r = p->r;
	const kv_slice *sl = &kv->slices[p->si];
	gx_tensor_route rt = { .type = r->type, .key = kv->keys[r->ki].key, .block = sl->block,
			       .round = r->round, .sender = kv->o.rank, .seq = ++s->seq,
			       .priority = r->prio };
	gx_tensor_payload pl;

	if (r->buf && r->type == GX_FT_PUSH && kv->info.lan == GX_LINK_FP16) {
		/* one slice: a local server */
		gx_tensor_payload_f16(&pl, (const uint16_t *)(r->buf->data + sl->off * 2), sl->count,
				      r->buf);
	} else if (r->buf) {
		gx_tensor_payload_f32(&pl, (const float *)(r->buf->data + sl->off * 4), sl->count,
				      r->buf);
	} else {
		/* PULL: no payload */
		gx_frame_hdr_init(&pl.h);
		pl.bytes = NULL;
		pl.buf = NULL;
	}
	return gx_tensor_send(s->c, &rt, &pl);
}

static void pump(kv_srv *s)
{
	gx_kv *kv = s->kv;
	while (s->st == S_READY && s->heap.n && gx_conn_pending(s->c) < (kv->o.credit ? gx_conn_credit(s->c) : KV_LOW_WATER)) {
		kv_part *p = gx_heap_top(&s->heap);
		kv_req *r = p->r;
		if ((uint32_t)(p - r->parts) >= __atomic_load_n(&r->ready, __ATOMIC_ACQUIRE))
			return; /* still being copied: a wake follows */
		gx_heap_pop(&s->heap);
		int e = send_part(s, p);
		if (e == GX_EIO) {
			/* closing: on_close follows with the reason */
			gx_heap_push(&s->heap, p);
			return;
		}
		if (e) {
			kv_log(kv, GX_LOG_ERROR, "server %s: cannot queue a frame: %s", s->addr,
			       gx_strerror(e));
			kv_fail(kv, e);
			return;
		}
		s->last_tx = gx_now_ms();
		int w = r->type == GX_FT_INIT ? KV_W_INIT : r->type == GX_FT_PUSH ? KV_W_PUSH : KV_W_PULL;
		kv_wq *q = &kv->slices[p->si].wq[w];
		p->next = NULL;
		if (q->tail)
			q->tail->next = p;
		else
			q->head = p;
		q->tail = p;
		r->unsent--; /* (its buffer stays until answered: part_answered) */
	}
}

/* ------------------------------------------------------------- replies */

/* The waiter list a reply of type answers. */
static int reply_list(int type)
{
	return type == GX_FT_INIT_REPLY ? KV_W_INIT : type == GX_FT_PUSH_REPLY ? KV_W_PUSH : KV_W_PULL;
}

/* The slice (*slp; NULL when the key or block is not s's) and the waiting
 * part (NULL if none, *prevp before it in its list) a reply h answers. */
static kv_part *reply_part(kv_srv *s, const gx_frame_hdr *h, kv_slice **slp, kv_part **prevp)
{
	gx_kv *kv = s->kv;
	int w = reply_list(h->type);
	long ki = kv->io_model ? kv_find_key(kv, h->key) : -1;
	*slp = NULL;
	*prevp = NULL;
	if (ki < 0)
		return NULL;
	const kv_key *k = &kv->keys[ki];
	if (h->block >= k->ns || kv->slices[k->s0 + h->block].server != s->idx)
		return NULL;
	kv_slice *sl = *slp = &kv->slices[k->s0 + h->block];
	kv_part *p = sl->wq[w].head, *prev = NULL;
	if (w == KV_W_PUSH)
		for (; p && p->r->round != h->round; prev = p, p = p->next)
			;
	*prevp = prev;
	return p;
}

/* A reply's header: an F32 payload that goes to the caller's buffer as it
 * is is received there (the reply then decodes nothing). */
void *kv_conn_header(gx_conn *c, const gx_frame_hdr *h, void *ud)
{
	kv_srv *s = ud;
	kv_slice *sl;
	kv_part *prev;
	if ((h->type != GX_FT_INIT_REPLY && h->type != GX_FT_PUSH_REPLY &&
	     h->type != GX_FT_PULL_REPLY) || h->codec != GX_CODEC_F32 || (h->flags & GX_FF_ZSTD) ||
	    s->st != S_READY)
		return NULL;
	kv_part *p = reply_part(s, h, &sl, &prev);
	if (!p || !p->r->dst || h->count != sl->count || s->kv->keys[sl->ki].view)
		return NULL;
	return p->r->dst + sl->off;
}

static void on_reply(kv_srv *s, const gx_frame_hdr *h, const uint8_t *payload)
{
	gx_kv *kv = s->kv;
	int w = reply_list(h->type);
	kv_slice *sl;
	kv_part *prev, *p = reply_part(s, h, &sl, &prev);
	if (!sl && (!kv->io_model || kv_find_key(kv, h->key) < 0)) {
		proto_error(s, "%s for unknown key %u", type_name(h->type), h->key);
		return;
	}
	if (!sl) {
		proto_error(s, "%s for key %u block %u, which is not on this server", type_name(h->type),
			    h->key, h->block);
		return;
	}
	if (!p) {
		proto_error(s, "unexpected %s for key %u block %u round %u", type_name(h->type), h->key,
			    h->block, h->round);
		return;
	}
	const kv_key *k = &kv->keys[sl->ki];
	kv_wq *q = &sl->wq[w];
	if (prev)
		prev->next = p->next;
	else
		q->head = p->next;
	if (q->tail == p)
		q->tail = prev;

	kv_req *r = p->r;
	int e = 0;
	if (w == KV_W_INIT) { /* read once the INIT is done */
		kv_key *kk = &kv->keys[sl->ki];
		if (h->round > kk->init_round)
			kk->init_round = h->round;
		if (!kk->init_seen || h->round < kk->init_lo)
			kk->init_lo = h->round;
		kk->init_seen = 1;
	}
	if (h->count != sl->count || h->codec == GX_CODEC_NONE) {
		kv_log(kv, GX_LOG_ERROR,
		       "server %s: %s for key %u block %u carries %llu elements, expected %llu",
		       s->addr, type_name(h->type), h->key, h->block, (unsigned long long)h->count,
		       (unsigned long long)sl->count);
		e = GX_EPROTO;
	} else if (k->view) {
		/* fp16 LAN: an F16 PUSH_REPLY is the change to add, anything
		 * else the whole value; the caller gets the view either way. */
		e = gx_codec_decode(kv->dec, h, payload, k->view + sl->off,
				    w == KV_W_PUSH && h->codec == GX_CODEC_F16);
		if (!e && r->dst) {
			memcpy(r->dst + sl->off, k->view + sl->off, (size_t)sl->count * sizeof(float));
			GX_PASS(GX_PASS_COPY, sl->count * sizeof(float));
		}
		if (e)
			kv_log(kv, GX_LOG_ERROR, "server %s: %s for key %u: cannot decode: %s",
			       s->addr, type_name(h->type), h->key, gx_strerror(e));
	} else if (r->dst) {
		/* (where kv_conn_header may have had it received already) */
		e = gx_codec_decode(kv->dec, h, payload, r->dst + sl->off, 0);
		if (e)
			kv_log(kv, GX_LOG_ERROR,
			       "server %s: %s for key %u block %u: cannot decode: %s", s->addr,
			       type_name(h->type), h->key, h->block, gx_strerror(e));
	}
	part_answered(kv, r, e);
}

/* An ERROR frame's code as a client error: one of ours, else GX_EPEER. */
static int peer_code(int code)
{
	return code < 0 && code > GX_E__LAST && code != GX_ENEEDMORE ? code : GX_EPEER;
}

void kv_conn_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *payload, void *ud)
{
	kv_srv *s = ud;
	gx_kv *kv = s->kv;

	if (s->st != S_READY && s->st != S_BYE)
		return;
	if (h->type == GX_FT_ERROR) {
		int code = GX_EPEER;
		char msg[GX_ERROR_MSG_MAX + 1];
		if (gx_errmsg_parse(payload, h->payload_len, &code, msg, sizeof msg) != 0)
			snprintf(msg, sizeof msg, "(malformed ERROR frame)");
		s->st = S_CLOSED;
		gx_conn_close(c, 0, "error from server");
		if (kv->phase == P_CONNECTING) {
			kv_log(kv, GX_LOG_ERROR, "server %s refused us: %s", s->addr, msg);
			kv_connect_failed(kv, GX_EREFUSED);
		} else {
			kv_log(kv, GX_LOG_ERROR, "server %s failed: %s", s->addr, msg);
			kv_fail(kv, peer_code(code));
		}
		return;
	}
	switch (h->type) {
	case GX_FT_HEARTBEAT:
		return;
	case GX_FT_BYE:
		if (s->st == S_BYE) {
			s->st = S_CLOSED;
			gx_conn_close(c, 1, "goodbye");
			return;
		}
		kv_log(kv, GX_LOG_ERROR,
		       "server %s ended the session (BYE) while this client was working", s->addr);
		s->st = S_CLOSED;
		gx_conn_close(c, 0, "goodbye from server");
		kv_fail(kv, GX_EPEER);
		return;
	case GX_FT_INIT_REPLY:
	case GX_FT_PUSH_REPLY:
	case GX_FT_PULL_REPLY:
		on_reply(s, h, payload);
		return;
	default:
		proto_error(s, "unexpected frame type %u", h->type);
	}
}

/* Whether a broken link to s is dialled again rather than the client's
 * end: a local server, or flat a global one, keeps the worker's place. */
static int may_redial(const kv_srv *s)
{
	return s->kv->o.reconnect_timeout > 0;
}

/* A broken link: every part s sent and had no answer for goes back to
 * its heap, in its first order, to be sent again once s is back. */
static void requeue(kv_srv *s)
{
	gx_kv *kv = s->kv;
	for (size_t i = 0; kv->io_model && i < kv->nslices; i++) {
		kv_slice *sl = &kv->slices[i];
		if (sl->server != s->idx)
			continue;
		for (int w = 0; w < KV_W__N; w++) {
			for (kv_part *p = sl->wq[w].head, *n; p; p = n) {
				n = p->next;
				p->r->unsent++;
				if (gx_heap_push(&s->heap, p) != 0) {
					kv_fail(kv, GX_ENOMEM);
					return;
				}
			}
			sl->wq[w].head = sl->wq[w].tail = NULL;
		}
	}
}

void kv_conn_close(gx_conn *c, int err, const char *why, void *ud)
{
	kv_srv *s = ud;
	gx_kv *kv = s->kv;
	const gx_conn_stats *st = gx_conn_get_stats(c);
	int was = s->st;

	kv->gone_in += st->bytes_in;
	kv->gone_out += st->bytes_out;
	s->c = NULL;
	s->st = S_CLOSED;
	/* S_HELLO, S_CONFIG: the dial reports it (dial_fail). */
	if (was == S_READY && may_redial(s) && !kv->closing && !kv->dead) {
		requeue(s);
		kv_log(kv, GX_LOG_WARN, "server %s lost: %s; dialling it again for up to %g s",
		       s->addr, why && *why ? why : gx_strerror(err), kv->o.reconnect_timeout);
		if (kv_redial(s) == 0)
			return;
		kv_fail(kv, GX_EPEER);
	} else if (was == S_READY) {
		kv_log(kv, GX_LOG_ERROR, "server %s died: %s", s->addr,
		       why && *why ? why : gx_strerror(err));
		kv_fail(kv, GX_EPEER);
	}
	/* S_BYE: a close instead of BYE after ours is as good as one. */
	if (kv->closing && all_closed(kv))
		kv->io_exit = 1;
}

/* -------------------------------------------------------- housekeeping */

static long housekeeping(gx_ev *ev, long long id, void *ud)
{
	gx_kv *kv = ud;
	uint64_t now = gx_now_ms();

	if (kv->io_exit)
		return -1;
	if (kv->phase == P_CONNECTING) /* the dials keep their deadline */
		return kv->hk_ms;
	if (kv->closing) {
		if (now >= kv->close_deadline) {
			for (int i = 0; i < kv->nsrv; i++)
				if (kv->srv[i].st == S_BYE)
					kv_log(kv, GX_LOG_WARN,
					       "no goodbye from server %s within %g s",
					       kv->srv[i].addr, kv->o.heartbeat_timeout);
			for (int i = 0; i < kv->nsrv; i++)
				srv_shut(&kv->srv[i], "no goodbye");
			kv->io_exit = 1;
			return -1;
		}
		return kv->hk_ms;
	}
	uint64_t hb = (uint64_t)(kv->o.heartbeat * 1000), dead = (uint64_t)(kv->o.heartbeat_timeout * 1000);
	for (int i = 0; i < kv->nsrv && !kv->dead; i++) {
		kv_srv *s = &kv->srv[i];
		if (s->st != S_READY)
			continue;
		uint64_t rx = gx_conn_last_rx(s->c);
		if (rx < s->ready_at)
			rx = s->ready_at;
		if (now > rx && now - rx >= dead) {
			char why[96];
			snprintf(why, sizeof why, "nothing received for %.1f s (heartbeat timeout)",
				 (double)(now - rx) / 1000);
			if (may_redial(s)) {
				gx_conn_close(s->c, 0, why); /* kv_conn_close dials again */
				continue;
			}
			kv_log(kv, GX_LOG_ERROR, "server %s died: %s", s->addr, why);
			kv_fail(kv, GX_EPEER);
			break;
		}
		if (now - s->last_tx >= hb && !s->heap.n && gx_conn_pending(s->c) == 0) {
			int e = gx_send_ctl(s->c, GX_FT_HEARTBEAT, 0, 0, NULL, 0);
			if (e && e != GX_EIO) {
				kv_log(kv, GX_LOG_ERROR, "server %s: cannot queue a heartbeat: %s",
				       s->addr, gx_strerror(e));
				kv_fail(kv, e);
				break;
			}
			s->last_tx = now;
		}
	}
	return kv->hk_ms;
}

/* ------------------------------------------------------------ the loop */

static void begin_close(gx_kv *kv)
{
	kv->closing = 1;
	kv->close_deadline = gx_now_ms() + (uint64_t)(kv->o.heartbeat_timeout * 1000);
	for (int i = 0; i < kv->nsrv; i++) {
		kv_srv *s = &kv->srv[i];
		if (s->st != S_READY)
			continue;
		if (gx_send_ctl(s->c, GX_FT_BYE, 0, 0, NULL, 0) == 0) {
			s->st = S_BYE;
		} else {
			srv_shut(s, "cannot say goodbye");
		}
	}
	if (all_closed(kv))
		kv->io_exit = 1;
}

void kv_io_on_wake(gx_ev *ev, void *ud)
{
	gx_kv *kv = ud;

	pthread_mutex_lock(&kv->mu);
	kv_req *q = kv->subq;
	kv->subq = kv->subq_tail = NULL;
	int ktab = kv->send_ktab, cl = kv->req_close, stop = kv->req_stop;
	kv->send_ktab = 0;
	pthread_mutex_unlock(&kv->mu);

	if (stop) {
		kv->io_exit = 1;
		return;
	}
	if (ktab) {
		kv->io_model = 1;
		for (int i = 0; i < kv->nsrv && !kv->dead; i++) {
			kv_srv *s = &kv->srv[i];
			if (s->st != S_READY)
				continue;
			int e = gx_send_ctl(s->c, GX_FT_KEYTABLE, 0, 0, kv->ktab, (uint32_t)kv->ktab_len);
			if (e && e != GX_EIO) {
				kv_log(kv, GX_LOG_ERROR,
				       "server %s: cannot queue the key table: %s", s->addr,
				       gx_strerror(e));
				kv_fail(kv, e);
			}
			s->last_tx = gx_now_ms();
		}
	}
	/* A failure fails every request, those in q included: they may be
	 * freed by the application as soon as kv_fail returns. */
	for (kv_req *r = q, *next; r && !kv->dead; r = next) {
		next = r->qnext;
		for (uint32_t j = 0; j < r->nparts && !kv->dead; j++) {
			kv_part *p = &r->parts[j];
			p->order = kv->order++;
			if (gx_heap_push(&kv->srv[kv->slices[p->si].server].heap, p) != 0) {
				kv_log(kv, GX_LOG_ERROR, "out of memory queueing a request");
				kv_fail(kv, GX_ENOMEM);
			}
		}
	}
	if (cl && !kv->closing)
		begin_close(kv);
}

static void publish_stats(gx_kv *kv)
{
	uint64_t in = kv->gone_in, out = kv->gone_out;
	for (int i = 0; i < kv->nsrv; i++)
		if (kv->srv[i].c) {
			const gx_conn_stats *st = gx_conn_get_stats(kv->srv[i].c);
			in += st->bytes_in;
			out += st->bytes_out;
		}
	pthread_mutex_lock(&kv->mu);
	kv->bytes_in = in;
	kv->bytes_out = out;
	pthread_mutex_unlock(&kv->mu);
}

void *kv_io_main(void *arg)
{
	gx_kv *kv = arg;

	long long t = gx_ev_timer(kv->ev, kv->hk_ms, housekeeping, kv);
	if (t < 0) {
		kv_log(kv, GX_LOG_ERROR, "cannot start the client's timer: %s",
		       gx_strerror((int)t));
		kv_connect_failed(kv, (int)t);
	} else {
		kv->hk_timer = t;
		kv_start_dials(kv);
	}
	while (!kv->io_exit) {
		if (gx_ev_once(kv->ev, -1) < 0) {
			kv_log(kv, GX_LOG_ERROR, "event loop failed: %s", strerror(errno));
			if (kv->phase == P_CONNECTING)
				kv_connect_failed(kv, GX_EIO);
			else
				kv_fail(kv, GX_EIO);
			break;
		}
		for (int i = 0; i < kv->nsrv; i++)
			pump(&kv->srv[i]);
		publish_stats(kv);
	}

	/* Close what is left, a connection still flushing an ERROR included;
	 * outside a connection's callback its on_close runs at once. */
	for (int i = 0; i < kv->nsrv; i++) {
		srv_shut(&kv->srv[i], "client stopped");
		if (kv->srv[i].c)
			gx_conn_close(kv->srv[i].c, 0, "client stopped");
	}
	for (int n = 0; n < 100 && !all_closed(kv); n++)
		if (gx_ev_once(kv->ev, 10) < 0)
			break;
	publish_stats(kv);
	gx_ev_timer_del(kv->ev, kv->hk_timer);

	pthread_mutex_lock(&kv->mu);
	if (!kv->dead)
		kv->dead = GX_EPEER;
	for (gx_kv_req id = kv->lo; id < kv->hi; id++) {
		kv_req *r = kv->tab[id & (kv->tab_cap - 1)];
		if (r && !r->done) {
			r->done = 1;
			r->result = kv->dead;
		}
	}
	kv->subq = kv->subq_tail = NULL;
	if (kv->phase == P_CONNECTING) {
		kv->phase = P_FAILED;
		kv->conn_err = GX_EPEER;
	}
	kv->io_done = 1;
	pthread_cond_broadcast(&kv->cv);
	pthread_mutex_unlock(&kv->mu);
	return NULL;
}
