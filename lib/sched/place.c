/*
 * place.c — MultiGPS placement: which global server holds which slice of
 * which tensor, computed identically by every process from the key table;
 * and blocks: every tensor cut into pieces of at most B elements, so that
 * each hop passes a piece on while the next arrives.
 *
 * A tensor is a row of units: its elements, or with blocks of B its
 * ceil(count / B) blocks (the last one shorter). Two passes:
 *  1. each tensor of more than split_bound elements is cut into
 *     s = min(nservers, units) near-equal contiguous runs of units (the
 *     first units % s runs one unit longer), run j on server j; those
 *     elements are charged to the servers' loads first;
 *  2. the other tensors go whole, largest first (ties: lower key), each to
 *     the server with the fewest elements so far (ties: lower index) —
 *     greedy longest-processing-time, so they fill around the split load.
 * Without blocks a run is one slice; with blocks every block is a slice of
 * its own, numbered from 0 along the tensor, on its run's server. Only
 * keys and counts decide the outcome (never the input order), and the
 * result is written sorted by (key, block). docs/optimizers.md has the
 * reasoning and the balance bound.
 */
#include <limits.h>
#include <stdlib.h>

#include "gx_sched.h"

struct tensor {
	uint32_t key;
	uint32_t server; /* whole tensors: where it went */
	uint64_t count;
};

static int by_key(const void *pa, const void *pb)
{
	const struct tensor *a = pa, *b = pb;
	return (a->key > b->key) - (a->key < b->key);
}

/* Largest first, then lower key (keys are unique, so the order is total and
 * qsort's instability cannot show). */
static int by_size(const void *pa, const void *pb)
{
	const struct tensor *a = *(struct tensor *const *)pa, *b = *(struct tensor *const *)pb;
	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return (a->key > b->key) - (a->key < b->key);
}

size_t gx_place_bound(size_t nkeys, int nservers)
{
	size_t s = nservers > 1 ? (size_t)nservers : 1;
	return nkeys > SIZE_MAX / s ? SIZE_MAX : nkeys * s;
}

/* Units of a tensor of count elements: blocks of block, or elements. */
static uint64_t nunits(uint64_t count, uint64_t block)
{
	return block ? count / block + (count % block != 0) : count;
}

size_t gx_place_blocks_bound(const uint64_t *counts, size_t nkeys, int nservers,
			     uint64_t block)
{
	if (!block)
		return gx_place_bound(nkeys, nservers);
	size_t n = 0;
	for (size_t i = 0; counts && i < nkeys; i++) {
		uint64_t u = nunits(counts[i], block);
		if (u > SIZE_MAX - n)
			return SIZE_MAX;
		n += (size_t)u;
	}
	return n;
}

/* Runs a tensor of count elements is cut into over the servers. */
static uint64_t nruns(uint64_t count, int nservers, uint64_t split_bound, uint64_t block)
{
	if (count <= split_bound)
		return 1;
	uint64_t u = nunits(count, block);
	return u < (uint64_t)nservers ? u : (uint64_t)nservers;
}

/* Slices a tensor makes: its blocks, or its runs. */
static uint64_t nslices(uint64_t count, int nservers, uint64_t split_bound, uint64_t block)
{
	return block ? nunits(count, block) : nruns(count, nservers, split_bound, block);
}

/* Units [*u0, *u1) of run j of s over u units. */
static void run_units(uint64_t u, uint64_t s, uint64_t j, uint64_t *u0, uint64_t *u1)
{
	uint64_t base = u / s, rem = u % s;
	*u0 = j * base + (j < rem ? j : rem);
	*u1 = *u0 + base + (j < rem);
}

/* The first element of unit (or the tensor's end, for its last unit + 1). */
static uint64_t unit_elem(uint64_t unit, uint64_t count, uint64_t block)
{
	if (!block)
		return unit;
	return unit > count / block ? count : unit * block; /* no overflow below */
}

