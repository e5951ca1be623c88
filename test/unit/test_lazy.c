/* Unit tests for lib/lazy: the seed + map + store device behind the server, and mapping. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "btrfs/writer.h"
#include "lazy/fetches.h"
#include "fetch/fetch.h"
#include "backend/reqlog.h"
#include "lazy/lazy.h"
#include "lazywrite/mapper.h"
#include "seedset/seedset.h"
#include "store/store.h"
#include "util/sha256.h"
#include "mkseed/mkseed.h"
#include "util/clock.h"
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
	struct blz_seedset_opts lo = { .seed = seed };
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

/* A map whose input comes from a pipe, in a thread: it reads and stores whole chunks, then
 * waits in read() for more until the test closes the pipe. */
struct piped_map {
	int rfd;
	pid_t tid;
	int r;
	char err[256];
	struct blz_mapped mp;
};

static void *piped_map_thread(void *arg)
{
	struct piped_map *pm = arg;
	pm->tid = (pid_t)syscall(SYS_gettid);
	struct blz_seedset_opts lo = { .seed = seed };
	struct blz_mapper *m;
	pm->r = blz_mapper_open(&lo, &m, pm->err, sizeof(pm->err));
	if (pm->r == 0) {
		pm->r = blz_mapper_add(m, pm->rfd, "pipe", &pm->mp, pm->err, sizeof(pm->err));
		blz_mapper_close(m);
	}
	return NULL;
}

