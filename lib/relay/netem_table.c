/*
 * netem_table.c — the packet emulator's table: sites (named sets of IPv4
 * prefixes), the link of each direction between two of them, and each
 * site's access links, from lines of text (gx_relay.h, "The packet-level
 * emulator"); and which site an IP packet comes from and goes to.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "netem.h"

enum { NAME_MAX_LEN = 31, LINE_MAX_TOKENS = 16 };

gx_netem_table *gx_netem_table_new(void)
{
	return calloc(1, sizeof(gx_netem_table));
}

void gx_netem_table_free(gx_netem_table *t)
{
	free(t);
}

static int fail(char *err, size_t cap, const char *fmt, ...)
{
	if (err && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return GX_EINVAL;
}

int gx_netem_table_sites(const gx_netem_table *t)
{
	return t->n;
}

const char *gx_netem_table_site(const gx_netem_table *t, int i)
{
	return i >= 0 && i < t->n ? t->site[i].name : NULL;
}

const gx_netem_link *gx_netem_table_link(const gx_netem_table *t, int src, int dst)
{
	if (src < 0 || dst < 0 || src >= t->n || dst >= t->n || !t->set[src][dst])
		return NULL;
	return &t->link[src][dst];
}

const gx_netem_link *gx_netem_table_access(const gx_netem_table *t, int site, int way)
{
	if (site < 0 || site >= t->n || (way != GX_NETEM_IN && way != GX_NETEM_OUT) ||
	    !(t->access[site][way].l.rate > 0))
		return NULL;
	return &t->access[site][way];
}

static int site_index(const gx_netem_table *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->site[i].name, name))
			return i;
	return -1;
}

int gx_netem_table_find(const gx_netem_table *t, uint32_t addr)
{
	int best = -1, best_len = -1;
	for (int i = 0; i < t->n; i++)
		for (int j = 0; j < t->site[i].nprefix; j++) {
			const netem_prefix *p = &t->site[i].prefix[j];
			if ((addr & p->mask) == p->net && p->len > best_len) {
				best = i;
				best_len = p->len;
			}
		}
	return best;
}

int gx_netem_classify(const gx_netem_table *t, const uint8_t *pkt, size_t len, int *src, int *dst)
{
	*src = *dst = -1;
	if (len < 1)
		return GX_ETRUNC;
	if (pkt[0] >> 4 != 4)
		return 0; /* IPv6 and the rest pass untouched */
	if (len < 20 || (pkt[0] & 15) < 5)
		return GX_ETRUNC;
	uint32_t s = (uint32_t)pkt[12] << 24 | (uint32_t)pkt[13] << 16 | (uint32_t)pkt[14] << 8 | pkt[15];
	uint32_t d = (uint32_t)pkt[16] << 24 | (uint32_t)pkt[17] << 16 | (uint32_t)pkt[18] << 8 | pkt[19];
	*src = gx_netem_table_find(t, s);
	*dst = gx_netem_table_find(t, d);
	return 0;
}

/* Whether every prefix of x is one of y's. */
static int prefixes_within(const netem_site *x, const netem_site *y)
{
	for (int i = 0; i < x->nprefix; i++) {
		int found = 0;
		for (int j = 0; j < y->nprefix && !found; j++)
			found = x->prefix[i].net == y->prefix[j].net && x->prefix[i].len == y->prefix[j].len;
		if (!found)
			return 0;
	}
	return 1;
}

int netem_table_same_sites(const gx_netem_table *a, const gx_netem_table *b, char *err, size_t cap)
{
	static const char why[] = "a reload may change links only, not sites";
	if (a->n != b->n)
		return fail(err, cap, "the sites changed: the table names %d, the running one %d (%s)",
			    b->n, a->n, why);
	for (int i = 0; i < a->n; i++) {
		const netem_site *x = &a->site[i], *y = &b->site[i];
		if (strcmp(x->name, y->name))
			return fail(err, cap, "the sites changed: site %d is '%s' now, was '%s' (%s)", i + 1,
				    y->name, x->name, why);
		if (!prefixes_within(x, y) || !prefixes_within(y, x))
			return fail(err, cap, "the sites changed: site '%s' has other prefixes (%s)",
				    x->name, why);
	}
	return 0;
}

