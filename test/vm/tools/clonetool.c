/* clonetool SRC SRC_OFF LEN DST: FICLONERANGE [SRC_OFF, SRC_OFF + LEN rounded up to 4 KiB)
 * of SRC to offset 0 of DST (created), then truncates DST to LEN. For the VM tests. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: clonetool SRC SRC_OFF LEN DST\n");
		return 2;
	}
	unsigned long long off = strtoull(argv[2], NULL, 10), len = strtoull(argv[3], NULL, 10);
	int src = open(argv[1], O_RDONLY);
	int dst = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (src < 0 || dst < 0) {
		fprintf(stderr, "clonetool: open: %s\n", strerror(errno));
		return 1;
	}
	struct file_clone_range a = { .src_fd = src, .src_offset = off,
				      .src_length = (len + 4095) & ~4095ULL, .dest_offset = 0 };
	if (ioctl(dst, FICLONERANGE, &a) < 0) {
		fprintf(stderr, "clonetool: FICLONERANGE: %s\n", strerror(errno));
		return 1;
	}
	if (ftruncate(dst, (off_t)len) < 0) {
		fprintf(stderr, "clonetool: ftruncate: %s\n", strerror(errno));
		return 1;
	}
	return close(dst) < 0;
}
