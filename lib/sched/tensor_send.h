/*
 * sched/tensor_send.h — library-private: the one door through which every
 * tensor frame reaches the wire (a worker's push, a local server's push to
 * the global tier, the answers down, sparse aggregates). Whoever sends a
 * tensor says where it goes and what it is (gx_tensor_route) and hands over
 * the payload as the codec made it (gx_tensor_payload); gx_tensor_send fills
 * the frame's header — codec, count, type, key, block, round, sender,
 * sequence, priority, channel — and queues it, by reference when the payload
 * lives in a gx_buf. Priority scheduling and multi-channel transports act
 * here, in one place.
 */
#ifndef GX_TENSOR_SEND_H
#define GX_TENSOR_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../net/conn.h"
#include "gx_sched.h"

/* Where a tensor frame goes and what it is. */
typedef struct gx_tensor_route {
	int type;       /* GX_FT_INIT, _PUSH, _PULL_REPLY, ... (a data or protocol type) */
	uint32_t key;
	uint32_t block; /* slice of the key */
	uint32_t round;
	uint32_t sender;
	uint64_t seq;
	int priority;   /* 0 most urgent; clipped to 0..255 */
	int channel;    /* 0: the connection's reliable stream; 0..65535 */
} gx_tensor_route;

/* A tensor as its codec made it: the coding fields of h (codec, count,
 * payload_len, raw_len, flags, payload_crc), the payload bytes, and, when
 * the bytes may be sent by reference, the buffer that holds them (nobody
 * may change them until every connection wrote them). */
typedef struct gx_tensor_payload {
	gx_frame_hdr h;
	const void *bytes;
	gx_buf *buf;    /* NULL: the bytes are copied into the queue */
} gx_tensor_payload;

/* A dense float32 payload of n elements at x (inside buf, or buf NULL). */
void gx_tensor_payload_f32(gx_tensor_payload *p, const float *x, uint64_t n, gx_buf *buf);
/* A dense binary16 payload of n elements at x (2n bytes). */
void gx_tensor_payload_f16(gx_tensor_payload *p, const uint16_t *x, uint64_t n, gx_buf *buf);

/* Queues one tensor frame on c. 0, GX_EIO when c is NULL or closing,
 * GX_ETOOBIG when n does not fit a frame, or gx_conn_send's errors. */
int gx_tensor_send(gx_conn *c, const gx_tensor_route *r, const gx_tensor_payload *p);

#endif
