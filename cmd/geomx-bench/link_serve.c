/*
 * link_serve.c — `geomx-bench link serve`: the far end of the link probes
 * of link.c, and the datagram layout both ends share.
 *
 * One TCP listener and one UDP socket on the same port, served by one poll
 * loop with any number of control connections. UDP: echo datagrams go back
 * to their source unchanged; one-way datagrams are recorded into the
 * session a control connection opened (`udp SESSION COUNT`), their delay
 * being the receive time minus the sender's CLOCK_MONOTONIC time in the
 * datagram: meaningful only with both ends on one machine (network
 * namespaces, as a WAN emulator's tests run). TCP: `tcp` streams are
 * counted into 1 ms bins from their first byte. Every line a peer sends is
 * bounded, and a bad one closes that peer alone with an "error" line.
 * SIGTERM and SIGINT only set a flag, which ppoll lets in; the loop then
 * ends and the program exits 0. See geomx-bench(1), "The link probe".
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "../cli.h"
#include "geomx.h"
#include "link.h"

#define MAX_SESSIONS 64         /* open at once: each may hold COUNT delays */
#define MAX_CONNS 256           /* control connections at once */
#define LINE_CAP 128            /* bytes of a command line, newline included */
#define MAX_GRACE_MS 60000
#define CMD_TIMEOUT_NS (30 * 1000000000ull) /* the first line must come by then */
#define SEND_TIMEOUT_NS (60 * 1000000000ull) /* an answer nobody reads is dropped */
#define UDP_RCVBUF (8 << 20)
#define READ_CHUNK (256u << 10)
#define READS_PER_TURN 8        /* per connection and loop turn: no peer starves the others */
#define DGRAMS_PER_TURN 1024
#define ACCEPTS_PER_TURN 64
#define MAX_BINS 600000         /* 10 minutes of 1 ms bins */
#define PORT_TRIES 16

/* ------------------------------------------------------------- datagrams */

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void link_hdr_put(uint8_t *b, unsigned type, uint32_t session, uint32_t seq, uint64_t send_ns)
{
	put32(b, LINK_MAGIC);
	b[4] = (uint8_t)type;
	b[5] = b[6] = b[7] = 0;
	put32(b + 8, session);
	put32(b + 12, seq);
	put32(b + 16, (uint32_t)send_ns);
	put32(b + 20, (uint32_t)(send_ns >> 32));
}

/* 0, or -1 for a datagram too short or without the magic. */
int link_hdr_get(const uint8_t *b, size_t n, unsigned *type, uint32_t *session, uint32_t *seq,
		 uint64_t *send_ns)
{
	if (n < LINK_HDR || get32(b) != LINK_MAGIC)
		return -1;
	*type = b[4];
	*session = get32(b + 8);
	*seq = get32(b + 12);
	*send_ns = get32(b + 16) | (uint64_t)get32(b + 20) << 32;
	return 0;
}

/* The q-quantile of n sorted values, interpolated linearly between the
 * order statistics around (n - 1) q; NAN when n is 0. */
