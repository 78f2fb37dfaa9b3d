/* test_nn.c — the neural-network engine's interface: presets and their
 * parameter counts, the spec grammar and its error offsets, Xavier
 * initialisation from a seed, checksums, argument checking, predict/eval
 * agreement, scratch reuse, small training runs (softmax and linear
 * regression learn; the cnn overfits a batch), the passes' hooks (their
 * order, and that they leave the bits alone) and a '#' line timing one cnn
 * step at batch 32 on one BLAS thread. Gradients: test_nn_grad.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geomx.h"
#include "t.h"

static void t_presets(void)
{
	static const struct {
		const char *name, *spec;
		uint64_t np;
		size_t nt, out;
		int loss;
	} P[] = {
		{ "cnn",
		  "conv:16:5,relu,pool:2,conv:32:5,relu,pool:2,dense:256,relu,dense:128,relu,dense:10,xent",
		  178762, 10, 10, GX_LOSS_XENT },
		{ "cnn-wide",
		  "conv:64:5,relu,pool:2,conv:128:5,relu,pool:2,dense:1024,relu,dense:128,relu,dense:10,xent",
		  2437258, 10, 10, GX_LOSS_XENT },
		{ "mlp", "dense:256,relu,dense:128,relu,dense:10,xent", 235146, 6, 10, GX_LOSS_XENT },
		{ "logreg", "dense:10,xent", 7850, 2, 10, GX_LOSS_XENT },
		{ "linreg", "dense:1,mse", 785, 2, 1, GX_LOSS_MSE },
	};
	for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
		int err = 1;
		gx_model *m = gx_model_create(P[i].name, 1, 28, 28, 7, &err, NULL);
		T_REQUIRE(m);
		T_EQ(err, 0);
		T_ASSERT(strcmp(gx_model_spec(m), P[i].spec) == 0);
		T_EQ(gx_model_nparams(m), P[i].np);
		T_EQ(gx_model_ntensors(m), P[i].nt);
		T_EQ(gx_model_out_size(m), P[i].out);
		T_EQ(gx_model_in_size(m), 784);
		T_EQ(gx_model_loss(m), P[i].loss);
		uint64_t off = 0;
		for (size_t k = 0; k < gx_model_ntensors(m); k++) {
			gx_tensor_info ti;
			T_REQUIRE(gx_model_tensor(m, k, &ti) == 0);
			T_EQ(ti.key, k);
			T_EQ(ti.offset, off);
			T_EQ(ti.is_bias, (int)(k & 1));
			T_ASSERT(ti.data == gx_model_params(m) + off);
			T_ASSERT(ti.grad == gx_model_grads(m) + off);
			off += ti.count;
		}
		T_EQ(off, P[i].np);
		gx_tensor_info ti;
		T_EQ(gx_model_tensor(m, gx_model_ntensors(m), &ti), GX_EINVAL);
		/* the spec round-trips */
		gx_model *m2 = gx_model_create(gx_model_spec(m), 1, 28, 28, 7, &err, NULL);
		T_REQUIRE(m2);
		T_ASSERT(strcmp(gx_model_spec(m2), P[i].spec) == 0);
		T_EQ(gx_model_checksum(m2), gx_model_checksum(m));
		gx_model_free(m2);
		gx_model_free(m);
	}
	/* the cnn's tensors, in PyTorch's state_dict order and shapes */
	static const uint64_t counts[] = { 400, 16, 12800, 32, 131072, 256, 32768, 128, 1280, 10 };
	static const char *const names[] = { "conv0.weight", "conv0.bias", "conv3.weight",
					     "conv3.bias", "dense6.weight", "dense6.bias",
					     "dense8.weight", "dense8.bias", "dense10.weight",
					     "dense10.bias" };
	gx_model *m = gx_model_create("cnn", 1, 28, 28, 1, NULL, NULL);
	T_REQUIRE(m);
	for (size_t k = 0; k < 10; k++) {
		gx_tensor_info ti;
		gx_model_tensor(m, k, &ti);
		T_EQ(ti.count, counts[k]);
		T_ASSERT(strcmp(ti.name, names[k]) == 0);
	}
	char buf[2048];
	int n = gx_model_describe(m, buf, sizeof buf);
	T_ASSERT(n > 0 && (size_t)n < sizeof buf && strstr(buf, "178762 total"));
	T_ASSERT(strstr(buf, "32x4x4"));
	T_EQ(gx_model_describe(m, NULL, 0), n);
	gx_model_free(m);
	gx_model_free(NULL);
}

