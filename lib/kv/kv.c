/*
 * kv.c — the worker client, application side: options, connect, the model
 * (key table and MultiGPS placement), requests and their handles, waits,
 * goodbye. The sockets live on the client's I/O thread (kv_io.c); how the
 * two threads meet is described in kv_internal.h.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_internal.h"

void gx_kv_opts_default(gx_kv_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof *o);
	o->split_bound = GX_DEFAULT_SPLIT_BOUND;
	o->connect_timeout = GX_DEFAULT_CONNECT_TIMEOUT;
	o->heartbeat = GX_DEFAULT_HEARTBEAT;
	o->heartbeat_timeout = GX_DEFAULT_HEARTBEAT_TIMEOUT;
	o->reconnect_timeout = GX_DEFAULT_RECONNECT_TIMEOUT;
	gx_frame_limits_default(&o->limits);
}

/* --------------------------------------------------------- the handle */

void kv_buf_put(gx_kv *kv, uint32_t ki, gx_buf *buf)
{
	if (!buf)
		return;
	if (buf->on_release) {
		/* the caller's array, lent: never kept */
		gx_buf_unref(buf);
		return;
	}
	pthread_mutex_lock(&kv->mu);
	kv_key *k = &kv->keys[ki];
	if (!k->spare) {
		k->spare = buf;
		buf = NULL;
	}
	pthread_mutex_unlock(&kv->mu);
	gx_buf_unref(buf);
}

/* A payload buffer for key index ki: its spare, or a new one. The spare
 * comes back as soon as the last part of its push is queued, and the
 * connections hold references to it until they wrote it: while one does
 * (refs > 1) its bytes may not change, so it is dropped (the last writer
 * frees it) and a new one made. At refs == 1 nobody else holds it, and
 * nobody can take a reference again. */
static gx_buf *kv_buf_get(gx_kv *kv, uint32_t ki)
{
	pthread_mutex_lock(&kv->mu);
	kv_key *k = &kv->keys[ki];
	gx_buf *b = k->spare;
	k->spare = NULL;
	pthread_mutex_unlock(&kv->mu);
	if (b && gx_buf_shared(b)) {
		gx_buf_unref(b);
		b = NULL;
	}
	if (!b && (b = gx_buf_new(k->count * 4)))
		b->len = k->count * 4;
	return b;
}

static void req_free(gx_kv *kv, kv_req *r)
{
	if (!r)
		return;
	kv_buf_put(kv, r->ki, r->buf);
	free(r);
}

static void keys_free(gx_kv *kv)
{
	for (size_t i = 0; kv->keys && i < kv->nkeys; i++) {
		gx_buf_unref(kv->keys[i].spare);
		gx_ef_free(kv->keys[i].ef);
		free(kv->keys[i].view);
	}
	free(kv->keys);
}

static void kv_destroy(gx_kv *kv)
{
	if (!kv)
		return;
	if (kv->tab)
		for (gx_kv_req id = kv->lo; id < kv->hi; id++)
			req_free(kv, kv->tab[id & (kv->tab_cap - 1)]);
	for (int i = 0; i < kv->nsrv; i++)
		gx_heap_free(&kv->srv[i].heap);
	free(kv->srv);
	free(kv->tab);
	keys_free(kv);
	free(kv->slices);
	free(kv->ktab);
	gx_codec_free(kv->dec);
	gx_codec_free(kv->henc);
	gx_ev_free(kv->ev);
	pthread_cond_destroy(&kv->cv);
	pthread_mutex_destroy(&kv->mu);
	explicit_bzero(&kv->psk, sizeof kv->psk);
	free(kv);
}

