/* The pattern backend: each aligned 8-byte little-endian word holds its own byte offset. */
#include <stdlib.h>

#include "backend/backend.h"
#include "util/le.h"

static int pattern_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	uint8_t *p = buf;
	/* a partial word first, then whole words, then a partial word */
	while (len && (off & 7)) {
		*p++ = blz_pattern_byte(off++);
		len--;
	}
	for (; len >= 8; len -= 8, off += 8, p += 8)
		put_le64(p, off);
	while (len) {
		*p++ = blz_pattern_byte(off++);
		len--;
	}
	return 0;
}

static void pattern_close(struct blz_backend *b)
{
	free(b);
}

static const struct blz_backend_ops pattern_ops = {
	.name = "pattern",
	.read = pattern_read,
	.close = pattern_close,
};

int blz_backend_pattern_open(uint64_t size, struct blz_backend **ret)
{
	struct blz_backend *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ops = &pattern_ops;
	b->size = size;
	*ret = b;
	return 0;
}