static void t_spec_grammar(void)
{
	static const struct {
		const char *spec;
		size_t off;
		const char *msg;
	} E[] = {
		{ "", 0, "empty item" },
		{ "conv:16:5,relu,foo", 15, "unknown layer 'foo'" },
		{ "conv:16", 0, "conv takes" },
		{ "dense:10,mse,relu", 9, "the loss must be the last" },
		{ "conv:16:30", 0, "larger than the 28x28 input" },
		{ "dense:0", 0, "at least 1" },
		{ "dense:10x", 8, "unexpected 'x'" },
		{ "dense:", 6, "expected a number" },
		{ "relu", 0, "no layer with parameters" },
		{ "relu,mse", 0, "no layer with parameters" },
		{ "dense:10,,dense:2", 9, "empty item" },
		{ "pool:3:2:1", 0, "pool takes" },
		{ "conv:4:3:1:3", 0, "PAD 3 must be smaller" },
		{ "dense:10,mse:2", 9, "takes no arguments" },
		{ "dense:99999999999", 0, "larger than" },
		{ "Dense:10", 0, "expected a layer name" },
		{ "pool:2,pool:2,pool:2,pool:2,pool:2,dense:1", 28, "window 2 larger than the 1x1" },
	};
	for (size_t i = 0; i < sizeof E / sizeof E[0]; i++) {
		int err = 0;
		gx_spec_error why = { 99, "" };
		gx_model *m = gx_model_create(E[i].spec, 1, 28, 28, 1, &err, &why);
		T_ASSERT(!m);
		T_EQ(err, GX_EINVAL);
		if (why.offset != E[i].off || !strstr(why.msg, E[i].msg))
			printf("#   '%s': offset %zu '%s'\n", E[i].spec, why.offset, why.msg);
		T_EQ(why.offset, E[i].off);
		T_ASSERT(strstr(why.msg, E[i].msg));
		gx_model_free(m);
	}
	int err = 0;
	T_ASSERT(!gx_model_create(NULL, 1, 28, 28, 1, &err, NULL) && err == GX_EINVAL);
	T_ASSERT(!gx_model_create("cnn", 0, 28, 28, 1, &err, NULL) && err == GX_EINVAL);
	T_ASSERT(!gx_model_create("cnn", 1, 12, 12, 1, &err, NULL) && err == GX_EINVAL);
	T_ASSERT(!gx_model_create("dense:1000000,dense:1000000", 1, 28, 28, 1, &err, NULL) &&
		 err == GX_ETOOBIG);

	/* blanks around items, defaults written out or left out, the loss */
	gx_model *m = gx_model_create(" conv:4:3:1:1 , relu,pool:2:2,\tdense:5 , xent ", 3, 8, 8, 1,
				      &err, NULL);
	T_REQUIRE(m);
	T_ASSERT(strcmp(gx_model_spec(m), "conv:4:3:1:1,relu,pool:2,dense:5,xent") == 0);
	T_EQ(gx_model_nparams(m), 4 * 3 * 9 + 4 + 5 * 4 * 4 * 4 + 5);
	gx_model_free(m);
	m = gx_model_create("conv:2:3:2,pool:3:1,dense:3,mse", 1, 11, 11, 1, &err, NULL);
	T_REQUIRE(m);
	T_ASSERT(strcmp(gx_model_spec(m), "conv:2:3:2,pool:3:1,dense:3,mse") == 0);
	T_EQ(gx_model_nparams(m), 2 * 9 + 2 + 3 * 2 * 3 * 3 + 3); /* 11 -> 5 -> 3 */
	gx_model_free(m);
}

