/*
 * relay.c — `geomx-bench relay`: bytes per second through pairs of real
 * geomx-relay processes on loopback (an edge relay and a center relay, as
 * between a data center and the center), as a ratio to a plain TCP stream
 * on 127.0.0.1 measured in the same run.
 *
 * Paths: tcp (the baseline: this program's writer straight to its sink),
 * plain (a relay pair without options), secure (--key: the edge relay
 * seals, the center relay opens), zstd (--zstd at both ends), secure+zstd.
 * Each path is one long-lived connection; a sample streams --size bytes
 * from a writer thread to the sink, read by the main thread, and the
 * samples of the paths take turns, so a busy moment of the machine falls
 * on all of them alike; the figures are medians. The relays are children
 * started as `geomx-bench ps` starts geomx-ps (ps_procs.c: each prints its
 * port; SIGKILL if this program dies), stopped with SIGTERM at the end,
 * and must then exit 0 by themselves. The edge relays write their
 * statistics (--stats), from which the wire bytes per payload byte are
 * read. See geomx-bench(1), "The relay benchmark".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "../cli.h"
#include "geomx.h"
#include "ps_internal.h"

int cmd_relay(int argc, char **argv);
double bench_median(double *v, size_t n); /* cmd/geomx-bench.c; sorts v */

#define DEF_SIZE (256ull << 20) /* bytes per sample */
#define DEF_REPEAT 5
#define DEF_CHUNK (256u << 10)  /* bytes per send and per recv */
#define DATA_BYTES (8u << 20)   /* the data sent, cycled: larger than zstd's window */
#define ACCEPT_TIMEOUT 10.0     /* s: a relay pair reaches the sink */
#define IO_TIMEOUT 30           /* s: a stalled path fails rather than hangs */
#define STOP_TIMEOUT 5.0        /* s: relays exit after SIGTERM */
#define NPATH 5

enum { D_NORMAL, D_SPARSE, D_RANDOM };

struct path {
	const char *name;
	int relay, secure, zstd;
	int on;            /* measured in this run */
	int wfd, rfd;      /* writer's end, reader's end (under kid_mu) */
	char stats[4200];  /* the edge relay's --stats file */
	double *mbps;      /* per sample */
	double wire;       /* the edge relay's bytes out per byte in, -1 unknown */
};

static struct path paths[NPATH] = {
	{ "tcp", 0, 0, 0, 1, -1, -1, "", NULL, -1 },
	{ "plain", 1, 0, 0, 1, -1, -1, "", NULL, -1 },
	{ "secure", 1, 1, 0, 1, -1, -1, "", NULL, -1 },
	{ "zstd", 1, 0, 1, 1, -1, -1, "", NULL, -1 },
	{ "secure+zstd", 1, 1, 1, 1, -1, -1, "", NULL, -1 },
};

struct ropts {
	uint64_t size;
	long repeat;
	size_t chunk;
	int data, json;
	const char *relay_bin, *key_file;
	const char *zstd_arg; /* "--zstd" or "--zstd=LEVEL" */
};

/* ---------------------------------------------------------------- writer */

static stream_writer wr;
static uint8_t *wr_data; /* DATA_BYTES */

/* Streams bytes from the writer thread through path p to the sink; returns
 * the seconds from the order to the last byte read, or -1 (said why). */
static double transfer(struct path *p, uint64_t bytes, uint8_t *rbuf, size_t chunk)
{
	double t0 = cli_now();
	writer_order(&wr, p->wfd, bytes);
	uint64_t got;
	int e = recv_stream(p->rfd, rbuf, chunk, bytes, &got);
	if (e) {
		if (!atomic_load(&got_sig))
			cli_error("relay: %s path: %s after %llu of %llu bytes", p->name,
				  e == EPIPE ? "closed" : strerror(e), (unsigned long long)got,
				  (unsigned long long)bytes);
		return -1;
	}
	double t = cli_now() - t0;
	if ((e = writer_error(&wr)) != 0) {
		cli_error("relay: %s path: writer: %s", p->name, strerror(e));
		return -1;
	}
	return t;
}

