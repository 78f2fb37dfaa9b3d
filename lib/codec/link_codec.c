/*
 * link_codec.c — the spelling of the parameter servers' link codecs
 * ("none", "fp16", "bsc:RATIO", "mpq:RATIO[:BOUND]"; docs/protocol.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gx_codec.h"

static int fail(char *why, size_t cap, const char *msg, const char *s)
{
	if (why && cap)
		snprintf(why, cap, "'%s': %s", s, msg);
	return GX_EINVAL;
}

/* A ratio in (0, 1], the whole of [p, end): 0 with *out set, or GX_EINVAL. */
static int parse_ratio(const char *p, const char *end, double *out)
{
	char buf[64];
	size_t n = (size_t)(end - p);
	if (n == 0 || n >= sizeof buf)
		return GX_EINVAL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	char *e;
	errno = 0;
	double r = strtod(buf, &e);
	if (e == buf || *e || errno || !isfinite(r) || !(r > 0.0) || r > 1.0)
		return GX_EINVAL;
	*out = r;
	return 0;
}

int gx_link_codec_parse(const char *s, gx_link_codec *out, char *why, size_t cap)
{
	if (!s || !out)
		return GX_EINVAL;
	gx_link_codec c = { GX_LINK_NONE, GX_DEFAULT_TOPK, GX_DEFAULT_MPQ_BOUND };
	if (!strcmp(s, "none")) {
		c.kind = GX_LINK_NONE;
	} else if (!strcmp(s, "fp16")) {
		c.kind = GX_LINK_FP16;
	} else if (!strncmp(s, "bsc:", 4)) {
		c.kind = GX_LINK_BSC;
		if (parse_ratio(s + 4, s + strlen(s), &c.ratio))
			return fail(why, cap, "bsc:RATIO wants a ratio in (0, 1], e.g. bsc:0.01", s);
	} else if (!strncmp(s, "mpq:", 4)) {
		c.kind = GX_LINK_MPQ;
		const char *colon = strchr(s + 4, ':');
		const char *end = colon ? colon : s + strlen(s);
		if (parse_ratio(s + 4, end, &c.ratio))
			return fail(why, cap, "mpq:RATIO[:BOUND] wants a ratio in (0, 1], e.g. "
				    "mpq:0.01", s);
		if (colon) {
			char *e;
			errno = 0;
			unsigned long long b = strtoull(colon + 1, &e, 10);
			if (e == colon + 1 || *e || errno || b == 0 || colon[1] == '-' ||
			    colon[1] == '+' || colon[1] == ' ')
				return fail(why, cap, "mpq's BOUND is a positive element count, e.g. "
					    "mpq:0.01:1024", s);
			c.bound = b;
		}
	} else {
		return fail(why, cap, "unknown codec (none, fp16, bsc:RATIO, mpq:RATIO[:BOUND])", s);
	}
	*out = c;
	return 0;
}

int gx_link_codec_format(const gx_link_codec *c, char *buf, size_t cap)
{
	switch (c ? c->kind : -1) {
	case GX_LINK_NONE:
		return snprintf(buf, cap, "none");
	case GX_LINK_FP16:
		return snprintf(buf, cap, "fp16");
	case GX_LINK_BSC:
		return snprintf(buf, cap, "bsc:%g", c->ratio);
	case GX_LINK_MPQ:
		return snprintf(buf, cap, "mpq:%g:%" PRIu64, c->ratio, c->bound);
	default:
		return snprintf(buf, cap, "?");
	}
}
