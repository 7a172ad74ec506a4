// SPDX-License-Identifier: GPL-2.0
/*
 * dmsetup.c - running dmsetup for dedup_setup, its monitor and dedup_stats:
 * a command to completion with its output (and its errors, merged, for
 * dedup_stats's messages), or started in the background (dmsetup wait)
 * with its output on a pipe; and splitting an output line into words.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dedup/dedup.h"
#include "dedup/dmsetup.h"
#include "pdata/log.h"

pid_t dd_spawn(const char *const *argv, int *out, enum dd_stderr err)
{
	int fd[2] = { -1, -1 };
	sigset_t none;
	pid_t pid;

	if (out && pipe(fd))
		return -1;
	pid = fork();
	if (pid < 0) {
		if (out) {
			close(fd[0]);
			close(fd[1]);
		}
		return -1;
	}
	if (!pid) {
		/* the monitor blocks the signals it waits for */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (out) {
			dup2(fd[1], 1);
			if (err == DD_ERR_MERGE)
				dup2(fd[1], 2);
			close(fd[0]);
			close(fd[1]);
		}
		if (err == DD_ERR_QUIET)
			dup2(open("/dev/null", O_WRONLY), 2);
		execvp(argv[0], (char **)argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", pd_prog, argv[0],
			strerror(errno));
		_exit(127);
	}
	if (out) {
		close(fd[1]);
		*out = fd[0];
	}
	return pid;
}

int dd_reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int dd_dmsetup(char **out, enum dd_stderr err, ...)
{
	const char *argv[16] = { "dmsetup" };
	size_t n = 1, len = 0, cap = 0;
	char *buf = NULL;
	ssize_t got;
	va_list ap;
	pid_t pid;
	int fd;

	va_start(ap, err);
	while (n < ARRAY_SIZE(argv) - 1 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	pid = dd_spawn(argv, out ? &fd : NULL, err);
	if (pid < 0)
		return -1;
	if (out) {
		do {
			pd_grow((void **)&buf, &cap, len + 4097, 1);
			got = read(fd, buf + len, 4096);
			if (got > 0)
				len += got;
		} while (got > 0 || (got < 0 && errno == EINTR));
		close(fd);
		buf[len] = '\0';
		*out = buf;
	}
	return dd_reap(pid);
}

size_t dd_words(char *text, char **w, size_t max)
{
	char *save = NULL, *p;
	size_t n = 0;

	text[strcspn(text, "\n")] = '\0';
	for (p = strtok_r(text, " \t", &save); p && n < max;
	     p = strtok_r(NULL, " \t", &save))
		w[n++] = p;
	return n;
}
