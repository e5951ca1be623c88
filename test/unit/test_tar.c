/*
 * Unit tests for the streaming tar reader.  Archives are built in memory with a small
 * header builder, so the tests need no external programs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zstd.h>

#include "tar/tar.h"
#include "util/crc32c.h"
#include "util/le.h"
#include "util/strbuf.h"

/* ---- archive builder ---- */

#define MTIME 1700000000

/* n-1 zero-padded octal digits and a NUL, as GNU tar writes them */
static void put_oct(uint8_t *f, size_t n, uint64_t v)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%0*llo", (int)(n - 1), (unsigned long long)v);
	assert_int_equal(strlen(tmp), n - 1);
	memcpy(f, tmp, n);
}

/* GNU base-256: 0x80 marker, big-endian value */
static void put_b256(uint8_t *f, size_t n, uint64_t v)
{
	memset(f, 0, n);
	f[0] = 0x80;
	for (size_t i = n - 1; i > 0 && v; i--, v >>= 8)
		f[i] = (uint8_t)v;
}

static void hdr_init(uint8_t *h, const char *name, char type, uint64_t size)
{
	size_t l = strlen(name);

	memset(h, 0, 512);
	memcpy(h, name, l < 100 ? l : 100);
	put_oct(h + 100, 8, 0644);
	put_oct(h + 108, 8, 1000);
	put_oct(h + 116, 8, 100);
	put_oct(h + 124, 12, size);
	put_oct(h + 136, 12, MTIME);
	h[156] = (uint8_t)type;
	memcpy(h + 257, "ustar\0" "00", 8);
	memcpy(h + 265, "user", 4);
	memcpy(h + 297, "group", 5);
}

static void hdr_gnu(uint8_t *h)
{
	memcpy(h + 257, "ustar  ", 8);
}

static unsigned hdr_usum(const uint8_t *h)
{
	unsigned s = 0;

	for (int i = 0; i < 512; i++)
		s += (i >= 148 && i < 156) ? ' ' : h[i];
	return s;
}

static void hdr_sum(uint8_t *h)
{
	char tmp[16];

	snprintf(tmp, sizeof(tmp), "%06o", hdr_usum(h));
	memcpy(h + 148, tmp, 7);
	h[155] = ' ';
}

static void arc_block(struct blz_buf *a, const uint8_t *h)
{
	blz_buf_append(a, h, 512);
}

static void arc_data(struct blz_buf *a, const void *p, size_t n)
{
	blz_buf_append(a, p, n);
	blz_buf_grow(a, (512 - n % 512) % 512);
}

static void arc_end(struct blz_buf *a)
{
	blz_buf_grow(a, 1024);
}

static void arc_entry(struct blz_buf *a, const char *name, char type, const char *link,
		      const void *data, size_t n)
{
	uint8_t h[512];

	hdr_init(h, name, type, n);
	if (link)
		memcpy(h + 157, link, strlen(link) < 100 ? strlen(link) : 100);
	hdr_sum(h);
	arc_block(a, h);
	if (n)
		arc_data(a, data, n);
}

