/* test_secure.c — key files, the handshake and the record layer of
 * secure.h, in memory: each suite, byte-at-a-time feeding, every refusal
 * the header promises, and the key schedule checked against an independent
 * implementation of the spec written here with libsodium. */
#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "geomx.h"
#include "net/secure.h"
#include "t.h"
#include "t_sec.h"

static char g_dir[256];
static int g_suites[2];
static int g_nsuites;

/* ----------------------------------------------------------- helpers */

static void path_of(char *p, size_t cap, const char *name)
{
	snprintf(p, cap, "%s/%s", g_dir, name);
}

static int write_file(const char *path, const void *b, size_t n, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	int ok = write(fd, b, n) == (ssize_t)n;
	close(fd);
	return ok && chmod(path, mode) == 0 ? 0 : -1;
}

static int count_entries(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Opens every record of a sealed stream in place; the plaintext goes to
 * out. Returns the plaintext length or the first error. */
static long open_all(gx_sec *s, uint8_t *w, size_t n, uint8_t *out)
{
	size_t off = 0, o = 0;
	while (off < n) {
		size_t used, pl;
		int type;
		const uint8_t *p;
		int rc = gx_sec_open(s, w + off, n - off, &used, &type, &p, &pl);
		if (rc != 0)
			return rc;
		if (type != GX_SEC_DATA)
			return -1000;
		memcpy(out + o, p, pl);
		o += pl;
		off += used;
	}
	return (long)o;
}

/* ---------------------------------------------------------- key files */

static void test_key_generate_load(void)
{
	char p[512], err[512];
	gx_key k, k2;
	path_of(p, sizeof p, "gen.key");
	unlink(p);
	T_REQUIRE(gx_key_generate(p, err, sizeof err) == 0);
	T_ASSERT(err[0] == 0);
	struct stat st;
	T_REQUIRE(stat(p, &st) == 0);
	T_EQ(st.st_mode & 07777, 0600);
	T_EQ(st.st_size, 65);
	char text[80] = { 0 };
	int fd = open(p, O_RDONLY);
	T_REQUIRE(fd >= 0);
	T_EQ(read(fd, text, sizeof text), 65);
	close(fd);
	T_EQ(text[64], '\n');
	for (int i = 0; i < 64; i++)
		T_ASSERT((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'));
	T_EQ(gx_key_load(p, &k, err, sizeof err), 0);
	uint8_t want[GX_KEY_BYTES];
	size_t bl = 0;
	T_EQ(sodium_hex2bin(want, sizeof want, text, 64, NULL, &bl, NULL), 0);
	T_EQ(bl, GX_KEY_BYTES);
	T_ASSERT(memcmp(k.k, want, GX_KEY_BYTES) == 0);

	/* an existing file is never replaced, and no temporary is left */
	int before = count_entries(g_dir);
	T_EQ(gx_key_generate(p, err, sizeof err), GX_EINVAL);
	char msg[600];
	snprintf(msg, sizeof msg, "%s exists", p);
	T_ASSERT(strcmp(err, msg) == 0);
	T_EQ(count_entries(g_dir), before);
	T_EQ(gx_key_load(p, &k2, err, sizeof err), 0);
	T_ASSERT(memcmp(k.k, k2.k, GX_KEY_BYTES) == 0);

	/* two keys differ */
	char p2[512];
	path_of(p2, sizeof p2, "gen2.key");
	unlink(p2);
	T_EQ(gx_key_generate(p2, err, sizeof err), 0);
	T_EQ(gx_key_load(p2, &k2, err, sizeof err), 0);
	T_ASSERT(memcmp(k.k, k2.k, GX_KEY_BYTES) != 0);

	/* a folder that does not exist: an I/O error naming the path */
	char p3[512];
	path_of(p3, sizeof p3, "nope/x.key");
	T_EQ(gx_key_generate(p3, err, sizeof err), GX_EIO);
	T_ASSERT(strstr(err, p3) != NULL);
	unlink(p);
	unlink(p2);
}

static void test_key_refusals(void)
{
	char p[512], err[512], want[1200];
	gx_key k, ref;
	static const char hex[] =
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	for (int i = 0; i < GX_KEY_BYTES; i++)
		ref.k[i] = (uint8_t)i;
	path_of(p, sizeof p, "k");

	T_REQUIRE(write_file(p, hex, 64, 0644) == 0);
	T_EQ(gx_key_load(p, &k, err, sizeof err), GX_EINVAL);
	snprintf(want, sizeof want, "%s is readable by others (mode 0644); chmod 600 %s", p, p);
	T_ASSERT(strcmp(err, want) == 0);
	if (strcmp(err, want) != 0)
		printf("#   got \"%s\"\n", err);
	T_REQUIRE(write_file(p, hex, 64, 0640) == 0);
	T_EQ(gx_key_load(p, &k, err, sizeof err), GX_EINVAL);
	T_ASSERT(strstr(err, "(mode 0640)") != NULL);
	T_REQUIRE(write_file(p, hex, 64, 0602) == 0);
	T_EQ(gx_key_load(p, &k, err, sizeof err), GX_EINVAL);
	T_ASSERT(strstr(err, "(mode 0602)") != NULL);

	/* accepted forms */
	T_REQUIRE(write_file(p, hex, 64, 0600) == 0);
	memset(&k, 0, sizeof k);
	T_EQ(gx_key_load(p, &k, err, sizeof err), 0);
	T_ASSERT(memcmp(k.k, ref.k, GX_KEY_BYTES) == 0);
	char up[80];
	snprintf(up, sizeof up, " \t\n%s\r\n\n", hex);
	for (char *q = up; *q; q++)
		if (*q >= 'a' && *q <= 'f')
			*q = (char)(*q - 'a' + 'A');
	T_REQUIRE(write_file(p, up, strlen(up), 0400) == 0);
	memset(&k, 0, sizeof k);
	T_EQ(gx_key_load(p, &k, err, sizeof err), 0);
	T_ASSERT(memcmp(k.k, ref.k, GX_KEY_BYTES) == 0);
	uint8_t raw[GX_KEY_BYTES];
	for (int i = 0; i < GX_KEY_BYTES; i++)
		raw[i] = (uint8_t)(0xff - i * 3); /* includes bytes that are not text */
	T_REQUIRE(write_file(p, raw, sizeof raw, 0600) == 0);
	T_EQ(gx_key_load(p, &k, err, sizeof err), 0);
	T_ASSERT(memcmp(k.k, raw, GX_KEY_BYTES) == 0);

	/* refused content: GX_EFORMAT naming the path */
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
		{ "", "0 hex digits" },
		{ "0001020304050607", "16 hex digits" },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\n",
		  "63 hex digits" },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0",
		  "65 hex digits" },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
		  "byte 63 is not a hex digit" },
		{ "0001020304050607 8090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		  "byte 16 is not a hex digit" },
		{ "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		  "byte 1 is not a hex digit" },
		{ "000102030405060708090a0b0c0d0e0f", "32 hex digits" }, /* 32 + newline */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		const char *t = bad[i].text;
		size_t n = strlen(t);
		char tmp[200];
		if (i == 7) { /* 33 bytes: not the raw form */
			snprintf(tmp, sizeof tmp, "%s\n", t);
			t = tmp;
			n = strlen(t);
		}
		T_REQUIRE(write_file(p, t, n, 0600) == 0);
		int rc = gx_key_load(p, &k, err, sizeof err);
		if (rc != GX_EFORMAT || !strstr(err, p) || !strstr(err, bad[i].why)) {
			printf("#   case %zu: rc %d \"%s\"\n", i, rc, err);
			t_case_failed = 1;
		}
	}
	char big[400];
	memset(big, '0', sizeof big);
	T_REQUIRE(write_file(p, big, sizeof big, 0600) == 0);
	T_EQ(gx_key_load(p, &k, err, sizeof err), GX_EFORMAT);
	T_ASSERT(strstr(err, "more than") != NULL);

	/* not a regular file; missing */
	T_EQ(gx_key_load(g_dir, &k, err, sizeof err), GX_EINVAL);
	T_ASSERT(strstr(err, "is not a regular file") != NULL);
	unlink(p);
	T_EQ(gx_key_load(p, &k, err, sizeof err), GX_EIO);
	snprintf(want, sizeof want, "cannot open %s: No such file or directory", p);
	T_ASSERT(strcmp(err, want) == 0);
}

/* --------------------------------------------------------- handshake */

static void test_handshake_each_suite(void)
{
	gx_key k;
	fill_key(&k, 7);
	for (int i = 0; i < g_nsuites; i++)
		for (int bytewise = 0; bytewise < 2; bytewise++) {
			int su = g_suites[i];
			gx_sec *c = gx_sec_new(&k, GX_SEC_CLIENT, su);
			gx_sec *s = gx_sec_new(&k, GX_SEC_SERVER, su);
			T_REQUIRE(c && s);
			T_EQ(gx_sec_suite(c), 0);
			T_EQ(gx_sec_established(c), 0);
			T_EQ(handshake(c, s, bytewise), 0);
			T_EQ(gx_sec_suite(c), su);
			T_EQ(gx_sec_suite(s), su);
			T_ASSERT(strcmp(gx_sec_why(c), "") == 0 && strcmp(gx_sec_why(s), "") == 0);
			/* the CONFIRM used c2s record 0 */
			T_EQ(gx_sec_sent(c), 1);
			T_EQ(gx_sec_received(s), 1);
			T_EQ(gx_sec_sent(s), 0);
			/* a finished handshake stays finished and uses nothing */
			size_t used = 9, ol = 9;
			uint8_t out[128];
			T_EQ(gx_sec_handshake(s, (const uint8_t *)"xx", 2, &used, out, sizeof out, &ol), 1);
			T_EQ(used, 0);
			T_EQ(ol, 0);
			/* both directions carry data */
			uint8_t w[64];
			const uint8_t *p;
			size_t u, n;
			int type;
			T_EQ(gx_sec_seal(c, GX_SEC_DATA, (const uint8_t *)"ping", 4, w), 24);
			T_EQ(gx_sec_open(s, w, 24, &u, &type, &p, &n), 0);
			T_ASSERT(n == 4 && memcmp(p, "ping", 4) == 0 && type == GX_SEC_DATA && u == 24);
			T_EQ(gx_sec_seal(s, GX_SEC_CLOSE, NULL, 0, w), GX_SEC_OVERHEAD);
			T_EQ(gx_sec_open(c, w, GX_SEC_OVERHEAD, &u, &type, &p, &n), 0);
			T_EQ(type, GX_SEC_CLOSE);
			T_EQ(n, 0);
			gx_sec_free(c);
			gx_sec_free(s);
		}
	gx_sec_free(NULL);
}

static void test_suite_choice(void)
{
	gx_sec *c, *s;
	T_REQUIRE(pair(&c, &s, 0, GX_SEC_CHACHA20) == 0);
	T_EQ(gx_sec_suite(c), GX_SEC_CHACHA20);
	gx_sec_free(c);
	gx_sec_free(s);
	T_REQUIRE(pair(&c, &s, GX_SEC_CHACHA20, 0) == 0);
	T_EQ(gx_sec_suite(s), GX_SEC_CHACHA20);
	gx_sec_free(c);
	gx_sec_free(s);
	T_REQUIRE(pair(&c, &s, 0, 0) == 0);
	T_EQ(gx_sec_suite(c), crypto_aead_aes256gcm_is_available() ? GX_SEC_AES256GCM : GX_SEC_CHACHA20);
	gx_sec_free(c);
	gx_sec_free(s);
	if (!crypto_aead_aes256gcm_is_available())
		T_SKIP("no AES-GCM on this machine");
	/* nothing in common: refused after mac1, with both sets named */
	gx_key k;
	fill_key(&k, 1);
	c = gx_sec_new(&k, GX_SEC_CLIENT, GX_SEC_AES256GCM);
	s = gx_sec_new(&k, GX_SEC_SERVER, GX_SEC_CHACHA20);
	uint8_t m1[GX_SEC_HELLO_BYTES], out[256];
	size_t n, left;
	T_EQ(gx_sec_start(c, m1, sizeof m1), GX_SEC_HELLO_BYTES);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	T_EQ(push(s, m1, sizeof m1, 0, out, &n, &left), GX_EPROTO);
	T_ASSERT(strstr(gx_sec_why(s), "no cipher suite in common (peer offers 0x02") != NULL);
	gx_sec_free(c);
	gx_sec_free(s);
}

static void test_wrong_key(void)
{
	gx_key a, b;
	fill_key(&a, 1);
	fill_key(&b, 2);
	gx_sec *c = gx_sec_new(&a, GX_SEC_CLIENT, 0);
	gx_sec *s = gx_sec_new(&b, GX_SEC_SERVER, 0);
	T_REQUIRE(c && s);
	uint8_t m1[GX_SEC_HELLO_BYTES], out[256];
	size_t n, left;
	T_EQ(gx_sec_start(c, m1, sizeof m1), GX_SEC_HELLO_BYTES);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	T_EQ(gx_sec_start(s, NULL, 0), GX_EINVAL); /* twice */
	T_EQ(gx_sec_start(c, m1, sizeof m1), GX_EINVAL);
	T_EQ(push(s, m1, sizeof m1, 1, out, &n, &left), GX_EAUTH);
	T_EQ(n, 0); /* no reply to a stranger */
	T_ASSERT(strcmp(gx_sec_why(s), "authentication failed: the peer holds a different key") == 0);
	/* sticky */
	T_EQ(push(s, m1, sizeof m1, 0, out, &n, &left), GX_EAUTH);
	gx_sec_free(c);
	gx_sec_free(s);

	/* a msg2 that does not verify: the client refuses it */
	T_REQUIRE(pair(&c, &s, 0, 0) == 0); /* (a valid pair, to get a valid msg2 shape) */
	gx_sec_free(c);
	gx_sec_free(s);
	c = gx_sec_new(&a, GX_SEC_CLIENT, 0);
	s = gx_sec_new(&a, GX_SEC_SERVER, 0);
	uint8_t r1[256];
	T_EQ(gx_sec_start(c, m1, sizeof m1), GX_SEC_HELLO_BYTES);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	T_EQ(push(s, m1, sizeof m1, 0, r1, &n, &left), GX_ENEEDMORE);
	T_REQUIRE(n == GX_SEC_HELLO_BYTES);
	r1[20] ^= 1; /* inside the server's public key */
	T_EQ(push(c, r1, n, 0, out, &n, &left), GX_EAUTH);
	T_ASSERT(strcmp(gx_sec_why(c), "authentication failed: the peer holds a different key") == 0);
	gx_sec_free(c);
	gx_sec_free(s);

	/* a CONFIRM that does not open */
	c = gx_sec_new(&a, GX_SEC_CLIENT, 0);
	s = gx_sec_new(&a, GX_SEC_SERVER, 0);
	uint8_t r2[256];
	T_EQ(gx_sec_start(c, m1, sizeof m1), GX_SEC_HELLO_BYTES);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	T_EQ(push(s, m1, sizeof m1, 0, r1, &n, &left), GX_ENEEDMORE);
	T_EQ(push(c, r1, n, 0, r2, &n, &left), 1);
	r2[GX_SEC_OVERHEAD - 1] ^= 0x80;
	T_EQ(push(s, r2, n, 0, out, &n, &left), GX_EAUTH);
	T_ASSERT(strstr(gx_sec_why(s), "confirmation failed authentication") != NULL);
	gx_sec_free(c);
	gx_sec_free(s);
}

static void test_handshake_garbage(void)
{
	gx_key k;
	fill_key(&k, 3);
	uint8_t out[256], m1[GX_SEC_HELLO_BYTES];
	size_t n, left, used, ol;
	gx_sec *s;

	/* a plaintext frame header: named as such once its magic is in */
	gx_frame_hdr h;
	uint8_t fr[GX_FRAME_HDR_SIZE];
	gx_frame_hdr_init(&h);
	h.type = GX_FT_HELLO;
	gx_frame_hdr_pack(&h, fr);
	s = gx_sec_new(&k, GX_SEC_SERVER, 0);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	T_EQ(gx_sec_handshake(s, fr, 3, &used, out, sizeof out, &ol), GX_ENEEDMORE);
	T_EQ(gx_sec_handshake(s, fr, 4, &used, out, sizeof out, &ol), GX_EPROTO);
	T_ASSERT(strcmp(gx_sec_why(s), "peer speaks plaintext (no --key there?)") == 0);
	gx_sec_free(s);
	/* the same answer to a client waiting for msg2 */
	gx_sec *c = gx_sec_new(&k, GX_SEC_CLIENT, 0);
	T_EQ(gx_sec_start(c, m1, sizeof m1), GX_SEC_HELLO_BYTES);
	T_EQ(push(c, fr, sizeof fr, 0, out, &n, &left), GX_EPROTO);
	T_ASSERT(strcmp(gx_sec_why(c), "peer speaks plaintext (no --key there?)") == 0);
	gx_sec_free(c);

	/* bad magic, told at the first wrong byte */
	s = gx_sec_new(&k, GX_SEC_SERVER, 0);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	T_EQ(gx_sec_handshake(s, (const uint8_t *)"GET / HTTP/1.0", 1, &used, out, sizeof out, &ol),
	     GX_ENEEDMORE);
	T_EQ(gx_sec_handshake(s, (const uint8_t *)"GET / HTTP/1.0", 2, &used, out, sizeof out, &ol),
	     GX_EPROTO);
	T_ASSERT(strcmp(gx_sec_why(s), "not a geomx secure handshake") == 0);
	gx_sec_free(s);

	/* version and reserved bytes */
	c = gx_sec_new(&k, GX_SEC_CLIENT, 0);
	T_EQ(gx_sec_start(c, m1, sizeof m1), GX_SEC_HELLO_BYTES);
	gx_sec_free(c);
	m1[4] = 2;
	s = gx_sec_new(&k, GX_SEC_SERVER, 0);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	T_EQ(gx_sec_handshake(s, m1, 5, &used, out, sizeof out, &ol), GX_EVERSION);
	T_ASSERT(strcmp(gx_sec_why(s), "peer speaks secure handshake version 2, this build speaks 1") ==
		 0);
	gx_sec_free(s);
	m1[4] = 1;
	m1[7] = 1;
	s = gx_sec_new(&k, GX_SEC_SERVER, 0);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	T_EQ(gx_sec_handshake(s, m1, sizeof m1, &used, out, sizeof out, &ol), GX_EPROTO);
	T_ASSERT(strstr(gx_sec_why(s), "reserved") != NULL);
	gx_sec_free(s);
	m1[7] = 0;

	/* truncated msg1: nothing used, nothing answered, then the rest works */
	s = gx_sec_new(&k, GX_SEC_SERVER, 0);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	for (size_t l = 0; l < sizeof m1; l++) {
		used = ol = 99;
		T_EQ(gx_sec_handshake(s, m1, l, &used, out, sizeof out, &ol), GX_ENEEDMORE);
		T_EQ(used, 0);
		T_EQ(ol, 0);
	}
	T_EQ(gx_sec_handshake(s, m1, sizeof m1, &used, out, sizeof out, &ol), GX_ENEEDMORE);
	T_EQ(used, GX_SEC_HELLO_BYTES);
	T_EQ(ol, GX_SEC_HELLO_BYTES);
	/* a record other than CONFIRM where it is due: refused by its head */
	uint8_t head[4] = { 5, 0, 0, GX_SEC_DATA };
	T_EQ(gx_sec_handshake(s, head, 4, &used, out, sizeof out, &ol), GX_EPROTO);
	T_ASSERT(strstr(gx_sec_why(s), "expected the handshake confirmation") != NULL);
	gx_sec_free(s);

	/* misuse */
	s = gx_sec_new(&k, GX_SEC_SERVER, 0);
	c = gx_sec_new(&k, GX_SEC_CLIENT, 0);
	T_EQ(gx_sec_handshake(c, m1, sizeof m1, &used, out, sizeof out, &ol), GX_EINVAL); /* no start */
	T_EQ(gx_sec_start(c, m1, 10), GX_EINVAL); /* cap */
	T_EQ(gx_sec_seal(c, GX_SEC_DATA, m1, 1, out), GX_EINVAL); /* not established */
	const uint8_t *p;
	int type;
	T_EQ(gx_sec_open(s, out, sizeof out, &used, &type, &p, &n), GX_EINVAL);
	T_ASSERT(gx_sec_new(NULL, GX_SEC_SERVER, 0) == NULL);
	T_ASSERT(gx_sec_new(&k, 7, 0) == NULL);
	gx_sec_free(s);
	gx_sec_free(c);
}

/* ------------------------------------------------------------ records */

static void test_seal_open_sizes(void)
{
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 200000 };
	size_t maxn = 200000;
	uint8_t *plain = malloc(maxn), *w = malloc(gx_sec_sealed_len(maxn)), *back = malloc(maxn);
	T_REQUIRE(plain && w && back);
	for (size_t i = 0; i < maxn; i++)
		plain[i] = (uint8_t)(i * 131 + 7);
	T_EQ(gx_sec_sealed_len(0), 0);
	T_EQ(gx_sec_sealed_len(1), 1 + GX_SEC_OVERHEAD);
	T_EQ(gx_sec_sealed_len(65536), 65536 + GX_SEC_OVERHEAD);
	T_EQ(gx_sec_sealed_len(65537), 65537 + 2 * GX_SEC_OVERHEAD);
	for (int si = 0; si < g_nsuites; si++) {
		gx_sec *c, *s;
		T_REQUIRE(pair(&c, &s, g_suites[si], g_suites[si]) == 0);
		uint64_t recs = 0;
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
			size_t n = sizes[i];
			long wl = gx_sec_seal_stream(c, plain, n, w);
			T_EQ(wl, (long)gx_sec_sealed_len(n));
			recs += (n + GX_SEC_RECORD_MAX - 1) / GX_SEC_RECORD_MAX;
			T_EQ(gx_sec_sent(c), 1 + recs);
			/* the first record's head: length and DATA type */
			if (n) {
				size_t l0 = n < GX_SEC_RECORD_MAX ? n : GX_SEC_RECORD_MAX;
				T_EQ(w[0] | w[1] << 8 | w[2] << 16, l0);
				T_EQ(w[3], GX_SEC_DATA);
				/* ciphertext is not the plaintext (16 bytes: a chance match
				 * is 2^-128; a shorter record may match by chance) */
				T_ASSERT(l0 < 16 || memcmp(w + 4, plain, 16) != 0);
			}
			memset(back, 0, maxn);
			T_EQ(open_all(s, w, (size_t)wl, back), (long)n);
			T_ASSERT(memcmp(back, plain, n) == 0);
			T_EQ(gx_sec_received(s), 1 + recs);
		}
		/* a single record: every size up to the limit, not one more */
		T_EQ(gx_sec_seal(c, GX_SEC_DATA, plain, GX_SEC_RECORD_MAX + 1, w), GX_EINVAL);
		T_EQ(gx_sec_seal(c, 9, plain, 1, w), GX_EINVAL);
		T_EQ(gx_sec_seal(c, GX_SEC_DATA, plain, GX_SEC_RECORD_MAX, w),
		     GX_SEC_RECORD_MAX + GX_SEC_OVERHEAD);
		memset(back, 0, maxn);
		T_EQ(open_all(s, w, GX_SEC_RECORD_MAX + GX_SEC_OVERHEAD, back), GX_SEC_RECORD_MAX);
		T_ASSERT(memcmp(back, plain, GX_SEC_RECORD_MAX) == 0);
		/* an incomplete record: nothing used, nothing counted */
		T_EQ(gx_sec_seal(c, GX_SEC_DATA, plain, 100, w), 100 + GX_SEC_OVERHEAD);
		size_t used = 7, pl;
		int type;
		const uint8_t *p;
		for (size_t l = 0; l < 100 + GX_SEC_OVERHEAD; l += 13) {
			T_EQ(gx_sec_open(s, w, l, &used, &type, &p, &pl), GX_ENEEDMORE);
			T_EQ(used, 0);
		}
		T_EQ(gx_sec_open(s, w, 100 + GX_SEC_OVERHEAD, &used, &type, &p, &pl), 0);
		T_ASSERT(pl == 100 && memcmp(p, plain, 100) == 0);
		gx_sec_free(c);
		gx_sec_free(s);
	}
	free(plain);
	free(w);
	free(back);
}

