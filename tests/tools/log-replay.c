// SPDX-License-Identifier: GPL-2.0
/*
 * log-replay - read a dm-log-writes log and replay it onto a device: the
 * test tool of dm-dedup's crash-point tests (tests/44-crash-points.sh).
 *
 *   log-replay check LOG       validate the whole log, print a summary
 *   log-replay list LOG        one line per entry
 *   log-replay points LOG      one line per FLUSH/FUA point; --count: how many
 *   log-replay replay LOG DEV [--to-entry N | --to-point N | --to-mark NAME]
 *                             [--pair LOG2 DEV2] [--discard zero|skip]
 *
 * Entries and points are numbered from 1; "--to-entry N" replays entries
 * 1 to N, "--to-point N" up to and including the Nth entry that carries
 * FLUSH or FUA, "--to-mark NAME" up to the first mark called NAME.
 * Without any of them the whole log is replayed.  Every command reads and
 * checks the whole log first, so a damaged log fails before anything is
 * written.
 *
 * The log (drivers/md/dm-log-writes.c, Linux 6.1; all numbers little
 * endian).  Its unit is the "sector size" of the super, the logical block
 * size of the logged device:
 *   sector 0: the super: magic (u64, 0x6a736677736872), version (u64, 1),
 *     nr_entries (u64), sectorsize (u32);
 *   from sector 1, nr_entries entries back to back: a header sector of
 *     sector, nr_sectors, flags, data_len (u64 each), then the nr_sectors
 *     sectors the write carried.  A MARK entry holds its name (data_len
 *     bytes) in its header sector after the four numbers, and no sectors;
 *     a DISCARD entry carries no sectors; a FLUSH without data has
 *     nr_sectors 0.
 * The kernel rewrites the super after every FUA and MARK entry, and when
 * the target is removed, which also appends the mark "dm-log-writes-end".
 *
 * Entries stand in the order their writes became durable: a plain write
 * or discard just before the first FLUSH that was issued after it
 * completed, a FUA write when it completed.  So replaying entries 1..N onto
 * a copy of the device as it was when logging began gives what a power
 * cut right after entry N would leave in the worst case (every write not
 * yet flushed lost), and the FLUSH/FUA entries are where that changes.
 *
 * Two devices.  A log-writes target logs one device.  dm-dedup writes two
 * (metadata and data), and its crash consistency is about their order: a
 * commit flushes the data device before it writes the superblock that
 * points at the new data.  One log-writes target under both (dm-linear
 * halves of one device) would give one global order, but a FLUSH on
 * either half would then count as a flush of both, so a module that never
 * flushed its data device would pass.  So each device has its own log, and
 * the two logs are tied together by marks taken at one instant: the test
 * suspends both log-writes devices (no I/O moves), sends the same mark to
 * both, and resumes them.  A mark sits after everything that was durable on
 * its device at that instant and before everything else.  "--pair LOG2
 * DEV2" replays LOG2 to the mark that matches the first mark of LOG at or
 * after the cut in LOG (the same name, counted the same number of times):
 * for a cut at a mark, the other device at the same instant.  A cut
 * between two marks needs to know where the other log stood at that
 * moment, which only the workload can tell: the test cuts the second log
 * itself (--to-entry) there.
 *
 * A discard is replayed as zeroes (the worst case for a block that should
 * not have been discarded), or not at all with "--discard skip" (what a
 * device that ignores discards, such as brd in 6.1, ends up holding).
 *
 * Exit status: 0 done; 1 the log is damaged or a device failed; 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* __printf and __noreturn come from the Makefile, as in tools/. */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define LOG_FLUSH	(1U << 0)
#define LOG_FUA		(1U << 1)
#define LOG_DISCARD	(1U << 2)
#define LOG_MARK	(1U << 3)
#define LOG_META	(1U << 4)
#define LOG_KNOWN_FLAGS	(LOG_FLUSH | LOG_FUA | LOG_DISCARD | LOG_MARK | LOG_META)

#define LOG_MAGIC	0x6a736677736872ULL
#define LOG_VERSION	1
#define SUPER_BYTES	28
#define HEADER_BYTES	32
#define MIN_SECTOR	512U
#define MAX_SECTOR	65536U
#define COPY_BYTES	(1U << 20)

