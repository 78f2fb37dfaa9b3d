/* test_conn.c — socket helpers and framed connections over loopback TCP,
 * all on one loop in one thread. */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "geomx.h"
#include "net/conn.h"
#include "t.h"
#include "t_net.h"

#define BIG (64u << 20) /* the largest payload sent: 64 MiB */
#define PAT_SLACK 4096

static uint8_t *g_pat; /* BIG + PAT_SLACK pattern bytes payloads are cut from */

static const uint8_t *pattern(uint32_t key)
{
	return g_pat + (key * 977u) % PAT_SLACK;
}

/* ----------------------------------------------------------- helpers */

/* What one connection saw. */
typedef struct rec {
	gx_conn *c;
	uint32_t nframes;     /* frames received */
	uint32_t next_key;    /* keys arrive as 0, 1, 2, ... */
	uint64_t bytes;       /* payload bytes received */
	int bad;              /* a frame arrived out of order or damaged */
	int closed, err;
	char why[256];
	uint32_t frames_at_close;
	int close_after;      /* on_frame closes the conn after this many frames */
	int close_flush;
	int closed_in_frame;  /* on_close ran inside on_frame (must not) */
	int in_frame;
	struct rec *watch;    /* fairness: frames of watch when this got one */
	uint32_t watch_seen;
} rec;

static void on_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *p, void *ud)
{
	rec *r = ud;
	r->in_frame = 1;
	if (h->key != r->next_key || h->type != GX_FT_TENSOR ||
	    (h->payload_len && memcmp(p, pattern(h->key), h->payload_len) != 0))
		r->bad++;
	r->next_key = h->key + 1;
	r->nframes++;
	r->bytes += h->payload_len;
	if (r->watch && r->watch_seen == 0)
		r->watch_seen = r->watch->nframes + 1;
	if (r->close_after && r->nframes == (uint32_t)r->close_after) {
		gx_conn_close(c, r->close_flush, "enough");
		if (r->closed)
			r->closed_in_frame = 1;
	}
	r->in_frame = 0;
}

static void on_close(gx_conn *c, int err, const char *why, void *ud)
{
	rec *r = ud;
	if (r->in_frame)
		r->closed_in_frame = 1;
	r->closed++;
	r->err = err;
	r->frames_at_close = r->nframes;
	snprintf(r->why, sizeof r->why, "%s", why);
	r->c = NULL;
}

static gx_conn *mk(gx_ev *ev, int fd, rec *r)
{
	memset(r, 0, sizeof *r);
	r->c = gx_conn_create(ev, fd, NULL, on_frame, on_close, r);
	return r->c;
}

/* A tensor-typed frame of len pattern bytes with key k (codec NONE keeps
 * the header consistent for any length). */
static int send_k(gx_conn *c, uint32_t k, size_t len)
{
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.key = k;
	h.payload_len = h.raw_len = (uint32_t)len;
	return gx_conn_send(c, &h, pattern(k));
}

static void closefd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ------------------------------------------------------------ sockets */

