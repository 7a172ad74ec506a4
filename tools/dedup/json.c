// SPDX-License-Identifier: GPL-2.0
/*
 * json.c - streaming JSON tokenizer (RFC 8259 tokens; strings keep their
 * escapes but for \" and \\, which the dump never needs) and writer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/json.h"
#include "pdata/log.h"

void dd_json_init(struct dd_json *j, FILE *f, const char *path)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->path = path;
	j->line = 1;
	j->cap = 64;
	j->buf = pd_malloc(j->cap);
}

void dd_json_free(struct dd_json *j)
{
	free(j->buf);
	j->buf = NULL;
}

void dd_json_fail(struct dd_json *j, const char *fmt, ...)
{
	va_list ap;

	if (j->error)
		return;
	j->error = true;
	fprintf(stderr, "%s:%llu: ", j->path, (unsigned long long)j->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void put(struct dd_json *j, int c)
{
	if (j->len + 2 > j->cap) {
		j->cap *= 2;
		j->buf = pd_realloc(j->buf, j->cap);
	}
	j->buf[j->len++] = c;
	j->buf[j->len] = '\0';
}

static enum dd_json_tok word(struct dd_json *j, int c)
{
	static const struct {
		const char *w;
		enum dd_json_tok t;
	} words[] = {
		{ "true", DD_J_TRUE }, { "false", DD_J_FALSE },
		{ "null", DD_J_NULL },
	};
	size_t i;

	j->len = 0;
	put(j, c);
	while ((c = getc(j->f)) != EOF && c >= 'a' && c <= 'z')
		put(j, c);
	if (c != EOF)
		ungetc(c, j->f);
	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (!strcmp(j->buf, words[i].w))
			return words[i].t;
	dd_json_fail(j, "unexpected \"%s\"", j->buf);
	return DD_J_ERROR;
}

enum dd_json_tok dd_json_next(struct dd_json *j)
{
	int c;

	if (j->error)
		return DD_J_ERROR;
	do {
		c = getc(j->f);
		if (c == '\n')
			j->line++;
	} while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
	switch (c) {
	case EOF:
		return DD_J_EOF;
	case '{':
		return DD_J_LBRACE;
	case '}':
		return DD_J_RBRACE;
	case '[':
		return DD_J_LBRACKET;
	case ']':
		return DD_J_RBRACKET;
	case ':':
		return DD_J_COLON;
	case ',':
		return DD_J_COMMA;
	case '"':
		j->len = 0;
		put(j, '\0');
		j->len = 0;
		while ((c = getc(j->f)) != '"') {
			if (c == EOF || c == '\n') {
				dd_json_fail(j, "unterminated string");
				return DD_J_ERROR;
			}
			if (c == '\\') {
				c = getc(j->f);
				if (c != '"' && c != '\\' && c != '/') {
					dd_json_fail(j, "unsupported escape in a string");
					return DD_J_ERROR;
				}
			}
			put(j, c);
		}
		return DD_J_STRING;
	default:
		break;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		j->len = 0;
		put(j, c);
		while ((c = getc(j->f)) != EOF &&
		       ((c >= '0' && c <= '9') || c == '.' || c == 'e' ||
			c == 'E' || c == '+' || c == '-'))
			put(j, c);
		if (c != EOF)
			ungetc(c, j->f);
		return DD_J_NUMBER;
	}
	if (c >= 'a' && c <= 'z')
		return word(j, c);
	dd_json_fail(j, "unexpected character '%c'", c);
	return DD_J_ERROR;
}

int dd_json_skip(struct dd_json *j, enum dd_json_tok tok)
{
	int depth = 0;

	for (;;) {
		switch (tok) {
		case DD_J_LBRACE:
		case DD_J_LBRACKET:
			depth++;
			break;
		case DD_J_RBRACE:
		case DD_J_RBRACKET:
			depth--;
			break;
		case DD_J_EOF:
			dd_json_fail(j, "unexpected end of file");
			return -1;
		case DD_J_ERROR:
			return -1;
		default:
			break;
		}
		if (depth <= 0)
			return depth < 0 ? -1 : 0;
		tok = dd_json_next(j);
	}
}

int dd_json_expect(struct dd_json *j, enum dd_json_tok want, const char *what)
{
	enum dd_json_tok t = dd_json_next(j);

	if (t == want)
		return 0;
	dd_json_fail(j, "expected %s", what);
	return -1;
}

int dd_json_u64(struct dd_json *j, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(j->buf, &end, 10);
	if (errno || *end || j->buf[0] == '-') {
		dd_json_fail(j, "\"%s\" is not an unsigned integer", j->buf);
		return -1;
	}
	return 0;
}

int dd_json_member(struct dd_json *j, char *key, size_t len)
{
	enum dd_json_tok t;

	do {
		t = dd_json_next(j);
		if (t == DD_J_RBRACE)
			return 0;
	} while (t == DD_J_COMMA);
	if (t != DD_J_STRING) {
		dd_json_fail(j, "expected a member name");
		return -1;
	}
	snprintf(key, len, "%s", j->buf);
	return dd_json_expect(j, DD_J_COLON, "':'") ? -1 : 1;
}

/* ------------------------------------------------------------------ */
/* writer */

