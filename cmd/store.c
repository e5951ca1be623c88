/* blazy store verify|prefetch|gc: whole-seed operations on stores and the persistent cache
 * (lib/storeops/storeops.h). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "fetch/fetch.h"
#include "map/map.h"
#include "storeops/storeops.h"
#include "store/diskcache.h"
#include "util/sha256.h"
#include "util/size.h"

enum { OPT_STORE = 256, OPT_MAP, OPT_CACHE_DIR, OPT_CACHE_SIZE, OPT_TO, OPT_LIST, OPT_JOBS,
       OPT_TIMEOUT, OPT_CA, OPT_AUTH };

static const struct option options[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "map", required_argument, NULL, OPT_MAP },
	{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
	{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
	{ "to", required_argument, NULL, OPT_TO },
	{ "list", required_argument, NULL, OPT_LIST },
	{ "jobs", required_argument, NULL, OPT_JOBS },
	{ "fetch-timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "auth-file", required_argument, NULL, OPT_AUTH },
	{ NULL, 0, NULL, 0 },
};

static const char *area_name(int area)
{
	return area == BLZ_MAP_AREA_IMPORT ? "import" : area == BLZ_MAP_AREA_VIRTUAL ? "virtual" : "?";
}

/* One line per problem, on stderr (the report callback, serialised by the library). */
static void print_problem(void *ctx, const struct blz_storeops_problem *p)
{
	char hex[BLZ_SHA256_HEX_LEN + 1] = "", more[64] = "";
	if (p->kind == BLZ_STOREOPS_LOG) {
		fprintf(stderr, "blazy: %s\n", p->reason);
		return;
	}
	if (p->kind == BLZ_STOREOPS_NO_FILE) {
		blz_warn("'%s' is not a file of the seed", p->reason);
		return;
	}
	blz_hex(p->digest, BLZ_STORE_DIGEST_LEN, hex);
	if (p->more)
		snprintf(more, sizeof(more), ", and %llu more range%s", (unsigned long long)p->more,
			 p->more == 1 ? "" : "s");
	const char *what = p->kind == BLZ_STOREOPS_MISSING ? "missing"
			 : p->kind == BLZ_STOREOPS_BAD ? "bad"
			 : p->kind == BLZ_STOREOPS_UNREACHABLE ? "unreachable" : "not fetched";
	fprintf(stderr, "blazy: error: chunk %s %s%s%s%s (%s area, device %llu+%llu%s)\n", hex,
		what, p->store ? " in '" : "", p->store ? p->store : "", p->store ? "'" : "",
		area_name(p->area), (unsigned long long)p->off, (unsigned long long)p->len, more);
	if (p->kind != BLZ_STOREOPS_MISSING && p->reason && *p->reason)
		fprintf(stderr, "blazy:   cause: %s\n", p->reason);
}

static int run_verify(const struct blz_storeops_opts *o)
{
	struct blz_storeops_verify_result res;
	char err[512];
	int r = blz_storeops_verify(o, &res, err, sizeof(err));
	if (r < 0)
		return blz_die("%s", err);
	char size[32];
	uint64_t problems = res.missing + res.bad + res.unreachable;
	printf("%llu chunks (%s) of %llu map records checked in %llu store%s: %llu missing, %llu bad, "
	       "%llu unreachable\n",
	       (unsigned long long)res.chunks, blz_format_size(res.chunk_bytes, size, sizeof(size)),
	       (unsigned long long)res.records, (unsigned long long)res.stores,
	       res.stores == 1 ? "" : "s", (unsigned long long)res.missing,
	       (unsigned long long)res.bad, (unsigned long long)res.unreachable);
	return problems ? 1 : 0;
}

static int run_prefetch(const struct blz_storeops_opts *o, const char *list)
{
	struct blz_storeops_prefetch_result res;
	char err[512];
	int r = blz_storeops_prefetch(o, list, &res, err, sizeof(err));
	if (r < 0)
		return blz_die("%s", err);
	char size[32];
	printf("%llu files (%llu not in the seed): %llu chunks (%s) in the lazy areas: %llu cached "
	       "already, %llu fetched, %llu failed\n",
	       (unsigned long long)res.files, (unsigned long long)res.missing_files,
	       (unsigned long long)res.chunks, blz_format_size(res.chunk_bytes, size, sizeof(size)),
	       (unsigned long long)res.cached, (unsigned long long)res.fetched,
	       (unsigned long long)res.failed);
	return res.failed ? 1 : 0;
}

