/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dmsetup.h - running dmsetup and other commands (dmsetup.c) for
 * dedup_setup, its monitor and dedup_stats.
 */
#ifndef DEDUP_DMSETUP_H
#define DEDUP_DMSETUP_H

#include <stddef.h>
#include <sys/types.h>

/* Where a child's standard error goes (dd_spawn, dd_dmsetup). */
enum dd_stderr {
	DD_ERR_SHOW,	/* ours */
	DD_ERR_QUIET,	/* /dev/null */
	DD_ERR_MERGE,	/* with its standard output, when that is captured */
};

/*
 * Starts argv[0] (found on PATH) with argv, its standard output on a pipe
 * whose reading end goes to *out if out is set, its standard error where
 * err says, and no signal blocked: its pid, or -1.
 */
pid_t dd_spawn(const char *const *argv, int *out, enum dd_stderr err);
/* Waits for pid: its exit status, or -1 if it was killed. */
int dd_reap(pid_t pid);
/*
 * Runs "dmsetup ARGS..." (up to a NULL): its exit status, or -1 if it
 * could not be run (*out then unset).  *out, if out is set, gets its
 * standard output (malloc'ed, NUL-terminated); err says where its standard
 * error goes.
 */
int dd_dmsetup(char **out, enum dd_stderr err, ...);
/* Splits text (changed) at blanks up to its first newline. */
size_t dd_words(char *text, char **w, size_t max);

#endif /* DEDUP_DMSETUP_H */
