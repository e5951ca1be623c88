/*
 * Zero copy for a queue (lib/ublk internal; queue.c drives it).
 *
 * With UBLK_F_AUTO_BUF_REG (6.16) the kernel registers the pages of each request it hands a
 * tag into the queue ring's fixed-buffer table, at the index the tag's FETCH or
 * COMMIT_AND_FETCH named (blazy: the tag itself), and unregisters them at the tag's next
 * commit. The kernel then copies nothing: the bytes reach the request only through io_uring
 * operations on that fixed buffer, or through user copy (UBLK_F_USER_COPY, requested with
 * it: pwrite on /dev/ublkcN at blz_ublk_user_copy_pos()).
 *
 * So a zero-copy queue serves a read two ways:
 *   - bytes the backend says are one file's (blz_backend_file_range: the seed image's
 *     local region): a READ_FIXED from that file into the request's registered buffer,
 *     linked (IOSQE_IO_LINK) with the tag's COMMIT_AND_FETCH of the full length, so one
 *     io_uring_enter does both and the server never sees the bytes;
 *   - everything else (lazy chunks, zeros, errors, asynchronous backends, a request the
 *     kernel could not register: UBLK_IO_F_NEED_REG_BUF with UBLK_AUTO_BUF_REG_FALLBACK):
 *     the backend fills the tag's own buffer as in copy mode and blz_ublk_zc_copy() writes
 *     the bytes into the request before the commit.
 *
 * A linked READ that fails or comes back short severs the link: its commit completes with
 * -ECANCELED and is not seen by the driver. The state machine below (kernel-free, unit
 * tested) pairs the two completions, which may come in either order, and says when and
 * with which result the tag must be committed again: -EIO, for a failure and for a short
 * read alike.
 *
 * No short completions: on a device with USER_COPY the kernel (7.3) ends the whole request
 * as done whatever positive count is committed, so a short count would hand the reader the
 * bytes the request's pages held past it (blz_ublk_read_commit). Every short result of such
 * a device, the READ's, the backend's (the dispatcher's no_short_reads) and a short user
 * copy's, is committed as -EIO: a request that covers readable then unreadable bytes fails
 * as a whole.
 */
#ifndef BLZ_UBLK_ZC_H
#define BLZ_UBLK_ZC_H

#include <stdbool.h>
#include <stdint.h>

/* user_data bit of a zero-copy READ (tags are below 4096; the eventfd read is all ones) */
#define BLZ_UBLK_ZC_READ_DATA (1ULL << 62)

struct blz_ublk_zc;

/* State for depth tags. */
int blz_ublk_zc_new(unsigned depth, struct blz_ublk_zc **ret);
void blz_ublk_zc_free(struct blz_ublk_zc *z); /* accepts NULL */

/* A READ of len bytes into tag's request and its linked commit (of len) were queued. */
void blz_ublk_zc_read_begin(struct blz_ublk_zc *z, unsigned tag, uint32_t len);
/* The READ completed with res. *ret_result: the request's outcome (bytes served, or
 * -errno), for the counters. Returns true when the tag must be committed again now, with
 * *ret_commit (the commit's cancellation came first). */
bool blz_ublk_zc_read_cqe(struct blz_ublk_zc *z, unsigned tag, int res, int32_t *ret_result,
			  int32_t *ret_commit);
/* A commit of tag completed with res. Returns -1 when it is not a severed link of a
 * zero-copy read (handle it as any commit completion), 0 when it is and the READ's
 * completion is still to come, 1 when the tag must be committed again now with
 * *ret_commit. */
int blz_ublk_zc_commit_cqe(struct blz_ublk_zc *z, unsigned tag, int res, int32_t *ret_commit);
/* Whether tag has a zero-copy READ or its severed commit outstanding. */
bool blz_ublk_zc_busy(const struct blz_ublk_zc *z, unsigned tag);

/* User copy of a copy-mode result: result bytes of buf into request (q, tag) through
 * /dev/ublkcN (cfd). Returns the result to commit: result itself (-errno and 0 included), or
 * -EIO when the copy failed or came up short. */
int32_t blz_ublk_zc_copy(int cfd, unsigned q, unsigned tag, const void *buf, int32_t result);

#endif