void dd_jw_init(struct dd_jw *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
}

static void jw_quoted(struct dd_jw *w, const char *s)
{
	putc('"', w->f);
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			fprintf(w->f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(w->f, "\\u%04x", ch);
		else
			putc(ch, w->f);
	}
	putc('"', w->f);
}

/* What goes before a value: the separator, the indent, the member name. */
static void jw_begin(struct dd_jw *w, const char *key)
{
	if (w->depth) {
		struct dd_jw_level *l = &w->level[w->depth - 1];

		if (l->oneline)
			fputs(l->any ? ", " : "", w->f);
		else
			fprintf(w->f, "%s\n%*s", l->any ? "," : "",
				2 * w->depth, "");
		l->any = true;
	}
	if (key) {
		jw_quoted(w, key);
		fputs(": ", w->f);
	}
}

void dd_jw_open(struct dd_jw *w, const char *key, char bracket, bool oneline)
{
	if (w->depth == DD_JW_MAX_DEPTH)
		abort();
	jw_begin(w, key);
	putc(bracket, w->f);
	w->level[w->depth].close = bracket == '{' ? '}' : ']';
	w->level[w->depth].oneline = oneline;
	w->level[w->depth].any = false;
	w->depth++;
}

void dd_jw_close(struct dd_jw *w)
{
	struct dd_jw_level *l = &w->level[--w->depth];

	if (l->any && !l->oneline)
		fprintf(w->f, "\n%*s", 2 * w->depth, "");
	putc(l->close, w->f);
}

void dd_jw_string(struct dd_jw *w, const char *key, const char *s)
{
	jw_begin(w, key);
	jw_quoted(w, s);
}

void dd_jw_u64(struct dd_jw *w, const char *key, uint64_t v)
{
	jw_begin(w, key);
	fprintf(w->f, "%llu", (unsigned long long)v);
}

void dd_jw_bool(struct dd_jw *w, const char *key, bool v)
{
	jw_begin(w, key);
	fputs(v ? "true" : "false", w->f);
}

void dd_jw_null(struct dd_jw *w, const char *key)
{
	jw_begin(w, key);
	fputs("null", w->f);
}

void dd_jw_number(struct dd_jw *w, const char *key, const char *fmt, ...)
{
	va_list ap;

	jw_begin(w, key);
	va_start(ap, fmt);
	vfprintf(w->f, fmt, ap);
	va_end(ap);
}

void dd_jw_end(struct dd_jw *w)
{
	while (w->depth)
		dd_jw_close(w);
	putc('\n', w->f);
}
