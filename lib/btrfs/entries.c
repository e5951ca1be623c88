/* The writer's entry API (writer.h): the only way sources change the seed's file tree. */
#include "btrfs/writer.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "util/strbuf.h"

static bool valid_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK: case S_IFIFO:
	case S_IFSOCK:
		return true;
	}
	return false;
}

/* Attributes and xattrs (replacing all the inode had). */
static void set_attr(struct blz_inode *ino, const struct blz_seed_entry *e)
{
	ino->mode = e->mode;
	ino->uid = e->uid;
	ino->gid = e->gid;
	ino->atime = e->atime;
	ino->mtime = e->mtime;
	ino->ctime = e->ctime;
	ino->rdev_major = e->rdev_major;
	ino->rdev_minor = e->rdev_minor;
	for (size_t i = 0; i < ino->xattrs.len; i++) {
		free(ino->xattrs.v[i].name);
		free(ino->xattrs.v[i].value);
	}
	ino->xattrs.len = 0;
	for (size_t i = 0; i < e->nxattrs; i++)
		blz_inode_set_xattr(ino, e->xattrs[i].name, e->xattrs[i].value, e->xattrs[i].len);
}

/* A new, unlinked inode for e; path is the tree path (keep_local) or NULL. */
static int new_inode(struct blz_seed *s, const struct blz_seed_entry *e, const char *path,
		     struct blz_inode **ret)
{
	size_t tlen = S_ISLNK(e->mode) && e->target ? strlen(e->target) : 0;
	if (!valid_type(e->mode) || (S_ISLNK(e->mode) && (tlen == 0 || tlen > 4095)))
		return -EINVAL;
	struct blz_inode *ino = blz_fstree_new_inode(blz_seed_tree(s), e->mode);
	set_attr(ino, e);
	if (S_ISREG(e->mode) && path)
		ino->keep_local = blz_seed_keep_local(s, path);
	if (tlen) {
		ino->inline_data = blz_xmemdup(e->target, tlen);
		ino->inline_len = tlen;
		ino->size = tlen;
	}
	*ret = ino;
	return 0;
}

int blz_seed_put(struct blz_seed *s, struct blz_inode *dir, const char *name,
		 const struct blz_seed_entry *e, struct blz_inode **ret)
{
	struct blz_inode *ino;
	int r = new_inode(s, e, e->path, &ino);
	if (r < 0)
		return r;
	r = blz_fstree_link(blz_seed_tree(s), dir, name, strlen(name), ino);
	if (r < 0)
		return r;
	if (ret)
		*ret = ino;
	return 0;
}

int blz_seed_put_path(struct blz_seed *s, const char *path, const struct blz_seed_entry *e,
		      struct blz_inode **ret)
{
	struct blz_fstree *t = blz_seed_tree(s);
	if (!*path) {
		if (!S_ISDIR(e->mode))
			return -EINVAL;
		set_attr(t->root, e);
		if (ret)
			*ret = t->root;
		return 0;
	}
	struct blz_inode *dir, *ino;
	const char *base;
	size_t blen;
	if (blz_fstree_walk_parent(t, path, 0755, &e->mtime, &dir, &base, &blen) < 0)
		return -ENOTDIR;
	struct blz_dirent *old = blz_fstree_lookup(t, dir, base, blen);
	if (S_ISDIR(e->mode) && old && S_ISDIR(old->inode->mode)) {
		set_attr(old->inode, e); /* keep its contents */
		old->layer = t->cur_layer;
		if (ret)
			*ret = old->inode;
		return 0;
	}
	int r = new_inode(s, e, path, &ino);
	if (r < 0)
		return r;
	if (old)
		blz_fstree_unlink(t, old);
	r = blz_fstree_link(t, dir, base, blen, ino);
	if (r < 0)
		return r;
	if (ret)
		*ret = ino;
	return 0;
}