double link_quantile(const double *sorted, size_t n, double q)
{
	if (n == 0)
		return NAN;
	double h = (double)(n - 1) * q;
	size_t i = (size_t)h;
	if (i + 1 >= n)
		return sorted[n - 1];
	return sorted[i] + (h - (double)i) * (sorted[i + 1] - sorted[i]);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v; the mean and the standard deviation (n - 1 in the denominator;
 * 0 for one value, NAN for none). */
void link_stats(double *v, size_t n, double *mean, double *sd)
{
	qsort(v, n, sizeof *v, cmp_double);
	double s = 0, ss = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	*mean = n ? s / (double)n : NAN;
	for (size_t i = 0; i < n; i++)
		ss += (v[i] - *mean) * (v[i] - *mean);
	*sd = n > 1 ? sqrt(ss / (double)(n - 1)) : n ? 0 : NAN;
}

/* ------------------------------------------------------------- the state */

struct sess {
	uint32_t id, count;
	uint32_t got, dup, reord; /* got: distinct seqs */
	int64_t top;              /* the highest seq so far, -1 before the first */
	uint8_t *seen;            /* count bits */
	double *delay;            /* ns, one per distinct seq */
};

enum { C_CMD, C_UDP, C_GRACE, C_TCP, C_SEND, C_DEAD };

struct conn {
	int fd, state;
	char line[LINE_CAP];
	size_t nline;
	uint64_t deadline; /* C_CMD: the first line's; C_GRACE: the answer's */
	struct sess *s;
	uint64_t bytes, first_ns, last_ns; /* C_TCP */
	uint64_t *bins;
	size_t nbins, cap;
	char *out; /* C_SEND: the answer, then close */
	size_t nout, off;
};

static volatile sig_atomic_t stop_sig;
static struct conn *conns[MAX_CONNS];
static int nconns;
static struct sess *sessions[MAX_SESSIONS];
static int nsess;
static uint64_t garbage, echo_fail;
static uint8_t scratch[READ_CHUNK]; /* TCP reads; datagrams (< 64 KiB) */

static void on_signal(int s)
{
	stop_sig = s;
}

static void sess_free(struct sess *s)
{
	if (!s)
		return;
	for (int i = 0; i < nsess; i++)
		if (sessions[i] == s) {
			sessions[i] = sessions[--nsess];
			break;
		}
	free(s->seen);
	free(s->delay);
	free(s);
}

static void conn_close(struct conn *c)
{
	if (c->state == C_DEAD)
		return;
	close(c->fd);
	sess_free(c->s);
	c->s = NULL;
	free(c->bins);
	free(c->out);
	c->bins = NULL;
	c->out = NULL;
	c->state = C_DEAD;
}

/* Queues text as the answer (taking it; NULL: out of memory) and closes
 * after sending it. */
static void conn_answer(struct conn *c, char *text, size_t n)
{
	sess_free(c->s);
	c->s = NULL;
	free(c->bins);
	c->bins = NULL;
	if (!text) {
		cli_warn("link serve: out of memory for an answer");
		conn_close(c);
		return;
	}
	c->out = text;
	c->nout = n;
	c->off = 0;
	c->state = C_SEND;
	c->deadline = gx_now_ns() + SEND_TIMEOUT_NS;
}

/* Says why to the peer and closes it. */
static void conn_error(struct conn *c, const char *why)
{
	char *t = malloc(LINE_CAP);
	if (t)
		snprintf(t, LINE_CAP, "error %s\n", why);
	cli_warn("link serve: a control connection refused: %s", why);
	conn_answer(c, t, t ? strlen(t) : 0);
}

/* ------------------------------------------------------------------- udp */

static struct sess *sess_find(uint32_t id)
{
	for (int i = 0; i < nsess; i++)
		if (sessions[i]->id == id)
			return sessions[i];
	return NULL;
}

static void record(struct sess *s, uint32_t seq, uint64_t send_ns, uint64_t now)
{
	if (seq >= s->count) {
		garbage++;
		return;
	}
	if (s->seen[seq >> 3] & (1u << (seq & 7))) {
		s->dup++;
		return;
	}
	s->seen[seq >> 3] |= (uint8_t)(1u << (seq & 7));
	if ((int64_t)seq < s->top)
		s->reord++;
	else
		s->top = seq;
	s->delay[s->got++] = (double)(int64_t)(now - send_ns);
}

static void udp_turn(int fd)
{
	for (int k = 0; k < DGRAMS_PER_TURN; k++) {
		struct sockaddr_in src;
		socklen_t sl = sizeof src;
		ssize_t n = recvfrom(fd, scratch, sizeof scratch, MSG_DONTWAIT,
				     (struct sockaddr *)&src, &sl);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			continue; /* an ICMP error of an echo sent earlier: nothing to do */
		uint64_t now = gx_now_ns(), send_ns;
		unsigned type;
		uint32_t session, seq;
		if (link_hdr_get(scratch, (size_t)n, &type, &session, &seq, &send_ns)) {
			garbage++;
		} else if (type == LINK_ECHO) {
			if (sendto(fd, scratch, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&src, sl) != n)
				echo_fail++;
		} else if (type == LINK_ONEWAY) {
			struct sess *s = sess_find(session);
			if (s)
				record(s, seq, send_ns, now);
		} else {
			garbage++;
		}
	}
}

static void put_ms(char *b, size_t cap, const char *name, double ns)
{
	if (isnan(ns))
		snprintf(b, cap, " %s=nan", name);
	else
		snprintf(b, cap, " %s=%.3f", name, ns / 1e6);
}

static void udp_answer(struct conn *c)
{
	struct sess *s = c->s;
	static const struct { const char *name; double q; } qs[] = {
		{ "delay_min_ms", 0 },     { "delay_p5_ms", 0.05 },  { "delay_p25_ms", 0.25 },
		{ "delay_p50_ms", 0.5 },   { "delay_p75_ms", 0.75 }, { "delay_p95_ms", 0.95 },
		{ "delay_max_ms", 1 },
	};
	char *t = malloc(1024);
	if (!t) {
		conn_answer(c, NULL, 0);
		return;
	}
	double mean, sd;
	link_stats(s->delay, s->got, &mean, &sd);
	uint32_t lost = s->count - s->got;
	size_t n = (size_t)snprintf(t, 1024,
				    "udp sent=%u received=%u lost=%u loss_pct=%.4f reordered=%u dup=%u",
				    s->count, s->got, lost, 100.0 * lost / s->count, s->reord, s->dup);
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		put_ms(t + n, 1024 - n, qs[i].name, link_quantile(s->delay, s->got, qs[i].q));
		n += strlen(t + n);
	}
	put_ms(t + n, 1024 - n, "delay_mean_ms", mean);
	n += strlen(t + n);
	put_ms(t + n, 1024 - n, "delay_sd_ms", sd);
	n += strlen(t + n);
	t[n++] = '\n';
	cli_info("link serve: session %u: %u of %u received", s->id, s->got, s->count);
	conn_answer(c, t, n);
}

