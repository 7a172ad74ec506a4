// SPDX-License-Identifier: GPL-2.0
/*
 * monitor.c - "dedup_setup monitor", the dmeventd of dm-dedup: watches
 * active dedup devices and logs, with sd-daemon priority prefixes for the
 * journal, their mode changes, needs_check, the metadata low-water event
 * and data or metadata use at or above a threshold; optionally runs a
 * grow command, then reloads the device, at most once per interval.
 *
 * Each device has a "dmsetup wait NAME EVENT" child, so that the dm
 * events the target raises (a mode change, the low-water mark) are seen
 * at once; every --interval seconds all devices are read anyway, since
 * use creeping past a threshold raises no event, and the device list is
 * refreshed.  The event counter only grows, so no event is lost between
 * two waits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dedup/dedup.h"
#include "dedup/dmsetup.h"
#include "dedup/setup.h"
#include "pdata/log.h"

#define DEFAULT_WARN		80
#define DEFAULT_INTERVAL	10.0
#define DEFAULT_GROW_INTERVAL	300.0
/* another warning at each such step above the threshold */
#define WARN_STEP		5
#define GROW_DIR		"/etc/dedup/grow.d"

/* sd-daemon(3) priorities */
#define LOG_ERR		3
#define LOG_WARN	4
#define LOG_INFO	6

enum { DATA, META, NR_KINDS };

static const char * const kind_name[NR_KINDS] = { "data", "metadata" };

struct mon_opts {
	double interval, grow_interval;
	unsigned int warn[NR_KINDS];
	const char *grow_command;
	int (*grow)(const char *name);
};

struct mon_dev {
	char name[DD_TAB_NAME_MAX + 1];
	unsigned int warn[NR_KINDS];	/* deduptab's; 0: the options' */
	bool named;		/* on the command line: kept when inactive */
	bool active;		/* at the last look */
	bool gone;		/* to be dropped */
	char mode[32];
	bool needs_check;
	unsigned long event;
	double pct[NR_KINDS];
	unsigned int level[NR_KINDS];	/* 0 below, 1 at the threshold, ... */
	double last_grow[NR_KINDS];	/* monotonic; < 0 never */
	pid_t waiter;		/* its dmsetup wait, or 0 */
	int fd;
	bool hold;		/* it failed: none until the next interval */
	/*
	 * When a mode change was seen before its event was counted: the
	 * next event is that one, if it comes within OWED_SECONDS.
	 */
	double owed;
};

/* the target raises the event of a mode change from a work item */
#define OWED_SECONDS	2.0

struct monitor {
	struct mon_opts o;
	struct mon_dev *dev;
	size_t nr, cap;
	bool listing;		/* all dedup devices, not the named ones */
	struct dd_tab_entry *tab;
	size_t nr_tab, cap_tab;
};

/*
 * Set by the handler of SIGTERM, SIGINT and SIGHUP, which are blocked but
 * in ppoll(): read only after it returns, so it needs no volatile.
 */
static sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = sig;
}

static void mlog(int prio, const char *name, const char *fmt, ...)
	__printf(3, 4);
