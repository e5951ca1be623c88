#include "btrfs/inspect.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "btrfs/format.h"
#include "btrfs/items.h"
#include "btrfs/writer.h"
#include "util/crc32c.h"
#include "util/fileio.h"
#include "util/le.h"
#include "util/strbuf.h"

struct reader {
	int fd;
	struct blz_seed_info *info;
	char *err;
	size_t errlen;
	uint8_t fsid[16];
	uint8_t *block;
	size_t chunks_cap;
	uint64_t next_chunk; /* chunk tree items come in key order: the least next logical */
	/* fs tree walk state */
	uint64_t blazy_dir, virtual_ino;
	VEC(struct blz_chunk_info) vext; /* extents of the virtual file: logical = file offset */
	uint64_t fs_root;
	int fs_level;
	/* The walk in progress: the blocks it has read (an open-addressing set of logical
	 * addresses, 0 = empty slot) and how many more it may read. */
	uint64_t *seen;
	size_t seen_cap, seen_len;
	uint64_t budget;
	/* blz_sprout_inspect: the devices found, this device's id (its blocks are on fd), the
	 * other device's fd and fsid, and a cap on the blocks a walk may read (0 = none). */
	struct blz_sprout_info *sprout;
	uint64_t self_devid;
	int other_fd;
	uint8_t other_fsid[16];
	uint64_t budget_cap;
	void *user;	/* a caller's walk state (blz_seed_file_ranges) */
};

static int fail(struct reader *rd, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rd->err, rd->errlen, fmt, ap);
	va_end(ap);
	return r;
}

int blz_chunk_map(const struct blz_chunk_info *chunks, size_t n, uint64_t logical,
		  uint64_t *ret_physical)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (chunks[mid].logical + chunks[mid].length <= logical)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && chunks[lo].logical <= logical) {
		*ret_physical = chunks[lo].physical + (logical - chunks[lo].logical);
		return 0;
	}
	return -ENOENT;
}

