/*
 * ps_local_ckpt.c — a local server that starts again where a killed one
 * stopped (--checkpoint DIR, --resume; docs/protocol.md, "Checkpoints of
 * a local server"). Under full sync a local server holds no state of its
 * own that the others cannot give back: the values and the rounds settled
 * are the global tier's, and every worker sends again what it pushed and
 * was not answered. What nobody sends again is the key table (a worker
 * coming back after a broken link does not repeat it), so that is what the
 * file keeps, written once when the first worker's table arrives.
 *
 * Started with --resume, the server reads the file, and once its links to
 * the global tier are ready places the table again and sends an INIT of
 * every slice: each is answered with the global tier's value and (it names
 * its settled rounds) the round the slice is at; a key goes on from its
 * slices' earliest. Workers are accepted after that, each coming back
 * (HELLO mode 1) to a place whose rounds are its keys': a push sent again
 * of a round already settled is answered from the value, one of the round
 * being gathered is taken as new — the global tier takes what the killed
 * server had already sent up once.
 *
 * Under HFA sync a local server does hold state of its own: the value its
 * local rounds built since the last global round, and the base that round
 * gave; with a coded WAN its copy of the model, the error feedback and
 * (full sync) the optimizer that it applies; with an fp16 LAN the view its
 * workers hold. Each key (block) has its own
 * file then, "local-PARTY-key-KEY-BLOCK.gxck", replaced before any answer
 * that depends on it goes out (its INIT, each local round, each global
 * round), so a restart finds every key where its workers last saw it, and
 * their replays rebuild the round in flight — coded again from the same
 * error feedback, the same bytes the global tier may already have taken.
 *
 * The files, little-endian:
 *   table: "GXLK", version 1, party, workers, block, entries (u32);
 *          entries x (key u32, count u64); CRC-32C of all before.
 *   a key: "GXLS", version 2, key, block (u32); count, rounds (u64);
 *          parts, optimizer bytes (u32); value, then as parts says (LS_*)
 *          base, residual, velocity, view (count float32 each, residual
 *          and velocity in slice order); the optimizer's state; CRC-32C of
 *          all before.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/le.h"
#include "ps_local.h"

#define LK_MAGIC "GXLK"
#define LK_VERSION 1u
#define LK_HEAD 24
#define LK_ENTRY 12
#define LK_MAX (LK_HEAD + (size_t)GX_KEYTABLE_MAX * LK_ENTRY + 4)

static int path_of(const gx_ps *ps, char *path, size_t cap)
{
	if (snprintf(path, cap, "%s/local-%u.gxck", ps->o.checkpoint, ps->o.party) >= (int)cap) {
		errno = ENAMETOOLONG;
		return GX_EIO;
	}
	return 0;
}

int ps_local_ckpt_write(gx_ps *ps)
{
	const ps_local_state *ls = ps->loc;
	char path[4096];
	if (path_of(ps, path, sizeof path))
		return GX_EIO;
	size_t len = LK_HEAD + ls->ntable * LK_ENTRY + 4;
	uint8_t *b = malloc(len), *p = b;
	if (!b)
		return GX_ENOMEM;
	memcpy(p, LK_MAGIC, 4);
	put32(p + 4, LK_VERSION);
	put32(p + 8, ps->o.party);
	put32(p + 12, (uint32_t)ps->n);
	put32(p + 16, ls->block);
	put32(p + 20, (uint32_t)ls->ntable);
	p += LK_HEAD;
	for (size_t i = 0; i < ls->ntable; i++, p += LK_ENTRY) {
		put32(p, ls->table[i].key);
		put64(p + 4, ls->table[i].count);
	}
	put32(p, gx_crc32c(0, b, len - 4));
	int r = gx_file_replace(path, b, len);
	free(b);
	return r;
}

int ps_local_ckpt_parse(const uint8_t *b, size_t len, uint32_t party, uint32_t workers,
			ps_lckpt *c, char *why, size_t cap)
{
	memset(c, 0, sizeof *c);
	uint32_t n = len >= LK_HEAD ? get32(b + 20) : 0;
	if (len < LK_HEAD + 4 || memcmp(b, LK_MAGIC, 4) != 0)
		snprintf(why, cap, "not a local server's checkpoint");
	else if (get32(b + 4) != LK_VERSION)
		snprintf(why, cap, "version %u (this server reads %u)", get32(b + 4), LK_VERSION);
	else if (n > GX_KEYTABLE_MAX || len != LK_HEAD + (size_t)n * LK_ENTRY + 4)
		snprintf(why, cap, "%zu bytes, where %u keys make %zu", len, n,
			 LK_HEAD + (size_t)n * LK_ENTRY + 4);
	else if (get32(b + len - 4) != gx_crc32c(0, b, len - 4))
		snprintf(why, cap, "checksum mismatch");
	else if (get32(b + 8) != party || get32(b + 12) != workers)
		snprintf(why, cap, "written by party %u with %u workers, not party %u with %u",
			 get32(b + 8), get32(b + 12), party, workers);
	else {
		c->block = get32(b + 16);
		c->n = n;
		c->entries = b + LK_HEAD;
		return 0;
	}
	return GX_EFORMAT;
}

void ps_lckpt_entry(const ps_lckpt *c, uint32_t i, gx_keyent *e)
{
	e->key = get32(c->entries + (size_t)i * LK_ENTRY);
	e->count = get64(c->entries + (size_t)i * LK_ENTRY + 4);
}

int ps_local_ckpt_read(gx_ps *ps)
{
	ps_local_state *ls = ps->loc;
	char path[4096], why[160] = "";
	uint8_t *b = NULL;
	if (path_of(ps, path, sizeof path))
		return GX_EIO;
	long len = gx_file_read(path, &b, LK_MAX);
	if (len < 0) {
		ps_log(ps, GX_LOG_ERROR, "--resume: cannot read %s: %s", path,
		       len == GX_EIO ? strerror(errno) : gx_strerror((int)len));
		return GX_EIO;
	}
	ps_lckpt c;
	int r = ps_local_ckpt_parse(b, (size_t)len, ps->o.party, (uint32_t)ps->n, &c, why,
				    sizeof why);
	gx_keyent *e = r ? NULL : calloc(c.n ? c.n : 1, sizeof *e);
	if (r)
		ps_log(ps, GX_LOG_ERROR, "--resume: %s: %s", path, why);
	else if (!e)
		r = GX_ENOMEM;
	for (uint32_t i = 0; e && i < c.n; i++)
		ps_lckpt_entry(&c, i, &e[i]);
	if (e) {
		ls->resume_block = c.block;
		ls->table = e;
		ls->ntable = c.n;
	}
	free(b);
	return r;
}

#define LS_MAGIC "GXLS"
#define LS_VERSION 2u
#define LS_HEAD 40
enum { LS_BASE = 1, LS_RESIDUAL = 2, LS_VELOCITY = 4, LS_VIEW = 8 };

static int key_path(const gx_ps *ps, const ps_lkey *k, char *path, size_t cap)
{
	if (snprintf(path, cap, "%s/local-%u-key-%u-%u.gxck", ps->o.checkpoint, ps->o.party,
		     k->key, k->block) >= (int)cap) {
		errno = ENAMETOOLONG;
		return GX_EIO;
	}
	return 0;
}

/* What k keeps besides its value (LS_* bits) and its optimizer's state
 * bytes: the layout of its file, the same for writer and reader. */
