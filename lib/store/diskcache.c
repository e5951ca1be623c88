/* The persistent chunk cache: a store directory with an in-memory LRU index (diskcache.h). */
#include "store/diskcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/le.h"
#include "util/list.h"
#include "util/strbuf.h"

#define TOUCH_EVERY_S 60	/* a hit refreshes the entry's mtime at most this often */

struct entry {
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
	uint64_t size;			/* the chunk file's bytes */
	int64_t touched_s;		/* its mtime (wall clock seconds) as last set or seen */
	struct entry *hnext;		/* hash chain */
	struct blz_list_node lru;	/* LRU list: head most recent, tail least */
};

struct blz_diskcache {
	struct blz_store *store;
	char *dir;
	pthread_mutex_t lock;		/* guards everything below */
	struct entry **bucket;
	size_t nbuckets;		/* a power of two */
	struct blz_list lru;
	uint64_t max_bytes;
	uint64_t bytes;			/* entries' bytes plus those reserved by puts in progress */
	struct blz_diskcache_stats st;	/* hits, misses, inserts, evictions; entries */
};

static int64_t wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* ---- the index (lock held) ---- */

static struct entry **slot(struct blz_diskcache *dc, const uint8_t *digest)
{
	struct entry **p = &dc->bucket[get_le64(digest) & (dc->nbuckets - 1)];
	while (*p && memcmp((*p)->digest, digest, BLZ_STORE_DIGEST_LEN))
		p = &(*p)->hnext;
	return p;
}

static void grow(struct blz_diskcache *dc)
{
	size_t n = dc->nbuckets * 2;
	struct entry **b = blz_xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < dc->nbuckets; i++)
		for (struct entry *e = dc->bucket[i], *next; e; e = next) {
			next = e->hnext;
			size_t k = get_le64(e->digest) & (n - 1);
			e->hnext = b[k];
			b[k] = e;
		}
	free(dc->bucket);
	dc->bucket = b;
	dc->nbuckets = n;
}

/* Adds an entry as the most recent one (its bytes are counted by the caller). */
static struct entry *index_add(struct blz_diskcache *dc, const uint8_t *digest, uint64_t size,
			       int64_t touched_s)
{
	if (dc->st.entries >= dc->nbuckets)
		grow(dc);
	struct entry *e = blz_xcalloc(1, sizeof(*e));
	memcpy(e->digest, digest, BLZ_STORE_DIGEST_LEN);
	e->size = size;
	e->touched_s = touched_s;
	struct entry **p = slot(dc, digest);
	e->hnext = *p;
	*p = e;
	blz_list_push_front(&dc->lru, &e->lru);
	dc->st.entries++;
	return e;
}

/* Forgets an entry (its file is the caller's business) and uncounts its bytes. */
static void index_drop(struct blz_diskcache *dc, struct entry *e)
{
	struct entry **p = slot(dc, e->digest);
	*p = e->hnext;
	blz_list_unlink(&dc->lru, &e->lru);
	dc->bytes -= e->size;
	dc->st.entries--;
	free(e);
}

/* Evicts least recently used entries until bytes <= target; returns how many. */
static uint64_t evict_to(struct blz_diskcache *dc, uint64_t target, uint64_t *ret_bytes)
{
	uint64_t n = 0, bytes = 0;
	while (dc->bytes > target && dc->lru.tail) {
		struct entry *e = blz_container_of(dc->lru.tail, struct entry, lru);
		blz_store_remove(dc->store, e->digest); /* gone already: another process's gc */
		bytes += e->size;
		index_drop(dc, e);
		n++;
	}
	dc->st.evictions += n;
	if (ret_bytes)
		*ret_bytes = bytes;
	return n;
}

/* ---- open: the scan ---- */

struct found {
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
	uint64_t size;
	struct timespec mtime;
};

typedef VEC(struct found) found_vec;

static int cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return memcmp(x->digest, y->digest, BLZ_STORE_DIGEST_LEN);
}

