// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_stats - space savings and commit figures of dm-dedup devices, in
 * the manner of vdostats.  For every dedup device (or the ones named) it
 * runs "dmsetup status" and "dmsetup message <dev> 0 stats" and prints one
 * table row, or, with --json, one object per device, or, with --prometheus,
 * the figures as node_exporter's textfile collector reads them.
 *
 * The figures are taken by name from the key=value lines of the stats
 * message, so fields the target adds later do not disturb this tool; they
 * are passed through in the JSON "stats" object.  Only a figure the
 * message does not have (a target too old or too new, or a device whose
 * dedup target does not start at sector 0) is taken from its position in
 * the status line (README "Status"), and the block size from the table.
 *
 * Exit status: 0 all devices reported; 1 a device could not be read or is
 * not a dedup device; 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/json.h"
#include "dedup/dmsetup.h"
#include "pdata/log.h"

#ifndef DM_DEDUP_VERSION
#define DM_DEDUP_VERSION "unknown"
#endif

#define MAX_WORDS 64

/* The figures the tool reports, wherever they come from. */
enum figure {
	FIG_BLOCK_SIZE,
	FIG_DATA_USED,
	FIG_DATA_TOTAL,
	FIG_MAPPED,
	FIG_UNIQUE,
	FIG_HITS,
	FIG_ZERO,
	FIG_COMMITS,
	FIG_LONGEST_COMMIT,
	FIG_BP_WAITS,
	FIG_LONGEST_WAIT,
	/* only --prometheus shows these */
	FIG_TRANSACTION,
	FIG_META_USED,
	FIG_META_TOTAL,
	FIG_LAST_COMMIT,
	FIG_LAST_COMMIT_BLOCKS,
	FIG_COMMIT_IN_FLIGHT,
	/* from the stats message only: absent from older targets */
	FIG_ZERO_WRITES,
	FIG_INDEX_ENTRIES,
	FIG_INDEX_RAM,
	NR_FIGURES
};

/* Figures from here on may be missing. */
#define FIG_OPTIONAL	FIG_ZERO_WRITES

/*
 * Where each figure is: its key in the stats message, and its position in
 * the status line after "dedup", counting used/total pairs as two words
 * (0: not in the status line).
 */
static const struct {
	const char *key;
	unsigned int status_pos;
} sources[NR_FIGURES] = {
	[FIG_BLOCK_SIZE] = { "data_block_size", 0 },
	[FIG_DATA_USED] = { "data_used_blocks", 4 },
	[FIG_DATA_TOTAL] = { "data_total_blocks", 5 },
	[FIG_MAPPED] = { "mapped_blocks", 8 },
	[FIG_UNIQUE] = { "unique_blocks", 9 },
	[FIG_HITS] = { "dedup_hits", 10 },
	[FIG_ZERO] = { "zero_blocks", 11 },
	[FIG_COMMITS] = { "commits", 12 },
	[FIG_LONGEST_COMMIT] = { "longest_commit_ms", 14 },
	[FIG_BP_WAITS] = { "backpressure_waits", 17 },
	[FIG_LONGEST_WAIT] = { "longest_wait_us", 18 },
	[FIG_TRANSACTION] = { "transaction_id", 3 },
	[FIG_META_USED] = { "metadata_used_blocks", 6 },
	[FIG_META_TOTAL] = { "metadata_total_blocks", 7 },
	[FIG_LAST_COMMIT] = { "last_commit_ms", 13 },
	[FIG_LAST_COMMIT_BLOCKS] = { "last_commit_blocks", 15 },
	[FIG_COMMIT_IN_FLIGHT] = { "commit_in_flight", 16 },
	[FIG_ZERO_WRITES] = { "zero_writes", 0 },
	[FIG_INDEX_ENTRIES] = { "index_entries", 0 },
	[FIG_INDEX_RAM] = { "index_ram_bytes", 0 },
};

#define STATUS_POS_MODE		1
#define STATUS_POS_NEEDS_CHECK	2
#define TABLE_POS_BLOCK_SIZE	3

