#include "mount/btrfs_ioctl.h"

#include "util/fileio.h"
#include "util/le.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/ioctl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* <linux/fs.h> clashes with <sys/mount.h> on glibc >= 2.36, so the two VFS ioctls are
 * spelled out here. */
struct blz_file_clone_range {
	int64_t src_fd;
	uint64_t src_offset;
	uint64_t src_length;
	uint64_t dest_offset;
};
#define BLZ_FICLONERANGE _IOW(0x94, 13, struct blz_file_clone_range)
#define BLZ_FS_IOC_FIEMAP _IOWR('f', 11, struct fiemap)

_Static_assert(sizeof(struct blz_btrfs_vol_args) == 4096, "vol_args ABI");
_Static_assert(sizeof(struct blz_btrfs_search_key) == 104, "search_key ABI");
_Static_assert(sizeof(struct blz_btrfs_search_header) == 32, "search_header ABI");
_Static_assert(sizeof(struct blz_btrfs_search_args) == 4096, "search_args ABI");
_Static_assert(_IOW(BLZ_BTRFS_IOCTL_MAGIC, 4, struct blz_btrfs_vol_args) == BLZ_BTRFS_IOC_SCAN_DEV,
	       "SCAN_DEV");
_Static_assert(_IOW(BLZ_BTRFS_IOCTL_MAGIC, 5, struct blz_btrfs_vol_args) == BLZ_BTRFS_IOC_FORGET_DEV,
	       "FORGET_DEV");
_Static_assert(_IOW(BLZ_BTRFS_IOCTL_MAGIC, 10, struct blz_btrfs_vol_args) == BLZ_BTRFS_IOC_ADD_DEV,
	       "ADD_DEV");
_Static_assert(_IOWR(BLZ_BTRFS_IOCTL_MAGIC, 17, struct blz_btrfs_search_args) ==
		       BLZ_BTRFS_IOC_TREE_SEARCH,
	       "TREE_SEARCH");
_Static_assert(BLZ_FICLONERANGE == 0x4020940d, "FICLONERANGE");
_Static_assert(BLZ_FS_IOC_FIEMAP == 0xc020660b, "FS_IOC_FIEMAP");

int blz_mount_btrfs(const char *dev, const char *mnt, unsigned long flags, const char *opts)
{
	if (mount(dev, mnt, "btrfs", flags, opts) < 0)
		return -errno;
	return 0;
}

int blz_remount(const char *mnt, unsigned long flags, const char *opts)
{
	if (mount(NULL, mnt, NULL, MS_REMOUNT | flags, opts) < 0)
		return -errno;
	return 0;
}

int blz_umount(const char *mnt, int flags)
{
	if (umount2(mnt, flags) < 0)
		return -errno;
	return 0;
}

static int vol_args_init(struct blz_btrfs_vol_args *a, const char *devpath)
{
	memset(a, 0, sizeof(*a));
	if (!devpath)
		return 0;
	size_t n = strlen(devpath);
	if (n > BLZ_BTRFS_PATH_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(a->name, devpath, n);
	return 0;
}

int blz_btrfs_add_dev(const char *mnt, const char *devpath)
{
	struct blz_btrfs_vol_args args;
	int r = vol_args_init(&args, devpath);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, BLZ_BTRFS_IOC_ADD_DEV, &args) < 0)
		return -errno;
	return 0;
}

static int control_ioctl(unsigned long req, const char *devpath)
{
	struct blz_btrfs_vol_args args;
	int r = vol_args_init(&args, devpath);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open("/dev/btrfs-control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, req, &args) < 0)
		return -errno;
	return 0;
}

int blz_btrfs_scan_dev(const char *devpath)
{
	return control_ioctl(BLZ_BTRFS_IOC_SCAN_DEV, devpath);
}

int blz_btrfs_forget_dev(const char *devpath)
{
	return control_ioctl(BLZ_BTRFS_IOC_FORGET_DEV, devpath);
}

int blz_wipe_signatures(int fd)
{
	static const uint64_t supers[] = { 64ULL << 20, 256ULL << 30 };
	enum { HEAD = 1 << 20, SUPER = 4096 };

	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	uint64_t size = (uint64_t)end;
	uint8_t *zero = blz_xcalloc(1, HEAD);
	int r = blz_pwrite_full(fd, zero, size < HEAD ? (size_t)size : HEAD, 0);
	for (size_t i = 0; r == 0 && i < sizeof(supers) / sizeof(supers[0]); i++)
		if (supers[i] + SUPER <= size)
			r = blz_pwrite_full(fd, zero, SUPER, supers[i]);
	free(zero);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	return r;
}

int blz_clone_range(int src_fd, uint64_t src_off, uint64_t len, int dst_fd, uint64_t dst_off)
{
	struct blz_file_clone_range a = {
		.src_fd = src_fd, .src_offset = src_off, .src_length = len, .dest_offset = dst_off,
	};
	if (ioctl(dst_fd, BLZ_FICLONERANGE, &a) < 0)
		return -errno;
	return 0;
}

int blz_fiemap(int fd, struct blz_extent **ret, size_t *ret_n)
{
	enum { BATCH = 1024 };
	size_t sz = sizeof(struct fiemap) + BATCH * sizeof(struct fiemap_extent);
	struct fiemap *fm = blz_xmalloc(sz);
	VEC(struct blz_extent) out = { 0 };
	uint64_t covered = 0; /* file offsets below this are already reported */
	int r = 0;

	for (;;) {
		memset(fm, 0, sz);
		fm->fm_start = covered;
		fm->fm_length = FIEMAP_MAX_OFFSET - covered;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = BATCH;
		if (ioctl(fd, BLZ_FS_IOC_FIEMAP, fm) < 0) {
			r = -errno;
			break;
		}
		if (fm->fm_mapped_extents == 0)
			break;
		bool last = false;
		uint64_t before = covered;
		for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *fe = &fm->fm_extents[i];
			if (fe->fe_flags & FIEMAP_EXTENT_LAST)
				last = true;
			uint64_t end = fe->fe_logical + fe->fe_length;
			if (end <= covered)
				continue; /* repeated from the previous batch */
			struct blz_extent e = {
				.logical = fe->fe_logical, .physical = fe->fe_physical,
				.length = fe->fe_length, .flags = fe->fe_flags,
			};
			if (e.logical < covered) { /* overlaps the previous batch: trim */
				uint64_t cut = covered - e.logical;
				if (e.physical && !(e.flags & FIEMAP_EXTENT_ENCODED))
					e.physical += cut;
				e.logical = covered;
				e.length -= cut;
			}
			vec_push(&out, e);
			covered = end;
		}
		if (last)
			break;
		if (covered <= before) { /* no progress: should not happen */
			r = -EIO;
			break;
		}
	}
	free(fm);
	if (r < 0) {
		vec_release(&out);
		return r;
	}
	*ret = out.v;
	*ret_n = out.len;
	return 0;
}