static void test_split(void)
{
	char h[64];
	int port = -1;
	T_EQ(gx_net_split("127.0.0.1:5000", h, sizeof h, &port), 0);
	T_ASSERT(strcmp(h, "127.0.0.1") == 0);
	T_EQ(port, 5000);
	T_EQ(gx_net_split("localhost:0", h, sizeof h, &port), 0);
	T_ASSERT(strcmp(h, "localhost") == 0);
	T_EQ(port, 0);
	T_EQ(gx_net_split("[::1]:65535", h, sizeof h, &port), 0);
	T_ASSERT(strcmp(h, "::1") == 0);
	T_EQ(port, 65535);
	T_EQ(gx_net_split(":7", h, sizeof h, &port), 0);
	T_ASSERT(strcmp(h, "") == 0);
	T_EQ(port, 7);
	static const char *bad[] = { "", "host", "host:", "host:x", "host:65536", "host:-1",
				     "::1:80", "[::1]", "[::1]80", "[]:80", "[::1:80",
				     "h:1 ", "h: 1", "a]:1" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (gx_net_split(bad[i], h, sizeof h, &port) != GX_EINVAL) {
			printf("#   accepted \"%s\"\n", bad[i]);
			t_case_failed = 1;
		}
	char tiny[4];
	T_EQ(gx_net_split("abcd:1", tiny, sizeof tiny, &port), GX_EINVAL);
	T_EQ(gx_net_split("abc:1", tiny, sizeof tiny, &port), 0);
	T_EQ(gx_net_split(NULL, h, sizeof h, &port), GX_EINVAL);
}

static void test_listen_errors(void)
{
	char err[256];
	err[0] = 0;
	T_EQ(gx_net_listen("127.0.0.1", 99999, err, sizeof err), GX_EIO);
	T_ASSERT(strcmp(err, "cannot listen on 127.0.0.1:99999: invalid port") == 0);
	int l = gx_net_listen("127.0.0.1", 0, err, sizeof err);
	T_REQUIRE(l >= 0);
	int port = gx_net_port(l);
	T_ASSERT(port > 0);
	char want[128];
	snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%d: Address already in use", port);
	T_EQ(gx_net_listen("127.0.0.1", port, err, sizeof err), GX_EIO);
	T_ASSERT(strcmp(err, want) == 0);
	if (strcmp(err, want) != 0)
		printf("#   got \"%s\"\n", err);
	/* connecting to a closed port is refused (at once or once writable) */
	close(l);
	int c = gx_net_connect("127.0.0.1", port, err, sizeof err);
	if (c >= 0) {
		struct pollfd p = { c, POLLOUT, 0 };
		poll(&p, 1, 1000);
		T_EQ(gx_net_connect_result(c), ECONNREFUSED);
		close(c);
	} else {
		T_ASSERT(strstr(err, "Connection refused") != NULL);
	}
	T_EQ(gx_net_connect("127.0.0.1", 0, err, sizeof err), GX_EIO);
	T_ASSERT(strstr(err, "invalid port") != NULL);
	/* a small error buffer is cut, not overrun */
	char small[8];
	T_EQ(gx_net_listen("127.0.0.1", -1, small, sizeof small), GX_EIO);
	T_EQ(strlen(small), 7);
}

static void test_accept_and_peer(void)
{
	char err[256], peer[64], pn[64];
	int l = gx_net_listen("localhost", 0, err, sizeof err);
	T_REQUIRE(l >= 0);
	T_EQ(gx_net_accept(l, peer, sizeof peer), GX_ENEEDMORE);
	int c = gx_net_connect("localhost", gx_net_port(l), err, sizeof err);
	T_REQUIRE(c >= 0);
	struct pollfd p = { l, POLLIN, 0 };
	T_EQ(poll(&p, 1, 2000), 1);
	int s = gx_net_accept(l, peer, sizeof peer);
	T_REQUIRE(s >= 0);
	/* the peer is the connecting socket's local address */
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	T_EQ(getsockname(c, (struct sockaddr *)&ss, &sl), 0);
	char want[64];
	if (ss.ss_family == AF_INET)
		snprintf(want, sizeof want, "127.0.0.1:%d", gx_net_port(c));
	else
		snprintf(want, sizeof want, "[::1]:%d", gx_net_port(c));
	T_ASSERT(strcmp(peer, want) == 0);
	T_EQ(gx_net_peer_name(s, pn, sizeof pn), 0);
	T_ASSERT(strcmp(pn, want) == 0);
	/* options are set and readable */
	int on = 0;
	socklen_t ol = sizeof on;
	T_EQ(getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &on, &ol), 0);
	T_EQ(on, 1);
	T_EQ(gx_net_keepalive(s, 30), 0);
	T_EQ(gx_net_nodelay(s), 0);
	T_EQ(gx_net_nonblock(s), 0);
	T_EQ(gx_net_keepalive(-1, 30), GX_EIO);
	T_EQ(gx_net_port(-1), GX_EIO);
	T_EQ(gx_net_peer_name(l, pn, sizeof pn), GX_EIO);
	close(s);
	close(c);
	close(l);
}

