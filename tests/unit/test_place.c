/* test_place.c — MultiGPS placement: exact coverage of split tensors,
 * determinism under any input order, the greedy balance bound, validation,
 * and a CNN's parameters on 2 and 3 servers against key-mod-S placement. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "t.h"

enum { MAXK = 64, MAXS = 8 };

/* Checks the invariants of a placement of keys/counts and fills load[]
 * (elements per server). Returns the number of split tensors, or -1. */
static int check_place(const uint32_t *keys, const uint64_t *counts, size_t nkeys, int ns,
		       uint64_t bound, const gx_slice *sl, long n, uint64_t *load)
{
	int bad = 0, nsplit = 0;
	memset(load, 0, (size_t)ns * sizeof *load);
	if (n < 0 || (size_t)n > gx_place_bound(nkeys, ns))
		return -1;
	for (long j = 0; j < n; j++) {
		if (sl[j].server >= (uint32_t)ns || sl[j].count == 0)
			bad = 1;
		else
			load[sl[j].server] += sl[j].count;
		/* Sorted by (key, block), strictly. */
		if (j > 0 && !(sl[j - 1].key < sl[j].key ||
			       (sl[j - 1].key == sl[j].key && sl[j - 1].block < sl[j].block)))
			bad = 1;
	}
	for (size_t i = 0; i < nkeys; i++) {
		/* The slices of key i: blocks 0..s-1, contiguous, covering it. */
		long first = -1, s = 0;
		for (long j = 0; j < n; j++)
			if (sl[j].key == keys[i]) {
				if (first < 0)
					first = j;
				s++;
			}
		if (first < 0)
			return -1;
		uint64_t off = 0, c = counts[i];
		for (long b = 0; b < s; b++) {
			const gx_slice *x = &sl[first + b];
			if (x->key != keys[i] || x->block != (uint32_t)b || x->offset != off)
				bad = 1;
			off += x->count;
		}
		if (off != c)
			bad = 1;
		if (c <= bound) {
			if (s != 1 || sl[first].block != 0 || sl[first].offset != 0)
				bad = 1;
			continue;
		}
		/* Split: min(ns, c) slices, slice b on server b, the first
		 * c % s one element longer. */
		nsplit++;
		long want = c < (uint64_t)ns ? (long)c : ns;
		if (s != want)
			bad = 1;
		for (long b = 0; b < s && s == want; b++) {
			const gx_slice *x = &sl[first + b];
			if (x->server != (uint32_t)b || x->count != c / (uint64_t)s + ((uint64_t)b < c % (uint64_t)s))
				bad = 1;
		}
	}
	long total = 0;
	for (size_t i = 0; i < nkeys; i++)
		total += counts[i] <= bound ? 1 : (counts[i] < (uint64_t)ns ? (long)counts[i] : ns);
	if (total != n)
		bad = 1;
	return bad ? -1 : nsplit;
}

static uint64_t spread(const uint64_t *load, int ns)
{
	uint64_t lo = load[0], hi = load[0];
	for (int s = 1; s < ns; s++) {
		lo = load[s] < lo ? load[s] : lo;
		hi = load[s] > hi ? load[s] : hi;
	}
	return hi - lo;
}

static int same_slices(const gx_slice *a, const gx_slice *b, long n)
{
	for (long j = 0; j < n; j++)
		if (a[j].key != b[j].key || a[j].block != b[j].block || a[j].offset != b[j].offset ||
		    a[j].count != b[j].count || a[j].server != b[j].server)
			return 0;
	return 1;
}

/* Random models: every invariant, the balance bound, and the same result
 * for every permutation of the input. */
