/*
 * test_frame.c — CRC-32C, the frame header (layout, round trip, every
 * validation error), the incremental decoder (any split of the input,
 * truncation, payload checksum, refusing before allocating) and
 * gx_frame_write_fd.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "geomx.h"
#include "kernels.h"
#include "t.h"

/* A local generator so these tests depend on nothing but frame code. */
static uint64_t rs = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* --------------------------------------------------------------- CRC */

static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int i = 0; i < 8; i++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void crc_known_vectors(void)
{
	uint8_t b[32];
	const char *s = "123456789";

	T_EQ(gx_crc32c(0, s, 9), 0xE3069283u);
	T_EQ(gx_k_crc32c_sw(0, s, 9), 0xE3069283u);
	T_EQ(gx_crc32c(0, "", 0), 0);
	T_EQ(gx_crc32c(0, NULL, 0), 0);
	/* RFC 3720 (iSCSI) appendix B.4 vectors */
	memset(b, 0, sizeof b);
	T_EQ(gx_crc32c(0, b, 32), 0x8A9136AAu);
	memset(b, 0xff, sizeof b);
	T_EQ(gx_crc32c(0, b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	T_EQ(gx_crc32c(0, b, 32), 0x46DD794Eu);
	T_EQ(gx_k_crc32c_sw(0, b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	T_EQ(gx_crc32c(0, b, 32), 0x113FDB5Cu);
	if (gx_k_cpu_has_sse42()) {
		T_EQ(gx_k_crc32c_hw(0, s, 9), 0xE3069283u);
		T_EQ(gx_k_crc32c_hw(0, b, 32), 0x113FDB5Cu);
	}
}

static void crc_sw_hw_random(void)
{
	enum { MAX = 5000 };
	static uint8_t buf[MAX + 16];
	fill(buf, sizeof buf);
	for (int it = 0; it < 2000; it++) {
		size_t off = below(16), len = it < 64 ? (size_t)it : below(MAX);
		uint32_t seed = it & 1 ? (uint32_t)rnd() : 0;
		uint32_t ref = crc_bitwise(seed, buf + off, len);
		T_EQ(gx_k_crc32c_sw(seed, buf + off, len), ref);
		T_EQ(gx_crc32c(seed, buf + off, len), ref);
		if (gx_k_cpu_has_sse42())
			T_EQ(gx_k_crc32c_hw(seed, buf + off, len), ref);
		if (t_case_failed)
			return;
	}
	if (!gx_k_cpu_has_sse42())
		T_SKIP("no SSE4.2: hardware CRC not compared");
}

static void crc_composes(void)
{
	uint8_t buf[3000];
	fill(buf, sizeof buf);
	uint32_t whole = gx_crc32c(0, buf, sizeof buf);
	for (size_t cut = 0; cut <= sizeof buf; cut += 1 + cut / 7) {
		T_EQ(gx_crc32c(gx_crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole);
		T_EQ(gx_k_crc32c_sw(gx_k_crc32c_sw(0, buf, cut), buf + cut, sizeof buf - cut),
		     whole);
	}
}

/* ------------------------------------------------------------ header */

/* A random header that passes validation under the default limits. */
static void random_valid_hdr(gx_frame_hdr *h, uint32_t max_raw)
{
	gx_frame_hdr_init(h);
	h->type = (uint8_t)(1 + below(GX_FT__MAX - 1));
	h->key = (uint32_t)rnd();
	h->sender = (uint32_t)rnd();
	h->round = (uint32_t)rnd();
	h->seq = rnd();
	h->priority = (uint8_t)rnd();
	h->channel = (uint16_t)rnd();
	h->block = (uint32_t)rnd();
	h->codec = (uint8_t)below(GX_CODEC__MAX);
	switch (h->codec) {
	case GX_CODEC_NONE:
		h->raw_len = (uint32_t)below(max_raw + 1);
		break;
	case GX_CODEC_F32:
		h->count = below(max_raw / 4 + 1);
		h->raw_len = (uint32_t)(h->count * 4);
		break;
	case GX_CODEC_F16:
		h->count = below(max_raw / 2 + 1);
		h->raw_len = (uint32_t)(h->count * 2);
		break;
	default:
		h->count = 1 + below(1u << 20);
		h->raw_len = (uint32_t)(12 + below(max_raw - 11));
		break;
	}
	h->flags = (uint16_t)(below(8) & ~GX_FF_ZSTD);
	h->payload_len = h->raw_len;
	if (below(3) == 0) {
		h->flags |= GX_FF_ZSTD;
		h->payload_len = (uint32_t)(1 + below(max_raw));
	}
	if (h->flags & GX_FF_CRC)
		h->payload_crc = (uint32_t)rnd();
}

static int hdr_eq(const gx_frame_hdr *a, const gx_frame_hdr *b)
{
	return a->version == b->version && a->type == b->type && a->flags == b->flags &&
	       a->key == b->key && a->sender == b->sender && a->round == b->round &&
	       a->seq == b->seq && a->count == b->count && a->payload_len == b->payload_len &&
	       a->raw_len == b->raw_len && a->codec == b->codec && a->priority == b->priority &&
	       a->channel == b->channel && a->block == b->block &&
	       a->payload_crc == b->payload_crc;
}

static void hdr_defaults(void)
{
	gx_frame_limits lim;
	gx_frame_hdr h;
	gx_frame_limits_default(&lim);
	T_EQ(lim.max_payload, GX_DEFAULT_MAX_PAYLOAD);
	T_EQ(lim.max_count, GX_DEFAULT_MAX_COUNT);
	memset(&h, 0xab, sizeof h);
	gx_frame_hdr_init(&h);
	T_EQ(h.version, GX_FRAME_VERSION);
	T_EQ(h.type, 0);
	T_EQ(h.seq, 0);
	T_EQ(h.payload_crc, 0);
	T_EQ(gx_frame_hdr_check(NULL, NULL), GX_EINVAL);
}

/* Every field at the offset docs/wire.md gives, little-endian. */
static void hdr_layout(void)
{
	gx_frame_hdr h;
	uint8_t b[GX_FRAME_HDR_SIZE];
	gx_frame_hdr_init(&h);
	h.type = 0x05;
	h.flags = 0x0102;
	h.key = 0x03040506;
	h.sender = 0x0708090a;
	h.seq = 0x1112131415161718ull;
	h.count = 0x2122232425262728ull;
	h.payload_len = 0x31323334;
	h.raw_len = 0x35363738;
	h.codec = 0x41;
	h.priority = 0x42;
	h.channel = 0x4344;
	h.round = 0x45464748;
	h.block = 0x51525354;
	h.payload_crc = 0x55565758;
	gx_frame_hdr_pack(&h, b);
	static const uint8_t want[60] = {
		'G',  'X',  'F',  'R',  0x01, 0x05, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03,
		0x0a, 0x09, 0x08, 0x07, 0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
		0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21, 0x34, 0x33, 0x32, 0x31,
		0x38, 0x37, 0x36, 0x35, 0x41, 0x42, 0x44, 0x43, 0x48, 0x47, 0x46, 0x45,
		0x54, 0x53, 0x52, 0x51, 0x58, 0x57, 0x56, 0x55, 0x00, 0x00, 0x00, 0x00,
	};
	for (int i = 0; i < 60; i++)
		if (b[i] != want[i]) {
			printf("#   byte %d: %02x, want %02x\n", i, b[i], want[i]);
			t_case_failed = 1;
		}
	uint32_t c = gx_crc32c(0, b, 60);
	T_EQ(b[60] | b[61] << 8 | b[62] << 16 | (uint32_t)b[63] << 24, c);
}

static void hdr_roundtrip_random(void)
{
	for (int i = 0; i < 20000; i++) {
		gx_frame_hdr h, g;
		uint8_t b[GX_FRAME_HDR_SIZE], b2[GX_FRAME_HDR_SIZE];
		random_valid_hdr(&h, 1u << 16);
		T_REQUIRE(gx_frame_hdr_check(&h, NULL) == 0);
		gx_frame_hdr_pack(&h, b);
		memset(&g, 0x5a, sizeof g);
		T_REQUIRE(gx_frame_hdr_parse(b, NULL, &g) == 0);
		T_REQUIRE(hdr_eq(&h, &g));
		gx_frame_hdr_pack(&g, b2);
		T_REQUIRE(memcmp(b, b2, sizeof b) == 0);
	}
}

/* Parse fills *h even when it rejects the frame, and agrees with check on
 * arbitrary (mostly invalid) headers. */
static void hdr_parse_agrees_with_check(void)
{
	int valid = 0;
	for (int i = 0; i < 50000; i++) {
		gx_frame_hdr h, g;
		uint8_t b[GX_FRAME_HDR_SIZE];
		gx_frame_limits lim = { (uint32_t)below(1u << 20), below(1u << 20) };
		if (i & 1) {
			random_valid_hdr(&h, 1u << 20);
			/* disturb one field a little */
			switch (below(6)) {
			case 0: h.flags ^= (uint16_t)(1u << below(16)); break;
			case 1: h.count += below(3) - 1; break;
			case 2: h.raw_len += (uint32_t)below(3) - 1; break;
			case 3: h.payload_len += (uint32_t)below(3) - 1; break;
			case 4: h.codec = (uint8_t)below(8); break;
			default: h.type = (uint8_t)below(70); break;
			}
		} else {
			fill((uint8_t *)&h, sizeof h);
			h.version = (uint8_t)(below(4) ? GX_FRAME_VERSION : rnd());
			h.type = (uint8_t)below(80);
			h.codec = (uint8_t)below(7);
			h.flags = (uint16_t)below(16);
			h.count = below(1u << 21);
			h.payload_len = (uint32_t)below(1u << 21);
			h.raw_len = below(2) ? h.payload_len : (uint32_t)below(1u << 21);
		}
		gx_frame_hdr_pack(&h, b);
		int want = gx_frame_hdr_check(&h, &lim);
		int got = gx_frame_hdr_parse(b, &lim, &g);
		T_EQ(got, want);
		T_REQUIRE(hdr_eq(&h, &g));
		valid += want == 0;
	}
	T_ASSERT(valid > 1000);
}

/* --- one case per validation error --- */

static void base_hdr(gx_frame_hdr *h)
{
	gx_frame_hdr_init(h);
	h->type = GX_FT_TENSOR;
	h->codec = GX_CODEC_F32;
	h->count = 100;
	h->raw_len = h->payload_len = 400;
	h->flags = GX_FF_CRC;
	h->payload_crc = 0x12345678;
}

static void recrc(uint8_t *b)
{
	uint32_t c = gx_crc32c(0, b, 60);
	for (int i = 0; i < 4; i++)
		b[60 + i] = (uint8_t)(c >> (8 * i));
}

/* Packs h, parses it with lim, returns the error; also checks that
 * gx_frame_hdr_check says the same. */
static int parse_err(const gx_frame_hdr *h, const gx_frame_limits *lim)
{
	uint8_t b[GX_FRAME_HDR_SIZE];
	gx_frame_hdr g;
	gx_frame_hdr_pack(h, b);
	int rc = gx_frame_hdr_parse(b, lim, &g);
	T_EQ(gx_frame_hdr_check(h, lim), rc);
	return rc;
}

static void bad_magic(void)
{
	gx_frame_hdr h, g;
	uint8_t b[GX_FRAME_HDR_SIZE];
	base_hdr(&h);
	T_EQ(parse_err(&h, NULL), 0);
	for (int i = 0; i < 4; i++) {
		gx_frame_hdr_pack(&h, b);
		b[i] ^= 0x20;
		recrc(b);
		T_EQ(gx_frame_hdr_parse(b, NULL, &g), GX_EMAGIC);
	}
	memset(b, 0, sizeof b);
	T_EQ(gx_frame_hdr_parse(b, NULL, &g), GX_EMAGIC);
	T_EQ(gx_frame_hdr_parse(NULL, NULL, &g), GX_EINVAL);
	T_EQ(gx_frame_hdr_parse(b, NULL, NULL), GX_EINVAL);
}

static void bad_version(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	h.version = 2;
	T_EQ(parse_err(&h, NULL), GX_EVERSION);
	h.version = 0;
	T_EQ(parse_err(&h, NULL), GX_EVERSION);
	/* version is judged before the checksum (docs/wire.md) */
	uint8_t b[GX_FRAME_HDR_SIZE];
	gx_frame_hdr g;
	gx_frame_hdr_pack(&h, b);
	b[63] ^= 1;
	T_EQ(gx_frame_hdr_parse(b, NULL, &g), GX_EVERSION);
}

static void bad_hdr_crc(void)
{
	gx_frame_hdr h, g;
	uint8_t b[GX_FRAME_HDR_SIZE];
	base_hdr(&h);
	/* every single-bit flip outside magic and version is caught by the crc */
	for (int bit = 5 * 8; bit < 64 * 8; bit++) {
		gx_frame_hdr_pack(&h, b);
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		T_EQ(gx_frame_hdr_parse(b, NULL, &g), GX_EHDRCRC);
	}
}

static void bad_reserved(void)
{
	gx_frame_hdr h, g;
	uint8_t b[GX_FRAME_HDR_SIZE];
	base_hdr(&h);
	for (int i = 56; i < 60; i++) {
		gx_frame_hdr_pack(&h, b);
		b[i] = 0x80;
		recrc(b);
		T_EQ(gx_frame_hdr_parse(b, NULL, &g), GX_ERESERVED);
	}
}

static void bad_type(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	h.type = 0;
	T_EQ(parse_err(&h, NULL), GX_ETYPE);
	h.type = GX_FT__MAX;
	T_EQ(parse_err(&h, NULL), GX_ETYPE);
	h.type = 255;
	T_EQ(parse_err(&h, NULL), GX_ETYPE);
	h.type = GX_FT__MAX - 1;
	T_EQ(parse_err(&h, NULL), 0);
}

static void bad_codec(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	h.codec = GX_CODEC__MAX;
	T_EQ(parse_err(&h, NULL), GX_ECODEC);
	h.codec = 255;
	T_EQ(parse_err(&h, NULL), GX_ECODEC);
}

static void bad_flags(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	for (int bit = 3; bit < 16; bit++) {
		h.flags = (uint16_t)(GX_FF_CRC | 1u << bit);
		T_EQ(parse_err(&h, NULL), GX_EFLAGS);
	}
	h.flags = GX_FF__ALL;
	h.payload_len = 17;
	T_EQ(parse_err(&h, NULL), 0);
}

static void bad_flags_crc_without_flag(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	h.flags = 0;
	T_EQ(parse_err(&h, NULL), GX_EFLAGS);
	h.payload_crc = 0;
	T_EQ(parse_err(&h, NULL), 0);
}

static void too_big_payload(void)
{
	gx_frame_limits lim = { 1000, 1000 };
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.payload_len = h.raw_len = 1000;
	T_EQ(parse_err(&h, &lim), 0);
	h.payload_len = h.raw_len = 1001;
	T_EQ(parse_err(&h, &lim), GX_ETOOBIG);
	/* compressed size fine, declared raw size too big: a zstd bomb */
	h.flags = GX_FF_ZSTD;
	h.payload_len = 10;
	T_EQ(parse_err(&h, &lim), GX_ETOOBIG);
	h.payload_len = 1001;
	h.raw_len = 10;
	T_EQ(parse_err(&h, &lim), GX_ETOOBIG);
	/* the defaults */
	h.flags = 0;
	h.payload_len = h.raw_len = GX_DEFAULT_MAX_PAYLOAD;
	T_EQ(parse_err(&h, NULL), 0);
	h.payload_len = h.raw_len = GX_DEFAULT_MAX_PAYLOAD + 1;
	T_EQ(parse_err(&h, NULL), GX_ETOOBIG);
	h.payload_len = h.raw_len = UINT32_MAX;
	T_EQ(parse_err(&h, NULL), GX_ETOOBIG);
}

static void too_big_count(void)
{
	gx_frame_limits lim = { 1u << 20, 1000 };
	gx_frame_hdr h;
	base_hdr(&h);
	h.count = 1000;
	h.payload_len = h.raw_len = 4000;
	T_EQ(parse_err(&h, &lim), 0);
	h.count = 1001;
	h.payload_len = h.raw_len = 4004;
	T_EQ(parse_err(&h, &lim), GX_ETOOBIG);
	h.codec = GX_CODEC_SPARSE_F32;
	h.count = UINT64_MAX;
	h.payload_len = h.raw_len = 100;
	T_EQ(parse_err(&h, NULL), GX_ETOOBIG);
}

static void len_raw_ne_payload(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	h.payload_len = 401;
	T_EQ(parse_err(&h, NULL), GX_ELENGTH);
	h.flags |= GX_FF_ZSTD; /* with zstd they may differ */
	T_EQ(parse_err(&h, NULL), 0);
}

static void len_zstd_empty(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	h.flags |= GX_FF_ZSTD;
	h.payload_len = 0;
	T_EQ(parse_err(&h, NULL), GX_ELENGTH);
}

static void len_none_count(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	h.codec = GX_CODEC_NONE;
	T_EQ(parse_err(&h, NULL), GX_ELENGTH);
	h.count = 0;
	T_EQ(parse_err(&h, NULL), 0);
	h.payload_len = h.raw_len = 0;
	T_EQ(parse_err(&h, NULL), 0);
}

static void len_f32(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	h.payload_len = h.raw_len = 399;
	T_EQ(parse_err(&h, NULL), GX_ELENGTH);
	h.payload_len = h.raw_len = 200; /* the F16 size */
	T_EQ(parse_err(&h, NULL), GX_ELENGTH);
	h.count = 0;
	h.payload_len = h.raw_len = 0;
	T_EQ(parse_err(&h, NULL), 0);
}

/* count * 4 must not wrap to the declared raw_len. */
static void len_f32_overflow(void)
{
	gx_frame_limits lim = { 1u << 20, UINT64_MAX };
	gx_frame_hdr h;
	base_hdr(&h);
	h.count = 1ull << 62; /* * 4 == 2^64 == 0 in 64 bits */
	h.payload_len = h.raw_len = 0;
	T_EQ(parse_err(&h, &lim), GX_ELENGTH);
	h.count = (1ull << 62) + 25; /* * 4 wraps to 100 */
	h.payload_len = h.raw_len = 100;
	T_EQ(parse_err(&h, &lim), GX_ELENGTH);
	h.codec = GX_CODEC_F16;
	h.count = (1ull << 63) + 50; /* * 2 wraps to 100 */
	T_EQ(parse_err(&h, &lim), GX_ELENGTH);
}

static void len_f16(void)
{
	gx_frame_hdr h;
	base_hdr(&h);
	h.codec = GX_CODEC_F16;
	T_EQ(parse_err(&h, NULL), GX_ELENGTH); /* 400 bytes for 100 halves */
	h.payload_len = h.raw_len = 200;
	T_EQ(parse_err(&h, NULL), 0);
	h.payload_len = h.raw_len = 201;
	T_EQ(parse_err(&h, NULL), GX_ELENGTH);
	/* with zstd the rule is on raw_len, not payload_len */
	h.flags |= GX_FF_ZSTD;
	h.payload_len = 50;
	h.raw_len = 200;
	T_EQ(parse_err(&h, NULL), 0);
	h.raw_len = 198;
	T_EQ(parse_err(&h, NULL), GX_ELENGTH);
}

static void len_sparse(void)
{
	gx_frame_hdr h;
	for (int c = GX_CODEC_SPARSE_F32; c <= GX_CODEC_SPARSE_F16; c++) {
		base_hdr(&h);
		h.codec = (uint8_t)c;
		h.count = 1u << 20;
		h.payload_len = h.raw_len = 12;
		T_EQ(parse_err(&h, NULL), 0);
		h.payload_len = h.raw_len = 11;
		T_EQ(parse_err(&h, NULL), GX_ELENGTH);
		h.payload_len = h.raw_len = 0;
		T_EQ(parse_err(&h, NULL), GX_ELENGTH);
		h.payload_len = h.raw_len = 100;
		h.count = 0;
		T_EQ(parse_err(&h, NULL), GX_ELENGTH);
	}
}

/* ----------------------------------------------------------- decoder */

typedef struct {
	gx_frame_hdr h;
	uint8_t *payload;
} tframe;

/* Appends a frame to a growing stream. */
static void put_frame(uint8_t **s, size_t *len, size_t *cap, tframe *f)
{
	size_t need = *len + GX_FRAME_HDR_SIZE + f->h.payload_len;
	if (need > *cap) {
		*cap = need * 2;
		*s = realloc(*s, *cap);
	}
	gx_frame_hdr_pack(&f->h, *s + *len);
	if (f->h.payload_len)
		memcpy(*s + *len + GX_FRAME_HDR_SIZE, f->payload, f->h.payload_len);
	*len = need;
}

/* n random valid frames (payload bytes random, CRC correct when flagged)
 * packed into one stream. */
static uint8_t *make_stream(tframe *fr, int n, uint32_t max_raw, size_t *len)
{
	uint8_t *s = NULL;
	size_t cap = 0;
	*len = 0;
	for (int i = 0; i < n; i++) {
		random_valid_hdr(&fr[i].h, max_raw);
		if (i % 5 == 0) { /* plenty of empty and tiny frames */
			fr[i].h.codec = GX_CODEC_NONE;
			fr[i].h.count = 0;
			fr[i].h.flags &= (uint16_t)~GX_FF_ZSTD;
			fr[i].h.payload_len = fr[i].h.raw_len = (uint32_t)below(3);
		}
		fr[i].payload = malloc(fr[i].h.payload_len + 1);
		fill(fr[i].payload, fr[i].h.payload_len);
		if (fr[i].h.flags & GX_FF_CRC)
			fr[i].h.payload_crc = gx_crc32c(0, fr[i].payload, fr[i].h.payload_len);
		put_frame(&s, len, &cap, &fr[i]);
	}
	return s;
}

static void free_frames(tframe *fr, int n)
{
	for (int i = 0; i < n; i++)
		free(fr[i].payload);
}

/* chunk: 0 all at once, 1 byte at a time, -1 random sizes. Returns frames
 * matched, or -1 on a mismatch. */
static int decode_stream(const uint8_t *s, size_t len, tframe *fr, int n, long chunk)
{
	gx_decoder *d = gx_decoder_create(NULL);
	size_t pos = 0, next = 0; /* where the next whole frame starts */
	int got = 0;
	if (!d)
		return -1;
	while (pos < len) {
		size_t want = chunk == 0 ? len - pos : chunk > 0 ? (size_t)chunk : 1 + below(300);
		if (want > len - pos)
			want = len - pos;
		size_t used = 12345;
		int rc = gx_decoder_feed(d, s + pos, want, &used);
		if (rc < 0 || used > want || (rc == 0 && used != want)) {
			printf("#   feed rc %d used %zu of %zu at %zu\n", rc, used, want, pos);
			got = -1;
			break;
		}
		pos += used;
		if (rc == 1) {
			gx_frame_hdr h;
			const uint8_t *p;
			gx_decoder_frame(d, &h, &p);
			if (got >= n || !hdr_eq(&h, &fr[got].h) || !p ||
			    memcmp(p, fr[got].payload, h.payload_len) != 0) {
				printf("#   frame %d differs\n", got);
				got = -1;
				break;
			}
			got++;
			if (gx_decoder_pending(d)) {
				printf("#   pending after a whole frame\n");
				got = -1;
				break;
			}
			next += GX_FRAME_HDR_SIZE + h.payload_len;
		} else if (!gx_decoder_pending(d) != (pos == next)) {
			/* pending exactly when the input stopped inside a frame */
			printf("#   pending %d at %zu, next frame at %zu\n", gx_decoder_pending(d),
			       pos, next);
			got = -1;
			break;
		}
	}
	if (got >= 0 && gx_decoder_pending(d)) {
		printf("#   pending at the end of a whole stream\n");
		got = -1;
	}
	gx_decoder_free(d);
	return got;
}

static void decoder_chunkings_agree(void)
{
	enum { N = 300 };
	static tframe fr[N];
	size_t len;
	uint8_t *s = make_stream(fr, N, 3000, &len);
	T_EQ(decode_stream(s, len, fr, N, 0), N);
	T_EQ(decode_stream(s, len, fr, N, 1), N);
	T_EQ(decode_stream(s, len, fr, N, -1), N);
	T_EQ(decode_stream(s, len, fr, N, 63), N);
	T_EQ(decode_stream(s, len, fr, N, 65), N);
	T_EQ(decode_stream(s, len, fr, N, 4096), N);
	free(s);
	free_frames(fr, N);
}

/* Receiving in place: the same streams, every payload byte written through
 * gx_decoder_room/commit in random pieces, the rest fed; same frames out. */
static void decoder_in_place_agrees(void)
{
	enum { N = 200 };
	static tframe fr[N];
	size_t len;
	uint8_t *s = make_stream(fr, N, 3000, &len);
	gx_decoder *d = gx_decoder_create(NULL);
	T_REQUIRE(d);
	size_t pos = 0;
	int got = 0, inplace = 0;
	while (pos < len) {
		uint8_t *dst;
		size_t room = gx_decoder_room(d, &dst), used = 0;
		int rc;
		if (room) {
			T_REQUIRE(dst != NULL);
			size_t n = 1 + below(room < 700 ? room : 700);
			memcpy(dst, s + pos, n);
			rc = gx_decoder_commit(d, n);
			used = n;
			inplace++;
		} else {
			T_ASSERT(dst == NULL);
			size_t want = 1 + below(100);
			if (want > len - pos)
				want = len - pos;
			rc = gx_decoder_feed(d, s + pos, want, &used);
		}
		T_REQUIRE(rc >= 0);
		pos += used;
		if (rc == 1) {
			gx_frame_hdr h;
			const uint8_t *p;
			gx_decoder_frame(d, &h, &p);
			T_REQUIRE(got < N && hdr_eq(&h, &fr[got].h));
			T_REQUIRE(memcmp(p, fr[got].payload, h.payload_len) == 0);
			T_EQ(gx_decoder_room(d, &dst), 0); /* a ready frame wants a header */
			got++;
		}
	}
	T_EQ(got, N);
	T_ASSERT(inplace > N);
	T_EQ(gx_decoder_pending(d), 0);
	gx_decoder_free(d);
	free(s);
	free_frames(fr, N);
}

/* Committing more than the room, or with no room, is refused and changes
 * nothing; a payload checksum is verified on the commit that completes it. */
static void decoder_in_place_errors(void)
{
	gx_frame_hdr h;
	uint8_t b[GX_FRAME_HDR_SIZE], pl[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, *dst;
	size_t used;
	gx_decoder *d = gx_decoder_create(NULL);
	T_REQUIRE(d);
	T_EQ(gx_decoder_commit(d, 1), GX_EINVAL);
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.codec = GX_CODEC_F32;
	h.count = 2;
	h.payload_len = h.raw_len = 8;
	h.flags = GX_FF_CRC;
	h.payload_crc = gx_crc32c(0, pl, 8) ^ 1; /* wrong */
	gx_frame_hdr_pack(&h, b);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), 0);
	T_EQ(gx_decoder_room(d, &dst), 8);
	T_EQ(gx_decoder_commit(d, 9), GX_EINVAL);
	T_EQ(gx_decoder_room(d, &dst), 8);
	memcpy(dst, pl, 8);
	T_EQ(gx_decoder_commit(d, 3), 0);
	T_EQ(gx_decoder_room(d, &dst), 5);
	T_EQ(gx_decoder_commit(d, 5), GX_ECRC);
	T_EQ(gx_decoder_commit(d, 0), GX_ECRC); /* sticky */
	gx_decoder_free(d);
}

/* Receiving into the caller's buffer: the same streams, each frame whose
 * payload is being collected placed (at a random point) into a buffer of
 * its own, fed and committed in random pieces; the same frames out, each
 * payload where it was placed. */
static void decoder_placed_agrees(void)
{
	enum { N = 200 };
	static tframe fr[N];
	static uint8_t home[N][4096];
	size_t len;
	uint8_t *s = make_stream(fr, N, 3000, &len);
	gx_decoder *d = gx_decoder_create(NULL);
	T_REQUIRE(d);
	size_t pos = 0;
	int got = 0, placed = -1, nplaced = 0;
	while (pos < len) {
		uint8_t *dst;
		size_t used = 0;
		int rc;
		const gx_frame_hdr *fh = gx_decoder_header(d);
		if (fh && placed != got && below(3) == 0) {
			T_REQUIRE(fh->payload_len <= sizeof home[0]);
			T_EQ(gx_decoder_place(d, home[got]), 0);
			T_EQ(gx_decoder_place(d, home[got]), GX_EINVAL); /* once */
			placed = got;
			nplaced++;
		}
		size_t room = gx_decoder_room(d, &dst);
		if (room && below(2)) {
			size_t n = 1 + below(room < 700 ? room : 700);
			memcpy(dst, s + pos, n);
			rc = gx_decoder_commit(d, n);
			used = n;
		} else {
			size_t want = 1 + below(100);
			if (want > len - pos)
				want = len - pos;
			rc = gx_decoder_feed(d, s + pos, want, &used);
		}
		T_REQUIRE(rc >= 0);
		pos += used;
		if (rc == 1) {
			gx_frame_hdr h;
			const uint8_t *p;
			gx_decoder_frame(d, &h, &p);
			T_REQUIRE(got < N && hdr_eq(&h, &fr[got].h));
			T_REQUIRE(memcmp(p, fr[got].payload, h.payload_len) == 0);
			if (placed == got)
				T_REQUIRE(p == home[got]);
			T_ASSERT(gx_decoder_header(d) == NULL);
			got++;
		}
	}
	T_EQ(got, N);
	T_ASSERT(nplaced > N / 10);
	gx_decoder_free(d);
	free(s);
	free_frames(fr, N);
}

/* Placing with nothing being collected is refused; a placed payload's
 * checksum is still verified. */
static void decoder_place_errors(void)
{
	gx_frame_hdr h;
	uint8_t b[GX_FRAME_HDR_SIZE], pl[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, mine[8];
	size_t used;
	gx_decoder *d = gx_decoder_create(NULL);
	T_REQUIRE(d);
	T_ASSERT(gx_decoder_header(d) == NULL);
	T_EQ(gx_decoder_place(d, mine), GX_EINVAL);
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.codec = GX_CODEC_F32;
	h.count = 2;
	h.payload_len = h.raw_len = 8;
	h.flags = GX_FF_CRC;
	h.payload_crc = gx_crc32c(0, pl, 8) ^ 1; /* wrong */
	gx_frame_hdr_pack(&h, b);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), 0);
	T_REQUIRE(gx_decoder_header(d) != NULL);
	T_EQ(gx_decoder_header(d)->count, 2);
	T_EQ(gx_decoder_feed(d, pl, 3, &used), 0);
	T_EQ(gx_decoder_place(d, NULL), GX_EINVAL);
	T_EQ(gx_decoder_place(d, mine), 0);
	T_EQ(memcmp(mine, pl, 3), 0); /* what came before is moved there */
	T_EQ(gx_decoder_feed(d, pl + 3, 5, &used), GX_ECRC);
	T_EQ(memcmp(mine, pl, 8), 0);
	gx_decoder_free(d);
}

/* Two feeds, the cut at every byte boundary of a small stream. */
static void decoder_every_split(void)
{
	enum { N = 4 };
	tframe fr[N];
	size_t len;
	uint8_t *s = make_stream(fr, N, 40, &len);
	gx_decoder *d = gx_decoder_create(NULL);
	T_REQUIRE(d);
	for (size_t cut = 0; cut <= len; cut++) {
		size_t pos = 0, used;
		int got = 0;
		gx_decoder_reset(d);
		while (pos < len) {
			size_t end = pos < cut ? cut : len;
			int rc = gx_decoder_feed(d, s + pos, end - pos, &used);
			T_REQUIRE(rc >= 0);
			pos += used;
			if (rc == 1) {
				gx_frame_hdr h;
				const uint8_t *p;
				gx_decoder_frame(d, &h, &p);
				T_REQUIRE(got < N && hdr_eq(&h, &fr[got].h));
				T_REQUIRE(memcmp(p, fr[got].payload, h.payload_len) == 0);
				got++;
			}
		}
		T_EQ(got, N);
		T_EQ(gx_decoder_pending(d), 0);
	}
	gx_decoder_free(d);
	free(s);
	free_frames(fr, N);
}

static void decoder_stops_at_frame_end(void)
{
	tframe fr[3];
	size_t len, used;
	uint8_t *s = make_stream(fr, 3, 500, &len);
	gx_decoder *d = gx_decoder_create(NULL);
	size_t f0 = GX_FRAME_HDR_SIZE + fr[0].h.payload_len;
	T_EQ(gx_decoder_feed(d, s, len, &used), 1);
	T_EQ(used, f0);
	/* the frame stays readable until the next feed */
	gx_frame_hdr h;
	const uint8_t *p;
	gx_decoder_frame(d, &h, &p);
	T_ASSERT(hdr_eq(&h, &fr[0].h));
	/* an empty feed moves past the ready frame and consumes nothing */
	T_EQ(gx_decoder_feed(d, s + f0, 0, &used), 0);
	T_EQ(used, 0);
	gx_decoder_frame(d, &h, &p);
	T_ASSERT(p == NULL);
	T_EQ(gx_decoder_feed(d, s + f0, len - f0, &used), 1);
	T_EQ(used, GX_FRAME_HDR_SIZE + fr[1].h.payload_len);
	gx_decoder_free(d);
	free(s);
	free_frames(fr, 3);
}

/* Borrowing: a frame whole in the fed bytes is handed out where it lies;
 * a frame cut by the end of the feed is copied and completed as usual; a
 * corrupt payload fails the same way in both modes. */
static void decoder_borrows_whole_frames(void)
{
	tframe fr[3];
	size_t len, used;
	uint8_t *s = make_stream(fr, 3, 500, &len);
	gx_decoder *d = gx_decoder_create(NULL);
	gx_decoder_borrow(d, 1);
	size_t f0 = GX_FRAME_HDR_SIZE + fr[0].h.payload_len;
	size_t f1 = GX_FRAME_HDR_SIZE + fr[1].h.payload_len;
	gx_frame_hdr h;
	const uint8_t *p;
	T_EQ(gx_decoder_feed(d, s, len, &used), 1);
	T_EQ(used, f0);
	gx_decoder_frame(d, &h, &p);
	T_ASSERT(hdr_eq(&h, &fr[0].h));
	T_ASSERT(p == s + GX_FRAME_HDR_SIZE); /* in place, not a copy */
	/* the second frame fed all but its last byte: copied, then finished */
	T_EQ(gx_decoder_feed(d, s + f0, f1 - 1, &used), 0);
	T_EQ(used, f1 - 1);
	T_EQ(gx_decoder_pending(d), 1);
	T_EQ(gx_decoder_feed(d, s + f0 + f1 - 1, len - f0 - f1 + 1, &used), 1);
	T_EQ(used, 1);
	gx_decoder_frame(d, &h, &p);
	T_ASSERT(hdr_eq(&h, &fr[1].h));
	T_ASSERT(p < s || p >= s + len); /* the decoder's own buffer */
	T_EQ(memcmp(p, s + f0 + GX_FRAME_HDR_SIZE, fr[1].h.payload_len), 0);
	/* and the third whole again */
	T_EQ(gx_decoder_feed(d, s + f0 + f1, len - f0 - f1, &used), 1);
	gx_decoder_frame(d, &h, &p);
	T_ASSERT(p == s + f0 + f1 + GX_FRAME_HDR_SIZE);
	T_EQ(gx_decoder_pending(d), 0);
	/* a flipped payload byte: GX_ECRC after the whole frame, sticky */
	uint8_t b[GX_FRAME_HDR_SIZE + 16];
	gx_frame_hdr_init(&h);
	h.type = 63;
	h.flags = GX_FF_CRC | GX_FF_LAST;
	h.payload_len = h.raw_len = 16;
	fill(b + GX_FRAME_HDR_SIZE, 16);
	h.payload_crc = gx_crc32c(0, b + GX_FRAME_HDR_SIZE, 16);
	gx_frame_hdr_pack(&h, b);
	gx_decoder_reset(d);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), 1);
	b[GX_FRAME_HDR_SIZE + 7] ^= 1;
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), GX_ECRC);
	T_EQ(used, sizeof b);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), GX_ECRC);
	T_EQ(used, 0);
	/* a bad magic is still reported after its 4 bytes */
	gx_decoder_reset(d);
	s[0] = 'X';
	T_EQ(gx_decoder_feed(d, s, len, &used), GX_EMAGIC);
	T_EQ(used, 4);
	gx_decoder_free(d);
	free(s);
	free_frames(fr, 3);
}

