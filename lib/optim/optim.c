/*
 * optim.c — the optimizers the global parameter server (and a worker) apply:
 * SGD, heavy-ball and Nesterov momentum, Adagrad, RMSprop, Adadelta, Adam,
 * AdamW with PyTorch's torch.optim semantics, and DC-ASGD (Zheng et al.,
 * ICML 2017) with one weight backup per sender.
 *
 * Agreement with PyTorch. Each update is written as the sequence of tensor
 * operations torch.optim's single-tensor path performs, in the same order
 * and with the same association (addcmul is self + (value*t1)*t2, addcdiv is
 * self + (value*t1)/t2, add with alpha is self + alpha*other). Scalars that
 * PyTorch computes in Python (1 - beta, lr / (1 - beta1^t), sqrt of the
 * bias correction, 1 - lr*wd) are computed here in double from the float
 * options and rounded to float where PyTorch hands them to a kernel. The
 * remaining difference is fused multiply-add: PyTorch's AVX2 kernels fuse
 * "self + alpha*other", plain C (ISO mode, no FMA contraction) rounds the
 * product first, so results may differ by about one ulp per operation;
 * tests/unit/test_optim.c checks five steps to 1e-5 relative against
 * torch's own output (tests/ref/optim_ref.h). docs/optimizers.md lists
 * every formula.
 *
 * Every kernel is a plain loop over the elements; state vectors are ours
 * (restrict), w and g are the caller's and may in principle alias.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/le.h"
#include "gx_optim.h"

struct gx_optim {
	gx_optim_opts o;
	size_t n;
	uint64_t steps;
	float *a;          /* momentum buffer / adagrad sum / square average / adam m */
	float *b;          /* adadelta accumulated delta / adam v */
	int nsenders;      /* dcasgd */
	float *bak;        /* dcasgd: nsenders backups of n floats */
	unsigned char *has_bak; /* dcasgd: a backup was recorded for the sender */
};

static const char *const names[GX_OPT__MAX] = {
	[GX_OPT_SGD] = "sgd",         [GX_OPT_MOMENTUM] = "momentum", [GX_OPT_NESTEROV] = "nesterov",
	[GX_OPT_ADAGRAD] = "adagrad", [GX_OPT_RMSPROP] = "rmsprop",   [GX_OPT_ADADELTA] = "adadelta",
	[GX_OPT_ADAM] = "adam",       [GX_OPT_ADAMW] = "adamw",       [GX_OPT_DCASGD] = "dcasgd",
};

int gx_optim_kind_of(const char *name)
{
	if (!name)
		return GX_EINVAL;
	for (int k = 0; k < GX_OPT__MAX; k++)
		if (strcmp(name, names[k]) == 0)
			return k;
	return GX_EINVAL;
}

const char *gx_optim_name(int kind)
{
	return kind >= 0 && kind < GX_OPT__MAX ? names[kind] : NULL;
}

/* PyTorch's defaults (torch.optim, 1.13 and 2.x). Where PyTorch has none the
 * choice is ours and documented: SGD's lr (required in 1.13, 1e-3 in 2.x) is
 * 0.01 as gx_ps_opts_default promises; momentum and nesterov default to
 * momentum 0.9 (PyTorch's 0 would make nesterov invalid). Fields a kind does
 * not use still get sensible values, so switching o->kind afterwards yields
 * valid options. */
