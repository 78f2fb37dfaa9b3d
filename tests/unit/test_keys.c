/*
 * test_keys.c — the keys of a job's parties and workers (net/key.c): the
 * derivation against an independent implementation (Python's hashlib
 * BLAKE2b), what each key can and cannot derive, scoped key files written
 * and read back, and a server's key ring: the key that verifies is the
 * peer's, a key outside the ring is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "geomx.h"
#include "net/secure.h"
#include "t.h"

static void fill_key(gx_key *k, uint8_t seed)
{
	memset(k, 0, sizeof *k);
	for (int i = 0; i < GX_KEY_BYTES; i++)
		k->k[i] = (uint8_t)(seed * 31 + i * 7);
}

static void hex(char out[65], const gx_key *k)
{
	for (int i = 0; i < GX_KEY_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", k->k[i]);
}

static void test_derive(void)
{
	gx_key job, p2, w25, w25b, x;
	char h[65];
	fill_key(&job, 1);
	T_EQ(gx_key_derive(&job, GX_KEY_PARTY, 2, 0, &p2), 0);
	T_EQ(p2.scope, GX_KEY_PARTY);
	T_EQ(p2.party, 2u);
	/* hashlib.blake2b(b"geomx party key v1" + (2).to_bytes(4, "little"),
	 *                 key=job, digest_size=32) */
	hex(h, &p2);
	T_ASSERT(strcmp(h, "ffdfcc7796b7f12b57bbf1a17aae026407f97617c7981ed7adffa88fa6b09667") == 0);
	T_EQ(gx_key_derive(&p2, GX_KEY_WORKER, 2, 5, &w25), 0);
	hex(h, &w25);
	T_ASSERT(strcmp(h, "d7a9f5e31b3eef924a740a58c0e969d7581a90e48140842dacf61b66763ef12d") == 0);
	T_EQ(w25.scope, GX_KEY_WORKER);
	T_EQ(w25.rank, 5u);
	/* the job's key gives the same worker key directly */
	T_EQ(gx_key_derive(&job, GX_KEY_WORKER, 2, 5, &w25b), 0);
	T_ASSERT(memcmp(w25.k, w25b.k, GX_KEY_BYTES) == 0);
	/* parties and ranks differ */
	T_EQ(gx_key_derive(&job, GX_KEY_PARTY, 3, 0, &x), 0);
	T_ASSERT(memcmp(x.k, p2.k, GX_KEY_BYTES) != 0);
	T_EQ(gx_key_derive(&p2, GX_KEY_WORKER, 2, 4, &x), 0);
	T_ASSERT(memcmp(x.k, w25.k, GX_KEY_BYTES) != 0);
	/* what a key cannot give: another party's, a party's from a worker's,
	 * another rank's, the job's */
	T_EQ(gx_key_derive(&p2, GX_KEY_PARTY, 3, 0, &x), GX_EINVAL);
	T_EQ(gx_key_derive(&p2, GX_KEY_WORKER, 3, 5, &x), GX_EINVAL);
	T_EQ(gx_key_derive(&w25, GX_KEY_PARTY, 2, 0, &x), GX_EINVAL);
	T_EQ(gx_key_derive(&w25, GX_KEY_WORKER, 2, 4, &x), GX_EINVAL);
	T_EQ(gx_key_derive(&p2, GX_KEY_JOB, 0, 0, &x), GX_EINVAL);
	/* ... and what it is */
	T_EQ(gx_key_derive(&w25, GX_KEY_WORKER, 2, 5, &x), 0);
	T_ASSERT(memcmp(x.k, w25.k, GX_KEY_BYTES) == 0);
	T_EQ(gx_key_derive(&p2, GX_KEY_PARTY, 2, 0, &x), 0);
	T_ASSERT(memcmp(x.k, p2.k, GX_KEY_BYTES) == 0);
	char n[80];
	T_ASSERT(strcmp(gx_key_name(&w25, n, sizeof n), "worker 5 of party 2's key") == 0);
	T_ASSERT(strcmp(gx_key_name(&p2, n, sizeof n), "party 2's key") == 0);
	T_ASSERT(strcmp(gx_key_name(&job, n, sizeof n), "the job's key") == 0);
}

