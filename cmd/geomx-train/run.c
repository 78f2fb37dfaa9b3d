/*
 * run.c — geomx-train's training run: load and shard the data, build the
 * model, then step: forward and backward on a batch, and either an optimizer
 * step here (standalone) or a push of every gradient to the parameter
 * server, which answers with the updated parameters (distributed, full or
 * mixed sync), or, under HFA sync, an optimizer step here and every k1
 * steps a push of the model's change since the last sync, answered with the
 * averaged model. Reports go to stdout as TSV or JSON lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../cli.h"
#include "train.h"

#define EVAL_BATCH 256
#define BAR_WIDTH 30

volatile sig_atomic_t train_stop;

/* ------------------------------------------------------------------- data */

static int load_one(const struct topts *o, const char *path, const char *labels, uint32_t d,
		    gx_dataset *out, char *err, size_t cap)
{
	unsigned fl = o->regression ? GX_DATA_REGRESSION : 0;
	switch (o->dformat) {
	case DFMT_IDX:
		return gx_dataset_load_idx(path, labels, out, err, cap);
	case DFMT_CSV:
		return gx_dataset_load_csv(path, -1, -1, fl, out, err, cap);
	default:
		return gx_dataset_load_libsvm(path, d, fl, out, err, cap);
	}
}

/* Loads the training and (when there is one) the test set; -1 after a message. */
static int load_data(const struct topts *o, gx_dataset *tr, gx_dataset *te)
{
	char err[512];
	int e;
	if (o->data) {
		if ((e = gx_dataset_fashion_mnist(o->data_dir, 1, tr, err, sizeof err)) != 0 ||
		    (e = gx_dataset_fashion_mnist(o->data_dir, 0, te, err, sizeof err)) != 0)
			goto fail;
	} else {
		if ((e = load_one(o, o->train, o->train_labels, 0, tr, err, sizeof err)) != 0)
			goto fail;
		if (o->test && (e = load_one(o, o->test, o->test_labels, tr->d, te, err, sizeof err)) != 0)
			goto fail;
	}
	if (te->n && te->d != tr->d) {
		cli_error("%s: %" PRIu32 " features per sample, but the training set has %" PRIu32,
			  o->test ? o->test : "test set", te->d, tr->d);
		return -1;
	}
	if (o->limit && tr->n > o->limit)
		tr->n = o->limit;
	if (o->test_limit && te->n > o->test_limit)
		te->n = o->test_limit;
	return 0;
fail:
	cli_error("%s", *err ? err : gx_strerror(e));
	return -1;
}

/* Samples in the smallest of the job's shards: every worker loads the whole
 * set, so each can compute all shard sizes and all take the same number of
 * steps per epoch. */
static uint64_t min_shard(const gx_dataset *ds, uint32_t n, int by_class)
{
	if (n <= 1)
		return ds->n;
	if (!by_class)
		return ds->n / n;
	uint64_t *per = calloc(ds->nclasses ? ds->nclasses : 1, sizeof *per), best = UINT64_MAX;
	if (!per)
		return 0;
	for (uint64_t i = 0; i < ds->n; i++)
		per[(uint32_t)ds->y[i]]++;
	for (uint32_t s = 0; s < n; s++) {
		uint32_t lo, hi;
		uint64_t c = 0;
		if (gx_dataset_shard_classes(ds->nclasses, s, n, &lo, &hi) == 0)
			for (uint32_t k = lo; k < hi; k++)
				c += per[k];
		if (c < best)
			best = c;
	}
	free(per);
	return best;
}

/* -------------------------------------------------------------- reporting */

struct rep {
	int fmt;
	int bar;          /* a progress bar on stderr */
	uint64_t total;   /* steps */
	uint64_t spe;     /* steps per epoch */
	int batch;
	double t0, last_t, last_bar;
	double loss_sum;
	uint64_t loss_n;
};

