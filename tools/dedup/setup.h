/* SPDX-License-Identifier: GPL-2.0 */
/*
 * setup.h - what dedup_setup knows of /etc/deduptab (deduptab(5)): its
 * entries and their options, the devices they name, the table line an
 * entry loads, and the systemd units its generator writes for them.
 */
#ifndef DEDUP_SETUP_H
#define DEDUP_SETUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define DD_TAB_PATH		"/etc/deduptab"
/* where the package installs dedup-setup.target */
#define DD_UNIT_DIR		"/usr/lib/systemd/system"
/* a dm name (DM_NAME_LEN is 128 with its NUL) */
#define DD_TAB_NAME_MAX		127
#define DD_TAB_PATH_MAX		4096
#define DD_TAB_ERR_MAX		256

/* Options without a value: the target's feature words, then ours. */
enum {
	DD_TAB_VERIFY			= 1 << 0,
	DD_TAB_BLOCKING_COMMIT		= 1 << 1,
	DD_TAB_NO_DISCARD_PASSDOWN	= 1 << 2,
	DD_TAB_ERROR_IF_NO_SPACE	= 1 << 3,
	DD_TAB_FEATURES			= (1 << 4) - 1,
	DD_TAB_FORMAT			= 1 << 4,
	DD_TAB_NOFAIL			= 1 << 5,
	DD_TAB_NOAUTO			= 1 << 6,
};

/* One line of deduptab, or the arguments of "dedup_setup attach". */
struct dd_tab_entry {
	char name[DD_TAB_NAME_MAX + 1];
	/* the devices as /dev paths (UUID= and the like resolved) */
	char meta[DD_TAB_PATH_MAX];
	char data[DD_TAB_PATH_MAX];
	uint32_t block_size;	/* 0: the superblock's, or 4096 */
	char hash[32];		/* "": the superblock's, or sha256 */
	uint64_t size;		/* logical bytes; 0: the data device's */
	uint32_t commit_period_ms;	/* 0: the target's default */
	uint32_t max_open_mb;		/* 0: the target's default */
	/* percentages of use the monitor warns at; 0: its default */
	uint32_t warn_data, warn_metadata;
	unsigned int flags;
	unsigned int line;	/* in deduptab; 0 from the command line */
};

/*
 * Fills e from its fields (the device specifications and the options
 * may be NULL): 0, or -1 with the reason in err (DD_TAB_ERR_MAX bytes).
 */
int dd_tab_entry(struct dd_tab_entry *e, const char *name, const char *meta,
		 const char *data, const char *options, char *err);

/*
 * Reads deduptab at path, calling fn for each good entry (a non-zero
 * return stops the reading and is returned).  A bad line is reported on
 * stderr as "prog: path:line: reason" and skipped; *bad counts them.
 * -1 (reported) if the file cannot be read.
 */
int dd_tab_read(const char *path, unsigned int *bad,
		int (*fn)(const struct dd_tab_entry *e, void *ctx), void *ctx);

/*
 * The path to open for a /dev path: under $DEDUP_DEV_DIR instead of /dev
 * when that is set (for the tests), else the path itself.
 */
const char *dd_dev_path(const char *path, char *buf, size_t len);

/*
 * The table line of entry e for a logical device of that many sectors, its
 * devices at meta and data, and the block size and hash it uses: "0
 * SECTORS dedup META DATA BS HASH [N FEATURES...]".  -1 if len is short.
 */
int dd_tab_table(const struct dd_tab_entry *e, uint64_t sectors,
		 const char *meta, const char *data, uint32_t block_size,
		 const char *hash, char *buf, size_t len);

/* systemd-escape: a unit name part; -1 if len is short. */
int dd_unit_escape(const char *s, char *buf, size_t len);
/* systemd-escape --path; -1 if len is short or path is not absolute. */
int dd_unit_escape_path(const char *path, char *buf, size_t len);

/*
 * Writes the unit dedup-setup@NAME.service of e into dir, and the links
 * that pull it in, for a dedup_setup at exe: 0, or -1 reported.
 */
int dd_unit_generate(const char *dir, const struct dd_tab_entry *e,
		     const char *exe, const char *tab);

/*
 * dedup_setup monitor [OPTIONS] [NAME...] (argv[0] is "monitor"), with
 * deduptab at tab and grow_fn as dedup_setup grow: runs until SIGTERM,
 * SIGINT or SIGHUP; 0, or 1 on a usage error.
 */
int dd_monitor(int argc, char **argv, const char *tab,
	       int (*grow_fn)(const char *name));

#endif /* DEDUP_SETUP_H */
