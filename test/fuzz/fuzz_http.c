/* The HTTP/1.1 response parser (lib/http/parse.h). The first input byte chooses the request
 * kind (HEAD, CONNECT) and the size of the pieces the rest is fed in; the same bytes are also
 * parsed whole, and both runs must agree on every result (an incremental parser must not
 * depend on where its input is split). Invariants: a call never consumes more than it was
 * given, the body never exceeds a Content-Length, a header event comes before any body, and
 * the bytes blz_http_body_run promises are body, reported in place in one event. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http/parse.h"

struct outcome {
	int r;               /* 0 complete, 1 needs more (then the EOF result), or -errno */
	int status;
	uint64_t body, sum;  /* body bytes and a position-weighted sum of them */
	bool headers;
};

static void run(const uint8_t *in, size_t len, size_t piece, unsigned flags, struct outcome *o)
{
	struct blz_http_parser p;
	blz_http_parser_init(&p, flags);
	memset(o, 0, sizeof(*o));
	o->r = 1;
	size_t off = 0;
	while (off < len || o->r == 1) {
		size_t n = len - off < piece ? len - off : piece;
		if (n == 0)
			break;
		struct blz_http_ev ev;
		uint64_t promised = blz_http_body_run(&p);
		long c = blz_http_parse(&p, in + off, n, &ev);
		if (promised && c >= 0 &&
		    (ev.type != BLZ_HTTP_EV_BODY || ev.data != in + off || ev.len != (n < promised ? n : promised)))
			__builtin_trap();
		if (c < 0) {
			o->r = (int)c;
			if (!p.err)
				__builtin_trap(); /* every error names its cause */
			break;
		}
		if ((size_t)c > n || (c == 0 && ev.type == BLZ_HTTP_EV_NONE))
			__builtin_trap(); /* consumed more than given, or no progress */
		off += (size_t)c;
		if (ev.type == BLZ_HTTP_EV_HEADERS) {
			if (o->headers)
				__builtin_trap();
			o->headers = true;
			o->status = p.status;
			(void)blz_http_header(&p, "content-type");
			(void)blz_http_header(&p, "retry-after");
		} else if (ev.type == BLZ_HTTP_EV_BODY) {
			if (!o->headers || ev.len == 0 || ev.data < in || ev.data + ev.len > in + len)
				__builtin_trap();
			for (size_t i = 0; i < ev.len; i++)
				o->sum += (o->body + i + 1) * ev.data[i];
			o->body += ev.len;
			if (p.has_length && o->body > p.content_length)
				__builtin_trap();
		} else if (ev.type == BLZ_HTTP_EV_DONE) {
			if (!o->headers)
				__builtin_trap();
			o->r = 0;
			break;
		}
	}
	if (o->r == 1)
		o->r = 10 + blz_http_parse_eof(&p); /* the peer closed here */
	blz_http_parser_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0] & 3;
	size_t piece = (size_t)(data[0] >> 2) + 1; /* 1..64 */
	struct outcome whole, split;
	run(data + 1, size - 1, size, flags, &whole);
	run(data + 1, size - 1, piece, flags, &split);
	if (whole.r != split.r || whole.status != split.status || whole.body != split.body ||
	    whole.sum != split.sum || whole.headers != split.headers)
		__builtin_trap();
	return 0;
}
