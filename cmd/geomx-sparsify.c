/*
 * geomx-sparsify — a filter on tensor streams. Reads geomx frames (or raw
 * float32, or an IDX file), re-encodes every tensor with top-k
 * sparsification, fp16, mixed precision and zstd, keeping error feedback per
 * tensor (optionally persisted across runs); -d decodes back to dense
 * float32. See geomx-sparsify(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "geomx.h"
#include "geomx-sparsify/sparsify.h"

#define IO_CHUNK (1u << 20) /* bytes per read and size of the output buffer */

/* Raw input and output are little-endian float32, copied as they are (as the
 * library's dense F32 codec does). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "geomx-sparsify needs a little-endian host"
#endif

struct sparsify_opts opt;

/* Everything the run owns, released by cleanup(). */
static struct {
	gx_codec *codec;  /* the output codec (dense F32 under -d) */
	gx_frame_limits lim;
	int in_fd;
	uint8_t *inbuf, *outbuf, *enc;
	size_t outlen, enc_cap;
	float *x, *y;
	size_t x_cap, y_cap; /* bytes */
	int out_fd, state_fd;
} g = { .in_fd = -1, .out_fd = -1, .state_fd = -1 };

/* The temporaries of -o and of the state, removed on a signal. */
static char out_tmp[4096], st_tmp[4096];
static volatile sig_atomic_t out_live, st_live;

/* Where we are, for messages. */
static struct {
	const char *name; /* input name: the path or "stdin" */
	int kind;         /* FMT_*: how to name a position */
	uint64_t item;    /* 1-based frame / tensor / item number */
	uint64_t off;     /* byte offset where it starts */
} at;

static uint64_t n_tensors, n_elems, n_skipped, bytes_in, bytes_out;

/* Error-feedback states, one per (key, block): an open-addressing table. */
struct efent {
	uint64_t id; /* key << 32 | block */
	gx_ef *ef;   /* NULL: an empty slot */
	int loaded;  /* bit 0 residual, bit 1 velocity read from the state file */
};
static struct efent *eft;
static size_t eft_n, eft_cap; /* eft_cap: 0 or a power of two */

static const char *where(void)
{
	static char buf[4200];
	static const char *what[] = { "frame", "tensor", "item" };
	if (at.kind == FMT_IDX)
		snprintf(buf, sizeof buf, "%s: item %" PRIu64, at.name, at.item);
	else
		snprintf(buf, sizeof buf, "%s: %s %" PRIu64 " at byte %" PRIu64, at.name,
			 what[at.kind], at.item, at.off);
	return buf;
}

/* Prints the message and evaluates to -1, the failure every function returns. */
#define fail(...) (cli_error(__VA_ARGS__), -1)

static int oom(void)
{
	return fail("out of memory");
}

