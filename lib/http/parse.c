/* HTTP/1.1 response parser and request encoder: see parse.h. */
#include "http/parse.h"
#include "util/sha256.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

enum {
	S_STATUS,
	S_HEADER,
	S_BODY_LEN,
	S_BODY_CLOSE,
	S_CHUNK_SIZE,
	S_CHUNK_DATA,
	S_CHUNK_CR,
	S_CHUNK_LF,
	S_TRAILER,
	S_DONE,
};

void blz_http_parser_init(struct blz_http_parser *p, unsigned flags)
{
	memset(p, 0, sizeof(*p));
	p->flags = flags;
	p->state = S_STATUS;
}

void blz_http_parser_release(struct blz_http_parser *p)
{
	if (p)
		blz_buf_release(&p->head);
}

static long fail(struct blz_http_parser *p, int r, const char *why)
{
	p->failed = r;
	p->err = why;
	return r;
}

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Field-value bytes: VCHAR, SP, HTAB, obs-text; never NUL, CR, LF or other controls. */
static bool is_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static char *head_at(struct blz_http_parser *p, size_t off)
{
	return (char *)p->head.data + off;
}

const char *blz_http_header(const struct blz_http_parser *p, const char *name)
{
	for (unsigned i = 0; i < p->nfields; i++) {
		const struct blz_http_field *f = &p->fields[i];
		if (!strcasecmp((const char *)p->head.data + f->name, name))
			return (const char *)p->head.data + f->value;
	}
	return NULL;
}

static long parse_status(struct blz_http_parser *p, char *l, size_t n)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) || l[7] < '0' || l[7] > '9' || l[8] != ' ')
		return fail(p, -EPROTO, "malformed status line");
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return fail(p, -EPROTO, "malformed status code");
	if (n > 12 && l[12] != ' ')
		return fail(p, -EPROTO, "malformed status line");
	for (size_t i = 13; i < n; i++)
		if (!is_vchar((unsigned char)l[i]))
			return fail(p, -EPROTO, "control byte in the reason phrase");
	p->minor = l[7] - '0';
	p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (p->status < 100)
		return fail(p, -EPROTO, "malformed status code");
	return 0;
}

/* One "name: value" line at head offset off (n bytes, CR excluded): validated, NUL-terminated
 * in place, recorded (trailer lines are only validated and counted). */
static long parse_field(struct blz_http_parser *p, size_t off, size_t n, bool trailer)
{
	char *l = head_at(p, off);
	if (is_ows(l[0]))
		return fail(p, -EPROTO, "obsolete line folding");
	size_t colon = 0;
	while (colon < n && is_tchar((unsigned char)l[colon]))
		colon++;
	if (colon == 0 || colon == n || l[colon] != ':')
		return fail(p, -EPROTO, "malformed header field");
	size_t vs = colon + 1, ve = n;
	for (size_t i = vs; i < n; i++)
		if (!is_vchar((unsigned char)l[i]))
			return fail(p, -EPROTO, "control byte in a header value");
	while (vs < ve && is_ows(l[vs]))
		vs++;
	while (ve > vs && is_ows(l[ve - 1]))
		ve--;
	if (p->nfields + p->ntrailers >= BLZ_HTTP_MAX_HEADERS)
		return fail(p, -EMSGSIZE, "too many header fields");
	if (trailer) {
		p->ntrailers++;
		return 0;
	}
	l[colon] = 0;
	l[ve] = 0;
	p->fields[p->nfields++] = (struct blz_http_field){
		.name = (uint32_t)off, .name_len = (uint32_t)colon,
		.value = (uint32_t)(off + vs), .value_len = (uint32_t)(ve - vs),
	};
	return 0;
}

/* Content-Length: 1*DIGIT, possibly repeated (in several fields or a comma list) with the
 * same value. */
