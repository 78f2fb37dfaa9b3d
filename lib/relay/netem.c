/*
 * netem.c — the packet-level emulator (gx_relay.h, "The packet-level
 * emulator"): reads IP packets from a TUN device, gives each the link of
 * its pair of sites (link.h: the same model as geomx-relay's stream
 * emulation, with a packet as the unit), and writes it back into the
 * device at its time, so the kernel routes it on.
 *
 * Why one thread and a heap: the work per packet is a read, a few draws
 * and a write; what must be exact is when each goes out. Held packets sit
 * in one binary heap ordered by (release time, arrival), so packets of a
 * direction whose times the link made non-decreasing leave in order, and
 * the loop sleeps in ppoll until the earliest one is due or a packet
 * arrives. The thread's timer slack is set to 1 us so that sleep ends
 * when it should rather than up to 50 us later.
 *
 * Stages: a packet crosses up to three links in turn (its source's out
 * access link, its pair's link, its destination's in access link), and
 * meets each when it leaves the one before, not when it was read: an
 * access link shared by pairs of different delays must see packets in the
 * order they reach it, or one that comes later would queue before one that
 * came earlier. So a packet that leaves a link later than now is held in
 * the heap until then, and crosses the next link when it comes out; every
 * link is met at non-decreasing times (the heap's order, and a packet read
 * at now only after all that was due by now), which is what the virtual
 * clock of a rate needs to be a FIFO.
 *
 * A new table (gx_netem_reload) takes over where a real link's change
 * would: at the exit of its bottleneck. What has gone through a rate is on
 * the wire and keeps its time; what still waits for it is sent at the new
 * rate and then meets the new delay, so each packet keeps how it made its
 * time (tx, jit) to make it again, and the rate's virtual clock is carried
 * over (rescaled), not reset, which would let new packets burst past the
 * bytes still waiting.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "../base/heap.h"
#include "link.h"
#include "netem.h"

enum { READ_BATCH = 256, BLOCK_PKTS = 256, FD_MTU = 1500 };

/* The links a packet crosses, in this order (stage_link). */
enum { ST_EGRESS, ST_PAIR, ST_INGRESS, ST_DONE };

typedef struct pkt {
	uint64_t t, seq; /* when it leaves the link it is on (ns), arrival order */
	/* How the link it is on made t, kept so that a reload can make it
	 * again (gx_netem_reload): when it goes through the rate (tx; its
	 * arrival without a rate), the jitter it drew, whether it skips the
	 * delay (reorder=). */
	uint64_t tx;
	int64_t jit;
	uint32_t len;
	int16_t src, dst;
	int8_t stage;    /* the next stage */
	int8_t on;       /* the stage of the link it is on; -1: none yet */
	int8_t early;
	uint8_t data[];
} pkt;

struct gx_netem {
	gx_netem_opts o;
	gx_netem_table t;
	link_dir dir[GX_NETEM_MAX_SITES][GX_NETEM_MAX_SITES];
	gx_netem_count count[GX_NETEM_MAX_SITES][GX_NETEM_MAX_SITES];
	link_dir access_dir[GX_NETEM_MAX_SITES][2]; /* [site][GX_NETEM_IN or _OUT] */
	gx_netem_count access_count[GX_NETEM_MAX_SITES][2];
	uint64_t passed, malformed, write_fail, dropped_at_stop;
	int fd, own_fd;
	/* What a signal handler or another thread asks (set with __atomic
	 * stores, which are async-signal-safe), and the self-pipe whose byte
	 * wakes ppoll to look: a flag is never lost, a byte may be when the
	 * pipe is full, and then there are bytes enough to wake it. */
	int stop_asked, wake_asked;
	int wake_pipe[2];
	size_t slot;         /* bytes of a pkt with its data */
	pkt *spare;          /* the next read lands here */
	pkt **free_list;
	size_t nfree, made;  /* made <= o.max_packets + 1 (the spare) */
	uint8_t **blocks;
	size_t nblocks;
	gx_heap heap;     /* held packets by (release time, arrival) */
	uint64_t seq;
	FILE *stats;
	int stats_failed;
	uint64_t t0, next_stats;
	char tun_name[IFNAMSIZ];
};

