/* test_ef_state.c — error-feedback state files: what gx_ef_state_write
 * writes, gx_ef_state_read and gx_ef_state_load give back bit for bit, and a
 * cut or damaged file is refused with the error that names the damage. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "geomx.h"
#include "t.h"

enum { N1 = 1000, N2 = 37 };

/* A file of the states of two tensors: (7, 0) with momentum, (9, 2) without. */
struct file {
	int fd;
	gx_ef *a, *b;
	long len;
};

static void fill(gx_ef *ef, gx_rng *r)
{
	float *v = gx_ef_residual(ef), *u = gx_ef_velocity(ef);
	uint64_t n = gx_ef_count(ef);
	for (uint64_t i = 0; i < n; i++) {
		uint32_t bits = (uint32_t)gx_rng_next(r); /* every pattern: NaNs, -0, subnormals */
		memcpy(&v[i], &bits, 4);
		if (u)
			u[i] = gx_rng_normal(r);
	}
}

static int make_file(struct file *f)
{
	gx_rng r;
	gx_rng_seed(&r, 77);
	f->a = gx_ef_create(N1, 0.9f);
	f->b = gx_ef_create(N2, 0.0f);
	FILE *tf = tmpfile();
	if (!f->a || !f->b || !tf)
		return -1;
	f->fd = dup(fileno(tf));
	fclose(tf);
	fill(f->a, &r);
	fill(f->b, &r);
	if (gx_ef_state_write(f->fd, 7, 0, f->a) || gx_ef_state_write(f->fd, 9, 2, f->b))
		return -1;
	f->len = (long)lseek(f->fd, 0, SEEK_END);
	return 0;
}

static void free_file(struct file *f)
{
	gx_ef_free(f->a);
	gx_ef_free(f->b);
	if (f->fd >= 0)
		close(f->fd);
}

/* The callback of the read-back: loads into the matching fresh state. */
struct back {
	gx_ef *a, *b;
	int frames;
	gx_frame_hdr h[4];
};

static int load_cb(void *arg, const gx_frame_hdr *h, const uint8_t *p)
{
	struct back *k = arg;
	if (k->frames < 4)
		k->h[k->frames] = *h;
	k->frames++;
	gx_ef *ef = h->key == 7 && h->block == 0 ? k->a : h->key == 9 && h->block == 2 ? k->b : NULL;
	if (!ef)
		return 99;
	return gx_ef_state_load(NULL, ef, h, p);
}

static int read_back(int fd, const gx_frame_limits *lim, struct back *k, gx_ef_state_pos *pos)
{
	memset(k, 0, sizeof *k);
	k->a = gx_ef_create(N1, 0.9f);
	k->b = gx_ef_create(N2, 0.0f);
	if (!k->a || !k->b)
		return GX_ENOMEM;
	lseek(fd, 0, SEEK_SET);
	return gx_ef_state_read(fd, lim, load_cb, k, pos);
}

static void back_free(struct back *k)
{
	gx_ef_free(k->a);
	gx_ef_free(k->b);
}

static void test_roundtrip(void)
{
	struct file f = { .fd = -1 };
	struct back k;
	T_REQUIRE(make_file(&f) == 0);
	/* Three frames: (7, 0) residual and velocity, (9, 2) residual. */
	T_EQ(f.len, 3 * 64 + 4 * (2 * N1 + N2));
	gx_ef_state_pos pos;
	int r = read_back(f.fd, NULL, &k, &pos);
	T_EQ(r, 0);
	T_EQ(k.frames, 3);
	T_EQ(pos.frame, 4);
	T_EQ(pos.off, f.len);
	T_ASSERT(memcmp(gx_ef_residual(k.a), gx_ef_residual(f.a), N1 * 4) == 0);
	T_ASSERT(memcmp(gx_ef_velocity(k.a), gx_ef_velocity(f.a), N1 * 4) == 0);
	T_ASSERT(memcmp(gx_ef_residual(k.b), gx_ef_residual(f.b), N2 * 4) == 0);
	/* The encoding: dense F32 with the payload checksum, channel 0 then 1. */
	static const int chan[3] = { 0, 1, 0 };
	for (int i = 0; i < 3 && i < k.frames; i++) {
		T_EQ(k.h[i].type, GX_FT_STATE);
		T_EQ(k.h[i].codec, GX_CODEC_F32);
		T_EQ(k.h[i].flags, GX_FF_CRC);
		T_EQ(k.h[i].channel, chan[i]);
		T_EQ(k.h[i].payload_len, k.h[i].count * 4);
		T_EQ(k.h[i].sender, 0);
		T_EQ(k.h[i].seq, 0);
		T_EQ(k.h[i].round, 0);
	}
	T_EQ(k.h[2].key, 9);
	T_EQ(k.h[2].block, 2);
	back_free(&k);
	/* An empty file is an empty state. */
	FILE *tf = tmpfile();
	T_REQUIRE(tf);
	T_EQ(read_back(fileno(tf), NULL, &k, NULL), 0);
	T_EQ(k.frames, 0);
	back_free(&k);
	fclose(tf);
	free_file(&f);
}