static void decoder_empty_payload(void)
{
	gx_frame_hdr h, g;
	uint8_t b[GX_FRAME_HDR_SIZE];
	const uint8_t *p = NULL;
	size_t used;
	gx_frame_hdr_init(&h);
	h.type = 63;
	h.flags = GX_FF_CRC | GX_FF_LAST; /* CRC-32C of nothing is 0 */
	gx_frame_hdr_pack(&h, b);
	gx_decoder *d = gx_decoder_create(NULL);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), 1);
	T_EQ(used, sizeof b);
	gx_decoder_frame(d, &g, &p);
	T_ASSERT(p != NULL);
	T_ASSERT(hdr_eq(&h, &g));
	T_EQ(gx_decoder_pending(d), 0);
	gx_decoder_free(d);
}

static void decoder_truncated(void)
{
	tframe fr[2];
	size_t len, used;
	uint8_t *s = make_stream(fr, 2, 100, &len);
	size_t f0 = GX_FRAME_HDR_SIZE + fr[0].h.payload_len;
	gx_decoder *d = gx_decoder_create(NULL);
	T_EQ(gx_decoder_pending(d), 0);
	T_EQ(gx_decoder_feed(d, s, 1, &used), 0);
	T_ASSERT(gx_decoder_pending(d));
	T_EQ(gx_decoder_feed(d, s + 1, 62, &used), 0);
	T_ASSERT(gx_decoder_pending(d));
	T_EQ(gx_decoder_feed(d, s + 63, 1, &used), fr[0].h.payload_len ? 0 : 1);
	if (fr[0].h.payload_len) {
		T_ASSERT(gx_decoder_pending(d)); /* header done, payload missing */
		T_EQ(gx_decoder_feed(d, s + 64, fr[0].h.payload_len - 1, &used), 0);
		T_ASSERT(gx_decoder_pending(d));
		T_EQ(gx_decoder_feed(d, s + 63 + fr[0].h.payload_len, 1, &used), 1);
	}
	T_EQ(gx_decoder_pending(d), 0);
	T_EQ(gx_decoder_feed(d, s + f0, len - f0 - 1, &used), 0);
	T_ASSERT(gx_decoder_pending(d));
	gx_decoder_reset(d);
	T_EQ(gx_decoder_pending(d), 0);
	gx_decoder_free(d);
	free(s);
	free_frames(fr, 2);
}

