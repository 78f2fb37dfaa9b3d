/*
 * fwd.c — geomx-relay's connections: accepting, reaching the far side,
 * the handshakes' deadlines, writing each queue to its destination when the
 * emulated link releases it, backpressure, and the ends of connections.
 *
 * Choices:
 *  - One far connection per accepted one, made only once the near side is
 *    ready: after its secure handshake when it is secure, so a stranger
 *    without the key never costs a connection to the far side. Until the
 *    far side is reached (and its handshake done) the near side is held:
 *    not read, so its bytes wait in the kernel.
 *  - Backpressure: a direction reads its source only while its queue holds
 *    less than --queue bytes; when the destination (or the emulated link)
 *    is slower, the queue fills, reading stops and TCP's flow control pushes
 *    back on the sender. Nothing else buffers.
 *  - Ends: an orderly end of one direction (FIN, or a secure CLOSE record)
 *    is passed on in order, after the bytes before it (a CLOSE record to a
 *    secure side, then shutdown(SHUT_WR)), so half-closed connections work
 *    as without the relay. Anything else — a reset, a read or write error,
 *    a record that fails authentication, a stream cut inside a record or a
 *    zstd frame — ends the whole connection: both sides are reset (RST), so
 *    neither end can take a cut stream for a complete one. A byte stream
 *    cannot be resumed on a new far connection without losing or
 *    duplicating bytes, so the relay does not try; it goes on serving the
 *    other connections.
 *  - A pair closed from inside one of its own callbacks is only marked
 *    dead; the memory goes when the outermost callback returns.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "relay.h"

static void side_event(gx_ev *ev, int fd, void *ud, int mask);
static void far_start(pair *p);
static int dir_run(dir *d);

/* ------------------------------------------------------------- the pair */

static void pair_leave(pair *p)
{
	if (--p->busy == 0 && p->dead) {
		for (int i = 0; i < 2; i++) {
			dir *d = &p->d[i];
			gx_bq_clear(&d->q);
			wan_dir_free(d);
			gx_sec_free(p->s[i].sec);
		}
		free(p);
	}
}

static void hs_unlink(pair *p)
{
	relay *r = p->r;
	if (!p->in_hs)
		return;
	if (p->hprev)
		p->hprev->hnext = p->hnext;
	else
		r->hs_head = p->hnext;
	if (p->hnext)
		p->hnext->hprev = p->hprev;
	else
		r->hs_tail = p->hprev;
	p->hprev = p->hnext = NULL;
	p->in_hs = 0;
	r->nhs--;
}

/* The pending handshake to drop when there are too many: the oldest from
 * the address with the most pending (gx_net_evict_pick). A flood from one
 * address so displaces its own handshakes, never those of another. */
static pair *hs_victim(relay *r)
{
	const char **names = malloc((size_t)r->nhs * sizeof *names);
	if (!names)
		return r->hs_head;
	size_t n = 0;
	for (pair *a = r->hs_head; a; a = a->hnext) /* oldest first */
		names[n++] = a->s[NEAR].name;
	long v = gx_net_evict_pick(names, n);
	free(names);
	pair *a = r->hs_head;
	for (long k = 0; a && k < v; k++)
		a = a->hnext;
	return a ? a : r->hs_head;
}

static void hs_append(pair *p)
{
	relay *r = p->r;
	p->hprev = r->hs_tail;
	p->hnext = NULL;
	if (r->hs_tail)
		r->hs_tail->hnext = p;
	else
		r->hs_head = p;
	r->hs_tail = p;
	p->in_hs = 1;
	r->nhs++;
}

static void timer_cancel(relay *r, long long *id)
{
	if (*id > 0)
		gx_ev_timer_del(r->ev, *id);
	*id = 0;
}

void pair_kill(pair *p, int reset)
{
	relay *r = p->r;
	if (p->dead)
		return;
	p->dead = 1;
	for (int i = 0; i < 2; i++) {
		side *s = &p->s[i];
		if (s->fd >= 0) {
			gx_ev_del(r->ev, s->fd, GX_EV_READ | GX_EV_WRITE | GX_EV_HUP);
			if (reset) {
				/* RST: the peer must not take a cut stream for a whole one. */
				struct linger lg = { 1, 0 };
				setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			}
			close(s->fd);
			s->fd = -1;
		}
		timer_cancel(r, &p->d[i].timer);
		r->st.d[i].queued -= p->d[i].q.bytes;
	}
	timer_cancel(r, &p->hs_timer);
	gx_dial_cancel(&p->dial);
	hs_unlink(p);
	if (p->prev)
		p->prev->next = p->next;
	else
		r->pairs = p->next;
	if (p->next)
		p->next->prev = p->prev;
	r->npairs--;
	/* Freed by pair_leave once no callback of p is on the stack. */
	p->busy++;
	pair_leave(p);
}

