/*
 * The write side's one primitive: bytes -> stored chunks + map records. Both writers of lazy
 * bytes go through it: the importer of mkseed --lazy (lazywrite/importer.h: runs of the
 * import area at known device offsets) and the runtime mapper of `blazy map`
 * (lazywrite/mapper.h: a file's bytes, placed in the virtual area when appended).
 *
 * blz_chunker_put() cuts [buf, buf + len) into chunks of chunk_max bytes (the last one may be
 * shorter), puts each into the content store, named by its SHA-256, and adds one record per
 * chunk: area, off + i * chunk_max, data_len = the chunk's bytes, len = data_len rounded up
 * to 4 KiB (what the map requires: the rest of the range reads as zeros), digest. A chunk
 * already in the store (or put earlier in the store's batch) is not written again and counts
 * as deduplicated. Equal bytes at equal chunk boundaries thus give equal chunks.
 *
 * The records are only collected here; the caller appends them to a map (blz_map_append,
 * blz_map_append_alloc) once their chunks are durable. Nothing is printed; -errno from the
 * store. Not thread-safe: one chunker per writer.
 */
#ifndef BLZ_LAZYWRITE_CHUNKER_H
#define BLZ_LAZYWRITE_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#include "map/map.h"
#include "store/store.h"
#include "util/strbuf.h"

struct blz_store;

struct blz_chunker_stats {
	uint64_t chunks, bytes;             /* chunks put and their bytes (data_len) */
	uint64_t dedup_chunks, dedup_bytes; /* of those, already in the store */
};

struct blz_chunk_name {
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
};
typedef VEC(struct blz_chunk_name) blz_chunk_names;

struct blz_chunker {
	struct blz_store *store;            /* not owned */
	uint32_t chunk_max;                 /* a multiple of 4096, <= BLZ_STORE_MAX_CHUNK */
	VEC(struct blz_map_rec) recs;       /* one per chunk, in the order put */
	blz_chunk_names made;               /* chunks this chunker wrote (not found in the store) */
	struct blz_chunker_stats st;        /* since init */
};

/* chunk_max: a multiple of 4096 from 4096 to BLZ_STORE_MAX_CHUNK (the store's limit). */
void blz_chunker_init(struct blz_chunker *c, struct blz_store *store, uint32_t chunk_max);
/* Stores len bytes (none: nothing happens) and adds their records. off: a multiple of 4096
 * (-EINVAL otherwise). On failure the records and counters are as before the call (chunks
 * already stored stay, listed in made: the store is content-addressed, an unreferenced
 * chunk is harmless, and a writer that gives up may remove those nothing references). */
int blz_chunker_put(struct blz_chunker *c, int area, uint64_t off, const void *buf, size_t len);
/* Forgets the records and the chunks made (the counters stay). */
void blz_chunker_clear(struct blz_chunker *c);
/* Frees the records; accepts a zeroed or released chunker. */
void blz_chunker_release(struct blz_chunker *c);

#endif