/* Index of the first chunk whose logical address is >= logical. */
static size_t chunk_lower_bound(const struct blz_seed_info *info, uint64_t logical)
{
	size_t lo = 0, hi = info->nchunks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (info->chunks[mid].logical < logical)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Adds a chunk unless one at that logical address is known (the superblock's system
 * chunks come again in the chunk tree). Keeps the list sorted so lookups can bisect; items
 * arrive in key order, so this appends (a 4 EiB seed has 32k chunks). */
static void add_chunk(struct reader *rd, uint64_t logical, const uint8_t *p)
{
	struct blz_seed_info *info = rd->info;
	size_t pos = chunk_lower_bound(info, logical);
	if (pos < info->nchunks && info->chunks[pos].logical == logical)
		return;
	if (info->nchunks == rd->chunks_cap) {
		rd->chunks_cap = rd->chunks_cap ? rd->chunks_cap * 2 : 64;
		info->chunks = blz_xrealloc(info->chunks, rd->chunks_cap * sizeof(*info->chunks));
	}
	memmove(&info->chunks[pos + 1], &info->chunks[pos],
		(info->nchunks - pos) * sizeof(*info->chunks));
	info->nchunks++;
	struct blz_chunk_info *c = &info->chunks[pos];
	c->logical = logical;
	c->length = get_le64(p);
	c->type = get_le64(p + 24);
	c->physical = get_le64(p + 56);
	c->devid = get_le64(p + 48);
}

static int read_block(struct reader *rd, uint64_t logical, int level)
{
	size_t ci = chunk_lower_bound(rd->info, logical);
	if (ci < rd->info->nchunks && rd->info->chunks[ci].logical == logical)
		ci++;
	const struct blz_chunk_info *c = ci ? &rd->info->chunks[ci - 1] : NULL;
	if (!c || logical - c->logical >= c->length)
		return fail(rd, -EUCLEAN, "tree block %llu is outside every chunk",
			    (unsigned long long)logical);
	if (c->length - (logical - c->logical) < BTRFS_NODESIZE)
		return fail(rd, -EUCLEAN, "tree block %llu crosses the end of its chunk",
			    (unsigned long long)logical);
	uint64_t phys = c->physical + (logical - c->logical);
	int fd = rd->fd;
	const uint8_t *fsid = rd->fsid;
	if (rd->sprout && c->devid != rd->self_devid) {
		if (rd->other_fd < 0)
			return fail(rd, -EUCLEAN, "tree block %llu lies on device %llu, not on this one",
				    (unsigned long long)logical, (unsigned long long)c->devid);
		fd = rd->other_fd;
		fsid = rd->other_fsid;
	} else if (phys > rd->info->image_size ||
		   rd->info->image_size - phys < BTRFS_NODESIZE) {
		return fail(rd, -EUCLEAN, "tree block %llu lies beyond the end of the image",
			    (unsigned long long)logical);
	}
	int r = blz_pread_full(fd, rd->block, BTRFS_NODESIZE, phys);
	if (r < 0)
		return fail(rd, r, "cannot read tree block %llu: %s", (unsigned long long)logical,
			    strerror(-r));
	uint32_t crc = blz_crc32c(rd->block + BTRFS_CSUM_SIZE, BTRFS_NODESIZE - BTRFS_CSUM_SIZE);
	if (get_le32(rd->block) != crc)
		return fail(rd, -EBADMSG, "tree block %llu has a bad checksum",
			    (unsigned long long)logical);
	if (get_le64(rd->block + HDR_BYTENR) != logical ||
	    memcmp(rd->block + HDR_FSID, fsid, 16) != 0)
		return fail(rd, -EBADMSG, "tree block %llu does not belong here",
			    (unsigned long long)logical);
	if (level >= 0 && rd->block[HDR_LEVEL] != level)
		return fail(rd, -EBADMSG, "tree block %llu has level %d, expected %d",
			    (unsigned long long)logical, rd->block[HDR_LEVEL], level);
	return 0;
}

/* Adds a block to the walk's set; false if it was there already. Tree blocks are
 * sector-aligned, so logical | 1 is never 0 (the empty slot). */
static bool seen_add(struct reader *rd, uint64_t logical)
{
	logical |= 1;
	if (2 * (rd->seen_len + 1) > rd->seen_cap) {
		uint64_t *old = rd->seen;
		size_t old_cap = rd->seen_cap;
		rd->seen_cap = old_cap ? old_cap * 2 : 256;
		rd->seen = blz_xcalloc(rd->seen_cap, sizeof(uint64_t));
		rd->seen_len = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i])
				seen_add(rd, old[i]);
		free(old);
	}
	size_t mask = rd->seen_cap - 1;
	/* Tree blocks are nodesize-aligned, so the low bits carry nothing. */
	for (size_t i = (size_t)((logical / BTRFS_SECTORSIZE) * 0x9E3779B97F4A7C15ull) & mask;;
	     i = (i + 1) & mask) {
		if (rd->seen[i] == logical)
			return false;
		if (!rd->seen[i]) {
			rd->seen[i] = logical;
			rd->seen_len++;
			return true;
		}
	}
}

typedef int (*item_fn)(struct reader *rd, uint64_t objectid, uint8_t type, uint64_t offset,
		       const uint8_t *data, uint32_t size);