static void t_init(void)
{
	gx_model *a = gx_model_create("cnn", 1, 28, 28, 42, NULL, NULL);
	gx_model *b = gx_model_create("cnn", 1, 28, 28, 42, NULL, NULL);
	gx_model *c = gx_model_create("cnn", 1, 28, 28, 43, NULL, NULL);
	T_REQUIRE(a && b && c);
	T_EQ(gx_model_checksum(a), gx_model_checksum(b));
	T_ASSERT(gx_model_checksum(a) != gx_model_checksum(c));
	T_EQ(gx_model_checksum(a),
	     gx_crc32c(0, gx_model_params(a), gx_model_nparams(a) * sizeof(float)));
	/* Xavier uniform: |w| <= a, variance a^2 / 3; biases zero */
	for (size_t k = 0; k < gx_model_ntensors(a); k++) {
		gx_tensor_info ti;
		gx_model_tensor(a, k, &ti);
		static const double fan[5][2] = { { 25, 400 }, { 400, 800 }, { 512, 256 },
						  { 256, 128 }, { 128, 10 } };
		double lim = sqrt(6.0 / (fan[k / 2][0] + fan[k / 2][1])), s2 = 0, mx = 0;
		for (uint64_t j = 0; j < ti.count; j++) {
			s2 += (double)ti.data[j] * ti.data[j];
			mx = fabs(ti.data[j]) > mx ? fabs(ti.data[j]) : mx;
		}
		if (ti.is_bias) {
			T_ASSERT(mx == 0);
			continue;
		}
		T_ASSERT(mx <= lim);
		T_ASSERT(mx > 0.9 * lim);
		double var = s2 / ti.count, want = lim * lim / 3;
		T_NEAR(var / want, 1.0, 5.0 / sqrt((double)ti.count) + 0.02);
	}
	gx_model_free(a);
	gx_model_free(b);
	gx_model_free(c);
}

static void fill(float *x, size_t n, uint64_t seed)
{
	gx_rng r;
	gx_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		x[i] = gx_rng_float(&r);
}

static void t_args(void)
{
	gx_model *m = gx_model_create("conv:3:3,relu,pool:2,dense:4", 2, 6, 6, 1, NULL, NULL);
	T_REQUIRE(m);
	float x[5 * 72], y[5] = { 0, 1, 2, 3, 1 }, out[20], loss = -1;
	fill(x, sizeof x / sizeof x[0], 3);
	T_EQ(gx_model_forward_backward(m, x, y, 5, &loss), 0);
	T_ASSERT(loss > 0);
	size_t np = gx_model_nparams(m);
	float *g = malloc(np * sizeof *g);
	T_REQUIRE(g);
	memcpy(g, gx_model_grads(m), np * sizeof *g);
	float bad[][5] = { { 0, 1, 2, 4, 1 }, { 0, 1, 2, -1, 1 }, { 0, 1.5f, 2, 3, 1 },
			   { 0, NAN, 2, 3, 1 } };
	for (size_t i = 0; i < 4; i++) {
		T_EQ(gx_model_forward_backward(m, x, bad[i], 5, NULL), GX_EINVAL);
		T_EQ(gx_model_eval(m, x, bad[i], 5, 2, NULL, NULL), GX_EINVAL);
	}
	T_ASSERT(memcmp(g, gx_model_grads(m), np * sizeof *g) == 0); /* untouched */
	T_EQ(gx_model_forward_backward(m, x, y, 0, NULL), GX_EINVAL);
	T_EQ(gx_model_forward_backward(m, NULL, y, 1, NULL), GX_EINVAL);
	T_EQ(gx_model_predict(m, x, 0, out), GX_EINVAL);
	T_EQ(gx_model_eval(m, x, y, 0, 2, NULL, NULL), GX_EINVAL);
	T_EQ(gx_model_eval(m, x, y, 5, 0, NULL, NULL), GX_EINVAL);
	T_EQ(gx_model_reserve(m, 0), GX_EINVAL);
	T_EQ(gx_blas_threads(0), GX_EINVAL);
	T_EQ(gx_blas_threads(1), 0);
	free(g);
	gx_model_free(m);
}

