#include "btrfs/items.h"

#include <string.h>

#include "btrfs/format.h"
#include "util/le.h"

void btrfs_put_key(uint8_t *p, uint64_t objectid, uint8_t type, uint64_t offset)
{
	put_le64(p, objectid);
	p[8] = type;
	put_le64(p + 9, offset);
}

void btrfs_put_timespec(uint8_t *p, const struct timespec *ts)
{
	put_le64(p, (uint64_t)ts->tv_sec);
	put_le32(p + 8, (uint32_t)ts->tv_nsec);
}

void btrfs_put_inode_item(uint8_t *p, const struct btrfs_inode_fields *f)
{
	memset(p, 0, INODE_ITEM_SIZE);
	put_le64(p + 0, f->generation);
	put_le64(p + 8, f->transid);
	put_le64(p + 16, f->size);
	put_le64(p + 24, f->nbytes);
	put_le64(p + 32, 0); /* block_group */
	put_le32(p + 40, f->nlink);
	put_le32(p + 44, f->uid);
	put_le32(p + 48, f->gid);
	put_le32(p + 52, f->mode);
	put_le64(p + 56, f->rdev);
	put_le64(p + 64, f->flags);
	put_le64(p + 72, 0); /* sequence */
	btrfs_put_timespec(p + 112, &f->atime);
	btrfs_put_timespec(p + 124, &f->ctime);
	btrfs_put_timespec(p + 136, &f->mtime);
	btrfs_put_timespec(p + 148, &f->otime);
}

void btrfs_put_root_item(uint8_t *p, const struct btrfs_root_fields *f)
{
	memset(p, 0, ROOT_ITEM_SIZE);
	/* The embedded inode item, as mkfs writes it for every tree root. */
	struct btrfs_inode_fields in = {
		.generation = 1, .size = 3, .nlink = 1, .nbytes = BTRFS_NODESIZE,
		.mode = 040755, .flags = BTRFS_INODE_ROOT_ITEM_INIT,
	};
	btrfs_put_inode_item(p, &in);
	put_le64(p + 160, f->generation);
	put_le64(p + 168, f->root_dirid);
	put_le64(p + 176, f->bytenr);
	put_le64(p + 184, 0); /* byte_limit */
	put_le64(p + 192, f->bytes_used);
	put_le64(p + 200, 0); /* last_snapshot */
	put_le64(p + 208, f->flags);
	put_le32(p + 216, 1); /* refs */
	p[238] = f->level;
	put_le64(p + 239, f->generation); /* generation_v2 */
	memcpy(p + 247, f->uuid, 16);
	put_le64(p + 295, 0); /* ctransid */
	put_le64(p + 303, f->generation ? f->generation : 0); /* otransid */
	btrfs_put_timespec(p + 327, &f->ctime);
	btrfs_put_timespec(p + 339, &f->otime);
}

void btrfs_put_dir_item(uint8_t *p, uint64_t loc_objectid, uint8_t loc_type, uint64_t loc_offset,
			uint64_t transid, const void *name, uint16_t name_len, const void *data,
			uint16_t data_len, uint8_t type)
{
	btrfs_put_key(p, loc_objectid, loc_type, loc_offset);
	put_le64(p + 17, transid);
	put_le16(p + 25, data_len);
	put_le16(p + 27, name_len);
	p[29] = type;
	memcpy(p + DIR_ITEM_SIZE, name, name_len);
	if (data_len)
		memcpy(p + DIR_ITEM_SIZE + name_len, data, data_len);
}

void btrfs_put_inode_ref(uint8_t *p, uint64_t index, const void *name, uint16_t name_len)
{
	put_le64(p, index);
	put_le16(p + 8, name_len);
	memcpy(p + INODE_REF_SIZE, name, name_len);
}

void btrfs_put_inode_extref(uint8_t *p, uint64_t parent, uint64_t index, const void *name,
			    uint16_t name_len)
{
	put_le64(p, parent);
	put_le64(p + 8, index);
	put_le16(p + 16, name_len);
	memcpy(p + INODE_EXTREF_SIZE, name, name_len);
}

static void put_file_extent_hdr(uint8_t *p, uint64_t generation, uint64_t ram_bytes, uint8_t type)
{
	put_le64(p, generation);
	put_le64(p + 8, ram_bytes);
	p[16] = 0; /* compression */
	p[17] = 0; /* encryption */
	put_le16(p + 18, 0);
	p[20] = type;
}

