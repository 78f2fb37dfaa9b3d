/* test_credit.c — a connection's credit (gx_conn_set_credit): frames that
 * find the credit used wait and go out by priority, other frames keep their
 * place, a flushing close sends what waits, and the order is the one sent
 * without a credit. Over loopback TCP, one loop, one thread. */
#include <unistd.h>

#include "geomx.h"
#include "base/buf.h"
#include "net/conn.h"
#include "t.h"
#include "t_net.h"

#define MAXF 64

/* What the receiving end saw, in order. */
typedef struct seen {
	int n, bad, closed;
	int type[MAXF];
	uint32_t key[MAXF], block[MAXF];
} seen;

static uint8_t g_pay[1u << 20];

static void on_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *p, void *ud)
{
	(void)c;
	seen *s = ud;
	if (s->n == MAXF) {
		s->bad++;
		return;
	}
	/* every payload is cut from g_pay at key * 1000 + block */
	if (h->payload_len && memcmp(p, g_pay + h->key * 1000 + h->block, h->payload_len))
		s->bad++;
	s->type[s->n] = h->type;
	s->key[s->n] = h->key;
	s->block[s->n] = h->block;
	s->n++;
}

static void on_close(gx_conn *c, int err, const char *why, void *ud)
{
	(void)c, (void)err, (void)why;
	((seen *)ud)->closed = 1;
}

/* A tensor frame of len bytes (by reference into b when b is given). */
static int send_t(gx_conn *c, gx_buf *b, uint32_t key, uint32_t block, int prio, size_t len)
{
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_PUSH;
	h.key = key;
	h.block = block;
	h.priority = (uint8_t)prio;
	h.payload_len = h.raw_len = (uint32_t)len;
	const uint8_t *p = (b ? b->data : g_pay) + key * 1000 + block;
	return gx_conn_send_buf(c, &h, b, p);
}

static int send_ctl(gx_conn *c, int type)
{
	return gx_send_ctl(c, type, 0, 0, NULL, 0);
}

/* The sequence of the test, sent on c: a bulk tensor of prio 9 in eight
 * 32 KiB blocks (by reference), then an urgent one (copied), a heartbeat,
 * another urgent one. Returns the payload bytes. */
static size_t send_sequence(gx_conn *c, gx_buf *b)
{
	size_t total = 0;
	for (uint32_t i = 0; i < 8; i++) {
		T_EQ(send_t(c, b, 1, i, 9, 32u << 10), 0);
		total += 32u << 10;
	}
	T_EQ(send_t(c, NULL, 2, 0, 0, 4096), 0);
	T_EQ(send_ctl(c, GX_FT_HEARTBEAT), 0);
	T_EQ(send_t(c, NULL, 3, 0, 0, 100), 0);
	return total + 4096 + 100;
}

/* The types send_sequence's frames arrive with, in either order: the
 * heartbeat keeps its place. */
static const int seq_type[] = { GX_FT_PUSH, GX_FT_PUSH, GX_FT_PUSH, GX_FT_PUSH, GX_FT_PUSH,
				GX_FT_PUSH, GX_FT_PUSH, GX_FT_PUSH, GX_FT_PUSH,
				GX_FT_HEARTBEAT, GX_FT_PUSH };

