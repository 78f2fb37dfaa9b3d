/*
 * nn.c — the training engine: a model is a list of layers (lib/nn/nn_spec.c
 * builds it from a spec), one contiguous parameter buffer and one gradient
 * buffer, and scratch sized for the largest batch seen.
 *
 * Layout. Spatial activations of a batch are channel-major, [c][n][h][w]:
 * a convolution of the whole batch is then one im2col and one GEMM
 * (W [oc][c*k*k] x col [c*k*k][n*oh*ow]) whose result is already the next
 * layer's input, and the weight gradient is one GEMM with the long inner
 * dimension n*oh*ow, which BLAS runs near peak. Flat activations are
 * [n][features]; nn_spec.c inserts a transpose where the two meet and the
 * channel count makes them differ (never for one channel, as with MNIST
 * input). Dense layers use PyTorch's [out][in] weights and C, H, W feature
 * order, so weights move between geomx and PyTorch unchanged.
 *
 * Memory. ReLU runs in place (its output is its input buffer, its input
 * gradient its output gradient): the layer before needs neither its output
 * nor its output's gradient afterwards. Each convolution keeps its im2col
 * buffer from the forward pass for the weight gradient; one shared buffer
 * takes the column gradient. A 1x1 stride-1 unpadded convolution uses its
 * input as the columns. Layers before the first one with parameters compute
 * no input gradient (unless a test asks for it). All scratch lives in one
 * arena, grown only when a larger batch arrives.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "nn_internal.h"

struct gx_model {
	nn_net net;
	int in_c, in_h, in_w;
	float *params, *grads;
	size_t nt;
	gx_tensor_info *t;
	size_t *lt0;  /* per layer: its first tensor (its tensors: lt0[i] .. lt0[i + 1]) */
	char (*names)[32];
	int want_dx;
	unsigned char *need_dx; /* per layer: compute the input gradient */
	/* scratch for up to cap examples */
	int cap;
	void *arena;
	float **act;  /* n+1: act[i] is layer i's input; act[0] is the caller's x */
	float **dact; /* n+1: gradients of the same */
	float **col;  /* per layer: a convolution's columns */
	uint32_t **arg; /* per layer: a pooling's argmax */
	float *dcol;
	float *dtr;   /* transposed output gradient and weight gradient (tdw_of) */
	int32_t *labels;
};

static int is_1x1(const nn_layer *l)
{
	return l->k == 1 && l->stride == 1 && l->pad == 0;
}

/* Convolutions run on chunks of examples whose columns take at most about
 * this many floats (at least one example), so im2col's output is still in
 * L1/L2 when the GEMM reads it. Measured alone, the cnn preset's first
 * convolution at batch 32 (one thread) takes 435 us as one GEMM over the
 * batch and 163 us as 32 per-example GEMMs, and its weight gradient 468 us
 * against 174 us. In the whole cnn step, 1 to 4 examples per chunk are
 * within noise of each other (3.5-3.7 ms), 8 for the first convolution is
 * 3.8-4.0 ms; 128 KiB gives 2 and 1. */
#define NN_CHUNK_FLOATS (32u << 10)

static int chunk_of(const nn_layer *l, int b)
{
	if (is_1x1(l))
		return b;
	size_t per = (size_t)l->c * l->k * l->k * l->oh * l->ow;
	size_t nb = NN_CHUNK_FLOATS / per;
	return nb < 1 ? 1 : nb > (size_t)b ? b : (int)nb;
}

/* Whether a convolution's weight gradient runs transposed: dW^T [K][oc] +=
 * col [K][cnt*ohw] x dout^T [cnt*ohw][oc] per chunk (dout transposed once
 * for the batch, dW^T transposed back at the end), rather than dW [oc][K] +=
 * dout x col^T. With a short inner dimension per chunk OpenBLAS runs the
 * first (no transposed operand) in its small-matrix kernels and the second
 * through its packing path: for cnn's second convolution (32 chunks of
 * 32x400x64) 470 against 710 us at batch 32 on one thread. With long chunks
 * (the first convolution, 1152) both take about the same and the transposes
 * would cost more than they save. */
#define NN_TDW_MAX_INNER 256

static int tdw_of(const nn_layer *l, int b)
{
	return l->kind == NN_CONV && (size_t)chunk_of(l, b) * l->oh * l->ow <= NN_TDW_MAX_INNER;
}

static int in_place(const gx_model *m, int i)
{
	return m->net.L[i].kind == NN_RELU && i > 0;
}

