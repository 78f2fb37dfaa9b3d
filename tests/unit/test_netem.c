/*
 * test_netem.c — the packet emulator (lib/relay/netem.c, netem_table.c)
 * without a TUN device: the engine reads and writes a datagram socket, one
 * IPv4 packet per datagram, as it would the device.
 *   - the table: sites, longest prefix, "*", one-way lines that override,
 *     and a one-line reason for each kind of bad line;
 *   - classification of packets: IPv4 by address, IPv6 passes, short ones
 *     are truncated;
 *   - delay: no packet comes back before its delay; packets of unknown
 *     pairs come back at once and are not counted;
 *   - jitter keeps the order; reorder breaks it, and says how often;
 *   - rate and drop-tail queue: a burst of 100 packets of 1000 bytes into
 *     a 1 MB/s link with a 10000-byte queue: 10 (or 11, if a packet left
 *     while the burst was read) go, the rest are dropped, and those that
 *     go leave 1 ms apart;
 *   - loss: 10 % of 3000 packets within 5 standard deviations (82);
 *   - access links: the table's access lines; a shared ingress met in the
 *     order packets reach it (after their pair's delay); an egress's queue
 *     and rate before the pair's link;
 *   - a reload (gx_netem_reload, from the wake callback as geomx-netem's
 *     SIGHUP does it): packets waiting for a rate go at the new one from
 *     then on, in order, and a packet after them waits behind them (the
 *     virtual clock carried over); a packet past the rate keeps its
 *     delivery time and a later one under a shorter delay does not
 *     overtake it; a shorter queue drops none of what it holds but bounds
 *     what comes; a table of other sites is refused, the running one
 *     stays.
 * Timing assertions have only a lower bound (a loaded machine delays, it
 * never hurries); the emulator's accuracy is tests/integration/emulator*.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "geomx.h"
#include "t.h"

#define MS 1000000ull

static gx_netem_table *table_of(const char *const *lines)
{
	gx_netem_table *t = gx_netem_table_new();
	char err[256];
	for (; *lines; lines++)
		if (gx_netem_table_line(t, *lines, err, sizeof err)) {
			fprintf(stderr, "line '%s': %s\n", *lines, err);
			gx_netem_table_free(t);
			return NULL;
		}
	return t;
}

static void table_lines(void)
{
	static const char *const ok_lines[] = {
		"# a comment", "", "site a 10.0.1.0/24", "site b 10.0.2.0/24 10.0.3.7",
		"site c 10.0.0.0/8  # the rest", "* * delay=10ms", "a > b delay=20ms rate=8mbit",
		"c b loss=1% jitter=2ms delay=5ms reorder=0.5%", "a c ge=1%,25% queue=1ms rate=1MB", NULL,
	};
	gx_netem_table *t = table_of(ok_lines);
	T_REQUIRE(t);
	T_EQ(gx_netem_table_sites(t), 3);
	T_ASSERT(!strcmp(gx_netem_table_site(t, 1), "b"));
	T_EQ(gx_netem_table_find(t, 0x0a000105), 0);
	T_EQ(gx_netem_table_find(t, 0x0a000307), 1);
	T_EQ(gx_netem_table_find(t, 0x0a000308), 2); /* the /8, not b's /32 */
	T_EQ(gx_netem_table_find(t, 0x0b000001), -1);
	const gx_netem_link *ab = gx_netem_table_link(t, 0, 1), *ba = gx_netem_table_link(t, 1, 0);
	T_REQUIRE(ab && ba);
	T_EQ(ab->l.delay_ns, 20 * MS);
	T_NEAR(ab->l.rate, 1e6, 1e-6);
	T_EQ(ab->queue, 50000); /* 50 ms at 1 MB/s */
	T_EQ(ba->l.delay_ns, 10 * MS);
	T_ASSERT(!(ba->l.rate > 0));
	const gx_netem_link *cb = gx_netem_table_link(t, 2, 1);
	T_REQUIRE(cb);
	T_NEAR(cb->l.loss, 0.01, 1e-12);
	T_NEAR(cb->reorder, 0.005, 1e-12);
	const gx_netem_link *ac = gx_netem_table_link(t, 0, 2);
	T_REQUIRE(ac);
	T_NEAR(ac->ge.p_gb, 0.01, 1e-12);
	T_NEAR(ac->ge.loss_bad, 1, 0);
	T_EQ(ac->queue, 1000); /* as asked, even below the default's floor */
	T_ASSERT(gx_netem_table_link(t, 0, 0) == NULL);
	T_ASSERT(gx_netem_table_access(t, 0, GX_NETEM_IN) == NULL);
	gx_netem_table_free(t);

	static const char *const access_lines[] = {
		"site a 10.0.1.0/24", "site b 10.0.2.0/24", "site c 10.0.3.0/24",
		"access * out rate=100mbit", "access a in rate=1MB queue=20ms",
		"access b rate=8mbit queue=3000", "access c out rate=0", NULL,
	};
	t = table_of(access_lines);
	T_REQUIRE(t);
	const gx_netem_link *ai = gx_netem_table_access(t, 0, GX_NETEM_IN);
	const gx_netem_link *ao = gx_netem_table_access(t, 0, GX_NETEM_OUT);
	T_REQUIRE(ai && ao);
	T_NEAR(ai->l.rate, 1e6, 1e-6);
	T_EQ(ai->queue, 20000); /* 20 ms at 1 MB/s */
	T_NEAR(ao->l.rate, 12.5e6, 1e-3);
	T_EQ(ao->queue, 625000); /* the default: 50 ms at the rate */
	T_EQ(ao->l.delay_ns, 0);
	const gx_netem_link *bi = gx_netem_table_access(t, 1, GX_NETEM_IN);
	const gx_netem_link *bo = gx_netem_table_access(t, 1, GX_NETEM_OUT);
	T_REQUIRE(bi && bo); /* no way named: both */
	T_NEAR(bi->l.rate, 1e6, 1e-6);
	T_EQ(bo->queue, 3000);
	T_ASSERT(gx_netem_table_access(t, 2, GX_NETEM_OUT) == NULL); /* rate=0 removed it */
	T_ASSERT(gx_netem_table_access(t, 2, GX_NETEM_IN) == NULL);
	T_ASSERT(gx_netem_table_access(t, 3, GX_NETEM_IN) == NULL);
	T_ASSERT(gx_netem_table_link(t, 0, 1) == NULL); /* an access link is no pair's */
	gx_netem_table_free(t);

	static const struct {
		const char *line, *reason;
	} bad[] = {
		{ "site a 10.0.9.0/24", "named twice" },
		{ "site d 10.0.1.0/24", "already" },
		{ "site e 10.0.300.1", "bad prefix" },
		{ "site f 10.0.4.0/33", "bad prefix" },
		{ "site * 10.9.0.0/16", "bad site name" },
		{ "a x delay=1ms", "no site 'x'" },
		{ "a b delay=1ms jitter=2ms", "jitter above" },
		{ "a b loss=1% ge=1%,2%", "together" },
		{ "a b queue=10KiB", "without rate" },
		{ "a b colour=blue", "unknown key" },
		{ "a b delay=fast", "invalid delay" },
		{ "a b loss=100%", "invalid loss" },
		{ "a b ge=0,1", "invalid ge" },
		{ "a a delay=1ms", "itself" },
		{ "a b delay", "KEY=VALUE" },
		{ "a", "two sites" },
		{ "site access 10.9.0.0/16", "bad site name" },
		{ "access x in rate=1mbit", "no site 'x'" },
		{ "access a sideways rate=1mbit", "not a way" },
		{ "access a in delay=1ms rate=1mbit", "key 'delay' on an access link" },
		{ "access a out queue=10KiB", "without rate" },
		{ "access a in", "needs rate=" },
		{ "access a", "needs a site and a rate" },
		{ "access a in rate=slow", "invalid rate" },
	};
	t = table_of(ok_lines);
	T_REQUIRE(t);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[256] = "";
		T_EQ(gx_netem_table_line(t, bad[i].line, err, sizeof err), GX_EINVAL);
		if (!strstr(err, bad[i].reason)) {
			fprintf(stderr, "'%s': '%s' lacks '%s'\n", bad[i].line, err, bad[i].reason);
			T_ASSERT(0);
		}
	}
	gx_netem_table_free(t);
}

