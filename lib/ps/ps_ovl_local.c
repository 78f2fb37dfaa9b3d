/*
 * ps_ovl_local.c — the adaptive overlay at a data center's local server
 * (docs/protocol.md, "The adaptive overlay"): the links to the other data
 * centers' local servers (this one dials those of lower party numbers and
 * takes the dials of the higher), the plans the global sends, and the
 * folds a plan gives this data center: for a slice's round, S_c =
 * S_(c-1) + p_c wherever the plan makes it here, and the sums it sends on
 * (its own, or a prefix S_c) to another local server (OVL_PART) or to the
 * global (PUSH, on channel c + 1 for a prefix).
 *
 * What arrives before it is needed waits in the round's record: another
 * data center's sum that comes before this one's own, a round whose plan
 * is not here yet (plans and sums travel on different links), a send
 * whose link is not up yet. Whatever a sibling sends that the plan does
 * not say, or twice, ends the job: the folds would be wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps_local.h"
#include "ps_overlay.h"

#define PLANS 64   /* plans kept, by round: a key this far behind the others fails */
#define AHEAD 3    /* rounds a sibling's sum may be ahead of this server's answers */
#define UNPLACED 4096 /* sums of slices this server has no table for yet, at most */

/* A slice's round being folded here. Another data center's sum may come
 * before this server has its key table (its workers came later): then k
 * is NULL until it has, and the sum's count is checked then. */
typedef struct ovl_rec {
	struct ovl_rec *next;
	uint32_t key, block, round;
	uint64_t count;     /* the elements of what came */
	ps_lkey *k;
	int b;
	const float *own;   /* this data center's sum, once it is in */
	gx_buf *ownb;       /* ... the buffer it lies in (referenced) */
	float *ownc;        /* ... or a copy of it */
	float *raw[GX_OVL_MAX_PARTIES]; /* other parties' sums sent here */
	float *pre;         /* the prefix S_pre_last held here, or NULL */
	int pre_last;
	int pre_from;       /* the party that sent a prefix here (-1: none) */
	int pre_got;        /* ... S_pre_got, which it was */
	uint32_t sent;      /* bit i: the plan's i-th send is done */
} ovl_rec;

/* A round's plan, as the global sent it. */
typedef struct ovl_plan_ent {
	uint32_t round;
	int set;
	gx_ovl_plan p;
} ovl_plan_ent;

struct ps_ovl_local {
	int parties;                     /* 0 until OVL_PEERS */
	char addr[GX_OVL_MAX_PARTIES][GX_OVL_ADDR_MAX + 1];
	ps_peer *sib[GX_OVL_MAX_PARTIES];
	int nready;
	gx_hello hello;
	ovl_plan_ent plan[PLANS];
	ovl_rec *recs;
	int up_done;                     /* the global said goodbye; waiting for siblings' */
	int unplaced;                    /* records whose slice is not known yet */
	gx_ovl_meter in[2][GX_OVL_MAX_PARTIES + 1]; /* by phase, each link into this
						      * one (the party count: the
						      * global's) */
	int slices;                      /* a round's transfer, in frames */
	uint64_t folds, parts_in, parts_out, sums_up, reports, relayed;
};

static void advance_all(gx_ps *ps);

static void rec_free(ovl_rec *r)
{
	gx_buf_unref(r->ownb);
	free(r->ownc);
	for (int i = 0; i < GX_OVL_MAX_PARTIES; i++)
		free(r->raw[i]);
	free(r->pre);
	free(r);
}

void ps_ovl_local_free(gx_ps *ps)
{
	ps_ovl_local *v = ps->loc ? ps->loc->ovl : NULL;
	if (!v)
		return;
	while (v->recs) {
		ovl_rec *n = v->recs->next;
		rec_free(v->recs);
		v->recs = n;
	}
	free(v);
	ps->loc->ovl = NULL;
}

/* ------------------------------------------------------------- start */

