/* blazy upgrade: replace a supervised server by a new binary without an I/O error
 * (lib/server/upgrade.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "orch/orchestrate.h"
#include "server/upgrade.h"
#include "ublk/ublk.h"

int cmd_upgrade(const struct blz_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "binary", required_argument, NULL, 'b' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *binary = NULL;
	unsigned long timeout_s = 60;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		char *end;
		if (c == 'b') {
			binary = optarg;
		} else if (c == 't') {
			errno = 0;
			timeout_s = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' || optarg[0] > '9' || timeout_s < 1 ||
			    timeout_s > 3600)
				return blz_misuse(cmd, "invalid --timeout '%s' (want 1 to 3600)", optarg);
		} else if (c == ':') {
			return blz_misuse(cmd, "option '%s' needs a value", argv[optind - 1]);
		} else {
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	static struct blz_orch_state ms;
	char mnt[4096], err[768];
	uint32_t id;
	r = blz_dev_or_mount(argv[optind], mnt, &ms, &id);
	if (r == -1)
		return 1;
	if (r == -2)
		return blz_misuse(cmd, "'%s' is neither a ublk device (/dev/ublkbN, ublkbN or N) "
				  "nor a blazy mount point", argv[optind]);
	struct blz_upgrade_result res;
	r = blz_server_upgrade(id, binary, (unsigned)timeout_s * 1000, &res, err, sizeof(err));
	if (r < 0)
		return blz_die("%s", err);
	printf("/dev/ublkb%u: server %d replaced by %d in %llu ms\n", id, (int)res.old_pid,
	       (int)res.new_pid, (unsigned long long)res.ms);
	return 0;
}