static void run_sequence(size_t credit, const int *want_key, const int *want_block,
			 const int *want_type)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b, gone = 0;
	T_REQUIRE(ev && t_tcp_pair(&a, &b) == 0);
	seen s = { 0 };
	gx_conn *tx = gx_conn_create(ev, a, NULL, t_nop_frame, t_gone_close, &gone);
	gx_conn *rx = gx_conn_create(ev, b, NULL, on_frame, on_close, &s);
	T_REQUIRE(tx && rx);
	gx_conn_set_credit(tx, credit);
	gx_buf *buf = gx_buf_new(sizeof g_pay);
	T_REQUIRE(buf);
	memcpy(buf->data, g_pay, sizeof g_pay);
	size_t total = send_sequence(tx, buf);
	/* what waits counts as queued */
	T_EQ(gx_conn_pending(tx), total + 11 * GX_FRAME_HDR_SIZE);
	T_ASSERT(SPIN(ev, s.n == 11, 60000));
	T_EQ(s.bad, 0);
	for (int i = 0; i < 11 && i < s.n; i++) {
		T_EQ(s.type[i], want_type[i]);
		T_EQ((int)s.key[i], want_key[i]);
		T_EQ((int)s.block[i], want_block[i]);
	}
	T_EQ(gx_conn_pending(tx), 0);

	/* A flushing close sends what waits first, in its order. */
	s.n = 0;
	send_sequence(tx, buf);
	gx_conn_close(tx, 1, "done");
	gx_buf_unref(buf);
	T_ASSERT(SPIN(ev, s.closed && gone, 60000));
	T_EQ(s.n, 11);
	for (int i = 0; i < 11 && i < s.n; i++) {
		T_EQ((int)s.key[i], want_key[i]);
		T_EQ((int)s.block[i], want_block[i]);
	}
	gx_ev_free(ev);
}

static void test_priority_within_credit(void)
{
	/* 64 KiB: two bulk blocks are queued at once, the urgent tensor
	 * overtakes the six others, the heartbeat keeps its place between the
	 * two urgent ones. */
	static const int key[] = { 1, 1, 2, 1, 1, 1, 1, 1, 1, 0, 3 };
	static const int block[] = { 0, 1, 0, 2, 3, 4, 5, 6, 7, 0, 0 };
	run_sequence(64u << 10, key, block, seq_type);
}

static void test_no_credit_is_fifo(void)
{
	static const int key[] = { 1, 1, 1, 1, 1, 1, 1, 1, 2, 0, 3 };
	static const int block[] = { 0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0 };
	run_sequence(0, key, block, seq_type);
}

/* A barrier that finds nothing waiting goes at once, even past the credit;
 * frames sent after it wait behind it. Dropping the credit sends all. */
static void test_barrier_and_release(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b, gone = 0;
	T_REQUIRE(ev && t_tcp_pair(&a, &b) == 0);
	seen s = { 0 };
	gx_conn *tx = gx_conn_create(ev, a, NULL, t_nop_frame, t_gone_close, &gone);
	gx_conn *rx = gx_conn_create(ev, b, NULL, on_frame, on_close, &s);
	T_REQUIRE(tx && rx);
	gx_conn_set_credit(tx, 4096);
	T_EQ(send_t(tx, NULL, 1, 0, 9, 8192), 0);  /* queued: nothing waits */
	T_EQ(send_ctl(tx, GX_FT_MEMBERS), 0);      /* queued at once too */
	T_EQ(send_t(tx, NULL, 2, 0, 9, 100), 0);   /* waits: the credit is used */
	T_EQ(send_ctl(tx, GX_FT_BYE), 0);          /* waits behind it */
	T_EQ(send_t(tx, NULL, 3, 0, 0, 100), 0);   /* after the barrier */
	gx_conn_set_credit(tx, 0);
	T_ASSERT(SPIN(ev, s.n == 5, 60000));
	static const int type[] = { GX_FT_PUSH, GX_FT_MEMBERS, GX_FT_PUSH, GX_FT_BYE, GX_FT_PUSH };
	static const int key[] = { 1, 0, 2, 0, 3 };
	for (int i = 0; i < 5 && i < s.n; i++) {
		T_EQ(s.type[i], type[i]);
		T_EQ((int)s.key[i], key[i]);
	}
	T_EQ(s.bad, 0);
	gx_conn_close(tx, 0, "done");
	gx_conn_close(rx, 0, "done");
	gx_ev_free(ev);
}

int main(void)
{
	t_pattern(g_pay, sizeof g_pay);
	T_RUN(test_priority_within_credit);
	T_RUN(test_no_credit_is_fifo);
	T_RUN(test_barrier_and_release);
	T_DONE();
}
