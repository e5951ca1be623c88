/* sparsecopy SRC DST [DST_OFF]: copies the data regions of SRC (SEEK_DATA/SEEK_HOLE) to
 * DST_OFF + their offset in DST (created when missing, never truncated or extended past the
 * last data byte), so that a sparse seed image of 256 GiB apparent size is laid into a
 * device-sized file in a few writes. For the VM benches (bench/vm-e2e). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy_range(int src, int dst, off_t from, off_t to, off_t shift, char *buf, size_t len)
{
	while (from < to) {
		size_t n = (size_t)(to - from) < len ? (size_t)(to - from) : len;
		ssize_t got = pread(src, buf, n, from);
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		for (ssize_t done = 0; done < got;) {
			ssize_t w = pwrite(dst, buf + done, (size_t)(got - done), from + shift + done);
			if (w < 0)
				return -errno;
			done += w;
		}
		from += got;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: sparsecopy SRC DST [DST_OFF]\n");
		return 2;
	}
	off_t shift = argc == 4 ? (off_t)strtoull(argv[3], NULL, 10) : 0;
	int src = open(argv[1], O_RDONLY);
	int dst = open(argv[2], O_WRONLY | O_CREAT, 0644);
	struct stat st;
	if (src < 0 || dst < 0 || fstat(src, &st) < 0) {
		fprintf(stderr, "sparsecopy: %s\n", strerror(errno));
		return 1;
	}
	size_t len = 1 << 20;
	char *buf = malloc(len);
	if (!buf)
		return 1;
	unsigned long long copied = 0;
	for (off_t off = 0; off < st.st_size;) {
		off_t data = lseek(src, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		off_t hole = data < 0 ? -1 : lseek(src, data, SEEK_HOLE);
		if (hole < 0) {
			fprintf(stderr, "sparsecopy: lseek %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
		int r = copy_range(src, dst, data, hole, shift, buf, len);
		if (r < 0) {
			fprintf(stderr, "sparsecopy: copying [%lld, %lld): %s\n", (long long)data,
				(long long)hole, strerror(-r));
			return 1;
		}
		copied += (unsigned long long)(hole - data);
		off = hole;
	}
	if (fsync(dst) < 0 && errno != EINVAL) {
		fprintf(stderr, "sparsecopy: fsync %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	printf("%llu\n", copied);
	return 0;
}
