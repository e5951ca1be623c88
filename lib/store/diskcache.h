/*
 * The persistent chunk cache: verified chunks fetched from remote stores, kept on local disk
 * so a restarted server does not fetch them again.
 *
 * Layout: a store directory (store.h): DIR/xx/<hex> chunk files, so the cache can be read,
 * checked and copied with the store's own tools. Entries are written to a temporary file and
 * renamed, without fsync (BLZ_STORE_NOSYNC): after a process crash a chunk is there in full or
 * not at all; after a power loss an entry's bytes may be lost too. Any ".tmp-*" left behind
 * is removed at open. Every read verifies the chunk (as blz_store_get does); a bad entry is
 * removed and reported as a miss, so a lost write costs a fetch, never a wrong byte.
 *
 * Bound: the chunk files' bytes stay <= max_bytes: an insert evicts least recently used
 * entries first. Recency is the file's mtime, refreshed on a hit at most once a minute per
 * entry (so a hot chunk costs no syscall per read) and loaded by a scan at open.
 * Several processes may use one cache directory (a server and `blazy store gc`): eviction
 * only unlinks, and a get that loses a race to an unlink is a miss.
 *
 * Thread-safe: any number of threads may call get/put concurrently.
 */
#ifndef BLZ_STORE_DISKCACHE_H
#define BLZ_STORE_DISKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define BLZ_DISKCACHE_DEFAULT_SIZE (10ull << 30) /* 10 GiB */

struct blz_diskcache;

struct blz_diskcache_stats {
	uint64_t hits, misses, inserts, evictions;
	uint64_t bytes, entries, max_bytes;
};

/* Opens (creating it, mode 0700, and its parents) the cache in dir with the given bound (0:
 * BLZ_DISKCACHE_DEFAULT_SIZE), scanning it (entries, sizes, recency) and removing temporary
 * files; if it holds more than the bound, evicts down to it. -errno (-EACCES, -ENOTDIR...). */
int blz_diskcache_open(const char *dir, uint64_t max_bytes, struct blz_diskcache **ret);
/* Accepts NULL. */
void blz_diskcache_close(struct blz_diskcache *dc);

/* As blz_store_get: 0 with the len verified bytes in buf; -ENOENT on a miss (also for an
 * entry found bad, which is removed; an entry whose length is not len is kept); -EINVAL if
 * len > BLZ_STORE_MAX_CHUNK. */
int blz_diskcache_get(struct blz_diskcache *dc, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		      void *buf, size_t len);
/* Inserts a chunk file image (header + payload) that the caller has verified for digest,
 * as is (no recompression). 0 (also when present already); -EBADMSG if the image's header
 * does not name digest or its length; -EFBIG if it is larger than the whole bound; or -errno.
 * A failure leaves no partial entry. Room is made (evicting) before the file is written, so
 * the files on disk stay within the bound throughout. */
int blz_diskcache_put_image(struct blz_diskcache *dc, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
			    const void *image, size_t image_len);
/* Evicts least recently used entries until the cache holds <= target_bytes. Returns the
 * number of entries removed, their bytes in *ret_bytes (may be NULL), or -errno. */
int64_t blz_diskcache_trim(struct blz_diskcache *dc, uint64_t target_bytes, uint64_t *ret_bytes);
void blz_diskcache_get_stats(struct blz_diskcache *dc, struct blz_diskcache_stats *ret);

#endif