/* Whether layer i + 1 is a ReLU running in place on layer i's output, so
 * that layer i can apply it in its own last pass (its bias addition). */
static int relu_next(const gx_model *m, int i)
{
	return i + 1 < m->net.n && in_place(m, i + 1);
}

/* Lays out (base == NULL: only measures) the scratch for batch b. */
static size_t layout(gx_model *m, char *base, size_t b)
{
	size_t off = 0;
	const nn_net *net = &m->net;
#define TAKE(ptr, type, count)                                                       \
	do {                                                                         \
		size_t bytes_ = ((size_t)(count) * sizeof(type) + 63) & ~(size_t)63; \
		if (base)                                                            \
			(ptr) = (type *)(void *)(base + off);                        \
		off += bytes_;                                                       \
	} while (0)

	for (int i = 0; i < net->n; i++) {
		const nn_layer *l = &net->L[i];
		if (in_place(m, i)) {
			if (base)
				m->act[i + 1] = m->act[i];
		} else {
			TAKE(m->act[i + 1], float, l->out_size * b);
		}
		if (l->kind == NN_CONV && !is_1x1(l))
			TAKE(m->col[i], float, (size_t)l->c * l->k * l->k * b * l->oh * l->ow);
		if (l->kind == NN_POOL)
			TAKE(m->arg[i], uint32_t, l->out_size * b);
	}
	TAKE(m->dact[net->n], float, net->L[net->n - 1].out_size * b);
	size_t dcol = 0, dtr = 0;
	for (int i = net->n - 1; i >= 0; i--) {
		const nn_layer *l = &net->L[i];
		if (tdw_of(l, (int)b)) {
			size_t s = ((size_t)l->oh * l->ow * b + (size_t)l->c * l->k * l->k) * l->oc;
			dtr = s > dtr ? s : dtr;
		}
		if (!m->need_dx[i]) {
			if (base)
				m->dact[i] = NULL;
			continue;
		}
		if (in_place(m, i)) {
			if (base)
				m->dact[i] = m->dact[i + 1];
		} else {
			TAKE(m->dact[i], float, l->in_size * b);
		}
		if (l->kind == NN_CONV && !is_1x1(l)) {
			size_t s = (size_t)l->c * l->k * l->k * chunk_of(l, (int)b) * l->oh * l->ow;
			dcol = s > dcol ? s : dcol;
		}
	}
	if (dcol)
		TAKE(m->dcol, float, dcol);
	if (dtr)
		TAKE(m->dtr, float, dtr);
	TAKE(m->labels, int32_t, b);
#undef TAKE
	return off;
}

int gx_model_reserve(gx_model *m, int batch)
{
	if (!m || batch < 1)
		return GX_EINVAL;
	if (batch <= m->cap)
		return 0;
	for (int i = 0; i < m->net.n; i++) {
		const nn_layer *l = &m->net.L[i];
		size_t per = l->in_size > l->out_size ? l->in_size : l->out_size;
		if (l->kind == NN_CONV)
			per = (size_t)l->oh * l->ow; /* the GEMM's n */
		if ((uint64_t)per * (uint64_t)batch > NN_MAX_ELEMS)
			return GX_ETOOBIG;
	}
	size_t bytes = layout(m, NULL, (size_t)batch);
	void *a = aligned_alloc(64, bytes);
	if (!a)
		return GX_ENOMEM;
	free(m->arena);
	m->arena = a;
	m->cap = batch;
	layout(m, a, (size_t)batch);
	return 0;
}

static void set_need_dx(gx_model *m)
{
	int seen = m->want_dx;
	for (int i = 0; i < m->net.n; i++) {
		m->need_dx[i] = (unsigned char)seen;
		if (m->net.L[i].wcount)
			seen = 1;
	}
}

static void init_params(gx_model *m, uint64_t seed)
{
	gx_rng r;
	gx_rng_seed(&r, seed);
	memset(m->params, 0, sizeof *m->params * m->net.nparams);
	for (int i = 0; i < m->net.n; i++) {
		const nn_layer *l = &m->net.L[i];
		if (!l->wcount)
			continue;
		double fan_in = (double)(l->kind == NN_CONV ? (size_t)l->c * l->k * l->k : l->in_size);
		double fan_out = (double)l->oc * (l->kind == NN_CONV ? l->k * l->k : 1);
		float a = (float)sqrt(6.0 / (fan_in + fan_out));
		float *w = m->params + l->woff;
		for (uint64_t j = 0; j < l->wcount; j++)
			w[j] = (2.0f * gx_rng_float(&r) - 1.0f) * a;
	}
}