/* Thread tid of this process sleeps (here: waits in read on an empty pipe). */
static bool thread_sleeps(pid_t tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

/* Two maps of one store at once: a failed map removes the chunks it wrote that no record
 * references (lib/lazywrite/mapper.c forget_made, under the map's lock). A map that found
 * such a chunk in the store before that clean-up and records it after must fail, not map
 * a chunk that is gone (a read of it would be EIO forever). */
static void test_map_chunk_removed(void **state)
{
	uint8_t *data = malloc(2 * BLZ_MAP_CHUNK);
	fill(data, 2 * BLZ_MAP_CHUNK, 77);
	char store[160];
	snprintf(store, sizeof(store), "%s%s", seed, BLZ_SEEDSET_STORE_SUFFIX);
	struct blz_store *st;
	assert_int_equal(blz_store_open(store, BLZ_STORE_CREATE, &st), 0);
	/* another writer stored the first chunk and has not recorded it yet */
	uint8_t y[BLZ_STORE_DIGEST_LEN], z[BLZ_STORE_DIGEST_LEN];
	assert_int_equal(blz_store_put(st, data, BLZ_MAP_CHUNK, y), 0);
	blz_sha256(data + BLZ_MAP_CHUNK, BLZ_MAP_CHUNK, z);
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct piped_map pm = { .rfd = p[0] };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, piped_map_thread, &pm), 0);
	assert_int_equal(blz_write_full(p[1], data, 2 * BLZ_MAP_CHUNK), 0);
	/* both chunks read and stored (the first found there, the second written) */
	int avail = 1;
	for (int i = 0; i < 3000 && (avail || !pm.tid || !thread_sleeps(pm.tid)); i++) {
		usleep(10000);
		assert_int_equal(ioctl(p[0], FIONREAD, &avail), 0);
	}
	assert_true(avail == 0 && thread_sleeps(pm.tid));
	assert_int_equal(blz_store_has(st, z), 1);
	/* the other writer failed: its clean-up removes its chunk, which nothing references */
	assert_int_equal(blz_store_remove(st, y), 0);
	close(p[1]);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(p[0]);
	assert_int_equal(pm.r, -ENOENT);
	assert_non_null(strstr(pm.err, "cannot map 'pipe'"));
	/* and its own clean-up removed the chunk it wrote; nothing was recorded */
	assert_int_equal(blz_store_has(st, z), 0);
	blz_store_close(st);
	struct blz_lazy_opts lo = { .seed = seed };
	struct blz_lazy *l;
	char err[256];
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	struct blz_lazy_stats ls;
	blz_lazy_get_stats(l, &ls);
	uint64_t before = ls.map_records;
	blz_backend_close(blz_lazy_backend(l));
	/* with the chunk there, the same bytes map */
	struct blz_mapped mp = map_bytes(data, 2 * BLZ_MAP_CHUNK);
	assert_true(mp.records == 2);
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	blz_lazy_get_stats(l, &ls);
	assert_true(ls.map_records == before + 2);
	blz_backend_close(blz_lazy_backend(l));
	free(data);
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
	/* A read of mapped then unmapped bytes returns the mapped prefix (a short count);
	 * the rest, asked for again, fails; the next read is not affected. */
	memset(out, 0xff, 12288);
	assert_int_equal(blz_backend_read(b, out, 12288, mp.device_off + (3u << 20) - 4096), 8192);
	assert_memory_equal(out, data + (3u << 20) - 4096, 4096 + 5);
	for (int i = 4096 + 5; i < 8192; i++)
		assert_int_equal(out[i], 0);
	assert_int_equal(blz_backend_read(b, out, 1 << 20, mp.device_off + (3u << 20) + 4096), -EIO);
	assert_int_equal(blz_backend_read(b, out, 4096, mp.device_off), 0);
	assert_memory_equal(out, data, 4096);

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

	/* Fetch accounting: the local regions read, each record read, with store loads. */
	struct blz_buf fb = { 0 };
	blz_lazy_format_fetches(l, &fb);
	blz_buf_append(&fb, "", 1);
	struct blz_fetch_list fl;
	assert_int_equal(blz_fetch_parse((char *)fb.data, &fl, err, sizeof(err)), 0);
	blz_lazy_get_stats(l, &st);
	assert_int_equal(st.fetch_ranges, fl.ranges.len);
	uint64_t lazy = 0, recs = 0;
	bool region0 = false, region1 = false;
	for (size_t i = 0; i < fl.ranges.len; i++) {
		const struct blz_fetch_range *r = &fl.ranges.v[i];
		if (r->area == BLZ_FETCH_LOCAL) {
			region0 |= r->off == 0 && r->reads == 1 && r->bytes == 65536 &&
				   fl.spans.v[r->first_span].off == 65536;
			region1 |= r->off == 1 << 20 && r->reads == 1 && r->bytes == 4096;
			continue;
		}
		assert_int_equal(r->area, BLZ_FETCH_VIRTUAL);
		assert_true(r->store >= 1);
		assert_true(r->nr_spans >= 1);
		lazy += r->bytes;
		recs += r->off >= mp.device_off && r->off < mp.device_off + (3u << 20) + 4096;
	}
	assert_true(region0 && region1);
	assert_int_equal(recs, 4);
	assert_int_equal(lazy, st.lazy_bytes);
	blz_fetch_list_release(&fl);
	blz_buf_release(&fb);
	/* Zero copy: the image's part of the local region is the image file at the same
	 * offset; nothing else is a file's (lazy bytes, the gap, a range crossing the end). */
	int zfd = -1;
	uint64_t zoff = 1;
	struct blz_lazy_stats zs0, zs1;
	blz_lazy_get_stats(l, &zs0);
	assert_int_equal(blz_backend_file_range(b, 65536, 65536, &zfd, &zoff), 0);
	assert_true(zfd >= 0);
	assert_true(zoff == 65536);
	blz_lazy_get_stats(l, &zs1);
	assert_int_equal(blz_pread_full(zfd, want, sizeof(want), zoff), 0);
	assert_int_equal(blz_backend_read(b, got, sizeof(got), 65536), 0);
	assert_memory_equal(want, got, sizeof(got));
	assert_true(zs1.local_bytes == zs0.local_bytes + 65536); /* counted as read */
	struct stat zst;
	assert_int_equal(fstat(zfd, &zst), 0);
	uint64_t img_end = (uint64_t)zst.st_size < lay.local_end ? (uint64_t)zst.st_size
								  : lay.local_end;
	assert_int_equal(blz_backend_file_range(b, img_end - 4096, 4096, &zfd, &zoff), 0);
	assert_int_equal(blz_backend_file_range(b, img_end - 4096, 8192, &zfd, &zoff), -ENOENT);
	assert_int_equal(blz_backend_file_range(b, mp.device_off, 4096, &zfd, &zoff), -ENOENT);
	assert_int_equal(blz_backend_file_range(b, lay.local_end + 8192, 4096, &zfd, &zoff),
			 -ENOENT);
	blz_backend_close(b);
	free(out);
	free(data);
}

