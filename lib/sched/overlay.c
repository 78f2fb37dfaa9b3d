/*
 * overlay.c — the adaptive overlay's plans (sched/gx_sched.h): where a
 * round's sums are folded on their way to the sink, whom each data center
 * gets the answers from, what each choice is estimated to cost on the
 * links as measured, and the choice itself (epsilon-greedy).
 *
 * Why a fold in party order, and not any tree: floats do not associate, and
 * the star's global server folds the parties' sums in party order
 * (ps_acc.c). A tree that summed (p0 + p1) + (p2 + p3) would give other
 * bits than the star's ((p0 + p1) + p2) + p3. So every plan makes the same
 * additions in the same order, S_k = S_(k-1) + p_k, and chooses only where
 * each is made: at the node that holds S_(k-1) (party k sends its sum
 * there), at party k (S_(k-1) travels to it) or at the sink (both go
 * there). That keeps every choice that matters for the links — a data
 * center behind a slow link merges into one behind a fast one, the center
 * receives one sum instead of P — and the star is one of the plans.
 *
 * The cost model: blocks pipeline through every transfer, so a push (or
 * the answers) takes about what its most loaded link needs for its bytes,
 * plus the latencies along the longest chain of transfers that wait for
 * each other. Links are directed (a WAN link's two directions are
 * measured apart) and estimated as the job last saw them, contention
 * included: a link measured while three others shared the center's
 * ingress looks slow until used alone, which the exploration (epsilon) and
 * the optimism about unknown links take care of.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gx_sched.h"

#define NODES (GX_OVL_MAX_PARTIES + 1)
#define EXHAUSTIVE_TREES 6 /* parties: (P + 1)^P parent tables at most 117649 */

/* The estimates the planner works from, for every link. */
typedef struct view {
	int parties;
	double rate[NODES][NODES];
	double lat[NODES][NODES];
	double cin[NODES], cout[NODES]; /* 0: no bound */
} view;

void gx_ovl_star(gx_ovl_plan *p, int parties)
{
	memset(p, 0, sizeof *p);
	p->parties = parties;
	for (int i = 0; i < parties && i < GX_OVL_MAX_PARTIES; i++)
		p->hold[i] = p->from[i] = (uint8_t)parties;
}

/* Whether following from[] from every party reaches the sink. */
static int tree_ok(const uint8_t *from, int n)
{
	for (int i = 0; i < n; i++) {
		int v = i, steps = 0;
		while (v != n) {
			if (from[v] > n || from[v] == v || ++steps > n)
				return 0;
			v = from[v];
		}
	}
	return 1;
}

static int push_ok(const uint8_t *hold, int n)
{
	if (hold[0] != 0 && hold[0] != n)
		return 0;
	for (int k = 1; k < n; k++) {
		int prev = hold[k - 1], h = hold[k];
		if (prev == n ? h != n : h != prev && h != k && h != n)
			return 0;
	}
	return 1;
}

int gx_ovl_check(const gx_ovl_plan *p)
{
	if (!p || p->parties < 1 || p->parties > GX_OVL_MAX_PARTIES)
		return GX_EINVAL;
	return push_ok(p->hold, p->parties) && tree_ok(p->from, p->parties) ? 0 : GX_EINVAL;
}

int gx_ovl_push_sends(const gx_ovl_plan *p, gx_ovl_send *out)
{
	if (gx_ovl_check(p))
		return GX_EINVAL;
	int n = p->parties, m = 0;
#define SEND(s, d, f, l) (out[m++] = (gx_ovl_send){ (uint8_t)(s), (uint8_t)(d), (uint8_t)(f), (uint8_t)(l) })
	if (p->hold[0] == n)
		SEND(0, n, 0, 0);
	for (int k = 1; k < n; k++) {
		int prev = p->hold[k - 1], h = p->hold[k];
		if (h == prev) {
			SEND(k, prev, k, k);
		} else if (h == k) {
			SEND(prev, k, 0, k - 1);
		} else { /* both to the sink */
			SEND(prev, n, 0, k - 1);
			SEND(k, n, k, k);
		}
	}
	if (p->hold[n - 1] != n)
		SEND(p->hold[n - 1], n, 0, n - 1);
#undef SEND
	return m;
}