gx_model *gx_model_create(const char *spec, int in_c, int in_h, int in_w, uint64_t seed, int *err,
			  gx_spec_error *why)
{
	int rc;
	gx_model *m = calloc(1, sizeof *m);
	if (!m) {
		rc = GX_ENOMEM;
		goto fail;
	}
	if ((rc = nn_parse(spec, in_c, in_h, in_w, &m->net, why)))
		goto fail;
	m->in_c = in_c;
	m->in_h = in_h;
	m->in_w = in_w;
	int n = m->net.n;
	size_t np = (size_t)m->net.nparams;
	for (int i = 0; i < n; i++)
		m->nt += (m->net.L[i].wcount != 0) + (m->net.L[i].bcount != 0);
	m->params = aligned_alloc(64, (np * sizeof(float) + 63) & ~(size_t)63);
	m->grads = aligned_alloc(64, (np * sizeof(float) + 63) & ~(size_t)63);
	m->t = calloc(m->nt, sizeof *m->t);
	m->lt0 = calloc((size_t)n + 1, sizeof *m->lt0);
	m->names = calloc(m->nt, sizeof *m->names);
	m->need_dx = calloc((size_t)n, 1);
	m->act = calloc((size_t)n + 1, sizeof *m->act);
	m->dact = calloc((size_t)n + 1, sizeof *m->dact);
	m->col = calloc((size_t)n, sizeof *m->col);
	m->arg = calloc((size_t)n, sizeof *m->arg);
	if (!m->params || !m->grads || !m->t || !m->lt0 || !m->names || !m->need_dx || !m->act || !m->dact ||
	    !m->col || !m->arg) {
		rc = GX_ENOMEM;
		goto fail;
	}
	memset(m->grads, 0, np * sizeof(float));
	init_params(m, seed);
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		const nn_layer *l = &m->net.L[i];
		const char *kind = l->kind == NN_CONV ? "conv" : "dense";
		m->lt0[i] = k;
		for (int bias = 0; bias < 2; bias++) {
			uint64_t cnt = bias ? l->bcount : l->wcount;
			if (!cnt)
				continue;
			gx_tensor_info *t = &m->t[k];
			t->key = (uint32_t)k;
			t->count = cnt;
			t->offset = bias ? l->boff : l->woff;
			t->data = m->params + t->offset;
			t->grad = m->grads + t->offset;
			t->layer = l->spec_index;
			t->is_bias = bias;
			snprintf(m->names[k], sizeof m->names[k], "%s%d.%s", kind, l->spec_index,
				 bias ? "bias" : "weight");
			t->name = m->names[k];
			k++;
		}
	}
	m->lt0[n] = k;
	set_need_dx(m);
	if (err)
		*err = 0;
	return m;
fail:
	if (err)
		*err = rc;
	gx_model_free(m);
	return NULL;
}

void gx_model_free(gx_model *m)
{
	if (!m)
		return;
	nn_net_release(&m->net);
	free(m->params);
	free(m->grads);
	free(m->t);
	free(m->lt0);
	free(m->names);
	free(m->need_dx);
	free(m->act);
	free(m->dact);
	free(m->col);
	free(m->arg);
	free(m->arena);
	free(m);
}

const char *gx_model_spec(const gx_model *m)
{
	return m->net.spec;
}

int gx_model_loss(const gx_model *m)
{
	return m->net.loss;
}

size_t gx_model_in_size(const gx_model *m)
{
	return (size_t)m->in_c * m->in_h * m->in_w;
}

size_t gx_model_out_size(const gx_model *m)
{
	return m->net.L[m->net.n - 1].out_size;
}

uint64_t gx_model_nparams(const gx_model *m)
{
	return m->net.nparams;
}

float *gx_model_params(gx_model *m)
{
	return m->params;
}

float *gx_model_grads(gx_model *m)
{
	return m->grads;
}

size_t gx_model_ntensors(const gx_model *m)
{
	return m->nt;
}

int gx_model_tensor(gx_model *m, size_t i, gx_tensor_info *info)
{
	if (!m || !info || i >= m->nt)
		return GX_EINVAL;
	*info = m->t[i];
	return 0;
}

