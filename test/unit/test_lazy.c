/* Unit tests for lib/lazy: the seed + map + store device behind the server, and mapping. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "btrfs/writer.h"
#include "lazy/lazy.h"
#include "lazy/mapper.h"
#include "util/fileio.h"

static char dir[64];
static char seed[128];
static struct blz_seed_layout lay;

static void fill(uint8_t *p, size_t n, uint32_t seedv)
{
	for (size_t i = 0; i < n; i++) {
		seedv = seedv * 1103515245u + 12345u;
		p[i] = (uint8_t)(seedv >> 16);
	}
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(blz_write_full(fd, p, n), 0);
	close(fd);
	return 0;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/blazy-lazy-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(seed, sizeof(seed), "%s/seed.img", dir);
	int fd = open(seed, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct blz_seed_opts o = { .virtual_size = 1ull << 40 };
	struct blz_seed *s;
	assert_int_equal(blz_seed_new(&s, fd, &o), 0);
	struct blz_fstree *t = blz_seed_tree(s);
	struct blz_inode *f = blz_fstree_new_inode(t, S_IFREG | 0644);
	blz_fstree_link(t, t->root, "local", 5, f);
	uint8_t buf[20000];
	fill(buf, sizeof(buf), 1);
	assert_int_equal(blz_seed_data_begin(s, f, sizeof(buf), "local"), 0);
	assert_int_equal(blz_seed_data_write(s, buf, sizeof(buf)), 0);
	assert_int_equal(blz_seed_data_end(s), 0);
	assert_int_equal(blz_seed_finish(s, &lay), 0);
	blz_seed_free(s);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int logged;
static char last_log[512];
static void log_cb(void *ctx, const char *msg)
{
	logged++;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

static struct blz_mapped map_bytes(const uint8_t *p, size_t n)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/input", dir);
	write_file(path, p, n);
	struct blz_lazy_opts lo = { .seed = seed };
	struct blz_mapper *m;
	char err[256];
	assert_int_equal(blz_mapper_open(&lo, &m, err, sizeof(err)), 0);
	int fd = open(path, O_RDONLY);
	struct blz_mapped mp;
	assert_int_equal(blz_mapper_add(m, fd, path, &mp, err, sizeof(err)), 0);
	close(fd);
	blz_mapper_close(m);
	return mp;
}

static void test_serve_local_and_mapped(void **state)
{
	size_t n = (3u << 20) + 5;
	uint8_t *data = malloc(n);
	fill(data, n, 42);
	struct blz_mapped mp = map_bytes(data, n);
	assert_true(mp.size == n);
	assert_true(mp.records == 4);
	assert_true(mp.device_off == lay.virtual_off + mp.virtual_off);
	assert_true(mp.virtual_off % 4096 == 0);

	struct blz_lazy_opts lo = { .seed = seed, .log = log_cb };
	struct blz_lazy *l;
	char err[256];
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	struct blz_backend *b = blz_lazy_backend(l);
	assert_true(b->size == lay.device_size);

	/* The local region is the image, byte for byte (superblock and data). */
	uint8_t want[65536], got[65536];
	int fd = open(seed, O_RDONLY);
	assert_int_equal(blz_pread_full(fd, want, sizeof(want), 65536), 0);
	assert_int_equal(blz_backend_read(b, got, sizeof(got), 65536), 0);
	assert_memory_equal(want, got, sizeof(got));
	assert_int_equal(blz_pread_full(fd, want, 4096, 1 << 20), 0);
	assert_int_equal(blz_backend_read(b, got, 4096, 1 << 20), 0);
	assert_memory_equal(want, got, 4096);
	close(fd);

	/* The mapped range, at odd offsets and sizes, across record boundaries. */
	uint8_t *out = malloc(n + 8192);
	assert_int_equal(blz_backend_read(b, out, (uint32_t)n, mp.device_off), 0);
	assert_memory_equal(out, data, n);
	assert_int_equal(blz_backend_read(b, out, 777777, mp.device_off + (1 << 20) - 333), 0);
	assert_memory_equal(out, data + (1 << 20) - 333, 777777);
	/* The tail of the last 4 KiB block past the file reads as zeros. */
	assert_int_equal(blz_backend_read(b, out, 4096, mp.device_off + (3u << 20)), 0);
	assert_memory_equal(out, data + (3u << 20), 5);
	for (int i = 5; i < 4096; i++)
		assert_int_equal(out[i], 0);
	/* Unmapped lazy bytes fail; the gap between local region and virtual area is zeros. */
	assert_int_equal(blz_backend_read(b, out, 4096, mp.device_off + (4u << 20)), -EIO);
	assert_int_equal(blz_backend_read(b, out, 4096, lay.virtual_off + (1ull << 39)), -EIO);
	memset(out, 0xff, 4096);
	assert_int_equal(blz_backend_read(b, out, 4096, lay.local_end + 8192), 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(out[i], 0);
	/* A read straddling mapped and unmapped fails as a whole. */
	assert_int_equal(blz_backend_read(b, out, 8192, mp.device_off + (3u << 20)), -EIO);

	/* Mapped after the device was opened: visible at once (refresh on a miss). */
	uint8_t more[10000];
	fill(more, sizeof(more), 7);
	struct blz_mapped mp2 = map_bytes(more, sizeof(more));
	assert_true(mp2.device_off >= mp.device_off + (3u << 20) + 4096);
	assert_int_equal(blz_backend_read(b, out, sizeof(more), mp2.device_off), 0);
	assert_memory_equal(out, more, sizeof(more));

	struct blz_lazy_stats st;
	blz_lazy_get_stats(l, &st);
	assert_true(st.unmapped >= 3);
	assert_true(st.store_reads >= 4);
	assert_true(st.cache_hits >= 1);
	assert_true(st.map_records == 5);
	assert_int_equal(logged, 0);
	blz_backend_close(b);
	free(out);
	free(data);
}

