/*
 * ckpt.c — geomx-train's checkpoints: a geomx frame stream (docs/wire.md),
 * written atomically.
 *
 *   frame 0   type TENSOR, codec NONE, count 0, channel 1 (metadata),
 *             GX_FF_CRC; payload: text lines
 *               geomx-train checkpoint 3
 *               spec CANONICAL-SPEC
 *               input C H W
 *               params N
 *               tensors K
 *               step S
 *               batch B            (version 2 on: the training state)
 *               seed X
 *               shard I N
 *               syncs K            (HFA: syncs so far)
 *               optimizer BYTES    (the optimizer's state; 0: none)
 *               synced 0|1         (HFA: the parameters of the last sync follow)
 *               residuals 0|1      (version 3 on; an fp16 LAN: the pushes'
 *                                   residuals follow)
 *   frame 1+i type TENSOR, codec F32, key i, count = tensor i's elements,
 *             channel 0, GX_FF_CRC: the parameters
 *   then      channel 2, codec NONE: the optimizer's state (when BYTES > 0)
 *   then      channel 3, codec F32, one per tensor: HFA's synced parameters
 *             (when synced is 1)
 *   then      channel 4, codec F32, one per tensor: what rounding kept back
 *             of the pushes under an fp16 LAN (when residuals is 1)
 *   The last frame carries GX_FF_LAST.
 *
 * Every header carries its own CRC-32C and every payload a CRC-32C, so any
 * flipped bit is found. A reader refuses another version, a different spec
 * or input shape, other tensor sizes, missing or extra frames. Version 1
 * (parameters only, as --save wrote before) is still read by --load, and
 * version 2 (no residuals line) by --resume.
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
#define CKPT_VERSION 3
#define META_CHANNEL 1
#define OPT_CHANNEL 2
#define SYNCED_CHANNEL 3
#define RESIDUAL_CHANNEL 4
#define READ_CHUNK (1u << 16)

static int meta_text(gx_model *m, uint32_t c, uint32_t h, uint32_t w, const struct ckpt_state *st,
		     char *buf, size_t cap)
{
	return snprintf(buf, cap,
			"%s %d\nspec %s\ninput %" PRIu32 " %" PRIu32 " %" PRIu32 "\nparams %" PRIu64
			"\ntensors %zu\nstep %" PRIu64 "\nbatch %" PRIu64 "\nseed %" PRIu64
			"\nshard %" PRIu32 " %" PRIu32 "\nsyncs %" PRIu64 "\noptimizer %zu\nsynced %d\n"
			"residuals %d\n",
			CKPT_MAGIC, CKPT_VERSION, gx_model_spec(m), c, h, w, gx_model_nparams(m),
			gx_model_ntensors(m), st->step, st->batch, st->seed, st->shard_i, st->shard_n,
			st->syncs, st->opt_len, st->synced != NULL, st->residual != NULL);
}

static int write_frame(int fd, gx_frame_hdr *h, const void *payload)
{
	h->flags |= GX_FF_CRC;
	h->payload_crc = gx_crc32c(0, payload, h->payload_len);
	return gx_frame_write_fd(fd, h, payload);
}

/* One F32 frame per tensor of m, values from base (laid out as m's
 * parameters); last: the final one is the file's last frame. */
static int write_tensors(int fd, gx_model *m, const float *base, uint16_t channel, int last)
{
	size_t nt = gx_model_ntensors(m);
	int e = 0;
	for (size_t i = 0; e == 0 && i < nt; i++) {
		gx_tensor_info ti;
		if ((e = gx_model_tensor(m, i, &ti)) != 0)
			break;
		if (ti.count * 4 > GX_DEFAULT_MAX_PAYLOAD)
			return GX_ELENGTH;
		gx_frame_hdr fh;
		gx_frame_hdr_init(&fh);
		fh.type = GX_FT_TENSOR;
		fh.codec = GX_CODEC_F32;
		fh.key = ti.key;
		fh.count = ti.count;
		fh.channel = channel;
		fh.payload_len = fh.raw_len = (uint32_t)(ti.count * 4);
		if (last && i + 1 == nt)
			fh.flags = GX_FF_LAST;
		e = write_frame(fd, &fh, base + ti.offset);
	}
	return e;
}

