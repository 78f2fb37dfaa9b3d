/*
 * test_link.c — one direction of the emulated WAN link (lib/relay/link.h),
 * which geomx-relay's chunks cross, against what the configuration says:
 *   - rate: back-to-back units leave exactly len / rate apart, and the
 *     bytes still waiting (the drop-tail queue's measure) fall at the rate;
 *   - delay: exactly the delay, for a unit arriving at an idle link;
 *   - jitter: 10^5 units 10 ms apart, jitter 2 ms around 25 ms: every one
 *     within 25 +- 2 ms, the mean within 0.02 ms of 25 (the standard error
 *     of the mean is 1.155 ms / sqrt(10^5) = 0.004 ms: 5 of them), the
 *     spread within 2 % of 2 / sqrt(3) ms (the uniform's), in order;
 *   - order: a short draw behind a long one waits for it;
 *   - loss: 1 % over 10^5 draws within 1000 +- 160 (5 standard
 *     deviations of the binomial, sqrt(990) = 31.5);
 *   - Gilbert-Elliott: with p_gb 0.01, p_bg 0.25 and half the bad state's
 *     units lost, over 10^6 units the bad state holds 1/26 of them and the
 *     loss is 1/52, each within 10 % (the chain's correlation widens the
 *     binomial's error about 2.6-fold: 1.3 % for one standard deviation),
 *     and a stay in the bad state lasts 4 units on average, within 0.2
 *     (6 standard errors over about 9600 stays);
 *   - the same seed, the same draws; link_stamp's steps (link_send,
 *     link_jitter, link_jittered) taken apart give its times and draws;
 *   - a rate change (link_retime): what waits goes at the new rate from
 *     then on (the bytes waiting stay the same), the past stays, and
 *     without a rate what waited goes at once.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "geomx.h"
#include "relay/link.h"
#include "t.h"

#define MS 1000000ull

/* A link of rate bytes/s (0: none), delay and jitter in ns. */
static gx_relay_link link_of(double rate, uint64_t delay, uint64_t jitter)
{
	gx_relay_link c;
	memset(&c, 0, sizeof c);
	c.rate = rate;
	c.delay_ns = delay;
	c.jitter_ns = jitter;
	return c;
}

static void rate_and_backlog(void)
{
	gx_relay_link c = link_of(12.5e6, 25 * MS, 0); /* 100 Mbit/s: 1500 B in 120 us */
	link_dir d;
	link_init(&d, 1);
	for (int i = 0; i < 1000; i++) {
		uint64_t t = link_release(&d, link_stamp(&d, &c, 1500, 0));
		T_EQ(t, (uint64_t)(i + 1) * 120000 + 25 * MS);
	}
	T_EQ(link_backlog(&d, &c, 0), 1500000);
	T_EQ(link_backlog(&d, &c, 60000), 1500000 - 750);
	T_EQ(link_backlog(&d, &c, 120000000), 0);
	T_EQ(link_backlog(&d, &c, 200000000), 0);
	/* an idle link again: the delay alone */
	T_EQ(link_release(&d, link_stamp(&d, &c, 1500, 1000 * MS)), 1000 * MS + 120000 + 25 * MS);
}

static void delay_only(void)
{
	gx_relay_link c = link_of(0, 40 * MS, 0);
	link_dir d;
	link_init(&d, 2);
	T_EQ(link_release(&d, link_stamp(&d, &c, 65536, 7)), 7 + 40 * MS);
	T_EQ(link_backlog(&d, &c, 7), 0);
}

static void jitter_spread(void)
{
	gx_relay_link c = link_of(0, 25 * MS, 2 * MS);
	link_dir d;
	link_init(&d, 3);
	double sum = 0, sq = 0, lo = 1e18, hi = 0;
	uint64_t prev = 0;
	int n = 100000, ordered = 1;
	for (int i = 0; i < n; i++) {
		uint64_t at = (uint64_t)i * 10 * MS;
		uint64_t t = link_release(&d, link_stamp(&d, &c, 1500, at));
		double lat = (double)(t - at) / 1e6;
		sum += lat;
		sq += lat * lat;
		lo = lat < lo ? lat : lo;
		hi = lat > hi ? lat : hi;
		ordered &= t >= prev;
		prev = t;
	}
	double mean = sum / n, sd = sqrt(sq / n - mean * mean);
	T_ASSERT(lo >= 23.0 && hi <= 27.0);
	T_ASSERT(fabs(mean - 25.0) < 0.02);
	T_ASSERT(fabs(sd / (2.0 / sqrt(3.0)) - 1) < 0.02);
	T_ASSERT(ordered);
}

static void order_kept(void)
{
	gx_relay_link c = link_of(0, 10 * MS, 5 * MS);
	link_dir d;
	link_init(&d, 4);
	uint64_t prev = 0;
	int waited = 0;
	for (int i = 0; i < 1000; i++) { /* 1 ms apart: draws overtake each other */
		uint64_t at = (uint64_t)i * MS;
		uint64_t s = link_stamp(&d, &c, 100, at), t = link_release(&d, s);
		T_ASSERT(t >= prev && t >= s);
		waited += t > s;
		prev = t;
	}
	T_ASSERT(waited > 100); /* the clamp did happen, often */
}

