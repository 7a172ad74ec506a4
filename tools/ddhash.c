// SPDX-License-Identifier: GPL-2.0
/*
 * ddhash.c - software sha256, blake2b, xxhash64 and crc32c for the
 * dm-dedup tools, written from the published specifications (FIPS 180-4,
 * RFC 7693, the xxHash specification, RFC 3720 for crc32c).  One-shot
 * digests of whole blocks held in memory, and digests of many blocks that
 * share a prefix (ddgen), whose state is kept.
 */
#include <string.h>

#include "ddhash.h"

/* ------------------------------------------------------------------ */
/* byte helpers */

static uint32_t get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	       ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static uint32_t ror32(uint32_t v, unsigned int n)
{
	return (v >> n) | (v << (32 - n));
}

static uint64_t ror64(uint64_t v, unsigned int n)
{
	return (v >> n) | (v << (64 - n));
}

static uint64_t rol64(uint64_t v, unsigned int n)
{
	return (v << n) | (v >> (64 - n));
}

/* ------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4) */

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = get_be32(p + 4 * i);
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
			      (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
			      (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}

	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (i = 0; i < 64; i++) {
		t1 = hh + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) +
		     ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) +
		     ((a & b) ^ (a & c) ^ (b & c));
		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

static const uint32_t sha256_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* Hashes the rest of a message whose first 'done' bytes are in h. */
static void sha256_finish(uint32_t h[8], uint64_t done, const uint8_t *p,
			  size_t len, uint8_t out[32])
{
	uint8_t tail[128];
	size_t rest, tlen;
	uint64_t bits = (done + len) * 8;
	int i;

	while (len >= 64) {
		sha256_block(h, p);
		p += 64;
		len -= 64;
	}
	rest = len;
	memset(tail, 0, sizeof(tail));
	memcpy(tail, p, rest);
	tail[rest] = 0x80;
	tlen = rest + 1 + 8 <= 64 ? 64 : 128;
	for (i = 0; i < 8; i++)
		tail[tlen - 1 - i] = bits >> (8 * i);
	sha256_block(h, tail);
	if (tlen == 128)
		sha256_block(h, tail + 64);
	for (i = 0; i < 8; i++)
		put_be32(out + 4 * i, h[i]);
}

void dd_sha256(const void *data, size_t len, uint8_t out[32])
{
	uint32_t h[8];

	memcpy(h, sha256_iv, sizeof(h));
	sha256_finish(h, 0, data, len, out);
}

/* ------------------------------------------------------------------ */
/* BLAKE2b (RFC 7693), unkeyed */