/* What a read met, noted on its request (backend.h): the area of its first byte and the
 * costliest outcome, for the request log and the statistics. */
static void expect_note(struct blz_backend *b, uint64_t off, uint32_t len, int want_r,
			unsigned area, unsigned outcome)
{
	static uint8_t buf[1 << 20];
	struct blz_backend_req req = { .buf = buf, .len = len, .off = off };
	int r = blz_backend_read_req(b, &req);
	if (r != want_r || req.area != area || req.outcome != outcome)
		fail_msg("read of %u at %llu: %d, %s, %s (want %d, %s, %s)", len,
			 (unsigned long long)off, r, blz_area_name(req.area),
			 blz_outcome_name(req.outcome), want_r, blz_area_name(area),
			 blz_outcome_name(outcome));
}

static void test_notes(void **state)
{
	uint8_t data[100000];
	fill(data, sizeof(data), 9);
	struct blz_mapped mp = map_bytes(data, sizeof(data));
	struct blz_lazy_opts lo = { .seed = seed, .log = log_cb };
	struct blz_lazy *l;
	char err[256];
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	struct blz_backend *b = blz_lazy_backend(l);
	expect_note(b, 65536, 4096, 0, BLZ_AREA_LOCAL, BLZ_OUT_IMAGE);
	expect_note(b, mp.device_off, 4096, 0, BLZ_AREA_VIRTUAL, BLZ_OUT_FETCH);
	expect_note(b, mp.device_off + 8192, 4096, 0, BLZ_AREA_VIRTUAL, BLZ_OUT_CACHE);
	expect_note(b, lay.local_end + 8192, 4096, 0, BLZ_AREA_GAP, BLZ_OUT_ZERO);
	expect_note(b, lay.virtual_off + (1ull << 39), 4096, -EIO, BLZ_AREA_VIRTUAL,
		    BLZ_OUT_UNMAPPED);
	/* mapped then unmapped: the readable prefix, noted as what it met at worst */
	expect_note(b, mp.device_off + 98304, 8192, 4096, BLZ_AREA_VIRTUAL, BLZ_OUT_UNMAPPED);
	/* across the end of the local region into the gap: the first byte's area */
	expect_note(b, lay.local_end - 4096, 8192, 0, BLZ_AREA_LOCAL, BLZ_OUT_IMAGE);
	blz_backend_close(b);
}

static void test_corrupt_chunk(void **state)
{
	uint8_t good[4096], data[8192];
	fill(good, sizeof(good), 98);
	struct blz_mapped gm = map_bytes(good, sizeof(good));
	fill(data, sizeof(data), 99);
	struct blz_mapped mp = map_bytes(data, sizeof(data));
	assert_true(mp.device_off == gm.device_off + 4096);
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
	/* Good bytes before the corrupt chunk: returned as a short read. */
	assert_int_equal(blz_backend_read(b, out, 8192, gm.device_off), 4096);
	assert_memory_equal(out, good, 4096);
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

/* ---- chunks through lib/fetch ---- */

struct areq {
	struct blz_backend_req req;
	atomic_int done;
	int result;
};

static void areq_done(struct blz_backend_req *req, int result)
{
	struct areq *a = (struct areq *)req;
	a->result = result;
	atomic_store(&a->done, 1);
}

/* Submits a read and waits for it (at most 10 s). */
static int async_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	struct areq a = { .req = { .buf = buf, .len = len, .off = off, .done = areq_done } };
	blz_backend_submit(b, &a.req);
	for (int i = 0; i < 10000 && !atomic_load(&a.done); i++)
		usleep(1000);
	assert_true(atomic_load(&a.done));
	return a.result;
}

