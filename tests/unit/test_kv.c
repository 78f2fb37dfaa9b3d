/*
 * test_kv.c — the worker client (gx_kv_*) against a fake parameter server
 * that lives in this file: a thread with plain blocking sockets, the frame
 * decoder and the proto.h payload helpers, so the client is checked against
 * the protocol text rather than against lib/ps/ps.c. Every wait is bounded.
 *
 * The fake answers INIT with its own value (1000 + key + i, not the
 * worker's), PUSH with gradient + round, PULL with its kept value, BYE with
 * BYE; it can refuse the hello, speak another protocol version, hold its
 * reading, die at a given push, go silent, or answer with a wrong count.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "geomx.h"
#include "wire/control.h"
#include "net/conn.h"
#include "t.h"
#include "t_log.h"

#define IO_TIMEOUT_MS 4000
#define MAXK 16
#define MAXB 4
#define MAXREC 256

typedef struct rec {
	int type;
	uint32_t key, block, round, sender;
	int prio;
	uint64_t count;
} rec;

typedef struct fake {
	int lfd, port;
	pthread_t th;
	/* behaviour */
	int role, proto;
	uint32_t nservers;
	int error_at_hello;
	int hold;           /* after the INITs, wait for fake_release before reading on */
	int die_at_push;    /* close without answer at this PUSH (1-based); 0 never */
	int silent_ms;      /* after the INITs, read but answer nothing for this long */
	int bad_count_push; /* answer this PUSH (1-based) with one element too many */
	int rcvbuf;         /* SO_RCVBUF of the accepted socket; 0 default */
	uint32_t block;     /* the CONFIG's block size */
	int lan;            /* the CONFIG's LAN codec (GX_LINK_FP16: pushes come as F16) */
	/* state, read by the test after fake_join */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int released;
	int got_hello;
	gx_hello hello;
	gx_keyent tab[MAXK]; /* the first MAXK entries of the KEYTABLE */
	size_t ntab;
	int ninit, npush, heartbeats, byes, eof;
	rec recs[MAXREC];
	int nrec;
	float *kept[MAXK][MAXB];
	uint64_t kcount[MAXK][MAXB];
	char fail[256];     /* first thing the fake found wrong */
} fake;

typedef struct rd {
	int fd;
	gx_decoder *d;
	uint8_t buf[65536];
	size_t off, len;
} rd;

static void fake_fail(fake *f, const char *msg)
{
	if (!f->fail[0])
		snprintf(f->fail, sizeof f->fail, "%s", msg);
}

/* Next frame within IO_TIMEOUT_MS (or ms when > 0): 1, 0 on end of stream,
 * -1 on timeout or error. */
static int read_frame(rd *r, int ms, gx_frame_hdr *h, const uint8_t **p)
{
	for (;;) {
		if (r->off < r->len) {
			size_t used = 0;
			int rc = gx_decoder_feed(r->d, r->buf + r->off, r->len - r->off, &used);
			r->off += used;
			if (rc == 1) {
				gx_decoder_frame(r->d, h, p);
				return 1;
			}
			if (rc < 0)
				return -1;
		}
		struct pollfd pf = {r->fd, POLLIN, 0};
		int n = poll(&pf, 1, ms > 0 ? ms : IO_TIMEOUT_MS);
		if (n <= 0)
			return -1;
		ssize_t got = read(r->fd, r->buf, sizeof r->buf);
		if (got == 0)
			return 0;
		if (got < 0)
			return -1;
		r->off = 0;
		r->len = (size_t)got;
	}
}

static void send_frame(int fd, int type, uint32_t key, uint32_t block, uint32_t round, int codec,
		       const void *payload, uint32_t len, uint64_t count)
{
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = (uint8_t)type;
	h.key = key;
	h.block = block;
	h.round = round;
	h.codec = (uint8_t)codec;
	h.count = count;
	h.payload_len = h.raw_len = len;
	gx_frame_write_fd(fd, &h, payload);
}

static void send_f32(int fd, int type, uint32_t key, uint32_t block, uint32_t round, const float *x,
		     uint64_t n)
{
	send_frame(fd, type, key, block, round, GX_CODEC_F32, x, (uint32_t)(n * 4), n);
}

static int fake_accept(fake *f)
{
	struct pollfd pf = {f->lfd, POLLIN, 0};
	if (poll(&pf, 1, IO_TIMEOUT_MS) <= 0)
		return -1;
	return accept(f->lfd, NULL, NULL);
}

static void record(fake *f, const gx_frame_hdr *h)
{
	pthread_mutex_lock(&f->mu);
	if (f->nrec < MAXREC)
		f->recs[f->nrec++] = (rec){h->type, h->key, h->block, h->round, h->sender, h->priority, h->count};
	pthread_mutex_unlock(&f->mu);
}

static void wait_release(fake *f)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += IO_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&f->mu);
	while (!f->released)
		if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&f->mu);
}

