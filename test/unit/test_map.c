/* Unit tests for lib/map: the journal format, replay, torn tails and corruption, appends and
 * their validation, lookups (including near 2^64), concurrency between handles, threads and
 * processes, and a 1,000,000-record index. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "map/map.h"
#include "util/crc32c.h"
#include "util/fileio.h"
#include "util/le.h"

#define K4 4096ull
#define GiB (1ull << 30)
#define TiB (1ull << 40)
#define PiB (1ull << 50)
#define EiB (1ull << 60)

static const uint8_t FSID_A[16] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01 };
static const uint8_t FSID_B[16] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x02 };

/* The areas most tests use: import at [1 GiB, 1 GiB + 1 TiB), virtual at [4 TiB, 4 TiB + 1 PiB). */
#define IMP_START GiB
#define IMP_SIZE TiB
#define VIRT_START (4 * TiB)
#define VIRT_SIZE PiB

struct ctx {
	char dir[256];
	char path[300];
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	const char *t = getenv("TMPDIR");
	snprintf(c->dir, sizeof(c->dir), "%s/test_map.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->path, sizeof(c->path), "%s/seed.map", c->dir);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	DIR *d = opendir(c->dir);
	if (d) {
		struct dirent *e;
		char p[600];
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", c->dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(c->dir);
	free(c);
	return 0;
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The digest a test record at off carries: a function of off, so lookups can be checked. */
static void digest_for(uint64_t off, uint8_t d[32])
{
	for (int i = 0; i < 4; i++)
		put_le64(d + 8 * i, splitmix(off * 4 + (uint64_t)i));
}

static struct blz_map_rec mkrec(int area, uint64_t off, uint32_t data_len)
{
	struct blz_map_rec r = { 0 };
	r.area = (uint8_t)area;
	r.off = off;
	r.data_len = data_len;
	r.len = (uint32_t)((data_len + K4 - 1) / K4 * K4);
	digest_for(off, r.digest);
	return r;
}

static struct blz_map *open_map(const char *path, const uint8_t *fsid, unsigned flags)
{
	struct blz_map *m = NULL;
	char err[512] = "";
	int r = blz_map_open(path, fsid, flags, &m, err, sizeof(err));
	if (r != 0)
		print_error("blz_map_open: %d %s\n", r, err);
	assert_int_equal(r, 0);
	assert_non_null(m);
	return m;
}

static struct blz_map *open_areas(const char *path, unsigned flags)
{
	struct blz_map *m = open_map(path, FSID_A, flags);
	assert_int_equal(blz_map_set_area(m, BLZ_MAP_AREA_IMPORT, IMP_START, IMP_SIZE), 0);
	assert_int_equal(blz_map_set_area(m, BLZ_MAP_AREA_VIRTUAL, VIRT_START, VIRT_SIZE), 0);
	return m;
}

static int try_open(const char *path, const uint8_t *fsid, unsigned flags, char *err,
		    size_t errlen)
{
	struct blz_map *m = NULL;
	err[0] = 0;
	int r = blz_map_open(path, fsid, flags, &m, err, errlen);
	if (r == 0)
		blz_map_close(m);
	else
		assert_null(m);
	return r;
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void xor_byte(const char *path, uint64_t pos, uint8_t x)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(blz_pread_full(fd, &b, 1, pos), 0);
	b ^= x;
	assert_int_equal(blz_pwrite_full(fd, &b, 1, pos), 0);
	close(fd);
}

static void write_at(const char *path, const void *buf, size_t len, uint64_t pos)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(blz_pwrite_full(fd, buf, len, pos), 0);
	close(fd);
}

static uint64_t recpos(uint64_t seq)
{
	return BLZ_MAP_HDR_SIZE + seq * BLZ_MAP_REC_SIZE;
}

static void append1(struct blz_map *m, int area, uint64_t off, uint32_t data_len)
{
	struct blz_map_rec r = mkrec(area, off, data_len);
	int e = blz_map_append(m, &r, 1);
	if (e)
		print_error("append: %d %s\n", e, blz_map_error(m));
	assert_int_equal(e, 0);
}

static size_t lookup(struct blz_map *m, uint64_t off, uint64_t len, struct blz_map_seg *segs,
		     size_t max)
{
	size_t n = 99999;
	assert_int_equal(blz_map_lookup(m, off, len, segs, max, &n), 0);
	assert_true(n <= max);
	return n;
}

static void assert_seg(const struct blz_map_seg *s, uint64_t off, uint64_t len, bool mapped,
		       uint64_t rec_off_or_recstart)
{
	assert_true(s->off == off);
	assert_true(s->len == len);
	assert_int_equal(s->mapped, mapped);
	if (mapped) {
		/* rec_off_or_recstart: the record's start offset */
		assert_true(s->rec.off == rec_off_or_recstart);
		assert_true(s->rec_off == off - rec_off_or_recstart);
		uint8_t d[32];
		digest_for(s->rec.off, d);
		assert_memory_equal(s->rec.digest, d, 32);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- fault injection ----
 * The test executable defines fdatasync() and pwrite64() (what pwrite() is with 64-bit
 * offsets), so the library's calls come here: they count, observe and optionally fail, and
 * otherwise do the real system call. */

static int sync_calls;        /* fdatasync() calls */
static uint64_t sync_size;    /* the file's size at the latest fdatasync() */
static int sync_fail;         /* fail this many next fdatasync() calls with EIO */
static int pwrite_short;      /* the next pwrite of more than one record: write half, then
				 fail the following call with ENOSPC */

int fdatasync(int fd)
{
	__atomic_add_fetch(&sync_calls, 1, __ATOMIC_RELAXED);
	struct stat st;
	if (fstat(fd, &st) == 0)
		sync_size = (uint64_t)st.st_size;
	if (sync_fail > 0) {
		sync_fail--;
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	if (pwrite_short == 1 && n > BLZ_MAP_REC_SIZE) {
		pwrite_short = 2;
		n /= 2;
	} else if (pwrite_short == 2) {
		pwrite_short = 0;
		errno = ENOSPC;
		return -1;
	}
	return (ssize_t)syscall(SYS_pwrite64, fd, buf, n, off);
}

/* ---- format ---- */

static void test_header_codec(void **state)
{
	uint8_t h[BLZ_MAP_HDR_SIZE], fsid[16];
	blz_map_hdr_encode(FSID_A, h);
	assert_memory_equal(h, "BLZMAP01", 8);
	assert_int_equal(get_le32(h + 8), 1);
	assert_int_equal(get_le32(h + 12), 64);
	assert_int_equal(get_le32(h + 16), 80);
	assert_memory_equal(h + 24, FSID_A, 16);
	assert_int_equal(blz_map_hdr_decode(h, fsid), 0);
	assert_memory_equal(fsid, FSID_A, 16);

	for (int i = 0; i < BLZ_MAP_HDR_SIZE; i++) {
		uint8_t b[BLZ_MAP_HDR_SIZE];
		memcpy(b, h, sizeof(b));
		b[i] ^= 0x40;
		assert_int_equal(blz_map_hdr_decode(b, fsid), -EBADMSG);
	}
	/* A valid checksum over another version: not ours to read. */
	uint8_t b[BLZ_MAP_HDR_SIZE];
	memcpy(b, h, sizeof(b));
	put_le32(b + 8, 2);
	put_le32(b + 60, ~blz_crc32c_raw(~0u, b, 60));
	assert_int_equal(blz_map_hdr_decode(b, fsid), -ENOTSUP);
}

static void test_record_codec(void **state)
{
	struct blz_map_rec r = mkrec(BLZ_MAP_AREA_VIRTUAL, UINT64_MAX - 2 * K4 + 1 - (K4 - 1),
				     5000);
	r.off = UINT64_MAX / K4 * K4 - 2 * K4; /* near 2^64, aligned */
	r.seq = 0x0102030405060708ull;
	uint8_t b[BLZ_MAP_REC_SIZE];
	blz_map_rec_encode(&r, 3, 7, b);
	assert_memory_equal(b, "BZMR", 4);
	assert_int_equal(b[4], BLZ_MAP_REC_TYPE_MAP);
	assert_int_equal(b[5], BLZ_MAP_AREA_VIRTUAL);
	assert_true(get_le64(b + 8) == r.seq);
	assert_true(get_le64(b + 16) == r.off);
	assert_int_equal(get_le32(b + 24), 8192);
	assert_int_equal(get_le32(b + 28), 5000);
	assert_int_equal(get_le32(b + 32), 3);
	assert_int_equal(get_le32(b + 36), 7);
	assert_memory_equal(b + 40, r.digest, 32);

	struct blz_map_rec d;
	uint32_t bp, bn;
	assert_int_equal(blz_map_rec_decode(b, &d, &bp, &bn), 0);
	assert_true(d.seq == r.seq && d.off == r.off && d.len == r.len &&
		    d.data_len == r.data_len && d.area == r.area);
	assert_memory_equal(d.digest, r.digest, 32);
	assert_int_equal(bp, 3);
	assert_int_equal(bn, 7);
	char why[256];
	assert_int_equal(blz_map_rec_check(&d, why, sizeof(why)), 0);

	/* Extreme values survive. */
	r.seq = UINT64_MAX;
	r.len = BLZ_MAP_MAX_LEN;
	r.data_len = UINT32_MAX;
	r.off = 0;
	blz_map_rec_encode(&r, UINT32_MAX, UINT32_MAX, b);
	assert_int_equal(blz_map_rec_decode(b, &d, &bp, &bn), 0);
	assert_true(d.seq == UINT64_MAX && d.len == BLZ_MAP_MAX_LEN && d.data_len == UINT32_MAX);
	assert_true(bp == UINT32_MAX && bn == UINT32_MAX);
	/* (a data length above the longest record is not a valid record) */
	assert_int_equal(blz_map_rec_check(&d, why, sizeof(why)), -EINVAL);
	d.data_len = BLZ_MAP_MAX_LEN - 5;
	assert_int_equal(blz_map_rec_check(&d, why, sizeof(why)), 0);

	/* Every single-bit flip is caught. */
	for (int i = 0; i < BLZ_MAP_REC_SIZE; i++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t c[BLZ_MAP_REC_SIZE];
			memcpy(c, b, sizeof(c));
			c[i] ^= (uint8_t)(1 << bit);
			assert_int_equal(blz_map_rec_decode(c, &d, &bp, &bn), -EBADMSG);
		}
	}
	/* An unknown type with a good checksum is not a torn record. */
	uint8_t c[BLZ_MAP_REC_SIZE];
	memcpy(c, b, sizeof(c));
	c[4] = 9;
	put_le32(c + 76, ~blz_crc32c_raw(~0u, c, 76));
	assert_int_equal(blz_map_rec_decode(c, &d, &bp, &bn), -ENOTSUP);
	memcpy(c, b, sizeof(c));
	c[73] = 1;
	put_le32(c + 76, ~blz_crc32c_raw(~0u, c, 76));
	assert_int_equal(blz_map_rec_decode(c, &d, &bp, &bn), -ENOTSUP);
}

static void test_record_check(void **state)
{
	char why[256];
	struct blz_map_rec r = mkrec(BLZ_MAP_AREA_IMPORT, 8192, 4096);
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), 0);
	r = mkrec(BLZ_MAP_AREA_IMPORT, 8192, 1);
	assert_int_equal(r.len, 4096);
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), 0);

