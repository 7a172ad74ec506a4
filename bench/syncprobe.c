// SPDX-License-Identifier: GPL-2.0
/*
 * syncprobe - the FLUSH latency probe of `make bench-sustained`
 * (bench/README.md): what an fsync on a filesystem above the device waits for.
 *
 * Usage: syncprobe DEV OFFSET_BYTES SPAN_BLOCKS PERIOD_MS SECONDS
 *
 * Every PERIOD_MS (on a fixed CLOCK_MONOTONIC schedule) writes one 4 KiB
 * block of unique data with O_DIRECT at OFFSET_BYTES + (i % SPAN_BLOCKS) *
 * 4096, then calls fdatasync() (on a block device: an empty REQ_PREFLUSH
 * bio). A tick that falls while a probe is still running is skipped, never
 * queued: a slow flush delays the next probe, it does not pile them up.
 * Stops after SECONDS or on SIGTERM/SIGINT.
 *
 * Output, one line per probe on stdout:
 *   <start ms> <write us> <fdatasync us>
 * start ms is CLOCK_MONOTONIC, the clock of fio's latency log in the bench
 * (log_alternate_epoch_clock_id=1). Exit status 0, or 1 on an I/O error
 * (reported on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Unique contents: a seeded xorshift stream, the probe number and the time. */
static void fill(uint64_t *buf, uint64_t seq, int64_t t)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ (seq * 0xbf58476d1ce4e5b9ULL) ^ (uint64_t)t;
	size_t i;

	for (i = 0; i < BLOCK / sizeof(*buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = x;
	}
	buf[0] = seq;
	buf[1] = (uint64_t)t;
}

int main(int argc, char **argv)
{
	long long offset, span, period_ms, seconds;
	int64_t t0, next, end, a, b, c;
	uint64_t seq = 0;
	struct sigaction sa;
	void *buf;
	int fd;

	if (argc != 6) {
		fprintf(stderr, "usage: %s DEV OFFSET_BYTES SPAN_BLOCKS PERIOD_MS SECONDS\n", argv[0]);
		return 2;
	}
	offset = atoll(argv[2]);
	span = atoll(argv[3]);
	period_ms = atoll(argv[4]);
	seconds = atoll(argv[5]);
	if (offset < 0 || offset % BLOCK || span < 1 || period_ms < 1 || seconds < 1) {
		fprintf(stderr, "syncprobe: bad arguments\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "syncprobe: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (posix_memalign(&buf, BLOCK, BLOCK)) {
		fprintf(stderr, "syncprobe: out of memory\n");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	t0 = now_ns();
	end = t0 + seconds * 1000000000LL;
	next = t0;
	while (!stop) {
		struct timespec ts = { next / 1000000000, next % 1000000000 };

		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			continue;
		if (stop || now_ns() >= end)
			break;
		a = now_ns();
		fill(buf, seq, a);
		if (pwrite(fd, buf, BLOCK, offset + (long long)(seq % span) * BLOCK) != BLOCK) {
			fprintf(stderr, "syncprobe: write: %s\n", strerror(errno));
			return 1;
		}
		b = now_ns();
		if (fdatasync(fd)) {
			fprintf(stderr, "syncprobe: fdatasync: %s\n", strerror(errno));
			return 1;
		}
		c = now_ns();
		printf("%.3f %lld %lld\n", a / 1e6, (long long)(b - a) / 1000, (long long)(c - b) / 1000);
		seq++;
		next += period_ms * 1000000LL;
		while (next < c)	/* skip the ticks a slow probe missed */
			next += period_ms * 1000000LL;
	}
	close(fd);
	return 0;
}
