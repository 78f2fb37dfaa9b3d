/*
 * t_net.h — socket helpers shared by the unit tests of lib/net/conn.c (plain
 * and secure); included after net.h.
 */
#ifndef GX_T_NET_H
#define GX_T_NET_H

#include <poll.h>
#include <unistd.h>

#include "net/conn.h"

/* A connected pair of non-blocking TCP sockets on 127.0.0.1. */
static int t_tcp_pair(int *a, int *b)
{
	char err[256], peer[64];
	int l = gx_net_listen("127.0.0.1", 0, err, sizeof err);
	if (l < 0)
		return -1;
	int port = gx_net_port(l);
	int c = gx_net_connect("127.0.0.1", port, err, sizeof err);
	if (c < 0) {
		close(l);
		return -1;
	}
	int s;
	for (int i = 0; i < 200; i++) {
		s = gx_net_accept(l, peer, sizeof peer);
		if (s != GX_ENEEDMORE)
			break;
		struct pollfd p = { l, POLLIN, 0 };
		poll(&p, 1, 10);
	}
	close(l);
	if (s < 0) {
		close(c);
		return -1;
	}
	struct pollfd p = { c, POLLOUT, 0 };
	poll(&p, 1, 1000);
	if (gx_net_connect_result(c) != 0) {
		close(c);
		close(s);
		return -1;
	}
	*a = c;
	*b = s;
	return 0;
}

/* A connection end that ignores what it reads (on_frame) and sets the int
 * its ud points at when it closes (on_close). Inline: not every test
 * takes them. */
static inline void t_nop_frame(gx_conn *c, const gx_frame_hdr *h, const uint8_t *p, void *ud)
{
	(void)c, (void)h, (void)p, (void)ud;
}

static inline void t_gone_close(gx_conn *c, int err, const char *why, void *ud)
{
	(void)c, (void)err, (void)why;
	*(int *)ud = 1;
}

/* Fills buf with bytes that depend on the offset and on its 512-byte
 * block, so a payload taken from the wrong place does not compare equal. */
static inline void t_pattern(uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 9));
}

/* Runs the loop until the condition holds or ms pass; 1 if it holds. */
#define SPIN(ev, cond, ms)                                                \
	({                                                                \
		uint64_t end_ = gx_now_ms() + (ms);                       \
		while (!(cond) && gx_now_ms() < end_)                     \
			gx_ev_once((ev), 20);                             \
		(cond) ? 1 : 0;                                           \
	})

#endif
