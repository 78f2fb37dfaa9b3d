/* test_overlay.c — the adaptive overlay's plans (sched/overlay.c): every
 * push a plan allows folds the parties' sums into the star's bits, the
 * planner's choice is the least cost among every plan (checked against an
 * enumeration and a cost model written here again, independently), the
 * figures of the settings, epsilon-greedy's share of exploration,
 * the link estimates, and the wire form of a plan. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "geomx.h"
#include "t.h"

#define MAXP GX_OVL_MAX_PARTIES
#define NODES (MAXP + 1)

/* ------------------------------------------------------------- the oracle */

/* Every hold[] the rules allow, written from the rules themselves: S_0 is
 * made at party 0 or the sink; S_k where S_(k-1) is, at party k or at the
 * sink; nothing leaves the sink. */
static int oracle_push_ok(const uint8_t *h, int n)
{
	if (h[0] != 0 && h[0] != n)
		return 0;
	for (int k = 1; k < n; k++) {
		if (h[k - 1] == n && h[k] != n)
			return 0;
		if (h[k] != h[k - 1] && h[k] != k && h[k] != n)
			return 0;
	}
	return 1;
}

static int oracle_tree_ok(const uint8_t *f, int n)
{
	for (int i = 0; i < n; i++) {
		int seen[NODES] = { 0 }, v = i;
		while (v != n) {
			if (f[v] > n || f[v] == v || seen[v])
				return 0;
			seen[v] = 1;
			v = f[v];
		}
	}
	return 1;
}

typedef struct links {
	int n;
	double rate[NODES][NODES], lat[NODES][NODES];
	double cin[NODES], cout[NODES]; /* 0: no bound */
} links;

/* The most loaded node's bytes in or out over its capacity. */
static double oracle_nodes(const links *L, const double *in, const double *out)
{
	double w = 0;
	for (int i = 0; i <= L->n; i++) {
		if (L->cin[i] > 0 && in[i] / L->cin[i] > w)
			w = in[i] / L->cin[i];
		if (L->cout[i] > 0 && out[i] / L->cout[i] > w)
			w = out[i] / L->cout[i];
	}
	return w;
}

/* What crosses each link, from the holds alone: party k's own sum from k
 * to where S_k is made, S_(k-1) from where it was made to there, the last
 * sum to the sink; the time S_k is ready where it is made. */
static double oracle_push_cost(const links *L, const uint8_t *h, double bytes)
{
	int n = L->n;
	double load[NODES][NODES] = { { 0 } };
	double t = 0;
	for (int k = 0; k < n; k++) {
		double ready = 0;
		if (h[k] != k) {
			load[k][h[k]] += bytes;
			ready = L->lat[k][h[k]];
		}
		if (k > 0) {
			double s = t;
			if (h[k - 1] != h[k]) {
				load[h[k - 1]][h[k]] += bytes;
				s += L->lat[h[k - 1]][h[k]];
			}
			ready = ready > s ? ready : s;
		}
		t = ready;
	}
	if (h[n - 1] != n) {
		load[h[n - 1]][n] += bytes;
		t += L->lat[h[n - 1]][n];
	}
	double in[NODES] = { 0 }, out[NODES] = { 0 };
	for (int i = 0; i <= n; i++)
		for (int j = 0; j <= n; j++) {
			in[j] += load[i][j];
			out[i] += load[i][j];
		}
	double worst = oracle_nodes(L, in, out);
	for (int i = 0; i <= n; i++)
		for (int j = 0; j <= n; j++)
			if (load[i][j] > 0 && load[i][j] / L->rate[i][j] > worst)
				worst = load[i][j] / L->rate[i][j];
	return worst + t;
}

static double oracle_pull_cost(const links *L, const uint8_t *f, double bytes)
{
	int n = L->n;
	double in[NODES] = { 0 }, out[NODES] = { 0 };
	for (int i = 0; i < n; i++) {
		in[i] += bytes;
		out[f[i]] += bytes;
	}
	double worst = oracle_nodes(L, in, out), deep = 0;
	for (int i = 0; i < n; i++) {
		if (bytes / L->rate[f[i]][i] > worst)
			worst = bytes / L->rate[f[i]][i];
		double d = 0;
		for (int v = i; v != n; v = f[v])
			d += L->lat[f[v]][v];
		if (d > deep)
			deep = d;
	}
	return worst + deep;
}

/* Odometer over {0..n}^n; returns 0 after the last. */
static int next_tuple(uint8_t *x, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		if (x[i] < n) {
			x[i]++;
			return 1;
		}
		x[i] = 0;
	}
	return 0;
}