void gx_optim_opts_default(gx_optim_opts *o, int kind)
{
	if (!o)
		return;
	o->kind = kind;
	o->lr = 0.01f;
	o->momentum = 0.0f;
	o->beta1 = 0.9f;
	o->beta2 = 0.999f;
	o->eps = 1e-8f;
	o->rho = 0.99f;
	o->weight_decay = 0.0f;
	o->lambda = 0.04f;
	switch (kind) {
	case GX_OPT_MOMENTUM:
	case GX_OPT_NESTEROV:
		o->momentum = GX_DEFAULT_OPT_MOMENTUM;
		break;
	case GX_OPT_ADAGRAD:
		o->eps = 1e-10f;
		break;
	case GX_OPT_ADADELTA:
		o->lr = 1.0f;
		o->rho = 0.9f;
		o->eps = 1e-6f;
		break;
	case GX_OPT_ADAM:
		o->lr = 0.001f;
		break;
	case GX_OPT_ADAMW:
		o->lr = 0.001f;
		o->weight_decay = 0.01f;
		break;
	default: /* sgd, rmsprop, dcasgd: the common values above */
		break;
	}
}

/* [0, 1), NaN excluded. */
static int unit(float x)
{
	return x >= 0.0f && x < 1.0f;
}

/* Checks the fields kind uses; the others are ignored (a zeroed struct with
 * only kind and lr set is valid SGD). */
static int check(const gx_optim_opts *o, int nsenders)
{
	int k = o->kind;
	if (k < 0 || k >= GX_OPT__MAX)
		return GX_EINVAL;
	if (!(o->lr > 0.0f) || !isfinite(o->lr))
		return GX_EINVAL;
	if (!(o->weight_decay >= 0.0f) || !isfinite(o->weight_decay))
		return GX_EINVAL;
	switch (k) {
	case GX_OPT_MOMENTUM:
	case GX_OPT_DCASGD:
	case GX_OPT_NESTEROV:
		if (!unit(o->momentum))
			return GX_EINVAL;
		if (k == GX_OPT_NESTEROV && o->momentum == 0.0f)
			return GX_EINVAL;
		break;
	default:
		break;
	}
	if ((k == GX_OPT_ADAM || k == GX_OPT_ADAMW) && (!unit(o->beta1) || !unit(o->beta2)))
		return GX_EINVAL;
	if ((k == GX_OPT_RMSPROP || k == GX_OPT_ADADELTA) && !unit(o->rho))
		return GX_EINVAL;
	if (k >= GX_OPT_ADAGRAD && k <= GX_OPT_ADAMW && (!(o->eps > 0.0f) || !isfinite(o->eps)))
		return GX_EINVAL;
	if (k == GX_OPT_DCASGD && (!(o->lambda >= 0.0f) || !isfinite(o->lambda) || nsenders < 1))
		return GX_EINVAL;
	return 0;
}

static float *zeros(size_t n)
{
	return calloc(n, sizeof(float));
}

gx_optim *gx_optim_create(const gx_optim_opts *o, uint64_t n, int nsenders, int *err)
{
	int e = o && n > 0 ? check(o, nsenders) : GX_EINVAL;
	gx_optim *op = NULL;
	if (e)
		goto fail;
	e = GX_ENOMEM;
	if (n > SIZE_MAX / sizeof(float))
		goto fail;
	op = calloc(1, sizeof *op);
	if (!op)
		goto fail;
	op->o = *o;
	op->n = (size_t)n;
	switch (o->kind) {
	case GX_OPT_MOMENTUM:
	case GX_OPT_NESTEROV:
	case GX_OPT_ADAGRAD:
	case GX_OPT_RMSPROP:
		op->a = zeros(op->n);
		if (!op->a)
			goto fail;
		break;
	case GX_OPT_ADADELTA:
	case GX_OPT_ADAM:
	case GX_OPT_ADAMW:
		op->a = zeros(op->n);
		op->b = zeros(op->n);
		if (!op->a || !op->b)
			goto fail;
		break;
	case GX_OPT_DCASGD:
		if ((size_t)nsenders > SIZE_MAX / sizeof(float) / op->n)
			goto fail;
		op->nsenders = nsenders;
		if (o->momentum != 0.0f && !(op->a = zeros(op->n)))
			goto fail;
		op->bak = zeros(op->n * (size_t)nsenders);
		op->has_bak = calloc((size_t)nsenders, 1);
		if (!op->bak || !op->has_bak)
			goto fail;
		break;
	default: /* sgd: stateless */
		break;
	}
	if (err)
		*err = 0;
	return op;
fail:
	gx_optim_free(op);
	if (err)
		*err = e;
	return NULL;
}

