#include "fuzz.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/fileio.h"

static void die(const char *what)
{
	perror(what);
	abort();
}

void fuzz_refill(int fd, const void *data, size_t size)
{
	if (ftruncate(fd, 0) < 0 || (size && blz_pwrite_full(fd, data, size, 0) < 0) ||
	    lseek(fd, 0, SEEK_SET) < 0)
		die("fuzz: cannot fill the memfd");
}

int fuzz_memfd(const void *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		die("fuzz: memfd_create");
	fuzz_refill(fd, data, size);
	return fd;
}

void fuzz_fd_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static char tmpdir[256];

static void remove_tmpdir(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz: cannot remove %s\n", tmpdir);
}

const char *fuzz_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/blazy-fuzz-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(tmpdir))
			die("fuzz: mkdtemp");
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void fuzz_rmtree(const char *path)
{
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