static size_t ndigits(size_t v)
{
	size_t d = 1;

	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

/* One "LEN key=value\n" record. */
static void pax_rec(struct blz_buf *p, const char *key, const void *val, size_t vlen)
{
	size_t base = strlen(key) + vlen + 3, len = base + 1;
	char num[32];

	while (len != base + ndigits(len))
		len = base + ndigits(len);
	snprintf(num, sizeof(num), "%zu ", len);
	blz_buf_append(p, num, strlen(num));
	blz_buf_append(p, key, strlen(key));
	blz_buf_append(p, "=", 1);
	blz_buf_append(p, val, vlen);
	blz_buf_append(p, "\n", 1);
}

static void pax_str(struct blz_buf *p, const char *key, const char *val)
{
	pax_rec(p, key, val, strlen(val));
}

/* A pax header of the given type ('x' or 'g') holding recs; releases recs. */
static void arc_pax(struct blz_buf *a, char type, struct blz_buf *recs)
{
	uint8_t h[512];

	hdr_init(h, "./PaxHeaders/x", type, recs->len);
	hdr_sum(h);
	arc_block(a, h);
	arc_data(a, recs->data, recs->len);
	blz_buf_release(recs);
}

/* A GNU 'L' or 'K' header holding name and its NUL. */
static void arc_gnu_long(struct blz_buf *a, char type, const char *name)
{
	uint8_t h[512];

	hdr_init(h, "././@LongLink", type, strlen(name) + 1);
	hdr_gnu(h);
	hdr_sum(h);
	arc_block(a, h);
	arc_data(a, name, strlen(name) + 1);
}

static char *repeat(char c, size_t n)
{
	char *s = blz_xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* n copies of c at dst, NUL-terminated; returns dst */
static char *rep(char *dst, char c, size_t n)
{
	memset(dst, c, n);
	dst[n] = '\0';
	return dst;
}

/* ---- reading ---- */

static int mem_fd(const void *p, size_t n)
{
	int fd = memfd_create("tar-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

struct rd {
	int fd;
	struct blz_tar *t;
};

static void rd_open(struct rd *r, const void *p, size_t n)
{
	r->fd = mem_fd(p, n);
	assert_int_equal(blz_tar_open(&r->t, r->fd), 0);
}

static void rd_close(struct rd *r)
{
	blz_tar_close(r->t);
	close(r->fd);
}

static const struct blz_tar_entry *rd_next(struct rd *r)
{
	const struct blz_tar_entry *e;
	int ret = blz_tar_next(r->t, &e);

	if (ret != 1)
		print_error("blz_tar_next: %d (%s)\n", ret, blz_tar_error(r->t));
	assert_int_equal(ret, 1);
	assert_non_null(e);
	return e;
}

static void rd_end(struct rd *r)
{
	const struct blz_tar_entry *e;
	int ret = blz_tar_next(r->t, &e);

	if (ret != 0)
		print_error("blz_tar_next: %d (%s)\n", ret, blz_tar_error(r->t));
	assert_int_equal(ret, 0);
	assert_null(e);
	/* the end is sticky */
	assert_int_equal(blz_tar_next(r->t, &e), 0);
}

static void expect_data(struct rd *r, const void *want, size_t n)
{
	uint8_t *buf = blz_xmalloc(n + 16);

	assert_int_equal(blz_tar_read(r->t, buf, n + 16), (ssize_t)n);
	assert_memory_equal(buf, want, n);
	assert_int_equal(blz_tar_read(r->t, buf, 16), 0);
	free(buf);
}

static const struct blz_tar_xattr *find_xattr(const struct blz_tar_entry *e, const char *name)
{
	for (size_t i = 0; i < e->nxattrs; i++)
		if (!strcmp(e->xattrs[i].name, name))
			return &e->xattrs[i];
	return NULL;
}

/*
 * Reads every entry and all data of an archive held in fd; returns 0 or the first error,
 * with its message copied to msg.  Bounded, so a reader that loops fails the test.
 */
static int drain_fd(int fd, char *msg, size_t msglen, int *nentries)
{
	struct blz_tar *t;
	const struct blz_tar_entry *e;
	static uint8_t buf[70000];
	int ret, n = 0;

	assert_int_equal(blz_tar_open(&t, fd), 0);
	for (;;) {
		ret = blz_tar_next(t, &e);
		if (ret <= 0)
			break;
		assert_true(++n < 100000);
		assert_non_null(e->path);
		if (e->type == BLZ_TAR_HARDLINK || e->type == BLZ_TAR_SYMLINK)
			assert_non_null(e->linkname);
		uint64_t got = 0;
		ssize_t k;
		while ((k = blz_tar_read(t, buf, n % 2 ? sizeof(buf) : 777)) > 0)
			got += (uint64_t)k;
		if (k < 0) {
			ret = (int)k;
			break;
		}
		assert_true(got == e->size);
	}
	if (msg)
		snprintf(msg, msglen, "%s", blz_tar_error(t));
	if (ret < 0) {
		/* errors are sticky */
		assert_int_equal(blz_tar_next(t, &e), ret);
		assert_int_equal(blz_tar_read(t, buf, 1), ret);
	}
	blz_tar_close(t);
	if (nentries)
		*nentries = n;
	return ret;
}

static int drain(const void *p, size_t n, char *msg, size_t msglen, int *nentries)
{
	int fd = mem_fd(p, n);
	int ret = drain_fd(fd, msg, msglen, nentries);

	close(fd);
	return ret;
}

static void expect_fail_n(const void *p, size_t n, int err, const char *needle,
			  const char *needle2)
{
	char msg[1024];
	int ret = drain(p, n, msg, sizeof(msg), NULL);

	if (ret != err || !strstr(msg, needle) || (needle2 && !strstr(msg, needle2)))
		print_error("got %d '%s', want %d with '%s'%s%s\n", ret, msg, err, needle,
			    needle2 ? " and " : "", needle2 ? needle2 : "");
	assert_int_equal(ret, err);
	assert_non_null(strstr(msg, needle));
	if (needle2)
		assert_non_null(strstr(msg, needle2));
}

static void expect_fail(struct blz_buf *a, int err, const char *needle, const char *needle2)
{
	expect_fail_n(a->data, a->len, err, needle, needle2);
	blz_buf_release(a);
}

static void *zcompress(const void *p, size_t n, size_t *out_len, bool checksum)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n);
	void *out = blz_xmalloc(cap);

	assert_non_null(c);
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum);
	*out_len = ZSTD_compress2(c, out, cap, p, n);
	assert_false(ZSTD_isError(*out_len));
	ZSTD_freeCCtx(c);
	return out;
}

/* ---- well-formed archives ---- */

static void test_basic(void **state)
{
	struct blz_buf a = { 0 };
	uint8_t h[512];
	struct rd r;
	const struct blz_tar_entry *e;
	static const char hello[] = "hello world\n";

	arc_entry(&a, "./", '5', NULL, NULL, 0);
	hdr_init(h, "./file.txt", '0', sizeof(hello) - 1);
	put_oct(h + 100, 8, 0104755); /* type bits in mode are dropped */
	put_oct(h + 108, 8, 1234);
	put_oct(h + 116, 8, 5678);
	put_oct(h + 136, 12, 077777777777);
	hdr_sum(h);
	arc_block(&a, h);
	arc_data(&a, hello, sizeof(hello) - 1);
	arc_entry(&a, "dir/", '5', NULL, NULL, 0);
	arc_entry(&a, "dir//sub/./x", '0', NULL, NULL, 0);
	arc_entry(&a, "link", '2', "../outside/./target/", NULL, 0);
	arc_end(&a);

	rd_open(&r, a.data, a.len);
	e = rd_next(&r);
	assert_string_equal(e->path, "");
	assert_int_equal(e->type, BLZ_TAR_DIR);
	assert_int_equal(e->header_offset, 0);
	assert_int_equal(e->mode, 0644);
	assert_int_equal(blz_tar_read(r.t, h, sizeof(h)), 0);

	e = rd_next(&r);
	assert_string_equal(e->path, "file.txt");
	assert_int_equal(e->type, BLZ_TAR_REG);
	assert_int_equal(e->mode, 04755);
	assert_int_equal(e->uid, 1234);
	assert_int_equal(e->gid, 5678);
	assert_int_equal(e->size, sizeof(hello) - 1);
	assert_int_equal(e->mtime.tv_sec, 077777777777);
	assert_int_equal(e->mtime.tv_nsec, 0);
	assert_int_equal(e->atime.tv_sec, 077777777777);
	assert_int_equal(e->ctime.tv_sec, 077777777777);
	assert_int_equal(e->nxattrs, 0);
	assert_null(e->linkname);
	assert_int_equal(e->header_offset, 512);
	/* read in two pieces */
	char buf[64];
	assert_int_equal(blz_tar_read(r.t, buf, 5), 5);
	assert_int_equal(blz_tar_read(r.t, buf + 5, sizeof(buf) - 5), (ssize_t)sizeof(hello) - 6);
	assert_memory_equal(buf, hello, sizeof(hello) - 1);
	assert_int_equal(blz_tar_read(r.t, buf, sizeof(buf)), 0);

	e = rd_next(&r);
	assert_string_equal(e->path, "dir");
	assert_int_equal(e->type, BLZ_TAR_DIR);
	assert_int_equal(e->size, 0);
	assert_int_equal(e->header_offset, 1536);

	e = rd_next(&r);
	assert_string_equal(e->path, "dir/sub/x");
	assert_int_equal(e->type, BLZ_TAR_REG);

	e = rd_next(&r);
	assert_string_equal(e->path, "link");
	assert_int_equal(e->type, BLZ_TAR_SYMLINK);
	assert_string_equal(e->linkname, "../outside/./target/"); /* verbatim */
	assert_int_equal(e->size, 0);
	rd_end(&r);
	rd_close(&r);
	blz_buf_release(&a);
}

static void test_types(void **state)
{
	struct blz_buf a = { 0 };
	uint8_t h[512];
	struct rd r;
	const struct blz_tar_entry *e;

	arc_entry(&a, "file.txt", '0', NULL, "x", 1);
	arc_entry(&a, "hard", '1', ".//file.txt", NULL, 0);
	hdr_init(h, "null", '3', 0);
	put_oct(h + 329, 8, 1);
	put_oct(h + 337, 8, 3);
	hdr_sum(h);
	arc_block(&a, h);
	hdr_init(h, "sda", '4', 0);
	memcpy(h + 329, "     10 ", 8); /* space padding instead of zeros */
	memcpy(h + 337, "5\0\0\0\0\0\0\0", 8);
	hdr_sum(h);
	arc_block(&a, h);
	arc_entry(&a, "fifo", '6', NULL, NULL, 0);
	arc_entry(&a, "old", '\0', NULL, "abc", 3);
	arc_entry(&a, "contig", '7', NULL, "defg", 4);
	arc_entry(&a, "v7dir/", '\0', NULL, NULL, 0);
	arc_end(&a);

	rd_open(&r, a.data, a.len);
	e = rd_next(&r);
	assert_string_equal(e->path, "file.txt");
	e = rd_next(&r);
	assert_string_equal(e->path, "hard");
	assert_int_equal(e->type, BLZ_TAR_HARDLINK);
	assert_string_equal(e->linkname, "file.txt");
	assert_int_equal(e->size, 0);
	e = rd_next(&r);
	assert_string_equal(e->path, "null");
	assert_int_equal(e->type, BLZ_TAR_CHR);
	assert_int_equal(e->devmajor, 1);
	assert_int_equal(e->devminor, 3);
	e = rd_next(&r);
	assert_string_equal(e->path, "sda");
	assert_int_equal(e->type, BLZ_TAR_BLK);
	assert_int_equal(e->devmajor, 8);
	assert_int_equal(e->devminor, 5);
	e = rd_next(&r);
	assert_string_equal(e->path, "fifo");
	assert_int_equal(e->type, BLZ_TAR_FIFO);
	assert_int_equal(e->devmajor, 0);
	e = rd_next(&r);
	assert_string_equal(e->path, "old");
	assert_int_equal(e->type, BLZ_TAR_REG);
	assert_int_equal(e->size, 3);
	/* not read: next() skips it */
	e = rd_next(&r);
	assert_string_equal(e->path, "contig");
	assert_int_equal(e->type, BLZ_TAR_REG);
	expect_data(&r, "defg", 4);
	e = rd_next(&r);
	assert_string_equal(e->path, "v7dir");
	assert_int_equal(e->type, BLZ_TAR_DIR);
	rd_end(&r);
	assert_int_equal(blz_tar_read(r.t, h, 1), 0);
	rd_close(&r);
	blz_buf_release(&a);
}

/* Which types carry data after the header, whatever their size fields say. */
static void test_data_presence(void **state)
{
	struct blz_buf a = { 0 }, p = { 0 };
	uint8_t h[512];
	struct rd r;
	const struct blz_tar_entry *e;
	static const char *const names[] = { "hard", "sym", "chr", "dir", "fifo" };
	static const char types[] = "12356";

	/* traditional writers put the target's size in hard links, without data */
	for (int i = 0; i < 5; i++) {
		hdr_init(h, names[i], types[i], 5000);
		memcpy(h + 157, "target", 6);
		hdr_sum(h);
		arc_block(&a, h);
	}
	/* pax lets a hard link carry data, announced by a size record */
	pax_str(&p, "size", "5");
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "hard-with-data", '1', "target", NULL, 0);
	arc_data(&a, "12345", 5);
	/* a GNU dumpdir carries its file list */
	hdr_init(h, "dumpdir", 'D', 6);
	hdr_gnu(h);
	hdr_sum(h);
	arc_block(&a, h);
	arc_data(&a, "Nfile\0", 6);
	uint64_t last = a.len;
	arc_entry(&a, "last", '0', NULL, "L", 1);
	arc_end(&a);

	rd_open(&r, a.data, a.len);
	for (int i = 0; i < 5; i++) {
		e = rd_next(&r);
		assert_string_equal(e->path, names[i]);
		assert_int_equal(e->size, 0);
		assert_int_equal(e->header_offset, 512 * i);
		assert_int_equal(blz_tar_read(r.t, h, sizeof(h)), 0);
	}
	e = rd_next(&r);
	assert_string_equal(e->path, "hard-with-data");
	assert_int_equal(e->type, BLZ_TAR_HARDLINK);
	assert_int_equal(e->size, 0);
	assert_int_equal(blz_tar_read(r.t, h, sizeof(h)), 0);
	e = rd_next(&r);
	assert_string_equal(e->path, "dumpdir");
	assert_int_equal(e->type, BLZ_TAR_DIR);
	assert_int_equal(e->size, 0);
	e = rd_next(&r);
	assert_string_equal(e->path, "last");
	assert_int_equal(e->header_offset, last);
	expect_data(&r, "L", 1);
	rd_end(&r);
	rd_close(&r);
	blz_buf_release(&a);
}

