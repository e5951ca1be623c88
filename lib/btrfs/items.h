/* Little-endian encoders for btrfs item payloads, and the btrfs name hashes. */
#ifndef BLZ_BTRFS_ITEMS_H
#define BLZ_BTRFS_ITEMS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "btrfs/tree.h"
#include "util/crc32c.h"

/* DIR_ITEM / XATTR_ITEM key offset: crc32c seeded with ~1, no final inversion. */
static inline uint64_t btrfs_name_hash(const void *name, size_t len)
{
	return blz_crc32c_raw(0xFFFFFFFEu, name, len);
}

/* INODE_EXTREF key offset: crc32c seeded with the parent inode number, no final inversion. */
static inline uint64_t btrfs_extref_hash(uint64_t parent, const void *name, size_t len)
{
	return blz_crc32c_raw((uint32_t)parent, name, len);
}

void btrfs_put_key(uint8_t *p, uint64_t objectid, uint8_t type, uint64_t offset);
void btrfs_put_timespec(uint8_t *p, const struct timespec *ts);

struct btrfs_inode_fields {
	uint64_t generation, transid, size, nbytes, rdev, flags;
	uint32_t nlink, uid, gid, mode;
	struct timespec atime, ctime, mtime, otime;
};
void btrfs_put_inode_item(uint8_t *p, const struct btrfs_inode_fields *f);

struct btrfs_root_fields {
	uint64_t generation, root_dirid, bytenr, bytes_used, flags;
	uint8_t level;
	uint8_t uuid[16];
	struct timespec ctime, otime;
};
void btrfs_put_root_item(uint8_t *p, const struct btrfs_root_fields *f);

/* Dir item header (30 bytes) followed by name (and data for xattrs). */
void btrfs_put_dir_item(uint8_t *p, uint64_t loc_objectid, uint8_t loc_type, uint64_t loc_offset,
			uint64_t transid, const void *name, uint16_t name_len, const void *data,
			uint16_t data_len, uint8_t type);
void btrfs_put_inode_ref(uint8_t *p, uint64_t index, const void *name, uint16_t name_len);
void btrfs_put_inode_extref(uint8_t *p, uint64_t parent, uint64_t index, const void *name,
			    uint16_t name_len);
void btrfs_put_file_extent_inline(uint8_t *p, uint64_t generation, const void *data, size_t len);
void btrfs_put_file_extent_reg(uint8_t *p, uint64_t generation, uint64_t disk_bytenr,
			       uint64_t disk_num_bytes, uint64_t offset, uint64_t num_bytes);
void btrfs_put_data_extent_item(uint8_t *p, uint64_t generation, uint64_t root, uint64_t ino,
				uint64_t offset);
void btrfs_put_metadata_item(uint8_t *p, uint64_t generation, uint64_t root);
void btrfs_put_block_group_item(uint8_t *p, uint64_t used, uint64_t type);

struct btrfs_chunk_fields {
	uint64_t length, type;
	uint64_t devid, physical;
	uint8_t dev_uuid[16];
};
void btrfs_put_chunk_item(uint8_t *p, const struct btrfs_chunk_fields *f); /* one stripe */

struct btrfs_dev_fields {
	uint64_t devid, total_bytes, bytes_used, generation;
	uint8_t uuid[16], fsid[16];
};
void btrfs_put_dev_item(uint8_t *p, const struct btrfs_dev_fields *f);
void btrfs_put_dev_extent(uint8_t *p, uint64_t chunk_offset, uint64_t length,
			  const uint8_t chunk_tree_uuid[16]);
void btrfs_put_free_space_info(uint8_t *p, uint32_t extent_count, uint32_t flags);

#endif
