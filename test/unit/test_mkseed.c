/* The mkseed pipeline's commit protocol: a failure or a signal at every step leaves no output
 * that looks valid, no temporary file, and a pre-existing OUTPUT untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkseed/mkseed.h"

#define MAX_CALLS 64

struct call {
	enum blz_mkseed_step step;
	size_t index;
};

struct fixture {
	char dir[256], out[300], src[300], tars[2][300], bad[300];
	struct blz_mkseed_source sources[2];
	struct blz_mkseed_opts opts;
	/* the hook */
	struct call calls[MAX_CALLS];
	size_t ncalls, fail_at;
	bool signal, preexisting;
};

static void put_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void fill(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

/* A one-file ustar archive. */
static void put_tar(const char *path, const char *name, size_t len, uint32_t seed)
{
	size_t padded = (len + 511) / 512 * 512;
	uint8_t *t = calloc(1, 512 + padded + 1024);
	char *h = (char *)t;
	snprintf(h, 100, "%s", name);
	snprintf(h + 100, 8, "%07o", 0644);
	snprintf(h + 108, 8, "%07o", 0);
	snprintf(h + 116, 8, "%07o", 0);
	snprintf(h + 124, 12, "%011zo", len);
	snprintf(h + 136, 12, "%011o", 1700000000);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += t[i];
	snprintf(h + 148, 7, "%06o", sum);
	fill(t + 512, len, seed);
	put_file(path, t, 512 + padded + 1024);
	free(t);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s/blz-mkseed-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->out, sizeof(f->out), "%s/out.img", f->dir);
	snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
	snprintf(f->bad, sizeof(f->bad), "%s/bad.tar", f->dir);
	assert_int_equal(mkdir(f->src, 0755), 0);
	char p[400];
	uint8_t buf[200000];
	fill(buf, sizeof(buf), 1);
	snprintf(p, sizeof(p), "%s/big", f->src);
	put_file(p, buf, sizeof(buf));
	snprintf(p, sizeof(p), "%s/small", f->src);
	put_file(p, "hello\n", 6);
	for (int i = 0; i < 2; i++) {
		snprintf(f->tars[i], sizeof(f->tars[i]), "%s/t%d.tar", f->dir, i);
		put_tar(f->tars[i], i ? "t/two" : "t/one", 9000 + (size_t)i * 3000, 7 + (uint32_t)i);
		f->sources[i] = (struct blz_mkseed_source){ BLZ_MKSEED_TAR, f->tars[i], NULL };
	}
	memset(buf, 'x', 4096); /* not a tar */
	put_file(f->bad, buf, 4096);
	f->opts.output = f->out;
	f->opts.rootdir = f->src;
	f->opts.sources = f->sources;
	f->opts.nsources = 2;
	f->opts.seed.fsid_set = true;
	memset(f->opts.seed.fsid, 0x5a, 16);
	f->opts.seed.timestamp.tv_sec = 1700000000;
	f->opts.seed.virtual_size = 1ull << 30;
	*state = f;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Checks that path holds exactly the 4 bytes want. */
static void check_content(const char *path, const char *want)
{
	char buf[16] = "";
	FILE *o = fopen(path, "r");
	assert_non_null(o);
	assert_int_equal(fread(buf, 1, sizeof(buf), o), 4);
	fclose(o);
	assert_memory_equal(buf, want, 4);
}

/* The directory holds the inputs, plus out.img (with "old" in it) and its map out.img.map
 * ("map\n") when preexisting, and nothing else: no OUTPUT, no map, no store, no temporary file. */
static void check_clean(const struct fixture *f)
{
	DIR *d = opendir(f->dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "src") || !strcmp(n, "t0.tar") ||
		    !strcmp(n, "t1.tar") || !strcmp(n, "bad.tar"))
			continue;
		if (f->preexisting && (!strcmp(n, "out.img") || !strcmp(n, "out.img.map")))
			continue;
		fail_msg("left behind: %s (step %zu)", n, f->fail_at);
	}
	closedir(d);
	if (f->preexisting) {
		char map[400];
		check_content(f->out, "old\n");
		/* a failed --force run leaves the old seed's map as it was */
		snprintf(map, sizeof(map), "%s.map", f->out);
		check_content(map, "map\n");
	}
}