/* One record of 64 bytes sealed by a fresh client, damaged by f, opened by
 * its server: the status. */
static int damaged(int suite, void (*f)(uint8_t *w, size_t n, int arg), int arg)
{
	gx_sec *c, *s;
	uint8_t plain[64], w[256];
	memset(plain, 0x5a, sizeof plain);
	if (pair(&c, &s, suite, suite) != 0)
		return 1;
	long n = gx_sec_seal(c, GX_SEC_DATA, plain, sizeof plain, w);
	memset(w + n, 0, sizeof w - (size_t)n); /* room for a longer declared length */
	f(w, (size_t)n, arg);
	size_t used, pl;
	int type;
	const uint8_t *p;
	int rc = gx_sec_open(s, w, sizeof w, &used, &type, &p, &pl);
	/* (c2s record 0 was the handshake's CONFIRM) */
	if (rc == GX_EAUTH && !strstr(gx_sec_why(s), "record 1 failed authentication"))
		rc = 2;
	gx_sec_free(c);
	gx_sec_free(s);
	return rc;
}

static void flip(uint8_t *w, size_t n, int bit)
{
	w[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static void test_tampering(void)
{
	for (int si = 0; si < g_nsuites; si++) {
		int su = g_suites[si];
		/* head: the low length bits and every type bit */
		for (int bit = 0; bit < 8; bit++)
			T_EQ(damaged(su, flip, bit), GX_EAUTH);
		for (int bit = 24; bit < 32; bit++)
			T_EQ(damaged(su, flip, bit), GX_EAUTH);
		/* ciphertext and tag */
		for (int bit = 32; bit < (4 + 64 + 16) * 8; bit += 37)
			T_EQ(damaged(su, flip, bit), GX_EAUTH);
		T_EQ(damaged(su, flip, (4 + 64 + 16) * 8 - 1), GX_EAUTH);
		/* a length above the limit: refused from the head alone */
		T_EQ(damaged(su, flip, 17), GX_ETOOBIG);

		gx_sec *c, *s;
		uint8_t r[3][40], tmp[40];
		size_t used, pl;
		int type;
		const uint8_t *p;
		T_REQUIRE(pair(&c, &s, su, su) == 0);
		for (int i = 0; i < 3; i++)
			T_EQ(gx_sec_seal(c, GX_SEC_DATA, (const uint8_t *)"0123456789abcdef0123", 20,
					 r[i]),
			     40);
		/* replay: record 0 twice */
		memcpy(tmp, r[0], 40);
		T_EQ(gx_sec_open(s, tmp, 40, &used, &type, &p, &pl), 0);
		memcpy(tmp, r[0], 40);
		T_EQ(gx_sec_open(s, tmp, 40, &used, &type, &p, &pl), GX_EAUTH);
		T_ASSERT(strcmp(gx_sec_why(s),
				"record 2 failed authentication (tampered, replayed or reordered)") ==
			 0);
		/* dead from then on, even for the right record */
		memcpy(tmp, r[1], 40);
		T_EQ(gx_sec_open(s, tmp, 40, &used, &type, &p, &pl), GX_EAUTH);
		gx_sec_free(c);
		gx_sec_free(s);

		/* reordered: record 1 before record 0 */
		T_REQUIRE(pair(&c, &s, su, su) == 0);
		for (int i = 0; i < 2; i++)
			gx_sec_seal(c, GX_SEC_DATA, (const uint8_t *)"0123456789abcdef0123", 20, r[i]);
		T_EQ(gx_sec_open(s, r[1], 40, &used, &type, &p, &pl), GX_EAUTH);
		gx_sec_free(c);
		gx_sec_free(s);

		/* dropped: record 0 lost, 1 arrives */
		T_REQUIRE(pair(&c, &s, su, su) == 0);
		for (int i = 0; i < 3; i++)
			gx_sec_seal(c, GX_SEC_DATA, (const uint8_t *)"0123456789abcdef0123", 20, r[i]);
		T_EQ(gx_sec_open(s, r[0], 40, &used, &type, &p, &pl), 0);
		T_EQ(gx_sec_open(s, r[2], 40, &used, &type, &p, &pl), GX_EAUTH);
		gx_sec_free(c);
		gx_sec_free(s);

		/* reflected: our own record sent back does not open (the
		 * directions have different keys) */
		T_REQUIRE(pair(&c, &s, su, su) == 0);
		gx_sec_seal(s, GX_SEC_DATA, (const uint8_t *)"0123456789abcdef0123", 20, r[0]);
		gx_sec_seal(c, GX_SEC_DATA, (const uint8_t *)"0123456789abcdef0123", 20, r[1]);
		memcpy(tmp, r[1], 40);
		T_EQ(gx_sec_open(c, tmp, 40, &used, &type, &p, &pl), GX_EAUTH);
		gx_sec_free(c);
		gx_sec_free(s);

		/* a record of another session with the same key does not open */
		gx_sec *c2, *s2;
		T_REQUIRE(pair(&c, &s, su, su) == 0);
		T_REQUIRE(pair(&c2, &s2, su, su) == 0);
		gx_sec_seal(c, GX_SEC_DATA, (const uint8_t *)"0123456789abcdef0123", 20, r[0]);
		T_EQ(gx_sec_open(s2, r[0], 40, &used, &type, &p, &pl), GX_EAUTH);
		gx_sec_free(c);
		gx_sec_free(s);
		gx_sec_free(c2);
		gx_sec_free(s2);

		/* a CONFIRM after the handshake; an unknown type */
		T_REQUIRE(pair(&c, &s, su, su) == 0);
		T_EQ(gx_sec_seal(c, GX_SEC_CONFIRM, NULL, 0, r[0]), GX_SEC_OVERHEAD);
		T_EQ(gx_sec_open(s, r[0], GX_SEC_OVERHEAD, &used, &type, &p, &pl), GX_EPROTO);
		T_ASSERT(strstr(gx_sec_why(s), "handshake confirmation after the handshake") != NULL);
		gx_sec_free(c);
		gx_sec_free(s);
	}
}

/* -------------------------------------------- the spec, independently */

typedef struct spec {
	uint8_t psk[32], kauth[32], epk[32], esk[32];
	uint8_t msg1[72], msg2[72];
	uint8_t c2s[32], s2c[32];
	int suite;
} spec;

static void blake(uint8_t out[32], const uint8_t *key, const void *a, size_t al, const void *b,
		  size_t bl, const void *c, size_t cl, const void *d, size_t dl)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, key ? 32 : 0, 32);
	crypto_generichash_update(&st, a, al);
	crypto_generichash_update(&st, b, bl);
	crypto_generichash_update(&st, c, cl);
	crypto_generichash_update(&st, d, dl);
	crypto_generichash_final(&st, out, 32);
}