static void t_predict_eval(void)
{
	enum { N = 23 };
	gx_model *m = gx_model_create("conv:4:3,relu,pool:2,dense:6,relu,dense:5", 3, 7, 7, 5, NULL,
				      NULL);
	T_REQUIRE(m);
	float x[N * 147], y[N], z[N * 5];
	fill(x, sizeof x / sizeof x[0], 9);
	gx_rng r;
	gx_rng_seed(&r, 4);
	for (int i = 0; i < N; i++)
		y[i] = (float)gx_rng_below(&r, 5);
	T_EQ(gx_model_predict(m, x, N, z), 0);
	double want = 0, right = 0;
	for (int i = 0; i < N; i++) {
		const float *q = z + i * 5;
		double mx = q[0], s = 0;
		int best = 0;
		for (int j = 1; j < 5; j++)
			if (q[j] > q[best])
				best = j;
		mx = q[best];
		for (int j = 0; j < 5; j++)
			s += exp(q[j] - mx);
		want += mx + log(s) - q[(int)y[i]];
		right += best == (int)y[i];
	}
	want /= N;
	for (int b = 1; b <= N + 3; b += 4) {
		double loss = -1, acc = -1;
		T_EQ(gx_model_eval(m, x, y, N, b, &loss, &acc), 0);
		T_NEAR(loss, want, 1e-5);
		T_NEAR(acc, right / N, 1e-12);
	}
	/* predict of one example at a time agrees with the batch */
	for (int i = 0; i < N; i += 5) {
		float one[5];
		T_EQ(gx_model_predict(m, x + i * 147, 1, one), 0);
		for (int j = 0; j < 5; j++)
			T_NEAR(one[j], z[i * 5 + j], 1e-5);
	}
	gx_model_free(m);

	m = gx_model_create("linreg", 1, 1, 3, 1, NULL, NULL);
	T_REQUIRE(m);
	double acc = 0, loss = -1;
	T_EQ(gx_model_eval(m, x, y, 4, 2, &loss, &acc), 0);
	T_ASSERT(isnan(acc) && loss > 0);
	gx_model_free(m);
}

