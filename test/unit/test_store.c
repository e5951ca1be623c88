/* Unit tests for lib/store (chunk store, chunk cache) and the SHA-256 in lib/util. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
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

#include "store/cache.h"
#include "store/store.h"
#include "util/le.h"
#include "util/sha256.h"
#include "util/strbuf.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x2545f4914f6cdd1dull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

static void fill_text(uint8_t *p, size_t n, uint64_t seed)
{
	static const char words[] = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[(i + seed) % (sizeof(words) - 1)];
	if (n)
		p[n / 2] ^= (uint8_t)seed;	/* different seeds give different chunks */
}

static void from_hex(const char *hex, uint8_t *out)
{
	assert_int_equal(blz_unhex(hex, out, strlen(hex) / 2), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

struct fixture {
	char dir[64];
	struct blz_store *store;
};

static int setup(void **state)
{
	struct fixture *f = blz_xcalloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/blz-test-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	strcat(f->dir, "/s");
	if (blz_store_open(f->dir, BLZ_STORE_CREATE, &f->store) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	blz_store_close(f->store);
	f->dir[strlen(f->dir) - 2] = '\0';
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void chunk_file(struct fixture *f, const uint8_t *digest, char *path)
{
	assert_int_equal(blz_store_path(f->store, digest, path, PATH_MAX), 0);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void flip_byte(const char *path, off_t off)
{
	uint8_t b;
	chmod(path, 0644);	/* chunk files are 0444 */
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(in >= 0 && out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

/* Number of entries (other than . and ..) in dir/sub, and how many start with ".tmp". */
static int count_entries(const char *dir, const char *sub, int *ntmp)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	if (ntmp)
		*ntmp = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (ntmp && !strncmp(de->d_name, ".tmp", 4))
			(*ntmp)++;
	}
	closedir(d);
	return n;
}

/* ---- SHA-256 ---- */

/* Hashes with a chosen block function, padding as in FIPS 180-4 5.1.1, so that the
 * portable and the hardware code are both checked against the vectors. */
typedef void blockfn(uint32_t h[8], const uint8_t *p, size_t nblocks);

static void sha_with(blockfn *fn, const uint8_t *data, size_t len, uint8_t out[32])
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	size_t full = len / 64;
	uint8_t tail[128] = { 0 };
	size_t rest = len - full * 64;

	fn(h, data, full);
	if (rest)
		memcpy(tail, data + full * 64, rest);
	tail[rest] = 0x80;
	size_t tl = rest + 1 + 8 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
	fn(h, tail, tl / 64);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

static void test_sha256_vectors(void **state)
{
	static const struct {
		const char *msg;
		size_t repeat;
		const char *hex;
	} v[] = {
		{ "", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
		  "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 1,
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
		{ "a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t ml = strlen(v[i].msg), len = ml * v[i].repeat;
		uint8_t *msg = blz_xmalloc(len);
		for (size_t k = 0; k < v[i].repeat; k++)
			memcpy(msg + k * ml, v[i].msg, ml);
		uint8_t want[32], got[32];
		from_hex(v[i].hex, want);

		blz_sha256(msg, len, got);
		assert_memory_equal(got, want, 32);
		sha_with(blz_sha256_blocks_sw, msg, len, got);
		assert_memory_equal(got, want, 32);
		if (blz_sha256_have_hw()) {
			sha_with(blz_sha256_blocks_hw, msg, len, got);
			assert_memory_equal(got, want, 32);
		}
		if (blz_sha256_have_bmi2()) {
			sha_with(blz_sha256_blocks_bmi2, msg, len, got);
			assert_memory_equal(got, want, 32);
		}
		/* the million: also in pieces of 'a' */
		if (v[i].repeat > 1) {
			struct blz_sha256 ctx;
			blz_sha256_init(&ctx);
			for (size_t k = 0; k < v[i].repeat; k++)
				blz_sha256_update(&ctx, v[i].msg, ml);
			blz_sha256_final(&ctx, got);
			assert_memory_equal(got, want, 32);
		}
		free(msg);
	}
}

/* f against the portable code: any number of blocks, every length around block boundaries */
static void blocks_match_sw(blockfn *f)
{
	uint8_t *buf = blz_xmalloc(64 * 300);
	fill_random(buf, 64 * 300, 7);
	for (size_t nb = 0; nb <= 300; nb += 1 + nb / 3) {
		uint32_t a[8], b[8];
		for (int i = 0; i < 8; i++)
			a[i] = b[i] = (uint32_t)rnd();
		blz_sha256_blocks_sw(a, buf, nb);
		f(b, buf, nb);
		assert_memory_equal(a, b, sizeof(a));
	}
	for (size_t len = 0; len < 200; len++) {
		uint8_t x[32], y[32];
		sha_with(blz_sha256_blocks_sw, buf, len, x);
		sha_with(f, buf, len, y);
		assert_memory_equal(x, y, 32);
	}
	free(buf);
}

static void test_sha256_hw_matches_sw(void **state)
{
	if (!blz_sha256_have_hw())
		print_message("no SHA extensions on this CPU: not tested here\n");
	else
		blocks_match_sw(blz_sha256_blocks_hw);
	if (!blz_sha256_have_bmi2())
		print_message("no BMI2 on this CPU: not tested here\n");
	else
		blocks_match_sw(blz_sha256_blocks_bmi2);
}

static void test_sha256_incremental(void **state)
{
	size_t n = 100000;
	uint8_t *buf = blz_xmalloc(n);
	fill_random(buf, n, 11);
	for (int trial = 0; trial < 200; trial++) {
		size_t len = trial < 130 ? (size_t)trial : rnd() % n;
		uint8_t one[32], inc[32];
		blz_sha256(buf, len, one);

		struct blz_sha256 ctx;
		blz_sha256_init(&ctx);
		size_t off = 0;
		while (off < len) {
			size_t piece = rnd() % (trial & 1 ? 200 : 5000);
			if (piece > len - off)
				piece = len - off;
			blz_sha256_update(&ctx, buf + off, piece);	/* piece may be 0 */
			off += piece;
		}
		blz_sha256_final(&ctx, inc);
		assert_memory_equal(one, inc, 32);
	}
	free(buf);
}

static void test_hex(void **state)
{
	uint8_t in[256], back[256];
	char hex[513];
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	blz_hex(in, 256, hex);
	assert_int_equal(strlen(hex), 512);
	assert_memory_equal(hex, "000102", 6);
	assert_string_equal(hex + 506, "fdfeff");
	assert_int_equal(blz_unhex(hex, back, 256), 0);
	assert_memory_equal(in, back, 256);

	assert_int_equal(blz_unhex("DeadBEEF", back, 4), 0);
	assert_memory_equal(back, "\xde\xad\xbe\xef", 4);
	assert_int_equal(blz_unhex("0g", back, 1), -EINVAL);
	assert_int_equal(blz_unhex("g0", back, 1), -EINVAL);
	assert_int_equal(blz_unhex("0", back, 1), -EINVAL);	/* stops at the NUL */
	assert_int_equal(blz_unhex(" 1", back, 1), -EINVAL);
	assert_int_equal(blz_unhex("", back, 0), 0);
	blz_hex(in, 0, hex);
	assert_string_equal(hex, "");
}

/* ---- chunk header codec ---- */

static void test_chunk_header(void **state)
{
	struct blz_chunk_header h = {
		.version = 1, .codec = BLZ_CHUNK_CODEC_ZSTD, .length = 4096, .stored_length = 100,
	}, d;
	uint8_t raw[BLZ_CHUNK_HEADER_LEN];
	for (int i = 0; i < 32; i++)
		h.digest[i] = (uint8_t)(i * 7);
	blz_chunk_encode_header(&h, raw);
	assert_memory_equal(raw, "BLZCHUNK", 8);
	assert_int_equal(get_le16(raw + 8), 1);
	assert_int_equal(get_le16(raw + 10), 1);
	assert_int_equal(get_le32(raw + 12), 4096);
	assert_int_equal(get_le32(raw + 16), 100);
	assert_memory_equal(raw + 20, h.digest, 32);
	assert_int_equal(blz_chunk_decode_header(raw, &d), 0);
	assert_memory_equal(&h, &d, sizeof(h));

	/* every single-bit flip is caught */
	for (int i = 0; i < BLZ_CHUNK_HEADER_LEN; i++)
		for (int bit = 0; bit < 8; bit++) {
			raw[i] ^= (uint8_t)(1 << bit);
			assert_int_equal(blz_chunk_decode_header(raw, &d), -EBADMSG);
			raw[i] ^= (uint8_t)(1 << bit);
		}

	/* well-formed (crc right) but invalid values */
	struct blz_chunk_header bad;
	bad = h, bad.version = 2;
	blz_chunk_encode_header(&bad, raw);
	assert_int_equal(blz_chunk_decode_header(raw, &d), -EBADMSG);
	bad = h, bad.codec = 2;
	blz_chunk_encode_header(&bad, raw);
	assert_int_equal(blz_chunk_decode_header(raw, &d), -EBADMSG);
	bad = h, bad.codec = BLZ_CHUNK_CODEC_RAW;
	blz_chunk_encode_header(&bad, raw);
	assert_int_equal(blz_chunk_decode_header(raw, &d), -EBADMSG);	/* stored != length */
	bad.stored_length = bad.length;
	blz_chunk_encode_header(&bad, raw);
	assert_int_equal(blz_chunk_decode_header(raw, &d), 0);
	bad = h, bad.length = BLZ_STORE_MAX_CHUNK + 1;
	blz_chunk_encode_header(&bad, raw);
	assert_int_equal(blz_chunk_decode_header(raw, &d), -EBADMSG);
	bad = h, bad.stored_length = 1u << 30;
	blz_chunk_encode_header(&bad, raw);
	assert_int_equal(blz_chunk_decode_header(raw, &d), -EBADMSG);
}

/* ---- store ---- */

static void test_open(void **state)
{
	struct blz_store *s = (void *)0x1;
	char dir[] = "/tmp/blz-test-open-XXXXXX", path[PATH_MAX];
	assert_non_null(mkdtemp(dir));

	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(blz_store_open(path, 0, &s), -ENOENT);
	assert_ptr_equal(s, (void *)0x1);	/* untouched on failure */
	assert_int_equal(blz_store_open(path, BLZ_STORE_RDONLY, &s), -ENOENT);

	snprintf(path, sizeof(path), "%s/file", dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(blz_store_open(path, 0, &s), -ENOTDIR);
	assert_int_equal(blz_store_open(path, BLZ_STORE_CREATE, &s), -ENOTDIR);

	snprintf(path, sizeof(path), "%s/a/b", dir);	/* no parent: not created */
	assert_int_equal(blz_store_open(path, BLZ_STORE_CREATE, &s), -ENOENT);

	snprintf(path, sizeof(path), "%s/new/", dir);
	assert_int_equal(blz_store_open(path, BLZ_STORE_CREATE, &s), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	uint8_t digest[32];
	char cpath[PATH_MAX], want[PATH_MAX];
	assert_int_equal(blz_store_put(s, "x", 1, digest), 0);
	assert_int_equal(blz_store_path(s, digest, cpath, sizeof(cpath)), 0);
	char hex[65];
	blz_hex(digest, 32, hex);
	snprintf(want, sizeof(want), "%s/new/%.2s/%s", dir, hex, hex);	/* no "//" */
	assert_string_equal(cpath, want);
	assert_int_equal(blz_store_path(s, digest, cpath, strlen(want)), -ENAMETOOLONG);
	assert_int_equal(blz_store_path(s, digest, cpath, strlen(want) + 1), 0);
	blz_store_close(s);

	/* NOSYNC (a cache's store): put lands under its name, no temporary file left; an
	 * unknown flag is refused */
	assert_int_equal(blz_store_open(path, 1u << 4, &s), -EINVAL);
	assert_int_equal(blz_store_open(path, BLZ_STORE_NOSYNC, &s), 0);
	uint8_t d2[32];
	assert_int_equal(blz_store_put(s, "yz", 2, d2), 0);
	char b2[2];
	assert_int_equal(blz_store_get(s, d2, b2, 2), 0);
	assert_memory_equal(b2, "yz", 2);
	uint64_t nchunks = 0, nbytes = 0;
	assert_int_equal(blz_store_usage(s, &nchunks, &nbytes), 0);
	assert_int_equal(nchunks, 2);
	blz_store_close(s);

	/* existing store, read-only: get works, put is refused */
	assert_int_equal(blz_store_open(path, BLZ_STORE_RDONLY, &s), 0);
	char b;
	assert_int_equal(blz_store_get(s, digest, &b, 1), 0);
	assert_int_equal(b, 'x');
	assert_int_equal(blz_store_put(s, "y", 1, NULL), -EROFS);
	blz_store_close(s);
	blz_store_close(NULL);

	/* permissions: only meaningful for an unprivileged user (root bypasses them) */
	if (geteuid() != 0) {
		chmod(path, 0500);
		assert_int_equal(blz_store_open(path, 0, &s), -EACCES);
		assert_int_equal(blz_store_open(path, BLZ_STORE_RDONLY, &s), 0);
		blz_store_close(s);
		chmod(path, 0300);
		assert_int_equal(blz_store_open(path, BLZ_STORE_RDONLY, &s), -EACCES);
		chmod(path, 0000);
		assert_int_equal(blz_store_open(path, BLZ_STORE_RDONLY, &s), -EACCES);
		chmod(path, 0700);
	} else {
		print_message("running as root: -EACCES at open not tested\n");
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void roundtrip(struct fixture *f, size_t len, int compressible, uint64_t seed)
{
	uint8_t *data = blz_xmalloc(len + 1), *back = blz_xmalloc(len + 1);
	uint8_t digest[32], want[32];
	char path[PATH_MAX];

	if (compressible)
		fill_text(data, len, seed);
	else
		fill_random(data, len, seed);
	blz_sha256(data, len, want);
	assert_int_equal(blz_store_has(f->store, want), 0);
	assert_int_equal(blz_store_put(f->store, data, len, digest), 0);
	assert_memory_equal(digest, want, 32);
	assert_int_equal(blz_store_has(f->store, digest), 1);

	/* the file: header fields and size */
	chunk_file(f, digest, path);
	uint8_t raw[BLZ_CHUNK_HEADER_LEN];
	struct blz_chunk_header h;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, raw, sizeof(raw)), sizeof(raw));
	close(fd);
	assert_int_equal(blz_chunk_decode_header(raw, &h), 0);
	assert_int_equal(h.length, len);
	assert_memory_equal(h.digest, digest, 32);
	assert_int_equal(file_size(path), BLZ_CHUNK_HEADER_LEN + h.stored_length);
	if (compressible && len >= 4096) {
		assert_int_equal(h.codec, BLZ_CHUNK_CODEC_ZSTD);
		assert_true(h.stored_length < len / 4);
	}
	if (!compressible || len < 8) {
		assert_int_equal(h.codec, BLZ_CHUNK_CODEC_RAW);
		assert_int_equal(h.stored_length, len);
	}

	memset(back, 0xaa, len + 1);
	assert_int_equal(blz_store_get(f->store, digest, back, len), 0);
	assert_memory_equal(back, data, len);
	assert_int_equal(back[len], 0xaa);	/* nothing written beyond len */

	/* the same through the in-memory decoder */
	size_t flen = (size_t)file_size(path);
	uint8_t *file = blz_xmalloc(flen);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, file, flen), (ssize_t)flen);
	close(fd);
	memset(back, 0, len + 1);
	assert_int_equal(blz_chunk_decode(file, flen, digest, back, len), 0);
	assert_memory_equal(back, data, len);
	if (flen > BLZ_CHUNK_HEADER_LEN) {
		assert_int_equal(blz_chunk_decode(file, flen - 1, digest, back, len), -EBADMSG);
		file[flen - 1] ^= 0x80;
		assert_int_equal(blz_chunk_decode(file, flen, digest, back, len), -EBADMSG);
	}
	assert_int_equal(blz_chunk_decode(file, BLZ_CHUNK_HEADER_LEN - 1, digest, back, len),
			 -EBADMSG);
	free(file);
	free(data);
	free(back);
}

static void test_roundtrip(void **state)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096, (1 << 20) + 1, BLZ_STORE_MAX_CHUNK };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		roundtrip(*state, sizes[i], 0, i + 1);
		if (sizes[i])	/* the empty chunk is the same either way */
			roundtrip(*state, sizes[i], 1, i + 100);
	}
}

static void test_too_big(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = blz_xcalloc(1, BLZ_STORE_MAX_CHUNK + 1);
	uint8_t digest[32] = { 0 }, zero[32] = { 0 };
	assert_int_equal(blz_store_put(f->store, data, BLZ_STORE_MAX_CHUNK + 1, digest), -EFBIG);
	assert_memory_equal(digest, zero, 32);	/* untouched */
	assert_int_equal(blz_store_get(f->store, digest, data, BLZ_STORE_MAX_CHUNK + 1), -EINVAL);
	free(data);
}

static void test_dedup(void **state)
{
	struct fixture *f = *state;
	uint8_t data[10000], d1[32], d2[32];
	char path[PATH_MAX], sub[3];
	struct stat st1, st2;

	fill_text(data, sizeof(data), 5);
	assert_int_equal(blz_store_put(f->store, data, sizeof(data), d1), 0);
	chunk_file(f, d1, path);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st1.st_mode & 07777, 0444);
	assert_int_equal(blz_store_put(f->store, data, sizeof(data), d2), 0);
	assert_memory_equal(d1, d2, 32);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);	/* not rewritten */
	blz_hex(d1, 1, sub);
	int ntmp;
	assert_int_equal(count_entries(f->dir, sub, &ntmp), 1);
	assert_int_equal(ntmp, 0);
	assert_int_equal(blz_store_put(f->store, data, sizeof(data), NULL), 0);
}

/* A stored chunk, and the path of its file. */
static void put_one(struct fixture *f, uint8_t *data, size_t len, int compressible, uint64_t seed,
		    uint8_t digest[32], char *path)
{
	if (compressible)
		fill_text(data, len, seed);
	else
		fill_random(data, len, seed);
	assert_int_equal(blz_store_put(f->store, data, len, digest), 0);
	chunk_file(f, digest, path);
}

static void test_corrupt_payload(void **state)
{
	struct fixture *f = *state;
	size_t len = 50000;
	uint8_t *data = blz_xmalloc(len), *back = blz_xmalloc(len), digest[32];
	char path[PATH_MAX];

	for (int compressible = 0; compressible < 2; compressible++) {
		put_one(f, data, len, compressible, 40 + (uint64_t)compressible, digest, path);
		off_t size = file_size(path);
		/* first, middle and last byte of the payload */
		off_t offs[] = { BLZ_CHUNK_HEADER_LEN, (BLZ_CHUNK_HEADER_LEN + size) / 2, size - 1 };
		for (int i = 0; i < 3; i++) {
			flip_byte(path, offs[i]);
			assert_int_equal(blz_store_get(f->store, digest, back, len), -EBADMSG);
			assert_true(strlen(blz_store_error()) > 0);
			flip_byte(path, offs[i]);
			assert_int_equal(blz_store_get(f->store, digest, back, len), 0);
			assert_memory_equal(back, data, len);
		}
	}
	free(data);
	free(back);
}

static void test_corrupt_header(void **state)
{
	struct fixture *f = *state;
	size_t len = 20000;
	uint8_t *data = blz_xmalloc(len), *back = blz_xmalloc(len), digest[32];
	char path[PATH_MAX];

	put_one(f, data, len, 1, 50, digest, path);
	for (off_t off = 0; off < BLZ_CHUNK_HEADER_LEN; off++) {
		flip_byte(path, off);
		assert_int_equal(blz_store_get(f->store, digest, back, len), -EBADMSG);
		flip_byte(path, off);
	}
	assert_int_equal(blz_store_get(f->store, digest, back, len), 0);
	assert_memory_equal(back, data, len);

	/* a valid chunk file under another chunk's name */
	uint8_t other[32];
	char opath[PATH_MAX];
	uint8_t small[100];
	put_one(f, small, sizeof(small), 0, 51, other, opath);
	assert_int_equal(unlink(opath), 0);
	copy_file(path, opath);
	assert_int_equal(blz_store_get(f->store, other, small, sizeof(small)), -EBADMSG);
	assert_int_equal(blz_store_get(f->store, other, back, len), -EBADMSG);
	free(data);
	free(back);
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	size_t len = 30000;
	uint8_t *data = blz_xmalloc(len), *back = blz_xmalloc(len), digest[32];
	char path[PATH_MAX], saved[PATH_MAX + 8];

	for (int compressible = 0; compressible < 2; compressible++) {
		put_one(f, data, len, compressible, 60 + (uint64_t)compressible, digest, path);
		snprintf(saved, sizeof(saved), "%s.saved", path);
		copy_file(path, saved);
		off_t size = file_size(path);
		off_t cuts[] = { 0, 1, BLZ_CHUNK_HEADER_LEN - 1, BLZ_CHUNK_HEADER_LEN,
				 BLZ_CHUNK_HEADER_LEN + 1, size / 2, size - 1 };
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			chmod(path, 0644);
			assert_int_equal(truncate(path, cuts[i]), 0);
			assert_int_equal(blz_store_get(f->store, digest, back, len), -EBADMSG);
			copy_file(saved, path);
		}
		/* a byte too many */
		chmod(path, 0644);
		int fd = open(path, O_WRONLY | O_APPEND);
		assert_int_equal(write(fd, "", 1), 1);
		close(fd);
		assert_int_equal(blz_store_get(f->store, digest, back, len), -EBADMSG);
		copy_file(saved, path);
		assert_int_equal(blz_store_get(f->store, digest, back, len), 0);
		assert_memory_equal(back, data, len);
		unlink(saved);
	}
	free(data);
	free(back);
}

static void test_wrong_length_and_missing(void **state)
{
	struct fixture *f = *state;
	size_t len = 8192;
	uint8_t *data = blz_xmalloc(len), *back = blz_xmalloc(len + 1), digest[32];
	char path[PATH_MAX];

	for (int compressible = 0; compressible < 2; compressible++) {
		put_one(f, data, len, compressible, 70 + (uint64_t)compressible, digest, path);
		assert_int_equal(blz_store_get(f->store, digest, back, len - 1), -EBADMSG);
		assert_int_equal(blz_store_get(f->store, digest, back, len + 1), -EBADMSG);
		assert_int_equal(blz_store_get(f->store, digest, back, 0), -EBADMSG);
		assert_int_equal(blz_store_get(f->store, digest, back, len), 0);
	}

	uint8_t missing[32];
	blz_sha256("not stored", 10, missing);
	assert_int_equal(blz_store_has(f->store, missing), 0);
	assert_int_equal(blz_store_get(f->store, missing, back, 10), -ENOENT);
	/* missing although its subdirectory exists */
	memcpy(missing, digest, 32);
	missing[31] ^= 1;
	assert_int_equal(blz_store_get(f->store, missing, back, len), -ENOENT);
	assert_int_equal(blz_store_has(f->store, missing), 0);

	/* a directory where the chunk file should be */
	chunk_file(f, missing, path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(blz_store_has(f->store, missing), 0);
	assert_int_equal(blz_store_get(f->store, missing, back, len), -EBADMSG);
	rmdir(path);
	/* a FIFO there: refused at once, not waited on (it once blocked the reader for ever:
	 * test/fuzz/regressions/diskcache/fifo-under-chunk-name) */
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(blz_store_get(f->store, missing, back, len), -EBADMSG);
	unlink(path);
	free(data);
	free(back);
}

static void test_leftover_temp(void **state)
{
	struct fixture *f = *state;
	uint8_t data[5000], back[5000], digest[32];
	char path[PATH_MAX], sub[3], tmp[PATH_MAX + 64], hex[65];

	fill_random(data, sizeof(data), 80);
	blz_sha256(data, sizeof(data), digest);
	blz_hex(digest, 32, hex);
	blz_hex(digest, 1, sub);
	/* what a put that crashed before its rename leaves behind: a complete and a partial
	 * temporary file */
	snprintf(path, sizeof(path), "%s/%s", f->dir, sub);
	mkdir(path, 0700);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%.16s-1-0", path, hex);
	int fd = open(tmp, O_WRONLY | O_CREAT, 0444);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "BLZCHUNK\1", 9), 9);
	close(fd);

	assert_int_equal(blz_store_has(f->store, digest), 0);
	assert_int_equal(blz_store_get(f->store, digest, back, sizeof(back)), -ENOENT);
	assert_int_equal(blz_store_put(f->store, data, sizeof(data), NULL), 0);
	assert_int_equal(blz_store_has(f->store, digest), 1);
	assert_int_equal(blz_store_get(f->store, digest, back, sizeof(back)), 0);
	assert_memory_equal(back, data, sizeof(data));
	int ntmp;
	assert_int_equal(count_entries(f->dir, sub, &ntmp), 2);
	assert_int_equal(ntmp, 1);	/* ours, untouched; the put left none of its own */
}

