/*
 * wire/control.h — library-private: the control payloads of the parameter-server
 * protocol (docs/protocol.md). Parsers check every length exactly and never
 * trust a count before checking it against the bytes present.
 */
#ifndef GX_PROTO_H
#define GX_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "gx_wire.h"
#include "../optim/gx_optim.h"

#define GX_PROTO_VERSION 2 /* 2: CONFIG names the block size */
#define GX_HELLO_SIZE 64
#define GX_ERROR_MSG_MAX 1024
#define GX_KEYTABLE_MAX (1u << 20) /* entries */

typedef struct gx_hello {
	uint16_t proto;    /* GX_PROTO_VERSION */
	uint8_t role;      /* enum gx_role */
	uint8_t sync;      /* enum gx_sync (HELLO_ACK) */
	uint8_t mode;      /* HELLO local -> global: 1 coded WAN, the local applies updates */
	uint32_t rank, party, workers, nservers;
	char name[41];     /* NUL-terminated; 40 bytes on the wire, NUL-padded */
} gx_hello;

/* A worker's HELLO mode: a new worker; one coming back after a broken link
 * (it sends again what was not answered); one restarted in its place
 * (geomx-train --resume: it lost what was in flight). A local's HELLO to
 * the global tier: 1 a coded WAN. */
enum { GX_HELLO_NEW = 0, GX_HELLO_BACK = 1, GX_HELLO_RESTARTED = 2 };
/* An INIT's round from a local server starting again (--resume): it asks
 * for the value the global tier keeps (refused where there is none) and
 * proposes none; the answer names the slice's settled rounds. */
#define GX_ROUND_RESUME UINT32_MAX

/* 64 bytes out. */
void gx_hello_pack(const gx_hello *h, uint8_t out[GX_HELLO_SIZE]);
/* GX_EPROTO unless len == 64, role known, sync 0..2, mode 0..2, reserved zero, and
 * the name NUL-padded (nothing but NULs after its end) without control
 * characters; proto is NOT checked here (the caller reports a version
 * mismatch with both numbers). An accepted hello packs back to its bytes. */
int gx_hello_parse(const uint8_t *p, size_t len, gx_hello *h);

#define GX_CONFIG_SIZE 56

/* CONFIG: what a server tells each client right after HELLO_ACK. */
typedef struct gx_config {
	uint8_t sync;        /* enum gx_sync */
	uint8_t lan;         /* to a worker: GX_LINK_NONE or GX_LINK_FP16 */
	uint8_t mode;        /* to a local: 1 it applies the updates (a WAN
			      * codec), 2 the same under DGT (blocks allowed) */
	uint8_t sum;         /* updates use the sum, not the mean */
	uint32_t k1, k2;     /* HFA */
	gx_optim_opts optim; /* the global tier's optimizer */
	uint32_t block;      /* elements per block tensors travel in; 0: whole */
	uint8_t overlay;     /* to a local: 1 the adaptive overlay (its pushes
			      * follow the global's plans, docs/protocol.md) */
} gx_config;

void gx_config_pack(const gx_config *c, uint8_t out[GX_CONFIG_SIZE]);
/* GX_EPROTO unless len == 56, sync 0..2, lan 0 or 1, mode 0..2, sum 0 or 1,
 * k1 and k2 both zero or (HFA) both nonzero, a known optimizer kind, finite
 * floats, block 0 with mode 1, overlay 0 or 1 (0 with mode 1 or 2), and
 * reserved zero. Accepted payloads pack back to their bytes. */
int gx_config_parse(const uint8_t *p, size_t len, gx_config *c);

/* ERROR payload: returns its length (<= 8 + GX_ERROR_MSG_MAX; the message is
 * cut there) written to out (cap >= 8 + GX_ERROR_MSG_MAX). */
size_t gx_errmsg_pack(int code, const char *msg, uint8_t *out, size_t cap);
/* GX_EPROTO on a bad length; msg gets a NUL-terminated copy with control
 * characters replaced by '?', cut to cap - 1. */
int gx_errmsg_parse(const uint8_t *p, size_t len, int *code, char *msg, size_t cap);

/* OVL_PEERS: u32 n (1..GX_OVL_PEERS_MAX), then per party in order u16 len
 * (1..GX_OVL_ADDR_MAX) and len bytes of "HOST:PORT". gx_ovl_peers_size is
 * the payload's bytes; pack writes it to out (cap at least that) and
 * returns the length, or 0 when an address is empty or too long. parse:
 * GX_EPROTO unless the lengths add up exactly; addrs[i] points into p
 * (lens[i] bytes, not NUL-terminated, printable ASCII); n <= cap. */
#define GX_OVL_PEERS_MAX 64
size_t gx_ovl_peers_size(const char *const *addrs, uint32_t n);
size_t gx_ovl_peers_pack(const char *const *addrs, uint32_t n, uint8_t *out, size_t cap);
int gx_ovl_peers_parse(const uint8_t *p, size_t len, const char **addrs, uint16_t *lens,
		       uint32_t cap, uint32_t *n);

