/* The map's in-memory index (internal to lib/map): every record, sorted by device offset, in
 * one array searched by bisection. Records arrive mostly in increasing offset order (each area
 * only grows upwards), so an insert is normally an append; a batch below existing records (the
 * import area after the virtual area, say) is merged in one pass from the back.
 * No locking here: journal.c holds the map's rwlock around every call. */
#ifndef BLZ_MAP_INDEX_H
#define BLZ_MAP_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "map/map.h"

struct blz_map_index_area {
	uint64_t records, mapped_bytes, data_bytes;
	uint64_t first, end; /* lowest offset, end of the highest record (valid if records) */
};

struct blz_map_index {
	struct blz_map_rec *v; /* sorted by off; ranges disjoint */
	uint64_t *keys;        /* keys[i] == v[i].off: a dense array for the bisection */
	size_t len, cap;
	struct blz_map_index_area area[BLZ_MAP_AREA_MAX + 1];
};

/* Checks that n records, each already valid on its own (blz_map_rec_check) and in a known
 * area, can join the index: in each area every record starts at or above the end of the one
 * before (the index's high-water mark first), and no range overlaps one in the index or
 * another record of the batch. 0, or -EEXIST with the offending batch index and a reason. */
int blz_map_index_check(const struct blz_map_index *ix, const struct blz_map_rec *recs,
			size_t n, size_t *ret_bad, char *why, size_t whylen);
/* Adds n records that passed blz_map_index_check(). */
void blz_map_index_insert(struct blz_map_index *ix, const struct blz_map_rec *recs, size_t n);
/* Pieces covering [off, off + len) (off + len must not overflow), at most max (>= 1);
 * returns their count. */
size_t blz_map_index_lookup(const struct blz_map_index *ix, uint64_t off, uint64_t len,
			    struct blz_map_seg *out, size_t max);
void blz_map_index_release(struct blz_map_index *ix);

#endif
