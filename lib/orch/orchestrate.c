/* Mount orchestration (see orchestrate.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "orch/orchestrate.h"
#include "orch/internal.h"
#include "util/clock.h"

#include "btrfs/inspect.h"
#include "mount/btrfs_ioctl.h"
#include "mount/loop.h"
#include "seedset/seedset.h"
#include "server/control.h"
#include "ublk/ublk.h"
#include "util/fileio.h"
#include "util/le.h"

#define SUPER_OFF 65536
#define SUPER_SIZE 4096
#define SB_FSID_OFF 0x20
#define SB_MAGIC_OFF 0x40
#define SB_GEN_OFF 0x48
#define SB_MAGIC 0x4D5F53665248425FULL /* "_BHRfS_M" */

/* BTRFS_IOC_FS_INFO: _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args), 1024 bytes; the fsid
 * follows max_id and num_devices. */
#define BLZ_BTRFS_IOC_FS_INFO 0x8400941fu
#define FS_INFO_FSID_OFF 16


/* ---- devices ---- */

/* Reads the primary superblock of a device or file (O_DIRECT where it works, so that no
 * stale page cache is seen). Returns 1 when it has the btrfs magic, 0 when not, -errno. */
static int read_super(const char *path, uint8_t fsid[16], uint64_t *gen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	void *buf;
	if (posix_memalign(&buf, 4096, SUPER_SIZE)) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t n = pread(fd, buf, SUPER_SIZE, SUPER_OFF);
	int r = n < 0 ? -errno : 0;
	if (r == -EINVAL) { /* O_DIRECT refused (alignment): plain read */
		close(fd);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : pread(fd, buf, SUPER_SIZE, SUPER_OFF);
		r = n < 0 ? -errno : 0;
	}
	if (fd >= 0)
		close(fd);
	if (r == 0) {
		const uint8_t *b = buf;
		if (n < SUPER_SIZE || get_le64(b + SB_MAGIC_OFF) != SB_MAGIC) {
			r = 0;
		} else {
			memcpy(fsid, b + SB_FSID_OFF, 16);
			*gen = get_le64(b + SB_GEN_OFF);
			r = 1;
		}
	}
	free(buf);
	return r;
}

static int dev_size(const char *path, uint64_t *ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = ioctl(fd, BLKGETSIZE64, ret) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int wait_for_path(const char *path, unsigned ms)
{
	uint64_t end = blz_now_ms() + ms;
	while (access(path, F_OK) < 0) {
		if (blz_now_ms() >= end)
			return -ENOENT;
		usleep(20 * 1000);
	}
	return 0;
}

/* ---- checks ---- */

static int check_served(const char *dev, const struct blz_seed_info *si, char *err,
			size_t errlen)
{
	uint8_t fsid[16];
	uint64_t gen = 0;
	int r = read_super(dev, fsid, &gen);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot read the superblock of %s: %s", dev,
				strerror(-r));
	if (r == 0)
		return blz_errf(err, errlen, -EIO, "%s has no btrfs superblock", dev);
	char a[33], b[33];
	blz_orch_hex_fsid(fsid, a);
	blz_orch_hex_fsid(si->fsid, b);
	if (memcmp(fsid, si->fsid, 16))
		return blz_errf(err, errlen, -EIO, "%s serves fsid %s, the seed has %s", dev, a, b);
	if (gen != si->generation)
		return blz_errf(err, errlen, -EIO,
				"%s serves generation %llu, the seed has %llu", dev,
				(unsigned long long)gen, (unsigned long long)si->generation);
	return 0;
}

