/*
 * overlap.c — geomx-train --schedule p3: communication overlapped with
 * computation, as P3 (Jayarajan et al., SysML 2019) does it. The backward
 * pass hands each layer's gradients to the client the moment it has them
 * (the last layer first), each with the priority of its tensor's place in
 * the forward order, so that the tensors the next forward pass needs first
 * overtake the others at every queue; the next step's forward pass waits,
 * layer by layer, only for the parameters it is about to use, while the
 * answers for the layers after it are still on their way. The arithmetic
 * is that of the fifo schedule (run.c, exchange): the same gradients, the
 * same answers in the same places, so under full sync the bits are the
 * same; only the timing moves. Used only where every step exchanges (full
 * and mixed sync); under HFA a sync pushes changes that exist only after
 * the local optimizer's step, so there is nothing to overlap.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "train.h"

/* The tensor's name and the error, once: batch_grads stays silent after. */
static int fail(struct state *s, size_t t, int e)
{
	gx_tensor_info ti;
	gx_model_tensor(s->m, t, &ti);
	cli_error("%s: step %" PRIu64 ", %s: %s", s->who, s->step, ti.name, gx_strerror(e));
	s->said = 1;
	return e;
}

/* Forward: the answers for tensors [t0, t1), before the pass reads them. */
static int need(void *ud, size_t t0, size_t t1)
{
	struct state *s = ud;
	double start = s->trace ? cli_now() : 0;
	int waited = 0;
	for (size_t t = t0; t < t1; t++) {
		if (!s->pending[t])
			continue;
		waited = 1;
		int e = gx_kv_wait(s->kv, s->pending[t]);
		s->pending[t] = 0;
		if (e)
			return fail(s, t, e);
	}
	if (waited)
		trace_event(s, "wait", t0, t1, start, cli_now());
	return 0;
}

/* Backward: tensors [t0, t1) leave now; their parameters are answered in
 * place, which the rest of this step no longer reads. */
static int ready(void *ud, size_t t0, size_t t1)
{
	struct state *s = ud;
	for (size_t t = t0; t < t1; t++) {
		gx_tensor_info ti;
		gx_model_tensor(s->m, t, &ti);
		/* lent: the gradient stays unchanged until need() waits for it
		 * (the next backward pass comes after the next forward's) */
		gx_kv_req r = gx_kv_pushpull_borrowed(s->kv, ti.key, ti.grad, ti.data,
						      (int)(t < 255 ? t : 255));
		if (r < 0)
			return fail(s, t, (int)r);
		s->pending[t] = r;
	}
	if (s->trace) {
		double now = cli_now();
		trace_event(s, "push", t0, t1, now, now);
	}
	/* Where workers share a core, a worker that has handed over a
	 * layer's gradients lets the others hand over theirs before it
	 * computes its next layer: a server sums a block only once every
	 * worker's is in, and the scheduler would otherwise run each
	 * worker's whole backward pass in turn, so that the last worker's
	 * large layer reached the link a whole backward pass after the
	 * first's, the link idle meanwhile (bench/p3.sh, cnn at 300 Mbit/s:
	 * 34.7 ms a step against 30.9 with it). Alone on its core, the
	 * call returns at once. */
	sched_yield();
	return 0;
}

int overlap_setup(struct state *s, const char *who)
{
	size_t nt = gx_model_ntensors(s->m);
	s->pending = calloc(nt ? nt : 1, sizeof *s->pending);
	if (!s->pending) {
		cli_error("out of memory");
		return -1;
	}
	s->who = who;
	s->hooks.need = need;
	s->hooks.ready = ready;
	s->hooks.ud = s;
	return 0;
}

int overlap_settle(struct state *s)
{
	if (!s->pending)
		return 0;
	/* (nothing outstanding: returns at once) */
	int e = gx_kv_wait_all(s->kv);
	memset(s->pending, 0, gx_model_ntensors(s->m) * sizeof *s->pending);
	if (e) {
		cli_error("%s: step %" PRIu64 ": %s", s->who, s->step, gx_strerror(e));
		return -1;
	}
	return 0;
}