	r = mkrec(0, 8192, 4096);
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), -EINVAL);
	r = mkrec(3, 8192, 4096);
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), -EINVAL);
	r = mkrec(1, 8193, 4096);
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), -EINVAL);
	r = mkrec(1, 8192, 4096);
	r.len = 4095;
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), -EINVAL);
	r.len = 0;
	r.data_len = 0;
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), -EINVAL);
	r.len = 8192; /* too long for data_len 4096 */
	r.data_len = 4096;
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "rounded up"));
	r.len = 4096;
	r.data_len = 4097;
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), -EINVAL);
	r.data_len = 0;
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), -EINVAL);
	/* Ending exactly at 2^64 - 4096 is fine; wrapping is not. */
	r = mkrec(2, UINT64_MAX - 2 * K4 + 1, 4096);
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), 0);
	r = mkrec(2, UINT64_MAX - K4 + 1, 4096);
	assert_int_equal(blz_map_rec_check(&r, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "wraps"));
}

/* ---- open, append, replay ---- */

static void test_create_open(void **state)
{
	struct ctx *c = *state;
	char err[512];
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), -ENOENT);
	assert_int_equal(try_open(c->path, FSID_A, BLZ_MAP_READONLY, err, sizeof(err)), -ENOENT);
	assert_int_equal(try_open(c->path, NULL, BLZ_MAP_CREATE, err, sizeof(err)), -EINVAL);
	assert_int_equal(try_open(c->path, FSID_A, BLZ_MAP_CREATE | BLZ_MAP_READONLY, err,
				  sizeof(err)), -EINVAL);

	struct blz_map *m = open_map(c->path, FSID_A, BLZ_MAP_CREATE);
	assert_int_equal(file_size(c->path), BLZ_MAP_HDR_SIZE);
	assert_memory_equal(blz_map_fsid(m), FSID_A, 16);
	assert_string_equal(blz_map_path(m), c->path);
	struct blz_map_stats st;
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.journal_bytes, BLZ_MAP_HDR_SIZE);
	blz_map_close(m);

	/* CREATE on an existing journal opens it; a NULL fsid skips the check. */
	m = open_map(c->path, FSID_A, BLZ_MAP_CREATE);
	blz_map_close(m);
	m = open_map(c->path, NULL, BLZ_MAP_READONLY);
	assert_memory_equal(blz_map_fsid(m), FSID_A, 16);
	blz_map_close(m);
	blz_map_close(NULL);

	/* No temporary file is left beside it. */
	DIR *d = opendir(c->dir);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)))
		files += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(files, 1);
}

static void compare_maps(struct blz_map *a, struct blz_map *b, uint64_t off, uint64_t len)
{
	struct blz_map_seg sa[64], sb[64];
	size_t na = lookup(a, off, len, sa, 64), nb = lookup(b, off, len, sb, 64);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_true(sa[i].off == sb[i].off && sa[i].len == sb[i].len);
		assert_int_equal(sa[i].mapped, sb[i].mapped);
		if (sa[i].mapped)
			assert_memory_equal(&sa[i].rec, &sb[i].rec, sizeof(sa[i].rec));
	}
}

static void test_append_reopen(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	struct blz_map_rec batch[3] = {
		mkrec(BLZ_MAP_AREA_IMPORT, IMP_START, 4096),
		mkrec(BLZ_MAP_AREA_IMPORT, IMP_START + 4096, 10000),
		mkrec(BLZ_MAP_AREA_IMPORT, IMP_START + 65536, 1),
	};
	assert_int_equal(blz_map_append(m, batch, 3), 0);
	append1(m, BLZ_MAP_AREA_VIRTUAL, VIRT_START, 128 * 1024);
	append1(m, BLZ_MAP_AREA_VIRTUAL, VIRT_START + 128 * 1024, 4096 * 3 + 17);
	assert_int_equal(file_size(c->path), recpos(5));

	struct blz_map_stats st;
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 5);
	assert_int_equal(st.journal_bytes, recpos(5));
	assert_int_equal(st.dropped_tail, 0);
	struct blz_map_area_stats *ia = &st.area[BLZ_MAP_AREA_IMPORT];
	assert_int_equal(ia->records, 3);
	assert_int_equal(ia->mapped_bytes, 4096 + 12288 + 4096);
	assert_int_equal(ia->data_bytes, 4096 + 10000 + 1);
	assert_true(ia->first == IMP_START);
	assert_true(ia->end == IMP_START + 65536 + 4096);
	assert_true(ia->next_free == ia->end);
	assert_true(ia->start == IMP_START && ia->size == IMP_SIZE);
	struct blz_map_area_stats *va = &st.area[BLZ_MAP_AREA_VIRTUAL];
	assert_int_equal(va->records, 2);
	assert_true(va->end == VIRT_START + 128 * 1024 + 16384);

	struct blz_map *ro = open_map(c->path, FSID_A, BLZ_MAP_READONLY);
	struct blz_map_stats st2;
	blz_map_stats(ro, &st2);
	assert_int_equal(st2.records, 5);
	assert_int_equal(st2.area[1].mapped_bytes, ia->mapped_bytes);
	assert_int_equal(st2.area[2].mapped_bytes, va->mapped_bytes);
	assert_int_equal(st2.area[1].start, 0); /* bounds are not in the journal */
	compare_maps(m, ro, 0, UINT64_MAX);
	compare_maps(m, ro, IMP_START - 4096, 200000);
	compare_maps(m, ro, VIRT_START + 4096, 300000);
	/* Sequence numbers come back in journal order. */
	struct blz_map_seg s[16];
	size_t n = lookup(ro, IMP_START, 69632, s, 16);
	assert_int_equal(n, 4);
	assert_true(s[0].rec.seq == 0 && s[1].rec.seq == 1 && s[3].rec.seq == 2);
	n = lookup(ro, VIRT_START, 4096, s, 16);
	assert_true(s[0].rec.seq == 3);
	/* Read-only handles do not append. */
	struct blz_map_rec r = mkrec(1, IMP_START + 1024 * 1024, 4096);
	assert_int_equal(blz_map_append(ro, &r, 1), -EROFS);
	blz_map_close(ro);
	blz_map_close(m);

	/* A reopened writable map continues the sequence. */
	m = open_areas(c->path, 0);
	append1(m, BLZ_MAP_AREA_IMPORT, IMP_START + 1024 * 1024, 4096);
	n = lookup(m, IMP_START + 1024 * 1024, 4096, s, 16);
	assert_int_equal(n, 1);
	assert_true(s[0].rec.seq == 5);
	blz_map_close(m);
	assert_int_equal(file_size(c->path), recpos(6));
}

