/*
 * fuzz_handshake.c — libFuzzer target for the handshake and the record
 * layer of lib/net/secure.c: the bytes a peer without the key (or with it, in
 * a corpus made by gen_handshake_corpus.c) can put on the wire.
 *
 * libsodium's random source is replaced by a seeded generator, so every
 * ephemeral key, and with it every session key, depends on the input only:
 * a run is reproducible, and the corpus can hold complete, valid
 * conversations for the fuzzer to mutate.
 *
 * Input: byte 0 holds flags, byte 1 the largest chunk the stream is fed in
 * (1 + byte); the rest depends on the mode (flags bits 3-4):
 *   0  conversation: the stream is what the peer of the receiving end sends
 *      from the start (msg1, CONFIRM, records to a server; msg2, records to
 *      a client), fed as a caller would: unused bytes kept and fed again.
 *   1  tampering (bit 3): an in-memory handshake, then byte n (records, at
 *      most 8), n lengths (u16 LE), and (position u32 LE, xor u8) triples
 *      applied to the sealed records. Records before the first damaged one
 *      must open to exactly what was sealed; no record from there on may.
 *   2  records (bit 4): an in-memory handshake, then the stream is fed to
 *      the receiving end's gx_sec_open.
 * Flags bit 0: the receiving end is the client (else the server); bits 1-2:
 * its suites (0, 1: ChaCha20; 2: AES-256-GCM; 3: both). Violations abort(),
 * which is how a fuzz target reports them.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "net/secure.h"

#define FAIL(...)                                                \
	do {                                                     \
		fprintf(stderr, "fuzz_handshake: " __VA_ARGS__); \
		fputc('\n', stderr);                             \
		abort();                                         \
	} while (0)

#define SEED_CLIENT 0x243f6a8885a308d3ull
#define SEED_SERVER 0x13198a2e03707344ull
#define TAMPER_RECS 8

/* What the last run did, for gen_handshake_corpus.c to check its seeds. */
static struct {
	int established;
	int records; /* records opened */
	int closed;  /* a CLOSE record among them */
	int rc;      /* the status it stopped at: 0, GX_ENEEDMORE or an error */
} g_last;

static gx_key g_psk;
static uint64_t g_rng;

/* splitmix64: the seeded random source */
static uint64_t rng_next(void)
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_buf(void *const buf, const size_t n)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng_next();
		for (size_t j = 0; j < 8 && i + j < n; j++)
			p[i + j] = (uint8_t)(v >> (8 * j));
	}
}

static uint32_t rng_random(void)
{
	return (uint32_t)rng_next();
}

static const char *rng_name(void)
{
	return "fuzz_handshake seeded";
}

static randombytes_implementation rng_impl = { rng_name, rng_random, NULL, NULL, rng_buf, NULL };

static void setup(void)
{
	static int done;
	if (done)
		return;
	/* before sodium_init, which gx_sec_init calls */
	randombytes_set_implementation(&rng_impl);
	if (gx_sec_init() != 0)
		FAIL("libsodium does not initialise");
	for (int i = 0; i < GX_KEY_BYTES; i++)
		g_psk.k[i] = (uint8_t)(0xa0 + i);
	done = 1;
}

static int suites_of(uint8_t flags)
{
	switch ((flags >> 1) & 3) {
	case 2: return GX_SEC_AES256GCM;
	case 3: return GX_SEC_CHACHA20 | GX_SEC_AES256GCM;
	default: return GX_SEC_CHACHA20;
	}
}

/* The receiving end, started; a client's msg1 into m1 (seeded). NULL when
 * the suites cannot run here. */
static gx_sec *receiver(uint8_t flags, uint8_t m1[GX_SEC_HELLO_BYTES])
{
	int client = flags & 1;
	gx_sec *s = gx_sec_new(&g_psk, client ? GX_SEC_CLIENT : GX_SEC_SERVER, suites_of(flags));
	if (!s)
		return NULL;
	g_rng = client ? SEED_CLIENT : SEED_SERVER;
	if (gx_sec_start(s, m1, GX_SEC_HELLO_BYTES) != (client ? GX_SEC_HELLO_BYTES : 0))
		FAIL("start");
	return s;
}

