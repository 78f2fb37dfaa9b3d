/* test_data.c — datasets: CSV, LIBSVM and IDX loaders on files written
 * here (valid ones and each malformation with its exact message),
 * Fashion-MNIST when installed, shards, shuffling and batches. */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_internal.h"
#include "geomx.h"
#include "t.h"

static char dir[] = "/tmp/gx-data-XXXXXX";

static const char *path(const char *name)
{
	static char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void put(const char *name, const void *b, size_t n, int gz)
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

static void puts_file(const char *name, const char *s)
{
	put(name, s, strlen(s), 0);
}

/* Loads text s as CSV from a file "c.csv"; returns the error code, message in err. */
static int csv(const char *s, int label_col, int header, unsigned flags, gx_dataset *ds,
	       char *err, size_t cap)
{
	puts_file("c.csv", s);
	return gx_dataset_load_csv(path("c.csv"), label_col, header, flags, ds, err, cap);
}

static int svm(const char *s, uint32_t nf, unsigned flags, gx_dataset *ds, char *err,
	       size_t cap)
{
	puts_file("s.svm", s);
	return gx_dataset_load_libsvm(path("s.svm"), nf, flags, ds, err, cap);
}

/* The message after the "DIR/FILE: " prefix, so expectations stay short. */
static const char *msg(const char *err, const char *file)
{
	size_t k = strlen(path(file));
	if (strncmp(err, path(file), k) != 0 || strncmp(err + k, ": ", 2) != 0)
		return err;
	return err + k + 2;
}

#define T_STR(a, b)                                                                          \
	do {                                                                                 \
		const char *t_s_ = (a), *t_e_ = (b);                                         \
		if (strcmp(t_s_, t_e_) != 0) {                                               \
			printf("#   %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, t_s_, t_e_); \
			t_case_failed = 1;                                                   \
		}                                                                            \
	} while (0)

static void test_csv_valid(void)
{
	gx_dataset ds;
	char err[256] = "x";

	/* header auto-detected, label last, CRLF, blank lines, spaces */
	T_REQUIRE(csv("a,b,label\r\n1, 2.5 ,3\r\n\r\n-4,5e-1,0\r\n", -1, -1, 0, &ds, err,
		      sizeof err) == 0);
	T_STR(err, "");
	T_EQ(ds.n, 2);
	T_EQ(ds.d, 2);
	T_EQ(ds.c, 1);
	T_EQ(ds.h, 1);
	T_EQ(ds.w, 2);
	T_EQ(ds.nclasses, 4);
	T_NEAR(ds.x[0], 1, 0);
	T_NEAR(ds.x[1], 2.5, 0);
	T_NEAR(ds.x[2], -4, 0);
	T_NEAR(ds.x[3], 0.5, 0);
	T_NEAR(ds.y[0], 3, 0);
	T_NEAR(ds.y[1], 0, 0);
	gx_dataset_release(&ds);
	T_ASSERT(ds.x == NULL && ds.y == NULL && ds.n == 0);

	/* label first, no header, tab separated, no final newline */
	T_REQUIRE(csv("1\t0.25\t7\n0\t-1\t+8", 0, -1, 0, &ds, err, sizeof err) == 0);
	T_EQ(ds.n, 2);
	T_EQ(ds.d, 2);
	T_EQ(ds.nclasses, 2);
	T_NEAR(ds.x[0], 0.25, 0);
	T_NEAR(ds.x[3], 8, 0);
	T_NEAR(ds.y[0], 1, 0);
	gx_dataset_release(&ds);

	/* semicolons; label in the middle */
	T_REQUIRE(csv("1;2;3\n4;5;6\n", 1, 0, 0, &ds, err, sizeof err) == 0);
	T_EQ(ds.d, 2);
	T_NEAR(ds.x[0], 1, 0);
	T_NEAR(ds.x[1], 3, 0);
	T_NEAR(ds.y[1], 5, 0);
	T_EQ(ds.nclasses, 6);
	gx_dataset_release(&ds);

	/* a forced header is skipped even when numeric */
	T_REQUIRE(csv("9,9\n1,0\n", -1, 1, 0, &ds, err, sizeof err) == 0);
	T_EQ(ds.n, 1);
	gx_dataset_release(&ds);

	/* a UTF-8 byte order mark is skipped: the first row stays data */
	T_REQUIRE(csv("\xEF\xBB\xBF" "1,0\n2,1\n", -1, -1, 0, &ds, err, sizeof err) == 0);
	T_EQ(ds.n, 2);
	T_NEAR(ds.x[0], 1, 0);
	gx_dataset_release(&ds);

	/* regression keeps any finite label */
	T_REQUIRE(csv("1,-2.5\n2,1e3\n", -1, -1, GX_DATA_REGRESSION, &ds, err, sizeof err) == 0);
	T_EQ(ds.nclasses, 0);
	T_NEAR(ds.y[0], -2.5, 0);
	T_NEAR(ds.y[1], 1000, 0);
	gx_dataset_release(&ds);

	/* gzip'd, detected by content */
	const char *s = "x,y\n1,1\n2,0\n3,1\n";
	put("z.csv", s, strlen(s), 1);
	T_REQUIRE(gx_dataset_load_csv(path("z.csv"), -1, -1, 0, &ds, err, sizeof err) == 0);
	T_EQ(ds.n, 3);
	T_NEAR(ds.x[2], 3, 0);
	gx_dataset_release(&ds);
	gx_dataset_release(NULL);
}

static void test_csv_errors(void)
{
	static const struct {
		const char *text;
		int label_col, header;
		unsigned flags;
		int rc;
		const char *msg;
	} c[] = {
		{ "1,2,3\n4,5\n", -1, -1, 0, GX_EFORMAT, "line 2: expected 3 fields, found 2" },
		{ "1,2,3\n4,5,6,7\n", -1, -1, 0, GX_EFORMAT, "line 2: expected 3 fields, found 4" },
		{ "1,2,0\n\n\n1,2\n", -1, -1, 0, GX_EFORMAT, "line 4: expected 3 fields, found 2" },
		{ "1,2,3\n4,,6\n", -1, -1, 0, GX_EFORMAT, "line 2: field 2 is empty" },
		{ "1,2,3,\n", -1, 0, 0, GX_EFORMAT, "line 1: field 4 is empty" },
		{ "1,2,3\n4,abc,6\n", -1, -1, 0, GX_EFORMAT, "line 2: field 2: \"abc\" is not a number" },
		{ "1,2,0\r\n1,x,0\r\n", -1, -1, 0, GX_EFORMAT, "line 2: field 2: \"x\" is not a number" },
		{ "1,inf,0\n", -1, 0, 0, GX_EFORMAT, "line 1: field 2: \"inf\" is not a number" },
		{ "1,nan,0\n", -1, 0, 0, GX_EFORMAT, "line 1: field 2: \"nan\" is not a number" },
		{ "1,0x10,0\n", -1, 0, 0, GX_EFORMAT, "line 1: field 2: \"0x10\" is not a number" },
		{ "1,1 2,0\n", -1, 0, 0, GX_EFORMAT, "line 1: field 2: \"1 2\" is not a number" },
		{ "1,1e39,0\n", -1, 0, 0, GX_EFORMAT,
		  "line 1: field 2: \"1e39\" is out of range for a float" },
		{ "1,2,2.5\n", -1, -1, 0, GX_EFORMAT,
		  "line 1: label 2.5 is not a class index (an integer from 0 to 16777215)" },
		{ "1,2,-1\n", -1, -1, 0, GX_EFORMAT,
		  "line 1: label -1 is not a class index (an integer from 0 to 16777215)" },
		{ "1,2,16777216\n", -1, -1, 0, GX_EFORMAT,
		  "line 1: label 1.67772e+07 is not a class index (an integer from 0 to 16777215)" },
		{ "", -1, -1, 0, GX_EFORMAT, "no samples" },
		{ "\n \r\n", -1, -1, 0, GX_EFORMAT, "no samples" },
		{ "a,b,c\n", -1, -1, 0, GX_EFORMAT, "no samples" },
		{ "a,b,c\n", -1, 0, 0, GX_EFORMAT, "line 1: field 1: \"a\" is not a number" },
		{ "\n5\n", -1, -1, 0, GX_EFORMAT,
		  "line 2: need at least 2 fields (features and a label), found 1" },
		{ "1,2,3\n", 3, -1, 0, GX_EFORMAT, "line 1: label column 3 but only 3 fields" },
		{ "1,2,0\n1,abcdefghijklmnopqrstuvwxyz,0\n", -1, -1, 0, GX_EFORMAT,
		  "line 2: field 2: \"abcdefghijklmnopqrstu...\" is not a number" },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		gx_dataset ds;
		char err[256] = "";
		int rc = csv(c[i].text, c[i].label_col, c[i].header, c[i].flags, &ds, err, sizeof err);
		if (rc != c[i].rc || strcmp(msg(err, "c.csv"), c[i].msg) != 0) {
			printf("#   case %zu: rc %d \"%s\", want %d \"%s\"\n", i, rc, err, c[i].rc,
			       c[i].msg);
			t_case_failed = 1;
		}
		T_ASSERT(ds.x == NULL && ds.y == NULL && ds.n == 0);
	}

	/* a NUL byte is just a bad character */
	gx_dataset ds;
	char err[256];
	put("c.csv", "1,2,0\n1,\0,0\n", 12, 0);
	T_EQ(gx_dataset_load_csv(path("c.csv"), -1, -1, 0, &ds, err, sizeof err), GX_EFORMAT);
	T_STR(msg(err, "c.csv"), "line 2: field 2: \"?\" is not a number");

	/* no such file */
	errno = 0;
	T_EQ(gx_dataset_load_csv(path("none.csv"), -1, -1, 0, &ds, err, sizeof err), GX_EIO);
	T_EQ(errno, ENOENT);
	T_STR(msg(err, "none.csv"), "No such file or directory");

	/* bad arguments */
	T_EQ(csv("1,2\n", -2, -1, 0, &ds, err, sizeof err), GX_EINVAL);
	T_EQ(csv("1,2\n", -1, 2, 0, &ds, err, sizeof err), GX_EINVAL);
	T_EQ(csv("1,2\n", -1, -1, 0x80, &ds, err, sizeof err), GX_EINVAL);

	/* a gzip stream cut short */
	char big[4000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = "0123456789,\n"[i % 12];
	put("t.csv", big, sizeof big, 1);
	struct stat st;
	T_REQUIRE(stat(path("t.csv"), &st) == 0);
	T_REQUIRE(truncate(path("t.csv"), st.st_size - 12) == 0);
	T_EQ(gx_dataset_load_csv(path("t.csv"), -1, -1, 0, &ds, err, sizeof err), GX_ETRUNC);
	char want[64];
	snprintf(want, sizeof want, "gzip stream truncated at byte %lld", (long long)st.st_size - 12);
	T_STR(msg(err, "t.csv"), want);

	/* the value limit (the file loader's is GX_DEFAULT_MAX_COUNT) */
	const char *t = "1,2,0\n3,4,1\n5,6,0\n";
	T_EQ(gx_csv_parse(t, strlen(t), "m.csv", -1, -1, 0, 4, &ds, err, sizeof err), GX_ETOOBIG);
	T_STR(err, "m.csv: line 3: more than 4 feature values");
	T_EQ(gx_csv_parse(t, strlen(t), "m.csv", -1, -1, 0, 6, &ds, err, sizeof err), 0);
	T_EQ(ds.n, 3);
	gx_dataset_release(&ds);

	/* err may be NULL */
	T_EQ(csv("1,x\n", -1, 0, 0, &ds, NULL, 0), GX_EFORMAT);
}

static void test_libsvm_valid(void)
{
	gx_dataset ds;
	char err[256] = "x";

	/* -1/+1 map to classes 0/1; comments; blank lines; tabs; CRLF */
	T_REQUIRE(svm("# header comment\n+1 1:0.5 3:2\r\n\n-1\t2:1   # trailing\n-1\n", 0, 0,
		      &ds, err, sizeof err) == 0);
	T_STR(err, "");
	T_EQ(ds.n, 3);
	T_EQ(ds.d, 3);
	T_EQ(ds.w, 3);
	T_EQ(ds.nclasses, 2);
	const float x[] = { 0.5f, 0, 2, 0, 1, 0, 0, 0, 0 }, y[] = { 1, 0, 0 };
	for (int i = 0; i < 9; i++)
		T_NEAR(ds.x[i], x[i], 0);
	for (int i = 0; i < 3; i++)
		T_NEAR(ds.y[i], y[i], 0);
	gx_dataset_release(&ds);

	/* a given width; class indices as they are */
	T_REQUIRE(svm("2 1:1\n0 4:-3.5e0\n1\n", 6, 0, &ds, err, sizeof err) == 0);
	T_EQ(ds.n, 3);
	T_EQ(ds.d, 6);
	T_EQ(ds.nclasses, 3);
	T_NEAR(ds.x[6 + 3], -3.5, 0);
	T_NEAR(ds.y[0], 2, 0);
	gx_dataset_release(&ds);

	/* all labels +1: class 1 of 2 */
	T_REQUIRE(svm("+1 1:1\n", 0, 0, &ds, err, sizeof err) == 0);
	T_EQ(ds.nclasses, 2);
	T_NEAR(ds.y[0], 1, 0);
	gx_dataset_release(&ds);

	/* no features at all: d = 1 */
	T_REQUIRE(svm("0\n1\n", 0, 0, &ds, err, sizeof err) == 0);
	T_EQ(ds.d, 1);
	T_NEAR(ds.x[1], 0, 0);
	gx_dataset_release(&ds);

	/* a byte order mark */
	T_REQUIRE(svm("\xEF\xBB\xBF" "1 1:2\n", 0, 0, &ds, err, sizeof err) == 0);
	T_NEAR(ds.x[0], 2, 0);
	gx_dataset_release(&ds);

	/* regression */
	T_REQUIRE(svm("-0.75 2:1\n3.25 1:1\n", 0, GX_DATA_REGRESSION, &ds, err, sizeof err) == 0);
	T_EQ(ds.nclasses, 0);
	T_NEAR(ds.y[0], -0.75, 0);
	T_NEAR(ds.y[1], 3.25, 0);
	gx_dataset_release(&ds);
}

static void test_libsvm_errors(void)
{
	static const struct {
		const char *text;
		uint32_t nf;
		unsigned flags;
		int rc;
		const char *msg;
	} c[] = {
		{ "1 1:1\n0 2:1\n1 0:3\n", 0, 0, GX_EFORMAT,
		  "line 3: feature index 0 (indices start at 1)" },
		{ "1 3:1 2:1\n", 0, 0, GX_EFORMAT,
		  "line 1: feature index 2 after 3 (indices must increase)" },
		{ "1 3:1 3:1\n", 0, 0, GX_EFORMAT,
		  "line 1: feature index 3 after 3 (indices must increase)" },
		{ "1 3:1\n1 5:1\n", 4, 0, GX_EFORMAT, "line 2: feature index 5 but only 4 features" },
		{ "abc 1:1\n", 0, 0, GX_EFORMAT, "line 1: label \"abc\" is not a number" },
		{ "1 1:1 7\n", 0, 0, GX_EFORMAT, "line 1: \"7\" is not index:value" },
		{ "1 1:x\n", 0, 0, GX_EFORMAT, "line 1: feature 1: value \"x\" is not a number" },
		{ "1 1:\n", 0, 0, GX_EFORMAT, "line 1: feature 1: value \"\" is not a number" },
		{ "1 1:nan\n", 0, 0, GX_EFORMAT, "line 1: feature 1: value \"nan\" is not a number" },
		{ "1 1:1e40\n", 0, 0, GX_EFORMAT,
		  "line 1: feature 1: value \"1e40\" is out of range for a float" },
		{ "1 qid:3 1:1\n", 0, 0, GX_EFORMAT,
		  "line 1: feature index \"qid\" is not a positive integer" },
		{ "1 -2:1\n", 0, 0, GX_EFORMAT,
		  "line 1: feature index \"-2\" is not a positive integer" },
		{ "1 :1\n", 0, 0, GX_EFORMAT,
		  "line 1: feature index \"\" is not a positive integer" },
		{ "1 99999999999:1\n", 0, 0, GX_EFORMAT,
		  "line 1: feature index \"99999999999\" is too large" },
		{ "1.5 1:1\n", 0, 0, GX_EFORMAT,
		  "line 1: label 1.5 is not a class index (an integer from 0 to 16777215, or -1/+1)" },
		{ "-2 1:1\n", 0, 0, GX_EFORMAT,
		  "line 1: label -2 is not a class index (an integer from 0 to 16777215, or -1/+1)" },
		{ "+1 1:1\n-1 1:1\n\n2 1:1\n", 0, 0, GX_EFORMAT,
		  "line 4: label 2 in a -1/+1 dataset (line 2 has -1)" },
		{ "0 1:1\n-1 1:1\n", 0, 0, GX_EFORMAT,
		  "line 1: label 0 in a -1/+1 dataset (line 2 has -1)" },
		{ "", 0, 0, GX_EFORMAT, "no samples" },
		{ "# only a comment\n\n", 0, 0, GX_EFORMAT, "no samples" },
		{ "1 1:1\n", 0, 0x10, GX_EINVAL, "invalid arguments" },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		gx_dataset ds;
		char err[256] = "";
		int rc = svm(c[i].text, c[i].nf, c[i].flags, &ds, err, sizeof err);
		if (rc != c[i].rc || strcmp(msg(err, "s.svm"), c[i].msg) != 0) {
			printf("#   case %zu: rc %d \"%s\", want %d \"%s\"\n", i, rc, err, c[i].rc,
			       c[i].msg);
			t_case_failed = 1;
		}
		T_ASSERT(ds.x == NULL && ds.y == NULL && ds.n == 0);
	}

	/* the dense size limit: an index past it fails at once, many rows at the end */
	gx_dataset ds;
	char err[256];
	const char *t = "1 1000:1\n";
	T_EQ(gx_libsvm_parse(t, strlen(t), "m.svm", 0, 0, 100, &ds, err, sizeof err), GX_ETOOBIG);
	T_STR(err, "m.svm: line 1: feature index 1000 over the limit of 100 values");
	t = "1 10:1\n1 1:1\n0 1:1\n";
	T_EQ(gx_libsvm_parse(t, strlen(t), "m.svm", 0, 0, 29, &ds, err, sizeof err), GX_ETOOBIG);
	T_STR(err, "m.svm: 3 samples of 10 features exceed the limit of 29 values");
	T_EQ(gx_libsvm_parse(t, strlen(t), "m.svm", 0, 0, 30, &ds, err, sizeof err), 0);
	gx_dataset_release(&ds);
}

/* IDX: 3 images of 2x2 u8 (pixels 0, 51, ..., 255) and 3 u8 labels. */
static void write_idx(const char *img, const char *lab, int gz)
{
	uint8_t b[28] = { 0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2 };
	for (int i = 0; i < 12; i++)
		b[16 + i] = (uint8_t)(i * 255 / 11);
	b[16 + 11] = 255;
	put(img, b, sizeof b, gz);
	uint8_t l[11] = { 0, 0, 0x08, 1, 0, 0, 0, 3, 2, 0, 4 };
	put(lab, l, sizeof l, gz);
}

static void test_idx(void)
{
	gx_dataset ds;
	char err[256] = "x";
	char img[256];

	for (int gz = 0; gz < 2; gz++) {
		write_idx("i.idx", "l.idx", gz);
		snprintf(img, sizeof img, "%s", path("i.idx"));
		T_REQUIRE(gx_dataset_load_idx(img, path("l.idx"), &ds, err, sizeof err) == 0);
		T_STR(err, "");
		T_EQ(ds.n, 3);
		T_EQ(ds.d, 4);
		T_EQ(ds.c, 1);
		T_EQ(ds.h, 2);
		T_EQ(ds.w, 2);
		T_EQ(ds.nclasses, 5);
		T_NEAR(ds.x[0], 0, 0);
		T_NEAR(ds.x[11], 1, 0);
		T_NEAR(ds.x[1], 23.0 / 255, 1e-7);
		T_NEAR(ds.y[2], 4, 0);
		gx_dataset_release(&ds);
	}

	/* truncated images: 27 of 28 bytes */
	write_idx("i.idx", "l.idx", 0);
	snprintf(img, sizeof img, "%s", path("i.idx"));
	T_REQUIRE(truncate(img, 27) == 0);
	T_EQ(gx_dataset_load_idx(img, path("l.idx"), &ds, err, sizeof err), GX_ETRUNC);
	T_STR(msg(err, "i.idx"), "truncated at byte 27 (expected 28 bytes)");
	T_ASSERT(ds.x == NULL && ds.n == 0);
	T_REQUIRE(truncate(img, 10) == 0);
	T_EQ(gx_dataset_load_idx(img, path("l.idx"), &ds, err, sizeof err), GX_ETRUNC);
	T_STR(msg(err, "i.idx"), "truncated at byte 10 (in the IDX header)");

	/* truncated gzip'd images: the offset is in the uncompressed stream */
	uint8_t b[16 + 1000] = { 0, 0, 0x08, 1, 0, 0, 0x03, 0xE8 };
	put("g.idx", b, 8 + 500, 1);
	snprintf(img, sizeof img, "%s", path("g.idx"));
	T_EQ(gx_dataset_load_idx(img, path("l.idx"), &ds, err, sizeof err), GX_ETRUNC);
	T_STR(msg(err, "g.idx"), "truncated at byte 508 (expected 1008 bytes)");

	/* not IDX; trailing bytes */
	put("n.idx", "hello world, not idx", 20, 0);
	snprintf(img, sizeof img, "%s", path("n.idx"));
	T_EQ(gx_dataset_load_idx(img, path("l.idx"), &ds, err, sizeof err), GX_EFORMAT);
	T_STR(msg(err, "n.idx"), "not an IDX file (bad header at byte 0)");
	uint8_t tr[] = { 0, 0, 0x08, 1, 0, 0, 0, 2, 1, 1, 9 };
	put("t.idx", tr, sizeof tr, 0);
	write_idx("i.idx", "l.idx", 0);
	snprintf(img, sizeof img, "%s", path("i.idx"));
	T_EQ(gx_dataset_load_idx(img, path("t.idx"), &ds, err, sizeof err), GX_EFORMAT);
	T_STR(msg(err, "t.idx"), "unexpected data after byte 10 (the header declares 10 bytes)");

	/* labels that disagree with the images */
	uint8_t l2[] = { 0, 0, 0x08, 1, 0, 0, 0, 2, 1, 1 };
	put("l2.idx", l2, sizeof l2, 0);
	T_EQ(gx_dataset_load_idx(img, path("l2.idx"), &ds, err, sizeof err), GX_EFORMAT);
	T_ASSERT(strstr(err, "expected 3 labels in one dimension for ") != NULL);
	T_ASSERT(strstr(err, "found 2 in 1") != NULL);
	uint8_t l3[] = { 0, 0, 0x0B, 1, 0, 0, 0, 3, 0, 1, 0xFF, 0xFF, 0, 2 };
	put("l3.idx", l3, sizeof l3, 0);
	T_EQ(gx_dataset_load_idx(img, path("l3.idx"), &ds, err, sizeof err), GX_EFORMAT);
	T_STR(msg(err, "l3.idx"), "byte 10: label -1 is not a class index");
	uint8_t i1[] = { 0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2, 3 };
	put("i1.idx", i1, sizeof i1, 0);
	snprintf(img, sizeof img, "%s", path("i1.idx"));
	T_EQ(gx_dataset_load_idx(img, path("l.idx"), &ds, err, sizeof err), GX_EFORMAT);
	T_STR(msg(err, "i1.idx"), "images need 2 to 4 dimensions, found 1");
	T_EQ(gx_dataset_load_idx(path("none"), path("l.idx"), &ds, err, sizeof err), GX_EIO);
	T_STR(msg(err, "none"), "No such file or directory");
}

static void test_fashion_mnist(void)
{
	gx_dataset ds;
	char err[512];

	T_EQ(gx_dataset_fashion_mnist(path("nothing"), 1, &ds, err, sizeof err), GX_EIO);
	T_ASSERT(strstr(err, "train-images-idx3-ubyte.gz: No such file or directory (Debian "
			     "package dataset-fashion-mnist)") != NULL);
	if (access(GX_FASHION_MNIST_DIR "/t10k-labels-idx1-ubyte.gz", R_OK) != 0)
		T_SKIP("dataset-fashion-mnist is not installed");
	static const uint64_t want[2] = { 10000, 60000 };
	for (int train = 0; train < 2; train++) {
		T_REQUIRE(gx_dataset_fashion_mnist(NULL, train, &ds, err, sizeof err) == 0);
		T_EQ(ds.n, want[train]);
		T_EQ(ds.d, 784);
		T_EQ(ds.c, 1);
		T_EQ(ds.h, 28);
		T_EQ(ds.w, 28);
		T_EQ(ds.nclasses, 10);
		float lo = 1, hi = 0;
		for (uint64_t i = 0; i < ds.n * ds.d; i++) {
			lo = ds.x[i] < lo ? ds.x[i] : lo;
			hi = ds.x[i] > hi ? ds.x[i] : hi;
		}
		T_NEAR(lo, 0, 0);
		T_NEAR(hi, 1, 0);
		uint64_t per[10] = { 0 };
		for (uint64_t i = 0; i < ds.n; i++)
			per[(int)ds.y[i]]++;
		for (int k = 0; k < 10; k++)
			T_EQ(per[k], ds.n / 10); /* Fashion-MNIST is balanced */
		gx_dataset_release(&ds);
	}
}

/* A classification dataset of n samples, d = 2: x = (i, -i), y = label(i). */
static void make(gx_dataset *ds, uint64_t n, uint32_t nclasses, int spread)
{
	memset(ds, 0, sizeof *ds);
	ds->n = n;
	ds->d = 2;
	ds->c = ds->h = 1;
	ds->w = 2;
	ds->nclasses = nclasses;
	ds->x = malloc((n ? n : 1) * 2 * sizeof(float));
	ds->y = malloc((n ? n : 1) * sizeof(float));
	for (uint64_t i = 0; i < n; i++) {
		ds->x[2 * i] = (float)i;
		ds->x[2 * i + 1] = -(float)i;
		ds->y[i] = (float)(spread ? (i * 7) % nclasses : i % nclasses);
	}
}

static void test_shard_contiguous(void)
{
	for (uint64_t n = 0; n <= 23; n += 1) {
		gx_dataset ds;
		make(&ds, n, 3, 0);
		for (uint32_t k = 1; k <= 9; k++) {
			uint64_t next = 0, lo = UINT64_MAX, hi = 0;
			for (uint32_t i = 0; i < k; i++) {
				gx_dataset s;
				T_REQUIRE(gx_dataset_shard(&ds, i, k, 0, &s) == 0);
				T_EQ(s.d, 2);
				T_EQ(s.nclasses, 3);
				T_EQ(s.w, 2);
				lo = s.n < lo ? s.n : lo;
				hi = s.n > hi ? s.n : hi;
				if (s.n == 0)
					T_ASSERT(s.x == NULL && s.y == NULL);
				/* contiguous, in order: together they are the dataset */
				for (uint64_t j = 0; j < s.n; j++, next++) {
					T_NEAR(s.x[2 * j], (float)next, 0);
					T_NEAR(s.x[2 * j + 1], -(float)next, 0);
					T_NEAR(s.y[j], ds.y[next], 0);
				}
				gx_dataset_release(&s);
			}
			T_EQ(next, n);
			T_ASSERT(hi - lo <= 1);
		}
		gx_dataset_release(&ds);
	}
	gx_dataset ds, s;
	make(&ds, 5, 3, 0);
	T_EQ(gx_dataset_shard(&ds, 2, 2, 0, &s), GX_EINVAL);
	T_EQ(gx_dataset_shard(&ds, 0, 0, 0, &s), GX_EINVAL);
	T_EQ(gx_dataset_shard(NULL, 0, 1, 0, &s), GX_EINVAL);
	T_ASSERT(s.x == NULL && s.n == 0);
	gx_dataset_release(&ds);
}

static void test_shard_by_class(void)
{
	uint32_t lo, hi;
	/* the documented ranges: 10 classes over 3 shards */
	T_REQUIRE(gx_dataset_shard_classes(10, 0, 3, &lo, &hi) == 0);
	T_EQ(lo, 0);
	T_EQ(hi, 3);
	T_REQUIRE(gx_dataset_shard_classes(10, 1, 3, &lo, &hi) == 0);
	T_EQ(lo, 3);
	T_EQ(hi, 6);
	T_REQUIRE(gx_dataset_shard_classes(10, 2, 3, &lo, &hi) == 0);
	T_EQ(lo, 6);
	T_EQ(hi, 10);
	T_EQ(gx_dataset_shard_classes(10, 0, 11, &lo, &hi), GX_EINVAL);
	T_EQ(gx_dataset_shard_classes(10, 3, 3, &lo, &hi), GX_EINVAL);

	gx_dataset ds;
	make(&ds, 1000, 10, 1);
	for (uint32_t k = 1; k <= 10; k++) {
		uint64_t total = 0;
		uint32_t covered = 0;
		for (uint32_t i = 0; i < k; i++) {
			gx_dataset s;
			T_REQUIRE(gx_dataset_shard(&ds, i, k, 1, &s) == 0);
			T_REQUIRE(gx_dataset_shard_classes(10, i, k, &lo, &hi) == 0);
			T_ASSERT(lo == covered && hi > lo);
			covered = hi;
			T_EQ(s.nclasses, 10);
			/* exactly the samples of [lo, hi), in their order */
			uint64_t j = 0;
			for (uint64_t t = 0; t < ds.n; t++) {
				if (ds.y[t] < (float)lo || ds.y[t] >= (float)hi)
					continue;
				T_REQUIRE(j < s.n);
				T_NEAR(s.x[2 * j], ds.x[2 * t], 0);
				T_NEAR(s.y[j], ds.y[t], 0);
				j++;
			}
			T_EQ(j, s.n);
			total += s.n;
			gx_dataset_release(&s);
		}
		T_EQ(covered, 10);
		T_EQ(total, ds.n);
	}
	gx_dataset s;
	T_EQ(gx_dataset_shard(&ds, 0, 11, 1, &s), GX_EINVAL);
	ds.nclasses = 0;
	T_EQ(gx_dataset_shard(&ds, 0, 1, 1, &s), GX_EINVAL);
	gx_dataset_release(&ds);
}

static void test_shuffle(void)
{
	enum { N = 1000 };
	static uint32_t a[N], b[N], c[N];
	static uint8_t seen[N];

	T_REQUIRE(gx_shuffle_indices(a, N, 42, 0) == 0);
	T_REQUIRE(gx_shuffle_indices(b, N, 42, 0) == 0);
	T_ASSERT(memcmp(a, b, sizeof a) == 0);
	/* a permutation */
	for (int i = 0; i < N; i++) {
		T_REQUIRE(a[i] < N);
		T_ASSERT(!seen[a[i]]);
		seen[a[i]] = 1;
	}
	/* another epoch, another seed: another order (and not the identity) */
	T_REQUIRE(gx_shuffle_indices(c, N, 42, 1) == 0);
	T_ASSERT(memcmp(a, c, sizeof a) != 0);
	T_REQUIRE(gx_shuffle_indices(c, N, 43, 0) == 0);
	T_ASSERT(memcmp(a, c, sizeof a) != 0);
	int fixed = 0;
	for (int i = 0; i < N; i++)
		fixed += a[i] == (uint32_t)i;
	T_ASSERT(fixed < 10);
	/* epoch 5 does not depend on having computed epochs 0..4 */
	T_REQUIRE(gx_shuffle_indices(b, N, 42, 5) == 0);
	for (int e = 0; e < 5; e++)
		T_REQUIRE(gx_shuffle_indices(c, N, 42, (uint64_t)e) == 0);
	T_REQUIRE(gx_shuffle_indices(c, N, 42, 5) == 0);
	T_ASSERT(memcmp(b, c, sizeof b) == 0);
	/* small and bad sizes */
	T_EQ(gx_shuffle_indices(NULL, 0, 1, 0), 0);
	T_EQ(gx_shuffle_indices(a, 1, 1, 0), 0);
	T_EQ(a[0], 0);
	T_EQ(gx_shuffle_indices(NULL, 5, 1, 0), GX_EINVAL);
	T_EQ(gx_shuffle_indices(a, (1ull << 32) + 1, 1, 0), GX_EINVAL);
	/* every position sees many values over epochs (no stuck element) */
	uint32_t first[N] = { 0 };
	for (int e = 0; e < 200; e++) {
		gx_shuffle_indices(c, 10, 7, (uint64_t)e);
		first[c[0]]++;
	}
	for (int v = 0; v < 10; v++)
		T_ASSERT(first[v] > 5);
}

static void test_gather(void)
{
	gx_dataset ds;
	make(&ds, 10, 4, 0);
	uint32_t idx[3] = { 9, 0, 4 };
	float x[6], y[3];
	T_REQUIRE(gx_dataset_gather(&ds, idx, 3, x, y) == 0);
	T_NEAR(x[0], 9, 0);
	T_NEAR(x[1], -9, 0);
	T_NEAR(x[2], 0, 0);
	T_NEAR(x[4], 4, 0);
	T_NEAR(y[0], 1, 0);
	T_NEAR(y[2], 0, 0);
	T_REQUIRE(gx_dataset_gather(&ds, idx, 3, x, NULL) == 0);
	idx[1] = 10;
	T_EQ(gx_dataset_gather(&ds, idx, 3, x, y), GX_EINVAL);
	gx_dataset_release(&ds);
}

/* The number syntax on its own. */
static void test_number(void)
{
	static const struct {
		const char *s;
		int rc;
		float v;
	} c[] = {
		{ "0", 0, 0 },
		{ "-0.5", 0, -0.5f },
		{ "+3", 0, 3 },
		{ ".5", 0, 0.5f },
		{ "5.", 0, 5 },
		{ "1e3", 0, 1000 },
		{ "1E-2", 0, 0.01f },
		{ "1e-50", 0, 0 },
		{ "", GX_EFORMAT, 0 },
		{ "-", GX_EFORMAT, 0 },
		{ ".", GX_EFORMAT, 0 },
		{ "e5", GX_EFORMAT, 0 },
		{ "1e", GX_EFORMAT, 0 },
		{ "1e+", GX_EFORMAT, 0 },
		{ " 1", GX_EFORMAT, 0 },
		{ "1 ", GX_EFORMAT, 0 },
		{ "inf", GX_EFORMAT, 0 },
		{ "NaN", GX_EFORMAT, 0 },
		{ "0x1p3", GX_EFORMAT, 0 },
		{ "1,5", GX_EFORMAT, 0 },
		{ "--1", GX_EFORMAT, 0 },
		{ "1e39", GX_ETOOBIG, 0 },
		{ "-1e39", GX_ETOOBIG, 0 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		float v = -99;
		int rc = gx_data_number(c[i].s, strlen(c[i].s), &v);
		if (rc != c[i].rc || (rc == 0 && v != c[i].v)) {
			printf("#   \"%s\": rc %d value %g\n", c[i].s, rc, (double)v);
			t_case_failed = 1;
		}
	}
	char longnum[GX_DATA_MAX_TOKEN + 2];
	memset(longnum, '1', sizeof longnum);
	longnum[0] = '0';
	longnum[1] = '.';
	float v;
	T_EQ(gx_data_number(longnum, GX_DATA_MAX_TOKEN, &v), 0);
	T_EQ(gx_data_number(longnum, GX_DATA_MAX_TOKEN + 1, &v), GX_EFORMAT);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		printf("not ok mkdtemp\n");
		return 1;
	}
	T_RUN(test_number);
	T_RUN(test_csv_valid);
	T_RUN(test_csv_errors);
	T_RUN(test_libsvm_valid);
	T_RUN(test_libsvm_errors);
	T_RUN(test_idx);
	T_RUN(test_fashion_mnist);
	T_RUN(test_shard_contiguous);
	T_RUN(test_shard_by_class);
	T_RUN(test_shuffle);
	T_RUN(test_gather);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	T_DONE();
}
