/*
 * A hand-written ublk client: control commands on /dev/ublk-control and a read-only block
 * device served by one thread and one io_uring per queue (no libublksrv).
 *
 * Control: blz_ublk_ctrl_* send one command each on an SQE128 ring and wait for its
 * completion with a timeout; ioctl-encoded opcodes on kernels >= 6.4, legacy ones before.
 * Serving: blz_ublk_dev_create() adds a device (ADD_DEV, SET_PARAMS), blz_ublk_dev_start()
 * starts the queue threads and then START_DEV, blz_ublk_dev_stop() takes it all down again
 * (STOP_DEV, join, DEL_DEV). Reads go to a backend (lib/backend), synchronously or as
 * requests it completes later (dispatch.h); writes, discards and write zeroes fail with
 * EROFS, flushes succeed. Where the kernel has AUTO_BUF_REG and the backend says which
 * ranges are a file's (the seed image), those are read from the file straight into the
 * request's pages (zero copy, zc.h); a non-forced stop can be TRY_STOP_DEV
 * (blz_ublk_dev_try_stop).
 *
 * All functions return 0 (or a count) or -errno and never print.
 */
#ifndef BLZ_UBLK_UBLK_H
#define BLZ_UBLK_UBLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "backend/recorder.h"
#include "ublk/ublk_features.h"
#include "ublk/ublk_abi.h"

#define BLZ_UBLK_CONTROL_PATH "/dev/ublk-control"

/* Default bound on one control command's wait (START_DEV and STOP_DEV get longer). */
#define BLZ_UBLK_CTRL_TIMEOUT_MS 30000

/*
 * ublksrv_flags is the server's own field of the device info: the kernel stores it at
 * ADD_DEV and returns it with GET_DEV_INFO. blazy keeps a marker and its server's pid
 * there, so `blazy list` and `blazy stop` can name the server even after the kernel has
 * forgotten it (ublksrv_pid is -1 once a device is dead).
 */
#define BLZ_UBLK_SRV_MAGIC 0x424c5a5900000000ULL /* "BLZY" in the high 32 bits */
#define BLZ_UBLK_SRV_MAGIC_MASK 0xffffffff00000000ULL

/* ---- control ---- */

struct blz_ublk_ctrl;

/* Opens /dev/ublk-control (-ENOENT when ublk_drv is not loaded) and sets up its ring.
 * The opcode style follows the kernel version; the environment variable
 * BLAZY_UBLK_OPCODES=legacy|encoded forces one (a test hook: kernels built with
 * CONFIG_BLKDEV_UBLK_LEGACY_OPCODES accept both). */
int blz_ublk_ctrl_open(struct blz_ublk_ctrl **ret);
void blz_ublk_ctrl_close(struct blz_ublk_ctrl *c);

/* Bound on each later command's wait, in milliseconds (0 = the default). */
void blz_ublk_ctrl_set_timeout(struct blz_ublk_ctrl *c, unsigned ms);
/* True when the legacy (raw number) opcodes are in use. */
bool blz_ublk_ctrl_legacy(const struct blz_ublk_ctrl *c);
/* The running kernel's version as major * 1000 + minor (6.12 -> 6012). */
int blz_ublk_ctrl_kernel_version(const struct blz_ublk_ctrl *c);
/* GET_FEATURES: the driver's flag mask (asked once per handle). -EOPNOTSUPP before 6.5. */
int blz_ublk_ctrl_get_features(struct blz_ublk_ctrl *c, uint64_t *ret);

/* ADD_DEV: info is sent and replaced by what the kernel returns (capped queues, rounded
 * max_io_buf_bytes, the device id when dev_id was UINT32_MAX, the flags it accepted).
 * The flags blazy wants (blz_ublk_features_request(), ublk_features.h) are added to info->flags;
 * BLAZY_UBLK_PART_SCAN=1 in the environment keeps the kernel's partition scan (a test
 * hook: the fallback path of kernels without NO_AUTO_PART_SCAN). */