/* Visits every item of a tree in key order. */
static int walk_tree_from(struct reader *rd, uint64_t root, int level, item_fn fn)
{
	/* A valid tree references each of its blocks once and has no more blocks than the
	 * metadata chunks hold: pointers that converge on the same blocks (a crafted image
	 * whose walk would otherwise multiply without end) are refused here. */
	if (root % BTRFS_SECTORSIZE)
		return fail(rd, -EUCLEAN, "tree block %llu is not aligned", (unsigned long long)root);
	if (!seen_add(rd, root))
		return fail(rd, -EUCLEAN, "tree block %llu is referenced more than once",
			    (unsigned long long)root);
	if (rd->budget == 0)
		return fail(rd, -EUCLEAN, "a tree has more blocks than the metadata chunks hold");
	rd->budget--;
	int r = read_block(rd, root, level);
	if (r < 0)
		return r;
	uint32_t n = get_le32(rd->block + HDR_NRITEMS);
	int lvl = rd->block[HDR_LEVEL];
	if (lvl == 0) {
		if (n > LEAF_DATA_SIZE / ITEM_HDR_SIZE)
			return fail(rd, -EBADMSG, "leaf %llu has too many items", (unsigned long long)root);
		uint8_t *copy = blz_xmemdup(rd->block, BTRFS_NODESIZE);
		for (uint32_t i = 0; i < n && r >= 0; i++) {
			const uint8_t *h = copy + HDR_SIZE + (size_t)i * ITEM_HDR_SIZE;
			uint32_t off = get_le32(h + 17), size = get_le32(h + 21);
			if ((uint64_t)off + size > LEAF_DATA_SIZE) {
				r = fail(rd, -EBADMSG, "leaf %llu item %u is out of bounds",
					 (unsigned long long)root, i);
				break;
			}
			r = fn(rd, get_le64(h), h[8], get_le64(h + 9), copy + HDR_SIZE + off, size);
		}
		free(copy);
		return r;
	}
	if (n == 0 || n > NODE_MAX_PTRS)
		return fail(rd, -EBADMSG, "node %llu has %u pointers", (unsigned long long)root, n);
	uint64_t *ptrs = blz_xmalloc(n * sizeof(uint64_t));
	for (uint32_t i = 0; i < n; i++)
		ptrs[i] = get_le64(rd->block + HDR_SIZE + (size_t)i * KEY_PTR_SIZE + 17);
	for (uint32_t i = 0; i < n && r >= 0; i++)
		r = walk_tree_from(rd, ptrs[i], lvl - 1, fn);
	free(ptrs);
	return r;
}

/* Walks a whole tree whose root and level come from the image. The levels below the root
 * are checked to count down by one (read_block), so the depth is bounded here. */
static int walk_tree(struct reader *rd, uint64_t root, int level, item_fn fn)
{
	if (level >= BTRFS_MAX_LEVEL)
		return fail(rd, -EUCLEAN, "tree root %llu has level %d (at most %d)",
			    (unsigned long long)root, level, BTRFS_MAX_LEVEL - 1);
	rd->budget = 0;
	for (size_t i = 0; i < rd->info->nchunks; i++) {
		const struct blz_chunk_info *c = &rd->info->chunks[i];
		uint64_t blocks = c->length / BTRFS_NODESIZE;
		if (!(c->type & BTRFS_BLOCK_GROUP_DATA))
			rd->budget = rd->budget + blocks < rd->budget ? UINT64_MAX : rd->budget + blocks;
	}
	if (rd->budget_cap && rd->budget > rd->budget_cap)
		rd->budget = rd->budget_cap;
	if (rd->seen_cap)
		memset(rd->seen, 0, rd->seen_cap * sizeof(uint64_t));
	rd->seen_len = 0;
	return walk_tree_from(rd, root, level, fn);
}

static int chunk_item(struct reader *rd, uint64_t objectid, uint8_t type, uint64_t offset,
		      const uint8_t *data, uint32_t size)
{
	if (type != BTRFS_CHUNK_ITEM_KEY)
		return 0;
	if (size < CHUNK_ITEM_SIZE(1))
		return fail(rd, -EBADMSG, "chunk item at %llu is truncated", (unsigned long long)offset);
	/* In order, so add_chunk appends (past the few system chunks at most). */
	if (offset < rd->next_chunk)
		return fail(rd, -EBADMSG, "chunk item at %llu is out of order", (unsigned long long)offset);
	rd->next_chunk = offset == UINT64_MAX ? offset : offset + 1;
	add_chunk(rd, offset, data);
	return 0;
}