/* ------------------------------------------------------------- plumbing */

/* SIGINT, SIGTERM, SIGHUP: stop the relays, unblock the reader and the
 * writer; the main thread cleans up and ends by the same signal. */
static void *relay_sig_main(void *ud)
{
	(void)ud;
	for (;;) {
		int s;
		if (sigwait(&stop_sigs, &s) != 0)
			continue;
		if (atomic_load(&got_sig))
			_exit(128 + s);
		atomic_store(&got_sig, s);
		kill_kids(SIGTERM);
		pthread_mutex_lock(&kid_mu);
		for (int i = 0; i < NPATH; i++) {
			if (paths[i].wfd >= 0)
				shutdown(paths[i].wfd, SHUT_RDWR);
			if (paths[i].rfd >= 0)
				shutdown(paths[i].rfd, SHUT_RDWR);
		}
		pthread_mutex_unlock(&kid_mu);
	}
	return NULL;
}

static void sock_opts(int fd)
{
	int one = 1;
	struct timeval tv = { IO_TIMEOUT, 0 };
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Connects the writer's end of p to port and accepts the reader's end on
 * the sink. 0 or -1 (said why). */
static int path_open(struct path *p, int sink, int port)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	int w = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (w < 0 || connect(w, (struct sockaddr *)&sa, sizeof sa) != 0) {
		cli_error("relay: %s path: cannot connect to 127.0.0.1:%d: %s", p->name, port,
			  strerror(errno));
		if (w >= 0)
			close(w);
		return -1;
	}
	struct pollfd pf = { sink, POLLIN, 0 };
	int rc;
	do
		rc = poll(&pf, 1, (int)(ACCEPT_TIMEOUT * 1000));
	while (rc < 0 && errno == EINTR && !atomic_load(&got_sig));
	int r = rc > 0 ? accept4(sink, NULL, NULL, SOCK_CLOEXEC) : -1;
	if (r < 0) {
		if (!atomic_load(&got_sig))
			cli_error("relay: %s path: nothing reached the sink within %g s%s", p->name,
				  ACCEPT_TIMEOUT, p->relay ? " (see the relays' messages)" : "");
		close(w);
		return -1;
	}
	sock_opts(w);
	sock_opts(r);
	pthread_mutex_lock(&kid_mu);
	p->wfd = w;
	p->rfd = r;
	pthread_mutex_unlock(&kid_mu);
	return 0;
}

