/*
 * ps_global_ckpt.c — the global server's checkpoints (--checkpoint DIR,
 * --checkpoint-every N, --resume; docs/protocol.md, "Checkpoints").
 *
 * One file per slice, "slice-KEY-BLOCK.gxck", replaced atomically
 * (gx_atomic_*): the slices are independent state machines (each has its
 * own rounds), so a slice's file is consistent on its own and the
 * directory needs no common snapshot. Written before the round it records
 * is answered, a file is never behind what any party has seen: after a
 * crash the parties send again exactly what it lacks (the replay of
 * ps_local_replay), and the job goes on bit for bit.
 *
 * The file, little-endian:
 *   "GXCK", version 2, key, block (u32); count (u64); parties (u32);
 *   rounds, updates (u64); next_round[parties] (u32); seen[parties] (u64);
 *   the optimizer's state length, the aggregate's length (u64); the value
 *   (count float32); the optimizer's state (gx_optim_state_save); the
 *   aggregate; CRC-32C of all before (u32).
 * The aggregate (a coded WAN: the last round's, as it was sent, which a
 * party may ask for again) is its round, the frame's coding fields —
 * flags, codec, payload_len, raw_len, payload_crc (u32), count (u64) —
 * and its payload_len bytes; length 0: none.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/le.h"
#include "ps_global.h"

#define CK_MAGIC "GXCK"
#define CK_VERSION 2u
#define CK_HEAD 44 /* magic .. updates */
#define CK_AGG_HEAD 32 /* round .. count of the aggregate */

/* The file's size for a slice of count elements, n parties, an optimizer
 * state of ol bytes and an aggregate of al; 0 when it would not fit a
 * size_t. */
static size_t file_size(uint64_t count, int n, uint64_t ol, uint64_t al)
{
	if (count > SIZE_MAX / 8 || ol > SIZE_MAX / 4 || al > SIZE_MAX / 4 ||
	    ol + al > SIZE_MAX / 4)
		return 0;
	return CK_HEAD + (size_t)n * 12 + 16 + (size_t)count * 4 + (size_t)ol + (size_t)al + 4;
}

int ps_ckpt_write(gx_ps *ps, const ps_gslice *s)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s/slice-%u-%u.gxck", ps->o.checkpoint, s->key,
		     s->block) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return GX_EIO;
	}
	uint64_t ol = s->opt ? gx_optim_state_size(s->opt) : 0;
	const gx_tensor_payload *a = &s->agg;
	uint64_t al = a->buf ? CK_AGG_HEAD + (uint64_t)a->h.payload_len : 0;
	size_t len = file_size(s->count, ps->n, ol, al);
	uint8_t *b = len ? malloc(len) : NULL;
	if (!b)
		return GX_ENOMEM;
	uint8_t *p = b;
	memcpy(p, CK_MAGIC, 4);
	p += 4;
	put32(p, CK_VERSION), p += 4;
	put32(p, s->key), p += 4;
	put32(p, s->block), p += 4;
	put64(p, s->count), p += 8;
	put32(p, (uint32_t)ps->n), p += 4;
	put64(p, s->rounds), p += 8;
	put64(p, s->updates), p += 8;
	for (int i = 0; i < ps->n; i++)
		put32(p, s->next_round[i]), p += 4;
	for (int i = 0; i < ps->n; i++)
		put64(p, s->seen[i]), p += 8;
	put64(p, ol), p += 8;
	put64(p, al), p += 8;
	memcpy(p, s->w, (size_t)s->count * 4);
	p += (size_t)s->count * 4;
	if (ol)
		gx_optim_state_save(s->opt, p, (size_t)ol);
	p += ol;
	if (al) {
		put32(p, s->agg_round);
		put32(p + 4, a->h.flags);
		put32(p + 8, a->h.codec);
		put32(p + 12, a->h.payload_len);
		put32(p + 16, a->h.raw_len);
		put32(p + 20, a->h.payload_crc);
		put64(p + 24, a->h.count);
		memcpy(p + CK_AGG_HEAD, a->bytes, a->h.payload_len);
		p += al;
	}
	put32(p, gx_crc32c(0, b, len - 4));
	int r = gx_file_replace(path, b, len);
	free(b);
	return r;
}