struct entry {
	uint64_t sector;	/* in log sectors */
	uint64_t nr_sectors;
	uint32_t flags;
	uint64_t data;		/* byte offset of the data in the log */
	char *mark;		/* MARK entries: the name */
};

struct log {
	const char *path;
	int fd;
	uint64_t size;		/* bytes */
	uint32_t ss;		/* sector size */
	uint64_t nr;
	uint64_t end;		/* bytes used */
	struct entry *e;	/* e[i] is entry i + 1 */
};

static const char *prog = "log-replay";

/* "log-replay: MESSAGE", and the usage too when status is 2; exits. */
static void __noreturn __printf(2, 3)
quit(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (status == 2)
		fprintf(stderr, "usage: %s check|list LOG\n"
			"       %s points [--count] LOG\n"
			"       %s replay LOG DEV [--to-entry N | --to-point N | --to-mark NAME]\n"
			"                         [--pair LOG2 DEV2] [--discard zero|skip]\n",
			prog, prog, prog);
	exit(status);
}

#define usage(...)	quit(2, __VA_ARGS__)
#define die(...)	quit(1, __VA_ARGS__)

/* A damaged log: names the log, the entry and its byte offset. */
static void __noreturn __printf(4, 5)
bad_entry(const struct log *lg, uint64_t n, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s: entry %" PRIu64 " (byte %" PRIu64 "): ",
		prog, lg->path, n, off);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(": log damaged\n", stderr);
	exit(1);
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		(uint32_t)p[3] << 24;
}

static void read_at(int fd, const char *path, void *buf, size_t len,
		    uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("%s: read at byte %" PRIu64 ": %s", path,
			    off + done, strerror(errno));
		if (r == 0)
			die("%s: unexpected end at byte %" PRIu64, path,
			    off + done);
		done += (size_t)r;
	}
}

static void write_at(int fd, const char *path, const void *buf, size_t len,
		     uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("%s: write at byte %" PRIu64 ": %s", path,
			    off + done, r < 0 ? strerror(errno) : "no progress");
		done += (size_t)r;
	}
}

static uint64_t fd_size(int fd, const char *path)
{
	off_t end = lseek(fd, 0, SEEK_END);

	if (end < 0)
		die("%s: cannot find its size: %s", path, strerror(errno));
	return (uint64_t)end;
}

static void *xmalloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		die("out of memory (%zu bytes)", len);
	return p;
}

/* The flags of an entry as words: "WRITE", "FLUSH|FUA", "MARK", ... */
static const char *flag_names(uint32_t flags, bool has_data, char *buf,
			      size_t len)
{
	static const char * const names[] = {
		"FLUSH", "FUA", "DISCARD", "MARK", "META"
	};
	size_t i;

	buf[0] = '\0';
	if (!(flags & (LOG_DISCARD | LOG_MARK)) && has_data)
		snprintf(buf, len, "WRITE");
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!(flags & (1U << i)))
			continue;
		if (buf[0])
			strncat(buf, "|", len - strlen(buf) - 1);
		strncat(buf, names[i], len - strlen(buf) - 1);
	}
	return buf;
}

