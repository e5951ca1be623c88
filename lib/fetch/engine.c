/*
 * The fetch engine (fetch.h): a job per digest being fetched (the requests for it wait on
 * the job), three FIFO queues (demand, ahead, prefetch), a pool of worker threads that take
 * demand jobs first, then ahead jobs (at most AHEAD_RUNNING at once, so that they never hold
 * every slot of a source), then prefetch jobs at the prefetch rate, and a reaper thread that
 * ends requests at their deadline whatever the sources are doing. One mutex guards the
 * queues, the jobs and the statistics.
 *
 * Why threads and not io_uring sockets (measured 2026-12-06 on the 2-core build machine, 64
 * chunks of 1 MiB from test/http/httpfault on loopback): verifying and reading a chunk costs
 * 0.83 ms of CPU per MiB, more than half of a whole fetch's client CPU (1.48 ms/MiB with one
 * worker). A single poll loop would do all of that verification on one core in turn; with
 * threads it spreads over the cores: 1 worker 105 MiB/s, 2 workers 117, 4 workers 169 (the
 * server shares the two cores; 8 workers 108, contention). Thread switches cost little next to
 * 1 MiB of SHA-256, and lib/http (blocking calls with poll() deadlines, TLS through libssl) is
 * written for a calling thread. What users see is bounded per source (max_inflight), not by
 * the number of threads.
 */
#include "fetch/fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch/internal.h"
#include "fetch/source.h"
#include "store/diskcache.h"
#include "util/clock.h"
#include "util/sha256.h"
#include "util/strbuf.h"

#define DEFAULT_WORKERS 16
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_RETRIES 3
#define DEFAULT_PREFETCH_RATE (8ull << 20)
#define AHEAD_RUNNING 4
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define ATTEMPT_MIN_MS 500
#define LAT_SAMPLES 1024
#define HASH_BUCKETS 4096

struct job {
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
	uint32_t len;
	enum blz_fetch_prio prio;
	bool queued;
	uint64_t deadline_ms;          /* for the sources: the latest any waiter wants */
	struct blz_fetch_req *waiters;
	struct job *qprev, *qnext;     /* in a queue while queued */
	struct job *hnext;             /* in its hash bucket until finished */
};

struct src_state {
	struct blz_source *s;
	unsigned inflight;
	bool failing;
	_Atomic uint64_t fetches, bytes;
	uint64_t retries, errors, bad;
	uint32_t lat_us[LAT_SAMPLES];
	size_t lat_n, lat_pos;
};

struct queue {
	struct job head; /* sentinel */
	size_t len;
};

struct blz_fetcher {
	struct src_state src[BLZ_FETCH_MAX_STORES];
	size_t n_src;
	bool remote;
	struct blz_diskcache *cache;
	bool inject_on;
	struct blz_fetch_inject inject;
	uint32_t timeout_ms;
	unsigned retries;
	uint64_t prefetch_rate;
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;

	pthread_mutex_t mu;
	pthread_cond_t work_cv;  /* workers: a job was queued, or closing */
	pthread_cond_t slot_cv;  /* a source slot came free, or closing (back-off sleeps here) */
	pthread_cond_t reap_cv;  /* the reaper: a new deadline, or closing */
	struct queue demand, ahead, prefetch; /* indexed by queue_of() */
	struct job *hash[HASH_BUCKETS];
	bool closing;
	uint64_t prefetch_next_ms;
	unsigned ahead_running;
	uint64_t joined, failed, prefetched, prefetch_queued, ahead_queued, fetched_ahead;

	pthread_t *workers;
	size_t n_workers;
	pthread_t reaper;
	bool reaper_started;
};

/* ---- small helpers ---- */

#define logf_(f, ...) blz_log_callf((f)->log, (f)->log_ctx, __VA_ARGS__)

/* A uniform number in [0, 1), per thread (xorshift64*; jitter and injection only). */
static double rnd01(void)
{
	static __thread uint64_t st;
	if (!st)
		st = (blz_now_ms() * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)&st ^ 1;
	st ^= st >> 12;
	st ^= st << 25;
	st ^= st >> 27;
	return (double)((st * 0x2545F4914F6CDD1Dull) >> 11) / (double)(1ull << 53);
}

