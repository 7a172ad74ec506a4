// SPDX-License-Identifier: GPL-2.0
/*
 * log.c - report lines, progress and allocation failure of the tools.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/time.h>

#include "pdata/log.h"

struct pd_log pd_log;
const char *pd_prog = "dedup";

static bool line_allowed(void)
{
	if (pd_log.quiet)
		return false;
	if (pd_log.max_lines && pd_log.printed >= pd_log.max_lines) {
		pd_log.suppressed++;
		return false;
	}
	pd_log.printed++;
	return true;
}

static FILE *out(void)
{
	return pd_log.out ? pd_log.out : stdout;
}

static void clear_progress(void)
{
	if (pd_log.progress_shown) {
		fputs("\r\033[K", stderr);
		pd_log.progress_shown = false;
	}
}

static void vline(const char *level, const char *where, uint64_t block,
		  const char *what, const char *fmt, va_list ap)
{
	FILE *f = out();

	if (!line_allowed())
		return;
	clear_progress();
	if (where)
		fprintf(f, "%s: %s: ", level, where);
	else
		fprintf(f, "%s: block %llu (%s): ", level,
			(unsigned long long)block, what);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
}

void pd_error(uint64_t block, const char *what, const char *fmt, ...)
{
	va_list ap;

	pd_log.errors++;
	va_start(ap, fmt);
	vline("error", NULL, block, what, fmt, ap);
	va_end(ap);
}

void pd_warning(uint64_t block, const char *what, const char *fmt, ...)
{
	va_list ap;

	pd_log.warnings++;
	va_start(ap, fmt);
	vline("warning", NULL, block, what, fmt, ap);
	va_end(ap);
}

void pd_error_at(const char *where, const char *fmt, ...)
{
	va_list ap;

	pd_log.errors++;
	va_start(ap, fmt);
	vline("error", where, 0, NULL, fmt, ap);
	va_end(ap);
}

void pd_warning_at(const char *where, const char *fmt, ...)
{
	va_list ap;

	pd_log.warnings++;
	va_start(ap, fmt);
	vline("warning", where, 0, NULL, fmt, ap);
	va_end(ap);
}

void pd_info(const char *fmt, ...)
{
	va_list ap;

	if (pd_log.quiet)
		return;
	clear_progress();
	va_start(ap, fmt);
	vfprintf(out(), fmt, ap);
	va_end(ap);
	fputc('\n', out());
}

void pd_progress(const char *phase, uint64_t done, uint64_t total)
{
	static struct timeval last;
	struct timeval now;

	if (!pd_log.progress || pd_log.quiet)
		return;
	gettimeofday(&now, NULL);
	if ((now.tv_sec - last.tv_sec) * 1000000 +
	    (now.tv_usec - last.tv_usec) < 200000)
		return;
	last = now;
	fflush(out());
	if (total)
		fprintf(stderr, "\r\033[K%s: %llu/%llu (%llu%%)", phase,
			(unsigned long long)done, (unsigned long long)total,
			(unsigned long long)(done * 100 / total));
	else
		fprintf(stderr, "\r\033[K%s: %llu", phase,
			(unsigned long long)done);
	pd_log.progress_shown = true;
}

void pd_progress_done(void)
{
	clear_progress();
}

void pd_oom(void)
{
	fprintf(stderr, "%s: out of memory\n", pd_prog);
	exit(2);
}

void *pd_malloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		pd_oom();
	return p;
}

void *pd_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		pd_oom();
	return p;
}

void *pd_realloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		pd_oom();
	return p;
}

void pd_grow(void **p, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap : 256;

	if (n <= *cap)
		return;
	while (c < n)
		c *= 2;
	*p = pd_realloc(*p, c * size);
	*cap = c;
}