/* /.blazy/virtual must cover [virtual_off, virtual_off + virtual_size) contiguously. */
static int check_virtual(const char *mnt, const struct blz_seed_info *si, char *err,
			 size_t errlen)
{
	if (si->virtual_size == 0)
		return 0;
	char path[BLZ_ORCH_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/.blazy/virtual", strcmp(mnt, "/") ? mnt : "");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return blz_errf(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	struct blz_extent *ext = NULL;
	size_t n = 0;
	int r = blz_fiemap(fd, &ext, &n);
	close(fd);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot map the extents of %s: %s", path,
				strerror(-r));
	uint64_t at = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (ext[i].logical != at || ext[i].physical != si->virtual_off + at)
			r = blz_errf(err, errlen, -EIO,
				     "%s: extent at %llu maps to %llu, want %llu + %llu", path,
				     (unsigned long long)ext[i].logical,
				     (unsigned long long)ext[i].physical,
				     (unsigned long long)si->virtual_off, (unsigned long long)at);
		at += ext[i].length;
	}
	free(ext);
	if (r == 0 && at != si->virtual_size)
		r = blz_errf(err, errlen, -EIO, "%s covers %llu bytes, the seed's virtual area %llu",
			     path, (unsigned long long)at, (unsigned long long)si->virtual_size);
	return r;
}

static int fs_fsid(const char *mnt, char hex[33])
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint8_t args[1024] = { 0 };
	int r = ioctl(fd, BLZ_BTRFS_IOC_FS_INFO, args) < 0 ? -errno : 0;
	close(fd);
	if (r == 0)
		blz_orch_hex_fsid(args + FS_INFO_FSID_OFF, hex);
	return r;
}

/* ---- mount ---- */

struct undo {
	bool created_file, attached_loop, started_server, mounted, wiped;
	char loop[64], ublk[64];
};

static void rollback(const struct blz_orch_mount_opts *o, const char *mnt, const char *backing,
		     const char *bdev, struct undo *u)
{
	char e[256];
	if (u->mounted)
		blz_umount(mnt, 0);
	if (u->wiped) {
		/* A half-made sprout must not look like one next time. */
		int fd = open(bdev, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			blz_wipe_signatures(fd);
			close(fd);
		}
	}
	if (u->attached_loop)
		blz_loop_detach(u->loop);
	if (u->started_server) {
		uint32_t id;
		if (blz_ublk_parse_dev(u->ublk, &id) == 0)
			orch_stop_server(id, e, sizeof(e));
	}
	if (u->created_file)
		unlink(backing);
}

/* The log of the server of mount point mnt: the state file's name, ".serve.log". */
static const char *server_log(const char *dir, const char *mnt, char *log, size_t len)
{
	if (orch_mkdir_p(dir) < 0 || orch_state_path(dir, mnt, log, len) < 0)
		return NULL;
	size_t l = strlen(log);
	snprintf(log + l - 6, len - l + 6, ".serve.log");
	return log;
}

/* st->mountpoint is mounted: when blazy mounted it from st->seed and its device waits,
 * quiesced (or fails its I/O, FAIL_IO), for a server (its server and supervisor died), a
 * new server takes the device over. 1 adopted, 0 not the case (the mount point is busy),
 * -errno with err. */
static int adopt(const char *dir, const struct blz_orch_mount_opts *o, struct blz_orch_state *st,
		 struct blz_orch_mount_result *res, char *err, size_t errlen)
{
	static struct blz_orch_state old;
	char sp[BLZ_ORCH_PATH_MAX + 600], e[256];
	uint32_t id;
	if (orch_state_path(dir, st->mountpoint, sp, sizeof(sp)) < 0 ||
	    orch_state_load(sp, &old, e, sizeof(e)) < 0 || !old.mounted ||
	    strcmp(old.seed, st->seed) || blz_ublk_parse_dev(old.ublk, &id) < 0)
		return 0;
	struct blz_ublk_ctrl *c;
	struct blz_ublk_status us;
	if (blz_ublk_ctrl_open(&c) < 0)
		return 0;
	int r = blz_ublk_status(c, id, &us);
	blz_ublk_ctrl_close(c);
	if (r < 0 || (us.state != BLZ_UBLK_S_DEV_QUIESCED && us.state != BLZ_UBLK_S_DEV_FAIL_IO) ||
	    blz_ublk_server_alive(&us))
		return 0;
	char log[BLZ_ORCH_PATH_MAX + 600];
	r = orch_start_server(old.seed, o, server_log(dir, old.mountpoint, log, sizeof(log)),
			      o->server_timeout_ms ? o->server_timeout_ms : 120000, id, res->ublk,
			      sizeof(res->ublk), &old.server_pid, err, errlen);
	if (r < 0)
		return r;
	old.server_owned = true;
	r = orch_state_save(dir, &old, err, errlen);
	if (r < 0)
		return r;
	res->adopted = res->started_server = true;
	snprintf(res->loop, sizeof(res->loop), "%s", old.loop);
	snprintf(res->sprout_fsid, sizeof(res->sprout_fsid), "%s", old.sprout_fsid);
	snprintf(res->backing_dev, sizeof(res->backing_dev), "%s",
		 old.loop[0] ? old.loop : old.backing);
	return 1;
}

