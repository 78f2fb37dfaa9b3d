/* test_heap.c — the binary heap of base/heap.h against a sort: random
 * pushes and pops interleaved, ties and growth included; room reserved. */
#include <stdlib.h>

#include "geomx.h"
#include "base/heap.h"
#include "t.h"

typedef struct item {
	int key;
	int seq; /* ties: the heap is not stable, the caller's order decides */
} item;

static int item_less(const void *x, const void *y)
{
	const item *a = x, *b = y;
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static int cmp(const void *x, const void *y)
{
	const item *a = x, *b = y;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void test_empty(void)
{
	gx_heap h;
	gx_heap_init(&h, item_less);
	T_ASSERT(gx_heap_top(&h) == NULL);
	T_ASSERT(gx_heap_pop(&h) == NULL);
	gx_heap_free(&h);
	gx_heap_free(&h); /* twice is harmless */
}

/* Pushes in a random order, with pops in between; whatever is popped is
 * the least of what is in; at the end every item came out once, sorted. */
static void test_against_sort(void)
{
	enum { N = 5000 };
	static item it[N], out[N];
	uint64_t s = 12345;
	for (int i = 0; i < N; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		it[i].key = (int)((s >> 33) % 97); /* many ties */
		it[i].seq = i;
	}
	gx_heap h;
	gx_heap_init(&h, item_less);
	int in = 0, got = 0, bad = 0;
	for (int i = 0; i < N; i++) {
		T_REQUIRE(gx_heap_push(&h, &it[i]) == 0);
		in++;
		if (i % 3 == 2) {
			item *m = gx_heap_pop(&h);
			/* the least of what was pushed and not yet popped */
			for (int j = 0; j <= i; j++)
				if (it[j].seq >= 0 && item_less(&it[j], m))
					bad++;
			out[got++] = *m;
			m->seq = -1 - m->seq; /* popped */
			in--;
		}
	}
	T_EQ(bad, 0);
	T_EQ((long)h.n, (long)in);
	item prev = { -1, -1 };
	while (h.n) {
		item *m = gx_heap_pop(&h);
		T_ASSERT(!item_less(m, &prev));
		prev = *m;
		out[got++] = *m;
	}
	T_EQ(got, N);
	/* every item once: sorted, the output is the input sorted */
	qsort(out, N, sizeof *out, cmp);
	qsort(it, N, sizeof *it, cmp);
	int diff = 0;
	for (int i = 0; i < N; i++)
		diff += out[i].key != it[i].key;
	T_EQ(diff, 0);
	static int seen[N];
	for (int i = 0; i < N; i++)
		seen[out[i].seq]++;
	for (int i = 0; i < N; i++)
		T_EQ(seen[i], 1);
	gx_heap_free(&h);
}

/* Room reserved: pushes up to it keep the array where it is (no
 * allocation), the first one past it grows it, and the order holds. */
static void test_reserve(void)
{
	enum { R = 1000 };
	static item it[R + 1];
	gx_heap h;
	gx_heap_init(&h, item_less);
	T_REQUIRE(gx_heap_reserve(&h, R) == 0);
	void **v = h.v;
	T_EQ((long)h.cap, R);
	for (int i = 0; i < R; i++) {
		it[i].key = (i * 7919) % R;
		it[i].seq = i;
		T_REQUIRE(gx_heap_push(&h, &it[i]) == 0);
	}
	T_ASSERT(h.v == v);
	T_EQ((long)h.cap, R);
	/* a smaller reserve changes nothing */
	T_REQUIRE(gx_heap_reserve(&h, 10) == 0);
	T_EQ((long)h.cap, R);
	it[R].key = -1;
	it[R].seq = R;
	T_REQUIRE(gx_heap_push(&h, &it[R]) == 0);
	T_ASSERT(h.cap > R);
	int prev = -2, bad = 0;
	for (int i = 0; i <= R; i++) {
		item *m = gx_heap_pop(&h);
		bad += !m || m->key < prev;
		prev = m ? m->key : prev;
	}
	T_EQ(bad, 0);
	T_EQ((long)h.n, 0);
	gx_heap_free(&h);
}

int main(void)
{
	T_RUN(test_empty);
	T_RUN(test_against_sort);
	T_RUN(test_reserve);
	T_DONE();
}
