/*
 * error_feedback.c — error feedback with optional DGC momentum correction.
 *
 * Whatever a lossy codec does not send stays in the residual v and is sent
 * later, so over many rounds nothing is lost: sum(sent) + v == sum(inputs).
 * With momentum m, the velocity u = m*u + g is accumulated instead of g
 * (Lin et al., Deep Gradient Compression, "momentum correction"), and where
 * a value is sent both v and u are cleared ("momentum factor masking") so a
 * stale velocity does not keep pushing an element that was just applied.
 */
#include <math.h>
#include <stdlib.h>

#include "gx_codec.h"

struct gx_ef {
	uint64_t n;
	float momentum;
	float *v; /* residual: accumulated, not yet sent */
	float *u; /* velocity; NULL without momentum */
};

gx_ef *gx_ef_create(uint64_t n, float momentum)
{
	/* A non-finite momentum would turn the whole state into NaN on the
	 * first round; refuse it like a zero size. */
	if (n == 0 || n > SIZE_MAX / sizeof(float) || !isfinite(momentum))
		return NULL;
	gx_ef *ef = calloc(1, sizeof *ef);
	if (!ef)
		return NULL;
	ef->n = n;
	ef->momentum = momentum;
	ef->v = calloc((size_t)n, sizeof *ef->v);
	if (momentum != 0.0f)
		ef->u = calloc((size_t)n, sizeof *ef->u);
	if (!ef->v || (momentum != 0.0f && !ef->u)) {
		gx_ef_free(ef);
		return NULL;
	}
	return ef;
}

void gx_ef_free(gx_ef *ef)
{
	if (!ef)
		return;
	free(ef->v);
	free(ef->u);
	free(ef);
}

uint64_t gx_ef_count(const gx_ef *ef)
{
	return ef ? ef->n : 0;
}

float gx_ef_momentum(const gx_ef *ef)
{
	return ef ? ef->momentum : 0.0f;
}

float *gx_ef_accumulate(gx_ef *ef, const float *g)
{
	if (!ef || !g)
		return NULL;
	size_t n = (size_t)ef->n;
	float *restrict v = ef->v;
	if (ef->u) {
		float *restrict u = ef->u;
		float m = ef->momentum;
		for (size_t i = 0; i < n; i++) {
			u[i] = m * u[i] + g[i];
			v[i] += u[i];
		}
	} else {
		for (size_t i = 0; i < n; i++)
			v[i] += g[i];
	}
	return v;
}

float *gx_ef_residual(gx_ef *ef)
{
	return ef ? ef->v : NULL;
}

float *gx_ef_velocity(gx_ef *ef)
{
	return ef ? ef->u : NULL;
}

void gx_ef_commit_sparse(gx_ef *ef, const uint32_t *idx, const float *sent, size_t k)
{
	if (!ef || !idx)
		return;
	for (size_t j = 0; j < k; j++) {
		uint32_t i = idx[j];
		if (i >= ef->n) /* not ours to touch; the library does not trust indices */
			continue;
		/* With sent values (a lossy value codec) the quantisation error
		 * stays in v and goes out later; without, the exact v went out. */
		ef->v[i] = sent ? ef->v[i] - sent[j] : 0.0f;
		if (ef->u)
			ef->u[i] = 0.0f;
	}
}

/* A dense codec sends every element every round, so v keeps only the
 * quantisation error. The velocity is deliberately left alone: masking it
 * everywhere would reset u to g each round and silently turn momentum
 * correction off; with u kept, what is sent is the momentum-corrected
 * update, as momentum SGD would apply it. */
void gx_ef_commit_dense(gx_ef *ef, const float *sent)
{
	if (!ef || !sent)
		return;
	size_t n = (size_t)ef->n;
	float *restrict v = ef->v;
	for (size_t i = 0; i < n; i++)
		v[i] -= sent[i];
}