static void test_durable_after_append(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	append1(m, BLZ_MAP_AREA_VIRTUAL, VIRT_START + 8 * K4, 12345);
	/* The bytes are in the file, through another descriptor, as soon as append returns
	 * (fdatasync itself cannot be observed here). */
	int fd = open(c->path, O_RDONLY);
	uint8_t b[BLZ_MAP_REC_SIZE];
	assert_int_equal(blz_pread_full(fd, b, sizeof(b), BLZ_MAP_HDR_SIZE), 0);
	close(fd);
	struct blz_map_rec d;
	uint32_t bp, bn;
	assert_int_equal(blz_map_rec_decode(b, &d, &bp, &bn), 0);
	struct blz_map_rec want = mkrec(BLZ_MAP_AREA_VIRTUAL, VIRT_START + 8 * K4, 12345);
	assert_true(d.seq == 0 && d.off == want.off && d.len == want.len &&
		    d.data_len == 12345 && d.area == 2);
	assert_memory_equal(d.digest, want.digest, 32);
	assert_int_equal(bp, 0);
	assert_int_equal(bn, 1);
	blz_map_close(m);
}

/* fdatasync is called once per append, after the records are written and before append
 * returns; a failed write or fdatasync adds nothing and leaves nothing in the file. */
static void test_sync_and_failures(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	int calls = sync_calls;
	append1(m, 2, VIRT_START, 4096);
	assert_int_equal(sync_calls, calls + 1);
	assert_int_equal(sync_size, recpos(1)); /* the record was in the file when synced */
	struct blz_map_rec b[3] = { mkrec(2, 0, 4096), mkrec(2, 0, 4096), mkrec(2, 0, 4096) };
	assert_int_equal(blz_map_append_alloc(m, 2, b, 3), 0);
	assert_int_equal(sync_calls, calls + 2);
	assert_int_equal(sync_size, recpos(4));
	/* Lookups, refreshes and allocations never sync. */
	uint64_t off;
	assert_int_equal(blz_map_refresh(m), 0);
	assert_int_equal(blz_map_alloc(m, 2, 4096, &off), 0);
	assert_int_equal(sync_calls, calls + 2);

	/* A short write followed by ENOSPC: nothing added, the partial write truncated away,
	 * and the map still works. */
	pwrite_short = 1;
	struct blz_map_rec two[2] = { mkrec(2, VIRT_START + 10 * K4, 4096),
				      mkrec(2, VIRT_START + 11 * K4, 4096) };
	assert_int_equal(blz_map_append(m, two, 2), -ENOSPC);
	assert_int_equal(pwrite_short, 0);
	assert_int_equal(file_size(c->path), recpos(4));
	struct blz_map_stats st;
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 4);
	assert_int_equal(sync_calls, calls + 2);
	assert_int_equal(blz_map_append(m, two, 2), 0);
	assert_int_equal(file_size(c->path), recpos(6));

	/* fdatasync fails: nothing acknowledged or indexed, the file cut back, and this handle
	 * refuses to append again (the page cache cannot be trusted after a failed sync). */
	sync_fail = 1;
	struct blz_map_rec r = mkrec(2, VIRT_START + 20 * K4, 4096);
	assert_int_equal(blz_map_append(m, &r, 1), -EIO);
	assert_non_null(strstr(blz_map_error(m), "cannot sync"));
	assert_int_equal(file_size(c->path), recpos(6));
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 6);
	struct blz_map_seg s[2];
	size_t n = lookup(m, VIRT_START + 20 * K4, 4096, s, 2);
	assert_int_equal(n, 1);
	assert_false(s[0].mapped);
	assert_int_equal(blz_map_append(m, &r, 1), -EIO);
	assert_non_null(strstr(blz_map_error(m), "reopen"));
	blz_map_close(m);

	m = open_areas(c->path, 0);
	assert_int_equal(blz_map_dropped_tail(m), 0);
	append1(m, 2, VIRT_START + 20 * K4, 4096);
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 7);
	blz_map_close(m);

	/* A torn tail found by a writable open is truncated and the truncation synced. */
	assert_int_equal(truncate(c->path, (off_t)recpos(7) - 1), 0);
	calls = sync_calls;
	m = open_map(c->path, FSID_A, 0);
	assert_int_equal(sync_calls, calls + 1);
	assert_int_equal(sync_size, recpos(6));
	blz_map_close(m);
}

/* ---- lookup ---- */

