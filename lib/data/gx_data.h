/*
 * data/gx_data.h — datasets: IDX, CSV and LIBSVM loaders, sharding,
 * shuffling.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_DATA_H
#define GX_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "../base/gx_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------------- data */

/* IDX files (the MNIST format: magic 0x0000TTNN, big-endian dims, big-endian
 * elements), gzip'd or not (detected by content, not name). Elements are
 * converted to float without scaling. */
typedef struct gx_idx {
	uint8_t elem_type; /* 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 */
	uint8_t ndim;      /* 1..4 */
	uint32_t dims[4];  /* dims[0] is the number of items */
	uint64_t count;    /* product of dims */
	float *data;       /* count floats; owned, released by gx_idx_release */
} gx_idx;

/* Loads path into *out, refusing files whose element count exceeds max_count
 * (0 means GX_DEFAULT_MAX_COUNT) before allocating. Returns 0, GX_EIO (errno
 * set), GX_EFORMAT (bad magic, type or dims), GX_ETRUNC (file ends early) or
 * GX_ETOOBIG. On a format or truncation error *err_offset (may be NULL) gets
 * the byte offset, in the uncompressed stream, where the problem is. */
int gx_idx_load(const char *path, uint64_t max_count, gx_idx *out, uint64_t *err_offset);
/* Frees out->data and zeroes *out. Accepts a zeroed gx_idx. */
void gx_idx_release(gx_idx *x);

/* ----------------------------------------------------------------- datasets */

/*
 * A dataset: n samples of d float features, row-major, and one float label
 * per sample. Classification labels are class indices 0..nclasses-1 (stored
 * as exact small integers in floats); nclasses == 0 marks a regression
 * dataset whose labels are arbitrary finite values. Formats, sharding and
 * shuffling rules: docs/data.md.
 *
 * Loaders fill a caller-provided gx_dataset (zeroed on failure; nothing to
 * release then) and return 0 or a negative gx_error: GX_EIO (errno set:
 * cannot open/read), GX_EFORMAT (malformed content), GX_ETRUNC (an IDX file
 * or a gzip stream ends early), GX_ETOOBIG (more than GX_DATA_MAX_TEXT bytes
 * of text, or more than GX_DEFAULT_MAX_COUNT values n*d), GX_ENOMEM,
 * GX_EINVAL. On failure err (errcap bytes, may be NULL/0) receives one line
 * without a newline naming the file and the place, e.g.
 *   "data.csv: line 17: expected 785 fields, found 784"
 *   "x.libsvm: line 3: feature index 0 (indices start at 1)"
 *   "train-images.gz: truncated at byte 1234 (expected 47040016 bytes)"
 * and on success an empty string. Line numbers are 1-based and count every
 * line of the (decompressed) file. Text files may be gzip'd (detected by
 * content). Loaders are thread-safe (no shared state); numbers are parsed in
 * the "C" locale's format whatever the process locale.
 */
typedef struct gx_dataset {
	uint64_t n;        /* samples */
	uint32_t d;        /* features per sample, >= 1 */
	uint32_t c, h, w;  /* image shape with c*h*w == d when known, else 1, 1, d */
	uint32_t nclasses; /* labels are 0..nclasses-1; 0 = regression (any finite label) */
	float *x;          /* n*d features, sample i at x + i*d; owned (gx_dataset_release) */
	float *y;          /* n labels; owned */
} gx_dataset;

/* Largest text file (after gunzip) the CSV / LIBSVM loaders accept. */
#define GX_DATA_MAX_TEXT (1ull << 31) /* 2 GiB */
/* Where Debian's dataset-fashion-mnist package installs its files. */
#define GX_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Loader flags. */
enum gx_data_flag {
	GX_DATA_REGRESSION = 1u << 0 /* labels are values, not classes: nclasses = 0 */
};

/* IDX images + labels (gx_idx_load's rules: gzip'd or not). images has 2..4
 * dims: (n, d), (n, h, w) or (n, c, h, w); labels has one dim n, integral
 * non-negative values (nclasses = max + 1). Unsigned-byte images are scaled
 * by 1/255 into [0, 1]; other element types are kept as stored. */
int gx_dataset_load_idx(const char *images, const char *labels, gx_dataset *out, char *err,
			size_t errcap);

/* Fashion-MNIST from dir (NULL: GX_FASHION_MNIST_DIR; programs pass the
 * GEOMX_FASHION_MNIST environment variable or their flag here), the 60000
 * training samples (train != 0) or the 10000 test samples: 784 features in
 * [0, 1], shape 1x28x28, 10 classes. Files are
 * {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. */