static void test_prefix(void **state)
{
	struct blz_buf a = { 0 };
	uint8_t h[512];
	struct rd r;
	const struct blz_tar_entry *e;
	char *n100 = repeat('n', 100), *p100 = repeat('p', 100), *q54 = repeat('q', 54);
	char want[512];

	hdr_init(h, "file", '0', 0);
	memcpy(h + 345, "a/b/c", 5);
	hdr_sum(h);
	arc_block(&a, h);

	/* a name and a prefix that fill their fields, with no NUL */
	hdr_init(h, n100, '0', 2);
	memcpy(h + 345, p100, 100);
	h[445] = '/';
	memcpy(h + 446, q54, 54);
	hdr_sum(h);
	arc_block(&a, h);
	arc_data(&a, "hi", 2);

	/* GNU headers keep times where ustar has the prefix: no join */
	hdr_init(h, "gnu/name", '0', 0);
	hdr_gnu(h);
	put_oct(h + 345, 12, 12345);
	hdr_sum(h);
	arc_block(&a, h);

	/* star: a 131-byte prefix followed by times */
	hdr_init(h, "name", '0', 0);
	memcpy(h + 345, "star/prefix", 11);
	put_oct(h + 476, 12, 12345);
	memcpy(h + 508, "tar", 4);
	hdr_sum(h);
	arc_block(&a, h);

	/* a v7 header: no magic, prefix area ignored */
	hdr_init(h, "v7/file", '0', 0);
	memset(h + 257, 0, 512 - 257);
	memcpy(h + 345, "junk", 4);
	hdr_sum(h);
	arc_block(&a, h);
	arc_end(&a);

	rd_open(&r, a.data, a.len);
	e = rd_next(&r);
	assert_string_equal(e->path, "a/b/c/file");
	e = rd_next(&r);
	snprintf(want, sizeof(want), "%s/%s/%s", p100, q54, n100);
	assert_string_equal(e->path, want);
	expect_data(&r, "hi", 2);
	e = rd_next(&r);
	assert_string_equal(e->path, "gnu/name");
	e = rd_next(&r);
	assert_string_equal(e->path, "star/prefix/name");
	e = rd_next(&r);
	assert_string_equal(e->path, "v7/file");
	rd_end(&r);
	rd_close(&r);
	blz_buf_release(&a);
	free(n100);
	free(p100);
	free(q54);
}

static void test_checksum_signed(void **state)
{
	struct blz_buf a = { 0 };
	uint8_t h[512];
	struct rd r;
	const struct blz_tar_entry *e;

	/* old tars summed signed chars: bytes >= 0x80 count negative */
	hdr_init(h, "caf\xc3\xa9", '0', 0);
	int s = 0;
	for (int i = 0; i < 512; i++)
		s += (i >= 148 && i < 156) ? ' ' : (signed char)h[i];
	char tmp[16];
	snprintf(tmp, sizeof(tmp), "%06o", s);
	memcpy(h + 148, tmp, 7);
	h[155] = ' ';
	assert_int_not_equal((unsigned)s, hdr_usum(h));
	arc_block(&a, h);
	/* and a checksum written as "%07o\0" with a leading space */
	hdr_init(h, "x", '0', 0);
	snprintf(tmp, sizeof(tmp), " %06o", hdr_usum(h));
	memcpy(h + 148, tmp, 8);
	arc_block(&a, h);
	arc_end(&a);

	rd_open(&r, a.data, a.len);
	e = rd_next(&r);
	assert_string_equal(e->path, "caf\xc3\xa9");
	e = rd_next(&r);
	assert_string_equal(e->path, "x");
	rd_end(&r);
	rd_close(&r);
	blz_buf_release(&a);
}

static void test_base256(void **state)
{
	struct blz_buf a = { 0 };
	uint8_t h[512];
	struct rd r;
	const struct blz_tar_entry *e;

	hdr_init(h, "small", '0', 0);
	put_b256(h + 124, 12, 5);
	put_b256(h + 108, 8, 3000000000u);
	put_b256(h + 116, 8, UINT32_MAX);
	put_b256(h + 136, 12, UINT64_C(1) << 40);
	hdr_sum(h);
	arc_block(&a, h);
	arc_data(&a, "12345", 5);

	/* a negative mtime (before 1970) in two's complement */
	hdr_init(h, "old", '0', 0);
	memset(h + 136, 0xff, 12);
	h[147] = 0xfe; /* -2 */
	hdr_sum(h);
	arc_block(&a, h);

	/* 9 GiB: more than octal can hold; its data is missing */
	hdr_init(h, "big", '0', 0);
	put_b256(h + 124, 12, UINT64_C(9) << 30);
	hdr_sum(h);
	arc_block(&a, h);
	arc_data(&a, "partial", 7);

	rd_open(&r, a.data, a.len);
	e = rd_next(&r);
	assert_string_equal(e->path, "small");
	assert_int_equal(e->size, 5);
	assert_int_equal(e->uid, 3000000000u);
	assert_int_equal(e->gid, UINT32_MAX);
	assert_int_equal(e->mtime.tv_sec, (int64_t)1 << 40);
	expect_data(&r, "12345", 5);
	e = rd_next(&r);
	assert_int_equal(e->mtime.tv_sec, -2);
	e = rd_next(&r);
	assert_string_equal(e->path, "big");
	assert_int_equal(e->size, UINT64_C(9) << 30);
	const struct blz_tar_entry *e2;
	assert_int_equal(blz_tar_next(r.t, &e2), -EIO);
	assert_non_null(strstr(blz_tar_error(r.t), "unexpected end of archive in 'big'"));
	rd_close(&r);
	blz_buf_release(&a);
}

