/* A queue's dispatcher: tags, backend submission, completion delivery (see dispatch.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ublk/dispatch.h"

enum {
	ST_READS,
	ST_READ_BYTES,
	ST_WRITES,
	ST_DISCARDS,
	ST_FLUSHES,
	ST_OTHERS,
	ST_ERRORS,
	ST_ASYNC,
	ST_ABANDONED,
	ST_FILE_READS,
	ST_N
};

/* Where a request of an asynchronous backend stands. */
enum {
	R_IDLE,      /* not submitted */
	R_OUT,       /* the backend holds it */
	R_DONE,      /* completed, waiting for the owner to commit it */
	R_ABANDONED, /* failed by the owner; the backend still holds it */
	R_RETURNED,  /* abandoned, then completed: nobody holds it */
};

struct dreq {
	struct blz_backend_req req; /* first: done gets &req */
	struct blz_ublk_disp *d;
	unsigned tag;
	int result;
	_Atomic int state;
	struct dreq *next; /* on the completion list, or the abandoned list */
	void *spare;       /* a buffer this dispatcher allocated for the tag, or NULL */
	uint64_t t0;       /* arrival, on the recorder's clock */
};

struct blz_ublk_disp {
	struct blz_backend *b;
	bool async;
	unsigned depth;
	uint32_t buf_size;
	uint32_t block_mask; /* block size - 1 */
	bool short_ok;       /* the kernel completes a short read short (blz_ublk_read_commit) */
	uint8_t *bufs;
	blz_ublk_commit_fn commit;
	void *ctx;
	int efd;
	struct blz_recq *rec;
	blz_ublk_file_read_fn file_read;
	struct file_req *files;       /* file_read: each tag's read, for its record */
	struct dreq **tags;           /* async backends: each tag's current request */
	struct dreq *abandoned;       /* owner only */
	_Atomic(struct dreq *) done;  /* completions from other threads, newest first */
	_Atomic unsigned inflight;    /* written by the owner only */
	_Atomic uint64_t late, dups;  /* written by any thread */
	_Atomic uint64_t stats[ST_N]; /* written by the owner only */
};

/* A read handed to file_read (zero copy). */
struct file_req {
	uint64_t off, t0;
	uint32_t len;
};

/* Set by the owner around a submit: a completion on the same thread is inline. */
static __thread struct blz_ublk_disp *submitting;

static inline void stat_add(struct blz_ublk_disp *d, int i, uint64_t v)
{
	/* single writer: a relaxed load and store, no locked instruction */
	uint64_t old = atomic_load_explicit(&d->stats[i], memory_order_relaxed);
	atomic_store_explicit(&d->stats[i], old + v, memory_order_relaxed);
}

static inline void set_inflight(struct blz_ublk_disp *d, int delta)
{
	unsigned n = atomic_load_explicit(&d->inflight, memory_order_relaxed);
	atomic_store_explicit(&d->inflight, n + (unsigned)delta, memory_order_relaxed);
}

static inline void *tag_buf(const struct blz_ublk_disp *d, unsigned tag)
{
	return d->bufs + (size_t)tag * d->buf_size;
}

/* Records a request that ends with r (bytes or -errno) and the backend's notes in req
 * (NULL: none, an empty range). */
static void record(struct blz_ublk_disp *d, unsigned tag, unsigned op, int r,
		   const struct blz_backend_req *req, uint64_t t0)
{
	uint64_t now = blz_recq_now(d->rec);
	struct blz_reqrec rec = {
		.t_ns = t0, .lat_ns = now - t0, .tag = (uint16_t)tag, .op = (uint8_t)op,
		.off = req ? req->off : 0, .len = req ? req->len : 0,
		.area = req ? req->area : 0, .outcome = req ? req->outcome : 0,
	};
	if (r < 0 && rec.outcome < BLZ_OUT_UNMAPPED)
		rec.outcome = BLZ_OUT_ERROR;
	blz_recq_record(d->rec, &rec);
}

int32_t blz_ublk_read_commit(int r, uint32_t len, uint32_t block_size, bool short_ok)
{
	if (r < 0)
		return r;
	if (r == 0 || (uint32_t)r > len)
		return -EIO;
	if ((uint32_t)r == len)
		return r;
	/* A short read (boundary of readable bytes): the whole blocks of the prefix. */
	int32_t n = short_ok ? r & ~(int32_t)(block_size - 1) : 0;
	return n > 0 ? n : -EIO;
}

/* Counts a read that ends with r (bytes or -errno), records it (req: as record's) and
 * commits it (as blz_ublk_read_commit says). */
