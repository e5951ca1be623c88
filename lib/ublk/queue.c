/*
 * A read-only ublk device: its lifecycle (ADD_DEV, SET_PARAMS, START_DEV, STOP_DEV,
 * DEL_DEV) and its queues, each served by one thread with its own io_uring.
 *
 * This file is the kernel-facing half of a queue: its ring. The other half, the dispatcher
 * (dispatch.c: tags, backend requests, completions, counters), needs no kernel.
 *
 * A queue thread fetches every tag (FETCH_REQ with the tag's buffer), then loops: take all
 * available completions, hand each request to the dispatcher, which serves it into its
 * tag's buffer (copy mode: the kernel copies between the buffer and the request's pages)
 * and commits it through ring_commit (COMMIT_AND_FETCH_REQ with the result: bytes, a short
 * count, or -errno) at once for a synchronous backend, or later for an asynchronous one;
 * submit the whole batch in one io_uring_enter; then poll the ring for a while (poll_ring)
 * and only then sleep until the next completion. With an asynchronous backend the ring also
 * keeps a read of the dispatcher's eventfd outstanding (user_data WAKE_DATA): completions
 * from other threads end that read, and the thread commits them and reads again. A
 * completion of -ENODEV (UBLK_IO_RES_ABORT) retires its tag; the thread ends when every tag
 * is retired, which STOP_DEV brings about once the disk is gone. STOP_DEV waits for the
 * requests the backend holds: a bound (stop_grace_ms) after STOP began, the thread fails
 * those that are left with EIO.
 *
 * A device with UBLK_F_BATCH_IO uses batch.c's commands instead of the per-tag ones (the
 * only hooks: fetch_batch at set-up, ring_commit, on_cqe, and a flush before each enter):
 * one PREP for all tags, two multishot fetches that deliver many tags per completion, and
 * one COMMIT_IO_CMDS per round; the thread ends when both fetches are aborted and the
 * backend holds nothing. With cfg.pin (or BLAZY_UBLK_PIN=1) each thread runs on its queue's
 * CPUs (GET_QUEUE_AFFINITY).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ublk/batch.h"
#include "ublk/dispatch.h"
#include "ublk/pollwin.h"
#include "ublk/ublk.h"
#include "ublk/zc.h"
#include "util/clock.h"
#include "util/fileio.h"

/* The ring's own counters; the dispatcher keeps the requests'. */
enum {
	ST_BATCHES,
	ST_SLEEPS,
	ST_POLL_HITS,
	ST_REFUSED, /* commands the driver refused (counted as errors) */
	ST_N
};

struct queue {
	struct blz_ublk_dev *dev;
	unsigned q_id;
	const struct blz_ublk_io_desc *descs; /* mmap of /dev/ublkcN, read-only */
	size_t descs_len;
	uint8_t *bufs; /* depth buffers of buf_size bytes */
	size_t bufs_len;
	pthread_t thread;
	bool thread_started, joined;
	int setup_rc;
	bool setup_done;
	unsigned ring_flags;
	struct blz_ublk_disp *disp;
	struct blz_ublk_zc *zc; /* AUTO_BUF_REG devices: the zero-copy reads (zc.h) */
	/* The queue thread's: its ring, the fd of /dev/ublkcN in it, commits queued */
	struct io_uring ring;
	int fd;
	bool fixed;
	unsigned served;
	int ring_err;
	uint64_t wake_buf; /* the eventfd read's target */
	struct blz_ublk_batch *bat; /* batched commands (BATCH_IO devices), else NULL */
	cpu_set_t cpus; /* where to run (cfg.pin), when pinned */
	bool pinned;
	struct blz_pollwin pollwin; /* the queue thread's */
	/* Written by the queue thread only, read by anyone. */
	_Atomic uint64_t stats[ST_N];
};

struct blz_ublk_dev {
	struct blz_ublk_dev_config cfg;
	struct blz_ublk_ctrl *ctrl;
	struct blz_ublk_dev_info info;
	uint64_t features;
	uint32_t buf_size;
	unsigned nr_queues, depth;
	uint64_t poll_ns;
	unsigned stop_grace_ms;
	int cfd;
	bool added, stopped;
	bool recovering; /* taken over: START ends the recovery */
	bool legacy; /* legacy opcodes, for I/O commands as for control ones */
	bool batch;  /* UBLK_F_BATCH_IO: queues use batch.c's commands, not per-tag ones */
	/* The kernel copies nothing (USER_COPY): results are written into the requests with
	 * user copy, or, with AUTO_BUF_REG too, read from a file straight into them (zc.h). */
	bool user_copy, auto_reg;
	int stop_rc;
	struct queue *queues;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned nr_setup_done;
	atomic_bool stopping;
	atomic_int error;
};

#define DEFAULT_DEPTH 64
#define DEFAULT_POLL_US 200
#define DEFAULT_MAX_IO (512u << 10)
#define SETUP_TIMEOUT_MS 30000
#define JOIN_TIMEOUT_MS 30000
#define OPEN_RETRY_MS 5000
#define DEL_TIMEOUT_MS 5000
#define QUIESCE_WAIT_MS 10000
/* user_data of the eventfd read (tags are below 4096) */
#define WAKE_DATA 0xffffffffffffffffULL

static inline void stat_add(struct queue *q, int i, uint64_t v)
{
	/* single writer: a relaxed load and store, no locked instruction */
	uint64_t old = atomic_load_explicit(&q->stats[i], memory_order_relaxed);
	atomic_store_explicit(&q->stats[i], old + v, memory_order_relaxed);
}

static void set_error(struct blz_ublk_dev *d, int err)
{
	int expected = 0;
	atomic_compare_exchange_strong(&d->error, &expected, err);
}

