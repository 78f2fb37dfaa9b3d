/*
 * ps_dgt.h — library-private: differential gradient transmission between
 * a local server and the global tier (docs/design.md, docs/protocol.md "DGT
 * rounds"). A local under --dgt pushes each slice as DGT's arithmetic
 * plans it (codec/dgt.h): its most important blocks in a DGT_PUSH frame
 * on the link, the rest as datagrams (net/dgram.h) paced over lossy
 * channels; the global places both as they come, closes the round when all
 * are in or at a deadline, tells the local which blocks arrived (DGT_ACK)
 * and counts what arrived as the party's contribution. The local folds
 * what did not arrive back into its residual. ps_dgt_local.c is the
 * sender, ps_dgt_global.c the receiver.
 */
#ifndef GX_PS_DGT_H
#define GX_PS_DGT_H

#include "../codec/dgt.h"
#include "../net/dgram.h"
#include "../wire/control.h"
#include "ps_internal.h"

/* A local's HELLO mode to the global tier under DGT (a coded WAN whose
 * pushes come as DGT rounds; CONFIG answers mode 1 as for any coded WAN). */
#define PS_HELLO_DGT 2
/* A lossy channel's DS field: DSCP 8 + 2 x channel (AF11, AF12, AF13 ...
 * for channels 1, 2, 3), so that a shaper can serve the reliable link
 * (DSCP 0) first and the channels in their order (docs/design.md). */
#define PS_DGT_TOS(ch) ((8 + 2 * (ch)) << 2)

/* -------------------------------------------------------------- ps_dgt_out.c */

/* A sealed datagram waiting, and the socket (fd index) it leaves by. */
typedef struct ps_dg_item {
	uint8_t *b;
	size_t n;
	int ch;
} ps_dg_item;

typedef struct ps_dg_queue {
	ps_dg_item *v;
	size_t head, len, cap;
} ps_dg_queue;

/* A paced FIFO of sealed datagrams to one destination. */
typedef struct ps_dg_out {
	int fd[GX_DGT_CHANNELS_MAX + 1]; /* the sockets by index; -1 none (the
					  * caller's to close) */
	struct sockaddr_storage to;      /* the destination of unconnected
					  * sockets; to_len 0: connected */
	socklen_t to_len;
	ps_dg_queue q;
	size_t queued;                   /* bytes in the queue */
	gx_dg_pacer pacer;
	long long timer;
	gx_ps *ps;
	uint64_t datagrams, send_failed; /* sent; dropped at the socket */
} ps_dg_out;

/* An empty queue paced at rate bytes a second (<= 0: unpaced). */
void ps_dg_out_init(ps_dg_out *o, gx_ps *ps, double rate);
/* The pace from now on: rate bytes a second, the bucket full. */
void ps_dg_out_rate(ps_dg_out *o, double rate);
/* Drops what waits and the timer (the sockets stay). */
void ps_dg_out_free(ps_dg_out *o);
/* Queues the n bytes at b (malloc'ed; the queue frees them) to leave by
 * socket ch. 0 or GX_ENOMEM (b not taken). */
int ps_dg_out_push(ps_dg_out *o, uint8_t *b, size_t n, int ch);
/* Sends what the pacer lets go; a timer on the loop sends the rest. */
void ps_dg_out_pump(ps_dg_out *o);

/* Charges the pacer with what goes on the link before the queue's
 * datagrams (a shaper serves the link first), and returns the KiB of
 * datagrams ahead of the next ones queued: the queue's and what the
 * bucket owes (a DGT_PUSH's ahead). */
uint32_t ps_dg_out_charge(ps_dg_out *o, size_t link_bytes);
/* Seconds until round m's datagrams have come at its pace (those ahead of
 * them, its lossy blocks and `copies` more), plus grace. */
double ps_dgt_due(const gx_dgt_push *m, uint64_t copies, double grace);

/* Seals the block of head h (values v) under k (NULL: plaintext) and
 * queues it to leave by socket h->channel (channel 0, a reliable block's
 * copy: socket 1). 0, GX_ENOMEM or GX_EINVAL (a head gx_dg_seal refuses). */
int ps_dg_out_seal(ps_dg_out *o, const gx_dg_key *k, const gx_dg_head *h, const void *v);

/* Block b's coded values and their count, or NULL. */
typedef const void *(*ps_dgt_values_fn)(void *ud, uint32_t b, uint16_t *n);
/* Sends a DGT_PUSH (m, its reliable blocks idx[0..m->nrel) with values
 * from vals) on c with rt's key, block, round and sender. Returns the
 * bytes it put on the link, or a gx_error (nothing sent). */
long ps_dgt_send_push(gx_ps *ps, gx_conn *c, const gx_tensor_route *rt, const gx_dgt_push *m,
		      const uint32_t *idx, ps_dgt_values_fn vals, void *ud);
/* Sends a DGT_ACK (nb blocks, late, bits) on c with rt's key, block,
 * round and sender. 0 or a gx_error (nothing sent). */
int ps_dgt_send_ack(gx_ps *ps, gx_conn *c, const gx_tensor_route *rt, uint32_t nb, uint32_t late,
		    const uint8_t *bits);

/* Elements a block of an answer holds, in codec ans, for a local whose
 * blocks up are of push_block elements in codec push: the same bytes, so
 * that they fit the same path MTU. */
static inline uint32_t ps_dgt_answer_block(uint32_t push_block, int push, int ans)
{
	size_t b = (size_t)push_block * gx_wire_elem_size(push) / gx_wire_elem_size(ans);
	return b < 1 ? 1 : b > 65535 ? 65535 : (uint32_t)b;
}