void gx_optim_free(gx_optim *op)
{
	if (!op)
		return;
	free(op->a);
	free(op->b);
	free(op->bak);
	free(op->has_bak);
	free(op);
}

uint64_t gx_optim_steps(const gx_optim *op)
{
	return op ? op->steps : 0;
}

/* ------------------------------------------------------------------ kernels */

/* PyTorch: d_p = grad.add(param, alpha=wd); the gradient with L2 decay. */
static inline float l2(float g, float w, float wd)
{
	return wd != 0.0f ? g + wd * w : g;
}

/* sgd, momentum, nesterov: torch.optim.SGD with dampening 0.
 *   d = g + wd*w
 *   buf = d (first step) | buf*m + d
 *   d = buf (heavy ball) | d + m*buf (nesterov)
 *   w = w + (-lr)*d */
static void step_sgd(gx_optim *op, float *w, const float *g, float gz)
{
	size_t n = op->n;
	float nlr = -op->o.lr, wd = op->o.weight_decay, m = op->o.momentum;
	float *restrict buf = op->a;
	if (op->o.kind == GX_OPT_SGD) {
		for (size_t i = 0; i < n; i++)
			w[i] = w[i] + nlr * l2(g[i] + gz, w[i], wd);
		return;
	}
	int first = op->steps == 0, nesterov = op->o.kind == GX_OPT_NESTEROV;
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] + gz;
		float d = l2(gi, w[i], wd);
		float b = first ? d : buf[i] * m + d;
		buf[i] = b;
		if (nesterov)
			d = d + m * b;
		else
			d = b;
		w[i] = w[i] + nlr * d;
	}
}

/* torch.optim.Adagrad, lr_decay 0, initial_accumulator_value 0.
 *   d = g + wd*w;  sum = sum + d*d;  std = sqrt(sum) + eps
 *   w = w + ((-clr)*d)/std,  clr = lr / (1 + (t-1)*lr_decay) = lr */
static void step_adagrad(gx_optim *op, float *w, const float *g, float gz)
{
	size_t n = op->n;
	float nclr = -op->o.lr, wd = op->o.weight_decay, eps = op->o.eps;
	float *restrict sum = op->a;
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] + gz;
		float d = l2(gi, w[i], wd);
		sum[i] = sum[i] + d * d;
		float std = sqrtf(sum[i]) + eps;
		w[i] = w[i] + (nclr * d) / std;
	}
}

/* torch.optim.RMSprop, centered false, momentum 0.
 *   d = g + wd*w;  sq = sq*alpha + ((1-alpha)*d)*d;  avg = sqrt(sq) + eps
 *   w = w + ((-lr)*d)/avg */
static void step_rmsprop(gx_optim *op, float *w, const float *g, float gz)
{
	size_t n = op->n;
	float nlr = -op->o.lr, wd = op->o.weight_decay, eps = op->o.eps;
	float alpha = op->o.rho, c = (float)(1.0 - (double)op->o.rho);
	float *restrict sq = op->a;
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] + gz;
		float d = l2(gi, w[i], wd);
		sq[i] = sq[i] * alpha + (c * d) * d;
		float avg = sqrtf(sq[i]) + eps;
		w[i] = w[i] + (nlr * d) / avg;
	}
}

/* torch.optim.Adadelta.
 *   d = g + wd*w;  sq = sq*rho + ((1-rho)*d)*d;  std = sqrt(sq + eps)
 *   delta = (sqrt(acc + eps) / std) * d;  acc = acc*rho + ((1-rho)*delta)*delta
 *   w = w + (-lr)*delta */