static void *fake_main(void *arg)
{
	fake *f = arg;
	rd *r = calloc(1, sizeof *r);
	int fd = fake_accept(f);
	if (fd < 0 || !r) {
		fake_fail(f, "no connection");
		free(r);
		return NULL;
	}
	r->fd = fd;
	r->d = gx_decoder_create(NULL);
	uint8_t buf[8 + GX_ERROR_MSG_MAX];
	float *tmp = NULL;
	int phase_done = 0; /* all INITs answered */

	for (;;) {
		gx_frame_hdr h;
		const uint8_t *p;
		int ms = 0;
		if (phase_done && f->silent_ms)
			ms = f->silent_ms;
		int rc = read_frame(r, ms, &h, &p);
		if (rc == 0) {
			f->eof = 1;
			break;
		}
		if (rc < 0) {
			if (!(phase_done && f->silent_ms))
				fake_fail(f, "read failed or timed out");
			break;
		}
		record(f, &h);
		switch (h.type) {
		case GX_FT_HELLO: {
			if (gx_hello_parse(p, h.payload_len, &f->hello) != 0)
				fake_fail(f, "bad HELLO");
			f->got_hello = 1;
			if (f->error_at_hello) {
				size_t n = gx_errmsg_pack(GX_EKEY, "rank 0 of party 0 is already connected",
							  buf, sizeof buf);
				send_frame(fd, GX_FT_ERROR, 0, 0, 0, GX_CODEC_NONE, buf, (uint32_t)n, 0);
				goto out;
			}
			gx_hello a;
			memset(&a, 0, sizeof a);
			a.proto = (uint16_t)f->proto;
			a.role = (uint8_t)f->role;
			a.nservers = f->nservers;
			snprintf(a.name, sizeof a.name, "fake:%d", f->port);
			gx_hello_pack(&a, buf);
			send_frame(fd, GX_FT_HELLO_ACK, 0, 0, 0, GX_CODEC_NONE, buf, GX_HELLO_SIZE, 0);
			gx_config cf;
			memset(&cf, 0, sizeof cf);
			gx_optim_opts_default(&cf.optim, GX_OPT_SGD);
			cf.block = f->block;
			cf.lan = (uint8_t)f->lan;
			uint8_t cb[GX_CONFIG_SIZE];
			gx_config_pack(&cf, cb);
			send_frame(fd, GX_FT_CONFIG, 0, 0, 0, GX_CODEC_NONE, cb, GX_CONFIG_SIZE, 0);
			break;
		}
		case GX_FT_KEYTABLE: {
			gx_keyent *t = NULL;
			if (gx_keytable_parse(p, h.payload_len, &t, &f->ntab) != 0)
				fake_fail(f, "bad KEYTABLE");
			memcpy(f->tab, t, (f->ntab < MAXK ? f->ntab : MAXK) * sizeof *t);
			free(t);
			break;
		}
		case GX_FT_INIT: {
			if (h.key >= MAXK || h.block >= MAXB || h.codec != GX_CODEC_F32) {
				fake_fail(f, "INIT out of range");
				goto out;
			}
			float *k = malloc(h.count * 4);
			for (uint64_t i = 0; i < h.count; i++)
				k[i] = 1000.0f + (float)h.key + (float)i;
			free(f->kept[h.key][h.block]);
			f->kept[h.key][h.block] = k;
			f->kcount[h.key][h.block] = h.count;
			send_f32(fd, GX_FT_INIT_REPLY, h.key, h.block, 0, k, h.count);
			f->ninit++;
			break;
		}
		case GX_FT_PUSH: {
			f->npush++;
			if (phase_done && f->silent_ms)
				break;
			if (f->die_at_push == f->npush)
				goto out;
			uint64_t n = h.count + (f->bad_count_push == f->npush);
			tmp = realloc(tmp, n * 4);
			if (h.codec == GX_CODEC_F16) /* an fp16 LAN: answered from zeros */
				memset(tmp, 0, h.count * 4);
			else
				memcpy(tmp, p, h.count * 4);
			if (n > h.count)
				tmp[h.count] = 0;
			for (uint64_t i = 0; i < n; i++)
				tmp[i] += (float)h.round;
			send_f32(fd, GX_FT_PUSH_REPLY, h.key, h.block, h.round, tmp, n);
			break;
		}
		case GX_FT_PULL:
			if (h.key >= MAXK || h.block >= MAXB || !f->kept[h.key][h.block]) {
				fake_fail(f, "PULL of an unknown slice");
				goto out;
			}
			send_f32(fd, GX_FT_PULL_REPLY, h.key, h.block, 0, f->kept[h.key][h.block],
				 f->kcount[h.key][h.block]);
			break;
		case GX_FT_HEARTBEAT:
			f->heartbeats++;
			break;
		case GX_FT_BYE:
			f->byes++;
			send_frame(fd, GX_FT_BYE, 0, 0, 0, GX_CODEC_NONE, NULL, 0, 0);
			goto out;
		default:
			fake_fail(f, "unexpected frame type");
			goto out;
		}
		/* After the last INIT reply (the kept counts add up to the
		 * table's): hold or go silent as configured. */
		if (h.type == GX_FT_INIT && (f->hold || f->silent_ms)) {
			uint64_t want = 0, have = 0;
			for (size_t i = 0; i < f->ntab; i++)
				want += f->tab[i].count;
			for (int a = 0; a < MAXK; a++)
				for (int b = 0; b < MAXB; b++)
					have += f->kcount[a][b];
			if (want == have) {
				phase_done = 1;
				if (f->hold)
					wait_release(f);
			}
		}
	}
out:
	free(tmp);
	close(fd);
	gx_decoder_free(r->d);
	free(r);
	return NULL;
}

