/* lib/orch: the server behind a mount, started and stopped through lib/server (one
 * readiness handshake, one stop policy). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "orch/internal.h"
#include "server/server.h"
#include "server/stop.h"
#include "util/strbuf.h"

/* In the daemon, standard error is the log file. */
static int server_log_fd = STDERR_FILENO;

int orch_start_server(const char *seed, const struct blz_orch_mount_opts *o, const char *log,
		      unsigned timeout_ms, int64_t recover_id, char *dev, size_t devlen,
		      pid_t *ret_pid, char *err, size_t errlen)
{
	unsigned recovery_timeout_ms = o->recovery_timeout_ms;
	struct blz_server_config cfg = {
		.seed = seed,
		.store_dir = o->store_dir,
		.fetch = o->fetch,
		.prefetch_list = o->prefetch_list,
		.log_requests = o->log_requests,
		.log = blz_server_log_fd,
		.log_ctx = &server_log_fd,
		.recovery_timeout_ms = recovery_timeout_ms,
		.supervise = true, /* where the device is recoverable (server.h) */
		.recover = recover_id >= 0,
		.recover_id = recover_id >= 0 ? (uint32_t)recover_id : 0,
	};
	int lfd = -1;
	if (log)
		lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	struct blz_ready m;
	char e[600];
	int r = blz_server_spawn(&cfg, lfd, timeout_ms, &m, e, sizeof(e));
	if (lfd >= 0)
		close(lfd);
	if (r < 0)
		return blz_errf(err, errlen, r, "the server did not start: %s", e);
	snprintf(dev, devlen, "/dev/ublkb%u", m.dev_id);
	*ret_pid = m.pid;
	return 0;
}

int orch_stop_server(uint32_t id, char *err, size_t errlen)
{
	/* The mount is gone (umount) or was never made (rollback): nothing to refuse for. */
	struct blz_stop_opts o = { .force = true };
	struct blz_stop_result res;
	int r = blz_server_stop(id, &o, &res, err, errlen);
	return r == -ENODEV ? 0 : r;
}
