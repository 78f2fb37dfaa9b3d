/* data.c — datasets: IDX images + labels, Fashion-MNIST, shards, shuffling,
 * and the helpers the text loaders (data_csv.c, data_libsvm.c) share. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data_internal.h"

int gx_data_err(int rc, char *err, size_t errcap, const char *fmt, ...)
{
	if (err && errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void err_clear(char *err, size_t errcap)
{
	if (err && errcap)
		err[0] = '\0';
}

const char *gx_data_quote(const char *s, size_t n, char *out, size_t cap)
{
	size_t k = 0, lim = n > 24 ? 21 : n;
	if (cap < 32) {
		if (cap)
			out[0] = '\0';
		return out;
	}
	for (size_t i = 0; i < lim; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (lim < n) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

int gx_data_is_class(float v)
{
	return v >= 0 && v < (float)GX_DATA_MAX_CLASS && v == floorf(v);
}

int gx_vec_grow(gx_vec *v, size_t es)
{
	if (v->n < v->cap)
		return 0;
	size_t nc = v->cap ? v->cap * 2 : 256;
	if (nc > SIZE_MAX / es)
		return GX_ENOMEM;
	void *p = realloc(v->p, nc * es);
	if (!p)
		return GX_ENOMEM;
	v->p = p;
	v->cap = nc;
	return 0;
}

/* strtof follows LC_NUMERIC; the files' format does not, so numbers go
 * through a "C" locale made once (plain strtof if that fails: a process
 * that never calls setlocale is in "C" anyway). */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

int gx_data_number(const char *s, size_t n, float *v)
{
	char b[GX_DATA_MAX_TOKEN + 1];
	size_t i = 0, digits = 0;

	if (n == 0 || n > GX_DATA_MAX_TOKEN)
		return GX_EFORMAT;
	/* The syntax is checked here, so strtof's extras (hex, inf, nan,
	 * leading spaces) never get through. */
	if (s[i] == '+' || s[i] == '-')
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (!digits)
		return GX_EFORMAT;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, e++;
		if (!e)
			return GX_EFORMAT;
	}
	if (i != n)
		return GX_EFORMAT;
	memcpy(b, s, n);
	b[n] = '\0';
	pthread_once(&c_locale_once, make_c_locale);
	char *end;
	float f = c_locale ? strtof_l(b, &end, c_locale) : strtof(b, &end);
	if (end != b + n)
		return GX_EFORMAT;
	if (isinf(f))
		return GX_ETOOBIG; /* underflow to 0 or a subnormal is fine */
	*v = f;
	return 0;
}

int gx_data_read_text(const char *path, uint64_t max, char **buf, size_t *len, char *err,
		      size_t errcap)
{
	*buf = NULL;
	*len = 0;
	gzFile g = gzopen(path, "rb");
	if (!g) {
		int e = errno ? errno : ENOMEM;
		int rc = gx_data_err(e == ENOMEM ? GX_ENOMEM : GX_EIO, err, errcap, "%s: %s", path,
				     strerror(e));
		errno = e;
		return rc;
	}
	gzbuffer(g, 1u << 17);
	char *b = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (;;) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 1u << 16;
			if (nc > max + 1)
				nc = (size_t)max + 1; /* one byte over tells "too big" */
			if (nc <= cap) {
				rc = gx_data_err(GX_ETOOBIG, err, errcap,
						 "%s: more than %llu bytes of text", path,
						 (unsigned long long)max);
				break;
			}
			char *nb = realloc(b, nc);
			if (!nb) {
				rc = gx_data_err(GX_ENOMEM, err, errcap, "%s: out of memory", path);
				break;
			}
			b = nb;
			cap = nc;
		}
		size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
		int r = gzread(g, b + n, (unsigned)want);
		if (r < 0) {
			int zerr;
			const char *msg = gzerror(g, &zerr);
			if (zerr == Z_ERRNO)
				rc = gx_data_err(GX_EIO, err, errcap, "%s: %s", path, strerror(errno));
			else if (zerr == Z_BUF_ERROR)
				rc = gx_data_err(GX_ETRUNC, err, errcap,
						 "%s: gzip stream truncated at byte %lld", path,
						 (long long)gzoffset(g));
			else
				rc = gx_data_err(GX_EFORMAT, err, errcap,
						 "%s: corrupt gzip data after %zu bytes (%s)", path, n,
						 msg);
			break;
		}
		if (r == 0) {
			/* zlib reports a stream cut short as Z_BUF_ERROR after
			 * handing out what it could decode. */
			int zerr;
			gzerror(g, &zerr);
			if (zerr == Z_BUF_ERROR)
				rc = gx_data_err(GX_ETRUNC, err, errcap,
						 "%s: gzip stream truncated at byte %lld", path,
						 (long long)gzoffset(g));
			break;
		}
		n += (size_t)r;
		if (n > max) {
			rc = gx_data_err(GX_ETOOBIG, err, errcap, "%s: more than %llu bytes of text",
					 path, (unsigned long long)max);
			break;
		}
	}
	int e = errno;
	long long end = (long long)gzoffset(g);
	int zrc = gzclose(g);
	if (zrc != Z_OK && rc == 0)
		rc = zrc == Z_BUF_ERROR ?
			     gx_data_err(GX_ETRUNC, err, errcap,
					 "%s: gzip stream truncated at byte %lld", path, end) :
			     gx_data_err(GX_EFORMAT, err, errcap, "%s: corrupt gzip stream", path);
	errno = e;
	if (rc) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = n;
	return 0;
}