static long parse_length(struct blz_http_parser *p, const char *v)
{
	for (;;) {
		while (is_ows(*v))
			v++;
		uint64_t x = 0;
		const char *s = v;
		while (*v >= '0' && *v <= '9') {
			if (x > BLZ_HTTP_MAX_LENGTH / 10)
				return fail(p, -EPROTO, "Content-Length too large");
			x = x * 10 + (uint64_t)(*v++ - '0');
		}
		if (v == s || x > BLZ_HTTP_MAX_LENGTH)
			return fail(p, -EPROTO, v == s ? "malformed Content-Length" :
						      "Content-Length too large");
		while (is_ows(*v))
			v++;
		if (*v && *v != ',')
			return fail(p, -EPROTO, "malformed Content-Length");
		if (p->has_length && p->content_length != x)
			return fail(p, -EPROTO, "conflicting Content-Length values");
		p->has_length = true;
		p->content_length = x;
		if (!*v)
			return 0;
		v++;
	}
}

/* Does the comma-separated list v hold the token t (case-insensitive)? */
static bool list_has(const char *v, const char *t)
{
	size_t tl = strlen(t);
	while (*v) {
		while (*v == ',' || is_ows(*v))
			v++;
		const char *s = v;
		while (*v && *v != ',')
			v++;
		const char *e = v;
		while (e > s && is_ows(e[-1]))
			e--;
		if ((size_t)(e - s) == tl && !strncasecmp(s, t, tl))
			return true;
	}
	return false;
}

/* The head is complete: decide how the body is framed. */
static long end_of_head(struct blz_http_parser *p)
{
	bool te = false;
	for (unsigned i = 0; i < p->nfields; i++) {
		const char *name = head_at(p, p->fields[i].name);
		const char *v = head_at(p, p->fields[i].value);
		long r = 0;
		if (!strcasecmp(name, "content-length")) {
			r = parse_length(p, v);
		} else if (!strcasecmp(name, "transfer-encoding")) {
			if (te || strcasecmp(v, "chunked"))
				return fail(p, -EPROTO, "unsupported Transfer-Encoding");
			te = true;
		}
		if (r < 0)
			return r;
	}
	const char *conn = blz_http_header(p, "connection");
	p->keep_alive = p->minor >= 1 ? !(conn && list_has(conn, "close"))
				      : (conn && list_has(conn, "keep-alive"));
	if (te && p->minor == 0)
		return fail(p, -EPROTO, "Transfer-Encoding in an HTTP/1.0 response");
	if (te && p->has_length)
		return fail(p, -EPROTO, "both Transfer-Encoding and Content-Length");
	p->chunked = te;
	p->no_body = (p->flags & BLZ_HTTP_PARSE_HEAD) || p->status == 204 || p->status == 304 ||
		     ((p->flags & BLZ_HTTP_PARSE_CONNECT) && p->status / 100 == 2);
	if (p->no_body)
		p->state = S_DONE;
	else if (te)
		p->state = S_CHUNK_SIZE;
	else if (p->has_length)
		p->state = p->content_length ? S_BODY_LEN : S_DONE;
	else {
		p->until_close = true;
		p->keep_alive = false;
		p->state = S_BODY_CLOSE;
	}
	p->chunk_left = p->content_length;
	return 0;
}

static long parse_chunk_size(struct blz_http_parser *p, const char *l, size_t n)
{
	size_t i = 0;
	uint64_t x = 0;
	for (; i < n && blz_hexval(l[i]) >= 0; i++) {
		if (i >= 15)
			return fail(p, -EPROTO, "chunk size too large");
		x = x << 4 | (uint64_t)blz_hexval(l[i]);
	}
	if (i == 0)
		return fail(p, -EPROTO, "malformed chunk size");
	while (i < n && is_ows(l[i]))
		i++;
	if (i < n && l[i] != ';')
		return fail(p, -EPROTO, "malformed chunk size");
	for (; i < n; i++)
		if (!is_vchar((unsigned char)l[i]))
			return fail(p, -EPROTO, "control byte in a chunk extension");
	p->chunk_left = x;
	p->state = x ? S_CHUNK_DATA : S_TRAILER;
	return 0;
}