/* "10.1.2.0/24" or "10.1.2.3" (a /32). */
static int parse_prefix(const char *s, netem_prefix *p)
{
	char a[32];
	const char *slash = strchr(s, '/');
	size_t al = slash ? (size_t)(slash - s) : strlen(s);
	if (al == 0 || al >= sizeof a)
		return -1;
	memcpy(a, s, al);
	a[al] = '\0';
	struct in_addr in;
	if (inet_pton(AF_INET, a, &in) != 1)
		return -1;
	long len = 32;
	if (slash) {
		char *e;
		if (!isdigit((unsigned char)slash[1]))
			return -1;
		len = strtol(slash + 1, &e, 10);
		if (*e || len < 0 || len > 32)
			return -1;
	}
	p->len = (int)len;
	p->mask = len == 0 ? 0 : 0xffffffffu << (32 - len);
	p->net = ntohl(in.s_addr) & p->mask;
	return 0;
}

/* A probability in [0, 1], as a fraction or a percentage. */
static int parse_prob(const char *s, double *p)
{
	char *e;
	if (!*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return -1;
	errno = 0;
	double v = strtod(s, &e);
	if (errno || e == s)
		return -1;
	if (!strcmp(e, "%"))
		v /= 100;
	else if (*e)
		return -1;
	if (!(v >= 0 && v <= 1))
		return -1;
	*p = v;
	return 0;
}

/* Bytes with an optional unit (B, kB, KB, KiB, MB, MiB), at least 1. */
static int parse_bytes(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		double mul;
	} units[] = { { "", 1 },     { "B", 1 },          { "kB", 1e3 },  { "KB", 1e3 },
		      { "KiB", 1024 }, { "MB", 1e6 }, { "MiB", 1048576 } };
	char *e;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	double v = strtod(s, &e);
	if (errno || e == s)
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (!strcmp(e, units[i].unit)) {
			double b = v * units[i].mul;
			if (!(b >= 1 && b <= 1e10))
				return -1;
			*out = (uint64_t)llround(b);
			return 0;
		}
	return -1;
}

/* ge=P_GB,P_BG[,LOSS_BAD[,LOSS_GOOD]] */
static int parse_ge(const char *s, gx_relay_ge *g)
{
	char buf[128];
	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	double v[4] = { 0, 0, 1, 0 };
	int n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == 4 || parse_prob(tok, &v[n]))
			return -1;
		n++;
	}
	if (n < 2 || v[0] <= 0 || v[1] <= 0)
		return -1;
	g->p_gb = v[0];
	g->p_bg = v[1];
	g->loss_bad = v[2];
	g->loss_good = v[3];
	return 0;
}

/* One KEY=VALUE into l; a queue in time into *queue_ns (the rate may come
 * after it). An access link (access) takes only rate= and queue=: it is a
 * bottleneck, and the delay, the loss and the rest belong to the pairs. */
static int parse_param(const char *kv, int access, gx_netem_link *l, uint64_t *queue_ns, char *err,
		       size_t cap)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return fail(err, cap, "'%s' is not KEY=VALUE", kv);
	size_t kl = (size_t)(eq - kv);
	const char *v = eq + 1;
#define KEY(name) (kl == sizeof(name) - 1 && !strncmp(kv, name, kl))
	if (access && !KEY("rate") && !KEY("queue"))
		return fail(err, cap, "key '%.*s' on an access link (it takes rate= and queue= only; "
				      "delay and loss are the pair links')", (int)kl, kv);
	if (KEY("delay")) {
		if (gx_relay_parse_time(v, &l->l.delay_ns))
			return fail(err, cap, "invalid delay '%s' (want a time, e.g. 25ms)", v);
	} else if (KEY("jitter")) {
		if (gx_relay_parse_time(v, &l->l.jitter_ns))
			return fail(err, cap, "invalid jitter '%s' (want a time, e.g. 2ms)", v);
	} else if (KEY("rate")) {
		if (gx_relay_parse_rate(v, &l->l.rate))
			return fail(err, cap, "invalid rate '%s' (want e.g. 100mbit, 12.5MB)", v);
	} else if (KEY("loss")) {
		if (gx_relay_parse_loss(v, &l->l.loss))
			return fail(err, cap, "invalid loss '%s' (want a fraction or a percentage "
					      "below 100%%, e.g. 1%%)", v);
	} else if (KEY("ge")) {
		if (parse_ge(v, &l->ge))
			return fail(err, cap, "invalid ge '%s' (want P_GB,P_BG[,LOSS_BAD[,LOSS_GOOD]], "
					      "the first two above 0, e.g. 1%%,30%%)", v);
	} else if (KEY("reorder")) {
		if (parse_prob(v, &l->reorder) || l->reorder >= 1)
			return fail(err, cap, "invalid reorder '%s' (want a probability below 1, "
					      "e.g. 1%%)", v);
	} else if (KEY("queue")) {
		size_t vl = strlen(v);
		if (vl > 1 && v[vl - 1] == 's' && !gx_relay_parse_time(v, queue_ns) && *queue_ns) {
			l->queue = 0;
		} else if (*queue_ns = 0, parse_bytes(v, &l->queue)) {
			return fail(err, cap, "invalid queue '%s' (want bytes, e.g. 64KiB, or a time "
					      "at the rate, e.g. 50ms)", v);
		}
	} else {
		return fail(err, cap, "unknown key '%.*s' (delay, jitter, rate, queue, loss, ge, "
				      "reorder)", (int)kl, kv);
	}
