/* The null backend: every byte reads as zero. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

static int null_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	memset(buf, 0, len);
	return 0;
}

static void null_close(struct blz_backend *b)
{
	free(b);
}

static const struct blz_backend_ops null_ops = {
	.name = "null",
	.read = null_read,
	.close = null_close,
};

int blz_backend_null_open(uint64_t size, struct blz_backend **ret)
{
	struct blz_backend *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ops = &null_ops;
	b->size = size;
	*ret = b;
	return 0;
}