/* `udp SESSION COUNT` */
static void udp_open(struct conn *c, const char *args)
{
	unsigned long long id, count;
	int used = 0;
	if (sscanf(args, "%llu %llu%n", &id, &count, &used) != 2 || args[used] || id > UINT32_MAX ||
	    count < 1 || count > MAX_COUNT || args[0] < '0' || args[0] > '9') {
		conn_error(c, "bad udp command (want: udp SESSION COUNT, COUNT 1 to 10000000)");
		return;
	}
	if (sess_find((uint32_t)id)) {
		conn_error(c, "session in use");
		return;
	}
	if (nsess == MAX_SESSIONS) {
		conn_error(c, "too many sessions");
		return;
	}
	struct sess *s = calloc(1, sizeof *s);
	if (s) {
		s->seen = calloc(count / 8 + 1, 1);
		s->delay = malloc(count * sizeof(double));
	}
	if (!s || !s->seen || !s->delay) {
		if (s) {
			free(s->seen);
			free(s->delay);
		}
		free(s);
		conn_error(c, "out of memory");
		return;
	}
	s->id = (uint32_t)id;
	s->count = (uint32_t)count;
	s->top = -1;
	sessions[nsess++] = s;
	c->s = s;
	c->state = C_UDP;
	cli_info("link serve: session %u opened for %u datagrams", s->id, s->count);
	/* "ok" is short: a socket that has sent nothing yet takes it whole. */
	if (send(c->fd, "ok\n", 3, MSG_NOSIGNAL | MSG_DONTWAIT) != 3)
		conn_close(c);
}

/* ------------------------------------------------------------------- tcp */

static int tcp_count(struct conn *c, size_t n, uint64_t now)
{
	if (n == 0)
		return 0;
	if (c->bytes == 0)
		c->first_ns = now;
	c->last_ns = now;
	c->bytes += n;
	uint64_t b = (now - c->first_ns) / 1000000;
	if (b >= MAX_BINS)
		return 0; /* the trace covers the first 10 minutes; the total goes on */
	if (b >= c->cap) {
		size_t cap = c->cap ? c->cap : 1024;
		while (cap <= b)
			cap *= 2;
		uint64_t *nb = realloc(c->bins, cap * sizeof *nb);
		if (!nb)
			return -1;
		memset(nb + c->cap, 0, (cap - c->cap) * sizeof *nb);
		c->bins = nb;
		c->cap = cap;
	}
	c->bins[b] += n;
	if (b + 1 > c->nbins)
		c->nbins = (size_t)b + 1;
	return 0;
}

static void tcp_answer(struct conn *c)
{
	size_t cap = 128 + c->nbins * 28, n;
	char *t = malloc(cap);
	if (!t) {
		conn_answer(c, NULL, 0);
		return;
	}
	double sec = (double)(c->last_ns - c->first_ns) / 1e9;
	n = (size_t)snprintf(t, cap, "tcp bytes=%llu seconds=%.6f mbps=%.3f\n",
			     (unsigned long long)c->bytes, sec,
			     sec > 0 ? (double)c->bytes * 8 / sec / 1e6 : 0.0);
	for (size_t i = 0; i < c->nbins; i++)
		n += (size_t)snprintf(t + n, cap - n, "%zu %llu\n", i, (unsigned long long)c->bins[i]);
	memcpy(t + n, "end\n", 4);
	cli_info("link serve: tcp stream of %llu bytes", (unsigned long long)c->bytes);
	conn_answer(c, t, n + 4);
}

