/*
 * ps_local.c — the local role: a data center's server. It gathers its
 * workers' pushes of each round, sends the sum of each slice to the global
 * server that holds it, and answers the workers with the assembled result
 * (docs/protocol.md). ps_local_replies.c holds what the global servers
 * answer, ps_up.c the links to them; this file the role's table, the key
 * table, the workers' frames and the rounds sent upstream.
 *
 * Choices:
 *  - Each round sent upstream keeps its own buffer until all its slices are
 *    back, so a slice of round r+1 that overtakes another slice of round r
 *    (two servers) never leaks into round r's answer.
 *  - Before a round goes upstream, the server tells each global server
 *    (MEMBERS) how many workers it summed when that differs from what it
 *    last announced, so the global mean stays exact when an elastic party
 *    loses a worker whose push was already in the sum.
 *  - Coded WAN: this server keeps the key's value and applies the
 *    aggregates the global tier answers, rounds in order (the optimizer of
 *    the global's CONFIG; under HFA, the addition of the averaged change);
 *    workers' PULLs are answered from that copy.
 *  - HFA: a round waits until the one before it is answered, since a
 *    global round replaces the value a later local round would build on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps_dgt.h"
#include "ps_local.h"
#include "ps_overlay.h"

/* ---------------------------------------------------------- lifetime */

static void key_free(ps_lkey *k)
{
	for (int b = 0; k->ef && b < k->nsl; b++)
		gx_ef_free(k->ef[b]);
	free(k->ef);
	for (int b = 0; k->dgt && b < k->nsl; b++)
		gx_dgt_free(k->dgt[b]);
	free(k->dgt);
	ps_dgt_answers_free(k);
	gx_optim_free(k->opt);
	free(k->view);
	free(k->base);
	if (k->valueb)
		gx_buf_unref(k->valueb);
	else
		free(k->value);
	free(k->init_wait);
	free(k->init_got);
	ps_acc_free_all(k->accs);
	ps_spare_free(&k->spare);
	for (ps_fwd *f = k->fwds, *n; f; f = n) {
		n = f->next;
		ps_fwd_free(f, k->nsl);
	}
	for (ps_pull *q = k->pulls, *n; q; q = n) {
		n = q->next;
		ps_pull_free(q);
	}
}

static int local_opts(gx_ps *ps)
{
	const gx_ps_opts *o = &ps->o;
	int rc = ps_set_contributors(ps, o->workers, "workers");
	if (rc)
		return rc;
	if (!o->upstream || !*o->upstream) {
		ps_log(ps, GX_LOG_ERROR, "a local server needs its upstream global servers");
		return GX_EINVAL;
	}
	snprintf(ps->name, sizeof ps->name, "local %u", o->party);
	ps->sender = o->party;
	return 0;
}

static int local_init(gx_ps *ps)
{
	if (!(ps->loc = calloc(1, sizeof *ps->loc)))
		return GX_ENOMEM;
	int rc = ps_codec_init_wan(ps);
	if (!rc)
		rc = ps_local_init(ps);
	return rc ? rc : ps_dgt_local_init(ps);
}

static void local_free(gx_ps *ps)
{
	ps_local_state *ls = ps->loc;
	if (!ls)
		return;
	ps_dgt_local_free(ps);
	ps_ovl_local_free(ps);
	for (size_t i = 0; i < ls->nkeys; i++)
		key_free(&ls->keys[i]);
	free(ls->table);
	free(ls->keys);
	free(ls->place);
	free(ls->ups); /* the peers themselves are on ps->peers */
	free(ls->announced);
	free(ls->up_ms);
	gx_codec_free(ls->wenc);
	free(ls);
	ps->loc = NULL;
}

/* ---------------------------------------------------------------- keys */

ps_lkey *ps_local_key(gx_ps *ps, uint32_t key, uint32_t block)
{
	ps_local_state *ls = ps->loc;
	size_t lo = 0, hi = ls->nkeys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const ps_lkey *k = &ls->keys[mid];
		if (k->key < key || (k->key == key && k->block < block))
			lo = mid + 1;
		else if (k->key > key || k->block > block)
			hi = mid;
		else
			return &ls->keys[mid];
	}
	return NULL;
}

