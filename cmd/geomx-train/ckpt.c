/*
 * ckpt.c — geomx-train's checkpoints: a geomx frame stream (docs/wire.md),
 * written atomically.
 *
 *   frame 0   type TENSOR, codec NONE, count 0, channel 1 (metadata),
 *             GX_FF_CRC; payload: text lines
 *               geomx-train checkpoint 1
 *               spec CANONICAL-SPEC
 *               input C H W
 *               params N
 *               tensors K
 *               step S
 *   frame 1+i type TENSOR, codec F32, key i, count = tensor i's elements,
 *             channel 0, GX_FF_CRC (GX_FF_LAST on the last): the parameters
 *
 * Every header carries its own CRC-32C and every payload a CRC-32C, so any
 * flipped bit is found. A reader refuses another version, a different spec
 * or input shape, other tensor sizes, missing or extra frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli.h"
#include "train.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "geomx-train needs a little-endian host"
#endif

#define CKPT_MAGIC "geomx-train checkpoint"
#define CKPT_VERSION 1
#define META_CHANNEL 1
#define READ_CHUNK (1u << 16)

static int meta_text(gx_model *m, uint32_t c, uint32_t h, uint32_t w, uint64_t step, char *buf,
		     size_t cap)
{
	return snprintf(buf, cap,
			"%s %d\nspec %s\ninput %" PRIu32 " %" PRIu32 " %" PRIu32 "\nparams %" PRIu64
			"\ntensors %zu\nstep %" PRIu64 "\n",
			CKPT_MAGIC, CKPT_VERSION, gx_model_spec(m), c, h, w, gx_model_nparams(m),
			gx_model_ntensors(m), step);
}

static int write_frame(int fd, gx_frame_hdr *h, const void *payload)
{
	h->flags |= GX_FF_CRC;
	h->payload_crc = gx_crc32c(0, payload, h->payload_len);
	return gx_frame_write_fd(fd, h, payload);
}

int ckpt_save(const char *path, gx_model *m, uint32_t c, uint32_t h, uint32_t w, uint64_t step)
{
	char tmp[4200], meta[2048];
	int len = meta_text(m, c, h, w, step, meta, sizeof meta);
	if (len < 0 || (size_t)len >= sizeof meta) {
		cli_error("%s: the model's spec is too long for a checkpoint", path);
		return -1;
	}
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	if (fd < 0) {
		cli_error("%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	gx_frame_hdr fh;
	gx_frame_hdr_init(&fh);
	fh.type = GX_FT_TENSOR;
	fh.codec = GX_CODEC_NONE;
	fh.channel = META_CHANNEL;
	fh.payload_len = fh.raw_len = (uint32_t)len;
	int e = write_frame(fd, &fh, meta);
	size_t nt = gx_model_ntensors(m);
	for (size_t i = 0; e == 0 && i < nt; i++) {
		gx_tensor_info ti;
		if ((e = gx_model_tensor(m, i, &ti)) != 0)
			break;
		if (ti.count * 4 > GX_DEFAULT_MAX_PAYLOAD) {
			cli_error("%s: tensor %s is too large for one frame", path, ti.name);
			gx_atomic_abort(fd, tmp);
			return -1;
		}
		gx_frame_hdr_init(&fh);
		fh.type = GX_FT_TENSOR;
		fh.codec = GX_CODEC_F32;
		fh.key = ti.key;
		fh.count = ti.count;
		fh.payload_len = fh.raw_len = (uint32_t)(ti.count * 4);
		if (i + 1 == nt)
			fh.flags = GX_FF_LAST;
		e = write_frame(fd, &fh, ti.data);
	}
	if (e) {
		cli_error("%s: cannot write: %s", path, e == GX_EIO ? strerror(errno) : gx_strerror(e));
		gx_atomic_abort(fd, tmp);
		return -1;
	}
	if (gx_atomic_commit(fd, tmp, path) != 0) {
		cli_error("%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Checks the metadata frame against the model; -1 after a message. */
