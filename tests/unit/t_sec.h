/*
 * t_sec.h — an in-memory handshake of net/secure.h between two ends, for
 * the unit tests of the secure channel and of what derives from it (the
 * datagram keys); included after net/secure.h and t.h.
 */
#ifndef GX_T_SEC_H
#define GX_T_SEC_H

#include <string.h>

static void fill_key(gx_key *k, uint8_t seed)
{
	for (int i = 0; i < GX_KEY_BYTES; i++)
		k->k[i] = (uint8_t)(seed * 31 + i * 7);
}

/* Feeds m (len bytes) to s as a caller would, keeping the bytes it has not
 * used: all at once, or one byte per call. Replies are appended to out
 * (*outlen). Returns the last status; *left gets the bytes never used. */
static int push(gx_sec *s, const uint8_t *m, size_t len, int bytewise, uint8_t *out, size_t *outlen,
		size_t *left)
{
	uint8_t buf[512];
	size_t n = 0, i = 0;
	int rc = GX_ENEEDMORE;
	*outlen = 0;
	while (i < len) {
		size_t add = bytewise ? 1 : len - i;
		memcpy(buf + n, m + i, add);
		n += add;
		i += add;
		size_t used = 0, ol = 0;
		rc = gx_sec_handshake(s, buf, n, &used, out + *outlen, 184, &ol);
		*outlen += ol;
		memmove(buf, buf + used, n - used);
		n -= used;
		if (rc != GX_ENEEDMORE)
			break;
	}
	if (left)
		*left = n + (len - i);
	return rc;
}

/* A full handshake between c and s; 0 when both are established. */
static int handshake(gx_sec *c, gx_sec *s, int bytewise)
{
	uint8_t m1[GX_SEC_HELLO_BYTES], r1[256], r2[256];
	size_t n1, n2, left;
	if (gx_sec_start(c, m1, sizeof m1) != GX_SEC_HELLO_BYTES || gx_sec_start(s, NULL, 0) != 0)
		return -1;
	if (push(s, m1, sizeof m1, bytewise, r1, &n1, &left) != GX_ENEEDMORE ||
	    n1 != GX_SEC_HELLO_BYTES || left)
		return -2;
	if (push(c, r1, n1, bytewise, r2, &n2, &left) != 1 || n2 != GX_SEC_OVERHEAD || left)
		return -3;
	uint8_t none[1];
	size_t n3;
	if (push(s, r2, n2, bytewise, none, &n3, &left) != 1 || n3 || left)
		return -4;
	return gx_sec_established(c) && gx_sec_established(s) ? 0 : -5;
}

static int pair(gx_sec **c, gx_sec **s, int csuites, int ssuites)
{
	gx_key k;
	fill_key(&k, 1);
	*c = gx_sec_new(&k, GX_SEC_CLIENT, csuites);
	*s = gx_sec_new(&k, GX_SEC_SERVER, ssuites);
	return *c && *s && handshake(*c, *s, 0) == 0 ? 0 : -1;
}

#endif
