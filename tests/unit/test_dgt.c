/* test_dgt.c — the arithmetic of differential gradient transmission
 * (codec/dgt.h): the channels of a round against a ranking worked out by
 * hand, the contributions' moving average, the error-feedback invariant
 * through a receiver under loss (what arrived plus the residual equals what
 * was pushed, bit for bit in F32), a lost block folded back whole, the
 * receiver's refusals, and K's controller. */
#include <math.h>

#include "geomx.h"
#include "codec/dgt.h"
#include "t.h"

/* Ten blocks of 4 elements; block b's elements all (b * 7 % 10 + 1) / 8:
 * magnitudes 1, 8, 5, 2, 9, 6, 3, 10, 7, 4 (eighths), so the ranking is
 * blocks 7, 4, 1, 8, 5, 2, 9, 6, 3, 0. */
static void test_channels(void)
{
	gx_dgt *d = gx_dgt_create(40, 4, GX_CODEC_F32);
	T_REQUIRE(d);
	T_EQ(gx_dgt_nblocks(d), 10);
	float sum[40];
	for (int i = 0; i < 40; i++)
		sum[i] = (float)((i / 4) * 7 % 10 + 1) / 8 * (i % 2 ? -1 : 1);
	uint8_t chan[10];
	/* K 0.2: blocks 7 and 4 reliable; the other eight in two runs of four */
	T_EQ(gx_dgt_plan(d, sum, 0.2, 2, chan), 0);
	const uint8_t want[10] = { 2, 1, 1, 2, 0, 1, 2, 0, 1, 2 };
	T_ASSERT(memcmp(chan, want, 10) == 0);
	uint16_t n = 0;
	const float *v = gx_dgt_values(d, 9, &n);
	T_ASSERT(v && n == 4 && v[0] == sum[36] && v[1] == sum[37]);
	T_ASSERT(gx_dgt_values(d, 10, &n) == NULL);
	/* more plans before the fold are taken (GX_DGT_INFLIGHT in flight),
	 * one more refused; the folds take the oldest first */
	T_EQ(gx_dgt_planned(d), 1);
	for (int i = 1; i < GX_DGT_INFLIGHT; i++)
		T_EQ(gx_dgt_plan(d, sum, 0.2, 2, chan), 0);
	T_EQ(gx_dgt_planned(d), GX_DGT_INFLIGHT);
	T_EQ(gx_dgt_plan(d, sum, 0.2, 2, chan), GX_EINVAL);
	uint8_t all[2] = { 0xff, 0x03 };
	gx_dgt_fold_stats st;
	for (int i = 2; i < GX_DGT_INFLIGHT; i++)
		T_EQ(gx_dgt_fold(d, all, NULL), 0);
	T_EQ(gx_dgt_fold(d, all, &st), 0);
	T_EQ(gx_dgt_planned(d), 1);
	T_EQ(st.sent[0], 2);
	T_EQ(st.sent[1], 4);
	T_EQ(st.sent[2], 4);
	T_EQ(st.lost[1] + st.lost[2], 0);
	T_EQ(st.folded_sq, 0);
	T_EQ(gx_dgt_fold(d, all, &st), 0);
	T_EQ(gx_dgt_planned(d), 0);
	T_EQ(gx_dgt_fold(d, all, &st), GX_EINVAL);
	/* K 0.04 (0.4 blocks): none reliable, three channels of 4, 3 and 3
	 * in the same ranking (7 4 {1 8} {2 5} 9 {0 3 6}); K 1: all */
	T_EQ(gx_dgt_plan(d, sum, 0.04, 3, chan), 0);
	const uint8_t want3[10] = { 3, 1, 2, 3, 1, 2, 3, 1, 1, 2 };
	T_ASSERT(memcmp(chan, want3, 10) == 0);
	gx_dgt_fold(d, all, NULL);
	T_EQ(gx_dgt_plan(d, sum, 1, 3, chan), 0);
	int zeros = 0;
	for (int b = 0; b < 10; b++)
		zeros += chan[b] == 0;
	T_EQ(zeros, 10);
	gx_dgt_fold(d, all, NULL);
	/* refusals */
	T_EQ(gx_dgt_plan(d, sum, 1.5, 2, chan), GX_EINVAL);
	T_EQ(gx_dgt_plan(d, sum, NAN, 2, chan), GX_EINVAL);
	T_EQ(gx_dgt_plan(d, sum, 0.5, 0, chan), GX_EINVAL);
	T_EQ(gx_dgt_plan(d, sum, 0.5, GX_DGT_CHANNELS_MAX + 1, chan), GX_EINVAL);
	gx_dgt_free(d);
	T_ASSERT(gx_dgt_create(0, 4, GX_CODEC_F32) == NULL);
	T_ASSERT(gx_dgt_create(40, 0, GX_CODEC_F32) == NULL);
	T_ASSERT(gx_dgt_create(40, 70000, GX_CODEC_F32) == NULL);
	T_ASSERT(gx_dgt_create(40, 4, GX_CODEC_SPARSE_F32) == NULL);
	gx_dgt_free(NULL);
}

