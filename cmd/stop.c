/* blazy stop: take a ublk device down with the one stop policy (server/stop.h). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "server/stop.h"
#include "ublk/ublk.h"

static void report(const char *dev, const struct blz_stop_result *res, unsigned timeout_s)
{
	if (res->grace_expired)
		blz_warn("the server (pid %d) of %s did not stop it within %u s: killing it",
			 (int)res->pid, dev, timeout_s);
	if (res->kill_failed)
		blz_warn("the server (pid %d) of %s is still there after SIGKILL", (int)res->pid, dev);
	switch (res->step) {
	case BLZ_STOP_CONTROL:
	case BLZ_STOP_SIGTERM:
		printf("stopped %s: its server (pid %d) took it down\n", dev, (int)res->pid);
		break;
	case BLZ_STOP_SIGKILL:
		printf("stopped %s: its server (pid %d) was killed\n", dev, (int)res->pid);
		break;
	default:
		if (res->grace_expired)
			printf("stopped %s: its server (pid %d) was killed, the device removed "
			       "directly\n", dev, (int)res->pid);
		else if (res->pid > 0)
			printf("removed %s directly (its server, pid %d, is gone)\n", dev, (int)res->pid);
		else
			printf("removed %s directly (it had no server)\n", dev);
	}
	if (res->held)
		blz_warn("%s is deleted but its disk is still open somewhere: the kernel frees its "
			 "number when the last user closes it", dev);
}

int cmd_stop(const struct blz_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned timeout_s = 10;
	struct blz_stop_opts so = { 0 };
	int c, r;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == 'f')
			so.force = true;
		else if (c != 't')
			return blz_bad_option(cmd, c, argv);
		else if ((r = blz_parse_timeout(cmd, optarg, &timeout_s)))
			return r;
	}
	r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	const char *arg = argv[optind];
	uint32_t id;
	if (blz_ublk_parse_dev(arg, &id) < 0)
		return blz_misuse(cmd, "'%s' is not a ublk device (want /dev/ublkbN, ublkbN or N)",
				  arg);
	so.grace_ms = timeout_s * 1000;
	struct blz_stop_result res;
	char err[768], dev[32];
	snprintf(dev, sizeof(dev), "/dev/ublkb%u", id);
	r = blz_server_stop(id, &so, &res, err, sizeof(err));
	if (r == -EBUSY)
		return blz_die("%s (--force stops it anyway)", err);
	if (r < 0)
		return blz_die("%s", err);
	report(dev, &res, timeout_s);
	return 0;
}
