/* The seed writer's entry API (lib/btrfs/writer.h, entries.c): entries by handle and by path,
 * layers, whiteouts, opaque directories, hard links, xattrs and deferred data. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btrfs/writer.h"

static int seed_fd = -1;

static int setup(void **state)
{
	char path[] = "/tmp/blz-entries-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	seed_fd = fd;
	struct blz_seed_opts o = { .fsid_set = true, .timestamp = { 1700000000, 0 } };
	struct blz_seed *s;
	assert_int_equal(blz_seed_new(&s, fd, &o), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct blz_seed *s = *state;
	blz_seed_free(s);
	close(seed_fd);
	return 0;
}

static struct blz_seed_entry ent(uint32_t mode, long sec)
{
	return (struct blz_seed_entry){ .mode = mode, .uid = 1, .gid = 2, .atime = { sec, 0 },
					.mtime = { sec, 0 }, .ctime = { sec, 0 } };
}

/* The inode at path, or NULL. */
static struct blz_inode *at(struct blz_seed *s, const char *path)
{
	struct blz_inode *ino;
	return blz_fstree_resolve(blz_seed_tree(s), path, NULL, &ino) < 0 ? NULL : ino;
}

static void put(struct blz_seed *s, const char *path, uint32_t mode)
{
	struct blz_seed_entry e = ent(mode, 5);
	if (S_ISLNK(mode))
		e.target = "somewhere";
	assert_int_equal(blz_seed_put_path(s, path, &e, NULL), 0);
}

static void test_put_path(void **state)
{
	struct blz_seed *s = *state;
	struct blz_seed_entry e = ent(S_IFREG | 0640, 7);
	struct blz_inode *f;
	assert_int_equal(blz_seed_put_path(s, "a/b/f", &e, &f), 0);
	assert_ptr_equal(at(s, "a/b/f"), f);
	struct blz_inode *a = at(s, "a");
	assert_non_null(a);
	assert_int_equal(a->mode, S_IFDIR | 0755); /* a made parent: 0755, the entry's mtime */
	assert_int_equal(a->mtime.tv_sec, 7);
	assert_int_equal(f->uid, 1);
	assert_int_equal(f->mtime.tv_sec, 7);
	/* a directory over a directory keeps its contents and takes the new attributes */
	struct blz_seed_xattr x = { "user.k", "v", 1 };
	e = ent(S_IFDIR | 0700, 9);
	e.xattrs = &x;
	e.nxattrs = 1;
	struct blz_inode *a2;
	assert_int_equal(blz_seed_put_path(s, "a", &e, &a2), 0);
	assert_ptr_equal(a2, a);
	assert_int_equal(a->mode, S_IFDIR | 0700);
	assert_int_equal(a->xattrs.len, 1);
	assert_ptr_equal(at(s, "a/b/f"), f);
	/* anything else replaces */
	put(s, "a/b", S_IFLNK | 0777);
	assert_null(at(s, "a/b/f"));
	assert_int_equal(at(s, "a/b")->mode & S_IFMT, S_IFLNK);
	assert_int_equal(at(s, "a/b")->inline_len, strlen("somewhere"));
	/* a parent that is not a directory */
	e = ent(S_IFREG | 0644, 1);
	assert_int_equal(blz_seed_put_path(s, "a/b/g", &e, NULL), -ENOTDIR);
	/* the root: a directory only */
	assert_int_equal(blz_seed_put_path(s, "", &e, NULL), -EINVAL);
	e = ent(S_IFDIR | 0711, 3);
	struct blz_inode *root;
	assert_int_equal(blz_seed_put_path(s, "", &e, &root), 0);
	assert_ptr_equal(root, blz_seed_tree(s)->root);
	assert_int_equal(root->mode, S_IFDIR | 0711);
	/* bad entries */
	e = ent(S_IFLNK | 0777, 1);
	assert_int_equal(blz_seed_put_path(s, "l", &e, NULL), -EINVAL); /* no target */
	e = ent(0, 1);
	assert_int_equal(blz_seed_put_path(s, "t", &e, NULL), -EINVAL); /* no type */
	assert_null(at(s, "l"));
}

