/*
 * patcheck: verify that a range of a device (or file) holds blazy's "pattern" backend:
 * every aligned 8-byte little-endian word equals its own byte offset, so a byte read from
 * the wrong place, a stale buffer or a zero page shows at once.
 *
 *   patcheck [--direct] [--bs SIZE] DEV OFFSET LENGTH
 *
 * OFFSET and LENGTH take K, M, G suffixes (powers of 1024); any alignment is fine
 * (--direct needs 4 KiB alignment of OFFSET, LENGTH and --bs). Exit status: 0 the range
 * matches, 1 a mismatch (the first one is printed), 2 misuse, 3 an I/O error.
 * Built statically by build.sh for the VM tests; it is a test tool, not part of blazy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int parse_size(const char *s, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	int shift = 0;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return -1;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*ret = (uint64_t)v << shift;
	return 0;
}

static uint8_t want_byte(uint64_t off)
{
	return (uint8_t)((off & ~(uint64_t)7) >> (8 * (off & 7)));
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* Returns the index of the first wrong byte of buf (holding len bytes from off), or len. */
static size_t check(const uint8_t *buf, size_t len, uint64_t off)
{
	size_t i = 0;
	while (i < len && ((off + i) & 7))
		if (buf[i] != want_byte(off + i))
			return i;
		else
			i++;
	for (; i + 8 <= len; i += 8)
		if (le64(buf + i) != off + i)
			break;
	for (; i < len; i++)
		if (buf[i] != want_byte(off + i))
			return i;
	return len;
}

static int usage(void)
{
	fprintf(stderr, "usage: patcheck [--direct] [--bs SIZE] DEV OFFSET LENGTH\n");
	return 2;
}

int main(int argc, char **argv)
{
	int direct = 0;
	uint64_t bs = 1 << 20;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--direct"))
			direct = 1;
		else if (!strcmp(argv[i], "--bs") && i + 1 < argc) {
			if (parse_size(argv[++i], &bs) < 0 || bs == 0 || bs > (256 << 20))
				return usage();
		} else
			return usage();
	}
	if (argc - i != 3)
		return usage();
	const char *dev = argv[i];
	uint64_t off, len;
	if (parse_size(argv[i + 1], &off) < 0 || parse_size(argv[i + 2], &len) < 0)
		return usage();
	if (direct && ((off | len | bs) & 4095)) {
		fprintf(stderr, "patcheck: --direct wants 4 KiB aligned OFFSET, LENGTH and --bs\n");
		return 2;
	}
	int fd = open(dev, O_RDONLY | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		fprintf(stderr, "patcheck: cannot open %s: %s\n", dev, strerror(errno));
		return 3;
	}
	uint8_t *buf;
	if (posix_memalign((void **)&buf, 4096, bs)) {
		fprintf(stderr, "patcheck: out of memory\n");
		return 3;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t done = 0;
	while (done < len) {
		size_t want = (size_t)(len - done < bs ? len - done : bs);
		ssize_t n = pread(fd, buf, want, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "patcheck: %s: read at %" PRIu64 ": %s\n", dev, off + done,
				strerror(errno));
			return 3;
		}
		if (n == 0) {
			fprintf(stderr, "patcheck: %s: end of device at %" PRIu64 "\n", dev,
				off + done);
			return 3;
		}
		size_t bad = check(buf, (size_t)n, off + done);
		if (bad < (size_t)n) {
			uint64_t at = off + done + bad;
			fprintf(stderr,
				"patcheck: %s: mismatch at byte %" PRIu64 ": 0x%02x, want 0x%02x\n",
				dev, at, buf[bad], want_byte(at));
			return 1;
		}
		done += (uint64_t)n;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("patcheck: %s: %" PRIu64 " bytes at %" PRIu64 " ok (%.1f MiB/s)\n", dev, len, off,
	       s > 0 ? (double)len / 1048576.0 / s : 0.0);
	return 0;
}
