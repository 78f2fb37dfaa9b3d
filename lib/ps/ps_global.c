/*
 * ps_global.c — the global role: the model's slices, their optimizers, and
 * the updates (docs/protocol.md, "Tensors").
 *
 * Choices:
 *  - A slice exists once its first INIT arrived; it keeps that value. The
 *    global server needs no key table in hierarchical mode: the locals'
 *    placement decides what each server holds.
 *  - Flat mode (workers connect directly): the first HELLO decides whether
 *    this server serves local servers or workers, and the two never mix.
 *    With --parties N a flat server expects N workers, each a party of one
 *    worker; they get slots in the order they arrive, and a (party, rank)
 *    pair may come once.
 *  - Full sync: the mean's divisor is the sum of the workers behind the
 *    contributions, as each party announced them (HELLO, then MEMBERS) when
 *    its push arrived, so a party that lost a worker (elastic) is weighed
 *    right even while earlier rounds are still in flight.
 *  - DC-ASGD: the backup of a party is recorded whenever a slice's value
 *    goes to it (INIT_REPLY, PUSH_REPLY, PULL_REPLY); under full sync every
 *    party holds the same value, so the step uses the first contributor's.
 *  - Coded WAN (the locals said mode 1): the server only sums, divides and
 *    answers the aggregate; the locals apply it (ps_codec.c). Every party
 *    must say the same mode, and mixed sync is refused with it: an
 *    aggregate answered to one party alone would leave the others' copies
 *    behind.
 *  - HFA: a completed round is the weighted mean of the parties' model
 *    changes; without a coded WAN the server adds it to its value and
 *    answers the value (the sum's divisor is always the workers: --sum
 *    makes no sense for a mean of models).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps_dgt.h"
#include "ps_global.h"
#include "ps_overlay.h"

/* ---------------------------------------------------------- lifetime */

static int global_opts(gx_ps *ps)
{
	int rc = ps_set_contributors(ps, ps->o.parties, "parties");
	snprintf(ps->name, sizeof ps->name, "global");
	ps->sender = 0;
	return rc;
}

static int global_init(gx_ps *ps)
{
	ps_global_state *g = calloc(1, sizeof *g);
	if (!g)
		return GX_ENOMEM;
	ps->glob = g;
	g->flat = -1;
	g->agg = -1;
	if (!(g->slot_workers = calloc((size_t)ps->n, sizeof *g->slot_workers)))
		return GX_ENOMEM;
	int e = 0;
	gx_optim *t = gx_optim_create(&ps->o.optim, 1, ps->n, &e);
	if (!t) {
		ps_log(ps, GX_LOG_ERROR, "invalid optimizer options: %s",
		       gx_strerror(e ? e : GX_EINVAL));
		return e ? e : GX_EINVAL;
	}
	gx_optim_free(t);
	return ps_ovl_global_new(ps);
}

static void global_free(gx_ps *ps)
{
	ps_global_state *g = ps->glob;
	if (!g)
		return;
	ps_dgt_global_free(ps);
	ps_ovl_global_free(ps);
	for (size_t i = 0; i < g->map_cap; i++)
		slice_free(g->map[i]);
	free(g->map);
	free(g->ftable);
	free(g->slot_workers);
	free(g);
	ps->glob = NULL;
}

static int global_start(gx_ps *ps)
{
	if (ps->o.resume) {
		long n = ps_ckpt_resume(ps);
		if (n < 0) {
			ps_finish(ps, (int)n, NULL, "cannot resume from %s", ps->o.checkpoint);
			return (int)n;
		}
		ps->glob->resumed = 1;
		ps_log(ps, GX_LOG_WARN, "resumed %ld slice%s from %s; every party comes back to "
		       "them", n, n == 1 ? "" : "s", ps->o.checkpoint);
	}
	ps_log(ps, GX_LOG_INFO, "serving %d part%s on port %d, %s sync, %s", ps->n,
	       ps->n == 1 ? "y" : "ies", ps->port,
	       gx_sync_name(ps->o.sync),
	       gx_optim_name(ps->o.optim.kind) ? gx_optim_name(ps->o.optim.kind) : "?");
	return ps_start_accepting(ps);
}

/* ------------------------------------------------------------- hello */

const char *ps_slot_word(int st)
{
	switch (st) {
	case SLOT_LIVE: return "connected";
	case SLOT_BYE: return "finished";
	default: return "dead";
	}
}

