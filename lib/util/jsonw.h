/* Writing JSON text into a blz_buf (the reading side is util/json.h). */
#ifndef BLZ_UTIL_JSONW_H
#define BLZ_UTIL_JSONW_H

#include "util/strbuf.h"

/* Appends s as a JSON string literal: quotes, \" \\ \n \r \t escaped, other bytes below
 * 0x20 and 0x7f as \u00XX; bytes from 0x80 are copied (UTF-8 stays UTF-8). NULL as null. */
void blz_jsonw_str(struct blz_buf *b, const char *s);
/* Appends printf-formatted text (numbers, punctuation) as it is. */
void blz_jsonw_raw(struct blz_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "true" or "false". */
void blz_jsonw_bool(struct blz_buf *b, int v);

#endif