static void decoder_crc_mismatch(void)
{
	uint8_t s[GX_FRAME_HDR_SIZE + 40], payload[40];
	gx_frame_hdr h, g;
	size_t used;
	fill(payload, sizeof payload);
	base_hdr(&h);
	h.count = 10;
	h.payload_len = h.raw_len = 40;
	h.payload_crc = gx_crc32c(0, payload, sizeof payload);
	gx_frame_hdr_pack(&h, s);
	memcpy(s + GX_FRAME_HDR_SIZE, payload, sizeof payload);
	gx_decoder *d = gx_decoder_create(NULL);
	T_EQ(gx_decoder_feed(d, s, sizeof s, &used), 1);
	for (size_t i = GX_FRAME_HDR_SIZE; i < sizeof s; i += 7) {
		s[i] ^= 0x10;
		gx_decoder_reset(d);
		T_EQ(gx_decoder_feed(d, s, sizeof s, &used), GX_ECRC);
		T_EQ(used, sizeof s);
		s[i] ^= 0x10;
	}
	/* sticky until reset, and consumes nothing */
	T_EQ(gx_decoder_feed(d, s, sizeof s, &used), GX_ECRC);
	T_EQ(used, 0);
	gx_decoder_frame(d, &g, NULL);
	T_EQ(g.type, 0);
	gx_decoder_reset(d);
	T_EQ(gx_decoder_feed(d, s, sizeof s, &used), 1);
	/* without GX_FF_CRC the payload is not checked */
	h.flags = 0;
	h.payload_crc = 0;
	gx_frame_hdr_pack(&h, s);
	s[GX_FRAME_HDR_SIZE] ^= 1;
	T_EQ(gx_decoder_feed(d, s, sizeof s, &used), 1);
	gx_decoder_free(d);
}

