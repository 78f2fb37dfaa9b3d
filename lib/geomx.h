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
	GX_EPROTO = -21,   /* peer broke the protocol (unexpected frame, bad hello) */
	GX_EKEY = -22,     /* unknown key, or a key table that disagrees */
	GX_ETIMEOUT = -23, /* a deadline passed (connect, heartbeat) */
	GX_EPEER = -24,    /* a peer failed or closed the connection */
	GX_EREFUSED = -25, /* the peer refused us (error frame) */
	GX_EAUTH = -26,    /* authentication failed (wrong key, tampered or replayed record) */
	GX_E__LAST = -27
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
	/* parameter-server protocol (docs/protocol.md) */
	GX_FT_HELLO = 16,
	GX_FT_HELLO_ACK = 17,
	GX_FT_ERROR = 18,
	GX_FT_HEARTBEAT = 19,
	GX_FT_BYE = 20,
	GX_FT_KEYTABLE = 21,
	GX_FT_MEMBERS = 22,
	GX_FT_CONFIG = 23,
	GX_FT_INIT = 32,
	GX_FT_INIT_REPLY = 33,
	GX_FT_PUSH = 34,
	GX_FT_PUSH_REPLY = 35,
	GX_FT_PULL = 36,
	GX_FT_PULL_REPLY = 37,
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

/* --------------------------------------------------------------- optimizers */

/* The optimizers shared by the global parameter server and the worker. Update
 * rules follow PyTorch's torch.optim definitions (docs/optimizers.md gives
 * each formula); DC-ASGD follows Zheng et al., ICML 2017, with one weight
 * backup per sender. */
enum gx_optim_kind {
	GX_OPT_SGD = 0,
	GX_OPT_MOMENTUM = 1, /* SGD with heavy-ball momentum */
	GX_OPT_NESTEROV = 2,
	GX_OPT_ADAGRAD = 3,
	GX_OPT_RMSPROP = 4,
	GX_OPT_ADADELTA = 5,
	GX_OPT_ADAM = 6,
	GX_OPT_ADAMW = 7,
	GX_OPT_DCASGD = 8,
	GX_OPT__MAX = 9
};

typedef struct gx_optim_opts {
	int kind;           /* enum gx_optim_kind */
	float lr;           /* learning rate */
	float momentum;     /* momentum, nesterov, dcasgd (0 = none) */
	float beta1, beta2; /* adam, adamw */
	float eps;          /* adagrad, rmsprop, adadelta, adam, adamw */
	float rho;          /* rmsprop's alpha, adadelta's rho */
	float weight_decay; /* L2 (decoupled for adamw) */
	float lambda;       /* dcasgd's variance-control lambda */
} gx_optim_opts;

/* The kind named name ("sgd", "momentum", "nesterov", "adagrad", "rmsprop",
 * "adadelta", "adam", "adamw", "dcasgd"), or -1. */
int gx_optim_kind_of(const char *name);
/* The name of a kind, or NULL. */
const char *gx_optim_name(int kind);
/* Fills *o with PyTorch's defaults for kind (dcasgd: lr 0.01, lambda 0.04,
 * momentum 0). */
void gx_optim_opts_default(gx_optim_opts *o, int kind);

/* The optimizer state of one tensor of n elements. nsenders > 0 sizes the
 * DC-ASGD weight backups (one per sender); ignored by the others. NULL on
 * bad options or ENOMEM (err set when not NULL). */
typedef struct gx_optim gx_optim;
gx_optim *gx_optim_create(const gx_optim_opts *o, uint64_t n, int nsenders, int *err);
void gx_optim_free(gx_optim *op);
/* One update of w (n elements) with gradient g. sender picks DC-ASGD's
 * backup (0 <= sender < nsenders; others ignore it). Returns 0 or GX_EINVAL. */
int gx_optim_step(gx_optim *op, float *w, const float *g, int sender);
/* DC-ASGD: records w as the weights sender now holds (call whenever weights
 * are sent to it: init, push and pull replies). A no-op for the other kinds.
 * Returns 0 or GX_EINVAL (sender out of range). */
