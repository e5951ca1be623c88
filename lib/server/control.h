/*
 * The server's control socket (the registry that finds it: server/registry.h).
 *
 * Protocol: the client sends one request line (a verb, at most BLZ_CTL_MAX_REQUEST bytes
 * including the newline) and reads the reply to EOF: a first line "ok" or "error: TEXT",
 * then an optional payload (JSON for status). Verbs: "status", "fetches" (the per-range
 * fetch counters, in the text format of lazy/fetches.h), "map" (re-read the journal), "stop", "log-start" (with the log file passed as
 * SCM_RIGHTS) and "log-stop" (the request log: backend/reqlog.h). The peer's credentials (SO_PEERCRED) must be root or the seed's owner; anything
 * malformed, oversized, slow or unauthorised is answered with an error and the connection
 * closed — the server keeps serving.
 */
#ifndef BLZ_SERVER_CONTROL_H
#define BLZ_SERVER_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/registry.h"
#include "util/strbuf.h"

#define BLZ_CTL_MAX_REQUEST 64
#define BLZ_CTL_TIMEOUT_MS 2000

struct blz_ctl_server;

/* Handler: fills reply (after the status line) and returns 0, or -errno with msg set. */
typedef int (*blz_ctl_handler)(void *ctx, const char *verb, struct blz_buf *reply,
			       char *msg, size_t msglen);

int blz_ctl_listen(const char *path, uid_t owner, struct blz_ctl_server **ret);
int blz_ctl_fd(const struct blz_ctl_server *s);
/* Accepts and answers one connection (call when the listening fd is readable). Never fails
 * the server because of a client: returns 0, or -errno only for accept() errors. */
int blz_ctl_serve_one(struct blz_ctl_server *s, blz_ctl_handler fn, void *ctx);
/* Counters: requests answered, rejected (malformed, oversized, unauthorised, timed out). */
void blz_ctl_counts(const struct blz_ctl_server *s, uint64_t *ok, uint64_t *rejected);
void blz_ctl_close(struct blz_ctl_server *s); /* also unlinks the socket */

/* Client: sends verb, returns 0 with the payload (NUL-terminated, caller frees) on "ok",
 * -EREMOTEIO with the server's error text in *ret_reply on "error: ...", or -errno. */
int blz_ctl_request(const char *path, const char *verb, char **ret_reply, int timeout_ms);
/* The same with the file descriptor fd passed along (SCM_RIGHTS; the caller keeps its own). */
int blz_ctl_request_fd(const char *path, const char *verb, int fd, char **ret_reply,
		       int timeout_ms);
/* In a handler: the file passed with the request (now the caller's to close), or -1. One
 * not taken is closed after the handler. */
int blz_ctl_take_fd(struct blz_ctl_server *s);

#endif
