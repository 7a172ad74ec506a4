// SPDX-License-Identifier: GPL-2.0
/*
 * stallprobe - the CPU stall probe of `make bench-sustained`
 * (bench/README.md): when a write completion gap is seen, was the writer
 * held up by the target, or did a vCPU (or the whole VM) not run at all?
 *
 * Usage: stallprobe PERIOD_MS THRESHOLD_MS SECONDS
 *
 * One thread per online CPU, pinned to it, SCHED_FIFO (when allowed),
 * sleeps to a fixed CLOCK_MONOTONIC schedule of PERIOD_MS.  A wake-up later
 * than THRESHOLD_MS means that CPU ran nothing else of higher or equal
 * priority and still did not get to the thread: a non-preemptible stretch
 * of kernel code on that CPU, or the vCPU not running on the host.  Both
 * CPUs late over the same interval is the VM not running.  Stops after
 * SECONDS or on SIGTERM/SIGINT.
 *
 * Output, on stdout at the end, one line per late wake-up:
 *   <cpu> <due ms> <woke ms>
 * in CLOCK_MONOTONIC ms, the clock of fio's latency log in the bench.
 * Exit status 0, or 1 when a thread cannot be started.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_LATE 4096

struct late {
	int64_t due_us;
	int64_t woke_us;
};

struct probe {
	pthread_t thread;
	int cpu;
	int n;
	struct late late[MAX_LATE];
};

static volatile sig_atomic_t stop;
static int64_t period_us, threshold_us, end_us;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *run(void *arg)
{
	struct probe *p = arg;
	struct sched_param sp = { .sched_priority = 50 };
	int64_t due = now_us() + period_us, t;
	struct timespec ts;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	/* Without the privilege it still measures, as a normal thread. */
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	while (!stop && due < end_us) {
		ts.tv_sec = due / 1000000;
		ts.tv_nsec = (due % 1000000) * 1000;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
			if (stop)
				return NULL;
		t = now_us();
		if (t - due > threshold_us && p->n < MAX_LATE) {
			p->late[p->n].due_us = due;
			p->late[p->n].woke_us = t;
			p->n++;
		}
		due += period_us;
		if (due < t)
			due = t + period_us;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct probe *probes;
	int i, j;

	if (argc != 4 || atoi(argv[1]) <= 0 || atoi(argv[2]) <= 0 ||
	    atoi(argv[3]) <= 0) {
		fprintf(stderr, "usage: stallprobe PERIOD_MS THRESHOLD_MS SECONDS\n");
		return 2;
	}
	period_us = atoll(argv[1]) * 1000;
	threshold_us = atoll(argv[2]) * 1000;
	end_us = now_us() + atoll(argv[3]) * 1000000;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (ncpu < 1)
		ncpu = 1;
	probes = calloc(ncpu, sizeof(*probes));
	if (!probes) {
		perror("stallprobe");
		return 1;
	}
	for (i = 0; i < ncpu; i++) {
		probes[i].cpu = i;
		if (pthread_create(&probes[i].thread, NULL, run, &probes[i])) {
			fprintf(stderr, "stallprobe: cannot start thread %d\n", i);
			return 1;
		}
	}
	for (i = 0; i < ncpu; i++)
		pthread_join(probes[i].thread, NULL);
	for (i = 0; i < ncpu; i++)
		for (j = 0; j < probes[i].n; j++)
			printf("%d %.3f %.3f\n", i, probes[i].late[j].due_us / 1000.0,
			       probes[i].late[j].woke_us / 1000.0);
	return 0;
}
