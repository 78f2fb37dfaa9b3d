/* error.c — gx_strerror and gx_version. */
#include "gx_base.h"

const char *gx_version(void)
{
	return GX_VERSION_STRING;
}

const char *gx_strerror(int err)
{
	switch (err) {
	case GX_OK: return "success";
	case GX_ENEEDMORE: return "more input needed";
	case GX_ENOMEM: return "out of memory";
	case GX_EINVAL: return "invalid argument";
	case GX_EIO: return "input/output error";
	case GX_ETRUNC: return "truncated input: it ends inside a frame or record";
	case GX_EMAGIC: return "bad magic: not a geomx frame";
	case GX_EVERSION: return "unsupported frame version";
	case GX_ETYPE: return "unknown frame type";
	case GX_ECODEC: return "unknown codec";
	case GX_EFLAGS: return "unknown or contradictory frame flags";
	case GX_EHDRCRC: return "frame header checksum mismatch";
	case GX_ETOOBIG: return "length exceeds the configured maximum";
	case GX_ELENGTH: return "inconsistent lengths in frame";
	case GX_ECORRUPT: return "malformed payload";
	case GX_ECRC: return "payload checksum mismatch";
	case GX_EZSTD: return "zstd stage failed";
	case GX_ERESERVED: return "reserved field is not zero";
	case GX_ENOTSUP: return "not supported in this build or on this machine";
	case GX_EDEVICE: return "accelerator call failed";
	case GX_EFORMAT: return "file is not in the expected format";
	case GX_EPROTO: return "protocol violation by peer";
	case GX_EKEY: return "unknown key or disagreeing key table";
	case GX_ETIMEOUT: return "timed out";
	case GX_EPEER: return "peer failed or closed the connection";
	case GX_EREFUSED: return "refused by peer";
	case GX_EAUTH: return "authentication failed";
	default: return "unknown error";
	}
}