int gx_data_load_text(const char *path, gx_text_parser parse, const void *args,
		      gx_dataset *out, char *err, size_t errcap)
{
	char *buf;
	size_t len;
	if (out)
		memset(out, 0, sizeof *out);
	if (!path || !out)
		return gx_data_err(GX_EINVAL, err, errcap, "no file name or output dataset");
	int rc = gx_data_read_text(path, GX_DATA_MAX_TEXT, &buf, &len, err, errcap);
	if (rc)
		return rc;
	rc = parse(buf, len, path, args, out, err, errcap);
	free(buf);
	return rc;
}

void gx_text_begin(gx_text_lines *t, const char *buf, size_t len)
{
	t->buf = buf;
	t->len = len;
	t->pos = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	t->lineno = 0;
}

int gx_text_next(gx_text_lines *t, const char **s, size_t *n)
{
	if (t->pos >= t->len)
		return 0;
	const char *l = t->buf + t->pos, *nl = memchr(l, '\n', t->len - t->pos);
	size_t k = nl ? (size_t)(nl - l) : t->len - t->pos;
	t->pos += k + (nl != NULL);
	t->lineno++;
	if (k && l[k - 1] == '\r')
		k--;
	*s = l;
	*n = k;
	return 1;
}

void gx_data_set_table(gx_dataset *out, uint64_t n, uint32_t d, uint32_t nclasses, float *x,
		       float *y)
{
	out->n = n;
	out->d = d;
	out->c = out->h = 1;
	out->w = d;
	out->nclasses = nclasses;
	out->x = x;
	out->y = y;
}

/* ---------------------------------------------------------------- IDX */

/* The header size and total size an IDX file declares, read again after
 * gx_idx_load failed, for the message. Returns 0 when the header is whole,
 * GX_EIO when the file cannot be opened, GX_EFORMAT otherwise. */
static int idx_sizes(const char *path, uint64_t *hdr, uint64_t *total)
{
	static const uint8_t es[16] = { [0x08] = 1, [0x09] = 1, [0x0B] = 2, [0x0C] = 4,
					[0x0D] = 4, [0x0E] = 8 };
	uint8_t b[20];
	gzFile g = gzopen(path, "rb");
	if (!g)
		return GX_EIO;
	int r = gzread(g, b, sizeof b);
	gzclose(g);
	if (r < 4 || b[2] >= 16 || !es[b[2]] || b[3] < 1 || b[3] > 4 || r < 4 + 4 * b[3])
		return GX_EFORMAT;
	uint64_t count = 1;
	for (int i = 0; i < b[3]; i++)
		count *= (uint64_t)b[4 + 4 * i] << 24 | (uint64_t)b[5 + 4 * i] << 16 |
			 (uint64_t)b[6 + 4 * i] << 8 | b[7 + 4 * i];
	*hdr = 4 + 4 * (uint64_t)b[3];
	*total = *hdr + count * es[b[2]];
	return 0;
}

