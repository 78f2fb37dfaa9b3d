/* test_credit_auto.c — the tuned credit (gx_conn_set_credit with
 * GX_CREDIT_AUTO): its rule against figures worked by hand, and on a TCP
 * socket whose reader drains at a paced rate, the credit it settles on, the
 * bytes all delivered in order, the statistics saying it. */
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "geomx.h"
#include "net/conn_internal.h"
#include "t.h"
#include "t_net.h"

#define MS 1000000ull /* ns */

/* The rule, from a credit's start (256Ki: 65.536 MB/s): only a sample
 * that began with bytes unsent (full) counts, and moves the rate towards
 * its own by its length over 8 ms (all the way from 8 ms on); one that
 * ended with none unsent (starved) only upwards. The credit is the rate's
 * 4 ms within 64Ki..2Mi. Figures worked out by hand. */
static void test_rule(void)
{
	conn_auto a = { .rate = GX_DEFAULT_CREDIT / 0.004 };
	/* 12.5 MB/s over 4 ms, half of 8: 65.536 + (12.5 - 65.536) / 2 = 39.018 MB/s */
	T_EQ(conn_auto_update(&a, 4 * MS, 50000, 1, 0), 156072);
	T_NEAR(a.rate, 39.018e6, 1);
	/* 125 MB/s in twenty samples of 2 ms: 125 - 85.982 (3/4)^20 = 124.727 MB/s */
	for (int i = 0; i < 19; i++)
		conn_auto_update(&a, 2 * MS, 250000, 1, 0);
	T_EQ(conn_auto_update(&a, 2 * MS, 250000, 1, 0), 498909);
	/* a burst into empty buffers, 900 MB/s, starved or not: nothing */
	T_EQ(conn_auto_update(&a, 1 * MS, 900000, 0, 0), 498909);
	T_EQ(conn_auto_update(&a, 1 * MS, 900000, 0, 1), 498909);
	/* full and starved at 1 MB/s, less than the rate: nothing */
	T_EQ(conn_auto_update(&a, 100 * MS, 100000, 1, 1), 498909);
	/* full and starved at 400 MB/s for 1 ms: an eighth of the way up,
	 * 159.136 MB/s */
	T_EQ(conn_auto_update(&a, 1 * MS, 400000, 1, 1), 636546);
	/* 4 GB/s for 8 ms: all the way, past the most, which it keeps to */
	T_EQ(conn_auto_update(&a, 8 * MS, 32000000, 1, 1), GX_CREDIT_AUTO_MAX);
	T_NEAR(a.rate, 524.288e6, 1);
	/* and samples of the slow link bring it down, half the way at a time */
	size_t c = 0, last = GX_CREDIT_AUTO_MAX;
	int steps = 0, down = 1;
	while (steps < 100 && (c = conn_auto_update(&a, 4 * MS, 50000, 1, 0)) > GX_CREDIT_AUTO_MIN) {
		down &= c <= last;
		last = c;
		steps++;
	}
	T_ASSERT(down);
	T_EQ(c, GX_CREDIT_AUTO_MIN);
	/* (524.288 - 12.5) (1/2)^n < 16.384 - 12.5 MB/s from n = 8 on */
	T_EQ(steps, 7);
	/* never below the least */
	T_NEAR(a.rate, 16.384e6, 1);
	/* a sample of no time says nothing */
	T_EQ(conn_auto_update(&a, 0, 0, 1, 1), GX_CREDIT_AUTO_MIN);
}

/* ------------------------------------------------ a paced reader */

#define PACE_READ (16u << 10) /* bytes a read */
#ifndef PACE_NS
#define PACE_NS (1000000L)    /* between reads: 16 MB/s at most */
#endif
#define NFRAMES 160
#define FRAME (32u << 10)

typedef struct reader {
	int fd;
	size_t got;      /* bytes read (atomic) */
	int bad;         /* a byte out of place */
	int stop;
} reader;

static uint8_t g_pay[FRAME];

