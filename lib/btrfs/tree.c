#include "btrfs/tree.h"

#include <errno.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/le.h"

int blz_key_cmp(const struct blz_key *a, const struct blz_key *b)
{
	if (a->objectid != b->objectid)
		return a->objectid < b->objectid ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return 0;
}

void *blz_items_add(struct blz_items *it, uint64_t objectid, uint8_t type, uint64_t offset,
		    size_t len)
{
	struct blz_item item = {
		.key = { objectid, type, offset },
		.data_off = it->data.len,
		.size = (uint32_t)len,
	};
	vec_push(&it->v, item);
	return blz_buf_grow(&it->data, len);
}

void *blz_items_extend_last(struct blz_items *it, size_t len)
{
	struct blz_item *last = &it->v.v[it->v.len - 1];
	last->size += (uint32_t)len;
	return blz_buf_grow(&it->data, len);
}

static int item_cmp(const void *a, const void *b)
{
	const struct blz_item *x = a, *y = b;
	int c = blz_key_cmp(&x->key, &y->key);
	if (c)
		return c;
	/* Keep equal keys in insertion order so the duplicate is reported deterministically. */
	return x->data_off < y->data_off ? -1 : x->data_off > y->data_off;
}

int blz_items_sort(struct blz_items *it)
{
	blz_sort(it->v.v, it->v.len, sizeof(struct blz_item), item_cmp);
	for (size_t i = 0; i < it->v.len; i++) {
		if (it->v.v[i].size > MAX_ITEM_SIZE)
			return -E2BIG;
		if (i && blz_key_cmp(&it->v.v[i - 1].key, &it->v.v[i].key) == 0)
			return -EEXIST;
	}
	return 0;
}

void blz_items_release(struct blz_items *it)
{
	vec_release(&it->v);
	blz_buf_release(&it->data);
}

int blz_tree_plan(const struct blz_items *it, struct blz_tree_plan *ret)
{
	struct blz_tree_plan p = { 0 };
	p.leaf_first = blz_xmalloc((it->v.len + 2) * sizeof(size_t));
	size_t used = 0, i;
	p.leaf_first[0] = 0;
	p.nleaves = 0;
	for (i = 0; i < it->v.len; i++) {
		size_t need = ITEM_HDR_SIZE + it->v.v[i].size;
		if (need > LEAF_DATA_SIZE) {
			free(p.leaf_first);
			return -E2BIG;
		}
		if (used + need > LEAF_DATA_SIZE) {
			p.leaf_first[++p.nleaves] = i;
			used = 0;
		}
		used += need;
	}
	p.leaf_first[++p.nleaves] = it->v.len;
	p.nblocks[0] = p.nleaves;
	p.total = p.nleaves;
	p.levels = 1;
	size_t n = p.nleaves;
	while (n > 1) {
		if (p.levels >= BTRFS_MAX_LEVEL) {
			free(p.leaf_first);
			return -E2BIG;
		}
		n = (n + NODE_MAX_PTRS - 1) / NODE_MAX_PTRS;
		p.nblocks[p.levels++] = n;
		p.total += n;
	}
	*ret = p;
	return 0;
}

void blz_tree_plan_release(struct blz_tree_plan *p)
{
	free(p->leaf_first);
	p->leaf_first = NULL;
}

void blz_tree_block_csum(uint8_t *block)
{
	uint32_t c = blz_crc32c(block + BTRFS_CSUM_SIZE, BTRFS_NODESIZE - BTRFS_CSUM_SIZE);
	memset(block, 0, BTRFS_CSUM_SIZE);
	put_le32(block, c);
}

static void put_key(uint8_t *p, const struct blz_key *k)
{
	put_le64(p, k->objectid);
	p[8] = k->type;
	put_le64(p + 9, k->offset);
}

static void put_header(uint8_t *b, const struct blz_tree_ctx *ctx, uint64_t bytenr,
		       uint32_t nritems, uint8_t level)
{
	memcpy(b + HDR_FSID, ctx->fsid, 16);
	put_le64(b + HDR_BYTENR, bytenr);
	put_le64(b + HDR_FLAGS,
		 BTRFS_HEADER_FLAG_WRITTEN | (BTRFS_MIXED_BACKREF_REV << BTRFS_BACKREF_REV_SHIFT));
	memcpy(b + HDR_CHUNK_TREE_UUID, ctx->chunk_tree_uuid, 16);
	put_le64(b + HDR_GENERATION, ctx->generation);
	put_le64(b + HDR_OWNER, ctx->owner);
	put_le32(b + HDR_NRITEMS, nritems);
	b[HDR_LEVEL] = level;
}

int blz_tree_write(const struct blz_items *it, const struct blz_tree_plan *plan,
		   const uint64_t *addrs, const struct blz_tree_ctx *ctx)
{
	uint8_t *block = blz_xmalloc(BTRFS_NODESIZE);
	/* First key of every block on the level being built, for the parents. */
	struct blz_key *keys = blz_xmalloc((plan->nleaves + 1) * sizeof(*keys));
	int r = 0;

	for (size_t l = 0; l < plan->nleaves; l++) {
		memset(block, 0, BTRFS_NODESIZE);
		size_t first = plan->leaf_first[l], end = plan->leaf_first[l + 1];
		uint32_t data_end = LEAF_DATA_SIZE;
		for (size_t i = first; i < end; i++) {
			const struct blz_item *item = &it->v.v[i];
			uint8_t *h = block + HDR_SIZE + (i - first) * ITEM_HDR_SIZE;
			data_end -= item->size;
			put_key(h, &item->key);
			put_le32(h + 17, data_end);
			put_le32(h + 21, item->size);
			memcpy(block + HDR_SIZE + data_end, blz_item_data(it, item), item->size);
		}
		put_header(block, ctx, addrs[l], (uint32_t)(end - first), 0);
		blz_tree_block_csum(block);
		if (first < end)
			keys[l] = it->v.v[first].key;
		else
			memset(&keys[l], 0, sizeof(keys[l]));
		r = ctx->write_block(ctx->opaque, addrs[l], block);
		if (r < 0)
			goto out;
	}

	size_t below_first = 0, nbelow = plan->nleaves, base = plan->nleaves;
	for (int level = 1; level < plan->levels; level++) {
		size_t n = plan->nblocks[level];
		size_t per = nbelow / n, extra = nbelow % n, child = 0;
		for (size_t b = 0; b < n; b++) {
			size_t cnt = per + (b < extra ? 1 : 0);
			memset(block, 0, BTRFS_NODESIZE);
			for (size_t j = 0; j < cnt; j++, child++) {
				uint8_t *kp = block + HDR_SIZE + j * KEY_PTR_SIZE;
				put_key(kp, &keys[child]);
				put_le64(kp + 17, addrs[below_first + child]);
				put_le64(kp + 25, ctx->generation);
			}
			put_header(block, ctx, addrs[base + b], (uint32_t)cnt, (uint8_t)level);
			blz_tree_block_csum(block);
			r = ctx->write_block(ctx->opaque, addrs[base + b], block);
			if (r < 0)
				goto out;
		}
		/* Parents' first keys are their first child's first keys. */
		child = 0;
		for (size_t b = 0; b < n; b++) {
			size_t cnt = per + (b < extra ? 1 : 0);
			keys[b] = keys[child];
			child += cnt;
		}
		below_first = base;
		nbelow = n;
		base += n;
	}
out:
	free(keys);
	free(block);
	return r;
}