static void mlog(int prio, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("<%d>%s: ", prio, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* the devices */

static int keep_entry(const struct dd_tab_entry *e, void *ctx)
{
	struct monitor *m = ctx;

	pd_grow((void **)&m->tab, &m->cap_tab, m->nr_tab + 1,
		sizeof(*m->tab));
	m->tab[m->nr_tab++] = *e;
	return 0;
}

static struct mon_dev *find(struct monitor *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nr; i++)
		if (!strcmp(m->dev[i].name, name))
			return &m->dev[i];
	return NULL;
}

static struct mon_dev *add(struct monitor *m, const char *name)
{
	struct mon_dev *d = find(m, name);
	size_t i;

	if (d)
		return d;
	pd_grow((void **)&m->dev, &m->cap, m->nr + 1, sizeof(*m->dev));
	d = &m->dev[m->nr++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->last_grow[DATA] = -1;
	d->last_grow[META] = -1;
	d->fd = -1;
	for (i = 0; i < m->nr_tab; i++) {
		if (strcmp(m->tab[i].name, name))
			continue;
		d->warn[DATA] = m->tab[i].warn_data;
		d->warn[META] = m->tab[i].warn_metadata;
	}
	return d;
}

/* Adds the dedup devices "dmsetup ls" lists. */
static void list_devices(struct monitor *m)
{
	char *out = NULL, *line, *save = NULL;

	if (dd_dmsetup(&out, DD_ERR_QUIET, "ls", "--target", "dedup", NULL) || !out) {
		free(out);
		return;
	}
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\t")] = '\0';
		if (strcmp(line, "No devices found") && strlen(line) <=
		    DD_TAB_NAME_MAX)
			add(m, line);
	}
	free(out);
}

static void stop_waiter(struct mon_dev *d)
{
	if (!d->waiter)
		return;
	kill(d->waiter, SIGTERM);
	close(d->fd);
	dd_reap(d->waiter);
	d->waiter = 0;
	d->fd = -1;
}

static void start_waiter(struct mon_dev *d)
{
	const char *argv[5] = { "dmsetup", "wait" };
	char ev[32];

	snprintf(ev, sizeof(ev), "%lu", d->event);
	argv[2] = d->name;
	argv[3] = ev;
	d->waiter = dd_spawn(argv, &d->fd, DD_ERR_QUIET);
	if (d->waiter < 0) {
		mlog(LOG_ERR, d->name, "cannot run dmsetup wait");
		d->waiter = 0;
	}
}

/* ------------------------------------------------------------------ */
/* reading a device */

struct reading {
	unsigned long event;
	char mode[32];
	bool needs_check;
	double pct[NR_KINDS];
};

static int event_nr(const char *name, unsigned long *ev)
{
	char *out = NULL, *end;
	int r = dd_dmsetup(&out, DD_ERR_QUIET, "info", "-c", "--noheadings", "-o",
			   "events", name, NULL);

	if (!r && out) {
		*ev = strtoul(out, &end, 10);
		r = end == out || (*end && *end != '\n' && *end != ' ');
	}
	free(out);
	return r ? -1 : 0;
}

static double percent(const char *pair)
{
	unsigned long long used, total;

	if (sscanf(pair, "%llu/%llu", &used, &total) != 2 || !total)
		return 0;
	return 100.0 * used / total;
}

/* 0 read, 1 not active, -1 unreadable (reported) */
static int read_device(struct mon_dev *d, struct reading *r)
{
	char *out = NULL, *w[32];
	int ret = 1;

	if (event_nr(d->name, &r->event))
		return 1;
	if (dd_dmsetup(&out, DD_ERR_QUIET, "status", d->name, NULL) || !out)
		goto out;
	ret = -1;
	if (dd_words(out, w, ARRAY_SIZE(w)) < 8 || strcmp(w[2], "dedup")) {
		if (!d->gone)
			mlog(LOG_ERR, d->name, "not a dm-dedup status line");
		goto out;
	}
	snprintf(r->mode, sizeof(r->mode), "%s", w[3]);
	r->needs_check = strcmp(w[4], "-") != 0;
	r->pct[DATA] = percent(w[6]);
	r->pct[META] = percent(w[7]);
	ret = 0;
out:
	free(out);
	return ret;
}

/* ------------------------------------------------------------------ */
/* growing */

/* cmd with %n as the name quoted for the shell, %% as % */
static char *expand(const char *cmd, const char *name)
{
	size_t len = 0, cap = 0;
	const char *p;
	char *s = NULL;

	for (; *cmd; cmd++) {
		pd_grow((void **)&s, &cap, len + 4 * strlen(name) + 4, 1);
		if (cmd[0] == '%' && cmd[1] == 'n') {
			s[len++] = '\'';
			for (p = name; *p; p++) {
				if (*p == '\'') {
					memcpy(s + len, "'\\''", 4);
					len += 4;
				} else {
					s[len++] = *p;
				}
			}
			s[len++] = '\'';
			cmd++;
		} else {
			s[len++] = *cmd;
			if (cmd[0] == '%' && cmd[1] == '%')
				cmd++;
		}
	}
	pd_grow((void **)&s, &cap, len + 1, 1);
	s[len] = '\0';
	return s;
}

/*
 * The grow command for d: GROW_DIR/NAME if it is an executable file, run
 * as "NAME data|metadata", else --grow-command through the shell.  Then,
 * if it succeeded, a reload.
 */
static void try_growing(struct monitor *m, struct mon_dev *d, int kind)
{
	const char *dir = getenv("DEDUP_GROW_DIR"), *argv[5];
	char path[PATH_MAX], *cmd = NULL;
	struct stat st;
	int r;

	if (d->last_grow[kind] >= 0 &&
	    now() - d->last_grow[kind] < m->o.grow_interval)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : GROW_DIR,
		 d->name);
	if (!stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK)) {
		argv[0] = path;
		argv[1] = d->name;
		argv[2] = kind_name[kind];
		argv[3] = NULL;
	} else if (m->o.grow_command) {
		cmd = expand(m->o.grow_command, d->name);
		argv[0] = "sh";
		argv[1] = "-c";
		argv[2] = cmd;
		argv[3] = NULL;
	} else {
		return;
	}
	d->last_grow[kind] = now();
	setenv("DEDUP_NAME", d->name, 1);
	setenv("DEDUP_GROW", kind_name[kind], 1);
	mlog(LOG_INFO, d->name, "%s: running %s", kind_name[kind],
	     cmd ? cmd : path);
	fflush(stdout);
	r = dd_spawn(argv, NULL, DD_ERR_SHOW);
	r = r < 0 ? -1 : dd_reap(r);
	free(cmd);
	if (r) {
		if (r < 0)
			mlog(LOG_ERR, d->name, "the grow command was killed or could not be run: not reloading");
		else
			mlog(LOG_ERR, d->name, "the grow command failed (exit status %d): not reloading",
			     r);
		return;
	}
	if (m->o.grow(d->name)) {
		mlog(LOG_ERR, d->name, "dedup_setup grow failed");
		return;
	}
	fflush(stdout);
	mlog(LOG_INFO, d->name, "reloaded after the grow command");
	/* our own reload's events are not news */
	event_nr(d->name, &d->event);
}