static int root_item(struct reader *rd, uint64_t objectid, uint8_t type, uint64_t offset,
		     const uint8_t *data, uint32_t size)
{
	if (type == BTRFS_ROOT_ITEM_KEY && objectid == BTRFS_FS_TREE_OBJECTID && size >= 239) {
		rd->fs_root = get_le64(data + 176);
		rd->fs_level = data[238];
	}
	return 0;
}

static int dir_lookup(const uint8_t *data, uint32_t size, const char *name, uint64_t *ret)
{
	size_t nl = strlen(name);
	uint32_t pos = 0;
	while (pos + DIR_ITEM_SIZE <= size) {
		uint16_t dl = get_le16(data + pos + 25), l = get_le16(data + pos + 27);
		if (pos + DIR_ITEM_SIZE + l + dl > size)
			return -EBADMSG;
		if (l == nl && memcmp(data + pos + DIR_ITEM_SIZE, name, nl) == 0) {
			*ret = get_le64(data + pos);
			return 1;
		}
		pos += DIR_ITEM_SIZE + l + dl;
	}
	return 0;
}

static int fs_item(struct reader *rd, uint64_t objectid, uint8_t type, uint64_t offset,
		   const uint8_t *data, uint32_t size)
{
	struct blz_seed_info *info = rd->info;
	if (type == BTRFS_INODE_ITEM_KEY && size >= INODE_ITEM_SIZE) {
		uint32_t mode = get_le32(data + 52);
		info->inodes++;
		if (S_ISREG(mode)) {
			info->files++;
			if (objectid != rd->virtual_ino)
				info->file_bytes += get_le64(data + 16);
			else
				info->virtual_size = get_le64(data + 16);
		} else if (S_ISDIR(mode)) {
			info->dirs++;
		} else if (S_ISLNK(mode)) {
			info->symlinks++;
		} else {
			info->specials++;
		}
	} else if (type == BTRFS_DIR_ITEM_KEY && objectid == 256 &&
		   offset == btrfs_name_hash(".blazy", 6)) {
		if (dir_lookup(data, size, ".blazy", &rd->blazy_dir) < 0)
			return fail(rd, -EBADMSG, "corrupt directory item in the root directory");
	} else if (type == BTRFS_DIR_ITEM_KEY && rd->blazy_dir && objectid == rd->blazy_dir &&
		   offset == btrfs_name_hash("virtual", 7)) {
		if (dir_lookup(data, size, "virtual", &rd->virtual_ino) < 0)
			return fail(rd, -EBADMSG, "corrupt directory item in /.blazy");
	} else if (type == BTRFS_EXTENT_DATA_KEY && rd->virtual_ino && objectid == rd->virtual_ino) {
		if (size < FILE_EXTENT_REG_SIZE || data[20] != BTRFS_FILE_EXTENT_REG)
			return fail(rd, -EBADMSG, "/.blazy/virtual has a non-regular extent");
		struct blz_chunk_info e = { .logical = offset, .length = get_le64(data + 45),
					    .physical = get_le64(data + 21) + get_le64(data + 37) };
		vec_push(&rd->vext, e);
	}
	return 0;
}

/* Reads and checks the primary superblock into sb and sets rd->fsid; no_magic is returned
 * (with a message) when fd holds no btrfs. */
static int read_super(struct reader *rd, uint8_t sb[BTRFS_SUPER_INFO_SIZE], int no_magic)
{
	int r = blz_pread_full(rd->fd, sb, BTRFS_SUPER_INFO_SIZE, BTRFS_SUPER_INFO_OFFSET);
	if (r < 0)
		return fail(rd, no_magic, "not a btrfs image: too small to hold a superblock");
	if (get_le64(sb + SB_MAGIC) != BTRFS_MAGIC)
		return fail(rd, no_magic, "not a btrfs image: no btrfs magic at 64 KiB");
	if (get_le32(sb) != blz_crc32c(sb + BTRFS_CSUM_SIZE, BTRFS_SUPER_INFO_SIZE - BTRFS_CSUM_SIZE) ||
	    get_le16(sb + SB_CSUM_TYPE) != 0)
		return fail(rd, -EBADMSG, "the superblock checksum is wrong (or not crc32c)");
	if (get_le32(sb + SB_NODESIZE) != BTRFS_NODESIZE || get_le32(sb + SB_SECTORSIZE) != BTRFS_SECTORSIZE)
		return fail(rd, -EOPNOTSUPP, "unsupported node or sector size");
	memcpy(rd->fsid, sb + SB_FSID, 16);
	return 0;
}

