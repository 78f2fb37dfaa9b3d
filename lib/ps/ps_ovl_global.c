/*
 * ps_ovl_global.c — the adaptive overlay at the global server
 * (docs/protocol.md, "The adaptive overlay"): it learns where each data
 * center's local server can be reached by the others (OVL_ADDR), tells
 * them all (OVL_PEERS), chooses each round's plan from the links as
 * measured (sched/overlay.c, epsilon-greedy) and sends it to every party
 * before the first answer of the round before, and takes the sums that
 * arrive folded: a PUSH whose channel is c + 1 carries S_c, the sum of
 * parties 0..c, the fold's first term (the star's order, so its bits).
 *
 * Choices:
 *  - The plan of round r + 1 goes out when the first slice completes round
 *    r, ahead of that round's answers on every party's link: a data
 *    center's workers push round r + 1 only after an answer of round r,
 *    so its local server has the plan before it has anything to route by
 *    it (and waits for it, should it not).
 *  - Links into this server are measured here, per party and round: the
 *    bytes of its pushes over the time from the first to the last. The
 *    links between data centers are measured by their receivers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps_global.h"
#include "ps_overlay.h"

struct ps_ovl_global {
	char *addr[GX_OVL_MAX_PARTIES]; /* each party's OVL_ADDR */
	int told;                       /* OVL_PEERS and the first plan sent */
	uint32_t planned;               /* the plans of rounds < planned went out */
	gx_ovl_links links;
	gx_rng rng;
	gx_ovl_plan plan;               /* the latest */
	gx_ovl_plan fixed;              /* --overlay-plan: every round's */
	int has_fixed;
	gx_ovl_plan ring[64];           /* the plans of the last 64 rounds, by round */
	uint32_t ring_round[64];
	uint64_t plans, explored, star_pushes;
	gx_ovl_meter in[GX_OVL_MAX_PARTIES]; /* each party's link into this server */
	/* the measurements of the last rounds, folded into the estimates once
	 * every transfer of the round's plan is in (or the slot is needed) */
	struct ovl_measured {
		uint32_t round;
		int used, got;
		gx_ovl_round m;
	} meas[8];
	uint64_t reports;
	/* the plans used and their rounds, the first 32 distinct ones (the
	 * statistics), the rest counted together */
	struct {
		gx_ovl_plan p;
		uint64_t rounds;
	} used[32];
	int nused;
	uint64_t others;
};

int ps_ovl_global_new(gx_ps *ps)
{
	if (ps->o.overlay != GX_OVERLAY_ADAPTIVE)
		return 0;
	if (ps->o.sync != GX_SYNC_FULL) {
		ps_log(ps, GX_LOG_ERROR, "the overlay folds the parties' sums of a round: it needs "
		       "full sync (got %s)", gx_sync_name(ps->o.sync));
		return GX_EINVAL;
	}
	if (ps->n > GX_OVL_MAX_PARTIES) {
		ps_log(ps, GX_LOG_ERROR, "the overlay plans for at most %d parties (got %d)",
		       GX_OVL_MAX_PARTIES, ps->n);
		return GX_EINVAL;
	}
	if (ps->o.elastic) {
		ps_log(ps, GX_LOG_ERROR, "the overlay does not go on without a party (--elastic): "
		       "a party that dies leaves its plan's folds undone");
		return GX_EINVAL;
	}
	if (!(ps->o.overlay_epsilon >= 0 && ps->o.overlay_epsilon <= 1)) {
		ps_log(ps, GX_LOG_ERROR, "invalid overlay epsilon %g (want 0..1)",
		       ps->o.overlay_epsilon);
		return GX_EINVAL;
	}
	ps_ovl_global *v = calloc(1, sizeof *v);
	if (!v)
		return GX_ENOMEM;
	if (ps->o.overlay_plan) {
		char why[200];
		if (gx_ovl_plan_text(ps->o.overlay_plan, ps->n, &v->fixed, why, sizeof why)) {
			ps_log(ps, GX_LOG_ERROR, "invalid overlay plan '%s': %s", ps->o.overlay_plan,
			       why);
			free(v);
			return GX_EINVAL;
		}
		v->has_fixed = 1;
	}
	gx_ovl_links_init(&v->links, ps->n, GX_DEFAULT_OVL_ALPHA);
	gx_rng_seed(&v->rng, ps->o.overlay_seed);
	gx_ovl_star(&v->plan, ps->n);
	ps->glob->ovl = v;
	/* A broken link leaves a fold undone: the round fails cleanly
	 * instead (docs/design.md). */
	ps->o.reconnect_timeout = 0;
	return 0;
}

