#include "lazywrite/chunker.h"

#include <errno.h>
#include <string.h>

#include "store/store.h"
#include "util/sha256.h"

void blz_chunker_init(struct blz_chunker *c, struct blz_store *store, uint32_t chunk_max)
{
	memset(c, 0, sizeof(*c));
	c->store = store;
	c->chunk_max = chunk_max;
}

/* One chunk: into the store unless it is there already, and its record. */
static int put_one(struct blz_chunker *c, int area, uint64_t off, const uint8_t *buf, uint32_t n)
{
	struct blz_map_rec rec = { .off = off, .len = (n + BLZ_MAP_BLOCK - 1) & ~(BLZ_MAP_BLOCK - 1),
				   .data_len = n, .area = (uint8_t)area };
	blz_sha256(buf, n, rec.digest);
	if (blz_store_has(c->store, rec.digest) == 1) {
		c->st.dedup_chunks++;
		c->st.dedup_bytes += n;
	} else {
		int r = blz_store_put(c->store, buf, n, rec.digest);
		if (r < 0)
			return r;
		struct blz_chunk_name made;
		memcpy(made.digest, rec.digest, sizeof(made.digest));
		vec_push(&c->made, made);
	}
	c->st.chunks++;
	c->st.bytes += n;
	vec_push(&c->recs, rec);
	return 0;
}

int blz_chunker_put(struct blz_chunker *c, int area, uint64_t off, const void *buf, size_t len)
{
	if (off % BLZ_MAP_BLOCK || !c->chunk_max || c->chunk_max % BLZ_MAP_BLOCK)
		return -EINVAL;
	size_t had = c->recs.len;
	struct blz_chunker_stats st = c->st;
	const uint8_t *p = buf;
	for (size_t done = 0; done < len;) {
		uint32_t n = len - done < c->chunk_max ? (uint32_t)(len - done) : c->chunk_max;
		int r = put_one(c, area, off + done, p + done, n);
		if (r < 0) {
			c->recs.len = had;
			c->st = st;
			return r;
		}
		done += n;
	}
	return 0;
}

void blz_chunker_clear(struct blz_chunker *c)
{
	c->recs.len = 0;
	c->made.len = 0;
}

void blz_chunker_release(struct blz_chunker *c)
{
	vec_release(&c->recs);
	vec_release(&c->made);
}
