/*
 * btrfs on-disk constants and field offsets used by the seed writer and reader.
 * These are ABI facts (see shared/docs/btrfs-seed-format.md); every structure is
 * encoded and decoded explicitly with util/le.h, never cast over a buffer.
 */
#ifndef BLZ_BTRFS_FORMAT_H
#define BLZ_BTRFS_FORMAT_H

#include <stdint.h>

#define BTRFS_SECTORSIZE 4096u
#define BTRFS_NODESIZE 16384u
#define BTRFS_STRIPE_LEN 65536u
#define BTRFS_MAGIC 0x4D5F53665248425FULL /* "_BHRfS_M" */
#define BTRFS_SUPER_INFO_OFFSET 65536u
#define BTRFS_SUPER_INFO_SIZE 4096u
#define BTRFS_SUPER_MIRROR_MAX 3
#define BTRFS_CSUM_SIZE 32u
#define BTRFS_FSID_SIZE 16u
#define BTRFS_UUID_SIZE 16u
#define BTRFS_LABEL_SIZE 256u
#define BTRFS_SYSTEM_CHUNK_ARRAY_SIZE 2048u
#define BTRFS_MAX_LEVEL 8
#define BTRFS_MAX_EXTENT_SIZE (128ull << 20)
/* Kernels >= 6.4 reject chunks of (2^32 - 1) * 64 KiB or more; blazy uses 128 TiB. */
#define BLZ_MAX_CHUNK_SIZE (1ull << 47)
#define BLZ_MAX_INLINE 2048u

/* Superblock field offsets. */
#define SB_CSUM 0x00
#define SB_FSID 0x20
#define SB_BYTENR 0x30
#define SB_FLAGS 0x38
#define SB_MAGIC 0x40
#define SB_GENERATION 0x48
#define SB_ROOT 0x50
#define SB_CHUNK_ROOT 0x58
#define SB_LOG_ROOT 0x60
#define SB_TOTAL_BYTES 0x70
#define SB_BYTES_USED 0x78
#define SB_ROOT_DIR_OBJECTID 0x80
#define SB_NUM_DEVICES 0x88
#define SB_SECTORSIZE 0x90
#define SB_NODESIZE 0x94
#define SB_LEAFSIZE 0x98
#define SB_STRIPESIZE 0x9c
#define SB_SYS_CHUNK_ARRAY_SIZE 0xa0
#define SB_CHUNK_ROOT_GENERATION 0xa4
#define SB_COMPAT_FLAGS 0xac
#define SB_COMPAT_RO_FLAGS 0xb4
#define SB_INCOMPAT_FLAGS 0xbc
#define SB_CSUM_TYPE 0xc4
#define SB_ROOT_LEVEL 0xc6
#define SB_CHUNK_ROOT_LEVEL 0xc7
#define SB_LOG_ROOT_LEVEL 0xc8
#define SB_DEV_ITEM 0xc9
#define SB_LABEL 0x12b
#define SB_CACHE_GENERATION 0x22b
#define SB_UUID_TREE_GENERATION 0x233
#define SB_SYS_CHUNK_ARRAY 0x32b

#define BTRFS_SUPER_FLAG_WRITTEN (1ull << 0)
#define BTRFS_SUPER_FLAG_SEEDING (1ull << 32)

#define BTRFS_FEATURE_INCOMPAT_MIXED_BACKREF (1ull << 0)
#define BTRFS_FEATURE_INCOMPAT_BIG_METADATA (1ull << 5)
#define BTRFS_FEATURE_INCOMPAT_EXTENDED_IREF (1ull << 6)
#define BTRFS_FEATURE_INCOMPAT_SKINNY_METADATA (1ull << 8)
#define BTRFS_FEATURE_INCOMPAT_NO_HOLES (1ull << 9)
#define BTRFS_FEATURE_COMPAT_RO_FREE_SPACE_TREE (1ull << 0)
#define BTRFS_FEATURE_COMPAT_RO_FREE_SPACE_TREE_VALID (1ull << 1)

/* Tree block header. */
#define HDR_CSUM 0x00
#define HDR_FSID 0x20
#define HDR_BYTENR 0x30
#define HDR_FLAGS 0x38
#define HDR_CHUNK_TREE_UUID 0x40
#define HDR_GENERATION 0x50
#define HDR_OWNER 0x58
#define HDR_NRITEMS 0x60
#define HDR_LEVEL 0x64
#define HDR_SIZE 101u
#define BTRFS_HEADER_FLAG_WRITTEN (1ull << 0)
#define BTRFS_MIXED_BACKREF_REV 1ull
#define BTRFS_BACKREF_REV_SHIFT 56