static void test_random(void)
{
	gx_rng r;
	gx_rng_seed(&r, 42);
	static gx_slice a[MAXK * MAXS], b[MAXK * MAXS];
	uint32_t keys[MAXK], pk[MAXK];
	uint64_t counts[MAXK], pc[MAXK], load[MAXS];
	for (int iter = 0; iter < 2000; iter++) {
		size_t nk = 1 + gx_rng_below(&r, MAXK);
		int ns = 1 + (int)gx_rng_below(&r, MAXS);
		uint64_t bound = gx_rng_below(&r, 4) == 0 ? gx_rng_below(&r, 6) : 1 + gx_rng_below(&r, 5000);
		for (size_t i = 0; i < nk; i++) {
			uint32_t k;
			int dup;
			do { /* distinct keys, spread out */
				k = (uint32_t)gx_rng_below(&r, 1000);
				dup = 0;
				for (size_t j = 0; j < i; j++)
					dup |= keys[j] == k;
			} while (dup);
			keys[i] = k;
			/* Sizes over several decades, with ties. */
			counts[i] = gx_rng_below(&r, 3) == 0 ? 64 : 1 + gx_rng_below(&r, 1u << gx_rng_below(&r, 14));
		}
		long n = gx_place(keys, counts, nk, ns, bound, a, sizeof a / sizeof a[0]);
		int nsplit = check_place(keys, counts, nk, ns, bound, a, n, load);
		T_REQUIRE(nsplit >= 0);
		/* Greedy bound: whole tensors keep the spread within the largest
		 * of them, or within what the split remainders left (at most
		 * one element per split tensor, all on the low servers). */
		uint64_t largest = 0;
		for (size_t i = 0; i < nk; i++)
			if (counts[i] <= bound && counts[i] > largest)
				largest = counts[i];
		uint64_t lim = largest > (uint64_t)nsplit ? largest : (uint64_t)nsplit;
		if (spread(load, ns) > lim)
			printf("#   iter %d: spread %llu > %llu\n", iter, (unsigned long long)spread(load, ns),
			       (unsigned long long)lim);
		T_ASSERT(spread(load, ns) <= lim);
		/* Shuffled input, same placement. */
		memcpy(pk, keys, nk * sizeof *pk);
		memcpy(pc, counts, nk * sizeof *pc);
		for (size_t i = nk; i > 1; i--) {
			size_t j = gx_rng_below(&r, i);
			uint32_t tk = pk[i - 1];
			uint64_t tc = pc[i - 1];
			pk[i - 1] = pk[j], pc[i - 1] = pc[j];
			pk[j] = tk, pc[j] = tc;
		}
		long m = gx_place(pk, pc, nk, ns, bound, b, (size_t)n);
		T_REQUIRE(m == n);
		T_REQUIRE(same_slices(a, b, n));
	}
}

/* A known small case, worked by hand: sizes 10, 7, 5, 5, 3 (keys 4, 2, 9, 1,
 * 0) and one split tensor of 11 (key 3) on 2 servers with bound 10.
 * Split first: server 0 gets 6, server 1 gets 5. Then 10 (key 4) -> 1 (15),
 * 7 (key 2) -> 0 (13), 5 (key 1, lower key first) -> 0 (18), 5 (key 9) -> 1
 * (20), 3 (key 0) -> 0 (21). */
static void test_worked_example(void)
{
	const uint32_t keys[] = { 4, 2, 9, 1, 0, 3 };
	const uint64_t counts[] = { 10, 7, 5, 5, 3, 11 };
	gx_slice s[12];
	long n = gx_place(keys, counts, 6, 2, 10, s, 12);
	T_REQUIRE(n == 7);
	const uint32_t k[] = { 0, 1, 2, 3, 3, 4, 9 }, blk[] = { 0, 0, 0, 0, 1, 0, 0 },
		       srv[] = { 0, 0, 0, 0, 1, 1, 1 };
	const uint64_t off[] = { 0, 0, 0, 0, 6, 0, 0 }, cnt[] = { 3, 5, 7, 6, 5, 10, 5 };
	for (int j = 0; j < 7; j++) {
		T_EQ(s[j].key, k[j]);
		T_EQ(s[j].block, blk[j]);
		T_EQ(s[j].offset, off[j]);
		T_EQ(s[j].count, cnt[j]);
		T_EQ(s[j].server, srv[j]);
	}
}

