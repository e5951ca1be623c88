#include "ingest/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/strbuf.h"

#define READ_CHUNK (1u << 20)
/* Files up to this size are read during the walk; larger ones afterwards, in inode order,
 * with holes found by SEEK_DATA/SEEK_HOLE instead of being read. */
#define SMALL_FILE (1u << 20)

struct hardlink {
	dev_t dev;
	ino_t ino;
	struct blz_inode *inode;
};

struct walk {
	struct blz_seed *s;
	VEC(struct hardlink) links;
	struct blz_buf path; /* the current path, NUL-terminated, for messages */
	size_t root_len;     /* path + root_len: the path inside the tree */
	uint8_t *buf;
};

static struct blz_seed_entry entry_of(const struct stat *st)
{
	struct blz_seed_entry e = {
		.mode = st->st_mode, .uid = st->st_uid, .gid = st->st_gid,
		.atime = st->st_atim, .mtime = st->st_mtim, .ctime = st->st_ctim,
	};
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		e.rdev_major = major(st->st_rdev);
		e.rdev_minor = minor(st->st_rdev);
	}
	return e;
}

/* Xattrs through an open fd when there is one (no path lookup), else by path without
 * following a symlink. */
static ssize_t x_list(int fd, const char *path, char *names, size_t len)
{
	return fd >= 0 ? flistxattr(fd, names, len) : llistxattr(path, names, len);
}

static ssize_t x_get(int fd, const char *path, const char *name, void *val, size_t len)
{
	return fd >= 0 ? fgetxattr(fd, name, val, len) : lgetxattr(path, name, val, len);
}

static int read_xattrs(struct blz_seed *s, int fd, const char *path, struct blz_inode *ino)
{
	ssize_t n = x_list(fd, path, NULL, 0);
	if (n < 0) {
		if (errno == ENOTSUP || errno == ENOSYS)
			return 0;
		return blz_seed_fail(s, -errno, "cannot list xattrs of '%s': %s", path, strerror(errno));
	}
	if (n == 0)
		return 0;
	char *names = blz_xmalloc((size_t)n);
	n = x_list(fd, path, names, (size_t)n);
	if (n < 0) {
		int e = errno;
		free(names);
		return blz_seed_fail(s, -e, "cannot list xattrs of '%s': %s", path, strerror(e));
	}
	int r = 0;
	for (char *name = names; name < names + n; name += strlen(name) + 1) {
		ssize_t vl = x_get(fd, path, name, NULL, 0);
		if (vl < 0) {
			if (errno == ENODATA)
				continue;
			r = blz_seed_fail(s, -errno, "cannot read xattr '%s' of '%s': %s", name, path,
					  strerror(errno));
			break;
		}
		uint8_t *val = blz_xmalloc((size_t)vl + 1);
		vl = x_get(fd, path, name, val, (size_t)vl);
		if (vl < 0) {
			r = blz_seed_fail(s, -errno, "cannot read xattr '%s' of '%s': %s", name, path,
					  strerror(errno));
			free(val);
			break;
		}
		blz_seed_add_xattr(s, ino, name, val, (size_t)vl);
		free(val);
	}
	free(names);
	return r;
}

