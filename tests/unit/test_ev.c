/* test_ev.c — the event loop: timers, wakeups, file events. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "geomx.h"
#include "net/conn.h"
#include "t.h"
#include "t_net.h"

/* Timing tolerance: timers never fire early (the contract); late by at most
 * this much, which only a busy machine's wake-ups and preemptions decide
 * (sanitizers, parallel make, other tests): generous, yet short of the 5 s
 * timer below, so that "not forever" is still told. */
#define LATE_MS 1000

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------ timers */

typedef struct tlog {
	int order[16];
	uint64_t at[16];
	int n;
	uint64_t t0;
} tlog;

static tlog g_log;

static long t_record(gx_ev *ev, long long id, void *ud)
{
	int tag = (int)(intptr_t)ud;
	if (g_log.n < 16) {
		g_log.order[g_log.n] = tag;
		g_log.at[g_log.n] = gx_now_ms() - g_log.t0;
		g_log.n++;
	}
	return -1;
}

static void test_timers_fire_in_order(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	memset(&g_log, 0, sizeof g_log);
	g_log.t0 = gx_now_ms();
	static const int delays[] = { 60, 10, 35, 0, 20 };
	for (int i = 0; i < 5; i++)
		T_ASSERT(gx_ev_timer(ev, delays[i], t_record, (void *)(intptr_t)delays[i]) > 0);
	uint64_t end = gx_now_ms() + 10000;
	while (g_log.n < 5 && gx_now_ms() < end)
		T_ASSERT(gx_ev_once(ev, -1) >= 0);
	T_EQ(g_log.n, 5);
	static const int want[] = { 0, 10, 20, 35, 60 };
	for (int i = 0; i < 5; i++) {
		T_EQ(g_log.order[i], want[i]);
		T_ASSERT(g_log.at[i] >= (uint64_t)want[i]);
		T_ASSERT(g_log.at[i] <= (uint64_t)want[i] + LATE_MS);
	}
	gx_ev_free(ev);
}

/* gx_ev_once(-1) sleeps until the nearest timer, not forever and not less. */
static void test_once_waits_for_nearest_timer(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	memset(&g_log, 0, sizeof g_log);
	g_log.t0 = gx_now_ms();
	T_ASSERT(gx_ev_timer(ev, 40, t_record, (void *)1) > 0);
	T_ASSERT(gx_ev_timer(ev, 5000, t_record, (void *)2) > 0);
	int rc = 0;
	uint64_t t0 = gx_now_ms();
	/* epoll's clock may round down a little: at most a few returns. */
	for (int i = 0; i < 5 && g_log.n == 0; i++)
		rc = gx_ev_once(ev, -1);
	uint64_t dt = gx_now_ms() - t0;
	T_EQ(rc, 1);
	T_EQ(g_log.n, 1);
	T_ASSERT(dt >= 40 && dt <= 40 + LATE_MS);
	/* a shorter explicit timeout wins over the timer */
	t0 = gx_now_ms();
	T_EQ(gx_ev_once(ev, 10), 0);
	T_ASSERT(gx_now_ms() - t0 < 10 + LATE_MS);
	gx_ev_free(ev); /* frees the pending 5 s timer (ASan checks) */
}

typedef struct rep {
	int n, limit;
	uint64_t t0, last;
} rep;

static long t_repeat(gx_ev *ev, long long id, void *ud)
{
	rep *r = ud;
	r->n++;
	r->last = gx_now_ms() - r->t0;
	return r->n < r->limit ? 15 : -1;
}

static void test_repeating_timer(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	rep r = { 0, 5, gx_now_ms(), 0 };
	T_ASSERT(gx_ev_timer(ev, 15, t_repeat, &r) > 0);
	uint64_t end = gx_now_ms() + 10000;
	while (gx_now_ms() < end && r.n < 5)
		gx_ev_once(ev, -1);
	T_EQ(r.n, 5);
	T_ASSERT(r.last >= 75);
	T_ASSERT(r.last <= 75 + 5 * LATE_MS);
	/* it ended itself: nothing fires any more */
	gx_ev_once(ev, 40);
	T_EQ(r.n, 5);
	gx_ev_free(ev);
}

/* A callback returning 0 runs once per iteration, it does not spin. */
static long t_zero(gx_ev *ev, long long id, void *ud)
{
	(*(int *)ud)++;
	return 0;
}

