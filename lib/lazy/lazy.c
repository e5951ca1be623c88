#include "lazy/lazy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btrfs/inspect.h"
#include "fetch/fetch.h"
#include "lazy/fetches.h"
#include "map/map.h"
#include "seedset/seedset.h"
#include "store/cache.h"
#include "store/store.h"
#include "util/fileio.h"
#include "util/sha256.h"
#include "util/strbuf.h"

#define DEFAULT_CACHE (256u << 20)
#define SEGS 16
/* Map records whose fetches are counted: 64 bytes each once read; the directory costs 512 KiB.
 * (The map itself needs 72 bytes per record: 67 million records are ~5 GB of index.) */
#define FETCH_RECORDS (1ull << 26)

struct blz_lazy {
	struct blz_backend backend; /* first: the backend view */
	struct blz_seedset *set;    /* owns the image fd, the map and the store below */
	int image_fd;
	uint64_t image_size, local_end;
	uint64_t virt_off, virt_size, imp_off, imp_size;
	uint8_t fsid[16];
	struct blz_map *map;
	struct blz_store *store;
	struct blz_chunk_cache *cache;
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
	uint64_t dropped;
	_Atomic uint64_t reads, read_bytes, local_bytes, lazy_bytes, zero_bytes, unmapped, errors,
		store_reads, store_bytes, cache_hits, bad_chunks;
	/* Fetch accounting: per map record (by seq) and per 1 MiB of the local region. */
	struct blz_fetch_table *rec_fetches, *local_fetches;
	struct blz_fetcher *fetcher; /* NULL: the store alone, inline */
	uint64_t prefetch_files, prefetch_missing, prefetch_chunks; /* --prefetch, at open */
	unsigned ahead;              /* neighbours fetched with a remote miss (fetch.h) */
};

/* An asynchronous request (lazy_submit): done when pending drops to 0. Bytes before fail_at
 * are good; fail_at == len: all are. */
struct lazy_op {
	struct blz_lazy *l;
	struct blz_backend_req *req;
	_Atomic uint32_t pending;
	_Atomic uint32_t fail_at;
	_Atomic bool unmapped, canceled;
};

/* One chunk an asynchronous request waits for. */
struct lazy_piece {
	struct blz_fetch_req fr;
	struct lazy_op *op;
	struct blz_map_rec rec;
	uint32_t buf_off, rec_off, copy;
};

static __thread uint8_t *chunk_buf; /* one chunk-sized buffer per queue thread */

#define logf_(l, ...) blz_log_callf((l)->log, (l)->log_ctx, __VA_ARGS__)

/* A chunk loaded from a store: counted and kept in the memory cache. */
static void chunk_loaded(struct blz_lazy *l, const struct blz_map_rec *rec, const uint8_t *bytes)
{
	l->store_reads++;
	l->store_bytes += rec->data_len;
	blz_fetch_count_store(l->rec_fetches, rec->seq, rec->area, rec->off, rec->len);
	blz_cache_put(l->cache, rec->digest, bytes, rec->data_len);
}

/* The bytes of one chunk, verified: from the store, or through the fetch engine's inline
 * path. -EAGAIN: only a remote store can answer (and may_wait is false). */
static int get_chunk(struct blz_lazy *l, const struct blz_map_rec *rec, bool may_wait,
		     uint8_t **ret)
{
	if (!chunk_buf)
		chunk_buf = blz_xmalloc(BLZ_STORE_MAX_CHUNK);
	if (rec->data_len > BLZ_STORE_MAX_CHUNK)
		return -EIO;
	if (l->fetcher) {
		int r = blz_fetch_get_local(l->fetcher, rec->digest, chunk_buf, rec->data_len);
		if (r == -EAGAIN && !may_wait)
			return r;
		if (r == -EAGAIN)
			r = blz_fetch_get(l->fetcher, rec->digest, chunk_buf, rec->data_len,
					  BLZ_FETCH_DEMAND);
		if (r < 0) { /* the engine logged it */
			l->bad_chunks++;
			return -EIO;
		}
	} else {
		int r = blz_store_get(l->store, rec->digest, chunk_buf, rec->data_len);
		if (r < 0) {
			char path[4096], hex[65];
			blz_hex(rec->digest, 32, hex);
			if (blz_store_path(l->store, rec->digest, path, sizeof(path)) < 0)
				snprintf(path, sizeof(path), "%s", hex);
			l->bad_chunks++;
			logf_(l, "chunk %s for device range [%llu, +%u) %s: %s", path,
			      (unsigned long long)rec->off, rec->len,
			      r == -ENOENT ? "is missing" : r == -EBADMSG ? "is corrupt" : "cannot be read",
			      r == -EBADMSG ? blz_store_error() : strerror(-r));
			return -EIO;
		}
	}
	chunk_loaded(l, rec, chunk_buf);
	*ret = chunk_buf;
	return 0;
}

