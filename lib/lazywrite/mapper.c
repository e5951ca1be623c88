#include "lazywrite/mapper.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lazywrite/chunker.h"
#include "map/map.h"
#include "seedset/seedset.h"
#include "store/store.h"
#include "util/crash.h"
#include "util/fileio.h"
#include "util/strbuf.h"

struct blz_mapper {
	struct blz_seedset *set;
	struct blz_map *map;
	struct blz_store *store;
	uint64_t virt_off;
	uint8_t *buf;
	struct blz_chunker ch; /* the records of the file being added */
};

static int chunks_present(void *ctx, const struct blz_map_rec *recs, size_t n);

void blz_mapper_close(struct blz_mapper *m)
{
	if (!m)
		return;
	blz_seedset_close(m->set);
	blz_chunker_release(&m->ch);
	free(m->buf);
	free(m);
}

int blz_mapper_open(const struct blz_seedset_opts *o, struct blz_mapper **ret, char *err,
		    size_t errlen)
{
	struct blz_seedset_opts so = *o;
	so.flags |= BLZ_SEEDSET_WRITE;
	struct blz_seedset *set;
	int r = blz_seedset_open(&so, &set, err, errlen);
	if (r < 0)
		return r;
	struct blz_mapper *m = blz_xcalloc(1, sizeof(*m));
	m->set = set;
	m->map = blz_seedset_map(set);
	m->store = blz_seedset_store(set);
	m->virt_off = blz_seedset_layout(set)->virtual_off;
	m->buf = blz_xmalloc(BLZ_MAP_CHUNK);
	blz_chunker_init(&m->ch, m->store, BLZ_MAP_CHUNK);
	blz_map_set_append_check(m->map, chunks_present, m);
	*ret = m;
	return 0;
}

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, BLZ_STORE_DIGEST_LEN);
}

/* The digests of every record of the map's lazy areas, sorted (duplicates kept). The
 * caller holds the map's lock (blz_map_locked: records other writers appended count too). */
static int referenced(struct blz_map *map, blz_chunk_names *out)
{
	int r = 0;
	struct blz_map_stats st;
	blz_map_stats(map, &st);
	struct blz_map_seg seg[64];
	for (int a = BLZ_MAP_AREA_IMPORT; a <= BLZ_MAP_AREA_VIRTUAL && r == 0; a++) {
		uint64_t off = st.area[a].first;
		size_t n = 1;
		while (r == 0 && n && off < st.area[a].end) {
			r = blz_map_lookup(map, off, st.area[a].end - off, seg, 64, &n);
			for (size_t i = 0; r == 0 && i < n; i++) {
				struct blz_chunk_name x;
				memcpy(x.digest, seg[i].rec.digest, sizeof(x.digest));
				if (seg[i].mapped)
					vec_push(out, x);
			}
			off = n ? seg[n - 1].off + seg[n - 1].len : off;
		}
	}
	blz_sort(out->v, out->len, sizeof(*out->v), cmp_digest);
	return r;
}

/* Under the map's exclusive lock: removes the chunks m made that no record references. */
static int remove_unreferenced(struct blz_map *map, void *ctx)
{
	struct blz_mapper *m = ctx;
	blz_chunk_names refs = { 0 };
	int r = referenced(map, &refs);
	if (r == 0)
		for (size_t i = 0; i < m->ch.made.len; i++)
			if (!bsearch(&m->ch.made.v[i], refs.v, refs.len, sizeof(*refs.v), cmp_digest))
				blz_store_remove(m->store, m->ch.made.v[i].digest);
	vec_release(&refs);
	return r;
}

/* After a failed add: removes the chunks it wrote that no record references (another
 * writer may have found one in the store and mapped it meanwhile), holding the map's
 * exclusive lock so that no record is appended between the look and the removal; a writer
 * that found such a chunk before and appends after finds it gone (chunks_present) and
 * fails instead of mapping a missing chunk. When the map cannot be read, nothing is
 * removed. */
static void forget_made(struct blz_mapper *m)
{
	if (m->ch.made.len)
		blz_map_locked(m->map, remove_unreferenced, m);
	m->ch.made.len = 0;
}

/* The append check (under the map's exclusive lock): every chunk the records name is in the
 * store, so that another writer's clean-up (forget_made) cannot have removed one this
 * writer found there. -ENOENT when one is gone. */
static int chunks_present(void *ctx, const struct blz_map_rec *recs, size_t n)
{
	struct blz_mapper *m = ctx;
	for (size_t i = 0; i < n; i++) {
		int r = blz_store_has(m->store, recs[i].digest);
		if (r <= 0)
			return r < 0 ? r : -ENOENT;
	}
	return 0;
}

static int add(struct blz_mapper *m, int fd, const char *name, struct blz_mapped *ret,
	       char *err, size_t errlen);

int blz_mapper_add(struct blz_mapper *m, int fd, const char *name, struct blz_mapped *ret,
		   char *err, size_t errlen)
{
	/* Record offsets are relative to the file here; the append places them. */
	blz_chunker_clear(&m->ch);
	int r = add(m, fd, name, ret, err, errlen);
	if (r < 0)
		forget_made(m);
	return r;
}

static int add(struct blz_mapper *m, int fd, const char *name, struct blz_mapped *ret,
	       char *err, size_t errlen)
{
	uint64_t size = 0;
	int r;
	for (;;) {
		ssize_t n = blz_read_full(fd, m->buf, BLZ_MAP_CHUNK);
		if (n < 0)
			return blz_errf(err, errlen, (int)n, "cannot read '%s': %s", name,
					strerror((int)-n));
		if (n == 0)
			break;
		r = blz_chunker_put(&m->ch, BLZ_MAP_AREA_VIRTUAL, size, m->buf, (size_t)n);
		if (r < 0)
			return blz_errf(err, errlen, r, "cannot store a chunk of '%s': %s", name,
					strerror(-r));
		size += (uint64_t)n;
		if ((size_t)n < BLZ_MAP_CHUNK)
			break;
	}
	memset(ret, 0, sizeof(*ret));
	ret->size = size;
	struct blz_map_rec *recs = m->ch.recs.v;
	size_t nrecs = m->ch.recs.len;
	blz_crash_point("map-stored"); /* chunks in the store, no record yet */
	if (nrecs) {
		r = blz_map_append_alloc(m->map, BLZ_MAP_AREA_VIRTUAL, recs, nrecs);
		if (r < 0)
			return blz_errf(err, errlen, r, "cannot map '%s': %s", name,
					r == -ENOSPC ? "the virtual area is full" : blz_map_error(m->map));
		ret->device_off = recs[0].off;
	} else {
		/* An empty file takes no address space: report where it would start. */
		r = blz_map_alloc(m->map, BLZ_MAP_AREA_VIRTUAL, 4096, &ret->device_off);
		if (r < 0)
			return blz_errf(err, errlen, r, "cannot map '%s': %s", name,
					blz_map_error(m->map));
	}
	ret->virtual_off = ret->device_off - m->virt_off;
	ret->mapped = (size + 4095) & ~4095ull;
	ret->records = nrecs;
	return 0;
}