/* ---- the queue thread ---- */

static void prep_io_cmd(struct io_uring_sqe *sqe, const struct blz_ublk_dev *d, int fd,
			bool fixed, unsigned op, unsigned q_id, unsigned tag, int32_t result,
			uint64_t addr)
{
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	if (fixed)
		sqe->flags = IOSQE_FIXED_FILE;
	if (!d->legacy)
		sqe->cmd_op = op == BLZ_UBLK_IO_FETCH_REQ ? BLZ_UBLK_U_IO_FETCH_REQ
							  : BLZ_UBLK_U_IO_COMMIT_AND_FETCH_REQ;
	else
		sqe->cmd_op = op;
	sqe->user_data = tag;
	struct blz_ublk_io_cmd *cmd = (struct blz_ublk_io_cmd *)sqe->cmd;
	cmd->q_id = (uint16_t)q_id;
	cmd->tag = (uint16_t)tag;
	cmd->result = result;
	cmd->addr = addr;
	if (d->user_copy) { /* no buffer address; with AUTO_BUF_REG, the index to register at */
		cmd->addr = 0;
		if (d->auto_reg)
			sqe->addr = blz_ublk_auto_buf_reg_addr((uint16_t)tag,
							       BLZ_UBLK_AUTO_BUF_REG_FALLBACK);
	}
}

static inline uint64_t tag_buf(const struct queue *q, unsigned tag)
{
	return (uint64_t)(uintptr_t)(q->bufs + (size_t)tag * q->dev->buf_size);
}

