/*
 * ps_stats.c — gx_ps_stats: per link traffic, rounds, waiting time and
 * staleness, as TSV lines or one JSON object (geomx-ps(1), STATISTICS).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "ps_internal.h"

void ps_sb_printf(ps_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->len < b->cap ? b->p + b->len : NULL,
			  b->len < b->cap ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		b->len += (size_t)k;
}

long gx_ps_stats(gx_ps *ps, char *buf, size_t cap, int json)
{
	if (!ps || (!buf && cap))
		return GX_EINVAL;
	ps_sbuf b = { buf, cap, 0 };
	if (cap)
		buf[0] = '\0';
	uint64_t rounds = ps->role->rounds(ps);
	double wait = (double)ps->wait_ns / 1e9;
	double mean = ps->stale_n ? (double)ps->stale_sum / (double)ps->stale_n : 0.0;
	if (json)
		ps_sb_printf(&b, "{\"server\":\"%s\",\"role\":\"%s\",\"rounds\":%llu,"
			  "\"updates\":%llu,\"wait_s\":%.6f,\"staleness\":{\"count\":%llu,"
			  "\"mean\":%.6g,\"max\":%llu},\"links\":[", ps->name,
			  gx_role_name(ps->o.role),
			  (unsigned long long)rounds, (unsigned long long)ps->updates, wait,
			  (unsigned long long)ps->stale_n, mean, (unsigned long long)ps->stale_max);
	else
		ps_sb_printf(&b, "server\t%s\t%s\nrounds\t%llu\nupdates\t%llu\nwait_s\t%.6f\n"
			  "staleness\t%llu\t%.6g\t%llu\n", ps->name, gx_role_name(ps->o.role),
			  (unsigned long long)rounds, (unsigned long long)ps->updates, wait,
			  (unsigned long long)ps->stale_n, mean, (unsigned long long)ps->stale_max);
	/* Links in the order they were made: the list is newest first. */
	int nl = 0;
	for (ps_peer *p = ps->peers; p; p = p->next)
		nl += p->up || p->state == PEER_MEMBER;
	ps_peer **v = nl ? malloc((size_t)nl * sizeof *v) : NULL;
	if (nl && !v)
		return GX_ENOMEM;
	int k = nl;
	for (ps_peer *p = ps->peers; p; p = p->next)
		if (p->up || p->state == PEER_MEMBER)
			v[--k] = p;
	for (int i = 0; i < nl; i++) {
		ps_peer *p = v[i];
		const gx_conn_stats *st = p->c ? gx_conn_get_stats(p->c) : &p->st;
		const char *role = gx_role_name(p->up ? GX_ROLE_GLOBAL : p->role);
		unsigned long long bi = st->bytes_in, bo = st->bytes_out, fi = st->frames_in,
				   fo = st->frames_out, cr = st->credit;
		if (json)
			ps_sb_printf(&b, "%s{\"name\":\"%s\",\"role\":\"%s\",\"bytes_in\":%llu,"
				  "\"bytes_out\":%llu,\"frames_in\":%llu,\"frames_out\":%llu,"
				  "\"credit\":%llu}",
				  i ? "," : "", p->label, role, bi, bo, fi, fo, cr);
		else
			ps_sb_printf(&b, "link\t%s\t%s\t%llu\t%llu\t%llu\t%llu\t%llu\n", p->label,
				  role, bi, bo, fi, fo, cr);
	}
	free(v);
	if (json)
		ps_sb_printf(&b, "]");
	/* the role's own figures (TSV lines; JSON members) */
	if (ps->role->stats)
		ps->role->stats(ps, &b, json);
	if (json)
		ps_sb_printf(&b, "}\n");
	return (long)b.len;
}
