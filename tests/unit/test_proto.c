/* test_proto.c — control payloads: pack/parse round trips and every
 * malformation; the send helpers over a socket pair. */
#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include "geomx.h"
#include "wire/control.h"
#include "net/conn.h"
#include "sched/tensor_send.h"
#include "t.h"

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void sample_hello(gx_hello *h)
{
	memset(h, 0, sizeof *h);
	h->proto = GX_PROTO_VERSION;
	h->role = GX_ROLE_WORKER;
	h->sync = GX_SYNC_MIXED;
	h->rank = 3;
	h->party = 0x01020304;
	h->workers = 7;
	h->nservers = 0xfffffffe;
	snprintf(h->name, sizeof h->name, "host-a:1234");
}

static void test_hello_round_trip(void)
{
	gx_hello h, g;
	uint8_t b[GX_HELLO_SIZE], c[GX_HELLO_SIZE];
	sample_hello(&h);
	gx_hello_pack(&h, b);
	/* the documented layout */
	T_EQ(b[0], GX_PROTO_VERSION);
	T_EQ(b[1], 0);
	T_EQ(b[2], GX_ROLE_WORKER);
	T_EQ(b[3], 1);
	T_EQ(b[4], 3);
	T_EQ(b[8], 4);
	T_EQ(b[11], 1);
	T_EQ(b[12], 7);
	T_EQ(b[16], 0xfe);
	T_EQ(b[20] | b[21] | b[22] | b[23], 0);
	T_ASSERT(memcmp(b + 24, "host-a:1234", 11) == 0);
	T_EQ(b[35], 0);
	T_EQ(gx_hello_parse(b, sizeof b, &g), 0);
	T_EQ(g.proto, h.proto);
	T_EQ(g.role, h.role);
	T_EQ(g.sync, h.sync);
	T_EQ(g.rank, h.rank);
	T_EQ(g.party, h.party);
	T_EQ(g.workers, h.workers);
	T_EQ(g.nservers, h.nservers);
	T_ASSERT(strcmp(g.name, h.name) == 0);
	gx_hello_pack(&g, c);
	T_ASSERT(memcmp(b, c, sizeof b) == 0);

	/* a 40-byte name fills the field, no NUL on the wire */
	memset(h.name, 'n', 40);
	h.name[40] = 0;
	gx_hello_pack(&h, b);
	T_EQ(b[63], 'n');
	T_EQ(gx_hello_parse(b, sizeof b, &g), 0);
	T_EQ(strlen(g.name), 40);
	/* an empty name; every role; the version is not judged here */
	h.name[0] = 0;
	h.proto = 99;
	for (int r = GX_ROLE_GLOBAL; r <= GX_ROLE_WORKER; r++) {
		h.role = (uint8_t)r;
		gx_hello_pack(&h, b);
		T_EQ(gx_hello_parse(b, sizeof b, &g), 0);
		T_EQ(g.role, r);
		T_EQ(g.proto, 99);
		T_EQ(g.name[0], 0);
	}
}