static void fake_init(fake *f)
{
	memset(f, 0, sizeof *f);
	f->role = GX_ROLE_LOCAL;
	f->proto = GX_PROTO_VERSION;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof a;
	if (bind(f->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(f->lfd, 4) != 0 ||
	    getsockname(f->lfd, (struct sockaddr *)&a, &sl) != 0) {
		fake_fail(f, "cannot listen");
		return;
	}
	f->port = ntohs(a.sin_port);
}

static void fake_start(fake *f)
{
	if (f->rcvbuf)
		setsockopt(f->lfd, SOL_SOCKET, SO_RCVBUF, &f->rcvbuf, sizeof f->rcvbuf);
	pthread_create(&f->th, NULL, fake_main, f);
}

static void fake_release(fake *f)
{
	pthread_mutex_lock(&f->mu);
	f->released = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void fake_join(fake *f)
{
	fake_release(f);
	pthread_join(f->th, NULL);
	close(f->lfd);
	for (int a = 0; a < MAXK; a++)
		for (int b = 0; b < MAXB; b++)
			free(f->kept[a][b]);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	if (f->fail[0])
		printf("#   fake server: %s\n", f->fail);
}

/* --------------------------------------------------------- the client */


static gx_kv *connect_to(const char *servers, uint32_t rank, int *err)
{
	gx_kv_opts o;
	char s[256];
	gx_kv_opts_default(&o);
	snprintf(s, sizeof s, "%s", servers);
	o.servers = s;
	o.rank = rank;
	o.party = 3;
	o.connect_timeout = 3;
	o.reconnect_timeout = 0; /* a fake that dies is gone (reconnect.sh dials again) */
	o.log = logfn;
	log_clear();
	return gx_kv_connect(&o, err);
}

static gx_kv *connect_fake(fake *f, uint32_t rank, int *err)
{
	char s[64];
	snprintf(s, sizeof s, "127.0.0.1:%d", f->port);
	return connect_to(s, rank, err);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- cases */

static void hello_and_bye(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 2, &err);
	T_REQUIRE(kv != NULL);
	T_EQ(err, 0);
	T_EQ(gx_kv_close(kv), 0);
	fake_join(&f);
	T_ASSERT(f.got_hello);
	T_EQ(f.hello.proto, GX_PROTO_VERSION);
	T_EQ(f.hello.role, GX_ROLE_WORKER);
	T_EQ(f.hello.rank, 2);
	T_EQ(f.hello.party, 3);
	T_EQ(f.byes, 1);
	T_ASSERT(!f.fail[0]);
}

static void init_takes_server_value(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_REQUIRE(kv != NULL);
	/* keys given out of order: the table goes out sorted */
	uint32_t keys[2] = {7, 3};
	uint64_t counts[2] = {5, 2};
	float a[5] = {1, 2, 3, 4, 5}, b[2] = {-1, -2};
	float *vals[2] = {a, b};
	T_EQ(gx_kv_init(kv, 2, keys, counts, vals), 0);
	for (int i = 0; i < 5; i++)
		T_EQ(a[i], 1007 + i);
	for (int i = 0; i < 2; i++)
		T_EQ(b[i], 1003 + i);
	T_EQ(gx_kv_init(kv, 2, keys, counts, vals), GX_EINVAL); /* once only */
	T_EQ(gx_kv_close(kv), 0);
	fake_join(&f);
	T_REQUIRE(f.ntab == 2);
	T_EQ(f.tab[0].key, 3);
	T_EQ(f.tab[0].count, 2);
	T_EQ(f.tab[1].key, 7);
	T_EQ(f.tab[1].count, 5);
	/* hello, keytable, then the INITs in key order */
	T_REQUIRE(f.nrec >= 4);
	T_EQ(f.recs[1].type, GX_FT_KEYTABLE);
	T_EQ(f.recs[2].type, GX_FT_INIT);
	T_EQ(f.recs[2].key, 3);
	T_EQ(f.recs[3].key, 7);
	T_EQ(f.recs[3].count, 5);
	T_ASSERT(!f.fail[0]);
}

static void pushpull_rounds(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 1, &err);
	T_REQUIRE(kv != NULL);
	uint32_t keys[2] = {0, 1};
	uint64_t counts[2] = {4, 3};
	float a[4] = {0}, b[3] = {0}, out[3][4], bo[3], g[4] = {0.5f, 1.5f, 2.5f, 3.5f};
	float *vals[2] = {a, b};
	T_REQUIRE(gx_kv_init(kv, 2, keys, counts, vals) == 0);

	T_EQ(gx_kv_pushpull(kv, 9, g, out[0], 0), GX_EKEY);
	T_EQ(gx_kv_pushpull(kv, 0, g, out[0], -1), GX_EINVAL);
	gx_kv_req r[5];
	for (int k = 0; k < 3; k++)
		r[k] = gx_kv_pushpull(kv, 0, g, out[k], 0);
	g[0] = 99; /* the gradient was copied at call time */
	r[3] = gx_kv_push(kv, 1, g, 1);
	r[4] = gx_kv_pull(kv, 1, bo, 0);
	for (int k = 0; k < 5; k++)
		T_ASSERT(r[k] > 0);
	for (int k = 0; k < 3; k++)
		T_EQ(gx_kv_wait(kv, r[k]), 0);
	T_EQ(gx_kv_wait(kv, r[0]), GX_EINVAL); /* waited already */
	T_EQ(gx_kv_wait_all(kv), 0);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 4; i++)
			T_EQ(out[k][i], 0.5f + (float)i + (float)k);
	for (int i = 0; i < 3; i++)
		T_EQ(bo[i], 1001 + i);
	/* the second key's round counter is its own */
	r[0] = gx_kv_pushpull(kv, 1, g, bo, 0);
	T_EQ(gx_kv_wait(kv, r[0]), 0);
	T_EQ(bo[0], 99 + 1);

	uint64_t bout = 0, bin = 0;
	T_EQ(gx_kv_stats(kv, &bout, &bin), 0);
	T_ASSERT(bout >= 5 * 64 + 4 * 4 * 3);
	T_ASSERT(bin >= 5 * 64 + 4 * 4 * 3);
	T_EQ(gx_kv_close(kv), 0);
	fake_join(&f);
	int rounds0[8], n0 = 0, rounds1[8], n1 = 0;
	for (int i = 0; i < f.nrec; i++)
		if (f.recs[i].type == GX_FT_PUSH) {
			T_EQ(f.recs[i].sender, 1);
			if (f.recs[i].key == 0 && n0 < 8)
				rounds0[n0++] = (int)f.recs[i].round;
			else if (f.recs[i].key == 1 && n1 < 8)
				rounds1[n1++] = (int)f.recs[i].round;
		}
	T_REQUIRE(n0 == 3 && n1 == 2);
	T_EQ(rounds0[0], 0);
	T_EQ(rounds0[1], 1);
	T_EQ(rounds0[2], 2);
	T_EQ(rounds1[0], 0);
	T_EQ(rounds1[1], 1);
	T_ASSERT(!f.fail[0]);
}

