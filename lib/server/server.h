/*
 * A blazy server's life: open what it serves, run it as a ublk device until it is told to
 * stop, or spawn it as a daemon that reports back through the readiness handshake
 * (server/ready.h). Stopping one from outside: server/stop.h. The control socket and the
 * registry: server/control.h. The status it answers: server/status.h.
 *
 * The pieces, one concern per file: server.c (open, the device's configuration), run.c
 * (the device and the serving loop), namespace.c (the private mount namespace), signals.c,
 * verbs.c (the control socket's requests), control.c (its protocol), registry.c
 * (/run/blazy), daemon.c (spawning), ready.c (the handshake), log.c (the log line),
 * status.c, stop.c, client.c (requests to a running server).
 *
 * Nothing here writes to stderr by itself: log lines go to the sink the caller provides
 * (blz_server_log_fd writes them, timestamped, to a file descriptor).
 */
#ifndef BLZ_SERVER_SERVER_H
#define BLZ_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/ready.h"

#define BLZ_SERVER_MAX_FILTERS 8

/* One log line (no newline). Called from the serving thread and from queue threads. */
struct blz_fetch_opts;

typedef void (*blz_server_log_fn)(void *ctx, const char *msg);

struct blz_server_config {
	/* What to serve: a seed (with its map and store), or a backend spec (backend.h). */
	const char *seed;
	const char *backend;
	const char *map_path;  /* NULL: SEED.map */
	const char *store_dir; /* NULL: SEED.store */
	size_t cache_bytes;    /* 0: the default */
	/* --store and its options (lazy/lazy.h blz_lazy_opts.fetch); NULL: store_dir alone. */
	const struct blz_fetch_opts *fetch;
	const char *prefetch_list;
	unsigned queues, depth, poll_us; /* 0: the defaults (ublk/ublk.h) */
	blz_server_log_fn log; /* NULL: no log */
	void *log_ctx;
	/* Recovery (docs/recovery.md). While no server runs, I/O waits at most
	 * recovery_timeout_ms for a new one, then fails with EIO: 0 the default
	 * (BLZ_RECOVERY_TIMEOUT_MS). BLZ_RECOVERY_OFF (--recovery-timeout 0): I/O fails at
	 * once while no server runs; where the kernel has USER_RECOVERY_FAIL_IO (6.13) the
	 * device stays recoverable (a supervisor or `serve --recover` takes it over and reads
	 * work again), elsewhere it is not recoverable (the kernel fails I/O and removes the
	 * disk as soon as the server dies). The mode of a device taken over is the one it was
	 * created with. */
	unsigned recovery_timeout_ms;
	bool supervise;     /* blz_server_spawn: run the server under a supervisor */
	bool recover;       /* take over device recover_id instead of creating one */
	uint32_t recover_id;
	/* blz_server_supervise: the running server of device recover_id to supervise. */
	pid_t supervise_pid;
	/* Request filters over what is served, innermost first (backend.h: "delay:ms=N",
	 * "error:rate=P[,file=PATH]"); a trigger file's directory stays in the namespace. */
	const char *filters[BLZ_SERVER_MAX_FILTERS];
	unsigned nfilters;
	/* The request log (backend/reqlog.h) from the start: an absolute path, created or
	 * truncated; NULL: none (the "log-start" request starts one later). */
	const char *log_requests;
	/* No zero copy (ublk.h blz_ublk_dev_config.zero_copy) even where the kernel has it;
	 * BLAZY_ZERO_COPY=off in the environment does the same (blz_ublk_zero_copy_env). */
	bool no_zero_copy;
	bool zero_copy; /* --zero-copy auto: where the kernel can (else only BLAZY_ZERO_COPY=auto) */
};

