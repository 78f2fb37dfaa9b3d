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

/* Gilbert-Elliott burst loss: a good and a bad state, each with its own
 * loss probability, and the chance of moving to the other at each unit.
 * In the long run the bad state holds p_gb / (p_gb + p_bg) of the units
 * and a stay in it lasts 1 / p_bg units on average. */
typedef struct gx_relay_ge {
	double p_gb, p_bg;          /* good -> bad, bad -> good */
	double loss_good, loss_bad; /* a unit's loss in each state */
} gx_relay_ge;

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

/* ------------------------------------------------------------------------
 * The packet-level emulator behind geomx-netem(1): IP packets that the
 * kernel routes into a TUN device are read, given the delay, jitter, loss,
 * rate and queue of the link between their source's site and their
 * destination's (a site: a named set of IPv4 prefixes), and written back
 * into the same device when their time comes, so the kernel delivers them
 * on. TCP and UDP between the sites see real round trips, losses and
 * queues. Links are per direction and per pair of sites, from a table of
 * lines (gx_netem_table_line):
 *
 *   site NAME PREFIX...            e.g. site dc0 10.211.1.2/32
 *   A B KEY=VALUE...               the link A -> B and B -> A
 *   A > B KEY=VALUE...             the link A -> B only
 *   access SITE [in|out] rate=RATE [queue=BYTES|TIME]
 *                                  SITE's access link into it (in), out of
 *                                  it (out), or both when neither is said
 *
 * A, B or SITE may be "*", every site named so far. A later line replaces
 * what an earlier one set for the same direction. Keys: delay=TIME,
 * jitter=TIME (uniform in [-jitter, +jitter], never more than delay; order
 * kept), rate=RATE (gx_relay_parse_rate), queue=BYTES or TIME (drop-tail
 * bound on what waits for the rate; default GX_NETEM_DEF_QUEUE_MS at the
 * rate), loss=P (independent), ge=P_GB,P_BG[,LOSS_BAD[,LOSS_GOOD]]
 * (Gilbert-Elliott burst loss instead; LOSS_BAD defaults to 1, LOSS_GOOD to
 * 0), reorder=P (a packet goes without the delay and jitter, ahead of
 * those still held). Packets between sites without a link, of unknown
 * sites, or not IPv4, pass at once.
 *
 * An access link is a site's bottleneck shared by all its traffic, whatever
 * the other end: a rate with a drop-tail queue (the same keys, the same
 * default queue) and nothing else; rate=0 removes it. A packet from site A
 * to site B crosses, in order, A's out access link, the link A -> B (its
 * loss, rate, queue, then its delay and jitter: the propagation), and B's
 * in access link, each where it is set, one after the other in time: it
 * reaches the next when it leaves the one before. An access link is one
 * FIFO for every pair through it, so packets of one pair stay in order
 * (reorder= of the pair aside); it applies between any two different
 * sites, with or without a link between them.
 * ---------------------------------------------------------------------- */
#define GX_NETEM_MAX_SITES 64
#define GX_NETEM_MAX_PREFIXES 8    /* per site */
#define GX_NETEM_DEF_QUEUE_MS 50
#define GX_NETEM_MIN_QUEUE 16384   /* bytes: the default queue is never shorter */
#define GX_NETEM_DEF_MAX_PACKETS 65536
#define GX_NETEM_DEF_STATS_EVERY 1.0

/* One direction of one pair of sites. */
typedef struct gx_netem_link {
	gx_relay_link l;     /* rate, delay, jitter; l.loss: independent loss */
	gx_relay_ge ge;      /* burst loss instead of l.loss when ge.p_gb > 0 */
	uint64_t queue;      /* bytes the rate's queue holds; 0: the default */
	double reorder;      /* probability a packet skips the delay */
} gx_netem_link;

/* The ways of a site's access link. */
enum { GX_NETEM_IN = 0, GX_NETEM_OUT = 1 };

/* What one direction of one pair, or one access link, saw (counts of
 * packets unless _bytes); an access link neither loses nor reorders. */
typedef struct gx_netem_count {
	uint64_t in, in_bytes; /* reached the link */
	uint64_t out, out_bytes; /* left it: for the last link a packet crosses,
				  * written to the device */
	uint64_t lost;      /* drawn lost (loss= or ge=) */
	uint64_t dropped;   /* drop-tail: the queue was full */
	uint64_t overflow;  /* no room left among max_packets */
	uint64_t reordered;
} gx_netem_count;

typedef struct gx_netem_table gx_netem_table;

/* An empty table; NULL when out of memory. */
gx_netem_table *gx_netem_table_new(void);
/* Adds one line (the grammar above; blank lines and # comments are
 * accepted and do nothing). 0, or GX_EINVAL with a one-line reason in err
 * (not naming the line: the caller knows where it came from). */
