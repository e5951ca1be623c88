/* Unit tests for lib/lazywrite: bytes -> stored chunks + map records (the chunker) and the
 * importer of mkseed --lazy built on it. (The runtime mapper is driven in test_lazy.c, where
 * its records are read back through the lazy device.) */
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

#include "lazywrite/chunker.h"
#include "lazywrite/importer.h"
#include "map/map.h"
#include "store/store.h"
#include "util/sha256.h"

static char dir[64], store_dir[128];

static void fill(uint8_t *p, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++) {
		v = v * 1103515245u + 12345u;
		p[i] = (uint8_t)(v >> 16);
	}
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/blazy-lazywrite-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* A fresh store for each test. */
static struct blz_store *new_store(const char *name, unsigned flags)
{
	snprintf(store_dir, sizeof(store_dir), "%s/%s", dir, name);
	struct blz_store *s;
	assert_int_equal(blz_store_open(store_dir, BLZ_STORE_CREATE | flags, &s), 0);
	return s;
}

/* rec describes exactly the bytes p[0, n) at off, and the store holds them. */
static void check_rec(struct blz_store *s, const struct blz_map_rec *rec, int area, uint64_t off,
		      const uint8_t *p, uint32_t n)
{
	assert_int_equal(rec->area, area);
	assert_true(rec->off == off);
	assert_int_equal(rec->data_len, n);
	assert_int_equal(rec->len, (n + 4095) / 4096 * 4096);
	uint8_t want[BLZ_SHA256_LEN];
	blz_sha256(p, n, want);
	assert_memory_equal(rec->digest, want, sizeof(want));
	uint8_t *back = malloc(n);
	assert_int_equal(blz_store_get(s, rec->digest, back, n), 0);
	assert_memory_equal(back, p, n);
	free(back);
	char why[128];
	assert_int_equal(blz_map_rec_check(rec, why, sizeof(why)), 0);
}

static void test_boundaries(void **state)
{
	struct blz_store *s = new_store("bounds", 0);
	struct blz_chunker c;
	blz_chunker_init(&c, s, 8192);
	size_t n = 2 * 8192 + 5000;
	uint8_t *p = malloc(n);
	fill(p, n, 7);
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_IMPORT, 40960, p, n), 0);
	assert_int_equal(c.recs.len, 3);
	check_rec(s, &c.recs.v[0], BLZ_MAP_AREA_IMPORT, 40960, p, 8192);
	check_rec(s, &c.recs.v[1], BLZ_MAP_AREA_IMPORT, 49152, p + 8192, 8192);
	check_rec(s, &c.recs.v[2], BLZ_MAP_AREA_IMPORT, 57344, p + 16384, 5000);
	/* an exact multiple: no empty tail chunk; nothing at all for no bytes */
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_VIRTUAL, 0, p, 16384), 0);
	assert_int_equal(c.recs.len, 5);
	check_rec(s, &c.recs.v[4], BLZ_MAP_AREA_VIRTUAL, 8192, p + 8192, 8192);
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_VIRTUAL, 0, p, 0), 0);
	assert_int_equal(c.recs.len, 5);
	/* one byte, and a piece smaller than a block */
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_VIRTUAL, 1ull << 40, p + 3, 1), 0);
	check_rec(s, &c.recs.v[5], BLZ_MAP_AREA_VIRTUAL, 1ull << 40, p + 3, 1);
	assert_true(c.st.chunks == 6 && c.st.bytes == n + 16384 + 1);
	/* an offset off the 4 KiB grid is refused, nothing added */
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_VIRTUAL, 512, p, 10), -EINVAL);
	assert_int_equal(c.recs.len, 6);
	/* clear forgets the records, not the counters */
	blz_chunker_clear(&c);
	assert_int_equal(c.recs.len, 0);
	assert_true(c.st.chunks == 6);
	blz_chunker_release(&c);
	blz_chunker_release(&c);
	free(p);
	blz_store_close(s);
}

