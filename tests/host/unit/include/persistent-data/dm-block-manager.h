/* SPDX-License-Identifier: GPL-2.0 */
/* Host unit tests: only what the headers of dm-dedup-alloc.c and dm-dedup-index.c name. */
#ifndef UNIT_DM_BLOCK_MANAGER_H
#define UNIT_DM_BLOCK_MANAGER_H
#include "unit-kernel.h"

typedef u64 dm_block_t;
struct dm_block;
struct dm_block_manager;

#endif