/* ------------------------------------------------------------------ */
/* what changed */

static const char *mode_why(const char *mode)
{
	if (!strcmp(mode, "out_of_data_space"))
		return ": the data device is full, unique writes fail (grow it, then dedup_setup grow)";
	if (!strcmp(mode, "out_of_metadata_space"))
		return ": the metadata device is full, writes fail (grow it, then dedup_setup grow)";
	if (!strcmp(mode, "ro"))
		return ": read-only after an error (see the kernel log)";
	if (!strcmp(mode, "fail"))
		return ": the metadata cannot be used, all I/O fails (see the kernel log)";
	return "";
}

static unsigned int level(double pct, unsigned int warn)
{
	return pct < warn ? 0 : 1 + (unsigned int)((pct - warn) / WARN_STEP);
}

static void check(struct monitor *m, struct mon_dev *d)
{
	struct reading r;
	unsigned int k, lv, warn;
	bool first = !d->active, low_water, changed;
	unsigned long extra;
	int got = read_device(d, &r);

	if (got) {
		if (got > 0 && (d->active || (d->named && !d->gone)))
			mlog(LOG_INFO, d->name, "%s",
			     d->active ? "no longer active" : "not active");
		d->active = false;
		d->gone = true;
		d->level[DATA] = 0;
		d->level[META] = 0;
		stop_waiter(d);
		return;
	}
	d->gone = false;
	d->active = true;
	for (k = 0; k < NR_KINDS; k++) {
		d->pct[k] = r.pct[k];
		if (!d->warn[k])
			d->warn[k] = m->o.warn[k];
	}
	if (first) {
		mlog(LOG_INFO, d->name, "monitoring: mode %s%s, data %.1f %% used, metadata %.1f %% used (warnings at %u %% and %u %%), event %lu",
		     r.mode, r.needs_check ? ", needs_check" : "",
		     r.pct[DATA], r.pct[META], d->warn[DATA], d->warn[META],
		     r.event);
		if (strcmp(r.mode, "rw"))
			mlog(LOG_ERR, d->name, "mode %s%s", r.mode,
			     mode_why(r.mode));
	} else if (strcmp(r.mode, d->mode)) {
		mlog(strcmp(r.mode, "rw") ? LOG_ERR : LOG_INFO, d->name,
		     "mode %s (was %s)%s", r.mode, d->mode,
		     strcmp(r.mode, "rw") ? mode_why(r.mode) : " again");
	}
	if (r.needs_check && (first || !d->needs_check))
		mlog(LOG_ERR, d->name, "needs_check: remove the device and run dedup_check on its metadata device");
	/*
	 * The target's events are mode changes and the low-water mark; the
	 * event of a mode change is counted just after the mode is shown.
	 * Of the events since the last look, a change seen earlier takes
	 * the one it owed (if it came soon enough), a change seen now takes
	 * one (or owes it, if none is counted yet); any other is the
	 * low-water mark, also when it came together with a change.
	 */
	changed = !first && (strcmp(r.mode, d->mode) ||
			     r.needs_check != d->needs_check);
	extra = first || r.event < d->event ? 0 : r.event - d->event;
	if (extra && d->owed) {
		if (now() - d->owed < OWED_SECONDS)
			extra--;
		d->owed = 0;
	}
	if (changed) {
		if (extra)
			extra--;
		else
			d->owed = now();
	}
	low_water = extra > 0;
	if (low_water)
		mlog(LOG_WARN, d->name, "dm event %lu: metadata low-water mark reached, metadata %.1f %% used: grow the metadata device",
		     r.event, r.pct[META]);
	snprintf(d->mode, sizeof(d->mode), "%s", r.mode);
	d->needs_check = r.needs_check;
	d->event = r.event;

	for (k = 0; k < NR_KINDS; k++) {
		warn = d->warn[k];
		lv = level(r.pct[k], warn);
		if (lv > d->level[k])
			mlog(LOG_WARN, d->name, "%s %.1f %% used (warning at %u %%)",
			     kind_name[k], r.pct[k], warn);
		else if (!lv && d->level[k])
			mlog(LOG_INFO, d->name, "%s %.1f %% used, below %u %% again",
			     kind_name[k], r.pct[k], warn);
		d->level[k] = lv;
	}
	if (d->level[DATA] || !strcmp(r.mode, "out_of_data_space"))
		try_growing(m, d, DATA);
	if (d->level[META] || low_water ||
	    !strcmp(r.mode, "out_of_metadata_space"))
		try_growing(m, d, META);
}

