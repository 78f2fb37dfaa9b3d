/*
 * link.c — `geomx-bench link`: a probe of one network link, for the tests
 * and benchmarks of a packet-level WAN emulator. `link serve` (link_serve.c)
 * is one end; the other runs one probe against it and prints one line:
 *
 *   rtt   round-trip times of UDP datagrams the server echoes;
 *   udp   a paced stream of one-way datagrams, whose loss, reordering,
 *         duplicates and one-way delays the server counts (a session opened
 *         on a TCP control connection, its summary read back there);
 *   tcp   one TCP stream, its throughput, and the bytes the server received
 *         in each millisecond (--trace).
 *
 * One-way delays compare the sender's CLOCK_MONOTONIC, carried in each
 * datagram, with the server's: both ends must run on one machine (network
 * namespaces). Every wait is bounded. See geomx-bench(1), "The link probe".
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "../cli.h"
#include "geomx.h"

#include "link.h"

/* The datagram (link.h): a 24-byte header, then padding. */
#define MAX_SIZE 1472           /* UDP payload of a 1500-byte IPv4 packet */
#define UDP_OVERHEAD 28         /* IPv4 and UDP headers, for --bitrate */

/* Defaults, used by the code and printed by the help text. */
#define DEF_LISTEN "0.0.0.0"
#define DEF_PORT 0
#define DEF_RTT_COUNT 100
#define DEF_RTT_INTERVAL_MS 10
#define DEF_RTT_SIZE 64
#define DEF_RTT_TIMEOUT_S 2
#define DEF_UDP_SIZE 100
#define DEF_UDP_PPS 10000
#define MAX_PPS 10000000.0
#define MAX_SECONDS 600         /* tcp --seconds: the server's trace covers 10 minutes */
#define CHUNK (256u << 10)      /* bytes per send of the tcp stream */
#define CONNECT_TIMEOUT_S 10
#define ANSWER_TIMEOUT_S 30     /* an answer line, after the grace */
#define STALL_TIMEOUT_S 60      /* tcp: no progress either way */
#define MAX_ANSWER (64u << 20)  /* tcp: the answer and its bins (10 minutes: ~10 MB) */
#define LINE_CAP 4096

enum { M_SERVE, M_RTT, M_UDP, M_TCP };
static const char *const mode_name[] = { "serve", "rtt", "udp", "tcp" };

struct lopts {
	int mode;
	const char *listen, *addr, *trace;
	long port, size;
	struct sockaddr_in sa;
	uint64_t count, interval_ns, timeout_ns, grace_ns, bytes;
	double pps, rate, seconds;
	unsigned given; /* options given, bit (option - OPT_COUNT) */
};

/* ------------------------------------------------------------- plumbing */

static uint64_t deadline_in(double s)
{
	return gx_now_ns() + (uint64_t)(s * 1e9);
}

/* 1 when fd is ready for ev, 0 at the deadline (gx_now_ns), -1 on error. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		uint64_t now = gx_now_ns();
		if (now >= deadline)
			return 0;
		uint64_t ms = (deadline - now + 999999) / 1000000;
		struct pollfd p = { fd, ev, 0 };
		int r = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* A non-blocking TCP connection to the server, or -1 (said why). */
static int dial(const struct lopts *o)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = 0;
	if (fd < 0) {
		e = errno;
	} else if (connect(fd, (const struct sockaddr *)&o->sa, sizeof o->sa) != 0) {
		e = errno;
		if (e == EINPROGRESS) {
			socklen_t sl = sizeof e;
			int w = wait_fd(fd, POLLOUT, deadline_in(CONNECT_TIMEOUT_S));
			if (w <= 0)
				e = w == 0 ? ETIMEDOUT : errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) != 0)
				e = errno;
		}
	}
	if (e) {
		cli_error("link %s: cannot connect to %s: %s", mode_name[o->mode], o->addr, strerror(e));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* 0, or an errno value (ETIMEDOUT after STALL_TIMEOUT_S without progress). */
static int send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, deadline_in(STALL_TIMEOUT_S));
			if (r <= 0)
				return r == 0 ? ETIMEDOUT : errno;
		} else if (w < 0 && errno != EINTR) {
			return errno;
		}
	}
	return 0;
}