/* With --store given: a directory alone keeps the synchronous path; injected faults (like a
 * remote store) make the backend asynchronous: a request spanning the local region and
 * several chunks completes with every byte, a mapped-then-unmapped one with the prefix, and
 * failing fetches end in EIO; the persistent cache keeps what was fetched. */
static void test_fetch_stores(void **state)
{
	size_t n = (2u << 20) + 100;
	uint8_t *data = malloc(n);
	fill(data, n, 77);
	struct blz_mapped mp = map_bytes(data, n);
	char store[160], cache[160], efile[160], inject[200];
	snprintf(store, sizeof(store), "%s.store", seed);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(efile, sizeof(efile), "%s/fail", dir);
	snprintf(inject, sizeof(inject), "delay=20ms,error-file=%s", efile);
	const char *stores[] = { store };
	struct blz_fetch_opts fo = { .stores = stores, .n_stores = 1, .retries = 0,
				     .timeout_ms = 3000 };
	struct blz_lazy_opts lo = { .seed = seed, .log = log_cb, .fetch = &fo };
	struct blz_lazy *l;
	char err[256];
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	struct blz_backend *b = blz_lazy_backend(l);
	assert_false(blz_backend_is_async(b));
	uint8_t *out = malloc(n + 8192);
	assert_int_equal(blz_backend_read(b, out, (uint32_t)n, mp.device_off), 0);
	assert_memory_equal(out, data, n);
	struct blz_fetch_stats fs;
	assert_int_equal(blz_lazy_get_fetch_stats(l, &fs), 0);
	assert_int_equal(fs.n_sources, 1);
	assert_true(fs.source[0].fetches >= 3);
	blz_backend_close(b);

	fo.inject = inject;
	fo.cache_dir = cache;
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	b = blz_lazy_backend(l);
	assert_true(blz_backend_is_async(b));
	assert_int_equal(async_read(b, out, (uint32_t)n, mp.device_off), 0);
	assert_memory_equal(out, data, n);
	assert_int_equal(async_read(b, out, 8192, 65536), 0);
	/* The last 4 KiB mapped, then unmapped bytes: the prefix. */
	uint64_t end = mp.device_off + ((n + 4095) & ~4095ull);
	assert_int_equal(async_read(b, out, 8192, end - 4096), 4096);
	assert_memory_equal(out, data + (end - 4096 - mp.device_off), n - (end - 4096 - mp.device_off));
	assert_int_equal(async_read(b, out, 4096, end), -EIO);
	blz_backend_close(b);

	/* Faults while the file exists: a fresh cache, so every chunk must be fetched: EIO;
	 * the local region still reads; then the cache of the run above answers. */
	char cache2[170];
	snprintf(cache2, sizeof(cache2), "%s2", cache);
	fo.cache_dir = cache2;
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	b = blz_lazy_backend(l);
	write_file(efile, (const uint8_t *)"", 0);
	logged = 0;
	assert_int_equal(async_read(b, out, 4096, mp.device_off), -EIO);
	assert_true(logged >= 1);
	assert_int_equal(async_read(b, out, 4096, 65536), 0);
	blz_backend_close(b);
	fo.cache_dir = cache;
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	b = blz_lazy_backend(l);
	assert_int_equal(async_read(b, out, (uint32_t)n, mp.device_off), 0);
	assert_memory_equal(out, data, n);
	assert_int_equal(blz_lazy_get_fetch_stats(l, &fs), 0);
	assert_true(fs.cache_hits >= 3);
	assert_int_equal(fs.source[0].fetches, 0);
	blz_backend_close(b);
	unlink(efile);
	free(out);
	free(data);
}

