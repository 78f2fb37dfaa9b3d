/*
 * test_bytequeue.c — reference-counted buffers and their pools (base/buf.h),
 * and the output queue shared by connections and the relay
 * (net/bytequeue.h): bytes out in order through partial writes, references
 * held exactly until written, release times respected, segments reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "geomx.h"
#include "base/buf.h"
#include "net/bytequeue.h"
#include "t.h"

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static void buf_refcount(void)
{
	gx_buf *b = gx_buf_new(100);
	T_REQUIRE(b);
	T_EQ(b->refs, 1);
	T_ASSERT(gx_buf_ref(b) == b);
	T_EQ(b->refs, 2);
	gx_buf_unref(b);
	T_EQ(b->refs, 1);
	gx_buf_unref(b); /* freed: ASan would catch a double free or a leak */
	gx_buf_unref(NULL);
}

static void count_release(void *ud)
{
	(*(int *)ud)++;
}

/* A lent buffer refers to the caller's bytes: nothing is copied, a queued
 * segment holds it like any other, and only the last release calls back
 * (once), leaving the bytes alone. */
static void buf_lend(void)
{
	uint8_t own[64];
	memset(own, 7, sizeof own);
	int released = 0;
	gx_buf *b = gx_buf_lend(own, sizeof own, count_release, &released);
	T_REQUIRE(b);
	T_ASSERT(b->data == own && b->len == sizeof own && b->cap == sizeof own && b->refs == 1);
	gx_bq_pool pool;
	gx_bq q;
	gx_bq_pool_init(&pool, 4, 1024, 1 << 20, 0);
	gx_bq_init(&q, &pool);
	gx_bq_seg *s = gx_bq_seg_ref(b, own + 8, 32);
	T_REQUIRE(s);
	gx_bq_append(&q, s);
	T_ASSERT(gx_buf_shared(b));
	gx_buf_unref(b); /* the caller's reference: the queue still holds it */
	T_EQ(released, 0);
	gx_bq_clear(&q); /* as a connection closed unwritten */
	T_EQ(released, 1);
	T_EQ(own[0], 7);
	T_EQ(own[63], 7);
	gx_bq_pool_clear(&pool);
}

/* A released buffer comes back for a request it fits without wasting more
 * than half of it, smaller ones are not kept, and the pool outlives its
 * free until the last buffer out of it is released. */
static void buf_pool_reuse(void)
{
	gx_buf_pool *p = gx_buf_pool_create(2, 1024, 1 << 20);
	T_REQUIRE(p);
	gx_buf *a = gx_buf_pool_get(p, 4096);
	T_REQUIRE(a);
	uint8_t *data = a->data;
	gx_buf_unref(a);
	gx_buf *b = gx_buf_pool_get(p, 3000);
	T_ASSERT(b && b->data == data && b->refs == 1);
	gx_buf *c = gx_buf_pool_get(p, 4096); /* the kept one is out: a new one */
	T_ASSERT(c && c->data != data);
	gx_buf_unref(c);
	gx_buf *d = gx_buf_pool_get(p, 1000); /* 4096 would waste more than half */
	T_ASSERT(d && d->cap < 4096);
	gx_buf_unref(d);
	gx_buf *e = gx_buf_pool_get(p, 100); /* under min_cap: not kept */
	gx_buf_unref(e);
	gx_buf_ref(b);
	gx_buf_pool_free(p);
	gx_buf_unref(b);
	gx_buf_unref(b); /* the last one frees b and the pool */
}