/* The ranking follows the moving average, not the round alone: block 0
 * carries 1.0 then 0.1, block 1 0.5 then 0.6; after round 2 block 0's
 * average is 0.3 x 0.1 + 0.7 x 1.0 = 0.73 against 0.3 x 0.6 + 0.7 x 0.5
 * = 0.53, so block 0 stays first although block 1 carries more now. */
static void test_moving_average(void)
{
	gx_dgt *d = gx_dgt_create(4, 2, GX_CODEC_F32);
	T_REQUIRE(d);
	uint8_t chan[2], all[1] = { 3 };
	float r1[4] = { 1, -1, 0.5f, 0.5f }, r2[4] = { 0.1f, 0.1f, -0.6f, 0.6f };
	T_EQ(gx_dgt_plan(d, r1, 0.5, 1, chan), 0);
	T_ASSERT(chan[0] == 0 && chan[1] == 1);
	gx_dgt_fold(d, all, NULL);
	T_EQ(gx_dgt_plan(d, r2, 0.5, 1, chan), 0);
	T_ASSERT(chan[0] == 0 && chan[1] == 1);
	gx_dgt_fold(d, all, NULL);
	/* two more rounds of r2: 0.3 x 0.1 + 0.7 x 0.73 = 0.541 against
	 * 0.3 x 0.6 + 0.7 x 0.53 = 0.551: now block 1 */
	T_EQ(gx_dgt_plan(d, r2, 0.5, 1, chan), 0);
	T_ASSERT(chan[0] == 1 && chan[1] == 0);
	gx_dgt_fold(d, all, NULL);
	gx_dgt_free(d);
}

/* Two rounds in flight, the same block lost in both, the words in order:
 * the second round's word comes when it is alone in flight, but after the
 * first's changed the residual, so it must add, not overwrite (what it did
 * at first, losing the first round's block). */
static void test_fold_after_fold(void)
{
	gx_dgt *d = gx_dgt_create(8, 4, GX_CODEC_F32);
	T_REQUIRE(d);
	float a[8] = { 1, 2, 3, 4, 0.5f, 0.25f, 0.125f, 0.0625f }, b[8];
	for (int i = 0; i < 8; i++)
		b[i] = a[i] * 2;
	uint8_t chan[2], lost1 = 0x01; /* block 1 lost (bit 1 clear), block 0 in */
	T_EQ(gx_dgt_plan(d, a, 0, 1, chan), 0);
	T_EQ(gx_dgt_plan(d, b, 0, 1, chan), 0);
	T_EQ(gx_dgt_fold(d, &lost1, NULL), 0);
	T_EQ(gx_dgt_fold(d, &lost1, NULL), 0);
	/* what arrived: block 0 of both; kept: block 1 of both */
	const float *res = gx_dgt_residual(d);
	int exact = 1;
	for (int i = 0; i < 4; i++)
		exact &= res[i] == 0;
	for (int i = 4; i < 8; i++)
		exact &= res[i] == a[i] + b[i];
	T_ASSERT(exact);
	gx_dgt_free(d);
}

