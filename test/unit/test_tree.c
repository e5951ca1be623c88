/* Unit tests for lib/btrfs tree building, item encoders, hashes and chunk mapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "btrfs/format.h"
#include "btrfs/inspect.h"
#include "btrfs/items.h"
#include "btrfs/tree.h"
#include "util/crc32c.h"
#include "util/le.h"

/* An in-memory "disk" of tree blocks keyed by address. */
struct mem {
	uint64_t base;
	size_t nblocks;
	uint8_t *blocks;
	size_t writes;
};

static int mem_write(void *opaque, uint64_t logical, const uint8_t *block)
{
	struct mem *m = opaque;
	assert_true(logical >= m->base);
	size_t idx = (logical - m->base) / BTRFS_NODESIZE;
	assert_true(idx < m->nblocks);
	memcpy(m->blocks + idx * BTRFS_NODESIZE, block, BTRFS_NODESIZE);
	m->writes++;
	return 0;
}

static const uint8_t *mem_block(const struct mem *m, uint64_t logical)
{
	return m->blocks + (logical - m->base) / BTRFS_NODESIZE * BTRFS_NODESIZE;
}

static void get_key(const uint8_t *p, struct blz_key *k)
{
	k->objectid = get_le64(p);
	k->type = p[8];
	k->offset = get_le64(p + 9);
}

/* Walks the tree from root, checking structure, and appends leaf items in order. */
static void walk(const struct mem *m, uint64_t addr, int level, const struct blz_key *first,
		 struct blz_key *out, uint32_t *sizes, size_t *nout, uint64_t gen)
{
	const uint8_t *b = mem_block(m, addr);
	assert_int_equal(get_le32(b), blz_crc32c(b + 32, BTRFS_NODESIZE - 32));
	assert_true(get_le64(b + HDR_BYTENR) == addr);
	assert_int_equal(b[HDR_LEVEL], level);
	assert_true(get_le64(b + HDR_GENERATION) == gen);
	uint32_t n = get_le32(b + HDR_NRITEMS);
	if (level == 0) {
		uint32_t prev_start = LEAF_DATA_SIZE;
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *h = b + HDR_SIZE + i * ITEM_HDR_SIZE;
			uint32_t off = get_le32(h + 17), size = get_le32(h + 21);
			/* Item data packed from the end, no gaps. */
			assert_int_equal(off + size, prev_start);
			prev_start = off;
			get_key(h, &out[*nout]);
			if (i == 0 && first)
				assert_int_equal(blz_key_cmp(first, &out[*nout]), 0);
			sizes[*nout] = size;
			(*nout)++;
		}
		return;
	}
	assert_true(n >= 1 && n <= NODE_MAX_PTRS);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *kp = b + HDR_SIZE + i * KEY_PTR_SIZE;
		struct blz_key k;
		get_key(kp, &k);
		if (i == 0 && first)
			assert_int_equal(blz_key_cmp(first, &k), 0);
		assert_true(get_le64(kp + 25) == gen);
		walk(m, get_le64(kp + 17), level - 1, &k, out, sizes, nout, gen);
	}
}

