/*
 * wan.c — geomx-relay's WAN stage: what a direction does to the bytes
 * between reading its source and queueing them for its destination.
 *
 *   source ──> open secure records ──> undo zstd ──> plaintext stream
 *   plaintext stream ──> zstd ──> seal secure records ──> queue
 *
 * (each step only where that side is secure or is the WAN side of a relay
 * with --zstd). The secure stream is what lib/net/conn.c speaks for a geomx
 * program with --key: the handshake of secure.h, then the byte stream cut
 * into DATA records, a CLOSE record at the orderly end. zstd is one
 * streaming frame per direction and connection, flushed after every batch
 * of reads (ZSTD_e_flush) so a small message is never held back waiting for
 * more, ended (ZSTD_e_end) at the orderly end so the peer can tell a
 * complete stream from a cut one.
 *
 * Memory stays bounded: input is passed on only while the queue has room,
 * and a step never makes more than one record's worth of output, so a
 * small compressed input that expands enormously waits in its buffer
 * rather than in memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "relay.h"

/* Decompression windows above this are refused (memory per connection). */
#define WAN_WINDOW_LOG 23
/* The compressor's window: zstd's default at low levels, capped higher. */
#define WAN_CWINDOW_LOG 20

static const uint8_t zmagic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
static const uint8_t gxmagic[4] = { 'G', 'X', 'F', 'R' };

static dir *toward(pair *p, const side *s)
{
	return &p->d[s->idx == NEAR ? DOWN : UP];
}

static dir *from(pair *p, const side *s)
{
	return &p->d[s->idx == NEAR ? UP : DOWN];
}

int wan_dir_init(dir *d)
{
	const relay_cfg *c = &d->p->r->cfg;
	if (!c->zstd)
		return 0;
	if (d->src->idx == c->wan && !d->dz) {
		d->dz = ZSTD_createDCtx();
		if (!d->dz)
			return GX_ENOMEM;
		ZSTD_DCtx_setParameter(d->dz, ZSTD_d_windowLogMax, WAN_WINDOW_LOG);
	}
	if (d->dst->idx == c->wan && !d->cz) {
		d->cz = ZSTD_createCCtx();
		if (!d->cz)
			return GX_ENOMEM;
		ZSTD_CCtx_setParameter(d->cz, ZSTD_c_compressionLevel, c->zstd_level);
		ZSTD_CCtx_setParameter(d->cz, ZSTD_c_windowLog, WAN_CWINDOW_LOG);
	}
	return 0;
}

void wan_dir_free(dir *d)
{
	ZSTD_freeDCtx(d->dz);
	ZSTD_freeCCtx(d->cz);
	d->dz = NULL;
	d->cz = NULL;
	free(d->in);
	d->in = NULL;
}

int wan_buffered(const dir *d)
{
	return d->pl_len || d->dz_more || (d->in && d->in_off < d->in_len);
}

/* ------------------------------------------------------------ handshake */

int wan_hs_start(pair *p, side *s)
{
	relay *r = p->r;
	/* the far side dials as the near side's peer proved to be (relay_ring) */
	const gx_key *near = p->s[NEAR].sec ? gx_sec_peer_key(p->s[NEAR].sec) : NULL;
	s->sec = s->idx == NEAR ? gx_sec_new_ring(r->ring, 0)
				: gx_sec_new(near ? near : &r->cfg.key, GX_SEC_CLIENT, 0);
	if (!s->sec)
		return pair_abort(p, GX_ENOMEM, "cannot start a secure handshake (out of memory)");
	uint8_t out[GX_SEC_HELLO_BYTES];
	int n = gx_sec_start(s->sec, out, sizeof out);
	if (n < 0)
		return pair_abort(p, n, "cannot start a secure handshake: %s", gx_strerror(n));
	s->hs_len = 0;
	/* A server reads msg1 and the confirmation, a client msg2: never more,
	 * so the records behind them stay in the socket for later. */
	s->hs_need = s->idx == NEAR ? GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD : GX_SEC_HELLO_BYTES;
	if (n > 0)
		return dir_queue(toward(p, s), out, (size_t)n);
	return 0;
}

