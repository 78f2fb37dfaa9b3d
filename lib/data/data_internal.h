/*
 * data_internal.h — library-private pieces of the dataset loaders shared by
 * lib/data/data.c, lib/data/data_csv.c, lib/data/data_libsvm.c, the unit tests and the fuzz
 * targets. Not installed, not part of the public API.
 */
#ifndef GX_DATA_INTERNAL_H
#define GX_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gx_data.h"

/* Labels of classification datasets are integers below this (exact in a float). */
#define GX_DATA_MAX_CLASS (1u << 24)
/* Longest number token accepted (characters). */
#define GX_DATA_MAX_TOKEN 128

/* Parse CSV / LIBSVM text buf[0..len) (any bytes; no terminator needed),
 * with the rules and errors of gx_dataset_load_csv / gx_dataset_load_libsvm.
 * name is the file name used in messages. max_count bounds n*d (0: the
 * default GX_DEFAULT_MAX_COUNT); exceeding it is GX_ETOOBIG. On failure *out
 * is zeroed. Thread-safe. */
int gx_csv_parse(const char *buf, size_t len, const char *name, int label_col, int header,
		 unsigned flags, uint64_t max_count, gx_dataset *out, char *err, size_t errcap);
int gx_libsvm_parse(const char *buf, size_t len, const char *name, uint32_t nfeatures,
		    unsigned flags, uint64_t max_count, gx_dataset *out, char *err,
		    size_t errcap);

/* Reads a whole file, gunzipping when it is gzip'd, refusing more than max
 * bytes. *buf (malloc'd, owned by the caller) gets *len bytes. Returns 0 or
 * GX_EIO / GX_ETRUNC / GX_EFORMAT / GX_ETOOBIG / GX_ENOMEM with a message. */
int gx_data_read_text(const char *path, uint64_t max, char **buf, size_t *len, char *err,
		      size_t errcap);

/* A parser of a whole text (gx_csv_parse, gx_libsvm_parse through a small
 * adapter); args carries the parser's own options. */
typedef int (*gx_text_parser)(const char *buf, size_t len, const char *name, const void *args,
			      gx_dataset *out, char *err, size_t errcap);

/* The one loader of text datasets: zeroes *out, reads path (gx_data_read_text,
 * at most GX_DATA_MAX_TEXT bytes) and parses it with parse(args). Returns 0
 * or the reader's or the parser's error, with its message. */
int gx_data_load_text(const char *path, gx_text_parser parse, const void *args,
		      gx_dataset *out, char *err, size_t errcap);

/* The lines of a text: a UTF-8 byte order mark at the start (spreadsheets
 * write one) is not data; a line ends at LF, a CR before it is dropped. */
typedef struct gx_text_lines {
	const char *buf;
	size_t len, pos;
	uint64_t lineno; /* of the line gx_text_next returned last, from 1 */
} gx_text_lines;

void gx_text_begin(gx_text_lines *t, const char *buf, size_t len);
/* The next line s[0..n) without its end; 0 when the text is over. */
int gx_text_next(gx_text_lines *t, const char **s, size_t *n);

/* Fills a dense table of n samples of d features (one channel, one row of
 * d): x (n*d floats) and y (n labels) are handed over to *out. nclasses 0
 * is a regression. */
void gx_data_set_table(gx_dataset *out, uint64_t n, uint32_t d, uint32_t nclasses, float *x,
		       float *y);

/* snprintf into err when err and errcap allow; returns rc, so a failure
 * path reads `return gx_data_err(rc, err, cap, ...)`. */
int gx_data_err(int rc, char *err, size_t errcap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Parses a decimal number s[0..n) (optional sign, digits with an optional
 * '.', optional exponent; no spaces, hex, inf or nan) in the "C" format
 * regardless of the locale. Returns 0 with *v set, GX_EFORMAT when it is
 * not such a number, GX_ETOOBIG when it overflows a float. */
int gx_data_number(const char *s, size_t n, float *v);

/* Copies up to about 24 characters of s[0..n) into out (cap >= 32) for an
 * error message, non-printable bytes as '?', "..." when cut. Returns out. */
const char *gx_data_quote(const char *s, size_t n, char *out, size_t cap);

/* Nonzero when v can be a classification label: an integer in
 * [0, GX_DATA_MAX_CLASS). */
int gx_data_is_class(float v);

/* A growing array of elem-byte elements; the cap bounds its byte size. */
typedef struct gx_vec {
	void *p;
	size_t n, cap; /* elements used, allocated */
} gx_vec;

/* Makes room for one more element of size es; GX_ENOMEM on failure. */
int gx_vec_grow(gx_vec *v, size_t es);

#endif
