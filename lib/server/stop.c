/* The stop policy: see stop.h. */
#include "server/stop.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mount/inuse.h"
#include "server/control.h"
#include "server/internal.h"
#include "util/strbuf.h"

#define KILL_WAIT_MS 5000
#define DEAD_DISK_WAIT_MS 1000

/* A stop through try (TRY_STOP_DEV): 0 the disk is removed, -EBUSY refused (err names
 * the user blazy found), 1 not done (no such stop here, or refused for a user blazy cannot
 * name for SAFE_STOP_RETRY_MS: go on the old way). */
static int safe_stop(int (*try)(void *ctx, uint32_t id), const struct blz_stop_ops *ops,
		     void *ctx, uint32_t id, struct blz_stop_result *res, char *err, size_t errlen)
{
	for (unsigned waited = 0;; waited += 50) {
		int r = try(ctx, id);
		if (r == 0) {
			res->safe_stop = true;
			return 0;
		}
		if (r != -EBUSY)
			return 1;
		char what[512];
		if (ops->in_use(ctx, id, what, sizeof(what)) == 1)
			return blz_errf(err, errlen, -EBUSY, "/dev/ublkb%u is in use: %s (the kernel "
					"refused TRY_STOP_DEV)", id, what);
		if (waited >= SAFE_STOP_RETRY_MS)
			return 1;
		usleep(50 * 1000);
	}
}

/* Steps 1-3: 0 once the device is gone (res->step set), 1 when it is still there, -EBUSY
 * when the kernel refused a safe stop (err set). */
static int stop_server(const struct blz_stop_ops *ops, void *ctx, uint32_t id, unsigned grace,
		       bool safe, struct blz_stop_result *res, char *err, size_t errlen)
{
	enum blz_ublk_gone g;
	int s = safe && ops->ctl_try_stop ? safe_stop(ops->ctl_try_stop, ops, ctx, id, res, err,
						      errlen)
					  : 1;
	if (s < 0)
		return s;
	if (s == 0 && (g = ops->wait_gone(ctx, id, grace)) != BLZ_UBLK_STILL_THERE) {
		res->step = BLZ_STOP_CONTROL;
		goto gone;
	}
	if (s == 1 && ops->ctl_stop(ctx, id) == 0 &&
	    (g = ops->wait_gone(ctx, id, grace)) != BLZ_UBLK_STILL_THERE) {
		res->step = BLZ_STOP_CONTROL;
		goto gone;
	}
	int r = ops->signal(ctx, res->pid, SIGTERM);
	if ((r == 0 || r == -ESRCH) &&
	    (g = ops->wait_gone(ctx, id, grace)) != BLZ_UBLK_STILL_THERE) {
		res->step = BLZ_STOP_SIGTERM;
		goto gone;
	}
	res->grace_expired = true;
	ops->signal(ctx, res->pid, SIGKILL);
	res->kill_failed = !ops->pid_wait_gone(ctx, res->pid, KILL_WAIT_MS);
	g = ops->wait_gone(ctx, id, DEAD_DISK_WAIT_MS);
	if (g == BLZ_UBLK_STILL_THERE)
		return 1;
	res->step = BLZ_STOP_SIGKILL;
gone:
	res->held = g == BLZ_UBLK_DELETED_BUT_HELD;
	/* It exits just after deleting its device: do not return while it is still there. */
	if (res->step != BLZ_STOP_SIGKILL)
		ops->pid_wait_gone(ctx, res->pid, grace);
	return 0;
}

/* Step 4. */
static int stop_direct(const struct blz_stop_ops *ops, void *ctx, uint32_t id, unsigned grace,
		       bool safe, struct blz_stop_result *res, char *err, size_t errlen)
{
	int r = safe && ops->try_stop_dev ? safe_stop(ops->try_stop_dev, ops, ctx, id, res, err,
						      errlen)
					  : 1;
	if (r < 0)
		return r;
	if (r == 1)
		r = ops->stop_dev(ctx, id);
	if (r < 0 && r != -ENODEV)
		return blz_errf(err, errlen, r, "cannot stop /dev/ublkb%u: %s", id, strerror(-r));
	r = ops->del_dev(ctx, id, grace);
	if (r == -ETIMEDOUT && !ops->char_dev_present(ctx, id)) {
		/* DEL_DEV waits for the last reference to the disk; the deletion is done */
		res->held = true;
		r = 0;
	}
	if (r < 0 && r != -ENODEV)
		return blz_errf(err, errlen, r, "cannot delete /dev/ublkb%u: %s", id, strerror(-r));
	res->step = BLZ_STOP_DIRECT;
	return 0;
}

int blz_stop_run(const struct blz_stop_ops *ops, void *ctx, uint32_t id,
		 const struct blz_stop_opts *o, struct blz_stop_result *res, char *err,
		 size_t errlen)
{
	unsigned grace = o && o->grace_ms ? o->grace_ms : BLZ_STOP_GRACE_MS;
	memset(res, 0, sizeof(*res));
	pid_t pid = 0;
	int r = ops->probe(ctx, id, &pid);
	if (r == -ENODEV) {
		res->registry_cleaned = ops->clean_registry(ctx, id);
		return blz_errf(err, errlen, -ENODEV, "no ublk device /dev/ublkb%u", id);
	}
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot query /dev/ublkb%u: %s", id, strerror(-r));
	res->pid = pid;
	res->server_alive = r == 1;
	char what[512];
	bool safe = !(o && o->force);
	if (safe && !(o && o->no_precheck) && ops->in_use(ctx, id, what, sizeof(what)) == 1)
		return blz_errf(err, errlen, -EBUSY, "/dev/ublkb%u is in use: %s", id, what);
	r = res->server_alive ? stop_server(ops, ctx, id, grace, safe, res, err, errlen) : 1;
	if (r == 1)
		r = stop_direct(ops, ctx, id, grace, safe, res, err, errlen);
	res->registry_cleaned = ops->clean_registry(ctx, id);
	return r;
}

