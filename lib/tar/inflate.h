/*
 * A streaming gzip decoder: RFC 1952 members (header with FEXTRA, FNAME, FCOMMENT and FHCRC;
 * CRC-32 and ISIZE trailer verified) holding RFC 1951 DEFLATE data (stored, fixed and
 * dynamic Huffman blocks), any number of members back to back.
 *
 * Input is fed in pieces of any size, down to one byte; output comes back in chunks that
 * point into the decoder's own 32 KiB history window, so nothing is copied twice. Every
 * length, distance and code read from the stream is checked before it is used: corrupt
 * input gives -EBADMSG and a reason, never a read or write outside the decoder's buffers.
 */
#ifndef BLZ_TAR_INFLATE_H
#define BLZ_TAR_INFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLZ_INFLATE_CHUNK (256 * 1024) /* at most this much output per call */

struct blz_inflate;

struct blz_inflate *blz_inflate_new(void);
void blz_inflate_free(struct blz_inflate *z);

/*
 * Decodes from *in (*in_len bytes; both advanced past what was used) until the input is
 * used up or a chunk of output is ready. Sets *out and *out_len to the bytes decoded by
 * this call; they stay valid until the next call. Returns 0 or -EBADMSG (sticky; then
 * blz_inflate_error() says why). A call that returns no output has used all its input and
 * can go no further without more: at the end of the input, call it with *in_len == 0 until
 * *out_len is 0, then ask blz_inflate_done() whether the stream was complete. With
 * *in_len == 0, *in may be NULL (and is left as it is).
 */
int blz_inflate_run(struct blz_inflate *z, const uint8_t **in, size_t *in_len,
		    const uint8_t **out, size_t *out_len);

/* True when the input so far ends exactly after a member's trailer (at least one member). */
bool blz_inflate_done(const struct blz_inflate *z);

/* Compressed bytes used so far, for messages (the position of an error). */
uint64_t blz_inflate_in_offset(const struct blz_inflate *z);

/* Why the last call failed, e.g. "invalid distance too far back". */
const char *blz_inflate_error(const struct blz_inflate *z);

#endif
