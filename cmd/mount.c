/* blazy mount: serve a seed, sprout it with a writable backing and mount it (lib/orch). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "fetchopts.h"
#include "orch/orchestrate.h"
#include "server/server.h"
#include "util/size.h"

/* Options into o and f; 0 or the misuse status. */
static int parse_options(const struct blz_cmd *cmd, int argc, char **argv,
			 struct blz_orch_mount_opts *o, struct blz_cmd_fetch *f, int *quiet)
{
	static char reqlog_abs[4096];
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'r' },
		{ "rw-size", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		BLZ_FETCH_LONGOPTS,
		{ "recovery-timeout", required_argument, NULL, 'R' },
		{ "log-requests", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->backing = optarg;
			break;
		case 's':
			if (blz_parse_size(optarg, &o->rw_size) < 0 || o->rw_size < BLZ_ORCH_MIN_RW_SIZE)
				return blz_misuse(cmd, "invalid --rw-size '%s' (at least %lluM)", optarg,
						  BLZ_ORCH_MIN_RW_SIZE >> 20);
			break;
		case 'S':
			o->state_dir = optarg;
			break;
		case 'q':
			*quiet = 1;
			break;
		case 'R':
			if (blz_parse_duration_ms(optarg, &o->recovery_timeout_ms) < 0 ||
			    o->recovery_timeout_ms > 24 * 3600 * 1000)
				return blz_misuse(cmd, "invalid --recovery-timeout '%s' (0 to 24h)",
						  optarg);
			if (o->recovery_timeout_ms == 0)
				o->recovery_timeout_ms = BLZ_RECOVERY_OFF;
			break;
		case 'L':
			/* the server runs in "/": a relative name is made absolute here */
			if (!*optarg || !(o->log_requests = blz_abs_path(optarg, reqlog_abs,
									 sizeof(reqlog_abs))))
				return blz_misuse(cmd, "bad --log-requests '%s'", optarg);
			break;
		case ':':
			return blz_misuse(cmd, "option '%s' needs a value", argv[optind - 1]);
		default: {
			int fr = blz_cmd_fetch_option(cmd, f, c, optarg);
			if (fr >= 0) {
				if (fr)
					return fr;
				break;
			}
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		}
		}
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r == 0)
		r = blz_cmd_fetch_finish(cmd, f);
	if (r)
		return r;
	if (!o->backing)
		return blz_misuse(cmd, "--rw BACKING is required");
	o->seed = argv[optind];
	o->mountpoint = argv[optind + 1];
	o->store_dir = f->store_dir;
	o->fetch = blz_cmd_fetch_opts(f);
	o->prefetch_list = f->prefetch;
	if (o->prefetch_list && !o->fetch)
		return blz_misuse(cmd, "--prefetch needs a remote --store");
	return 0;
}

int cmd_mount(const struct blz_cmd *cmd, int argc, char **argv)
{
	struct blz_orch_mount_opts o = { 0 };
	struct blz_cmd_fetch f = { .o = { .retries = ~0u } };
	int quiet = 0;
	int r = parse_options(cmd, argc, argv, &o, &f, &quiet);
	if (r) {
		blz_cmd_fetch_release(&f);
		return r;
	}
	struct blz_orch_mount_result res;
	char err[1024];
	r = blz_orch_mount(&o, &res, err, sizeof(err));
	blz_cmd_fetch_release(&f);
	if (r < 0)
		return blz_die("%s", err);
	if (!quiet && res.adopted)
		printf("adopted %s on %s: a new server took %s over\n", o.seed, o.mountpoint,
		       res.ublk);
	else if (!quiet)
		printf("%s %s on %s: %s%s, backing %s, sprout fsid %s\n",
		       res.first ? "sprouted and mounted" : "mounted", o.seed, o.mountpoint,
		       res.ublk, res.started_server ? " (server started)" : " (server already running)",
		       res.backing_dev, res.sprout_fsid);
	return 0;
}
