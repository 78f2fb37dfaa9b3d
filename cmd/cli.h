/*
 * cli.h — what every geomx program shares: exit statuses, messages,
 * verbosity, number parsing, the terminal check for binary output.
 * Diagnostics go to stderr as "PROG: message"; stdout carries data only.
 */
#ifndef GX_CLI_H
#define GX_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Exit statuses, the same in every program (listed in each man page). */
enum {
	CLI_OK = 0,    /* success */
	CLI_FAIL = 1,  /* runtime failure: bad input data, I/O error, peer failure */
	CLI_USAGE = 2, /* bad flags or arguments */
};

extern const char *cli_prog;  /* program name for messages */
extern int cli_verbosity;     /* 0 quiet (-q), 1 default, 2.. verbose (-v) */

/* Records the program name (basename of argv0) and GEOMX_VERBOSE. */
void cli_init(const char *argv0);

/* "PROG: message" on stderr. cli_error always prints; cli_warn at
 * verbosity >= 1; cli_info at >= 2. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error: one line, then "Try 'PROG --help' for more information.",
 * then exit(CLI_USAGE). */
_Noreturn void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The line getopt_long's caller prints for an unknown/missing option. */
_Noreturn void cli_bad_option(void);

/* "PROG (geomx) VERSION" on stdout. */
void cli_print_version(void);

/* Number parsing; each returns 0 on success, -1 when s is not a whole,
 * in-range number. */
int cli_parse_double(const char *s, double *out);
/* Accepts a suffix k, M, G (powers of 1000) or Ki, Mi, Gi (powers of 1024),
 * and a plain exponent (1e6). */
int cli_parse_count(const char *s, uint64_t *out);
int cli_parse_int(const char *s, long lo, long hi, long *out);
/* A ratio in (0, 1]: "0.01" or "1%". */
int cli_parse_ratio(const char *s, double *out);

/* Nonzero when fd is a terminal and binary output there must be refused
 * (force == 0). Prints the refusal. */
int cli_refuse_binary_tty(int fd, int force);

/* Seconds on the monotonic clock (for durations). */
double cli_now(void);

/* For a signal handler that asks the program to stop: 1 when this signal
 * should end the program at once, a user's second Ctrl-C, because an
 * earlier one came at least CLI_PATIENCE_MS before it; 0 for the first,
 * and for a repeat within that time, which is one request delivered twice
 * (timeout(1) sends its signal to the program and to its process group).
 * Async-signal-safe. A program keeps such a handler installed until it
 * exits, never back to SIG_DFL after its run: the second copy of a signal
 * may arrive only then, and must not kill it while it writes its
 * statistics and exits as asked. */
#define CLI_PATIENCE_MS 200
int cli_stop_again(void);

/* A gx_log_fn for library components (the client's I/O thread): ud is a
 * NUL-terminated tag; level 0 is printed as an error, 1 as a warning, 2.. as
 * info when the verbosity allows. */
void cli_log(void *ud, int level, const char *msg);

/* Loads the pre-shared key file of --key (secure.h: gx_key_load) into key
 * (32 bytes), or prints gx_key_load's one-line reason and exits with
 * CLI_USAGE: a missing, unreadable, malformed or group/other-readable key
 * file is a configuration error, refused before any work. */
struct gx_key;
void cli_load_key(const char *path, struct gx_key *key);
/* The key a worker (party, rank) dials with, from the key given: derived
 * from the job's or the party's, or the worker's own; a usage error (exit
 * 2) when it is another's. */
/* The key of a program's links (docs/security.md, "Secure by default"):
 * --key FILE (path), else $GEOMX_KEY; with neither, plaintext only when
 * asked (insecure: --insecure; or $GEOMX_INSECURE not "0"), with a warning;
 * else a usage error (exit 2). 1 with *key loaded, 0 for plaintext. */
int cli_secure_key(const char *path, int insecure, struct gx_key *key);
/* The key a worker (party, rank) dials with, from the key given (NULL:
 * none, plaintext): derived from the job's or the party's, or the worker's
 * own, into out; a usage error (exit 2) when it is another's. Returns out,
 * or NULL without a key: what gx_kv_opts.psk takes. */
const uint8_t *cli_worker_key(const struct gx_key *have, uint32_t party, uint32_t rank,
			      uint8_t out[32]);

/* --schedule S and --credit auto|BYTES (NULL when not given), shared by the
 * programs that send tensors: S is fifo or p3, else $GEOMX_SCHEDULE, else
 * fifo. Returns the credit to use (gx_conn_set_credit): 0 under fifo,
 * under p3 the one given, else GX_CREDIT_AUTO. A usage error (exit 2) for
 * a bad value or --credit under fifo. */
size_t cli_schedule(const char *schedule, const char *credit);

/* GEOMX_NAME from the environment, or NULL. */
const char *cli_env(const char *name);

#endif
