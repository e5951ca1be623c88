/* Unit tests for lib/fstree: names, lookups, replacement, numbering. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fstree/fstree.h"

static void test_link_lookup(void **state)
{
	struct blz_fstree t;
	blz_fstree_init(&t);
	struct blz_inode *f = blz_fstree_new_inode(&t, S_IFREG | 0644);
	assert_int_equal(blz_fstree_link(&t, t.root, "a", 1, f), 0);
	assert_int_equal(blz_fstree_link(&t, t.root, "a", 1, f), -EEXIST);
	assert_int_equal(blz_fstree_link(&t, t.root, "b", 1, f), 0);
	assert_int_equal(f->nlink, 2);
	assert_int_equal(blz_fstree_link(&t, t.root, "", 0, f), -EINVAL);
	assert_int_equal(blz_fstree_link(&t, t.root, ".", 1, f), -EINVAL);
	assert_int_equal(blz_fstree_link(&t, t.root, "..", 2, f), -EINVAL);
	assert_int_equal(blz_fstree_link(&t, t.root, "x/y", 3, f), -EINVAL);
	char longname[257];
	memset(longname, 'n', sizeof(longname));
	assert_int_equal(blz_fstree_link(&t, t.root, longname, 256, f), -ENAMETOOLONG);
	assert_int_equal(blz_fstree_link(&t, t.root, longname, 255, f), 0);
	assert_int_equal(blz_fstree_link(&t, f, "c", 1, f), -ENOTDIR);
	/* Names are bytes: high bytes and newlines are fine. */
	assert_int_equal(blz_fstree_link(&t, t.root, "\xff\n", 2, f), 0);
	assert_non_null(blz_fstree_lookup(&t, t.root, "\xff\n", 2));
	assert_null(blz_fstree_lookup(&t, t.root, "\xff", 1));
	blz_fstree_release(&t);
}

static void test_walk_and_replace(void **state)
{
	struct blz_fstree t;
	blz_fstree_init(&t);
	struct blz_inode *dir;
	const char *name;
	size_t len;
	struct timespec ts = { 100, 5 };
	assert_int_equal(blz_fstree_walk_parent(&t, "a/b/c", 0755, &ts, &dir, &name, &len), 0);
	assert_int_equal(len, 1);
	assert_memory_equal(name, "c", 1);
	struct blz_inode *ab;
	assert_int_equal(blz_fstree_resolve(&t, "a/b", NULL, &ab), 0);
	assert_ptr_equal(ab, dir);
	assert_true(S_ISDIR(ab->mode));
	assert_int_equal(ab->mtime.tv_sec, 100);
	struct blz_inode *f = blz_fstree_new_inode(&t, S_IFREG | 0600);
	assert_int_equal(blz_fstree_link(&t, dir, name, len, f), 0);
	assert_int_equal(blz_fstree_walk_parent(&t, "a/b/c/d", 0755, &ts, &dir, &name, &len),
			 -ENOTDIR);
	assert_int_equal(blz_fstree_resolve(&t, "a/x", NULL, NULL), -ENOENT);
	/* Removing a directory removes its subtree from view. */
	struct blz_dirent *da;
	assert_int_equal(blz_fstree_resolve(&t, "a", &da, NULL), 0);
	blz_fstree_unlink(&t, da);
	assert_int_equal(blz_fstree_resolve(&t, "a", NULL, NULL), -ENOENT);
	assert_int_equal(f->nlink, 0);
	assert_int_equal(t.root->live_children, 0);
	blz_fstree_release(&t);
}

static void test_numbering(void **state)
{
	struct blz_fstree t;
	blz_fstree_init(&t);
	struct blz_inode *d = blz_fstree_new_inode(&t, S_IFDIR | 0755);
	struct blz_inode *f = blz_fstree_new_inode(&t, S_IFREG | 0644);
	struct blz_inode *g = blz_fstree_new_inode(&t, S_IFREG | 0644);
	/* Inserted out of order; numbering is by name order, depth first. */
	blz_fstree_link(&t, t.root, "z", 1, g);
	blz_fstree_link(&t, t.root, "d", 1, d);
	blz_fstree_link(&t, d, "f", 1, f);
	blz_fstree_link(&t, t.root, "hard", 4, f);
	struct blz_inode *gone = blz_fstree_new_inode(&t, S_IFREG | 0644);
	blz_fstree_link(&t, t.root, "gone", 4, gone);
	blz_fstree_unlink(&t, blz_fstree_lookup(&t, t.root, "gone", 4));
	size_t n = blz_fstree_number(&t, 256);
	assert_int_equal(n, 4);
	assert_int_equal(t.root->ino, 256);
	assert_int_equal(d->ino, 257);
	assert_int_equal(f->ino, 258);
	assert_int_equal(g->ino, 259);
	assert_int_equal(t.root->children.len, 3);
	assert_string_equal(t.root->children.v[0]->name, "d");
	assert_int_equal(t.root->children.v[0]->index, 2);
	assert_string_equal(t.root->children.v[1]->name, "hard");
	assert_int_equal(t.root->children.v[2]->index, 4);
	/* Idempotent. */
	assert_int_equal(blz_fstree_number(&t, 256), 4);
	assert_int_equal(g->ino, 259);
	blz_fstree_release(&t);
}

static void test_many_entries(void **state)
{
	struct blz_fstree t;
	blz_fstree_init(&t);
	char name[32];
	for (int i = 0; i < 20000; i++) {
		struct blz_inode *f = blz_fstree_new_inode(&t, S_IFREG | 0644);
		int len = snprintf(name, sizeof(name), "file-%d", i);
		assert_int_equal(blz_fstree_link(&t, t.root, name, (size_t)len, f), 0);
	}
	for (int i = 0; i < 20000; i += 997) {
		int len = snprintf(name, sizeof(name), "file-%d", i);
		assert_non_null(blz_fstree_lookup(&t, t.root, name, (size_t)len));
	}
	assert_int_equal(blz_fstree_number(&t, 256), 20001);
	blz_fstree_release(&t);
}

static void test_xattr_replace(void **state)
{
	struct blz_fstree t;
	blz_fstree_init(&t);
	blz_inode_set_xattr(t.root, "user.a", "1", 1);
	blz_inode_set_xattr(t.root, "user.a", "22", 2);
	blz_inode_set_xattr(t.root, "user.b", "\0\1", 2);
	assert_int_equal(t.root->xattrs.len, 2);
	assert_int_equal(t.root->xattrs.v[0].len, 2);
	assert_memory_equal(t.root->xattrs.v[0].value, "22", 2);
	blz_fstree_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_lookup),
		cmocka_unit_test(test_walk_and_replace),
		cmocka_unit_test(test_numbering),
		cmocka_unit_test(test_many_entries),
		cmocka_unit_test(test_xattr_replace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
