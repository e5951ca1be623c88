/* Unit tests for lib/http: the response parser (valid framings fed at every split, hostile
 * inputs: lengths, chunk sizes, floods, long lines, NUL bytes), Retry-After, the request
 * encoder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/internal.h"
#include "http/parse.h"
#include "util/fileio.h"
#include "util/strbuf.h"

struct outcome {
	int rc;            /* 0 complete, else the error */
	int headers;       /* HEADERS events seen */
	size_t leftover;   /* bytes not consumed after DONE */
	struct blz_buf body;
};

/* Feeds n bytes at *pos and records the event in o; returns its type, or -1 after an error
 * (o->rc set). */
static int feed_step(struct blz_http_parser *p, const char *text, size_t len, size_t *pos, size_t n,
		struct outcome *o)
{
	struct blz_http_ev ev;
	uint64_t run = blz_http_body_run(p);
	long r = blz_http_parse(p, text + *pos, n, &ev);
	if (r < 0) {
		o->rc = (int)r;
		return -1;
	}
	/* what body_run promised is body, reported in place, in one event */
	if (run && n) {
		assert_int_equal(ev.type, BLZ_HTTP_EV_BODY);
		assert_ptr_equal(ev.data, text + *pos);
		assert_int_equal(ev.len, n < run ? n : run);
	}
	*pos += (size_t)r;
	if (ev.type == BLZ_HTTP_EV_HEADERS)
		o->headers++;
	if (ev.type == BLZ_HTTP_EV_BODY)
		blz_buf_append(&o->body, ev.data, ev.len);
	if (ev.type == BLZ_HTTP_EV_DONE)
		o->leftover = len - *pos;
	return (int)ev.type;
}

/* Feeds text in pieces: first `split` bytes, then the rest in steps of `step` bytes. At the
 * end of input (not DONE) calls parse_eof. */
static void feed(struct blz_http_parser *p, unsigned flags, const char *text, size_t len,
		 size_t split, size_t step, struct outcome *o)
{
	blz_http_parser_init(p, flags);
	memset(o, 0, sizeof(*o));
	size_t pos = 0;
	bool done = false;
	/* the final round feeds nothing: it flushes a DONE that follows the last body bytes */
	for (bool last = false; !done && !last;) {
		size_t end = pos < split ? split : pos + step;
		if (end >= len) {
			end = len;
			last = pos == len;
		}
		for (;;) {
			int t = feed_step(p, text, len, &pos, end - pos, o);
			if (t < 0)
				return;
			done = t == BLZ_HTTP_EV_DONE;
			if (done || t == BLZ_HTTP_EV_NONE)
				break;
		}
	}
	if (!done)
		o->rc = blz_http_parse_eof(p);
}

/* Parse the whole text at once; returns the outcome's rc. */
static int parse_all(const char *text, unsigned flags, struct blz_http_parser *p, struct outcome *o)
{
	feed(p, flags, text, strlen(text), 0, strlen(text) + 1, o);
	return o->rc;
}

static int parse_rc(const char *text)
{
	struct blz_http_parser p;
	struct outcome o;
	int rc = parse_all(text, 0, &p, &o);
	blz_buf_release(&o.body);
	blz_http_parser_release(&p);
	return rc;
}

/* Each of prefix + bad[i] + suffix is refused as malformed. */
static void expect_refused(const char *prefix, const char *const *bad, size_t n, const char *suffix)
{
	char buf[512];
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s%s%s", prefix, bad[i], suffix);
		int rc = parse_rc(buf);
		if (rc != -EPROTO)
			fail_msg("not refused (rc %d): %s", rc, bad[i]);
	}
}

/* The same response at every split point and byte by byte gives the same result. */
static void check_every_split(const char *text, unsigned flags, int status, const char *body)
{
	size_t len = strlen(text);
	for (size_t split = 0; split <= len; split++) {
		for (size_t step = 1; step <= 2; step++) {
			struct blz_http_parser p;
			struct outcome o;
			feed(&p, flags, text, len, split, step, &o);
			if (o.rc != 0)
				fail_msg("split %zu step %zu: rc %d (%s)", split, step, o.rc,
					 p.err ? p.err : "");
			assert_int_equal(o.headers, 1);
			assert_int_equal(p.status, status);
			assert_int_equal(o.body.len, strlen(body));
			assert_memory_equal(o.body.data ? (char *)o.body.data : "", body, strlen(body));
			blz_buf_release(&o.body);
			blz_http_parser_release(&p);
		}
	}
}