#undef KEY
	return 0;
}

/* The KEY=VALUE words tok[0..n) as one link into *l, its queue made bytes
 * (a time at the rate, or the default); access: an access link's keys. */
static int parse_link(char **tok, int n, int access, gx_netem_link *l, char *err, size_t cap)
{
	memset(l, 0, sizeof *l);
	uint64_t queue_ns = 0;
	for (int i = 0; i < n; i++)
		if (parse_param(tok[i], access, l, &queue_ns, err, cap))
			return GX_EINVAL;
	if (queue_ns) {
		if (!(l->l.rate > 0))
			return fail(err, cap, "queue= without rate= (the queue is the rate's)");
		l->queue = (uint64_t)llround((double)queue_ns * l->l.rate / 1e9);
		if (l->queue < 1)
			return fail(err, cap, "the queue holds less than a byte at the rate");
	}
	if (l->l.jitter_ns > l->l.delay_ns)
		return fail(err, cap, "jitter above the delay (the delay would be cut at 0)");
	if (l->l.loss > 0 && l->ge.p_gb > 0)
		return fail(err, cap, "loss= and ge= together (one model of loss per link)");
	if (l->queue && !(l->l.rate > 0))
		return fail(err, cap, "queue= without rate= (the queue is the rate's)");
	if (l->l.rate > 0 && !l->queue) {
		l->queue = (uint64_t)llround(l->l.rate * GX_NETEM_DEF_QUEUE_MS / 1e3);
		if (l->queue < GX_NETEM_MIN_QUEUE)
			l->queue = GX_NETEM_MIN_QUEUE;
	}
	return 0;
}

static int split(char *line, char **tok, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *s = strtok_r(line, " \t\r\n", &save); s; s = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return -1;
		tok[n++] = s;
	}
	return n;
}

static int add_site(gx_netem_table *t, char **tok, int n, char *err, size_t cap)
{
	if (n < 3)
		return fail(err, cap, "a site needs a name and at least one prefix");
	const char *name = tok[1];
	size_t nl = strlen(name);
	/* (the words that start other lines, so that no line means two things) */
	if (nl > NAME_MAX_LEN || !strcmp(name, "*") || !strcmp(name, ">") || !strcmp(name, "site") ||
	    !strcmp(name, "access"))
		return fail(err, cap, "bad site name '%s' (at most %d characters, not *, >, site or "
				      "access)", name, NAME_MAX_LEN);
	for (size_t i = 0; i < nl; i++)
		if (!(isalnum((unsigned char)name[i]) || name[i] == '_' || name[i] == '-' ||
		      name[i] == '.'))
			return fail(err, cap, "bad site name '%s' (letters, digits, _ - .)", name);
	if (site_index(t, name) >= 0)
		return fail(err, cap, "site '%s' named twice", name);
	if (t->n == GX_NETEM_MAX_SITES)
		return fail(err, cap, "more than %d sites", GX_NETEM_MAX_SITES);
	if (n - 2 > GX_NETEM_MAX_PREFIXES)
		return fail(err, cap, "site '%s': more than %d prefixes", name, GX_NETEM_MAX_PREFIXES);
	netem_site *s = &t->site[t->n];
	memset(s, 0, sizeof *s);
	for (int i = 2; i < n; i++) {
		netem_prefix *p = &s->prefix[i - 2];
		if (parse_prefix(tok[i], p))
			return fail(err, cap, "site '%s': bad prefix '%s' (want IPv4 ADDRESS[/LEN])",
				    name, tok[i]);
		for (int j = 0; j < t->n; j++)
			for (int k = 0; k < t->site[j].nprefix; k++) {
				const netem_prefix *q = &t->site[j].prefix[k];
				if (q->net == p->net && q->len == p->len)
					return fail(err, cap, "prefix %s is site '%s''s already", tok[i],
						    t->site[j].name);
			}
	}
	memcpy(s->name, name, nl + 1);
	s->nprefix = n - 2;
	t->n++;
	return 0;
}

