#include "ingest/ingest.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "tar/tar.h"
#include "util/strbuf.h"

#define READ_CHUNK (1u << 20)

static uint32_t type_mode(enum blz_tar_type type)
{
	switch (type) {
	case BLZ_TAR_REG: return S_IFREG;
	case BLZ_TAR_SYMLINK: return S_IFLNK;
	case BLZ_TAR_CHR: return S_IFCHR;
	case BLZ_TAR_BLK: return S_IFBLK;
	case BLZ_TAR_DIR: return S_IFDIR;
	case BLZ_TAR_FIFO: return S_IFIFO;
	case BLZ_TAR_HARDLINK: return 0;
	}
	return 0;
}

static void set_meta(struct blz_inode *ino, const struct blz_tar_entry *e)
{
	ino->mode = type_mode(e->type) | (e->mode & 07777);
	ino->uid = e->uid;
	ino->gid = e->gid;
	ino->atime = e->atime;
	ino->mtime = e->mtime;
	ino->ctime = e->ctime;
	ino->rdev_major = e->devmajor;
	ino->rdev_minor = e->devminor;
	for (size_t i = 0; i < ino->xattrs.len; i++) {
		free(ino->xattrs.v[i].name);
		free(ino->xattrs.v[i].value);
	}
	ino->xattrs.len = 0;
	for (size_t i = 0; i < e->nxattrs; i++)
		blz_inode_set_xattr(ino, e->xattrs[i].name, e->xattrs[i].value, e->xattrs[i].len);
}

static int apply(struct blz_seed *s, struct blz_tar *tar, const struct blz_tar_entry *e,
		 const char *name, uint8_t *buf)
{
	struct blz_fstree *t = blz_seed_tree(s);
	if (e->path[0] == 0) { /* the archive's "./" */
		if (e->type != BLZ_TAR_DIR)
			return blz_seed_fail(s, -EINVAL, "%s: the root entry is not a directory", name);
		set_meta(t->root, e);
		return 0;
	}
	struct blz_inode *dir;
	const char *base;
	size_t blen;
	struct timespec ts = e->mtime;
	int r = blz_fstree_walk_parent(t, e->path, 0755, &ts, &dir, &base, &blen);
	if (r < 0)
		return blz_seed_fail(s, r, "%s: cannot place '%s': a parent is not a directory", name,
				     e->path);
	struct blz_dirent *old = blz_fstree_lookup(t, dir, base, blen);

	if (e->type == BLZ_TAR_DIR && old && S_ISDIR(old->inode->mode)) {
		set_meta(old->inode, e); /* keep its contents */
		return 0;
	}
	struct blz_inode *ino;
	if (e->type == BLZ_TAR_HARDLINK) {
		struct blz_inode *target;
		r = blz_fstree_resolve(t, e->linkname, NULL, &target);
		if (r < 0 || target == t->root)
			return blz_seed_fail(s, -ENOENT, "%s: hard link '%s' points to '%s', which is not in the archive",
					     name, e->path, e->linkname);
		if (S_ISDIR(target->mode))
			return blz_seed_fail(s, -EPERM, "%s: hard link '%s' points to the directory '%s'",
					     name, e->path, e->linkname);
		if (old && old->inode == target)
			return 0;
		ino = target;
	} else {
		ino = blz_fstree_new_inode(t, type_mode(e->type));
		set_meta(ino, e);
		if (e->type == BLZ_TAR_SYMLINK) {
			size_t n = strlen(e->linkname);
			if (n == 0 || n > 4095)
				return blz_seed_fail(s, -EINVAL, "%s: symlink '%s' has an empty or over-long target",
						     name, e->path);
			ino->inline_data = blz_xmemdup(e->linkname, n);
			ino->inline_len = n;
			ino->size = n;
		}
	}
	if (old)
		blz_fstree_unlink(t, old);
	r = blz_fstree_link(t, dir, base, blen, ino);
	if (r < 0)
		return blz_seed_fail(s, r, "%s: cannot add '%s': %s", name, e->path, strerror(-r));
	if (e->type != BLZ_TAR_REG)
		return 0;

	r = blz_seed_data_begin(s, ino, e->size, e->path);
	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = blz_tar_read(tar, buf, READ_CHUNK);
		if (n < 0)
			return blz_seed_fail(s, (int)n, "%s: %s", name, blz_tar_error(tar));
		if (n == 0)
			break;
		r = blz_seed_data_write(s, buf, (size_t)n);
		if (r < 0)
			return r;
	}
	return blz_seed_data_end(s);
}

int blz_ingest_tar(struct blz_seed *s, int fd, const char *name)
{
	struct blz_tar *tar;
	int r = blz_tar_open(&tar, fd);
	if (r < 0)
		return blz_seed_fail(s, r, "%s: cannot read the archive: %s", name, strerror(-r));
	uint8_t *buf = blz_xmalloc(READ_CHUNK);
	for (;;) {
		const struct blz_tar_entry *e;
		r = blz_tar_next(tar, &e);
		if (r < 0) {
			blz_seed_fail(s, r, "%s: %s", name, blz_tar_error(tar));
			break;
		}
		if (r == 0)
			break;
		r = apply(s, tar, e, name, buf);
		if (r < 0)
			break;
	}
	free(buf);
	blz_tar_close(tar);
	return r < 0 ? r : 0;
}
