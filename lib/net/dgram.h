/*
 * net/dgram.h — datagram channels: UDP between a local server and the
 * global tier, for the part of a push that may be lost (DGT: a block that
 * does not arrive is folded back into the sender's residual and goes in a
 * later round; docs/design.md). Library-private like net/conn.h; the
 * format is docs/protocol.md's "Datagrams", the threat model
 * docs/security.md's "The datagram channel".
 *
 * One datagram carries one block of one tensor, never more than the path's
 * MTU (a lost IP fragment would lose the whole block):
 *
 *   head  = "GXDG" | version u8 (1) | kind u8 | channel u8 | codec u8
 *           | party u32 | key u32 | round u32 | slice u16 | block u16
 *           | count u16 | flags u16 | rel u32                 32 bytes
 *   body  = count elements in codec (GX_CODEC_F32: 4 bytes each, F16: 2)
 *   trail = sealed: the AEAD tag (16 bytes) of the link's suite over body,
 *           head as associated data, nonce = key u32 | round u32 |
 *           slice u16 | block u16 (the head's bytes 12..23), under the
 *           direction's datagram
 *           key (derived from the link's secure session:
 *           gx_sec_datagram_key); plaintext (--insecure): CRC-32C of head
 *           and body (4 bytes)
 *
 * All integers little-endian. kind is GX_DG_BLOCK (a block of a push,
 * local to global), GX_DG_ANSWER (a block of an answer, global to local)
 * or GX_DG_ASK (local to global: the blocks of an answer that did not
 * come, asked for again; codec GX_CODEC_NONE, its body count bytes: the
 * answer's bitmap of blocks in, as in a DGT_ACK, whose block field is
 * GX_DG_ASK_BLOCK + the attempt, so that a direction's nonces stay apart). channel is 1..255 for a lossy
 * channel, 0 for a copy of a block the TCP link carries too (the reliable
 * channel); slice the tensor frames' block number of the slice (key, slice)
 * the block belongs to, block the DGT block's index within it; flags
 * holds GX_DG_LAST (the slice's last block, which may be shorter) and
 * GX_DG_END (the round's last datagram) and nothing else; rel, for a BLOCK, how many of the round's blocks the link
 * carries (the receiver then knows when their copies are all in), 0 for
 * an ANSWER. A datagram is exactly head + body + trail bytes, nothing
 * after. The nonce never repeats under a key: a link joins one sender to
 * one server, and the sender seals a block of a slice at most once a
 * round (a push's lost block goes again in a later round, under that
 * round's number; an answer's goes again over the link); replays of a
 * datagram that opens are the receiver's to drop (a closed round, a block
 * already in).
 *
 * Threading: a gx_dg_key is immutable once made and may be shared by
 * threads; everything else belongs to its caller.
 */
#ifndef GX_DGRAM_H
#define GX_DGRAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gx_net.h"

#define GX_DG_HEAD 32
#define GX_DG_TAG 16
#define GX_DG_CRC 4
/* The largest datagram read or written (an IPv4 UDP payload's maximum). */
#define GX_DG_MAX 65507
/* What a datagram's IP and UDP headers take of the path's MTU. */
#define GX_DG_IP4_OVERHEAD 28
#define GX_DG_IP6_OVERHEAD 48

enum { GX_DG_BLOCK = 1, GX_DG_ANSWER = 2, GX_DG_ASK = 3 };
/* The largest slice number a datagram carries, and block index of a
 * BLOCK or an ANSWER; an ASK's block is GX_DG_ASK_BLOCK + its attempt
 * (0..GX_DG_ASK_TRIES - 1), apart from every block's so that its nonce
 * is too. */
#define GX_DG_SLICE_MAX 65535u
#define GX_DG_ASK_TRIES 8u
#define GX_DG_ASK_BLOCK (GX_DG_SLICE_MAX + 1 - GX_DG_ASK_TRIES)
#define GX_DG_INDEX_MAX (GX_DG_ASK_BLOCK - 1)
/* flags: the slice's last block (so a receiver that sees another one
 * first knows the slice's block size from its count) */
#define GX_DG_LAST 1u
/* flags: the last datagram the sender sends of this round of the slice
 * (those before it left before it: a receiver that sees it knows the rest
 * are in or lost, without waiting) */
#define GX_DG_END 2u
#define GX_DG_FLAGS (GX_DG_LAST | GX_DG_END)

/* A datagram's header, parsed. */
typedef struct gx_dg_head {
	uint8_t kind, channel, codec;
	uint32_t party, key, round;
	uint32_t slice, block; /* at most GX_DG_INDEX_MAX */
	uint16_t count, flags;
	uint32_t rel;
} gx_dg_head;

/* A direction's datagram key: NULL where the link is plaintext. */
typedef struct gx_dg_key gx_dg_key;

/* A key of suite (GX_SEC_CHACHA20 or GX_SEC_AES256GCM, net/secure.h) from
 * 32 secret bytes, copied. NULL on a bad suite, no memory, or libsodium
 * that cannot initialise. Wiped by gx_dg_key_free (NULL accepted). */
gx_dg_key *gx_dg_key_new(int suite, const uint8_t k[32]);
void gx_dg_key_free(gx_dg_key *k);

/* Bytes of a datagram beyond its body: head and tag (key) or CRC (NULL). */
size_t gx_dg_overhead(const gx_dg_key *k);

/* Writes the datagram of head h (its count the body's elements) and body
 * into out (cap bytes). Returns its length, or GX_EINVAL (a field out of
 * range (slice above GX_DG_SLICE_MAX, a block's index above GX_DG_INDEX_MAX,
 * an ask's outside its attempts), cap too small, a codec the kind does not
 * take: F32/F16, an ask's NONE). */
