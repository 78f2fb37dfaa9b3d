/* test_conn_sec.c — secure framed connections (gx_conn_secure) over
 * loopback TCP, all on one loop in one thread: frames through the record
 * layer, the handshake's failures as each side reports them, the end of a
 * stream, and the byte counters. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "geomx.h"
#include "net/conn.h"
#include "wire/control.h"
#include "net/conn.h"
#include "net/secure.h"
#include "t.h"
#include "t_net.h"

#define BIG (9u << 20) /* the largest payload sent */
#define PAT_SLACK 4096

static uint8_t *g_pat;
static gx_key g_key, g_other;

static const uint8_t *pattern(uint32_t key)
{
	return g_pat + (key * 977u) % PAT_SLACK;
}

/* ----------------------------------------------------------- helpers */

typedef struct rec {
	gx_conn *c;
	uint32_t nframes, next_key;
	uint64_t bytes;
	int bad;
	int closed, err;
	char why[256];
	uint32_t frames_at_close;
	int close_after, close_flush;
	int last_type;          /* of the last frame */
	char errmsg[256];       /* an ERROR frame's message */
	gx_conn_stats st;       /* the counters when it closed */
} rec;

static void on_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *p, void *ud)
{
	rec *r = ud;
	r->last_type = h->type;
	if (h->type == GX_FT_ERROR) {
		int code;
		gx_errmsg_parse(p, h->payload_len, &code, r->errmsg, sizeof r->errmsg);
	} else if (h->key != r->next_key || h->type != GX_FT_TENSOR ||
		   (h->payload_len && memcmp(p, pattern(h->key), h->payload_len) != 0)) {
		r->bad++;
	}
	r->next_key = h->key + 1;
	r->nframes++;
	r->bytes += h->payload_len;
	if (r->close_after && r->nframes == (uint32_t)r->close_after)
		gx_conn_close(c, r->close_flush, "enough");
}

static void on_close(gx_conn *c, int err, const char *why, void *ud)
{
	rec *r = ud;
	r->closed++;
	r->err = err;
	r->frames_at_close = r->nframes;
	r->st = *gx_conn_get_stats(c);
	snprintf(r->why, sizeof r->why, "%s", why);
	r->c = NULL;
}

/* A connection on fd; secure as role with key (NULL: plaintext). */
static gx_conn *mk(gx_ev *ev, int fd, rec *r, const gx_key *key, int role, int ms)
{
	memset(r, 0, sizeof *r);
	r->c = gx_conn_create(ev, fd, NULL, on_frame, on_close, r);
	if (r->c && key && gx_conn_secure(r->c, key, role, ms) != 0) {
		gx_conn_close(r->c, 0, "");
		return NULL;
	}
	return r->c;
}

static int send_k(gx_conn *c, uint32_t k, size_t len)
{
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.key = k;
	h.payload_len = h.raw_len = (uint32_t)len;
	return gx_conn_send(c, &h, pattern(k));
}

/* Reads exactly n bytes from a raw fd, running the loop meanwhile. */
static int raw_recv(gx_ev *ev, int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	uint64_t end = gx_now_ms() + 5000;
	while (got < n && gx_now_ms() < end) {
		gx_ev_once(ev, 5);
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
	}
	return got == n ? 0 : -1;
}

/* A secure client conn on a and a hand-driven server gx_sec on raw fd b,
 * handshake done. */
static gx_sec *manual_server(gx_ev *ev, int b, const gx_key *key)
{
	uint8_t m1[GX_SEC_HELLO_BYTES], out[128], conf[GX_SEC_OVERHEAD];
	size_t used, ol;
	gx_sec *s = gx_sec_new(key, GX_SEC_SERVER, 0);
	if (!s || gx_sec_start(s, NULL, 0) != 0 || raw_recv(ev, b, m1, sizeof m1) != 0 ||
	    gx_sec_handshake(s, m1, sizeof m1, &used, out, sizeof out, &ol) != GX_ENEEDMORE ||
	    send(b, out, ol, MSG_NOSIGNAL) != (ssize_t)ol || raw_recv(ev, b, conf, sizeof conf) != 0 ||
	    gx_sec_handshake(s, conf, sizeof conf, &used, out, sizeof out, &ol) != 1) {
		gx_sec_free(s);
		return NULL;
	}
	return s;
}

/* ------------------------------------------------------------- cases */