/* --prefetch: a list of file names (what `blazy status --trace` writes) is resolved in the
 * seed at open and the chunks of its files' lazy ranges are fetched in the background into
 * the persistent cache; a name that is no file of the seed is a log line; a small (inline)
 * file has no chunk; a list in the older "fetches" format is told by its first line; an
 * unreadable list fails the open. */
static void test_prefetch_names(void **state)
{
	char src[160], path[200], pseed[160], list[160], cache[160];
	snprintf(src, sizeof(src), "%s/pf-src", dir);
	snprintf(pseed, sizeof(pseed), "%s/pf.img", dir);
	snprintf(list, sizeof(list), "%s/pf.list", dir);
	snprintf(cache, sizeof(cache), "%s/pf-cache", dir);
	snprintf(path, sizeof(path), "%s/sub", src);
	assert_int_equal(blz_mkdir_p(path, 0755), 0);
	static const struct { const char *name; size_t len; } files[] = {
		{ "a", 2500000 }, /* 3 chunks (runs of at most 1 MiB) */
		{ "sub/b", 200000 },
		{ "c", 300000 },  /* not in the list */
		{ "small", 100 }, /* inline: no extent */
	};
	uint8_t *buf = malloc(2500000);
	for (size_t i = 0; i < 4; i++) {
		fill(buf, files[i].len, 100 + (uint32_t)i);
		snprintf(path, sizeof(path), "%s/%s", src, files[i].name);
		write_file(path, buf, files[i].len);
	}
	free(buf);
	struct blz_mkseed_opts mo = { .output = pseed, .rootdir = src, .lazy = true };
	struct blz_mkseed_result mres;
	char err[512];
	assert_int_equal(blz_mkseed(&mo, &mres, err, sizeof(err)), 0);
	assert_int_equal(mres.store_chunks, 5);

	const char *text = "a\n\nsub/b\nnothere\nsmall";
	write_file(list, (const uint8_t *)text, strlen(text));
	snprintf(path, sizeof(path), "%s.store", pseed);
	const char *stores[] = { path };
	/* injected delays make the directory store go through the workers, as a remote one */
	struct blz_fetch_opts fo = { .stores = stores, .n_stores = 1, .retries = 0,
				     .timeout_ms = 5000, .cache_dir = cache,
				     .inject = "delay=1ms", .prefetch_rate = 1ull << 40 };
	struct blz_lazy_opts lo = { .seed = pseed, .log = log_cb, .fetch = &fo,
				    .prefetch_list = list };
	struct blz_lazy *l;
	logged = 0;
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	struct blz_lazy_stats ls;
	blz_lazy_get_stats(l, &ls);
	assert_int_equal(ls.prefetch_files, 4);
	assert_int_equal(ls.prefetch_missing, 1);
	assert_int_equal(ls.prefetch_chunks, 4);
	assert_int_equal(logged, 1);
	assert_non_null(strstr(last_log, "'nothere'"));
	struct blz_fetch_stats fs;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(blz_lazy_get_fetch_stats(l, &fs), 0);
		if (fs.prefetched == 4)
			break;
		usleep(10000);
	}
	assert_int_equal(fs.prefetched, 4);
	assert_int_equal(fs.prefetch_queued, 4);
	assert_int_equal(fs.source[0].fetches, 4);
	assert_int_equal(fs.cache_entries, 4);
	blz_backend_close(blz_lazy_backend(l));

	/* the older format: a "fetches" reply with no ranges queues nothing (read as names, its
	 * header would be one missing file) */
	text = "blazy-fetches 1 0\n";
	write_file(list, (const uint8_t *)text, strlen(text));
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
	blz_lazy_get_stats(l, &ls);
	assert_int_equal(ls.prefetch_files + ls.prefetch_missing + ls.prefetch_chunks, 0);
	blz_backend_close(blz_lazy_backend(l));

	unlink(list);
	assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot read prefetch list"));
}