static void decoder_sticky_header_errors(void)
{
	uint8_t s[2 * GX_FRAME_HDR_SIZE];
	gx_frame_hdr h;
	size_t used;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_STATE;
	gx_frame_hdr_pack(&h, s);
	gx_frame_hdr_pack(&h, s + GX_FRAME_HDR_SIZE);
	s[8] ^= 1; /* the key: only the header checksum shows it */
	gx_decoder *d = gx_decoder_create(NULL);
	/* a checksum error comes with the 64th byte, not before */
	for (int i = 0; i < GX_FRAME_HDR_SIZE - 1; i++) {
		T_EQ(gx_decoder_feed(d, s + i, 1, &used), 0);
		T_EQ(used, 1);
	}
	T_EQ(gx_decoder_feed(d, s + 63, 2, &used), GX_EHDRCRC);
	T_EQ(used, 1);
	T_EQ(gx_decoder_feed(d, s + GX_FRAME_HDR_SIZE, GX_FRAME_HDR_SIZE, &used), GX_EHDRCRC);
	T_EQ(used, 0);
	gx_decoder_reset(d);
	/* a bad magic is reported as soon as its 4 bytes are in */
	s[8] ^= 1;
	s[0] = 'g';
	for (int i = 0; i < 3; i++)
		T_EQ(gx_decoder_feed(d, s + i, 1, &used), 0);
	T_EQ(gx_decoder_feed(d, s + 3, 10, &used), GX_EMAGIC);
	T_EQ(used, 1);
	T_EQ(gx_decoder_pending(d), 0);
	gx_decoder_reset(d);
	T_EQ(gx_decoder_feed(d, s + GX_FRAME_HDR_SIZE, GX_FRAME_HDR_SIZE, &used), 1);
	/* argument errors */
	T_EQ(gx_decoder_feed(NULL, s, 1, &used), GX_EINVAL);
	T_EQ(gx_decoder_feed(d, NULL, 1, &used), GX_EINVAL);
	T_EQ(gx_decoder_feed(d, s, 1, NULL), GX_EINVAL);
	T_EQ(gx_decoder_feed(d, NULL, 0, &used), 0);
	gx_decoder_free(d);
	gx_decoder_free(NULL);
	T_EQ(gx_decoder_pending(NULL), 0);
}