/* A data center whose link broke is back (ps_peer_lost kept its place): p
 * takes old's place, and what it sends again of the round in flight is
 * taken once (on_push). */
static void rejoin(gx_ps *ps, ps_peer *p, ps_peer *old, const gx_hello *hl)
{
	if (hl->mode != old->mode || hl->workers == 0) {
		ps_violation(ps, p, GX_EPROTO, "party %u is coming back with other settings (its "
			     "WAN codec or its worker count)", hl->party);
		return;
	}
	p->mode = hl->mode;
	p->wan = 1;
	ps->glob->slot_workers[hl->party] = hl->workers; /* MEMBERS follow if fewer */
	char label[112];
	snprintf(label, sizeof label, "local %u (%s)", hl->party, p->addr);
	ps_take_place(ps, p, old, label);
}

/* A party's link may break and come back: a local server (with a coded
 * WAN, the last round's aggregate is kept to be given again: answer_agg),
 * or a flat worker (a party of one). */
static int global_may_rejoin(const gx_ps *ps, const ps_peer *p)
{
	return p->role == GX_ROLE_LOCAL || (p->role == GX_ROLE_WORKER && ps->glob->flat == 1);
}

static void global_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl)
{
	ps_global_state *g = ps->glob;
	char label[112];
	if (ps_ovl_global_hello(ps, p, hl))
		return;
	if (hl->role == GX_ROLE_LOCAL) {
		if (g->flat == 1) {
			ps_violation(ps, p, GX_EPROTO, "this global server serves workers directly "
				     "(flat); a local server cannot join");
			return;
		}
		if (hl->party >= (uint32_t)ps->n) {
			ps_violation(ps, p, GX_EPROTO, "party %u is out of range (this server "
				     "expects %d part%s, 0..%d)", hl->party, ps->n,
				     ps->n == 1 ? "y" : "ies", ps->n - 1);
			return;
		}
		if (hl->mode > PS_HELLO_DGT) {
			ps_violation(ps, p, GX_EPROTO, "a local server's HELLO with mode %u (0; 1: "
				     "a coded WAN; 2: DGT)", hl->mode);
			return;
		}
		ps_peer *old = ps->who[hl->party];
		if (ps->slot[hl->party] == SLOT_LIVE && old && old->away_ms && !old->c) {
			rejoin(ps, p, old, hl);
			return;
		}
		if (ps->slot[hl->party] != SLOT_EMPTY) {
			ps_violation(ps, p, GX_EPROTO, "party %u is already %s", hl->party,
				     ps_slot_word(ps->slot[hl->party]));
			return;
		}
		if (hl->workers == 0) {
			ps_violation(ps, p, GX_EPROTO, "a local server with no workers");
			return;
		}
		if (hl->mode && ps->o.sync == GX_SYNC_MIXED) {
			ps_violation(ps, p, GX_EPROTO, "a local server with a coded WAN (--wan-codec) "
				     "needs full or hfa sync at the global tier; this one runs mixed");
			return;
		}
		int coded = hl->mode != 0;
		if (g->agg >= 0 && coded != g->agg) {
			ps_violation(ps, p, GX_EPROTO, "its WAN codec is %s, the other parties' %s; "
				     "every local needs a coded WAN (or DGT) or none", coded ? "coded" :
				     "none", g->agg ? "coded" : "none");
			return;
		}
		p->mode = hl->mode;
		if (hl->mode == PS_HELLO_DGT && ps_dgt_global_admit(ps, p, (int)hl->party))
			return;
		g->agg = coded;
		g->flat = 0;
		ps_keys_hips(ps);
		g->slot_workers[hl->party] = hl->workers;
		p->rejoined = g->resumed; /* it sends again what we lost */
		p->wan = 1;
		snprintf(label, sizeof label, "local %u (%s)", hl->party, p->addr);
		ps_admit(ps, p, (int)hl->party, label);
		return;
	}
	if (hl->role == GX_ROLE_WORKER) {
		ps_global_flat_hello(ps, p, hl);
		return;
	}
	ps_violation(ps, p, GX_EPROTO, "role global cannot connect to a global server (it "
		     "accepts local servers and, flat, workers)");
}

/* ------------------------------------------------------------ replies */