/* A complete in-memory handshake, seeded: *rx the receiving end (as in
 * receiver()), *tx its peer. 0, or -1 when the suites cannot run here. */
static int hs_pair(uint8_t flags, gx_sec **rx, gx_sec **tx)
{
	int client = flags & 1;
	uint8_t m1[GX_SEC_HELLO_BYTES], m2[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
	uint8_t m3[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD], none[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
	size_t u, n2, n3, n4;
	gx_sec *c, *s;

	/* both ends draw their randomness from the seed of their role */
	c = gx_sec_new(&g_psk, GX_SEC_CLIENT, client ? suites_of(flags) : 0);
	s = gx_sec_new(&g_psk, GX_SEC_SERVER, client ? 0 : suites_of(flags));
	if (!c || !s) {
		gx_sec_free(c);
		gx_sec_free(s);
		return -1;
	}
	g_rng = SEED_CLIENT;
	gx_sec_start(c, m1, sizeof m1);
	gx_sec_start(s, NULL, 0);
	g_rng = SEED_SERVER;
	if (gx_sec_handshake(s, m1, sizeof m1, &u, m2, sizeof m2, &n2) != GX_ENEEDMORE ||
	    gx_sec_handshake(c, m2, n2, &u, m3, sizeof m3, &n3) != 1 ||
	    gx_sec_handshake(s, m3, n3, &u, none, sizeof none, &n4) != 1)
		FAIL("in-memory handshake failed");
	*rx = client ? c : s;
	*tx = client ? s : c;
	return 0;
}

/* A dead link stays dead with the same error and a reason. */
static void check_dead(gx_sec *s, int rc)
{
	uint8_t b[GX_SEC_OVERHEAD + 8] = { 0 }, out[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
	size_t u, ol, pl;
	int type;
	const uint8_t *p;
	if (rc >= 0 || rc == GX_ENEEDMORE || rc == GX_EINVAL)
		FAIL("unexpected status %d", rc);
	if (!gx_sec_why(s)[0])
		FAIL("error %d without a reason", rc);
	if (gx_sec_handshake(s, b, sizeof b, &u, out, sizeof out, &ol) != rc || u || ol)
		FAIL("handshake after an error");
	if (gx_sec_open(s, b, sizeof b, &u, &type, &p, &pl) != rc || u)
		FAIL("open after an error");
	if (gx_sec_established(s))
		FAIL("dead yet established");
}

/* Feeds the stream in chunks of at most chunk bytes; each call sees an
 * exact copy of the bytes not yet used, so AddressSanitizer catches any
 * read past them. */
static void feed_stream(gx_sec *s, const uint8_t *p, size_t n, size_t chunk)
{
	size_t have = 0, off = 0; /* p[off, have): given and not yet used */
	g_last.established = gx_sec_established(s);
	while (have < n) {
		have += n - have < chunk ? n - have : chunk;
		for (;;) {
			size_t len = have - off, used = 0;
			uint8_t *b = malloc(len ? len : 1);
			if (!b)
				FAIL("out of memory");
			memcpy(b, p + off, len);
			int rc;
			if (!gx_sec_established(s)) {
				uint8_t out[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
				size_t ol = 0;
				rc = gx_sec_handshake(s, b, len, &used, out, sizeof out, &ol);
				if (used > len || ol > sizeof out || (rc == 1) != gx_sec_established(s))
					FAIL("handshake: used %zu of %zu, reply %zu, rc %d", used, len, ol,
					     rc);
				g_last.established = gx_sec_established(s);
			} else {
				int type = 0;
				const uint8_t *pl = NULL;
				size_t plen = 0;
				rc = gx_sec_open(s, b, len, &used, &type, &pl, &plen);
				if (rc == 0) {
					if (used != plen + GX_SEC_OVERHEAD || used > len ||
					    plen > GX_SEC_RECORD_MAX || pl != b + GX_SEC_RECORD_HEAD ||
					    (type != GX_SEC_DATA && type != GX_SEC_CLOSE))
						FAIL("open: used %zu plen %zu type %d", used, plen, type);
					volatile uint8_t sum = 0;
					for (size_t i = 0; i < plen; i++)
						sum ^= pl[i];
					(void)sum;
					g_last.records++;
					g_last.closed |= type == GX_SEC_CLOSE;
				} else if (used) {
					FAIL("open: %d but used %zu", rc, used);
				}
			}
			free(b);
			off += used;
			g_last.rc = rc;
			if (rc == GX_ENEEDMORE)
				break;
			if (rc < 0) {
				check_dead(s, rc);
				return;
			}
			if (off == have)
				break;
		}
	}
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void tamper(uint8_t flags, const uint8_t *p, size_t n)
{
	gx_sec *rx, *tx;
	size_t lens[TAMPER_RECS], off[TAMPER_RECS + 1];
	if (n < 1 || hs_pair(flags, &rx, &tx) != 0)
		return;
	size_t nrec = p[0] % (TAMPER_RECS + 1);
	p++;
	n--;
	if (n < 2 * nrec) {
		gx_sec_free(rx);
		gx_sec_free(tx);
		return;
	}
	off[0] = 0;
	for (size_t i = 0; i < nrec; i++) {
		lens[i] = (size_t)(p[2 * i] | p[2 * i + 1] << 8);
		off[i + 1] = off[i] + lens[i] + GX_SEC_OVERHEAD;
	}
	p += 2 * nrec;
	n -= 2 * nrec;
	size_t total = off[nrec];
	uint8_t *w = malloc(total ? total : 1), *plain = malloc(GX_SEC_RECORD_MAX);
	if (!w || !plain)
		FAIL("out of memory");
	for (size_t i = 0; i < nrec; i++) {
		for (size_t j = 0; j < lens[i]; j++)
			plain[j] = (uint8_t)(i * 7 + j);
		int type = i + 1 == nrec ? GX_SEC_CLOSE : GX_SEC_DATA;
		if (gx_sec_seal(tx, type, plain, lens[i], w + off[i]) != (long)(lens[i] + GX_SEC_OVERHEAD))
			FAIL("seal");
	}
	/* the damage, and the first record it changed (two flips of one
	 * byte may cancel out) */
	uint8_t *orig = malloc(total ? total : 1);
	if (!orig)
		FAIL("out of memory");
	memcpy(orig, w, total);
	for (size_t i = 0; i + 5 <= n && total; i += 5)
		w[rd32(p + i) % total] ^= p[i + 4];
	size_t first = 0;
	while (first < nrec && memcmp(w + off[first], orig + off[first], off[first + 1] - off[first]) == 0)
		first++;
	free(orig);
	size_t at = 0;
	for (size_t r = 0; r < nrec; r++) {
		size_t used = 0, plen = 0;
		int type = 0;
		const uint8_t *pl = NULL;
		int rc = gx_sec_open(rx, w + at, total - at, &used, &type, &pl, &plen);
		if (r < first) {
			if (rc != 0 || plen != lens[r] || used != lens[r] + GX_SEC_OVERHEAD)
				FAIL("intact record %zu: rc %d", r, rc);
			for (size_t j = 0; j < plen; j++)
				if (pl[j] != (uint8_t)(r * 7 + j))
					FAIL("intact record %zu opened to other bytes", r);
			if (type != (r + 1 == nrec ? GX_SEC_CLOSE : GX_SEC_DATA))
				FAIL("intact record %zu: type %d", r, type);
			at += used;
			continue;
		}
		if (rc == 0)
			FAIL("damaged record %zu opened", r);
		if (rc != GX_ENEEDMORE)
			check_dead(rx, rc);
		break;
	}
	free(w);
	free(plain);
	gx_sec_free(rx);
	gx_sec_free(tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	memset(&g_last, 0, sizeof g_last);
	if (size < 2)
		return 0;
	uint8_t flags = data[0];
	size_t chunk = (size_t)data[1] + 1;
	const uint8_t *p = data + 2;
	size_t n = size - 2;
	if (flags & 8) {
		tamper(flags, p, n);
		return 0;
	}
	gx_sec *rx, *tx = NULL;
	uint8_t m1[GX_SEC_HELLO_BYTES];
	if (flags & 16) {
		if (hs_pair(flags, &rx, &tx) != 0)
			return 0;
	} else if ((rx = receiver(flags, m1)) == NULL) {
		return 0;
	}
	feed_stream(rx, p, n, chunk);
	gx_sec_free(rx);
	gx_sec_free(tx);
	return 0;
}