uint32_t gx_model_checksum(const gx_model *m)
{
	return gx_crc32c(0, m->params, (size_t)m->net.nparams * sizeof(float));
}

int gx_blas_threads(int n)
{
	if (n < 1)
		return GX_EINVAL;
	gx_k_blas_threads(n);
	return 0;
}

int gx_model_describe(const gx_model *m, char *buf, size_t cap)
{
	static const char *const kinds[] = { "conv", "pool", "dense", "relu" };
	size_t len = 0;
#define OUT(...)                                                                  \
	do {                                                                      \
		int r_ = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0, \
				  __VA_ARGS__);                                   \
		len += r_ > 0 ? (size_t)r_ : 0;                                   \
	} while (0)
	char shape[48];
	snprintf(shape, sizeof shape, "%dx%dx%d", m->in_c, m->in_h, m->in_w);
	OUT("layer  kind   output           params\n");
	OUT("-      input  %-16s -\n", shape);
	for (int i = 0; i < m->net.n; i++) {
		const nn_layer *l = &m->net.L[i];
		if (l->spec_index < 0)
			continue;
		snprintf(shape, sizeof shape, "%dx%dx%d", l->oc, l->oh, l->ow);
		OUT("%-6d %-6s %-16s %llu\n", l->spec_index, kinds[l->kind], shape,
		    (unsigned long long)(l->wcount + l->bcount));
	}
	OUT("loss   %-6s %-16s %llu total\n", m->net.loss == GX_LOSS_MSE ? "mse" : "xent", "",
	    (unsigned long long)m->net.nparams);
#undef OUT
	return (int)len;
}

/* ------------------------------------------------------------ computation */

static int forward(gx_model *m, const float *x, int b, const gx_model_hooks *hk)
{
	m->act[0] = (float *)(uintptr_t)x; /* never written: layer 0 is never in place */
	for (int i = 0; i < m->net.n; i++) {
		const nn_layer *l = &m->net.L[i];
		int rc;
		if (hk && hk->need && m->lt0[i + 1] > m->lt0[i] &&
		    (rc = hk->need(hk->ud, m->lt0[i], m->lt0[i + 1])))
			return rc;
		const float *in = m->act[i];
		float *out = m->act[i + 1];
		const float *W = m->params + l->woff, *B = m->params + l->boff;
		int hw = l->h * l->w;
		switch (l->kind) {
		case NN_CONV: {
			int ohw = l->oh * l->ow, N = b * ohw, K = l->c * l->k * l->k;
			int nb = chunk_of(l, b);
			for (int b0 = 0; b0 < b; b0 += nb) {
				int cnt = b - b0 < nb ? b - b0 : nb, ld = N;
				const float *col = in + (size_t)b0 * ohw;
				if (!is_1x1(l)) {
					float *c = m->col[i] + (size_t)b0 * K * ohw;
					gx_k_im2col(in, l->c, b, l->h, l->w, l->k, l->stride, l->pad, b0,
						    cnt, c);
					col = c;
					ld = cnt * ohw;
				}
				gx_k_sgemm(0, 0, l->oc, cnt * ohw, K, 1.0f, W, K, col, ld, 0.0f,
					   out + (size_t)b0 * ohw, N);
			}
			if (relu_next(m, i)) {
				gx_k_add_bias_relu(out, B, l->oc, (size_t)N, 1);
				i++; /* the ReLU is done, in place */
			} else {
				gx_k_add_bias(out, B, l->oc, (size_t)N, 1);
			}
			break;
		}
		case NN_POOL:
			gx_k_maxpool_fwd(in, l->c * b, l->h, l->w, l->k, l->stride, out, m->arg[i]);
			break;
		case NN_DENSE: {
			int in_n = (int)l->in_size;
			gx_k_sgemm(0, 1, b, l->oc, in_n, 1.0f, in, in_n, W, in_n, 0.0f, out, l->oc);
			if (relu_next(m, i)) {
				gx_k_add_bias_relu(out, B, b, (size_t)l->oc, 0);
				i++;
			} else {
				gx_k_add_bias(out, B, b, (size_t)l->oc, 0);
			}
			break;
		}
		case NN_RELU:
			gx_k_relu_fwd(in, out, l->in_size * b);
			break;
		case NN_TOFLAT:
			gx_k_transpose(in, l->c, b, (size_t)hw, out);
			break;
		case NN_TOSPATIAL:
			gx_k_transpose(in, b, l->c, (size_t)hw, out);
			break;
		}
	}
	return 0;
}

