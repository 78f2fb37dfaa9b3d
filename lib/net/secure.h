/*
 * net/secure.h — authenticated, encrypted links between geomx programs
 * (libsodium). Library-private like net/conn.h; used by lib/net/conn.c (every framed
 * connection of geomx-ps, the worker client, geomx-train) and by
 * geomx-relay. docs/security.md has the design and the threat model; this
 * header is the contract.
 *
 * Pre-shared key: 32 bytes every party of a job holds (a key file, mode
 * 0600). Per link, a two-message handshake proves both ends hold it and
 * derives fresh per-direction keys from ephemeral X25519 keys (libsodium's
 * crypto_kx) bound to the pre-shared key; then a stream of records, each
 * sealed with an AEAD under an implicit per-direction counter nonce.
 *
 * Wire format, version 1 (all integers little-endian):
 *
 *   hdr   = "GXHS" | version u8 (1) | suites u8 | 0 u8 | 0 u8        8 bytes
 *           suites: bit 0 ChaCha20-Poly1305-IETF, bit 1 AES-256-GCM. The
 *           client sets every suite it can run (AES-256-GCM only where
 *           crypto_aead_aes256gcm_is_available()); the server answers with
 *           exactly one bit: AES-256-GCM when both can, else ChaCha20.
 *   msg1  = hdr | client ephemeral X25519 public key (32) | mac1 (32)   72 bytes
 *   msg2  = hdr | server ephemeral X25519 public key (32) | mac2 (32)   72 bytes
 *   K_auth = BLAKE2b-256(key = PSK, "geomx handshake auth v1")
 *   mac1  = BLAKE2b-256(key = K_auth, "C" | hdr1 | epk_c)
 *   mac2  = BLAKE2b-256(key = K_auth, "S" | msg1 | hdr2 | epk_s)
 *   th    = BLAKE2b-256(msg1 | msg2)
 *   (rx, tx) = crypto_kx_{client,server}_session_keys(...)  — so the
 *           client's tx equals the server's rx (the c2s key material).
 *   K_c2s = BLAKE2b-256(key = PSK, "geomx c2s v1" | kx c2s | th)
 *   K_s2c = BLAKE2b-256(key = PSK, "geomx s2c v1" | kx s2c | th)
 *
 *   record = head u32 | ciphertext (len bytes) | tag (16)
 *           head: bits 0..23 plaintext length (<= GX_SEC_RECORD_MAX),
 *           bits 24..31 type (GX_SEC_DATA, GX_SEC_CONFIRM, GX_SEC_CLOSE).
 *           AEAD with the direction's key, the 4 head bytes as associated
 *           data, nonce = record counter of that direction (u64 LE, from 0)
 *           followed by 4 zero bytes. A counter never repeats under a key
 *           (a link that would wrap it fails); a replayed, reordered,
 *           dropped or altered record fails authentication.
 *
 * Sequence: the client sends msg1. The server checks hdr and mac1 before
 * any public-key work, answers msg2. The client checks mac2, derives the
 * keys, sends a CONFIRM record (empty, c2s counter 0) and is established.
 * The server is established once that CONFIRM opens: until then it has
 * parsed nothing but 72 fixed-size bytes and one 20-byte record.
 * A stream that ends after a CLOSE record ended in order; one that ends
 * elsewhere was truncated (the caller reports GX_ETRUNC).
 *
 * Errors name what went wrong in gx_sec_why(): a plaintext geomx frame
 * ("GXFR") where the handshake was expected is "peer speaks plaintext (no
 * --key there?)"; bad magic "not a geomx secure handshake"; a mac that does
 * not verify "authentication failed: the peer holds a different key";
 * a record that does not open "record N failed authentication (tampered,
 * replayed or reordered)".
 */
#ifndef GX_SECURE_H
#define GX_SECURE_H

#include <stddef.h>
#include <stdint.h>

#include "gx_net.h"

#define GX_SEC_HELLO_BYTES 72           /* msg1 and msg2 */
#define GX_SEC_RECORD_HEAD 4
#define GX_SEC_TAG 16
#define GX_SEC_OVERHEAD (GX_SEC_RECORD_HEAD + GX_SEC_TAG)
#define GX_SEC_RECORD_MAX (64u << 10)   /* plaintext bytes per record */
#define GX_SEC_HANDSHAKE_MS 5000        /* default time limit for a handshake */

enum { GX_SEC_DATA = 1, GX_SEC_CONFIRM = 2, GX_SEC_CLOSE = 3 };
enum { GX_SEC_CLIENT = 0, GX_SEC_SERVER = 1 };
enum { GX_SEC_CHACHA20 = 1, GX_SEC_AES256GCM = 2 }; /* suite bits */


/* Initialises libsodium once (thread-safe). 0 or GX_ENOTSUP. Every other
 * call here does it implicitly. */