/* --fetch-ahead: a read that has to fetch a chunk from a remote store (injected faults
 * stand for one) also asks for the next N chunks of the map; once they are in, reading them
 * fetches nothing more. With N = 0 no neighbour is asked for. */
static void test_fetch_ahead(void **state)
{
	size_t n = (5u << 20) + 100; /* six chunks of at most 1 MiB */
	uint8_t *data = malloc(n);
	fill(data, n, 91);
	struct blz_mapped mp = map_bytes(data, n);
	char store[160], cache[160];
	snprintf(store, sizeof(store), "%s.store", seed);
	const char *stores[] = { store };
	struct blz_fetch_opts fo = { .stores = stores, .n_stores = 1, .retries = 0,
				     .timeout_ms = 3000, .inject = "delay=1ms", .cache_dir = cache };
	struct blz_lazy_opts lo = { .seed = seed, .log = log_cb, .fetch = &fo };
	uint8_t *out = malloc(1u << 20);
	char err[256];
	for (unsigned ahead = 0; ahead <= 3; ahead += 3) {
		snprintf(cache, sizeof(cache), "%s/cache-ahead%u", dir, ahead);
		fo.ahead = ahead;
		struct blz_lazy *l;
		assert_int_equal(blz_lazy_open(&lo, &l, err, sizeof(err)), 0);
		struct blz_backend *b = blz_lazy_backend(l);
		assert_true(blz_backend_is_async(b));
		assert_int_equal(async_read(b, out, 4096, mp.device_off), 0);
		assert_memory_equal(out, data, 4096);
		struct blz_fetch_stats fs;
		assert_int_equal(blz_lazy_get_fetch_stats(l, &fs), 0);
		assert_int_equal(fs.ahead_queued, ahead); /* asked for at the miss, not later */
		uint64_t until = blz_now_ms() + 5000;
		while (fs.fetched_ahead < ahead && blz_now_ms() < until) {
			blz_sleep_ms(5);
			blz_lazy_get_fetch_stats(l, &fs);
		}
		assert_int_equal(fs.fetched_ahead, ahead);
		uint64_t fetched = fs.source[0].fetches;
		assert_int_equal(fetched, 1 + ahead);
		/* The neighbours read without another fetch (memory or persistent cache). */
		for (unsigned c = 1; c <= ahead; c++) {
			assert_int_equal(async_read(b, out, 1u << 20, mp.device_off + ((uint64_t)c << 20)), 0);
			assert_memory_equal(out, data + ((size_t)c << 20), 1u << 20);
		}
		assert_int_equal(blz_lazy_get_fetch_stats(l, &fs), 0);
		assert_int_equal(fs.source[0].fetches, fetched);
		blz_backend_close(b);
	}
	free(out);
	free(data);
}

/* ---- fetch accounting (lazy/fetches.h) ---- */

static char *format_table(struct blz_fetch_table *t)
{
	struct blz_fetch_entries e = { 0 };
	struct blz_buf b = { 0 };
	blz_fetch_table_collect(t, &e);
	blz_fetch_format_header(&b, blz_fetch_table_untracked(t));
	for (size_t i = 0; i < e.len; i++)
		blz_fetch_format_entry(&b, &e.v[i]);
	blz_buf_append(&b, "", 1);
	vec_release(&e);
	return (char *)b.data;
}

