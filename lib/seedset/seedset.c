#include "seedset/seedset.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btrfs/inspect.h"
#include "map/map.h"
#include "store/store.h"
#include "util/strbuf.h"

struct blz_seedset {
	struct blz_seedset_layout lay;
	int image_fd;
	struct blz_map *map;
	struct blz_store *store;
	char map_path[PATH_MAX];
	char store_path[PATH_MAX];
};

static int one_path(const char *seed, const char *given, const char *suffix, char *out, size_t size)
{
	if (!out)
		return 0;
	int n = given ? snprintf(out, size, "%s", given) : snprintf(out, size, "%s%s", seed, suffix);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int blz_seedset_paths(const char *seed, const char *map_path, const char *store_dir,
		      char *ret_map, size_t map_size, char *ret_store, size_t store_size)
{
	int r = one_path(seed, map_path, BLZ_SEEDSET_MAP_SUFFIX, ret_map, map_size);
	return r < 0 ? r : one_path(seed, store_dir, BLZ_SEEDSET_STORE_SUFFIX, ret_store, store_size);
}

void blz_seedset_close(struct blz_seedset *s)
{
	if (!s)
		return;
	blz_map_close(s->map);
	blz_store_close(s->store);
	if (s->image_fd >= 0)
		close(s->image_fd);
	free(s);
}

/* The image: open it and read its layout. */
static int open_image(struct blz_seedset *s, const struct blz_seedset_opts *o, char *err,
		      size_t errlen)
{
	char why[256];
	s->image_fd = open(o->seed, O_RDONLY | O_CLOEXEC);
	if (s->image_fd < 0)
		return blz_errf(err, errlen, -errno, "cannot open '%s': %s", o->seed, strerror(errno));
	struct blz_seed_info in;
	int r = blz_seed_inspect(s->image_fd, &in, why, sizeof(why));
	if (r < 0)
		return blz_errf(err, errlen, r, "'%s' is not a usable seed: %s", o->seed, why);
	memcpy(s->lay.fsid, in.fsid, 16);
	s->lay.device_size = in.device_size;
	s->lay.image_size = in.image_size;
	s->lay.local_end = in.local_end;
	s->lay.import_off = in.import_off;
	s->lay.import_size = in.import_size;
	s->lay.virtual_off = in.virtual_off;
	s->lay.virtual_size = in.virtual_size;
	blz_seed_info_release(&in);
	if (s->lay.device_size % 4096)
		return blz_errf(err, errlen, -EINVAL,
				"'%s' declares a device size that is not a multiple of 4 KiB", o->seed);
	if ((o->flags & BLZ_SEEDSET_WRITE) && !s->lay.virtual_size)
		return blz_errf(err, errlen, -EINVAL,
				"'%s' has no virtual area (made with --virtual-size 0)", o->seed);
	return 0;
}

/* The store: read mode creates a missing one, then only reads it. */
static int open_store(struct blz_seedset *s, bool write, char *err, size_t errlen)
{
	const char *path = s->store_path;
	struct stat st;
	int r;
	if (!write && stat(path, &st) < 0 && errno == ENOENT) {
		struct blz_store *tmp;
		r = blz_store_open(path, BLZ_STORE_CREATE, &tmp);
		if (r < 0)
			return blz_errf(err, errlen, r, "cannot create the store '%s': %s", path,
					strerror(-r));
		blz_store_close(tmp);
	}
	r = blz_store_open(path, write ? BLZ_STORE_CREATE : BLZ_STORE_RDONLY, &s->store);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot open the store '%s': %s", path, strerror(-r));
	return 0;
}

/* The map, for this seed's fsid: read mode creates a missing one empty, then only reads it. */
static int open_map(struct blz_seedset *s, bool write, bool map_only, char *err, size_t errlen)
{
	const char *path = s->map_path;
	char why[256];
	int r;
	if (!write && !map_only && access(path, F_OK) < 0 && errno == ENOENT) {
		struct blz_map *tmp;
		r = blz_map_open(path, s->lay.fsid, BLZ_MAP_CREATE, &tmp, why, sizeof(why));
		if (r < 0)
			return blz_errf(err, errlen, r, "cannot create the map '%s': %s", path, why);
		blz_map_close(tmp);
	}
	r = blz_map_open(path, s->lay.fsid, write ? BLZ_MAP_CREATE : BLZ_MAP_READONLY, &s->map, why,
			 sizeof(why));
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot %s the map '%s': %s", write ? "open" : "use",
				path, why);
	r = 0;
	if (s->lay.virtual_size)
		r = blz_map_set_area(s->map, BLZ_MAP_AREA_VIRTUAL, s->lay.virtual_off,
				     s->lay.virtual_size);
	if (r >= 0 && s->lay.import_size)
		r = blz_map_set_area(s->map, BLZ_MAP_AREA_IMPORT, s->lay.import_off,
				     s->lay.import_size);
	if (r < 0)
		return blz_errf(err, errlen, r, "the map '%s' does not fit this seed: %s", path,
				blz_map_error(s->map));
	return 0;
}

int blz_seedset_open(const struct blz_seedset_opts *o, struct blz_seedset **ret, char *err,
		     size_t errlen)
{
	struct blz_seedset *s = blz_xcalloc(1, sizeof(*s));
	bool write = o->flags & BLZ_SEEDSET_WRITE;
	int r = blz_seedset_paths(o->seed, o->map_path, o->store_dir, s->map_path,
				  sizeof(s->map_path), s->store_path, sizeof(s->store_path));
	if (r < 0) {
		s->image_fd = -1;
		blz_errf(err, errlen, r, "the path of '%s' is too long", o->seed);
		goto fail;
	}
	r = open_image(s, o, err, errlen);
	bool map_only = !write && (o->flags & BLZ_SEEDSET_MAP_ONLY);
	if (r >= 0 && !map_only)
		r = open_store(s, write, err, errlen);
	if (r >= 0)
		r = open_map(s, write, map_only, err, errlen);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	blz_seedset_close(s);
	return r;
}

const struct blz_seedset_layout *blz_seedset_layout(const struct blz_seedset *s)
{
	return &s->lay;
}

int blz_seedset_image_fd(const struct blz_seedset *s)
{
	return s->image_fd;
}

struct blz_map *blz_seedset_map(struct blz_seedset *s)
{
	return s->map;
}

struct blz_store *blz_seedset_store(struct blz_seedset *s)
{
	return s->store;
}

const char *blz_seedset_map_path(const struct blz_seedset *s)
{
	return s->map_path;
}

const char *blz_seedset_store_path(const struct blz_seedset *s)
{
	return s->store_path;
}