int ps_ovl_local_start(gx_ps *ps, ps_peer *u)
{
	ps_local_state *ls = ps->loc;
	if (ls->ovl)
		return 0;
	if (ls->nups != 1) {
		ps_finish(ps, GX_EINVAL, NULL, "the overlay works with one global server (this "
			  "server has %d upstream)", ls->nups);
		return GX_EINVAL;
	}
	if (ps->ring && !ps->job_key) {
		ps_finish(ps, GX_EAUTH, NULL, "the overlay links the data centers to each other: "
			  "every local server needs the job's key (--key holds party %u's)",
			  ps->o.party);
		return GX_EAUTH;
	}
	if (ps->o.elastic) {
		ps_finish(ps, GX_EINVAL, NULL, "the overlay does not go on without a worker "
			  "(--elastic): another data center's folds wait for this one's sums");
		return GX_EINVAL;
	}
	char host[256], addr[GX_OVL_ADDR_MAX + 1];
	int port;
	if (ps->o.overlay_addr) {
		snprintf(addr, sizeof addr, "%s", ps->o.overlay_addr);
	} else if (gx_net_split(ps->listen_s, host, sizeof host, &port) || !*host ||
		   !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "*")) {
		ps_finish(ps, GX_EINVAL, NULL, "the overlay needs the address the other data "
			  "centers reach this server at: --overlay-addr HOST:PORT (it listens on "
			  "%s)", ps->listen_s);
		return GX_EINVAL;
	} else {
		snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, ps->port);
	}
	ps_ovl_local *v = calloc(1, sizeof *v);
	if (!v) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for the overlay");
		return GX_ENOMEM;
	}
	ls->ovl = v;
	v->hello = ls->hello; /* role local, its party and workers */
	ps->o.reconnect_timeout = 0; /* a broken link fails the round: docs/design.md */
	ps_sent(ps, gx_send_ctl(u->c, GX_FT_OVL_ADDR, 0, 0, addr, (uint32_t)strlen(addr)));
	ps_log(ps, GX_LOG_INFO, "overlay: the other data centers reach this server at %s", addr);
	return 0;
}

/* ------------------------------------------------------- the sibling links */

static void sib_ready(gx_ps *ps, ps_peer *p)
{
	ps_ovl_local *v = ps->loc->ovl;
	v->sib[p->party] = p;
	v->nready++;
	ps_log(ps, GX_LOG_DEBUG, "overlay: %s linked (%d of %d)", p->label, v->nready,
	       v->parties ? v->parties - 1 : 0);
	advance_all(ps);
}

static void sib_open(gx_dial *d, gx_conn *c, void *ud)
{
	ps_peer *u = ud;
	u->c = c;
	gx_conn_set_credit(c, u->ps->o.credit);
	u->ust = UP_HELLO;
	u->t_open = u->tx_ms = gx_now_ms();
}

static int sib_check_ack(gx_dial *d, const gx_hello *a, char *why, size_t cap, void *ud)
{
	ps_peer *u = ud;
	if (a->role != GX_ROLE_LOCAL || a->party != u->party) {
		snprintf(why, cap, "it is not the local server of party %u", u->party);
		return GX_EPROTO;
	}
	u->ust = UP_CONFIG;
	return 0;
}

static int sib_check_config(gx_dial *d, const gx_config *c, char *why, size_t cap, void *ud)
{
	if (!c->overlay) {
		snprintf(why, cap, "it does not run the overlay");
		return GX_EPROTO;
	}
	return 0;
}

static void sib_dial_ready(gx_dial *d, int fd, void *ud)
{
	ps_peer *u = ud;
	u->ust = UP_READY;
	u->tx_ms = gx_now_ms();
	sib_ready(u->ps, u);
}

static void sib_fail(gx_dial *d, int err, const char *why, void *ud)
{
	ps_peer *u = ud;
	gx_ps *ps = u->ps;
	if (ps->finishing || u->gone)
		return;
	u->gone = 1;
	ps_finish(ps, err == GX_ETIMEOUT ? err : GX_EPEER, u, "%s: %s (gave up after %g s)",
		  u->label, why, ps->o.connect_timeout);
}

static const gx_dial_cbs sib_cbs = {
	.on_open = sib_open,
	.check_ack = sib_check_ack,
	.check_config = sib_check_config,
	.on_ready = sib_dial_ready,
	.on_fail = sib_fail,
};