static void test_lookup(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	const uint64_t B = VIRT_START;
	/* [B, B+8K) [B+8K, B+20K) gap [B+32K, B+36K) gap ... */
	append1(m, 2, B, 8192);
	append1(m, 2, B + 8192, 12000); /* 12 KiB */
	append1(m, 2, B + 32768, 4096);

	struct blz_map_seg s[16];
	size_t n;
	/* exact */
	n = lookup(m, B, 8192, s, 16);
	assert_int_equal(n, 1);
	assert_seg(&s[0], B, 8192, true, B);
	assert_int_equal(s[0].rec.data_len, 8192);
	n = lookup(m, B + 8192, 12288, s, 16);
	assert_int_equal(n, 1);
	assert_seg(&s[0], B + 8192, 12288, true, B + 8192);
	assert_int_equal(s[0].rec.data_len, 12000);
	/* inside one record, unaligned */
	n = lookup(m, B + 8192 + 100, 50, s, 16);
	assert_int_equal(n, 1);
	assert_seg(&s[0], B + 8192 + 100, 50, true, B + 8192);
	assert_int_equal(s[0].rec_off, 100);
	/* partial overlap at both ends, across two adjacent records */
	n = lookup(m, B + 4096, 8192, s, 16);
	assert_int_equal(n, 2);
	assert_seg(&s[0], B + 4096, 4096, true, B);
	assert_seg(&s[1], B + 8192, 4096, true, B + 8192);
	/* record, gap, record, gap */
	n = lookup(m, B + 16384, 32768, s, 16);
	assert_int_equal(n, 4);
	assert_seg(&s[0], B + 16384, 4096, true, B + 8192);
	assert_seg(&s[1], B + 20480, 12288, false, 0);
	assert_seg(&s[2], B + 32768, 4096, true, B + 32768);
	assert_seg(&s[3], B + 36864, 12288, false, 0);
	/* entirely in a gap; entirely before everything; entirely after everything */
	n = lookup(m, B + 24576, 100, s, 16);
	assert_int_equal(n, 1);
	assert_seg(&s[0], B + 24576, 100, false, 0);
	n = lookup(m, 0, 4096, s, 16);
	assert_int_equal(n, 1);
	assert_seg(&s[0], 0, 4096, false, 0);
	n = lookup(m, B + GiB, 1, s, 16);
	assert_int_equal(n, 1);
	assert_seg(&s[0], B + GiB, 1, false, 0);
	/* leading gap, then records */
	n = lookup(m, B - 4096, 4096 + 8192 + 1, s, 16);
	assert_int_equal(n, 3);
	assert_seg(&s[0], B - 4096, 4096, false, 0);
	assert_seg(&s[1], B, 8192, true, B);
	assert_seg(&s[2], B + 8192, 1, true, B + 8192);
	/* the whole 64-bit space */
	n = lookup(m, 0, UINT64_MAX, s, 16);
	assert_int_equal(n, 6);
	assert_seg(&s[0], 0, B, false, 0);
	assert_seg(&s[5], B + 36864, UINT64_MAX - (B + 36864), false, 0);
	/* len 0; bad arguments */
	n = 7;
	assert_int_equal(blz_map_lookup(m, B, 0, s, 16, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(blz_map_lookup(m, B, 4096, s, 0, &n), -EINVAL);
	assert_int_equal(blz_map_lookup(m, UINT64_MAX, 1, s, 16, &n), -EINVAL);
	assert_int_equal(blz_map_lookup(m, 2, UINT64_MAX - 1, s, 16, &n), -EINVAL);
	/* max too small: a prefix, continued by the caller */
	n = lookup(m, B + 4096, 40960, s, 2);
	assert_int_equal(n, 2);
	assert_seg(&s[1], B + 8192, 12288, true, B + 8192);
	n = lookup(m, B + 20480, 40960 - 16384, s, 2);
	assert_seg(&s[0], B + 20480, 12288, false, 0);
	assert_seg(&s[1], B + 32768, 4096, true, B + 32768);
	blz_map_close(m);
}

static void test_lookup_many(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	/* 1000 records of varying sizes with a gap after every third. */
	enum { N = 1000 };
	static struct blz_map_rec recs[N];
	uint64_t off = VIRT_START;
	for (int i = 0; i < N; i++) {
		uint32_t dl = (uint32_t)(1 + splitmix((uint64_t)i) % (256 * 1024));
		recs[i] = mkrec(2, off, dl);
		off += recs[i].len + (i % 3 == 2 ? 8192 : 0);
	}
	assert_int_equal(blz_map_append(m, recs, 500), 0);
	assert_int_equal(blz_map_append(m, recs + 500, 500), 0);
	/* One lookup spanning everything: records and gaps, in order, nothing missing. */
	static struct blz_map_seg s[2000];
	size_t n = lookup(m, VIRT_START, off - VIRT_START, s, 2000);
	assert_int_equal(n, N + N / 3);
	uint64_t pos = VIRT_START;
	size_t ri = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(s[i].off == pos);
		if (s[i].mapped) {
			assert_true(s[i].rec.off == recs[ri].off);
			assert_true(s[i].len == recs[ri].len);
			assert_true(s[i].rec.seq == ri);
			ri++;
		} else {
			assert_true(s[i].len == 8192);
		}
		pos += s[i].len;
	}
	assert_int_equal(ri, N);
	assert_true(pos == off);
	/* Continue-from-the-end with a small buffer gives the same pieces. */
	pos = VIRT_START;
	size_t total = 0;
	while (pos < off) {
		struct blz_map_seg t[7];
		size_t k = lookup(m, pos, off - pos, t, 7);
		for (size_t i = 0; i < k; i++) {
			assert_true(t[i].off == s[total].off && t[i].len == s[total].len);
			total++;
		}
		pos = t[k - 1].off + t[k - 1].len;
	}
	assert_int_equal(total, n);
	blz_map_close(m);
}

/* A brute-force model of the index: the records appended, in a plain array. */
struct model {
	struct blz_map_rec *v;
	size_t n;
};

/* Checks one piece against the model (brute force); returns where the next piece starts. */
static uint64_t check_piece(const struct model *md, const struct blz_map_seg *s, uint64_t pos,
			    uint64_t end)
{
	assert_true(s->off == pos);
	assert_true(s->len > 0);
	const struct blz_map_rec *cover = NULL;
	uint64_t next = UINT64_MAX;
	for (size_t j = 0; j < md->n; j++) {
		const struct blz_map_rec *r = &md->v[j];
		if (r->off <= pos && pos < r->off + r->len)
			cover = r;
		else if (r->off > pos && r->off < next)
			next = r->off;
	}
	if (cover) {
		assert_true(s->mapped);
		assert_true(s->rec.off == cover->off && s->rec.seq == cover->seq);
		uint64_t e = cover->off + cover->len;
		assert_true(s->len == (e < end ? e : end) - pos);
	} else {
		assert_false(s->mapped);
		assert_true(s->len == (next < end ? next : end) - pos);
	}
	return pos + s->len;
}

/* Is [off, off+len) described exactly as the model says, in pieces of at most 64 a call? */
static void check_against_model(struct blz_map *m, const struct model *md, uint64_t off,
				 uint64_t len)
{
	struct blz_map_seg s[64];
	uint64_t pos = off, end = off + len;
	while (pos < end) {
		size_t n = lookup(m, pos, end - pos, s, 64);
		assert_true(n > 0);
		for (size_t i = 0; i < n; i++)
			pos = check_piece(md, &s[i], pos, end);
	}
	assert_true(pos == end);
}

static void test_out_of_order(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	struct model md = { calloc(4096, sizeof(struct blz_map_rec)), 0 };
	uint64_t next[3] = { 0, IMP_START, VIRT_START };
	uint64_t seq = 0;
	/* Batches alternate between the areas (the virtual area lies above the import area),
	 * and some batches mix both with the higher area first: inserts land below existing
	 * records and must be merged. */
	for (int round = 0; round < 200; round++) {
		struct blz_map_rec b[8];
		size_t k = 1 + splitmix((uint64_t)round) % 8;
		for (size_t i = 0; i < k; i++) {
			int area = (round % 3 == 0) ? 2 - (int)(i % 2) : (round % 2 ? 1 : 2);
			uint64_t gap = (splitmix((uint64_t)(round * 16) + i) % 3) * K4;
			uint32_t dl = (uint32_t)(1 + splitmix((uint64_t)(round * 64) + i) % 40000);
			b[i] = mkrec(area, next[area] + gap, dl);
			next[area] = b[i].off + b[i].len;
		}
		assert_int_equal(blz_map_append(m, b, k), 0);
		for (size_t i = 0; i < k; i++) {
			b[i].seq = seq++;
			md.v[md.n++] = b[i];
		}
	}
	check_against_model(m, &md, 0, UINT64_MAX);
	check_against_model(m, &md, IMP_START, next[1] - IMP_START + 4096);
	for (int i = 0; i < 300; i++) {
		int area = 1 + i % 2;
		uint64_t base = area == 1 ? IMP_START : VIRT_START;
		uint64_t span = next[area] - base;
		uint64_t off = base + splitmix((uint64_t)i) % span;
		uint64_t len = 1 + splitmix((uint64_t)i + 99) % 100000;
		check_against_model(m, &md, off, len);
	}
	/* The replayed index is the same. */
	struct blz_map *ro = open_map(c->path, FSID_A, BLZ_MAP_READONLY);
	check_against_model(ro, &md, 0, UINT64_MAX);
	for (int i = 0; i < 100; i++) {
		uint64_t off = IMP_START + splitmix((uint64_t)i + 7) % (next[2] - IMP_START);
		compare_maps(m, ro, off, 200000);
	}
	blz_map_close(ro);
	blz_map_close(m);
	free(md.v);
}

static void test_high_offsets(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_map(c->path, FSID_A, BLZ_MAP_CREATE);
	/* Import area near 2^63; virtual area at the very top, ending at 2^64 - 4096. */
	const uint64_t is = (1ull << 63) - 4 * TiB, isz = 4 * TiB;
	const uint64_t vs = UINT64_MAX - 4 * EiB + 1, vsz = 4 * EiB - K4; /* [2^64-4E, 2^64-4K) */
	assert_int_equal(blz_map_set_area(m, 1, is, isz), 0);
	assert_int_equal(blz_map_set_area(m, 2, vs, vsz), 0);
	/* Bounds that would wrap are refused. */
	assert_int_equal(blz_map_set_area(m, 2, vs, 4 * EiB), -EINVAL);

	uint64_t last = vs + vsz - 2 * K4; /* the last two blocks of the area */
	append1(m, 2, vs, 4096);
	append1(m, 2, vs + 1024 * TiB, 8192); /* 1 PiB in */
	append1(m, 2, last, 8000);
	append1(m, 1, is + isz - 65536, 65536); /* the last 64 KiB below 2^63 */
	struct blz_map_rec low = mkrec(1, is, 4096); /* free, but below the high-water mark */
	assert_int_equal(blz_map_append(m, &low, 1), -EEXIST);
	struct blz_map_seg s[8];
	size_t n;
	n = lookup(m, last, 2 * K4, s, 8);
	assert_int_equal(n, 1);
	assert_seg(&s[0], last, 8192, true, last);
	/* up to the last byte of the address space */
	n = lookup(m, last + 4096, UINT64_MAX - (last + 4096), s, 8);
	assert_int_equal(n, 2);
	assert_seg(&s[0], last + 4096, 4096, true, last);
	assert_int_equal(s[0].rec_off, 4096);
	assert_seg(&s[1], last + 8192, UINT64_MAX - (last + 8192), false, 0);
	n = lookup(m, (1ull << 63) - 8192, 16384, s, 8);
	assert_int_equal(n, 2);
	assert_seg(&s[0], (1ull << 63) - 8192, 8192, true, is + isz - 65536);
	assert_int_equal(s[0].rec_off, 65536 - 8192);
	assert_seg(&s[1], 1ull << 63, 8192, false, 0);
	n = lookup(m, vs + 1024 * TiB - 4096, 16384, s, 8);
	assert_int_equal(n, 3);
	assert_seg(&s[1], vs + 1024 * TiB, 8192, true, vs + 1024 * TiB);
	blz_map_close(m);

	/* Replay with the bounds checked against the records. */
	m = open_map(c->path, FSID_A, 0);
	assert_int_equal(blz_map_set_area(m, 2, vs, vsz), 0);
	assert_int_equal(blz_map_set_area(m, 1, is, isz), 0);
	struct blz_map_stats st;
	blz_map_stats(m, &st);
	assert_true(st.area[2].end == vs + vsz);
	assert_true(st.area[2].next_free == vs + vsz);
	assert_true(st.area[1].end == 1ull << 63);
	/* The virtual area is full; allocation says so. */
	uint64_t off = 1;
	assert_int_equal(blz_map_alloc(m, 2, 4096, &off), -ENOSPC);
	assert_true(off == 1);
	struct blz_map_rec r = mkrec(2, 0, 4096);
	assert_int_equal(blz_map_append_alloc(m, 2, &r, 1), -ENOSPC);
	blz_map_close(m);
}

/* ---- validation ---- */

static void test_rejects(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_map(c->path, FSID_A, BLZ_MAP_CREATE);
	struct blz_map_rec r = mkrec(2, VIRT_START, 4096);
	/* no bounds yet */
	assert_int_equal(blz_map_append(m, &r, 1), -EINVAL);
	assert_non_null(strstr(blz_map_error(m), "no bounds"));
	uint64_t off;
	assert_int_equal(blz_map_alloc(m, 2, 4096, &off), -EINVAL);
	assert_int_equal(blz_map_set_area(m, 1, IMP_START, IMP_SIZE), 0);
	assert_int_equal(blz_map_set_area(m, 2, VIRT_START, VIRT_SIZE), 0);
	/* bad area bounds */
	assert_int_equal(blz_map_set_area(m, 3, 0, 4096), -EINVAL);
	assert_int_equal(blz_map_set_area(m, 2, VIRT_START + 1, 4096), -EINVAL);
	assert_int_equal(blz_map_set_area(m, 2, VIRT_START, 4097), -EINVAL);
	assert_int_equal(blz_map_set_area(m, 2, IMP_START + IMP_SIZE - 4096, 8192), -EINVAL);
	assert_non_null(strstr(blz_map_error(m), "overlaps the import area"));

	append1(m, 2, VIRT_START + 64 * K4, 4 * K4);  /* [64, 68) blocks */
	struct blz_map_stats before;
	blz_map_stats(m, &before);
	uint64_t size0 = file_size(c->path);

	struct {
		struct blz_map_rec r;
		int err;
		const char *msg;
	} bad[] = {
		{ mkrec(2, VIRT_START + 66 * K4, 4 * K4), -EEXIST, "overlaps record 0" },
		{ mkrec(2, VIRT_START + 60 * K4, 8 * K4), -EEXIST, "overlaps record 0" },
		{ mkrec(2, VIRT_START + 60 * K4, 80 * K4), -EEXIST, "overlaps" }, /* covers it */
		{ mkrec(2, VIRT_START + 64 * K4, 4 * K4), -EEXIST, "overlaps" },  /* same range */
		{ mkrec(2, VIRT_START, 4 * K4), -EEXIST, "high-water mark" },   /* free but old */
		{ mkrec(2, VIRT_START + 68 * K4 + 512, 4096), -EINVAL, "offset not a multiple" },
		{ mkrec(2, VIRT_START - 4096, 4096), -ERANGE, "outside the virtual area" },
		{ mkrec(2, VIRT_START + VIRT_SIZE - 4096, 8192), -ERANGE, "outside" },
		{ mkrec(2, VIRT_START + VIRT_SIZE, 4096), -ERANGE, "outside" },
		{ mkrec(1, VIRT_START + 100 * K4, 4096), -ERANGE, "outside the import area" },
		{ mkrec(0, VIRT_START + 100 * K4, 4096), -EINVAL, "unknown area" },
		{ mkrec(3, VIRT_START + 100 * K4, 4096), -EINVAL, "unknown area" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int e = blz_map_append(m, &bad[i].r, 1);
		if (e != bad[i].err || !strstr(blz_map_error(m), bad[i].msg))
			print_error("case %zu: %d '%s'\n", i, e, blz_map_error(m));
		assert_int_equal(e, bad[i].err);
		assert_non_null(strstr(blz_map_error(m), bad[i].msg));
	}
	r = mkrec(2, VIRT_START + 100 * K4, 4096);
	r.len = 8192; /* data_len 4096 */
	assert_int_equal(blz_map_append(m, &r, 1), -EINVAL);
	r.len = 4096 + 512;
	r.data_len = 4096 + 512;
	assert_int_equal(blz_map_append(m, &r, 1), -EINVAL);
	assert_int_equal(blz_map_append(m, &r, 0), -EINVAL);

	/* A batch is all-or-nothing: a bad third record adds none. */
	struct blz_map_rec b[3] = {
		mkrec(2, VIRT_START + 100 * K4, 4096),
		mkrec(2, VIRT_START + 101 * K4, 4096),
		mkrec(2, VIRT_START + 101 * K4, 4096), /* overlaps the second */
	};
	assert_int_equal(blz_map_append(m, b, 3), -EEXIST);
	assert_non_null(strstr(blz_map_error(m), "record 2:"));
	/* ...and within one area the batch must go upwards. */
	b[2] = mkrec(2, VIRT_START + 99 * K4, 4096);
	assert_int_equal(blz_map_append(m, b, 3), -EEXIST);
	assert_non_null(strstr(blz_map_error(m), "high-water mark"));
	struct blz_map_stats after;
	blz_map_stats(m, &after);
	assert_int_equal(after.records, before.records);
	assert_int_equal(after.area[2].mapped_bytes, before.area[2].mapped_bytes);
	assert_int_equal(file_size(c->path), size0);
	struct blz_map_seg s[4];
	size_t n = lookup(m, VIRT_START + 100 * K4, 8192, s, 4);
	assert_int_equal(n, 1);
	assert_false(s[0].mapped);

	/* Adjacent (touching) ranges are fine. */
	append1(m, 2, VIRT_START + 68 * K4, 4096);
	/* Records of the import area below the virtual ones are fine too. */
	append1(m, 1, IMP_START, 4096);

	/* Bounds that leave existing records outside mean the wrong seed. */
	assert_int_equal(blz_map_set_area(m, 2, VIRT_START + 65 * K4, GiB), -EBADMSG);
	assert_int_equal(blz_map_set_area(m, 2, VIRT_START, 68 * K4), -EBADMSG);
	assert_int_equal(blz_map_set_area(m, 2, VIRT_START, 69 * K4), 0);
	blz_map_close(m);
}

static void test_alloc(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_map(c->path, FSID_A, BLZ_MAP_CREATE);
	assert_int_equal(blz_map_set_area(m, 2, VIRT_START, 64 * K4), 0);
	uint64_t off = 0;
	assert_int_equal(blz_map_alloc(m, 2, 4096, &off), 0);
	assert_true(off == VIRT_START);
	assert_int_equal(blz_map_alloc(m, 2, 64 * K4, &off), 0);
	assert_int_equal(blz_map_alloc(m, 2, 64 * K4 + 1, &off), -ENOSPC);
	assert_int_equal(blz_map_alloc(m, 2, 0, &off), -EINVAL);
	assert_int_equal(blz_map_alloc(m, 1, 4096, &off), -EINVAL); /* no bounds */
	append1(m, 2, VIRT_START + 4 * K4, 5000);
	assert_int_equal(blz_map_alloc(m, 2, 4096, &off), 0);
	assert_true(off == VIRT_START + 6 * K4);

	struct blz_map_rec b[3] = { mkrec(1, 0, 4096), mkrec(1, 0, 10000), mkrec(1, 0, 1) };
	assert_int_equal(blz_map_append_alloc(m, 2, b, 3), 0);
	assert_true(b[0].off == VIRT_START + 6 * K4 && b[0].area == 2 && b[0].seq == 1);
	assert_true(b[1].off == VIRT_START + 7 * K4 && b[1].seq == 2);
	assert_true(b[2].off == VIRT_START + 10 * K4 && b[2].seq == 3);
	assert_int_equal(blz_map_alloc(m, 2, 4096, &off), 0);
	assert_true(off == VIRT_START + 11 * K4);
	/* Too big for what is left: nothing written, recs untouched. */
	struct blz_map_rec big[2] = { mkrec(2, 7, 40 * K4), mkrec(2, 7, 20 * K4) };
	assert_int_equal(blz_map_append_alloc(m, 2, big, 2), -ENOSPC);
	assert_true(big[0].off == 7 && big[1].off == 7);
	/* A malformed record is refused before anything is placed. */
	struct blz_map_rec odd = mkrec(2, 0, 4096);
	odd.len = 100;
	assert_int_equal(blz_map_append_alloc(m, 2, &odd, 1), -EINVAL);
	assert_int_equal(blz_map_append_alloc(m, 0, b, 1), -EINVAL);
	/* Exactly filling the area works. */
	big[0] = mkrec(2, 0, 53 * K4);
	assert_int_equal(blz_map_append_alloc(m, 2, big, 1), 0);
	assert_int_equal(blz_map_alloc(m, 2, 4096, &off), -ENOSPC);
	blz_map_close(m);
}

/* ---- torn tails and corruption ---- */

static void make_journal(const char *path, int batches)
{
	struct blz_map *m = open_areas(path, BLZ_MAP_CREATE);
	for (int i = 0; i < batches; i++)
		append1(m, 2, VIRT_START + (uint64_t)i * 2 * K4, 4096 + (uint32_t)i);
	blz_map_close(m);
}

static void test_torn_short(void **state)
{
	struct ctx *c = *state;
	make_journal(c->path, 3);
	uint64_t full = recpos(3);
	assert_int_equal(file_size(c->path), full);
	assert_int_equal(truncate(c->path, (off_t)(full - 33)), 0);

	/* Read-only: dropped and reported, the file untouched; refresh does not count it twice. */
	struct blz_map *ro = open_map(c->path, FSID_A, BLZ_MAP_READONLY);
	assert_int_equal(blz_map_dropped_tail(ro), BLZ_MAP_REC_SIZE - 33);
	assert_int_equal(file_size(c->path), full - 33);
	assert_int_equal(blz_map_refresh(ro), 0);
	assert_int_equal(blz_map_dropped_tail(ro), BLZ_MAP_REC_SIZE - 33);
	struct blz_map_stats st;
	blz_map_stats(ro, &st);
	assert_int_equal(st.records, 2);

	/* Writable: truncated away. */
	struct blz_map *m = open_areas(c->path, 0);
	assert_int_equal(blz_map_dropped_tail(m), BLZ_MAP_REC_SIZE - 33);
	assert_int_equal(file_size(c->path), recpos(2));
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 2);
	assert_int_equal(st.dropped_tail, BLZ_MAP_REC_SIZE - 33);
	struct blz_map_seg s[4];
	size_t n = lookup(m, VIRT_START + 4 * K4, 4096, s, 4);
	assert_false(s[0].mapped);
	/* Appending afterwards reuses seq 2 (it was never acknowledged) and replays clean. */
	append1(m, 2, VIRT_START + 4 * K4, 777);
	n = lookup(m, VIRT_START + 4 * K4, 4096, s, 4);
	assert_int_equal(n, 1);
	assert_true(s[0].mapped && s[0].rec.seq == 2 && s[0].rec.data_len == 777);
	blz_map_close(m);

	/* The reader picks the new record up and the torn bytes are gone. */
	assert_int_equal(blz_map_refresh(ro), 0);
	blz_map_stats(ro, &st);
	assert_int_equal(st.records, 3);
	assert_int_equal(blz_map_dropped_tail(ro), BLZ_MAP_REC_SIZE - 33);
	blz_map_close(ro);

	m = open_map(c->path, FSID_A, 0);
	assert_int_equal(blz_map_dropped_tail(m), 0);
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 3);
	blz_map_close(m);

	/* A header alone with a few stray bytes: dropped as well. */
	assert_int_equal(truncate(c->path, BLZ_MAP_HDR_SIZE + 5), 0);
	m = open_map(c->path, FSID_A, 0);
	assert_int_equal(blz_map_dropped_tail(m), 5);
	assert_int_equal(file_size(c->path), BLZ_MAP_HDR_SIZE);
	blz_map_close(m);
}

