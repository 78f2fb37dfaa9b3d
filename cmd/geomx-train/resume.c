/*
 * resume.c — geomx-train's durable progress: the run's state written to its
 * checkpoint (save_state), and a run going on from it (--resume):
 * standalone from the file alone, distributed from the file and the place
 * its local server kept (docs/protocol.md, "A broken link between a worker
 * and its local server"; geomx-train(1), CHECKPOINTS).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli.h"
#include "train.h"

/* Whether the worker's client keeps residuals of its own (an fp16 LAN):
 * then they are part of its state. */
static int has_residuals(const struct state *s)
{
	return s->kv && s->info.lan == GX_LINK_FP16;
}

/* Copies the client's residuals to r (laid out as the parameters), or,
 * out 0, back from r into the client. */
static void residuals(struct state *s, float *r, int out)
{
	size_t nt = gx_model_ntensors(s->m);
	for (size_t i = 0; i < nt; i++) {
		gx_tensor_info ti;
		gx_model_tensor(s->m, i, &ti);
		float *k = gx_kv_residual(s->kv, ti.key);
		if (!k)
			continue;
		if (out)
			memcpy(r + ti.offset, k, ti.count * sizeof *r);
		else
			memcpy(k, r + ti.offset, ti.count * sizeof *r);
	}
}

/* Writes the run's state after step steps to path (the optimizer's state,
 * HFA's last sync and an fp16 LAN's residuals with the parameters); -1
 * after a message. */
int save_state(const struct topts *o, struct state *s, const char *path, uint64_t step)
{
	struct ckpt_state st = { .step = step, .batch = (uint64_t)o->batch, .seed = o->seed,
				 .shard_i = o->shard_i, .shard_n = o->shard_n, .syncs = s->nsyncs,
				 .synced = s->synced };
	if (has_residuals(s)) {
		size_t np = (size_t)gx_model_nparams(s->m);
		if (!(st.residual = malloc((np ? np : 1) * sizeof *st.residual))) {
			cli_error("out of memory");
			return -1;
		}
		residuals(s, st.residual, 1);
	}
	if (s->op) {
		st.opt_len = gx_optim_state_size(s->op);
		if (!(st.opt = malloc(st.opt_len ? st.opt_len : 1))) {
			cli_error("out of memory");
			return -1;
		}
		int e = gx_optim_state_save(s->op, st.opt, st.opt_len);
		if (e) {
			cli_error("%s: cannot save the optimizer's state: %s", path, gx_strerror(e));
			free(st.opt);
			free(st.residual);
			return -1;
		}
	}
	int rc = ckpt_save(path, s->m, s->dc, s->dh, s->dw, &st);
	free(st.opt);
	free(st.residual);
	return rc;
}

/* An fp16 LAN: the client's residuals from st, which must hold them; -1
 * after a message. */
static int take_residuals(const struct topts *o, struct state *s, const struct ckpt_state *st)
{
	if (!has_residuals(s))
		return 0;
	if (!st->residual) {
		cli_error("%s: holds no residuals of the pushes, which the fp16 LAN needs (written "
			  "by a run on an F32 LAN, or by an older geomx-train)", o->checkpoint);
		return -1;
	}
	residuals(s, st->residual, 0);
	return 0;
}

/* --resume: the run's state from o->checkpoint, when there is one. *step
 * gets the steps already taken (0 when starting afresh). -1 after a
 * message. */
int resume_state(const struct topts *o, struct state *s, uint64_t total, uint64_t *step)
{
	struct ckpt_state st;
	*step = 0;
	if (access(o->checkpoint, F_OK) != 0 && errno == ENOENT) {
		cli_info("%s: no checkpoint yet: starting afresh", o->checkpoint);
		return 0;
	}
	if (ckpt_load(o->checkpoint, s->m, s->dc, s->dh, s->dw, &st))
		return -1;
	int rc = -1;
	if (st.version < 2) {
		cli_error("%s: holds parameters only (no training state): start from it with --load",
			  o->checkpoint);
	} else if (st.batch != (uint64_t)o->batch || st.seed != o->seed ||
		   st.shard_i != o->shard_i || st.shard_n != o->shard_n) {
		cli_error("%s: written by a run with --batch %" PRIu64 " --seed %" PRIu64
			  " --shard %" PRIu32 "/%" PRIu32 "; this one has --batch %ld --seed %" PRIu64
			  " --shard %" PRIu32 "/%" PRIu32, o->checkpoint, st.batch, st.seed, st.shard_i,
			  st.shard_n, o->batch, o->seed, o->shard_i, o->shard_n);
	} else if (!s->op != !st.opt_len || !s->synced != !st.synced) {
		cli_error("%s: written by a run that %s an optimizer%s; this one %s", o->checkpoint,
			  st.opt_len ? "ran" : "did not run", st.synced ? " under HFA sync" : "",
			  s->op ? "runs one" : "does not");
	} else if (st.step > total) {
		cli_error("%s: at step %" PRIu64 ", past this run's %" PRIu64 " steps", o->checkpoint,
			  st.step, total);
	} else if (take_residuals(o, s, &st) == 0) {
		int e = s->op ? gx_optim_state_load(s->op, st.opt, st.opt_len) : 0;
		if (e) {
			cli_error("%s: the optimizer's state does not fit this run's optimizer: %s",
				  o->checkpoint, gx_strerror(e));
		} else {
			if (s->synced)
				memcpy(s->synced, st.synced, gx_model_nparams(s->m) * sizeof *s->synced);
			s->nsyncs = st.syncs;
			*step = st.step;
			rc = 0;
			cli_info("%s: resuming at step %" PRIu64 " of %" PRIu64, o->checkpoint, st.step,
				 total);
		}
	}
	ckpt_state_release(&st);
	return rc;
}

