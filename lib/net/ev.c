/*
 * ev.c — the event loop: epoll file events, monotonic timers and an eventfd
 * to wake the loop from other threads or signal handlers. Built like redis
 * ae (src/ae.c, src/ae_epoll.c): one callback per descriptor, the watched
 * mask re-checked before each callback so a descriptor deleted earlier in the
 * same iteration gets no stale event, timers created while timers are being
 * processed wait for the next iteration.
 *
 * Timers live in a binary min-heap ordered by (when, id). A timer being run
 * is out of the heap; deleting it from its own callback (or from another
 * timer's) only marks it, and the loop frees it when the callback returns.
 * Deletion by id scans the heap (O(n)); loops here hold a handful of timers
 * (heartbeats, deadlines), so an index by id would cost more than it saves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

/* epoll_wait reports at most this many descriptors per call; the rest wait
 * for the next iteration (level-triggered, so nothing is lost). */
#define EV_BATCH 256

typedef struct ev_file {
	int mask;
	gx_ev_file_fn *fn;
	void *ud;
} ev_file;

typedef struct ev_timer {
	long long id;
	uint64_t when; /* gx_now_ms() at which it is due */
	gx_ev_timer_fn *fn;
	void *ud;
	int deleted;   /* deleted while out of the heap (running or deferred) */
} ev_timer;

struct gx_ev {
	int epfd;
	int wakefd;           /* eventfd written by gx_ev_wake */
	int setsize;          /* entries of files */
	ev_file *files;
	ev_timer **heap;      /* min-heap by (when, id) */
	size_t nheap, capheap;
	ev_timer **later;     /* timers to put back after this round */
	size_t nlater, caplater;
	ev_timer *running;    /* the timer whose callback runs now */
	size_t ntimers;       /* in the heap, deferred or running */
	long long next_id;
	int stop;
	void (*wake_fn)(gx_ev *ev, void *ud);
	void *wake_ud;
};

/* ----------------------------------------------------------------- heap */

static int t_less(const ev_timer *a, const ev_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void heap_up(gx_ev *ev, size_t i)
{
	ev_timer *t = ev->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!t_less(t, ev->heap[p]))
			break;
		ev->heap[i] = ev->heap[p];
		i = p;
	}
	ev->heap[i] = t;
}

static void heap_down(gx_ev *ev, size_t i)
{
	ev_timer *t = ev->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const ev_timer *best = t;
		if (l < ev->nheap && t_less(ev->heap[l], best)) {
			m = l;
			best = ev->heap[l];
		}
		if (l + 1 < ev->nheap && t_less(ev->heap[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		ev->heap[i] = ev->heap[m];
		i = m;
	}
	ev->heap[i] = t;
}

/* Room for n timers both in the heap and in the deferred list, reserved
 * when a timer is created, so moving timers between the two never fails. */
static int grow(ev_timer ***a, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	while (ncap < n)
		ncap *= 2;
	ev_timer **na = realloc(*a, ncap * sizeof *na);
	if (!na)
		return GX_ENOMEM;
	*a = na;
	*cap = ncap;
	return 0;
}

static int timers_reserve(gx_ev *ev, size_t n)
{
	if (grow(&ev->heap, &ev->capheap, n) != 0 || grow(&ev->later, &ev->caplater, n) != 0)
		return GX_ENOMEM;
	return 0;
}

static void heap_push(gx_ev *ev, ev_timer *t)
{
	ev->heap[ev->nheap++] = t;
	heap_up(ev, ev->nheap - 1);
}

static void heap_remove(gx_ev *ev, size_t i)
{
	ev->nheap--;
	if (i == ev->nheap)
		return;
	ev->heap[i] = ev->heap[ev->nheap];
	heap_down(ev, i);
	heap_up(ev, i);
}

/* ----------------------------------------------------------- lifecycle */

static void wake_handler(gx_ev *ev, int fd, void *ud, int mask)
{
	uint64_t v;
	/* One read resets an eventfd counter; EAGAIN means another reader
	 * (none here) or a spurious wakeup, both harmless. */
	while (read(fd, &v, sizeof v) < 0 && errno == EINTR)
		;
	if (ev->wake_fn)
		ev->wake_fn(ev, ev->wake_ud);
}

gx_ev *gx_ev_create(int setsize)
{
	gx_ev *ev = calloc(1, sizeof *ev);
	if (!ev)
		return NULL;
	if (setsize < 64)
		setsize = 64;
	ev->setsize = setsize;
	ev->next_id = 1;
	ev->epfd = -1;
	ev->wakefd = -1;
	ev->files = calloc((size_t)setsize, sizeof *ev->files);
	if (!ev->files)
		goto fail;
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev->epfd < 0)
		goto fail;
	ev->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ev->wakefd < 0)
		goto fail;
	if (gx_ev_add(ev, ev->wakefd, GX_EV_READ, wake_handler, NULL) != 0)
		goto fail;
	return ev;
fail:
	gx_ev_free(ev);
	return NULL;
}

