/* Is a block device in use: see inuse.h. */
#include "mount/inuse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mount/mountinfo.h"

/* BTRFS_IOC_FS_INFO: _IOR(0x94, 31, 1024 bytes); max_id is its first field (u64). */
#define IOC_FS_INFO 0x8400941fu
#define FS_INFO_SIZE 1024
/* BTRFS_IOC_DEV_INFO: _IOWR(0x94, 30, 4096 bytes); devid (u64) in, path (1024 bytes at
 * 3072) out. Seed devices are found by devid too. */
#define IOC_DEV_INFO 0xd000941eu
#define DEV_INFO_SIZE 4096
#define DEV_INFO_PATH_OFF 3072
#define MAX_DEVID 4096

/* Whether the device path in a btrfs answer is the disk rdev (named name in /dev). */
static int same_disk(const char *path, dev_t rdev, const char *name)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISBLK(st.st_mode))
		return st.st_rdev == rdev;
	const char *base = strrchr(path, '/');
	return !strcmp(base ? base + 1 : path, name);
}

/* Whether the btrfs filesystem mounted on mnt has the disk among its devices. */
static int btrfs_uses(const char *mnt, dev_t rdev, const char *name)
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	uint64_t fs[FS_INFO_SIZE / 8] = { 0 };
	int found = 0;
	if (ioctl(fd, IOC_FS_INFO, fs) == 0) {
		uint64_t max = fs[0] < MAX_DEVID ? fs[0] : MAX_DEVID;
		uint64_t *di = calloc(1, DEV_INFO_SIZE);
		for (uint64_t id = 1; di && id <= max && !found; id++) {
			memset(di, 0, DEV_INFO_SIZE);
			di[0] = id;
			if (ioctl(fd, IOC_DEV_INFO, di) < 0)
				continue;
			char *path = (char *)di + DEV_INFO_PATH_OFF;
			path[1023] = 0;
			found = same_disk(path, rdev, name);
		}
		free(di);
	}
	close(fd);
	return found;
}

static int check_mounts(dev_t rdev, const char *name, char *what, size_t len)
{
	struct blz_mnt *m;
	size_t n;
	int r = blz_mountinfo_read(&m, &n);
	if (r < 0)
		return r;
	int found = 0;
	for (size_t i = 0; i < n && !found; i++) {
		if (m[i].major == major(rdev) && m[i].minor == minor(rdev)) {
			snprintf(what, len, "mounted on %s", m[i].path);
			found = 1;
		}
	}
	for (size_t i = 0; i < n && !found; i++) {
		if (!strcmp(m[i].fstype, "btrfs") && btrfs_uses(m[i].path, rdev, name)) {
			snprintf(what, len, "a device of the btrfs filesystem mounted on %s", m[i].path);
			found = 1;
		}
	}
	blz_mnt_free(m, n);
	return found;
}

static int check_holders(const char *name, char *what, size_t len)
{
	char dir[300];
	snprintf(dir, sizeof(dir), "/sys/class/block/%s/holders", name);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int found = 0;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(what, len, "held by %s", e->d_name);
		found = 1;
	}
	closedir(d);
	return found;
}

int blz_blockdev_in_use(const char *dev, char *what, size_t len)
{
	struct stat st;
	if (stat(dev, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	int r = check_mounts(st.st_rdev, name, what, len);
	if (r == 0)
		r = check_holders(name, what, len);
	if (r != 0)
		return r;
	int fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EBUSY) {
		snprintf(what, len, "open exclusively by another user");
		return 1;
	}
	return 0; /* gone, or cannot be opened at all: nothing to protect */
}