int blz_ublk_ctrl_add_dev(struct blz_ublk_ctrl *c, struct blz_ublk_dev_info *info);
int blz_ublk_ctrl_set_params(struct blz_ublk_ctrl *c, uint32_t id, const struct blz_ublk_params *p);
int blz_ublk_ctrl_get_params(struct blz_ublk_ctrl *c, uint32_t id, struct blz_ublk_params *ret);
int blz_ublk_ctrl_get_info(struct blz_ublk_ctrl *c, uint32_t id, struct blz_ublk_dev_info *ret);
/* GET_QUEUE_AFFINITY: the CPUs whose requests go to queue q, as a CPU bit mask (the layout
 * of cpu_set_t) of len bytes (a multiple of 8, enough for every possible CPU). */
int blz_ublk_ctrl_get_queue_affinity(struct blz_ublk_ctrl *c, uint32_t id, unsigned q, void *mask,
				     size_t len);
/* START_DEV with the serving process's pid. Every queue must have all its fetches
 * outstanding (it blocks until then, and then scans partitions through the queues). */
int blz_ublk_ctrl_start_dev(struct blz_ublk_ctrl *c, uint32_t id, pid_t pid);
/* STOP_DEV: removes the disk once in-flight I/O drains, then aborts the fetches. */
int blz_ublk_ctrl_stop_dev(struct blz_ublk_ctrl *c, uint32_t id);
/* TRY_STOP_DEV (UBLK_F_SAFE_STOP_DEV, 7.0): STOP_DEV only while nobody holds the disk open
 * (the check and the stop under the disk's open lock, so no opener slips in between):
 * -EBUSY while the disk is open (mounted, held), -ENODEV when it has no disk; -EOPNOTSUPP
 * with legacy opcodes. A kernel without it answers -EOPNOTSUPP or -EINVAL. */
int blz_ublk_ctrl_try_stop_dev(struct blz_ublk_ctrl *c, uint32_t id);
/* DEL_DEV: removes the character device; the kernel waits until the last reference to
 * the disk is gone (bounded here by the timeout: -ETIMEDOUT, the removal still happens;
 * also -ETIMEDOUT, early, once the character device has been gone for 1 s: the disk
 * is held open and only the kernel's wait for its last close is left). */
int blz_ublk_ctrl_del_dev(struct blz_ublk_ctrl *c, uint32_t id);

/* Recovery (USER_RECOVERY devices). START_USER_RECOVERY: -EBUSY while the old server's
 * /dev/ublkcN is still open or the device is not yet quiesced (retry), -EINVAL when the
 * device is not recoverable. END_USER_RECOVERY with the new server's pid: like START_DEV,
 * it waits until every tag of every queue has a fetch outstanding, then the device is live
 * again and the requests that waited are served. QUIESCE_DEV (only with UBLK_F_QUIESCE,
 * 6.16): the live server's fetches are aborted and the device quiesced, for a handover;
 * ms bounds the kernel's wait for in-flight requests (0: no bound). */
int blz_ublk_ctrl_start_recovery(struct blz_ublk_ctrl *c, uint32_t id);
int blz_ublk_ctrl_end_recovery(struct blz_ublk_ctrl *c, uint32_t id, pid_t pid);
int blz_ublk_ctrl_quiesce_dev(struct blz_ublk_ctrl *c, uint32_t id, unsigned ms);

/* ---- enumeration and status ---- */

/* Ids of every ublk device (from /sys/class/ublk-char, else /dev/ublkc*), ascending.
 * *ret_ids is malloc'ed (NULL when there are none). */
int blz_ublk_list_ids(uint32_t **ret_ids, size_t *ret_n);

struct blz_ublk_status {
	uint32_t id;
	uint16_t nr_queues, depth;
	int state;           /* BLZ_UBLK_S_* */
	uint64_t size;       /* bytes; 0 when the device has no parameters */
	uint32_t max_io_buf_bytes;
	uint64_t flags;
	pid_t kernel_pid;    /* ublksrv_pid as the kernel reports it (-1 or 0: none) */
	pid_t server_pid;    /* the server blazy recorded, else kernel_pid; 0 when unknown */
	bool by_blazy;       /* created by a blazy server */
};
int blz_ublk_status(struct blz_ublk_ctrl *c, uint32_t id, struct blz_ublk_status *ret);
const char *blz_ublk_state_name(int state); /* "dead", "live", "quiesced", "fail-io" */