long gx_dg_seal(const gx_dg_key *k, const gx_dg_head *h, const void *body, uint8_t *out,
		size_t cap);

/* Parses the header of the len bytes at buf and checks the datagram's
 * shape against it (magic, version, kind, codec, reserved flags, and len
 * exactly head + body + trail for a sealed (sealed != 0) or a plaintext
 * one), without authenticating: the receiver reads the party from it to
 * find the key. 0, or GX_EMAGIC, GX_EVERSION, GX_ETYPE, GX_ECODEC,
 * GX_EFLAGS, GX_ELENGTH. Never reads past len. */
int gx_dg_peek(const uint8_t *buf, size_t len, int sealed, gx_dg_head *h);

/* Checks the datagram at buf (len bytes) as gx_dg_peek does, then
 * authenticates it under k (or its CRC, k NULL) and decrypts the body in
 * place: *body points into buf at h->count elements. 0, a gx_dg_peek
 * error, GX_EAUTH (does not open: forged, altered, another key) or GX_ECRC.
 * buf is garbage after a failure. */
int gx_dg_open(const gx_dg_key *k, uint8_t *buf, size_t len, gx_dg_head *h, const uint8_t **body);

/* ---------------------------------------------------------------- sockets */

/* Socket options of a datagram socket. */
typedef struct gx_dg_opts {
	int rcvbuf; /* SO_RCVBUF bytes (SO_RCVBUFFORCE tried first: a root
		     * receiver gets what it asks beyond rmem_max); 0 the
		     * kernel's */
	int tos;    /* the DS field (DSCP << 2) of what it sends; 0 none */
} gx_dg_opts;

/* A non-blocking UDP socket bound to host:port (port 0: any free one,
 * gx_net_port tells which), counting what its receive queue drops
 * (SO_RXQ_OVFL, read by gx_dg_recv), with don't-fragment set on what it
 * sends (gx_dg_send_to). fd, or GX_EIO with a reason in err. */
int gx_dg_bind(const char *host, int port, const gx_dg_opts *o, char *err, size_t errcap);
/* A non-blocking UDP socket connected to host:port, with don't-fragment
 * set (IP_PMTUDISC_DO: a datagram above the path's MTU fails to send
 * instead of leaving in fragments) and o applied. fd or GX_EIO. */
int gx_dg_connect(const char *host, int port, const gx_dg_opts *o, char *err, size_t errcap);
/* The path MTU the kernel knows for a connected socket (IP_MTU, IPV6_MTU),
 * or GX_EIO. */
int gx_dg_path_mtu(int fd);
/* The largest datagram (head + body + trail) that fits an MTU of mtu on
 * socket fd's address family. */
size_t gx_dg_fit(int fd, int mtu);

/* Sends n datagrams (buf[i], len[i]) on a connected socket, batched
 * (sendmmsg). Returns how many left (0..n: the rest would block), or
 * GX_EIO (errno: EMSGSIZE above the path's MTU, ECONNREFUSED after an ICMP
 * port unreachable, ...). */
int gx_dg_send(int fd, uint8_t *const *buf, const size_t *len, int n);
/* The same from an unconnected (bound) socket to the address to (tolen
 * bytes). */
int gx_dg_send_to(int fd, const struct sockaddr *to, socklen_t tolen, uint8_t *const *buf,
		  const size_t *len, int n);

/* A batch of receive buffers for gx_dg_recv. */
#define GX_DG_BATCH 32
typedef struct gx_dg_rx {
	uint8_t *buf[GX_DG_BATCH];  /* GX_DG_MAX bytes each (gx_dg_rx_new) */
	size_t len[GX_DG_BATCH];    /* what arrived in each */
	struct sockaddr_storage from[GX_DG_BATCH];
	uint32_t ovfl;              /* the socket's drop counter, as last read */
	uint64_t dropped;           /* datagrams the kernel dropped for want of
				     * room, since the batch was made */
} gx_dg_rx;
gx_dg_rx *gx_dg_rx_new(void);
void gx_dg_rx_free(gx_dg_rx *rx);
/* Reads up to GX_DG_BATCH datagrams (recvmmsg) into rx; truncated ones
 * (above GX_DG_MAX) get length 0. Returns how many (0: none waiting), or
 * GX_EIO. Updates rx->dropped from the kernel's counter. */
int gx_dg_recv(int fd, gx_dg_rx *rx);

/* ---------------------------------------------------------------- pacing */

/* A token bucket: what leaves never exceeds rate bytes a second beyond a
 * burst of burst bytes, so that a sender never outruns the bottleneck it
 * paces for (sending faster buys only drops). */
typedef struct gx_dg_pacer {
	double rate;     /* bytes per second; <= 0: unpaced */
	double burst;    /* bytes */
	double tokens;
	uint64_t t_ns;   /* when tokens was last brought up to date */
} gx_dg_pacer;
void gx_dg_pacer_init(gx_dg_pacer *p, double rate, double burst, uint64_t now_ns);
/* 0 when len bytes may leave at now_ns (and takes them), else the
 * nanoseconds until they may (taking nothing). A datagram above the burst
 * waits for a full bucket and leaves with the bucket in debt. */
uint64_t gx_dg_pacer_take(gx_dg_pacer *p, size_t len, uint64_t now_ns);
/* Takes len bytes at now_ns whatever the bucket holds (it may go into
 * debt): what went over the same path by another way (a TCP link's bytes),
 * which the datagrams then wait behind. */
void gx_dg_pacer_charge(gx_dg_pacer *p, size_t len, uint64_t now_ns);
/* The bytes the bucket owes at now_ns (what was charged beyond it): the
 * time they take at the rate passes before anything more leaves. */
double gx_dg_pacer_debt(gx_dg_pacer *p, uint64_t now_ns);

#endif