static void test_fetch_granules(void **state)
{
	assert_int_equal(blz_fetch_granule(4096), 4096);
	assert_int_equal(blz_fetch_granule(1 << 20), 4096);
	assert_int_equal(blz_fetch_granule((1 << 20) + 4096), 8192);
	assert_int_equal(blz_fetch_granule(4u << 20), 16384);
	assert_int_equal(blz_fetch_granule(0xfffff000u), 16u << 20);

	struct blz_fetch_table *t = blz_fetch_table_new(5000);
	/* A 1 MiB record: 4 KiB granules; a read inside one granule marks only it. */
	uint64_t off = 512ull << 30;
	blz_fetch_count(t, 7, BLZ_FETCH_IMPORT, off, 1 << 20, 0, 4096);
	blz_fetch_count(t, 7, BLZ_FETCH_IMPORT, off, 1 << 20, 8192 + 10, 100);
	blz_fetch_count(t, 7, BLZ_FETCH_IMPORT, off, 1 << 20, 4096, 1);
	blz_fetch_count_store(t, 7, BLZ_FETCH_IMPORT, off, 1 << 20);
	/* A record of 10000 bytes' 4 KiB-rounded length, read to its end: clipped to len. */
	blz_fetch_count(t, 4999, BLZ_FETCH_VIRTUAL, off + (2 << 20), 12288, 4096, 8192);
	/* 4 MiB: 16 KiB granules, a read crossing a granule boundary marks both; one across
	 * the 64-granule word boundary marks both words. */
	blz_fetch_count(t, 1024, BLZ_FETCH_IMPORT, off + (8 << 20), 4u << 20, 16383, 2);
	blz_fetch_count(t, 1024, BLZ_FETCH_IMPORT, off + (8 << 20), 4u << 20, 64 * 16384 - 1, 2);
	/* Past the capacity: untracked; nothing else changes. */
	blz_fetch_count(t, 5000, BLZ_FETCH_IMPORT, off, 4096, 0, 4096);
	assert_int_equal(blz_fetch_table_used(t), 3);
	assert_int_equal(blz_fetch_table_untracked(t), 1);

	char *txt = format_table(t);
	char want[1024];
	snprintf(want, sizeof(want),
		 "blazy-fetches 1 1\n"
		 "import %llu 1048576 3 4197 1 0+12288\n"
		 "import %llu 4194304 2 4 0 0+32768,1032192+32768\n"
		 "virtual %llu 12288 1 8192 0 4096+8192\n",
		 (unsigned long long)off, (unsigned long long)off + (8 << 20),
		 (unsigned long long)off + (2 << 20));
	assert_string_equal(txt, want);

	/* Parsed back: sorted by offset, the pieces absolute. */
	struct blz_fetch_list l;
	char err[128];
	assert_int_equal(blz_fetch_parse(txt, &l, err, sizeof(err)), 0);
	assert_int_equal(l.untracked, 1);
	assert_int_equal(l.ranges.len, 3);
	assert_int_equal(l.ranges.v[0].off, off);
	assert_int_equal(l.ranges.v[0].reads, 3);
	assert_int_equal(l.ranges.v[0].bytes, 4197);
	assert_int_equal(l.ranges.v[0].store, 1);
	assert_int_equal(l.ranges.v[0].nr_spans, 1);
	assert_int_equal(l.spans.v[l.ranges.v[0].first_span].len, 12288);
	assert_int_equal(l.ranges.v[1].area, BLZ_FETCH_VIRTUAL);
	assert_int_equal(l.ranges.v[1].off, off + (2 << 20));
	assert_int_equal(l.spans.v[l.ranges.v[1].first_span].off, off + (2 << 20) + 4096);
	assert_int_equal(l.ranges.v[2].nr_spans, 2);
	assert_int_equal(l.spans.v[l.ranges.v[2].first_span + 1].off, off + (8 << 20) + 1032192);
	blz_fetch_list_release(&l);
	free(txt);
	blz_fetch_table_free(t);
}

