/*
 * ps_local_join.c — the local role's workers that arrive once the job runs:
 * a worker whose link broke coming back (HELLO mode 1: it sends again what
 * was not answered), a worker process restarted in its own place (mode 2,
 * geomx-train --resume: it lost everything in flight), and a replacement
 * in a dead worker's place (--elastic, at the next round boundary).
 *
 * Choices:
 *  - A restarted worker goes on from the round its place is at, key by
 *    key: the round after its last push, or, when its last push is still
 *    being gathered, that round again (its push sent again is taken once
 *    and answered with the others). With every key at the same round the
 *    values it gets are the ones its dead process would have computed on,
 *    so the job ends as an undisturbed one would; the worker sees the case
 *    where some keys are one round ahead (it died inside a step) from the
 *    rounds (geomx-train(1), "CHECKPOINTS").
 *  - The place holds the server's side of a worker (its rounds; under HFA
 *    the worker's own model comes from its checkpoint; mixed sync is full
 *    sync within the data center). A coded WAN changes nothing of that
 *    (its state is the local server's); under an fp16 LAN INIT gives the
 *    view the worker held, and the residuals of its pushes come from its
 *    checkpoint.
 */
#include <stdio.h>
#include <string.h>

#include "ps_local.h"
#include "ps_overlay.h"

int ps_local_round_pending(const ps_lkey *k, uint32_t wround)
{
	for (const ps_acc *a = k->accs; a; a = a->next)
		if (a->round == wround)
			return 1;
	for (const ps_fwd *f = k->fwds; f; f = f->next)
		if (f->wround == wround)
			return 1;
	return 0;
}

void ps_local_init_late(gx_ps *ps, ps_peer *p, ps_lkey *k, size_t idx, int again)
{
	uint32_t *next = &p->next_round[idx], from;
	if (p->mode == GX_HELLO_RESTARTED && !again) {
		/* its push of the round before, still gathered: sent again,
		 * it is taken once (on_push's replay) and answered with the
		 * others */
		from = *next > 0 && ps_local_round_pending(k, *next - 1) ? *next - 1 : *next;
	} else {
		/* a replacement: its pushes start at the round not yet
		 * settled, the job's current one */
		if (!again) {
			uint32_t base = (uint32_t)k->rounds;
			for (const ps_fwd *f = k->fwds; f; f = f->next)
				base++;
			*next = base;
		}
		from = *next;
	}
	ps_send_f32(ps, p->c, GX_FT_INIT_REPLY, k->key, k->block, from, ps->o.party,
		    k->view ? k->view : k->value, k->count);
}

/* A restarted worker (HELLO mode 2) where its place is kept: it takes the
 * place with the place's rounds, and sends its key table and INITs as a
 * new worker would. */
static void restarted(gx_ps *ps, ps_peer *p, ps_peer *old, const gx_hello *hl)
{
	ps_local_state *ls = ps->loc;
	for (size_t i = 0; i < ls->nkeys; i++)
		for (ps_pull *q = ls->keys[i].pulls; q; q = q->next)
			q->want[hl->rank] = 0; /* nobody waits for those answers */
	p->mode = GX_HELLO_RESTARTED;
	p->next_round = old->has_table ? old->next_round : NULL;
	old->next_round = NULL;
	char label[112];
	snprintf(label, sizeof label, "worker %u (%s)", hl->rank, p->addr);
	ps_take_place(ps, p, old, label);
	ps_log(ps, GX_LOG_WARN, "%s was restarted: it goes on from its place's rounds", p->label);
}

