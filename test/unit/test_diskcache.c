/* Unit tests for lib/store's persistent chunk cache (diskcache.h) and blz_store_put_image. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/diskcache.h"
#include "store/store.h"
#include "util/sha256.h"
#include "util/strbuf.h"

#define CHUNK 1000			/* payload bytes of every test chunk (raw codec) */
#define IMAGE (BLZ_CHUNK_HEADER_LEN + CHUNK)

struct chunk {
	uint8_t data[CHUNK];
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
	uint8_t image[IMAGE];
};

/* Chunk number n: pseudo-random bytes, its digest and its raw chunk file image. */
static void make_chunk(struct chunk *c, unsigned n)
{
	uint64_t x = n * 0x9e3779b97f4a7c15ull + 7;
	for (size_t i = 0; i < CHUNK; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		c->data[i] = (uint8_t)(x >> 29);
	}
	blz_sha256(c->data, CHUNK, c->digest);
	struct blz_chunk_header h = {
		.version = BLZ_CHUNK_VERSION, .codec = BLZ_CHUNK_CODEC_RAW,
		.length = CHUNK, .stored_length = CHUNK,
	};
	memcpy(h.digest, c->digest, sizeof(h.digest));
	blz_chunk_encode_header(&h, c->image);
	memcpy(c->image + BLZ_CHUNK_HEADER_LEN, c->data, CHUNK);
}

