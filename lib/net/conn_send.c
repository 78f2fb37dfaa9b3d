/*
 * conn_send.c — sending the parameter-server protocol's control frames on a
 * framed connection: the one place where a control payload of
 * wire/control.h meets a gx_conn. (Tensor frames go through the one door,
 * sched/tensor_send.h.)
 */
#include <stdarg.h>
#include <stdio.h>

#include "../wire/control.h"
#include "conn.h"

int gx_send_ctl(gx_conn *c, int type, uint32_t key, uint32_t round, const void *payload, uint32_t len)
{
	gx_frame_hdr h;
	gx_frame_hdr_init(&h);
	h.type = (uint8_t)type;
	if (type <= 0 || type >= GX_FT__MAX)
		return GX_EINVAL;
	h.key = key;
	h.round = round;
	h.codec = GX_CODEC_NONE;
	h.payload_len = len;
	h.raw_len = len;
	return gx_conn_send(c, &h, payload);
}

void gx_send_error(gx_conn *c, int code, const char *fmt, ...)
{
	char msg[GX_ERROR_MSG_MAX + 1];
	uint8_t buf[8 + GX_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = gx_errmsg_pack(code, msg, buf, sizeof buf);
	gx_send_ctl(c, GX_FT_ERROR, 0, 0, buf, (uint32_t)n);
	gx_conn_close(c, 1, msg);
}