static void elog(const gx_netem *e, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void elog(const gx_netem *e, int level, const char *fmt, ...)
{
	if (!e->o.log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	e->o.log(e->o.log_ud, level, msg);
}

void gx_netem_opts_default(gx_netem_opts *o)
{
	memset(o, 0, sizeof *o);
	o->fd = -1;
	o->max_packets = GX_NETEM_DEF_MAX_PACKETS;
	o->seed = GX_RELAY_DEF_SEED;
	o->stats_every = GX_NETEM_DEF_STATS_EVERY;
}

/* ------------------------------------------------------------ the device */

static int if_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", name);
	int rc = ioctl(s, req, ifr);
	int saved = errno;
	close(s);
	errno = saved;
	return rc;
}

/* Attaches to TUN device name (made by `ip tuntap add`, or made now),
 * brings it up; its MTU into *mtu. */
static int tun_open(gx_netem *e, const char *name, size_t *mtu)
{
	if (!name || !*name || strlen(name) >= IFNAMSIZ) {
		elog(e, 0, "bad TUN device name '%s'", name ? name : "");
		errno = EINVAL;
		return -1;
	}
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		elog(e, 0, "cannot open /dev/net/tun: %s", strerror(errno));
		return -1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		elog(e, 0, "cannot attach to TUN device '%s': %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(e->tun_name, sizeof e->tun_name, "%s", ifr.ifr_name);
	memset(&ifr, 0, sizeof ifr);
	if (if_ioctl(e->tun_name, SIOCGIFFLAGS, &ifr) < 0 ||
	    (!(ifr.ifr_flags & IFF_UP) &&
	     (ifr.ifr_flags |= IFF_UP, if_ioctl(e->tun_name, SIOCSIFFLAGS, &ifr) < 0))) {
		elog(e, 0, "cannot bring TUN device '%s' up: %s", e->tun_name, strerror(errno));
		close(fd);
		return -1;
	}
	memset(&ifr, 0, sizeof ifr);
	if (!*mtu) {
		if (if_ioctl(e->tun_name, SIOCGIFMTU, &ifr) < 0) {
			elog(e, 0, "cannot read the MTU of '%s': %s", e->tun_name, strerror(errno));
			close(fd);
			return -1;
		}
		*mtu = (size_t)ifr.ifr_mtu;
	}
	return fd;
}

/* ----------------------------------------------------------- the packets */

/* A free slot, made when fewer than max_packets (+ the spare) exist;
 * NULL when all are taken. */
static pkt *slot_take(gx_netem *e)
{
	if (e->nfree)
		return e->free_list[--e->nfree];
	if (e->made >= e->o.max_packets + 1)
		return NULL;
	size_t n = e->o.max_packets + 1 - e->made;
	if (n > BLOCK_PKTS)
		n = BLOCK_PKTS;
	uint8_t *b = malloc(n * e->slot);
	uint8_t **nb = b ? realloc(e->blocks, (e->nblocks + 1) * sizeof *nb) : NULL;
	if (!nb) {
		free(b);
		return NULL;
	}
	e->blocks = nb;
	e->blocks[e->nblocks++] = b;
	for (size_t i = 1; i < n; i++)
		e->free_list[e->nfree++] = (pkt *)(void *)(b + i * e->slot);
	e->made += n;
	return (pkt *)(void *)b;
}

static int before(const void *x, const void *y)
{
	const pkt *a = x, *b = y;
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

/* The link p crosses at stage st, with its state and counts; NULL when
 * none is set there. */
static const gx_netem_link *stage_link(gx_netem *e, const pkt *p, int st, link_dir **d,
				       gx_netem_count **c)
{
	if (st == ST_PAIR) {
		*d = &e->dir[p->src][p->dst];
		*c = &e->count[p->src][p->dst];
		return gx_netem_table_link(&e->t, p->src, p->dst);
	}
	int site = st == ST_EGRESS ? p->src : p->dst;
	int way = st == ST_EGRESS ? GX_NETEM_OUT : GX_NETEM_IN;
	*d = &e->access_dir[site][way];
	*c = &e->access_count[site][way];
	return gx_netem_table_access(&e->t, site, way);
}

/* p left the link it was on. */
static void left(gx_netem *e, const pkt *p)
{
	link_dir *d;
	gx_netem_count *c;
	if (p->on < 0)
		return;
	stage_link(e, p, p->on, &d, &c);
	c->out++;
	c->out_bytes += p->len;
}

static void emit(gx_netem *e, const pkt *p)
{
	ssize_t w;
	do
		w = write(e->fd, p->data, p->len);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)p->len) {
		e->write_fail++;
		return;
	}
	left(e, p);
}

/* Packet p reaching link l (its state d, its counts c) at *t: 0 with the
 * time it leaves in *t, or -1 when it was lost or dropped. An access link
 * is a link with only a rate and a queue: the same path. */
static int cross(const gx_netem_link *l, link_dir *d, gx_netem_count *c, pkt *p, uint64_t *t)
{
	uint64_t at = *t;
	uint32_t len = p->len;
	c->in++;
	c->in_bytes += len;
	if (l->ge.p_gb > 0 ? link_ge_lost(d, &l->ge) : l->l.loss > 0 && link_draw(d, l->l.loss)) {
		c->lost++;
		return -1;
	}
	if (l->l.rate > 0 && link_backlog(d, &l->l, at) + len > l->queue) {
		c->dropped++;
		return -1;
	}
	/* (link_stamp's steps, each kept in p; the draws in the same order) */
	p->early = l->reorder > 0 && link_draw(d, l->reorder);
	p->tx = link_send(d, &l->l, len, at);
	if (p->early) {
		c->reordered++;
		p->jit = 0;
		*t = p->tx;
		return 0;
	}
	p->jit = link_jitter(d, &l->l);
	*t = link_release(d, link_jittered(p->tx + l->l.delay_ns, p->jit, at));
	return 0;
}

/* Takes p, which reaches stage p->stage at t (t <= now), across the links
 * it leaves by now and out to the device when it has crossed them all;
 * holds it in the heap when it leaves a link later, or when a held packet
 * is due no later (it goes first: ties keep the order of arrival). 1 when
 * p was held; else its slot is free again. */
static int advance(gx_netem *e, pkt *p, uint64_t t, uint64_t now)
{
	for (; p->stage < ST_DONE; p->stage++) {
		link_dir *d;
		gx_netem_count *c;
		const gx_netem_link *l = stage_link(e, p, p->stage, &d, &c);
		if (!l)
			continue;
		left(e, p);
		p->on = p->stage;
		if (cross(l, d, c, p, &t))
			return 0;
		const pkt *first = gx_heap_top(&e->heap);
		if (t <= now && (!first || first->t > t))
			continue;
		if (p == e->spare) { /* just read: it takes a slot */
			pkt *next = slot_take(e);
			if (!next) {
				c->overflow++;
				return 0;
			}
			e->spare = next;
			p->seq = e->seq++;
		}
		p->t = t;
		p->stage++;
		/* (room for every packet was reserved: a push never allocates) */
		(void)gx_heap_push(&e->heap, p);
		return 1;
	}
	emit(e, p);
	return 0;
}

/* The packet in e->spare, read at now: shaped when it goes between two
 * sites that have a link or an access link on its way, else at once. */
static void admit(gx_netem *e, uint64_t now)
{
	pkt *p = e->spare;
	int s, d;
	p->src = p->dst = -1;
	p->stage = ST_EGRESS;
	p->on = -1;
	if (gx_netem_classify(&e->t, p->data, p->len, &s, &d)) {
		e->malformed++;
		emit(e, p); /* the kernel's to judge, as it would be without us */
		return;
	}
	if (s < 0 || d < 0 || s == d ||
	    (!e->t.set[s][d] && !gx_netem_table_access(&e->t, s, GX_NETEM_OUT) &&
	     !gx_netem_table_access(&e->t, d, GX_NETEM_IN))) {
		e->passed++;
		emit(e, p);
		return;
	}
	p->src = (int16_t)s;
	p->dst = (int16_t)d;
	advance(e, p, now, now);
}

static void release_due(gx_netem *e, uint64_t now)
{
	const pkt *first;
	while ((first = gx_heap_top(&e->heap)) && first->t <= now) {
		pkt *p = gx_heap_pop(&e->heap);
		if (!advance(e, p, p->t, now))
			e->free_list[e->nfree++] = p;
	}
}

/* --------------------------------------------------------- a new table */

/* The link a held packet is on, as a number: pairs first, then access
 * links (for sorting the held packets by link). */
static int on_key(const pkt *p)
{
	if (p->on == ST_PAIR)
		return p->src * GX_NETEM_MAX_SITES + p->dst;
	int site = p->on == ST_EGRESS ? p->src : p->dst;
	int way = p->on == ST_EGRESS ? GX_NETEM_OUT : GX_NETEM_IN;
	return GX_NETEM_MAX_SITES * GX_NETEM_MAX_SITES + site * 2 + way;
}

/* By link, then in the order they reached it (their turns at the rate). */
static int by_link(const void *x, const void *y)
{
	const pkt *a = *(pkt *const *)x, *b = *(pkt *const *)y;
	int ka = on_key(a), kb = on_key(b);
	if (ka != kb)
		return ka < kb ? -1 : 1;
	if (a->tx != b->tx)
		return a->tx < b->tx ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static const gx_relay_link no_link; /* a link taken away: no rate, no delay */

/* Whether the times a link gives change from o to n (NULL: none). */
static int timing_changed(const gx_netem_link *o, const gx_netem_link *n)
{
	const gx_relay_link *a = o ? &o->l : &no_link, *b = n ? &n->l : &no_link;
	return a->rate != b->rate || a->delay_ns != b->delay_ns || a->jitter_ns != b->jitter_ns;
}

/* The packets v[0..n) held on one link (by_link's order), whose timing
 * goes from o to nl at now, its state d: those still waiting for the rate
 * are sent at the new one from now on and then meet the new delay, in the
 * order they came (link_release's order kept from the last packet that
 * went through the rate); those past it keep their times. */
static void retime(pkt **v, size_t n, const gx_relay_link *o, const gx_relay_link *nl, link_dir *d,
		   uint64_t now)
{
	uint64_t last = d->last_release < now ? d->last_release : now;
	for (size_t i = 0; i < n; i++) {
		pkt *p = v[i];
		if (p->tx <= now) { /* on the wire already */
			if (!p->early && p->t > last)
				last = p->t;
			continue;
		}
		p->tx = link_retime(p->tx, o->rate, nl->rate, now);
		if (p->early) {
			p->t = p->tx;
			continue;
		}
		int64_t j = (int64_t)nl->jitter_ns;
		p->jit = p->jit > j ? j : p->jit < -j ? -j : p->jit;
		p->t = link_jittered(p->tx + nl->delay_ns, p->jit, now);
		if (p->t < last)
			p->t = last;
		last = p->t;
	}
	d->last_release = last;
}

int gx_netem_reload(gx_netem *e, const gx_netem_table *t, char *err, size_t cap)
{
	if (netem_table_same_sites(&e->t, t, err, cap))
		return GX_EINVAL;
	uint64_t now = gx_now_ns();
	release_due(e, now); /* so every packet held leaves later than now */
	size_t n = e->heap.n;
	pkt **v = malloc((n ? n : 1) * sizeof *v);
	if (!v) {
		if (err && cap)
			snprintf(err, cap, "out of memory");
		return GX_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = gx_heap_pop(&e->heap);
	qsort(v, n, sizeof *v, by_link);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && on_key(v[j]) == on_key(v[i]); j++)
			;
		link_dir *d;
		gx_netem_count *c;
		const gx_netem_link *o = stage_link(e, v[i], v[i]->on, &d, &c);
		const gx_netem_link *nl;
		if (v[i]->on == ST_PAIR)
			nl = gx_netem_table_link(t, v[i]->src, v[i]->dst);
		else
			nl = gx_netem_table_access(t, v[i]->on == ST_EGRESS ? v[i]->src : v[i]->dst,
						   v[i]->on == ST_EGRESS ? GX_NETEM_OUT : GX_NETEM_IN);
		if (timing_changed(o, nl))
			retime(v + i, j - i, o ? &o->l : &no_link, nl ? &nl->l : &no_link, d, now);
	}
	/* every virtual clock onto its new rate, held packets or not */
	for (int a = 0; a < e->t.n; a++) {
		for (int b = 0; b < e->t.n; b++) {
			const gx_netem_link *o = gx_netem_table_link(&e->t, a, b);
			const gx_netem_link *nl = gx_netem_table_link(t, a, b);
			e->dir[a][b].vclock = link_retime(e->dir[a][b].vclock, o ? o->l.rate : 0,
							  nl ? nl->l.rate : 0, now);
		}
		for (int w = GX_NETEM_IN; w <= GX_NETEM_OUT; w++) {
			const gx_netem_link *o = gx_netem_table_access(&e->t, a, w);
			const gx_netem_link *nl = gx_netem_table_access(t, a, w);
			e->access_dir[a][w].vclock = link_retime(e->access_dir[a][w].vclock,
								 o ? o->l.rate : 0, nl ? nl->l.rate : 0, now);
		}
	}
	/* back into the heap, on the new times (room for all was reserved) */
	for (size_t i = 0; i < n; i++)
		(void)gx_heap_push(&e->heap, v[i]);
	free(v);
	e->t = *t;
	return 0;
}

/* ------------------------------------------------------------ statistics */

static void stats_row(gx_netem *e, double ts, const char *src, const char *dst,
		      const gx_netem_count *c)
{
	if (!c->in)
		return;
	fprintf(e->stats, "%.3f\t%s\t%s\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\n", ts, src,
		dst, (unsigned long long)c->in, (unsigned long long)c->in_bytes,
		(unsigned long long)c->out, (unsigned long long)c->out_bytes,
		(unsigned long long)c->lost, (unsigned long long)c->dropped,
		(unsigned long long)c->overflow, (unsigned long long)c->reordered);
}

/* A line per pair, then per access link, "*" its other end: SITE > * out
 * of SITE, * > SITE into it. */
static void stats_write(gx_netem *e, uint64_t now)
{
	if (!e->stats)
		return;
	double ts = (double)(now - e->t0) / 1e9;
	for (int a = 0; a < e->t.n; a++)
		for (int b = 0; b < e->t.n; b++)
			stats_row(e, ts, e->t.site[a].name, e->t.site[b].name, &e->count[a][b]);
	for (int a = 0; a < e->t.n; a++) {
		stats_row(e, ts, e->t.site[a].name, "*", &e->access_count[a][GX_NETEM_OUT]);
		stats_row(e, ts, "*", e->t.site[a].name, &e->access_count[a][GX_NETEM_IN]);
	}
	if (fflush(e->stats) != 0 && !e->stats_failed) {
		e->stats_failed = 1;
		elog(e, 0, "cannot write the statistics: %s", strerror(errno));
	}
}

void gx_netem_counts(const gx_netem *e, int src, int dst, gx_netem_count *c)
{
	memset(c, 0, sizeof *c);
	if (src >= 0 && dst >= 0 && src < e->t.n && dst < e->t.n)
		*c = e->count[src][dst];
}

void gx_netem_access_counts(const gx_netem *e, int site, int way, gx_netem_count *c)
{
	memset(c, 0, sizeof *c);
	if (site >= 0 && site < e->t.n && (way == GX_NETEM_IN || way == GX_NETEM_OUT))
		*c = e->access_count[site][way];
}

/* ------------------------------------------------------------ the engine */

gx_netem *gx_netem_create(const gx_netem_opts *o, const gx_netem_table *t, int *err)
{
	gx_netem *e = calloc(1, sizeof *e);
	int rc = GX_ENOMEM;
	if (!e)
		goto fail_nolog;
	e->o = *o;
	e->t = *t;
	e->fd = -1;
	e->wake_pipe[0] = e->wake_pipe[1] = -1;
	e->t0 = gx_now_ns();
	if (e->o.max_packets < 1)
		e->o.max_packets = 1;
	for (int a = 0; a < GX_NETEM_MAX_SITES; a++)
		for (int b = 0; b < GX_NETEM_MAX_SITES; b++)
			link_init(&e->dir[a][b], o->seed * 0x9e3779b97f4a7c15ull + (uint64_t)a * 131 + (uint64_t)b + 1);
	/* (an access link draws nothing; its state starts as every link's) */
	for (int a = 0; a < GX_NETEM_MAX_SITES; a++)
		for (int w = 0; w < 2; w++)
			link_init(&e->access_dir[a][w], o->seed * 0x9e3779b97f4a7c15ull + 1000000 +
								(uint64_t)a * 2 + (uint64_t)w);
	if (o->stats_path) {
		e->stats = fopen(o->stats_path, "w");
		if (!e->stats) {
			elog(e, 0, "cannot open %s: %s", o->stats_path, strerror(errno));
			rc = GX_EIO;
			goto fail;
		}
		fprintf(e->stats, "time_s\tsrc\tdst\tin\tin_bytes\tout\tout_bytes\tlost\tdropped\t"
				  "overflow\treordered\n");
		fflush(e->stats);
	}
	size_t mtu = o->mtu;
	if (o->fd >= 0) {
		e->fd = o->fd;
		int fl = fcntl(e->fd, F_GETFL);
		if (fl < 0 || fcntl(e->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			elog(e, 0, "cannot make the packet descriptor non-blocking: %s", strerror(errno));
			rc = GX_EIO;
			goto fail;
		}
		if (!mtu)
			mtu = FD_MTU;
	} else {
		e->fd = tun_open(e, o->tun, &mtu);
		if (e->fd < 0) {
			rc = GX_EIO;
			goto fail;
		}
		e->own_fd = 1;
	}
	if (mtu < 68 || mtu > 65535) {
		elog(e, 0, "MTU %zu out of range", mtu);
		rc = GX_EINVAL;
		goto fail;
	}
	e->slot = (sizeof(pkt) + mtu + 15) & ~(size_t)15;
	e->free_list = malloc((e->o.max_packets + 1) * sizeof *e->free_list);
	gx_heap_init(&e->heap, before);
	if (!e->free_list || gx_heap_reserve(&e->heap, (size_t)e->o.max_packets + 1) != 0 ||
	    !(e->spare = slot_take(e)))
		goto fail;
	if (pipe2(e->wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		rc = GX_EIO;
		goto fail;
	}
	return e;
fail:
	if (rc == GX_ENOMEM)
		elog(e, 0, "out of memory");
	gx_netem_free(e);
fail_nolog:
	if (err)
		*err = rc;
	return NULL;
}

int gx_netem_run(gx_netem *e)
{
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	e->t0 = gx_now_ns();
	uint64_t every = (uint64_t)(e->o.stats_every * 1e9);
	e->next_stats = e->t0 + every;
	for (;;) {
		uint64_t now = gx_now_ns();
		release_due(e, now);
		if (e->stats && now >= e->next_stats) {
			stats_write(e, now);
			e->next_stats = now + every;
		}
		uint64_t until = e->stats ? e->next_stats : now + 1000000000ull;
		const pkt *first = gx_heap_top(&e->heap);
		if (first && first->t < until)
			until = first->t;
		struct timespec ts = { 0, 0 };
		if (until > now) {
			ts.tv_sec = (time_t)((until - now) / 1000000000ull);
			ts.tv_nsec = (long)((until - now) % 1000000000ull);
		}
		struct pollfd pf[2] = { { e->fd, POLLIN, 0 }, { e->wake_pipe[0], POLLIN, 0 } };
		int n = ppoll(pf, 2, &ts, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			elog(e, 0, "poll: %s", strerror(errno));
			return GX_EIO;
		}
		if (pf[1].revents) {
			char b[64];
			while (read(e->wake_pipe[0], b, sizeof b) > 0)
				;
			if (__atomic_load_n(&e->stop_asked, __ATOMIC_ACQUIRE))
				break;
			/* (a wake asked after this store is served by a later call) */
			if (__atomic_exchange_n(&e->wake_asked, 0, __ATOMIC_ACQ_REL) && e->o.wake)
				e->o.wake(e->o.wake_ud, e);
			continue;
		}
		if (pf[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			elog(e, 0, "the packet device failed (poll events 0x%x)", pf[0].revents);
			return GX_EIO;
		}
		if (!(pf[0].revents & POLLIN))
			continue;
		for (int i = 0; i < READ_BATCH; i++) {
			ssize_t r = read(e->fd, e->spare->data, e->slot - sizeof(pkt));
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				elog(e, 0, "read: %s", strerror(errno));
				return GX_EIO;
			}
			if (r == 0)
				break;
			e->spare->len = (uint32_t)r;
			now = gx_now_ns();
			release_due(e, now); /* those due go before this one */
			admit(e, now);
		}
	}
	e->dropped_at_stop = e->heap.n;
	return 0;
}

static void poke(gx_netem *e, int *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
	int saved = errno;
	ssize_t w = write(e->wake_pipe[1], "x", 1);
	(void)w; /* full: bytes enough to wake it are there */
	errno = saved;
}

void gx_netem_stop(gx_netem *e)
{
	poke(e, &e->stop_asked);
}

void gx_netem_wake(gx_netem *e)
{
	poke(e, &e->wake_asked);
}

void gx_netem_free(gx_netem *e)
{
	if (!e)
		return;
	if (e->stats) {
		stats_write(e, gx_now_ns());
		fclose(e->stats);
	}
	if (e->own_fd && e->fd >= 0)
		close(e->fd);
	for (int i = 0; i < 2; i++)
		if (e->wake_pipe[i] >= 0)
			close(e->wake_pipe[i]);
	for (size_t i = 0; i < e->nblocks; i++)
		free(e->blocks[i]);
	free(e->blocks);
	free(e->free_list);
	gx_heap_free(&e->heap);
	free(e);
}
