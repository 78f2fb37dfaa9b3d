/*
 * fuzz_netem.c — libFuzzer target for the packet emulator's table lines
 * (gx_netem_table_line) and its packet classification (gx_netem_classify).
 *
 * Input: text up to the first NUL byte, fed line by line into one table;
 * what follows is packets, each a length byte and that many bytes.
 * Checks: a refused line says why in one non-empty line and leaves the
 * sites as they were; every link the table holds has jitter at most its
 * delay, a loss below 1, not both loss models, and a queue exactly when it
 * has a rate; every access link has a rate and a queue and nothing else;
 * classification gives sites of the table or -1, and -1 for both when it
 * reports a truncated packet; a reload's check of the sites
 * (netem_table_same_sites) finds the table's sites the same as its own,
 * and an empty table's, when it has any, different, in one line.
 * Violations abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "relay/netem.h"

#define FAIL(...)                                              \
	do {                                                   \
		fprintf(stderr, "fuzz_netem: " __VA_ARGS__);   \
		fputc('\n', stderr);                           \
		abort();                                       \
	} while (0)

static void check_links(const gx_netem_table *t)
{
	int n = gx_netem_table_sites(t);
	if (n < 0 || n > GX_NETEM_MAX_SITES)
		FAIL("%d sites", n);
	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++) {
			const gx_netem_link *l = gx_netem_table_link(t, a, b);
			if (!l)
				continue;
			if (a == b)
				FAIL("a link from site %d to itself", a);
			if (l->l.jitter_ns > l->l.delay_ns)
				FAIL("jitter above the delay");
			if (!(l->l.loss >= 0 && l->l.loss < 1) || !(l->reorder >= 0 && l->reorder < 1))
				FAIL("a probability out of range");
			if (l->l.loss > 0 && l->ge.p_gb > 0)
				FAIL("two loss models");
			if ((l->l.rate > 0) != (l->queue > 0))
				FAIL("a queue without a rate, or a rate without a queue");
		}
	for (int a = 0; a < n; a++)
		for (int w = GX_NETEM_IN; w <= GX_NETEM_OUT; w++) {
			const gx_netem_link *l = gx_netem_table_access(t, a, w);
			if (!l)
				continue;
			if (!(l->l.rate > 0) || !l->queue)
				FAIL("an access link without a rate or a queue");
			if (l->l.delay_ns || l->l.jitter_ns || l->l.loss > 0 || l->ge.p_gb > 0 ||
			    l->reorder > 0)
				FAIL("an access link with more than a rate and a queue");
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gx_netem_table *t = gx_netem_table_new();
	if (!t)
		return 0;
	const uint8_t *nul = memchr(data, 0, size);
	size_t text = nul ? (size_t)(nul - data) : size;
	char line[1200];
	size_t at = 0;
	while (at < text) {
		const uint8_t *nl = memchr(data + at, '\n', text - at);
		size_t len = nl ? (size_t)(nl - (data + at)) : text - at;
		size_t keep = len < sizeof line - 1 ? len : sizeof line - 1;
		memcpy(line, data + at, keep);
		line[keep] = '\0';
		at += len + 1;
		int before = gx_netem_table_sites(t);
		char err[256] = "";
		int rc = gx_netem_table_line(t, line, err, sizeof err);
		if (rc != 0) {
			if (rc != GX_EINVAL || !err[0] || strchr(err, '\n'))
				FAIL("refused with %d and \"%s\"", rc, err);
			if (gx_netem_table_sites(t) != before)
				FAIL("a refused line changed the sites");
		}
	}
	check_links(t);
	int n = gx_netem_table_sites(t);
	char why[256] = "";
	if (netem_table_same_sites(t, t, why, sizeof why))
		FAIL("a table's sites differ from its own: %s", why);
	gx_netem_table *empty = gx_netem_table_new();
	if (empty) {
		int rc = netem_table_same_sites(t, empty, why, sizeof why);
		if (n > 0 && (rc != GX_EINVAL || !why[0] || strchr(why, '\n')))
			FAIL("%d sites against none: %d \"%s\"", n, rc, why);
		if (n == 0 && rc != 0)
			FAIL("no sites against none: %d", rc);
		gx_netem_table_free(empty);
	}
	at = nul ? text + 1 : size;
	while (at < size) {
		size_t len = data[at++];
		if (len > size - at)
			len = size - at;
		int s = 7, d = 7;
		int rc = gx_netem_classify(t, data + at, len, &s, &d);
		if (rc != 0 && rc != GX_ETRUNC)
			FAIL("classify returned %d", rc);
		if (s < -1 || s >= n || d < -1 || d >= n)
			FAIL("sites %d, %d of %d", s, d, n);
		if (rc == GX_ETRUNC && (s != -1 || d != -1))
			FAIL("a truncated packet has sites");
		at += len;
	}
	gx_netem_table_free(t);
	return 0;
}
