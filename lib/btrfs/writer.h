/*
 * The seed writer: turns a blz_fstree plus streamed file data into a btrfs seed image.
 *
 * Address space of the device the image describes (logical = physical everywhere):
 *   [0, local_end)                         the image file: superblocks, local DATA chunks
 *                                          (file data, crc32c-summed), SYSTEM and METADATA
 *   [512 GiB, +import_size)                with a lazy sink: the import area, file data kept
 *                                          in a content store (crc32c-summed in the seed)
 *   [virtual_off, virtual_off + virtual_size)  /.blazy/virtual: NODATASUM, one regular extent
 *                                          per DATA chunk of at most 128 TiB; bytes come
 *                                          from the lazy map, never from the image
 * Everything else reads as zeros. Superblock mirrors (64 MiB, 256 GiB) sit in stripes
 * that no chunk covers.
 *
 * Use: blz_seed_new(); put the entries (the entry API below; lib/ingest does it for a
 * directory and tar layers), streaming each regular file's data with
 * blz_seed_data_begin/_write/_hole/_end; blz_seed_finish().
 */
#ifndef BLZ_BTRFS_WRITER_H
#define BLZ_BTRFS_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fstree/fstree.h"

/* The local region ends below this offset (clear of the 256 GiB superblock mirror); the
 * import area starts here and the virtual area follows it (or starts here without one). */
#define BLZ_LAZY_START (512ull << 30)
#define BLZ_VIRTUAL_MIN_OFFSET BLZ_LAZY_START

struct blz_seed_opts {
	const char *label;        /* NULL or up to 255 bytes */
	uint8_t fsid[16];
	bool fsid_set;            /* else random; all other UUIDs derive from the fsid */
	uint64_t virtual_size;    /* bytes of /.blazy/virtual (multiple of 4 KiB), 0 = none */
	uint64_t virtual_chunk;   /* chunk size for the virtual area, 0 = 128 TiB */
	struct timespec timestamp; /* times of metadata blazy creates itself */
	/*
	 * Lazy import: when set, regular files' data (not inline, not keep_local) goes to the
	 * import area; the writer hands each run of it, at most lazy_chunk bytes (default
	 * 1 MiB) starting at a device offset, to lazy_put (0 or -errno) instead of the image.
	 */
	int (*lazy_put)(void *ctx, uint64_t dev_off, const void *buf, size_t len);
	void *lazy_ctx;
	uint32_t lazy_chunk;
	/* Files up to this many bytes are stored inline in metadata (at most BLZ_MAX_INLINE);
	 * when inline_max_set is false, BLZ_MAX_INLINE. */
	uint32_t inline_max;
	bool inline_max_set;
	/* With lazy_put: whether the file at this tree path ("usr/bin/ls") keeps its data in
	 * the image (mkseed --local); the sources ask through blz_seed_keep_local(). */
	bool (*keep_local)(void *ctx, const char *path);
	void *keep_local_ctx;
	/* Called now and then while data is written (may be NULL). */
	void (*progress)(void *ctx, uint64_t files, uint64_t bytes);
	void *progress_ctx;
};

struct blz_seed_layout {
	uint8_t fsid[16];
	uint64_t generation;
	uint64_t device_size;     /* bytes the served block device must have */
	uint64_t local_end;       /* image file size: the local region [0, local_end) */
	uint64_t metadata_bytes;  /* tree blocks */
	uint64_t local_data_bytes; /* referenced file data stored in the image */
	uint64_t virtual_off, virtual_size, virtual_chunks, virtual_chunk_size;
	uint64_t import_off, import_size, import_chunks;
	uint64_t inodes;
	uint64_t files_written;   /* regular files whose data went through the writer */
	uint64_t data_bytes;      /* and their bytes (local, inline and lazy; holes excluded) */
	uint64_t nchunks;
};

struct blz_seed;

int blz_seed_new(struct blz_seed **ret, int fd, const struct blz_seed_opts *opts);
void blz_seed_free(struct blz_seed *s);
/* The tree itself: for the writer's own code and tests; sources use the entry API. */
struct blz_fstree *blz_seed_tree(struct blz_seed *s);
/* Whether a regular file at this tree path keeps its data local (lazy_put and keep_local). */
bool blz_seed_keep_local(const struct blz_seed *s, const char *path);

/*
 * The entry API: how sources (lib/ingest) build the tree; they never edit it themselves.
 * An entry's handle (struct blz_inode *) is opaque to a source: blz_seed_put* return it, and
 * blz_seed_put (as the directory), blz_seed_link, blz_seed_add_xattr, blz_seed_defer_data and
 * blz_seed_data_begin take it; it stays valid until blz_seed_free. These calls record no
 * message: the caller names the path with blz_seed_fail.
 *
 * Layers: every entry made or restated is tagged with the current layer (0 until the first
 * blz_seed_next_layer; a source calls it before each tar layer). A whiteout or an opaque
 * directory removes only entries of lower layers, never those of the current one.
 */
