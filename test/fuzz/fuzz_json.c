/* The JSON parser (lib/util/json.h), and the accessors on whatever it accepts. */
#include <string.h>

#include "fuzz.h"
#include "util/json.h"

static size_t visit(const struct blz_json *v, unsigned depth)
{
	size_t n = 1;
	uint64_t u;
	(void)blz_json_type_name(v->type);
	(void)blz_json_u64(v, &u);
	if (v->str && strlen(v->str) > v->len)
		__builtin_trap(); /* str holds len bytes and a NUL, no NUL before */
	for (size_t i = 0; i < v->n; i++) {
		n += visit(&v->items[i], depth + 1);
		if (v->type == BLZ_JSON_OBJECT && blz_json_get(v, v->items[i].key) == NULL)
			__builtin_trap();
	}
	if (depth > BLZ_JSON_MAX_DEPTH)
		__builtin_trap();
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blz_json *j;
	char err[256];
	if (blz_json_parse((const char *)data, size, BLZ_JSON_MAX_DEPTH, &j, err, sizeof(err)) < 0)
		return 0;
	visit(j, 0);
	(void)blz_json_string(blz_json_get(j, "mediaType"));
	blz_json_free(j);
	return 0;
}
