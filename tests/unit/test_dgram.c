/* test_dgram.c — the datagram channels of net/dgram.h: a block sealed
 * under one direction's key of a real handshake opens under the other
 * end's, byte for byte, in each suite and in plaintext; any byte altered,
 * a datagram of another session or direction, one cut or extended, is
 * refused with the error the header names; over UDP on loopback, a batch
 * goes and comes whole, and what a small receive buffer drops is counted
 * exactly; the pacer keeps to its rate. */
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <unistd.h>

#include "geomx.h"
#include "net/conn.h"
#include "net/dgram.h"
#include "net/secure.h"
#include "t.h"
#include "t_sec.h"

static int g_suites[2], g_nsuites;

/* A block of count elements whose bytes depend on (round, block). */
static void fill_body(uint8_t *b, size_t n, uint64_t round, uint32_t block)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 13 + round * 7 + block * 3);
}

static gx_dg_head head_of(int codec, uint16_t count, uint64_t round, uint32_t block)
{
	gx_dg_head h = { .kind = GX_DG_BLOCK, .channel = 2, .codec = (uint8_t)codec, .party = 3,
			 .key = 17, .slice = 1, .round = (uint32_t)round, .block = block,
			 .count = count, .flags = (block & 1 ? GX_DG_LAST : 0) | (block & 2 ? GX_DG_END : 0),
			 .rel = 5 };
	return h;
}

static int same_head(const gx_dg_head *a, const gx_dg_head *b)
{
	return a->kind == b->kind && a->channel == b->channel && a->codec == b->codec &&
	       a->flags == b->flags &&
	       a->party == b->party && a->key == b->key && a->slice == b->slice &&
	       a->round == b->round &&
	       a->block == b->block && a->count == b->count && a->rel == b->rel;
}

/* Seals a block under tx, opens it under rx: 0 when it comes back whole. */
static int round_trip(const gx_dg_key *tx, const gx_dg_key *rx, int codec, uint16_t count)
{
	static uint8_t body[GX_DG_MAX], d[GX_DG_MAX];
	gx_dg_head h = head_of(codec, count, 41, 9), g;
	size_t blen = (size_t)count * gx_wire_elem_size(codec);
	fill_body(body, blen, 41, 9);
	long n = gx_dg_seal(tx, &h, body, d, sizeof d);
	if (n != (long)(blen + gx_dg_overhead(tx)))
		return -1;
	/* sealed, the body is not the plaintext (a 1-element block could
	 * match by chance in 1/65536: none of these does) */
	if (tx && blen >= 4 && memcmp(d + GX_DG_HEAD, body, blen) == 0)
		return -2;
	const uint8_t *got = NULL;
	if (gx_dg_open(rx, d, (size_t)n, &g, &got) != 0 || !same_head(&h, &g))
		return -3;
	return memcmp(got, body, blen) == 0 ? 0 : -4;
}

