/*
 * ps_global_flat.c — the global server serving workers directly (flat
 * mode, the parameter-server baseline): with --parties N it expects N
 * workers, each a party of one, in slots handed out as they connect and
 * summed in (party, rank) order once all are handed out; their key table
 * (the first worker's, which every other must match); and a worker coming
 * back to its place — after a broken link (HELLO mode 1, its table kept)
 * or restarted (mode 2: it sends its table and INITs again, and each INIT
 * is answered with the round its place is at, as a local server does).
 */
#include <stdio.h>
#include <stdlib.h>

#include "ps_global.h"

/* Flat mode, every slot handed out: the summing order by (party, rank),
 * so that a run's sums do not depend on which worker connected first. */
static void flat_order(gx_ps *ps)
{
	int *o = malloc((size_t)ps->n * sizeof *o);
	if (!o) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory");
		return;
	}
	for (int k = 0; k < ps->n; k++) { /* insertion sort: n is small */
		const ps_peer *p = ps->who[k];
		int j = k;
		for (; j > 0; j--) {
			const ps_peer *q = ps->who[o[j - 1]];
			if (q->party < p->party || (q->party == p->party && q->rank < p->rank))
				break;
			o[j] = o[j - 1];
		}
		o[j] = k;
	}
	ps->order = o;
	ps_global_settle(ps);
}

/* The place of worker (party, rank) among the slots handed out, or -1. */
static int place_of(const gx_ps *ps, const gx_hello *hl)
{
	for (int i = 0; i < ps->glob->nassigned; i++) {
		const ps_peer *q = ps->who[i];
		if (q && q->rank == hl->rank && q->party == hl->party)
			return i;
	}
	return -1;
}

void ps_global_flat_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl)
{
	ps_global_state *g = ps->glob;
	char label[112];
	if (g->flat == 0) {
		ps_violation(ps, p, GX_EPROTO, "this global server serves local servers; a "
			     "worker connects to its data center's local server");
		return;
	}
	snprintf(label, sizeof label, "worker %u of party %u (%s)", hl->rank, hl->party, p->addr);
	int i = place_of(ps, hl);
	if (i >= 0) {
		ps_peer *q = ps->who[i];
		if (hl->mode != GX_HELLO_NEW && ps->slot[i] == SLOT_LIVE && q->away_ms && !q->c) {
			/* its place back: after a broken link with its table; a
			 * restarted process sends its table and INITs again, and
			 * takes the rounds its place is at (on_init) */
			p->has_table = hl->mode == GX_HELLO_BACK ? q->has_table : 0;
			ps_take_place(ps, p, q, label);
			if (hl->mode == GX_HELLO_RESTARTED)
				ps_log(ps, GX_LOG_WARN, "%s was restarted: it goes on from its "
				       "place's rounds", p->label);
			return;
		}
		ps_violation(ps, p, GX_EPROTO, "worker %u of party %u is already %s", hl->rank,
			     hl->party, ps_slot_word(ps->slot[i]));
		return;
	}
	if (g->nassigned >= ps->n) {
		ps_violation(ps, p, GX_EPROTO, "all %d worker%s this server expects are already "
			     "here", ps->n, ps->n == 1 ? "" : "s");
		return;
	}
	if (hl->mode == GX_HELLO_BACK) {
		ps_violation(ps, p, GX_EPROTO, "a flat worker coming back to a place this server "
			     "does not keep");
		return;
	}
	/* new, or restarted where no place is kept (a first start given
	 * --resume): a new worker */
	g->agg = 0;
	g->flat = 1;
	ps->ordered = 1;
	int slot = g->nassigned++;
	g->slot_workers[slot] = 1;
	ps_admit(ps, p, slot, label);
	if (g->nassigned == ps->n)
		flat_order(ps);
}

static int cmp_key(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = ((const gx_keyent *)b)->key;
	return x < y ? -1 : x > y;
}

/* Flat mode: a worker's key table, which must match the first one. */
void ps_global_flat_keytable(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl)
{
	if (p->role != GX_ROLE_WORKER) {
		ps_violation(ps, p, GX_EPROTO, "KEYTABLE from a local server");
		return;
	}
	ps_global_state *g = ps->glob;
	gx_keyent *e;
	size_t n;
	if (ps_take_keytable(ps, p, h, pl, g->ftable, g->nftable, &e, &n))
		return;
	if (!g->ftable) {
		g->ftable = e;
		g->nftable = n;
	}
	p->has_table = 1;
}

int ps_global_flat_key(const ps_global_state *g, uint32_t key)
{
	return bsearch(&key, g->ftable, g->nftable, sizeof *g->ftable, cmp_key) != NULL;
}
