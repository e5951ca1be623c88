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

/* Calls fn for every item of tree whose key lies in [(min_obj, type, min_off),
 * (max_obj, type, UINT64_MAX)] and whose type is type, in key order, via
 * BTRFS_IOC_TREE_SEARCH (CAP_SYS_ADMIN). The range is one of whole keys, so items of other
 * types lie in between; they are skipped. fn returns 0 to go on, 1 to stop, or -errno. */
typedef int (*search_fn)(void *ctx, const struct blz_btrfs_search_header *h, const uint8_t *item);

static int search_items(int fd, uint64_t tree, uint64_t min_obj, uint64_t max_obj, uint32_t type,
			uint64_t min_off, search_fn fn, void *ctx)
{
	struct blz_btrfs_search_args *args = blz_xmalloc(sizeof(*args));
	uint32_t min_type = type;
	int r = 0;

	for (;;) {
		memset(&args->key, 0, sizeof(args->key));
		args->key.tree_id = tree;
		args->key.min_objectid = min_obj;
		args->key.max_objectid = max_obj;
		args->key.min_type = min_type;
		args->key.max_type = type;
		args->key.min_offset = min_off;
		args->key.max_offset = UINT64_MAX;
		args->key.max_transid = UINT64_MAX;
		args->key.nr_items = 4096;
		if (ioctl(fd, BLZ_BTRFS_IOC_TREE_SEARCH, args) < 0) {
			r = -errno;
			break;
		}
		uint32_t n = args->key.nr_items;
		if (n == 0)
			break;
		size_t pos = 0;
		struct blz_btrfs_search_header h = { 0 };
		for (uint32_t i = 0; i < n && r == 0; i++) {
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
			if (h.type == type)
				r = fn(ctx, &h, item);
		}
		if (r != 0)
			break;
		/* Go on after the last key returned. */
		if (h.offset < UINT64_MAX) {
			min_obj = h.objectid;
			min_type = h.type;
			min_off = h.offset + 1;
		} else if (h.type < 255) {
			min_obj = h.objectid;
			min_type = h.type + 1;
			min_off = 0;
		} else if (h.objectid < max_obj) {
			min_obj = h.objectid + 1;
			min_type = 0;
			min_off = 0;
		} else {
			break;
		}
		if (min_obj > max_obj || (min_obj == max_obj && min_type > type))
			break;
	}
	free(args);
	return r < 0 ? r : 0;
}

/* CHUNK_ITEM: length, owner, stripe_len, type (u64 each), io_align, io_width, sector_size
 * (u32 each), num_stripes, sub_stripes (u16 each), then 32-byte stripes
 * {devid u64, offset u64, dev_uuid[16]}. */
enum { CHUNK_FIXED = 48, STRIPE_SIZE = 32 };

struct chunk_vec {
	struct blz_chunk *v;
	size_t len, cap;
};

static int add_chunk(void *ctx, const struct blz_btrfs_search_header *h, const uint8_t *item)
{
	struct chunk_vec *out = ctx;
	uint32_t len = h->len;
	if (len < CHUNK_FIXED + STRIPE_SIZE)
		return -EUCLEAN;
	uint16_t num_stripes = get_le16(item + 44);
	if (num_stripes == 0 || len < CHUNK_FIXED + (size_t)num_stripes * STRIPE_SIZE)
		return -EUCLEAN;
	struct blz_chunk c = {
		.logical = h->offset,
		.length = get_le64(item + 0),
		.type = get_le64(item + 24),
		.devid = get_le64(item + CHUNK_FIXED + 0),
		.physical = get_le64(item + CHUNK_FIXED + 8),
		.num_stripes = num_stripes,
	};
	vec_push(out, c);
	return 0;
}

