/* Reading a seed image back: superblock, chunk map, fs-tree statistics and the
 * blazy layout (local region, virtual area). Verifies every checksum it reads. */
#ifndef BLZ_BTRFS_INSPECT_H
#define BLZ_BTRFS_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blz_chunk_info {
	uint64_t logical, length, type, physical;
	uint64_t devid; /* the device of the first stripe (physical is on it) */
};

struct blz_seed_info {
	uint8_t fsid[16];
	char label[257];
	uint64_t generation, device_size, bytes_used, super_flags, incompat, compat_ro;
	uint64_t devid;             /* the seed device's id and uuid (superblock dev_item) */
	uint8_t dev_uuid[16];
	uint32_t sectorsize, nodesize;
	uint64_t image_size;        /* bytes in the image file */
	uint64_t local_end;         /* end of the local region (image-backed) */
	uint64_t metadata_bytes;    /* SYSTEM + METADATA chunk bytes */
	uint64_t local_data_bytes;  /* DATA chunk bytes inside the local region */
	uint64_t virtual_off, virtual_size, virtual_chunks, virtual_ino;
	uint64_t import_off, import_size, import_chunks;
	uint64_t inodes, files, dirs, symlinks, specials, file_bytes;
	size_t nchunks;
	struct blz_chunk_info *chunks; /* sorted by logical */
};

/* Returns 0, or -errno with a message in err (e.g. -EINVAL "bad superblock checksum"). */
int blz_seed_inspect(int fd, struct blz_seed_info *ret, char *err, size_t errlen);
void blz_seed_info_release(struct blz_seed_info *info);

/* A piece of a file's data on the device the seed describes (one regular extent). */
struct blz_seed_range {
	size_t path;		/* index of the path it belongs to */
	bool missing;		/* the path names nothing (then the one entry for it) */
	uint64_t file_off, dev_off, len;
};

/* The device ranges holding the data of the files named by paths (relative to the root
 * directory, '/'-separated: the lines `blazy status --trace` writes): per path, in order, its
 * regular extents (inline data and holes have none), or one entry with missing set for a path
 * that names nothing. One walk of the fs tree, then a bisection per name. *ret is malloc'ed.
 * 0, or -errno with a message in err. */
int blz_seed_file_ranges(int fd, const char *const *paths, size_t n, struct blz_seed_range **ret,
			 size_t *ret_n, char *err, size_t errlen);

/* Maps a logical address through the chunk list; -ENOENT if no chunk covers it. */
int blz_chunk_map(const struct blz_chunk_info *chunks, size_t n, uint64_t logical,
		  uint64_t *ret_physical);

/*
 * Reading the device list of a btrfs filesystem on one of its devices, to recognise a sprout
 * (a seed plus the writable device added to it) from its own metadata. The superblock of fd
 * (checksummed, crc32c, 16 KiB nodes) names the filesystem and this device; the chunk tree's
 * DEV_ITEMs name every device, and a seed device's item keeps the seed's fsid and device uuid.
 * Chunk-tree blocks on this device are read from fd; blocks on another device from other_fd
 * (the seed image: device offset = file offset) with other_fsid in their headers, or refused
 * when other_fd < 0. Everything read is untrusted: checksums, bounds, each block once, at most
 * BLZ_SPROUT_MAX_BLOCKS blocks and BLZ_SPROUT_MAX_DEVS devices.
 * Returns 0; -ENODATA when fd has no btrfs magic; -errno with a message in err otherwise.
 */
#define BLZ_SPROUT_MAX_DEVS 64
#define BLZ_SPROUT_MAX_BLOCKS 4096

struct blz_btrfs_dev {
	uint64_t devid;
	uint8_t uuid[16], fsid[16];
};

struct blz_sprout_info {
	uint8_t fsid[16];      /* the filesystem on fd */
	uint64_t generation;
	uint64_t num_devices;  /* the superblock's count */
	struct blz_btrfs_dev self; /* this device (its superblock's dev_item) */
	size_t ndevs;
	struct blz_btrfs_dev devs[BLZ_SPROUT_MAX_DEVS]; /* the chunk tree's, by devid */
};

int blz_sprout_inspect(int fd, int other_fd, const uint8_t other_fsid[16],
		       struct blz_sprout_info *ret, char *err, size_t errlen);

/* The device of info whose fsid differs from the filesystem's (a seed it was sprouted from),
 * or NULL. */
const struct blz_btrfs_dev *blz_sprout_seed_dev(const struct blz_sprout_info *info);

#endif