static int idx_load(const char *path, gx_idx *x, char *err, size_t errcap)
{
	uint64_t off = 0, hdr = 0, total = 0;
	int rc = gx_idx_load(path, 0, x, &off);
	if (rc == 0)
		return 0;
	int e = errno;
	int whole = idx_sizes(path, &hdr, &total) == 0;
	switch (rc) {
	case GX_EIO:
		gx_data_err(rc, err, errcap, "%s: %s", path, strerror(e));
		break;
	case GX_ETRUNC:
		if (whole)
			gx_data_err(rc, err, errcap, "%s: truncated at byte %llu (expected %llu bytes)",
				    path, (unsigned long long)off, (unsigned long long)total);
		else
			gx_data_err(rc, err, errcap, "%s: truncated at byte %llu (in the IDX header)",
				    path, (unsigned long long)off);
		break;
	case GX_ETOOBIG:
		gx_data_err(rc, err, errcap, "%s: byte %llu: more than %llu elements", path,
			    (unsigned long long)off, (unsigned long long)GX_DEFAULT_MAX_COUNT);
		break;
	case GX_EFORMAT:
		if (!whole || off < hdr)
			gx_data_err(rc, err, errcap, "%s: not an IDX file (bad header at byte %llu)",
				    path, (unsigned long long)off);
		else if (off >= total)
			gx_data_err(rc, err, errcap,
				    "%s: unexpected data after byte %llu (the header declares %llu bytes)",
				    path, (unsigned long long)off, (unsigned long long)total);
		else
			gx_data_err(rc, err, errcap, "%s: corrupt data at byte %llu", path,
				    (unsigned long long)off);
		break;
	default:
		gx_data_err(rc, err, errcap, "%s: %s", path, gx_strerror(rc));
	}
	errno = e;
	return rc;
}

int gx_dataset_load_idx(const char *images, const char *labels, gx_dataset *out, char *err,
			size_t errcap)
{
	gx_idx xi = { 0 }, yi = { 0 };
	int rc;

	err_clear(err, errcap);
	if (!out)
		return gx_data_err(GX_EINVAL, err, errcap, "no output dataset");
	memset(out, 0, sizeof *out);
	if (!images || !labels)
		return gx_data_err(GX_EINVAL, err, errcap, "no file name");
	if ((rc = idx_load(images, &xi, err, errcap)) != 0)
		return rc;
	if ((rc = idx_load(labels, &yi, err, errcap)) != 0)
		goto fail;
	if (xi.ndim < 2) {
		rc = gx_data_err(GX_EFORMAT, err, errcap,
				 "%s: images need 2 to 4 dimensions, found %u", images, xi.ndim);
		goto fail;
	}
	if (yi.ndim != 1 || yi.dims[0] != xi.dims[0]) {
		rc = gx_data_err(GX_EFORMAT, err, errcap,
				 "%s: expected %u labels in one dimension for %s, found %llu in %u",
				 labels, xi.dims[0], images, (unsigned long long)yi.count, yi.ndim);
		goto fail;
	}
	uint32_t maxc = 0;
	for (uint64_t i = 0; i < yi.count; i++) {
		if (!gx_data_is_class(yi.data[i])) {
			/* item i starts at byte 8 + i * element size */
			unsigned es = yi.elem_type <= 0x09 ? 1 : yi.elem_type == 0x0B ? 2 :
							    yi.elem_type == 0x0E ? 8 : 4;
			rc = gx_data_err(GX_EFORMAT, err, errcap,
					 "%s: byte %llu: label %g is not a class index", labels,
					 (unsigned long long)(8 + i * es), (double)yi.data[i]);
			goto fail;
		}
		if ((uint32_t)yi.data[i] > maxc)
			maxc = (uint32_t)yi.data[i];
	}
	out->n = xi.dims[0];
	out->d = (uint32_t)(xi.count / xi.dims[0]);
	out->c = xi.ndim == 4 ? xi.dims[1] : 1;
	out->h = xi.ndim == 4 ? xi.dims[2] : xi.ndim == 3 ? xi.dims[1] : 1;
	out->w = xi.dims[xi.ndim - 1];
	out->nclasses = maxc + 1;
	out->x = xi.data;
	out->y = yi.data;
	if (xi.elem_type == 0x08)
		for (uint64_t i = 0; i < xi.count; i++)
			out->x[i] *= 1.0f / 255.0f;
	return 0;
fail:
	gx_idx_release(&xi);
	gx_idx_release(&yi);
	return rc;
}

int gx_dataset_fashion_mnist(const char *dir, int train, gx_dataset *out, char *err,
			     size_t errcap)
{
	char ip[4096], lp[4096];
	const char *pre = train ? "train" : "t10k";

	if (!dir || !*dir)
		dir = GX_FASHION_MNIST_DIR;
	if ((size_t)snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, pre) >= sizeof ip ||
	    (size_t)snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, pre) >= sizeof lp) {
		if (out)
			memset(out, 0, sizeof *out);
		return gx_data_err(GX_EINVAL, err, errcap, "%s: folder name too long", dir);
	}
	int rc = gx_dataset_load_idx(ip, lp, out, err, errcap);
	if (rc == GX_EIO && errno == ENOENT && err && errcap) {
		size_t k = strlen(err);
		if (k + 1 < errcap)
			snprintf(err + k, errcap - k, " (Debian package dataset-fashion-mnist)");
		errno = ENOENT;
	}
	return rc;
}

