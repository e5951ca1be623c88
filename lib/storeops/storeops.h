/*
 * lib/storeops: whole-seed operations on stores and on the persistent cache, without ublk
 * (`blazy store verify|prefetch|gc`).
 *
 * verify    every chunk the seed's map references is fetched from each store given (each
 *           store is checked on its own: a store that is to be published or served must be
 *           complete) and verified as a server would (header, length, SHA-256); in parallel.
 *           Each missing, bad or unreachable chunk is reported once per store with the device
 *           range of the first record that references it and how many more do.
 * prefetch  the files a list names (the lines `blazy status --trace` writes) are found in the
 *           seed image, their lazy ranges looked up in the map, and their chunks fetched
 *           through lib/fetch (stores in order, retries, deadlines, verification) into the
 *           persistent cache, so that a server started later finds them there.
 * gc        trims a persistent cache to a size, least recently used first.
 *
 * Library rules: nothing is printed; problems go to the report callback (serialised: never
 * called from two threads at once), -errno with a message in err for what stops the whole
 * operation.
 */
#ifndef BLZ_STOREOPS_STOREOPS_H
#define BLZ_STOREOPS_STOREOPS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

enum blz_storeops_kind {
	BLZ_STOREOPS_MISSING,      /* the store does not have the chunk */
	BLZ_STOREOPS_BAD,          /* it has a copy that fails verification */
	BLZ_STOREOPS_UNREACHABLE,  /* it could not be asked (retries and deadline spent) */
	BLZ_STOREOPS_NO_FILE,      /* prefetch: a name of the list is not in the seed */
	BLZ_STOREOPS_FAILED,       /* prefetch: no store gave the chunk */
	BLZ_STOREOPS_LOG,          /* a log line of lib/fetch (reason) */
};

struct blz_storeops_problem {
	enum blz_storeops_kind kind;
	const char *store;          /* the store's name (no credentials); NULL for NO_FILE, LOG */
	const uint8_t *digest;      /* the chunk; NULL for NO_FILE, LOG */
	const char *reason;         /* why (BAD, UNREACHABLE, LOG), the file name (NO_FILE) */
	int area;                   /* BLZ_MAP_AREA_* of the first record naming the chunk */
	uint64_t off, len;          /* that record's device range */
	uint64_t more;              /* how many other records name the chunk */
};

struct blz_storeops_opts {
	const char *seed;             /* verify, prefetch; gc: for the default cache dir */
	const char *map_path;         /* NULL: SEED.map */
	const char *const *stores;    /* --store specs (fetch/source.h); n_stores 0: SEED.store */
	size_t n_stores;
	const char *cache_dir;        /* prefetch, gc; NULL: the seed's default, the server's
				       * (lazy/lazy.h: /var/cache/blazy/<fsid hex>) */
	uint64_t cache_size;          /* prefetch: the cache's bound; 0: its default */
	unsigned jobs;                /* chunks fetched at once; 0: 8 */
	uint32_t timeout_ms;          /* per chunk, retries included; 0: 30 s */
	unsigned retries;             /* of a transient failure, per chunk and store; ~0u: 4 */
	const char *ca_file, *auth_file;
	void (*report)(void *ctx, const struct blz_storeops_problem *p);
	void *ctx;
};

struct blz_storeops_verify_result {
	uint64_t records, chunks, chunk_bytes;  /* the map's records; distinct chunks, their bytes */
	uint64_t stores;
	uint64_t missing, bad, unreachable;     /* problems, over all stores */
};

/* 0 when the operation ran (problems counted in ret and reported), -errno with err when it
 * could not (no seed, no map, a bad --store). */
int blz_storeops_verify(const struct blz_storeops_opts *o, struct blz_storeops_verify_result *ret,
			char *err, size_t errlen);

struct blz_storeops_prefetch_result {
	uint64_t files, missing_files;  /* names in the list; names not in the seed */
	uint64_t chunks, chunk_bytes;   /* distinct chunks of those files in the lazy areas */
	uint64_t cached;                /* of them, found in the cache already */
	uint64_t fetched;               /* fetched from a store now */
	uint64_t failed;                /* no store gave */
};

int blz_storeops_prefetch(const struct blz_storeops_opts *o, const char *list_path,
			  struct blz_storeops_prefetch_result *ret, char *err, size_t errlen);

struct blz_storeops_gc_result {
	char cache_dir[4096];
	uint64_t removed, removed_bytes;
	uint64_t entries, bytes;   /* what remains */
};

/* Trims the cache (o->cache_dir, else the default cache of o->seed) to target bytes, least recently used
 * first (temporary and broken files left by a crash go as well). */
int blz_storeops_gc(const struct blz_storeops_opts *o, uint64_t target,
		    struct blz_storeops_gc_result *ret, char *err, size_t errlen);

#endif
