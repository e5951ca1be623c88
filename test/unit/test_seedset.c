/* Unit tests for lib/seedset: a seed image with its map and store, opened in one place. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "btrfs/writer.h"
#include "map/map.h"
#include "seedset/seedset.h"

static char dir[64];
static char seed[128];       /* virtual area and import area */
static char other[128];      /* another seed (another fsid) */
static char novirt[128];     /* no virtual area */
static struct blz_seed_layout lay, other_lay;

static int count_put(void *ctx, uint64_t dev_off, const void *buf, size_t len)
{
	(*(int *)ctx)++;
	return 0;
}

/* A seed with one file of n bytes, lazily imported when lazy is set. */
static void make_seed(const char *path, uint64_t virtual_size, bool lazy, struct blz_seed_layout *ret)
{
	int puts = 0;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	struct blz_seed_opts o = { .virtual_size = virtual_size };
	if (lazy) {
		o.lazy_put = count_put;
		o.lazy_ctx = &puts;
	}
	struct blz_seed *s;
	assert_int_equal(blz_seed_new(&s, fd, &o), 0);
	struct blz_fstree *t = blz_seed_tree(s);
	struct blz_inode *f = blz_fstree_new_inode(t, S_IFREG | 0644);
	blz_fstree_link(t, t->root, "f", 1, f);
	static uint8_t buf[3 << 20];
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(blz_seed_data_begin(s, f, sizeof(buf), "f"), 0);
	assert_int_equal(blz_seed_data_write(s, buf, sizeof(buf)), 0);
	assert_int_equal(blz_seed_data_end(s), 0);
	assert_int_equal(blz_seed_finish(s, ret), 0);
	blz_seed_free(s);
	close(fd);
	assert_true(lazy ? puts > 0 : puts == 0);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/blazy-seedset-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(seed, sizeof(seed), "%s/seed.img", dir);
	snprintf(other, sizeof(other), "%s/other.img", dir);
	snprintf(novirt, sizeof(novirt), "%s/novirt.img", dir);
	make_seed(seed, 1ull << 40, true, &lay);
	make_seed(other, 1ull << 30, false, &other_lay);
	struct blz_seed_layout l;
	make_seed(novirt, 0, false, &l);
	/* the fixture is what the tests assume */
	assert_true(lay.import_size > 0 && lay.virtual_size == 1ull << 40);
	assert_memory_not_equal(lay.fsid, other_lay.fsid, 16);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void rm_rf(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static void test_paths(void **state)
{
	char m[64], s[64];
	assert_int_equal(blz_seedset_paths("/srv/a.img", NULL, NULL, m, sizeof(m), s, sizeof(s)), 0);
	assert_string_equal(m, "/srv/a.img.map");
	assert_string_equal(s, "/srv/a.img.store");
	assert_int_equal(blz_seedset_paths("a.img", "x/j", "y/st", m, sizeof(m), s, sizeof(s)), 0);
	assert_string_equal(m, "x/j");
	assert_string_equal(s, "y/st");
	/* one given, one derived; an output not wanted */
	assert_int_equal(blz_seedset_paths("a.img", NULL, "y/st", m, sizeof(m), NULL, 0), 0);
	assert_string_equal(m, "a.img.map");
	assert_int_equal(blz_seedset_paths("a.img", "j", NULL, NULL, 0, s, sizeof(s)), 0);
	assert_string_equal(s, "a.img.store");
	/* exactly fitting, one byte short */
	char m9[10], s11[12];
	assert_int_equal(blz_seedset_paths("abcde", NULL, NULL, m9, sizeof(m9), s11, sizeof(s11)), 0);
	assert_string_equal(m9, "abcde.map");
	assert_string_equal(s11, "abcde.store");
	assert_int_equal(blz_seedset_paths("abcde", NULL, NULL, m9, 9, s11, sizeof(s11)),
			 -ENAMETOOLONG);
	assert_int_equal(blz_seedset_paths("abcde", NULL, NULL, m9, sizeof(m9), s11, 11),
			 -ENAMETOOLONG);
	assert_int_equal(blz_seedset_paths("abcde", "0123456789", NULL, m9, sizeof(m9), NULL, 0),
			 -ENAMETOOLONG);
}

static void check_layout(const struct blz_seedset *ss, const struct blz_seed_layout *want)
{
	const struct blz_seedset_layout *l = blz_seedset_layout(ss);
	assert_memory_equal(l->fsid, want->fsid, 16);
	assert_true(l->device_size == want->device_size);
	assert_true(l->local_end == want->local_end);
	assert_true(l->image_size == want->local_end); /* the writer's image ends there */
	assert_true(l->import_off == want->import_off);
	assert_true(l->import_size == want->import_size);
	assert_true(l->virtual_off == want->virtual_off);
	assert_true(l->virtual_size == want->virtual_size);
}

static void test_open_defaults(void **state)
{
	char m[160], s[160];
	snprintf(m, sizeof(m), "%s.map", seed);
	snprintf(s, sizeof(s), "%s.store", seed);
	rm_rf(m);
	rm_rf(s);
	char err[512];
	struct blz_seedset *ss;
	struct blz_seedset_opts o = { .seed = seed };
	assert_int_equal(blz_seedset_open(&o, &ss, err, sizeof(err)), 0);
	/* read mode creates both, then only reads */
	assert_true(exists(m));
	assert_true(exists(s));
	assert_string_equal(blz_seedset_map_path(ss), m);
	assert_string_equal(blz_seedset_store_path(ss), s);
	check_layout(ss, &lay);
	assert_true(blz_seedset_image_fd(ss) >= 0);
	struct blz_map *map = blz_seedset_map(ss);
	assert_non_null(map);
	assert_non_null(blz_seedset_store(ss));
	assert_memory_equal(blz_map_fsid(map), lay.fsid, 16);
	/* the areas are set on the map */
	struct blz_map_stats st;
	blz_map_stats(map, &st);
	assert_true(st.area[BLZ_MAP_AREA_IMPORT].start == lay.import_off);
	assert_true(st.area[BLZ_MAP_AREA_IMPORT].size == lay.import_size);
	assert_true(st.area[BLZ_MAP_AREA_VIRTUAL].start == lay.virtual_off);
	assert_true(st.area[BLZ_MAP_AREA_VIRTUAL].size == lay.virtual_size);
	/* read-only */
	struct blz_map_rec rec = { .len = 4096, .data_len = 4096 };
	assert_int_equal(blz_map_append_alloc(map, BLZ_MAP_AREA_VIRTUAL, &rec, 1), -EROFS);
	blz_seedset_close(ss);
	blz_seedset_close(NULL);

	/* write mode: appends work */
	o.flags = BLZ_SEEDSET_WRITE;
	assert_int_equal(blz_seedset_open(&o, &ss, err, sizeof(err)), 0);
	check_layout(ss, &lay);
	assert_int_equal(blz_map_append_alloc(blz_seedset_map(ss), BLZ_MAP_AREA_VIRTUAL, &rec, 1), 0);
	assert_true(rec.off == lay.virtual_off);
	blz_seedset_close(ss);
}

static void test_open_explicit(void **state)
{
	char m[160], s[160], dm[160], ds[160];
	snprintf(m, sizeof(m), "%s/elsewhere.map", dir);
	snprintf(s, sizeof(s), "%s/elsewhere-store", dir);
	snprintf(dm, sizeof(dm), "%s.map", other);
	snprintf(ds, sizeof(ds), "%s.store", other);
	char err[512];
	struct blz_seedset *ss;
	struct blz_seedset_opts o = { .seed = other, .map_path = m, .store_dir = s,
				      .flags = BLZ_SEEDSET_WRITE };
	assert_int_equal(blz_seedset_open(&o, &ss, err, sizeof(err)), 0);
	assert_string_equal(blz_seedset_map_path(ss), m);
	assert_string_equal(blz_seedset_store_path(ss), s);
	check_layout(ss, &other_lay);
	blz_seedset_close(ss);
	assert_true(exists(m) && exists(s));
	assert_false(exists(dm) || exists(ds)); /* the defaults are not touched */
	/* read mode on what write mode made */
	o.flags = 0;
	assert_int_equal(blz_seedset_open(&o, &ss, err, sizeof(err)), 0);
	blz_seedset_close(ss);
	assert_false(exists(dm) || exists(ds));
	rm_rf(m);
	rm_rf(s);
}

/* A map made for another seed is refused, in both modes, and names the map. */
static void test_other_seeds_map(void **state)
{
	char m[160];
	snprintf(m, sizeof(m), "%s/of-other.map", dir);
	char err[512], why[256];
	struct blz_map *map;
	assert_int_equal(blz_map_open(m, other_lay.fsid, BLZ_MAP_CREATE, &map, why, sizeof(why)), 0);
	blz_map_close(map);
	struct blz_seedset *ss = (struct blz_seedset *)0x1;
	struct blz_seedset_opts o = { .seed = seed, .map_path = m };
	assert_int_equal(blz_seedset_open(&o, &ss, err, sizeof(err)), -EBADMSG);
	assert_true(ss == (struct blz_seedset *)0x1); /* untouched on failure */
	char want[300];
	snprintf(want, sizeof(want), "cannot use the map '%s': ", m);
	assert_non_null(strstr(err, want));
	o.flags = BLZ_SEEDSET_WRITE;
	assert_int_equal(blz_seedset_open(&o, &ss, err, sizeof(err)), -EBADMSG);
	snprintf(want, sizeof(want), "cannot open the map '%s': ", m);
	assert_non_null(strstr(err, want));
	/* and with its own seed it is fine */
	o.seed = other;
	assert_int_equal(blz_seedset_open(&o, &ss, err, sizeof(err)), 0);
	blz_seedset_close(ss);
	rm_rf(m);
}

/* A map of this seed holding a record outside the seed's import area. */
static void test_map_does_not_fit(void **state)
{
	char m[160], why[256], err[512];
	snprintf(m, sizeof(m), "%s/misfit.map", dir);
	struct blz_map *map;
	assert_int_equal(blz_map_open(m, lay.fsid, BLZ_MAP_CREATE, &map, why, sizeof(why)), 0);
	uint64_t beyond = lay.import_off + lay.import_size;
	assert_int_equal(blz_map_set_area(map, BLZ_MAP_AREA_IMPORT, lay.import_off,
					  lay.import_size + 4096), 0);
	struct blz_map_rec rec = { .off = beyond, .len = 4096, .data_len = 4096,
				   .area = BLZ_MAP_AREA_IMPORT };
	assert_int_equal(blz_map_append(map, &rec, 1), 0);
	blz_map_close(map);
	struct blz_seedset *ss;
	struct blz_seedset_opts o = { .seed = seed, .map_path = m };
	assert_int_equal(blz_seedset_open(&o, &ss, err, sizeof(err)), -EBADMSG);
	char want[300];
	snprintf(want, sizeof(want), "the map '%s' does not fit this seed: ", m);
	assert_non_null(strstr(err, want));
	rm_rf(m);
}

static void expect_fail(const struct blz_seedset_opts *o, int want_r, const char *want_msg)
{
	char err[512];
	struct blz_seedset *ss;
	assert_int_equal(blz_seedset_open(o, &ss, err, sizeof(err)), want_r);
	if (!strstr(err, want_msg))
		fail_msg("'%s' does not contain '%s'", err, want_msg);
}

static void expect_failf(const struct blz_seedset_opts *o, int want_r, const char *fmt,
			 const char *arg)
{
	char msg[600];
	snprintf(msg, sizeof(msg), fmt, arg);
	expect_fail(o, want_r, msg);
}

/* The errors for a missing or unusable seed, store or map: those of the code this replaced. */
static void test_open_errors(void **state)
{
	char path[300], junk[160];
	struct blz_seedset_opts o = { .seed = "/nonexistent/seed.img" };
	expect_fail(&o, -ENOENT, "cannot open '/nonexistent/seed.img': No such file or directory");
	snprintf(junk, sizeof(junk), "%s/junk", dir);
	int fd = open(junk, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(ftruncate(fd, 200000), 0);
	close(fd);
	o.seed = junk;
	expect_failf(&o, -EINVAL, "'%s' is not a usable seed: ", junk);
	unlink(junk);

	/* a store that cannot be created (read mode) or opened (write mode) */
	snprintf(path, sizeof(path), "%s/no/such/dir", dir);
	o = (struct blz_seedset_opts){ .seed = seed, .store_dir = path };
	expect_failf(&o, -ENOENT, "cannot create the store '%s': No such file or directory", path);
	o.flags = BLZ_SEEDSET_WRITE;
	expect_failf(&o, -ENOENT, "cannot open the store '%s': No such file or directory", path);
	/* a store that is a file */
	o.flags = 0;
	o.store_dir = seed;
	expect_failf(&o, -ENOTDIR, "cannot open the store '%s': Not a directory", seed);

	/* a map that cannot be created */
	o = (struct blz_seedset_opts){ .seed = seed, .map_path = path };
	expect_failf(&o, -ENOENT, "cannot create the map '%s': ", path);
	o.flags = BLZ_SEEDSET_WRITE;
	expect_failf(&o, -ENOENT, "cannot open the map '%s': ", path);
	/* a map that is not a journal */
	o.map_path = seed;
	expect_failf(&o, -EBADMSG, "cannot open the map '%s': ", seed);

	/* write mode needs a virtual area, and creates nothing without one */
	char m[160], s[160];
	snprintf(m, sizeof(m), "%s.map", novirt);
	snprintf(s, sizeof(s), "%s.store", novirt);
	o = (struct blz_seedset_opts){ .seed = novirt, .flags = BLZ_SEEDSET_WRITE };
	expect_failf(&o, -EINVAL, "'%s' has no virtual area (made with --virtual-size 0)", novirt);
	assert_false(exists(m) || exists(s));
	/* read mode serves such a seed */
	o.flags = 0;
	char err[512];
	struct blz_seedset *ss;
	assert_int_equal(blz_seedset_open(&o, &ss, err, sizeof(err)), 0);
	assert_true(blz_seedset_layout(ss)->virtual_size == 0);
	blz_seedset_close(ss);

	/* a path too long for the derived names */
	char longp[4091]; /* longp.map fits PATH_MAX, longp.store does not */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	o = (struct blz_seedset_opts){ .seed = longp };
	expect_fail(&o, -ENAMETOOLONG, "the path of 'aaa"); /* the message is cut at 512 bytes */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_open_defaults),
		cmocka_unit_test(test_open_explicit),
		cmocka_unit_test(test_other_seeds_map),
		cmocka_unit_test(test_map_does_not_fit),
		cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
