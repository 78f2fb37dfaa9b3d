/*
 * geomx.h — the public interface of libgeomx.
 *
 * Conventions (see docs/design.md):
 *  - one prefix, gx_; opaque handles made by gx_thing_create and released by
 *    gx_thing_free, which accepts NULL;
 *  - functions return 0 (GX_OK) or a negative gx_error; gx_strerror names it;
 *  - the library never prints, never exits and never aborts on bad input;
 *  - the caller owns buffers; gx_*_bound() gives worst-case sizes;
 *  - unless stated otherwise a handle may be used by one thread at a time;
 *    distinct handles may be used concurrently.
 */
#ifndef GEOMX_H
#define GEOMX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ version */

#define GX_VERSION_MAJOR 0
#define GX_VERSION_MINOR 1
#define GX_VERSION_PATCH 0
#define GX_VERSION_STRING "0.1.0"

/* The library's version string, e.g. "0.1.0". Static storage. */
const char *gx_version(void);

/* ------------------------------------------------------------------- errors */

/* Stable error codes. Values never change once released; new ones are added
 * before GX_E__LAST. GX_ENEEDMORE is not a failure: an incremental parser
 * wants more input. */
typedef enum gx_error {
	GX_OK = 0,
	GX_ENEEDMORE = -1, /* more input is needed */
	GX_ENOMEM = -2,    /* out of memory */
	GX_EINVAL = -3,    /* invalid argument */
	GX_EIO = -4,       /* I/O failed; errno holds the reason */
	GX_ETRUNC = -5,    /* input ended inside a frame or a record */
	GX_EMAGIC = -6,    /* frame does not start with the geomx magic */
	GX_EVERSION = -7,  /* unsupported frame version */
	GX_ETYPE = -8,     /* unknown frame type */
	GX_ECODEC = -9,    /* unknown codec */
	GX_EFLAGS = -10,   /* unknown or contradictory flag bits */
	GX_EHDRCRC = -11,  /* header checksum mismatch */
	GX_ETOOBIG = -12,  /* a length exceeds the configured maximum */
	GX_ELENGTH = -13,  /* lengths disagree with each other or the codec */
	GX_ECORRUPT = -14, /* payload malformed (bad index, bad varint, ...) */
	GX_ECRC = -15,     /* payload checksum mismatch */
	GX_EZSTD = -16,    /* zstd stage failed */
	GX_ERESERVED = -17,/* a reserved field is not zero */
	GX_ENOTSUP = -18,  /* not supported in this build or on this machine */
	GX_EDEVICE = -19,  /* accelerator call failed */
	GX_EFORMAT = -20,  /* file is not in the expected format */
	GX_E__LAST = -21
} gx_error;

/* A one-line description of err (a gx_error); never NULL, static storage. */
const char *gx_strerror(int err);

/* ------------------------------------------------------------------- frames */

/*
 * A frame is a fixed 64-byte little-endian header followed by payload_len
 * bytes of payload. One framing serves sockets, pipes and files. The byte
 * layout is in docs/wire.md.
 */
#define GX_FRAME_MAGIC 0x52465847u /* bytes 'G','X','F','R' */
#define GX_FRAME_VERSION 1
#define GX_FRAME_HDR_SIZE 64

/* Frame types. 1..15 carry data, 16..63 are control (defined by the parameter
 * server protocol). The decoder rejects types >= GX_FT__MAX. */
enum gx_frame_type {
	GX_FT_TENSOR = 1, /* a tensor (or a slice of one: see block) */
	GX_FT_STATE = 2,  /* persisted codec state: residual (channel 0), velocity (channel 1) */
	GX_FT__MAX = 64
};

/* Wire codecs: how a payload encodes count elements. */
enum gx_wire_codec {
	GX_CODEC_NONE = 0,       /* opaque bytes; count must be 0 */
	GX_CODEC_F32 = 1,        /* dense little-endian float32, count*4 bytes */
	GX_CODEC_F16 = 2,        /* dense IEEE binary16, count*2 bytes */
	GX_CODEC_SPARSE_F32 = 3, /* index + float32 value pairs (docs/wire.md) */
	GX_CODEC_SPARSE_F16 = 4, /* index + binary16 value pairs */
	GX_CODEC__MAX = 5
};