struct kv {
	char *key;
	char *value;
};

struct device {
	char *name;
	/* the stats message, in its order */
	struct kv *kv;
	size_t nr_kv;
	bool have_stats;
	/* the status line after "dedup", split at blanks and '/' */
	char *status_buf;
	char *status[MAX_WORDS + 1];
	unsigned int nr_status;

	char mode[32];
	bool needs_check;
	uint64_t fig[NR_FIGURES];
	bool have[NR_FIGURES];
};

struct options {
	bool human;
	bool json;
	bool prometheus;
};

static void print_help(FILE *f)
{
	fprintf(f,
		"Usage: dedup_stats [--human] [--json | --prometheus] [device...]\n"
		"Space savings and commit figures of dm-dedup devices: all of them,\n"
		"or the ones named (dm name or /dev/mapper path).\n"
		"  -H, --human    sizes in powers of 1024 (K, M, G, T, P, E)\n"
		"  -j, --json     one JSON document instead of the table\n"
		"  -p, --prometheus\n"
		"                 the node_exporter textfile collector's format\n"
		"  -V, --version  print the version\n"
		"  -h, --help     this text\n");
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fprintf(stderr, "dedup_stats: out of memory\n");
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

/* ------------------------------------------------------------------ */
/* running dmsetup */

/*
 * Runs "dmsetup ARGS..." (dd_dmsetup(), ARGS ending with NULL) with its
 * standard error merged into *out, which is always set: whether it exited
 * with status 0.
 */
#define dmsetup(out, ...)						\
	ran(dd_dmsetup(out, DD_ERR_MERGE, __VA_ARGS__), out)

static bool ran(int status, char **out)
{
	if (status < 0 && !*out)
		*out = xstrdup("");
	return status == 0;
}

/* The first line of TEXT, for error messages. */
static const char *first_line(char *text)
{
	char *nl = strchr(text, '\n');

	if (nl)
		*nl = '\0';
	return *text ? text : "(no output)";
}

/* ------------------------------------------------------------------ */
/* parsing */

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && !*end;
}

static const char *stats_value(struct device *d, const char *key)
{
	size_t i;

	for (i = 0; i < d->nr_kv; i++)
		if (!strcmp(d->kv[i].key, key))
			return d->kv[i].value;
	return NULL;
}

static const char *status_word(struct device *d, unsigned int pos)
{
	return pos && pos <= d->nr_status ? d->status[pos - 1] : NULL;
}

static bool is_number(const char *s)
{
	uint64_t v;

	return parse_u64(s, &v);
}

/*
 * Keep the words after "dedup" of the first dedup line of a status or
 * table output, split at blanks (and at '/' when SLASH): lines are
 * "<start> <length> dedup <word>...", with "<name>: " before them when
 * dmsetup reports several devices.  Returns false without a dedup line.
 */
static bool target_words(char *text, char **buf, char **words,
			 unsigned int *nr, bool slash)
{
	char *line, *save_line, *w, *save_w, *prev[2];
	unsigned int i;

	for (line = strtok_r(text, "\n", &save_line); line;
	     line = strtok_r(NULL, "\n", &save_line)) {
		prev[0] = NULL;
		prev[1] = NULL;
		for (w = strtok_r(line, " ", &save_w); w;
		     w = strtok_r(NULL, " ", &save_w)) {
			if (!strcmp(w, "dedup") && prev[0] && prev[1] &&
			    is_number(prev[0]) && is_number(prev[1]))
				break;
			prev[0] = prev[1];
			prev[1] = w;
		}
		if (!w)
			continue;
		*buf = xstrdup(save_w ? save_w : "");
		i = 0;
		for (w = strtok_r(*buf, slash ? " /" : " ", &save_w);
		     w && i < MAX_WORDS; w = strtok_r(NULL, slash ? " /" : " ", &save_w))
			words[i++] = w;
		words[i] = NULL;
		*nr = i;
		return true;
	}
	return false;
}