void gx_ev_free(gx_ev *ev)
{
	if (!ev)
		return;
	if (ev->epfd >= 0)
		close(ev->epfd);
	if (ev->wakefd >= 0)
		close(ev->wakefd);
	for (size_t i = 0; i < ev->nheap; i++)
		free(ev->heap[i]);
	for (size_t i = 0; i < ev->nlater; i++)
		free(ev->later[i]);
	free(ev->heap);
	free(ev->later);
	free(ev->files);
	free(ev);
}

/* ---------------------------------------------------------- file events */

static int grow_files(gx_ev *ev, int fd)
{
	if (fd < ev->setsize)
		return 0;
	size_t n = (size_t)ev->setsize * 2;
	if (n <= (size_t)fd)
		n = (size_t)fd + 1;
	ev_file *nf = realloc(ev->files, n * sizeof *nf);
	if (!nf)
		return GX_ENOMEM;
	memset(nf + ev->setsize, 0, (n - (size_t)ev->setsize) * sizeof *nf);
	ev->files = nf;
	ev->setsize = (int)n;
	return 0;
}

static uint32_t ep_events(int mask)
{
	uint32_t e = 0;
	if (mask & GX_EV_READ)
		e |= EPOLLIN;
	if (mask & GX_EV_WRITE)
		e |= EPOLLOUT;
	/* GX_EV_HUP adds nothing: epoll always reports EPOLLERR and EPOLLHUP
	 * of a descriptor in the set, even one registered with no events. */
	return e;
}

int gx_ev_add(gx_ev *ev, int fd, int mask, gx_ev_file_fn *fn, void *ud)
{
	if (!ev || fd < 0 || !fn || (mask & ~(GX_EV_READ | GX_EV_WRITE | GX_EV_HUP)))
		return GX_EIO;
	if (grow_files(ev, fd) != 0)
		return GX_EIO;
	ev_file *f = &ev->files[fd];
	struct epoll_event ee;
	memset(&ee, 0, sizeof ee);
	ee.events = ep_events(f->mask | mask);
	ee.data.fd = fd;
	int op = f->mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	int rc = epoll_ctl(ev->epfd, op, fd, &ee);
	/* The descriptor was closed (leaving epoll) and its number reused
	 * without gx_ev_del: register the new one. */
	if (rc < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
		rc = epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &ee);
	if (rc < 0)
		return GX_EIO;
	f->mask |= mask;
	f->fn = fn;
	f->ud = ud;
	return 0;
}

void gx_ev_del(gx_ev *ev, int fd, int mask)
{
	if (!ev || fd < 0 || fd >= ev->setsize)
		return;
	ev_file *f = &ev->files[fd];
	if (!f->mask)
		return;
	int left = f->mask & ~mask;
	struct epoll_event ee;
	memset(&ee, 0, sizeof ee);
	ee.events = ep_events(left);
	ee.data.fd = fd;
	/* Errors are ignored: a descriptor closed before its deletion has
	 * already left the epoll set. */
	epoll_ctl(ev->epfd, left ? EPOLL_CTL_MOD : EPOLL_CTL_DEL, fd, &ee);
	f->mask = left;
	if (!left) {
		f->fn = NULL;
		f->ud = NULL;
	}
}

int gx_ev_mask(const gx_ev *ev, int fd)
{
	if (!ev || fd < 0 || fd >= ev->setsize)
		return 0;
	return ev->files[fd].mask;
}

/* --------------------------------------------------------------- timers */

long long gx_ev_timer(gx_ev *ev, long ms, gx_ev_timer_fn *fn, void *ud)
{
	if (!ev || !fn || ms < 0)
		return GX_EINVAL;
	if (timers_reserve(ev, ev->ntimers + 1) != 0)
		return GX_ENOMEM;
	ev_timer *t = malloc(sizeof *t);
	if (!t)
		return GX_ENOMEM;
	ev->ntimers++;
	t->id = ev->next_id++;
	t->when = gx_now_ms() + (uint64_t)ms;
	t->fn = fn;
	t->ud = ud;
	t->deleted = 0;
	heap_push(ev, t);
	return t->id;
}