/* Dials party q's local server at its address. */
static int sib_dial(gx_ps *ps, int q)
{
	ps_ovl_local *v = ps->loc->ovl;
	ps_peer *u = calloc(1, sizeof *u);
	if (!u)
		return GX_ENOMEM;
	u->ps = ps;
	u->up = u->sib = u->wan = 1;
	u->party = (uint32_t)q;
	u->fd = -1;
	u->role = GX_ROLE_LOCAL;
	u->ust = UP_CONNECTING;
	u->next = ps->peers;
	ps->peers = u;
	if (gx_net_split(v->addr[q], u->host, sizeof u->host, &u->port))
		return GX_EINVAL;
	ps_clean(u->addr, sizeof u->addr, v->addr[q]);
	snprintf(u->label, sizeof u->label, "local %d (%s)", q, u->addr);
	gx_dial_opts o = {
		.host = u->host,
		.port = u->port,
		.timeout_ms = (long)(ps->o.connect_timeout * 1000),
		.cb = &sib_cbs,
		.ud = u,
		.fdp = &u->fd,
		.hello = &v->hello,
		.psk = ps->o.key ? &ps->psk : NULL,
		.lim = &ps->o.limits,
		.label = u->label,
		.sender = ps->name,
		.on_frame = ps_on_frame,
		.on_close = ps_on_close,
	};
	return gx_dial_start(&u->dial, ps->ev, &o);
}

void ps_ovl_local_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl)
{
	ps_ovl_local *v = ps->loc->ovl;
	if (!v) {
		ps_violation(ps, p, GX_EPROTO, "role local cannot connect to a local server (it "
			     "accepts workers, and other data centers' local servers only under "
			     "the overlay, which this job does not run)");
		return;
	}
	if (hl->party == ps->o.party || hl->party >= GX_OVL_MAX_PARTIES ||
	    (v->parties && hl->party >= (uint32_t)v->parties) || hl->party < ps->o.party ||
	    v->sib[hl->party]) {
		ps_violation(ps, p, GX_EPROTO, "the local server of party %u cannot link to this "
			     "one (party %u): %s", hl->party, ps->o.party,
			     v->sib[hl->party < GX_OVL_MAX_PARTIES ? hl->party : 0] ? "linked already"
			     : "it is not a higher party of the job");
		return;
	}
	p->state = PEER_SIBLING;
	p->sib = p->wan = 1;
	p->party = hl->party;
	snprintf(p->label, sizeof p->label, "local %u (%s)", hl->party, p->addr);
	gx_conn_set_name(p->c, p->label);
	gx_conn_set_limits(p->c, &ps->o.limits);
	gx_conn_set_credit(p->c, ps->o.credit);
	ps_send_welcome(ps, p);
	sib_ready(ps, p);
}

/* Whether a sibling still has to say goodbye: a link closed before its
 * peer is done would reset what that peer still sends (a heartbeat, its
 * own BYE), and the reset could overtake what was sent before it. */
static int byes_due(const ps_ovl_local *v)
{
	for (int q = 0; q < v->parties; q++)
		if (v->sib[q] && v->sib[q]->c && !v->sib[q]->sib_bye)
			return 1;
	return 0;
}

int ps_ovl_local_hold_end(gx_ps *ps)
{
	ps_ovl_local *v = ps->loc->ovl;
	if (!v || !byes_due(v))
		return 0;
	v->up_done = 1;
	ps_log(ps, GX_LOG_DEBUG, "overlay: waiting for the other local servers' goodbyes");
	return 1;
}

int ps_ovl_local_ending(const gx_ps *ps)
{
	return ps->loc->ovl && ps->loc->ovl->up_done;
}

/* The job is over upstream and every sibling said goodbye: done. */
static void end_if_done(gx_ps *ps)
{
	ps_ovl_local *v = ps->loc->ovl;
	if (v->up_done && !byes_due(v) && !ps->finishing)
		ps_finish(ps, 0, NULL, "job done");
}

void ps_ovl_local_bye(gx_ps *ps)
{
	ps_ovl_local *v = ps->loc->ovl;
	for (int q = 0; v && q < v->parties; q++)
		if (v->sib[q] && v->sib[q]->c)
			gx_send_ctl(v->sib[q]->c, GX_FT_BYE, 0, 0, NULL, 0);
}

void ps_ovl_local_closed(gx_ps *ps, ps_peer *p, int err, const char *why)
{
	int handshake = p->up && (p->ust == UP_HELLO || p->ust == UP_CONFIG ||
				  p->ust == UP_CONNECTING);
	p->ust = UP_CLOSED;
	if (ps->finishing || p->gone || handshake)
		return; /* a dial that fails says why (sib_fail) */
	p->gone = 1;
	if (p->sib_bye) {
		end_if_done(ps);
		return;
	}
	ps_finish(ps, GX_EPEER, NULL, "%s died: %s", p->label,
		  !err ? "connection closed" : why && *why ? why : gx_strerror(err));
}