static void parse_stats(struct device *d, char *text)
{
	char *line, *save, *eq;
	size_t max = 0;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		eq = strchr(line, '=');
		if (!eq || eq == line)
			continue;
		*eq = '\0';
		if (d->nr_kv == max) {
			max = max ? 2 * max : 32;
			d->kv = xrealloc(d->kv, max * sizeof(*d->kv));
		}
		d->kv[d->nr_kv].key = xstrdup(line);
		d->kv[d->nr_kv].value = xstrdup(eq + 1);
		d->nr_kv++;
	}
	d->have_stats = d->nr_kv > 0;
}

/* Block size from the table line: "<meta> <data> <block size> <hash> ..." */
static bool table_block_size(struct device *d, uint64_t *v)
{
	char *buf = NULL, *words[MAX_WORDS + 1], *out;
	unsigned int nr = 0;
	bool ok, found = false;

	out = NULL;
	ok = dmsetup(&out, "table", d->name, NULL);
	if (ok && target_words(out, &buf, words, &nr, false))
		found = nr >= TABLE_POS_BLOCK_SIZE &&
			parse_u64(words[TABLE_POS_BLOCK_SIZE - 1], v);
	free(buf);
	free(out);
	return found;
}

/* Read one device.  Returns 0, or 1 after printing why it cannot. */
static int read_device(struct device *d)
{
	const char *s;
	char *out;
	bool ok;
	int i;

	out = NULL;
	ok = dmsetup(&out, "status", d->name, NULL);
	if (!ok) {
		fprintf(stderr, "dedup_stats: %s: dmsetup status failed: %s\n",
			d->name, first_line(out));
		free(out);
		return 1;
	}
	if (!target_words(out, &d->status_buf, d->status, &d->nr_status,
			  true)) {
		fprintf(stderr, "dedup_stats: %s: not a dedup device\n",
			d->name);
		free(out);
		return 1;
	}
	free(out);

	out = NULL;
	ok = dmsetup(&out, "message", d->name, "0", "stats", NULL);
	if (ok)
		parse_stats(d, out);
	free(out);

	s = stats_value(d, "mode");
	if (!s)
		s = status_word(d, STATUS_POS_MODE);
	snprintf(d->mode, sizeof(d->mode), "%s", s ? s : "?");
	s = stats_value(d, "needs_check");
	if (s) {
		d->needs_check = strcmp(s, "0") != 0;
	} else {
		s = status_word(d, STATUS_POS_NEEDS_CHECK);
		d->needs_check = s && strcmp(s, "-");
	}

	for (i = 0; i < NR_FIGURES; i++) {
		s = stats_value(d, sources[i].key);
		if (!s)
			s = status_word(d, sources[i].status_pos);
		d->have[i] = true;
		if (parse_u64(s, &d->fig[i]))
			continue;
		if (i == FIG_BLOCK_SIZE && table_block_size(d, &d->fig[i]))
			continue;
		d->have[i] = false;
		if (i >= FIG_OPTIONAL)
			continue;
		fprintf(stderr, "dedup_stats: %s: no %s in stats or status\n",
			d->name, sources[i].key);
		return 1;
	}
	return 0;
}

/* Names of all devices with a dedup target ("dmsetup ls --target dedup"). */
static char **list_devices(size_t *nr)
{
	char *out, *line, *save, *tab, **names = NULL;
	bool ok;

	*nr = 0;
	out = NULL;
	ok = dmsetup(&out, "ls", "--target", "dedup", NULL);
	if (!ok) {
		fprintf(stderr, "dedup_stats: dmsetup ls failed: %s\n",
			first_line(out));
		free(out);
		exit(1);
	}
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, "No devices found"))
			continue;
		tab = strrchr(line, '\t');
		if (tab)
			*tab = '\0';
		names = xrealloc(names, (*nr + 1) * sizeof(*names));
		names[(*nr)++] = xstrdup(line);
	}
	free(out);
	return names;
}

/* ------------------------------------------------------------------ */
/* figures */