/* Records that p's link got the answer of round: a replay of it that comes
 * after (the link came back while the round was being gathered, and its
 * answer went out before the replay arrived) is not answered twice. */
static void note_answer(ps_gslice *s, const ps_peer *p, uint32_t round)
{
	s->answered[p->slot].link = p->link;
	s->answered[p->slot].round = round;
}

static void holds(gx_ps *ps, ps_gslice *s, ps_peer *p, int type, uint32_t round);

/* Sends the slice's value to p, by reference, and records that p now holds
 * it. */
static void reply(gx_ps *ps, ps_gslice *s, ps_peer *p, int type, uint32_t round)
{
	if (!p->c)
		return;
	gx_tensor_route r = { .type = type, .key = s->key, .block = s->block, .round = round };
	if (ps->glob->ovl) /* for the receiver's measurement of the link */
		r.channel = ps_ovl_backlog(p->c, s->count);
	gx_tensor_payload pl;
	gx_tensor_payload_f32(&pl, s->w, s->count, s->wb);
	ps_send_tensor(ps, p->c, &r, &pl);
	holds(ps, s, p, type, round);
}

/* p holds the slice's value now (sent to it, or under the overlay passed
 * on to it by another data center): what the optimizer (DC-ASGD's
 * backups) and the staleness count of it. */
static void holds(gx_ps *ps, ps_gslice *s, ps_peer *p, int type, uint32_t round)
{
	if (type == GX_FT_PUSH_REPLY)
		note_answer(s, p, round);
	if (s->opt)
		gx_optim_backup(s->opt, s->w, p->slot);
	s->seen[p->slot] = s->updates;
}

/* Before s's value changes: while an answer still being written holds its
 * buffer (mixed sync updates on every push; a slow party's answer may not
 * be out when the next round completes), the value moves to a buffer of
 * its own, so that what was answered is what the peer gets. 0, or
 * GX_ENOMEM after ending the job. */
static int own_value(gx_ps *ps, ps_gslice *s)
{
	if (!gx_buf_shared(s->wb))
		return 0;
	size_t bytes = (size_t)s->count * sizeof(float);
	gx_buf *b = gx_buf_pool_get(ps->bufs, bytes);
	if (!b) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u block %u", s->key,
			  s->block);
		return GX_ENOMEM;
	}
	memcpy(b->data, s->w, bytes);
	GX_PASS(GX_PASS_COPY, bytes);
	gx_buf_unref(s->wb);
	s->wb = b;
	s->w = (float *)b->data;
	return 0;
}

/* --checkpoint-every: s on disk before the answer that depends on it. 0,
 * or a gx_error after ending the job. */
static int durable(gx_ps *ps, const ps_gslice *s)
{
	int r = ps_ckpt_write(ps, s);
	if (r)
		ps_finish(ps, r, NULL, "key %u block %u: cannot write its checkpoint in %s: %s",
			  s->key, s->block, ps->o.checkpoint,
			  r == GX_EIO ? strerror(errno) : gx_strerror(r));
	return r;
}

/* Whether s's latest update is one --checkpoint-every keeps. */
static int due(const gx_ps *ps, uint64_t n)
{
	return ps->o.checkpoint && ps->o.checkpoint_every && n % ps->o.checkpoint_every == 0;
}

/* Coded WAN: the round's aggregate (already divided), coded once, on disk
 * where --checkpoint-every asks, then to every party that pushed it; kept
 * (s->agg) while a party may come back for it (global_may_rejoin). */
static void answer_agg(gx_ps *ps, ps_gslice *s, ps_acc *a)
{
	gx_tensor_payload pl;
	if (ps_codec_make_agg(ps, s->key, s->block, a->sum, s->count, a->codecs, &pl))
		return;
	ps_codec_drop_kept(&s->agg);
	s->agg = pl;
	s->agg_round = a->round;
	s->updates++;
	s->rounds++;
	ps->updates++;
	ps->wait_ns += gx_now_ns() - a->t_first;
	if (due(ps, s->rounds) && durable(ps, s))
		return;
	for (int i = 0; i < a->n && !ps->finishing; i++)
		if (a->pushed[i] && ps->slot[i] == SLOT_LIVE && ps->who[i] && ps->who[i]->c) {
			/* a local under DGT takes it as datagrams where it can */
			if (!ps_dgt_answer(ps, s, i, &s->agg, a->round))
				ps_codec_send_kept(ps, ps->who[i]->c, &s->agg, GX_FT_PUSH_REPLY,
						   s->key, s->block, a->round);
			note_answer(s, ps->who[i], a->round);
		}
	if (ps->o.reconnect_timeout <= 0)
		ps_codec_drop_kept(&s->agg);
}

