/*
 * secure.c — the handshake and record layer of secure.h, on libsodium (key
 * files and key rings: key.c).
 *
 * Choices:
 *  - The server verifies mac1 (one keyed BLAKE2b over 41 bytes) before it
 *    generates a key pair or computes a shared secret, so a stranger without
 *    the key costs it a hash, never public-key work.
 *  - Handshake messages are consumed whole or not at all: the caller keeps
 *    the bytes and feeds them again with more. The magic and the version
 *    are judged as soon as their bytes are there, so a plaintext peer that
 *    sent a short frame and now waits gets its answer at once rather than a
 *    timeout.
 *  - AES-256-GCM uses libsodium's precomputed state (beforenm/afternm): the
 *    key schedule and the GHASH powers are computed once per link direction
 *    instead of once per record.
 *  - A record's nonce is its counter, never sent: a replayed, dropped or
 *    reordered record is opened under the wrong nonce and fails like a
 *    tampered one. The head (length and type) is associated data.
 *  - Every failure is sticky: once a link has seen a bad byte it is dead,
 *    so a caller that goes on feeding cannot reach a state the protocol
 *    does not have.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/le.h"
#include "dgram.h"
#include "secure.h"

#define SEC_VERSION 1
#define SEC_HDR 8
#define SEC_PK 32
#define SEC_MAC 32
#define SEC_NONCE 12
#define SEC_WHY 192
#define SEC_ALL (GX_SEC_CHACHA20 | GX_SEC_AES256GCM)

static const uint8_t hs_magic[4] = { 'G', 'X', 'H', 'S' };
static const uint8_t fr_magic[4] = { 'G', 'X', 'F', 'R' };

enum { S_NEW, S_WAIT_MSG1, S_WAIT_MSG2, S_WAIT_CONFIRM, S_UP, S_DEAD };

/* One direction's record key: the raw key for ChaCha20, the expanded
 * state for AES-GCM. */
