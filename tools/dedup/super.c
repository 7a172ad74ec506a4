// SPDX-License-Identifier: GPL-2.0
/*
 * super.c - the dm-dedup superblock: decode, validate, encode, and the
 * layout it describes.
 */
#include <stddef.h>
#include <string.h>

#include "dedup/dedup.h"
#include "pdata/le.h"
#include "pdata/log.h"

#define SB_OFF(f)	offsetof(struct dedup_disk_superblock, f)

void dd_super_decode(const uint8_t *blk, struct dd_super *s)
{
	const struct dedup_disk_superblock *d = (const void *)blk;

	memset(s, 0, sizeof(*s));
	dedup_sb_unpack(d, &s->sb);
	s->csum = pd_le32(blk + SB_OFF(csum));
	s->blocknr = pd_le64(blk + SB_OFF(blocknr));
	s->padding = pd_le32(blk + SB_OFF(padding));
	memcpy(s->hash, s->sb.hash_name, DEDUP_HASH_NAME_LEN);
	s->hash[DEDUP_HASH_NAME_LEN] = '\0';
	s->alg = dd_hash_lookup(s->hash);
	pd_sm_root_unpack(s->sb.metadata_space_map_root, &s->msm);
	pd_sm_root_unpack(s->sb.bulk_space_map_root, &s->bsm);
	s->bulk = s->sb.incompat_flags & DEDUP_INCOMPAT_BULK;
	s->stale_fp = s->sb.incompat_flags & DEDUP_INCOMPAT_STALE_FP;
}

void dd_super_encode(const struct dedup_sb *sb, uint8_t *blk)
{
	memset(blk, 0, DD_BLOCK_SIZE);
	dedup_sb_pack(sb, (struct dedup_disk_superblock *)blk);
	pd_put_le64(blk + SB_OFF(blocknr), DEDUP_SUPERBLOCK_LOCATION);
	pd_block_set_csum(blk, DEDUP_SUPERBLOCK_CSUM_XOR);
}

static void check_geometry(struct dd_super *s)
{
	static const char *what = "superblock";
	const struct dedup_sb *sb = &s->sb;
	const uint8_t *name = (const uint8_t *)sb->hash_name;
	uint32_t dbs = sb->data_block_size;
	size_t len;

	s->data_ok = true;
	if (!dedup_data_block_size_ok(dbs)) {
		pd_error(0, what, "data block size %u is not a power of two in %u..%u",
			 dbs, DEDUP_MIN_DATA_BLOCK_SIZE,
			 DEDUP_MAX_DATA_BLOCK_SIZE);
		s->data_ok = false;
	}
	if (!sb->data_nr_blocks) {
		pd_error(0, what, "data device size is 0 blocks");
		s->data_ok = false;
	}

	len = strnlen((const char *)name, DEDUP_HASH_NAME_LEN);
	if (len == DEDUP_HASH_NAME_LEN)
		pd_error(0, what, "hash name is not NUL terminated");
	else if (!pd_all_zero(name + len, DEDUP_HASH_NAME_LEN - len, NULL))
		pd_error(0, what, "hash name is not NUL padded");
	if (s->alg == DD_HASH_NONE)
		pd_error(0, what, "unknown hash \"%.32s\"", s->hash);

	s->fp_ok = sb->fp_size >= 8 && sb->fp_size <= DEDUP_MAX_FP_SIZE;
	if (!s->fp_ok)
		pd_error(0, what, "fingerprint size %u out of range 8..%u",
			 sb->fp_size, DEDUP_MAX_FP_SIZE);
	else if (s->alg != DD_HASH_NONE && sb->fp_size != dd_hash_size(s->alg))
		pd_error(0, what, "fingerprint size %u does not match %s (%zu bytes)",
			 sb->fp_size, dd_hash_name(s->alg),
			 dd_hash_size(s->alg));
	if (s->data_ok && sb->alloc_cursor > sb->data_nr_blocks)
		pd_warning(0, what, "alloc_cursor %llu beyond the data device (%llu blocks)",
			   (unsigned long long)sb->alloc_cursor,
			   (unsigned long long)sb->data_nr_blocks);
}

