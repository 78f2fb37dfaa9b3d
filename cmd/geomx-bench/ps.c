/*
 * ps.c — `geomx-bench ps`: push+pull throughput of a real HiPS topology on
 * loopback, as a ratio to a plain TCP stream measured in the same run.
 *
 * The topology is made of real programs: N global servers and P local
 * servers are `geomx-ps` processes (found next to this program, or by
 * GEOMX_PS / --ps-bin), each listening on 127.0.0.1:0 and telling its port
 * on standard output. The W workers are threads of this process, each with
 * its own gx_kv client (its own connection and I/O thread), so the timing
 * is taken where the work is, without a process start or a pipe in it.
 *
 * Measurement: after a warm-up round (and, under --min-time, a round that
 * sizes the run), the timed rounds are cut into --repeat samples. Each PS
 * sample (all workers doing R rounds of: push+pull every key, then wait) is
 * followed by a TCP sample that streams the same number of bytes over one
 * loopback connection, writer thread to reader thread, in chunks of one
 * tensor. The figures are the medians of the samples; x_tcp is the ratio
 * of the two medians. Afterwards every worker's parameters are checked
 * against the SGD updates the rounds must have made, so a topology that
 * does nothing cannot look fast.
 *
 * Processes: children get SIGKILL when this program dies (PR_SET_PDEATHSIG),
 * SIGINT/SIGTERM/SIGHUP are taken by a thread of their own (sigwait) which
 * stops the children; every path reaps them. See geomx-bench(1), "ps".
 *
 * The children and the signal thread are in ps_procs.c, the TCP baseline
 * in ps_tcp.c; ps_internal.h is what the three share.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../cli.h"
#include "geomx.h"
#include "ps_internal.h"
#include "ps_opts.h"



/* ---------------------------------------------------------------- timing */

double bench_median(double *v, size_t n); /* cmd/geomx-bench.c; sorts v */

/* ----------------------------------------------------------- the workers */

struct worker {
	pthread_t th;
	int started;
	int idx;
	uint32_t party, rank;
	char addr[64];  /* its local server */
	char who[32];   /* "worker P/R" */
	float **params; /* [keys] */
	float **grads;  /* [keys] */
	gx_kv_req *reqs;
	uint64_t bytes_out, bytes_in;
	long rounds_done;
	double t_end;
};

/* The main thread's orders to the workers, and their answers. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	unsigned gen;   /* incremented per order */
	long rounds;    /* rounds of the current order */
	int quit;       /* the order is: say goodbye */
	int ndone;      /* workers done with the current order */
	int failed;     /* some worker failed */
} ctl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
	 0, 0, 0, 0, 0};

void ctl_wake(void)
{
	pthread_mutex_lock(&ctl.mu);
	pthread_cond_broadcast(&ctl.done);
	pthread_mutex_unlock(&ctl.mu);
}


static const struct popts *g_o;
static const float *g_init; /* [keys * size]: every worker's initial values */
/* The run is being abandoned after a failure that has been reported: the
 * workers' follow-on errors (connections closing) are not worth a line. */
static atomic_int aborting;

/* Nonzero when a worker's error is news (not the echo of a stop). */
static int loud(void)
{
	return !atomic_load(&got_sig) && !atomic_load(&aborting);
}

/* cli_log, but quiet once the run is being abandoned (follow-on errors). */
static void log_line(void *ud, int level, const char *msg)
{
	if (level <= GX_LOG_WARN && !loud())
		return;
	cli_log(ud, level, msg);
}

/* Worker j's gradient of key k (the same every round): multiples of 1/64,
 * as geomx-bench worker's at round 0 with p and w folded into j. */
static float grad(uint64_t i, uint64_t k, uint64_t j)
{
	return (float)((int)((i * 7 + k * 13 + j * 3) % 64) - 32) / 64.0f;
}

