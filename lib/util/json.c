/* Strict JSON parser; see json.h. Recursive descent, depth-limited. */
#include "util/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/strbuf.h"

struct parser {
	const unsigned char *p, *start, *end;
	unsigned depth, max_depth;
	char *err;
	size_t errlen;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct parser *ps, const char *fmt, ...)
{
	if (ps->failed)
		return -EINVAL;
	size_t line = 1, col = 1;
	for (const unsigned char *q = ps->start; q < ps->p; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else if ((*q & 0xc0) != 0x80) { /* count characters, not UTF-8 bytes */
			col++;
		}
	}
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < ps->errlen)
		snprintf(ps->err + n, ps->errlen - (size_t)n, " at line %zu, column %zu", line, col);
	ps->failed = true;
	return -EINVAL;
}

/* What is at the current position, for messages. */
static const char *what(const struct parser *ps, char buf[16])
{
	if (ps->p == ps->end)
		return "the end of the text";
	unsigned char c = *ps->p;
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02x", c);
	return buf;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static void put_utf8(struct blz_buf *b, uint32_t c)
{
	uint8_t u[4];
	size_t n;

	if (c < 0x80) {
		u[0] = (uint8_t)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (uint8_t)(0xc0 | c >> 6);
		u[1] = (uint8_t)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (uint8_t)(0xe0 | c >> 12);
		u[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | c >> 18);
		u[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (uint8_t)(0x80 | (c & 0x3f));
		n = 4;
	}
	blz_buf_append(b, u, n);
}

/* The length of the valid UTF-8 sequence (2 to 4 bytes) at p, or 0 (RFC 3629's table). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* nothing beyond U+10FFFF */
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static int hex4(struct parser *ps, uint32_t *ret)
{
	uint32_t v = 0;

	if (ps->end - ps->p < 4)
		return bad(ps, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		unsigned char c = ps->p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return bad(ps, "invalid \\u escape");
		v = v << 4 | (uint32_t)d;
	}
	ps->p += 4;
	*ret = v;
	return 0;
}

/* A string, the opening quote at ps->p; its value (NUL-terminated) into b. */
static int parse_string(struct parser *ps, struct blz_buf *b)
{
	char w[16];

	ps->p++;
	for (;;) {
		const unsigned char *run = ps->p;
		while (ps->p < ps->end && *ps->p >= 0x20 && *ps->p < 0x80 && *ps->p != '"' &&
		       *ps->p != '\\')
			ps->p++;
		blz_buf_append(b, run, (size_t)(ps->p - run));
		if (ps->p == ps->end)
			return bad(ps, "unterminated string");
		unsigned char c = *ps->p;
		if (c == '"') {
			ps->p++;
			blz_buf_append(b, "", 1);
			b->len--;
			return 0;
		}
		if (c < 0x20)
			return bad(ps, "control character %s in a string", what(ps, w));
		if (c >= 0x80) {
			size_t n = utf8_len(ps->p, ps->end);
			if (!n)
				return bad(ps, "invalid UTF-8");
			blz_buf_append(b, ps->p, n);
			ps->p += n;
			continue;
		}
		/* a backslash */
		ps->p++;
		if (ps->p == ps->end)
			return bad(ps, "unterminated string");
		c = *ps->p++;
		const char *simple = strchr("\"\\/bfnrt", c);
		if (c && simple) {
			static const char val[] = "\"\\/\b\f\n\r\t";
			blz_buf_append(b, &val[simple - "\"\\/bfnrt"], 1);
			continue;
		}
		if (c != 'u') {
			ps->p--;
			return bad(ps, "invalid escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
		}
		uint32_t cp, lo;
		if (hex4(ps, &cp) < 0)
			return -EINVAL;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return bad(ps, "unpaired low surrogate \\u%04x", cp);
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
				return bad(ps, "unpaired high surrogate \\u%04x", cp);
			ps->p += 2;
			if (hex4(ps, &lo) < 0)
				return -EINVAL;
			if (lo < 0xdc00 || lo > 0xdfff)
				return bad(ps, "high surrogate \\u%04x followed by \\u%04x", cp, lo);
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (!cp)
			return bad(ps, "\\u0000 in a string is not supported");
		put_utf8(b, cp);
	}
}

static bool is_digit(const struct parser *ps)
{
	return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static int parse_number(struct parser *ps, struct blz_json *v)
{
	const unsigned char *s = ps->p;
	char w[16];

	if (*ps->p == '-')
		ps->p++;
	if (!is_digit(ps))
		return bad(ps, "expected a digit, found %s", what(ps, w));
	if (*ps->p++ == '0' && is_digit(ps))
		return bad(ps, "leading zero in a number");
	while (is_digit(ps))
		ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!is_digit(ps))
			return bad(ps, "expected a digit after '.', found %s", what(ps, w));
		while (is_digit(ps))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!is_digit(ps))
			return bad(ps, "expected a digit in the exponent, found %s", what(ps, w));
		while (is_digit(ps))
			ps->p++;
	}
	v->type = BLZ_JSON_NUMBER;
	v->len = (size_t)(ps->p - s);
	v->str = blz_xmalloc(v->len + 1);
	memcpy(v->str, s, v->len);
	v->str[v->len] = '\0';
	return 0;
}

static int parse_value(struct parser *ps, struct blz_json *v);

static int cmp_keys(const void *a, const void *b)
{
	return strcmp((*(const struct blz_json *const *)a)->key,
		      (*(const struct blz_json *const *)b)->key);
}

/* Duplicate names: sorted, so that a huge object costs n log n, not n^2. */
static int check_duplicates(struct parser *ps, struct blz_json *obj)
{
	if (obj->n < 2)
		return 0;
	struct blz_json **s = blz_xmalloc(obj->n * sizeof(*s));
	int r = 0;

	for (size_t i = 0; i < obj->n; i++)
		s[i] = &obj->items[i];
	qsort(s, obj->n, sizeof(*s), cmp_keys);
	for (size_t i = 1; i < obj->n && !r; i++)
		if (!strcmp(s[i - 1]->key, s[i]->key))
			r = bad(ps, "duplicate member name \"%.64s\" in the object ending", s[i]->key);
	free(s);
	return r;
}

/* An array or an object, its opening bracket at ps->p. */
static int parse_container(struct parser *ps, struct blz_json *v, bool object)
{
	VEC(struct blz_json) items = { 0 };
	char close = object ? '}' : ']', w[16];
	int r = 0;

	if (++ps->depth > ps->max_depth)
		return bad(ps, "nesting deeper than %u levels", ps->max_depth);
	v->type = object ? BLZ_JSON_OBJECT : BLZ_JSON_ARRAY;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		struct blz_json item = { 0 };
		char *key = NULL;
		if (object) {
			struct blz_buf kb = { 0 };
			if (ps->p == ps->end || *ps->p != '"') {
				r = bad(ps, "expected a member name (a string), found %s", what(ps, w));
				break;
			}
			r = parse_string(ps, &kb);
			key = (char *)kb.data;
			if (r < 0) {
				free(key);
				break;
			}
			skip_ws(ps);
			if (ps->p == ps->end || *ps->p != ':') {
				free(key);
				r = bad(ps, "expected ':', found %s", what(ps, w));
				break;
			}
			ps->p++;
			skip_ws(ps);
		}
		r = parse_value(ps, &item);
		item.key = key;
		vec_push(&items, item);
		if (r < 0)
			break;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			skip_ws(ps);
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			break;
		}
		r = bad(ps, "expected ',' or '%c', found %s", close, what(ps, w));
		break;
	}
	v->items = items.v;
	v->n = items.len;
	if (r == 0 && object)
		r = check_duplicates(ps, v);
	ps->depth--;
	return r;
}

