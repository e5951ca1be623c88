/*
 * The in-memory file tree mkseed builds from its sources (a directory, tar streams)
 * before the btrfs writer lays it out. It knows nothing about btrfs: inodes carry POSIX
 * metadata, names, xattrs and an opaque data description owned by the writer.
 */
#ifndef BLZ_FSTREE_FSTREE_H
#define BLZ_FSTREE_FSTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "util/strbuf.h"

struct blz_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};

/* A contiguous run of a file's data stored at a device address. */
struct blz_file_extent {
	uint64_t file_off;
	uint64_t disk;     /* logical address */
	uint64_t len;      /* multiple of the sector size */
	uint64_t csum_idx; /* index of the first checksum in the writer's csum array, or UINT64_MAX */
};

struct blz_dirent;

struct blz_inode {
	uint64_t ino;             /* assigned by blz_fstree_number() */
	uint32_t mode;            /* st_mode: type and permissions */
	uint32_t uid, gid;
	uint32_t rdev_major, rdev_minor;
	struct timespec atime, mtime, ctime;
	uint64_t size;
	uint64_t btrfs_flags;     /* e.g. NODATASUM */
	uint32_t nlink;           /* number of live directory entries naming it */
	VEC(struct blz_xattr) xattrs;

	/* Directories: entries in insertion order (removed ones have inode == NULL). */
	VEC(struct blz_dirent *) children;
	size_t live_children;

	/* Data (regular files and symlinks). */
	uint8_t *inline_data;     /* small files, symlink targets */
	size_t inline_len;
	VEC(struct blz_file_extent) extents;
	char *src_path;           /* data still to be read from this host path */
	bool visited;             /* scratch for walks */
	bool keep_local;          /* mkseed --lazy: keep this file's data in the image */
};

struct blz_dirent {
	struct blz_inode *parent;
	struct blz_inode *inode;  /* NULL once removed */
	char *name;
	uint16_t name_len;
	uint64_t index;           /* directory index, assigned by blz_fstree_number() */
	uint32_t layer;           /* the tree's cur_layer when the entry was made or restated */
	struct blz_dirent *hnext; /* hash chain */
};

struct blz_fstree {
	struct blz_inode *root;
	VEC(struct blz_inode *) inodes; /* every inode ever created, for freeing */
	struct blz_dirent **hash;
	size_t hash_size, hash_count;
	/* Source layer being applied (tar layers count from 1); new entries are tagged with it
	 * so whiteouts can tell entries of lower layers from those of the current one. */
	uint32_t cur_layer;
	/* After blz_fstree_number(): live inodes in inode-number order. */
	VEC(struct blz_inode *) order;
};

void blz_fstree_init(struct blz_fstree *t);
void blz_fstree_release(struct blz_fstree *t);

struct blz_inode *blz_fstree_new_inode(struct blz_fstree *t, uint32_t mode);

/* Looks up name in dir. Returns the entry or NULL. */
struct blz_dirent *blz_fstree_lookup(struct blz_fstree *t, struct blz_inode *dir,
				     const char *name, size_t len);

/* Adds an entry; -EEXIST if the name exists, -ENAMETOOLONG over 255 bytes,
 * -EINVAL for an empty name, ".", "..", or one containing '/'. */
int blz_fstree_link(struct blz_fstree *t, struct blz_inode *dir, const char *name, size_t len,
		    struct blz_inode *inode);

/* Removes an entry (recursively dropping a directory's subtree from view). */
void blz_fstree_unlink(struct blz_fstree *t, struct blz_dirent *d);

/*
 * Resolves a relative path ("a/b/c") to its parent directory, creating missing
 * intermediate directories with mode dirmode and times ts. Returns 0 and the parent
 * plus the last component, -ENOTDIR if a component is not a directory.
 */
int blz_fstree_walk_parent(struct blz_fstree *t, const char *path, uint32_t dirmode,
			   const struct timespec *ts, struct blz_inode **ret_dir,
			   const char **ret_name, size_t *ret_len);
/* Resolves a whole relative path; "" is the root. -ENOENT / -ENOTDIR. */
int blz_fstree_resolve(struct blz_fstree *t, const char *path, struct blz_dirent **ret_dirent,
		       struct blz_inode **ret_inode);

/* Sets or replaces an xattr. */
void blz_inode_set_xattr(struct blz_inode *ino, const char *name, const void *value,
			 size_t len);
/* Drops data, xattrs and children bookkeeping of an inode being replaced. */
void blz_inode_clear_data(struct blz_inode *ino);

/*
 * Numbers the live tree depth-first with entries sorted by name (bytewise): the root
 * gets first_ino, then each newly reached inode the next number; directory indexes
 * start at 2 in name order. Fills t->order. Returns the number of live inodes.
 */
size_t blz_fstree_number(struct blz_fstree *t, uint64_t first_ino);

#endif