/* Parses "/dev/ublkbN", "ublkbN", "/dev/ublkcN", "ublkcN" or "N". -EINVAL otherwise. */
int blz_ublk_parse_dev(const char *s, uint32_t *ret_id);

/* True when pid names a running process (not a zombie). */
bool blz_ublk_pid_alive(pid_t pid);
/* Waits up to ms for process pid to end (polling): true once it has, false if it still runs. */
bool blz_ublk_pid_wait_gone(pid_t pid, unsigned ms);

/* True while device id has its character device (in /sys/class/ublk-char, else /dev). */
bool blz_ublk_char_dev_present(uint32_t id);

enum blz_ublk_gone {
	BLZ_UBLK_STILL_THERE,
	BLZ_UBLK_GONE,
	/* Deleted (no character device left for a second) but the kernel keeps the number
	 * until the last opener of the disk closes it. */
	BLZ_UBLK_DELETED_BUT_HELD,
};
/* Waits up to ms (polling GET_DEV_INFO) for device id to disappear; one of the above. */
enum blz_ublk_gone blz_ublk_wait_gone(struct blz_ublk_ctrl *c, uint32_t id, unsigned ms);
/* Whether a device's server still runs: the kernel's pid when it has one, else the pid
 * blazy recorded, provided that process is still a blazy (not a recycled pid). */
bool blz_ublk_server_alive(const struct blz_ublk_status *s);

/* Parses "MAJOR.MINOR..." of a kernel release into major * 1000 + minor; -EINVAL. */
int blz_ublk_parse_kernel_version(const char *release);

/* The mmap offset of queue q's descriptor array on /dev/ublkcN: the stride is the size
 * of a maximum-depth array rounded up to a page, whatever the real depth. */
uint64_t blz_ublk_desc_offset(unsigned q, size_t page_size);

/* ---- serving ---- */

/* poll_us: do not poll */
#define BLZ_UBLK_POLL_NEVER 0xffffffffu
#define BLZ_UBLK_MAX_POLL_US 100000u

struct blz_ublk_dev_config {
	uint64_t size;             /* bytes, a multiple of the logical block size */
	unsigned nr_queues;        /* 0: min(online CPUs, 4) */
	unsigned depth;            /* 0: 64; at most 4096 */
	unsigned logical_bs_shift; /* 0: 12 (4096); 9..12 */
	uint32_t max_io_bytes;     /* 0: 512 KiB; largest request (and per-tag buffer) */
	/* After serving a batch, how long a queue thread watches its ring for the next
	 * request before it sleeps: 0 the default (200 µs), at most 100000 µs, or
	 * BLZ_UBLK_POLL_NEVER. */
	unsigned poll_us;
	/* Where reads go (lib/backend), shared by every queue. A synchronous backend is read
	 * inline by the queue thread; an asynchronous one gets each read as a request and
	 * completes it from any thread while the queue serves its other tags (dispatch.h). */
	struct blz_backend *backend;
	/* At STOP, how long a queue waits for the requests an asynchronous backend still
	 * holds before it fails them with EIO (0: BLZ_UBLK_STOP_GRACE_MS). */
	unsigned stop_grace_ms;
	/* Turn the block device's read-ahead off once it is started (read_ahead_kb 0, best
	 * effort): for a device with unreadable ranges, so that buffered reads of the raw
	 * device fill the page cache with single pages and a page that straddles readable
	 * and unreadable bytes cannot arise (from 7.x the page cache reads ahead in large
	 * folios, and a folio with one unreadable byte fails as a whole). */
	bool no_read_ahead;
	/* Make the device recoverable where the kernel can (USER_RECOVERY | REISSUE, and
	 * QUIESCE for handovers unless the device uses batched I/O commands: see
	 * blz_ublk_dev_quiesce): when the server dies, the kernel quiesces the device and
	 * requeues the requests it held; they wait for a new server (blz_ublk_dev_recover)
	 * instead of failing. Whoever runs the server must then bound that wait (the
	 * supervisor, lib/server). */
	bool recoverable;
	/* With recoverable: while no server runs, I/O fails at once with EIO instead of
	 * waiting, and the device stays recoverable (USER_RECOVERY_FAIL_IO, 6.13); where the
	 * kernel lacks FAIL_IO the device is made not recoverable instead, so that its I/O
	 * still fails at once (blz_ublk_recovery_flags). */
	bool fail_io;
	/* Pin each queue thread to the CPUs whose requests go to its queue (GET_QUEUE_AFFINITY),
	 * so that a request is served on the CPU that issued it: no cross-CPU wake-up per
	 * request. Also on with BLAZY_UBLK_PIN=1 in the environment (the switch the benchmarks
	 * use); best effort (left unpinned when the kernel does not answer). */
	bool pin;
	/* Records every request (statistics, the request log), one slot per queue; NULL: none.
	 * The caller's; it must outlive the device. */
	struct blz_recorder *recorder;
	/* Zero copy where it can be had (blz_ublk_zero_copy_possible): the kernel's
	 * AUTO_BUF_REG (6.16) with USER_COPY, and a backend with a file_range op. Reads the
	 * backend says are one file's (the lazy backend's local region: the seed image) are
	 * then read by io_uring from that file straight into the request's pages; every other
	 * read is copied in by the server (user copy) instead of by the kernel (zc.h). Such a
	 * device cannot complete a read short (7.3 ends it in full whatever count it gets): a
	 * request that covers readable then unreadable bytes fails as a whole (EIO) instead of
	 * completing its readable prefix (dispatch.h blz_ublk_read_commit). A device taken over
	 * (blz_ublk_dev_recover) keeps the mode it was created with. */
	bool zero_copy;
};

