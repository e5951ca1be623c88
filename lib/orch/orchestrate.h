/*
 * Mount orchestration: `blazy mount` and `blazy umount` by syscalls alone.
 *
 * mount: find or start the server of a seed (blazy serve), check the served device's
 * superblock against the seed, attach the writable backing (loop device over a file, or a
 * block device), then either sprout (first time: mount the seed read-only, ADD_DEV the
 * backing, remount read-write with nodatasum) or mount the sprout directly (later times),
 * and check the extent map of /.blazy/virtual. Whatever one invocation created is removed
 * again when it fails.
 *
 * umount: unmount, detach the loop device, stop the server — in that order, because
 * deleting a ublk device waits for every user of its disk. Idempotent.
 *
 * What belongs together is recorded in a state directory (BLZ_ORCH_STATE_DIR, or
 * $BLAZY_STATE_DIR), one key=value file per mount point, so that the same `blazy mount`
 * brings back the same filesystem after an unmount or a reboot.
 *
 * Functions return 0 or -errno, with a message in err; they never print.
 */
#ifndef BLZ_ORCH_ORCHESTRATE_H
#define BLZ_ORCH_ORCHESTRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/strbuf.h"

#define BLZ_ORCH_STATE_DIR "/var/lib/blazy/mounts"
#define BLZ_ORCH_DEFAULT_RW_SIZE (1ULL << 30)
#define BLZ_ORCH_MIN_RW_SIZE (128ULL << 20)
#define BLZ_ORCH_PATH_MAX 4096

/* The state of one mount point (one file in the state directory). */
struct blz_orch_state {
	/* Persistent: what the filesystem is made of. */
	char mountpoint[BLZ_ORCH_PATH_MAX];
	char seed[BLZ_ORCH_PATH_MAX];
	char map[BLZ_ORCH_PATH_MAX];
	char store[BLZ_ORCH_PATH_MAX];
	char backing[BLZ_ORCH_PATH_MAX];
	char seed_fsid[33];   /* 32 lower-case hex digits */
	char sprout_fsid[33]; /* "" until the first mount sprouted it */
	/* Run time: valid only while boot_id equals this boot's. */
	char boot_id[40];
	char loop[64];        /* "/dev/loopN" we attached, or "" */
	char ublk[64];        /* "/dev/ublkbN" the filesystem uses, or "" */
	pid_t server_pid;     /* the server's pid, 0 unknown */
	bool server_owned;    /* this state's mount started the server (umount stops it) */
	bool mounted;
};

/* key=value lines; unknown keys are ignored on parse (forward compatible). Values must not
 * hold newlines (refused with -EINVAL by format). */
int blz_orch_state_format(const struct blz_orch_state *s, struct blz_buf *out);
int blz_orch_state_parse(const char *text, size_t len, struct blz_orch_state *ret, char *err,
			 size_t errlen);

/* The state file's name for an absolute mount point: '/' -> '-', bytes other than
 * [A-Za-z0-9._] -> %XX, plus ".state" ("/" -> "-.state"). -ENAMETOOLONG. */
int blz_orch_state_name(const char *mountpoint, char *buf, size_t len);

/* 1 when path (absolute, canonical) is a mount point in this mount namespace, 0 if not. */
int blz_orch_is_mountpoint(const char *path);

/* Formats 16 bytes as 32 hex digits (buf >= 33). */
void blz_orch_hex_fsid(const uint8_t fsid[16], char buf[33]);

struct blz_fetch_opts;

struct blz_orch_mount_opts {
	const char *seed, *mountpoint, *backing;
	uint64_t rw_size;      /* a backing file created when missing; 0 = default */
	const char *state_dir; /* NULL: $BLAZY_STATE_DIR, else BLZ_ORCH_STATE_DIR */
	unsigned server_timeout_ms; /* how long to wait for a started server (0 = 120 s) */
	/* For a server started here (server/server.h): --store and the fetch options. */
	const char *store_dir;
	const struct blz_fetch_opts *fetch;
	const char *prefetch_list;
	/* The server's --recovery-timeout (server.h: 0 the default, BLZ_RECOVERY_OFF no wait).
	 * A mount point still mounted from this seed whose device is quiesced or fails its
	 * I/O (FAIL_IO) because its server and supervisor died is adopted: a new server
	 * takes the device over (res->adopted). */
	unsigned recovery_timeout_ms;
	/* The server's --log-requests (an absolute path; NULL: no request log). Only for a
	 * server started here: one already running keeps its own. */
	const char *log_requests;
};

struct blz_orch_mount_result {
	bool first;            /* the seed was sprouted now */
	bool started_server;
	bool adopted; /* an orphaned device of this mount was taken over, nothing else done */
	char ublk[64], loop[64], sprout_fsid[33];
	char backing_dev[BLZ_ORCH_PATH_MAX];
};

int blz_orch_mount(const struct blz_orch_mount_opts *o, struct blz_orch_mount_result *res,
		   char *err, size_t errlen);

/* Notes for the caller about what umount did (one line each). */
struct blz_orch_umount_result {
	bool unmounted, loop_detached, server_stopped;
	char notes[1024];
};

int blz_orch_umount(const char *mountpoint, bool lazy, const char *state_dir,
		    struct blz_orch_umount_result *res, char *err, size_t errlen);

/* The state of mount point (absolute, canonical): 0, -ENOENT when blazy has none. */
int blz_orch_state_read(const char *state_dir, const char *mountpoint, struct blz_orch_state *ret,
			char *err, size_t errlen);

/*
 * What the writable backing (a file or block device, at least 1 MiB) holds, from its own bytes
 * alone (the disks are the truth; the state directory only names another seed in a message):
 *   BLZ_BACKING_BLANK   its first MiB is zeros: a new sprout may be made on it;
 *   BLZ_BACKING_SPROUT  a btrfs filesystem whose device list names this seed (its fsid and
 *                       device uuid, si): mount it; its fsid in ret_fsid (32 hex digits).
 * Anything else is refused: -EXDEV a sprout of another seed, -EEXIST another btrfs, another
 * filesystem or non-zero bytes, with a message saying what it holds. seed is the seed image's
 * path (chunk-tree blocks still on the seed device are read from it).
 */
enum { BLZ_BACKING_BLANK = 0, BLZ_BACKING_SPROUT = 1 };
struct blz_seed_info;
int blz_orch_backing_check(const char *backing, const char *seed, const struct blz_seed_info *si,
			   const char *state_dir, char ret_fsid[33], char *err, size_t errlen);

/* The state directory in effect (state_dir, else $BLAZY_STATE_DIR, else the default). */
const char *blz_orch_state_dir(const char *state_dir);

#endif