struct blz_seed_xattr {
	const char *name;
	const void *value;
	size_t len;
};

struct blz_seed_entry {
	uint32_t mode;                  /* type and permission bits: S_IFREG, S_IFDIR, S_IFLNK,
					 * S_IFCHR, S_IFBLK, S_IFIFO or S_IFSOCK */
	uint32_t uid, gid;
	uint32_t rdev_major, rdev_minor; /* devices; 0 for other types */
	struct timespec atime, mtime, ctime;
	const char *target;              /* symlinks: the target, 1 to 4095 bytes */
	const struct blz_seed_xattr *xattrs; /* all the entry's xattrs (replacing any it had) */
	size_t nxattrs;
	const char *path;                /* blz_seed_put, regular files: the tree path
					  * ("usr/bin/ls") asked of keep_local; may be NULL */
};

/* Adds the entry name to the directory dir (a handle; blz_seed_put_path(s, "", ...) gives
 * the root's). -EEXIST if the name is taken, -EINVAL for a bad type or symlink target, an
 * empty name, ".", ".." or one with '/', -ENAMETOOLONG over 255 bytes. */
int blz_seed_put(struct blz_seed *s, struct blz_inode *dir, const char *name,
		 const struct blz_seed_entry *e, struct blz_inode **ret);
/*
 * Puts the entry at a tree path ("a/b/c"), the way a later layer applies over the tree:
 * missing parents are made (directories, mode 0755, times e->mtime); an existing entry is
 * replaced, except that a directory put over a directory keeps its contents and takes the
 * new attributes and xattrs (and the current layer). "" is the root: a directory only (else
 * -EINVAL), its attributes and xattrs change. -ENOTDIR if a parent is not a directory (or
 * cannot be made one), -EINVAL/-ENAMETOOLONG as for blz_seed_put.
 */
int blz_seed_put_path(struct blz_seed *s, const char *path, const struct blz_seed_entry *e,
		      struct blz_inode **ret);
/* A hard link name in dir to the entry target (not a directory: -EPERM); as blz_seed_put. */
int blz_seed_link(struct blz_seed *s, struct blz_inode *dir, const char *name,
		  struct blz_inode *target);
/* A hard link at path (parents as for blz_seed_put_path, with times parent_time) to the
 * entry at the tree path target, replacing what path named. 0 if path names it already,
 * -ENOTDIR for a parent, -ENOENT if target is missing or the root, -EPERM for a directory. */
int blz_seed_link_path(struct blz_seed *s, const char *path, const char *target,
		       const struct timespec *parent_time);
/* Whiteout: removes the entry at path if a lower layer made it; 0 when there is none or its
 * parent is not a directory (nothing to hide); -EINVAL if the last component is "", "." or
 * "..". */
int blz_seed_whiteout(struct blz_seed *s, const char *path);
/* Opaque directory: removes the entries lower layers made in the directory at path (""
 * for the root); 0 also when there is no such directory. */
int blz_seed_opaque(struct blz_seed *s, const char *path);
/* Starts the next layer. */
void blz_seed_next_layer(struct blz_seed *s);
/* Sets or replaces one xattr of an entry. */
void blz_seed_add_xattr(struct blz_seed *s, struct blz_inode *ino, const char *name,
			const void *value, size_t len);
/* Regular files: the data (size bytes) is to be read later from the host path src. */
void blz_seed_defer_data(struct blz_seed *s, struct blz_inode *ino, uint64_t size,
			 const char *src);
/* Calls fn for every entry still in the tree whose data was deferred, in inode order (so
 * the data layout is deterministic), and forgets its source; stops at the first negative
 * return and returns it, else 0. fn streams the data with blz_seed_data_begin... */
int blz_seed_each_deferred(struct blz_seed *s,
			   int (*fn)(void *ctx, struct blz_inode *ino, const char *src,
				     uint64_t size),
			   void *ctx);

/* A human-readable description of the last failure (names the path involved). */
const char *blz_seed_error(const struct blz_seed *s);
/* For ingest modules: record a failure message; returns r. */
int blz_seed_fail(struct blz_seed *s, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Streams a regular file's data: begin with the size the source declares, then any mix
 * of write (data) and hole (zeros known without reading) calls summing to exactly that
 * size, then end. Files up to opts.inline_max bytes are stored inline in metadata; all-zero
 * sectors become holes. name is used in error messages.
 */
int blz_seed_data_begin(struct blz_seed *s, struct blz_inode *ino, uint64_t size,
			const char *name);
int blz_seed_data_write(struct blz_seed *s, const void *buf, size_t len);
int blz_seed_data_hole(struct blz_seed *s, uint64_t len);
int blz_seed_data_end(struct blz_seed *s);

/* Lays out and writes all metadata and superblocks. The image is complete afterwards. */
int blz_seed_finish(struct blz_seed *s, struct blz_seed_layout *ret);

#endif