static uint64_t logical_bytes(struct device *d)
{
	return d->fig[FIG_MAPPED] * d->fig[FIG_BLOCK_SIZE];
}

static uint64_t physical_bytes(struct device *d)
{
	return d->fig[FIG_DATA_USED] * d->fig[FIG_BLOCK_SIZE];
}

static uint64_t saved_bytes(struct device *d)
{
	uint64_t l = logical_bytes(d), p = physical_bytes(d);

	return l > p ? l - p : 0;
}

static double saved_percent(struct device *d)
{
	uint64_t l = logical_bytes(d);

	return l ? 100.0 * (double)saved_bytes(d) / (double)l : 0.0;
}

static void format_size(char *buf, size_t n, uint64_t bytes, bool human)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	if (!human || bytes < 1024) {
		snprintf(buf, n, human ? "%" PRIu64 "B" : "%" PRIu64, bytes);
		return;
	}
	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, n, "%.1f%c", v, units[u]);
}

/* ------------------------------------------------------------------ */
/* output */

enum column {
	COL_DEVICE,
	COL_MODE,
	COL_LOGICAL,
	COL_PHYSICAL,
	COL_SAVED,
	COL_SAVED_PCT,
	COL_HITS,
	COL_ZERO,
	COL_COMMITS,
	COL_LONGEST_COMMIT,
	COL_LONGEST_WAIT,
	NR_COLUMNS
};

static const char * const headers[NR_COLUMNS] = {
	"Device", "Mode", "Logical-used", "Physical-used", "Saved", "Saved%",
	"Dedup-hits", "Zero-blocks", "Commits", "Longest-commit",
	"Longest-wait",
};

#define CELL 40

static void table_row(struct device *d, bool human,
		      char cells[NR_COLUMNS][CELL])
{
	snprintf(cells[COL_DEVICE], CELL, "%s", d->name);
	snprintf(cells[COL_MODE], CELL, "%s%s", d->mode,
		 d->needs_check ? ",needs_check" : "");
	format_size(cells[COL_LOGICAL], CELL, logical_bytes(d), human);
	format_size(cells[COL_PHYSICAL], CELL, physical_bytes(d), human);
	format_size(cells[COL_SAVED], CELL, saved_bytes(d), human);
	snprintf(cells[COL_SAVED_PCT], CELL, "%.1f%%", saved_percent(d));
	snprintf(cells[COL_HITS], CELL, "%" PRIu64, d->fig[FIG_HITS]);
	snprintf(cells[COL_ZERO], CELL, "%" PRIu64, d->fig[FIG_ZERO]);
	snprintf(cells[COL_COMMITS], CELL, "%" PRIu64, d->fig[FIG_COMMITS]);
	snprintf(cells[COL_LONGEST_COMMIT], CELL, "%" PRIu64 "ms",
		 d->fig[FIG_LONGEST_COMMIT]);
	snprintf(cells[COL_LONGEST_WAIT], CELL, "%" PRIu64 "us",
		 d->fig[FIG_LONGEST_WAIT]);
}

static void print_table(struct device *devs, size_t nr, bool human)
{
	char (*cells)[NR_COLUMNS][CELL];
	size_t width[NR_COLUMNS], i;
	int c;

	cells = xrealloc(NULL, (nr + 1) * sizeof(*cells));
	for (c = 0; c < NR_COLUMNS; c++)
		snprintf(cells[0][c], CELL, "%s", headers[c]);
	for (i = 0; i < nr; i++)
		table_row(&devs[i], human, cells[i + 1]);
	for (c = 0; c < NR_COLUMNS; c++) {
		width[c] = 0;
		for (i = 0; i <= nr; i++)
			if (strlen(cells[i][c]) > width[c])
				width[c] = strlen(cells[i][c]);
	}
	for (i = 0; i <= nr; i++) {
		for (c = 0; c < NR_COLUMNS; c++) {
			/* names and modes left aligned, figures right */
			if (c <= COL_MODE)
				printf("%s%-*s", c ? "  " : "", (int)width[c],
				       cells[i][c]);
			else
				printf("  %*s", (int)width[c], cells[i][c]);
		}
		putchar('\n');
	}
	free(cells);
}

