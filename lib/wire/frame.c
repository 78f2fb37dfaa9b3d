/*
 * frame.c — the 64-byte frame header (pack, parse, check), CRC-32C dispatch,
 * the incremental decoder and the frame writer. Byte layout and validation
 * rules: docs/wire.md.
 *
 * The decoder is built like redis' request parser: it never trusts a length
 * before the whole header has been validated against the limits, so a hostile
 * peer cannot make it allocate more than max_payload, and it accepts its
 * input in pieces of any size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gx_wire.h"
#include "../base/le.h"
#include "../base/passes.h"

/* Byte offsets in the header (docs/wire.md has the table). */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_TYPE = 5,
	OFF_FLAGS = 6,
	OFF_KEY = 8,
	OFF_SENDER = 12,
	OFF_SEQ = 16,
	OFF_COUNT = 24,
	OFF_PAYLOAD_LEN = 32,
	OFF_RAW_LEN = 36,
	OFF_CODEC = 40,
	OFF_PRIORITY = 41,
	OFF_CHANNEL = 42,
	OFF_ROUND = 44,
	OFF_BLOCK = 48,
	OFF_PAYLOAD_CRC = 52,
	OFF_RESERVED = 56,
	OFF_HDR_CRC = 60
};

/* The fixed part of a sparse payload (u8 index_enc, u8 + u16 reserved,
 * u32 nnz, u32 index_bytes); a shorter sparse payload cannot be valid. */
#define SPARSE_HDR_SIZE 12

/* ------------------------------------------------------------- header */

void gx_frame_limits_default(gx_frame_limits *lim)
{
	if (!lim)
		return;
	lim->max_payload = GX_DEFAULT_MAX_PAYLOAD;
	lim->max_count = GX_DEFAULT_MAX_COUNT;
}

size_t gx_wire_elem_size(int codec)
{
	return codec == GX_CODEC_F32 ? 4 : codec == GX_CODEC_F16 ? 2 : 0;
}

void gx_frame_hdr_init(gx_frame_hdr *h)
{
	if (!h)
		return;
	memset(h, 0, sizeof *h);
	h->version = GX_FRAME_VERSION;
}

void gx_frame_hdr_pack(const gx_frame_hdr *h, uint8_t out[GX_FRAME_HDR_SIZE])
{
	put32(out + OFF_MAGIC, GX_FRAME_MAGIC);
	out[OFF_VERSION] = h->version;
	out[OFF_TYPE] = h->type;
	put16(out + OFF_FLAGS, h->flags);
	put32(out + OFF_KEY, h->key);
	put32(out + OFF_SENDER, h->sender);
	put64(out + OFF_SEQ, h->seq);
	put64(out + OFF_COUNT, h->count);
	put32(out + OFF_PAYLOAD_LEN, h->payload_len);
	put32(out + OFF_RAW_LEN, h->raw_len);
	out[OFF_CODEC] = h->codec;
	out[OFF_PRIORITY] = h->priority;
	put16(out + OFF_CHANNEL, h->channel);
	put32(out + OFF_ROUND, h->round);
	put32(out + OFF_BLOCK, h->block);
	put32(out + OFF_PAYLOAD_CRC, h->payload_crc);
	put32(out + OFF_RESERVED, 0);
	put32(out + OFF_HDR_CRC, gx_crc32c(0, out, OFF_HDR_CRC));
}

/* The lengths' agreement with each other and with the codec. Sizes are
 * compared in 64 bits: count * 4 must not wrap for a huge count. */
static int check_lengths(const gx_frame_hdr *h)
{
	uint64_t raw = h->raw_len;

	if (h->flags & GX_FF_ZSTD) {
		/* A zstd frame is never empty, even for empty input. */
		if (h->payload_len == 0)
			return GX_ELENGTH;
	} else if (h->raw_len != h->payload_len) {
		return GX_ELENGTH;
	}
	switch (h->codec) {
	case GX_CODEC_NONE:
		if (h->count != 0)
			return GX_ELENGTH;
		break;
	case GX_CODEC_F32:
		if (h->count > UINT64_MAX / 4 || raw != h->count * 4)
			return GX_ELENGTH;
		break;
	case GX_CODEC_F16:
		if (h->count > UINT64_MAX / 2 || raw != h->count * 2)
			return GX_ELENGTH;
		break;
	case GX_CODEC_SPARSE_F32:
	case GX_CODEC_SPARSE_F16:
		if (raw < SPARSE_HDR_SIZE || h->count == 0)
			return GX_ELENGTH;
		break;
	}
	return GX_OK;
}

