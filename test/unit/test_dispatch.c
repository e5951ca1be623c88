/* Unit tests for lib/ublk/dispatch.c: a queue's dispatcher driven by a fake queue (no
 * kernel), with the null backend, a short-reading backend, and asynchronous backends that
 * complete out of order from several threads or never. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "ublk/dispatch.h"

#define BUF_SIZE 65536u

/* ---- the fake queue: what the ring would do with each commit ---- */

struct commit {
	int32_t result;
	void *buf;
};

struct fakeq {
	unsigned depth;
	uint8_t *bufs;
	bool *busy;             /* the "kernel" gave the tag a request not yet committed */
	struct blz_ublk_io_desc *descs;
	struct commit *last;    /* each tag's last commit */
	unsigned long commits;
	/* called on each commit, for tests that check bytes */
	void (*check)(struct fakeq *f, unsigned tag, int32_t result, void *buf);
	void *priv;
};

static void fake_commit(void *ctx, unsigned tag, int32_t result, void *buf)
{
	struct fakeq *f = ctx;
	assert_true(tag < f->depth);
	assert_true(f->busy[tag]); /* exactly one commit per request */
	f->busy[tag] = false;
	f->last[tag].result = result;
	f->last[tag].buf = buf;
	f->commits++;
	if (f->check)
		f->check(f, tag, result, buf);
}

static void fakeq_init(struct fakeq *f, unsigned depth)
{
	memset(f, 0, sizeof(*f));
	f->depth = depth;
	f->bufs = calloc(depth, BUF_SIZE);
	f->busy = calloc(depth, sizeof(*f->busy));
	f->descs = calloc(depth, sizeof(*f->descs));
	f->last = calloc(depth, sizeof(*f->last));
	assert_non_null(f->bufs);
	assert_non_null(f->busy);
	assert_non_null(f->descs);
	assert_non_null(f->last);
}

static void fakeq_release(struct fakeq *f)
{
	free(f->bufs);
	free(f->busy);
	free(f->descs);
	free(f->last);
}

static struct blz_ublk_disp *fakeq_disp(struct fakeq *f, struct blz_backend *b)
{
	struct blz_ublk_disp_config cfg = {
		.backend = b,
		.depth = f->depth,
		.buf_size = BUF_SIZE,
		.bufs = f->bufs,
		.commit = fake_commit,
		.ctx = f,
	};
	struct blz_ublk_disp *d = NULL;
	assert_int_equal(blz_ublk_disp_new(&cfg, &d), 0);
	return d;
}

/* The kernel hands tag a request. */
static void fakeq_give(struct fakeq *f, struct blz_ublk_disp *d, unsigned tag, unsigned op,
		       uint64_t off, uint32_t len)
{
	assert_false(f->busy[tag]);
	f->busy[tag] = true;
	f->descs[tag] = (struct blz_ublk_io_desc){
		.op_flags = op,
		.nr_sectors = len >> 9,
		.start_sector = off >> 9,
	};
	blz_ublk_disp_request(d, tag, &f->descs[tag]);
}