typedef struct dir_key {
	crypto_aead_aes256gcm_state aes;
	uint8_t k[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	uint64_t ctr; /* the next record's number */
} dir_key;

struct gx_sec {
	dir_key tx, rx; /* first: the AES state wants 16-byte alignment */
	int role, state, err;
	int suites; /* those this end runs (and, for a client, offered) */
	int suite;
	uint8_t psk[GX_KEY_BYTES];
	uint8_t kauth[SEC_MAC];
	const gx_keyring *ring; /* a server's peers' keys: the one that verifies
				 * becomes psk (peer) */
	const gx_key *peer;
	uint8_t esk[crypto_kx_SECRETKEYBYTES];
	uint8_t msg1[GX_SEC_HELLO_BYTES];
	char why[SEC_WHY];
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void init_sodium(void)
{
	init_rc = sodium_init() < 0 ? GX_ENOTSUP : 0;
}

int gx_sec_init(void)
{
	pthread_once(&init_once, init_sodium);
	return init_rc;
}

/* Suites this machine can run. */
static int suites_here(void)
{
	return GX_SEC_CHACHA20 | (crypto_aead_aes256gcm_is_available() ? GX_SEC_AES256GCM : 0);
}

static void wipe_keys(gx_sec *s)
{
	sodium_memzero(&s->tx.aes, sizeof s->tx.aes);
	sodium_memzero(&s->rx.aes, sizeof s->rx.aes);
	sodium_memzero(s->tx.k, sizeof s->tx.k);
	sodium_memzero(s->rx.k, sizeof s->rx.k);
	sodium_memzero(s->esk, sizeof s->esk);
}

/* Kills the link with err and a reason; returns err. */
__attribute__((format(printf, 3, 4))) static int fail(gx_sec *s, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof s->why, fmt, ap);
	va_end(ap);
	s->state = S_DEAD;
	s->err = err;
	/* Nothing of a dead link is used again. */
	wipe_keys(s);
	return err;
}

gx_sec *gx_sec_new(const gx_key *psk, int role, int suites)
{
	static const char auth_label[] = "geomx handshake auth v1";

	if (!psk || (role != GX_SEC_CLIENT && role != GX_SEC_SERVER) || gx_sec_init() != 0)
		return NULL;
	suites = (suites ? suites : SEC_ALL) & suites_here();
	if (!suites)
		return NULL;
	/* aligned_alloc wants a multiple of the alignment */
	size_t sz = (sizeof(gx_sec) + 63) & ~(size_t)63;
	gx_sec *s = aligned_alloc(64, sz);
	if (!s)
		return NULL;
	memset(s, 0, sizeof *s);
	s->role = role;
	s->suites = suites;
	s->state = S_NEW;
	memcpy(s->psk, psk->k, GX_KEY_BYTES);
	crypto_generichash(s->kauth, sizeof s->kauth, (const uint8_t *)auth_label,
			   sizeof auth_label - 1, s->psk, sizeof s->psk);
	return s;
}

gx_sec *gx_sec_new_ring(const gx_keyring *ring, int suites)
{
	const gx_key *k0 = gx_keyring_key(ring, 0, NULL);
	gx_sec *s = k0 ? gx_sec_new(k0, GX_SEC_SERVER, suites) : NULL;
	if (s)
		s->ring = ring;
	return s;
}

const gx_key *gx_sec_peer_key(const gx_sec *s)
{
	return s && s->state == S_UP ? s->peer : NULL;
}

void gx_sec_free(gx_sec *s)
{
	if (!s)
		return;
	sodium_memzero(s, sizeof *s);
	free(s);
}

static void put_hdr(uint8_t *p, int suites)
{
	memcpy(p, hs_magic, 4);
	p[4] = SEC_VERSION;
	p[5] = (uint8_t)suites;
	p[6] = 0;
	p[7] = 0;
}

/* BLAKE2b-256 keyed with key over the concatenation of up to four parts. */
static void mac4(uint8_t out[SEC_MAC], const uint8_t *key, const void *a, size_t al,
		 const void *b, size_t bl, const void *c, size_t cl, const void *d, size_t dl)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, key ? SEC_MAC : 0, SEC_MAC);
	crypto_generichash_update(&st, a, al);
	if (bl)
		crypto_generichash_update(&st, b, bl);
	if (cl)
		crypto_generichash_update(&st, c, cl);
	if (dl)
		crypto_generichash_update(&st, d, dl);
	crypto_generichash_final(&st, out, SEC_MAC);
	sodium_memzero(&st, sizeof st);
}

/* Judges the header bytes present at p (len of them, possibly fewer than a
 * whole header): 0 when they may still be a good header, else the error. */
static int check_hdr(gx_sec *s, const uint8_t *p, size_t len)
{
	size_t m = len < 4 ? len : 4;
	if (memcmp(p, hs_magic, m) != 0) {
		if (memcmp(p, fr_magic, m) != 0)
			return fail(s, GX_EPROTO, "not a geomx secure handshake");
		if (m == 4)
			return fail(s, GX_EPROTO, "peer speaks plaintext (no --key there?)");
		return 0; /* "GX", "GXF": wait and tell which */
	}
	if (len > 4 && p[4] != SEC_VERSION)
		return fail(s, GX_EVERSION,
			    "peer speaks secure handshake version %u, this build speaks %u",
			    (unsigned)p[4], SEC_VERSION);
	if (len >= SEC_HDR && (p[6] || p[7]))
		return fail(s, GX_EPROTO, "malformed handshake (reserved bytes set)");
	return 0;
}

/* Both directions' record keys: crypto_kx of our ephemeral secret and the
 * peer's public key, bound to the PSK and the transcript (msg1 | msg2).
 * The ephemeral secret is wiped here, whatever happens. 0 or an error. */
