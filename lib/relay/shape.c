/*
 * shape.c — geomx-relay's queued bytes and the emulated link: chunks (a pool
 * of full-size ones, so a busy stream does not map and fault fresh pages for
 * every read), the release time of each chunk, and the parsers of the
 * emulation flags.
 *
 * The link of one direction (link.h: rate, delay, jitter, order), for a
 * chunk of len bytes read at time t; and loss, as a byte stream meets it:
 * each segment of RELAY_SEGMENT bytes is lost with probability loss, and a
 * chunk with a lost segment is held hold_ns longer (TCP's retransmission
 * timeout), everything behind it waiting.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relay.h"

/* ------------------------------------------------------------- the link */

int shape_active(const relay_cfg *c, int d)
{
	const shape_cfg *s = &c->link[d];
	return s->rate > 0 || s->delay_ns || s->jitter_ns || s->loss > 0;
}

uint64_t shape_stamp(dir *d, size_t len, uint64_t now, int *lost)
{
	const relay_cfg *cfg = &d->p->r->cfg;
	const shape_cfg *s = &cfg->link[d->d];
	*lost = 0;
	if (!shape_active(cfg, d->d))
		return 0;
	uint64_t t = link_stamp(&d->link, s, len, now);
	if (s->loss > 0 && len > 0) {
		/* P(some segment of the chunk lost): one draw per chunk. */
		double segs = ceil((double)len / RELAY_SEGMENT);
		if (link_draw(&d->link, 1.0 - pow(1.0 - s->loss, segs))) {
			t += d->p->r->hold_ns;
			*lost = 1;
		}
	}
	return link_release(&d->link, t);
}

gx_sockbuf shape_sockbuf(const relay *r, int d)
{
	gx_sockbuf b = { 0, 0 };
	double rate = r->cfg.link[d].rate;
	if (!(rate > 0))
		return b;
	/* The source's bytes wait in the relay's queue, the emulated link's
	 * buffer (--queue), not in the kernel's: left to itself the kernel
	 * grows a socket's receive buffer to megabytes, a FIFO in front of the
	 * link that a real one does not have and that no sender's priority
	 * can reach past. A millisecond of the link (the kernel doubles it)
	 * keeps the queue fed. Segments of a quarter of that, 8 KiB at least,
	 * not loopback's 64K: a receiver does not open a window smaller than
	 * a segment, and would leave the sender to its zero-window probes
	 * (200 ms and more: seen with 64K segments into 50 KB). */
	double v = rate * 0.001;
	b.rcvbuf = v < 16384 ? 16384 : v > (4 << 20) ? 4 << 20 : (int)v;
	b.mss = b.rcvbuf / 4 < 8192 ? 8192 : b.rcvbuf / 4;
	return b;
}

size_t shape_read_size(const relay *r, int d)
{
	double rate = r->cfg.link[d].rate;
	if (!(rate > 0))
		return RELAY_CHUNK;
	/* About 0.5 ms of the link per chunk. */
	double b = rate * 0.0005;
	if (b < RELAY_SEGMENT)
		b = RELAY_SEGMENT;
	if (b > RELAY_CHUNK)
		b = RELAY_CHUNK;
	return (size_t)b;
}

/* --------------------------------------------------------------- parsers */

/* The number at the start of s (no sign, finite) and where it ends. */
static int leading_number(const char *s, double *v, const char **end)
{
	if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return GX_EINVAL;
	char *e;
	errno = 0;
	double x = strtod(s, &e);
	if (errno || e == s || !isfinite(x) || x < 0)
		return GX_EINVAL;
	*v = x;
	*end = e;
	return 0;
}

int gx_relay_parse_rate(const char *s, double *bytes_per_s)
{
	static const struct {
		const char *unit;
		double bytes; /* bytes per second per unit */
		int exact_case;
	} units[] = {
		{ "bit", 1.0 / 8, 0 },      { "kbit", 1e3 / 8, 0 },  { "mbit", 1e6 / 8, 0 },
		{ "gbit", 1e9 / 8, 0 },     { "tbit", 1e12 / 8, 0 }, { "bps", 1.0 / 8, 0 },
		{ "kbps", 1e3 / 8, 0 },     { "mbps", 1e6 / 8, 0 },  { "gbps", 1e9 / 8, 0 },
		{ "tbps", 1e12 / 8, 0 },    { "B", 1, 1 },           { "kB", 1e3, 1 },
		{ "KB", 1e3, 1 },           { "MB", 1e6, 1 },        { "GB", 1e9, 1 },
		{ "KiB", 1024.0, 1 },       { "MiB", 1048576.0, 1 }, { "GiB", 1073741824.0, 1 },
	};
	double v;
	const char *u;
	if (s && !strcmp(s, "0")) {
		*bytes_per_s = 0;
		return 0;
	}
	if (leading_number(s, &v, &u))
		return GX_EINVAL;
	char unit[16];
	size_t ul = strlen(u);
	if (ul >= 2 && !strcmp(u + ul - 2, "/s"))
		ul -= 2;
	if (ul == 0 || ul >= sizeof unit)
		return GX_EINVAL;
	memcpy(unit, u, ul);
	unit[ul] = '\0';
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		int same = units[i].exact_case ? !strcmp(unit, units[i].unit)
					       : !strcasecmp(unit, units[i].unit);
		if (!same)
			continue;
		double b = v * units[i].bytes;
		/* 1 kbit/s to 10 Tbit/s: slower is no link, faster no loopback. */
		if (v == 0)
			*bytes_per_s = 0;
		else if (b < 125 || b > 1.25e12)
			return GX_EINVAL;
		else
			*bytes_per_s = b;
		return 0;
	}
	return GX_EINVAL;
}

int gx_relay_parse_time(const char *s, uint64_t *ns)
{
	double v;
	const char *u;
	if (s && !strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	if (leading_number(s, &v, &u))
		return GX_EINVAL;
	double mul;
	if (!strcmp(u, "s"))
		mul = 1e9;
	else if (!strcmp(u, "ms"))
		mul = 1e6;
	else if (!strcmp(u, "us"))
		mul = 1e3;
	else
		return GX_EINVAL;
	double t = v * mul;
	if (t > 60e9) /* a minute: more is no WAN */
		return GX_EINVAL;
	*ns = (uint64_t)llround(t);
	return 0;
}

int gx_relay_parse_loss(const char *s, double *p)
{
	double v;
	const char *u;
	if (leading_number(s, &v, &u))
		return GX_EINVAL;
	if (!strcmp(u, "%"))
		v /= 100;
	else if (*u)
		return GX_EINVAL;
	if (!(v >= 0 && v < 1))
		return GX_EINVAL;
	*p = v;
	return 0;
}

void gx_relay_fmt_rate(char *buf, size_t cap, double bytes_per_s)
{
	double bits = bytes_per_s * 8;
	if (bits >= 1e9)
		snprintf(buf, cap, "%g Gbit/s", bits / 1e9);
	else if (bits >= 1e6)
		snprintf(buf, cap, "%g Mbit/s", bits / 1e6);
	else if (bits >= 1e3)
		snprintf(buf, cap, "%g kbit/s", bits / 1e3);
	else
		snprintf(buf, cap, "%g bit/s", bits);
}