int pair_abort(pair *p, int err, const char *fmt, ...)
{
	if (p->dead)
		return err;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	p->r->st.aborted++;
	rlog(p->r, 1, "%s: %s; closing both sides", p->label, msg);
	pair_kill(p, 1);
	return err;
}

/* Both directions ended in order. */
static void pair_finish(pair *p)
{
	relay *r = p->r;
	r->st.closed++;
	rlog(r, 2, "%s: closed in order (%llu bytes up, %llu down)", p->label,
	     (unsigned long long)p->d[UP].nbytes, (unsigned long long)p->d[DOWN].nbytes);
	pair_kill(p, 0);
}

static pair *pair_new(relay *r, int fd, const char *peer)
{
	pair *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->r = r;
	p->id = ++r->next_id;
	for (int i = 0; i < 2; i++) {
		side *s = &p->s[i];
		s->p = p;
		s->idx = i;
		s->fd = -1;
		s->secure = r->cfg.secure[i];
	}
	p->s[NEAR].fd = fd;
	snprintf(p->s[NEAR].name, sizeof p->s[NEAR].name, "%s", peer);
	snprintf(p->s[FAR].name, sizeof p->s[FAR].name, "%s", r->cfg.connect_s);
	for (int i = 0; i < 2; i++) {
		dir *d = &p->d[i];
		d->p = p;
		d->d = i;
		d->src = &p->s[i == UP ? NEAR : FAR];
		d->dst = &p->s[i == UP ? FAR : NEAR];
		gx_bq_init(&d->q, &r->pool);
		/* Reproducible per connection and direction from --seed. */
		link_init(&d->link, r->cfg.seed ^ (p->id * 0x9e3779b97f4a7c15ull) ^ (uint64_t)i);
	}
	snprintf(p->label, sizeof p->label, "conn %llu (%s > %s)", (unsigned long long)p->id, peer,
		 r->cfg.connect_s);
	p->t_accept_ms = gx_now_ms();
	p->next = r->pairs;
	if (r->pairs)
		r->pairs->prev = p;
	r->pairs = p;
	r->npairs++;
	r->st.accepted++;
	return p;
}

/* ------------------------------------------------------------- watching */

static void side_watch(side *s, int bit, int on)
{
	if (s->fd < 0 || s->p->dead)
		return;
	relay *r = s->p->r;
	if (on && !(s->watch & bit)) {
		if (gx_ev_add(r->ev, s->fd, bit, side_event, s) == 0)
			s->watch |= bit;
		else
			pair_abort(s->p, GX_EIO, "cannot watch %s", s->name);
	} else if (!on && (s->watch & bit)) {
		gx_ev_del(r->ev, s->fd, bit);
		s->watch &= ~bit;
	}
}

int dir_full(const dir *d)
{
	return d->q.mem >= d->p->r->cfg.queue[d->d];
}

static long on_release(gx_ev *ev, long long id, void *ud)
{
	dir *d = ud;
	pair *p = d->p;
	d->timer = 0;
	p->busy++;
	dir_run(d);
	pair_leave(p);
	return -1;
}

/* The timer that releases d's head chunk at ns. */
static void arm_timer(dir *d, uint64_t at)
{
	relay *r = d->p->r;
	if (d->timer && d->timer_at <= at)
		return; /* an earlier one fires first and looks again */
	timer_cancel(r, &d->timer);
	/* The loop's timers count whole milliseconds from the call, so one set
	 * for the nearest whole number of them fires within half a millisecond
	 * of `at` (plus the wake-up), and RELAY_SLACK_NS lets the chunk go
	 * then: the emulated delay is right on average. */
	uint64_t now = gx_now_ns();
	long ms = at > now ? (long)((at - now + 500000) / 1000000) : 0;
	long long id = gx_ev_timer(r->ev, ms, on_release, d);
	if (id < 0) {
		pair_abort(d->p, GX_ENOMEM, "cannot start a timer");
		return;
	}
	d->timer = id;
	d->timer_at = at;
}