/* Streams size bytes of fd into the writer; large files skip holes by SEEK_DATA/SEEK_HOLE. */
static int stream_file(struct blz_seed *s, struct blz_inode *ino, int fd, const char *path,
		       uint64_t size, uint8_t *buf)
{
	int r = blz_seed_data_begin(s, ino, size, path);
	if (r < 0)
		return r;
	bool sparse_scan = size > SMALL_FILE;
	uint64_t pos = 0;
	while (pos < size) {
		off_t data = sparse_scan ? lseek(fd, (off_t)pos, SEEK_DATA) : (off_t)pos;
		if (data < 0 && errno == ENXIO)
			data = (off_t)size;
		else if (data < 0)
			data = (off_t)pos; /* no SEEK_DATA support: read everything */
		if ((uint64_t)data > size)
			data = (off_t)size;
		if ((uint64_t)data > pos) {
			r = blz_seed_data_hole(s, (uint64_t)data - pos);
			if (r < 0)
				return r;
			pos = (uint64_t)data;
			continue;
		}
		off_t hole = sparse_scan ? lseek(fd, (off_t)pos, SEEK_HOLE) : (off_t)size;
		uint64_t end = hole < 0 || (uint64_t)hole > size ? size : (uint64_t)hole;
		if (end <= pos)
			end = size;
		while (pos < end) {
			size_t want = end - pos < READ_CHUNK ? (size_t)(end - pos) : READ_CHUNK;
			ssize_t n = pread(fd, buf, want, (off_t)pos);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return blz_seed_fail(s, -errno, "cannot read '%s': %s", path, strerror(errno));
			if (n == 0)
				return blz_seed_fail(s, -ESTALE, "'%s' shrank while mkseed was reading it",
						     path);
			r = blz_seed_data_write(s, buf, (size_t)n);
			if (r < 0)
				return r;
			pos += (uint64_t)n;
		}
	}
	return blz_seed_data_end(s);
}

static int open_source(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOATIME | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership */
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	return fd;
}

static int walk_dir(struct walk *w, int dfd, struct blz_inode *dir);

/* A symlink's target, read now (the entry carries it). */
static int read_target(struct blz_seed *s, int dfd, const char *name, const char *path,
		       char target[4097])
{
	ssize_t n = readlinkat(dfd, name, target, 4097);
	if (n < 0)
		return blz_seed_fail(s, -errno, "cannot read symlink '%s': %s", path, strerror(errno));
	if (n >= 4096)
		return blz_seed_fail(s, -ENAMETOOLONG, "symlink '%s' has a target over 4095 bytes", path);
	target[n] = 0;
	return 0;
}

static int add_entry(struct walk *w, int dfd, struct blz_inode *dir, const char *name)
{
	struct blz_seed *s = w->s;
	const char *path = (const char *)w->path.data;
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return blz_seed_fail(s, -errno, "cannot stat '%s': %s", path, strerror(errno));

	struct blz_inode *ino = NULL;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		for (size_t i = 0; i < w->links.len; i++)
			if (w->links.v[i].dev == st.st_dev && w->links.v[i].ino == st.st_ino)
				ino = w->links.v[i].inode;
		if (ino) {
			int r = blz_seed_link(s, dir, name, ino);
			if (r < 0)
				return blz_seed_fail(s, r, "cannot add '%s': %s", path, strerror(-r));
			return 0;
		}
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK: case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		return blz_seed_fail(s, -EOPNOTSUPP, "'%s' has an unsupported file type (mode %o)",
				     path, st.st_mode);
	}
	struct blz_seed_entry e = entry_of(&st);
	char target[4097];
	if (S_ISLNK(st.st_mode)) {
		int r = read_target(s, dfd, name, path, target);
		if (r < 0)
			return r;
		e.target = target;
	}
	e.path = path + w->root_len;
	int r = blz_seed_put(s, dir, name, &e, &ino);
	if (r < 0)
		return blz_seed_fail(s, r, "cannot add '%s': %s", path, strerror(-r));
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		struct hardlink hl = { st.st_dev, st.st_ino, ino };
		vec_push(&w->links, hl);
	}

	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		int fd = S_ISDIR(st.st_mode)
			 ? openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			 : open_source(dfd, name);
		if (fd < 0)
			return blz_seed_fail(s, -errno, "cannot open %s'%s': %s",
					     S_ISDIR(st.st_mode) ? "directory " : "", path, strerror(errno));
		r = read_xattrs(s, fd, path, ino);
		if (r >= 0 && S_ISDIR(st.st_mode))
			r = walk_dir(w, fd, ino); /* takes over fd */
		else if (r >= 0 && (uint64_t)st.st_size <= SMALL_FILE)
			r = stream_file(s, ino, fd, path, (uint64_t)st.st_size, w->buf);
		else if (r >= 0)
			blz_seed_defer_data(s, ino, (uint64_t)st.st_size, path);
		if (!S_ISDIR(st.st_mode))
			close(fd);
		return r;
	}
	return read_xattrs(s, -1, path, ino);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks the directory open at dfd (closed on return), entries in name order. */