static int check_meta(const char *path, const uint8_t *p, uint32_t len, gx_model *m, uint32_t c,
		      uint32_t h, uint32_t w)
{
	char *txt = malloc((size_t)len + 1);
	if (!txt) {
		cli_error("out of memory");
		return -1;
	}
	memcpy(txt, p, len);
	txt[len] = 0;
	int ver = 0, rc = -1;
	char *line = txt, *nl;
	if (sscanf(txt, CKPT_MAGIC " %d", &ver) != 1 || strncmp(txt, CKPT_MAGIC " ", sizeof CKPT_MAGIC) != 0) {
		cli_error("%s: not a geomx-train checkpoint", path);
		goto out;
	}
	if (ver != CKPT_VERSION) {
		cli_error("%s: checkpoint version %d is not supported (this is version %d)", path, ver,
			  CKPT_VERSION);
		goto out;
	}
	int seen = 0;
	for (; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = 0;
		uint32_t fc, fh, fw;
		uint64_t n;
		if (strncmp(line, "spec ", 5) == 0) {
			seen |= 1;
			if (strcmp(line + 5, gx_model_spec(m)) != 0) {
				cli_error("%s: the checkpoint is of model '%s', not '%s'", path, line + 5,
					  gx_model_spec(m));
				goto out;
			}
		} else if (sscanf(line, "input %" SCNu32 " %" SCNu32 " %" SCNu32, &fc, &fh, &fw) == 3) {
			seen |= 2;
			if (fc != c || fh != h || fw != w) {
				cli_error("%s: the checkpoint is for inputs of %" PRIu32 "x%" PRIu32 "x%" PRIu32
					  ", not %" PRIu32 "x%" PRIu32 "x%" PRIu32, path, fc, fh, fw, c, h, w);
				goto out;
			}
		} else if (sscanf(line, "params %" SCNu64, &n) == 1) {
			seen |= 4;
			if (n != gx_model_nparams(m)) {
				cli_error("%s: the checkpoint has %" PRIu64 " parameters, the model %" PRIu64,
					  path, n, gx_model_nparams(m));
				goto out;
			}
		}
	}
	if (seen != 7) {
		cli_error("%s: the checkpoint's header lacks the spec, input or params line", path);
		goto out;
	}
	rc = 0;
out:
	free(txt);
	return rc;
}

int ckpt_load(const char *path, gx_model *m, uint32_t c, uint32_t h, uint32_t w)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_error("%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = -1;
	uint64_t np = gx_model_nparams(m);
	size_t nt = gx_model_ntensors(m), nframes = 0;
	float *buf = malloc((np ? np : 1) * sizeof *buf);
	uint8_t *chunk = malloc(READ_CHUNK);
	gx_decoder *d = gx_decoder_create(NULL);
	uint64_t off = 0; /* bytes consumed: where the current frame started */
	int done = 0;
	if (!buf || !chunk || !d) {
		cli_error("out of memory");
		goto out;
	}
	for (;;) {
		long got = gx_read_full(fd, chunk, READ_CHUNK);
		if (got < 0) {
			cli_error("%s: read error: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		size_t pos = 0;
		while (pos < (size_t)got) {
			size_t used = 0;
			int r = gx_decoder_feed(d, chunk + pos, (size_t)got - pos, &used);
			pos += used;
			if (r < 0) {
				cli_error("%s: frame %zu: %s", path, nframes + 1, gx_strerror(r));
				goto out;
			}
			if (r == 0)
				continue;
			gx_frame_hdr fh;
			const uint8_t *pl;
			gx_decoder_frame(d, &fh, &pl);
			if (done) {
				cli_error("%s: frame %zu: data after the last tensor", path, nframes + 1);
				goto out;
			}
			if (nframes == 0) {
				if (fh.type != GX_FT_TENSOR || fh.codec != GX_CODEC_NONE ||
				    fh.channel != META_CHANNEL || !(fh.flags & GX_FF_CRC)) {
					cli_error("%s: not a geomx-train checkpoint (frame 1 is no header)", path);
					goto out;
				}
				if (check_meta(path, pl, fh.payload_len, m, c, h, w))
					goto out;
			} else {
				size_t i = nframes - 1;
				gx_tensor_info ti;
				if (i >= nt || gx_model_tensor(m, i, &ti) != 0) {
					cli_error("%s: frame %zu: more tensors than the model's %zu", path,
						  nframes + 1, nt);
					goto out;
				}
				if (fh.type != GX_FT_TENSOR || fh.codec != GX_CODEC_F32 ||
				    !(fh.flags & GX_FF_CRC) || fh.key != ti.key || fh.count != ti.count) {
					cli_error("%s: frame %zu: expected tensor %s (key %" PRIu32 ", %" PRIu64
						  " floats), found key %" PRIu32 " of %" PRIu64 " elements",
						  path, nframes + 1, ti.name, ti.key, ti.count, fh.key, fh.count);
					goto out;
				}
				memcpy(buf + ti.offset, pl, ti.count * 4);
				if (fh.flags & GX_FF_LAST)
					done = 1;
			}
			nframes++;
			off += GX_FRAME_HDR_SIZE + fh.payload_len;
		}
	}
	if (gx_decoder_pending(d)) {
		cli_error("%s: truncated at byte %" PRIu64 " (inside frame %zu)", path, off, nframes + 1);
		goto out;
	}
	if (!done || nframes != nt + 1) {
		cli_error("%s: truncated: %zu of %zu tensors", path, nframes ? nframes - 1 : 0, nt);
		goto out;
	}
	memcpy(gx_model_params(m), buf, np * sizeof *buf);
	rc = 0;
out:
	gx_decoder_free(d);
	free(chunk);
	free(buf);
	close(fd);
	return rc;
}