static void op_fail(struct lazy_op *op, uint32_t at)
{
	uint32_t cur = atomic_load(&op->fail_at);
	while (at < cur && !atomic_compare_exchange_weak(&op->fail_at, &cur, at))
		;
}

static void op_put(struct lazy_op *op)
{
	if (atomic_fetch_sub(&op->pending, 1) != 1)
		return;
	struct blz_lazy *l = op->l;
	struct blz_backend_req *req = op->req;
	uint32_t fa = atomic_load(&op->fail_at);
	int res = fa >= req->len ? 0 : fa > 0 ? (int)fa : atomic_load(&op->canceled) ? -ECANCELED : -EIO;
	if (res < 0) {
		if (atomic_load(&op->unmapped))
			l->unmapped++;
		l->errors++;
	}
	free(op);
	req->done(req, res);
}

static void piece_done(struct blz_fetch_req *fr, int result, const uint8_t *bytes)
{
	struct lazy_piece *p = (struct lazy_piece *)fr;
	struct lazy_op *op = p->op;
	struct blz_lazy *l = op->l;
	if (result == 0) {
		memcpy((uint8_t *)op->req->buf + p->buf_off, bytes + p->rec_off, p->copy);
		chunk_loaded(l, &p->rec, bytes);
	} else {
		blz_backend_note(op->req, 0, BLZ_OUT_ERROR);
		if (result == -ECANCELED)
			op->canceled = true;
		else
			l->bad_chunks++;
		op_fail(op, p->buf_off);
		char hex[65];
		blz_hex(p->rec.digest, 32, hex);
		logf_(l, "chunk %s for device range [%llu, +%u) %s", hex,
		      (unsigned long long)p->rec.off, p->rec.len,
		      result == -ECANCELED ? "was not fetched: the server is stopping"
					   : "cannot be fetched from any store");
	}
	free(p);
	op_put(op);
}

/* Hands the copy of a chunk's bytes into buf to the fetch engine (op's request). */
static void fetch_piece(struct lazy_op *op, const struct blz_map_seg *s, uint8_t *buf,
			uint64_t copy)
{
	struct lazy_piece *p = blz_xcalloc(1, sizeof(*p));
	p->op = op;
	p->rec = s->rec;
	p->buf_off = (uint32_t)(buf - (uint8_t *)op->req->buf);
	p->rec_off = (uint32_t)s->rec_off;
	p->copy = (uint32_t)copy;
	memcpy(p->fr.digest, s->rec.digest, BLZ_STORE_DIGEST_LEN);
	p->fr.len = s->rec.data_len;
	p->fr.prio = BLZ_FETCH_DEMAND;
	p->fr.done = piece_done;
	atomic_fetch_add(&op->pending, 1);
	blz_fetch_submit(op->l->fetcher, &p->fr);
}

/* An ahead fetch ended: its verified bytes go to the memory cache (the engine put them in
 * the persistent one), so that the read that wants them is a cache hit. */
static void ahead_done(struct blz_fetch_req *fr, int result, const uint8_t *bytes)
{
	struct blz_lazy *l = fr->priv;
	if (result == 0)
		blz_cache_put(l->cache, fr->digest, bytes, fr->len);
	free(fr);
}

/* With a chunk a read had to fetch from a remote store: asks the engine for the next
 * l->ahead chunks of the map in device order within [rec end, area_end) that the memory
 * cache does not hold (BLZ_FETCH_AHEAD: after every demand fetch; the engine joins a chunk
 * already on its way). A file's runs and the files of one directory lie next to each other
 * in the import area, so these are what a reader is likely to want next. */