static void test_pax(void **state)
{
	struct blz_buf a = { 0 }, p = { 0 };
	struct rd r;
	const struct blz_tar_entry *e;
	const struct blz_tar_xattr *x;
	char longpath[400], r1[101], r2[101], r3[91], *target = repeat('t', 200);
	static const uint8_t bin[] = { 'a', 0, 'b', '\n', '=', 'c' };
	uint8_t cap[20];

	for (size_t i = 0; i < sizeof(cap); i++)
		cap[i] = (uint8_t)(0xf0 + i);
	snprintf(longpath, sizeof(longpath), "./%s/%s/%s/file", rep(r1, 'a', 100),
		 rep(r2, 'b', 100), rep(r3, 'c', 90));

	pax_str(&p, "path", longpath);
	pax_str(&p, "mtime", "1234567890.123456789");
	pax_str(&p, "atime", "-1.5");
	pax_str(&p, "ctime", "1000.5000000009999");
	pax_str(&p, "uid", "70000");
	pax_str(&p, "gid", "4294967295");
	pax_str(&p, "size", "10");
	pax_str(&p, "uname", "someone");
	pax_str(&p, "comment", "anything = goes\nhere");
	pax_str(&p, "LIBARCHIVE.xattr.user.bin", "YQBi");
	pax_rec(&p, "SCHILY.xattr.user.bin", bin, sizeof(bin));
	pax_rec(&p, "SCHILY.xattr.security.capability", cap, sizeof(cap));
	pax_str(&p, "SCHILY.xattr.user.empty", "");
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "short-name", '0', NULL, NULL, 0); /* size 0 in the header */
	arc_data(&a, "0123456789", 10);

	pax_str(&p, "linkpath", target);
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "sym", '2', "short-target", NULL, 0);

	/* the attributes above applied to one entry only */
	arc_entry(&a, "plain", '0', NULL, "z", 1);

	/* an empty path record falls back to the header's name */
	pax_str(&p, "path", "ignored");
	pax_str(&p, "path", "");
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "from-header", '5', NULL, NULL, 0);
	/* fractions of every length, NUL padding after the records */
	pax_str(&p, "mtime", "5.1");
	pax_str(&p, "atime", "-7");
	blz_buf_grow(&p, 5);
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "times", '0', NULL, NULL, 0);
	arc_end(&a);

	rd_open(&r, a.data, a.len);
	e = rd_next(&r);
	assert_string_equal(e->path, longpath + 2);
	assert_int_equal(e->header_offset, 0);
	assert_int_equal(e->type, BLZ_TAR_REG);
	assert_int_equal(e->size, 10);
	assert_int_equal(e->uid, 70000);
	assert_int_equal(e->gid, 4294967295u);
	assert_int_equal(e->mtime.tv_sec, 1234567890);
	assert_int_equal(e->mtime.tv_nsec, 123456789);
	assert_int_equal(e->atime.tv_sec, -2);
	assert_int_equal(e->atime.tv_nsec, 500000000);
	assert_int_equal(e->ctime.tv_sec, 1000);
	assert_int_equal(e->ctime.tv_nsec, 500000000);
	assert_int_equal(e->nxattrs, 3);
	x = find_xattr(e, "user.bin");
	assert_non_null(x);
	assert_int_equal(x->len, sizeof(bin));
	assert_memory_equal(x->value, bin, sizeof(bin));
	x = find_xattr(e, "security.capability");
	assert_non_null(x);
	assert_int_equal(x->len, sizeof(cap));
	assert_memory_equal(x->value, cap, sizeof(cap));
	x = find_xattr(e, "user.empty");
	assert_non_null(x);
	assert_int_equal(x->len, 0);
	assert_string_equal(e->xattrs[0].name, "user.bin"); /* archive order */
	expect_data(&r, "0123456789", 10);

	e = rd_next(&r);
	assert_string_equal(e->path, "sym");
	assert_string_equal(e->linkname, target);
	assert_int_equal(e->uid, 1000);

	e = rd_next(&r);
	assert_string_equal(e->path, "plain");
	assert_int_equal(e->uid, 1000);
	assert_int_equal(e->mtime.tv_sec, MTIME);
	assert_int_equal(e->nxattrs, 0);
	expect_data(&r, "z", 1);

	e = rd_next(&r);
	assert_string_equal(e->path, "from-header");

	e = rd_next(&r);
	assert_string_equal(e->path, "times");
	assert_int_equal(e->mtime.tv_sec, 5);
	assert_int_equal(e->mtime.tv_nsec, 100000000);
	assert_int_equal(e->atime.tv_sec, -7);
	assert_int_equal(e->atime.tv_nsec, 0);
	assert_int_equal(e->ctime.tv_sec, 5);
	rd_end(&r);
	rd_close(&r);
	blz_buf_release(&a);
	free(target);
}

static void test_pax_global(void **state)
{
	struct blz_buf a = { 0 }, p = { 0 };
	struct rd r;
	const struct blz_tar_entry *e;
	const struct blz_tar_xattr *x;

	pax_str(&p, "uid", "4242");
	pax_str(&p, "mtime", "1.25");
	pax_str(&p, "SCHILY.xattr.user.g", "G");
	pax_str(&p, "SCHILY.xattr.user.h", "H");
	arc_pax(&a, 'g', &p);
	arc_entry(&a, "a", '0', NULL, NULL, 0);
	pax_str(&p, "uid", "");
	pax_str(&p, "SCHILY.xattr.user.g", "L");
	pax_str(&p, "SCHILY.xattr.user.l", "local");
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "b", '0', NULL, NULL, 0);
	arc_entry(&a, "c", '0', NULL, NULL, 0);
	pax_str(&p, "uid", "");
	arc_pax(&a, 'g', &p);
	arc_entry(&a, "d", '0', NULL, NULL, 0);
	arc_end(&a);

	rd_open(&r, a.data, a.len);
	e = rd_next(&r);
	assert_string_equal(e->path, "a");
	assert_int_equal(e->uid, 4242);
	assert_int_equal(e->mtime.tv_sec, 1);
	assert_int_equal(e->mtime.tv_nsec, 250000000);
	assert_int_equal(e->header_offset, 1024); /* a global header belongs to no entry */
	assert_int_equal(e->nxattrs, 2);

	e = rd_next(&r);
	assert_string_equal(e->path, "b");
	assert_int_equal(e->uid, 1000);
	assert_int_equal(e->mtime.tv_sec, 1);
	assert_int_equal(e->nxattrs, 3);
	x = find_xattr(e, "user.g");
	assert_non_null(x);
	assert_memory_equal(x->value, "L", 1);
	assert_non_null(find_xattr(e, "user.h"));
	assert_non_null(find_xattr(e, "user.l"));

	e = rd_next(&r);
	assert_string_equal(e->path, "c");
	assert_int_equal(e->uid, 4242);
	assert_int_equal(e->nxattrs, 2);
	x = find_xattr(e, "user.g");
	assert_memory_equal(x->value, "G", 1);

	e = rd_next(&r);
	assert_string_equal(e->path, "d");
	assert_int_equal(e->uid, 1000);
	assert_int_equal(e->mtime.tv_sec, 1);
	rd_end(&r);
	rd_close(&r);
	blz_buf_release(&a);
}

static void test_gnu_long(void **state)
{
	struct blz_buf a = { 0 };
	uint8_t h[512];
	struct rd r;
	const struct blz_tar_entry *e;
	char name[400], target[400], r1[201], r2[101], r3[49];

	snprintf(name, sizeof(name), "%s/%s/%s", rep(r1, 'n', 150), rep(r2, 'm', 100),
		 rep(r3, 'o', 48));
	snprintf(target, sizeof(target), "../%s/%s", rep(r1, 't', 200), rep(r2, 'u', 96));
	assert_int_equal(strlen(name), 300);
	assert_int_equal(strlen(target), 300);

	arc_gnu_long(&a, 'L', name);
	hdr_init(h, name, '0', 3);
	hdr_gnu(h);
	hdr_sum(h);
	arc_block(&a, h);
	arc_data(&a, "abc", 3);

	arc_gnu_long(&a, 'K', target);
	arc_gnu_long(&a, 'L', "sym/link/with/a/long/name");
	hdr_init(h, "sym/link/wi", '2', 0);
	hdr_gnu(h);
	memcpy(h + 157, target, 100);
	hdr_sum(h);
	arc_block(&a, h);

	arc_gnu_long(&a, 'L', "hard/link");
	arc_gnu_long(&a, 'K', name);
	hdr_init(h, "hard/li", '1', 0);
	hdr_gnu(h);
	memcpy(h + 157, name, 100);
	hdr_sum(h);
	arc_block(&a, h);
	uint64_t next_off = a.len;
	arc_entry(&a, "short", '0', NULL, NULL, 0);
	arc_end(&a);

	rd_open(&r, a.data, a.len);
	e = rd_next(&r);
	assert_string_equal(e->path, name);
	assert_int_equal(e->header_offset, 0);
	expect_data(&r, "abc", 3);
	e = rd_next(&r);
	assert_int_equal(e->type, BLZ_TAR_SYMLINK);
	assert_string_equal(e->path, "sym/link/with/a/long/name");
	assert_string_equal(e->linkname, target);
	assert_int_equal(e->header_offset, 2048);
	e = rd_next(&r);
	assert_int_equal(e->type, BLZ_TAR_HARDLINK);
	assert_string_equal(e->path, "hard/link");
	assert_string_equal(e->linkname, name);
	e = rd_next(&r);
	assert_string_equal(e->path, "short");
	assert_int_equal(e->header_offset, next_off);
	rd_end(&r);
	rd_close(&r);
	blz_buf_release(&a);
}