/* CHUNK_ITEM: length, owner, stripe_len, type (u64 each), io_align, io_width, sector_size
 * (u32 each), num_stripes, sub_stripes (u16 each), then 32-byte stripes
 * {devid u64, offset u64, dev_uuid[16]}. */
enum { CHUNK_FIXED = 48, STRIPE_SIZE = 32 };

int blz_btrfs_list_chunks(int mnt_fd, struct blz_chunk **ret, size_t *ret_n)
{
	struct blz_btrfs_search_args *args = blz_xmalloc(sizeof(*args));
	VEC(struct blz_chunk) out = { 0 };
	uint64_t min_offset = 0;
	int r = 0;

	for (;;) {
		memset(&args->key, 0, sizeof(args->key));
		args->key.tree_id = BLZ_BTRFS_CHUNK_TREE_OBJECTID;
		args->key.min_objectid = args->key.max_objectid = BLZ_BTRFS_FIRST_CHUNK_TREE_OBJECTID;
		args->key.min_type = args->key.max_type = BLZ_BTRFS_CHUNK_ITEM_KEY;
		args->key.min_offset = min_offset;
		args->key.max_offset = UINT64_MAX;
		args->key.max_transid = UINT64_MAX;
		args->key.nr_items = 4096;
		if (ioctl(mnt_fd, BLZ_BTRFS_IOC_TREE_SEARCH, args) < 0) {
			r = -errno;
			break;
		}
		uint32_t n = args->key.nr_items;
		if (n == 0)
			break;
		size_t pos = 0;
		bool at_end = false;
		uint64_t before = min_offset;
		for (uint32_t i = 0; i < n; i++) {
			struct blz_btrfs_search_header h;
			if (pos + sizeof(h) > sizeof(args->buf)) {
				r = -EIO;
				break;
			}
			memcpy(&h, args->buf + pos, sizeof(h));
			pos += sizeof(h);
			if (h.len > sizeof(args->buf) - pos) {
				r = -EIO;
				break;
			}
			const uint8_t *item = (const uint8_t *)args->buf + pos;
			pos += h.len;
			if (h.objectid != BLZ_BTRFS_FIRST_CHUNK_TREE_OBJECTID ||
			    h.type != BLZ_BTRFS_CHUNK_ITEM_KEY)
				continue;
			if (h.offset == UINT64_MAX)
				at_end = true;
			else if (h.offset + 1 > min_offset)
				min_offset = h.offset + 1;
			if (h.len < CHUNK_FIXED + STRIPE_SIZE) {
				r = -EUCLEAN;
				break;
			}
			uint16_t num_stripes = get_le16(item + 44);
			if (num_stripes == 0 || h.len < CHUNK_FIXED + (size_t)num_stripes * STRIPE_SIZE) {
				r = -EUCLEAN;
				break;
			}
			struct blz_chunk c = {
				.logical = h.offset,
				.length = get_le64(item + 0),
				.type = get_le64(item + 24),
				.devid = get_le64(item + CHUNK_FIXED + 0),
				.physical = get_le64(item + CHUNK_FIXED + 8),
				.num_stripes = num_stripes,
			};
			vec_push(&out, c);
		}
		if (r < 0 || at_end || min_offset == before)
			break;
	}
	free(args);
	if (r < 0) {
		vec_release(&out);
		return r;
	}
	*ret = out.v;
	*ret_n = out.len;
	return 0;
}
