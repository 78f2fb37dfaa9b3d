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
#define GX_DEFAULT_HEARTBEAT 1.0
#define GX_DEFAULT_HEARTBEAT_TIMEOUT 5.0

/* Splits "host:port", "[v6]:port" or ":port" (host "" means any address).
 * Returns 0 or GX_EINVAL. */
int gx_net_split(const char *addr, char *host, size_t hostcap, int *port);

#define GX_KEY_BYTES 32

/* A pre-shared key: 32 bytes every party of a job holds. */
typedef struct gx_key {
	uint8_t k[GX_KEY_BYTES];
} gx_key;

/* Writes a new random key as 64 lowercase hex digits and a newline to path,
 * mode 0600, atomically (a temporary beside it, then link(2), so an existing
 * file is never replaced: GX_EINVAL "PATH exists"). 0, or GX_EIO/GX_EINVAL
 * with a one-line reason naming path in err. */
int gx_key_generate(const char *path, char *err, size_t errcap);

/* Reads a key file: exactly 32 raw bytes, or 64 hex digits (either case)
 * with optional surrounding whitespace. Refused: not a regular file, any
 * permission bit for group or others (mode & 077: "PATH is readable by
 * others (mode 0644); chmod 600 PATH"), wrong length or non-hex content.
 * Returns 0, or GX_EIO (cannot open/read), GX_EINVAL (permissions) or
 * GX_EFORMAT with a one-line reason naming path in err. */
int gx_key_load(const char *path, gx_key *key, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif
#endif