/* Random links: rates over two decades, latencies up to 20 ms, and the
 * estimates of the same links given to the planner. */
static void random_links(gx_rng *r, int n, links *L, gx_ovl_links *E, int with_lat)
{
	gx_ovl_links_init(E, n, 1.0);
	memset(L, 0, sizeof *L);
	L->n = n;
	/* about half the nodes behind an access link of their own */
	for (int i = 0; with_lat >= 0 && i <= n; i++) {
		L->cin[i] = E->cin[i] = gx_rng_below(r, 2) ? 1e6 * pow(10.0, 2.0 * gx_rng_float(r)) : 0;
		L->cout[i] = E->cout[i] = gx_rng_below(r, 2) ? 1e6 * pow(10.0, 2.0 * gx_rng_float(r)) : 0;
	}
	for (int i = 0; i <= n; i++)
		for (int j = 0; j <= n; j++) {
			if (i == j)
				continue;
			L->rate[i][j] = 1e6 * pow(10.0, 2.0 * gx_rng_float(r));
			L->lat[i][j] = with_lat > 0 ? 0.020 * gx_rng_float(r) : 0;
			gx_ovl_links_rate(E, i, j, L->rate[i][j], 1.0, 0);
			gx_ovl_links_lat(E, i, j, L->lat[i][j]);
		}
}

/* ------------------------------------------------------------- the fold */

/* Runs a plan's push: each node keeps the sums it holds (by the parties
 * first..last they cover); a send needs its sender to hold what it sends;
 * after each, every node folds S_(k-1) and p_k into S_k when it has both.
 * Returns 0 when the sink ends with S_(n-1), in out. */
enum { CNT = 64 };
typedef struct held {
	int have[MAXP][MAXP]; /* [first][last] */
	float v[MAXP][MAXP][CNT];
} held;

static int run_fold(const gx_ovl_plan *p, float in[MAXP][CNT], float *out)
{
	static held node[NODES];
	int n = p->parties;
	memset(node, 0, sizeof node);
	for (int k = 0; k < n; k++) {
		node[k].have[k][k] = 1;
		memcpy(node[k].v[k][k], in[k], sizeof in[k]);
	}
	gx_ovl_send s[2 * MAXP];
	int m = gx_ovl_push_sends(p, s);
	if (m < 0)
		return -1;
	for (int j = 0; j < m; j++) {
		held *a = &node[s[j].src], *b = &node[s[j].dst];
		int f = s[j].first, l = s[j].last;
		if (!a->have[f][l] || (f != 0 && f != l))
			return -2; /* sends what it does not hold, or not a prefix */
		b->have[f][l] = 1;
		memcpy(b->v[f][l], a->v[f][l], sizeof a->v[f][l]);
		for (int x = 0; x <= n; x++)
			for (int k = 1; k < n; k++)
				if (node[x].have[0][k - 1] && node[x].have[k][k] && !node[x].have[0][k]) {
					for (int e = 0; e < CNT; e++)
						node[x].v[0][k][e] = node[x].v[0][k - 1][e] +
								     node[x].v[k][k][e];
					node[x].have[0][k] = 1;
				}
	}
	if (!node[n].have[0][n - 1])
		return -3;
	memcpy(out, node[n].v[0][n - 1], CNT * sizeof *out);
	return 0;
}