void gx_ovl_links_init(gx_ovl_links *l, int parties, double alpha)
{
	memset(l, 0, sizeof *l);
	l->parties = parties < 1 ? 1 : parties > GX_OVL_MAX_PARTIES ? GX_OVL_MAX_PARTIES : parties;
	l->alpha = alpha > 0 && alpha <= 1 ? alpha : GX_DEFAULT_OVL_ALPHA;
	for (int i = 0; i < NODES; i++)
		for (int j = 0; j < NODES; j++)
			l->lat[i][j] = -1;
}

static int link_ok(const gx_ovl_links *l, int src, int dst)
{
	return src >= 0 && dst >= 0 && src <= l->parties && dst <= l->parties && src != dst;
}

void gx_ovl_links_rate(gx_ovl_links *l, int src, int dst, double bytes, double secs,
		       uint64_t round)
{
	double r = bytes / secs;
	if (!link_ok(l, src, dst) || !(r > 0) || !isfinite(r) || !isfinite(secs))
		return;
	double *e = &l->rate[src][dst];
	*e = *e > 0 ? *e + l->alpha * (r - *e) : r;
	l->seen[src][dst] = round + 1;
}

void gx_ovl_links_lat(gx_ovl_links *l, int src, int dst, double secs)
{
	if (!link_ok(l, src, dst) || !(secs >= 0) || !isfinite(secs))
		return;
	double *e = &l->lat[src][dst];
	*e = *e >= 0 ? *e + l->alpha * (secs - *e) : secs;
}

static double best_rate(const gx_ovl_links *l)
{
	double best = 0;
	for (int i = 0; i <= l->parties; i++)
		for (int j = 0; j <= l->parties; j++)
			if (l->rate[i][j] > best)
				best = l->rate[i][j];
	return best > 0 ? best : 1.0;
}

double gx_ovl_rate(const gx_ovl_links *l, int src, int dst)
{
	if (!link_ok(l, src, dst))
		return 0;
	return l->rate[src][dst] > 0 ? l->rate[src][dst] : best_rate(l);
}

double gx_ovl_latency(const gx_ovl_links *l, int src, int dst)
{
	if (!link_ok(l, src, dst))
		return 0;
	return l->lat[src][dst] >= 0 ? l->lat[src][dst] : 0;
}

int gx_ovl_meter_frame(gx_ovl_meter *m, uint32_t round, uint64_t bytes, int backlog,
		       uint64_t now_ns, int expected, double *bytes_out, double *secs_out,
		       int *bound)
{
	int i = m->r[0].frames && m->r[0].round == round   ? 0
		: m->r[1].frames && m->r[1].round == round ? 1
		: !m->r[0].frames			   ? 0
		: !m->r[1].frames			   ? 1
		: m->r[0].round < m->r[1].round		   ? 0 /* the older one gave up on */
							   : 1;
	struct gx_ovl_meter_round *c = &m->r[i];
	if (!c->frames || c->round != round) {
		memset(c, 0, sizeof *c);
		c->round = round;
	}
	/* a clock starts with a frame: that frame's own bytes crossed before */
	if (!c->frames++)
		c->a0 = now_ns;
	else
		c->abytes += bytes;
	c->a1 = now_ns;
	if (backlog) {
		if (!c->timed++)
			c->t0 = now_ns;
		else
			c->bytes += bytes;
		c->t1 = now_ns;
	}
	if (c->frames < expected)
		return 0;
	int timed = c->timed;
	c->frames = 0;
	if (2 * timed >= expected && timed >= 2 && c->t1 > c->t0 && c->bytes) {
		*bytes_out = (double)c->bytes;
		*secs_out = (double)(c->t1 - c->t0) / 1e9;
		*bound = 0;
		return 1;
	}
	if (expected < 2 || c->a1 <= c->a0 || !c->abytes)
		return 0;
	*bytes_out = (double)c->abytes;
	*secs_out = (double)(c->a1 - c->a0) / 1e9;
	*bound = 1;
	return 1;
}

