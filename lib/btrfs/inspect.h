/* Reading a seed image back: superblock, chunk map, fs-tree statistics and the
 * blazy layout (local region, virtual area). Verifies every checksum it reads. */
#ifndef BLZ_BTRFS_INSPECT_H
#define BLZ_BTRFS_INSPECT_H

#include <stdbool.h>
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

#endif
