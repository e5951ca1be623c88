/*
 * The one way to stop a ublk device and its server, used by `blazy stop`, `blazy umount`
 * and the rollback of `blazy mount`. Each step is bounded in time:
 *
 *  0. unless force: refuse (-EBUSY) a device in use (mount/inuse.h names the user);
 *     then, unless force, where the device has SAFE_STOP_DEV (7.0), the stop itself is the
 *     kernel's TRY_STOP_DEV (asked of the server over its control socket, "try-stop", or
 *     sent directly in step 4), which removes the disk only while nobody holds it open, so
 *     a mount that slips in after step 0 is refused too (-EBUSY, "the kernel refused
 *     TRY_STOP_DEV"). While the kernel refuses and blazy can name no user (a plain reader,
 *     udev's probe), it tries again for SAFE_STOP_RETRY_MS, then stops the old way, as on
 *     kernels without it (a disk held by a reader is deleted and freed on its last close);
 *  1. a live server with a control socket is asked to "stop" (BLZ_CTL_TIMEOUT_MS), and the
 *     device awaited (grace_ms);
 *  2. else, or if that did not take it down, SIGTERM, and the device awaited (grace_ms);
 *  3. else SIGKILL (the process awaited 5 s), and the device awaited 1 s (the kernel removes
 *     the disk of a dead server);
 *  4. else, and for a device whose server was already dead: STOP_DEV and DEL_DEV directly
 *     (DEL_DEV bounded by grace_ms; its timeout with the device gone means the disk is still
 *     open somewhere: "held");
 *  5. the registry (server/control.h): entries of this device whose process is gone are
 *     removed; after steps 1-2 the server's exit is awaited (grace_ms) first.
 *
 * The steps go through struct blz_stop_ops, so that the policy can be driven without a
 * kernel (unit tests); blz_server_stop uses the real ones.
 */
#ifndef BLZ_SERVER_STOP_H
#define BLZ_SERVER_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ublk/ublk.h"

#define BLZ_STOP_GRACE_MS 10000

enum blz_stop_step {
	BLZ_STOP_NONE,     /* nothing was done (an error) */
	BLZ_STOP_CONTROL,  /* the server stopped it when asked over its control socket */
	BLZ_STOP_SIGTERM,  /* the server stopped it on SIGTERM */
	BLZ_STOP_SIGKILL,  /* the server was killed; the kernel removed the device */
	BLZ_STOP_DIRECT,   /* STOP_DEV + DEL_DEV from here */
};

struct blz_stop_opts {
	unsigned grace_ms; /* bound of each graceful wait; 0: BLZ_STOP_GRACE_MS */
	bool force;        /* skip step 0 and TRY_STOP_DEV */
	/* Test hook (BLAZY_TEST_STOP_NO_CHECK=1 for blz_server_stop): skip step 0's in-use
	 * check, as if a mount came right after it; TRY_STOP_DEV still refuses. */
	bool no_precheck;
};

struct blz_stop_result {
	enum blz_stop_step step;
	pid_t pid;          /* the device's server as known at the start (0: none) */
	bool server_alive;  /* it was running at the start */
	bool grace_expired; /* it did not stop within grace_ms and was killed */
	bool kill_failed;   /* it was still there 5 s after SIGKILL */
	bool held;          /* the device is deleted but its disk is still open somewhere */
	bool registry_cleaned; /* stale registry entries were removed */
	bool safe_stop;     /* the kernel's TRY_STOP_DEV removed the disk */
};

#define SAFE_STOP_RETRY_MS 1000

struct blz_stop_ops {
	/* 1 the device has a live server (*pid), 0 it has none (*pid: the last known, or 0),
	 * -ENODEV no such device, -errno. */
	int (*probe)(void *ctx, uint32_t id, pid_t *pid);
	/* 1 in use (what names the user), 0 not, -errno (ignored). */
	int (*in_use)(void *ctx, uint32_t id, char *what, size_t len);
	/* 0 the server accepted "stop"; -errno (no socket, refused, no answer). */
	int (*ctl_stop)(void *ctx, uint32_t id);
	int (*signal)(void *ctx, pid_t pid, int sig); /* 0 or -errno */
	enum blz_ublk_gone (*wait_gone)(void *ctx, uint32_t id, unsigned ms);
	bool (*pid_wait_gone)(void *ctx, pid_t pid, unsigned ms);
	int (*stop_dev)(void *ctx, uint32_t id);
	int (*del_dev)(void *ctx, uint32_t id, unsigned ms); /* -ETIMEDOUT after ms */
	bool (*char_dev_present)(void *ctx, uint32_t id);
	/* Removes registry entries of id whose process is gone; true if any was. */
	bool (*clean_registry)(void *ctx, uint32_t id);
	/* Optional, TRY_STOP_DEV: asked of the live server ("try-stop"), and sent directly.
	 * 0 the disk is removed; -EBUSY the kernel refused (the disk is open); anything else:
	 * not available (no SAFE_STOP_DEV, an older server): the step goes on the old way. */
	int (*ctl_try_stop)(void *ctx, uint32_t id);
	int (*try_stop_dev)(void *ctx, uint32_t id);
};

/*
 * Runs the policy with ops. 0 when the device is gone (res says how), -ENODEV when there
 * was no such device (stale registry entries are still removed), -EBUSY when it is in use
 * (err names the user), another -errno with err set.
 */
int blz_stop_run(const struct blz_stop_ops *ops, void *ctx, uint32_t id,
		 const struct blz_stop_opts *o, struct blz_stop_result *res, char *err,
		 size_t errlen);

/* The policy on this system's /dev/ublk-control, signals and registry. */
int blz_server_stop(uint32_t id, const struct blz_stop_opts *o, struct blz_stop_result *res,
		    char *err, size_t errlen);

#endif