static void test_dedupe(void **state)
{
	struct blz_store *s = new_store("dedupe", 0);
	struct blz_chunker c;
	blz_chunker_init(&c, s, 4096);
	uint8_t p[3 * 4096];
	fill(p, 4096, 1);
	memcpy(p + 4096, p, 4096);  /* equal to the first */
	fill(p + 8192, 4096, 2);
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_IMPORT, 0, p, sizeof(p)), 0);
	assert_true(c.st.chunks == 3 && c.st.bytes == sizeof(p));
	assert_true(c.st.dedup_chunks == 1 && c.st.dedup_bytes == 4096);
	assert_memory_equal(c.recs.v[0].digest, c.recs.v[1].digest, BLZ_SHA256_LEN);
	assert_memory_not_equal(c.recs.v[0].digest, c.recs.v[2].digest, BLZ_SHA256_LEN);
	/* the same bytes again, elsewhere: every chunk deduplicated, each still gets a record */
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_IMPORT, 1 << 20, p, sizeof(p)), 0);
	assert_true(c.st.chunks == 6 && c.st.dedup_chunks == 4 && c.st.dedup_bytes == 4 * 4096);
	assert_int_equal(c.recs.len, 6);
	check_rec(s, &c.recs.v[5], BLZ_MAP_AREA_IMPORT, (1 << 20) + 8192, p + 8192, 4096);
	uint64_t chunks, bytes;
	assert_int_equal(blz_store_usage(s, &chunks, &bytes), 0);
	assert_true(chunks == 2);
	/* boundaries decide: the same bytes cut elsewhere are other chunks */
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_IMPORT, 2 << 20, p + 100, 4096), 0);
	assert_true(c.st.dedup_chunks == 4);
	blz_chunker_release(&c);
	blz_store_close(s);
}

/* A failed put leaves the records and counters as they were. */
static void test_failure_rolls_back(void **state)
{
	struct blz_store *s = new_store("rollback", 0);
	uint8_t p[2 * 4096];
	fill(p, sizeof(p), 3);
	assert_int_equal(blz_store_put(s, p, 4096, NULL), 0); /* the first piece is there */
	blz_store_close(s);
	assert_int_equal(blz_store_open(store_dir, BLZ_STORE_RDONLY, &s), 0);
	struct blz_chunker c;
	blz_chunker_init(&c, s, 4096);
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_IMPORT, 0, p, 4096), 0);
	struct blz_chunker_stats before = c.st;
	assert_true(before.chunks == 1 && before.dedup_chunks == 1);
	assert_int_equal(blz_chunker_put(&c, BLZ_MAP_AREA_IMPORT, 4096, p, sizeof(p)), -EROFS);
	assert_int_equal(c.recs.len, 1);
	assert_memory_equal(&c.st, &before, sizeof(before));
	blz_chunker_release(&c);
	blz_store_close(s);
}

/* The importer: runs at device offsets -> a journal of import-area records. */
static void test_importer(void **state)
{
	snprintf(store_dir, sizeof(store_dir), "%s/imp-store", dir);
	char err[512], map_path[160], why[256];
	snprintf(map_path, sizeof(map_path), "%s/imp.map", dir);
	struct blz_importer *im;
	assert_int_equal(blz_importer_open(store_dir, &im, err, sizeof(err)), 0);
	const uint64_t area = 512ull << 30;
	uint8_t a[8192], b[4096];
	fill(a, sizeof(a), 11);
	fill(b, sizeof(b), 12);
	assert_int_equal(blz_importer_put(im, area, a, sizeof(a)), 0);
	assert_int_equal(blz_importer_put(im, area + 8192, b, sizeof(b)), 0);
	assert_int_equal(blz_importer_put(im, area + 65536, a, sizeof(a)), 0); /* a copy */
	struct blz_import_stats st;
	blz_importer_stats(im, &st);
	assert_true(st.chunks == 3 && st.bytes == 2 * sizeof(a) + sizeof(b));
	assert_true(st.dedup_chunks == 1 && st.dedup_bytes == sizeof(a));
	uint8_t fsid[16];
	memset(fsid, 0x42, sizeof(fsid));
	assert_int_equal(blz_importer_write_map(im, map_path, fsid, area, 1 << 20, err,
						sizeof(err)), 0);
	/* it never replaces a map */
	assert_int_equal(blz_importer_write_map(im, map_path, fsid, area, 1 << 20, err,
						sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "exists already"));
	uint64_t chunks, bytes;
	assert_int_equal(blz_importer_store_usage(im, &chunks, &bytes), 0);
	assert_true(chunks == 2);
	blz_importer_close(im);
	blz_importer_close(NULL);

	struct blz_map *map;
	assert_int_equal(blz_map_open(map_path, fsid, BLZ_MAP_READONLY, &map, why, sizeof(why)), 0);
	struct blz_map_seg seg[8];
	size_t n;
	assert_int_equal(blz_map_lookup(map, area, 65536 + 8192, seg, 8, &n), 0);
	assert_int_equal(n, 4); /* a, b, a gap, a again */
	assert_true(seg[0].mapped && seg[0].len == 8192 && seg[0].rec.area == BLZ_MAP_AREA_IMPORT);
	assert_true(seg[1].mapped && seg[1].len == 4096 && seg[1].off == area + 8192);
	assert_false(seg[2].mapped);
	assert_true(seg[3].mapped && seg[3].off == area + 65536);
	assert_memory_equal(seg[0].rec.digest, seg[3].rec.digest, BLZ_SHA256_LEN);
	blz_map_close(map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_dedupe),
		cmocka_unit_test(test_failure_rolls_back),
		cmocka_unit_test(test_importer),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