static void build_mixed(struct blz_buf *a, size_t bigsize)
{
	struct blz_buf p = { 0 };
	uint8_t *big = blz_xmalloc(bigsize);

	for (size_t i = 0; i < bigsize; i++)
		big[i] = (uint8_t)((i * 2654435761u) >> 13);
	arc_entry(a, "dir/", '5', NULL, NULL, 0);
	arc_entry(a, "dir/big", '0', NULL, big, bigsize);
	pax_str(&p, "path", "dir/pax-name");
	pax_str(&p, "mtime", "1.5");
	pax_str(&p, "SCHILY.xattr.user.x", "y");
	arc_pax(a, 'x', &p);
	arc_entry(a, "dir/pax", '0', NULL, "pax data", 8);
	arc_gnu_long(a, 'L', "dir/gnu-long-name");
	arc_entry(a, "dir/gnu", '0', NULL, "gnu", 3);
	arc_entry(a, "dir/link", '2', "big", NULL, 0);
	arc_entry(a, "dir/hard", '1', "dir/big", NULL, 0);
	arc_end(a);
	free(big);
}

static void check_mixed(int fd, size_t bigsize, size_t chunk)
{
	struct blz_tar *t;
	const struct blz_tar_entry *e;
	uint8_t *buf = blz_xmalloc(bigsize + 1);

	assert_int_equal(blz_tar_open(&t, fd), 0);
	assert_int_equal(blz_tar_next(t, &e), 1);
	assert_string_equal(e->path, "dir");
	assert_int_equal(blz_tar_next(t, &e), 1);
	assert_string_equal(e->path, "dir/big");
	assert_int_equal(e->size, bigsize);
	size_t got = 0;
	ssize_t n;
	while ((n = blz_tar_read(t, buf + got, chunk)) > 0)
		got += (size_t)n;
	assert_int_equal(n, 0);
	assert_int_equal(got, bigsize);
	for (size_t i = 0; i < bigsize; i++)
		if (buf[i] != (uint8_t)((i * 2654435761u) >> 13))
			fail_msg("data differs at %zu", i);
	assert_int_equal(blz_tar_next(t, &e), 1);
	assert_string_equal(e->path, "dir/pax-name");
	assert_int_equal(e->mtime.tv_nsec, 500000000);
	assert_int_equal(e->nxattrs, 1);
	assert_int_equal(blz_tar_read(t, buf, 100), 8);
	assert_memory_equal(buf, "pax data", 8);
	assert_int_equal(blz_tar_next(t, &e), 1);
	assert_string_equal(e->path, "dir/gnu-long-name");
	assert_int_equal(blz_tar_next(t, &e), 1);
	assert_string_equal(e->linkname, "big");
	assert_int_equal(blz_tar_next(t, &e), 1);
	assert_string_equal(e->linkname, "dir/big");
	assert_int_equal(blz_tar_next(t, &e), 0);
	blz_tar_close(t);
	free(buf);
}

/* Feeds p to a pipe from a child process in small, uneven writes. */
static int pipe_feed(const void *p, size_t n, pid_t *pid)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		const uint8_t *b = p;
		size_t off = 0, step = 1;
		close(fds[0]);
		while (off < n) {
			size_t k = n - off < step ? n - off : step;
			if (write(fds[1], b + off, k) != (ssize_t)k)
				_exit(1);
			off += k;
			step = step * 7 % 100003 + 1;
		}
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