/* A stats value as a JSON number when it is a plain decimal, else a string. */
static void json_value(struct dd_jw *w, const char *key, const char *v)
{
	uint64_t n;

	if (parse_u64(v, &n) && (v[0] != '0' || !v[1]))
		dd_jw_number(w, key, "%s", v);
	else
		dd_jw_string(w, key, v);
}

static void print_json(struct device *devs, size_t nr)
{
	struct dd_jw jw, *w = &jw;
	size_t i, k;

	dd_jw_init(w, stdout);
	dd_jw_open(w, NULL, '{', false);
	dd_jw_string(w, "version", DM_DEDUP_VERSION);
	dd_jw_open(w, "devices", '[', false);
	for (i = 0; i < nr; i++) {
		struct device *d = &devs[i];

		dd_jw_open(w, NULL, '{', false);
		dd_jw_string(w, "name", d->name);
		dd_jw_string(w, "mode", d->mode);
		dd_jw_bool(w, "needs_check", d->needs_check);
		dd_jw_string(w, "source", d->have_stats ? "stats" : "status");
		dd_jw_u64(w, "block_size", d->fig[FIG_BLOCK_SIZE]);
		dd_jw_u64(w, "logical_used_bytes", logical_bytes(d));
		dd_jw_u64(w, "physical_used_bytes", physical_bytes(d));
		dd_jw_u64(w, "physical_size_bytes",
			  d->fig[FIG_DATA_TOTAL] * d->fig[FIG_BLOCK_SIZE]);
		dd_jw_u64(w, "saved_bytes", saved_bytes(d));
		dd_jw_number(w, "saved_percent", "%.1f", saved_percent(d));
		dd_jw_u64(w, "dedup_hits", d->fig[FIG_HITS]);
		dd_jw_u64(w, "zero_blocks", d->fig[FIG_ZERO]);
		dd_jw_u64(w, "commits", d->fig[FIG_COMMITS]);
		dd_jw_u64(w, "longest_commit_ms", d->fig[FIG_LONGEST_COMMIT]);
		dd_jw_u64(w, "backpressure_waits", d->fig[FIG_BP_WAITS]);
		dd_jw_u64(w, "longest_wait_us", d->fig[FIG_LONGEST_WAIT]);
		dd_jw_open(w, "stats", '{', false);
		for (k = 0; k < d->nr_kv; k++)
			json_value(w, d->kv[k].key, d->kv[k].value);
		dd_jw_close(w);
		dd_jw_close(w);
	}
	dd_jw_end(w);
}

/*
 * --prometheus: the text exposition format that node_exporter's textfile
 * collector reads.  Each family has its HELP and TYPE once, then a sample
 * per device that has the figure, labelled device="NAME".
 */
enum prom_unit {
	U_ONE,		/* the figure as it is */
	U_BLOCKS,	/* data blocks, in bytes */
	U_META,		/* 4 KiB metadata blocks, in bytes */
	U_MS,		/* milliseconds, in seconds */
	U_US,		/* microseconds, in seconds */
	U_SAVED,	/* saved_bytes() */
};

