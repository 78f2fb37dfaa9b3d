/*
 * dgram.c — datagram channels (net/dgram.h): the format, sealing and
 * opening, UDP sockets with the options a lossy channel needs, batched
 * sending and receiving, and a token-bucket pacer.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../base/gx_base.h"
#include "../base/le.h"
#include "conn.h"
#include "dgram.h"
#include "secure.h"

static const uint8_t dg_magic[4] = { 'G', 'X', 'D', 'G' };
#define DG_VERSION 1
#define DG_NONCE 12

struct gx_dg_key {
	crypto_aead_aes256gcm_state aes; /* first: it wants 16-byte alignment */
	uint8_t k[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	int suite;
};

gx_dg_key *gx_dg_key_new(int suite, const uint8_t k[32])
{
	if ((suite != GX_SEC_CHACHA20 && suite != GX_SEC_AES256GCM) || !k || gx_sec_init())
		return NULL;
	if (suite == GX_SEC_AES256GCM && !crypto_aead_aes256gcm_is_available())
		return NULL;
	/* sodium_malloc: guarded pages, wiped and unmapped by sodium_free */
	gx_dg_key *d = sodium_malloc(sizeof *d);
	if (!d)
		return NULL;
	memset(d, 0, sizeof *d);
	d->suite = suite;
	memcpy(d->k, k, sizeof d->k);
	if (suite == GX_SEC_AES256GCM)
		crypto_aead_aes256gcm_beforenm(&d->aes, d->k);
	return d;
}

void gx_dg_key_free(gx_dg_key *k)
{
	if (k)
		sodium_free(k);
}

size_t gx_dg_overhead(const gx_dg_key *k)
{
	return GX_DG_HEAD + (k ? GX_DG_TAG : GX_DG_CRC);
}

static void put_head(uint8_t *p, const gx_dg_head *h)
{
	memcpy(p, dg_magic, 4);
	p[4] = DG_VERSION;
	p[5] = h->kind;
	p[6] = h->channel;
	p[7] = h->codec;
	put32(p + 8, h->party);
	put32(p + 12, h->key);
	put32(p + 16, h->round);
	put16(p + 20, (uint16_t)h->slice);
	put16(p + 22, (uint16_t)h->block);
	put16(p + 24, h->count);
	put16(p + 26, h->flags);
	put32(p + 28, h->rel);
}

/* key | round | slice u16 | block u16, the head's bytes 12..23: unique
 * under a direction's key, which carries one kind (blocks up, answers
 * down), since a sender seals a block of a slice at most once a round
 * (dgram.h). */
static void nonce_of(uint8_t n[DG_NONCE], const gx_dg_head *h)
{
	put32(n, h->key);
	put32(n + 4, h->round);
	put16(n + 8, (uint16_t)h->slice);
	put16(n + 10, (uint16_t)h->block);
}

static int dg_kind_ok(unsigned kind)
{
	return kind == GX_DG_BLOCK || kind == GX_DG_ANSWER || kind == GX_DG_ASK;
}

/* Bytes of a body element: a block's in its codec; an ask's body is
 * bytes (codec NONE). 0 for a codec the kind does not take. */
static size_t dg_elem(unsigned kind, unsigned codec)
{
	if (kind == GX_DG_ASK)
		return codec == GX_CODEC_NONE ? 1 : 0;
	return gx_wire_elem_size(codec);
}

long gx_dg_seal(const gx_dg_key *k, const gx_dg_head *h, const void *body, uint8_t *out,
		size_t cap)
{
	if (!h || !out || (h->count && !body) || !dg_kind_ok(h->kind) ||
	    (h->flags & ~GX_DG_FLAGS) || h->slice > GX_DG_SLICE_MAX ||
	    (h->kind == GX_DG_ASK ? h->block < GX_DG_ASK_BLOCK || h->block > GX_DG_SLICE_MAX
				  : h->block > GX_DG_INDEX_MAX))
		return GX_EINVAL;
	size_t es = dg_elem(h->kind, h->codec);
	if (!es)
		return GX_EINVAL;
	size_t blen = (size_t)h->count * es, total = blen + gx_dg_overhead(k);
	if (total > cap || total > GX_DG_MAX)
		return GX_EINVAL;
	put_head(out, h);
	uint8_t *b = out + GX_DG_HEAD;
	if (!k) {
		if (blen)
			memcpy(b, body, blen);
		put32(b + blen, gx_crc32c(0, out, GX_DG_HEAD + blen));
		return (long)total;
	}
	uint8_t nonce[DG_NONCE];
	nonce_of(nonce, h);
	unsigned long long clen = 0;
	if (k->suite == GX_SEC_AES256GCM)
		crypto_aead_aes256gcm_encrypt_afternm(b, &clen, body, blen, out, GX_DG_HEAD, NULL,
						      nonce, &k->aes);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt(b, &clen, body, blen, out, GX_DG_HEAD,
							  NULL, nonce, k->k);
	return (long)total;
}

