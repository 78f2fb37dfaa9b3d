/*
 * geomx.h — the public interface of libgeomx: one header per room of lib/
 * (lib/README.md names the rooms and the arrows allowed between them).
 *
 * Conventions (see docs/design.md):
 *  - one prefix, gx_; opaque handles made by gx_thing_create and released by
 *    gx_thing_free, which accepts NULL;
 *  - functions return 0 (GX_OK) or a negative gx_error; gx_strerror names it;
 *  - the library never prints, never exits and never aborts on bad input;
 *  - the caller owns buffers; gx_*_bound() gives worst-case sizes;
 *  - unless stated otherwise a handle may be used by one thread at a time;
 *    distinct handles may be used concurrently.
 */
#ifndef GEOMX_H
#define GEOMX_H

#include "base/gx_base.h"
#include "wire/gx_wire.h"
#include "codec/gx_codec.h"
#include "net/gx_net.h"
#include "optim/gx_optim.h"
#include "sched/gx_sched.h"
#include "ps/gx_ps.h"
#include "kv/gx_kv.h"
#include "nn/gx_nn.h"
#include "data/gx_data.h"
#include "relay/gx_relay.h"

#endif /* GEOMX_H */
