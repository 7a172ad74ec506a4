// SPDX-License-Identifier: GPL-2.0
/*
 * misc.c - hex, uuids, sizes and numbers given on the command line, and
 * the content of generated data blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/dedup.h"
#include "pdata/le.h"
#include "pdata/log.h"

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

/* The multiplier of a size suffix letter, 0 if it is none. */
static uint64_t size_unit(char c)
{
	static const char units[] = "kmgtp";
	const char *u = c ? strchr(units, c | 0x20) : NULL;

	return u ? 1ULL << (10 * (u - units + 1)) : 0;
}

int dd_parse_size(const char *s, uint64_t *bytes)
{
	unsigned __int128 v = 0, frac = 0, den = 1, mult = 1;
	const char *p = s;
	bool digits = false;

	for (; *p >= '0' && *p <= '9'; p++, digits = true) {
		v = v * 10 + (*p - '0');
		if (v > UINT64_MAX)
			return -1;
	}
	if (*p == '.') {
		/* digits beyond the 18th cannot make a whole byte more */
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
			if (den < 1000000000000000000ULL) {
				frac = frac * 10 + (*p - '0');
				den *= 10;
			}
	}
	if (!digits)
		return -1;
	if (size_unit(*p)) {
		mult = size_unit(*p++);
		if (*p == 'i')
			p++;
		if (*p == 'B')
			p++;
	} else if (*p == 's') {
		mult = 512;
		p++;
	} else if (*p == 'b' || *p == 'B') {
		p++;
	}
	if (*p)
		return -1;
	v = v * mult + frac * mult / den;
	if (v > UINT64_MAX)
		return -1;
	*bytes = v;
	return 0;
}

int dd_parse_number(const char *opt, const char *arg, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-') {
		fprintf(stderr, "%s: %s wants a number\n", pd_prog, opt);
		return -1;
	}
	return 0;
}
