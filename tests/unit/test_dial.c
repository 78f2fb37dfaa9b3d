/*
 * test_dial.c — the address-list parser (gx_net_addr_list) and the dialer
 * (net/dial.h): backoff against a refused port until the deadline, a
 * HELLO_ACK of another protocol version, a secure handshake that fails, an
 * ERROR at the hello, and a hello that succeeds. The servers are
 * connections on the same event loop as the dial; every wait is bounded.
 */
#include <string.h>
#include <unistd.h>

#include "geomx.h"
#include "net/conn.h"
#include "net/dial.h"
#include "net/secure.h"
#include "wire/control.h"
#include "t.h"

/* ------------------------------------------------------ address lists */

static void list_good(void)
{
	gx_net_addr a[4];
	size_t n = 0;
	char err[200] = "";
	T_EQ(gx_net_addr_list("h1:1,[::1]:65535,:7", a, 4, &n, err, sizeof err), 0);
	T_EQ(n, 3);
	T_ASSERT(!strcmp(a[0].host, "h1") && a[0].port == 1 && !strcmp(a[0].text, "h1:1"));
	T_ASSERT(!strcmp(a[1].host, "::1") && a[1].port == 65535);
	T_ASSERT(!strcmp(a[2].host, "") && a[2].port == 7);
	/* counting only, and a cap below the count */
	T_EQ(gx_net_addr_list("a:1,b:2,c:3", NULL, 0, &n, err, sizeof err), 0);
	T_EQ(n, 3);
	T_EQ(gx_net_addr_list("a:1,b:2,c:3", a, 1, &n, err, sizeof err), 0);
	T_EQ(n, 3);
	T_ASSERT(!strcmp(a[0].host, "a"));
	/* the longest item allowed */
	char list[GX_NET_ADDR_MAX + 2];
	memset(list, 'h', GX_NET_HOST_MAX);
	snprintf(list + GX_NET_HOST_MAX, sizeof list - GX_NET_HOST_MAX, ":1");
	T_EQ(gx_net_addr_list(list, a, 1, &n, err, sizeof err), 0);
	T_EQ(strlen(a[0].host), GX_NET_HOST_MAX);
}

static void list_bad(void)
{
	static const struct {
		const char *list, *why;
	} bad[] = {
		{ "", "item 1 is empty" },
		{ ",a:1", "item 1 is empty" },
		{ "a:1,", "item 2 is empty" },
		{ "a:1,,b:2", "item 2 is empty" },
		{ "a:1,x", "'x' is not HOST:PORT" },
		{ "a", "'a' is not HOST:PORT" },
		{ "a:", "'a:' is not HOST:PORT" },
		{ "::1:5", "'::1:5' is not HOST:PORT" },
		{ "a:0", "'a:0' has a bad port (want 1..65535)" },
		{ "a:1,b:65536", "'b:65536' has a bad port (want 1..65535)" },
		{ "a:x1", "'a:x1' has a bad port (want 1..65535)" },
		{ "a:-1", "'a:-1' has a bad port (want 1..65535)" },
	};
	gx_net_addr a[2];
	size_t n = 99;
	char err[200];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		int rc = gx_net_addr_list(bad[i].list, a, 2, &n, err, sizeof err);
		if (rc != GX_EINVAL || strcmp(err, bad[i].why)) {
			printf("#   '%s': rc %d, reason '%s', want '%s'\n", bad[i].list, rc, err, bad[i].why);
			t_case_failed = 1;
		}
	}
	T_EQ(n, 99); /* untouched on failure */
	/* an over-long item is refused, never cut */
	char list[GX_NET_ADDR_MAX + 16];
	list[0] = '[';
	memset(list + 1, 'h', GX_NET_HOST_MAX);
	snprintf(list + 1 + GX_NET_HOST_MAX, 16, "]:65535,b:2");
	T_EQ(strchr(list, ',') - list, GX_NET_ADDR_MAX);
	T_EQ(gx_net_addr_list(list, a, 2, &n, err, sizeof err), 0); /* exactly the maximum */
	T_EQ(n, 2);
	memset(list, 'h', GX_NET_ADDR_MAX);
	snprintf(list + GX_NET_ADDR_MAX - 1, sizeof list - GX_NET_ADDR_MAX + 1, ":1,b:2");
	T_EQ(gx_net_addr_list(list, a, 2, &n, err, sizeof err), GX_EINVAL);
	T_ASSERT(!strcmp(err, "item 1 is too long (264 characters, at most 263)"));
	T_EQ(gx_net_addr_list(NULL, a, 2, &n, err, sizeof err), GX_EINVAL);
	T_EQ(gx_net_addr_list("a:1", NULL, 2, &n, err, sizeof err), GX_EINVAL);
}