/* ---------------------------------------------------------- framing */

static void test_frames_both_ways(void)
{
	static const size_t sizes[] = { 0, 1, 63, 64, 65, 1000, 65535, 65536, 65537,
					(1u << 20) - 1, 1u << 20, (1u << 20) + 1, 3u << 20, 7,
					BIG, 0, 12345 };
	const uint32_t n = sizeof sizes / sizeof *sizes;
	uint64_t total = 0;
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra, rb;
	T_REQUIRE(mk(ev, a, &ra) && mk(ev, b, &rb));
	for (uint32_t i = 0; i < n; i++) {
		T_EQ(send_k(ra.c, i, sizes[i]), 0);
		T_EQ(send_k(rb.c, i, sizes[i]), 0);
		total += sizes[i];
	}
	T_EQ(gx_conn_pending(ra.c), total + n * GX_FRAME_HDR_SIZE);
	/* nothing is written inside gx_conn_send */
	T_EQ(gx_conn_get_stats(ra.c)->bytes_out, 0);
	/* one event writes at most the cap */
	gx_ev_once(ev, 0);
	T_ASSERT(gx_conn_get_stats(ra.c)->bytes_out <= GX_CONN_WRITE_CAP);
	T_ASSERT(gx_conn_get_stats(rb.c)->bytes_in <= GX_CONN_READ_CAP);
	T_ASSERT(SPIN(ev, ra.nframes == n && rb.nframes == n, 60000));
	T_EQ(ra.bad, 0);
	T_EQ(rb.bad, 0);
	T_EQ(ra.bytes, total);
	T_EQ(rb.bytes, total);
	T_EQ(gx_conn_pending(ra.c), 0);
	T_EQ(gx_ev_mask(ev, a), GX_EV_READ); /* WRITE dropped once drained */
	const gx_conn_stats *st = gx_conn_get_stats(ra.c);
	T_EQ(st->frames_out, n);
	T_EQ(st->frames_in, n);
	T_EQ(st->bytes_out, total + n * GX_FRAME_HDR_SIZE);
	T_EQ(st->bytes_in, total + n * GX_FRAME_HDR_SIZE);
	T_ASSERT(gx_now_ms() - gx_conn_last_rx(ra.c) < 60000);
	T_EQ(gx_conn_fd(ra.c), a);
	T_ASSERT(gx_conn_ud(ra.c) == &ra);
	/* names: the peer by default, then whatever the owner sets */
	T_ASSERT(strncmp(gx_conn_name(ra.c), "127.0.0.1:", 10) == 0);
	gx_conn_set_name(ra.c, "worker 3");
	T_ASSERT(strcmp(gx_conn_name(ra.c), "worker 3") == 0);
	gx_conn_close(ra.c, 0, "bye");
	T_EQ(ra.closed, 1);
	T_EQ(ra.err, 0);
	T_ASSERT(strcmp(ra.why, "bye") == 0);
	T_ASSERT(SPIN(ev, rb.closed, 5000));
	T_EQ(rb.err, 0);
	T_ASSERT(strcmp(rb.why, "connection closed by peer") == 0);
	gx_ev_free(ev);
}

/* Backpressure: a peer that sends requests and reads no answers. Each
 * request (a header) is answered with ANS bytes; past the bound the
 * connection stops delivering requests, so the answers queued stay near
 * the bound however many requests wait; once the peer reads, every request
 * is delivered and answered, in order. */
enum { NREQ = 400, ANS = 256u << 10, BOUND = 1u << 20 };

static void answer_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *p, void *ud)
{
	rec *r = ud;
	if (h->key != r->next_key)
		r->bad++;
	r->next_key = h->key + 1;
	r->nframes++;
	if (send_k(c, h->key, ANS) != 0)
		r->bad++;
}