/* Reads the stream, checking every payload byte against g_pay. */
static void *read_paced(void *arg)
{
	reader *r = arg;
	static uint8_t buf[PACE_READ];
	size_t at = 0; /* position in the current frame */
	const size_t fl = GX_FRAME_HDR_SIZE + FRAME;
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		ssize_t n = recv(r->fd, buf, sizeof buf, 0);
		if (n == 0)
			break;
		if (n < 0) {
			struct pollfd p = { r->fd, POLLIN, 0 };
			poll(&p, 1, 10);
			continue;
		}
		for (ssize_t i = 0; i < n; i++, at = (at + 1) % fl)
			if (at >= GX_FRAME_HDR_SIZE && buf[i] != g_pay[at - GX_FRAME_HDR_SIZE])
				r->bad++;
		__atomic_add_fetch(&r->got, (size_t)n, __ATOMIC_RELEASE);
		struct timespec ts = { 0, PACE_NS };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Sends n frames of FRAME bytes on tx while a paced reader drains rfd, and
 * runs the loop until the reader has them all (or a generous deadline);
 * r gets what it read. 0, or -1 when the reader could not start. */
static int stream_paced(gx_ev *ev, gx_conn *tx, int rfd, uint32_t n, reader *r)
{
	*r = (reader){ .fd = rfd };
	pthread_t th;
	if (pthread_create(&th, NULL, read_paced, r) != 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		gx_frame_hdr h;
		gx_frame_hdr_init(&h);
		h.type = GX_FT_PUSH;
		h.key = 1;
		h.block = i;
		h.priority = 5;
		h.payload_len = h.raw_len = FRAME;
		T_EQ(gx_conn_send(tx, &h, g_pay), 0);
	}
	const size_t total = (size_t)n * (GX_FRAME_HDR_SIZE + FRAME);
	T_ASSERT(SPIN(ev, __atomic_load_n(&r->got, __ATOMIC_ACQUIRE) == total, 120000));
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	T_EQ(r->got, total);
	T_EQ(r->bad, 0);
	return 0;
}

/* A reader that drains at most 16 MB/s: once the receiver's buffer is full
 * the link is the reader, and the credit comes down from its start
 * (256Ki) to what 16 MB/s drains in 4 ms, the least (64Ki), or at least
 * below twice that; a busier machine only reads slower. Every byte
 * arrives, in order. */
static void test_paced_reader(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b, gone = 0;
	T_REQUIRE(ev && t_tcp_pair(&a, &b) == 0);
	gx_conn *tx = gx_conn_create(ev, a, NULL, t_nop_frame, t_gone_close, &gone);
	T_REQUIRE(tx);
	gx_conn_set_credit(tx, GX_CREDIT_AUTO);
	T_EQ(gx_conn_credit(tx), GX_DEFAULT_CREDIT);
	T_EQ(gx_conn_get_stats(tx)->credit, GX_DEFAULT_CREDIT);
	reader r;
	T_REQUIRE(stream_paced(ev, tx, b, NFRAMES, &r) == 0);
	size_t credit = gx_conn_credit(tx);
	printf("#   paced reader: credit %zu\n", credit);
	T_ASSERT(credit >= GX_CREDIT_AUTO_MIN);
	T_ASSERT(credit < 2 * GX_CREDIT_AUTO_MIN);
	T_EQ(gx_conn_get_stats(tx)->credit, credit);
	gx_conn_close(tx, 0, "done");
	close(b);
	gx_ev_free(ev);
}

/* Not a TCP socket: nothing to measure, the credit stays at its start and
 * still holds frames back. */
static void test_not_tcp(void)
{
	gx_ev *ev = gx_ev_create(64);
	int sv[2], gone = 0;
	T_REQUIRE(ev && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	gx_conn *tx = gx_conn_create(ev, sv[0], NULL, t_nop_frame, t_gone_close, &gone);
	T_REQUIRE(tx);
	gx_conn_set_credit(tx, GX_CREDIT_AUTO);
	reader r;
	T_REQUIRE(stream_paced(ev, tx, sv[1], 32, &r) == 0);
	T_EQ(gx_conn_credit(tx), GX_DEFAULT_CREDIT);
	gx_conn_close(tx, 0, "done");
	close(sv[1]);
	gx_ev_free(ev);
}

int main(void)
{
	t_pattern(g_pay, sizeof g_pay);
	T_RUN(test_rule);
	T_RUN(test_paced_reader);
	T_RUN(test_not_tcp);
	T_DONE();
}