static void test_hello_malformed(void)
{
	gx_hello h, g;
	uint8_t b[GX_HELLO_SIZE + 1], m[GX_HELLO_SIZE + 1];
	sample_hello(&h);
	gx_hello_pack(&h, b);
	b[GX_HELLO_SIZE] = 0;
	T_EQ(gx_hello_parse(b, GX_HELLO_SIZE - 1, &g), GX_EPROTO);
	T_EQ(gx_hello_parse(b, GX_HELLO_SIZE + 1, &g), GX_EPROTO);
	T_EQ(gx_hello_parse(b, 0, &g), GX_EPROTO);
	T_EQ(gx_hello_parse(NULL, GX_HELLO_SIZE, &g), GX_EPROTO);
	static const uint8_t bad_roles[] = { 0, 4, 255 };
	for (size_t i = 0; i < sizeof bad_roles; i++) {
		memcpy(m, b, sizeof m);
		m[2] = bad_roles[i];
		T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), GX_EPROTO);
	}
	memcpy(m, b, sizeof m);
	m[3] = 3; /* sync */
	T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), GX_EPROTO);
	memcpy(m, b, sizeof m);
	m[20] = GX_HELLO_RESTARTED; /* mode: a worker restarted in its place */
	T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), 0);
	T_EQ(g.mode, GX_HELLO_RESTARTED);
	m[20] = GX_HELLO_RESTARTED + 1;
	T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), GX_EPROTO);
	for (int i = 21; i < 24; i++) {
		memcpy(m, b, sizeof m);
		m[i] = 1; /* reserved */
		T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), GX_EPROTO);
	}
	memcpy(m, b, sizeof m);
	m[24 + 11 + 2] = 'x'; /* garbage after the name's NUL */
	T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), GX_EPROTO);
	memcpy(m, b, sizeof m);
	m[63] = 'x';
	T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), GX_EPROTO);
	memcpy(m, b, sizeof m);
	m[26] = '\n'; /* control character in the name */
	T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), GX_EPROTO);
	m[26] = 0x7f;
	T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), GX_EPROTO);
	m[26] = (char)0xc3; /* UTF-8 is fine */
	m[27] = (char)0xa9;
	T_EQ(gx_hello_parse(m, GX_HELLO_SIZE, &g), 0);
}

static void test_errmsg(void)
{
	uint8_t b[8 + GX_ERROR_MSG_MAX + 16];
	char msg[GX_ERROR_MSG_MAX + 1];
	int code = 0;
	size_t n = gx_errmsg_pack(GX_EKEY, "key 7: count 3 != 4", b, sizeof b);
	T_EQ(n, 8 + 19);
	T_EQ(b[0], (uint8_t)GX_EKEY);
	T_EQ(b[3], 0xff);
	T_EQ(b[4], 19);
	T_EQ(gx_errmsg_parse(b, n, &code, msg, sizeof msg), 0);
	T_EQ(code, GX_EKEY);
	T_ASSERT(strcmp(msg, "key 7: count 3 != 4") == 0);

	/* empty message, NULL message, NULL outputs */
	n = gx_errmsg_pack(GX_EPROTO, "", b, sizeof b);
	T_EQ(n, 8);
	T_EQ(gx_errmsg_parse(b, n, &code, msg, sizeof msg), 0);
	T_EQ(msg[0], 0);
	T_EQ(gx_errmsg_pack(GX_EPROTO, NULL, b, sizeof b), 8);
	T_EQ(gx_errmsg_parse(b, 8, NULL, NULL, 0), 0);
	T_EQ(gx_errmsg_pack(1, "x", b, 7), 0);

	/* long messages are cut at the maximum, never inside UTF-8 */
	char big[2000];
	memset(big, 'a', sizeof big);
	big[sizeof big - 1] = 0;
	n = gx_errmsg_pack(-1, big, b, sizeof b);
	T_EQ(n, 8 + GX_ERROR_MSG_MAX);
	T_EQ(gx_errmsg_parse(b, n, &code, msg, sizeof msg), 0);
	T_EQ(strlen(msg), GX_ERROR_MSG_MAX);
	big[GX_ERROR_MSG_MAX - 1] = (char)0xc3; /* é straddles the cut */
	big[GX_ERROR_MSG_MAX] = (char)0xa9;
	n = gx_errmsg_pack(-1, big, b, sizeof b);
	T_EQ(n, 8 + GX_ERROR_MSG_MAX - 1);
	/* a small cap cuts the message */
	n = gx_errmsg_pack(-1, "hello", b, 8 + 3);
	T_EQ(n, 11);
	T_EQ(gx_errmsg_parse(b, n, &code, msg, sizeof msg), 0);
	T_ASSERT(strcmp(msg, "hel") == 0);

	/* control characters become '?'; a short output buffer cuts */
	n = gx_errmsg_pack(-3, "a\nb\tc\x7f" "d", b, sizeof b);
	b[8 + 1] = 0; /* even a NUL inside */
	T_EQ(gx_errmsg_parse(b, n, &code, msg, sizeof msg), 0);
	T_ASSERT(strcmp(msg, "a?b?c?d") == 0);
	T_EQ(code, -3);
	char tiny[4];
	T_EQ(gx_errmsg_parse(b, n, &code, tiny, sizeof tiny), 0);
	T_ASSERT(strcmp(tiny, "a?b") == 0);

	/* malformed: short, length disagreeing, length over the maximum */
	n = gx_errmsg_pack(-3, "abc", b, sizeof b);
	T_EQ(gx_errmsg_parse(b, 7, &code, msg, sizeof msg), GX_EPROTO);
	T_EQ(gx_errmsg_parse(b, n - 1, &code, msg, sizeof msg), GX_EPROTO);
	T_EQ(gx_errmsg_parse(b, n + 1, &code, msg, sizeof msg), GX_EPROTO);
	T_EQ(msg[0], 0);
	memset(b, 0, sizeof b);
	put32(b + 4, GX_ERROR_MSG_MAX + 1);
	T_EQ(gx_errmsg_parse(b, 8 + GX_ERROR_MSG_MAX + 1, &code, msg, sizeof msg), GX_EPROTO);
	put32(b + 4, 0xffffffffu);
	T_EQ(gx_errmsg_parse(b, 7, &code, msg, sizeof msg), GX_EPROTO);
	T_EQ(gx_errmsg_parse(b, 8 + 0xffffffffull, &code, msg, sizeof msg), GX_EPROTO);
	T_EQ(gx_errmsg_parse(NULL, 8, &code, msg, sizeof msg), GX_EPROTO);
}

