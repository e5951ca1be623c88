/* The mount table of a process, from /proc/PID/mountinfo. */
#ifndef BLZ_MOUNT_MOUNTINFO_H
#define BLZ_MOUNT_MOUNTINFO_H

#include <stddef.h>
#include <stdint.h>

/* One line of /proc/PID/mountinfo: the mount's id, its parent's, and where it is mounted
 * (escapes decoded). */
struct blz_mnt {
	uint64_t id, parent;
	char *path; /* malloc'ed */
	unsigned major, minor; /* st_dev of its files (btrfs: an anonymous one, not a disk's) */
	char fstype[32];       /* "" when the line has no " - " separator; cut at 31 bytes */
};

/* Parses one mountinfo line (without its newline). 0, or -EINVAL for a malformed line. */
int blz_mountinfo_parse_line(const char *line, struct blz_mnt *ret);
/* Reads /proc/self/mountinfo; frees with blz_mnt_free. */
int blz_mountinfo_read(struct blz_mnt **ret, size_t *ret_n);
void blz_mnt_free(struct blz_mnt *m, size_t n);

#endif
