/* SPDX-License-Identifier: GPL-2.0 */
/* Host unit tests: only what the headers of dm-dedup-alloc.c and dm-dedup-index.c name. */
#ifndef UNIT_DM_SPACE_MAP_H
#define UNIT_DM_SPACE_MAP_H
#include "dm-block-manager.h"

struct dm_space_map;

#endif