static void test_keytable(void)
{
	gx_keyent e[3] = { { 1, 10 }, { 5, 1ull << 40 }, { 0xffffffffu, 1 } };
	size_t sz = gx_keytable_size(3);
	T_EQ(sz, 8 + 3 * 16);
	T_EQ(gx_keytable_size(0), 8);
	uint8_t b[8 + 3 * 16], m[sizeof b];
	gx_keytable_pack(e, 3, b);
	T_EQ(b[0], 3);
	T_EQ(b[8], 1);
	T_EQ(b[24 + 8 + 5], 1); /* 1 << 40 */
	gx_keyent *out = NULL;
	size_t n = 0;
	T_EQ(gx_keytable_parse(b, sz, &out, &n), 0);
	T_REQUIRE(out && n == 3);
	for (size_t i = 0; i < 3; i++) {
		T_EQ(out[i].key, e[i].key);
		T_EQ(out[i].count, e[i].count);
	}
	uint8_t c[sizeof b];
	gx_keytable_pack(out, n, c);
	T_ASSERT(memcmp(b, c, sz) == 0);
	free(out);

	/* the empty table */
	gx_keytable_pack(NULL, 0, m);
	T_EQ(gx_keytable_parse(m, 8, &out, &n), 0);
	T_EQ(n, 0);
	free(out);

	/* lengths */
	T_EQ(gx_keytable_parse(b, sz - 1, &out, &n), GX_EPROTO);
	T_ASSERT(out == NULL && n == 0);
	T_EQ(gx_keytable_parse(b, sz + 1, &out, &n), GX_EPROTO);
	T_EQ(gx_keytable_parse(b, 7, &out, &n), GX_EPROTO);
	T_EQ(gx_keytable_parse(b, sz - 16, &out, &n), GX_EPROTO);
	/* a count beyond the bytes present, and beyond the maximum */
	memcpy(m, b, sz);
	put32(m, 0xffffffffu);
	T_EQ(gx_keytable_parse(m, sz, &out, &n), GX_EPROTO);
	put32(m, GX_KEYTABLE_MAX + 1);
	T_EQ(gx_keytable_parse(m, sz, &out, &n), GX_EPROTO);
	/* reserved words */
	memcpy(m, b, sz);
	m[4] = 1;
	T_EQ(gx_keytable_parse(m, sz, &out, &n), GX_EPROTO);
	memcpy(m, b, sz);
	m[8 + 16 + 7] = 0x80;
	T_EQ(gx_keytable_parse(m, sz, &out, &n), GX_EPROTO);
	/* zero count */
	memcpy(m, b, sz);
	memset(m + 8 + 8, 0, 8);
	T_EQ(gx_keytable_parse(m, sz, &out, &n), GX_EPROTO);
	/* keys equal, decreasing */
	gx_keyent d[2] = { { 4, 1 }, { 4, 1 } };
	gx_keytable_pack(d, 2, m);
	T_EQ(gx_keytable_parse(m, gx_keytable_size(2), &out, &n), GX_EPROTO);
	d[1].key = 3;
	gx_keytable_pack(d, 2, m);
	T_EQ(gx_keytable_parse(m, gx_keytable_size(2), &out, &n), GX_EPROTO);
	T_EQ(gx_keytable_parse(NULL, 8, &out, &n), GX_EPROTO);

	/* the largest table parses; one more entry is refused */
	size_t big = gx_keytable_size(GX_KEYTABLE_MAX);
	uint8_t *bb = calloc(1, big + 16);
	gx_keyent *be = malloc(GX_KEYTABLE_MAX * sizeof *be);
	T_REQUIRE(bb && be);
	for (uint32_t i = 0; i < GX_KEYTABLE_MAX; i++) {
		be[i].key = 2 * i;
		be[i].count = i + 1;
	}
	gx_keytable_pack(be, GX_KEYTABLE_MAX, bb);
	T_EQ(gx_keytable_parse(bb, big, &out, &n), 0);
	T_EQ(n, GX_KEYTABLE_MAX);
	if (out)
		T_EQ(out[GX_KEYTABLE_MAX - 1].key, 2 * (GX_KEYTABLE_MAX - 1));
	free(out);
	put32(bb, GX_KEYTABLE_MAX + 1);
	T_EQ(gx_keytable_parse(bb, big + 16, &out, &n), GX_EPROTO);
	free(bb);
	free(be);
}

