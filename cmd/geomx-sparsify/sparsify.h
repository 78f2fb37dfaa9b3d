/*
 * sparsify.h — what the parts of geomx-sparsify share: its options, parsed
 * by cmd/geomx-sparsify/options.c and used by cmd/geomx-sparsify.c.
 */
#ifndef GX_SPARSIFY_H
#define GX_SPARSIFY_H

#include <stdint.h>

#include "geomx.h"

#define ZLEVEL_MIN (-100) /* fastest zstd level accepted */
#define ZLEVEL_MAX 19     /* strongest zstd level accepted */

enum { FMT_FRAMES, FMT_RAW, FMT_IDX };

struct sparsify_opts {
	int decode, from, to, force, stats, no_ef, use_ef, same_key;
	float momentum;                 /* 0: no momentum correction */
	uint64_t chunk, limit, max_elems;
	int limit_set;
	const char *residual, *output, *input;
	gx_codec_opts co;
};

extern struct sparsify_opts opt;

/* Parses the command line into opt (and GEOMX_* defaults); exits with a
 * usage message on a bad one, or after --help and --version. */
void parse_args(int argc, char **argv);

#endif