/* A header announcing more than the limit is refused as soon as its 64
 * bytes are in: the decoder neither waits for the payload nor allocates. */
static void decoder_refuses_before_alloc(void)
{
	gx_frame_limits lim = { 4096, 1024 };
	gx_frame_hdr h;
	uint8_t b[GX_FRAME_HDR_SIZE];
	size_t used;
	gx_decoder *d = gx_decoder_create(&lim);
	T_REQUIRE(d);
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.payload_len = h.raw_len = GX_DEFAULT_MAX_PAYLOAD;
	gx_frame_hdr_pack(&h, b);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), GX_ETOOBIG);
	T_EQ(used, sizeof b);
	gx_decoder_reset(d);
	h.payload_len = h.raw_len = UINT32_MAX;
	gx_frame_hdr_pack(&h, b);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), GX_ETOOBIG);
	/* zstd bomb: small payload, huge raw_len */
	gx_decoder_reset(d);
	h.flags = GX_FF_ZSTD;
	h.payload_len = 100;
	h.raw_len = 4097;
	gx_frame_hdr_pack(&h, b);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), GX_ETOOBIG);
	/* count over the limit */
	gx_decoder_reset(d);
	h.flags = 0;
	h.codec = GX_CODEC_SPARSE_F16;
	h.count = 1025;
	h.payload_len = h.raw_len = 100;
	gx_frame_hdr_pack(&h, b);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), GX_ETOOBIG);
	/* exactly at the limit is fine */
	gx_decoder_reset(d);
	h.codec = GX_CODEC_NONE;
	h.count = 0;
	h.payload_len = h.raw_len = 4096;
	gx_frame_hdr_pack(&h, b);
	T_EQ(gx_decoder_feed(d, b, sizeof b, &used), 0);
	T_ASSERT(gx_decoder_pending(d));
	gx_decoder_free(d);
}