/* A handshake that failed on side s (err, the cause): one line, then the
 * pair is closed. Returns err. */
static int hs_fail(pair *p, side *s, int err, const char *why)
{
	relay *r = p->r;
	r->st.hs_failed++;
	if (s->idx == NEAR) {
		/* Strangers may be many: their lines are rate-limited, and no
		 * far connection was made for them. */
		rlog_limited(r, &r->rl_hs, "%s: secure handshake failed: %s", s->name, why);
		pair_kill(p, 1);
		return err;
	}
	return pair_abort(p, err, "%s: secure handshake failed: %s", s->name, why);
}

int wan_hs_read(pair *p, side *s)
{
	relay *r = p->r;
	for (;;) {
		size_t want = s->hs_need - s->hs_len;
		ssize_t n = recv(s->fd, s->hs + s->hs_len, want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			char why[128];
			snprintf(why, sizeof why, "%s", errno == ECONNRESET ? "connection reset" :
				 strerror(errno));
			return hs_fail(p, s, GX_EIO, why);
		}
		if (n == 0) {
			char why[128];
			if (s->hs_total)
				snprintf(why, sizeof why, "connection closed after %llu bytes of the "
					 "handshake (truncated)", (unsigned long long)s->hs_total);
			else
				snprintf(why, sizeof why, "connection closed before the handshake");
			return hs_fail(p, s, GX_ETRUNC, why);
		}
		s->hs_len += (size_t)n;
		s->hs_total += (uint64_t)n;
		r->st.d[from(p, s)->d].bytes_in += (uint64_t)n;
		size_t used = 0, outlen = 0;
		uint8_t out[GX_SEC_HELLO_BYTES + GX_SEC_OVERHEAD];
		int rc = gx_sec_handshake(s->sec, s->hs, s->hs_len, &used, out, sizeof out, &outlen);
		if (rc < 0 && rc != GX_ENEEDMORE) {
			const char *why = gx_sec_why(s->sec);
			return hs_fail(p, s, rc, *why ? why : gx_strerror(rc));
		}
		/* A server's reply comes with GX_ENEEDMORE (it waits for the
		 * confirmation), a client's confirmation with 1. */
		int q = outlen ? dir_queue(toward(p, s), out, outlen) : 0;
		if (q)
			return q;
		memmove(s->hs, s->hs + used, s->hs_len - used);
		s->hs_len -= used;
		s->hs_need -= used;
		if (rc == 1)
			return 1;
	}
}

/* ------------------------------------------------------- the WAN stream */

/* Looks at the first bytes of what d's WAN source sends. With --zstd they
 * must be zstd's magic; without, zstd's magic is worth a warning. 0, or
 * GX_EPROTO when p was closed for it. */
static int judge(dir *d, const uint8_t *b, size_t n)
{
	pair *p = d->p;
	size_t k = n < 4 ? n : 4;
	if (!k)
		return 0;
	/* Judged once, on the first bytes that come (usually many): a
	 * stream that starts with fewer than 4 is left to zstd's own check. */
	d->judged = 1;
	if (d->dz) {
		if (memcmp(b, zmagic, k) != 0) {
			if (k == 4 && !memcmp(b, gxmagic, 4))
				return pair_abort(p, GX_EPROTO, "%s sends plain geomx frames, not zstd: no --zstd "
						  "there (every relay of a pair needs --zstd)", d->src->name);
			return pair_abort(p, GX_EPROTO, "%s does not send zstd data: no --zstd there (every relay "
					  "of a pair needs --zstd)", d->src->name);
		}
		return 0;
	}
	if (k == 4 && !memcmp(b, zmagic, 4))
		rlog(p->r, 1, "%s: %s sends zstd data: if it is a relay with --zstd, this one needs --zstd "
		     "too (passing the bytes on unchanged)", p->label, d->src->name);
	return 0;
}

/* Plaintext bytes seen by d: counted, frames counted, the WAN stream of a
 * relay without --zstd looked at. 0, or GX_EPROTO when p was closed for it. */