static const struct {
	const char *name;
	bool counter;
	enum figure fig;
	enum prom_unit unit;
	const char *help;
} prom_metrics[] = {
	{ "block_size_bytes", false, FIG_BLOCK_SIZE, U_ONE,
	  "Data block size." },
	{ "data_used_bytes", false, FIG_DATA_USED, U_BLOCKS,
	  "Bytes of the data device holding referenced data." },
	{ "data_size_bytes", false, FIG_DATA_TOTAL, U_BLOCKS,
	  "Size of the data device." },
	{ "metadata_used_bytes", false, FIG_META_USED, U_META,
	  "Bytes of the metadata device in use, as of the last commit." },
	{ "metadata_size_bytes", false, FIG_META_TOTAL, U_META,
	  "Size of the metadata device." },
	{ "logical_used_bytes", false, FIG_MAPPED, U_BLOCKS,
	  "Bytes of logical blocks that map to a data block." },
	{ "saved_bytes", false, FIG_MAPPED, U_SAVED,
	  "Logical used bytes minus data used bytes." },
	{ "zero_blocks", false, FIG_ZERO, U_ONE,
	  "Logical blocks last written with zeroes." },
	{ "hits_total", true, FIG_HITS, U_ONE,
	  "Writes that shared a block already stored, since format." },
	{ "zero_writes_total", true, FIG_ZERO_WRITES, U_ONE,
	  "Block writes of zeroes, since format." },
	{ "commits_total", true, FIG_COMMITS, U_ONE,
	  "Metadata commits, since format." },
	{ "transaction_id", false, FIG_TRANSACTION, U_ONE,
	  "Id of the last committed transaction." },
	{ "last_commit_seconds", false, FIG_LAST_COMMIT, U_MS,
	  "Duration of the last commit." },
	{ "longest_commit_seconds", false, FIG_LONGEST_COMMIT, U_MS,
	  "Duration of the longest commit since load." },
	{ "last_commit_blocks", false, FIG_LAST_COMMIT_BLOCKS, U_ONE,
	  "Logical blocks whose mappings the last commit made durable." },
	{ "commit_in_flight", false, FIG_COMMIT_IN_FLIGHT, U_ONE,
	  "1 while a commit is being written." },
	{ "backpressure_waits_total", true, FIG_BP_WAITS, U_ONE,
	  "Writes that waited for room in the open generation, since load." },
	{ "longest_backpressure_wait_seconds", false, FIG_LONGEST_WAIT, U_US,
	  "Longest back-pressure wait since load." },
	{ "index_entries", false, FIG_INDEX_ENTRIES, U_ONE,
	  "Fingerprints in the in-memory index." },
	{ "index_ram_bytes", false, FIG_INDEX_RAM, U_ONE,
	  "Memory of the in-memory index." },
};

static const char * const prom_modes[] = {
	"rw", "out_of_data_space", "out_of_metadata_space", "ro", "fail", NULL
};

static const char * const prom_index_states[] = {
	"ready", "loading", "rebuilding", NULL
};

static void prom_header(const char *name, const char *type, const char *help)
{
	printf("# HELP dm_dedup_%s %s\n# TYPE dm_dedup_%s %s\n", name, help,
	       name, type);
}

/* A label value, escaped: backslash, double quote and newline. */
static void prom_escape(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
}

/* dm_dedup_NAME{device="D"[,LABEL="VALUE"]} and a blank */
static void prom_sample(const char *name, struct device *d,
			const char *label, const char *value)
{
	printf("dm_dedup_%s{device=\"", name);
	prom_escape(d->name);
	if (label) {
		printf("\",%s=\"", label);
		prom_escape(value);
	}
	fputs("\"} ", stdout);
}

/*
 * An enum as one gauge per state: 1 for the current one (also when it is
 * not among the known ones, then listed after them), 0 for the others.
 */
static void prom_enum(struct device *devs, size_t nr, const char *name,
		      const char *label, const char * const *states,
		      const char *help, const char *(*cur)(struct device *))
{
	bool header = false, known;
	const char *now;
	size_t i, k;

	for (i = 0; i < nr; i++) {
		now = cur(&devs[i]);
		if (!now)
			continue;
		if (!header)
			prom_header(name, "gauge", help);
		header = true;
		known = false;
		for (k = 0; states[k]; k++) {
			prom_sample(name, &devs[i], label, states[k]);
			printf("%d\n", !strcmp(now, states[k]));
			known |= !strcmp(now, states[k]);
		}
		if (!known) {
			prom_sample(name, &devs[i], label, now);
			puts("1");
		}
	}
}

static const char *cur_mode(struct device *d)
{
	return d->mode;
}

static const char *cur_index_state(struct device *d)
{
	return stats_value(d, "index_state");
}