static void spec_init(spec *x, const gx_key *k, uint8_t seedbyte)
{
	uint8_t seed[32];
	memset(x, 0, sizeof *x);
	memcpy(x->psk, k->k, 32);
	crypto_generichash(x->kauth, 32, (const uint8_t *)"geomx handshake auth v1", 23, x->psk, 32);
	memset(seed, seedbyte, sizeof seed);
	crypto_kx_seed_keypair(x->epk, x->esk, seed);
}

static void spec_keys(spec *x, const uint8_t *kx_c2s, const uint8_t *kx_s2c)
{
	uint8_t th[32];
	blake(th, NULL, x->msg1, 72, x->msg2, 72, "", 0, "", 0);
	blake(x->c2s, x->psk, "geomx c2s v1", 12, kx_c2s, 32, th, 32, "", 0);
	blake(x->s2c, x->psk, "geomx s2c v1", 12, kx_s2c, 32, th, 32, "", 0);
}

/* AEAD of the spec: nonce = counter LE | 4 zero bytes, the head as AD. */
static void spec_seal(const spec *x, const uint8_t *key, uint64_t ctr, int type, const uint8_t *m,
		      size_t n, uint8_t *out)
{
	uint8_t nonce[12] = { 0 };
	unsigned long long cl;
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(ctr >> (8 * i));
	out[0] = (uint8_t)n;
	out[1] = (uint8_t)(n >> 8);
	out[2] = (uint8_t)(n >> 16);
	out[3] = (uint8_t)type;
	if (x->suite == GX_SEC_AES256GCM)
		crypto_aead_aes256gcm_encrypt(out + 4, &cl, m, n, out, 4, NULL, nonce, key);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt(out + 4, &cl, m, n, out, 4, NULL, nonce,
							  key);
}