/* Watches what d needs: its source's input while its queue has room (and
 * the pair is at that stage), its destination's writability while a due
 * chunk waits, a timer for the next chunk not yet due. */
static void dir_watch(dir *d)
{
	pair *p = d->p;
	int rd = 0;
	if (p->state == P_OPEN)
		rd = !d->eof && !d->ended && !dir_full(d);
	else if (p->state == P_HANDSHAKE)
		rd = d->src->idx == NEAR;
	else if (p->state == P_FAR_HANDSHAKE)
		rd = d->src->idx == FAR;
	side_watch(d->src, GX_EV_READ, rd);
	/* While open, each side stays watched for errors and hang-ups, so that
	 * a peer's reset is seen even while reading it is paused by a full
	 * queue and nothing waits to be written to it. */
	side_watch(d->src, GX_EV_HUP, p->state == P_OPEN && !d->src->hup_seen);
	int wr = 0;
	if (d->q.head && !p->dead) {
		if (d->q.head->release_ns <= gx_now_ns() + RELAY_SLACK_NS)
			wr = 1;
		else
			arm_timer(d, d->q.head->release_ns);
	}
	/* Input held back by a full queue, which a write has since emptied:
	 * the next writable event passes it on (each event does a bounded
	 * amount of work, so one expanding zstd stream cannot hold the loop). */
	if (!wr && p->state == P_OPEN && !dir_full(d) && d->more)
		wr = 1;
	side_watch(d->dst, GX_EV_WRITE, wr);
}

/* ------------------------------------------------------------- queueing */

void dir_queue_chunk(dir *d, chunk *c)
{
	relay *r = d->p->r;
	int lost;
	c->release_ns = shape_stamp(d, c->len, gx_now_ns(), &lost);
	if (lost)
		r->st.d[d->d].losses++;
	gx_bq_append(&d->q, c);
	r->st.d[d->d].queued += c->len;
}

int dir_queue(dir *d, const uint8_t *b, size_t len)
{
	while (len > 0) {
		size_t m = len < RELAY_CHUNK ? len : RELAY_CHUNK;
		chunk *c = gx_bq_seg_get(&d->p->r->pool, m);
		if (!c)
			return pair_abort(d->p, GX_ENOMEM, "out of memory");
		memcpy(c->data, b, m);
		c->len = (uint32_t)m;
		dir_queue_chunk(d, c);
		b += m;
		len -= m;
	}
	return 0;
}

/* Writes d's due chunks (at most RELAY_WRITE_CAP bytes). 0, or a gx_error when the
 * pair was closed. */
static int dir_write(dir *d)
{
	relay *r = d->p->r;
	if (d->dst->fd < 0)
		return 0;
	long w = gx_bq_write(&d->q, d->dst->fd, RELAY_WRITE_CAP, gx_now_ns() + RELAY_SLACK_NS, NULL);
	if (w < 0)
		return wan_io_fail(d, d->dst, errno, "write");
	r->st.d[d->d].bytes_out += (uint64_t)w;
	d->nbytes += (uint64_t)w;
	r->st.d[d->d].queued -= (uint64_t)w;
	return 0;
}

#define DIR_FINISHED 1 /* dir_run: both directions ended in order */

/* Moves d along: writes what is due, passes on buffered input while the
 * queue has room, passes on the end of the stream, sets the watches. 0
 * while the pair lives; DIR_FINISHED when it ended in order; a gx_error
 * when it was aborted (the cause). */
static int dir_run(dir *d)
{
	pair *p = d->p;
	if (p->dead)
		return GX_EPEER;
	int rc = dir_write(d);
	if (rc == 0 && p->state == P_OPEN && !dir_full(d) &&
	    (wan_buffered(d) || (d->ended && !d->fin_queued)) && (rc = wan_pump(d)) == 0)
		rc = dir_write(d);
	if (rc)
		return rc;
	if (d->fin_queued && !d->q.head && !d->done) {
		shutdown(d->dst->fd, SHUT_WR);
		d->done = 1;
		rlog(p->r, 3, "%s: passed the end of the stream on to %s", p->label, d->dst->name);
		if (p->d[!d->d].done) {
			pair_finish(p);
			return DIR_FINISHED;
		}
	}
	dir_watch(d);
	return p->dead ? GX_EPEER : 0;
}

