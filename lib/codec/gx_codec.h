/*
 * codec/gx_codec.h — how tensors are coded on the wire: binary16, top-k
 * selection with error feedback, the codec handle, sparse packing, link
 * codec names.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_CODEC_H
#define GX_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "../wire/gx_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* IEEE binary16 conversion, round to nearest even, correct for subnormals,
 * infinities and NaN (NaN stays NaN, quiet). Uses F16C when the CPU has it
 * (decided once at run time), scalar code otherwise. Thread-safe. */
void gx_f32_to_f16(const float *src, uint16_t *dst, size_t n);
void gx_f16_to_f32(const uint16_t *src, float *dst, size_t n);
/* Nonzero when the F16C path is in use. */
int gx_f16_accelerated(void);

/* ------------------------------------------------------------ sparsification */

/* Exact top-k by magnitude: writes the indices of the k elements of x with the
 * largest |x| to idx, in increasing index order (ties at the k-th magnitude
 * broken by lower index). Selection, not a sort: O(n) expected. NaNs are
 * never selected ahead of numbers. Returns the number written (min(k, n)) or
 * a negative gx_error (GX_EINVAL for n > 2^32, GX_ENOMEM). Allocates O(k)
 * scratch inside (a radix histogram of the magnitudes finds the k-th one
 * without copying x); up to n floats for small n or non-finite input. */
long gx_topk_exact(const float *x, size_t n, size_t k, uint32_t *idx);

/* Sampled-threshold top-k (Deep Gradient Compression): estimates the k-th
 * magnitude from a fresh random sample drawn from rng, selects the elements
 * at or above it in one pass, and trims to at most k by exact selection among
 * the candidates. Writes at most k indices in increasing order; returns the
 * number written (usually k, fewer only when the sample misjudged and a second
 * pass could not find k) or a negative gx_error. */
long gx_topk_sampled(const float *x, size_t n, size_t k, gx_rng *rng, uint32_t *idx);

/* Error feedback for one tensor: the residual of what was not sent is kept
 * and added to the next gradient; with momentum correction (DGC) a velocity
 * u = m*u + g is accumulated instead of g, and both are cleared where sent. */
typedef struct gx_ef gx_ef;

/* A state for n elements, zeroed. momentum 0 disables momentum correction.
 * NULL on ENOMEM, n == 0 or a non-finite momentum. */
gx_ef *gx_ef_create(uint64_t n, float momentum);
void gx_ef_free(gx_ef *ef);
uint64_t gx_ef_count(const gx_ef *ef);
float gx_ef_momentum(const gx_ef *ef);
/* v += g (or u = m*u + g; v += u). Returns the accumulated vector v. */
float *gx_ef_accumulate(gx_ef *ef, const float *g);
/* The residual v and velocity u (NULL without momentum); n elements each,
 * owned by ef, writable (to restore persisted state). */
float *gx_ef_residual(gx_ef *ef);
float *gx_ef_velocity(gx_ef *ef);
/* After sending: for each i in idx[0..k), v[i] -= sent[i-th] (sent == NULL
 * means the exact value was sent, v[i] = 0) and u[i] = 0. */
void gx_ef_commit_sparse(gx_ef *ef, const uint32_t *idx, const float *sent, size_t k);
/* After sending all n values (dense lossy codec): v -= sent. The velocity is
 * left alone: clearing it every round would switch momentum correction off. */
void gx_ef_commit_dense(gx_ef *ef, const float *sent);

/* ------------------------------------------------------------------- codecs */

/* Index encodings of a sparse payload (docs/codecs.md). */
enum gx_index_enc {
	GX_IDX_AUTO = 0,    /* encoder picks the smallest of the below */
	GX_IDX_U32 = 1,     /* raw little-endian uint32 */
	GX_IDX_VARINT = 2,  /* deltas as LEB128 varints */
	GX_IDX_BITPACK = 3, /* deltas bit-packed in blocks of 128 with a per-block width */
	GX_IDX_BITMAP = 4,  /* one bit per element */
	GX_IDX__MAX = 5
};

/* What a codec handle produces. */
typedef struct gx_codec_opts {
	int codec;           /* enum gx_wire_codec for every tensor, or GX_CODEC_MPQ below */
	double topk_ratio;   /* sparse: fraction of elements kept, (0, 1] */
	int exact;           /* sparse: 1 exact selection, 0 sampled threshold */
	uint64_t mpq_bound;  /* MPQ: count < bound -> dense F16, else SPARSE_F32 */
	int zstd_level;      /* 0 no zstd stage, else a zstd level, ZSTD_minCLevel()..ZSTD_maxCLevel() */
	int index_enc;       /* enum gx_index_enc */
	int crc;             /* nonzero: set GX_FF_CRC and payload_crc */
	uint64_t seed;       /* seeds sampled selection */
} gx_codec_opts;