static void test_put_handle(void **state)
{
	struct blz_seed *s = *state;
	struct blz_seed_entry e = ent(S_IFDIR | 0755, 1);
	struct blz_inode *root, *d, *dev, *f;
	assert_int_equal(blz_seed_put_path(s, "", &e, &root), 0);
	assert_int_equal(blz_seed_put(s, root, "d", &e, &d), 0);
	assert_int_equal(blz_seed_put(s, root, "d", &e, NULL), -EEXIST);
	assert_int_equal(blz_seed_put(s, root, "..", &e, NULL), -EINVAL);
	e = ent(S_IFCHR | 0600, 1);
	e.rdev_major = 4;
	e.rdev_minor = 64;
	assert_int_equal(blz_seed_put(s, d, "tty", &e, &dev), 0);
	assert_int_equal(dev->rdev_major, 4);
	assert_int_equal(dev->rdev_minor, 64);
	e = ent(S_IFSOCK | 0600, 1);
	assert_int_equal(blz_seed_put(s, d, "sock", &e, NULL), 0);
	e = ent(S_IFIFO | 0600, 1);
	assert_int_equal(blz_seed_put(s, d, "fifo", &e, NULL), 0);
	e = ent(S_IFREG | 0600, 1);
	assert_int_equal(blz_seed_put(s, d, "f", &e, &f), 0);
	blz_seed_add_xattr(s, f, "user.a", "1", 1);
	blz_seed_add_xattr(s, f, "user.a", "22", 2);
	assert_int_equal(f->xattrs.len, 1);
	assert_int_equal(f->xattrs.v[0].len, 2);
	/* hard links by handle: not to a directory */
	assert_int_equal(blz_seed_link(s, root, "f2", f), 0);
	assert_int_equal(f->nlink, 2);
	assert_int_equal(blz_seed_link(s, root, "d2", d), -EPERM);
	assert_ptr_equal(at(s, "f2"), f);
	assert_non_null(at(s, "d/sock"));
	assert_int_equal(at(s, "d/fifo")->mode, S_IFIFO | 0600);
}

static void test_links_by_path(void **state)
{
	struct blz_seed *s = *state;
	put(s, "x/f", S_IFREG | 0644);
	put(s, "other", S_IFREG | 0644);
	struct timespec ts = { 11, 0 };
	struct blz_inode *f = at(s, "x/f");
	assert_int_equal(blz_seed_link_path(s, "y/g", "x/f", &ts), 0);
	assert_ptr_equal(at(s, "y/g"), f);
	assert_int_equal(at(s, "y")->mtime.tv_sec, 11);
	assert_int_equal(f->nlink, 2);
	assert_int_equal(blz_seed_link_path(s, "y/g", "x/f", &ts), 0); /* already */
	assert_int_equal(f->nlink, 2);
	assert_int_equal(blz_seed_link_path(s, "other", "x/f", &ts), 0); /* replaces */
	assert_ptr_equal(at(s, "other"), f);
	assert_int_equal(f->nlink, 3);
	assert_int_equal(blz_seed_link_path(s, "h", "nothing", &ts), -ENOENT);
	assert_int_equal(blz_seed_link_path(s, "h", "", &ts), -ENOENT);
	assert_int_equal(blz_seed_link_path(s, "h", "x", &ts), -EPERM);
	assert_int_equal(blz_seed_link_path(s, "x/f/h", "other", &ts), -ENOTDIR);
	assert_null(at(s, "h"));
}

/* Files: lower ones in a new layer, then upper in the layer after it. */
static void two_layers(struct blz_seed *s, const char *const *lower, const char *upper)
{
	blz_seed_next_layer(s);
	for (; *lower; lower++)
		put(s, *lower, S_IFREG | 0644);
	blz_seed_next_layer(s);
	put(s, upper, S_IFREG | 0644);
}

static void test_whiteouts(void **state)
{
	struct blz_seed *s = *state;
	put(s, "base", S_IFREG | 0644); /* layer 0: the directory source */
	two_layers(s, (const char *[]){ "a/x", "a/y", NULL }, "a/z");
	assert_int_equal(blz_seed_whiteout(s, "a/x"), 0);
	assert_null(at(s, "a/x"));
	assert_int_equal(blz_seed_whiteout(s, "a/z"), 0); /* its own layer: stays */
	assert_non_null(at(s, "a/z"));
	assert_int_equal(blz_seed_whiteout(s, "base"), 0);
	assert_null(at(s, "base"));
	assert_int_equal(blz_seed_whiteout(s, "a/none"), 0);
	assert_int_equal(blz_seed_whiteout(s, "nodir/x"), 0);
	assert_int_equal(blz_seed_whiteout(s, "a/y/x"), 0); /* parent not a directory */
	assert_int_equal(blz_seed_whiteout(s, "a/.."), -EINVAL);
	assert_int_equal(blz_seed_whiteout(s, "a/"), -EINVAL);
	assert_non_null(at(s, "a/y"));
	/* a directory a lower layer made (putting a/z did not restate it): all of it goes */
	assert_int_equal(blz_seed_whiteout(s, "a"), 0);
	assert_null(at(s, "a"));
	assert_null(at(s, "a/z"));
}