static void test_frames_intact(void)
{
	static const size_t sizes[] = { 0, 1, 63, 64, GX_SEC_RECORD_MAX - GX_FRAME_HDR_SIZE,
					GX_SEC_RECORD_MAX - GX_FRAME_HDR_SIZE + 1, 65536, 65537,
					1u << 20, (3u << 20) + 1, BIG, 7, 0, 12345 };
	const uint32_t n = sizeof sizes / sizeof *sizes, half = n / 2;
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra, rb;
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0) && mk(ev, b, &rb, &g_key, GX_SEC_SERVER, 0));
	T_EQ(gx_conn_established(ra.c), 0);
	T_EQ(gx_conn_pending(ra.c), GX_SEC_HELLO_BYTES); /* msg1 */
	uint64_t total = 0, wire = 0;
	/* the first half before the handshake: held, counted as pending */
	for (uint32_t i = 0; i < half; i++) {
		T_EQ(send_k(ra.c, i, sizes[i]), 0);
		T_EQ(send_k(rb.c, i, sizes[i]), 0);
		total += sizes[i];
		wire += gx_sec_sealed_len(GX_FRAME_HDR_SIZE + sizes[i]);
	}
	T_EQ(gx_conn_pending(ra.c), GX_SEC_HELLO_BYTES + total + half * GX_FRAME_HDR_SIZE);
	T_EQ(gx_conn_get_stats(ra.c)->bytes_out, 0);
	T_ASSERT(SPIN(ev, gx_conn_established(ra.c) && gx_conn_established(rb.c), 5000));
	/* the rest after it: sealed as they are sent */
	for (uint32_t i = half; i < n; i++) {
		T_EQ(send_k(ra.c, i, sizes[i]), 0);
		T_EQ(send_k(rb.c, i, sizes[i]), 0);
		total += sizes[i];
		wire += gx_sec_sealed_len(GX_FRAME_HDR_SIZE + sizes[i]);
	}
	/* one event moves at most the caps */
	uint64_t o0 = gx_conn_get_stats(ra.c)->bytes_out, i0 = gx_conn_get_stats(rb.c)->bytes_in;
	gx_ev_once(ev, 0);
	T_ASSERT(gx_conn_get_stats(ra.c)->bytes_out - o0 <= GX_CONN_WRITE_CAP);
	T_ASSERT(gx_conn_get_stats(rb.c)->bytes_in - i0 <= GX_CONN_READ_CAP);
	T_ASSERT(SPIN(ev, ra.nframes == n && rb.nframes == n, 60000));
	T_EQ(ra.bad, 0);
	T_EQ(rb.bad, 0);
	T_EQ(ra.bytes, total);
	T_EQ(rb.bytes, total);
	T_ASSERT(SPIN(ev, gx_conn_pending(ra.c) == 0 && gx_conn_pending(rb.c) == 0, 5000));
	/* counters: ciphertext on the wire, frames as frames */
	const gx_conn_stats *sa = gx_conn_get_stats(ra.c), *sb = gx_conn_get_stats(rb.c);
	T_EQ(sa->frames_out, n);
	T_EQ(sa->frames_in, n);
	T_EQ(sb->frames_out, n);
	T_EQ(sa->bytes_out, GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD + wire);
	T_EQ(sb->bytes_out, GX_SEC_HELLO_BYTES + wire);
	T_EQ(sb->bytes_in, sa->bytes_out);
	T_EQ(sa->bytes_in, sb->bytes_out);
	T_ASSERT(sa->bytes_out > total + n * GX_FRAME_HDR_SIZE);
	T_EQ(gx_ev_mask(ev, a), GX_EV_READ);

	/* an orderly end: the CLOSE record, then err 0 on both sides */
	gx_conn_close(ra.c, 1, "bye");
	T_EQ(ra.closed, 0); /* the CLOSE record is written from the loop */
	T_EQ(send_k(ra.c, 99, 1), GX_EIO);
	T_ASSERT(SPIN(ev, ra.closed && rb.closed, 5000));
	T_EQ(ra.err, 0);
	T_ASSERT(strcmp(ra.why, "bye") == 0);
	T_EQ(ra.st.bytes_out, GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD + wire + GX_SEC_OVERHEAD);
	T_EQ(rb.err, 0);
	T_ASSERT(strcmp(rb.why, "connection closed by peer") == 0);
	T_EQ(rb.st.bytes_in, ra.st.bytes_out);
	gx_ev_free(ev);
}

