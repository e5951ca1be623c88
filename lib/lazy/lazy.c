#include "lazy/lazy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
};

static __thread uint8_t *chunk_buf; /* one chunk-sized buffer per queue thread */

static void logf_(struct blz_lazy *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct blz_lazy *l, const char *fmt, ...)
{
	if (!l->log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l->log(l->log_ctx, msg);
}

/* The bytes of one chunk, verified: from the cache or the store. */
static int get_chunk(struct blz_lazy *l, const struct blz_map_rec *rec, uint8_t **ret)
{
	if (!chunk_buf)
		chunk_buf = blz_xmalloc(BLZ_STORE_MAX_CHUNK);
	if (rec->data_len > BLZ_STORE_MAX_CHUNK)
		return -EIO;
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
	l->store_reads++;
	l->store_bytes += rec->data_len;
	blz_fetch_count_store(l->rec_fetches, rec->seq, rec->area, rec->off, rec->len);
	blz_cache_put(l->cache, rec->digest, chunk_buf, rec->data_len);
	*ret = chunk_buf;
	return 0;
}

/* Reads [off, off + len) of a lazy area, adding the bytes filled to *done as it goes, so a
 * failure leaves the readable prefix counted. -ENODATA: an unmapped byte; -EIO: a chunk
 * that cannot be read or verified. */
static int read_lazy(struct blz_lazy *l, uint8_t *buf, uint64_t len, uint64_t off, uint64_t *done)
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
				r = get_chunk(l, &s->rec, &chunk);
				blz_backend_note(NULL, 0, r < 0 ? BLZ_OUT_ERROR : BLZ_OUT_FETCH);
				if (r < 0)
					return r;
				memcpy(buf, chunk + s->rec_off, copy);
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

/* A request whose first bytes are readable and later ones not returns the readable prefix
 * (the backend's short count) so the kernel retries only the rest; one that starts
 * unreadable fails with EIO. */
static int lazy_read(struct blz_backend *b, void *vbuf, uint32_t len32, uint64_t off)
{
	struct blz_lazy *l = (struct blz_lazy *)b;
	uint8_t *buf = vbuf;
	uint64_t len = len32, done = 0;
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
				done += n;
			}
		} else if (l->virt_size && off >= l->virt_off && off - l->virt_off < l->virt_size) {
			n = l->virt_off + l->virt_size - off < len ? l->virt_off + l->virt_size - off : len;
			blz_backend_note(NULL, BLZ_AREA_VIRTUAL, BLZ_OUT_OK);
			r = read_lazy(l, buf, n, off, &done);
		} else if (l->imp_size && off >= l->imp_off && off - l->imp_off < l->imp_size) {
			n = l->imp_off + l->imp_size - off < len ? l->imp_off + l->imp_size - off : len;
			blz_backend_note(NULL, BLZ_AREA_IMPORT, BLZ_OUT_OK);
			r = read_lazy(l, buf, n, off, &done);
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
			done += n;
		}
		buf += n;
		off += n;
		len -= n;
	}
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

static void lazy_close(struct blz_backend *b)
{
	struct blz_lazy *l = (struct blz_lazy *)b;
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
	.close = lazy_close,
};

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