static void test_opaque(void **state)
{
	struct blz_seed *s = *state;
	two_layers(s, (const char *[]){ "d/p", "d/q/deep", "top", NULL }, "d/r");
	assert_int_equal(blz_seed_opaque(s, "d"), 0);
	assert_null(at(s, "d/p"));
	assert_null(at(s, "d/q/deep"));
	assert_non_null(at(s, "d/r"));
	assert_non_null(at(s, "d"));
	assert_int_equal(blz_seed_opaque(s, "missing"), 0);
	assert_int_equal(blz_seed_opaque(s, "d/r"), 0); /* not a directory: nothing */
	assert_non_null(at(s, "d/r"));
	assert_int_equal(blz_seed_opaque(s, ""), 0); /* the root: "top" goes, "d" too */
	assert_null(at(s, "top"));
	assert_null(at(s, "d"));
}

struct seen {
	const char *names[8];
	uint64_t sizes[8];
	size_t n;
	int fail;
};

static int each(void *ctx, struct blz_inode *ino, const char *src, uint64_t size)
{
	struct seen *w = ctx;
	w->names[w->n] = strdup(src);
	w->sizes[w->n++] = size;
	return w->fail;
}

static void test_deferred(void **state)
{
	struct blz_seed *s = *state;
	put(s, "b", S_IFREG | 0644);
	put(s, "a", S_IFREG | 0644);
	put(s, "c", S_IFREG | 0644);
	blz_seed_defer_data(s, at(s, "b"), 100, "/src/b");
	blz_seed_defer_data(s, at(s, "a"), 200, "/src/a");
	blz_seed_defer_data(s, at(s, "c"), 300, "/src/c");
	blz_seed_next_layer(s);
	assert_int_equal(blz_seed_whiteout(s, "c"), 0);
	struct seen w = { .fail = 0 };
	assert_int_equal(blz_seed_each_deferred(s, each, &w), 0);
	assert_int_equal(w.n, 2); /* "c" is gone; inode (name) order */
	assert_string_equal(w.names[0], "/src/a");
	assert_int_equal(w.sizes[0], 200);
	assert_string_equal(w.names[1], "/src/b");
	for (size_t i = 0; i < w.n; i++)
		free((void *)w.names[i]);
	/* each source is handed out once */
	w.n = 0;
	assert_int_equal(blz_seed_each_deferred(s, each, &w), 0);
	assert_int_equal(w.n, 0);
	/* a failure stops the walk */
	blz_seed_defer_data(s, at(s, "a"), 1, "/src/a");
	blz_seed_defer_data(s, at(s, "b"), 1, "/src/b");
	w.fail = -EIO;
	assert_int_equal(blz_seed_each_deferred(s, each, &w), -EIO);
	assert_int_equal(w.n, 1);
	free((void *)w.names[0]);
}

/* A tree made through the API lays out as an image. */
static void test_finish(void **state)
{
	struct blz_seed *s = *state;
	put(s, "etc/passwd", S_IFREG | 0644);
	put(s, "bin/sh", S_IFLNK | 0777);
	struct timespec ts = { 1, 0 };
	assert_int_equal(blz_seed_link_path(s, "etc/pw2", "etc/passwd", &ts), 0);
	struct blz_seed_layout lay;
	assert_int_equal(blz_seed_finish(s, &lay), 0);
	assert_int_equal(at(s, "etc/pw2")->nlink, 2);
	assert_true(lay.inodes >= 5); /* root, etc, passwd, bin, sh (and the writer's own) */
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_put_path), T(test_put_handle), T(test_links_by_path), T(test_whiteouts),
		T(test_opaque), T(test_deferred), T(test_finish),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