static struct timespec abs_time(uint64_t deadline_ms)
{
	/* The condition variables use CLOCK_MONOTONIC, the clock of blz_now_ms. */
	struct timespec ts = { .tv_sec = (time_t)(deadline_ms / 1000),
			       .tv_nsec = (long)(deadline_ms % 1000) * 1000000 };
	return ts;
}

static void cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

static void chunk_hex(const uint8_t digest[BLZ_STORE_DIGEST_LEN], char hex[BLZ_SHA256_HEX_LEN + 1])
{
	blz_hex(digest, BLZ_STORE_DIGEST_LEN, hex);
}

/* ---- queues and the job table (f->mu held) ---- */

static void q_init(struct queue *q)
{
	q->head.qnext = q->head.qprev = &q->head;
	q->len = 0;
}

static void q_push(struct queue *q, struct job *j)
{
	j->qprev = q->head.qprev;
	j->qnext = &q->head;
	q->head.qprev->qnext = j;
	q->head.qprev = j;
	q->len++;
	j->queued = true;
}

static void q_remove(struct queue *q, struct job *j)
{
	j->qprev->qnext = j->qnext;
	j->qnext->qprev = j->qprev;
	q->len--;
	j->queued = false;
}

static struct job *q_first(struct queue *q)
{
	return q->len ? q->head.qnext : NULL;
}

static struct queue *queue_of(struct blz_fetcher *f, enum blz_fetch_prio prio)
{
	return prio == BLZ_FETCH_DEMAND ? &f->demand : prio == BLZ_FETCH_AHEAD ? &f->ahead
										: &f->prefetch;
}

static size_t bucket(const uint8_t digest[BLZ_STORE_DIGEST_LEN])
{
	return ((size_t)digest[0] << 8 | digest[1]) % HASH_BUCKETS;
}

static struct job *find_job(struct blz_fetcher *f, const uint8_t *digest, uint32_t len)
{
	for (struct job *j = f->hash[bucket(digest)]; j; j = j->hnext)
		if (j->len == len && memcmp(j->digest, digest, BLZ_STORE_DIGEST_LEN) == 0)
			return j;
	return NULL;
}

static void unhash_job(struct blz_fetcher *f, struct job *j)
{
	struct job **pp = &f->hash[bucket(j->digest)];
	while (*pp != j)
		pp = &(*pp)->hnext;
	*pp = j->hnext;
}

static void complete_all(struct blz_fetch_req *list, int result, const uint8_t *bytes)
{
	while (list) {
		struct blz_fetch_req *next = list->next_waiter;
		list->next_waiter = NULL;
		list->done(list, result, bytes);
		list = next;
	}
}

/* ---- one fetch: the cache, then the sources in order ---- */

static bool transient(int r)
{
	return r == -EAGAIN || r == -ETIMEDOUT || r == -ECONNRESET || r == -ECONNREFUSED ||
	       r == -EPIPE || r == -EIO;
}

