/*
 * Backends: where the bytes of a served device come from. A small vtable in the nbdkit
 * style: a backend embeds struct blz_backend first and supplies its ops. Reads are called
 * concurrently from every queue thread of the server, so a backend keeps any mutable state
 * thread-safe. A backend that would block (a remote store) also offers submit: it takes a
 * request and completes it later from any thread, so that a slow source never holds a
 * server's queue; the local backends only have read, and servers call it inline. All
 * functions return 0 (or a result as below) or -errno and never print.
 *
 *   null,size=S      zeros
 *   pattern,size=S   every aligned 8-byte little-endian word holds its own byte offset,
 *                    so a misplaced or stale byte shows
 * and a filter over either:
 *   ...,async=N[,stall=OFF]  requests completed by N worker threads reading the layer
 *                    below, out of order; reads covering byte OFF are held until close
 * Request filters over any backend (filter.c; blz_backend_filter_spec):
 *   delay:ms=N              every read is delayed by N ms (0..60000)
 *   error:rate=P[,file=PATH]  each read fails with EIO with probability P (0..1); with
 *                    file (last: the rest of the spec), only while PATH exists (looked
 *                    at at most every 10 ms)
 */
#ifndef BLZ_BACKEND_BACKEND_H
#define BLZ_BACKEND_BACKEND_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

struct blz_backend;

/*
 * One read handed to a backend's asynchronous op. The submitter fills buf, len, off and
 * done (and may use priv); the backend fills buf and then calls done exactly once, from any
 * thread, inline within submit or later, with the request's result (see below). After done
 * the backend must not touch req or buf again. A filter forwards a request by submitting a
 * request of its own (embedding it in a larger struct) whose done completes the upper one.
 */
struct blz_backend_req {
	void *buf;
	uint32_t len;
	uint64_t off;
	void (*done)(struct blz_backend_req *req, int result);
	void *priv; /* the submitter's */
	/* Out: what the read met (enum blz_area, enum blz_outcome), for the request log and
	 * statistics (reqlog.h). The submitter zeroes them; the backend sets them before done
	 * (blz_backend_note()); 0 and 0 mean it did not say. */
	uint8_t area, outcome;
};

/* The area of a device a request's first byte lies in (the lazy device's layout). */
enum blz_area {
	BLZ_AREA_NONE,    /* the backend has no areas (null, pattern) */
	BLZ_AREA_LOCAL,   /* the local region: the seed image */
	BLZ_AREA_IMPORT,  /* the import area */
	BLZ_AREA_VIRTUAL, /* the virtual area */
	BLZ_AREA_GAP,     /* between regions: zeros */
	BLZ_AREA_N
};

/* How a read was served, in rising order of cost: a request that met several gets the
 * last (highest) of them. */
enum blz_outcome {
	BLZ_OUT_OK,       /* served; the backend did not say how */
	BLZ_OUT_ZERO,     /* zeros between regions */
	BLZ_OUT_IMAGE,    /* from the seed image */
	BLZ_OUT_CACHE,    /* lazy bytes from the chunk cache */
	BLZ_OUT_FETCH,    /* lazy bytes fetched from the store */
	BLZ_OUT_UNMAPPED, /* an unmapped lazy byte (EIO) */
	BLZ_OUT_ERROR,    /* failed otherwise */
	BLZ_OUT_N
};

/* The request being read synchronously on this thread (set by blz_backend_read_req). */
extern __thread struct blz_backend_req *blz_backend_current;

/* Records on req what the read met: the area of its first byte (the first note wins) and
 * the costliest outcome. NULL req: the request read on this thread, if any. */
static inline void blz_backend_note(struct blz_backend_req *req, unsigned area,
				    unsigned outcome)
{
	if (!req)
		req = blz_backend_current;
	if (!req)
		return;
	if (!req->area)
		req->area = (uint8_t)area;
	if (outcome > req->outcome)
		req->outcome = (uint8_t)outcome;
}

/*
 * Results, of read and of an asynchronous request alike: 0 or len, all len bytes; n with
 * 0 < n < len, a short read: only the first n bytes are valid (the rest of the range is to
 * be asked again, and may fail); -errno, nothing is valid.
 */
