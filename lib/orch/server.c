/* lib/orch: the `blazy serve` process behind a mount: started as a daemon (its device read
 * from a pipe within a deadline), stopped through its control socket, by signals, and at
 * last by deleting its ublk device directly. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "orch/internal.h"
#include "server/control.h"
#include "ublk/ublk.h"
#include "util/fileio.h"
#include "util/strbuf.h"

uint64_t orch_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


/* Runs `exe serve SEED` (which daemonises and prints the device), waits for its answer. */
int orch_start_server(const char *exe, const char *seed, const char *log, unsigned timeout_ms,
			char *dev, size_t devlen, char *err, size_t errlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return blz_errf(err, errlen, -errno, "cannot create a pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return blz_errf(err, errlen, r, "cannot fork: %s", strerror(-r));
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		if (log)
			execl(exe, "blazy", "serve", "--log", log, seed, (char *)NULL);
		else
			execl(exe, "blazy", "serve", seed, (char *)NULL);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	char buf[1024];
	ssize_t got = blz_read_deadline(p[0], buf, sizeof(buf), (int)timeout_ms, 0);
	close(p[0]);
	size_t n = got > 0 ? (size_t)got : strlen(buf);
	bool timed_out = got == -ETIMEDOUT;
	if (timed_out) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return blz_errf(err, errlen, -ETIMEDOUT,
				"the server did not report its device within %u s", timeout_ms / 1000);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	/* Trim the output to one line for the message. */
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	unsigned id;
	char tail;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
	    sscanf(buf, "/dev/ublkb%u%c", &id, &tail) == 1) {
		snprintf(dev, devlen, "/dev/ublkb%u", id);
		return 0;
	}
	const char *msg = buf;
	if (!strncmp(msg, "blazy: error: ", 14))
		msg += 14;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
	return blz_errf(err, errlen, -EIO, "the server did not start: %s",
			*msg ? msg : "no output");
}

/* Waits up to ms for the ublk device id to be gone. 1 gone, 0 still there. */
static int ublk_wait_gone(struct blz_ublk_ctrl *ctrl, uint32_t id, unsigned ms)
{
	uint64_t end = orch_now_ms() + ms;
	for (;;) {
		struct blz_ublk_dev_info info;
		if (blz_ublk_ctrl_get_info(ctrl, id, &info) == -ENODEV)
			return 1;
		char path[64];
		snprintf(path, sizeof(path), "/dev/ublkc%u", id);
		if (orch_now_ms() >= end)
			return access(path, F_OK) < 0; /* deleted, number held by a last opener */
		usleep(50 * 1000);
	}
}

/* Waits up to ms for a server process to be gone (it exits just after deleting its
 * device: whoever stopped it should not return while it is still there). */
static void pid_wait_gone(pid_t pid, unsigned ms)
{
	uint64_t end = orch_now_ms() + ms;
	while (blz_ublk_pid_alive(pid) && orch_now_ms() < end)
		usleep(20 * 1000);
}

/*
 * Stops the device id: through its server's control socket when it runs (bounded wait),
 * then SIGTERM, SIGKILL, and finally STOP_DEV + DEL_DEV directly (a dead server's device).
 * 0 when the device is gone (or was not there), -errno otherwise.
 */
int orch_stop_server(uint32_t id, char *err, size_t errlen)
{
	struct blz_ublk_ctrl *ctrl;
	int r = blz_ublk_ctrl_open(&ctrl);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot open %s: %s", BLZ_UBLK_CONTROL_PATH,
				strerror(-r));
	blz_ublk_ctrl_set_timeout(ctrl, 10000);
	struct blz_ublk_status s;
	r = blz_ublk_status(ctrl, id, &s);
	if (r == -ENODEV) {
		blz_ublk_ctrl_close(ctrl);
		return 0;
	}
	if (r < 0) {
		blz_ublk_ctrl_close(ctrl);
		return blz_errf(err, errlen, r, "cannot query /dev/ublkb%u: %s", id, strerror(-r));
	}
	if (blz_ublk_server_alive(&s)) {
		char sock[128];
		char *reply = NULL;
		blz_reg_sock_path(id, sock, sizeof(sock));
		if (blz_ctl_request(sock, "stop", &reply, BLZ_CTL_TIMEOUT_MS) == 0 &&
		    ublk_wait_gone(ctrl, id, 10000)) {
			free(reply);
			blz_ublk_ctrl_close(ctrl);
			pid_wait_gone(s.server_pid, 10000);
			return 0;
		}
		free(reply);
		if (blz_ublk_server_alive(&s) && kill(s.server_pid, SIGTERM) == 0 &&
		    ublk_wait_gone(ctrl, id, 10000)) {
			blz_ublk_ctrl_close(ctrl);
			pid_wait_gone(s.server_pid, 10000);
			return 0;
		}
		if (blz_ublk_server_alive(&s)) {
			kill(s.server_pid, SIGKILL);
			pid_wait_gone(s.server_pid, 5000);
		}
		if (ublk_wait_gone(ctrl, id, 1000)) {
			blz_ublk_ctrl_close(ctrl);
			return 0;
		}
	}
	r = blz_ublk_ctrl_stop_dev(ctrl, id);
	if (r < 0 && r != -ENODEV) {
		blz_ublk_ctrl_close(ctrl);
		return blz_errf(err, errlen, r, "cannot stop /dev/ublkb%u: %s", id, strerror(-r));
	}
	r = blz_ublk_ctrl_del_dev(ctrl, id);
	if (r == -ETIMEDOUT && ublk_wait_gone(ctrl, id, 0))
		r = 0;
	blz_ublk_ctrl_close(ctrl);
	if (r < 0 && r != -ENODEV)
		return blz_errf(err, errlen, r, "cannot delete /dev/ublkb%u: %s", id, strerror(-r));
	/* A dead server left its registry entry behind. */
	struct blz_reg reg;
	if (blz_reg_read(id, &reg) == 0 && !blz_ublk_pid_alive(reg.pid))
		blz_reg_remove(id);
	return 0;
}