static void check_regions(struct dd_super *s, uint64_t dev_blocks)
{
	static const char *what = "superblock";
	const struct dedup_sb *sb = &s->sb;
	uint64_t a = sb->metadata_nr_blocks < DEDUP_REGION_A_MAX_BLOCKS ?
		sb->metadata_nr_blocks : DEDUP_REGION_A_MAX_BLOCKS;
	size_t off;

	if (sb->metadata_nr_blocks < DEDUP_MIN_METADATA_BLOCKS)
		pd_error(0, what, "metadata_nr_blocks %llu below the minimum %u",
			 (unsigned long long)sb->metadata_nr_blocks,
			 DEDUP_MIN_METADATA_BLOCKS);
	if (sb->metadata_nr_blocks > dev_blocks)
		pd_error(0, what, "metadata_nr_blocks is %llu, but the metadata device has %llu blocks",
			 (unsigned long long)sb->metadata_nr_blocks,
			 (unsigned long long)dev_blocks);
	if (s->msm.nr_blocks != a)
		pd_error(0, what, "the space map covers %llu blocks, region A of a %llu-block device is %llu",
			 (unsigned long long)s->msm.nr_blocks,
			 (unsigned long long)sb->metadata_nr_blocks,
			 (unsigned long long)a);
	if (s->bulk) {
		if (sb->bulk_start != DEDUP_REGION_A_MAX_BLOCKS)
			pd_error(0, what, "bulk_start is %llu, expected %llu",
				 (unsigned long long)sb->bulk_start,
				 (unsigned long long)DEDUP_REGION_A_MAX_BLOCKS);
		if (sb->bulk_start + sb->bulk_nr_blocks != sb->metadata_nr_blocks)
			pd_error(0, what, "bulk region %llu + %llu blocks does not end at metadata_nr_blocks %llu",
				 (unsigned long long)sb->bulk_start,
				 (unsigned long long)sb->bulk_nr_blocks,
				 (unsigned long long)sb->metadata_nr_blocks);
		if (s->bsm.nr_blocks != sb->bulk_nr_blocks)
			pd_error(0, what, "the bulk space map covers %llu blocks, bulk_nr_blocks is %llu",
				 (unsigned long long)s->bsm.nr_blocks,
				 (unsigned long long)sb->bulk_nr_blocks);
	} else {
		if (sb->metadata_nr_blocks > DEDUP_REGION_A_MAX_BLOCKS)
			pd_error(0, what, "metadata_nr_blocks %llu is beyond region A, but the bulk feature is not set",
				 (unsigned long long)sb->metadata_nr_blocks);
		if (sb->bulk_start || sb->bulk_nr_blocks ||
		    !pd_all_zero(sb->bulk_space_map_root,
				 DEDUP_SPACE_MAP_ROOT_SIZE, NULL))
			pd_error(0, what, "bulk region fields set, but the bulk feature is not");
	}
	if (!pd_all_zero(sb->metadata_space_map_root + PD_SM_ROOT_SIZE,
			 DEDUP_SPACE_MAP_ROOT_SIZE - PD_SM_ROOT_SIZE, &off))
		pd_warning(0, what, "non-zero byte in the unused part of the space map root at offset %zu",
			   SB_OFF(metadata_space_map_root) + PD_SM_ROOT_SIZE + off);
	if (!pd_all_zero(sb->bulk_space_map_root + PD_SM_ROOT_SIZE,
			 DEDUP_SPACE_MAP_ROOT_SIZE - PD_SM_ROOT_SIZE, &off))
		pd_warning(0, what, "non-zero byte in the unused part of the bulk space map root at offset %zu",
			   SB_OFF(bulk_space_map_root) + PD_SM_ROOT_SIZE + off);
}