void gx_ev_timer_del(gx_ev *ev, long long id)
{
	if (!ev || id <= 0)
		return;
	if (ev->running && ev->running->id == id) {
		ev->running->deleted = 1;
		return;
	}
	for (size_t i = 0; i < ev->nlater; i++)
		if (ev->later[i]->id == id) {
			ev->later[i]->deleted = 1;
			return;
		}
	for (size_t i = 0; i < ev->nheap; i++)
		if (ev->heap[i]->id == id) {
			ev_timer *t = ev->heap[i];
			heap_remove(ev, i);
			free(t);
			ev->ntimers--;
			return;
		}
}

/* Keeps t out of the heap until this round of timers is over (room was
 * reserved when t was created). */
static void defer(gx_ev *ev, ev_timer *t)
{
	ev->later[ev->nlater++] = t;
}

static void timer_free(gx_ev *ev, ev_timer *t)
{
	free(t);
	ev->ntimers--;
}

/* Runs the timers due now. Timers created or rescheduled meanwhile wait for
 * the next round, so a callback returning 0 cannot spin the loop. */
static int run_timers(gx_ev *ev)
{
	int n = 0;
	uint64_t now = gx_now_ms();
	long long maxid = ev->next_id - 1;

	while (ev->nheap > 0 && ev->heap[0]->when <= now) {
		ev_timer *t = ev->heap[0];
		heap_remove(ev, 0);
		if (t->id > maxid) {
			defer(ev, t);
			continue;
		}
		ev->running = t;
		long next = t->fn(ev, t->id, t->ud);
		ev->running = NULL;
		n++;
		if (next >= 0 && !t->deleted) {
			t->when = gx_now_ms() + (uint64_t)next;
			defer(ev, t);
		} else {
			timer_free(ev, t);
		}
	}
	for (size_t i = 0; i < ev->nlater; i++) {
		ev_timer *t = ev->later[i];
		if (t->deleted)
			timer_free(ev, t);
		else
			heap_push(ev, t);
	}
	ev->nlater = 0;
	return n;
}

/* ----------------------------------------------------------------- loop */

int gx_ev_once(gx_ev *ev, int timeout_ms)
{
	if (!ev)
		return GX_EIO;
	int wait = timeout_ms < 0 ? -1 : timeout_ms;
	if (ev->nheap > 0) {
		uint64_t now = gx_now_ms(), when = ev->heap[0]->when;
		uint64_t d = when > now ? when - now : 0;
		if (d > (uint64_t)0x7fffffff)
			d = 0x7fffffff;
		if (wait < 0 || (uint64_t)wait > d)
			wait = (int)d;
	}
	struct epoll_event evs[EV_BATCH];
	int n = epoll_wait(ev->epfd, evs, EV_BATCH, wait);
	if (n < 0) {
		if (errno != EINTR)
			return GX_EIO;
		n = 0;
	}
	int done = 0;
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		uint32_t e = evs[i].events;
		int m = 0;
		if (e & EPOLLIN)
			m |= GX_EV_READ;
		if (e & EPOLLOUT)
			m |= GX_EV_WRITE;
		/* Errors and hang-ups go to whichever side is watched: its
		 * read or write then reports what happened (or, with only
		 * GX_EV_HUP watched, the callback asks the descriptor). */
		if (e & (EPOLLERR | EPOLLHUP))
			m |= GX_EV_READ | GX_EV_WRITE | GX_EV_HUP;
		/* An earlier callback of this iteration may have deleted the
		 * descriptor or some of its events: look again. */
		if (fd >= ev->setsize)
			continue;
		ev_file *f = &ev->files[fd];
		m &= f->mask;
		if (!m)
			continue;
		f->fn(ev, fd, f->ud, m);
		done++;
	}
	done += run_timers(ev);
	return done;
}

int gx_ev_run(gx_ev *ev)
{
	if (!ev)
		return GX_EIO;
	while (!ev->stop) {
		int rc = gx_ev_once(ev, -1);
		if (rc < 0)
			return rc;
	}
	ev->stop = 0;
	return 0;
}

void gx_ev_stop(gx_ev *ev)
{
	if (ev)
		ev->stop = 1;
}

void gx_ev_wake(gx_ev *ev)
{
	/* Async-signal-safe: one write(2), errno preserved for the code the
	 * signal interrupted. A full counter (EAGAIN) already means "wake". */
	int saved = errno;
	uint64_t one = 1;
	ssize_t r = write(ev->wakefd, &one, sizeof one);
	(void)r;
	errno = saved;
}

void gx_ev_on_wake(gx_ev *ev, void (*fn)(gx_ev *ev, void *ud), void *ud)
{
	if (!ev)
		return;
	ev->wake_fn = fn;
	ev->wake_ud = ud;
}