static int derive(gx_sec *s, const uint8_t *own_pk, const uint8_t *peer_pk, const uint8_t *msg2)
{
	static const char c2s_label[] = "geomx c2s v1", s2c_label[] = "geomx s2c v1";
	uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
	uint8_t th[SEC_MAC], c2s[SEC_MAC], s2c[SEC_MAC];
	int client = s->role == GX_SEC_CLIENT;

	int rc = client ? crypto_kx_client_session_keys(rx, tx, own_pk, s->esk, peer_pk)
			: crypto_kx_server_session_keys(rx, tx, own_pk, s->esk, peer_pk);
	sodium_memzero(s->esk, sizeof s->esk);
	if (rc == 0) {
		mac4(th, NULL, s->msg1, GX_SEC_HELLO_BYTES, msg2, GX_SEC_HELLO_BYTES, NULL, 0, NULL,
		     0);
		mac4(c2s, s->psk, c2s_label, sizeof c2s_label - 1, client ? tx : rx, sizeof tx, th,
		     sizeof th, NULL, 0);
		mac4(s2c, s->psk, s2c_label, sizeof s2c_label - 1, client ? rx : tx, sizeof rx, th,
		     sizeof th, NULL, 0);
		memcpy(s->tx.k, client ? c2s : s2c, sizeof s->tx.k);
		memcpy(s->rx.k, client ? s2c : c2s, sizeof s->rx.k);
		if (s->suite == GX_SEC_AES256GCM) {
			crypto_aead_aes256gcm_beforenm(&s->tx.aes, s->tx.k);
			crypto_aead_aes256gcm_beforenm(&s->rx.aes, s->rx.k);
		}
	}
	sodium_memzero(rx, sizeof rx);
	sodium_memzero(tx, sizeof tx);
	sodium_memzero(c2s, sizeof c2s);
	sodium_memzero(s2c, sizeof s2c);
	if (rc != 0)
		return fail(s, GX_EPROTO, "handshake failed: the peer's ephemeral key is invalid");
	return 0;
}

int gx_sec_start(gx_sec *s, uint8_t *out, size_t cap)
{
	if (!s || s->state != S_NEW)
		return GX_EINVAL;
	if (s->role == GX_SEC_SERVER) {
		s->state = S_WAIT_MSG1;
		return 0;
	}
	if (!out || cap < GX_SEC_HELLO_BYTES)
		return GX_EINVAL;
	uint8_t *m = s->msg1;
	put_hdr(m, s->suites);
	crypto_kx_keypair(m + SEC_HDR, s->esk);
	mac4(m + SEC_HDR + SEC_PK, s->kauth, "C", 1, m, SEC_HDR, m + SEC_HDR, SEC_PK, NULL, 0);
	memcpy(out, m, GX_SEC_HELLO_BYTES);
	s->state = S_WAIT_MSG2;
	return GX_SEC_HELLO_BYTES;
}

/* The server's part: msg1 in, msg2 out. */
static int on_msg1(gx_sec *s, const uint8_t *in, uint8_t *out)
{
	uint8_t want[SEC_MAC];

	if (s->ring) {
		/* the key that verifies is the peer's (which key it is, the peer
		 * says openly in its HELLO anyway) */
		const uint8_t *kauth;
		const gx_key *k;
		for (size_t i = 0; !s->peer && (k = gx_keyring_key(s->ring, i, &kauth)); i++) {
			mac4(want, kauth, "C", 1, in, SEC_HDR, in + SEC_HDR, SEC_PK, NULL, 0);
			if (crypto_verify_32(want, in + SEC_HDR + SEC_PK) == 0) {
				s->peer = k;
				memcpy(s->psk, k->k, GX_KEY_BYTES);
				memcpy(s->kauth, kauth, SEC_MAC);
			}
		}
		if (!s->peer) /* (none of the keys of the ring) */
			return fail(s, GX_EAUTH, "authentication failed: the peer holds a different key");
	} else {
		mac4(want, s->kauth, "C", 1, in, SEC_HDR, in + SEC_HDR, SEC_PK, NULL, 0);
		if (crypto_verify_32(want, in + SEC_HDR + SEC_PK) != 0)
			return fail(s, GX_EAUTH, "authentication failed: the peer holds a different key");
	}
	int common = in[5] & s->suites;
	if (!common)
		return fail(s, GX_EPROTO,
			    "no cipher suite in common (peer offers 0x%02x, this end runs 0x%02x)",
			    (unsigned)in[5], (unsigned)s->suites);
	s->suite = common & GX_SEC_AES256GCM ? GX_SEC_AES256GCM : GX_SEC_CHACHA20;
	memcpy(s->msg1, in, GX_SEC_HELLO_BYTES);
	uint8_t *m = out;
	put_hdr(m, s->suite);
	crypto_kx_keypair(m + SEC_HDR, s->esk);
	mac4(m + SEC_HDR + SEC_PK, s->kauth, "S", 1, s->msg1, GX_SEC_HELLO_BYTES, m, SEC_HDR,
	     m + SEC_HDR, SEC_PK);
	if (derive(s, m + SEC_HDR, in + SEC_HDR, m) != 0)
		return s->err;
	s->state = S_WAIT_CONFIRM;
	return 0;
}