static void test_seal_open(void)
{
	for (int i = 0; i < g_nsuites; i++) {
		gx_sec *c, *s;
		T_REQUIRE(pair(&c, &s, g_suites[i], g_suites[i]) == 0);
		gx_dg_key *c_tx = gx_sec_datagram_key(c, 1), *c_rx = gx_sec_datagram_key(c, 0);
		gx_dg_key *s_tx = gx_sec_datagram_key(s, 1), *s_rx = gx_sec_datagram_key(s, 0);
		T_REQUIRE(c_tx && c_rx && s_tx && s_rx);
		uint16_t counts[] = { 0, 1, 356, 712, 16000 };
		for (size_t k = 0; k < sizeof counts / sizeof *counts; k++) {
			T_EQ(round_trip(c_tx, s_rx, GX_CODEC_F32, counts[k]), 0);
			T_EQ(round_trip(s_tx, c_rx, GX_CODEC_F16, counts[k]), 0);
		}
		/* a direction's key does not open the other's */
		uint8_t d[64], body[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
		gx_dg_head h = head_of(GX_CODEC_F32, 2, 1, 0), g;
		long n = gx_dg_seal(c_tx, &h, body, d, sizeof d);
		T_EQ(n, 8 + GX_DG_HEAD + GX_DG_TAG);
		uint8_t copy[64];
		memcpy(copy, d, (size_t)n);
		T_EQ(gx_dg_open(c_rx, copy, (size_t)n, &g, NULL), GX_EAUTH);
		/* nor another session's, with the same pre-shared key */
		gx_sec *c2, *s2;
		T_REQUIRE(pair(&c2, &s2, g_suites[i], g_suites[i]) == 0);
		gx_dg_key *s2_rx = gx_sec_datagram_key(s2, 0);
		memcpy(copy, d, (size_t)n);
		T_EQ(gx_dg_open(s2_rx, copy, (size_t)n, &g, NULL), GX_EAUTH);
		memcpy(copy, d, (size_t)n);
		T_EQ(gx_dg_open(s_rx, copy, (size_t)n, &g, NULL), 0);
		/* a sealed one is not plaintext, nor the other way round */
		memcpy(copy, d, (size_t)n);
		T_EQ(gx_dg_open(NULL, copy, (size_t)n, &g, NULL), GX_ELENGTH);
		gx_dg_key_free(s2_rx);
		gx_sec_free(c2);
		gx_sec_free(s2);
		gx_dg_key_free(c_tx);
		gx_dg_key_free(c_rx);
		gx_dg_key_free(s_tx);
		gx_dg_key_free(s_rx);
		gx_sec_free(c);
		gx_sec_free(s);
	}
	T_EQ(round_trip(NULL, NULL, GX_CODEC_F32, 356), 0);
	T_EQ(round_trip(NULL, NULL, GX_CODEC_F16, 0), 0);
	/* no key before the handshake */
	gx_key k;
	fill_key(&k, 1);
	gx_sec *c = gx_sec_new(&k, GX_SEC_CLIENT, 0);
	T_ASSERT(gx_sec_datagram_key(c, 1) == NULL);
	gx_sec_free(c);
	T_ASSERT(gx_dg_key_new(0, k.k) == NULL);
	gx_dg_key_free(NULL);
}

/* Every single byte altered is refused, and so is every length but the
 * one sealed. */
static void test_tampering(void)
{
	gx_sec *c, *s;
	T_REQUIRE(pair(&c, &s, g_suites[0], g_suites[0]) == 0);
	gx_dg_key *tx = gx_sec_datagram_key(c, 1), *rx = gx_sec_datagram_key(s, 0);
	T_REQUIRE(tx && rx);
	for (int keyed = 0; keyed < 2; keyed++) {
		uint8_t body[40], d[128], w[128];
		fill_body(body, sizeof body, 5, 6);
		gx_dg_head h = head_of(GX_CODEC_F32, 10, 5, 6), g;
		long n = gx_dg_seal(keyed ? tx : NULL, &h, body, d, sizeof d);
		T_REQUIRE(n > 0);
		int refused = 0;
		for (long i = 0; i < n; i++) {
			memcpy(w, d, (size_t)n);
			w[i] ^= 0x20;
			refused += gx_dg_open(keyed ? rx : NULL, w, (size_t)n, &g, NULL) != 0;
		}
		T_EQ(refused, n);
		/* the body and trailer: authentication (or the CRC) */
		memcpy(w, d, (size_t)n);
		w[GX_DG_HEAD + 3] ^= 1;
		T_EQ(gx_dg_open(keyed ? rx : NULL, w, (size_t)n, &g, NULL), keyed ? GX_EAUTH : GX_ECRC);
		/* the head's numbers (the nonce and associated data) too */
		memcpy(w, d, (size_t)n);
		w[16] ^= 1; /* round */
		T_EQ(gx_dg_open(keyed ? rx : NULL, w, (size_t)n, &g, NULL), keyed ? GX_EAUTH : GX_ECRC);
		for (long len = 0; len < n + 8; len++) {
			if (len == n)
				continue;
			memcpy(w, d, (size_t)n);
			int rc = gx_dg_open(keyed ? rx : NULL, w, (size_t)len, &g, NULL);
			T_ASSERT(rc == (len < 4 ? GX_EMAGIC : GX_ELENGTH));
		}
	}
	gx_dg_key_free(tx);
	gx_dg_key_free(rx);
	gx_sec_free(c);
	gx_sec_free(s);
}

/* The same block, round and key in two slices of one key (a server holds
 * a key's slices under --block) are sealed under different nonces: the
 * two ciphertexts of one body differ, and each opens only as itself. */
static void test_nonce_per_slice(void)
{
	uint8_t k32[32] = { 9 }, body[64] = { 0 }, a[160], b[160];
	for (int i = 0; i < g_nsuites; i++) {
		gx_dg_key *k = gx_dg_key_new(g_suites[i], k32);
		T_REQUIRE(k);
		gx_dg_head h = head_of(GX_CODEC_F32, 16, 3, 4), g;
		long n = gx_dg_seal(k, &h, body, a, sizeof a);
		h.slice = 2;
		T_EQ(gx_dg_seal(k, &h, body, b, sizeof b), n);
		/* zero bodies: the ciphertexts are the keystreams themselves */
		T_ASSERT(memcmp(a + GX_DG_HEAD, b + GX_DG_HEAD, 64) != 0);
		/* slice 1's body under slice 2's head does not open */
		memcpy(a, b, GX_DG_HEAD);
		T_EQ(gx_dg_open(k, a, (size_t)n, &g, NULL), GX_EAUTH);
		T_EQ(gx_dg_open(k, b, (size_t)n, &g, NULL), 0);
		gx_dg_key_free(k);
	}
}

/* gx_dg_peek's refusals, one field at a time, and the seal's. */
static void test_refusals(void)
{
	uint8_t body[8] = { 0 }, d[64], w[64];
	gx_dg_head h = head_of(GX_CODEC_F32, 2, 1, 0), g;
	long n = gx_dg_seal(NULL, &h, body, d, sizeof d);
	T_EQ(n, GX_DG_HEAD + 8 + GX_DG_CRC);
	struct {
		int at;
		uint8_t v;
		int rc;
	} cases[] = {
		{ 0, 'g', GX_EMAGIC },     { 4, 2, GX_EVERSION },    { 5, 0, GX_ETYPE },
		{ 5, 4, GX_ETYPE },        { 7, GX_CODEC_NONE, GX_ECODEC },
		{ 7, GX_CODEC_SPARSE_F32, GX_ECODEC },                { 26, 4, GX_EFLAGS },
		{ 27, 0x80, GX_EFLAGS },   { 24, 3, GX_ELENGTH },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		memcpy(w, d, (size_t)n);
		w[cases[i].at] = cases[i].v;
		T_EQ(gx_dg_peek(w, (size_t)n, 0, &g), cases[i].rc);
	}
	T_EQ(gx_dg_peek(d, (size_t)n, 0, &g), 0);
	T_ASSERT(same_head(&h, &g));
	/* the seal refuses what it cannot write */
	T_EQ(gx_dg_seal(NULL, &h, body, d, (size_t)n - 1), GX_EINVAL);
	gx_dg_head bad = h;
	bad.codec = GX_CODEC_SPARSE_F16;
	T_EQ(gx_dg_seal(NULL, &bad, body, d, sizeof d), GX_EINVAL);
	bad = h;
	bad.kind = 0;
	T_EQ(gx_dg_seal(NULL, &bad, body, d, sizeof d), GX_EINVAL);
	/* a slice or block beyond what the head (and the nonce) holds */
	bad = h;
	bad.slice = GX_DG_SLICE_MAX + 1;
	T_EQ(gx_dg_seal(NULL, &bad, body, d, sizeof d), GX_EINVAL);
	bad = h;
	bad.block = GX_DG_INDEX_MAX + 1;
	T_EQ(gx_dg_seal(NULL, &bad, body, d, sizeof d), GX_EINVAL);
	/* an ask: bytes (codec NONE), its block among the attempts' */
	gx_dg_head ask = { .kind = GX_DG_ASK, .codec = GX_CODEC_NONE, .party = 1, .key = 3,
			   .round = 9, .slice = 2, .block = GX_DG_ASK_BLOCK, .count = 3 };
	uint8_t bits[3] = { 0xff, 0x7f, 0x01 };
	long an = gx_dg_seal(NULL, &ask, bits, d, sizeof d);
	T_EQ(an, GX_DG_HEAD + 3 + GX_DG_CRC);
	const uint8_t *ab;
	T_EQ(gx_dg_open(NULL, d, (size_t)an, &g, &ab), 0);
	T_ASSERT(g.kind == GX_DG_ASK && g.block == GX_DG_ASK_BLOCK && g.count == 3 && ab[1] == 0x7f);
	/* sealed under a key too */
	uint8_t k32a[32] = { 5 };
	gx_dg_key *ka = gx_dg_key_new(GX_SEC_CHACHA20, k32a);
	T_REQUIRE(ka);
	an = gx_dg_seal(ka, &ask, bits, d, sizeof d);
	T_EQ(an, GX_DG_HEAD + 3 + GX_DG_TAG);
	T_EQ(gx_dg_open(ka, d, (size_t)an, &g, &ab), 0);
	T_ASSERT(ab[0] == 0xff && ab[2] == 0x01);
	gx_dg_key_free(ka);
	ask.block = GX_DG_INDEX_MAX;
	T_EQ(gx_dg_seal(NULL, &ask, bits, d, sizeof d), GX_EINVAL);
	ask.block = GX_DG_ASK_BLOCK;
	ask.codec = GX_CODEC_F32;
	T_EQ(gx_dg_seal(NULL, &ask, bits, d, sizeof d), GX_EINVAL);
	/* an answer's head */
	bad = h;
	bad.kind = GX_DG_ANSWER;
	bad.rel = 0;
	T_EQ(gx_dg_seal(NULL, &bad, body, d, sizeof d), n);
	T_EQ(gx_dg_peek(d, (size_t)n, 0, &g), 0);
	T_ASSERT(same_head(&bad, &g));
	/* the last round there is, sealed */
	uint8_t k32[32] = { 7 };
	gx_dg_key *k = gx_dg_key_new(GX_SEC_CHACHA20, k32);
	T_REQUIRE(k);
	bad = h;
	bad.round = UINT32_MAX;
	long m = gx_dg_seal(k, &bad, body, d, sizeof d);
	T_EQ(m, (long)(GX_DG_HEAD + 8 + GX_DG_TAG));
	T_EQ(gx_dg_open(k, d, (size_t)m, &g, NULL), 0);
	T_EQ(g.round, UINT32_MAX);
	gx_dg_key_free(k);
}

/* Waits (up to 10 s) for fd to be readable; 1 when it is. */
static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 10000) == 1;
}