int gx_frame_hdr_check(const gx_frame_hdr *h, const gx_frame_limits *lim)
{
	gx_frame_limits def;

	if (!h)
		return GX_EINVAL;
	if (!lim) {
		gx_frame_limits_default(&def);
		lim = &def;
	}
	if (h->version != GX_FRAME_VERSION)
		return GX_EVERSION;
	if (h->type == 0 || h->type >= GX_FT__MAX)
		return GX_ETYPE;
	if (h->codec >= GX_CODEC__MAX)
		return GX_ECODEC;
	if (h->flags & ~GX_FF__ALL)
		return GX_EFLAGS;
	/* A checksum without the flag that announces it is a contradiction:
	 * the sender meant something the receiver would silently ignore. */
	if (!(h->flags & GX_FF_CRC) && h->payload_crc != 0)
		return GX_EFLAGS;
	if (h->payload_len > lim->max_payload || h->raw_len > lim->max_payload ||
	    h->count > lim->max_count)
		return GX_ETOOBIG;
	return check_lengths(h);
}

int gx_frame_hdr_parse(const uint8_t in[GX_FRAME_HDR_SIZE], const gx_frame_limits *lim,
		       gx_frame_hdr *h)
{
	if (!in || !h)
		return GX_EINVAL;
	/* Fill *h first so a caller can name the offending frame (key, sender)
	 * in a diagnostic even when it is rejected. */
	h->version = in[OFF_VERSION];
	h->type = in[OFF_TYPE];
	h->flags = get16(in + OFF_FLAGS);
	h->key = get32(in + OFF_KEY);
	h->sender = get32(in + OFF_SENDER);
	h->seq = get64(in + OFF_SEQ);
	h->count = get64(in + OFF_COUNT);
	h->payload_len = get32(in + OFF_PAYLOAD_LEN);
	h->raw_len = get32(in + OFF_RAW_LEN);
	h->codec = in[OFF_CODEC];
	h->priority = in[OFF_PRIORITY];
	h->channel = get16(in + OFF_CHANNEL);
	h->round = get32(in + OFF_ROUND);
	h->block = get32(in + OFF_BLOCK);
	h->payload_crc = get32(in + OFF_PAYLOAD_CRC);

	if (get32(in + OFF_MAGIC) != GX_FRAME_MAGIC)
		return GX_EMAGIC;
	/* Version before checksum: a later version may lay out or checksum
	 * its header differently, and "unsupported version" is the useful
	 * message for that peer. */
	if (in[OFF_VERSION] != GX_FRAME_VERSION)
		return GX_EVERSION;
	if (get32(in + OFF_HDR_CRC) != gx_crc32c(0, in, OFF_HDR_CRC))
		return GX_EHDRCRC;
	if (get32(in + OFF_RESERVED) != 0)
		return GX_ERESERVED;
	return gx_frame_hdr_check(h, lim);
}

/* ------------------------------------------------------------ decoder */

enum dec_state {
	DEC_HDR,   /* collecting the 64 header bytes */
	DEC_BODY,  /* header valid, collecting payload_len bytes */
	DEC_READY, /* a frame is complete; the next feed starts another */
	DEC_ERROR  /* sticky error until reset */
};

struct gx_decoder {
	gx_frame_limits lim;
	enum dec_state state;
	int err;
	size_t hlen; /* header bytes collected */
	size_t plen; /* payload bytes collected */
	uint8_t hbuf[GX_FRAME_HDR_SIZE];
	gx_frame_hdr hdr;
	uint8_t *buf; /* payload buffer, reused across frames */
	size_t cap;
	int borrow;            /* gx_decoder_borrow */
	const uint8_t *lent;   /* the ready frame's payload in the fed bytes */
	uint8_t *dest;         /* the frame's payload goes here, not to buf
				* (gx_decoder_place) */
};

/* Where the current frame's payload is collected. */
static uint8_t *body(const gx_decoder *d)
{
	return d->dest ? d->dest : d->buf;
}

