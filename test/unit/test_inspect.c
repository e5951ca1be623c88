/* Unit tests for the seed reader (lib/btrfs/inspect.h) on crafted images: hostile trees
 * with valid checksums must fail fast, with a message, and leave nothing allocated. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "btrfs/format.h"
#include "btrfs/inspect.h"
#include "btrfs/tree.h"
#include "btrfs/writer.h"
#include "util/crc32c.h"
#include "util/fileio.h"
#include "util/le.h"

/* A small valid seed: a few files and a 1 TiB virtual area. */
static int make_seed(void)
{
	int fd = memfd_create("seed", MFD_CLOEXEC);
	assert_true(fd >= 0);
	struct blz_seed_opts o = { .fsid_set = true, .virtual_size = 1ull << 40 };
	for (int i = 0; i < 16; i++)
		o.fsid[i] = (uint8_t)(i * 13 + 5);
	o.timestamp.tv_sec = 1700000000;
	struct blz_seed *s;
	assert_int_equal(blz_seed_new(&s, fd, &o), 0);
	struct blz_fstree *t = blz_seed_tree(s);
	for (int i = 0; i < 3; i++) {
		char name[8] = { 'f', (char)('0' + i), 0 };
		struct blz_inode *f = blz_fstree_new_inode(t, S_IFREG | 0644);
		assert_int_equal(blz_fstree_link(t, t->root, name, 2, f), 0);
		assert_int_equal(blz_seed_data_begin(s, f, 5000, name), 0);
		uint8_t buf[5000];
		memset(buf, 'a' + i, sizeof(buf));
		assert_int_equal(blz_seed_data_write(s, buf, sizeof(buf)), 0);
		assert_int_equal(blz_seed_data_end(s), 0);
	}
	struct blz_seed_layout lay;
	assert_int_equal(blz_seed_finish(s, &lay), 0);
	blz_seed_free(s);
	return fd;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_super(int fd, uint8_t *sb)
{
	put_le32(sb, blz_crc32c(sb + BTRFS_CSUM_SIZE, BTRFS_SUPER_INFO_SIZE - BTRFS_CSUM_SIZE));
	assert_int_equal(blz_pwrite_full(fd, sb, BTRFS_SUPER_INFO_SIZE, BTRFS_SUPER_INFO_OFFSET), 0);
}

/* Inspects a crafted image: it must fail within a second with a message naming why, and
 * hand back no chunk array. */
static void expect_fast_failure(int fd, const char *why)
{
	struct blz_seed_info in;
	char err[256];
	double t0 = now_s();
	int r = blz_seed_inspect(fd, &in, err, sizeof(err));
	double dt = now_s() - t0;
	print_message("inspect: %d '%s' after %.3f s\n", r, err, dt);
	assert_true(r < 0);
	assert_non_null(strstr(err, why));
	assert_true(dt < 1.0);
	assert_null(in.chunks);
	blz_seed_info_release(&in);
}

/*
 * The root tree's root replaced by a tower of nodes, each of whose NODE_MAX_PTRS pointers
 * all lead to the one node below it, down to the real root-tree leaf (the tower sits at the
 * end of the metadata chunk): every block has a
 * valid checksum and level, yet a walk that follows every pointer reads the leaf
 * NODE_MAX_PTRS^levels times (493^4: years).
 */
enum { LEVELS = 4 };

static void test_converging_pointers(void **state)
{
	int fd = make_seed();
	struct blz_seed_info in;
	char err[256];
	assert_int_equal(blz_seed_inspect(fd, &in, err, sizeof(err)), 0);
	uint8_t sb[BTRFS_SUPER_INFO_SIZE];
	assert_int_equal(blz_pread_full(fd, sb, sizeof(sb), BTRFS_SUPER_INFO_OFFSET), 0);
	uint64_t leaf = get_le64(sb + SB_ROOT);
	assert_int_equal(sb[SB_ROOT_LEVEL], 0);
	const struct blz_chunk_info *meta = NULL;
	for (size_t i = 0; i < in.nchunks; i++)
		if (in.chunks[i].type & BTRFS_BLOCK_GROUP_METADATA)
			meta = &in.chunks[i];
	assert_non_null(meta);
	assert_true(meta->length >= (LEVELS + 2) * BTRFS_NODESIZE);

	uint8_t *block = malloc(BTRFS_NODESIZE);
	assert_int_equal(blz_pread_full(fd, block, BTRFS_NODESIZE, leaf), 0); /* logical = physical */
	uint8_t first_key[DISK_KEY_SIZE];
	memcpy(first_key, block + HDR_SIZE, DISK_KEY_SIZE);
	uint8_t hdr[HDR_SIZE];
	memcpy(hdr, block, HDR_SIZE);

	uint64_t below = leaf, addr = meta->logical + meta->length - (LEVELS + 1) * BTRFS_NODESIZE;
	for (int level = 1; level <= LEVELS; level++) {
		if (addr == leaf)
			addr += BTRFS_NODESIZE;
		assert_true(addr + BTRFS_NODESIZE <= meta->logical + meta->length);
		memset(block, 0, BTRFS_NODESIZE);
		memcpy(block, hdr, HDR_SIZE);
		put_le64(block + HDR_BYTENR, addr);
		put_le32(block + HDR_NRITEMS, NODE_MAX_PTRS);
		block[HDR_LEVEL] = (uint8_t)level;
		for (uint32_t i = 0; i < NODE_MAX_PTRS; i++) {
			uint8_t *kp = block + HDR_SIZE + (size_t)i * KEY_PTR_SIZE;
			memcpy(kp, first_key, DISK_KEY_SIZE);
			put_le64(kp + 17, below);
			put_le64(kp + 25, get_le64(hdr + HDR_GENERATION));
		}
		blz_tree_block_csum(block);
		assert_int_equal(blz_pwrite_full(fd, block, BTRFS_NODESIZE, addr), 0);
		below = addr;
		addr += BTRFS_NODESIZE;
	}
	put_le64(sb + SB_ROOT, below);
	sb[SB_ROOT_LEVEL] = LEVELS;
	put_super(fd, sb);
	expect_fast_failure(fd, "more than once");

	/* A root level beyond what btrfs allows is refused before anything is read. */
	put_le64(sb + SB_ROOT, leaf);
	sb[SB_ROOT_LEVEL] = 200;
	put_super(fd, sb);
	expect_fast_failure(fd, "level 200");

	free(block);
	blz_seed_info_release(&in);
	close(fd);
}

/* A failure after the system chunk array was read leaves no chunk array behind. */
static void test_failure_releases_chunks(void **state)
{
	int fd = make_seed();
	uint8_t sb[BTRFS_SUPER_INFO_SIZE];
	assert_int_equal(blz_pread_full(fd, sb, sizeof(sb), BTRFS_SUPER_INFO_OFFSET), 0);
	put_le64(sb + SB_ROOT, get_le64(sb + SB_ROOT) + 1); /* unaligned root tree */
	put_super(fd, sb);
	expect_fast_failure(fd, "not aligned");
	close(fd);
}

/* ---- a sprout's device list (blz_sprout_inspect) ---- */

static int sprout_inspect(int fd, int other_fd, const uint8_t *other_fsid,
			  struct blz_sprout_info *sp, char *err)
{
	int r = blz_sprout_inspect(fd, other_fd, other_fsid, sp, err, 256);
	print_message("sprout inspect: %d '%s'\n", r, r < 0 ? err : "");
	return r;
}

/* The DEV_ITEM in the chunk tree's leaf (the seed's chunk tree is one leaf; logical =
 * physical): edit(data) changes it, then the leaf is checksummed and written back. */
static void edit_dev_item(int fd, void (*edit)(uint8_t *data))
{
	uint8_t sb[BTRFS_SUPER_INFO_SIZE], *leaf = malloc(BTRFS_NODESIZE);
	assert_int_equal(blz_pread_full(fd, sb, sizeof(sb), BTRFS_SUPER_INFO_OFFSET), 0);
	assert_int_equal(sb[SB_CHUNK_ROOT_LEVEL], 0);
	uint64_t at = get_le64(sb + SB_CHUNK_ROOT);
	assert_int_equal(blz_pread_full(fd, leaf, BTRFS_NODESIZE, at), 0);
	int found = 0;
	for (uint32_t i = 0; i < get_le32(leaf + HDR_NRITEMS); i++) {
		uint8_t *h = leaf + HDR_SIZE + (size_t)i * ITEM_HDR_SIZE;
		if (h[8] == BTRFS_DEV_ITEM_KEY) {
			edit(leaf + HDR_SIZE + get_le32(h + 17));
			found++;
		}
	}
	assert_int_equal(found, 1);
	blz_tree_block_csum(leaf);
	assert_int_equal(blz_pwrite_full(fd, leaf, BTRFS_NODESIZE, at), 0);
	free(leaf);
}

static void other_fsid(uint8_t *d) { memset(d + 82, 0xab, 16); }
static void wrong_devid(uint8_t *d) { put_le64(d, 7); }

/* A seed read as a device: one device, no seed below it; no btrfs at all: -ENODATA. */
static void test_sprout_plain(void **state)
{
	int fd = make_seed();
	struct blz_seed_info in;
	struct blz_sprout_info sp;
	char err[256];
	assert_int_equal(blz_seed_inspect(fd, &in, err, sizeof(err)), 0);
	assert_int_equal(sprout_inspect(fd, -1, NULL, &sp, err), 0);
	assert_memory_equal(sp.fsid, in.fsid, 16);
	assert_int_equal(sp.ndevs, 1);
	assert_int_equal(sp.self.devid, in.devid);
	assert_memory_equal(sp.devs[0].uuid, in.dev_uuid, 16);
	assert_memory_equal(sp.devs[0].fsid, in.fsid, 16);
	assert_null(blz_sprout_seed_dev(&sp));
	blz_seed_info_release(&in);
	close(fd);

	int zero = memfd_create("zero", MFD_CLOEXEC);
	assert_int_equal(ftruncate(zero, 1 << 20), 0);
	assert_int_equal(sprout_inspect(zero, -1, NULL, &sp, err), -ENODATA);
	assert_int_equal(ftruncate(zero, 4096), 0);
	assert_int_equal(sprout_inspect(zero, -1, NULL, &sp, err), -ENODATA);
	close(zero);
}

/* A device item naming another filesystem is the seed it was sprouted from. */
static void test_sprout_seed_dev(void **state)
{
	int fd = make_seed();
	struct blz_sprout_info sp;
	char err[256];
	edit_dev_item(fd, other_fsid);
	assert_int_equal(sprout_inspect(fd, -1, NULL, &sp, err), 0);
	const struct blz_btrfs_dev *d = blz_sprout_seed_dev(&sp);
	assert_non_null(d);
	for (int i = 0; i < 16; i++)
		assert_int_equal(d->fsid[i], 0xab);
	close(fd);
}

/* Hostile metadata fails with a message: a malformed device item, a device list without this
 * device, a chunk root outside every chunk, a bad superblock checksum. */
static void test_sprout_hostile(void **state)
{
	struct blz_sprout_info sp;
	char err[256];
	int fd = make_seed();
	edit_dev_item(fd, wrong_devid);
	assert_int_equal(sprout_inspect(fd, -1, NULL, &sp, err), -EBADMSG);
	assert_non_null(strstr(err, "malformed"));
	close(fd);

	uint8_t sb[BTRFS_SUPER_INFO_SIZE];
	fd = make_seed();
	assert_int_equal(blz_pread_full(fd, sb, sizeof(sb), BTRFS_SUPER_INFO_OFFSET), 0);
	sb[SB_DEV_ITEM + 66] ^= 1;
	put_super(fd, sb);
	assert_int_equal(sprout_inspect(fd, -1, NULL, &sp, err), -EBADMSG);
	assert_non_null(strstr(err, "does not name this device"));
	sb[SB_DEV_ITEM + 66] ^= 1;
	uint64_t root = get_le64(sb + SB_CHUNK_ROOT);
	put_le64(sb + SB_CHUNK_ROOT, 1ull << 50);
	put_super(fd, sb);
	assert_int_equal(sprout_inspect(fd, -1, NULL, &sp, err), -EUCLEAN);
	assert_non_null(strstr(err, "outside every chunk"));
	put_le64(sb + SB_CHUNK_ROOT, root + 4096);
	put_super(fd, sb);
	assert_true(sprout_inspect(fd, -1, NULL, &sp, err) < 0);
	put_le64(sb + SB_CHUNK_ROOT, root);
	put_super(fd, sb);
	assert_int_equal(sprout_inspect(fd, -1, NULL, &sp, err), 0);
	sb[SB_GENERATION] ^= 1; /* not re-checksummed */
	assert_int_equal(blz_pwrite_full(fd, sb, sizeof(sb), BTRFS_SUPER_INFO_OFFSET), 0);
	assert_int_equal(sprout_inspect(fd, -1, NULL, &sp, err), -EBADMSG);
	assert_non_null(strstr(err, "checksum"));
	close(fd);
}

/* Chunk-tree blocks on another device (the seed, in a sprout) are read from other_fd with
 * the other fsid in their headers, and refused without it. */
static void test_sprout_other_device(void **state)
{
	int fd = make_seed();
	struct blz_sprout_info sp;
	char err[256];
	uint8_t sb[BTRFS_SUPER_INFO_SIZE], fsid[16];
	assert_int_equal(blz_pread_full(fd, sb, sizeof(sb), BTRFS_SUPER_INFO_OFFSET), 0);
	memcpy(fsid, sb + SB_FSID, 16);
	/* The system chunk's stripe on device 2, not on this device (1). */
	uint8_t *stripe_devid = sb + SB_SYS_CHUNK_ARRAY + DISK_KEY_SIZE + 48;
	assert_int_equal(get_le64(stripe_devid), 1);
	put_le64(stripe_devid, 2);
	put_super(fd, sb);
	assert_int_equal(sprout_inspect(fd, -1, NULL, &sp, err), -EUCLEAN);
	assert_non_null(strstr(err, "on device 2"));
	assert_int_equal(sprout_inspect(fd, fd, fsid, &sp, err), 0);
	assert_int_equal(sp.ndevs, 1);
	fsid[0] ^= 1; /* the other device's blocks must carry its fsid */
	assert_int_equal(sprout_inspect(fd, fd, fsid, &sp, err), -EBADMSG);
	close(fd);
}

static void test_file_ranges(void **state)
{
	int fd = make_seed();
	const char *paths[] = { "f0", "/f2", "nope", "f1/x", "f1" };
	struct blz_seed_range *g = NULL;
	size_t n = 0;
	char err[256];
	assert_int_equal(blz_seed_file_ranges(fd, paths, 5, &g, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	const size_t want_path[] = { 0, 1, 2, 3, 4 };
	const char fill[] = { 'a', 'c', 0, 0, 'b' };
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(g[i].path, want_path[i]);
		assert_int_equal(g[i].missing, fill[i] == 0);
		if (g[i].missing)
			continue;
		assert_int_equal(g[i].file_off, 0);
		assert_true(g[i].len >= 5000);
		uint8_t buf[5000], want[5000];
		memset(want, fill[i], sizeof(want));
		assert_int_equal(blz_pread_full(fd, buf, sizeof(buf), g[i].dev_off), 0);
		assert_memory_equal(buf, want, sizeof(buf));
	}
	free(g);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_ranges),
		cmocka_unit_test(test_converging_pointers),
		cmocka_unit_test(test_failure_releases_chunks),
		cmocka_unit_test(test_sprout_plain),
		cmocka_unit_test(test_sprout_seed_dev),
		cmocka_unit_test(test_sprout_hostile),
		cmocka_unit_test(test_sprout_other_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
