#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void oom(void)
{
	fputs("blazy: error: out of memory\n", stderr);
	abort();
}

void *blz_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *blz_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *blz_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *blz_xstrdup(const char *s)
{
	return blz_xmemdup(s, strlen(s) + 1);
}

void *blz_xmemdup(const void *p, size_t n)
{
	void *q = blz_xmalloc(n);
	if (n)
		memcpy(q, p, n);
	return q;
}

void blz_buf_reserve(struct blz_buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	size_t nc = b->cap ? b->cap * 2 : 256;
	while (nc < b->len + extra)
		nc *= 2;
	b->data = blz_xrealloc(b->data, nc);
	b->cap = nc;
}

void blz_buf_append(struct blz_buf *b, const void *p, size_t n)
{
	blz_buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void *blz_buf_grow(struct blz_buf *b, size_t n)
{
	blz_buf_reserve(b, n);
	void *p = b->data + b->len;
	memset(p, 0, n);
	b->len += n;
	return p;
}

void blz_buf_release(struct blz_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int blz_errf(char *err, size_t errlen, int r, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

void blz_log_callv(void (*log)(void *ctx, const char *msg), void *ctx, const char *fmt,
		   va_list ap)
{
	if (!log)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log(ctx, msg);
}

void blz_log_callf(void (*log)(void *ctx, const char *msg), void *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	blz_log_callv(log, ctx, fmt, ap);
	va_end(ap);
}

void blz_buf_printf(struct blz_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	char *p = blz_buf_grow(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len--; /* drop the NUL */
}

size_t blz_split_lines(char *text, size_t len, char ***ret)
{
	VEC(char *) lines = { 0 };
	for (char *p = text, *end = text + len, *nl; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		*nl = '\0';
		if (nl > p)
			vec_push(&lines, p);
	}
	*ret = lines.v;
	return lines.len;
}
