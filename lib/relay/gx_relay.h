/*
 * relay/gx_relay.h — the relay engine behind geomx-relay(1): forwards every
 * TCP connection it accepts to one far address, both ways, optionally over
 * the secure protocol, compressed with zstd, and through an emulated WAN
 * link (rate, delay, jitter, loss), with bounded queues and backpressure.
 * Part of the public interface of libgeomx (lib/geomx.h includes every room's
 * header; lib/README.md draws the rooms and the arrows between them).
 *
 * A forwarded connection is a pair of sides: NEAR, the accepted connection,
 * and FAR, the one the relay makes to connect_host:connect_port. Bytes flow
 * UP from NEAR to FAR and DOWN from FAR to NEAR. Everything runs on the
 * thread that calls gx_relay_run; gx_relay_stop is the only call safe from
 * another thread or a signal handler.
 */
#ifndef GX_RELAY_H_PUBLIC
#define GX_RELAY_H_PUBLIC

#include <stddef.h>
#include <stdint.h>
#include "../net/gx_net.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { GX_RELAY_UP = 0, GX_RELAY_DOWN = 1 };   /* directions: UP is NEAR -> FAR */
enum { GX_RELAY_NEAR = 0, GX_RELAY_FAR = 1 };  /* sides: NEAR accepted, FAR connected */

/* Defaults, used by the code and printed by geomx-relay's help text. */
#define GX_RELAY_DEF_QUEUE (1u << 20)
#define GX_RELAY_DEF_ZSTD 1
#define GX_RELAY_DEF_MAX_HS 256
#define GX_RELAY_DEF_MAX_CONNS 1024
#define GX_RELAY_DEF_STATS_EVERY 1.0
#define GX_RELAY_DEF_SEED 1
#define GX_RELAY_DEF_HANDSHAKE_TIMEOUT 5.0 /* seconds */
#define GX_RELAY_SEGMENT 1448    /* bytes of a TCP segment, the unit of loss */
#define GX_RELAY_HOLD_MIN_MS 200 /* a lost segment holds its stream at least this long */

/* The emulated link of one direction. */
typedef struct gx_relay_link {
	double rate;        /* bytes per second; 0: no limit */
	uint64_t delay_ns;  /* one-way delay */
	uint64_t jitter_ns; /* delay varies by up to this much either way */
	double loss;        /* probability that a TCP segment is lost, [0, 1) */
} gx_relay_link;

typedef struct gx_relay_opts {
	const char *listen_s, *connect_s; /* as the user wrote them, for log lines */
	char listen_host[256], connect_host[256];
	int listen_port, connect_port;
	int secure[2];  /* per side: speaks the secure protocol with key */
	gx_key key;
	int wan;        /* the WAN side (GX_RELAY_NEAR or _FAR): where zstd applies */
	int zstd;       /* 0 off, else on at zstd_level */
	int zstd_level;
	gx_relay_link link[2]; /* per direction */
	size_t queue[2];       /* per direction: bytes a queue may hold; 0: the
				* default, raised to twice what the emulated link
				* holds in flight */
	uint64_t seed;         /* of the emulation's random draws */
	double connect_timeout;   /* s: how long a connection waits for the far side */
	double handshake_timeout; /* s */
	int max_handshakes, max_conns;
	const char *stats_path;   /* NULL: none; "-": standard error */
	double stats_every;       /* s */
	gx_log_fn *log;           /* NULL: silent */
	void *log_ud;
	int log_level;            /* lines of levels above this are not made */
} gx_relay_opts;

/* Every field at its default: no addresses, plaintext, no zstd (level
 * GX_RELAY_DEF_ZSTD when enabled), no emulation, default queues and limits,
 * log_level 1. */
void gx_relay_opts_default(gx_relay_opts *o);

typedef struct gx_relay gx_relay;

/* Creates a relay and binds its listening socket (gx_relay_port tells which
 * port), opens the statistics file. NULL on failure, with the reason logged
 * at level 0 and *err set (err may be NULL). The key is copied. */
gx_relay *gx_relay_create(const gx_relay_opts *o, int *err);
int gx_relay_port(const gx_relay *r);
/* Serves until gx_relay_stop. 0, or GX_EIO when the event loop failed. */
int gx_relay_run(gx_relay *r);
/* Makes gx_relay_run return: async-signal-safe. */
void gx_relay_stop(gx_relay *r);
/* Closes every connection (resetting both sides) with a line saying why,
 * and writes the final statistics line. */
void gx_relay_close(gx_relay *r, const char *why);
/* Frees the relay (closing what is still open) and wipes its key copy.
 * NULL is accepted. */
void gx_relay_free(gx_relay *r);

/* Parsers for the emulation's values; 0, or GX_EINVAL. Rates: a number
 * with a unit, bits (bit, kbit, mbit, gbit, tbit; bps, kbps, ...: bits too)
 * or bytes (B, kB, MB, GB, KiB, MiB, GiB), each optionally followed by
 * "/s"; "0" is no limit. Times: a number with s, ms or us ("0" alone is
 * zero). Loss: a fraction or a percentage below 1 (100%). */
int gx_relay_parse_rate(const char *s, double *bytes_per_s);
int gx_relay_parse_time(const char *s, uint64_t *ns);
int gx_relay_parse_loss(const char *s, double *p);
/* "100 Mbit/s" for log lines. */
void gx_relay_fmt_rate(char *buf, size_t cap, double bytes_per_s);

#ifdef __cplusplus
}
#endif
#endif