static void test_zero_delay_does_not_spin(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	int n = 0;
	long long id = gx_ev_timer(ev, 0, t_zero, &n);
	T_ASSERT(id > 0);
	T_EQ(gx_ev_once(ev, -1), 1);
	T_EQ(n, 1);
	T_EQ(gx_ev_once(ev, -1), 1);
	T_EQ(n, 2);
	gx_ev_timer_del(ev, id);
	T_EQ(gx_ev_once(ev, 0), 0);
	T_EQ(n, 2);
	gx_ev_free(ev);
}

typedef struct dels {
	gx_ev *ev;
	long long self, other;
	int fired_self, fired_other, fired_made;
} dels;

static dels g_d;

static long t_del_self(gx_ev *ev, long long id, void *ud)
{
	g_d.fired_self++;
	gx_ev_timer_del(ev, id);
	return 10; /* ignored: it deleted itself */
}

static long t_other(gx_ev *ev, long long id, void *ud)
{
	g_d.fired_other++;
	return 10;
}

static long t_del_other(gx_ev *ev, long long id, void *ud)
{
	g_d.fired_self++;
	gx_ev_timer_del(ev, g_d.other);
	return -1;
}

static long t_made(gx_ev *ev, long long id, void *ud)
{
	g_d.fired_made++;
	return -1;
}

/* Creates a zero-delay timer: it must wait for the next iteration. */
static long t_maker(gx_ev *ev, long long id, void *ud)
{
	g_d.fired_self++;
	T_ASSERT(gx_ev_timer(ev, 0, t_made, NULL) > 0);
	return -1;
}

static void test_timer_delete_inside_callbacks(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);

	/* its own callback deletes it */
	memset(&g_d, 0, sizeof g_d);
	g_d.self = gx_ev_timer(ev, 0, t_del_self, NULL);
	T_EQ(gx_ev_once(ev, -1), 1);
	T_EQ(gx_ev_once(ev, 50), 0);
	T_EQ(g_d.fired_self, 1);

	/* a timer due in the same round deletes another one (lower id runs
	 * first when both are due) */
	memset(&g_d, 0, sizeof g_d);
	g_d.self = gx_ev_timer(ev, 5, t_del_other, NULL);
	g_d.other = gx_ev_timer(ev, 5, t_other, NULL);
	sleep_ms(10);
	T_EQ(gx_ev_once(ev, 0), 1);
	T_EQ(g_d.fired_self, 1);
	T_EQ(g_d.fired_other, 0);
	T_EQ(gx_ev_once(ev, 30), 0);

	/* deleting a timer that already ran this round and rescheduled itself */
	memset(&g_d, 0, sizeof g_d);
	g_d.other = gx_ev_timer(ev, 0, t_other, NULL);
	g_d.self = gx_ev_timer(ev, 0, t_del_other, NULL);
	T_EQ(gx_ev_once(ev, -1), 2);
	T_EQ(g_d.fired_other, 1);
	T_EQ(gx_ev_once(ev, 40), 0);
	T_EQ(g_d.fired_other, 1);

	/* a timer created by a callback waits for the next iteration */
	memset(&g_d, 0, sizeof g_d);
	gx_ev_timer(ev, 0, t_maker, NULL);
	T_EQ(gx_ev_once(ev, -1), 1);
	T_EQ(g_d.fired_made, 0);
	T_EQ(gx_ev_once(ev, -1), 1);
	T_EQ(g_d.fired_made, 1);

	/* unknown ids are ignored */
	gx_ev_timer_del(ev, 0);
	gx_ev_timer_del(ev, 12345);
	gx_ev_timer_del(ev, -7);
	T_EQ(gx_ev_timer(ev, -1, t_made, NULL), GX_EINVAL);
	T_EQ(gx_ev_timer(ev, 1, NULL, NULL), GX_EINVAL);
	gx_ev_free(ev);
}

/* Many timers with random delays come out sorted (the heap). */
static void test_many_timers(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	memset(&g_log, 0, sizeof g_log);
	uint32_t x = 12345;
	long long ids[200];
	for (int i = 0; i < 200; i++) {
		x = x * 1103515245u + 12345u;
		ids[i] = gx_ev_timer(ev, (long)((x >> 16) % 50), t_made, NULL);
		T_ASSERT(ids[i] > 0);
	}
	for (int i = 0; i < 200; i += 2)
		gx_ev_timer_del(ev, ids[i]);
	memset(&g_d, 0, sizeof g_d);
	uint64_t end = gx_now_ms() + 2000;
	while (g_d.fired_made < 100 && gx_now_ms() < end)
		gx_ev_once(ev, -1);
	T_EQ(g_d.fired_made, 100);
	T_EQ(gx_ev_once(ev, 60), 0);
	gx_ev_free(ev);
}

