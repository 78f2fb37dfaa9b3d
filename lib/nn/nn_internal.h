/*
 * nn_internal.h — the layer list shared by lib/nn/nn_spec.c (parsing a spec
 * into layers and shapes) and lib/nn/nn.c (running them). Tests include it to
 * reach the input gradient, which the public interface does not expose.
 */
#ifndef GX_NN_INTERNAL_H
#define GX_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gx_nn.h"

enum nn_kind {
	NN_CONV,
	NN_POOL,
	NN_DENSE,
	NN_RELU,
	NN_TOFLAT,   /* [c][n][hw] -> [n][c][hw]; inserted, not in the spec */
	NN_TOSPATIAL /* [n][c][hw] -> [c][n][hw]; inserted, not in the spec */
};

/* One layer. Activations are either spatial ([c][n][h][w], conv and pool
 * read and write those) or flat ([n][c*h*w], dense and the loss); ReLU keeps
 * whatever it gets. A shape is always (c, h, w); flat data of f features is
 * (f, 1, 1) after a dense layer. */
typedef struct nn_layer {
	int kind;
	int spec_index;       /* index among the spec's layers; -1 for inserted ones */
	size_t spec_off;      /* byte offset of the item in the spec */
	int c, h, w;          /* input shape */
	int oc, oh, ow;       /* output shape */
	int k, stride, pad;   /* conv, pool */
	int spatial;          /* output layout: 1 spatial, 0 flat */
	size_t in_size;       /* floats per example in and out */
	size_t out_size;
	uint64_t wcount, bcount;
	uint64_t woff, boff;  /* in the parameter buffer */
} nn_layer;

#define NN_MAX_LAYERS 256
#define NN_MAX_DIM 1000000
#define NN_MAX_ELEMS ((uint64_t)INT32_MAX)

typedef struct nn_net {
	nn_layer *L;
	int n;
	int loss;      /* enum gx_loss */
	uint64_t nparams;
	char *spec;    /* canonical spec */
} nn_net;

/* Parses spec (or a preset) for input (c, h, w) into *net (layers with
 * shapes and parameter offsets, canonical spec). Returns 0, GX_EINVAL with
 * *why filled (why may be NULL), GX_ETOOBIG or GX_ENOMEM. */
int nn_parse(const char *spec, int c, int h, int w, nn_net *net, gx_spec_error *why);
void nn_net_release(nn_net *net);

/* Testing hooks: with on, gx_model_forward_backward also computes the
 * gradient with respect to x, which gx_nn_input_grad then returns
 * (batch x in_size floats, valid until the next call). */
int gx_nn_want_input_grad(gx_model *m, int on);
const float *gx_nn_input_grad(const gx_model *m);
/* The model's layers (for tests' reference implementations). */
const nn_net *gx_nn_net(const gx_model *m);

#endif
