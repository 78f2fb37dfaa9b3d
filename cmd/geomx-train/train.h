/*
 * train.h — the parts of geomx-train: options (geomx-train.c), the training
 * run (run.c) and the checkpoint file (ckpt.c). See geomx-train(1).
 */
#ifndef GX_TRAIN_H
#define GX_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "geomx.h"

/* How the data is given. */
enum { DFMT_IDX, DFMT_CSV, DFMT_LIBSVM };
/* Report formats. */
enum { RFMT_TSV, RFMT_JSON };

struct topts {
	/* data */
	const char *data;        /* "fashion-mnist" or NULL */
	const char *data_dir;    /* --data-dir, else GEOMX_FASHION_MNIST, else the library's */
	const char *train, *train_labels, *test, *test_labels;
	int dformat;             /* DFMT_* for --train/--test */
	int regression;          /* CSV/LIBSVM labels are values */
	uint64_t limit, test_limit; /* 0: all */
	uint32_t shard_i, shard_n; /* shard_n 1: no sharding */
	int by_class;
	/* model and training */
	const char *model;
	long epochs, batch;
	uint64_t max_steps;      /* 0: no limit */
	uint64_t seed;
	gx_optim_opts optim;
	int optim_set;           /* --optimizer, --lr, --momentum or --weight-decay given */
	int threads;
	const char *save, *load;
	const char *checkpoint;    /* --checkpoint FILE: the run's state */
	uint64_t checkpoint_every; /* steps; 0: only when stopped and at the end */
	int resume;                /* --resume: from checkpoint when it exists */
	/* reporting */
	uint64_t report_every, eval_every; /* 0: only at the end */
	int eval_async;            /* --eval-async: evaluations in a forked copy */
	const char *trace;         /* --trace FILE: pushes and waits, a line each */
	int rformat;
	/* distributed */
	const char *ps;
	uint32_t rank, party;
	double connect_timeout;
	int have_key;          /* --key given */
	gx_key key;            /* --key: the job's, its party's or its own */
	int schedule;          /* SCHEDULE_*: --schedule */
	size_t credit;         /* p3: gx_kv_opts.credit (--credit); fifo: 0 */
};

/* --schedule: when a step's gradients leave and its answers are awaited. */
enum { SCHEDULE_FIFO, SCHEDULE_P3 };

/* What a run owns, released at the end (run.c). */
struct state {
	gx_dataset full, shard, test;
	gx_model *m;
	gx_optim *op;
	gx_kv *kv;
	gx_kv_info info;  /* with kv: what the servers told it */
	float *synced;    /* HFA: the parameters as of the last sync */
	float *delta;     /* HFA: params - synced, pushed */
	uint64_t nsyncs;  /* HFA: syncs so far (the local server's rounds) */
	float *adopt;     /* HFA, resumed: the average of a sync the servers did
			   * after the checkpoint, taken at the next sync point */
	uint32_t *idx, *keys;
	uint64_t *counts;
	float **vals;
	float *xb, *yb;
	uint32_t dc, dh, dw; /* the inputs' shape, as checkpoints record it */
	uint64_t spe;        /* steps per epoch */
	/* --schedule p3 (overlap.c) */
	gx_kv_req *pending;  /* per tensor: its push in flight (0: none) */
	gx_model_hooks hooks; /* the passes' hooks that push and wait */
	const char *who;     /* "worker P/R", for messages */
	uint64_t step;       /* the step being computed, for messages */
	int said;            /* a hook printed the step's error */
	/* --trace (trace.c) */
	FILE *trace;         /* NULL: no trace */
	int trace_fd;
	const char *trace_path;
	char trace_tmp[4096];
	double trace_t0;     /* cli_now() when opened */
	double trace_unix0;  /* the Unix time then */
};

/* resume.c: the run's state after step steps written to path; -1 after a
 * message. */
