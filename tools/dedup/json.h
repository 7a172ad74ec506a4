/* SPDX-License-Identifier: GPL-2.0 */
/*
 * json.h - JSON both ways, streaming: a tokenizer, enough to read
 * dedup_dump's output back without holding it (a dump of a large device
 * is gigabytes), and the writer of every JSON document the tools print.
 */
#ifndef DEDUP_JSON_H
#define DEDUP_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum dd_json_tok {
	DD_J_EOF,
	DD_J_LBRACE,
	DD_J_RBRACE,
	DD_J_LBRACKET,
	DD_J_RBRACKET,
	DD_J_COLON,
	DD_J_COMMA,
	DD_J_STRING,
	DD_J_NUMBER,
	DD_J_TRUE,
	DD_J_FALSE,
	DD_J_NULL,
	DD_J_ERROR,
};

struct dd_json {
	FILE *f;
	const char *path;
	uint64_t line;
	char *buf;		/* text of the last string or number */
	size_t len;
	size_t cap;
	bool error;		/* reported */
};

void dd_json_init(struct dd_json *j, FILE *f, const char *path);
void dd_json_free(struct dd_json *j);
enum dd_json_tok dd_json_next(struct dd_json *j);
/* Reports "path:line: message" and marks the stream failed. */
void dd_json_fail(struct dd_json *j, const char *fmt, ...) __printf(2, 3);
/* Skips the rest of a value whose first token was tok; -1 on error. */
int dd_json_skip(struct dd_json *j, enum dd_json_tok tok);
/* The next token must be want; -1 (reported) if not. */
int dd_json_expect(struct dd_json *j, enum dd_json_tok want, const char *what);
/* The number in j->buf as an unsigned integer; -1 (reported) if not. */
int dd_json_u64(struct dd_json *j, uint64_t *v);
/*
 * The next member of an object whose '{' was read, up to its ':': 1 with
 * its name in key (len bytes at most, cut), its value next; 0 at the
 * closing '}'; -1 (reported) on anything else.
 */
int dd_json_member(struct dd_json *j, char *key, size_t len);

/*
 * The writer.  The members of a container opened "pretty" stand on lines
 * of their own, indented two spaces a level, and its closing bracket on
 * a line of its own; those of a container opened "oneline" follow each
 * other on its line, ", " between them.  An empty container is {} or [].
 * key names a member of an object; NULL in an array and at the top.
 */
#define DD_JW_MAX_DEPTH	8

struct dd_jw_level {
	char close;		/* '}' or ']' */
	bool oneline;
	bool any;		/* a member written */
};

struct dd_jw {
	FILE *f;
	int depth;
	struct dd_jw_level level[DD_JW_MAX_DEPTH];
};

void dd_jw_init(struct dd_jw *w, FILE *f);
/* Opens an object ('{') or an array ('['). */
void dd_jw_open(struct dd_jw *w, const char *key, char bracket, bool oneline);
void dd_jw_close(struct dd_jw *w);
void dd_jw_string(struct dd_jw *w, const char *key, const char *s);
void dd_jw_u64(struct dd_jw *w, const char *key, uint64_t v);
void dd_jw_bool(struct dd_jw *w, const char *key, bool v);
void dd_jw_null(struct dd_jw *w, const char *key);
/* A number printed with fmt, such as "%.6f". */
void dd_jw_number(struct dd_jw *w, const char *key, const char *fmt, ...)
	__printf(3, 4);
/* Closes whatever is open and ends the document with a newline. */
void dd_jw_end(struct dd_jw *w);

#endif /* DEDUP_JSON_H */