static void pipe_wait(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_pipe(void **state)
{
	struct blz_buf a = { 0 };
	size_t bigsize = 1000003;
	pid_t pid;

	build_mixed(&a, bigsize);
	int fd = pipe_feed(a.data, a.len, &pid);
	check_mixed(fd, bigsize, 777);
	/* drain what follows the end, so the writer finishes */
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	pipe_wait(pid);

	fd = pipe_feed(a.data, a.len, &pid);
	check_mixed(fd, bigsize, 300000);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	pipe_wait(pid);

	/* skipping unread data on a pipe */
	fd = pipe_feed(a.data, a.len, &pid);
	int n;
	assert_int_equal(drain_fd(fd, NULL, 0, &n), 0);
	assert_int_equal(n, 6);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	pipe_wait(pid);
	blz_buf_release(&a);
}

/* check_mixed() on a compressed archive in memory (small and large reads) and on a pipe */
static void check_mixed_all(const void *p, size_t n, size_t bigsize)
{
	char buf[4096];
	pid_t pid;
	int fd = mem_fd(p, n);

	check_mixed(fd, bigsize, 4096);
	close(fd);
	fd = mem_fd(p, n);
	check_mixed(fd, bigsize, 1 << 20);
	close(fd);
	fd = pipe_feed(p, n, &pid);
	check_mixed(fd, bigsize, 65536);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	pipe_wait(pid);
}

static void test_zstd(void **state)
{
	struct blz_buf a = { 0 };
	size_t bigsize = 700001, l1, l2;

	build_mixed(&a, bigsize);
	/* two frames, split inside a header */
	size_t split = 512 * 3 + 100;
	uint8_t *z1 = zcompress(a.data, split, &l1, true);
	uint8_t *z2 = zcompress(a.data + split, a.len - split, &l2, false);
	struct blz_buf z = { 0 };
	blz_buf_append(&z, z1, l1);
	/* a skippable frame in between */
	static const uint8_t skip[] = { 0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3 };
	blz_buf_append(&z, skip, sizeof(skip));
	blz_buf_append(&z, z2, l2);

	check_mixed_all(z.data, z.len, bigsize);

	/* a single small frame */
	struct blz_buf s = { 0 };
	size_t sl;
	arc_entry(&s, "f", '0', NULL, "x", 1);
	arc_end(&s);
	uint8_t *zs = zcompress(s.data, s.len, &sl, true);
	int n;
	assert_int_equal(drain(zs, sl, NULL, 0, &n), 0);
	assert_int_equal(n, 1);

	/* truncated at the end: the tar trailer is lost */
	char msg[1024];
	assert_int_equal(drain(zs, sl - 8, msg, sizeof(msg), NULL), -EIO);
	assert_non_null(strstr(msg, "unexpected end of archive"));
	assert_non_null(strstr(msg, "zstd"));

	/* corrupt: a reserved bit in the frame header */
	zs[4] |= 0x08;
	assert_int_equal(drain(zs, sl, msg, sizeof(msg), NULL), -EBADMSG);
	assert_non_null(strstr(msg, "corrupt zstd stream"));
	zs[4] &= (uint8_t)~0x08;

	/* corrupt: damage the data, caught by the frame checksum at the latest */
	for (size_t i = 12; i < sl - 4; i++)
		zs[i] ^= 0x55;
	assert_int_equal(drain(zs, sl, msg, sizeof(msg), NULL), -EBADMSG);
	assert_non_null(strstr(msg, "corrupt zstd stream"));

	/* just the magic */
	expect_fail_n("\x28\xb5\x2f\xfd", 4, -EIO, "unexpected end of archive", "zstd");
	/* garbage after the magic */
	uint8_t junk[64];
	memset(junk, 0xff, sizeof(junk));
	memcpy(junk, "\x28\xb5\x2f\xfd", 4);
	expect_fail_n(junk, sizeof(junk), -EBADMSG, "corrupt zstd stream", NULL);

	free(zs);
	blz_buf_release(&s);
	free(z1);
	free(z2);
	blz_buf_release(&z);
	blz_buf_release(&a);
}

/* A gzip member holding p[0..n) in stored blocks (test_inflate covers real compression). */
static void gz_store(struct blz_buf *out, const void *p, size_t n)
{
	static const uint8_t hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	const uint8_t *d = p;
	uint8_t b[8];
	size_t off = 0;

	blz_buf_append(out, hdr, sizeof(hdr));
	do {
		size_t k = n - off < 65535 ? n - off : 65535;
		b[0] = off + k == n; /* BFINAL, BTYPE 0 */
		put_le16(b + 1, (uint16_t)k);
		put_le16(b + 3, (uint16_t)~k);
		blz_buf_append(out, b, 5);
		blz_buf_append(out, d + off, k);
		off += k;
	} while (off < n);
	put_le32(b, blz_crc32(p, n));
	put_le32(b + 4, (uint32_t)n);
	blz_buf_append(out, b, 8);
}

static void test_gzip(void **state)
{
	struct blz_buf a = { 0 }, z = { 0 };
	size_t bigsize = 700001;
	char msg[1024];

	build_mixed(&a, bigsize);
	/* two members, split inside a header */
	size_t split = 512 * 3 + 100;
	gz_store(&z, a.data, split);
	gz_store(&z, a.data + split, a.len - split);
	check_mixed_all(z.data, z.len, bigsize);

	/* a small archive: complete, truncated in the tar data, in the gzip trailer */
	struct blz_buf s = { 0 }, g = { 0 };
	int n;
	arc_entry(&s, "f", '0', NULL, "x", 1);
	arc_end(&s);
	gz_store(&g, s.data, s.len);
	assert_int_equal(drain(g.data, g.len, NULL, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(drain(g.data, g.len - 600, msg, sizeof(msg), NULL), -EIO);
	assert_non_null(strstr(msg, "unexpected end of archive"));
	assert_non_null(strstr(msg, "(gzip stream truncated)"));

	/* damaged: a stored length, then the CRC (found at the end of the member) */
	g.data[13] ^= 1;
	expect_fail_n(g.data, g.len, -EBADMSG, "corrupt gzip stream: stored block length",
		      "at compressed offset 1");
	g.data[13] ^= 1;
	struct blz_buf big = { 0 };
	gz_store(&big, a.data, a.len);
	big.data[20000] ^= 1; /* in dir/big's data */
	expect_fail_n(big.data, big.len, -EBADMSG, "corrupt gzip stream: CRC-32 mismatch", NULL);
	blz_buf_release(&big);

	/* just the magic; a bad method */
	expect_fail_n("\x1f\x8b", 2, -EIO, "unexpected end of archive", "gzip stream truncated");
	expect_fail_n("\x1f\x8b\x07\x00\x00\x00\x00\x00\x00\x03", 10, -EBADMSG,
		      "corrupt gzip stream: unknown compression method", NULL);

	blz_buf_release(&s);
	blz_buf_release(&g);
	blz_buf_release(&z);
	blz_buf_release(&a);
}

/* ---- observers and drain ---- */

struct seen {
	struct blz_buf raw, decoded;
};

static void see_raw(void *ctx, const void *p, size_t n)
{
	blz_buf_append(&((struct seen *)ctx)->raw, p, n);
}

static void see_decoded(void *ctx, const void *p, size_t n)
{
	blz_buf_append(&((struct seen *)ctx)->decoded, p, n);
}

/*
 * Reads every entry (each entry's data in reads of chunk bytes, or skipped when 0), then
 * drains; returns 0 or the first error, with its message in msg.
 */
static int observe_all(const void *p, size_t n, size_t chunk, struct seen *sn, char *msg,
		       size_t msglen)
{
	const struct blz_tar_observers obs = { see_raw, see_decoded, sn };
	const struct blz_tar_entry *e;
	struct blz_tar *t;
	uint8_t buf[70000];
	int fd = mem_fd(p, n), r;

	memset(sn, 0, sizeof(*sn));
	assert_int_equal(blz_tar_open_observed(&t, fd, &obs), 0);
	while ((r = blz_tar_next(t, &e)) > 0)
		while (chunk && blz_tar_read(t, buf, chunk) > 0)
			;
	if (r == 0)
		r = blz_tar_drain(t);
	snprintf(msg, msglen, "%s", blz_tar_error(t));
	blz_tar_close(t);
	close(fd);
	return r;
}

static void test_observers(void **state)
{
	struct blz_buf a = { 0 }, z = { 0 };
	struct seen sn;
	char msg[1024];

	build_mixed(&a, 300000);
	blz_buf_grow(&a, 10240 - a.len % 10240); /* record padding after the end marker */
	for (size_t chunk = 0; chunk < 10000; chunk = chunk * 10 + 7) {
		/* plain: both observers see the file */
		assert_int_equal(observe_all(a.data, a.len, chunk, &sn, msg, sizeof(msg)), 0);
		assert_int_equal(sn.raw.len, a.len);
		assert_memory_equal(sn.raw.data, a.data, a.len);
		assert_int_equal(sn.decoded.len, a.len);
		assert_memory_equal(sn.decoded.data, a.data, a.len);
		blz_buf_release(&sn.raw);
		blz_buf_release(&sn.decoded);

		/* gzip and zstd: raw sees the compressed file, decoded the whole tar */
		z.len = 0;
		gz_store(&z, a.data, a.len);
		for (int zstd = 0; zstd < 2; zstd++) {
			uint8_t *zz = NULL;
			size_t zl = z.len;
			if (zstd)
				zz = zcompress(a.data, a.len, &zl, true);
			const uint8_t *c = zstd ? zz : z.data;
			assert_int_equal(observe_all(c, zl, chunk, &sn, msg, sizeof(msg)), 0);
			assert_int_equal(sn.raw.len, zl);
			assert_memory_equal(sn.raw.data, c, zl);
			assert_int_equal(sn.decoded.len, a.len);
			assert_memory_equal(sn.decoded.data, a.data, a.len);
			blz_buf_release(&sn.raw);
			blz_buf_release(&sn.decoded);
			free(zz);
		}
	}

	/* drain verifies what follows the end marker: a CRC, a truncated member, garbage */
	z.len = 0;
	gz_store(&z, a.data, a.len);
	z.data[z.len - 8] ^= 1;
	assert_int_equal(observe_all(z.data, z.len, 0, &sn, msg, sizeof(msg)), -EBADMSG);
	assert_non_null(strstr(msg, "CRC-32 mismatch"));
	blz_buf_release(&sn.raw);
	blz_buf_release(&sn.decoded);
	z.data[z.len - 8] ^= 1;
	assert_int_equal(observe_all(z.data, z.len - 1, 0, &sn, msg, sizeof(msg)), -EIO);
	assert_non_null(strstr(msg, "after the end of the archive"));
	assert_non_null(strstr(msg, "(gzip stream truncated)"));
	blz_buf_release(&sn.raw);
	blz_buf_release(&sn.decoded);
	blz_buf_append(&z, "junk", 4);
	assert_int_equal(observe_all(z.data, z.len, 0, &sn, msg, sizeof(msg)), -EBADMSG);
	assert_non_null(strstr(msg, "not another gzip member"));
	blz_buf_release(&sn.raw);
	blz_buf_release(&sn.decoded);

	/* without observers, drain leaves a plain stream alone but checks a compressed one */
	struct blz_tar *t;
	const struct blz_tar_entry *e;
	z.len -= 4;
	z.data[z.len - 8] ^= 1;
	int fd = mem_fd(z.data, z.len);
	assert_int_equal(blz_tar_open(&t, fd), 0);
	while (blz_tar_next(t, &e) > 0)
		;
	assert_int_equal(blz_tar_drain(t), -EBADMSG);
	blz_tar_close(t);
	close(fd);
	blz_buf_grow(&a, 1 << 20);
	fd = mem_fd(a.data, a.len);
	assert_int_equal(blz_tar_open(&t, fd), 0);
	while (blz_tar_next(t, &e) > 0)
		;
	assert_int_equal(blz_tar_drain(t), 0);
	assert_true(lseek(fd, 0, SEEK_CUR) < (off_t)a.len); /* the 1 MiB after it was not read */
	blz_tar_close(t);
	close(fd);

	blz_buf_release(&z);
	blz_buf_release(&a);
}

static void test_end_variants(void **state)
{
	struct blz_buf a = { 0 };
	int n;

	/* empty input */
	assert_int_equal(drain("", 0, NULL, 0, &n), 0);
	assert_int_equal(n, 0);

	/* EOF right after an entry */
	arc_entry(&a, "f", '0', NULL, "x", 1);
	assert_int_equal(drain(a.data, a.len, NULL, 0, &n), 0);
	assert_int_equal(n, 1);

	/* one zero block, then EOF; or a partial second one */
	blz_buf_grow(&a, 512);
	assert_int_equal(drain(a.data, a.len, NULL, 0, &n), 0);
	assert_int_equal(n, 1);
	blz_buf_grow(&a, 100);
	assert_int_equal(drain(a.data, a.len, NULL, 0, &n), 0);
	assert_int_equal(n, 1);

	/* two zero blocks, then anything */
	blz_buf_grow(&a, 412);
	blz_buf_append(&a, "trailing garbage", 16);
	assert_int_equal(drain(a.data, a.len, NULL, 0, &n), 0);
	assert_int_equal(n, 1);

	/* a blocked archive padded to 10240 bytes */
	a.len = 0;
	arc_entry(&a, "f", '0', NULL, "x", 1);
	blz_buf_grow(&a, 10240 - a.len);
	assert_int_equal(drain(a.data, a.len, NULL, 0, &n), 0);
	assert_int_equal(n, 1);

	/* a lone zero block followed by a header */
	a.len = 0;
	arc_entry(&a, "f", '0', NULL, "x", 1);
	blz_buf_grow(&a, 512);
	arc_entry(&a, "g", '0', NULL, "x", 1);
	expect_fail(&a, -EBADMSG, "lone zero block at offset 1024", NULL);

	/* a header cut short by less than a block is truncation */
	arc_entry(&a, "f", '0', NULL, NULL, 0);
	blz_buf_grow(&a, 100);
	blz_buf_append(&a, "x", 1);
	expect_fail(&a, -EIO, "unexpected end of archive", NULL);
}

static void test_read_error(void **state)
{
	struct blz_tar *t;
	const struct blz_tar_entry *e;
	int fd = open("/", O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	assert_int_equal(blz_tar_open(&t, fd), 0);
	assert_int_equal(blz_tar_next(t, &e), -EISDIR);
	assert_non_null(strstr(blz_tar_error(t), "read error"));
	blz_tar_close(t);
	close(fd);
	assert_int_equal(blz_tar_open(&t, -1), -EBADF);
	assert_null(t);
}

/* ---- malformed archives ---- */

static void test_bad_checksum(void **state)
{
	struct blz_buf a = { 0 };
	uint8_t h[512];

	for (int i = 0; i < 20; i++)
		arc_entry(&a, "ok", '0', NULL, NULL, 0);
	hdr_init(h, "bad", '0', 0);
	hdr_sum(h);
	h[0] = 'B';
	arc_block(&a, h);
	arc_end(&a);
	expect_fail(&a, -EBADMSG, "bad header checksum at offset 10240", NULL);

	/* a non-octal checksum */
	hdr_init(h, "bad", '0', 0);
	hdr_sum(h);
	h[149] = '9';
	arc_block(&a, h);
	expect_fail(&a, -EBADMSG, "bad header checksum at offset 0", NULL);
}

static void test_truncated(void **state)
{
	struct blz_buf a = { 0 };
	uint8_t h[512];

	/* inside a header */
	arc_entry(&a, "f", '0', NULL, NULL, 0);
	a.len = 300;
	expect_fail(&a, -EIO, "unexpected end of archive in header at offset 0", NULL);

	/* inside file data */
	char data[1000] = { 0 };
	hdr_init(h, "some/file", '0', sizeof(data));
	hdr_sum(h);
	arc_block(&a, h);
	blz_buf_append(&a, data, 600);
	expect_fail(&a, -EIO, "unexpected end of archive in 'some/file'", NULL);

	/* inside the padding after the data, noticed by next() */
	hdr_init(h, "padded", '0', 100);
	hdr_sum(h);
	arc_block(&a, h);
	blz_buf_append(&a, data, 150);
	expect_fail(&a, -EIO, "unexpected end of archive in 'padded'", NULL);

	/* inside a pax header's records, and after one */
	struct blz_buf p = { 0 };
	pax_str(&p, "path", "abc");
	arc_pax(&a, 'x', &p);
	a.len -= 500;
	expect_fail(&a, -EIO, "unexpected end of archive in pax header at offset 0", NULL);
	pax_str(&p, "path", "abc");
	arc_pax(&a, 'x', &p);
	expect_fail(&a, -EIO, "unexpected end of archive after extended header at offset 0", NULL);
	arc_gnu_long(&a, 'L', "abc");
	arc_end(&a);
	expect_fail(&a, -EBADMSG, "extended header at offset 0 is not followed by an entry", NULL);
}

static void test_bad_numbers(void **state)
{
	struct blz_buf a = { 0 }, p = { 0 };
	uint8_t h[512];

	/* negative base-256 size */
	hdr_init(h, "neg", '0', 0);
	memset(h + 124, 0xff, 12);
	hdr_sum(h);
	arc_block(&a, h);
	arc_end(&a);
	expect_fail(&a, -EBADMSG, "negative size", "offset 0 (entry 'neg')");

	/* sizes too large */
	hdr_init(h, "huge", '0', 0);
	put_b256(h + 124, 12, UINT64_C(1) << 63);
	hdr_sum(h);
	arc_block(&a, h);
	arc_end(&a);
	expect_fail(&a, -EBADMSG, "size out of range", "(entry 'huge')");
	hdr_init(h, "huge", '0', 0);
	memset(h + 124, 0, 12);
	h[124] = 0x80;
	h[125] = 1; /* 2^80 */
	hdr_sum(h);
	arc_block(&a, h);
	arc_end(&a);
	expect_fail(&a, -EBADMSG, "size out of range", NULL);
	pax_str(&p, "size", "4611686018427387905"); /* 2^62 + 1 */
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "f", '0', NULL, NULL, 0);
	arc_end(&a);
	expect_fail(&a, -EBADMSG, "invalid pax size", NULL);
	pax_str(&p, "size", "99999999999999999999999999");
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "f", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "invalid pax size", NULL);

	/* junk in an octal field */
	hdr_init(h, "f", '0', 0);
	memcpy(h + 100, "00064 4", 8);
	hdr_sum(h);
	arc_block(&a, h);
	expect_fail(&a, -EBADMSG, "invalid mode field in header at offset 0", NULL);
	hdr_init(h, "f", '0', 0);
	memcpy(h + 124, "0000000008", 11);
	hdr_sum(h);
	arc_block(&a, h);
	expect_fail(&a, -EBADMSG, "invalid size field", NULL);

	/* a uid too big for 32 bits */
	hdr_init(h, "f", '0', 0);
	put_b256(h + 108, 8, UINT64_C(1) << 32);
	hdr_sum(h);
	arc_block(&a, h);
	expect_fail(&a, -EBADMSG, "uid out of range", NULL);
	pax_str(&p, "gid", "4294967296");
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "f", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "invalid pax gid", NULL);

	/* bad times */
	static const char *const bad_times[] = { "12.3.4", "1.", ".5", "--1", "1e9", "+5", " 5",
						 "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
		pax_str(&p, "mtime", bad_times[i]);
		arc_pax(&a, 'x', &p);
		arc_entry(&a, "f", '0', NULL, NULL, 0);
		expect_fail(&a, -EBADMSG, "invalid pax mtime", NULL);
	}
}

static void test_bad_paths(void **state)
{
	struct blz_buf a = { 0 }, p = { 0 };
	char *c256 = repeat('c', 256), *c255 = repeat('c', 255);

	arc_entry(&a, "a/../../etc/passwd", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "'..'", "'a/../../etc/passwd'");
	arc_entry(&a, "..", '5', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "'..'", NULL);
	arc_entry(&a, "/etc/passwd", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "absolute", "'/etc/passwd'");
	arc_entry(&a, "x", '1', "../x", NULL, 0);
	expect_fail(&a, -EBADMSG, "hard link target of 'x'", "'../x'");
	arc_entry(&a, "x", '1', "/etc/shadow", NULL, 0);
	expect_fail(&a, -EBADMSG, "absolute hard link target", "'/etc/shadow'");
	arc_entry(&a, "x", '1', "./", NULL, 0);
	expect_fail(&a, -EBADMSG, "archive root", NULL);
	arc_entry(&a, "x", '2', "", NULL, 0);
	expect_fail(&a, -EBADMSG, "empty target", NULL);
	arc_entry(&a, "", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "empty path", NULL);
	arc_entry(&a, "./.", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "entry './.' has an empty path", NULL);

	pax_str(&p, "path", "ok/../../x");
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "x", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "'..'", "ok/../../x");
	pax_rec(&p, "path", "a\0b", 3);
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "x", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "pax path with a NUL byte", NULL);
	pax_rec(&p, "linkpath", "a\0b", 3);
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "x", '2', "t", NULL, 0);
	expect_fail(&a, -EBADMSG, "pax linkpath with a NUL byte", NULL);
	arc_gnu_long(&a, 'L', "/abs/long");
	arc_entry(&a, "x", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "absolute", "'/abs/long'");

	/* component length */
	char name[300];
	snprintf(name, sizeof(name), "d/%s", c256);
	pax_str(&p, "path", name);
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "x", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "component longer than 255 bytes", NULL);
	snprintf(name, sizeof(name), "d/%s/", c255);
	pax_str(&p, "path", name);
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "x", '5', NULL, NULL, 0);
	arc_end(&a);
	int n;
	assert_int_equal(drain(a.data, a.len, NULL, 0, &n), 0);
	assert_int_equal(n, 1);
	blz_buf_release(&a);
	free(c256);
	free(c255);
}

