#include "lazy/importer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "map/map.h"
#include "store/store.h"
#include "util/sha256.h"
#include "util/strbuf.h"

#define BATCH 65536

struct blz_importer {
	struct blz_store *store;
	VEC(struct blz_map_rec) recs;
	struct blz_import_stats st;
};

int blz_importer_open(const char *store_dir, struct blz_importer **ret, char *err, size_t errlen)
{
	struct blz_importer *im = blz_xcalloc(1, sizeof(*im));
	int r = blz_store_open(store_dir, BLZ_STORE_CREATE | BLZ_STORE_BATCH, &im->store);
	if (r < 0) {
		free(im);
		return blz_errf(err, errlen, r, "cannot open the store '%s': %s", store_dir, strerror(-r));
	}
	*ret = im;
	return 0;
}

int blz_importer_put(void *ctx, uint64_t dev_off, const void *buf, size_t len)
{
	struct blz_importer *im = ctx;
	struct blz_map_rec rec = { .off = dev_off, .len = (uint32_t)len, .data_len = (uint32_t)len,
				   .area = BLZ_MAP_AREA_IMPORT };
	blz_sha256(buf, len, rec.digest);
	if (blz_store_has(im->store, rec.digest) == 1) {
		im->st.dedup_chunks++;
		im->st.dedup_bytes += len;
	} else {
		int r = blz_store_put(im->store, buf, len, rec.digest);
		if (r < 0)
			return r;
	}
	im->st.chunks++;
	im->st.bytes += len;
	vec_push(&im->recs, rec);
	return 0;
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
	for (size_t i = 0; r >= 0 && i < im->recs.len; i += BATCH) {
		size_t n = im->recs.len - i < BATCH ? im->recs.len - i : BATCH;
		r = blz_map_append(map, im->recs.v + i, n);
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
	*ret = im->st;
}

void blz_importer_close(struct blz_importer *im)
{
	if (!im)
		return;
	blz_store_close(im->store);
	vec_release(&im->recs);
	free(im);
}