static void step_adadelta(gx_optim *op, float *w, const float *g, float gz)
{
	size_t n = op->n;
	float nlr = -op->o.lr, wd = op->o.weight_decay, eps = op->o.eps;
	float rho = op->o.rho, c = (float)(1.0 - (double)op->o.rho);
	float *restrict sq = op->a, *restrict acc = op->b;
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] + gz;
		float d = l2(gi, w[i], wd);
		sq[i] = sq[i] * rho + (c * d) * d;
		float std = sqrtf(sq[i] + eps);
		float delta = sqrtf(acc[i] + eps) / std * d;
		acc[i] = acc[i] * rho + (c * delta) * delta;
		w[i] = w[i] + nlr * delta;
	}
}

/* torch.optim.Adam (L2 weight decay) and AdamW (decoupled), amsgrad off.
 *   adamw: w = w * (1 - lr*wd)          adam: d = g + wd*w
 *   m = m*b1 + (1-b1)*d;  v = v*b2 + ((1-b2)*d)*d
 *   bc1 = 1 - b1^t;  bc2 = 1 - b2^t;  step = lr/bc1   (scalars in double)
 *   denom = sqrt(v) / sqrt(bc2) + eps;  w = w + ((-step)*m)/denom */
static void step_adam(gx_optim *op, float *w, const float *g, float gz)
{
	size_t n = op->n;
	double t = (double)op->steps + 1.0;
	double b1 = op->o.beta1, b2 = op->o.beta2, lr = op->o.lr;
	float fb1 = op->o.beta1, fb2 = op->o.beta2, eps = op->o.eps;
	float c1 = (float)(1.0 - b1), c2 = (float)(1.0 - b2);
	float nstep = (float)-(lr / (1.0 - pow(b1, t)));
	float bc2s = (float)sqrt(1.0 - pow(b2, t));
	float *restrict m = op->a, *restrict v = op->b;
	float wd = op->o.weight_decay;
	if (op->o.kind == GX_OPT_ADAMW) {
		float decay = (float)(1.0 - lr * (double)wd);
		for (size_t i = 0; i < n; i++)
			w[i] = w[i] * decay;
		wd = 0.0f;
	}
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] + gz;
		float d = l2(gi, w[i], wd);
		m[i] = m[i] * fb1 + c1 * d;
		v[i] = v[i] * fb2 + (c2 * d) * d;
		float denom = sqrtf(v[i]) / bc2s + eps;
		w[i] = w[i] + (nstep * m[i]) / denom;
	}
}

/* DC-ASGD (Zheng et al. 2017; MXNet's DCASGD for the momentum form), with the
 * backup of the sender's weights:
 *   d = (g + wd*w) + ((lambda*g)*g)*(w - bak[sender])
 *   momentum: mom = mom*m - lr*d; w = w + mom     else: w = w - lr*d
 * With no backup for the sender yet the compensation term is dropped (as if
 * bak were w). */
static void step_dcasgd(gx_optim *op, float *w, const float *g, float gz, int sender)
{
	size_t n = op->n;
	float lr = op->o.lr, wd = op->o.weight_decay, lam = op->o.lambda, mu = op->o.momentum;
	float *restrict mom = op->a;
	const float *restrict bak =
		op->has_bak[sender] && lam != 0.0f ? op->bak + (size_t)sender * n : NULL;
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] + gz;
		float d = l2(gi, w[i], wd);
		if (bak)
			d = d + ((lam * gi) * gi) * (w[i] - bak[i]);
		if (mom) {
			mom[i] = mom[i] * mu - lr * d;
			w[i] = w[i] + mom[i];
		} else {
			w[i] = w[i] - lr * d;
		}
	}
}

/* gz is added to every element of g as it is read: -0.0f, which changes
 * no float, or 0.0f, which turns a -0.0 into +0.0 (gx_optim_step_sum). An
 * add in a loop bound by memory costs nothing; a pass to canonicalise the
 * sum first would cost one more read and write of it. */