/* OVL_REPORT: what a local server measured of a link into it: u8 from
 * (the sender's party; the party count: the global server), u8 phase (0
 * the push, 1 the answers), u8 bound (1: only a lower bound on the link,
 * the transfer fed slower than it), 1 byte zero, u32 round, u64 bytes, u64
 * nanoseconds (GX_OVL_REPORT_SIZE). parse: GX_EPROTO unless the length is
 * exact, phase and bound 0 or 1, the reserved byte zero and the time
 * nonzero. */
#define GX_OVL_REPORT_SIZE 24
typedef struct gx_ovl_report {
	uint8_t from, phase, bound;
	uint32_t round;
	uint64_t bytes, ns;
} gx_ovl_report;
void gx_ovl_report_pack(const gx_ovl_report *r, uint8_t out[GX_OVL_REPORT_SIZE]);
int gx_ovl_report_parse(const uint8_t *p, size_t len, gx_ovl_report *r);

typedef struct gx_keyent {
	uint32_t key;
	uint64_t count;
} gx_keyent;

/* Bytes of a KEYTABLE payload of n entries. */
size_t gx_keytable_size(size_t n);
void gx_keytable_pack(const gx_keyent *e, size_t n, uint8_t *out);
/* Parses into a malloc'd array (*out, *n; free with free()). GX_EPROTO on bad
 * length, keys not strictly increasing, zero count, reserved nonzero, or more
 * than GX_KEYTABLE_MAX entries; GX_ENOMEM. An empty table (n 0) is accepted
 * (*out is still to be freed); on error *out is NULL and *n 0. */
int gx_keytable_parse(const uint8_t *p, size_t len, gx_keyent **out, size_t *n);

/* MEMBERS payload: u32 workers. */
int gx_members_parse(const uint8_t *p, size_t len, uint32_t *workers);

/* DGT_PUSH (a local's reliable part of a round under DGT, the frame's key,
 * block, round and sender as a PUSH's; docs/protocol.md, "DGT rounds"):
 *   codec u8 (F32, F16) | channels u8 (1..GX_DGT_CHANNELS_MAX) | 0 u16
 *   | block u32 (elements per DGT block, 1..65535) | nblocks u32
 *   | lossy u32 (blocks sent on lossy channels) | rate u64 (bytes a second
 *   they are paced at; 0 unpaced) | nrel u32 (0..nblocks) | ahead u32
 *   (KiB of datagrams the sender had queued before this round's)
 *   | index u32 x nrel (strictly increasing, < nblocks)
 *   | the reliable blocks' elements, in index order, in codec */
#define GX_DGT_MSG_HEAD 32
typedef struct gx_dgt_push {
	uint8_t codec, channels;
	uint32_t block, nblocks, lossy, nrel, ahead;
	uint64_t rate;
	const uint8_t *index;  /* nrel u32 LE, into the payload */
	const uint8_t *values; /* into the payload */
} gx_dgt_push;
/* Bytes of a DGT_PUSH whose reliable blocks hold elems elements. */
size_t gx_dgt_push_size(const gx_dgt_push *m, uint64_t elems);
/* Writes head and indices (idx: nrel of them) into out (cap bytes); the
 * caller appends the values. Returns the bytes written or GX_EINVAL. */
long gx_dgt_push_pack_head(const gx_dgt_push *m, const uint32_t *idx, uint8_t *out, size_t cap);
/* Parses a DGT_PUSH for a slice of count elements: GX_EPROTO unless every
 * field is in range, nblocks is ceil(count / block), 1 <= nrel + lossy <=
 * nblocks, the indices increase, and the length is exactly head, indices
 * and the reliable blocks' elements (the last block being shorter). The
 * pointers in m point into p. */
int gx_dgt_push_parse(const uint8_t *p, size_t len, uint64_t count, gx_dgt_push *m);
/* Elements of block b of a slice of count elements in blocks of block. */
uint32_t gx_dgt_block_len(uint64_t count, uint32_t block, uint32_t b);

/* DGT_ACK (the global's word on a round, before its answer): nblocks u32
 * | late u32 (datagrams of closed rounds since the last ACK on the link)
 * | bitmap of the blocks that arrived, ceil(nblocks / 8) bytes, LSB first,
 * the bits past nblocks zero. */
long gx_dgt_ack_pack(uint32_t nblocks, uint32_t late, const uint8_t *bits, uint8_t *out,
		     size_t cap);
/* GX_EPROTO unless the length and nblocks agree with the slice (nblocks
 * given) and the bits past it are zero; *bits points into p. */
int gx_dgt_ack_parse(const uint8_t *p, size_t len, uint32_t nblocks, uint32_t *late,
		     const uint8_t **bits);

#endif