/* Whether a round's sum is read only by the optimizer (full sync, the
 * value updated, not the sum answered or added as HFA's average): then a
 * party's F32 push is received in a pooled buffer and kept as the sum's
 * first term as it lies, without the pass that writes it as 0.0f + value,
 * and gx_optim_step_sum reads the sum as if it had been (the sums differ at
 * most in the sign of a zero, which the step's + 0.0f makes the same). */
static int raw_sums(const gx_ps *ps)
{
	return ps->o.sync == GX_SYNC_FULL && ps->glob->agg == 0;
}

void ps_global_settle_slice(gx_ps *ps, ps_gslice *s)
{
	ps_acc *a;
	while (!ps->finishing && (a = s->accs) && ps_acc_settle(ps, a)) {
		s->accs = a->next;
		int hfa = ps->o.sync == GX_SYNC_HFA;
		uint64_t div = ps->o.sum && !hfa ? 1 : a->workers;
		if (div > 1) {
			float d = (float)div;
			for (uint64_t i = 0; i < s->count; i++)
				a->sum[i] /= d;
		}
		if (ps->glob->agg == 1) {
			answer_agg(ps, s, a);
			ps_acc_put(&s->spare, a);
			continue;
		}
		int sender = 0;
		while (sender < a->n && !a->pushed[sender])
			sender++;
		int r = own_value(ps, s);
		if (r) {
			ps_acc_put(&s->spare, a);
			return;
		}
		if (hfa)
			for (uint64_t i = 0; i < s->count; i++)
				s->w[i] += a->sum[i];
		else
			r = gx_optim_step_sum(s->opt, s->w, a->sum, sender);
		if (r) {
			ps_finish(ps, r, NULL, "key %u block %u: the optimizer failed: %s", s->key,
				  s->block, gx_strerror(r));
			ps_acc_put(&s->spare, a);
			return;
		}
		s->updates++;
		s->rounds++;
		ps->updates++;
		ps->wait_ns += gx_now_ns() - a->t_first;
		if (due(ps, s->rounds) && durable(ps, s)) {
			ps_acc_put(&s->spare, a);
			return;
		}
		ps_ovl_global_answering(ps, a->round);
		for (int i = 0; i < a->n; i++)
			if (a->pushed[i] && ps->slot[i] == SLOT_LIVE && ps->who[i]) {
				if (ps_ovl_global_answers(ps, i, a->round))
					reply(ps, s, ps->who[i], GX_FT_PUSH_REPLY, a->round);
				else
					holds(ps, s, ps->who[i], GX_FT_PUSH_REPLY, a->round);
			}
		ps_acc_put(&s->spare, a);
	}
}

int ps_global_contribute(gx_ps *ps, ps_gslice *s, int i, const float *v, int codec)
{
	ps_acc *a = ps_acc_get(&s->accs, &s->spare, NULL, s->next_round[i], ps->n, s->count);
	int r = a ? ps_acc_add_values(ps, a, i, v, codec) : GX_ENOMEM;
	if (r) {
		ps_finish(ps, r, NULL, "key %u block %u round %u: cannot take party %d's push: %s",
			  s->key, s->block, s->next_round[i], i, gx_strerror(r));
		return r;
	}
	a->workers += ps->glob->slot_workers[i];
	s->next_round[i]++;
	ps_global_settle_slice(ps, s);
	return 0;
}

void ps_global_settle(gx_ps *ps)
{
	const ps_global_state *g = ps->glob;
	for (size_t i = 0; i < g->map_cap && !ps->finishing; i++)
		if (g->map[i])
			ps_global_settle_slice(ps, g->map[i]);
}