/* Reads fd until its end of stream (or an error, or the timeout). */
static void drain(int fd, uint8_t *buf, size_t cap)
{
	for (;;) {
		ssize_t r = recv(fd, buf, cap, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
	}
}

/* Ends p's stream in order both ways, so the relays close the connection
 * as they would any other, before they are stopped. */
static void path_finish(struct path *p, uint8_t *buf, size_t cap)
{
	if (p->wfd < 0 || p->rfd < 0)
		return;
	shutdown(p->wfd, SHUT_WR);
	shutdown(p->rfd, SHUT_WR);
	drain(p->rfd, buf, cap);
	drain(p->wfd, buf, cap);
}

static void path_close(struct path *p)
{
	pthread_mutex_lock(&kid_mu);
	if (p->wfd >= 0)
		close(p->wfd);
	if (p->rfd >= 0)
		close(p->rfd);
	p->wfd = p->rfd = -1;
	pthread_mutex_unlock(&kid_mu);
}

/* Starts p's two relays, the center one toward the sink; returns the edge
 * relay's port or -1. */
static int start_pair(struct path *p, const char *bin, int sink_port, const char *key,
		      const char *dir, const char *zstd_arg)
{
	char conn[32], what[48];
	const char *verb = cli_verbosity == 0 ? "-q" : cli_verbosity >= 3 ? "-v" : NULL;
	snprintf(conn, sizeof conn, "127.0.0.1:%d", sink_port);
	snprintf(p->stats, sizeof p->stats, "%s/%s.stats", dir, p->name);
	for (int edge = 0; edge < 2; edge++) {
		char *av[20];
		int n = 0;
		av[n++] = (char *)bin;
		av[n++] = "--listen";
		av[n++] = "127.0.0.1:0";
		av[n++] = "--connect";
		av[n++] = conn;
		if (p->secure) {
			av[n++] = "--key";
			av[n++] = (char *)key;
			av[n++] = "--secure";
			av[n++] = edge ? "connect" : "listen";
		}
		if (p->zstd)
			av[n++] = (char *)zstd_arg;
		if (p->zstd && !p->secure && !edge) {
			/* Without --secure the WAN side is --connect by default:
			 * the center relay's is the side it listens on. */
			av[n++] = "--wan";
			av[n++] = "listen";
		}
		if (edge) {
			av[n++] = "--stats";
			av[n++] = p->stats;
		}
		if (verb)
			av[n++] = (char *)verb;
		av[n] = NULL;
		snprintf(what, sizeof what, "%s %s relay", p->name, edge ? "edge" : "center");
		int port = spawn_server(bin, av, what);
		if (port < 0)
			return -1;
		cli_info("relay: %s listens on 127.0.0.1:%d", what, port);
		snprintf(conn, sizeof conn, "127.0.0.1:%d", port);
		if (edge)
			return port;
	}
	return -1;
}

/* bytes out per byte in, toward the center, from the edge relay's last
 * statistics line; -1 when unknown. */
static double wire_ratio(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[4096], last[4096] = "";
	while (fgets(line, sizeof line, f))
		if (strstr(line, "\"final\":true"))
			snprintf(last, sizeof last, "%s", line);
	fclose(f);
	const char *up = strstr(last, "\"up\":{");
	if (!up)
		return -1;
	const char *bi = strstr(up, "\"bytes_in\":"), *bo = strstr(up, "\"bytes_out\":");
	if (!bi || !bo)
		return -1;
	double in = strtod(bi + 11, NULL), out = strtod(bo + 12, NULL);
	return in > 0 ? out / in : -1;
}

static void fill_data(uint8_t *b, int kind)
{
	gx_rng r;
	gx_rng_seed(&r, 1);
	for (size_t i = 0; i < DATA_BYTES; i += 4) {
		float v;
		uint32_t u;
		if (kind == D_RANDOM) {
			u = (uint32_t)gx_rng_next(&r);
		} else {
			v = kind == D_NORMAL || gx_rng_float(&r) < 0.01f ? gx_rng_normal(&r) : 0.0f;
			memcpy(&u, &v, 4);
		}
		b[i] = (uint8_t)u;
		b[i + 1] = (uint8_t)(u >> 8);
		b[i + 2] = (uint8_t)(u >> 16);
		b[i + 3] = (uint8_t)(u >> 24);
	}
}

/* ------------------------------------------------------------------- run */

static void print_result(const struct ropts *o, size_t reps)
{
	static const char *const dn[] = { "normal", "sparse", "random" };
	double tcp = bench_median(paths[0].mbps, reps);
	if (!o->json)
		printf("path\trelays\tdata\tbytes\treps\tmbps\tx_tcp\twire_per_byte\n");
	for (int i = 0; i < NPATH; i++) {
		struct path *p = &paths[i];
		if (!p->on)
			continue;
		double m = bench_median(p->mbps, reps);
		if (o->json)
			printf("{\"path\":\"%s\",\"relays\":%d,\"data\":\"%s\",\"bytes\":%llu,\"reps\":%zu,"
			       "\"mbps\":%.1f,\"x_tcp\":%.3f,\"wire_per_byte\":%.4f}\n",
			       p->name, p->relay ? 2 : 0, dn[o->data], (unsigned long long)o->size, reps,
			       m, m / tcp, p->relay ? p->wire : 1.0);
		else
			printf("%s\t%d\t%s\t%llu\t%zu\t%.1f\t%.3f\t%.4f\n", p->name, p->relay ? 2 : 0,
			       dn[o->data], (unsigned long long)o->size, reps, m, m / tcp,
			       p->relay ? p->wire : 1.0);
	}
}

static int run(const struct ropts *o)
{
	int rc = CLI_FAIL, sink = -1, relays_ok = -1;
	char binbuf[4096], dir[] = "/tmp/geomx-bench-relay.XXXXXX", keybuf[4200];
	const char *bin = find_program(o->relay_bin, "RELAY", "geomx-relay", binbuf, sizeof binbuf);
	uint8_t *rbuf = malloc(o->chunk);
	const char *key = o->key_file;
	int have_dir = 0;
	size_t reps = (size_t)o->repeat;

	wr_data = malloc(DATA_BYTES);
	int oom = !rbuf || !wr_data;
	for (int i = 0; i < NPATH; i++)
		oom |= !(paths[i].mbps = calloc(reps, sizeof(double)));
	if (oom) {
		cli_error("relay: out of memory");
		goto out;
	}
	if (strchr(bin, '/') && access(bin, X_OK) != 0) {
		cli_error("relay: cannot run %s: %s (see --relay-bin)", bin, strerror(errno));
		goto out;
	}
	fill_data(wr_data, o->data);
	if (!mkdtemp(dir)) {
		cli_error("relay: cannot make a temporary folder: %s", strerror(errno));
		goto out;
	}
	have_dir = 1;
	if (!key) {
		char err[512];
		snprintf(keybuf, sizeof keybuf, "%s/job.key", dir);
		if (gx_key_generate(keybuf, err, sizeof err) != 0) {
			cli_error("relay: %s", err);
			goto out;
		}
		key = keybuf;
	}

	if (watch_stop_signals(relay_sig_main)) {
		cli_error("relay: cannot start a thread");
		goto out;
	}

	/* The sink: where every path ends. */
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sink = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sink < 0 || bind(sink, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(sink, 16) != 0 ||
	    getsockname(sink, (struct sockaddr *)&sa, &sl) != 0) {
		cli_error("relay: cannot listen on 127.0.0.1: %s", strerror(errno));
		goto out;
	}
	int sink_port = ntohs(sa.sin_port);

	for (int i = 0; i < NPATH && !atomic_load(&got_sig); i++) {
		struct path *p = &paths[i];
		if (!p->on)
			continue;
		int port = sink_port;
		if (p->relay && (port = start_pair(p, bin, sink_port, key, dir, o->zstd_arg)) < 0)
			goto out;
		if (path_open(p, sink, port))
			goto out;
	}
	if (atomic_load(&got_sig))
		goto out;
	if (writer_start(&wr, "brelay-writer", wr_data, DATA_BYTES, o->chunk) != 0) {
		cli_error("relay: cannot start the writer thread");
		goto out;
	}

	/* Warm-up: connections, socket buffers, the relays' pools. */
	uint64_t warm = o->size < (32u << 20) ? o->size : (32u << 20);
	for (int i = 0; i < NPATH; i++)
		if (paths[i].on && transfer(&paths[i], warm, rbuf, o->chunk) < 0)
			goto out;
	for (size_t s = 0; s < reps; s++) {
		for (int i = 0; i < NPATH; i++) {
			struct path *p = &paths[i];
			if (!p->on)
				continue;
			double t = transfer(p, o->size, rbuf, o->chunk);
			if (t < 0)
				goto out;
			p->mbps[s] = (double)o->size / t / 1e6;
			cli_info("relay: sample %zu: %s %.1f MB/s", s, p->name, p->mbps[s]);
		}
	}

	/* The end: every stream closed, the relays stopped; they must exit 0
	 * and leave their final statistics. */
	for (int i = 0; i < NPATH; i++) {
		path_finish(&paths[i], rbuf, o->chunk);
		path_close(&paths[i]);
	}
	kill_kids(SIGTERM);
	relays_ok = reap_kids(0, STOP_TIMEOUT);
	if (relays_ok != 0)
		goto out;
	for (int i = 0; i < NPATH; i++)
		if (paths[i].on && paths[i].relay)
			paths[i].wire = wire_ratio(paths[i].stats);
	print_result(o, reps);
	if (fflush(stdout) || ferror(stdout)) {
		cli_error("write error on stdout: %s", strerror(errno));
		goto out;
	}
	rc = CLI_OK;
out:
	if (relays_ok < 0)
		reap_kids(SIGTERM, KILL_TIMEOUT);
	writer_stop(&wr);
	for (int i = 0; i < NPATH; i++) {
		path_close(&paths[i]);
		if (paths[i].stats[0])
			unlink(paths[i].stats);
		free(paths[i].mbps);
		paths[i].mbps = NULL;
	}
	if (sink >= 0)
		close(sink);
	if (have_dir) {
		if (key == keybuf)
			unlink(keybuf);
		rmdir(dir);
	}
	free(rbuf);
	free(wr_data);
	int sig = atomic_load(&got_sig);
	if (sig) {
		fflush(stdout);
		signal(sig, SIG_DFL);
		pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
		raise(sig);
		_exit(128 + sig);
	}
	return rc;
}

/* --------------------------------------------------------------- options */

enum {
	OPT_SIZE = 256, OPT_REPEAT, OPT_CHUNK, OPT_DATA, OPT_PATHS, OPT_FORMAT, OPT_BIN, OPT_KEY,
	OPT_ZLEVEL
};

static const struct option relay_long[] = {
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "chunk", required_argument, NULL, OPT_CHUNK },
	{ "data", required_argument, NULL, OPT_DATA },
	{ "paths", required_argument, NULL, OPT_PATHS },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "relay-bin", required_argument, NULL, OPT_BIN },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "zstd-level", required_argument, NULL, OPT_ZLEVEL },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void relay_help(void)
{
	printf("Usage: %s relay [OPTION]...\n"
	       "Measure the throughput of one TCP stream through pairs of geomx-relay\n"
	       "processes on loopback (an edge relay and a center relay), against a plain TCP\n"
	       "stream on 127.0.0.1 measured in the same run. The samples of the paths take\n"
	       "turns and the medians are compared.\n"
	       "\n"
	       "Paths: tcp (the baseline), plain (relays without options), secure (--key:\n"
	       "the edge relay seals, the center relay opens), zstd (--zstd at both),\n"
	       "secure+zstd.\n"
	       "\n"
	       "  -s, --size BYTES    bytes per sample; 1e8, 256Mi accepted (default: 256Mi)\n"
	       "      --repeat N      samples of each path, taking turns (default: %d)\n"
	       "      --chunk BYTES   bytes per send and per recv of the stream (default: 256Ki)\n"
	       "      --data KIND     what is sent: normal (float32 N(0,1), the default),\n"
	       "                      sparse (99%% zeros), random (incompressible)\n"
	       "      --paths LIST    the relay paths to measure besides tcp, comma-separated\n"
	       "                      (default: plain,secure,zstd,secure+zstd)\n"
	       "      --key FILE      the relays' key file (default: a new one, removed after)\n"
	       "      --zstd-level N  the zstd paths' level, 1..19 (default: the relays')\n"
	       "      --format FMT    tsv (with a header line) or json (default: tsv)\n"
	       "      --relay-bin PATH  the geomx-relay program (default: $GEOMX_RELAY, else\n"
	       "                      the one next to this program, else geomx-relay in PATH)\n"
	       "  -q, --quiet         fewer messages on stderr (relays: errors only)\n"
	       "  -v, --verbose       more messages on stderr (each sample)\n"
	       "  -h, --help          show this help and exit\n"
	       "  -V, --version       show the version and exit\n"
	       "\n"
	       "Columns: path relays data bytes reps mbps x_tcp wire_per_byte (mbps: payload\n"
	       "bytes per second, in 10^6; x_tcp: mbps / the tcp path's mbps; wire_per_byte:\n"
	       "the bytes the edge relay sent toward the center per payload byte, from its\n"
	       "statistics: above 1 for record overhead, below 1 when zstd compresses).\n",
	       cli_prog, DEF_REPEAT);
}

