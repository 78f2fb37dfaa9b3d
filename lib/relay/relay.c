/*
 * relay.c — the relay engine's interface (gx_relay.h): options and what
 * follows from them, creating, running, stopping and freeing a relay. The
 * forwarding itself is fwd.c.
 */
#include <stdlib.h>
#include <string.h>

#include "relay.h"

void gx_relay_opts_default(gx_relay_opts *o)
{
	memset(o, 0, sizeof *o);
	o->wan = FAR;
	o->zstd_level = GX_RELAY_DEF_ZSTD;
	o->seed = GX_RELAY_DEF_SEED;
	o->connect_timeout = GX_DEFAULT_CONNECT_TIMEOUT;
	o->handshake_timeout = GX_RELAY_DEF_HANDSHAKE_TIMEOUT;
	o->max_handshakes = GX_RELAY_DEF_MAX_HS;
	o->max_conns = GX_RELAY_DEF_MAX_CONNS;
	o->stats_every = GX_RELAY_DEF_STATS_EVERY;
	o->log_level = 1;
}

/* What follows from the options: how long a lost segment holds its stream,
 * and queues that can hold what the emulated link has in flight. */
/* The keys its near side takes, when it speaks the secure protocol: its
 * own and those below it — holding the job's key, every party's below
 * RELAY_PARTIES (a data center's server, or its relay, dials it with its
 * party's key); holding a party's, that party's workers' below RELAY_RANKS
 * (workers that reach their local server through it). Its far side dials
 * with the key its near side's peer proved (wan_hs_start), so that an
 * identity goes through it to the server that checks the peer's claim
 * (docs/security.md, "Identities"); with its own key where its near side
 * is plaintext. 0 or GX_ENOMEM. */
static int relay_ring(relay *r)
{
	const gx_key *k = &r->cfg.key;
	if (!r->cfg.secure[GX_RELAY_NEAR])
		return 0; /* its near side speaks what its peers speak */
	size_t n = 1 + (k->scope == GX_KEY_JOB ? RELAY_PARTIES :
			k->scope == GX_KEY_PARTY ? RELAY_RANKS : 0);
	gx_key *keys = calloc(n, sizeof *keys);
	if (!keys)
		return GX_ENOMEM;
	keys[0] = *k;
	for (size_t i = 1; i < n; i++)
		if (k->scope == GX_KEY_JOB)
			gx_key_derive(k, GX_KEY_PARTY, (uint32_t)(i - 1), 0, &keys[i]);
		else
			gx_key_derive(k, GX_KEY_WORKER, k->party, (uint32_t)(i - 1), &keys[i]);
	r->ring = gx_keyring_new(keys, n);
	explicit_bzero(keys, n * sizeof *keys);
	free(keys);
	return r->ring ? 0 : GX_ENOMEM;
}

static void derive(relay *r)
{
	relay_cfg *c = &r->cfg;
	/* A lost segment waits for TCP's retransmission timeout: at least
	 * RELAY_HOLD_MIN_MS, at least the emulated round trip. */
	uint64_t rtt = c->link[UP].delay_ns + c->link[DOWN].delay_ns;
	r->hold_ns = (uint64_t)RELAY_HOLD_MIN_MS * 1000000;
	if (rtt > r->hold_ns)
		r->hold_ns = rtt;
	/* The queue must hold what the emulated link has in flight, or the
	 * queue, not the rate, sets the throughput. */
	for (int d = 0; d < 2; d++) {
		if (!c->queue[d])
			c->queue[d] = GX_RELAY_DEF_QUEUE;
		/* (a --queue given too: the relay's queue also holds what is on
		 * the emulated wire, which a router's buffer does not) */
		const shape_cfg *s = &c->link[d];
		if (!(s->rate > 0))
			continue;
		double flight = s->rate * (double)(s->delay_ns + s->jitter_ns +
						   (s->loss > 0 ? r->hold_ns : 0)) * 1e-9;
		/* and four of the chunks it reads: its grain, about 0.5 ms of
		 * the link, or whole records when it seals or compresses
		 * (four full-size chunks at any rate had made a 128Ki queue
		 * 256Ki at 100 Mbit/s, 20 ms of FIFO in front of the link) */
		double grain = c->secure[0] || c->secure[1] || c->zstd ? (double)RELAY_CHUNK
								     : (double)shape_read_size(r, d);
		double want = 2 * flight + 4.0 * grain;
		if (want > (double)c->queue[d])
			c->queue[d] = want > (double)(1u << 30) ? (size_t)1 << 30 : (size_t)want;
	}
}

static void on_wake(gx_ev *ev, void *ud)
{
	relay *r = ud;
	if (r->stop_asked)
		gx_ev_stop(ev);
}

gx_relay *gx_relay_create(const gx_relay_opts *o, int *err)
{
	relay *r = calloc(1, sizeof *r);
	if (!r) {
		if (o->log)
			o->log(o->log_ud, 0, "out of memory");
		if (err)
			*err = GX_ENOMEM;
		return NULL;
	}
	r->cfg = *o;
	r->lfd = -1;
	r->stats_fd = -1;
	derive(r);
	if (relay_ring(r)) {
		if (err)
			*err = GX_ENOMEM;
		gx_relay_free(r);
		return NULL;
	}
	if (relay_start(r)) {
		if (err)
			*err = GX_EIO;
		gx_relay_free(r);
		return NULL;
	}
	gx_ev_on_wake(r->ev, on_wake, r);
	return r;
}

int gx_relay_port(const gx_relay *r)
{
	return r->port;
}

int gx_relay_run(gx_relay *r)
{
	return gx_ev_run(r->ev) ? GX_EIO : 0;
}

void gx_relay_stop(gx_relay *r)
{
	r->stop_asked = 1;
	gx_ev_wake(r->ev);
}

void gx_relay_close(gx_relay *r, const char *why)
{
	relay_close_all(r, why);
	stats_line(r, 1);
}

void gx_relay_free(gx_relay *r)
{
	if (!r)
		return;
	relay_close_all(r, "freed");
	relay_release(r);
	explicit_bzero(&r->cfg.key, sizeof r->cfg.key);
	gx_keyring_free(r->ring);
	free(r);
}