static void test_out_bound(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra;
	memset(&ra, 0, sizeof ra);
	ra.c = gx_conn_create(ev, a, NULL, answer_frame, on_close, &ra);
	T_REQUIRE(ra.c);
	gx_conn_set_out_bound(ra.c, BOUND);
	/* all requests in one write: most of them reach the server in one read */
	static uint8_t reqs[NREQ * GX_FRAME_HDR_SIZE];
	for (uint32_t k = 0; k < NREQ; k++) {
		gx_frame_hdr h;
		gx_frame_hdr_init(&h);
		h.type = GX_FT_TENSOR;
		h.key = k;
		gx_frame_hdr_pack(&h, reqs + k * GX_FRAME_HDR_SIZE);
	}
	T_REQUIRE(write(b, reqs, sizeof reqs) == (ssize_t)sizeof reqs);
	T_ASSERT(SPIN(ev, gx_conn_paused(ra.c), 20000));
	/* The kernel's buffers take some answers (and so let some requests
	 * through) until they are full; the queue never goes past the bound
	 * by more than one answer, and far from every request is taken. */
	size_t most = gx_conn_pending(ra.c);
	for (int i = 0; i < 200; i++) {
		gx_ev_once(ev, 2);
		if (gx_conn_pending(ra.c) > most)
			most = gx_conn_pending(ra.c);
	}
	T_ASSERT(gx_conn_paused(ra.c));
	T_ASSERT(most <= BOUND + ANS + GX_FRAME_HDR_SIZE);
	T_ASSERT(ra.nframes < NREQ / 2);
	/* the peer reads: every answer comes, in order, and the loop resumes */
	gx_decoder *d = gx_decoder_create(NULL);
	T_REQUIRE(d);
	T_REQUIRE(gx_net_nonblock(b) == 0);
	static uint8_t buf[1 << 16];
	uint32_t got = 0;
	int bad = 0;
	uint64_t end = gx_now_ms() + 60000;
	while (got < NREQ && gx_now_ms() < end) {
		gx_ev_once(ev, 0);
		ssize_t n = read(b, buf, sizeof buf);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pf = {b, POLLIN, 0};
			poll(&pf, 1, 5);
			continue;
		}
		if (n <= 0)
			break;
		size_t off = 0;
		while (off < (size_t)n) {
			size_t used = 0;
			int rc = gx_decoder_feed(d, buf + off, (size_t)n - off, &used);
			off += used;
			if (rc < 0) {
				bad++;
				break;
			}
			if (rc == 1) {
				gx_frame_hdr h;
				const uint8_t *p;
				gx_decoder_frame(d, &h, &p);
				bad |= h.key != got || h.payload_len != ANS ||
				       memcmp(p, pattern(h.key), ANS) != 0;
				got++;
			}
		}
	}
	T_EQ(got, NREQ);
	T_EQ(bad, 0);
	T_EQ(ra.nframes, NREQ);
	T_EQ(ra.bad, 0);
	T_ASSERT(!gx_conn_paused(ra.c));
	gx_decoder_free(d);
	gx_conn_close(ra.c, 0, "done");
	close(b);
	gx_ev_free(ev);
}

/* Of connections oldest first, the oldest from the busiest address goes;
 * ports do not matter, ties go to the address that came first. */
static void test_evict_pick(void)
{
	static const char *const flood[] = { "10.0.0.2:40", "10.0.0.1:50", "10.0.0.2:41",
					     "10.0.0.1:51", "10.0.0.1:52" };
	static const char *const tie[] = { "[::1]:1", "10.0.0.9:1", "10.0.0.9:2", "[::1]:2" };
	T_EQ(gx_net_evict_pick(flood, 5), 1);
	T_EQ(gx_net_evict_pick(tie, 4), 0);
	T_EQ(gx_net_evict_pick(flood, 1), 0);
	T_EQ(gx_net_evict_pick(flood, 0), -1);
	T_ASSERT(gx_net_same_host("10.0.0.1:50", "10.0.0.1:9"));
	T_ASSERT(!gx_net_same_host("10.0.0.1:50", "10.0.0.11:50"));
}