static void test_members(void)
{
	uint8_t b[5] = { 7, 1, 0, 0, 9 };
	uint32_t w = 0;
	T_EQ(gx_members_parse(b, 4, &w), 0);
	T_EQ(w, 263);
	T_EQ(gx_members_parse(b, 3, &w), GX_EPROTO);
	T_EQ(gx_members_parse(b, 5, &w), GX_EPROTO);
	T_EQ(gx_members_parse(b, 0, &w), GX_EPROTO);
	T_EQ(gx_members_parse(NULL, 4, &w), GX_EPROTO);
}

static void test_config(void)
{
	gx_config c, g;
	memset(&c, 0, sizeof c);
	c.sync = GX_SYNC_HFA;
	c.lan = GX_LINK_FP16;
	c.mode = 1;
	c.sum = 1;
	c.k1 = 20;
	c.k2 = 10;
	gx_optim_opts_default(&c.optim, GX_OPT_ADAM);
	c.optim.lr = 0.001f;
	uint8_t b[GX_CONFIG_SIZE], m[GX_CONFIG_SIZE];
	gx_config_pack(&c, b);
	T_EQ(gx_config_parse(b, sizeof b, &g), 0);
	T_EQ(memcmp(&c, &g, sizeof c), 0);
	T_EQ(gx_config_parse(b, sizeof b - 1, &g), GX_EPROTO);
	T_EQ(gx_config_parse(NULL, sizeof b, &g), GX_EPROTO);
	/* one bad field at a time */
	static const struct { int off; uint8_t v; } bad[] = {
		{ 0, 3 }, { 1, 2 }, { 2, 3 }, { 3, 2 }, { 12, GX_OPT__MAX }, { 48, 1 }, { 55, 1 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memcpy(m, b, sizeof m);
		m[bad[i].off] = bad[i].v;
		T_EQ(gx_config_parse(m, sizeof m, &g), GX_EPROTO);
	}
	memcpy(m, b, sizeof m);
	memset(m + 4, 0, 4); /* HFA without k1 */
	T_EQ(gx_config_parse(m, sizeof m, &g), GX_EPROTO);
	memcpy(m, b, sizeof m);
	m[0] = GX_SYNC_FULL; /* k1 and k2 without HFA */
	T_EQ(gx_config_parse(m, sizeof m, &g), GX_EPROTO);
	memcpy(m, b, sizeof m);
	memset(m + 16, 0xff, 4); /* lr NaN */
	T_EQ(gx_config_parse(m, sizeof m, &g), GX_EPROTO);
	/* The block size: at bytes 48..51, with mode 0 or 2 (DGT) only
	 * (above, mode 1 with byte 48 set is refused). */
	c.mode = 0;
	c.block = 65536;
	gx_config_pack(&c, b);
	T_EQ(b[48] | b[49] << 8 | b[50] << 16, 65536);
	T_EQ(gx_config_parse(b, sizeof b, &g), 0);
	T_EQ(memcmp(&c, &g, sizeof c), 0);
	/* The overlay, at byte 52: 0 or 1, and not with a local that codes
	 * (mode 1) or runs DGT (mode 2); bytes 53..55 reserved. */
	memcpy(m, b, sizeof m);
	m[52] = 1;
	T_EQ(gx_config_parse(m, sizeof m, &g), 0);
	T_EQ(g.overlay, 1);
	m[52] = 2;
	T_EQ(gx_config_parse(m, sizeof m, &g), GX_EPROTO);
	memcpy(m, b, sizeof m);
	m[53] = 1; /* reserved */
	T_EQ(gx_config_parse(m, sizeof m, &g), GX_EPROTO);
	c.mode = 2; /* DGT: blocks too */
	gx_config_pack(&c, b);
	T_EQ(gx_config_parse(b, sizeof b, &g), 0);
	T_EQ(memcmp(&c, &g, sizeof c), 0);
	b[52] = 1; /* the overlay under DGT */
	T_EQ(gx_config_parse(b, sizeof b, &g), GX_EPROTO);
}

/* DGT's payloads: a push of a 10-element slice in blocks of 4 (4, 4, 2)
 * with blocks 0 and 2 reliable, and each malformation; the ACK. */
static void test_dgt_msgs(void)
{
	gx_dgt_push m = { .codec = GX_CODEC_F32, .channels = 2, .block = 4, .nblocks = 3,
			  .lossy = 1, .rate = 12500000, .nrel = 2, .ahead = 300 };
	uint32_t idx[2] = { 0, 2 };
	uint8_t b[128];
	T_EQ(gx_dgt_push_size(&m, 6), GX_DGT_MSG_HEAD + 8 + 24);
	long n = gx_dgt_push_pack_head(&m, idx, b, sizeof b);
	T_EQ(n, GX_DGT_MSG_HEAD + 8);
	for (int i = 0; i < 24; i++)
		b[n + i] = (uint8_t)i;
	size_t len = (size_t)n + 24;
	gx_dgt_push g;
	T_EQ(gx_dgt_push_parse(b, len, 10, &g), 0);
	T_ASSERT(g.codec == GX_CODEC_F32 && g.channels == 2 && g.block == 4 && g.nblocks == 3 &&
		 g.lossy == 1 && g.rate == 12500000 && g.nrel == 2 && g.ahead == 300);
	T_ASSERT(g.index == b + GX_DGT_MSG_HEAD && g.values == b + n && g.values[23] == 23);
	/* every length but the right one */
	for (size_t l = 0; l < len + 4; l++)
		if (l != len)
			T_EQ(gx_dgt_push_parse(b, l, 10, &g), GX_EPROTO);
	/* the slice's size decides the blocks: 9 or 13 elements do not fit */
	T_EQ(gx_dgt_push_parse(b, len, 9, &g), GX_EPROTO);
	T_EQ(gx_dgt_push_parse(b, len, 13, &g), GX_EPROTO);
	/* one field at a time */
	struct {
		int at;
		uint32_t v;
	} bad[] = { { 0, GX_CODEC_SPARSE_F32 }, { 1, 0 }, { 1, 9 }, { 2, 1 }, { 4, 0 },
		    { 4, 70000 }, { 8, 4 }, { 12, 2 }, { 24, 0 }, { 24, 4 },
		    { 32, 2 }, { 36, 0 }, { 36, 3 } };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		uint8_t w[128];
		memcpy(w, b, len);
		if (bad[i].at == 0 || bad[i].at == 1 || bad[i].at == 2)
			w[bad[i].at] = (uint8_t)bad[i].v;
		else
			put32(w + bad[i].at, bad[i].v);
		T_EQ(gx_dgt_push_parse(w, len, 10, &g), GX_EPROTO);
	}
	/* no reliable block: head alone; but a round of nothing is refused */
	gx_dgt_push z = m;
	z.nrel = 0;
	z.lossy = 3;
	n = gx_dgt_push_pack_head(&z, NULL, b, sizeof b);
	T_EQ(n, GX_DGT_MSG_HEAD);
	T_EQ(gx_dgt_push_parse(b, (size_t)n, 10, &g), 0);
	T_ASSERT(g.nrel == 0 && g.lossy == 3);
	put32(b + 12, 0);
	T_EQ(gx_dgt_push_parse(b, (size_t)n, 10, &g), GX_EPROTO);
	n = gx_dgt_push_pack_head(&m, idx, b, sizeof b);
	/* F16 halves the values */
	m.codec = GX_CODEC_F16;
	n = gx_dgt_push_pack_head(&m, idx, b, sizeof b);
	T_EQ(gx_dgt_push_parse(b, (size_t)n + 12, 10, &g), 0);
	m.codec = GX_CODEC_NONE;
	T_EQ(gx_dgt_push_pack_head(&m, idx, b, sizeof b), GX_EINVAL);
	T_EQ(gx_dgt_block_len(10, 4, 2), 2);
	T_EQ(gx_dgt_block_len(10, 4, 3), 0);
	/* the ACK: 11 blocks, bits past them cleared when packed, refused
	 * when parsed */
	uint8_t bits[2] = { 0xa5, 0xff }, a[16];
	n = gx_dgt_ack_pack(11, 7, bits, a, sizeof a);
	T_EQ(n, 10);
	T_EQ(a[9], 0x07);
	uint32_t late = 0;
	const uint8_t *got = NULL;
	T_EQ(gx_dgt_ack_parse(a, 10, 11, &late, &got), 0);
	T_ASSERT(late == 7 && got == a + 8 && got[0] == 0xa5);
	T_EQ(gx_dgt_ack_parse(a, 10, 12, &late, &got), GX_EPROTO);
	T_EQ(gx_dgt_ack_parse(a, 9, 11, &late, &got), GX_EPROTO);
	T_EQ(gx_dgt_ack_parse(a, 11, 11, &late, &got), GX_EPROTO);
	a[9] = 0x0f;
	T_EQ(gx_dgt_ack_parse(a, 10, 11, &late, &got), GX_EPROTO);
	T_EQ(gx_dgt_ack_pack(11, 0, bits, a, 9), GX_EINVAL);
}

