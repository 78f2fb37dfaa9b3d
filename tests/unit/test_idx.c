/* test_idx.c — the IDX loader: plain and gzip'd files, every malformation
 * with its offset, and Debian's Fashion-MNIST when installed. */
#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

#include "geomx.h"
#include "t.h"

static char dir[] = "/tmp/gx-idx-XXXXXX";

static const char *path(const char *name)
{
	static char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void put(const char *name, const uint8_t *b, size_t n, int gz)
{
	if (gz) {
		gzFile g = gzopen(path(name), "wb");
		gzwrite(g, b, (unsigned)n);
		gzclose(g);
	} else {
		FILE *f = fopen(path(name), "wb");
		fwrite(b, 1, n, f);
		fclose(f);
	}
}

/* A 3x2x2 u8 file: magic, dims 3,2,2, twelve bytes 0..11. */
static size_t sample(uint8_t *b)
{
	const uint8_t h[] = {0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
	memcpy(b, h, sizeof h);
	for (int i = 0; i < 12; i++)
		b[16 + i] = (uint8_t)(i * 20);
	return 28;
}

static void test_plain_and_gzip(void)
{
	uint8_t b[64];
	size_t n = sample(b);
	for (int gz = 0; gz < 2; gz++) {
		put("a", b, n, gz);
		gx_idx x;
		uint64_t off = 99;
		T_REQUIRE(gx_idx_load(path("a"), 0, &x, &off) == 0);
		T_EQ(x.elem_type, 0x08);
		T_EQ(x.ndim, 3);
		T_EQ(x.dims[0], 3);
		T_EQ(x.dims[2], 2);
		T_EQ(x.count, 12);
		T_NEAR(x.data[11], 220, 0);
		T_NEAR(x.data[1], 20, 0);
		gx_idx_release(&x);
		T_ASSERT(x.data == NULL);
	}
}

static void test_types(void)
{
	/* one i16 (-2), one i32 (-70000), one f32 (1.5), one f64 (-0.25) */
	uint8_t b[32] = {0, 0, 0x0B, 1, 0, 0, 0, 1, 0xFF, 0xFE};
	gx_idx x;
	put("i16", b, 10, 0);
	T_REQUIRE(gx_idx_load(path("i16"), 0, &x, NULL) == 0);
	T_NEAR(x.data[0], -2, 0);
	gx_idx_release(&x);
	uint8_t c[] = {0, 0, 0x0C, 1, 0, 0, 0, 1, 0xFF, 0xFE, 0xEE, 0x90};
	put("i32", c, sizeof c, 0);
	T_REQUIRE(gx_idx_load(path("i32"), 0, &x, NULL) == 0);
	T_NEAR(x.data[0], -70000, 0);
	gx_idx_release(&x);
	uint8_t d[] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3F, 0xC0, 0, 0};
	put("f32", d, sizeof d, 0);
	T_REQUIRE(gx_idx_load(path("f32"), 0, &x, NULL) == 0);
	T_NEAR(x.data[0], 1.5, 0);
	gx_idx_release(&x);
	uint8_t e[] = {0, 0, 0x0E, 1, 0, 0, 0, 1, 0xBF, 0xD0, 0, 0, 0, 0, 0, 0};
	put("f64", e, sizeof e, 0);
	T_REQUIRE(gx_idx_load(path("f64"), 0, &x, NULL) == 0);
	T_NEAR(x.data[0], -0.25, 0);
	gx_idx_release(&x);
}

static void expect(const char *name, const uint8_t *b, size_t n, int gz, uint64_t max, int want,
		   uint64_t want_off)
{
	put(name, b, n, gz);
	gx_idx x;
	uint64_t off = 12345;
	int rc = gx_idx_load(path(name), max, &x, &off);
	if (rc != want || off != want_off)
		printf("#   %s (gz %d): rc %d (%s) off %llu, want %d off %llu\n", name, gz, rc,
		       gx_strerror(rc), (unsigned long long)off, want, (unsigned long long)want_off);
	T_EQ(rc, want);
	T_EQ(off, want_off);
	T_ASSERT(x.data == NULL);
}

static void test_malformed(void)
{
	uint8_t b[64], m[64];
	size_t n = sample(b);
	for (int gz = 0; gz < 2; gz++) {
		expect("empty", b, 0, gz, 0, GX_ETRUNC, 0);
		expect("short-magic", b, 3, gz, 0, GX_ETRUNC, 3);
		memcpy(m, b, n);
		m[0] = 1;
		expect("magic", m, n, gz, 0, GX_EFORMAT, 0);
		memcpy(m, b, n);
		m[2] = 0x07;
		expect("type", m, n, gz, 0, GX_EFORMAT, 2);
		memcpy(m, b, n);
		m[3] = 5;
		expect("ndim", m, n, gz, 0, GX_EFORMAT, 3);
		expect("short-dims", b, 10, gz, 0, GX_ETRUNC, 10);
		memcpy(m, b, n);
		m[11] = 0;
		expect("zero-dim", m, n, gz, 0, GX_EFORMAT, 8);
		expect("too-big", b, n, gz, 6, GX_ETOOBIG, 12); /* 3*2 fits, *2 does not */
		expect("short-data", b, n - 5, gz, 0, GX_ETRUNC, n - 5);
		memcpy(m, b, n);
		m[n] = 7;
		expect("trailing", m, n + 1, gz, 0, GX_EFORMAT, n);
	}
	/* A gzip stream cut short: truncated, not merely "ends". */
	put("full.gz", b, n, 1);
	FILE *f = fopen(path("full.gz"), "rb");
	uint8_t z[256];
	size_t zn = fread(z, 1, sizeof z, f);
	fclose(f);
	put("cut.gz", z, zn - 10, 0);
	gx_idx x;
	int rc = gx_idx_load(path("cut.gz"), 0, &x, NULL);
	T_ASSERT(rc == GX_ETRUNC);
	T_ASSERT(gx_idx_load(path("does-not-exist"), 0, &x, NULL) == GX_EIO);
}

static void test_fashion_mnist(void)
{
	const char *p = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
	if (access(p, R_OK) != 0)
		T_SKIP("dataset-fashion-mnist is not installed");
	gx_idx x;
	T_REQUIRE(gx_idx_load(p, 0, &x, NULL) == 0);
	T_EQ(x.ndim, 3);
	T_EQ(x.dims[0], 10000);
	T_EQ(x.dims[1], 28);
	T_EQ(x.dims[2], 28);
	float mx = 0;
	double sum = 0;
	for (uint64_t i = 0; i < x.count; i++) {
		mx = x.data[i] > mx ? x.data[i] : mx;
		sum += x.data[i];
	}
	T_NEAR(mx, 255, 0);
	T_ASSERT(sum / x.count > 50 && sum / x.count < 100); /* mean pixel ~73 */
	gx_idx_release(&x);
	gx_idx l;
	T_REQUIRE(gx_idx_load("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", 0, &l,
			      NULL) == 0);
	T_EQ(l.count, 10000);
	int hist[10] = {0};
	for (uint64_t i = 0; i < l.count; i++)
		hist[(int)l.data[i]]++;
	for (int c = 0; c < 10; c++)
		T_EQ(hist[c], 1000);
	gx_idx_release(&l);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	T_RUN(test_plain_and_gzip);
	T_RUN(test_types);
	T_RUN(test_malformed);
	T_RUN(test_fashion_mnist);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	T_DONE();
}
