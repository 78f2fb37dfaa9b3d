/*
 * key.c — key files, the keys of a job's parties and workers, and the key
 * rings servers check a peer's handshake against (gx_net.h; docs/
 * security.md, "Identities").
 *
 * A job has one key (geomx-relay --genkey). A party's key is derived from
 * it, a worker's from its party's, each one way:
 *   party P      = BLAKE2b-256(key = job,   "geomx party key v1" | P u32)
 *   worker (P,R) = BLAKE2b-256(key = party, "geomx worker key v1" | R u32)
 * so the holder of data center P's key can make its workers' keys and
 * nobody else's, and a worker's key is only itself. A server checks a
 * handshake against the keys of every peer it may have (a ring: a global
 * server the parties' keys, a local server its workers'); the key that
 * verifies is the peer's identity, which its HELLO must then claim.
 *
 * Choices:
 *  - No change to the handshake: the server tries each key of its ring on
 *    msg1's MAC (a keyed hash over 41 bytes each), so a link's identity
 *    costs nothing on the wire and nothing but hashes to a stranger.
 *  - Scoped key files are text, "geomx-key party P HEX" or "geomx-key
 *    worker P R HEX", so that a file says whose key it is; a job's key keeps
 *    its old format (64 hex digits or 32 raw bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/le.h"
#include "secure.h"

#define KEYFILE_MAX 256 /* bytes read from a key file, whitespace included */
#define SCOPED "geomx-key "

/* ------------------------------------------------------------- identities */

static void derive1(const uint8_t from[GX_KEY_BYTES], const char *label, uint32_t n,
		    uint8_t out[GX_KEY_BYTES])
{
	uint8_t b[64], le[4];
	size_t l = strlen(label);
	put32(le, n);
	memcpy(b, label, l);
	memcpy(b + l, le, 4);
	crypto_generichash(out, GX_KEY_BYTES, b, l + 4, from, GX_KEY_BYTES);
	sodium_memzero(b, sizeof b);
}

int gx_key_derive(const gx_key *from, int scope, uint32_t party, uint32_t rank, gx_key *out)
{
	gx_key k;
	if (!from || !out || gx_sec_init() != 0)
		return GX_EINVAL;
	memset(&k, 0, sizeof k);
	k.scope = scope;
	k.party = scope == GX_KEY_JOB ? 0 : party;
	k.rank = scope == GX_KEY_WORKER ? rank : 0;
	/* one way down: job -> party -> worker; a key is also itself */
	int same = scope == from->scope && party == from->party &&
		   (scope != GX_KEY_WORKER || rank == from->rank);
	if (scope == GX_KEY_JOB ? from->scope != GX_KEY_JOB
				: from->scope != GX_KEY_JOB && (party != from->party ||
								(from->scope == GX_KEY_WORKER && !same)))
		return GX_EINVAL; /* not derivable from what it holds */
	if (scope == GX_KEY_JOB || same) {
		memcpy(k.k, from->k, GX_KEY_BYTES);
	} else {
		if (from->scope == GX_KEY_JOB)
			derive1(from->k, "geomx party key v1", party, k.k);
		else
			memcpy(k.k, from->k, GX_KEY_BYTES); /* the party's own */
		if (scope == GX_KEY_WORKER)
			derive1(k.k, "geomx worker key v1", rank, k.k);
	}
	*out = k;
	sodium_memzero(&k, sizeof k);
	return 0;
}

const char *gx_key_name(const gx_key *k, char *buf, size_t cap)
{
	if (k->scope == GX_KEY_PARTY)
		snprintf(buf, cap, "party %u's key", k->party);
	else if (k->scope == GX_KEY_WORKER)
		snprintf(buf, cap, "worker %u of party %u's key", k->rank, k->party);
	else
		snprintf(buf, cap, "the job's key");
	return buf;
}

struct gx_keyring {
	size_t n;
	gx_key *keys;
	uint8_t (*kauth)[GX_KEY_BYTES];
};

gx_keyring *gx_keyring_new(const gx_key *keys, size_t n)
{
	static const char auth_label[] = "geomx handshake auth v1";
	if (!keys || !n || gx_sec_init() != 0)
		return NULL;
	gx_keyring *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->keys = malloc(n * sizeof *r->keys);
	r->kauth = malloc(n * sizeof *r->kauth);
	if (!r->keys || !r->kauth) {
		gx_keyring_free(r);
		return NULL;
	}
	r->n = n;
	memcpy(r->keys, keys, n * sizeof *keys);
	for (size_t i = 0; i < n; i++)
		crypto_generichash(r->kauth[i], GX_KEY_BYTES, (const uint8_t *)auth_label,
				   sizeof auth_label - 1, r->keys[i].k, GX_KEY_BYTES);
	return r;
}

