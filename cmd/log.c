/* blazy log: start or stop the request log of a running server (lib/server/client.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "server/client.h"
#include "ublk/ublk.h"

int cmd_log(const struct blz_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "start", required_argument, NULL, 's' },
		{ "stop", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	const char *start = NULL;
	int stop = 0, o;
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (o == 's')
			start = optarg;
		else if (o == 'x')
			stop = 1;
		else
			return blz_bad_option(cmd, o, argv);
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	if (!start == !stop)
		return blz_misuse(cmd, "give either --start FILE or --stop");
	uint32_t id;
	if (blz_ublk_parse_dev(argv[optind], &id) < 0)
		return blz_misuse(cmd, "'%s' is not a ublk device (/dev/ublkbN, ublkbN or N)",
				  argv[optind]);
	char err[768];
	if (start)
		return blz_server_log_start(id, start, err, sizeof(err)) < 0 ? blz_die("%s", err) : 0;
	char *summary = NULL;
	if (blz_server_log_stop(id, &summary, err, sizeof(err)) < 0)
		return blz_die("%s", err);
	printf("%s", summary);
	free(summary);
	return 0;
}