/* ------------------------------------------------------------ the stages */

/* Both sides ready: forwarding starts. */
static void pair_open(pair *p)
{
	p->state = P_OPEN;
	for (int i = 0; i < 2; i++)
		if (wan_dir_init(&p->d[i])) {
			pair_abort(p, GX_ENOMEM, "out of memory");
			return;
		}
	rlog(p->r, 2, "%s: forwarding", p->label);
	if (dir_run(&p->d[UP]) == 0)
		dir_run(&p->d[DOWN]);
}

static long on_hs_timeout(gx_ev *ev, long long id, void *ud)
{
	pair *p = ud;
	relay *r = p->r;
	p->hs_timer = 0;
	p->busy++;
	if (p->state == P_HANDSHAKE) {
		r->st.hs_failed++;
		rlog_limited(r, &r->rl_hs, "%s: no secure handshake within %g s (%llu bytes of it); "
			     "closing", p->s[NEAR].name, r->cfg.handshake_timeout,
			     (unsigned long long)p->s[NEAR].hs_total);
		pair_kill(p, 1);
	} else if (p->state == P_FAR_HANDSHAKE) {
		r->st.hs_failed++;
		pair_abort(p, GX_ETIMEOUT, "%s: no answer to the secure handshake within %g s", p->s[FAR].name,
			   r->cfg.handshake_timeout);
	}
	pair_leave(p);
	return -1;
}

static int hs_timer_start(pair *p)
{
	relay *r = p->r;
	long ms = (long)(r->cfg.handshake_timeout * 1000 + 0.5);
	long long id = gx_ev_timer(r->ev, ms > 0 ? ms : 1, on_hs_timeout, p);
	if (id < 0)
		return pair_abort(p, GX_ENOMEM, "cannot start a timer");
	p->hs_timer = id;
	return 0;
}

/* The secure handshake on side s is done. */
static void hs_done(pair *p, side *s)
{
	relay *r = p->r;
	timer_cancel(r, &p->hs_timer);
	r->st.hs_done++;
	rlog(r, 2, "%s: secure link with %s (%s)", p->label, s->name,
	     gx_sec_suite(s->sec) == GX_SEC_AES256GCM ? "AES-256-GCM" : "ChaCha20-Poly1305");
	if (s->idx == NEAR) {
		hs_unlink(p);
		p->state = P_CONNECTING;
		dir_watch(&p->d[UP]); /* held: not read until the far side is ready */
		if (!p->dead)
			far_start(p);
	} else {
		pair_open(p);
	}
}

static void side_event(gx_ev *ev, int fd, void *ud, int mask)
{
	side *s = ud;
	pair *p = s->p;
	dir *out = &p->d[s->idx == NEAR ? DOWN : UP]; /* toward s */
	dir *in = &p->d[s->idx == NEAR ? UP : DOWN];  /* from s */
	p->busy++;
	if ((mask & GX_EV_HUP) && !(mask & (GX_EV_READ | GX_EV_WRITE))) {
		/* Neither read nor written now: an error (a reset) ends the pair
		 * at once; an orderly hang-up is left for the read to find. */
		int e = 0;
		socklen_t el = sizeof e;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e)
			wan_io_fail(in, s, e, "read");
		else {
			s->hup_seen = 1;
			side_watch(s, GX_EV_HUP, 0);
		}
		goto done;
	}
	if ((mask & GX_EV_WRITE) && dir_run(out))
		goto done;
	if (!(mask & GX_EV_READ) || p->dead)
		goto done;
	if ((p->state == P_HANDSHAKE && s->idx == NEAR) ||
	    (p->state == P_FAR_HANDSHAKE && s->idx == FAR)) {
		int rc = wan_hs_read(p, s);
		if (rc < 0 || dir_run(out))
			goto done;
		if (rc == 1)
			hs_done(p, s);
		else
			dir_watch(in);
	} else if (p->state == P_OPEN) {
		if (wan_read(in) == 0)
			dir_run(in);
	}
done:
	pair_leave(p);
}

/* ---------------------------------------------------------- the far side */

/* The far side is reached by a raw dial (net/dial.h): connect with backoff
 * until --connect-timeout; its secure handshake is the relay's own. */

