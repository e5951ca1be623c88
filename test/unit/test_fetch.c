/* Unit tests for lib/fetch: the engine against fake sources (dedup, order, deadlines,
 * retries and back-off, verification, cancellation), the directory source, and --inject. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fetch/fetch.h"
#include "fetch/source.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/sha256.h"
#include "util/strbuf.h"

/* ---- chunks ---- */

#define NCHUNKS 6
#define CHUNK_LEN 70000

static uint8_t data[NCHUNKS][CHUNK_LEN];
static uint8_t digest[NCHUNKS][BLZ_STORE_DIGEST_LEN];
static struct blz_buf image[NCHUNKS]; /* raw chunk file images */

static void make_chunks(void)
{
	if (image[0].len)
		return;
	for (int c = 0; c < NCHUNKS; c++) {
		for (size_t i = 0; i < CHUNK_LEN; i++)
			data[c][i] = (uint8_t)(i * 7 + c * 31 + (i >> 9));
		blz_sha256(data[c], CHUNK_LEN, digest[c]);
		struct blz_chunk_header h = { .version = BLZ_CHUNK_VERSION, .codec = BLZ_CHUNK_CODEC_RAW,
					      .length = CHUNK_LEN, .stored_length = CHUNK_LEN };
		memcpy(h.digest, digest[c], BLZ_STORE_DIGEST_LEN);
		uint8_t hdr[BLZ_CHUNK_HEADER_LEN];
		blz_chunk_encode_header(&h, hdr);
		blz_buf_append(&image[c], hdr, sizeof(hdr));
		blz_buf_append(&image[c], data[c], CHUNK_LEN);
	}
}

static int chunk_index(const uint8_t *d)
{
	for (int c = 0; c < NCHUNKS; c++)
		if (memcmp(d, digest[c], BLZ_STORE_DIGEST_LEN) == 0)
			return c;
	return -1;
}

/* ---- a fake source ---- */

enum fake_mode {
	FAKE_OK,        /* serves every chunk */
	FAKE_MISSING,   /* -ENOENT */
	FAKE_FLAKY,     /* -EAGAIN for the first `fails` gets, then OK */
	FAKE_STALL,     /* waits until the deadline, then -ETIMEDOUT */
	FAKE_HANG,      /* sleeps hang_ms whatever the deadline, then -ETIMEDOUT */
	FAKE_WRONG,     /* one byte of the payload flipped */
	FAKE_GATE,      /* waits for the gate to open (or the deadline), then OK */
};

struct fake {
	struct blz_source base;
	enum fake_mode mode;
	int fails;
	uint32_t retry_after_ms;
	unsigned hang_ms;
	int stall_chunk;   /* FAKE_OK: this chunk stalls until the deadline (-1: none) */
	unsigned delay_ms; /* FAKE_OK: every other get takes this long */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool gate_open;
	atomic_int gets;
	int order[32]; /* chunk indexes in the order gets started */
	atomic_int n_order;
};

static int fake_get(struct blz_source *s, const uint8_t d[BLZ_STORE_DIGEST_LEN], size_t max_len,
		    uint64_t deadline_ms, struct blz_buf *out, struct blz_source_err *err)
{
	struct fake *f = (struct fake *)s;
	int n = atomic_fetch_add(&f->gets, 1);
	int c = chunk_index(d);
	int k = atomic_fetch_add(&f->n_order, 1);
	if (k < 32)
		f->order[k] = c;
	if (c < 0)
		return -ENOENT;
	switch (f->mode) {
	case FAKE_MISSING:
		snprintf(err->reason, sizeof(err->reason), "missing");
		return -ENOENT;
	case FAKE_FLAKY:
		if (n < f->fails) {
			snprintf(err->reason, sizeof(err->reason), "HTTP 503");
			err->retry_after_ms = f->retry_after_ms;
			return -EAGAIN;
		}
		break;
	case FAKE_STALL:
		while (blz_now_ms() < deadline_ms)
			blz_sleep_ms(5);
		return -ETIMEDOUT;
	case FAKE_HANG:
		blz_sleep_ms(f->hang_ms);
		return -ETIMEDOUT;
	case FAKE_GATE:
		pthread_mutex_lock(&f->mu);
		while (!f->gate_open && blz_now_ms() < deadline_ms) {
			pthread_mutex_unlock(&f->mu);
			blz_sleep_ms(2);
			pthread_mutex_lock(&f->mu);
		}
		bool open = f->gate_open;
		pthread_mutex_unlock(&f->mu);
		if (!open)
			return -ETIMEDOUT;
		break;
	case FAKE_OK:
		if (c == f->stall_chunk) {
			while (blz_now_ms() < deadline_ms)
				blz_sleep_ms(5);
			return -ETIMEDOUT;
		}
		blz_sleep_ms(f->delay_ms);
		break;
	default:
		break;
	}
	blz_buf_append(out, image[c].data, image[c].len);
	if (f->mode == FAKE_WRONG)
		out->data[out->len - 100] ^= 1;
	return 0;
}