int ps_local_own_state(const gx_ps *ps)
{
	return ps->loc->up_sync == GX_SYNC_HFA || ps->loc->agg || ps->o.lan == GX_LINK_FP16;
}

int ps_local_key_durable(gx_ps *ps, const ps_lkey *k)
{
	if (!ps->o.checkpoint || !ps_local_own_state(ps))
		return 0;
	int r = ps_local_key_write(ps, k);
	if (r)
		ps_finish(ps, r, NULL, "key %u block %u: cannot write its state in %s: %s", k->key,
			  k->block, ps->o.checkpoint, r == GX_EIO ? strerror(errno) : gx_strerror(r));
	return r;
}

int ps_local_build_keys(gx_ps *ps, const gx_keyent *e, size_t n)
{
	ps_local_state *ls = ps->loc;
	uint32_t *keys = malloc(n * sizeof *keys);
	uint64_t *counts = malloc(n * sizeof *counts);
	int rc = GX_ENOMEM;
	if (!keys || !counts)
		goto out;
	for (size_t i = 0; i < n; i++) {
		keys[i] = e[i].key;
		counts[i] = e[i].count;
	}
	ls->block = ls->up_cfg.block;
	size_t cap = gx_place_blocks_bound(counts, n, ls->nups, ls->block);
	if (cap > SIZE_MAX / sizeof *ls->place || cap > SIZE_MAX / sizeof *ls->keys) {
		rc = GX_EINVAL;
		goto out;
	}
	ls->place = malloc((cap ? cap : 1) * sizeof *ls->place);
	/* An entry per key, or with blocks per block. */
	ls->keys = calloc(ls->block ? (cap ? cap : 1) : n, sizeof *ls->keys);
	if (!ls->place || !ls->keys)
		goto out;
	long m = gx_place_blocks(keys, counts, n, ls->nups, ps->o.split_bound, ls->block,
				 ls->place, cap);
	if (m < 0) {
		rc = (int)m;
		goto out;
	}
	ls->nplace = (size_t)m;
	ls->nkeys = ls->block ? ls->nplace : n;
	size_t j = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < ls->nkeys; i++) {
		ps_lkey *k = &ls->keys[i];
		k->fwd_tail = &k->fwds;
		k->pull_tail = &k->pulls;
		k->sl = &ls->place[j];
		if (ls->block) {
			k->key = k->sl->key;
			k->block = k->sl->block;
			k->off = k->sl->offset;
			k->count = k->sl->count;
			j++;
		} else {
			k->key = e[i].key;
			k->count = e[i].count;
			while (j < ls->nplace && ls->place[j].key == k->key)
				j++;
		}
		k->nsl = (int)(&ls->place[j] - k->sl);
		k->init_wait = calloc((size_t)ps->n, 1);
		if (!k->init_wait || k->nsl < 1) {
			rc = k->nsl < 1 ? GX_EINVAL : GX_ENOMEM;
			goto out;
		}
		total += k->count;
	}
	if (ls->block)
		ps_log(ps, GX_LOG_INFO, "key table: %zu key%s, %llu elements, %zu block%s of up "
		       "to %u on %d server%s", n, n == 1 ? "" : "s", (unsigned long long)total,
		       ls->nplace, ls->nplace == 1 ? "" : "s", ls->block, ls->nups,
		       ls->nups == 1 ? "" : "s");
	else
		ps_log(ps, GX_LOG_INFO, "key table: %zu key%s, %llu elements, %zu slice%s on %d "
		       "server%s", n, n == 1 ? "" : "s", (unsigned long long)total, ls->nplace,
		       ls->nplace == 1 ? "" : "s", ls->nups, ls->nups == 1 ? "" : "s");
	rc = 0;
out:
	free(keys);
	free(counts);
	if (rc) {
		for (size_t i = 0; i < ls->nkeys && ls->keys; i++)
			free(ls->keys[i].init_wait);
		free(ls->keys);
		free(ls->place);
		ls->keys = NULL;
		ls->place = NULL;
		ls->nkeys = ls->nplace = 0;
	}
	return rc;
}