/* Malformed headers are refused by the sender; a NULL payload too. */
static void test_send_checks(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra;
	T_REQUIRE(mk(ev, a, &ra));
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	T_EQ(gx_conn_send(ra.c, &h, NULL), GX_ETYPE);
	h.type = GX_FT_TENSOR;
	h.codec = GX_CODEC_F32;
	h.count = 3;
	h.payload_len = h.raw_len = 8;
	T_EQ(gx_conn_send(ra.c, &h, "12345678"), GX_ELENGTH);
	h.codec = GX_CODEC_NONE;
	h.count = 0;
	T_EQ(gx_conn_send(ra.c, &h, NULL), GX_EINVAL);
	T_EQ(gx_conn_send(NULL, &h, "12345678"), GX_EINVAL);
	T_EQ(gx_conn_pending(ra.c), 0);
	gx_conn_close(ra.c, 1, "x"); /* empty queue: closes at once */
	T_EQ(ra.closed, 1);
	close(b);
	gx_ev_free(ev);
}

/* One peer floods, the other's small frame still gets through early. */
static void test_fairness(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a1, a2, b1, b2;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&a1, &a2) == 0);
	T_REQUIRE(t_tcp_pair(&b1, &b2) == 0);
	rec ra1, ra2, rb1, rb2;
	T_REQUIRE(mk(ev, a1, &ra1) && mk(ev, a2, &ra2) && mk(ev, b1, &rb1) && mk(ev, b2, &rb2));
	const uint32_t nflood = 64;
	for (uint32_t i = 0; i < nflood; i++)
		T_EQ(send_k(ra1.c, i, 1u << 20), 0);
	T_EQ(send_k(rb1.c, 0, 100), 0);
	rb2.watch = &ra2;
	/* No readiness event moves more than the caps, however much the
	 * socket buffers hold. */
	uint64_t in0 = 0, out0 = 0, maxin = 0, maxout = 0, end = gx_now_ms() + 60000;
	while (!(rb2.nframes == 1 && ra2.nframes == nflood) && gx_now_ms() < end) {
		gx_ev_once(ev, 20);
		uint64_t in = gx_conn_get_stats(ra2.c)->bytes_in;
		uint64_t out = gx_conn_get_stats(ra1.c)->bytes_out;
		if (in - in0 > maxin)
			maxin = in - in0;
		if (out - out0 > maxout)
			maxout = out - out0;
		in0 = in;
		out0 = out;
	}
	T_EQ(rb2.nframes, 1);
	T_EQ(ra2.nframes, nflood);
	T_ASSERT(maxin <= GX_CONN_READ_CAP);
	T_ASSERT(maxout <= GX_CONN_WRITE_CAP);
	if (getenv("GX_TEST_VERBOSE"))
		printf("# largest event: %llu bytes in, %llu bytes out\n", (unsigned long long)maxin,
		       (unsigned long long)maxout);
	T_EQ(ra2.bad + rb2.bad, 0);
	/* the small frame came while the flood had hardly started */
	T_ASSERT(rb2.watch_seen > 0 && rb2.watch_seen <= nflood / 4);
	if (!(rb2.watch_seen <= nflood / 4))
		printf("#   small frame after %u of %u flood frames\n", rb2.watch_seen - 1, nflood);
	gx_conn_close(ra1.c, 0, "");
	gx_conn_close(ra2.c, 0, "");
	gx_conn_close(rb1.c, 0, "");
	gx_conn_close(rb2.c, 0, "");
	T_EQ(ra1.closed + ra2.closed + rb1.closed + rb2.closed, 4);
	gx_ev_free(ev);
}

