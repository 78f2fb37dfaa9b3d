/*
 * ef_state.c — error-feedback state files (docs/codecs.md, "Error-feedback
 * state files"): the GX_FT_STATE frames that persist a gx_ef, written by
 * geomx-sparsify --residual and geomx-ps --ef-save and read back by
 * geomx-sparsify. One writer and one reader, so both programs produce and
 * accept the same bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec_internal.h"

#define READ_CHUNK (64u << 10) /* bytes per read(2) */

int gx_ef_state_write_vec(int fd, uint32_t key, uint32_t block, int channel, const float *v,
			  uint64_t n)
{
	if (n > UINT32_MAX / sizeof(float))
		return GX_ETOOBIG;
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = GX_FT_STATE;
	h.flags = GX_FF_CRC;
	h.key = key;
	h.block = block;
	h.channel = (uint16_t)channel;
	h.codec = GX_CODEC_F32;
	h.count = n;
	h.payload_len = h.raw_len = (uint32_t)(n * sizeof(float));
	/* Little-endian host (codec_internal.h): the floats are the payload. */
	h.payload_crc = gx_crc32c(0, v, h.payload_len);
	return gx_frame_write_fd(fd, &h, v);
}

int gx_ef_state_write(int fd, uint32_t key, uint32_t block, const gx_ef *ef)
{
	if (!ef)
		return GX_EINVAL;
	/* The accessors take a writable state (callers restore into it); the
	 * vectors are only read here. */
	gx_ef *e = (gx_ef *)ef;
	uint64_t n = gx_ef_count(e);
	int r = gx_ef_state_write_vec(fd, key, block, 0, gx_ef_residual(e), n);
	const float *u = gx_ef_velocity(e);
	if (!r && u)
		r = gx_ef_state_write_vec(fd, key, block, 1, u, n);
	return r;
}

int gx_ef_state_check(const gx_frame_hdr *h)
{
	if (!h || h->type != GX_FT_STATE || h->channel > 1 || h->codec == GX_CODEC_NONE ||
	    !h->count)
		return GX_EFORMAT;
	return 0;
}

int gx_ef_state_load(gx_codec *c, gx_ef *ef, const gx_frame_hdr *h, const uint8_t *payload)
{
	if (!ef || !h)
		return GX_EINVAL;
	if (gx_ef_state_check(h))
		return GX_EFORMAT;
	float *dst = h->channel ? gx_ef_velocity(ef) : gx_ef_residual(ef);
	if (!dst)
		return GX_EFORMAT;
	if (h->count != gx_ef_count(ef))
		return GX_ELENGTH;
	gx_codec *tmp = NULL;
	if (!c) {
		gx_codec_opts o;
		gx_codec_opts_default(&o);
		int err = GX_ENOMEM;
		if (!(c = tmp = gx_codec_create(&o, &err)))
			return err;
	}
	int r = gx_codec_decode(c, h, payload, dst, 0);
	gx_codec_free(tmp);
	return r;
}

int gx_ef_state_read(int fd, const gx_frame_limits *lim, gx_ef_state_fn *fn, void *arg,
		     gx_ef_state_pos *pos)
{
	gx_ef_state_pos mine;
	if (!pos)
		pos = &mine;
	memset(pos, 0, sizeof *pos);
	pos->frame = 1;
	if (!fn)
		return GX_EINVAL;
	gx_decoder *d = gx_decoder_create(lim);
	uint8_t *buf = malloc(READ_CHUNK);
	int rc = 0;
	if (!d || !buf) {
		rc = GX_ENOMEM;
		goto out;
	}
	uint8_t head[4]; /* the file's first bytes, to tell garbage from a cut frame */
	size_t nhead = 0;
	uint64_t off = 0;
	for (;;) {
		ssize_t got;
		do
			got = read(fd, buf, READ_CHUNK);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			rc = GX_EIO;
			goto out;
		}
		if (got == 0)
			break;
		for (; nhead < sizeof head && nhead < off + (uint64_t)got; nhead++)
			head[nhead] = buf[nhead - off];
		size_t at = 0;
		while (at < (size_t)got) {
			size_t used = 0;
			int r = gx_decoder_feed(d, buf + at, (size_t)got - at, &used);
			at += used;
			off += used;
			if (r < 0) {
				rc = r;
				goto out;
			}
			if (r == 0)
				break;
			const uint8_t *p;
			gx_decoder_frame(d, &pos->h, &p);
			if (gx_ef_state_check(&pos->h)) {
				rc = GX_EFORMAT;
				goto out;
			}
			if ((rc = fn(arg, &pos->h, p)) != 0)
				goto out;
			pos->frame++;
			pos->off = off;
			memset(&pos->h, 0, sizeof pos->h);
		}
	}
	if (gx_decoder_pending(d)) {
		int garbage = pos->frame == 1 && nhead == sizeof head &&
			      memcmp(head, "GXFR", sizeof head) != 0;
		rc = garbage ? GX_EMAGIC : GX_ETRUNC;
	}
out:;
	int e = errno; /* GX_EIO's reason survives the frees */
	free(buf);
	gx_decoder_free(d);
	errno = e;
	return rc;
}