/* ------------------------------------------------- a server on the loop */

typedef struct srv {
	gx_ev *ev;
	int lfd, port;
	gx_conn *c;
	const gx_key *psk;  /* secure server */
	int proto;          /* of the HELLO_ACK; 0: no answer to HELLO */
	int refuse;         /* answer HELLO with ERROR */
	int got_hello, got_error, closed;
	gx_hello hello;
	int err_code;
	char err_msg[GX_ERROR_MSG_MAX + 1];
} srv;

static void srv_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *pl, void *ud)
{
	srv *s = ud;
	if (h->type == GX_FT_ERROR) {
		s->got_error = 1;
		gx_errmsg_parse(pl, h->payload_len, &s->err_code, s->err_msg, sizeof s->err_msg);
		return;
	}
	if (h->type != GX_FT_HELLO || s->got_hello)
		return;
	s->got_hello = gx_hello_parse(pl, h->payload_len, &s->hello) == 0 ? 1 : -1;
	if (s->refuse) {
		gx_send_error(c, GX_EINVAL, "rank 0 is taken");
		return;
	}
	if (!s->proto)
		return;
	gx_hello a;
	memset(&a, 0, sizeof a);
	a.proto = (uint16_t)s->proto;
	a.role = GX_ROLE_GLOBAL;
	a.sync = GX_SYNC_HFA;
	uint8_t b[GX_HELLO_SIZE], cb[GX_CONFIG_SIZE];
	gx_hello_pack(&a, b);
	gx_send_ctl(c, GX_FT_HELLO_ACK, 0, 0, b, GX_HELLO_SIZE);
	gx_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.sync = GX_SYNC_HFA;
	cfg.k1 = 3;
	cfg.k2 = 1;
	gx_config_pack(&cfg, cb);
	gx_send_ctl(c, GX_FT_CONFIG, 0, 0, cb, GX_CONFIG_SIZE);
	gx_send_ctl(c, GX_FT_HEARTBEAT, 0, 0, NULL, 0); /* the caller's, after the hello */
}

static void srv_close(gx_conn *c, int err, const char *why, void *ud)
{
	srv *s = ud;
	s->c = NULL;
	s->closed = 1;
}

static void srv_accept(gx_ev *ev, int fd, void *ud, int mask)
{
	srv *s = ud;
	char peer[80];
	int cfd = gx_net_accept(s->lfd, peer, sizeof peer);
	if (cfd < 0 || s->c)
		return;
	s->c = gx_conn_create(ev, cfd, NULL, srv_frame, srv_close, s);
	if (s->c && s->psk)
		gx_conn_secure(s->c, s->psk, GX_SEC_SERVER, 0);
}

static int srv_start(srv *s, gx_ev *ev)
{
	char err[200];
	memset(s, 0, sizeof *s);
	s->ev = ev;
	s->lfd = gx_net_listen("127.0.0.1", 0, err, sizeof err);
	if (s->lfd < 0)
		return -1;
	s->port = gx_net_port(s->lfd);
	return gx_ev_add(ev, s->lfd, GX_EV_READ, srv_accept, s);
}

static void srv_stop(srv *s)
{
	if (s->c)
		gx_conn_close(s->c, 0, "test over");
	if (s->lfd >= 0) {
		gx_ev_del(s->ev, s->lfd, GX_EV_READ);
		close(s->lfd);
	}
}

/* ------------------------------------------------------- the dial's side */

typedef struct rec {
	int retries, opened, ready, failed, closed, frames;
	int err, fd;
	char why[GX_ERROR_MSG_MAX];
	uint64_t t_fail;
	gx_conn *c;
} rec;

static void r_retry(gx_dial *d, void *ud)
{
	((rec *)ud)->retries++;
}

static void r_open(gx_dial *d, gx_conn *c, void *ud)
{
	rec *r = ud;
	r->opened++;
	r->c = c;
}

static void r_ready(gx_dial *d, int fd, void *ud)
{
	rec *r = ud;
	r->ready++;
	r->fd = fd;
}

static void r_fail(gx_dial *d, int err, const char *why, void *ud)
{
	rec *r = ud;
	r->failed++;
	r->err = err;
	r->t_fail = gx_now_ms();
	snprintf(r->why, sizeof r->why, "%s", why);
}

static void r_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *pl, void *ud)
{
	((rec *)ud)->frames++;
}

