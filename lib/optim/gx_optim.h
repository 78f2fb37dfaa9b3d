/*
 * optim/gx_optim.h — the optimizers shared by the global parameter server
 * and the worker.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_OPTIM_H
#define GX_OPTIM_H

#include <stddef.h>
#include <stdint.h>
#include "../base/gx_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- optimizers */

/* The optimizers shared by the global parameter server and the worker. Update
 * rules follow PyTorch's torch.optim definitions (docs/optimizers.md gives
 * each formula); DC-ASGD follows Zheng et al., ICML 2017, with one weight
 * backup per sender. */
enum gx_optim_kind {
	GX_OPT_SGD = 0,
	GX_OPT_MOMENTUM = 1, /* SGD with heavy-ball momentum */
	GX_OPT_NESTEROV = 2,
	GX_OPT_ADAGRAD = 3,
	GX_OPT_RMSPROP = 4,
	GX_OPT_ADADELTA = 5,
	GX_OPT_ADAM = 6,
	GX_OPT_ADAMW = 7,
	GX_OPT_DCASGD = 8,
	GX_OPT__MAX = 9
};

#define GX_DEFAULT_OPT_MOMENTUM 0.9f /* momentum, Nesterov, DC-ASGD */

typedef struct gx_optim_opts {
	int kind;           /* enum gx_optim_kind */
	float lr;           /* learning rate */
	float momentum;     /* momentum, nesterov, dcasgd (0 = none) */
	float beta1, beta2; /* adam, adamw */
	float eps;          /* adagrad, rmsprop, adadelta, adam, adamw */
	float rho;          /* rmsprop's alpha, adadelta's rho */
	float weight_decay; /* L2 (decoupled for adamw) */
	float lambda;       /* dcasgd's variance-control lambda */
} gx_optim_opts;

/* The kind named name ("sgd", "momentum", "nesterov", "adagrad", "rmsprop",
 * "adadelta", "adam", "adamw", "dcasgd"; exact, case-sensitive), or
 * GX_EINVAL. */
int gx_optim_kind_of(const char *name);
/* The name of a kind, or NULL. */
const char *gx_optim_name(int kind);
/* Fills *o with PyTorch's defaults for kind (dcasgd: lr 0.01, lambda 0.04,
 * momentum 0). */
void gx_optim_opts_default(gx_optim_opts *o, int kind);

/* The optimizer state of one tensor of n elements. nsenders > 0 sizes the
 * DC-ASGD weight backups (one per sender); ignored by the others. NULL on
 * bad options or ENOMEM (err set when not NULL). */
typedef struct gx_optim gx_optim;
gx_optim *gx_optim_create(const gx_optim_opts *o, uint64_t n, int nsenders, int *err);
void gx_optim_free(gx_optim *op);
/* One update of w (n elements) with gradient g. sender picks DC-ASGD's
 * backup (0 <= sender < nsenders; others ignore it). Returns 0 or GX_EINVAL. */
int gx_optim_step(gx_optim *op, float *w, const float *g, int sender);
/* gx_optim_step with g a sum whose first term was not added to zeros (so it
 * may hold -0.0 where the sum begun from zeros holds +0.0): every g[i] is
 * taken as g[i] + 0.0f, which gives bit for bit the update of the sum begun
 * from zeros, without a pass over g to make it so. */
int gx_optim_step_sum(gx_optim *op, float *w, const float *g, int sender);
/* DC-ASGD: records w as the weights sender now holds (call whenever weights
 * are sent to it: init, push and pull replies). A no-op for the other kinds.
 * Returns 0 or GX_EINVAL (sender out of range). */
int gx_optim_backup(gx_optim *op, const float *w, int sender);
/* Steps taken so far. */
uint64_t gx_optim_steps(const gx_optim *op);
/* The optimizer's whole state as bytes, for a checkpoint: its step count
 * and every buffer (momentum, squares, DC-ASGD's backups), in the host's
 * float layout (little-endian IEEE on every machine geomx runs on).
 * gx_optim_state_size says how many; gx_optim_state_save writes them (cap
 * at least that); gx_optim_state_load reads them into an optimizer made
 * with the same options, n and nsenders, which then steps bit for bit as
 * the saved one would have. 0, GX_EINVAL, or GX_ELENGTH / GX_ECORRUPT for
 * bytes that are not such a state. */
size_t gx_optim_state_size(const gx_optim *op);
int gx_optim_state_save(const gx_optim *op, uint8_t *out, size_t cap);
int gx_optim_state_load(gx_optim *op, const uint8_t *in, size_t len);

#ifdef __cplusplus
}
#endif
#endif
