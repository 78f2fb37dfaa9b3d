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
	stream_writer w;
	size_t chunk;  /* bytes per send and per recv: one tensor */
	uint8_t *wbuf, *rbuf;
} tcp;

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
	if (writer_start(&tcp.w, "bps-tcp-writer", tcp.wbuf, chunk, chunk) != 0) {
		cli_error("ps: cannot start the baseline's writer thread");
		return -1;
	}
	return 0;
}

/* Streams bytes from the writer thread to this one; returns the seconds
 * from the order to the last byte read, or -1. */
double tcp_transfer(uint64_t bytes)
{
	double t0 = cli_now();
	writer_order(&tcp.w, tcp_fds[0], bytes);
	uint64_t got;
	int e = recv_stream(tcp_fds[1], tcp.rbuf, tcp.chunk, bytes, &got);
	if (e) {
		if (!atomic_load(&got_sig))
			cli_error("ps: baseline connection: %s", e == EPIPE ? "closed" : strerror(e));
		return -1;
	}
	double t = cli_now() - t0;
	if ((e = writer_error(&tcp.w)) != 0) {
		cli_error("ps: baseline writer: %s", strerror(e));
		return -1;
	}
	return t;
}

void tcp_teardown(void)
{
	writer_stop(&tcp.w);
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