/* Queues COMMIT_AND_FETCH_REQ; it goes out with the next enter. */
static void queue_commit(struct queue *q, unsigned tag, int32_t result, void *buf)
{
	if (q->bat) {
		int r = blz_ublk_batch_commit(q->bat, tag, result, buf);
		if (r < 0)
			q->ring_err = r;
		q->served++;
		return;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	if (!sqe) {
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	if (!sqe) { /* cannot happen: one SQE per tag at most, plus the eventfd read */
		q->ring_err = -ENOSPC;
		return;
	}
	prep_io_cmd(sqe, q->dev, q->fd, q->fixed, BLZ_UBLK_IO_COMMIT_AND_FETCH_REQ, q->q_id, tag,
		    result, (uint64_t)(uintptr_t)buf);
	q->served++;
}

/* The dispatcher's commit: the bytes go into the request first when the kernel does not
 * copy them (user copy), then COMMIT_AND_FETCH_REQ is queued. */
static void ring_commit(void *ctx, unsigned tag, int32_t result, void *buf)
{
	struct queue *q = ctx;
	struct blz_ublk_dev *d = q->dev;
	if (d->user_copy)
		result = blz_ublk_zc_copy(d->cfd, q->q_id, tag, buf, result);
	queue_commit(q, tag, result, buf);
}

/* The dispatcher's zero-copy read (AUTO_BUF_REG): READ_FIXED from the file into the
 * request's registered buffer (index tag), linked with the commit of len (zc.h). */
static void ring_file_read(void *ctx, unsigned tag, int fd, uint64_t off, uint32_t len)
{
	struct queue *q = ctx;
	if (io_uring_sq_space_left(&q->ring) < 2)
		io_uring_submit(&q->ring);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	if (!sqe) { /* cannot happen: two SQEs per tag at most, plus the eventfd read */
		q->ring_err = -ENOSPC;
		return;
	}
	io_uring_prep_read_fixed(sqe, fd, NULL, len, off, (int)tag);
	sqe->flags |= IOSQE_IO_LINK;
	sqe->user_data = BLZ_UBLK_ZC_READ_DATA | tag;
	blz_ublk_zc_read_begin(q->zc, tag, len);
	queue_commit(q, tag, (int32_t)len, NULL);
}

/* Zero copy: a READ's completion, or a commit severed from its failed READ. Returns false
 * when cqe is neither (an ordinary completion). */
static bool zc_cqe(struct queue *q, const struct io_uring_cqe *cqe)
{
	int32_t result, commit;
	unsigned tag = (unsigned)(cqe->user_data & 0xffff);
	if (cqe->user_data & BLZ_UBLK_ZC_READ_DATA) {
		if (blz_ublk_zc_read_cqe(q->zc, tag, cqe->res, &result, &commit))
			queue_commit(q, tag, commit, NULL);
		blz_ublk_disp_file_done(q->disp, tag, result);
		return true;
	}
	int z = blz_ublk_zc_commit_cqe(q->zc, tag, cqe->res, &commit);
	if (z == 1)
		queue_commit(q, tag, commit, NULL);
	return z >= 0;
}

/* Keeps a read of the dispatcher's eventfd outstanding (asynchronous backends only). */
static void arm_wake(struct queue *q)
{
	int efd = blz_ublk_disp_wake_fd(q->disp);
	if (efd < 0)
		return;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	if (!sqe) {
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	if (!sqe) {
		q->ring_err = -ENOSPC;
		return;
	}
	io_uring_prep_read(sqe, efd, &q->wake_buf, sizeof(q->wake_buf), 0);
	sqe->user_data = WAKE_DATA;
}

static int ring_init(struct io_uring *ring, unsigned entries, unsigned *ret_flags)
{
	/* TASKRUN_FLAG makes the kernel raise IORING_SQ_TASKRUN in the shared SQ ring flags
	 * when task work (a new request for this queue) is pending: the poll loop watches it
	 * without entering the kernel. */
	static const unsigned tries[] = {
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int r = -EINVAL;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = tries[i];
		r = io_uring_queue_init_params(entries, ring, &p);
		if (r == 0) {
			*ret_flags = tries[i];
			return 0;
		}
		if (r != -EINVAL)
			return r;
	}
	return r;
}

static void report_setup(struct queue *q, int rc)
{
	struct blz_ublk_dev *d = q->dev;
	pthread_mutex_lock(&d->lock);
	q->setup_rc = rc;
	q->setup_done = true;
	d->nr_setup_done++;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * After a batch, before sleeping in io_uring_enter: watch the rings for up to poll_ns for
 * the next request. A request arrives as task work that the kernel only runs when this
 * thread enters io_uring to get events; it raises IORING_SQ_TASKRUN meanwhile, and as long
 * as this thread does not wait in the kernel nobody has to wake it up (a wake-up and, from
 * another CPU, an interrupt: dear at queue depth 1). Each look ends with sched_yield, so that
 * the poll gives way to anything else runnable on this CPU (the submitter, under load).
 * Returns whether completions are ready.
 */
static bool poll_ring(struct io_uring *ring, uint64_t poll_ns)
{
	uint64_t deadline = now_ns() + poll_ns;
	for (;;) {
		if (io_uring_cq_ready(ring))
			return true;
		if (IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_TASKRUN) {
			io_uring_get_events(ring);
			if (io_uring_cq_ready(ring))
				return true;
		}
		if (now_ns() >= deadline)
			return false;
		sched_yield();
	}
}

/* At STOP, with requests still in the backend: commits those that came back, and fails
 * the rest once the grace has passed. Returns how long to wait at most (ms), or -1 for no
 * bound. */
static int stop_wait(struct queue *q, uint64_t *deadline)
{
	if (!atomic_load_explicit(&q->dev->stopping, memory_order_relaxed) ||
	    !blz_ublk_disp_inflight(q->disp))
		return -1;
	uint64_t now = blz_now_ms();
	if (!*deadline)
		*deadline = now + q->dev->stop_grace_ms;
	if (now < *deadline)
		return (int)(*deadline - now);
	blz_ublk_disp_abandon(q->disp, -EIO);
	return -1;
}

/* A command the driver refused (counted as an error; the device's error unless it stops). */
static void refused(struct queue *q, int res, int *err)
{
	stat_add(q, ST_REFUSED, 1);
	if (!*err)
		*err = res < 0 ? res : -EPROTO;
	if (!atomic_load(&q->dev->stopping))
		set_error(q->dev, *err);
}

static void batch_request(void *ctx, unsigned tag)
{
	struct queue *q = ctx;
	blz_ublk_disp_request(q->disp, tag, &q->descs[tag]);
}

/* Serves one completion of the ring: a request, an aborted tag, or the wake-up read (or
 * one of batch.c's commands). Returns false when the tag (the batch fetch) is retired. */
static bool on_cqe(struct queue *q, const struct io_uring_cqe *cqe, int *err)
{
	struct blz_ublk_dev *d = q->dev;
	if (q->bat && blz_ublk_batch_owns(cqe->user_data)) {
		bool ended;
		int r = blz_ublk_batch_cqe(q->bat, cqe, batch_request, q, &ended);
		if (r < 0)
			refused(q, r, err);
		return !ended;
	}
	if (cqe->user_data == WAKE_DATA) {
		blz_ublk_disp_drain(q->disp);
		/* without this read, completions from other threads would wait forever */
		if (cqe->res < 0 && cqe->res != -EINTR && cqe->res != -EAGAIN)
			q->ring_err = cqe->res;
		else
			arm_wake(q);
		return true;
	}
	if (q->zc && zc_cqe(q, cqe))
		return true;
	unsigned tag = (unsigned)cqe->user_data;
	int res = cqe->res;
	if (tag >= d->depth)
		return true;
	if (res == BLZ_UBLK_IO_RES_OK) {
		blz_ublk_disp_request(q->disp, tag, &q->descs[tag]);
		return true;
	}
	/* -ENODEV: the device is going away; anything else: this tag's command was refused.
	 * Either way it is not fetched again. */
	if (res != -ENODEV)
		refused(q, res, err);
	return false;
}

static int wait_timeout(struct io_uring *ring, int ms)
{
	struct __kernel_timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	struct io_uring_cqe *cqe;
	return io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
}

/* FETCH_REQ for every tag; checks that the driver took them all. */
static int fetch_tags(struct queue *q)
{
	struct blz_ublk_dev *d = q->dev;
	for (unsigned tag = 0; tag < d->depth; tag++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
		if (!sqe) /* the SQ holds at least depth entries */
			return -ENOSPC;
		prep_io_cmd(sqe, d, q->fd, q->fixed, BLZ_UBLK_IO_FETCH_REQ, q->q_id, tag, 0,
			    tag_buf(q, tag));
	}
	int r = io_uring_submit(&q->ring);
	if (r != (int)d->depth)
		return r < 0 ? r : -EIO;
	/* A fetch the driver refused has completed at once with an error; nothing else can
	 * complete before START_DEV. */
	struct io_uring_cqe *cqe;
	if (io_uring_peek_cqe(&q->ring, &cqe) == 0)
		return cqe->res < 0 ? cqe->res : -EPROTO;
	return 0;
}

/* The same with batched commands (batch.h): PREP_IO_CMDS, then the fetches. */
static int fetch_batch(struct queue *q)
{
	struct blz_ublk_batch_config bc = {
		.ring = &q->ring, .fd = q->fd, .fixed = q->fixed, .q_id = q->q_id,
		.depth = q->dev->depth, .bufs = q->bufs, .buf_size = q->dev->buf_size,
	};
	int r = blz_ublk_batch_new(&bc, &q->bat);
	return r < 0 ? r : blz_ublk_batch_start(q->bat);
}

static void *queue_thread(void *arg)
{
	struct queue *q = arg;
	struct blz_ublk_dev *d = q->dev;
	unsigned depth = d->depth;

	/* Signals belong to the thread that created the device. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (q->pinned && sched_setaffinity(0, sizeof(q->cpus), &q->cpus) < 0)
		q->pinned = false;

	struct io_uring *ring = &q->ring;
	bool wake = blz_ublk_disp_wake_fd(q->disp) >= 0;
	/* zero copy: a READ and its commit per tag */
	int r = ring_init(ring, depth * (d->auto_reg ? 2 : 1) + wake, &q->ring_flags);
	if (r < 0) {
		report_setup(q, r);
		return NULL;
	}
	/* AUTO_BUF_REG: the table the kernel registers each request's pages in, one per tag */
	if (d->auto_reg && (r = io_uring_register_buffers_sparse(ring, depth)) < 0) {
		io_uring_queue_exit(ring);
		report_setup(q, r);
		return NULL;
	}
	q->fd = d->cfd;
	q->fixed = io_uring_register_files(ring, &d->cfd, 1) == 0;
	if (q->fixed)
		q->fd = 0;

	/* every tag's fetch (or batch.c's PREP and fetches) outstanding */
	r = d->batch ? fetch_batch(q) : fetch_tags(q);
	if (r < 0) {
		/* Fetches that made it stay until STOP_DEV aborts them or the ring closes. */
		io_uring_queue_exit(ring);
		blz_ublk_batch_free(q->bat);
		q->bat = NULL;
		report_setup(q, r);
		return NULL;
	}
	/* tags, or with batched commands the fetches, not aborted */
	unsigned live = q->bat ? blz_ublk_batch_live(q->bat) : depth;
	struct io_uring_cqe *cqe;
	arm_wake(q);
	report_setup(q, 0);

	/* Polling needs the flag; without it, every look would be a system call. */
	uint64_t poll_ns = q->ring_flags & IORING_SETUP_TASKRUN_FLAG ? d->poll_ns : 0;
	blz_pollwin_init(&q->pollwin, poll_ns, blz_pollwin_fixed_forced());
	uint64_t stop_deadline = 0;
	int err = 0;
	q->served = 0;
	/* With batched commands, requests a backend still holds keep the queue going after
	 * the fetches ended (they must still be committed). */
	while ((live > 0 || (q->bat && blz_ublk_disp_inflight(q->disp))) && !q->ring_err) {
		int wait_ms = stop_wait(q, &stop_deadline);
		if (q->bat && (r = blz_ublk_batch_flush(q->bat)) < 0) {
			err = r;
			break;
		}
		if (wait_ms >= 0) {
			r = wait_timeout(ring, wait_ms);
			stat_add(q, ST_SLEEPS, 1);
		} else if (q->served && poll_ns) {
			/* The commits go out now, with whatever requests have come meanwhile
			 * (one enter for both); the wait for the next ones polls first, as
			 * long as the window says polling pays (pollwin.h). */
			r = io_uring_submit_and_get_events(ring);
			uint64_t t0 = now_ns(), win = blz_pollwin_window(&q->pollwin);
			if (r >= 0 && (io_uring_cq_ready(ring) || (win && poll_ring(ring, win)))) {
				stat_add(q, ST_POLL_HITS, 1);
			} else {
				r = io_uring_submit_and_wait(ring, 1);
				stat_add(q, ST_SLEEPS, 1);
			}
			blz_pollwin_gap(&q->pollwin, now_ns() - t0);
		} else {
			r = io_uring_submit_and_wait(ring, 1);
			stat_add(q, ST_SLEEPS, 1);
		}
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) {
			err = r;
			break;
		}
		q->served = 0;
		unsigned head, n = 0;
		io_uring_for_each_cqe(ring, head, cqe) {
			n++;
			if (!on_cqe(q, cqe, &err))
				live--;
		}
		io_uring_cq_advance(ring, n);
		if (q->served)
			stat_add(q, ST_BATCHES, 1);
	}
	/* commits queued in the last round (none normally: the fetches end only once the
	 * device has no request left) */
	if (q->bat && blz_ublk_batch_flush(q->bat) == 0)
		io_uring_submit(ring);
	if (!err)
		err = q->ring_err;
	if (live == 0 && !atomic_load(&d->stopping) && !err)
		err = -ENODEV; /* stopped by someone else */
	if (err && !atomic_load(&d->stopping))
		set_error(d, err);
	io_uring_queue_exit(ring);
	blz_ublk_batch_free(q->bat);
	q->bat = NULL;
	return NULL;
}

/* ---- the device ---- */

static unsigned default_queues(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > 4 ? 4 : (unsigned)n;
}

static int open_char_dev(uint32_t id, int *ret_fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/dev/ublkc%u", id);
	uint64_t deadline = blz_now_ms() + OPEN_RETRY_MS;
	for (;;) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			*ret_fd = fd;
			return 0;
		}
		int r = -errno;
		/* devtmpfs or udev may not have the node yet; udev may hold it open briefly */
		if ((r != -ENOENT && r != -EBUSY && r != -ENXIO) || blz_now_ms() >= deadline)
			return r;
		usleep(20000);
	}
}

static void unmap_queues(struct blz_ublk_dev *d)
{
	for (unsigned i = 0; i < d->nr_queues; i++) {
		struct queue *q = &d->queues[i];
		if (q->thread_started && !q->joined)
			continue; /* still running: leave its memory alone */
		if (q->descs)
			munmap((void *)q->descs, q->descs_len);
		/* a backend still holding requests may write into the buffers: leave them */
		if (q->bufs && !(q->disp && blz_ublk_disp_held(q->disp)))
			munmap(q->bufs, q->bufs_len);
		q->descs = NULL;
		q->bufs = NULL;
	}
}

static int setup_queues(struct blz_ublk_dev *d);
static void dev_discard(struct blz_ublk_dev *d);

/* A device handle with cfg's defaults filled in and /dev/ublk-control open. */
static int dev_alloc(const struct blz_ublk_dev_config *cfg, struct blz_ublk_dev **ret)
{
	unsigned lbs_shift = cfg->logical_bs_shift ? cfg->logical_bs_shift : 12;
	unsigned depth = cfg->depth ? cfg->depth : DEFAULT_DEPTH;
	unsigned nrq = cfg->nr_queues ? cfg->nr_queues : default_queues();
	uint32_t max_io = cfg->max_io_bytes ? cfg->max_io_bytes : DEFAULT_MAX_IO;
	if (!cfg->backend || lbs_shift < 9 || lbs_shift > 12 || depth > BLZ_UBLK_MAX_QUEUE_DEPTH ||
	    nrq > BLZ_UBLK_MAX_NR_QUEUES || cfg->size == 0 ||
	    cfg->size & ((1ULL << lbs_shift) - 1) || max_io < 4096 ||
	    (cfg->poll_us > BLZ_UBLK_MAX_POLL_US && cfg->poll_us != BLZ_UBLK_POLL_NEVER))
		return -EINVAL;

	struct blz_ublk_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->cfg.logical_bs_shift = lbs_shift;
	d->cfg.depth = depth;
	d->cfg.nr_queues = nrq;
	d->cfg.max_io_bytes = max_io;
	d->cfd = -1;
	d->stop_grace_ms = cfg->stop_grace_ms ? cfg->stop_grace_ms : BLZ_UBLK_STOP_GRACE_MS;
	if (cfg->poll_us != BLZ_UBLK_POLL_NEVER)
		d->poll_ns = (uint64_t)(cfg->poll_us ? cfg->poll_us : DEFAULT_POLL_US) * 1000;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);

	int r = blz_ublk_ctrl_open(&d->ctrl);
	if (r < 0) {
		dev_discard(d);
		return r;
	}
	if (blz_ublk_ctrl_get_features(d->ctrl, &d->features) < 0)
		d->features = 0;
	d->legacy = blz_ublk_ctrl_legacy(d->ctrl);
	*ret = d;
	return 0;
}

