/*
 * link.h — what `geomx-bench link`'s probes (link.c) and its server
 * (link_serve.c) share: the datagram's layout and kinds, the limits both
 * check, and the helpers of the server's file that the probes use.
 */
#ifndef GX_BENCH_LINK_H
#define GX_BENCH_LINK_H

#include <stddef.h>
#include <stdint.h>

#define LINK_MAGIC 0x4b4c5847u  /* "GXLK" little-endian */
#define LINK_HDR 24             /* magic, type, pad[3], session, seq, send_ns */
#define LINK_ECHO 1
#define LINK_ONEWAY 2
#define MAX_COUNT 10000000u     /* datagrams of a session */
#define DEF_GRACE_MS 500        /* `end` without a grace */

int cmd_link(int argc, char **argv);
/* Serves until SIGINT or SIGTERM; the exit status. */
int link_serve(const char *host, long port);
/* A datagram's header into b (LINK_HDR bytes), and out of b: 0, or -1 when
 * n is short or the magic wrong. */
void link_hdr_put(uint8_t *b, unsigned type, uint32_t session, uint32_t seq, uint64_t send_ns);
int link_hdr_get(const uint8_t *b, size_t n, unsigned *type, uint32_t *session, uint32_t *seq,
		 uint64_t *send_ns);
/* The q-quantile of n sorted values (linear between ranks); the mean and
 * the sample deviation of n values. */
double link_quantile(const double *sorted, size_t n, double q);
void link_stats(double *v, size_t n, double *mean, double *sd);

#endif
