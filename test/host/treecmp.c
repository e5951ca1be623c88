/* treecmp: compare two directory trees exhaustively and print every difference.
 *
 *   treecmp [--ignore RELPATH]... SRC DST
 *
 * Compared per path: presence (names are arbitrary bytes), file type, permission bits
 * (incl. setuid/setgid/sticky), uid, gid, mtime (with nanoseconds), xattr names and values
 * (files, directories and symlinks), and then by type: size and bytes (regular files), target
 * (symlinks), major:minor (devices). Hard links: the partition of the compared paths into
 * hard-link groups must be the same on both sides. Not compared: atime, ctime, inode numbers,
 * st_nlink, directory sizes, block counts and sparseness.
 *
 * Output: one line per difference on stdout, "PATH: WHAT: SRC-VALUE != DST-VALUE", with
 * bytes outside printable ASCII written as \n, \t, \\ or \xNN. Exit 0 when identical, 1 when
 * different, 2 on misuse or when something could not be read ("treecmp: error: ..."). */
#include "util/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

enum side { SRC, DST };
static const char *const side_name[] = { "SRC", "DST" };

static const char *roots[2];
static VEC(char *) ignores;
static unsigned long ndiff;
static bool had_error;

/* ---- output ---- */

static void put_escaped(FILE *f, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static void put_path(FILE *f, const char *rel)
{
	if (!*rel)
		fputc('.', f);
	else
		put_escaped(f, rel, strlen(rel));
}

static void diff(const char *rel, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "PATH: <fmt>" */
static void diff(const char *rel, const char *fmt, ...)
{
	va_list ap;
	put_path(stdout, rel);
	fputs(": ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	ndiff++;
}

static void error_at(const char *path, int err, const char *what)
{
	fprintf(stderr, "treecmp: error: cannot %s '", what);
	put_escaped(stderr, path, strlen(path));
	fprintf(stderr, "': %s\n", strerror(err));
	had_error = true;
}

/* ---- paths ---- */

static char *join(const char *a, const char *b)
{
	if (!*a)
		return blz_xstrdup(b);
	size_t la = strlen(a), lb = strlen(b);
	char *s = blz_xmalloc(la + 1 + lb + 1);
	memcpy(s, a, la);
	s[la] = '/';
	memcpy(s + la + 1, b, lb + 1);
	return s;
}

static char *full_path(enum side s, const char *rel)
{
	return *rel ? join(roots[s], rel) : blz_xstrdup(roots[s]);
}

static bool ignored(const char *rel)
{
	for (size_t i = 0; i < ignores.len; i++)
		if (!strcmp(ignores.v[i], rel))
			return true;
	return false;
}

/* ---- hard-link groups: (st_dev, st_ino) -> first compared path of that inode ---- */

struct link_entry {
	dev_t dev;
	ino_t ino;
	char *first; /* NULL = empty slot */
};

struct link_map {
	struct link_entry *v;
	size_t cap, len;
};

static struct link_map links[2];

static size_t link_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;
	return (size_t)(h ^ (h >> 29));
}

static struct link_entry *link_slot(struct link_map *m, dev_t dev, ino_t ino)
{
	size_t i = link_hash(dev, ino) & (m->cap - 1);
	while (m->v[i].first && !(m->v[i].dev == dev && m->v[i].ino == ino))
		i = (i + 1) & (m->cap - 1);
	return &m->v[i];
}

/* The first path registered for this inode (rel itself when it is new). */
static const char *link_first(struct link_map *m, const struct stat *st, const char *rel)
{
	if (m->len * 2 >= m->cap) {
		struct link_map n = { .cap = m->cap ? m->cap * 2 : 1024 };
		n.v = blz_xcalloc(n.cap, sizeof(*n.v));
		for (size_t i = 0; i < m->cap; i++)
			if (m->v[i].first)
				*link_slot(&n, m->v[i].dev, m->v[i].ino) = m->v[i];
		n.len = m->len;
		free(m->v);
		*m = n;
	}
	struct link_entry *e = link_slot(m, st->st_dev, st->st_ino);
	if (!e->first) {
		e->dev = st->st_dev;
		e->ino = st->st_ino;
		e->first = blz_xstrdup(rel);
		m->len++;
	}
	return e->first;
}

/* ---- attribute comparisons ---- */

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown type";
	}
}

