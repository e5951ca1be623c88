/*
 * treesum: a manifest of a directory tree, one line per entry, sorted by path, that two
 * copies of a tree must share exactly: the lazy rootfs test compares the source (on the
 * host) with the lazily served mount (in the VM) by reading every byte of both.
 *
 *   treesum [--exclude REL]... [--no-content] DIR
 *
 * Line: PATH TYPE MODE UID GID SIZE MTIME RDEV NLINK TARGET LINKGROUP XATTRS CONTENT
 * PATH is relative ("." for DIR), bytes outside 0x21..0x7e and '%' as %XX; directories
 * print "-" for SIZE and NLINK (they differ between filesystems); TARGET is a symlink's
 * target in hex; LINKGROUP the first path of a file's hard-link group; XATTRS name=sha256
 * (prefix) pairs joined by ','; CONTENT the SHA-256 of a regular file's bytes. atime and
 * ctime are left out (no copy keeps them). A file that cannot be read is reported on
 * stderr, its CONTENT is "ERROR", and the exit status is 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/sha256.h"

struct entry {
	char *path;   /* relative, raw bytes */
	char *line;   /* the fields after PATH up to LINKGROUP */
	char *tail;   /* XATTRS CONTENT */
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
	int is_file;
};

static struct entry *ents;
static size_t nents, capents;
static char **excludes;
static int nexcludes, no_content, status;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "treesum: out of memory\n");
		exit(2);
	}
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		fprintf(stderr, "treesum: out of memory\n");
		exit(2);
	}
	return s;
}

static void hexdigest(const void *data, size_t len, char out[65])
{
	uint8_t d[BLZ_SHA256_LEN];
	blz_sha256(data, len, d);
	blz_hex(d, sizeof(d), out);
}

static const char *root;

/* xattrs by full path (l*xattr: a symlink's own) */
static char *xattrs_of(const char *path)
{
	char *proc = strcmp(path, ".") ? xasprintf("%s/%s", root, path) : xasprintf("%s", root);
	ssize_t n = llistxattr(proc, NULL, 0);
	if (n <= 0) {
		free(proc);
		return xasprintf("-");
	}
	char *names = xmalloc((size_t)n + 1);
	n = llistxattr(proc, names, (size_t)n);
	if (n < 0)
		n = 0;
	/* Sort the names (NUL-separated) by collecting pointers. */
	const char *list[256];
	int cnt = 0;
	for (char *p = names; p < names + n && cnt < 256; p += strlen(p) + 1)
		list[cnt++] = p;
	for (int i = 1; i < cnt; i++)
		for (int j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0; j--) {
			const char *t = list[j];
			list[j] = list[j - 1];
			list[j - 1] = t;
		}
	size_t cap = 64, len = 0;
	char *out = xmalloc(cap);
	out[0] = 0;
	for (int i = 0; i < cnt; i++) {
		char val[65536], hex[65];
		ssize_t vl = lgetxattr(proc, list[i], val, sizeof(val));
		if (vl < 0) {
			fprintf(stderr, "treesum: %s: xattr %s: %s\n", path, list[i], strerror(errno));
			status = 1;
			vl = 0;
		}
		hexdigest(val, (size_t)vl, hex);
		hex[16] = 0;
		size_t need = strlen(list[i]) + 20;
		if (len + need + 2 > cap) {
			cap = (len + need) * 2;
			char *o = xmalloc(cap);
			memcpy(o, out, len + 1);
			free(out);
			out = o;
		}
		len += (size_t)sprintf(out + len, "%s%s=%s", i ? "," : "", list[i], hex);
	}
	free(names);
	free(proc);
	return out;
}

static char *content_of(int dfd, const char *name, const char *path)
{
	if (no_content)
		return xasprintf("-");
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "treesum: %s: %s\n", path, strerror(errno));
		status = 1;
		return xasprintf("ERROR");
	}
	static uint8_t buf[1 << 20];
	struct blz_sha256 ctx;
	blz_sha256_init(&ctx);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "treesum: %s: %s\n", path, strerror(errno));
			status = 1;
			close(fd);
			return xasprintf("ERROR");
		}
		if (n == 0)
			break;
		blz_sha256_update(&ctx, buf, (size_t)n);
	}
	close(fd);
	uint8_t d[BLZ_SHA256_LEN];
	char hex[65];
	blz_sha256_final(&ctx, d);
	blz_hex(d, sizeof(d), hex);
	return xasprintf("%s", hex);
}

