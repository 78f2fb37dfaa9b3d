/*
 * sock.c — TCP socket helpers in the style of redis anet (src/anet.c): one
 * helper per socket option, non-blocking descriptors with close-on-exec,
 * and failures explained in a buffer the caller owns ("cannot listen on
 * 127.0.0.1:5000: Address already in use"), never printed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

/* Keepalive idle time of accepted and connected sockets: dead peers are
 * noticed by the heartbeats long before, so this only reaps half-open
 * connections nobody watches. */
#define NET_KEEPALIVE_S 60
#define NET_BACKLOG 511

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	if (!err || cap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* "host:port" for messages: "[v6]:port" when host holds a ':', "*:port"
 * for any address. */
static void fmt_addr(char *buf, size_t cap, const char *host, int port)
{
	if (!host || !*host)
		snprintf(buf, cap, "*:%d", port);
	else if (strchr(host, ':'))
		snprintf(buf, cap, "[%s]:%d", host, port);
	else
		snprintf(buf, cap, "%s:%d", host, port);
}

static int parse_port(const char *s, int *port)
{
	long v = 0;
	if (!*s)
		return GX_EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return GX_EINVAL;
		v = v * 10 + (*s - '0');
		if (v > 65535)
			return GX_EINVAL;
	}
	*port = (int)v;
	return 0;
}

int gx_net_split(const char *addr, char *host, size_t hostcap, int *port)
{
	const char *h, *colon;
	size_t hl;

	if (!addr || !host || hostcap == 0 || !port)
		return GX_EINVAL;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			return GX_EINVAL;
		h = addr + 1;
		hl = (size_t)(close - h);
		if (hl == 0)
			return GX_EINVAL;
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return GX_EINVAL;
		h = addr;
		hl = (size_t)(colon - addr);
		/* an unbracketed IPv6 address is ambiguous */
		if (memchr(h, ':', hl) || memchr(h, '[', hl) || memchr(h, ']', hl))
			return GX_EINVAL;
	}
	if (hl >= hostcap)
		return GX_EINVAL;
	int p;
	if (parse_port(colon + 1, &p) != 0)
		return GX_EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = p;
	return 0;
}

int gx_net_addr_list(const char *list, gx_net_addr *out, size_t cap, size_t *n, char *err,
		     size_t errcap)
{
	if (!list || !n || (!out && cap)) {
		set_err(err, errcap, "no address list");
		return GX_EINVAL;
	}
	size_t i = 0;
	for (const char *s = list;; i++) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		gx_net_addr a;
		if (len == 0) {
			set_err(err, errcap, "item %zu is empty", i + 1);
			return GX_EINVAL;
		}
		if (len > GX_NET_ADDR_MAX) {
			set_err(err, errcap, "item %zu is too long (%zu characters, at most %d)", i + 1,
				len, GX_NET_ADDR_MAX);
			return GX_EINVAL;
		}
		memcpy(a.text, s, len);
		a.text[len] = '\0';
		const char *colon = strrchr(a.text, ':');
		if (gx_net_split(a.text, a.host, sizeof a.host, &a.port) != 0) {
			int p;
			if (colon && colon[1] && parse_port(colon + 1, &p) != 0)
				set_err(err, errcap, "'%s' has a bad port (want 1..65535)", a.text);
			else
				set_err(err, errcap, "'%s' is not HOST:PORT", a.text);
			return GX_EINVAL;
		}
		if (a.port == 0) {
			set_err(err, errcap, "'%s' has a bad port (want 1..65535)", a.text);
			return GX_EINVAL;
		}
		if (i < cap)
			out[i] = a;
		if (!e)
			break;
		s = e + 1;
	}
	*n = i + 1;
	return 0;
}

int gx_net_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return GX_EIO;
	return 0;
}

int gx_net_nodelay(int fd)
{
	int on = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
		return GX_EIO;
	return 0;
}