int gx_optim_backup(gx_optim *op, const float *w, int sender);
/* Steps taken so far. */
uint64_t gx_optim_steps(const gx_optim *op);

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

/* ---------------------------------------------------------------------- log */

/* Where library components that run on their own (servers, the client's I/O
 * thread) send their log lines: level 0 error, 1 warning, 2 info, 3 debug.
 * msg is one line without a newline. May be called from the client's I/O
 * thread. */
typedef void gx_log_fn(void *ud, int level, const char *msg);

/* ------------------------------------------------------- parameter servers */

enum gx_role { GX_ROLE_GLOBAL = 1, GX_ROLE_LOCAL = 2, GX_ROLE_WORKER = 3 };
/* Synchronization (docs/protocol.md): FULL, every round waits for every
 * party; MIXED, synchronous inside a data center, asynchronous across them;
 * HFA, hierarchical frequency aggregation: workers take k1 local optimizer
 * steps and push their model's change, a local server averages its workers'
 * models every round and the global tier averages the data centers' models
 * every k2 local rounds. */
enum gx_sync { GX_SYNC_FULL = 0, GX_SYNC_MIXED = 1, GX_SYNC_HFA = 2 };

/* A link codec of the parameter servers: how a local server sends its data
 * center's aggregate across the WAN (--wan-codec) or how a local server and
 * its workers talk (--lan-codec: NONE or FP16 only). docs/protocol.md, "Link
 * codecs". */
enum gx_link_kind {
	GX_LINK_NONE = 0, /* dense float32 */
	GX_LINK_FP16 = 1, /* dense binary16, summed in float32 */
	GX_LINK_BSC = 2,  /* top-k sparse float32 with error feedback, both directions */
	GX_LINK_MPQ = 3   /* below bound elements dense binary16, else as BSC */
};

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

typedef struct gx_ps_opts {
	int role;                 /* GX_ROLE_GLOBAL or GX_ROLE_LOCAL */
	const char *listen;       /* "host:port"; port 0 picks a free one */
	int parties;              /* global: data centers (local servers) expected */
	int workers;              /* local: workers expected */
	uint32_t party;           /* local: this data center's id */
	const char *upstream;     /* local: "host:port[,host:port...]", global servers in index order */
	int sync;                 /* enum gx_sync */
	int sum;                  /* nonzero: apply the sum of gradients, not their mean */
	gx_optim_opts optim;      /* global: the optimizer */
	uint64_t split_bound;     /* local: MultiGPS split bound (elements) */
	double connect_timeout;   /* seconds to keep retrying upstream / waiting for peers */
	double heartbeat;         /* seconds between heartbeats */
	double heartbeat_timeout; /* seconds of silence after which a peer is dead */
	int elastic;              /* nonzero: drop a dead worker and go on */
	uint32_t k1, k2;          /* global, HFA: local steps per local round, local
				   * rounds per global round (both >= 1) */
	gx_link_codec wan;        /* local: how its aggregate crosses the WAN */
	int lan;                  /* local: GX_LINK_NONE or GX_LINK_FP16 with its workers */
	uint64_t sparse_min;      /* local, BSC: slices of fewer elements travel dense */
	float ef_momentum;        /* local, BSC/MPQ/FP16: error feedback's momentum
				   * correction (0: residual only) */
	const char *ef_save;      /* local: at the end, write the error-feedback state
				   * here (GX_FT_STATE frames, atomically); NULL: not */
	gx_frame_limits limits;   /* incoming frames */
	const uint8_t *psk;       /* 32-byte pre-shared key: every link accepted and
				   * opened is authenticated and encrypted (docs/
				   * security.md); NULL: plaintext. Copied. */
	gx_log_fn *log;           /* NULL: silent */
	void *log_ud;
} gx_ps_opts;

