/* The map: an append-only journal beside a seed image (default name SEED.map) that says, for the
 * lazy areas of the device the seed describes, which byte ranges are backed by which
 * content-store chunk. It is the single source of truth for every lazy byte.
 *
 * Invariants the module enforces, on append and again on every replay:
 *   - a mapped range maps to the same bytes forever (records are never rewritten or removed);
 *   - ranges never overlap (across both areas);
 *   - offsets are never reused: in each area, every record starts at or above the end of the
 *     highest record before it (the area's high-water mark), so records of one area appear in
 *     the journal in increasing offset order;
 *   - every record is checksummed (crc32c);
 *   - a record is durable (fdatasync) before blz_map_append() returns 0.
 *
 * ON-DISK FORMAT (all integers little-endian)
 *
 *   File = header (64 bytes) followed by records (80 bytes each), nothing else.
 *
 *   Header, BLZ_MAP_HDR_SIZE = 64 bytes:
 *     0   8  magic        "BLZMAP01"
 *     8   4  version      1
 *     12  4  hdr_size     64
 *     16  4  rec_size     80
 *     20  4  flags        0
 *     24 16  fsid         the seed's btrfs fsid: a journal is refused with any other seed
 *     40 20  reserved     0
 *     60  4  crc32c       of bytes [0, 60)
 *
 *   Record, BLZ_MAP_REC_SIZE = 80 bytes; record i (seq i) starts at byte 64 + 80 * i:
 *     0   4  magic        "BZMR"
 *     4   1  type         1 = map a range to a store chunk
 *     5   1  area         1 = import area, 2 = virtual area
 *     6   2  reserved     0
 *     8   8  seq          sequence number, consecutive from 0
 *     16  8  offset       device byte offset, a multiple of 4096
 *     24  4  length       bytes mapped, a multiple of 4096, > 0
 *     28  4  data_len     the chunk's exact byte length: length == data_len rounded up to
 *                         4096; bytes of the range beyond data_len read as zeros
 *     32  4  batch_pos    index of this record within its append batch (0 .. batch_n-1)
 *     36  4  batch_n      records in the batch (>= 1)
 *     40 32  digest       SHA-256 of the chunk's bytes (the store's name for it)
 *     72  4  reserved     0
 *     76  4  crc32c       of bytes [0, 76)
 *
 *   One blz_map_append() writes one batch with a single write and one fdatasync. A batch is
 *   all-or-nothing: replay accepts a batch only when all its records are present and valid.
 *
 * REPLAY (open, refresh) and the torn tail
 *   Records are read in order. A batch that is incomplete at the end of the file (the file ends
 *   mid-record, or mid-batch, or a record of the last batch has a bad magic/crc and nothing
 *   valid follows except records of that same batch) is the trace of a crash mid-append: it
 *   was never acknowledged, so it is dropped. A writable open (and every append) truncates it
 *   away; blz_map_dropped_tail() reports the bytes dropped so the caller can warn. (A bit flip in
 *   the very last, acknowledged batch cannot be told apart from this and is dropped too.)
 *   Anything else is corruption and fails with -EBADMSG and a message naming the record index
 *   and byte offset: a bad record followed by valid ones, a sequence gap, bad batch framing,
 *   overlapping ranges, a record below its area's high-water mark, a malformed record, a bad
 *   header or a header with another seed's fsid. The caller must refuse to start.
 *
 * CONCURRENCY
 *   Between processes: an append holds an exclusive flock(2) on the journal from re-reading the
 *   records others appended (refresh), through validation and the write, to the fdatasync;
 *   open and blz_map_refresh() hold a shared flock while reading, so they only ever see
 *   complete, durable batches. Lock waits are bounded (blz_map_set_lock_timeout, default 30 s)
 *   and fail with -ETIMEDOUT.
 *   Between threads of one process sharing a struct blz_map: blz_map_lookup(), blz_map_stats()
 *   and blz_map_dropped_tail() take a read lock (a writer-preferring pthread rwlock) and may run
 *   on any number of threads at once; blz_map_append*(), blz_map_alloc(), blz_map_refresh() and
 *   blz_map_set_area() serialise on a mutex and take the write lock only while they change the
 *   in-memory index, so lookups are never blocked by disk I/O. Lookups copy what they return.
 *   blz_map_error() is meaningful only in the thread whose call just failed, while no other
 *   thread mutates the map.
 *
 * CREATION: the header is written and synced under "<path>.tmp-<pid>-<n>" (mode 0644 less the
 * umask), linked into place (rename(RENAME_NOREPLACE) where hard links are unsupported), then the
 * directory is synced; a crash in between can leave that temporary file behind, never a
 * journal without a header. Two processes creating at once end up sharing one journal.
 *
 * MEMORY: the index holds 72 bytes per record (the record and its offset in a dense array for
 * the bisection), up to twice that while the arrays grow: ~72-144 MB per million records.
 *
 * ERRORS: functions return 0 or -errno and never print; detail for the latest failed call is in
 * blz_map_error() (or the err buffer of blz_map_open()).
 */