static int literal(struct parser *ps, const char *word, enum blz_json_type t, struct blz_json *v)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return bad(ps, "invalid literal (expected '%s')", word);
	ps->p += n;
	v->type = t;
	return 0;
}

static int parse_value(struct parser *ps, struct blz_json *v)
{
	char w[16];

	if (ps->p == ps->end)
		return bad(ps, "expected a value, found the end of the text");
	switch (*ps->p) {
	case '{':
		return parse_container(ps, v, true);
	case '[':
		return parse_container(ps, v, false);
	case '"': {
		struct blz_buf b = { 0 };
		int r = parse_string(ps, &b);
		v->type = BLZ_JSON_STRING;
		v->str = (char *)b.data;
		v->len = b.len;
		if (!v->str)
			v->str = blz_xstrdup("");
		return r;
	}
	case 't':
		return literal(ps, "true", BLZ_JSON_TRUE, v);
	case 'f':
		return literal(ps, "false", BLZ_JSON_FALSE, v);
	case 'n':
		return literal(ps, "null", BLZ_JSON_NULL, v);
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return parse_number(ps, v);
		return bad(ps, "expected a value, found %s", what(ps, w));
	}
}

static void release(struct blz_json *v)
{
	for (size_t i = 0; i < v->n; i++)
		release(&v->items[i]);
	free(v->items);
	free(v->key);
	free(v->str);
}

