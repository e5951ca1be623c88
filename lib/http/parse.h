/* HTTP/1.1 wire format (RFC 9110/9112), client side: an incremental response parser and the
 * matching request encoder. No I/O: bytes in, events out, so the same parser runs over a
 * blocking socket, TLS, or a non-blocking/io_uring loop.
 *
 * Response parser contract
 *   blz_http_parser_init(p, flags) then call blz_http_parse(p, in, len, &ev) repeatedly. Each
 *   call consumes a prefix of `in` (the return value, >= 0) and reports at most one event:
 *     BLZ_HTTP_EV_NONE     every byte given was consumed, more are needed;
 *     BLZ_HTTP_EV_HEADERS  the status line and headers of the final response are complete
 *                          (p->status, p->content_length, p->chunked, ... are valid, and
 *                          blz_http_header() finds any header); 1xx interim responses are
 *                          skipped (101 is an error: the client never asks to upgrade);
 *     BLZ_HTTP_EV_BODY     ev.data/ev.len: body bytes (pointing into `in`; chunk framing removed);
 *     BLZ_HTTP_EV_DONE     the message is complete; bytes after it are not consumed (the caller
 *                          decides: HTTP/1.1 clients do not pipeline, so extra bytes mean the
 *                          connection must not be reused).
 *   At end of input (the peer closed) call blz_http_parse_eof(): 0 when the message is complete
 *   (a body delimited by close), -EPIPE if no byte at all was received (a stale kept-alive
 *   connection), else -EIO (truncated: a short body, retry-able).
 *   Errors: -EPROTO (malformed), -EMSGSIZE (a bound below was exceeded); p->err names the cause
 *   (a static string). After an error the parser stays failed.
 *
 * Strictness and bounds: lines end in CRLF; no NUL or other control bytes in the head (HTAB
 * only inside values); no obsolete line folding; header names are tokens; at most
 * BLZ_HTTP_MAX_LINE bytes per line, BLZ_HTTP_MAX_HEADERS fields and BLZ_HTTP_MAX_HEAD bytes for
 * the whole head (trailers count too). Content-Length: decimal digits only, at most 2^62;
 * repeated values must agree (also inside one comma list). Transfer-Encoding: only "chunked"
 * (alone) is accepted, and never together with Content-Length. Chunk sizes: hex, at most 15
 * digits, extensions after ';' ignored, trailers parsed and bounded. No body for HEAD requests
 * (BLZ_HTTP_PARSE_HEAD), 204, 304, or a 2xx reply to CONNECT (BLZ_HTTP_PARSE_CONNECT). Without
 * a length or chunking the body runs to end of input and the connection is not reusable.
 */
#ifndef BLZ_HTTP_PARSE_H
#define BLZ_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/strbuf.h"

#define BLZ_HTTP_MAX_LINE 8192
#define BLZ_HTTP_MAX_HEADERS 100
#define BLZ_HTTP_MAX_HEAD 32768
#define BLZ_HTTP_MAX_LENGTH (UINT64_C(1) << 62)

enum {
	BLZ_HTTP_PARSE_HEAD = 1 << 0,    /* the request was HEAD: no body */
	BLZ_HTTP_PARSE_CONNECT = 1 << 1, /* the request was CONNECT: a 2xx has no body */
};

enum blz_http_ev_type {
	BLZ_HTTP_EV_NONE,
	BLZ_HTTP_EV_HEADERS,
	BLZ_HTTP_EV_BODY,
	BLZ_HTTP_EV_DONE,
};

struct blz_http_ev {
	enum blz_http_ev_type type;
	const uint8_t *data;
	size_t len;
};

struct blz_http_field {
	uint32_t name, name_len, value, value_len; /* offsets into the head buffer */
};

struct blz_http_parser {
	/* results, valid from BLZ_HTTP_EV_HEADERS on */
	int status;                 /* 100..999 */
	int minor;                  /* HTTP/1.<minor> */
	bool has_length;
	uint64_t content_length;
	bool chunked;
	bool no_body;               /* HEAD, 204, 304, 2xx to CONNECT */
	bool until_close;           /* the body ends when the peer closes */
	bool keep_alive;            /* the connection may be reused after DONE */
	const char *err;            /* the reason of the last error, or NULL */
	uint64_t body_seen;         /* body bytes delivered so far */

	/* private */
	unsigned flags;
	int state;
	struct blz_buf head;        /* the current line, then the fields, NUL-separated */
	size_t line_start;
	size_t head_bytes;          /* raw head bytes seen (bounded by BLZ_HTTP_MAX_HEAD) */
	struct blz_http_field fields[BLZ_HTTP_MAX_HEADERS];
	unsigned nfields, ntrailers;
	uint64_t chunk_left;
	bool got_bytes;
	int failed;
};

void blz_http_parser_init(struct blz_http_parser *p, unsigned flags);
void blz_http_parser_release(struct blz_http_parser *p);
/* Consumes a prefix of in; returns the bytes consumed and sets *ev, or -EPROTO/-EMSGSIZE. */
long blz_http_parse(struct blz_http_parser *p, const void *in, size_t len, struct blz_http_ev *ev);
int blz_http_parse_eof(struct blz_http_parser *p);
/* How many bytes from here on are body bytes for sure (the rest of a Content-Length body or
 * of the current chunk; 0 elsewhere): a caller may receive that many straight into its body
 * buffer and pass them to blz_http_parse there, which reports them as one BLZ_HTTP_EV_BODY
 * pointing where they already are. */
uint64_t blz_http_body_run(const struct blz_http_parser *p);
/* The value of the first header called name (case-insensitive), NUL-terminated with optional
 * whitespace trimmed, or NULL. Valid from BLZ_HTTP_EV_HEADERS until release. */
const char *blz_http_header(const struct blz_http_parser *p, const char *name);

/* Retry-After (RFC 9110 10.2.3): delay-seconds or an IMF-fixdate, relative to now (seconds
 * since the epoch). Sets *ret_s (a date in the past gives 0; capped at 1 day). 0 or -EINVAL. */
int blz_http_retry_after(const char *value, time_t now, uint32_t *ret_s);

/* A request head. Every string must be free of CR, LF and NUL (else -EINVAL, nothing
 * appended). target is origin-form ("/a/b?q"), absolute-form ("http://h/a", through a proxy)
 * or authority-form ("h:443", for CONNECT). host is the Host header. extra: NULL or
 * "Name: value" lines without CRLF, NULL-terminated. close asks the server to close after. */
struct blz_http_request {
	const char *method;
	const char *target;
	const char *host;
	const char *const *extra;
	bool close;
};
int blz_http_encode_request(struct blz_buf *out, const struct blz_http_request *rq);

#endif
