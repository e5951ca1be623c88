/* An external fetcher's answers (lib/fetch/execproto.h, docs/fetchers.md): the byte stream a
 * fetcher writes, decoded as the exec: source does: the handshake, then one answer after
 * the other until the bytes end or one is not the protocol. Byte 0: the piece size the
 * stream is fed in (0: all at once); byte 1: the largest chunk file an "ok N" may announce
 * (0: 2 MiB, else that many bytes). The stream is decoded whole and in pieces: both runs
 * must agree answer by answer and byte by byte, no call takes more than it was given or
 * stops early without a complete answer, and no body exceeds the bound. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/execproto.h"
#include "fuzz.h"

#define MAX_ANSWERS 256

struct run {
	int ret[MAX_ANSWERS], result[MAX_ANSWERS];
	size_t body_end[MAX_ANSWERS];
	size_t n, used;
	struct blz_buf bodies;
};

static void decode(const uint8_t *d, size_t len, size_t step, size_t max_len, struct run *t)
{
	bool handshake = true;
	while (t->used < len && t->n < MAX_ANSWERS) {
		struct blz_xproto p;
		blz_xproto_begin(&p, handshake, max_len);
		size_t before = t->bodies.len;
		int r = 0;
		while (r == 0 && t->used < len) {
			size_t n = step && len - t->used > step ? step : len - t->used, k = 0;
			r = blz_xproto_feed(&p, d + t->used, n, &k, handshake ? NULL : &t->bodies);
			if (k > n || (r == 0 && k != n) || (r != 0 && k == 0))
				abort(); /* took more than given, or stopped short */
			t->used += k;
		}
		t->ret[t->n] = r;
		t->result[t->n] = r == 1 ? p.result : 0;
		t->body_end[t->n++] = t->bodies.len;
		if (t->bodies.len - before > max_len)
			abort();
		if ((r < 0 || (r == 1 && p.result < 0)) && !p.reason[0])
			abort(); /* a failure says why */
		if (r == 1 && p.result < 0 && t->bodies.len != before)
			abort(); /* only "ok" has a body */
		if (r != 0 && blz_xproto_in_body(&p))
			abort(); /* a complete or refused answer is not in a body */
		if (r != 1)
			break;
		handshake = false;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t step = data[0], max_len = data[1] ? data[1] : 2u << 20;
	data += 2;
	size -= 2;
	static struct run whole, pieces;
	memset(&whole, 0, offsetof(struct run, bodies));
	memset(&pieces, 0, offsetof(struct run, bodies));
	whole.bodies.len = pieces.bodies.len = 0;
	decode(data, size, 0, max_len, &whole);
	decode(data, size, step, max_len, &pieces);
	if (whole.n != pieces.n || whole.used != pieces.used ||
	    memcmp(whole.ret, pieces.ret, whole.n * sizeof(int)) ||
	    memcmp(whole.result, pieces.result, whole.n * sizeof(int)) ||
	    memcmp(whole.body_end, pieces.body_end, whole.n * sizeof(size_t)) ||
	    whole.bodies.len != pieces.bodies.len ||
	    (whole.bodies.len && memcmp(whole.bodies.data, pieces.bodies.data, whole.bodies.len)))
		abort(); /* the pieces changed the outcome */
	return 0;
}