static uint64_t global_rounds(const gx_ps *ps)
{
	const ps_global_state *g = ps->glob;
	uint64_t min = UINT64_MAX;
	for (size_t i = 0; i < g->map_cap; i++) {
		ps_gslice *s = g->map[i];
		if (!s)
			continue;
		uint64_t r = s->rounds;
		if (ps->o.sync == GX_SYNC_MIXED) {
			r = UINT64_MAX;
			for (int j = 0; j < ps->n; j++)
				if (ps->slot[j] != SLOT_DEAD && s->next_round[j] < r)
					r = s->next_round[j];
			if (r == UINT64_MAX)
				r = 0;
		}
		if (r < min)
			min = r;
	}
	return min == UINT64_MAX ? 0 : min;
}

/* ------------------------------------------------------------- frames */

/* Checks common to INIT and PUSH; the slice (NULL if none yet), or NULL
 * with *bad set after a violation. */
static ps_gslice *tensor_slice(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const char *what,
			       int *bad)
{
	*bad = 1;
	if (h->codec == GX_CODEC_NONE || h->count == 0) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: %s without a tensor", h->key,
			     h->block, what);
		return NULL;
	}
	if (p->role == GX_ROLE_WORKER) {
		if (!p->has_table) {
			ps_violation(ps, p, GX_EPROTO, "%s before KEYTABLE", what);
			return NULL;
		}
		const ps_global_state *g = ps->glob;
		if (!ps_global_flat_key(g, h->key)) {
			ps_violation(ps, p, GX_EKEY, "key %u is not in the key table", h->key);
			return NULL;
		}
	}
	ps_gslice *s = map_get(ps->glob, h->key, h->block);
	if (s && s->count != h->count) {
		ps_violation(ps, p, GX_EKEY, "key %u block %u: %llu elements, but it has %llu",
			     h->key, h->block, (unsigned long long)h->count,
			     (unsigned long long)s->count);
		return NULL;
	}
	*bad = 0;
	return s;
}

static void on_init(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	int bad;
	ps_gslice *s = tensor_slice(ps, p, h, "INIT", &bad);
	if (bad)
		return;
	if (!s && h->round == GX_ROUND_RESUME) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: a local server starting again asks "
			     "for a slice this server does not keep (was it started again without "
			     "--resume?)", h->key, h->block);
		return;
	}
	/* what a late INIT learns; a local server starting again, or a flat
	 * worker back in its place, under mixed sync, where each party has
	 * rounds of its own: its next one */
	uint32_t settled = !s ? 0 : (h->round == GX_ROUND_RESUME || p->rejoined) &&
		ps->o.sync == GX_SYNC_MIXED ? s->next_round[p->slot] : (uint32_t)s->rounds;
	if (!s) {
		int r = GX_ENOMEM;
		s = slice_new(ps, h->key, h->block, h->count,
			      ps->glob->agg != 1 && ps->o.sync != GX_SYNC_HFA, &r);
		if (s && !(r = gx_codec_decode(ps->codec, h, pl, s->w, 0)))
			r = map_put(ps->glob, s);
		if (r) {
			slice_free(s);
			if (r == GX_ENOMEM)
				ps_finish(ps, r, NULL, "out of memory for key %u block %u (%llu "
					  "elements)", h->key, h->block,
					  (unsigned long long)h->count);
			else
				ps_violation(ps, p, r, "key %u block %u: bad INIT payload: %s",
					     h->key, h->block, gx_strerror(r));
			return;
		}
		ps_log(ps, GX_LOG_DEBUG, "key %u block %u: %llu elements, from %s", h->key,
		       h->block, (unsigned long long)h->count, p->label);
		if (ps->o.checkpoint && ps->o.checkpoint_every && durable(ps, s))
			return;
	}
	reply(ps, s, p, GX_FT_INIT_REPLY, settled);
}

