/* lib/orch: what a writable backing holds, decided from its own bytes (see orchestrate.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btrfs/format.h"
#include "orch/internal.h"
#include "util/le.h"
#include "util/strbuf.h"

#define HEAD_SIZE (1u << 20)

/* The first MiB of path, read with O_DIRECT where it works (no stale page cache of a block
 * device that btrfs wrote to). 0 or -errno. */
static int read_head(const char *path, uint8_t **ret)
{
	void *buf;
	if (posix_memalign(&buf, 4096, HEAD_SIZE))
		return -ENOMEM;
	int r = -EINVAL;
	for (int direct = 1; direct >= 0 && r == -EINVAL; direct--) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
		if (fd < 0) {
			r = -errno;
			continue;
		}
		ssize_t n = pread(fd, buf, HEAD_SIZE, 0);
		r = n < 0 ? -errno : n < (ssize_t)HEAD_SIZE ? -EIO : 0;
		close(fd);
	}
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	return 0;
}

/* What a non-btrfs head holds, in words, or NULL when it is all zeros. */
static const char *head_kind(const uint8_t *h, char *buf, size_t len)
{
	if (!memcmp(h, "LUKS\xba\xbe", 6))
		return "a LUKS volume";
	if (!memcmp(h, "XFSB", 4))
		return "an XFS filesystem";
	if (get_le16(h + 1024 + 56) == 0xEF53)
		return "an ext2/3/4 filesystem";
	if (!memcmp(h + 4096 - 10, "SWAPSPACE2", 10))
		return "swap space";
	if (h[510] == 0x55 && h[511] == 0xAA)
		return "a partition table or boot sector";
	for (size_t i = 0; i < HEAD_SIZE; i++)
		if (h[i]) {
			snprintf(buf, len, "data (a non-zero byte at offset %zu)", i);
			return buf;
		}
	return NULL;
}

/* A btrfs backing: a sprout of this seed, or refused saying what it is. */
static int check_btrfs(const char *backing, const char *seed, const struct blz_seed_info *si,
		       const char *dir, char ret_fsid[33], char *err, size_t errlen)
{
	char e[256], hex[33], seed_hex[33];
	struct blz_sprout_info sp;
	blz_orch_hex_fsid(si->fsid, seed_hex);
	int fd = open(backing, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return blz_errf(err, errlen, -errno, "cannot open the backing %s: %s", backing,
				strerror(errno));
	/* Blocks btrfs wrote through another path must not be read from a stale cache. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	int sfd = open(seed, O_RDONLY | O_CLOEXEC);
	int r = blz_sprout_inspect(fd, sfd, si->fsid, &sp, e, sizeof(e));
	close(fd);
	if (sfd >= 0)
		close(sfd);
	if (r < 0)
		return blz_errf(err, errlen, -EEXIST,
				"backing %s holds a btrfs filesystem that blazy cannot read as a sprout "
				"(%s); refusing to overwrite it", backing, e);
	blz_orch_hex_fsid(sp.fsid, hex);
	if (!memcmp(sp.fsid, si->fsid, 16))
		return blz_errf(err, errlen, -EEXIST,
				"backing %s holds the seed's own filesystem (fsid %s), not a sprout of "
				"it; refusing to overwrite it", backing, hex);
	const struct blz_btrfs_dev *sd = blz_sprout_seed_dev(&sp);
	if (!sd)
		return blz_errf(err, errlen, -EEXIST,
				"backing %s holds a btrfs filesystem (fsid %s, %llu device(s)) that is "
				"not a sprout of a seed; refusing to overwrite it", backing, hex,
				(unsigned long long)sp.num_devices);
	if (memcmp(sd->fsid, si->fsid, 16) || memcmp(sd->uuid, si->dev_uuid, 16)) {
		char other[33], named[BLZ_ORCH_PATH_MAX + 16] = "";
		struct blz_orch_state old;
		blz_orch_hex_fsid(sd->fsid, other);
		if (orch_state_find_sprout(dir, hex, "", &old) == 1)
			snprintf(named, sizeof(named), "%s, ", old.seed);
		return blz_errf(err, errlen, -EXDEV,
				"backing %s was sprouted from another seed (%sfsid %s%s), not from %s "
				"(fsid %s); refusing to overwrite it", backing, named, other,
				memcmp(sd->fsid, si->fsid, 16) ? "" : ", another device", seed,
				seed_hex);
	}
	memcpy(ret_fsid, hex, 33);
	return BLZ_BACKING_SPROUT;
}

int blz_orch_backing_check(const char *backing, const char *seed, const struct blz_seed_info *si,
			   const char *state_dir, char ret_fsid[33], char *err, size_t errlen)
{
	uint8_t *h;
	int r = read_head(backing, &h);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot read the backing %s: %s", backing,
				strerror(-r));
	char what[64];
	const char *kind = NULL;
	if (get_le64(h + BTRFS_SUPER_INFO_OFFSET + SB_MAGIC) == BTRFS_MAGIC)
		r = check_btrfs(backing, seed, si, blz_orch_state_dir(state_dir), ret_fsid, err,
				errlen);
	else if ((kind = head_kind(h, what, sizeof(what))))
		r = blz_errf(err, errlen, -EEXIST,
			     "backing %s holds %s, not a sprout of %s; refusing to overwrite it",
			     backing, kind, seed);
	else
		r = BLZ_BACKING_BLANK;
	free(h);
	return r;
}