void ps_local_hello(gx_ps *ps, ps_peer *p, const gx_hello *hl)
{
	gx_hello fresh;
	if (hl->role == GX_ROLE_LOCAL) {
		ps_ovl_local_hello(ps, p, hl);
		return;
	}
	if (hl->role != GX_ROLE_WORKER) {
		ps_violation(ps, p, GX_EPROTO, "role %s cannot connect to a local server (it "
			     "accepts workers)", gx_role_name(hl->role));
		return;
	}
	if (hl->rank >= (uint32_t)ps->n) {
		ps_violation(ps, p, GX_EPROTO, "worker rank %u is out of range (this server "
			     "expects %d worker%s, ranks 0..%d)", hl->rank, ps->n,
			     ps->n == 1 ? "" : "s", ps->n - 1);
		return;
	}
	int st = ps->slot[hl->rank];
	ps_peer *old = ps->who[hl->rank];
	int away = st == SLOT_LIVE && old && old->away_ms && !old->c;
	if (hl->mode == GX_HELLO_RESTARTED) {
		if (away) {
			restarted(ps, p, old, hl);
			return;
		}
		/* a first start given --resume, or one past its place: as a
		 * new worker (a dead place is taken under --elastic) */
		fresh = *hl;
		fresh.mode = GX_HELLO_NEW;
		hl = &fresh;
	}
	if (away && !hl->mode && ps->o.elastic) {
		/* a new worker where one is away: the old one is replaced */
		old->away_ms = 0;
		ps_peer_dead(ps, old, "replaced by a new worker of its rank");
		st = ps->slot[hl->rank];
	} else if (hl->mode == GX_HELLO_BACK && !away && st == SLOT_EMPTY && ps->loc->resumed) {
		ps_local_back(ps, p, hl->rank); /* to a server started again */
		return;
	} else if (hl->mode && !away) {
		ps_violation(ps, p, GX_EPROTO, "worker rank %u comes back to a place it does not "
			     "hold", hl->rank);
		return;
	}
	p->mode = hl->mode;
	if (away && hl->mode) {
		/* Its link broke and it is back: it takes its own place again,
		 * with its key table and its progress; the PULLs it sent are
		 * sent again, so none is owed to it. */
		for (size_t i = 0; i < ps->loc->nkeys; i++)
			for (ps_pull *q = ps->loc->keys[i].pulls; q; q = q->next)
				q->want[hl->rank] = 0;
		p->next_round = old->next_round;
		p->did_init = old->did_init;
		p->has_table = old->has_table;
		old->next_round = NULL;
		old->did_init = NULL;
		char label[112];
		snprintf(label, sizeof label, "worker %u (%s)", hl->rank, p->addr);
		ps_take_place(ps, p, old, label);
		return;
	}
	if (st == SLOT_DEAD && ps->o.elastic) {
		/* A replacement: taken in at the next round boundary. */
		p->rank = hl->rank;
		p->join_wait = 1;
		ps->loc->joining++;
		ps_local_try_join(ps);
		return;
	}
	if (st != SLOT_EMPTY) {
		ps_violation(ps, p, GX_EPROTO, "worker rank %u is already %s", hl->rank,
			     st == SLOT_LIVE ? "connected" : st == SLOT_BYE ? "finished" : "dead");
		return;
	}
	char label[112];
	snprintf(label, sizeof label, "worker %u (%s)", hl->rank, p->addr);
	if (hl->party != ps->o.party)
		ps_log(ps, GX_LOG_WARN, "%s says it belongs to party %u; this server is party %u",
		       label, hl->party, ps->o.party);
	ps_admit(ps, p, (int)hl->rank, label);
}

void ps_local_try_join(gx_ps *ps)
{
	ps_local_state *ls = ps->loc;
	if (!ls->joining)
		return; /* (called as every key settles: nothing to scan for) */
	/* A boundary: no round is being gathered for any key, so every block
	 * of a key has settled as many rounds, and the ones to come will all
	 * wait for the newcomer. */
	for (size_t i = 0; i < ls->nkeys; i++)
		if (ls->keys[i].accs)
			return;
	for (ps_peer *p = ps->peers; p && !ps->finishing; p = p->next) {
		if (!p->join_wait)
			continue;
		p->join_wait = 0;
		if (p->gone || !p->c)
			continue;
		if (ps->slot[p->rank] != SLOT_DEAD) {
			ps_violation(ps, p, GX_EPROTO, "worker rank %u is already %s", p->rank,
				     ps->slot[p->rank] == SLOT_LIVE ? "connected" : "finished");
			continue;
		}
		char label[112];
		snprintf(label, sizeof label, "worker %u (%s)", p->rank, p->addr);
		ps_admit(ps, p, (int)p->rank, label);
		ps_log(ps, GX_LOG_WARN, "%s joins in a dead worker's place", label);
	}
	ls->joining = 0; /* every one waiting is in, or refused */
}