static void test_refused(void)
{
	struct file f = { .fd = -1 };
	struct back k;
	gx_ef_state_pos pos;
	T_REQUIRE(make_file(&f) == 0);
	long first = 64 + 4 * N1;
	uint8_t *img = malloc((size_t)f.len);
	T_REQUIRE(img);
	lseek(f.fd, 0, SEEK_SET);
	T_REQUIRE(gx_read_full(f.fd, img, (size_t)f.len) == f.len);

	/* Cut inside the second frame's header and inside its payload. */
	static const long cuts[] = { 1, 63, 64, 65, 64 + 4 * N1 - 1 };
	for (int i = 0; i < 5; i++) {
		lseek(f.fd, 0, SEEK_SET);
		T_REQUIRE(write(f.fd, img, (size_t)f.len) == f.len);
		T_REQUIRE(ftruncate(f.fd, first + cuts[i]) == 0);
		T_EQ(read_back(f.fd, NULL, &k, &pos), GX_ETRUNC);
		T_EQ(pos.frame, 2);
		T_EQ(pos.off, first);
		T_EQ(k.frames, 1);
		back_free(&k);
	}
	lseek(f.fd, 0, SEEK_SET);
	T_REQUIRE(write(f.fd, img, (size_t)f.len) == f.len);
	T_REQUIRE(ftruncate(f.fd, f.len - 1) == 0);
	T_EQ(read_back(f.fd, NULL, &k, &pos), GX_ETRUNC);
	T_EQ(pos.frame, 3);
	back_free(&k);

	/* A flipped payload bit: the checksum; a flipped header bit: its own. */
	lseek(f.fd, 0, SEEK_SET);
	img[64 + 5] ^= 0x10;
	T_REQUIRE(write(f.fd, img, (size_t)f.len) == f.len);
	T_EQ(read_back(f.fd, NULL, &k, &pos), GX_ECRC);
	T_EQ(pos.frame, 1);
	T_EQ(k.frames, 0);
	T_ASSERT(gx_ef_residual(k.a)[0] == 0.0f && gx_ef_residual(k.a)[N1 - 1] == 0.0f);
	back_free(&k);
	img[64 + 5] ^= 0x10;
	img[first + 8] ^= 1; /* the second frame's key */
	lseek(f.fd, 0, SEEK_SET);
	T_REQUIRE(write(f.fd, img, (size_t)f.len) == f.len);
	T_EQ(read_back(f.fd, NULL, &k, &pos), GX_EHDRCRC);
	T_EQ(pos.frame, 2);
	back_free(&k);
	img[first + 8] ^= 1;

	/* Above the limits: refused before anything is allocated. */
	lseek(f.fd, 0, SEEK_SET);
	T_REQUIRE(write(f.fd, img, (size_t)f.len) == f.len);
	gx_frame_limits lim;
	gx_frame_limits_default(&lim);
	lim.max_count = N1 - 1;
	T_EQ(read_back(f.fd, &lim, &k, &pos), GX_ETOOBIG);
	T_EQ(pos.frame, 1);
	back_free(&k);

	/* Not a state file: a tensor frame, and bytes that are not frames. */
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.codec = GX_CODEC_F32;
	h.count = 2;
	h.payload_len = h.raw_len = 8;
	const float two[2] = { 1, 2 };
	T_REQUIRE(ftruncate(f.fd, 0) == 0);
	lseek(f.fd, 0, SEEK_SET);
	T_REQUIRE(gx_frame_write_fd(f.fd, &h, two) == 0);
	T_EQ(read_back(f.fd, NULL, &k, &pos), GX_EFORMAT);
	T_EQ(pos.h.type, GX_FT_TENSOR);
	T_EQ(k.frames, 0);
	back_free(&k);
	T_REQUIRE(ftruncate(f.fd, 0) == 0);
	lseek(f.fd, 0, SEEK_SET);
	T_REQUIRE(write(f.fd, "hello, world\n", 13) == 13);
	T_EQ(read_back(f.fd, NULL, &k, &pos), GX_EMAGIC);
	back_free(&k);

	/* The callback's value stops the reading: key 8 is not expected. */
	lseek(f.fd, 0, SEEK_SET);
	T_REQUIRE(ftruncate(f.fd, 0) == 0);
	T_REQUIRE(gx_ef_state_write(f.fd, 8, 0, f.b) == 0);
	T_EQ(read_back(f.fd, NULL, &k, &pos), 99);
	back_free(&k);
	free(img);
	free_file(&f);
}