/* The superblock's system chunk array: the chunks that hold the chunk tree. */
static int load_sys_chunks(struct reader *rd, const uint8_t *sb)
{
	uint32_t arr = get_le32(sb + SB_SYS_CHUNK_ARRAY_SIZE);
	if (arr > BTRFS_SYSTEM_CHUNK_ARRAY_SIZE)
		return fail(rd, -EBADMSG, "the superblock's system chunk array is too large");
	for (uint32_t pos = 0; pos + DISK_KEY_SIZE + CHUNK_ITEM_SIZE(1) <= arr;) {
		const uint8_t *k = sb + SB_SYS_CHUNK_ARRAY + pos;
		uint16_t nst = get_le16(k + DISK_KEY_SIZE + 44);
		if (k[8] != BTRFS_CHUNK_ITEM_KEY || nst == 0)
			return fail(rd, -EBADMSG, "bad entry in the system chunk array");
		add_chunk(rd, get_le64(k + 9), k + DISK_KEY_SIZE);
		pos += DISK_KEY_SIZE + CHUNK_ITEM_SIZE(nst);
	}
	return 0;
}

/* Reads the superblock, the chunk tree and the root tree: info (the superblock's fields and
 * the chunk list) and rd->fs_root. On failure the caller releases info (and rd's buffers). */
static int load(struct reader *rd, int fd, struct blz_seed_info *info)
{
	uint8_t sb[BTRFS_SUPER_INFO_SIZE];
	struct stat st;
	int r;
	rd->err[0] = 0;
	if (fstat(fd, &st) < 0)
		return fail(rd, -errno, "cannot stat the image: %s", strerror(errno));
	info->image_size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode))
		info->image_size = UINT64_MAX;
	r = read_super(rd, sb, -EINVAL);
	if (r < 0)
		return r;
	memcpy(info->fsid, sb + SB_FSID, 16);
	info->devid = get_le64(sb + SB_DEV_ITEM);
	memcpy(info->dev_uuid, sb + SB_DEV_ITEM + 66, 16);
	memcpy(info->label, sb + SB_LABEL, 256);
	info->generation = get_le64(sb + SB_GENERATION);
	info->device_size = get_le64(sb + SB_TOTAL_BYTES);
	info->bytes_used = get_le64(sb + SB_BYTES_USED);
	info->super_flags = get_le64(sb + SB_FLAGS);
	info->incompat = get_le64(sb + SB_INCOMPAT_FLAGS);
	info->compat_ro = get_le64(sb + SB_COMPAT_RO_FLAGS);
	info->sectorsize = get_le32(sb + SB_SECTORSIZE);
	info->nodesize = get_le32(sb + SB_NODESIZE);

	r = load_sys_chunks(rd, sb);
	if (r < 0)
		return r;
	rd->block = blz_xmalloc(BTRFS_NODESIZE);
	r = walk_tree(rd, get_le64(sb + SB_CHUNK_ROOT), sb[SB_CHUNK_ROOT_LEVEL], chunk_item);
	if (r < 0)
		return r;
	r = walk_tree(rd, get_le64(sb + SB_ROOT), sb[SB_ROOT_LEVEL], root_item);
	if (r < 0)
		return r;
	if (!rd->fs_root)
		return fail(rd, -EBADMSG, "the root tree has no fs tree");
	return 0;
}