int ps_ckpt_write_all(gx_ps *ps)
{
	const ps_global_state *g = ps->glob;
	int first = 0;
	for (size_t i = 0; i < g->map_cap; i++) {
		if (!g->map[i])
			continue;
		int r = ps_ckpt_write(ps, g->map[i]);
		if (r && !first) {
			ps_log(ps, GX_LOG_ERROR, "%s: cannot write key %u block %u: %s",
			       ps->o.checkpoint, g->map[i]->key, g->map[i]->block,
			       r == GX_EIO ? strerror(errno) : gx_strerror(r));
			first = r;
		}
	}
	return first;
}

int ps_ckpt_parse(const uint8_t *b, size_t len, uint32_t parties, ps_ckpt *c, char *why,
		  size_t cap)
{
	memset(c, 0, sizeof *c);
	if (len < CK_HEAD + 4 || memcmp(b, CK_MAGIC, 4) != 0) {
		snprintf(why, cap, "not a geomx checkpoint");
		return GX_EFORMAT;
	}
	uint32_t ver = get32(b + 4);
	c->key = get32(b + 8);
	c->block = get32(b + 12);
	c->count = get64(b + 16);
	uint32_t n = get32(b + 24);
	c->rounds = get64(b + 28);
	c->updates = get64(b + 36);
	if (ver != CK_VERSION) {
		snprintf(why, cap, "checkpoint version %u (this server reads %u)", ver, CK_VERSION);
		return GX_EFORMAT;
	}
	if (n != parties) {
		snprintf(why, cap, "written for %u parties, this server has %u", n, parties);
		return GX_EINVAL;
	}
	if ((len - CK_HEAD - 4) / 12 < n || len - CK_HEAD - 4 - (size_t)n * 12 < 16 ||
	    c->count == 0) {
		snprintf(why, cap, "truncated");
		return GX_ETRUNC;
	}
	const uint8_t *q = b + CK_HEAD + (size_t)n * 12;
	uint64_t ol = get64(q), al = get64(q + 8);
	q += 16;
	size_t want = file_size(c->count, (int)n, ol, al);
	if (want != len) {
		snprintf(why, cap, "%zu bytes, its header says %zu", len, want);
		return GX_ETRUNC;
	}
	if (get32(b + len - 4) != gx_crc32c(0, b, len - 4)) {
		snprintf(why, cap, "checksum mismatch");
		return GX_ECRC;
	}
	c->parties = n;
	c->next_round = b + CK_HEAD;
	c->seen = c->next_round + (size_t)n * 4;
	c->w = q;
	c->opt = q + (size_t)c->count * 4;
	c->opt_len = (size_t)ol;
	if (al) {
		const uint8_t *g = c->opt + ol;
		if (al < CK_AGG_HEAD || al - CK_AGG_HEAD != get32(g + 12) ||
		    get64(g + 24) != c->count) {
			snprintf(why, cap, "its aggregate's lengths disagree");
			return GX_EFORMAT;
		}
		c->agg = g;
		c->agg_bytes = g + CK_AGG_HEAD;
	}
	return 0;
}

void ps_ckpt_agg(const ps_ckpt *c, uint32_t *round, gx_frame_hdr *h)
{
	const uint8_t *g = c->agg;
	gx_frame_hdr_init(h);
	*round = get32(g);
	h->flags = (uint16_t)get32(g + 4);
	h->codec = (uint8_t)get32(g + 8);
	h->payload_len = get32(g + 12);
	h->raw_len = get32(g + 16);
	h->payload_crc = get32(g + 20);
	h->count = get64(g + 24);
}

