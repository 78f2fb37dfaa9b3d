/*
 * ps_tcp.c — `geomx-bench ps`: the TCP baseline, one loopback connection
 * streamed from a writer thread to the caller, which the PS figures are
 * compared with. The benchmark itself is in ps.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "../cli.h"
#include "ps_internal.h"

/* The baseline's sockets (declared in ps_internal.h): written here under
 * kid_mu, shut down by the signal thread, read by ps.c for a log line. */
int tcp_fds[2] = {-1, -1};

static struct {
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t go;
	unsigned gen;
	int quit;
	uint64_t bytes; /* of the current transfer */
	size_t chunk;  /* bytes per send and per recv: one tensor */
	uint8_t *wbuf, *rbuf;
	int werr;      /* errno of a failed send */
} tcp = {.mu = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER};

int send_stream(int fd, const uint8_t *buf, size_t chunk, uint64_t left)
{
	size_t off = 0;
	while (left > 0) {
		size_t m = chunk - off;
		if (m > left)
			m = (size_t)left;
		ssize_t w = send(fd, buf + off, m, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EPIPE;
		left -= (uint64_t)w;
		off = (off + (size_t)w) % chunk;
	}
	return 0;
}

int loopback_pair(int *a, int *b)
{
	int one = 1, lfd;
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*a = *b = -1;
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0 ||
	    (*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(*a, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    (*b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		int e = errno;
		close(lfd);
		if (*a >= 0)
			close(*a);
		*a = -1;
		errno = e;
		return -1;
	}
	close(lfd);
	setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return 0;
}

static void *writer_main(void *ud)
{
	(void)ud;
	unsigned seen = 0;
	pthread_setname_np(pthread_self(), "bps-tcp-writer");
	for (;;) {
		pthread_mutex_lock(&tcp.mu);
		while (tcp.gen == seen && !tcp.quit)
			pthread_cond_wait(&tcp.go, &tcp.mu);
		seen = tcp.gen;
		int quit = tcp.quit;
		uint64_t left = tcp.bytes;
		pthread_mutex_unlock(&tcp.mu);
		if (quit)
			return NULL;
		int e = send_stream(tcp_fds[0], tcp.wbuf, tcp.chunk, left);
		if (e) {
			pthread_mutex_lock(&tcp.mu);
			tcp.werr = e;
			pthread_mutex_unlock(&tcp.mu);
		}
	}
}

/* One loopback connection with default socket options (the kernel's
 * autotuned buffers, as geomx's own sockets have) plus TCP_NODELAY, as
 * geomx sets; blocking, one writer thread, the reader being the caller. */
int tcp_setup(size_t chunk)
{
	int a, b;
	tcp.chunk = chunk;
	tcp.wbuf = malloc(chunk);
	tcp.rbuf = malloc(chunk);
	if (!tcp.wbuf || !tcp.rbuf) {
		cli_error("ps: out of memory");
		return -1;
	}
	for (size_t i = 0; i < chunk; i++)
		tcp.wbuf[i] = (uint8_t)(i * 131 + 7);
	memset(tcp.rbuf, 0, chunk);
	if (loopback_pair(&a, &b)) {
		cli_error("ps: baseline connection on 127.0.0.1: %s", strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&kid_mu);
	tcp_fds[0] = a; /* the writer's end */
	tcp_fds[1] = b; /* the reader's end */
	pthread_mutex_unlock(&kid_mu);
	if (pthread_create(&tcp.th, NULL, writer_main, NULL) != 0) {
		cli_error("ps: cannot start the baseline's writer thread");
		return -1;
	}
	tcp.started = 1;
	return 0;
}

/* Streams bytes from the writer thread to this one; returns the seconds
 * from the order to the last byte read, or -1. */
double tcp_transfer(uint64_t bytes)
{
	pthread_mutex_lock(&tcp.mu);
	tcp.bytes = bytes;
	tcp.gen++;
	double t0 = cli_now();
	pthread_cond_signal(&tcp.go);
	pthread_mutex_unlock(&tcp.mu);
	uint64_t left = bytes;
	while (left > 0) {
		size_t m = left < tcp.chunk ? (size_t)left : tcp.chunk;
		ssize_t r = recv(tcp_fds[1], tcp.rbuf, m, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!atomic_load(&got_sig))
				cli_error("ps: baseline connection: %s",
					  r < 0 ? strerror(errno) : "closed");
			return -1;
		}
		left -= (uint64_t)r;
	}
	double t = cli_now() - t0;
	pthread_mutex_lock(&tcp.mu);
	int werr = tcp.werr;
	pthread_mutex_unlock(&tcp.mu);
	if (werr) {
		cli_error("ps: baseline writer: %s", strerror(werr));
		return -1;
	}
	return t;
}

void tcp_teardown(void)
{
	if (tcp.started) {
		pthread_mutex_lock(&tcp.mu);
		tcp.quit = 1;
		pthread_cond_signal(&tcp.go);
		pthread_mutex_unlock(&tcp.mu);
		pthread_join(tcp.th, NULL);
		tcp.started = 0;
	}
	pthread_mutex_lock(&kid_mu);
	for (int i = 0; i < 2; i++) {
		if (tcp_fds[i] >= 0)
			close(tcp_fds[i]);
		tcp_fds[i] = -1;
	}
	pthread_mutex_unlock(&kid_mu);
	free(tcp.wbuf);
	free(tcp.rbuf);
	tcp.wbuf = tcp.rbuf = NULL;
}