/* Smoothed, but a link that changes by more than half (a WAN's rates
 * move in steps: a route, a failure) is taken at its new figure at once. */
static void ewma(double *e, double x, double alpha)
{
	if (!(*e > 0) || x < *e / 2 || x > *e * 2)
		*e = x;
	else
		*e += alpha * (x - *e);
}

/* A lower bound x on e: only raises it, or sets one never made. */
static void at_least(double *e, double x)
{
	if (!(*e > 0) || x > *e)
		*e = x;
}

void gx_ovl_links_round(gx_ovl_links *l, const gx_ovl_round *m, uint64_t round)
{
	int n = l->parties;
	for (int ph = 0; ph < 2; ph++) {
		/* each node's transfers in and out at once: their total over
		 * the longest; whether any of them went at its link's pace */
		double in_b[NODES] = { 0 }, in_t[NODES] = { 0 }, out_b[NODES] = { 0 },
		       out_t[NODES] = { 0 }, in_fast[NODES] = { 0 }, out_fast[NODES] = { 0 };
		int in_k[NODES] = { 0 }, out_k[NODES] = { 0 }, in_paced[NODES] = { 0 },
		    out_paced[NODES] = { 0 };
		for (int u = 0; u <= n; u++)
			for (int v = 0; v <= n; v++) {
				double b = m->bytes[ph][u][v], t = m->secs[ph][u][v];
				if (u == v || !(b > 0) || !(t > 0) || !isfinite(b / t))
					continue;
				in_b[v] += b, out_b[u] += b;
				in_t[v] = t > in_t[v] ? t : in_t[v];
				out_t[u] = t > out_t[u] ? t : out_t[u];
				in_fast[v] = b / t > in_fast[v] ? b / t : in_fast[v];
				out_fast[u] = b / t > out_fast[u] ? b / t : out_fast[u];
				in_k[v]++, out_k[u]++;
				in_paced[v] += !m->bound[ph][u][v];
				out_paced[u] += !m->bound[ph][u][v];
			}
		for (int u = 0; u <= n; u++)
			for (int v = 0; v <= n; v++) {
				double b = m->bytes[ph][u][v], t = m->secs[ph][u][v];
				if (u == v || !(b > 0) || !(t > 0) || !isfinite(b / t))
					continue;
				/* Shared, unless it went at less than half the pace
				 * of the fastest it shared with: then its own link
				 * held it back, whatever the others did. */
				double r = INFINITY, own = b / t;
				if (in_k[v] > 1 && own >= in_fast[v] / 2)
					r = in_b[v] / in_t[v];
				if (out_k[u] > 1 && own >= out_fast[u] / 2 && out_b[u] / out_t[u] < r)
					r = out_b[u] / out_t[u];
				double *e = &l->rate[u][v];
				if (m->bound[ph][u][v])
					at_least(e, isfinite(r) ? r : own);
				else if (!isfinite(r))
					ewma(e, own, l->alpha); /* alone: the link */
				else if (!(*e > 0))
					*e = r; /* never alone yet: it may have it all */
				else if (own > *e)
					*e = own; /* shared, and still more than thought */
				l->seen[u][v] = round + 1;
			}
		for (int v = 0; v <= n; v++) {
			if (in_k[v] > 1) {
				if (in_paced[v])
					ewma(&l->cin[v], in_b[v] / in_t[v], l->alpha);
				else
					at_least(&l->cin[v], in_b[v] / in_t[v]);
			}
			if (out_k[v] > 1) {
				if (out_paced[v])
					ewma(&l->cout[v], out_b[v] / out_t[v], l->alpha);
				else
					at_least(&l->cout[v], out_b[v] / out_t[v]);
			}
		}
	}
}