/* Writes the slices of units [u0, u1) of tensor t on server to out. */
static size_t put_run(gx_slice *out, const struct tensor *t, uint64_t u0, uint64_t u1,
		      uint32_t run, uint32_t server, uint64_t block)
{
	size_t k = 0;
	if (!block) {
		out[k++] = (gx_slice){ .key = t->key, .block = run, .offset = u0,
				       .count = u1 - u0, .server = server };
		return k;
	}
	for (uint64_t u = u0; u < u1; u++) {
		uint64_t a = unit_elem(u, t->count, block), b = unit_elem(u + 1, t->count, block);
		out[k++] = (gx_slice){ .key = t->key, .block = (uint32_t)u, .offset = a,
				       .count = b - a, .server = server };
	}
	return k;
}

long gx_place(const uint32_t *keys, const uint64_t *counts, size_t nkeys, int nservers,
	      uint64_t split_bound, gx_slice *out, size_t cap)
{
	return gx_place_blocks(keys, counts, nkeys, nservers, split_bound, 0, out, cap);
}

long gx_place_blocks(const uint32_t *keys, const uint64_t *counts, size_t nkeys, int nservers,
		     uint64_t split_bound, uint64_t block, gx_slice *out, size_t cap)
{
	if (nservers < 1 || (nkeys && (!keys || !counts)) || nkeys > (size_t)LONG_MAX / (size_t)nservers)
		return GX_EINVAL;
	if (nkeys == 0)
		return 0;
	if (nkeys > SIZE_MAX / sizeof(struct tensor))
		return GX_ENOMEM;
	struct tensor *t = malloc(nkeys * sizeof *t);
	struct tensor **whole = malloc(nkeys * sizeof *whole);
	uint64_t *load = calloc((size_t)nservers, sizeof *load);
	long ret = GX_ENOMEM;
	if (!t || !whole || !load)
		goto out;

	ret = GX_EINVAL;
	for (size_t i = 0; i < nkeys; i++) {
		if (counts[i] == 0)
			goto out;
		t[i].key = keys[i];
		t[i].count = counts[i];
		t[i].server = 0;
	}
	qsort(t, nkeys, sizeof *t, by_key);
	size_t need = 0, nwhole = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < nkeys; i++) {
		if (i > 0 && t[i].key == t[i - 1].key)
			goto out;
		if (t[i].count > UINT64_MAX - total) /* loads could not be summed */
			goto out;
		total += t[i].count;
		uint64_t m = nslices(t[i].count, nservers, split_bound, block);
		if (m > UINT32_MAX || m > (uint64_t)(LONG_MAX - need)) /* block numbers, the result */
			goto out;
		need += (size_t)m;
	}
	if (!out || cap < need)
		goto out;

	/* Pass 1: split tensors, charged to every server first. */
	for (size_t i = 0; i < nkeys; i++) {
		uint64_t c = t[i].count, s = nruns(c, nservers, split_bound, block);
		if (c <= split_bound) {
			whole[nwhole++] = &t[i];
			continue;
		}
		uint64_t u = nunits(c, block);
		for (uint64_t j = 0; j < s; j++) {
			uint64_t u0, u1;
			run_units(u, s, j, &u0, &u1);
			load[j] += unit_elem(u1, c, block) - unit_elem(u0, c, block);
		}
	}
	/* Pass 2: whole tensors, largest first, to the least-loaded server. */
	qsort(whole, nwhole, sizeof *whole, by_size);
	for (size_t i = 0; i < nwhole; i++) {
		int best = 0;
		for (int s = 1; s < nservers; s++)
			if (load[s] < load[best])
				best = s;
		whole[i]->server = (uint32_t)best;
		load[best] += whole[i]->count;
	}

	/* Output in key order, blocks in order. */
	size_t k = 0;
	for (size_t i = 0; i < nkeys; i++) {
		uint64_t c = t[i].count, u = nunits(c, block);
		if (c <= split_bound) {
			k += put_run(out + k, &t[i], 0, u, 0, t[i].server, block);
			continue;
		}
		uint64_t s = nruns(c, nservers, split_bound, block);
		for (uint64_t j = 0; j < s; j++) {
			uint64_t u0, u1;
			run_units(u, s, j, &u0, &u1);
			k += put_run(out + k, &t[i], u0, u1, (uint32_t)j, (uint32_t)j, block);
		}
	}
	ret = (long)k;
out:
	free(t);
	free(whole);
	free(load);
	return ret;
}