static bool is_hex_name(const char *s)
{
	if (strlen(s) != BLZ_SHA256_HEX_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* If the file looks whole (a valid header naming digest, and the length it announces: a
 * crash cannot leave less under the final name, but a copy or a disk can), the chunk's
 * uncompressed length; else -1. */
static int64_t whole_length(int dirfd, const char *name, const uint8_t *digest)
{
	uint8_t raw[BLZ_CHUNK_HEADER_LEN];
	struct blz_chunk_header h;
	struct stat st;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < BLZ_CHUNK_HEADER_LEN ||
	    blz_pread_full(fd, raw, sizeof(raw), 0) < 0)
		return -1;
	if (blz_chunk_decode_header(raw, &h) < 0 || memcmp(h.digest, digest, BLZ_STORE_DIGEST_LEN) ||
	    (uint64_t)st.st_size != BLZ_CHUNK_HEADER_LEN + (uint64_t)h.stored_length)
		return -1;
	return h.length;
}

/* Scans one subdirectory xx: removes temporary and broken files, collects the chunks. */
static int scan_subdir(int dirfd, unsigned xx, found_vec *out)
{
	char sub[3];
	snprintf(sub, sizeof(sub), "%02x", xx);
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	(void)blz_dir_set_nocow(fd); /* (made before, it inherited nothing: see the open) */
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		struct found f;
		if (!strncmp(de->d_name, ".tmp-", 5)) {
			unlinkat(fd, de->d_name, 0);
			continue;
		}
		if (!is_hex_name(de->d_name) ||
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		blz_unhex(de->d_name, f.digest, sizeof(f.digest));
		if (f.digest[0] != xx || whole_length(fd, de->d_name, f.digest) < 0) {
			unlinkat(fd, de->d_name, 0);
			continue;
		}
		f.size = (uint64_t)st.st_size;
		f.mtime = st.st_mtim;
		vec_push(out, f);
	}
	closedir(d);
	return 0;
}

int blz_diskcache_open(const char *dir, uint64_t max_bytes, struct blz_diskcache **ret)
{
	int r = blz_mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	/* Every get verifies its chunk's SHA-256, so the filesystem's own data checksums are
	 * redundant here: on btrfs the cache's files are written NOCOW, without them (crc32c of
	 * every byte fetched was a sixth of the VM's CPU in a cold remote read under TCG:
	 * bench/README.md, bench/remote-cache --perf). Best effort: elsewhere it is refused. */
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	(void)blz_dir_set_nocow(dirfd);
	struct blz_store *store;
	/* No fsync per entry: every get verifies, so a crash can cost an entry, never serve a
	 * wrong byte (cold sequential reads of a remote store spent their time in these syncs:
	 * bench/README.md, bench/remote-cache). */
	r = blz_store_open(dir, BLZ_STORE_NOSYNC, &store);
	if (r < 0) {
		close(dirfd);
		return r;
	}
	found_vec found = { 0 };
	for (unsigned xx = 0; xx < 256 && r == 0; xx++)
		r = scan_subdir(dirfd, xx, &found);
	close(dirfd);
	if (r < 0) {
		vec_release(&found);
		blz_store_close(store);
		return r;
	}

	struct blz_diskcache *dc = blz_xcalloc(1, sizeof(*dc));
	dc->store = store;
	dc->dir = blz_xstrdup(dir);
	pthread_mutex_init(&dc->lock, NULL);
	dc->nbuckets = 1024;
	dc->bucket = blz_xcalloc(dc->nbuckets, sizeof(*dc->bucket));
	dc->max_bytes = max_bytes ? max_bytes : BLZ_DISKCACHE_DEFAULT_SIZE;
	/* oldest first, so that the newest ends at the head */
	blz_sort(found.v, found.len, sizeof(*found.v), cmp_found);
	for (size_t i = 0; i < found.len; i++) {
		index_add(dc, found.v[i].digest, found.v[i].size, found.v[i].mtime.tv_sec);
		dc->bytes += found.v[i].size;
	}
	vec_release(&found);
	evict_to(dc, dc->max_bytes, NULL);
	*ret = dc;
	return 0;
}

void blz_diskcache_close(struct blz_diskcache *dc)
{
	if (!dc)
		return;
	for (struct blz_list_node *l = dc->lru.head, *next; l; l = next) {
		next = l->next;
		free(blz_container_of(l, struct entry, lru));
	}
	free(dc->bucket);
	pthread_mutex_destroy(&dc->lock);
	blz_store_close(dc->store);
	free(dc->dir);
	free(dc);
}

/* ---- get, put, trim ---- */

/* Sets the chunk file's mtime to now (its recency for the next open). */
static void touch(struct blz_diskcache *dc, const uint8_t *digest)
{
	char path[PATH_MAX + BLZ_STORE_PATH_EXTRA];
	if (blz_store_path(dc->store, digest, path, sizeof(path)) == 0)
		utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
}

static uint64_t file_size(struct blz_diskcache *dc, const uint8_t *digest)
{
	char path[PATH_MAX + BLZ_STORE_PATH_EXTRA];
	struct stat st;
	if (blz_store_path(dc->store, digest, path, sizeof(path)) < 0 || stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_size;
}

int blz_diskcache_get(struct blz_diskcache *dc, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		      void *buf, size_t len)
{
	int r = blz_store_get(dc->store, digest, buf, len);
	if (r == -EINVAL)
		return r;
	if (r == -EBADMSG) {
		/* a whole entry of another length: the caller's length is wrong, not the entry */
		char path[PATH_MAX + BLZ_STORE_PATH_EXTRA];
		int64_t l = -1;
		if (blz_store_path(dc->store, digest, path, sizeof(path)) == 0)
			l = whole_length(AT_FDCWD, path, digest);
		if (l >= 0 && (uint64_t)l != len) {
			pthread_mutex_lock(&dc->lock);
			dc->st.misses++;
			pthread_mutex_unlock(&dc->lock);
			return -ENOENT;
		}
		blz_store_remove(dc->store, digest);
	}

	bool do_touch = false;
	uint64_t size = 0;
	if (r == 0) {
		pthread_mutex_lock(&dc->lock);
		bool known = *slot(dc, digest) != NULL;
		pthread_mutex_unlock(&dc->lock);
		if (!known)
			size = file_size(dc, digest); /* put by another process */
	}
	pthread_mutex_lock(&dc->lock);
	struct entry *e = *slot(dc, digest);
	if (r == 0) {
		int64_t now = wall_s();
		if (!e && size) {
			e = index_add(dc, digest, size, now);
			dc->bytes += size;
			do_touch = true;
		} else if (e) {
			blz_list_to_front(&dc->lru, &e->lru);
			if (now - e->touched_s >= TOUCH_EVERY_S || now < e->touched_s) {
				e->touched_s = now;
				do_touch = true;
			}
		}
		dc->st.hits++;
	} else {
		if (e)
			index_drop(dc, e); /* gone (another process's eviction) or bad */
		dc->st.misses++;
	}
	if (size)
		evict_to(dc, dc->max_bytes, NULL);
	pthread_mutex_unlock(&dc->lock);
	if (do_touch)
		touch(dc, digest);
	return r == 0 ? 0 : -ENOENT;
}

int blz_diskcache_put_image(struct blz_diskcache *dc, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
			    const void *image, size_t image_len)
{
	if (image_len > dc->max_bytes)
		return -EFBIG;
	/* Room first, so that the files on disk never exceed the bound: the bytes are reserved
	 * while the file is written. */
	pthread_mutex_lock(&dc->lock);
	if (*slot(dc, digest)) {
		pthread_mutex_unlock(&dc->lock);
		return 0;
	}
	evict_to(dc, dc->max_bytes - image_len, NULL);
	dc->bytes += image_len;
	pthread_mutex_unlock(&dc->lock);

	int r = blz_store_put_image(dc->store, digest, image, image_len);

	pthread_mutex_lock(&dc->lock);
	dc->bytes -= image_len;
	if (r == 0 && !*slot(dc, digest)) {
		index_add(dc, digest, image_len, wall_s());
		dc->bytes += image_len;
		dc->st.inserts++;
	}
	pthread_mutex_unlock(&dc->lock);
	return r;
}

int64_t blz_diskcache_trim(struct blz_diskcache *dc, uint64_t target_bytes, uint64_t *ret_bytes)
{
	pthread_mutex_lock(&dc->lock);
	uint64_t n = evict_to(dc, target_bytes, ret_bytes);
	pthread_mutex_unlock(&dc->lock);
	return (int64_t)n;
}

void blz_diskcache_get_stats(struct blz_diskcache *dc, struct blz_diskcache_stats *ret)
{
	pthread_mutex_lock(&dc->lock);
	*ret = dc->st;
	ret->bytes = dc->bytes;
	ret->max_bytes = dc->max_bytes;
	pthread_mutex_unlock(&dc->lock);
}