static double max2(double a, double b)
{
	return a > b ? a : b;
}

static void make_view(const gx_ovl_links *l, view *v)
{
	double best = best_rate(l);
	v->parties = l->parties;
	for (int i = 0; i <= l->parties; i++)
		for (int j = 0; j <= l->parties; j++) {
			v->rate[i][j] = l->rate[i][j] > 0 ? l->rate[i][j] : best;
			v->lat[i][j] = l->lat[i][j] >= 0 ? l->lat[i][j] : 0;
		}
	for (int i = 0; i <= l->parties; i++) {
		v->cin[i] = l->cin[i];
		v->cout[i] = l->cout[i];
	}
}

/* The most loaded node's bytes in or out over its capacity. */
static double node_worst(const view *v, const double *in, const double *out)
{
	double worst = 0;
	for (int i = 0; i <= v->parties; i++) {
		if (v->cin[i] > 0)
			worst = max2(worst, in[i] / v->cin[i]);
		if (v->cout[i] > 0)
			worst = max2(worst, out[i] / v->cout[i]);
	}
	return worst;
}


static double push_cost(const view *v, const uint8_t *hold, double bytes)
{
	int n = v->parties;
	double load[NODES][NODES] = { { 0 } };
	gx_ovl_plan p = { .parties = n };
	memcpy(p.hold, hold, (size_t)n);
	for (int i = 0; i < n; i++)
		p.from[i] = (uint8_t)n;
	gx_ovl_send s[2 * GX_OVL_MAX_PARTIES];
	int m = gx_ovl_push_sends(&p, s);
	double in[NODES] = { 0 }, out[NODES] = { 0 };
	for (int j = 0; j < m; j++) {
		load[s[j].src][s[j].dst] += bytes;
		in[s[j].dst] += bytes;
		out[s[j].src] += bytes;
	}
	double worst = node_worst(v, in, out);
	for (int j = 0; j < m; j++)
		worst = max2(worst, load[s[j].src][s[j].dst] / v->rate[s[j].src][s[j].dst]);
	/* When S_k is ready where it is made: party k's own sum is ready at
	 * once, wherever it lies. */
	double t = hold[0] == n ? v->lat[0][n] : 0;
	for (int k = 1; k < n; k++) {
		int prev = hold[k - 1], h = hold[k];
		if (h == prev)
			t = max2(t, v->lat[k][prev]);
		else if (h == k)
			t = t + v->lat[prev][k];
		else
			t = max2(t + v->lat[prev][n], v->lat[k][n]);
	}
	if (hold[n - 1] != n)
		t += v->lat[hold[n - 1]][n];
	return worst + t;
}

static double pull_cost(const view *v, const uint8_t *from, double bytes)
{
	int n = v->parties;
	double in[NODES] = { 0 }, out[NODES] = { 0 };
	for (int i = 0; i < n; i++) {
		in[i] += bytes;
		out[from[i]] += bytes;
	}
	double worst = node_worst(v, in, out), deepest = 0;
	for (int i = 0; i < n; i++) {
		worst = max2(worst, bytes / v->rate[from[i]][i]);
		double t = 0;
		for (int u = i; u != n; u = from[u])
			t += v->lat[from[u]][u];
		deepest = max2(deepest, t);
	}
	return worst + deepest;
}

double gx_ovl_push_cost(const gx_ovl_links *l, const gx_ovl_plan *p, double bytes)
{
	if (gx_ovl_check(p) || p->parties != l->parties)
		return INFINITY;
	view v;
	make_view(l, &v);
	return push_cost(&v, p->hold, bytes);
}

double gx_ovl_pull_cost(const gx_ovl_links *l, const gx_ovl_plan *p, double bytes)
{
	if (gx_ovl_check(p) || p->parties != l->parties)
		return INFINITY;
	view v;
	make_view(l, &v);
	return pull_cost(&v, p->from, bytes);
}

