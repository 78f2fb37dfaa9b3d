/*
 * net/gx_net.h — what programs need of the network room: the pre-shared key
 * files of authenticated, encrypted links (docs/security.md). The event
 * loop, connections and the secure channel themselves are private to lib/
 * (net/conn.h, net/secure.h); programs reach them through the parameter
 * servers, the worker client and the relay.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_NET_H
#define GX_NET_H

#include <stddef.h>
#include <stdint.h>
#include "../wire/gx_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of every link's timing (seconds): how long to keep retrying a
 * connection, how often to say something on an idle link, and the silence
 * after which a peer counts as dead. */
#define GX_DEFAULT_CONNECT_TIMEOUT 30.0
/* Bytes a link queues ahead of the wire under a priority schedule (P3):
 * a frame of priority 0 waits behind about twice this much (the queue and
 * the kernel's unsent bytes), plus what is in flight. */
#define GX_DEFAULT_CREDIT (256u << 10)
/* A credit tuned while running (gx_conn_set_credit): what the link drains
 * in GX_CREDIT_AUTO_US, measured on the socket, within MIN..MAX; it starts
 * at GX_DEFAULT_CREDIT. The choice and its measurement: docs/design.md. */
#define GX_CREDIT_AUTO ((size_t)1)
#define GX_CREDIT_AUTO_US 4000
#define GX_CREDIT_AUTO_MIN (64u << 10)
#define GX_CREDIT_AUTO_MAX (2u << 20)
#define GX_DEFAULT_HEARTBEAT 1.0
#define GX_DEFAULT_HEARTBEAT_TIMEOUT 5.0
/* The same for a link between a local and a global server, across a WAN
 * whose stalls last longer than a LAN's (and with --reconnect-timeout a
 * stall past it is a link dialled again, not a dead party). */
#define GX_DEFAULT_WAN_HEARTBEAT_TIMEOUT 30.0
/* How long a broken link between a local and a global server may take to
 * come back (a restarted relay, a WAN blip) before the job counts it dead. */
#define GX_DEFAULT_RECONNECT_TIMEOUT 60.0

/* Splits "host:port", "[v6]:port" or ":port" (host "" means any address).
 * Returns 0 or GX_EINVAL. */
int gx_net_split(const char *addr, char *host, size_t hostcap, int *port);

/* The longest host name an address may carry, and the longest item of an
 * address list: a bracketed host, ':' and five digits. */
#define GX_NET_HOST_MAX 255
#define GX_NET_ADDR_MAX (GX_NET_HOST_MAX + 8)

/* One item of an address list. */
typedef struct gx_net_addr {
	char host[GX_NET_HOST_MAX + 1]; /* "" when the item was ":PORT" */
	int port;                       /* 1..65535 */
	char text[GX_NET_ADDR_MAX + 1]; /* the item as written, for messages */
} gx_net_addr;

/* Parses a list of servers to connect to, "HOST:PORT[,HOST:PORT...]"
 * (items as gx_net_split takes them). Refused, with a one-line reason in
 * err naming the item: an empty item (",," or a comma at an end), an item
 * longer than GX_NET_ADDR_MAX, one that is not HOST:PORT, a port outside
 * 1..65535. On success *n is the number of items; the first min(*n, cap)
 * are written to out (out may be NULL with cap 0: only check and count).
 * Returns 0 or GX_EINVAL. Thread-safe. */
int gx_net_addr_list(const char *list, gx_net_addr *out, size_t cap, size_t *n, char *err,
		     size_t errcap);

#define GX_KEY_BYTES 32

/* Whose a key is (net/key.c, docs/security.md "Identities"): the job's
 * (every key derives from it), a party's (a data center: its local server,
 * and its workers' keys derive from it) or a worker's. */
enum { GX_KEY_JOB = 0, GX_KEY_PARTY = 1, GX_KEY_WORKER = 2 };

/* A key: 32 secret bytes and whose they are (a zeroed struct with the
 * bytes set is a job's key). */
typedef struct gx_key {
	uint8_t k[GX_KEY_BYTES];
	int scope;             /* GX_KEY_* */
	uint32_t party, rank;  /* a party's: party; a worker's: both */
} gx_key;

/* The key of scope (party, rank: as the scope needs) derived from `from`:
 * the job's key gives every key, a party's its own and its workers', a
 * worker's only itself. 0, or GX_EINVAL where `from` cannot give it. */
int gx_key_derive(const gx_key *from, int scope, uint32_t party, uint32_t rank, gx_key *out);
/* "the job's key", "party P's key", "worker R of party P's key" into buf. */
const char *gx_key_name(const gx_key *k, char *buf, size_t cap);
/* Writes key to path as gx_key_generate does (a job's key as 64 hex digits,
 * another as "geomx-key party P HEX" or "geomx-key worker P R HEX"). */
int gx_key_save(const char *path, const gx_key *key, char *err, size_t errcap);

/* The keys a server checks a handshake against: the key that verifies is
 * the peer's (gx_conn_peer_key). Immutable once made; shared by the links
 * that use it, which it must outlive. */
typedef struct gx_keyring gx_keyring;
gx_keyring *gx_keyring_new(const gx_key *keys, size_t n);
void gx_keyring_free(gx_keyring *r);
size_t gx_keyring_size(const gx_keyring *r);
/* Key i, and (kauth, may be NULL) its handshake MAC key; NULL past the end. */
const gx_key *gx_keyring_key(const gx_keyring *r, size_t i, const uint8_t **kauth);

/* Writes a new random key as 64 lowercase hex digits and a newline to path,
 * mode 0600, atomically (a temporary beside it, then link(2), so an existing
 * file is never replaced: GX_EINVAL "PATH exists"). 0, or GX_EIO/GX_EINVAL
 * with a one-line reason naming path in err. */
int gx_key_generate(const char *path, char *err, size_t errcap);

/* Reads a key file: exactly 32 raw bytes, or 64 hex digits (either case)
 * with optional surrounding whitespace (a job's key), or "geomx-key party P
 * HEX" / "geomx-key worker P R HEX" (a party's, a worker's). Refused: not a regular file, any
 * permission bit for group or others (mode & 077: "PATH is readable by
 * others (mode 0644); chmod 600 PATH"), wrong length or non-hex content.
 * Returns 0, or GX_EIO (cannot open/read), GX_EINVAL (permissions) or
 * GX_EFORMAT with a one-line reason naming path in err. */
int gx_key_load(const char *path, gx_key *key, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif
#endif