static void every_push_folds_to_the_stars_bits(void)
{
	gx_rng r;
	gx_rng_seed(&r, 7);
	float in[MAXP][CNT];
	for (int k = 0; k < MAXP; k++)
		for (int e = 0; e < CNT; e++) /* magnitudes apart, so order shows */
			in[k][e] = gx_rng_normal(&r) * powf(10.0f, (float)(int)gx_rng_below(&r, 9) - 4);
	for (int n = 1; n <= 5; n++) {
		float star[CNT];
		for (int e = 0; e < CNT; e++) {
			star[e] = in[0][e];
			for (int k = 1; k < n; k++)
				star[e] += in[k][e];
		}
		uint8_t h[MAXP] = { 0 };
		int plans = 0, differs = 0;
		do {
			if (!oracle_push_ok(h, n))
				continue;
			gx_ovl_plan p;
			gx_ovl_star(&p, n);
			memcpy(p.hold, h, (size_t)n);
			T_REQUIRE(gx_ovl_check(&p) == 0);
			float out[CNT];
			T_EQ(run_fold(&p, in, out), 0);
			T_ASSERT(memcmp(out, star, sizeof star) == 0);
			plans++;
		} while (next_tuple(h, n));
		/* every hold[] the rules allow, and nothing else, is a plan */
		memset(h, 0, sizeof h);
		do {
			gx_ovl_plan p;
			gx_ovl_star(&p, n);
			memcpy(p.hold, h, (size_t)n);
			differs += (gx_ovl_check(&p) == 0) != oracle_push_ok(h, n);
		} while (next_tuple(h, n));
		T_EQ(differs, 0);
		/* 2 * 3^(n-1) - ... : counted by hand for n = 3: 8 */
		if (n == 3)
			T_EQ(plans, 8);
	}
	/* A balanced tree's order would not give the star's bits here: the
	 * fold's order is what the test is about. */
	float t[CNT], s[CNT];
	int any = 0;
	for (int e = 0; e < CNT; e++) {
		t[e] = (in[0][e] + in[1][e]) + (in[2][e] + in[3][e]);
		s[e] = ((in[0][e] + in[1][e]) + in[2][e]) + in[3][e];
		any |= memcmp(&t[e], &s[e], sizeof t[e]) != 0;
	}
	T_ASSERT(any);
}

static void the_best_plan_is_the_least_cost_of_all(void)
{
	gx_rng r;
	gx_rng_seed(&r, 11);
	for (int trial = 0; trial < 60; trial++) {
		int n = 1 + (int)gx_rng_below(&r, 5); /* 1..5: every tree enumerable fast */
		links L;
		gx_ovl_links E;
		random_links(&r, n, &L, &E, trial % 2);
		double bytes = 715000;
		gx_ovl_plan p;
		gx_ovl_best(&E, bytes, &p);
		T_REQUIRE(gx_ovl_check(&p) == 0);
		double least = INFINITY, leastt = INFINITY;
		uint8_t x[MAXP] = { 0 };
		do {
			if (oracle_push_ok(x, n)) {
				double c = oracle_push_cost(&L, x, bytes);
				least = c < least ? c : least;
			}
			if (oracle_tree_ok(x, n)) {
				double c = oracle_pull_cost(&L, x, bytes);
				leastt = c < leastt ? c : leastt;
			}
		} while (next_tuple(x, n));
		T_NEAR(oracle_push_cost(&L, p.hold, bytes), least, least * 1e-5);
		T_NEAR(oracle_pull_cost(&L, p.from, bytes), leastt, leastt * 1e-5);
		/* the library's own figures agree with the oracle's */
		T_NEAR(gx_ovl_push_cost(&E, &p, bytes), oracle_push_cost(&L, p.hold, bytes),
		       least * 1e-9);
		T_NEAR(gx_ovl_pull_cost(&E, &p, bytes), oracle_pull_cost(&L, p.from, bytes),
		       leastt * 1e-9);
	}
}

/* Beyond six parties the answers take the widest-path tree: its slowest
 * link is the fastest any tree can have (the largest rate W for which the
 * links of rate >= W still reach every party from the sink). */
static void many_parties_take_the_widest_tree(void)
{
	gx_rng r;
	gx_rng_seed(&r, 5);
	for (int trial = 0; trial < 20; trial++) {
		int n = 7 + (int)gx_rng_below(&r, 2);
		links L;
		gx_ovl_links E;
		random_links(&r, n, &L, &E, -1); /* no nodes' capacities, no latencies */
		gx_ovl_plan p;
		gx_ovl_best(&E, 1e6, &p);
		T_REQUIRE(gx_ovl_check(&p) == 0);
		double slowest = INFINITY;
		for (int i = 0; i < n; i++)
			if (L.rate[p.from[i]][i] < slowest)
				slowest = L.rate[p.from[i]][i];
		double widest = 0;
		for (int a = 0; a <= n; a++)
			for (int b = 0; b <= n; b++) {
				if (a == b || L.rate[a][b] <= widest)
					continue;
				double w = L.rate[a][b];
				int reach[NODES] = { 0 }, grew = 1, all = 1;
				reach[n] = 1;
				while (grew) {
					grew = 0;
					for (int u = 0; u <= n; u++)
						for (int v = 0; v <= n; v++)
							if (reach[u] && !reach[v] && u != v &&
							    L.rate[u][v] >= w)
								reach[v] = grew = 1;
				}
				for (int i = 0; i < n; i++)
					all &= reach[i];
				if (all)
					widest = w;
			}
		T_NEAR(slowest, widest, widest * 1e-12);
	}
}