#ifndef BLZ_MAP_MAP_H
#define BLZ_MAP_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLZ_MAP_MAGIC "BLZMAP01"
#define BLZ_MAP_REC_MAGIC "BZMR"
#define BLZ_MAP_VERSION 1
#define BLZ_MAP_HDR_SIZE 64
#define BLZ_MAP_REC_SIZE 80
#define BLZ_MAP_REC_TYPE_MAP 1
#define BLZ_MAP_BLOCK 4096u
#define BLZ_MAP_DIGEST_SIZE 32
/* The longest range one record can map: the largest multiple of 4096 that fits in u32. */
#define BLZ_MAP_MAX_LEN (UINT32_MAX - BLZ_MAP_BLOCK + 1)

enum {
	BLZ_MAP_AREA_IMPORT = 1,
	BLZ_MAP_AREA_VIRTUAL = 2,
	BLZ_MAP_AREA_MAX = 2,
};

/* blz_map_open() flags */
#define BLZ_MAP_CREATE 0x1u   /* create the journal (header only) if it does not exist */
#define BLZ_MAP_READONLY 0x2u /* open read-only: no append, no truncation of a torn tail */

struct blz_map_rec {
	uint64_t seq;      /* assigned by append; ignored on input */
	uint64_t off;      /* device offset, multiple of 4096 */
	uint32_t len;      /* multiple of 4096, > 0 */
	uint32_t data_len; /* len == data_len rounded up to 4096 */
	uint8_t area;      /* BLZ_MAP_AREA_* */
	uint8_t digest[BLZ_MAP_DIGEST_SIZE];
};

/* One piece of a lookup: either mapped (a copy of the record and where in it the piece
 * starts) or an unmapped gap. */
struct blz_map_seg {
	uint64_t off;    /* device offset of the piece */
	uint64_t len;    /* bytes */
	bool mapped;
	uint32_t rec_off;       /* mapped: off - rec.off */
	struct blz_map_rec rec; /* mapped: the record (a copy: stays valid whatever happens next) */
};

struct blz_map_area_stats {
	uint64_t start, size;   /* configured bounds (0, 0 if not set) */
	uint64_t records;
	uint64_t mapped_bytes;  /* sum of len */
	uint64_t data_bytes;    /* sum of data_len */
	uint64_t first;         /* lowest mapped offset (0 if no records) */
	uint64_t end;           /* end of the highest record (0 if no records) */
	uint64_t next_free;     /* where the next allocation goes: max(start, end) */
};

struct blz_map_stats {
	uint64_t records;
	uint64_t journal_bytes;  /* header + records accepted so far */
	uint64_t dropped_tail;   /* = blz_map_dropped_tail() */
	struct blz_map_area_stats area[BLZ_MAP_AREA_MAX + 1]; /* indexed by area id; [0] unused */
};

struct blz_map;

/* ---- format (format.c) ---- */

/* Encoders fill the whole buffer, checksum included. */
void blz_map_hdr_encode(const uint8_t fsid[16], uint8_t out[BLZ_MAP_HDR_SIZE]);
/* 0; -EBADMSG: bad magic or checksum; -ENOTSUP: another version or layout. */
int blz_map_hdr_decode(const uint8_t in[BLZ_MAP_HDR_SIZE], uint8_t ret_fsid[16]);
void blz_map_rec_encode(const struct blz_map_rec *r, uint32_t batch_pos, uint32_t batch_n,
			uint8_t out[BLZ_MAP_REC_SIZE]);
/* 0; -EBADMSG: bad magic or checksum (torn or damaged); -ENOTSUP: a valid checksum over an
 * unknown type or non-zero reserved bytes. ret_* are set only on success. */
int blz_map_rec_decode(const uint8_t in[BLZ_MAP_REC_SIZE], struct blz_map_rec *ret,
		       uint32_t *ret_batch_pos, uint32_t *ret_batch_n);
/* Structural checks of one record on its own (area id, alignment, length vs data_len, no u64
 * overflow): 0 or -EINVAL with a reason in why. */
int blz_map_rec_check(const struct blz_map_rec *r, char *why, size_t whylen);

/* ---- the journal (journal.c) ---- */

