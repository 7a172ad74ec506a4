/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-alloc.h - the data block allocator (dm-dedup-alloc.c), for the
 * metadata (dm-dedup-meta.c), which gives it a way to read the published
 * refcount array.
 */
#ifndef DM_DEDUP_ALLOC_H
#define DM_DEDUP_ALLOC_H

#include <linux/types.h>

struct dedup_alloc;

/*
 * Free blocks are found in the published refcount array, one chunk at a
 * time: read reads its block rc_block (zero if absent) into buf
 * (DEDUP_ARRAY_PAYLOAD bytes), and may sleep.
 */
typedef int (*dedup_alloc_read_fn)(void *context, u64 rc_block, void *buf);

struct dedup_alloc *dedup_alloc_create(u64 nr_blocks, u64 cursor,
				       dedup_alloc_read_fn read, void *context);
void dedup_alloc_destroy(struct dedup_alloc *al);
/* Sets chunk c's in-use count (from the summary array, at open). */
void dedup_alloc_set_used(struct dedup_alloc *al, u64 chunk, u32 used);
/*
 * get: a free block; -ENOSPC, -EAGAIN (free blocks wait for their
 * release), -EILSEQ (a chunk's count disagrees with its reference counts)
 * or an I/O error.  dying: a committed block whose count reached zero in
 * a commit about to be published; from then until its put (release) its
 * chunk is not loaded.  put: a block's release (was_committed) or return.
 */
int dedup_alloc_get(struct dedup_alloc *al, u64 *pbn);
void dedup_alloc_dying(struct dedup_alloc *al, u64 pbn);
void dedup_alloc_put(struct dedup_alloc *al, u64 pbn, bool was_committed);
/* A handed-out block is now in the published refcount array. */
void dedup_alloc_published(struct dedup_alloc *al, u64 pbn);
int dedup_alloc_resize(struct dedup_alloc *al, u64 nr_blocks);
u64 dedup_alloc_free(struct dedup_alloc *al);
u64 dedup_alloc_cursor(struct dedup_alloc *al);
u64 dedup_alloc_ram(struct dedup_alloc *al);

#endif /* DM_DEDUP_ALLOC_H */