int blz_orch_mount(const struct blz_orch_mount_opts *o, struct blz_orch_mount_result *res,
		   char *err, size_t errlen)
{
	memset(res, 0, sizeof(*res));
	const char *dir = blz_orch_state_dir(o->state_dir);
	struct blz_orch_state st = { 0 };
	struct undo u = { 0 };
	struct blz_seed_info si;
	int r;

	/* The seed. */
	if (!realpath(o->seed, st.seed))
		return blz_errf(err, errlen, -errno, "cannot open the seed '%s': %s", o->seed,
				strerror(errno));
	int sfd = open(st.seed, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return blz_errf(err, errlen, -errno, "cannot open the seed '%s': %s", o->seed,
				strerror(errno));
	char e[512];
	r = blz_seed_inspect(sfd, &si, e, sizeof(e));
	close(sfd);
	if (r < 0)
		return blz_errf(err, errlen, r, "'%s' is not a usable seed: %s", o->seed, e);
	blz_orch_hex_fsid(si.fsid, st.seed_fsid);
	if (blz_seedset_paths(st.seed, NULL, NULL, st.map, sizeof(st.map), st.store,
			      sizeof(st.store)) < 0)
		return blz_errf(err, errlen, -ENAMETOOLONG, "the path of '%s' is too long", o->seed);

	/* The mount point. */
	struct stat mst;
	if (!realpath(o->mountpoint, st.mountpoint) || stat(st.mountpoint, &mst) < 0) {
		r = blz_errf(err, errlen, -errno, "mount point '%s': %s", o->mountpoint,
			     strerror(errno));
		goto out_info;
	}
	if (!S_ISDIR(mst.st_mode)) {
		r = blz_errf(err, errlen, -ENOTDIR, "mount point '%s' is not a directory",
			     o->mountpoint);
		goto out_info;
	}
	r = blz_orch_is_mountpoint(st.mountpoint);
	if (r < 0) {
		r = blz_errf(err, errlen, r, "cannot read the mount table: %s", strerror(-r));
		goto out_info;
	}
	if (r == 1) {
		r = adopt(dir, o, &st, res, err, errlen);
		if (r == 0)
			r = blz_errf(err, errlen, -EBUSY, "%s is already a mount point", st.mountpoint);
		goto out_info;
	}

	/* The backing: a file (created when missing) or a block device. */
	struct stat bst;
	uint64_t rw_size = o->rw_size ? o->rw_size : BLZ_ORCH_DEFAULT_RW_SIZE;
	if (stat(o->backing, &bst) < 0) {
		if (errno != ENOENT) {
			r = blz_errf(err, errlen, -errno, "backing '%s': %s", o->backing,
				     strerror(errno));
			goto out_info;
		}
		if (rw_size < BLZ_ORCH_MIN_RW_SIZE) {
			r = blz_errf(err, errlen, -EINVAL, "--rw-size must be at least %llu MiB",
				     BLZ_ORCH_MIN_RW_SIZE >> 20);
			goto out_info;
		}
		int fd = open(o->backing, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = blz_errf(err, errlen, -errno, "cannot create the backing '%s': %s",
				     o->backing, strerror(errno));
			goto out_info;
		}
		u.created_file = true;
		r = ftruncate(fd, (off_t)rw_size) < 0 ? -errno : 0;
		if (r == 0 && fstat(fd, &bst) < 0)
			r = -errno;
		close(fd);
		if (r < 0) {
			unlink(o->backing);
			r = blz_errf(err, errlen, r, "cannot size the backing '%s': %s", o->backing,
				     strerror(-r));
			goto out_info;
		}
	}
	if (!realpath(o->backing, st.backing)) {
		r = blz_errf(err, errlen, -errno, "backing '%s': %s", o->backing, strerror(errno));
		goto fail;
	}
	uint64_t bsize = 0;
	if (S_ISREG(bst.st_mode)) {
		bsize = (uint64_t)bst.st_size;
	} else if (S_ISBLK(bst.st_mode)) {
		r = dev_size(st.backing, &bsize);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot size the backing %s: %s", st.backing,
				     strerror(-r));
			goto fail;
		}
	} else {
		r = blz_errf(err, errlen, -EINVAL, "backing '%s' is neither a file nor a block device",
			     o->backing);
		goto fail;
	}
	if (bsize < BLZ_ORCH_MIN_RW_SIZE) {
		r = blz_errf(err, errlen, -ENOSPC, "backing '%s' is too small (%llu bytes; at least %llu MiB)",
			     o->backing, (unsigned long long)bsize, BLZ_ORCH_MIN_RW_SIZE >> 20);
		goto fail;
	}

	/* What does it hold? Decided from its own bytes, before anything is attached or started:
	 * nothing (sprout it), a sprout of this seed (mount it, with or without a state file),
	 * or something else (refused). */
	r = blz_orch_backing_check(st.backing, st.seed, &si, dir, st.sprout_fsid, err, errlen);
	if (r < 0)
		goto fail;
	bool first = r == BLZ_BACKING_BLANK;

	/* The server. */
	struct blz_reg reg;
	if (blz_reg_find_seed(st.seed, &reg) == 1) {
		snprintf(u.ublk, sizeof(u.ublk), "/dev/ublkb%u", reg.dev_id);
		st.server_pid = reg.pid;
		snprintf(st.map, sizeof(st.map), "%s", reg.map);
		snprintf(st.store, sizeof(st.store), "%s", reg.store);
	} else {
		char log[BLZ_ORCH_PATH_MAX + 600];
		const char *logp = server_log(dir, st.mountpoint, log, sizeof(log));
		r = orch_start_server(st.seed, o, logp,
				      o->server_timeout_ms ? o->server_timeout_ms : 120000, -1, u.ublk,
				      sizeof(u.ublk), &st.server_pid, err, errlen);
		if (r < 0)
			goto fail;
		u.started_server = true;
		st.server_owned = true;
	}
	if (wait_for_path(u.ublk, 10000) < 0) {
		r = blz_errf(err, errlen, -ENOENT, "%s did not appear", u.ublk);
		goto fail;
	}
	r = check_served(u.ublk, &si, err, errlen);
	if (r < 0)
		goto fail;

	/* The backing's block device. */
	const char *bdev = st.backing;
	if (S_ISREG(bst.st_mode)) {
		char *ld = NULL;
		r = blz_loop_find(st.backing, &ld);
		if (r == 0) {
			/* Left by a crash (umount detaches ours): take it over. */
			u.attached_loop = true;
		} else {
			r = blz_loop_attach(st.backing, 0, &ld, NULL);
			if (r < 0) {
				r = blz_errf(err, errlen, r, "cannot attach %s to a loop device: %s",
					     st.backing, strerror(-r));
				goto fail;
			}
			u.attached_loop = true;
		}
		snprintf(u.loop, sizeof(u.loop), "%s", ld);
		free(ld);
		bdev = u.loop;
	}
	snprintf(res->backing_dev, sizeof(res->backing_dev), "%s", bdev);

	r = blz_btrfs_scan_dev(u.ublk);
	if (r < 0) {
		r = blz_errf(err, errlen, r, "cannot register %s with btrfs: %s", u.ublk,
			     strerror(-r));
		goto fail;
	}
	if (first) {
		r = blz_mount_btrfs(u.ublk, st.mountpoint, MS_RDONLY, NULL);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot mount the seed %s on %s: %s", u.ublk,
				     st.mountpoint, strerror(-r));
			goto fail;
		}
		u.mounted = true;
		int fd = open(bdev, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			r = blz_errf(err, errlen, -errno, "cannot open %s: %s", bdev, strerror(errno));
			goto fail;
		}
		u.wiped = true;
		r = blz_wipe_signatures(fd);
		close(fd);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot wipe %s: %s", bdev, strerror(-r));
			goto fail;
		}
		r = blz_btrfs_add_dev(st.mountpoint, bdev);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot add %s to the seed (sprout): %s", bdev,
				     strerror(-r));
			goto fail;
		}
		r = blz_remount(st.mountpoint, 0, "nodatasum");
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot remount %s read-write: %s",
				     st.mountpoint, strerror(-r));
			goto fail;
		}
		r = fs_fsid(st.mountpoint, st.sprout_fsid);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot read the sprout's fsid: %s",
				     strerror(-r));
			goto fail;
		}
		if (!strcmp(st.sprout_fsid, st.seed_fsid)) {
			r = blz_errf(err, errlen, -EIO, "the sprout kept the seed's fsid");
			goto fail;
		}
	} else {
		r = blz_btrfs_scan_dev(bdev);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot register %s with btrfs: %s", bdev,
				     strerror(-r));
			goto fail;
		}
		r = blz_mount_btrfs(bdev, st.mountpoint, 0, "nodatasum");
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot mount %s on %s: %s%s", bdev,
				     st.mountpoint, strerror(-r),
				     r == -ENOENT ? " (the seed device was not found)" : "");
			goto fail;
		}
		u.mounted = true;
		char hex[33];
		r = fs_fsid(st.mountpoint, hex);
		if (r == 0 && strcmp(hex, st.sprout_fsid))
			r = -EIO;
		if (r < 0) {
			r = blz_errf(err, errlen, r, "%s mounted a filesystem other than the sprout",
				     st.mountpoint);
			goto fail;
		}
	}
	u.wiped = false; /* a complete sprout from here on */
	r = check_virtual(st.mountpoint, &si, err, errlen);
	if (r < 0) {
		if (first)
			u.wiped = true;
		goto fail;
	}

	orch_read_boot_id(st.boot_id);
	snprintf(st.loop, sizeof(st.loop), "%s", u.attached_loop ? u.loop : "");
	snprintf(st.ublk, sizeof(st.ublk), "%s", u.ublk);
	st.mounted = true;
	r = orch_state_save(dir, &st, err, errlen);
	if (r < 0) {
		if (first)
			u.wiped = true;
		goto fail;
	}
	res->first = first;
	res->started_server = u.started_server;
	snprintf(res->ublk, sizeof(res->ublk), "%s", u.ublk);
	snprintf(res->loop, sizeof(res->loop), "%s", st.loop);
	snprintf(res->sprout_fsid, sizeof(res->sprout_fsid), "%s", st.sprout_fsid);
	blz_seed_info_release(&si);
	return 0;