/* What the kernel granted: queues capped at the CPU count, the buffer size rounded down to
 * a page, unknown flags cleared. */
static int take_info(struct blz_ublk_dev *d)
{
	const struct blz_ublk_dev_info *info = &d->info;
	if (info->nr_hw_queues == 0 || info->queue_depth == 0 || info->max_io_buf_bytes < 4096)
		return -EPROTO;
	d->nr_queues = info->nr_hw_queues;
	d->depth = info->queue_depth;
	d->buf_size = info->max_io_buf_bytes;
	/* blazy asks for AUTO_BUF_REG only with USER_COPY; a device taken over keeps its own */
	d->user_copy = info->flags & BLZ_UBLK_F_USER_COPY;
	d->auto_reg = d->user_copy && (info->flags & BLZ_UBLK_F_AUTO_BUF_REG);
	if ((info->flags & BLZ_UBLK_F_AUTO_BUF_REG) && !d->user_copy)
		return -EOPNOTSUPP;
	if (info->flags & BLZ_UBLK_F_SUPPORT_ZERO_COPY)
		return -EOPNOTSUPP; /* never asked for: REGISTER_IO_BUF per request */
	return 0;
}

int blz_ublk_dev_create(const struct blz_ublk_dev_config *cfg, struct blz_ublk_dev **ret)
{
	struct blz_ublk_dev *d;
	int r = dev_alloc(cfg, &d);
	if (r < 0)
		return r;
	unsigned lbs_shift = d->cfg.logical_bs_shift;
	struct blz_ublk_dev_info *info = &d->info;
	info->nr_hw_queues = (uint16_t)d->cfg.nr_queues;
	info->queue_depth = (uint16_t)d->cfg.depth;
	info->max_io_buf_bytes = d->cfg.max_io_bytes;
	info->dev_id = UINT32_MAX;
	info->ublksrv_flags = BLZ_UBLK_SRV_MAGIC | (uint64_t)(uint32_t)getpid();
	bool zc = blz_ublk_zero_copy_possible(d->features, d->legacy, cfg);
	bool batch = blz_ublk_batch_wanted(d->features, d->legacy, zc);
	/* No QUIESCE with batched commands: it makes the device fail requests until the next
	 * server (blz_ublk_dev_quiesce says why); such a server hands over by exiting. */
	if (cfg->recoverable)
		info->flags |= blz_ublk_recovery_flags(d->features, cfg->fail_io) &
			       ~(batch ? BLZ_UBLK_F_QUIESCE : 0);
	if (batch)
		info->flags |= BLZ_UBLK_F_BATCH_IO;
	else if (zc)
		info->flags |= BLZ_UBLK_F_AUTO_BUF_REG | BLZ_UBLK_F_USER_COPY;
	r = blz_ublk_ctrl_add_dev(d->ctrl, info);
	if (r < 0)
		goto fail;
	d->added = true;
	d->legacy = blz_ublk_ctrl_legacy(d->ctrl);
	d->batch = (info->flags & BLZ_UBLK_F_BATCH_IO) && !d->legacy;
	r = take_info(d);
	if (r < 0)
		goto fail;

	struct blz_ublk_params p;
	memset(&p, 0, sizeof(p));
	p.len = offsetof(struct blz_ublk_params, devt);
	p.types = BLZ_UBLK_PARAM_TYPE_BASIC;
	p.basic.attrs = BLZ_UBLK_ATTR_READ_ONLY;
	p.basic.logical_bs_shift = (uint8_t)lbs_shift;
	p.basic.physical_bs_shift = 12;
	p.basic.io_min_shift = (uint8_t)lbs_shift;
	p.basic.io_opt_shift = 12;
	p.basic.max_sectors = d->buf_size >> 9;
	p.basic.dev_sectors = cfg->size >> 9;
	r = blz_ublk_ctrl_set_params(d->ctrl, info->dev_id, &p);
	if (r < 0)
		goto fail;

	r = setup_queues(d);
	if (r < 0)
		goto fail;
	*ret = d;
	return 0;

fail:
	dev_discard(d);
	return r;
}