static int plain_seen(dir *d, const uint8_t *b, size_t n)
{
	relay *r = d->p->r;
	dir_stats *st = &r->st.d[d->d];
	st->plain += n;
	if (d->fc.state != FC_OTHER) {
		st->frames += frames_feed(&d->fc, b, n);
		if (d->fc.state == FC_GEOMX)
			st->frames_known = 1;
	}
	if (!d->judged && !r->cfg.zstd && d->src->idx == r->cfg.wan && d->src->secure)
		return judge(d, b, n);
	return 0;
}

/* Wire bytes (compressed, or plaintext) to d's destination: sealed into
 * records when it is secure, queued. */
static int emit_wire(dir *d, const uint8_t *b, size_t n)
{
	relay *r = d->p->r;
	if (!d->dst->secure)
		return dir_queue(d, b, n);
	while (n > 0) {
		size_t m = n < GX_SEC_RECORD_MAX ? n : GX_SEC_RECORD_MAX;
		chunk *c = gx_bq_seg_get(&r->pool, m + GX_SEC_OVERHEAD);
		if (!c)
			return pair_abort(d->p, GX_ENOMEM, "out of memory");
		long w = gx_sec_seal(d->dst->sec, GX_SEC_DATA, b, m, c->data);
		if (w < 0) {
			gx_bq_seg_put(&r->pool, c);
			return pair_abort(d->p, (int)w, "%s: cannot seal a record: %s", d->dst->name,
					  gx_strerror((int)w));
		}
		c->len = (uint32_t)w;
		dir_queue_chunk(d, c);
		b += m;
		n -= m;
	}
	return 0;
}

/* Plaintext bytes to d's destination: compressed when it is the WAN side
 * with --zstd (output comes as zstd fills blocks; wan_flush pushes out the
 * rest), then emit_wire. */
static int emit_plain(dir *d, const uint8_t *b, size_t n)
{
	relay *r = d->p->r;
	int seen = plain_seen(d, b, n);
	if (seen)
		return seen;
	if (!d->cz)
		return emit_wire(d, b, n);
	ZSTD_inBuffer in = { b, n, 0 };
	while (in.pos < in.size) {
		ZSTD_outBuffer out = { r->zbuf, GX_SEC_RECORD_MAX, 0 };
		size_t rc = ZSTD_compressStream2(d->cz, &out, &in, ZSTD_e_continue);
		if (ZSTD_isError(rc))
			return pair_abort(d->p, GX_EZSTD, "zstd: %s", ZSTD_getErrorName(rc));
		int e = out.pos ? emit_wire(d, r->zbuf, out.pos) : 0;
		if (e)
			return e;
	}
	d->cz_dirty = 1;
	return 0;
}

/* Drives d's compressor with op (ZSTD_e_flush, ZSTD_e_end) until it has
 * nothing left to say. */
static int zdrain(dir *d, ZSTD_EndDirective op)
{
	relay *r = d->p->r;
	for (;;) {
		ZSTD_inBuffer in = { NULL, 0, 0 };
		ZSTD_outBuffer out = { r->zbuf, GX_SEC_RECORD_MAX, 0 };
		size_t rc = ZSTD_compressStream2(d->cz, &out, &in, op);
		if (ZSTD_isError(rc))
			return pair_abort(d->p, GX_EZSTD, "zstd: %s", ZSTD_getErrorName(rc));
		int e = out.pos ? emit_wire(d, r->zbuf, out.pos) : 0;
		if (e)
			return e;
		if (rc == 0)
			return 0;
	}
}

/* Ends a batch: whatever the compressor holds goes out now. */
static int wan_flush(dir *d)
{
	if (!d->cz || !d->cz_dirty)
		return 0;
	d->cz_dirty = 0;
	return zdrain(d, ZSTD_e_flush);
}