static void test_wrong_key(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra, rb;
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 300) &&
		  mk(ev, b, &rb, &g_other, GX_SEC_SERVER, 300));
	gx_conn_set_name(rb.c, "worker 3");
	gx_conn_set_name(ra.c, "server 0");
	T_EQ(send_k(ra.c, 0, 10), 0); /* held, never sent */
	T_ASSERT(SPIN(ev, ra.closed && rb.closed, 5000));
	T_EQ(rb.err, GX_EAUTH);
	T_ASSERT(strcmp(rb.why, "worker 3: authentication failed: the peer holds a different key") ==
		 0);
	T_EQ(ra.err, GX_EPEER);
	T_ASSERT(strncmp(ra.why, "server 0: connection closed during the secure handshake",
			 strlen("server 0: connection closed during the secure handshake")) == 0);
	T_ASSERT(strstr(ra.why, "another key") != NULL);
	T_EQ(rb.nframes, 0);
	/* the handshake timers went with the connections */
	uint64_t end = gx_now_ms() + 500;
	while (gx_now_ms() < end)
		gx_ev_once(ev, 50);
	T_EQ(ra.closed, 1);
	T_EQ(rb.closed, 1);
	gx_ev_free(ev);
}

static void test_handshake_timeout(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	/* a silent client: the server gives up */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec rb;
	T_REQUIRE(mk(ev, b, &rb, &g_key, GX_SEC_SERVER, 200));
	uint64_t t0 = gx_now_ms();
	T_ASSERT(SPIN(ev, rb.closed, 5000));
	uint64_t dt = gx_now_ms() - t0;
	T_EQ(rb.err, GX_ETIMEOUT);
	T_ASSERT(strstr(rb.why, "secure handshake not done within 200 ms") != NULL);
	T_ASSERT(dt >= 150 && dt < 4000); /* under the default 5 s, whatever the load */
	close(a);

	/* a silent server (it reads msg1 and says nothing): the client too */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra;
	uint8_t m1[GX_SEC_HELLO_BYTES];
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 200));
	T_EQ(raw_recv(ev, b, m1, sizeof m1), 0);
	T_ASSERT(memcmp(m1, "GXHS", 4) == 0);
	T_ASSERT(SPIN(ev, ra.closed, 5000));
	T_EQ(ra.err, GX_ETIMEOUT);
	close(b);

	/* an established link has no deadline */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec rc, rd;
	T_REQUIRE(mk(ev, a, &rc, &g_key, GX_SEC_CLIENT, 100) &&
		  mk(ev, b, &rd, &g_key, GX_SEC_SERVER, 100));
	T_ASSERT(SPIN(ev, gx_conn_established(rc.c) && gx_conn_established(rd.c), 5000));
	uint64_t end = gx_now_ms() + 300;
	while (gx_now_ms() < end)
		gx_ev_once(ev, 20);
	T_EQ(rc.closed, 0);
	T_EQ(rd.closed, 0);
	gx_conn_close(rc.c, 1, "");
	T_ASSERT(SPIN(ev, rc.closed && rd.closed, 5000));
	T_EQ(rd.err, 0);
	gx_ev_free(ev);
}

static void test_mixed_modes(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);

	/* secure client, plaintext server */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra, rb;
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0) && mk(ev, b, &rb, NULL, 0, 0));
	T_ASSERT(SPIN(ev, ra.closed && rb.closed, 5000));
	T_EQ(rb.err, GX_EMAGIC);
	T_ASSERT(strstr(rb.why, "the peer speaks the secure protocol: no --key here?") != NULL);
	T_EQ(ra.err, GX_EPEER);
	T_ASSERT(strstr(ra.why, "closed during the secure handshake") != NULL);

	/* plaintext client, secure server: the server names the cause, and
	 * the client gets an ERROR frame saying it before the end */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra, NULL, 0, 0) && mk(ev, b, &rb, &g_key, GX_SEC_SERVER, 0));
	gx_conn_set_name(rb.c, "peer 9");
	T_EQ(send_k(ra.c, 0, 100), 0);
	T_ASSERT(SPIN(ev, ra.closed && rb.closed, 5000));
	T_EQ(rb.err, GX_EPROTO);
	T_ASSERT(strcmp(rb.why, "peer 9: peer speaks plaintext (no --key there?)") == 0);
	T_EQ(ra.last_type, GX_FT_ERROR);
	T_ASSERT(strstr(ra.errmsg, "accepts only encrypted links: run with --key") != NULL);
	T_EQ(ra.err, 0);
	gx_ev_free(ev);
}