static int backward(gx_model *m, int b, const gx_model_hooks *hk)
{
	for (int i = m->net.n - 1; i >= 0; i--) {
		const nn_layer *l = &m->net.L[i];
		int li = i; /* the layer whose tensors are done at the end (i may move past a fused ReLU) */
		const float *dout = m->dact[i + 1], *in = m->act[i];
		float *dx = m->need_dx[i] ? m->dact[i] : NULL;
		const float *W = m->params + l->woff;
		float *dW = m->grads + l->woff, *dB = m->grads + l->boff;
		int hw = l->h * l->w;
		switch (l->kind) {
		case NN_CONV: {
			int ohw = l->oh * l->ow, N = b * ohw, K = l->c * l->k * l->k;
			int nb = chunk_of(l, b), tdw = tdw_of(l, b);
			float *doutT = m->dtr, *dWT = m->dtr + (size_t)N * l->oc;
			gx_k_bias_grad(dout, l->oc, (size_t)N, 1, dB);
			if (tdw)
				gx_k_transpose(dout, l->oc, N, 1, doutT);
			for (int b0 = 0; b0 < b; b0 += nb) {
				int cnt = b - b0 < nb ? b - b0 : nb, ld = N;
				const float *d = dout + (size_t)b0 * ohw;
				const float *col = in + (size_t)b0 * ohw;
				if (!is_1x1(l)) {
					col = m->col[i] + (size_t)b0 * K * ohw;
					ld = cnt * ohw;
				}
				if (tdw)
					gx_k_sgemm(0, 0, K, l->oc, cnt * ohw, 1.0f, col, ld,
						   doutT + (size_t)b0 * ohw * l->oc, l->oc,
						   b0 ? 1.0f : 0.0f, dWT, l->oc);
				else
					gx_k_sgemm(0, 1, l->oc, K, cnt * ohw, 1.0f, d, N, col, ld,
						   b0 ? 1.0f : 0.0f, dW, K);
				if (!dx)
					continue;
				if (is_1x1(l)) {
					gx_k_sgemm(1, 0, K, cnt * ohw, l->oc, 1.0f, W, K, d, N, 0.0f,
						   dx + (size_t)b0 * ohw, N);
				} else {
					gx_k_sgemm(1, 0, K, cnt * ohw, l->oc, 1.0f, W, K, d, N, 0.0f,
						   m->dcol, cnt * ohw);
					gx_k_col2im(m->dcol, l->c, b, l->h, l->w, l->k, l->stride, l->pad,
						    b0, cnt, dx);
				}
			}
			if (tdw)
				gx_k_transpose(dWT, K, l->oc, 1, dW);
			break;
		}
		case NN_POOL:
			if (dx && i > 0 && in_place(m, i - 1) && m->need_dx[i - 1]) {
				/* the ReLU before, in place (dx is its dx too): masked here */
				gx_k_maxpool_relu_bwd(dout, m->arg[i], in, l->c * b, l->h, l->w, l->k,
						      l->stride, dx);
				i--;
			} else if (dx) {
				gx_k_maxpool_bwd(dout, m->arg[i], l->c * b, l->h, l->w, l->k, l->stride,
						 dx);
			}
			break;
		case NN_DENSE: {
			int in_n = (int)l->in_size;
			gx_k_sgemm(1, 0, l->oc, in_n, b, 1.0f, dout, l->oc, in, in_n, 0.0f, dW, in_n);
			gx_k_bias_grad(dout, b, (size_t)l->oc, 0, dB);
			if (dx)
				gx_k_sgemm(0, 0, b, in_n, l->oc, 1.0f, dout, l->oc, W, in_n, 0.0f, dx,
					   in_n);
			break;
		}
		case NN_RELU:
			if (dx)
				gx_k_relu_bwd(m->act[i + 1], dout, dx, l->in_size * b);
			break;
		case NN_TOFLAT:
			if (dx)
				gx_k_transpose(dout, b, l->c, (size_t)hw, dx);
			break;
		case NN_TOSPATIAL:
			if (dx)
				gx_k_transpose(dout, l->c, b, (size_t)hw, dx);
			break;
		}
		int rc;
		if (hk && hk->ready && m->lt0[li + 1] > m->lt0[li] &&
		    (rc = hk->ready(hk->ud, m->lt0[li], m->lt0[li + 1])))
			return rc;
	}
	return 0;
}