/* One step of d's decompressor: at most one record's worth of output. */
static int unzstd_step(dir *d)
{
	relay *r = d->p->r;
	int bad = d->judged ? 0 : judge(d, d->pl, d->pl_len);
	if (bad)
		return bad;
	ZSTD_inBuffer in = { d->pl, d->pl_len, 0 };
	ZSTD_outBuffer out = { r->zbuf, GX_SEC_RECORD_MAX, 0 };
	size_t rc = ZSTD_decompressStream(d->dz, &out, &in);
	if (ZSTD_isError(rc))
		return pair_abort(d->p, GX_EZSTD, "%s: the compressed stream is corrupt: %s", d->src->name,
				  ZSTD_getErrorName(rc));
	d->pl += in.pos;
	d->pl_len -= in.pos;
	d->dz_mid = rc != 0;
	d->dz_more = out.pos == out.size;
	if (!in.pos && !out.pos && d->pl_len)
		return pair_abort(d->p, GX_EZSTD, "%s: zstd makes no progress", d->src->name);
	if (out.pos)
		return emit_plain(d, r->zbuf, out.pos);
	return 0;
}

/* The orderly end of d's stream: the zstd frame ended, a CLOSE record. */
static int wan_finish(dir *d)
{
	relay *r = d->p->r;
	if (d->dz && d->dz_mid)
		return pair_abort(d->p, GX_ETRUNC, "%s ended its stream inside a zstd frame (truncated)",
				  d->src->name);
	int rc = d->cz ? zdrain(d, ZSTD_e_end) : 0;
	if (rc)
		return rc;
	if (d->dst->secure) {
		chunk *c = gx_bq_seg_get(&r->pool, GX_SEC_OVERHEAD);
		if (!c)
			return pair_abort(d->p, GX_ENOMEM, "out of memory");
		long w = gx_sec_seal(d->dst->sec, GX_SEC_CLOSE, NULL, 0, c->data);
		if (w < 0) {
			gx_bq_seg_put(&r->pool, c);
			return pair_abort(d->p, (int)w, "%s: cannot seal the end: %s", d->dst->name,
					  gx_strerror((int)w));
		}
		c->len = (uint32_t)w;
		dir_queue_chunk(d, c);
	}
	d->fin_queued = 1;
	return 0;
}

int wan_pump(dir *d)
{
	pair *p = d->p;
	int need_input = 0;
	while (!dir_full(d)) {
		if (d->dz && (d->pl_len || d->dz_more)) {
			int rc = unzstd_step(d);
			if (rc)
				return rc;
			continue;
		}
		if (d->pl_len) {
			const uint8_t *b = d->pl;
			size_t n = d->pl_len;
			d->pl_len = 0;
			int rc = emit_plain(d, b, n);
			if (rc)
				return rc;
			continue;
		}
		size_t avail = d->in ? d->in_len - d->in_off : 0;
		if (d->src->secure && !d->ended) {
			if (!avail) {
				need_input = 1;
				break;
			}
			size_t used = 0, plen = 0;
			int type = 0;
			const uint8_t *pt = NULL;
			int rc = gx_sec_open(d->src->sec, d->in + d->in_off, avail, &used, &type, &pt,
					     &plen);
			if (rc == GX_ENEEDMORE) {
				need_input = 1;
				break;
			}
			if (rc < 0) {
				const char *why = gx_sec_why(d->src->sec);
				return pair_abort(p, rc, "%s: %s", d->src->name, *why ? why : gx_strerror(rc));
			}
			d->in_off += used;
			if (type == GX_SEC_CLOSE) {
				d->ended = 1;
				if (d->in_off < d->in_len)
					return pair_abort(p, GX_EPROTO, "%s: %zu bytes after its end-of-stream record",
							  d->src->name, d->in_len - d->in_off);
				continue;
			}
			d->pl = pt;
			d->pl_len = plen;
			continue;
		}
		if (d->dz && avail) {
			d->pl = d->in + d->in_off;
			d->pl_len = avail;
			d->in_off = d->in_len;
			continue;
		}
		need_input = 1;
		break;
	}
	if (d->in && d->in_off == d->in_len && !d->pl_len)
		d->in_off = d->in_len = 0;
	/* Stopped by the full queue with input left: go on when it has room
	 * (fwd.c watches the destination for that). A partial record is not
	 * input left: it waits for the source. */
	d->more = !need_input && wan_buffered(d);
	int rc = wan_flush(d);
	if (rc)
		return rc;
	if (need_input && d->eof && !d->ended) {
		size_t left = d->in ? d->in_len - d->in_off : 0;
		if (left)
			return pair_abort(p, GX_ETRUNC, "%s closed the connection inside a record (%zu bytes of it; "
					  "truncated)", d->src->name, left);
		return pair_abort(p, GX_ETRUNC, "%s closed the connection without an end-of-stream record "
				  "(truncated)", d->src->name);
	}
	if (d->ended && !d->fin_queued && !wan_buffered(d))
		return wan_finish(d);
	return 0;
}