/* An fp16 LAN: a push leaves in the client's residual what rounding kept
 * back; gx_kv_fold of the same gradient in another client leaves the very
 * same bits, sending nothing (what a restarted worker does for a push the
 * servers had); a residual restored is where the next push starts from. */
static void fold_is_a_push(void)
{
	fake f[2];
	gx_kv *kv[2];
	int err = 0;
	uint32_t key = 0;
	uint64_t count = 5;
	float g[5] = {0.1f, 1.0001f, -3.3333f, 1e-5f, 2048.5f}, out[5], v[2][5];
	float *vals[2][1] = {{v[0]}, {v[1]}};
	for (int i = 0; i < 2; i++) {
		fake_init(&f[i]);
		f[i].lan = GX_LINK_FP16;
		fake_start(&f[i]);
		kv[i] = connect_fake(&f[i], 0, &err);
		T_REQUIRE(kv[i] != NULL);
		T_REQUIRE(gx_kv_init(kv[i], 1, &key, &count, vals[i]) == 0);
	}
	T_REQUIRE(gx_kv_residual(kv[0], 0) != NULL);
	T_ASSERT(gx_kv_residual(kv[0], 7) == NULL);
	T_EQ(gx_kv_fold(kv[0], 7, g), GX_EKEY);
	T_EQ(gx_kv_wait(kv[0], gx_kv_pushpull(kv[0], 0, g, out, 0)), 0);
	T_EQ(gx_kv_fold(kv[1], 0, g), 0);
	float pushed[5], folded[5];
	memcpy(pushed, gx_kv_residual(kv[0], 0), sizeof pushed);
	memcpy(folded, gx_kv_residual(kv[1], 0), sizeof folded);
	T_ASSERT(memcmp(pushed, folded, sizeof pushed) == 0);
	int nonzero = 0;
	for (int i = 0; i < 5; i++)
		nonzero += pushed[i] != 0.0f;
	T_ASSERT(nonzero >= 3); /* binary16 cannot hold these exactly */
	/* a residual written back is the next push's starting point */
	memset(gx_kv_residual(kv[1], 0), 0, sizeof folded);
	T_EQ(gx_kv_fold(kv[1], 0, g), 0);
	T_ASSERT(memcmp(gx_kv_residual(kv[1], 0), pushed, sizeof pushed) == 0);
	for (int i = 0; i < 2; i++) {
		T_EQ(gx_kv_close(kv[i]), 0);
		fake_join(&f[i]);
		T_ASSERT(!f[i].fail[0]);
	}
	T_EQ(f[0].npush, 1);
	T_EQ(f[1].npush, 0); /* folding sends nothing */
}

