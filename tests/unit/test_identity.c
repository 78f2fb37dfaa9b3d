/*
 * test_identity.c — a peer's HELLO must claim the identity of the key it
 * holds (docs/security.md, "Identities"): real global and local servers
 * (gx_ps, each on a thread of this process) on loopback with the job's key
 * and party 0's, and worker clients (gx_kv) given chosen keys:
 *   - worker 1 of party 0 with its own key: connected;
 *   - worker 0's key claiming rank 1 (rank squatting): refused, saying so;
 *   - a worker key of party 1 at party 0's server: the handshake fails;
 *   - once the job is HiPS, a worker's key at the global server: the
 *     handshake fails (its ring keeps the flat workers' keys only while it
 *     may serve them);
 *   - flat, party 1's key claiming to be a worker of party 0: refused;
 *   - through a relay holding party 0's key (secure on both sides), which
 *     takes that party's workers' keys and dials on with the key its peer
 *     proved: a worker with its own key connected, and worker 0's key
 *     claiming rank 1 refused by the local server as without the relay
 *     (the relay does not launder it into its own key).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "t.h"
#include "t_log.h"


static void *run_ps(void *ud)
{
	gx_ps_run(ud);
	return NULL;
}

typedef struct server {
	gx_ps *ps;
	pthread_t th;
	char addr[64];
} server;

static int start(server *s, gx_ps_opts *o)
{
	o->listen = "127.0.0.1:0";
	o->log = logfn;
	o->connect_timeout = 10;
	int e;
	s->ps = gx_ps_create(o, &e);
	if (!s->ps)
		return -1;
	snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", gx_ps_port(s->ps));
	return pthread_create(&s->th, NULL, run_ps, s->ps);
}

/* A global server with the job's key (one party) and party 0's local
 * server with its party's key only (two workers); 0 or -1. */
static int start_hips(server *g, server *l, const gx_key *job, const gx_key *p0)
{
	gx_ps_opts o;
	gx_ps_opts_default(&o);
	o.role = GX_ROLE_GLOBAL;
	o.parties = 1;
	o.key = job;
	if (start(g, &o) != 0)
		return -1;
	gx_ps_opts_default(&o);
	o.role = GX_ROLE_LOCAL;
	o.workers = 2;
	o.party = 0;
	o.upstream = g->addr;
	o.key = p0;
	return start(l, &o);
}

static void stop(server *s)
{
	gx_ps_stop(s->ps);
	pthread_join(s->th, NULL);
	gx_ps_free(s->ps);
}

/* A worker client (party, rank) dialling with key k; its connect status. */
static int worker(const char *addr, uint32_t party, uint32_t rank, const gx_key *k)
{
	gx_kv_opts o;
	gx_kv_opts_default(&o);
	o.servers = addr;
	o.party = party;
	o.rank = rank;
	o.psk = k->k;
	o.connect_timeout = 10;
	o.reconnect_timeout = 0;
	o.log = logfn;
	int e = 0;
	gx_kv *kv = gx_kv_connect(&o, &e);
	gx_kv_free(kv);
	return kv ? 0 : e;
}

static void fill_key(gx_key *k, uint8_t seed)
{
	memset(k, 0, sizeof *k);
	for (int i = 0; i < GX_KEY_BYTES; i++)
		k->k[i] = (uint8_t)(seed * 29 + i * 11);
}

static void test_hips(void)
{
	gx_key job, p0, w00, w01, w10;
	fill_key(&job, 5);
	T_EQ(gx_key_derive(&job, GX_KEY_PARTY, 0, 0, &p0), 0);
	T_EQ(gx_key_derive(&p0, GX_KEY_WORKER, 0, 0, &w00), 0);
	T_EQ(gx_key_derive(&p0, GX_KEY_WORKER, 0, 1, &w01), 0);
	T_EQ(gx_key_derive(&job, GX_KEY_WORKER, 1, 0, &w10), 0);
	server g, l;
	T_REQUIRE(start_hips(&g, &l, &job, &p0) == 0);

	T_EQ(worker(l.addr, 0, 1, &w01), 0);
	T_EQ(worker(l.addr, 0, 1, &w00), GX_EREFUSED);
	T_ASSERT(log_has("it holds worker 0 of party 0's key, but says it is worker 1 of party 0"));
	T_ASSERT(worker(l.addr, 0, 0, &w10) != 0);
	T_ASSERT(log_has("the peer holds a different key"));
	/* the job is HiPS: the global takes no worker's key any more (its
	 * handshake fails, where a worker's HELLO would have been refused) */
	T_EQ(worker(g.addr, 0, 0, &w00), GX_EPEER);
	stop(&l);
	stop(&g);
}

static void test_flat(void)
{
	gx_key job, p1;
	fill_key(&job, 9);
	T_EQ(gx_key_derive(&job, GX_KEY_PARTY, 1, 0, &p1), 0);
	server g;
	gx_ps_opts o;
	gx_ps_opts_default(&o);
	o.role = GX_ROLE_GLOBAL;
	o.parties = 2;
	o.key = &job;
	T_REQUIRE(start(&g, &o) == 0);
	T_EQ(worker(g.addr, 0, 0, &p1), GX_EREFUSED);
	T_ASSERT(log_has("it holds party 1's key, but says it is worker 0 of party 0"));
	stop(&g);
}

static void *run_relay(void *ud)
{
	gx_relay_run(ud);
	return NULL;
}

static void test_relay(void)
{
	gx_key job, p0, w00, w01;
	fill_key(&job, 7);
	T_EQ(gx_key_derive(&job, GX_KEY_PARTY, 0, 0, &p0), 0);
	T_EQ(gx_key_derive(&p0, GX_KEY_WORKER, 0, 0, &w00), 0);
	T_EQ(gx_key_derive(&p0, GX_KEY_WORKER, 0, 1, &w01), 0);
	server g, l;
	T_REQUIRE(start_hips(&g, &l, &job, &p0) == 0);

	gx_relay_opts ro;
	gx_relay_opts_default(&ro);
	ro.listen_s = "127.0.0.1:0";
	ro.connect_s = l.addr;
	snprintf(ro.listen_host, sizeof ro.listen_host, "127.0.0.1");
	snprintf(ro.connect_host, sizeof ro.connect_host, "127.0.0.1");
	ro.connect_port = gx_ps_port(l.ps);
	ro.secure[GX_RELAY_NEAR] = ro.secure[GX_RELAY_FAR] = 1;
	ro.key = p0;
	ro.log = logfn;
	int e = 0;
	gx_relay *r = gx_relay_create(&ro, &e);
	T_REQUIRE(r != NULL);
	pthread_t th;
	T_REQUIRE(pthread_create(&th, NULL, run_relay, r) == 0);
	char via[64];
	snprintf(via, sizeof via, "127.0.0.1:%d", gx_relay_port(r));

	T_EQ(worker(via, 0, 1, &w01), 0);
	T_EQ(worker(via, 0, 1, &w00), GX_EREFUSED);
	T_ASSERT(log_has("it holds worker 0 of party 0's key, but says it is worker 1 of party 0"));
	gx_relay_stop(r);
	pthread_join(th, NULL);
	gx_relay_free(r);
	stop(&l);
	stop(&g);
}

int main(void)
{
	T_RUN(test_hips);
	T_RUN(test_relay);
	T_RUN(test_flat);
	T_DONE();
}