#define GX_DEFAULT_CONNECT_TIMEOUT 30.0
#define GX_DEFAULT_HEARTBEAT 1.0
#define GX_DEFAULT_HEARTBEAT_TIMEOUT 5.0

#define GX_DEFAULT_K1 20
#define GX_DEFAULT_K2 10
#define GX_DEFAULT_SPARSE_MIN 1024 /* elements */

/* Defaults: local role, listen "127.0.0.1:0", 1 party, 1 worker, full sync,
 * mean, SGD lr 0.01, the default split bound, timeouts above, not elastic,
 * k1 20 and k2 10, WAN and LAN codecs none, sparse-min 1024, no momentum
 * correction. */
void gx_ps_opts_default(gx_ps_opts *o);

typedef struct gx_ps gx_ps;

/* Creates a server and binds its listening socket (so gx_ps_port is known
 * before gx_ps_run). NULL with *err on failure (err may be NULL; the log
 * callback has the reason). */
gx_ps *gx_ps_create(const gx_ps_opts *o, int *err);
void gx_ps_free(gx_ps *ps);
/* The bound listening port. */
int gx_ps_port(const gx_ps *ps);
/* Serves until every expected peer has connected and said goodbye (returns
 * 0), gx_ps_stop was called (0), or a failure ends the job (a negative
 * gx_error: a dead peer without elastic, upstream unreachable within the
 * connect timeout, ...; logged). */
int gx_ps_run(gx_ps *ps);
/* Ask a running server to stop, or to write its stats through the log
 * (level 1). Both only set a flag and wake the loop: async-signal-safe. */
void gx_ps_stop(gx_ps *ps);
void gx_ps_request_stats(gx_ps *ps);
/* Writes the stats (per link and direction: bytes, frames; rounds; waiting
 * time; staleness under mixed sync) into buf as TSV lines, or one JSON object
 * when json; returns the length (snprintf-like) or a negative gx_error.
 * Loop thread only (e.g. after gx_ps_run returns, or from the log callback). */
long gx_ps_stats(gx_ps *ps, char *buf, size_t cap, int json);

/* ---------------------------------------------------------- worker client */

typedef struct gx_kv_opts {
	const char *servers;      /* "host:port[,...]": the local PS (or, flat, the global servers) */
	uint32_t rank;            /* worker rank within its party */
	uint32_t party;           /* data center id */
	uint64_t split_bound;     /* flat mode with several servers: as gx_ps_opts */
	double connect_timeout;   /* seconds */
	double heartbeat, heartbeat_timeout;
	gx_frame_limits limits;
	const uint8_t *psk;       /* 32-byte pre-shared key as gx_ps_opts; NULL: plaintext */
	gx_log_fn *log;           /* called on the client's I/O thread; NULL: silent */
	void *log_ud;
} gx_kv_opts;

void gx_kv_opts_default(gx_kv_opts *o);

/* The worker's side: one background I/O thread per client. A gx_kv may be
 * used from one application thread at a time. */
typedef struct gx_kv gx_kv;
/* A request handle (> 0); wait on it exactly once. */
typedef int64_t gx_kv_req;

/* Connects (retrying until connect_timeout) and says hello. NULL with *err. */
gx_kv *gx_kv_connect(const gx_kv_opts *o, int *err);
/* Registers the model: nkeys tensors, keys[i] of counts[i] elements, with
 * initial values values[i]. Blocks until the servers answered: then every
 * values[i] holds the value the global tier kept (the first worker's), so all
 * workers start identical. Returns 0 or a negative gx_error. */
int gx_kv_init(gx_kv *kv, size_t nkeys, const uint32_t *keys, const uint64_t *counts,
	       float *const *values);
/* Starts pushing gradient g of key (copied before return; under HFA sync,
 * the change of the worker's model since its last reply) and, for
 * pushpull, receiving the updated parameters into dst (which must stay valid
 * until the wait). priority 0 is the most urgent; equal priorities go in
 * order. Returns a handle or a negative gx_error. */