static int step(gx_optim *op, float *w, const float *g, int sender, float gz)
{
	if (!op || !w || !g)
		return GX_EINVAL;
	switch (op->o.kind) {
	case GX_OPT_SGD:
	case GX_OPT_MOMENTUM:
	case GX_OPT_NESTEROV:
		step_sgd(op, w, g, gz);
		break;
	case GX_OPT_ADAGRAD:
		step_adagrad(op, w, g, gz);
		break;
	case GX_OPT_RMSPROP:
		step_rmsprop(op, w, g, gz);
		break;
	case GX_OPT_ADADELTA:
		step_adadelta(op, w, g, gz);
		break;
	case GX_OPT_ADAM:
	case GX_OPT_ADAMW:
		step_adam(op, w, g, gz);
		break;
	case GX_OPT_DCASGD:
		if (sender < 0 || sender >= op->nsenders)
			return GX_EINVAL;
		step_dcasgd(op, w, g, gz, sender);
		break;
	default:
		return GX_EINVAL;
	}
	op->steps++;
	return 0;
}

int gx_optim_step(gx_optim *op, float *w, const float *g, int sender)
{
	return step(op, w, g, sender, -0.0f);
}

int gx_optim_step_sum(gx_optim *op, float *w, const float *g, int sender)
{
	return step(op, w, g, sender, 0.0f);
}

int gx_optim_backup(gx_optim *op, const float *w, int sender)
{
	if (!op || !w)
		return GX_EINVAL;
	if (op->o.kind != GX_OPT_DCASGD)
		return 0;
	if (sender < 0 || sender >= op->nsenders)
		return GX_EINVAL;
	memcpy(op->bak + (size_t)sender * op->n, w, op->n * sizeof(float));
	op->has_bak[sender] = 1;
	return 0;
}

/* ---------------------------------------------------------------- state */

/* The state's parts in order: steps, a, b, has_bak, bak. */
size_t gx_optim_state_size(const gx_optim *op)
{
	if (!op)
		return 0;
	size_t fl = (op->a ? op->n : 0) + (op->b ? op->n : 0) +
		    (op->bak ? op->n * (size_t)op->nsenders : 0);
	return 8 + (op->has_bak ? (size_t)op->nsenders : 0) + fl * sizeof(float);
}

int gx_optim_state_save(const gx_optim *op, uint8_t *out, size_t cap)
{
	if (!op || !out || cap < gx_optim_state_size(op))
		return GX_EINVAL;
	put64(out, op->steps);
	out += 8;
	size_t n = op->n * sizeof(float);
	if (op->a)
		memcpy(out, op->a, n), out += n;
	if (op->b)
		memcpy(out, op->b, n), out += n;
	if (op->has_bak)
		memcpy(out, op->has_bak, (size_t)op->nsenders), out += op->nsenders;
	if (op->bak)
		memcpy(out, op->bak, n * (size_t)op->nsenders);
	return 0;
}

int gx_optim_state_load(gx_optim *op, const uint8_t *in, size_t len)
{
	if (!op || !in)
		return GX_EINVAL;
	if (len != gx_optim_state_size(op))
		return GX_ELENGTH;
	uint64_t st = get64(in);
	in += 8;
	size_t n = op->n * sizeof(float);
	if (op->has_bak)
		for (size_t j = 0; j < (size_t)op->nsenders; j++)
			if (in[(op->a ? n : 0) + (op->b ? n : 0) + j] > 1)
				return GX_ECORRUPT;
	op->steps = st;
	if (op->a)
		memcpy(op->a, in, n), in += n;
	if (op->b)
		memcpy(op->b, in, n), in += n;
	if (op->has_bak)
		memcpy(op->has_bak, in, (size_t)op->nsenders), in += op->nsenders;
	if (op->bak)
		memcpy(op->bak, in, n * (size_t)op->nsenders);
	return 0;
}