static long t_stop(gx_ev *ev, long long id, void *ud)
{
	gx_ev_stop(ev);
	return -1;
}

static void test_run_and_stop(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	T_ASSERT(gx_ev_timer(ev, 10, t_stop, NULL) > 0);
	T_EQ(gx_ev_run(ev), 0);
	/* runs again after a stop */
	T_ASSERT(gx_ev_timer(ev, 10, t_stop, NULL) > 0);
	T_EQ(gx_ev_run(ev), 0);
	gx_ev_free(ev);
}

/* ---------------------------------------------------------- wakeups */

static int g_woken;

static void on_wake_stop(gx_ev *ev, void *ud)
{
	g_woken++;
	gx_ev_stop(ev);
}

static void *wake_thread(void *arg)
{
	sleep_ms(30);
	gx_ev_wake(arg);
	return NULL;
}

static long t_safety(gx_ev *ev, long long id, void *ud)
{
	*(int *)ud = 1;
	gx_ev_stop(ev);
	return -1;
}

static void test_wake_from_thread(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	int timed_out = 0;
	g_woken = 0;
	gx_ev_on_wake(ev, on_wake_stop, NULL);
	long long safety = gx_ev_timer(ev, 5000, t_safety, &timed_out);
	pthread_t th;
	T_REQUIRE(pthread_create(&th, NULL, wake_thread, ev) == 0);
	uint64_t t0 = gx_now_ms();
	T_EQ(gx_ev_run(ev), 0);
	pthread_join(th, NULL);
	T_EQ(timed_out, 0);
	T_EQ(g_woken, 1);
	T_ASSERT(gx_now_ms() - t0 >= 25);
	gx_ev_timer_del(ev, safety);

	/* several wakes before the loop runs coalesce into one callback */
	g_woken = 0;
	gx_ev_wake(ev);
	gx_ev_wake(ev);
	gx_ev_wake(ev);
	T_EQ(gx_ev_once(ev, 100), 1);
	T_EQ(g_woken, 1);
	T_EQ(gx_ev_once(ev, 0), 0);
	/* no callback: the wake is drained silently */
	gx_ev_on_wake(ev, NULL, NULL);
	gx_ev_wake(ev);
	T_EQ(gx_ev_once(ev, 100), 1);
	T_EQ(gx_ev_once(ev, 0), 0);
	T_EQ(g_woken, 1);
	gx_ev_free(ev);
}

static gx_ev *g_sig_ev;
static volatile sig_atomic_t g_sig_hits;

static void on_sigusr1(int sig)
{
	g_sig_hits++;
	gx_ev_wake(g_sig_ev);
}

typedef struct sigarg {
	pthread_t target;
} sigarg;

static void *signal_thread(void *arg)
{
	sigarg *a = arg;
	sleep_ms(30);
	pthread_kill(a->target, SIGUSR1);
	return NULL;
}

static void on_wake_count(gx_ev *ev, void *ud)
{
	g_woken++;
}

static void test_wake_from_signal_handler(void)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigusr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: epoll_wait sees EINTR */
	T_REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	g_sig_ev = ev;
	g_sig_hits = 0;
	g_woken = 0;
	gx_ev_on_wake(ev, on_wake_count, NULL);

	/* raised before the wait: the eventfd remembers it */
	raise(SIGUSR1);
	T_EQ(g_sig_hits, 1);
	T_EQ(gx_ev_once(ev, 1000), 1);
	T_EQ(g_woken, 1);

	/* delivered while blocked in epoll_wait: EINTR, then the wake */
	sigarg a = { pthread_self() };
	pthread_t th;
	T_REQUIRE(pthread_create(&th, NULL, signal_thread, &a) == 0);
	uint64_t end = gx_now_ms() + 3000;
	while (g_woken < 2 && gx_now_ms() < end)
		T_ASSERT(gx_ev_once(ev, 1000) >= 0);
	pthread_join(th, NULL);
	T_EQ(g_sig_hits, 2);
	T_EQ(g_woken, 2);
	gx_ev_free(ev);
	sigaction(SIGUSR1, &old, NULL);
}

/* ------------------------------------------------------- file events */