static void test_torn_bad_crc_last(void **state)
{
	struct ctx *c = *state;
	make_journal(c->path, 4);
	xor_byte(c->path, recpos(3) + 20, 0x01);
	struct blz_map *m = open_areas(c->path, 0);
	assert_int_equal(blz_map_dropped_tail(m), BLZ_MAP_REC_SIZE);
	assert_int_equal(file_size(c->path), recpos(3));
	struct blz_map_stats st;
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 3);
	append1(m, 2, VIRT_START + 6 * K4, 4096);
	blz_map_close(m);
	m = open_map(c->path, FSID_A, 0);
	assert_int_equal(blz_map_dropped_tail(m), 0);
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 4);
	blz_map_close(m);

	/* Zeros where the last record should be (a crash after the size grew): torn too. */
	unlink(c->path);
	make_journal(c->path, 0);
	uint8_t zero[BLZ_MAP_REC_SIZE * 2] = { 0 };
	m = open_areas(c->path, 0);
	append1(m, 2, VIRT_START + 100 * K4, 4096);
	blz_map_close(m);
	write_at(c->path, zero, sizeof(zero), file_size(c->path));
	m = open_map(c->path, FSID_A, 0);
	assert_int_equal(blz_map_dropped_tail(m), sizeof(zero));
	blz_map_close(m);
}

