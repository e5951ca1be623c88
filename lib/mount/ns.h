/*
 * Pruning a private mount namespace down to what a process needs.
 *
 * blazy serve runs in a private mount namespace (so that no mount of its own disk can end
 * up in it). A fresh namespace is a copy of every mount there was, and each copy keeps its
 * filesystem alive: a disk unmounted elsewhere stays mounted until the server exits.
 * blz_mount_prune detaches (MNT_DETACH) every mount that none of the given paths lies on,
 * nor above; the filesystems of the rest are only kept by whoever else still uses them.
 */
#ifndef BLZ_MOUNT_NS_H
#define BLZ_MOUNT_NS_H

#include <stddef.h>
#include <stdint.h>

#include "mount/mountinfo.h"

/* The mounts to detach so that only the ones in keep (mount ids) and their ancestors stay:
 * the indexes (into m) of the mounts outside that set whose parent is in it (detaching one
 * takes its whole subtree). Writes at most n indexes to out; returns how many. */
size_t blz_mnt_prune_candidates(const struct blz_mnt *m, size_t n, const uint64_t *keep,
				size_t nkeep, size_t *out);

/* In the calling process's mount namespace (which must be private to it), detaches every
 * mount that none of the paths lies on or above. A path that does not exist counts as its
 * nearest existing parent directory. A mount hidden under another one at the same path
 * can only be reached once that one is gone; mounts that cannot be reached or detached are
 * left. Returns the number of mounts detached, -EOPNOTSUPP when the kernel cannot tell a
 * path's mount (statx STATX_MNT_ID, Linux 5.8), or another -errno. */
int blz_mount_prune(const char *const *paths, size_t npaths);

#endif