/* The sites a name stands for: [*lo, *hi). */
static int site_range(const gx_netem_table *t, const char *name, int *lo, int *hi, char *err,
		      size_t cap)
{
	if (!strcmp(name, "*")) {
		if (t->n == 0)
			return fail(err, cap, "'*' before any site");
		*lo = 0;
		*hi = t->n;
		return 0;
	}
	int i = site_index(t, name);
	if (i < 0)
		return fail(err, cap, "no site '%s' (name sites first: site NAME PREFIX...)", name);
	*lo = i;
	*hi = i + 1;
	return 0;
}

static int add_link(gx_netem_table *t, char **tok, int n, char *err, size_t cap)
{
	int one_way = n >= 2 && !strcmp(tok[1], ">");
	int first = one_way ? 3 : 2;
	if (n < first)
		return fail(err, cap, "a link needs two sites: A B KEY=VALUE... or A > B KEY=VALUE...");
	int alo, ahi, blo, bhi;
	if (site_range(t, tok[0], &alo, &ahi, err, cap) ||
	    site_range(t, tok[first - 1], &blo, &bhi, err, cap))
		return GX_EINVAL;
	if (ahi - alo == 1 && alo == blo && bhi == ahi)
		return fail(err, cap, "a link from site '%s' to itself", tok[0]);
	gx_netem_link l;
	if (parse_link(tok + first, n - first, 0, &l, err, cap))
		return GX_EINVAL;
	for (int a = alo; a < ahi; a++)
		for (int b = blo; b < bhi; b++) {
			if (a == b)
				continue;
			t->link[a][b] = l;
			t->set[a][b] = 1;
			if (!one_way) {
				t->link[b][a] = l;
				t->set[b][a] = 1;
			}
		}
	return 0;
}

/* access SITE [in|out] rate=RATE [queue=BYTES|TIME]: both ways when the
 * way is not named (as "A B" is both directions of a pair); rate=0 removes
 * it. */
static int add_access(gx_netem_table *t, char **tok, int n, char *err, size_t cap)
{
	if (n < 3)
		return fail(err, cap, "an access link needs a site and a rate: access SITE [in|out] "
				      "rate=RATE [queue=BYTES|TIME]");
	int lo, hi;
	if (site_range(t, tok[1], &lo, &hi, err, cap))
		return GX_EINVAL;
	int first = 2, way_lo = GX_NETEM_IN, way_hi = GX_NETEM_OUT + 1;
	if (!strchr(tok[2], '=')) {
		if (strcmp(tok[2], "in") && strcmp(tok[2], "out"))
			return fail(err, cap, "'%s' is not a way of an access link (in or out)", tok[2]);
		way_lo = !strcmp(tok[2], "in") ? GX_NETEM_IN : GX_NETEM_OUT;
		way_hi = way_lo + 1;
		first = 3;
	}
	gx_netem_link l;
	if (parse_link(tok + first, n - first, 1, &l, err, cap))
		return GX_EINVAL;
	int have_rate = 0;
	for (int i = first; i < n; i++)
		have_rate |= !strncmp(tok[i], "rate=", 5);
	if (!have_rate)
		return fail(err, cap, "an access link needs rate= (rate=0 removes it)");
	for (int s = lo; s < hi; s++)
		for (int w = way_lo; w < way_hi; w++)
			t->access[s][w] = l;
	return 0;
}

int gx_netem_table_line(gx_netem_table *t, const char *line, char *err, size_t cap)
{
	char buf[1024];
	if (strlen(line) >= sizeof buf)
		return fail(err, cap, "line longer than %zu characters", sizeof buf - 1);
	strcpy(buf, line);
	char *hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	char *tok[LINE_MAX_TOKENS];
	int n = split(buf, tok, LINE_MAX_TOKENS);
	if (n < 0)
		return fail(err, cap, "more than %d words", LINE_MAX_TOKENS);
	if (n == 0)
		return 0;
	if (!strcmp(tok[0], "site"))
		return add_site(t, tok, n, err, cap);
	if (!strcmp(tok[0], "access"))
		return add_access(t, tok, n, err, cap);
	return add_link(t, tok, n, err, cap);
}
