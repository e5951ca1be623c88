/* Unit tests for the seed writer (lib/btrfs/writer.h) through its reader (inspect.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "btrfs/format.h"
#include "btrfs/inspect.h"
#include "btrfs/writer.h"
#include "util/fileio.h"
#include "util/le.h"

static int tmpfd(void)
{
	char path[] = "/tmp/blazy-unit-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static void opts_fixed(struct blz_seed_opts *o, uint64_t vsize)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < 16; i++)
		o->fsid[i] = (uint8_t)(i * 17 + 1);
	o->fsid_set = true;
	o->virtual_size = vsize;
	o->timestamp.tv_sec = 1700000000;
}

static struct blz_inode *add_file(struct blz_seed *s, const char *name, const void *data,
				  uint64_t size)
{
	struct blz_fstree *t = blz_seed_tree(s);
	struct blz_inode *f = blz_fstree_new_inode(t, S_IFREG | 0644);
	assert_int_equal(blz_fstree_link(t, t->root, name, strlen(name), f), 0);
	assert_int_equal(blz_seed_data_begin(s, f, size, name), 0);
	if (size)
		assert_int_equal(blz_seed_data_write(s, data, size), 0);
	assert_int_equal(blz_seed_data_end(s), 0);
	return f;
}

static void write_seed(int fd, uint64_t vsize, struct blz_seed_layout *lay)
{
	struct blz_seed_opts o;
	opts_fixed(&o, vsize);
	struct blz_seed *s;
	assert_int_equal(blz_seed_new(&s, fd, &o), 0);
	uint8_t buf[10000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	add_file(s, "small", buf, 100);
	add_file(s, "medium", buf, sizeof(buf));
	add_file(s, "empty", buf, 0);
	assert_int_equal(blz_seed_finish(s, lay), 0);
	blz_seed_free(s);
}

static void check_virtual(uint64_t vsize, uint64_t expect_chunks)
{
	int fd = tmpfd();
	struct blz_seed_layout lay;
	write_seed(fd, vsize, &lay);
	assert_true(lay.virtual_size == vsize);
	assert_true(lay.virtual_chunks == expect_chunks);
	assert_true(lay.virtual_off >= BLZ_VIRTUAL_MIN_OFFSET);
	assert_true(lay.device_size == lay.virtual_off + vsize);
	assert_true(lay.local_end <= lay.virtual_off);

	struct blz_seed_info in;
	char err[256];
	assert_int_equal(blz_seed_inspect(fd, &in, err, sizeof(err)), 0);
	assert_true(in.virtual_off == lay.virtual_off);
	assert_true(in.virtual_size == vsize);
	assert_true(in.virtual_chunks == expect_chunks);
	assert_true(in.device_size == lay.device_size);
	assert_true(in.super_flags & BTRFS_SUPER_FLAG_SEEDING);
	assert_true(in.inodes == 6); /* root, 3 files, .blazy, virtual */
	/* Every virtual chunk is DATA, at most 128 TiB, back to back, logical = physical. */
	uint64_t expect = lay.virtual_off, nvirt = 0;
	for (size_t i = 0; i < in.nchunks; i++) {
		const struct blz_chunk_info *c = &in.chunks[i];
		assert_true(c->logical == c->physical);
		assert_true(c->length <= BLZ_MAX_CHUNK_SIZE);
		if (c->logical < lay.virtual_off) {
			assert_true(c->logical + c->length <= lay.local_end);
			continue;
		}
		assert_true(c->type == BTRFS_BLOCK_GROUP_DATA);
		assert_true(c->logical == expect);
		expect += c->length;
		nvirt++;
	}
	assert_true(nvirt == expect_chunks);
	assert_true(expect == lay.virtual_off + vsize);
	/* Superblock mirrors exist where they fit and lie outside every chunk. */
	for (int m = 0; m < BTRFS_SUPER_MIRROR_MAX; m++) {
		uint64_t off = btrfs_sb_offset(m);
		if (off + 4096 > lay.device_size)
			continue;
		uint8_t sb[4096];
		assert_int_equal(blz_pread_full(fd, sb, sizeof(sb), off), 0);
		assert_true(get_le64(sb + SB_MAGIC) == BTRFS_MAGIC);
		assert_true(get_le64(sb + SB_BYTENR) == off);
		uint64_t phys;
		assert_int_equal(blz_chunk_map(in.chunks, in.nchunks, off, &phys), -ENOENT);
	}
	blz_seed_info_release(&in);
	close(fd);
}

static void test_virtual_1t(void **state)
{
	check_virtual(1ull << 40, 1);
}

static void test_virtual_1p(void **state)
{
	check_virtual(1ull << 50, 8);
}

static void test_virtual_4e(void **state)
{
	check_virtual(4ull << 60, 32768);
}

static void test_virtual_partial_chunk(void **state)
{
	check_virtual((1ull << 47) + 4096, 2);
}

