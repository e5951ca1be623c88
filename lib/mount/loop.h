/* Loop devices by ioctl alone: attach a file (LOOP_CTL_GET_FREE + LOOP_CONFIGURE), detach
 * (LOOP_CLR_FD), and find the device that backs a file. All functions return 0 or -errno. */
#ifndef BLZ_MOUNT_LOOP_H
#define BLZ_MOUNT_LOOP_H


enum {
	BLZ_LOOP_RDONLY = 1 << 0,    /* the device is read-only; the file is opened O_RDONLY */
	BLZ_LOOP_AUTOCLEAR = 1 << 1, /* the kernel detaches the device on its last close */
	BLZ_LOOP_DIRECT_IO = 1 << 2, /* LO_FLAGS_DIRECT_IO (bypass the page cache of the file) */
};

/*
 * Attach the file at path to a free loop device.
 * On success *ret_dev is a malloc'ed device path ("/dev/loop3"). When ret_fd is not NULL the
 * device stays open and *ret_fd is its descriptor (O_RDWR, or O_RDONLY with BLZ_LOOP_RDONLY);
 * otherwise the device is closed before returning. With BLZ_LOOP_AUTOCLEAR and ret_fd NULL the
 * kernel may clear the device as soon as this function closes it, so keep the fd open (or open
 * the device otherwise, e.g. by mounting it) when using autoclear.
 * Races with other processes taking the same free device are retried.
 */
int blz_loop_attach(const char *path, unsigned flags, char **ret_dev, int *ret_fd);

/* Detach a loop device by path. Retries briefly on EBUSY. -ENXIO when it is not attached.
 * If the device is still in use (mounted), the kernel marks it for autoclear and returns 0;
 * it is then freed on its last close. */
int blz_loop_detach(const char *dev);

/* Find the lowest-numbered loop device backed by the file at path (compared by st_dev and
 * st_ino when the device can be queried, otherwise by the path the kernel reports).
 * *ret_dev is malloc'ed. -ENOENT when no loop device backs the file. */
int blz_loop_find(const char *path, char **ret_dev);

#endif