/* The client's part: msg2 in; the keys. */
static int on_msg2(gx_sec *s, const uint8_t *in)
{
	uint8_t want[SEC_MAC];

	mac4(want, s->kauth, "S", 1, s->msg1, GX_SEC_HELLO_BYTES, in, SEC_HDR, in + SEC_HDR,
	     SEC_PK);
	if (crypto_verify_32(want, in + SEC_HDR + SEC_PK) != 0)
		return fail(s, GX_EAUTH, "authentication failed: the peer holds a different key");
	int suite = in[5];
	if ((suite != GX_SEC_CHACHA20 && suite != GX_SEC_AES256GCM) || !(suite & s->suites))
		return fail(s, GX_EPROTO, "peer chose cipher suite 0x%02x, which was not offered",
			    (unsigned)suite);
	s->suite = suite;
	return derive(s, s->msg1 + SEC_HDR, in + SEC_HDR, in);
}

static void nonce_of(uint8_t n[SEC_NONCE], uint64_t ctr)
{
	put64(n, ctr);
	memset(n + 8, 0, SEC_NONCE - 8);
}

/* Seals without the checks of gx_sec_seal. */
static size_t seal1(gx_sec *s, int type, const uint8_t *plain, size_t len, uint8_t *out)
{
	static const uint8_t none[1];
	uint8_t n[SEC_NONCE];
	unsigned long long clen = 0;

	if (!plain)
		plain = none;
	nonce_of(n, s->tx.ctr++);
	put32(out, (uint32_t)len | (uint32_t)type << 24);
	if (s->suite == GX_SEC_AES256GCM)
		crypto_aead_aes256gcm_encrypt_afternm(out + GX_SEC_RECORD_HEAD, &clen, plain, len,
						      out, GX_SEC_RECORD_HEAD, NULL, n, &s->tx.aes);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt(out + GX_SEC_RECORD_HEAD, &clen, plain,
							  len, out, GX_SEC_RECORD_HEAD, NULL, n,
							  s->tx.k);
	return GX_SEC_RECORD_HEAD + (size_t)clen;
}

/* Opens a whole record of plen plaintext bytes at buf in place; 0, or
 * GX_EAUTH when it does not authenticate (forged, tampered, replayed). */
static int open1(gx_sec *s, uint8_t *buf, size_t plen)
{
	uint8_t n[SEC_NONCE];
	unsigned long long mlen = 0;
	uint8_t *c = buf + GX_SEC_RECORD_HEAD;
	int rc;

	nonce_of(n, s->rx.ctr);
	if (s->suite == GX_SEC_AES256GCM)
		rc = crypto_aead_aes256gcm_decrypt_afternm(c, &mlen, NULL, c, plen + GX_SEC_TAG, buf,
							   GX_SEC_RECORD_HEAD, n, &s->rx.aes);
	else
		rc = crypto_aead_chacha20poly1305_ietf_decrypt(c, &mlen, NULL, c,
							       plen + GX_SEC_TAG, buf,
							       GX_SEC_RECORD_HEAD, n, s->rx.k);
	if (rc != 0 || mlen != plen)
		return GX_EAUTH;
	s->rx.ctr++;
	return 0;
}