#define BLZ_RECOVERY_TIMEOUT_MS 30000u
#define BLZ_RECOVERY_OFF 0xffffffffu
/* The exit status of a server that handed its device over (blazy upgrade). */
#define BLZ_SERVER_EXIT_HANDOVER 75
#define BLZ_SERVER_HANDOVER 1 /* blz_server_run: handed over, exit now */
/* Test hook (tests only): with BLAZY_TEST_CRASH_ON_RECOVER=1 in its environment a server
 * that is to take a device over kills itself (SIGKILL) before it does. */
#define BLZ_SERVER_CRASH_ENV "BLAZY_TEST_CRASH_ON_RECOVER"

/* Writes "YYYY-MM-DD HH:MM:SS blazy serve[PID]: MSG\n" to the fd that ctx points to (int *). */
void blz_server_log_fd(void *ctx, const char *msg);

struct blz_server;

/* Opens the seed (map, store) or the backend. -errno with a message in err; -EINVAL with
 * a bad backend spec. */
int blz_server_open(const struct blz_server_config *cfg, struct blz_server **ret, char *err,
		    size_t errlen);
void blz_server_free(struct blz_server *s);

/* Called once the device is up (and, for a seed, registered with its control socket). */
typedef void (*blz_server_ready_fn)(void *ctx, uint32_t dev_id);

/*
 * Enters a private mount namespace pruned to what the server needs, creates and starts the
 * device (or, with cfg->recover, takes the quiesced device over: for a seed, the registry
 * entry of the device must name the same seed file and fsid, -ESTALE otherwise), registers
 * it (seed servers), calls ready, and serves until SIGTERM, SIGINT, SIGHUP or a "stop"
 * request (SIGUSR1 logs the queue counters); then takes it all down. SIGUSR2 hands the
 * device over instead (quiesced where the kernel can, left to the next server): the
 * caller must then exit at once (_exit(BLZ_SERVER_EXIT_HANDOVER), without
 * blz_server_free: queue threads may still run), as blz_server_run returns
 * BLZ_SERVER_HANDOVER.
 * 0 after a clean stop; -errno with a message in err when it could not start (ready was not
 * called), stopped serving on an error, or could not take the device down.
 */
int blz_server_run(struct blz_server *s, blz_server_ready_fn ready, void *ctx, char *err,
		   size_t errlen);

/*
 * Starts a server as a daemon: a child process in its own session, stdin on /dev/null,
 * stdout and stderr on log_fd (or /dev/null when log_fd < 0), no other descriptor of the
 * caller's, working directory "/", opens cfg and runs it. Waits at most timeout_ms for its
 * readiness message. 0 with the device and pid in *ret; -errno with a message in err (the
 * server's own, or how it ended). cfg->log should write to fd 2 (blz_server_log_fd).
 * With cfg->supervise the daemon is a supervisor (supervise.c, docs/recovery.md) whose
 * child is the server; ret->pid is the server's.
 */
int blz_server_spawn(const struct blz_server_config *cfg, int log_fd, unsigned timeout_ms,
		     struct blz_ready *ret, char *err, size_t errlen);

/*
 * Runs the calling process as the supervisor of cfg->supervise_pid, the running server of
 * device cfg->recover_id whose own supervisor died (docs/recovery.md; a server starts this
 * itself, as `blazy serve --supervise-pid`): records itself in ublkbN.super, watches the
 * server by pidfd and, when it dies with the device quiesced, takes the device over with a
 * new server of what cfg serves, as the supervisor blz_server_spawn starts does (back-off,
 * giving up, upgrades). Returns the exit status: 0 once the device was stopped, 1 after
 * giving up (or on a bad cfg).
 */
int blz_server_supervise(const struct blz_server_config *cfg);
/* Whether pid is the server of device id, as a supervisor to start must see it before it
 * watches it: the registry names it (ublkbN.super as the server, or, for a seed server
 * without a supervisor entry, ublkbN.info), it runs, and the kernel has the device live
 * with it as its server. 0, or -errno with a message in err: -ENOENT no entry, -ESRCH
 * another or no such process, or what the kernel answered. Reads only. */
int blz_server_check_pid(uint32_t id, pid_t pid, char *err, size_t errlen);

#endif
