/*
 * stream.c — geomx-bench: blocking loopback byte streams (stream.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "stream.h"

int send_stream(int fd, const uint8_t *buf, size_t len, size_t per_send, uint64_t left)
{
	size_t off = 0;
	while (left > 0) {
		size_t m = len - off;
		if (m > per_send)
			m = per_send;
		if (m > left)
			m = (size_t)left;
		ssize_t w = send(fd, buf + off, m, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EPIPE;
		left -= (uint64_t)w;
		off = (off + (size_t)w) % len;
	}
	return 0;
}

int recv_stream(int fd, uint8_t *buf, size_t cap, uint64_t bytes, uint64_t *got)
{
	*got = 0;
	while (*got < bytes) {
		size_t m = bytes - *got < cap ? (size_t)(bytes - *got) : cap;
		ssize_t r = recv(fd, buf, m, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? errno : EPIPE;
		*got += (uint64_t)r;
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
	stream_writer *w = ud;
	unsigned seen = 0;
	pthread_setname_np(pthread_self(), w->name);
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (w->gen == seen && !w->quit)
			pthread_cond_wait(&w->go, &w->mu);
		seen = w->gen;
		int quit = w->quit, fd = w->fd;
		uint64_t bytes = w->bytes;
		pthread_mutex_unlock(&w->mu);
		if (quit)
			return NULL;
		int e = send_stream(fd, w->buf, w->len, w->per_send, bytes);
		if (e) {
			pthread_mutex_lock(&w->mu);
			w->err = e;
			pthread_mutex_unlock(&w->mu);
		}
	}
}

int writer_start(stream_writer *w, const char *name, const uint8_t *buf, size_t len,
		 size_t per_send)
{
	memset(w, 0, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->go, NULL);
	w->fd = -1;
	w->buf = buf;
	w->len = len;
	w->per_send = per_send;
	snprintf(w->name, sizeof w->name, "%s", name);
	if (pthread_create(&w->th, NULL, writer_main, w) != 0)
		return -1;
	w->started = 1;
	return 0;
}

void writer_order(stream_writer *w, int fd, uint64_t bytes)
{
	pthread_mutex_lock(&w->mu);
	w->fd = fd;
	w->bytes = bytes;
	w->err = 0;
	w->gen++;
	pthread_cond_signal(&w->go);
	pthread_mutex_unlock(&w->mu);
}

int writer_error(stream_writer *w)
{
	pthread_mutex_lock(&w->mu);
	int e = w->err;
	pthread_mutex_unlock(&w->mu);
	return e;
}

void writer_stop(stream_writer *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_signal(&w->go);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	w->started = 0;
}