#define BLZ_UBLK_STOP_GRACE_MS 5000u

struct blz_ublk_qstats {
	uint64_t reads, read_bytes;
	uint64_t writes;   /* rejected with EROFS (write, write same) */
	uint64_t discards; /* rejected with EROFS (discard, write zeroes) */
	uint64_t flushes;
	uint64_t others;   /* unknown operations, rejected */
	uint64_t errors;   /* requests completed with an error (read failures included) */
	uint64_t batches;   /* rounds that served at least one request */
	uint64_t sleeps;    /* waits in the kernel for the next request */
	uint64_t poll_hits; /* rounds whose requests were found by polling, without a sleep */
	/* asynchronous backends */
	uint64_t inflight;   /* reads the backend holds now */
	uint64_t async;      /* reads completed from another thread */
	uint64_t abandoned;  /* reads failed at STOP because the backend had not completed them */
	uint64_t late;       /* completions of abandoned reads, dropped */
	uint64_t duplicates; /* second completions of one request (a backend bug), dropped */
	uint64_t zero_copy;  /* reads served by zero copy (read from a file into the request) */
};

struct blz_ublk_dev;

/* ADD_DEV (reading back what the kernel granted), SET_PARAMS (read-only, the size, the
 * block sizes, max_sectors from max_io_buf_bytes), opens /dev/ublkcN (retrying while udev
 * holds it) and maps the queues' descriptors. On failure nothing is left behind. */
int blz_ublk_dev_create(const struct blz_ublk_dev_config *cfg, struct blz_ublk_dev **ret);
/* Takes over device id, a recoverable device whose server died: checks that it is
 * recoverable (-EINVAL) and that its size is cfg->size (-ESTALE), START_USER_RECOVERY
 * (retried for up to wait_ms while the kernel answers -EBUSY: the old server still
 * exiting), opens /dev/ublkcN and maps the queues (nr_queues and depth are the device's).
 * blz_ublk_dev_start() then ends the recovery instead of starting the device. On failure
 * the device is left as it was (quiesced, recoverable again). */
int blz_ublk_dev_recover(const struct blz_ublk_dev_config *cfg, uint32_t id, unsigned wait_ms,
			 struct blz_ublk_dev **ret);
/* Hands the device over to a successor: QUIESCE_DEV where the device has UBLK_F_QUIESCE
 * (in-flight requests complete, the fetches are aborted, the queue threads end), then
 * nothing else: the caller must exit without blz_ublk_dev_stop, and the kernel keeps the
 * device quiesced for the next server. -EOPNOTSUPP without QUIESCE or with batched I/O
 * commands (exiting is then the handover: the kernel requeues what the server held). */
