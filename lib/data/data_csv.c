/* data_csv.c — CSV datasets: one pass over the text, rows appended to
 * growing arrays whose size the text length already bounds (every value
 * takes at least two bytes), so nothing is allocated from a declared size. */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

/* A line of the text without its end of line (LF, CRLF). */
typedef struct line {
	const char *s;
	size_t n;
} line;

static int is_blank(line l)
{
	for (size_t i = 0; i < l.n; i++)
		if (l.s[i] != ' ' && l.s[i] != '\t')
			return 0;
	return 1;
}

/* The next field of l from *pos (which moves past it and its separator),
 * without surrounding spaces (and tabs, unless tab separates). Returns 0
 * when the line has no more fields. */
static int next_field(line l, size_t *pos, int *done, char sep, const char **f, size_t *fn)
{
	if (*done)
		return 0;
	const char *s = l.s + *pos, *e = memchr(s, sep, l.n - *pos);
	size_t n = e ? (size_t)(e - s) : l.n - *pos;
	if (e)
		*pos += n + 1;
	else
		*done = 1;
	while (n && (s[0] == ' ' || (s[0] == '\t' && sep != '\t')))
		s++, n--;
	while (n && (s[n - 1] == ' ' || (s[n - 1] == '\t' && sep != '\t')))
		n--;
	*f = s;
	*fn = n;
	return 1;
}

static uint32_t count_fields(line l, char sep)
{
	uint32_t k = 1;
	for (size_t i = 0; i < l.n; i++)
		k += l.s[i] == sep;
	return k;
}

/* Whether every field of l is a number (the header test). */
static int all_numbers(line l, char sep)
{
	size_t pos = 0;
	int done = 0;
	const char *f;
	size_t fn;
	float v;
	while (next_field(l, &pos, &done, sep, &f, &fn))
		if (gx_data_number(f, fn, &v) != 0)
			return 0;
	return 1;
}

