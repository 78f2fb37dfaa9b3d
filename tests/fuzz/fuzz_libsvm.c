/*
 * fuzz_libsvm.c — libFuzzer target for the LIBSVM parser (gx_libsvm_parse).
 *
 * Input: byte 0 picks the options (bits 0-5: nfeatures, 0 = infer; bit 6
 * regression); the rest is the text. Checks: a failure leaves *out zeroed
 * and one line in err naming the file; a success has n, d >= 1, finite
 * features and labels that are class indices below nclasses (or finite
 * values for regression); a final newline changes nothing; and the dataset
 * written back in LIBSVM form (non-zero features, %.9g) with nfeatures = d
 * parses to the same numbers. Violations abort().
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "data/data_internal.h"

#define FAIL(...)                                               \
	do {                                                    \
		fprintf(stderr, "fuzz_libsvm: " __VA_ARGS__);   \
		fputc('\n', stderr);                            \
		abort();                                        \
	} while (0)

/* Small enough that no input (an index of 10^9, say) allocates much. */
#define MAX_COUNT (1u << 16)

static int same(const gx_dataset *a, const gx_dataset *b)
{
	if (a->n != b->n || a->d != b->d)
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
	static const gx_dataset zero;
	if (size < 1)
		return 0;
	uint32_t nf = data[0] & 0x3f;
	unsigned flags = data[0] & 0x40 ? GX_DATA_REGRESSION : 0;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	gx_dataset a, b;
	char ea[256], eb[256];

	int ra = gx_libsvm_parse(s, len, "f.svm", nf, flags, MAX_COUNT, &a, ea, sizeof ea);
	char *t = malloc(len + 1);
	if (!t)
		FAIL("out of memory");
	memcpy(t, s, len);
	t[len] = '\n';
	int rb = gx_libsvm_parse(t, len + 1, "f.svm", nf, flags, MAX_COUNT, &b, eb, sizeof eb);
	free(t);
	if (ra != rb || strcmp(ea, eb) != 0)
		FAIL("a final newline changed \"%s\" (%d) into \"%s\" (%d)", ea, ra, eb, rb);
	if (ra) {
		if (ra != GX_EFORMAT && ra != GX_ETOOBIG && ra != GX_ENOMEM)
			FAIL("unexpected status %d", ra);
		if (memcmp(&a, &zero, sizeof zero) != 0)
			FAIL("failure left a dataset behind");
		if (strncmp(ea, "f.svm: ", 7) != 0 || strchr(ea, '\n'))
			FAIL("bad message \"%s\"", ea);
		return 0;
	}
	if (ea[0])
		FAIL("message \"%s\" on success", ea);
	if (a.n < 1 || a.d < 1 || !a.x || !a.y || a.c != 1 || a.h != 1 || a.w != a.d ||
	    (nf && a.d != nf))
		FAIL("bad shape n %llu d %u", (unsigned long long)a.n, a.d);
	if ((flags & GX_DATA_REGRESSION) ? a.nclasses != 0 : a.nclasses == 0)
		FAIL("nclasses %u with flags %u", a.nclasses, flags);
	for (uint64_t i = 0; i < a.n * a.d; i++)
		if (!isfinite(a.x[i]))
			FAIL("feature %llu not finite", (unsigned long long)i);
	for (uint64_t i = 0; i < a.n; i++) {
		float y = a.y[i];
		if (!isfinite(y))
			FAIL("label not finite");
		if (!(flags & GX_DATA_REGRESSION) && (y < 0 || y != floorf(y) || y >= a.nclasses))
			FAIL("label %g with %u classes", (double)y, a.nclasses);
	}
	if (!same(&a, &b) || a.nclasses != b.nclasses)
		FAIL("a final newline changed the data");
	gx_dataset_release(&b);

	size_t cap = (size_t)a.n * (a.d * 28 + 18) + 1, k = 0;
	char *w = malloc(cap);
	if (!w)
		FAIL("out of memory");
	for (uint64_t i = 0; i < a.n; i++) {
		k += (size_t)snprintf(w + k, cap - k, "%.9g", (double)a.y[i]);
		for (uint32_t j = 0; j < a.d; j++)
			if (a.x[i * a.d + j] != 0)
				k += (size_t)snprintf(w + k, cap - k, " %u:%.9g", j + 1,
						      (double)a.x[i * a.d + j]);
		k += (size_t)snprintf(w + k, cap - k, "\n");
	}
	int rc = gx_libsvm_parse(w, k, "f.svm", a.d, flags, MAX_COUNT, &b, eb, sizeof eb);
	if (rc != 0 || !same(&a, &b))
		FAIL("written back: %d \"%s\" or different numbers", rc, eb);
	free(w);
	gx_dataset_release(&a);
	gx_dataset_release(&b);
	return 0;
}
