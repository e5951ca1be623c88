/* The recorder: per-queue statistics and the request log's rings and writer (recorder.h). */
#include "backend/recorder.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/fileio.h"

/* Records per queue's ring: RING_MAX, fewer when many queues would hold more than
 * RING_BUDGET bytes of rings in all (never fewer than RING_MIN). */
#define RING_MAX 65536u
#define RING_MIN 8192u
#define RING_BUDGET (16u << 20)
/* The writer wakes every WRITER_MS, or at once when a ring is half full (the queue thread
 * that fills it to half says so: once per half ring, the one lock a queue thread takes).
 * Few wake-ups are what keeps the log cheap: under load each one preempts a queue thread
 * or a reader (bench/README.md, vm-reqlog: 50 ms cost 5-10% of a 1-job run's IOPS under
 * TCG, 500 ms about the writer's own CPU, ~2%). */
#define WRITER_MS 500u
#define WRITER_NICE 10 /* the writer yields to the queue threads (and the readers) */
/* The writer makes lines and writes them a chunk at a time: a buffer that stays small
 * (in the caches) whatever the rate, rather than one as large as half a second of lines. */
#define WRITE_CHUNK (64u << 10)

struct blz_recq {
	struct blz_recorder *r;
	uint16_t index;
	uint64_t head;                /* producer's: records pushed */
	_Atomic uint64_t pub;         /* head, published (release) */
	_Atomic uint64_t tail;        /* consumer's: records taken */
	_Atomic uint64_t dropped;
	struct blz_reqstats stats;
	struct blz_reqrec *ring; /* ring_len records */
};

struct blz_recorder {
	unsigned max;
	uint64_t t0_mono, t0_unix;
	_Atomic(struct blz_recq *) *queues;
	_Atomic bool logging;
	uint32_t ring_len; /* a power of two */
	/* the log, the control thread's and the writer's (and a queue thread's kick) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool writer_running, quit, kick;
	unsigned period_ms;
	pthread_t writer;
	int fd;
	uint64_t lines, dropped_base;
	int error;
};

int blz_recorder_new(unsigned max_queues, struct blz_recorder **ret)
{
	struct blz_recorder *r = calloc(1, sizeof(*r));
	if (!r || !(r->queues = calloc(max_queues ? max_queues : 1, sizeof(*r->queues)))) {
		free(r);
		return -ENOMEM;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->t0_mono = blz_now_ns();
	r->t0_unix = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	r->max = max_queues;
	r->fd = -1;
	r->period_ms = WRITER_MS;
	uint64_t fit = RING_BUDGET / sizeof(struct blz_reqrec) / (max_queues ? max_queues : 1);
	r->ring_len = RING_MAX;
	while (r->ring_len > RING_MIN && r->ring_len > fit)
		r->ring_len /= 2;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	*ret = r;
	return 0;
}

void blz_recorder_free(struct blz_recorder *r)
{
	if (!r)
		return;
	blz_recorder_log_stop(r);
	for (unsigned i = 0; i < r->max; i++) {
		struct blz_recq *q = atomic_load(&r->queues[i]);
		if (q)
			free(q->ring);
		free(q);
	}
	free(r->queues);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

struct blz_recq *blz_recorder_queue(struct blz_recorder *r, unsigned q)
{
	if (q >= r->max)
		return NULL;
	struct blz_recq *s = atomic_load(&r->queues[q]);
	if (!s && (s = calloc(1, sizeof(*s)))) {
		/* the ring's pages are touched only while a log is on */
		if (!(s->ring = calloc(r->ring_len, sizeof(*s->ring)))) {
			free(s);
			return NULL;
		}
		s->r = r;
		s->index = (uint16_t)q;
		atomic_store(&r->queues[q], s);
	}
	return s;
}

uint64_t blz_recq_now(const struct blz_recq *q)
{
	return blz_now_ns() - q->r->t0_mono;
}

