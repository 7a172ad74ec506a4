/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-hash.h - fingerprints of data blocks (dm-dedup-hash.c), for the
 * bio path (dm-dedup-io.c) and the dm face (dm-dedup-target.c).
 */
#ifndef DM_DEDUP_HASH_H
#define DM_DEDUP_HASH_H

#include <linux/types.h>

struct dedup_hash;

/*
 * Allocates one transform per possible CPU for the named hash, which must
 * be sha256, blake2b-256 or xxhash64.  Returns ERR_PTR(-EINVAL) for an
 * unknown name, or the crypto API's error.
 */
struct dedup_hash *dedup_hash_create(const char *name);
void dedup_hash_destroy(struct dedup_hash *h);

/* Bytes of fingerprint this hash produces (8..DEDUP_MAX_FP_SIZE). */
unsigned int dedup_hash_size(struct dedup_hash *h);

/* False for hashes that are not collision resistant: hits must be verified. */
bool dedup_hash_trusted(struct dedup_hash *h);

/*
 * Fingerprints len bytes at data into fp (DEDUP_MAX_FP_SIZE bytes, zero
 * padded).  May sleep.
 */
int dedup_hash_block(struct dedup_hash *h, const void *data, unsigned int len,
		     u8 *fp);

/* True when all len bytes are zero. */
bool dedup_block_is_zero(const void *data, unsigned int len);

#endif /* DM_DEDUP_HASH_H */
