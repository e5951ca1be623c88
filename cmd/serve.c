/* blazy serve: serve a seed (or a test backend) as a read-only ublk device (lib/server). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "cmd.h"
#include "fetchopts.h"
#include "server/registry.h"
#include "server/server.h"
#include "ublk/ublk.h"
#include "util/size.h"

/* How long a daemonising `blazy serve` waits for the device to come up. */
#define READY_TIMEOUT_MS (300 * 1000)

static int log_fd = STDERR_FILENO;

struct serve_args {
	struct blz_server_config cfg;
	struct blz_cmd_fetch fetch;
	const char *log_path;
	int foreground;
	/* recovery */
	int no_supervise;
	const char *recover;
	struct blz_reg reg; /* --recover DEV without SEED: what the device served */
	char reqlog_abs[4096];
};

/* Parses the options into a; 0 or the misuse status. */
static int parse_options(const struct blz_cmd *cmd, int argc, char **argv, struct serve_args *a)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "queues", required_argument, NULL, 'q' },
		{ "depth", required_argument, NULL, 'd' },
		{ "poll", required_argument, NULL, 'p' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "log", required_argument, NULL, 'l' },
		{ "map", required_argument, NULL, 'm' },
		{ "cache", required_argument, NULL, 'c' },
		BLZ_FETCH_LONGOPTS,
		{ "recovery-timeout", required_argument, NULL, 'R' },
		{ "no-supervise", no_argument, NULL, 'N' },
		{ "recover", required_argument, NULL, 'V' },
		{ "supervise-pid", required_argument, NULL, 'S' },
		{ "filter", required_argument, NULL, 'f' },
		{ "log-requests", required_argument, NULL, 'r' },
		{ "zero-copy", required_argument, NULL, 'Z' },
		{ NULL, 0, NULL, 0 },
	};
	struct blz_server_config *c = &a->cfg;
	uint64_t v;
	int o;
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (o) {
		case 'b': c->backend = optarg; break;
		case 'F': a->foreground = 1; break;
		case 'l': a->log_path = optarg; break;
		case 'm': c->map_path = optarg; break;
		case 'f': {
			if (c->nfilters == BLZ_SERVER_MAX_FILTERS)
				return blz_misuse(cmd, "at most %d --filter", BLZ_SERVER_MAX_FILTERS);
			/* checked here, over a stand-in, so that a bad one is misuse */
			struct blz_backend *b = NULL;
			char e[256] = "";
			int fr = blz_backend_null_open(4096, &b);
			if (fr == 0)
				fr = blz_backend_filter_spec(optarg, &b, e, sizeof(e));
			blz_backend_close(b);
			if (fr < 0)
				return blz_misuse(cmd, "bad --filter '%s': %s", optarg, e);
			c->filters[c->nfilters++] = optarg;
			break;
		}
		case 'r':
			/* the daemon works in "/": an absolute path */
			if (!*optarg || !(c->log_requests = blz_abs_path(optarg, a->reqlog_abs,
									 sizeof(a->reqlog_abs))))
				return blz_misuse(cmd, "bad --log-requests '%s'", optarg);
			break;
		case 'q':
			if (blz_parse_count(optarg, 1, BLZ_UBLK_MAX_NR_QUEUES, &c->queues) < 0)
				return blz_misuse(cmd, "invalid --queues '%s' (want 1 to %u)", optarg,
						  BLZ_UBLK_MAX_NR_QUEUES);
			break;
		case 'd':
			if (blz_parse_count(optarg, 1, BLZ_UBLK_MAX_QUEUE_DEPTH, &c->depth) < 0)
				return blz_misuse(cmd, "invalid --depth '%s' (want 1 to %u)", optarg,
						  BLZ_UBLK_MAX_QUEUE_DEPTH);
			break;
		case 'p':
			if (blz_parse_count(optarg, 0, BLZ_UBLK_MAX_POLL_US, &c->poll_us) < 0)
				return blz_misuse(cmd, "invalid --poll '%s' (want 0 to %u µs)", optarg,
						  BLZ_UBLK_MAX_POLL_US);
			if (c->poll_us == 0)
				c->poll_us = BLZ_UBLK_POLL_NEVER;
			break;
		case 'c':
			if (blz_parse_size(optarg, &v) < 0 || v < (4u << 20) || v > (64ull << 30))
				return blz_misuse(cmd, "invalid --cache '%s' (4M to 64G)", optarg);
			c->cache_bytes = (size_t)v;
			break;
		case 'R':
			if (blz_parse_duration_ms(optarg, &c->recovery_timeout_ms) < 0 ||
			    c->recovery_timeout_ms > 24 * 3600 * 1000)
				return blz_misuse(cmd, "invalid --recovery-timeout '%s' (0 to 24h)",
						  optarg);
			if (c->recovery_timeout_ms == 0)
				c->recovery_timeout_ms = BLZ_RECOVERY_OFF;
			break;
		case 'N': a->no_supervise = 1; break;
		case 'Z':
			if (strcmp(optarg, "auto") && strcmp(optarg, "off"))
				return blz_misuse(cmd, "invalid --zero-copy '%s' (auto or off)",
						  optarg);
			c->no_zero_copy = !strcmp(optarg, "off");
			c->zero_copy = !c->no_zero_copy;
			break;
		case 'V':
			if (blz_ublk_parse_dev(optarg, &c->recover_id) < 0)
				return blz_misuse(cmd, "invalid --recover '%s' (/dev/ublkbN, ublkbN or N)",
						  optarg);
			c->recover = true;
			a->recover = optarg;
			break;
		case 'S': {
			unsigned pid;
			if (blz_parse_count(optarg, 1, 0x3fffffff, &pid) < 0)
				return blz_misuse(cmd, "invalid --supervise-pid '%s'", optarg);
			c->supervise_pid = (pid_t)pid;
			break;
		}
		case ':':
			return blz_misuse(cmd, "option '%s' needs a value", argv[optind - 1]);
		default: {
			int fr = blz_cmd_fetch_option(cmd, &a->fetch, o, optarg);
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
		r = blz_cmd_fetch_finish(cmd, &a->fetch);
	if (r)
		return r;
	c->store_dir = a->fetch.store_dir;
	c->fetch = blz_cmd_fetch_opts(&a->fetch);
	c->prefetch_list = a->fetch.prefetch;
	if (c->prefetch_list && !c->fetch)
		return blz_misuse(cmd, "--prefetch needs a remote --store");
	c->seed = optind < argc ? argv[optind] : NULL;
	if (c->recover && c->recovery_timeout_ms == BLZ_RECOVERY_OFF)
		return blz_misuse(cmd, "--recover takes over a recoverable device: not with "
				  "--recovery-timeout 0");
	if (c->supervise_pid && !(c->recover && a->foreground))
		return blz_misuse(cmd, "--supervise-pid goes with --recover DEV and --foreground");
	if (c->recover && !c->seed && !c->backend) {
		/* The seed the device served, as its registry entry names it. */
		if (blz_reg_read(c->recover_id, &a->reg) < 0)
			return blz_die("/dev/ublkb%u has no entry in %s: give the SEED it serves "
				       "(or --backend SPEC)", c->recover_id, BLZ_RUN_DIR);
		if (!a->reg.seed[0])
			return blz_die("/dev/ublkb%u served a test backend, not a seed: give its "
				       "--backend SPEC", c->recover_id);
		c->seed = a->reg.seed;
		if (!c->map_path)
			c->map_path = a->reg.map;
		if (!c->store_dir)
			c->store_dir = a->reg.store;
	}
	c->supervise = !a->foreground && !a->no_supervise;
	if (c->seed && c->backend)
		return blz_misuse(cmd, "give either SEED or --backend, not both");
	if (!c->seed && !c->backend)
		return blz_misuse(cmd, "give a SEED to serve or --backend SPEC");
	if (!c->seed && (c->map_path || a->fetch.n_stores || a->fetch.engine || c->cache_bytes))
		return blz_misuse(cmd, "--map, --store, --cache and the fetch options apply to serving a SEED");
	if (a->log_path && a->foreground)
		return blz_misuse(cmd, "--log is for a daemon (without --foreground)");
	return 0;
}

static void print_ready(void *ctx, uint32_t dev_id)
{
	printf("/dev/ublkb%u\n", dev_id);
	fflush(stdout);
}

static int serve(const struct blz_cmd *cmd, struct serve_args *ap);

int cmd_serve(const struct blz_cmd *cmd, int argc, char **argv)
{
	struct serve_args a = { .cfg = { .log = blz_server_log_fd, .log_ctx = &log_fd },
				.fetch = { .o = { .retries = ~0u } } };
	int r = parse_options(cmd, argc, argv, &a);
	if (r == 0)
		r = serve(cmd, &a);
	blz_cmd_fetch_release(&a.fetch);
	return r;
}

static int serve(const struct blz_cmd *cmd, struct serve_args *ap)
{
	struct serve_args a = *ap;
	int r;
	char err[768] = "";
	if (a.cfg.supervise_pid) {
		if (blz_server_check_pid(a.cfg.recover_id, a.cfg.supervise_pid, err, sizeof(err)) < 0)
			return blz_die("%s", err);
		return blz_server_supervise(&a.cfg);
	}
	if (a.foreground) {
		struct blz_server *s = NULL;
		r = blz_server_open(&a.cfg, &s, err, sizeof(err));
		if (r == -EINVAL && a.cfg.backend)
			return blz_misuse(cmd, "bad --backend '%s': %s", a.cfg.backend, err);
		if (r == 0)
			r = blz_server_run(s, print_ready, NULL, err, sizeof(err));
		if (r == BLZ_SERVER_HANDOVER)
			_exit(BLZ_SERVER_EXIT_HANDOVER); /* queue threads may still run */
		blz_server_free(s);
		return r < 0 ? blz_die("%s", err) : 0;
	}
	if (a.cfg.backend) {
		/* A bad spec is misuse, reported before anything is started. */
		struct blz_server *s;
		r = blz_server_open(&a.cfg, &s, err, sizeof(err));
		if (r == -EINVAL)
			return blz_misuse(cmd, "bad --backend '%s': %s", a.cfg.backend, err);
		blz_server_free(r == 0 ? s : NULL);
	}
	int lfd = -1;
	if (a.log_path) {
		lfd = open(a.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (lfd < 0)
			return blz_die("cannot open '%s': %s", a.log_path, strerror(errno));
	}
	struct blz_ready m;
	r = blz_server_spawn(&a.cfg, lfd, READY_TIMEOUT_MS, &m, err, sizeof(err));
	if (lfd >= 0)
		close(lfd);
	if (r < 0)
		return blz_die("%s", err);
	printf("/dev/ublkb%u\n", m.dev_id);
	return 0;
}
