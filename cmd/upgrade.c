/* blazy upgrade: replace a supervised server by a new binary without an I/O error
 * (lib/server/upgrade.h). */
#include <getopt.h>
#include <stdio.h>

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
	unsigned timeout_s = 60;
	int c, r;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == 'b')
			binary = optarg;
		else if (c != 't')
			return blz_bad_option(cmd, c, argv);
		else if ((r = blz_parse_timeout(cmd, optarg, &timeout_s)))
			return r;
	}
	static struct blz_orch_state ms;
	char mnt[4096], err[768];
	uint32_t id;
	r = blz_target_arg(cmd, argc, argv, mnt, &ms, &id);
	if (r < 0)
		return -r;
	struct blz_upgrade_result res;
	r = blz_server_upgrade(id, binary, (unsigned)timeout_s * 1000, &res, err, sizeof(err));
	if (r < 0)
		return blz_die("%s", err);
	printf("/dev/ublkb%u: server %d replaced by %d in %llu ms\n", id, (int)res.old_pid,
	       (int)res.new_pid, (unsigned long long)res.ms);
	return 0;
}