int ckpt_save(const char *path, gx_model *m, uint32_t c, uint32_t h, uint32_t w,
	      const struct ckpt_state *st)
{
	char tmp[4200], meta[2048];
	int len = meta_text(m, c, h, w, st, meta, sizeof meta);
	if (len < 0 || (size_t)len >= sizeof meta) {
		cli_error("%s: the model's spec is too long for a checkpoint", path);
		return -1;
	}
	if (st->opt_len > GX_DEFAULT_MAX_PAYLOAD) {
		cli_error("%s: the optimizer's state is too large for one frame", path);
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
	if (e == 0)
		e = write_tensors(fd, m, gx_model_params(m), 0,
				  !st->opt_len && !st->synced && !st->residual);
	if (e == 0 && st->opt_len) {
		gx_frame_hdr_init(&fh);
		fh.type = GX_FT_TENSOR;
		fh.codec = GX_CODEC_NONE;
		fh.channel = OPT_CHANNEL;
		fh.payload_len = fh.raw_len = (uint32_t)st->opt_len;
		fh.flags = st->synced || st->residual ? 0 : GX_FF_LAST;
		e = write_frame(fd, &fh, st->opt);
	}
	if (e == 0 && st->synced)
		e = write_tensors(fd, m, st->synced, SYNCED_CHANNEL, !st->residual);
	if (e == 0 && st->residual)
		e = write_tensors(fd, m, st->residual, RESIDUAL_CHANNEL, 1);
	if (e) {
		cli_error("%s: cannot write: %s", path,
			  e == GX_EIO ? strerror(errno) : e == GX_ELENGTH ? "a tensor is too large for one frame"
									  : gx_strerror(e));
		gx_atomic_abort(fd, tmp);
		return -1;
	}
	if (gx_atomic_commit(fd, tmp, path) != 0) {
		cli_error("%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Checks the metadata frame against the model and reads the training
 * state into st; *ver gets the version. -1 after a message. */
static int check_meta(const char *path, const uint8_t *p, uint32_t len, gx_model *m, uint32_t c,
		      uint32_t h, uint32_t w, int *ver, struct ckpt_state *st)
{
	char *txt = malloc((size_t)len + 1);
	if (!txt) {
		cli_error("out of memory");
		return -1;
	}
	memcpy(txt, p, len);
	txt[len] = 0;
	int rc = -1, synced = 0, residuals = 0;
	char *line = txt, *nl;
	*ver = 0;
	if (sscanf(txt, CKPT_MAGIC " %d", ver) != 1 || strncmp(txt, CKPT_MAGIC " ", sizeof CKPT_MAGIC) != 0) {
		cli_error("%s: not a geomx-train checkpoint", path);
		goto out;
	}
	if (*ver < 1 || *ver > CKPT_VERSION) {
		cli_error("%s: checkpoint version %d is not supported (this is version %d)", path, *ver,
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
		} else if (sscanf(line, "step %" SCNu64, &st->step) == 1) {
			seen |= 8;
		} else if (sscanf(line, "batch %" SCNu64, &st->batch) == 1) {
			seen |= 16;
		} else if (sscanf(line, "seed %" SCNu64, &st->seed) == 1) {
			seen |= 32;
		} else if (sscanf(line, "shard %" SCNu32 " %" SCNu32, &st->shard_i, &st->shard_n) == 2) {
			seen |= 64;
		} else if (sscanf(line, "syncs %" SCNu64, &st->syncs) == 1) {
			seen |= 128;
		} else if (sscanf(line, "optimizer %zu", &st->opt_len) == 1) {
			seen |= 256;
		} else if (sscanf(line, "synced %d", &synced) == 1) {
			seen |= 512;
		} else if (sscanf(line, "residuals %d", &residuals) == 1) {
			seen |= 1024;
		}
	}
	if ((seen & 7) != 7) {
		cli_error("%s: the checkpoint's header lacks the spec, input or params line", path);
		goto out;
	}
	if ((*ver == 2 && (seen & 1023) != 1023) || (*ver >= 3 && seen != 2047)) {
		cli_error("%s: the checkpoint's header lacks a line of the training state", path);
		goto out;
	}
	if (st->opt_len > GX_DEFAULT_MAX_PAYLOAD || synced < 0 || synced > 1 || residuals < 0 ||
	    residuals > 1) {
		cli_error("%s: the checkpoint's header is damaged", path);
		goto out;
	}
	st->has_synced = synced;
	st->has_residual = residuals;
	rc = 0;
out:
	free(txt);
	return rc;
}

/* Which frame comes n-th (n >= 1) of a file whose header st describes:
 * the channel, and the tensor index (params and synced frames). */
static int frame_kind(size_t n, size_t nt, const struct ckpt_state *st, size_t *tensor)
{
	if (n <= nt) {
		*tensor = n - 1;
		return 0;
	}
	n -= nt;
	if (st->opt_len && n-- == 1)
		return OPT_CHANNEL;
	if (st->has_synced && n >= 1 && n <= nt) {
		*tensor = n - 1;
		return SYNCED_CHANNEL;
	}
	if (st->has_synced)
		n -= nt;
	if (st->has_residual && n >= 1 && n <= nt) {
		*tensor = n - 1;
		return RESIDUAL_CHANNEL;
	}
	return -1;
}

/* Checks one frame after the header and copies its payload where it goes;
 * -1 after a message. */
static int take_frame(const char *path, size_t n, gx_model *m, const gx_frame_hdr *fh,
		      const uint8_t *pl, float *params, struct ckpt_state *st)
{
	size_t nt = gx_model_ntensors(m), i = 0;
	int kind = frame_kind(n, nt, st, &i);
	if (kind < 0) {
		cli_error("%s: frame %zu: more frames than its header announces", path, n + 1);
		return -1;
	}
	if (fh->type != GX_FT_TENSOR || !(fh->flags & GX_FF_CRC) || fh->channel != kind) {
		cli_error("%s: frame %zu: not the %s expected there", path, n + 1,
			  kind == OPT_CHANNEL ? "optimizer state" : "tensor");
		return -1;
	}
	if (kind == OPT_CHANNEL) {
		if (fh->codec != GX_CODEC_NONE || fh->payload_len != st->opt_len) {
			cli_error("%s: frame %zu: an optimizer state of %" PRIu32 " bytes, not %zu", path,
				  n + 1, fh->payload_len, st->opt_len);
			return -1;
		}
		memcpy(st->opt, pl, st->opt_len);
		return 0;
	}
	gx_tensor_info ti;
	gx_model_tensor(m, i, &ti);
	if (fh->codec != GX_CODEC_F32 || fh->key != ti.key || fh->count != ti.count) {
		cli_error("%s: frame %zu: expected tensor %s (key %" PRIu32 ", %" PRIu64
			  " floats), found key %" PRIu32 " of %" PRIu64 " elements",
			  path, n + 1, ti.name, ti.key, ti.count, fh->key, fh->count);
		return -1;
	}
	float *to = kind == SYNCED_CHANNEL ? st->synced : kind == RESIDUAL_CHANNEL ? st->residual
										    : params;
	memcpy(to + ti.offset, pl, ti.count * 4);
	return 0;
}

int ckpt_load(const char *path, gx_model *m, uint32_t c, uint32_t h, uint32_t w,
	      struct ckpt_state *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_error("%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = -1, ver = 0;
	uint64_t np = gx_model_nparams(m);
	size_t nt = gx_model_ntensors(m), nframes = 0, want = 0;
	struct ckpt_state st;
	memset(&st, 0, sizeof st);
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
				cli_error("%s: frame %zu: data after the last frame", path, nframes + 1);
				goto out;
			}
			if (nframes == 0) {
				if (fh.type != GX_FT_TENSOR || fh.codec != GX_CODEC_NONE ||
				    fh.channel != META_CHANNEL || !(fh.flags & GX_FF_CRC)) {
					cli_error("%s: not a geomx-train checkpoint (frame 1 is no header)", path);
					goto out;
				}
				if (check_meta(path, pl, fh.payload_len, m, c, h, w, &ver, &st))
					goto out;
				want = nt + (st.opt_len ? 1 : 0) + (st.has_synced ? nt : 0) +
				       (st.has_residual ? nt : 0);
				st.opt = st.opt_len ? malloc(st.opt_len) : NULL;
				st.synced = st.has_synced ? malloc((np ? np : 1) * sizeof *st.synced) : NULL;
				st.residual = st.has_residual ?
					malloc((np ? np : 1) * sizeof *st.residual) : NULL;
				if ((st.opt_len && !st.opt) || (st.has_synced && !st.synced) ||
				    (st.has_residual && !st.residual)) {
					cli_error("out of memory");
					goto out;
				}
			} else {
				if (take_frame(path, nframes, m, &fh, pl, buf, &st))
					goto out;
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
	if (!done || nframes != want + 1) {
		cli_error("%s: truncated: %zu of %zu frames", path, nframes, want + 1);
		goto out;
	}
	memcpy(gx_model_params(m), buf, np * sizeof *buf);
	st.version = ver;
	if (out) {
		*out = st;
		memset(&st, 0, sizeof st); /* now the caller's */
	}
	rc = 0;
out:
	ckpt_state_release(&st);
	gx_decoder_free(d);
	free(chunk);
	free(buf);
	close(fd);
	return rc;
}

void ckpt_state_release(struct ckpt_state *st)
{
	free(st->opt);
	free(st->synced);
	free(st->residual);
	st->opt = NULL;
	st->synced = NULL;
	st->residual = NULL;
}
