/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ddhash.h - the fingerprint functions dm-dedup can use, in software:
 * sha256, blake2b-256 (unkeyed BLAKE2b with a 32-byte digest) and
 * xxhash64 (seed 0, the 64-bit result stored little-endian, as the
 * kernel's crypto "xxhash64" shash writes it).  Plus crc32c for the
 * persistent-data checksums.
 */
#ifndef DEDUP_TOOLS_DDHASH_H
#define DEDUP_TOOLS_DDHASH_H

#include <stddef.h>
#include <stdint.h>

enum dd_hash_alg {
	DD_HASH_NONE = 0,
	DD_HASH_SHA256,
	DD_HASH_BLAKE2B_256,
	DD_HASH_XXHASH64,
};

#define DD_HASH_MAX_DIGEST 32

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Algorithm for a superblock hash_name, DD_HASH_NONE if unknown. */
enum dd_hash_alg dd_hash_lookup(const char *name);
/* Digest size in bytes (the fp_size the module stores). */
size_t dd_hash_size(enum dd_hash_alg alg);
const char *dd_hash_name(enum dd_hash_alg alg);
/* One-shot digest of len bytes into out (dd_hash_size(alg) bytes). */
void dd_hash(enum dd_hash_alg alg, const void *data, size_t len, uint8_t *out);

void dd_sha256(const void *data, size_t len, uint8_t out[32]);
void dd_blake2b(const void *data, size_t len, uint8_t *out, size_t outlen);
uint64_t dd_xxh64(const void *data, size_t len, uint64_t seed);

/*
 * Digests of many messages that start with the same prefix (a multiple of
 * 128 bytes) cost only their tails: the state after the prefix is kept.
 * A blake2b tail must not be empty.
 */
struct dd_hash_prefix {
	enum dd_hash_alg alg;
	size_t len;
	uint64_t state[8];
};

int dd_hash_prefix_init(struct dd_hash_prefix *pf, enum dd_hash_alg alg,
			const void *prefix, size_t len);
void dd_hash_with_prefix(const struct dd_hash_prefix *pf, const void *tail,
			 size_t len, uint8_t *out);

/* Raw crc32c update (Castagnoli, reflected), no pre- or post-inversion. */
uint32_t dd_crc32c(uint32_t crc, const void *data, size_t len);

#endif /* DEDUP_TOOLS_DDHASH_H */