gx_kv_req gx_kv_push(gx_kv *kv, uint32_t key, const float *g, int priority);
gx_kv_req gx_kv_pushpull(gx_kv *kv, uint32_t key, const float *g, float *dst, int priority);
/* Starts fetching the current parameters of key into dst. */
gx_kv_req gx_kv_pull(gx_kv *kv, uint32_t key, float *dst, int priority);
/* Waits for one request; 0 or the gx_error that failed it. */
int gx_kv_wait(gx_kv *kv, gx_kv_req r);
/* Waits for every outstanding request; 0 or the first error. */
int gx_kv_wait_all(gx_kv *kv);
/* What the servers told the client to follow (their CONFIG, docs/
 * protocol.md), known once gx_kv_connect returned. */
typedef struct gx_kv_info {
	int sync;     /* enum gx_sync */
	uint32_t k1;  /* HFA: local optimizer steps between pushes (else 0) */
	uint32_t k2;  /* HFA: local rounds per global round (else 0) */
	int lan;      /* GX_LINK_NONE or GX_LINK_FP16: what pushes and replies use */
} gx_kv_info;
void gx_kv_info_get(const gx_kv *kv, gx_kv_info *out);
/* Traffic so far, summed over the client's connections. */
int gx_kv_stats(gx_kv *kv, uint64_t *bytes_out, uint64_t *bytes_in);
/* Says goodbye (waits for outstanding requests and the servers' BYE) and
 * frees; returns 0 or the first error. gx_kv_free frees without goodbye. */
int gx_kv_close(gx_kv *kv);
void gx_kv_free(gx_kv *kv);

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

/* ---------------------------------------------------------- neural networks */

/*
 * A small feed-forward network for training on the CPU: 2-D convolution,
 * max-pooling, dense and ReLU layers ending in a loss (softmax cross-entropy
 * or mean squared error). A model is built from a preset name or a text spec
 * (grammar in docs/engine.md), for inputs of in_c x in_h x in_w floats per
 * example, stored NCHW (example after example, channel planes row-major).
 *
 *   presets  cnn     conv:16:5,relu,pool:2,conv:32:5,relu,pool:2,dense:256,relu,
 *                    dense:128,relu,dense:10   (178,762 parameters on 1x28x28)
 *            mlp     dense:256,relu,dense:128,relu,dense:10
 *            logreg  dense:10                  (softmax regression)
 *            linreg  dense:1,mse               (linear regression)
 *
 * Parameters live in one contiguous buffer of gx_model_nparams floats, the
 * gradients in another of the same size; they are cut into tensors, one per
 * layer weight and one per layer bias, in layer order (weight before bias),
 * keys 0, 1, ... — the parameter-server keys. Layouts are PyTorch's: a conv
 * weight is [out_c][in_c][k][k], a dense weight [out][in]; dense layers see
 * their input flattened in C, H, W order. Weights start Xavier/Glorot
 * uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), drawn from a
 * gx_rng seeded with the seed given; biases start at zero.
 *
 * Scratch (activations, im2col buffers) is sized for the largest batch seen
 * and reused, so steady-state steps allocate nothing. A model may be used by
 * one thread at a time; distinct models may be used concurrently (the BLAS
 * thread count, gx_blas_threads, is process-wide).
 */
typedef struct gx_model gx_model;

enum gx_loss {
	GX_LOSS_XENT = 0, /* softmax cross-entropy over the outputs; targets are class indices */
	GX_LOSS_MSE = 1   /* mean of (out - target)^2 over batch and outputs (PyTorch's MSELoss) */
};

/* Where a spec failed to parse (or to fit the input shape). */
typedef struct gx_spec_error {
	size_t offset; /* byte offset in the spec of the offending item */
	char msg[128]; /* one line without a newline, e.g. "unknown layer 'conv2d'" */
} gx_spec_error;

