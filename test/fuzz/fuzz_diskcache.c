/* The persistent chunk cache as found on disk at open (lib/store/diskcache.h): whatever a
 * crash, a copy, another process or a hostile user left in the cache directory. The input
 * builds that directory: byte 0 sets the bound (((b & 63) + 1) * 4 KiB), then records of
 *   u8 kind, u32 mtime (seconds, little-endian), u16 length, length bytes
 * kind & 7: 0 a chunk file named by its own header's digest (in its subdirectory; with
 * kind bit 3 in another one), its header crc fixed up so mutations reach the lengths;
 * 1 the same without the fix-up; 2 a file under the name the next 64 bytes give, in the
 * subdirectory of byte 0; 3 a ".tmp-" file; 4 a directory, 5 a symlink, 6 a FIFO under a
 * chunk's name; 7 a file where a subdirectory belongs. The cache is opened, every chunk
 * named looked up (with the header's length and another), a valid chunk put, trimmed and
 * closed; the accounting must hold (bytes within the bound, nothing left after a trim to 0)
 * and the directory is removed after every input. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "fuzz.h"
#include "store/diskcache.h"
#include "util/crc32c.h"
#include "util/le.h"
#include "util/sha256.h"

#define MAX_NAMED 64

static char dir[512];

static void put_file(const char *path, const uint8_t *p, size_t n, uint32_t mtime)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0)
		return; /* a name the input made a directory or a FIFO already */
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
	futimens(fd, ts);
	close(fd);
}

/* dir/xx/<hex of digest> */
static void chunk_path(char *buf, size_t len, unsigned sub, const uint8_t *digest)
{
	char hex[BLZ_SHA256_HEX_LEN + 1];
	blz_hex(digest, BLZ_STORE_DIGEST_LEN, hex);
	snprintf(buf, len, "%s/%02x", dir, sub);
	mkdir(buf, 0700);
	snprintf(buf, len, "%s/%02x/%s", dir, sub, hex);
}

static uint8_t digests[MAX_NAMED][BLZ_STORE_DIGEST_LEN];
static uint32_t lengths[MAX_NAMED];
static size_t named;
static uint8_t buf[BLZ_STORE_MAX_CHUNK];