/* ----------------------------------------------------------- the folds */

static const gx_ovl_plan *plan_of(ps_ovl_local *v, uint32_t round)
{
	const ovl_plan_ent *e = &v->plan[round % PLANS];
	return e->set && e->round == round ? &e->p : NULL;
}

static ovl_rec *rec_of(ps_ovl_local *v, uint32_t key, uint32_t block, uint32_t round, int make)
{
	for (ovl_rec *r = v->recs; r; r = r->next)
		if (r->key == key && r->block == block && r->round == round)
			return r;
	if (!make)
		return NULL;
	ovl_rec *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->key = key;
	r->block = block;
	r->round = round;
	r->pre_last = -1;
	r->pre_from = -1;
	r->next = v->recs;
	v->recs = r;
	return r;
}

/* Finds r's slice in the key table once there is one: 1, 0 while there is
 * none, -1 after ending the job (what came does not fit it). */
static int rec_place(gx_ps *ps, ovl_rec *r)
{
	if (r->k)
		return 1;
	ps_lkey *k = ps_local_key(ps, r->key, r->block);
	int b = 0;
	while (k && b < k->nsl && k->sl[b].block != r->block)
		b++;
	if (!k)
		return 0;
	if (b == k->nsl || k->sl[b].count != r->count) {
		ps_finish(ps, GX_EPROTO, NULL, "another data center sent a sum of key %u block %u "
			  "of %llu elements, which is no slice of this server's key table", r->key,
			  r->block, (unsigned long long)r->count);
		return -1;
	}
	r->k = k;
	r->b = b;
	ps->loc->ovl->unplaced--;
	return 1;
}

static void rec_drop(ps_ovl_local *v, ovl_rec *r)
{
	for (ovl_rec **pp = &v->recs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			rec_free(r);
			return;
		}
}

/* Whether the plan sends party q's own sum here, and whether it sends
 * the prefix S_c here (to party c + 1, this one, from elsewhere). */
static int raw_due(const gx_ovl_plan *pl, int j, int q)
{
	return q != j && q > 0 && pl->hold[q] == j;
}

static int pre_due(const gx_ovl_plan *pl, int j, int c)
{
	return c + 1 == j && pl->hold[j] == j && pl->hold[c] != j;
}

/* Folds and sends what round r allows now; frees it when this server's
 * part is done. Returns -1 when the job ended. */
