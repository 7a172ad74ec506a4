// SPDX-License-Identifier: GPL-2.0
/*
 * tab.c - /etc/deduptab (deduptab(5)): an entry's fields and options,
 * the devices it names (UUID=, PARTUUID=, LABEL= and PARTLABEL= as their
 * /dev/disk/by-* links), and the table line it loads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/dedup.h"
#include "dedup/setup.h"
#include "pdata/log.h"

/* The characters udev keeps in a /dev/disk/by-* link and a dm name. */
static bool udev_safe(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || strchr("#+-.:=@_", c) || c >= 0x80;
}

static int fail(char *err, const char *fmt, ...) __printf(2, 3);
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, DD_TAB_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

static const struct {
	const char *tag;
	const char *dir;
} tags[] = {
	{ "UUID=", "/dev/disk/by-uuid/" },
	{ "PARTUUID=", "/dev/disk/by-partuuid/" },
	{ "LABEL=", "/dev/disk/by-label/" },
	{ "PARTLABEL=", "/dev/disk/by-partlabel/" },
};

/*
 * A device as a path: an absolute path as it is, a TAG=value as the link
 * udev makes for it, the value encoded as udev does (\xNN for a byte it
 * does not keep).
 */
static int device(char *out, const char *what, const char *spec, char *err)
{
	size_t i, n;
	const char *v;

	if (spec[0] == '/') {
		if (strlen(spec) >= DD_TAB_PATH_MAX)
			return fail(err, "%s path too long", what);
		strcpy(out, spec);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(tags); i++)
		if (!strncmp(spec, tags[i].tag, strlen(tags[i].tag)))
			break;
	if (i == ARRAY_SIZE(tags))
		return fail(err, "%s \"%s\" is not an absolute path, UUID=, PARTUUID=, LABEL= or PARTLABEL=",
			    what, spec);
	v = spec + strlen(tags[i].tag);
	if (!*v)
		return fail(err, "%s \"%s\" has an empty value", what, spec);
	n = strlen(strcpy(out, tags[i].dir));
	for (; *v; v++) {
		if (n + 5 >= DD_TAB_PATH_MAX)
			return fail(err, "%s \"%s\" too long", what, spec);
		if (udev_safe(*v))
			out[n++] = *v;
		else
			n += sprintf(out + n, "\\x%02x", (unsigned char)*v);
	}
	out[n] = '\0';
	return 0;
}

/* A decimal number in min..max. */
static int number(const char *s, uint32_t min, uint32_t max, uint32_t *v)
{
	unsigned long long x;
	char *end;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] < '0' || s[0] > '9' ||
	    x < min || x > max)
		return -1;
	*v = x;
	return 0;
}

static const struct {
	const char *name;
	unsigned int flag;
} flags[] = {
	{ "verify", DD_TAB_VERIFY },
	{ "blocking_commit", DD_TAB_BLOCKING_COMMIT },
	{ "no_discard_passdown", DD_TAB_NO_DISCARD_PASSDOWN },
	{ "error_if_no_space", DD_TAB_ERROR_IF_NO_SPACE },
	{ "format", DD_TAB_FORMAT },
	{ "nofail", DD_TAB_NOFAIL },
	{ "noauto", DD_TAB_NOAUTO },
};