static void test_content_length_splits(void **state)
{
	check_every_split("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: b\r\n\r\nhello world",
			  0, 200, "hello world");
}

static void test_chunked_splits(void **state)
{
	check_every_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "5;name=value;x\r\nhello\r\n1\r\n \r\nA \r\n0123456789\r\n"
			  "0\r\nTrailer-A: 1\r\nTrailer-B: two\r\n\r\n",
			  0, 200, "hello 0123456789");
}

static void test_until_close_splits(void **state)
{
	check_every_split("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody to the end", 0, 200,
			  "body to the end");
}

static void test_interim_splits(void **state)
{
	check_every_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
			  "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 0, 201, "ok");
}

static void test_fields(void **state)
{
	struct blz_http_parser p;
	struct outcome o;
	assert_int_equal(parse_all("HTTP/1.1 302 Found\r\nLocation:   /new/place \t\r\n"
				   "Retry-After: 7\r\nconnection: Keep-Alive, CLOSE\r\n"
				   "Content-Length: 0\r\n\r\nEXTRA", 0, &p, &o), 0);
	assert_string_equal(blz_http_header(&p, "location"), "/new/place");
	assert_string_equal(blz_http_header(&p, "RETRY-AFTER"), "7");
	assert_null(blz_http_header(&p, "x-absent"));
	assert_false(p.keep_alive);
	assert_int_equal(o.leftover, 5);
	blz_http_parser_release(&p);

	assert_int_equal(parse_all("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 0, &p, &o), 0);
	assert_true(p.keep_alive);
	assert_true(p.has_length);
	assert_int_equal(p.content_length, 3);
	blz_buf_release(&o.body);
	blz_http_parser_release(&p);

	/* HTTP/1.0 keeps alive only when asked; a close-delimited body never does */
	assert_int_equal(parse_all("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
				   0, &p, &o), 0);
	assert_true(p.keep_alive);
	blz_http_parser_release(&p);
	assert_int_equal(parse_all("HTTP/1.1 200 OK\r\n\r\nxyz", 0, &p, &o), 0);
	assert_true(p.until_close);
	assert_false(p.keep_alive);
	blz_buf_release(&o.body);
	blz_http_parser_release(&p);
}

static void test_no_body(void **state)
{
	static const struct {
		const char *text;
		unsigned flags;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", BLZ_HTTP_PARSE_HEAD },
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 100\r\n\r\n", 0 },
		{ "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 0 },
		{ "HTTP/1.1 200 Connection established\r\n\r\n", BLZ_HTTP_PARSE_CONNECT },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct blz_http_parser p;
		struct outcome o;
		assert_int_equal(parse_all(cases[i].text, cases[i].flags, &p, &o), 0);
		assert_true(p.no_body);
		assert_int_equal(o.body.len, 0);
		blz_http_parser_release(&p);
	}
	/* a failed CONNECT has a body as usual */
	struct blz_http_parser p;
	struct outcome o;
	assert_int_equal(parse_all("HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\nno",
				   BLZ_HTTP_PARSE_CONNECT, &p, &o), 0);
	assert_int_equal(o.body.len, 2);
	blz_buf_release(&o.body);
	blz_http_parser_release(&p);
}

static void test_eof(void **state)
{
	assert_int_equal(parse_rc(""), -EPIPE);
	assert_int_equal(parse_rc("HTTP/1.1 200 OK\r\nContent-Le"), -EIO);
	assert_int_equal(parse_rc("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), -EIO);
	assert_int_equal(parse_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), -EIO);
	assert_int_equal(parse_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"), -EIO);
}

static void test_bad_lengths(void **state)
{
	const char *const bad[] = {
		"Content-Length: -1",
		"Content-Length: +5",
		"Content-Length: 5x",
		"Content-Length: 0x10",
		"Content-Length: ",
		"Content-Length: 99999999999999999999999999999",
		"Content-Length: 18446744073709551616",
		"Content-Length: 4611686018427387905",
		"Content-Length: 5\r\nContent-Length: 6",
		"Content-Length: 5, 6",
		"Content-Length: 5,,5",
		"Content-Length: 5\r\nTransfer-Encoding: chunked",
		"Transfer-Encoding: gzip",
		"Transfer-Encoding: gzip, chunked",
		"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
	};
	expect_refused("HTTP/1.1 200 OK\r\n", bad, sizeof(bad) / sizeof(bad[0]), "\r\n\r\nhello");
	assert_int_equal(parse_rc("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), -EPROTO);
	/* agreeing duplicates are fine, and the limit itself too */
	assert_int_equal(parse_rc("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\nhello"), 0);
	struct blz_http_parser p;
	struct outcome o;
	assert_int_equal(parse_all("HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\nab",
				   0, &p, &o), -EIO);
	assert_int_equal(p.content_length, BLZ_HTTP_MAX_LENGTH);
	blz_buf_release(&o.body);
	blz_http_parser_release(&p);
}

static void test_bad_chunks(void **state)
{
	const char *const bad[] = {
		"10000000000000000\r\n",   /* 17 hex digits: overflow */
		"1000000000000000\r\n",    /* 16 digits: over the bound */
		"zz\r\nab\r\n",
		"\r\n",
		"-1\r\n",
		"5\nhello\r\n",            /* bare LF */
		"5\r\nhelloXY",            /* no CRLF after the data */
		"5\r\nhello\n0\r\n\r\n",
		"5 x\r\nhello\r\n",
		"5;ext\x01\r\nhello\r\n",
		"0\r\nBad Trailer\r\n\r\n",
	};
	expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", bad,
		       sizeof(bad) / sizeof(bad[0]), "");
	/* 15 hex digits is the largest accepted size */
	struct blz_http_parser p;
	struct outcome o;
	assert_int_equal(parse_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nab",
				   0, &p, &o), -EIO);
	assert_int_equal(o.body.len, 2);
	blz_buf_release(&o.body);
	blz_http_parser_release(&p);
	/* a chunk-size line is bounded too */
	struct blz_buf b = { 0 };
	const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;";
	blz_buf_append(&b, h, strlen(h));
	memset(blz_buf_grow(&b, 20000), 'x', 20000);
	blz_buf_append(&b, "\r\na\r\n0\r\n\r\n", 11);
	assert_int_equal(parse_rc((const char *)b.data), -EMSGSIZE);
	blz_buf_release(&b);
}

static void test_bad_heads(void **state)
{
	const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\n\n",
		"HTTP/1.1 200 OK\r\nA: b\n\r\n",
		"HTTP/1.1 200 OK\r\nA : b\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
		"HTTP/1.1 200 O\x7fK\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
	};
	expect_refused("", bad, sizeof(bad) / sizeof(bad[0]), "");
	/* NUL bytes anywhere in the head */
	const char nul1[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\nContent-Length: 0\r\n\r\n";
	const char nul2[] = "HTTP/1.1 200 OK\r\nA\0: b\r\nContent-Length: 0\r\n\r\n";
	const char nul3[] = "HTTP/1.1 200 \0OK\r\nContent-Length: 0\r\n\r\n";
	const char *nuls[] = { nul1, nul2, nul3 };
	size_t lens[] = { sizeof(nul1) - 1, sizeof(nul2) - 1, sizeof(nul3) - 1 };
	for (size_t i = 0; i < 3; i++) {
		struct blz_http_parser p;
		struct outcome o;
		feed(&p, 0, nuls[i], lens[i], 0, lens[i], &o);
		assert_int_equal(o.rc, -EPROTO);
		blz_http_parser_release(&p);
	}
	/* a bare status line without a reason is accepted */
	assert_int_equal(parse_rc("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), 0);
	assert_int_equal(parse_rc("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), 0);
}

static void test_floods(void **state)
{
	struct blz_buf b = { 0 };
	const char *s = "HTTP/1.1 200 OK\r\n";
	/* BLZ_HTTP_MAX_HEADERS fields pass, one more fails */
	for (int extra = 0; extra <= 1; extra++) {
		b.len = 0;
		blz_buf_append(&b, s, strlen(s));
		for (int i = 0; i < BLZ_HTTP_MAX_HEADERS - 1 + extra; i++) {
			char l[32];
			int n = snprintf(l, sizeof(l), "X-%d: v\r\n", i);
			blz_buf_append(&b, l, (size_t)n);
		}
		blz_buf_append(&b, "Content-Length: 0\r\n\r\n", 22);
		blz_buf_append(&b, "", 1);
		assert_int_equal(parse_rc((const char *)b.data), extra ? -EMSGSIZE : 0);
	}
	/* trailers count against the same bound */
	b.len = 0;
	s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
	blz_buf_append(&b, s, strlen(s));
	for (int i = 0; i < BLZ_HTTP_MAX_HEADERS; i++)
		blz_buf_append(&b, "T: v\r\n", 6);
	blz_buf_append(&b, "\r\n", 3);
	assert_int_equal(parse_rc((const char *)b.data), -EMSGSIZE);
	/* an over-long line */
	b.len = 0;
	s = "HTTP/1.1 200 OK\r\nX-Long: ";
	blz_buf_append(&b, s, strlen(s));
	memset(blz_buf_grow(&b, BLZ_HTTP_MAX_LINE), 'a', BLZ_HTTP_MAX_LINE);
	blz_buf_append(&b, "\r\n\r\n", 5);
	assert_int_equal(parse_rc((const char *)b.data), -EMSGSIZE);
	/* a head over the total bound, in lines each below the line bound */
	b.len = 0;
	s = "HTTP/1.1 200 OK\r\n";
	blz_buf_append(&b, s, strlen(s));
	for (int i = 0; i < 10; i++) {
		blz_buf_append(&b, "X: ", 3);
		memset(blz_buf_grow(&b, 4000), 'b', 4000);
		blz_buf_append(&b, "\r\n", 2);
	}
	blz_buf_append(&b, "\r\n", 3);
	assert_int_equal(parse_rc((const char *)b.data), -EMSGSIZE);
	/* endless interim responses are bounded by the head bound */
	b.len = 0;
	for (int i = 0; i < 2000; i++)
		blz_buf_append(&b, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	blz_buf_append(&b, "", 1);
	assert_int_equal(parse_rc((const char *)b.data), -EMSGSIZE);
	blz_buf_release(&b);
}

static void test_failed_stays_failed(void **state)
{
	struct blz_http_parser p;
	struct blz_http_ev ev;
	blz_http_parser_init(&p, 0);
	assert_int_equal(blz_http_parse(&p, "HTTP/9", 6, &ev), 6);
	assert_int_equal(blz_http_parse(&p, "\r\n", 2, &ev), -EPROTO);
	assert_non_null(p.err);
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(blz_http_parse(&p, ok, strlen(ok), &ev), -EPROTO);
	assert_int_equal(blz_http_parse_eof(&p), -EPROTO);
	blz_http_parser_release(&p);
	blz_http_parser_release(NULL);
}

static void test_retry_after(void **state)
{
	uint32_t s = 12345;
	time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
	assert_int_equal(blz_http_retry_after("120", now, &s), 0);
	assert_int_equal(s, 120);
	assert_int_equal(blz_http_retry_after("99999999999999999999999", now, &s), 0);
	assert_int_equal(s, 86400);
	assert_int_equal(blz_http_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now, &s), 0);
	assert_int_equal(s, 30);
	assert_int_equal(blz_http_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now, &s), 0);
	assert_int_equal(s, 10);
	assert_int_equal(blz_http_retry_after("Sun Nov  6 08:49:42 1994", now, &s), 0);
	assert_int_equal(s, 5);
	assert_int_equal(blz_http_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now, &s), 0);
	assert_int_equal(s, 0);
	s = 7;
	assert_int_equal(blz_http_retry_after("-5", now, &s), -EINVAL);
	assert_int_equal(blz_http_retry_after("12s", now, &s), -EINVAL);
	assert_int_equal(blz_http_retry_after("", now, &s), -EINVAL);
	assert_int_equal(blz_http_retry_after("Sun, 06 Nov 1994 08:50:07 GMT junk", now, &s), -EINVAL);
	assert_int_equal(s, 7);
}

static void test_encode(void **state)
{
	struct blz_buf b = { 0 };
	const char *extra[] = { "Authorization: Bearer abc def", "User-Agent: blazy", NULL };
	struct blz_http_request rq = { .method = "GET", .target = "/a/b?c=d", .host = "h:8080",
				       .extra = extra };
	assert_int_equal(blz_http_encode_request(&b, &rq), 0);
	const char *want = "GET /a/b?c=d HTTP/1.1\r\nHost: h:8080\r\n"
			   "Authorization: Bearer abc def\r\nUser-Agent: blazy\r\n\r\n";
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	rq = (struct blz_http_request){ .method = "CONNECT", .target = "h:443", .host = "h:443",
					.close = true };
	b.len = 0;
	assert_int_equal(blz_http_encode_request(&b, &rq), 0);
	want = "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nConnection: close\r\n\r\n";
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);

	/* injection of lines or controls is refused, nothing appended */
	const char *bad_extra[] = { "X: a\r\nEvil: 1", NULL };
	const char *no_colon[] = { "Xvalue", NULL };
	struct blz_http_request bad[] = {
		{ .method = "GET", .target = "/a b", .host = "h" },
		{ .method = "GET", .target = "/a\r\nX: y", .host = "h" },
		{ .method = "GET", .target = "/", .host = "h\nX: y" },
		{ .method = "GE T", .target = "/", .host = "h" },
		{ .method = "", .target = "/", .host = "h" },
		{ .method = "GET", .target = "", .host = "h" },
		{ .method = "GET", .target = "/", .host = "" },
		{ .method = "GET", .target = "/", .host = "h", .extra = bad_extra },
		{ .method = "GET", .target = "/", .host = "h", .extra = no_colon },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b.len = 0;
		assert_int_equal(blz_http_encode_request(&b, &bad[i]), -EINVAL);
		assert_int_equal(b.len, 0);
	}
	blz_buf_release(&b);
}

/* A request the encoder writes is one a strict reader splits back into the same lines. */
static void test_encode_parse_roundtrip(void **state)
{
	struct blz_buf b = { 0 };
	struct blz_http_request rq = { .method = "GET", .target = "http://h/x", .host = "h" };
	assert_int_equal(blz_http_encode_request(&b, &rq), 0);
	/* turn the request into a response-shaped text to reuse the strict line rules */
	const char *p = memchr(b.data, '\n', b.len);
	assert_non_null(p);
	struct blz_buf r = { 0 };
	blz_buf_append(&r, "HTTP/1.1 200 OK\r\n", 17);
	blz_buf_append(&r, p + 1, b.len - (size_t)(p + 1 - (const char *)b.data));
	blz_buf_append(&r, "", 1);
	struct blz_http_parser ps;
	struct outcome o;
	assert_int_equal(parse_all((const char *)r.data, 0, &ps, &o), 0);
	assert_string_equal(blz_http_header(&ps, "host"), "h");
	blz_buf_release(&o.body);
	blz_http_parser_release(&ps);
	blz_buf_release(&r);
	blz_buf_release(&b);
}

/* Feeds text (len bytes) in pieces whose sizes come from *seed; same outcome shape as feed(). */
static void feed_random(struct blz_http_parser *p, const uint8_t *text, size_t len, uint32_t *seed,
			struct outcome *o)
{
	blz_http_parser_init(p, 0);
	memset(o, 0, sizeof(*o));
	size_t pos = 0;
	for (;;) {
		*seed ^= *seed << 13;
		*seed ^= *seed >> 17;
		*seed ^= *seed << 5;
		size_t n = *seed % 7 == 0 ? 0 : *seed % 40;
		if (n > len - pos)
			n = len - pos;
		int t = feed_step(p, (const char *)text, len, &pos, n, o);
		if (t < 0 || t == BLZ_HTTP_EV_DONE)
			return;
		if (t == BLZ_HTTP_EV_NONE && pos == len) {
			o->rc = blz_http_parse_eof(p);
			return;
		}
	}
}

/* Damaged responses (random bytes changed, inserted or cut) parse to the same outcome however
 * the input is split, and never past the bounds. */
static void test_random_damage_split_invariant(void **state)
{
	static const char *const base[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX: y\r\n\r\nhello world!",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;e=1\r\nabcd\r\n2\r\nef\r\n0\r\nT: v\r\n\r\n",
		"HTTP/1.0 203 Meh\r\nConnection: keep-alive\r\n\r\nto the end",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No\r\nContent-Length: 5\r\n\r\n",
	};
	uint32_t seed = 0x9e3779b9u;
	uint8_t buf[256];
	for (int iter = 0; iter < 20000; iter++) {
		const char *b = base[iter % 4];
		size_t len = strlen(b);
		memcpy(buf, b, len);
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		size_t at = seed % len;
		switch ((seed >> 8) % 4) {
		case 0: buf[at] = (uint8_t)(seed >> 16); break;
		case 1: buf[at] ^= 1u << ((seed >> 16) % 8); break;
		case 2: len = at; break;
		case 3: memmove(buf + at + 1, buf + at, len - at); buf[at] = (uint8_t)(seed >> 20); len++; break;
		}
		struct blz_http_parser p1, p2;
		struct outcome o1, o2;
		feed(&p1, 0, (const char *)buf, len, 0, len + 1, &o1);
		uint32_t s2 = seed;
		feed_random(&p2, buf, len, &s2, &o2);
		if (o1.rc != o2.rc || o1.headers != o2.headers || o1.body.len != o2.body.len ||
		    (o1.rc == 0 && o1.leftover != o2.leftover) ||
		    (o1.body.len && memcmp(o1.body.data, o2.body.data, o1.body.len)))
			fail_msg("iteration %d: whole rc %d body %zu, split rc %d body %zu", iter, o1.rc,
				 o1.body.len, o2.rc, o2.body.len);
		assert_true(o1.rc == 0 || o1.rc == -EPROTO || o1.rc == -EMSGSIZE || o1.rc == -EIO ||
			    o1.rc == -EPIPE);
		blz_buf_release(&o1.body);
		blz_buf_release(&o2.body);
		blz_http_parser_release(&p1);
		blz_http_parser_release(&p2);
	}
}

static void test_url(void **state)
{
	struct blz_http_url u;
	char err[256];
	assert_int_equal(blz_http_url_parse("http://Example.com", &u, err, sizeof(err)), 0);
	assert_false(u.https);
	assert_int_equal(u.port, 80);
	assert_string_equal(u.authority, "Example.com");
	assert_string_equal(u.target, "/");
	blz_http_url_release(&u);
	assert_int_equal(blz_http_url_parse("HTTPS://h:8443?x=1#frag", &u, err, sizeof(err)), 0);
	assert_true(u.https);
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.authority, "h:8443");
	assert_string_equal(u.target, "/?x=1");
	blz_http_url_release(&u);
	assert_int_equal(blz_http_url_parse("https://[::1]:443/a/b", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.authority, "[::1]");
	assert_string_equal(u.target, "/a/b");
	struct blz_http_url v;
	assert_int_equal(blz_http_url_parse("https://[::1]/other", &v, err, sizeof(err)), 0);
	assert_true(blz_http_same_origin(&u, &v));
	blz_http_url_release(&v);
	assert_int_equal(blz_http_url_parse("http://[::1]/other", &v, err, sizeof(err)), 0);
	assert_false(blz_http_same_origin(&u, &v));
	blz_http_url_release(&v);
	blz_http_url_release(&u);
	const char *bad[] = {
		"ftp://h/", "h/x", "http://", "http:///x", "http://u:p@h/", "http://h:0/",
		"http://h:65536/", "http://h:8x/", "http://h:/", "http://h/a b", "http://h/a\nb",
		"http://[::1/", "http://[::1]x/", "http://::1/", "http://h\x01/", "http://h%20/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (blz_http_url_parse(bad[i], &u, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted URL %s", bad[i]);
		assert_true(err[0]);
		assert_null(strstr(err, "u:p"));
	}
}

static void test_url_resolve(void **state)
{
	struct blz_http_url u;
	char err[256], *r;
	assert_int_equal(blz_http_url_parse("https://h:8443/a/b/c?q=/x", &u, err, sizeof(err)), 0);
	static const char *const cases[][2] = {
		{ "http://o/p", "http://o/p" },
		{ "//o2/p", "https://o2/p" },
		{ "/root?z", "https://h:8443/root?z" },
		{ "d", "https://h:8443/a/b/d" },
		{ "d/e?f", "https://h:8443/a/b/d/e?f" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(blz_http_url_resolve(&u, cases[i][0], &r), 0);
		assert_string_equal(r, cases[i][1]);
		free(r);
	}
	assert_int_equal(blz_http_url_resolve(&u, "", &r), -EINVAL);
	assert_int_equal(blz_http_url_resolve(&u, "mailto:x", &r), -EINVAL);
	blz_http_url_release(&u);
}

static void test_no_proxy(void **state)
{
	assert_false(blz_http_no_proxy(NULL, "h"));
	assert_false(blz_http_no_proxy("", "h"));
	assert_true(blz_http_no_proxy("*", "any.where"));
	assert_true(blz_http_no_proxy("a, example.com", "example.com"));
	assert_true(blz_http_no_proxy("example.com", "www.Example.COM"));
	assert_true(blz_http_no_proxy(".example.com", "www.example.com"));
	assert_false(blz_http_no_proxy("example.com", "badexample.com"));
	assert_false(blz_http_no_proxy("www.example.com", "example.com"));
	assert_true(blz_http_no_proxy("localhost,127.0.0.1", "127.0.0.1"));
	assert_false(blz_http_no_proxy("127.0.0.1", "127.0.0.10"));
}

static void test_auth_file(void **state)
{
	char path[] = "/tmp/blazy-test-auth.XXXXXX", err[512];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct blz_http_auth a = { .path = strdup(path) };
	const char *v = NULL;
	assert_int_equal(blz_write_file_atomic(path, "Bearer one \r\nignored\n", 21), 0);
	assert_int_equal(blz_http_auth_get(&a, &v, err, sizeof(err)), 0);
	assert_string_equal(v, "Bearer one");
	/* rotated (a new inode by rename): re-read */
	assert_int_equal(blz_write_file_atomic(path, "Bearer two", 10), 0);
	assert_int_equal(blz_http_auth_get(&a, &v, err, sizeof(err)), 0);
	assert_string_equal(v, "Bearer two");
	/* bad contents: an error that never shows the value */
	assert_int_equal(blz_write_file_atomic(path, "Bearer se\x01cret", 14), 0);
	assert_int_equal(blz_http_auth_get(&a, &v, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "cret"));
	assert_int_equal(blz_write_file_atomic(path, "\n", 1), 0);
	assert_int_equal(blz_http_auth_get(&a, &v, err, sizeof(err)), -EINVAL);
	unlink(path);
	assert_int_equal(blz_http_auth_get(&a, &v, err, sizeof(err)), -ENOENT);
	blz_http_auth_release(&a);
	blz_http_auth_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length_splits),
		cmocka_unit_test(test_chunked_splits),
		cmocka_unit_test(test_until_close_splits),
		cmocka_unit_test(test_interim_splits),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_no_body),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_bad_chunks),
		cmocka_unit_test(test_bad_heads),
		cmocka_unit_test(test_floods),
		cmocka_unit_test(test_failed_stays_failed),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_encode_parse_roundtrip),
		cmocka_unit_test(test_random_damage_split_invariant),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_url_resolve),
		cmocka_unit_test(test_no_proxy),
		cmocka_unit_test(test_auth_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
