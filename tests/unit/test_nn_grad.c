/* test_nn_grad.c — every layer's gradients (parameters and input) against
 * central differences of an independent double-precision reference
 * (plain NCHW loops, no im2col, no BLAS), on small random inputs; then the
 * whole cnn preset on a batch of two, sampling parameters of every tensor.
 * The error of a tensor is |g - g_fd| / (|g| + |g_fd|) (Euclidean norms),
 * and must stay below GRAD_TOL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "nn/nn_internal.h"
#include "t.h"

#define GRAD_TOL 1e-4
#define LOSS_TOL 1e-5
#define FD_STEP 1e-6

static double worst;

/* ---- the reference: one example at a time, NCHW, double ---- */

typedef struct ref {
	const nn_net *net;
	int c, h, w;
	size_t maxsz;
	double *a, *b;
} ref;

static double ref_loss(ref *r, const double *P, const double *x, const float *y, int batch)
{
	const nn_net *net = r->net;
	size_t in = (size_t)r->c * r->h * r->w, o = net->L[net->n - 1].out_size;
	double total = 0.0;

	for (int e = 0; e < batch; e++) {
		double *cur = r->a, *nxt = r->b;
		memcpy(cur, x + e * in, sizeof *cur * in);
		for (int i = 0; i < net->n; i++) {
			const nn_layer *l = &net->L[i];
			const double *W = P + l->woff, *B = P + l->boff;
			switch (l->kind) {
			case NN_CONV:
				for (int oc = 0; oc < l->oc; oc++)
					for (int oy = 0; oy < l->oh; oy++)
						for (int ox = 0; ox < l->ow; ox++) {
							double s = B[oc];
							for (int ci = 0; ci < l->c; ci++)
								for (int ky = 0; ky < l->k; ky++)
									for (int kx = 0; kx < l->k; kx++) {
										int iy = oy * l->stride - l->pad + ky;
										int ix = ox * l->stride - l->pad + kx;
										if (iy < 0 || iy >= l->h || ix < 0 ||
										    ix >= l->w)
											continue;
										s += W[((oc * l->c + ci) * l->k + ky) *
											       l->k +
										       kx] *
										     cur[(ci * l->h + iy) * l->w + ix];
									}
							nxt[(oc * l->oh + oy) * l->ow + ox] = s;
						}
				break;
			case NN_POOL:
				for (int ci = 0; ci < l->c; ci++)
					for (int oy = 0; oy < l->oh; oy++)
						for (int ox = 0; ox < l->ow; ox++) {
							double mx = -1e300;
							for (int ky = 0; ky < l->k; ky++)
								for (int kx = 0; kx < l->k; kx++) {
									double v = cur[(ci * l->h + oy * l->stride +
											ky) * l->w +
										       ox * l->stride + kx];
									mx = v > mx ? v : mx;
								}
							nxt[(ci * l->oh + oy) * l->ow + ox] = mx;
						}
				break;
			case NN_DENSE:
				for (int j = 0; j < l->oc; j++) {
					double s = B[j];
					for (size_t q = 0; q < l->in_size; q++)
						s += W[j * l->in_size + q] * cur[q];
					nxt[j] = s;
				}
				break;
			case NN_RELU:
				for (size_t q = 0; q < l->in_size; q++)
					nxt[q] = cur[q] > 0 ? cur[q] : 0;
				break;
			default: /* layout changes: nothing to do in NCHW */
				memcpy(nxt, cur, sizeof *nxt * l->in_size);
			}
			double *t = cur;
			cur = nxt;
			nxt = t;
		}
		if (net->loss == GX_LOSS_MSE) {
			for (size_t j = 0; j < o; j++) {
				double d = cur[j] - y[e * o + j];
				total += d * d / (double)(o * batch);
			}
		} else {
			double m = cur[0], s = 0;
			for (size_t j = 1; j < o; j++)
				m = cur[j] > m ? cur[j] : m;
			for (size_t j = 0; j < o; j++)
				s += exp(cur[j] - m);
			total += (m + log(s) - cur[(int)y[e]]) / batch;
		}
	}
	return total;
}

static double nerr(const double *a, const double *b, size_t n)
{
	double d = 0, na = 0, nb = 0;
	for (size_t i = 0; i < n; i++) {
		d += (a[i] - b[i]) * (a[i] - b[i]);
		na += a[i] * a[i];
		nb += b[i] * b[i];
	}
	if (na + nb == 0)
		return 0;
	return sqrt(d) / (sqrt(na) + sqrt(nb));
}

/* Checks model spec on (c,h,w) with batch examples; sample > 0 checks only
 * that many elements per tensor (evenly spread), 0 all of them. */
