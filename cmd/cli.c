/* cli.c — see cli.h. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "geomx.h"

const char *cli_prog = "geomx";
int cli_verbosity = 1;

/* GEOMX_PASSES=FILE: at exit, one line "PROG PID copy BYTES decode BYTES"
 * appended to FILE with the data path's passes over tensor bytes (nonzero
 * in debug builds only; bench/copies.sh reads them). */
static const char *passes_path;

static void write_passes(void)
{
	char line[256];
	int n = snprintf(line, sizeof line, "%s %ld copy %llu decode %llu\n", cli_prog, (long)getpid(),
			 (unsigned long long)gx_pass_bytes(GX_PASS_COPY),
			 (unsigned long long)gx_pass_bytes(GX_PASS_DECODE));
	int fd = open(passes_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		/* one write: lines of concurrent processes never interleave */
		if (gx_write_full(fd, line, (size_t)n) != 0)
			cli_warn("%s: cannot write the pass counts: %s", passes_path, strerror(errno));
		close(fd);
	}
}

void cli_init(const char *argv0)
{
	if (argv0 && *argv0) {
		const char *s = strrchr(argv0, '/');
		cli_prog = s ? s + 1 : argv0;
	}
	const char *v = cli_env("VERBOSE");
	long lv;
	if (v && cli_parse_int(v, 0, 9, &lv) == 0)
		cli_verbosity = (int)lv;
	passes_path = cli_env("PASSES");
	if (passes_path && *passes_path)
		atexit(write_passes);
}

static void vmsg(const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "%s: %s\n", cli_prog, buf);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	if (cli_verbosity < 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void cli_info(const char *fmt, ...)
{
	if (cli_verbosity < 2)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

_Noreturn void cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
	exit(CLI_USAGE);
}

_Noreturn void cli_bad_option(void)
{
	/* getopt_long has printed its own line naming the option. */
	fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
	exit(CLI_USAGE);
}

void cli_print_version(void)
{
	printf("%s (geomx) %s\n", cli_prog, gx_version());
}

int cli_parse_double(const char *s, double *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int cli_parse_count(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-')
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	double mul = 1;
	if (*end) {
		if (!strcmp(end, "k") || !strcmp(end, "K"))
			mul = 1e3;
		else if (!strcmp(end, "M"))
			mul = 1e6;
		else if (!strcmp(end, "G"))
			mul = 1e9;
		else if (!strcmp(end, "Ki"))
			mul = 1024.0;
		else if (!strcmp(end, "Mi"))
			mul = 1024.0 * 1024;
		else if (!strcmp(end, "Gi"))
			mul = 1024.0 * 1024 * 1024;
		else
			return -1;
	}
	v *= mul;
	if (v != floor(v) || v > 9.0e18)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int cli_parse_int(const char *s, long lo, long hi, long *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_ratio(const char *s, double *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s)
		return -1;
	if (*end == '%' && end[1] == 0) {
		v /= 100.0;
	} else if (*end) {
		return -1;
	}
	if (!(v > 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

int cli_refuse_binary_tty(int fd, int force)
{
	if (force || !isatty(fd))
		return 0;
	cli_error("refusing to write binary data to a terminal (use -f to force, or redirect)");
	return 1;
}

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_log(void *ud, int level, const char *msg)
{
	const char *who = ud;
	if (level == GX_LOG_ERROR)
		cli_error("%s: %s", who, msg);
	else if (level == GX_LOG_WARN)
		cli_warn("%s: %s", who, msg);
	else if (level <= cli_verbosity)
		cli_info("%s: %s", who, msg);
}

const char *cli_env(const char *name)
{
	char buf[128];
	snprintf(buf, sizeof buf, "GEOMX_%s", name);
	const char *v = getenv(buf);
	return v && *v ? v : NULL;
}

void cli_load_key(const char *path, gx_key *key)
{
	char err[512];
	if (gx_key_load(path, key, err, sizeof err)) {
		cli_error("%s", err);
		exit(CLI_USAGE);
	}
}

int cli_secure_key(const char *path, int insecure, gx_key *key)
{
	if (!path)
		path = cli_env("KEY");
	if (path) {
		cli_load_key(path, key);
		return 1;
	}
	const char *env = cli_env("INSECURE");
	if (insecure || (env && strcmp(env, "0") != 0)) {
		cli_warn("%s: links are plaintext and unauthenticated: anyone on the network can "
			 "read, change or inject frames", insecure ? "--insecure" : "GEOMX_INSECURE");
		return 0;
	}
	cli_usage_error("no key: links would be plaintext and unauthenticated; give --key FILE "
			"(geomx-relay --genkey FILE makes one; or GEOMX_KEY=FILE), or --insecure");
	return 0;
}

const uint8_t *cli_worker_key(const gx_key *have, uint32_t party, uint32_t rank,
			      uint8_t out[32])
{
	gx_key k;
	char kn[80];
	if (!have)
		return NULL;
	if (gx_key_derive(have, GX_KEY_WORKER, party, rank, &k) != 0)
		cli_usage_error("--key holds %s, which cannot be worker %u of party %u's",
				gx_key_name(have, kn, sizeof kn), rank, party);
	memcpy(out, k.k, sizeof k.k);
	explicit_bzero(&k, sizeof k);
	return out;
}

int cli_stop_again(void)
{
	static volatile sig_atomic_t have;
	static struct timespec first; /* written once, before have is set */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!have) {
		first = now;
		have = 1;
		return 0;
	}
	long long ms = (long long)(now.tv_sec - first.tv_sec) * 1000 + (now.tv_nsec - first.tv_nsec) / 1000000;
	return ms >= CLI_PATIENCE_MS;
}

size_t cli_schedule(const char *schedule, const char *credit)
{
	const char *from = "--schedule";
	if (!schedule && (schedule = cli_env("SCHEDULE")))
		from = "GEOMX_SCHEDULE";
	int p3 = 0;
	if (schedule && strcmp(schedule, "p3") == 0)
		p3 = 1;
	else if (schedule && strcmp(schedule, "fifo") != 0)
		cli_usage_error("invalid %s '%s' (want fifo or p3)", from, schedule);
	if (!credit)
		return p3 ? GX_CREDIT_AUTO : 0;
	if (!p3)
		cli_usage_error("--credit is for --schedule p3 (fifo sends in the order made)");
	if (strcmp(credit, "auto") == 0)
		return GX_CREDIT_AUTO;
	uint64_t v;
	if (cli_parse_count(credit, &v) || v < 4096 || v > ((uint64_t)1 << 30))
		cli_usage_error("invalid --credit '%s' (want auto or bytes, 4Ki to 1Gi)", credit);
	return (size_t)v;
}