/* An IPv4 packet of len bytes from 10.0.1.S to 10.0.2.D carrying seq. */
static size_t make_pkt(uint8_t *p, size_t len, uint32_t src, uint32_t dst, uint32_t seq)
{
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 17;
	for (int i = 0; i < 4; i++) {
		p[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		p[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	memcpy(p + 20, &seq, 4);
	return len;
}

static void classify(void)
{
	static const char *const lines[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24", NULL };
	gx_netem_table *t = table_of(lines);
	T_REQUIRE(t);
	uint8_t p[64];
	int s, d;
	make_pkt(p, 40, 0x0a000102, 0x0a000203, 1);
	T_EQ(gx_netem_classify(t, p, 40, &s, &d), 0);
	T_EQ(s, 0);
	T_EQ(d, 1);
	make_pkt(p, 40, 0x0a000102, 0x0b000203, 1);
	T_EQ(gx_netem_classify(t, p, 40, &s, &d), 0);
	T_EQ(d, -1);
	T_EQ(gx_netem_classify(t, p, 19, &s, &d), GX_ETRUNC);
	T_EQ(gx_netem_classify(t, p, 0, &s, &d), GX_ETRUNC);
	p[0] = 0x60; /* IPv6 */
	T_EQ(gx_netem_classify(t, p, 40, &s, &d), 0);
	T_EQ(s, -1);
	p[0] = 0x44; /* a header shorter than 20 bytes */
	T_EQ(gx_netem_classify(t, p, 40, &s, &d), GX_ETRUNC);
	gx_netem_table_free(t);
}

/* An engine on one end of a socket pair of records (SOCK_SEQPACKET: one
 * read, one packet, as from a TUN device, and unlike SOCK_DGRAM no limit of
 * a few datagrams queued, so a burst can wait whole before the engine
 * starts); the test talks to the other end. */
typedef struct rig {
	int sv[2];
	gx_netem *e;
	pthread_t th;
	int rc;
	/* a reload, done by the engine's thread in its wake callback */
	gx_netem_table *next;
	int reload_rc;
	char err[256];
	uint64_t t_reload;  /* just before it */
	gx_netem_count at_reload; /* a -> b's counts just after */
	int done[2];        /* a byte when it is done */
} rig;

static void rig_wake(void *ud, gx_netem *e)
{
	rig *r = ud;
	r->t_reload = gx_now_ns();
	r->reload_rc = gx_netem_reload(e, r->next, r->err, sizeof r->err);
	gx_netem_counts(e, 0, 1, &r->at_reload);
	T_ASSERT(write(r->done[1], "x", 1) == 1);
}

static void *run_thread(void *arg)
{
	rig *r = arg;
	r->rc = gx_netem_run(r->e);
	return NULL;
}

/* The engine, not yet running (rig_go runs it); its statistics into stats
 * unless NULL. */
static int rig_make(rig *r, const char *const *lines, const char *stats)
{
	memset(r, 0, sizeof *r);
	gx_netem_table *t = table_of(lines);
	if (!t || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r->sv) ||
	    pipe(r->done)) {
		gx_netem_table_free(t);
		return -1;
	}
	int big = 4 << 20;
	for (int i = 0; i < 2; i++) {
		setsockopt(r->sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
		setsockopt(r->sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	}
	gx_netem_opts o;
	gx_netem_opts_default(&o);
	o.fd = r->sv[1];
	o.seed = 7;
	o.stats_path = stats;
	o.wake = rig_wake;
	o.wake_ud = r;
	r->e = gx_netem_create(&o, t, NULL);
	gx_netem_table_free(t);
	return r->e ? 0 : -1;
}

static int rig_go(rig *r)
{
	return pthread_create(&r->th, NULL, run_thread, r) ? -1 : 0;
}

static int rig_start(rig *r, const char *const *lines)
{
	return rig_make(r, lines, NULL) == 0 ? rig_go(r) : -1;
}

/* Stops the engine (rig_free frees it). */
static void rig_halt(rig *r)
{
	gx_netem_stop(r->e);
	pthread_join(r->th, NULL);
	T_EQ(r->rc, 0);
}

static void rig_free(rig *r)
{
	gx_netem_free(r->e);
	close(r->sv[0]);
	close(r->sv[1]);
	close(r->done[0]);
	close(r->done[1]);
}

/* The running engine switched to the table of lines: its gx_netem_reload's
 * result (-1 when the engine did not answer within 5 s). */
static int rig_reload(rig *r, const char *const *lines)
{
	r->next = table_of(lines);
	if (!r->next)
		return -1;
	gx_netem_wake(r->e);
	struct pollfd pf = { r->done[0], POLLIN, 0 };
	char b;
	if (poll(&pf, 1, 5000) != 1 || read(r->done[0], &b, 1) != 1)
		return -1; /* (the table is left to the engine that may yet read it) */
	gx_netem_table_free(r->next);
	r->next = NULL;
	return r->reload_rc;
}

/* Stops the engine and reads direction src -> dst's counts. */
static void rig_stop(rig *r, int src, int dst, gx_netem_count *c)
{
	rig_halt(r);
	gx_netem_counts(r->e, src, dst, c);
	rig_free(r);
}

/* Receives one packet within timeout_ms: its seq, and when (ns); -1 when
 * none came. */
static int64_t rig_recv(rig *r, int timeout_ms, uint64_t *when)
{
	struct pollfd pf = { r->sv[0], POLLIN, 0 };
	if (poll(&pf, 1, timeout_ms) != 1)
		return -1;
	uint8_t p[2048];
	ssize_t n = recv(r->sv[0], p, sizeof p, 0);
	*when = gx_now_ns();
	if (n < 24)
		return -1;
	uint32_t seq;
	memcpy(&seq, p + 20, 4);
	return seq;
}

static void rig_send(rig *r, size_t len, uint32_t src, uint32_t dst, uint32_t seq)
{
	uint8_t p[2048];
	make_pkt(p, len, src, dst, seq);
	T_ASSERT(send(r->sv[0], p, len, 0) == (ssize_t)len);
}

#define A 0x0a000102u
#define B 0x0a000203u

static void delay_and_pass(void)
{
	static const char *const lines[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					     "a > b delay=200ms", NULL };
	rig r;
	T_REQUIRE(rig_start(&r, lines) == 0);
	/* long enough that a busy machine's stall of the emulator between
	 * two reads cannot let the held packet fall due before the others
	 * pass */
	uint64_t t0 = gx_now_ns(), t1;
	rig_send(&r, 100, A, B, 1);
	rig_send(&r, 100, B, A, 2); /* b -> a has no link: at once */
	rig_send(&r, 100, A, 0x0b000001, 3); /* to no site: at once */
	T_EQ(rig_recv(&r, 5000, &t1), 2);
	T_EQ(rig_recv(&r, 5000, &t1), 3);
	T_EQ(rig_recv(&r, 5000, &t1), 1);
	T_ASSERT(t1 - t0 >= 200 * MS);
	gx_netem_count c;
	rig_stop(&r, 0, 1, &c);
	T_EQ(c.in, 1);
	T_EQ(c.out, 1);
	T_EQ(c.out_bytes, 100);
}

static void jitter_keeps_order_reorder_breaks_it(void)
{
	static const char *const lines[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					     "a > b delay=10ms jitter=5ms",
					     "b > a delay=10ms reorder=30%", NULL };
	rig r;
	T_REQUIRE(rig_start(&r, lines) == 0);
	enum { N = 300 };
	for (uint32_t i = 0; i < N; i++)
		rig_send(&r, 60, A, B, i);
	int64_t prev = -1;
	int in_order = 1, got = 0;
	uint64_t t;
	for (int64_t s; got < N && (s = rig_recv(&r, 5000, &t)) >= 0; got++) {
		in_order &= s > prev;
		prev = s;
	}
	T_EQ(got, N);
	T_ASSERT(in_order);
	for (uint32_t i = 0; i < N; i++)
		rig_send(&r, 60, B, A, i);
	int overtaken = 0;
	prev = -1;
	got = 0;
	for (int64_t s; got < N && (s = rig_recv(&r, 5000, &t)) >= 0; got++) {
		overtaken += s < prev;
		prev = s;
	}
	T_EQ(got, N);
	T_ASSERT(overtaken > 0);
	gx_netem_count c;
	rig_stop(&r, 1, 0, &c);
	T_EQ(c.out, N);
	/* 30 % of 300: 90, the binomial's deviation 7.9 */
	T_ASSERT(c.reordered >= 50 && c.reordered <= 130);
}

static void rate_and_queue(void)
{
	static const char *const lines[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					     "a > b rate=20kB queue=10000", NULL };
	rig r;
	T_REQUIRE(rig_make(&r, lines, NULL) == 0);
	/* The burst waits whole before the engine starts, so it meets the
	 * link at once however late this thread runs; the engine reads it in
	 * microseconds, and the link (50 ms a packet) would have to drain for
	 * 50 ms between two of those reads to let one more in. Packet i
	 * cannot leave before i x 50 ms after t_send (arrival times are read
	 * late when the machine is busy, so only this bound is exact). */
	uint64_t t_send = gx_now_ns();
	for (uint32_t i = 0; i < 100; i++)
		rig_send(&r, 1000, A, B, i);
	T_REQUIRE(rig_go(&r) == 0);
	uint64_t t[100];
	int got = 0;
	for (int64_t s; got < 100 && (s = rig_recv(&r, 1000, &t[got])) >= 0; got++)
		T_EQ(s, got); /* the first ones go, in order */
	gx_netem_count c;
	rig_stop(&r, 0, 1, &c);
	T_EQ(c.in, 100);
	T_ASSERT(c.out >= 10 && c.out <= 11);
	T_EQ(c.out + c.dropped, 100);
	T_EQ((uint64_t)got, c.out);
	for (int i = 1; i < got; i++)
		T_ASSERT(t[i] - t_send >= (uint64_t)i * 50 * MS); /* the rate: 50 ms a packet */
}

static void loss(void)
{
	static const char *const lines[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					     "a > b loss=10%", NULL };
	rig r;
	T_REQUIRE(rig_start(&r, lines) == 0);
	enum { N = 3000 };
	int got = 0;
	uint64_t t;
	for (uint32_t i = 0; i < N; i++) {
		rig_send(&r, 40, A, B, i);
		if (i % 100 == 99) /* in batches, so no socket buffer overflows */
			while (rig_recv(&r, 20, &t) >= 0)
				got++;
	}
	while (rig_recv(&r, 200, &t) >= 0)
		got++;
	gx_netem_count c;
	rig_stop(&r, 0, 1, &c);
	T_EQ(c.in, N);
	T_EQ(c.out, (uint64_t)got);
	T_EQ(c.out + c.lost, N);
	T_ASSERT(c.lost >= 300 - 83 && c.lost <= 300 + 83); /* 5 x sqrt(3000 x 0.09) = 82.2 */
}

#define C 0x0a000304u

/* b's ingress, 1 MB/s, shared by a (100 ms away) and c (no link of its
 * own, so only the access link shapes it): a's packet, read first, meets
 * the access link 100 ms later, after c's burst has crossed it, and so
 * leaves last; had it taken its turn when it was read, c's packets would
 * all have waited behind it. c's 20 packets of 1000 bytes leave 1 ms
 * apart (the access rate), in order. The burst waits whole before the
 * engine starts, as in rate_and_queue. The statistics name the access
 * link "* > b". */
static void ingress_shared_in_time_order(void)
{
	static const char *const lines[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					     "site c 10.0.3.0/24", "a > b delay=100ms",
					     "access b in rate=1MB queue=1MB", NULL };
	char stats[] = "/tmp/gx-netem-stats.XXXXXX";
	int sfd = mkstemp(stats);
	T_REQUIRE(sfd >= 0);
	close(sfd);
	rig r;
	T_REQUIRE(rig_make(&r, lines, stats) == 0);
	uint64_t t_send = gx_now_ns(), t[21];
	rig_send(&r, 1000, A, B, 1000);
	for (uint32_t i = 0; i < 20; i++)
		rig_send(&r, 1000, C, B, i);
	T_REQUIRE(rig_go(&r) == 0);
	int got = 0;
	for (int64_t s; got < 21 && (s = rig_recv(&r, 2000, &t[got])) >= 0; got++)
		T_EQ(s, got < 20 ? got : 1000);
	T_EQ(got, 21);
	for (int i = 0; i < got; i++)
		T_ASSERT(t[i] - t_send >= (uint64_t)(i < 20 ? i + 1 : 101) * MS);
	rig_halt(&r);
	gx_netem_count in, out, ab, cb;
	gx_netem_access_counts(r.e, 1, GX_NETEM_IN, &in);
	gx_netem_access_counts(r.e, 1, GX_NETEM_OUT, &out);
	gx_netem_counts(r.e, 0, 1, &ab);
	gx_netem_counts(r.e, 2, 1, &cb);
	rig_free(&r);
	T_EQ(in.in, 21);
	T_EQ(in.out, 21);
	T_EQ(in.out_bytes, 21000);
	T_EQ(in.dropped, 0);
	T_EQ(out.in, 0);
	T_EQ(ab.in, 1);
	T_EQ(ab.out, 1); /* it left the pair's link for the access link */
	T_EQ(cb.in, 0);
	FILE *f = fopen(stats, "r");
	T_REQUIRE(f);
	char line[256], last_in[256] = "";
	while (fgets(line, sizeof line, f))
		if (!strncmp(strchr(line, '\t'), "\t*\tb\t", 5))
			strcpy(last_in, strchr(line, '\t'));
	fclose(f);
	unlink(stats);
	T_ASSERT(!strcmp(last_in, "\t*\tb\t21\t21000\t21\t21000\t0\t0\t0\t0\n"));
}

/* a's egress, 1 MB/s with a queue of 5000 bytes, then the link a -> b
 * (50 ms): of a burst of 100 packets of 1000 bytes the egress takes 5 or
 * 6 (as rate_and_queue) and drops the rest; those reach the pair's link
 * as they leave the egress, 1 ms apart, and arrive 50 ms later, in order. */
static void egress_then_pair(void)
{
	static const char *const lines[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					     "a > b delay=50ms", "access a out rate=1MB queue=5000",
					     NULL };
	rig r;
	T_REQUIRE(rig_make(&r, lines, NULL) == 0);
	uint64_t t_send = gx_now_ns(), t[100];
	for (uint32_t i = 0; i < 100; i++)
		rig_send(&r, 1000, A, B, i);
	T_REQUIRE(rig_go(&r) == 0);
	int got = 0;
	for (int64_t s; got < 100 && (s = rig_recv(&r, 500, &t[got])) >= 0; got++) {
		T_EQ(s, got);
		T_ASSERT(t[got] - t_send >= (uint64_t)(50 + got + 1) * MS);
	}
	rig_halt(&r);
	gx_netem_count eg, ab;
	gx_netem_access_counts(r.e, 0, GX_NETEM_OUT, &eg);
	gx_netem_counts(r.e, 0, 1, &ab);
	rig_free(&r);
	T_EQ(eg.in, 100);
	T_ASSERT(eg.out >= 5 && eg.out <= 6);
	T_EQ(eg.out + eg.dropped, 100);
	T_EQ(ab.in, eg.out);
	T_EQ(ab.out, (uint64_t)got);
	T_EQ((uint64_t)got, eg.out);
}

/* A packet from b to a, which has no link: back at once, after every
 * packet sent before it was read. */
static void rig_sync(rig *r)
{
	uint64_t t;
	rig_send(r, 100, B, A, 999);
	T_EQ(rig_recv(r, 5000, &t), 999);
}

/* 10 packets of 1000 bytes wait for a 100 kB/s link (10 ms each); the
 * rate drops to 20 kB/s (50 ms each) after the engine read them: those
 * still waiting go at the new rate from the reload on, so packet i (after
 * the m that had gone) leaves (i - m) x 50 ms after it at the soonest
 * (the one being sent then, m, no sooner than the reload). A packet sent
 * after the reload waits behind them (the rate's clock carried over), in
 * order. Without the retiming all would be gone within 100 ms. */
static void reload_retimes_what_waits(void)
{
	static const char *const fast[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					    "a > b rate=100kB queue=1MB", NULL };
	static const char *const slow[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					    "a > b rate=20kB queue=1MB", NULL };
	rig r;
	T_REQUIRE(rig_make(&r, fast, NULL) == 0);
	for (uint32_t i = 0; i < 10; i++)
		rig_send(&r, 1000, A, B, i);
	T_REQUIRE(rig_go(&r) == 0);
	rig_sync(&r);
	T_EQ(rig_reload(&r, slow), 0);
	uint64_t m = r.at_reload.out;
	rig_send(&r, 1000, A, B, 10);
	uint64_t t[11];
	int got = 0;
	for (int64_t s; got < 11 && (s = rig_recv(&r, 2000, &t[got])) >= 0; got++)
		T_EQ(s, got);
	T_EQ(got, 11);
	for (int i = (int)m; i < got; i++)
		T_ASSERT(t[i] - r.t_reload >= (uint64_t)(i - (int)m) * 50 * MS);
	gx_netem_count c;
	rig_stop(&r, 0, 1, &c);
	T_EQ(c.in, 11);
	T_EQ(c.out, 11);
	T_EQ(c.dropped, 0);
}

/* A packet 200 ms on its way when the delay drops to 10 ms keeps its
 * time, and one sent after the reload does not overtake it; before that,
 * a table naming another site is refused and the running one stays. */
static void reload_keeps_what_is_on_its_way(void)
{
	static const char *const lines[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					     "a > b delay=200ms", NULL };
	static const char *const other_sites[] = { "site a 10.0.1.0/24", "site c 10.0.2.0/24",
						   "a > c delay=1ms", NULL };
	static const char *const shorter[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					       "a > b delay=10ms", NULL };
	rig r;
	T_REQUIRE(rig_start(&r, lines) == 0);
	uint64_t t0 = gx_now_ns(), t1, t2;
	rig_send(&r, 100, A, B, 1);
	rig_sync(&r);
	T_EQ(rig_reload(&r, other_sites), GX_EINVAL);
	T_ASSERT(strstr(r.err, "sites changed") && strstr(r.err, "'c'"));
	T_EQ(rig_reload(&r, shorter), 0);
	uint64_t t_send2 = gx_now_ns();
	rig_send(&r, 100, A, B, 2);
	T_EQ(rig_recv(&r, 5000, &t1), 1);
	T_EQ(rig_recv(&r, 5000, &t2), 2);
	T_ASSERT(t1 - t0 >= 200 * MS);
	T_ASSERT(t2 - t_send2 >= 10 * MS);
	gx_netem_count c;
	rig_stop(&r, 0, 1, &c);
	T_EQ(c.out, 2);
}

/* 10 packets of 1000 bytes wait for a 20 kB/s link when its queue shrinks
 * to 1000 bytes: none of them is dropped, but a packet sent after the
 * reload finds the queue full. */
static void reload_shorter_queue(void)
{
	static const char *const lines[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
					     "a > b rate=20kB queue=1MB", NULL };
	static const char *const short_queue[] = { "site a 10.0.1.0/24", "site b 10.0.2.0/24",
						   "a > b rate=20kB queue=1000", NULL };
	rig r;
	T_REQUIRE(rig_make(&r, lines, NULL) == 0);
	for (uint32_t i = 0; i < 10; i++)
		rig_send(&r, 1000, A, B, i);
	T_REQUIRE(rig_go(&r) == 0);
	rig_sync(&r);
	T_EQ(rig_reload(&r, short_queue), 0);
	rig_send(&r, 1000, A, B, 10);
	uint64_t t;
	int got = 0;
	for (int64_t s; got < 10 && (s = rig_recv(&r, 2000, &t)) >= 0; got++)
		T_EQ(s, got);
	T_EQ(got, 10);
	gx_netem_count c;
	rig_stop(&r, 0, 1, &c);
	T_EQ(c.in, 11);
	T_EQ(c.out, 10);
	T_EQ(c.dropped, 1);
}

int main(void)
{
	T_RUN(table_lines);
	T_RUN(classify);
	T_RUN(delay_and_pass);
	T_RUN(jitter_keeps_order_reorder_breaks_it);
	T_RUN(rate_and_queue);
	T_RUN(loss);
	T_RUN(ingress_shared_in_time_order);
	T_RUN(egress_then_pair);
	T_RUN(reload_retimes_what_waits);
	T_RUN(reload_keeps_what_is_on_its_way);
	T_RUN(reload_shorter_queue);
	T_DONE();
}