static int advance(gx_ps *ps, ovl_rec *r)
{
	ps_ovl_local *v = ps->loc->ovl;
	const gx_ovl_plan *pl = plan_of(v, r->round);
	if (!pl && v->plan[r->round % PLANS].set && v->plan[r->round % PLANS].round > r->round) {
		ps_finish(ps, GX_EPROTO, NULL, "key %u block %u round %u: %d rounds behind the "
			  "others, its plan is gone", r->key, r->block, r->round, PLANS);
		return -1;
	}
	int placed = rec_place(ps, r);
	if (placed <= 0)
		return placed;
	if (!pl || v->nready < v->parties - 1)
		return 0;
	int j = (int)ps->o.party, n = v->parties;
	/* what came here must be what the plan sends here */
	for (int q = 0; q < n; q++)
		if (r->raw[q] && !raw_due(pl, j, q)) {
			ps_finish(ps, GX_EPROTO, NULL, "%s sent its sum of key %u round %u, which "
				  "the plan does not send here", v->sib[q] ? v->sib[q]->label :
				  "a local server", r->key, r->round);
			return -1;
		}
	if (r->pre_from >= 0 && !pre_due(pl, j, r->pre_got)) {
		ps_finish(ps, GX_EPROTO, NULL, "local %d sent the sum of parties 0..%d of key %u "
			  "round %u, which the plan does not send here", r->pre_from, r->pre_got,
			  r->key, r->round);
		return -1;
	}
	const gx_slice *s = &r->k->sl[r->b];
	uint64_t count = s->count;
	for (int c = 0; c < n; c++) {
		if (pl->hold[c] != j || c <= r->pre_last)
			continue;
		const float *pc = c == j ? r->own : r->raw[c];
		if (!pc || (c > 0 && r->pre_last != c - 1))
			break;
		if (c == 0 && !(r->pre = malloc((size_t)(count ? count : 1) * sizeof(float)))) {
			ps_finish(ps, GX_ENOMEM, NULL, "out of memory for the overlay");
			return -1;
		}
		gx_codec_fold_f32(r->pre, pc, count, c == 0);
		r->pre_last = c;
		v->folds++;
	}
	gx_ovl_send sd[2 * GX_OVL_MAX_PARTIES];
	int m = gx_ovl_push_sends(pl, sd), left = 0;
	for (int i = 0; i < m; i++) {
		if (sd[i].src != j || (r->sent & (1u << i)))
			continue;
		/* channel 0: this party's own sum, added as its contribution;
		 * S_0 = p_0 moving to party 1 is a prefix like any other */
		int own = sd[i].first == sd[i].last && sd[i].last == j && (j > 0 || sd[i].dst == n);
		const float *x = own ? r->own : r->pre_last == sd[i].last ? r->pre : NULL;
		if (!own && sd[i].first == sd[i].last && sd[i].last == j && r->pre_last < 0)
			x = NULL; /* S_0, not folded yet */
		if (!x) {
			left++;
			continue;
		}
		ps_peer *to = sd[i].dst == n ? ps->loc->ups[0] : v->sib[sd[i].dst];
		gx_tensor_route rt = { .type = sd[i].dst == n ? GX_FT_PUSH : GX_FT_OVL_PART,
				       .key = s->key, .block = s->block, .round = r->round,
				       .sender = ps->o.party,
				       .channel = (own ? 0 : sd[i].last + 1) |
						  ps_ovl_backlog(to->c, count) };
		gx_tensor_payload py;
		gx_tensor_payload_f32(&py, x, count, own ? r->ownb : NULL);
		ps_send_tensor(ps, to->c, &rt, &py);
		if (sd[i].dst == n)
			v->sums_up++;
		else
			v->parts_out++;
		r->sent |= 1u << i;
	}
	if (ps->finishing)
		return -1;
	if (!left)
		rec_drop(v, r);
	return 0;
}

static void advance_all(gx_ps *ps)
{
	ps_ovl_local *v = ps->loc->ovl;
	for (ovl_rec *r = v->recs, *n; r && !ps->finishing; r = n) {
		n = r->next;
		if (advance(ps, r))
			return;
	}
}

void ps_ovl_local_own(gx_ps *ps, ps_lkey *k, int b, uint32_t round, const float *sum,
		      gx_buf *buf)
{
	ps_ovl_local *v = ps->loc->ovl;
	ovl_rec *r = rec_of(v, k->key, k->sl[b].block, round, 1);
	if (r && !r->k && !r->count) { /* made now */
		r->k = k;
		r->b = b;
		r->count = k->sl[b].count;
	}
	if (!r || r->own) {
		ps_finish(ps, r ? GX_EPROTO : GX_ENOMEM, NULL, "key %u round %u: %s", k->key,
			  round, r ? "this data center's sum twice" : "out of memory");
		return;
	}
	uint64_t count = k->sl[b].count;
	if (buf) {
		r->ownb = gx_buf_ref(buf);
		r->own = sum;
	} else if ((r->ownc = malloc((size_t)(count ? count : 1) * sizeof(float)))) {
		memcpy(r->ownc, sum, (size_t)count * sizeof(float));
		r->own = r->ownc;
	} else {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for the overlay");
		return;
	}
	advance(ps, r);
}

/* A frame of phase ph (0 the push, 1 the answers) from node u came in:
 * the link measured, each round's figure told to the global, which plans
 * with it. */
static void measured(gx_ps *ps, int ph, int u, const gx_frame_hdr *h)
{
	ps_ovl_local *v = ps->loc->ovl;
	ps_local_state *ls = ps->loc;
	if (!v->slices)
		for (size_t i = 0; i < ls->nkeys; i++)
			v->slices += ls->keys[i].nsl;
	double bytes, secs;
	int bound;
	if (u < 0 || u > GX_OVL_MAX_PARTIES || !ls->ups[0]->c ||
	    !gx_ovl_meter_frame(&v->in[ph][u], h->round, GX_FRAME_HDR_SIZE + h->payload_len,
				(h->channel & GX_OVL_BACKLOG) != 0, gx_now_ns(), v->slices, &bytes,
				&secs, &bound))
		return;
	gx_ovl_report m = { .from = (uint8_t)u, .phase = (uint8_t)ph, .bound = (uint8_t)bound,
			    .round = h->round, .bytes = (uint64_t)bytes,
			    .ns = (uint64_t)(secs * 1e9) };
	uint8_t rb[GX_OVL_REPORT_SIZE];
	gx_ovl_report_pack(&m, rb);
	ps_sent(ps, gx_send_ctl(ls->ups[0]->c, GX_FT_OVL_REPORT, 0, 0, rb, sizeof rb));
	v->reports++;
}