void gx_keyring_free(gx_keyring *r)
{
	if (!r)
		return;
	if (r->keys)
		sodium_memzero(r->keys, r->n * sizeof *r->keys);
	if (r->kauth)
		sodium_memzero(r->kauth, r->n * sizeof *r->kauth);
	free(r->keys);
	free(r->kauth);
	free(r);
}

size_t gx_keyring_size(const gx_keyring *r)
{
	return r ? r->n : 0;
}

const gx_key *gx_keyring_key(const gx_keyring *r, size_t i, const uint8_t **kauth)
{
	if (!r || i >= r->n)
		return NULL;
	if (kauth)
		*kauth = r->kauth[i];
	return &r->keys[i];
}

/* ------------------------------------------------------------ key files */



/* Writes a one-line reason into err (when there is room) and returns code. */
__attribute__((format(printf, 4, 5))) static int say(int code, char *err, size_t errcap,
						     const char *fmt, ...)
{
	if (err && errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* fsync of the folder holding path, so the new name survives a crash. */
static void sync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int n = !slash ? 0 : slash == path ? 1 : (int)(slash - path);
	if (n)
		snprintf(dir, sizeof dir, "%.*s", n, path);
	else
		snprintf(dir, sizeof dir, ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int gx_key_save(const char *path, const gx_key *key, char *err, size_t errcap)
{
	char hex[2 * GX_KEY_BYTES + 1], line[128], tmp[4096 + 32];
	uint8_t r[6];

	say(0, err, errcap, "%s", "");
	if (!path || !*path || !key)
		return say(GX_EINVAL, err, errcap, "no key file named");
	if (gx_sec_init() != 0)
		return say(GX_EIO, err, errcap, "%s: libsodium cannot initialise", path);
	randombytes_buf(r, sizeof r);
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%02x%02x%02x%02x%02x%02x", path, r[0], r[1],
			     r[2], r[3], r[4], r[5]) >= sizeof tmp)
		return say(GX_EINVAL, err, errcap, "%s: path too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return say(GX_EIO, err, errcap, "cannot create %s: %s", path, strerror(errno));
	sodium_bin2hex(hex, sizeof hex, key->k, GX_KEY_BYTES);
	int len;
	if (key->scope == GX_KEY_PARTY)
		len = snprintf(line, sizeof line, SCOPED "party %u %s\n", key->party, hex);
	else if (key->scope == GX_KEY_WORKER)
		len = snprintf(line, sizeof line, SCOPED "worker %u %u %s\n", key->party, key->rank,
			       hex);
	else
		len = snprintf(line, sizeof line, "%s\n", hex);
	int bad = fchmod(fd, 0600) != 0 || gx_write_full(fd, line, (size_t)len) != 0 ||
		  fsync(fd) != 0;
	int e = errno;
	sodium_memzero(hex, sizeof hex);
	sodium_memzero(line, sizeof line);
	if (close(fd) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		unlink(tmp);
		return say(GX_EIO, err, errcap, "cannot write %s: %s", path, strerror(e));
	}
	/* link(2), unlike rename(2), fails when the target exists. */
	if (link(tmp, path) != 0) {
		e = errno;
		unlink(tmp);
		if (e == EEXIST)
			return say(GX_EINVAL, err, errcap, "%s exists", path);
		return say(GX_EIO, err, errcap, "cannot create %s: %s", path, strerror(e));
	}
	unlink(tmp);
	sync_dir(path);
	return 0;
}

int gx_key_generate(const char *path, char *err, size_t errcap)
{
	gx_key k;
	memset(&k, 0, sizeof k);
	if (gx_sec_init() != 0)
		return say(GX_EIO, err, errcap, "%s: libsodium cannot initialise", path ? path : "");
	randombytes_buf(k.k, sizeof k.k);
	int rc = gx_key_save(path, &k, err, errcap);
	sodium_memzero(&k, sizeof k);
	return rc;
}

/* A hex digit's value, or -1 (ASCII only, whatever the locale). */
static int hexval(uint8_t c)
{
	static const char d[] = "0123456789abcdef0123456789ABCDEF";
	const char *p = c ? memchr(d, c, sizeof d - 1) : NULL;
	return p ? (int)((p - d) & 15) : -1;
}

/* A scoped key file's "party P " or "worker P R " after its prefix: the
 * scope into key, *at past the words; 0 or GX_EFORMAT. */
static int parse_scope(const char *path, const uint8_t *b, size_t n, size_t *at, gx_key *key,
		       char *err, size_t errcap)
{
	char words[64];
	size_t l = n - *at < sizeof words - 1 ? n - *at : sizeof words - 1;
	memcpy(words, b + *at, l);
	words[l] = 0;
	unsigned p, r;
	int used = 0;
	if (sscanf(words, "party %u %n", &p, &used) == 1 && used) {
		key->scope = GX_KEY_PARTY;
		key->party = p;
	} else if (sscanf(words, "worker %u %u %n", &p, &r, &used) == 2 && used) {
		key->scope = GX_KEY_WORKER;
		key->party = p;
		key->rank = r;
	} else {
		return say(GX_EFORMAT, err, errcap, "%s: not a key file (\"" SCOPED "\" wants \"party "
			   "P\" or \"worker P R\" before the key)", path);
	}
	sodium_memzero(words, sizeof words);
	*at += (size_t)used;
	return 0;
}

/* The key in the n bytes of a key file; 0 or GX_EFORMAT. */
static int parse_key(const char *path, const uint8_t *b, size_t n, gx_key *key, char *err,
		     size_t errcap)
{
	memset(key, 0, sizeof *key);
	if (n == GX_KEY_BYTES) {
		memcpy(key->k, b, GX_KEY_BYTES);
		return 0;
	}
	size_t lo = 0, hi = n;
	if (n >= sizeof SCOPED - 1 && memcmp(b, SCOPED, sizeof SCOPED - 1) == 0) {
		lo = sizeof SCOPED - 1;
		int rc = parse_scope(path, b, n, &lo, key, err, errcap);
		if (rc)
			return rc;
	}
	while (lo < hi && memchr(" \t\n\r\v\f", b[lo], 6))
		lo++; /* (after the words, where there are: they ate the spaces) */
	while (hi > lo && memchr(" \t\n\r\v\f", b[hi - 1], 6))
		hi--;
	for (size_t i = lo; i < hi; i++)
		if (hexval(b[i]) < 0)
			return say(GX_EFORMAT, err, errcap,
				   "%s: not a key file (byte %zu is not a hex digit; want 64 hex "
				   "digits or 32 raw bytes)",
				   path, i);
	if (hi - lo != 2 * GX_KEY_BYTES)
		return say(GX_EFORMAT, err, errcap,
			   "%s: not a key file (%zu hex digits; want 64 hex digits or 32 raw bytes)",
			   path, hi - lo);
	for (size_t i = 0; i < GX_KEY_BYTES; i++)
		key->k[i] = (uint8_t)(hexval(b[lo + 2 * i]) << 4 | hexval(b[lo + 2 * i + 1]));
	return 0;
}

int gx_key_load(const char *path, gx_key *key, char *err, size_t errcap)
{
	uint8_t buf[KEYFILE_MAX + 1];
	struct stat st;

	say(0, err, errcap, "%s", "");
	if (!path || !key)
		return say(GX_EINVAL, err, errcap, "no key file named");
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return say(GX_EIO, err, errcap, "cannot open %s: %s", path, strerror(errno));
	/* Judged on the opened file, so a swap after a check cannot fool it. */
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return say(GX_EIO, err, errcap, "cannot stat %s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return say(GX_EINVAL, err, errcap, "%s is not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return say(GX_EINVAL, err, errcap, "%s is %s by others (mode %04o); chmod 600 %s", path,
			   st.st_mode & 044 ? "readable" : "accessible",
			   (unsigned)(st.st_mode & 07777), path);
	}
	long n = gx_read_full(fd, buf, sizeof buf);
	int e = errno;
	close(fd);
	int rc;
	if (n < 0)
		rc = say(GX_EIO, err, errcap, "cannot read %s: %s", path, strerror(e));
	else if (n > KEYFILE_MAX)
		rc = say(GX_EFORMAT, err, errcap, "%s: not a key file (more than %d bytes)", path,
			 KEYFILE_MAX);
	else
		rc = parse_key(path, buf, (size_t)n, key, err, errcap);
	sodium_memzero(buf, sizeof buf);
	return rc;
}