static struct chunk chunks[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

struct fixture {
	char top[64];
	char dir[96];	/* top/a/b: open creates the parents */
};

static int setup(void **state)
{
	struct fixture *f = blz_xcalloc(1, sizeof(*f));
	strcpy(f->top, "/tmp/blz-test-diskcache-XXXXXX");
	if (!mkdtemp(f->top))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/a/b", f->top);
	for (unsigned i = 0; i < 64; i++)
		make_chunk(&chunks[i], i);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	nftw(f->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void path_of(struct fixture *f, const uint8_t *digest, char *out)
{
	struct blz_store *s;
	assert_int_equal(blz_store_open(f->dir, BLZ_STORE_RDONLY, &s), 0);
	assert_int_equal(blz_store_path(s, digest, out, PATH_MAX), 0);
	blz_store_close(s);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void put(struct blz_diskcache *dc, unsigned n)
{
	assert_int_equal(blz_diskcache_put_image(dc, chunks[n].digest, chunks[n].image, IMAGE), 0);
}

/* 1 if chunk n is a hit with the right bytes, 0 on a miss. */
static int hit(struct blz_diskcache *dc, unsigned n)
{
	uint8_t buf[CHUNK];
	int r = blz_diskcache_get(dc, chunks[n].digest, buf, CHUNK);
	if (r == -ENOENT)
		return 0;
	assert_int_equal(r, 0);
	assert_memory_equal(buf, chunks[n].data, CHUNK);
	return 1;
}

static void set_mtime(struct fixture *f, unsigned n, time_t ago)
{
	char path[PATH_MAX];
	path_of(f, chunks[n].digest, path);
	struct timespec ts[2] = { { time(NULL) - ago, 0 }, { time(NULL) - ago, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_hit_miss(void **state)
{
	struct fixture *f = *state;
	struct blz_diskcache *dc;
	struct blz_diskcache_stats st;

	assert_int_equal(blz_diskcache_open(f->dir, 0, &dc), 0);
	struct stat sb;
	assert_int_equal(stat(f->dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(hit(dc, 0), 0);
	put(dc, 0);
	put(dc, 0); /* present already: 0, counted once */
	assert_int_equal(hit(dc, 0), 1);
	assert_int_equal(hit(dc, 1), 0);
	/* the wrong length is not a hit */
	uint8_t buf[CHUNK];
	assert_int_equal(blz_diskcache_get(dc, chunks[0].digest, buf, CHUNK - 1), -ENOENT);
	blz_diskcache_get_stats(dc, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 3);
	assert_int_equal(st.inserts, 1);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, IMAGE);
	assert_int_equal(st.max_bytes, BLZ_DISKCACHE_DEFAULT_SIZE);
	/* an image that is not one for this digest is refused, nothing written */
	assert_int_equal(blz_diskcache_put_image(dc, chunks[2].digest, chunks[3].image, IMAGE),
			 -EBADMSG);
	assert_int_equal(blz_diskcache_put_image(dc, chunks[2].digest, chunks[2].image, IMAGE - 1),
			 -EBADMSG);
	char path[PATH_MAX];
	path_of(f, chunks[2].digest, path);
	assert_false(exists(path));
	blz_diskcache_close(dc);
	blz_diskcache_close(NULL);
}

static void test_tampered(void **state)
{
	struct fixture *f = *state;
	struct blz_diskcache *dc;
	char path[PATH_MAX];

	assert_int_equal(blz_diskcache_open(f->dir, 0, &dc), 0);
	put(dc, 4);
	path_of(f, chunks[4].digest, path);
	chmod(path, 0644);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, BLZ_CHUNK_HEADER_LEN + 500), 1);
	close(fd);
	assert_int_equal(hit(dc, 4), 0);	/* never the bad bytes */
	assert_false(exists(path));		/* and removed */
	struct blz_diskcache_stats st;
	blz_diskcache_get_stats(dc, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	put(dc, 4);				/* fetched again */
	assert_int_equal(hit(dc, 4), 1);
	blz_diskcache_close(dc);
}

static void test_eviction_order(void **state)
{
	struct fixture *f = *state;
	struct blz_diskcache *dc;
	struct blz_diskcache_stats st;

	assert_int_equal(blz_diskcache_open(f->dir, 3 * IMAGE, &dc), 0);
	put(dc, 0);
	put(dc, 1);
	put(dc, 2);
	assert_int_equal(hit(dc, 0), 1);	/* 1 is now the least recent */
	put(dc, 3);
	blz_diskcache_get_stats(dc, &st);
	assert_true(st.bytes <= 3 * IMAGE);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(hit(dc, 1), 0);
	assert_int_equal(hit(dc, 2), 1);	/* order now 0 3 2, least recent first */
	put(dc, 5);
	assert_int_equal(hit(dc, 0), 0);
	assert_int_equal(hit(dc, 3), 1);
	assert_int_equal(hit(dc, 2), 1);
	assert_int_equal(hit(dc, 5), 1);
	/* the bound always holds, a put at a time */
	for (unsigned i = 10; i < 40; i++) {
		put(dc, i);
		blz_diskcache_get_stats(dc, &st);
		assert_true(st.bytes <= 3 * IMAGE);
		assert_int_equal(st.entries, 3);
	}
	blz_diskcache_close(dc);
	assert_int_equal(blz_diskcache_open(f->dir, IMAGE - 1, &dc), 0);
	blz_diskcache_get_stats(dc, &st);
	assert_int_equal(st.entries, 0);	/* over the bound at open: evicted to it */
	/* an image larger than the whole cache is refused */
	assert_int_equal(blz_diskcache_put_image(dc, chunks[41].digest, chunks[41].image, IMAGE),
			 -EFBIG);
	blz_diskcache_close(dc);
	/* trim */
	assert_int_equal(blz_diskcache_open(f->dir, 0, &dc), 0);
	for (unsigned i = 0; i < 5; i++)
		put(dc, i);
	uint64_t freed = 0;
	assert_int_equal(blz_diskcache_trim(dc, 2 * IMAGE, &freed), 3);
	assert_int_equal(freed, 3 * IMAGE);
	assert_int_equal(hit(dc, 0) + hit(dc, 1) + hit(dc, 2), 0);
	assert_int_equal(hit(dc, 3) + hit(dc, 4), 2);
	assert_int_equal(blz_diskcache_trim(dc, 0, NULL), 2);
	blz_diskcache_close(dc);
}

static void test_reopen_recency(void **state)
{
	struct fixture *f = *state;
	struct blz_diskcache *dc;

	assert_int_equal(blz_diskcache_open(f->dir, 0, &dc), 0);
	put(dc, 0);
	put(dc, 1);
	put(dc, 2);
	blz_diskcache_close(dc);
	/* as if written an hour apart, 0 the oldest */
	set_mtime(f, 0, 3 * 3600);
	set_mtime(f, 1, 2 * 3600);
	set_mtime(f, 2, 1 * 3600);
	assert_int_equal(blz_diskcache_open(f->dir, 0, &dc), 0);
	struct blz_diskcache_stats st;
	blz_diskcache_get_stats(dc, &st);
	assert_int_equal(st.entries, 3);	/* kept */
	assert_int_equal(hit(dc, 0), 1);	/* now the most recent, on disk too */
	blz_diskcache_close(dc);
	assert_int_equal(blz_diskcache_open(f->dir, 3 * IMAGE, &dc), 0);
	put(dc, 3);				/* evicts 1, then 2 */
	assert_int_equal(hit(dc, 1), 0);
	put(dc, 4);
	assert_int_equal(hit(dc, 2), 0);
	assert_int_equal(hit(dc, 0), 1);
	blz_diskcache_close(dc);
}

static void test_crash_mid_insert(void **state)
{
	struct fixture *f = *state;
	struct blz_diskcache *dc;
	char path[PATH_MAX], tmp[PATH_MAX + 64], dir[PATH_MAX];

	assert_int_equal(blz_diskcache_open(f->dir, 0, &dc), 0);
	put(dc, 0);
	blz_diskcache_close(dc);
	/* a crash before the rename: a temporary file; one after a torn copy: a truncated file
	 * under the final name; one of a bad header */
	path_of(f, chunks[1].digest, path);
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
	mkdir(dir, 0700);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%.16s-1-1", dir, strrchr(path, '/') + 1);
	int fd = open(tmp, O_WRONLY | O_CREAT, 0444);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, chunks[1].image, 100), 100);
	close(fd);
	char trunc[PATH_MAX];
	path_of(f, chunks[2].digest, trunc);
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(trunc, '/') - trunc), trunc);
	mkdir(dir, 0700);
	fd = open(trunc, O_WRONLY | O_CREAT, 0444);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, chunks[2].image, IMAGE / 2), IMAGE / 2);
	close(fd);

	assert_int_equal(blz_diskcache_open(f->dir, 0, &dc), 0);
	assert_false(exists(tmp));
	assert_false(exists(trunc));
	struct blz_diskcache_stats st;
	blz_diskcache_get_stats(dc, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(hit(dc, 1), 0);
	assert_int_equal(hit(dc, 2), 0);
	assert_int_equal(hit(dc, 0), 1);
	/* truncated while the cache is open: the get finds it, never returns bytes, removes it */
	path_of(f, chunks[0].digest, path);
	chmod(path, 0644);
	assert_int_equal(truncate(path, IMAGE - 10), 0);
	assert_int_equal(hit(dc, 0), 0);
	assert_false(exists(path));
	blz_diskcache_close(dc);
}

struct worker {
	struct blz_diskcache *dc;
	unsigned seed;
	unsigned hits, bad;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	uint8_t buf[CHUNK];
	for (unsigned i = 0; i < 2000; i++) {
		w->seed = w->seed * 1103515245 + 12345;
		unsigned n = (w->seed >> 16) % 64;
		int r = blz_diskcache_get(w->dc, chunks[n].digest, buf, CHUNK);
		if (r == 0) {
			w->hits++;
			if (memcmp(buf, chunks[n].data, CHUNK))
				w->bad++;
		} else if (r != -ENOENT) {
			w->bad++;
		} else if (blz_diskcache_put_image(w->dc, chunks[n].digest, chunks[n].image,
						   IMAGE) < 0) {
			w->bad++;
		}
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct blz_diskcache *dc;
	pthread_t th[8];
	struct worker w[8];

	assert_int_equal(blz_diskcache_open(f->dir, 20 * IMAGE, &dc), 0);
	for (unsigned i = 0; i < 8; i++) {
		w[i] = (struct worker){ .dc = dc, .seed = i + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
	}
	unsigned hits = 0;
	for (unsigned i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].bad, 0);
		hits += w[i].hits;
	}
	assert_true(hits > 0);
	struct blz_diskcache_stats st;
	blz_diskcache_get_stats(dc, &st);
	assert_true(st.bytes <= 20 * IMAGE);
	assert_int_equal(st.bytes, st.entries * IMAGE);
	blz_diskcache_close(dc);
	/* what is on disk is what the index said, and within the bound */
	struct blz_store *s;
	uint64_t n, bytes;
	assert_int_equal(blz_store_open(f->dir, BLZ_STORE_RDONLY, &s), 0);
	assert_int_equal(blz_store_usage(s, &n, &bytes), 0);
	blz_store_close(s);
	assert_int_equal(n, st.entries);
	assert_true(bytes <= 20 * IMAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hit_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_recency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_mid_insert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