static void tcp_turn(struct conn *c)
{
	for (int k = 0; k < READS_PER_TURN; k++) {
		ssize_t r = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0) {
			cli_warn("link serve: tcp stream: %s", strerror(errno));
			conn_close(c);
			return;
		}
		if (r == 0) {
			tcp_answer(c);
			return;
		}
		if (tcp_count(c, (size_t)r, gx_now_ns())) {
			conn_error(c, "out of memory");
			return;
		}
	}
}

/* --------------------------------------------------------- command lines */

/* One line of c's (without its newline); what follows it in c->line is
 * still there. */
static void command(struct conn *c, char *line, uint64_t now)
{
	size_t n = strlen(line);
	if (n && line[n - 1] == '\r')
		line[--n] = '\0';
	if (c->state == C_CMD && !strncmp(line, "udp ", 4)) {
		udp_open(c, line + 4);
	} else if (c->state == C_CMD && !strcmp(line, "tcp")) {
		c->state = C_TCP;
		if (send(c->fd, "ok\n", 3, MSG_NOSIGNAL | MSG_DONTWAIT) != 3)
			conn_close(c);
	} else if (c->state == C_UDP && (!strcmp(line, "end") || !strncmp(line, "end ", 4))) {
		long ms = DEF_GRACE_MS;
		if (line[3] && cli_parse_int(line + 4, 0, MAX_GRACE_MS, &ms)) {
			conn_error(c, "bad end command (want: end [GRACE_MS], at most 60000)");
			return;
		}
		c->state = C_GRACE;
		c->deadline = now + (uint64_t)ms * 1000000;
	} else {
		conn_error(c, c->state == C_CMD ? "unknown command (want: udp SESSION COUNT, or tcp)"
						: "unexpected line (want: end [GRACE_MS])");
	}
}

/* Reads what fits of a line, runs the complete lines. */
static void line_turn(struct conn *c)
{
	ssize_t r;
	do
		r = recv(c->fd, c->line + c->nline, LINE_CAP - c->nline, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (r <= 0) { /* the peer is gone: an open session goes with it */
		conn_close(c);
		return;
	}
	c->nline += (size_t)r;
	uint64_t now = gx_now_ns();
	while (c->state == C_CMD || c->state == C_UDP) {
		char *nl = memchr(c->line, '\n', c->nline);
		if (!nl) {
			if (c->nline == LINE_CAP)
				conn_error(c, "line too long");
			return;
		}
		*nl = '\0';
		size_t used = (size_t)(nl - c->line) + 1;
		if (memchr(c->line, '\0', used - 1)) {
			conn_error(c, "NUL byte in a line");
			return;
		}
		command(c, c->line, now);
		memmove(c->line, c->line + used, c->nline - used);
		c->nline -= used;
	}
	if (c->state == C_TCP && c->nline) { /* data that came with the command */
		if (tcp_count(c, c->nline, now))
			conn_error(c, "out of memory");
		c->nline = 0;
	}
}

static void send_turn(struct conn *c)
{
	while (c->off < c->nout) {
		ssize_t w = send(c->fd, c->out + c->off, c->nout - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w < 0) {
			conn_close(c);
			return;
		}
		c->off += (size_t)w;
	}
	/* Input left unread would make close() reset the connection, and the
	 * answer still queued could be lost with it. */
	shutdown(c->fd, SHUT_WR);
	for (int k = 0; k < READS_PER_TURN; k++)
		if (recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT) <= 0)
			break;
	conn_close(c);
}