static void on_keytable(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_local_state *ls = ps->loc;
	gx_keyent *e;
	size_t n;
	if (ps_take_keytable(ps, p, h, pl, ls->table, ls->ntable, &e, &n))
		return;
	if (e) {
		int r = ps_local_build_keys(ps, e, n);
		if (r) {
			free(e);
			ps_finish(ps, r, NULL, "cannot place the key table: %s", gx_strerror(r));
			return;
		}
		ls->table = e;
		ls->ntable = n;
		/* --checkpoint: what a restarted server cannot be sent again */
		if (ps->o.checkpoint && (r = ps_local_ckpt_write(ps)) != 0) {
			ps_finish(ps, r, NULL, "cannot write the key table in %s: %s",
				  ps->o.checkpoint, r == GX_EIO ? strerror(errno) : gx_strerror(r));
			return;
		}
	}
	/* (a restarted worker keeps the rounds its place had: ps_local_join.c) */
	if (!p->next_round)
		p->next_round = calloc(ls->nkeys, sizeof *p->next_round);
	p->did_init = calloc(ls->nkeys, 1);
	if (!p->next_round || !p->did_init) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory");
		return;
	}
	p->has_table = 1;
}

/* Checks common to a worker's INIT, PUSH and PULL; the key or NULL after a
 * violation. */
static ps_lkey *worker_key(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const char *what,
			   int tensor)
{
	if (!p->has_table) {
		ps_violation(ps, p, GX_EPROTO, "%s before KEYTABLE", what);
		return NULL;
	}
	ps_local_state *ls = ps->loc;
	ps_lkey *k = ps_local_key(ps, h->key, h->block);
	if (!k && !ps_local_key(ps, h->key, 0)) {
		ps_violation(ps, p, GX_EKEY, "key %u is not in the key table", h->key);
		return NULL;
	}
	if (!k && !ls->block) {
		ps_violation(ps, p, GX_EPROTO, "key %u: block %u (a worker sends whole tensors, "
			     "block 0)", h->key, h->block);
		return NULL;
	}
	if (!k) {
		ps_violation(ps, p, GX_EPROTO, "key %u: block %u is past its end (it travels in "
			     "blocks of %u elements)", h->key, h->block, ls->block);
		return NULL;
	}
	if (!tensor) {
		if (!ps_empty_ctl(h)) {
			ps_violation(ps, p, GX_EPROTO, "malformed %s", what);
			return NULL;
		}
		return k;
	}
	/* (a key of one block is a whole key) */
	int part = ls->block && (k->block > 0 || ps_local_key(ps, h->key, 1));
	if ((h->codec == GX_CODEC_NONE || h->count != k->count) && part) {
		ps_violation(ps, p, GX_EKEY, "key %u block %u: %s of %llu elements, the block has "
			     "%llu", h->key, h->block, what, (unsigned long long)h->count,
			     (unsigned long long)k->count);
		return NULL;
	}
	if (h->codec == GX_CODEC_NONE || h->count != k->count) {
		ps_violation(ps, p, GX_EKEY, "key %u: %s of %llu elements, the key table says %llu",
			     h->key, what, (unsigned long long)h->count,
			     (unsigned long long)k->count);
		return NULL;
	}
	return k;
}

static ps_peer *up_of(gx_ps *ps, const gx_slice *s)
{
	return ps->loc->ups[s->server];
}

