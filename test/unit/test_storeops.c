/* Unit tests for lib/storeops (blazy store verify|prefetch|gc) on a lazy seed made in-process
 * by lib/mkseed from a small directory. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
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

#include "map/map.h"
#include "mkseed/mkseed.h"
#include "storeops/storeops.h"
#include "store/store.h"
#include "util/sha256.h"
#include "util/strbuf.h"

struct fixture {
	char dir[64];
	char seed[128], store[160], cache[128];
	uint64_t chunks;
};

/* What the report callback saw. */
struct seen {
	unsigned n[BLZ_STOREOPS_LOG + 1];
	uint8_t digest[8][BLZ_STORE_DIGEST_LEN];
	struct blz_storeops_problem p[8];
	unsigned np;
};

static void collect(void *ctx, const struct blz_storeops_problem *p)
{
	struct seen *s = ctx;
	s->n[p->kind]++;
	if (p->digest && s->np < 8) {
		memcpy(s->digest[s->np], p->digest, BLZ_STORE_DIGEST_LEN);
		s->p[s->np] = *p;
		s->p[s->np].digest = s->digest[s->np];
		s->p[s->np].store = s->p[s->np].reason = NULL;
		s->np++;
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void write_file(const char *path, size_t len, unsigned seed)
{
	uint8_t *b = blz_xmalloc(len);
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)(x >> 31);
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
	free(b);
}

static int setup(void **state)
{
	struct fixture *f = blz_xcalloc(1, sizeof(*f));
	char p[PATH_MAX];
	strcpy(f->dir, "/tmp/blz-test-storeops-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(p, sizeof(p), "%s/src", f->dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/src/sub", f->dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/src/a", f->dir);
	write_file(p, 2500000, 1);	/* 3 chunks */
	snprintf(p, sizeof(p), "%s/src/sub/b", f->dir);
	write_file(p, 200000, 2);
	snprintf(p, sizeof(p), "%s/src/b-copy", f->dir);
	write_file(p, 200000, 2);	/* the same chunk as sub/b: two records */
	snprintf(f->seed, sizeof(f->seed), "%s/seed.img", f->dir);
	snprintf(f->store, sizeof(f->store), "%s/seed.img.store", f->dir);
	snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
	snprintf(p, sizeof(p), "%s/src", f->dir);
	struct blz_mkseed_opts o = { .output = f->seed, .rootdir = p, .lazy = true };
	struct blz_mkseed_result res;
	char err[512];
	if (blz_mkseed(&o, &res, err, sizeof(err)) < 0) {
		print_error("mkseed: %s\n", err);
		return -1;
	}
	f->chunks = res.store_chunks;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* The path of the store's chunk file number i (in name order). */
static void nth_chunk(struct fixture *f, unsigned i, char *out, uint8_t *digest)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "find '%s' -type f -name '%s' | sort | sed -n %up", f->store,
		 "????????????????????????????????????????????????????????????????", i + 1);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, PATH_MAX, p));
	pclose(p);
	out[strcspn(out, "\n")] = 0;
	assert_int_equal(blz_unhex(strrchr(out, '/') + 1, digest, BLZ_STORE_DIGEST_LEN), 0);
}