/* Checks and converts class labels into m->labels. */
static int take_labels(gx_model *m, const float *y, int b)
{
	float classes = (float)gx_model_out_size(m);
	for (int i = 0; i < b; i++) {
		float v = y[i];
		if (!(v >= 0.0f && v < classes) || v != floorf(v))
			return GX_EINVAL;
		m->labels[i] = (int32_t)v;
	}
	return 0;
}

/* Mean loss of the batch in act[n]; with grad, its gradient into dact[n]. */
static double loss_of(gx_model *m, const float *y, int b, int grad)
{
	const float *out = m->act[m->net.n];
	size_t o = gx_model_out_size(m);
	float *d = grad ? m->dact[m->net.n] : NULL;
	if (m->net.loss == GX_LOSS_MSE) {
		size_t cnt = o * (size_t)b;
		return gx_k_sq_err(out, y, cnt, 1.0f / (float)cnt, d) / (double)cnt;
	}
	return gx_k_softmax_xent(out, m->labels, b, (int)o, 1.0f / (float)b, d) / b;
}

int gx_model_forward_backward(gx_model *m, const float *x, const float *y, int batch,
			      float *loss_out)
{
	return gx_model_forward_backward_hooked(m, x, y, batch, loss_out, NULL);
}

int gx_model_forward_backward_hooked(gx_model *m, const float *x, const float *y, int batch,
				     float *loss_out, const gx_model_hooks *hooks)
{
	int rc;
	if (!m || !x || !y || batch < 1)
		return GX_EINVAL;
	if ((rc = gx_model_reserve(m, batch)))
		return rc;
	if (m->net.loss == GX_LOSS_XENT && (rc = take_labels(m, y, batch)))
		return rc;
	if ((rc = forward(m, x, batch, hooks)))
		return rc;
	double loss = loss_of(m, y, batch, 1);
	if ((rc = backward(m, batch, hooks)))
		return rc;
	if (loss_out)
		*loss_out = (float)loss;
	return 0;
}

int gx_model_predict(gx_model *m, const float *x, int batch, float *out)
{
	int rc;
	if (!m || !x || !out || batch < 1)
		return GX_EINVAL;
	if ((rc = gx_model_reserve(m, batch)))
		return rc;
	forward(m, x, batch, NULL);
	memcpy(out, m->act[m->net.n], sizeof *out * gx_model_out_size(m) * (size_t)batch);
	return 0;
}

int gx_model_eval(gx_model *m, const float *x, const float *y, size_t n, int batch, double *loss,
		  double *accuracy)
{
	int rc;
	if (!m || !x || !y || n < 1 || batch < 1)
		return GX_EINVAL;
	int b = (size_t)batch > n ? (int)n : batch;
	if ((rc = gx_model_reserve(m, b)))
		return rc;
	size_t o = gx_model_out_size(m), in = gx_model_in_size(m);
	double sum = 0.0;
	size_t right = 0;
	for (size_t s = 0; s < n; s += (size_t)b) {
		int nb = n - s < (size_t)b ? (int)(n - s) : b;
		const float *yy = y + (m->net.loss == GX_LOSS_MSE ? s * o : s);
		if (m->net.loss == GX_LOSS_XENT && (rc = take_labels(m, yy, nb)))
			return rc;
		forward(m, x + s * in, nb, NULL);
		sum += loss_of(m, yy, nb, 0) * nb;
		if (m->net.loss == GX_LOSS_XENT) {
			const float *z = m->act[m->net.n];
			for (int i = 0; i < nb; i++, z += o) {
				size_t best = 0;
				for (size_t j = 1; j < o; j++)
					if (z[j] > z[best])
						best = j;
				right += best == (size_t)m->labels[i];
			}
		}
	}
	if (loss)
		*loss = sum / (double)n;
	if (accuracy)
		*accuracy = m->net.loss == GX_LOSS_XENT ? (double)right / (double)n : NAN;
	return 0;
}

int gx_nn_want_input_grad(gx_model *m, int on)
{
	if (!m)
		return GX_EINVAL;
	m->want_dx = on != 0;
	set_need_dx(m);
	/* the gradient buffers depend on it: lay the scratch out again */
	free(m->arena);
	m->arena = NULL;
	m->cap = 0;
	return 0;
}

const float *gx_nn_input_grad(const gx_model *m)
{
	return m->want_dx ? m->dact[0] : NULL;
}

const nn_net *gx_nn_net(const gx_model *m)
{
	return &m->net;
}