int gx_net_keepalive(int fd, int idle_s)
{
	int on = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0)
		return GX_EIO;
	if (idle_s <= 0)
		return 0;
	/* As redis anetKeepAlive: first probe after idle_s, then every
	 * idle_s/3, dead after 3 unanswered probes. */
	int intvl = idle_s / 3 > 0 ? idle_s / 3 : 1, cnt = 3;
	if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) < 0)
		return GX_EIO;
	return 0;
}

/* "ip:port" of a socket address; IPv4-mapped IPv6 addresses read as IPv4,
 * other IPv6 ones as "[ip]:port". */
static void fmt_sockaddr(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	if (!buf || cap == 0)
		return;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
		snprintf(buf, cap, "%s:%d", ip, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			inet_ntop(AF_INET, &s->sin6_addr.s6_addr[12], ip, sizeof ip);
			snprintf(buf, cap, "%s:%d", ip, ntohs(s->sin6_port));
		} else {
			inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
			snprintf(buf, cap, "[%s]:%d", ip, ntohs(s->sin6_port));
		}
	} else {
		snprintf(buf, cap, "?");
	}
}

int gx_net_peer_name(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (!buf || cap == 0)
		return GX_EINVAL;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
		snprintf(buf, cap, "?");
		return GX_EIO;
	}
	fmt_sockaddr(&ss, buf, cap);
	return 0;
}

static int resolve(const char *host, int port, int socktype, int passive, struct addrinfo **res)
{
	struct addrinfo hints;
	char ps[8];
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(ps, sizeof ps, "%d", port);
	return getaddrinfo(host && *host ? host : NULL, ps, &hints, res);
}

/* The addresses to listen on (passive) or connect to, with "HOST:PORT" in
 * where for messages; a port below lowest or above 65535, or a failed
 * lookup, is GX_EIO with "cannot VERB HOST:PORT: why" in err and errno set. */
static int lookup(const char *verb, const char *host, int port, int socktype, int lowest,
		  int passive, char *where, size_t wcap, struct addrinfo **res, char *err,
		  size_t errcap)
{
	fmt_addr(where, wcap, host, port);
	if (port < lowest || port > 65535) {
		set_err(err, errcap, "cannot %s %s: invalid port", verb, where);
		errno = EINVAL;
		return GX_EIO;
	}
	int rc = resolve(host, port, socktype, passive, res);
	if (rc != 0) {
		int e = rc == EAI_SYSTEM ? errno : EINVAL;
		set_err(err, errcap, "cannot %s %s: %s", verb, where,
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		errno = e;
		return GX_EIO;
	}
	return 0;
}

/* Binds and listens (0) or fails: GX_EIO, errno set. */
static int start_listening(int fd, const struct addrinfo *a)
{
	int on = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
	    bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, NET_BACKLOG) == 0)
		return 0;
	return GX_EIO;
}

/* Starts connecting (0) or fails: GX_EIO, errno set. EINPROGRESS is the normal
 * answer of a non-blocking socket; after EINTR the connect goes on in the
 * background too (a second connect would only say EALREADY). */
static int start_connecting(int fd, const struct addrinfo *a)
{
	if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS || errno == EINTR)
		return 0;
	return GX_EIO;
}

/* Looks up host:port and returns a non-blocking socket on the first address
 * for which start() succeeds, or GX_EIO with "cannot VERB WHERE: reason". */
static int open_socket(const char *verb, const char *host, int port, int socktype,
		       int for_connect, const gx_sockbuf *b,
		       int (*start)(int fd, const struct addrinfo *a), char *err, size_t errcap)
{
	char where[300];
	struct addrinfo *res = NULL;
	int fd = -1, saved = 0;

	if (lookup(verb, host, port, socktype, for_connect, !for_connect, where, sizeof where, &res,
		   err, errcap))
		return GX_EIO;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		gx_net_set_sockbuf(fd, b);
		if (start(fd, a) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		set_err(err, errcap, "cannot %s %s: %s", verb, where, strerror(saved));
		errno = saved;
		return GX_EIO;
	}
	return fd;
}