static void test_bad_middle(void **state)
{
	struct ctx *c = *state;
	char err[512];
	make_journal(c->path, 4);
	xor_byte(c->path, recpos(1) + 50, 0x80);
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "record 1 at byte 144"));
	assert_non_null(strstr(err, "valid record follows at byte 224"));
	assert_int_equal(try_open(c->path, FSID_A, BLZ_MAP_READONLY, err, sizeof(err)), -EBADMSG);
	/* Nothing was truncated. */
	assert_int_equal(file_size(c->path), recpos(4));

	/* Damage in the first record, too. */
	xor_byte(c->path, recpos(1) + 50, 0x80);
	xor_byte(c->path, recpos(0), 0x01); /* magic */
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "record 0 at byte 64"));
}

/* A crash in the middle of a multi-record append: whatever part of the batch reached the disk,
 * the whole batch is dropped; a damaged record in an earlier batch is corruption. */
static void test_torn_batch(void **state)
{
	struct ctx *c = *state;
	char err[512];
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	append1(m, 2, VIRT_START, 4096);
	struct blz_map_rec b[4];
	for (int i = 0; i < 4; i++)
		b[i] = mkrec(2, VIRT_START + (uint64_t)(1 + i) * K4, 4096);
	assert_int_equal(blz_map_append(m, b, 4), 0);
	blz_map_close(m);
	assert_int_equal(file_size(c->path), recpos(5));

	/* Keep a pristine copy to restore between cases. */
	uint8_t orig[BLZ_MAP_HDR_SIZE + 5 * BLZ_MAP_REC_SIZE];
	int fd = open(c->path, O_RDONLY);
	assert_int_equal(blz_pread_full(fd, orig, sizeof(orig), 0), 0);
	close(fd);
#define RESTORE() do { \
		assert_int_equal(truncate(c->path, 0), 0); \
		write_at(c->path, orig, sizeof(orig), 0); \
	} while (0)

	/* 1: the batch's second record lost, the later two survived. */
	xor_byte(c->path, recpos(2) + 8, 0xff);
	m = open_map(c->path, FSID_A, BLZ_MAP_READONLY);
	assert_int_equal(blz_map_dropped_tail(m), 4 * BLZ_MAP_REC_SIZE);
	struct blz_map_stats st;
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 1);
	blz_map_close(m);

	/* 2: only the first two records of the batch made it (a clean record boundary). */
	RESTORE();
	assert_int_equal(truncate(c->path, (off_t)recpos(3)), 0);
	m = open_areas(c->path, 0);
	assert_int_equal(blz_map_dropped_tail(m), 2 * BLZ_MAP_REC_SIZE);
	assert_int_equal(file_size(c->path), recpos(1));
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 1);
	blz_map_close(m);

	/* 3: the batch's first record lost, the rest present. */
	RESTORE();
	xor_byte(c->path, recpos(1) + 79, 0x10);
	m = open_map(c->path, FSID_A, BLZ_MAP_READONLY);
	assert_int_equal(blz_map_dropped_tail(m), 4 * BLZ_MAP_REC_SIZE);
	blz_map_close(m);

	/* 4: a valid record after the damaged batch's end is not a torn tail. */
	RESTORE();
	m = open_areas(c->path, 0);
	append1(m, 2, VIRT_START + 5 * K4, 4096);
	blz_map_close(m);
	xor_byte(c->path, recpos(2) + 8, 0xff);
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "record 2 at byte 224"));

	/* 5: damage in the single-record batch before the last batch. */
	RESTORE();
	xor_byte(c->path, recpos(0) + 8, 0xff);
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "record 0 at byte 64"));
#undef RESTORE
}

static void test_wrong_fsid(void **state)
{
	struct ctx *c = *state;
	char err[512];
	make_journal(c->path, 2);
	assert_int_equal(try_open(c->path, FSID_B, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "another seed"));
	assert_non_null(strstr(err, "11223344-5566-7788-99aa-bbccddeeff01"));
	assert_int_equal(try_open(c->path, FSID_B, BLZ_MAP_READONLY, err, sizeof(err)), -EBADMSG);
	assert_int_equal(try_open(c->path, FSID_B, BLZ_MAP_CREATE, err, sizeof(err)), -EBADMSG);
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), 0);
}

static void test_bad_header(void **state)
{
	struct ctx *c = *state;
	char err[512];
	make_journal(c->path, 1);
	xor_byte(c->path, 30, 0x01); /* inside the fsid: checksum */
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "header checksum"));
	xor_byte(c->path, 30, 0x01);
	xor_byte(c->path, 0, 0x01);
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "bad magic"));
	assert_int_equal(truncate(c->path, 10), 0);
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated header"));
	assert_int_equal(truncate(c->path, 0), 0);
	assert_int_equal(try_open(c->path, FSID_A, BLZ_MAP_CREATE, err, sizeof(err)), -EBADMSG);
	/* A directory is not a journal. */
	assert_int_equal(try_open(c->dir, FSID_A, BLZ_MAP_READONLY, err, sizeof(err)), -EINVAL);
}

/* Records with good checksums that break the journal's rules (what a buggy writer or a
 * spliced file would produce). */
