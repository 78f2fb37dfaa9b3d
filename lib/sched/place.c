/*
 * place.c — MultiGPS placement: which global server holds which slice of
 * which tensor, computed identically by every process from the key table.
 *
 * Two passes over the tensors:
 *  1. each tensor of more than split_bound elements is cut into
 *     s = min(nservers, count) near-equal contiguous slices (the first
 *     count % s slices one element longer), slice j on server j; those
 *     elements are charged to the servers' loads first;
 *  2. the other tensors go whole, largest first (ties: lower key), each to
 *     the server with the fewest elements so far (ties: lower index) —
 *     greedy longest-processing-time, so they fill around the split load.
 * Only keys and counts decide the outcome (never the input order), and the
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

/* Slices a tensor of count elements makes. */
static uint64_t nslices(uint64_t count, int nservers, uint64_t split_bound)
{
	if (count <= split_bound)
		return 1;
	return count < (uint64_t)nservers ? count : (uint64_t)nservers;
}

long gx_place(const uint32_t *keys, const uint64_t *counts, size_t nkeys, int nservers,
	      uint64_t split_bound, gx_slice *out, size_t cap)
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
		need += (size_t)nslices(t[i].count, nservers, split_bound);
	}
	if (!out || cap < need)
		goto out;

	/* Pass 1: split tensors, charged to every server first. */
	for (size_t i = 0; i < nkeys; i++) {
		uint64_t s = nslices(t[i].count, nservers, split_bound);
		if (t[i].count <= split_bound) {
			whole[nwhole++] = &t[i];
			continue;
		}
		for (uint64_t j = 0; j < s; j++)
			load[j] += t[i].count / s + (j < t[i].count % s);
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
		uint64_t c = t[i].count;
		if (c <= split_bound) {
			out[k++] = (gx_slice){ .key = t[i].key, .block = 0, .offset = 0, .count = c,
					       .server = t[i].server };
			continue;
		}
		uint64_t s = nslices(c, nservers, split_bound), base = c / s, rem = c % s;
		for (uint64_t j = 0; j < s; j++)
			out[k++] = (gx_slice){ .key = t[i].key,
					       .block = (uint32_t)j,
					       .offset = j * base + (j < rem ? j : rem),
					       .count = base + (j < rem),
					       .server = (uint32_t)j };
	}
	ret = (long)k;
out:
	free(t);
	free(whole);
	free(load);
	return ret;
}