int gx_dataset_fashion_mnist(const char *dir, int train, gx_dataset *out, char *err,
			     size_t errcap);

/* CSV: one sample per line; fields separated by ',' (or, when the first line
 * has no comma, by tab, else by ';'); spaces around a field ignored; CRLF
 * accepted; blank lines and a leading UTF-8 byte order mark skipped; no
 * quoting. label_col is the 0-based column of the label, -1 = the last; the
 * other columns are the features in order. header: 1 = the first line is a
 * header (skipped), 0 = none, -1 = auto (a header when any of its fields is
 * not a number). Every field must be a finite decimal number ([+-]digits
 * [.digits][e[+-]digits]; empty fields, garbage, hex, inf, nan and overflow
 * are errors) and every line must have as many fields as the first. Labels
 * must be non-negative integers below 2^24 (nclasses = max + 1) unless
 * flags has GX_DATA_REGRESSION. */
int gx_dataset_load_csv(const char *path, int label_col, int header, unsigned flags,
			gx_dataset *out, char *err, size_t errcap);

/* LIBSVM / SVMlight: "label idx:val idx:val ... [# comment]" per line,
 * tokens separated by spaces or tabs, indices 1-based and strictly
 * increasing, missing features 0, numbers as for CSV; '#' starts a comment;
 * blank lines and a leading UTF-8 byte order mark are skipped; "qid:" is
 * not supported. nfeatures 0 infers d as the largest index (at least 1),
 * else d = nfeatures and a larger index is an error. Classification
 * labels: if any label is -1, every label must be -1 or +1, mapped to
 * classes 0 and 1; otherwise labels must be non-negative integers below
 * 2^24 and are used as class indices (nclasses = max + 1, so 1-based
 * labels leave class 0 empty). GX_DATA_REGRESSION keeps labels as values. */
int gx_dataset_load_libsvm(const char *path, uint32_t nfeatures, unsigned flags,
			   gx_dataset *out, char *err, size_t errcap);

/* Shard i of n (0 <= i < n) of in, as an independent copy in *out (release
 * both). Samples keep their order; out keeps in's d, shape and nclasses (so
 * every shard agrees on the model's output size).
 *  by_class == 0: contiguous, samples [floor(i*N/n), floor((i+1)*N/n)) of
 *    N; shard sizes differ by at most 1; some are empty when N < n (an
 *    empty shard has n == 0 and x == y == NULL).
 *  by_class != 0 (non-IID): the classes are cut into n contiguous ranges,
 *    shard i gets the samples whose label is in
 *    [floor(i*C/n), floor((i+1)*C/n)) of C = nclasses (see
 *    gx_dataset_shard_classes); requires a classification dataset and
 *    n <= nclasses, so every shard has at least one class (a class with
 *    no samples can still leave a shard empty).
 * Returns 0, GX_EINVAL (bad i/n, by_class on regression data or n >
 * nclasses; *out zeroed) or GX_ENOMEM. */
int gx_dataset_shard(const gx_dataset *in, uint32_t i, uint32_t n, int by_class,
		     gx_dataset *out);

/* The classes [*lo, *hi) that shard i of n gets from gx_dataset_shard with
 * by_class, for nclasses classes. Returns 0 or GX_EINVAL (n == 0, i >= n,
 * n > nclasses). */
int gx_dataset_shard_classes(uint32_t nclasses, uint32_t i, uint32_t n, uint32_t *lo,
			     uint32_t *hi);

/* Frees d->x and d->y and zeroes *d. Accepts NULL and a zeroed gx_dataset. */
void gx_dataset_release(gx_dataset *d);

/* Fills idx[0..n) with a permutation of 0..n-1 that depends only on (seed,
 * epoch, n): call it at the start of each epoch for that epoch's order.
 * Fisher-Yates driven by a gx_rng derived from seed and epoch. Workers that
 * want different orders mix their rank into seed. Returns 0 or GX_EINVAL
 * (idx NULL with n > 0, n > 2^32). Thread-safe. */
int gx_shuffle_indices(uint32_t *idx, uint64_t n, uint64_t seed, uint64_t epoch);

/* Copies the k samples idx[0..k) of ds into a batch: x gets k*d floats,
 * y k labels (y may be NULL). Returns 0 or GX_EINVAL (an index >= n). */
int gx_dataset_gather(const gx_dataset *ds, const uint32_t *idx, size_t k, float *x,
		      float *y);

#ifdef __cplusplus
}
#endif
#endif