/* An F32 LAN keeps no residuals: nothing to fold. */
static void no_residuals_on_f32(void)
{
	fake f;
	int err = 0;
	uint32_t key = 0;
	uint64_t count = 3;
	float v[3] = {0}, g[3] = {0.1f, 0.2f, 0.3f};
	float *vals[1] = {v};
	fake_init(&f);
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_REQUIRE(kv != NULL);
	T_REQUIRE(gx_kv_init(kv, 1, &key, &count, vals) == 0);
	T_ASSERT(gx_kv_residual(kv, 0) == NULL);
	T_EQ(gx_kv_fold(kv, 0, g), 0);
	T_EQ(gx_kv_close(kv), 0);
	fake_join(&f);
	T_EQ(f.npush, 0);
}

/* A server that names blocks of 8192: a key of 20000 floats goes out and
 * comes back as blocks 0..2 (8192, 8192, 3616: the first two large enough
 * to be received straight into the caller's array, the last decoded), the
 * pushes copied part by part after their submission; every element right,
 * whatever path it took. A key of 5 floats is one block. */
static void blocks_travel(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	f.block = 8192;
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_REQUIRE(kv != NULL);
	gx_kv_info info;
	gx_kv_info_get(kv, &info);
	T_EQ(info.block, 8192);
	enum { N = 20000 };
	static float a[N], out[N], g[N];
	float b[5] = {0};
	uint32_t keys[2] = {0, 1};
	uint64_t counts[2] = {N, 5};
	float *vals[2] = {a, b};
	T_REQUIRE(gx_kv_init(kv, 2, keys, counts, vals) == 0);
	int bad = 0;
	for (int i = 0; i < N; i++) /* the fake keeps 1000 + key + offset in its block */
		bad |= a[i] != 1000.0f + (float)(i % 8192);
	T_ASSERT(!bad);
	for (int i = 0; i < N; i++)
		g[i] = (float)i * 0.25f;
	for (int k = 0; k < 3; k++) {
		memset(out, 0, sizeof out);
		T_EQ(gx_kv_wait(kv, gx_kv_pushpull(kv, 0, g, out, 0)), 0);
		for (int i = 0; i < N; i++)
			bad |= out[i] != (float)i * 0.25f + (float)k;
	}
	T_ASSERT(!bad);
	memset(out, 0, sizeof out);
	T_EQ(gx_kv_wait(kv, gx_kv_pull(kv, 0, out, 0)), 0);
	for (int i = 0; i < N; i++)
		bad |= out[i] != a[i];
	T_ASSERT(!bad);
	T_EQ(gx_kv_close(kv), 0);
	fake_join(&f);
	int pushes[3] = {0}, other = 0;
	for (int i = 0; i < f.nrec; i++)
		if (f.recs[i].type == GX_FT_PUSH) {
			const rec *r = &f.recs[i];
			if (r->key == 0 && r->block < 3 && r->count == (r->block < 2 ? 8192 : 3616))
				pushes[r->block]++;
			else
				other++;
		}
	T_EQ(pushes[0], 3);
	T_EQ(pushes[1], 3);
	T_EQ(pushes[2], 3);
	T_EQ(other, 0);
	T_EQ(f.ninit, 4); /* three blocks and the small key */
	T_ASSERT(!f.fail[0]);
}

/* A lent push (gx_kv_pushpull_borrowed) carries what a copied one does,
 * block by block; an overlap of the gradient and the reply is refused. */
static void lent_push(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	f.block = 8192;
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_REQUIRE(kv != NULL);
	enum { N = 20000 };
	static float a[N], out[N], g[N];
	uint32_t key = 0;
	uint64_t count = N;
	float *vals[1] = {a};
	T_REQUIRE(gx_kv_init(kv, 1, &key, &count, vals) == 0);
	for (int i = 0; i < N; i++)
		g[i] = (float)i * 0.25f - 7.0f;
	int bad = 0;
	for (int k = 0; k < 3; k++) {
		memset(out, 0, sizeof out);
		T_EQ(gx_kv_wait(kv, gx_kv_pushpull_borrowed(kv, 0, g, out, 0)), 0);
		for (int i = 0; i < N; i++)
			bad |= out[i] != (float)i * 0.25f - 7.0f + (float)k;
	}
	T_ASSERT(!bad);
	T_ASSERT(gx_kv_pushpull_borrowed(kv, 0, g, NULL, 0) > 0); /* push only */
	T_EQ(gx_kv_wait_all(kv), 0);
	T_EQ(gx_kv_pushpull_borrowed(kv, 0, g, g, 0), GX_EINVAL);
	T_EQ(gx_kv_pushpull_borrowed(kv, 0, g + 100, g, 0), GX_EINVAL);
	T_EQ(gx_kv_pushpull_borrowed(kv, 7, g, out, 0), GX_EKEY);
	T_EQ(gx_kv_close(kv), 0);
	fake_join(&f);
	int pushes = 0;
	for (int i = 0; i < f.nrec; i++)
		pushes += f.recs[i].type == GX_FT_PUSH;
	T_EQ(pushes, 4 * 3); /* four pushes of three blocks */
	T_ASSERT(!f.fail[0]);
}