/* The first setting, in figures: 4 data centers, 715 KB each. The
 * center's ingress (50 Mbit/s) shared by four measures 12.5 Mbit/s a
 * link; data center to data center 100 Mbit/s. */
static void the_center_behind_a_slow_link(void)
{
	const double mbit = 1e6 / 8, S = 715000;
	gx_ovl_links E;
	gx_ovl_links_init(&E, 4, 1.0);
	for (int i = 0; i < 4; i++) {
		gx_ovl_links_rate(&E, i, 4, 12.5 * mbit, 1.0, 0);
		gx_ovl_links_rate(&E, 4, i, 12.5 * mbit, 1.0, 0);
		for (int j = 0; j < 4; j++)
			if (i != j)
				gx_ovl_links_rate(&E, i, j, 100 * mbit, 1.0, 0);
	}
	gx_ovl_plan p, star;
	gx_ovl_star(&star, 4);
	T_NEAR(gx_ovl_push_cost(&E, &star, S), 0.4576, 1e-9);
	/* as measured under the star, no plan looks better: it stays */
	gx_ovl_best(&E, S, &p);
	T_ASSERT(memcmp(&p, &star, sizeof p) == 0);
	/* one data center's link to the center, used alone, gives 50 */
	gx_ovl_links_rate(&E, 3, 4, 50 * mbit, 1.0, 1);
	gx_ovl_links_rate(&E, 4, 3, 50 * mbit, 1.0, 1);
	gx_ovl_best(&E, S, &p);
	T_EQ(p.hold[3], 3); /* S_3 made at party 3, which alone sends to the center */
	T_NEAR(gx_ovl_push_cost(&E, &p, S), S / (50 * mbit), 1e-9);
	T_ASSERT(gx_ovl_push_cost(&E, &star, S) / gx_ovl_push_cost(&E, &p, S) >= 3.99);
	/* the answers: to party 3 alone, which passes them on at 100 */
	T_EQ(p.from[3], 4);
	for (int i = 0; i < 3; i++)
		T_ASSERT(p.from[i] != 4);
	T_NEAR(gx_ovl_pull_cost(&E, &p, S), S / (50 * mbit), 1e-9);
}

/* The third: the center's links the fastest, data centers apart slow, a
 * latency on every link: the star stays. */
static void a_star_friendly_wan_keeps_the_star(void)
{
	const double mbit = 1e6 / 8;
	gx_ovl_links E;
	gx_ovl_links_init(&E, 4, 1.0);
	for (int i = 0; i <= 4; i++)
		for (int j = 0; j <= 4; j++)
			if (i != j) {
				gx_ovl_links_rate(&E, i, j, (i == 4 || j == 4 ? 400 : 50) * mbit, 1, 0);
				gx_ovl_links_lat(&E, i, j, 0.010);
			}
	gx_ovl_plan p, star;
	gx_ovl_star(&star, 4);
	gx_ovl_best(&E, 715000, &p);
	T_ASSERT(memcmp(&p, &star, sizeof p) == 0);
	/* equal rates everywhere: the latency decides, one hop each way */
	gx_ovl_links_init(&E, 4, 1.0);
	for (int i = 0; i <= 4; i++)
		for (int j = 0; j <= 4; j++)
			if (i != j) {
				gx_ovl_links_rate(&E, i, j, 100 * mbit, 1, 0);
				gx_ovl_links_lat(&E, i, j, 0.010);
			}
	gx_ovl_best(&E, 715000, &p);
	T_ASSERT(memcmp(&p, &star, sizeof p) == 0);
	T_NEAR(gx_ovl_push_cost(&E, &p, 715000), 715000 / (100 * mbit) + 0.010, 1e-9);
}