int blz_seed_inspect(int fd, struct blz_seed_info *ret, char *err, size_t errlen)
{
	struct blz_seed_info *info = ret;
	memset(info, 0, sizeof(*info));
	struct reader rd = { .fd = fd, .info = info, .err = err, .errlen = errlen };
	int r = load(&rd, fd, info);
	if (r < 0)
		goto out;
	/* Two passes: the first finds /.blazy/virtual's inode, the second its extents. */
	r = walk_tree(&rd, rd.fs_root, rd.fs_level, fs_item);
	if (r >= 0 && rd.virtual_ino) {
		info->inodes = info->files = info->dirs = info->symlinks = info->specials = 0;
		info->file_bytes = 0;
		rd.vext.len = 0;
		r = walk_tree(&rd, rd.fs_root, rd.fs_level, fs_item);
	}
	if (r < 0)
		goto out;
	info->virtual_ino = rd.virtual_ino;
	info->virtual_chunks = rd.vext.len;
	if (rd.vext.len)
		info->virtual_off = rd.vext.v[0].physical - rd.vext.v[0].logical;

	/* The local region: chunks below the lazy areas, rounded up to 1 MiB as the writer
	 * does, and the superblock mirrors it holds. The image file may be longer (a tester
	 * may extend it to the full device size), so its size is not used here. */
	uint64_t lazy_start = rd.vext.len ? info->virtual_off : UINT64_MAX;
	info->local_end = 0;
	for (size_t i = 0; i < info->nchunks; i++) {
		const struct blz_chunk_info *c = &info->chunks[i];
		if (c->physical >= lazy_start)
			continue;
		if (c->physical >= BLZ_LAZY_START) {
			/* The import area: DATA chunks between 512 GiB and the virtual area. */
			if (!(c->type & BTRFS_BLOCK_GROUP_DATA)) {
				r = fail(&rd, -EBADMSG, "a metadata chunk at %llu lies in the lazy areas",
					 (unsigned long long)c->physical);
				goto out;
			}
			if (!info->import_chunks)
				info->import_off = c->physical;
			info->import_size = c->physical + c->length - info->import_off;
			info->import_chunks++;
			continue;
		}
		if (c->physical + c->length > info->local_end)
			info->local_end = c->physical + c->length;
		if (c->type & BTRFS_BLOCK_GROUP_DATA)
			info->local_data_bytes += c->length;
		else
			info->metadata_bytes += c->length;
	}
	info->local_end = (info->local_end + (1ull << 20) - 1) & ~((1ull << 20) - 1);
	for (int m = 1; m < BTRFS_SUPER_MIRROR_MAX; m++) {
		uint64_t sb_off = btrfs_sb_offset(m);
		if (sb_off + BTRFS_SUPER_INFO_SIZE <= info->device_size && sb_off < BLZ_LAZY_START &&
		    sb_off + BTRFS_STRIPE_LEN > info->local_end)
			info->local_end = sb_off + BTRFS_STRIPE_LEN;
	}
	if (info->local_end > lazy_start) {
		r = fail(&rd, -EBADMSG, "the local region overlaps the virtual area");
		goto out;
	}
	r = 0;
out:
	vec_release(&rd.vext);
	free(rd.seen);
	free(rd.block);
	if (r < 0)
		blz_seed_info_release(info);
	return r;
}

void blz_seed_info_release(struct blz_seed_info *info)
{
	free(info->chunks);
	info->chunks = NULL;
}

/* ---- a sprout's device list ---- */

static void get_dev(struct blz_btrfs_dev *d, const uint8_t *p)
{
	d->devid = get_le64(p);
	memcpy(d->uuid, p + 66, 16);
	memcpy(d->fsid, p + 82, 16);
}

