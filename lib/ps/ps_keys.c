/*
 * ps_keys.c — who may connect to a server with a key (docs/security.md,
 * "Identities"): the ring of keys a peer's handshake is checked against,
 * the key a local server dials its upstream links with, and the check that
 * a peer's HELLO claims the identity of the key it proved it holds.
 *
 * Choices:
 *  - A global server holds the job's key and takes each party's key
 *    (parties 0..N-1) and, for flat jobs, each worker's of those parties
 *    with ranks 0..N-1; a local server holds the job's key or its party's,
 *    dials with its party's and takes its workers' (ranks 0..W-1) and,
 *    holding the job's key, the other parties' (their local servers link
 *    to it under the overlay). So a
 *    data center's key cannot pass for another's, nor a worker's for
 *    another rank or for its server. Either also takes the job's key when
 *    it holds it: its holder may claim any identity (it could derive every
 *    key), as a relay that speaks for its data center does.
 *  - The global's N x N workers' keys are tried at every handshake only
 *    while it may serve flat workers: once a local server joined (the job
 *    is HiPS) new connections are checked against the parties' keys alone
 *    (ps_keys_hips).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps_internal.h"

int ps_keys(gx_ps *ps, const gx_key *key)
{
	char kn[80];
	int global = ps->o.role == GX_ROLE_GLOBAL;
	uint32_t party = ps->o.party, n = (uint32_t)ps->n;
	if (global && key->scope != GX_KEY_JOB) {
		ps_log(ps, GX_LOG_ERROR, "a global server needs the job's key; --key holds %s",
		       gx_key_name(key, kn, sizeof kn));
		return GX_EINVAL;
	}
	if (!global && (key->scope == GX_KEY_WORKER ||
			(key->scope == GX_KEY_PARTY && key->party != party))) {
		ps_log(ps, GX_LOG_ERROR, "the local server of party %u needs the job's key or its "
		       "party's; --key holds %s", party, gx_key_name(key, kn, sizeof kn));
		return GX_EINVAL;
	}
	/* + the job's key itself, where this server holds it: a holder (a
	 * relay that speaks for its data center, say) may claim anything */
	size_t cap = (global ? (size_t)n + (size_t)n * n : n + GX_OVL_MAX_PARTIES) + 1;
	gx_key *ring = calloc(cap ? cap : 1, sizeof *ring);
	if (!ring)
		return GX_ENOMEM;
	size_t m = 0;
	int rc = 0;
	if (key->scope == GX_KEY_JOB)
		ring[m++] = *key;
	if (global) {
		ps->psk = *key;
		for (uint32_t p = 0; p < n && !rc; p++)
			rc = gx_key_derive(key, GX_KEY_PARTY, p, 0, &ring[m++]);
		if (!rc && !(ps->rings[1] = gx_keyring_new(ring, m)))
			rc = GX_ENOMEM; /* the job's and the parties' keys: HiPS */
		for (uint32_t p = 0; p < n && !rc; p++)
			for (uint32_t r = 0; r < n && !rc; r++)
				rc = gx_key_derive(key, GX_KEY_WORKER, p, r, &ring[m++]);
	} else {
		rc = gx_key_derive(key, GX_KEY_PARTY, party, 0, &ps->psk);
		for (uint32_t r = 0; r < n && !rc; r++)
			rc = gx_key_derive(&ps->psk, GX_KEY_WORKER, party, r, &ring[m++]);
		/* the other data centers' local servers, under the overlay: only
		 * a holder of the job's key can tell their keys */
		for (uint32_t q = 0; q < GX_OVL_MAX_PARTIES && key->scope == GX_KEY_JOB && !rc; q++)
			if (q != party)
				rc = gx_key_derive(key, GX_KEY_PARTY, q, 0, &ring[m++]);
	}
	if (!rc && !(ps->ring = ps->rings[0] = gx_keyring_new(ring, m)))
		rc = GX_ENOMEM;
	explicit_bzero(ring, cap * sizeof *ring);
	free(ring);
	if (!rc)
		ps->o.key = &ps->psk;
	ps->job_key = key->scope == GX_KEY_JOB;
	return rc;
}

void ps_keys_hips(gx_ps *ps)
{
	if (ps->rings[1])
		ps->ring = ps->rings[1];
}

int ps_claim_check(gx_ps *ps, ps_peer *p, const gx_hello *hl)
{
	const gx_key *k = p->c ? gx_conn_peer_key(p->c) : NULL;
	int ok = !k || k->scope == GX_KEY_JOB ||
		 (k->scope == GX_KEY_PARTY && hl->role == GX_ROLE_LOCAL && hl->party == k->party) ||
		 (k->scope == GX_KEY_WORKER && hl->role == GX_ROLE_WORKER &&
		  hl->party == k->party && hl->rank == k->rank);
	if (ok)
		return 0;
	char kn[80];
	if (hl->role == GX_ROLE_LOCAL)
		ps_violation(ps, p, GX_EAUTH, "it holds %s, but says it is the local server of "
			     "party %u", gx_key_name(k, kn, sizeof kn), hl->party);
	else
		ps_violation(ps, p, GX_EAUTH, "it holds %s, but says it is %s %u of party %u",
			     gx_key_name(k, kn, sizeof kn), gx_role_name(hl->role), hl->rank,
			     hl->party);
	return -1;
}
