/*
 * control.c — the fixed control payloads of the parameter-server protocol
 * (docs/protocol.md).
 *
 * Parsers check the length exactly before reading a field and check a count
 * against the bytes present before allocating; every accepted payload packs
 * back to the very bytes it came from (the fuzz target checks this), which
 * is why names with control characters or garbage after their NUL, and
 * nonzero reserved words, are refused rather than cleaned up.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/le.h"
#include "control.h"

/* The tensor payloads are little-endian floats copied as they are. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "geomx assumes a little-endian host"
#endif

#define HELLO_NAME_OFF 24
#define HELLO_NAME_LEN 40
#define KEYTABLE_HDR 8
#define KEYTABLE_ENT 16

static int is_ctl(uint8_t ch)
{
	return ch < 0x20 || ch == 0x7f;
}

/* ---------------------------------------------------------------- hello */

void gx_hello_pack(const gx_hello *h, uint8_t out[GX_HELLO_SIZE])
{
	memset(out, 0, GX_HELLO_SIZE);
	put16(out + 0, h->proto);
	out[2] = h->role;
	out[3] = h->sync;
	put32(out + 4, h->rank);
	put32(out + 8, h->party);
	put32(out + 12, h->workers);
	put32(out + 16, h->nservers);
	out[20] = h->mode;
	/* bytes 21..23 reserved, zero */
	memcpy(out + HELLO_NAME_OFF, h->name, strnlen(h->name, HELLO_NAME_LEN));
}

int gx_hello_parse(const uint8_t *p, size_t len, gx_hello *h)
{
	if (!p || !h || len != GX_HELLO_SIZE)
		return GX_EPROTO;
	memset(h, 0, sizeof *h);
	uint8_t role = p[2], sync = p[3];
	if (role != GX_ROLE_GLOBAL && role != GX_ROLE_LOCAL && role != GX_ROLE_WORKER)
		return GX_EPROTO;
	if (sync > GX_SYNC_HFA || p[20] > GX_HELLO_RESTARTED)
		return GX_EPROTO;
	if (p[21] || p[22] || p[23])
		return GX_EPROTO;
	/* The name ends at its first NUL and is padded with NULs; it goes into
	 * log lines, so control characters are refused. */
	const uint8_t *nm = p + HELLO_NAME_OFF;
	size_t nl = 0;
	while (nl < HELLO_NAME_LEN && nm[nl])
		nl++;
	for (size_t i = 0; i < nl; i++)
		if (is_ctl(nm[i]))
			return GX_EPROTO;
	for (size_t i = nl; i < HELLO_NAME_LEN; i++)
		if (nm[i])
			return GX_EPROTO;
	h->proto = get16(p);
	h->role = role;
	h->sync = sync;
	h->rank = get32(p + 4);
	h->party = get32(p + 8);
	h->workers = get32(p + 12);
	h->nservers = get32(p + 16);
	h->mode = p[20];
	memcpy(h->name, nm, nl);
	h->name[nl] = '\0';
	return 0;
}

/* --------------------------------------------------------------- config */

static void putf(uint8_t *p, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put32(p, u);
}

static float getf(const uint8_t *p)
{
	uint32_t u = get32(p);
	float f;
	memcpy(&f, &u, 4);
	return f;
}

void gx_config_pack(const gx_config *c, uint8_t out[GX_CONFIG_SIZE])
{
	memset(out, 0, GX_CONFIG_SIZE);
	out[0] = c->sync;
	out[1] = c->lan;
	out[2] = c->mode;
	out[3] = c->sum;
	put32(out + 4, c->k1);
	put32(out + 8, c->k2);
	put32(out + 12, (uint32_t)c->optim.kind);
	const float f[8] = { c->optim.lr, c->optim.momentum, c->optim.beta1, c->optim.beta2,
			     c->optim.eps, c->optim.rho, c->optim.weight_decay, c->optim.lambda };
	for (int i = 0; i < 8; i++)
		putf(out + 16 + 4 * i, f[i]);
	put32(out + 48, c->block);
	out[52] = c->overlay;
	/* bytes 53..55 reserved, zero */
}