static void check_valid(const struct fixture *f, bool lazy)
{
	char p[400], magic[8];
	FILE *o = fopen(f->out, "r");
	assert_non_null(o);
	assert_int_equal(fseek(o, 0x10040, SEEK_SET), 0);
	assert_int_equal(fread(magic, 1, 8, o), 8);
	fclose(o);
	assert_memory_equal(magic, "_BHRfS_M", 8);
	struct stat st;
	snprintf(p, sizeof(p), "%s.map", f->out);
	assert_int_equal(stat(p, &st) == 0, lazy);
	snprintf(p, sizeof(p), "%s.store", f->out);
	assert_int_equal(stat(p, &st) == 0, lazy);
	DIR *d = opendir(f->dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".tmp-"))
			fail_msg("temporary file left: %s", de->d_name);
	closedir(d);
}

static void remove_outputs(const struct fixture *f)
{
	char p[400];
	unlink(f->out);
	snprintf(p, sizeof(p), "%s.map", f->out);
	unlink(p);
	snprintf(p, sizeof(p), "%s.store", f->out);
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int hook(void *ctx, enum blz_mkseed_step step, size_t index)
{
	struct fixture *f = ctx;
	size_t k = f->ncalls++;
	assert_true(k < MAX_CALLS);
	f->calls[k] = (struct call){ step, index };
	if (k != f->fail_at)
		return 0;
	if (!f->signal)
		return -EIO;
	/* as if a signal came now: the handler cleans up, then the process dies */
	blz_mkseed_signal_cleanup();
	check_clean(f);
	return -EINTR;
}

static int run(struct fixture *f, size_t fail_at)
{
	char err[4096] = "";
	struct blz_mkseed_result res;
	f->ncalls = 0;
	f->fail_at = fail_at;
	f->opts.hook = hook;
	f->opts.hook_ctx = f;
	int r = blz_mkseed(&f->opts, &res, err, sizeof(err));
	if (r < 0)
		assert_true(err[0] != 0);
	return r;
}

static void make_preexisting(struct fixture *f)
{
	char map[400];
	put_file(f->out, "old\n", 4);
	snprintf(map, sizeof(map), "%s.map", f->out);
	put_file(map, "map\n", 4);
	f->preexisting = true;
	f->opts.force = true;
}

/* Records the steps of a good run, then fails (or signals) at each of them in turn. */
static void every_step(struct fixture *f, bool lazy, bool sig, bool preexisting)
{
	f->opts.lazy = lazy;
	assert_int_equal(run(f, SIZE_MAX), 0);
	check_valid(f, lazy);
	size_t n = f->ncalls;
	struct call calls[MAX_CALLS];
	memcpy(calls, f->calls, sizeof(calls));
	/* every step of the protocol was offered to the hook, in order */
	static const enum blz_mkseed_step lazy_steps[] = {
		BLZ_MKSEED_STEP_CREATE, BLZ_MKSEED_STEP_STORE_OPEN, BLZ_MKSEED_STEP_DIR,
		BLZ_MKSEED_STEP_SOURCE, BLZ_MKSEED_STEP_SOURCE, BLZ_MKSEED_STEP_DIR_DATA,
		BLZ_MKSEED_STEP_FINISH, BLZ_MKSEED_STEP_MAP_WRITE, BLZ_MKSEED_STEP_MAP_RENAME,
		BLZ_MKSEED_STEP_SEED_RENAME,
	};
	size_t j = 0;
	for (size_t i = 0; i < sizeof(lazy_steps) / sizeof(*lazy_steps); i++) {
		bool lazy_only = lazy_steps[i] == BLZ_MKSEED_STEP_STORE_OPEN ||
				 lazy_steps[i] == BLZ_MKSEED_STEP_MAP_WRITE ||
				 lazy_steps[i] == BLZ_MKSEED_STEP_MAP_RENAME;
		if (lazy_only && !lazy)
			continue;
		assert_true(j < n);
		assert_int_equal(calls[j].step, lazy_steps[i]);
		if (calls[j].step == BLZ_MKSEED_STEP_SOURCE) /* the sources in their order */
			assert_int_equal(calls[j].index, calls[j - 1].step == BLZ_MKSEED_STEP_SOURCE);
		j++;
	}
	assert_int_equal(j, n);

	remove_outputs(f);
	for (size_t k = 0; k < n; k++) {
		if (preexisting)
			make_preexisting(f);
		f->signal = sig;
		assert_int_equal(run(f, k), sig ? -EINTR : -EIO);
		f->signal = false;
		check_clean(f);
	}
	/* with --force, a good run replaces the old OUTPUT */
	assert_int_equal(run(f, SIZE_MAX), 0);
	check_valid(f, lazy);
	f->preexisting = false;
	remove_outputs(f);
}

static void test_fail_lazy(void **state)
{
	every_step(*state, true, false, false);
}

static void test_fail_plain(void **state)
{
	every_step(*state, false, false, false);
}

static void test_fail_preexisting(void **state)
{
	every_step(*state, true, false, true);
}

static void test_signal_lazy(void **state)
{
	every_step(*state, true, true, false);
}

static void test_signal_preexisting(void **state)
{
	every_step(*state, true, true, true);
}

/* Failures of the sources themselves (not injected) clean up the same way. */
static void test_bad_source(void **state)
{
	struct fixture *f = *state;
	f->opts.lazy = true;
	f->sources[1].path = f->bad;
	assert_true(run(f, SIZE_MAX) < 0);
	check_clean(f);
	f->sources[1].path = "/nonexistent/blz.tar";
	assert_true(run(f, SIZE_MAX) < 0);
	check_clean(f);
	f->sources[1].path = f->tars[1];
	f->opts.rootdir = "/nonexistent/blz-src";
	assert_true(run(f, SIZE_MAX) < 0);
	check_clean(f);
}

/* Without force an existing OUTPUT (or map) stops the run before anything is created. */
static void test_exists(void **state)
{
	struct fixture *f = *state;
	f->opts.lazy = true;
	char map[400];
	put_file(f->out, "old\n", 4);
	snprintf(map, sizeof(map), "%s.map", f->out);
	put_file(map, "map\n", 4);
	f->preexisting = true;
	assert_int_equal(run(f, SIZE_MAX), -EEXIST);
	assert_int_equal(f->ncalls, 0);
	check_clean(f);
	unlink(f->out);
	f->preexisting = false;
	char p[400];
	snprintf(p, sizeof(p), "%s.map", f->out);
	put_file(p, "m", 1);
	assert_int_equal(run(f, SIZE_MAX), -EEXIST);
	unlink(p);
	check_clean(f);
}

/* A store that existed before keeps its chunks after a failure; the run removes only what
 * it created. */
static size_t nfiles;
static int count_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	nfiles += flag == FTW_F;
	return 0;
}