void ps_ovl_global_free(gx_ps *ps)
{
	ps_ovl_global *v = ps->glob ? ps->glob->ovl : NULL;
	if (!v)
		return;
	for (int i = 0; i < GX_OVL_MAX_PARTIES; i++)
		free(v->addr[i]);
	free(v);
	ps->glob->ovl = NULL;
}

int ps_ovl_global_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl)
{
	if (!ps->glob->ovl)
		return 0;
	if (hl->role != GX_ROLE_LOCAL) {
		ps_violation(ps, p, GX_EPROTO, "this global server runs the overlay: it accepts "
			     "local servers only");
		return -1;
	}
	if (hl->mode) {
		ps_violation(ps, p, GX_EPROTO, "the overlay folds plain F32 sums: a local server "
			     "with a WAN codec or DGT cannot join it");
		return -1;
	}
	return 0;
}

/* The bytes a party pushes a round: what the planner weighs links by. */
static double round_bytes(const gx_ps *ps)
{
	const ps_global_state *g = ps->glob;
	double n = 0;
	for (size_t i = 0; i < g->map_cap; i++)
		if (g->map[i])
			n += (double)g->map[i]->count * sizeof(float);
	return n > 0 ? n : 1;
}

/* The plan of round r to every party. */
static void send_plan(gx_ps *ps, uint32_t r)
{
	ps_ovl_global *v = ps->glob->ovl;
	if (v->has_fixed)
		v->plan = v->fixed;
	else
		v->explored += (uint64_t)gx_ovl_choose(&v->links, round_bytes(ps),
						       ps->o.overlay_epsilon, &v->rng, &v->plan);
	v->ring[r % 64] = v->plan;
	v->ring_round[r % 64] = r;
	int star = 1;
	for (int i = 0; i < ps->n; i++)
		star &= v->plan.hold[i] == ps->n;
	v->star_pushes += (uint64_t)star;
	v->plans++;
	uint8_t b[1 + 2 * GX_OVL_MAX_PARTIES];
	int len = gx_ovl_pack(&v->plan, b, sizeof b);
	for (int i = 0; i < ps->n && len > 0; i++) {
		ps_peer *p = ps->who[i];
		if (ps->slot[i] == SLOT_LIVE && p && p->c)
			ps_sent(ps, gx_send_ctl(p->c, GX_FT_OVL_PLAN, 0, r, b, (uint32_t)len));
	}
	int u = 0;
	while (u < v->nused && memcmp(&v->used[u].p, &v->plan, sizeof v->plan))
		u++;
	if (u < v->nused) {
		v->used[u].rounds++;
	} else if (v->nused < (int)(sizeof v->used / sizeof v->used[0])) {
		v->used[v->nused].p = v->plan;
		v->used[v->nused++].rounds = 1;
	} else {
		v->others++;
	}
	char text[GX_OVL_PLAN_TEXT];
	gx_ovl_plan_print(&v->plan, text, sizeof text);
	ps_log(ps, GX_LOG_DEBUG, "overlay: round %u on %s", r, text);
}

/* Every party here and every address known: the peers, then the first
 * plan. */
static void tell(gx_ps *ps)
{
	ps_ovl_global *v = ps->glob->ovl;
	for (int i = 0; i < ps->n; i++)
		if (ps->slot[i] != SLOT_LIVE || !v->addr[i])
			return;
	uint8_t b[4 + GX_OVL_MAX_PARTIES * (2 + GX_OVL_ADDR_MAX)];
	size_t len = gx_ovl_peers_pack((const char *const *)v->addr, (uint32_t)ps->n, b, sizeof b);
	for (int i = 0; i < ps->n; i++)
		ps_sent(ps, gx_send_ctl(ps->who[i]->c, GX_FT_OVL_PEERS, 0, 0, b, (uint32_t)len));
	v->told = 1;
	send_plan(ps, 0);
	v->planned = 1;
	ps_log(ps, GX_LOG_INFO, "overlay: every party's address known; %d local servers link "
	       "up", ps->n);
}

/* The transfers a round's plan makes, each measured by its receiver:
 * the push's and one answer to every party. */
static int transfers(const gx_ovl_plan *p)
{
	gx_ovl_send sd[2 * GX_OVL_MAX_PARTIES];
	int m = gx_ovl_push_sends(p, sd);
	return (m > 0 ? m : 0) + p->parties;
}

static void fold_round(ps_ovl_global *v, struct ovl_measured *e)
{
	gx_ovl_links_round(&v->links, &e->m, e->round);
	e->used = 0;
}

/* A transfer of round r in phase ph from node u to node w, measured (bound:
 * only a lower bound on the link). */
