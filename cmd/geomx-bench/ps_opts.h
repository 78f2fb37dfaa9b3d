/*
 * ps_opts.h — `geomx-bench ps`'s options, defaults and limits, shared by
 * ps_cli.c (parsing, help) and ps.c (the run). Private to cmd/geomx-bench/.
 */
#ifndef GX_BENCH_PS_OPTS_H
#define GX_BENCH_PS_OPTS_H

#include <stddef.h>
#include <stdint.h>

/* Defaults and limits, used by the code and printed by the help text. */
#define DEF_WORKERS 1
#define DEF_KEYS 1
#define DEF_SIZE (1u << 20) /* floats: 4 MB tensors */
#define DEF_PARTIES 1
#define DEF_SERVERS 1
#define DEF_REPEAT 5
#define DEF_MIN_TIME 1.0 /* seconds of PS rounds, all samples together */
#define DEF_SEED 1
#define LR 0.015625f     /* 1/64: SGD steps stay exact in float32 for long */
#define LR_ARG "0.015625"
#define MAX_KEYS 65536
#define MAX_FLOATS (1ull << 26)  /* per key: one frame stays under the payload limit */
#define MAX_TOTAL (1ull << 27)   /* floats over workers and keys (512 MB per copy) */
#define MAX_ROUNDS 100000000L
#define MAX_AUTO_ROUNDS 10000000L
#define STOP_TIMEOUT 10.0    /* s: the servers finish after the goodbyes */
#define CONNECT_TIMEOUT "10" /* s: servers' and workers' connect timeout */

/* The options of a run. */
struct popts {
	int workers, parties, servers, json;
	size_t keys;
	uint64_t size, split_bound;
	uint32_t block;
	long rounds, repeat;
	double min_time;
	const char *ps_bin;
	const char *key_file; /* --key or $GEOMX_KEY: every link encrypted */
	int insecure;         /* --insecure: plaintext links (the servers told so) */
	gx_key key;
};

/* ---- ps.c: one run of the benchmark; 0, or 1 after saying why. */
int ps_run(const struct popts *o);

#endif