int blz_seed_link(struct blz_seed *s, struct blz_inode *dir, const char *name,
		  struct blz_inode *target)
{
	if (S_ISDIR(target->mode))
		return -EPERM;
	return blz_fstree_link(blz_seed_tree(s), dir, name, strlen(name), target);
}

int blz_seed_link_path(struct blz_seed *s, const char *path, const char *target,
		       const struct timespec *parent_time)
{
	struct blz_fstree *t = blz_seed_tree(s);
	struct blz_inode *dir, *ino;
	const char *base;
	size_t blen;
	if (blz_fstree_walk_parent(t, path, 0755, parent_time, &dir, &base, &blen) < 0)
		return -ENOTDIR;
	struct blz_dirent *old = blz_fstree_lookup(t, dir, base, blen);
	if (blz_fstree_resolve(t, target, NULL, &ino) < 0 || ino == t->root)
		return -ENOENT;
	if (S_ISDIR(ino->mode))
		return -EPERM;
	if (old && old->inode == ino)
		return 0;
	if (old)
		blz_fstree_unlink(t, old);
	return blz_fstree_link(t, dir, base, blen, ino);
}

/* The directory at path, or NULL if there is none. */
static struct blz_inode *find_dir(struct blz_fstree *t, const char *path, size_t len)
{
	char *p = blz_xmemdup(path, len + 1);
	p[len] = 0;
	struct blz_inode *dir = NULL;
	int r = blz_fstree_resolve(t, p, NULL, &dir);
	free(p);
	return r < 0 || !S_ISDIR(dir->mode) ? NULL : dir;
}

int blz_seed_whiteout(struct blz_seed *s, const char *path)
{
	struct blz_fstree *t = blz_seed_tree(s);
	const char *slash = strrchr(path, '/');
	const char *victim = slash ? slash + 1 : path;
	struct blz_inode *dir = find_dir(t, path, slash ? (size_t)(slash - path) : 0);
	if (!dir)
		return 0; /* nothing below to hide */
	if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
		return -EINVAL;
	struct blz_dirent *d = blz_fstree_lookup(t, dir, victim, strlen(victim));
	if (d && d->layer < t->cur_layer)
		blz_fstree_unlink(t, d);
	return 0;
}

int blz_seed_opaque(struct blz_seed *s, const char *path)
{
	struct blz_fstree *t = blz_seed_tree(s);
	struct blz_inode *dir = find_dir(t, path, strlen(path));
	for (size_t i = 0; dir && i < dir->children.len; i++) {
		struct blz_dirent *d = dir->children.v[i];
		if (d->inode && d->layer < t->cur_layer)
			blz_fstree_unlink(t, d);
	}
	return 0;
}

void blz_seed_next_layer(struct blz_seed *s)
{
	blz_seed_tree(s)->cur_layer++;
}

void blz_seed_add_xattr(struct blz_seed *s, struct blz_inode *ino, const char *name,
			const void *value, size_t len)
{
	blz_inode_set_xattr(ino, name, value, len);
}

void blz_seed_defer_data(struct blz_seed *s, struct blz_inode *ino, uint64_t size,
			 const char *src)
{
	ino->size = size;
	free(ino->src_path);
	ino->src_path = blz_xstrdup(src);
}

int blz_seed_each_deferred(struct blz_seed *s,
			   int (*fn)(void *ctx, struct blz_inode *ino, const char *src,
				     uint64_t size),
			   void *ctx)
{
	struct blz_fstree *t = blz_seed_tree(s);
	/* Number the tree so data is laid out in a deterministic order. */
	blz_fstree_number(t, 256);
	int r = 0;
	for (size_t i = 0; i < t->order.len && r >= 0; i++) {
		struct blz_inode *ino = t->order.v[i];
		if (!ino->src_path)
			continue;
		r = fn(ctx, ino, ino->src_path, ino->size);
		free(ino->src_path);
		ino->src_path = NULL;
	}
	return r;
}