int blz_ublk_dev_recover(const struct blz_ublk_dev_config *cfg, uint32_t id, unsigned wait_ms,
			 struct blz_ublk_dev **ret)
{
	struct blz_ublk_dev *d;
	int r = dev_alloc(cfg, &d);
	if (r < 0)
		return r;
	r = blz_ublk_ctrl_get_info(d->ctrl, id, &d->info);
	if (r < 0)
		goto fail;
	r = take_info(d);
	if (r < 0)
		goto fail;
	struct blz_ublk_params p;
	r = blz_ublk_ctrl_get_params(d->ctrl, id, &p);
	if (r < 0)
		goto fail;
	if (!(d->info.flags & BLZ_UBLK_F_USER_RECOVERY)) {
		r = -EINVAL;
		goto fail;
	}
	/* The device's I/O commands are those it was created with. */
	d->batch = d->info.flags & BLZ_UBLK_F_BATCH_IO;
	if (d->batch && d->legacy) {
		r = -EOPNOTSUPP;
		goto fail;
	}
	if (!(p.types & BLZ_UBLK_PARAM_TYPE_BASIC) || p.basic.dev_sectors != cfg->size >> 9 ||
	    p.basic.logical_bs_shift != d->cfg.logical_bs_shift) {
		r = -ESTALE;
		goto fail;
	}
	uint64_t end = blz_now_ms() + wait_ms;
	while ((r = blz_ublk_ctrl_start_recovery(d->ctrl, id)) == -EBUSY && blz_now_ms() < end)
		usleep(20 * 1000);
	if (r < 0)
		goto fail;
	d->recovering = true;
	r = setup_queues(d);
	if (r < 0)
		goto fail;
	d->added = true; /* ours now: a clean stop deletes it */
	*ret = d;
	return 0;

fail:
	dev_discard(d);
	return r;
}