/* ------------------------------------------------------------ ps_dgt_local.c */

/* The local role's DGT state (ps->loc->dgt); NULL without --dgt. */
typedef struct ps_dgt_local ps_dgt_local;

/* Checks the options (logged), makes the state. 0 or a gx_error. */
int ps_dgt_local_init(gx_ps *ps);
void ps_dgt_local_free(gx_ps *ps);
/* Upstream link u is ready: its datagram sockets and key. 0 or an error
 * (the job ends, logged). */
int ps_dgt_up_ready(gx_ps *ps, ps_peer *u);
/* Sends round `round` of slice b of k (x: the slice's sum) as a DGT round. */
struct ps_lkey; /* (ps_local.h) */
void ps_dgt_push(gx_ps *ps, struct ps_lkey *k, int b, uint32_t round, const float *x);
/* Key k of the table (its slices known): its DGT state (k->dgt). 0, or a
 * gx_error after ending the job (no memory; a slice beyond what a
 * datagram numbers, GX_DG_SLICE_MAX and GX_DG_INDEX_MAX). */
int ps_dgt_key_init(gx_ps *ps, struct ps_lkey *k);
/* A DGT_ACK from upstream u. */
void ps_dgt_on_ack(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);
/* A local's DGT lines of the statistics (TSV, or JSON members) appended
 * to b; nothing without --dgt. */
void ps_dgt_stats(const gx_ps *ps, ps_sbuf *b, int json);

/* Key (the table's key of) key, block as a frame names them, and the
 * slice's index *b in it; NULL when there is none. */
struct ps_lkey *ps_dgt_slice(gx_ps *ps, uint32_t key, uint32_t block, int *b);
/* The local's blocks up: elements and codec. */
void ps_dgt_local_geometry(const gx_ps *ps, uint32_t *block, int *codec);
/* Counts a slice's answer whole from datagrams (asked: after a DGT_ACK),
 * and n blocks asked for again. */
void ps_dgt_local_note_answer(gx_ps *ps, int asked);
void ps_dgt_local_note_asked(gx_ps *ps, uint32_t n);

/* Sends ask h (its body bits) to upstream server `server` now, past the
 * queue. 0 or a gx_error. */
int ps_dgt_send_ask(gx_ps *ps, int server, const gx_dg_head *h, const uint8_t *bits);
/* The round trip to upstream server `server` as its link's TCP measures
 * it, in seconds (0.1 when it does not know). */
double ps_dgt_up_rtt(gx_ps *ps, int server);

/* --------------------------------------------------------- ps_dgt_answers.c */

/* A slice's answer being gathered from datagrams (ps_lkey.dga). */
typedef struct ps_dgt_ans ps_dgt_ans;
/* k->dga made (0 or GX_ENOMEM), and freed. */
int ps_dgt_answers_init(gx_ps *ps, struct ps_lkey *k);
void ps_dgt_answers_free(struct ps_lkey *k);
/* What became of an answer's datagram. */
enum { PS_DGA_PLACED, PS_DGA_DUP, PS_DGA_LATE, PS_DGA_STRAY, PS_DGA_NOMEM };
/* An answer's datagram (opened: h, its values at body). */
int ps_dgt_answer_datagram(gx_ps *ps, const gx_dg_head *h, const uint8_t *body);
/* Slice b's push of round (its sum x, copied) held until the global's
 * word on its last round comes (0 or GX_ENOMEM); and taken back (NULL
 * when none is held; the sum stays until the next hold). */
int ps_dgt_hold(struct ps_lkey *k, int b, uint32_t round, const float *x);
const float *ps_dgt_held(struct ps_lkey *k, int b, uint32_t *round);
/* A DGT_PUSH from upstream u: an answer's word (its datagrams' number,
 * pace and queue ahead), or the blocks of one asked for again. */
void ps_dgt_answer_word(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);

/* ----------------------------------------------------------- ps_dgt_global.c */

typedef struct ps_dgt_global ps_dgt_global;

/* The global's datagram port: a UDP socket on the listening address and
 * port, read on the loop; made by the first ps_dgt_global_admit. 0 or a
 * gx_error (logged: DGT unavailable). */
int ps_dgt_global_init(gx_ps *ps);
void ps_dgt_global_free(gx_ps *ps);
/* Party `party`, link p (a local under DGT), says HELLO: the datagram port
 * (made on first use) and p's datagram keys. 0, or an error after p was
 * refused or the job ended. */
int ps_dgt_global_admit(gx_ps *ps, ps_peer *p, int party);
/* A DGT_PUSH from party p. */
void ps_dgt_on_push(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
/* Under full sync, round `round`'s answer pl (s's aggregate, kept by the
 * caller) to party i as datagrams, announced by a DGT_PUSH of no reliable
 * block, the answer kept for the party's DGT_ACK: 1 when it went so, 0
 * when the caller is to send it on the link (not a DGT party, its address
 * or pace not known yet, a coding datagrams cannot carry). */
struct ps_gslice;
int ps_dgt_answer(gx_ps *ps, struct ps_gslice *s, int i, const gx_tensor_payload *pl,
		  uint32_t round);
/* A DGT_ACK from party p: the blocks of an answer that did not arrive,
 * sent again on the link (a DGT_PUSH of them alone). */
void ps_dgt_on_answer_ack(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
/* The global's dgt_in line (TSV, or a JSON member) appended to b;
 * nothing while no local runs DGT. */
void ps_dgt_global_stats(const gx_ps *ps, ps_sbuf *b, int json);

#endif
