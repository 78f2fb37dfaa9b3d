/*
 * gen_handshake_corpus.c — writes the seed corpus of fuzz_handshake: valid
 * conversations for both receiving ends and both suites (made with the
 * target's own seeded random source, so they verify when replayed), the
 * same cut short, a plaintext frame header, bad magic and version, random
 * bytes, record streams and tampering cases. It includes the target to
 * share its seeds, and runs each seed through it to check what the seed is
 * meant to reach. Deterministic: rerunning rewrites the same files.
 *
 *   make BUILD=build build/libgeomx.a
 *   cc -std=c11 -Ilib -D_GNU_SOURCE tests/fuzz/gen_handshake_corpus.c build/libgeomx.a \
 *      -lsodium -lpthread -o build/gen_handshake_corpus
 *   build/gen_handshake_corpus tests/fuzz/corpus/handshake
 */
#include "fuzz_handshake.c"

#include "geomx.h"

static const char *outdir;
static int nfiles;

typedef struct buf {
	uint8_t d[1 << 18];
	size_t n;
} buf;

static void add(buf *b, const void *p, size_t n)
{
	if (b->n + n > sizeof b->d)
		FAIL("generator buffer too small");
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

/* Writes flags, chunk byte and the stream; replays it through the target
 * and checks it reached what it should (want_records < 0: not checked). */
static void emit(const char *name, uint8_t flags, uint8_t chunk, const buf *b, int want_up,
		 int want_records)
{
	static uint8_t file[sizeof ((buf *)0)->d + 2];
	char path[1024];
	file[0] = flags;
	file[1] = chunk;
	memcpy(file + 2, b->d, b->n);
	LLVMFuzzerTestOneInput(file, b->n + 2);
	if (want_up >= 0 && g_last.established != want_up)
		FAIL("%s: established %d, want %d (rc %d)", name, g_last.established, want_up,
		     g_last.rc);
	if (want_records >= 0 && g_last.records != want_records)
		FAIL("%s: %d records opened, want %d (rc %d)", name, g_last.records, want_records,
		     g_last.rc);
	snprintf(path, sizeof path, "%s/%s", outdir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(file, 1, b->n + 2, f) != b->n + 2 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	nfiles++;
}

/* Records of the given sizes (the last a CLOSE when close_last) sealed by s. */
static void records(gx_sec *s, buf *b, const size_t *sizes, int n, int close_last)
{
	static uint8_t plain[GX_SEC_RECORD_MAX], w[GX_SEC_RECORD_MAX + GX_SEC_OVERHEAD];
	for (int i = 0; i < n; i++) {
		for (size_t j = 0; j < sizes[i]; j++)
			plain[j] = (uint8_t)(j * 13 + (size_t)i);
		int type = close_last && i == n - 1 ? GX_SEC_CLOSE : GX_SEC_DATA;
		long l = gx_sec_seal(s, type, plain, sizes[i], w);
		if (l < 0)
			FAIL("seal: %ld", l);
		add(b, w, (size_t)l);
	}
}

/* What the client sends a server: msg1, CONFIRM, records. */
static void client_stream(uint8_t flags, buf *b, const size_t *sizes, int n)
{
	uint8_t m1[GX_SEC_HELLO_BYTES], m2[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
	uint8_t m3[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD], none[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
	size_t u, n2, n3, n4;
	gx_sec *c = gx_sec_new(&g_psk, GX_SEC_CLIENT, 0);
	g_rng = SEED_CLIENT ^ 0x5555; /* any client: its msg1 is part of the stream */
	gx_sec_start(c, m1, sizeof m1);
	gx_sec *s = receiver(flags, none); /* the fuzzer's server, same seed */
	if (!c || !s || gx_sec_handshake(s, m1, sizeof m1, &u, m2, sizeof m2, &n2) != GX_ENEEDMORE ||
	    gx_sec_handshake(c, m2, n2, &u, m3, sizeof m3, &n3) != 1 ||
	    gx_sec_handshake(s, m3, n3, &u, none, sizeof none, &n4) != 1)
		FAIL("client_stream handshake");
	b->n = 0;
	add(b, m1, sizeof m1);
	add(b, m3, n3);
	records(c, b, sizes, n, 1);
	gx_sec_free(c);
	gx_sec_free(s);
}

/* What a server sends the client: msg2, records. */
static void server_stream(uint8_t flags, buf *b, const size_t *sizes, int n)
{
	uint8_t m1[GX_SEC_HELLO_BYTES], m2[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
	uint8_t m3[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD], none[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
	size_t u, n2, n3, n4;
	gx_sec *c = receiver(flags, m1); /* the fuzzer's client, same seed */
	gx_sec *s = gx_sec_new(&g_psk, GX_SEC_SERVER, 0);
	gx_sec_start(s, NULL, 0);
	g_rng = SEED_SERVER ^ 0xaaaa;
	if (!c || !s || gx_sec_handshake(s, m1, sizeof m1, &u, m2, sizeof m2, &n2) != GX_ENEEDMORE ||
	    gx_sec_handshake(c, m2, n2, &u, m3, sizeof m3, &n3) != 1 ||
	    gx_sec_handshake(s, m3, n3, &u, none, sizeof none, &n4) != 1)
		FAIL("server_stream handshake");
	b->n = 0;
	add(b, m2, n2);
	records(s, b, sizes, n, 1);
	gx_sec_free(c);
	gx_sec_free(s);
}

int main(int argc, char **argv)
{
	static buf b;
	static const size_t sizes[] = { 0, 1, 64, 300, 3000 };
	static const size_t big[] = { GX_SEC_RECORD_MAX, 10, 0 };
	const int ns = sizeof sizes / sizeof *sizes;
	char name[128];

	if (argc != 2) {
		fprintf(stderr, "usage: gen_handshake_corpus DIR\n");
		return 2;
	}
	outdir = argv[1];
	setup();
	const int aes = crypto_aead_aes256gcm_is_available();
	/* flags: suites bits 1-2: 2 ChaCha20 (0 would do too), 4 AES, 6 both */
	static const struct {
		const char *name;
		uint8_t bits;
	} su[] = { { "chacha", 2 }, { "aes", 4 }, { "both", 6 } };

	for (size_t i = 0; i < 3; i++) {
		if (su[i].bits != 2 && !aes)
			continue;
		uint8_t fs = su[i].bits, fc = (uint8_t)(su[i].bits | 1);
		/* complete conversations, fed whole and byte by byte */
		client_stream(fs, &b, sizes, ns);
		snprintf(name, sizeof name, "srv-%s-full", su[i].name);
		emit(name, fs, 255, &b, 1, ns);
		snprintf(name, sizeof name, "srv-%s-full-bytewise", su[i].name);
		emit(name, fs, 0, &b, 1, ns);
		server_stream(fc, &b, sizes, ns);
		snprintf(name, sizeof name, "cli-%s-full", su[i].name);
		emit(name, fc, 255, &b, 1, ns);
		snprintf(name, sizeof name, "cli-%s-full-chunk7", su[i].name);
		emit(name, fc, 6, &b, 1, ns);
		if (i == 2)
			continue; /* "both" differs from "aes" in the offer only */
		/* the handshake alone, and cut short */
		client_stream(fs, &b, sizes, 0);
		size_t whole = b.n;
		b.n = GX_SEC_HELLO_BYTES;
		snprintf(name, sizeof name, "srv-%s-msg1", su[i].name);
		emit(name, fs, 255, &b, 0, 0);
		static const size_t cuts[] = { 4, 8, 40, 71 };
		for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
			b.n = cuts[k];
			snprintf(name, sizeof name, "srv-%s-msg1-cut%zu", su[i].name, cuts[k]);
			emit(name, fs, 255, &b, 0, 0);
		}
		b.n = whole - 1;
		snprintf(name, sizeof name, "srv-%s-confirm-cut", su[i].name);
		emit(name, fs, 255, &b, 0, 0);
		server_stream(fc, &b, sizes, 0);
		b.n = 50;
		snprintf(name, sizeof name, "cli-%s-msg2-cut50", su[i].name);
		emit(name, fc, 255, &b, 0, 0);
		/* a full-size record, once */
		if (i != 0)
			continue;
		client_stream(fs, &b, big, 3);
		snprintf(name, sizeof name, "srv-%s-bigrecord", su[i].name);
		emit(name, fs, 255, &b, 1, 3);
	}

	/* a plaintext frame header where the handshake belongs */
	gx_frame_hdr h;
	uint8_t fr[GX_FRAME_HDR_SIZE];
	gx_frame_hdr_init(&h);
	h.type = GX_FT_HELLO;
	gx_frame_hdr_pack(&h, fr);
	b.n = 0;
	add(&b, fr, sizeof fr);
	emit("srv-plaintext-frame", 2, 255, &b, 0, 0);
	emit("cli-plaintext-frame", 3, 255, &b, 0, 0);
	/* bad magic, another version, reserved bytes set: a valid msg1 bent */
	client_stream(2, &b, sizes, 0);
	b.n = GX_SEC_HELLO_BYTES;
	b.d[0] = 'X';
	emit("srv-bad-magic", 2, 255, &b, 0, 0);
	b.d[0] = 'G';
	b.d[4] = 2;
	emit("srv-version2", 2, 255, &b, 0, 0);
	b.d[4] = 1;
	b.d[6] = 1;
	emit("srv-reserved", 2, 255, &b, 0, 0);
	b.d[6] = 0;
	b.d[50] ^= 1;
	emit("srv-bad-mac1", 2, 255, &b, 0, 0);
	/* random bytes */
	uint64_t r = 7;
	for (int k = 0; k < 3; k++) {
		b.n = 0;
		for (int j = 0; j < 200; j++) {
			r = r * 6364136223846793005ull + 1442695040888963407ull;
			uint8_t x = (uint8_t)(r >> 56);
			add(&b, &x, 1);
		}
		snprintf(name, sizeof name, "random-%d", k);
		emit(name, (uint8_t)(k * 7), (uint8_t)(k * 50), &b, 0, 0);
	}

	/* record streams after an in-memory handshake (mode 2) */
	for (uint8_t role = 0; role < 2; role++) {
		gx_sec *rx, *tx;
		uint8_t f = (uint8_t)(16 | 2 | role);
		if (hs_pair(f, &rx, &tx) != 0)
			FAIL("hs_pair");
		b.n = 0;
		records(tx, &b, sizes, ns, 1);
		snprintf(name, sizeof name, "records-%s", role ? "to-client" : "to-server");
		emit(name, f, 255, &b, 1, ns);
		gx_sec_free(rx);
		gx_sec_free(tx);
		/* a head that declares too much */
		static const uint8_t head[4] = { 0x01, 0x00, 0x01, GX_SEC_DATA };
		b.n = 0;
		add(&b, head, 4);
		snprintf(name, sizeof name, "records-toobig-%s", role ? "to-client" : "to-server");
		emit(name, f, 255, &b, 1, 0);
	}

	/* tampering (mode 1): n, lengths, then (pos, xor) triples */
	static const struct {
		const char *name;
		uint8_t rec[1 + 2 * 4];
		size_t nrec;
		uint8_t dmg[10];
		size_t ndmg;
	} tc[] = {
		{ "tamper-none", { 3, 10, 0, 0, 0, 100, 0 }, 7, { 0 }, 0 },
		{ "tamper-head", { 2, 10, 0, 5, 0 }, 5, { 0, 0, 0, 0, 0x01 }, 5 },
		{ "tamper-tag", { 2, 10, 0, 5, 0 }, 5, { 29, 0, 0, 0, 0x80 }, 5 },
		{ "tamper-second", { 3, 1, 0, 2, 0, 3, 0 }, 7, { 25, 0, 0, 0, 0x10 }, 5 },
		{ "tamper-length", { 2, 0, 1, 0, 0 }, 5, { 2, 0, 0, 0, 0x20 }, 5 },
	};
	for (size_t k = 0; k < sizeof tc / sizeof *tc; k++) {
		b.n = 0;
		add(&b, tc[k].rec, tc[k].nrec);
		add(&b, tc[k].dmg, tc[k].ndmg);
		emit(tc[k].name, 8 | 2, 0, &b, -1, -1);
		if (k == 0)
			emit("tamper-none-client", 8 | 3, 0, &b, -1, -1);
	}
	printf("%d files in %s\n", nfiles, outdir);
	return 0;
}