static void finish_order(struct worker *w, int failed)
{
	w->t_end = cli_now();
	pthread_mutex_lock(&ctl.mu);
	ctl.ndone++;
	if (failed)
		ctl.failed = 1;
	pthread_cond_broadcast(&ctl.done);
	pthread_mutex_unlock(&ctl.mu);
}

static int do_rounds(struct worker *w, gx_kv *kv, long rounds)
{
	size_t nk = g_o->keys;
	for (long r = 0; r < rounds; r++) {
		for (size_t k = 0; k < nk; k++) {
			w->reqs[k] = gx_kv_pushpull_borrowed(kv, (uint32_t)k, w->grads[k], w->params[k],
							     (int)k);
			if (w->reqs[k] < 0) {
				if (loud())
					cli_error("ps: %s: key %zu: %s", w->who, k,
						  gx_strerror((int)w->reqs[k]));
				return -1;
			}
		}
		for (size_t k = 0; k < nk; k++) {
			int e = gx_kv_wait(kv, w->reqs[k]);
			if (e) {
				if (loud())
					cli_error("ps: %s: key %zu: %s", w->who, k, gx_strerror(e));
				return -1;
			}
		}
		w->rounds_done++;
	}
	return 0;
}

static void *worker_main(void *ud)
{
	struct worker *w = ud;
	const struct popts *o = g_o;
	size_t nk = o->keys;
	uint32_t *keys = malloc(nk * sizeof *keys);
	uint64_t *counts = malloc(nk * sizeof *counts);
	gx_kv *kv = NULL;
	int e, failed = 1;

	if (!keys || !counts) {
		cli_error("ps: %s: out of memory", w->who);
		goto fail;
	}
	for (size_t k = 0; k < nk; k++) {
		keys[k] = (uint32_t)k;
		counts[k] = o->size;
		memcpy(w->params[k], g_init + k * o->size, o->size * sizeof(float));
	}
	gx_kv_opts ko;
	gx_kv_opts_default(&ko);
	ko.servers = w->addr;
	ko.rank = w->rank;
	ko.party = w->party;
	ko.connect_timeout = atof(CONNECT_TIMEOUT);
	uint8_t wk[32]; /* the worker's own key, from the job's */
	ko.psk = cli_worker_key(o->key_file ? &o->key : NULL, w->party, w->rank, wk);
	ko.log = log_line;
	ko.log_ud = w->who;
	/* Thread names for profiles: the client's I/O thread inherits this
	 * one's name when it is created, then the worker takes its own. */
	pthread_setname_np(pthread_self(), "bps-kv-io");
	kv = gx_kv_connect(&ko, &e);
	pthread_setname_np(pthread_self(), "bps-worker");
	if (!kv) {
		if (loud())
			cli_error("ps: %s: cannot connect to %s: %s", w->who, w->addr, gx_strerror(e));
		goto fail;
	}
	e = gx_kv_init(kv, nk, keys, counts, w->params);
	if (e) {
		if (loud())
			cli_error("ps: %s: init failed: %s", w->who, gx_strerror(e));
		goto fail;
	}
	finish_order(w, 0);

	unsigned seen = 0;
	for (;;) {
		pthread_mutex_lock(&ctl.mu);
		while (ctl.gen == seen)
			pthread_cond_wait(&ctl.go, &ctl.mu);
		seen = ctl.gen;
		long rounds = ctl.rounds;
		int quit = ctl.quit;
		pthread_mutex_unlock(&ctl.mu);
		if (quit && atomic_load(&aborting))
			goto fail; /* no goodbye to servers that are being stopped */
		if (quit)
			break;
		if (do_rounds(w, kv, rounds))
			goto fail;
		finish_order(w, 0);
	}
	gx_kv_stats(kv, &w->bytes_out, &w->bytes_in);
	e = gx_kv_close(kv);
	kv = NULL;
	if (e) {
		if (loud())
			cli_error("ps: %s: goodbye failed: %s", w->who, gx_strerror(e));
		goto fail;
	}
	failed = 0;
fail:
	gx_kv_free(kv);
	free(keys);
	free(counts);
	finish_order(w, failed);
	return NULL;
}

