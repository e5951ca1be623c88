/*
 * The answers of an external fetcher (docs/fetchers.md, version 1), decoded from bytes: no
 * I/O, so the exec: source (exec.c) feeds it what it reads from the fetcher and a test or
 * a fuzzer feeds it a buffer, in pieces of any size.
 *
 * One decoder reads one answer: the handshake line ("blazy-fetch 1") or the answer to a
 * "get": "ok N" and exactly N bytes, "missing", "error transient[ TEXT]", "error
 * permanent[ TEXT]". A line is at most BLZ_XPROTO_LINE_MAX - 1 bytes before its "\n"; a
 * longer one, a NUL byte in a line, an unknown answer, a malformed N or one above max_len
 * is not the protocol (the fetcher is then killed). Bytes after a complete answer are left
 * to the caller (*used says how many were taken).
 */
#ifndef BLZ_FETCH_EXECPROTO_H
#define BLZ_FETCH_EXECPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define BLZ_XPROTO_LINE_MAX 512
#define BLZ_XPROTO_VERSION 1

struct blz_xproto {
	/* private */
	bool handshake, in_body;
	size_t max_len, body_left, line_len;
	char line[BLZ_XPROTO_LINE_MAX];
	/* the outcome of a complete answer */
	int result;
	char reason[256];
};

/* Starts decoding one answer: the handshake's (handshake true) or a get's, whose chunk
 * file may be at most max_len bytes. */
void blz_xproto_begin(struct blz_xproto *p, bool handshake, size_t max_len);

/*
 * Takes bytes of the answer from data[0..len) (*used: how many). Returns
 *   0  all len bytes taken, the answer is not complete yet;
 *   1  the answer is complete: p->result is 0 (the handshake, or "ok N": the N bytes were
 *      appended to out), -ENOENT (missing), -EAGAIN (error transient) or -EREMOTEIO (error
 *      permanent), with p->reason for the log;
 *  <0  not the protocol: -EPROTO (garbage, a line too long, another version) or -EFBIG
 *      (more than max_len announced), p->reason says what.
 * Body bytes go to out as they come: on any outcome but 1 with result 0, the caller drops
 * what this answer appended (out->len as it was at begin). out may be NULL for the
 * handshake (it has no body).
 */
int blz_xproto_feed(struct blz_xproto *p, const uint8_t *data, size_t len, size_t *used,
		    struct blz_buf *out);

/* True while the answer is in its body ("ok N" read, bytes still to come). */
static inline bool blz_xproto_in_body(const struct blz_xproto *p)
{
	return p->in_body;
}

#endif