static void epsilon_explores_its_share(void)
{
	gx_ovl_links E;
	gx_ovl_links_init(&E, 3, 0.5);
	gx_rng r;
	gx_rng_seed(&r, 3);
	gx_ovl_plan best;
	gx_ovl_best(&E, 1e6, &best);
	int explored = 0, one_change = 1;
	for (int i = 0; i < 10000; i++) {
		gx_ovl_plan p;
		int x = gx_ovl_choose(&E, 1e6, 0.1, &r, &p);
		explored += x;
		T_REQUIRE(gx_ovl_check(&p) == 0);
		int dh = memcmp(p.hold, best.hold, sizeof p.hold) != 0, df = 0;
		for (int k = 0; k < 3; k++)
			df += p.from[k] != best.from[k];
		/* the best, or one change to it: where sums are made, or one
		 * party's answers */
		one_change &= x ? (dh && !df) || (!dh && df == 1) : !dh && !df;
	}
	T_ASSERT(explored > 850 && explored < 1150);
	T_ASSERT(one_change);
	/* from any plan, changes reach every plan in time */
	int seen_push[64] = { 0 }, seen_tree[64] = { 0 }, npush = 0, ntree = 0;
	gx_ovl_plan w = best;
	for (int i = 0; i < 20000; i++) {
		gx_ovl_neighbour(&r, &w);
		T_REQUIRE(gx_ovl_check(&w) == 0);
		int hk = w.hold[0] * 16 + w.hold[1] * 4 + w.hold[2];
		int fk = w.from[0] * 16 + w.from[1] * 4 + w.from[2];
		npush += !seen_push[hk]++;
		ntree += !seen_tree[fk]++;
	}
	/* every push (8) and every tree of answers (4^2 = 16) */
	T_EQ(npush, 8);
	T_EQ(ntree, 16);
	int none = 0;
	for (int i = 0; i < 1000; i++) {
		gx_ovl_plan p;
		none += gx_ovl_choose(&E, 1e6, 0, &r, &p);
	}
	T_EQ(none, 0);
	/* the same seed, the same plans */
	gx_rng a, b;
	gx_rng_seed(&a, 9);
	gx_rng_seed(&b, 9);
	for (int i = 0; i < 100; i++) {
		gx_ovl_plan p, q;
		gx_ovl_choose(&E, 1e6, 0.5, &a, &p);
		gx_ovl_choose(&E, 1e6, 0.5, &b, &q);
		T_ASSERT(memcmp(&p, &q, sizeof p) == 0);
	}
	/* the uniform draw also gives every plan */
	memset(seen_push, 0, sizeof seen_push);
	memset(seen_tree, 0, sizeof seen_tree);
	npush = ntree = 0;
	for (int i = 0; i < 5000; i++) {
		gx_ovl_random(&r, 3, &w);
		T_REQUIRE(gx_ovl_check(&w) == 0);
		npush += !seen_push[w.hold[0] * 16 + w.hold[1] * 4 + w.hold[2]]++;
		ntree += !seen_tree[w.from[0] * 16 + w.from[1] * 4 + w.from[2]]++;
	}
	T_EQ(npush, 8);
	T_EQ(ntree, 16);
}

static void link_estimates(void)
{
	gx_ovl_links E;
	gx_ovl_links_init(&E, 2, 0.5);
	T_NEAR(gx_ovl_rate(&E, 0, 2), 1.0, 0); /* nothing known: all alike */
	gx_ovl_links_rate(&E, 0, 2, 1000, 1.0, 4);
	T_NEAR(gx_ovl_rate(&E, 0, 2), 1000, 0);
	gx_ovl_links_rate(&E, 0, 2, 4000, 2.0, 5); /* 2000 B/s: halfway */
	T_NEAR(gx_ovl_rate(&E, 0, 2), 1500, 1e-9);
	T_EQ(E.seen[0][2], 6);
	/* never measured: the best known, so that it gets tried */
	T_NEAR(gx_ovl_rate(&E, 1, 0), 1500, 1e-9);
	/* samples that say nothing are ignored */
	gx_ovl_links_rate(&E, 0, 2, 1000, 0, 7);
	gx_ovl_links_rate(&E, 0, 2, NAN, 1, 7);
	gx_ovl_links_rate(&E, 0, 2, 1000, INFINITY, 7);
	gx_ovl_links_rate(&E, 1, 1, 1000, 1, 7);
	gx_ovl_links_rate(&E, 0, 3, 1000, 1, 7);
	gx_ovl_links_rate(&E, -1, 0, 1000, 1, 7);
	T_NEAR(gx_ovl_rate(&E, 0, 2), 1500, 1e-9);
	T_EQ(E.seen[0][2], 6);
	T_NEAR(gx_ovl_latency(&E, 0, 1), 0, 0);
	gx_ovl_links_lat(&E, 0, 1, 0.010);
	gx_ovl_links_lat(&E, 0, 1, 0.030);
	T_NEAR(gx_ovl_latency(&E, 0, 1), 0.020, 1e-12);
	gx_ovl_links_lat(&E, 0, 1, -1);
	T_NEAR(gx_ovl_latency(&E, 0, 1), 0.020, 1e-12);
}

/* A round's backlogged frames over the time from the first of them to the
 * last, once all are in; two rounds at once; a transfer mostly fed slower
 * than its link gives none. */