/* OVL_PART from sibling p: a sum to fold here. */
static void part_in(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_ovl_local *v = ps->loc->ovl;
	ps_lkey *k = ps_local_key(ps, h->key, h->block);
	int b = 0;
	while (k && b < k->nsl && k->sl[b].block != h->block)
		b++;
	if ((k && (b == k->nsl || h->count != k->sl[b].count)) || !h->count ||
	    h->codec != GX_CODEC_F32 || (h->flags & GX_FF_ZSTD)) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: a sum of no slice this server holds "
			      "(%llu elements)", h->key, h->block, (unsigned long long)h->count);
		return;
	}
	/* A key this server has no table for yet: its workers have pushed
	 * nothing, so the job is at its first round. */
	uint64_t at = k ? k->rounds : 0;
	if (h->round < at || h->round >= at + AHEAD) {
		ps_violation(ps, p, GX_EPROTO, "key %u round %u: a sum out of turn (this server is at "
			      "round %llu)", h->key, h->round, (unsigned long long)at);
		return;
	}
	int ch = h->channel & ~GX_OVL_BACKLOG;
	int pre = ch > 0, c = pre ? ch - 1 : (int)p->party;
	ovl_rec *r = rec_of(v, h->key, h->block, h->round, 1);
	if (r && !r->count) { /* made now */
		r->count = h->count;
		if (k) {
			r->k = k;
			r->b = b;
		} else if (++v->unplaced > UNPLACED) {
			ps_violation(ps, p, GX_EPROTO, "more than %d sums of slices this server has no key "
				      "table for", UNPLACED);
			return;
		}
	}
	float *x = r ? malloc((size_t)h->count * sizeof(float)) : NULL;
	if (!x) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory for the overlay");
		return;
	}
	if (h->count != r->count || (pre ? r->pre != NULL : r->raw[c] != NULL) ||
	    c >= GX_OVL_MAX_PARTIES || gx_codec_decode(ps->codec, h, pl, x, 0)) {
		free(x);
		ps_violation(ps, p, GX_EPROTO, "key %u round %u: a sum sent twice, or malformed (channel "
			      "%u)", h->key, h->round, h->channel);
		return;
	}
	if (pre) {
		r->pre = x;
		r->pre_last = r->pre_got = c;
		r->pre_from = (int)p->party;
	} else {
		r->raw[c] = x;
	}
	v->parts_in++;
	measured(ps, 0, (int)p->party, h);
	advance(ps, r);
}

void ps_ovl_local_frame(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	if (p->gone || !p->c)
		return;
	switch (h->type) {
	case GX_FT_ERROR: {
		char msg[GX_ERROR_MSG_MAX + 1];
		int code = 0;
		if (gx_errmsg_parse(pl, h->payload_len, &code, msg, sizeof msg))
			snprintf(msg, sizeof msg, "(malformed ERROR)");
		p->gone = 1;
		ps_finish(ps, GX_EPEER, p, "%s failed: %s", p->label, msg);
		return;
	}
	case GX_FT_HEARTBEAT:
		if (!ps_empty_ctl(h))
			ps_violation(ps, p, GX_EPROTO, "malformed HEARTBEAT");
		return;
	case GX_FT_BYE:
		p->sib_bye = 1;
		end_if_done(ps);
		return;
	case GX_FT_OVL_PART:
		part_in(ps, p, h, pl);
		return;
	case GX_FT_PUSH_REPLY: {
		const gx_ovl_plan *pl0 = plan_of(ps->loc->ovl, h->round);
		if (!pl0 || pl0->from[ps->o.party] != p->party) {
			ps_violation(ps, p, GX_EPROTO, "key %u round %u: an answer the plan does not pass on "
				      "from there", h->key, h->round);
			return;
		}
		ps_local_push_reply(ps, p, h, pl);
		return;
	}
	default:
		ps_violation(ps, p, GX_EPROTO, "unexpected frame type %u", h->type);
	}
}