/* Checks one entry header sector at off; fills *e; returns its length. */
static uint64_t parse_entry(const struct log *lg, uint64_t n, uint64_t off,
			    const unsigned char *hdr, struct entry *e)
{
	uint64_t flags64 = get_le64(hdr + 16);
	uint64_t data_len = get_le64(hdr + 24);
	uint64_t room = (lg->size - off) / lg->ss - 1;
	uint64_t i;

	e->sector = get_le64(hdr);
	e->nr_sectors = get_le64(hdr + 8);
	e->data = off + lg->ss;
	e->mark = NULL;
	if (flags64 & ~(uint64_t)LOG_KNOWN_FLAGS)
		bad_entry(lg, n, off, "unknown flags 0x%" PRIx64, flags64);
	e->flags = (uint32_t)flags64;

	if (e->flags & LOG_MARK) {
		if (e->flags != LOG_MARK)
			bad_entry(lg, n, off, "a mark with flags 0x%x",
				  e->flags);
		if (e->nr_sectors)
			bad_entry(lg, n, off, "a mark with %" PRIu64 " sectors",
				  e->nr_sectors);
		if (data_len >= lg->ss - HEADER_BYTES)
			bad_entry(lg, n, off, "a mark of %" PRIu64
				  " bytes in a %u-byte sector", data_len,
				  lg->ss);
		for (i = 0; i < data_len; i++)
			if (!hdr[HEADER_BYTES + i])
				bad_entry(lg, n, off,
					  "a NUL inside the mark's name");
		e->mark = xmalloc(data_len + 1);
		memcpy(e->mark, hdr + HEADER_BYTES, data_len);
		e->mark[data_len] = '\0';
		return lg->ss;
	}
	if (data_len)
		bad_entry(lg, n, off, "%" PRIu64
			  " bytes of inline data outside a mark", data_len);
	if (e->sector > UINT64_MAX / lg->ss - e->nr_sectors)
		bad_entry(lg, n, off, "sector %" PRIu64 " + %" PRIu64
			  " overflows", e->sector, e->nr_sectors);
	if (e->flags & LOG_DISCARD) {
		if (e->flags & (LOG_FLUSH | LOG_FUA))
			bad_entry(lg, n, off, "a discard with FLUSH or FUA");
		if (!e->nr_sectors)
			bad_entry(lg, n, off, "a discard of no sectors");
		return lg->ss;
	}
	if (!e->nr_sectors && !(e->flags & LOG_FLUSH))
		bad_entry(lg, n, off, "a write of no sectors (flags 0x%x)",
			  e->flags);
	if (e->nr_sectors > room)
		bad_entry(lg, n, off, "%" PRIu64
			  " sectors of data, the log ends %" PRIu64
			  " sectors later", e->nr_sectors, room);
	return (1 + e->nr_sectors) * lg->ss;
}

static void log_open(struct log *lg, const char *path)
{
	unsigned char sup[SUPER_BYTES];
	unsigned char *hdr;
	uint64_t magic, version, off, n;

	memset(lg, 0, sizeof(*lg));
	lg->path = path;
	lg->fd = open(path, O_RDONLY);
	if (lg->fd < 0)
		die("%s: %s", path, strerror(errno));
	lg->size = fd_size(lg->fd, path);
	if (lg->size < MIN_SECTOR)
		die("%s: %" PRIu64 " bytes, too small for a log", path,
		    lg->size);
	read_at(lg->fd, path, sup, sizeof(sup), 0);
	magic = get_le64(sup);
	version = get_le64(sup + 8);
	lg->nr = get_le64(sup + 16);
	lg->ss = get_le32(sup + 24);
	if (magic != LOG_MAGIC)
		die("%s: not a dm-log-writes log (magic 0x%" PRIx64
		    ", expected 0x%llx)", path, magic, LOG_MAGIC);
	if (version != LOG_VERSION)
		die("%s: log version %" PRIu64 ", this tool reads %d", path,
		    version, LOG_VERSION);
	if (lg->ss < MIN_SECTOR || lg->ss > MAX_SECTOR ||
	    (lg->ss & (lg->ss - 1)))
		die("%s: sector size %u is not a power of two from %u to %u",
		    path, lg->ss, MIN_SECTOR, MAX_SECTOR);
	if (lg->nr > lg->size / lg->ss - 1)
		die("%s: the super counts %" PRIu64
		    " entries, the log has room for %" PRIu64 " at most",
		    path, lg->nr, lg->size / lg->ss - 1);

	lg->e = xmalloc((size_t)(lg->nr ? lg->nr : 1) * sizeof(*lg->e));
	hdr = xmalloc(lg->ss);
	off = lg->ss;
	for (n = 0; n < lg->nr; n++) {
		if (lg->size - off < lg->ss)
			bad_entry(lg, n + 1, off,
				  "beyond the end of the log (%" PRIu64
				  " bytes; the super counts %" PRIu64
				  " entries)", lg->size, lg->nr);
		read_at(lg->fd, path, hdr, lg->ss, off);
		off += parse_entry(lg, n + 1, off, hdr, &lg->e[n]);
	}
	lg->end = off;
	free(hdr);
}

