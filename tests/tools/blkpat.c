// SPDX-License-Identifier: GPL-2.0
/*
 * blkpat - tagged block patterns for the crash tests of dm-dedup
 * (tests/44-crash-points.sh); a test-only tool.
 *
 *   blkpat write DEV OFFSET LEN TAG [--fua]
 *       Write LEN bytes at byte OFFSET (both multiples of 512) with
 *       O_DIRECT.  Every 512-byte sector holds 16 lines of TAG padded with
 *       spaces to 31 bytes and a newline; TAG "0" writes zeroes.  A TAG is
 *       1 to 31 characters of [A-Za-z0-9_.-].  Equal tags make equal
 *       blocks, which a dedup device stores once.  --fua: pwritev2() with
 *       RWF_DSYNC, which the block layer sends as a FUA write (and then
 *       a flush).
 *   blkpat write-lbn DEV BLOCKSIZE FIRST COUNT GEN
 *       Write blocks FIRST..FIRST+COUNT-1 (O_DIRECT, up to 1 MiB a write),
 *       each with the tag "L<block>.G<GEN>": every block differs from every
 *       other, and from its own earlier generations.
 *   blkpat read DEV BLOCKSIZE FIRST COUNT
 *       Read blocks FIRST..FIRST+COUNT-1 of BLOCKSIZE bytes (O_DIRECT) and
 *       print "BLOCK CONTENT" for each: CONTENT is the tag of its sectors
 *       when they all agree, else the tags of its sectors joined by ",";
 *       "0" is a sector of zeroes, "?" a sector that is neither.
 *   blkpat flush DEV
 *       fsync(DEV): an empty FLUSH on a block device.
 *
 * Exit status: 0 done, 1 I/O error, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* __printf and __noreturn come from the Makefile, as in tools/. */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define SECTOR		512U
#define LINE		32U
#define TAG_MAX		(LINE - 1)
#define ALIGN		4096U
#define MAX_BLOCK	(1U << 20)

static void __noreturn __printf(2, 3)
die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("blkpat: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (status == 2)
		fputs("usage: blkpat write DEV OFFSET LEN TAG [--fua]\n"
		      "       blkpat write-lbn DEV BLOCKSIZE FIRST COUNT GEN\n"
		      "       blkpat read DEV BLOCKSIZE FIRST COUNT\n"
		      "       blkpat flush DEV\n", stderr);
	exit(status);
}

static uint64_t parse_u64(const char *s, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		die(2, "%s: '%s' is not a whole number", what, s);
	return v;
}

static bool tag_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static void *aligned(size_t len)
{
	void *p;

	if (posix_memalign(&p, ALIGN, len))
		die(1, "out of memory (%zu bytes)", len);
	return p;
}

static void fill(unsigned char *buf, size_t len, const char *tag)
{
	char line[LINE];
	size_t i;

	if (!strcmp(tag, "0")) {
		memset(buf, 0, len);
		return;
	}
	memset(line, ' ', sizeof(line));
	memcpy(line, tag, strlen(tag));
	line[LINE - 1] = '\n';
	for (i = 0; i < len; i += LINE)
		memcpy(buf + i, line, LINE);
}

static int cmd_write(int argc, char **argv)
{
	const char *dev = argv[0], *tag = argv[3];
	uint64_t off = parse_u64(argv[1], "OFFSET");
	uint64_t len = parse_u64(argv[2], "LEN");
	bool fua = false;
	struct iovec iov;
	unsigned char *buf;
	ssize_t r;
	size_t i;
	int fd;

	if (argc == 5 && !strcmp(argv[4], "--fua"))
		fua = true;
	else if (argc != 4)
		die(2, "write DEV OFFSET LEN TAG [--fua]");
	if (off % SECTOR || len % SECTOR || !len || len > MAX_BLOCK)
		die(2, "OFFSET and LEN must be multiples of %u, LEN at most %u",
		    SECTOR, MAX_BLOCK);
	if (!*tag || strlen(tag) > TAG_MAX)
		die(2, "a tag has 1 to %u characters: '%s'", TAG_MAX, tag);
	for (i = 0; tag[i]; i++)
		if (!tag_char(tag[i]))
			die(2, "'%c' cannot be in a tag", tag[i]);
	buf = aligned(len);
	fill(buf, len, tag);
	fd = open(dev, O_WRONLY | O_DIRECT);
	if (fd < 0)
		die(1, "%s: %s", dev, strerror(errno));
	iov.iov_base = buf;
	iov.iov_len = len;
	r = pwritev2(fd, &iov, 1, (off_t)off, fua ? RWF_DSYNC : 0);
	if (r < 0)
		die(1, "%s: write of %llu bytes at %llu: %s", dev,
		    (unsigned long long)len, (unsigned long long)off,
		    strerror(errno));
	if ((uint64_t)r != len)
		die(1, "%s: short write (%zd of %llu bytes)", dev, r,
		    (unsigned long long)len);
	if (close(fd) < 0)
		die(1, "%s: close: %s", dev, strerror(errno));
	free(buf);
	return 0;
}

static uint64_t parse_bs(const char *s)
{
	uint64_t bs = parse_u64(s, "BLOCKSIZE");

	if (bs < SECTOR || bs > MAX_BLOCK || bs % SECTOR)
		die(2, "BLOCKSIZE: a multiple of %u up to %u", SECTOR,
		    MAX_BLOCK);
	return bs;
}