int gx_netem_table_line(gx_netem_table *t, const char *line, char *err, size_t cap);
/* Sites, their names, and a direction's link (NULL when none was set). */
int gx_netem_table_sites(const gx_netem_table *t);
const char *gx_netem_table_site(const gx_netem_table *t, int i);
const gx_netem_link *gx_netem_table_link(const gx_netem_table *t, int src, int dst);
/* Site's access link of way GX_NETEM_IN or GX_NETEM_OUT (only l.rate and
 * queue are set); NULL when none was set. */
const gx_netem_link *gx_netem_table_access(const gx_netem_table *t, int site, int way);
/* The site an IPv4 address (host order) belongs to, by longest prefix; -1
 * when none. */
int gx_netem_table_find(const gx_netem_table *t, uint32_t addr);
/* The sites of an IP packet's source and destination (-1: none, or not
 * IPv4); 0, or GX_ETRUNC when it is too short to be an IPv4 packet. */
int gx_netem_classify(const gx_netem_table *t, const uint8_t *pkt, size_t len, int *src,
		      int *dst);
void gx_netem_table_free(gx_netem_table *t);

typedef struct gx_netem gx_netem;
/* Called by gx_netem_run, in its thread, between two packets, after
 * gx_netem_wake: where a program reloads its table (gx_netem_reload). */
typedef void gx_netem_wake_fn(void *ud, gx_netem *e);

typedef struct gx_netem_opts {
	const char *tun;      /* the TUN device to attach to, when fd < 0 */
	int fd;               /* else: packets are read from and written to fd,
			       * one per read and write (a datagram socket in
			       * tests; made non-blocking); -1: the TUN device */
	size_t mtu;           /* largest packet; 0: the device's MTU (1500 for fd) */
	size_t max_packets;   /* packets held at once, at most */
	uint64_t seed;        /* of the jitter, loss and reorder draws */
	const char *stats_path; /* NULL: none; one TSV line per active direction
				 * and access link */
	double stats_every;   /* s */
	gx_log_fn *log;       /* NULL: silent */
	void *log_ud;
	gx_netem_wake_fn *wake; /* NULL: gx_netem_wake does nothing */
	void *wake_ud;
} gx_netem_opts;

/* Every field at its default: fd -1, no device named, defaults above. */
void gx_netem_opts_default(gx_netem_opts *o);
/* Attaches to the device (brought up) or takes fd, with the links of t
 * (t is copied: the caller frees it). NULL on failure with *err set and
 * the reason logged at level 0. */
gx_netem *gx_netem_create(const gx_netem_opts *o, const gx_netem_table *t, int *err);
/* Forwards until gx_netem_stop; packets still held then are dropped. 0,
 * or GX_EIO when reading or polling failed. */
int gx_netem_run(gx_netem *e);
/* Makes gx_netem_run return: async-signal-safe, and safe from another
 * thread. */
void gx_netem_stop(gx_netem *e);
/* Makes gx_netem_run call o.wake soon, once for any number of wakes since
 * the last call: async-signal-safe (a SIGHUP handler's), and safe from
 * another thread. */
void gx_netem_wake(gx_netem *e);
/* Switches to the links of t (copied: the caller frees it) between two
 * packets, as a network whose links change while packets cross them: a
 * packet that has gone through a link's rate (its bottleneck) keeps its
 * time; one still waiting for the rate is sent at the new rate from now
 * on, then meets the new delay (its jitter draw kept, within the new
 * bound); the virtual clock of each rate carries over (the bytes waiting
 * are neither forgotten nor sent in a burst); the new queue bounds, loss
 * and reordering apply to packets that reach a link from now on (a shorter
 * queue drops nothing already in it). Counts go on. t must name the same
 * sites in the same order with the same prefixes (held packets are
 * indexed by site). 0; GX_EINVAL with a one-line reason in err when the
 * sites differ (the running table stays); GX_ENOMEM. Call from o.wake, or
 * from the thread that calls gx_netem_run while it does not run. */
int gx_netem_reload(gx_netem *e, const gx_netem_table *t, char *err, size_t cap);
/* What direction src -> dst saw so far (after gx_netem_run returned, or
 * from the thread that runs it). */
void gx_netem_counts(const gx_netem *e, int src, int dst, gx_netem_count *c);
/* What site's access link of way GX_NETEM_IN or GX_NETEM_OUT saw so far
 * (as gx_netem_counts). */
void gx_netem_access_counts(const gx_netem *e, int site, int way, gx_netem_count *c);
/* Writes the final statistics; closes what it opened (not a given fd).
 * NULL is accepted. */
void gx_netem_free(gx_netem *e);

#ifdef __cplusplus
}
#endif
#endif