/* A complete line [line_start, head.len) ending in LF. */
static long end_of_line(struct blz_http_parser *p, struct blz_http_ev *ev)
{
	size_t off = p->line_start, n = p->head.len - off;
	char *l = head_at(p, off);
	if (n < 2 || l[n - 2] != '\r')
		return fail(p, -EPROTO, "line not ended by CRLF");
	n -= 2;
	for (size_t i = 0; i < n; i++)
		if (!l[i] || l[i] == '\r')
			return fail(p, -EPROTO, "NUL or CR inside a line");
	long r = 0;
	switch (p->state) {
	case S_STATUS:
		r = parse_status(p, l, n);
		p->state = S_HEADER;
		break;
	case S_HEADER:
		if (n) {
			r = parse_field(p, off, n, false);
			break;
		}
		if (p->status / 100 == 1) {
			if (p->status == 101)
				return fail(p, -EPROTO, "unexpected 101 Switching Protocols");
			p->nfields = 0; /* an interim response: skip it */
			p->head.len = 0;
			p->line_start = 0;
			p->state = S_STATUS;
			return 0;
		}
		r = end_of_head(p);
		if (r == 0)
			ev->type = BLZ_HTTP_EV_HEADERS;
		break;
	case S_CHUNK_SIZE:
		r = parse_chunk_size(p, l, n);
		p->head.len = off; /* chunk lines are not kept */
		break;
	case S_TRAILER:
		if (n)
			r = parse_field(p, off, n, true);
		else
			p->state = S_DONE;
		p->head.len = off;
		break;
	}
	p->line_start = p->head.len;
	return r;
}

static bool in_line_state(int s)
{
	return s == S_STATUS || s == S_HEADER || s == S_CHUNK_SIZE || s == S_TRAILER;
}

uint64_t blz_http_body_run(const struct blz_http_parser *p)
{
	if (p->failed || (p->state != S_BODY_LEN && p->state != S_CHUNK_DATA))
		return 0;
	return p->chunk_left;
}

long blz_http_parse(struct blz_http_parser *p, const void *in_, size_t len, struct blz_http_ev *ev)
{
	const uint8_t *in = in_;
	size_t used = 0;
	*ev = (struct blz_http_ev){ .type = BLZ_HTTP_EV_NONE };
	if (p->failed)
		return p->failed;
	if (len)
		p->got_bytes = true;
	while (ev->type == BLZ_HTTP_EV_NONE) {
		if (p->state == S_DONE) {
			ev->type = BLZ_HTTP_EV_DONE;
			break;
		}
		if (used == len)
			break;
		const uint8_t *s = in + used;
		size_t avail = len - used;
		if (in_line_state(p->state)) {
			const uint8_t *lf = memchr(s, '\n', avail);
			size_t seg = lf ? (size_t)(lf - s) + 1 : avail;
			bool counted = p->state != S_CHUNK_SIZE;
			if (p->head.len - p->line_start + seg > BLZ_HTTP_MAX_LINE + 2)
				return fail(p, -EMSGSIZE, "line too long");
			if (counted && p->head_bytes + seg > BLZ_HTTP_MAX_HEAD)
				return fail(p, -EMSGSIZE, "response head too large");
			if (counted)
				p->head_bytes += seg;
			blz_buf_append(&p->head, s, seg);
			used += seg;
			if (lf) {
				long r = end_of_line(p, ev);
				if (r < 0)
					return r;
			}
			continue;
		}
		switch (p->state) {
		case S_BODY_LEN:
		case S_CHUNK_DATA: {
			size_t n = avail < p->chunk_left ? avail : (size_t)p->chunk_left;
			*ev = (struct blz_http_ev){ .type = BLZ_HTTP_EV_BODY, .data = s, .len = n };
			p->chunk_left -= n;
			p->body_seen += n;
			used += n;
			if (!p->chunk_left)
				p->state = p->state == S_BODY_LEN ? S_DONE : S_CHUNK_CR;
			break;
		}
		case S_BODY_CLOSE:
			*ev = (struct blz_http_ev){ .type = BLZ_HTTP_EV_BODY, .data = s, .len = avail };
			p->body_seen += avail;
			used += avail;
			break;
		case S_CHUNK_CR:
		case S_CHUNK_LF:
			if (*s != (p->state == S_CHUNK_CR ? '\r' : '\n'))
				return fail(p, -EPROTO, "chunk data not followed by CRLF");
			p->state = p->state == S_CHUNK_CR ? S_CHUNK_LF : S_CHUNK_SIZE;
			used++;
			break;
		}
	}
	return (long)used;
}