/* Waits, with ctl.mu held (and released on return), until n workers are
 * done with the current order. When one fails the servers are stopped, so
 * that the others' waits end too. Returns 0, or -1 (a failure, a signal). */
static int wait_done(int n)
{
	int stopped = 0;
	while (ctl.ndone < n && !atomic_load(&got_sig)) {
		if (ctl.failed && !stopped) {
			pthread_mutex_unlock(&ctl.mu);
			atomic_store(&aborting, 1);
			kill_kids(SIGTERM);
			pthread_mutex_lock(&ctl.mu);
			stopped = 1;
			continue;
		}
		pthread_cond_wait(&ctl.done, &ctl.mu);
	}
	int bad = ctl.failed || atomic_load(&got_sig);
	pthread_mutex_unlock(&ctl.mu);
	return bad ? -1 : 0;
}

/* Gives the workers an order and waits until all are done with it (see
 * wait_done). Returns the time from the order to the last worker done, or
 * -1. */
static double order(struct worker *ws, int n, long rounds, int quit)
{
	pthread_mutex_lock(&ctl.mu);
	ctl.ndone = 0;
	ctl.rounds = rounds;
	ctl.quit = quit;
	ctl.gen++;
	double t0 = cli_now();
	pthread_cond_broadcast(&ctl.go);
	if (wait_done(n))
		return -1;
	double t1 = t0;
	for (int i = 0; i < n; i++)
		if (ws[i].t_end > t1)
			t1 = ws[i].t_end;
	return t1 - t0;
}

/* Waits for the workers' first answer (connected, model registered). */
static int wait_ready(int n)
{
	pthread_mutex_lock(&ctl.mu);
	return wait_done(n);
}

/* -------------------------------------------------------------- checking */

/* Every worker must end with identical parameters, equal to the SGD steps
 * the rounds made: w = w0 - n * lr * mean_j(g_j), where each step rounds in
 * float32 (exact while the values stay multiples of 2^-12 under 2^12). */
static int check_params(const struct popts *o, struct worker *ws)
{
	long n = ws[0].rounds_done;
	for (int j = 1; j < o->workers; j++)
		if (ws[j].rounds_done != n) {
			cli_error("ps: %s did %ld rounds, %s %ld", ws[j].who, ws[j].rounds_done,
				  ws[0].who, n);
			return -1;
		}
	for (size_t k = 0; k < o->keys; k++) {
		for (int j = 1; j < o->workers; j++)
			if (memcmp(ws[j].params[k], ws[0].params[k], o->size * sizeof(float))) {
				cli_error("ps: key %zu: %s and %s hold different parameters", k,
					  ws[0].who, ws[j].who);
				return -1;
			}
		const float *w0 = g_init + k * o->size, *w = ws[0].params[k];
		for (uint64_t i = 0; i < o->size; i++) {
			double m = 0;
			for (int j = 0; j < o->workers; j++)
				m += grad(i, k, (uint64_t)j);
			m /= o->workers;
			double want = (double)w0[i] - (double)n * (double)LR * m;
			double tol = (1 + fabs(want)) * (1e-6 + (double)n * 1.2e-7);
			if (!(fabs((double)w[i] - want) <= tol)) {
				cli_error("ps: key %zu, element %llu after %ld rounds: %.9g, want %.9g "
					  "(the servers did not apply the updates)",
					  k, (unsigned long long)i, n, (double)w[i], want);
				return -1;
			}
		}
	}
	uint64_t payload = (uint64_t)n * o->keys * o->size * 4;
	for (int j = 0; j < o->workers; j++)
		if (ws[j].bytes_out < payload || ws[j].bytes_in < payload) {
			cli_error("ps: %s: %llu bytes out and %llu in, less than the %llu of payload",
				  ws[j].who, (unsigned long long)ws[j].bytes_out,
				  (unsigned long long)ws[j].bytes_in, (unsigned long long)payload);
			return -1;
		}
	return 0;
}