/* Waits (at most 10 s) for the wake eventfd, clears it and drains. */
static unsigned fakeq_wait_drain(struct blz_ublk_disp *d)
{
	struct pollfd p = { .fd = blz_ublk_disp_wake_fd(d), .events = POLLIN };
	assert_true(p.fd >= 0);
	assert_int_equal(poll(&p, 1, 10000), 1);
	uint64_t v;
	assert_int_equal(read(p.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	return blz_ublk_disp_drain(d);
}

/* ---- synchronous backends ---- */

static void test_null_every_tag(void **state)
{
	struct blz_backend *b;
	assert_int_equal(blz_backend_null_open(1 << 30, &b), 0);
	struct fakeq f;
	fakeq_init(&f, 16);
	struct blz_ublk_disp *d = fakeq_disp(&f, b);
	assert_int_equal(blz_ublk_disp_wake_fd(d), -1); /* synchronous: no eventfd */
	uint64_t bytes = 0;
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned t = 0; t < f.depth; t++) {
			uint32_t len = 4096u << (t % 5);
			memset(f.bufs + (size_t)t * BUF_SIZE, 0xa5, len);
			fakeq_give(&f, d, t, BLZ_UBLK_IO_OP_READ, (uint64_t)t << 20, len);
			/* committed before the call returned, into the tag's own buffer */
			assert_false(f.busy[t]);
			assert_int_equal(f.last[t].result, (int32_t)len);
			assert_ptr_equal(f.last[t].buf, f.bufs + (size_t)t * BUF_SIZE);
			for (uint32_t i = 0; i < len; i++)
				assert_int_equal(f.bufs[(size_t)t * BUF_SIZE + i], 0);
			bytes += len;
		}
	}
	/* the other operations, and reads the dispatcher refuses */
	fakeq_give(&f, d, 0, BLZ_UBLK_IO_OP_FLUSH, 0, 0);
	assert_int_equal(f.last[0].result, 0);
	fakeq_give(&f, d, 1, BLZ_UBLK_IO_OP_WRITE, 0, 4096);
	assert_int_equal(f.last[1].result, -EROFS);
	fakeq_give(&f, d, 2, BLZ_UBLK_IO_OP_DISCARD, 0, 4096);
	assert_int_equal(f.last[2].result, -EROFS);
	fakeq_give(&f, d, 3, BLZ_UBLK_IO_OP_WRITE_ZEROES, 0, 4096);
	assert_int_equal(f.last[3].result, -EROFS);
	fakeq_give(&f, d, 4, 0x7f, 0, 4096);
	assert_int_equal(f.last[4].result, -EOPNOTSUPP);
	fakeq_give(&f, d, 5, BLZ_UBLK_IO_OP_READ, 0, BUF_SIZE * 2); /* larger than a buffer */
	assert_int_equal(f.last[5].result, -EIO);
	fakeq_give(&f, d, 6, BLZ_UBLK_IO_OP_READ, (1 << 30) - 4096, 8192); /* past the end */
	assert_int_equal(f.last[6].result, -EIO);

	struct blz_ublk_qstats s;
	memset(&s, 0xff, sizeof(s));
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.reads, 3 * 16 + 2);
	assert_int_equal(s.read_bytes, bytes);
	assert_int_equal(s.flushes, 1);
	assert_int_equal(s.writes, 1);
	assert_int_equal(s.discards, 2);
	assert_int_equal(s.others, 1);
	assert_int_equal(s.errors, 6);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(s.async, 0);
	assert_int_equal(s.abandoned, 0);
	assert_int_equal(f.commits, 3 * 16 + 7);
	assert_int_equal(blz_ublk_disp_drain(d), 0);
	assert_int_equal(blz_ublk_disp_abandon(d, -EIO), 0);
	blz_ublk_disp_free(d);
	blz_ublk_disp_free(NULL);
	blz_backend_close(b);
	fakeq_release(&f);
}

/* A synchronous backend that gives the first half of every read (a readable prefix). */
static int half_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	memset(buf, 0x5a, len / 2);
	return (int)(len / 2);
}

static void nop_close(struct blz_backend *b)
{
}

/* ---- zero copy: ranges the backend says are a file's ---- */

static int fr_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	memset(buf, 0x33, len);
	return 0;
}

/* [0, 1 MiB) is "file 7" at offset + 100 */
static int fr_range(struct blz_backend *b, uint64_t off, uint32_t len, int *fd, uint64_t *foff)
{
	if (off + len > (1u << 20))
		return -ENOENT;
	*fd = 7;
	*foff = off + 100;
	return 0;
}

struct file_call {
	unsigned n, tag;
	int fd;
	uint64_t off;
	uint32_t len;
};

static struct file_call file_calls;

static void fake_file_read(void *ctx, unsigned tag, int fd, uint64_t off, uint32_t len)
{
	struct fakeq *f = ctx;
	assert_true(f->busy[tag]);
	file_calls = (struct file_call){ file_calls.n + 1, tag, fd, off, len };
}