static void far_retry(gx_dial *d, void *ud)
{
	pair *p = ud;
	relay *r = p->r;
	uint64_t now = gx_now_ms();
	r->st.far_failed++;
	if (!r->last_wait_log_ms || now - r->last_wait_log_ms >= RELAY_WAIT_LOG_MS) {
		size_t held = 0;
		for (pair *q = r->pairs; q; q = q->next)
			held += q->state == P_CONNECTING;
		rlog(r, 1, "waiting for %s (%s); holding %zu connection%s", r->cfg.connect_s, d->why,
		     held, held == 1 ? "" : "s");
		r->last_wait_log_ms = now;
	}
}

static void far_fail(gx_dial *d, int err, const char *why, void *ud)
{
	pair *p = ud;
	relay *r = p->r;
	if (err != GX_ETIMEOUT) {
		pair_abort(p, err, "%s: %s", r->cfg.connect_s, why);
		return;
	}
	r->st.aborted++;
	rlog(r, 1, "%s: %s unreachable: %s (gave up after %g s); closing %s", p->label,
	     r->cfg.connect_s, why, r->cfg.connect_timeout, p->s[NEAR].name);
	pair_kill(p, 1);
}

static void far_ready(gx_dial *d, int fd, void *ud)
{
	pair *p = ud;
	relay *r = p->r;
	p->busy++;
	p->s[FAR].fd = fd;
	p->s[FAR].watch = 0;
	if (r->last_wait_log_ms) {
		rlog(r, 1, "%s is reachable", r->cfg.connect_s);
		r->last_wait_log_ms = 0;
	}
	rlog(r, 3, "%s: connected", p->label);
	if (p->s[FAR].secure) {
		p->state = P_FAR_HANDSHAKE;
		if (hs_timer_start(p) || wan_hs_start(p, &p->s[FAR]))
			goto done;
		if (dir_run(&p->d[UP]) == 0)
			dir_watch(&p->d[DOWN]);
	} else {
		pair_open(p);
	}
done:
	pair_leave(p);
}

static const gx_dial_cbs far_cbs = {
	.on_retry = far_retry,
	.on_ready = far_ready,
	.on_fail = far_fail,
};

static void far_start(pair *p)
{
	relay *r = p->r;
	gx_dial_opts o = {
		.host = r->cfg.connect_host,
		.port = r->cfg.connect_port,
		.timeout_ms = (long)(r->cfg.connect_timeout * 1000),
		.cb = &far_cbs,
		.ud = p,
		.fdp = &p->s[FAR].fd,
		.sb = shape_sockbuf(r, DOWN),
	};
	p->s[FAR].watch = 0;
	p->busy++;
	int e = gx_dial_start(&p->dial, r->ev, &o);
	if (e)
		pair_abort(p, e, "cannot reach %s: %s", r->cfg.connect_s, gx_strerror(e));
	pair_leave(p);
}

/* ------------------------------------------------------------ accepting */

