// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_setup - activate and remove dm-dedup devices as /etc/deduptab
 * (deduptab(5)) or the command line says, as cryptsetup and
 * integritysetup do for theirs: attach checks the metadata device first
 * (a dm-dedup superblock, or zeroes and "format"; large enough by
 * dedup_metadata_size's arithmetic) and runs dmsetup create; detach is a
 * clean dmsetup remove, which saves the index; grow reloads the table for
 * the data device's current size; status summarizes "dmsetup status";
 * monitor (dedup/monitor.c) watches the devices for dedup-monitor.service.
 * As dedup-setup-generator (a symlink) it is the systemd generator that
 * writes a dedup-setup@NAME.service for every deduptab entry.
 *
 * Exit status (dedup_setup(8)): 0 done; 1 usage or deduptab error; 2 a
 * device refused or unreadable; 3 dmsetup failed; 4 (status) a device
 * shown is not active.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dedup/dedup.h"
#include "dedup/dmsetup.h"
#include "dedup/setup.h"
#include "pdata/log.h"

#ifndef DM_DEDUP_VERSION
#define DM_DEDUP_VERSION "unknown"
#endif

enum {
	EX_DONE = 0,
	EX_CONFIG = 1,
	EX_DEVICE = 2,
	EX_DMSETUP = 3,
	EX_INACTIVE = 4,
};

#define TABLE_MAX	(2 * DD_TAB_PATH_MAX + 512)
#define MAX_WORDS	32

static const char *tab_path(void)
{
	const char *p = getenv("DEDUPTAB");

	return p && *p ? p : DD_TAB_PATH;
}

static int say(int status, const char *name, const char *fmt, ...)
	__printf(3, 4);
static int say(int status, const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s: ", pd_prog, name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/*
 * The live table of name in table (TABLE_MAX bytes): 1 a dedup device, 0
 * not active, -1 another kind of device (reported).
 */
static int live_table(const char *name, char *table)
{
	char *out = NULL, *w[MAX_WORDS], copy[TABLE_MAX];
	int r = dd_dmsetup(&out, DD_ERR_QUIET, "table", name, NULL);

	if (r || !out) {
		free(out);
		return 0;
	}
	snprintf(table, TABLE_MAX, "%.*s", (int)strcspn(out, "\n"), out);
	free(out);
	strcpy(copy, table);
	if (dd_words(copy, w, MAX_WORDS) < 7 || strcmp(w[2], "dedup")) {
		say(0, name, "is active but not a dm-dedup device (table \"%s\")",
		    table);
		return -1;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* attach */

/* What attach found on the devices. */
struct found {
	uint64_t meta_bytes, data_bytes;
	bool formatted;
	uint32_t block_size;
	char hash[DEDUP_HASH_NAME_LEN + 1];
};

/* The superblock of e's metadata device, if it has one. */
static int read_meta(const struct dd_tab_entry *e, struct found *fd)
{
	char pbuf[DD_TAB_PATH_MAX + 256];
	const char *path = dd_dev_path(e->meta, pbuf, sizeof(pbuf));
	uint8_t blk[DD_BLOCK_SIZE];
	struct dd_super s;
	struct pd_dev dev;
	int r;

	if (pd_dev_open(&dev, path, false))
		return EX_DEVICE;
	fd->meta_bytes = dev.size;
	r = pd_dev_read(&dev, 0, blk, sizeof(blk));
	pd_dev_close(&dev);
	if (r)
		return say(EX_DEVICE, e->name, "metadata device %s: %s",
			   e->meta, r > 0 ? "smaller than 4 KiB" : "read error");
	fd->formatted = !pd_all_zero(blk, sizeof(blk), NULL);
	if (!fd->formatted) {
		if (e->flags & DD_TAB_FORMAT)
			return EX_DONE;
		return say(EX_DEVICE, e->name, "metadata device %s has no dm-dedup superblock (add \"format\" to format it)",
			   e->meta);
	}
	dd_super_decode(blk, &s);
	if (s.sb.magic != DEDUP_MAGIC)
		return say(EX_DEVICE, e->name, "metadata device %s has no dm-dedup superblock and is not zeroed: not formatting it (zero its first 4 KiB if nothing on it is needed)",
			   e->meta);
	pd_log.out = stderr;
	if (dd_super_check(blk, &s, fd->meta_bytes / DD_BLOCK_SIZE) != DD_SB_OK)
		return say(EX_DEVICE, e->name, "metadata device %s: the superblock cannot be used (see above; dedup_check %s)",
			   e->meta, e->meta);
	fd->block_size = s.sb.data_block_size;
	strcpy(fd->hash, s.hash);
	if (e->block_size && e->block_size != fd->block_size)
		return say(EX_DEVICE, e->name, "block_size=%u, but the metadata on %s is for %u-byte blocks",
			   e->block_size, e->meta, fd->block_size);
	if (e->hash[0] && strcmp(e->hash, fd->hash))
		return say(EX_DEVICE, e->name, "hash=%s, but the metadata on %s is for %s",
			   e->hash, e->meta, fd->hash);
	return EX_DONE;
}

/* The size of a device; 0 reported. */
static uint64_t dev_size(const char *name, const char *path)
{
	char pbuf[DD_TAB_PATH_MAX + 256];
	struct pd_dev dev;

	if (pd_dev_open(&dev, dd_dev_path(path, pbuf, sizeof(pbuf)), false)) {
		say(0, name, "cannot open %s", path);
		return 0;
	}
	pd_dev_close(&dev);
	return dev.size;
}

/* The logical size in sectors: size=, else the data device's size. */
static uint64_t logical_sectors(const struct dd_tab_entry *e,
				uint64_t data_bytes, uint32_t bs)
{
	uint64_t bytes = e->size ? e->size : data_bytes;

	return bytes / bs * bs / 512;
}

/*
 * dedup_metadata_size's figure for these devices: refused when the
 * metadata device is to be formatted that small, a warning when it holds
 * metadata already (the target runs out of metadata space later, not now).
 */
static int check_size(const struct dd_tab_entry *e, const struct found *fd,
		      uint64_t sectors)
{
	struct dd_msize z = {
		.data = fd->data_bytes,
		.logical = sectors * 512.0,
		.have_logical = true,
		.block_size = fd->block_size,
		.alg = dd_hash_lookup(fd->hash),
	};

	dd_msize(&z);
	if (z.fits && fd->meta_bytes >= z.meta * DD_BLOCK_SIZE)
		return EX_DONE;
	fprintf(stderr, "%s: %s: %smetadata device %s is too small: %llu bytes, where dedup_metadata_size -d %llu -l %llu -b %u -H %s says %.0f%s\n",
		pd_prog, e->name, fd->formatted ? "warning: " : "", e->meta,
		(unsigned long long)fd->meta_bytes,
		(unsigned long long)fd->data_bytes,
		(unsigned long long)sectors * 512, fd->block_size, fd->hash,
		z.meta * DD_BLOCK_SIZE,
		z.fits ? "" : " (more than one metadata device holds)");
	return fd->formatted ? EX_DONE : EX_DEVICE;
}

static int attach(const struct dd_tab_entry *e)
{
	char table[TABLE_MAX], mbuf[DD_TAB_PATH_MAX + 256];
	char dbuf[DD_TAB_PATH_MAX + 256];
	struct found fd = { .block_size = 4096 };
	uint64_t sectors;
	int r;

	r = live_table(e->name, table);
	if (r)
		return r < 0 ? EX_DEVICE : (printf("%s: already active\n",
						   e->name), EX_DONE);
	strcpy(fd.hash, "sha256");
	if (e->block_size)
		fd.block_size = e->block_size;
	if (e->hash[0])
		strcpy(fd.hash, e->hash);
	r = read_meta(e, &fd);
	if (r)
		return r;
	fd.data_bytes = dev_size(e->name, e->data);
	if (!fd.data_bytes)
		return EX_DEVICE;
	if (fd.data_bytes / fd.block_size < DEDUP_MIN_DATA_BLOCKS)
		return say(EX_DEVICE, e->name, "data device %s has %llu bytes, less than %u blocks of %u",
			   e->data, (unsigned long long)fd.data_bytes,
			   DEDUP_MIN_DATA_BLOCKS, fd.block_size);
	sectors = logical_sectors(e, fd.data_bytes, fd.block_size);
	if (!sectors)
		return say(EX_CONFIG, e->name, "size=%llu is less than a block",
			   (unsigned long long)e->size);
	r = check_size(e, &fd, sectors);
	if (r)
		return r;
	dd_tab_table(e, sectors, dd_dev_path(e->meta, mbuf, sizeof(mbuf)),
		     dd_dev_path(e->data, dbuf, sizeof(dbuf)), fd.block_size,
		     fd.hash, table, sizeof(table));
	if (dd_dmsetup(NULL, DD_ERR_SHOW, "create", e->name, "--table", table, NULL))
		return say(EX_DMSETUP, e->name, "dmsetup create failed (the kernel log says why: dmesg | grep dedup)");
	if (dd_dmsetup(NULL, DD_ERR_SHOW, "mknodes", e->name, NULL))
		say(0, e->name, "warning: dmsetup mknodes failed");
	printf("%s: attached%s: %s\n", e->name,
	       fd.formatted ? "" : " (the target formats it)", table);
	return EX_DONE;
}

/* ------------------------------------------------------------------ */
/* deduptab look-ups */

struct lookup {
	const char *name;
	struct dd_tab_entry *e;
	bool found;
};

static int match(const struct dd_tab_entry *e, void *ctx)
{
	struct lookup *l = ctx;

	if (strcmp(e->name, l->name))
		return 0;
	*l->e = *e;
	l->found = true;
	return 1;
}

/* 1 found, 0 not there, -1 the file is unreadable (reported) */
static int lookup(const char *name, struct dd_tab_entry *e)
{
	struct lookup l = { .name = name, .e = e };
	unsigned int bad;

	if (dd_tab_read(tab_path(), &bad, match, &l) < 0)
		return -1;
	return l.found;
}

/* ------------------------------------------------------------------ */
/* detach, grow */

static int detach(const char *name)
{
	char table[TABLE_MAX], *out = NULL;
	int r = live_table(name, table);

	if (r <= 0)
		return r < 0 ? EX_DEVICE : (printf("%s: not active\n", name),
					    EX_DONE);
	/*
	 * dmsetup --retry reports each busy try (udev's probe after an
	 * umount holds the device a moment): its words matter only if the
	 * remove fails in the end.
	 */
	if (dd_dmsetup(&out, DD_ERR_MERGE, "remove", "--retry", name, NULL)) {
		if (out)
			fputs(out, stderr);
		free(out);
		return say(EX_DMSETUP, name, "dmsetup remove failed: still in use (mounted, or under another device)? Only a clean remove saves the index");
	}
	free(out);
	printf("%s: detached, index saved\n", name);
	return EX_DONE;
}

/*
 * A grow makes the data larger, not the metadata: warn (and go on) when
 * the metadata device is now smaller than dedup_metadata_size says, as
 * the target will run out of metadata space before the data is full.
 */
static void warn_size(const struct dd_tab_entry *e, uint64_t data_bytes,
		      uint64_t sectors, uint32_t block_size, const char *hash)
{
	struct found fd = {
		.formatted = true,
		.data_bytes = data_bytes,
		.block_size = block_size,
	};

	snprintf(fd.hash, sizeof(fd.hash), "%s", hash);
	fd.meta_bytes = dev_size(e->name, e->meta);
	if (fd.meta_bytes)
		check_size(e, &fd, sectors);
}

static int grow(const char *name)
{
	char table[TABLE_MAX + 32], copy[TABLE_MAX];
	char *w[MAX_WORDS], dev[64];
	struct dd_tab_entry e;
	uint64_t old, sectors, bytes;
	const char *data;
	size_t n, i, o = 0;
	int r = live_table(name, table);

	if (r <= 0)
		return r < 0 ? EX_DEVICE : say(EX_DEVICE, name, "not active");
	strcpy(copy, table);
	n = dd_words(copy, w, MAX_WORDS);
	old = strtoull(w[1], NULL, 10);
	/* No deduptab: a device made by hand (the monitor grows those too). */
	r = access(tab_path(), F_OK) && errno == ENOENT ? 0 : lookup(name, &e);
	if (r < 0)
		return EX_CONFIG;
	if (!r) {
		memset(&e, 0, sizeof(e));
		snprintf(e.name, sizeof(e.name), "%s", name);
		snprintf(dev, sizeof(dev), "/dev/block/%s", w[4]);
		snprintf(e.meta, sizeof(e.meta), "%s%s",
			 strchr(w[3], ':') ? "/dev/block/" : "", w[3]);
	}
	data = r ? e.data : strchr(w[4], ':') ? dev : w[4];
	bytes = dev_size(name, data);
	if (!bytes)
		return EX_DEVICE;
	sectors = logical_sectors(&e, bytes, strtoul(w[5], NULL, 10));
	if (sectors < old)
		sectors = old;
	warn_size(&e, bytes, sectors, strtoul(w[5], NULL, 10), w[6]);
	o = snprintf(table, sizeof(table), "0 %llu",
		     (unsigned long long)sectors);
	for (i = 2; i < n && o < sizeof(table); i++)
		o += snprintf(table + o, sizeof(table) - o, " %s", w[i]);
	if (dd_dmsetup(NULL, DD_ERR_SHOW, "load", name, "--table", table, NULL))
		return say(EX_DMSETUP, name, "dmsetup load failed (the kernel log says why); the device is unchanged");
	r = dd_dmsetup(NULL, DD_ERR_SHOW, "suspend", name, NULL);
	if (dd_dmsetup(NULL, DD_ERR_SHOW, "resume", name, NULL) || r)
		return say(EX_DMSETUP, name, "dmsetup suspend or resume failed: check \"dmsetup info %s\"",
			   name);
	printf("%s: reloaded, %llu -> %llu sectors, data device %llu bytes\n",
	       name, (unsigned long long)old, (unsigned long long)sectors,
	       (unsigned long long)bytes);
	return EX_DONE;
}

/* ------------------------------------------------------------------ */
/* status */

static double percent(const char *pair)
{
	unsigned long long used, total;

	if (sscanf(pair, "%llu/%llu", &used, &total) != 2 || !total)
		return 0;
	return 100.0 * used / total;
}

/* index_state from the stats message, "-" if it has none */
static void get_index_state(const char *name, char *buf, size_t len)
{
	char *out = NULL, *p;

	snprintf(buf, len, "-");
	if (!dd_dmsetup(&out, DD_ERR_QUIET, "message", name, "0", "stats", NULL) && out) {
		p = strstr(out, "index_state=");
		if (p && (p == out || p[-1] == '\n'))
			snprintf(buf, len, "%.*s", (int)strcspn(p + 12, "\n"),
				 p + 12);
	}
	free(out);
}

static int status_one(const char *name)
{
	char table[TABLE_MAX], *out = NULL, *w[MAX_WORDS], *t[MAX_WORDS];
	char idx[64];
	int r = live_table(name, table);

	if (r <= 0) {
		if (!r)
			printf("%s: not active\n", name);
		return r < 0 ? EX_DEVICE : EX_INACTIVE;
	}
	dd_words(table, t, MAX_WORDS);
	if (dd_dmsetup(&out, DD_ERR_SHOW, "status", name, NULL) || !out ||
	    dd_words(out, w, MAX_WORDS) < 11 || strcmp(w[2], "dedup")) {
		free(out);
		return say(EX_DMSETUP, name, "dmsetup status failed or is not a dm-dedup status line");
	}
	get_index_state(name, idx, sizeof(idx));
	printf("%s: active, mode %s%s\n", name, w[3],
	       strcmp(w[4], "-") ? ", needs_check (run dedup_check)" : "");
	printf("  devices   metadata %s, data %s, %s-byte blocks, %s\n",
	       t[3], t[4], t[5], t[6]);
	printf("  logical   %s sectors\n", t[1]);
	printf("  data      %s blocks used (%.1f %%)\n", w[6], percent(w[6]));
	printf("  metadata  %s blocks used (%.1f %%)\n", w[7], percent(w[7]));
	printf("  blocks    %s mapped, %s unique, %s dedup hits\n", w[8], w[9],
	       w[10]);
	printf("  index     %s\n", idx);
	free(out);
	return EX_DONE;
}

struct names {
	char (*v)[DD_TAB_NAME_MAX + 1];
	size_t nr, cap;
};

static void add_name(struct names *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nr; i++)
		if (!strcmp(s->v[i], name))
			return;
	pd_grow((void **)&s->v, &s->cap, s->nr + 1, sizeof(*s->v));
	snprintf(s->v[s->nr++], sizeof(*s->v), "%s", name);
}

static int add_entry(const struct dd_tab_entry *e, void *ctx)
{
	add_name(ctx, e->name);
	return 0;
}

/* deduptab's entries (if it is there), then the other dedup devices */
static int status_all(void)
{
	struct names s = { 0 };
	char *out = NULL, *line, *save = NULL;
	unsigned int bad = 0;
	size_t i;
	int r = EX_DONE, one;

	if (!access(tab_path(), F_OK) &&
	    dd_tab_read(tab_path(), &bad, add_entry, &s) < 0)
		return EX_CONFIG;
	if (!dd_dmsetup(&out, DD_ERR_QUIET, "ls", "--target", "dedup", NULL) && out)
		for (line = strtok_r(out, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			if (strcmp(line, "No devices found"))
				add_name(&s, (line[strcspn(line, " \t")] = '\0',
					      line));
	free(out);
	for (i = 0; i < s.nr; i++) {
		one = status_one(s.v[i]);
		if (one > r)
			r = one;
	}
	free(s.v);
	return bad ? EX_CONFIG : r;
}

/* ------------------------------------------------------------------ */
/* the generator */

struct gen {
	const char *dir;
	char exe[DD_TAB_PATH_MAX];
	int r;
};

static int gen_entry(const struct dd_tab_entry *e, void *ctx)
{
	struct gen *g = ctx;

	if (dd_unit_generate(g->dir, e, g->exe, tab_path()))
		g->r = EX_CONFIG;
	return 0;
}

/* Writes the units into dir: none if there is no deduptab. */
static int generate(const char *dir)
{
	struct gen g = { .dir = dir };
	unsigned int bad;
	ssize_t n;

	n = readlink("/proc/self/exe", g.exe, sizeof(g.exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "%s: /proc/self/exe: %s\n", pd_prog,
			strerror(errno));
		return EX_CONFIG;
	}
	g.exe[n] = '\0';
	if (access(tab_path(), F_OK) && errno == ENOENT)
		return EX_DONE;
	if (dd_tab_read(tab_path(), &bad, gen_entry, &g) < 0)
		return EX_CONFIG;
	return bad ? EX_CONFIG : g.r;
}

/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dedup_setup attach NAME [METADATA-DEVICE DATA-DEVICE [OPTIONS]]\n"
		"       dedup_setup detach NAME\n"
		"       dedup_setup grow NAME\n"
		"       dedup_setup status [NAME]\n"
		"       dedup_setup monitor [--interval S] [--warn-data PCT] [--warn-metadata PCT]\n"
		"                           [--grow-command CMD] [--grow-interval S] [NAME...]\n"
		"       dedup_setup generate DIR\n"
		"Activates (attach) and cleanly removes (detach) dm-dedup devices as\n"
		"%s (deduptab(5); $DEDUPTAB overrides it) or the command line\n"
		"says; OPTIONS as in deduptab, comma-separated.  As\n"
		"dedup-setup-generator, the systemd generator of their units.\n",
		DD_TAB_PATH);
}

static int attach_cmd(int argc, char **argv)
{
	char err[DD_TAB_ERR_MAX];
	struct dd_tab_entry e;
	int r;

	if (argc == 3) {
		r = lookup(argv[2], &e);
		if (r <= 0)
			return r < 0 ? EX_CONFIG :
			       say(EX_CONFIG, argv[2], "no valid entry in %s",
				   tab_path());
		return attach(&e);
	}
	if (argc != 5 && argc != 6) {
		usage(stderr);
		return EX_CONFIG;
	}
	if (dd_tab_entry(&e, argv[2], argv[3], argv[4],
			 argc == 6 ? argv[5] : NULL, err))
		return say(EX_CONFIG, argv[2], "%s", err);
	return attach(&e);
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	const char *cmd = argc > 1 ? argv[1] : "";

	pd_prog = "dedup_setup";
	base = base ? base + 1 : argv[0];
	if (!strcmp(base, "dedup-setup-generator")) {
		pd_prog = base;
		if (argc != 2 && argc != 4) {
			fprintf(stderr, "Usage: %s NORMAL-DIR [EARLY-DIR LATE-DIR]\n",
				base);
			return EX_CONFIG;
		}
		return generate(argv[1]);
	}
	if (!strcmp(cmd, "attach"))
		return attach_cmd(argc, argv);
	if (!strcmp(cmd, "detach") && argc == 3)
		return detach(argv[2]);
	if (!strcmp(cmd, "grow") && argc == 3)
		return grow(argv[2]);
	if (!strcmp(cmd, "status") && argc <= 3)
		return argc == 3 ? status_one(argv[2]) : status_all();
	if (!strcmp(cmd, "monitor"))
		return dd_monitor(argc - 1, argv + 1, tab_path(), grow);
	if (!strcmp(cmd, "generate") && argc == 3)
		return generate(argv[2]);
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("dedup_setup %s\n", DM_DEDUP_VERSION);
		return EX_DONE;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return EX_DONE;
	}
	usage(stderr);
	return EX_CONFIG;
}