static void commit_read(struct blz_ublk_disp *d, unsigned tag, int r, void *buf,
			uint32_t len, const struct blz_backend_req *req, uint64_t t0)
{
	r = blz_ublk_read_commit(r, len, d->block_mask + 1, d->short_ok);
	stat_add(d, ST_READS, 1);
	if (r > 0)
		stat_add(d, ST_READ_BYTES, (uint64_t)r);
	else
		stat_add(d, ST_ERRORS, 1);
	if (d->rec)
		record(d, tag, BLZ_OP_READ, r, req, t0);
	d->commit(d->ctx, tag, r, buf);
}

/* Commits a completed request of an asynchronous backend (owner). */
static void finish(struct blz_ublk_disp *d, struct dreq *dr)
{
	atomic_store_explicit(&dr->state, R_IDLE, memory_order_relaxed);
	set_inflight(d, -1);
	commit_read(d, dr->tag, blz_backend_result(dr->result, dr->req.len), dr->req.buf,
		    dr->req.len, &dr->req, dr->t0);
}

static void req_done(struct blz_backend_req *req, int result)
{
	struct dreq *dr = (struct dreq *)req;
	struct blz_ublk_disp *d = dr->d;
	int st = R_OUT;
	if (!atomic_compare_exchange_strong(&dr->state, &st, R_DONE)) {
		/* abandoned at teardown: nobody waits for it any more; else a second
		 * completion, a backend bug: dropped */
		if (st == R_ABANDONED &&
		    atomic_compare_exchange_strong(&dr->state, &st, R_RETURNED))
			atomic_fetch_add(&d->late, 1);
		else
			atomic_fetch_add(&d->dups, 1);
		return;
	}
	dr->result = result;
	if (submitting == d) {
		finish(d, dr);
		return;
	}
	struct dreq *head = atomic_load_explicit(&d->done, memory_order_relaxed);
	do
		dr->next = head;
	while (!atomic_compare_exchange_weak_explicit(&d->done, &head, dr, memory_order_release,
						      memory_order_relaxed));
	/* The first on an empty list wakes the owner; later ones ride on that wake-up. */
	if (!head)
		blz_ublk_disp_wake(d);
}

static struct dreq *new_dreq(struct blz_ublk_disp *d, unsigned tag, void *buf)
{
	struct dreq *dr = calloc(1, sizeof(*dr));
	if (!dr)
		return NULL;
	dr->d = d;
	dr->tag = tag;
	dr->req.buf = buf;
	dr->req.done = req_done;
	atomic_init(&dr->state, R_IDLE);
	return dr;
}

int blz_ublk_disp_new(const struct blz_ublk_disp_config *cfg, struct blz_ublk_disp **ret)
{
	if (!cfg->backend || !cfg->commit || !cfg->bufs || cfg->depth == 0 || cfg->buf_size == 0)
		return -EINVAL;
	struct blz_ublk_disp *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->b = cfg->backend;
	d->async = blz_backend_is_async(cfg->backend);
	d->depth = cfg->depth;
	d->buf_size = cfg->buf_size;
	d->block_mask = (cfg->block_size ? cfg->block_size : 4096) - 1;
	d->short_ok = !cfg->no_short_reads;
	d->bufs = cfg->bufs;
	d->commit = cfg->commit;
	d->ctx = cfg->ctx;
	d->efd = -1;
	d->rec = cfg->rec;
	d->file_read = cfg->file_read;
	if (d->file_read && !(d->files = calloc(d->depth, sizeof(*d->files)))) {
		free(d);
		return -ENOMEM;
	}
	if (d->async) {
		/* blocking: the ring's read of it waits (poll-driven) instead of failing with
		 * EAGAIN; a write blocks only when the counter would overflow (never) */
		d->efd = eventfd(0, EFD_CLOEXEC);
		d->tags = calloc(d->depth, sizeof(*d->tags));
		int r = d->efd < 0 ? -errno : d->tags ? 0 : -ENOMEM;
		for (unsigned t = 0; r == 0 && t < d->depth; t++)
			if (!(d->tags[t] = new_dreq(d, t, tag_buf(d, t))))
				r = -ENOMEM;
		if (r < 0) {
			blz_ublk_disp_free(d);
			return r;
		}
	}
	*ret = d;
	return 0;
}

static void free_dreq(struct dreq *dr)
{
	if (dr) {
		free(dr->spare);
		free(dr);
	}
}