static void check_grad(const char *spec, int c, int h, int w, int batch, int sample, uint64_t seed)
{
	int err;
	gx_model *m = gx_model_create(spec, c, h, w, seed, &err, NULL);
	T_REQUIRE(m);
	T_REQUIRE(gx_nn_want_input_grad(m, 1) == 0);
	size_t in = gx_model_in_size(m), o = gx_model_out_size(m), np = gx_model_nparams(m);
	gx_rng r;
	gx_rng_seed(&r, seed + 1);
	float *x = malloc(sizeof *x * in * batch), *y = malloc(sizeof *y * o * batch);
	double *xd = malloc(sizeof *xd * in * batch), *P = malloc(sizeof *P * np);
	T_REQUIRE(x && y && xd && P);
	for (size_t i = 0; i < in * batch; i++)
		xd[i] = x[i] = gx_rng_normal(&r);
	for (size_t i = 0; i < o * batch; i++)
		y[i] = gx_model_loss(m) == GX_LOSS_MSE ? gx_rng_normal(&r)
						       : (float)gx_rng_below(&r, o);
	/* biases start at zero: give them values so their gradients mix in */
	float *pf = gx_model_params(m);
	for (size_t i = 0; i < np; i++) {
		if (pf[i] == 0.0f)
			pf[i] = 0.1f * gx_rng_normal(&r);
		P[i] = pf[i];
	}
	float loss;
	T_REQUIRE(gx_model_forward_backward(m, x, y, batch, &loss) == 0);

	const nn_net *net = gx_nn_net(m);
	ref R = { net, c, h, w, in, NULL, NULL };
	for (int i = 0; i < net->n; i++)
		if (net->L[i].out_size > R.maxsz)
			R.maxsz = net->L[i].out_size;
	R.a = malloc(sizeof *R.a * R.maxsz);
	R.b = malloc(sizeof *R.b * R.maxsz);
	double L0 = ref_loss(&R, P, xd, y, batch);
	T_NEAR(loss, L0, LOSS_TOL * (1 + fabs(L0)));

	size_t nt = gx_model_ntensors(m);
	for (size_t t = 0; t <= nt; t++) {
		gx_tensor_info ti = { 0 };
		double *v;
		const float *g;
		size_t cnt;
		if (t < nt) {
			gx_model_tensor(m, t, &ti);
			v = P + ti.offset;
			g = ti.grad;
			cnt = ti.count;
		} else {
			ti.name = "input";
			v = xd;
			g = gx_nn_input_grad(m);
			cnt = in * batch;
		}
		size_t nchk = sample && (size_t)sample < cnt ? (size_t)sample : cnt;
		double *ga = malloc(sizeof *ga * nchk), *gn = malloc(sizeof *gn * nchk);
		for (size_t s = 0; s < nchk; s++) {
			size_t j = nchk == cnt ? s : (s * cnt) / nchk + (size_t)gx_rng_below(&r, cnt / nchk);
			double keep = v[j];
			v[j] = keep + FD_STEP;
			double lp = ref_loss(&R, P, xd, y, batch);
			v[j] = keep - FD_STEP;
			double lm = ref_loss(&R, P, xd, y, batch);
			v[j] = keep;
			gn[s] = (lp - lm) / (2 * FD_STEP);
			ga[s] = g[j];
		}
		double e = nerr(ga, gn, nchk);
		if (e > worst)
			worst = e;
		if (!(e <= GRAD_TOL))
			printf("#   %s: %s: normalised error %.3g\n", spec, ti.name, e);
		T_ASSERT(e <= GRAD_TOL);
		free(ga);
		free(gn);
	}
	free(R.a);
	free(R.b);
	free(x);
	free(y);
	free(xd);
	free(P);
	gx_model_free(m);
}

static void t_grad_dense(void)
{
	check_grad("dense:4", 1, 2, 3, 3, 0, 1);
	check_grad("dense:3,mse", 2, 2, 2, 4, 0, 2);
	check_grad("dense:1,mse", 1, 1, 5, 1, 0, 3);
}

static void t_grad_conv(void)
{
	check_grad("conv:3:3,mse", 2, 5, 6, 3, 0, 4);       /* two channels: layout changes */
	check_grad("conv:2:3:2:1,mse", 2, 7, 6, 2, 0, 5);   /* stride and padding */
	check_grad("conv:3:1,mse", 2, 4, 4, 2, 0, 6);       /* 1x1: columns are the input */
	check_grad("conv:4:2,xent", 1, 3, 3, 3, 0, 7);      /* one channel, xent over 16 */
	check_grad("conv:2:4:3:2,mse", 1, 6, 5, 2, 0, 8);   /* stride > 1, clipped windows */
	check_grad("conv:2:3,mse", 1, 40, 40, 7, 300, 19);  /* chunks of 2, 2, 2, 1 examples */
	check_grad("conv:2:3:1:1,conv:2:3,mse", 2, 30, 30, 5, 300, 20); /* chunks, input grad */
}

static void t_grad_pool(void)
{
	check_grad("pool:2,dense:3,mse", 2, 5, 5, 3, 0, 9);     /* odd side: floor */
	check_grad("pool:3:2,dense:2", 1, 7, 7, 2, 0, 10);      /* overlapping windows */
	check_grad("conv:2:2,pool:2,mse", 1, 5, 5, 2, 0, 11);   /* pool output is the loss input */
	check_grad("pool:2:1,conv:2:2,mse", 3, 4, 4, 2, 0, 12); /* pool before conv, 3 channels */
}

static void t_grad_relu(void)
{
	check_grad("dense:6,relu,dense:3", 1, 1, 5, 4, 0, 13);
	check_grad("relu,dense:3,mse", 1, 2, 3, 3, 0, 14);      /* relu first: not in place */
	check_grad("conv:3:2,relu,relu,dense:2", 2, 4, 4, 2, 0, 15);
	check_grad("dense:4,relu,conv:2:1,mse", 1, 2, 2, 3, 0, 16); /* flat -> spatial */
}

static void t_grad_cnn(void)
{
	check_grad("cnn", 1, 28, 28, 2, 12, 17);
	check_grad("mlp", 1, 28, 28, 2, 12, 18);
	printf("#   worst normalised gradient error: %.3g (bound %g)\n", worst, GRAD_TOL);
}

int main(void)
{
	T_RUN(t_grad_dense);
	T_RUN(t_grad_conv);
	T_RUN(t_grad_pool);
	T_RUN(t_grad_relu);
	T_RUN(t_grad_cnn);
	T_DONE();
}
