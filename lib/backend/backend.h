/*
 * Backends: where the bytes of a served device come from. A small vtable in the nbdkit
 * style: a backend embeds struct blz_backend first and supplies its ops. Reads are called
 * concurrently from every queue thread of the server, so a backend keeps any mutable state
 * thread-safe. All functions return 0 or -errno and never print.
 *
 *   null,size=S      zeros
 *   pattern,size=S   every aligned 8-byte little-endian word holds its own byte offset,
 *                    so a misplaced or stale byte shows
 */
#ifndef BLZ_BACKEND_BACKEND_H
#define BLZ_BACKEND_BACKEND_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

struct blz_backend;

struct blz_backend_ops {
	const char *name;
	/* Fills buf with the len bytes at off (off + len <= size): 0 or -errno. A backend
	 * whose bytes can be unreadable (lazy) may return a short count n, 0 < n < len: the
	 * first n bytes are filled and the byte at off + n cannot be read; the caller
	 * completes the prefix and asks again for the rest (which then fails). */
	int (*read)(struct blz_backend *b, void *buf, uint32_t len, uint64_t off);
	/* Releases everything, b included. */
	void (*close)(struct blz_backend *b);
};

struct blz_backend {
	const struct blz_backend_ops *ops;
	uint64_t size; /* bytes */
};

/* Reads within the device; a range past the end is -EIO. 0, a short count or -errno, as
 * ops->read. */
static inline int blz_backend_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	if (off > b->size || len > b->size - off)
		return -EIO;
	return b->ops->read(b, buf, len, off);
}

/* Accepts NULL. */
void blz_backend_close(struct blz_backend *b);

int blz_backend_null_open(uint64_t size, struct blz_backend **ret);
int blz_backend_pattern_open(uint64_t size, struct blz_backend **ret);

/* The byte at offset off of the pattern backend. */
static inline uint8_t blz_pattern_byte(uint64_t off)
{
	return (uint8_t)((off & ~(uint64_t)7) >> (8 * (off & 7)));
}

/*
 * Opens a backend from a spec "NAME,KEY=VALUE,...": "null,size=1G", "pattern,size=4096".
 * size is required, a multiple of 4 KiB, not 0 (suffixes K M G T P E, powers of 1024).
 * -EINVAL for a bad spec, with the reason in err (errlen bytes, may be 0).
 */
int blz_backend_open_spec(const char *spec, struct blz_backend **ret, char *err, size_t errlen);

#endif
