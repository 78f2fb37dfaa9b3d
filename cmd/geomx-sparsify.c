/*
 * geomx-sparsify — a filter on tensor streams. Reads geomx frames (or raw
 * float32, or an IDX file), re-encodes every tensor with top-k
 * sparsification, fp16, mixed precision and zstd, keeping error feedback per
 * tensor (optionally persisted across runs); -d decodes back to dense
 * float32. See geomx-sparsify(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "geomx.h"

#define IO_CHUNK (1u << 20) /* bytes per read and size of the output buffer */
#define ZLEVEL_MIN (-100)   /* fastest zstd level accepted */
#define ZLEVEL_MAX 19       /* strongest zstd level accepted */

/* Raw input and output are little-endian float32, copied as they are (as the
 * library's dense F32 codec does). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "geomx-sparsify needs a little-endian host"
#endif

enum { FMT_FRAMES, FMT_RAW, FMT_IDX };

static struct {
	int decode, from, to, force, stats, no_ef, use_ef, same_key;
	float momentum;                 /* 0: no momentum correction */
	uint64_t chunk, limit, max_elems;
	int limit_set;
	const char *residual, *output, *input;
	gx_codec_opts co;
} opt;

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

/* ------------------------------------------------------------------ options */

static void usage(void)
{
	gx_codec_opts d;
	gx_codec_opts_default(&d);
	printf("Usage: %s [OPTION]... [FILE]\n"
	       "Sparsify, quantize and compress a stream of tensors (geomx frames), keeping\n"
	       "error feedback per tensor, or decode such a stream (-d). With no FILE, or\n"
	       "when FILE is -, read standard input. Output goes to standard output.\n\n",
	       cli_prog);
	printf("Input:\n"
	       "      --from FORMAT    frames (default), raw (little-endian float32) or idx\n"
	       "      --chunk N        raw: split the input into tensors of N elements\n"
	       "      --same-key       raw: give the chunks key 0 and rounds 0, 1, ...\n"
	       "                       (default: keys 0, 1, ...)\n"
	       "      --limit N        process at most N tensors\n"
	       "      --max-elems N    refuse tensors of more than N elements (default %llu)\n",
	       (unsigned long long)GX_DEFAULT_MAX_COUNT);
	printf("Encoding (default: dense float32):\n"
	       "  -k, --topk RATIO     keep the largest RATIO of each tensor (0.01 or 1%%)\n"
	       "      --exact          exact top-k (default: sampled threshold, as in DGC)\n"
	       "      --fp16           float16 values (dense, or the values kept by -k)\n"
	       "      --mpq BOUND      mixed precision: tensors under BOUND elements (e.g. %u)\n"
	       "                       dense float16, the rest sparse float32 at the -k\n"
	       "                       ratio (default %g)\n"
	       "  -z, --zstd[=LEVEL]   add a zstd stage (default level %d; %d..%d)\n"
	       "      --index-enc ENC  sparse indices: auto (default), u32, varint, bitpack,\n"
	       "                       bitmap\n"
	       "      --seed N         seed of the sampled selection (default %llu)\n"
	       "      --no-crc         do not checksum the output payloads\n",
	       GX_DEFAULT_MPQ_BOUND, GX_DEFAULT_TOPK, GX_DEFAULT_ZSTD_LEVEL, ZLEVEL_MIN,
	       ZLEVEL_MAX, (unsigned long long)d.seed);
	printf("Error feedback (on for lossy encodings):\n"
	       "      --residual FILE  start from the state in FILE if it exists; save it there\n"
	       "      --momentum[=F]   DGC momentum correction, factor F (default %g)\n"
	       "      --no-ef          encode every tensor on its own\n",
	       (double)GX_DEFAULT_MOMENTUM);
	printf("Decoding:\n"
	       "  -d, --decode         decode to dense float32 frames\n"
	       "      --to FORMAT      frames (default) or raw (little-endian float32 values)\n"
	       "Output and messages:\n"
	       "  -o, --output FILE    write FILE (atomically) instead of standard output\n"
	       "  -f, --force          allow binary data to or from a terminal\n"
	       "      --stats          print a summary on standard error at the end\n"
	       "  -q, --quiet          print errors only\n"
	       "  -v, --verbose        say more (twice: a line per tensor)\n"
	       "  -h, --help           display this help and exit\n"
	       "  -V, --version        output version information and exit\n\n"
	       "Environment: GEOMX_SEED, GEOMX_ZSTD_LEVEL, GEOMX_VERBOSE.\n"
	       "Exit status: 0 ok, 1 runtime failure, 2 usage error. See %s(1).\n",
	       cli_prog);
}

