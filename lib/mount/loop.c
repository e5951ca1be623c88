#include "mount/loop.h"

#include "util/fileio.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define LOOP_CONTROL "/dev/loop-control"
#define ATTACH_TRIES 64
#define DETACH_TRIES 50 /* x 20 ms */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static char *loop_dev_path(int nr)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "/dev/loop%d", nr);
	return blz_xstrdup(buf);
}

/* Open /dev/loopN; udev-less systems create the node with the device, but give a freshly
 * added device a moment to appear. */
static int open_loop_dev(const char *dev, int oflags)
{
	for (int i = 0;; i++) {
		int fd = open(dev, oflags | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno != ENOENT || i >= 50)
			return -errno;
		sleep_ms(10);
	}
}

int blz_loop_attach(const char *path, unsigned flags, char **ret_dev, int *ret_fd)
{
	bool ro = flags & BLZ_LOOP_RDONLY;
	_cleanup_close_ int file_fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (file_fd < 0)
		return -errno;
	_cleanup_close_ int ctl_fd = open(LOOP_CONTROL, O_RDWR | O_CLOEXEC);
	if (ctl_fd < 0)
		return -errno;

	struct loop_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)file_fd;
	if (ro)
		cfg.info.lo_flags |= LO_FLAGS_READ_ONLY;
	if (flags & BLZ_LOOP_AUTOCLEAR)
		cfg.info.lo_flags |= LO_FLAGS_AUTOCLEAR;
	if (flags & BLZ_LOOP_DIRECT_IO)
		cfg.info.lo_flags |= LO_FLAGS_DIRECT_IO;
	/* The kernel shows lo_file_name (truncated to 63 bytes) in LOOP_GET_STATUS; sysfs
	 * backing_file is derived from the file itself. */
	strncpy((char *)cfg.info.lo_file_name, path, LO_NAME_SIZE - 1);

	int r = -EBUSY;
	for (int tries = 0; tries < ATTACH_TRIES; tries++) {
		int nr = ioctl(ctl_fd, LOOP_CTL_GET_FREE);
		if (nr < 0)
			return -errno;
		char *dev = loop_dev_path(nr);
		int dev_fd = open_loop_dev(dev, ro ? O_RDONLY : O_RDWR);
		if (dev_fd < 0) {
			r = dev_fd;
			free(dev);
			/* Another process may have removed it (LOOP_CTL_REMOVE) meanwhile. */
			if (r == -ENOENT || r == -ENXIO)
				continue;
			return r;
		}
		if (ioctl(dev_fd, LOOP_CONFIGURE, &cfg) == 0) {
			*ret_dev = dev;
			if (ret_fd)
				*ret_fd = dev_fd;
			else
				close(dev_fd);
			return 0;
		}
		r = -errno;
		close(dev_fd);
		free(dev);
		/* EBUSY: someone configured that device between GET_FREE and CONFIGURE. */
		if (r != -EBUSY)
			return r;
	}
	return r;
}

int blz_loop_detach(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	for (int i = 0; i < DETACH_TRIES; i++) {
		if (ioctl(fd, LOOP_CLR_FD, 0) == 0) {
			r = 0;
			break;
		}
		r = -errno;
		if (r != -EBUSY)
			break;
		sleep_ms(20);
	}
	close(fd);
	return r;
}

/* Read a small sysfs attribute into buf without its trailing newline. */
static int read_attr(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = blz_read_full(fd, buf, size - 1);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

/* The kernel's dev_t as LOOP_GET_STATUS64 encodes it (huge_encode_dev). */
static bool status_dev_matches(uint64_t lo_device, dev_t st_dev)
{
	unsigned maj = (unsigned)((lo_device & 0xfff00) >> 8);
	unsigned min = (unsigned)((lo_device & 0xff) | ((lo_device >> 12) & 0xfff00));
	return maj == major(st_dev) && min == minor(st_dev);
}

/* 1 when loop device nr is backed by the file st (path is the sysfs backing_file), 0 when
 * it is not. */
static int loop_matches(int nr, const char *backing, const struct stat *st)
{
	char dev[32];
	snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
	int fd = open(dev, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		struct loop_info64 info;
		int r = ioctl(fd, LOOP_GET_STATUS64, &info);
		close(fd);
		if (r == 0)
			return info.lo_inode == st->st_ino && status_dev_matches(info.lo_device, st->st_dev);
		if (errno == ENXIO)
			return 0; /* detached meanwhile */
	}
	/* Not queryable (no permission, no node): compare the path the kernel reports. A
	 * deleted backing file shows as "PATH (deleted)" and cannot match a live file. */
	struct stat bst;
	if (stat(backing, &bst) < 0)
		return 0;
	return bst.st_dev == st->st_dev && bst.st_ino == st->st_ino;
}

int blz_loop_find(const char *path, char **ret_dev)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	DIR *d = opendir("/sys/block");
	if (!d)
		return -errno;
	int best = -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		char *end;
		long nr = strtol(de->d_name + 4, &end, 10);
		if (end == de->d_name + 4 || *end || nr < 0 || nr > INT32_MAX)
			continue;
		if (best >= 0 && nr >= best)
			continue;
		char attr[300], backing[4200];
		snprintf(attr, sizeof(attr), "/sys/block/%s/loop/backing_file", de->d_name);
		if (read_attr(attr, backing, sizeof(backing)) < 0)
			continue; /* not attached */
		if (loop_matches((int)nr, backing, &st) > 0)
			best = (int)nr;
	}
	closedir(d);
	if (best < 0)
		return -ENOENT;
	*ret_dev = loop_dev_path(best);
	return 0;
}
