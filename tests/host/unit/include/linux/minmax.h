/* SPDX-License-Identifier: GPL-2.0 */
/* Host unit tests (tests/host/unit.sh): see unit-kernel.h. */
#include "unit-kernel.h"