/* ---- the real steps ---- */

static int real_probe(void *ctx, uint32_t id, pid_t *pid)
{
	struct blz_ublk_status s;
	int r = blz_ublk_status(ctx, id, &s);
	if (r < 0)
		return r;
	*pid = s.server_pid > 0 ? s.server_pid : 0;
	return blz_ublk_server_alive(&s);
}

static int real_in_use(void *ctx, uint32_t id, char *what, size_t len)
{
	char dev[32];
	snprintf(dev, sizeof(dev), "/dev/ublkb%u", id);
	return blz_blockdev_in_use(dev, what, len);
}

/* A supervisor would take a stopping device over again: it goes first (SIGTERM), and
 * the entry says "stopping" first, so that its server does not start a new one
 * (orphan.c). */
static void retire_supervisor(uint32_t id)
{
	struct blz_super_state st;
	if (blz_reg_super_read(id, &st) < 0 || st.supervisor <= 0 || st.supervisor == getpid())
		return;
	snprintf(st.state, sizeof(st.state), "stopping");
	blz_reg_super_write(id, &st);
	if (kill(st.supervisor, SIGTERM) == 0)
		blz_ublk_pid_wait_gone(st.supervisor, 2000);
}

static int real_ctl_stop(void *ctx, uint32_t id)
{
	retire_supervisor(id);
	char sock[128], *reply = NULL;
	blz_reg_sock_path(id, sock, sizeof(sock));
	int r = blz_ctl_request(sock, "stop", &reply, BLZ_CTL_TIMEOUT_MS);
	free(reply);
	return r;
}

static int real_ctl_try_stop(void *ctx, uint32_t id)
{
	char sock[128], *reply = NULL;
	blz_reg_sock_path(id, sock, sizeof(sock));
	int r = blz_ctl_request(sock, "try-stop", &reply, BLZ_CTL_TIMEOUT_MS);
	/* the server's answer: "ok", or "error: busy: ..." when the kernel refused */
	if (r == -EREMOTEIO && reply && !strncmp(reply, "busy:", 5))
		r = -EBUSY;
	free(reply);
	if (r == 0)
		retire_supervisor(id); /* its server exits 0 now: the supervisor ends too */
	return r;
}

static int real_try_stop_dev(void *ctx, uint32_t id)
{
	int r = blz_ublk_ctrl_try_stop_dev(ctx, id);
	if (r == 0)
		retire_supervisor(id);
	return r;
}

static int real_signal(void *ctx, pid_t pid, int sig)
{
	if (pid <= 0)
		return -ESRCH;

	return kill(pid, sig) < 0 ? -errno : 0;
}

static enum blz_ublk_gone real_wait_gone(void *ctx, uint32_t id, unsigned ms)
{
	return blz_ublk_wait_gone(ctx, id, ms);
}

static bool real_pid_wait_gone(void *ctx, pid_t pid, unsigned ms)
{
	return blz_ublk_pid_wait_gone(pid, ms);
}

static int real_stop_dev(void *ctx, uint32_t id)
{
	retire_supervisor(id);
	return blz_ublk_ctrl_stop_dev(ctx, id);
}

static int real_del_dev(void *ctx, uint32_t id, unsigned ms)
{
	return blz_ublk_ctrl_del_dev(ctx, id); /* bounded by the grace set on the handle */
}

static bool real_char_dev_present(void *ctx, uint32_t id)
{
	return blz_ublk_char_dev_present(id);
}

static bool real_clean_registry(void *ctx, uint32_t id)
{
	struct blz_reg reg;
	char sock[128];
	int r = blz_reg_read(id, &reg);
	if (r == 0 && blz_ublk_pid_alive(reg.pid))
		return false;
	blz_reg_sock_path(id, sock, sizeof(sock));
	bool had = r == 0 || access(sock, F_OK) == 0;
	blz_reg_remove(id);
	struct blz_super_state st;
	if (blz_reg_super_read(id, &st) == 0 && !blz_ublk_pid_alive(st.supervisor))
		blz_reg_super_remove(id);
	return had;
}

static const struct blz_stop_ops real_ops = {
	.probe = real_probe,
	.in_use = real_in_use,
	.ctl_stop = real_ctl_stop,
	.signal = real_signal,
	.wait_gone = real_wait_gone,
	.pid_wait_gone = real_pid_wait_gone,
	.stop_dev = real_stop_dev,
	.del_dev = real_del_dev,
	.char_dev_present = real_char_dev_present,
	.clean_registry = real_clean_registry,
	.ctl_try_stop = real_ctl_try_stop,
	.try_stop_dev = real_try_stop_dev,
};

int blz_server_stop(uint32_t id, const struct blz_stop_opts *o, struct blz_stop_result *res,
		    char *err, size_t errlen)
{
	struct blz_ublk_ctrl *ctrl;
	memset(res, 0, sizeof(*res));
	int r = srv_ctrl_open(&ctrl, err, errlen);
	if (r < 0)
		return r;
	blz_ublk_ctrl_set_timeout(ctrl, o && o->grace_ms ? o->grace_ms : BLZ_STOP_GRACE_MS);
	struct blz_stop_opts oo = o ? *o : (struct blz_stop_opts){ 0 };
	const char *hook = getenv("BLAZY_TEST_STOP_NO_CHECK");
	if (hook && !strcmp(hook, "1"))
		oo.no_precheck = true;
	r = blz_stop_run(&real_ops, ctrl, id, &oo, res, err, errlen);
	blz_ublk_ctrl_close(ctrl);
	return r;
}