/* Reads everything the other end of a socket pair has, into out. */
static size_t drain(int fd, uint8_t *out, size_t cap)
{
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, out + got, cap - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Copies, references and empty frame markers, written through a small
 * socket buffer in many partial writes: the bytes arrive in order, frames
 * are counted when their last byte went out, and every reference is
 * dropped exactly once. */
static void queue_order_and_refs(void)
{
	int sv[2];
	T_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	gx_bq_pool pool;
	gx_bq q;
	gx_bq_pool_init(&pool, 4, 1024, 1 << 20, 0);
	gx_bq_init(&q, &pool);
	enum { N = 60 };
	static uint8_t want[1 << 20], got[1 << 20];
	size_t wlen = 0;
	uint64_t seed = 7;
	gx_buf *shared = gx_buf_new(20000);
	T_REQUIRE(shared);
	for (size_t i = 0; i < shared->cap; i++)
		shared->data[i] = (uint8_t)lcg(&seed);
	int frames = 0;
	for (int i = 0; i < N; i++) {
		size_t len = lcg(&seed) % 9000;
		if (i % 3 == 0) {
			size_t off = lcg(&seed) % (shared->cap - len);
			gx_bq_seg *s = gx_bq_seg_ref(shared, shared->data + off, len);
			T_REQUIRE(s);
			s->frames = 1;
			gx_bq_append(&q, s);
			memcpy(want + wlen, shared->data + off, len);
		} else {
			uint8_t tmp[9000];
			for (size_t j = 0; j < len; j++)
				tmp[j] = (uint8_t)lcg(&seed);
			T_EQ(gx_bq_push(&q, tmp, len, i % 2 ? 1000 : 0, 1), 0);
			memcpy(want + wlen, tmp, len);
		}
		wlen += len;
		frames++;
	}
	T_EQ(q.bytes, wlen);
	T_ASSERT(shared->refs > 1);
	size_t rlen = 0;
	uint64_t fdone = 0;
	for (int spins = 0; q.head && spins < 100000; spins++) {
		uint64_t f;
		long w = gx_bq_write(&q, sv[0], 3000, UINT64_MAX, &f);
		T_REQUIRE(w >= 0);
		fdone += f;
		rlen += drain(sv[1], got + rlen, sizeof got - rlen);
	}
	rlen += drain(sv[1], got + rlen, sizeof got - rlen);
	T_ASSERT(q.head == NULL && q.tail == NULL);
	T_EQ(q.bytes, 0);
	T_EQ(q.mem, 0);
	T_EQ(fdone, frames);
	T_EQ(rlen, wlen);
	T_ASSERT(memcmp(got, want, wlen) == 0);
	T_EQ(shared->refs, 1); /* the queue let go of every reference */
	T_ASSERT(pool.n > 0 && pool.n <= 4);
	gx_buf_unref(shared);
	gx_bq_pool_clear(&pool);
	close(sv[0]);
	close(sv[1]);
}

/* Segments not yet due stay queued, and nothing after them goes first. */
static void queue_release_times(void)
{
	int sv[2];
	T_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	gx_bq_pool pool;
	gx_bq q;
	gx_bq_pool_init(&pool, 0, 0, 0, 0);
	gx_bq_init(&q, &pool);
	const char *parts[3] = { "now", "later", "last" };
	uint64_t when[3] = { 0, 2000, 1000 };
	for (int i = 0; i < 3; i++) {
		gx_bq_seg *s = gx_bq_seg_get(&pool, strlen(parts[i]));
		T_REQUIRE(s);
		memcpy(s->data, parts[i], strlen(parts[i]));
		s->len = strlen(parts[i]);
		s->release_ns = when[i];
		gx_bq_append(&q, s);
	}
	uint8_t got[64];
	T_EQ(gx_bq_write(&q, sv[0], 1 << 20, 1500, NULL), 3);
	T_EQ(drain(sv[1], got, sizeof got), 3);
	T_ASSERT(memcmp(got, "now", 3) == 0);
	T_EQ(gx_bq_write(&q, sv[0], 1 << 20, 1500, NULL), 0); /* "later" holds "last" */
	T_EQ(gx_bq_write(&q, sv[0], 1 << 20, 2000, NULL), 9);
	T_EQ(drain(sv[1], got, sizeof got), 9);
	T_ASSERT(memcmp(got, "laterlast", 9) == 0);
	T_ASSERT(q.head == NULL);
	close(sv[0]);
	close(sv[1]);
}

/* A write to a socket whose peer is gone reports GX_EIO with errno. */
static void queue_write_error(void)
{
	int sv[2];
	T_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	close(sv[1]);
	gx_bq_pool pool;
	gx_bq q;
	gx_bq_pool_init(&pool, 4, 0, 1 << 20, 0);
	gx_bq_init(&q, &pool);
	T_EQ(gx_bq_push(&q, "abc", 3, 0, 1), 0);
	errno = 0;
	T_EQ(gx_bq_write(&q, sv[0], 1 << 20, UINT64_MAX, NULL), GX_EIO);
	T_EQ(errno, EPIPE);
	gx_bq_clear(&q);
	T_EQ(q.bytes, 0);
	gx_bq_pool_clear(&pool);
	close(sv[0]);
}

/* With a grain, segments between half the grain and the grain are made the
 * grain's size, so later ones of another size in that range reuse them. */
static void pool_grain(void)
{
	gx_bq_pool pool;
	gx_bq_pool_init(&pool, 8, 4096, 1 << 20, 8192);
	gx_bq_seg *a = gx_bq_seg_get(&pool, 5000);
	T_REQUIRE(a);
	T_EQ(a->cap, 8192);
	gx_bq_seg_put(&pool, a);
	gx_bq_seg *b = gx_bq_seg_get(&pool, 7000);
	T_ASSERT(b == a);
	gx_bq_seg_put(&pool, b);
	gx_bq_seg *c = gx_bq_seg_get(&pool, 100);
	T_REQUIRE(c);
	T_EQ(c->cap, 100);
	gx_bq_seg_put(&pool, c); /* under min_cap: freed */
	T_EQ(pool.n, 1);
	gx_bq_pool_clear(&pool);
}

int main(void)
{
	T_RUN(buf_refcount);
	T_RUN(buf_pool_reuse);
	T_RUN(buf_lend);
	T_RUN(queue_order_and_refs);
	T_RUN(queue_release_times);
	T_RUN(queue_write_error);
	T_RUN(pool_grain);
	T_DONE();
}
