/*
 * nn/gx_nn.h — the neural-network engine on the CPU.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 */
#ifndef GX_NN_H
#define GX_NN_H

#include <stddef.h>
#include <stdint.h>
#include "../base/gx_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------- neural networks */

/*
 * A small feed-forward network for training on the CPU: 2-D convolution,
 * max-pooling, dense and ReLU layers ending in a loss (softmax cross-entropy
 * or mean squared error). A model is built from a preset name or a text spec
 * (grammar in docs/engine.md), for inputs of in_c x in_h x in_w floats per
 * example, stored NCHW (example after example, channel planes row-major).
 *
 *   presets  cnn     conv:16:5,relu,pool:2,conv:32:5,relu,pool:2,dense:256,relu,
 *                    dense:128,relu,dense:10   (178,762 parameters on 1x28x28)
 *            mlp     dense:256,relu,dense:128,relu,dense:10
 *            logreg  dense:10                  (softmax regression)
 *            linreg  dense:1,mse               (linear regression)
 *
 * Parameters live in one contiguous buffer of gx_model_nparams floats, the
 * gradients in another of the same size; they are cut into tensors, one per
 * layer weight and one per layer bias, in layer order (weight before bias),
 * keys 0, 1, ... — the parameter-server keys. Layouts are PyTorch's: a conv
 * weight is [out_c][in_c][k][k], a dense weight [out][in]; dense layers see
 * their input flattened in C, H, W order. Weights start Xavier/Glorot
 * uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), drawn from a
 * gx_rng seeded with the seed given; biases start at zero.
 *
 * Scratch (activations, im2col buffers) is sized for the largest batch seen
 * and reused, so steady-state steps allocate nothing. A model may be used by
 * one thread at a time; distinct models may be used concurrently (the BLAS
 * thread count, gx_blas_threads, is process-wide).
 */
typedef struct gx_model gx_model;

enum gx_loss {
	GX_LOSS_XENT = 0, /* softmax cross-entropy over the outputs; targets are class indices */
	GX_LOSS_MSE = 1   /* mean of (out - target)^2 over batch and outputs (PyTorch's MSELoss) */
};

/* Where a spec failed to parse (or to fit the input shape). */
typedef struct gx_spec_error {
	size_t offset; /* byte offset in the spec of the offending item */
	char msg[128]; /* one line without a newline, e.g. "unknown layer 'conv2d'" */
} gx_spec_error;

/* Builds a model from a preset name or a spec for inputs of in_c x in_h x
 * in_w (each >= 1), initialised from seed. NULL with *err set (err may be
 * NULL): GX_EINVAL for a bad spec or a shape that does not fit (a kernel
 * larger than its input, ...) — then *why (may be NULL) says where and
 * what — GX_ETOOBIG when parameters or activations per example would exceed
 * 2^31 elements, GX_ENOMEM. */
gx_model *gx_model_create(const char *spec, int in_c, int in_h, int in_w, uint64_t seed, int *err,
			  gx_spec_error *why);
void gx_model_free(gx_model *m);

/* The canonical spec of the model (presets expanded, defaults written out,
 * the loss last, e.g. "dense:1,mse"). Owned by m. */
const char *gx_model_spec(const gx_model *m);
/* Writes a human-readable table (one line per layer: kind, output shape,
 * parameters) into buf; returns its length (snprintf-like). */
int gx_model_describe(const gx_model *m, char *buf, size_t cap);
/* enum gx_loss of the model. */
int gx_model_loss(const gx_model *m);
/* Floats per example in and out (out: the classes, or the regression outputs). */
size_t gx_model_in_size(const gx_model *m);
size_t gx_model_out_size(const gx_model *m);

/* Total parameters, and the contiguous parameter and gradient buffers (owned
 * by m, writable: optimizers update the parameters in place, a PS pull may
 * overwrite them). */
uint64_t gx_model_nparams(const gx_model *m);
float *gx_model_params(gx_model *m);
float *gx_model_grads(gx_model *m);