#define GX_CODEC_MPQ 100 /* pseudo-codec: mixed precision policy */
#define GX_DEFAULT_TOPK 0.01
#define GX_DEFAULT_MPQ_BOUND 1024 /* elements */
#define GX_DEFAULT_ZSTD_LEVEL 3
#define GX_DEFAULT_MOMENTUM 0.9f

/* Fills *o with: dense F32, topk 0.01 sampled, MPQ bound 1024, no zstd,
 * auto index encoding, no crc, seed 1. */
void gx_codec_opts_default(gx_codec_opts *o);

typedef struct gx_codec gx_codec;

/* A codec handle (rng, scratch, zstd contexts). NULL with *err set on bad
 * options or ENOMEM (err may be NULL). */
gx_codec *gx_codec_create(const gx_codec_opts *o, int *err);
void gx_codec_free(gx_codec *c);

/* The wire codec this handle uses for a tensor of n elements. */
int gx_codec_choose(const gx_codec *c, uint64_t n);

/* Worst-case payload bytes for encoding n elements with this handle. */
size_t gx_codec_bound(const gx_codec *c, uint64_t n);

/* Encodes x[0..n) into out (cap bytes, at least gx_codec_bound). Sets h's
 * codec, count, flags (ZSTD/CRC), payload_len, raw_len, payload_crc; leaves
 * the other fields to the caller. With ef (n elements), x is first added to
 * the error-feedback state, the accumulated vector is encoded, and what was
 * sent is subtracted from it (so residual + sent == accumulated, exactly for
 * F32 values). Returns 0 or a negative gx_error. */
int gx_codec_encode(gx_codec *c, const float *x, uint64_t n, gx_ef *ef, gx_frame_hdr *h,
		    uint8_t *out, size_t cap);

/* Every nonzero element of x, exactly: SPARSE_F32 (the handle's index
 * encoding) when that is smaller than dense, else dense F32 (a copy of x).
 * Fills h's coding fields (codec, count, payload_len, raw_len; no zstd, no
 * CRC) and writes the payload to out, which holds cap >= 4n bytes. 0,
 * GX_EINVAL, GX_ETOOBIG (cap), GX_ENOMEM. Used where a sum of sparse
 * contributions goes back as it is (the global's aggregate under a coded
 * WAN). */
int gx_codec_encode_nonzero(gx_codec *c, const float *x, uint64_t n, gx_frame_hdr *h,
			    uint8_t *out, size_t cap);
/* Decodes the payload of a validated header into dst (h->count floats).
 * accumulate == 0: dst is overwritten (zeros where a sparse payload has
 * nothing); GX_DECODE_FIRST: dst becomes 0.0f + each decoded value, the
 * same bits as zeroing dst and adding (a -0.0 becomes +0.0), in one pass
 * where the codec allows (F32), so a sum need not be cleared before its
 * first term; any other nonzero value: decoded values are added to dst.
 * An F32 payload that lies at dst already (received there:
 * gx_decoder_place) is left as it is. Checks every index and length;
 * returns 0 or a negative gx_error, and on error dst is unchanged. The
 * payload CRC is not re-verified here (the frame decoder did it). Decoding
 * does not depend on the handle's options. */
#define GX_DECODE_FIRST 2
int gx_codec_decode(gx_codec *c, const gx_frame_hdr *h, const uint8_t *payload, float *dst,
		    int accumulate);
/* dst[i] += src[i], i < n; first: dst[i] = 0.0f + src[i] (a sum's first
 * term, with the bits adding it to zeros gives, as GX_DECODE_FIRST); src
 * may be dst. */
void gx_codec_fold_f32(float *dst, const float *src, uint64_t n, int first);

/* Sparse payload building blocks (used by gx_codec_*, exposed for tools and
 * benchmarks). Encodes k strictly increasing indices (< n) and their values
 * (value_codec GX_CODEC_SPARSE_F32 or _F16) with index encoding enc (AUTO
 * picks the smallest); returns bytes written or a negative gx_error. */
long gx_sparse_pack(const uint32_t *idx, const float *val, size_t k, uint64_t n, int value_codec,
		    int enc, uint8_t *out, size_t cap);
/* Worst-case bytes of gx_sparse_pack for k of n elements. */
size_t gx_sparse_bound(size_t k, uint64_t n, int value_codec);
/* Bytes the index part alone takes in encoding enc (for measurements). */
size_t gx_sparse_index_size(const uint32_t *idx, size_t k, uint64_t n, int enc);

/* ------------------------------------------------ error-feedback state files */