static void test_link_codec(void)
{
	gx_link_codec c;
	char why[160], buf[64];
	T_EQ(gx_link_codec_parse("none", &c, why, sizeof why), 0);
	T_EQ(c.kind, GX_LINK_NONE);
	T_EQ(gx_link_codec_parse("fp16", &c, why, sizeof why), 0);
	T_EQ(c.kind, GX_LINK_FP16);
	T_EQ(gx_link_codec_parse("bsc:0.01", &c, why, sizeof why), 0);
	T_EQ(c.kind, GX_LINK_BSC);
	T_ASSERT(c.ratio == 0.01);
	gx_link_codec_format(&c, buf, sizeof buf);
	T_ASSERT(strcmp(buf, "bsc:0.01") == 0);
	T_EQ(gx_link_codec_parse("mpq:0.05", &c, why, sizeof why), 0);
	T_EQ(c.kind, GX_LINK_MPQ);
	T_EQ(c.bound, GX_DEFAULT_MPQ_BOUND);
	T_EQ(gx_link_codec_parse("mpq:0.05:4096", &c, why, sizeof why), 0);
	T_EQ(c.bound, 4096);
	gx_link_codec_format(&c, buf, sizeof buf);
	T_ASSERT(strcmp(buf, "mpq:0.05:4096") == 0);
	static const char *const bad[] = { "", "bsc", "bsc:", "bsc:0", "bsc:1.5", "bsc:x",
					   "bsc:0.1x", "mpq:0.1:", "mpq:0.1:0", "mpq:0.1:-3",
					   "mpq::5", "fp32", "FP16", "bsc:nan", "bsc:inf" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = '\0';
		T_EQ(gx_link_codec_parse(bad[i], &c, why, sizeof why), GX_EINVAL);
		T_ASSERT(why[0] != '\0');
	}
}