static int cmd_write_lbn(int argc, char **argv)
{
	const char *dev = argv[0];
	uint64_t bs, first, count, gen, b, n, i;
	unsigned char *buf;
	char tag[LINE];
	ssize_t r;
	int fd;

	if (argc != 5)
		die(2, "write-lbn DEV BLOCKSIZE FIRST COUNT GEN");
	bs = parse_bs(argv[1]);
	first = parse_u64(argv[2], "FIRST");
	count = parse_u64(argv[3], "COUNT");
	gen = parse_u64(argv[4], "GEN");
	buf = aligned(MAX_BLOCK);
	fd = open(dev, O_WRONLY | O_DIRECT);
	if (fd < 0)
		die(1, "%s: %s", dev, strerror(errno));
	for (b = first; b < first + count; b += n) {
		n = first + count - b;
		if (n > MAX_BLOCK / bs)
			n = MAX_BLOCK / bs;
		for (i = 0; i < n; i++) {
			snprintf(tag, sizeof(tag), "L%llu.G%llu",
				 (unsigned long long)(b + i),
				 (unsigned long long)gen);
			fill(buf + i * bs, bs, tag);
		}
		r = pwrite(fd, buf, n * bs, (off_t)(b * bs));
		if (r < 0 || (uint64_t)r != n * bs)
			die(1, "%s: write of blocks %llu+%llu: %s", dev,
			    (unsigned long long)b, (unsigned long long)n,
			    r < 0 ? strerror(errno) : "short write");
	}
	if (close(fd) < 0)
		die(1, "%s: close: %s", dev, strerror(errno));
	free(buf);
	return 0;
}

/* The tag of one sector into out: "0", "?" or the tag. */
static void sector_tag(const unsigned char *s, char *out)
{
	size_t i, n;

	for (i = 0; i < SECTOR && !s[i]; i++)
		;
	if (i == SECTOR) {
		strcpy(out, "0");
		return;
	}
	strcpy(out, "?");
	for (n = 0; n < TAG_MAX && tag_char((char)s[n]); n++)
		;
	if (!n || s[LINE - 1] != '\n')
		return;
	for (i = n; i < LINE - 1; i++)
		if (s[i] != ' ')
			return;
	for (i = LINE; i < SECTOR; i += LINE)
		if (memcmp(s, s + i, LINE))
			return;
	memcpy(out, s, n);
	out[n] = '\0';
}

static int cmd_read(int argc, char **argv)
{
	const char *dev = argv[0];
	uint64_t bs, first, count, b, n, k;
	unsigned int per, i;
	unsigned char *buf, *blk;
	char tags[MAX_BLOCK / SECTOR][LINE];
	int fd;

	if (argc != 4)
		die(2, "read DEV BLOCKSIZE FIRST COUNT");
	bs = parse_bs(argv[1]);
	first = parse_u64(argv[2], "FIRST");
	count = parse_u64(argv[3], "COUNT");
	per = (unsigned int)(bs / SECTOR);
	buf = aligned(MAX_BLOCK);
	fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0)
		die(1, "%s: %s", dev, strerror(errno));
	for (b = first; b < first + count; b += n) {
		ssize_t r;

		n = first + count - b;
		if (n > MAX_BLOCK / bs)
			n = MAX_BLOCK / bs;
		r = pread(fd, buf, n * bs, (off_t)(b * bs));
		if (r < 0)
			die(1, "%s: read of blocks %llu+%llu: %s", dev,
			    (unsigned long long)b, (unsigned long long)n,
			    strerror(errno));
		if ((uint64_t)r != n * bs)
			die(1, "%s: short read of blocks %llu+%llu", dev,
			    (unsigned long long)b, (unsigned long long)n);
		for (k = 0; k < n; k++) {
			bool same = true;

			blk = buf + k * bs;
			for (i = 0; i < per; i++) {
				sector_tag(blk + (size_t)i * SECTOR, tags[i]);
				same = same && !strcmp(tags[i], tags[0]);
			}
			printf("%llu ", (unsigned long long)(b + k));
			for (i = 0; i < (same ? 1 : per); i++)
				printf("%s%s", i ? "," : "", tags[i]);
			putchar('\n');
		}
	}
	close(fd);
	free(buf);
	return 0;
}

static int cmd_flush(int argc, char **argv)
{
	int fd;

	if (argc != 1)
		die(2, "flush DEV");
	fd = open(argv[0], O_WRONLY);
	if (fd < 0)
		die(1, "%s: %s", argv[0], strerror(errno));
	if (fsync(fd) < 0)
		die(1, "%s: fsync: %s", argv[0], strerror(errno));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		die(2, "a command and a device, please");
	if (!strcmp(argv[1], "write") && argc >= 6)
		return cmd_write(argc - 2, argv + 2);
	if (!strcmp(argv[1], "write-lbn"))
		return cmd_write_lbn(argc - 2, argv + 2);
	if (!strcmp(argv[1], "read"))
		return cmd_read(argc - 2, argv + 2);
	if (!strcmp(argv[1], "flush"))
		return cmd_flush(argc - 2, argv + 2);
	die(2, "unknown command '%s' or too few arguments", argv[1]);
}