static uint64_t g_rng = 12345;
static uint32_t rnd(void)
{
	g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(g_rng >> 33);
}

/* Rounds of pushes through a receiver that loses a third of the lossy
 * blocks: every round, what the receiver holds plus the residual is the
 * round's sum plus the residual before, and over all rounds what arrived
 * plus the residual is what was pushed. Values are multiples of 1/64
 * below 8, so every sum here is exact in float and the check is bit for
 * bit. */
static void test_invariant_f32(void)
{
	enum { COUNT = 1000, BLOCK = 37, ROUNDS = 60 };
	gx_dgt *d = gx_dgt_create(COUNT, BLOCK, GX_CODEC_F32);
	gx_dgt_rx *rx = gx_dgt_rx_create(COUNT, BLOCK, 0);
	T_REQUIRE(d && rx);
	uint32_t nb = gx_dgt_nblocks(d);
	T_EQ(gx_dgt_rx_nblocks(rx), nb);
	static float sum[COUNT], pushed[COUNT], arrived[COUNT];
	uint8_t chan[32];
	long lost = 0, sent_lossy = 0;
	int exact = 1;
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < COUNT; i++) {
			sum[i] = (float)((int)(rnd() % 129) - 64) / 64;
			pushed[i] += sum[i];
		}
		T_REQUIRE(gx_dgt_plan(d, sum, 0.25, 3, chan) == 0);
		for (uint32_t b = 0; b < nb; b++) {
			if (chan[b] && rnd() % 3 == 0) {
				lost++;
				continue;
			}
			sent_lossy += chan[b] != 0;
			uint16_t n;
			const void *v = gx_dgt_values(d, b, &n);
			T_REQUIRE(gx_dgt_rx_put(rx, (uint64_t)r, b, GX_CODEC_F32, v, n) == GX_DGT_PLACED);
		}
		T_EQ(gx_dgt_rx_close(rx), (uint64_t)r);
		const float *got = gx_dgt_rx_values(rx);
		for (int i = 0; i < COUNT; i++)
			arrived[i] += got[i];
		gx_dgt_fold_stats st;
		T_REQUIRE(gx_dgt_fold(d, gx_dgt_rx_bitmap(rx), &st) == 0);
		gx_dgt_rx_release(rx);
		const float *res = gx_dgt_residual(d);
		for (int i = 0; i < COUNT; i++)
			exact &= arrived[i] + res[i] == pushed[i];
		T_ASSERT(st.lost[0] == 0);
	}
	T_ASSERT(exact);
	T_ASSERT(lost > 100 && sent_lossy > 100);
	gx_dgt_free(d);
	gx_dgt_rx_free(rx);
}

/* The word on each round comes after the next round is planned (two in
 * flight, as when the answers overtake the words): a lost block goes in
 * the round after next, and over all rounds what arrived plus the
 * residual and what is still in flight is what was pushed, bit for bit
 * (values as in test_invariant_f32). */