static int run_gc(const struct blz_storeops_opts *o, uint64_t target)
{
	struct blz_storeops_gc_result res;
	char err[512], a[32], b[32];
	int r = blz_storeops_gc(o, target, &res, err, sizeof(err));
	if (r < 0)
		return blz_die("%s", err);
	printf("%s: removed %llu chunks (%s); %llu chunks (%s) remain\n", res.cache_dir,
	       (unsigned long long)res.removed, blz_format_size(res.removed_bytes, a, sizeof(a)),
	       (unsigned long long)res.entries, blz_format_size(res.bytes, b, sizeof(b)));
	return 0;
}

int cmd_store(const struct blz_cmd *cmd, int argc, char **argv)
{
	const char *stores[BLZ_FETCH_MAX_STORES];
	struct blz_storeops_opts o = { .stores = stores, .report = print_problem };
	const char *list = NULL;
	uint64_t cache_size = 0, to = 0, v;
	bool have_size = false, have_to = false;
	int c;

	if (argc < 2)
		return blz_misuse(cmd, "a subcommand is needed: verify, prefetch or gc");
	const char *sub = argv[1];
	if (strcmp(sub, "verify") && strcmp(sub, "prefetch") && strcmp(sub, "gc"))
		return blz_misuse(cmd, "unknown subcommand '%s'", sub);
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_STORE:
			if (o.n_stores == BLZ_FETCH_MAX_STORES)
				return blz_misuse(cmd, "at most %d --store", BLZ_FETCH_MAX_STORES);
			stores[o.n_stores++] = optarg;
			break;
		case OPT_MAP:
			o.map_path = optarg;
			break;
		case OPT_CACHE_DIR:
			o.cache_dir = optarg;
			break;
		case OPT_CACHE_SIZE:
		case OPT_TO:
			if (blz_parse_size(optarg, &v) < 0)
				return blz_misuse(cmd, "bad size '%s'", optarg);
			if (c == OPT_TO)
				to = v, have_to = true;
			else
				cache_size = v, have_size = true;
			break;
		case OPT_LIST:
			list = optarg;
			break;
		case OPT_JOBS:
			if (blz_parse_size(optarg, &v) < 0 || v < 1 || v > 64)
				return blz_misuse(cmd, "--jobs needs a number from 1 to 64");
			o.jobs = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			if (blz_parse_size(optarg, &v) < 0 || v < 1 || v > 3600)
				return blz_misuse(cmd, "--fetch-timeout needs seconds from 1 to 3600");
			o.timeout_ms = (uint32_t)(v * 1000);
			break;
		case OPT_CA:
			o.ca_file = optarg;
			break;
		case OPT_AUTH:
			o.auth_file = optarg;
			break;
		default:
			return blz_misuse(cmd, "bad option");
		}
	}
	int nargs = argc - optind;
	bool is_gc = !strcmp(sub, "gc");
	if (nargs > 1 || (!is_gc && nargs != 1))
		return blz_misuse(cmd, nargs ? "too many arguments" : "%s needs a SEED", sub);
	o.seed = nargs ? argv[optind] : NULL;

	if (!strcmp(sub, "verify")) {
		if (list || o.cache_dir || have_size || have_to)
			return blz_misuse(cmd, "verify takes --store, --map, --jobs, --fetch-timeout, "
					  "--ca and --auth-file");
		return run_verify(&o);
	}
	if (!strcmp(sub, "prefetch")) {
		if (!list)
			return blz_misuse(cmd, "prefetch needs --list FILE");
		if (have_to)
			return blz_misuse(cmd, "--to is for gc");
		o.cache_size = cache_size;
		return run_prefetch(&o, list);
	}
	if (list || o.n_stores || o.map_path)
		return blz_misuse(cmd, "gc takes [SEED], --cache-dir and --cache-size or --to");
	if (have_to && have_size)
		return blz_misuse(cmd, "--cache-size and --to say the same: give one");
	if (!o.seed && !o.cache_dir)
		return blz_misuse(cmd, "gc needs a SEED or --cache-dir");
	return run_gc(&o, have_to ? to : have_size ? cache_size : BLZ_DISKCACHE_DEFAULT_SIZE);
}