/* ------------------------------------------------------------ sending */

typedef struct got {
	gx_frame_hdr h[8];
	uint8_t p[8][2048];
	int n, closed, err;
	char why[GX_ERROR_MSG_MAX + 1];
} got;

static void on_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *p, void *ud)
{
	got *g = ud;
	if (g->n < 8) {
		g->h[g->n] = *h;
		memcpy(g->p[g->n], p, h->payload_len < 2048 ? h->payload_len : 2048);
		g->n++;
	}
}

static void on_close(gx_conn *c, int err, const char *why, void *ud)
{
	got *g = ud;
	g->closed = 1;
	g->err = err;
	snprintf(g->why, sizeof g->why, "%s", why);
}

static void test_send_helpers(void)
{
	int sv[2];
	T_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	got ga, gb;
	memset(&ga, 0, sizeof ga);
	memset(&gb, 0, sizeof gb);
	gx_conn *a = gx_conn_create(ev, sv[0], NULL, on_frame, on_close, &ga);
	gx_conn *b = gx_conn_create(ev, sv[1], NULL, on_frame, on_close, &gb);
	T_REQUIRE(a && b);
	T_ASSERT(strncmp(gx_conn_name(a), "fd ", 3) == 0); /* no IP peer */

	gx_hello h, hh;
	uint8_t hb[GX_HELLO_SIZE];
	sample_hello(&h);
	gx_hello_pack(&h, hb);
	T_EQ(gx_send_ctl(a, GX_FT_HELLO, 0, 0, hb, sizeof hb), 0);
	T_EQ(gx_send_ctl(a, GX_FT_HEARTBEAT, 0, 0, NULL, 0), 0);
	T_EQ(gx_send_ctl(a, 0, 0, 0, NULL, 0), GX_EINVAL);
	T_EQ(gx_send_ctl(a, GX_FT__MAX, 0, 0, NULL, 0), GX_EINVAL);
	float x[5] = { 1.5f, -2, 0, 3.25f, 1e-3f };
	gx_tensor_route rt = { .type = GX_FT_PUSH, .key = 9, .block = 2, .round = 17, .sender = 4 };
	gx_tensor_payload tp;
	gx_tensor_payload_f32(&tp, x, 5, NULL);
	T_EQ(gx_tensor_send(a, &rt, &tp), 0);
	gx_tensor_payload_f32(&tp, NULL, 0, NULL);
	T_EQ(gx_tensor_send(a, &rt, &tp), 0);
	gx_tensor_payload_f32(&tp, x, (uint64_t)1 << 31, NULL);
	T_EQ(gx_tensor_send(a, &rt, &tp), GX_ETOOBIG);
	gx_send_error(a, GX_EKEY, "key %u: count %d != %d", 7u, 3, 4);
	T_EQ(gx_send_ctl(a, GX_FT_BYE, 0, 0, NULL, 0), GX_EIO); /* closing */
	uint64_t end = gx_now_ms() + 5000;
	while (!(ga.closed && gb.closed) && gx_now_ms() < end)
		gx_ev_once(ev, 20);
	T_EQ(gb.n, 5);
	T_EQ(gb.h[0].type, GX_FT_HELLO);
	T_EQ(gb.h[0].codec, GX_CODEC_NONE);
	T_EQ(gb.h[0].payload_len, GX_HELLO_SIZE);
	T_EQ(gx_hello_parse(gb.p[0], gb.h[0].payload_len, &hh), 0);
	T_EQ(hh.rank, 3);
	T_EQ(gb.h[1].type, GX_FT_HEARTBEAT);
	T_EQ(gb.h[1].payload_len, 0);
	T_EQ(gb.h[2].type, GX_FT_PUSH);
	T_EQ(gb.h[2].codec, GX_CODEC_F32);
	T_EQ(gb.h[2].key, 9);
	T_EQ(gb.h[2].block, 2);
	T_EQ(gb.h[2].round, 17);
	T_EQ(gb.h[2].sender, 4);
	T_EQ(gb.h[2].count, 5);
	T_EQ(gb.h[2].payload_len, 20);
	T_ASSERT(memcmp(gb.p[2], x, 20) == 0);
	T_EQ(gb.h[3].count, 0);
	T_EQ(gb.h[4].type, GX_FT_ERROR);
	int code = 0;
	char msg[GX_ERROR_MSG_MAX + 1];
	T_EQ(gx_errmsg_parse(gb.p[4], gb.h[4].payload_len, &code, msg, sizeof msg), 0);
	T_EQ(code, GX_EKEY);
	T_ASSERT(strcmp(msg, "key 7: count 3 != 4") == 0);
	T_EQ(ga.closed, 1);
	T_EQ(ga.err, 0);
	T_ASSERT(strcmp(ga.why, "key 7: count 3 != 4") == 0);
	T_EQ(gb.closed, 1);
	T_EQ(gb.err, 0);
	gx_ev_free(ev);
}