gx_decoder *gx_decoder_create(const gx_frame_limits *lim)
{
	gx_decoder *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	if (lim)
		d->lim = *lim;
	else
		gx_frame_limits_default(&d->lim);
	d->state = DEC_HDR;
	return d;
}

void gx_decoder_set_limits(gx_decoder *d, const gx_frame_limits *lim)
{
	if (lim)
		d->lim = *lim;
	else
		gx_frame_limits_default(&d->lim);
}

void gx_decoder_free(gx_decoder *d)
{
	if (!d)
		return;
	free(d->buf);
	free(d);
}

void gx_decoder_reset(gx_decoder *d)
{
	if (!d)
		return;
	/* The buffer is kept: a reset decoder usually sees similar frames. */
	d->state = DEC_HDR;
	d->err = 0;
	d->hlen = 0;
	d->plen = 0;
	d->lent = NULL;
	d->dest = NULL;
	memset(&d->hdr, 0, sizeof d->hdr);
}

void gx_decoder_borrow(gx_decoder *d, int on)
{
	if (d)
		d->borrow = on != 0;
}

static int dec_fail(gx_decoder *d, int err)
{
	d->state = DEC_ERROR;
	d->err = err;
	return err;
}

/* Makes room for n payload bytes; n <= max_payload was checked by parse.
 * Grows by doubling (capped at max_payload) so a stream of slowly growing
 * frames does not reallocate on every frame. The old contents are dead, so
 * free + malloc rather than realloc, which would copy them. */
static int dec_reserve(gx_decoder *d, size_t n)
{
	if (n <= d->cap)
		return GX_OK;
	size_t ncap = d->cap * 2;
	if (ncap > d->lim.max_payload)
		ncap = d->lim.max_payload;
	if (ncap < n)
		ncap = n;
	free(d->buf);
	d->cap = 0;
	d->buf = malloc(ncap);
	if (!d->buf)
		return GX_ENOMEM;
	d->cap = ncap;
	return GX_OK;
}

/* The header (d->hdr) is in and valid: make room for its payload. */
static int dec_begin_body(gx_decoder *d)
{
	int rc = dec_reserve(d, d->hdr.payload_len);
	if (rc != GX_OK)
		return dec_fail(d, rc);
	d->hlen = GX_FRAME_HDR_SIZE;
	d->plen = 0;
	d->state = DEC_BODY;
	return 0;
}

/* The payload is complete: verify its checksum and publish the frame. */
static int dec_finish(gx_decoder *d, const uint8_t *payload)
{
	if (d->hdr.flags & GX_FF_CRC) {
		uint32_t c = gx_crc32c(0, payload, d->hdr.payload_len);
		if (c != d->hdr.payload_crc)
			return dec_fail(d, GX_ECRC);
	}
	d->state = DEC_READY;
	return 1;
}