static const uint64_t blake2b_iv[8] = {
	0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL,
	0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
	0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
	0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t blake2b_sigma[12][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
};

static void blake2b_g(uint64_t *v, int a, int b, int c, int d,
		      uint64_t x, uint64_t y)
{
	v[a] = v[a] + v[b] + x;
	v[d] = ror64(v[d] ^ v[a], 32);
	v[c] = v[c] + v[d];
	v[b] = ror64(v[b] ^ v[c], 24);
	v[a] = v[a] + v[b] + y;
	v[d] = ror64(v[d] ^ v[a], 16);
	v[c] = v[c] + v[d];
	v[b] = ror64(v[b] ^ v[c], 63);
}

static void blake2b_compress(uint64_t h[8], const uint8_t *block,
			     uint64_t t, int last)
{
	uint64_t v[16], m[16];
	int i;

	for (i = 0; i < 16; i++)
		m[i] = get_le64(block + 8 * i);
	for (i = 0; i < 8; i++) {
		v[i] = h[i];
		v[i + 8] = blake2b_iv[i];
	}
	v[12] ^= t;	/* the high 64 bits of the counter stay 0 */
	if (last)
		v[14] = ~v[14];
	for (i = 0; i < 12; i++) {
		const uint8_t *s = blake2b_sigma[i];

		blake2b_g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
		blake2b_g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
		blake2b_g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
		blake2b_g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
		blake2b_g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
		blake2b_g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
		blake2b_g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
		blake2b_g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
	}
	for (i = 0; i < 8; i++)
		h[i] ^= v[i] ^ v[i + 8];
}

static void blake2b_init(uint64_t h[8], size_t outlen)
{
	int i;

	for (i = 0; i < 8; i++)
		h[i] = blake2b_iv[i];
	h[0] ^= 0x01010000ULL ^ outlen;	/* depth 1, fanout 1, no key */
}

/* The rest of a message of which t bytes are in h; len > 0 unless t = 0. */
static void blake2b_finish(uint64_t h[8], uint64_t t, const uint8_t *p,
			   size_t len, uint8_t *out, size_t outlen)
{
	uint8_t last[128], full[64];
	size_t i;

	/* every block but the last is compressed without the final flag */
	while (len > 128) {
		t += 128;
		blake2b_compress(h, p, t, 0);
		p += 128;
		len -= 128;
	}
	memset(last, 0, sizeof(last));
	memcpy(last, p, len);
	t += len;
	blake2b_compress(h, last, t, 1);

	for (i = 0; i < 8; i++)
		put_le64(full + 8 * i, h[i]);
	memcpy(out, full, outlen);
}

void dd_blake2b(const void *data, size_t len, uint8_t *out, size_t outlen)
{
	uint64_t h[8];

	if (outlen == 0 || outlen > 64)
		return;
	blake2b_init(h, outlen);
	blake2b_finish(h, 0, data, len, out, outlen);
}

/* ------------------------------------------------------------------ */
/* xxHash64 */

#define XXH_P1 0x9E3779B185EBCA87ULL
#define XXH_P2 0xC2B2AE3D27D4EB4FULL
#define XXH_P3 0x165667B19E3779F9ULL
#define XXH_P4 0x85EBCA77C2B2AE63ULL
#define XXH_P5 0x27D4EB2F165667C5ULL

static uint64_t xxh64_round(uint64_t acc, uint64_t input)
{
	acc += input * XXH_P2;
	acc = rol64(acc, 31);
	return acc * XXH_P1;
}

static uint64_t xxh64_merge(uint64_t acc, uint64_t val)
{
	acc ^= xxh64_round(0, val);
	return acc * XXH_P1 + XXH_P4;
}

static void xxh64_init(uint64_t v[4], uint64_t seed)
{
	v[0] = seed + XXH_P1 + XXH_P2;
	v[1] = seed + XXH_P2;
	v[2] = seed;
	v[3] = seed - XXH_P1;
}

/* Consumes whole 32-byte stripes; returns the bytes consumed. */
static size_t xxh64_stripes(uint64_t v[4], const uint8_t *p, size_t len)
{
	size_t done = 0;

	while (len - done >= 32) {
		v[0] = xxh64_round(v[0], get_le64(p + done));
		v[1] = xxh64_round(v[1], get_le64(p + done + 8));
		v[2] = xxh64_round(v[2], get_le64(p + done + 16));
		v[3] = xxh64_round(v[3], get_le64(p + done + 24));
		done += 32;
	}
	return done;
}

/*
 * The hash of a message of total bytes whose stripes so far are in v
 * (total >= 32), or of a short one (v NULL); p, len: what is left.
 */
static uint64_t xxh64_finish(const uint64_t *v, uint64_t seed,
			     uint64_t total, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	uint64_t h;

	if (v) {
		h = rol64(v[0], 1) + rol64(v[1], 7) + rol64(v[2], 12) +
		    rol64(v[3], 18);
		h = xxh64_merge(h, v[0]);
		h = xxh64_merge(h, v[1]);
		h = xxh64_merge(h, v[2]);
		h = xxh64_merge(h, v[3]);
	} else {
		h = seed + XXH_P5;
	}
	h += total;

	while (end - p >= 8) {
		h ^= xxh64_round(0, get_le64(p));
		h = rol64(h, 27) * XXH_P1 + XXH_P4;
		p += 8;
	}
	if (end - p >= 4) {
		h ^= (uint64_t)get_le32(p) * XXH_P1;
		h = rol64(h, 23) * XXH_P2 + XXH_P3;
		p += 4;
	}
	while (p < end) {
		h ^= *p * XXH_P5;
		h = rol64(h, 11) * XXH_P1;
		p++;
	}

	h ^= h >> 33;
	h *= XXH_P2;
	h ^= h >> 29;
	h *= XXH_P3;
	h ^= h >> 32;
	return h;
}

uint64_t dd_xxh64(const void *data, size_t len, uint64_t seed)
{
	const uint8_t *p = data;
	uint64_t v[4];
	size_t done;

	if (len < 32)
		return xxh64_finish(NULL, seed, len, p, len);
	xxh64_init(v, seed);
	done = xxh64_stripes(v, p, len);
	return xxh64_finish(v, seed, len, p + done, len - done);
}

/* ------------------------------------------------------------------ */
/* crc32c */

/* slicing by 8: table[k][b] is the crc of byte b followed by k zeroes */
static uint32_t crc32c_table[8][256];
static int crc32c_ready;

static void crc32c_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (c & 1 ? 0x82F63B78U : 0);
		crc32c_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc32c_table[j][i] = (crc32c_table[j - 1][i] >> 8) ^
				crc32c_table[0][crc32c_table[j - 1][i] & 0xff];
	crc32c_ready = 1;
}