static void sample(gx_ps *ps, uint32_t r, int ph, int u, int w, double bytes, double secs,
		   int bound)
{
	ps_ovl_global *v = ps->glob->ovl;
	struct ovl_measured *e = &v->meas[r % 8];
	if (e->used && e->round != r)
		fold_round(v, e); /* what came of an older round */
	if (!e->used) {
		memset(&e->m, 0, sizeof e->m);
		e->round = r;
		e->used = 1;
		e->got = 0;
	}
	e->m.bytes[ph][u][w] = bytes;
	e->m.secs[ph][u][w] = secs;
	e->m.bound[ph][u][w] = (uint8_t)bound;
	e->got++;
	if (v->ring_round[r % 64] == r && e->got >= transfers(&v->ring[r % 64]))
		fold_round(v, e);
}

/* OVL_REPORT from party p: a link into it, measured. */
static void report(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_ovl_global *v = ps->glob->ovl;
	gx_ovl_report m;
	if (h->codec != GX_CODEC_NONE || gx_ovl_report_parse(pl, h->payload_len, &m) ||
	    m.from > ps->n || m.from == p->slot) {
		ps_violation(ps, p, GX_EPROTO, "malformed OVL_REPORT");
		return;
	}
	sample(ps, m.round, m.phase, m.from, p->slot, (double)m.bytes, (double)m.ns / 1e9,
	       m.bound);
	v->reports++;
}

int ps_ovl_global_frame(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	ps_ovl_global *v = ps->glob->ovl;
	if (v && h->type == GX_FT_OVL_REPORT) {
		report(ps, p, h, pl);
		return 1;
	}
	if (!v || h->type != GX_FT_OVL_ADDR)
		return 0;
	int ok = p->role == GX_ROLE_LOCAL && h->codec == GX_CODEC_NONE && h->payload_len > 0 &&
		 h->payload_len <= GX_OVL_ADDR_MAX && !v->addr[p->slot];
	for (uint32_t i = 0; ok && i < h->payload_len; i++)
		ok = pl[i] > 0x20 && pl[i] < 0x7f;
	char host[256];
	int port = 0;
	char *a = ok ? strndup((const char *)pl, h->payload_len) : NULL;
	if (!a || gx_net_split(a, host, sizeof host, &port) || port < 1) {
		free(a);
		ps_violation(ps, p, GX_EPROTO, "malformed or second OVL_ADDR");
		return 1;
	}
	v->addr[p->slot] = a;
	ps_log(ps, GX_LOG_DEBUG, "%s: reached by the other data centers at %s", p->label, a);
	tell(ps);
	return 1;
}

void ps_ovl_global_answering(gx_ps *ps, uint32_t r)
{
	ps_ovl_global *v = ps->glob->ovl;
	if (!v || !v->told || r + 1 < v->planned)
		return;
	send_plan(ps, r + 1);
	v->planned = r + 2;
}

int ps_ovl_global_answers(const gx_ps *ps, int i, uint32_t r)
{
	const ps_ovl_global *v = ps->glob->ovl;
	if (!v || !v->told || v->ring_round[r % 64] != r || r >= v->planned)
		return 1;
	return v->ring[r % 64].from[i] == ps->n;
}

int ps_ovl_backlog(const gx_conn *c, uint64_t count)
{
	return gx_conn_backlog(c) >= GX_FRAME_HDR_SIZE + count * sizeof(float) ? GX_OVL_BACKLOG : 0;
}

void ps_ovl_global_note_in(gx_ps *ps, int party, const gx_frame_hdr *h)
{
	ps_ovl_global *v = ps->glob->ovl;
	double bytes, secs;
	int bound;
	if (v && party >= 0 && party < ps->n &&
	    gx_ovl_meter_frame(&v->in[party], h->round, GX_FRAME_HDR_SIZE + h->payload_len,
			       (h->channel & GX_OVL_BACKLOG) != 0, gx_now_ns(), (int)ps->glob->map_n,
			       &bytes, &secs, &bound))
		sample(ps, h->round, 0, party, ps->n, bytes, secs, bound);
}