static void the_meter(void)
{
	gx_ovl_meter m = { 0 };
	double b = 0, t = 0;
	int lb = 0;
	T_EQ(gx_ovl_meter_frame(&m, 0, 1000, 1, 1000000000, 3, &b, &t, &lb), 0);
	T_EQ(gx_ovl_meter_frame(&m, 0, 1000, 1, 1001000000, 3, &b, &t, &lb), 0);
	T_EQ(gx_ovl_meter_frame(&m, 1, 700, 1, 1001500000, 2, &b, &t, &lb), 0); /* the next, at once */
	T_EQ(gx_ovl_meter_frame(&m, 0, 3000, 1, 1002000000, 3, &b, &t, &lb), 1);
	T_NEAR(b, 4000, 0); /* the first frame's 1000 arrived before the clock */
	T_NEAR(t, 0.002, 1e-12);
	T_EQ(gx_ovl_meter_frame(&m, 1, 500, 1, 1011500000, 2, &b, &t, &lb), 1);
	T_NEAR(b, 500, 0);
	T_NEAR(t, 0.010, 1e-12);
	/* a transfer of one frame says nothing */
	T_EQ(gx_ovl_meter_frame(&m, 2, 500, 1, 1020000000, 1, &b, &t, &lb), 0);
	/* a third round at once: the oldest is given up */
	T_EQ(gx_ovl_meter_frame(&m, 3, 500, 1, 1030000000, 2, &b, &t, &lb), 0);
	T_EQ(gx_ovl_meter_frame(&m, 4, 500, 1, 1030000000, 2, &b, &t, &lb), 0);
	T_EQ(gx_ovl_meter_frame(&m, 5, 500, 1, 1031000000, 2, &b, &t, &lb), 0);
	T_EQ(gx_ovl_meter_frame(&m, 5, 500, 1, 1032000000, 2, &b, &t, &lb), 1);
	T_NEAR(t, 0.001, 1e-12);
	T_EQ(lb, 0);
	/* fed slower than its link: 1 of 4 frames backlogged, all of them a
	 * lower bound */
	for (int i = 0; i < 3; i++)
		T_EQ(gx_ovl_meter_frame(&m, 6, 500, i == 1, 1040000000 + 10000000 * (uint64_t)i, 4,
					&b, &t, &lb), 0);
	T_EQ(gx_ovl_meter_frame(&m, 6, 500, 0, 1070000000, 4, &b, &t, &lb), 1);
	T_EQ(lb, 1);
	T_NEAR(b, 1500, 0);
	T_NEAR(t, 0.030, 1e-12);
	/* half backlogged: timed over those frames only */
	T_EQ(gx_ovl_meter_frame(&m, 7, 500, 0, 1080000000, 4, &b, &t, &lb), 0);
	T_EQ(gx_ovl_meter_frame(&m, 7, 500, 1, 1090000000, 4, &b, &t, &lb), 0);
	T_EQ(gx_ovl_meter_frame(&m, 7, 800, 1, 1091000000, 4, &b, &t, &lb), 0);
	T_EQ(gx_ovl_meter_frame(&m, 7, 500, 0, 1200000000, 4, &b, &t, &lb), 1);
	T_EQ(lb, 0);
	T_NEAR(b, 800, 0);
	T_NEAR(t, 0.001, 1e-12);
}

/* The first setting as the receivers measure it under the star:
 * four pushes share the center's ingress and four answers its egress, at
 * a quarter of its 50 Mbit/s each. Each is credited with the whole, the
 * center's access is 50 both ways, and the next plan folds at a data
 * center and passes the answers on from one: 4x less time each way. */