/* Builds a model from a preset name or a spec for inputs of in_c x in_h x
 * in_w (each >= 1), initialised from seed. NULL with *err set (err may be
 * NULL): GX_EINVAL for a bad spec or a shape that does not fit (a kernel
 * larger than its input, ...) — then *why (may be NULL) says where and
 * what — GX_ETOOBIG when parameters or activations per example would exceed
 * 2^31 elements, GX_ENOMEM. */
gx_model *gx_model_create(const char *spec, int in_c, int in_h, int in_w, uint64_t seed, int *err,
			  gx_spec_error *why);
void gx_model_free(gx_model *m);

/* The canonical spec of the model (presets expanded, defaults written out,
 * the loss last, e.g. "dense:1,mse"). Owned by m. */
const char *gx_model_spec(const gx_model *m);
/* Writes a human-readable table (one line per layer: kind, output shape,
 * parameters) into buf; returns its length (snprintf-like). */
int gx_model_describe(const gx_model *m, char *buf, size_t cap);
/* enum gx_loss of the model. */
int gx_model_loss(const gx_model *m);
/* Floats per example in and out (out: the classes, or the regression outputs). */
size_t gx_model_in_size(const gx_model *m);
size_t gx_model_out_size(const gx_model *m);

/* Total parameters, and the contiguous parameter and gradient buffers (owned
 * by m, writable: optimizers update the parameters in place, a PS pull may
 * overwrite them). */
uint64_t gx_model_nparams(const gx_model *m);
float *gx_model_params(gx_model *m);
float *gx_model_grads(gx_model *m);

/* One parameter tensor: a view into the buffers above. */
typedef struct gx_tensor_info {
	uint32_t key;     /* == its index */
	uint64_t count;   /* elements */
	uint64_t offset;  /* first element in gx_model_params / gx_model_grads */
	float *data;      /* parameters */
	float *grad;      /* gradients from the last gx_model_forward_backward */
	int layer;        /* index of the layer in the spec (0-based, relu/pool counted) */
	int is_bias;      /* 0 weight, 1 bias */
	const char *name; /* "conv0.weight", "dense5.bias", ... (layer kind + index) */
} gx_tensor_info;

/* Number of tensors; tensor i into *info. Returns 0 or GX_EINVAL (i out of range). */
size_t gx_model_ntensors(const gx_model *m);
int gx_model_tensor(gx_model *m, size_t i, gx_tensor_info *info);

/* Sizes the scratch for batches of up to batch examples now (otherwise the
 * first step of a larger batch does). Returns 0, GX_EINVAL, GX_ETOOBIG (a
 * batch's activations would exceed 2^31 elements) or GX_ENOMEM; the calls
 * below that take a batch may return the same. */
int gx_model_reserve(gx_model *m, int batch);

/* One training step's computation on batch examples x (batch x in_size
 * floats): forward, loss, backward. Gradients of the mean loss over the
 * batch overwrite the gradient buffer (nothing accumulates across calls);
 * parameters are not changed. y: for GX_LOSS_XENT batch class indices
 * stored as floats (integers in [0, out_size)); for GX_LOSS_MSE batch x
 * out_size targets. *loss_out (may be NULL) gets the mean loss. Returns 0,
 * GX_EINVAL (batch < 1, a label out of range or not an integer; nothing is
 * changed then) or GX_ENOMEM (growing scratch). */
int gx_model_forward_backward(gx_model *m, const float *x, const float *y, int batch,
			      float *loss_out);

/* Forward only: writes batch x out_size outputs (logits for classification,
 * predictions for regression) to out. Returns 0, GX_EINVAL or GX_ENOMEM. */
int gx_model_predict(gx_model *m, const float *x, int batch, float *out);

/* Evaluates n examples in chunks of batch: the mean loss into *loss and, for
 * classification, the fraction whose largest logit (lowest index on ties) is
 * the label into *accuracy (NaN for a regression model). Either pointer may
 * be NULL. Returns 0, GX_EINVAL (n or batch < 1, a bad label) or GX_ENOMEM. */
int gx_model_eval(gx_model *m, const float *x, const float *y, size_t n, int batch, double *loss,
		  double *accuracy);

