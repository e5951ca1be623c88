/* The request log's decoder (lib/backend/reqlog.c, docs/request-log.md): every line of the
 * input is parsed as a header and as a record; what parses must encode back to exactly the
 * same line (the format has one spelling per record), and the encoding must parse again to
 * the same record. */
#include <stdlib.h>
#include <string.h>

#include "backend/reqlog.h"
#include "fuzz.h"

static void check_record(const char *line, size_t len)
{
	struct blz_reqrec rec, again;
	memset(&rec, 0, sizeof(rec)); /* the padding too: the records are compared whole */
	memset(&again, 0, sizeof(again));
	if (blz_reqlog_parse(line, len, &rec) != 0)
		return;
	struct blz_buf b = { 0 };
	blz_reqlog_encode(&b, &rec);
	/* the encoder ends the line; the decoder takes it without */
	if (b.len == 0 || b.len > BLZ_REQLOG_MAX_LINE || b.data[b.len - 1] != '\n')
		abort();
	if (b.len - 1 != len || memcmp(b.data, line, len))
		abort(); /* accepted a spelling the encoder does not write */
	if (blz_reqlog_parse((const char *)b.data, b.len - 1, &again) != 0 ||
	    memcmp(&rec, &again, sizeof(rec)))
		abort();
	blz_buf_release(&b);
}

static void check_header(const char *line, size_t len)
{
	uint64_t t0, t1;
	if (blz_reqlog_parse_header(line, len, &t0) != 0)
		return;
	struct blz_buf b = { 0 };
	blz_reqlog_header(&b, t0);
	if (b.len == 0 || b.data[b.len - 1] != '\n' || b.len - 1 != len || memcmp(b.data, line, len))
		abort();
	if (blz_reqlog_parse_header((const char *)b.data, b.len - 1, &t1) != 0 || t1 != t0)
		abort();
	blz_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy, so that a read past a line's end is caught by ASan */
	for (size_t at = 0; at <= size;) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
		char *line = malloc(len ? len : 1);
		memcpy(line, data + at, len);
		check_header(line, len);
		check_record(line, len);
		free(line);
		at += len + 1;
	}
	return 0;
}