/* One server: everything whole on server 0 (a split into one slice is the
 * whole tensor: block 0, offset 0). */
static void test_one_server(void)
{
	const uint32_t keys[] = { 7, 3, 5 };
	const uint64_t counts[] = { 100, 5000000, 1 };
	gx_slice s[3];
	long n = gx_place(keys, counts, 3, 1, GX_DEFAULT_SPLIT_BOUND, s, 3);
	T_REQUIRE(n == 3);
	for (int j = 0; j < 3; j++) {
		T_EQ(s[j].server, 0);
		T_EQ(s[j].block, 0);
		T_EQ(s[j].offset, 0);
	}
	T_EQ(s[0].key, 3);
	T_EQ(s[0].count, 5000000);
	n = gx_place(keys, counts, 3, 1, 0, s, 3); /* everything "split" */
	T_EQ(n, 3);
	T_EQ(gx_place_bound(3, 1), 3);
}

/* A tensor over the bound but smaller than the server count is cut into
 * one-element slices only (no empty slices). */
static void test_tiny_split(void)
{
	const uint32_t keys[] = { 1 };
	const uint64_t counts[] = { 3 };
	gx_slice s[8];
	uint64_t load[5];
	long n = gx_place(keys, counts, 1, 5, 2, s, 8);
	T_EQ(n, 3);
	T_ASSERT(check_place(keys, counts, 1, 5, 2, s, n, load) == 1);
	/* An exact split: 12 on 3 servers is 4, 4, 4; 14 is 5, 5, 4. */
	const uint64_t c2[] = { 14 };
	n = gx_place(keys, c2, 1, 3, 10, s, 8);
	T_REQUIRE(n == 3);
	T_EQ(s[0].count, 5);
	T_EQ(s[1].count, 5);
	T_EQ(s[2].count, 4);
	T_EQ(s[2].offset, 10);
}

static void test_validation(void)
{
	const uint32_t keys[] = { 1, 2, 1 };
	const uint64_t counts[] = { 5, 6, 7 }, zero[] = { 5, 0, 7 };
	gx_slice s[16];
	T_EQ(gx_place(keys, counts, 3, 2, 100, s, 16), GX_EINVAL); /* duplicate key 1 */
	T_EQ(gx_place(keys, zero, 2, 2, 100, s, 16), GX_EINVAL);   /* zero count */
	T_EQ(gx_place(keys, counts, 2, 0, 100, s, 16), GX_EINVAL);
	T_EQ(gx_place(keys, counts, 2, -3, 100, s, 16), GX_EINVAL);
	T_EQ(gx_place(NULL, counts, 2, 2, 100, s, 16), GX_EINVAL);
	T_EQ(gx_place(keys, NULL, 2, 2, 100, s, 16), GX_EINVAL);
	T_EQ(gx_place(keys, counts, 2, 2, 100, NULL, 16), GX_EINVAL);
	/* cap: exactly what is needed works, one less does not and leaves out alone. */
	T_EQ(gx_place(keys, counts, 2, 2, 100, s, 2), 2);
	T_EQ(gx_place(keys, counts, 2, 2, 5, s, 3), 3); /* key 2 (6 > 5) split in 2 */
	memset(s, 0xab, sizeof s);
	T_EQ(gx_place(keys, counts, 2, 2, 5, s, 2), GX_EINVAL);
	T_EQ(s[0].key, 0xabababab);
	T_EQ(gx_place(keys, counts, 2, 2, 100, s, 0), GX_EINVAL);
	/* Totals that cannot be summed. */
	const uint64_t huge[] = { UINT64_MAX, 2 };
	T_EQ(gx_place(keys, huge, 2, 2, UINT64_MAX, s, 16), GX_EINVAL);
	/* Nothing to place. */
	T_EQ(gx_place(NULL, NULL, 0, 2, 100, NULL, 0), 0);
	T_EQ(gx_place_bound(10, 3), 30);
	T_EQ(gx_place_bound(10, 0), 10);
	T_ASSERT(gx_place_bound(SIZE_MAX / 2, 4) == SIZE_MAX);
}