static void reset_close(int fd)
{
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

static void on_accept(gx_ev *ev, int fd, void *ud, int mask);

static long on_listen_again(gx_ev *ev, long long id, void *ud)
{
	relay *r = ud;
	r->listen_paused = 0;
	if (gx_ev_add(ev, r->lfd, GX_EV_READ, on_accept, r) != 0)
		rlog(r, 0, "cannot watch the listening socket");
	return -1;
}

/* Out of descriptors: stop accepting for a while rather than spin on a
 * listening socket that stays readable. */
static void pause_listen(relay *r)
{
	if (r->listen_paused)
		return;
	gx_ev_del(r->ev, r->lfd, GX_EV_READ);
	r->listen_paused = 1;
	if (gx_ev_timer(r->ev, 100, on_listen_again, r) < 0)
		on_listen_again(r->ev, 0, r);
}

static void on_accept(gx_ev *ev, int fd, void *ud, int mask)
{
	relay *r = ud;
	for (int i = 0; i < 64; i++) {
		char peer[80];
		int cfd = gx_net_accept(r->lfd, peer, sizeof peer);
		if (cfd == GX_ENEEDMORE)
			break;
		if (cfd < 0) {
			int e = errno;
			rlog_limited(r, &r->rl_accept, "cannot accept a connection: %s", strerror(e));
			if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
				pause_listen(r);
			break;
		}
		if (r->npairs >= (size_t)r->cfg.max_conns) {
			r->st.refused++;
			rlog_limited(r, &r->rl_refuse, "refused %s: %zu connections open (--max-conns)",
				     peer, r->npairs);
			reset_close(cfd);
			continue;
		}
		pair *p = pair_new(r, cfd, peer);
		if (!p) {
			r->st.refused++;
			rlog_limited(r, &r->rl_refuse, "out of memory: refused %s", peer);
			reset_close(cfd);
			continue;
		}
		p->busy++;
		rlog(r, 3, "%s: accepted", p->label);
		if (p->s[NEAR].secure) {
			p->state = P_HANDSHAKE;
			hs_append(p);
			if (r->nhs > r->cfg.max_handshakes) {
				pair *old = hs_victim(r);
				r->st.hs_dropped++;
				rlog_limited(r, &r->rl_drop, "%d secure handshakes pending (--max-handshakes): "
					     "dropped the oldest from the busiest address, %s", r->nhs - 1,
					     old->s[NEAR].name);
				if (old == p) {
					pair_kill(p, 1);
					pair_leave(p);
					continue;
				}
				pair_kill(old, 1);
			}
			if (hs_timer_start(p) == 0 && wan_hs_start(p, &p->s[NEAR]) == 0)
				dir_watch(&p->d[UP]);
		} else {
			p->state = P_CONNECTING;
			far_start(p);
		}
		pair_leave(p);
	}
}

/* ---------------------------------------------------------- the relay */

static long on_stats(gx_ev *ev, long long id, void *ud)
{
	relay *r = ud;
	stats_line(r, 0);
	return (long)(r->cfg.stats_every * 1000 + 0.5);
}

int relay_start(relay *r)
{
	char err[300];
	r->lfd = -1;
	r->stats_fd = -1;
	/* Full-size chunks are kept for every pair; a chunk for more than half
	 * of one is made full-size, so reads of varying sizes reuse them. */
	gx_bq_pool_init(&r->pool, RELAY_POOL, RELAY_CHUNK, (size_t)RELAY_POOL * RELAY_CHUNK, RELAY_CHUNK);
	r->ev = gx_ev_create(1024);
	r->scratch = malloc(RELAY_CHUNK);
	r->zbuf = malloc(RELAY_CHUNK);
	if (!r->ev || !r->scratch || !r->zbuf) {
		rlog(r, 0, "out of memory");
		return GX_ENOMEM;
	}
	r->lfd = gx_net_listen(r->cfg.listen_host, r->cfg.listen_port, err, sizeof err);
	if (r->lfd < 0) {
		rlog(r, 0, "%s", err);
		return GX_EIO;
	}
	/* (accepted connections inherit it) */
	gx_sockbuf sb = shape_sockbuf(r, UP);
	gx_net_set_sockbuf(r->lfd, &sb);
	r->port = gx_net_port(r->lfd);
	if (gx_ev_add(r->ev, r->lfd, GX_EV_READ, on_accept, r) != 0) {
		rlog(r, 0, "cannot watch the listening socket");
		return GX_EIO;
	}
	r->rl_hs.n = 10;
	r->rl_drop.n = 1;
	r->rl_refuse.n = 1;
	r->rl_accept.n = 1;
	r->t0_ns = r->last_stats_ns = gx_now_ns();
	int rc = stats_open(r);
	if (rc)
		return rc;
	if (r->stats_fd >= 0) {
		long long id = gx_ev_timer(r->ev, (long)(r->cfg.stats_every * 1000 + 0.5), on_stats, r);
		if (id < 0) {
			rlog(r, 0, "cannot start a timer");
			return GX_ENOMEM;
		}
		r->stats_timer = id;
	}
	return 0;
}

void relay_close_all(relay *r, const char *why)
{
	if (r->npairs)
		rlog(r, 1, "%s: closing %zu connection%s", why, r->npairs, r->npairs == 1 ? "" : "s");
	while (r->pairs) {
		r->st.aborted++;
		pair_kill(r->pairs, 1);
	}
	if (r->lfd >= 0) {
		gx_ev_del(r->ev, r->lfd, GX_EV_READ);
		close(r->lfd);
		r->lfd = -1;
	}
}

void relay_release(relay *r)
{
	stats_close(r);
	gx_ev_free(r->ev);
	r->ev = NULL;
	gx_bq_pool_clear(&r->pool);
	free(r->scratch);
	free(r->zbuf);
	r->scratch = r->zbuf = NULL;
}