/* The search for the least cost: the star's part is the first candidate
 * and a later one replaces the kept one only when cheaper by more than a
 * millionth. */
typedef struct search {
	const view *v;
	double bytes, cost;
	uint8_t cur[GX_OVL_MAX_PARTIES], best[GX_OVL_MAX_PARTIES];
} search;

static void keep_if_better(search *s, double c)
{
	if (c < s->cost * (1 - 1e-6)) {
		s->cost = c;
		memcpy(s->best, s->cur, sizeof s->best);
	}
}

static void push_search(search *s, int k)
{
	int n = s->v->parties;
	if (k == n) {
		keep_if_better(s, push_cost(s->v, s->cur, s->bytes));
		return;
	}
	if (k == 0) {
		uint8_t c0[2] = { 0, (uint8_t)n };
		for (int i = 0; i < 2; i++) {
			s->cur[0] = c0[i];
			push_search(s, 1);
		}
		return;
	}
	int prev = s->cur[k - 1];
	uint8_t c[3] = { (uint8_t)prev, (uint8_t)k, (uint8_t)n };
	int nc = prev == n ? 1 : 3;
	for (int i = 0; i < nc; i++) {
		s->cur[k] = c[i];
		push_search(s, k + 1);
	}
}

static void tree_search(search *s, int i)
{
	int n = s->v->parties;
	if (i == n) {
		if (tree_ok(s->cur, n))
			keep_if_better(s, pull_cost(s->v, s->cur, s->bytes));
		return;
	}
	for (int f = 0; f <= n; f++)
		if (f != i) {
			s->cur[i] = (uint8_t)f;
			tree_search(s, i + 1);
		}
}

/* Beyond EXHAUSTIVE_TREES parties: the widest-path tree (each party
 * through the path whose slowest link is fastest, as Dijkstra's order
 * finds it; ties: the lower latency so far, then the lower number), which
 * is the least cost where latencies and nodes' capacities do not matter;
 * it is kept only where it costs less than the star. */
static void widest_tree(const view *v, uint8_t *from)
{
	int n = v->parties, done[NODES] = { 0 };
	double width[NODES], depth[NODES];
	for (int i = 0; i < n; i++) {
		width[i] = v->rate[n][i];
		depth[i] = v->lat[n][i];
		from[i] = (uint8_t)n;
	}
	done[n] = 1;
	for (int round = 0; round < n; round++) {
		int u = -1;
		for (int i = 0; i < n; i++)
			if (!done[i] && (u < 0 || width[i] > width[u] ||
					 (width[i] == width[u] && depth[i] < depth[u])))
				u = i;
		done[u] = 1;
		for (int i = 0; i < n; i++) {
			if (done[i])
				continue;
			double w = v->rate[u][i] < width[u] ? v->rate[u][i] : width[u];
			double d = depth[u] + v->lat[u][i];
			if (w > width[i] || (w == width[i] && d < depth[i])) {
				width[i] = w;
				depth[i] = d;
				from[i] = (uint8_t)u;
			}
		}
	}
}

void gx_ovl_best(const gx_ovl_links *l, double bytes, gx_ovl_plan *p)
{
	view v;
	make_view(l, &v);
	int n = l->parties;
	gx_ovl_star(p, n);
	search s = { .v = &v, .bytes = bytes };
	memcpy(s.best, p->hold, sizeof s.best);
	s.cost = push_cost(&v, p->hold, bytes);
	push_search(&s, 0);
	memcpy(p->hold, s.best, sizeof p->hold);
	if (n <= EXHAUSTIVE_TREES) {
		memcpy(s.best, p->from, sizeof s.best);
		s.cost = pull_cost(&v, p->from, bytes);
		tree_search(&s, 0);
		memcpy(p->from, s.best, sizeof p->from);
	} else {
		uint8_t w[GX_OVL_MAX_PARTIES];
		widest_tree(&v, w);
		if (pull_cost(&v, w, bytes) < pull_cost(&v, p->from, bytes) * (1 - 1e-6))
			memcpy(p->from, w, sizeof w);
	}
}