static int walk_dir(struct walk *w, int dfd, struct blz_inode *dir)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return blz_seed_fail(w->s, -errno, "cannot open directory '%s': %s",
				     (const char *)w->path.data, strerror(errno));
	}
	VEC(char *) names = { 0 };
	int r = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				r = blz_seed_fail(w->s, -errno, "cannot read directory '%s': %s",
						  (const char *)w->path.data, strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			vec_push(&names, blz_xstrdup(de->d_name));
	}
	blz_sort(names.v, names.len, sizeof(char *), name_cmp);
	size_t base = w->path.len - 1; /* without the NUL */
	for (size_t i = 0; i < names.len && r >= 0; i++) {
		w->path.len = base;
		blz_buf_append(&w->path, "/", 1);
		blz_buf_append(&w->path, names.v[i], strlen(names.v[i]) + 1);
		r = add_entry(w, dirfd(d), dir, names.v[i]);
	}
	if (r >= 0) {
		w->path.len = base + 1;
		w->path.data[base] = 0;
	}
	for (size_t i = 0; i < names.len; i++)
		free(names.v[i]);
	vec_release(&names);
	closedir(d);
	return r;
}

int blz_ingest_dir(struct blz_seed *s, const char *dir)
{
	struct walk w = { .s = s };
	struct stat st;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int e = errno;
		if (e == ENOTDIR)
			return blz_seed_fail(s, -e, "'%s' is not a directory", dir);
		if (stat(dir, &st) < 0)
			return blz_seed_fail(s, -errno, "cannot stat '%s': %s", dir, strerror(errno));
		return blz_seed_fail(s, -e, "cannot open directory '%s': %s", dir, strerror(e));
	}
	if (fstat(dfd, &st) < 0) {
		close(dfd);
		return blz_seed_fail(s, -errno, "cannot stat '%s': %s", dir, strerror(errno));
	}
	struct blz_inode *root;
	struct blz_seed_entry e = entry_of(&st);
	int r = blz_seed_put_path(s, "", &e, &root);
	if (r < 0) {
		close(dfd);
		return blz_seed_fail(s, r, "'%s' is not a directory", dir);
	}
	size_t len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	blz_buf_append(&w.path, dir, len);
	blz_buf_append(&w.path, "", 1);
	w.root_len = len + 1; /* entries' paths: dir "/" relative path */
	w.buf = blz_xmalloc(READ_CHUNK);
	r = read_xattrs(s, dfd, dir, root);
	if (r >= 0)
		r = walk_dir(&w, dfd, root);
	else
		close(dfd);
	free(w.buf);
	vec_release(&w.links);
	blz_buf_release(&w.path);
	return r;
}

struct late {
	struct blz_seed *s;
	uint8_t *buf;
};

static int stream_late(void *ctx, struct blz_inode *ino, const char *path, uint64_t size)
{
	struct late *l = ctx;
	int fd = open_source(AT_FDCWD, path);
	if (fd < 0)
		return blz_seed_fail(l->s, -errno, "cannot open '%s': %s", path, strerror(errno));
	struct stat st;
	int r;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		r = blz_seed_fail(l->s, -ESTALE, "'%s' changed while mkseed was reading the source",
				  path);
	else
		r = stream_file(l->s, ino, fd, path, size, l->buf);
	close(fd);
	return r;
}

int blz_ingest_dir_data(struct blz_seed *s)
{
	struct late l = { s, blz_xmalloc(READ_CHUNK) };
	int r = blz_seed_each_deferred(s, stream_late, &l);
	free(l.buf);
	return r;
}