/* A lent push stuck in the connection when its server dies: the wait fails
 * it, and returns only once the connection let go of the gradient, which
 * is freed at once (AddressSanitizer builds catch a later read). */
static void lent_push_server_dies(void)
{
	fake f;
	int err = 0;
	enum { BULK = 1 << 20 };
	fake_init(&f);
	f.block = BULK / MAXB;
	f.hold = 1;
	f.rcvbuf = 64 << 10;
	f.die_at_push = 1;
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_REQUIRE(kv != NULL);
	uint32_t key = 0;
	uint64_t count = BULK;
	float *v = calloc(BULK, sizeof *v), *o = calloc(BULK, sizeof *o);
	float *vals[1] = {v};
	T_REQUIRE(v && o);
	T_REQUIRE(gx_kv_init(kv, 1, &key, &count, vals) == 0);
	float *g = malloc(BULK * sizeof *g);
	T_REQUIRE(g);
	for (int i = 0; i < BULK; i++)
		g[i] = (float)i;
	uint64_t out0 = 0, out = 0;
	T_EQ(gx_kv_stats(kv, &out0, NULL), 0);
	gx_kv_req r = gx_kv_pushpull_borrowed(kv, 0, g, o, 0);
	T_ASSERT(r > 0);
	struct timespec ts = {0, 1000 * 1000};
	while (gx_kv_stats(kv, &out, NULL) == 0 && out - out0 <= 4096)
		nanosleep(&ts, NULL); /* alarm() bounds the wait */
	fake_release(&f); /* it reads the first block and dies */
	T_EQ(gx_kv_wait(kv, r), GX_EPEER);
	free(g);
	T_EQ(gx_kv_close(kv), GX_EPEER);
	fake_join(&f);
	free(v);
	free(o);
}

/* A bulk push fills the socket while the fake holds its reading; requests
 * queued behind it must come out by priority, FIFO within one. */
static void priority_order(void)
{
	fake f;
	int err = 0;
	enum { BULK = 4 << 20 };
	fake_init(&f);
	f.hold = 1;
	f.rcvbuf = 64 << 10;
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_REQUIRE(kv != NULL);
	uint32_t keys[6] = {0, 1, 2, 3, 4, 5};
	uint64_t counts[6] = {BULK, 8, 8, 8, 8, 8};
	float *vals[6], *outs[6];
	for (int i = 0; i < 6; i++) {
		vals[i] = calloc(counts[i], sizeof(float));
		outs[i] = calloc(counts[i], sizeof(float));
	}
	T_REQUIRE(gx_kv_init(kv, 6, keys, counts, vals) == 0);
	/* the bulk push is handed to the connection and stuck there (more is
	 * written than a heartbeat: the I/O thread took it, however long a
	 * busy machine made it wait) ... */
	uint64_t out0 = 0, out = 0;
	T_EQ(gx_kv_stats(kv, &out0, NULL), 0);
	T_ASSERT(gx_kv_pushpull(kv, 0, vals[0], outs[0], 9) > 0);
	struct timespec ts = {0, 1000 * 1000};
	while (gx_kv_stats(kv, &out, NULL) == 0 && out - out0 <= 4096)
		nanosleep(&ts, NULL); /* alarm() bounds the wait */
	/* ... while these queue behind it; the second bulk push (round 1)
	 * is queued first of them but least urgent. The rest of the bulk
	 * push (megabytes) takes the I/O thread many turns once the fake
	 * reads again, and it takes these from the queue on the first. */
	static const int prio[6] = {9, 5, 3, 5, 0, 3};
	T_ASSERT(gx_kv_push(kv, 0, vals[0], 9) > 0);
	for (int k = 1; k < 6; k++)
		T_ASSERT(gx_kv_pushpull(kv, (uint32_t)k, vals[k], outs[k], prio[k]) > 0);
	fake_release(&f);
	T_EQ(gx_kv_wait_all(kv), 0);
	T_EQ(outs[0][BULK - 1], 1000 + 0 + (BULK - 1));
	T_EQ(outs[4][7], 1000 + 4 + 7);
	T_EQ(gx_kv_close(kv), 0);
	fake_join(&f);
	static const uint32_t want[7] = {0, 4, 2, 5, 1, 3, 0};
	int n = 0;
	for (int i = 0; i < f.nrec; i++)
		if (f.recs[i].type == GX_FT_PUSH && n < 7) {
			T_EQ(f.recs[i].key, want[n]);
			T_EQ(f.recs[i].prio, prio[want[n]]);
			T_EQ(f.recs[i].round, n == 6);
			n++;
		}
	T_EQ(n, 7);
	for (int i = 0; i < 6; i++) {
		free(vals[i]);
		free(outs[i]);
	}
	T_ASSERT(!f.fail[0]);
}