static void on_push(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	int bad;
	ps_gslice *s = tensor_slice(ps, p, h, "PUSH", &bad);
	if (bad)
		return;
	if (!s) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: PUSH before INIT", h->key,
			     h->block);
		return;
	}
	ps_ovl_global_note_in(ps, p->slot, h);
	if (h->channel & ~GX_OVL_BACKLOG) { /* a fold's sum (the overlay) */
		ps_ovl_global_prefix(ps, p, s, h, pl);
		return;
	}
	int i = p->slot;
	if (h->round != s->next_round[i] && p->rejoined && h->round + 1 == s->next_round[i]) {
		/* Sent again after the link came back: taken once. Still being
		 * gathered, it counts already; done, its answer was lost with
		 * the link, and the value has not moved since (a full-sync round
		 * needs this party's next push), nor has the aggregate kept of
		 * a coded WAN's last round. */
		ps_acc *a = s->accs;
		while (a && a->round != h->round)
			a = a->next;
		if (a || (s->answered[i].link == p->link && s->answered[i].round == h->round))
			return;
		if (ps->glob->agg != 1) {
			reply(ps, s, p, GX_FT_PUSH_REPLY, h->round);
		} else if (s->agg.buf && s->agg_round == h->round) {
			ps_log(ps, GX_LOG_INFO, "%s: key %u block %u round %u: its aggregate "
			       "sent again", p->label, s->key, s->block, h->round);
			ps_codec_send_kept(ps, p->c, &s->agg, GX_FT_PUSH_REPLY, s->key, s->block,
					   h->round);
			note_answer(s, p, h->round);
		} else {
			ps_violation(ps, p, GX_EPROTO, "key %u block %u: round %u again, whose "
				     "aggregate this server no longer has", s->key, s->block,
				     h->round);
		}
		return;
	}
	if (h->round != s->next_round[i]) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: round %u, expected round %u",
			     h->key, h->block, h->round, s->next_round[i]);
		return;
	}
	if (ps->o.sync == GX_SYNC_MIXED) {
		int r = gx_codec_decode(ps->codec, h, pl, s->g, 0);
		if (r) {
			ps_violation(ps, p, r, "key %u block %u round %u: bad payload: %s", h->key,
				     h->block, h->round, gx_strerror(r));
			return;
		}
		s->next_round[i]++;
		uint32_t wk = ps->glob->slot_workers[i];
		if (!ps->o.sum && wk > 1) {
			float d = (float)wk;
			for (uint64_t j = 0; j < s->count; j++)
				s->g[j] /= d;
		}
		uint64_t stale = s->updates - s->seen[i];
		ps->stale_n++;
		ps->stale_sum += stale;
		if (stale > ps->stale_max)
			ps->stale_max = stale;
		if (own_value(ps, s))
			return;
		r = gx_optim_step(s->opt, s->w, s->g, i);
		if (r) {
			ps_finish(ps, r, NULL, "key %u block %u: the optimizer failed: %s", s->key,
				  s->block, gx_strerror(r));
			return;
		}
		s->updates++;
		ps->updates++;
		if (due(ps, s->updates) && durable(ps, s))
			return;
		reply(ps, s, p, GX_FT_PUSH_REPLY, h->round);
		return;
	}
	int raw = raw_sums(ps);
	ps_acc *a = ps_acc_get(&s->accs, &s->spare, raw ? ps->bufs : NULL, h->round, ps->n,
			       s->count);
	int r;
	if (p->landing && pl == p->landing->data) {
		/* received in a pooled buffer (global_header) */
		gx_buf *b = p->landing;
		p->landing = NULL;
		r = a ? ps_acc_take(ps, a, i, h, b, raw) : (gx_buf_unref(b), GX_ENOMEM);
	} else {
		r = a ? ps_acc_add(ps, a, i, h, pl) : GX_ENOMEM;
	}
	if (r == GX_ENOMEM) {
		ps_finish(ps, r, NULL, "out of memory for key %u block %u round %u", h->key,
			  h->block, h->round);
		return;
	}
	if (r) {
		if (!a->npushed) { /* do not leave an empty round behind */
			ps_acc **pp = &s->accs;
			while (*pp != a)
				pp = &(*pp)->next;
			*pp = a->next;
			ps_acc_put(&s->spare, a);
		}
		ps_violation(ps, p, r, "key %u block %u round %u: bad payload: %s", h->key,
			     h->block, h->round, gx_strerror(r));
		return;
	}
	a->workers += ps->glob->slot_workers[i];
	s->next_round[i]++;
	ps_global_settle_slice(ps, s);
}

/* A party's large F32 push of the round a raw sum awaits: received in a
 * pooled buffer, to be kept as it lies (on_push). */
static gx_buf *global_header(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h)
{
	if (h->type != GX_FT_PUSH || h->codec != GX_CODEC_F32 || (h->flags & GX_FF_ZSTD) ||
	    p->role != GX_ROLE_LOCAL || !raw_sums(ps))
		return NULL;
	ps_gslice *s = map_get(ps->glob, h->key, h->block);
	if (!s || s->count != h->count || h->round != s->next_round[p->slot])
		return NULL;
	return gx_buf_pool_get(ps->bufs, (size_t)s->count * sizeof(float));
}