static void r_close(gx_conn *c, int err, const char *why, void *ud)
{
	rec *r = ud;
	r->closed++;
	r->c = NULL;
}

static const gx_dial_cbs cbs = { r_retry, r_open, NULL, NULL, r_ready, r_fail };

/* Runs the loop until the dial is over (and its connection closed), or 5 s. */
static void run_until_over(gx_ev *ev, const rec *r, const srv *s)
{
	uint64_t end = gx_now_ms() + 5000;
	while (gx_now_ms() < end) {
		gx_ev_once(ev, 10);
		if ((r->failed && !r->c && (!s || s->closed || s->got_error)) ||
		    (r->ready && r->frames))
			break;
	}
}

/* A server on a fresh loop and a framed dial to it, run until it is over. */
typedef struct fixture {
	gx_ev *ev;
	srv s;
	rec r;
	gx_dial d;
} fixture;

static int fx_start(fixture *f)
{
	memset(f, 0, sizeof *f);
	f->ev = gx_ev_create(16);
	return f->ev && srv_start(&f->s, f->ev) == 0 ? 0 : -1;
}

static int fx_dial(fixture *f, const gx_key *psk, uint32_t rank)
{
	gx_hello hl;
	memset(&hl, 0, sizeof hl);
	hl.role = GX_ROLE_WORKER;
	hl.rank = rank;
	gx_dial_opts o;
	memset(&o, 0, sizeof o);
	o.host = "127.0.0.1";
	o.port = f->s.port;
	o.timeout_ms = 3000;
	o.cb = &cbs;
	o.ud = &f->r;
	o.hello = &hl;
	o.psk = psk;
	o.label = "server under test";
	o.sender = "test";
	o.on_frame = r_frame;
	o.on_close = r_close;
	int rc = gx_dial_start(&f->d, f->ev, &o);
	run_until_over(f->ev, &f->r, &f->s);
	return rc;
}

/* The dial failed with err after handing over a connection, now closed. */
static void expect_failed(const rec *r, int err)
{
	T_EQ(r->opened, 1);
	T_EQ(r->failed, 1);
	T_EQ(r->ready, 0);
	T_EQ(r->closed, 1);
	T_EQ(r->err, err);
}

static void fx_end(fixture *f)
{
	srv_stop(&f->s);
	gx_ev_free(f->ev);
}

static void refused_until_deadline(void)
{
	char err[200];
	gx_ev *ev = gx_ev_create(16);
	int l = gx_net_listen("127.0.0.1", 0, err, sizeof err);
	T_REQUIRE(ev && l >= 0);
	int port = gx_net_port(l);
	close(l); /* nobody listens there now */
	rec r;
	memset(&r, 0, sizeof r);
	gx_dial d;
	gx_dial_opts o;
	memset(&o, 0, sizeof o);
	o.host = "127.0.0.1";
	o.port = port;
	o.timeout_ms = 400;
	o.cb = &cbs;
	o.ud = &r;
	uint64_t t0 = gx_now_ms();
	T_EQ(gx_dial_start(&d, ev, &o), 0);
	run_until_over(ev, &r, NULL);
	T_EQ(r.failed, 1);
	T_EQ(r.ready + r.opened, 0);
	T_EQ(r.err, GX_ETIMEOUT);
	T_ASSERT(!strcmp(r.why, "connection refused"));
	T_ASSERT(!strcmp(d.why, "connection refused"));
	/* attempts at 0, 50, 150, 350 ms (backoff 50, 100, 200, then 400:
	 * past the deadline), each refused; the deadline ends it */
	T_EQ(r.retries, 4);
	T_ASSERT(r.t_fail - t0 >= 400);
	T_ASSERT(r.t_fail - t0 < 2000);
	T_EQ(d.state, GX_DIAL_IDLE);
	T_EQ(d.fd, -1);
	gx_dial_cancel(&d); /* over: nothing to do */
	gx_ev_free(ev);
}

static void version_mismatch(void)
{
	fixture f;
	T_REQUIRE(fx_start(&f) == 0);
	f.s.proto = 3;
	T_EQ(fx_dial(&f, NULL, 0), 0);
	expect_failed(&f.r, GX_EPROTO);
	T_ASSERT(!strcmp(f.r.why, "it speaks protocol version 3, this program speaks version 2"));
	/* the server is told, with both versions */
	T_EQ(f.s.got_error, 1);
	T_EQ(f.s.err_code, GX_EPROTO);
	T_ASSERT(!strcmp(f.s.err_msg,
			 "test: it speaks protocol version 3, this program speaks version 2"));
	/* our HELLO: version 2, the role given, the name "HOST:PID" */
	T_EQ(f.s.got_hello, 1);
	T_EQ(f.s.hello.proto, GX_PROTO_VERSION);
	T_EQ(f.s.hello.role, GX_ROLE_WORKER);
	char pid[32];
	snprintf(pid, sizeof pid, ":%ld", (long)getpid());
	T_ASSERT(strstr(f.s.hello.name, pid) != NULL);
	fx_end(&f);
}