/* An option with a value: key=value. */
static int valued(struct dd_tab_entry *e, const char *key, const char *v,
		  char *err)
{
	uint64_t bytes;

	if (!strcmp(key, "block_size")) {
		if (dd_parse_size(v, &bytes) || !dedup_data_block_size_ok(bytes))
			return fail(err, "block_size=%s: not a power of two from %u to %u bytes",
				    v, DEDUP_MIN_DATA_BLOCK_SIZE,
				    DEDUP_MAX_DATA_BLOCK_SIZE);
		e->block_size = bytes;
	} else if (!strcmp(key, "hash")) {
		if (dd_hash_lookup(v) == DD_HASH_NONE)
			return fail(err, "hash=%s: unknown hash (sha256, blake2b-256, xxhash64)",
				    v);
		snprintf(e->hash, sizeof(e->hash), "%s", v);
	} else if (!strcmp(key, "size")) {
		if (dd_parse_size(v, &bytes) || bytes < 512)
			return fail(err, "size=%s: not a size", v);
		e->size = bytes;
	} else if (!strcmp(key, "commit_period_ms")) {
		if (number(v, 1, DEDUP_MAX_COMMIT_PERIOD_MS, &e->commit_period_ms))
			return fail(err, "commit_period_ms=%s: not a number from 1 to %u",
				    v, DEDUP_MAX_COMMIT_PERIOD_MS);
	} else if (!strcmp(key, "max_open_mb")) {
		if (number(v, 1, DEDUP_MAX_MAX_OPEN_MB, &e->max_open_mb))
			return fail(err, "max_open_mb=%s: not a number from 1 to %u",
				    v, DEDUP_MAX_MAX_OPEN_MB);
	} else if (!strcmp(key, "warn_data") || !strcmp(key, "warn_metadata")) {
		if (number(v, 1, 100, key[5] == 'd' ? &e->warn_data :
			   &e->warn_metadata))
			return fail(err, "%s=%s: not a percentage from 1 to 100",
				    key, v);
	} else {
		return -2;
	}
	return 0;
}

static int one_option(struct dd_tab_entry *e, char *opt, char *err)
{
	char *v = strchr(opt, '=');
	size_t i;
	int r;

	if (!*opt)
		return fail(err, "empty option");
	if (!strncmp(opt, "x-systemd.", 10))
		return 0;
	if (v) {
		*v++ = '\0';
		r = valued(e, opt, v, err);
		if (r != -2)
			return r;
	}
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		if (strcmp(opt, flags[i].name))
			continue;
		if (v)
			return fail(err, "option \"%s\" takes no value", opt);
		e->flags |= flags[i].flag;
		return 0;
	}
	if (!v && valued(e, opt, "", err) != -2)
		return fail(err, "option \"%s\" needs a value", opt);
	return fail(err, "unknown option \"%s\"", opt);
}

