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

/* The entry e describes (xattrs: room for e->nxattrs). */
static void entry_of(const struct blz_tar_entry *e, struct blz_seed_entry *out,
		     struct blz_seed_xattr *xattrs)
{
	for (size_t i = 0; i < e->nxattrs; i++)
		xattrs[i] = (struct blz_seed_xattr){ e->xattrs[i].name, e->xattrs[i].value,
						     e->xattrs[i].len };
	*out = (struct blz_seed_entry){
		.mode = type_mode(e->type) | (e->mode & 07777),
		.uid = e->uid, .gid = e->gid,
		.rdev_major = e->devmajor, .rdev_minor = e->devminor,
		.atime = e->atime, .mtime = e->mtime, .ctime = e->ctime,
		.target = e->type == BLZ_TAR_SYMLINK ? e->linkname : NULL,
		.xattrs = xattrs, .nxattrs = e->nxattrs,
	};
}

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* An entry named .wh.* (base, in e->path): applies it to the tree (never adds it). */
static int whiteout(struct blz_seed *s, const struct blz_tar_entry *e, const char *base,
		    const char *name)
{
	size_t plen = (size_t)(base - e->path); /* the parent, with its '/' */
	char *path = blz_xstrdup(e->path);
	int r = 0;
	if (strcmp(base, WH_OPAQUE) == 0) {
		path[plen ? plen - 1 : 0] = 0;
		r = blz_seed_opaque(s, path);
	} else if (strncmp(base + strlen(WH_PREFIX), WH_PREFIX, strlen(WH_PREFIX)) != 0) {
		/* (other AUFS metadata, .wh..wh.plnk, ..., is not part of the tree) */
		memmove(path + plen, base + strlen(WH_PREFIX), strlen(base + strlen(WH_PREFIX)) + 1);
		r = blz_seed_whiteout(s, path);
	}
	free(path);
	if (r < 0)
		return blz_seed_fail(s, r, "%s: invalid whiteout '%s'", name, e->path);
	return 0;
}

/* A regular file's data, from the archive. */
static int stream(struct blz_seed *s, struct blz_tar *tar, struct blz_inode *ino,
		  const struct blz_tar_entry *e, const char *name, uint8_t *buf)
{
	int r = blz_seed_data_begin(s, ino, e->size, e->path);
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

static int apply(struct blz_seed *s, struct blz_tar *tar, const struct blz_tar_entry *e,
		 const char *name, uint8_t *buf)
{
	const char *last = strrchr(e->path, '/');
	last = last ? last + 1 : e->path;
	if (strncmp(last, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return whiteout(s, e, last, name);
	if (e->path[0] == 0 && e->type != BLZ_TAR_DIR) /* the archive's "./" */
		return blz_seed_fail(s, -EINVAL, "%s: the root entry is not a directory", name);
	int r;
	if (e->type == BLZ_TAR_HARDLINK) {
		r = blz_seed_link_path(s, e->path, e->linkname, &e->mtime);
		if (r == -ENOENT)
			return blz_seed_fail(s, r, "%s: hard link '%s' points to '%s', which is not in the archive",
					     name, e->path, e->linkname);
		if (r == -EPERM)
			return blz_seed_fail(s, r, "%s: hard link '%s' points to the directory '%s'",
					     name, e->path, e->linkname);
	} else {
		size_t n = e->type == BLZ_TAR_SYMLINK ? strlen(e->linkname) : 1;
		if (n == 0 || n > 4095)
			return blz_seed_fail(s, -EINVAL, "%s: symlink '%s' has an empty or over-long target",
					     name, e->path);
		struct blz_seed_entry se;
		struct blz_seed_xattr *xattrs = blz_xcalloc(e->nxattrs + 1, sizeof(*xattrs));
		entry_of(e, &se, xattrs);
		struct blz_inode *ino;
		r = blz_seed_put_path(s, e->path, &se, &ino);
		free(xattrs);
		if (r == 0 && e->type == BLZ_TAR_REG)
			return stream(s, tar, ino, e, name, buf);
	}
	if (r == -ENOTDIR)
		return blz_seed_fail(s, r, "%s: cannot place '%s': a parent is not a directory", name,
				     e->path);
	if (r < 0)
		return blz_seed_fail(s, r, "%s: cannot add '%s': %s", name, e->path, strerror(-r));
	return 0;
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
	blz_seed_next_layer(s);
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