fail:
	rollback(o, st.mountpoint, o->backing, res->backing_dev[0] ? res->backing_dev : st.backing,
		 &u);
out_info:
	blz_seed_info_release(&si);
	return r;
}

/* ---- umount ---- */

static void note(struct blz_orch_umount_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct blz_orch_umount_result *res, const char *fmt, ...)
{
	size_t l = strlen(res->notes);
	if (l >= sizeof(res->notes) - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->notes + l, sizeof(res->notes) - l, fmt, ap);
	va_end(ap);
	l = strlen(res->notes);
	if (l < sizeof(res->notes) - 1) {
		res->notes[l] = '\n';
		res->notes[l + 1] = 0;
	}
}

int blz_orch_umount(const char *mountpoint, bool lazy, const char *state_dir,
		    struct blz_orch_umount_result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof(*res));
	const char *dir = blz_orch_state_dir(state_dir);
	char mnt[BLZ_ORCH_PATH_MAX];
	if (!realpath(mountpoint, mnt)) {
		/* A missing directory: the state may still name it. */
		if (mountpoint[0] != '/' || strlen(mountpoint) >= sizeof(mnt))
			return blz_errf(err, errlen, -errno, "mount point '%s': %s", mountpoint,
					strerror(errno));
		snprintf(mnt, sizeof(mnt), "%s", mountpoint);
	}
	char sp[BLZ_ORCH_PATH_MAX + 600];
	struct blz_orch_state st;
	int r = orch_state_path(dir, mnt, sp, sizeof(sp));
	if (r < 0)
		return blz_errf(err, errlen, r, "no state file name for %s", mnt);
	r = orch_state_load(sp, &st, err, errlen);
	if (r == -ENOENT)
		return blz_errf(err, errlen, r, "%s was not mounted by blazy mount (no state in %s)",
				mnt, dir);
	if (r < 0)
		return r;

	/* 1. Unmount. */
	r = blz_orch_is_mountpoint(mnt);
	if (r == 1) {
		r = blz_umount(mnt, lazy ? MNT_DETACH : 0);
		if (r < 0)
			return blz_errf(err, errlen, r, "cannot unmount %s: %s%s", mnt, strerror(-r),
					r == -EBUSY ? " (in use; --lazy detaches it now)" : "");
		res->unmounted = true;
	} else {
		note(res, "%s was not mounted", mnt);
	}

	char boot[40];
	orch_read_boot_id(boot);
	bool same_boot = st.boot_id[0] && !strcmp(boot, st.boot_id);

	/* 2. Detach the loop device(s) over the backing file. */
	struct stat bst;
	if (stat(st.backing, &bst) == 0 && S_ISREG(bst.st_mode)) {
		for (int i = 0; i < 8; i++) {
			char *ld = NULL;
			if (blz_loop_find(st.backing, &ld) < 0)
				break;
			r = blz_loop_detach(ld);
			if (r < 0 && r != -ENXIO) {
				note(res, "cannot detach %s: %s", ld, strerror(-r));
				free(ld);
				break;
			}
			res->loop_detached = true;
			free(ld);
			if (lazy)
				break; /* autoclear: freed on the last close */
		}
	}

	/* 3. Stop the server (only one this mount started, or one left dead). */
	uint32_t id;
	bool have_id = same_boot && st.ublk[0] && blz_ublk_parse_dev(st.ublk, &id) == 0;
	struct blz_reg reg;
	if (blz_reg_find_seed(st.seed, &reg) == 1) {
		have_id = true;
		id = reg.dev_id;
		if (!st.server_owned) {
			note(res, "left the server of /dev/ublkb%u running (this mount did not start it)",
			     id);
			have_id = false;
		}
	}
	if (have_id && !lazy) {
		struct blz_ublk_ctrl *ctrl;
		struct blz_ublk_status s;
		bool ours = false;
		if (blz_ublk_ctrl_open(&ctrl) == 0) {
			if (blz_ublk_status(ctrl, id, &s) == 0) {
				struct blz_reg rr;
				/* A live server of our seed, or a dead device we recorded this boot */
				ours = (blz_reg_read(id, &rr) == 0 && !strcmp(rr.seed, st.seed)) ||
				       (!blz_ublk_server_alive(&s) && st.server_owned);
			}
			blz_ublk_ctrl_close(ctrl);
		}
		if (ours) {
			r = orch_stop_server(id, err, errlen);
			if (r < 0)
				return r;
			res->server_stopped = true;
		}
	} else if (have_id && lazy) {
		note(res, "left /dev/ublkb%u running: a lazily detached filesystem may still use it",
		     id);
	}

	st.mounted = false;
	st.loop[0] = 0;
	if (res->server_stopped || !same_boot) {
		st.ublk[0] = 0;
		st.server_pid = 0;
	}
	return orch_state_save(dir, &st, err, errlen);
}

