/*
 * wire/gx_wire.h — what travels: frames, their header and incremental
 * decoder, and the roles and synchronization modes the protocol names.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_WIRE_H
#define GX_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include "../base/gx_base.h"

#ifdef __cplusplus
extern "C" {
#endif

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
	GX_FT_OVL_ADDR = 24,  /* overlay: where a local server's siblings reach it */
	GX_FT_OVL_PEERS = 25, /* overlay: every local server's address */
	GX_FT_OVL_PLAN = 26,  /* overlay: a round's routes (sched: gx_ovl_plan) */
	GX_FT_OVL_REPORT = 27, /* overlay: a link between data centers, measured */
	GX_FT_INIT = 32,
	GX_FT_INIT_REPLY = 33,
	GX_FT_PUSH = 34,
	GX_FT_PUSH_REPLY = 35,
	GX_FT_PULL = 36,
	GX_FT_PULL_REPLY = 37,
	GX_FT_DGT_PUSH = 38,  /* DGT: a round's reliable part (wire/control.h) */
	GX_FT_DGT_ACK = 39,   /* DGT: which blocks of a round arrived */
	GX_FT_OVL_PART = 40,  /* overlay: a sum of parties' pushes, local to local */
	GX_FT__MAX = 64
};

/* The longest "HOST:PORT" a local server gives for the overlay (OVL_ADDR). */
#define GX_OVL_ADDR_MAX 300

/* Wire codecs: how a payload encodes count elements. */
enum gx_wire_codec {
	GX_CODEC_NONE = 0,       /* opaque bytes; count must be 0 */
	GX_CODEC_F32 = 1,        /* dense little-endian float32, count*4 bytes */
	GX_CODEC_F16 = 2,        /* dense IEEE binary16, count*2 bytes */
	GX_CODEC_SPARSE_F32 = 3, /* index + float32 value pairs (docs/wire.md) */
	GX_CODEC_SPARSE_F16 = 4, /* index + binary16 value pairs */
	GX_CODEC__MAX = 5
};

/* Bytes of one element of a dense codec: GX_CODEC_F32 4, GX_CODEC_F16 2;
 * 0 for any other. */
size_t gx_wire_elem_size(int codec);

/* DGT (docs/protocol.md, "DGT rounds"): a local sends at most this many
 * lossy channels besides its link. */
#define GX_DGT_CHANNELS_MAX 8

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


/* Incremental frame decoder: bytes in any pieces, whole frames out. */
typedef struct gx_decoder gx_decoder;

/* Creates a decoder enforcing lim (copied; NULL means defaults). NULL on ENOMEM. */
gx_decoder *gx_decoder_create(const gx_frame_limits *lim);
void gx_decoder_free(gx_decoder *d);
/* Replaces d's limits (NULL: defaults); they apply from the next header. */
void gx_decoder_set_limits(gx_decoder *d, const gx_frame_limits *lim);

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

/* Borrowing (on nonzero; off by default): a frame that lies whole in the
 * bytes of one feed is not copied into the decoder; gx_decoder_frame's
 * payload then points into the fed buffer and stays valid only while the
 * caller keeps that buffer unchanged. For a caller that consumes each frame
 * before it reuses its buffer (a connection's read loop). */
void gx_decoder_borrow(gx_decoder *d, int on);

/* Nonzero when bytes of an unfinished frame are buffered (so an end of input
 * now means a truncated frame). */
int gx_decoder_pending(const gx_decoder *d);

/* Receiving in place: once a frame's header has been fed and while its
 * payload is incomplete, gx_decoder_room points *dst into the decoder's
 * payload buffer, where the caller may write the missing bytes directly (a
 * recv(2) into it saves copying them through a buffer of its own), and
 * returns how many are missing; otherwise it returns 0 and *dst is NULL.
 * gx_decoder_commit then says n of them were written: it returns 1 when the
 * frame is complete (its payload checksum verified; read it with
 * gx_decoder_frame), 0 when more is missing, or a negative gx_error
 * (GX_EINVAL when n exceeds the room or there is none; a sticky error). */
size_t gx_decoder_room(gx_decoder *d, uint8_t **dst);
int gx_decoder_commit(gx_decoder *d, size_t n);

/* Receiving into the caller's buffer: while a frame's payload is being
 * collected, gx_decoder_header returns its (validated) header, else NULL;
 * gx_decoder_place then says that the payload goes to dst (payload_len
 * bytes, the caller's, valid until the frame is handed out) instead of the
 * decoder's buffer: the bytes already collected are copied there, feeds
 * and gx_decoder_room continue there, and gx_decoder_frame's payload is
 * dst. So a receiver that knows where a tensor belongs (a reply to its
 * request) has the kernel write it there, and decodes nothing. Once per
 * frame; 0 or GX_EINVAL (no payload being collected, already placed). A
 * payload checksum is verified as usual; a failing frame leaves the bytes
 * it brought in dst. */
const gx_frame_hdr *gx_decoder_header(const gx_decoder *d);
int gx_decoder_place(gx_decoder *d, void *dst);

/* Forgets any partial frame and a sticky error. */
void gx_decoder_reset(gx_decoder *d);

/* Writes header and payload to fd, retrying on EINTR and short writes.
 * Returns 0 or GX_EIO (errno set). For blocking descriptors. */
int gx_frame_write_fd(int fd, const gx_frame_hdr *h, const void *payload);

/* ------------------------------------------------------- protocol notions */

enum gx_role { GX_ROLE_GLOBAL = 1, GX_ROLE_LOCAL = 2, GX_ROLE_WORKER = 3 };
/* Synchronization (docs/protocol.md): FULL, every round waits for every
 * party; MIXED, synchronous inside a data center, asynchronous across them;
 * HFA, hierarchical frequency aggregation: workers take k1 local optimizer
 * steps and push their model's change, a local server averages its workers'
 * models every round and the global tier averages the data centers' models
 * every k2 local rounds. */
enum gx_sync { GX_SYNC_FULL = 0, GX_SYNC_MIXED = 1, GX_SYNC_HFA = 2 };

/* The names of roles and sync modes, as options and messages spell them:
 * "global", "local", "worker"; "full", "mixed", "hfa". A name function
 * returns "?" for a value outside the enum (static storage, never NULL); a
 * parse function returns the enum value for an exact, case-sensitive name,
 * or GX_EINVAL. Thread-safe. */
const char *gx_role_name(int role);
int gx_role_parse(const char *s);
const char *gx_sync_name(int sync);
int gx_sync_parse(const char *s);

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

#ifdef __cplusplus
}
#endif
#endif
