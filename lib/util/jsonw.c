/* JSON text into a blz_buf (jsonw.h). */
#include <stdarg.h>
#include <stdio.h>

#include "util/json.h"
#include "util/jsonw.h"

void blz_jsonw_raw(struct blz_buf *b, const char *fmt, ...)
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

void blz_jsonw_str(struct blz_buf *b, const char *s)
{
	if (s)
		blz_json_append_str(b, s);
	else
		blz_buf_append(b, "null", 4);
}

void blz_jsonw_bool(struct blz_buf *b, int v)
{
	if (v)
		blz_buf_append(b, "true", 4);
	else
		blz_buf_append(b, "false", 5);
}