int blz_btrfs_list_chunks(int mnt_fd, struct blz_chunk **ret, size_t *ret_n)
{
	struct chunk_vec out = { 0 };
	int r = search_items(mnt_fd, BLZ_BTRFS_CHUNK_TREE_OBJECTID,
			     BLZ_BTRFS_FIRST_CHUNK_TREE_OBJECTID, BLZ_BTRFS_FIRST_CHUNK_TREE_OBJECTID,
			     BLZ_BTRFS_CHUNK_ITEM_KEY, 0, add_chunk, &out);
	if (r < 0) {
		vec_release(&out);
		return r;
	}
	*ret = out.v;
	*ret_n = out.len;
	return 0;
}

/* FILE_EXTENT_ITEM: generation, ram_bytes (u64), compression, encryption (u8),
 * other_encoding (u16), type (u8) = 21 bytes; then for regular and prealloc extents
 * disk_bytenr, disk_num_bytes, offset, num_bytes (u64 each). */
enum { FE_HEAD = 21, FE_REG = 53 };

struct fext_vec {
	struct blz_file_extent_item *v;
	size_t len, cap;
};

static int add_file_extent(void *ctx, const struct blz_btrfs_search_header *h,
			   const uint8_t *item)
{
	struct fext_vec *out = ctx;
	uint32_t len = h->len;
	if (len < FE_HEAD)
		return -EUCLEAN;
	struct blz_file_extent_item e = {
		.file_off = h->offset, .compression = item[16], .type = item[20],
	};
	if (e.type != BLZ_BTRFS_FILE_EXTENT_INLINE) {
		if (len < FE_REG)
			return -EUCLEAN;
		e.disk_bytenr = get_le64(item + 21);
		e.disk_num_bytes = get_le64(item + 29);
		e.offset = get_le64(item + 37);
		e.num_bytes = get_le64(item + 45);
	}
	vec_push(out, e);
	return 0;
}

int blz_btrfs_file_extents(int fd, uint64_t root, uint64_t ino,
			   struct blz_file_extent_item **ret, size_t *ret_n)
{
	struct fext_vec out = { 0 };
	int r = search_items(fd, root, ino, ino, BLZ_BTRFS_EXTENT_DATA_KEY, 0, add_file_extent, &out);
	if (r < 0) {
		vec_release(&out);
		return r;
	}
	*ret = out.v;
	*ret_n = out.len;
	return 0;
}

struct next_extent {
	uint64_t start, len;
	bool found;
};

static int take_extent(void *ctx, const struct blz_btrfs_search_header *h, const uint8_t *item)
{
	struct next_extent *n = ctx;
	n->start = h->objectid;
	n->len = h->offset;
	n->found = true;
	return 1;
}

int blz_btrfs_next_extent(int fd, uint64_t from, uint64_t below, uint64_t *ret_start,
			  uint64_t *ret_len)
{
	if (below <= from)
		return 0;
	struct next_extent n = { 0 };
	int r = search_items(fd, BLZ_BTRFS_EXTENT_TREE_OBJECTID, from, below - 1,
			     BLZ_BTRFS_EXTENT_ITEM_KEY, 0, take_extent, &n);
	if (r < 0)
		return r;
	if (!n.found)
		return 0;
	*ret_start = n.start;
	*ret_len = n.len;
	return 1;
}

/* The result of LOGICAL_INO and INO_PATHS: a header, then u64 values. */
struct data_container {
	uint32_t bytes_left, bytes_missing, elem_cnt, elem_missed;
	uint64_t val[];
};

struct logical_ino_args {
	uint64_t logical, size, reserved[3], flags, inodes;
};

struct ino_path_args {
	uint64_t inum, size, reserved[4], fspath;
};

struct ino_lookup_args {
	uint64_t treeid, objectid;
	char name[4080];
};