uint32_t ps_ckpt_next_round(const ps_ckpt *c, uint32_t i)
{
	return get32(c->next_round + (size_t)i * 4);
}

uint64_t ps_ckpt_seen(const ps_ckpt *c, uint32_t i)
{
	return get64(c->seen + (size_t)i * 8);
}

/* The slice a file holds, checked and in the map; 0 or a gx_error with
 * why. */
static int load(gx_ps *ps, const uint8_t *b, size_t len, char *why, size_t cap)
{
	ps_ckpt c;
	int r = ps_ckpt_parse(b, len, (uint32_t)ps->n, &c, why, cap);
	if (r)
		return r;
	if (map_get(ps->glob, c.key, c.block)) {
		snprintf(why, cap, "key %u block %u twice", c.key, c.block);
		return GX_EFORMAT;
	}
	ps_gslice *s = slice_new(ps, c.key, c.block, c.count, c.opt_len != 0, &r);
	if (!s) {
		snprintf(why, cap, "%s", r == GX_ENOMEM ? "out of memory" :
			 "the optimizer options differ from the checkpoint's");
		return r;
	}
	s->rounds = c.rounds;
	s->updates = c.updates;
	for (uint32_t i = 0; i < c.parties; i++) {
		s->next_round[i] = ps_ckpt_next_round(&c, i);
		s->seen[i] = ps_ckpt_seen(&c, i);
	}
	memcpy(s->w, c.w, (size_t)c.count * 4);
	if (c.agg) {
		gx_tensor_payload *a = &s->agg;
		ps_ckpt_agg(&c, &s->agg_round, &a->h);
		a->buf = gx_buf_new(a->h.payload_len ? a->h.payload_len : 1);
		if (!a->buf) {
			snprintf(why, cap, "out of memory");
			slice_free(s);
			return GX_ENOMEM;
		}
		memcpy(a->buf->data, c.agg_bytes, a->h.payload_len);
		a->bytes = a->buf->data;
	}
	if ((c.opt_len && (r = gx_optim_state_load(s->opt, c.opt, c.opt_len)) != 0) ||
	    (!c.opt_len && s->opt)) {
		snprintf(why, cap, "its optimizer state does not fit this server's optimizer");
		slice_free(s);
		return r ? r : GX_EINVAL;
	}
	if ((r = map_put(ps->glob, s)) != 0) {
		snprintf(why, cap, "out of memory");
		slice_free(s);
	}
	return r;
}

long ps_ckpt_resume(gx_ps *ps)
{
	const char *dir = ps->o.checkpoint;
	DIR *d = opendir(dir);
	if (!d) {
		ps_log(ps, GX_LOG_ERROR, "--resume: cannot read %s: %s", dir, strerror(errno));
		return GX_EIO;
	}
	long n = 0;
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(d)) != NULL) {
		unsigned k, bl;
		char want[64];
		if (sscanf(e->d_name, "slice-%u-%u.gxck", &k, &bl) != 2)
			continue;
		snprintf(want, sizeof want, "slice-%u-%u.gxck", k, bl);
		if (strcmp(want, e->d_name) != 0) /* a temporary, say */
			continue;
		char path[4096], why[200];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		uint8_t *b;
		long len = gx_file_read(path, &b, SIZE_MAX - 1);
		if (len < 0) {
			ps_log(ps, GX_LOG_ERROR, "--resume: cannot read %s: %s", path,
			       len == GX_EIO ? strerror(errno) : gx_strerror((int)len));
			rc = GX_EIO;
		} else if ((rc = load(ps, b, (size_t)len, why, sizeof why)) != 0) {
			ps_log(ps, GX_LOG_ERROR, "--resume: %s: %s", path, why);
		} else {
			n++;
		}
		free(b);
	}
	closedir(d);
	return rc ? rc : n;
}