void blz_ublk_disp_free(struct blz_ublk_disp *d)
{
	if (!d || blz_ublk_disp_held(d))
		return;
	for (unsigned t = 0; d->tags && t < d->depth; t++)
		free_dreq(d->tags[t]);
	while (d->abandoned) {
		struct dreq *next = d->abandoned->next;
		free_dreq(d->abandoned);
		d->abandoned = next;
	}
	free(d->tags);
	free(d->files);
	if (d->efd >= 0)
		close(d->efd);
	free(d);
}

/* Zero copy: hands a read the backend says is one file's to file_read; false when it is not. */
static bool serve_file(struct blz_ublk_disp *d, unsigned tag, uint32_t len, uint64_t off,
		       uint64_t t0)
{
	int fd;
	uint64_t foff;
	if (blz_backend_file_range(d->b, off, len, &fd, &foff) < 0)
		return false;
	d->files[tag] = (struct file_req){ .off = off, .t0 = t0, .len = len };
	stat_add(d, ST_FILE_READS, 1);
	d->file_read(d->ctx, tag, fd, foff, len);
	return true;
}

void blz_ublk_disp_file_done(struct blz_ublk_disp *d, unsigned tag, int result)
{
	if (!d->files || tag >= d->depth)
		return;
	const struct file_req *f = &d->files[tag];
	stat_add(d, ST_READS, 1);
	if (result > 0)
		stat_add(d, ST_READ_BYTES, (uint64_t)result);
	else
		stat_add(d, ST_ERRORS, 1);
	if (d->rec) {
		struct blz_backend_req req = { .off = f->off, .len = f->len, .area = BLZ_AREA_LOCAL,
					       .outcome = BLZ_OUT_IMAGE };
		record(d, tag, BLZ_OP_READ, result, &req, f->t0);
	}
}

uint64_t blz_ublk_disp_file_reads(const struct blz_ublk_disp *d)
{
	return atomic_load_explicit(&((struct blz_ublk_disp *)d)->stats[ST_FILE_READS],
				    memory_order_relaxed);
}

static void serve_read(struct blz_ublk_disp *d, unsigned tag, uint32_t len, uint64_t off,
		       uint64_t t0)
{
	if (!d->async) {
		struct blz_backend_req req = { .buf = tag_buf(d, tag), .len = len, .off = off };
		int r = blz_backend_read_req(d->b, &req);
		commit_read(d, tag, blz_backend_result(r, len), req.buf, len, &req, t0);
		return;
	}
	struct dreq *dr = d->tags[tag];
	if (atomic_load_explicit(&dr->state, memory_order_relaxed) != R_IDLE) {
		/* the kernel never gives a tag a new request before its commit */
		commit_read(d, tag, -EIO, dr->req.buf, 0, NULL, t0);
		return;
	}
	dr->req.len = len;
	dr->req.off = off;
	dr->req.area = dr->req.outcome = 0;
	dr->t0 = t0;
	atomic_store_explicit(&dr->state, R_OUT, memory_order_relaxed);
	set_inflight(d, 1);
	struct blz_ublk_disp *outer = submitting;
	submitting = d;
	blz_backend_submit(d->b, &dr->req);
	submitting = outer;
}

void blz_ublk_disp_request(struct blz_ublk_disp *d, unsigned tag,
			   const struct blz_ublk_io_desc *desc)
{
	unsigned op = desc->op_flags & 0xff, rop = BLZ_OP_OTHER;
	uint64_t t0 = d->rec ? blz_recq_now(d->rec) : 0;
	int r;
	switch (op) {
	case BLZ_UBLK_IO_OP_READ: {
		uint64_t len = (uint64_t)desc->nr_sectors << 9;
		if (len == 0 || len > d->buf_size) {
			void *buf = d->async ? d->tags[tag]->req.buf : tag_buf(d, tag);
			commit_read(d, tag, -EIO, buf, 0, NULL, t0);
			return;
		}
		if (d->file_read && !(desc->op_flags & BLZ_UBLK_IO_F_NEED_REG_BUF) &&
		    serve_file(d, tag, (uint32_t)len, desc->start_sector << 9, t0))
			return;
		serve_read(d, tag, (uint32_t)len, desc->start_sector << 9, t0);
		return;
	}
	case BLZ_UBLK_IO_OP_FLUSH:
		stat_add(d, ST_FLUSHES, 1);
		rop = BLZ_OP_FLUSH;
		r = 0;
		break;
	case BLZ_UBLK_IO_OP_WRITE:
	case BLZ_UBLK_IO_OP_WRITE_SAME:
		stat_add(d, ST_WRITES, 1);
		rop = BLZ_OP_WRITE;
		r = -EROFS;
		break;
	case BLZ_UBLK_IO_OP_DISCARD:
	case BLZ_UBLK_IO_OP_WRITE_ZEROES:
		stat_add(d, ST_DISCARDS, 1);
		rop = op == BLZ_UBLK_IO_OP_DISCARD ? BLZ_OP_DISCARD : BLZ_OP_WRITE_ZEROES;
		r = -EROFS;
		break;
	default:
		stat_add(d, ST_OTHERS, 1);
		r = -EOPNOTSUPP;
		break;
	}
	if (r < 0)
		stat_add(d, ST_ERRORS, 1);
	if (d->rec) {
		struct blz_backend_req req = { .off = desc->start_sector << 9,
					       .len = desc->nr_sectors << 9 };
		record(d, tag, rop, r, &req, t0);
	}
	d->commit(d->ctx, tag, r, d->async ? d->tags[tag]->req.buf : tag_buf(d, tag));
}