int gx_sec_handshake(gx_sec *s, const uint8_t *in, size_t len, size_t *used, uint8_t *out,
		     size_t cap, size_t *outlen)
{
	if (used)
		*used = 0;
	if (outlen)
		*outlen = 0;
	if (!s || !used || !outlen || (len && !in))
		return GX_EINVAL;
	if (s->state == S_DEAD)
		return s->err;
	if (s->state == S_UP)
		return 1;
	if (s->state == S_NEW)
		return GX_EINVAL; /* gx_sec_start first */
	if (s->state != S_WAIT_CONFIRM &&
	    (!out || cap < (s->state == S_WAIT_MSG1 ? GX_SEC_HELLO_BYTES : GX_SEC_OVERHEAD)))
		return GX_EINVAL;

	if (s->state == S_WAIT_MSG1 || s->state == S_WAIT_MSG2) {
		int rc = check_hdr(s, in, len);
		if (rc != 0)
			return rc;
		if (len < GX_SEC_HELLO_BYTES)
			return GX_ENEEDMORE;
		if (s->state == S_WAIT_MSG1) {
			rc = on_msg1(s, in, out);
			if (rc != 0)
				return rc;
			*used = GX_SEC_HELLO_BYTES;
			*outlen = GX_SEC_HELLO_BYTES;
			in += GX_SEC_HELLO_BYTES;
			len -= GX_SEC_HELLO_BYTES;
			/* a client sends nothing more before msg2, but
			 * whatever came is the confirmation: go on */
		} else {
			rc = on_msg2(s, in);
			if (rc != 0)
				return rc;
			*used = GX_SEC_HELLO_BYTES;
			s->state = S_UP;
			*outlen = seal1(s, GX_SEC_CONFIRM, NULL, 0, out);
			return 1;
		}
	}

	/* S_WAIT_CONFIRM: one empty CONFIRM record, c2s counter 0. Its head
	 * is fixed, so any other head is refused before the AEAD runs. */
	static const uint8_t want[GX_SEC_RECORD_HEAD] = { 0, 0, 0, GX_SEC_CONFIRM };
	if (memcmp(in, want, len < GX_SEC_RECORD_HEAD ? len : GX_SEC_RECORD_HEAD) != 0)
		return fail(s, GX_EPROTO, "expected the handshake confirmation, got another record");
	if (len < GX_SEC_OVERHEAD)
		return GX_ENEEDMORE;
	uint8_t rec[GX_SEC_OVERHEAD];
	memcpy(rec, in, sizeof rec);
	if (open1(s, rec, 0) != 0)
		return fail(s, GX_EAUTH, "the handshake confirmation failed authentication");
	*used += GX_SEC_OVERHEAD;
	s->state = S_UP;
	return 1;
}

gx_dg_key *gx_sec_datagram_key(const gx_sec *s, int send)
{
	static const char label[] = "geomx datagram v1";
	if (!s || s->state != S_UP)
		return NULL;
	uint8_t k[SEC_MAC];
	mac4(k, send ? s->tx.k : s->rx.k, label, sizeof label - 1, NULL, 0, NULL, 0, NULL, 0);
	gx_dg_key *d = gx_dg_key_new(s->suite, k);
	sodium_memzero(k, sizeof k);
	return d;
}

int gx_sec_established(const gx_sec *s)
{
	return s && s->state == S_UP;
}

int gx_sec_suite(const gx_sec *s)
{
	return s && s->state == S_UP ? s->suite : 0;
}

const char *gx_sec_why(const gx_sec *s)
{
	return s && s->state == S_DEAD ? s->why : "";
}