static void test_files(void)
{
	char dir[] = "/tmp/gx-keys.XXXXXX", path[256], err[256];
	T_REQUIRE(mkdtemp(dir) != NULL);
	gx_key job, w, back;
	fill_key(&job, 7);
	T_EQ(gx_key_derive(&job, GX_KEY_WORKER, 1, 3, &w), 0);
	snprintf(path, sizeof path, "%s/w13.key", dir);
	T_EQ(gx_key_save(path, &w, err, sizeof err), 0);
	T_EQ(gx_key_load(path, &back, err, sizeof err), 0);
	T_EQ(back.scope, GX_KEY_WORKER);
	T_EQ(back.party, 1u);
	T_EQ(back.rank, 3u);
	T_ASSERT(memcmp(back.k, w.k, GX_KEY_BYTES) == 0);
	T_EQ(gx_key_save(path, &w, err, sizeof err), GX_EINVAL); /* never replaced */
	unlink(path);
	/* a job's key keeps its format: 64 hex digits */
	snprintf(path, sizeof path, "%s/job.key", dir);
	T_EQ(gx_key_save(path, &job, err, sizeof err), 0);
	T_EQ(gx_key_load(path, &back, err, sizeof err), 0);
	T_EQ(back.scope, GX_KEY_JOB);
	T_ASSERT(memcmp(back.k, job.k, GX_KEY_BYTES) == 0);
	unlink(path);
	/* malformed scoped files */
	const char *bad[] = { "geomx-key boss 1 00\n", "geomx-key party x 00\n",
			      "geomx-key worker 1 00112233445566778899aabbccddeeff00112233445566778899"
			      "aabbccddeeff\n",
			      "geomx-key party 1 00112233\n" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(path, sizeof path, "%s/bad%zu.key", dir, i);
		FILE *f = fopen(path, "w");
		T_REQUIRE(f != NULL);
		fputs(bad[i], f);
		fclose(f);
		chmod(path, 0600);
		T_EQ(gx_key_load(path, &back, err, sizeof err), GX_EFORMAT);
		T_ASSERT(strstr(err, "not a key file") != NULL);
		unlink(path);
	}
	rmdir(dir);
}

/* msg1 from c to s; the server's status. */
static int first_message(gx_sec *c, gx_sec *s, uint8_t *m2, size_t *n2)
{
	uint8_t m1[GX_SEC_HELLO_BYTES];
	size_t used = 0;
	T_EQ(gx_sec_start(c, m1, sizeof m1), GX_SEC_HELLO_BYTES);
	T_EQ(gx_sec_start(s, NULL, 0), 0);
	return gx_sec_handshake(s, m1, sizeof m1, &used, m2, 256, n2);
}

static void test_ring(void)
{
	gx_key job, keys[3], other;
	fill_key(&job, 3);
	for (uint32_t r = 0; r < 3; r++)
		T_EQ(gx_key_derive(&job, GX_KEY_WORKER, 0, r, &keys[r]), 0);
	gx_keyring *ring = gx_keyring_new(keys, 3);
	T_REQUIRE(ring != NULL);
	T_EQ(gx_keyring_size(ring), 3u);

	/* worker 1 of party 0: verified, and that is who the server sees */
	gx_sec *c = gx_sec_new(&keys[1], GX_SEC_CLIENT, 0), *s = gx_sec_new_ring(ring, 0);
	T_REQUIRE(c && s);
	uint8_t m2[256], m3[256];
	size_t n2 = 0, n3 = 0, used = 0;
	T_EQ(first_message(c, s, m2, &n2), GX_ENEEDMORE);
	T_EQ(n2, (size_t)GX_SEC_HELLO_BYTES);
	T_EQ(gx_sec_peer_key(s), NULL); /* not before the confirmation */
	T_EQ(gx_sec_handshake(c, m2, n2, &used, m3, sizeof m3, &n3), 1);
	size_t n4 = 0;
	T_EQ(gx_sec_handshake(s, m3, n3, &used, m2, sizeof m2, &n4), 1);
	const gx_key *peer = gx_sec_peer_key(s);
	T_REQUIRE(peer != NULL);
	T_EQ(peer->scope, GX_KEY_WORKER);
	T_EQ(peer->rank, 1u);
	/* records flow under the peer's key */
	uint8_t rec[64], plain[] = "abc";
	long sl = gx_sec_seal(c, GX_SEC_DATA, plain, 3, rec);
	T_ASSERT(sl > 0);
	int type;
	const uint8_t *p;
	size_t pl;
	T_EQ(gx_sec_open(s, rec, (size_t)sl, &used, &type, &p, &pl), 0);
	T_ASSERT(pl == 3 && memcmp(p, "abc", 3) == 0);
	gx_sec_free(c);
	gx_sec_free(s);

	/* party 1's worker 1, the job's key: not in the ring */
	T_EQ(gx_key_derive(&job, GX_KEY_WORKER, 1, 1, &other), 0);
	const gx_key *strangers[] = { &other, &job };
	for (int i = 0; i < 2; i++) {
		c = gx_sec_new(strangers[i], GX_SEC_CLIENT, 0);
		s = gx_sec_new_ring(ring, 0);
		T_REQUIRE(c && s);
		n2 = 0;
		T_EQ(first_message(c, s, m2, &n2), GX_EAUTH);
		T_EQ(n2, 0u);
		T_ASSERT(strcmp(gx_sec_why(s), "authentication failed: the peer holds a different "
				  "key") == 0);
		gx_sec_free(c);
		gx_sec_free(s);
	}
	gx_keyring_free(ring);
	T_EQ(gx_keyring_new(keys, 0), NULL);
}

int main(void)
{
	T_RUN(test_derive);
	T_RUN(test_files);
	T_RUN(test_ring);
	T_DONE();
}