/* CRC-32C of all parameters (their float bytes in host order, tensor order),
 * to compare replicas. */
uint32_t gx_model_checksum(const gx_model *m);

/* Sets the number of threads the BLAS library uses (process-wide; n >= 1).
 * Returns 0, or GX_EINVAL for n < 1. */
int gx_blas_threads(int n);

/* ----------------------------------------------------------------- datasets */

/*
 * A dataset: n samples of d float features, row-major, and one float label
 * per sample. Classification labels are class indices 0..nclasses-1 (stored
 * as exact small integers in floats); nclasses == 0 marks a regression
 * dataset whose labels are arbitrary finite values. Formats, sharding and
 * shuffling rules: docs/data.md.
 *
 * Loaders fill a caller-provided gx_dataset (zeroed on failure; nothing to
 * release then) and return 0 or a negative gx_error: GX_EIO (errno set:
 * cannot open/read), GX_EFORMAT (malformed content), GX_ETRUNC (an IDX file
 * or a gzip stream ends early), GX_ETOOBIG (more than GX_DATA_MAX_TEXT bytes
 * of text, or more than GX_DEFAULT_MAX_COUNT values n*d), GX_ENOMEM,
 * GX_EINVAL. On failure err (errcap bytes, may be NULL/0) receives one line
 * without a newline naming the file and the place, e.g.
 *   "data.csv: line 17: expected 785 fields, found 784"
 *   "x.libsvm: line 3: feature index 0 (indices start at 1)"
 *   "train-images.gz: truncated at byte 1234 (expected 47040016 bytes)"
 * and on success an empty string. Line numbers are 1-based and count every
 * line of the (decompressed) file. Text files may be gzip'd (detected by
 * content). Loaders are thread-safe (no shared state); numbers are parsed in
 * the "C" locale's format whatever the process locale.
 */
typedef struct gx_dataset {
	uint64_t n;        /* samples */
	uint32_t d;        /* features per sample, >= 1 */
	uint32_t c, h, w;  /* image shape with c*h*w == d when known, else 1, 1, d */
	uint32_t nclasses; /* labels are 0..nclasses-1; 0 = regression (any finite label) */
	float *x;          /* n*d features, sample i at x + i*d; owned (gx_dataset_release) */
	float *y;          /* n labels; owned */
} gx_dataset;

/* Largest text file (after gunzip) the CSV / LIBSVM loaders accept. */
#define GX_DATA_MAX_TEXT (1ull << 31) /* 2 GiB */
/* Where Debian's dataset-fashion-mnist package installs its files. */
#define GX_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Loader flags. */
enum gx_data_flag {
	GX_DATA_REGRESSION = 1u << 0 /* labels are values, not classes: nclasses = 0 */
};

/* IDX images + labels (gx_idx_load's rules: gzip'd or not). images has 2..4
 * dims: (n, d), (n, h, w) or (n, c, h, w); labels has one dim n, integral
 * non-negative values (nclasses = max + 1). Unsigned-byte images are scaled
 * by 1/255 into [0, 1]; other element types are kept as stored. */
int gx_dataset_load_idx(const char *images, const char *labels, gx_dataset *out, char *err,
			size_t errcap);

/* Fashion-MNIST from dir (NULL: GX_FASHION_MNIST_DIR; programs pass the
 * GEOMX_FASHION_MNIST environment variable or their flag here), the 60000
 * training samples (train != 0) or the 10000 test samples: 784 features in
 * [0, 1], shape 1x28x28, 10 classes. Files are
 * {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. */
int gx_dataset_fashion_mnist(const char *dir, int train, gx_dataset *out, char *err,
			     size_t errcap);

