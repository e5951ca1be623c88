/* blazy umount: unmount, detach the backing's loop device, stop the server (lib/orch). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cmd.h"
#include "orch/orchestrate.h"

int cmd_umount(const struct blz_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lazy", no_argument, NULL, 'l' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	bool lazy = false;
	int quiet = 0, c;
	const char *state_dir = NULL;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lazy = true;
			break;
		case 'S':
			state_dir = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case ':':
			return blz_misuse(cmd, "option '%s' needs a value", argv[optind - 1]);
		default:
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	struct blz_orch_umount_result res;
	char err[1024];
	r = blz_orch_umount(argv[optind], lazy, state_dir, &res, err, sizeof(err));
	if (r < 0)
		return blz_die("%s", err);
	if (!quiet) {
		fputs(res.notes, stdout);
		printf("%s: %s, %s, %s\n", argv[optind], res.unmounted ? "unmounted" : "not mounted",
		       res.loop_detached ? "loop device detached" : "no loop device",
		       res.server_stopped ? "server stopped" : "no server stopped");
	}
	return 0;
}