static bool is_point(const struct entry *e)
{
	return e->flags & (LOG_FLUSH | LOG_FUA);
}

static uint64_t count_points(const struct log *lg)
{
	uint64_t n, p = 0;

	for (n = 0; n < lg->nr; n++)
		p += is_point(&lg->e[n]);
	return p;
}

/* The number of the first mark at or after entry `from` (1-based), or 0. */
static uint64_t next_mark(const struct log *lg, uint64_t from)
{
	uint64_t n;

	for (n = from ? from : 1; n <= lg->nr; n++)
		if (lg->e[n - 1].mark)
			return n;
	return 0;
}

/* How many marks called like entry `at` stand at or before it. */
static uint64_t mark_rank(const struct log *lg, uint64_t at)
{
	const char *name = lg->e[at - 1].mark;
	uint64_t n, k = 0;

	for (n = 1; n <= at; n++)
		k += lg->e[n - 1].mark && !strcmp(lg->e[n - 1].mark, name);
	return k;
}

/* The entry of the rank-th mark called name, or 0. */
static uint64_t find_mark(const struct log *lg, const char *name,
			  uint64_t rank)
{
	uint64_t n, k = 0;

	for (n = 1; n <= lg->nr; n++) {
		if (lg->e[n - 1].mark && !strcmp(lg->e[n - 1].mark, name) &&
		    ++k == rank)
			return n;
	}
	return 0;
}

static void print_name(const char *s)
{
	for (; *s; s++)
		putchar(*s > ' ' && *s < 0x7f ? *s : '?');
}

static int cmd_check(const struct log *lg)
{
	uint64_t n, w = 0, d = 0, f = 0, u = 0, m = 0, bytes = 0;

	for (n = 0; n < lg->nr; n++) {
		const struct entry *e = &lg->e[n];

		if (e->mark)
			m++;
		else if (e->flags & LOG_DISCARD)
			d++;
		else if (e->nr_sectors)
			w++;
		if (!e->mark && !(e->flags & LOG_DISCARD))
			bytes += e->nr_sectors * lg->ss;
		f += !!(e->flags & LOG_FLUSH);
		u += !!(e->flags & LOG_FUA);
	}
	printf("%s: version %d, sector size %u, %" PRIu64 " entries: %" PRIu64
	       " writes (%" PRIu64 " bytes), %" PRIu64 " discards, %" PRIu64
	       " flushes, %" PRIu64 " fua, %" PRIu64 " marks; %" PRIu64
	       " flush/fua points; %" PRIu64 " of %" PRIu64 " bytes used\n",
	       lg->path, LOG_VERSION, lg->ss, lg->nr, w, bytes, d, f, u, m,
	       count_points(lg), lg->end, lg->size);
	return 0;
}

static int cmd_list(const struct log *lg)
{
	char flags[64];
	uint64_t n;

	for (n = 0; n < lg->nr; n++) {
		const struct entry *e = &lg->e[n];

		printf("%" PRIu64 " %s", n + 1,
		       flag_names(e->flags, e->nr_sectors, flags,
				  sizeof(flags)));
		if (e->mark) {
			putchar(' ');
			print_name(e->mark);
		} else {
			printf(" %" PRIu64 " %" PRIu64, e->sector,
			       e->nr_sectors);
		}
		putchar('\n');
	}
	return 0;
}

static int cmd_points(const struct log *lg, bool count)
{
	char flags[64];
	uint64_t n, p = 0, m;

	if (count) {
		printf("%" PRIu64 "\n", count_points(lg));
		return 0;
	}
	for (n = 1; n <= lg->nr; n++) {
		const struct entry *e = &lg->e[n - 1];

		if (!is_point(e))
			continue;
		printf("%" PRIu64 " %" PRIu64 " %s ", ++p, n,
		       flag_names(e->flags, e->nr_sectors, flags,
				  sizeof(flags)));
		m = next_mark(lg, n);
		if (m)
			print_name(lg->e[m - 1].mark);
		else
			putchar('-');
		putchar('\n');
	}
	return 0;
}

struct stats {
	uint64_t writes, discards, bytes;
};

struct target {
	const char *path;
	int fd;
	uint64_t size;
};

/*
 * Opens the device at path and makes sure entries 1..upto of lg fit in it,
 * so that a replay that cannot finish writes nothing.
 */
