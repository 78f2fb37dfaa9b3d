/*
 * tensor_send.c — the one door for tensor frames (sched/tensor_send.h).
 */
#include <string.h>

#include "tensor_send.h"

static void payload_dense(gx_tensor_payload *p, int codec, size_t width, const void *x,
			  uint64_t n, gx_buf *buf)
{
	gx_frame_hdr_init(&p->h);
	p->h.codec = (uint8_t)codec;
	p->h.count = n;
	/* n * width may overflow payload_len: gx_tensor_send refuses that. */
	uint64_t len = n * width;
	p->h.payload_len = p->h.raw_len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	p->bytes = x;
	p->buf = buf;
}

void gx_tensor_payload_f32(gx_tensor_payload *p, const float *x, uint64_t n, gx_buf *buf)
{
	payload_dense(p, GX_CODEC_F32, 4, x, n, buf);
}

void gx_tensor_payload_f16(gx_tensor_payload *p, const uint16_t *x, uint64_t n, gx_buf *buf)
{
	payload_dense(p, GX_CODEC_F16, 2, x, n, buf);
}

int gx_tensor_send(gx_conn *c, const gx_tensor_route *r, const gx_tensor_payload *p)
{
	if (!c)
		return GX_EIO;
	if (r->type <= 0 || r->type >= GX_FT__MAX)
		return GX_EINVAL;
	if ((p->h.codec == GX_CODEC_F32 && p->h.count > UINT32_MAX / 4) ||
	    (p->h.codec == GX_CODEC_F16 && p->h.count > UINT32_MAX / 2))
		return GX_ETOOBIG;
	gx_frame_hdr h = p->h;
	h.type = (uint8_t)r->type;
	h.key = r->key;
	h.block = r->block;
	h.round = r->round;
	h.sender = r->sender;
	h.seq = r->seq;
	h.priority = (uint8_t)(r->priority < 0 ? 0 : r->priority > 255 ? 255 : r->priority);
	h.channel = (uint16_t)(r->channel < 0 ? 0 : r->channel > 65535 ? 65535 : r->channel);
	return gx_conn_send_buf(c, &h, p->buf, p->bytes);
}
