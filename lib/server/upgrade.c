/* blazy upgrade: a supervised server replaced by a new binary (server/upgrade.h). */
#include "server/upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/registry.h"
#include "ublk/ublk.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/strbuf.h"

int blz_server_upgrade(uint32_t id, const char *binary, unsigned timeout_ms,
		       struct blz_upgrade_result *ret, char *err, size_t errlen)
{
	char bin[PATH_MAX];
	if (!binary)
		binary = "/proc/self/exe";
	if (!realpath(binary, bin))
		return blz_errf(err, errlen, -errno, "cannot find '%s': %s", binary, strerror(errno));
	if (access(bin, X_OK) < 0)
		return blz_errf(err, errlen, -errno, "cannot run '%s': %s", bin, strerror(errno));
	struct blz_super_state st;
	int r = blz_reg_super_read(id, &st);
	if (r < 0 || st.supervisor <= 0 || kill(st.supervisor, 0) < 0)
		return blz_errf(err, errlen, -ESRCH, "/dev/ublkb%u has no supervisor (started with "
				"--no-supervise, or its supervisor was killed): stop it and serve it "
				"again, or take it over with `blazy serve --recover`", id);
	if (strcmp(st.state, "live"))
		return blz_errf(err, errlen, -EBUSY, "/dev/ublkb%u is %s, not live", id, st.state);
	struct blz_ublk_ctrl *c;
	r = blz_ublk_ctrl_open(&c);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot open %s: %s", BLZ_UBLK_CONTROL_PATH,
				strerror(-r));
	struct blz_ublk_dev_info info;
	r = blz_ublk_ctrl_get_info(c, id, &info);
	if (r < 0) {
		blz_ublk_ctrl_close(c);
		return blz_errf(err, errlen, r, "no device /dev/ublkb%u: %s", id, strerror(-r));
	}
	pid_t old = info.ublksrv_pid;
	char path[128];
	blz_reg_upgrade_path(id, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || blz_write_full(fd, bin, strlen(bin)) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		blz_ublk_ctrl_close(c);
		return blz_errf(err, errlen, r, "cannot write '%s': %s", path, strerror(-r));
	}
	close(fd);
	uint64_t t0 = blz_now_ms();
	if (kill(st.supervisor, SIGUSR2) < 0) {
		r = -errno;
		blz_ublk_ctrl_close(c);
		return blz_errf(err, errlen, r, "cannot signal the supervisor (pid %d): %s",
				(int)st.supervisor, strerror(-r));
	}
	for (;;) {
		usleep(10 * 1000);
		if (blz_ublk_ctrl_get_info(c, id, &info) == 0 && info.state == BLZ_UBLK_S_DEV_LIVE &&
		    info.ublksrv_pid > 0 && info.ublksrv_pid != old)
			break;
		struct blz_super_state now;
		if (blz_reg_super_read(id, &now) == 0 && !strcmp(now.state, "failed")) {
			blz_ublk_ctrl_close(c);
			return blz_errf(err, errlen, -EIO, "the supervisor gave up: %s", now.cause);
		}
		if (blz_now_ms() - t0 >= timeout_ms) {
			blz_ublk_ctrl_close(c);
			return blz_errf(err, errlen, -ETIMEDOUT, "no new server on /dev/ublkb%u after "
					"%u s", id, timeout_ms / 1000);
		}
	}
	blz_ublk_ctrl_close(c);
	ret->old_pid = old;
	ret->new_pid = info.ublksrv_pid;
	ret->ms = blz_now_ms() - t0;
	return 0;
}
