/* SPDX-License-Identifier: GPL-2.0 */
/*
 * json.h - a streaming JSON tokenizer, enough to read dedup_dump's output
 * back without holding it: a dump of a large device is gigabytes.
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

#endif /* DEDUP_JSON_H */