static void test_bad_pax(void **state)
{
	struct blz_buf a = { 0 }, p = { 0 };

	/* LEN covers the record but it lacks its newline */
	blz_buf_append(&p, "20 path=foo/bar/bazz", 20);
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "x", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "malformed pax header at offset 0", "newline");

	/* LEN beyond the header's size */
	blz_buf_append(&p, "99 path=foo\n", 12);
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "x", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "length that exceeds the header size", NULL);

	/* LEN shorter than the record */
	blz_buf_append(&p, "10 path=foo\n", 12);
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "x", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "malformed pax header", NULL);

	static const char *const junk[] = { "path=foo\n", "12path=foo\n", " 12 path=foo\n",
					    "5 =x\n", "7 path\n", "3 \n", "0 \n",
					    "10 p\0th=x\n", "x12 path=foo\n",
					    "999999999999999999999999 path=x\n", "12 path=foo\nX" };
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		const char *s = junk[i];
		size_t l = strlen(s);
		if (i == 7)
			l = 10;
		blz_buf_append(&p, s, l);
		arc_pax(&a, i % 2 ? 'g' : 'x', &p);
		arc_entry(&a, "x", '0', NULL, NULL, 0);
		expect_fail(&a, -EBADMSG, "pax", NULL);
	}

	/* payloads bigger than 1 MiB */
	uint8_t h[512];
	hdr_init(h, "pax", 'x', 2 << 20);
	hdr_sum(h);
	arc_block(&a, h);
	expect_fail(&a, -EBADMSG, "pax header at offset 0 too large", NULL);
	hdr_init(h, "././@LongLink", 'L', (1 << 20) + 1);
	hdr_sum(h);
	arc_block(&a, h);
	expect_fail(&a, -EBADMSG, "GNU long name at offset 0 too large", NULL);

	/* attributes are bounded across headers too */
	char *big = repeat('v', 900000);
	pax_str(&p, "SCHILY.xattr.user.a", big);
	arc_pax(&a, 'g', &p);
	pax_str(&p, "SCHILY.xattr.user.b", big);
	arc_pax(&a, 'g', &p);
	arc_entry(&a, "x", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "too many extended attributes", NULL);
	free(big);

	pax_str(&p, "SCHILY.xattr.", "x");
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "x", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "xattr record without a name", NULL);
}