/* BLZ_STORE_BATCH: chunks are pending (visible to has and put, not to get) until sync;
 * sync names them; close without sync removes them; usage counts named chunks. */
static void test_batch(void **state)
{
	struct fixture *f = *state;
	blz_store_close(f->store);
	assert_int_equal(blz_store_open(f->dir, BLZ_STORE_BATCH, &f->store), 0);
	enum { N = 3000 };
	static uint8_t data[N][300], back[300];
	uint8_t digest[N][32], d[32];
	for (int i = 0; i < N; i++) {
		fill_random(data[i], sizeof(data[i]), 1000 + i);
		assert_int_equal(blz_store_put(f->store, data[i], sizeof(data[i]), digest[i]), 0);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(blz_store_has(f->store, digest[i]), 1);
	assert_int_equal(blz_store_get(f->store, digest[0], back, sizeof(back)), -ENOENT);
	/* dedup within the batch: nothing new written */
	assert_int_equal(blz_store_put(f->store, data[7], sizeof(data[7]), d), 0);
	assert_memory_equal(d, digest[7], 32);
	uint64_t chunks, bytes;
	assert_int_equal(blz_store_usage(f->store, &chunks, &bytes), 0);
	assert_int_equal(chunks, 0);
	assert_int_equal(blz_store_sync(f->store), 0);
	assert_int_equal(blz_store_usage(f->store, &chunks, &bytes), 0);
	assert_int_equal(chunks, N);
	assert_true(bytes >= (uint64_t)N * 300);
	for (int i = 0; i < N; i += 97) {
		assert_int_equal(blz_store_get(f->store, digest[i], back, sizeof(back)), 0);
		assert_memory_equal(back, data[i], sizeof(back));
	}
	/* A batch abandoned by close leaves neither chunks nor temporary files. */
	uint8_t extra[300], dx[32];
	fill_random(extra, sizeof(extra), 99);
	assert_int_equal(blz_store_put(f->store, extra, sizeof(extra), dx), 0);
	blz_store_close(f->store);
	assert_int_equal(blz_store_open(f->dir, 0, &f->store), 0);
	assert_int_equal(blz_store_has(f->store, dx), 0);
	char sub[3];
	blz_hex(dx, 1, sub);
	int ntmp;
	count_entries(f->dir, sub, &ntmp);
	assert_int_equal(ntmp, 0);
	assert_int_equal(blz_store_usage(f->store, &chunks, &bytes), 0);
	assert_int_equal(chunks, N);
}

/* ---- threads ---- */

#define NCHUNKS 12
#define CHUNK_MAX (256 * 1024)

struct shared {
	struct blz_store *store;
	struct blz_chunk_cache *cache;
	uint8_t digest[NCHUNKS][32];
	size_t len[NCHUNKS];
	uint8_t *data[NCHUNKS];
	int id;
	int errors;
};

static size_t chunk_len(int i)
{
	return (size_t)(1000 + i * 20000) % CHUNK_MAX + 1;
}

static void make_chunk(int i, uint8_t *p, size_t len)
{
	if (i % 2)
		fill_text(p, len, (uint64_t)i);
	else
		fill_random(p, len, (uint64_t)i);
}

static void *reader(void *arg)
{
	struct shared *sh = arg;
	uint8_t *buf = blz_xmalloc(CHUNK_MAX);
	uint64_t x = (uint64_t)sh->id * 7919 + 1;
	int errors = 0;

	for (int n = 0; n < 300; n++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		/* a third of the reads all go to chunk 0; the rest are spread */
		int i = n % 3 == 0 ? 0 : (int)((x >> 33) % NCHUNKS);
		if (blz_store_get(sh->store, sh->digest[i], buf, sh->len[i]) != 0 ||
		    memcmp(buf, sh->data[i], sh->len[i]))
			errors++;
	}
	free(buf);
	__atomic_add_fetch(&sh->errors, errors, __ATOMIC_RELAXED);
	return NULL;
}

static void *putter(void *arg)
{
	struct shared *sh = arg;
	int errors = 0;
	for (int i = 0; i < NCHUNKS; i++) {
		uint8_t d[32];
		int k = (i + sh->id) % NCHUNKS;
		if (blz_store_put(sh->store, sh->data[k], sh->len[k], d) != 0 ||
		    memcmp(d, sh->digest[k], 32))
			errors++;
	}
	__atomic_add_fetch(&sh->errors, errors, __ATOMIC_RELAXED);
	return NULL;
}

static void run_threads(struct shared *sh, void *(*fn)(void *), int n)
{
	pthread_t t[8];
	struct shared per[8];
	for (int i = 0; i < n; i++) {
		per[i] = *sh;
		per[i].id = i;
		per[i].errors = 0;
		assert_int_equal(pthread_create(&t[i], NULL, fn, &per[i]), 0);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		sh->errors += per[i].errors;
	}
}

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct shared sh = { .store = f->store };

	for (int i = 0; i < NCHUNKS; i++) {
		sh.len[i] = chunk_len(i);
		sh.data[i] = blz_xmalloc(sh.len[i]);
		make_chunk(i, sh.data[i], sh.len[i]);
		blz_sha256(sh.data[i], sh.len[i], sh.digest[i]);
	}
	/* 4 threads putting the same chunks at once */
	run_threads(&sh, putter, 4);
	assert_int_equal(sh.errors, 0);
	for (int i = 0; i < NCHUNKS; i++) {
		char sub[3];
		int ntmp;
		blz_hex(sh.digest[i], 1, sub);
		count_entries(f->dir, sub, &ntmp);
		assert_int_equal(ntmp, 0);
	}
	/* 4 threads reading the same and different chunks */
	run_threads(&sh, reader, 4);
	assert_int_equal(sh.errors, 0);
	for (int i = 0; i < NCHUNKS; i++)
		free(sh.data[i]);
}

