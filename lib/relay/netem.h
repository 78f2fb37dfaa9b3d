/*
 * relay/netem.h — library-private: the packet emulator's table
 * (netem_table.c) as the engine (netem.c) reads it.
 */
#ifndef GX_RELAY_NETEM_H
#define GX_RELAY_NETEM_H

#include <stdint.h>

#include "../base/gx_base.h"
#include "gx_relay.h"

typedef struct netem_prefix {
	uint32_t net, mask; /* host order */
	int len;
} netem_prefix;

typedef struct netem_site {
	char name[32];
	netem_prefix prefix[GX_NETEM_MAX_PREFIXES];
	int nprefix;
} netem_site;

struct gx_netem_table {
	int n;
	netem_site site[GX_NETEM_MAX_SITES];
	gx_netem_link link[GX_NETEM_MAX_SITES][GX_NETEM_MAX_SITES]; /* [src][dst] */
	uint8_t set[GX_NETEM_MAX_SITES][GX_NETEM_MAX_SITES];
	/* [site][GX_NETEM_IN or GX_NETEM_OUT]: only rate and queue; set when
	 * the rate is */
	gx_netem_link access[GX_NETEM_MAX_SITES][2];
};

/* 0 when b names the same sites as a, in the same order, each with the
 * same prefixes (in any order); else GX_EINVAL with a one-line reason in
 * err. A running engine's held packets are indexed by site, so a table it
 * reloads may change links only (gx_netem_reload). */
int netem_table_same_sites(const gx_netem_table *a, const gx_netem_table *b, char *err,
			   size_t cap);

#endif