static void test_stream_end(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);

	/* EOF without a CLOSE record: truncated */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra, rb;
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0) && mk(ev, b, &rb, &g_key, GX_SEC_SERVER, 0));
	T_EQ(send_k(ra.c, 0, 1000), 0);
	T_ASSERT(SPIN(ev, rb.nframes == 1, 5000));
	gx_conn_close(ra.c, 0, "abrupt");
	T_EQ(ra.closed, 1);
	T_ASSERT(SPIN(ev, rb.closed, 5000));
	T_EQ(rb.err, GX_ETRUNC);
	T_ASSERT(strstr(rb.why, "stream truncated") != NULL);

	/* a flushing close: every frame, then err 0 on both sides */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0) && mk(ev, b, &rb, &g_key, GX_SEC_SERVER, 0));
	T_ASSERT(SPIN(ev, gx_conn_established(ra.c), 5000));
	for (uint32_t i = 0; i < 20; i++)
		T_EQ(send_k(ra.c, i, 300000), 0);
	gx_conn_close(ra.c, 1, "done");
	T_ASSERT(SPIN(ev, ra.closed && rb.closed, 20000));
	T_EQ(ra.err, 0);
	T_EQ(rb.err, 0);
	T_EQ(rb.frames_at_close, 20);
	T_EQ(rb.bad, 0);

	/* a flushing close before the handshake completed: the held frames
	 * still go out, sealed, then the CLOSE record */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0) && mk(ev, b, &rb, &g_key, GX_SEC_SERVER, 0));
	for (uint32_t i = 0; i < 3; i++)
		T_EQ(send_k(ra.c, i, 70000), 0);
	gx_conn_close(ra.c, 1, "early");
	T_EQ(send_k(ra.c, 3, 1), GX_EIO);
	T_ASSERT(SPIN(ev, ra.closed && rb.closed, 5000));
	T_EQ(ra.err, 0);
	T_ASSERT(strcmp(ra.why, "early") == 0);
	T_EQ(rb.err, 0);
	T_EQ(rb.frames_at_close, 3);
	T_EQ(rb.bad, 0);

	/* closing from on_frame: with flush an orderly end, without a
	 * truncated one for the peer */
	for (int flush = 0; flush < 2; flush++) {
		T_REQUIRE(t_tcp_pair(&a, &b) == 0);
		T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0) &&
			  mk(ev, b, &rb, &g_key, GX_SEC_SERVER, 0));
		rb.close_after = 3;
		rb.close_flush = flush;
		for (uint32_t i = 0; i < 10; i++)
			T_EQ(send_k(ra.c, i, 100), 0);
		T_ASSERT(SPIN(ev, ra.closed && rb.closed, 5000));
		T_EQ(rb.frames_at_close, 3);
		T_ASSERT(strcmp(rb.why, "enough") == 0);
		T_EQ(ra.err, flush ? 0 : GX_ETRUNC);
	}
	gx_ev_free(ev);
}

/* A hand-driven peer: damaged and oversized records close the conn with
 * the record layer's reason. */
static void test_bad_records(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	uint8_t w[256];
	static const uint8_t plain[GX_FRAME_HDR_SIZE] = { 0 };

	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra;
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0));
	gx_conn_set_name(ra.c, "up");
	gx_sec *s = manual_server(ev, b, &g_key);
	T_REQUIRE(s);
	T_ASSERT(SPIN(ev, gx_conn_established(ra.c), 5000));
	long n = gx_sec_seal(s, GX_SEC_DATA, plain, sizeof plain, w);
	T_REQUIRE(n > 0);
	w[10] ^= 4;
	T_EQ(send(b, w, (size_t)n, MSG_NOSIGNAL), n);
	T_ASSERT(SPIN(ev, ra.closed, 5000));
	T_EQ(ra.err, GX_EAUTH);
	T_ASSERT(strcmp(ra.why,
			"up: record 0 failed authentication (tampered, replayed or reordered)") == 0);
	gx_sec_free(s);
	close(b);

	/* a declared length above the limit: refused from the head */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0));
	s = manual_server(ev, b, &g_key);
	T_REQUIRE(s);
	uint8_t head[4] = { 0xff, 0xff, 0xff, GX_SEC_DATA };
	T_EQ(send(b, head, 4, MSG_NOSIGNAL), 4);
	T_ASSERT(SPIN(ev, ra.closed, 5000));
	T_EQ(ra.err, GX_ETOOBIG);
	T_ASSERT(strstr(ra.why, "declares 16777215 bytes") != NULL);
	gx_sec_free(s);
	close(b);

	/* a record after the CLOSE record */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0));
	s = manual_server(ev, b, &g_key);
	T_REQUIRE(s);
	n = gx_sec_seal(s, GX_SEC_CLOSE, NULL, 0, w);
	n += gx_sec_seal(s, GX_SEC_DATA, plain, 1, w + n);
	T_EQ(send(b, w, (size_t)n, MSG_NOSIGNAL), n);
	T_ASSERT(SPIN(ev, ra.closed, 5000));
	T_EQ(ra.err, GX_EPROTO);
	T_ASSERT(strstr(ra.why, "after the close record") != NULL);
	gx_sec_free(s);
	close(b);

	/* a frame split over records, the records over tiny writes */
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra, &g_key, GX_SEC_CLIENT, 0));
	s = manual_server(ev, b, &g_key);
	T_REQUIRE(s);
	gx_frame_hdr h;
	uint8_t fr[GX_FRAME_HDR_SIZE + 100];
	gx_frame_hdr_init(&h);
	h.type = GX_FT_TENSOR;
	h.payload_len = h.raw_len = 100;
	gx_frame_hdr_pack(&h, fr);
	memcpy(fr + GX_FRAME_HDR_SIZE, pattern(0), 100);
	n = gx_sec_seal(s, GX_SEC_DATA, fr, 30, w);
	n += gx_sec_seal(s, GX_SEC_DATA, fr + 30, sizeof fr - 30, w + n);
	for (long i = 0; i < n; i++) {
		T_EQ(send(b, w + i, 1, MSG_NOSIGNAL), 1);
		gx_ev_once(ev, 0);
	}
	T_ASSERT(SPIN(ev, ra.nframes == 1, 5000));
	T_EQ(ra.bad, 0);
	n = gx_sec_seal(s, GX_SEC_CLOSE, NULL, 0, w);
	T_EQ(send(b, w, (size_t)n, MSG_NOSIGNAL), n);
	close(b);
	T_ASSERT(SPIN(ev, ra.closed, 5000));
	T_EQ(ra.err, 0);
	gx_sec_free(s);
	gx_ev_free(ev);
}