/* What a control connection has received and not yet read as a line. */
static char rbuf[LINE_CAP];
static size_t rlen;

/* The next line (without its newline) into line (LINE_CAP bytes); 0, or an
 * errno value: ETIMEDOUT at the deadline, EPIPE at the end of the stream,
 * EMSGSIZE for a line too long. */
static int read_line(int fd, char *line, uint64_t deadline)
{
	for (;;) {
		char *nl = memchr(rbuf, '\n', rlen);
		if (nl) {
			size_t len = (size_t)(nl - rbuf);
			memcpy(line, rbuf, len);
			line[len] = '\0';
			rlen -= len + 1;
			memmove(rbuf, nl + 1, rlen);
			return 0;
		}
		if (rlen == sizeof rbuf)
			return EMSGSIZE;
		int w = wait_fd(fd, POLLIN, deadline);
		if (w <= 0)
			return w == 0 ? ETIMEDOUT : errno;
		ssize_t r = recv(fd, rbuf + rlen, sizeof rbuf - rlen, 0);
		if (r == 0)
			return EPIPE;
		if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno;
		if (r > 0)
			rlen += (size_t)r;
	}
}

/* Sends cmd, reads the answer "ok". 0, or -1 (said why). */
static int handshake(const struct lopts *o, int fd, const char *cmd)
{
	char line[LINE_CAP];
	int e = send_all(fd, cmd, strlen(cmd));
	if (!e)
		e = read_line(fd, line, deadline_in(ANSWER_TIMEOUT_S));
	if (e) {
		cli_error("link %s: %s: no answer to '%.*s': %s", mode_name[o->mode], o->addr,
			  (int)strcspn(cmd, "\n"), cmd, e == EPIPE ? "connection closed" : strerror(e));
		return -1;
	}
	if (strcmp(line, "ok") != 0) {
		cli_error("link %s: %s answered: %.200s", mode_name[o->mode], o->addr, line);
		return -1;
	}
	return 0;
}

static uint32_t session_id(void)
{
	uint32_t v;
	if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
		return v;
	return (uint32_t)(gx_now_ns() ^ ((uint64_t)getpid() << 16));
}

static struct timespec to_ts(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };
	return ts;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = to_ts(t);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* ------------------------------------------------------------------- rtt */