/* ------------------------------------------------------------ shards */

int gx_dataset_shard_classes(uint32_t nclasses, uint32_t i, uint32_t n, uint32_t *lo,
			     uint32_t *hi)
{
	if (n == 0 || i >= n || n > nclasses)
		return GX_EINVAL;
	if (lo)
		*lo = (uint32_t)((uint64_t)i * nclasses / n);
	if (hi)
		*hi = (uint32_t)((uint64_t)(i + 1) * nclasses / n);
	return 0;
}

int gx_dataset_shard(const gx_dataset *in, uint32_t i, uint32_t n, int by_class,
		     gx_dataset *out)
{
	if (!out)
		return GX_EINVAL;
	memset(out, 0, sizeof *out);
	if (!in || n == 0 || i >= n || (in->n && (!in->x || !in->y)))
		return GX_EINVAL;
	uint32_t lo = 0, hi = 0;
	uint64_t first = 0, count = 0;
	if (by_class) {
		if (in->nclasses == 0 || gx_dataset_shard_classes(in->nclasses, i, n, &lo, &hi))
			return GX_EINVAL;
		for (uint64_t k = 0; k < in->n; k++)
			if (in->y[k] >= (float)lo && in->y[k] < (float)hi)
				count++;
	} else {
		/* 128-bit products: n samples times a shard index may pass 2^64 */
		first = (uint64_t)((unsigned __int128)in->n * i / n);
		count = (uint64_t)((unsigned __int128)in->n * (i + 1) / n) - first;
	}
	*out = *in;
	out->x = out->y = NULL;
	out->n = count;
	if (count == 0)
		return 0;
	out->x = malloc(count * in->d * sizeof(float));
	out->y = malloc(count * sizeof(float));
	if (!out->x || !out->y) {
		gx_dataset_release(out);
		return GX_ENOMEM;
	}
	if (!by_class) {
		memcpy(out->x, in->x + first * in->d, count * in->d * sizeof(float));
		memcpy(out->y, in->y + first, count * sizeof(float));
		return 0;
	}
	uint64_t j = 0;
	for (uint64_t k = 0; k < in->n; k++) {
		if (in->y[k] >= (float)lo && in->y[k] < (float)hi) {
			memcpy(out->x + j * in->d, in->x + k * in->d, in->d * sizeof(float));
			out->y[j++] = in->y[k];
		}
	}
	return 0;
}

void gx_dataset_release(gx_dataset *d)
{
	if (!d)
		return;
	free(d->x);
	free(d->y);
	memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------ epochs */

int gx_shuffle_indices(uint32_t *idx, uint64_t n, uint64_t seed, uint64_t epoch)
{
	if (n > (1ull << 32) || (n && !idx))
		return GX_EINVAL;
	/* One generator per (seed, epoch): the seed's stream gives a key that
	 * is mixed with the epoch and spread again by gx_rng_seed, so nearby
	 * seeds and epochs give unrelated orders and any epoch can be replayed
	 * without the ones before it. */
	gx_rng r;
	gx_rng_seed(&r, seed);
	uint64_t key = gx_rng_next(&r) ^ (epoch * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull);
	gx_rng_seed(&r, key);
	for (uint64_t k = 0; k < n; k++)
		idx[k] = (uint32_t)k;
	for (uint64_t k = n; k > 1; k--) {
		uint64_t j = gx_rng_below(&r, k);
		uint32_t t = idx[k - 1];
		idx[k - 1] = idx[j];
		idx[j] = t;
	}
	return 0;
}

int gx_dataset_gather(const gx_dataset *ds, const uint32_t *idx, size_t k, float *x, float *y)
{
	if (!ds || (k && (!idx || !x)))
		return GX_EINVAL;
	for (size_t j = 0; j < k; j++)
		if (idx[j] >= ds->n)
			return GX_EINVAL;
	for (size_t j = 0; j < k; j++) {
		memcpy(x + j * ds->d, ds->x + (uint64_t)idx[j] * ds->d, ds->d * sizeof(float));
		if (y)
			y[j] = ds->y[idx[j]];
	}
	return 0;
}