int gx_sec_init(void);

/* Key files: gx_key_generate and gx_key_load, in gx_net.h. */

/* One link's handshake and record state. Holds copies of the keys; wiped
 * (sodium_memzero) by gx_sec_free. */
typedef struct gx_sec gx_sec;

/* role GX_SEC_CLIENT or GX_SEC_SERVER; suites 0 means every suite this
 * machine runs (tests force one). NULL on ENOMEM or when libsodium cannot
 * initialise. */
gx_sec *gx_sec_new(const gx_key *psk, int role, int suites);
/* A server end that takes any key of ring (which must outlive it): the one
 * msg1 verifies with is the peer's, gx_sec_peer_key once established. NULL
 * on a bad argument or no memory. */
gx_sec *gx_sec_new_ring(const gx_keyring *ring, int suites);
/* The established peer's key from the ring; NULL before, or without one. */
const gx_key *gx_sec_peer_key(const gx_sec *s);
void gx_sec_free(gx_sec *s);

/* The client's first message: writes GX_SEC_HELLO_BYTES into out (cap at
 * least that) and returns its length; a server writes nothing and returns
 * 0. GX_EINVAL if called twice or cap is too small. */
int gx_sec_start(gx_sec *s, uint8_t *out, size_t cap);

/* Feeds handshake input (bytes received so far and not yet used). Sets
 * *used to the bytes consumed, and may write a reply into out (*outlen
 * bytes; cap >= GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD always suffices).
 * Returns GX_ENEEDMORE (feed more), 1 when the link is established (bytes
 * after *used are records: pass them to gx_sec_open), or an error with
 * gx_sec_why set: GX_EPROTO, GX_EVERSION, GX_EAUTH. After an error the
 * state is dead: every later call returns the same error. Never reads more
 * than its fixed-size messages need; bytes beyond are left unused. */
int gx_sec_handshake(gx_sec *s, const uint8_t *in, size_t len, size_t *used, uint8_t *out,
		     size_t cap, size_t *outlen);

/* 1 once established. */
int gx_sec_established(const gx_sec *s);
/* The datagram key (net/dgram.h) of one direction of an established link:
 * BLAKE2b-256 keyed with that direction's record key, of "geomx datagram
 * v1"; send 1: the direction this end sends in, 0: the one it receives.
 * So the two ends of a link agree, each session has its own, and the
 * records' keys are not used twice. The caller frees it
 * (gx_dg_key_free). NULL before the link is up, or without memory. */
struct gx_dg_key;
struct gx_dg_key *gx_sec_datagram_key(const gx_sec *s, int send);
/* The suite in use (GX_SEC_CHACHA20 or GX_SEC_AES256GCM), 0 before. */
int gx_sec_suite(const gx_sec *s);
/* The last error's one-line reason ("" if none). */
const char *gx_sec_why(const gx_sec *s);

/* Bytes that gx_sec_seal_stream writes for len plaintext bytes: len plus
 * GX_SEC_OVERHEAD per record of at most GX_SEC_RECORD_MAX (0 for len 0). */
size_t gx_sec_sealed_len(size_t len);

/* Seals one record of type with len <= GX_SEC_RECORD_MAX plaintext bytes
 * into out (len + GX_SEC_OVERHEAD bytes; out must not overlap plain).
 * Returns the bytes written, or GX_EINVAL (not established, len too big),
 * GX_ETOOBIG (the counter would wrap). */
long gx_sec_seal(gx_sec *s, int type, const uint8_t *plain, size_t len, uint8_t *out);
/* Seals len bytes as DATA records of GX_SEC_RECORD_MAX (the last shorter)
 * into out (gx_sec_sealed_len(len) bytes). Returns that or an error as
 * gx_sec_seal. */
long gx_sec_seal_stream(gx_sec *s, const uint8_t *plain, size_t len, uint8_t *out);

/* Opens the record at the start of buf (len bytes available), in place:
 * on success *plain points into buf at the *plain_len decrypted bytes,
 * *type is the record type and *used the record's size on the wire.
 * Returns 0, GX_ENEEDMORE (record incomplete; nothing consumed), or with
 * gx_sec_why set: GX_ETOOBIG (length above GX_SEC_RECORD_MAX), GX_EPROTO
 * (unknown type, or CONFIRM after the handshake), GX_EAUTH (does not
 * open). A server's CONFIRM is consumed by gx_sec_handshake, never here. */
int gx_sec_open(gx_sec *s, uint8_t *buf, size_t len, size_t *used, int *type, const uint8_t **plain,
		size_t *plain_len);

/* Records sealed and opened so far (counters of both directions). */
uint64_t gx_sec_sent(const gx_sec *s);
uint64_t gx_sec_received(const gx_sec *s);

#endif