static void build(const uint8_t *d, size_t size)
{
	while (size >= 7) {
		uint8_t kind = d[0];
		uint32_t mtime = get_le32(d + 1);
		size_t n = get_le16(d + 5);
		d += 7;
		size -= 7;
		if (n > size)
			n = size;
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, d, n);
		d += n;
		size -= n;
		char path[1024];
		uint8_t digest[BLZ_STORE_DIGEST_LEN] = { 0 };
		if (n >= BLZ_CHUNK_HEADER_LEN)
			memcpy(digest, p + 20, sizeof(digest));
		else
			blz_sha256(p, n, digest);
		if ((kind & 7) == 0 && n >= BLZ_CHUNK_HEADER_LEN)
			put_le32(p + 52, blz_crc32c(p, 52));
		if ((kind & 7) <= 1 && named < MAX_NAMED) {
			memcpy(digests[named], digest, sizeof(digest));
			lengths[named++] = n >= BLZ_CHUNK_HEADER_LEN ? get_le32(p + 12) : (uint32_t)n;
		}
		switch (kind & 7) {
		case 0:
		case 1:
			chunk_path(path, sizeof(path), digest[0] ^ (kind & 8 ? 1 : 0), digest);
			put_file(path, p, n, mtime);
			break;
		case 2: {
			char name[65];
			size_t k = n < 64 ? n : 64;
			for (size_t i = 0; i < k; i++)
				name[i] = p[i] && p[i] != '/' ? (char)p[i] : 'x';
			name[k] = 0;
			snprintf(path, sizeof(path), "%s/%02x", dir, n ? p[0] : 0);
			mkdir(path, 0700);
			if (k && strcmp(name, ".") && strcmp(name, "..")) {
				snprintf(path, sizeof(path), "%s/%02x/%s", dir, n ? p[0] : 0, name);
				put_file(path, p + k, n - k, mtime);
			}
			break;
		}
		case 3:
			snprintf(path, sizeof(path), "%s/%02x", dir, digest[0]);
			mkdir(path, 0700);
			snprintf(path, sizeof(path), "%s/%02x/.tmp-%08x", dir, digest[0], mtime);
			put_file(path, p, n, mtime);
			break;
		case 4:
			chunk_path(path, sizeof(path), digest[0], digest);
			mkdir(path, 0700);
			break;
		case 5:
			chunk_path(path, sizeof(path), digest[0], digest);
			(void)!symlink(n & 1 ? "/dev/zero" : "../../..", path);
			break;
		case 6:
			chunk_path(path, sizeof(path), digest[0], digest);
			mkfifo(path, 0600);
			break;
		default:
			snprintf(path, sizeof(path), "%s/%02x", dir, digest[0]);
			put_file(path, p, n, mtime);
			break;
		}
		free(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	snprintf(dir, sizeof(dir), "%s/cache", fuzz_tmpdir());
	fuzz_rmtree(dir);
	if (mkdir(dir, 0700) < 0)
		abort();
	uint64_t bound = ((uint64_t)(data[0] & 63) + 1) * 4096;
	named = 0;
	build(data + 1, size - 1);

	struct blz_diskcache *dc;
	if (blz_diskcache_open(dir, bound, &dc) < 0) {
		fuzz_rmtree(dir);
		return 0;
	}
	struct blz_diskcache_stats st;
	blz_diskcache_get_stats(dc, &st);
	if (st.bytes > bound || st.max_bytes != bound)
		abort();
	for (size_t i = 0; i < named; i++) {
		size_t len = lengths[i] <= BLZ_STORE_MAX_CHUNK ? lengths[i] : BLZ_STORE_MAX_CHUNK + 1;
		int r = blz_diskcache_get(dc, digests[i], buf, len);
		if (r == 0) {
			uint8_t got[BLZ_STORE_DIGEST_LEN];
			blz_sha256(buf, len, got);
			if (memcmp(got, digests[i], sizeof(got)))
				abort(); /* a hit is the chunk's bytes, verified */
		}
		(void)blz_diskcache_get(dc, digests[i], buf, len ? len - 1 : 1);
	}
	/* a valid raw chunk put: it fits (the bound is at least 4 KiB) */
	static const char payload[] = "a chunk put by the fuzzer";
	uint8_t image[BLZ_CHUNK_HEADER_LEN + sizeof(payload)];
	struct blz_chunk_header h = { .version = BLZ_CHUNK_VERSION, .codec = BLZ_CHUNK_CODEC_RAW,
				      .length = sizeof(payload), .stored_length = sizeof(payload) };
	blz_sha256(payload, sizeof(payload), h.digest);
	blz_chunk_encode_header(&h, image);
	memcpy(image + BLZ_CHUNK_HEADER_LEN, payload, sizeof(payload));
	if (blz_diskcache_put_image(dc, h.digest, image, sizeof(image)) < 0)
		abort();
	if (blz_diskcache_get(dc, h.digest, buf, sizeof(payload)) < 0 ||
	    memcmp(buf, payload, sizeof(payload)))
		abort();
	blz_diskcache_get_stats(dc, &st);
	if (st.bytes > bound)
		abort();
	(void)blz_diskcache_trim(dc, bound / 2, NULL);
	blz_diskcache_get_stats(dc, &st);
	if (st.bytes > bound / 2)
		abort();
	(void)blz_diskcache_trim(dc, 0, NULL);
	blz_diskcache_get_stats(dc, &st);
	if (st.bytes || st.entries)
		abort();
	blz_diskcache_close(dc);
	fuzz_rmtree(dir);
	return 0;
}