/* A batch over loopback: every datagram arrives whole, the options set. */
static void test_udp_batch(void)
{
	char err[256];
	gx_dg_opts ro = { .rcvbuf = 4 << 20 }, so = { .tos = 0x28 }; /* AF11 */
	int r = gx_dg_bind("127.0.0.1", 0, &ro, err, sizeof err);
	T_REQUIRE(r >= 0);
	int port = gx_net_port(r);
	int s = gx_dg_connect("127.0.0.1", port, &so, err, sizeof err);
	T_REQUIRE(s >= 0);
	int tos = 0;
	socklen_t l = sizeof tos;
	T_ASSERT(getsockopt(s, IPPROTO_IP, IP_TOS, &tos, &l) == 0 && tos == 0x28);
	int rb = 0;
	l = sizeof rb;
	/* (beyond rmem_max only as root: SO_RCVBUFFORCE) */
	T_ASSERT(getsockopt(r, SOL_SOCKET, SO_RCVBUF, &rb, &l) == 0 &&
		 (geteuid() != 0 || rb >= (4 << 20)));
	/* loopback's MTU (the kernel says at most 65535), and what fits 1500
	 * bytes of IPv4 */
	int lo_mtu = 0;
	FILE *f = fopen("/sys/class/net/lo/mtu", "r");
	T_REQUIRE(f && fscanf(f, "%d", &lo_mtu) == 1);
	fclose(f);
	T_EQ(gx_dg_path_mtu(s), lo_mtu < 65535 ? lo_mtu : 65535);
	T_EQ(gx_dg_fit(s, 1500), 1472);
	T_EQ(gx_dg_fit(s, 20), 0);
	enum { N = 100 };
	static uint8_t store[N][1472];
	uint8_t *bufs[N];
	size_t lens[N];
	uint8_t body[712 * 2];
	for (int i = 0; i < N; i++) {
		gx_dg_head h = head_of(GX_CODEC_F16, 712, 8, (uint32_t)i);
		fill_body(body, sizeof body, 8, (uint32_t)i);
		long n = gx_dg_seal(NULL, &h, body, store[i], sizeof store[i]);
		T_REQUIRE(n == 1460);
		bufs[i] = store[i];
		lens[i] = (size_t)n;
	}
	T_EQ(gx_dg_send(s, bufs, lens, N), N);
	gx_dg_rx *rx = gx_dg_rx_new();
	T_REQUIRE(rx);
	int got = 0, seen[N] = { 0 }, ok = 1;
	while (got < N && readable(r)) {
		int k = gx_dg_recv(r, rx);
		T_REQUIRE(k >= 0);
		for (int i = 0; i < k; i++) {
			gx_dg_head g;
			const uint8_t *b;
			if (gx_dg_open(NULL, rx->buf[i], rx->len[i], &g, &b) != 0 || g.block >= N) {
				ok = 0;
				continue;
			}
			fill_body(body, sizeof body, 8, g.block);
			ok &= memcmp(b, body, sizeof body) == 0 && !seen[g.block];
			seen[g.block] = 1;
			got++;
		}
	}
	T_EQ(got, N);
	T_ASSERT(ok);
	T_EQ(rx->dropped, 0);
	gx_dg_rx_free(rx);
	close(s);
	close(r);
}

