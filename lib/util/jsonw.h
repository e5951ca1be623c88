/* Writing JSON text into a blz_buf (the reading side is util/json.h; numbers and punctuation
 * with blz_buf_printf of util/strbuf.h). */
#ifndef BLZ_UTIL_JSONW_H
#define BLZ_UTIL_JSONW_H

#include "util/strbuf.h"

/* Appends s as a JSON string literal (blz_json_append_str of util/json.h), NULL as null. */
void blz_jsonw_str(struct blz_buf *b, const char *s);
/* Appends "true" or "false". */
void blz_jsonw_bool(struct blz_buf *b, int v);

#endif