/* A small CNN (conv 5x5x1x16 + bias, conv 5x5x16x32 + bias, dense 512x256 +
 * bias, dense 256x128 + bias, dense 128x10 + bias): byte imbalance of the
 * placement against the naive key mod S. */
static void cnn_case(int ns)
{
	const uint64_t counts[] = { 416, 16, 12832, 32, 131328, 256, 32896, 128, 1290, 10 };
	enum { NK = sizeof counts / sizeof counts[0] };
	uint32_t keys[NK];
	uint64_t load[MAXS] = { 0 }, naive[MAXS] = { 0 }, largest = 0, total = 0;
	for (uint32_t i = 0; i < NK; i++) {
		keys[i] = i;
		naive[i % (uint32_t)ns] += counts[i];
		largest = counts[i] > largest ? counts[i] : largest;
		total += counts[i];
	}
	gx_slice s[NK * MAXS];
	/* Default bound: nothing is split, the largest tensor dominates. */
	long n = gx_place(keys, counts, NK, ns, GX_DEFAULT_SPLIT_BOUND, s, NK * MAXS);
	T_REQUIRE(n == NK);
	T_REQUIRE(check_place(keys, counts, NK, ns, GX_DEFAULT_SPLIT_BOUND, s, n, load) == 0);
	uint64_t greedy = spread(load, ns), mod = spread(naive, ns);
	T_ASSERT(greedy <= largest);
	T_ASSERT(greedy <= mod);
	/* A bound of 16384 splits the two largest dense layers. */
	uint64_t load2[MAXS];
	long n2 = gx_place(keys, counts, NK, ns, 16384, s, NK * MAXS);
	int nsplit = check_place(keys, counts, NK, ns, 16384, s, n2, load2);
	T_REQUIRE(nsplit == 2);
	uint64_t split = spread(load2, ns);
	T_ASSERT(split <= 16384);
	T_ASSERT(split <= greedy);
	printf("# cnn on %d servers (%llu elements): bytes imbalance (max - min) key mod S %llu, "
	       "greedy %llu, greedy with split bound 16384 %llu\n",
	       ns, (unsigned long long)total, (unsigned long long)mod * 4, (unsigned long long)greedy * 4,
	       (unsigned long long)split * 4);
}

/* Blocks, worked by hand: keys 1 (10), 2 (3), 3 (9) in blocks of 4 on 2
 * servers, split bound 5. Key 1 has 3 blocks, split in runs of 2 and 1
 * (server 0: 8, server 1: 2); key 3 likewise (server 0: 16, server 1: 3);
 * key 2 (one block, under the bound) goes whole to server 1. */
static void test_blocks_worked(void)
{
	const uint32_t keys[] = { 3, 1, 2 };
	const uint64_t counts[] = { 9, 10, 3 };
	gx_slice s[8];
	T_EQ(gx_place_blocks_bound(counts, 3, 2, 4), 7);
	long n = gx_place_blocks(keys, counts, 3, 2, 5, 4, s, 8);
	T_REQUIRE(n == 7);
	const uint32_t k[] = { 1, 1, 1, 2, 3, 3, 3 }, blk[] = { 0, 1, 2, 0, 0, 1, 2 },
		       srv[] = { 0, 0, 1, 1, 0, 0, 1 };
	const uint64_t off[] = { 0, 4, 8, 0, 0, 4, 8 }, cnt[] = { 4, 4, 2, 3, 4, 4, 1 };
	for (int j = 0; j < 7; j++) {
		T_EQ(s[j].key, k[j]);
		T_EQ(s[j].block, blk[j]);
		T_EQ(s[j].offset, off[j]);
		T_EQ(s[j].count, cnt[j]);
		T_EQ(s[j].server, srv[j]);
	}
	/* cap one short: nothing written */
	memset(s, 0xab, sizeof s);
	T_EQ(gx_place_blocks(keys, counts, 3, 2, 5, 4, s, 6), GX_EINVAL);
	T_EQ(s[0].key, 0xabababab);
	/* more blocks than block numbers */
	const uint64_t big[] = { (uint64_t)UINT32_MAX + 2 };
	T_EQ(gx_place_blocks(keys, big, 1, 1, UINT64_MAX, 1, s, 8), GX_EINVAL);
}

