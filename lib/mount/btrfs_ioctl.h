/* The btrfs and VFS ioctls that mounting, sprouting and mapping need, by raw syscalls.
 * All functions return 0 or -errno and never print. */
#ifndef BLZ_MOUNT_BTRFS_IOCTL_H
#define BLZ_MOUNT_BTRFS_IOCTL_H

#include <stddef.h>
#include <stdint.h>

/* ---- ABI (uapi linux/btrfs.h), defined here so any libc's headers do ---- */

#define BLZ_BTRFS_IOCTL_MAGIC 0x94
#define BLZ_BTRFS_PATH_NAME_MAX 4087

struct blz_btrfs_vol_args {
	int64_t fd;
	char name[BLZ_BTRFS_PATH_NAME_MAX + 1];
};

struct blz_btrfs_search_key {
	uint64_t tree_id;
	uint64_t min_objectid, max_objectid;
	uint64_t min_offset, max_offset;
	uint64_t min_transid, max_transid;
	uint32_t min_type, max_type;
	uint32_t nr_items; /* in: the most items to return; out: the number returned */
	uint32_t unused;
	uint64_t unused1, unused2, unused3, unused4;
};

/* Precedes each item in the search buffer; host byte order (the item itself is on-disk LE). */
struct blz_btrfs_search_header {
	uint64_t transid;
	uint64_t objectid;
	uint64_t offset;
	uint32_t type;
	uint32_t len;
};

#define BLZ_BTRFS_SEARCH_BUF_SIZE (4096 - sizeof(struct blz_btrfs_search_key))
struct blz_btrfs_search_args {
	struct blz_btrfs_search_key key;
	char buf[BLZ_BTRFS_SEARCH_BUF_SIZE];
};

/* _IOW/_IOWR(0x94, nr, type), spelled out as numbers (checked against the struct sizes in
 * btrfs_ioctl.c). */
#define BLZ_BTRFS_IOC_SCAN_DEV 0x50009404u    /* _IOW(0x94, 4, vol_args) */
#define BLZ_BTRFS_IOC_FORGET_DEV 0x50009405u  /* _IOW(0x94, 5, vol_args) */
#define BLZ_BTRFS_IOC_ADD_DEV 0x5000940au     /* _IOW(0x94, 10, vol_args) */
#define BLZ_BTRFS_IOC_TREE_SEARCH 0xd0009411u /* _IOWR(0x94, 17, search_args) */

#define BLZ_BTRFS_EXTENT_TREE_OBJECTID 2ULL
#define BLZ_BTRFS_CHUNK_TREE_OBJECTID 3ULL
#define BLZ_BTRFS_FS_TREE_OBJECTID 5ULL
#define BLZ_BTRFS_FIRST_FREE_OBJECTID 256ULL
#define BLZ_BTRFS_FIRST_CHUNK_TREE_OBJECTID 256ULL
#define BLZ_BTRFS_CHUNK_ITEM_KEY 228u
#define BLZ_BTRFS_EXTENT_DATA_KEY 108u
#define BLZ_BTRFS_EXTENT_ITEM_KEY 168u

#define BLZ_BTRFS_FILE_EXTENT_INLINE 0
#define BLZ_BTRFS_FILE_EXTENT_REG 1
#define BLZ_BTRFS_FILE_EXTENT_PREALLOC 2

/* LOGICAL_INO_V2 flags */
#define BLZ_BTRFS_LOGICAL_INO_IGNORE_OFFSET (1ULL << 0)

/* Block group type flags (CHUNK_ITEM type). */
#define BLZ_BTRFS_BLOCK_GROUP_DATA (1ULL << 0)
#define BLZ_BTRFS_BLOCK_GROUP_SYSTEM (1ULL << 1)
#define BLZ_BTRFS_BLOCK_GROUP_METADATA (1ULL << 2)
#define BLZ_BTRFS_BLOCK_GROUP_DUP (1ULL << 5)

/* ---- mount(2) / umount2(2) ---- */

/* mount(dev, mnt, "btrfs", flags, opts); opts may be NULL. */
int blz_mount_btrfs(const char *dev, const char *mnt, unsigned long flags, const char *opts);
/* mount(NULL, mnt, NULL, MS_REMOUNT | flags, opts). */
int blz_remount(const char *mnt, unsigned long flags, const char *opts);
int blz_umount(const char *mnt, int flags);

/* ---- devices ---- */

/* BTRFS_IOC_ADD_DEV on the mounted filesystem mnt (a sprout when it is a seed). */
int blz_btrfs_add_dev(const char *mnt, const char *devpath);
/* BTRFS_IOC_SCAN_DEV / BTRFS_IOC_FORGET_DEV via /dev/btrfs-control. forget with devpath NULL
 * (or "") forgets every unmounted device, everyone's.
 * Seen on 6.18: FORGET returns 0 whether or not it matched anything, and after a seed has been
 * sprouted in this boot, forgetting the seed by path leaves its registration in place (apparently
 * a copy of the seed's device list whose device has no dev_t: the kernel later logs "maj:min
 * changed from 0:0"), so a later mount of the sprout still finds the seed; only the forget-all
 * form drops it. */