static void on_signal(int sig)
{
	if (out_live)
		unlink(out_tmp);
	if (st_live)
		unlink(st_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Grows *p to hold at least need bytes, keeping its contents. */
static int grow(void *pp, size_t *cap, uint64_t need)
{
	void **p = pp;
	if (need <= *cap && *p)
		return 0;
	void *q = need <= SIZE_MAX ? realloc(*p, need ? (size_t)need : 1) : NULL;
	if (!q)
		return oom();
	*p = q;
	*cap = (size_t)need;
	return 0;
}

/* ------------------------------------------------------------------ output */

static int out_error(void)
{
	if (errno == EPIPE) /* the reader went away: leave quietly */
		return -1;
	return fail("%s: write error: %s", opt.output ? opt.output : "stdout", strerror(errno));
}

static int out_flush(void)
{
	if (g.outlen && gx_write_full(g.out_fd, g.outbuf, g.outlen))
		return out_error();
	g.outlen = 0;
	return 0;
}

static int out_write(const void *p, size_t len)
{
	bytes_out += len;
	if (g.outlen + len > IO_CHUNK && out_flush())
		return -1;
	if (len >= IO_CHUNK)
		return gx_write_full(g.out_fd, p, len) ? out_error() : 0;
	memcpy(g.outbuf + g.outlen, p, len);
	g.outlen += len;
	return 0;
}

static int out_frame(const gx_frame_hdr *h, const void *payload)
{
	uint8_t hb[GX_FRAME_HDR_SIZE];
	int r = gx_frame_hdr_check(h, &g.lim);
	if (r == GX_ETOOBIG && h->payload_len > g.lim.max_payload)
		return fail("%s: the output frame's payload would be %" PRIu32 " bytes, more than "
			    "a frame may carry (%" PRIu32 "); split the tensor (--chunk)", where(),
			    h->payload_len, g.lim.max_payload);
	if (r)
		return fail("%s: cannot write the output frame: %s", where(), gx_strerror(r));
	gx_frame_hdr_pack(h, hb);
	if (out_write(hb, sizeof hb))
		return -1;
	return out_write(payload, h->payload_len);
}

/* ---------------------------------------------------------- error feedback */

static struct efent *ef_slot(struct efent *t, size_t cap, uint64_t id)
{
	uint64_t x = (id ^ id >> 29) * 0x9E3779B97F4A7C15ull;
	size_t i = (size_t)(x ^ x >> 32) & (cap - 1);
	while (t[i].ef && t[i].id != id)
		i = (i + 1) & (cap - 1);
	return &t[i];
}

/* The state for id, made (zeroed, n elements) when new; NULL after a message. */
static struct efent *ef_get(uint64_t id, uint64_t n)
{
	if (2 * (eft_n + 1) > eft_cap) {
		size_t nc = eft_cap ? 2 * eft_cap : 64;
		struct efent *t = calloc(nc, sizeof *t);
		if (!t)
			return oom(), NULL;
		for (size_t i = 0; i < eft_cap; i++)
			if (eft[i].ef)
				*ef_slot(t, nc, eft[i].id) = eft[i];
		free(eft);
		eft = t;
		eft_cap = nc;
	}
	struct efent *e = ef_slot(eft, eft_cap, id);
	if (!e->ef) {
		if (!(e->ef = gx_ef_create(n, opt.momentum)))
			return oom(), NULL;
		e->id = id;
		eft_n++;
	}
	return e;
}

static uint64_t ef_id(const gx_frame_hdr *h)
{
	return (uint64_t)h->key << 32 | h->block;
}

/* The state for a tensor of n elements; NULL after a message. */
static gx_ef *ef_for(const gx_frame_hdr *h, uint64_t n)
{
	struct efent *e = ef_get(ef_id(h), n);
	if (!e)
		return NULL;
	if (gx_ef_count(e->ef) == n)
		return e->ef;
	cli_error("%s: key %" PRIu32 " block %" PRIu32 " has %" PRIu64 " elements, but %s has %"
		  PRIu64, where(), h->key, h->block, n,
		  e->loaded ? "its residual state" : "an earlier tensor of that key",
		  gx_ef_count(e->ef));
	return NULL;
}

/* ------------------------------------------------------------------ frames */

static const char *codec_name(int c)
{
	static const char *names[] = { "none", "f32", "f16", "sparse-f32", "sparse-f16" };
	return c >= 0 && c < GX_CODEC__MAX ? names[c] : "?";
}

/* Encodes (or under -d: writes densely) a tensor of n floats whose header
 * fields other than the payload's come from src. */
static int put_tensor(const gx_frame_hdr *src, float *x, uint64_t n)
{
	gx_ef *ef = NULL;
	n_tensors++;
	n_elems += n;
	if (opt.decode && opt.to == FMT_RAW)
		return out_write(x, (size_t)n * 4);
	if (opt.use_ef && n && !(ef = ef_for(src, n)))
		return -1;
	size_t cap = gx_codec_bound(g.codec, n);
	if (grow(&g.enc, &g.enc_cap, cap))
		return -1;
	gx_frame_hdr h = *src; /* the payload fields are the encoder's to set */
	h.flags &= GX_FF_LAST;
	int r = gx_codec_encode(g.codec, x, n, ef, &h, g.enc, cap);
	if (r)
		return fail("%s: cannot encode: %s", where(), gx_strerror(r));
	if (cli_verbosity >= 3)
		cli_info("%s: key %" PRIu32 " round %" PRIu32 ": %" PRIu64 " elements -> %s%s, %"
			 PRIu32 " bytes", where(), h.key, h.round, n, codec_name(h.codec),
			 h.flags & GX_FF_ZSTD ? "+zstd" : "", h.payload_len);
	if (opt.to != FMT_RAW)
		return out_frame(&h, g.enc);
	if (grow(&g.y, &g.y_cap, n * 4))
		return -1;
	r = gx_codec_decode(g.codec, &h, g.enc, g.y, 0);
	if (r)
		return fail("%s: cannot decode what was encoded: %s", where(), gx_strerror(r));
	return out_write(g.y, (size_t)n * 4);
}

/* One frame of the main input. Returns 0, 1 to stop (--limit), -1 on error. */
static int on_frame(const gx_frame_hdr *h, const uint8_t *p)
{
	int floats = h->codec != GX_CODEC_NONE &&
		     (h->type == GX_FT_TENSOR || (opt.decode && h->type == GX_FT_STATE));
	if (!floats) {
		if (opt.to == FMT_RAW) {
			n_skipped++;
			return 0;
		}
		return out_frame(h, p);
	}
	if (grow(&g.x, &g.x_cap, h->count * 4))
		return -1;
	int r = gx_codec_decode(g.codec, h, p, g.x, 0);
	if (r)
		return fail("%s: %s", where(), gx_strerror(r));
	if (put_tensor(h, g.x, h->count))
		return -1;
	return opt.limit_set && n_tensors >= opt.limit;
}

/* One frame of the residual state file. */
static int on_state(const gx_frame_hdr *h, const uint8_t *p)
{
	if (h->channel == 1 && !opt.momentum)
		return fail("%s: the state has a velocity (it was saved with --momentum); "
			    "add --momentum or start a new state", where());
	struct efent *e = ef_get(ef_id(h), h->count);
	if (!e)
		return -1;
	if (gx_ef_count(e->ef) != h->count)
		return fail("%s: key %" PRIu32 ": %" PRIu64 " elements, but its other channel has %"
			    PRIu64, where(), h->key, h->count, gx_ef_count(e->ef));
	if (e->loaded & (1 << h->channel))
		return fail("%s: key %" PRIu32 " block %" PRIu32 ": channel %u appears twice",
			    where(), h->key, h->block, h->channel);
	e->loaded |= 1 << h->channel;
	int r = gx_ef_state_load(g.codec, e->ef, h, p);
	return r ? fail("%s: %s", where(), gx_strerror(r)) : 0;
}

/* gx_ef_state_read's callback: 1 stops it after a message. */
static int state_cb(void *arg, const gx_frame_hdr *h, const uint8_t *p)
{
	gx_ef_state_pos *pos = arg;
	at.item = pos->frame;
	at.off = pos->off;
	return on_state(h, p) ? 1 : 0;
}

/* Reads a frame stream from fd, calling fn for each frame. Returns 0 at the
 * end of input or when fn stops it, -1 after a message. */
static int read_frames(int fd, int (*fn)(const gx_frame_hdr *, const uint8_t *))
{
	gx_decoder *d = gx_decoder_create(&g.lim);
	if (!d)
		return oom();
	uint8_t head[4];
	size_t nhead = 0;
	int rc = 0;
	at.item = 1;
	at.off = 0;
	uint64_t off = 0;
	for (;;) {
		ssize_t got;
		do
			got = read(fd, g.inbuf, IO_CHUNK);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			rc = fail("%s: read error: %s", at.name, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		for (; nhead < 4 && nhead < off + (uint64_t)got; nhead++)
			head[nhead] = g.inbuf[nhead - off];
		size_t pos = 0;
		while (pos < (size_t)got) {
			size_t used = 0;
			int r = gx_decoder_feed(d, g.inbuf + pos, (size_t)got - pos, &used);
			pos += used;
			off += used;
			bytes_in += used;
			if (r < 0) {
				rc = fail("%s: %s", where(), gx_strerror(r));
				goto out;
			}
			if (r == 0)
				break;
			gx_frame_hdr h;
			const uint8_t *p;
			gx_decoder_frame(d, &h, &p);
			if ((r = fn(&h, p)) != 0) {
				rc = r < 0 ? -1 : 0;
				goto out;
			}
			at.item++;
			at.off = off;
		}
	}
	if (gx_decoder_pending(d)) {
		/* A short stream of something else is garbage rather than a cut frame. */
		int bad = at.item == 1 && nhead == 4 && memcmp(head, "GXFR", 4) != 0;
		rc = fail("%s: %s", where(), gx_strerror(bad ? GX_EMAGIC : GX_ETRUNC));
	}
out:
	gx_decoder_free(d);
	return rc;
}

/* ------------------------------------------------------------- other input */

static void raw_hdr(gx_frame_hdr *h, uint32_t key, uint32_t round, uint64_t seq)
{
	gx_frame_hdr_init(h);
	h->type = GX_FT_TENSOR;
	h->key = key;
	h->round = round;
	h->seq = seq;
}

static int raw_odd(void)
{
	return fail("%s: length %" PRIu64 " bytes is not a multiple of 4 (float32)", at.name,
		    bytes_in);
}

static int read_raw(int fd)
{
	gx_frame_hdr h;
	at.item = 1;
	if (!opt.chunk) { /* the whole input is one tensor */
		size_t len = 0;
		uint64_t max = opt.max_elems * 4;
		for (;;) {
			uint64_t want = len ? 2 * (uint64_t)len : IO_CHUNK;
			if (len == g.x_cap && grow(&g.x, &g.x_cap, want < max + 4 ? want : max + 4))
				return -1; /* (max + 4 bytes are enough to see it is too long) */
			long got = gx_read_full(fd, (uint8_t *)g.x + len, g.x_cap - len);
			if (got < 0)
				return fail("%s: read error: %s", at.name, strerror(errno));
			len += (size_t)got;
			bytes_in = len;
			if (len > max)
				return fail("%s: more than %" PRIu64 " elements (see --max-elems, "
					    "or split with --chunk)", at.name, opt.max_elems);
			if (len < g.x_cap)
				break;
		}
		if (len % 4)
			return raw_odd();
		if (!len)
			return 0;
		raw_hdr(&h, 0, 0, 0);
		return put_tensor(&h, g.x, len / 4);
	}
	if (grow(&g.x, &g.x_cap, opt.chunk * 4))
		return -1;
	for (uint64_t i = 0; !opt.limit_set || i < opt.limit; i++) {
		at.item = i + 1;
		at.off = bytes_in;
		long got = gx_read_full(fd, g.x, opt.chunk * 4);
		if (got < 0)
			return fail("%s: read error: %s", at.name, strerror(errno));
		bytes_in += (uint64_t)got;
		if (got % 4)
			return raw_odd();
		if (got == 0)
			break;
		if (i > UINT32_MAX)
			return fail("%s: more than 2^32 chunks", at.name);
		if (opt.same_key) /* successive values of one tensor, as IDX items */
			raw_hdr(&h, 0, (uint32_t)i, i);
		else
			raw_hdr(&h, (uint32_t)i, 0, i);
		if (put_tensor(&h, g.x, (uint64_t)got / 4))
			return -1;
		if ((uint64_t)got < opt.chunk * 4)
			break;
	}
	return 0;
}

static int read_idx(const char *path)
{
	gx_idx ix = { 0 };
	uint64_t eoff = 0;
	int r = gx_idx_load(path, opt.max_elems, &ix, &eoff);
	if (r == GX_EIO)
		return fail("%s: %s", at.name, strerror(errno));
	if (r == GX_EFORMAT || r == GX_ETRUNC)
		return fail("%s: byte %" PRIu64 ": %s", at.name, eoff, gx_strerror(r));
	if (r == GX_ETOOBIG)
		return fail("%s: more than %" PRIu64 " elements (see --max-elems)", at.name,
			    opt.max_elems);
	if (r)
		return fail("%s: %s", at.name, gx_strerror(r));
	static const int esize[16] = { [8] = 1, [9] = 1, [11] = 2, [12] = 4, [13] = 4, [14] = 8 };
	struct stat sb;
	if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
		bytes_in = (uint64_t)sb.st_size;
	else /* a pipe: count the uncompressed file */
		bytes_in = 4 + 4ull * ix.ndim + ix.count * (uint64_t)esize[ix.elem_type & 15];
	uint64_t items = ix.ndim ? ix.dims[0] : 0, per = items ? ix.count / items : 0;
	if (opt.limit_set && items > opt.limit)
		items = opt.limit;
	int rc = 0;
	for (uint64_t i = 0; i < items && !rc; i++) {
		gx_frame_hdr h;
		at.item = i + 1;
		raw_hdr(&h, 0, (uint32_t)i, i);
		rc = put_tensor(&h, ix.data + i * per, per);
	}
	gx_idx_release(&ix);
	return rc;
}

/* ------------------------------------------------------------- state file */

static int state_load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		cli_info("%s: no state yet, starting from zero", path);
		return 0;
	}
	if (fd < 0)
		return fail("%s: %s", path, strerror(errno));
	at.name = path;
	at.kind = FMT_FRAMES;
	gx_ef_state_pos pos;
	int rc = gx_ef_state_read(fd, &g.lim, state_cb, &pos, &pos);
	at.item = pos.frame;
	at.off = pos.off;
	if (rc == GX_EIO)
		rc = fail("%s: read error: %s", at.name, strerror(errno));
	else if (rc == GX_EFORMAT)
		rc = fail("%s: not a residual state frame (type %u, channel %u, codec %s)", where(),
			  pos.h.type, pos.h.channel, codec_name(pos.h.codec));
	else if (rc < 0)
		rc = fail("%s: %s", where(), gx_strerror(rc));
	else if (rc)
		rc = -1;
	close(fd);
	for (size_t i = 0; i < eft_cap && !rc; i++)
		if (eft[i].ef && eft[i].loaded != (opt.momentum ? 3 : 1))
			rc = fail("%s: key %" PRIu32 " block %" PRIu32 " has %s", path,
				  (uint32_t)(eft[i].id >> 32), (uint32_t)eft[i].id,
				  !(eft[i].loaded & 1) ? "a velocity but no residual"
				  : "no velocity (it was saved without --momentum)");
	if (!rc)
		cli_info("%s: loaded the state of %zu tensors%s", path, eft_n,
			 opt.momentum ? " with velocities" : "");
	bytes_in = 0;
	return rc;
}

static int cmp_ent(const void *a, const void *b)
{
	uint64_t x = ((const struct efent *)a)->id, y = ((const struct efent *)b)->id;
	return x < y ? -1 : x > y;
}

static int state_frame(const struct efent *e)
{
	int r = gx_ef_state_write(g.state_fd, (uint32_t)(e->id >> 32), (uint32_t)e->id, e->ef);
	if (r == GX_EIO)
		return fail("%s: write error: %s", st_tmp, strerror(errno));
	if (r)
		return fail("%s: cannot encode the state: %s", opt.residual, gx_strerror(r));
	return 0;
}

static int state_save(const char *path)
{
	size_t n = 0; /* the table becomes a sorted array (it is not searched again) */
	for (size_t i = 0; i < eft_cap; i++)
		if (eft[i].ef)
			eft[n++] = eft[i];
	for (size_t i = n; i < eft_cap; i++)
		eft[i].ef = NULL;
	if (n)
		qsort(eft, n, sizeof *eft, cmp_ent);
	for (size_t i = 0; i < n; i++)
		if (state_frame(&eft[i]))
			return -1;
	int fd = g.state_fd;
	g.state_fd = -1;
	st_live = 0;
	if (gx_atomic_commit(fd, st_tmp, path))
		return fail("%s: cannot replace: %s", path, strerror(errno));
	cli_info("%s: saved the state of %zu tensors", path, n);
	return 0;
}

/* ------------------------------------------------------------------- main */

static void cleanup(void)
{
	if (opt.output && g.out_fd >= 0) /* -o not committed */
		gx_atomic_abort(g.out_fd, out_tmp);
	if (g.state_fd >= 0)
		gx_atomic_abort(g.state_fd, st_tmp);
	out_live = st_live = 0;
	if (g.in_fd > 0)
		close(g.in_fd);
	for (size_t i = 0; i < eft_cap; i++)
		gx_ef_free(eft[i].ef);
	free(eft);
	gx_codec_free(g.codec);
	free(g.inbuf);
	free(g.outbuf);
	free(g.enc);
	free(g.x);
	free(g.y);
}

static void describe(void)
{
	const gx_codec_opts *o = &opt.co;
	if (opt.decode) {
		cli_info("decoding to dense %s", opt.to == FMT_RAW ? "raw float32" : "f32 frames");
		return;
	}
	char what[128] = "";
	if (o->codec == GX_CODEC_MPQ)
		snprintf(what, sizeof what, "f16 under %" PRIu64 " elements, else ", o->mpq_bound);
	if (o->codec >= GX_CODEC_SPARSE_F32)
		snprintf(what + strlen(what), sizeof what - strlen(what), "%s top %g %s",
			 codec_name(o->codec == GX_CODEC_MPQ ? GX_CODEC_SPARSE_F32 : o->codec),
			 o->topk_ratio, o->exact ? "exact" : "sampled");
	else
		snprintf(what, sizeof what, "%s", codec_name(o->codec));
	cli_info("encoding: %s, zstd %d, crc %s, seed %" PRIu64 ", error feedback %s, "
		 "momentum %g", what, o->zstd_level, o->crc ? "on" : "off", o->seed,
		 opt.use_ef ? "on" : "off", (double)opt.momentum);
}

static int run(void)
{
	int stdin_in = !strcmp(opt.input, "-");
	at.name = stdin_in ? "stdin" : opt.input;
	at.kind = opt.from;
	if (!opt.output && cli_refuse_binary_tty(STDOUT_FILENO, opt.force))
		return -1;
	if (stdin_in && isatty(STDIN_FILENO) && !opt.force)
		return fail("refusing to read binary input from a terminal (use -f to force, "
			    "or redirect)");
	if (opt.from != FMT_IDX) {
		g.in_fd = stdin_in ? STDIN_FILENO : open(opt.input, O_RDONLY | O_CLOEXEC);
		if (g.in_fd < 0)
			return fail("%s: %s", opt.input, strerror(errno));
	}
	gx_frame_limits_default(&g.lim);
	g.lim.max_count = opt.max_elems;
	int err = 0;
	if (!(g.codec = gx_codec_create(&opt.co, &err)))
		return fail("cannot set up the codec: %s", gx_strerror(err));
	if (!(g.inbuf = malloc(IO_CHUNK)) || !(g.outbuf = malloc(IO_CHUNK)))
		return oom();
	describe();
	if (opt.residual) { /* the temporary first: no output if it cannot be written */
		if ((g.state_fd = gx_atomic_open(opt.residual, st_tmp, sizeof st_tmp)) < 0)
			return fail("%s: cannot create a temporary beside it: %s", opt.residual,
				    strerror(errno));
		st_live = 1;
		if (state_load(opt.residual))
			return -1;
	}
	at.name = stdin_in ? "stdin" : opt.input;
	at.kind = opt.from;
	if (opt.output) {
		g.out_fd = gx_atomic_open(opt.output, out_tmp, sizeof out_tmp);
		if (g.out_fd < 0)
			return fail("%s: cannot create a temporary beside it: %s", opt.output,
				    strerror(errno));
		out_live = 1;
	} else {
		g.out_fd = STDOUT_FILENO;
	}
	int rc;
	if (opt.limit_set && !opt.limit)
		rc = 0;
	else if (opt.from == FMT_FRAMES)
		rc = read_frames(g.in_fd, on_frame);
	else if (opt.from == FMT_RAW)
		rc = read_raw(g.in_fd);
	else
		rc = read_idx(stdin_in ? "/dev/stdin" : opt.input);
	if (rc || out_flush())
		return -1;
	if (n_skipped)
		cli_warn("%s: skipped %" PRIu64 " frames without tensor values (--to raw)", at.name,
			 n_skipped);
	if (opt.output) {
		int fd = g.out_fd;
		g.out_fd = -1;
		out_live = 0;
		if (gx_atomic_commit(fd, out_tmp, opt.output))
			return fail("%s: cannot replace: %s", opt.output, strerror(errno));
	}
	if (opt.residual && state_save(opt.residual))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	argv[0] = (char *)cli_prog; /* getopt names the program by argv[0] */
	parse_args(argc, argv);
	signal(SIGPIPE, on_signal); /* a closed pipe ends us quietly, by the signal */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	double t0 = cli_now();
	int rc = run();
	double dt = cli_now() - t0;
	cleanup();
	if (rc == 0 && opt.stats)
		fprintf(stderr, "%s: %" PRIu64 " tensors, %" PRIu64 " elements, %" PRIu64
			" bytes in, %" PRIu64 " bytes out, ratio %.2f, %.1f MB/s, %.3f s\n",
			cli_prog, n_tensors, n_elems, bytes_in, bytes_out,
			bytes_out ? (double)bytes_in / (double)bytes_out : 0.0,
			dt > 0 ? (double)n_elems * 4 / dt / 1e6 : 0.0, dt);
	return rc ? CLI_FAIL : CLI_OK;
}