static void fetch_ahead(struct blz_lazy *l, const struct blz_map_rec *rec, uint64_t area_end)
{
	uint64_t off = rec->off + rec->len;
	unsigned left = l->ahead;
	while (left && off < area_end) {
		struct blz_map_seg segs[SEGS];
		size_t n = 0;
		if (blz_map_lookup(l->map, off, area_end - off, segs, SEGS, &n) < 0 || n == 0)
			return;
		for (size_t i = 0; i < n && left; i++) {
			const struct blz_map_seg *s = &segs[i];
			off = s->off + s->len;
			if (!s->mapped)
				continue;
			left--;
			uint8_t probe;
			if (!s->rec.data_len || s->rec.data_len > BLZ_STORE_MAX_CHUNK ||
			    blz_cache_read(l->cache, s->rec.digest, s->rec.data_len, 0, &probe, 1) == 1)
				continue;
			struct blz_fetch_req *fr = blz_xcalloc(1, sizeof(*fr));
			memcpy(fr->digest, s->rec.digest, BLZ_STORE_DIGEST_LEN);
			fr->len = s->rec.data_len;
			fr->prio = BLZ_FETCH_AHEAD;
			fr->done = ahead_done;
			fr->priv = l;
			blz_fetch_submit(l->fetcher, fr);
		}
	}
}

/* Reads [off, off + len) of a lazy area, adding the bytes filled to *done as it goes, so a
 * failure leaves the readable prefix counted. -ENODATA: an unmapped byte; -EIO: a chunk
 * that cannot be read or verified. With op (an asynchronous request), a chunk only a remote
 * store has is handed to the fetch engine and its bytes counted as done (op settles them). */
static int read_lazy(struct blz_lazy *l, uint8_t *buf, uint64_t len, uint64_t off, uint64_t *done,
		     struct lazy_op *op, uint64_t area_end)
{
	bool refreshed = false;
	while (len) {
		struct blz_map_seg segs[SEGS];
		size_t n = 0;
		int r = blz_map_lookup(l->map, off, len, segs, SEGS, &n);
		if (r < 0)
			return r;
		if (n == 0)
			return -EIO;
		for (size_t i = 0; i < n; i++) {
			const struct blz_map_seg *s = &segs[i];
			if (!s->mapped) {
				/* Another process may have just mapped it: look once more. */
				if (!refreshed) {
					refreshed = true;
					if (blz_map_refresh(l->map) == 0)
						goto again;
				}
				blz_backend_note(NULL, 0, BLZ_OUT_UNMAPPED);
				return -ENODATA;
			}
			/* Bytes past the chunk's data (up to the 4 KiB-rounded record) are zeros. */
			uint64_t have = s->rec_off < s->rec.data_len ? s->rec.data_len - s->rec_off : 0;
			uint64_t copy = s->len < have ? s->len : have;
			/* The hot path: only the requested bytes of a cached chunk are copied. */
			if (copy && blz_cache_read(l->cache, s->rec.digest, s->rec.data_len, s->rec_off,
						   buf, copy) == 1) {
				l->cache_hits++;
				blz_backend_note(NULL, 0, BLZ_OUT_CACHE);
			} else if (copy) {
				uint8_t *chunk;
				r = get_chunk(l, &s->rec, !op, &chunk);
				if (r == -EAGAIN) {
					blz_backend_note(NULL, 0, BLZ_OUT_FETCH);
					fetch_piece(op, s, buf, copy);
					if (l->ahead)
						fetch_ahead(l, &s->rec, area_end);
				} else {
					blz_backend_note(NULL, 0, r < 0 ? BLZ_OUT_ERROR : BLZ_OUT_FETCH);
					if (r < 0)
						return r;
					memcpy(buf, chunk + s->rec_off, copy);
				}
			} else {
				blz_backend_note(NULL, 0, BLZ_OUT_ZERO);
			}
			memset(buf + copy, 0, s->len - copy);
			l->lazy_bytes += s->len;
			blz_fetch_count(l->rec_fetches, s->rec.seq, s->rec.area, s->rec.off, s->rec.len,
					s->rec_off, (uint32_t)s->len);
			buf += s->len;
			off += s->len;
			len -= s->len;
			*done += s->len;
		}
again:;
	}
	return 0;
}

