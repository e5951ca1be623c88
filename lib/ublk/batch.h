/*
 * The batched ublk I/O protocol of one queue (UBLK_F_BATCH_IO, kernel 7.0+), as an
 * alternative to one FETCH_REQ / COMMIT_AND_FETCH_REQ per tag. Internal to lib/ublk:
 * queue.c drives it from the queue thread's ring when the device has UBLK_F_BATCH_IO.
 *
 * Protocol (include/uapi/linux/ublk_cmd.h, drivers/block/ublk_drv.c):
 *   - PREP_IO_CMDS, once per queue before START_DEV (or END_USER_RECOVERY): one element per
 *     tag, each with the tag's buffer (copy mode: BLZ_UBLK_BATCH_F_HAS_BUF_ADDR). The queue
 *     is ready once every tag is prepared; the command completes at once with 0.
 *   - FETCH_IO_CMDS, multishot (IORING_URING_CMD_MULTISHOT) with a provided buffer
 *     (IOSQE_BUFFER_SELECT, one incrementally consumed buffer ring of one buffer per fetch
 *     command): each completion carries the tags of new requests, 2 bytes each, written at
 *     the buffer's next unused offset; res is their byte count. Two fetch commands per
 *     queue: the driver feeds one at a time, the other takes over when the first ends. A
 *     fetch ends when its buffer is used up (-ENOBUFS, or a completion without
 *     IORING_CQE_F_MORE): it is armed again with its buffer reset. It ends for good with
 *     -ENODEV (UBLK_IO_RES_ABORT) when the device stops or is quiesced.
 *   - COMMIT_IO_CMDS: the results of many tags in one command, each element with the
 *     buffer for the tag's next request. Its completion is the byte count of the elements
 *     the driver took (all of them, or an error for the first it refused).
 *   - A short read, an error, a request still held by an asynchronous backend: exactly as
 *     with per-tag commands (the driver completes and requeues alike).
 *
 * Commits queue up in an element array and go out as one COMMIT_IO_CMDS per
 * blz_ublk_batch_flush(), which the queue calls before each io_uring_enter. An element
 * array stays untouched until its command's completion.
 *
 * Everything runs on the queue thread. Functions return 0 or -errno.
 */
#ifndef BLZ_UBLK_BATCH_H
#define BLZ_UBLK_BATCH_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

/* user_data of this module's commands: this bit set (tags and the eventfd read are not). */
#define BLZ_UBLK_BATCH_UD (1ULL << 62)

struct blz_ublk_batch;

struct blz_ublk_batch_config {
	struct io_uring *ring; /* the queue thread's ring */
	int fd;                /* /dev/ublkcN, or its index in the ring's files */
	bool fixed;            /* fd is a registered file index */
	unsigned q_id, depth;
	const uint8_t *bufs; /* depth buffers of buf_size bytes */
	uint32_t buf_size;
};

/* Sets up the fetch buffers (registered as buffer rings in cfg->ring). */
int blz_ublk_batch_new(const struct blz_ublk_batch_config *cfg, struct blz_ublk_batch **ret);
/* After the ring is closed. Accepts NULL. */
void blz_ublk_batch_free(struct blz_ublk_batch *b);

/* Queues PREP_IO_CMDS and the fetch commands, submits them, and checks that the driver
 * took them (PREP's completion is consumed here). */
int blz_ublk_batch_start(struct blz_ublk_batch *b);

/* Queues tag's result (bytes or -errno) and the buffer for its next request; it goes out
 * with the next blz_ublk_batch_flush(). */
int blz_ublk_batch_commit(struct blz_ublk_batch *b, unsigned tag, int32_t result, const void *buf);
/* Queues one COMMIT_IO_CMDS for the results queued since the last flush (none: nothing). */
int blz_ublk_batch_flush(struct blz_ublk_batch *b);

static inline bool blz_ublk_batch_owns(uint64_t user_data)
{
	return (user_data & BLZ_UBLK_BATCH_UD) && user_data != UINT64_MAX;
}

/* The fetch commands still alive (0 once the driver has aborted them all). */
unsigned blz_ublk_batch_live(const struct blz_ublk_batch *b);

/* Handles one completion of this module's commands (blz_ublk_batch_owns): for each tag a
 * fetch delivered, request(ctx, tag). Returns 0, or -errno when the driver refused a
 * command (a fetch that ends with an error other than -ENODEV, a commit not fully taken);
 * *ret_ended is set when a fetch command ended for good. */
int blz_ublk_batch_cqe(struct blz_ublk_batch *b, const struct io_uring_cqe *cqe,
		       void (*request)(void *ctx, unsigned tag), void *ctx, bool *ret_ended);

#endif