/* Reads the echoes waiting on fd; each known one's RTT into rtt. */
static void take_echoes(int fd, const struct lopts *o, uint32_t sess, const uint64_t *at,
			uint8_t *back, double *rtt, size_t *m, int *refused)
{
	uint8_t b[MAX_SIZE + 1];
	for (;;) {
		ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
		uint64_t t = gx_now_ns(), send_ns;
		if (r < 0 && errno == ECONNREFUSED) {
			*refused = 1;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return;
		unsigned type;
		uint32_t s, seq;
		if (link_hdr_get(b, (size_t)r, &type, &s, &seq, &send_ns) || type != LINK_ECHO ||
		    s != sess || seq >= o->count || r != o->size || back[seq])
			continue; /* not ours, or stale, or seen */
		back[seq] = 1;
		rtt[(*m)++] = (double)(t - at[seq]);
	}
}

static int run_rtt(const struct lopts *o)
{
	size_t n = (size_t)o->count, i = 0, m = 0, sent = 0;
	uint64_t *at = calloc(n, sizeof *at);
	uint8_t *back = calloc(n, 1), buf[MAX_SIZE];
	double *rtt = malloc(n * sizeof *rtt);
	uint32_t sess = session_id();
	int rc = CLI_FAIL, refused = 0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(buf, 0, sizeof buf);
	if (!at || !back || !rtt) {
		cli_error("link rtt: out of memory");
		goto out;
	}
	if (fd < 0 || connect(fd, (const struct sockaddr *)&o->sa, sizeof o->sa) != 0) {
		cli_error("link rtt: cannot send to %s: %s", o->addr, strerror(errno));
		goto out;
	}
	cli_info("link rtt: session %u, %zu datagrams of %ld bytes to %s", sess, n, o->size, o->addr);
	/* Sends at t0 + i * interval; waits in ppoll, not asleep, so that each
	 * echo is timed when it arrives. */
	uint64_t t0 = gx_now_ns(), end = 0;
	for (;;) {
		uint64_t now = gx_now_ns();
		if (i < n && now >= t0 + i * o->interval_ns) {
			link_hdr_put(buf, LINK_ECHO, sess, (uint32_t)i, now);
			at[i] = now;
			ssize_t w = send(fd, buf, (size_t)o->size, 0);
			if (w < 0 && errno == ECONNREFUSED) { /* an earlier echo's ICMP error */
				refused = 1;
				w = send(fd, buf, (size_t)o->size, 0);
			}
			sent += w == o->size;
			if (++i == n)
				end = gx_now_ns() + o->timeout_ns;
			continue;
		}
		if (i == n && (m == sent || now >= end))
			break;
		uint64_t until = i < n ? t0 + i * o->interval_ns : end;
		struct timespec ts = to_ts(until > now ? until - now : 0);
		struct pollfd p = { fd, POLLIN, 0 };
		int r = ppoll(&p, 1, &ts, NULL);
		if (r < 0 && errno != EINTR) {
			cli_error("link rtt: poll: %s", strerror(errno));
			goto out;
		}
		if (r > 0)
			take_echoes(fd, o, sess, at, back, rtt, &m, &refused);
	}
	if (m == 0) {
		cli_error("link rtt: no echo from %s of %zu datagrams sent%s", o->addr, sent,
			  refused ? " (port unreachable: is 'link serve' running there?)" : "");
		goto out;
	}
	double mean, sd;
	link_stats(rtt, m, &mean, &sd);
	printf("rtt sent=%zu received=%zu lost=%zu min_ms=%.3f p50_ms=%.3f mean_ms=%.3f p90_ms=%.3f "
	       "max_ms=%.3f sd_ms=%.3f\n",
	       sent, m, sent - m, rtt[0] / 1e6, link_quantile(rtt, m, 0.5) / 1e6, mean / 1e6,
	       link_quantile(rtt, m, 0.9) / 1e6, rtt[m - 1] / 1e6, sd / 1e6);
	rc = CLI_OK;
out:
	if (fd >= 0)
		close(fd);
	free(at);
	free(back);
	free(rtt);
	return rc;
}

/* ------------------------------------------------------------------- udp */

static int run_udp(const struct lopts *o)
{
	int ctl = -1, fd = -1, rc = CLI_FAIL, e, last = 0;
	uint32_t sess = session_id();
	uint64_t fails = 0;
	uint8_t buf[MAX_SIZE];
	char line[LINE_CAP];
	double pps = o->rate > 0 ? o->rate / (double)(o->size + UDP_OVERHEAD) : o->pps;
	double period = 1e9 / pps;
	memset(buf, 0, sizeof buf);

	if ((ctl = dial(o)) < 0)
		goto out;
	snprintf(line, sizeof line, "udp %u %llu\n", sess, (unsigned long long)o->count);
	if (handshake(o, ctl, line))
		goto out;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&o->sa, sizeof o->sa) != 0) {
		cli_error("link udp: cannot send to %s: %s", o->addr, strerror(errno));
		goto out;
	}
	cli_info("link udp: session %u, %llu datagrams of %ld bytes at %.1f per second to %s", sess,
		 (unsigned long long)o->count, o->size, pps, o->addr);
	/* Absolute times: a late datagram goes at once, the next ones keep
	 * to the schedule; none is skipped. */
	uint64_t t0 = gx_now_ns();
	for (uint64_t i = 0; i < o->count; i++) {
		uint64_t t = t0 + (uint64_t)((double)i * period);
		if (gx_now_ns() < t)
			sleep_until(t);
		link_hdr_put(buf, LINK_ONEWAY, sess, (uint32_t)i, gx_now_ns());
		ssize_t w = send(fd, buf, (size_t)o->size, 0);
		if (w < 0 && errno == ECONNREFUSED) /* an ICMP error of an earlier datagram */
			w = send(fd, buf, (size_t)o->size, 0);
		if (w != o->size) {
			fails++;
			last = w < 0 ? errno : EMSGSIZE;
		}
	}
	double took = (double)(gx_now_ns() - t0) / 1e9;
	cli_info("link udp: sent in %.3f s (%.1f per second)", took,
		 took > 0 ? (double)o->count / took : 0.0);
	if (fails)
		cli_warn("link udp: %llu datagrams could not be sent: %s", (unsigned long long)fails,
			 strerror(last));
	unsigned long long grace_ms = (unsigned long long)(o->grace_ns / 1000000);
	snprintf(line, sizeof line, "end %llu\n", grace_ms);
	e = send_all(ctl, line, strlen(line));
	if (!e)
		e = read_line(ctl, line, deadline_in((double)grace_ms / 1e3 + ANSWER_TIMEOUT_S));
	if (e) {
		cli_error("link udp: %s: no summary: %s", o->addr,
			  e == EPIPE ? "connection closed" : strerror(e));
		goto out;
	}
	if (strncmp(line, "udp ", 4) != 0) {
		cli_error("link udp: %s answered: %.200s", o->addr, line);
		goto out;
	}
	printf("%s\n", line);
	rc = CLI_OK;