static void bar_clear(struct rep *r)
{
	if (r->bar)
		fputs("\r\033[K", stderr);
}

static void bar_draw(struct rep *r, uint64_t step, double loss)
{
	double t = cli_now();
	if (!r->bar || (t - r->last_bar < 0.2 && step != r->total))
		return;
	r->last_bar = t;
	int fill = r->total ? (int)(BAR_WIDTH * step / r->total) : BAR_WIDTH;
	fprintf(stderr, "\r[%.*s%*s] %" PRIu64 "/%" PRIu64 " loss %.4f", fill,
		"==============================", BAR_WIDTH - fill, "", step, r->total, loss);
	fflush(stderr);
}

static void put_num(int json, const char *name, double v, int prec, int first)
{
	if (json) {
		printf("%s\"%s\":", first ? "{" : ",", name);
		if (isfinite(v))
			printf("%.*f", prec, v);
		else
			fputs("null", stdout);
	} else {
		if (!first)
			putchar('\t');
		if (!isnan(v))
			printf("%.*f", prec, v);
	}
}

static void put_u64(int json, const char *name, uint64_t v)
{
	if (json)
		printf(",\"%s\":%" PRIu64, name, v);
	else
		printf("\t%" PRIu64, v);
}

static void header(const struct rep *r)
{
	if (r->fmt == RFMT_TSV)
		printf("step\tepoch\ttime_s\tloss\tsamples_s\tbytes_out\tbytes_in\tchecksum\ttest_loss"
		       "\ttest_acc\tsamples\n");
}

/* One report line: the mean loss since the last one, the rate since then
 * (t_end: when the last step ended, so evaluation is not counted), traffic,
 * the parameters' checksum, the test set's loss and accuracy when
 * evaluated, and the training samples this worker has seen (last, so that
 * the columns before it keep their places). Returns -1 when stdout fails. */
