/* Unit tests for lib/mount: the mountinfo parser and the choice of mounts to prune. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mount/inuse.h"
#include "mount/mountinfo.h"
#include "mount/ns.h"

static void test_parse_line(void **unused)
{
	struct blz_mnt m;
	assert_int_equal(blz_mountinfo_parse_line("36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - "
						  "ext3 /dev/root rw,errors=continue", &m), 0);
	assert_int_equal(m.id, 36);
	assert_int_equal(m.parent, 35);
	assert_int_equal(m.major, 98);
	assert_int_equal(m.minor, 0);
	assert_string_equal(m.fstype, "ext3");
	assert_string_equal(m.path, "/mnt/parent");
	free(m.path);
	/* space, tab, backslash as octal escapes; a lone backslash stays */
	assert_int_equal(blz_mountinfo_parse_line("7 1 0:5 / /mnt/a\\040b\\011c\\134d\\ rw - tmpfs x rw",
						  &m), 0);
	assert_string_equal(m.path, "/mnt/a b\tc\\d\\");
	assert_string_equal(m.fstype, "tmpfs");
	free(m.path);
	assert_int_equal(blz_mountinfo_parse_line("", &m), -EINVAL);
	assert_int_equal(blz_mountinfo_parse_line("36 35 98:0 /", &m), -EINVAL);
	assert_int_equal(blz_mountinfo_parse_line("x 35 98:0 / /a rw - t s rw", &m), -EINVAL);
	assert_int_equal(blz_mountinfo_parse_line("36 35 98 / /a rw - t s rw", &m), -EINVAL);
	assert_int_equal(blz_mountinfo_parse_line("36 35 98:x / /a rw - t s rw", &m), -EINVAL);
	assert_int_equal(blz_mountinfo_parse_line("36 -1 98:0 / /a rw - t s rw", &m), -EINVAL);
	assert_int_equal(blz_mountinfo_parse_line("36 35 98:0 / relative rw - t s rw", &m), -EINVAL);
}

static void test_read_self(void **unused)
{
	struct blz_mnt *m;
	size_t n;
	assert_int_equal(blz_mountinfo_read(&m, &n), 0);
	int root = 0;
	for (size_t i = 0; i < n; i++)
		root += !strcmp(m[i].path, "/");
	assert_true(n >= 1);
	assert_true(root >= 1);
	blz_mnt_free(m, n);
}

/* A mount table entry (the device and type do not matter here). */
#define MNT(i, p, s) { .id = i, .parent = p, .path = s }

/* / (1) with /dev (2), /mnt/a (3) holding /mnt/a/b (4), /mnt/c (5) holding /mnt/c/d (6);
 * 7 is mounted over /mnt/a (on 3) */
static const struct blz_mnt tree[] = {
	MNT(1, 0, "/"), MNT(2, 1, "/dev"), MNT(3, 1, "/mnt/a"), MNT(4, 3, "/mnt/a/b"),
	MNT(5, 1, "/mnt/c"), MNT(6, 5, "/mnt/c/d"), MNT(7, 3, "/mnt/a"),
};
#define NT (sizeof(tree) / sizeof(tree[0]))

static size_t cands(const uint64_t *keep, size_t nkeep, size_t *out)
{
	return blz_mnt_prune_candidates(tree, NT, keep, nkeep, out);
}

static void test_candidates(void **unused)
{
	size_t out[NT];
	/* keeping only the root: its children go, each with its subtree */
	uint64_t k1[] = { 1 };
	assert_int_equal(cands(k1, 1, out), 3);
	assert_int_equal(tree[out[0]].id, 2);
	assert_int_equal(tree[out[1]].id, 3);
	assert_int_equal(tree[out[2]].id, 5);
	/* keeping a deep mount keeps its ancestors; its siblings go */
	uint64_t k2[] = { 1, 4, 2 };
	assert_int_equal(cands(k2, 3, out), 2);
	assert_int_equal(tree[out[0]].id, 5);
	assert_int_equal(tree[out[1]].id, 7);
	/* keeping the mount on top keeps the one under it */
	uint64_t k3[] = { 1, 7, 6, 2 };
	assert_int_equal(cands(k3, 4, out), 1);
	assert_int_equal(tree[out[0]].id, 4);
	/* everything kept: nothing to do; an unknown id keeps nothing */
	uint64_t k4[] = { 2, 4, 6, 7 };
	assert_int_equal(cands(k4, 4, out), 0);
	uint64_t k5[] = { 99 };
	assert_int_equal(cands(k5, 1, out), 0);
	/* parent links that loop do not hang */
	const struct blz_mnt loop[] = { MNT(1, 2, "/a"), MNT(2, 1, "/b"), MNT(3, 3, "/"),
					MNT(4, 3, "/c") };
	uint64_t k6[] = { 1, 3 };
	assert_int_equal(blz_mnt_prune_candidates(loop, 4, k6, 2, out), 1);
	assert_int_equal(loop[out[0]].id, 4);
}

static void test_in_use_not_a_disk(void **unused)
{
	char what[64] = "";
	/* a missing device is not in use; a file is not a block device */
	assert_int_equal(blz_blockdev_in_use("/nonexistent/ublkb9", what, sizeof(what)), 0);
	assert_int_equal(blz_blockdev_in_use("/proc/self/status", what, sizeof(what)), -ENOTBLK);
	assert_string_equal(what, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_read_self),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_in_use_not_a_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