static void compare_stat(const char *rel, const struct stat *a, const struct stat *b)
{
	if ((a->st_mode & 07777) != (b->st_mode & 07777))
		diff(rel, "mode: %04o != %04o", (unsigned)(a->st_mode & 07777),
		     (unsigned)(b->st_mode & 07777));
	if (a->st_uid != b->st_uid)
		diff(rel, "uid: %u != %u", (unsigned)a->st_uid, (unsigned)b->st_uid);
	if (a->st_gid != b->st_gid)
		diff(rel, "gid: %u != %u", (unsigned)a->st_gid, (unsigned)b->st_gid);
	if (a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
		diff(rel, "mtime: %lld.%09ld != %lld.%09ld", (long long)a->st_mtim.tv_sec,
		     a->st_mtim.tv_nsec, (long long)b->st_mtim.tv_sec, b->st_mtim.tv_nsec);
	if (S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode)) {
		if (a->st_rdev != b->st_rdev)
			diff(rel, "rdev: %u:%u != %u:%u", major(a->st_rdev), minor(a->st_rdev),
			     major(b->st_rdev), minor(b->st_rdev));
	}
	if (S_ISREG(a->st_mode) && a->st_size != b->st_size)
		diff(rel, "size: %lld != %lld", (long long)a->st_size, (long long)b->st_size);
}

struct xattr {
	char *name;
	char *value;
	ssize_t len;
};

static int xattr_cmp(const void *x, const void *y)
{
	return strcmp(((const struct xattr *)x)->name, ((const struct xattr *)y)->name);
}

/* All xattrs of path (not following symlinks), sorted by name. -1 on error (reported). */
static int read_xattrs(const char *path, struct xattr **ret, size_t *ret_n)
{
	char *names = NULL;
	ssize_t len;
	for (;;) {
		len = llistxattr(path, NULL, 0);
		if (len < 0) {
			if (errno == ENOTSUP) {
				len = 0;
				break;
			}
			error_at(path, errno, "list the xattrs of");
			return -1;
		}
		free(names);
		names = blz_xmalloc((size_t)len + 1);
		len = llistxattr(path, names, (size_t)len);
		if (len >= 0)
			break;
		if (errno != ERANGE) {
			error_at(path, errno, "list the xattrs of");
			free(names);
			return -1;
		}
	}
	VEC(struct xattr) v = { 0 };
	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(names + off) + 1) {
		struct xattr x = { .name = blz_xstrdup(names + off) };
		for (;;) {
			ssize_t vl = lgetxattr(path, x.name, NULL, 0);
			if (vl < 0)
				break;
			x.value = blz_xrealloc(x.value, (size_t)vl + 1);
			x.len = lgetxattr(path, x.name, x.value, (size_t)vl);
			if (x.len >= 0 || errno != ERANGE)
				break;
		}
		if (x.len < 0 || !x.value) {
			error_at(path, errno, "read an xattr of");
			x.len = -1;
		}
		vec_push(&v, x);
	}
	free(names);
	blz_sort(v.v, v.len, sizeof(*v.v), xattr_cmp);
	*ret = v.v;
	*ret_n = v.len;
	return 0;
}

static void put_value(const struct xattr *x)
{
	enum { SHOW = 48 };
	if (x->len < 0) {
		fputs("(unreadable)", stdout);
		return;
	}
	fputc('"', stdout);
	put_escaped(stdout, x->value, x->len > SHOW ? SHOW : (size_t)x->len);
	fprintf(stdout, "%s\" (%zd bytes)", x->len > SHOW ? "..." : "", x->len);
}

static void free_xattrs(struct xattr *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

static void compare_xattrs(const char *rel, const char *pa, const char *pb)
{
	struct xattr *xa = NULL, *xb = NULL;
	size_t na = 0, nb = 0;
	if (read_xattrs(pa, &xa, &na) < 0)
		return;
	if (read_xattrs(pb, &xb, &nb) < 0) {
		free_xattrs(xa, na);
		return;
	}
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : strcmp(xa[i].name, xb[j].name);
		if (c < 0 || c > 0) {
			const struct xattr *x = c < 0 ? &xa[i++] : &xb[j++];
			put_path(stdout, rel);
			fputs(": xattr \"", stdout);
			put_escaped(stdout, x->name, strlen(x->name));
			fprintf(stdout, "\" only in %s: ", side_name[c < 0 ? SRC : DST]);
			put_value(x);
			fputc('\n', stdout);
			ndiff++;
			continue;
		}
		if (xa[i].len != xb[j].len || (xa[i].len > 0 &&
					       memcmp(xa[i].value, xb[j].value, (size_t)xa[i].len))) {
			put_path(stdout, rel);
			fputs(": xattr \"", stdout);
			put_escaped(stdout, xa[i].name, strlen(xa[i].name));
			fputs("\": ", stdout);
			put_value(&xa[i]);
			fputs(" != ", stdout);
			put_value(&xb[j]);
			fputc('\n', stdout);
			ndiff++;
		}
		i++;
		j++;
	}
	free_xattrs(xa, na);
	free_xattrs(xb, nb);
}