void blz_json_free(struct blz_json *v)
{
	if (!v)
		return;
	release(v);
	free(v);
}

int blz_json_parse(const char *text, size_t len, unsigned max_depth, struct blz_json **ret,
		   char *err, size_t errlen)
{
	struct parser ps = {
		.p = (const unsigned char *)text,
		.start = (const unsigned char *)text,
		.end = (const unsigned char *)text + len,
		.max_depth = max_depth,
		.err = err,
		.errlen = errlen,
	};
	struct blz_json *v = blz_xcalloc(1, sizeof(*v));
	char w[16];

	if (errlen)
		err[0] = '\0';
	skip_ws(&ps);
	int r = parse_value(&ps, v);
	if (r == 0) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			r = bad(&ps, "unexpected %s after the value", what(&ps, w));
	}
	if (r < 0) {
		blz_json_free(v);
		return r;
	}
	*ret = v;
	return 0;
}

const struct blz_json *blz_json_get(const struct blz_json *v, const char *key)
{
	if (!v || v->type != BLZ_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->items[i].key, key))
			return &v->items[i];
	return NULL;
}

const char *blz_json_string(const struct blz_json *v)
{
	return v && v->type == BLZ_JSON_STRING ? v->str : NULL;
}

int blz_json_u64(const struct blz_json *v, uint64_t *ret)
{
	uint64_t x = 0;

	if (!v || v->type != BLZ_JSON_NUMBER || !v->len)
		return -EINVAL;
	for (size_t i = 0; i < v->len; i++) {
		char c = v->str[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		if (x > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
			return -ERANGE;
		x = x * 10 + (uint64_t)(c - '0');
	}
	*ret = x;
	return 0;
}

const char *blz_json_type_name(enum blz_json_type t)
{
	switch (t) {
	case BLZ_JSON_NULL: return "null";
	case BLZ_JSON_FALSE:
	case BLZ_JSON_TRUE: return "boolean";
	case BLZ_JSON_NUMBER: return "number";
	case BLZ_JSON_STRING: return "string";
	case BLZ_JSON_ARRAY: return "array";
	case BLZ_JSON_OBJECT: return "object";
	}
	return "?";
}

void blz_json_append_str(struct blz_buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	blz_buf_append(out, "\"", 1);
	while (p < end) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			blz_buf_append(out, esc, 2);
			p++;
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			blz_buf_append(out, esc, 6);
			p++;
		} else if (*p < 0x80) {
			blz_buf_append(out, p, 1);
			p++;
		} else {
			size_t n = utf8_len(p, end);
			if (n) {
				blz_buf_append(out, p, n);
				p += n;
			} else {
				blz_buf_append(out, "\\ufffd", 6); /* not UTF-8: the replacement char */
				p++;
			}
		}
	}
	blz_buf_append(out, "\"", 1);
}