struct blz_backend_ops {
	const char *name;
	/* Fills buf with the len bytes at off (off + len <= size): a result as above. Every
	 * backend has it. */
	int (*read)(struct blz_backend *b, void *buf, uint32_t len, uint64_t off);
	/* Optional: takes req (off + len <= size) and completes it later through req->done.
	 * When set, servers use it instead of read; it must never block for long (hand slow
	 * work to other threads). */
	void (*submit)(struct blz_backend *b, struct blz_backend_req *req);
	/* Releases everything, b included. Requests still outstanding are completed
	 * (-ECANCELED) before it returns. */
	void (*close)(struct blz_backend *b);
	/* Optional (zero copy): when [off, off + len) is, byte for byte, [*ret_file_off,
	 * + len) of one file, 0 with that file's fd (the backend's: open until close) and the
	 * offset; -ENOENT otherwise. The caller then reads the file itself (into pages the
	 * backend never sees) instead of calling read or submit, so the backend counts such a
	 * range as read when it answers 0. A filter that changes the bytes or their timing
	 * (delay, error, async) leaves it out; servers use read or submit then. */
	int (*file_range)(struct blz_backend *b, uint64_t off, uint32_t len, int *ret_fd,
			  uint64_t *ret_file_off);
};

struct blz_backend {
	const struct blz_backend_ops *ops;
	uint64_t size; /* bytes */
};

/* Reads within the device; a range past the end is -EIO. Returns a result as above. */
static inline int blz_backend_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	if (off > b->size || len > b->size - off)
		return -EIO;
	return b->ops->read(b, buf, len, off);
}

/* Reads req's range with b's read op (synchronously, on this thread), so that the
 * backend's notes reach req. Returns a result as above. */
int blz_backend_read_req(struct blz_backend *b, struct blz_backend_req *req);

/* A result as above turned into the bytes served: len, a short count in (0, len), or
 * -errno (-EIO for a count past len). */
static inline int blz_backend_result(int r, uint32_t len)
{
	if (r == 0)
		return (int)len;
	if (r < 0 || (uint32_t)r <= len)
		return r;
	return -EIO;
}

/* Whether the backend completes requests itself (has a submit op). */
static inline int blz_backend_is_async(const struct blz_backend *b)
{
	return b->ops->submit != NULL;
}

/* b's file_range op (see above); -EOPNOTSUPP when it has none, -ENOENT past the end. */
static inline int blz_backend_file_range(struct blz_backend *b, uint64_t off, uint32_t len,
					 int *ret_fd, uint64_t *ret_file_off)
{
	if (!b->ops->file_range)
		return -EOPNOTSUPP;
	if (off > b->size || len > b->size - off)
		return -ENOENT;
	return b->ops->file_range(b, off, len, ret_fd, ret_file_off);
}

/* Submits req to b: its submit op, or its read op with done called inline. A range past
 * the end completes with -EIO. done gets a result as above (normalise it with
 * blz_backend_result). */
void blz_backend_submit(struct blz_backend *b, struct blz_backend_req *req);

/* Accepts NULL. */
void blz_backend_close(struct blz_backend *b);

int blz_backend_null_open(uint64_t size, struct blz_backend **ret);
int blz_backend_pattern_open(uint64_t size, struct blz_backend **ret);
/* The async filter over next (taken over on success): threads (1..64) workers; reads that
 * cover byte stall_off (UINT64_MAX: none) are held until close. Closing it completes what
 * it holds with -ECANCELED. */
int blz_backend_async_open(struct blz_backend *next, unsigned threads, uint64_t stall_off,
			   struct blz_backend **ret);

/* Wraps *b (taken over on success, replaced by the filter) in the filter spec names:
 * "delay:ms=N" or "error:rate=P[,file=PATH]". -EINVAL with the reason in err for a bad
 * spec (*b untouched), -ENOMEM. */
int blz_backend_filter_spec(const char *spec, struct blz_backend **b, char *err,
			    size_t errlen);

/* The trigger file of an error filter spec (the rest of the spec after "file="), or NULL. */
const char *blz_backend_filter_file(const char *spec);

/* The byte at offset off of the pattern backend. */
static inline uint8_t blz_pattern_byte(uint64_t off)
{
	return (uint8_t)((off & ~(uint64_t)7) >> (8 * (off & 7)));
}

/*
 * Opens a backend from a spec "NAME,KEY=VALUE,...": "null,size=1G", "pattern,size=4096",
 * "pattern,size=1G,async=4". size is required, a multiple of 4 KiB, not 0 (suffixes K M G
 * T P E, powers of 1024); async=N (1..64) adds the async filter, stall=OFF (with async)
 * makes it hold the reads that cover byte OFF.
 * -EINVAL for a bad spec, with the reason in err (errlen bytes, may be 0).
 */
int blz_backend_open_spec(const char *spec, struct blz_backend **ret, char *err, size_t errlen);

#endif