static uint32_t key_parts(const ps_lkey *k, size_t *opt_len)
{
	uint32_t parts = (k->base ? LS_BASE : 0) | (k->view ? LS_VIEW : 0);
	if (k->ef)
		parts |= LS_RESIDUAL | (gx_ef_velocity(k->ef[0]) ? LS_VELOCITY : 0);
	*opt_len = k->opt ? gx_optim_state_size(k->opt) : 0;
	return parts;
}

static size_t key_len(const ps_lkey *k, uint32_t parts, size_t opt_len)
{
	size_t vb = (size_t)k->count * 4, n = 1 + !!(parts & LS_BASE) + !!(parts & LS_RESIDUAL) +
					     !!(parts & LS_VELOCITY) + !!(parts & LS_VIEW);
	return LS_HEAD + n * vb + opt_len + 4;
}

/* Copies the slices' error-feedback arrays (velocity: 1) to or from b, in
 * slice order: together they are the key's count floats. */
static void ef_copy(const ps_lkey *k, int velocity, uint8_t *b, int out)
{
	for (int i = 0; i < k->nsl; i++) {
		float *x = velocity ? gx_ef_velocity(k->ef[i]) : gx_ef_residual(k->ef[i]);
		size_t n = (size_t)k->sl[i].count * 4;
		if (out)
			memcpy(b, x, n);
		else
			memcpy(x, b, n);
		b += n;
	}
}