int gx_config_parse(const uint8_t *p, size_t len, gx_config *c)
{
	if (!p || !c || len != GX_CONFIG_SIZE)
		return GX_EPROTO;
	memset(c, 0, sizeof *c);
	if (p[0] > GX_SYNC_HFA || p[1] > GX_LINK_FP16 || p[2] > 2 || p[3] > 1)
		return GX_EPROTO;
	uint32_t k1 = get32(p + 4), k2 = get32(p + 8), kind = get32(p + 12);
	if ((p[0] == GX_SYNC_HFA) != (k1 != 0) || (k1 != 0) != (k2 != 0))
		return GX_EPROTO;
	if (kind >= GX_OPT__MAX)
		return GX_EPROTO;
	float f[8];
	for (int i = 0; i < 8; i++) {
		f[i] = getf(p + 16 + 4 * i);
		if (!isfinite(f[i]))
			return GX_EPROTO;
	}
	uint32_t block = get32(p + 48);
	/* a local with a WAN codec codes whole slices (DGT, mode 2, plans
	 * each block on its own) */
	if (p[2] == 1 && block)
		return GX_EPROTO;
	/* the overlay folds plain F32 sums in order (docs/protocol.md) */
	if (p[52] > 1 || (p[52] && p[2]))
		return GX_EPROTO;
	for (int i = 53; i < GX_CONFIG_SIZE; i++)
		if (p[i])
			return GX_EPROTO;
	c->sync = p[0];
	c->lan = p[1];
	c->mode = p[2];
	c->sum = p[3];
	c->k1 = k1;
	c->k2 = k2;
	c->optim.kind = (int)kind;
	c->optim.lr = f[0];
	c->optim.momentum = f[1];
	c->optim.beta1 = f[2];
	c->optim.beta2 = f[3];
	c->optim.eps = f[4];
	c->optim.rho = f[5];
	c->optim.weight_decay = f[6];
	c->optim.lambda = f[7];
	c->block = block;
	c->overlay = p[52];
	return 0;
}

/* ---------------------------------------------------------------- overlay */

void gx_ovl_report_pack(const gx_ovl_report *r, uint8_t out[GX_OVL_REPORT_SIZE])
{
	memset(out, 0, GX_OVL_REPORT_SIZE);
	out[0] = r->from;
	out[1] = r->phase;
	out[2] = r->bound;
	put32(out + 4, r->round);
	put64(out + 8, r->bytes);
	put64(out + 16, r->ns);
}

int gx_ovl_report_parse(const uint8_t *p, size_t len, gx_ovl_report *r)
{
	if (!p || len != GX_OVL_REPORT_SIZE || p[1] > 1 || p[2] > 1 || p[3] || !get64(p + 16))
		return GX_EPROTO;
	r->from = p[0];
	r->phase = p[1];
	r->bound = p[2];
	r->round = get32(p + 4);
	r->bytes = get64(p + 8);
	r->ns = get64(p + 16);
	return 0;
}

size_t gx_ovl_peers_size(const char *const *addrs, uint32_t n)
{
	size_t len = 4;
	for (uint32_t i = 0; i < n; i++)
		len += 2 + strlen(addrs[i]);
	return len;
}

size_t gx_ovl_peers_pack(const char *const *addrs, uint32_t n, uint8_t *out, size_t cap)
{
	if (!n || n > GX_OVL_PEERS_MAX || gx_ovl_peers_size(addrs, n) > cap)
		return 0;
	put32(out, n);
	size_t at = 4;
	for (uint32_t i = 0; i < n; i++) {
		size_t l = strlen(addrs[i]);
		if (!l || l > GX_OVL_ADDR_MAX)
			return 0;
		out[at] = (uint8_t)l;
		out[at + 1] = (uint8_t)(l >> 8);
		memcpy(out + at + 2, addrs[i], l);
		at += 2 + l;
	}
	return at;
}

int gx_ovl_peers_parse(const uint8_t *p, size_t len, const char **addrs, uint16_t *lens,
		       uint32_t cap, uint32_t *n)
{
	if (!p || len < 4)
		return GX_EPROTO;
	uint32_t m = get32(p);
	if (!m || m > GX_OVL_PEERS_MAX || m > cap)
		return GX_EPROTO;
	size_t at = 4;
	for (uint32_t i = 0; i < m; i++) {
		if (len - at < 2)
			return GX_EPROTO;
		size_t l = (size_t)p[at] | (size_t)p[at + 1] << 8;
		if (!l || l > GX_OVL_ADDR_MAX || len - at - 2 < l)
			return GX_EPROTO;
		for (size_t j = 0; j < l; j++)
			if (p[at + 2 + j] < 0x21 || p[at + 2 + j] > 0x7e)
				return GX_EPROTO;
		addrs[i] = (const char *)p + at + 2;
		lens[i] = (uint16_t)l;
		at += 2 + l;
	}
	if (at != len)
		return GX_EPROTO;
	*n = m;
	return 0;
}

/* ---------------------------------------------------------------- error */

