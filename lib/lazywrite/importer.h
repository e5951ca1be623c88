/*
 * mkseed --lazy: the sink for the seed writer's import area. Each run of file data the
 * writer hands over becomes a content-store chunk (deduplicated by SHA-256) and a map record
 * for its device range (lazywrite/chunker.h); when the image is complete, the records become
 * the seed's map.
 */
#ifndef BLZ_LAZYWRITE_IMPORTER_H
#define BLZ_LAZYWRITE_IMPORTER_H

#include <stddef.h>
#include <stdint.h>

struct blz_import_stats {
	uint64_t chunks, bytes;           /* runs handed over and their bytes */
	uint64_t dedup_chunks, dedup_bytes; /* of those, already in the store */
};

struct blz_importer;

/* Opens (creating) the store directory. */
int blz_importer_open(const char *store_dir, struct blz_importer **ret, char *err, size_t errlen);
/* The writer's lazy_put callback (ctx = the importer). */
int blz_importer_put(void *ctx, uint64_t dev_off, const void *buf, size_t len);
/* Writes a new journal at map_path (which must not exist) for the seed fsid, with every
 * record in the import area [area_off, area_off + area_size). */
int blz_importer_write_map(struct blz_importer *im, const char *map_path, const uint8_t fsid[16],
			   uint64_t area_off, uint64_t area_size, char *err, size_t errlen);
void blz_importer_stats(const struct blz_importer *im, struct blz_import_stats *ret);
/* The whole store's chunk count and bytes on disk (including chunks of earlier imports). */
int blz_importer_store_usage(struct blz_importer *im, uint64_t *chunks, uint64_t *bytes);
void blz_importer_close(struct blz_importer *im);

#endif
