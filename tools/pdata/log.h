/* SPDX-License-Identifier: GPL-2.0 */
/*
 * log.h - the report lines of the tools:
 *
 *   error: block B (WHAT): message        a problem in metadata block B
 *   error: WHERE: message                 a problem elsewhere
 *   warning: ...                          the same, not counted as errors
 *   note: ... / plain lines               information
 *
 * Errors and warnings are counted; --max-messages limits the lines
 * printed, not the counting.
 */
#ifndef PDATA_LOG_H
#define PDATA_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct pd_log {
	bool quiet;		/* print nothing at all */
	FILE *out;		/* report lines; stdout by default */
	uint64_t errors;
	uint64_t warnings;
	uint64_t max_lines;	/* 0: unlimited */
	uint64_t printed;
	uint64_t suppressed;
	bool progress;		/* progress line on stderr */
	bool progress_shown;
};

extern struct pd_log pd_log;

void pd_error(uint64_t block, const char *what, const char *fmt, ...)
	__printf(3, 4);
void pd_warning(uint64_t block, const char *what, const char *fmt, ...)
	__printf(3, 4);
void pd_error_at(const char *where, const char *fmt, ...) __printf(2, 3);
void pd_warning_at(const char *where, const char *fmt, ...) __printf(2, 3);
/* plain report line, not counted */
void pd_info(const char *fmt, ...) __printf(1, 2);
/* rate-limited progress line on stderr, when pd_log.progress is set */
void pd_progress(const char *phase, uint64_t done, uint64_t total);
void pd_progress_done(void);
/* "prog: out of memory" on stderr and exit status 2 */
void __noreturn pd_oom(void);
void *pd_malloc(size_t size);
void *pd_calloc(size_t n, size_t size);
void *pd_realloc(void *p, size_t size);
/* Grows *p (of *cap elements of size) to hold at least n; exits if no memory. */
void pd_grow(void **p, size_t *cap, size_t n, size_t size);

extern const char *pd_prog;

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#endif /* PDATA_LOG_H */
