/*
 * sched/gx_sched.h — scheduling decisions: where slices of tensors live
 * among several global servers.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_SCHED_H
#define GX_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include "../base/gx_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- placement */

/* Where a slice of a tensor lives among several global servers (MultiGPS),
 * and the blocks a tensor travels in. */
typedef struct gx_slice {
	uint32_t key;    /* tensor key */
	uint32_t block;  /* slice index within the key, 0.. */
	uint64_t offset; /* first element of the slice in the tensor */
	uint64_t count;  /* elements in the slice */
	uint32_t server; /* server index, 0..nservers-1 */
} gx_slice;

/* Places nkeys tensors (keys[i] with counts[i] elements) on nservers servers
 * so that bytes are balanced: a tensor of more than split_bound elements is
 * cut into nservers near-equal contiguous slices, slice s on server s; the
 * others go whole, largest first (ties: lower key), each to the server with
 * the fewest elements so far (ties: lower index). Deterministic, so every
 * process computes the same placement. Writes the slices to out sorted by
 * (key, block) and returns their number, or GX_EINVAL (duplicate key, zero
 * count, nservers < 1, cap too small; nothing is written then) or GX_ENOMEM.
 * A tensor over the bound with fewer elements than servers becomes
 * min(nservers, count) slices, so no slice is empty. */
long gx_place(const uint32_t *keys, const uint64_t *counts, size_t nkeys, int nservers,
	      uint64_t split_bound, gx_slice *out, size_t cap);
/* Slices gx_place can write at most. */
size_t gx_place_bound(size_t nkeys, int nservers);
/* As gx_place, with every tensor cut into blocks of at most block elements
 * (the last one shorter; block 0: no blocks, exactly gx_place): block b is
 * elements [b * block, ...) of its tensor, a slice of its own with block
 * number b, so that every hop can pass one block on while the next arrives.
 * Servers are placed as by gx_place at the granularity of blocks: a tensor
 * over split_bound is cut into min(nservers, blocks) near-equal contiguous
 * runs of blocks, run j on server j; the other tensors go whole, all their
 * blocks on one server. A tensor of more than UINT32_MAX blocks is
 * GX_EINVAL. */
long gx_place_blocks(const uint32_t *keys, const uint64_t *counts, size_t nkeys, int nservers,
		     uint64_t split_bound, uint64_t block, gx_slice *out, size_t cap);
/* Slices gx_place_blocks can write at most (SIZE_MAX on overflow). */
size_t gx_place_blocks_bound(const uint64_t *counts, size_t nkeys, int nservers,
			     uint64_t block);
#define GX_DEFAULT_SPLIT_BOUND (1u << 20) /* elements */

#ifdef __cplusplus
}
#endif
#endif
