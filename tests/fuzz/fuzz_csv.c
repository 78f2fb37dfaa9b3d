/*
 * fuzz_csv.c — libFuzzer target for the CSV parser (gx_csv_parse).
 *
 * Input: byte 0 picks the options (bits 0-1 the label column: last, 0, 1,
 * 2; bits 2-3 the header mode: auto, none, present, auto; bit 4
 * regression); the rest is the text. Checks: a failure leaves *out zeroed
 * and one line in err naming the file; a success has n, d >= 1, finite
 * features and labels that are class indices below nclasses (or finite
 * values for regression); a final newline changes nothing; and the dataset
 * written back as CSV (%.9g, label last) parses to the same numbers.
 * Violations abort(), which is how a fuzz target reports them.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "data/data_internal.h"

#define FAIL(...)                                             \
	do {                                                  \
		fprintf(stderr, "fuzz_csv: " __VA_ARGS__);    \
		fputc('\n', stderr);                          \
		abort();                                      \
	} while (0)

/* Small enough that no input makes one run allocate much. */
#define MAX_COUNT (1u << 16)

static void check_err(int rc, const gx_dataset *ds, const char *err)
{
	static const gx_dataset zero;
	if (rc != GX_EFORMAT && rc != GX_ETOOBIG && rc != GX_ENOMEM)
		FAIL("unexpected status %d", rc);
	if (memcmp(ds, &zero, sizeof zero) != 0)
		FAIL("failure left a dataset behind");
	if (strncmp(err, "f.csv: ", 7) != 0 || strchr(err, '\n'))
		FAIL("bad message \"%s\"", err);
}

static void check_ok(const gx_dataset *ds, unsigned flags)
{
	if (ds->n < 1 || ds->d < 1 || !ds->x || !ds->y || ds->c != 1 || ds->h != 1 ||
	    ds->w != ds->d)
		FAIL("bad shape n %llu d %u", (unsigned long long)ds->n, ds->d);
	if ((flags & GX_DATA_REGRESSION) ? ds->nclasses != 0 : ds->nclasses == 0)
		FAIL("nclasses %u with flags %u", ds->nclasses, flags);
	for (uint64_t i = 0; i < ds->n * ds->d; i++)
		if (!isfinite(ds->x[i]))
			FAIL("feature %llu not finite", (unsigned long long)i);
	for (uint64_t i = 0; i < ds->n; i++) {
		float y = ds->y[i];
		if (!isfinite(y))
			FAIL("label %llu not finite", (unsigned long long)i);
		if (!(flags & GX_DATA_REGRESSION) && (y < 0 || y != floorf(y) || y >= ds->nclasses))
			FAIL("label %g with %u classes", (double)y, ds->nclasses);
	}
}

static int same(const gx_dataset *a, const gx_dataset *b)
{
	if (a->n != b->n || a->d != b->d || a->nclasses > b->nclasses)
		return 0;
	for (uint64_t i = 0; i < a->n * a->d; i++)
		if (a->x[i] != b->x[i])
			return 0;
	for (uint64_t i = 0; i < a->n; i++)
		if (a->y[i] != b->y[i])
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int cols[4] = { -1, 0, 1, 2 }, hdrs[4] = { -1, 0, 1, -1 };
	if (size < 1)
		return 0;
	int label_col = cols[data[0] & 3], header = hdrs[(data[0] >> 2) & 3];
	unsigned flags = data[0] & 0x10 ? GX_DATA_REGRESSION : 0;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	gx_dataset a, b;
	char ea[256], eb[256];

	int ra = gx_csv_parse(s, len, "f.csv", label_col, header, flags, MAX_COUNT, &a, ea, sizeof ea);
	/* the same text with one more newline */
	char *t = malloc(len + 1);
	if (!t)
		FAIL("out of memory");
	memcpy(t, s, len);
	t[len] = '\n';
	int rb = gx_csv_parse(t, len + 1, "f.csv", label_col, header, flags, MAX_COUNT, &b, eb,
			      sizeof eb);
	free(t);
	if (ra != rb || strcmp(ea, eb) != 0)
		FAIL("a final newline changed \"%s\" (%d) into \"%s\" (%d)", ea, ra, eb, rb);
	if (ra) {
		check_err(ra, &a, ea);
		return 0;
	}
	if (ea[0])
		FAIL("message \"%s\" on success", ea);
	check_ok(&a, flags);
	if (!same(&a, &b) || a.nclasses != b.nclasses)
		FAIL("a final newline changed the data");
	gx_dataset_release(&b);

	/* Written back (label last, no header), it parses to the same numbers. */
	size_t cap = (size_t)a.n * (a.d + 1) * 18 + 1, k = 0;
	char *w = malloc(cap);
	if (!w)
		FAIL("out of memory");
	for (uint64_t i = 0; i < a.n; i++) {
		for (uint32_t j = 0; j < a.d; j++)
			k += (size_t)snprintf(w + k, cap - k, "%.9g,", (double)a.x[i * a.d + j]);
		k += (size_t)snprintf(w + k, cap - k, "%.9g\n", (double)a.y[i]);
	}
	int rc = gx_csv_parse(w, k, "f.csv", -1, 0, flags, MAX_COUNT, &b, eb, sizeof eb);
	if (rc != 0 || !same(&a, &b))
		FAIL("written back: %d \"%s\" or different numbers", rc, eb);
	free(w);
	gx_dataset_release(&a);
	gx_dataset_release(&b);
	return 0;
}