/* A receiver that does not read drops what its buffer cannot hold; every
 * datagram sent is either received or counted dropped. */
static void test_overflow_counted(void)
{
	char err[256];
	gx_dg_opts ro = { .rcvbuf = 1 }; /* the kernel's least */
	int r = gx_dg_bind("127.0.0.1", 0, &ro, err, sizeof err);
	T_REQUIRE(r >= 0);
	int s = gx_dg_connect("127.0.0.1", gx_net_port(r), NULL, err, sizeof err);
	T_REQUIRE(s >= 0);
	enum { N = 400 };
	static uint8_t d[N][1100];
	uint8_t *bufs[N], body[1024] = { 0 };
	size_t lens[N];
	for (int i = 0; i < N; i++) {
		gx_dg_head h = head_of(GX_CODEC_F32, 256, 1, (uint32_t)i);
		lens[i] = (size_t)gx_dg_seal(NULL, &h, body, d[i], sizeof d[i]);
		bufs[i] = d[i];
	}
	/* on loopback a send lands in the receiver's queue or is dropped
	 * there at once */
	int sent = 0;
	for (int tries = 0; sent < N && tries < 1000; tries++) {
		int k = gx_dg_send(s, bufs + sent, lens + sent, N - sent);
		T_REQUIRE(k >= 0);
		sent += k;
	}
	T_EQ(sent, N);
	gx_dg_rx *rx = gx_dg_rx_new();
	T_REQUIRE(rx);
	long got = 0;
	int k;
	while ((k = gx_dg_recv(r, rx)) > 0)
		got += k;
	T_ASSERT(got > 0 && got < N);
	/* the count rides on the next datagram queued: one more */
	T_EQ(gx_dg_send(s, bufs, lens, 1), 1);
	T_REQUIRE(readable(r));
	k = gx_dg_recv(r, rx);
	T_EQ(k, 1);
	T_EQ((long)rx->dropped, N - got);
	gx_dg_rx_free(rx);
	close(s);
	close(r);
}

