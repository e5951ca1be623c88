/* The directory source: a store directory (store.h), opened read-only. The engine reads it
 * inline through s->store; get (the file image) serves the workers and the tools. */
#include "fetch/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch/internal.h"
#include "util/fileio.h"
#include "util/strbuf.h"

struct dir_source {
	struct blz_source base;
	int dirfd;
};

static int dir_get(struct blz_source *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		   size_t max_len, uint64_t deadline_ms, struct blz_buf *out,
		   struct blz_source_err *err)
{
	struct dir_source *d = (struct dir_source *)s;
	char rel[BLZ_FETCH_REL_LEN];
	blz_fetch_rel_path(digest, rel);
	/* O_NONBLOCK: a FIFO at a chunk's name is refused, not waited on */
	int fd = openat(d->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int r = -errno;
		snprintf(err->reason, sizeof(err->reason), "%s", r == -ENOENT ? "missing" : strerror(-r));
		return r;
	}
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EIO;
	else if ((uint64_t)st.st_size > max_len)
		r = -EFBIG;
	if (r == 0) {
		size_t old = out->len;
		void *p = blz_buf_grow(out, (size_t)st.st_size);
		ssize_t n = blz_read_full(fd, p, (size_t)st.st_size);
		if (n != st.st_size) {
			out->len = old;
			r = n < 0 ? (int)n : -EIO;
		}
	}
	close(fd);
	if (r < 0)
		snprintf(err->reason, sizeof(err->reason), "%s", strerror(-r));
	return r;
}

static void dir_close(struct blz_source *s)
{
	struct dir_source *d = (struct dir_source *)s;
	blz_store_close(s->store);
	if (d->dirfd >= 0)
		close(d->dirfd);
	free(d);
}

static const struct blz_source_ops dir_ops = { .get = dir_get, .close = dir_close };

int blz_source_dir_open(const char *dir, const struct blz_source_opts *opts,
			struct blz_source **ret, char *err, size_t errlen)
{
	struct dir_source *d = blz_xcalloc(1, sizeof(*d));
	d->base.ops = &dir_ops;
	d->base.kind = BLZ_SOURCE_DIR;
	d->dirfd = -1;
	snprintf(d->base.name, sizeof(d->base.name), "%s", dir);
	d->base.max_inflight = opts && opts->max_inflight ? opts->max_inflight : 8;
	int r = blz_store_open(dir, BLZ_STORE_RDONLY, &d->base.store);
	if (r == 0) {
		d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d->dirfd < 0)
			r = -errno;
	}
	if (r < 0) {
		dir_close(&d->base);
		return blz_errf(err, errlen, r, "cannot open store '%s': %s", dir, strerror(-r));
	}
	*ret = &d->base;
	return 0;
}