/* ---- cache ---- */

static void key(int i, uint8_t d[32])
{
	memset(d, 0, 32);
	put_le32(d, (uint32_t)i * 2654435761u);
	put_le32(d + 28, (uint32_t)i);
}

static void test_cache_lru(void **state)
{
	struct blz_chunk_cache *c = blz_cache_new(3000);
	struct blz_cache_stats st;
	uint8_t a[32], b[32], cc[32], d[32], buf[1500], out[1500];

	key(1, a);
	key(2, b);
	key(3, cc);
	key(4, d);
	memset(buf, 'A', sizeof(buf));
	blz_cache_put(c, a, buf, 1000);
	memset(buf, 'B', sizeof(buf));
	blz_cache_put(c, b, buf, 1000);
	memset(buf, 'C', sizeof(buf));
	blz_cache_put(c, cc, buf, 1000);
	blz_cache_get_stats(c, &st);
	assert_int_equal(st.bytes, 3000);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.evictions, 0);

	assert_int_equal(blz_cache_get(c, a, out, 1000), 1);	/* A is now the most recent */
	assert_int_equal(out[0], 'A');
	assert_int_equal(out[999], 'A');
	memset(buf, 'D', sizeof(buf));
	blz_cache_put(c, d, buf, 1000);				/* evicts B */
	assert_int_equal(blz_cache_get(c, b, out, 1000), 0);
	assert_int_equal(blz_cache_get(c, cc, out, 1000), 1);
	assert_int_equal(out[0], 'C');
	assert_int_equal(blz_cache_get(c, d, out, 1000), 1);
	assert_int_equal(blz_cache_get(c, a, out, 1000), 1);
	/* order now (most recent first): A D C; a put of an existing key only touches it */
	memset(buf, 'X', sizeof(buf));
	blz_cache_put(c, cc, buf, 1000);			/* C A D */
	assert_int_equal(blz_cache_get(c, cc, out, 1000), 1);
	assert_int_equal(out[0], 'C');				/* not replaced */
	blz_cache_put(c, b, buf, 1500);				/* evicts A and D */
	assert_int_equal(blz_cache_get(c, a, out, 1000), 0);
	assert_int_equal(blz_cache_get(c, d, out, 1000), 0);
	assert_int_equal(blz_cache_get(c, cc, out, 1000), 1);
	assert_int_equal(blz_cache_get(c, b, out, 1000), 0);	/* length differs: a miss */

	blz_cache_get_stats(c, &st);
	assert_int_equal(st.hits, 6);
	assert_int_equal(st.misses, 4);
	assert_int_equal(st.evictions, 3);
	assert_int_equal(st.inserts, 5);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.bytes, 2500);
	assert_int_equal(st.max_bytes, 3000);

	/* bigger than the whole cache: not cached, nothing evicted */
	uint8_t *big = blz_xcalloc(1, 3001);
	blz_cache_put(c, a, big, 3001);
	assert_int_equal(blz_cache_get(c, a, big, 3001), 0);
	blz_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 2);
	free(big);
	blz_cache_free(c);
	blz_cache_free(NULL);

	c = blz_cache_new(0);
	blz_cache_put(c, a, buf, 0);
	assert_int_equal(blz_cache_get(c, a, out, 0), 0);
	blz_cache_free(c);
}