static void test_file_read(void **state)
{
	static const struct blz_backend_ops ops = { "file", fr_read, NULL, nop_close, fr_range };
	struct blz_backend b = { &ops, 4 << 20 };
	struct fakeq f;
	fakeq_init(&f, 4);
	struct blz_ublk_disp_config cfg = {
		.backend = &b, .depth = f.depth, .buf_size = BUF_SIZE, .bufs = f.bufs,
		.commit = fake_commit, .ctx = &f, .file_read = fake_file_read,
	};
	struct blz_ublk_disp *d = NULL;
	assert_int_equal(blz_ublk_disp_new(&cfg, &d), 0);
	memset(&file_calls, 0, sizeof(file_calls));

	/* within the file: handed to file_read, not committed here */
	fakeq_give(&f, d, 2, BLZ_UBLK_IO_OP_READ, 8192, 16384);
	assert_int_equal(file_calls.n, 1);
	assert_int_equal(file_calls.tag, 2);
	assert_int_equal(file_calls.fd, 7);
	assert_int_equal(file_calls.off, 8192 + 100);
	assert_int_equal(file_calls.len, 16384);
	assert_true(f.busy[2]);
	assert_int_equal(blz_ublk_disp_file_reads(d), 1);
	struct blz_ublk_qstats s;
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.reads, 0); /* counted when it ends */
	blz_ublk_disp_file_done(d, 2, 16384);
	f.busy[2] = false; /* the ring committed it */
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.reads, 1);
	assert_int_equal(s.read_bytes, 16384);
	blz_ublk_disp_file_done(d, 2, -EIO);
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.errors, 1);

	/* crossing the file's end: read by the backend and committed as in copy mode */
	fakeq_give(&f, d, 1, BLZ_UBLK_IO_OP_READ, (1u << 20) - 4096, 8192);
	assert_int_equal(file_calls.n, 1);
	assert_false(f.busy[1]);
	assert_int_equal(f.last[1].result, 8192);
	assert_int_equal(f.bufs[BUF_SIZE], 0x33);
	/* the kernel registered no buffer (auto registration fell back): copy mode too */
	f.busy[0] = true;
	f.descs[0] = (struct blz_ublk_io_desc){
		.op_flags = BLZ_UBLK_IO_OP_READ | BLZ_UBLK_IO_F_NEED_REG_BUF,
		.nr_sectors = 8, .start_sector = 0,
	};
	blz_ublk_disp_request(d, 0, &f.descs[0]);
	assert_int_equal(file_calls.n, 1);
	assert_false(f.busy[0]);
	assert_int_equal(f.last[0].result, 4096);
	blz_ublk_disp_free(d);

	/* without file_read, a backend's file_range is never asked */
	d = fakeq_disp(&f, &b);
	fakeq_give(&f, d, 3, BLZ_UBLK_IO_OP_READ, 0, 4096);
	assert_int_equal(file_calls.n, 1);
	assert_false(f.busy[3]);
	assert_int_equal(blz_ublk_disp_file_reads(d), 0);
	blz_ublk_disp_free(d);
	fakeq_release(&f);

	/* blz_backend_file_range: past the end, and a backend without the op */
	int fd;
	uint64_t foff;
	assert_int_equal(blz_backend_file_range(&b, 4 << 20, 4096, &fd, &foff), -ENOENT);
	static const struct blz_backend_ops plain = { "plain", fr_read, NULL, nop_close };
	struct blz_backend pb = { &plain, 4 << 20 };
	assert_int_equal(blz_backend_file_range(&pb, 0, 4096, &fd, &foff), -EOPNOTSUPP);
}