static int spec_open(const spec *x, const uint8_t *key, uint64_t ctr, const uint8_t *rec, size_t n,
		     uint8_t *m)
{
	uint8_t nonce[12] = { 0 };
	unsigned long long ml;
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(ctr >> (8 * i));
	if (x->suite == GX_SEC_AES256GCM)
		return crypto_aead_aes256gcm_decrypt(m, &ml, NULL, rec + 4, n - 4, rec, 4, nonce, key);
	return crypto_aead_chacha20poly1305_ietf_decrypt(m, &ml, NULL, rec + 4, n - 4, rec, 4, nonce,
							 key);
}

/* The spec's client against the library's server: both derive the same
 * per-direction keys, and two sessions under one key derive different ones. */
static void test_spec_client(void)
{
	gx_key k;
	fill_key(&k, 9);
	uint8_t first_c2s[32];
	for (int si = 0; si < g_nsuites; si++)
		for (int sess = 0; sess < 2; sess++) {
			spec x;
			spec_init(&x, &k, 0x42); /* the same client keys both times */
			x.suite = g_suites[si];
			memcpy(x.msg1, "GXHS\x01", 5);
			x.msg1[5] = (uint8_t)x.suite;
			memcpy(x.msg1 + 8, x.epk, 32);
			blake(x.msg1 + 40, x.kauth, "C", 1, x.msg1, 8, x.epk, 32, "", 0);
			gx_sec *s = gx_sec_new(&k, GX_SEC_SERVER, 0);
			T_REQUIRE(s);
			uint8_t out[256], m[64];
			size_t n, left;
			T_EQ(gx_sec_start(s, NULL, 0), 0);
			T_EQ(push(s, x.msg1, 72, 0, out, &n, &left), GX_ENEEDMORE);
			T_REQUIRE(n == 72);
			memcpy(x.msg2, out, 72);
			T_ASSERT(memcmp(x.msg2, "GXHS\x01", 5) == 0);
			T_EQ(x.msg2[5], x.suite);
			uint8_t mac2[32], rx[32], tx[32];
			blake(mac2, x.kauth, "S", 1, x.msg1, 72, x.msg2, 8, x.msg2 + 8, 32);
			T_ASSERT(memcmp(mac2, x.msg2 + 40, 32) == 0);
			T_REQUIRE(crypto_kx_client_session_keys(rx, tx, x.epk, x.esk, x.msg2 + 8) == 0);
			spec_keys(&x, tx, rx);
			uint8_t conf[20];
			spec_seal(&x, x.c2s, 0, GX_SEC_CONFIRM, NULL, 0, conf);
			T_EQ(push(s, conf, 20, 1, out, &n, &left), 1);
			T_EQ(gx_sec_suite(s), x.suite);
			/* s2c: the server's record opens under the spec's s2c key */
			long w = gx_sec_seal(s, GX_SEC_DATA, (const uint8_t *)"hello", 5, out);
			T_EQ(w, 25);
			T_EQ(spec_open(&x, x.s2c, 0, out, 25, m), 0);
			T_ASSERT(memcmp(m, "hello", 5) == 0);
			/* c2s: the spec's record 1 opens at the server */
			spec_seal(&x, x.c2s, 1, GX_SEC_DATA, (const uint8_t *)"world!", 6, out);
			size_t used, pl;
			int type;
			const uint8_t *p;
			T_EQ(gx_sec_open(s, out, 26, &used, &type, &p, &pl), 0);
			T_ASSERT(pl == 6 && memcmp(p, "world!", 6) == 0);
			T_ASSERT(memcmp(x.c2s, x.s2c, 32) != 0);
			if (sess == 0)
				memcpy(first_c2s, x.c2s, 32);
			else
				T_ASSERT(memcmp(first_c2s, x.c2s, 32) != 0);
			gx_sec_free(s);
		}
}