/* ------------------------------------------------------------------ */
/* the loop */

/* Checks every device, drops the ones gone, starts missing waiters. */
static void check_all(struct monitor *m)
{
	size_t i, o = 0;

	if (m->listing)
		list_devices(m);
	for (i = 0; i < m->nr; i++) {
		m->dev[i].hold = false;
		check(m, &m->dev[i]);
	}
	for (i = 0; i < m->nr; i++)
		if (m->dev[i].active || m->dev[i].named)
			m->dev[o++] = m->dev[i];
	m->nr = o;
}

/* A waiter ended: an event (or the device went). */
static void waited(struct monitor *m, struct mon_dev *d)
{
	char buf[512];

	if (read(d->fd, buf, sizeof(buf)) > 0)
		return;
	close(d->fd);
	d->hold = dd_reap(d->waiter) != 0;
	d->waiter = 0;
	d->fd = -1;
	check(m, d);
}

static void run(struct monitor *m)
{
	struct pollfd *pfd = NULL;
	struct mon_dev **who = NULL;
	size_t cap = 0, cap2 = 0, n, i;
	double next = now();
	struct timespec ts;
	sigset_t none;
	int r;

	sigemptyset(&none);
	while (!stopping) {
		if (now() >= next) {
			check_all(m);
			next = now() + m->o.interval;
		}
		for (i = 0; i < m->nr; i++)
			if (m->dev[i].active && !m->dev[i].waiter &&
			    !m->dev[i].hold)
				start_waiter(&m->dev[i]);
		pd_grow((void **)&pfd, &cap, m->nr + 1, sizeof(*pfd));
		pd_grow((void **)&who, &cap2, m->nr + 1, sizeof(*who));
		for (i = n = 0; i < m->nr; i++) {
			if (!m->dev[i].waiter)
				continue;
			pfd[n].fd = m->dev[i].fd;
			pfd[n].events = POLLIN;
			who[n++] = &m->dev[i];
		}
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
		if (next > now()) {
			double left = next - now();

			ts.tv_sec = (time_t)left;
			ts.tv_nsec = (long)((left - ts.tv_sec) * 1e9);
		}
		r = ppoll(pfd, n, &ts, &none);
		if (r < 0 && errno != EINTR) {
			mlog(LOG_ERR, "dedup monitor", "poll: %s",
			     strerror(errno));
			break;
		}
		for (i = 0; r > 0 && i < n; i++)
			if (pfd[i].revents)
				waited(m, who[i]);
	}
	free(pfd);
	free(who);
}