int gx_csv_parse(const char *buf, size_t len, const char *name, int label_col, int header,
		 unsigned flags, uint64_t max_count, gx_dataset *out, char *err, size_t errcap)
{
	gx_vec xs = { 0 }, ys = { 0 };
	float *row = NULL;
	char q[32];
	int rc = 0;
	uint32_t nf = 0, lc = 0, maxc = 0;
	char sep = ',';
	int first = 1;

	if (err && errcap)
		err[0] = '\0';
	if (!out)
		return gx_data_err(GX_EINVAL, err, errcap, "no output dataset");
	memset(out, 0, sizeof *out);
	if (!name)
		name = "(csv)";
	if ((!buf && len) || label_col < -1 || header < -1 || header > 1 ||
	    (flags & ~(unsigned)GX_DATA_REGRESSION))
		return gx_data_err(GX_EINVAL, err, errcap, "%s: invalid arguments", name);
	if (!max_count)
		max_count = GX_DEFAULT_MAX_COUNT;

	gx_text_lines text;
	line l;
	gx_text_begin(&text, buf, len);
	while (gx_text_next(&text, &l.s, &l.n)) {
		uint64_t lineno = text.lineno;
		if (is_blank(l))
			continue;
		if (first) {
			first = 0;
			/* The first line decides the separator and the field count. */
			if (memchr(l.s, ',', l.n))
				sep = ',';
			else if (memchr(l.s, '\t', l.n))
				sep = '\t';
			else if (memchr(l.s, ';', l.n))
				sep = ';';
			nf = count_fields(l, sep);
			if (nf < 2) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: need at least 2 fields (features and a "
						 "label), found 1", name, (unsigned long long)lineno);
				goto fail;
			}
			if (label_col >= 0 && (uint32_t)label_col >= nf) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: label column %d but only %u fields", name,
						 (unsigned long long)lineno, label_col, nf);
				goto fail;
			}
			lc = label_col < 0 ? nf - 1 : (uint32_t)label_col;
			row = malloc(nf * sizeof(float));
			if (!row) {
				rc = gx_data_err(GX_ENOMEM, err, errcap, "%s: out of memory", name);
				goto fail;
			}
			if (header == 1 || (header == -1 && !all_numbers(l, sep)))
				continue;
		}
		uint32_t k = count_fields(l, sep);
		if (k != nf) {
			rc = gx_data_err(GX_EFORMAT, err, errcap,
					 "%s: line %llu: expected %u fields, found %u", name,
					 (unsigned long long)lineno, nf, k);
			goto fail;
		}
		size_t fp = 0;
		int done = 0;
		const char *f;
		size_t fn;
		for (uint32_t j = 0; next_field(l, &fp, &done, sep, &f, &fn); j++) {
			int r = gx_data_number(f, fn, &row[j]);
			if (r == 0)
				continue;
			if (fn == 0)
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: field %u is empty", name,
						 (unsigned long long)lineno, j + 1);
			else
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: field %u: \"%s\" is %s", name,
						 (unsigned long long)lineno, j + 1,
						 gx_data_quote(f, fn, q, sizeof q),
						 r == GX_ETOOBIG ? "out of range for a float" : "not a number");
			goto fail;
		}
		float lab = row[lc];
		if (!(flags & GX_DATA_REGRESSION)) {
			if (!gx_data_is_class(lab)) {
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: line %llu: label %g is not a class index (an "
						 "integer from 0 to %u)", name,
						 (unsigned long long)lineno, (double)lab,
						 GX_DATA_MAX_CLASS - 1);
				goto fail;
			}
			if ((uint32_t)lab > maxc)
				maxc = (uint32_t)lab;
		}
		if ((uint64_t)(ys.n + 1) * (nf - 1) > max_count) {
			rc = gx_data_err(GX_ETOOBIG, err, errcap,
					 "%s: line %llu: more than %llu feature values", name,
					 (unsigned long long)lineno, (unsigned long long)max_count);
			goto fail;
		}
		if (gx_vec_grow(&ys, sizeof(float)) || gx_vec_grow(&xs, (nf - 1) * sizeof(float))) {
			rc = gx_data_err(GX_ENOMEM, err, errcap, "%s: out of memory", name);
			goto fail;
		}
		float *x = (float *)xs.p + xs.n * (nf - 1);
		memcpy(x, row, lc * sizeof(float));
		memcpy(x + lc, row + lc + 1, (nf - 1 - lc) * sizeof(float));
		((float *)ys.p)[ys.n++] = lab;
		xs.n++;
	}
	if (ys.n == 0) {
		rc = gx_data_err(GX_EFORMAT, err, errcap, "%s: no samples", name);
		goto fail;
	}
	free(row);
	/* Give back the doubling slack. */
	float *x = realloc(xs.p, xs.n * (nf - 1) * sizeof(float)), *y;
	if (!x)
		x = xs.p;
	y = realloc(ys.p, ys.n * sizeof(float));
	if (!y)
		y = ys.p;
	gx_data_set_table(out, ys.n, nf - 1, flags & GX_DATA_REGRESSION ? 0 : maxc + 1, x, y);
	return 0;
fail:
	free(row);
	free(xs.p);
	free(ys.p);
	return rc;
}

/* The options of gx_csv_parse, for gx_data_load_text. */
struct csv_args {
	int label_col, header;
	unsigned flags;
};

static int csv_parse(const char *buf, size_t len, const char *name, const void *args,
		     gx_dataset *out, char *err, size_t errcap)
{
	const struct csv_args *a = args;
	return gx_csv_parse(buf, len, name, a->label_col, a->header, a->flags, 0, out, err, errcap);
}

int gx_dataset_load_csv(const char *path, int label_col, int header, unsigned flags,
			gx_dataset *out, char *err, size_t errcap)
{
	struct csv_args a = { label_col, header, flags };
	return gx_data_load_text(path, csv_parse, &a, out, err, errcap);
}