static void test_short_read(void **state)
{
	static const struct blz_backend_ops ops = { "half", half_read, NULL, nop_close };
	struct blz_backend b = { &ops, 1 << 20 };
	struct fakeq f;
	fakeq_init(&f, 2);
	struct blz_ublk_disp *d = fakeq_disp(&f, &b);
	fakeq_give(&f, d, 1, BLZ_UBLK_IO_OP_READ, 8192, 16384);
	assert_int_equal(f.last[1].result, 8192); /* a short completion, as it was */
	struct blz_ublk_qstats s;
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.read_bytes, 8192);
	assert_int_equal(s.errors, 0);
	/* a prefix that is not whole blocks: its whole blocks (12 KiB of 14 KiB) */
	fakeq_give(&f, d, 0, BLZ_UBLK_IO_OP_READ, 0, 28672);
	assert_int_equal(f.last[0].result, 12288);
	/* no whole block readable: EIO, not a zero-length completion */
	fakeq_give(&f, d, 1, BLZ_UBLK_IO_OP_READ, 0, 4096);
	assert_int_equal(f.last[1].result, -EIO);
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.read_bytes, 8192 + 12288);
	assert_int_equal(s.errors, 1);
	blz_ublk_disp_free(d);
	fakeq_release(&f);

	/* Where the kernel cannot complete a read short (USER_COPY: zero copy), a short read
	 * fails as a whole: never a count the kernel would take for the whole request. */
	fakeq_init(&f, 2);
	struct blz_ublk_disp_config cfg = {
		.backend = &b, .depth = f.depth, .buf_size = BUF_SIZE, .bufs = f.bufs,
		.commit = fake_commit, .ctx = &f, .no_short_reads = true,
	};
	assert_int_equal(blz_ublk_disp_new(&cfg, &d), 0);
	fakeq_give(&f, d, 1, BLZ_UBLK_IO_OP_READ, 8192, 16384);
	assert_int_equal(f.last[1].result, -EIO);
	fakeq_give(&f, d, 0, BLZ_UBLK_IO_OP_READ, 0, 28672);
	assert_int_equal(f.last[0].result, -EIO);
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.reads, 2);
	assert_int_equal(s.read_bytes, 0);
	assert_int_equal(s.errors, 2);
	blz_ublk_disp_free(d);
	fakeq_release(&f);

	/* results as backend.h defines them */
	assert_int_equal(blz_backend_result(0, 4096), 4096);
	assert_int_equal(blz_backend_result(4096, 4096), 4096);
	assert_int_equal(blz_backend_result(512, 4096), 512);
	assert_int_equal(blz_backend_result(-ENOENT, 4096), -ENOENT);
	assert_int_equal(blz_backend_result(8192, 4096), -EIO);
}

/* What a read is committed as, with and without short completions. */
static void test_read_commit(void **state)
{
	static const struct {
		int r;
		uint32_t len, bs;
		int32_t short_ok, no_short;
	} t[] = {
		{ 16384, 16384, 4096, 16384, 16384 }, /* all of it */
		{ 8192, 16384, 4096, 8192, -EIO },    /* a whole-block prefix */
		{ 10000, 16384, 4096, 8192, -EIO },   /* its whole blocks */
		{ 10000, 16384, 512, 9728, -EIO },    /* 512-byte blocks */
		{ 4095, 16384, 4096, -EIO, -EIO },    /* no whole block */
		{ 512, 1024, 512, 512, -EIO },
		{ 0, 4096, 4096, -EIO, -EIO },        /* nothing: never a zero-length completion */
		{ 8192, 4096, 4096, -EIO, -EIO },     /* past the request */
		{ -ENOENT, 4096, 4096, -ENOENT, -ENOENT },
		{ -EIO, 0, 4096, -EIO, -EIO },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(blz_ublk_read_commit(t[i].r, t[i].len, t[i].bs, true), t[i].short_ok);
		assert_int_equal(blz_ublk_read_commit(t[i].r, t[i].len, t[i].bs, false),
				 t[i].no_short);
	}
}

/* ---- an asynchronous backend: worker threads complete requests in random order ---- */

struct abackend {
	struct blz_backend b;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct blz_backend_req **q; /* submitted, not yet taken */
	size_t n, cap;
	bool quit;
	uint64_t hold_off;   /* a request at this offset is held until release is set */
	bool release;
	unsigned seed;
	unsigned long inline_done, worker_done;
};