/* Garbage closes only that connection, with a reason naming the problem. */
static void test_garbage_closes_one(void)
{
	gx_ev *ev = gx_ev_create(64);
	int g, s, a, b;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&g, &s) == 0);
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec rs, ra, rb;
	T_REQUIRE(mk(ev, s, &rs) && mk(ev, a, &ra) && mk(ev, b, &rb));
	const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	T_EQ(send(g, junk, sizeof junk - 1, MSG_NOSIGNAL), (ssize_t)(sizeof junk - 1));
	T_EQ(send_k(ra.c, 0, 5000), 0);
	T_ASSERT(SPIN(ev, rs.closed && rb.nframes == 1, 5000));
	T_EQ(rs.err, GX_EMAGIC);
	T_ASSERT(strcmp(rs.why, "frame 0 at byte 0: bad magic: not a geomx frame") == 0);
	if (strcmp(rs.why, "frame 0 at byte 0: bad magic: not a geomx frame") != 0)
		printf("#   why: %s\n", rs.why);
	T_EQ(ra.closed + rb.closed, 0);
	/* the other pair goes on working */
	T_EQ(send_k(rb.c, 0, 10), 0);
	T_ASSERT(SPIN(ev, ra.nframes == 1, 5000));
	T_EQ(ra.bad + rb.bad, 0);
	closefd(&g);

	/* a good frame, then a header with a flipped byte: the second
	 * frame's offset and the checksum error are named */
	T_REQUIRE(t_tcp_pair(&g, &s) == 0);
	T_REQUIRE(mk(ev, s, &rs));
	uint8_t buf[2 * GX_FRAME_HDR_SIZE + 100];
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.payload_len = h.raw_len = 100;
	gx_frame_hdr_pack(&h, buf);
	memcpy(buf + GX_FRAME_HDR_SIZE, pattern(0), 100);
	h.key = 1;
	h.payload_len = h.raw_len = 0;
	gx_frame_hdr_pack(&h, buf + GX_FRAME_HDR_SIZE + 100);
	buf[GX_FRAME_HDR_SIZE + 100 + 9] ^= 0x40; /* inside the key */
	T_EQ(send(g, buf, sizeof buf, MSG_NOSIGNAL), (ssize_t)sizeof buf);
	T_ASSERT(SPIN(ev, rs.closed, 5000));
	T_EQ(rs.nframes, 1);
	T_EQ(rs.err, GX_EHDRCRC);
	T_ASSERT(strcmp(rs.why, "frame 1 at byte 164: frame header checksum mismatch") == 0);
	if (strcmp(rs.why, "frame 1 at byte 164: frame header checksum mismatch") != 0)
		printf("#   why: %s\n", rs.why);
	closefd(&g);

	/* a frame over the receiver's limit is refused before allocation */
	T_REQUIRE(t_tcp_pair(&g, &s) == 0);
	gx_frame_limits lim = { 1000, 1000 };
	memset(&rs, 0, sizeof rs);
	rs.c = gx_conn_create(ev, s, &lim, on_frame, on_close, &rs);
	T_REQUIRE(rs.c);
	h.key = 0;
	h.payload_len = h.raw_len = 1001;
	gx_frame_hdr_pack(&h, buf);
	T_EQ(send(g, buf, GX_FRAME_HDR_SIZE, MSG_NOSIGNAL), GX_FRAME_HDR_SIZE);
	T_ASSERT(SPIN(ev, rs.closed, 5000));
	T_EQ(rs.err, GX_ETOOBIG);
	closefd(&g);
	gx_conn_close(ra.c, 0, "");
	gx_conn_close(rb.c, 0, "");
	gx_ev_free(ev);
}

