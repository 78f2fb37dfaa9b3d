/*
 * wire/control.h — library-private: the control payloads of the parameter-server
 * protocol (docs/protocol.md). Parsers check every length exactly and never
 * trust a count before checking it against the bytes present.
 */
#ifndef GX_PROTO_H
#define GX_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "gx_wire.h"
#include "../optim/gx_optim.h"

#define GX_PROTO_VERSION 2 /* 2: CONFIG names the block size */
#define GX_HELLO_SIZE 64
#define GX_ERROR_MSG_MAX 1024
#define GX_KEYTABLE_MAX (1u << 20) /* entries */

typedef struct gx_hello {
	uint16_t proto;    /* GX_PROTO_VERSION */
	uint8_t role;      /* enum gx_role */
	uint8_t sync;      /* enum gx_sync (HELLO_ACK) */
	uint8_t mode;      /* HELLO local -> global: 1 coded WAN, the local applies updates */
	uint32_t rank, party, workers, nservers;
	char name[41];     /* NUL-terminated; 40 bytes on the wire, NUL-padded */
} gx_hello;

/* A worker's HELLO mode: a new worker; one coming back after a broken link
 * (it sends again what was not answered); one restarted in its place
 * (geomx-train --resume: it lost what was in flight). A local's HELLO to
 * the global tier: 1 a coded WAN. */
enum { GX_HELLO_NEW = 0, GX_HELLO_BACK = 1, GX_HELLO_RESTARTED = 2 };
/* An INIT's round from a local server starting again (--resume): it asks
 * for the value the global tier keeps (refused where there is none) and
 * proposes none; the answer names the slice's settled rounds. */
#define GX_ROUND_RESUME UINT32_MAX

/* 64 bytes out. */
void gx_hello_pack(const gx_hello *h, uint8_t out[GX_HELLO_SIZE]);
/* GX_EPROTO unless len == 64, role known, sync 0..2, mode 0..2, reserved zero, and
 * the name NUL-padded (nothing but NULs after its end) without control
 * characters; proto is NOT checked here (the caller reports a version
 * mismatch with both numbers). An accepted hello packs back to its bytes. */
int gx_hello_parse(const uint8_t *p, size_t len, gx_hello *h);

#define GX_CONFIG_SIZE 56

/* CONFIG: what a server tells each client right after HELLO_ACK. */
typedef struct gx_config {
	uint8_t sync;        /* enum gx_sync */
	uint8_t lan;         /* to a worker: GX_LINK_NONE or GX_LINK_FP16 */
	uint8_t mode;        /* to a local: 1 it applies the updates */
	uint8_t sum;         /* updates use the sum, not the mean */
	uint32_t k1, k2;     /* HFA */
	gx_optim_opts optim; /* the global tier's optimizer */
	uint32_t block;      /* elements per block tensors travel in; 0: whole */
} gx_config;

void gx_config_pack(const gx_config *c, uint8_t out[GX_CONFIG_SIZE]);
/* GX_EPROTO unless len == 56, sync 0..2, lan 0 or 1, mode and sum 0 or 1,
 * k1 and k2 both zero or (HFA) both nonzero, a known optimizer kind, finite
 * floats, block 0 with mode 1, and reserved zero. Accepted payloads pack back to their bytes. */
int gx_config_parse(const uint8_t *p, size_t len, gx_config *c);

/* ERROR payload: returns its length (<= 8 + GX_ERROR_MSG_MAX; the message is
 * cut there) written to out (cap >= 8 + GX_ERROR_MSG_MAX). */
size_t gx_errmsg_pack(int code, const char *msg, uint8_t *out, size_t cap);
/* GX_EPROTO on a bad length; msg gets a NUL-terminated copy with control
 * characters replaced by '?', cut to cap - 1. */
int gx_errmsg_parse(const uint8_t *p, size_t len, int *code, char *msg, size_t cap);

typedef struct gx_keyent {
	uint32_t key;
	uint64_t count;
} gx_keyent;

/* Bytes of a KEYTABLE payload of n entries. */
size_t gx_keytable_size(size_t n);
void gx_keytable_pack(const gx_keyent *e, size_t n, uint8_t *out);
/* Parses into a malloc'd array (*out, *n; free with free()). GX_EPROTO on bad
 * length, keys not strictly increasing, zero count, reserved nonzero, or more
 * than GX_KEYTABLE_MAX entries; GX_ENOMEM. An empty table (n 0) is accepted
 * (*out is still to be freed); on error *out is NULL and *n 0. */
int gx_keytable_parse(const uint8_t *p, size_t len, gx_keyent **out, size_t *n);

/* MEMBERS payload: u32 workers. */
int gx_members_parse(const uint8_t *p, size_t len, uint32_t *workers);

#endif