int dd_tab_entry(struct dd_tab_entry *e, const char *name, const char *meta,
		 const char *data, const char *options, char *err)
{
	char *opts, *o, *save = NULL;
	size_t i, n = strlen(name);
	int r = 0;

	memset(e, 0, sizeof(*e));
	if (!n || n > DD_TAB_NAME_MAX || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return fail(err, "bad name \"%s\": 1 to %u of letters, digits and #+-.:=@_",
			    name, DD_TAB_NAME_MAX);
	for (i = 0; i < n; i++)
		if (!udev_safe(name[i]) || (unsigned char)name[i] >= 0x80)
			return fail(err, "bad name \"%s\": 1 to %u of letters, digits and #+-.:=@_",
				    name, DD_TAB_NAME_MAX);
	strcpy(e->name, name);
	if (meta && device(e->meta, "metadata device", meta, err))
		return -1;
	if (data && device(e->data, "data device", data, err))
		return -1;
	if (meta && data && !strcmp(e->meta, e->data))
		return fail(err, "the metadata and data devices are the same");
	if (!options || !strcmp(options, "-"))
		return 0;
	opts = strdup(options);
	if (!opts)
		pd_oom();
	for (o = strtok_r(opts, ",", &save); o && !r;
	     o = strtok_r(NULL, ",", &save))
		r = one_option(e, o, err);
	if (!r && (options[0] == ',' || strstr(options, ",,") ||
		   options[strlen(options) - 1] == ','))
		r = fail(err, "empty option");
	free(opts);
	return r;
}

/* The good entries read so far, by name. */
struct seen {
	struct {
		char name[DD_TAB_NAME_MAX + 1];
		unsigned int line;
	} *v;
	size_t nr, cap;
};

static int seen_before(struct seen *s, const char *name, char *err)
{
	size_t i;

	for (i = 0; i < s->nr; i++)
		if (!strcmp(s->v[i].name, name))
			return fail(err, "%s is already on line %u", name,
				    s->v[i].line);
	return 0;
}

static void seen_add(struct seen *s, const char *name, unsigned int line)
{
	pd_grow((void **)&s->v, &s->cap, s->nr + 1, sizeof(*s->v));
	strcpy(s->v[s->nr].name, name);
	s->v[s->nr++].line = line;
}

/* One line: 1 an entry in e, 0 none, -1 bad (the reason in err). */
static int tab_line(char *line, struct dd_tab_entry *e, struct seen *s,
		    char *err)
{
	char *f[5], *save = NULL;
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	for (f[0] = strtok_r(line, " \t", &save); f[n] && n < 4;)
		f[++n] = strtok_r(NULL, " \t", &save);
	if (!n || f[0][0] == '#')
		return 0;
	if (n < 3)
		return fail(err, "expected NAME METADATA-DEVICE DATA-DEVICE [OPTIONS]");
	if (n == 4 && f[4])
		return fail(err, "too many fields (options are one field, comma-separated)");
	if (dd_tab_entry(e, f[0], f[1], f[2], n == 4 ? f[3] : NULL, err) ||
	    seen_before(s, e->name, err))
		return -1;
	return 1;
}

int dd_tab_read(const char *path, unsigned int *bad,
		int (*fn)(const struct dd_tab_entry *e, void *ctx), void *ctx)
{
	struct seen s = { 0 };
	struct dd_tab_entry e;
	char err[DD_TAB_ERR_MAX], *line = NULL;
	size_t cap = 0;
	unsigned int nr = 0;
	int r = 0, got;
	FILE *f;

	*bad = 0;
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", pd_prog, path, strerror(errno));
		return -1;
	}
	while (!r && getline(&line, &cap, f) >= 0) {
		nr++;
		got = tab_line(line, &e, &s, err);
		if (got < 0) {
			fprintf(stderr, "%s: %s:%u: %s\n", pd_prog, path, nr,
				err);
			(*bad)++;
		} else if (got) {
			e.line = nr;
			seen_add(&s, e.name, nr);
			r = fn(&e, ctx);
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: %s: read error\n", pd_prog, path);
		r = -1;
	}
	fclose(f);
	free(line);
	free(s.v);
	return r;
}

const char *dd_dev_path(const char *path, char *buf, size_t len)
{
	const char *dir = getenv("DEDUP_DEV_DIR");

	if (!dir || !*dir || strncmp(path, "/dev/", 5))
		return path;
	snprintf(buf, len, "%s/%s", dir, path + 5);
	return buf;
}

int dd_tab_table(const struct dd_tab_entry *e, uint64_t sectors,
		 const char *meta, const char *data, uint32_t block_size,
		 const char *hash, char *buf, size_t len)
{
	char feat[160] = "";
	size_t i, n = 0, words = 0;

	if (e->commit_period_ms) {
		n += sprintf(feat + n, " commit_period_ms %u",
			     e->commit_period_ms);
		words += 2;
	}
	if (e->max_open_mb) {
		n += sprintf(feat + n, " max_open_mb %u", e->max_open_mb);
		words += 2;
	}
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		if (!(e->flags & flags[i].flag & DD_TAB_FEATURES))
			continue;
		n += sprintf(feat + n, " %s", flags[i].name);
		words++;
	}
	n = snprintf(buf, len, "0 %llu dedup %s %s %u %s",
		     (unsigned long long)sectors, meta, data, block_size, hash);
	if (words && n < len)
		n += snprintf(buf + n, len - n, " %zu%s", words, feat);
	return n < len ? 0 : -1;
}