/* Payload buffers grow and are reused; earlier data never leaks into a
 * later frame's bytes. */
static void decoder_growing_frames(void)
{
	gx_frame_limits lim = { 100000, 1000 };
	gx_decoder *d = gx_decoder_create(&lim);
	uint8_t *s = malloc(GX_FRAME_HDR_SIZE + 100000), *pl = s + GX_FRAME_HDR_SIZE;
	static const uint32_t sizes[] = { 10, 1000, 999, 50000, 3, 100000, 0, 70000, 100000 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		gx_frame_hdr h, g;
		const uint8_t *p;
		size_t used;
		gx_frame_hdr_init(&h);
		h.type = GX_FT_TENSOR;
		h.flags = GX_FF_CRC;
		h.payload_len = h.raw_len = sizes[i];
		fill(pl, sizes[i]);
		h.payload_crc = gx_crc32c(0, pl, sizes[i]);
		gx_frame_hdr_pack(&h, s);
		T_EQ(gx_decoder_feed(d, s, GX_FRAME_HDR_SIZE + sizes[i], &used), 1);
		gx_decoder_frame(d, &g, &p);
		T_ASSERT(hdr_eq(&h, &g));
		T_ASSERT(memcmp(p, pl, sizes[i]) == 0);
	}
	free(s);
	gx_decoder_free(d);
}