static void test_corrupt_chunk(void **state)
{
	uint8_t data[8192];
	fill(data, sizeof(data), 99);
	struct blz_mapped mp = map_bytes(data, sizeof(data));
	/* Flip one byte in the stored chunk file (the only chunk under its digest's name). */
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "f=$(ls -t '%s'/seed.img.store/*/* | head -n1); chmod u+w \"$f\"; "
		 "printf '\\377' | dd of=\"$f\" bs=1 seek=100 conv=notrunc 2>/dev/null", dir);
	assert_int_equal(system(cmd), 0);
	struct blz_lazy_opts lo = { .seed = seed, .log = log_cb };
	struct blz_lazy *l;
	char err[256];
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	struct blz_backend *b = blz_lazy_backend(l);
	uint8_t out[8192];
	logged = 0;
	assert_int_equal(blz_backend_read(b, out, 4096, mp.device_off), -EIO);
	assert_true(logged >= 1);
	assert_non_null(strstr(last_log, "seed.img.store/"));
	assert_non_null(strstr(last_log, "corrupt"));
	/* Other data is unaffected. */
	uint8_t sb[4096];
	assert_int_equal(blz_backend_read(b, sb, 4096, 65536), 0);
	assert_memory_equal(sb + 0x40, "_BHRfS_M", 8);
	blz_backend_close(b);
}

static void test_open_errors(void **state)
{
	struct blz_lazy *l;
	char err[256];
	struct blz_lazy_opts lo = { .seed = "/nonexistent/seed.img" };
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/seed.img"));
	char junk[160];
	snprintf(junk, sizeof(junk), "%s/junk", dir);
	uint8_t z[200000] = { 0 };
	write_file(junk, z, sizeof(z));
	lo.seed = junk;
	assert_true(blz_lazy_open(&lo, &l, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "not a usable seed"));
	/* A map made for another seed is refused. */
	char other[160];
	snprintf(other, sizeof(other), "%s/other.map", dir);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cp '%s.map' '%s' && printf 'XXXX' | dd of='%s' bs=1 seek=30 conv=notrunc 2>/dev/null",
		 seed, other, other);
	assert_int_equal(system(cmd), 0);
	lo.seed = seed;
	lo.map_path = other;
	assert_true(blz_lazy_open(&lo, &l, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "other.map"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serve_local_and_mapped),
		cmocka_unit_test(test_corrupt_chunk),
		cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
