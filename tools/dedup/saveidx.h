/* SPDX-License-Identifier: GPL-2.0 */
/*
 * saveidx.h - the RAM fingerprint index saved at a clean shutdown (see
 * include/dm-dedup-format.h): read from the save and save_dir arrays,
 * validated, and searched as the module's dedup_index_lookup() does.
 */
#ifndef DEDUP_SAVEIDX_H
#define DEDUP_SAVEIDX_H

#include "dedup/dedup.h"

struct dd_sshard {
	uint64_t shard;
	uint64_t pos;		/* bucket position of its header */
	uint32_t nb;
	uint64_t entries;
	const uint8_t *buckets;	/* into dd_saveidx.data */
};

struct dd_saveidx {
	uint32_t shard_bits;
	uint32_t loc_bits;
	uint32_t tag_bits;
	uint64_t loc_mask;
	uint8_t *data;		/* every saved bucket, by position */
	uint64_t nr_pos;
	struct dd_sshard *shards;
	size_t nr_shards;
	size_t cap_shards;
	uint64_t live;		/* live entries found */
	bool usable;		/* structure sound: lookups possible */
};

/*
 * Reads and validates the saved index of superblock s from its two
 * arrays (already loaded); fp_blocks is the number of fp array blocks
 * the data device has.  Problems are reported as errors; usable tells
 * whether lookups can be made.
 */
void dd_saveidx_load(struct pd_ctx *c, struct dd_array *save,
		     struct dd_array *dir, const struct dd_super *s,
		     uint64_t fp_blocks, struct dd_saveidx *si);
/* Whether fp, stored in fp array block fp_block, can be found. */
bool dd_saveidx_find(const struct dd_saveidx *si, const uint8_t *fp,
		     uint64_t fp_block);
void dd_saveidx_free(struct dd_saveidx *si);

#endif /* DEDUP_SAVEIDX_H */
