/* seed-pages IMAGE: writes a seed image to stdout in the sparse form fuzz_seed reads (see
 * fuzz_seed.c): each non-zero 4 KiB page of the first 256 MiB as a little-endian u32 page
 * index and the page. Holes are skipped with SEEK_DATA, so a sparse image costs nothing. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seed-pages IMAGE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	static const uint8_t zero[4096];
	uint8_t page[4096];
	const off_t max = 256 << 20;
	for (off_t off = 0; off < max; off += 4096) {
		off_t data = lseek(fd, off, SEEK_DATA);
		if (data < 0 || data >= max)
			break;
		off = data & ~(off_t)4095;
		ssize_t n = pread(fd, page, sizeof(page), off);
		if (n <= 0)
			break;
		memset(page + n, 0, sizeof(page) - (size_t)n);
		if (memcmp(page, zero, sizeof(page)) == 0)
			continue;
		uint32_t idx = (uint32_t)(off / 4096);
		uint8_t le[4] = { idx & 255, idx >> 8 & 255, idx >> 16 & 255, idx >> 24 };
		if (fwrite(le, 4, 1, stdout) != 1 || fwrite(page, sizeof(page), 1, stdout) != 1)
			return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
