/* Reading a seed image back: superblock, chunk map, fs-tree statistics and the
 * blazy layout (local region, virtual area). Verifies every checksum it reads. */
#ifndef BLZ_BTRFS_INSPECT_H
#define BLZ_BTRFS_INSPECT_H

#include <stddef.h>
#include <stdint.h>

struct blz_chunk_info {
	uint64_t logical, length, type, physical;
};

struct blz_seed_info {
	uint8_t fsid[16];
	char label[257];
	uint64_t generation, device_size, bytes_used, super_flags, incompat, compat_ro;
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

/* Maps a logical address through the chunk list; -ENOENT if no chunk covers it. */
int blz_chunk_map(const struct blz_chunk_info *chunks, size_t n, uint64_t logical,
		  uint64_t *ret_physical);

#endif