static void compare_symlinks(const char *rel, const char *pa, const char *pb)
{
	char ta[8192], tb[8192];
	ssize_t la = readlink(pa, ta, sizeof(ta));
	ssize_t lb = readlink(pb, tb, sizeof(tb));
	if (la < 0 || lb < 0) {
		error_at(la < 0 ? pa : pb, errno, "read the symlink");
		return;
	}
	if (la == lb && !memcmp(ta, tb, (size_t)la))
		return;
	put_path(stdout, rel);
	fputs(": symlink target: \"", stdout);
	put_escaped(stdout, ta, (size_t)la);
	fputs("\" != \"", stdout);
	put_escaped(stdout, tb, (size_t)lb);
	fputs("\"\n", stdout);
	ndiff++;
}

/* Next offset >= pos that may hold data (size when none). */
static off_t next_data(int fd, off_t pos, off_t size)
{
	off_t d = lseek(fd, pos, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO ? size : pos; /* no SEEK_DATA support: read everything */
	return d;
}

static void compare_contents(const char *rel, const char *pa, const char *pb, off_t size)
{
	enum { BUF = 1 << 20 };
	int fa = open(pa, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fa < 0) {
		error_at(pa, errno, "open");
		return;
	}
	int fb = open(pb, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fb < 0) {
		error_at(pb, errno, "open");
		close(fa);
		return;
	}
	char *ba = blz_xmalloc(BUF), *bb = blz_xmalloc(BUF);
	off_t pos = 0;
	while (pos < size) {
		/* Where both files have a hole, both read as zeros: skip it. */
		off_t da = next_data(fa, pos, size), db = next_data(fb, pos, size);
		off_t skip = da < db ? da : db;
		if (skip > pos) {
			pos = skip;
			continue;
		}
		size_t want = size - pos < BUF ? (size_t)(size - pos) : BUF;
		ssize_t ra = pread(fa, ba, want, pos);
		ssize_t rb = pread(fb, bb, want, pos);
		if (ra < 0 || rb < 0) {
			error_at(ra < 0 ? pa : pb, errno, "read");
			break;
		}
		size_t n = (size_t)(ra < rb ? ra : rb);
		if (memcmp(ba, bb, n)) {
			size_t k = 0;
			while (ba[k] == bb[k])
				k++;
			diff(rel, "content differs from byte %lld", (long long)(pos + (off_t)k));
			break;
		}
		if (ra != rb || n == 0) {
			diff(rel, "content: one side ends early at byte %lld", (long long)(pos + (off_t)n));
			break;
		}
		pos += (off_t)n;
	}
	free(ba);
	free(bb);
	close(fa);
	close(fb);
}

/* ---- the walk ---- */

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Sorted entry names of a directory; -1 on error (reported). */
static int list_dir(const char *path, char ***ret, size_t *ret_n)
{
	DIR *d = opendir(path);
	if (!d) {
		error_at(path, errno, "open the directory");
		return -1;
	}
	VEC(char *) v = { 0 };
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		vec_push(&v, blz_xstrdup(de->d_name));
	}
	if (errno) {
		error_at(path, errno, "read the directory");
		closedir(d);
		for (size_t i = 0; i < v.len; i++)
			free(v.v[i]);
		free(v.v);
		return -1;
	}
	closedir(d);
	blz_sort(v.v, v.len, sizeof(*v.v), name_cmp);
	*ret = v.v;
	*ret_n = v.len;
	return 0;
}

static void compare_path(const char *rel);