static void fill(struct blz_backend_req *req)
{
	uint8_t *p = req->buf;
	for (uint32_t i = 0; i < req->len; i++)
		p[i] = blz_pattern_byte(req->off + i);
}

static void a_submit(struct blz_backend *bb, struct blz_backend_req *req)
{
	struct abackend *a = (struct abackend *)bb;
	/* every seventh request completes inline, on the submitting thread */
	if ((req->off >> 12) % 7 == 3) {
		fill(req);
		a->inline_done++;
		req->done(req, 0);
		return;
	}
	pthread_mutex_lock(&a->lock);
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 64;
		a->q = realloc(a->q, a->cap * sizeof(*a->q));
		assert_non_null(a->q);
	}
	a->q[a->n++] = req;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

static void *a_worker(void *arg)
{
	struct abackend *a = arg;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		/* take a random request that is not held: completions come out of order */
		size_t pick = SIZE_MAX;
		for (size_t tries = 0; tries < a->n && pick == SIZE_MAX; tries++) {
			size_t i = (size_t)rand_r(&a->seed) % a->n;
			if (a->q[i]->off != a->hold_off || a->release)
				pick = i;
		}
		for (size_t i = 0; i < a->n && pick == SIZE_MAX; i++)
			if (a->q[i]->off != a->hold_off || a->release)
				pick = i;
		if (pick == SIZE_MAX) {
			if (a->quit)
				break;
			pthread_cond_wait(&a->cond, &a->lock);
			continue;
		}
		struct blz_backend_req *req = a->q[pick];
		a->q[pick] = a->q[--a->n];
		unsigned delay = (unsigned)rand_r(&a->seed) % 50;
		a->worker_done++;
		pthread_mutex_unlock(&a->lock);
		usleep(delay);
		fill(req);
		req->done(req, (int)req->len);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static int a_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	return -EIO; /* never called: submit is there */
}

static const struct blz_backend_ops a_ops = { "async-test", a_read, a_submit, nop_close };

static void abackend_init(struct abackend *a, uint64_t hold_off)
{
	memset(a, 0, sizeof(*a));
	a->b.ops = &a_ops;
	a->b.size = 1ULL << 40;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	a->hold_off = hold_off;
	a->seed = 12345;
}