static void on_init(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_lkey *k = worker_key(ps, p, h, "INIT", 1);
	if (!k)
		return;
	size_t idx = (size_t)(k - ps->loc->keys);
	int again = p->did_init[idx]; /* sent again after a broken link */
	p->did_init[idx] = 1;
	if (k->init == 2) {
		ps_local_init_late(ps, p, k, idx, again);
		return;
	}
	k->init_wait[p->slot] = 1;
	if (k->init == 1)
		return;
	/* The first INIT of the key: its value goes upstream, slice by slice;
	 * the answers overwrite it with what the global tier kept. */
	if (!k->value)
		k->value = malloc((size_t)k->count * sizeof(float));
	if (!k->init_got)
		k->init_got = calloc((size_t)k->nsl, 1);
	if (!k->value || !k->init_got) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
		return;
	}
	int r = gx_codec_decode(ps->codec, h, pl, k->value, 0);
	if (r) {
		k->init_wait[p->slot] = 0;
		ps_violation(ps, p, r, "key %u: bad INIT payload: %s", k->key, gx_strerror(r));
		return;
	}
	for (int b = 0; b < k->nsl; b++)
		ps_local_init_slice(ps, k, b);
	k->init = 1;
	k->init_left = k->nsl;
}

void ps_local_init_slice(gx_ps *ps, ps_lkey *k, int b)
{
	const gx_slice *s = &k->sl[b];
	/* restoring (--resume): asks for the value the global keeps, never
	 * proposes one */
	uint32_t round = ps->loc->restoring ? GX_ROUND_RESUME : 0;
	ps_send_f32(ps, up_of(ps, s)->c, GX_FT_INIT, k->key, s->block, round, ps->o.party,
		    k->value + ps_slice_at(k, s), s->count);
}

void ps_fwd_free(ps_fwd *f, int nsl)
{
	free(f->got);
	free(f->who);
	gx_buf_unref(f->sent);
	if (f->coded)
		for (int b = 0; b < nsl; b++)
			ps_codec_drop_kept(&f->coded[b]);
	free(f->coded);
	if (f->bufb)
		gx_buf_unref(f->bufb);
	else
		free(f->buf);
	free(f);
}

void ps_local_push_slice(gx_ps *ps, ps_lkey *k, int b, uint32_t round, const float *sum,
			 gx_buf *buf)
{
	const gx_slice *s = &k->sl[b];
	if (ps->loc->ovl) { /* where the round's plan says */
		ps_ovl_local_own(ps, k, b, round, sum + ps_slice_at(k, s), buf);
		return;
	}
	gx_tensor_route rt = { .type = GX_FT_PUSH, .key = k->key, .block = s->block,
			       .round = round, .sender = ps->o.party };
	gx_tensor_payload pl;
	gx_tensor_payload_f32(&pl, sum + ps_slice_at(k, s), s->count, buf);
	ps_send_tensor(ps, up_of(ps, s)->c, &rt, &pl);
}

/* HFA: folds round a into the value (the workers' mean change); unless the
 * round goes upstream, answers it and returns 1. Else leaves in a->sum
 * what goes upstream: workers x (value - base). */
static int hfa_round(gx_ps *ps, ps_lkey *k, ps_acc *a)
{
	float d = (float)a->npushed;
	for (uint64_t i = 0; i < k->count; i++)
		k->value[i] += a->sum[i] / d;
	if ((a->round + 1) % ps->loc->up_cfg.k2 != 0) {
		k->rounds++;
		ps_codec_answer(ps, k, a->pushed, GX_FT_PUSH_REPLY, a->round, 0);
		ps->updates++;
		ps->wait_ns += gx_now_ns() - a->t_first;
		return 1;
	}
	for (uint64_t i = 0; i < k->count; i++)
		a->sum[i] = d * (k->value[i] - k->base[i]);
	return 0;
}

