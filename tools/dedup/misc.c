// SPDX-License-Identifier: GPL-2.0
/*
 * misc.c - hex, uuids, and the content of generated data blocks.
 */
#include <stdio.h>
#include <string.h>

#include "dedup/dedup.h"
#include "pdata/endian.h"

void dd_hex(char *out, const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dd_unhex(uint8_t *out, const char *hex, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		int hi = nibble(hex[2 * i]), lo;

		if (hi < 0)
			return -1;
		lo = nibble(hex[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = hi << 4 | lo;
	}
	return hex[2 * len] ? -1 : 0;
}

void dd_uuid_str(char *out, const uint8_t *u)
{
	char hex[33];

	dd_hex(hex, u, 16);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
		 hex + 12, hex + 16, hex + 20);
}

int dd_uuid_parse(uint8_t *uuid, const char *s)
{
	char hex[33];
	size_t i, n = 0;

	for (i = 0; s[i]; i++) {
		if (s[i] == '-')
			continue;
		if (n == 32)
			return -1;
		hex[n++] = s[i];
	}
	hex[n] = '\0';
	return n == 32 ? dd_unhex(uuid, hex, 16) : -1;
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * Generated block id: a pseudo-random pattern shared by every block, but
 * for its last 128 bytes, drawn from id.  Blocks are distinct and never
 * zero, and their digests cost only the tail (struct dd_hash_prefix).
 */
void dd_fill_content(uint8_t *buf, uint32_t size, uint64_t id)
{
	uint64_t x = 0x5DEECE66DULL;
	uint32_t i;

	for (i = 0; i + 128 < size; i += 8)
		pd_put_le64(buf + i, xorshift(&x));
	dd_fill_tail(buf + i, id);
}

void dd_fill_tail(uint8_t *tail, uint64_t id)
{
	uint64_t x = (id + 1) * 0x9E3779B97F4A7C15ULL;
	uint32_t i;

	for (i = 0; i < 128; i += 8)
		pd_put_le64(tail + i, xorshift(&x));
}