unsigned blz_ublk_disp_drain(struct blz_ublk_disp *d)
{
	if (!d->async)
		return 0;
	struct dreq *list = atomic_exchange_explicit(&d->done, NULL, memory_order_acquire);
	/* newest first: reverse, to commit in completion order */
	struct dreq *fifo = NULL;
	while (list) {
		struct dreq *next = list->next;
		list->next = fifo;
		fifo = list;
		list = next;
	}
	unsigned n = 0;
	while (fifo) {
		struct dreq *next = fifo->next;
		fifo->next = NULL;
		stat_add(d, ST_ASYNC, 1);
		finish(d, fifo);
		fifo = next;
		n++;
	}
	return n;
}

unsigned blz_ublk_disp_abandon(struct blz_ublk_disp *d, int err)
{
	unsigned n = 0;
	for (unsigned t = 0; d->async && t < d->depth; t++) {
		struct dreq *dr = d->tags[t];
		/* The tag gets a fresh request and buffer first: the backend may still write
		 * into the old ones. Without memory the request is left to the backend. */
		struct dreq *fresh = new_dreq(d, t, NULL);
		void *spare = fresh ? malloc(d->buf_size) : NULL;
		int st = R_OUT;
		if (!spare || !atomic_compare_exchange_strong(&dr->state, &st, R_ABANDONED)) {
			free(spare);
			free(fresh);
			continue;
		}
		fresh->req.buf = fresh->spare = spare;
		d->tags[t] = fresh;
		dr->next = d->abandoned;
		d->abandoned = dr;
		set_inflight(d, -1);
		stat_add(d, ST_ABANDONED, 1);
		commit_read(d, t, err, spare, 0, &dr->req, dr->t0);
		n++;
	}
	return n;
}

int blz_ublk_disp_wake_fd(const struct blz_ublk_disp *d)
{
	return d->efd;
}

void blz_ublk_disp_wake(struct blz_ublk_disp *d)
{
	if (d->efd < 0)
		return;
	uint64_t one = 1;
	/* EAGAIN: the counter is at its maximum, the owner is woken anyway */
	while (write(d->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

unsigned blz_ublk_disp_inflight(const struct blz_ublk_disp *d)
{
	return atomic_load_explicit(&d->inflight, memory_order_relaxed);
}

unsigned blz_ublk_disp_held(const struct blz_ublk_disp *d)
{
	unsigned n = blz_ublk_disp_inflight(d);
	for (const struct dreq *dr = d->abandoned; dr; dr = dr->next)
		n += atomic_load(&((struct dreq *)dr)->state) != R_RETURNED;
	return n;
}

void blz_ublk_disp_stats(const struct blz_ublk_disp *d, struct blz_ublk_qstats *ret)
{
	struct blz_ublk_disp *m = (struct blz_ublk_disp *)d;
#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
	ret->reads = LOAD(m->stats[ST_READS]);
	ret->read_bytes = LOAD(m->stats[ST_READ_BYTES]);
	ret->writes = LOAD(m->stats[ST_WRITES]);
	ret->discards = LOAD(m->stats[ST_DISCARDS]);
	ret->flushes = LOAD(m->stats[ST_FLUSHES]);
	ret->others = LOAD(m->stats[ST_OTHERS]);
	ret->errors = LOAD(m->stats[ST_ERRORS]);
	ret->async = LOAD(m->stats[ST_ASYNC]);
	ret->abandoned = LOAD(m->stats[ST_ABANDONED]);
	ret->inflight = LOAD(m->inflight);
	ret->late = LOAD(m->late);
	ret->duplicates = LOAD(m->dups);
#undef LOAD
}