out:
	if (ctl >= 0)
		close(ctl);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ------------------------------------------------------------------- tcp */

/* Streams --bytes, or for --seconds; the bytes sent into *sent. 0 or -1
 * (said why). */
static int stream(const struct lopts *o, int fd, uint64_t *sent)
{
	uint8_t *buf = malloc(CHUNK);
	if (!buf) {
		cli_error("link tcp: out of memory");
		return -1;
	}
	for (size_t i = 0; i < CHUNK; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	uint64_t end = o->bytes ? UINT64_MAX : deadline_in(o->seconds);
	int rc = 0;
	*sent = 0;
	for (;;) {
		size_t want = CHUNK;
		if (o->bytes && *sent >= o->bytes)
			break;
		if (o->bytes && o->bytes - *sent < want)
			want = (size_t)(o->bytes - *sent);
		if (!o->bytes && gx_now_ns() >= end)
			break;
		ssize_t w = send(fd, buf, want, MSG_NOSIGNAL);
		if (w > 0) {
			*sent += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			uint64_t d = deadline_in(STALL_TIMEOUT_S);
			int r = wait_fd(fd, POLLOUT, d < end ? d : end);
			if (r > 0 || (r == 0 && end <= d))
				continue; /* ready, or --seconds are over */
			if (r == 0)
				errno = ETIMEDOUT;
		}
		cli_error("link tcp: sending to %s after %llu bytes: %s", o->addr,
			  (unsigned long long)*sent, strerror(errno));
		rc = -1;
		break;
	}
	free(buf);
	return rc;
}

static int run_tcp(const struct lopts *o)
{
	int fd, rc = CLI_FAIL;
	uint64_t sent = 0;
	char *ans = NULL;
	size_t n = 0, cap = 0;
	if ((fd = dial(o)) < 0)
		return CLI_FAIL;
	if (handshake(o, fd, "tcp\n") || stream(o, fd, &sent))
		goto out;
	shutdown(fd, SHUT_WR);
	/* The answer: what read_line kept, then everything to the end. */
	for (;;) {
		if (cap - n < LINE_CAP) {
			cap = cap ? cap * 2 : (1u << 20);
			char *a = cap <= MAX_ANSWER ? realloc(ans, cap + 1) : NULL;
			if (!a) {
				cli_error("link tcp: %s: answer too long", o->addr);
				goto out;
			}
			ans = a;
		}
		if (rlen) {
			memcpy(ans + n, rbuf, rlen);
			n += rlen;
			rlen = 0;
			continue;
		}
		int w = wait_fd(fd, POLLIN, deadline_in(STALL_TIMEOUT_S));
		ssize_t r = w > 0 ? recv(fd, ans + n, cap - n, 0) : -1;
		if (r == 0)
			break;
		if (r > 0)
			n += (size_t)r;
		else if (w == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
			cli_error("link tcp: %s: no summary: %s", o->addr,
				  w == 0 ? "timed out" : strerror(errno));
			goto out;
		}
	}
	ans[n] = '\0';
	char *nl = strchr(ans, '\n');
	unsigned long long got;
	if (!nl || sscanf(ans, "tcp bytes=%llu ", &got) != 1 || nl + 1 > ans + n - 4 ||
	    strcmp(ans + n - 4, "end\n") != 0) {
		cli_error("link tcp: %s answered: %.*s", o->addr, (int)(nl ? nl - ans : 200), ans);
		goto out;
	}
	if (got != sent) {
		cli_error("link tcp: %s counted %llu bytes of %llu sent", o->addr, got,
			  (unsigned long long)sent);
		goto out;
	}
	printf("%.*s\n", (int)(nl - ans), ans);
	char *bins = nl + 1;
	size_t blen = (size_t)(ans + n - 4 - bins);
	if (o->trace && gx_file_replace(o->trace, bins, blen) != 0) {
		cli_error("link tcp: cannot write %s: %s", o->trace, strerror(errno));
		goto out;
	}
	rc = CLI_OK;
out:
	close(fd);
	free(ans);
	return rc;
}

/* --------------------------------------------------------------- options */

enum {
	OPT_COUNT = 256, OPT_LISTEN, OPT_PORT, OPT_INTERVAL, OPT_SIZE, OPT_TIMEOUT, OPT_PPS,
	OPT_BITRATE, OPT_GRACE, OPT_BYTES, OPT_SECONDS, OPT_TRACE
};
#define G(opt) (1u << ((opt) - OPT_COUNT))

/* The options each mode takes. */
static const unsigned mode_opts[] = {
	G(OPT_LISTEN) | G(OPT_PORT),
	G(OPT_COUNT) | G(OPT_INTERVAL) | G(OPT_SIZE) | G(OPT_TIMEOUT),
	G(OPT_COUNT) | G(OPT_PPS) | G(OPT_BITRATE) | G(OPT_SIZE) | G(OPT_GRACE),
	G(OPT_BYTES) | G(OPT_SECONDS) | G(OPT_TRACE),
};

static const struct option link_long[] = {
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "pps", required_argument, NULL, OPT_PPS },
	{ "bitrate", required_argument, NULL, OPT_BITRATE },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "bytes", required_argument, NULL, OPT_BYTES },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "trace", required_argument, NULL, OPT_TRACE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void link_help(void)
{
	printf("Usage: %s link serve [--listen ADDR] [--port PORT]\n"
	       "  or:  %s link rtt HOST:PORT [OPTION]...\n"
	       "  or:  %s link udp HOST:PORT --count N [OPTION]...\n"
	       "  or:  %s link tcp HOST:PORT (--bytes N | --seconds S) [--trace FILE]\n"
	       "Probe one network link (for tests of a WAN emulator): a server at one end,\n"
	       "one probe at the other, which prints one line on stdout.\n"
	       "\n"
	       "Modes:\n"
	       "  serve   answer probes on a TCP and a UDP socket of one port; print the port,\n"
	       "          serve until SIGTERM or SIGINT\n"
	       "  rtt     round-trip times of UDP datagrams the server echoes\n"
	       "  udp     loss, reordering, duplicates and one-way delays of a paced UDP\n"
	       "          stream, counted by the server (the delays need both ends on one\n"
	       "          machine: they compare the two ends' CLOCK_MONOTONIC)\n"
	       "  tcp     throughput of one TCP stream, and the bytes received per millisecond\n"
	       "\n"
	       "serve:\n"
	       "      --listen ADDR   IPv4 address to listen on (default: %s)\n"
	       "      --port PORT     TCP and UDP port, 0 for a free one (default: %d)\n"
	       "rtt:\n"
	       "  -n, --count N       datagrams, 1 to %u (default: %d)\n"
	       "      --interval T    between sends: 10ms, 500us, 1s (default: %dms)\n"
	       "      --size B        bytes per datagram, %d to %d (default: %d)\n"
	       "      --timeout T     wait for late echoes after the last send (default: %ds)\n"
	       "udp:\n"
	       "  -n, --count N       datagrams, 1 to %u (required)\n"
	       "      --pps R         datagrams per second (default: %d)\n"
	       "      --bitrate RATE  or a rate: 100mbit, 10MB/s; each datagram counted with\n"
	       "                      %d bytes of IPv4 and UDP headers\n"
	       "      --size B        bytes per datagram, %d to %d (default: %d)\n"
	       "      --grace T       the server's wait for late datagrams (default: %dms)\n"
	       "tcp:\n"
	       "      --bytes N       bytes to send; 30M, 1Gi accepted\n"
	       "      --seconds S     or send for S seconds, at most %d\n"
	       "      --trace FILE    write the server's \"T_MS BYTES\" lines to FILE\n"
	       "\n"
	       "  -q, --quiet         fewer messages on stderr\n"
	       "  -v, --verbose       more messages on stderr\n"
	       "  -h, --help          show this help and exit\n"
	       "  -V, --version       show the version and exit\n"
	       "\n"
	       "Lines (times in ms):\n"
	       "  rtt sent= received= lost= min_ms= p50_ms= mean_ms= p90_ms= max_ms= sd_ms=\n"
	       "  udp sent= received= lost= loss_pct= reordered= dup= delay_min_ms=\n"
	       "      delay_p5_ms= delay_p25_ms= delay_p50_ms= delay_p75_ms= delay_p95_ms=\n"
	       "      delay_max_ms= delay_mean_ms= delay_sd_ms=\n"
	       "  tcp bytes= seconds= mbps=\n",
	       cli_prog, cli_prog, cli_prog, cli_prog, DEF_LISTEN, DEF_PORT, MAX_COUNT,
	       DEF_RTT_COUNT, DEF_RTT_INTERVAL_MS, LINK_HDR, MAX_SIZE, DEF_RTT_SIZE,
	       DEF_RTT_TIMEOUT_S, MAX_COUNT, DEF_UDP_PPS, UDP_OVERHEAD, LINK_HDR, MAX_SIZE,
	       DEF_UDP_SIZE, DEF_GRACE_MS, MAX_SECONDS);
}

