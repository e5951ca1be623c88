#include "lazywrite/importer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lazywrite/chunker.h"
#include "map/map.h"
#include "store/store.h"
#include "util/strbuf.h"

#define BATCH 65536

struct blz_importer {
	struct blz_store *store;
	struct blz_chunker ch; /* the runs become chunks and records of the import area */
};

int blz_importer_open(const char *store_dir, struct blz_importer **ret, char *err, size_t errlen)
{
	struct blz_importer *im = blz_xcalloc(1, sizeof(*im));
	int r = blz_store_open(store_dir, BLZ_STORE_CREATE | BLZ_STORE_BATCH, &im->store);
	if (r < 0) {
		free(im);
		return blz_errf(err, errlen, r, "cannot open the store '%s': %s", store_dir, strerror(-r));
	}
	/* The writer's runs are at most its lazy_chunk (1 MiB) long: one chunk each. */
	blz_chunker_init(&im->ch, im->store, BLZ_STORE_MAX_CHUNK);
	*ret = im;
	return 0;
}

int blz_importer_put(void *ctx, uint64_t dev_off, const void *buf, size_t len)
{
	struct blz_importer *im = ctx;
	return blz_chunker_put(&im->ch, BLZ_MAP_AREA_IMPORT, dev_off, buf, len);
}

int blz_importer_write_map(struct blz_importer *im, const char *map_path, const uint8_t fsid[16],
			   uint64_t area_off, uint64_t area_size, char *err, size_t errlen)
{
	if (access(map_path, F_OK) == 0)
		return blz_errf(err, errlen, -EEXIST, "the map '%s' exists already", map_path);
	/* Every chunk durable under its name before a map refers to it. */
	int r = blz_store_sync(im->store);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot sync the store: %s: %s", blz_store_error(),
				strerror(-r));
	struct blz_map *map;
	char why[256];
	r = blz_map_open(map_path, fsid, BLZ_MAP_CREATE, &map, why, sizeof(why));
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot create the map '%s': %s", map_path, why);
	if (area_size)
		r = blz_map_set_area(map, BLZ_MAP_AREA_IMPORT, area_off, area_size);
	for (size_t i = 0; r >= 0 && i < im->ch.recs.len; i += BATCH) {
		size_t n = im->ch.recs.len - i < BATCH ? im->ch.recs.len - i : BATCH;
		r = blz_map_append(map, im->ch.recs.v + i, n);
	}
	if (r < 0)
		blz_errf(err, errlen, r, "cannot write the map '%s': %s", map_path, blz_map_error(map));
	blz_map_close(map);
	if (r < 0)
		unlink(map_path);
	return r < 0 ? r : 0;
}

int blz_importer_store_usage(struct blz_importer *im, uint64_t *chunks, uint64_t *bytes)
{
	return blz_store_usage(im->store, chunks, bytes);
}

void blz_importer_stats(const struct blz_importer *im, struct blz_import_stats *ret)
{
	*ret = (struct blz_import_stats){
		.chunks = im->ch.st.chunks, .bytes = im->ch.st.bytes,
		.dedup_chunks = im->ch.st.dedup_chunks, .dedup_bytes = im->ch.st.dedup_bytes,
	};
}

void blz_importer_close(struct blz_importer *im)
{
	if (!im)
		return;
	blz_store_close(im->store);
	blz_chunker_release(&im->ch);
	free(im);
}