#define DISK_KEY_SIZE 17u
#define ITEM_HDR_SIZE 25u  /* key + offset u32 + size u32 */
#define KEY_PTR_SIZE 33u   /* key + blockptr + generation */
#define LEAF_DATA_SIZE (BTRFS_NODESIZE - HDR_SIZE)           /* 16283 */
#define MAX_ITEM_SIZE (LEAF_DATA_SIZE - ITEM_HDR_SIZE)        /* 16258 */
#define NODE_MAX_PTRS ((BTRFS_NODESIZE - HDR_SIZE) / KEY_PTR_SIZE) /* 493 */
#define MAX_XATTR_SIZE (LEAF_DATA_SIZE - ITEM_HDR_SIZE - DIR_ITEM_SIZE) /* 16228: name + value */
#define MAX_CSUMS_PER_ITEM (((LEAF_DATA_SIZE - 2 * ITEM_HDR_SIZE) / 4) - 1)

/* Tree ids. */
#define BTRFS_ROOT_TREE_OBJECTID 1ull
#define BTRFS_EXTENT_TREE_OBJECTID 2ull
#define BTRFS_CHUNK_TREE_OBJECTID 3ull
#define BTRFS_DEV_TREE_OBJECTID 4ull
#define BTRFS_FS_TREE_OBJECTID 5ull
#define BTRFS_ROOT_TREE_DIR_OBJECTID 6ull
#define BTRFS_CSUM_TREE_OBJECTID 7ull
#define BTRFS_FREE_SPACE_TREE_OBJECTID 10ull
#define BTRFS_DATA_RELOC_TREE_OBJECTID ((uint64_t)-9)
#define BTRFS_EXTENT_CSUM_OBJECTID ((uint64_t)-10)
#define BTRFS_FIRST_CHUNK_TREE_OBJECTID 256ull
#define BTRFS_DEV_ITEMS_OBJECTID 1ull
#define BTRFS_FIRST_FREE_OBJECTID 256ull

/* Item types. */
#define BTRFS_INODE_ITEM_KEY 1
#define BTRFS_INODE_REF_KEY 12
#define BTRFS_INODE_EXTREF_KEY 13
#define BTRFS_XATTR_ITEM_KEY 24
#define BTRFS_DIR_ITEM_KEY 84
#define BTRFS_DIR_INDEX_KEY 96
#define BTRFS_EXTENT_DATA_KEY 108
#define BTRFS_EXTENT_CSUM_KEY 128
#define BTRFS_ROOT_ITEM_KEY 132
#define BTRFS_EXTENT_ITEM_KEY 168
#define BTRFS_METADATA_ITEM_KEY 169
#define BTRFS_TREE_BLOCK_REF_KEY 176
#define BTRFS_EXTENT_DATA_REF_KEY 178
#define BTRFS_BLOCK_GROUP_ITEM_KEY 192
#define BTRFS_FREE_SPACE_INFO_KEY 198
#define BTRFS_FREE_SPACE_EXTENT_KEY 199
#define BTRFS_DEV_EXTENT_KEY 204
#define BTRFS_DEV_ITEM_KEY 216
#define BTRFS_CHUNK_ITEM_KEY 228

/* Chunk / block group type bits. */
#define BTRFS_BLOCK_GROUP_DATA (1ull << 0)
#define BTRFS_BLOCK_GROUP_SYSTEM (1ull << 1)
#define BTRFS_BLOCK_GROUP_METADATA (1ull << 2)

#define BTRFS_EXTENT_FLAG_DATA 1ull
#define BTRFS_EXTENT_FLAG_TREE_BLOCK 2ull

#define BTRFS_INODE_NODATASUM (1ull << 0)
#define BTRFS_INODE_ROOT_ITEM_INIT (1ull << 31)

#define BTRFS_FILE_EXTENT_INLINE 0
#define BTRFS_FILE_EXTENT_REG 1

/* Directory entry types. */
#define BTRFS_FT_REG_FILE 1
#define BTRFS_FT_DIR 2
#define BTRFS_FT_CHRDEV 3
#define BTRFS_FT_BLKDEV 4
#define BTRFS_FT_FIFO 5
#define BTRFS_FT_SOCK 6
#define BTRFS_FT_SYMLINK 7
#define BTRFS_FT_XATTR 8

/* Item sizes. */
#define INODE_ITEM_SIZE 160u
#define ROOT_ITEM_SIZE 439u
#define DIR_ITEM_SIZE 30u
#define INODE_REF_SIZE 10u
#define INODE_EXTREF_SIZE 18u
#define FILE_EXTENT_INLINE_HDR 21u
#define FILE_EXTENT_REG_SIZE 53u
#define CHUNK_ITEM_SIZE(nstripes) (48u + 32u * (nstripes))
#define DEV_ITEM_SIZE 98u
#define DEV_EXTENT_SIZE 48u
#define BLOCK_GROUP_ITEM_SIZE 24u
#define FREE_SPACE_INFO_SIZE 8u
#define METADATA_ITEM_SIZE 33u   /* extent item (24) + inline tree block ref (9) */
#define DATA_EXTENT_ITEM_SIZE 53u /* extent item (24) + inline data ref (29) */

/* Superblock copies: primary at 64 KiB, mirrors at 64 MiB and 256 GiB. */
static inline uint64_t btrfs_sb_offset(int mirror)
{
	return mirror ? (16384ull << (12 * mirror)) : BTRFS_SUPER_INFO_OFFSET;
}

#endif