static void open_target(struct target *t, const char *path,
			const struct log *lg, uint64_t upto)
{
	uint64_t n;

	t->path = path;
	t->fd = open(path, O_WRONLY);
	if (t->fd < 0)
		die("%s: %s", path, strerror(errno));
	t->size = fd_size(t->fd, path);
	for (n = 1; n <= upto; n++) {
		const struct entry *e = &lg->e[n - 1];
		uint64_t at = e->sector * lg->ss;
		uint64_t len = e->nr_sectors * lg->ss;

		if (e->mark || !len)
			continue;
		if (at > t->size || len > t->size - at)
			die("%s: entry %" PRIu64 " writes bytes %" PRIu64
			    "..%" PRIu64 ", beyond the end of %s (%" PRIu64
			    " bytes)", lg->path, n, at, at + len - 1, path,
			    t->size);
	}
}

/* Entries 1..upto of lg onto t, which open_target() checked. */
static void replay(const struct log *lg, uint64_t upto, struct target *t,
		   bool zero_discards, struct stats *st)
{
	unsigned char *buf = xmalloc(COPY_BYTES);
	uint64_t n;

	memset(st, 0, sizeof(*st));
	for (n = 1; n <= upto; n++) {
		const struct entry *e = &lg->e[n - 1];
		uint64_t at = e->sector * lg->ss;
		uint64_t len = e->nr_sectors * lg->ss;
		uint64_t done;
		bool discard = e->flags & LOG_DISCARD;

		if (e->mark || !len)
			continue;
		if (discard) {
			st->discards++;
			if (!zero_discards)
				continue;
			memset(buf, 0, COPY_BYTES);
		} else {
			st->writes++;
			st->bytes += len;
		}
		for (done = 0; done < len; done += COPY_BYTES) {
			size_t chunk = len - done < COPY_BYTES ?
				(size_t)(len - done) : COPY_BYTES;

			if (!discard)
				read_at(lg->fd, lg->path, buf, chunk,
					e->data + done);
			write_at(t->fd, t->path, buf, chunk, at + done);
		}
	}
	if (fsync(t->fd) < 0 && errno != EINVAL)
		die("%s: fsync: %s", t->path, strerror(errno));
	if (close(t->fd) < 0)
		die("%s: close: %s", t->path, strerror(errno));
	free(buf);
}

static uint64_t parse_number(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		usage("%s: '%s' is not a number", what, s);
	return v;
}

static void report(const struct log *lg, uint64_t upto, const char *how,
		   const char *path, const struct stats *st)
{
	printf("%s: entries 1-%" PRIu64 " of %" PRIu64 " (%s) onto %s: %"
	       PRIu64 " writes, %" PRIu64 " bytes, %" PRIu64 " discards\n",
	       lg->path, upto, lg->nr, how, path, st->writes, st->bytes,
	       st->discards);
}

enum cut { CUT_ALL, CUT_ENTRY, CUT_POINT, CUT_MARK };

/* The last entry to replay for a --to-* option; describes it in how. */
static uint64_t cut_entry(const struct log *lg, enum cut how_far, uint64_t number,
			  const char *mark, char *how, size_t len)
{
	uint64_t n, p = 0;

	switch (how_far) {
	case CUT_ALL:
		snprintf(how, len, "the whole log");
		return lg->nr;
	case CUT_ENTRY:
		if (number > lg->nr)
			die("%s: --to-entry %" PRIu64 ": the log has %" PRIu64
			    " entries", lg->path, number, lg->nr);
		snprintf(how, len, "to entry %" PRIu64, number);
		return number;
	case CUT_POINT:
		if (!number)
			usage("--to-point 0: points are numbered from 1");
		for (n = 1; n <= lg->nr; n++) {
			if (is_point(&lg->e[n - 1]) && ++p == number) {
				snprintf(how, len, "to point %" PRIu64, number);
				return n;
			}
		}
		die("%s: --to-point %" PRIu64 ": the log has %" PRIu64
		    " flush/fua points", lg->path, number, p);
	case CUT_MARK:
		n = find_mark(lg, mark, 1);
		if (!n)
			die("%s: no mark '%s'", lg->path, mark);
		snprintf(how, len, "to mark %s", mark);
		return n;
	}
	return 0;
}