void btrfs_put_file_extent_inline(uint8_t *p, uint64_t generation, const void *data, size_t len)
{
	put_file_extent_hdr(p, generation, len, BTRFS_FILE_EXTENT_INLINE);
	memcpy(p + FILE_EXTENT_INLINE_HDR, data, len);
}

void btrfs_put_file_extent_reg(uint8_t *p, uint64_t generation, uint64_t disk_bytenr,
			       uint64_t disk_num_bytes, uint64_t offset, uint64_t num_bytes)
{
	put_file_extent_hdr(p, generation, disk_num_bytes, BTRFS_FILE_EXTENT_REG);
	put_le64(p + 21, disk_bytenr);
	put_le64(p + 29, disk_num_bytes);
	put_le64(p + 37, offset);
	put_le64(p + 45, num_bytes);
}

static void put_extent_item_hdr(uint8_t *p, uint64_t generation, uint64_t flags)
{
	put_le64(p, 1); /* refs */
	put_le64(p + 8, generation);
	put_le64(p + 16, flags);
}

void btrfs_put_data_extent_item(uint8_t *p, uint64_t generation, uint64_t root, uint64_t ino,
				uint64_t offset)
{
	put_extent_item_hdr(p, generation, BTRFS_EXTENT_FLAG_DATA);
	p[24] = BTRFS_EXTENT_DATA_REF_KEY;
	put_le64(p + 25, root);
	put_le64(p + 33, ino);
	put_le64(p + 41, offset);
	put_le32(p + 49, 1); /* count */
}

void btrfs_put_metadata_item(uint8_t *p, uint64_t generation, uint64_t root)
{
	put_extent_item_hdr(p, generation, BTRFS_EXTENT_FLAG_TREE_BLOCK);
	p[24] = BTRFS_TREE_BLOCK_REF_KEY;
	put_le64(p + 25, root);
}

void btrfs_put_block_group_item(uint8_t *p, uint64_t used, uint64_t type)
{
	put_le64(p, used);
	put_le64(p + 8, BTRFS_FIRST_CHUNK_TREE_OBJECTID);
	put_le64(p + 16, type);
}

void btrfs_put_chunk_item(uint8_t *p, const struct btrfs_chunk_fields *f)
{
	memset(p, 0, CHUNK_ITEM_SIZE(1));
	put_le64(p, f->length);
	put_le64(p + 8, BTRFS_EXTENT_TREE_OBJECTID); /* owner */
	put_le64(p + 16, BTRFS_STRIPE_LEN);
	put_le64(p + 24, f->type);
	put_le32(p + 32, BTRFS_STRIPE_LEN); /* io_align */
	put_le32(p + 36, BTRFS_STRIPE_LEN); /* io_width */
	put_le32(p + 40, BTRFS_SECTORSIZE);
	put_le16(p + 44, 1); /* num_stripes */
	put_le16(p + 46, 1); /* sub_stripes */
	put_le64(p + 48, f->devid);
	put_le64(p + 56, f->physical);
	memcpy(p + 64, f->dev_uuid, 16);
}

void btrfs_put_dev_item(uint8_t *p, const struct btrfs_dev_fields *f)
{
	memset(p, 0, DEV_ITEM_SIZE);
	put_le64(p, f->devid);
	put_le64(p + 8, f->total_bytes);
	put_le64(p + 16, f->bytes_used);
	put_le32(p + 24, BTRFS_SECTORSIZE); /* io_align */
	put_le32(p + 28, BTRFS_SECTORSIZE); /* io_width */
	put_le32(p + 32, BTRFS_SECTORSIZE); /* sector_size */
	put_le64(p + 36, 0);                /* type */
	put_le64(p + 44, f->generation);
	memcpy(p + 66, f->uuid, 16);
	memcpy(p + 82, f->fsid, 16);
}

void btrfs_put_dev_extent(uint8_t *p, uint64_t chunk_offset, uint64_t length,
			  const uint8_t chunk_tree_uuid[16])
{
	put_le64(p, BTRFS_CHUNK_TREE_OBJECTID);
	put_le64(p + 8, BTRFS_FIRST_CHUNK_TREE_OBJECTID);
	put_le64(p + 16, chunk_offset);
	put_le64(p + 24, length);
	memcpy(p + 32, chunk_tree_uuid, 16);
}

void btrfs_put_free_space_info(uint8_t *p, uint32_t extent_count, uint32_t flags)
{
	put_le32(p, extent_count);
	put_le32(p + 4, flags);
}