static void test_verify(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { 0 };
	struct blz_storeops_opts o = { .seed = f->seed, .report = collect, .ctx = &seen };
	struct blz_storeops_verify_result res;
	char err[512];
	assert_true(f->chunks >= 4);
	assert_int_equal(blz_storeops_verify(&o, &res, err, sizeof(err)), 0);
	assert_int_equal(res.chunks, f->chunks);
	assert_int_equal(res.records, f->chunks + 1); /* b and its copy share a chunk */
	assert_int_equal(res.stores, 1);
	assert_int_equal(res.missing + res.bad + res.unreachable, 0);
	assert_int_equal(seen.np, 0);

	/* one chunk gone, one flipped: each named once, with a range of the import area */
	char gone[PATH_MAX], flip[PATH_MAX];
	uint8_t dgone[BLZ_STORE_DIGEST_LEN], dflip[BLZ_STORE_DIGEST_LEN];
	nth_chunk(f, 0, gone, dgone);
	nth_chunk(f, 1, flip, dflip);
	assert_int_equal(unlink(gone), 0);
	chmod(flip, 0644);
	int fd = open(flip, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\x01\x02", 2, BLZ_CHUNK_HEADER_LEN + 10), 2);
	close(fd);
	assert_int_equal(blz_storeops_verify(&o, &res, err, sizeof(err)), 0);
	assert_int_equal(res.missing, 1);
	assert_int_equal(res.bad, 1);
	assert_int_equal(seen.n[BLZ_STOREOPS_MISSING], 1);
	assert_int_equal(seen.n[BLZ_STOREOPS_BAD], 1);
	for (unsigned i = 0; i < seen.np; i++) {
		const struct blz_storeops_problem *p = &seen.p[i];
		const uint8_t *want = p->kind == BLZ_STOREOPS_MISSING ? dgone : dflip;
		assert_memory_equal(p->digest, want, BLZ_STORE_DIGEST_LEN);
		assert_int_equal(p->area, BLZ_MAP_AREA_IMPORT);
		assert_true(p->off >= (512ull << 30) && p->len > 0 && p->len % 4096 == 0);
	}

	/* a seed without a map: an error, and nothing is created */
	char nomap[PATH_MAX];
	snprintf(nomap, sizeof(nomap), "%s.map", f->seed);
	assert_int_equal(unlink(nomap), 0);
	assert_true(blz_storeops_verify(&o, &res, err, sizeof(err)) < 0);
	assert_int_equal(access(nomap, F_OK), -1);
}

static void test_prefetch_gc(void **state)
{
	struct fixture *f = *state;
	char list[PATH_MAX], spec[PATH_MAX * 2];
	const char *src = getenv("BLAZY_SRC");
	assert_non_null(src);
	snprintf(list, sizeof(list), "%s/list", f->dir);
	FILE *fp = fopen(list, "w");
	assert_non_null(fp);
	fputs("sub/b\n\nb-copy\nnot/there\n", fp);
	fclose(fp);
	/* a remote store (the example fetcher): its chunks enter the cache */
	snprintf(spec, sizeof(spec), "exec:'%s/contrib/fetchers/blazy-fetch-dir' '%s'", src, f->store);
	const char *stores[] = { spec };
	struct seen seen = { 0 };
	struct blz_storeops_opts o = { .seed = f->seed, .stores = stores, .n_stores = 1,
				       .cache_dir = f->cache, .report = collect, .ctx = &seen };
	struct blz_storeops_prefetch_result res;
	char err[512];
	assert_int_equal(blz_storeops_prefetch(&o, list, &res, err, sizeof(err)), 0);
	assert_int_equal(res.files, 3);
	assert_int_equal(res.missing_files, 1);
	assert_int_equal(seen.n[BLZ_STOREOPS_NO_FILE], 1);
	assert_int_equal(res.chunks, 1);	/* both names: one chunk */
	assert_int_equal(res.fetched, 1);
	assert_int_equal(res.failed, 0);
	assert_int_equal(blz_storeops_prefetch(&o, list, &res, err, sizeof(err)), 0);
	assert_int_equal(res.cached, 1);
	assert_int_equal(res.fetched, 0);

	/* the whole tree */
	fp = fopen(list, "w");
	fputs("a\nsub/b\n", fp);
	fclose(fp);
	assert_int_equal(blz_storeops_prefetch(&o, list, &res, err, sizeof(err)), 0);
	assert_int_equal(res.chunks, f->chunks);
	assert_int_equal(res.cached, 1);
	assert_int_equal(res.fetched, f->chunks - 1);

	/* gc: to a size that keeps some, then to nothing */
	struct blz_storeops_gc_result g;
	struct blz_storeops_opts go = { .cache_dir = f->cache };
	assert_int_equal(blz_storeops_gc(&go, UINT64_MAX, &g, err, sizeof(err)), 0);
	assert_int_equal(g.removed, 0);
	assert_int_equal(g.entries, f->chunks);
	uint64_t all = g.bytes;
	assert_int_equal(blz_storeops_gc(&go, all - 1, &g, err, sizeof(err)), 0);
	assert_int_equal(g.removed, 1);
	assert_true(g.bytes <= all - 1);
	assert_int_equal(blz_storeops_gc(&go, 0, &g, err, sizeof(err)), 0);
	assert_int_equal(g.entries, 0);
	assert_int_equal(g.removed, f->chunks - 1);
	/* the default cache is the server's: /var/cache/blazy/<fsid hex> */
	struct blz_storeops_opts so = { .seed = f->seed };
	assert_int_equal(blz_storeops_gc(&so, 0, &g, err, sizeof(err)), -ENOENT); /* a fresh fsid */
	const char *at = strstr(err, "'/var/cache/blazy/");
	assert_non_null(at);
	assert_int_equal(strspn(at + 18, "0123456789abcdef"), 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefetch_gc, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