int blz_btrfs_scan_dev(const char *devpath);
int blz_btrfs_forget_dev(const char *devpath);

/* Zero what identifies a device or file as holding a filesystem: the first 1 MiB and the
 * btrfs superblock copies at 64 MiB and 256 GiB when they lie within its size. Syncs. */
int blz_wipe_signatures(int fd);

/* ---- data mapping ---- */

/* FICLONERANGE: clone [src_off, src_off+len) of src_fd to dst_off in dst_fd (len 0 = to the
 * source's end). */
int blz_clone_range(int src_fd, uint64_t src_off, uint64_t len, int dst_fd, uint64_t dst_off);

struct blz_extent {
	uint64_t logical;  /* offset in the file */
	uint64_t physical; /* fe_physical: a btrfs logical address on btrfs; 0 for inline */
	uint64_t length;
	uint32_t flags;    /* FIEMAP_EXTENT_* */
};

/* FS_IOC_FIEMAP over the whole file (flushing delayed allocation first). *ret is malloc'ed
 * (NULL when the file has no extents); the caller frees it. */
int blz_fiemap(int fd, struct blz_extent **ret, size_t *ret_n);

struct blz_chunk {
	uint64_t logical;
	uint64_t length;
	uint64_t type;         /* BLZ_BTRFS_BLOCK_GROUP_* */
	uint64_t devid;        /* of stripe 0 */
	uint64_t physical;     /* of stripe 0 */
	uint16_t num_stripes;
};

/* Every CHUNK_ITEM of the filesystem mounted at mnt_fd (any fd inside it), in logical order,
 * via BTRFS_IOC_TREE_SEARCH (CAP_SYS_ADMIN). *ret is malloc'ed; the caller frees it. */
int blz_btrfs_list_chunks(int mnt_fd, struct blz_chunk **ret, size_t *ret_n);

/* ---- from addresses to files (all need CAP_SYS_ADMIN) ---- */

/* One file extent item of an inode (EXTENT_DATA). For regular and prealloc extents the
 * file bytes [file_off, file_off + num_bytes) are the extent's bytes from offset on, that is
 * the addresses [disk_bytenr + offset, + num_bytes) unless compressed (then the whole
 * [disk_bytenr, + disk_num_bytes) is read for any of them). disk_bytenr 0 is a hole. */
struct blz_file_extent_item {
	uint64_t file_off;
	uint8_t type, compression;
	uint64_t disk_bytenr, disk_num_bytes, offset, num_bytes;
};

/* Every EXTENT_DATA item of inode ino in tree root (a subvolume id), in file order, via
 * TREE_SEARCH on fd (any fd inside the filesystem). *ret is malloc'ed; the caller frees it. */
int blz_btrfs_file_extents(int fd, uint64_t root, uint64_t ino,
			   struct blz_file_extent_item **ret, size_t *ret_n);

/* The first data extent (EXTENT_ITEM of the extent tree) starting in [from, below): 1 with
 * its start and length, 0 if none. */
int blz_btrfs_next_extent(int fd, uint64_t from, uint64_t below, uint64_t *ret_start,
			  uint64_t *ret_len);

struct blz_btrfs_ino_ref {
	uint64_t ino, offset, root;
};

/* BTRFS_IOC_LOGICAL_INO_V2: the file extent items that reference the data extent holding the
 * address logical. Without BLZ_BTRFS_LOGICAL_INO_IGNORE_OFFSET only those whose bytes
 * include that very address, each with the file offset of it; with it, every reference to
 * the extent (offset is then not meaningful). The result buffer grows up to the kernel's
 * 16 MiB; references that did not fit even then are counted in *ret_missed. -ENOENT when no
 * data extent holds the address. *ret is malloc'ed. */
int blz_btrfs_logical_ino(int fd, uint64_t logical, unsigned flags,
			  struct blz_btrfs_ino_ref **ret, size_t *ret_n, uint64_t *ret_missed);

/* BTRFS_IOC_INO_PATHS: the paths of inode ino of fd's subvolume, relative to its root, one
 * per hard link. The kernel returns at most 4 KiB of them; names that did not fit are counted
 * in *ret_missed. *ret is a malloc'ed array of malloc'ed strings. */
int blz_btrfs_ino_paths(int fd, uint64_t ino, char ***ret, size_t *ret_n, uint64_t *ret_missed);

/* The id of the subvolume fd lies in (BTRFS_IOC_INO_LOOKUP). */
int blz_btrfs_subvol_id(int fd, uint64_t *ret);

#endif