int gx_decoder_feed(gx_decoder *d, const void *buf, size_t len, size_t *used)
{
	const uint8_t *p = buf;
	size_t pos = 0;
	int rc;

	if (used)
		*used = 0;
	if (!d || !used || (!buf && len))
		return GX_EINVAL;
	if (d->state == DEC_ERROR)
		return d->err;
	if (d->state == DEC_READY) {
		d->state = DEC_HDR;
		d->hlen = 0;
		d->plen = 0;
		d->lent = NULL;
		d->dest = NULL;
	}
	/* Borrowing, a frame that lies whole in the fed bytes is handed out
	 * where it lies, copied nowhere; one whose header is whole goes on to
	 * its payload without copying and parsing the header again. Anything
	 * else (a header that does not parse included: the path below says
	 * why) goes the usual way. */
	if (d->borrow && d->hlen == 0 && len >= GX_FRAME_HDR_SIZE &&
	    gx_frame_hdr_parse(p, &d->lim, &d->hdr) == GX_OK) {
		if (d->hdr.payload_len <= len - GX_FRAME_HDR_SIZE) {
			*used = GX_FRAME_HDR_SIZE + (size_t)d->hdr.payload_len;
			d->lent = p + GX_FRAME_HDR_SIZE;
			return dec_finish(d, d->lent);
		}
		pos = GX_FRAME_HDR_SIZE;
		if ((rc = dec_begin_body(d)) != 0) {
			*used = pos;
			return rc;
		}
	}
	while (pos < len) {
		if (d->state == DEC_HDR) {
			size_t n = GX_FRAME_HDR_SIZE - d->hlen;
			if (n > len - pos)
				n = len - pos;
			if (d->hlen < 4 && n > 4 - d->hlen)
				n = 4 - d->hlen; /* stop after the magic to check it */
			memcpy(d->hbuf + d->hlen, p + pos, n);
			d->hlen += n;
			pos += n;
			/* Say "bad magic" as soon as 4 bytes show it, so short
			 * garbage is not mistaken for a truncated frame. */
			if (d->hlen >= 4 && d->hlen - n < 4 &&
			    (d->hbuf[0] != 'G' || d->hbuf[1] != 'X' || d->hbuf[2] != 'F' || d->hbuf[3] != 'R')) {
				*used = pos;
				return dec_fail(d, GX_EMAGIC);
			}
			if (d->hlen < GX_FRAME_HDR_SIZE)
				continue;
			rc = gx_frame_hdr_parse(d->hbuf, &d->lim, &d->hdr);
			if (rc == GX_OK)
				rc = dec_begin_body(d);
			else
				rc = dec_fail(d, rc);
			if (rc) {
				*used = pos;
				return rc;
			}
		} else {
			size_t n = d->hdr.payload_len - d->plen;
			if (n > len - pos)
				n = len - pos;
			memcpy(body(d) + d->plen, p + pos, n);
			GX_PASS(GX_PASS_COPY, n);
			d->plen += n;
			pos += n;
		}
		if (d->state == DEC_BODY && d->plen == d->hdr.payload_len) {
			*used = pos;
			return dec_finish(d, body(d));
		}
	}
	*used = pos;
	return 0;
}

size_t gx_decoder_room(gx_decoder *d, uint8_t **dst)
{
	if (!d || d->state != DEC_BODY) {
		if (dst)
			*dst = NULL;
		return 0;
	}
	if (dst)
		*dst = body(d) + d->plen;
	return d->hdr.payload_len - d->plen;
}

const gx_frame_hdr *gx_decoder_header(const gx_decoder *d)
{
	return d && d->state == DEC_BODY ? &d->hdr : NULL;
}

int gx_decoder_place(gx_decoder *d, void *dst)
{
	if (!d || !dst || d->state != DEC_BODY || d->dest)
		return GX_EINVAL;
	memcpy(dst, d->buf, d->plen); /* what came with the header, if anything */
	GX_PASS(GX_PASS_COPY, d->plen);
	d->dest = dst;
	return 0;
}

int gx_decoder_commit(gx_decoder *d, size_t n)
{
	if (!d)
		return GX_EINVAL;
	if (d->state == DEC_ERROR)
		return d->err;
	if (d->state != DEC_BODY || n > d->hdr.payload_len - d->plen)
		return GX_EINVAL;
	d->plen += n;
	if (d->plen == d->hdr.payload_len)
		return dec_finish(d, body(d));
	return 0;
}

void gx_decoder_frame(const gx_decoder *d, gx_frame_hdr *h, const uint8_t **payload)
{
	/* Never NULL for a ready frame, even an empty one, so callers need
	 * not special-case payload_len == 0. */
	static const uint8_t empty[1];

	if (!d || d->state != DEC_READY) {
		if (h)
			memset(h, 0, sizeof *h);
		if (payload)
			*payload = NULL;
		return;
	}
	if (h)
		*h = d->hdr;
	if (payload)
		*payload = d->lent ? d->lent : d->dest ? d->dest : d->buf ? d->buf : empty;
}

int gx_decoder_pending(const gx_decoder *d)
{
	if (!d)
		return 0;
	return (d->state == DEC_HDR && d->hlen > 0) || d->state == DEC_BODY;
}

/* ------------------------------------------------------------- writer */

int gx_frame_write_fd(int fd, const gx_frame_hdr *h, const void *payload)
{
	uint8_t hdr[GX_FRAME_HDR_SIZE];
	struct iovec iov[2];
	int niov = 1;

	if (!h || (!payload && h->payload_len)) {
		errno = EINVAL;
		return GX_EINVAL;
	}
	gx_frame_hdr_pack(h, hdr);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof hdr;
	if (h->payload_len) {
		iov[1].iov_base = (void *)payload;
		iov[1].iov_len = h->payload_len;
		niov = 2;
	}
	return gx_writev_full(fd, iov, niov);
}