#define LOGICAL_INO_V2 _IOWR(BLZ_BTRFS_IOCTL_MAGIC, 59, struct logical_ino_args)
#define INO_PATHS _IOWR(BLZ_BTRFS_IOCTL_MAGIC, 35, struct ino_path_args)
#define INO_LOOKUP _IOWR(BLZ_BTRFS_IOCTL_MAGIC, 18, struct ino_lookup_args)
_Static_assert(LOGICAL_INO_V2 == 0xc038943b, "LOGICAL_INO_V2");
_Static_assert(INO_PATHS == 0xc0389423, "INO_PATHS");
_Static_assert(INO_LOOKUP == 0xd0009412, "INO_LOOKUP");
_Static_assert(sizeof(struct data_container) == 16, "data_container ABI");

/* The kernel fills at most this much (fs/btrfs/ioctl.c: 16 MiB for v2, 4 KiB for paths). */
#define LOGICAL_INO_MAX (16u << 20)
#define INO_PATHS_MAX 4096u

int blz_btrfs_logical_ino(int fd, uint64_t logical, unsigned flags,
			  struct blz_btrfs_ino_ref **ret, size_t *ret_n, uint64_t *ret_missed)
{
	uint32_t size = 64u << 10;
	for (;;) {
		struct data_container *c = blz_xcalloc(1, size);
		struct logical_ino_args a = {
			.logical = logical, .size = size, .flags = flags,
			.inodes = (uint64_t)(uintptr_t)c,
		};
		if (ioctl(fd, LOGICAL_INO_V2, &a) < 0) {
			int e = errno;
			free(c);
			return -e;
		}
		/* Too small: ask again with room for what was missing, up to the kernel's limit. */
		if (c->bytes_missing && size < LOGICAL_INO_MAX) {
			uint64_t want = (uint64_t)size + c->bytes_missing + 4096;
			size = want > LOGICAL_INO_MAX ? LOGICAL_INO_MAX : (uint32_t)want;
			free(c);
			continue;
		}
		size_t n = c->elem_cnt / 3;
		struct blz_btrfs_ino_ref *v = blz_xcalloc(n ? n : 1, sizeof(*v));
		for (size_t i = 0; i < n; i++) {
			/* build_ino_list: inum, offset, root */
			v[i].ino = c->val[3 * i];
			v[i].offset = c->val[3 * i + 1];
			v[i].root = c->val[3 * i + 2];
		}
		*ret = v;
		*ret_n = n;
		*ret_missed = c->elem_missed / 3;
		free(c);
		return 0;
	}
}

int blz_btrfs_ino_paths(int fd, uint64_t ino, char ***ret, size_t *ret_n, uint64_t *ret_missed)
{
	struct data_container *c = blz_xcalloc(1, INO_PATHS_MAX + 1);
	struct ino_path_args a = { .inum = ino, .size = INO_PATHS_MAX, .fspath = (uint64_t)(uintptr_t)c };
	if (ioctl(fd, INO_PATHS, &a) < 0) {
		int e = errno;
		free(c);
		return -e;
	}
	/* val[i] is the offset of a NUL-terminated path from &val[0]. */
	size_t n = c->elem_cnt, limit = INO_PATHS_MAX - sizeof(*c);
	char **v = blz_xcalloc(n + 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t at = c->val[i];
		if (at >= limit || (i + 1) * sizeof(uint64_t) > limit)
			continue;
		const char *p = (const char *)c->val + at;
		size_t len = strnlen(p, limit - at);
		if (len == limit - at)
			continue; /* not terminated within the buffer */
		v[k++] = blz_xstrdup(p);
	}
	*ret = v;
	*ret_n = k;
	*ret_missed = c->elem_missed + (n - k);
	free(c);
	return 0;
}

int blz_btrfs_subvol_id(int fd, uint64_t *ret)
{
	struct ino_lookup_args *a = blz_xcalloc(1, sizeof(*a));
	a->objectid = BLZ_BTRFS_FIRST_FREE_OBJECTID; /* the subvolume's own root: no path needed */
	if (ioctl(fd, INO_LOOKUP, a) < 0) {
		int e = errno;
		free(a);
		return -e;
	}
	*ret = a->treeid;
	free(a);
	return 0;
}
