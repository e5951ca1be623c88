/*
 * The readiness handshake between a server being started and whoever started it.
 *
 * The starter creates a pipe and hands its write end to the server (lib/server/daemon.c
 * does both sides). The server writes exactly one message, then closes its end:
 *
 *   "blazy-ready 1 ok DEV_ID PID\n"        the device /dev/ublkbDEV_ID is up, served by PID
 *   "blazy-ready 1 fail ERRNO MESSAGE\n"   it could not start: -ERRNO, and why
 *
 * DEV_ID, PID and ERRNO are decimal without sign or leading zeros (DEV_ID < 2^32 - 1,
 * 0 < PID <= INT_MAX, 0 < ERRNO < 4096); MESSAGE is at most BLZ_READY_MSG_MAX bytes of
 * text without control bytes (the encoder turns each into '?'). A whole message is at most
 * BLZ_READY_MAX bytes. Anything else (another prefix or version, a missing newline, bytes
 * after it, a number out of range) is malformed. End of file without a message means the
 * server died first: the starter then reports how it exited.
 */
#ifndef BLZ_SERVER_READY_H
#define BLZ_SERVER_READY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BLZ_READY_MSG_MAX 400
#define BLZ_READY_MAX 512

struct blz_ready {
	int err;         /* 0: ready; else -errno */
	uint32_t dev_id; /* ready: the device */
	pid_t pid;       /* ready: the serving process */
	char msg[BLZ_READY_MSG_MAX + 1]; /* failed: why ("" when ready) */
};

/* Writes m's message into buf (len >= BLZ_READY_MAX); returns its length or -EINVAL (an
 * err that is not a negative errno, a bad pid or device id). */
int blz_ready_encode(const struct blz_ready *m, char *buf, size_t len);
/* Parses exactly one message (buf[0..len), newline included). 0, or -EPROTO. */
int blz_ready_decode(const char *buf, size_t len, struct blz_ready *ret);

/* Encodes and writes m to fd (whole, retrying). 0 or -errno. */
int blz_ready_send(int fd, const struct blz_ready *m);
/* Reads one message from fd within timeout_ms and decodes it. 0, -ETIMEDOUT, -EPIPE (end
 * of file before any byte), -EPROTO (malformed or truncated), or -errno. */
int blz_ready_recv(int fd, int timeout_ms, struct blz_ready *ret);

#endif