static void abackend_set(struct abackend *a, bool *flag)
{
	pthread_mutex_lock(&a->lock);
	*flag = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

/* Each commit must carry the bytes of the request given to that tag. */
static void check_pattern(struct fakeq *f, unsigned tag, int32_t result, void *buf)
{
	const struct blz_ublk_io_desc *desc = &f->descs[tag];
	uint32_t len = desc->nr_sectors << 9;
	uint64_t off = desc->start_sector << 9;
	assert_int_equal(result, (int32_t)len);
	const uint8_t *p = buf;
	for (uint32_t i = 0; i < len; i += 509)
		assert_int_equal(p[i], blz_pattern_byte(off + i));
	assert_int_equal(p[len - 1], blz_pattern_byte(off + len - 1));
	unsigned long *done = f->priv;
	done[off >> 20]++;
}

#define NREQ 20000u
#define NTHREADS 4

static void test_async_out_of_order(void **state)
{
	/* request i reads at i MiB + (i % 13) * 4 KiB: its offset names it */
	uint64_t hold = (5ULL << 20) + 5 * 4096;
	struct abackend a;
	abackend_init(&a, hold);
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, a_worker, &a), 0);
	struct fakeq f;
	fakeq_init(&f, 32);
	unsigned long *done = calloc(NREQ, sizeof(*done));
	assert_non_null(done);
	f.check = check_pattern;
	f.priv = done;
	struct blz_ublk_disp *d = fakeq_disp(&f, &a.b);
	assert_true(blz_ublk_disp_wake_fd(d) >= 0);

	unsigned next = 0, hold_tag = UINT32_MAX;
	unsigned long commits_while_held = 0;
	while (f.commits < NREQ) {
		for (unsigned t = 0; t < f.depth && next < NREQ; t++) {
			if (f.busy[t])
				continue;
			uint64_t off = ((uint64_t)next << 20) + (next % 13) * 4096;
			if (off == hold)
				hold_tag = t;
			fakeq_give(&f, d, t, BLZ_UBLK_IO_OP_READ, off, 4096u * (1 + next % 16));
			next++;
		}
		if (f.commits == NREQ)
			break;
		unsigned long before = f.commits;
		fakeq_wait_drain(d);
		if (hold_tag != UINT32_MAX && f.busy[hold_tag])
			commits_while_held += f.commits - before;
		/* the held request goes back once thousands of others have been served */
		if (next == NREQ && !a.release)
			abackend_set(&a, &a.release);
		assert_true(blz_ublk_disp_inflight(d) <= f.depth);
	}
	abackend_set(&a, &a.quit);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);

	assert_int_equal(f.commits, NREQ);
	for (unsigned i = 0; i < NREQ; i++)
		if (done[i] != 1)
			fail_msg("request %u completed %lu times", i, done[i]);
	assert_true(hold_tag != UINT32_MAX);
	assert_true(commits_while_held > 1000); /* other tags were served meanwhile */
	struct blz_ublk_qstats s;
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.reads, NREQ);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(s.duplicates, 0);
	assert_int_equal(s.async, a.worker_done);
	assert_int_equal(a.inline_done + a.worker_done, NREQ);
	assert_true(a.inline_done > 0 && a.worker_done > 0);
	assert_int_equal(blz_ublk_disp_held(d), 0);
	blz_ublk_disp_free(d);
	free(done);
	free(a.q);
	fakeq_release(&f);
}

/* ---- teardown: a backend that holds its requests until told ---- */

struct hbackend {
	struct blz_backend b;
	struct blz_backend_req *held[8];
	unsigned n;
};

static void h_submit(struct blz_backend *bb, struct blz_backend_req *req)
{
	struct hbackend *h = (struct hbackend *)bb;
	assert_true(h->n < 8);
	h->held[h->n++] = req;
}

static void *h_complete_all(void *arg)
{
	struct hbackend *h = arg;
	for (unsigned i = 0; i < h->n; i++) {
		memset(h->held[i]->buf, 0xee, h->held[i]->len);
		h->held[i]->done(h->held[i], 0);
	}
	h->n = 0;
	return NULL;
}