static int dev_item(struct reader *rd, uint64_t objectid, uint8_t type, uint64_t offset,
		    const uint8_t *data, uint32_t size)
{
	struct blz_sprout_info *s = rd->sprout;
	if (type != BTRFS_DEV_ITEM_KEY || objectid != BTRFS_DEV_ITEMS_OBJECTID)
		return 0;
	if (size < DEV_ITEM_SIZE || get_le64(data) != offset)
		return fail(rd, -EBADMSG, "device item %llu is malformed", (unsigned long long)offset);
	if (s->ndevs == BLZ_SPROUT_MAX_DEVS)
		return fail(rd, -E2BIG, "more than %d devices", BLZ_SPROUT_MAX_DEVS);
	get_dev(&s->devs[s->ndevs++], data);
	return 0;
}

int blz_sprout_inspect(int fd, int other_fd, const uint8_t other_fsid[16],
		       struct blz_sprout_info *ret, char *err, size_t errlen)
{
	struct blz_seed_info chunks = { 0 };
	struct blz_sprout_info si = { 0 };
	struct reader rd = { .fd = fd, .info = &chunks, .err = err, .errlen = errlen,
			     .sprout = &si, .other_fd = other_fd,
			     .budget_cap = BLZ_SPROUT_MAX_BLOCKS };
	uint8_t sb[BTRFS_SUPER_INFO_SIZE];
	struct stat st;
	err[0] = 0;
	if (other_fd >= 0)
		memcpy(rd.other_fsid, other_fsid, 16);
	if (fstat(fd, &st) < 0)
		return fail(&rd, -errno, "cannot stat the device: %s", strerror(errno));
	chunks.image_size = S_ISBLK(st.st_mode) ? UINT64_MAX : (uint64_t)st.st_size;
	int r = read_super(&rd, sb, -ENODATA);
	if (r < 0)
		return r;
	memcpy(si.fsid, sb + SB_FSID, 16);
	si.generation = get_le64(sb + SB_GENERATION);
	si.num_devices = get_le64(sb + SB_NUM_DEVICES);
	get_dev(&si.self, sb + SB_DEV_ITEM);
	rd.self_devid = si.self.devid;
	r = load_sys_chunks(&rd, sb);
	if (r == 0) {
		rd.block = blz_xmalloc(BTRFS_NODESIZE);
		r = walk_tree(&rd, get_le64(sb + SB_CHUNK_ROOT), sb[SB_CHUNK_ROOT_LEVEL], dev_item);
	}
	bool listed = false;
	for (size_t i = 0; r == 0 && i < si.ndevs; i++)
		listed |= si.devs[i].devid == si.self.devid &&
			  !memcmp(si.devs[i].uuid, si.self.uuid, 16);
	if (r == 0 && !listed)
		r = fail(&rd, -EBADMSG, "the device list does not name this device");
	free(rd.seen);
	free(rd.block);
	blz_seed_info_release(&chunks);
	if (r == 0)
		*ret = si;
	return r;
}

const struct blz_btrfs_dev *blz_sprout_seed_dev(const struct blz_sprout_info *info)
{
	for (size_t i = 0; i < info->ndevs; i++)
		if (memcmp(info->devs[i].fsid, info->fsid, 16))
			return &info->devs[i];
	return NULL;
}

/* ---- file names to device ranges ---- */

struct dent {
	uint64_t parent, child;
	const char *name;	/* in names */
	uint16_t len;
};

struct fext {
	uint64_t ino, file_off, logical, len;
};

struct ranges_walk {
	VEC(struct dent) dents;
	VEC(struct fext) exts;
	struct blz_buf names;	/* the dents' names, back to back (offsets until the walk ends) */
};