static void test_eof_inside_frame(void)
{
	gx_ev *ev = gx_ev_create(64);
	int g, s;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&g, &s) == 0);
	rec rs;
	T_REQUIRE(mk(ev, s, &rs));
	uint8_t buf[GX_FRAME_HDR_SIZE + 50];
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.payload_len = h.raw_len = 100;
	gx_frame_hdr_pack(&h, buf);
	memcpy(buf + GX_FRAME_HDR_SIZE, pattern(0), 50);
	T_EQ(send(g, buf, sizeof buf, MSG_NOSIGNAL), (ssize_t)sizeof buf);
	closefd(&g);
	T_ASSERT(SPIN(ev, rs.closed, 5000));
	T_EQ(rs.err, GX_ETRUNC);
	T_ASSERT(strncmp(rs.why, "connection closed inside a frame", 32) == 0);
	T_EQ(rs.nframes, 0);

	/* EOF inside a header too */
	T_REQUIRE(t_tcp_pair(&g, &s) == 0);
	T_REQUIRE(mk(ev, s, &rs));
	T_EQ(send(g, "GXFR", 4, MSG_NOSIGNAL), 4);
	closefd(&g);
	T_ASSERT(SPIN(ev, rs.closed, 5000));
	T_EQ(rs.err, GX_ETRUNC);

	/* EOF between frames is an orderly end */
	T_REQUIRE(t_tcp_pair(&g, &s) == 0);
	T_REQUIRE(mk(ev, s, &rs));
	h.payload_len = h.raw_len = 0;
	gx_frame_hdr_pack(&h, buf);
	T_EQ(send(g, buf, GX_FRAME_HDR_SIZE, MSG_NOSIGNAL), GX_FRAME_HDR_SIZE);
	closefd(&g);
	T_ASSERT(SPIN(ev, rs.closed, 5000));
	T_EQ(rs.err, 0);
	T_EQ(rs.frames_at_close, 1);
	gx_ev_free(ev);
}

/* Queued frames reach the peer before its EOF; sends fail meanwhile. */
static void test_close_with_flush(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra, rb;
	T_REQUIRE(mk(ev, a, &ra) && mk(ev, b, &rb));
	for (uint32_t i = 0; i < 20; i++)
		T_EQ(send_k(ra.c, i, 300000), 0);
	gx_conn *ca = ra.c;
	gx_conn_close(ca, 1, "done");
	T_EQ(ra.closed, 0);
	T_ASSERT(gx_conn_pending(ca) > 0);
	T_EQ(send_k(ca, 20, 10), GX_EIO);
	T_EQ(gx_ev_mask(ev, a), GX_EV_WRITE); /* reading stopped */
	gx_conn_close(ca, 1, "again"); /* a second close changes nothing */
	T_ASSERT(SPIN(ev, ra.closed && rb.closed, 20000));
	T_EQ(ra.closed, 1);
	T_EQ(ra.err, 0);
	T_ASSERT(strcmp(ra.why, "done") == 0);
	T_EQ(rb.err, 0);
	T_EQ(rb.frames_at_close, 20);
	T_EQ(rb.bad, 0);

	/* the peer keeps sending while we flush: our frames still arrive
	 * (the close drains its input rather than resetting) */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra) && mk(ev, b, &rb));
	T_EQ(send_k(ra.c, 0, 1000), 0);
	gx_conn_close(ra.c, 1, "error sent");
	for (uint32_t i = 0; i < 8; i++)
		T_EQ(send_k(rb.c, i, 20000), 0);
	T_ASSERT(SPIN(ev, ra.closed && rb.closed, 5000));
	T_EQ(rb.frames_at_close, 1);
	T_EQ(rb.bad, 0);

	/* close(flush=0) on a flushing conn ends it at once */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra));
	T_EQ(send_k(ra.c, 0, 1000), 0);
	gx_conn_close(ra.c, 1, "soft");
	T_EQ(ra.closed, 0);
	gx_conn_close(ra.c, 0, "hard");
	T_EQ(ra.closed, 1);
	T_ASSERT(strcmp(ra.why, "hard") == 0);
	close(b);
	gx_ev_free(ev);
}

/* on_frame closes its own connection: delivery stops, on_close comes once,
 * after on_frame returned. */