/* ------------------------------------------------------------ writer */

static void write_fd_pipe(void)
{
	enum { N = 6 };
	tframe fr[N];
	int fds[2];
	size_t len;
	uint8_t *s = make_stream(fr, N, 200000, &len); /* larger than a pipe buffer */
	free(s);
	T_REQUIRE(pipe(fds) == 0);
	pid_t pid = fork();
	T_REQUIRE(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		for (int i = 0; i < N; i++)
			if (gx_frame_write_fd(fds[1], &fr[i].h, fr[i].payload) != 0)
				_exit(1);
		_exit(0);
	}
	close(fds[1]);
	gx_decoder *d = gx_decoder_create(NULL);
	uint8_t buf[7000];
	int got = 0;
	long r;
	while ((r = gx_read_full(fds[0], buf, sizeof buf)) > 0) {
		size_t pos = 0, used;
		while (pos < (size_t)r) {
			int rc = gx_decoder_feed(d, buf + pos, (size_t)r - pos, &used);
			T_REQUIRE(rc >= 0);
			pos += used;
			if (rc == 1) {
				gx_frame_hdr h;
				const uint8_t *p;
				gx_decoder_frame(d, &h, &p);
				T_REQUIRE(got < N && hdr_eq(&h, &fr[got].h));
				T_ASSERT(memcmp(p, fr[got].payload, h.payload_len) == 0);
				got++;
			}
		}
	}
	T_EQ(r, 0);
	close(fds[0]);
	int st;
	T_REQUIRE(waitpid(pid, &st, 0) == pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	T_EQ(got, N);
	T_EQ(gx_decoder_pending(d), 0);
	gx_decoder_free(d);
	free_frames(fr, N);
}

static void write_fd_errors(void)
{
	gx_frame_hdr h;
	int fds[2];
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.payload_len = h.raw_len = 10;
	T_EQ(gx_frame_write_fd(1, &h, NULL), GX_EINVAL);
	T_EQ(gx_frame_write_fd(1, NULL, "x"), GX_EINVAL);
	errno = 0;
	T_EQ(gx_frame_write_fd(-1, &h, "0123456789"), GX_EIO);
	T_EQ(errno, EBADF);
	T_REQUIRE(pipe(fds) == 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	T_EQ(gx_frame_write_fd(fds[1], &h, "0123456789"), GX_EIO);
	T_EQ(errno, EPIPE);
	close(fds[1]);
}

int main(void)
{
	T_RUN(crc_known_vectors);
	T_RUN(crc_sw_hw_random);
	T_RUN(crc_composes);
	T_RUN(hdr_defaults);
	T_RUN(hdr_layout);
	T_RUN(hdr_roundtrip_random);
	T_RUN(hdr_parse_agrees_with_check);
	T_RUN(bad_magic);
	T_RUN(bad_version);
	T_RUN(bad_hdr_crc);
	T_RUN(bad_reserved);
	T_RUN(bad_type);
	T_RUN(bad_codec);
	T_RUN(bad_flags);
	T_RUN(bad_flags_crc_without_flag);
	T_RUN(too_big_payload);
	T_RUN(too_big_count);
	T_RUN(len_raw_ne_payload);
	T_RUN(len_zstd_empty);
	T_RUN(len_none_count);
	T_RUN(len_f32);
	T_RUN(len_f32_overflow);
	T_RUN(len_f16);
	T_RUN(len_sparse);
	T_RUN(decoder_chunkings_agree);
	T_RUN(decoder_every_split);
	T_RUN(decoder_in_place_agrees);
	T_RUN(decoder_in_place_errors);
	T_RUN(decoder_stops_at_frame_end);
	T_RUN(decoder_borrows_whole_frames);
	T_RUN(decoder_empty_payload);
	T_RUN(decoder_truncated);
	T_RUN(decoder_crc_mismatch);
	T_RUN(decoder_sticky_header_errors);
	T_RUN(decoder_placed_agrees);
	T_RUN(decoder_place_errors);
	T_RUN(decoder_refuses_before_alloc);
	T_RUN(decoder_growing_frames);
	T_RUN(write_fd_pipe);
	T_RUN(write_fd_errors);
	T_DONE();
}
