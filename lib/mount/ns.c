/* Pruning a private mount namespace: see ns.h. */
#include "mount/ns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "mount/mountinfo.h"

#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif

/* Passes over mountinfo: each detaches at least one mount or ends the pruning. */
#define MAX_PASSES 64

static ssize_t find_id(const struct blz_mnt *m, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].id == id)
			return (ssize_t)i;
	return -1;
}

size_t blz_mnt_prune_candidates(const struct blz_mnt *m, size_t n, const uint64_t *keep,
				size_t nkeep, size_t *out)
{
	bool *kept = calloc(n ? n : 1, sizeof(*kept));
	if (!kept)
		return 0;
	for (size_t k = 0; k < nkeep; k++) {
		/* the mount and its ancestors (a parent link back into the set ends the walk) */
		for (ssize_t i = find_id(m, n, keep[k]); i >= 0 && !kept[i];
		     i = find_id(m, n, m[i].parent))
			kept[i] = true;
	}
	size_t c = 0;
	for (size_t i = 0; i < n; i++) {
		if (kept[i])
			continue;
		ssize_t p = find_id(m, n, m[i].parent);
		if (p >= 0 && kept[p])
			out[c++] = i;
	}
	free(kept);
	return c;
}

/* The mount id of path (its nearest existing parent if it does not exist). */
static int path_mount_id(const char *path, uint64_t *ret)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (;;) {
		struct statx stx;
		if (statx(AT_FDCWD, buf, 0, STATX_MNT_ID, &stx) == 0) {
			if (!(stx.stx_mask & STATX_MNT_ID))
				return -EOPNOTSUPP;
			*ret = stx.stx_mnt_id;
			return 0;
		}
		int r = -errno;
		if (r == -EINVAL || r == -ENOSYS)
			return -EOPNOTSUPP;
		if (r != -ENOENT)
			return r;
		char *slash = strrchr(buf, '/');
		if (!slash || slash == buf) {
			snprintf(buf, sizeof(buf), "/");
			continue;
		}
		*slash = '\0';
	}
}

int blz_mount_prune(const char *const *paths, size_t npaths)
{
	uint64_t *keep = calloc(npaths + 1, sizeof(*keep));
	if (!keep)
		return -ENOMEM;
	int r = path_mount_id("/", &keep[0]);
	for (size_t i = 0; i < npaths && r == 0; i++)
		r = path_mount_id(paths[i], &keep[i + 1]);
	int detached = 0;
	for (int pass = 0; pass < MAX_PASSES && r == 0; pass++) {
		struct blz_mnt *m;
		size_t n;
		r = blz_mountinfo_read(&m, &n);
		if (r < 0)
			break;
		size_t *cand = malloc((n ? n : 1) * sizeof(*cand));
		if (!cand) {
			blz_mnt_free(m, n);
			r = -ENOMEM;
			break;
		}
		size_t c = blz_mnt_prune_candidates(m, n, keep, npaths + 1, cand);
		int now = 0;
		for (size_t k = 0; k < c; k++) {
			const struct blz_mnt *x = &m[cand[k]];
			/* Only by a path that leads to this very mount: under another mount, the
			 * same path may lead to one that must stay. */
			struct statx stx;
			if (statx(AT_FDCWD, x->path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0 ||
			    !(stx.stx_mask & STATX_MNT_ID) || stx.stx_mnt_id != x->id)
				continue;
			if (umount2(x->path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
				now++;
		}
		free(cand);
		blz_mnt_free(m, n);
		detached += now;
		if (now == 0)
			break;
	}
	free(keep);
	return r < 0 ? r : detached;
}