static void accept_turn(int lfd)
{
	for (int k = 0; k < ACCEPTS_PER_TURN; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct conn *c = nconns < MAX_CONNS ? calloc(1, sizeof *c) : NULL;
		if (!c) {
			static const char busy[] = "error too many connections\n";
			if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				cli_info("link serve: a refused connection: %s", strerror(errno));
			cli_warn("link serve: a control connection refused: too many connections");
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = C_CMD;
		c->deadline = gx_now_ns() + CMD_TIMEOUT_NS;
		conns[nconns++] = c;
	}
}

/* ----------------------------------------------------------------- serve */

/* Binds the TCP listener and the UDP socket to one port; 0 or -1 (said
 * why). */
static int bind_pair(const char *host, long port, int *lfd, int *ufd, int *got)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		cli_error("link serve: not an IPv4 address: '%s'", host);
		return -1;
	}
	for (int t = 0; t < PORT_TRIES; t++) {
		int one = 1;
		socklen_t sl = sizeof sa;
		sa.sin_port = htons((uint16_t)port);
		*lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		*ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (*lfd < 0 || *ufd < 0 ||
		    setsockopt(*lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
		    bind(*lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(*lfd, 64) != 0 ||
		    getsockname(*lfd, (struct sockaddr *)&sa, &sl) != 0) {
			cli_error("link serve: cannot listen on %s:%ld: %s", host, port, strerror(errno));
			return -1;
		}
		if (bind(*ufd, (struct sockaddr *)&sa, sizeof sa) == 0) {
			*got = ntohs(sa.sin_port);
			return 0;
		}
		int e = errno;
		close(*lfd);
		close(*ufd);
		*lfd = *ufd = -1;
		if (e != EADDRINUSE || port != 0) {
			cli_error("link serve: cannot bind UDP %s:%d: %s", host, ntohs(sa.sin_port),
				  strerror(e));
			return -1;
		}
	}
	cli_error("link serve: no port free for both TCP and UDP after %d tries", PORT_TRIES);
	return -1;
}

int link_serve(const char *host, long port)
{
	int lfd = -1, ufd = -1, got, rc = CLI_FAIL;
	if (bind_pair(host, port, &lfd, &ufd, &got))
		goto out;
	int rb = UDP_RCVBUF;
	if (setsockopt(ufd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb) != 0)
		setsockopt(ufd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
	socklen_t rl = sizeof rb;
	if (getsockopt(ufd, SOL_SOCKET, SO_RCVBUF, &rb, &rl) == 0)
		cli_info("link serve: UDP receive buffer %d bytes", rb);

	/* The signals are let in only inside ppoll: no wake-up is lost. */
	sigset_t block, during;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &during);
	sigdelset(&during, SIGTERM);
	sigdelset(&during, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("%d\n", got);
	if (fflush(stdout) || ferror(stdout)) {
		cli_error("write error on stdout: %s", strerror(errno));
		goto out;
	}
	cli_info("link serve: listening on %s:%d (TCP and UDP)", host, got);

	static struct pollfd pfd[2 + MAX_CONNS];
	while (!stop_sig) {
		uint64_t now = gx_now_ns(), next = UINT64_MAX;
		int np = 2, polled = nconns;
		pfd[0] = (struct pollfd){ ufd, POLLIN, 0 };
		pfd[1] = (struct pollfd){ lfd, POLLIN, 0 };
		for (int i = 0; i < nconns; i++) {
			struct conn *c = conns[i];
			short ev = c->state == C_SEND ? POLLOUT : c->state == C_GRACE ? 0 : POLLIN;
			pfd[np++] = (struct pollfd){ c->fd, ev, 0 };
			if (c->state != C_UDP && c->state != C_TCP && c->deadline < next)
				next = c->deadline;
		}
		struct timespec ts, *tsp = NULL;
		if (next != UINT64_MAX) {
			uint64_t d = next > now ? next - now : 0;
			ts.tv_sec = (time_t)(d / 1000000000);
			ts.tv_nsec = (long)(d % 1000000000);
			tsp = &ts;
		}
		if (ppoll(pfd, (nfds_t)np, tsp, &during) < 0) {
			if (errno == EINTR)
				continue;
			cli_error("link serve: poll: %s", strerror(errno));
			goto out;
		}
		if (pfd[0].revents)
			udp_turn(ufd);
		if (pfd[1].revents)
			accept_turn(lfd);
		for (int i = 0; i < polled; i++) {
			struct conn *c = conns[i];
			short re = pfd[2 + i].revents;
			if (!re)
				continue;
			if (c->state == C_GRACE) /* POLLERR or POLLHUP: nobody to answer */
				conn_close(c);
			else if (c->state == C_SEND)
				send_turn(c);
			else if (c->state == C_TCP)
				tcp_turn(c);
			else
				line_turn(c);
		}
		now = gx_now_ns();
		for (int i = 0; i < nconns; i++) {
			struct conn *c = conns[i];
			if (c->state == C_GRACE && now >= c->deadline)
				udp_answer(c);
			else if (c->state == C_CMD && now >= c->deadline)
				conn_error(c, "no command within 30 s");
			else if (c->state == C_SEND && now >= c->deadline)
				conn_close(c);
		}
		int k = 0;
		for (int i = 0; i < nconns; i++) {
			if (conns[i]->state == C_DEAD)
				free(conns[i]);
			else
				conns[k++] = conns[i];
		}
		nconns = k;
	}
	cli_info("link serve: stopped by signal %d; %llu garbage datagrams, %llu echoes not sent",
		 (int)stop_sig, (unsigned long long)garbage, (unsigned long long)echo_fail);
	rc = CLI_OK;
out:
	for (int i = 0; i < nconns; i++) {
		conn_close(conns[i]);
		free(conns[i]);
	}
	nconns = 0;
	if (lfd >= 0)
		close(lfd);
	if (ufd >= 0)
		close(ufd);
	return rc;
}
