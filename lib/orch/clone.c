#include "orch/clone.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount/btrfs_ioctl.h"
#include "orch/orchestrate.h"
#include "server/control.h"
#include "util/crash.h"
#include "util/strbuf.h"

struct blz_cloner {
	char mnt[PATH_MAX];
	struct blz_orch_state st;
	struct blz_mapper *mapper;
	int virt_fd;
	dev_t dev;
	bool added;
};

void blz_cloner_close(struct blz_cloner *c)
{
	if (!c)
		return;
	if (c->added) {
		struct blz_reg reg;
		if (blz_reg_find_seed(c->st.seed, &reg) == 1) {
			char sock[128], *reply = NULL;
			blz_reg_sock_path(reg.dev_id, sock, sizeof(sock));
			blz_ctl_request(sock, "map", &reply, 5000);
			free(reply);
		}
	}
	blz_mapper_close(c->mapper);
	if (c->virt_fd >= 0)
		close(c->virt_fd);
	free(c);
}

const char *blz_cloner_mountpoint(const struct blz_cloner *c)
{
	return c->mnt;
}

int blz_cloner_open(const char *state_dir, const char *dir, struct blz_cloner **ret, char *err,
		    size_t errlen)
{
	struct blz_cloner *c = blz_xcalloc(1, sizeof(*c));
	c->virt_fd = -1;
	char path[PATH_MAX];
	int r;
	if (!realpath(dir, path)) {
		r = blz_errf(err, errlen, -errno, "cannot resolve '%s': %s", dir, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = blz_errf(err, errlen, -ENOTDIR, "'%s' is not a directory", dir);
		goto fail;
	}
	c->dev = st.st_dev;
	/* The nearest enclosing mount point that blazy has a state file for. */
	for (;;) {
		if (blz_orch_is_mountpoint(path) == 1) {
			char e[256];
			r = blz_orch_state_read(state_dir, path, &c->st, e, sizeof(e));
			if (r == 0 && c->st.mounted)
				break;
			r = blz_errf(err, errlen, -ENOENT, "'%s' is not inside a blazy mount (%s is a "
				     "mount point blazy did not make)", dir, path);
			goto fail;
		}
		if (!strcmp(path, "/")) {
			r = blz_errf(err, errlen, -ENOENT, "'%s' is not inside a blazy mount", dir);
			goto fail;
		}
		char *slash = strrchr(path, '/');
		if (slash == path)
			slash[1] = 0;
		else
			*slash = 0;
	}
	snprintf(c->mnt, sizeof(c->mnt), "%s", path);
	struct blz_seedset_opts lo = { .seed = c->st.seed, .map_path = c->st.map,
					.store_dir = c->st.store };
	r = blz_mapper_open(&lo, &c->mapper, err, errlen);
	if (r < 0)
		goto fail;
	if (snprintf(path, sizeof(path), "%s/.blazy/virtual", c->mnt) >= (int)sizeof(path)) {
		r = blz_errf(err, errlen, -ENAMETOOLONG, "the mount point is too long");
		goto fail;
	}
	c->virt_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->virt_fd < 0) {
		r = blz_errf(err, errlen, -errno, "cannot open '%s': %s", path, strerror(errno));
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	blz_cloner_close(c);
	return r;
}

/* Gives the unnamed file fd (O_TMPFILE) the name path; fails with EEXIST if path exists.
 * AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd does not. 0 or -1 with errno. */
static int link_tmpfile(int fd, const char *path)
{
	if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -1;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

int blz_cloner_add(struct blz_cloner *c, const char *dest, const char *src, struct blz_mapped *ret,
		   char *err, size_t errlen)
{
	/* The destination's directory must be inside this mount (same filesystem). */
	char dirbuf[PATH_MAX], dirpath[PATH_MAX];
	snprintf(dirbuf, sizeof(dirbuf), "%s", dest);
	if (!realpath(dirname(dirbuf), dirpath))
		return blz_errf(err, errlen, -errno, "cannot resolve the directory of '%s': %s", dest,
				strerror(errno));
	size_t ml = strlen(c->mnt);
	struct stat dst;
	bool under = !strcmp(c->mnt, "/") ||
		     (!strncmp(dirpath, c->mnt, ml) && (dirpath[ml] == 0 || dirpath[ml] == '/'));
	if (!under || stat(dirpath, &dst) < 0 || dst.st_dev != c->dev)
		return blz_errf(err, errlen, -EXDEV, "'%s' is outside the blazy mount %s", dest, c->mnt);
	int sfd = open(src, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return blz_errf(err, errlen, -errno, "cannot open '%s': %s", src, strerror(errno));
	struct stat sst;
	if (fstat(sfd, &sst) < 0 || !S_ISREG(sst.st_mode)) {
		close(sfd);
		return blz_errf(err, errlen, -EINVAL, "'%s' is not a regular file", src);
	}
	/* All or nothing across a crash: the file is made unnamed (O_TMPFILE) in dest's directory,
	 * cloned, sized, given its mode and times and synced, and only then linked at dest (which
	 * fails if dest appeared meanwhile); a crash before the link leaves no file, only map
	 * records that nothing references (durable, never reused, harmless). */
	struct stat dst_now;
	int dirfd = -1, dfd = -1, r;
	if (lstat(dest, &dst_now) == 0)
		r = blz_errf(err, errlen, -EEXIST, "cannot create '%s': %s", dest, strerror(EEXIST));
	else if ((dirfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		 (dfd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600)) < 0)
		r = blz_errf(err, errlen, -errno, "cannot create '%s': %s", dest, strerror(errno));
	else
		r = blz_mapper_add(c->mapper, sfd, src, ret, err, errlen);
	close(sfd);
	if (r >= 0 && ret->size) {
		c->added = true;
		r = blz_clone_range(c->virt_fd, ret->virtual_off, ret->mapped, dfd, 0);
		if (r == -EINVAL)
			blz_errf(err, errlen, r, "cannot clone into '%s': the mount must use nodatasum "
				 "(blazy mount does)", dest);
		else if (r < 0)
			blz_errf(err, errlen, r, "cannot clone into '%s': %s", dest, strerror(-r));
		blz_crash_point("clone-cloned");
	}
	/* Exact size (the clone covers whole 4 KiB blocks), then the source's mode and times. */
	if (r >= 0 && ftruncate(dfd, (off_t)sst.st_size) < 0)
		r = blz_errf(err, errlen, -errno, "cannot size '%s': %s", dest, strerror(errno));
	struct timespec ts[2] = { sst.st_atim, sst.st_mtim };
	if (r >= 0 && (fchmod(dfd, sst.st_mode & 07777) < 0 || futimens(dfd, ts) < 0))
		r = blz_errf(err, errlen, -errno, "cannot set the mode and times of '%s': %s", dest,
			     strerror(errno));
	if (r >= 0 && fsync(dfd) < 0)
		r = blz_errf(err, errlen, -errno, "cannot sync '%s': %s", dest, strerror(errno));
	blz_crash_point("clone-synced");
	if (r >= 0 && link_tmpfile(dfd, dest) < 0)
		r = blz_errf(err, errlen, -errno, "cannot create '%s': %s", dest, strerror(errno));
	blz_crash_point("clone-linked");
	if (r >= 0 && fsync(dirfd) < 0)
		r = blz_errf(err, errlen, -errno, "cannot sync the directory of '%s': %s", dest,
			     strerror(errno));
	if (dfd >= 0)
		close(dfd);
	if (dirfd >= 0)
		close(dirfd);
	return r < 0 ? r : 0;
}