static void test_secure_misuse(void)
{
	gx_ev *ev = gx_ev_create(64);
	int a, b;
	T_REQUIRE(ev);
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	rec ra, rb;
	T_REQUIRE(mk(ev, a, &ra, NULL, 0, 0) && mk(ev, b, &rb, &g_key, GX_SEC_SERVER, 0));
	T_EQ(gx_conn_secure(rb.c, &g_key, GX_SEC_SERVER, 0), GX_EINVAL); /* twice */
	T_EQ(send_k(ra.c, 0, 1), 0);
	T_EQ(gx_conn_secure(ra.c, &g_key, GX_SEC_CLIENT, 0), GX_EINVAL); /* a frame queued */
	T_EQ(gx_conn_secure(ra.c, NULL, GX_SEC_CLIENT, 0), GX_EINVAL);
	T_EQ(gx_conn_secure(NULL, &g_key, GX_SEC_CLIENT, 0), GX_EINVAL);
	T_EQ(gx_conn_established(ra.c), 0);
	T_EQ(gx_conn_established(NULL), 0);
	gx_conn_close(ra.c, 0, "");
	gx_conn_close(rb.c, 0, "");
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	T_REQUIRE(mk(ev, a, &ra, NULL, 0, 0));
	T_EQ(gx_conn_secure(ra.c, &g_key, 5, 0), GX_EINVAL);
	T_EQ(gx_conn_secure(ra.c, &g_key, GX_SEC_CLIENT, -1), GX_EINVAL);
	gx_conn_close(ra.c, 0, "");
	close(b);
	gx_ev_free(ev);
}

static int g_fds0;

static void test_no_descriptor_leaks(void)
{
	if (g_fds0 < 0)
		T_SKIP("no /proc/self/fd");
	T_EQ(t_count_fds(), g_fds0);
}

int main(void)
{
	if (gx_sec_init() != 0) {
		printf("libsodium does not initialise\n");
		return 77;
	}
	g_fds0 = t_count_fds();
	g_pat = malloc(BIG + PAT_SLACK);
	if (!g_pat)
		return 1;
	uint32_t x = 1;
	for (size_t i = 0; i < BIG + PAT_SLACK; i++) {
		x = x * 1664525u + 1013904223u;
		g_pat[i] = (uint8_t)(x >> 24);
	}
	for (int i = 0; i < GX_KEY_BYTES; i++) {
		g_key.k[i] = (uint8_t)(i * 5 + 1);
		g_other.k[i] = (uint8_t)(i * 5 + 2);
	}
	T_RUN(test_frames_intact);
	T_RUN(test_wrong_key);
	T_RUN(test_handshake_timeout);
	T_RUN(test_mixed_modes);
	T_RUN(test_stream_end);
	T_RUN(test_bad_records);
	T_RUN(test_secure_misuse);
	free(g_pat);
	T_RUN(test_no_descriptor_leaks);
	T_DONE();
}
