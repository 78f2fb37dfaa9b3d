/* idx_file.c — IDX files (the MNIST format), gzip'd or plain. zlib's gzread reads
 * both transparently, so the format is decided by content, not by name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gx_data.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int elem_size(uint8_t t)
{
	switch (t) {
	case 0x08: case 0x09: return 1;
	case 0x0B: return 2;
	case 0x0C: case 0x0D: return 4;
	case 0x0E: return 8;
	default: return 0;
	}
}

static float conv(uint8_t t, const uint8_t *p)
{
	switch (t) {
	case 0x08: return (float)p[0];
	case 0x09: return (float)(int8_t)p[0];
	case 0x0B: return (float)(int16_t)(uint16_t)(p[0] << 8 | p[1]);
	case 0x0C: return (float)(int32_t)be32(p);
	case 0x0D: {
		uint32_t u = be32(p);
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	default: {
		uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
		double d;
		memcpy(&d, &u, 8);
		return (float)d;
	}
	}
}

/* Reads up to len bytes into buf; *got gets the bytes read. Returns 0 (a
 * short count means end of input), GX_ETRUNC when a gzip stream ends early,
 * or GX_EFORMAT for corrupt compressed data. */
static int gz_full(gzFile g, uint8_t *buf, size_t len, size_t *got)
{
	*got = 0;
	while (*got < len) {
		size_t want = len - *got > (1u << 30) ? (1u << 30) : len - *got;
		int r = gzread(g, buf + *got, (unsigned)want);
		if (r < 0) {
			int zerr;
			gzerror(g, &zerr);
			return zerr == Z_BUF_ERROR ? GX_ETRUNC : zerr == Z_ERRNO ? GX_EIO : GX_EFORMAT;
		}
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

int gx_idx_load(const char *path, uint64_t max_count, gx_idx *out, uint64_t *err_offset)
{
	uint64_t off_dummy;
	if (!err_offset)
		err_offset = &off_dummy;
	*err_offset = 0;
	if (!path || !out)
		return GX_EINVAL;
	memset(out, 0, sizeof *out);
	if (!max_count)
		max_count = GX_DEFAULT_MAX_COUNT;

	gzFile g = gzopen(path, "rb");
	if (!g)
		return GX_EIO;
	gzbuffer(g, 1u << 17);
	int rc = GX_OK;
	uint8_t *chunk = NULL;
	uint8_t hdr[4 + 16];
	size_t r;
	rc = gz_full(g, hdr, 4, &r);
	if (rc == GX_OK && r < 4)
		rc = GX_ETRUNC;
	if (rc) {
		*err_offset = r;
		goto done;
	}
	if (hdr[0] || hdr[1] || !elem_size(hdr[2])) {
		*err_offset = hdr[0] || hdr[1] ? 0 : 2;
		rc = GX_EFORMAT;
		goto done;
	}
	if (hdr[3] < 1 || hdr[3] > 4) {
		*err_offset = 3;
		rc = GX_EFORMAT;
		goto done;
	}
	uint8_t t = hdr[2], nd = hdr[3];
	int es = elem_size(t);
	rc = gz_full(g, hdr + 4, 4u * nd, &r);
	if (rc == GX_OK && r < 4u * nd)
		rc = GX_ETRUNC;
	if (rc) {
		*err_offset = 4 + r;
		goto done;
	}
	uint64_t count = 1;
	for (int i = 0; i < nd; i++) {
		uint32_t d = be32(hdr + 4 + 4 * i);
		if (d == 0) {
			*err_offset = 4 + 4 * (uint64_t)i;
			rc = GX_EFORMAT;
			goto done;
		}
		out->dims[i] = d;
		count *= d; /* at most 4 factors < 2^32 each: check as we go */
		if (count > max_count) {
			*err_offset = 4 + 4 * (uint64_t)i;
			rc = GX_ETOOBIG;
			goto done;
		}
	}
	out->elem_type = t;
	out->ndim = nd;
	out->count = count;
	out->data = malloc(count * sizeof(float));
	chunk = malloc(1u << 16);
	if (!out->data || !chunk) {
		rc = GX_ENOMEM;
		goto done;
	}
	uint64_t base = 4 + 4 * (uint64_t)nd, done_n = 0;
	size_t per = (1u << 16) / (size_t)es;
	while (done_n < count) {
		size_t want = count - done_n < per ? (size_t)(count - done_n) : per;
		rc = gz_full(g, chunk, want * (size_t)es, &r);
		if (rc == GX_OK && r < want * (size_t)es)
			rc = GX_ETRUNC;
		if (rc) {
			*err_offset = base + done_n * (uint64_t)es + r;
			goto done;
		}
		for (size_t i = 0; i < want; i++)
			out->data[done_n + i] = conv(t, chunk + i * (size_t)es);
		done_n += want;
	}
	/* Trailing bytes mean the dims don't describe the file. */
	uint8_t extra;
	rc = gz_full(g, &extra, 1, &r);
	if (rc == GX_OK && r != 0)
		rc = GX_EFORMAT;
	if (rc)
		*err_offset = base + count * (uint64_t)es;
done:
	free(chunk);
	if (gzclose(g) != Z_OK && rc == GX_OK)
		rc = GX_EFORMAT;
	if (rc != GX_OK)
		gx_idx_release(out);
	return rc;
}

void gx_idx_release(gx_idx *x)
{
	if (!x)
		return;
	free(x->data);
	memset(x, 0, sizeof *x);
}
