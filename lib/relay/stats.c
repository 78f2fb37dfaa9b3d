/*
 * stats.c — the relay's log lines, the geomx frame counter and the
 * statistics: one JSON object per line, every --stats-every seconds and
 * once at the end (geomx-relay(1), STATISTICS).
 *
 * The statistics file is truncated at the start and then appended to, one
 * line per write(2), so a reader (tail -f, a test) never sees half a line
 * and a crash loses nothing already written; it is not replaced atomically
 * like the end-of-job files of the other programs, because it grows while
 * the relay runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"
#include "../base/le.h"
#include "../base/log.h"

/* ------------------------------------------------------------- log lines */

void rlog(const relay *r, int level, const char *fmt, ...)
{
	if (!r->cfg.log || (level > 0 && level > r->cfg.log_level))
		return;
	va_list ap;
	va_start(ap, fmt);
	gx_logv(r->cfg.log, r->cfg.log_ud, level, fmt, ap);
	va_end(ap);
}

void rlog_limited(const relay *r, ratelim *lim, const char *fmt, ...)
{
	if (!r->cfg.log || r->cfg.log_level < 1)
		return;
	uint64_t now = gx_now_ms();
	if (now - lim->t0_ms >= 1000) {
		lim->t0_ms = now;
		lim->shown = 0;
	}
	if (lim->shown >= lim->n) {
		lim->dropped++;
		return;
	}
	lim->shown++;
	char tail[64] = "";
	if (lim->dropped)
		snprintf(tail, sizeof tail, " (and %u more like it before)", lim->dropped);
	lim->dropped = 0;
	va_list ap;
	va_start(ap, fmt);
	gx_logv_tail(r->cfg.log, r->cfg.log_ud, 1, tail, fmt, ap);
	va_end(ap);
}

/* --------------------------------------------------------- frame counter */

uint64_t frames_feed(frame_count *fc, const uint8_t *b, size_t n)
{
	static const uint8_t magic[4] = { 'G', 'X', 'F', 'R' };
	uint64_t done = 0;
	while (n > 0 && fc->state != FC_OTHER) {
		if (fc->skip) {
			size_t m = fc->skip < n ? (size_t)fc->skip : n;
			fc->skip -= m;
			b += m;
			n -= m;
			if (!fc->skip && fc->in_frame) {
				fc->in_frame = 0;
				done++;
			}
			continue;
		}
		size_t m = GX_FRAME_HDR_SIZE - fc->hlen;
		if (m > n)
			m = n;
		memcpy(fc->hdr + fc->hlen, b, m);
		size_t before = fc->hlen;
		fc->hlen += (uint32_t)m;
		b += m;
		n -= m;
		/* Judge the magic as soon as its bytes are in. */
		size_t k = fc->hlen < 4 ? fc->hlen : 4;
		if (before < 4 && memcmp(fc->hdr, magic, k) != 0) {
			fc->state = FC_OTHER;
			break;
		}
		if (fc->hlen >= 4)
			fc->state = FC_GEOMX;
		if (fc->hlen < GX_FRAME_HDR_SIZE)
			continue;
		fc->state = FC_GEOMX;
		fc->hlen = 0;
		fc->skip = get32(fc->hdr + 32);
		if (fc->skip)
			fc->in_frame = 1;
		else
			done++;
	}
	return done;
}

/* ------------------------------------------------------------ statistics */

int stats_open(relay *r)
{
	r->stats_fd = -1;
	if (!r->cfg.stats_path)
		return 0;
	if (!strcmp(r->cfg.stats_path, "-")) {
		r->stats_fd = 2;
		return 0;
	}
	r->stats_fd = open(r->cfg.stats_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
			   0644);
	if (r->stats_fd < 0) {
		rlog(r, 0, "%s: cannot open the statistics file: %s", r->cfg.stats_path,
			  strerror(errno));
		return GX_EIO;
	}
	return 0;
}

void stats_close(relay *r)
{
	if (r->stats_fd > 2)
		close(r->stats_fd);
	r->stats_fd = -1;
}

/* Appends printf output to buf (of cap) at *len, never past cap. */
__attribute__((format(printf, 4, 5))) static void add(char *buf, size_t cap, size_t *len,
						      const char *fmt, ...)
{
	if (*len >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len = *len + (size_t)n < cap ? *len + (size_t)n : cap;
}

void stats_line(relay *r, int final)
{
	if (r->stats_fd < 0)
		return;
	static const char *const dname[2] = { "up", "down" };
	uint64_t now = gx_now_ns();
	double dt = (double)(now - r->last_stats_ns) * 1e-9;
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	char buf[2048];
	size_t len = 0;
	const relay_stats *s = &r->st;
	add(buf, sizeof buf, &len,
	    "{\"time\":%.3f,\"unix\":%.3f,\"final\":%s,\"open\":%zu,\"accepted\":%llu,"
	    "\"closed\":%llu,\"aborted\":%llu,\"refused\":%llu,\"pending_handshakes\":%d,"
	    "\"handshakes\":%llu,\"handshake_failures\":%llu,\"handshakes_dropped\":%llu,"
	    "\"connect_failures\":%llu",
	    (double)(now - r->t0_ns) * 1e-9, (double)wall.tv_sec + (double)wall.tv_nsec * 1e-9,
	    final ? "true" : "false", r->npairs, (unsigned long long)s->accepted,
	    (unsigned long long)s->closed, (unsigned long long)s->aborted,
	    (unsigned long long)s->refused, r->nhs, (unsigned long long)s->hs_done,
	    (unsigned long long)s->hs_failed, (unsigned long long)s->hs_dropped,
	    (unsigned long long)s->far_failed);
	for (int d = 0; d < 2; d++) {
		dir_stats *x = &r->st.d[d];
		double rin = dt > 0 ? (double)(x->bytes_in - x->last_in) / dt : 0;
		double rout = dt > 0 ? (double)(x->bytes_out - x->last_out) / dt : 0;
		add(buf, sizeof buf, &len,
		    ",\"%s\":{\"bytes_in\":%llu,\"bytes_out\":%llu,\"plain_bytes\":%llu,", dname[d],
		    (unsigned long long)x->bytes_in, (unsigned long long)x->bytes_out,
		    (unsigned long long)x->plain);
		if (x->frames_known)
			add(buf, sizeof buf, &len, "\"frames\":%llu,", (unsigned long long)x->frames);
		add(buf, sizeof buf, &len,
		    "\"rate_in\":%.0f,\"rate_out\":%.0f,\"queued\":%llu,\"losses\":%llu}", rin, rout,
		    (unsigned long long)x->queued, (unsigned long long)x->losses);
		x->last_in = x->bytes_in;
		x->last_out = x->bytes_out;
	}
	add(buf, sizeof buf, &len, "}\n");
	r->last_stats_ns = now;
	if (len >= sizeof buf) /* cannot happen with these fields; never write half a line */
		return;
	if (gx_write_full(r->stats_fd, buf, len) != 0) {
		rlog(r, 0, "%s: cannot write the statistics: %s",
			  r->stats_fd == 2 ? "standard error" : r->cfg.stats_path, strerror(errno));
		stats_close(r);
	}
}