/* --resume with --ps under HFA sync: the model and the optimizer are the
 * worker's own (its checkpoint), the rounds its local server's. The server
 * either waits for the sync after the checkpoint (its round is the
 * checkpoint's syncs: the worker takes its local steps again, bit for bit,
 * and pushes, a push the server may already hold taken once), or did it
 * without waiting for the answer to arrive (one more: the worker takes its
 * local steps again for the optimizer's state, and at the sync takes the
 * average INIT gave instead of pushing). -1 after a message. */
int resume_hfa(const struct topts *o, struct state *s, uint64_t total, uint64_t *step)
{
	size_t n = (size_t)gx_model_nparams(s->m);
	float *avg = malloc((n ? n : 1) * sizeof *avg);
	if (!avg) {
		cli_error("out of memory");
		return -1;
	}
	memcpy(avg, s->synced, n * sizeof *avg); /* INIT's answer: the latest average */
	long r = gx_model_ntensors(s->m) ? gx_kv_round(s->kv, s->keys[0]) : 0;
	if (resume_state(o, s, total, step)) {
		free(avg);
		return -1;
	}
	if (r == (long)s->nsyncs) {
		free(avg);
	} else if (r == (long)s->nsyncs + 1) {
		s->adopt = avg;
	} else {
		cli_error("%s: written after %" PRIu64 " syncs, but the local server is at its round "
			  "%ld (--checkpoint-every k1 keeps the file one sync behind at most)",
			  o->checkpoint, s->nsyncs, r);
		free(avg);
		return -1;
	}
	return 0;
}

/* --resume with --ps under full or mixed sync: the servers hold the
 * parameters, and the local server kept this worker's place: its rounds
 * name the step to go on from (*step), and INIT gave the values the step
 * is computed from — except when the process died inside a step, after
 * some of its pushes: those keys' values are the step's results, and the
 * values before them come from the checkpoint, if it is of that very step
 * (--checkpoint-every 1 makes sure). Under an fp16 LAN the pushes'
 * residuals are the worker's own, and the checkpoint of that step is
 * needed in any case. -1 after a message. */
int resume_place(const struct topts *o, struct state *s, uint64_t total, uint64_t *step)
{
	long r = gx_model_ntensors(s->m) ? gx_kv_round(s->kv, s->keys[0]) : 0;
	if (r < 0) {
		cli_error("cannot read the servers' round: %s", gx_strerror((int)r));
		return -1;
	}
	if ((uint64_t)r > total) {
		cli_error("the local server is at step %ld, past this run's %" PRIu64 " steps", r, total);
		return -1;
	}
	*step = (uint64_t)r;
	if (!s->info.inside_step && !has_residuals(s)) {
		cli_info("resuming at step %ld of %" PRIu64 " (the local server's round)", r, total);
		return 0;
	}
	/* An fp16 LAN, the process killed after its step's pushes were all
	 * answered and before its checkpoint of that step: the step's
	 * gradients again from the step before, through the residuals. */
	int refold = !s->info.inside_step;
	size_t nb = (size_t)gx_model_nparams(s->m) * sizeof(float);
	float *init = refold ? malloc(nb ? nb : 1) : NULL;
	if (refold && !init) {
		cli_error("out of memory");
		return -1;
	}
	if (init)
		memcpy(init, gx_model_params(s->m), nb); /* INIT's: the step's results */
	struct ckpt_state st;
	memset(&st, 0, sizeof st);
	int have = access(o->checkpoint, F_OK) == 0;
	if (have && ckpt_load(o->checkpoint, s->m, s->dc, s->dh, s->dw, &st)) {
		free(init);
		return -1;
	}
	refold = refold && have && st.version >= 2 && r > 0 && st.step + 1 == (uint64_t)r;
	if (!have || st.version < 2 || (st.step != (uint64_t)r && !refold)) {
		free(init);
		char what[64];
		snprintf(what, sizeof what, !have ? "does not exist" : st.version < 2 ?
			 "holds parameters only" : "holds step %" PRIu64, st.step);
		if (s->info.inside_step)
			cli_error("the worker died inside step %ld, some of whose pushes had "
				  "arrived: going on exactly needs the state after step %ld, and %s "
				  "%s (--checkpoint-every 1 keeps it)", r + 1, r, o->checkpoint, what);
		else
			cli_error("the local server is at step %ld: under an fp16 LAN going on "
				  "exactly needs the pushes' residuals after that step, and %s %s "
				  "(--checkpoint-every 1 keeps them)", r, o->checkpoint, what);
		ckpt_state_release(&st);
		return -1;
	}
	int rc = take_residuals(o, s, &st);
	ckpt_state_release(&st);
	if (!rc && refold) {
		rc = step_grads(o, s, (uint64_t)r);
		if (!rc)
			rc = fold_push(s, "resume", (uint64_t)r);
		memcpy(gx_model_params(s->m), init, nb);
		if (!rc)
			cli_info("%s is of step %ld: step %ld's pushes, answered, taken through the "
				 "residuals again", o->checkpoint, r - 1, r);
	}
	free(init);
	if (rc)
		return -1;
	cli_info("resuming %s step %ld of %" PRIu64 " from %s (the local server's round)",
		 s->info.inside_step ? "inside" : "at", s->info.inside_step ? r + 1 : r, total,
		 o->checkpoint);
	return 0;
}