void ps_ovl_local_relay(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const float *x,
			gx_buf *buf)
{
	ps_ovl_local *v = ps->loc->ovl;
	measured(ps, 1, u->sib ? (int)u->party : v->parties, h);
	const gx_ovl_plan *pl = plan_of(v, h->round);
	if (!pl)
		return; /* nothing of this round was routed: the star's answers */
	for (int c = 0; c < v->parties && !ps->finishing; c++) {
		if (pl->from[c] != ps->o.party || !v->sib[c])
			continue;
		gx_tensor_route rt = { .type = GX_FT_PUSH_REPLY, .key = h->key, .block = h->block,
				       .round = h->round, .priority = h->priority,
				       .channel = ps_ovl_backlog(v->sib[c]->c, h->count) };
		gx_tensor_payload py;
		gx_tensor_payload_f32(&py, x, h->count, buf);
		ps_send_tensor(ps, v->sib[c]->c, &rt, &py);
		v->relayed++;
	}
}

/* ------------------------------------------------------ from the global */

int ps_ovl_local_up_frame(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_ovl_local *v = ps->loc->ovl;
	if (h->type != GX_FT_OVL_PEERS && h->type != GX_FT_OVL_PLAN)
		return 0;
	if (!v) {
		ps_violation(ps, u, GX_EPROTO, "an overlay frame (type %u) to a server not in it",
			     h->type);
		return 1;
	}
	if (h->type == GX_FT_OVL_PEERS) {
		const char *a[GX_OVL_MAX_PARTIES];
		uint16_t len[GX_OVL_MAX_PARTIES];
		uint32_t n = 0;
		if (v->parties || h->codec != GX_CODEC_NONE ||
		    gx_ovl_peers_parse(pl, h->payload_len, a, len, GX_OVL_MAX_PARTIES, &n) ||
		    ps->o.party >= n) {
			ps_violation(ps, u, GX_EPROTO, "malformed or second OVL_PEERS");
			return 1;
		}
		for (uint32_t q = 0; q < n; q++) {
			memcpy(v->addr[q], a[q], len[q]);
			v->addr[q][len[q]] = '\0';
		}
		v->parties = (int)n;
		for (int q = 0; q < (int)ps->o.party && !ps->finishing; q++) {
			int e = sib_dial(ps, q);
			if (e)
				ps_finish(ps, e, NULL, "cannot dial the local server of party %d at %s: "
					  "%s", q, v->addr[q], gx_strerror(e));
		}
		ps_log(ps, GX_LOG_INFO, "overlay: %d data centers; linking to the other local "
		       "servers", v->parties);
		return 1;
	}
	gx_ovl_plan p;
	if (!v->parties || h->codec != GX_CODEC_NONE || gx_ovl_parse(pl, h->payload_len, &p) ||
	    p.parties != v->parties) {
		ps_violation(ps, u, GX_EPROTO, "malformed OVL_PLAN, or one before OVL_PEERS");
		return 1;
	}
	ovl_plan_ent *e = &v->plan[h->round % PLANS];
	e->round = h->round;
	e->set = 1;
	e->p = p;
	advance_all(ps);
	return 1;
}

void ps_ovl_local_stats(const gx_ps *ps, ps_sbuf *b, int json)
{
	const ps_ovl_local *v = ps->loc->ovl;
	if (!v)
		return;
	if (json)
		ps_sb_printf(b, ",\"overlay\":{\"folds\":%llu,\"sums_in\":%llu,\"sums_out\":%llu,"
			     "\"sums_up\":%llu,\"reports\":%llu,\"answers_passed_on\":%llu}",
			     (unsigned long long)v->folds, (unsigned long long)v->parts_in,
			     (unsigned long long)v->parts_out, (unsigned long long)v->sums_up,
			     (unsigned long long)v->reports, (unsigned long long)v->relayed);
	else
		ps_sb_printf(b, "overlay\tfolds\t%llu\tsums_in\t%llu\tsums_out\t%llu\tsums_up\t%llu"
			     "\treports\t%llu\tanswers_passed_on\t%llu\n", (unsigned long long)v->folds,
			     (unsigned long long)v->parts_in, (unsigned long long)v->parts_out,
			     (unsigned long long)v->sums_up, (unsigned long long)v->reports,
			     (unsigned long long)v->relayed);
}