static void test_bad_records(void **state)
{
	struct ctx *c = *state;
	char err[512];
	uint8_t b[BLZ_MAP_REC_SIZE];
	struct {
		uint64_t seq;
		int area;
		uint64_t off;
		uint32_t bp, bn;
		const char *msg;
	} cases[] = {
		{ 3, 2, VIRT_START + 40 * K4, 0, 1, "sequence number 3, expected 2" },
		{ 1, 2, VIRT_START + 40 * K4, 0, 1, "sequence number 1, expected 2" },
		{ 2, 2, VIRT_START + 2 * K4, 0, 1, "overlaps record 1" },
		{ 2, 2, VIRT_START + 1 * K4, 0, 1, "high-water mark" },
		{ 2, 2, VIRT_START + 40 * K4, 1, 2, "bad batch framing" },
		{ 2, 2, VIRT_START + 40 * K4, 0, 0, "bad batch framing" },
		{ 2, 1, VIRT_START + 40 * K4, 0, 1, "" },
		{ 2, 7, VIRT_START + 40 * K4, 0, 1, "unknown area" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unlink(c->path);
		make_journal(c->path, 2);
		struct blz_map_rec r = mkrec(cases[i].area, cases[i].off, 4096);
		r.seq = cases[i].seq;
		blz_map_rec_encode(&r, cases[i].bp, cases[i].bn, b);
		write_at(c->path, b, sizeof(b), recpos(2));
		int e;
		if (cases[i].area == 1) {
			/* Bounds are known only after open: set_area finds the mismatch. */
			struct blz_map *m = open_map(c->path, FSID_A, 0);
			assert_int_equal(blz_map_set_area(m, 1, IMP_START, IMP_SIZE), -EBADMSG);
			assert_non_null(strstr(blz_map_error(m), "outside the area"));
			assert_int_equal(blz_map_set_area(m, 2, VIRT_START, VIRT_SIZE), -EBADMSG);
			assert_non_null(strstr(blz_map_error(m), "inside the virtual area"));
			blz_map_close(m);
			/* With the bounds already known, a refresh that reads it refuses. */
			unlink(c->path);
			make_journal(c->path, 2);
			m = open_areas(c->path, 0);
			write_at(c->path, b, sizeof(b), recpos(2));
			assert_int_equal(blz_map_refresh(m), -EBADMSG);
			assert_non_null(strstr(blz_map_error(m), "record 2 at byte 224: "));
			assert_non_null(strstr(blz_map_error(m), "outside the import area"));
			blz_map_close(m);
			continue;
		}
		e = try_open(c->path, FSID_A, 0, err, sizeof(err));
		if (e != -EBADMSG || !strstr(err, cases[i].msg) || !strstr(err, "record 2 at byte 224"))
			print_error("case %zu: %d %s\n", i, e, err);
		assert_int_equal(e, -EBADMSG);
		assert_non_null(strstr(err, cases[i].msg));
		assert_non_null(strstr(err, "record 2 at byte 224"));
	}
	/* A sequence gap in the middle (records renumbered from 5). */
	unlink(c->path);
	make_journal(c->path, 4);
	struct blz_map_rec r = mkrec(2, VIRT_START + 4 * K4, 4096);
	r.seq = 5;
	blz_map_rec_encode(&r, 0, 1, b);
	write_at(c->path, b, sizeof(b), recpos(2));
	assert_int_equal(try_open(c->path, FSID_A, BLZ_MAP_READONLY, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "record 2 at byte 224: sequence number 5, expected 2"));
	/* A record from a newer format. */
	unlink(c->path);
	make_journal(c->path, 2);
	r.seq = 2;
	r.off = VIRT_START + 40 * K4;
	blz_map_rec_encode(&r, 0, 1, b);
	b[4] = 2;
	put_le32(b + 76, ~blz_crc32c_raw(~0u, b, 76));
	write_at(c->path, b, sizeof(b), recpos(2));
	assert_int_equal(try_open(c->path, FSID_A, 0, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "unknown record type 2"));
}

/* ---- concurrency ---- */

static void test_two_handles(void **state)
{
	struct ctx *c = *state;
	struct blz_map *a = open_areas(c->path, BLZ_MAP_CREATE);
	struct blz_map *b = open_areas(c->path, 0);
	/* Alternate: each appends at the offset its own (possibly stale) view allocates. */
	for (int i = 0; i < 100; i++) {
		struct blz_map *w = i % 2 ? b : a;
		uint64_t off;
		assert_int_equal(blz_map_alloc(w, 2, 3 * K4, &off), 0); /* refreshes first */
		append1(w, 2, off, 3 * 4096 - (uint32_t)i);
		struct blz_map_rec r = mkrec(1, 0, 4096 + (uint32_t)i);
		assert_int_equal(blz_map_append_alloc(w, 1, &r, 1), 0);
	}
	/* b's view is stale by a's last append; an append at a stale offset is refused after
	 * the append's own refresh. */
	struct blz_map_stats sa, sb;
	blz_map_stats(a, &sa);
	blz_map_stats(b, &sb);
	assert_int_equal(sa.records, 198); /* b appended last */
	assert_int_equal(sb.records, 200);
	struct blz_map_rec stale = mkrec(2, sa.area[2].next_free, 4096);
	assert_int_equal(blz_map_append(a, &stale, 1), -EEXIST);
	blz_map_stats(a, &sa);
	assert_int_equal(sa.records, 200);

	assert_int_equal(blz_map_refresh(a), 0);
	assert_int_equal(blz_map_refresh(b), 0);
	blz_map_stats(a, &sa);
	blz_map_stats(b, &sb);
	assert_int_equal(sa.records, sb.records);
	for (int ar = 1; ar <= 2; ar++) {
		assert_int_equal(sa.area[ar].mapped_bytes, sb.area[ar].mapped_bytes);
		assert_int_equal(sa.area[ar].end, sb.area[ar].end);
	}
	compare_maps(a, b, 0, UINT64_MAX);
	/* Contiguous, no overlap: the virtual area is one run of 100 records of 12 KiB. */
	struct blz_map_seg s[256];
	size_t n = lookup(a, VIRT_START, 300 * K4, s, 256);
	assert_int_equal(n, 100);
	for (size_t i = 0; i < n; i++) {
		assert_true(s[i].mapped && s[i].len == 3 * K4);
		assert_true(s[i].off == VIRT_START + i * 3 * K4);
	}
	blz_map_close(a);
	blz_map_close(b);

	struct blz_map *m = open_map(c->path, FSID_A, BLZ_MAP_READONLY);
	blz_map_stats(m, &sa);
	assert_int_equal(sa.records, 200);
	assert_int_equal(sa.dropped_tail, 0);
	blz_map_close(m);
}

static void test_lock_timeout(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	blz_map_set_lock_timeout(m, 50);
	int fd = open(c->path, O_RDWR);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	struct blz_map_rec r = mkrec(2, VIRT_START, 4096);
	double t0 = now_s();
	assert_int_equal(blz_map_append(m, &r, 1), -ETIMEDOUT);
	assert_true(now_s() - t0 < 5);
	assert_non_null(strstr(blz_map_error(m), "timed out"));
	assert_int_equal(blz_map_refresh(m), -ETIMEDOUT);
	char err[512];
	struct blz_map *m2 = NULL;
	/* (open waits too; with the default 30 s it would block, so only check release) */
	assert_int_equal(flock(fd, LOCK_UN), 0);
	assert_int_equal(blz_map_append(m, &r, 1), 0);
	/* A shared lock held elsewhere blocks appends but not refreshes. */
	assert_int_equal(flock(fd, LOCK_SH), 0);
	assert_int_equal(blz_map_refresh(m), 0);
	assert_int_equal(blz_map_open(c->path, FSID_A, BLZ_MAP_READONLY, &m2, err, sizeof(err)), 0);
	blz_map_close(m2);
	r = mkrec(2, VIRT_START + K4, 4096);
	assert_int_equal(blz_map_append(m, &r, 1), -ETIMEDOUT);
	close(fd);
	assert_int_equal(blz_map_append(m, &r, 1), 0);
	blz_map_close(m);
}

/* blz_map_locked: fn sees what other handles appended, and no append gets in while it runs
 * (a clean-up decided under it cannot race a writer's record). */
struct locked_ctx {
	struct blz_map *other;
	int calls;
	uint64_t records_seen;
	int other_append; /* the other handle's append attempted inside fn */
};

static int locked_fn(struct blz_map *m, void *ctx)
{
	struct locked_ctx *l = ctx;
	struct blz_map_stats st;
	blz_map_stats(m, &st);
	l->records_seen = st.records;
	l->calls++;
	struct blz_map_rec r = mkrec(2, VIRT_START + 8 * K4, 4096);
	l->other_append = blz_map_append(l->other, &r, 1);
	return l->calls == 1 ? 0 : -E2BIG;
}

/* An append check that refuses records whose digest starts with 0xee. */
static int refuse_ee(void *ctx, const struct blz_map_rec *recs, size_t n)
{
	int *calls = ctx;
	(*calls)++;
	for (size_t i = 0; i < n; i++)
		if (recs[i].digest[0] == 0xee)
			return -ENOENT;
	return 0;
}

static void test_locked(void **state)
{
	struct ctx *c = *state;
	struct blz_map *a = open_areas(c->path, BLZ_MAP_CREATE);
	struct blz_map *b = open_areas(c->path, 0);
	blz_map_set_lock_timeout(b, 50);
	append1(b, 2, VIRT_START, 4096); /* a has not seen it yet */
	struct locked_ctx l = { .other = b };
	assert_int_equal(blz_map_locked(a, locked_fn, &l), 0);
	assert_int_equal(l.calls, 1);
	assert_int_equal(l.records_seen, 1);		/* refreshed first */
	assert_int_equal(l.other_append, -ETIMEDOUT); /* excluded while fn ran */
	struct blz_map_stats st;
	assert_int_equal(blz_map_refresh(b), 0);
	blz_map_stats(b, &st);
	assert_int_equal(st.records, 1);
	/* fn's error is returned; the lock is released either way */
	assert_int_equal(blz_map_locked(a, locked_fn, &l), -E2BIG);
	append1(b, 2, VIRT_START + 8 * K4, 4096);
	/* a lock held elsewhere: -ETIMEDOUT, fn not called */
	blz_map_set_lock_timeout(a, 50);
	int fd = open(c->path, O_RDWR);
	assert_int_equal(flock(fd, LOCK_SH), 0);
	assert_int_equal(blz_map_locked(a, locked_fn, &l), -ETIMEDOUT);
	assert_int_equal(l.calls, 2);
	close(fd);

	/* The append check runs under the lock, before anything is written. */
	int calls = 0;
	blz_map_set_append_check(a, refuse_ee, &calls);
	struct blz_map_rec r[2] = { mkrec(2, 0, 4096), mkrec(2, 0, 4096) };
	r[1].digest[0] = 0xee;
	assert_int_equal(blz_map_append_alloc(a, 2, r, 2), -ENOENT);
	assert_int_equal(calls, 1);
	assert_non_null(strstr(blz_map_error(a), "check"));
	blz_map_stats(a, &st);
	assert_int_equal(st.records, 2);
	r[1].digest[0] = 0x11;
	assert_int_equal(blz_map_append_alloc(a, 2, r, 2), 0);
	assert_int_equal(calls, 2);
	blz_map_set_append_check(a, NULL, NULL);
	blz_map_close(a);
	blz_map_close(b);
	struct blz_map *m = open_map(c->path, FSID_A, BLZ_MAP_READONLY);
	blz_map_stats(m, &st);
	assert_int_equal(st.records, 4); /* nothing of the refused append */
	blz_map_close(m);
}

/* Several processes append at once through append_alloc. */
static void test_processes(void **state)
{
	struct ctx *c = *state;
	enum { PROCS = 4, EACH = 150 };
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	blz_map_close(m);
	pid_t pids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			char err[512];
			struct blz_map *cm = NULL;
			if (blz_map_open(c->path, FSID_A, 0, &cm, err, sizeof(err)))
				_exit(10);
			blz_map_set_area(cm, 1, IMP_START, IMP_SIZE);
			blz_map_set_area(cm, 2, VIRT_START, VIRT_SIZE);
			for (int i = 0; i < EACH; i++) {
				struct blz_map_rec r[2] = { mkrec(2, 0, (uint32_t)(p + 1) * 4096),
							    mkrec(2, 0, 100) };
				/* the digest says which process wrote it */
				r[0].digest[0] = r[1].digest[0] = (uint8_t)p;
				if (blz_map_append_alloc(cm, 2, r, 1 + i % 2))
					_exit(11);
			}
			blz_map_close(cm);
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int st;
		assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	m = open_map(c->path, FSID_A, BLZ_MAP_READONLY);
	struct blz_map_stats st;
	blz_map_stats(m, &st);
	assert_int_equal(st.records, PROCS * EACH * 3 / 2);
	assert_int_equal(st.dropped_tail, 0);
	/* One contiguous run of records from the area's start: no overlap, no gap. */
	size_t max = PROCS * EACH * 2;
	struct blz_map_seg *s = calloc(max, sizeof(*s));
	size_t n = lookup(m, VIRT_START, st.area[2].end - VIRT_START, s, max);
	assert_int_equal(n, st.records);
	uint64_t pos = VIRT_START;
	for (size_t i = 0; i < n; i++) {
		assert_true(s[i].mapped && s[i].off == pos);
		pos += s[i].len;
	}
	free(s);
	blz_map_close(m);
}

struct thr {
	struct blz_map *m;
	int *stop;
	uint64_t lookups, bad;
};

static void *reader_thread(void *arg)
{
	struct thr *t = arg;
	struct blz_map_seg s[32];
	uint64_t x = (uint64_t)(uintptr_t)t;
	while (!__atomic_load_n(t->stop, __ATOMIC_RELAXED)) {
		x = splitmix(x);
		uint64_t off = VIRT_START + x % (4096 * K4);
		size_t n;
		if (blz_map_lookup(t->m, off, 64 * K4, s, 32, &n))
			t->bad++;
		for (size_t i = 0; i < n; i++) {
			if (!s[i].mapped)
				continue;
			uint8_t d[32];
			digest_for(s[i].rec.off, d);
			if (memcmp(d, s[i].rec.digest, 32) || s[i].rec.off + s[i].rec_off != s[i].off)
				t->bad++;
		}
		t->lookups++;
	}
	return NULL;
}

/* Lookups on several threads while another thread appends (and refreshes). */
static void test_threads(void **state)
{
	struct ctx *c = *state;
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	int stop = 0;
	struct thr t[3];
	pthread_t th[3];
	for (int i = 0; i < 3; i++) {
		t[i] = (struct thr){ m, &stop, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &t[i]), 0);
	}
	/* Descending area order forces merges below existing records now and then. */
	for (int i = 0; i < 400; i++) {
		struct blz_map_rec r[4];
		for (int k = 0; k < 4; k++)
			r[k] = mkrec(2, VIRT_START + (uint64_t)(i * 4 + k) * 2 * K4, 4096);
		assert_int_equal(blz_map_append(m, r, 4), 0);
		if (i % 50 == 0) {
			append1(m, 1, IMP_START + (uint64_t)i * K4, 4096);
			assert_int_equal(blz_map_refresh(m), 0);
		}
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	uint64_t total = 0;
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].bad, 0);
		total += t[i].lookups;
	}
	print_message("      %" PRIu64 " concurrent lookups during 408 appends\n", total);
	blz_map_close(m);
}