/* Sends round a of k upstream, slice by slice. */
static void forward(gx_ps *ps, ps_lkey *k, ps_acc *a)
{
	ps_local_state *ls = ps->loc;
	uint32_t up_round = a->round;
	if (ls->up_sync == GX_SYNC_HFA) {
		if (hfa_round(ps, k, a))
			return;
		up_round = (a->round + 1) / ls->up_cfg.k2 - 1;
	}
	ps_fwd *f = calloc(1, sizeof *f);
	/* A coded push cannot be made again (its error feedback is taken):
	 * kept as sent while the link may break and come back. */
	int keep = ls->agg == 1 && ps->o.reconnect_timeout > 0;
	if (f) {
		f->got = calloc((size_t)k->nsl, 1);
		f->who = malloc((size_t)ps->n);
		f->coded = keep ? calloc((size_t)k->nsl, sizeof *f->coded) : NULL;
	}
	if (!f || !f->got || !f->who || (keep && !f->coded)) {
		if (f)
			ps_fwd_free(f, k->nsl);
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
		return;
	}
	memcpy(f->who, a->pushed, (size_t)ps->n);
	/* The sum lives in a pooled buffer (on_push asks ps_acc_get for one)
	 * and goes up by reference; ps_acc_get gives the next round's sum a
	 * buffer again. The answers land in a buffer of their own: when they
	 * become the value as they are (no optimizer here, no HFA, no fp16
	 * view) a pooled one, so that the value is answered to the workers by
	 * reference; else the spare (the value before last). */
	const float *sum = a->sum;
	gx_buf *up = a->sumb;
	if (ls->agg == 0 && ls->up_sync != GX_SYNC_HFA && !k->view) {
		f->bufb = gx_buf_pool_get(ps->bufs, (size_t)k->count * sizeof(float));
		f->buf = f->bufb ? (float *)f->bufb->data : NULL;
	} else {
		f->buf = ps_buf_get(&k->spare, k->count);
	}
	if (!f->buf) {
		free(f->got);
		free(f->who);
		free(f);
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
		return;
	}
	a->sum = NULL;
	a->sumb = NULL;
	f->round = up_round;
	f->wround = a->round;
	f->left = k->nsl;
	f->t_first = a->t_first;
	for (int b = 0; b < k->nsl; b++) {
		const gx_slice *s = &k->sl[b];
		if (ls->announced[s->server] != (uint32_t)a->npushed) {
			ps_send_members(ps, up_of(ps, s), (uint32_t)a->npushed);
			ls->announced[s->server] = (uint32_t)a->npushed;
		}
		if (ls->agg == 1) {
			ps_codec_push_up(ps, k, b, up_round, sum + ps_slice_at(k, s),
					 f->coded ? &f->coded[b] : NULL);
		} else {
			ps_local_push_slice(ps, k, b, up_round, sum, up);
		}
	}
	if (ls->agg == 0)
		f->sent = up; /* kept: sent again if the link breaks */
	else
		gx_buf_unref(up); /* the connections hold their own references */
	f->members = (uint32_t)a->npushed;
	f->t_up = gx_now_ns();
	*k->fwd_tail = f;
	k->fwd_tail = &f->next;
}

void ps_local_settle_key(gx_ps *ps, ps_lkey *k)
{
	ps_acc *a;
	while (!ps->finishing && (a = k->accs) && ps_acc_settle(ps, a)) {
		if (ps->loc->up_sync == GX_SYNC_HFA && k->fwds)
			return; /* on_push_reply comes back here */
		k->accs = a->next;
		forward(ps, k, a);
		ps_acc_put(&k->spare, a);
	}
	if (!k->accs)
		ps_local_try_join(ps);
}

static void local_settle(gx_ps *ps)
{
	ps_local_state *ls = ps->loc;
	for (size_t i = 0; i < ls->nkeys && !ps->finishing; i++)
		ps_local_settle_key(ps, &ls->keys[i]);
}

static uint64_t local_rounds(const gx_ps *ps)
{
	ps_local_state *ls = ps->loc;
	uint64_t min = UINT64_MAX;
	for (size_t i = 0; i < ls->nkeys; i++)
		if (ls->keys[i].rounds < min)
			min = ls->keys[i].rounds;
	return min == UINT64_MAX ? 0 : min;
}

/* A worker back after a broken link sends again its last push of k (h):
 * taken once. Still being gathered, or gone upstream and not answered,
 * it counts already and its answer will come; answered, the answer was
 * lost with the link, and the value has not moved since (the next round
 * needs this worker's next push). */
static void replayed_push(gx_ps *ps, ps_peer *p, ps_lkey *k, const gx_frame_hdr *h)
{
	if (ps_local_round_pending(k, h->round) || ps_local_answered(ps, p, k, h->round))
		return;
	ps_send_f32(ps, p->c, GX_FT_PUSH_REPLY, k->key, k->block, h->round, ps->o.party,
		    k->view ? k->view : k->value, k->count);
	ps_local_note_answer(ps, p, k, h->round);
}

