/*
 * A strict JSON (RFC 8259) parser into a tree, for the small documents blazy reads from
 * outside (OCI image layouts). Rejected: anything the grammar does not allow (trailing
 * commas, comments, single quotes, leading zeros, NaN, a byte order mark, control bytes in
 * strings, text after the value), invalid UTF-8 (overlong forms, UTF-16 surrogates, beyond
 * U+10FFFF), unpaired \u surrogates, \u0000 (strings are C strings here), duplicate member
 * names in an object, nesting deeper than max_depth.
 */
#ifndef BLZ_UTIL_JSON_H
#define BLZ_UTIL_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

enum blz_json_type {
	BLZ_JSON_NULL,
	BLZ_JSON_FALSE,
	BLZ_JSON_TRUE,
	BLZ_JSON_NUMBER,
	BLZ_JSON_STRING,
	BLZ_JSON_ARRAY,
	BLZ_JSON_OBJECT,
};

struct blz_json {
	enum blz_json_type type;
	char *key;              /* the member's name when this value is in an object, else NULL */
	char *str;              /* STRING: the value, unescaped (UTF-8); NUMBER: its text */
	size_t len;             /* bytes in str */
	struct blz_json *items; /* ARRAY: the elements; OBJECT: the members, in order */
	size_t n;
};

#define BLZ_JSON_MAX_DEPTH 64

/*
 * Parses text[0..len) into *ret (free with blz_json_free). Returns 0, or -EINVAL with a
 * message in err, e.g. "expected ',' or '}' at line 3, column 7".
 */
int blz_json_parse(const char *text, size_t len, unsigned max_depth, struct blz_json **ret,
		   char *err, size_t errlen);
void blz_json_free(struct blz_json *v);

/* The member called key of an object; NULL if v is not an object or has no such member. */
const struct blz_json *blz_json_get(const struct blz_json *v, const char *key);
/* The value of a string, or NULL if v is NULL or not a string. */
const char *blz_json_string(const struct blz_json *v);
/* A number written as a non-negative integer (no fraction, no exponent) that fits 64 bits:
 * 0, else -EINVAL (not such a number) or -ERANGE (too large). */
int blz_json_u64(const struct blz_json *v, uint64_t *ret);
/* "null", "boolean", "number", "string", "array", "object" */
const char *blz_json_type_name(enum blz_json_type t);

/* Appends s as a JSON string literal that blz_json_parse accepts: '"' and '\\' escaped,
 * control bytes as \u00XX, valid UTF-8 as is, and each byte that is not part of valid UTF-8
 * as U+FFFD (so the text read back equals s exactly when s is valid UTF-8). */
void blz_json_append_str(struct blz_buf *out, const char *s);

#endif