gx_kv *gx_kv_connect(const gx_kv_opts *o, int *err)
{
	int e = kv_check_opts(o), dummy;
	if (!err)
		err = &dummy;
	if (e) {
		*err = e;
		return NULL;
	}
	gx_kv *kv = calloc(1, sizeof *kv);
	if (!kv) {
		*err = GX_ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&kv->mu, NULL);
	pthread_cond_init(&kv->cv, NULL);
	kv->o = *o;
	if (o->psk) {
		memcpy(kv->psk.k, o->psk, sizeof kv->psk.k);
		kv->o.psk = kv->psk.k;
	}
	kv->lo = kv->hi = 1;
	e = kv_parse_servers(kv, o->servers);
	kv->o.servers = NULL;
	if (e)
		goto fail;
	/* Housekeeping (heartbeats, deadlines) a few times per heartbeat. */
	double hk = o->heartbeat * 1000 / 4;
	if (hk > o->heartbeat_timeout * 1000 / 4)
		hk = o->heartbeat_timeout * 1000 / 4;
	kv->hk_ms = hk < 5 ? 5 : hk > 250 ? 250 : (long)hk;

	gx_codec_opts co;
	gx_codec_opts_default(&co);
	kv->tab_cap = 64;
	kv->tab = calloc(kv->tab_cap, sizeof *kv->tab);
	kv->ev = gx_ev_create(64);
	kv->dec = gx_codec_create(&co, &e);
	if (!kv->tab || !kv->ev || !kv->dec) {
		e = GX_ENOMEM;
		goto fail;
	}
	gx_ev_on_wake(kv->ev, kv_io_on_wake, kv);

	/* The I/O thread takes no signals: handlers run on the application's
	 * threads, and a write to a closed socket there gives EPIPE, not a
	 * process-killing SIGPIPE. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&kv->th, NULL, kv_io_main, kv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		e = GX_ENOMEM;
		goto fail;
	}
	kv->th_started = 1;

	pthread_mutex_lock(&kv->mu);
	while (kv->phase == P_CONNECTING)
		pthread_cond_wait(&kv->cv, &kv->mu);
	e = kv->phase == P_READY ? 0 : kv->conn_err;
	pthread_mutex_unlock(&kv->mu);
	if (e == 0)
		return kv;
fail:
	if (kv->th_started) {
		pthread_mutex_lock(&kv->mu);
		kv->req_stop = 1;
		pthread_mutex_unlock(&kv->mu);
		gx_ev_wake(kv->ev);
		pthread_join(kv->th, NULL);
	}
	kv_destroy(kv);
	*err = e ? e : GX_EPEER;
	return NULL;
}

/* ---------------------------------------------------------- requests */

/* Live requests by id in a power-of-two ring: ids are handed out in order
 * and mostly retired in order, so [lo, hi) stays short. Under mu. */
static int tab_put(gx_kv *kv, kv_req *r)
{
	if ((uint64_t)(kv->hi - kv->lo) >= kv->tab_cap) {
		uint64_t ncap = kv->tab_cap * 2;
		kv_req **nt = calloc(ncap, sizeof *nt);
		if (!nt)
			return GX_ENOMEM;
		for (gx_kv_req id = kv->lo; id < kv->hi; id++)
			nt[id & (ncap - 1)] = kv->tab[id & (kv->tab_cap - 1)];
		free(kv->tab);
		kv->tab = nt;
		kv->tab_cap = ncap;
	}
	r->id = kv->hi++;
	kv->tab[r->id & (kv->tab_cap - 1)] = r;
	return 0;
}

static kv_req *tab_get(const gx_kv *kv, gx_kv_req id)
{
	if (id < kv->lo || id >= kv->hi)
		return NULL;
	return kv->tab[id & (kv->tab_cap - 1)];
}

static void tab_del(gx_kv *kv, gx_kv_req id)
{
	kv->tab[id & (kv->tab_cap - 1)] = NULL;
	while (kv->lo < kv->hi && !kv->tab[kv->lo & (kv->tab_cap - 1)])
		kv->lo++;
}

long kv_find_key(const gx_kv *kv, uint32_t key)
{
	size_t lo = 0, hi = kv->nkeys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (kv->keys[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < kv->nkeys && kv->keys[lo].key == key ? (long)lo : -1;
}

long gx_kv_round(const gx_kv *kv, uint32_t key)
{
	if (!kv || !kv->inited)
		return GX_EINVAL;
	long ki = kv_find_key(kv, key);
	return ki < 0 ? GX_EKEY : (long)kv->keys[ki].rounds;
}

float *gx_kv_residual(gx_kv *kv, uint32_t key)
{
	long ki = kv && kv->inited ? kv_find_key(kv, key) : -1;
	return ki < 0 || !kv->keys[ki].ef ? NULL : gx_ef_residual(kv->keys[ki].ef);
}

int gx_kv_fold(gx_kv *kv, uint32_t key, const float *g)
{
	long ki = kv && kv->inited && g ? kv_find_key(kv, key) : -1;
	if (ki < 0)
		return kv && kv->inited && g ? GX_EKEY : GX_EINVAL;
	kv_key *k = &kv->keys[ki];
	if (!k->ef)
		return 0;
	/* coded as the push would be, into a spare buffer, and dropped */
	gx_buf *b = kv_buf_get(kv, (uint32_t)ki);
	if (!b)
		return GX_ENOMEM;
	gx_frame_hdr h;
	int e = gx_codec_encode(kv->henc, g, k->count, k->ef, &h, b->data, (size_t)k->count * 4);
	kv_buf_put(kv, (uint32_t)ki, b);
	return e;
}

void gx_kv_info_get(const gx_kv *kv, gx_kv_info *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (kv)
		*out = kv->info;
}

/* The last connection let go of a lent array: its request may return. */
static void lend_released(void *ud)
{
	kv_req *r = ud;
	pthread_mutex_lock(&r->kv->mu);
	r->lent = 0;
	pthread_cond_broadcast(&r->kv->cv);
	pthread_mutex_unlock(&r->kv->mu);
}

/* Under mu, r done: drops r's own reference to a lent array if the I/O
 * thread did not (a failed request), then waits until no connection holds
 * it either, so that the caller may change it once the wait returns. */
static void lend_settle(gx_kv *kv, kv_req *r)
{
	if (!r->lent)
		return;
	gx_buf *b = r->buf;
	r->buf = NULL;
	if (b) {
		pthread_mutex_unlock(&kv->mu);
		gx_buf_unref(b);
		pthread_mutex_lock(&kv->mu);
	}
	while (r->lent)
		pthread_cond_wait(&kv->cv, &kv->mu);
}

/* A request of type for key index ki, the reply going to dst (NULL:
 * discarded), its payload src (NULL: none): lent (an F32 push read where it
 * lies), or copied in, all of it, or with first_only the first part (the
 * caller copies the rest with copy_parts). */
static kv_req *req_new(gx_kv *kv, int type, uint32_t ki, const float *src, float *dst, int prio,
		       int first_only, int lend)
{
	const kv_key *k = &kv->keys[ki];
	kv_req *r = calloc(1, sizeof *r + k->ns * sizeof(kv_part));
	if (!r)
		return NULL;
	r->kv = kv;
	if (src && lend && type == GX_FT_PUSH && kv->info.lan != GX_LINK_FP16) {
		r->buf = gx_buf_lend((void *)src, k->count * 4, lend_released, r);
		if (!r->buf) {
			free(r);
			return NULL;
		}
		r->lent = 1;
	} else if (src) {
		r->buf = kv_buf_get(kv, ki);
		if (!r->buf) {
			free(r);
			return NULL;
		}
		gx_frame_hdr h;
		if (type == GX_FT_PUSH && kv->info.lan == GX_LINK_FP16) {
			/* F16 with error feedback; send_part sends count * 2 bytes */
			if (gx_codec_encode(kv->henc, src, k->count, k->ef, &h, r->buf->data,
					    (size_t)k->count * 4)) {
				kv_buf_put(kv, ki, r->buf);
				free(r);
				return NULL;
			}
		} else if (first_only) {
			const kv_slice *s0 = &kv->slices[k->s0];
			memcpy(r->buf->data + s0->off * 4, src + s0->off, s0->count * 4);
			GX_PASS(GX_PASS_COPY, s0->count * 4);
			r->ready = 1;
		} else {
			memcpy(r->buf->data, src, k->count * 4);
			GX_PASS(GX_PASS_COPY, k->count * 4);
		}
	}
	if (!r->ready)
		r->ready = k->ns;
	r->type = type;
	r->ki = ki;
	r->prio = prio;
	r->dst = dst;
	r->nparts = r->unsent = r->left = k->ns;
	for (uint32_t j = 0; j < k->ns; j++) {
		r->parts[j].r = r;
		r->parts[j].si = k->s0 + j;
	}
	return r;
}

/* After r was submitted: copies its other parts from src, each made ready
 * for the I/O thread as it is in. */
static void copy_parts(gx_kv *kv, kv_req *r, const float *src)
{
	const kv_key *k = &kv->keys[r->ki];
	for (uint32_t j = __atomic_load_n(&r->ready, __ATOMIC_RELAXED); j < k->ns; j++) {
		const kv_slice *s = &kv->slices[k->s0 + j];
		memcpy(r->buf->data + s->off * 4, src + s->off, s->count * 4);
		GX_PASS(GX_PASS_COPY, s->count * 4);
		__atomic_store_n(&r->ready, j + 1, __ATOMIC_RELEASE);
		gx_ev_wake(kv->ev);
	}
}

/* Under mu: registers r and queues it for the I/O thread. */
static int req_submit_locked(gx_kv *kv, kv_req *r)
{
	if (kv->dead)
		return kv->dead;
	int e = tab_put(kv, r);
	if (e)
		return e;
	r->qnext = NULL;
	if (kv->subq_tail)
		kv->subq_tail->qnext = r;
	else
		kv->subq = r;
	kv->subq_tail = r;
	return 0;
}

static gx_kv_req submit(gx_kv *kv, int type, uint32_t key, const float *g, float *dst, int prio,
			int lend)
{
	if (!kv || prio < 0 || (type != GX_FT_PULL && !g) || (type == GX_FT_PULL && !dst))
		return GX_EINVAL;
	if (!kv->inited)
		return GX_EINVAL;
	long ki = kv_find_key(kv, key);
	if (ki < 0)
		return GX_EKEY;
	kv_req *r = req_new(kv, type, (uint32_t)ki, g, dst, prio, 1, lend);
	if (!r)
		return GX_ENOMEM;
	kv_key *k = &kv->keys[ki];
	if (type == GX_FT_PUSH)
		r->round = k->rounds;
	pthread_mutex_lock(&kv->mu);
	int e = req_submit_locked(kv, r);
	pthread_mutex_unlock(&kv->mu);
	if (e) {
		req_free(kv, r);
		return e;
	}
	gx_ev_wake(kv->ev);
	gx_kv_req id = r->id; /* r is the I/O thread's now; its buf stays */
	if (r->ready < r->nparts)
		copy_parts(kv, r, g);
	if (type == GX_FT_PUSH)
		k->rounds++;
	return id;
}

gx_kv_req gx_kv_push(gx_kv *kv, uint32_t key, const float *g, int priority)
{
	return submit(kv, GX_FT_PUSH, key, g, NULL, priority, 0);
}

gx_kv_req gx_kv_pushpull(gx_kv *kv, uint32_t key, const float *g, float *dst, int priority)
{
	if (!dst)
		return GX_EINVAL;
	return submit(kv, GX_FT_PUSH, key, g, dst, priority, 0);
}

gx_kv_req gx_kv_pushpull_borrowed(gx_kv *kv, uint32_t key, const float *g, float *dst,
				  int priority)
{
	/* A reply landing on a part still to be sent would change what is
	 * pushed. */
	long ki = kv && kv->inited ? kv_find_key(kv, key) : -1;
	if (g && dst && ki >= 0 && dst < g + kv->keys[ki].count && g < dst + kv->keys[ki].count)
		return GX_EINVAL;
	return submit(kv, GX_FT_PUSH, key, g, dst, priority, 1);
}

gx_kv_req gx_kv_pull(gx_kv *kv, uint32_t key, float *dst, int priority)
{
	return submit(kv, GX_FT_PULL, key, NULL, dst, priority, 0);
}

int gx_kv_wait(gx_kv *kv, gx_kv_req id)
{
	if (!kv)
		return GX_EINVAL;
	pthread_mutex_lock(&kv->mu);
	kv_req *r = tab_get(kv, id);
	if (!r) {
		pthread_mutex_unlock(&kv->mu);
		return GX_EINVAL;
	}
	while (!r->done)
		pthread_cond_wait(&kv->cv, &kv->mu);
	lend_settle(kv, r);
	int e = r->result;
	tab_del(kv, id);
	pthread_mutex_unlock(&kv->mu);
	req_free(kv, r);
	return e;
}

int gx_kv_wait_all(gx_kv *kv)
{
	if (!kv)
		return GX_EINVAL;
	kv_req *gone = NULL;
	int first = 0;
	pthread_mutex_lock(&kv->mu);
	for (gx_kv_req id = kv->lo; id < kv->hi; id++) {
		kv_req *r = tab_get(kv, id);
		if (!r)
			continue;
		while (!r->done)
			pthread_cond_wait(&kv->cv, &kv->mu);
		lend_settle(kv, r);
		if (!first)
			first = r->result;
		kv->tab[id & (kv->tab_cap - 1)] = NULL;
		r->qnext = gone;
		gone = r;
	}
	kv->lo = kv->hi;
	pthread_mutex_unlock(&kv->mu);
	while (gone) {
		kv_req *next = gone->qnext;
		req_free(kv, gone);
		gone = next;
	}
	return first;
}

int gx_kv_stats(gx_kv *kv, uint64_t *bytes_out, uint64_t *bytes_in)
{
	if (!kv)
		return GX_EINVAL;
	pthread_mutex_lock(&kv->mu);
	if (bytes_out)
		*bytes_out = kv->bytes_out;
	if (bytes_in)
		*bytes_in = kv->bytes_in;
	pthread_mutex_unlock(&kv->mu);
	return 0;
}

/* ------------------------------------------------------------ the model */

struct ent_idx {
	uint32_t key;
	size_t i;
};

static int cmp_ent(const void *a, const void *b)
{
	const struct ent_idx *x = a, *y = b;
	return (x->key > y->key) - (x->key < y->key);
}

static void model_reset(gx_kv *kv)
{
	keys_free(kv);
	free(kv->slices);
	free(kv->ktab);
	kv->keys = NULL;
	kv->slices = NULL;
	kv->ktab = NULL;
	kv->nkeys = kv->nslices = kv->ktab_len = 0;
}

/* Builds kv->keys, kv->slices and the KEYTABLE payload; order[j] receives
 * the caller's index of the j-th key in key order. */
static int build_model(gx_kv *kv, size_t n, const uint32_t *keys, const uint64_t *counts, size_t *order)
{
	struct ent_idx *srt = malloc(n * sizeof *srt);
	if (!srt)
		return GX_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		srt[i].key = keys[i];
		srt[i].i = i;
	}
	qsort(srt, n, sizeof *srt, cmp_ent);
	for (size_t j = 0; j < n; j++)
		order[j] = srt[j].i;
	free(srt);

	kv->keys = calloc(n, sizeof *kv->keys);
	gx_keyent *ent = calloc(n, sizeof *ent);
	uint32_t *kk = calloc(n, sizeof *kk);
	uint64_t *cc = calloc(n, sizeof *cc);
	int e = 0;
	if (!kv->keys || !ent || !kk || !cc) {
		e = GX_ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < n; j++) {
		size_t i = order[j];
		if (counts[i] == 0 || (j > 0 && keys[i] == kk[j - 1])) {
			e = GX_EINVAL;
			goto out;
		}
		kk[j] = ent[j].key = kv->keys[j].key = keys[i];
		cc[j] = ent[j].count = kv->keys[j].count = counts[i];
	}
	kv->nkeys = n;

	/* The placement every process computes alike: one server, whole
	 * tensors, or the blocks its CONFIG names (a local server, which
	 * places them upstream); several (flat MultiGPS), their slices. */
	uint64_t block = kv->nsrv == 1 ? kv->srv[0].cfg.block : 0;
	uint64_t split = kv->nsrv == 1 ? UINT64_MAX : kv->o.split_bound;
	size_t cap = gx_place_blocks_bound(cc, n, kv->nsrv, block);
	if (cap > SIZE_MAX / sizeof *kv->slices) {
		e = GX_ENOMEM;
		goto out;
	}
	kv->slices = calloc(cap, sizeof *kv->slices);
	gx_slice *pl = calloc(cap, sizeof *pl);
	if (!kv->slices || !pl) {
		free(pl);
		e = GX_ENOMEM;
		goto out;
	}
	long ns = gx_place_blocks(kk, cc, n, kv->nsrv, split, block, pl, cap);
	for (long s = 0; s < ns; s++) {
		kv_slice *sl = &kv->slices[s];
		long ki = kv_find_key(kv, pl[s].key);
		if (ki < 0 || pl[s].server >= (uint32_t)kv->nsrv) {
			ns = GX_EINVAL;
			break;
		}
		sl->ki = (uint32_t)ki;
		sl->block = pl[s].block;
		sl->off = pl[s].offset;
		sl->count = pl[s].count;
		sl->server = (int)pl[s].server;
	}
	free(pl);
	if (ns < 0) {
		e = (int)ns;
		goto out;
	}
	kv->nslices = (size_t)ns;
	for (size_t s = 0; s < kv->nslices; s++) {
		kv_slice *sl = &kv->slices[s];
		kv_key *k = &kv->keys[sl->ki];
		if (k->ns == 0)
			k->s0 = (uint32_t)s;
		if (sl->block != k->ns || sl->off + sl->count > k->count) {
			e = GX_EINVAL; /* not sorted by (key, block), or past the end */
			goto out;
		}
		k->ns++;
		/* A slice travels as one F32 frame, within the frame limits. */
		if (sl->count > kv->o.limits.max_count || sl->count > kv->o.limits.max_payload / 4) {
			e = GX_ETOOBIG;
			goto out;
		}
	}
	for (size_t j = 0; j < n; j++)
		if (kv->keys[j].ns == 0) {
			e = GX_EINVAL;
			goto out;
		}
	if (kv->info.lan == GX_LINK_FP16) {
		gx_codec_opts co;
		gx_codec_opts_default(&co);
		co.codec = GX_CODEC_F16;
		if (!kv->henc && !(kv->henc = gx_codec_create(&co, &e)))
			goto out;
		for (size_t j = 0; j < n; j++) {
			kv_key *k = &kv->keys[j];
			k->ef = gx_ef_create(k->count, 0.0f);
			k->view = calloc((size_t)k->count, sizeof(float));
			if (!k->ef || !k->view) {
				e = GX_ENOMEM;
				goto out;
			}
		}
	}
	kv->ktab_len = gx_keytable_size(n);
	kv->ktab = malloc(kv->ktab_len);
	if (!kv->ktab) {
		e = GX_ENOMEM;
		goto out;
	}
	gx_keytable_pack(ent, n, kv->ktab);
out:
	free(ent);
	free(kk);
	free(cc);
	return e;
}

int gx_kv_init(gx_kv *kv, size_t nkeys, const uint32_t *keys, const uint64_t *counts,
	       float *const *values)
{
	if (!kv || nkeys == 0 || nkeys > GX_KEYTABLE_MAX || !keys || !counts || !values || kv->inited)
		return GX_EINVAL;
	for (size_t i = 0; i < nkeys; i++)
		if (!values[i])
			return GX_EINVAL;
	pthread_mutex_lock(&kv->mu);
	int e = kv->dead;
	pthread_mutex_unlock(&kv->mu);
	if (e)
		return e;

	size_t *order = malloc(nkeys * sizeof *order);
	kv_req **reqs = calloc(nkeys, sizeof *reqs);
	if (!order || !reqs) {
		e = GX_ENOMEM;
		goto out;
	}
	e = build_model(kv, nkeys, keys, counts, order);
	if (e) {
		model_reset(kv);
		goto out;
	}
	for (size_t j = 0; j < nkeys; j++) {
		size_t i = order[j];
		reqs[j] = req_new(kv, GX_FT_INIT, (uint32_t)j, values[i], values[i], 0, 0, 0);
		if (!reqs[j]) {
			e = GX_ENOMEM;
			goto out;
		}
	}
	/* The key table goes out first on every connection, then the INITs,
	 * in key order (priority 0, FIFO). */
	kv->inited = 1;
	pthread_mutex_lock(&kv->mu);
	kv->send_ktab = 1;
	for (size_t j = 0; j < nkeys && !e; j++) {
		e = req_submit_locked(kv, reqs[j]);
		if (e == 0)
			reqs[j] = NULL;
	}
	pthread_mutex_unlock(&kv->mu);
	gx_ev_wake(kv->ev);
	/* Requests that made it in are waited for even if a later one did not. */
	int w = gx_kv_wait_all(kv);
	if (!e)
		e = w;
	/* A worker that replaced one (--elastic) pushes from the round its
	 * server named; the wait ordered the I/O thread's writes before. */
	if (!e && kv->o.restarted)
		e = kv_restart_rounds(kv);
	for (size_t i = 0; !e && !kv->o.restarted && i < kv->nkeys; i++)
		kv->keys[i].rounds = kv->keys[i].init_round;
out:
	if (reqs)
		for (size_t j = 0; j < nkeys; j++)
			req_free(kv, reqs[j]);
	free(reqs);
	free(order);
	return e;
}

/* ------------------------------------------------------------ goodbye */

static int stop_thread(gx_kv *kv, int goodbye)
{
	pthread_mutex_lock(&kv->mu);
	if (goodbye)
		kv->req_close = 1;
	else
		kv->req_stop = 1;
	pthread_mutex_unlock(&kv->mu);
	gx_ev_wake(kv->ev);
	pthread_join(kv->th, NULL);
	pthread_mutex_lock(&kv->mu);
	int e = kv->close_err;
	pthread_mutex_unlock(&kv->mu);
	return e;
}

int gx_kv_close(gx_kv *kv)
{
	if (!kv)
		return 0;
	int e = gx_kv_wait_all(kv);
	if (!e) {
		/* a client that failed cannot say goodbye */
		pthread_mutex_lock(&kv->mu);
		e = kv->dead;
		pthread_mutex_unlock(&kv->mu);
	}
	int c = stop_thread(kv, 1);
	kv_destroy(kv);
	return e ? e : c;
}

void gx_kv_free(gx_kv *kv)
{
	if (!kv)
		return;
	stop_thread(kv, 0);
	kv_destroy(kv);
}