int ps_local_key_write(gx_ps *ps, const ps_lkey *k)
{
	char path[4096];
	if (key_path(ps, k, path, sizeof path))
		return GX_EIO;
	size_t opt_len, vb = (size_t)k->count * 4;
	uint32_t parts = key_parts(k, &opt_len);
	size_t len = key_len(k, parts, opt_len);
	uint8_t *b = malloc(len), *p = b + LS_HEAD;
	if (!b)
		return GX_ENOMEM;
	memcpy(b, LS_MAGIC, 4);
	put32(b + 4, LS_VERSION);
	put32(b + 8, k->key);
	put32(b + 12, k->block);
	put64(b + 16, k->count);
	put64(b + 24, k->rounds);
	put32(b + 32, parts);
	put32(b + 36, (uint32_t)opt_len);
	memcpy(p, k->value, vb);
	p += vb;
	if (parts & LS_BASE) {
		memcpy(p, k->base, vb);
		p += vb;
	}
	if (parts & LS_RESIDUAL) {
		ef_copy(k, 0, p, 1);
		p += vb;
	}
	if (parts & LS_VELOCITY) {
		ef_copy(k, 1, p, 1);
		p += vb;
	}
	if (parts & LS_VIEW) {
		memcpy(p, k->view, vb);
		p += vb;
	}
	int r = opt_len ? gx_optim_state_save(k->opt, p, opt_len) : 0;
	put32(b + len - 4, gx_crc32c(0, b, len - 4));
	if (!r)
		r = gx_file_replace(path, b, len);
	free(b);
	return r;
}

/* HFA or a coded WAN: k's value, rounds and the state the server keeps
 * (base, error feedback, optimizer) from its file; 0 or a gx_error after a
 * log line. */
static int key_read(gx_ps *ps, ps_lkey *k)
{
	char path[4096];
	uint8_t *b = NULL;
	if (key_path(ps, k, path, sizeof path))
		return GX_EIO;
	size_t vb = (size_t)k->count * 4;
	k->value = malloc(vb ? vb : 1);
	if (!k->value)
		return GX_ENOMEM;
	memset(k->value, 0, vb);
	/* the state's shape from the options, as the INIT's answer makes it */
	int r = ps_local_key_modes(ps, k);
	if (r)
		return r;
	size_t opt_len;
	uint32_t parts = key_parts(k, &opt_len);
	size_t want = key_len(k, parts, opt_len);
	long len = gx_file_read(path, &b, want);
	const char *why = len < 0 ? (len == GX_EIO ? strerror(errno) : gx_strerror((int)len))
		: (size_t)len < LS_HEAD + 4 || memcmp(b, LS_MAGIC, 4) != 0 ? "not a key's checkpoint"
		: get32(b + 4) != LS_VERSION ? "another version of the file"
		: get32(b + len - 4) != gx_crc32c(0, b, (size_t)len - 4) ? "checksum mismatch"
		: get32(b + 8) != k->key || get32(b + 12) != k->block || get64(b + 16) != k->count ?
		"another key's"
		: get32(b + 32) != parts || get32(b + 36) != opt_len || (size_t)len != want ?
		"written with other settings (sync, WAN codec, --ef-momentum or optimizer)" : NULL;
	if (why) {
		ps_log(ps, GX_LOG_ERROR, "--resume: %s: %s", path, why);
		free(b);
		return GX_EFORMAT;
	}
	const uint8_t *p = b + LS_HEAD;
	k->rounds = get64(b + 24);
	memcpy(k->value, p, vb);
	p += vb;
	if (parts & LS_BASE) {
		memcpy(k->base, p, vb);
		p += vb;
	}
	if (parts & LS_RESIDUAL) {
		ef_copy(k, 0, (uint8_t *)p, 0);
		p += vb;
	}
	if (parts & LS_VELOCITY) {
		ef_copy(k, 1, (uint8_t *)p, 0);
		p += vb;
	}
	if (parts & LS_VIEW) {
		memcpy(k->view, p, vb);
		p += vb;
	}
	r = opt_len ? gx_optim_state_load(k->opt, p, opt_len) : 0;
	if (r)
		ps_log(ps, GX_LOG_ERROR, "--resume: %s: the optimizer's state: %s", path,
		       gx_strerror(r));
	else
		k->init = 2;
	free(b);
	return r;
}