size_t gx_errmsg_pack(int code, const char *msg, uint8_t *out, size_t cap)
{
	if (!out || cap < 8)
		return 0;
	size_t n = msg ? strlen(msg) : 0;
	size_t max = cap - 8 < GX_ERROR_MSG_MAX ? cap - 8 : GX_ERROR_MSG_MAX;
	if (n > max) {
		n = max;
		/* Do not end inside a UTF-8 sequence: drop its lead and
		 * continuation bytes. */
		while (n > 0 && ((uint8_t)msg[n] & 0xc0) == 0x80)
			n--;
	}
	put32(out, (uint32_t)code);
	put32(out + 4, (uint32_t)n);
	if (n)
		memcpy(out + 8, msg, n);
	return 8 + n;
}

int gx_errmsg_parse(const uint8_t *p, size_t len, int *code, char *msg, size_t cap)
{
	if (msg && cap)
		msg[0] = '\0';
	if (!p || len < 8)
		return GX_EPROTO;
	uint32_t n = get32(p + 4);
	if (n > GX_ERROR_MSG_MAX || len != 8 + (size_t)n)
		return GX_EPROTO;
	if (code)
		*code = (int)(int32_t)get32(p);
	if (msg && cap) {
		size_t m = n < cap - 1 ? n : cap - 1;
		for (size_t i = 0; i < m; i++)
			msg[i] = is_ctl(p[8 + i]) ? '?' : (char)p[8 + i];
		msg[m] = '\0';
	}
	return 0;
}

/* ------------------------------------------------------------- keytable */

size_t gx_keytable_size(size_t n)
{
	return KEYTABLE_HDR + n * KEYTABLE_ENT;
}

void gx_keytable_pack(const gx_keyent *e, size_t n, uint8_t *out)
{
	put32(out, (uint32_t)n);
	put32(out + 4, 0);
	for (size_t i = 0; i < n; i++) {
		uint8_t *q = out + KEYTABLE_HDR + i * KEYTABLE_ENT;
		put32(q, e[i].key);
		put32(q + 4, 0);
		put64(q + 8, e[i].count);
	}
}

int gx_keytable_parse(const uint8_t *p, size_t len, gx_keyent **out, size_t *n)
{
	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	if (!p || !out || !n || len < KEYTABLE_HDR)
		return GX_EPROTO;
	uint32_t cnt = get32(p);
	if (cnt > GX_KEYTABLE_MAX || get32(p + 4) != 0)
		return GX_EPROTO;
	if (len != gx_keytable_size(cnt))
		return GX_EPROTO;
	for (uint32_t i = 0; i < cnt; i++) {
		const uint8_t *q = p + KEYTABLE_HDR + (size_t)i * KEYTABLE_ENT;
		if (get32(q + 4) != 0 || get64(q + 8) == 0)
			return GX_EPROTO;
		if (i > 0 && get32(q) <= get32(q - KEYTABLE_ENT))
			return GX_EPROTO;
	}
	/* At least one element, so an empty table is a valid pointer too. */
	gx_keyent *e = malloc((cnt ? cnt : 1) * sizeof *e);
	if (!e)
		return GX_ENOMEM;
	for (uint32_t i = 0; i < cnt; i++) {
		const uint8_t *q = p + KEYTABLE_HDR + (size_t)i * KEYTABLE_ENT;
		e[i].key = get32(q);
		e[i].count = get64(q + 8);
	}
	*out = e;
	*n = cnt;
	return 0;
}

/* -------------------------------------------------------------- members */

int gx_members_parse(const uint8_t *p, size_t len, uint32_t *workers)
{
	if (!p || len != 4)
		return GX_EPROTO;
	if (workers)
		*workers = get32(p);
	return 0;
}

/* ------------------------------------------------------------------ names */

static const char *const role_names[] = { [GX_ROLE_GLOBAL] = "global",
					  [GX_ROLE_LOCAL] = "local",
					  [GX_ROLE_WORKER] = "worker" };
static const char *const sync_names[] = { [GX_SYNC_FULL] = "full",
					  [GX_SYNC_MIXED] = "mixed",
					  [GX_SYNC_HFA] = "hfa" };

static const char *name_of(const char *const *names, int n, int v)
{
	return v >= 0 && v < n && names[v] ? names[v] : "?";
}

static int parse_name(const char *const *names, int n, const char *s)
{
	for (int v = 0; s && v < n; v++)
		if (names[v] && !strcmp(s, names[v]))
			return v;
	return GX_EINVAL;
}

#define NNAMES(a) ((int)(sizeof(a) / sizeof(a)[0]))

const char *gx_role_name(int role)
{
	return name_of(role_names, NNAMES(role_names), role);
}

int gx_role_parse(const char *s)
{
	return parse_name(role_names, NNAMES(role_names), s);
}

const char *gx_sync_name(int sync)
{
	return name_of(sync_names, NNAMES(sync_names), sync);
}

int gx_sync_parse(const char *s)
{
	return parse_name(sync_names, NNAMES(sync_names), s);
}