typedef struct fstate {
	gx_ev *ev;
	int calls, last_mask, last_fd;
	int other_fd;  /* deleted (and closed) by the first callback */
	int victim_calls;
} fstate;

static void on_fd(gx_ev *ev, int fd, void *ud, int mask)
{
	fstate *s = ud;
	s->calls++;
	s->last_mask = mask;
	s->last_fd = fd;
	if (mask & GX_EV_READ) {
		char b[64];
		while (read(fd, b, sizeof b) > 0)
			;
	}
}

static void test_pipe_readiness(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	int p[2];
	T_REQUIRE(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	fstate s;
	memset(&s, 0, sizeof s);
	T_EQ(gx_ev_add(ev, p[0], GX_EV_READ, on_fd, &s), 0);
	T_EQ(gx_ev_mask(ev, p[0]), GX_EV_READ);
	T_EQ(gx_ev_once(ev, 0), 0); /* nothing to read */
	T_EQ(write(p[1], "x", 1), 1);
	T_EQ(gx_ev_once(ev, 1000), 1);
	T_EQ(s.calls, 1);
	T_EQ(s.last_fd, p[0]);
	T_EQ(s.last_mask, GX_EV_READ);
	T_EQ(gx_ev_once(ev, 0), 0); /* drained */

	/* the write end of an empty pipe is writable */
	T_EQ(gx_ev_add(ev, p[1], GX_EV_WRITE, on_fd, &s), 0);
	T_EQ(gx_ev_once(ev, 1000), 1);
	T_EQ(s.last_fd, p[1]);
	T_EQ(s.last_mask, GX_EV_WRITE);
	gx_ev_del(ev, p[1], GX_EV_WRITE);
	T_EQ(gx_ev_mask(ev, p[1]), 0);
	T_EQ(gx_ev_once(ev, 0), 0);

	/* deleting one event keeps the other */
	T_EQ(gx_ev_add(ev, p[0], GX_EV_WRITE, on_fd, &s), 0);
	T_EQ(gx_ev_mask(ev, p[0]), GX_EV_READ | GX_EV_WRITE);
	gx_ev_del(ev, p[0], GX_EV_WRITE);
	T_EQ(gx_ev_mask(ev, p[0]), GX_EV_READ);

	/* a hang-up is reported to the reader */
	close(p[1]);
	s.calls = 0;
	T_EQ(gx_ev_once(ev, 1000), 1);
	T_EQ(s.calls, 1);
	T_ASSERT(s.last_mask & GX_EV_READ);
	gx_ev_del(ev, p[0], GX_EV_READ);
	close(p[0]);
	T_EQ(gx_ev_add(ev, -1, GX_EV_READ, on_fd, &s), GX_EIO);
	T_EQ(gx_ev_mask(ev, -1), 0);
	gx_ev_free(ev);
}

static fstate g_a, g_b;

/* Whichever fires first deletes and closes the other. */
static void on_first(gx_ev *ev, int fd, void *ud, int mask)
{
	fstate *s = ud, *o = s == &g_a ? &g_b : &g_a;
	char b[8];
	s->calls++;
	while (read(fd, b, sizeof b) > 0)
		;
	if (o->other_fd >= 0) {
		gx_ev_del(ev, o->other_fd, GX_EV_READ);
		close(o->other_fd);
		o->other_fd = -1;
	}
}

static void test_delete_during_iteration(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	int p[2], q[2];
	T_REQUIRE(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	T_REQUIRE(pipe2(q, O_NONBLOCK | O_CLOEXEC) == 0);
	memset(&g_a, 0, sizeof g_a);
	memset(&g_b, 0, sizeof g_b);
	g_a.other_fd = p[0];
	g_b.other_fd = q[0];
	T_EQ(gx_ev_add(ev, p[0], GX_EV_READ, on_first, &g_a), 0);
	T_EQ(gx_ev_add(ev, q[0], GX_EV_READ, on_first, &g_b), 0);
	T_EQ(write(p[1], "x", 1), 1);
	T_EQ(write(q[1], "y", 1), 1);
	sleep_ms(5);
	/* both are ready in one epoll_wait; only the first callback runs */
	T_EQ(gx_ev_once(ev, 1000), 1);
	T_EQ(g_a.calls + g_b.calls, 1);
	T_EQ(gx_ev_once(ev, 20) >= 0, 1);
	T_EQ(g_a.calls + g_b.calls, 1);
	if (g_a.other_fd >= 0)
		close(g_a.other_fd);
	if (g_b.other_fd >= 0)
		close(g_b.other_fd);
	close(p[1]);
	close(q[1]);
	gx_ev_free(ev);
}

/* Descriptors above the initial set size grow the table. */
static void test_fd_table_grows(void)
{
	gx_ev *ev = gx_ev_create(1);
	T_REQUIRE(ev);
	int p[2];
	T_REQUIRE(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	int hi = fcntl(p[0], F_DUPFD_CLOEXEC, 700);
	if (hi < 0) {
		close(p[0]);
		close(p[1]);
		gx_ev_free(ev);
		T_SKIP("cannot get a descriptor >= 700");
	}
	fstate s;
	memset(&s, 0, sizeof s);
	T_EQ(gx_ev_add(ev, hi, GX_EV_READ, on_fd, &s), 0);
	T_EQ(write(p[1], "z", 1), 1);
	T_EQ(gx_ev_once(ev, 1000), 1);
	T_EQ(s.last_fd, hi);
	gx_ev_del(ev, hi, GX_EV_READ);
	close(hi);
	close(p[0]);
	close(p[1]);
	gx_ev_free(ev);
}

/* GX_EV_HUP alone: no readiness events, but a peer's reset is reported. */
static void test_hup_only(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	int a, b;
	T_REQUIRE(t_tcp_pair(&a, &b) == 0);
	fstate s;
	memset(&s, 0, sizeof s);
	/* b is writable and has bytes to read: neither is reported */
	T_EQ(write(a, "unread", 6), 6);
	T_EQ(write(b, "x", 1), 1);
	T_EQ(gx_ev_add(ev, b, GX_EV_HUP, on_fd, &s), 0);
	T_EQ(gx_ev_mask(ev, b), GX_EV_HUP);
	T_EQ(gx_ev_once(ev, 50), 0);
	T_EQ(s.calls, 0);
	/* a closes with b's byte unread and lingering off: a reset */
	struct linger lg = { 1, 0 };
	T_EQ(setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	close(a);
	T_EQ(gx_ev_once(ev, 5000), 1);
	T_EQ(s.calls, 1);
	T_EQ(s.last_mask, GX_EV_HUP);
	int e = 0;
	socklen_t el = sizeof e;
	T_EQ(getsockopt(b, SOL_SOCKET, SO_ERROR, &e, &el), 0);
	T_EQ(e, ECONNRESET);
	gx_ev_del(ev, b, GX_EV_HUP);
	T_EQ(gx_ev_mask(ev, b), 0);
	close(b);
	gx_ev_free(ev);
}

/* A descriptor closed without gx_ev_del and its number reused. */
static void test_fd_reused_without_del(void)
{
	gx_ev *ev = gx_ev_create(64);
	T_REQUIRE(ev);
	int p[2];
	T_REQUIRE(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	fstate s;
	memset(&s, 0, sizeof s);
	T_EQ(gx_ev_add(ev, p[0], GX_EV_READ, on_fd, &s), 0);
	int num = p[0];
	close(p[0]);
	close(p[1]);
	T_REQUIRE(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	if (p[0] != num) {
		close(p[0]);
		close(p[1]);
		gx_ev_free(ev);
		T_SKIP("descriptor number not reused");
	}
	T_EQ(gx_ev_add(ev, p[0], GX_EV_READ, on_fd, &s), 0);
	T_EQ(write(p[1], "r", 1), 1);
	T_EQ(gx_ev_once(ev, 1000), 1);
	T_EQ(s.calls, 1);
	gx_ev_del(ev, p[0], GX_EV_READ);
	close(p[0]);
	close(p[1]);
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
	gx_ev_free(NULL);
	T_RUN(test_timers_fire_in_order);
	T_RUN(test_once_waits_for_nearest_timer);
	T_RUN(test_repeating_timer);
	T_RUN(test_zero_delay_does_not_spin);
	T_RUN(test_timer_delete_inside_callbacks);
	T_RUN(test_many_timers);
	T_RUN(test_run_and_stop);
	T_RUN(test_wake_from_thread);
	T_RUN(test_wake_from_signal_handler);
	T_RUN(test_pipe_readiness);
	T_RUN(test_delete_during_iteration);
	T_RUN(test_fd_table_grows);
	T_RUN(test_fd_reused_without_del);
	T_RUN(test_hup_only);
	T_RUN(test_no_descriptor_leaks);
	T_DONE();
}