/* Gradients do not depend on what the scratch saw before. */
static void t_scratch(void)
{
	gx_model *m = gx_model_create("cnn", 1, 28, 28, 3, NULL, NULL);
	T_REQUIRE(m);
	size_t np = gx_model_nparams(m);
	float *x = malloc(sizeof *x * 784 * 9), y[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	float *g = malloc(sizeof *g * np);
	T_REQUIRE(x && g);
	fill(x, 784 * 9, 1);
	float l1, l2, l3;
	T_EQ(gx_model_forward_backward(m, x, y, 4, &l1), 0);
	memcpy(g, gx_model_grads(m), sizeof *g * np);
	T_EQ(gx_model_forward_backward(m, x, y, 9, &l2), 0);
	T_EQ(gx_model_forward_backward(m, x, y, 4, &l3), 0);
	T_NEAR(l1, l3, 1e-6);
	double d = 0, n = 0;
	for (size_t i = 0; i < np; i++) {
		d += fabs(g[i] - gx_model_grads(m)[i]);
		n += fabs(g[i]);
	}
	T_ASSERT(d <= 1e-6 * n);
	T_EQ(gx_model_reserve(m, 2), 0);
	T_EQ(gx_model_reserve(m, 1 << 30), GX_ETOOBIG);
	free(x);
	free(g);
	gx_model_free(m);
}

static int sgd_steps(gx_model *m, const float *x, const float *y, size_t n, int batch, int steps,
		     float lr)
{
	gx_optim_opts o;
	gx_optim_opts_default(&o, GX_OPT_SGD);
	o.lr = lr;
	gx_optim *op = gx_optim_create(&o, gx_model_nparams(m), 0, NULL);
	if (!op)
		return GX_ENOMEM;
	size_t in = gx_model_in_size(m), out = gx_model_out_size(m);
	size_t yw = gx_model_loss(m) == GX_LOSS_MSE ? out : 1;
	int rc = 0;
	for (int s = 0; s < steps && !rc; s++) {
		size_t at = ((size_t)s * batch) % (n - batch + 1);
		rc = gx_model_forward_backward(m, x + at * in, y + at * yw, batch, NULL);
		if (!rc)
			rc = gx_optim_step(op, gx_model_params(m), gx_model_grads(m), 0);
	}
	gx_optim_free(op);
	return rc;
}

static void t_train(void)
{
	enum { N = 400, D = 20, C = 10 };
	float *x = malloc(sizeof *x * N * D), *y = malloc(sizeof *y * N);
	float *t = malloc(sizeof *t * N);
	T_REQUIRE(x && y && t);
	gx_rng r;
	gx_rng_seed(&r, 11);
	/* ten Gaussian blobs */
	for (int i = 0; i < N; i++) {
		int c = i % C;
		y[i] = (float)c;
		t[i] = 0.5f;
		for (int j = 0; j < D; j++) {
			x[i * D + j] = 0.3f * gx_rng_normal(&r) + (j == c ? 2.0f : 0.0f);
			t[i] += (float)(j - 10) / 20.0f * x[i * D + j];
		}
	}
	gx_model *m = gx_model_create("logreg", 1, 1, D, 1, NULL, NULL);
	T_REQUIRE(m);
	double loss0, loss, acc;
	T_EQ(gx_model_eval(m, x, y, N, 64, &loss0, NULL), 0);
	T_EQ(sgd_steps(m, x, y, N, 20, 200, 0.5f), 0);
	T_EQ(gx_model_eval(m, x, y, N, 64, &loss, &acc), 0);
	printf("#   logreg: loss %.3f -> %.3f, accuracy %.3f\n", loss0, loss, acc);
	T_ASSERT(loss < 0.2 * loss0 && acc > 0.95);
	gx_model_free(m);

	m = gx_model_create("linreg", 1, 1, D, 1, NULL, NULL);
	T_REQUIRE(m);
	T_EQ(sgd_steps(m, x, t, N, 20, 1000, 0.05f), 0);
	T_EQ(gx_model_eval(m, x, t, N, 64, &loss, NULL), 0);
	gx_tensor_info b;
	gx_model_tensor(m, 1, &b);
	printf("#   linreg: loss %.2g, bias %.4f (0.5)\n", loss, b.data[0]);
	T_ASSERT(loss < 1e-4);
	T_NEAR(b.data[0], 0.5, 0.01);
	gx_model_free(m);

	/* the cnn fits one batch; same seed and data give the same weights */
	enum { B = 8 };
	float *xi = malloc(sizeof *xi * B * 784), yi[B] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	T_REQUIRE(xi);
	fill(xi, B * 784, 2);
	uint32_t sum[2];
	for (int k = 0; k < 2; k++) {
		m = gx_model_create("cnn", 1, 28, 28, 5, NULL, NULL);
		T_REQUIRE(m);
		T_EQ(gx_model_eval(m, xi, yi, B, B, &loss0, NULL), 0);
		T_EQ(sgd_steps(m, xi, yi, B, B, 40, 0.1f), 0);
		T_EQ(gx_model_eval(m, xi, yi, B, B, &loss, &acc), 0);
		sum[k] = gx_model_checksum(m);
		if (!k)
			printf("#   cnn on one batch: loss %.3f -> %.3f, accuracy %.2f\n", loss0, loss,
			       acc);
		T_ASSERT(loss < 0.5 * loss0 && acc == 1.0);
		gx_model_free(m);
	}
	T_EQ(sum[0], sum[1]);
	free(xi);
	free(x);
	free(y);
	free(t);
}

/* The hooks of gx_model_forward_backward_hooked: need names each layer's
 * tensors in forward order before the pass reads them, ready in reverse
 * order once the step is done with them, and the arithmetic is unchanged.
 * Proved by tampering: ready turns the layer's parameters to NaN (a
 * later read of them would spread NaN into the gradients), and the
 * parameters are NaN before the step until need restores them (a read
 * before need would do the same); the gradients and loss must still be
 * the plain call's bits. */
struct hook_log {
	gx_model *m;
	const float *saved; /* the parameters before the step */
	size_t need[16][2], ready[16][2];
	int nneed, nready, fail_at; /* fail_at: need of that tensor fails */
};

static int hk_need(void *ud, size_t t0, size_t t1)
{
	struct hook_log *h = ud;
	if (h->nneed < 16) {
		h->need[h->nneed][0] = t0;
		h->need[h->nneed][1] = t1;
	}
	h->nneed++;
	if ((size_t)h->fail_at >= t0 && (size_t)h->fail_at < t1)
		return GX_EIO;
	for (size_t t = t0; t < t1; t++) {
		gx_tensor_info ti;
		gx_model_tensor(h->m, t, &ti);
		memcpy(ti.data, h->saved + ti.offset, ti.count * sizeof *ti.data);
	}
	return 0;
}

static int hk_ready(void *ud, size_t t0, size_t t1)
{
	struct hook_log *h = ud;
	if (h->nready < 16) {
		h->ready[h->nready][0] = t0;
		h->ready[h->nready][1] = t1;
	}
	h->nready++;
	for (size_t t = t0; t < t1; t++) {
		gx_tensor_info ti;
		gx_model_tensor(h->m, t, &ti);
		for (uint64_t j = 0; j < ti.count; j++)
			ti.data[j] = NAN;
	}
	return 0;
}

static void t_hooks(void)
{
	enum { B = 8 };
	float *x = malloc(sizeof *x * B * 784), y[B] = { 3, 1, 4, 1, 5, 9, 2, 6 };
	gx_model *a = gx_model_create("cnn", 1, 28, 28, 9, NULL, NULL);
	gx_model *b = gx_model_create("cnn", 1, 28, 28, 9, NULL, NULL);
	T_REQUIRE(x && a && b);
	fill(x, B * 784, 4);
	size_t np = gx_model_nparams(a), nt = gx_model_ntensors(a);
	float *saved = malloc(np * sizeof *saved);
	T_REQUIRE(saved);
	memcpy(saved, gx_model_params(b), np * sizeof *saved);
	float la, lb;
	T_EQ(gx_model_forward_backward(a, x, y, B, &la), 0);

	struct hook_log h = { .m = b, .saved = saved, .fail_at = -1 };
	gx_model_hooks hk = { hk_need, hk_ready, &h };
	for (size_t j = 0; j < np; j++)
		gx_model_params(b)[j] = NAN;
	T_EQ(gx_model_forward_backward_hooked(b, x, y, B, &lb, &hk), 0);
	T_ASSERT(memcmp(&la, &lb, sizeof la) == 0);
	T_ASSERT(memcmp(gx_model_grads(a), gx_model_grads(b), np * sizeof(float)) == 0);
	/* cnn: five layers with parameters, each a weight and a bias */
	T_EQ(h.nneed, 5);
	T_EQ(h.nready, 5);
	for (int i = 0; i < 5 && i < h.nneed && i < h.nready; i++) {
		T_EQ(h.need[i][0], (size_t)(2 * i));
		T_EQ(h.need[i][1], (size_t)(2 * i + 2));
		T_EQ(h.ready[i][0], nt - 2 * (size_t)i - 2);
		T_EQ(h.ready[i][1], nt - 2 * (size_t)i);
	}

	/* a hook's error ends the step with it */
	struct hook_log f = { .m = b, .saved = saved, .fail_at = 4 };
	gx_model_hooks fk = { hk_need, NULL, &f };
	T_EQ(gx_model_forward_backward_hooked(b, x, y, B, &lb, &fk), GX_EIO);
	T_EQ(f.nneed, 3);
	/* NULL hooks: the plain call */
	gx_model_hooks none = { NULL, NULL, NULL };
	memcpy(gx_model_params(b), saved, np * sizeof *saved);
	T_EQ(gx_model_forward_backward_hooked(b, x, y, B, &lb, &none), 0);
	T_ASSERT(memcmp(gx_model_grads(a), gx_model_grads(b), np * sizeof(float)) == 0);
	free(saved);
	free(x);
	gx_model_free(a);
	gx_model_free(b);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One training step of the cnn at batch 32 on one thread: forward, backward
 * and an SGD update (as bench/ would time it against PyTorch). */
static void t_timing(void)
{
	enum { B = 32, STEPS = 20 };
	gx_model *m = gx_model_create("cnn", 1, 28, 28, 1, NULL, NULL);
	gx_optim_opts o;
	gx_optim_opts_default(&o, GX_OPT_SGD);
	gx_optim *op = gx_optim_create(&o, gx_model_nparams(m), 0, NULL);
	float *x = malloc(sizeof *x * B * 784), y[B];
	T_REQUIRE(m && op && x);
	fill(x, B * 784, 6);
	for (int i = 0; i < B; i++)
		y[i] = (float)(i % 10);
	gx_blas_threads(1);
	double best = 1e9;
	for (int s = 0; s < STEPS; s++) {
		double t0 = now();
		T_EQ(gx_model_forward_backward(m, x, y, B, NULL), 0);
		gx_optim_step(op, gx_model_params(m), gx_model_grads(m), 0);
		double t = now() - t0;
		best = t < best ? t : best;
	}
	printf("#   cnn, batch 32, 1 thread: %.2f ms per step (forward, backward, SGD; best of %d)\n",
	       best * 1e3, STEPS);
	free(x);
	gx_optim_free(op);
	gx_model_free(m);
}

int main(void)
{
	T_RUN(t_presets);
	T_RUN(t_spec_grammar);
	T_RUN(t_init);
	T_RUN(t_args);
	T_RUN(t_predict_eval);
	T_RUN(t_scratch);
	T_RUN(t_train);
	T_RUN(t_hooks);
	T_RUN(t_timing);
	T_DONE();
}