static int excluded(const char *rel)
{
	for (int i = 0; i < nexcludes; i++)
		if (strcmp(rel, excludes[i]) == 0)
			return 1;
	return 0;
}

static void walk(int dfd, const char *name, const char *rel);

static void add(int dfd, const char *name, const char *rel)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		fprintf(stderr, "treesum: %s: %s\n", rel, strerror(errno));
		status = 1;
		return;
	}
	char type, target[8300] = "-", size[32] = "-", nlink[32] = "-", rdev[48] = "-";
	switch (st.st_mode & S_IFMT) {
	case S_IFREG: type = 'f'; break;
	case S_IFDIR: type = 'd'; break;
	case S_IFLNK: type = 'l'; break;
	case S_IFCHR: type = 'c'; break;
	case S_IFBLK: type = 'b'; break;
	case S_IFIFO: type = 'p'; break;
	case S_IFSOCK: type = 's'; break;
	default: type = '?';
	}
	if (type != 'd') {
		snprintf(size, sizeof(size), "%lld", (long long)st.st_size);
		snprintf(nlink, sizeof(nlink), "%lu", (unsigned long)st.st_nlink);
	}
	if (type == 'c' || type == 'b')
		snprintf(rdev, sizeof(rdev), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	if (type == 'l') {
		char t[4097];
		ssize_t n = readlinkat(dfd, name, t, sizeof(t) - 1);
		if (n < 0) {
			fprintf(stderr, "treesum: %s: readlink: %s\n", rel, strerror(errno));
			status = 1;
			n = 0;
		}
		for (ssize_t i = 0; i < n; i++)
			sprintf(target + 2 * i, "%02x", (uint8_t)t[i]);
		if (n == 0)
			strcpy(target, "-");
	}
	if (nents == capents) {
		capents = capents ? capents * 2 : 1024;
		struct entry *e = xmalloc(capents * sizeof(*e));
		memcpy(e, ents, nents * sizeof(*e));
		free(ents);
		ents = e;
	}
	struct entry *e = &ents[nents++];
	e->path = xasprintf("%s", rel);
	e->line = xasprintf("%c %04o %u %u %s %lld.%09ld %s %s %s", type,
			    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid, size,
			    (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, rdev, nlink, target);
	char *xa = xattrs_of(rel);
	char *content = type == 'f' ? content_of(dfd, name, rel) : xasprintf("-");
	e->tail = xasprintf("%s %s", xa, content);
	free(xa);
	free(content);
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->nlink = st.st_nlink;
	e->is_file = type != 'd';
	if (type == 'd')
		walk(dfd, name, rel);
}

static void walk(int pfd, const char *name, const char *rel)
{
	int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		fprintf(stderr, "treesum: %s: %s\n", rel, strerror(errno));
		status = 1;
		if (dfd >= 0)
			close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *child = strcmp(rel, ".") ? xasprintf("%s/%s", rel, de->d_name)
					       : xasprintf("%s", de->d_name);
		if (!excluded(child))
			add(dirfd(d), de->d_name, child);
		free(child);
	}
	closedir(d);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static void print_escaped(const char *s)
{
	for (const uint8_t *p = (const uint8_t *)s; *p; p++) {
		if (*p < 0x21 || *p > 0x7e || *p == '%')
			printf("%%%02X", *p);
		else
			putchar(*p);
	}
}

int main(int argc, char **argv)
{
	excludes = xmalloc((size_t)argc * sizeof(char *));
	int i = 1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--exclude") && i + 1 < argc)
			excludes[nexcludes++] = argv[++i];
		else if (!strcmp(argv[i], "--no-content"))
			no_content = 1;
		else
			break;
	}
	if (i != argc - 1 || argv[i][0] == '-') {
		fprintf(stderr, "usage: treesum [--exclude REL]... [--no-content] DIR\n");
		return 2;
	}
	root = argv[i];
	add(AT_FDCWD, argv[i], ".");
	qsort(ents, nents, sizeof(*ents), by_path);
	for (size_t k = 0; k < nents; k++) {
		const char *group = "-";
		if (ents[k].is_file && ents[k].nlink > 1)
			for (size_t j = 0; j < nents; j++) /* the first path of the group (sorted) */
				if (ents[j].dev == ents[k].dev && ents[j].ino == ents[k].ino) {
					group = ents[j].path;
					break;
				}
		print_escaped(ents[k].path);
		printf(" %s ", ents[k].line);
		if (strcmp(group, "-"))
			print_escaped(group);
		else
			putchar('-');
		printf(" %s\n", ents[k].tail);
	}
	return status;
}
