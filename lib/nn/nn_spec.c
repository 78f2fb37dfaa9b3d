/*
 * nn_spec.c — model specs: presets and the compact text form
 * ("conv:16:5,relu,pool:2,dense:10"), parsed into layers with shapes and
 * parameter offsets. The grammar is in docs/engine.md. Errors name the byte
 * offset of the offending item, so a program can point at it.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "nn_internal.h"

static const struct {
	const char *name, *spec;
} presets[] = {
	{ "cnn", "conv:16:5,relu,pool:2,conv:32:5,relu,pool:2,dense:256,relu,dense:128,relu,dense:10" },
	/* cnn four times as wide (2.4 M parameters, 86 % in the first dense
	 * layer): computation and communication of the same order on a
	 * 2-core machine and a 1 Gbit/s link (bench/p3.sh) */
	{ "cnn-wide",
	  "conv:64:5,relu,pool:2,conv:128:5,relu,pool:2,dense:1024,relu,dense:128,relu,dense:10" },
	{ "mlp", "dense:256,relu,dense:128,relu,dense:10" },
	{ "logreg", "dense:10" },
	{ "linreg", "dense:1,mse" },
};

static int fail(gx_spec_error *why, size_t off, const char *fmt, ...)
{
	if (why) {
		va_list ap;
		va_start(ap, fmt);
		why->offset = off;
		vsnprintf(why->msg, sizeof why->msg, fmt, ap);
		va_end(ap);
	}
	return GX_EINVAL;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Appends a layer; keeps the running shape, layout and parameter count. */
typedef struct builder {
	nn_net *net;
	int c, h, w, spatial;
	int nspec;
} builder;

static nn_layer *push(builder *b, int kind, size_t off, gx_spec_error *why)
{
	if (b->net->n >= NN_MAX_LAYERS)
		return fail(why, off, "more than %d layers", NN_MAX_LAYERS), NULL;
	nn_layer *l = &b->net->L[b->net->n++];
	memset(l, 0, sizeof *l);
	l->kind = kind;
	l->spec_off = off;
	l->spec_index = -1;
	l->c = l->oc = b->c;
	l->h = l->oh = b->h;
	l->w = l->ow = b->w;
	l->in_size = l->out_size = (size_t)b->c * b->h * b->w;
	l->spatial = b->spatial;
	return l;
}

/* Inserts a layout change when layouts differ in memory (c > 1). */
static int want_layout(builder *b, int spatial, size_t off, gx_spec_error *why)
{
	if (b->spatial == spatial)
		return 0;
	if (b->c > 1) {
		nn_layer *l = push(b, spatial ? NN_TOSPATIAL : NN_TOFLAT, off, why);
		if (!l)
			return GX_EINVAL;
		l->spatial = spatial;
	}
	b->spatial = spatial;
	return 0;
}

static int finish(builder *b, nn_layer *l)
{
	uint64_t out = (uint64_t)l->oc * l->oh * l->ow;
	if (out > NN_MAX_ELEMS || l->wcount > NN_MAX_ELEMS)
		return GX_ETOOBIG;
	l->out_size = (size_t)out;
	l->spec_index = b->nspec++;
	l->woff = b->net->nparams;
	l->boff = l->woff + l->wcount;
	b->net->nparams += l->wcount + l->bcount;
	if (b->net->nparams > NN_MAX_ELEMS)
		return GX_ETOOBIG;
	b->c = l->oc;
	b->h = l->oh;
	b->w = l->ow;
	return 0;
}

static int add_layer(builder *b, const char *name, size_t nlen, const long *a, int na, size_t off,
		     gx_spec_error *why)
{
	nn_layer *l;
	int rc;

#define IS(s) (nlen == strlen(s) && memcmp(name, s, nlen) == 0)
	if (IS("conv")) {
		if (na < 2 || na > 4)
			return fail(why, off, "conv takes OUT:K[:STRIDE[:PAD]]");
		long oc = a[0], k = a[1], st = na > 2 ? a[2] : 1, pad = na > 3 ? a[3] : 0;
		if (oc < 1 || k < 1 || st < 1)
			return fail(why, off, "conv: OUT, K and STRIDE must be at least 1");
		if (pad >= k)
			return fail(why, off, "conv: PAD %ld must be smaller than K %ld", pad, k);
		if ((rc = want_layout(b, 1, off, why)))
			return rc;
		if (k > b->h + 2 * pad || k > b->w + 2 * pad)
			return fail(why, off, "conv: kernel %ld larger than the %dx%d input (padding %ld)",
				    k, b->h, b->w, pad);
		if (!(l = push(b, NN_CONV, off, why)))
			return GX_EINVAL;
		l->k = (int)k;
		l->stride = (int)st;
		l->pad = (int)pad;
		l->oc = (int)oc;
		l->oh = GX_K_CONV_OUT(b->h, l->k, l->stride, l->pad);
		l->ow = GX_K_CONV_OUT(b->w, l->k, l->stride, l->pad);
		l->wcount = (uint64_t)oc * b->c * k * k;
		l->bcount = (uint64_t)oc;
		if ((uint64_t)b->c * k * k > NN_MAX_ELEMS)
			return GX_ETOOBIG;
	} else if (IS("pool")) {
		if (na < 1 || na > 2)
			return fail(why, off, "pool takes K[:STRIDE]");
		long k = a[0], st = na > 1 ? a[1] : a[0];
		if (k < 1 || st < 1)
			return fail(why, off, "pool: K and STRIDE must be at least 1");
		if ((rc = want_layout(b, 1, off, why)))
			return rc;
		if (k > b->h || k > b->w)
			return fail(why, off, "pool: window %ld larger than the %dx%d input", k, b->h,
				    b->w);
		if (!(l = push(b, NN_POOL, off, why)))
			return GX_EINVAL;
		l->k = (int)k;
		l->stride = (int)st;
		l->oh = (b->h - l->k) / l->stride + 1;
		l->ow = (b->w - l->k) / l->stride + 1;
	} else if (IS("dense")) {
		if (na != 1)
			return fail(why, off, "dense takes N");
		if (a[0] < 1)
			return fail(why, off, "dense: N must be at least 1");
		if ((rc = want_layout(b, 0, off, why)))
			return rc;
		if (!(l = push(b, NN_DENSE, off, why)))
			return GX_EINVAL;
		l->oc = (int)a[0];
		l->oh = l->ow = 1;
		l->wcount = (uint64_t)a[0] * l->in_size;
		l->bcount = (uint64_t)a[0];
	} else if (IS("relu")) {
		if (na)
			return fail(why, off, "relu takes no arguments");
		if (!(l = push(b, NN_RELU, off, why)))
			return GX_EINVAL;
	} else {
		return fail(why, off, "unknown layer '%.*s'", (int)(nlen > 32 ? 32 : nlen), name);
	}
#undef IS
	if ((rc = finish(b, l)))
		return fail(why, off, "too large (more than 2^31 elements)"), rc;
	return 0;
}

/* Canonical text of a layer into buf. */
static int layer_text(const nn_layer *l, char *buf, size_t cap)
{
	switch (l->kind) {
	case NN_CONV:
		if (l->pad)
			return snprintf(buf, cap, "conv:%d:%d:%d:%d", l->oc, l->k, l->stride, l->pad);
		if (l->stride != 1)
			return snprintf(buf, cap, "conv:%d:%d:%d", l->oc, l->k, l->stride);
		return snprintf(buf, cap, "conv:%d:%d", l->oc, l->k);
	case NN_POOL:
		if (l->stride != l->k)
			return snprintf(buf, cap, "pool:%d:%d", l->k, l->stride);
		return snprintf(buf, cap, "pool:%d", l->k);
	case NN_DENSE:
		return snprintf(buf, cap, "dense:%d", l->oc);
	case NN_RELU:
		return snprintf(buf, cap, "relu");
	}
	return 0;
}

int nn_parse(const char *spec, int c, int h, int w, nn_net *net, gx_spec_error *why)
{
	memset(net, 0, sizeof *net);
	if (!spec)
		return fail(why, 0, "no model spec");
	if (c < 1 || h < 1 || w < 1 || c > NN_MAX_DIM || h > NN_MAX_DIM || w > NN_MAX_DIM ||
	    (uint64_t)c * h * w > NN_MAX_ELEMS)
		return fail(why, 0, "bad input shape %dx%dx%d", c, h, w);

	const char *text = spec;
	{
		const char *s = skip_ws(spec);
		size_t n = strlen(s);
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
			if (strlen(presets[i].name) == n && memcmp(s, presets[i].name, n) == 0)
				text = presets[i].spec;
	}

	/* Each item adds at most two layers (a layout change and itself), plus a
	 * final layout change. */
	net->L = calloc(NN_MAX_LAYERS, sizeof *net->L);
	if (!net->L)
		return GX_ENOMEM;
	builder b = { net, c, h, w, 0, 0 };
	net->loss = GX_LOSS_XENT;
	int rc = 0, have_loss = 0;
	const char *p = text;
	for (;;) {
		p = skip_ws(p);
		size_t off = text == spec ? (size_t)(p - text) : 0;
		const char *name = p;
		while (islower((unsigned char)*p))
			p++;
		size_t nlen = (size_t)(p - name);
		if (!nlen) {
			if (!*p || *p == ',')
				rc = fail(why, off, "empty item");
			else
				rc = fail(why, off, "expected a layer name, found '%c'", *p);
			goto out;
		}
		long a[4];
		int na = 0;
		for (p = skip_ws(p); *p == ':'; p = skip_ws(p)) {
			p = skip_ws(p + 1);
			if (!isdigit((unsigned char)*p)) {
				rc = fail(why, text == spec ? (size_t)(p - text) : 0,
					  "expected a number after ':'");
				goto out;
			}
			long v = 0;
			while (isdigit((unsigned char)*p)) {
				v = v * 10 + (*p++ - '0');
				if (v > NN_MAX_DIM) {
					rc = fail(why, off, "number larger than %d", NN_MAX_DIM);
					goto out;
				}
			}
			if (na == 4) {
				rc = fail(why, off, "too many arguments");
				goto out;
			}
			a[na++] = v;
		}
		if (*p && *p != ',') {
			rc = fail(why, text == spec ? (size_t)(p - text) : 0,
				  "unexpected '%c' (items are separated by ',')", *p);
			goto out;
		}
		if (have_loss) {
			rc = fail(why, have_loss - 1, "the loss must be the last item");
			goto out;
		}
		if ((nlen == 4 && memcmp(name, "xent", 4) == 0) ||
		    (nlen == 3 && memcmp(name, "mse", 3) == 0)) {
			if (na) {
				rc = fail(why, off, "a loss takes no arguments");
				goto out;
			}
			net->loss = nlen == 3 ? GX_LOSS_MSE : GX_LOSS_XENT;
			have_loss = (int)off + 1;
		} else if ((rc = add_layer(&b, name, nlen, a, na, off, why))) {
			goto out;
		}
		if (!*p)
			break;
		p++;
	}
	if (!b.nspec) {
		rc = fail(why, 0, "no layers");
		goto out;
	}
	if (!net->nparams) {
		rc = fail(why, 0, "no layer with parameters (conv or dense)");
		goto out;
	}
	if ((rc = want_layout(&b, 0, strlen(text), why)))
		goto out;

	size_t cap = (size_t)net->n * 48 + 8, len = 0;
	net->spec = malloc(cap);
	if (!net->spec) {
		rc = GX_ENOMEM;
		goto out;
	}
	for (int i = 0; i < net->n; i++) {
		if (net->L[i].spec_index < 0)
			continue;
		if (len)
			net->spec[len++] = ',';
		len += (size_t)layer_text(&net->L[i], net->spec + len, cap - len);
	}
	snprintf(net->spec + len, cap - len, ",%s", net->loss == GX_LOSS_MSE ? "mse" : "xent");

	/* relu then max-pool computes what max-pool then relu does (max commutes
	 * with a monotonic function; where the window's maximum is <= 0 both give
	 * 0 and a zero gradient), and the second runs the ReLU on k*k times fewer
	 * elements. The spec keeps the order it was written in. */
	for (int i = 0; i + 1 < net->n; i++) {
		nn_layer *r = &net->L[i], *q = &net->L[i + 1];
		if (r->kind != NN_RELU || q->kind != NN_POOL)
			continue;
		nn_layer relu = *r, pool = *q;
		relu.c = relu.oc = pool.oc;
		relu.h = relu.oh = pool.oh;
		relu.w = relu.ow = pool.ow;
		relu.in_size = relu.out_size = pool.out_size;
		*r = pool;
		*q = relu;
		i++;
	}
out:
	if (rc)
		nn_net_release(net);
	return rc;
}

void nn_net_release(nn_net *net)
{
	free(net->L);
	free(net->spec);
	memset(net, 0, sizeof *net);
}