static void server_dies(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	f.die_at_push = 2;
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_REQUIRE(kv != NULL);
	uint32_t key = 0;
	uint64_t count = 16;
	float v[16] = {0}, o[3][16];
	float *vals[1] = {v};
	T_REQUIRE(gx_kv_init(kv, 1, &key, &count, vals) == 0);
	double t0 = now_s();
	gx_kv_req r[3];
	for (int k = 0; k < 3; k++)
		r[k] = gx_kv_pushpull(kv, 0, v, o[k], 0);
	T_EQ(gx_kv_wait(kv, r[0]), 0);
	T_EQ(gx_kv_wait(kv, r[1]), GX_EPEER);
	/* the third may have been refused at call time, after the death */
	T_EQ(r[2] > 0 ? gx_kv_wait(kv, r[2]) : r[2], GX_EPEER);
	T_ASSERT(now_s() - t0 < 2.0);
	T_EQ(gx_kv_pushpull(kv, 0, v, o[0], 0), GX_EPEER); /* later requests fail too */
	T_ASSERT(log_has("0 server 127.0.0.1:"));
	T_ASSERT(log_has("died"));
	T_EQ(gx_kv_close(kv), GX_EPEER);
	fake_join(&f);
}

static void heartbeat_timeout(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	f.silent_ms = 1500;
	fake_start(&f);
	gx_kv_opts o;
	char s[64];
	gx_kv_opts_default(&o);
	snprintf(s, sizeof s, "127.0.0.1:%d", f.port);
	o.servers = s;
	o.heartbeat = 0.05;
	o.heartbeat_timeout = 0.4;
	o.reconnect_timeout = 0; /* silent is dead here, not dialled again */
	o.log = logfn;
	log_clear();
	gx_kv *kv = gx_kv_connect(&o, &err);
	T_REQUIRE(kv != NULL);
	uint32_t key = 0;
	uint64_t count = 4;
	float v[4] = {0}, out[4];
	float *vals[1] = {v};
	T_REQUIRE(gx_kv_init(kv, 1, &key, &count, vals) == 0);
	double t0 = now_s();
	gx_kv_req r = gx_kv_pushpull(kv, 0, v, out, 0);
	T_EQ(gx_kv_wait(kv, r), GX_EPEER);
	double dt = now_s() - t0;
	T_ASSERT(dt > 0.3 && dt < 1.4);
	T_ASSERT(log_has("heartbeat timeout"));
	gx_kv_free(kv);
	fake_join(&f);
	T_ASSERT(f.heartbeats >= 2); /* the client's, while the fake said nothing */
}

static void refused_at_hello(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	f.error_at_hello = 1;
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_ASSERT(kv == NULL);
	T_EQ(err, GX_EREFUSED);
	T_ASSERT(log_has("rank 0 of party 0 is already connected"));
	fake_join(&f);
}

static void version_mismatch(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	f.proto = 7;
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_ASSERT(kv == NULL);
	T_EQ(err, GX_EPROTO);
	T_ASSERT(log_has("version 7"));
	T_ASSERT(log_has("version 2"));
	fake_join(&f);
}

static void nobody_listens(void)
{
	fake f;
	int err = 0;
	char s[64];
	fake_init(&f); /* a free port, then nobody on it */
	snprintf(s, sizeof s, "127.0.0.1:%d", f.port);
	close(f.lfd);
	gx_kv_opts o;
	gx_kv_opts_default(&o);
	o.servers = s;
	o.connect_timeout = 0.3;
	o.log = logfn;
	log_clear();
	double t0 = now_s();
	gx_kv *kv = gx_kv_connect(&o, &err);
	double dt = now_s() - t0;
	T_ASSERT(kv == NULL);
	T_EQ(err, GX_ETIMEOUT);
	T_ASSERT(dt >= 0.25 && dt < 1.5);
	T_ASSERT(log_has("connection refused"));
	pthread_mutex_destroy(&f.mu);
	pthread_cond_destroy(&f.cv);

	o.servers = "127.0.0.1";
	T_ASSERT(gx_kv_connect(&o, &err) == NULL);
	T_EQ(err, GX_EINVAL);
	o.servers = "127.0.0.1:1,";
	T_ASSERT(gx_kv_connect(&o, &err) == NULL);
	T_EQ(err, GX_EINVAL);
}

static void wrong_count_fails_request(void)
{
	fake f;
	int err = 0;
	fake_init(&f);
	f.bad_count_push = 1;
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_REQUIRE(kv != NULL);
	uint32_t key = 5;
	uint64_t count = 3;
	float v[3] = {1, 2, 3}, out[3] = {7, 7, 7};
	float *vals[1] = {v};
	T_REQUIRE(gx_kv_init(kv, 1, &key, &count, vals) == 0);
	T_EQ(gx_kv_wait(kv, gx_kv_pushpull(kv, 5, v, out, 0)), GX_EPROTO);
	T_EQ(out[0], 7); /* untouched */
	T_EQ(gx_kv_wait(kv, gx_kv_pushpull(kv, 5, v, out, 0)), 0);
	T_EQ(out[0], v[0] + 1);
	T_ASSERT(log_has("carries 4 elements, expected 3"));
	T_EQ(gx_kv_close(kv), 0);
	fake_join(&f);
}