static void a_round_under_the_star(void)
{
	const double mbit = 1e6 / 8, S = 715000;
	gx_ovl_links E;
	gx_ovl_links_init(&E, 4, 1.0);
	static gx_ovl_round m;
	memset(&m, 0, sizeof m);
	for (int i = 0; i < 4; i++) {
		m.bytes[0][i][4] = m.bytes[1][4][i] = S;
		m.secs[0][i][4] = m.secs[1][4][i] = S / (12.5 * mbit);
	}
	gx_ovl_links_round(&E, &m, 0);
	T_NEAR(E.cin[4], 50 * mbit, 1e-6);
	T_NEAR(E.cout[4], 50 * mbit, 1e-6);
	T_NEAR(gx_ovl_rate(&E, 2, 4), 50 * mbit, 1e-6);
	T_NEAR(gx_ovl_rate(&E, 4, 2), 50 * mbit, 1e-6);
	T_EQ(E.cin[0], 0); /* a data center's: one transfer, no sample */
	gx_ovl_plan p, star;
	gx_ovl_star(&star, 4);
	T_NEAR(gx_ovl_push_cost(&E, &star, S), 4 * S / (50 * mbit), 1e-9);
	T_NEAR(gx_ovl_pull_cost(&E, &star, S), 4 * S / (50 * mbit), 1e-9);
	gx_ovl_best(&E, S, &p);
	T_NEAR(gx_ovl_push_cost(&E, &p, S), S / (50 * mbit), 1e-9);
	T_NEAR(gx_ovl_pull_cost(&E, &p, S), S / (50 * mbit), 1e-9);
	/* the data centers' links measured at 100, one at a time */
	memset(&m, 0, sizeof m);
	m.bytes[0][0][1] = S, m.secs[0][0][1] = S / (100 * mbit);
	m.bytes[0][1][2] = S, m.secs[0][1][2] = S / (100 * mbit);
	gx_ovl_links_round(&E, &m, 1);
	T_NEAR(gx_ovl_rate(&E, 0, 1), 100 * mbit, 1e-6);
	T_EQ(E.cin[1], 0);
	/* three at once into data center 1, each bound by its own link: the
	 * links known alone keep their figure, the one never measured gets
	 * the node's total, the node's ingress is that total */
	memset(&m, 0, sizeof m);
	for (int i = 0; i < 4; i++)
		if (i != 1)
			m.bytes[0][i][1] = S, m.secs[0][i][1] = S / (100 * mbit);
	gx_ovl_links_round(&E, &m, 2);
	T_NEAR(gx_ovl_rate(&E, 0, 1), 100 * mbit, 1e-6);
	T_NEAR(gx_ovl_rate(&E, 2, 1), 300 * mbit, 1e-6);
	T_NEAR(E.cin[1], 300 * mbit, 1e-6);
	/* ... and once measured alone, the link's own figure */
	memset(&m, 0, sizeof m);
	m.bytes[0][2][1] = S, m.secs[0][2][1] = S / (100 * mbit);
	gx_ovl_links_round(&E, &m, 3);
	T_NEAR(gx_ovl_rate(&E, 2, 1), 100 * mbit, 1e-6); /* (alpha 1: the sample) */
	/* a link that falls to a tenth while shared with faster ones: its own
	 * figure, at once */
	memset(&m, 0, sizeof m);
	m.bytes[0][0][1] = S, m.secs[0][0][1] = S / (100 * mbit);
	m.bytes[0][2][1] = S, m.secs[0][2][1] = S / (10 * mbit);
	gx_ovl_links_round(&E, &m, 4);
	T_NEAR(gx_ovl_rate(&E, 2, 1), 10 * mbit, 1e-6);
	T_NEAR(gx_ovl_rate(&E, 0, 1), 100 * mbit, 1e-6);
	/* a lower bound only raises: the link from 2 to 1 fed slowly says
	 * nothing against its 10 */
	memset(&m, 0, sizeof m);
	m.bytes[1][2][1] = S, m.secs[1][2][1] = S / (5 * mbit), m.bound[1][2][1] = 1;
	gx_ovl_links_round(&E, &m, 5);
	T_NEAR(gx_ovl_rate(&E, 2, 1), 10 * mbit, 1e-6);
	m.secs[1][2][1] = S / (20 * mbit);
	gx_ovl_links_round(&E, &m, 6);
	T_NEAR(gx_ovl_rate(&E, 2, 1), 20 * mbit, 1e-6);
	/* answers fed as slowly as they come, shared: the node's egress is at
	 * least their total */
	memset(&m, 0, sizeof m);
	for (int i = 0; i < 2; i++)
		m.bytes[1][3][i] = S, m.secs[1][3][i] = S / (30 * mbit), m.bound[1][3][i] = 1;
	gx_ovl_links_round(&E, &m, 7);
	T_NEAR(E.cout[3], 60 * mbit, 1e-6);
	/* and samples that say nothing change nothing */
	memset(&m, 0, sizeof m);
	m.bytes[0][0][1] = S, m.secs[0][0][1] = 0;
	m.bytes[0][2][2] = S, m.secs[0][2][2] = 1;
	m.bytes[1][0][3] = NAN, m.secs[1][0][3] = 1;
	gx_ovl_links_round(&E, &m, 8);
	T_NEAR(gx_ovl_rate(&E, 0, 1), 100 * mbit, 1e-6);
	T_EQ(E.seen[0][3], 0);
}