#define MS 1000000ull

static void test_pacer(void)
{
	gx_dg_pacer p;
	/* 1 MB/s, a burst of 10000 bytes */
	gx_dg_pacer_init(&p, 1e6, 10000, 0);
	T_EQ(gx_dg_pacer_take(&p, 10000, 0), 0);
	T_EQ(gx_dg_pacer_take(&p, 1000, 0), 1 * MS);
	T_EQ(gx_dg_pacer_take(&p, 1000, 1 * MS / 2), 1 * MS / 2);
	T_EQ(gx_dg_pacer_take(&p, 1000, 1 * MS), 0);
	/* above the burst: waits for a full bucket, leaves it in debt */
	T_EQ(gx_dg_pacer_take(&p, 30000, 2 * MS), 9 * MS);
	T_EQ(gx_dg_pacer_take(&p, 30000, 11 * MS), 0);
	T_EQ(gx_dg_pacer_take(&p, 1000, 11 * MS), 21 * MS);
	/* over a simulated second of 1200-byte datagrams as fast as it lets
	 * them: the rate, within one datagram and the burst */
	gx_dg_pacer_init(&p, 1e6, 10000, 0);
	uint64_t t = 0, bytes = 0;
	while (t <= 1000 * MS) {
		uint64_t w = gx_dg_pacer_take(&p, 1200, t);
		if (w == 0)
			bytes += 1200;
		else
			t += w;
	}
	T_ASSERT(bytes <= 1000000 + 10000 + 1200 && bytes >= 1000000 - 1200);
	/* bytes that went another way: the next datagram waits behind them */
	gx_dg_pacer_init(&p, 1e6, 10000, 0);
	gx_dg_pacer_charge(&p, 15000, 0);
	T_EQ(gx_dg_pacer_take(&p, 1000, 0), 6 * MS);
	T_EQ(gx_dg_pacer_take(&p, 1000, 6 * MS), 0);
	/* unpaced */
	gx_dg_pacer_init(&p, 0, 0, 0);
	gx_dg_pacer_charge(&p, 15000, 0);
	T_EQ(gx_dg_pacer_take(&p, 60000, 0), 0);
}

int main(void)
{
	if (gx_sec_init() != 0) {
		printf("libsodium does not initialise\n");
		return 77;
	}
	g_suites[g_nsuites++] = GX_SEC_CHACHA20;
	if (crypto_aead_aes256gcm_is_available())
		g_suites[g_nsuites++] = GX_SEC_AES256GCM;
	T_RUN(test_seal_open);
	T_RUN(test_tampering);
	T_RUN(test_nonce_per_slice);
	T_RUN(test_refusals);
	T_RUN(test_udp_batch);
	T_RUN(test_overflow_counted);
	T_RUN(test_pacer);
	T_DONE();
}