int save_state(const struct topts *o, struct state *s, const char *path, uint64_t step);
/* --resume standalone (resume_state), under HFA with --ps (resume_hfa),
 * under full sync with --ps (resume_place): *step gets the steps taken;
 * -1 after a message. */
int resume_state(const struct topts *o, struct state *s, uint64_t total, uint64_t *step);
int resume_hfa(const struct topts *o, struct state *s, uint64_t total, uint64_t *step);
int resume_place(const struct topts *o, struct state *s, uint64_t total, uint64_t *step);

/* run.c: the gradients of the batch b of the epoch s->idx is shuffled for
 * (step: its number, for messages) in the model's, the passes hooked by hk
 * (NULL: none); -1 after a message. */
int batch_grads(const struct topts *o, struct state *s, uint64_t b, uint64_t step, float *loss,
		const gx_model_hooks *hk);
/* The gradients of step (from 1) in the model's, from its parameters as
 * they are: its batch as the run draws it; -1 after a message. */
int step_grads(const struct topts *o, struct state *s, uint64_t step);
/* Under an fp16 LAN: the step's pushes (gradients; HFA: the changes since
 * the last sync) taken through the client's residuals without sending
 * them, as a push the servers already had; -1 after a message. */
int fold_push(struct state *s, const char *who, uint64_t step);

/* overlap.c, --schedule p3: s->hooks set to push each layer's gradients
 * as the backward pass has them and wait, in the forward pass, for each
 * layer's answers (s->pending); -1 after a message. */
int overlap_setup(struct state *s, const char *who);
/* Waits for every push still in flight, so that the model is the state
 * after the step (before a report, a checkpoint, the end); -1 after a
 * message. Nothing to do without overlap. */
int overlap_settle(struct state *s);

/* trace.c, --trace: the file opened (a temporary until trace_close), an
 * event of s->step for tensors [t0, t1) from start to end (cli_now()
 * times; nothing without a trace), and the file in place; -1 after a
 * message. */
int trace_open(struct state *s, const char *path);
void trace_event(struct state *s, const char *event, size_t t0, size_t t1, double start,
		 double end);
int trace_close(struct state *s);

/* Set by SIGINT/SIGTERM: the run stops at the next step and fails. */
extern volatile sig_atomic_t train_stop;

/* Trains as o says; returns a CLI_* exit status after printing any message. */
int train_run(const struct topts *o);

/* A run's state beside its parameters, as a checkpoint holds it (ckpt.c). */
struct ckpt_state {
	int version;               /* load: the file's (1: parameters only) */
	uint64_t step;             /* steps taken */
	uint64_t batch, seed;      /* the run's: a resumed run must match them */
	uint32_t shard_i, shard_n;
	uint64_t syncs;            /* HFA: syncs so far */
	uint8_t *opt;              /* the optimizer's state (gx_optim_state_save), or NULL */
	size_t opt_len;
	float *synced;             /* HFA: the parameters of the last sync, or NULL */
	int has_synced;            /* load: whether the file holds them */
	float *residual;           /* fp16 LAN: the pushes' residuals (laid out as the
				    * parameters), or NULL */
	int has_residual;          /* load: whether the file holds them */
};

/* Writes m's parameters, built for inputs of c x h x w, and the state st
 * (not changed) to path atomically: a frame stream (ckpt.c, and
 * geomx-train(1), "CHECKPOINTS"). Returns 0, or -1 after a message. */
int ckpt_save(const char *path, gx_model *m, uint32_t c, uint32_t h, uint32_t w,
	      const struct ckpt_state *st);
/* Reads path into m's parameters and, when out is given, the state into
 * *out (its buffers the caller's: ckpt_state_release), refusing a file
 * whose version, spec, input shape or tensor sizes differ from m's, or
 * whose checksums fail. m and *out are left unchanged on failure. Returns
 * 0, or -1 after a message. */
int ckpt_load(const char *path, gx_model *m, uint32_t c, uint32_t h, uint32_t w,
	      struct ckpt_state *out);
void ckpt_state_release(struct ckpt_state *st);

#endif