static void compare_dirs(const char *rel, const char *pa, const char *pb)
{
	char **na = NULL, **nb = NULL;
	size_t ca = 0, cb = 0;
	if (list_dir(pa, &na, &ca) < 0)
		return;
	if (list_dir(pb, &nb, &cb) < 0) {
		for (size_t i = 0; i < ca; i++)
			free(na[i]);
		free(na);
		return;
	}
	size_t i = 0, j = 0;
	while (i < ca || j < cb) {
		int c = i >= ca ? 1 : j >= cb ? -1 : strcmp(na[i], nb[j]);
		const char *name = c <= 0 ? na[i] : nb[j];
		char *child = join(rel, name);
		if (!ignored(child)) {
			if (c == 0)
				compare_path(child);
			else
				diff(child, "only in %s", side_name[c < 0 ? SRC : DST]);
		}
		free(child);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	for (size_t k = 0; k < ca; k++)
		free(na[k]);
	for (size_t k = 0; k < cb; k++)
		free(nb[k]);
	free(na);
	free(nb);
}

static void compare_path(const char *rel)
{
	char *pa = full_path(SRC, rel), *pb = full_path(DST, rel);
	struct stat sa, sb;
	if (lstat(pa, &sa) < 0) {
		error_at(pa, errno, "stat");
		goto out;
	}
	if (lstat(pb, &sb) < 0) {
		error_at(pb, errno, "stat");
		goto out;
	}
	if (!S_ISDIR(sa.st_mode)) {
		const char *fa = link_first(&links[SRC], &sa, rel);
		const char *fb = S_ISDIR(sb.st_mode) ? rel : link_first(&links[DST], &sb, rel);
		if (strcmp(fa, fb)) {
			put_path(stdout, rel);
			fputs(": hard link: same inode as \"", stdout);
			put_path(stdout, fa);
			fputs("\" in SRC but as \"", stdout);
			put_path(stdout, fb);
			fputs("\" in DST\n", stdout);
			ndiff++;
		}
	} else if (!S_ISDIR(sb.st_mode)) {
		link_first(&links[DST], &sb, rel);
	}
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
		diff(rel, "type: %s != %s", type_name(sa.st_mode), type_name(sb.st_mode));
		goto out;
	}
	compare_stat(rel, &sa, &sb);
	compare_xattrs(rel, pa, pb);
	if (S_ISLNK(sa.st_mode))
		compare_symlinks(rel, pa, pb);
	else if (S_ISREG(sa.st_mode) && sa.st_size == sb.st_size)
		compare_contents(rel, pa, pb, sa.st_size);
	else if (S_ISDIR(sa.st_mode))
		compare_dirs(rel, pa, pb);
out:
	free(pa);
	free(pb);
}

static void usage(FILE *f)
{
	fputs("usage: treecmp [--ignore RELPATH]... SRC DST\n"
	      "Compare two directory trees; print one line per difference.\n"
	      "Exit status: 0 identical, 1 different, 2 error.\n", f);
}

/* "./a/b/" -> "a/b" */
static char *normalize_rel(const char *s)
{
	while (s[0] == '.' && s[1] == '/')
		s += 2;
	while (*s == '/')
		s++;
	char *r = blz_xstrdup(s);
	size_t n = strlen(r);
	while (n > 0 && r[n - 1] == '/')
		r[--n] = '\0';
	return r;
}

int main(int argc, char **argv)
{
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--ignore")) {
			if (++i >= argc) {
				usage(stderr);
				return 2;
			}
			vec_push(&ignores, normalize_rel(argv[i]));
		} else if (!strncmp(argv[i], "--ignore=", 9)) {
			vec_push(&ignores, normalize_rel(argv[i] + 9));
		} else if (!strcmp(argv[i], "--")) {
			for (i++; i < argc && npos < 2; i++)
				roots[npos++] = argv[i];
			if (i < argc)
				npos = 3;
			break;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "treecmp: error: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (npos < 2) {
			roots[npos++] = argv[i];
		} else {
			npos = 3;
		}
	}
	if (npos != 2) {
		usage(stderr);
		return 2;
	}
	compare_path("");
	if (fflush(stdout) != 0) {
		fprintf(stderr, "treecmp: error: cannot write the output: %s\n", strerror(errno));
		return 2;
	}
	if (ndiff)
		fprintf(stderr, "treecmp: %lu difference%s\n", ndiff, ndiff == 1 ? "" : "s");
	if (had_error)
		return 2;
	return ndiff ? 1 : 0;
}
