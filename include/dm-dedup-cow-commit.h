/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-cow-commit.h - the copy-on-write commit pipeline
 * (dm-dedup-cow-commit.c and the generations beneath it, dm-dedup-gen.c),
 * for the bio path
 * (dm-dedup-io.c) and the dm face (dm-dedup-target.c).  Writers record
 * their changes in RAM generations; the committer alone writes metadata.
 */
#ifndef DM_DEDUP_COW_COMMIT_H
#define DM_DEDUP_COW_COMMIT_H

#include <linux/types.h>

#include "dm-dedup-gen.h"

/*
 * The pipeline's life (implemented in dm-dedup-cow-commit.c; the calls
 * of the I/O path and the statistics are dm-dedup-gen.c's, in
 * dm-dedup-gen.h).
 */
struct dedup_cow *dedup_cow_create(const struct dedup_cow_params *p);
/* Commits what is left (unless failed) and frees everything. */
void dedup_cow_destroy(struct dedup_cow *cow);

/* Growth at resume: see dedup_meta_resize_*(). */
int dedup_cow_grow_data(struct dedup_cow *cow, u64 data_nr_blocks);
int dedup_cow_grow_metadata(struct dedup_cow *cow, u64 nr_blocks);

/* Commits everything recorded so far and waits for it. */
int dedup_cow_commit(struct dedup_cow *cow);

/* The live table's settings (at resume, or changed by a message). */
void dedup_cow_set_features(struct dedup_cow *cow,
			    const struct dedup_features *f);

#endif /* DM_DEDUP_COW_COMMIT_H */
