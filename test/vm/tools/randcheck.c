/*
 * randcheck: random O_DIRECT reads of a device served with blazy's "pattern" backend (each
 * aligned 8-byte little-endian word holds its own byte offset), every byte verified, for a
 * while or until a stop file appears; then one line of results. For the recovery tests: a
 * reader that must see neither an I/O error nor a wrong byte while servers come and go,
 * and that measures the pauses (reads slower than --pause-ms) a takeover causes.
 *
 *   randcheck [--bs SIZE] [--seconds N] [--stop FILE] [--pause-ms MS] [--seed N] DEV
 *
 * Output: "reads N bytes B errors E mismatches M pauses P pause_median_ms X pause_max_ms Y
 * max_ms Z" (pause figures over the reads slower than --pause-ms, default 100). The first
 * error and the first mismatch are printed too. Exit 0 when E and M are 0, 1 otherwise,
 * 2 misuse, 3 cannot open. A test tool built by build.sh, not part of blazy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAUSES 4096

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* xorshift64*: reproducible offsets */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int usage(void)
{
	fprintf(stderr, "usage: randcheck [--bs SIZE] [--seconds N] [--stop FILE] [--pause-ms MS] "
		"[--seed N] DEV\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t bs = 4096, seconds = 10, pause_ms = 100, seed = 88172645463325252ULL;
	const char *stop = NULL;
	int i = 1;
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		char *end;
		uint64_t v = strtoull(argv[i + 1], &end, 10);
		if (*end && strcmp(argv[i], "--stop"))
			return usage();
		if (!strcmp(argv[i], "--bs"))
			bs = v;
		else if (!strcmp(argv[i], "--seconds"))
			seconds = v;
		else if (!strcmp(argv[i], "--pause-ms"))
			pause_ms = v;
		else if (!strcmp(argv[i], "--seed"))
			seed = v ? v : 1;
		else if (!strcmp(argv[i], "--stop"))
			stop = argv[i + 1];
		else
			return usage();
	}
	if (argc - i != 1 || bs == 0 || bs % 4096 || bs > (1 << 20))
		return usage();
	const char *dev = argv[i];
	int fd = open(dev, O_RDONLY | O_DIRECT);
	uint64_t size = 0;
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0 || size < bs) {
		fprintf(stderr, "randcheck: cannot open %s: %s\n", dev, strerror(errno));
		return 3;
	}
	uint8_t *buf;
	if (posix_memalign((void **)&buf, 4096, bs))
		return 3;
	static uint64_t pauses[MAX_PAUSES];
	uint64_t reads = 0, errors = 0, mismatches = 0, npauses = 0, max_us = 0;
	uint64_t end = now_us() + seconds * 1000000;
	uint64_t blocks = size / bs;
	while (now_us() < end && !(stop && access(stop, F_OK) == 0)) {
		uint64_t off = rnd(&seed) % blocks * bs;
		uint64_t t0 = now_us();
		ssize_t n = pread(fd, buf, bs, (off_t)off);
		uint64_t us = now_us() - t0;
		reads++;
		if (us > max_us)
			max_us = us;
		if (us >= pause_ms * 1000 && npauses < MAX_PAUSES)
			pauses[npauses++] = us;
		if (n != (ssize_t)bs) {
			if (!errors++)
				fprintf(stderr, "randcheck: read of %" PRIu64 " at %" PRIu64 ": %s\n", bs,
					off, n < 0 ? strerror(errno) : "short");
			continue;
		}
		for (uint64_t k = 0; k < bs; k += 8) {
			uint64_t w;
			memcpy(&w, buf + k, 8);
			if (w != off + k) {
				if (!mismatches++)
					fprintf(stderr, "randcheck: wrong bytes at %" PRIu64 ": %016" PRIx64
						"\n", off + k, w);
				break;
			}
		}
	}
	qsort(pauses, npauses, sizeof(pauses[0]), cmp_u64);
	printf("reads %" PRIu64 " bytes %" PRIu64 " errors %" PRIu64 " mismatches %" PRIu64
	       " pauses %" PRIu64 " pause_median_ms %" PRIu64 " pause_max_ms %" PRIu64
	       " max_ms %" PRIu64 "\n", reads, reads * bs, errors, mismatches, npauses,
	       npauses ? pauses[npauses / 2] / 1000 : 0, npauses ? pauses[npauses - 1] / 1000 : 0,
	       max_us / 1000);
	return errors || mismatches ? 1 : 0;
}