/* ------------------------------------------------------------------ */

static bool seconds(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return !errno && end != s && !*end && *v > 0 && *v <= 86400;
}

static bool pct(const char *s, unsigned int *v)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] < '0' || s[0] > '9' || !x ||
	    x > 100)
		return false;
	*v = x;
	return true;
}

/*
 * The options, "--name value" or "--name=value", up to "--" or the first
 * word that is not one: the index of the first name, or -1 reported.
 */
static int parse_options(struct mon_opts *o, int argc, char **argv)
{
	const struct {
		const char *name;
		double *secs;
		unsigned int *pct;
		const char **str;
	} opt[] = {
		{ .name = "interval", .secs = &o->interval },
		{ .name = "grow-interval", .secs = &o->grow_interval },
		{ .name = "warn-data", .pct = &o->warn[DATA] },
		{ .name = "warn-metadata", .pct = &o->warn[META] },
		{ .name = "grow-command", .str = &o->grow_command },
	};
	const char *v;
	size_t k, n;
	int i;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!argv[i][2])
			return i + 1;
		for (k = 0; k < ARRAY_SIZE(opt); k++) {
			n = strlen(opt[k].name);
			if (!strncmp(argv[i] + 2, opt[k].name, n) &&
			    (!argv[i][n + 2] || argv[i][n + 2] == '='))
				break;
		}
		if (k == ARRAY_SIZE(opt)) {
			fprintf(stderr, "%s: monitor: unknown option %s\n",
				pd_prog, argv[i]);
			return -1;
		}
		v = argv[i][n + 2] ? argv[i] + n + 3 : argv[++i];
		if (!v) {
			fprintf(stderr, "%s: monitor: --%s needs a value\n",
				pd_prog, opt[k].name);
			return -1;
		}
		if (opt[k].str) {
			*opt[k].str = v;
		} else if (opt[k].secs ? !seconds(v, opt[k].secs) :
			   !pct(v, opt[k].pct)) {
			fprintf(stderr, "%s: monitor: bad value \"%s\" (seconds up to 86400; percentages 1 to 100)\n",
				pd_prog, v);
			return -1;
		}
	}
	return i;
}

int dd_monitor(int argc, char **argv, const char *tab,
	       int (*grow_fn)(const char *name))
{
	struct monitor m = {
		.o = {
			.interval = DEFAULT_INTERVAL,
			.grow_interval = DEFAULT_GROW_INTERVAL,
			.warn = { DEFAULT_WARN, DEFAULT_WARN },
			.grow = grow_fn,
		},
	};
	struct sigaction sa = { .sa_handler = on_signal };
	int first = parse_options(&m.o, argc, argv);
	unsigned int bad = 0;
	sigset_t block;
	size_t i;

	if (first < 0)
		return 1;
	if (!access(tab, F_OK) && dd_tab_read(tab, &bad, keep_entry, &m) < 0)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = first; i < (size_t)argc; i++)
		add(&m, argv[i])->named = true;
	m.listing = first == argc;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	mlog(LOG_INFO, "dedup monitor", "started: %s, every %g s, grow command %s",
	     m.listing ? "every active dedup device" : "the devices named",
	     m.o.interval, m.o.grow_command ? m.o.grow_command :
	     "none (but " GROW_DIR "/NAME)");
	run(&m);
	for (i = 0; i < m.nr; i++)
		stop_waiter(&m.dev[i]);
	mlog(LOG_INFO, "dedup monitor", "stopped");
	free(m.dev);
	free(m.tab);
	return 0;
}
