/*
 * Shared by the pieces of lib/orch (not part of its interface): orchestrate.c runs the mount
 * and umount sequences; state.c keeps the state files and reads the mount table; server.c
 * starts and stops the `blazy serve` process behind a mount.
 */
#ifndef BLZ_ORCH_INTERNAL_H
#define BLZ_ORCH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "btrfs/inspect.h"
#include "orch/orchestrate.h"

/* ---- state.c ---- */

/* mkdir -p with mode 0755 for new directories. */
int orch_mkdir_p(const char *path);
/* The state file of mount point mnt in dir. */
int orch_state_path(const char *dir, const char *mnt, char *buf, size_t len);
/* 0 loaded, -ENOENT none, other -errno with err. */
int orch_state_load(const char *path, struct blz_orch_state *s, char *err, size_t errlen);
/* Writes the state file of s->mountpoint atomically (temporary file, fsync, rename). */
int orch_state_save(const char *dir, const struct blz_orch_state *s, char *err, size_t errlen);
/* A state (other than for skip_mnt) whose sprout has this fsid: 1 found, 0 none. */
int orch_state_find_sprout(const char *dir, const char *fsid_hex, const char *skip_mnt,
			   struct blz_orch_state *ret);
/* This boot's id (/proc/sys/kernel/random/boot_id), "" when unknown. */
void orch_read_boot_id(char buf[40]);

/* ---- server.c ---- */

/* Spawns the server of seed (server/server.h, its log appended to log when not NULL; the
 * store, fetch and recovery options of o), supervised unless recovery is off, and waits at
 * most timeout_ms for its readiness message: its device path in dev, its pid. recover_id >=
 * 0: the server takes that quiesced device over. */
int orch_start_server(const char *seed, const struct blz_orch_mount_opts *o, const char *log,
		      unsigned timeout_ms, int64_t recover_id, char *dev, size_t devlen,
		      pid_t *ret_pid, char *err, size_t errlen);
/* Stops device id with the stop policy of server/stop.h (forced: the mount is gone). 0 when
 * the device is gone (or was not there), -errno otherwise. */
int orch_stop_server(uint32_t id, char *err, size_t errlen);

#endif
