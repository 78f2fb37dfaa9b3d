/*
 * fuzz_proto.c — libFuzzer target for the control-payload parsers of
 * lib/wire/control.c.
 *
 * Input: byte 0 picks the parser (mod 4: hello, error, key table, members),
 * byte 1 sets the message buffer size for the error parser (1 + byte); the
 * rest is the payload. Whatever a parser accepts must pack back to the very
 * bytes it came from (the error message with its control characters turned
 * into '?'), and whatever it rejects must leave no output behind. Violations
 * abort(), which is how a fuzz target reports them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geomx.h"
#include "wire/control.h"
#include "net/conn.h"

#define FAIL(...)                                            \
	do {                                                 \
		fprintf(stderr, "fuzz_proto: " __VA_ARGS__); \
		fputc('\n', stderr);                         \
		abort();                                     \
	} while (0)

static int is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

static void fuzz_hello(const uint8_t *p, size_t len)
{
	gx_hello h, g;
	uint8_t b[GX_HELLO_SIZE];
	int rc = gx_hello_parse(p, len, &h);
	if (rc != 0) {
		if (rc != GX_EPROTO)
			FAIL("hello: error %d", rc);
		if (len == GX_HELLO_SIZE && p[2] >= 1 && p[2] <= 3 && p[3] <= 1 &&
		    !(p[20] | p[21] | p[22] | p[23])) {
			/* then the name must be what was wrong */
			size_t n = strnlen((const char *)p + 24, 40), i;
			for (i = 0; i < n && !is_ctl(p[24 + i]); i++)
				;
			if (i == n) {
				for (i = n; i < 40 && !p[24 + i]; i++)
					;
				if (i == 40)
					FAIL("hello: a well-formed hello rejected");
			}
		}
		return;
	}
	if (len != GX_HELLO_SIZE)
		FAIL("hello: accepted %zu bytes", len);
	if (h.name[40] != 0 || strlen(h.name) > 40)
		FAIL("hello: name not terminated");
	for (size_t i = 0; h.name[i]; i++)
		if (is_ctl((uint8_t)h.name[i]))
			FAIL("hello: control character in name");
	gx_hello_pack(&h, b);
	if (memcmp(b, p, GX_HELLO_SIZE) != 0)
		FAIL("hello: does not pack back to its bytes");
	if (gx_hello_parse(b, sizeof b, &g) != 0 || memcmp(&g, &h, sizeof g) != 0)
		FAIL("hello: re-packed hello parses differently");
}

static void fuzz_errmsg(const uint8_t *p, size_t len, size_t cap)
{
	char msg[GX_ERROR_MSG_MAX + 1], small[257];
	uint8_t b[8 + GX_ERROR_MSG_MAX];
	int code = 0, code2 = 0;

	memset(msg, 'Z', sizeof msg);
	int rc = gx_errmsg_parse(p, len, &code, msg, sizeof msg);
	if (rc != 0) {
		if (rc != GX_EPROTO)
			FAIL("error: error %d", rc);
		if (msg[0] != 0)
			FAIL("error: message left behind on a rejection");
		return;
	}
	size_t n = len - 8;
	if (n > GX_ERROR_MSG_MAX || strlen(msg) != n)
		FAIL("error: message of %zu bytes from a %zu byte payload", strlen(msg), len);
	for (size_t i = 0; i < n; i++) {
		uint8_t want = is_ctl(p[8 + i]) ? '?' : p[8 + i];
		if ((uint8_t)msg[i] != want)
			FAIL("error: byte %zu not copied faithfully", i);
	}
	/* The cleaned message packs to a payload of the same size: the same
	 * bytes wherever the input had no control character. */
	size_t m = gx_errmsg_pack(code, msg, b, sizeof b);
	if (m != len || memcmp(b, p, 8) != 0)
		FAIL("error: re-packed to %zu bytes from %zu", m, len);
	/* a smaller buffer gives a prefix */
	if (cap > sizeof small)
		cap = sizeof small;
	if (gx_errmsg_parse(p, len, &code2, small, cap) != 0 || code2 != code)
		FAIL("error: small buffer changed the verdict");
	if (strlen(small) != (n < cap - 1 ? n : cap - 1) || memcmp(small, msg, strlen(small)) != 0)
		FAIL("error: small buffer is not a prefix");
}

static void fuzz_keytable(const uint8_t *p, size_t len)
{
	gx_keyent *e = (gx_keyent *)1;
	size_t n = 12345;
	int rc = gx_keytable_parse(p, len, &e, &n);
	if (rc != 0) {
		if (rc != GX_EPROTO && rc != GX_ENOMEM)
			FAIL("keytable: error %d", rc);
		if (e != NULL || n != 0)
			FAIL("keytable: output left behind on a rejection");
		return;
	}
	if (!e || n > GX_KEYTABLE_MAX || gx_keytable_size(n) != len)
		FAIL("keytable: %zu entries from %zu bytes", n, len);
	for (size_t i = 0; i < n; i++) {
		if (e[i].count == 0)
			FAIL("keytable: zero count accepted");
		if (i > 0 && e[i].key <= e[i - 1].key)
			FAIL("keytable: keys not increasing");
	}
	uint8_t *b = malloc(len);
	if (!b)
		FAIL("out of memory");
	gx_keytable_pack(e, n, b);
	if (memcmp(b, p, len) != 0)
		FAIL("keytable: does not pack back to its bytes");
	free(b);
	free(e);
}

static void fuzz_members(const uint8_t *p, size_t len)
{
	uint32_t w = 0;
	int rc = gx_members_parse(p, len, &w);
	if ((rc == 0) != (len == 4))
		FAIL("members: %d for %zu bytes", rc, len);
	if (rc == 0 && w != ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			     (uint32_t)p[3] << 24))
		FAIL("members: wrong value");
}

static void fuzz_config(const uint8_t *p, size_t len)
{
	gx_config c;
	int rc = gx_config_parse(p, len, &c);
	if (rc != 0 && rc != GX_EPROTO)
		FAIL("config: unexpected %d", rc);
	if (rc == 0 && len != GX_CONFIG_SIZE)
		FAIL("config: accepted %zu bytes", len);
	uint8_t b[GX_CONFIG_SIZE];
	if (rc == 0) {
		gx_config_pack(&c, b);
		if (memcmp(b, p, GX_CONFIG_SIZE) != 0)
			FAIL("config: does not pack back to its bytes");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const uint8_t *p = data + 2;
	size_t len = size - 2;
	/* Parsers must not read past len: give them an exact copy so
	 * AddressSanitizer sees any overrun (a NULL-free empty one too). */
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, p, len);
	/* Selector 0xC0 picks CONFIG; the others keep their parsers so that
	 * the corpus stays what it was. */
	switch (data[0] == 0xC0 ? 4 : data[0] % 4) {
	case 4: fuzz_config(copy, len); break;
	case 0: fuzz_hello(copy, len); break;
	case 1: fuzz_errmsg(copy, len, (size_t)data[1] + 1); break;
	case 2: fuzz_keytable(copy, len); break;
	default: fuzz_members(copy, len); break;
	}
	free(copy);
	return 0;
}