static int report(struct rep *r, gx_model *m, uint64_t step, double t_end, uint64_t bo,
		  uint64_t bi, int evaluated, double test_loss, double test_acc)
{
	int json = r->fmt == RFMT_JSON;
	double loss = r->loss_n ? r->loss_sum / (double)r->loss_n : NAN;
	double dt = t_end - r->last_t;
	double rate = r->loss_n && dt > 0 ? (double)(r->loss_n * (uint64_t)r->batch) / dt : NAN;
	bar_clear(r);
	if (json)
		printf("{\"step\":%" PRIu64, step);
	else
		printf("%" PRIu64, step);
	put_num(json, "epoch", r->spe ? (double)step / (double)r->spe : 0, 3, 0);
	put_num(json, "time_s", t_end - r->t0, 3, 0);
	put_num(json, "loss", loss, 6, 0);
	put_num(json, "samples_s", rate, 1, 0);
	put_u64(json, "bytes_out", bo);
	put_u64(json, "bytes_in", bi);
	if (json)
		printf(",\"checksum\":\"%08" PRIx32 "\"", gx_model_checksum(m));
	else
		printf("\t%08" PRIx32, gx_model_checksum(m));
	put_num(json, "test_loss", evaluated ? test_loss : NAN, 6, 0);
	put_num(json, "test_acc", evaluated ? test_acc : NAN, 4, 0);
	put_u64(json, "samples", step * (uint64_t)r->batch);
	fputs(json ? "}\n" : "\n", stdout);
	r->loss_sum = 0;
	r->loss_n = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			cli_error("stdout: write error: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Evaluates on the test set (when there is one); -1 after a message. */
static int evaluate(gx_model *m, const gx_dataset *te, int *evaluated, double *loss, double *acc)
{
	*evaluated = 0;
	if (!te->n)
		return 0;
	int e = gx_model_eval(m, te->x, te->y, te->n, EVAL_BATCH, loss, acc);
	if (e) {
		cli_error("evaluation failed: %s", gx_strerror(e));
		return -1;
	}
	*evaluated = 1;
	return 0;
}

/* --eval-async: a report's evaluation in a forked copy of this process,
 * which holds the model as it is at that step, while the training goes on
 * (a synchronous job would otherwise wait for this worker's evaluation
 * every time); the copy, at the lowest priority, writes the report's
 * line and exits. One at a time: the next waits for the last. */
static pid_t eval_pid;

/* Waits for the evaluation in flight; -1 after a message when it failed. */
static int eval_join(uint64_t *step)
{
	if (eval_pid <= 0)
		return 0;
	int st = 0;
	pid_t r;
	while ((r = waitpid(eval_pid, &st, 0)) < 0 && errno == EINTR)
		;
	eval_pid = 0;
	if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		cli_error("the evaluation of step %" PRIu64 " failed", *step);
		return -1;
	}
	return 0;
}

/* The report of step (its evaluation and line) in a forked copy: 0 when
 * the copy runs it (r starts the next report's figures), 1 when it cannot
 * fork (the caller reports here), -1 after a message. */
static int report_forked(struct rep *r, struct state *s, uint64_t step, double t, uint64_t bo,
			 uint64_t bi, uint64_t *eval_step)
{
	if (eval_join(eval_step))
		return -1;
	if (fflush(stdout) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		/* below the training's processes: it takes what CPU they leave */
		if (nice(19) == -1 && errno)
			errno = 0;
		int evaluated = 0;
		double tl = 0, ta = 0;
		int bad = evaluate(s->m, &s->test, &evaluated, &tl, &ta) ||
			  report(r, s->m, step, t, bo, bi, evaluated, tl, ta);
		_exit(bad ? 1 : 0);
	}
	eval_pid = pid;
	*eval_step = step;
	r->loss_sum = 0;
	r->loss_n = 0;
	return 0;
}

/* ------------------------------------------------------------------- run */


static void release(struct state *s)
{
	gx_kv_free(s->kv);
	gx_optim_free(s->op);
	gx_model_free(s->m);
	gx_dataset_release(&s->shard);
	gx_dataset_release(&s->full);
	gx_dataset_release(&s->test);
	free(s->idx);
	free(s->keys);
	free(s->counts);
	free(s->vals);
	free(s->synced);
	free(s->delta);
	free(s->adopt);
	free(s->xb);
	free(s->yb);
	free(s->pending);
}

/* Registers every tensor with the parameter server: afterwards every
 * worker holds the values the global tier kept. -1 after a message. */
static int connect_ps(const struct topts *o, struct state *s, const char *who)
{
	size_t nt = gx_model_ntensors(s->m);
	int e;
	s->keys = calloc(nt, sizeof *s->keys);
	s->counts = calloc(nt, sizeof *s->counts);
	s->vals = calloc(nt, sizeof *s->vals);
	if (!s->keys || !s->counts || !s->vals) {
		cli_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < nt; i++) {
		gx_tensor_info ti;
		gx_model_tensor(s->m, i, &ti);
		s->keys[i] = ti.key;
		s->counts[i] = ti.count;
		s->vals[i] = ti.data;
	}
	gx_kv_opts ko;
	gx_kv_opts_default(&ko);
	ko.servers = o->ps;
	ko.rank = o->rank;
	ko.party = o->party;
	ko.connect_timeout = o->connect_timeout;
	uint8_t wk[32]; /* its own key, from the one given */
	ko.psk = cli_worker_key(o->have_key ? &o->key : NULL, o->party, o->rank, wk);
	ko.log = cli_log;
	ko.log_ud = (void *)who;
	ko.credit = o->credit;
	ko.restarted = o->resume; /* its place back, if the local server kept it */
	s->kv = gx_kv_connect(&ko, &e);
	if (!s->kv) {
		cli_error("%s: cannot connect to %s: %s", who, o->ps, gx_strerror(e));
		return -1;
	}
	if ((e = gx_kv_init(s->kv, nt, s->keys, s->counts, s->vals)) != 0) {
		cli_error("%s: init failed: %s", who, gx_strerror(e));
		return -1;
	}
	gx_kv_info_get(s->kv, &s->info);
	return 0;
}

/* Under HFA sync: the copy of the parameters as of the last sync (the
 * values the global tier kept at INIT, to begin with) and the buffer of the
 * changes pushed. -1 after a message. */
static int hfa_setup(struct state *s)
{
	uint64_t n = gx_model_nparams(s->m);
	s->synced = malloc((n ? n : 1) * sizeof *s->synced);
	s->delta = malloc((n ? n : 1) * sizeof *s->delta);
	if (!s->synced || !s->delta) {
		cli_error("out of memory");
		return -1;
	}
	memcpy(s->synced, gx_model_params(s->m), n * sizeof *s->synced);
	return 0;
}

/* One exchange with the servers: push every gradient (priority = tensor
 * index, so the first layers' go first) and receive the new parameters in
 * place. Under HFA (s->synced set) what is pushed is each tensor's change
 * since the last sync, the answer is the averaged model, which becomes the
 * new starting point; the optimizer's state carries over to it. */
/* What tensor ti pushes: its gradient, or under HFA its change since the
 * last sync (in s->delta). */
static const float *push_of(struct state *s, const gx_tensor_info *ti)
{
	if (!s->synced)
		return ti->grad;
	const float *sy = s->synced + ti->offset;
	float *d = s->delta + ti->offset;
	for (uint64_t j = 0; j < ti->count; j++)
		d[j] = ti->data[j] - sy[j];
	return d;
}

int fold_push(struct state *s, const char *who, uint64_t step)
{
	size_t nt = gx_model_ntensors(s->m);
	for (size_t i = 0; i < nt; i++) {
		gx_tensor_info ti;
		gx_model_tensor(s->m, i, &ti);
		int e = gx_kv_fold(s->kv, ti.key, push_of(s, &ti));
		if (e) {
			cli_error("%s: step %" PRIu64 ", %s: %s", who, step, ti.name, gx_strerror(e));
			return -1;
		}
	}
	return 0;
}

int batch_grads(const struct topts *o, struct state *s, uint64_t b, uint64_t step, float *loss,
		const gx_model_hooks *hk)
{
	size_t bsz = (size_t)o->batch;
	gx_dataset_gather(&s->shard, s->idx + b * bsz, bsz, s->xb, s->yb);
	s->step = step;
	s->said = 0;
	int e = gx_model_forward_backward_hooked(s->m, s->xb, s->yb, o->batch, loss, hk);
	if (e && !s->said)
		cli_error("step %" PRIu64 ": %s", step, gx_strerror(e));
	return e ? -1 : 0;
}

int step_grads(const struct topts *o, struct state *s, uint64_t step)
{
	uint64_t ep = (step - 1) / s->spe;
	float loss;
	int e = gx_shuffle_indices(s->idx, s->shard.n, o->seed, ep);
	if (e) {
		cli_error("cannot shuffle: %s", gx_strerror(e));
		return -1;
	}
	return batch_grads(o, s, (step - 1) % s->spe, step, &loss, NULL);
}

static int exchange(struct state *s, const char *who, uint64_t step)
{
	size_t nt = gx_model_ntensors(s->m);
	double pushed = s->trace ? cli_now() : 0;
	for (size_t i = 0; i < nt; i++) {
		gx_tensor_info ti;
		gx_model_tensor(s->m, i, &ti);
		const float *push = push_of(s, &ti);
		/* lent: push stays unchanged until the wait below */
		gx_kv_req r = gx_kv_pushpull_borrowed(s->kv, ti.key, push, ti.data,
						      (int)(i < 255 ? i : 255));
		if (r < 0) {
			cli_error("%s: step %" PRIu64 ", %s: %s", who, step, ti.name, gx_strerror((int)r));
			return -1;
		}
	}
	double waited = s->trace ? cli_now() : 0;
	trace_event(s, "push", 0, nt, pushed, pushed);
	int e = gx_kv_wait_all(s->kv);
	if (e) {
		cli_error("%s: step %" PRIu64 ": %s", who, step, gx_strerror(e));
		return -1;
	}
	trace_event(s, "wait", 0, nt, waited, cli_now());
	if (s->synced) {
		memcpy(s->synced, gx_model_params(s->m), gx_model_nparams(s->m) * sizeof *s->synced);
		s->nsyncs++;
	}
	return 0;
}

/* After the last step's sync: pushes of no change until the round is a
 * global one (a multiple of k2), so that the workers of every data center
 * end with the same model, not only those of one. */
static int hfa_finish(struct state *s, const char *who, uint64_t step)
{
	uint32_t k2 = s->info.k2 ? s->info.k2 : 1;
	while (s->nsyncs % k2 != 0)
		if (exchange(s, who, step))
			return -1;
	return 0;
}

static int build_model(const struct topts *o, struct state *s)
{
	int e;
	gx_spec_error why;
	memset(&why, 0, sizeof why);
	const gx_dataset *ds = &s->full;
	s->m = gx_model_create(o->model, (int)ds->c, (int)ds->h, (int)ds->w, o->seed, &e, &why);
	if (!s->m) {
		if (e == GX_EINVAL)
			cli_usage_error("invalid --model '%s': at byte %zu: %s (inputs %" PRIu32 "x%" PRIu32
					"x%" PRIu32 ")", o->model, why.offset, why.msg, ds->c, ds->h, ds->w);
		cli_error("cannot build the model '%s': %s", o->model, gx_strerror(e));
		return -1;
	}
	size_t out = gx_model_out_size(s->m);
	if (gx_model_loss(s->m) == GX_LOSS_XENT) {
		if (ds->nclasses == 0) {
			cli_error("the model ends in cross-entropy, but the labels are values "
				  "(--regression); end the spec with ',mse'");
			return -1;
		}
		if (ds->nclasses > out || (s->test.n && s->test.nclasses > out)) {
			cli_error("the data has %" PRIu32 " classes, the model only %zu outputs",
				  ds->nclasses > s->test.nclasses ? ds->nclasses : s->test.nclasses, out);
			return -1;
		}
	} else if (out != 1) {
		cli_error("an mse model needs one output per label; this one has %zu", out);
		return -1;
	}
	return 0;
}

int train_run(const struct topts *o)
{
	/* Whether the model is the state after `step` steps: not while an
	 * optimizer step or an exchange (whose answers land in place) runs. A
	 * failure then saves it (--checkpoint); one inside them leaves the
	 * last checkpoint to stand. */
	int intact = 1, trained = 0;
	uint64_t step = 0, saved = UINT64_MAX;
	struct state s;
	memset(&s, 0, sizeof s);
	int rc = CLI_FAIL, e, evaluated = 0;
	uint64_t eval_step = 0;
	char who[64];
	double tl = NAN, ta = NAN;
	snprintf(who, sizeof who, "worker %" PRIu32 "/%" PRIu32, o->party, o->rank);

	/* What a run killed while saving left beside its files. */
	const char *outs[3] = { o->save, o->checkpoint, o->trace };
	for (int i = 0; i < 3; i++)
		if (outs[i] && (e = gx_atomic_sweep(outs[i])) > 0)
			cli_info("%s: removed %d stale temporar%s of an interrupted save", outs[i], e,
				 e == 1 ? "y" : "ies");
	/* opened first: an unwritable path is said before the data loads */
	if (o->trace && trace_open(&s, o->trace))
		goto out;
	if (load_data(o, &s.full, &s.test))
		goto out;
	if (s.full.n == 0) {
		cli_error("the training set is empty");
		goto out;
	}
	if (o->by_class && s.full.nclasses == 0) {
		cli_usage_error("--shard-by class needs class labels");
	}
	if (o->by_class && o->shard_n > s.full.nclasses)
		cli_usage_error("--shard %" PRIu32 "/%" PRIu32 " --shard-by class: more shards than the "
				"%" PRIu32 " classes", o->shard_i, o->shard_n, s.full.nclasses);
	if ((e = gx_dataset_shard(&s.full, o->shard_i, o->shard_n, o->by_class, &s.shard)) != 0) {
		cli_error("cannot shard the data: %s", gx_strerror(e));
		goto out;
	}
	uint64_t smallest = min_shard(&s.full, o->shard_n, o->by_class);
	uint64_t spe = smallest / (uint64_t)o->batch;
	s.spe = spe;
	if (build_model(o, &s))
		goto out;
	/* The whole set is no longer needed: only the shard is. */
	uint32_t dc = s.full.c, dh = s.full.h, dw = s.full.w, d = s.full.d;
	s.dc = dc;
	s.dh = dh;
	s.dw = dw;
	uint64_t nfull = s.full.n;
	gx_dataset_release(&s.full);

	if (o->epochs > 0 && spe == 0) {
		cli_error("the smallest shard has %" PRIu64 " samples, fewer than a batch of %ld",
			  smallest, o->batch);
		goto out;
	}
	uint64_t total = spe * (uint64_t)o->epochs;
	if (o->max_steps && total > o->max_steps)
		total = o->max_steps;
	if ((e = gx_blas_threads(o->threads)) != 0) {
		cli_error("cannot use %d threads: %s", o->threads, gx_strerror(e));
		goto out;
	}
	if (o->load && ckpt_load(o->load, s.m, dc, dh, dw, NULL))
		goto out;

	if (cli_verbosity >= 2) {
		char desc[4096];
		gx_model_describe(s.m, desc, sizeof desc);
		cli_info("model %s, %" PRIu64 " parameters in %zu tensors, inputs %" PRIu32 "x%" PRIu32
			 "x%" PRIu32 ", seed %" PRIu64, gx_model_spec(s.m), gx_model_nparams(s.m),
			 gx_model_ntensors(s.m), dc, dh, dw, o->seed);
		fputs(desc, stderr);
		cli_info("%" PRIu64 " training samples, shard %" PRIu32 "/%" PRIu32 "%s: %" PRIu64
			 " (smallest shard %" PRIu64 "); %" PRIu64 " test samples", nfull, o->shard_i,
			 o->shard_n, o->by_class ? " by class" : "", s.shard.n, smallest, s.test.n);
		cli_info("batch %ld, %" PRIu64 " steps per epoch, %" PRIu64 " steps, %d BLAS thread%s",
			 o->batch, spe, total, o->threads, o->threads == 1 ? "" : "s");
	}

	/* The worker runs an optimizer standalone and under HFA sync; under
	 * full and mixed sync the servers run it. */
	int hfa = 0;
	uint32_t k1 = 0;
	if (o->ps) {
		if (connect_ps(o, &s, who))
			goto out;
		hfa = s.info.sync == GX_SYNC_HFA;
		k1 = s.info.k1;
		if (hfa && k1 == 0) { /* the protocol forbids it; never divide by it */
			cli_error("%s: the servers run HFA sync with k1 = 0", who);
			goto out;
		}
		if (hfa)
			cli_info("%s: HFA sync: %" PRIu32 " local steps (k1) per push, %" PRIu32
				 " local rounds (k2) per global round; optimizer %s, lr %g", who, k1,
				 s.info.k2, gx_optim_name(o->optim.kind), (double)o->optim.lr);
		else
			cli_info("%s: %s sync: the parameter servers run the optimizer", who,
				 gx_sync_name(s.info.sync));
		if (s.info.lan == GX_LINK_FP16)
			cli_info("%s: pushes and replies travel as fp16 (the local server's --lan-codec)",
				 who);
		if (!hfa && o->optim_set)
			cli_warn("--optimizer, --lr, --momentum and --weight-decay are ignored under %s "
				 "sync: the parameter servers run the optimizer", gx_sync_name(s.info.sync));
		if (hfa && hfa_setup(&s))
			goto out;
		if (hfa && o->schedule == SCHEDULE_P3)
			cli_info("%s: --schedule p3 under HFA sync: a sync's pushes exist only after the "
				 "local optimizer's step, so they go in the fifo way (first layers first)",
				 who);
	}
	if ((!o->ps || hfa) && total) {
		if (!(s.op = gx_optim_create(&o->optim, gx_model_nparams(s.m), 0, &e))) {
			cli_error("cannot create the optimizer: %s", gx_strerror(e));
			goto out;
		}
	}

	size_t bsz = (size_t)o->batch;
	s.idx = malloc((s.shard.n ? s.shard.n : 1) * sizeof *s.idx);
	s.xb = malloc(bsz * d * sizeof *s.xb);
	s.yb = malloc(bsz * sizeof *s.yb);
	if (!s.idx || !s.xb || !s.yb) {
		cli_error("out of memory");
		goto out;
	}
	if (total && (e = gx_model_reserve(s.m, o->batch)) != 0) {
		cli_error("cannot size the model for batches of %ld: %s", o->batch, gx_strerror(e));
		goto out;
	}

	uint64_t bo = 0, bi = 0;
	if (o->resume && (s.kv && !hfa ? resume_place(o, &s, total, &step)
			  : s.kv ? resume_hfa(o, &s, total, &step) : resume_state(o, &s, total, &step)))
		goto out;
	/* A run that starts from step 0 keeps that state too: a worker killed
	 * before its first checkpoint then goes on from it (under HFA its local
	 * steps are its own: the servers cannot give the model they began from). */
	if (o->checkpoint && step == 0 && total && save_state(o, &s, o->checkpoint, 0))
		goto out;
	struct rep r = { .fmt = o->rformat, .total = total, .spe = spe, .batch = o->batch };
	r.bar = cli_verbosity >= 1 && isatty(STDERR_FILENO);
	r.t0 = r.last_t = cli_now();
	header(&r);
	float *params = gx_model_params(s.m), *grads = gx_model_grads(s.m);
	/* --schedule p3 where every step exchanges (overlap.c) */
	const gx_model_hooks *hk = NULL;
	if (s.kv && !hfa && o->schedule == SCHEDULE_P3) {
		if (overlap_setup(&s, who))
			goto out;
		hk = &s.hooks;
	}
	trained = 1;
	for (uint64_t ep = spe ? step / spe : 0; step < total; ep++) {
		if ((e = gx_shuffle_indices(s.idx, s.shard.n, o->seed, ep)) != 0) {
			cli_error("cannot shuffle: %s", gx_strerror(e));
			goto out;
		}
		for (uint64_t b = spe ? step % spe : 0; b < spe && step < total; b++) {
			float loss;
			if (batch_grads(o, &s, b, step + 1, &loss, hk))
				goto out;
			intact = 0;
			if (s.kv && !hfa) {
				if (!hk && exchange(&s, who, step + 1))
					goto out;
			} else if ((e = gx_optim_step(s.op, params, grads, 0)) != 0) {
				cli_error("step %" PRIu64 ": optimizer: %s", step + 1, gx_strerror(e));
				goto out;
			}
			step++;
			/* HFA: a sync every k1 steps, and one after the last step
			 * whatever its number, then empty ones up to a global
			 * round, so every worker (all take the same steps) ends
			 * with the same averaged model. */
			if (hfa && (step % k1 == 0 || step == total) && s.adopt) {
				/* resumed: this sync was done without us, our push in it */
				size_t nb = gx_model_nparams(s.m) * sizeof *params;
				if (fold_push(&s, who, step))
					goto out;
				memcpy(params, s.adopt, nb);
				memcpy(s.synced, s.adopt, nb);
				free(s.adopt);
				s.adopt = NULL;
				s.nsyncs++;
			} else if (hfa && (step % k1 == 0 || step == total) && exchange(&s, who, step)) {
				goto out;
			}
			if (hfa && step == total && hfa_finish(&s, who, step))
				goto out;
			/* What reads the model after this step (the stop flag
			 * read once: a signal may come meanwhile). Overlapped, the
			 * step's answers are still arriving, and the model is the
			 * step's only once they are in: waited for only when one
			 * of these reads it. */
			int stop = train_stop;
			int ckpt = o->checkpoint && o->checkpoint_every && step % o->checkpoint_every == 0;
			int ev = o->eval_every && step % o->eval_every == 0;
			int rep = ev || (o->report_every && step % o->report_every == 0);
			if (hk && (stop || step == total || ckpt || rep)) {
				if (overlap_settle(&s))
					goto out;
				intact = 1;
			} else {
				intact = !hk;
			}
			r.loss_sum += loss;
			r.loss_n++;
			if (stop) {
				bar_clear(&r);
				if (o->checkpoint && save_state(o, &s, o->checkpoint, step) == 0) {
					saved = step;
					cli_error("stopped by a signal at step %" PRIu64 "; its state is "
						  "saved in %s (--resume goes on from there)", step,
						  o->checkpoint);
				} else
					cli_error("stopped by a signal at step %" PRIu64, step);
				goto out;
			}
			if (ckpt && step != total && save_state(o, &s, o->checkpoint, step))
				goto out;
			bar_draw(&r, step, loss);
			if (step == total)
				break;
			if (rep) {
				double t = cli_now();
				if (s.kv)
					gx_kv_stats(s.kv, &bo, &bi);
				int f = ev && o->eval_async
						? report_forked(&r, &s, step, t, bo, bi, &eval_step)
						: 1;
				if (f < 0)
					goto out;
				if (f && ev && evaluate(s.m, &s.test, &evaluated, &tl, &ta))
					goto out;
				if (f && report(&r, s.m, step, t, bo, bi, ev && evaluated, tl, ta))
					goto out;
				r.last_t = cli_now();
			}
		}
	}
	double t_end = cli_now();
	if (eval_join(&eval_step))
		goto out;
	if (s.kv) {
		gx_kv_stats(s.kv, &bo, &bi);
		e = gx_kv_close(s.kv);
		s.kv = NULL;
		if (e) {
			bar_clear(&r);
			cli_error("%s: goodbye failed: %s", who, gx_strerror(e));
			goto out;
		}
	}
	if (evaluate(s.m, &s.test, &evaluated, &tl, &ta))
		goto out;
	if (report(&r, s.m, step, t_end, bo, bi, evaluated, tl, ta))
		goto out;
	if (o->save && save_state(o, &s, o->save, step))
		goto out;
	if (o->checkpoint && save_state(o, &s, o->checkpoint, step))
		goto out;
	rc = CLI_OK;
out:
	if (eval_pid > 0) {
		kill(eval_pid, SIGTERM);
		eval_join(&eval_step);
	}
	/* a failure that left the model whole: its state is kept */
	if (rc != CLI_OK && trained && intact && step > 0 && saved != step && o->checkpoint &&
	    save_state(o, &s, o->checkpoint, step) == 0)
		cli_error("its state at step %" PRIu64 " is saved in %s (--resume goes on from there)",
			  step, o->checkpoint);
	/* what was traced stays, a failed run's too */
	if (trace_close(&s) && rc == CLI_OK)
		rc = CLI_FAIL;
	release(&s);
	return rc;
}
