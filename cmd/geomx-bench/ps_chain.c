/*
 * ps_chain.c — `geomx-bench ps`: the bound of a 4-hop exchange. A worker's
 * push+pull through a HiPS crosses four loopback TCP connections (worker ->
 * local -> global -> local -> worker); this measures the same four hops with
 * nothing but forwarding at each: a client sends one round's bytes, two
 * forwarder threads and an echo thread pass every piece on the moment it
 * arrives (no parsing, no summing, no optimizer, no copy but the kernel's),
 * and the client reads the round back before it sends the next. No
 * synchronous parameter server over these hops can move a round faster on
 * the same machine, so x_chain = ps / chain says how much of that bound the
 * servers reach, where x_tcp compares with a single stream (one hop).
 *
 * The same chain also runs store-and-forward: each hop receives a whole
 * piece before it passes it on, as a server must that acts on whole frames
 * (a sum, an optimizer step, a checksum verified before use). With pieces
 * of a round's whole message it is the bound of a design in which every
 * hop handles a tensor as one frame (x_sf = ps / sf); with pieces of the
 * servers' block size it is the bound of the servers' own design, tensors
 * cut into blocks that travel on while the rest arrives, each block whole
 * at each hop (x_block = ps / block). Only a hop that passed a frame on
 * before it had all of it could go past that, towards the forwarding
 * chain. And where the echo also takes an optimizer step on each block
 * (w -= lr g, as the global server does on every round's sum, and sends
 * back w), it is the bound of servers that apply an optimizer at all
 * (x_opt = ps / opt): the work no parameter server can leave out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#include "geomx.h"

#include "../cli.h"
#include "ps_internal.h"
#include "ps_opts.h"

#define PUMP_BYTES (256u << 10) /* per recv in a forwarder */

/* fd[0] client, fd[1] near forwarder; fd[2] far forwarder, fd[3] echo. */
static struct {
	int fd[4];
	pthread_t th[3]; /* up, down, echo */
	int nth;
	stream_writer w; /* the client's sender */
	pthread_mutex_t mu;
	uint64_t bytes; /* per round, each way */
	uint64_t piece; /* each hop waits for pieces of this many bytes (0: none) */
	int step;       /* the echo takes an SGD step on each piece (piece > 0) */
	float *params;  /* the echo's parameters: round_max bytes */
	size_t round_max;  /* the most bytes of a round, each way */
	uint8_t *wbuf, *rbuf;
	size_t chunk;
} ch = {.fd = {-1, -1, -1, -1}, .mu = PTHREAD_MUTEX_INITIALIZER};

struct pump {
	int in, out;
};
static struct pump pumps[3];

/* Passes everything from in to out until end of stream or an error: each
 * piece the moment it arrives or, store-and-forward, each piece of the
 * round (the last one may be short) once all of it is in. (The mode and
 * the sizes are read after the first bytes of a piece arrived, so after
 * the client set them for the round.) */
