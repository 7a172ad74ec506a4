/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup.h - what every file of dm-dedup.ko shares: the log prefix, the
 * on-disk format, and the values of a logical block in memory.
 *
 * The files, each floor above the ones it uses (an include or a call goes
 * down the list, never up; each header says what it exports to whom):
 *
 *   dm-dedup-target.c      the dm face: tables, the pools, status, messages
 *   dm-dedup-io.c          the bio path and the pool's modes (-io.h)
 *   dm-dedup-hash.c        fingerprints (-hash.h)
 *   dm-dedup-cow-commit.c  the commit pipeline: kthread, commit (-cow-commit.h)
 *   dm-dedup-gen.c         generations of uncommitted changes (-gen.h)
 *   dm-dedup-meta.c        the metadata behind an opaque handle (-meta.h)
 *   dm-dedup-index-save.c  the saved RAM index (-index-save.h)
 *   dm-dedup-array.c       sparse arrays (-array.h)
 *   dm-dedup-index.c       the RAM fingerprint index (-index.h)
 *   dm-dedup-alloc.c       the data block allocator (-alloc.h)
 *   dm-dedup-space.c       metadata space accounting (-space.h)
 *   dm-dedup-fault.c       test-only fault injection (-fault.h)
 *
 * and dm-persistent-data beneath them all.
 */
#ifndef DM_DEDUP_H
#define DM_DEDUP_H

#include <linux/types.h>
#include "dm-dedup-format.h"

#define DM_MSG_PREFIX "dedup"

/*
 * Values of a logical block, in memory: a PBN, or one of these two (which
 * are not valid PBNs: data devices have fewer than 2^63 blocks).
 */
#define DEDUP_ZERO_PBN	(~0ULL)		/* last written with zeroes */
#define DEDUP_UNMAPPED	(~0ULL - 1)	/* discarded, or never written */

static inline bool dedup_is_pbn(u64 value)
{
	return value != DEDUP_ZERO_PBN && value != DEDUP_UNMAPPED;
}


#endif /* DM_DEDUP_H */
