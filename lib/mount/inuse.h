/*
 * Whether a block device is in use by something that pulling it away would leave on a dead
 * disk: the one check `blazy stop` makes before it takes a device down.
 */
#ifndef BLZ_MOUNT_INUSE_H
#define BLZ_MOUNT_INUSE_H

#include <stddef.h>

/*
 * Checks, in this order, and names the first user found in what (len bytes):
 *  - a mount of dev itself in /proc/self/mountinfo (by device number): "mounted on MNT";
 *  - a btrfs filesystem with dev among its devices, a seed under a sprout included (btrfs
 *    mounts show an anonymous device number; each btrfs mount is asked with
 *    BTRFS_IOC_FS_INFO and BTRFS_IOC_DEV_INFO): "a device of the btrfs filesystem mounted
 *    on MNT";
 *  - a block device stacked on it (/sys/class/block/NAME/holders): "held by NAME";
 *  - any other exclusive opener (an O_EXCL open fails with EBUSY): "open exclusively by
 *    another user".
 * Mounts are those of the caller's mount namespace. Returns 1 in use, 0 not (or dev does not
 * exist), -errno when dev cannot be checked.
 */
int blz_blockdev_in_use(const char *dev, char *what, size_t len);

#endif
