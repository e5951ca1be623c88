/*
 * The lazy device: what `blazy serve SEED` serves. A seed image provides the local region;
 * the map (SEED.map) says which store chunk backs each mapped range of the lazy areas; the
 * content store (SEED.store/) holds the chunks, verified on every read, behind a bounded
 * cache. Unmapped lazy bytes fail with EIO; bytes between regions read as zeros. Nothing
 * unverified is ever returned.
 *
 * It opens the seed, map and store as a seed set in read mode (seedset/seedset.h: the default
 * names, the fsid check, the areas, the messages) and implements the server's backend
 * interface (backend/backend.h).
 */
#ifndef BLZ_LAZY_LAZY_H
#define BLZ_LAZY_LAZY_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "util/strbuf.h"

struct blz_fetch_opts;
struct blz_fetch_stats;

struct blz_lazy_opts {
	const char *seed;       /* the seed image */
	const char *map_path;   /* NULL: SEED.map (created empty if missing) */
	const char *store_dir;  /* NULL: SEED.store/ (created if missing) */
	size_t cache_bytes;     /* chunk cache bound; 0: 256 MiB */
	/* NULL: chunks come from store_dir alone, read inline (as ever). Else through lib/fetch
	 * (fetch/fetch.h) from fetch->stores in order, then store_dir (where `blazy map` puts new
	 * chunks) if not among them; fetch->cache_dir NULL with a remote store: the default
	 * BLZ_LAZY_CACHE_ROOT/<fsid hex>; fetch->log is the log below. With a remote store (or
	 * injected faults) the backend has a submit op: a chunk that is neither in memory, nor in
	 * the persistent cache nor in a local store is fetched while the queue goes on, and the
	 * request completes when its chunks are there (the readable prefix, as read, if some are
	 * not). With each chunk fetched that way, the next fetch->ahead chunks of the map in
	 * device order are fetched too (BLZ_FETCH_AHEAD) into the memory cache. prefetch_list names files of the seed, one a line (relative to its root,
	 * '/'-separated: the list `blazy status --trace` and `blazy store prefetch --list` take;
	 * empty lines skipped): their chunks in the lazy areas are queued at open for fetching in
	 * the background, behind every demand fetch and at fetch->prefetch_rate (the engine's
	 * BLZ_FETCH_PREFETCH priority). A name that is no file of the seed is a log line, not an
	 * error; an unreadable list is. A list whose first line is a "fetches" reply's header
	 * ("blazy-fetches 1 ...", lazy/fetches.h: the older format) names device ranges instead.
	 * Without a remote store (every chunk local) nothing is queued. */
	const struct blz_fetch_opts *fetch;
	const char *prefetch_list;
	/* Called for events worth a log line (a corrupt or missing chunk); may be NULL.
	 * Called from queue threads. */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

struct blz_lazy_stats {
	uint64_t reads, read_bytes;       /* requests served and their bytes */
	uint64_t local_bytes;             /* bytes served from the image */
	uint64_t lazy_bytes;              /* bytes served from mapped ranges */
	uint64_t zero_bytes;              /* bytes between regions */
	uint64_t unmapped;                /* reads that hit an unmapped lazy range (EIO) */
	uint64_t errors;                  /* reads failed for any reason */
	uint64_t store_reads, store_bytes; /* chunks fetched from the store and their bytes */
	uint64_t cache_hits;
	uint64_t bad_chunks;              /* corrupt or missing chunks met */
	uint64_t map_records, mapped_bytes; /* the map as last loaded */
	uint64_t fetch_ranges;            /* map records and 1 MiB local regions read so far */
	uint64_t fetch_untracked;         /* reads of records past the fetch table's capacity */
	/* --prefetch at open: names in the list, of them not files of the seed, chunks queued
	 * (a chunk of several ranges counts once per range; the engine fetches it once) */
	uint64_t prefetch_files, prefetch_missing, prefetch_chunks;
};

#define BLZ_LAZY_CACHE_ROOT "/var/cache/blazy"
/* The default persistent cache of the seed with this fsid: BLZ_LAZY_CACHE_ROOT/<fsid hex>
 * (also where `blazy store prefetch` puts chunks and `blazy store gc` trims). */
#define BLZ_LAZY_CACHE_DIR_LEN (sizeof(BLZ_LAZY_CACHE_ROOT) + 1 + 32 + 1)
void blz_lazy_default_cache_dir(const uint8_t fsid[16], char out[BLZ_LAZY_CACHE_DIR_LEN]);

struct blz_lazy;

/* Opens everything and checks it belongs together. -errno with a message in err. */
int blz_lazy_open(const struct blz_lazy_opts *opts, struct blz_lazy **ret, char *err,
		  size_t errlen);
/* The backend view (owned by the lazy device; closing it closes the device). */
struct blz_backend *blz_lazy_backend(struct blz_lazy *l);
/* Re-reads records other processes appended to the map. */
int blz_lazy_refresh(struct blz_lazy *l);
void blz_lazy_get_stats(struct blz_lazy *l, struct blz_lazy_stats *ret);
/* The fetch engine's statistics (fetch/fetch.h): 0, or -ENOENT without an engine. */
int blz_lazy_get_fetch_stats(struct blz_lazy *l, struct blz_fetch_stats *ret);
/* The fetch accounting (lazy/fetches.h), in its wire format: the "fetches" reply. */
void blz_lazy_format_fetches(struct blz_lazy *l, struct blz_buf *out);
const uint8_t *blz_lazy_fsid(const struct blz_lazy *l);
uint64_t blz_lazy_dropped_tail(const struct blz_lazy *l);

#endif
