/*
 * base/gx_base.h — the base of everything: version, errors, random numbers,
 * clocks, log callbacks, atomic files.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_BASE_H
#define GX_BASE_H

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


/* Largest element count a decoder or loader accepts by default. */
#define GX_DEFAULT_MAX_COUNT (1ull << 28)   /* 268M elements */

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

/* --------------------------------------------------------------- checksums */

/* CRC-32C (Castagnoli) of buf, continuing from crc (start with 0). Uses the
 * SSE4.2 instruction when the CPU has it. Thread-safe. */
uint32_t gx_crc32c(uint32_t crc, const void *buf, size_t len);

/* -------------------------------------------------------- data-path passes */

/* Debug builds (make DEBUG=1) count the bytes the data path passes over:
 * copies of tensor payloads (into an output queue, out of a receive
 * buffer, between the library's buffers) and decodes (a payload decoded,
 * or decoded and added, into floats). Process-wide totals, for measuring
 * the copies of a round (docs/benchmarks.md); always 0 in other builds. */
enum gx_pass_kind { GX_PASS_COPY = 0, GX_PASS_DECODE = 1, GX_PASS__N = 2 };
uint64_t gx_pass_bytes(int kind);

/* ------------------------------------------------------------------ clocks */

/* Monotonic milliseconds and nanoseconds (CLOCK_MONOTONIC). Thread-safe. */
uint64_t gx_now_ms(void);
uint64_t gx_now_ns(void);

/* ---------------------------------------------------------------------- log */

/* The levels of a log line: a program shows errors always, warnings by
 * default, info with -v and debug with -vv. */
enum { GX_LOG_ERROR = 0, GX_LOG_WARN = 1, GX_LOG_INFO = 2, GX_LOG_DEBUG = 3 };

/* Where library components that run on their own (servers, the client's I/O
 * thread) send their log lines, level one of GX_LOG_*. msg is one line
 * without a newline. May be called from the client's I/O thread. */
typedef void gx_log_fn(void *ud, int level, const char *msg);

/* ------------------------------------------------------------------- files */

/* Atomic file replacement: writes go to a temporary beside path which
 * gx_atomic_commit fsyncs and renames over path; gx_atomic_abort removes it.
 * Returns a descriptor >= 0 or GX_EIO (errno set). tmp receives the
 * temporary's name (caller's buffer of tmpcap bytes). */
int gx_atomic_open(const char *path, char *tmp, size_t tmpcap);
int gx_atomic_commit(int fd, const char *tmp, const char *path);
void gx_atomic_abort(int fd, const char *tmp);
/* Removes the temporaries of path that writers killed mid-write left
 * behind: those no live writer holds (a writer keeps its temporary locked
 * until it commits or aborts) and untouched for 10 s. gx_atomic_open does
 * it first; a program may at its start for the files it will write.
 * Returns how many went, or GX_EINVAL / GX_EIO (errno set). */
int gx_atomic_sweep(const char *path);

/* Replaces path with len bytes of buf, atomically (gx_atomic_*); 0, or
 * GX_EIO (errno set). */
int gx_file_replace(const char *path, const void *buf, size_t len);
/* Reads the whole file path (at most max bytes) into *out (malloc'd, the
 * caller frees it; NULL on error); returns its length, or GX_EIO (errno
 * set), GX_ELENGTH (larger than max) or GX_ENOMEM. */
long gx_file_read(const char *path, uint8_t **out, size_t max);
/* Reads exactly len bytes unless end of input comes first; returns bytes read
 * (< len only at end of input) or GX_EIO. Retries EINTR. */
long gx_read_full(int fd, void *buf, size_t len);
/* Writes all len bytes; returns 0 or GX_EIO. Retries EINTR. */
int gx_write_full(int fd, const void *buf, size_t len);
/* Writes all of iov[0..n) (one writev puts small pieces in one segment);
 * returns 0 or GX_EIO. Retries EINTR and short writes, moving iov's bases
 * and lengths on. */
struct iovec;
int gx_writev_full(int fd, struct iovec *iov, int n);

#ifdef __cplusplus
}
#endif
#endif