static void print_prometheus(struct device *devs, size_t nr)
{
	bool header;
	uint64_t v;
	size_t m, i;

	prom_enum(devs, nr, "mode", "mode", prom_modes,
		  "Mode of the pool: 1 for the current one.", cur_mode);
	for (i = 0; i < nr; i++) {
		if (!i)
			prom_header("needs_check", "gauge",
				    "1 when the metadata must be checked.");
		prom_sample("needs_check", &devs[i], NULL, NULL);
		printf("%d\n", devs[i].needs_check);
	}
	prom_enum(devs, nr, "index_state", "state", prom_index_states,
		  "State of the in-memory fingerprint index: 1 for the current one.",
		  cur_index_state);
	for (m = 0; m < ARRAY_SIZE(prom_metrics); m++) {
		header = false;
		for (i = 0; i < nr; i++) {
			struct device *d = &devs[i];

			if (!d->have[prom_metrics[m].fig])
				continue;
			if (!header)
				prom_header(prom_metrics[m].name,
					    prom_metrics[m].counter ?
					    "counter" : "gauge",
					    prom_metrics[m].help);
			header = true;
			prom_sample(prom_metrics[m].name, d, NULL, NULL);
			v = d->fig[prom_metrics[m].fig];
			switch (prom_metrics[m].unit) {
			case U_ONE:
				printf("%" PRIu64 "\n", v);
				break;
			case U_BLOCKS:
				printf("%" PRIu64 "\n",
				       v * d->fig[FIG_BLOCK_SIZE]);
				break;
			case U_META:
				printf("%" PRIu64 "\n", v * 4096);
				break;
			case U_MS:
				printf("%.3f\n", v / 1e3);
				break;
			case U_US:
				printf("%.6f\n", v / 1e6);
				break;
			case U_SAVED:
				printf("%" PRIu64 "\n", saved_bytes(d));
				break;
			}
		}
	}
}

static void free_device(struct device *d)
{
	size_t i;

	for (i = 0; i < d->nr_kv; i++) {
		free(d->kv[i].key);
		free(d->kv[i].value);
	}
	free(d->kv);
	free(d->status_buf);
	free(d->name);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "human", no_argument, NULL, 'H' },
		{ "human-readable", no_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { false, false, false };
	struct device *devs;
	char **names;
	size_t nr, nr_ok = 0, i;
	int opt, rc = 0;

	while ((opt = getopt_long(argc, argv, "HjpVh", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			o.human = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'p':
			o.prometheus = true;
			break;
		case 'V':
			printf("dedup_stats %s\n", DM_DEDUP_VERSION);
			return 0;
		case 'h':
			print_help(stdout);
			return 0;
		default:
			print_help(stderr);
			return 2;
		}
	}
	if (o.json && o.prometheus) {
		fprintf(stderr, "dedup_stats: --json or --prometheus, not both\n");
		return 2;
	}
	if (optind < argc) {
		nr = argc - optind;
		names = xrealloc(NULL, nr * sizeof(*names));
		for (i = 0; i < nr; i++) {
			const char *n = argv[optind + i];

			if (!strncmp(n, "/dev/mapper/", 12))
				n += 12;
			names[i] = xstrdup(n);
		}
	} else {
		names = list_devices(&nr);
	}

	devs = xrealloc(NULL, (nr + 1) * sizeof(*devs));
	for (i = 0; i < nr; i++) {
		struct device *d = &devs[nr_ok];

		memset(d, 0, sizeof(*d));
		d->name = names[i];
		if (read_device(d)) {
			free_device(d);
			rc = 1;
			continue;
		}
		nr_ok++;
	}
	if (o.json)
		print_json(devs, nr_ok);
	else if (o.prometheus)
		print_prometheus(devs, nr_ok);
	else if (nr_ok)
		print_table(devs, nr_ok, o.human);
	else if (!rc)
		fprintf(stderr, "dedup_stats: no dedup devices\n");
	for (i = 0; i < nr_ok; i++)
		free_device(&devs[i]);
	free(devs);
	free(names);
	return rc;
}