/* ------------------------------------------------------------------ run */

static void print_result(const struct popts *o, long rounds, size_t reps, double round_ms,
			 double ps_mbps, double tcp_mbps, double chain_mbps, double sf_mbps,
			 double block_mbps, double opt_mbps, uint64_t bpr)
{
	double x = ps_mbps / tcp_mbps, xc = ps_mbps / chain_mbps, xs = ps_mbps / sf_mbps;
	double xb = ps_mbps / block_mbps, xo = ps_mbps / opt_mbps;
	if (o->json)
		printf("{\"workers\":%d,\"keys\":%zu,\"size\":%llu,\"parties\":%d,\"servers\":%d,"
		       "\"rounds\":%ld,\"reps\":%zu,\"round_ms\":%.4f,\"rounds_per_s\":%.2f,"
		       "\"ps_mbps\":%.1f,\"tcp_mbps\":%.1f,\"x_tcp\":%.3f,\"chain_mbps\":%.1f,"
		       "\"x_chain\":%.3f,\"bytes_per_round\":%llu,\"sf_mbps\":%.1f,\"x_sf\":%.3f,"
		       "\"block_mbps\":%.1f,\"x_block\":%.3f,\"opt_mbps\":%.1f,\"x_opt\":%.3f}\n",
		       o->workers, o->keys, (unsigned long long)o->size, o->parties, o->servers,
		       rounds, reps, round_ms, 1000 / round_ms, ps_mbps, tcp_mbps, x, chain_mbps, xc,
		       (unsigned long long)bpr, sf_mbps, xs, block_mbps, xb, opt_mbps, xo);
	else
		printf("workers\tkeys\tsize\tparties\tservers\trounds\treps\tround_ms\trounds_per_s\t"
		       "ps_mbps\ttcp_mbps\tx_tcp\tchain_mbps\tx_chain\tbytes_per_round\tsf_mbps\tx_sf\t"
		       "block_mbps\tx_block\topt_mbps\tx_opt\n"
		       "%d\t%zu\t%llu\t%d\t%d\t%ld\t%zu\t%.4f\t%.2f\t%.1f\t%.1f\t%.3f\t%.1f\t%.3f\t%llu"
		       "\t%.1f\t%.3f\t%.1f\t%.3f\t%.1f\t%.3f\n",
		       o->workers, o->keys, (unsigned long long)o->size, o->parties, o->servers,
		       rounds, reps, round_ms, 1000 / round_ms, ps_mbps, tcp_mbps, x, chain_mbps, xc,
		       (unsigned long long)bpr, sf_mbps, xs, block_mbps, xb, opt_mbps, xo);
}