/* Flat MultiGPS: two global servers, a key split across them. */
static void flat_two_servers(void)
{
	fake f[2];
	int err = 0;
	char s[128];
	for (int i = 0; i < 2; i++) {
		fake_init(&f[i]);
		f[i].role = GX_ROLE_GLOBAL;
		f[i].nservers = 2;
		fake_start(&f[i]);
	}
	snprintf(s, sizeof s, "127.0.0.1:%d,127.0.0.1:%d", f[0].port, f[1].port);
	gx_kv_opts o;
	gx_kv_opts_default(&o);
	o.servers = s;
	o.split_bound = 10;
	o.connect_timeout = 3;
	o.log = logfn;
	log_clear();
	gx_kv *kv = gx_kv_connect(&o, &err);
	T_REQUIRE(kv != NULL);
	uint32_t keys[3] = {0, 1, 2};
	uint64_t counts[3] = {101, 5, 3};
	float a[101], b[5], c[3], out[101], g[101];
	float *vals[3] = {a, b, c};
	for (int i = 0; i < 101; i++)
		g[i] = (float)i;
	T_REQUIRE(gx_kv_init(kv, 3, keys, counts, vals) == 0);
	gx_slice pl[16];
	long ns = gx_place(keys, counts, 3, 2, 10, pl, 16);
	T_REQUIRE(ns == 4);
	for (long j = 0; j < ns; j++)
		if (pl[j].key == 0)
			for (uint64_t i = 0; i < pl[j].count; i++)
				T_EQ(a[pl[j].offset + i], 1000 + i);
	T_EQ(gx_kv_wait(kv, gx_kv_pushpull(kv, 0, g, out, 0)), 0);
	T_EQ(gx_kv_wait(kv, gx_kv_pushpull(kv, 0, g, out, 0)), 0);
	for (int i = 0; i < 101; i++)
		T_EQ(out[i], i + 1);
	T_EQ(gx_kv_close(kv), 0);
	for (int i = 0; i < 2; i++) {
		fake_join(&f[i]);
		T_EQ(f[i].ntab, 3);
		T_ASSERT(!f[i].fail[0]);
	}
	/* each slice's INIT and PUSHes went to its server, with its block */
	for (long j = 0; j < ns; j++) {
		fake *fs = &f[pl[j].server];
		int inits = 0, pushes = 0;
		for (int i = 0; i < fs->nrec; i++)
			if (fs->recs[i].key == pl[j].key && fs->recs[i].block == pl[j].block) {
				inits += fs->recs[i].type == GX_FT_INIT && fs->recs[i].count == pl[j].count;
				pushes += fs->recs[i].type == GX_FT_PUSH && fs->recs[i].count == pl[j].count;
			}
		T_EQ(inits, 1);
		T_EQ(pushes, pl[j].key == 0 ? 2 : 0);
	}
}

static void misuse(void)
{
	float x[1] = {0};
	T_EQ(gx_kv_push(NULL, 0, x, 0), GX_EINVAL);
	T_EQ(gx_kv_wait(NULL, 1), GX_EINVAL);
	T_EQ(gx_kv_wait_all(NULL), GX_EINVAL);
	T_EQ(gx_kv_close(NULL), 0);
	gx_kv_free(NULL);
	T_ASSERT(gx_kv_connect(NULL, NULL) == NULL);

	fake f;
	int err = 0;
	fake_init(&f);
	fake_start(&f);
	gx_kv *kv = connect_fake(&f, 0, &err);
	T_REQUIRE(kv != NULL);
	T_EQ(gx_kv_push(kv, 0, x, 0), GX_EINVAL); /* before init */
	uint32_t keys[2] = {4, 4};
	uint64_t counts[2] = {1, 1};
	float *vals[2] = {x, x};
	T_EQ(gx_kv_init(kv, 2, keys, counts, vals), GX_EINVAL); /* duplicate key */
	counts[1] = 0;
	keys[1] = 5;
	T_EQ(gx_kv_init(kv, 2, keys, counts, vals), GX_EINVAL); /* empty tensor */
	T_EQ(gx_kv_wait(kv, 12345), GX_EINVAL);
	gx_kv_free(kv); /* no goodbye: the fake sees the end of the stream */
	fake_join(&f);
	T_EQ(f.byes, 0);
	T_ASSERT(f.eof);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(60); /* a hang is a failure, not a stuck test run */
	T_RUN(hello_and_bye);
	T_RUN(init_takes_server_value);
	T_RUN(pushpull_rounds);
	T_RUN(blocks_travel);
	T_RUN(fold_is_a_push);
	T_RUN(no_residuals_on_f32);
	T_RUN(lent_push);
	T_RUN(lent_push_server_dies);
	T_RUN(priority_order);
	T_RUN(server_dies);
	T_RUN(heartbeat_timeout);
	T_RUN(refused_at_hello);
	T_RUN(version_mismatch);
	T_RUN(nobody_listens);
	T_RUN(wrong_count_fails_request);
	T_RUN(flat_two_servers);
	T_RUN(misuse);
	T_DONE();
}