/* "IPV4:PORT" (or localhost:PORT) into sa; 0 or -1. */
static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	long port;
	if (!colon || (size_t)(colon - s) >= sizeof host || cli_parse_int(colon + 1, 1, 65535, &port))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof host, "127.0.0.1");
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void parse_time(const char *opt, const char *s, uint64_t max_ns, uint64_t *ns)
{
	if (gx_relay_parse_time(s, ns) || *ns > max_ns)
		cli_usage_error("invalid --%s '%s' (want a time up to %gs: 10ms, 500us, 2s)", opt, s,
				(double)max_ns / 1e9);
}

int cmd_link(int argc, char **argv)
{
	struct lopts o;
	memset(&o, 0, sizeof o);
	o.listen = DEF_LISTEN;
	o.port = DEF_PORT;
	o.count = DEF_RTT_COUNT;
	o.interval_ns = DEF_RTT_INTERVAL_MS * 1000000ull;
	o.timeout_ns = DEF_RTT_TIMEOUT_S * 1000000000ull;
	o.grace_ns = DEF_GRACE_MS * 1000000ull;
	o.pps = DEF_UDP_PPS;
	int c;
	while ((c = getopt_long(argc, argv, "n:qvhV", link_long, NULL)) != -1) {
		struct in_addr ia;
		switch (c) {
		case 'n':
		case OPT_COUNT:
			if (cli_parse_count(optarg, &o.count) || o.count < 1 || o.count > MAX_COUNT)
				cli_usage_error("invalid --count '%s' (want 1 to %u)", optarg, MAX_COUNT);
			c = OPT_COUNT;
			break;
		case OPT_LISTEN:
			if (inet_pton(AF_INET, optarg, &ia) != 1)
				cli_usage_error("invalid --listen '%s' (want an IPv4 address)", optarg);
			o.listen = optarg;
			break;
		case OPT_PORT:
			if (cli_parse_int(optarg, 0, 65535, &o.port))
				cli_usage_error("invalid --port '%s' (want 0 to 65535)", optarg);
			break;
		case OPT_INTERVAL:
			parse_time("interval", optarg, 60000000000ull, &o.interval_ns);
			break;
		case OPT_TIMEOUT:
			parse_time("timeout", optarg, 60000000000ull, &o.timeout_ns);
			break;
		case OPT_GRACE:
			parse_time("grace", optarg, 60000000000ull, &o.grace_ns);
			break;
		case OPT_SIZE:
			if (cli_parse_int(optarg, LINK_HDR, MAX_SIZE, &o.size))
				cli_usage_error("invalid --size '%s' (want %d to %d)", optarg, LINK_HDR,
						MAX_SIZE);
			break;
		case OPT_PPS:
			if (cli_parse_double(optarg, &o.pps) || !(o.pps > 0) || o.pps > MAX_PPS)
				cli_usage_error("invalid --pps '%s' (want more than 0, up to %g)", optarg,
						MAX_PPS);
			break;
		case OPT_BITRATE:
			if (gx_relay_parse_rate(optarg, &o.rate) || !(o.rate > 0))
				cli_usage_error("invalid --bitrate '%s' (want a rate: 100mbit, 10MB/s)",
						optarg);
			break;
		case OPT_BYTES:
			if (cli_parse_count(optarg, &o.bytes) || o.bytes < 1)
				cli_usage_error("invalid --bytes '%s' (want 1 or more: 30M, 1Gi)", optarg);
			break;
		case OPT_SECONDS:
			if (cli_parse_double(optarg, &o.seconds) || !(o.seconds > 0) ||
			    o.seconds > MAX_SECONDS)
				cli_usage_error("invalid --seconds '%s' (want more than 0, up to %d)", optarg,
						MAX_SECONDS);
			break;
		case OPT_TRACE:
			if (!*optarg)
				cli_usage_error("invalid --trace '' (want a file)");
			o.trace = optarg;
			break;
		case 'q':
			if (cli_verbosity > 0)
				cli_verbosity--;
			break;
		case 'v':
			cli_verbosity++;
			break;
		case 'h':
			link_help();
			return CLI_OK;
		case 'V':
			cli_print_version();
			return CLI_OK;
		default:
			cli_bad_option();
		}
		if (c >= OPT_COUNT)
			o.given |= G(c);
	}
	if (optind >= argc)
		cli_usage_error("link: missing mode (serve, rtt, udp or tcp)");
	const char *m = argv[optind++];
	for (o.mode = 0; o.mode < 4 && strcmp(m, mode_name[o.mode]); o.mode++)
		;
	if (o.mode == 4)
		cli_usage_error("link: unknown mode '%s' (serve, rtt, udp or tcp)", m);
	for (const struct option *lo = link_long; lo->name; lo++)
		if (lo->val >= OPT_COUNT && (o.given & G(lo->val)) && !(mode_opts[o.mode] & G(lo->val)))
			cli_usage_error("link %s: --%s is not one of its options", m, lo->name);
	if (o.mode != M_SERVE) {
		if (optind >= argc)
			cli_usage_error("link %s: missing HOST:PORT", m);
		o.addr = argv[optind++];
		if (parse_addr(o.addr, &o.sa))
			cli_usage_error("link %s: invalid address '%s' (want IPV4:PORT)", m, o.addr);
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!(o.given & G(OPT_SIZE)))
		o.size = o.mode == M_RTT ? DEF_RTT_SIZE : DEF_UDP_SIZE;

	switch (o.mode) {
	case M_SERVE:
		return link_serve(o.listen, o.port);
	case M_RTT:
		return run_rtt(&o);
	case M_UDP:
		if (!(o.given & G(OPT_COUNT)))
			cli_usage_error("link udp: missing --count");
		if ((o.given & G(OPT_PPS)) && (o.given & G(OPT_BITRATE)))
			cli_usage_error("link udp: --pps and --bitrate exclude each other");
		if (o.rate > 0 && o.rate / (double)(o.size + UDP_OVERHEAD) > MAX_PPS)
			cli_usage_error("invalid --bitrate: more than %g datagrams per second", MAX_PPS);
		return run_udp(&o);
	default:
		if (!(o.given & (G(OPT_BYTES) | G(OPT_SECONDS))))
			cli_usage_error("link tcp: missing --bytes or --seconds");
		if ((o.given & G(OPT_BYTES)) && (o.given & G(OPT_SECONDS)))
			cli_usage_error("link tcp: --bytes and --seconds exclude each other");
		return run_tcp(&o);
	}
}