static void test_cache_bound(void **state)
{
	const size_t max = 100000;
	struct blz_chunk_cache *c = blz_cache_new(max);
	struct blz_cache_stats st;
	uint8_t buf[20000], out[20000], d[32];

	for (int i = 0; i < 5000; i++) {
		size_t len = rnd() % sizeof(buf);
		key(i, d);
		fill_random(buf, len, (uint64_t)i);
		blz_cache_put(c, d, buf, len);
		blz_cache_get_stats(c, &st);
		assert_true(st.bytes <= max);
		assert_int_equal(blz_cache_get(c, d, out, len), 1);	/* the newest is kept */
		assert_memory_equal(out, buf, len);
	}
	blz_cache_get_stats(c, &st);
	assert_true(st.evictions > 4000);
	assert_int_equal(st.inserts - st.evictions, st.entries);
	blz_cache_free(c);
}

#define CKEYS 200

static size_t ckey_len(int i)
{
	return (size_t)(i * 37) % 3000 + 1;
}

static void *cache_worker(void *arg)
{
	struct shared *sh = arg;
	uint8_t buf[3001], want[3001], d[32];
	uint64_t x = (uint64_t)sh->id + 12345;
	int errors = 0;

	for (int n = 0; n < 20000; n++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		int i = (int)((x >> 33) % CKEYS);
		size_t len = ckey_len(i);
		key(i, d);
		fill_random(want, len, (uint64_t)i);
		if (blz_cache_get(sh->cache, d, buf, len)) {
			if (memcmp(buf, want, len))
				errors++;
		} else {
			blz_cache_put(sh->cache, d, want, len);
		}
	}
	__atomic_add_fetch(&sh->errors, errors, __ATOMIC_RELAXED);
	return NULL;
}