/* Opens /dev/ublkcN, maps every queue's descriptors and makes its buffers and dispatcher. */
static int setup_queues(struct blz_ublk_dev *d)
{
	const struct blz_ublk_dev_config *cfg = &d->cfg;
	int r = open_char_dev(d->info.dev_id, &d->cfd);
	if (r < 0)
		return r;

	d->queues = calloc(d->nr_queues, sizeof(*d->queues));
	if (!d->queues)
		return -ENOMEM;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (unsigned i = 0; i < d->nr_queues; i++) {
		struct queue *q = &d->queues[i];
		q->dev = d;
		q->q_id = i;
		size_t descs = (size_t)d->depth * sizeof(struct blz_ublk_io_desc);
		q->descs_len = (descs + page - 1) / page * page;
		void *m = mmap(NULL, q->descs_len, PROT_READ, MAP_SHARED | MAP_POPULATE, d->cfd,
			       (off_t)blz_ublk_desc_offset(i, page));
		if (m == MAP_FAILED)
			return -errno;
		q->descs = m;
		q->bufs_len = (size_t)d->depth * d->buf_size;
		m = mmap(NULL, q->bufs_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (m == MAP_FAILED)
			return -errno;
		q->bufs = m;
		struct blz_ublk_disp_config dc = {
			.backend = cfg->backend,
			.depth = d->depth,
			.buf_size = d->buf_size,
			.bufs = q->bufs,
			.commit = ring_commit,
			.ctx = q,
			.block_size = 1u << d->cfg.logical_bs_shift,
			.rec = cfg->recorder ? blz_recorder_queue(cfg->recorder, i) : NULL,
			.file_read = d->auto_reg ? ring_file_read : NULL,
			/* the kernel ends a user-copy request in full whatever count it gets */
			.no_short_reads = d->user_copy,
		};
		if (d->auto_reg && (r = blz_ublk_zc_new(d->depth, &q->zc)) < 0)
			return r;
		r = blz_ublk_disp_new(&dc, &q->disp);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Undoes a failed create or recover: a device added here is deleted, one taken over is
 * left to the kernel (quiesced). */
static void dev_discard(struct blz_ublk_dev *d)
{
	if (d->queues)
		unmap_queues(d);
	for (unsigned i = 0; d->queues && i < d->nr_queues; i++) {
		blz_ublk_disp_free(d->queues[i].disp);
		blz_ublk_zc_free(d->queues[i].zc);
	}
	if (d->cfd >= 0)
		close(d->cfd);
	if (d->added)
		blz_ublk_ctrl_del_dev(d->ctrl, d->info.dev_id);
	blz_ublk_ctrl_close(d->ctrl);
	free(d->queues);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* read_ahead_kb 0 for /dev/ublkb<id> (see no_read_ahead in ublk.h); best effort. */
static void no_read_ahead(uint32_t dev_id)
{
	char path[64];
	snprintf(path, sizeof(path), "/sys/block/ublkb%u/queue/read_ahead_kb", dev_id);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)blz_write_full(fd, "0\n", 2);
		close(fd);
	}
}

/* cfg.pin or BLAZY_UBLK_PIN=1: each queue's CPUs (GET_QUEUE_AFFINITY), where known. */
static void queue_cpus(struct blz_ublk_dev *d)
{
	const char *env = getenv("BLAZY_UBLK_PIN");
	if (!d->cfg.pin && !(env && !strcmp(env, "1")))
		return;
	for (unsigned i = 0; i < d->nr_queues; i++) {
		struct queue *q = &d->queues[i];
		CPU_ZERO(&q->cpus);
		q->pinned = blz_ublk_ctrl_get_queue_affinity(d->ctrl, d->info.dev_id, i, &q->cpus,
							      sizeof(q->cpus)) == 0 &&
			    CPU_COUNT(&q->cpus) > 0;
	}
}

int blz_ublk_dev_start(struct blz_ublk_dev *d)
{
	if (d->stopped)
		return -ESHUTDOWN;
	int r = 0;
	queue_cpus(d);
	for (unsigned i = 0; i < d->nr_queues; i++) {
		struct queue *q = &d->queues[i];
		r = -pthread_create(&q->thread, NULL, queue_thread, q);
		if (r < 0) {
			report_setup(q, r); /* counts as set up (failed) */
			break;
		}
		q->thread_started = true;
	}
	/* START_DEV blocks until every tag has a fetch outstanding: send it only once every
	 * queue thread has submitted all of its fetches. */
	struct timespec ts;
	blz_deadline_ts(&ts, CLOCK_MONOTONIC, SETUP_TIMEOUT_MS);
	pthread_mutex_lock(&d->lock);
	unsigned want = 0;
	for (unsigned i = 0; i < d->nr_queues; i++)
		want += d->queues[i].thread_started || d->queues[i].setup_done;
	while (d->nr_setup_done < want) {
		int w = pthread_cond_timedwait(&d->cond, &d->lock, &ts);
		if (w == ETIMEDOUT) {
			if (!r)
				r = -ETIMEDOUT;
			break;
		}
	}
	for (unsigned i = 0; i < d->nr_queues && !r; i++)
		if (d->queues[i].setup_done && d->queues[i].setup_rc < 0)
			r = d->queues[i].setup_rc;
	pthread_mutex_unlock(&d->lock);

	if (!r && d->recovering)
		r = blz_ublk_ctrl_end_recovery(d->ctrl, d->info.dev_id, getpid());
	else if (!r)
		r = blz_ublk_ctrl_start_dev(d->ctrl, d->info.dev_id, getpid());
	if (r < 0) {
		blz_ublk_dev_stop(d);
		return r;
	}
	if (d->cfg.no_read_ahead && !d->recovering)
		no_read_ahead(d->info.dev_id);
	return 0;
}

/*
 * Never QUIESCE_DEV a device with batched commands (UBLK_F_BATCH_IO): the kernel's
 * ublk_ctrl_quiesce_dev() cancels a batch queue's fetches through ublk_cancel_dev() ->
 * ublk_batch_cancel_queue(), which also sets ubq->force_abort (drivers/block/ublk_drv.c,
 * 7.x), a flag meant for a device being stopped: with it ublk_prep_req() fails each new
 * request of a recoverable device with BLK_STS_IOERR instead of letting it wait for the
 * next server, as the per-tag cancel (ublk_cancel_cmd) does. Measured on 7.3.4 (VM, the
 * steps of test 115 with the binary before this change): one `blazy upgrade` under two
 * readers gave them 5769 and 3180 EIO. Exiting hands the device over instead: the ring's
 * cancel (ublk_batch_cancel_fn) aborts the fetches without force_abort, and the release
 * work requeues what the server held (REISSUE) and quiesces the device, as after a crash
 * (test 115: 3 upgrades and 5 kills, no error).
 */
int blz_ublk_dev_quiesce(struct blz_ublk_dev *d)
{
	if (!(d->info.flags & BLZ_UBLK_F_QUIESCE) || d->legacy || d->batch)
		return -EOPNOTSUPP;
	/* The queues see their fetches aborted: not an error of the device. */
	atomic_store(&d->stopping, true);
	int r = blz_ublk_ctrl_quiesce_dev(d->ctrl, d->info.dev_id, QUIESCE_WAIT_MS);
	if (r < 0)
		return r;
	struct timespec ts;
	blz_deadline_ts(&ts, CLOCK_REALTIME, JOIN_TIMEOUT_MS);
	for (unsigned i = 0; i < d->nr_queues; i++) {
		struct queue *q = &d->queues[i];
		if (q->thread_started && !q->joined && pthread_timedjoin_np(q->thread, NULL, &ts) == 0)
			q->joined = true;
	}
	return 0;
}

bool blz_ublk_dev_safe_stop(const struct blz_ublk_dev *d)
{
	return (d->info.flags & BLZ_UBLK_F_SAFE_STOP_DEV) && !d->legacy;
}

int blz_ublk_dev_try_stop(struct blz_ublk_dev *d)
{
	if (!blz_ublk_dev_safe_stop(d))
		return -EOPNOTSUPP;
	if (d->stopped || !d->added)
		return -ENODEV;
	/* the queues see their fetches aborted if it works: not an error of the device */
	atomic_store(&d->stopping, true);
	int r = blz_ublk_ctrl_try_stop_dev(d->ctrl, d->info.dev_id);
	if (r < 0)
		atomic_store(&d->stopping, false);
	return r;
}

int blz_ublk_dev_stop(struct blz_ublk_dev *d)
{
	if (!d)
		return 0;
	if (d->stopped)
		return d->stop_rc;
	atomic_store(&d->stopping, true);
	/* queues waiting for an asynchronous backend start their STOP grace now */
	for (unsigned i = 0; i < d->nr_queues; i++)
		if (d->queues[i].thread_started && !d->queues[i].joined)
			blz_ublk_disp_wake(d->queues[i].disp);
	int rc = 0, r;
	bool any_thread = false;
	for (unsigned i = 0; i < d->nr_queues; i++)
		any_thread |= d->queues[i].thread_started;
	/* STOP_DEV removes the disk once its I/O drains (the queues keep serving meanwhile),
	 * then aborts every fetch: each thread sees -ENODEV for all its tags and ends. It also
	 * aborts the fetches of a device that never started. */
	if (d->added && any_thread) {
		r = blz_ublk_ctrl_stop_dev(d->ctrl, d->info.dev_id);
		if (r < 0 && !rc)
			rc = r;
	}
	struct timespec ts;
	blz_deadline_ts(&ts, CLOCK_REALTIME, JOIN_TIMEOUT_MS);
	bool all_joined = true;
	for (unsigned i = 0; i < d->nr_queues; i++) {
		struct queue *q = &d->queues[i];
		if (!q->thread_started || q->joined)
			continue;
		r = pthread_timedjoin_np(q->thread, NULL, &ts);
		if (r == 0) {
			q->joined = true;
		} else {
			all_joined = false;
			if (!rc)
				rc = -r;
		}
	}
	unmap_queues(d);
	if (all_joined && d->cfd >= 0) {
		close(d->cfd);
		d->cfd = -1;
	}
	if (d->added) {
		/* DEL_DEV returns at once unless someone still holds the disk open: then it
		 * waits for the last close. The deletion is done by then; do not wait long. */
		blz_ublk_ctrl_set_timeout(d->ctrl, DEL_TIMEOUT_MS);
		r = blz_ublk_ctrl_del_dev(d->ctrl, d->info.dev_id);
		blz_ublk_ctrl_set_timeout(d->ctrl, 0);
		if (r == -ETIMEDOUT && !blz_ublk_char_dev_present(d->info.dev_id))
			r = -EBUSY;
		if (r < 0 && r != -ENODEV && !rc)
			rc = r;
		d->added = false;
	}
	d->stopped = true;
	d->stop_rc = rc;
	return rc;
}

void blz_ublk_dev_free(struct blz_ublk_dev *d)
{
	if (!d)
		return;
	blz_ublk_dev_stop(d);
	bool all_joined = true;
	for (unsigned i = 0; i < d->nr_queues; i++)
		if (d->queues[i].thread_started && !d->queues[i].joined)
			all_joined = false;
	if (!all_joined)
		return; /* a thread still uses d: leak it rather than free it under the thread */
	for (unsigned i = 0; i < d->nr_queues; i++)
		if (blz_ublk_disp_held(d->queues[i].disp))
			return; /* the backend still holds requests: leak too */
	for (unsigned i = 0; i < d->nr_queues; i++) {
		blz_ublk_disp_free(d->queues[i].disp);
		blz_ublk_zc_free(d->queues[i].zc);
	}
	blz_ublk_ctrl_close(d->ctrl);
	free(d->queues);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

uint32_t blz_ublk_dev_id(const struct blz_ublk_dev *d)
{
	return d->info.dev_id;
}

const struct blz_ublk_dev_info *blz_ublk_dev_info(const struct blz_ublk_dev *d)
{
	return &d->info;
}

uint64_t blz_ublk_dev_features(const struct blz_ublk_dev *d)
{
	return d->features;
}

bool blz_ublk_dev_legacy(const struct blz_ublk_dev *d)
{
	return d->legacy;
}

bool blz_ublk_dev_batch(const struct blz_ublk_dev *d)
{
	return d->batch;
}

bool blz_ublk_dev_pinned(const struct blz_ublk_dev *d)
{
	return d->nr_queues && d->queues[0].pinned;
}

unsigned blz_ublk_dev_ring_flags(const struct blz_ublk_dev *d)
{
	return d->nr_queues ? d->queues[0].ring_flags : 0;
}

unsigned blz_ublk_dev_poll_us(const struct blz_ublk_dev *d)
{
	if (!(blz_ublk_dev_ring_flags(d) & IORING_SETUP_TASKRUN_FLAG))
		return 0;
	return (unsigned)(d->poll_ns / 1000);
}

int blz_ublk_dev_error(const struct blz_ublk_dev *d)
{
	return atomic_load(&((struct blz_ublk_dev *)d)->error);
}

int blz_ublk_dev_stats(const struct blz_ublk_dev *d, unsigned qi, struct blz_ublk_qstats *ret)
{
	if (qi >= d->nr_queues)
		return -EINVAL;
	const struct queue *q = &d->queues[qi];
	blz_ublk_disp_stats(q->disp, ret);
	ret->errors += atomic_load_explicit(&q->stats[ST_REFUSED], memory_order_relaxed);
	ret->batches = atomic_load_explicit(&q->stats[ST_BATCHES], memory_order_relaxed);
	ret->sleeps = atomic_load_explicit(&q->stats[ST_SLEEPS], memory_order_relaxed);
	ret->poll_hits = atomic_load_explicit(&q->stats[ST_POLL_HITS], memory_order_relaxed);
	ret->zero_copy = blz_ublk_disp_file_reads(q->disp);
	return 0;
}

bool blz_ublk_zero_copy_possible(uint64_t features, bool legacy,
				 const struct blz_ublk_dev_config *cfg)
{
	uint64_t need = BLZ_UBLK_F_AUTO_BUF_REG | BLZ_UBLK_F_USER_COPY;
	return cfg->zero_copy && cfg->backend && cfg->backend->ops->file_range && !legacy &&
	       (features & need) == need;
}

bool blz_ublk_zero_copy_env(void)
{
	const char *v = getenv("BLAZY_ZERO_COPY");
	return v && (!strcmp(v, "auto") || !strcmp(v, "on"));
}

bool blz_ublk_dev_zero_copy(const struct blz_ublk_dev *d)
{
	return d->auto_reg;
}