int blz_http_parse_eof(struct blz_http_parser *p)
{
	if (p->failed)
		return p->failed;
	if (p->state == S_DONE)
		return 0;
	if (p->state == S_BODY_CLOSE) {
		p->state = S_DONE;
		return 0;
	}
	if (!p->got_bytes)
		return (int)fail(p, -EPIPE, "connection closed before any response");
	return (int)fail(p, -EIO, p->state == S_STATUS || p->state == S_HEADER ?
			 "connection closed inside the response head" :
			 "connection closed before the end of the body");
}

int blz_http_retry_after(const char *v, time_t now, uint32_t *ret_s)
{
	static const char *const fmts[] = {
		"%a, %d %b %Y %H:%M:%S GMT",  /* IMF-fixdate */
		"%A, %d-%b-%y %H:%M:%S GMT",  /* obsolete RFC 850 */
		"%a %b %e %H:%M:%S %Y",       /* obsolete asctime */
	};
	const uint32_t cap = 86400;
	if (*v >= '0' && *v <= '9') {
		uint64_t x = 0;
		for (; *v >= '0' && *v <= '9'; v++)
			if ((x = x * 10 + (uint64_t)(*v - '0')) > cap)
				x = cap + 1;
		if (*v)
			return -EINVAL;
		*ret_s = x > cap ? cap : (uint32_t)x;
		return 0;
	}
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct tm tm = { 0 };
		const char *e = strptime(v, fmts[i], &tm);
		if (!e || *e)
			continue;
		time_t t = timegm(&tm);
		if (t == (time_t)-1)
			return -EINVAL;
		*ret_s = t <= now ? 0 : t - now > cap ? cap : (uint32_t)(t - now);
		return 0;
	}
	return -EINVAL;
}

/* No control bytes; spaces and tabs only where allow_ws. */
static bool clean(const char *s, bool allow_ws)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ' || c == '\t') {
			if (!allow_ws)
				return false;
		} else if (c < 0x20 || c == 0x7f) {
			return false;
		}
	}
	return true;
}

int blz_http_encode_request(struct blz_buf *out, const struct blz_http_request *rq)
{
	if (!rq->method || !*rq->method || !rq->target || !*rq->target || !rq->host ||
	    !*rq->host)
		return -EINVAL;
	for (const char *m = rq->method; *m; m++)
		if (!is_tchar((unsigned char)*m))
			return -EINVAL;
	if (!clean(rq->target, false) || !clean(rq->host, false))
		return -EINVAL;
	for (const char *const *x = rq->extra; x && *x; x++)
		if (!clean(*x, true) || !strchr(*x, ':'))
			return -EINVAL;
	struct blz_buf b = { 0 };
	const char *parts[] = { rq->method, " ", rq->target, " HTTP/1.1\r\nHost: ", rq->host, "\r\n" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		blz_buf_append(&b, parts[i], strlen(parts[i]));
	for (const char *const *x = rq->extra; x && *x; x++) {
		blz_buf_append(&b, *x, strlen(*x));
		blz_buf_append(&b, "\r\n", 2);
	}
	if (rq->close)
		blz_buf_append(&b, "Connection: close\r\n", 19);
	blz_buf_append(&b, "\r\n", 2);
	blz_buf_append(out, b.data, b.len);
	blz_buf_release(&b);
	return 0;
}