static void test_existing_store(void **state)
{
	struct fixture *f = *state;
	f->opts.lazy = true;
	char store[400], map[400];
	snprintf(store, sizeof(store), "%s/shared.store", f->dir);
	snprintf(map, sizeof(map), "%s.map", f->out);
	f->opts.store = store;
	assert_int_equal(run(f, SIZE_MAX), 0);
	unlink(f->out);
	unlink(map);
	nfiles = 0;
	nftw(store, count_file, 16, FTW_PHYS);
	size_t before = nfiles;
	assert_true(before > 0);
	/* call 9: before the seed's rename, with the chunks named and the map published */
	assert_int_equal(run(f, 9), -EIO);
	assert_int_equal(f->calls[9].step, BLZ_MKSEED_STEP_SEED_RENAME);
	nfiles = 0;
	nftw(store, count_file, 16, FTW_PHYS);
	assert_int_equal(nfiles, before);
	struct stat st;
	assert_int_not_equal(stat(f->out, &st), 0);
	assert_int_not_equal(stat(map, &st), 0);
	nftw(store, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	f->opts.store = NULL;
	check_clean(f);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_fail_lazy), T(test_fail_plain), T(test_fail_preexisting), T(test_signal_lazy),
		T(test_signal_preexisting), T(test_bad_source), T(test_exists), T(test_existing_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
