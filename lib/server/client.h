/*
 * Asking a running server (found by its device in the registry, server/control.h)
 * for its status and its fetches, decoded with their parsers.
 */
#ifndef BLZ_SERVER_CLIENT_H
#define BLZ_SERVER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "lazy/fetches.h"
#include "server/status.h"

/* 0 with *ret (release with blz_server_status_release); -ENOENT when no server of
 * device id listens; -EREMOTEIO when it refused; -EPROTO when its answer is malformed;
 * another -errno. A message in err on failure. */
int blz_server_ask_status(uint32_t id, struct blz_server_status *ret, char *err,
			  size_t errlen);
/* The same for the "fetches" request (lazy/fetches.h; release with blz_fetch_list_release). */
int blz_server_ask_fetches(uint32_t id, struct blz_fetch_list *ret, char *err, size_t errlen);

/* Starts the request log of the server of id into path (opened here, by the caller, and
 * passed to the server: the server's mount namespace need not see it). The server
 * truncates the file once it starts the log: when there is no server or it refuses, an
 * existing file is left as it was and one created here is removed again. */
int blz_server_log_start(uint32_t id, const char *path, char *err, size_t errlen);
/* Stops it: 0 with the server's summary line ("N lines, D dropped") in *ret_summary
 * (caller frees); errors as above. */
int blz_server_log_stop(uint32_t id, char **ret_summary, char *err, size_t errlen);

#endif