int gx_net_listen(const char *host, int port, char *err, size_t errcap)
{
	return open_socket("listen on", host, port, SOCK_STREAM, 0, NULL, start_listening, err,
			   errcap);
}

/* Binds (0) or fails: GX_EIO, errno set. */
static int start_binding(int fd, const struct addrinfo *a)
{
	return bind(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : GX_EIO;
}

int gx_net_udp_bind(const char *host, int port, char *err, size_t errcap)
{
	return open_socket("bind UDP", host, port, SOCK_DGRAM, 0, NULL, start_binding, err, errcap);
}

int gx_net_udp_connect(const char *host, int port, char *err, size_t errcap)
{
	return open_socket("send UDP to", host, port, SOCK_DGRAM, 1, NULL, start_connecting, err,
			   errcap);
}

int gx_net_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return GX_EIO;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	errno = EAFNOSUPPORT;
	return GX_EIO;
}

int gx_net_accept(int lfd, char *peer, size_t peercap)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	for (;;) {
		sl = sizeof ss;
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno == EINTR)
			continue;
		/* A connection reset before we took it is simply gone. */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
			return GX_ENEEDMORE;
		return GX_EIO;
	}
	/* Best effort: a socket without them still works. */
	gx_net_nodelay(fd);
	gx_net_keepalive(fd, NET_KEEPALIVE_S);
	fmt_sockaddr(&ss, peer, peercap);
	return fd;
}

void gx_net_set_sockbuf(int fd, const gx_sockbuf *b)
{
	if (b && b->rcvbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b->rcvbuf, sizeof b->rcvbuf);
	if (b && b->mss > 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &b->mss, sizeof b->mss);
}

int gx_net_connect(const char *host, int port, char *err, size_t errcap)
{
	return gx_net_connect_buf(host, port, NULL, err, errcap);
}

int gx_net_connect_buf(const char *host, int port, const gx_sockbuf *b, char *err, size_t errcap)
{
	int fd = open_socket("connect to", host, port, SOCK_STREAM, 1, b, start_connecting, err,
			     errcap);
	if (fd < 0)
		return fd;
	gx_net_nodelay(fd);
	gx_net_keepalive(fd, NET_KEEPALIVE_S);
	return fd;
}

int gx_net_connect_result(int fd)
{
	int e = 0;
	socklen_t sl = sizeof e;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
		return errno ? errno : EIO;
	return e;
}

size_t gx_net_host_len(const char *name)
{
	const char *colon = strrchr(name, ':');
	return colon ? (size_t)(colon - name) : strlen(name);
}

int gx_net_same_host(const char *a, const char *b)
{
	size_t n = gx_net_host_len(a);
	return n == gx_net_host_len(b) && memcmp(a, b, n) == 0;
}

long gx_net_evict_pick(const char *const *names, size_t n)
{
	if (n == 0)
		return -1;
	size_t cap = 16;
	while (cap < 2 * n)
		cap <<= 1;
	struct src {
		const char *name; /* its oldest connection's */
		size_t n, first;  /* how many; the oldest's index */
	} *t = calloc(cap, sizeof *t);
	if (!t)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = gx_net_host_len(names[i]);
		uint32_t h = 2166136261u; /* FNV-1a over the address */
		for (size_t c = 0; c < len; c++)
			h = (h ^ (uint8_t)names[i][c]) * 16777619u;
		size_t at = h & (cap - 1);
		while (t[at].name && !gx_net_same_host(t[at].name, names[i]))
			at = (at + 1) & (cap - 1);
		if (!t[at].name) {
			t[at].name = names[i];
			t[at].first = i;
		}
		t[at].n++;
	}
	const struct src *best = NULL;
	for (size_t at = 0; at < cap; at++)
		if (t[at].name && (!best || t[at].n > best->n ||
				   (t[at].n == best->n && t[at].first < best->first)))
			best = &t[at];
	long v = (long)best->first;
	free(t);
	return v;
}