static void loss_rate(void)
{
	link_dir d;
	link_init(&d, 5);
	int lost = 0;
	for (int i = 0; i < 100000; i++)
		lost += link_draw(&d, 0.01);
	T_ASSERT(lost >= 840 && lost <= 1160);
	T_EQ(link_draw(&d, 0.0), 0);
	T_EQ(link_draw(&d, 1.0), 1);
}

static void burst_loss(void)
{
	gx_relay_ge g = {.p_gb = 0.01, .p_bg = 0.25, .loss_good = 0, .loss_bad = 0.5};
	link_dir d;
	link_init(&d, 6);
	long n = 1000000, lost = 0, bad = 0, stays = 0;
	for (long i = 0; i < n; i++) {
		int was = d.bad;
		lost += link_ge_lost(&d, &g);
		bad += was;
		stays += !was && d.bad;
	}
	double pi_bad = 0.01 / 0.26;
	T_ASSERT(fabs((double)bad / n / pi_bad - 1) < 0.1);
	T_ASSERT(fabs((double)lost / n / (pi_bad * 0.5) - 1) < 0.1);
	T_ASSERT(stays > 0 && fabs((double)bad / stays - 4.0) < 0.2);
}

static void same_seed_same_draws(void)
{
	gx_relay_link c = link_of(0, 5 * MS, 3 * MS);
	link_dir a, b;
	link_init(&a, 42);
	link_init(&b, 42);
	int same = 1;
	for (int i = 0; i < 1000; i++) {
		uint64_t at = (uint64_t)i * 7 * MS;
		same &= link_stamp(&a, &c, 10, at) == link_stamp(&b, &c, 10, at);
		same &= link_draw(&a, 0.3) == link_draw(&b, 0.3);
	}
	T_ASSERT(same);
}

/* The packet emulator takes link_stamp apart to keep each step's result:
 * the same times from the same draws. */
static void stamp_in_steps(void)
{
	gx_relay_link c = link_of(1e6, 5 * MS, 3 * MS);
	link_dir a, b;
	link_init(&a, 9);
	link_init(&b, 9);
	int same = 1;
	for (int i = 0; i < 1000; i++) {
		uint64_t at = (uint64_t)i * MS / 2; /* faster than the rate: a queue builds */
		uint64_t tx = link_send(&b, &c, 1000, at);
		same &= link_stamp(&a, &c, 1000, at) ==
			link_jittered(tx + c.delay_ns, link_jitter(&b, &c), at);
	}
	T_ASSERT(same);
	T_EQ(a.vclock, b.vclock);
	gx_relay_link none = link_of(0, 0, 0);
	T_EQ(link_jitter(&a, &none), 0);
	T_EQ(link_jittered(10 * MS, -20 * (int64_t)MS, 4 * MS), 4 * MS); /* never before now */
}

/* 100 units of 1500 bytes at 12.5 MB/s from 0: the link is busy until
 * 12 ms. At 6 ms the rate halves: the 75000 bytes left take 12 ms more. */
static void rate_change(void)
{
	gx_relay_link c = link_of(12.5e6, 0, 0), half = link_of(6.25e6, 0, 0);
	link_dir d;
	link_init(&d, 1);
	uint64_t t[100];
	for (int i = 0; i < 100; i++)
		t[i] = link_send(&d, &c, 1500, 0);
	T_EQ(d.vclock, 12 * MS);
	uint64_t now = 6 * MS;
	T_EQ(link_backlog(&d, &c, now), 75000);
	d.vclock = link_retime(d.vclock, c.rate, half.rate, now);
	T_EQ(d.vclock, 18 * MS);
	T_EQ(link_backlog(&d, &half, now), 75000); /* the same bytes wait */
	T_EQ(link_retime(t[49], c.rate, half.rate, now), 6 * MS);   /* the one leaving now */
	T_EQ(link_retime(t[50], c.rate, half.rate, now), 6 * MS + 240000); /* then 240 us each */
	T_EQ(link_retime(t[10], c.rate, half.rate, now), t[10]); /* gone before: kept */
	T_EQ(link_retime(t[99], c.rate, c.rate, now), t[99]);
	T_EQ(link_retime(t[99], c.rate, 0, now), now); /* no rate: at once */
	/* the next unit queues behind what waits, at the new rate */
	T_EQ(link_send(&d, &half, 1500, now), 18 * MS + 240000);
}

int main(void)
{
	T_RUN(rate_and_backlog);
	T_RUN(delay_only);
	T_RUN(jitter_spread);
	T_RUN(order_kept);
	T_RUN(loss_rate);
	T_RUN(burst_loss);
	T_RUN(same_seed_same_draws);
	T_RUN(stamp_in_steps);
	T_RUN(rate_change);
	T_DONE();
}
