/*
 * The mkseed pipeline: writes a seed image (lib/btrfs/writer.h) from a directory, tar layers
 * and an OCI image, with an optional lazy import (lib/lazywrite/importer.h) into a store and a
 * map, and commits the outputs so that a crash, a failure or a signal never leaves an output
 * that looks valid but is not.
 *
 * Sources, in this order: the directory (metadata and small files), then the tar layers and
 * the OCI image in the order given (each over the tree so far, with OCI whiteouts), then the
 * directory's large files' data (in inode order).
 *
 * Commit protocol (the order is the crash-safety argument; do not change it):
 *   1. Checks: OUTPUT (and with lazy, the map) must not exist unless force; OUTPUT, if it
 *      exists, must be a regular file; the OCI image's index, manifest and config are read
 *      and checked. Nothing is created before these pass.
 *   2. The image is written to a temporary file beside OUTPUT, ".NAME.tmp-XXXXXX" (mode
 *      0644); with lazy, the store is opened (created if missing) and chunks are written
 *      under the store's temporary names (BLZ_STORE_BATCH).
 *   3. blz_seed_finish() writes all metadata and superblocks and fsyncs the image.
 *   4. Lazy only: the store is synced (every chunk durable under its name), then the map is
 *      written to "MAP.tmp-PID", fsynced by the journal, and renamed to MAP. A map without
 *      its seed is harmless (nothing refers to it); a seed without its map is not.
 *   5. The temporary image is renamed to OUTPUT. This is the commit point: OUTPUT (a
 *      pre-existing one included) is never touched before it.
 * On any failure before the commit point: the temporary image and temporary map are
 * removed, a map renamed in step 4 is removed again, the importer drops its unsynced chunks,
 * and a store directory this run created is removed with what this run put in it. A store
 * that existed before keeps the chunks (they are valid, content-addressed, and may be shared).
 *
 * Signals: the library installs no handler. A front-end that wants clean-up on SIGINT,
 * SIGTERM, ... installs its own handler that calls blz_mkseed_signal_cleanup() (async-signal-
 * safe: system calls only, on paths prepared in advance) and then re-raises the signal with
 * the default action. Before the commit point it removes the temporary image, the temporary
 * map, a map published in step 4 and a store directory this run created (with its chunk
 * files); after it, nothing. Chunk files pending in a store that existed before keep their
 * temporary names, which readers ignore. One pipeline runs at a time in a process (the
 * clean-up state is global).
 *
 * Default names: with lazy, MAP defaults to "OUTPUT.map" and the store to "OUTPUT.store"
 * (derived in one place, mkseed.c:default_name); the names used are in the result.
 */
#ifndef BLZ_MKSEED_MKSEED_H
#define BLZ_MKSEED_MKSEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btrfs/writer.h"
#include "lazywrite/importer.h"
#include "util/strbuf.h"

/* Lazy seeds keep metadata only: a file goes inline when its bytes cost no more than
 * referencing them lazily would (extent items, checksums, a map record, ~250 bytes). */
#define BLZ_MKSEED_LAZY_INLINE_MAX 512

enum blz_mkseed_source_kind {
	BLZ_MKSEED_TAR, /* path: a tar file (plain, gzip or zstd), "-" for standard input */
	BLZ_MKSEED_OCI, /* path: an OCI image layout directory; platform: NULL or "os/arch" */
};

struct blz_mkseed_source {
	enum blz_mkseed_source_kind kind;
	const char *path;
	const char *platform;
};

/* The steps a test hook sees, each before it runs (index: the source's position, else 0). */
enum blz_mkseed_step {
	BLZ_MKSEED_STEP_CREATE,      /* the temporary image exists, nothing else yet */
	BLZ_MKSEED_STEP_STORE_OPEN,  /* lazy: before the importer opens the store */
	BLZ_MKSEED_STEP_DIR,         /* before the directory's metadata */
	BLZ_MKSEED_STEP_SOURCE,      /* before sources[index] */
	BLZ_MKSEED_STEP_DIR_DATA,    /* before the directory's large files */
	BLZ_MKSEED_STEP_FINISH,      /* before blz_seed_finish (metadata, fsync) */
	BLZ_MKSEED_STEP_MAP_WRITE,   /* lazy: before the store sync and the temporary map */
	BLZ_MKSEED_STEP_MAP_RENAME,  /* lazy: the temporary map is complete */
	BLZ_MKSEED_STEP_SEED_RENAME, /* the map is published; before the commit point */
};

struct blz_mkseed_opts {
	const char *output;
	const char *rootdir;                    /* NULL: none */
	const struct blz_mkseed_source *sources; /* in command-line order */
	size_t nsources;
	bool force;                             /* replace OUTPUT (and the map) */
	bool lazy;                              /* import file data into a store and a map */
	const char *store, *map;                /* NULL: the default names */
	/* Lazy only: files whose tree path ("usr/bin/ls") matches one of these globs or is a
	 * line of one of these list files keep their data in the image (mkseed --local,
	 * --local-list; lib/ingest/pathset.h). */
	const char *const *local_globs;
	size_t nlocal_globs;
	const char *const *local_lists;
	size_t nlocal_lists;
	/* Image options. The pipeline sets lazy_put/lazy_ctx and keep_local itself; with lazy
	 * and without inline_max_set, inline_max is BLZ_MKSEED_LAZY_INLINE_MAX. progress (files
	 * and bytes written so far, called now and then) is passed through. */
	struct blz_seed_opts seed;
	/* Tests: called before each step; a negative return fails that step with it. */
	int (*hook)(void *ctx, enum blz_mkseed_step step, size_t index);
	void *hook_ctx;
};

struct blz_mkseed_result {
	struct blz_seed_layout layout;
	uint64_t seed_disk_bytes;               /* the image's blocks on disk */
	/* Lazy only. */
	char map_path[4096], store_path[4096];
	struct blz_import_stats import;
	uint64_t store_chunks, store_bytes;     /* the whole store after the run */
	bool store_usage_failed;                /* store_chunks/_bytes could not be measured */
};

/*
 * Runs the pipeline. Returns 0 with *ret filled, or -errno with a message in err (names the
 * path involved; no "blazy: error:" prefix) and nothing left behind (see above).
 */
int blz_mkseed(const struct blz_mkseed_opts *opts, struct blz_mkseed_result *ret, char *err,
	       size_t errlen);

/* The run's summary, appended to out: one JSON object and a newline (output, fsid, sizes,
 * the areas, the import's bytes and the store, seconds), or the human-readable lines. */
void blz_mkseed_summary_json(const struct blz_mkseed_opts *opts,
			     const struct blz_mkseed_result *res, double secs, struct blz_buf *out);
void blz_mkseed_summary_text(const struct blz_mkseed_opts *opts,
			     const struct blz_mkseed_result *res, double secs, struct blz_buf *out);

/* Async-signal-safe clean-up of the running pipeline's uncommitted outputs; a no-op when
 * none runs. The pipeline must not continue afterwards (the caller re-raises the signal). */
void blz_mkseed_signal_cleanup(void);

#endif
