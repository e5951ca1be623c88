/*
 * The run-time registry. A server serving a seed registers itself in BLZ_RUN_DIR:
 * `ublkbN.sock` (its control socket, server/control.h) and `ublkbN.info` (key=value lines:
 * pid, seed, map, store, owner uid), removed when it stops (and by the stop policy,
 * server/stop.h, when it died). Clients (blazy map, status, stop, mount) find a server by
 * device or by seed there.
 */
#ifndef BLZ_SERVER_REGISTRY_H
#define BLZ_SERVER_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BLZ_RUN_DIR "/run/blazy"

struct blz_reg {
	uint32_t dev_id;
	pid_t pid;
	uid_t owner;
	char seed[4096], map[4096], store[4096];
	char fsid[33]; /* the seed's fsid in hex ("" when unknown) */
};

/* Creates BLZ_RUN_DIR (mode 0755) if missing. 0 or -errno. */
int blz_reg_make_dir(void);
/* Registry files for device id: paths into buf (size >= 64). */
void blz_reg_sock_path(uint32_t dev_id, char *buf, size_t len);
int blz_reg_write(const struct blz_reg *reg);
/* 0 with the entry (seed, map, store and fsid "" for a server of a test backend, e.g.
 * null), -ENOENT without one, -EBADMSG when it names no pid. */
int blz_reg_read(uint32_t dev_id, struct blz_reg *ret);
void blz_reg_remove(uint32_t dev_id);
/* Finds a live server serving the seed at path (same file: st_dev/st_ino). 1 found, 0 not. */
int blz_reg_find_seed(const char *seed, struct blz_reg *ret);

/*
 * A supervised device's state, `ublkbN.super` (key=value lines: supervisor, server, state,
 * restarts, cause), written by its supervisor (supervise.c) and read by the status verb,
 * `blazy list` and `blazy upgrade`. Kept after the supervisor gave up (state "failed", with
 * the cause) until the device is stopped. `ublkbN.upgrade` holds the binary a requested
 * upgrade runs (written by blz_server_upgrade, taken by the supervisor).
 */
struct blz_super_state {
	pid_t supervisor, server;
	char state[16]; /* "live", "recovering", "failed" */
	uint64_t restarts;
	char cause[200]; /* the last crash or why the supervisor gave up; "" none */
};
int blz_reg_super_write(uint32_t dev_id, const struct blz_super_state *st);
int blz_reg_super_read(uint32_t dev_id, struct blz_super_state *ret);
void blz_reg_super_remove(uint32_t dev_id);
void blz_reg_upgrade_path(uint32_t dev_id, char *buf, size_t len);

#endif