static void build_and_check(size_t nitems, size_t item_size, int expect_levels)
{
	struct blz_items it = { 0 };
	/* Insert in a scrambled order; sorting must restore key order. */
	for (size_t i = 0; i < nitems; i++) {
		uint64_t k = (i * 7919) % nitems;
		uint8_t *p = blz_items_add(&it, k, 1, k * 3, item_size);
		if (item_size >= 8)
			put_le64(p, k);
	}
	assert_int_equal(blz_items_sort(&it), 0);
	struct blz_tree_plan plan;
	assert_int_equal(blz_tree_plan(&it, &plan), 0);
	assert_int_equal(plan.levels, expect_levels);
	size_t per_leaf = LEAF_DATA_SIZE / (ITEM_HDR_SIZE + item_size);
	assert_int_equal(plan.nleaves, nitems ? (nitems + per_leaf - 1) / per_leaf : 1);

	struct mem m = { .base = 1 << 20, .nblocks = plan.total };
	m.blocks = calloc(plan.total, BTRFS_NODESIZE);
	uint64_t *addrs = malloc(plan.total * sizeof(uint64_t));
	for (size_t i = 0; i < plan.total; i++)
		addrs[i] = m.base + i * BTRFS_NODESIZE;
	struct blz_tree_ctx ctx = { .generation = 7, .owner = 5, .write_block = mem_write,
				    .opaque = &m };
	assert_int_equal(blz_tree_write(&it, &plan, addrs, &ctx), 0);
	assert_int_equal(m.writes, plan.total);

	struct blz_key *keys = malloc((nitems + 1) * sizeof(*keys));
	uint32_t *sizes = malloc((nitems + 1) * sizeof(*sizes));
	size_t n = 0;
	walk(&m, addrs[plan.total - 1], plan.levels - 1, NULL, keys, sizes, &n, 7);
	assert_int_equal(n, nitems);
	for (size_t i = 0; i < n; i++) {
		assert_true(keys[i].objectid == i);
		assert_true(keys[i].offset == i * 3);
		assert_int_equal(sizes[i], item_size);
	}
	free(keys);
	free(sizes);
	free(addrs);
	free(m.blocks);
	blz_tree_plan_release(&plan);
	blz_items_release(&it);
}

static void test_single_leaf(void **state)
{
	build_and_check(10, 40, 1);
}

static void test_empty_tree(void **state)
{
	build_and_check(0, 0, 1);
}

static void test_two_levels(void **state)
{
	build_and_check(5000, 100, 2);
}

static void test_hundred_thousand_items(void **state)
{
	/* 10^5 items of 160 bytes: ~1,100 leaves, 3 nodes, one root: three levels. */
	build_and_check(100000, 160, 3);
}

static void test_full_leaf_boundary(void **state)
{
	/* Items that exactly fill a leaf, and one more. */
	size_t size = LEAF_DATA_SIZE / 2 - ITEM_HDR_SIZE;
	build_and_check(2, size, 1);
	build_and_check(3, size, 2);
	build_and_check(1, MAX_ITEM_SIZE, 1);
}

static void test_sort_errors(void **state)
{
	struct blz_items it = { 0 };
	blz_items_add(&it, 5, 1, 0, 10);
	blz_items_add(&it, 5, 1, 0, 10);
	assert_int_equal(blz_items_sort(&it), -EEXIST);
	blz_items_release(&it);
	blz_items_add(&it, 5, 1, 0, MAX_ITEM_SIZE + 1);
	assert_int_equal(blz_items_sort(&it), -E2BIG);
	struct blz_tree_plan plan;
	assert_int_equal(blz_tree_plan(&it, &plan), -E2BIG);
	blz_items_release(&it);
}

static void test_key_order(void **state)
{
	struct blz_key a = { 1, 200, 5 }, b = { 2, 0, 0 }, c = { 1, 200, 6 }, d = { 1, 201, 0 };
	assert_true(blz_key_cmp(&a, &b) < 0);
	assert_true(blz_key_cmp(&a, &c) < 0);
	assert_true(blz_key_cmp(&c, &d) < 0);
	assert_true(blz_key_cmp(&d, &a) > 0);
	assert_int_equal(blz_key_cmp(&a, &a), 0);
}

static void test_name_hash(void **state)
{
	/* Measured on mkfs.btrfs output (shared/docs/btrfs-seed-format.md section 7). */
	assert_int_equal(btrfs_name_hash("small.txt", 9), 474883676u);
	assert_int_equal(btrfs_name_hash("a", 1), blz_crc32c_raw(0xFFFFFFFEu, "a", 1));
	assert_int_not_equal(btrfs_name_hash("a", 1), blz_crc32c("a", 1));
	assert_int_equal(btrfs_extref_hash(256, "x", 1), blz_crc32c_raw(256, "x", 1));
}