static int ranges_item(struct reader *rd, uint64_t objectid, uint8_t type, uint64_t offset,
		       const uint8_t *data, uint32_t size)
{
	struct ranges_walk *w = rd->user;
	if (type == BTRFS_DIR_INDEX_KEY) {
		if (size < DIR_ITEM_SIZE || DIR_ITEM_SIZE + (uint32_t)get_le16(data + 27) > size)
			return fail(rd, -EBADMSG, "corrupt directory index item in directory %llu",
				    (unsigned long long)objectid);
		struct dent d = { .parent = objectid, .child = get_le64(data),
				  .name = (const char *)(uintptr_t)w->names.len,
				  .len = get_le16(data + 27) };
		blz_buf_append(&w->names, data + DIR_ITEM_SIZE, d.len);
		vec_push(&w->dents, d);
	} else if (type == BTRFS_EXTENT_DATA_KEY && size >= FILE_EXTENT_REG_SIZE &&
		   data[20] == BTRFS_FILE_EXTENT_REG && get_le64(data + 21)) {
		struct fext e = { .ino = objectid, .file_off = offset,
				  .logical = get_le64(data + 21) + get_le64(data + 37),
				  .len = get_le64(data + 45) };
		vec_push(&w->exts, e);
	}
	return 0;
}

static int cmp_dent(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;
	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
	return c ? c : (int)x->len - (int)y->len;
}

static int cmp_fext(const void *a, const void *b)
{
	const struct fext *x = a, *y = b;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

/* The inode a '/'-separated path names below the root directory, or 0. */
static uint64_t resolve(const struct ranges_walk *w, const char *path)
{
	uint64_t ino = BTRFS_FIRST_FREE_OBJECTID;
	while (*path) {
		while (*path == '/')
			path++;
		size_t n = strcspn(path, "/");
		if (!n)
			break;
		if (n > UINT16_MAX)
			return 0;
		struct dent key = { .parent = ino, .name = path, .len = (uint16_t)n };
		const struct dent *d = w->dents.len ? bsearch(&key, w->dents.v, w->dents.len,
							     sizeof(key), cmp_dent) : NULL;
		if (!d)
			return 0;
		ino = d->child;
		path += n;
	}
	return ino;
}

int blz_seed_file_ranges(int fd, const char *const *paths, size_t n, struct blz_seed_range **ret,
			 size_t *ret_n, char *err, size_t errlen)
{
	struct blz_seed_info info = { 0 };
	struct ranges_walk w = { 0 };
	struct reader rd = { .fd = fd, .info = &info, .err = err, .errlen = errlen, .user = &w };
	VEC(struct blz_seed_range) out = { 0 };
	int r = load(&rd, fd, &info);
	if (r == 0)
		r = walk_tree(&rd, rd.fs_root, rd.fs_level, ranges_item);
	if (r < 0)
		goto done;
	for (size_t i = 0; i < w.dents.len; i++)
		w.dents.v[i].name = (const char *)w.names.data + (uintptr_t)w.dents.v[i].name;
	blz_sort(w.dents.v, w.dents.len, sizeof(*w.dents.v), cmp_dent);
	blz_sort(w.exts.v, w.exts.len, sizeof(*w.exts.v), cmp_fext);
	for (size_t p = 0; p < n; p++) {
		uint64_t ino = resolve(&w, paths[p]);
		struct blz_seed_range none = { .path = p, .missing = true };
		if (!ino) {
			vec_push(&out, none);
			continue;
		}
		/* the first extent of ino: a lower bound by bisection */
		size_t lo = 0, hi = w.exts.len;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (w.exts.v[mid].ino < ino)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < w.exts.len && w.exts.v[lo].ino == ino; lo++) {
			struct blz_seed_range g = { .path = p, .file_off = w.exts.v[lo].file_off,
						    .len = w.exts.v[lo].len };
			if (blz_chunk_map(info.chunks, info.nchunks, w.exts.v[lo].logical, &g.dev_off) < 0) {
				r = fail(&rd, -EBADMSG, "an extent of '%s' is outside every chunk",
					 paths[p]);
				goto done;
			}
			vec_push(&out, g);
		}
	}
	*ret = out.v;
	*ret_n = out.len;
	out.v = NULL;
done:
	vec_release(&out);
	vec_release(&w.dents);
	vec_release(&w.exts);
	blz_buf_release(&w.names);
	free(rd.seen);
	free(rd.block);
	blz_seed_info_release(&info);
	return r;
}