int gx_dg_peek(const uint8_t *buf, size_t len, int sealed, gx_dg_head *h)
{
	if (!buf || !h)
		return GX_EINVAL;
	if (len < 4 || memcmp(buf, dg_magic, 4) != 0)
		return GX_EMAGIC;
	if (len < GX_DG_HEAD)
		return GX_ELENGTH;
	if (buf[4] != DG_VERSION)
		return GX_EVERSION;
	if (!dg_kind_ok(buf[5]))
		return GX_ETYPE;
	size_t es = dg_elem(buf[5], buf[7]);
	if (!es)
		return GX_ECODEC;
	if (get16(buf + 26) & ~GX_DG_FLAGS)
		return GX_EFLAGS;
	h->kind = buf[5];
	h->channel = buf[6];
	h->codec = buf[7];
	h->party = get32(buf + 8);
	h->key = get32(buf + 12);
	h->round = get32(buf + 16);
	h->slice = get16(buf + 20);
	h->block = get16(buf + 22);
	h->count = get16(buf + 24);
	h->flags = get16(buf + 26);
	h->rel = get32(buf + 28);
	if (len != GX_DG_HEAD + (size_t)h->count * es + (sealed ? GX_DG_TAG : GX_DG_CRC))
		return GX_ELENGTH;
	return 0;
}

int gx_dg_open(const gx_dg_key *k, uint8_t *buf, size_t len, gx_dg_head *h, const uint8_t **body)
{
	int rc = gx_dg_peek(buf, len, k != NULL, h);
	if (rc)
		return rc;
	if (body)
		*body = NULL;
	size_t blen = (size_t)h->count * dg_elem(h->kind, h->codec);
	uint8_t *b = buf + GX_DG_HEAD;
	if (!k) {
		if (get32(b + blen) != gx_crc32c(0, buf, GX_DG_HEAD + blen))
			return GX_ECRC;
	} else {
		uint8_t nonce[DG_NONCE];
		nonce_of(nonce, h);
		unsigned long long mlen = 0;
		int r = k->suite == GX_SEC_AES256GCM
				? crypto_aead_aes256gcm_decrypt_afternm(b, &mlen, NULL, b, blen + GX_DG_TAG,
									buf, GX_DG_HEAD, nonce, &k->aes)
				: crypto_aead_chacha20poly1305_ietf_decrypt(b, &mlen, NULL, b,
									    blen + GX_DG_TAG, buf,
									    GX_DG_HEAD, nonce, k->k);
		if (r != 0)
			return GX_EAUTH;
	}
	if (body)
		*body = b;
	return 0;
}

/* ---------------------------------------------------------------- sockets */

static void dg_apply(int fd, int family, const gx_dg_opts *o)
{
	if (!o)
		return;
	/* best effort: the kernel rounds, and a socket without them works */
	if (o->rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &o->rcvbuf, sizeof o->rcvbuf) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof o->rcvbuf);
	if (o->tos > 0) {
		if (family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &o->tos, sizeof o->tos);
		else
			setsockopt(fd, IPPROTO_IP, IP_TOS, &o->tos, sizeof o->tos);
	}
}

static int family_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	return getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 ? ss.ss_family : AF_UNSPEC;
}

/* Don't-fragment on what fd sends: a datagram above the path's MTU fails
 * to leave instead of going in fragments. */
static void dg_df(int fd, int fam)
{
	int pmtu = fam == AF_INET6 ? IPV6_PMTUDISC_DO : IP_PMTUDISC_DO;
	if (fam == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
	else
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
}

int gx_dg_bind(const char *host, int port, const gx_dg_opts *o, char *err, size_t errcap)
{
	int fd = gx_net_udp_bind(host, port, err, errcap);
	if (fd < 0)
		return fd;
	int on = 1, fam = family_of(fd);
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
	dg_df(fd, fam);
	dg_apply(fd, fam, o);
	return fd;
}

int gx_dg_connect(const char *host, int port, const gx_dg_opts *o, char *err, size_t errcap)
{
	int fd = gx_net_udp_connect(host, port, err, errcap);
	if (fd < 0)
		return fd;
	int fam = family_of(fd);
	dg_df(fd, fam);
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
	dg_apply(fd, fam, o);
	/* setting the DS field drops the route the connect cached, whose MTU
	 * gx_dg_path_mtu reads: connecting again caches it anew */
	struct sockaddr_storage pa;
	socklen_t pl = sizeof pa;
	if (o && o->tos > 0 && getpeername(fd, (struct sockaddr *)&pa, &pl) == 0)
		connect(fd, (struct sockaddr *)&pa, pl);
	return fd;
}

int gx_dg_path_mtu(int fd)
{
	int mtu = 0;
	socklen_t l = sizeof mtu;
	int r = family_of(fd) == AF_INET6 ? getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &l)
					  : getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &l);
	return r == 0 && mtu > 0 ? mtu : GX_EIO;
}

size_t gx_dg_fit(int fd, int mtu)
{
	size_t ip = family_of(fd) == AF_INET6 ? GX_DG_IP6_OVERHEAD : GX_DG_IP4_OVERHEAD;
	if (mtu <= (int)ip)
		return 0;
	size_t n = (size_t)mtu - ip;
	return n < GX_DG_MAX ? n : GX_DG_MAX;
}