static void test_bad_types(void **state)
{
	struct blz_buf a = { 0 }, p = { 0 };

	arc_entry(&a, "weird", 'Q', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "entry 'weird' has unsupported type 'Q'", "offset 0");
	arc_entry(&a, "ok", '0', NULL, NULL, 0);
	arc_entry(&a, "bin", '\x01', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "unsupported type 0x01", "offset 512");
	arc_entry(&a, "sparse", 'S', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "sparse archive members are not supported", "'sparse'");
	pax_str(&p, "GNU.sparse.major", "1");
	pax_str(&p, "GNU.sparse.minor", "0");
	pax_str(&p, "GNU.sparse.name", "real");
	arc_pax(&a, 'x', &p);
	arc_entry(&a, "GNUSparseFile.0/real", '0', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "sparse archive members are not supported", NULL);
	pax_str(&p, "GNU.sparse.size", "1");
	arc_pax(&a, 'g', &p);
	expect_fail(&a, -EBADMSG, "sparse archive members are not supported", NULL);
	arc_entry(&a, "label", 'V', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "volume label", NULL);
	arc_entry(&a, "cont", 'M', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "multi-volume", NULL);
	arc_entry(&a, "names", 'N', NULL, NULL, 0);
	expect_fail(&a, -EBADMSG, "unsupported type 'N'", NULL);
}

/* ---- robustness ---- */

static void fuzz_one(const uint8_t *p, size_t n)
{
	int fd = memfd_create("tar-fuzz", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	drain_fd(fd, NULL, 0, NULL);
	close(fd);
}

static void build_fuzz_base(struct blz_buf *a)
{
	struct blz_buf p = { 0 };
	uint8_t h[512];

	pax_str(&p, "uid", "7");
	arc_pax(a, 'g', &p);
	arc_entry(a, "dir/", '5', NULL, NULL, 0);
	arc_entry(a, "dir/file", '0', NULL, "0123456789abcdef0123456789abcdef", 32);
	pax_str(&p, "path", "dir/pax");
	pax_str(&p, "size", "3");
	pax_str(&p, "mtime", "-12.75");
	pax_str(&p, "SCHILY.xattr.user.k", "v");
	arc_pax(a, 'x', &p);
	arc_entry(a, "dir/p", '0', NULL, "abc", 3);
	arc_gnu_long(a, 'L', "dir/long");
	arc_gnu_long(a, 'K', "dir/file");
	arc_entry(a, "dir/l", '1', "x", NULL, 0);
	hdr_init(h, "dir/b256", '0', 0);
	put_b256(h + 124, 12, 2);
	hdr_sum(h);
	arc_block(a, h);
	arc_data(a, "hi", 2);
	arc_entry(a, "dir/sym", '2', "file", NULL, 0);
	arc_end(a);
}

static void test_fuzz(void **state)
{
	struct blz_buf a = { 0 };
	uint8_t *m;
	int n;

	build_fuzz_base(&a);
	assert_int_equal(drain(a.data, a.len, NULL, 0, &n), 0);
	assert_int_equal(n, 6);
	m = blz_xmalloc(a.len);

	/* every byte, flipped */
	for (size_t i = 0; i < a.len; i++) {
		memcpy(m, a.data, a.len);
		m[i] ^= 0xff;
		fuzz_one(m, a.len);
	}
	/* every truncation point */
	for (size_t i = 0; i < a.len; i += 7)
		fuzz_one(a.data, i);
	/* random damage with a fixed seed */
	srand(12345);
	for (int it = 0; it < 3000; it++) {
		memcpy(m, a.data, a.len);
		int k = 1 + rand() % 8;
		for (int j = 0; j < k; j++) {
			size_t pos = (size_t)rand() % a.len;
			switch (rand() % 4) {
			case 0: m[pos] = (uint8_t)rand(); break;
			case 1: m[pos] = 0; break;
			case 2: m[pos] = (uint8_t)('0' + rand() % 10); break;
			default: m[pos] = 0xff; break;
			}
		}
		fuzz_one(m, rand() % 4 ? a.len : (size_t)rand() % a.len);
	}

	/* damage to a compressed archive */
	size_t zl;
	uint8_t *z = zcompress(a.data, a.len, &zl, false);
	uint8_t *zm = blz_xmalloc(zl);
	for (int it = 0; it < 2000; it++) {
		memcpy(zm, z, zl);
		size_t pos = 4 + (size_t)rand() % (zl - 4);
		zm[pos] = (uint8_t)rand();
		fuzz_one(zm, it % 5 ? zl : (size_t)rand() % zl);
	}
	free(zm);
	free(z);
	free(m);
	blz_buf_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_data_presence),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_checksum_signed),
		cmocka_unit_test(test_base256),
		cmocka_unit_test(test_pax),
		cmocka_unit_test(test_pax_global),
		cmocka_unit_test(test_gnu_long),
		cmocka_unit_test(test_pipe),
		cmocka_unit_test(test_zstd),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_observers),
		cmocka_unit_test(test_end_variants),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_bad_checksum),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_bad_pax),
		cmocka_unit_test(test_bad_types),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
