/* A bounded in-memory cache of verified chunks, keyed by digest, with LRU eviction.
 *
 * Only bytes that were verified against their digest (blz_store_get returned 0) may be put
 * in it; it trusts what it is given and returns copies. The bound counts chunk bytes (not the
 * few dozen bytes of bookkeeping per entry): after every put, the bytes held are <= max_bytes.
 * A chunk larger than max_bytes is not cached. All functions are thread-safe; a get copies
 * the bytes outside the lock (the entry is reference-counted), so concurrent readers of
 * large chunks do not serialise on the copy. */
#ifndef BLZ_STORE_CACHE_H
#define BLZ_STORE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct blz_chunk_cache;

struct blz_cache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;	/* entries dropped to stay within the bound */
	uint64_t inserts;
	size_t bytes;		/* chunk bytes held now */
	size_t entries;		/* chunks held now */
	size_t max_bytes;
};

/* A cache holding at most max_bytes of chunk data (0 gives a cache that holds nothing).
 * Aborts on out-of-memory, like blz_xmalloc. */
struct blz_chunk_cache *blz_cache_new(size_t max_bytes);
/* Frees the cache; accepts NULL. No other call on it may be in progress. */
void blz_cache_free(struct blz_chunk_cache *cache);

/* If the chunk named digest is cached with length len, copies it to buf, makes it the most
 * recently used and returns 1; otherwise returns 0 (a miss; buf is untouched). */
int blz_cache_get(struct blz_chunk_cache *cache, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		  void *buf, size_t len);
/* Caches a copy of the len verified bytes named digest as the most recently used chunk,
 * evicting least recently used ones until the bound holds. A chunk that is cached already
 * is only made most recently used. */
/* Copies bytes [off, off + n) of a cached chunk of chunk_len bytes into buf: 1 hit, 0 miss
 * (absent, another length, or a range outside it). Only the range is copied. */
int blz_cache_read(struct blz_chunk_cache *cache, const uint8_t digest[32], size_t chunk_len,
		   size_t off, void *buf, size_t n);
void blz_cache_put(struct blz_chunk_cache *cache, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		   const void *buf, size_t len);
/* A consistent snapshot of the counters. */
void blz_cache_get_stats(struct blz_chunk_cache *cache, struct blz_cache_stats *ret);

#endif
