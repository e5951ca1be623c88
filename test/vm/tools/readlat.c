/* readlat: the latency of each read(2) of some files, for isolation tests.
 *
 *   readlat [--bs SIZE] FILE...
 *
 * Reads every FILE from start to end in reads of SIZE bytes (default 65536), in the order
 * given, timing each read with CLOCK_MONOTONIC, and prints one line:
 *   reads N bytes B p50_us X p99_us Y max_us Z
 * (pK: the smallest latency that K% of the reads do not exceed). Exit 0; 1 when a file
 * cannot be opened or a read fails (the error is printed, nothing else); 2 misuse. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The latency K% of the sorted samples do not exceed. */
static uint64_t pct(const uint64_t *v, size_t n, unsigned k)
{
	size_t i = (n * k + 99) / 100;
	return v[i ? i - 1 : 0];
}

int main(int argc, char **argv)
{
	size_t bs = 65536;
	int i = 1;
	if (i + 1 < argc && !strcmp(argv[i], "--bs")) {
		bs = strtoul(argv[i + 1], NULL, 0);
		i += 2;
	}
	if (i >= argc || bs == 0 || bs > (64u << 20)) {
		fprintf(stderr, "usage: readlat [--bs SIZE] FILE...\n");
		return 2;
	}
	char *buf = malloc(bs);
	size_t n = 0, cap = 1024;
	uint64_t *lat = malloc(cap * sizeof(*lat)), bytes = 0;
	if (!buf || !lat)
		return 1;
	for (; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "readlat: cannot open '%s': %s\n", argv[i], strerror(errno));
			return 1;
		}
		for (;;) {
			uint64_t t0 = now_us();
			ssize_t got = read(fd, buf, bs);
			uint64_t t1 = now_us();
			if (got < 0) {
				fprintf(stderr, "readlat: cannot read '%s' at %llu: %s\n", argv[i],
					(unsigned long long)bytes, strerror(errno));
				return 1;
			}
			if (got == 0)
				break;
			if (n == cap) {
				cap *= 2;
				lat = realloc(lat, cap * sizeof(*lat));
				if (!lat)
					return 1;
			}
			lat[n++] = t1 - t0;
			bytes += (uint64_t)got;
		}
		close(fd);
	}
	if (n == 0) {
		fprintf(stderr, "readlat: nothing read\n");
		return 1;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("reads %zu bytes %llu p50_us %llu p99_us %llu max_us %llu\n", n,
	       (unsigned long long)bytes, (unsigned long long)pct(lat, n, 50),
	       (unsigned long long)pct(lat, n, 99), (unsigned long long)lat[n - 1]);
	free(lat);
	free(buf);
	return 0;
}