int gx_dg_send(int fd, uint8_t *const *buf, const size_t *len, int n)
{
	return gx_dg_send_to(fd, NULL, 0, buf, len, n);
}

int gx_dg_send_to(int fd, const struct sockaddr *to, socklen_t tolen, uint8_t *const *buf,
		  const size_t *len, int n)
{
	struct mmsghdr m[GX_DG_BATCH];
	struct iovec iov[GX_DG_BATCH];
	int done = 0;
	while (done < n) {
		int k = n - done < GX_DG_BATCH ? n - done : GX_DG_BATCH;
		memset(m, 0, sizeof m[0] * (size_t)k);
		for (int i = 0; i < k; i++) {
			iov[i].iov_base = buf[done + i];
			iov[i].iov_len = len[done + i];
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_name = (void *)to;
			m[i].msg_hdr.msg_namelen = to ? tolen : 0;
		}
		int r = sendmmsg(fd, m, (unsigned)k, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				return done;
			return done ? done : GX_EIO;
		}
		done += r;
		if (r < k)
			break;
	}
	return done;
}

gx_dg_rx *gx_dg_rx_new(void)
{
	gx_dg_rx *rx = calloc(1, sizeof *rx);
	if (!rx)
		return NULL;
	for (int i = 0; i < GX_DG_BATCH; i++)
		if (!(rx->buf[i] = malloc(GX_DG_MAX))) {
			gx_dg_rx_free(rx);
			return NULL;
		}
	return rx;
}

void gx_dg_rx_free(gx_dg_rx *rx)
{
	if (!rx)
		return;
	for (int i = 0; i < GX_DG_BATCH; i++)
		free(rx->buf[i]);
	free(rx);
}

int gx_dg_recv(int fd, gx_dg_rx *rx)
{
	struct mmsghdr m[GX_DG_BATCH];
	struct iovec iov[GX_DG_BATCH];
	/* room for SO_RXQ_OVFL's u32 per datagram */
	union {
		char b[CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr align;
	} cm[GX_DG_BATCH];
	memset(m, 0, sizeof m);
	for (int i = 0; i < GX_DG_BATCH; i++) {
		iov[i].iov_base = rx->buf[i];
		iov[i].iov_len = GX_DG_MAX;
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_hdr.msg_name = &rx->from[i];
		m[i].msg_hdr.msg_namelen = sizeof rx->from[i];
		m[i].msg_hdr.msg_control = cm[i].b;
		m[i].msg_hdr.msg_controllen = sizeof cm[i].b;
	}
	int r;
	do
		r = recvmmsg(fd, m, GX_DG_BATCH, MSG_DONTWAIT, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		/* ECONNREFUSED: an ICMP error a connected socket reports once */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED)
			return 0;
		return GX_EIO;
	}
	for (int i = 0; i < r; i++) {
		rx->len[i] = (m[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : m[i].msg_len;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c;
		     c = CMSG_NXTHDR(&m[i].msg_hdr, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL)
				continue;
			uint32_t v;
			memcpy(&v, CMSG_DATA(c), sizeof v);
			/* the kernel's count since the socket was made, wrapping */
			rx->dropped += (uint32_t)(v - rx->ovfl);
			rx->ovfl = v;
		}
	}
	return r;
}

/* ---------------------------------------------------------------- pacing */

void gx_dg_pacer_init(gx_dg_pacer *p, double rate, double burst, uint64_t now_ns)
{
	p->rate = rate;
	p->burst = burst > 0 ? burst : 0;
	p->tokens = p->burst;
	p->t_ns = now_ns;
}

/* Brings the bucket up to now_ns. */
static void pacer_fill(gx_dg_pacer *p, uint64_t now_ns)
{
	if (now_ns > p->t_ns) {
		/* (in this order the figures of whole ns and bytes are exact) */
		p->tokens += (double)(now_ns - p->t_ns) * p->rate / 1e9;
		if (p->tokens > p->burst)
			p->tokens = p->burst;
		p->t_ns = now_ns;
	}
}

void gx_dg_pacer_charge(gx_dg_pacer *p, size_t len, uint64_t now_ns)
{
	if (p->rate <= 0)
		return;
	pacer_fill(p, now_ns);
	p->tokens -= (double)len;
}

double gx_dg_pacer_debt(gx_dg_pacer *p, uint64_t now_ns)
{
	if (p->rate <= 0)
		return 0;
	pacer_fill(p, now_ns);
	return p->tokens < 0 ? -p->tokens : 0;
}

uint64_t gx_dg_pacer_take(gx_dg_pacer *p, size_t len, uint64_t now_ns)
{
	if (p->rate <= 0)
		return 0;
	pacer_fill(p, now_ns);
	/* one above the burst goes once the bucket is full */
	double need = (double)len < p->burst ? (double)len : p->burst;
	if (p->tokens >= need) {
		p->tokens -= (double)len;
		return 0;
	}
	uint64_t w = (uint64_t)ceil((need - p->tokens) * 1e9 / p->rate);
	return w ? w : 1;
}
