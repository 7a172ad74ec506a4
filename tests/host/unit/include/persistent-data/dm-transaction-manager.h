/* SPDX-License-Identifier: GPL-2.0 */
/* Host unit tests: only what the headers of dm-dedup-alloc.c and dm-dedup-index.c name. */
#ifndef UNIT_DM_TRANSACTION_MANAGER_H
#define UNIT_DM_TRANSACTION_MANAGER_H
#include "dm-block-manager.h"

struct dm_transaction_manager;

#endif
