/* blazy store verify|prefetch|gc: whole-seed operations on stores and the persistent cache
 * (lib/storeops/storeops.h). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "fetchopts.h"
#include "fetch/fetch.h"
#include "map/map.h"
#include "storeops/storeops.h"
#include "store/diskcache.h"
#include "util/sha256.h"
#include "util/size.h"

enum { OPT_MAP = 256, OPT_TO, OPT_LIST, OPT_JOBS };

static const struct option options[] = {
	BLZ_FETCH_LONGOPTS,
	{ "map", required_argument, NULL, OPT_MAP },
	{ "to", required_argument, NULL, OPT_TO },
	{ "list", required_argument, NULL, OPT_LIST },
	{ "jobs", required_argument, NULL, OPT_JOBS },
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

/* Parses the options; 0, or 2 after a misuse message. */
static int parse(const struct blz_cmd *cmd, int argc, char **argv, struct blz_cmd_fetch *fo,
		 struct blz_storeops_opts *o, const char **list, uint64_t *to, bool *have_to)
{
	uint64_t v;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		int r = blz_cmd_fetch_option(cmd, fo, c, optarg);
		if (r >= 0) {
			if (r)
				return r;
			continue;
		}
		switch (c) {
		case OPT_MAP:
			o->map_path = optarg;
			break;
		case OPT_TO:
			if (blz_parse_size(optarg, to) < 0)
				return blz_misuse(cmd, "invalid --to '%s'", optarg);
			*have_to = true;
			break;
		case OPT_LIST:
			*list = optarg;
			break;
		case OPT_JOBS:
			if (blz_parse_size(optarg, &v) < 0 || v < 1 || v > 64 ||
			    strpbrk(optarg, "kKmMgGtTpPeEbB"))
				return blz_misuse(cmd, "invalid --jobs '%s' (1 to 64)", optarg);
			o->jobs = (unsigned)v;
			break;
		default:
			return blz_misuse(cmd, "unknown option");
		}
	}
	if (fo->o.inject || fo->prefetch || fo->o.prefetch_rate || fo->ahead_set)
		return blz_misuse(cmd, "--inject, --prefetch, --prefetch-rate and --fetch-ahead are serve's");
	o->stores = fo->stores;
	o->n_stores = fo->n_stores;
	o->cache_dir = fo->o.cache_dir;
	o->cache_size = fo->o.cache_size;
	o->timeout_ms = fo->o.timeout_ms;
	o->retries = fo->o.retries;
	o->ca_file = fo->o.ca_file;
	o->auth_file = fo->o.auth_file;
	return 0;
}

int cmd_store(const struct blz_cmd *cmd, int argc, char **argv)
{
	struct blz_cmd_fetch fo = { .o.retries = ~0u };
	struct blz_storeops_opts o = { .report = print_problem };
	const char *list = NULL;
	uint64_t to = 0;
	bool have_to = false;

	if (argc < 2)
		return blz_misuse(cmd, "a subcommand is needed: verify, prefetch or gc");
	const char *sub = argv[1];
	if (strcmp(sub, "verify") && strcmp(sub, "prefetch") && strcmp(sub, "gc"))
		return blz_misuse(cmd, "unknown subcommand '%s'", sub);
	int r = parse(cmd, argc - 1, argv + 1, &fo, &o, &list, &to, &have_to);
	int nargs = argc - 1 - optind;
	bool is_gc = !strcmp(sub, "gc");
	if (r == 0 && (nargs > 1 || (!is_gc && nargs != 1)))
		r = blz_misuse(cmd, nargs ? "too many arguments" : "%s needs a SEED", sub);
	if (r == 0)
		o.seed = nargs ? argv[1 + optind] : NULL;

	if (r == 0 && !strcmp(sub, "verify")) {
		if (list || o.cache_dir || o.cache_size || have_to)
			r = blz_misuse(cmd, "verify takes --store, --map, --jobs, --fetch-timeout, "
					    "--fetch-retries, --ca and --auth-file");
		else
			r = run_verify(&o);
	} else if (r == 0 && !strcmp(sub, "prefetch")) {
		if (!list)
			r = blz_misuse(cmd, "prefetch needs --list FILE");
		else if (have_to)
			r = blz_misuse(cmd, "--to is for gc");
		else
			r = run_prefetch(&o, list);
	} else if (r == 0) {
		if (list || o.n_stores || o.map_path)
			r = blz_misuse(cmd, "gc takes [SEED], --cache-dir and --cache-size or --to");
		else if (have_to && o.cache_size)
			r = blz_misuse(cmd, "--cache-size and --to say the same: give one");
		else if (!o.seed && !o.cache_dir)
			r = blz_misuse(cmd, "gc needs a SEED or --cache-dir");
		else
			r = run_gc(&o, have_to ? to : o.cache_size ? o.cache_size
								   : BLZ_DISKCACHE_DEFAULT_SIZE);
	}
	blz_cmd_fetch_release(&fo);
	return r;
}
