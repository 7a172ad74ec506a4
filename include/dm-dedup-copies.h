/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-copies.h - the readers' copies of lbn array blocks
 * (dm-dedup-copies.c), for the arrays' lookups (dm-dedup-array.c).
 */
#ifndef DM_DEDUP_COPIES_H
#define DM_DEDUP_COPIES_H

#include <linux/types.h>

struct dedup_copies;

/* Room for at most max copies; NULL without memory. */
struct dedup_copies *dedup_copies_create(unsigned int max);
void dedup_copies_destroy(struct dedup_copies *c);

/*
 * Copies len bytes at offset off of the payload of the block at loc into
 * out: true if there is a copy of it, made with the same tag.  Takes no
 * lock (RCU).
 */
bool dedup_copies_read(struct dedup_copies *c, u64 loc, u64 tag, size_t off,
		       void *out, size_t len);
/*
 * Keeps a copy of payload, the checked payload of the block at loc in a
 * published commit, whose header says tag (its index in the array); may
 * evict another copy, or keep nothing (no memory: it never waits for
 * any).  Process context.
 */
void dedup_copies_add(struct dedup_copies *c, u64 loc, u64 tag,
		      const void *payload);
/* The block at loc was freed: its copy goes, before it can be reused. */
void dedup_copies_forget(struct dedup_copies *c, u64 loc);
void dedup_copies_forget_all(struct dedup_copies *c);

/* For stats: copies held now, and lookups they served. */
u64 dedup_copies_held(struct dedup_copies *c);
u64 dedup_copies_hits(struct dedup_copies *c);

#endif /* DM_DEDUP_COPIES_H */