/* Frame flags. The decoder rejects unknown bits. */
enum gx_frame_flag {
	GX_FF_ZSTD = 1u << 0, /* payload is one zstd frame; raw_len is its decompressed size */
	GX_FF_CRC = 1u << 1,  /* payload_crc holds CRC-32C of the payload bytes as sent */
	GX_FF_LAST = 1u << 2, /* last frame of a sequence (stream, slices of a key) */
	GX_FF__ALL = (1u << 3) - 1
};

/* A decoded header, in host order. Fields not used by a type are zero. */
typedef struct gx_frame_hdr {
	uint8_t version;      /* GX_FRAME_VERSION */
	uint8_t type;         /* enum gx_frame_type */
	uint16_t flags;       /* enum gx_frame_flag bits */
	uint32_t key;         /* tensor key (one per parameter tensor) */
	uint32_t sender;      /* sender's node id */
	uint32_t round;       /* training round / iteration this frame belongs to */
	uint64_t seq;         /* per-sender sequence number */
	uint64_t count;       /* elements of the dense tensor this payload encodes */
	uint32_t payload_len; /* payload bytes that follow the header */
	uint32_t raw_len;     /* payload bytes before the zstd stage (== payload_len without GX_FF_ZSTD) */
	uint8_t codec;        /* enum gx_wire_codec */
	uint8_t priority;     /* scheduling priority, 0 = most urgent */
	uint16_t channel;     /* transport channel / sub-stream */
	uint32_t block;       /* slice index within a key; 0 when unsliced */
	uint32_t payload_crc; /* CRC-32C of the payload, when GX_FF_CRC */
} gx_frame_hdr;

/* Limits a parser enforces before it allocates anything. */
typedef struct gx_frame_limits {
	uint32_t max_payload; /* largest payload_len and raw_len accepted */
	uint64_t max_count;   /* largest element count accepted */
} gx_frame_limits;

#define GX_DEFAULT_MAX_PAYLOAD (256u << 20) /* 256 MiB */
#define GX_DEFAULT_MAX_COUNT (1ull << 28)   /* 268M elements */

/* Fills *lim with the defaults above. */
void gx_frame_limits_default(gx_frame_limits *lim);

/* Zeroes *h and sets version. */
void gx_frame_hdr_init(gx_frame_hdr *h);

/* Serialises h into out (GX_FRAME_HDR_SIZE bytes), computing the header
 * checksum. Does not validate h; gx_frame_hdr_check does. */
void gx_frame_hdr_pack(const gx_frame_hdr *h, uint8_t out[GX_FRAME_HDR_SIZE]);

/* Parses and validates GX_FRAME_HDR_SIZE bytes: magic, version, checksum,
 * reserved bits, type, codec, flags, every length against lim (NULL means
 * the defaults) and the lengths' consistency with the codec. Returns 0 or
 * the specific gx_error. */
int gx_frame_hdr_parse(const uint8_t in[GX_FRAME_HDR_SIZE], const gx_frame_limits *lim,
		       gx_frame_hdr *h);

/* Validates a host-order header as gx_frame_hdr_parse would (minus magic and
 * checksum). Useful before sending. */
int gx_frame_hdr_check(const gx_frame_hdr *h, const gx_frame_limits *lim);

/* CRC-32C (Castagnoli) of buf, continuing from crc (start with 0). Uses the
 * SSE4.2 instruction when the CPU has it. Thread-safe. */
uint32_t gx_crc32c(uint32_t crc, const void *buf, size_t len);

/* Incremental frame decoder: bytes in any pieces, whole frames out. */
typedef struct gx_decoder gx_decoder;

/* Creates a decoder enforcing lim (copied; NULL means defaults). NULL on ENOMEM. */
gx_decoder *gx_decoder_create(const gx_frame_limits *lim);
void gx_decoder_free(gx_decoder *d);

/* Consumes up to len bytes of buf; *used receives how many were consumed.
 * Returns 1 when a whole frame is ready (read it with gx_decoder_frame; the
 * next feed starts the following frame), 0 when every byte was consumed and
 * more are needed, or a negative gx_error when the input is malformed. An
 * error is sticky until gx_decoder_reset. A payload buffer is allocated only
 * after the header has been validated; a GX_FF_CRC payload is verified. */