static void fake_close(struct blz_source *s)
{
	struct fake *f = (struct fake *)s;
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static const struct blz_source_ops fake_ops = { .get = fake_get, .close = fake_close };

static struct fake *fake_new(enum fake_mode mode, const char *name)
{
	struct fake *f = blz_xcalloc(1, sizeof(*f));
	f->base.ops = &fake_ops;
	f->base.kind = BLZ_SOURCE_HTTP;
	f->base.max_inflight = 8;
	snprintf(f->base.name, sizeof(f->base.name), "%s", name);
	f->mode = mode;
	f->stall_chunk = -1;
	pthread_mutex_init(&f->mu, NULL);
	return f;
}

static void gate_open(struct fake *f)
{
	pthread_mutex_lock(&f->mu);
	f->gate_open = true;
	pthread_mutex_unlock(&f->mu);
}

/* ---- the engine over fakes ---- */

static char logbuf[8192];
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void test_log(void *ctx, const char *msg)
{
	pthread_mutex_lock(&log_mu);
	size_t n = strlen(logbuf);
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
	pthread_mutex_unlock(&log_mu);
}

static struct blz_fetcher *open_fakes(struct fake **fakes, size_t n, uint32_t timeout_ms,
				      unsigned retries, unsigned workers)
{
	make_chunks();
	logbuf[0] = '\0';
	struct blz_source *srcs[BLZ_FETCH_MAX_STORES];
	for (size_t i = 0; i < n; i++)
		srcs[i] = &fakes[i]->base;
	struct blz_fetch_opts o = { .sources = srcs, .n_stores = n, .timeout_ms = timeout_ms,
				    .retries = retries, .workers = workers,
				    .prefetch_rate = 1ull << 40, .log = test_log };
	struct blz_fetcher *f = NULL;
	char err[256];
	assert_int_equal(blz_fetch_open(&o, &f, err, sizeof(err)), 0);
	assert_true(blz_fetch_has_remote(f));
	return f;
}

struct waiter {
	struct blz_fetch_req req;
	atomic_int done;
	int result;
	bool bytes_ok;
	uint64_t start_ms, end_ms;
	atomic_int *order_counter;
	int order;
};

static void waiter_done(struct blz_fetch_req *req, int result, const uint8_t *bytes)
{
	struct waiter *w = (struct waiter *)req;
	int c = chunk_index(req->digest);
	w->result = result;
	w->bytes_ok = result == 0 && bytes && c >= 0 && memcmp(bytes, data[c], CHUNK_LEN) == 0;
	/* Nothing that failed verification may ever be handed out. */
	if (result == 0)
		assert_true(w->bytes_ok);
	w->end_ms = blz_now_ms();
	if (w->order_counter)
		w->order = atomic_fetch_add(w->order_counter, 1);
	atomic_store(&w->done, 1);
}

static void submit(struct blz_fetcher *f, struct waiter *w, int chunk, enum blz_fetch_prio prio)
{
	memset(w, 0, sizeof(*w));
	memcpy(w->req.digest, digest[chunk], BLZ_STORE_DIGEST_LEN);
	w->req.len = CHUNK_LEN;
	w->req.prio = prio;
	w->req.done = waiter_done;
	w->start_ms = blz_now_ms();
	blz_fetch_submit(f, &w->req);
}

static void wait_done(struct waiter *w, unsigned max_ms)
{
	uint64_t until = blz_now_ms() + max_ms;
	while (!atomic_load(&w->done) && blz_now_ms() < until)
		blz_sleep_ms(1);
	assert_true(atomic_load(&w->done));
}

static void wait_gets(struct fake *fk, int n)
{
	uint64_t until = blz_now_ms() + 5000;
	while (atomic_load(&fk->gets) < n && blz_now_ms() < until)
		blz_sleep_ms(1);
	assert_true(atomic_load(&fk->gets) >= n);
}

/* N concurrent requests for one chunk: one get, N completions with the right bytes. */
static void test_dedup(void **state)
{
	struct fake *fk = fake_new(FAKE_GATE, "gate");
	struct blz_fetcher *f = open_fakes(&fk, 1, 5000, 0, 4);
	struct waiter w[8];
	submit(f, &w[0], 0, BLZ_FETCH_DEMAND);
	wait_gets(fk, 1);
	for (int i = 1; i < 8; i++)
		submit(f, &w[i], 0, i % 2 ? BLZ_FETCH_DEMAND : BLZ_FETCH_PREFETCH);
	gate_open(fk);
	for (int i = 0; i < 8; i++) {
		wait_done(&w[i], 2000);
		assert_int_equal(w[i].result, 0);
		assert_true(w[i].bytes_ok);
	}
	assert_int_equal(atomic_load(&fk->gets), 1);
	struct blz_fetch_stats st;
	blz_fetch_get_stats(f, &st);
	assert_int_equal(st.joined, 7);
	assert_int_equal(st.n_sources, 1);
	assert_int_equal(st.source[0].fetches, 1);
	assert_int_equal(st.source[0].bytes, CHUNK_LEN);
	assert_string_equal(st.source[0].name, "gate");
	blz_fetch_close(f);
}

/* One worker, held by a first demand fetch: prefetches queued before a later demand run
 * after it. */
static void test_order(void **state)
{
	struct fake *fk = fake_new(FAKE_GATE, "gate");
	struct blz_fetcher *f = open_fakes(&fk, 1, 5000, 0, 1);
	struct waiter a, p1, p2, d;
	submit(f, &a, 0, BLZ_FETCH_DEMAND);
	wait_gets(fk, 1);
	submit(f, &p1, 1, BLZ_FETCH_PREFETCH);
	submit(f, &p2, 2, BLZ_FETCH_PREFETCH);
	submit(f, &d, 3, BLZ_FETCH_DEMAND);
	gate_open(fk);
	wait_done(&a, 2000);
	wait_done(&p1, 2000);
	wait_done(&p2, 2000);
	wait_done(&d, 2000);
	assert_int_equal(atomic_load(&fk->n_order), 4);
	assert_int_equal(fk->order[0], 0);
	assert_int_equal(fk->order[1], 3);
	assert_int_equal(fk->order[2], 1);
	assert_int_equal(fk->order[3], 2);
	struct blz_fetch_stats st;
	blz_fetch_get_stats(f, &st);
	assert_int_equal(st.prefetched, 2);
	assert_int_equal(st.prefetch_queued, 2);
	blz_fetch_close(f);
}

/* One worker, held by a first demand fetch: demand, then ahead (in order), then prefetch. A
 * demand request for a chunk queued ahead promotes it; an ahead request for a chunk queued
 * for prefetch moves it up to the ahead queue. */
static void test_ahead_order(void **state)
{
	struct fake *fk = fake_new(FAKE_GATE, "gate");
	struct blz_fetcher *f = open_fakes(&fk, 1, 5000, 0, 1);
	struct waiter a, p5, p1, a2, d3, a4, d4, a1;
	submit(f, &a, 0, BLZ_FETCH_DEMAND);
	wait_gets(fk, 1);
	submit(f, &p5, 5, BLZ_FETCH_PREFETCH);
	submit(f, &p1, 1, BLZ_FETCH_PREFETCH);
	submit(f, &a2, 2, BLZ_FETCH_AHEAD);
	submit(f, &d3, 3, BLZ_FETCH_DEMAND);
	submit(f, &a4, 4, BLZ_FETCH_AHEAD);
	submit(f, &d4, 4, BLZ_FETCH_DEMAND);
	submit(f, &a1, 1, BLZ_FETCH_AHEAD);
	gate_open(fk);
	struct waiter *all[] = { &a, &p5, &p1, &a2, &d3, &a4, &d4, &a1 };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		wait_done(all[i], 2000);
		assert_int_equal(all[i]->result, 0);
	}
	static const int want[] = { 0, 3, 4, 2, 1, 5 };
	assert_int_equal(atomic_load(&fk->n_order), 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(fk->order[i], want[i]);
	struct blz_fetch_stats st;
	blz_fetch_get_stats(f, &st);
	assert_int_equal(st.ahead_queued, 2);  /* chunks 2 and 4 (the others joined) */
	assert_int_equal(st.fetched_ahead, 2); /* 2, and 1 once moved up; 4 became demand */
	assert_int_equal(st.prefetched, 1);
	assert_int_equal(st.joined, 2);
	blz_fetch_close(f);
}

/* A source that stalls until the deadline, and one that ignores it: both requests end with
 * -EIO at the deadline (not before, not much after), and the log names the chunk. */
static void test_deadline(void **state)
{
	for (int m = 0; m < 2; m++) {
		struct fake *fk = fake_new(m ? FAKE_HANG : FAKE_STALL, "stall");
		fk->hang_ms = 1500;
		struct blz_fetcher *f = open_fakes(&fk, 1, 300, 3, 2);
		struct waiter w;
		submit(f, &w, 1, BLZ_FETCH_DEMAND);
		wait_done(&w, 1000);
		assert_int_equal(w.result, -EIO);
		uint64_t took = w.end_ms - w.start_ms;
		assert_true(took >= 290);
		assert_true(took < 900);
		char hex[65];
		blz_hex(digest[1], 32, hex);
		assert_non_null(strstr(logbuf, hex));
		blz_fetch_close(f);
	}
}

/* Transient errors are retried with back-off: two 503s then success; the waits stay within
 * the exponential bounds (50..100 ms, then 100..200 ms); Retry-After is honoured. */
static void test_retries(void **state)
{
	struct fake *fk = fake_new(FAKE_FLAKY, "flaky");
	fk->fails = 2;
	struct blz_fetcher *f = open_fakes(&fk, 1, 5000, 3, 2);
	struct waiter w;
	submit(f, &w, 0, BLZ_FETCH_DEMAND);
	wait_done(&w, 3000);
	assert_int_equal(w.result, 0);
	uint64_t took = w.end_ms - w.start_ms;
	assert_true(took >= 150);
	assert_true(took < 900);
	struct blz_fetch_stats st;
	blz_fetch_get_stats(f, &st);
	assert_int_equal(st.source[0].retries, 2);
	assert_int_equal(st.source[0].errors, 2);
	assert_int_equal(st.source[0].fetches, 1);
	assert_int_equal(atomic_load(&fk->gets), 3);
	blz_fetch_close(f);

	fk = fake_new(FAKE_FLAKY, "retry-after");
	fk->fails = 1;
	fk->retry_after_ms = 500;
	f = open_fakes(&fk, 1, 5000, 3, 2);
	submit(f, &w, 0, BLZ_FETCH_DEMAND);
	wait_done(&w, 3000);
	assert_int_equal(w.result, 0);
	assert_true(w.end_ms - w.start_ms >= 500);
	blz_fetch_close(f);

	/* The retry budget: retries=1 and a source failing for ever: 2 gets, then the next
	 * source (which has it). A missing chunk is not retried at its source. */
	struct fake *two[3] = { fake_new(FAKE_FLAKY, "down"), fake_new(FAKE_MISSING, "empty"),
				fake_new(FAKE_OK, "good") };
	two[0]->fails = 1000;
	f = open_fakes(two, 3, 5000, 1, 2);
	submit(f, &w, 2, BLZ_FETCH_DEMAND);
	wait_done(&w, 3000);
	assert_int_equal(w.result, 0);
	assert_int_equal(atomic_load(&two[0]->gets), 2);
	assert_int_equal(atomic_load(&two[1]->gets), 1);
	assert_int_equal(atomic_load(&two[2]->gets), 1);
	blz_fetch_close(f);
}

/* Wrong bytes: the next source is tried; when no source has good bytes, -EIO (waiter_done
 * asserts nothing unverified is handed out). */
static void test_bad_bytes(void **state)
{
	struct fake *two[2] = { fake_new(FAKE_WRONG, "liar"), fake_new(FAKE_OK, "good") };
	struct blz_fetcher *f = open_fakes(two, 2, 5000, 3, 2);
	struct waiter w;
	submit(f, &w, 1, BLZ_FETCH_DEMAND);
	wait_done(&w, 3000);
	assert_int_equal(w.result, 0);
	assert_true(w.bytes_ok);
	assert_int_equal(atomic_load(&two[0]->gets), 1); /* bad bytes: not retried there */
	struct blz_fetch_stats st;
	blz_fetch_get_stats(f, &st);
	assert_int_equal(st.source[0].bad, 1);
	assert_non_null(strstr(logbuf, "liar"));
	blz_fetch_close(f);

	struct fake *liar = fake_new(FAKE_WRONG, "liar");
	f = open_fakes(&liar, 1, 5000, 3, 2);
	submit(f, &w, 1, BLZ_FETCH_DEMAND);
	wait_done(&w, 3000);
	assert_int_equal(w.result, -EIO);
	blz_fetch_get_stats(f, &st);
	assert_int_equal(st.failed, 1);
	blz_fetch_close(f);
}

/* Closing completes outstanding requests (running and queued) with -ECANCELED at once. */
static void test_cancel(void **state)
{
	struct fake *fk = fake_new(FAKE_HANG, "hang");
	fk->hang_ms = 400;
	struct blz_fetcher *f = open_fakes(&fk, 1, 10000, 3, 1);
	struct waiter running, queued;
	submit(f, &running, 0, BLZ_FETCH_DEMAND);
	wait_gets(fk, 1);
	submit(f, &queued, 1, BLZ_FETCH_PREFETCH);
	uint64_t t0 = blz_now_ms();
	blz_fetch_close(f);
	assert_true(atomic_load(&running.done) && atomic_load(&queued.done));
	assert_int_equal(running.result, -ECANCELED);
	assert_int_equal(queued.result, -ECANCELED);
	assert_true(running.end_ms - t0 < 300);
	assert_true(queued.end_ms - t0 < 300);
}

/* Isolation: with one chunk stalled at the source (its requests waiting for their
 * deadline), requests for other chunks keep their latency: p99 within 2x of a run without
 * the stall (plus 100 ms of slack for a loaded machine; a held worker would cost 3 s). */
static uint64_t p99_latency(int stall)
{
	struct fake *fk = fake_new(FAKE_OK, "iso");
	fk->delay_ms = 20;
	fk->stall_chunk = stall ? 0 : -1;
	struct blz_fetcher *f = open_fakes(&fk, 1, 3000, 0, 4);
	struct waiter stalled[3];
	for (int i = 0; i < 3; i++)
		submit(f, &stalled[i], 0, BLZ_FETCH_DEMAND);
	enum { N = 40 };
	uint64_t lat[N];
	for (int i = 0; i < N; i++) {
		struct waiter w;
		submit(f, &w, 1 + i % 3, BLZ_FETCH_DEMAND);
		wait_done(&w, 3000);
		assert_int_equal(w.result, 0);
		lat[i] = w.end_ms - w.start_ms;
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			if (lat[j] < lat[i]) {
				uint64_t t = lat[i];
				lat[i] = lat[j];
				lat[j] = t;
			}
	blz_fetch_close(f);
	for (int i = 0; i < 3; i++) {
		assert_true(atomic_load(&stalled[i].done));
		assert_int_equal(stalled[i].result, stall ? -ECANCELED : 0);
	}
	return lat[N * 99 / 100];
}

static void test_isolation(void **state)
{
	uint64_t base = p99_latency(0), stalled = p99_latency(1);
	printf("p99 without a stalled chunk %llu ms, with one %llu ms\n", (unsigned long long)base,
	       (unsigned long long)stalled);
	assert_true(stalled <= 2 * base + 100);
}

/* ---- the directory source and the inline path ---- */

static char tmpdir[256];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void make_store(void)
{
	make_chunks();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_fetch.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	struct blz_store *st;
	assert_int_equal(blz_store_open(tmpdir, 0, &st), 0);
	uint8_t d[BLZ_STORE_DIGEST_LEN];
	for (int c = 0; c < 2; c++) {
		assert_int_equal(blz_store_put(st, data[c], CHUNK_LEN, d), 0);
		assert_memory_equal(d, digest[c], BLZ_STORE_DIGEST_LEN);
	}
	blz_store_close(st);
}

static void test_dir_source(void **state)
{
	make_store();
	struct blz_fetch_opts o = { .stores = (const char *[]){ tmpdir }, .n_stores = 1,
				    .retries = ~0u, .log = test_log };
	struct blz_fetcher *f;
	char err[256];
	logbuf[0] = '\0';
	assert_int_equal(blz_fetch_open(&o, &f, err, sizeof(err)), 0);
	assert_false(blz_fetch_has_remote(f));
	uint8_t *buf = blz_xmalloc(CHUNK_LEN);
	assert_int_equal(blz_fetch_get_local(f, digest[1], buf, CHUNK_LEN), 0);
	assert_memory_equal(buf, data[1], CHUNK_LEN);
	assert_int_equal(blz_fetch_get(f, digest[0], buf, CHUNK_LEN, BLZ_FETCH_DEMAND), 0);
	assert_memory_equal(buf, data[0], CHUNK_LEN);
	/* Not there: -EIO at once, and a log line naming chunk and store. */
	assert_int_equal(blz_fetch_get_local(f, digest[3], buf, CHUNK_LEN), -EIO);
	char hex[65];
	blz_hex(digest[3], 32, hex);
	assert_non_null(strstr(logbuf, hex));
	assert_non_null(strstr(logbuf, "missing"));
	/* submit without workers answers inline. */
	struct waiter w;
	submit(f, &w, 1, BLZ_FETCH_DEMAND);
	assert_true(atomic_load(&w.done));
	assert_int_equal(w.result, 0);
	/* The source's own get hands out the file image. */
	struct blz_source *s;
	assert_int_equal(blz_source_open(tmpdir, NULL, &s, err, sizeof(err)), 0);
	assert_int_equal(s->kind, BLZ_SOURCE_DIR);
	struct blz_buf img = { 0 };
	struct blz_source_err serr = { 0 };
	assert_int_equal(s->ops->get(s, digest[0], 1 << 20, blz_now_ms() + 1000, &img, &serr), 0);
	assert_int_equal(blz_chunk_decode(img.data, img.len, digest[0], buf, CHUNK_LEN), 0);
	assert_int_equal(s->ops->get(s, digest[3], 1 << 20, blz_now_ms() + 1000, &img, &serr), -ENOENT);
	assert_int_equal(s->ops->get(s, digest[0], 100, blz_now_ms() + 1000, &img, &serr), -EFBIG);
	/* a FIFO at a chunk's name: refused at once, not waited on */
	char fifo[400];
	blz_hex(digest[3], 32, hex);
	snprintf(fifo, sizeof(fifo), "%s/%.2s", tmpdir, hex);
	mkdir(fifo, 0700);
	snprintf(fifo, sizeof(fifo), "%s/%.2s/%s", tmpdir, hex, hex);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(s->ops->get(s, digest[3], 1 << 20, blz_now_ms() + 1000, &img, &serr), -EIO);
	unlink(fifo);
	blz_buf_release(&img);
	blz_source_close(s);
	free(buf);
	blz_fetch_close(f);
	/* A directory that is not there is an error at open, and is not created. */
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/nope", tmpdir);
	o.stores = (const char *[]){ missing };
	assert_int_equal(blz_fetch_open(&o, &f, err, sizeof(err)), -ENOENT);
	assert_int_equal(access(missing, F_OK), -1);
	nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* A fetcher over fake fk (which it then owns) with the persistent cache in cdir. */
static struct blz_fetcher *open_cached(struct fake *fk, const char *cdir)
{
	struct blz_source *srcs[1] = { &fk->base };
	struct blz_fetch_opts o = { .sources = srcs, .n_stores = 1, .cache_dir = cdir,
				    .retries = ~0u, .log = test_log };
	struct blz_fetcher *f;
	char err[256];
	assert_int_equal(blz_fetch_open(&o, &f, err, sizeof(err)), 0);
	return f;
}

/* Fetched chunks enter the persistent cache: a new engine on the same cache directory
 * answers inline, and the source is not asked again. */
static void test_cache(void **state)
{
	make_store(); /* for tmpdir */
	char cdir[300];
	snprintf(cdir, sizeof(cdir), "%s/cache", tmpdir);
	uint8_t *buf = blz_xmalloc(CHUNK_LEN);
	for (int round = 0; round < 2; round++) {
		struct fake *fk = fake_new(FAKE_OK, "remote");
		struct blz_fetcher *f = open_cached(fk, cdir);
		int r = blz_fetch_get_local(f, digest[2], buf, CHUNK_LEN);
		assert_int_equal(r, round == 0 ? -EAGAIN : 0);
		assert_int_equal(blz_fetch_get(f, digest[2], buf, CHUNK_LEN, BLZ_FETCH_DEMAND), 0);
		assert_memory_equal(buf, data[2], CHUNK_LEN);
		assert_int_equal(atomic_load(&fk->gets), round == 0 ? 1 : 0);
		/* the worker writes the cache after it has served the readers */
		struct blz_fetch_stats st;
		for (int i = 0; i < 500; i++) {
			blz_fetch_get_stats(f, &st);
			if (st.cache_entries)
				break;
			usleep(10000);
		}
		assert_int_equal(st.cache_entries, 1);
		assert_true(st.cache_bytes > 0);
		if (round == 1)
			assert_true(st.cache_hits >= 1);
		blz_fetch_close(f);
	}
	free(buf);
	nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* Warming: the chunk reaches the persistent cache; the scratch buffer gets no copy of a
 * fetched chunk (only the inline path's verified copy when it is already cached). */
static void test_warm(void **state)
{
	make_store(); /* for tmpdir */
	char cdir[300];
	snprintf(cdir, sizeof(cdir), "%s/cache", tmpdir);
	uint8_t *scratch = blz_xmalloc(CHUNK_LEN);
	for (int round = 0; round < 2; round++) {
		struct fake *fk = fake_new(FAKE_OK, "remote");
		struct blz_fetcher *f = open_cached(fk, cdir);
		memset(scratch, 0xa5, CHUNK_LEN);
		assert_int_equal(blz_fetch_warm(f, digest[1], scratch, CHUNK_LEN, BLZ_FETCH_DEMAND), 0);
		assert_int_equal(atomic_load(&fk->gets), round == 0 ? 1 : 0);
		if (round == 0) {
			for (size_t i = 0; i < CHUNK_LEN; i++)
				assert_int_equal(scratch[i], 0xa5);
		} else {
			assert_memory_equal(scratch, data[1], CHUNK_LEN);
		}
		blz_fetch_close(f); /* (closing writes what was fetched: round 1 finds it; and
				     * closes the source) */
	}
	/* a chunk no source has: the error of blz_fetch_get */
	struct fake *fk = fake_new(FAKE_MISSING, "remote");
	struct blz_source *srcs[1] = { &fk->base };
	struct blz_fetch_opts o = { .sources = srcs, .n_stores = 1, .retries = ~0u,
				    .log = test_log };
	struct blz_fetcher *f;
	char err[256];
	assert_int_equal(blz_fetch_open(&o, &f, err, sizeof(err)), 0);
	assert_int_equal(blz_fetch_warm(f, digest[0], scratch, CHUNK_LEN, BLZ_FETCH_DEMAND), -EIO);
	blz_fetch_close(f);
	free(scratch);
	nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- --inject ---- */

static void test_inject(void **state)
{
	struct blz_fetch_inject inj;
	char err[256];
	assert_int_equal(blz_fetch_inject_parse("delay=250ms,error-rate=0.5,error-file=/x", &inj,
						err, sizeof(err)), 0);
	assert_int_equal(inj.delay_ms, 250);
	assert_true(inj.error_rate == 0.5);
	assert_string_equal(inj.error_file, "/x");
	assert_int_equal(blz_fetch_inject_parse("delay=2s", &inj, err, sizeof(err)), 0);
	assert_int_equal(inj.delay_ms, 2000);
	assert_int_equal(inj.error_rate == 0, 1);
	const char *bad[] = { "delay=x", "error-rate=2", "error-rate=-0.1", "colour=red", "delay",
			      "error-file=", "delay=5d" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(blz_fetch_inject_parse(bad[i], &inj, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}

	/* Applied to the directory source: while the file exists every fetch fails (then the
	 * deadline ends it), once it is gone the chunk is served; error-rate=1 always fails;
	 * a delay is served and counted. */
	make_store();
	char efile[300], spec[400];
	snprintf(efile, sizeof(efile), "%s/fail", tmpdir);
	FILE *fp = fopen(efile, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(spec, sizeof(spec), "delay=50ms,error-file=%s", efile);
	struct blz_fetch_opts o = { .stores = (const char *[]){ tmpdir }, .n_stores = 1,
				    .retries = 0, .timeout_ms = 1000, .inject = spec,
				    .log = test_log };
	struct blz_fetcher *f;
	assert_int_equal(blz_fetch_open(&o, &f, err, sizeof(err)), 0);
	assert_true(blz_fetch_has_remote(f));
	uint8_t *buf = blz_xmalloc(CHUNK_LEN);
	assert_int_equal(blz_fetch_get_local(f, digest[0], buf, CHUNK_LEN), -EAGAIN);
	uint64_t t0 = blz_now_ms();
	assert_int_equal(blz_fetch_get(f, digest[0], buf, CHUNK_LEN, BLZ_FETCH_DEMAND), -EIO);
	assert_true(blz_now_ms() - t0 >= 50);
	unlink(efile);
	t0 = blz_now_ms();
	assert_int_equal(blz_fetch_get(f, digest[0], buf, CHUNK_LEN, BLZ_FETCH_DEMAND), 0);
	assert_true(blz_now_ms() - t0 >= 50);
	assert_memory_equal(buf, data[0], CHUNK_LEN);
	blz_fetch_close(f);
	o.inject = "error-rate=1";
	assert_int_equal(blz_fetch_open(&o, &f, err, sizeof(err)), 0);
	assert_int_equal(blz_fetch_get(f, digest[1], buf, CHUNK_LEN, BLZ_FETCH_DEMAND), -EIO);
	blz_fetch_close(f);
	o.inject = "error-rate=7";
	assert_int_equal(blz_fetch_open(&o, &f, err, sizeof(err)), -EINVAL);
	free(buf);
	nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* Source specs: URLs, exec: and directories go to their kinds; credentials never show. */
static void test_source_open(void **state)
{
	struct blz_source *s;
	char err[256];
	/* Credentials belong in --auth-file: refused, and not repeated in the message. */
	assert_int_equal(blz_source_open("http://user:secret@127.0.0.1:1/store", NULL, &s, err,
					 sizeof(err)), -EINVAL);
	assert_null(strstr(err, "secret"));
	assert_non_null(strstr(err, "http://127.0.0.1:1/store"));
	assert_int_equal(blz_source_open("http:///store", NULL, &s, err, sizeof(err)), -EINVAL);
	assert_int_equal(blz_source_open("http://127.0.0.1:1/store", NULL, &s, err, sizeof(err)), 0);
	assert_int_equal(s->kind, BLZ_SOURCE_HTTP);
	assert_string_equal(s->name, "http://127.0.0.1:1/store");
	/* Nothing listens on port 1: a transient error (refused), quickly. */
	struct blz_buf out = { 0 };
	struct blz_source_err serr = { 0 };
	make_chunks();
	int r = s->ops->get(s, digest[0], 1 << 20, blz_now_ms() + 1000, &out, &serr);
	assert_int_equal(r, -ECONNREFUSED);
	assert_int_equal(out.len, 0);
	blz_source_close(s);
	assert_int_equal(blz_source_open("", NULL, &s, err, sizeof(err)), -EINVAL);
	assert_true(blz_source_open("/nonexistent/store", NULL, &s, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent/store"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedup),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_ahead_order),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_retries),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_isolation),
		cmocka_unit_test(test_dir_source),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_warm),
		cmocka_unit_test(test_inject),
		cmocka_unit_test(test_source_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
