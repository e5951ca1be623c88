/* The map journal: create, replay, refresh, append, and the locking around them.
 * Format and rules: map.h. */
#include "map/map.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "map/index.h"
#include "util/crash.h"
#include "util/fileio.h"
#include "util/strbuf.h"
#include "util/clock.h"

#define READ_CHUNK_RECS 8192 /* records per read while replaying (640 KiB) */
#define DEFAULT_LOCK_TIMEOUT_MS 30000

struct blz_map {
	int fd;
	char *path;
	bool readonly;
	bool broken;          /* an fdatasync failed: the file's state is unknown */
	uint8_t fsid[16];
	unsigned lock_timeout_ms;
	blz_map_append_check_fn check; /* run by appends under the exclusive lock; NULL none */
	void *check_ctx;

	pthread_mutex_t mu;   /* serialises everything that changes the map */
	pthread_rwlock_t rw;  /* lookups (read) vs index changes (write) */

	struct blz_map_index ix;
	struct {
		bool set;
		uint64_t start, size;
	} area[BLZ_MAP_AREA_MAX + 1];
	uint64_t valid_end;   /* header + records of complete, accepted batches */
	uint64_t dropped;     /* torn tail bytes reported so far */
	uint64_t torn_at;     /* the torn tail seen last and left in place (UINT64_MAX: none) */
	uint64_t torn_len;

	char err[512];
};

static const char *area_name(unsigned a)
{
	return a == BLZ_MAP_AREA_IMPORT ? "import" : a == BLZ_MAP_AREA_VIRTUAL ? "virtual" : "?";
}

static uint64_t rec_pos(uint64_t seq)
{
	return BLZ_MAP_HDR_SIZE + seq * BLZ_MAP_REC_SIZE;
}

__attribute__((format(printf, 3, 4)))
static int seterr(struct blz_map *m, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	return r;
}