static int cmd_replay(const struct log *lg, int argc, char **argv)
{
	const char *dev = argv[0], *mark = NULL;
	const char *pair_log = NULL, *pair_dev = NULL;
	enum cut cut = CUT_ALL;
	uint64_t upto, number = 0;
	bool zero = true;
	char how[128];
	struct target t, t2;
	struct stats st;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		enum cut c = CUT_ALL;

		if (!strcmp(a, "--to-entry"))
			c = CUT_ENTRY;
		else if (!strcmp(a, "--to-point"))
			c = CUT_POINT;
		else if (!strcmp(a, "--to-mark"))
			c = CUT_MARK;
		else if (strcmp(a, "--pair") && strcmp(a, "--discard"))
			usage("unknown option %s", a);
		if (i + 1 >= argc || (!strcmp(a, "--pair") && i + 2 >= argc))
			usage("%s needs %s", a, strcmp(a, "--pair") ?
			      "a value" : "a log and a device");
		if (c != CUT_ALL) {
			if (cut != CUT_ALL)
				usage("one of --to-entry, --to-point, --to-mark");
			cut = c;
			if (c == CUT_MARK)
				mark = argv[++i];
			else
				number = parse_number(argv[++i], a);
		} else if (!strcmp(a, "--pair")) {
			pair_log = argv[++i];
			pair_dev = argv[++i];
		} else {
			a = argv[++i];
			if (strcmp(a, "zero") && strcmp(a, "skip"))
				usage("--discard zero|skip, not '%s'", a);
			zero = !strcmp(a, "zero");
		}
	}
	upto = cut_entry(lg, cut, number, mark, how, sizeof(how));

	if (pair_log) {
		struct log lg2;
		uint64_t upto2, rank, m;
		char how2[160];

		m = next_mark(lg, upto);
		if (!m)
			die("%s: no mark at or after entry %" PRIu64
			    " to pair %s with", lg->path, upto, pair_log);
		rank = mark_rank(lg, m);
		log_open(&lg2, pair_log);
		upto2 = find_mark(&lg2, lg->e[m - 1].mark, rank);
		if (!upto2)
			die("%s: no mark '%s' (number %" PRIu64
			    ") to pair with entry %" PRIu64 " of %s", pair_log,
			    lg->e[m - 1].mark, rank, m, lg->path);
		open_target(&t, dev, lg, upto);
		open_target(&t2, pair_dev, &lg2, upto2);
		replay(lg, upto, &t, zero, &st);
		report(lg, upto, how, dev, &st);
		replay(&lg2, upto2, &t2, zero, &st);
		snprintf(how2, sizeof(how2), "to mark %s, paired with entry %"
			 PRIu64, lg->e[m - 1].mark, m);
		report(&lg2, upto2, how2, pair_dev, &st);
		return 0;
	}
	open_target(&t, dev, lg, upto);
	replay(lg, upto, &t, zero, &st);
	report(lg, upto, how, dev, &st);
	return 0;
}

int main(int argc, char **argv)
{
	struct log lg;
	const char *cmd;
	bool count = false;

	if (argc < 3)
		usage("a command and a log, please");
	cmd = argv[1];
	if (!strcmp(cmd, "points") && !strcmp(argv[2], "--count")) {
		count = true;
		argv++;
		argc--;
		if (argc < 3)
			usage("points --count LOG");
	}
	if (!strcmp(cmd, "replay")) {
		if (argc < 4)
			usage("replay LOG DEV [options]");
	} else if (strcmp(cmd, "check") && strcmp(cmd, "list") &&
		   strcmp(cmd, "points")) {
		usage("unknown command '%s'", cmd);
	} else if (argc != 3) {
		usage("%s takes one log", cmd);
	}
	log_open(&lg, argv[2]);
	if (!strcmp(cmd, "check"))
		return cmd_check(&lg);
	if (!strcmp(cmd, "list"))
		return cmd_list(&lg);
	if (!strcmp(cmd, "points"))
		return cmd_points(&lg, count);
	return cmd_replay(&lg, argc - 3, argv + 3);
}
