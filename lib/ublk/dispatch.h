/*
 * The kernel-free half of a ublk queue: its tag table, the requests a backend holds, their
 * submission to the backend, the delivery of their completions, and the queue's request
 * counters. lib/ublk/queue.c drives one dispatcher per queue from the queue's io_uring; a
 * unit test drives it from a fake queue.
 *
 * Threads. Everything here is called by one thread, the queue's (the owner), except
 * blz_ublk_disp_wake and the completions of an asynchronous backend, which may come from
 * any thread.
 *
 * Requests. blz_ublk_disp_request() takes the descriptor of a request the kernel gave tag.
 * With a synchronous backend (no submit op: null, pattern, lazy) it reads at once into the
 * tag's buffer and commits before it returns: no lock, no atomic read-modify-write, no
 * system call. With an asynchronous backend it submits a struct blz_backend_req; the
 * backend completes it exactly once from any thread:
 *   - on the owner thread within submit (inline): committed at once;
 *   - from another thread: pushed on a lock-free list (one compare-and-swap) and, when the
 *     list was empty, the wake eventfd written; the owner, woken by its ring's read of that
 *     eventfd, calls blz_ublk_disp_drain(), which commits everything on the list.
 * Every other tag is served meanwhile. A completion's result is a backend result
 * (backend.h): all bytes, a short read, or -errno, committed as blz_ublk_read_commit() says
 * (a short read: its whole blocks, the kernel asks again for the rest; or -EIO where the
 * kernel cannot complete a read short).
 *
 * Commits go through the commit function given at creation, on the owner thread, with the
 * buffer to fetch the tag's next request into (normally the tag's own buffer).
 *
 * Teardown. blz_ublk_disp_abandon() fails every request the backend still holds with an
 * error. An abandoned request stays the backend's: its buffer and request object are not
 * reused (the tag gets a fresh buffer) and its late completion is counted and dropped. The
 * queue abandons what is left a bound after STOP begins (queue.c). blz_ublk_disp_held()
 * counts the requests the backend holds; while it is not 0, the tags' buffers (owned by the
 * caller) and the dispatcher must stay mapped: blz_ublk_disp_free() then leaks the
 * dispatcher rather than free it under the backend.
 */
#ifndef BLZ_UBLK_DISPATCH_H
#define BLZ_UBLK_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/recorder.h"
#include "ublk/ublk.h"

struct blz_ublk_disp;

/* Commits tag's request with result (bytes or -errno) and fetches its next request into
 * buf. Called on the owner thread. */
typedef void (*blz_ublk_commit_fn)(void *ctx, unsigned tag, int32_t result, void *buf);

/* Zero copy: fills tag's request with the len bytes of file fd at off and commits it (the
 * queue's ring: lib/ublk/zc.h), reporting the outcome later through
 * blz_ublk_disp_file_done. Called on the owner thread. */
typedef void (*blz_ublk_file_read_fn)(void *ctx, unsigned tag, int fd, uint64_t off,
				      uint32_t len);

struct blz_ublk_disp_config {
	struct blz_backend *backend;
	unsigned depth;    /* tags 0 .. depth - 1 */
	uint32_t buf_size; /* largest request, bytes */
	uint8_t *bufs;     /* depth buffers of buf_size bytes, the caller's */
	blz_ublk_commit_fn commit;
	void *ctx;
	/* The logical block size: a short read is committed as the whole blocks of its
	 * readable prefix (ublk requeues the rest), or as EIO when that is no whole block
	 * (0: 4096). */
	uint32_t block_size;
	/* The kernel cannot complete a read short (the device has USER_COPY, so zero copy):
	 * every short read is committed as EIO (blz_ublk_read_commit). */
	bool no_short_reads;
	/* Where every request is recorded when it completes (statistics, the request log:
	 * backend/recorder.h), with the area and outcome its backend noted; NULL: nowhere. */
	struct blz_recq *rec;
	/* Zero copy (NULL: never): a read whose whole range the backend says is one file's
	 * (blz_backend_file_range) goes to file_read instead of the backend, unless its
	 * descriptor has UBLK_IO_F_NEED_REG_BUF (the kernel registered no buffer). */
	blz_ublk_file_read_fn file_read;
};

/*
 * What a read of len bytes that served r (bytes, or -errno) is committed as: len, or -errno,
 * as they are; a short count (0 < r < len) as the whole blocks of its readable prefix
 * (block_size, a power of 2), which the kernel completes before it asks again for the rest,
 * or -EIO when that is no whole block or when short_ok is false; 0 or a count past len: -EIO.
 *
 * short_ok must be false on a device where the kernel does not copy (USER_COPY, which zero
 * copy needs): there the 7.3 kernel (ublk_drv __ublk_complete_rq, !need_map) ends the whole
 * request as done, whatever positive count it is given, so the bytes past the count would be
 * whatever the request's pages held (VM 052 with zero copy: direct reads across a mapped ->
 * unmapped edge came back in full). Such a read then fails as a whole: never wrong bytes.
 */
int32_t blz_ublk_read_commit(int r, uint32_t len, uint32_t block_size, bool short_ok);

int blz_ublk_disp_new(const struct blz_ublk_disp_config *cfg, struct blz_ublk_disp **ret);
/* Frees d, unless the backend still holds requests (then d is leaked). Accepts NULL. */
void blz_ublk_disp_free(struct blz_ublk_disp *d);

/* The kernel gave tag the request desc: serve it (see above). */
void blz_ublk_disp_request(struct blz_ublk_disp *d, unsigned tag,
			   const struct blz_ublk_io_desc *desc);
/* A read handed to file_read ended with result (bytes or -errno): counted and recorded
 * (area local, outcome image). */
void blz_ublk_disp_file_done(struct blz_ublk_disp *d, unsigned tag, int result);
/* Reads handed to file_read so far. Any thread. */
uint64_t blz_ublk_disp_file_reads(const struct blz_ublk_disp *d);

/* Commits the completions that came from other threads; returns how many. */
unsigned blz_ublk_disp_drain(struct blz_ublk_disp *d);
/* Fails every request the backend holds with err (-errno); returns how many. */
unsigned blz_ublk_disp_abandon(struct blz_ublk_disp *d, int err);

/* The eventfd written when a completion from another thread is waiting (the owner reads
 * it to clear it), or -1 with a synchronous backend. */
int blz_ublk_disp_wake_fd(const struct blz_ublk_disp *d);
/* Wakes the owner (writes the eventfd); any thread. Nothing with a synchronous backend. */
void blz_ublk_disp_wake(struct blz_ublk_disp *d);

/* Requests submitted and not yet committed. */
unsigned blz_ublk_disp_inflight(const struct blz_ublk_disp *d);
/* Requests the backend holds: in flight, plus abandoned ones it has not completed. */
unsigned blz_ublk_disp_held(const struct blz_ublk_disp *d);

/* The request counters (reads .. errors, inflight, async, abandoned, late, duplicates);
 * the ring's own (batches, sleeps, poll_hits) are left alone. Any thread. */
void blz_ublk_disp_stats(const struct blz_ublk_disp *d, struct blz_ublk_qstats *ret);

#endif
