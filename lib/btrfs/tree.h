/*
 * Building btrfs B-trees bottom-up from a sorted list of items.
 *
 * Items are collected into a struct blz_items (keys plus a packed data buffer), sorted,
 * then planned (how many leaves and nodes at each level, which depends only on item
 * sizes) and finally written block by block with checksums.
 */
#ifndef BLZ_BTRFS_TREE_H
#define BLZ_BTRFS_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "btrfs/format.h"
#include "util/strbuf.h"

struct blz_key {
	uint64_t objectid;
	uint8_t type;
	uint64_t offset;
};

int blz_key_cmp(const struct blz_key *a, const struct blz_key *b);

struct blz_item {
	struct blz_key key;
	uint64_t data_off; /* into blz_items.data */
	uint32_t size;
};

struct blz_items {
	VEC(struct blz_item) v;
	struct blz_buf data;
};

/* Appends an item with len zeroed data bytes and returns them for filling in.
 * The pointer is valid until the next add. */
void *blz_items_add(struct blz_items *it, uint64_t objectid, uint8_t type, uint64_t offset,
		    size_t len);
/* Appends len bytes to the most recently added item (for concatenated items). */
void *blz_items_extend_last(struct blz_items *it, size_t len);
static inline uint8_t *blz_item_data(const struct blz_items *it, const struct blz_item *item)
{
	return it->data.data + item->data_off;
}
/* Sorts by key. Returns -EEXIST if two items share a key, -E2BIG if one is too large. */
int blz_items_sort(struct blz_items *it);
void blz_items_release(struct blz_items *it);

/* Shape of a tree: leaf boundaries and the number of blocks on each level. */
struct blz_tree_plan {
	size_t nleaves;
	size_t *leaf_first;   /* nleaves + 1 entries: items [leaf_first[i], leaf_first[i+1]) */
	int levels;           /* 1 = a single leaf */
	size_t nblocks[BTRFS_MAX_LEVEL];
	size_t total;         /* blocks in all levels */
};

/* Greedy leaf packing (optimal for ordered items) and even node fan-out.
 * An empty item list plans one empty leaf. */
int blz_tree_plan(const struct blz_items *it, struct blz_tree_plan *ret);
void blz_tree_plan_release(struct blz_tree_plan *p);

struct blz_tree_ctx {
	uint8_t fsid[16];
	uint8_t chunk_tree_uuid[16];
	uint64_t generation;
	uint64_t owner;
	/* Called for every finished block (checksummed) with its logical address. */
	int (*write_block)(void *opaque, uint64_t logical, const uint8_t *block);
	void *opaque;
};

/*
 * Writes the planned tree. Block addresses come from addrs[0..plan->total): leaves in
 * order first, then each level's nodes; the root is the last. Returns 0 or -errno.
 */
int blz_tree_write(const struct blz_items *it, const struct blz_tree_plan *plan,
		   const uint64_t *addrs, const struct blz_tree_ctx *ctx);

/* Computes and stores the crc32c of a tree block (bytes 32..nodesize). */
void blz_tree_block_csum(uint8_t *block);

#endif