static void test_cache_concurrent(void **state)
{
	const size_t max = 150000;	/* about half of the keys' bytes */
	struct shared sh = { .cache = blz_cache_new(max) };
	struct blz_cache_stats st;

	run_threads(&sh, cache_worker, 4);
	assert_int_equal(sh.errors, 0);
	blz_cache_get_stats(sh.cache, &st);
	assert_true(st.bytes <= max);
	assert_int_equal(st.hits + st.misses, 4 * 20000);
	assert_true(st.hits > 0);
	assert_true(st.evictions > 0);
	assert_int_equal(st.inserts - st.evictions, st.entries);
	size_t sum = 0;
	uint8_t buf[3001], d[32];
	for (int i = 0; i < CKEYS; i++) {
		key(i, d);
		if (blz_cache_get(sh.cache, d, buf, ckey_len(i)))
			sum += ckey_len(i);
	}
	assert_int_equal(sum, st.bytes);
	blz_cache_free(sh.cache);
}


static void test_cache_ranged_read(void **state)
{
	struct blz_chunk_cache *c = blz_cache_new(1 << 20);
	uint8_t digest[32] = { 7 }, chunk[8192], out[100];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 13);
	blz_cache_put(c, digest, chunk, sizeof(chunk));
	assert_int_equal(blz_cache_read(c, digest, sizeof(chunk), 5000, out, sizeof(out)), 1);
	assert_memory_equal(out, chunk + 5000, sizeof(out));
	assert_int_equal(blz_cache_read(c, digest, sizeof(chunk), 8100, out, 92), 1);
	assert_memory_equal(out, chunk + 8100, 92);
	/* Outside the chunk, or another length: a miss, nothing copied. */
	assert_int_equal(blz_cache_read(c, digest, sizeof(chunk), 8100, out, 93), 0);
	assert_int_equal(blz_cache_read(c, digest, 4096, 0, out, 10), 0);
	uint8_t other[32] = { 8 };
	assert_int_equal(blz_cache_read(c, other, sizeof(chunk), 0, out, 10), 0);
	blz_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_ranged_read),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_hw_matches_sw),
		cmocka_unit_test(test_sha256_incremental),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_chunk_header),
		cmocka_unit_test(test_open),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_length_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test(test_cache_lru),
		cmocka_unit_test(test_cache_bound),
		cmocka_unit_test(test_cache_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
