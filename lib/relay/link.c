/*
 * link.c — one direction of an emulated WAN link (link.h).
 */
#include <math.h>

#include "link.h"

void link_init(link_dir *d, uint64_t seed)
{
	d->vclock = 0;
	d->last_release = 0;
	d->bad = 0;
	gx_rng_seed(&d->rng, seed);
}

uint64_t link_send(link_dir *d, const gx_relay_link *c, size_t len, uint64_t now)
{
	if (!(c->rate > 0))
		return now;
	uint64_t start = d->vclock > now ? d->vclock : now;
	d->vclock = start + (uint64_t)llround((double)len * 1e9 / c->rate);
	return d->vclock;
}

int64_t link_jitter(link_dir *d, const gx_relay_link *c)
{
	if (!c->jitter_ns)
		return 0;
	return (int64_t)gx_rng_below(&d->rng, 2 * c->jitter_ns + 1) - (int64_t)c->jitter_ns;
}

uint64_t link_jittered(uint64_t t, int64_t j, uint64_t now)
{
	if (j >= 0)
		return t + (uint64_t)j;
	return t - now > (uint64_t)-j ? t - (uint64_t)-j : now;
}

uint64_t link_stamp(link_dir *d, const gx_relay_link *c, size_t len, uint64_t now)
{
	uint64_t t = link_send(d, c, len, now) + c->delay_ns;
	return link_jittered(t, link_jitter(d, c), now);
}

uint64_t link_retime(uint64_t t, double old_rate, double new_rate, uint64_t now)
{
	if (t <= now || old_rate == new_rate)
		return t;
	if (!(new_rate > 0) || !(old_rate > 0)) /* unlimited now: what waited goes at once */
		return now;
	return now + (uint64_t)llround((double)(t - now) * old_rate / new_rate);
}

uint64_t link_release(link_dir *d, uint64_t t)
{
	if (t < d->last_release)
		t = d->last_release;
	d->last_release = t;
	return t;
}

int link_draw(link_dir *d, double p)
{
	return (double)gx_rng_next(&d->rng) * 0x1p-64 < p;
}

int link_ge_lost(link_dir *d, const gx_relay_ge *g)
{
	int lost = link_draw(d, d->bad ? g->loss_bad : g->loss_good);
	d->bad = d->bad ? !link_draw(d, g->p_bg) : link_draw(d, g->p_gb);
	return lost;
}

uint64_t link_backlog(const link_dir *d, const gx_relay_link *c, uint64_t now)
{
	if (!(c->rate > 0) || d->vclock <= now)
		return 0;
	return (uint64_t)llround((double)(d->vclock - now) * c->rate / 1e9);
}