void gx_ovl_random(gx_rng *r, int parties, gx_ovl_plan *p)
{
	int n = parties < 1 ? 1 : parties > GX_OVL_MAX_PARTIES ? GX_OVL_MAX_PARTIES : parties;
	gx_ovl_star(p, n);
	/* The push: each choice among those allowed, uniformly. */
	p->hold[0] = gx_rng_below(r, 2) ? (uint8_t)n : 0;
	for (int k = 1; k < n; k++) {
		int prev = p->hold[k - 1];
		uint8_t c[3] = { (uint8_t)prev, (uint8_t)k, (uint8_t)n };
		p->hold[k] = prev == n ? (uint8_t)n : c[gx_rng_below(r, 3)];
	}
	/* The answers: the parties in a random order, each getting them from
	 * the sink or from a party before it, uniformly; every tree can come
	 * out (any tree has an order in which parents come first). */
	int order[GX_OVL_MAX_PARTIES];
	for (int i = 0; i < n; i++)
		order[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = (int)gx_rng_below(r, (uint64_t)i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < n; i++) {
		uint64_t j = gx_rng_below(r, (uint64_t)i + 1);
		p->from[order[i]] = (uint8_t)(j == (uint64_t)i ? n : order[j]);
	}
}

/* One change to where a sum is made: hold[k] moved to another node it may
 * be (the folds after it follow where they can, else stay where the sum
 * is); 0 when p has no such change. */
static int change_push(gx_rng *r, gx_ovl_plan *p)
{
	int n = p->parties, start = (int)gx_rng_below(r, (uint64_t)n);
	for (int t = 0; t < n; t++) {
		int k = (start + t) % n, prev = k ? p->hold[k - 1] : 0;
		if (k && prev == n)
			continue; /* nothing leaves the sink */
		uint8_t c[3], m = 0;
		uint8_t opts[3] = { (uint8_t)prev, (uint8_t)k, (uint8_t)n };
		for (int i = 0; i < 3; i++) {
			int dup = 0;
			for (int j = 0; j < m; j++)
				dup |= c[j] == opts[i];
			if (!dup && opts[i] != p->hold[k])
				c[m++] = opts[i];
		}
		if (!m)
			continue;
		p->hold[k] = c[gx_rng_below(r, m)];
		for (int j = k + 1; j < n; j++) {
			int pj = p->hold[j - 1];
			if (pj == n)
				p->hold[j] = (uint8_t)n;
			else if (p->hold[j] != pj && p->hold[j] != j && p->hold[j] != n)
				p->hold[j] = (uint8_t)pj;
		}
		return 1;
	}
	return 0;
}

/* One change to whom a party gets the answers from, the tree kept whole;
 * 0 when there is none. */
static int change_tree(gx_rng *r, gx_ovl_plan *p)
{
	int n = p->parties, start = (int)gx_rng_below(r, (uint64_t)n);
	for (int t = 0; t < n; t++) {
		int i = (start + t) % n, was = p->from[i];
		uint8_t c[NODES], m = 0;
		for (int f = 0; f <= n; f++) {
			if (f == i || f == was)
				continue;
			p->from[i] = (uint8_t)f;
			if (tree_ok(p->from, n))
				c[m++] = (uint8_t)f;
		}
		p->from[i] = (uint8_t)was;
		if (m) {
			p->from[i] = c[gx_rng_below(r, m)];
			return 1;
		}
	}
	return 0;
}

void gx_ovl_neighbour(gx_rng *r, gx_ovl_plan *p)
{
	if (gx_rng_below(r, 2)) {
		if (!change_push(r, p))
			change_tree(r, p);
	} else if (!change_tree(r, p)) {
		change_push(r, p);
	}
}

int gx_ovl_choose(const gx_ovl_links *l, double bytes, double epsilon, gx_rng *r,
		  gx_ovl_plan *p)
{
	gx_ovl_best(l, bytes, p);
	if (epsilon > 0 && gx_rng_float(r) < epsilon) {
		gx_ovl_neighbour(r, p);
		return 1;
	}
	return 0;
}

/* One list of n nodes ("0,G,2"), into out; 0 or -1. */
static int node_list(const char *s, const char *end, int n, uint8_t *out)
{
	int i = 0;
	while (s < end && i < n) {
		if (*s == 'G' || *s == 'g') {
			out[i] = (uint8_t)n;
			s++;
		} else if (*s >= '0' && *s <= '9') {
			int v = 0;
			while (s < end && *s >= '0' && *s <= '9' && v < 100)
				v = v * 10 + (*s++ - '0');
			if (v >= n)
				return -1;
			out[i] = (uint8_t)v;
		} else {
			return -1;
		}
		if (++i < n && (s >= end || *s++ != ','))
			return -1;
	}
	return i == n && s == end ? 0 : -1;
}

int gx_ovl_plan_text(const char *s, int parties, gx_ovl_plan *p, char *why, size_t cap)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	gx_ovl_plan q;
	if (parties < 1 || parties > GX_OVL_MAX_PARTIES) {
		snprintf(why, cap, "an overlay of 1 to %d parties, not %d", GX_OVL_MAX_PARTIES,
			 parties);
		return GX_EINVAL;
	}
	gx_ovl_star(&q, parties);
	if (!colon || node_list(s, colon, parties, q.hold) ||
	    node_list(colon + 1, colon + strlen(colon), parties, q.from)) {
		snprintf(why, cap, "want HOLD:FROM, %d nodes each (a party's number or G), e.g. "
			 "0,0,G:G,0,0", parties);
		return GX_EINVAL;
	}
	if (!push_ok(q.hold, parties)) {
		snprintf(why, cap, "HOLD: S_0 is made at 0 or G, S_k where S_(k-1) is, at k or "
			 "at G, and nothing leaves G");
		return GX_EINVAL;
	}
	if (!tree_ok(q.from, parties)) {
		snprintf(why, cap, "FROM: every party must get the answers from G or through "
			 "others that do, without a cycle");
		return GX_EINVAL;
	}
	*p = q;
	return 0;
}