static void record_latency(struct src_state *ss, uint64_t us)
{
	ss->lat_us[ss->lat_pos] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	ss->lat_pos = (ss->lat_pos + 1) % LAT_SAMPLES;
	if (ss->lat_n < LAT_SAMPLES)
		ss->lat_n++;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Takes a slot at source ss before deadline: 0, -ETIMEDOUT or -ECANCELED. f->mu held. */
static int take_slot(struct blz_fetcher *f, struct src_state *ss, uint64_t deadline)
{
	while (!f->closing && ss->inflight >= ss->s->max_inflight) {
		if (blz_now_ms() >= deadline)
			return -ETIMEDOUT;
		struct timespec ts = abs_time(deadline);
		pthread_cond_timedwait(&f->slot_cv, &f->mu, &ts);
	}
	if (f->closing)
		return -ECANCELED;
	ss->inflight++;
	return 0;
}

/* Sleeps until `until` (or closing). f->mu held. */
static void sleep_locked(struct blz_fetcher *f, uint64_t until)
{
	while (!f->closing && blz_now_ms() < until) {
		struct timespec ts = abs_time(until);
		pthread_cond_timedwait(&f->slot_cv, &f->mu, &ts);
	}
}

/* The back-off before retry number attempt+1: exponential with jitter (half to all of it),
 * at least what the source asked for. */
static uint64_t backoff_ms(unsigned attempt, uint32_t retry_after_ms)
{
	uint64_t b = BACKOFF_CAP_MS;
	if (attempt < 16 && ((uint64_t)BACKOFF_BASE_MS << attempt) < BACKOFF_CAP_MS)
		b = (uint64_t)BACKOFF_BASE_MS << attempt;
	b = b / 2 + (uint64_t)(rnd01() * (double)(b / 2));
	return retry_after_ms > b ? retry_after_ms : b;
}

static void append_cause(struct blz_buf *causes, const char *src, const char *what)
{
	blz_buf_printf(causes, "%s%s: %s", causes->len ? "; " : "", src, what);
}

/* Tries one source (with retries): 0 with buf filled, -ENOENT/-EBADMSG/-EIO (try the next),
 * -ETIMEDOUT (the deadline passed), -ECANCELED. */
static int try_source(struct blz_fetcher *f, struct job *j, struct src_state *ss, uint8_t *buf,
		      struct blz_buf *image, struct blz_buf *causes)
{
	char hex[BLZ_SHA256_HEX_LEN + 1];
	for (unsigned attempt = 0;; attempt++) {
		pthread_mutex_lock(&f->mu);
		uint64_t deadline = j->deadline_ms;
		int r = take_slot(f, ss, deadline);
		pthread_mutex_unlock(&f->mu);
		if (r < 0) {
			if (r == -ETIMEDOUT)
				append_cause(causes, ss->s->name, "deadline passed");
			return r;
		}
		struct blz_source_err err = { .reason = "", .retry_after_ms = 0 };
		image->len = 0;
		/* One attempt gets half the request's time at most (at least ATTEMPT_MIN_MS), so
		 * that a stalled connection leaves time for a retry. */
		uint64_t attempt_end = blz_now_ms() + (f->timeout_ms / 2 > ATTEMPT_MIN_MS
							 ? f->timeout_ms / 2 : ATTEMPT_MIN_MS);
		if (attempt_end < deadline)
			deadline = attempt_end;
		uint64_t t0 = now_us();
		r = f->inject_on ? blz_fetch_inject_apply(&f->inject, deadline, rnd01()) : 0;
		if (r < 0)
			snprintf(err.reason, sizeof(err.reason), "injected error");
		else
			r = ss->s->ops->get(ss->s, j->digest, BLZ_CHUNK_HEADER_LEN + BLZ_STORE_MAX_CHUNK + 4096,
					    deadline, image, &err);
		bool bad = false;
		if (r == 0) {
			int d = blz_chunk_decode(image->data, image->len, j->digest, buf, j->len);
			if (d < 0) {
				bad = true;
				snprintf(err.reason, sizeof(err.reason), "bad chunk (%s)",
					 blz_store_error()[0] ? blz_store_error() : strerror(-d));
				r = -EBADMSG;
			}
		}
		uint64_t lat = now_us() - t0;
		pthread_mutex_lock(&f->mu);
		ss->inflight--;
		pthread_cond_broadcast(&f->slot_cv);
		bool came_back = false;
		if (r == 0) {
			ss->fetches++;
			ss->bytes += j->len;
			record_latency(ss, lat);
			came_back = ss->failing;
			ss->failing = false;
		} else {
			ss->errors++;
			if (bad)
				ss->bad++;
			if (r != -ENOENT)
				ss->failing = true;
		}
		bool retry = r != 0 && transient(r) && attempt < f->retries && !f->closing;
		uint64_t wait = 0;
		if (retry) {
			wait = backoff_ms(attempt, err.retry_after_ms);
			if (blz_now_ms() + wait >= j->deadline_ms)
				retry = false; /* no time left for another try here */
			else
				ss->retries++;
		}
		if (retry)
			sleep_locked(f, blz_now_ms() + wait);
		bool closing = f->closing;
		pthread_mutex_unlock(&f->mu);
		if (came_back)
			logf_(f, "store %s is answering again", ss->s->name);
		if (r == 0)
			return 0; /* image holds the chunk file: the worker caches it (worker_main) */
		if (bad) {
			chunk_hex(j->digest, hex);
			logf_(f, "chunk %s from store %s: %s", hex, ss->s->name, err.reason);
		}
		if (closing)
			return -ECANCELED;
		if (!retry) {
			char what[300];
			snprintf(what, sizeof(what), "%s%s", r == -ENOENT ? "missing" : err.reason,
				 attempt ? " (after retries)" : "");
			append_cause(causes, ss->s->name, what);
			return bad ? -EBADMSG : r == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
		}
	}
}

/* Fetches j's chunk into buf: from the persistent cache, else from the stores in turn (then
 * image holds the chunk file as fetched; it is empty otherwise). */
static int run_job(struct blz_fetcher *f, struct job *j, uint8_t *buf, struct blz_buf *image)
{
	image->len = 0;
	if (f->cache && blz_diskcache_get(f->cache, j->digest, buf, j->len) == 0)
		return 0;
	struct blz_buf causes = { 0 };
	int r = -EIO;
	for (size_t i = 0; i < f->n_src; i++) {
		r = try_source(f, j, &f->src[i], buf, image, &causes);
		if (r == 0 || r == -ECANCELED)
			break;
		if (blz_now_ms() >= j->deadline_ms)
			break;
		r = -EIO;
	}
	if (r != 0 && r != -ECANCELED) {
		char hex[BLZ_SHA256_HEX_LEN + 1];
		chunk_hex(j->digest, hex);
		blz_buf_append(&causes, "", 1);
		logf_(f, "chunk %s cannot be fetched: %s", hex,
		      causes.len > 1 ? (const char *)causes.data : "no store answered in time");
		r = -EIO;
	}
	blz_buf_release(&causes);
	return r;
}

/* ---- workers and reaper ---- */

/* The next job for a worker: demand first, then ahead (a bounded number at once), then
 * prefetch when the rate allows. f->mu held; NULL and *wait_until set when there is none yet. */
static struct job *next_job(struct blz_fetcher *f, uint64_t *wait_until)
{
	*wait_until = 0;
	struct job *j = q_first(&f->demand);
	if (j) {
		q_remove(&f->demand, j);
		return j;
	}
	uint64_t now = blz_now_ms();
	j = f->ahead_running < AHEAD_RUNNING ? q_first(&f->ahead) : NULL;
	if (j) {
		q_remove(&f->ahead, j);
		f->ahead_running++;
	} else {
		j = q_first(&f->prefetch);
		if (!j)
			return NULL;
		if (now < f->prefetch_next_ms) {
			*wait_until = f->prefetch_next_ms;
			return NULL;
		}
		q_remove(&f->prefetch, j);
		uint64_t start = f->prefetch_next_ms > now ? f->prefetch_next_ms : now;
		f->prefetch_next_ms = start + (uint64_t)j->len * 1000 / f->prefetch_rate;
	}
	/* An ahead or prefetch job's deadline counts from when it starts. */
	j->deadline_ms = now + f->timeout_ms;
	for (struct blz_fetch_req *w = j->waiters; w; w = w->next_waiter)
		if (w->deadline_ms == UINT64_MAX)
			w->deadline_ms = j->deadline_ms;
	return j;
}

static void *worker_main(void *arg)
{
	struct blz_fetcher *f = arg;
	uint8_t *buf = blz_xmalloc(BLZ_STORE_MAX_CHUNK);
	struct blz_buf image = { 0 };
	pthread_mutex_lock(&f->mu);
	while (!f->closing) {
		uint64_t wait_until;
		struct job *j = next_job(f, &wait_until);
		if (!j) {
			if (wait_until) {
				struct timespec ts = abs_time(wait_until);
				pthread_cond_timedwait(&f->work_cv, &f->mu, &ts);
			} else {
				pthread_cond_wait(&f->work_cv, &f->mu);
			}
			continue;
		}
		bool prefetch = j->prio == BLZ_FETCH_PREFETCH;
		bool ahead = j->prio == BLZ_FETCH_AHEAD;
		pthread_mutex_unlock(&f->mu);
		int r = run_job(f, j, buf, &image);
		/* A fetched chunk enters the persistent cache before the job ends when nobody
		 * waits for it, else right after its readers are served (the cache write is not
		 * on their path); ahead and prefetch jobs are counted once it is there. */
		bool to_cache = r == 0 && image.len && f->cache;
		pthread_mutex_lock(&f->mu);
		if (to_cache && !j->waiters) {
			pthread_mutex_unlock(&f->mu);
			blz_diskcache_put_image(f->cache, j->digest, image.data, image.len);
			to_cache = false;
			pthread_mutex_lock(&f->mu);
		}
		unhash_job(f, j);
		struct blz_fetch_req *w = j->waiters;
		if (r < 0 && w)
			f->failed++;
		int result = r == 0 ? 0 : f->closing ? -ECANCELED : -EIO;
		pthread_mutex_unlock(&f->mu);
		complete_all(w, result, r == 0 ? buf : NULL);
		/* (closing joins the workers: every fetched chunk is written before then) */
		if (to_cache)
			blz_diskcache_put_image(f->cache, j->digest, image.data, image.len);
		free(j);
		pthread_mutex_lock(&f->mu);
		if (r == 0 && prefetch)
			f->prefetched++;
		if (ahead) {
			f->ahead_running--;
			if (r == 0)
				f->fetched_ahead++;
		}
	}
	pthread_mutex_unlock(&f->mu);
	free(buf);
	blz_buf_release(&image);
	return NULL;
}

/* Removes the requests of job j whose deadline passed into *expired. f->mu held. */
static void reap_job(struct blz_fetcher *f, struct job *j, uint64_t now,
		     struct blz_fetch_req **expired, uint64_t *next)
{
	struct blz_fetch_req **pp = &j->waiters;
	while (*pp) {
		struct blz_fetch_req *w = *pp;
		if (w->deadline_ms <= now) {
			*pp = w->next_waiter;
			w->next_waiter = *expired;
			*expired = w;
			f->failed++;
		} else {
			if (w->deadline_ms < *next)
				*next = w->deadline_ms;
			pp = &w->next_waiter;
		}
	}
}

static void *reaper_main(void *arg)
{
	struct blz_fetcher *f = arg;
	pthread_mutex_lock(&f->mu);
	while (!f->closing) {
		uint64_t now = blz_now_ms(), next = now + 1000;
		struct blz_fetch_req *expired = NULL;
		for (size_t b = 0; b < HASH_BUCKETS; b++) {
			struct job **pp = &f->hash[b];
			while (*pp) {
				struct job *j = *pp;
				reap_job(f, j, now, &expired, &next);
				/* A queued demand job nobody waits for any more is dropped. */
				if (j->queued && !j->waiters && j->prio == BLZ_FETCH_DEMAND) {
					q_remove(&f->demand, j);
					*pp = j->hnext;
					free(j);
					continue;
				}
				pp = &j->hnext;
			}
		}
		if (expired) {
			pthread_mutex_unlock(&f->mu);
			for (struct blz_fetch_req *w = expired; w; w = w->next_waiter) {
				char hex[BLZ_SHA256_HEX_LEN + 1];
				chunk_hex(w->digest, hex);
				logf_(f, "chunk %s: no store delivered it within the deadline (%u ms)",
				      hex, f->timeout_ms);
			}
			complete_all(expired, -EIO, NULL);
			pthread_mutex_lock(&f->mu);
			continue;
		}
		struct timespec ts = abs_time(next);
		pthread_cond_timedwait(&f->reap_cv, &f->mu, &ts);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---- the API ---- */

int blz_fetch_open(const struct blz_fetch_opts *o, struct blz_fetcher **ret, char *err,
		   size_t errlen)
{
	if (o->n_stores < 1 || o->n_stores > BLZ_FETCH_MAX_STORES) {
		for (size_t i = 0; o->sources && i < o->n_stores; i++)
			blz_source_close(o->sources[i]);
		return blz_errf(err, errlen, -EINVAL, "between 1 and %d stores expected",
				BLZ_FETCH_MAX_STORES);
	}
	struct blz_fetcher *f = blz_xcalloc(1, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	cond_init(&f->work_cv);
	cond_init(&f->slot_cv);
	cond_init(&f->reap_cv);
	q_init(&f->demand);
	q_init(&f->ahead);
	q_init(&f->prefetch);
	f->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	f->retries = o->retries == ~0u ? DEFAULT_RETRIES : o->retries;
	f->prefetch_rate = o->prefetch_rate ? o->prefetch_rate : DEFAULT_PREFETCH_RATE;
	f->log = o->log;
	f->log_ctx = o->log_ctx;
	int r = 0;
	if (o->inject) {
		r = blz_fetch_inject_parse(o->inject, &f->inject, err, errlen);
		f->inject_on = r == 0;
		f->remote = true; /* injected faults go through the workers, never inline */
	}
	struct blz_source_opts so = { .ca_file = o->ca_file, .auth_file = o->auth_file,
				      .max_inflight = o->max_inflight };
	for (size_t i = 0; i < o->n_stores; i++) {
		if (o->sources)
			f->src[i].s = o->sources[i];
		else if (r == 0)
			r = blz_source_open(o->stores[i], &so, &f->src[i].s, err, errlen);
		if (f->src[i].s) {
			f->n_src++;
			if (f->src[i].s->kind != BLZ_SOURCE_DIR)
				f->remote = true;
		}
	}
	if (r == 0 && o->cache_dir) {
		r = blz_diskcache_open(o->cache_dir, o->cache_size, &f->cache);
		if (r < 0)
			blz_errf(err, errlen, r, "cannot open cache directory '%s': %s", o->cache_dir,
				 strerror(-r));
	}
	if (r == 0 && f->remote) {
		f->n_workers = o->workers ? o->workers : DEFAULT_WORKERS;
		f->workers = blz_xcalloc(f->n_workers, sizeof(*f->workers));
		for (size_t i = 0; i < f->n_workers && r == 0; i++) {
			r = -pthread_create(&f->workers[i], NULL, worker_main, f);
			if (r < 0)
				f->n_workers = i;
		}
		if (r == 0) {
			r = -pthread_create(&f->reaper, NULL, reaper_main, f);
			f->reaper_started = r == 0;
		}
		if (r < 0)
			blz_errf(err, errlen, r, "cannot start fetch threads: %s", strerror(-r));
	}
	if (r < 0) {
		blz_fetch_close(f);
		return r;
	}
	*ret = f;
	return 0;
}

void blz_fetch_close(struct blz_fetcher *f)
{
	if (!f)
		return;
	struct blz_fetch_req *cancel = NULL;
	pthread_mutex_lock(&f->mu);
	f->closing = true;
	for (size_t b = 0; b < HASH_BUCKETS; b++) {
		struct job **pp = &f->hash[b];
		while (*pp) {
			struct job *j = *pp;
			while (j->waiters) {
				struct blz_fetch_req *w = j->waiters;
				j->waiters = w->next_waiter;
				w->next_waiter = cancel;
				cancel = w;
			}
			if (j->queued) {
				q_remove(queue_of(f, j->prio), j);
				*pp = j->hnext;
				free(j);
				continue;
			}
			pp = &j->hnext; /* running: its worker frees it */
		}
	}
	pthread_cond_broadcast(&f->work_cv);
	pthread_cond_broadcast(&f->slot_cv);
	pthread_cond_broadcast(&f->reap_cv);
	pthread_mutex_unlock(&f->mu);
	complete_all(cancel, -ECANCELED, NULL);
	for (size_t i = 0; i < f->n_workers; i++)
		pthread_join(f->workers[i], NULL);
	if (f->reaper_started)
		pthread_join(f->reaper, NULL);
	free(f->workers);
	for (size_t i = 0; i < f->n_src; i++)
		blz_source_close(f->src[i].s);
	blz_diskcache_close(f->cache);
	pthread_cond_destroy(&f->work_cv);
	pthread_cond_destroy(&f->slot_cv);
	pthread_cond_destroy(&f->reap_cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

bool blz_fetch_has_remote(const struct blz_fetcher *f)
{
	return f->remote;
}

int blz_fetch_get_local(struct blz_fetcher *f, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
			void *buf, size_t len)
{
	if (len > BLZ_STORE_MAX_CHUNK)
		return -EIO;
	if (f->cache && blz_diskcache_get(f->cache, digest, buf, len) == 0)
		return 0;
	if (f->inject_on)
		return -EAGAIN;
	struct blz_buf causes = { 0 };
	for (size_t i = 0; i < f->n_src; i++) {
		struct src_state *ss = &f->src[i];
		if (ss->s->kind != BLZ_SOURCE_DIR)
			continue;
		int r = blz_store_get(ss->s->store, digest, buf, len);
		if (r == 0) {
			ss->fetches++;
			ss->bytes += len;
			blz_buf_release(&causes);
			return 0;
		}
		char what[300];
		snprintf(what, sizeof(what), "%s", r == -ENOENT ? "missing"
						   : r == -EBADMSG ? blz_store_error() : strerror(-r));
		append_cause(&causes, ss->s->name, what);
		if (r != -ENOENT) {
			pthread_mutex_lock(&f->mu);
			ss->errors++;
			ss->bad += r == -EBADMSG;
			pthread_mutex_unlock(&f->mu);
		}
	}
	if (f->remote) {
		blz_buf_release(&causes);
		return -EAGAIN;
	}
	char hex[BLZ_SHA256_HEX_LEN + 1];
	chunk_hex(digest, hex);
	blz_buf_append(&causes, "", 1);
	logf_(f, "chunk %s cannot be read: %s", hex, (const char *)causes.data);
	blz_buf_release(&causes);
	pthread_mutex_lock(&f->mu);
	f->failed++;
	pthread_mutex_unlock(&f->mu);
	return -EIO;
}

void blz_fetch_submit(struct blz_fetcher *f, struct blz_fetch_req *req)
{
	req->next_waiter = NULL;
	if (req->len > BLZ_STORE_MAX_CHUNK) {
		req->done(req, -EIO, NULL);
		return;
	}
	pthread_mutex_lock(&f->mu);
	if (f->closing || !f->n_workers) {
		bool closing = f->closing;
		pthread_mutex_unlock(&f->mu);
		/* Without workers every source is local: the inline path is the whole answer. */
		if (closing) {
			req->done(req, -ECANCELED, NULL);
			return;
		}
		uint8_t *buf = blz_xmalloc(req->len ? req->len : 1);
		int r = blz_fetch_get_local(f, req->digest, buf, req->len);
		req->done(req, r == 0 ? 0 : -EIO, r == 0 ? buf : NULL);
		free(buf);
		return;
	}
	uint64_t now = blz_now_ms();
	bool demand = req->prio == BLZ_FETCH_DEMAND;
	req->deadline_ms = demand ? now + f->timeout_ms : UINT64_MAX;
	struct job *j = find_job(f, req->digest, req->len);
	if (j) {
		f->joined++;
		req->next_waiter = j->waiters;
		j->waiters = req;
		if (demand) {
			if (j->prio != BLZ_FETCH_DEMAND && j->queued) {
				/* Not started yet: it becomes a demand job with this deadline. */
				q_remove(queue_of(f, j->prio), j);
				q_push(&f->demand, j);
				j->deadline_ms = req->deadline_ms;
				pthread_cond_signal(&f->work_cv);
			} else if (req->deadline_ms > j->deadline_ms) {
				j->deadline_ms = req->deadline_ms;
			}
			j->prio = BLZ_FETCH_DEMAND;
		} else if (req->prio == BLZ_FETCH_AHEAD && j->queued && j->prio == BLZ_FETCH_PREFETCH) {
			/* Wanted sooner than its prefetch: it moves up to the ahead queue. */
			q_remove(&f->prefetch, j);
			q_push(&f->ahead, j);
			j->prio = BLZ_FETCH_AHEAD;
			pthread_cond_signal(&f->work_cv);
		} else if (!(j->queued && j->prio != BLZ_FETCH_DEMAND)) {
			req->deadline_ms = j->deadline_ms; /* it runs (or will) with that deadline */
		}
	} else {
		j = blz_xcalloc(1, sizeof(*j));
		memcpy(j->digest, req->digest, BLZ_STORE_DIGEST_LEN);
		j->len = req->len;
		j->prio = req->prio;
		j->deadline_ms = req->deadline_ms;
		j->waiters = req;
		size_t b = bucket(j->digest);
		j->hnext = f->hash[b];
		f->hash[b] = j;
		q_push(queue_of(f, j->prio), j);
		if (j->prio == BLZ_FETCH_PREFETCH)
			f->prefetch_queued++;
		else if (j->prio == BLZ_FETCH_AHEAD)
			f->ahead_queued++;
		pthread_cond_signal(&f->work_cv);
	}
	if (demand)
		pthread_cond_signal(&f->reap_cv);
	pthread_mutex_unlock(&f->mu);
}

struct sync_wait {
	struct blz_fetch_req req;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int result;
	void *buf;
};

static void sync_done(struct blz_fetch_req *req, int result, const uint8_t *bytes)
{
	struct sync_wait *w = (struct sync_wait *)req;
	if (result == 0 && w->buf) /* (none: warming) */
		memcpy(w->buf, bytes, req->len);
	pthread_mutex_lock(&w->mu);
	w->result = result;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Submits and waits; the bytes are copied into buf unless it is NULL. */
static int submit_wait(struct blz_fetcher *f, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		       void *buf, size_t len, enum blz_fetch_prio prio)
{
	struct sync_wait w = { .req = { .len = (uint32_t)len, .prio = prio, .done = sync_done },
			       .buf = buf };
	memcpy(w.req.digest, digest, BLZ_STORE_DIGEST_LEN);
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	blz_fetch_submit(f, &w.req);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return w.result;
}

int blz_fetch_get(struct blz_fetcher *f, const uint8_t digest[BLZ_STORE_DIGEST_LEN], void *buf,
		  size_t len, enum blz_fetch_prio prio)
{
	int r = blz_fetch_get_local(f, digest, buf, len);
	return r == -EAGAIN ? submit_wait(f, digest, buf, len, prio) : r;
}

int blz_fetch_warm(struct blz_fetcher *f, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		   void *scratch, size_t len, enum blz_fetch_prio prio)
{
	int r = blz_fetch_get_local(f, digest, scratch, len);
	return r == -EAGAIN ? submit_wait(f, digest, NULL, len, prio) : r;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void blz_fetch_get_stats(struct blz_fetcher *f, struct blz_fetch_stats *s)
{
	memset(s, 0, sizeof(*s));
	uint32_t *lat = blz_xmalloc(sizeof(uint32_t) * LAT_SAMPLES);
	pthread_mutex_lock(&f->mu);
	s->n_sources = f->n_src;
	for (size_t i = 0; i < f->n_src; i++) {
		struct src_state *ss = &f->src[i];
		struct blz_fetch_source_stats *o = &s->source[i];
		snprintf(o->name, sizeof(o->name), "%s", ss->s->name);
		o->fetches = ss->fetches;
		o->bytes = ss->bytes;
		o->retries = ss->retries;
		o->errors = ss->errors;
		o->bad = ss->bad;
		o->inflight = ss->inflight;
		size_t n = ss->lat_n;
		memcpy(lat, ss->lat_us, n * sizeof(uint32_t));
		blz_sort(lat, n, sizeof(uint32_t), cmp_u32);
		if (n) {
			o->p50_us = lat[(n - 1) * 50 / 100];
			o->p99_us = lat[(n - 1) * 99 / 100];
		}
	}
	s->joined = f->joined;
	s->failed = f->failed;
	s->prefetched = f->prefetched;
	s->prefetch_queued = f->prefetch_queued;
	s->ahead_queued = f->ahead_queued;
	s->fetched_ahead = f->fetched_ahead;
	pthread_mutex_unlock(&f->mu);
	free(lat);
	if (f->cache) {
		struct blz_diskcache_stats cs;
		blz_diskcache_get_stats(f->cache, &cs);
		s->cache_hits = cs.hits;
		s->cache_misses = cs.misses;
		s->cache_bytes = cs.bytes;
		s->cache_entries = cs.entries;
		s->cache_evictions = cs.evictions;
	}
}