static void *pump_main(void *ud)
{
	struct pump *p = ud;
	size_t cap = ch.round_max > PUMP_BYTES ? ch.round_max : PUMP_BYTES;
	uint8_t *b = malloc(cap);
	uint64_t pos = 0; /* bytes of the round passed on */
	size_t have = 0;  /* bytes in b, not yet passed on */
	pthread_setname_np(pthread_self(), "bps-chain-fwd");
	while (b) {
		if (have == 0) {
			ssize_t n = recv(p->in, b, PUMP_BYTES, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			have = (size_t)n;
		}
		pthread_mutex_lock(&ch.mu);
		uint64_t piece = ch.piece, round = ch.bytes;
		int step = ch.step && p == &pumps[2];
		pthread_mutex_unlock(&ch.mu);
		size_t out = have;
		if (piece) {
			pos %= round;
			out = (size_t)(round - pos < piece ? round - pos : piece);
			while (have < out) {
				ssize_t m = recv(p->in, b + have, out - have, 0);
				if (m < 0 && errno == EINTR)
					continue;
				if (m <= 0)
					goto done;
				have += (size_t)m;
			}
		}
		const uint8_t *send = b;
		if (step && piece) {
			/* pieces are whole floats: the --block size in floats */
			float *w = ch.params + pos / 4;
			const float *g = (const float *)(const void *)b;
			for (size_t j = 0; j < out / 4; j++)
				w[j] -= LR * g[j];
			send = (const uint8_t *)w;
		}
		if (send_stream(p->out, send, out, out, out))
			break;
		pos += out;
		/* the start of the next piece, when one recv read past this one */
		memmove(b, b + out, have - out);
		have -= out;
	}
done:
	shutdown(p->out, SHUT_WR);
	free(b);
	return NULL;
}

int chain_setup(size_t chunk, size_t round_max)
{
	ch.chunk = chunk;
	ch.round_max = round_max;
	ch.wbuf = malloc(chunk);
	ch.rbuf = malloc(chunk);
	ch.params = calloc(round_max / 4 + 1, sizeof *ch.params);
	if (!ch.wbuf || !ch.rbuf || !ch.params) {
		cli_error("ps: out of memory");
		return -1;
	}
	for (size_t i = 0; i < chunk; i++)
		ch.wbuf[i] = (uint8_t)(i * 131 + 7);
	memset(ch.rbuf, 0, chunk);
	int fd[4] = {-1, -1, -1, -1};
	if (loopback_pair(&fd[0], &fd[1]) || loopback_pair(&fd[2], &fd[3])) {
		cli_error("ps: chain connections on 127.0.0.1: %s", strerror(errno));
		for (int i = 0; i < 4; i++)
			if (fd[i] >= 0)
				close(fd[i]);
		return -1;
	}
	pthread_mutex_lock(&kid_mu);
	memcpy(ch.fd, fd, sizeof fd);
	pthread_mutex_unlock(&kid_mu);
	pumps[0] = (struct pump){ch.fd[1], ch.fd[2]}; /* up */
	pumps[1] = (struct pump){ch.fd[2], ch.fd[1]}; /* down */
	pumps[2] = (struct pump){ch.fd[3], ch.fd[3]}; /* echo */
	for (int i = 0; i < 3; i++) {
		if (pthread_create(&ch.th[i], NULL, pump_main, &pumps[i]) != 0) {
			cli_error("ps: cannot start the chain's threads");
			return -1;
		}
		ch.nth++;
	}
	if (writer_start(&ch.w, "bps-chain-send", ch.wbuf, chunk, chunk) != 0) {
		cli_error("ps: cannot start the chain's threads");
		return -1;
	}
	return 0;
}

double chain_rounds(long rounds, uint64_t bytes, uint64_t piece, int step)
{
	if (piece > ch.round_max) {
		cli_error("ps: chain piece of %llu bytes over its %zu-byte buffers",
			  (unsigned long long)piece, ch.round_max);
		return -1;
	}
	double t0 = cli_now();
	for (long r = 0; r < rounds; r++) {
		pthread_mutex_lock(&ch.mu);
		ch.bytes = bytes;
		ch.piece = piece;
		ch.step = step;
		pthread_mutex_unlock(&ch.mu);
		writer_order(&ch.w, ch.fd[0], bytes);
		uint64_t got;
		int e = recv_stream(ch.fd[0], ch.rbuf, ch.chunk, bytes, &got);
		if (e) {
			if (!atomic_load(&got_sig))
				cli_error("ps: chain connection: %s",
					  e == EPIPE ? "closed" : strerror(e));
			return -1;
		}
		if ((e = writer_error(&ch.w)) != 0) {
			cli_error("ps: chain writer: %s", strerror(e));
			return -1;
		}
	}
	return cli_now() - t0;
}

void chain_interrupt(void)
{
	for (int i = 0; i < 4; i++)
		if (ch.fd[i] >= 0)
			shutdown(ch.fd[i], SHUT_RDWR);
}

void chain_teardown(void)
{
	/* End of stream from the client ends every pump in turn (and a send
	 * the sender may be blocked in). */
	for (int i = 0; i < 4; i++)
		if (ch.fd[i] >= 0)
			shutdown(ch.fd[i], SHUT_RDWR);
	writer_stop(&ch.w);
	for (int i = 0; i < ch.nth; i++)
		pthread_join(ch.th[i], NULL);
	ch.nth = 0;
	pthread_mutex_lock(&kid_mu);
	for (int i = 0; i < 4; i++) {
		if (ch.fd[i] >= 0)
			close(ch.fd[i]);
		ch.fd[i] = -1;
	}
	pthread_mutex_unlock(&kid_mu);
	free(ch.wbuf);
	free(ch.rbuf);
	free(ch.params);
	ch.wbuf = ch.rbuf = NULL;
	ch.params = NULL;
}
