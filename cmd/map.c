/* blazy map: put files' bytes into the store and map them at fresh offsets of the virtual
 * area (lib/lazywrite/mapper.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "lazywrite/mapper.h"
#include "orch/clone.h"
#include "server/control.h"
#include "ublk/ublk.h"
#include "util/size.h"

/* --clone DEST FILE, or --clone-into DIR FILE...: map, then clone into the mount. */
static int map_clone(bool json, const char *state_dir, const char *into, int n, char **args)
{
	char dir[4096], err[768];
	if (into)
		snprintf(dir, sizeof(dir), "%s", into);
	else {
		snprintf(dir, sizeof(dir), "%s", args[0]);
		char *slash = strrchr(dir, '/');
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == dir)
			dir[1] = 0;
		else
			*slash = 0;
	}
	struct blz_cloner *cl;
	int r = blz_cloner_open(state_dir, dir, &cl, err, sizeof(err));
	if (r < 0)
		return blz_die("%s", err);
	int status = 0, first = into ? 0 : 1;
	if (json)
		printf("[");
	for (int i = first; i < n; i++) {
		char dest[4096];
		const char *src = args[i];
		if (into) {
			const char *base = strrchr(src, '/');
			snprintf(dest, sizeof(dest), "%s/%s", into, base ? base + 1 : src);
		} else {
			snprintf(dest, sizeof(dest), "%s", args[0]);
		}
		struct blz_mapped mp;
		r = blz_cloner_add(cl, dest, src, &mp, err, sizeof(err));
		if (r < 0) {
			status = blz_die("%s", err);
			break;
		}
		if (json) {
			printf("%s{\"file\":", i > first ? "," : "");
			blz_json_str(stdout, src);
			printf(",\"path\":");
			blz_json_str(stdout, dest);
			printf(",\"offset\":%llu,\"length\":%llu,\"device_offset\":%llu}",
			       (unsigned long long)mp.virtual_off, (unsigned long long)mp.size,
			       (unsigned long long)mp.device_off);
		} else {
			char b[32];
			printf("%s -> %s (%s, lazy)\n", src, dest, blz_format_size(mp.size, b, sizeof(b)));
		}
	}
	if (json)
		printf("]\n");
	blz_cloner_close(cl);
	return status;
}

int cmd_map(const struct blz_cmd *cmd, int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_MAP, OPT_STORE, OPT_CLONE, OPT_CLONE_INTO, OPT_STATE };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "clone", no_argument, NULL, OPT_CLONE },
		{ "clone-into", required_argument, NULL, OPT_CLONE_INTO },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "map", required_argument, NULL, OPT_MAP },
		{ "store", required_argument, NULL, OPT_STORE },
		{ NULL, 0, NULL, 0 },
	};
	struct blz_seedset_opts lo = { 0 };
	bool json = false, clone = false;
	const char *clone_into = NULL, *state_dir = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: json = true; break;
		case OPT_MAP: lo.map_path = optarg; break;
		case OPT_STORE: lo.store_dir = optarg; break;
		case OPT_CLONE: clone = true; break;
		case OPT_CLONE_INTO: clone_into = optarg; break;
		case OPT_STATE: state_dir = optarg; break;
		default: return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	if (clone || clone_into) {
		if (clone && clone_into)
			return blz_misuse(cmd, "give --clone or --clone-into, not both");
		if (lo.map_path || lo.store_dir)
			return blz_misuse(cmd, "--map and --store come from the mount with --clone");
		if (clone && argc - optind != 2)
			return blz_misuse(cmd, "--clone takes MOUNTPOINT/PATH FILE");
		return map_clone(json, state_dir, clone_into, argc - optind, argv + optind);
	}
	if (argc - optind < 2)
		return blz_misuse(cmd, "missing FILE");
	/* DEV: the seed, map and store of the server of that device (its registry entry). */
	const char *target = argv[optind];
	struct blz_reg reg;
	uint32_t id;
	bool served = false;
	if (blz_ublk_parse_dev(target, &id) == 0) {
		if (blz_reg_read(id, &reg) < 0)
			return blz_die("no blazy seed server for /dev/ublkb%u (see 'blazy list')", id);
		if (!reg.seed[0])
			return blz_die("/dev/ublkb%u is not a seed server (no seed to map into)", id);
		lo.seed = reg.seed;
		if (!lo.map_path)
			lo.map_path = reg.map;
		if (!lo.store_dir)
			lo.store_dir = reg.store;
		served = true;
	} else {
		lo.seed = target;
		served = blz_reg_find_seed(target, &reg) == 1;
	}
	char err[512];
	struct blz_mapper *m;
	r = blz_mapper_open(&lo, &m, err, sizeof(err));
	if (r < 0)
		return blz_die("%s", err);
	if (json)
		printf("[");
	int status = 0;
	for (int i = optind + 1; i < argc; i++) {
		const char *path = argv[i];
		int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
		if (fd < 0) {
			status = blz_die("cannot open '%s': %s", path, strerror(errno));
			break;
		}
		struct blz_mapped mp;
		r = blz_mapper_add(m, fd, path, &mp, err, sizeof(err));
		if (fd > 0)
			close(fd);
		if (r < 0) {
			status = blz_die("%s", err);
			break;
		}
		if (json) {
			printf("%s{\"file\":", i > optind + 1 ? "," : "");
			blz_json_str(stdout, path);
			printf(",\"offset\":%llu,\"length\":%llu,\"device_offset\":%llu,\"records\":%llu}",
			       (unsigned long long)mp.virtual_off, (unsigned long long)mp.size,
			       (unsigned long long)mp.device_off, (unsigned long long)mp.records);
		} else {
			char b[32];
			printf("%s: offset %llu length %llu (%s) in /.blazy/virtual\n", path,
			       (unsigned long long)mp.virtual_off, (unsigned long long)mp.size,
			       blz_format_size(mp.size, b, sizeof(b)));
		}
		fflush(stdout);
	}
	if (json)
		printf("]\n");
	blz_mapper_close(m);
	/* The records are durable; a server finds them on its next miss anyway. Telling it now
	 * makes them visible before anyone reads. */
	if (served) {
		char sock[128], *reply = NULL;
		blz_reg_sock_path(reg.dev_id, sock, sizeof(sock));
		r = blz_ctl_request(sock, "map", &reply, 5000);
		if (r < 0)
			blz_warn("the server of /dev/ublkb%u was not told (%s); it will find the new "
				 "records when they are read", reg.dev_id, r == -EREMOTEIO ? reply : strerror(-r));
		free(reply);
	}
	return status;
}
