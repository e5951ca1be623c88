/*
 * Replacing a running, supervised server by a new binary without an I/O error
 * (docs/recovery.md): the binary's path goes to BLZ_RUN_DIR/ublkbN.upgrade, the supervisor
 * gets SIGUSR2, asks its server to hand the device over (QUIESCE_DEV where the device has
 * UBLK_F_QUIESCE, which one with batched I/O commands never has: blz_ublk_dev_quiesce; else
 * the server just exits and the kernel requeues what it held), and starts
 * `BINARY serve --foreground --recover N ...` for the same seed or backend. Requests
 * meanwhile wait in the quiesced device.
 */
#ifndef BLZ_SERVER_UPGRADE_H
#define BLZ_SERVER_UPGRADE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct blz_upgrade_result {
	pid_t old_pid, new_pid;
	uint64_t ms; /* from the request to the new server's device live */
};

/* binary: NULL for this program. Waits at most timeout_ms for the new server. 0, or
 * -ESRCH (no supervisor), -EBUSY (not live), -EIO (the supervisor gave up), -ETIMEDOUT,
 * -errno; err says why. */
int blz_server_upgrade(uint32_t id, const char *binary, unsigned timeout_ms,
		       struct blz_upgrade_result *ret, char *err, size_t errlen);

#endif