static void on_pull(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h)
{
	if (!ps_empty_ctl(h)) {
		ps_violation(ps, p, GX_EPROTO, "malformed PULL");
		return;
	}
	ps_gslice *s = map_get(ps->glob, h->key, h->block);
	if (!s) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: PULL before INIT", h->key,
			     h->block);
		return;
	}
	reply(ps, s, p, GX_FT_PULL_REPLY, h->round);
}

/* A local server's count of the workers it aggregates (the weights of a
 * weighted mean). */
static void on_members(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	uint32_t w;
	if (ps_ovl_global_frame(ps, p, h, pl))
		return;
	if (h->type == GX_FT_DGT_PUSH) {
		ps_dgt_on_push(ps, p, h, pl);
		return;
	}
	if (h->type == GX_FT_DGT_ACK) {
		ps_dgt_on_answer_ack(ps, p, h, pl);
		return;
	}
	if (h->type != GX_FT_MEMBERS) {
		ps_violation(ps, p, GX_EPROTO, "unexpected frame type %u", h->type);
		return;
	}
	if (p->role != GX_ROLE_LOCAL || h->codec != GX_CODEC_NONE ||
	    gx_members_parse(pl, h->payload_len, &w)) {
		ps_violation(ps, p, GX_EPROTO, "malformed or unexpected MEMBERS");
		return;
	}
	/* Fewer as workers die, as many again as they are replaced: never more
	 * than it said at HELLO, which would skew the weighted mean. */
	if (w == 0 || w > p->workers) {
		ps_violation(ps, p, GX_EPROTO, "MEMBERS of %u workers, where its HELLO said %u", w,
			     p->workers);
		return;
	}
	ps->glob->slot_workers[p->slot] = w;
	ps_log(ps, GX_LOG_INFO, "%s now aggregates %u worker%s", p->label, w, w == 1 ? "" : "s");
}

/* ------------------------------------------------------------ the role */

static void global_ack(const gx_ps *ps, const ps_peer *p, gx_hello *a, gx_config *c)
{
	a->sync = (uint8_t)ps->o.sync;
	c->sync = (uint8_t)ps->o.sync;
	c->mode = (uint8_t)p->mode;
	c->sum = ps->o.sum != 0;
	c->optim = ps->o.optim;
	/* Blocks for the locals that leave the updates to this tier, and for
	 * those under DGT (which plans each block on its own, so that blocks
	 * go up and come back while the next arrive); a WAN codec selects
	 * and feeds back errors over whole slices. */
	if (p->role == GX_ROLE_LOCAL && p->mode != 1)
		c->block = ps->o.block;
	c->overlay = p->role == GX_ROLE_LOCAL && ps->glob->ovl;
	if (ps->o.sync == GX_SYNC_HFA) {
		c->k1 = ps->o.k1;
		c->k2 = ps->o.k2;
	}
}

static const ps_words *global_words(const gx_ps *ps)
{
	static const ps_words parties = { "party", "parties", "party" };
	static const ps_words workers = { "worker", "workers", NULL }; /* flat */
	return ps->glob->flat == 1 ? &workers : &parties;
}

/* The loop is over (job done, failed or stopped): the slices as they are. */
static int global_end(gx_ps *ps)
{
	return ps->o.checkpoint ? ps_ckpt_write_all(ps) : 0;
}

static void global_done(gx_ps *ps)
{
	ps_finish(ps, 0, NULL, "job done: every %s said goodbye", global_words(ps)->one);
}

static void global_stats(const gx_ps *ps, ps_sbuf *b, int json)
{
	ps_dgt_global_stats(ps, b, json);
	ps_ovl_global_stats(ps, b, json);
}

const ps_role ps_global_role = {
	.opts = global_opts,
	.init = global_init,
	.free = global_free,
	.start = global_start,
	.hello = global_hello,
	.ack = global_ack,
	.keytable = ps_global_flat_keytable,
	.init_key = on_init,
	.push = on_push,
	.header = global_header,
	.may_rejoin = global_may_rejoin,
	.pull = on_pull,
	.other = on_members,
	.settle = ps_global_settle,
	.done = global_done,
	.end = global_end,
	.words = global_words,
	.rounds = global_rounds,
	.stats = global_stats,
};
