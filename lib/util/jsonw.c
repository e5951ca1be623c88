/* JSON text into a blz_buf (jsonw.h). */

#include "util/json.h"
#include "util/jsonw.h"

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