static void fmt_uuid(const uint8_t u[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p = 0;
}

/* ---- locking ---- */

/* flock with a deadline: polls with a growing sleep (0.1 ms .. 10 ms). */
static int lock_file(struct blz_map *m, int op)
{
	uint64_t deadline = blz_now_ms() + m->lock_timeout_ms;
	long sleep_ns = 100000;
	for (;;) {
		if (flock(m->fd, op | LOCK_NB) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return seterr(m, -errno, "cannot lock the journal: %s", strerror(errno));
		if (blz_now_ms() >= deadline)
			return seterr(m, -ETIMEDOUT, "timed out after %u ms waiting for the journal's "
				      "lock (held by another process)", m->lock_timeout_ms);
		struct timespec ts = { 0, sleep_ns };
		nanosleep(&ts, NULL);
		if (sleep_ns < 10000000)
			sleep_ns *= 2;
	}
}

static void unlock_file(struct blz_map *m)
{
	flock(m->fd, LOCK_UN);
}

/* ---- validation shared by replay and append ---- */

/* Checks a batch against the record rules, the configured area bounds and the index.
 * -EINVAL / -ERANGE / -EEXIST with *bad and a reason. */
static int validate(struct blz_map *m, const struct blz_map_rec *recs, size_t n,
		    bool need_area, size_t *bad, char *why, size_t whylen)
{
	for (size_t i = 0; i < n; i++) {
		const struct blz_map_rec *r = &recs[i];
		*bad = i;
		int e = blz_map_rec_check(r, why, whylen);
		if (e < 0)
			return e;
		if (!m->area[r->area].set) {
			if (!need_area)
				continue;
			snprintf(why, whylen, "the %s area has no bounds (blz_map_set_area)",
				 area_name(r->area));
			return -EINVAL;
		}
		uint64_t s = m->area[r->area].start, sz = m->area[r->area].size;
		if (r->off < s || r->off - s > sz || r->len > sz - (r->off - s)) {
			snprintf(why, whylen, "[%" PRIu64 ", %" PRIu64 ") lies outside the %s area [%"
				 PRIu64 ", %" PRIu64 ")", r->off, r->off + r->len,
				 area_name(r->area), s, s + sz);
			return -ERANGE;
		}
	}
	return blz_map_index_check(&m->ix, recs, n, bad, why, whylen);
}

static void commit(struct blz_map *m, const struct blz_map_rec *recs, size_t n, uint64_t end)
{
	pthread_rwlock_wrlock(&m->rw);
	blz_map_index_insert(&m->ix, recs, n);
	m->valid_end = end;
	pthread_rwlock_unlock(&m->rw);
}

/* ---- replay ---- */

struct reader {
	uint8_t *buf;
	uint64_t at;  /* file offset of buf[0] */
	size_t len;   /* bytes in buf */
};

/* The record slot at pos (pos + REC_SIZE <= size). */
static int read_slot(struct blz_map *m, struct reader *rd, uint64_t pos, uint64_t size,
		     const uint8_t **ret)
{
	if (!rd->buf)
		rd->buf = blz_xmalloc((size_t)READ_CHUNK_RECS * BLZ_MAP_REC_SIZE);
	if (pos < rd->at || pos + BLZ_MAP_REC_SIZE > rd->at + rd->len) {
		uint64_t want = size - pos;
		if (want > (uint64_t)READ_CHUNK_RECS * BLZ_MAP_REC_SIZE)
			want = (uint64_t)READ_CHUNK_RECS * BLZ_MAP_REC_SIZE;
		int r = blz_pread_full(m->fd, rd->buf, (size_t)want, pos);
		if (r < 0) {
			rd->len = 0;
			return seterr(m, r, "cannot read the journal at byte %" PRIu64 ": %s", pos,
				      strerror(-r));
		}
		rd->at = pos;
		rd->len = (size_t)want;
	}
	*ret = rd->buf + (pos - rd->at);
	return 0;
}

/* A record slot at bad_pos has a bad magic or checksum. It is part of a torn tail if every
 * valid record after it belongs to the same (last, incomplete) batch: a crash mid-append can
 * leave any subset of that batch's sectors on disk. Otherwise it is corruption (-EBADMSG). */
static int classify_bad(struct blz_map *m, uint64_t bad_pos, uint64_t size, uint64_t batch_pos0,
			uint32_t cur_n)
{
	struct reader rd = { 0 };
	uint64_t seq0 = m->ix.len; /* the batch's first sequence number */
	uint64_t bad_seq = (bad_pos - BLZ_MAP_HDR_SIZE) / BLZ_MAP_REC_SIZE;
	int r = 0;

	for (uint64_t q = bad_pos + BLZ_MAP_REC_SIZE; size - q >= BLZ_MAP_REC_SIZE;
	     q += BLZ_MAP_REC_SIZE) {
		const uint8_t *p;
		struct blz_map_rec rec;
		uint32_t bp, bn;
		r = read_slot(m, &rd, q, size, &p);
		if (r < 0)
			break;
		int d = blz_map_rec_decode(p, &rec, &bp, &bn);
		if (d == -EBADMSG)
			continue;
		uint64_t want_seq = seq0 + (q - batch_pos0) / BLZ_MAP_REC_SIZE;
		if (d == 0 && rec.seq == want_seq && rec.seq - bp == seq0 && bn >= 1 &&
		    (!cur_n || bn == cur_n) && batch_pos0 + (uint64_t)bn * BLZ_MAP_REC_SIZE >= size)
			continue; /* a surviving record of the torn batch */
		r = seterr(m, -EBADMSG, "record %" PRIu64 " at byte %" PRIu64 ": bad magic or "
			   "checksum, and a valid record follows at byte %" PRIu64, bad_seq, bad_pos,
			   q);
		break;
	}
	free(rd.buf);
	return r;
}

static void account_tail(struct blz_map *m, uint64_t at, uint64_t len, bool truncated)
{
	pthread_rwlock_wrlock(&m->rw);
	if (at == m->torn_at)
		m->dropped += len > m->torn_len ? len - m->torn_len : 0;
	else
		m->dropped += len;
	m->torn_at = truncated ? UINT64_MAX : at;
	m->torn_len = truncated ? 0 : len;
	pthread_rwlock_unlock(&m->rw);
}

/* Reads the records from m->valid_end to the end of the file and indexes every complete
 * batch. A torn tail is truncated away if truncate_tail (the caller then holds the exclusive
 * lock). Caller holds m->mu and a flock. */
static int scan(struct blz_map *m, bool truncate_tail)
{
	struct stat st;
	if (fstat(m->fd, &st) < 0)
		return seterr(m, -errno, "cannot stat the journal: %s", strerror(errno));
	uint64_t size = (uint64_t)st.st_size;
	if (size < m->valid_end)
		return seterr(m, -EBADMSG, "the journal shrank from %" PRIu64 " to %" PRIu64
			      " bytes", m->valid_end, size);

	struct reader rd = { 0 };
	VEC(struct blz_map_rec) staged = { 0 };
	uint64_t pos = m->valid_end, batch_pos0 = pos;
	uint32_t cur_n = 0;
	char why[256];
	int r = 0;

#define CORRUPT(seq, ...) do { \
		int n_ = snprintf(m->err, sizeof(m->err), "record %" PRIu64 " at byte %" PRIu64 \
				  ": ", (uint64_t)(seq), rec_pos(seq)); \
		snprintf(m->err + n_, sizeof(m->err) - (size_t)n_, __VA_ARGS__); \
		r = -EBADMSG; \
		goto out; \
	} while (0)

	while (size - pos >= BLZ_MAP_REC_SIZE) {
		const uint8_t *p;
		struct blz_map_rec rec;
		uint32_t bp, bn;
		uint64_t seq = m->ix.len + staged.len;

		r = read_slot(m, &rd, pos, size, &p);
		if (r < 0)
			goto out;
		int d = blz_map_rec_decode(p, &rec, &bp, &bn);
		if (d == -EBADMSG) {
			if (!staged.len)
				batch_pos0 = pos;
			r = classify_bad(m, pos, size, batch_pos0, staged.len ? cur_n : 0);
			if (r < 0)
				goto out;
			break; /* torn tail */
		}
		if (d < 0)
			CORRUPT(seq, "unknown record type %u or non-zero reserved bytes (written by "
				"a newer blazy?)", p[4]);
		if (rec.seq != seq)
			CORRUPT(seq, "sequence number %" PRIu64 ", expected %" PRIu64, rec.seq, seq);
		if (!staged.len) {
			if (bp != 0 || bn == 0)
				CORRUPT(seq, "bad batch framing (record %" PRIu32 " of %" PRIu32
					", expected the first of a batch)", bp, bn);
			cur_n = bn;
			batch_pos0 = pos;
		} else if (bn != cur_n || bp != staged.len) {
			CORRUPT(seq, "bad batch framing (record %" PRIu32 " of %" PRIu32 ", expected "
				"%zu of %" PRIu32 ")", bp, bn, staged.len, cur_n);
		}
		vec_push(&staged, rec);
		pos += BLZ_MAP_REC_SIZE;
		if (staged.len == cur_n) {
			size_t bad;
			if (validate(m, staged.v, staged.len, false, &bad, why, sizeof(why)) < 0)
				CORRUPT(m->ix.len + bad, "%s", why);
			commit(m, staged.v, staged.len, pos);
			staged.len = 0;
		}
	}

	uint64_t tail = size - m->valid_end;
	if (tail) {
		if (truncate_tail) {
			if (ftruncate(m->fd, (off_t)m->valid_end) < 0 || fdatasync(m->fd) < 0) {
				r = seterr(m, -errno, "cannot truncate the torn tail of the journal "
					   "(%" PRIu64 " bytes at byte %" PRIu64 "): %s", tail,
					   m->valid_end, strerror(errno));
				goto out;
			}
		}
		account_tail(m, m->valid_end, tail, truncate_tail);
	} else if (m->torn_at != UINT64_MAX) {
		account_tail(m, UINT64_MAX, 0, true);
	}
#undef CORRUPT
out:
	free(rd.buf);
	vec_release(&staged);
	return r;
}

/* ---- open, create, close ---- */

static int fsync_dir_of(const char *path)
{
	char *copy = blz_xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Creates the journal: the header is written and synced under a temporary name, then linked
 * into place, so a journal is never seen without its header. Returns 0 with m->fd set, 1 if
 * someone else created it first (open it normally), or -errno. */
static int create(struct blz_map *m, const uint8_t fsid[16])
{
	static unsigned counter;
	size_t plen = strlen(m->path) + 64;
	_cleanup_free_ char *tmp = blz_xmalloc(plen);
	int fd = -1;
	for (int tries = 0; fd < 0; tries++) {
		snprintf(tmp, plen, "%s.tmp-%ld-%u", m->path, (long)getpid(),
			 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 && (errno != EEXIST || tries > 100))
			return seterr(m, -errno, "cannot create '%s': %s", tmp, strerror(errno));
	}

	uint8_t hdr[BLZ_MAP_HDR_SIZE];
	blz_map_hdr_encode(fsid, hdr);
	int r = blz_pwrite_full(fd, hdr, sizeof(hdr), 0);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		seterr(m, r, "cannot write '%s': %s", tmp, strerror(-r));
		goto fail;
	}
	if (link(tmp, m->path) < 0) {
		r = -errno;
		if (r == -EEXIST) {
			unlink(tmp);
			close(fd);
			return 1;
		}
		/* Some filesystems have no hard links. */
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, m->path, RENAME_NOREPLACE) < 0) {
			if (errno == EEXIST) {
				unlink(tmp);
				close(fd);
				return 1;
			}
			seterr(m, r, "cannot create '%s': %s", m->path, strerror(-r));
			goto fail;
		}
	} else {
		unlink(tmp);
	}
	r = fsync_dir_of(m->path);
	if (r < 0) {
		seterr(m, r, "cannot sync the directory of '%s': %s", m->path, strerror(-r));
		close(fd);
		return r;
	}
	m->fd = fd;
	return 0;
