/*
 * ps_global_map.c — the global role's slices (ps_global.h): made, freed,
 * and found by (key, block) in an open-addressing map.
 */
#include <stdlib.h>

#include "ps_global.h"

static uint64_t slice_id(uint32_t key, uint32_t block)
{
	return (uint64_t)key << 32 | block;
}

static size_t map_pos(uint64_t id, size_t cap)
{
	uint64_t x = (id ^ id >> 29) * 0x9E3779B97F4A7C15ull;
	return (size_t)(x ^ x >> 32) & (cap - 1);
}

ps_gslice *map_get(const ps_global_state *g, uint32_t key, uint32_t block)
{
	if (!g->map_cap)
		return NULL;
	uint64_t id = slice_id(key, block);
	for (size_t i = map_pos(id, g->map_cap);; i = (i + 1) & (g->map_cap - 1)) {
		ps_gslice *s = g->map[i];
		if (!s)
			return NULL;
		if (slice_id(s->key, s->block) == id)
			return s;
	}
}

int map_put(ps_global_state *g, ps_gslice *s)
{
	if (2 * (g->map_n + 1) > g->map_cap) {
		size_t nc = g->map_cap ? 2 * g->map_cap : 64;
		ps_gslice **m = calloc(nc, sizeof *m);
		if (!m)
			return GX_ENOMEM;
		for (size_t i = 0; i < g->map_cap; i++) {
			ps_gslice *t = g->map[i];
			if (!t)
				continue;
			size_t j = map_pos(slice_id(t->key, t->block), nc);
			while (m[j])
				j = (j + 1) & (nc - 1);
			m[j] = t;
		}
		free(g->map);
		g->map = m;
		g->map_cap = nc;
	}
	size_t j = map_pos(slice_id(s->key, s->block), g->map_cap);
	while (g->map[j])
		j = (j + 1) & (g->map_cap - 1);
	g->map[j] = s;
	g->map_n++;
	return 0;
}

ps_gslice *slice_new(gx_ps *ps, uint32_t key, uint32_t block, uint64_t count, int with_opt,
		     int *err)
{
	size_t n = (size_t)count;
	ps_gslice *s = calloc(1, sizeof *s);
	*err = GX_ENOMEM;
	if (!s)
		return NULL;
	s->key = key;
	s->block = block;
	s->count = count;
	s->wb = gx_buf_pool_get(ps->bufs, n * sizeof(float));
	s->w = s->wb ? (float *)s->wb->data : NULL;
	s->g = malloc(n * sizeof(float));
	s->next_round = calloc((size_t)ps->n, sizeof *s->next_round);
	s->seen = calloc((size_t)ps->n, sizeof *s->seen);
	s->answered = calloc((size_t)ps->n, sizeof *s->answered);
	if (!s->w || !s->g || !s->next_round || !s->seen || !s->answered ||
	    (with_opt && !(s->opt = gx_optim_create(&ps->o.optim, count, ps->n, err)))) {
		slice_free(s);
		return NULL;
	}
	*err = 0;
	return s;
}

void slice_free(ps_gslice *s)
{
	if (!s)
		return;
	gx_buf_unref(s->wb);
	ps_codec_drop_kept(&s->agg);
	free(s->g);
	gx_optim_free(s->opt);
	free(s->next_round);
	free(s->seen);
	free(s->answered);
	ps_acc_free_all(s->accs);
	ps_spare_free(&s->spare);
	free(s);
}