int cmd_relay(int argc, char **argv)
{
	struct ropts o;
	memset(&o, 0, sizeof o);
	o.size = DEF_SIZE;
	o.repeat = DEF_REPEAT;
	o.chunk = DEF_CHUNK;
	o.data = D_NORMAL;
	o.zstd_arg = "--zstd";
	char zarg[24];
	int c;
	long lv;
	uint64_t uv;
	while ((c = getopt_long(argc, argv, "s:qvhV", relay_long, NULL)) != -1) {
		switch (c) {
		case 's':
		case OPT_SIZE:
			if (cli_parse_count(optarg, &o.size) || o.size < (1u << 20) ||
			    o.size > (1ull << 40))
				cli_usage_error("invalid --size '%s' (want 1Mi to 1Ti bytes)", optarg);
			break;
		case OPT_REPEAT:
			if (cli_parse_int(optarg, 1, 1000, &lv))
				cli_usage_error("invalid --repeat '%s' (want 1 to 1000)", optarg);
			o.repeat = lv;
			break;
		case OPT_CHUNK:
			if (cli_parse_count(optarg, &uv) || uv < 1024 || uv > (64u << 20))
				cli_usage_error("invalid --chunk '%s' (want 1Ki to 64Mi bytes)", optarg);
			o.chunk = (size_t)uv;
			break;
		case OPT_DATA:
			if (!strcmp(optarg, "normal"))
				o.data = D_NORMAL;
			else if (!strcmp(optarg, "sparse"))
				o.data = D_SPARSE;
			else if (!strcmp(optarg, "random"))
				o.data = D_RANDOM;
			else
				cli_usage_error("invalid --data '%s' (want normal, sparse or random)",
						optarg);
			break;
		case OPT_PATHS: {
			for (int i = 1; i < NPATH; i++)
				paths[i].on = 0;
			char buf[256];
			snprintf(buf, sizeof buf, "%s", optarg);
			for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
			     t = strtok_r(NULL, ",", &save)) {
				int found = 0;
				for (int i = 1; i < NPATH; i++)
					if (!strcmp(t, paths[i].name))
						paths[i].on = found = 1;
				if (!found)
					cli_usage_error("invalid --paths '%s' (want some of plain, secure, "
							"zstd, secure+zstd)", optarg);
			}
			break;
		}
		case OPT_ZLEVEL:
			if (cli_parse_int(optarg, 1, 19, &lv))
				cli_usage_error("invalid --zstd-level '%s' (want 1 to 19)", optarg);
			snprintf(zarg, sizeof zarg, "--zstd=%ld", lv);
			o.zstd_arg = zarg;
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "json"))
				o.json = 1;
			else if (!strcmp(optarg, "tsv"))
				o.json = 0;
			else
				cli_usage_error("invalid --format '%s' (want tsv or json)", optarg);
			break;
		case OPT_BIN:
			if (!*optarg)
				cli_usage_error("invalid --relay-bin '' (want a program)");
			o.relay_bin = optarg;
			break;
		case OPT_KEY: {
			/* Checked here, as the relays will, so a bad file is a usage
			 * error before anything starts. */
			gx_key k;
			cli_load_key(optarg, &k);
			explicit_bzero(&k, sizeof k);
			o.key_file = optarg;
			break;
		}
		case 'q':
			if (cli_verbosity > 0)
				cli_verbosity--;
			break;
		case 'v':
			cli_verbosity++;
			break;
		case 'h':
			relay_help();
			return CLI_OK;
		case 'V':
			cli_print_version();
			return CLI_OK;
		default:
			cli_bad_option();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	return run(&o);
}
