#include "lazy/mapper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btrfs/inspect.h"
#include "map/map.h"
#include "store/store.h"
#include "util/fileio.h"
#include "util/strbuf.h"

struct blz_mapper {
	struct blz_map *map;
	struct blz_store *store;
	uint64_t virt_off;
	uint8_t *buf;
};

void blz_mapper_close(struct blz_mapper *m)
{
	if (!m)
		return;
	if (m->map)
		blz_map_close(m->map);
	if (m->store)
		blz_store_close(m->store);
	free(m->buf);
	free(m);
}

int blz_mapper_open(const struct blz_lazy_opts *o, struct blz_mapper **ret, char *err,
		    size_t errlen)
{
	struct blz_mapper *m = blz_xcalloc(1, sizeof(*m));
	char path[4096], why[256];
	struct blz_seed_info in = { 0 };
	int r;
	int fd = open(o->seed, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = blz_errf(err, errlen, -errno, "cannot open '%s': %s", o->seed, strerror(errno));
		goto out;
	}
	r = blz_seed_inspect(fd, &in, why, sizeof(why));
	close(fd);
	if (r < 0) {
		blz_errf(err, errlen, r, "'%s' is not a usable seed: %s", o->seed, why);
		goto out;
	}
	if (!in.virtual_size) {
		r = blz_errf(err, errlen, -EINVAL, "'%s' has no virtual area (made with --virtual-size 0)",
			 o->seed);
		goto out;
	}
	m->virt_off = in.virtual_off;
	snprintf(path, sizeof(path), "%s%s", o->store_dir ? o->store_dir : o->seed,
		 o->store_dir ? "" : ".store");
	r = blz_store_open(path, BLZ_STORE_CREATE, &m->store);
	if (r < 0) {
		blz_errf(err, errlen, r, "cannot open the store '%s': %s", path, strerror(-r));
		goto out;
	}
	snprintf(path, sizeof(path), "%s%s", o->map_path ? o->map_path : o->seed,
		 o->map_path ? "" : ".map");
	r = blz_map_open(path, in.fsid, BLZ_MAP_CREATE, &m->map, why, sizeof(why));
	if (r < 0) {
		blz_errf(err, errlen, r, "cannot open the map '%s': %s", path, why);
		goto out;
	}
	r = blz_map_set_area(m->map, BLZ_MAP_AREA_VIRTUAL, in.virtual_off, in.virtual_size);
	if (r >= 0 && in.import_size)
		r = blz_map_set_area(m->map, BLZ_MAP_AREA_IMPORT, in.import_off, in.import_size);
	if (r < 0) {
		blz_errf(err, errlen, r, "the map '%s' does not fit this seed: %s", path,
		     blz_map_error(m->map));
		goto out;
	}
	m->buf = blz_xmalloc(BLZ_MAP_CHUNK);
	blz_seed_info_release(&in);
	*ret = m;
	return 0;
out:
	blz_seed_info_release(&in);
	blz_mapper_close(m);
	return r;
}

int blz_mapper_add(struct blz_mapper *m, int fd, const char *name, struct blz_mapped *ret,
		   char *err, size_t errlen)
{
	VEC(struct blz_map_rec) recs = { 0 };
	uint64_t size = 0;
	int r = 0;
	for (;;) {
		ssize_t n = blz_read_full(fd, m->buf, BLZ_MAP_CHUNK);
		if (n < 0) {
			r = blz_errf(err, errlen, (int)n, "cannot read '%s': %s", name, strerror((int)-n));
			goto out;
		}
		if (n == 0)
			break;
		struct blz_map_rec rec = { .len = (uint32_t)((n + 4095) & ~4095), .data_len = (uint32_t)n };
		r = blz_store_put(m->store, m->buf, (size_t)n, rec.digest);
		if (r < 0) {
			blz_errf(err, errlen, r, "cannot store a chunk of '%s': %s", name, strerror(-r));
			goto out;
		}
		vec_push(&recs, rec);
		size += (uint64_t)n;
		if ((size_t)n < BLZ_MAP_CHUNK)
			break;
	}
	memset(ret, 0, sizeof(*ret));
	ret->size = size;
	if (recs.len) {
		r = blz_map_append_alloc(m->map, BLZ_MAP_AREA_VIRTUAL, recs.v, recs.len);
		if (r < 0) {
			blz_errf(err, errlen, r, "cannot map '%s': %s", name,
			     r == -ENOSPC ? "the virtual area is full" : blz_map_error(m->map));
			goto out;
		}
		ret->device_off = recs.v[0].off;
	} else {
		/* An empty file takes no address space: report where it would start. */
		r = blz_map_alloc(m->map, BLZ_MAP_AREA_VIRTUAL, 4096, &ret->device_off);
		if (r < 0) {
			blz_errf(err, errlen, r, "cannot map '%s': %s", name, blz_map_error(m->map));
			goto out;
		}
	}
	ret->virtual_off = ret->device_off - m->virt_off;
	ret->mapped = (size + 4095) & ~4095ull;
	ret->records = recs.len;
	r = 0;
out:
	vec_release(&recs);
	return r;
}