/* ---- scale ---- */

static void test_million(void **state)
{
	struct ctx *c = *state;
	enum { N = 1000000, BATCH = 10000 };
	struct blz_map *m = open_areas(c->path, BLZ_MAP_CREATE);
	struct blz_map_rec *b = malloc(BATCH * sizeof(*b));
	/* Virtual area: 1M records of 4..64 KiB, with a gap after every 7th. */
	uint64_t off = VIRT_START;
	double t0 = now_s();
	for (int i = 0; i < N; i += BATCH) {
		for (int k = 0; k < BATCH; k++) {
			uint32_t dl = (uint32_t)(1 + splitmix((uint64_t)(i + k)) % (64 * 1024));
			b[k] = mkrec(2, off, dl);
			off += b[k].len + ((i + k) % 7 == 6 ? K4 : 0);
		}
		assert_int_equal(blz_map_append(m, b, BATCH), 0);
	}
	double t_append = now_s() - t0;
	uint64_t vend = off;

	/* 1000 import-area records below all of them: each batch merges under 1M records. */
	t0 = now_s();
	for (int i = 0; i < 10; i++) {
		for (int k = 0; k < 100; k++)
			b[k] = mkrec(1, IMP_START + (uint64_t)(i * 100 + k) * K4, 4096);
		assert_int_equal(blz_map_append(m, b, 100), 0);
	}
	double t_merge = now_s() - t0;
	blz_map_close(m);
	free(b);
	uint64_t fsize = file_size(c->path);
	assert_int_equal(fsize, recpos(N + 1000));

	t0 = now_s();
	m = open_map(c->path, FSID_A, BLZ_MAP_READONLY);
	double t_open = now_s() - t0;
	struct blz_map_stats st;
	blz_map_stats(m, &st);
	assert_int_equal(st.records, N + 1000);
	assert_true(st.area[2].end <= vend);

	enum { L = 1000000 };
	uint64_t mapped = 0, gaps = 0;
	t0 = now_s();
	for (int i = 0; i < L; i++) {
		struct blz_map_seg s[4];
		size_t n;
		uint64_t o = VIRT_START + (splitmix((uint64_t)i * 3 + 1) % (vend - VIRT_START)) / K4 * K4;
		blz_map_lookup(m, o, 4 * K4, s, 4, &n);
		for (size_t k = 0; k < n; k++) {
			if (s[k].mapped)
				mapped++;
			else
				gaps++;
		}
	}
	double t_lookup = now_s() - t0;
	assert_true(mapped > L);
	assert_true(gaps > 0);
	/* spot-check correctness at scale */
	struct blz_map_seg s[4];
	size_t n = lookup(m, IMP_START + 500 * K4, 4096, s, 4);
	assert_int_equal(n, 1);
	assert_true(s[0].mapped && s[0].rec.seq == N + 500);
	n = lookup(m, VIRT_START, 4096, s, 4);
	assert_true(s[0].mapped && s[0].rec.seq == 0);
	blz_map_close(m);
	print_message("      1M records: append %.3f s (100 batches of 10,000, each fdatasync'd), "
		      "1000 merged below them %.3f s, replay %.3f s (%.1f MB), "
		      "1M lookups of 16 KiB %.3f s (%.0f ns each)\n", t_append, t_merge, t_open,
		      fsize / 1e6, t_lookup, t_lookup * 1e9 / L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_codec),
		cmocka_unit_test(test_record_codec),
		cmocka_unit_test(test_record_check),
		cmocka_unit_test_setup_teardown(test_create_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_after_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_and_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_high_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_bad_crc_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_fsid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_million, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