/* Every key is back: its rounds said, and the workers accepted again. */
static void resumed(gx_ps *ps)
{
	ps_local_state *ls = ps->loc;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < ls->nkeys; i++) {
		lo = ls->keys[i].rounds < lo ? ls->keys[i].rounds : lo;
		hi = ls->keys[i].rounds > hi ? ls->keys[i].rounds : hi;
	}
	ls->resumed = 1;
	char at[64];
	if (lo == hi)
		snprintf(at, sizeof at, "round %llu", (unsigned long long)lo);
	else
		snprintf(at, sizeof at, "rounds %llu to %llu", (unsigned long long)lo,
			 (unsigned long long)hi);
	ps_log(ps, GX_LOG_WARN, "resumed at %s; accepting the workers back on port %d", at,
	       ps->port);
	ps_start_accepting(ps);
}

int ps_local_restore(gx_ps *ps)
{
	ps_local_state *ls = ps->loc;
	if (ls->up_cfg.block != ls->resume_block) {
		ps_finish(ps, GX_EFORMAT, NULL, "--resume: the checkpoint's blocks are of %u "
			  "elements, the global tier's of %u", ls->resume_block, ls->up_cfg.block);
		return GX_EFORMAT;
	}
	int r = ps_local_build_keys(ps, ls->table, ls->ntable);
	if (r) {
		ps_finish(ps, r, NULL, "--resume: cannot place the key table: %s", gx_strerror(r));
		return r;
	}
	if (ps_local_own_state(ps)) {
		/* its own state: the files, not the global tier */
		for (size_t i = 0; i < ls->nkeys; i++)
			if ((r = key_read(ps, &ls->keys[i])) != 0) {
				ps_finish(ps, r, NULL, "cannot resume from %s", ps->o.checkpoint);
				return r;
			}
		ps_log(ps, GX_LOG_WARN, "resuming: %zu key%s and their %s state from %s",
		       ls->ntable, ls->ntable == 1 ? "" : "s",
		       ls->agg ? "values, error feedback and optimizer" :
		       ls->up_sync == GX_SYNC_HFA ? "HFA" : "values and views", ps->o.checkpoint);
		resumed(ps);
		return 0;
	}
	ls->restoring = (int)ls->nkeys; /* keys whose INIT is not answered */
	for (size_t i = 0; i < ls->nkeys; i++) {
		ps_lkey *k = &ls->keys[i];
		k->value = calloc((size_t)k->count, sizeof(float)); /* the global keeps its own */
		k->init_got = calloc((size_t)k->nsl, 1);
		if (!k->value || !k->init_got) {
			ps_finish(ps, GX_ENOMEM, NULL, "out of memory for key %u", k->key);
			return GX_ENOMEM;
		}
		k->init = 1;
		k->init_left = k->nsl;
		k->rounds = UINT64_MAX; /* the smallest of its slices', as they answer */
		for (int b = 0; b < k->nsl; b++)
			ps_local_init_slice(ps, k, b);
	}
	ps_log(ps, GX_LOG_WARN, "resuming: %zu key%s from %s, their values and rounds asked of "
	       "the global tier", ls->ntable, ls->ntable == 1 ? "" : "s", ps->o.checkpoint);
	return 0;
}


void ps_local_restored_key(gx_ps *ps)
{
	if (--ps->loc->restoring == 0)
		resumed(ps);
}

int ps_local_back(gx_ps *ps, ps_peer *p, uint32_t rank)
{
	ps_local_state *ls = ps->loc;
	p->next_round = calloc(ls->nkeys ? ls->nkeys : 1, sizeof *p->next_round);
	p->did_init = malloc(ls->nkeys ? ls->nkeys : 1);
	if (!p->next_round || !p->did_init) {
		ps_finish(ps, GX_ENOMEM, NULL, "out of memory");
		return GX_ENOMEM;
	}
	for (size_t i = 0; i < ls->nkeys; i++)
		p->next_round[i] = (uint32_t)ls->keys[i].rounds;
	memset(p->did_init, 1, ls->nkeys);
	p->has_table = 1;
	p->rejoined = 1; /* what it sends again is taken once */
	char label[112];
	snprintf(label, sizeof label, "worker %u (%s)", rank, p->addr);
	ps_admit(ps, p, (int)rank, label);
	ps_log(ps, GX_LOG_WARN, "%s is back after the restart", p->label);
	return 0;
}