/* Counts a read of [off, off + n) of the local region, per 1 MiB region. */
static void count_local(struct blz_lazy *l, uint64_t off, uint64_t n)
{
	while (n) {
		uint64_t idx = off / BLZ_FETCH_REGION, start = idx * BLZ_FETCH_REGION;
		uint64_t rlen = l->local_end - start < BLZ_FETCH_REGION ? l->local_end - start
									: BLZ_FETCH_REGION;
		uint64_t k = start + rlen - off < n ? start + rlen - off : n;
		blz_fetch_count(l->local_fetches, idx, BLZ_FETCH_LOCAL, start, (uint32_t)rlen,
				(uint32_t)(off - start), (uint32_t)k);
		off += k;
		n -= k;
	}
}

/* Fills [off, off + len) into buf, adding the bytes filled to *done (see read_lazy). */
static int walk(struct blz_lazy *l, uint8_t *buf, uint64_t len, uint64_t off, uint64_t *done,
		struct lazy_op *op)
{
	int r = 0;
	l->reads++;
	l->read_bytes += len;
	while (len && r == 0) {
		uint64_t n;
		if (off < l->local_end) {
			n = l->local_end - off < len ? l->local_end - off : len;
			/* The image may end before the local region does: zeros after it. */
			uint64_t in_file = off < l->image_size ? l->image_size - off : 0;
			uint64_t rd = n < in_file ? n : in_file;
			if (rd)
				r = blz_pread_full(l->image_fd, buf, rd, off);
			memset(buf + rd, 0, n - rd);
			l->local_bytes += n;
			blz_backend_note(NULL, BLZ_AREA_LOCAL, r < 0 ? BLZ_OUT_ERROR : BLZ_OUT_IMAGE);
			if (r == 0) {
				count_local(l, off, n);
				*done += n;
			}
		} else if (l->virt_size && off >= l->virt_off && off - l->virt_off < l->virt_size) {
			n = l->virt_off + l->virt_size - off < len ? l->virt_off + l->virt_size - off : len;
			blz_backend_note(NULL, BLZ_AREA_VIRTUAL, BLZ_OUT_OK);
			r = read_lazy(l, buf, n, off, done, op, l->virt_off + l->virt_size);
		} else if (l->imp_size && off >= l->imp_off && off - l->imp_off < l->imp_size) {
			n = l->imp_off + l->imp_size - off < len ? l->imp_off + l->imp_size - off : len;
			blz_backend_note(NULL, BLZ_AREA_IMPORT, BLZ_OUT_OK);
			r = read_lazy(l, buf, n, off, done, op, l->imp_off + l->imp_size);
		} else {
			/* A gap: zeros up to the next region. */
			uint64_t next = UINT64_MAX;
			if (l->imp_size && l->imp_off > off)
				next = l->imp_off;
			if (l->virt_size && l->virt_off > off && l->virt_off < next)
				next = l->virt_off;
			n = next - off < len ? next - off : len;
			memset(buf, 0, n);
			blz_backend_note(NULL, BLZ_AREA_GAP, BLZ_OUT_ZERO);
			l->zero_bytes += n;
			*done += n;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return r;
}

/* A request whose first bytes are readable and later ones not returns the readable prefix
 * (the backend's short count) so the kernel retries only the rest; one that starts
 * unreadable fails with EIO. */
static int lazy_read(struct blz_backend *b, void *vbuf, uint32_t len32, uint64_t off)
{
	struct blz_lazy *l = (struct blz_lazy *)b;
	uint64_t done = 0;
	int r = walk(l, vbuf, len32, off, &done, NULL);
	if (r < 0 && done > 0)
		return (int)done;
	if (r < 0) {
		if (r == -ENODATA)
			l->unmapped++;
		l->errors++;
		return -EIO;
	}
	return 0;
}

/* Zero copy: a range wholly within the image's part of the local region is the image's
 * bytes at the same offset. Counted as a read here (the server reads it itself). */
static int lazy_file_range(struct blz_backend *b, uint64_t off, uint32_t len, int *ret_fd,
			   uint64_t *ret_file_off)
{
	struct blz_lazy *l = (struct blz_lazy *)b;
	uint64_t end = l->local_end < l->image_size ? l->local_end : l->image_size;
	if (len == 0 || off >= end || len > end - off)
		return -ENOENT;
	l->reads++;
	l->read_bytes += len;
	l->local_bytes += len;
	count_local(l, off, len);
	*ret_fd = l->image_fd;
	*ret_file_off = off;
	return 0;
}

/* The asynchronous read (with a remote store): what is local completes inline, misses go to
 * the fetch engine; the same prefix rule as lazy_read once every piece is settled. */
static void lazy_submit(struct blz_backend *b, struct blz_backend_req *req)
{
	struct blz_lazy *l = (struct blz_lazy *)b;
	struct lazy_op *op = blz_xcalloc(1, sizeof(*op));
	op->l = l;
	op->req = req;
	atomic_init(&op->pending, 1);
	atomic_init(&op->fail_at, req->len);
	uint64_t done = 0;
	/* What the walk meets is noted on req (blz_backend_note), as for a synchronous read. */
	struct blz_backend_req *outer = blz_backend_current;
	blz_backend_current = req;
	int r = walk(l, req->buf, req->len, req->off, &done, op);
	blz_backend_current = outer;
	if (r < 0) {
		if (r == -ENODATA && done == 0)
			op->unmapped = true;
		op_fail(op, (uint32_t)done);
	}
	op_put(op);
}

static void lazy_close(struct blz_backend *b)
{
	struct blz_lazy *l = (struct blz_lazy *)b;
	blz_fetch_close(l->fetcher); /* first: it completes what is outstanding */
	blz_seedset_close(l->set);
	if (l->cache)
		blz_cache_free(l->cache);
	blz_fetch_table_free(l->rec_fetches);
	blz_fetch_table_free(l->local_fetches);
	free(l);
}

static const struct blz_backend_ops lazy_ops = {
	.name = "seed",
	.read = lazy_read,
	.file_range = lazy_file_range,
	.close = lazy_close,
};

static const struct blz_backend_ops lazy_async_ops = {
	.name = "seed",
	.read = lazy_read,
	.submit = lazy_submit,
	.file_range = lazy_file_range,
	.close = lazy_close,
};

static bool spec_is_remote(const char *spec)
{
	return strncmp(spec, "http://", 7) == 0 || strncmp(spec, "https://", 8) == 0 ||
	       strncmp(spec, "exec:", 5) == 0;
}

/* The engine over o->fetch's stores and the seed set's store (where `blazy map` puts new
 * chunks), with the default persistent cache for remote stores. */
static int open_fetcher(struct blz_lazy *l, const struct blz_lazy_opts *o, char *err,
			size_t errlen)
{
	struct blz_fetch_opts fo = *o->fetch;
	const char *specs[BLZ_FETCH_MAX_STORES];
	const char *own = blz_seedset_store_path(l->set);
	bool have_own = false, remote = false;
	size_t n = 0;
	for (size_t i = 0; i < fo.n_stores && n < BLZ_FETCH_MAX_STORES; i++) {
		specs[n++] = fo.stores[i];
		have_own |= strcmp(fo.stores[i], own) == 0;
		remote |= spec_is_remote(fo.stores[i]);
	}
	if (!have_own) {
		if (n == BLZ_FETCH_MAX_STORES)
			return blz_errf(err, errlen, -EINVAL, "at most %d stores", BLZ_FETCH_MAX_STORES - 1);
		specs[n++] = own;
	}
	fo.stores = specs;
	fo.n_stores = n;
	fo.log = l->log;
	fo.log_ctx = l->log_ctx;
	char cache_dir[BLZ_LAZY_CACHE_DIR_LEN];
	if (!fo.cache_dir && remote) {
		blz_lazy_default_cache_dir(l->fsid, cache_dir);
		fo.cache_dir = cache_dir;
	}
	return blz_fetch_open(&fo, &l->fetcher, err, errlen);
}

static void prefetch_done(struct blz_fetch_req *req, int result, const uint8_t *bytes)
{
	free(req);
}

/* Queues the chunks behind [off, off + len) of the lazy areas for background fetching (the
 * engine dedups and rate-limits them; demand reads go first). Returns the chunks queued. */
static uint64_t prefetch_range(struct blz_lazy *l, uint64_t off, uint64_t len)
{
	uint64_t queued = 0;
	while (len) {
		struct blz_map_seg segs[SEGS];
		size_t n = 0;
		if (blz_map_lookup(l->map, off, len, segs, SEGS, &n) < 0 || n == 0)
			break;
		for (size_t k = 0; k < n; k++) {
			if (segs[k].mapped) {
				struct blz_fetch_req *req = blz_xcalloc(1, sizeof(*req));
				memcpy(req->digest, segs[k].rec.digest, BLZ_STORE_DIGEST_LEN);
				req->len = segs[k].rec.data_len;
				req->prio = BLZ_FETCH_PREFETCH;
				req->done = prefetch_done;
				blz_fetch_submit(l->fetcher, req);
				queued++;
			}
			off += segs[k].len;
			len -= segs[k].len;
		}
	}
	return queued;
}

/* The old list format: a "fetches" reply (lazy/fetches.h), its lazy ranges. */
static int prefetch_fetches(struct blz_lazy *l, char *text, const char *path, char *err,
			    size_t errlen)
{
	struct blz_fetch_list list = { 0 };
	char why[256];
	int r = blz_fetch_parse(text, &list, why, sizeof(why));
	if (r < 0)
		return blz_errf(err, errlen, r, "bad prefetch list '%s': %s", path, why);
	for (size_t i = 0; i < list.ranges.len; i++) {
		const struct blz_fetch_range *rg = &list.ranges.v[i];
		if (rg->area != BLZ_FETCH_LOCAL)
			l->prefetch_chunks += prefetch_range(l, rg->off, rg->len);
	}
	blz_fetch_list_release(&list);
	return 0;
}

/* A list of file names (one a line, what `blazy status --trace` writes): their extents in
 * the seed image, the lazy ones queued; a name that is no file of the seed is a log line. */
static int prefetch_names(struct blz_lazy *l, char *text, size_t tlen, const char *path,
			  char *err, size_t errlen)
{
	char **names = NULL;
	size_t n = blz_split_lines(text, tlen, &names);
	struct blz_seed_range *g = NULL;
	size_t ng = 0;
	char why[256];
	int r = blz_seed_file_ranges(l->image_fd, (const char *const *)names, n, &g, &ng, why,
				     sizeof(why));
	if (r < 0) {
		free(names);
		return blz_errf(err, errlen, r, "prefetch list '%s': cannot read the seed's files: %s",
				path, why);
	}
	l->prefetch_files = n;
	for (size_t i = 0; i < ng; i++) {
		if (g[i].missing) {
			l->prefetch_missing++;
			blz_log_callf(l->log, l->log_ctx, "prefetch: '%s' (in '%s') is not a file of the seed",
				      names[g[i].path], path);
		} else if (g[i].dev_off + g[i].len > l->local_end) {
			l->prefetch_chunks += prefetch_range(l, g[i].dev_off, g[i].len);
		}
	}
	free(g);
	free(names);
	return 0;
}

/* --prefetch: a list of file names, or (the older format, told by its first line) a
 * "fetches" reply. Nothing to do when every chunk is local. */
static int start_prefetch(struct blz_lazy *l, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t tlen;
	int r = blz_read_text_file(path, 64u << 20, &text, &tlen);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot read prefetch list '%s': %s", path, strerror(-r));
	if (!blz_fetch_has_remote(l->fetcher))
		r = 0; /* every chunk is local: nothing to warm */
	else if (strncmp(text, "blazy-fetches ", 14) == 0)
		r = prefetch_fetches(l, text, path, err, errlen);
	else
		r = prefetch_names(l, text, tlen, path, err, errlen);
	free(text);
	return r;
}

int blz_lazy_open(const struct blz_lazy_opts *o, struct blz_lazy **ret, char *err, size_t errlen)
{
	struct blz_lazy *l = blz_xcalloc(1, sizeof(*l));
	l->backend.ops = &lazy_ops;
	l->log = o->log;
	l->log_ctx = o->log_ctx;
	/* The store and the map are created if missing; the server only reads them. */
	struct blz_seedset_opts so = { .seed = o->seed, .map_path = o->map_path,
				       .store_dir = o->store_dir };
	int r = blz_seedset_open(&so, &l->set, err, errlen);
	if (r < 0) {
		lazy_close(&l->backend);
		return r;
	}
	const struct blz_seedset_layout *lay = blz_seedset_layout(l->set);
	memcpy(l->fsid, lay->fsid, 16);
	l->image_fd = blz_seedset_image_fd(l->set);
	l->image_size = lay->image_size;
	l->local_end = lay->local_end;
	l->virt_off = lay->virtual_off;
	l->virt_size = lay->virtual_size;
	l->imp_off = lay->import_off;
	l->imp_size = lay->import_size;
	l->backend.size = lay->device_size;
	l->map = blz_seedset_map(l->set);
	l->store = blz_seedset_store(l->set);
	l->dropped = blz_map_dropped_tail(l->map);
	l->cache = blz_cache_new(o->cache_bytes ? o->cache_bytes : DEFAULT_CACHE);
	l->rec_fetches = blz_fetch_table_new(FETCH_RECORDS);
	l->local_fetches = blz_fetch_table_new((l->local_end + BLZ_FETCH_REGION - 1) / BLZ_FETCH_REGION);
	if (o->fetch) {
		r = open_fetcher(l, o, err, errlen);
		if (r == 0 && o->prefetch_list)
			r = start_prefetch(l, o->prefetch_list, err, errlen);
		if (r < 0) {
			lazy_close(&l->backend);
			return r;
		}
		if (blz_fetch_has_remote(l->fetcher)) {
			l->backend.ops = &lazy_async_ops;
			l->ahead = o->fetch->ahead < BLZ_FETCH_AHEAD_MAX ? o->fetch->ahead
									: BLZ_FETCH_AHEAD_MAX;
		}
	}
	*ret = l;
	return 0;
}

struct blz_backend *blz_lazy_backend(struct blz_lazy *l)
{
	return &l->backend;
}

int blz_lazy_refresh(struct blz_lazy *l)
{
	return blz_map_refresh(l->map);
}

const uint8_t *blz_lazy_fsid(const struct blz_lazy *l)
{
	return l->fsid;
}

uint64_t blz_lazy_dropped_tail(const struct blz_lazy *l)
{
	return l->dropped;
}

void blz_lazy_get_stats(struct blz_lazy *l, struct blz_lazy_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->reads = l->reads;
	s->read_bytes = l->read_bytes;
	s->local_bytes = l->local_bytes;
	s->lazy_bytes = l->lazy_bytes;
	s->zero_bytes = l->zero_bytes;
	s->unmapped = l->unmapped;
	s->errors = l->errors;
	s->store_reads = l->store_reads;
	s->store_bytes = l->store_bytes;
	s->cache_hits = l->cache_hits;
	s->bad_chunks = l->bad_chunks;
	s->prefetch_files = l->prefetch_files;
	s->prefetch_missing = l->prefetch_missing;
	s->prefetch_chunks = l->prefetch_chunks;
	s->fetch_ranges = blz_fetch_table_used(l->rec_fetches) + blz_fetch_table_used(l->local_fetches);
	s->fetch_untracked = blz_fetch_table_untracked(l->rec_fetches) +
			     blz_fetch_table_untracked(l->local_fetches);
	struct blz_map_stats ms;
	blz_map_stats(l->map, &ms);
	for (int a = 1; a <= BLZ_MAP_AREA_MAX; a++) {
		s->map_records += ms.area[a].records;
		s->mapped_bytes += ms.area[a].mapped_bytes;
	}
}

int blz_lazy_get_fetch_stats(struct blz_lazy *l, struct blz_fetch_stats *ret)
{
	if (!l->fetcher)
		return -ENOENT;
	blz_fetch_get_stats(l->fetcher, ret);
	return 0;
}

void blz_lazy_format_fetches(struct blz_lazy *l, struct blz_buf *out)
{
	struct blz_fetch_entries e = { 0 };
	blz_fetch_table_collect(l->local_fetches, &e);
	blz_fetch_table_collect(l->rec_fetches, &e);
	blz_fetch_format_header(out, blz_fetch_table_untracked(l->rec_fetches) +
				     blz_fetch_table_untracked(l->local_fetches));
	blz_buf_reserve(out, e.len * 64);
	for (size_t i = 0; i < e.len; i++)
		blz_fetch_format_entry(out, &e.v[i]);
	vec_release(&e);
}

void blz_lazy_default_cache_dir(const uint8_t fsid[16], char out[BLZ_LAZY_CACHE_DIR_LEN])
{
	char hex[33];
	blz_hex(fsid, 16, hex);
	snprintf(out, BLZ_LAZY_CACHE_DIR_LEN, "%s/%s", BLZ_LAZY_CACHE_ROOT, hex);
}