static void test_invariant_pipelined(void)
{
	enum { COUNT = 500, BLOCK = 23, ROUNDS = 40 };
	gx_dgt *d = gx_dgt_create(COUNT, BLOCK, GX_CODEC_F32);
	gx_dgt_rx *rx = gx_dgt_rx_create(COUNT, BLOCK, 0);
	T_REQUIRE(d && rx);
	uint32_t nb = gx_dgt_nblocks(d);
	static float sum[COUNT], pushed[COUNT], arrived[COUNT];
	uint8_t chan[32], bits[2][4];
	long lost = 0;
	for (int r = 0; r <= ROUNDS; r++) {
		if (r < ROUNDS) {
			for (int i = 0; i < COUNT; i++) {
				sum[i] = (float)((int)(rnd() % 129) - 64) / 64;
				pushed[i] += sum[i];
			}
			T_REQUIRE(gx_dgt_plan(d, sum, 0.2, 2, chan) == 0);
			for (uint32_t b = 0; b < nb; b++) {
				if (chan[b] && rnd() % 4 == 0) {
					lost++;
					continue;
				}
				uint16_t n;
				const void *v = gx_dgt_values(d, b, &n);
				T_REQUIRE(gx_dgt_rx_put(rx, (uint64_t)r, b, GX_CODEC_F32, v, n) ==
					  GX_DGT_PLACED);
			}
			T_EQ(gx_dgt_rx_close(rx), (uint64_t)r);
			const float *got = gx_dgt_rx_values(rx);
			for (int i = 0; i < COUNT; i++)
				arrived[i] += got[i];
			memcpy(bits[r % 2], gx_dgt_rx_bitmap(rx), sizeof bits[0]);
			gx_dgt_rx_release(rx);
		}
		/* the word on the round before, now */
		if (r > 0)
			T_REQUIRE(gx_dgt_fold(d, bits[(r - 1) % 2], NULL) == 0);
	}
	T_EQ(gx_dgt_planned(d), 0);
	const float *res = gx_dgt_residual(d);
	int exact = 1;
	for (int i = 0; i < COUNT; i++)
		exact &= arrived[i] + res[i] == pushed[i];
	T_ASSERT(exact);
	T_ASSERT(lost > 50);
	gx_dgt_free(d);
	gx_dgt_rx_free(rx);
}

/* F16: a delivered block leaves its rounding in the residual, a lost one
 * is folded back whole (residual = g); the invariant holds to float
 * rounding. */
static void test_f16_fold(void)
{
	gx_dgt *d = gx_dgt_create(8, 4, GX_CODEC_F16);
	gx_dgt_rx *rx = gx_dgt_rx_create(8, 4, 0);
	T_REQUIRE(d && rx);
	float sum[8] = { 0.1f, 0.2f, 0.3f, 0.4f, 1e-3f, 2e-3f, 3e-3f, 4e-3f };
	uint8_t chan[2];
	T_EQ(gx_dgt_plan(d, sum, 0.5, 1, chan), 0);
	T_ASSERT(chan[0] == 0 && chan[1] == 1);
	uint16_t n;
	const void *v = gx_dgt_values(d, 0, &n);
	T_EQ(gx_dgt_rx_put(rx, 0, 0, GX_CODEC_F16, v, n), GX_DGT_PLACED);
	gx_dgt_rx_close(rx);
	T_EQ(gx_dgt_fold(d, gx_dgt_rx_bitmap(rx), NULL), 0);
	const float *res = gx_dgt_residual(d), *got = gx_dgt_rx_values(rx);
	for (int i = 0; i < 4; i++) {
		T_ASSERT(got[i] + res[i] == sum[i]);
		T_ASSERT(res[i] != 0 || got[i] == sum[i]);
	}
	for (int i = 4; i < 8; i++)
		T_ASSERT(got[i] == 0 && res[i] == sum[i]);
	gx_dgt_free(d);
	gx_dgt_rx_free(rx);
}