/* CSV: one sample per line; fields separated by ',' (or, when the first line
 * has no comma, by tab, else by ';'); spaces around a field ignored; CRLF
 * accepted; blank lines and a leading UTF-8 byte order mark skipped; no
 * quoting. label_col is the 0-based column of the label, -1 = the last; the
 * other columns are the features in order. header: 1 = the first line is a
 * header (skipped), 0 = none, -1 = auto (a header when any of its fields is
 * not a number). Every field must be a finite decimal number ([+-]digits
 * [.digits][e[+-]digits]; empty fields, garbage, hex, inf, nan and overflow
 * are errors) and every line must have as many fields as the first. Labels
 * must be non-negative integers below 2^24 (nclasses = max + 1) unless
 * flags has GX_DATA_REGRESSION. */
int gx_dataset_load_csv(const char *path, int label_col, int header, unsigned flags,
			gx_dataset *out, char *err, size_t errcap);

/* LIBSVM / SVMlight: "label idx:val idx:val ... [# comment]" per line,
 * tokens separated by spaces or tabs, indices 1-based and strictly
 * increasing, missing features 0, numbers as for CSV; '#' starts a comment;
 * blank lines and a leading UTF-8 byte order mark are skipped; "qid:" is
 * not supported. nfeatures 0 infers d as the largest index (at least 1),
 * else d = nfeatures and a larger index is an error. Classification
 * labels: if any label is -1, every label must be -1 or +1, mapped to
 * classes 0 and 1; otherwise labels must be non-negative integers below
 * 2^24 and are used as class indices (nclasses = max + 1, so 1-based
 * labels leave class 0 empty). GX_DATA_REGRESSION keeps labels as values. */
int gx_dataset_load_libsvm(const char *path, uint32_t nfeatures, unsigned flags,
			   gx_dataset *out, char *err, size_t errcap);

/* Shard i of n (0 <= i < n) of in, as an independent copy in *out (release
 * both). Samples keep their order; out keeps in's d, shape and nclasses (so
 * every shard agrees on the model's output size).
 *  by_class == 0: contiguous, samples [floor(i*N/n), floor((i+1)*N/n)) of
 *    N; shard sizes differ by at most 1; some are empty when N < n (an
 *    empty shard has n == 0 and x == y == NULL).
 *  by_class != 0 (non-IID): the classes are cut into n contiguous ranges,
 *    shard i gets the samples whose label is in
 *    [floor(i*C/n), floor((i+1)*C/n)) of C = nclasses (see
 *    gx_dataset_shard_classes); requires a classification dataset and
 *    n <= nclasses, so every shard has at least one class (a class with
 *    no samples can still leave a shard empty).
 * Returns 0, GX_EINVAL (bad i/n, by_class on regression data or n >
 * nclasses; *out zeroed) or GX_ENOMEM. */
int gx_dataset_shard(const gx_dataset *in, uint32_t i, uint32_t n, int by_class,
		     gx_dataset *out);

/* The classes [*lo, *hi) that shard i of n gets from gx_dataset_shard with
 * by_class, for nclasses classes. Returns 0 or GX_EINVAL (n == 0, i >= n,
 * n > nclasses). */
int gx_dataset_shard_classes(uint32_t nclasses, uint32_t i, uint32_t n, uint32_t *lo,
			     uint32_t *hi);

/* Frees d->x and d->y and zeroes *d. Accepts NULL and a zeroed gx_dataset. */
void gx_dataset_release(gx_dataset *d);

/* Fills idx[0..n) with a permutation of 0..n-1 that depends only on (seed,
 * epoch, n): call it at the start of each epoch for that epoch's order.
 * Fisher-Yates driven by a gx_rng derived from seed and epoch. Workers that
 * want different orders mix their rank into seed. Returns 0 or GX_EINVAL
 * (idx NULL with n > 0, n > 2^32). Thread-safe. */
int gx_shuffle_indices(uint32_t *idx, uint64_t n, uint64_t seed, uint64_t epoch);

/* Copies the k samples idx[0..k) of ds into a batch: x gets k*d floats,
 * y k labels (y may be NULL). Returns 0 or GX_EINVAL (an index >= n). */
int gx_dataset_gather(const gx_dataset *ds, const uint32_t *idx, size_t k, float *x,
		      float *y);

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
