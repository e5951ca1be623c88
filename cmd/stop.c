/* blazy stop: take a ublk device down, through its server when it runs, else directly. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "ublk/ublk.h"

#define POLL_MS 100

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool char_dev_present(uint32_t id)
{
	char path[64];
	snprintf(path, sizeof(path), "/sys/class/ublk-char/ublkc%u", id);
	if (access("/sys/class/ublk-char", F_OK) < 0) /* no sysfs: look in /dev */
		snprintf(path, sizeof(path), "/dev/ublkc%u", id);
	return access(path, F_OK) == 0;
}

enum { STILL_THERE, GONE, DELETED_BUT_HELD };

/* Waits up to ms for the device to disappear. DELETED_BUT_HELD: it is deleted (no block
 * or character device left) but the kernel keeps its number until the last opener of the
 * disk closes it. */
static int wait_gone(struct blz_ublk_ctrl *ctrl, uint32_t id, unsigned ms)
{
	uint64_t end = now_ms() + ms, deleted_at = 0;
	for (;;) {
		struct blz_ublk_dev_info info;
		if (blz_ublk_ctrl_get_info(ctrl, id, &info) == -ENODEV)
			return GONE;
		uint64_t now = now_ms();
		if (!char_dev_present(id)) {
			if (!deleted_at)
				deleted_at = now;
			else if (now - deleted_at >= 1000) /* the number is normally freed at once */
				return DELETED_BUT_HELD;
		}
		if (now >= end)
			return deleted_at ? DELETED_BUT_HELD : STILL_THERE;
		usleep(POLL_MS * 1000);
	}
}

static void warn_held(const char *dev)
{
	blz_warn("%s is deleted but its disk is still open somewhere: the kernel frees its "
		 "number when the last user closes it", dev);
}

/* Waits up to ms for a process to end: 1 ended, 0 still running. */
static int wait_pid_gone(pid_t pid, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (blz_ublk_pid_alive(pid)) {
		if (now_ms() >= end)
			return 0;
		usleep(POLL_MS * 1000);
	}
	return 1;
}

int cmd_stop(const struct blz_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned timeout_s = 10;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		if (c == 't') {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || v < 1 || v > 3600)
				return blz_misuse(cmd, "invalid --timeout '%s' (want 1 to 3600)",
						  optarg);
			timeout_s = (unsigned)v;
		} else if (c == ':') {
			return blz_misuse(cmd, "option '%s' needs a value", argv[optind - 1]);
		} else {
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	const char *arg = argv[optind];
	uint32_t id;
	if (blz_ublk_parse_dev(arg, &id) < 0)
		return blz_misuse(cmd, "'%s' is not a ublk device (want /dev/ublkbN, ublkbN or N)",
				  arg);

	struct blz_ublk_ctrl *ctrl;
	r = blz_ublk_ctrl_open(&ctrl);
	if (r == -ENOENT)
		return blz_die("cannot open %s: %s (load the ublk_drv module: modprobe ublk_drv)",
			       BLZ_UBLK_CONTROL_PATH, strerror(-r));
	if (r < 0)
		return blz_die("cannot open %s: %s", BLZ_UBLK_CONTROL_PATH, strerror(-r));
	blz_ublk_ctrl_set_timeout(ctrl, timeout_s * 1000);

	char dev[32];
	snprintf(dev, sizeof(dev), "/dev/ublkb%u", id);
	struct blz_ublk_status s;
	r = blz_ublk_status(ctrl, id, &s);
	if (r == -ENODEV) {
		blz_ublk_ctrl_close(ctrl);
		return blz_die("no ublk device %s", dev);
	}
	if (r < 0) {
		blz_ublk_ctrl_close(ctrl);
		return blz_die("cannot query %s: %s", dev, strerror(-r));
	}

	int status = 0;
	if (blz_ublk_server_alive(&s)) {
		pid_t pid = s.server_pid;
		if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
			blz_warn("cannot signal the server (pid %d) of %s: %s", (int)pid, dev,
				 strerror(errno));
		} else if ((r = wait_gone(ctrl, id, timeout_s * 1000)) != STILL_THERE) {
			printf("stopped %s: its server (pid %d) took it down\n", dev, (int)pid);
			if (r == DELETED_BUT_HELD)
				warn_held(dev);
			goto out;
		} else {
			blz_warn("the server (pid %d) of %s did not stop it within %u s: killing it",
				 (int)pid, dev, timeout_s);
		}
		/* Unresponsive: end it. Without recovery flags the kernel then fails its
		 * requests and removes the disk; what remains is deleted below. */
		if (blz_ublk_pid_alive(pid)) {
			kill(pid, SIGKILL);
			if (!wait_pid_gone(pid, 5000))
				blz_warn("the server (pid %d) of %s is still there after SIGKILL",
					 (int)pid, dev);
		}
		if ((r = wait_gone(ctrl, id, 1000)) != STILL_THERE) {
			printf("stopped %s: its server (pid %d) was killed\n", dev, (int)pid);
			if (r == DELETED_BUT_HELD)
				warn_held(dev);
			goto out;
		}
	}

	/* No server (killed, crashed) or one that would not stop: remove it directly. */
	r = blz_ublk_ctrl_stop_dev(ctrl, id);
	if (r < 0 && r != -ENODEV) {
		status = blz_die("cannot stop %s: %s", dev, strerror(-r));
		goto out;
	}
	r = blz_ublk_ctrl_del_dev(ctrl, id);
	bool held = false;
	if (r == -ETIMEDOUT && !char_dev_present(id)) {
		/* DEL_DEV waits for the last reference to the disk; the deletion itself is done */
		held = true;
		r = 0;
	}
	if (r < 0 && r != -ENODEV) {
		status = blz_die("cannot delete %s: %s", dev, strerror(-r));
		goto out;
	}
	if (s.server_pid > 0)
		printf("removed %s directly (its server, pid %d, is gone)\n", dev, (int)s.server_pid);
	else
		printf("removed %s directly (it had no server)\n", dev);
	if (held)
		warn_held(dev);
out:
	blz_ublk_ctrl_close(ctrl);
	return status;
}
