/* SPDX-License-Identifier: GPL-2.0 */
/* Host unit tests: only what the headers of dm-dedup-alloc.c and dm-dedup-index.c name. */
#ifndef UNIT_DM_BTREE_H
#define UNIT_DM_BTREE_H
#include "dm-block-manager.h"

struct dm_transaction_manager;

/* Embedded in struct dedup_array; never used by the tested files. */
struct dm_btree_info {
	struct dm_transaction_manager *tm;
	unsigned int levels;
};

#endif
