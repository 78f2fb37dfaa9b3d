/*
 * codec_internal.h — library-private pieces of the codec layer shared by
 * lib/codec/sparse.c, lib/codec/codec.c, lib/codec/ef_state.c and the unit
 * tests. Not installed, not part of the public API: names and signatures may
 * change freely.
 */
#ifndef GX_CODEC_INTERNAL_H
#define GX_CODEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gx_codec.h"

/* Payload bulk data (float32 / binary16 values, raw u32 indices) is copied
 * with memcpy, which is only correct on a little-endian host. geomx targets
 * x86_64; refuse to build elsewhere rather than put wrong bytes on the wire. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "geomx payload code assumes a little-endian host"
#endif

/* Fixed part of a sparse payload: u8 index_enc, u8 0, u16 0, u32 nnz,
 * u32 index_bytes (docs/codecs.md). */
#define GX_SPARSE_HDR_SIZE 12

/* Deltas are bit-packed in blocks of this many (one width byte per block). */
#define GX_BITPACK_BLOCK 128

/* The fixed fields of a sparse payload, after gx_sparse_parse checked them. */
typedef struct gx_sparse_info {
	int enc;              /* enum gx_index_enc, never AUTO */
	uint32_t nnz;         /* entries */
	uint32_t index_bytes; /* bytes of the index encoding */
} gx_sparse_info;

/* Bytes one value takes for a sparse value codec (4 or 2), 0 for others. */
static inline size_t gx_sparse_value_size(int value_codec)
{
	return value_codec == GX_CODEC_SPARSE_F32 ? 4 : value_codec == GX_CODEC_SPARSE_F16 ? 2 : 0;
}

/* Worst-case gx_sparse_pack size for k of n elements in one encoding enc
 * (AUTO: never more than U32 since AUTO picks the smallest). SIZE_MAX when
 * enc or value_codec is unknown. */
size_t gx_sparse_bound_enc(size_t k, uint64_t n, int value_codec, int enc);

/* Checks the fixed fields of a sparse payload of len bytes that encodes
 * count elements: known encoding, reserved bytes zero, nnz <= count, the
 * index size plausible for the encoding and the total length exact. Fills
 * *info. Returns 0, GX_ELENGTH, GX_ERESERVED or GX_ECORRUPT. */
int gx_sparse_parse(const uint8_t *p, size_t len, uint64_t count, int value_codec,
		    gx_sparse_info *info);

/* Decodes a sparse payload into dst (count floats): overwrite (zeros where
 * nothing is sent) or, with accumulate, add. idx_scratch must hold
 * info.nnz entries of gx_sparse_parse (may be NULL when nnz is 0); it
 * receives the decoded indices. Every index is checked (< count, strictly
 * increasing, encoding well formed) before dst is touched, so on error dst
 * is unchanged. dst == NULL decodes and checks the indices only (tests and
 * measurements use this with counts too large to allocate). Returns 0 or a
 * negative gx_error. */
int gx_sparse_unpack(const uint8_t *p, size_t len, uint64_t count, int value_codec,
		     uint32_t *idx_scratch, float *dst, int accumulate);

/* dst[i] += the little-endian float32 at src + 4i (any alignment), i < n;
 * first: dst is not read, dst[i] = 0.0f + that float (a sum's first term,
 * with the bits adding it to zeros gives). */
void gx_add_f32_bytes(float *dst, const uint8_t *src, size_t n, int first);

/* Adds (accumulate) or stores n binary16 values read from src (any
 * alignment, little-endian) to/into dst. Used by the dense F16 decoder and
 * the sparse F16 values. */
void gx_f16_bytes_to_f32(const uint8_t *src, float *dst, size_t n, int accumulate);

#endif