/* The spec's server against the library's client. */
static void test_spec_server(void)
{
	gx_key k;
	fill_key(&k, 11);
	for (int si = 0; si < g_nsuites; si++) {
		spec x;
		spec_init(&x, &k, 0x17);
		gx_sec *c = gx_sec_new(&k, GX_SEC_CLIENT, 0);
		T_REQUIRE(c);
		T_EQ(gx_sec_start(c, x.msg1, 72), 72);
		uint8_t mac1[32];
		blake(mac1, x.kauth, "C", 1, x.msg1, 8, x.msg1 + 8, 32, "", 0);
		T_ASSERT(memcmp(mac1, x.msg1 + 40, 32) == 0);
		T_EQ(x.msg1[5] & GX_SEC_CHACHA20, GX_SEC_CHACHA20);
		x.suite = g_suites[si];
		memcpy(x.msg2, "GXHS\x01", 5);
		x.msg2[5] = (uint8_t)x.suite;
		memcpy(x.msg2 + 8, x.epk, 32);
		blake(x.msg2 + 40, x.kauth, "S", 1, x.msg1, 72, x.msg2, 8, x.epk, 32);
		uint8_t out[256], rx[32], tx[32], m[64];
		size_t n, left;
		T_EQ(push(c, x.msg2, 72, 0, out, &n, &left), 1);
		T_REQUIRE(n == 20);
		T_REQUIRE(crypto_kx_server_session_keys(rx, tx, x.epk, x.esk, x.msg1 + 8) == 0);
		spec_keys(&x, rx, tx);
		T_EQ(out[3], GX_SEC_CONFIRM);
		T_EQ(spec_open(&x, x.c2s, 0, out, 20, m), 0);
		spec_seal(&x, x.s2c, 0, GX_SEC_DATA, (const uint8_t *)"abc", 3, out);
		size_t used, pl;
		int type;
		const uint8_t *p;
		T_EQ(gx_sec_open(c, out, 23, &used, &type, &p, &pl), 0);
		T_ASSERT(pl == 3 && memcmp(p, "abc", 3) == 0);
		gx_sec_free(c);
	}
}

int main(void)
{
	if (gx_sec_init() != 0) {
		printf("libsodium does not initialise\n");
		return 77;
	}
	snprintf(g_dir, sizeof g_dir, "%s/gx-sec-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(g_dir))
		return 1;
	g_suites[g_nsuites++] = GX_SEC_CHACHA20;
	if (crypto_aead_aes256gcm_is_available())
		g_suites[g_nsuites++] = GX_SEC_AES256GCM;
	else
		printf("# no AES-GCM on this machine: ChaCha20 only\n");
	T_RUN(test_key_generate_load);
	T_RUN(test_key_refusals);
	T_RUN(test_handshake_each_suite);
	T_RUN(test_suite_choice);
	T_RUN(test_wrong_key);
	T_RUN(test_handshake_garbage);
	T_RUN(test_seal_open_sizes);
	T_RUN(test_tampering);
	T_RUN(test_spec_client);
	T_RUN(test_spec_server);
	rmdir(g_dir);
	T_DONE();
}
