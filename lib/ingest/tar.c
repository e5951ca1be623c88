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

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* Removes the entries of dir that lower layers made. */
static void make_opaque(struct blz_fstree *t, struct blz_inode *dir)
{
	for (size_t i = 0; i < dir->children.len; i++) {
		struct blz_dirent *d = dir->children.v[i];
		if (d->inode && d->layer < t->cur_layer)
			blz_fstree_unlink(t, d);
	}
}

/* An entry named .wh.*: applies it to the tree (never adds it). */
static int whiteout(struct blz_seed *s, const struct blz_tar_entry *e, const char *base,
		    const char *name)
{
	struct blz_fstree *t = blz_seed_tree(s);
	char *parent = blz_xstrdup(e->path);
	parent[base > e->path ? base - e->path - 1 : 0] = 0; /* cut at the '/' before base */
	struct blz_inode *dir = NULL;
	int r = blz_fstree_resolve(t, parent, NULL, &dir);
	free(parent);
	if (r < 0 || !S_ISDIR(dir->mode))
		return 0; /* nothing below to hide */
	if (strcmp(base, WH_OPAQUE) == 0) {
		make_opaque(t, dir);
		return 0;
	}
	const char *victim = base + strlen(WH_PREFIX);
	if (strncmp(victim, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return 0; /* other AUFS metadata (.wh..wh.plnk, ...): not part of the tree */
	if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
		return blz_seed_fail(s, -EINVAL, "%s: invalid whiteout '%s'", name, e->path);
	struct blz_dirent *d = blz_fstree_lookup(t, dir, victim, strlen(victim));
	if (d && d->layer < t->cur_layer)
		blz_fstree_unlink(t, d);
	return 0;
}

static int apply(struct blz_seed *s, struct blz_tar *tar, const struct blz_tar_entry *e,
		 const char *name, uint8_t *buf)
{
	struct blz_fstree *t = blz_seed_tree(s);
	const char *last = strrchr(e->path, '/');
	last = last ? last + 1 : e->path;
	if (strncmp(last, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return whiteout(s, e, last, name);
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
		old->layer = t->cur_layer;
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
		if (e->type == BLZ_TAR_REG)
			ino->keep_local = blz_seed_keep_local(s, e->path);
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
	struct blz_tar_layer l = { .fd = fd, .name = name };
	return blz_ingest_tar_layer(s, &l);
}

int blz_ingest_tar_layer(struct blz_seed *s, const struct blz_tar_layer *layer)
{
	const char *name = layer->name;
	struct blz_tar *tar;
	blz_seed_tree(s)->cur_layer++;
	int r = blz_tar_open_observed(&tar, layer->fd, &layer->obs);
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
	if (r == 0) {
		r = blz_tar_drain(tar); /* verifies a compressed stream to its end */
		if (r < 0)
			blz_seed_fail(s, r, "%s: %s", name, blz_tar_error(tar));
	}
	free(buf);
	blz_tar_close(tar);
	return r < 0 ? r : 0;
}
