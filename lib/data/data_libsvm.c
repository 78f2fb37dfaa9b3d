/* data_libsvm.c — LIBSVM / SVMlight datasets. One pass collects the sparse
 * entries (bounded by the text length: an entry takes at least four bytes),
 * then d is known and the dense matrix, checked against the limit, is
 * filled. */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

typedef struct entry {
	uint32_t idx; /* 1-based */
	float val;
} entry;

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses a 1-based feature index: decimal digits only, at most UINT32_MAX.
 * Returns 0, GX_EFORMAT (not digits) or GX_ETOOBIG (too large). */
static int parse_index(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;
	if (n == 0)
		return GX_EFORMAT;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return GX_EFORMAT;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return GX_ETOOBIG;
	}
	*out = (uint32_t)v;
	return 0;
}

int gx_libsvm_parse(const char *buf, size_t len, const char *name, uint32_t nfeatures,
		    unsigned flags, uint64_t max_count, gx_dataset *out, char *err, size_t errcap)
{
	gx_vec es = { 0 }, ends = { 0 }, ys = { 0 };
	char q[32];
	int rc = 0;
	uint64_t neg_line = 0, other_line = 0;
	uint32_t maxidx = 0, maxc = 0;
	float other = 0;

	if (err && errcap)
		err[0] = '\0';
	if (!out)
		return gx_data_err(GX_EINVAL, err, errcap, "no output dataset");
	memset(out, 0, sizeof *out);
	if (!name)
		name = "(libsvm)";
	if ((!buf && len) || (flags & ~(unsigned)GX_DATA_REGRESSION))
		return gx_data_err(GX_EINVAL, err, errcap, "%s: invalid arguments", name);
	if (!max_count)
		max_count = GX_DEFAULT_MAX_COUNT;

	gx_text_lines text;
	const char *s;
	size_t n;
	gx_text_begin(&text, buf, len);
	while (gx_text_next(&text, &s, &n)) {
		uint64_t lineno = text.lineno;
		const char *hash = memchr(s, '#', n);
		if (hash)
			n = (size_t)(hash - s);
		if (n && s[n - 1] == '\r') /* "...\r# comment" */
			n--;
		size_t i = 0, tn;
		while (i < n && is_space(s[i]))
			i++;
		if (i == n)
			continue; /* blank or comment */
		/* the label */
		for (tn = 0; i + tn < n && !is_space(s[i + tn]); tn++)
			;
		float lab;
		int r = gx_data_number(s + i, tn, &lab);
		if (r) {
			rc = gx_data_err(GX_EFORMAT, err, errcap, "%s: line %llu: label \"%s\" is %s",
					 name, (unsigned long long)lineno,
					 gx_data_quote(s + i, tn, q, sizeof q),
					 r == GX_ETOOBIG ? "out of range for a float" : "not a number");
			goto fail;
		}
		if (!(flags & GX_DATA_REGRESSION)) {
			if (lab == -1.0f) {
				if (!neg_line)
					neg_line = lineno;
			} else if (!gx_data_is_class(lab)) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: label %g is not a class index (an "
						 "integer from 0 to %u, or -1/+1)", name,
						 (unsigned long long)lineno, (double)lab,
						 GX_DATA_MAX_CLASS - 1);
				goto fail;
			} else {
				if (lab != 1.0f && !other_line) {
					other_line = lineno;
					other = lab;
				}
				if ((uint32_t)lab > maxc)
					maxc = (uint32_t)lab;
			}
		}
		i += tn;
		/* the features */
		uint32_t prev = 0;
		for (;;) {
			while (i < n && is_space(s[i]))
				i++;
			if (i == n)
				break;
			for (tn = 0; i + tn < n && !is_space(s[i + tn]); tn++)
				;
			const char *t = s + i, *colon = memchr(t, ':', tn);
			i += tn;
			if (!colon) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: \"%s\" is not index:value", name,
						 (unsigned long long)lineno, gx_data_quote(t, tn, q, sizeof q));
				goto fail;
			}
			size_t in = (size_t)(colon - t), vn = tn - in - 1;
			uint32_t idx;
			r = parse_index(t, in, &idx);
			if (r) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: feature index \"%s\" is %s", name,
						 (unsigned long long)lineno, gx_data_quote(t, in, q, sizeof q),
						 r == GX_ETOOBIG ? "too large" : "not a positive integer");
				goto fail;
			}
			if (idx == 0) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: feature index 0 (indices start at 1)", name,
						 (unsigned long long)lineno);
				goto fail;
			}
			if (idx <= prev) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: feature index %u after %u (indices must "
						 "increase)", name, (unsigned long long)lineno, idx, prev);
				goto fail;
			}
			if (nfeatures && idx > nfeatures) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: feature index %u but only %u features",
						 name, (unsigned long long)lineno, idx, nfeatures);
				goto fail;
			}
			float v;
			r = gx_data_number(colon + 1, vn, &v);
			if (r) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: feature %u: value \"%s\" is %s", name,
						 (unsigned long long)lineno, idx,
						 gx_data_quote(colon + 1, vn, q, sizeof q),
						 r == GX_ETOOBIG ? "out of range for a float" : "not a number");
				goto fail;
			}
			/* a d beyond the limit fails now, not after collecting more */
			if (idx > max_count) {
				rc = gx_data_err(GX_ETOOBIG, err, errcap,
						 "%s: line %llu: feature index %u over the limit of %llu "
						 "values", name, (unsigned long long)lineno, idx,
						 (unsigned long long)max_count);
				goto fail;
			}
			prev = idx;
			if (idx > maxidx)
				maxidx = idx;
			if (gx_vec_grow(&es, sizeof(entry))) {
				rc = gx_data_err(GX_ENOMEM, err, errcap, "%s: out of memory", name);
				goto fail;
			}
			((entry *)es.p)[es.n++] = (entry){ idx, v };
		}
		if (gx_vec_grow(&ys, sizeof(float)) || gx_vec_grow(&ends, sizeof(size_t))) {
			rc = gx_data_err(GX_ENOMEM, err, errcap, "%s: out of memory", name);
			goto fail;
		}
		((float *)ys.p)[ys.n++] = lab;
		((size_t *)ends.p)[ends.n++] = es.n;
	}
	if (ys.n == 0) {
		rc = gx_data_err(GX_EFORMAT, err, errcap, "%s: no samples", name);
		goto fail;
	}
	if (neg_line && other_line) {
		rc = gx_data_err(GX_EFORMAT, err, errcap,
				 "%s: line %llu: label %g in a -1/+1 dataset (line %llu has -1)", name,
				 (unsigned long long)other_line, (double)other,
				 (unsigned long long)neg_line);
		goto fail;
	}
	uint32_t d = nfeatures ? nfeatures : maxidx ? maxidx : 1;
	uint64_t rows = ys.n;
	if (rows * d / d != rows || rows * d > max_count) {
		rc = gx_data_err(GX_ETOOBIG, err, errcap,
				 "%s: %llu samples of %u features exceed the limit of %llu values",
				 name, (unsigned long long)rows, d, (unsigned long long)max_count);
		goto fail;
	}
	float *x = calloc(rows * d, sizeof(float));
	if (!x) {
		rc = gx_data_err(GX_ENOMEM, err, errcap, "%s: out of memory", name);
		goto fail;
	}
	const entry *e = es.p;
	const size_t *end = ends.p;
	for (uint64_t r0 = 0, k = 0; r0 < rows; r0++)
		for (; k < end[r0]; k++)
			x[r0 * d + e[k].idx - 1] = e[k].val;
	float *y = ys.p;
	if (neg_line) /* -1/+1 -> classes 0/1 */
		for (uint64_t k = 0; k < rows; k++)
			y[k] = y[k] > 0 ? 1.0f : 0.0f;
	free(es.p);
	free(ends.p);
	/* (The labels keep the growth slack of their buffer, at most n floats:
	 * shrinking it with realloc is not worth a pointer that may move.) */
	gx_data_set_table(out, rows, d, flags & GX_DATA_REGRESSION ? 0 : neg_line ? 2 : maxc + 1, x,
			  y);
	return 0;
fail:
	free(es.p);
	free(ends.p);
	free(ys.p);
	return rc;
}

/* The options of gx_libsvm_parse, for gx_data_load_text. */
struct libsvm_args {
	uint32_t nfeatures;
	unsigned flags;
};

static int libsvm_parse(const char *buf, size_t len, const char *name, const void *args,
			gx_dataset *out, char *err, size_t errcap)
{
	const struct libsvm_args *a = args;
	return gx_libsvm_parse(buf, len, name, a->nfeatures, a->flags, 0, out, err, errcap);
}

int gx_dataset_load_libsvm(const char *path, uint32_t nfeatures, unsigned flags,
			   gx_dataset *out, char *err, size_t errcap)
{
	struct libsvm_args a = { nfeatures, flags };
	return gx_data_load_text(path, libsvm_parse, &a, out, err, errcap);
}