enum dd_sb_status dd_super_check(const uint8_t *blk, struct dd_super *s,
				 uint64_t dev_blocks)
{
	static const char *what = "superblock";
	const struct dedup_sb *sb = &s->sb;
	uint32_t csum;
	size_t len, off;

	dd_super_decode(blk, s);
	if (sb->magic != DEDUP_MAGIC) {
		pd_error(0, what, "bad magic 0x%016llx, expected 0x%016llx: not dm-dedup metadata",
			 (unsigned long long)sb->magic,
			 (unsigned long long)DEDUP_MAGIC);
		return DD_SB_BAD;
	}
	csum = pd_block_csum(blk, DEDUP_SUPERBLOCK_CSUM_XOR);
	if (csum != s->csum) {
		pd_error(0, what, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 s->csum, csum);
		return DD_SB_BAD;
	}
	if (s->blocknr != DEDUP_SUPERBLOCK_LOCATION) {
		pd_error(0, what, "location field says block %llu",
			 (unsigned long long)s->blocknr);
		return DD_SB_BAD;
	}
	if (sb->version == 1) {
		pd_error(0, what, "metadata version 1: this tool reads version %u only; version 1 metadata (a fingerprint btree) cannot be checked or converted, and the version %u module refuses it",
			 DEDUP_METADATA_VERSION, DEDUP_METADATA_VERSION);
		return DD_SB_REFUSE;
	}
	if (sb->version != DEDUP_METADATA_VERSION) {
		pd_error(0, what, "unsupported metadata version %u (this tool knows version %u)",
			 sb->version, DEDUP_METADATA_VERSION);
		return DD_SB_REFUSE;
	}
	if (sb->incompat_flags & ~DEDUP_INCOMPAT_SUPPORTED) {
		pd_error(0, what, "unknown incompatible feature flags 0x%x: refusing to check metadata of a newer format",
			 sb->incompat_flags & ~DEDUP_INCOMPAT_SUPPORTED);
		return DD_SB_REFUSE;
	}
	if (sb->compat_ro_flags & ~DEDUP_COMPAT_RO_SUPPORTED)
		pd_warning(0, what, "unknown read-only compatible feature flags 0x%x: checked as far as this tool knows the format",
			   sb->compat_ro_flags & ~DEDUP_COMPAT_RO_SUPPORTED);
	if (sb->compat_flags & ~DEDUP_COMPAT_SUPPORTED)
		pd_warning(0, what, "unknown compatible feature flags 0x%x ignored",
			   sb->compat_flags & ~DEDUP_COMPAT_SUPPORTED);
	if (sb->flags & ~DEDUP_SB_NEEDS_CHECK)
		pd_warning(0, what, "unknown flag bits 0x%x",
			   sb->flags & ~DEDUP_SB_NEEDS_CHECK);
	if (sb->metadata_block_size != DEDUP_METADATA_BLOCK_SIZE) {
		pd_error(0, what, "metadata block size %u, expected %u",
			 sb->metadata_block_size, DEDUP_METADATA_BLOCK_SIZE);
		return DD_SB_BAD;
	}
	check_geometry(s);
	check_regions(s, dev_blocks);
	if (s->padding)
		pd_warning(0, what, "padding after fp_size is 0x%x, not zero",
			   s->padding);
	len = sizeof(struct dedup_disk_superblock);
	if (!pd_all_zero(blk + len, DD_BLOCK_SIZE - len, &off))
		pd_error(0, what, "non-zero byte after the superblock structure at offset %zu",
			 len + off);
	return DD_SB_OK;
}

void dd_layout_from_super(const struct dd_super *s, uint64_t dev_blocks,
			  struct dd_layout *l)
{
	memset(l, 0, sizeof(*l));
	l->dev_blocks = dev_blocks;
	l->a_blocks = s->msm.nr_blocks;
	if (l->a_blocks > dev_blocks)
		l->a_blocks = dev_blocks;
	if (l->a_blocks > DEDUP_REGION_A_MAX_BLOCKS)
		l->a_blocks = DEDUP_REGION_A_MAX_BLOCKS;
	if (s->bulk && s->sb.bulk_start >= l->a_blocks &&
	    s->sb.bulk_start < dev_blocks) {
		l->bulk = true;
		l->bulk_start = s->sb.bulk_start;
		l->bulk_nr = s->sb.bulk_nr_blocks;
		if (l->bulk_nr > dev_blocks - l->bulk_start)
			l->bulk_nr = dev_blocks - l->bulk_start;
	}
}