static void plans_as_text(void)
{
	gx_ovl_plan p;
	char why[200];
	T_EQ(gx_ovl_plan_text("0,0,0,0:G,0,0,0", 4, &p, why, sizeof why), 0);
	T_EQ(p.hold[3], 0);
	T_EQ(p.from[0], 4);
	T_EQ(p.from[3], 0);
	T_EQ(gx_ovl_plan_text("G,G,G:G,G,G", 3, &p, why, sizeof why), 0);
	gx_ovl_plan star;
	gx_ovl_star(&star, 3);
	T_ASSERT(memcmp(&p, &star, sizeof p) == 0);
	T_EQ(gx_ovl_plan_text("0,1,2,3:G,0,1,2", 4, &p, why, sizeof why), 0);
	char text[GX_OVL_PLAN_TEXT];
	gx_ovl_plan_print(&p, text, sizeof text);
	T_ASSERT(strcmp(text, "0,1,2,3:G,0,1,2") == 0);
	const char *bad[] = { "", "0,0,0,0", "0,0,0:G,0,0,0", "0,0,0,0:G,0,0", "0,2,0,0:G,0,0,0",
			      "G,0,0,0:G,0,0,0", "0,0,0,0:1,0,0,0", "0,0,0,0:G,0,0,4",
			      "0,0,0,0:G,0,0,0,", "0;0,0,0:G,0,0,0", "0,0,0,0:G,x,0,0" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		T_EQ(gx_ovl_plan_text(bad[i], 4, &p, why, sizeof why), GX_EINVAL);
		T_ASSERT(why[0] != '\0');
	}
	T_EQ(gx_ovl_plan_text("G:G", 9, &p, why, sizeof why), GX_EINVAL);
}

static void plans_on_the_wire(void)
{
	gx_rng r;
	gx_rng_seed(&r, 1);
	uint8_t b[1 + 2 * MAXP];
	for (int i = 0; i < 200; i++) {
		gx_ovl_plan p, q;
		gx_ovl_random(&r, 1 + (int)gx_rng_below(&r, MAXP), &p);
		int len = gx_ovl_pack(&p, b, sizeof b);
		T_EQ(len, 1 + 2 * p.parties);
		T_EQ(gx_ovl_parse(b, (size_t)len, &q), 0);
		T_ASSERT(memcmp(&p, &q, sizeof p) == 0);
		T_EQ(gx_ovl_parse(b, (size_t)len - 1, &q), GX_EPROTO);
		T_EQ(gx_ovl_pack(&p, b, (size_t)len - 1), GX_EINVAL);
	}
	gx_ovl_plan q;
	const uint8_t bad[][7] = {
		{ 3, 3, 3, 3, 3, 3, 3 }, /* fine: the star of 3 */
		{ 3, 0, 2, 3, 3, 3, 3 }, /* S_1 made at party 2 */
		{ 3, 3, 1, 3, 3, 3, 3 }, /* leaves the sink */
		{ 3, 1, 1, 3, 3, 3, 3 }, /* S_0 made at party 1 */
		{ 3, 3, 3, 3, 1, 0, 3 }, /* answers in a cycle */
		{ 3, 3, 3, 3, 0, 3, 3 }, /* from itself */
		{ 3, 3, 3, 3, 4, 3, 3 }, /* from no node */
		{ 0, 0, 0, 0, 0, 0, 0 }, /* no parties */
	};
	T_EQ(gx_ovl_parse(bad[0], 7, &q), 0);
	for (size_t i = 1; i < sizeof bad / sizeof bad[0]; i++)
		T_EQ(gx_ovl_parse(bad[i], bad[i][0] ? 7 : 1, &q), GX_EPROTO);
	uint8_t big[1 + 2 * (MAXP + 1)];
	memset(big, MAXP + 1, sizeof big);
	T_EQ(gx_ovl_parse(big, sizeof big, &q), GX_EPROTO);
	T_EQ(gx_ovl_parse(b, 0, &q), GX_EPROTO);
}

int main(void)
{
	T_RUN(every_push_folds_to_the_stars_bits);
	T_RUN(the_best_plan_is_the_least_cost_of_all);
	T_RUN(many_parties_take_the_widest_tree);
	T_RUN(the_center_behind_a_slow_link);
	T_RUN(a_star_friendly_wan_keeps_the_star);
	T_RUN(epsilon_explores_its_share);
	T_RUN(link_estimates);
	T_RUN(the_meter);
	T_RUN(a_round_under_the_star);
	T_RUN(plans_as_text);
	T_RUN(plans_on_the_wire);
	T_DONE();
}