uint32_t dd_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!crc32c_ready)
		crc32c_init();
	while (len >= 8) {
		uint32_t lo = crc ^ get_le32(p), hi = get_le32(p + 4);

		crc = crc32c_table[7][lo & 0xff] ^
		      crc32c_table[6][(lo >> 8) & 0xff] ^
		      crc32c_table[5][(lo >> 16) & 0xff] ^
		      crc32c_table[4][lo >> 24] ^
		      crc32c_table[3][hi & 0xff] ^
		      crc32c_table[2][(hi >> 8) & 0xff] ^
		      crc32c_table[1][(hi >> 16) & 0xff] ^
		      crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	enum dd_hash_alg alg;
	size_t size;
} dd_hashes[] = {
	{ "sha256", DD_HASH_SHA256, 32 },
	{ "blake2b-256", DD_HASH_BLAKE2B_256, 32 },
	{ "xxhash64", DD_HASH_XXHASH64, 8 },
};

enum dd_hash_alg dd_hash_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dd_hashes); i++)
		if (!strcmp(name, dd_hashes[i].name))
			return dd_hashes[i].alg;
	return DD_HASH_NONE;
}

size_t dd_hash_size(enum dd_hash_alg alg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dd_hashes); i++)
		if (dd_hashes[i].alg == alg)
			return dd_hashes[i].size;
	return 0;
}

const char *dd_hash_name(enum dd_hash_alg alg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dd_hashes); i++)
		if (dd_hashes[i].alg == alg)
			return dd_hashes[i].name;
	return "none";
}

/*
 * The fp array stores a fingerprint of zeroes as 1 (zeroes there mean "no
 * block"), as the module's dedup_hash_block() does.
 */
static void fp_not_zero(enum dd_hash_alg alg, uint8_t *out)
{
	size_t i, n = dd_hash_size(alg);

	for (i = 0; i < n; i++)
		if (out[i])
			return;
	if (n)
		out[0] = 1;
}

void dd_hash(enum dd_hash_alg alg, const void *data, size_t len, uint8_t *out)
{
	switch (alg) {
	case DD_HASH_SHA256:
		dd_sha256(data, len, out);
		break;
	case DD_HASH_BLAKE2B_256:
		dd_blake2b(data, len, out, 32);
		break;
	case DD_HASH_XXHASH64:
		put_le64(out, dd_xxh64(data, len, 0));
		break;
	default:
		break;
	}
	fp_not_zero(alg, out);
}

/* ------------------------------------------------------------------ */
/* hashing many messages that share a prefix */

int dd_hash_prefix_init(struct dd_hash_prefix *pf, enum dd_hash_alg alg,
			const void *prefix, size_t len)
{
	const uint8_t *p = prefix;
	size_t i;

	memset(pf, 0, sizeof(*pf));
	if (len % 128)
		return -1;
	pf->alg = alg;
	pf->len = len;
	switch (alg) {
	case DD_HASH_SHA256: {
		uint32_t h[8];

		memcpy(h, sha256_iv, sizeof(h));
		for (i = 0; i < len; i += 64)
			sha256_block(h, p + i);
		for (i = 0; i < 8; i++)
			pf->state[i] = h[i];
		return 0;
	}
	case DD_HASH_BLAKE2B_256:
		blake2b_init(pf->state, 32);
		for (i = 0; i < len; i += 128)
			blake2b_compress(pf->state, p + i, i + 128, 0);
		return 0;
	case DD_HASH_XXHASH64:
		xxh64_init(pf->state, 0);
		xxh64_stripes(pf->state, p, len);
		return 0;
	default:
		return -1;
	}
}

void dd_hash_with_prefix(const struct dd_hash_prefix *pf, const void *tail,
			 size_t len, uint8_t *out)
{
	uint64_t v[8];
	size_t i, done;

	memcpy(v, pf->state, sizeof(v));
	switch (pf->alg) {
	case DD_HASH_SHA256: {
		uint32_t h[8];

		for (i = 0; i < 8; i++)
			h[i] = (uint32_t)v[i];
		sha256_finish(h, pf->len, tail, len, out);
		break;
	}
	case DD_HASH_BLAKE2B_256:
		blake2b_finish(v, pf->len, tail, len, out, 32);
		break;
	case DD_HASH_XXHASH64:
		if (!pf->len) {
			put_le64(out, dd_xxh64(tail, len, 0));
			break;
		}
		done = xxh64_stripes(v, tail, len);
		put_le64(out, xxh64_finish(v, 0, pf->len + len,
					   (const uint8_t *)tail + done,
					   len - done));
		break;
	default:
		break;
	}
	fp_not_zero(pf->alg, out);
}
