/*
 * The ublk feature flags (the GET_FEATURES mask, ublksrv_ctrl_dev_info.flags) by name, and
 * the one place that decides which of them blazy asks for at ADD_DEV.
 *
 * blazy requests, when the kernel offers them:
 *   CMD_IOCTL_ENCODE   ioctl-encoded opcodes (6.4+; some kernels accept nothing else)
 *   NO_AUTO_PART_SCAN  no partition-table scan at START_DEV (7.0+): the scan would read a
 *                      lazy device. Without it the kernel scans the new disk during
 *                      START_DEV (from an io_uring worker). Measured on 6.12 (VM test
 *                      057-part-scan.sh, block:block_rq_issue): three 4 KiB reads, sectors
 *                      0-7, 8-15 and 24-31, i.e. [0, 8 KiB) and [12 KiB, 16 KiB) (sector 0
 *                      for most parsers, 0-15 for the Amiga one, 31 for the Ultrix one),
 *                      all in the seed's local region: served from the image file, never
 *                      from the store. The EFI parser reads the GPT copy at the device's
 *                      last sector only after a valid protective MBR in sector 0, which a
 *                      seed never has (its first 64 KiB are zeros); that sector lies in the
 *                      virtual area, where an unmapped block is an I/O error. On 7.3 with
 *                      NO_AUTO_PART_SCAN starting a device reads nothing; a forced scan
 *                      (BLAZY_UBLK_PART_SCAN=1) makes the same three reads, from a kworker.
 *   BATCH_IO           batched fetch and commit (7.0+, lib/ublk/batch.h): asked for by
 *                      blz_ublk_dev_create when blz_ublk_batch_wanted() says so (below).
 *   SAFE_STOP_DEV      TRY_STOP_DEV (7.0+): a non-forced `blazy stop` removes the disk only
 *                      while nobody holds it open (lib/server/stop.h), so a mount cannot
 *                      slip in between blazy's in-use check and the stop
 * and, only when the server is asked for zero copy and its backend can use it, AUTO_BUF_REG
 * with USER_COPY (blz_ublk_zero_copy_possible, ublk.h; requested in queue.c).
 * Every other flag is only detected and reported (blazy doctor).
 */
#ifndef BLZ_UBLK_UBLK_FEATURES_H
#define BLZ_UBLK_UBLK_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ublk/ublk_abi.h"

struct blz_ublk_feature {
	uint64_t flag;     /* one BLZ_UBLK_F_* bit */
	const char *name;  /* the kernel's name without "UBLK_F_", e.g. "NO_AUTO_PART_SCAN" */
	const char *since; /* first kernel release with it, e.g. "7.0" */
	const char *what;  /* one line: what it does */
};

/* Every flag this project knows, in ascending bit order; *ret_n entries. */
const struct blz_ublk_feature *blz_ublk_feature_table(size_t *ret_n);
/* The entry of one flag (a single bit), or NULL when the bit is unknown here. */
const struct blz_ublk_feature *blz_ublk_feature_find(uint64_t flag);

/* The flags blazy ever asks for at ADD_DEV (when the kernel offers them). BATCH_IO is
 * asked for by blz_ublk_dev_create (blz_ublk_batch_wanted), the others by ADD_DEV itself
 * (blz_ublk_features_request). */
#define BLZ_UBLK_F_BLAZY_WANTS                                                          \
	(BLZ_UBLK_F_CMD_IOCTL_ENCODE | BLZ_UBLK_F_NO_AUTO_PART_SCAN | BLZ_UBLK_F_BATCH_IO | \
	 BLZ_UBLK_F_SAFE_STOP_DEV)

/*
 * The flags to request at ADD_DEV given the kernel's GET_FEATURES mask (0 when the kernel
 * has no GET_FEATURES: then only CMD_IOCTL_ENCODE, with encoded opcodes) and the opcode
 * style in use (legacy: no CMD_IOCTL_ENCODE). part_scan: keep the kernel's partition scan
 * even where NO_AUTO_PART_SCAN exists (a test hook, BLAZY_UBLK_PART_SCAN=1).
 */
uint64_t blz_ublk_features_request(uint64_t kernel_features, bool legacy, bool part_scan);
/* The test hook: true when BLAZY_UBLK_PART_SCAN=1 is in the environment. */
bool blz_ublk_part_scan_forced(void);

/*
 * The recovery flags to request at ADD_DEV for a recoverable device, given the kernel's
 * GET_FEATURES mask. Waiting (fail_io false): USER_RECOVERY | USER_RECOVERY_REISSUE, so that
 * while no server runs requests wait for a new one and those the dead server held are
 * requeued. Failing (fail_io true): USER_RECOVERY | USER_RECOVERY_FAIL_IO (6.13), so that
 * while no server runs requests fail at once with EIO yet a new server can still take the
 * device over (the kernel refuses REISSUE with FAIL_IO). Either way QUIESCE (6.16, for
 * handovers) where offered. 0 where the kernel lacks USER_RECOVERY, or FAIL_IO for
 * fail_io: the device is then not recoverable (when its server dies the kernel fails its
 * I/O and removes the disk, which is how a device fails at once on 6.12).
 */
uint64_t blz_ublk_recovery_flags(uint64_t kernel_features, bool fail_io);

/*
 * Whether a new device should use the batched I/O commands (UBLK_F_BATCH_IO, 7.0+: one
 * multishot fetch and one commit per round for all tags of a queue, lib/ublk/batch.h)
 * instead of one FETCH_REQ / COMMIT_AND_FETCH_REQ per tag. Only where the kernel offers it
 * with encoded opcodes; then BLAZY_UBLK_IO=batch or =tag in the environment decides (the
 * switch), and without it: batched unless zero_copy (the device would use zero copy,
 * blz_ublk_zero_copy_possible in ublk.h, which batch.c does not do; zero copy is only
 * ever asked for). Recoverable devices too: such a device is created without
 * UBLK_F_QUIESCE, since QUIESCE_DEV makes a batched device fail requests with EIO until
 * the next server takes over (blz_ublk_dev_quiesce, queue.c); its server hands it over
 * by exiting, as after a crash (VM test 115). A device taken over keeps the commands it was created with.
 */
bool blz_ublk_batch_wanted(uint64_t kernel_features, bool legacy, bool zero_copy);
/* The environment's choice: "tag", "batch", or NULL when BLAZY_UBLK_IO is unset or other. */
const char *blz_ublk_io_forced(void);

/*
 * Writes the names of the flags set in mask, separated by sep (e.g. ", "), into buf (len
 * bytes, NUL-terminated); an unknown bit as "bit N". Returns the length the full text
 * needs (snprintf-like: truncated when >= len); "" for an empty mask.
 */
size_t blz_ublk_features_format(uint64_t mask, const char *sep, char *buf, size_t len);

#endif
