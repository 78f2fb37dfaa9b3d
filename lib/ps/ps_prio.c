/*
 * ps_prio.c — the priority each tensor travels with through a server
 * (P3: docs/design.md, "Priority propagation and overlap"). A worker names
 * a tensor's priority in the frames it sends (its place in the forward
 * order under geomx-train's schedules); every server keeps the last one
 * named per key and gives it to every tensor frame it sends for that key —
 * a local's push upstream, the global's answers, a local's answers — so
 * the priority set at the worker reaches every hop and comes back with the
 * answers. An open-addressed table of the keys seen, grown at half full;
 * a key never named travels with priority 0 (the most urgent, as before).
 */
#include <stdlib.h>

#include "ps_internal.h"

struct ps_prio_tab {
	uint32_t *key;
	uint8_t *prio, *used;
	size_t cap, n;
};

static size_t slot_of(const struct ps_prio_tab *t, uint32_t key)
{
	size_t i = (size_t)(key * 2654435761u) & (t->cap - 1);
	while (t->used[i] && t->key[i] != key)
		i = (i + 1) & (t->cap - 1);
	return i;
}

static void release(struct ps_prio_tab *t)
{
	free(t->key);
	free(t->prio);
	free(t->used);
}

static int grow(struct ps_prio_tab *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	struct ps_prio_tab g = { calloc(cap, sizeof *g.key), calloc(cap, 1), calloc(cap, 1), cap, 0 };
	if (!g.key || !g.prio || !g.used) {
		release(&g);
		return GX_ENOMEM;
	}
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->used[i])
			continue;
		size_t j = slot_of(&g, t->key[i]);
		g.used[j] = 1;
		g.key[j] = t->key[i];
		g.prio[j] = t->prio[i];
		g.n++;
	}
	release(t);
	*t = g;
	return 0;
}

void ps_prio_note(gx_ps *ps, uint32_t key, int prio)
{
	struct ps_prio_tab *t = ps->prio;
	if (!t) {
		/* the first key named; without memory, priorities stay 0 */
		if (!(t = calloc(1, sizeof *t)))
			return;
		ps->prio = t;
	}
	size_t i = t->cap ? slot_of(t, key) : 0;
	if (!t->cap || !t->used[i]) {
		/* a new key: no more than a key table may name, so that a peer
		 * naming ever new keys cannot grow it without end */
		if (t->n >= GX_KEYTABLE_MAX)
			return;
		if ((t->n + 1) * 2 > t->cap) {
			if (grow(t))
				return;
			i = slot_of(t, key);
		}
	}
	if (!t->used[i]) {
		t->used[i] = 1;
		t->key[i] = key;
		t->n++;
	}
	t->prio[i] = (uint8_t)prio;
}

int ps_prio_of(const gx_ps *ps, uint32_t key)
{
	const struct ps_prio_tab *t = ps->prio;
	if (!t || !t->cap)
		return 0;
	size_t i = slot_of(t, key);
	return t->used[i] ? t->prio[i] : 0;
}

void ps_prio_free(gx_ps *ps)
{
	struct ps_prio_tab *t = ps->prio;
	if (!t)
		return;
	release(t);
	free(t);
	ps->prio = NULL;
}