static void test_teardown_outstanding(void **state)
{
	static const struct blz_backend_ops ops = { "hold", a_read, h_submit, nop_close };
	struct hbackend h = { .b = { &ops, 1 << 30 } };
	struct fakeq f;
	fakeq_init(&f, 4);
	struct blz_ublk_disp *d = fakeq_disp(&f, &h.b);
	for (unsigned t = 0; t < 3; t++)
		fakeq_give(&f, d, t, BLZ_UBLK_IO_OP_READ, t * 4096, 4096);
	assert_int_equal(f.commits, 0);
	assert_int_equal(blz_ublk_disp_inflight(d), 3);
	/* a flush is served while the reads are outstanding */
	fakeq_give(&f, d, 3, BLZ_UBLK_IO_OP_FLUSH, 0, 0);
	assert_int_equal(f.commits, 1);

	/* STOP: every read the backend holds fails with EIO, each tag on a fresh buffer */
	assert_int_equal(blz_ublk_disp_abandon(d, -EIO), 3);
	assert_int_equal(f.commits, 4);
	for (unsigned t = 0; t < 3; t++) {
		assert_false(f.busy[t]);
		assert_int_equal(f.last[t].result, -EIO);
		assert_non_null(f.last[t].buf);
		assert_true((uint8_t *)f.last[t].buf < f.bufs ||
			    (uint8_t *)f.last[t].buf >= f.bufs + 4 * BUF_SIZE);
	}
	assert_int_equal(blz_ublk_disp_inflight(d), 0);
	assert_int_equal(blz_ublk_disp_held(d), 3);
	assert_int_equal(blz_ublk_disp_abandon(d, -EIO), 0);

	/* a new request on an abandoned tag goes into its fresh buffer */
	fakeq_give(&f, d, 0, BLZ_UBLK_IO_OP_READ, 1 << 20, 4096);
	assert_int_equal(h.n, 4);
	assert_ptr_equal(h.held[3]->buf, f.last[0].buf);
	assert_true(h.held[3]->buf != h.held[0]->buf);

	/* the backend completes everything late, from another thread: the three abandoned
	 * ones are dropped, the new one is committed */
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, h_complete_all, &h), 0);
	pthread_join(th, NULL);
	assert_int_equal(f.commits, 4);
	assert_int_equal(fakeq_wait_drain(d), 1);
	assert_int_equal(f.commits, 5);
	assert_int_equal(f.last[0].result, 4096);
	assert_int_equal(((uint8_t *)f.last[0].buf)[4095], 0xee);
	struct blz_ublk_qstats s;
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.abandoned, 3);
	assert_int_equal(s.late, 3);
	assert_int_equal(s.errors, 3);
	assert_int_equal(s.reads, 4);
	assert_int_equal(s.duplicates, 0);
	assert_int_equal(blz_ublk_disp_held(d), 0);

	/* a second completion of one request is dropped and counted */
	fakeq_give(&f, d, 1, BLZ_UBLK_IO_OP_READ, 0, 4096);
	struct blz_backend_req *req = h.held[0];
	h_complete_all(&h);
	req->done(req, 0);
	assert_int_equal(blz_ublk_disp_drain(d), 1);
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.duplicates, 1);
	assert_int_equal(f.commits, 6);
	blz_ublk_disp_free(d);
	fakeq_release(&f);
}

/* The async filter of lib/backend over the pattern backend, through the dispatcher: worker
 * threads complete out of order; a stalled read is abandoned and cancelled at close. */
static void test_async_filter(void **state)
{
	struct blz_backend *b;
	char err[128];
	assert_int_equal(blz_backend_open_spec("pattern,size=1T,async=3,stall=4M", &b, err,
					       sizeof(err)), 0);
	assert_true(blz_backend_is_async(b));
	struct fakeq f;
	fakeq_init(&f, 16);
	unsigned long *done = calloc(4000, sizeof(*done));
	assert_non_null(done);
	f.check = check_pattern;
	f.priv = done;
	struct blz_ublk_disp *d = fakeq_disp(&f, b);
	fakeq_give(&f, d, 15, BLZ_UBLK_IO_OP_READ, (4 << 20) - 4096, 8192); /* stalls */
	unsigned next = 0;
	while (f.commits < 3999) {
		for (unsigned t = 0; t < 15 && next < 4000; t++) {
			if (f.busy[t])
				continue;
			next += next == 4; /* request 4 would be the stalled offset */
			fakeq_give(&f, d, t, BLZ_UBLK_IO_OP_READ, ((uint64_t)next << 20) + 512,
				   512u * (1 + next % 50));
			next++;
		}
		fakeq_wait_drain(d);
	}
	assert_true(f.busy[15]);
	assert_int_equal(blz_ublk_disp_inflight(d), 1);
	f.check = NULL;
	assert_int_equal(blz_ublk_disp_abandon(d, -EIO), 1);
	assert_int_equal(f.last[15].result, -EIO);
	blz_backend_close(b); /* completes the stalled read: late, dropped */
	struct blz_ublk_qstats s;
	blz_ublk_disp_stats(d, &s);
	assert_int_equal(s.late, 1);
	assert_int_equal(s.reads, 4000);
	assert_int_equal(s.errors, 1);
	assert_int_equal(blz_ublk_disp_held(d), 0);
	for (unsigned i = 0; i < 4000; i++)
		assert_int_equal(done[i], i != 4);
	blz_ublk_disp_free(d);
	free(done);
	fakeq_release(&f);
}