void gx_ovl_plan_print(const gx_ovl_plan *p, char *out, size_t cap)
{
	size_t at = 0;
	if (!cap)
		return;
	out[0] = '\0';
	for (int h = 0; h < 2; h++)
		for (int i = 0; i < p->parties; i++) {
			int x = h ? p->from[i] : p->hold[i];
			const char *sep = i + 1 < p->parties ? "," : h ? "" : ":";
			int w = x == p->parties ? snprintf(out + at, cap - at, "G%s", sep)
						: snprintf(out + at, cap - at, "%d%s", x, sep);
			if (w < 0 || (size_t)w >= cap - at)
				return;
			at += (size_t)w;
		}
}

int gx_ovl_pack(const gx_ovl_plan *p, uint8_t *out, size_t cap)
{
	if (gx_ovl_check(p) || cap < 1 + 2 * (size_t)p->parties)
		return GX_EINVAL;
	out[0] = (uint8_t)p->parties;
	memcpy(out + 1, p->hold, (size_t)p->parties);
	memcpy(out + 1 + p->parties, p->from, (size_t)p->parties);
	return 1 + 2 * p->parties;
}

int gx_ovl_parse(const uint8_t *in, size_t len, gx_ovl_plan *p)
{
	if (len < 1 || in[0] < 1 || in[0] > GX_OVL_MAX_PARTIES || len != 1 + 2 * (size_t)in[0])
		return GX_EPROTO;
	gx_ovl_plan q;
	memset(&q, 0, sizeof q);
	q.parties = in[0];
	memcpy(q.hold, in + 1, in[0]);
	memcpy(q.from, in + 1 + in[0], in[0]);
	if (gx_ovl_check(&q))
		return GX_EPROTO;
	*p = q;
	return 0;
}
