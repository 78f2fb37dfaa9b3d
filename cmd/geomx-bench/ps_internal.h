/*
 * ps_internal.h — what the parts of `geomx-bench ps` (and `relay`) share:
 * the benchmark (ps.c, ps_cli.c: ps_opts.h), the children and the signal thread
 * (ps_procs.c) and the TCP baseline (ps_tcp.c). Private to cmd/geomx-bench/.
 */
#ifndef GX_BENCH_PS_INTERNAL_H
#define GX_BENCH_PS_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "stream.h"

#define MAX_PEERS 64     /* workers, parties, global servers */
#define KILL_TIMEOUT 3.0 /* s: after SIGTERM, before SIGKILL */

/* ---- shared state */

/* Owned by ps_procs.c. Guards its table of children and tcp_fds, which the
 * signal thread uses. */
extern pthread_mutex_t kid_mu;
/* Owned by ps_procs.c: the signal taken (0 while none), set by the signal
 * thread only; everyone reads it to tell a stop from a failure. */
extern atomic_int got_sig;
/* Owned by ps_procs.c: SIGINT, SIGTERM, SIGHUP. Filled and blocked by
 * ps.c before the signal thread starts, which then sigwaits on it. */
extern sigset_t stop_sigs;
/* Owned by ps_tcp.c: the baseline's sockets (writer's end, reader's end),
 * -1 when closed; changed under kid_mu, shut down on a signal. */
extern int tcp_fds[2];

/* ---- ps_procs.c: children and signals */

/* Sends sig to every child not yet reaped. */
void kill_kids(int sig);
/* The signal thread (pthread_create it with stop_sigs blocked everywhere). */
void *sig_main(void *ud);
/* Blocks SIGINT, SIGTERM and SIGHUP (stop_sigs) in this thread, which the
 * threads started later inherit (the children get an empty mask before
 * exec), and starts the detached thread main that takes them. 0, or -1
 * (no thread). */
int watch_stop_signals(void *(*main)(void *));
/* The program to run: opt (a --*-bin flag) if set, else $GEOMX_<env>,
 * else name next to this program (/proc/self/exe), else name (PATH). buf
 * (cap bytes) may hold the result. */
const char *find_program(const char *opt, const char *env, const char *name, char *buf, size_t cap);
/* Starts BIN with argv; reads the port it prints on stdout. Returns the
 * port, or -1 (said why; the child, if any, is left to be reaped). */
int spawn_server(const char *bin, char *const *argv, const char *what);
/* Waits for every child until the deadline; then (or at once when sig)
 * signals the rest, SIGTERM then SIGKILL, and reaps them all. Returns 0
 * when every child exited with status 0 by itself. */
int reap_kids(int sig, double timeout);

/* ---- ps.c */

/* Wakes whoever waits on the workers (the signal thread calls it). */
void ctl_wake(void);

/* ---- ps_tcp.c: the TCP baseline */

/* Opens the loopback connection and starts its writer thread; chunk is the
 * bytes per send and per recv. Returns 0, or -1 (said why). */
int tcp_setup(size_t chunk);
/* Streams bytes from the writer thread to the caller; returns the seconds
 * from the order to the last byte read, or -1. */
double tcp_transfer(uint64_t bytes);
/* Stops the writer thread, closes the sockets, frees the buffers. */
void tcp_teardown(void);

/* ---- ps_chain.c: the 4-hop forwarding bound */

/* Opens the chain's two loopback connections (client - forwarder, forwarder
 * - echo) and starts its threads; chunk is the bytes per send and recv of
 * the client, round_max the most bytes of a round each way (what a hop
 * holds store-and-forward). Returns 0, or -1 (said why; chain_teardown
 * cleans up). */
int chain_setup(size_t chunk, size_t round_max);
/* rounds exchanges of bytes each way (the client sends, then reads them
 * back through the four hops; piece, when not 0: each hop passes the
 * round's pieces of that many bytes on only once all of each is in, at
 * most round_max; with step, the echo takes an SGD step on each piece and
 * sends back the parameters); returns the seconds, or -1. */
double chain_rounds(long rounds, uint64_t bytes, uint64_t piece, int step);
/* Shuts the chain's sockets down so blocked calls return (signal thread,
 * under kid_mu). */
void chain_interrupt(void);
/* Stops the threads, closes the sockets, frees the buffers. */
void chain_teardown(void);

#endif