static void secure_handshake_fails(void)
{
	gx_key mine, theirs;
	memset(mine.k, 1, sizeof mine.k);
	memset(theirs.k, 2, sizeof theirs.k);
	if (gx_sec_init() != 0)
		T_SKIP("libsodium cannot initialise");
	fixture f;
	T_REQUIRE(fx_start(&f) == 0);
	f.s.psk = &theirs;
	f.s.proto = GX_PROTO_VERSION;
	T_EQ(fx_dial(&f, &mine, 0), 0);
	expect_failed(&f.r, GX_EPEER); /* the connection closed during the hello */
	T_ASSERT(f.r.why[0] != '\0');
	T_EQ(f.s.got_hello, 0); /* nothing readable reached the server */
	fx_end(&f);
}

static void refused_at_hello(void)
{
	fixture f;
	T_REQUIRE(fx_start(&f) == 0);
	f.s.refuse = 1;
	T_EQ(fx_dial(&f, NULL, 0), 0);
	expect_failed(&f.r, GX_EREFUSED);
	T_ASSERT(!strcmp(f.r.why, "rank 0 is taken"));
	fx_end(&f);
}

static void hello_done(void)
{
	gx_key k;
	memset(k.k, 7, sizeof k.k);
	for (int secure = 0; secure < 2; secure++) {
		if (secure && gx_sec_init() != 0)
			break;
		fixture f;
		T_REQUIRE(fx_start(&f) == 0);
		f.s.proto = GX_PROTO_VERSION;
		f.s.psk = secure ? &k : NULL;
		T_EQ(fx_dial(&f, secure ? &k : NULL, 5), 0);
		T_EQ(f.r.ready, 1);
		T_EQ(f.r.failed, 0);
		T_EQ(f.r.fd, -1);
		T_ASSERT(f.r.c != NULL && f.d.c == f.r.c);
		T_EQ(f.d.ack.role, GX_ROLE_GLOBAL);
		T_EQ(f.d.cfg.k1, 3);
		T_EQ(f.r.frames, 1); /* the HEARTBEAT after CONFIG is the caller's */
		T_EQ(f.s.hello.rank, 5);
		T_ASSERT(!strcmp(gx_conn_name(f.r.c), "server under test"));
		if (f.r.c)
			gx_conn_close(f.r.c, 0, "done");
		T_EQ(f.r.closed, 1);
		T_EQ(f.r.failed, 0);
		fx_end(&f);
	}
}

static void helpers(void)
{
	char b[160];
	gx_dial_reason(b, sizeof b, "cannot connect to 127.0.0.1:1: Connection refused");
	T_ASSERT(!strcmp(b, "connection refused"));
	gx_dial_reason(b, sizeof b, "cannot connect to [::1]:5: Name or service not known");
	T_ASSERT(!strcmp(b, "name or service not known"));
	gx_dial_reason(b, sizeof b, "EOF here");
	T_ASSERT(!strcmp(b, "EOF here"));
	gx_dial_reason(b, sizeof b, "");
	T_ASSERT(!strcmp(b, "failed"));
	char name[41];
	T_EQ(gx_dial_hello_name(name, sizeof name), 0);
	T_ASSERT(strchr(name, ':') != NULL);
	for (const char *c = name; *c; c++)
		T_ASSERT(*c > 0x20 && *c < 0x7f);
	gx_dial d;
	memset(&d, 0, sizeof d);
	T_EQ(gx_dial_cancel(&d), 0); /* never started */
	gx_dial_opts o;
	memset(&o, 0, sizeof o);
	T_EQ(gx_dial_start(&d, NULL, &o), GX_EINVAL);
}

int main(void)
{
	T_RUN(list_good);
	T_RUN(list_bad);
	T_RUN(helpers);
	T_RUN(refused_until_deadline);
	T_RUN(version_mismatch);
	T_RUN(secure_handshake_fails);
	T_RUN(refused_at_hello);
	T_RUN(hello_done);
	T_DONE();
}