/* A state file persists gx_ef states (docs/codecs.md, "Error-feedback state
 * files"): a file of GX_FT_STATE frames, for each (key, block) the residual
 * on channel 0 and, when the state has momentum, the velocity on channel 1,
 * each dense F32 with its payload checksum (GX_FF_CRC). geomx-sparsify
 * --residual and geomx-ps --ef-save write it. */

/* Writes the frames of ef for (key, block) to fd (blocking), the residual and
 * then the velocity if ef has one. Returns 0, GX_EINVAL (ef NULL),
 * GX_ETOOBIG (a payload over 4 GiB - 1) or GX_EIO with errno set; after a
 * failure part of the frames may have been written. ef is only read. */
int gx_ef_state_write(int fd, uint32_t key, uint32_t block, const gx_ef *ef);
/* One frame of such a file: n floats of v as channel (0 residual, 1
 * velocity) of (key, block), for a state kept elsewhere than a gx_ef (DGT's
 * residual). Returns as gx_ef_state_write. */
int gx_ef_state_write_vec(int fd, uint32_t key, uint32_t block, int channel, const float *v,
			  uint64_t n);

/* Checks that h is a frame of a state file: GX_FT_STATE, channel 0 or 1, a
 * codec that carries values and count > 0. Returns 0 or GX_EFORMAT. */
int gx_ef_state_check(const gx_frame_hdr *h);

/* Loads one state frame (header and payload as gx_decoder_frame gives them)
 * into ef: channel 0 into the residual, channel 1 into the velocity. Any
 * value codec is accepted (the writer uses F32). c decodes (any handle:
 * decoding does not depend on its options); NULL makes a temporary one.
 * Returns 0, GX_EINVAL (ef or h NULL), GX_EFORMAT (not a state frame, or a
 * velocity for a state without momentum), GX_ELENGTH (h->count is not
 * gx_ef_count(ef)), GX_ENOMEM or the error of gx_codec_decode; on error ef
 * is unchanged. */
int gx_ef_state_load(gx_codec *c, gx_ef *ef, const gx_frame_hdr *h, const uint8_t *payload);

/* Where gx_ef_state_read is: the 1-based number of the frame being read and
 * the byte offset where it starts; h is that frame's header once the whole
 * frame was read (zeroed before). */
typedef struct gx_ef_state_pos {
	uint64_t frame;
	uint64_t off;
	gx_frame_hdr h;
} gx_ef_state_pos;

/* Called by gx_ef_state_read for each frame that passed gx_ef_state_check,
 * payload as gx_decoder_frame gives it (valid during the call). Returns 0
 * to go on; any other value stops the reading and is returned. */
typedef int gx_ef_state_fn(void *arg, const gx_frame_hdr *h, const uint8_t *payload);

/* Reads a state file from fd (blocking) to its end, frame by frame with a
 * gx_decoder under lim (NULL: the defaults), so every header, length and
 * checksum is checked and no frame above the limits is allocated; calls fn
 * for each frame (gx_ef_state_load is what fn usually calls). pos (may be
 * NULL) is updated before each call of fn and says, on return, where the
 * reading stopped. Returns 0 at the end of the file; fn's nonzero value;
 * GX_EIO with errno set when read fails; GX_ENOMEM; a frame error of
 * gx_decoder_feed (GX_EHDRCRC, GX_ETOOBIG, GX_ECRC, ...); GX_EFORMAT for a
 * frame that is not a state frame; GX_ETRUNC when the file ends inside a
 * frame, or GX_EMAGIC instead when it is shorter than one frame and does
 * not start with the magic (not a frame file at all). */
int gx_ef_state_read(int fd, const gx_frame_limits *lim, gx_ef_state_fn *fn, void *arg,
		     gx_ef_state_pos *pos);

/* ------------------------------------------------------------- link codecs */

/* A link codec (enum gx_link_kind, in gx_wire.h) with its parameters. */
typedef struct gx_link_codec {
	int kind;       /* enum gx_link_kind */
	double ratio;   /* BSC, MPQ: fraction of elements sent, (0, 1] */
	uint64_t bound; /* MPQ: tensors (slices) of fewer elements go dense binary16 */
} gx_link_codec;

/* Parses "none", "fp16", "bsc:RATIO" or "mpq:RATIO[:BOUND]" (BOUND
 * defaults to GX_DEFAULT_MPQ_BOUND) into *out. GX_EINVAL with a reason in
 * why (cap bytes, may be NULL) on anything else. */
int gx_link_codec_parse(const char *s, gx_link_codec *out, char *why, size_t cap);
/* Writes the spelling gx_link_codec_parse accepts ("bsc:0.01"); returns the
 * snprintf-like length. */
int gx_link_codec_format(const gx_link_codec *c, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