static void test_encoders(void **state)
{
	uint8_t p[ROOT_ITEM_SIZE];
	btrfs_put_file_extent_reg(p, 3, 0x123456789000ull, 8192, 0, 8192);
	assert_true(get_le64(p) == 3);
	assert_true(get_le64(p + 8) == 8192); /* ram_bytes */
	assert_int_equal(p[20], BTRFS_FILE_EXTENT_REG);
	assert_true(get_le64(p + 21) == 0x123456789000ull);
	assert_true(get_le64(p + 45) == 8192);

	btrfs_put_data_extent_item(p, 1, 5, 257, 4096);
	assert_true(get_le64(p) == 1); /* refs */
	assert_true(get_le64(p + 16) == BTRFS_EXTENT_FLAG_DATA);
	assert_int_equal(p[24], BTRFS_EXTENT_DATA_REF_KEY);
	assert_true(get_le64(p + 33) == 257);
	assert_int_equal(get_le32(p + 49), 1);

	struct btrfs_chunk_fields cf = { .length = 1ull << 47, .type = BTRFS_BLOCK_GROUP_DATA,
					 .devid = 1, .physical = 512ull << 30 };
	btrfs_put_chunk_item(p, &cf);
	assert_true(get_le64(p) == 1ull << 47);
	assert_true(get_le64(p + 16) == BTRFS_STRIPE_LEN);
	assert_int_equal(get_le16(p + 44), 1);
	assert_true(get_le64(p + 56) == 512ull << 30);

	struct btrfs_root_fields rf = { .generation = 9, .root_dirid = 256, .bytenr = 1 << 20,
					.level = 2 };
	btrfs_put_root_item(p, &rf);
	assert_true(get_le64(p + 160) == 9);
	assert_true(get_le64(p + 176) == 1 << 20);
	assert_int_equal(p[238], 2);
	assert_true(get_le64(p + 239) == 9); /* generation_v2 must match */

	btrfs_put_dir_item(p, 300, BTRFS_INODE_ITEM_KEY, 0, 1, "name", 4, NULL, 0, BTRFS_FT_DIR);
	assert_true(get_le64(p) == 300);
	assert_int_equal(get_le16(p + 27), 4);
	assert_int_equal(p[29], BTRFS_FT_DIR);
	assert_memory_equal(p + 30, "name", 4);
}

static void test_chunk_map(void **state)
{
	struct blz_chunk_info c[] = {
		{ 1 << 20, 4 << 20, BTRFS_BLOCK_GROUP_DATA, 1 << 20, 1 },
		{ 8 << 20, 1 << 20, BTRFS_BLOCK_GROUP_SYSTEM, 8 << 20, 1 },
		{ 512ull << 30, 1ull << 47, BTRFS_BLOCK_GROUP_DATA, 600ull << 30, 1 },
		{ (512ull << 30) + (1ull << 47), 1ull << 47, BTRFS_BLOCK_GROUP_DATA,
		  (600ull << 30) + (1ull << 47), 1 },
	};
	uint64_t phys = 0;
	assert_int_equal(blz_chunk_map(c, 4, 1 << 20, &phys), 0);
	assert_true(phys == 1 << 20);
	assert_int_equal(blz_chunk_map(c, 4, (5 << 20) - 1, &phys), 0);
	assert_true(phys == (5 << 20) - 1);
	assert_int_equal(blz_chunk_map(c, 4, 5 << 20, &phys), -ENOENT);
	assert_int_equal(blz_chunk_map(c, 4, 0, &phys), -ENOENT);
	assert_int_equal(blz_chunk_map(c, 4, (512ull << 30) + 12345, &phys), 0);
	assert_true(phys == (600ull << 30) + 12345);
	assert_int_equal(blz_chunk_map(c, 4, (512ull << 30) + (1ull << 47) + 7, &phys), 0);
	assert_true(phys == (600ull << 30) + (1ull << 47) + 7);
	assert_int_equal(blz_chunk_map(c, 4, (512ull << 30) + (2ull << 47), &phys), -ENOENT);
	assert_int_equal(blz_chunk_map(c, 0, 1 << 20, &phys), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_leaf),
		cmocka_unit_test(test_empty_tree),
		cmocka_unit_test(test_two_levels),
		cmocka_unit_test(test_hundred_thousand_items),
		cmocka_unit_test(test_full_leaf_boundary),
		cmocka_unit_test(test_sort_errors),
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_name_hash),
		cmocka_unit_test(test_encoders),
		cmocka_unit_test(test_chunk_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