fail:
	unlink(tmp);
	close(fd);
	return r;
}

static int read_header(struct blz_map *m, const uint8_t fsid[16])
{
	struct stat st;
	uint8_t hdr[BLZ_MAP_HDR_SIZE];
	if (fstat(m->fd, &st) < 0)
		return seterr(m, -errno, "cannot stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return seterr(m, -EINVAL, "not a regular file");
	if ((uint64_t)st.st_size < BLZ_MAP_HDR_SIZE)
		return seterr(m, -EBADMSG, "not a map journal: truncated header (%" PRIu64
			      " bytes)", (uint64_t)st.st_size);
	int r = blz_pread_full(m->fd, hdr, sizeof(hdr), 0);
	if (r < 0)
		return seterr(m, r, "cannot read the header: %s", strerror(-r));
	r = blz_map_hdr_decode(hdr, m->fsid);
	if (r == -EBADMSG)
		return seterr(m, r, memcmp(hdr, BLZ_MAP_MAGIC, 8) ? "not a map journal (bad magic)" :
			      "header checksum mismatch");
	if (r < 0)
		return seterr(m, r, "unsupported journal version or layout (written by a newer "
			      "blazy?)");
	if (fsid && memcmp(fsid, m->fsid, 16) != 0) {
		char a[37], b[37];
		fmt_uuid(m->fsid, a);
		fmt_uuid(fsid, b);
		return seterr(m, -EBADMSG, "the journal belongs to another seed (fsid %s, the seed's "
			      "is %s)", a, b);
	}
	return 0;
}

int blz_map_open(const char *path, const uint8_t fsid[16], unsigned flags, struct blz_map **ret,
		 char *err, size_t errlen)
{
	if ((flags & ~(BLZ_MAP_CREATE | BLZ_MAP_READONLY)) ||
	    ((flags & BLZ_MAP_CREATE) && (flags & BLZ_MAP_READONLY)) ||
	    ((flags & BLZ_MAP_CREATE) && !fsid)) {
		snprintf(err, errlen, "invalid arguments");
		return -EINVAL;
	}
	struct blz_map *m = blz_xcalloc(1, sizeof(*m));
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&m->rw, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&m->mu, NULL);
	m->fd = -1;
	m->path = blz_xstrdup(path);
	m->readonly = flags & BLZ_MAP_READONLY;
	m->lock_timeout_ms = DEFAULT_LOCK_TIMEOUT_MS;
	m->torn_at = UINT64_MAX;
	int r;

	for (;;) {
		m->fd = open(path, (m->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (m->fd >= 0)
			break;
		if (errno != ENOENT || !(flags & BLZ_MAP_CREATE)) {
			r = seterr(m, -errno, "cannot open: %s", strerror(errno));
			goto fail;
		}
		r = create(m, fsid);
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
	}

	r = lock_file(m, m->readonly ? LOCK_SH : LOCK_EX);
	if (r < 0)
		goto fail;
	r = read_header(m, fsid);
	if (r == 0) {
		m->valid_end = BLZ_MAP_HDR_SIZE;
		r = scan(m, !m->readonly);
	}
	unlock_file(m);
	if (r < 0)
		goto fail;
	m->err[0] = 0;
	*ret = m;
	return 0;
fail:
	snprintf(err, errlen, "%s", m->err);
	blz_map_close(m);
	return r;
}

void blz_map_close(struct blz_map *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	blz_map_index_release(&m->ix);
	pthread_rwlock_destroy(&m->rw);
	pthread_mutex_destroy(&m->mu);
	free(m->path);
	free(m);
}

/* ---- changes ---- */

int blz_map_set_area(struct blz_map *m, int area, uint64_t start, uint64_t size)
{
	int r = 0;
	pthread_mutex_lock(&m->mu);
	m->err[0] = 0;
	if (area < 1 || area > BLZ_MAP_AREA_MAX) {
		r = seterr(m, -EINVAL, "unknown area %d", area);
		goto out;
	}
	if (start % BLZ_MAP_BLOCK || size % BLZ_MAP_BLOCK || size > UINT64_MAX - start) {
		r = seterr(m, -EINVAL, "bad bounds for the %s area: start %" PRIu64 ", size %"
			   PRIu64, area_name(area), start, size);
		goto out;
	}
	uint64_t end = start + size;
	for (int o = 1; o <= BLZ_MAP_AREA_MAX; o++) {
		if (o == area)
			continue;
		if (m->area[o].set && start < m->area[o].start + m->area[o].size &&
		    m->area[o].start < end) {
			r = seterr(m, -EINVAL, "the %s area [%" PRIu64 ", %" PRIu64 ") overlaps the %s "
				   "area [%" PRIu64 ", %" PRIu64 ")", area_name(area), start, end,
				   area_name(o), m->area[o].start, m->area[o].start + m->area[o].size);
			goto out;
		}
		const struct blz_map_index_area *ia = &m->ix.area[o];
		if (ia->records && start < ia->end && ia->first < end) {
			r = seterr(m, -EBADMSG, "the journal does not match the seed: records of the %s "
				   "area span [%" PRIu64 ", %" PRIu64 "), inside the %s area [%" PRIu64
				   ", %" PRIu64 ")", area_name(o), ia->first, ia->end,
				   area_name(area), start, end);
			goto out;
		}
	}
	const struct blz_map_index_area *ia = &m->ix.area[area];
	if (ia->records && (ia->first < start || ia->end > end)) {
		r = seterr(m, -EBADMSG, "the journal does not match the seed: records of the %s area "
			   "span [%" PRIu64 ", %" PRIu64 "), outside the area [%" PRIu64 ", %" PRIu64
			   ")", area_name(area), ia->first, ia->end, start, end);
		goto out;
	}
	pthread_rwlock_wrlock(&m->rw);
	m->area[area].set = true;
	m->area[area].start = start;
	m->area[area].size = size;
	pthread_rwlock_unlock(&m->rw);
out:
	pthread_mutex_unlock(&m->mu);
	return r;
}

int blz_map_refresh(struct blz_map *m)
{
	pthread_mutex_lock(&m->mu);
	m->err[0] = 0;
	int r = lock_file(m, LOCK_SH);
	if (r == 0) {
		r = scan(m, false);
		unlock_file(m);
	}
	pthread_mutex_unlock(&m->mu);
	return r;
}

void blz_map_set_append_check(struct blz_map *m, blz_map_append_check_fn fn, void *ctx)
{
	pthread_mutex_lock(&m->mu);
	m->check = fn;
	m->check_ctx = ctx;
	pthread_mutex_unlock(&m->mu);
}

int blz_map_locked(struct blz_map *m, int (*fn)(struct blz_map *map, void *ctx), void *ctx)
{
	pthread_mutex_lock(&m->mu);
	m->err[0] = 0;
	int r = lock_file(m, LOCK_EX);
	if (r == 0) {
		r = scan(m, !m->readonly); /* only a writable handle truncates a torn tail */
		if (r == 0)
			r = fn(m, ctx);
		unlock_file(m);
	}
	pthread_mutex_unlock(&m->mu);
	return r;
}

static uint64_t next_free(const struct blz_map *m, int area)
{
	uint64_t s = m->area[area].start;
	const struct blz_map_index_area *ia = &m->ix.area[area];
	return ia->records && ia->end > s ? ia->end : s;
}

/* The body of an append; caller holds m->mu. alloc_area > 0: place the records at the area's
 * next free offset first. recs is the caller's copy and may be changed. */
static int append_locked(struct blz_map *m, struct blz_map_rec *recs, size_t n, int alloc_area)
{
	if (m->readonly)
		return seterr(m, -EROFS, "the map is open read-only");
	if (m->broken)
		return seterr(m, -EIO, "an earlier fdatasync of the journal failed; reopen it");
	int r = lock_file(m, LOCK_EX);
	if (r < 0)
		return r;
	r = scan(m, true);
	if (r < 0)
		goto out;

	if (alloc_area) {
		if (alloc_area < 1 || alloc_area > BLZ_MAP_AREA_MAX || !m->area[alloc_area].set) {
			r = seterr(m, -EINVAL, "area %d is unknown or has no bounds", alloc_area);
			goto out;
		}
		uint64_t off = next_free(m, alloc_area);
		uint64_t end = m->area[alloc_area].start + m->area[alloc_area].size;
		for (size_t i = 0; i < n; i++) {
			recs[i].area = (uint8_t)alloc_area;
			if (recs[i].len > end - off) {
				r = seterr(m, -ENOSPC, "the %s area is full: %" PRIu64 " bytes left, "
					   "record %zu needs %" PRIu32, area_name(alloc_area),
					   end - off, i, recs[i].len);
				goto out;
			}
			recs[i].off = off;
			off += recs[i].len; /* <= end: no overflow */
			if (off % BLZ_MAP_BLOCK)
				break; /* misaligned length: validate() reports it */
		}
	}

	size_t bad;
	char why[256];
	r = validate(m, recs, n, true, &bad, why, sizeof(why));
	if (r < 0) {
		seterr(m, r, "record %zu: %s", bad, why);
		goto out;
	}
	if (m->check && (r = m->check(m->check_ctx, recs, n)) < 0) {
		seterr(m, r, "the records' check failed: %s", strerror(-r));
		goto out;
	}

	uint64_t at = m->valid_end;
	size_t bytes = n * BLZ_MAP_REC_SIZE;
	uint8_t *buf = blz_xmalloc(bytes);
	for (size_t i = 0; i < n; i++) {
		recs[i].seq = m->ix.len + i;
		blz_map_rec_encode(&recs[i], (uint32_t)i, (uint32_t)n, buf + i * BLZ_MAP_REC_SIZE);
	}
	if (blz_crash_armed("map-torn")) { /* a crash mid-write: all records but the last */
		(void)blz_pwrite_full(m->fd, buf, n > 1 ? bytes - BLZ_MAP_REC_SIZE : bytes / 2, at);
		_exit(BLZ_CRASH_EXIT);
	}
	r = blz_pwrite_full(m->fd, buf, bytes, at);
	free(buf);
	if (r < 0) {
		seterr(m, r, "cannot write the journal: %s", strerror(-r));
		if (ftruncate(m->fd, (off_t)at) < 0)
			m->broken = true;
		goto out;
	}
	blz_crash_point("map-written"); /* written, not yet synced */
	if (fdatasync(m->fd) < 0) {
		r = -errno;
		seterr(m, r, "cannot sync the journal: %s; the map refuses further appends until "
		       "reopened", strerror(errno));
		/* Nothing was acknowledged; after a failed fdatasync the page cache cannot be
		 * trusted, so this handle stops appending. */
		if (ftruncate(m->fd, (off_t)at) == 0)
			(void)fdatasync(m->fd);
		m->broken = true;
		goto out;
	}
	blz_crash_point("map-synced"); /* durable, not yet acknowledged */
	commit(m, recs, n, at + bytes);
out:
	unlock_file(m);
	return r;
}

static bool bad_count(size_t n)
{
	return n == 0 || n > UINT32_MAX || n > SIZE_MAX / BLZ_MAP_REC_SIZE;
}

int blz_map_append(struct blz_map *m, const struct blz_map_rec *recs, size_t n)
{
	int r;
	struct blz_map_rec *copy = bad_count(n) ? NULL : blz_xmemdup(recs, n * sizeof(*recs));
	pthread_mutex_lock(&m->mu);
	m->err[0] = 0;
	if (!copy)
		r = seterr(m, -EINVAL, "bad record count %zu", n);
	else
		r = append_locked(m, copy, n, 0);
	pthread_mutex_unlock(&m->mu);
	free(copy);
	return r;
}

int blz_map_append_alloc(struct blz_map *m, int area, struct blz_map_rec *recs, size_t n)
{
	int r;
	struct blz_map_rec *copy = bad_count(n) ? NULL : blz_xmemdup(recs, n * sizeof(*recs));
	pthread_mutex_lock(&m->mu);
	m->err[0] = 0;
	if (!copy)
		r = seterr(m, -EINVAL, "bad record count %zu", n);
	else if (area < 1 || area > BLZ_MAP_AREA_MAX)
		r = seterr(m, -EINVAL, "unknown area %d", area);
	else
		r = append_locked(m, copy, n, area);
	pthread_mutex_unlock(&m->mu);
	if (r == 0)
		memcpy(recs, copy, n * sizeof(*recs));
	free(copy);
	return r;
}

int blz_map_alloc(struct blz_map *m, int area, uint64_t len, uint64_t *ret_off)
{
	int r;
	pthread_mutex_lock(&m->mu);
	m->err[0] = 0;
	if (area < 1 || area > BLZ_MAP_AREA_MAX || !m->area[area].set || len == 0) {
		r = seterr(m, -EINVAL, "area %d is unknown or has no bounds, or length 0", area);
		goto out;
	}
	r = lock_file(m, LOCK_SH);
	if (r < 0)
		goto out;
	r = scan(m, false);
	unlock_file(m);
	if (r < 0)
		goto out;
	uint64_t off = next_free(m, area);
	uint64_t end = m->area[area].start + m->area[area].size;
	if (len > end - off) {
		r = seterr(m, -ENOSPC, "the %s area is full: %" PRIu64 " bytes left, %" PRIu64
			   " wanted", area_name(area), end - off, len);
		goto out;
	}
	*ret_off = off;
out:
	pthread_mutex_unlock(&m->mu);
	return r;
}

/* ---- queries ---- */

int blz_map_lookup(struct blz_map *m, uint64_t off, uint64_t len, struct blz_map_seg *out,
		   size_t max, size_t *ret_n)
{
	if (len == 0) {
		*ret_n = 0;
		return 0;
	}
	if (len > UINT64_MAX - off || max == 0)
		return -EINVAL;
	pthread_rwlock_rdlock(&m->rw);
	*ret_n = blz_map_index_lookup(&m->ix, off, len, out, max);
	pthread_rwlock_unlock(&m->rw);
	return 0;
}

void blz_map_stats(struct blz_map *m, struct blz_map_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_rwlock_rdlock(&m->rw);
	ret->records = m->ix.len;
	ret->journal_bytes = m->valid_end;
	ret->dropped_tail = m->dropped;
	for (int a = 1; a <= BLZ_MAP_AREA_MAX; a++) {
		struct blz_map_area_stats *s = &ret->area[a];
		const struct blz_map_index_area *ia = &m->ix.area[a];
		if (m->area[a].set) {
			s->start = m->area[a].start;
			s->size = m->area[a].size;
		}
		s->records = ia->records;
		s->mapped_bytes = ia->mapped_bytes;
		s->data_bytes = ia->data_bytes;
		if (ia->records) {
			s->first = ia->first;
			s->end = ia->end;
		}
		s->next_free = next_free(m, a);
	}
	pthread_rwlock_unlock(&m->rw);
}

uint64_t blz_map_dropped_tail(struct blz_map *m)
{
	pthread_rwlock_rdlock(&m->rw);
	uint64_t d = m->dropped;
	pthread_rwlock_unlock(&m->rw);
	return d;
}

const uint8_t *blz_map_fsid(const struct blz_map *m)
{
	return m->fsid;
}

const char *blz_map_path(const struct blz_map *m)
{
	return m->path;
}

const char *blz_map_error(const struct blz_map *m)
{
	return m->err;
}

void blz_map_set_lock_timeout(struct blz_map *m, unsigned ms)
{
	pthread_mutex_lock(&m->mu);
	m->lock_timeout_ms = ms;
	pthread_mutex_unlock(&m->mu);
}