static void test_deterministic(void **state)
{
	int a = tmpfd(), b = tmpfd();
	struct blz_seed_layout la, lb;
	write_seed(a, 1ull << 40, &la);
	write_seed(b, 1ull << 40, &lb);
	assert_true(la.local_end == lb.local_end);
	/* Compare the populated parts (the rest is sparse zeros). */
	uint8_t *x = malloc(1 << 20), *y = malloc(1 << 20);
	uint64_t end = la.local_end;
	for (uint64_t off = 0; off < end; off += 1 << 20) {
		off_t da = lseek(a, (off_t)off, SEEK_DATA);
		if (da < 0)
			break;
		off = (uint64_t)da & ~((1ull << 20) - 1);
		ssize_t n = pread(a, x, 1 << 20, (off_t)off);
		assert_true(pread(b, y, 1 << 20, (off_t)off) == n);
		assert_memory_equal(x, y, (size_t)n);
	}
	free(x);
	free(y);
	close(a);
	close(b);
}

static void test_size_mismatch(void **state)
{
	int fd = tmpfd();
	struct blz_seed_opts o;
	opts_fixed(&o, 0);
	struct blz_seed *s;
	assert_int_equal(blz_seed_new(&s, fd, &o), 0);
	struct blz_fstree *t = blz_seed_tree(s);
	struct blz_inode *f = blz_fstree_new_inode(t, S_IFREG | 0644);
	blz_fstree_link(t, t->root, "f", 1, f);
	uint8_t buf[8192] = { 1 };
	assert_int_equal(blz_seed_data_begin(s, f, 5000, "f"), 0);
	assert_int_equal(blz_seed_data_write(s, buf, 8192), -EIO);
	assert_non_null(strstr(blz_seed_error(s), "'f'"));
	assert_int_equal(blz_seed_data_begin(s, f, 5000, "f"), 0);
	assert_int_equal(blz_seed_data_write(s, buf, 4000), 0);
	assert_int_equal(blz_seed_data_end(s), -EIO);
	assert_non_null(strstr(blz_seed_error(s), "4000"));
	blz_seed_free(s);
	close(fd);
}

static void test_reserved_name(void **state)
{
	int fd = tmpfd();
	struct blz_seed_opts o;
	opts_fixed(&o, 1ull << 40);
	struct blz_seed *s;
	assert_int_equal(blz_seed_new(&s, fd, &o), 0);
	struct blz_fstree *t = blz_seed_tree(s);
	blz_fstree_link(t, t->root, ".blazy", 6, blz_fstree_new_inode(t, S_IFDIR | 0755));
	assert_int_equal(blz_seed_finish(s, NULL), -EEXIST);
	assert_non_null(strstr(blz_seed_error(s), ".blazy"));
	blz_seed_free(s);
	close(fd);
}

static void test_bad_options(void **state)
{
	struct blz_seed_opts o;
	struct blz_seed *s = NULL;
	opts_fixed(&o, 4095);
	assert_int_equal(blz_seed_new(&s, 0, &o), -EINVAL);
	opts_fixed(&o, 0);
	o.virtual_chunk = (1ull << 47) + 4096;
	assert_int_equal(blz_seed_new(&s, 0, &o), -EINVAL);
	assert_null(s);
}

/* Data crossing the 64 MiB superblock mirror is split around it. */
static void test_data_skips_mirror(void **state)
{
	int fd = tmpfd();
	struct blz_seed_opts o;
	opts_fixed(&o, 0);
	struct blz_seed *s;
	assert_int_equal(blz_seed_new(&s, fd, &o), 0);
	struct blz_fstree *t = blz_seed_tree(s);
	struct blz_inode *f = blz_fstree_new_inode(t, S_IFREG | 0644);
	blz_fstree_link(t, t->root, "big", 3, f);
	uint64_t size = 80ull << 20;
	uint8_t *buf = malloc(1 << 20);
	memset(buf, 0xab, 1 << 20);
	assert_int_equal(blz_seed_data_begin(s, f, size, "big"), 0);
	for (uint64_t i = 0; i < size; i += 1 << 20)
		assert_int_equal(blz_seed_data_write(s, buf, 1 << 20), 0);
	assert_int_equal(blz_seed_data_end(s), 0);
	/* Extents are contiguous in the file, none touches the mirror stripe. */
	uint64_t next = 0, mirror = btrfs_sb_offset(1);
	for (size_t i = 0; i < f->extents.len; i++) {
		const struct blz_file_extent *e = &f->extents.v[i];
		assert_true(e->file_off == next);
		assert_true(e->len <= BTRFS_MAX_EXTENT_SIZE);
		assert_true(e->disk + e->len <= mirror || e->disk >= mirror + BTRFS_STRIPE_LEN);
		next += e->len;
	}
	assert_true(next == size);
	assert_true(f->extents.len >= 2);
	struct blz_seed_layout lay;
	assert_int_equal(blz_seed_finish(s, &lay), 0);
	assert_true(lay.local_data_bytes == size);
	uint8_t sb[4096];
	assert_int_equal(blz_pread_full(fd, sb, sizeof(sb), mirror), 0);
	assert_true(get_le64(sb + SB_MAGIC) == BTRFS_MAGIC);
	blz_seed_free(s);
	free(buf);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_virtual_1t),
		cmocka_unit_test(test_virtual_1p),
		cmocka_unit_test(test_virtual_4e),
		cmocka_unit_test(test_virtual_partial_chunk),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_size_mismatch),
		cmocka_unit_test(test_reserved_name),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_data_skips_mirror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