/* Open descriptors, so the last case can tell that every one was closed. */
static int g_fds0;

static void test_no_descriptor_leaks(void)
{
	if (g_fds0 < 0)
		T_SKIP("no /proc/self/fd");
	T_EQ(t_count_fds(), g_fds0);
}

/* One spelling of roles and sync modes: each name parses back to its value. */
static void test_names(void)
{
	static const int roles[] = { GX_ROLE_GLOBAL, GX_ROLE_LOCAL, GX_ROLE_WORKER };
	static const int syncs[] = { GX_SYNC_FULL, GX_SYNC_MIXED, GX_SYNC_HFA };
	for (int i = 0; i < 3; i++) {
		T_EQ(gx_role_parse(gx_role_name(roles[i])), roles[i]);
		T_EQ(gx_sync_parse(gx_sync_name(syncs[i])), syncs[i]);
	}
	T_ASSERT(!strcmp(gx_role_name(GX_ROLE_LOCAL), "local"));
	T_ASSERT(!strcmp(gx_sync_name(GX_SYNC_HFA), "hfa"));
	T_ASSERT(!strcmp(gx_role_name(0), "?") && !strcmp(gx_role_name(4), "?"));
	T_ASSERT(!strcmp(gx_sync_name(-1), "?") && !strcmp(gx_sync_name(3), "?"));
	T_EQ(gx_role_parse("?"), GX_EINVAL);
	T_EQ(gx_role_parse("Global"), GX_EINVAL);
	T_EQ(gx_role_parse(NULL), GX_EINVAL);
	T_EQ(gx_sync_parse("HFA"), GX_EINVAL);
	T_EQ(gx_sync_parse(""), GX_EINVAL);
}

int main(void)
{
	g_fds0 = t_count_fds();
	T_RUN(test_hello_round_trip);
	T_RUN(test_hello_malformed);
	T_RUN(test_errmsg);
	T_RUN(test_keytable);
	T_RUN(test_members);
	T_RUN(test_config);
	T_RUN(test_dgt_msgs);
	T_RUN(test_link_codec);
	T_RUN(test_names);
	T_RUN(test_send_helpers);
	T_RUN(test_no_descriptor_leaks);
	T_DONE();
}
