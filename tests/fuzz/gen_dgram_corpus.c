/*
 * gen_dgram_corpus.c — writes the seed corpus of fuzz_dgram: valid
 * datagrams in plaintext and under the target's own keys (F32 and F16,
 * empty and full-sized bodies), the same cut short and extended, each
 * field of the head made bad, and blocks for the seal-and-tamper mode. It
 * includes the target to share its keys and runs each seed through it.
 * Deterministic: rerunning rewrites the same files.
 *
 *   make BUILD=build build/libgeomx.a
 *   cc -std=c11 -Ilib -D_GNU_SOURCE tests/fuzz/gen_dgram_corpus.c build/libgeomx.a \
 *      -lsodium -lzstd -lpthread -lm -o build/gen_dgram_corpus
 *   build/gen_dgram_corpus tests/fuzz/corpus/dgram
 */
#include "fuzz_dgram.c"

static const char *outdir;
static int nfiles;
static uint8_t g_in[GX_DG_MAX + 2];

/* Writes mode | d (n bytes) as the next seed, after running it. */
static void seed(int mode, const uint8_t *d, size_t n)
{
	g_in[0] = (uint8_t)mode;
	memcpy(g_in + 1, d, n);
	LLVMFuzzerTestOneInput(g_in, n + 1);
	char path[512];
	snprintf(path, sizeof path, "%s/seed-%03d", outdir, nfiles++);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(g_in, 1, n + 1, f) != n + 1 || fclose(f) != 0)
		FAIL("cannot write %s", path);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		FAIL("usage: gen_dgram_corpus DIR");
	outdir = argv[1];
	setup();
	static uint8_t body[1424], d[2048];
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (uint8_t)(i * 29 + 3);
	const gx_dg_key *keys[3] = { NULL, g_chacha, g_aes };
	const uint16_t counts[2][2] = { { 0, 356 }, { 1, 712 } }; /* F32, F16 */
	for (int mode = 0; mode < 3; mode++)
		for (int c = 0; c < 2; c++)
			for (int j = 0; j < 2; j++) {
				gx_dg_head h = { .kind = GX_DG_BLOCK, .channel = (uint8_t)(1 + j),
						 .codec = c ? GX_CODEC_F16 : GX_CODEC_F32,
						 .party = 1, .key = 4, .slice = 2, .round = 77,
						 .block = 3,
						 .count = counts[c][j] };
				long n = gx_dg_seal(keys[mode], &h, body, d, sizeof d);
				if (n < 0)
					FAIL("seal: %ld", n);
				seed(mode, d, (size_t)n);
				if (j == 0)
					continue;
				seed(mode, d, (size_t)n - 1);
				d[n] = 0;
				seed(mode, d, (size_t)n + 1);
				/* each field of the head made bad */
				const int at[] = { 0, 4, 5, 7, 24, 26 };
				for (size_t a = 0; a < sizeof at / sizeof *at; a++) {
					d[at[a]] ^= 0x41;
					seed(mode, d, (size_t)n);
					d[at[a]] ^= 0x41;
				}
			}
	/* an ask (bytes, its block among the attempts') in each mode, and an
	 * answer's block */
	for (int mode = 0; mode < 3; mode++) {
		gx_dg_head a = { .kind = GX_DG_ASK, .channel = 1, .codec = GX_CODEC_NONE,
				 .party = 1, .key = 4, .slice = 2, .round = 77,
				 .block = GX_DG_ASK_BLOCK + 1, .count = 5 };
		long n = gx_dg_seal(keys[mode], &a, body, d, sizeof d);
		if (n < 0)
			FAIL("seal an ask: %ld", n);
		seed(mode, d, (size_t)n);
		gx_dg_head w = { .kind = GX_DG_ANSWER, .channel = 1, .codec = GX_CODEC_F16,
				 .party = 1, .key = 4, .slice = 2, .round = 77, .block = 0,
				 .count = 8, .flags = GX_DG_LAST | GX_DG_END };
		n = gx_dg_seal(keys[mode], &w, body, d, sizeof d);
		if (n < 0)
			FAIL("seal an answer: %ld", n);
		seed(mode, d, (size_t)n);
	}
	/* mode 3: head fields, a body, a tamper (position, xor) */
	uint8_t b[29 + 712 + 3];
	memset(b, 0, sizeof b);
	b[0] = GX_DG_BLOCK;
	b[1] = 1;
	b[2] = GX_CODEC_F32;
	b[3] = 2;      /* party */
	b[7] = 9;      /* key */
	b[11] = 1;     /* slice */
	b[15] = 5;     /* round */
	b[19] = 1;     /* block */
	b[23] = 178;   /* count: 712 bytes of F32 */
	b[25] = 3;     /* rel */
	memcpy(b + 29, body, 712);
	b[29 + 712] = 40; /* tamper at byte 40, xor 0 then 1 */
	seed(3, b, sizeof b);
	b[29 + 712 + 2] = 1;
	seed(3, b, sizeof b);
	seed(3 | 4, b, sizeof b);
	b[2] = GX_CODEC_F16;
	seed(3, b, sizeof b);
	printf("%d seeds in %s\n", nfiles, outdir);
	return 0;
}