/* Blocks at random: block 0 is gx_place; with a block every tensor is its
 * ceil(count / block) blocks in order, block b at b * block; a whole
 * tensor's blocks share a server; a split one's servers run 0, 1, ... in
 * near-equal runs; and the servers' loads are those of gx_place at the
 * granularity of blocks (the same whole-tensor choices where nothing is
 * split). */
static void test_blocks_random(void)
{
	gx_rng r;
	gx_rng_seed(&r, 7);
	enum { CAP = 4096 };
	static gx_slice a[CAP], b[CAP];
	uint32_t keys[16];
	uint64_t counts[16];
	for (int iter = 0; iter < 500; iter++) {
		size_t nk = 1 + gx_rng_below(&r, 16);
		int ns = 1 + (int)gx_rng_below(&r, 4);
		uint64_t bound = 1 + gx_rng_below(&r, 3000), blk = 20 + gx_rng_below(&r, 700); /* at most 4000 blocks */
		for (size_t i = 0; i < nk; i++) {
			keys[i] = (uint32_t)(i * 7 + gx_rng_below(&r, 7));
			counts[i] = 1 + gx_rng_below(&r, 5000);
		}
		long n0 = gx_place_blocks(keys, counts, nk, ns, bound, 0, a, CAP);
		long m0 = gx_place(keys, counts, nk, ns, bound, b, CAP);
		T_REQUIRE(n0 == m0 && n0 > 0);
		T_REQUIRE(same_slices(a, b, n0));
		long n = gx_place_blocks(keys, counts, nk, ns, bound, blk, a, CAP);
		T_REQUIRE(n > 0 && (size_t)n == gx_place_blocks_bound(counts, nk, ns, blk));
		long j = 0;
		int bad = 0;
		for (size_t i = 0; i < nk; i++) { /* keys are increasing */
			uint64_t nb = (counts[i] + blk - 1) / blk, runs = 0;
			uint32_t prev = 0;
			for (uint64_t u = 0; u < nb; u++, j++) {
				const gx_slice *x = &a[j];
				uint64_t want = counts[i] - u * blk < blk ? counts[i] - u * blk : blk;
				if (x->key != keys[i] || x->block != u || x->offset != u * blk ||
				    x->count != want || x->server >= (uint32_t)ns)
					bad = 1;
				if (u == 0 || x->server != prev)
					runs++;
				if (u > 0 && counts[i] > bound && x->server != prev && x->server != prev + 1)
					bad = 1;
				prev = x->server;
			}
			uint64_t want_runs = counts[i] <= bound ? 1 : nb < (uint64_t)ns ? nb : (uint64_t)ns;
			if (runs != want_runs)
				bad = 1;
		}
		T_ASSERT(!bad && j == n);
	}
}

static void test_cnn_2(void) { cnn_case(2); }
static void test_cnn_3(void) { cnn_case(3); }

int main(void)
{
	T_RUN(test_worked_example);
	T_RUN(test_one_server);
	T_RUN(test_tiny_split);
	T_RUN(test_validation);
	T_RUN(test_random);
	T_RUN(test_blocks_worked);
	T_RUN(test_blocks_random);
	T_RUN(test_cnn_2);
	T_RUN(test_cnn_3);
	T_DONE();
}