/* ------------------------------------------------------------- reading */

int wan_io_fail(dir *d, side *s, int e, const char *what)
{
	if (e == ECONNRESET)
		return pair_abort(d->p, GX_EPEER, "%s reset the connection", s->name);
	if (e == EPIPE)
		return pair_abort(d->p, GX_EPEER, "%s closed the connection", s->name);
	return pair_abort(d->p, GX_EIO, "%s: %s error: %s", s->name, what, strerror(e));
}

int wan_read(dir *d)
{
	pair *p = d->p;
	relay *r = p->r;
	dir_stats *st = &r->st.d[d->d];
	int inmode = d->src->secure || d->dz;
	int pass = !inmode && !d->cz && !d->dst->secure;
	size_t budget = RELAY_READ_CAP;
	while (budget > 0 && !d->eof && !d->ended && !dir_full(d)) {
		ssize_t n;
		if (inmode) {
			if (!d->in && !(d->in = malloc(RELAY_IN_CAP)))
				return pair_abort(p, GX_ENOMEM, "out of memory");
			if (!d->pl_len && d->in_off) {
				memmove(d->in, d->in + d->in_off, d->in_len - d->in_off);
				d->in_len -= d->in_off;
				d->in_off = 0;
			}
			size_t room = RELAY_IN_CAP - d->in_len;
			if (!room)
				break;
			n = recv(d->src->fd, d->in + d->in_len, room < budget ? room : budget, 0);
			if (n > 0) {
				d->in_len += (size_t)n;
				st->bytes_in += (uint64_t)n;
				int rc = wan_pump(d);
				if (rc)
					return rc;
			}
		} else if (pass) {
			size_t want = shape_read_size(r, d->d);
			chunk *c = gx_bq_seg_get(&r->pool, RELAY_CHUNK);
			if (!c)
				return pair_abort(p, GX_ENOMEM, "out of memory");
			n = recv(d->src->fd, c->data, want, 0);
			if (n > 0) {
				st->bytes_in += (uint64_t)n;
				c->len = (uint32_t)n;
				if ((size_t)n <= RELAY_CHUNK / 2) {
					/* A small read keeps a small chunk. */
					chunk *s = gx_bq_seg_get(&r->pool, (size_t)n);
					if (!s) {
						gx_bq_seg_put(&r->pool, c);
						return pair_abort(p, GX_ENOMEM, "out of memory");
					}
					memcpy(s->data, c->data, (size_t)n);
					s->len = (uint32_t)n;
					gx_bq_seg_put(&r->pool, c);
					c = s;
				}
				int rc = plain_seen(d, c->data, c->len);
				if (rc) {
					gx_bq_seg_put(&r->pool, c);
					return rc;
				}
				dir_queue_chunk(d, c);
			} else {
				gx_bq_seg_put(&r->pool, c);
			}
		} else {
			size_t want = shape_read_size(r, d->d);
			if (d->dst->secure && !d->cz && want > GX_SEC_RECORD_MAX)
				want = GX_SEC_RECORD_MAX; /* one read, one record */
			n = recv(d->src->fd, r->scratch, want, 0);
			if (n > 0) {
				st->bytes_in += (uint64_t)n;
				int rc = emit_plain(d, r->scratch, (size_t)n);
				if (rc)
					return rc;
			}
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return wan_io_fail(d, d->src, errno, "read");
		}
		if (n == 0) {
			d->eof = 1;
			if (!d->src->secure)
				d->ended = 1;
			rlog(r, 3, "%s: %s ended its stream", p->label, d->src->name);
			break;
		}
		budget -= (size_t)n < budget ? (size_t)n : budget;
	}
	return wan_pump(d);
}
