/*
 * dgt_msg.c — the payloads of DGT's rounds between a local and the global
 * tier (wire/control.h: DGT_PUSH, DGT_ACK; docs/protocol.md). Like the
 * other control payloads: every length checked exactly, every count
 * against the bytes present before it is used.
 */
#include <string.h>

#include "../base/gx_base.h"
#include "../base/le.h"
#include "control.h"

uint32_t gx_dgt_block_len(uint64_t count, uint32_t block, uint32_t b)
{
	uint64_t at = (uint64_t)b * block;
	if (!block || at >= count)
		return 0;
	return count - at < block ? (uint32_t)(count - at) : block;
}

size_t gx_dgt_push_size(const gx_dgt_push *m, uint64_t elems)
{
	return GX_DGT_MSG_HEAD + 4 * (size_t)m->nrel + (size_t)elems * gx_wire_elem_size(m->codec);
}

long gx_dgt_push_pack_head(const gx_dgt_push *m, const uint32_t *idx, uint8_t *out, size_t cap)
{
	size_t n = GX_DGT_MSG_HEAD + 4 * (size_t)m->nrel;
	if (!m || !out || (m->nrel && !idx) || cap < n || !gx_wire_elem_size(m->codec))
		return GX_EINVAL;
	out[0] = m->codec;
	out[1] = m->channels;
	put16(out + 2, 0);
	put32(out + 4, m->block);
	put32(out + 8, m->nblocks);
	put32(out + 12, m->lossy);
	put64(out + 16, m->rate);
	put32(out + 24, m->nrel);
	put32(out + 28, m->ahead);
	for (uint32_t i = 0; i < m->nrel; i++)
		put32(out + GX_DGT_MSG_HEAD + 4 * (size_t)i, idx[i]);
	return (long)n;
}

int gx_dgt_push_parse(const uint8_t *p, size_t len, uint64_t count, gx_dgt_push *m)
{
	if (!p || !m || len < GX_DGT_MSG_HEAD || !count)
		return GX_EPROTO;
	gx_dgt_push x;
	memset(&x, 0, sizeof x);
	x.codec = p[0];
	x.channels = p[1];
	x.block = get32(p + 4);
	x.nblocks = get32(p + 8);
	x.lossy = get32(p + 12);
	x.rate = get64(p + 16);
	x.nrel = get32(p + 24);
	x.ahead = get32(p + 28);
	size_t es = gx_wire_elem_size(x.codec);
	if (!es || x.channels < 1 || x.channels > GX_DGT_CHANNELS_MAX || get16(p + 2) ||
	    x.block < 1 || x.block > 65535 ||
	    x.nblocks != (count + x.block - 1) / x.block || x.nrel > x.nblocks ||
	    x.lossy > x.nblocks - x.nrel || x.nrel + x.lossy < 1)
		return GX_EPROTO;
	/* the indices are all there before one is read */
	if ((len - GX_DGT_MSG_HEAD) / 4 < x.nrel)
		return GX_EPROTO;
	const uint8_t *ix = p + GX_DGT_MSG_HEAD;
	uint64_t elems = 0;
	for (uint32_t i = 0; i < x.nrel; i++) {
		uint32_t b = get32(ix + 4 * (size_t)i);
		if (b >= x.nblocks || (i && b <= get32(ix + 4 * (size_t)(i - 1))))
			return GX_EPROTO;
		elems += gx_dgt_block_len(count, x.block, b);
	}
	size_t head = GX_DGT_MSG_HEAD + 4 * (size_t)x.nrel;
	if (len - head != elems * es)
		return GX_EPROTO;
	x.index = ix;
	x.values = p + head;
	*m = x;
	return 0;
}

long gx_dgt_ack_pack(uint32_t nblocks, uint32_t late, const uint8_t *bits, uint8_t *out,
		     size_t cap)
{
	size_t nb = ((size_t)nblocks + 7) / 8, n = 8 + nb;
	if (!out || !bits || !nblocks || cap < n)
		return GX_EINVAL;
	put32(out, nblocks);
	put32(out + 4, late);
	memcpy(out + 8, bits, nb);
	if (nblocks % 8)
		out[8 + nb - 1] &= (uint8_t)((1u << (nblocks % 8)) - 1);
	return (long)n;
}

int gx_dgt_ack_parse(const uint8_t *p, size_t len, uint32_t nblocks, uint32_t *late,
		     const uint8_t **bits)
{
	if (!p || !nblocks || len < 8 || get32(p) != nblocks || len != 8 + ((size_t)nblocks + 7) / 8)
		return GX_EPROTO;
	if (nblocks % 8 && (p[len - 1] >> (nblocks % 8)))
		return GX_EPROTO;
	if (late)
		*late = get32(p + 4);
	if (bits)
		*bits = p + 8;
	return 0;
}
