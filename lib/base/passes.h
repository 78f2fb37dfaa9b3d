/*
 * base/passes.h — library-private: counting the passes the data path makes
 * over tensor bytes (copies, decodes), in debug builds only (make DEBUG=1
 * defines GX_DEBUG), so that the copies of a round can be measured without
 * costing anything elsewhere. gx_pass_bytes (gx_base.h) reads the counts.
 */
#ifndef GX_PASSES_H
#define GX_PASSES_H

#include <stdint.h>

#include "gx_base.h"

void gx_pass_count(int kind, uint64_t bytes);

#ifdef GX_DEBUG
#define GX_PASS(kind, bytes) gx_pass_count((kind), (uint64_t)(bytes))
#else
#define GX_PASS(kind, bytes) ((void)0)
#endif

#endif