void blz_recq_record(struct blz_recq *q, struct blz_reqrec *rec)
{
	rec->queue = q->index;
	blz_reqstats_count(&q->stats, rec);
	struct blz_recorder *r = q->r;
	if (!atomic_load_explicit(&r->logging, memory_order_relaxed))
		return;
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	if (q->head - tail >= r->ring_len) {
		uint64_t d = atomic_load_explicit(&q->dropped, memory_order_relaxed);
		atomic_store_explicit(&q->dropped, d + 1, memory_order_relaxed);
		return;
	}
	q->ring[q->head & (r->ring_len - 1)] = *rec;
	q->head++;
	atomic_store_explicit(&q->pub, q->head, memory_order_release);
	if (q->head - tail == r->ring_len / 2) {
		/* half full: the writer drains now rather than at the end of its period (the
		 * fill rises by one per record, so every crossing of the half is seen here) */
		pthread_mutex_lock(&r->lock);
		r->kick = true;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
}

/* Writes b's lines and empties it; keeps the first error in *e. */
static void put_lines(struct blz_recorder *r, struct blz_buf *b, int *e)
{
	int w = b->len ? blz_write_full(r->fd, b->data, b->len) : 0;
	if (w < 0 && !*e)
		*e = w;
	b->len = 0;
}

/* Turns what the rings hold into lines and writes them (the writer, or the stopper once
 * the writer is gone). */
static void drain(struct blz_recorder *r, struct blz_buf *b)
{
	uint64_t n = 0;
	int e = 0;
	for (unsigned i = 0; i < r->max; i++) {
		struct blz_recq *q = atomic_load(&r->queues[i]);
		if (!q)
			continue;
		uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
		uint64_t h = atomic_load_explicit(&q->pub, memory_order_acquire);
		n += h - t;
		while (t != h) {
			/* a chunk at a time, each slot handed back once its line is made */
			for (; t != h && b->len < WRITE_CHUNK; t++)
				blz_reqlog_encode(b, &q->ring[t & (r->ring_len - 1)]);
			atomic_store_explicit(&q->tail, t, memory_order_release);
			if (b->len >= WRITE_CHUNK)
				put_lines(r, b, &e);
		}
	}
	put_lines(r, b, &e);
	pthread_mutex_lock(&r->lock);
	r->lines += n;
	if (e < 0 && !r->error)
		r->error = e;
	pthread_mutex_unlock(&r->lock);
}

static void *writer(void *arg)
{
	struct blz_recorder *r = arg;
	struct blz_buf b = { 0 };
	/* Linux: a thread's nice value is its own (best effort: the log is correct without it) */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), WRITER_NICE);
	pthread_mutex_lock(&r->lock);
	while (!r->quit) {
		if (!r->kick) {
			struct timespec ts;
			blz_deadline_ts(&ts, CLOCK_MONOTONIC, r->period_ms);
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		}
		r->kick = false;
		pthread_mutex_unlock(&r->lock);
		drain(r, &b);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	drain(r, &b);
	blz_buf_release(&b);
	return NULL;
}

static uint64_t dropped_now(struct blz_recorder *r)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < r->max; i++) {
		struct blz_recq *q = atomic_load(&r->queues[i]);
		if (q)
			n += atomic_load_explicit(&q->dropped, memory_order_relaxed);
	}
	return n;
}

void blz_recorder_set_period_ms(struct blz_recorder *r, unsigned ms)
{
	r->period_ms = ms ? ms : 1;
}

uint32_t blz_recorder_ring_len(const struct blz_recorder *r)
{
	return r->ring_len;
}

int blz_recorder_set_t0(struct blz_recorder *r, uint64_t t0_unix_ns)
{
	if (t0_unix_ns > r->t0_unix)
		return -EINVAL;
	r->t0_mono -= r->t0_unix - t0_unix_ns; /* blz_recq_now: from the earlier start */
	r->t0_unix = t0_unix_ns;
	return 0;
}

static int log_begin(struct blz_recorder *r, int fd, bool header);

int blz_recorder_log_start(struct blz_recorder *r, int fd)
{
	return log_begin(r, fd, true);
}

int blz_recorder_log_append(struct blz_recorder *r, int fd)
{
	return log_begin(r, fd, false);
}

static int log_begin(struct blz_recorder *r, int fd, bool header)
{
	if (atomic_load(&r->logging) || r->writer_running) {
		close(fd);
		return -EBUSY;
	}
	/* what a request racing the last stop left in a ring is not this log's */
	for (unsigned i = 0; i < r->max; i++) {
		struct blz_recq *q = atomic_load(&r->queues[i]);
		if (q)
			atomic_store(&q->tail, atomic_load(&q->pub));
	}
	struct blz_buf h = { 0 };
	if (header)
		blz_reqlog_header(&h, r->t0_unix);
	int e = h.len ? blz_write_full(fd, h.data, h.len) : 0;
	blz_buf_release(&h);
	if (e < 0) {
		close(fd);
		return e;
	}
	r->fd = fd;
	r->lines = 0;
	r->error = 0;
	r->quit = r->kick = false;
	r->dropped_base = dropped_now(r);
	/* the condattr's clock is the monotonic one the writer's deadlines use */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&r->cond);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&r->logging, true);
	e = pthread_create(&r->writer, NULL, writer, r);
	if (e) {
		atomic_store(&r->logging, false);
		close(fd);
		r->fd = -1;
		return -e;
	}
	r->writer_running = true;
	/* named (best effort), so that top -H, perf and /proc/PID/task tell its CPU time apart */
	(void)pthread_setname_np(r->writer, BLZ_RECORDER_WRITER_NAME);
	return 0;
}

int blz_recorder_log_stop(struct blz_recorder *r)
{
	if (!r->writer_running)
		return -ENOENT;
	atomic_store(&r->logging, false);
	pthread_mutex_lock(&r->lock);
	r->quit = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->writer, NULL);
	r->writer_running = false;
	int e = r->error;
	if (fsync(r->fd) < 0 && errno != EINVAL && !e)
		e = -errno;
	if (close(r->fd) < 0 && !e)
		e = -errno;
	r->fd = -1;
	return e;
}

void blz_recorder_log_info(struct blz_recorder *r, struct blz_recorder_log_info *ret)
{
	pthread_mutex_lock(&r->lock);
	ret->active = r->writer_running;
	ret->lines = r->lines;
	ret->error = r->error;
	pthread_mutex_unlock(&r->lock);
	ret->dropped = dropped_now(r) - r->dropped_base;
}

void blz_recorder_stats(struct blz_recorder *r, struct blz_reqstats *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned i = 0; i < r->max; i++) {
		struct blz_recq *q = atomic_load(&r->queues[i]);
		if (q)
			blz_reqstats_add_to(&q->stats, ret);
	}
}
