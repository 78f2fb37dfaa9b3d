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
#include "ps_internal.h"

/* A local's HELLO mode to the global tier under DGT (a coded WAN whose
 * pushes come as DGT rounds; CONFIG answers mode 1 as for any coded WAN). */
#define PS_HELLO_DGT 2
/* A lossy channel's DS field: DSCP 8 + 2 x channel (AF11, AF12, AF13 ...
 * for channels 1, 2, 3), so that a shaper can serve the reliable link
 * (DSCP 0) first and the channels in their order (docs/design.md). */
#define PS_DGT_TOS(ch) ((8 + 2 * (ch)) << 2)

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
struct ps_lkey;
void ps_dgt_push(gx_ps *ps, struct ps_lkey *k, int b, uint32_t round, const float *x);
/* Key k of the table (its slices known): its DGT state (k->dgt). 0 or
 * GX_ENOMEM. */
int ps_dgt_key_init(gx_ps *ps, struct ps_lkey *k);
/* A DGT_ACK from upstream u. */
void ps_dgt_on_ack(gx_ps *ps, ps_peer *u, const gx_frame_hdr *h, const uint8_t *pl);
/* A local's DGT lines of the statistics (TSV, or JSON members) appended
 * to b; nothing without --dgt. */
void ps_dgt_stats(const gx_ps *ps, ps_sbuf *b, int json);

/* ----------------------------------------------------------- ps_dgt_global.c */

typedef struct ps_dgt_global ps_dgt_global;

/* The global's datagram port: a UDP socket on the listening address and
 * port, read on the loop; made by the first ps_dgt_global_admit. 0 or a
 * gx_error (logged: DGT unavailable). */
int ps_dgt_global_init(gx_ps *ps);
void ps_dgt_global_free(gx_ps *ps);
/* Party p (a local under DGT) says HELLO: the datagram port (made on
 * first use) and p's datagram key. 0, or an error after p was refused or
 * the job ended. */
int ps_dgt_global_admit(gx_ps *ps, ps_peer *p);
/* A DGT_PUSH from party p. */
void ps_dgt_on_push(gx_ps *ps, ps_peer *p, const gx_frame_hdr *h, const uint8_t *pl);
/* The global's dgt_in line (TSV, or a JSON member) appended to b;
 * nothing while no local runs DGT. */
void ps_dgt_global_stats(const gx_ps *ps, ps_sbuf *b, int json);

#endif
