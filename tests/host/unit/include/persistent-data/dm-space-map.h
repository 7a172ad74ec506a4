/* SPDX-License-Identifier: GPL-2.0 */
/* Host unit tests: only what include/dm-dedup-meta-internal.h names. */
#ifndef UNIT_DM_SPACE_MAP_H
#define UNIT_DM_SPACE_MAP_H
#include "dm-block-manager.h"

struct dm_space_map;

#endif