/* One parameter tensor: a view into the buffers above. */
typedef struct gx_tensor_info {
	uint32_t key;     /* == its index */
	uint64_t count;   /* elements */
	uint64_t offset;  /* first element in gx_model_params / gx_model_grads */
	float *data;      /* parameters */
	float *grad;      /* gradients from the last gx_model_forward_backward */
	int layer;        /* index of the layer in the spec (0-based, relu/pool counted) */
	int is_bias;      /* 0 weight, 1 bias */
	const char *name; /* "conv0.weight", "dense5.bias", ... (layer kind + index) */
} gx_tensor_info;

/* Number of tensors; tensor i into *info. Returns 0 or GX_EINVAL (i out of range). */
size_t gx_model_ntensors(const gx_model *m);
int gx_model_tensor(gx_model *m, size_t i, gx_tensor_info *info);

/* Sizes the scratch for batches of up to batch examples now (otherwise the
 * first step of a larger batch does). Returns 0, GX_EINVAL, GX_ETOOBIG (a
 * batch's activations would exceed 2^31 elements) or GX_ENOMEM; the calls
 * below that take a batch may return the same. */
int gx_model_reserve(gx_model *m, int batch);

/* One training step's computation on batch examples x (batch x in_size
 * floats): forward, loss, backward. Gradients of the mean loss over the
 * batch overwrite the gradient buffer (nothing accumulates across calls);
 * parameters are not changed. y: for GX_LOSS_XENT batch class indices
 * stored as floats (integers in [0, out_size)); for GX_LOSS_MSE batch x
 * out_size targets. *loss_out (may be NULL) gets the mean loss. Returns 0,
 * GX_EINVAL (batch < 1, a label out of range or not an integer; nothing is
 * changed then) or GX_ENOMEM (growing scratch). */
int gx_model_forward_backward(gx_model *m, const float *x, const float *y, int batch,
			      float *loss_out);

/* Hooks into a training step's two passes, so that a caller can overlap
 * its communication with the computation (geomx-train --schedule p3): a
 * layer's gradients leave as soon as the backward pass has them, and the
 * next forward pass waits, layer by layer, only for the parameters it is
 * about to use. Tensors are named by index (gx_model_tensor); a layer's
 * are a contiguous run [t0, t1). Layers without parameters call nothing.
 * Each hook returns 0, or a negative gx_error that ends the step with it
 * (the gradients are then partial). */
typedef struct gx_model_hooks {
	/* Forward: before the pass reads tensors [t0, t1). NULL: none. */
	int (*need)(void *ud, size_t t0, size_t t1);
	/* Backward: tensors [t0, t1) have their final gradients, and the
	 * step reads neither them nor those parameters again, so both may be
	 * handed to another thread (a reply may overwrite the parameters)
	 * until the next step's need for them. Called last layer first. */
	int (*ready)(void *ud, size_t t0, size_t t1);
	void *ud;
} gx_model_hooks;
/* gx_model_forward_backward with hooks (NULL: none, the same call). The
 * arithmetic is the same, so the results are the same bits. */
int gx_model_forward_backward_hooked(gx_model *m, const float *x, const float *y, int batch,
				     float *loss_out, const gx_model_hooks *hooks);

/* Forward only: writes batch x out_size outputs (logits for classification,
 * predictions for regression) to out. Returns 0, GX_EINVAL or GX_ENOMEM. */
int gx_model_predict(gx_model *m, const float *x, int batch, float *out);

/* Evaluates n examples in chunks of batch: the mean loss into *loss and, for
 * classification, the fraction whose largest logit (lowest index on ties) is
 * the label into *accuracy (NaN for a regression model). Either pointer may
 * be NULL. Returns 0, GX_EINVAL (n or batch < 1, a bad label) or GX_ENOMEM. */
int gx_model_eval(gx_model *m, const float *x, const float *y, size_t n, int batch, double *loss,
		  double *accuracy);

/* CRC-32C of all parameters (their float bytes in host order, tensor order),
 * to compare replicas. */
uint32_t gx_model_checksum(const gx_model *m);

/* Sets the number of threads the BLAS library uses (process-wide; n >= 1).
 * Returns 0, or GX_EINVAL for n < 1. */
int gx_blas_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
