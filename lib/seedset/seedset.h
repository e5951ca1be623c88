/*
 * A seed set: a seed image with its map (lib/map) and its content store (lib/store), opened
 * together and checked to belong together. It is the one place that
 *   - derives the default names: the map is SEED.map and the store SEED.store/ unless given
 *     (blz_seedset_paths(), also for callers that only need the names);
 *   - reads the seed's layout (the areas of the device it describes) from the image;
 *   - opens the map with the seed's fsid (a map made for another seed is refused, -EBADMSG)
 *     and sets both lazy areas on it (a record outside them is refused, -EBADMSG).
 *
 * Two modes:
 *   read (the server, flags 0): a missing store is created (mode 0700) and opened read-only;
 *     a missing map is created empty and opened read-only. Nothing else is ever written.
 *   write (BLZ_SEEDSET_WRITE, `blazy map`): the seed must have a virtual area (-EINVAL,
 *     checked before anything is created); the store and the map are created if missing and
 *     opened for writing.
 *
 * mkseed --lazy writes a map for a seed that does not exist yet: it uses blz_seedset_paths()
 * for the names but not blz_seedset_open().
 *
 * Errors: -errno with a message in err naming the file at fault ("cannot open 'S': ...",
 * "'S' is not a usable seed: ...", "cannot create the store 'P': ...", "cannot open the store
 * 'P': ...", "cannot create the map 'P': ...", "cannot use the map 'P': ..." (read mode),
 * "cannot open the map 'P': ..." (write mode), "the map 'P' does not fit this seed: ...").
 * Nothing is left open on failure. Thread safety: the accessors may be called from any
 * thread; the map and store keep their own rules (map/map.h, store/store.h).
 */
#ifndef BLZ_SEEDSET_SEEDSET_H
#define BLZ_SEEDSET_SEEDSET_H

#include <stddef.h>
#include <stdint.h>

struct blz_map;
struct blz_store;

#define BLZ_SEEDSET_MAP_SUFFIX ".map"
#define BLZ_SEEDSET_STORE_SUFFIX ".store"

/* blz_seedset_opts.flags */
#define BLZ_SEEDSET_WRITE 0x1u /* open the map and store for writing (see above) */
#define BLZ_SEEDSET_MAP_ONLY 0x2u /* read mode without the store (blz_seedset_store: NULL) and
				   * without creating anything: a missing map is an error */

struct blz_seedset_opts {
	const char *seed;      /* the seed image */
	const char *map_path;  /* NULL: SEED.map */
	const char *store_dir; /* NULL: SEED.store */
	unsigned flags;        /* BLZ_SEEDSET_* */
};

/* The device address space the seed describes (see README.md), as read from the image. */
struct blz_seedset_layout {
	uint8_t fsid[16];
	uint64_t device_size;                /* bytes of the served device, a multiple of 4 KiB */
	uint64_t image_size;                 /* bytes in the image file */
	uint64_t local_end;                  /* [0, local_end): the local region (the image) */
	uint64_t import_off, import_size;    /* the import area; size 0: none */
	uint64_t virtual_off, virtual_size;  /* the virtual area; size 0: none */
};

struct blz_seedset;

/* The map and store paths of a seed set: map_path and store_dir when given, else seed with
 * BLZ_SEEDSET_MAP_SUFFIX / BLZ_SEEDSET_STORE_SUFFIX appended. Either output may be NULL (not
 * wanted). -ENAMETOOLONG if one does not fit its buffer; the outputs are then unspecified. */
int blz_seedset_paths(const char *seed, const char *map_path, const char *store_dir,
		      char *ret_map, size_t map_size, char *ret_store, size_t store_size);

/* Opens the seed image, its store and its map (see the modes above); -errno with a message. */
int blz_seedset_open(const struct blz_seedset_opts *opts, struct blz_seedset **ret, char *err,
		     size_t errlen);
void blz_seedset_close(struct blz_seedset *s); /* accepts NULL */

const struct blz_seedset_layout *blz_seedset_layout(const struct blz_seedset *s);
/* The image, open read-only for the seed set's life (owned by it). */
int blz_seedset_image_fd(const struct blz_seedset *s);
/* The map and store (owned by the seed set: do not close them). */
struct blz_map *blz_seedset_map(struct blz_seedset *s);
struct blz_store *blz_seedset_store(struct blz_seedset *s);
const char *blz_seedset_map_path(const struct blz_seedset *s);
const char *blz_seedset_store_path(const struct blz_seedset *s);

#endif