static void test_receiver(void)
{
	gx_dgt_rx *rx = gx_dgt_rx_create(10, 4, 0); /* blocks of 4, 4, 2 */
	T_REQUIRE(rx);
	float a[4] = { 1, 2, 3, 4 };
	const uint8_t *p = (const uint8_t *)a;
	uint64_t r;
	T_EQ(gx_dgt_rx_open(rx, &r), 0);
	/* round 0 opens on its first block; round 1 cannot yet */
	T_EQ(gx_dgt_rx_put(rx, 1, 0, GX_CODEC_F32, p, 4), GX_DGT_STRAY);
	T_EQ(gx_dgt_rx_put(rx, 0, 1, GX_CODEC_F32, p, 4), GX_DGT_PLACED);
	T_ASSERT(gx_dgt_rx_open(rx, &r) == 1 && r == 0);
	T_EQ(gx_dgt_rx_put(rx, 0, 1, GX_CODEC_F32, p, 4), GX_DGT_DUP);
	T_EQ(gx_dgt_rx_put(rx, 0, 2, GX_CODEC_F32, p, 4), GX_DGT_STRAY); /* 2 elements */
	T_EQ(gx_dgt_rx_put(rx, 0, 3, GX_CODEC_F32, p, 2), GX_DGT_STRAY); /* no block 3 */
	T_EQ(gx_dgt_rx_put(rx, 0, 2, GX_CODEC_SPARSE_F32, p, 2), GX_DGT_STRAY);
	T_EQ(gx_dgt_rx_put(rx, 0, 2, GX_CODEC_F32, p, 2), GX_DGT_PLACED);
	T_EQ(gx_dgt_rx_have(rx), 2);
	T_EQ(gx_dgt_rx_close(rx), 0);
	const float *v = gx_dgt_rx_values(rx);
	T_ASSERT(v[0] == 0 && v[4] == 1 && v[7] == 4 && v[8] == 1 && v[9] == 2);
	T_EQ(gx_dgt_rx_bitmap(rx)[0], 6);
	/* held: round 1 waits for the release; round 0 is late */
	T_EQ(gx_dgt_rx_put(rx, 1, 0, GX_CODEC_F32, p, 4), GX_DGT_STRAY);
	T_EQ(gx_dgt_rx_put(rx, 0, 0, GX_CODEC_F32, p, 4), GX_DGT_LATE);
	gx_dgt_rx_release(rx);
	/* a round with nothing: closed empty */
	T_EQ(gx_dgt_rx_close(rx), 1);
	T_ASSERT(gx_dgt_rx_values(rx)[4] == 0 && gx_dgt_rx_bitmap(rx)[0] == 0);
	gx_dgt_rx_release(rx);
	/* F16 blocks decode */
	uint16_t h[4];
	gx_f32_to_f16(a, h, 4);
	T_EQ(gx_dgt_rx_put(rx, 2, 0, GX_CODEC_F16, (const uint8_t *)h, 4), GX_DGT_PLACED);
	T_EQ(gx_dgt_rx_put(rx, 1, 0, GX_CODEC_F16, (const uint8_t *)h, 4), GX_DGT_LATE);
	T_ASSERT(gx_dgt_rx_values(rx)[3] == 4);
	gx_dgt_rx_free(rx);
	T_ASSERT(gx_dgt_rx_create(0, 4, 0) == NULL);
	gx_dgt_rx_free(NULL);
}

static void test_k(void)
{
	gx_dgt_k c = { .k = 0.2, .k_min = 0.05, .k_max = 0.8, .target = 0.01 };
	/* nothing delayed: halves, down to the least */
	T_NEAR(gx_dgt_k_next(&c, 0, 100), 0.1, 1e-12);
	T_NEAR(gx_dgt_k_next(&c, 0, 100), 0.05, 1e-12);
	T_NEAR(gx_dgt_k_next(&c, 0, 100), 0.05, 1e-12);
	/* four times the target: doubles; on target: stays; past: the most */
	T_NEAR(gx_dgt_k_next(&c, 4, 100), 0.1, 1e-12);
	T_NEAR(gx_dgt_k_next(&c, 1, 100), 0.1, 1e-12);
	T_NEAR(gx_dgt_k_next(&c, 2.25, 100), 0.15, 1e-12);
	for (int i = 0; i < 10; i++)
		gx_dgt_k_next(&c, 50, 100);
	T_NEAR(c.k, 0.8, 1e-12);
	/* from 0, loss brings it up */
	gx_dgt_k z = { .k = 0, .k_min = 0, .k_max = 1, .target = 0.01 };
	T_ASSERT(gx_dgt_k_next(&z, 10, 100) > 0);
}

int main(void)
{
	T_RUN(test_channels);
	T_RUN(test_moving_average);
	T_RUN(test_invariant_f32);
	T_RUN(test_invariant_pipelined);
	T_RUN(test_fold_after_fold);
	T_RUN(test_f16_fold);
	T_RUN(test_receiver);
	T_RUN(test_k);
	T_DONE();
}