/* Opens (and with BLZ_MAP_CREATE creates, atomically and durably) the journal at path and
 * replays it. fsid: the seed's fsid; required to create; if NULL an existing journal's fsid is
 * not checked (see blz_map_fsid()). -EBADMSG on corruption or another seed's journal, -ENOTSUP
 * on a newer format, -ENOENT without BLZ_MAP_CREATE, other -errno from the system. */
int blz_map_open(const char *path, const uint8_t fsid[16], unsigned flags, struct blz_map **ret,
		 char *err, size_t errlen);
void blz_map_close(struct blz_map *map); /* accepts NULL */

/* Bounds of an area: start and size multiples of 4096, start + size <= 2^64 - 1, not
 * overlapping the other area. Records already in the journal must lie inside (-EBADMSG: the
 * journal does not match the seed). Required before appending to or allocating in the area. */
int blz_map_set_area(struct blz_map *map, int area, uint64_t start, uint64_t size);

/* Reads records other processes appended since the last replay (under a shared flock). */
int blz_map_refresh(struct blz_map *map);

/*
 * Runs fn(map, ctx) holding the journal's exclusive flock, after a refresh: the index then
 * has every record any process appended, and no process appends one until fn returns. For
 * a decision that must not race appends (lib/lazywrite: removing store chunks no record
 * references). fn may call blz_map_lookup and blz_map_stats only (anything else that
 * takes the map's mutex deadlocks). fn's result, or -ETIMEDOUT (lock wait), -EBADMSG
 * (corruption found by the refresh), other -errno.
 */
int blz_map_locked(struct blz_map *map, int (*fn)(struct blz_map *map, void *ctx), void *ctx);

/* A check every append of this handle runs under the exclusive flock, after the refresh
 * and the validation, before it writes: a negative result aborts the append with that
 * error (nothing written). For records that rely on what another process may take away
 * under that lock (store chunks a blz_map_locked clean-up may remove). fn NULL: none. */
typedef int (*blz_map_append_check_fn)(void *ctx, const struct blz_map_rec *recs, size_t n);
void blz_map_set_append_check(struct blz_map *map, blz_map_append_check_fn fn, void *ctx);

/* Appends n records (n >= 1) as one batch: refresh, validate, write, fdatasync, then index.
 * All-or-nothing: on failure nothing is added in memory and a partial write is truncated away.
 * Records of one area must be in increasing offset order. The seq fields are ignored.
 * -EINVAL malformed record or unknown/unconfigured area, -ERANGE outside its area, -EEXIST
 * overlaps a mapped range or lies below the area's high-water mark, -EROFS read-only map,
 * -ETIMEDOUT lock wait, -EBADMSG corruption found by the refresh, -EIO after a failed fdatasync
 * (the map then refuses further appends: reopen it), other -errno from the system. */
int blz_map_append(struct blz_map *map, const struct blz_map_rec *recs, size_t n);

/* Like blz_map_append(), but places the records back to back at the area's next free offset
 * (decided under the exclusive lock, so it cannot race another writer): the area and off
 * fields of recs are overwritten. On success recs[i].off, .area and .seq are set; on failure
 * recs is untouched. -ENOSPC if they do not fit in the area. */
int blz_map_append_alloc(struct blz_map *map, int area, struct blz_map_rec *recs, size_t n);

/* The next free offset of an area for len bytes, after a refresh; writes nothing. Advisory
 * only: another writer may take it before an append; prefer blz_map_append_alloc().
 * -ENOSPC if len bytes do not fit, -EINVAL unknown/unconfigured area or len == 0. */
int blz_map_alloc(struct blz_map *map, int area, uint64_t len, uint64_t *ret_off);

/* The pieces covering [off, off + len), in order: mapped pieces and unmapped gaps (gaps are
 * maximal). At most max pieces are written; *ret_n is their count. They cover [off, off + c)
 * with c == len unless max was too small, in which case the caller continues from the end of
 * the last piece. O(log n + pieces). -EINVAL if off + len overflows or max == 0 (len > 0). */
int blz_map_lookup(struct blz_map *map, uint64_t off, uint64_t len, struct blz_map_seg *out,
		   size_t max, size_t *ret_n);

void blz_map_stats(struct blz_map *map, struct blz_map_stats *ret);
/* Bytes of torn tail found since open (by the open itself, and by later refreshes/appends when
 * another process crashed mid-append); each torn region counted once. */
uint64_t blz_map_dropped_tail(struct blz_map *map);
const uint8_t *blz_map_fsid(const struct blz_map *map);
const char *blz_map_path(const struct blz_map *map);
/* Message of the latest failed call (empty if none). */
const char *blz_map_error(const struct blz_map *map);
/* Bound on waits for the journal's flock, in milliseconds (default 30000). */
void blz_map_set_lock_timeout(struct blz_map *map, unsigned ms);

#endif