struct sreq {
	struct blz_backend_req req;
	int result, calls;
};

static void sreq_done(struct blz_backend_req *req, int result)
{
	struct sreq *r = (struct sreq *)req;
	r->result = result;
	r->calls++;
}

static void test_backend_submit(void **state)
{
	/* the generic entry: a synchronous backend completes inline; past the end is EIO */
	struct blz_backend *b;
	assert_int_equal(blz_backend_pattern_open(1 << 20, &b), 0);
	uint8_t buf[4096];
	struct sreq r = { { .buf = buf, .len = sizeof(buf), .off = 8192, .done = sreq_done }, 1, 0 };
	blz_backend_submit(b, &r.req);
	assert_int_equal(r.calls, 1);
	assert_int_equal(blz_backend_result(r.result, 4096), 4096);
	assert_int_equal(buf[8], blz_pattern_byte(8192 + 8));
	r.req.off = (1 << 20) - 2048;
	blz_backend_submit(b, &r.req);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.result, -EIO);
	blz_backend_close(b);
}

/* ---- recording (backend/recorder.h) ---- */

/* Every request is recorded at its commit, with its op, range, the backend's notes and a
 * latency; synchronous and asynchronous backends alike. */
static void test_record(void **state)
{
	struct blz_recorder *rec;
	assert_int_equal(blz_recorder_new(1, &rec), 0);
	for (int async = 0; async < 2; async++) {
		struct blz_backend *b;
		char err[128];
		assert_int_equal(blz_backend_open_spec(async ? "null,size=1G,async=2"
							     : "null,size=1G", &b, err, sizeof(err)), 0);
		assert_int_equal(blz_backend_filter_spec("delay:ms=2", &b, err, sizeof(err)), 0);
		struct fakeq f;
		fakeq_init(&f, 4);
		struct blz_ublk_disp_config cfg = {
			.backend = b, .depth = 4, .buf_size = BUF_SIZE, .bufs = f.bufs,
			.commit = fake_commit, .ctx = &f, .rec = blz_recorder_queue(rec, 0),
		};
		struct blz_ublk_disp *d;
		assert_int_equal(blz_ublk_disp_new(&cfg, &d), 0);
		fakeq_give(&f, d, 0, BLZ_UBLK_IO_OP_READ, 1 << 20, 8192);
		fakeq_give(&f, d, 1, BLZ_UBLK_IO_OP_FLUSH, 0, 0);
		fakeq_give(&f, d, 2, BLZ_UBLK_IO_OP_WRITE, 4096, 4096);
		fakeq_give(&f, d, 3, BLZ_UBLK_IO_OP_READ, 0, BUF_SIZE * 2); /* too large: EIO */
		while (f.commits < 4)
			fakeq_wait_drain(d);
		blz_ublk_disp_free(d);
		blz_backend_close(b);
		fakeq_release(&f);
	}
	struct blz_reqstats *st = malloc(sizeof(*st));
	blz_recorder_stats(rec, st);
	assert_int_equal(st->count[BLZ_OUT_OK], 4);    /* two reads, two flushes */
	assert_int_equal(st->count[BLZ_OUT_ERROR], 4); /* two writes, two oversized reads */
	assert_int_equal(st->size_hist[13], 2);        /* the 8 KiB reads */
	assert_int_equal(st->align_hist[20], 2);       /* at 1 MiB */
	assert_true(st->area_bytes[BLZ_AREA_NONE] == 2 * 8192);
	/* the reads waited for the delay filter: at least 2 ms */
	assert_true(blz_reqstats_percentile(st, BLZ_OUT_OK, 100) >= 2000000);
	free(st);
	blz_recorder_free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_null_every_tag),
		cmocka_unit_test(test_short_read),
		cmocka_unit_test(test_read_commit),
		cmocka_unit_test(test_file_read),
		cmocka_unit_test(test_async_out_of_order),
		cmocka_unit_test(test_teardown_outstanding),
		cmocka_unit_test(test_async_filter),
		cmocka_unit_test(test_backend_submit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
