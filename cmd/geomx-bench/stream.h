/*
 * stream.h — geomx-bench: blocking loopback byte streams, the plumbing of
 * the baselines and bounds the benchmarks measure against (the TCP stream
 * and the four-hop chain of `ps`, the relay paths of `relay`).
 */
#ifndef GX_BENCH_STREAM_H
#define GX_BENCH_STREAM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* A connected pair of loopback TCP sockets with TCP_NODELAY, as the
 * servers' sockets are; 0, or -1 with errno (nothing left open). */
int loopback_pair(int *a, int *b);
/* Sends left bytes on a blocking fd, cycling through buf's len bytes, at
 * most per_send a call. 0 or the errno of the failed send (EPIPE for a
 * closed peer). */
int send_stream(int fd, const uint8_t *buf, size_t len, size_t per_send, uint64_t left);
/* Receives bytes on a blocking fd into buf (cap bytes, overwritten), at
 * most cap a call; *got counts what arrived. 0, or the errno of the failed
 * recv (EPIPE when the peer closed first). */
int recv_stream(int fd, uint8_t *buf, size_t cap, uint64_t bytes, uint64_t *got);

/* A thread that sends a given number of bytes (send_stream over buf) on a
 * given socket each time it is ordered to, while the caller reads them. */
typedef struct stream_writer {
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t go;
	unsigned gen; /* orders given */
	int quit;
	int fd;
	uint64_t bytes;
	const uint8_t *buf;
	size_t len, per_send;
	int err;      /* errno of the last order's failed send */
	char name[16];
} stream_writer;

/* Starts w's thread (named name) sending from buf (len bytes, per_send a
 * call); 0, or -1 (the thread could not start). */
int writer_start(stream_writer *w, const char *name, const uint8_t *buf, size_t len,
		 size_t per_send);
/* Orders bytes on fd; returns at once. */
void writer_order(stream_writer *w, int fd, uint64_t bytes);
/* The errno of the last order's failed send, or 0. */
int writer_error(stream_writer *w);
/* Ends the thread (after its current order) and joins it. */
void writer_stop(stream_writer *w);

#endif