static void test_load_checks(void)
{
	gx_ef *m = gx_ef_create(4, 0.5f), *p = gx_ef_create(4, 0.0f), *q = gx_ef_create(5, 0.0f);
	T_REQUIRE(m && p && q);
	const float v[4] = { 1, -2, 3.5f, -0.0f };
	memcpy(gx_ef_residual(m), v, sizeof v);
	memcpy(gx_ef_velocity(m), v, sizeof v);
	FILE *tf = tmpfile();
	T_REQUIRE(tf);
	int fd = fileno(tf);
	T_EQ(gx_ef_state_write(fd, 1, 0, m), 0);
	T_EQ(gx_ef_state_write(fd, 1, 0, NULL), GX_EINVAL);
	T_EQ(gx_ef_state_write(-1, 1, 0, m), GX_EIO);
	uint8_t buf[2 * (64 + 16)];
	lseek(fd, 0, SEEK_SET);
	T_REQUIRE(gx_read_full(fd, buf, sizeof buf) == (long)sizeof buf);
	gx_frame_hdr h0, h1;
	T_EQ(gx_frame_hdr_parse(buf, NULL, &h0), 0);
	T_EQ(gx_frame_hdr_parse(buf + 80, NULL, &h1), 0);
	T_EQ(gx_ef_state_check(&h0), 0);
	T_EQ(gx_ef_state_check(&h1), 0);
	/* A velocity needs a state with momentum; the count must agree. */
	T_EQ(gx_ef_state_load(NULL, p, &h1, buf + 144), GX_EFORMAT);
	T_EQ(gx_ef_state_load(NULL, q, &h0, buf + 64), GX_ELENGTH);
	T_EQ(gx_ef_state_load(NULL, NULL, &h0, buf + 64), GX_EINVAL);
	T_EQ(gx_ef_state_load(NULL, p, &h0, buf + 64), 0);
	T_ASSERT(memcmp(gx_ef_residual(p), v, sizeof v) == 0);
	gx_frame_hdr bad = h0;
	bad.channel = 2;
	T_EQ(gx_ef_state_check(&bad), GX_EFORMAT);
	bad = h0;
	bad.type = GX_FT_TENSOR;
	T_EQ(gx_ef_state_load(NULL, p, &bad, buf + 64), GX_EFORMAT);
	bad = h0;
	bad.codec = GX_CODEC_NONE;
	T_EQ(gx_ef_state_check(&bad), GX_EFORMAT);
	T_EQ(gx_ef_state_check(NULL), GX_EFORMAT);
	fclose(tf);
	gx_ef_free(m);
	gx_ef_free(p);
	gx_ef_free(q);
}

int main(void)
{
	T_RUN(test_roundtrip);
	T_RUN(test_refused);
	T_RUN(test_load_checks);
	T_DONE();
}