int gx_decoder_feed(gx_decoder *d, const void *buf, size_t len, size_t *used);

/* The frame made ready by the last feed that returned 1. *payload points into
 * the decoder and stays valid until the next feed or reset. */
void gx_decoder_frame(const gx_decoder *d, gx_frame_hdr *h, const uint8_t **payload);

/* Nonzero when bytes of an unfinished frame are buffered (so an end of input
 * now means a truncated frame). */
int gx_decoder_pending(const gx_decoder *d);

/* Forgets any partial frame and a sticky error. */
void gx_decoder_reset(gx_decoder *d);

/* Writes header and payload to fd, retrying on EINTR and short writes.
 * Returns 0 or GX_EIO (errno set). For blocking descriptors. */
int gx_frame_write_fd(int fd, const gx_frame_hdr *h, const void *payload);

/* ------------------------------------------------------------------ numbers */

/* A seeded pseudo-random generator (xoshiro256**). Plain value type; copy
 * freely. Runs are reproducible from the seed. */
typedef struct gx_rng {
	uint64_t s[4];
} gx_rng;

/* Seeds r from seed via splitmix64 (any seed, zero included, is fine). */
void gx_rng_seed(gx_rng *r, uint64_t seed);
/* Next 64 random bits. */
uint64_t gx_rng_next(gx_rng *r);
/* Uniform integer in [0, bound) without modulo bias; bound > 0. */
uint64_t gx_rng_below(gx_rng *r, uint64_t bound);
/* Uniform float in [0, 1). */
float gx_rng_float(gx_rng *r);
/* Standard normal deviate. */
float gx_rng_normal(gx_rng *r);

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

/* Decodes the payload of a validated header into dst (h->count floats).
 * accumulate == 0: dst is overwritten (zeros where a sparse payload has
 * nothing); nonzero: decoded values are added to dst. Checks every index and
 * length; returns 0 or a negative gx_error, and on error dst is unchanged.
 * The payload CRC is not re-verified here (the frame decoder did it).
 * Decoding does not depend on the handle's options. */
int gx_codec_decode(gx_codec *c, const gx_frame_hdr *h, const uint8_t *payload, float *dst,
		    int accumulate);

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

/* --------------------------------------------------------------------- data */

/* IDX files (the MNIST format: magic 0x0000TTNN, big-endian dims, big-endian
 * elements), gzip'd or not (detected by content, not name). Elements are
 * converted to float without scaling. */
typedef struct gx_idx {
	uint8_t elem_type; /* 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 */
	uint8_t ndim;      /* 1..4 */
	uint32_t dims[4];  /* dims[0] is the number of items */
	uint64_t count;    /* product of dims */
	float *data;       /* count floats; owned, released by gx_idx_release */
} gx_idx;

/* Loads path into *out, refusing files whose element count exceeds max_count
 * (0 means GX_DEFAULT_MAX_COUNT) before allocating. Returns 0, GX_EIO (errno
 * set), GX_EFORMAT (bad magic, type or dims), GX_ETRUNC (file ends early) or
 * GX_ETOOBIG. On a format or truncation error *err_offset (may be NULL) gets
 * the byte offset, in the uncompressed stream, where the problem is. */
int gx_idx_load(const char *path, uint64_t max_count, gx_idx *out, uint64_t *err_offset);
/* Frees out->data and zeroes *out. Accepts a zeroed gx_idx. */
void gx_idx_release(gx_idx *x);

/* ------------------------------------------------------------------- files */

/* Atomic file replacement: writes go to a temporary beside path which
 * gx_atomic_commit fsyncs and renames over path; gx_atomic_abort removes it.
 * Returns a descriptor >= 0 or GX_EIO (errno set). tmp receives the
 * temporary's name (caller's buffer of tmpcap bytes). */
int gx_atomic_open(const char *path, char *tmp, size_t tmpcap);
int gx_atomic_commit(int fd, const char *tmp, const char *path);
void gx_atomic_abort(int fd, const char *tmp);

/* Reads exactly len bytes unless end of input comes first; returns bytes read
 * (< len only at end of input) or GX_EIO. Retries EINTR. */
long gx_read_full(int fd, void *buf, size_t len);
/* Writes all len bytes; returns 0 or GX_EIO. Retries EINTR. */
int gx_write_full(int fd, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* GEOMX_H */
