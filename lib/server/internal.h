/* Shared by the files of lib/server (not part of its interface). */
#ifndef BLZ_SERVER_INTERNAL_H
#define BLZ_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "fetch/fetch.h"
#include "lazy/lazy.h"
#include "server/control.h"
#include "server/registry.h"
#include "server/server.h"
#include "ublk/ublk.h"

struct blz_server {
	struct blz_server_config cfg;
	struct blz_backend *backend; /* the lazy device's view when serving a seed */
	struct blz_lazy *lazy;       /* NULL for a plain backend */
	struct blz_reg reg;          /* seed servers: what the registry records */
	/* While running */
	struct blz_ublk_dev *dev;
	struct blz_ctl_server *ctl;
	struct blz_recorder *rec; /* the requests' statistics and log */
	int reqlog_fd;            /* cfg.log_requests, opened, until the log starts */
	bool reqlog_append;       /* it continues a predecessor's log (cfg.recover) */
	bool stop_requested;
	/* orphan.c: the watch on the supervisor */
	int home_ns;         /* the mount namespace the server started in, or -1 */
	pid_t sup_pid;       /* the supervisor watched (or last watched) */
	int sup_pidfd;       /* its pidfd, -1 none */
	pid_t sup_dead;      /* a supervisor known dead */
	pid_t sup_started;   /* a supervisor this server started, not yet reaped; 0 none */
	pid_t sup_last;      /* the last one it started */
	uint64_t sup_started_at;
	unsigned sup_failures; /* started in a row without recording themselves */
	bool sup_gave_up;
};

/* log.c: formats and sends one line to the configured sink. */
void srv_log(const struct blz_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void srv_cfg_log(const struct blz_server_config *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* server.c: the device's configuration for the backend. */
void srv_dev_config(const struct blz_server *s, struct blz_ublk_dev_config *cfg);
/* Whether the device a server of cfg creates can be taken over by a new server, so that a
 * supervisor has something to do: always with a recovery timeout; with
 * --recovery-timeout 0 (BLZ_RECOVERY_OFF) only where the kernel has FAIL_IO (I/O fails
 * at once while no server runs, the device stays recoverable); elsewhere that device is
 * not recoverable (blz_ublk_recovery_flags). */
bool srv_recoverable(const struct blz_server_config *cfg);

/* namespace.c: enters a private mount namespace that keeps only the mounts the server
 * opens by path (an unmount at its exit could otherwise wait on I/O only it would serve,
 * and a disk unmounted elsewhere would stay held). The number of mounts left out, or
 * -errno with err. */
int srv_enter_namespace(struct blz_server *s, char *err, size_t errlen);

/* signals.c: blocks SIGTERM, SIGINT, SIGHUP, SIGUSR1 (ignores SIGPIPE) and returns a
 * signalfd for them, or -errno with err; reads the next one (its number, 0 if none). */
int srv_signals_open(char *err, size_t errlen);
/* Blocks the signals srv_signals_open takes in the calling thread, before the backend starts
 * threads of its own (a remote store's fetch workers): a thread that left them unblocked
 * would take a SIGUSR2 meant for the signalfd (with the handler a forked server inherits
 * from its supervisor, the upgrade request was lost). */
void srv_signals_block(void);
int srv_signal_read(int sfd);

/* recover.c: takes over device s->cfg.recover_id (checks that it serves the same seed or
 * the same size) into s->dev and starts it. -errno with err. */
int srv_take_over(struct blz_server *s, const struct blz_ublk_dev_config *cfg, char *err,
		  size_t errlen);

/* supervise.c: the supervisor's life (the daemon of a supervised server): starts the
 * server, relays its readiness message to ready_fd, restarts it. Returns the exit status. */
int srv_supervise(const struct blz_server_config *cfg, int ready_fd);
/* daemon.c: the server's life in a child process, the readiness message to ready_fd. Does
 * not return. */
void srv_serve_child(const struct blz_server_config *cfg, int ready_fd) __attribute__((noreturn));
/* daemon.c: a readiness message saying the server could not start. */
void srv_send_fail(int fd, int r, const char *msg);

/* orphan.c (see there): the pidfd of the supervisor to watch, or -1 (none, or not yet
 * recorded; looked up again at the next call); called when that pidfd is readable (the
 * supervisor died: a new one is started unless the device is being stopped); closes it.
 * srv_sup_orphaned: whether st (a device's ublkbN.super) still names the dead supervisor
 * as the supervisor of server self and asks for no stop. srv_pidfd_open: -errno. */
int srv_sup_watch_fd(struct blz_server *s);
void srv_sup_event(struct blz_server *s);
void srv_sup_release(struct blz_server *s);
bool srv_sup_orphaned(const struct blz_super_state *st, pid_t self, pid_t dead);
int srv_pidfd_open(pid_t pid);

/* args.c: the argument vector of `ARGV0 serve --foreground --recover ID [--supervise-pid
 * PID]` serving what c serves (the seed or backend, map, stores and fetch options, the
 * prefetch list, cache, queues, depth, poll, filters, recovery timeout): the server an
 * upgrade starts from another binary, the supervisor a server starts when its own died.
 * The request log is not passed on (it would truncate the file). a->v (NULL-terminated)
 * points into c and a. */
struct srv_args {
	const char *v[64 + 2 * BLZ_FETCH_MAX_STORES + 2 * BLZ_SERVER_MAX_FILTERS];
	char num[16][32];
	int n, nnum;
};
void srv_server_args(const struct blz_server_config *c, const char *argv0, uint32_t id,
		     pid_t supervise_pid, struct srv_args *a);

/* daemon.c: closes every descriptor from first on. */
void srv_close_from(int first);

/* server.c: opens /dev/ublk-control; -errno with a message (how to load ublk_drv). */
int srv_ctrl_open(struct blz_ublk_ctrl **ret, char *err, size_t errlen);
/* The kernel's view of device id (blz_ublk_status), with the error
 * of srv_ctrl_open or "no device" in err. */
int srv_dev_status(uint32_t id, struct blz_ublk_status *st, char *err, size_t errlen);

/* verbs.c: answers one control request (control.h's handler, ctx = the server). */
int srv_ctl_handler(void *ctx, const char *verb, struct blz_buf *reply, char *msg, size_t len);
/* verbs.c: the queue counters, one log line per queue. */
void srv_log_stats(const struct blz_server *s);

/* requests.c: the recorder (statistics, the request log), created before the namespace is
 * entered so that cfg.log_requests can be opened; -errno with err. Its writer thread starts
 * with srv_log_requests_start, once in the namespace (threads keep the namespace they
 * started in). */
int srv_recorder_open(struct blz_server *s, char *err, size_t errlen);
int srv_log_requests_start(struct blz_server *s, char *err, size_t errlen);
/* requests.c: stops the request log, if on, with a log line saying how it went. */
void srv_log_requests_stop(struct blz_server *s);
/* requests.c: the "log-start" (with the file passed over the socket) and "log-stop"
 * requests; the control handler's contract. */
int srv_verb_log(struct blz_server *s, bool start, struct blz_buf *reply, char *msg, size_t len);

#endif