int blz_ublk_dev_quiesce(struct blz_ublk_dev *d);
/* Starts one thread per queue, waits until each has every fetch submitted, then
 * START_DEV (END_USER_RECOVERY for a device taken over). On failure the device is stopped (but not freed: call blz_ublk_dev_free). */
int blz_ublk_dev_start(struct blz_ublk_dev *d);
/* STOP_DEV (queues serve until it returns), joins the threads, closes the rings, unmaps,
 * closes /dev/ublkcN, DEL_DEV. STOP_DEV waits for every request in flight: reads an
 * asynchronous backend has not completed stop_grace_ms after this call began are failed
 * with EIO (counted as abandoned); their buffers stay mapped (and d is leaked by
 * blz_ublk_dev_free) while the backend still holds them. Idempotent; returns the first error. -EBUSY: the device is
 * deleted (no block or character device left) but its disk is still open somewhere; the
 * kernel frees its number on the last close. */
int blz_ublk_dev_stop(struct blz_ublk_dev *d);
/* A stop that cannot race with a new opener of the disk: TRY_STOP_DEV (UBLK_F_SAFE_STOP_DEV,
 * 7.0) removes the disk only while nobody holds it open, under the disk's open lock; the
 * queues then end as at STOP_DEV (call blz_ublk_dev_stop next to join them and delete the
 * device). -EBUSY: the disk is open (mounted, held), nothing changed, the device still
 * serves; -EOPNOTSUPP: the device has no SAFE_STOP_DEV (or legacy opcodes). */
int blz_ublk_dev_try_stop(struct blz_ublk_dev *d);
/* Whether the device has SAFE_STOP_DEV (blz_ublk_dev_try_stop can be used). */
bool blz_ublk_dev_safe_stop(const struct blz_ublk_dev *d);
/* Stops the device if needed and frees d. Accepts NULL. */
void blz_ublk_dev_free(struct blz_ublk_dev *d);

uint32_t blz_ublk_dev_id(const struct blz_ublk_dev *d);
/* The device info the kernel returned at ADD_DEV. */
const struct blz_ublk_dev_info *blz_ublk_dev_info(const struct blz_ublk_dev *d);
/* The features mask (0 when GET_FEATURES is missing) and opcode style used. */
uint64_t blz_ublk_dev_features(const struct blz_ublk_dev *d);
bool blz_ublk_dev_legacy(const struct blz_ublk_dev *d);
/* True when the queues use the batched I/O commands (UBLK_F_BATCH_IO, batch.h), false
 * for one FETCH_REQ / COMMIT_AND_FETCH_REQ per tag. */
bool blz_ublk_dev_batch(const struct blz_ublk_dev *d);
/* True when the queue threads were pinned to their queues' CPUs (cfg.pin). */
bool blz_ublk_dev_pinned(const struct blz_ublk_dev *d);
/* Whether a device made with cfg on a kernel with features (the GET_FEATURES mask) and
 * that opcode style would use zero copy (see zero_copy above). */
bool blz_ublk_zero_copy_possible(uint64_t features, bool legacy,
				 const struct blz_ublk_dev_config *cfg);
/* true when BLAZY_ZERO_COPY=auto (or on) is in the environment: zero copy is off unless
 * asked for (--zero-copy auto or this; tests and benchmarks use it). */
bool blz_ublk_zero_copy_env(void);
/* Whether d serves with zero copy (AUTO_BUF_REG). */
bool blz_ublk_dev_zero_copy(const struct blz_ublk_dev *d);
/* Ring setup flags the queues ended up with (IORING_SETUP_*), for diagnostics. */
unsigned blz_ublk_dev_ring_flags(const struct blz_ublk_dev *d);
/* How long the queue threads poll after serving (µs); 0 when they do not (off, or the
 * kernel lacks IORING_SETUP_TASKRUN_FLAG). Valid once the device started. */
unsigned blz_ublk_dev_poll_us(const struct blz_ublk_dev *d);
/* A queue thread ended on its own (ring error) or every tag was aborted: the device no
 * longer serves. The first such error, or 0. */
int blz_ublk_dev_error(const struct blz_ublk_dev *d);
/* Counters of queue q, readable at any time while the device runs. */
int blz_ublk_dev_stats(const struct blz_ublk_dev *d, unsigned q, struct blz_ublk_qstats *ret);

#endif