int ps_run(const struct popts *o)
{
	int rc = CLI_FAIL, nw = o->workers;
	char binbuf[4096], addr[64];
	const char *bin = find_program(o->ps_bin, "PS", "geomx-ps", binbuf, sizeof binbuf);
	struct worker *ws = calloc((size_t)nw, sizeof *ws);
	float *init = malloc(o->keys * o->size * sizeof(float));
	char *upstream = malloc((size_t)o->servers * 24 + 1);
	double *ps_s = calloc((size_t)o->repeat, sizeof *ps_s);
	double *tcp_s = calloc((size_t)o->repeat, sizeof *tcp_s);
	double *chain_s = calloc((size_t)o->repeat, sizeof *chain_s);
	double *sf_s = calloc((size_t)o->repeat, sizeof *sf_s);
	double *block_s = calloc((size_t)o->repeat, sizeof *block_s);
	double *opt_s = calloc((size_t)o->repeat, sizeof *opt_s);
	double *ms_s = calloc((size_t)o->repeat, sizeof *ms_s);
	int nstarted = 0, children_ok = -1;

	if (!ws || !init || !upstream || !ps_s || !tcp_s || !chain_s || !sf_s || !block_s || !opt_s ||
	    !ms_s)
		goto oom;
	if (strchr(bin, '/') && access(bin, X_OK) != 0) {
		cli_error("ps: cannot run %s: %s (see --ps-bin)", bin, strerror(errno));
		goto out;
	}
	g_o = o;
	g_init = init;

	/* Initial values: multiples of 2^-12 in [-1, 1), the same for all. */
	gx_rng rng;
	gx_rng_seed(&rng, DEF_SEED);
	for (uint64_t i = 0; i < o->keys * o->size; i++)
		init[i] = (float)((int)gx_rng_below(&rng, 8192) - 4096) / 4096.0f;
	for (int j = 0; j < nw; j++) {
		struct worker *w = &ws[j];
		w->idx = j;
		w->party = (uint32_t)(j % o->parties);
		w->rank = (uint32_t)(j / o->parties);
		snprintf(w->who, sizeof w->who, "worker %u/%u", w->party, w->rank);
		w->params = calloc(o->keys, sizeof *w->params);
		w->grads = calloc(o->keys, sizeof *w->grads);
		w->reqs = calloc(o->keys, sizeof *w->reqs);
		if (!w->params || !w->grads || !w->reqs)
			goto oom;
		for (size_t k = 0; k < o->keys; k++) {
			w->params[k] = malloc(o->size * sizeof(float));
			w->grads[k] = malloc(o->size * sizeof(float));
			if (!w->params[k] || !w->grads[k])
				goto oom;
			for (uint64_t i = 0; i < o->size; i++)
				w->grads[k][i] = grad(i, k, (uint64_t)j);
		}
	}

	/* Signals: blocked everywhere (threads inherit the mask; the children
	 * get an empty one before exec), taken by one thread. */
	if (watch_stop_signals(sig_main)) {
		cli_error("ps: cannot start a thread");
		goto out;
	}

	/* The servers: globals, then locals pointed at them. */
	const char *verb = cli_verbosity == 0 ? "-q" : cli_verbosity >= 3 ? "-v" : NULL;
	char sparties[16], sp[16], swk[16], ssplit[24], sblock[16];
	snprintf(sparties, sizeof sparties, "%d", o->parties);
	snprintf(sblock, sizeof sblock, "%u", o->block);
	snprintf(ssplit, sizeof ssplit, "%llu", (unsigned long long)o->split_bound);
	upstream[0] = '\0';
	/* --key FILE or --insecure, and the verbosity flag (optional), at the end */
	const char *kf = o->key_file;
	char *kv1 = (char *)(kf ? "--key" : "--insecure"), *kv2 = (char *)(kf ? kf : verb),
	     *kv3 = (char *)(kf ? verb : NULL);
	for (int s = 0; s < o->servers && !atomic_load(&got_sig); s++) {
		char what[24];
		snprintf(what, sizeof what, "global %d", s);
		char *av[] = {(char *)bin, "--role", "global", "--parties", sparties, "--listen",
			      "127.0.0.1:0", "--optimizer", "sgd", "--lr", LR_ARG, "--block", sblock,
			      "--connect-timeout", CONNECT_TIMEOUT, kv1, kv2, kv3, NULL};
		int port = spawn_server(bin, av, what);
		if (port < 0)
			goto out;
		cli_info("ps: %s listens on 127.0.0.1:%d", what, port);
		sprintf(upstream + strlen(upstream), "%s127.0.0.1:%d", s ? "," : "", port);
	}
	for (int p = 0; p < o->parties && !atomic_load(&got_sig); p++) {
		char what[24];
		snprintf(what, sizeof what, "local %d", p);
		snprintf(sp, sizeof sp, "%d", p);
		snprintf(swk, sizeof swk, "%d", nw / o->parties + (p < nw % o->parties));
		char *av[] = {(char *)bin, "--role", "local", "--party", sp, "--workers", swk,
			      "--listen", "127.0.0.1:0", "--upstream", upstream, "--split-bound",
			      ssplit, "--connect-timeout", CONNECT_TIMEOUT, kv1, kv2, kv3, NULL};
		int port = spawn_server(bin, av, what);
		if (port < 0)
			goto out;
		cli_info("ps: %s listens on 127.0.0.1:%d", what, port);
		snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
		for (int j = p; j < nw; j += o->parties)
			snprintf(ws[j].addr, sizeof ws[j].addr, "%s", addr);
	}
	if (atomic_load(&got_sig))
		goto out;

	uint64_t bpr = (uint64_t)nw * o->keys * o->size * 4 * 2; /* bytes per round */
	/* The chain's pieces for the servers' own design: their block, or a
	 * whole tensor where tensors travel whole. */
	uint64_t piece = (uint64_t)(o->block && o->block < o->size ? o->block : o->size) * 4;
	if (tcp_setup((size_t)o->size * 4) || chain_setup((size_t)o->size * 4, (size_t)(bpr / 2)))
		goto out;

	for (int j = 0; j < nw; j++) {
		if (pthread_create(&ws[j].th, NULL, worker_main, &ws[j]) != 0) {
			cli_error("ps: cannot start a worker thread");
			kill_kids(SIGTERM);
			goto out;
		}
		ws[j].started = 1;
		nstarted++;
	}
	if (wait_ready(nw))
		goto out;
	cli_info("ps: %d worker(s) ready, %zu key(s) of %llu floats", nw, o->keys,
		 (unsigned long long)o->size);

	/* Warm-up: one round each (buffers, page faults, socket buffers grow). */
	double t = order(ws, nw, 1, 0);
	if (t < 0 || tcp_transfer(bpr) < 0 || chain_rounds(1, bpr / 2, 0, 0) < 0 ||
	    chain_rounds(1, bpr / 2, bpr / 2, 0) < 0 || chain_rounds(1, bpr / 2, piece, 0) < 0 ||
	    chain_rounds(1, bpr / 2, piece, 1) < 0)
		goto out;
	if (cli_verbosity >= 2) {
		int sb = 0, rb = 0;
		socklen_t l1 = sizeof sb, l2 = sizeof rb;
		getsockopt(tcp_fds[0], SOL_SOCKET, SO_SNDBUF, &sb, &l1);
		getsockopt(tcp_fds[1], SOL_SOCKET, SO_RCVBUF, &rb, &l2);
		cli_info("ps: baseline socket buffers after the warm-up (kernel autotuning): "
			 "send %d, receive %d bytes", sb, rb);
	}
	long total = o->rounds;
	if (total <= 0) {
		t = order(ws, nw, 1, 0); /* a second round, to size the run */
		if (t < 0)
			goto out;
		double want = ceil(o->min_time / (t > 1e-6 ? t : 1e-6));
		total = want > MAX_AUTO_ROUNDS ? MAX_AUTO_ROUNDS : (long)want;
		if (total < o->repeat)
			total = o->repeat;
		cli_info("ps: a round took %.3f ms: %ld timed rounds", t * 1e3, total);
	}
	size_t reps = (size_t)(total < o->repeat ? total : o->repeat);
	for (size_t i = 0; i < reps; i++) {
		long r = total / (long)reps + ((long)i < total % (long)reps);
		double tp = order(ws, nw, r, 0);
		if (tp < 0)
			goto out;
		double tt = tcp_transfer((uint64_t)r * bpr);
		if (tt < 0)
			goto out;
		double tc = chain_rounds(r, bpr / 2, 0, 0);
		if (tc < 0)
			goto out;
		double tf = chain_rounds(r, bpr / 2, bpr / 2, 0);
		if (tf < 0)
			goto out;
		double tb = chain_rounds(r, bpr / 2, piece, 0);
		if (tb < 0)
			goto out;
		double to = chain_rounds(r, bpr / 2, piece, 1);
		if (to < 0)
			goto out;
		ps_s[i] = (double)r * (double)bpr / tp / 1e6;
		tcp_s[i] = (double)r * (double)bpr / tt / 1e6;
		chain_s[i] = (double)r * (double)bpr / tc / 1e6;
		sf_s[i] = (double)r * (double)bpr / tf / 1e6;
		block_s[i] = (double)r * (double)bpr / tb / 1e6;
		opt_s[i] = (double)r * (double)bpr / to / 1e6;
		ms_s[i] = tp * 1e3 / (double)r;
		cli_info("ps: sample %zu: %ld rounds, ps %.1f MB/s, tcp %.1f MB/s, x %.3f, chain "
			 "%.1f MB/s, x %.3f, store-and-forward %.1f MB/s, x %.3f, by blocks %.1f MB/s, "
			 "x %.3f, with an optimizer step %.1f MB/s, x %.3f", i, r, ps_s[i], tcp_s[i],
			 ps_s[i] / tcp_s[i], chain_s[i], ps_s[i] / chain_s[i], sf_s[i],
			 ps_s[i] / sf_s[i], block_s[i], ps_s[i] / block_s[i], opt_s[i],
			 ps_s[i] / opt_s[i]);
	}

	/* Goodbye; then the servers finish by themselves. */
	if (order(ws, nw, 0, 1) < 0)
		goto out;
	for (int j = 0; j < nw; j++)
		if (ws[j].started) {
			pthread_join(ws[j].th, NULL);
			ws[j].started = 0;
		}
	children_ok = reap_kids(0, STOP_TIMEOUT);
	if (children_ok != 0 || check_params(o, ws))
		goto out;
	print_result(o, total, reps, bench_median(ms_s, reps), bench_median(ps_s, reps), bench_median(tcp_s, reps),
		     bench_median(chain_s, reps), bench_median(sf_s, reps),
		     bench_median(block_s, reps), bench_median(opt_s, reps), bpr);
	if (fflush(stdout) || ferror(stdout)) {
		cli_error("write error on stdout: %s", strerror(errno));
		goto out;
	}
	rc = CLI_OK;
	goto out;
oom:
	cli_error("ps: out of memory");
out:
	if (rc != CLI_OK)
		atomic_store(&aborting, 1);
	if (children_ok < 0)
		reap_kids(SIGTERM, KILL_TIMEOUT);
	int sig = atomic_load(&got_sig);
	if (sig) {
		/* The workers may still be waiting on dead servers' connections
		 * (a connect retries for its whole timeout): end now, as the
		 * signal would have, now that no child is left. */
		fflush(stdout);
		signal(sig, SIG_DFL);
		pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
		raise(sig);
		_exit(128 + sig);
	}
	/* The servers are gone: every worker's wait has ended or will; idle
	 * workers are told to leave. */
	pthread_mutex_lock(&ctl.mu);
	ctl.quit = 1;
	ctl.gen++;
	pthread_cond_broadcast(&ctl.go);
	pthread_mutex_unlock(&ctl.mu);
	for (int j = 0; ws && j < nw; j++)
		if (ws[j].started)
			pthread_join(ws[j].th, NULL);
	tcp_teardown();
	chain_teardown();
	for (int j = 0; ws && j < nw; j++) {
		for (size_t k = 0; k < o->keys; k++) {
			if (ws[j].params)
				free(ws[j].params[k]);
			if (ws[j].grads)
				free(ws[j].grads[k]);
		}
		free(ws[j].params);
		free(ws[j].grads);
		free(ws[j].reqs);
	}
	free(ws);
	free(init);
	free(upstream);
	free(ps_s);
	free(tcp_s);
	free(chain_s);
	free(sf_s);
	free(block_s);
	free(opt_s);
	free(ms_s);
	return rc;
}