static void test_close_inside_callback(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	for (int flush = 0; flush < 2; flush++) {
		T_REQUIRE(t_tcp_pair(&a, &b) == 0);
		rec ra, rb;
		T_REQUIRE(mk(ev, a, &ra) && mk(ev, b, &rb));
		rb.close_after = 3;
		rb.close_flush = flush;
		for (uint32_t i = 0; i < 10; i++)
			T_EQ(send_k(ra.c, i, 100), 0);
		T_ASSERT(SPIN(ev, rb.closed && ra.closed, 5000));
		T_EQ(rb.closed, 1);
		T_EQ(rb.frames_at_close, 3);
		T_EQ(rb.nframes, 3);
		T_EQ(rb.closed_in_frame, 0);
		T_ASSERT(strcmp(rb.why, "enough") == 0);
		T_EQ(ra.err, 0);
	}
	gx_ev_free(ev);
}

static void test_peer_death(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);

	/* orderly close of the other side's descriptor */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra;
	T_REQUIRE(mk(ev, a, &ra));
	closefd(&b);
	T_ASSERT(SPIN(ev, ra.closed, 5000));
	T_EQ(ra.err, 0);

	/* reset (SO_LINGER 0): an I/O error naming the reset */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra));
	struct linger lg = { 1, 0 };
	T_EQ(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	closefd(&b);
	T_ASSERT(SPIN(ev, ra.closed, 5000));
	T_EQ(ra.err, GX_EIO);
	T_ASSERT(strstr(ra.why, "Connection reset by peer") != NULL);

	/* writing to a dead peer: EPIPE/ECONNRESET, no SIGPIPE (this test
	 * leaves SIGPIPE at its default action, which would kill us) */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra));
	gx_ev_del(ev, a, GX_EV_READ); /* only the write side notices */
	closefd(&b);
	for (uint32_t i = 0; i < 16 && ra.c; i++)
		send_k(ra.c, i, 1u << 20);
	T_ASSERT(SPIN(ev, ra.closed, 5000));
	T_EQ(ra.err, GX_EIO);
	T_ASSERT(strncmp(ra.why, "write: ", 7) == 0);

	/* the same during a flushing close keeps the reason for the close */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra));
	T_EQ(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	closefd(&b);
	for (uint32_t i = 0; i < 16; i++)
		T_EQ(send_k(ra.c, i, 1u << 20), 0);
	gx_conn_close(ra.c, 1, "bye");
	T_ASSERT(SPIN(ev, ra.closed, 5000));
	T_EQ(ra.err, GX_EIO);
	T_ASSERT(strncmp(ra.why, "bye (flush failed: write: ", 26) == 0);
	if (strncmp(ra.why, "bye (flush failed: write: ", 26) != 0)
		printf("#   why: %s\n", ra.why);
	gx_ev_free(ev);
}

/* Open descriptors, so the last case can tell that every one was closed. */
static int g_fds0;

static void test_no_descriptor_leaks(void)
{
	if (g_fds0 < 0)
		T_SKIP("no /proc/self/fd");
	T_EQ(t_count_fds(), g_fds0);
}

int main(void)
{
	g_fds0 = t_count_fds();
	g_pat = malloc(BIG + PAT_SLACK);
	if (!g_pat)
		return 1;
	uint32_t x = 1;
	for (size_t i = 0; i < BIG + PAT_SLACK; i++) {
		x = x * 1664525u + 1013904223u;
		g_pat[i] = (uint8_t)(x >> 24);
	}
	T_RUN(test_split);
	T_RUN(test_listen_errors);
	T_RUN(test_accept_and_peer);
	T_RUN(test_frames_both_ways);
	T_RUN(test_send_checks);
	T_RUN(test_fairness);
	T_RUN(test_out_bound);
	T_RUN(test_evict_pick);
	T_RUN(test_garbage_closes_one);
	T_RUN(test_eof_inside_frame);
	T_RUN(test_close_with_flush);
	T_RUN(test_close_inside_callback);
	T_RUN(test_peer_death);
	free(g_pat);
	T_RUN(test_no_descriptor_leaks);
	T_DONE();
}