static void test_fetch_parse_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"blazy-fetch 1 0\n",
		"blazy-fetches 2 0\n",
		"blazy-fetches 1 0\nlocal 0 4096 1 4096 0\n",           /* no pieces */
		"blazy-fetches 1 0\nremote 0 4096 1 4096 0 0+4096\n",   /* unknown area */
		"blazy-fetches 1 0\nlocal 0 0 1 4096 0 -\n",            /* empty range */
		"blazy-fetches 1 0\nlocal 0 4096 1 4096 0 0+8192\n",    /* piece past the range */
		"blazy-fetches 1 0\nlocal 0 8192 1 4096 0 4096+4096,0+4096\n", /* out of order */
		"blazy-fetches 1 0\nlocal 0 4096 1 4096 0 0+4096 x\n",  /* trailing text */
		"blazy-fetches 1 0\nlocal 0 4096 1 99999999999999999999 0 0+4096\n", /* overflow */
		"blazy-fetches 1 0\nlocal 18446744073709547520 8192 1 1 0 -\n", /* wraps */
		"blazy-fetches 1 0\n\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct blz_fetch_list l;
		char err[128] = "";
		if (blz_fetch_parse(bad[i], &l, err, sizeof(err)) != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(strstr(err, "line "));
	}
	struct blz_fetch_list l;
	char err[128];
	assert_int_equal(blz_fetch_parse("blazy-fetches 1 0", &l, err, sizeof(err)), 0);
	assert_int_equal(l.ranges.len, 0);
	assert_int_equal(blz_fetch_parse("blazy-fetches 1 0\nlocal 0 4096 2 10 0 -", &l, err,
					 sizeof(err)), 0);
	assert_int_equal(l.ranges.len, 1);
	assert_int_equal(l.ranges.v[0].nr_spans, 0);
	blz_fetch_list_release(&l);
}

#define THREADS 4
#define PER_THREAD 200000

struct counter_arg {
	struct blz_fetch_table *t;
	unsigned id;
};

static void *count_thread(void *p)
{
	struct counter_arg *a = p;
	for (uint32_t i = 0; i < PER_THREAD; i++) {
		/* All threads share entries 0-99 (and their pages); each marks its own granules. */
		uint64_t idx = (i * 7 + a->id) % 100;
		blz_fetch_count(a->t, idx, BLZ_FETCH_IMPORT, idx << 20, 1 << 20,
				(a->id * 64 + (i / 100) % 64) * 4096, 4096);
		if (i % 10 == 0)
			blz_fetch_count_store(a->t, idx, BLZ_FETCH_IMPORT, idx << 20, 1 << 20);
	}
	return NULL;
}

static void test_fetch_concurrent(void **state)
{
	struct blz_fetch_table *t = blz_fetch_table_new(1u << 20);
	pthread_t th[THREADS];
	struct counter_arg a[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		a[i] = (struct counter_arg){ t, i };
		assert_int_equal(pthread_create(&th[i], NULL, count_thread, &a[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	struct blz_fetch_entries e = { 0 };
	blz_fetch_table_collect(t, &e);
	assert_int_equal(e.len, 100);
	uint64_t reads = 0, bytes = 0, store = 0;
	for (size_t i = 0; i < e.len; i++) {
		assert_int_equal(e.v[i].off, (uint64_t)i << 20);
		assert_int_equal(e.v[i].len, 1 << 20);
		assert_int_equal(e.v[i].area, BLZ_FETCH_IMPORT);
		/* Every granule of every entry was read by some thread. */
		for (int w = 0; w < 4; w++)
			assert_true(e.v[i].bits[w] == ~0ull);
		reads += e.v[i].reads;
		bytes += e.v[i].bytes;
		store += e.v[i].store;
	}
	assert_int_equal(reads, (uint64_t)THREADS * PER_THREAD);
	assert_int_equal(bytes, (uint64_t)THREADS * PER_THREAD * 4096);
	assert_int_equal(store, (uint64_t)THREADS * PER_THREAD / 10);
	assert_int_equal(blz_fetch_table_used(t), 100);
	vec_release(&e);
	blz_fetch_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_granules),
		cmocka_unit_test(test_fetch_parse_errors),
		cmocka_unit_test(test_fetch_concurrent),
		cmocka_unit_test(test_serve_local_and_mapped),
		cmocka_unit_test(test_map_chunk_removed),
		cmocka_unit_test(test_corrupt_chunk),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_fetch_stores),
		cmocka_unit_test(test_prefetch_names),
		cmocka_unit_test(test_fetch_ahead),
		cmocka_unit_test(test_notes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