size_t gx_sec_sealed_len(size_t len)
{
	size_t n = len / GX_SEC_RECORD_MAX + (len % GX_SEC_RECORD_MAX != 0);
	return len + n * GX_SEC_OVERHEAD;
}

long gx_sec_seal(gx_sec *s, int type, const uint8_t *plain, size_t len, uint8_t *out)
{
	if (!s || !out || (len && !plain) || len > GX_SEC_RECORD_MAX)
		return GX_EINVAL;
	if (type != GX_SEC_DATA && type != GX_SEC_CONFIRM && type != GX_SEC_CLOSE)
		return GX_EINVAL;
	if (s->state != S_UP)
		return s->state == S_DEAD ? s->err : GX_EINVAL;
	if (s->tx.ctr == UINT64_MAX)
		return GX_ETOOBIG;
	return (long)seal1(s, type, plain, len, out);
}

long gx_sec_seal_stream(gx_sec *s, const uint8_t *plain, size_t len, uint8_t *out)
{
	if (!s || !out || (len && !plain) || len > (size_t)LONG_MAX / 2)
		return GX_EINVAL;
	if (s->state != S_UP)
		return s->state == S_DEAD ? s->err : GX_EINVAL;
	uint64_t n = len / GX_SEC_RECORD_MAX + (len % GX_SEC_RECORD_MAX != 0);
	if (n >= UINT64_MAX - s->tx.ctr)
		return GX_ETOOBIG;
	size_t w = 0;
	for (size_t off = 0; off < len; off += GX_SEC_RECORD_MAX) {
		size_t l = len - off < GX_SEC_RECORD_MAX ? len - off : GX_SEC_RECORD_MAX;
		w += seal1(s, GX_SEC_DATA, plain + off, l, out + w);
	}
	return (long)w;
}

int gx_sec_open(gx_sec *s, uint8_t *buf, size_t len, size_t *used, int *type, const uint8_t **plain,
		size_t *plain_len)
{
	if (!s || !used || !type || !plain || !plain_len || (len && !buf))
		return GX_EINVAL;
	*used = 0;
	if (s->state == S_DEAD)
		return s->err;
	if (s->state != S_UP)
		return GX_EINVAL;
	if (len < GX_SEC_RECORD_HEAD)
		return GX_ENEEDMORE;
	uint32_t head = get32(buf);
	size_t plen = head & 0xffffff;
	int t = (int)(head >> 24);
	unsigned long long nr = (unsigned long long)s->rx.ctr;
	/* Checked before waiting for the body: a declared length is never
	 * trusted further than the limit. */
	if (plen > GX_SEC_RECORD_MAX)
		return fail(s, GX_ETOOBIG, "record %llu declares %zu bytes (limit %u)", nr, plen,
			    GX_SEC_RECORD_MAX);
	if (len < plen + GX_SEC_OVERHEAD)
		return GX_ENEEDMORE;
	if (s->rx.ctr == UINT64_MAX)
		return fail(s, GX_ETOOBIG, "record counter exhausted");
	if (open1(s, buf, plen) != 0)
		return fail(s, GX_EAUTH,
			    "record %llu failed authentication (tampered, replayed or reordered)", nr);
	/* Authenticated: the peer really sent this type. */
	if (t == GX_SEC_CONFIRM)
		return fail(s, GX_EPROTO, "record %llu is a handshake confirmation after the handshake",
			    nr);
	if (t != GX_SEC_DATA && t != GX_SEC_CLOSE)
		return fail(s, GX_EPROTO, "record %llu has unknown type %d", nr, t);
	*used = plen + GX_SEC_OVERHEAD;
	*type = t;
	*plain = buf + GX_SEC_RECORD_HEAD;
	*plain_len = plen;
	return 0;
}

uint64_t gx_sec_sent(const gx_sec *s)
{
	return s ? s->tx.ctr : 0;
}

uint64_t gx_sec_received(const gx_sec *s)
{
	return s ? s->rx.ctr : 0;
}