static int parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_zlevel(const char *s, int *out)
{
	long v;
	if (cli_parse_int(s, ZLEVEL_MIN, ZLEVEL_MAX, &v) || v == 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int pick(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

enum {
	OPT_FROM = 256, OPT_TO, OPT_CHUNK, OPT_LIMIT, OPT_MAXEL, OPT_EXACT, OPT_FP16, OPT_MPQ,
	OPT_IENC, OPT_SEED, OPT_NOCRC, OPT_RESID, OPT_MOM, OPT_NOEF, OPT_STATS, OPT_SAMEKEY
};

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "from", 1, 0, OPT_FROM }, { "to", 1, 0, OPT_TO }, { "chunk", 1, 0, OPT_CHUNK },
		{ "same-key", 0, 0, OPT_SAMEKEY },
		{ "limit", 1, 0, OPT_LIMIT }, { "max-elems", 1, 0, OPT_MAXEL },
		{ "topk", 1, 0, 'k' }, { "exact", 0, 0, OPT_EXACT }, { "fp16", 0, 0, OPT_FP16 },
		{ "mpq", 1, 0, OPT_MPQ }, { "zstd", 2, 0, 'z' }, { "index-enc", 1, 0, OPT_IENC },
		{ "seed", 1, 0, OPT_SEED }, { "no-crc", 0, 0, OPT_NOCRC },
		{ "residual", 1, 0, OPT_RESID }, { "momentum", 2, 0, OPT_MOM },
		{ "no-ef", 0, 0, OPT_NOEF }, { "decode", 0, 0, 'd' }, { "output", 1, 0, 'o' },
		{ "force", 0, 0, 'f' }, { "stats", 0, 0, OPT_STATS }, { "quiet", 0, 0, 'q' },
		{ "verbose", 0, 0, 'v' }, { "help", 0, 0, 'h' }, { "version", 0, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	static const char *const fmts[] = { "frames", "raw", "idx" };
	static const char *const encs[] = { "auto", "u32", "varint", "bitpack", "bitmap" };
	const char *enc_only = NULL; /* an option -d cannot take */
	const char *bare = NULL;     /* -z or --momentum given without its value */
	int fp16 = 0, k_set = 0, mpq_set = 0, seed_set = 0, z_set = 0, z_level = 0;
	int exact_set = 0, ienc_set = 0;
	double ratio = GX_DEFAULT_TOPK;
	gx_codec_opts_default(&opt.co);
	opt.co.crc = 1;
	opt.max_elems = GX_DEFAULT_MAX_COUNT;
	int c;
	while ((c = getopt_long(argc, argv, "k:z::do:fqvhV", lo, NULL)) != -1) {
		switch (c) {
		case OPT_FROM:
			if ((opt.from = pick(optarg, fmts, 3)) < 0)
				cli_usage_error("invalid --from '%s' (want frames, raw or idx)", optarg);
			break;
		case OPT_TO:
			if ((opt.to = pick(optarg, fmts, 2)) < 0)
				cli_usage_error("invalid --to '%s' (want frames or raw)", optarg);
			break;
		case OPT_CHUNK:
			if (cli_parse_count(optarg, &opt.chunk) || !opt.chunk)
				cli_usage_error("invalid --chunk '%s' (want a positive element count)",
						optarg);
			break;
		case OPT_SAMEKEY:
			opt.same_key = 1;
			break;
		case OPT_LIMIT:
			if (cli_parse_count(optarg, &opt.limit))
				cli_usage_error("invalid --limit '%s' (want a tensor count)", optarg);
			opt.limit_set = 1;
			break;
		case OPT_MAXEL:
			if (cli_parse_count(optarg, &opt.max_elems) || !opt.max_elems ||
			    opt.max_elems > (1ull << 32))
				cli_usage_error("invalid --max-elems '%s' (want 1..%llu elements)",
						optarg, 1ull << 32);
			break;
		case 'k':
			if (cli_parse_ratio(optarg, &ratio))
				cli_usage_error("invalid top-k ratio '%s' (want a fraction in (0, 1], "
						"e.g. 0.01 or 1%%)", optarg);
			k_set = 1;
			enc_only = "-k";
			break;
		case OPT_EXACT:
			opt.co.exact = exact_set = 1;
			enc_only = "--exact";
			break;
		case OPT_FP16:
			fp16 = 1;
			enc_only = "--fp16";
			break;
		case OPT_MPQ:
			if (cli_parse_count(optarg, &opt.co.mpq_bound) || !opt.co.mpq_bound)
				cli_usage_error("invalid --mpq bound '%s' (want a positive element "
						"count, e.g. %u)", optarg, GX_DEFAULT_MPQ_BOUND);
			mpq_set = 1;
			enc_only = "--mpq";
			break;
		case 'z':
			if (optarg && parse_zlevel(optarg, &z_level))
				cli_usage_error("invalid zstd level '%s' (want %d..%d, not 0)", optarg,
						ZLEVEL_MIN, ZLEVEL_MAX);
			z_set = optarg ? 2 : 1;
			bare = optarg ? bare : "--zstd";
			enc_only = "-z";
			break;
		case OPT_IENC:
			if ((opt.co.index_enc = pick(optarg, encs, 5)) < 0)
				cli_usage_error("invalid --index-enc '%s' (want auto, u32, varint, "
						"bitpack or bitmap)", optarg);
			ienc_set = 1;
			enc_only = "--index-enc";
			break;
		case OPT_SEED:
			if (parse_u64(optarg, &opt.co.seed))
				cli_usage_error("invalid --seed '%s' (want an integer 0..2^64-1)", optarg);
			seed_set = 1;
			enc_only = "--seed";
			break;
		case OPT_NOCRC:
			opt.co.crc = 0;
			break;
		case OPT_RESID:
			opt.residual = optarg;
			enc_only = "--residual";
			break;
		case OPT_MOM: {
			double m = GX_DEFAULT_MOMENTUM;
			if (optarg && (cli_parse_double(optarg, &m) || !(m > 0 && m < 1)))
				cli_usage_error("invalid momentum '%s' (want a factor in (0, 1))", optarg);
			opt.momentum = (float)m;
			bare = optarg ? bare : "--momentum";
			enc_only = "--momentum";
			break;
		}
		case OPT_NOEF:
			opt.no_ef = 1;
			enc_only = "--no-ef";
			break;
		case 'd': opt.decode = 1; break;
		case 'o': opt.output = optarg; break;
		case 'f': opt.force = 1; break;
		case OPT_STATS: opt.stats = 1; break;
		case 'q': cli_verbosity = 0; break;
		case 'v': cli_verbosity++; break;
		case 'h': usage(); exit(CLI_OK);
		case 'V': cli_print_version(); exit(CLI_OK);
		default: cli_bad_option();
		}
	}
	double num;
	if (bare && optind < argc && cli_parse_double(argv[optind], &num) == 0 &&
	    access(argv[optind], F_OK) != 0)
		cli_usage_error("'%s' is not an input file; attach the value: %s=%s", argv[optind],
				bare, argv[optind]);
	if (argc - optind > 1)
		cli_usage_error("extra operand '%s' (one input at most)", argv[optind + 1]);
	opt.input = optind < argc ? argv[optind] : "-";
	if (opt.decode && enc_only)
		cli_usage_error("-d cannot be combined with %s", enc_only);
	if (opt.decode && opt.from != FMT_FRAMES)
		cli_usage_error("-d reads frames only (not --from %s)", fmts[opt.from]);
	if (opt.chunk && opt.from != FMT_RAW)
		cli_usage_error("--chunk needs --from raw");
	if (opt.same_key && !opt.chunk)
		cli_usage_error("--same-key needs --chunk");
	if (opt.chunk > opt.max_elems)
		cli_usage_error("--chunk %" PRIu64 " exceeds --max-elems %" PRIu64, opt.chunk,
				opt.max_elems);
	if (mpq_set && fp16)
		cli_usage_error("--mpq and --fp16 cannot be combined (--mpq already sends small "
				"tensors as float16)");
	if ((exact_set || ienc_set) && !k_set && !mpq_set)
		cli_usage_error("%s needs -k or --mpq", exact_set ? "--exact" : "--index-enc");
	if (opt.no_ef && (opt.residual || opt.momentum))
		cli_usage_error("--no-ef cannot be combined with %s",
				opt.residual ? "--residual" : "--momentum");
	if (!seed_set && cli_env("SEED") && parse_u64(cli_env("SEED"), &opt.co.seed))
		cli_usage_error("invalid GEOMX_SEED '%s' (want an integer)", cli_env("SEED"));
	if (z_set == 1) {
		z_level = GX_DEFAULT_ZSTD_LEVEL;
		if (cli_env("ZSTD_LEVEL") && parse_zlevel(cli_env("ZSTD_LEVEL"), &z_level))
			cli_usage_error("invalid GEOMX_ZSTD_LEVEL '%s' (want %d..%d, not 0)",
					cli_env("ZSTD_LEVEL"), ZLEVEL_MIN, ZLEVEL_MAX);
	}
	opt.co.zstd_level = z_level;
	opt.co.topk_ratio = ratio;
	if (mpq_set)
		opt.co.codec = GX_CODEC_MPQ;
	else if (k_set)
		opt.co.codec = fp16 ? GX_CODEC_SPARSE_F16 : GX_CODEC_SPARSE_F32;
	else
		opt.co.codec = fp16 ? GX_CODEC_F16 : GX_CODEC_F32;
	opt.use_ef = !opt.decode && !opt.no_ef &&
		     (opt.residual || opt.momentum || opt.co.codec != GX_CODEC_F32);
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