void ps_local_note_answer(gx_ps *ps, ps_peer *w, const ps_lkey *k, uint32_t round)
{
	if (!w->answered && !(w->answered = calloc(ps->loc->nkeys, sizeof *w->answered)))
		return; /* then a replay may be answered twice, as before */
	w->answered[k - ps->loc->keys] = round + 1;
}

int ps_local_answered(const gx_ps *ps, const ps_peer *w, const ps_lkey *k, uint32_t round)
{
	return w->answered && w->answered[k - ps->loc->keys] == round + 1;
}

static void on_push(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_local_state *ls = ps->loc;
	ps_lkey *k = worker_key(ps, p, h, "PUSH", 1);
	if (!k)
		return;
	size_t idx = (size_t)(k - ls->keys);
	if (!p->did_init[idx]) {
		ps_violation(ps, p, GX_EPROTO, "key %u: PUSH before INIT", k->key);
		return;
	}
	if (h->round != p->next_round[idx] && p->rejoined && h->round + 1 == p->next_round[idx]) {
		replayed_push(ps, p, k, h);
		return;
	}
	if (h->round != p->next_round[idx]) {
		ps_violation(ps, p, GX_EPROTO, "key %u: round %u, expected round %u", k->key,
			     h->round, p->next_round[idx]);
		return;
	}
	if (k->init != 2 && (ls->agg == 1 || ls->up_sync == GX_SYNC_HFA || ps->o.lan)) {
		/* the state the round needs comes with the INIT's answer */
		ps_violation(ps, p, GX_EPROTO, "key %u: PUSH before its INIT was answered", k->key);
		return;
	}
	ps_acc *a = ps_acc_get(&k->accs, &k->spare, ps->bufs, h->round, ps->n, k->count);
	int r;
	if (p->landing && pl == p->landing->data) {
		/* received in a pooled buffer (local_header): kept as it is.
		 * The sum's first term may keep a -0.0 where the global tier
		 * alone reads the sum, since its own first term is 0.0f + it
		 * and none of its sums is -0.0 (no result changes); not where
		 * this server or a mixed global applies the sum itself. */
		gx_buf *b = p->landing;
		p->landing = NULL;
		int raw = ls->agg == 0 && ls->up_sync == GX_SYNC_FULL;
		r = a ? ps_acc_take(ps, a, p->slot, h, b, raw) : (gx_buf_unref(b), GX_ENOMEM);
	} else {
		r = a ? ps_acc_add(ps, a, p->slot, h, pl) : GX_ENOMEM;
	}
	if (r == GX_ENOMEM) {
		ps_finish(ps, r, NULL, "out of memory for key %u round %u", k->key, h->round);
		return;
	}
	if (r) {
		if (!a->npushed) {
			ps_acc **pp = &k->accs;
			while (*pp != a)
				pp = &(*pp)->next;
			*pp = a->next;
			ps_acc_put(&k->spare, a);
		}
		ps_violation(ps, p, r, "key %u round %u: bad payload: %s", k->key, h->round,
			     gx_strerror(r));
		return;
	}
	p->next_round[idx]++;
	ps_local_settle_key(ps, k);
}

static void on_pull(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h)
{
	ps_local_state *ls = ps->loc;
	ps_lkey *k = worker_key(ps, p, h, "PULL", 0);
	if (!k)
		return;
	if (!p->did_init[k - ls->keys]) {
		ps_violation(ps, p, GX_EPROTO, "key %u: PULL before INIT", k->key);
		return;
	}
	if (k->init == 2 && (ls->agg == 1 || ls->up_sync == GX_SYNC_HFA || k->view)) {
		/* The global tier does not hold what the workers hold. */
		ps_send_f32(ps, p->c, GX_FT_PULL_REPLY, k->key, k->block, h->round, ps->o.party,
			    k->view ? k->view : k->value, k->count);
		return;
	}
	/* A group still gathering takes it; else a new one, asked upstream
	 * at once unless a request is in flight. */
	ps_pull *last = k->pulls;
	while (last && last->next)
		last = last->next;
	if (last && !last->sent) {
		last->want[p->slot]++;
		return;
	}
	ps_pull *q = calloc(1, sizeof *q);
	if (q)
		q->want = calloc((size_t)ps->n, sizeof *q->want);
	if (!q || !q->want) {
		ps_pull_free(q);
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
		return;
	}
	q->want[p->slot] = 1;
	*k->pull_tail = q;
	k->pull_tail = &q->next;
	if (k->pulls == q)
		ps_pull_ask(ps, k, q);
}