void ps_ovl_global_stats(const gx_ps *ps, ps_sbuf *b, int json)
{
	const ps_ovl_global *v = ps->glob ? ps->glob->ovl : NULL;
	if (!v)
		return;
	int n = ps->n;
	if (json) {
		ps_sb_printf(b, ",\"overlay\":{\"plans\":%llu,\"explored\":%llu,\"star_pushes\":%llu,"
			     "\"reports\":%llu,\"links\":[", (unsigned long long)v->plans,
			     (unsigned long long)v->explored, (unsigned long long)v->star_pushes,
			     (unsigned long long)v->reports);
		int first = 1;
		for (int i = 0; i <= n; i++)
			for (int j = 0; j <= n; j++)
				if (v->links.rate[i][j] > 0) {
					ps_sb_printf(b, "%s{\"from\":%d,\"to\":%d,\"bytes_per_s\":%.0f}",
						     first ? "" : ",", i, j, v->links.rate[i][j]);
					first = 0;
				}
		ps_sb_printf(b, "],\"nodes\":[");
		for (int i = 0; i <= n; i++)
			ps_sb_printf(b, "%s{\"in_bytes_per_s\":%.0f,\"out_bytes_per_s\":%.0f}",
				     i ? "," : "", v->links.cin[i], v->links.cout[i]);
		ps_sb_printf(b, "],\"plans_used\":[");
		char text[GX_OVL_PLAN_TEXT];
		for (int u = 0; u < v->nused; u++) {
			gx_ovl_plan_print(&v->used[u].p, text, sizeof text);
			ps_sb_printf(b, "%s{\"plan\":\"%s\",\"rounds\":%llu}", u ? "," : "", text,
				     (unsigned long long)v->used[u].rounds);
		}
		ps_sb_printf(b, "],\"other_plans_rounds\":%llu}", (unsigned long long)v->others);
		return;
	}
	ps_sb_printf(b, "overlay\tplans\t%llu\texplored\t%llu\tstar_pushes\t%llu\treports\t%llu\n",
		     (unsigned long long)v->plans, (unsigned long long)v->explored,
		     (unsigned long long)v->star_pushes, (unsigned long long)v->reports);
	/* the estimates, as the planner last saw them (node n: this server) */
	for (int i = 0; i <= n; i++)
		for (int j = 0; j <= n; j++)
			if (v->links.rate[i][j] > 0)
				ps_sb_printf(b, "overlay_link\t%d\t%d\tbytes_per_s\t%.0f\n", i, j,
					     v->links.rate[i][j]);
	for (int i = 0; i <= n; i++)
		if (v->links.cin[i] > 0 || v->links.cout[i] > 0)
			ps_sb_printf(b, "overlay_node\t%d\tin_bytes_per_s\t%.0f\tout_bytes_per_s\t%.0f\n",
				     i, v->links.cin[i], v->links.cout[i]);
	char text[GX_OVL_PLAN_TEXT];
	for (int u = 0; u < v->nused; u++) {
		gx_ovl_plan_print(&v->used[u].p, text, sizeof text);
		ps_sb_printf(b, "overlay_plan\t%s\trounds\t%llu\n", text,
			     (unsigned long long)v->used[u].rounds);
	}
	if (v->others)
		ps_sb_printf(b, "overlay_plan\tothers\trounds\t%llu\n", (unsigned long long)v->others);
}

void ps_ovl_global_prefix(gx_ps *ps, ps_peer *p, ps_gslice *s, const gx_frame_hdr *h,
			  const uint8_t *pl)
{
	int last = (int)(h->channel & ~GX_OVL_BACKLOG) - 1;
	if (!ps->glob->ovl || last >= ps->n) {
		ps_violation(ps, p, GX_EPROTO, "key %u block %u: a PUSH on channel %u (the sum of "
			     "parties 0..%d) to a server %s", h->key, h->block, h->channel, last,
			     ps->glob->ovl ? "with fewer parties" : "not running the overlay");
		return;
	}
	for (int i = 0; i <= last; i++)
		if (s->next_round[i] != h->round) {
			ps_violation(ps, p, GX_EPROTO, "key %u block %u: the sum of parties 0..%d for "
				     "round %u, where party %d is at round %u", h->key, h->block,
				     last, h->round, i, s->next_round[i]);
			return;
		}
	gx_buf *b = NULL;
	if (p->landing && pl == p->landing->data) {
		b = p->landing;
		p->landing = NULL;
	}
	ps_acc *a = ps_acc_get(&s->accs, &s->spare, ps->bufs, h->round, ps->n, s->count);
	int r = a ? ps_acc_prefix(ps, a, last, h, pl, b) : (gx_buf_unref(b), GX_ENOMEM);
	if (r == GX_ENOMEM) {
		ps_finish(ps, r, NULL, "out of memory for key %u block %u round %u", h->key,
			  h->block, h->round);
		return;
	}
	if (r) {
		ps_violation(ps, p, r, "key %u block %u round %u: the sum of parties 0..%d does "
			     "not fit what this server holds (%s)", h->key, h->block, h->round,
			     last, gx_strerror(r));
		return;
	}
	for (int i = 0; i <= last; i++) {
		a->workers += ps->glob->slot_workers[i];
		s->next_round[i]++;
	}
	ps_global_settle_slice(ps, s);
}
