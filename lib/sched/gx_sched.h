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

/* Where a slice of a tensor lives among several global servers (MultiGPS). */
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
#define GX_DEFAULT_SPLIT_BOUND (1u << 20) /* elements */

#ifdef __cplusplus
}
#endif
#endif