void ps_pull_free(ps_pull *q)
{
	if (!q)
		return;
	free(q->want);
	free(q->got);
	gx_buf_unref(q->bufb);
	free(q);
}

void ps_pull_ask(gx_ps *ps, ps_lkey *k, ps_pull *q)
{
	q->got = calloc((size_t)k->nsl, 1);
	q->bufb = gx_buf_pool_get(ps->bufs, (size_t)k->count * sizeof(float));
	if (!q->got || !q->bufb) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
		return;
	}
	q->buf = (float *)q->bufb->data;
	q->sent = 1;
	q->left = k->nsl;
	for (int b = 0; b < k->nsl; b++)
		ps_sent(ps, ps_send_slice_ctl(up_of(ps, &k->sl[b])->c, GX_FT_PULL, k->key,
					       k->sl[b].block));
}

/* A worker's large PUSH on its way: an F32 payload of the key (block) and
 * round it is due for is received in a pooled buffer, which on_push keeps
 * as a sum or an early contribution instead of decoding it. */
static gx_buf *local_header(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h)
{
	ps_local_state *ls = ps->loc;
	if (h->type != GX_FT_PUSH || h->codec != GX_CODEC_F32 || (h->flags & GX_FF_ZSTD) ||
	    !p->has_table || ps->o.lan)
		return NULL;
	ps_lkey *k = ps_local_key(ps, h->key, h->block);
	if (!k || h->count != k->count)
		return NULL;
	size_t idx = (size_t)(k - ls->keys);
	if (!p->did_init[idx] || h->round != p->next_round[idx])
		return NULL;
	return gx_buf_pool_get(ps->bufs, (size_t)k->count * sizeof(float));
}

/* ------------------------------------------------------------ the role */

static void local_ack(const gx_ps *ps, const ps_peer *p, gx_hello *a, gx_config *c)
{
	const ps_local_state *ls = ps->loc;
	a->sync = (uint8_t)ls->up_sync;
	a->rank = ps->o.party;
	a->party = ps->o.party;
	*c = ls->up_cfg;
	c->sync = (uint8_t)ls->up_sync;
	c->mode = 0;
	c->lan = (uint8_t)ps->o.lan;
	c->overlay = p->role == GX_ROLE_LOCAL; /* another data center's, under the overlay */
}

/* A worker's link may break and come back (the client dials again). */
static int local_may_rejoin(const gx_ps *ps, const ps_peer *p)
{
	return p->role == GX_ROLE_WORKER;
}

static const ps_words *local_words(const gx_ps *ps)
{
	static const ps_words workers = { "worker", "workers", "rank" };
	return &workers;
}

const ps_role ps_local_role = {
	.opts = local_opts,
	.init = local_init,
	.free = local_free,
	.start = ps_local_start,
	.tick = ps_local_tick,
	.hello = ps_local_hello,
	.ack = local_ack,
	.keytable = on_keytable,
	.init_key = on_init,
	.push = on_push,
	.pull = on_pull,
	.header = local_header,
	.may_rejoin = local_may_rejoin,
	.up_frame = ps_local_up_frame,
	.up_closed = ps_local_up_closed,
	.settle = local_settle,
	.lost = ps_local_members,
	.done = ps_local_bye,
	.words = local_words,
	.end = ps_codec_save_ef,
	.rounds = local_rounds,
	.stats = ps_local_stats,
};
