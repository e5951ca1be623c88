/* --store and the options of the fetch engine, shared by serve and mount (cmd.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fetchopts.h"
#include "util/size.h"
#include "util/strbuf.h"

/* path made absolute (the server daemon works in "/"); kept in f for its life. */
static const char *absolute(struct blz_cmd_fetch *f, const char *path)
{
	char buf[PATH_MAX];
	if (path[0] == '/' || f->n_owned == sizeof(f->owned) / sizeof(f->owned[0]) ||
	    !blz_abs_path(path, buf, sizeof(buf)))
		return path;
	return f->owned[f->n_owned++] = blz_xstrdup(buf);
}

static bool is_remote(const char *spec)
{
	return !strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8) ||
	       !strncmp(spec, "exec:", 5);
}

int blz_cmd_fetch_option(const struct blz_cmd *cmd, struct blz_cmd_fetch *f, int opt,
			 const char *arg)
{
	struct blz_fetch_opts *o = &f->o;
	uint64_t v;
	uint32_t ms;
	switch (opt) {
	case BLZ_FETCH_OPT_STORE:
		if (f->n_stores == BLZ_FETCH_MAX_STORES - 1)
			return blz_misuse(cmd, "at most %d --store", BLZ_FETCH_MAX_STORES - 1);
		f->stores[f->n_stores++] = is_remote(arg) ? arg : absolute(f, arg);
		return 0;
	case BLZ_FETCH_OPT_CACHE_DIR:
		o->cache_dir = absolute(f, arg);
		break;
	case BLZ_FETCH_OPT_CACHE_SIZE:
		if (blz_parse_size(arg, &v) < 0 || v < (1u << 20))
			return blz_misuse(cmd, "invalid --cache-size '%s' (at least 1M)", arg);
		o->cache_size = v;
		break;
	case BLZ_FETCH_OPT_TIMEOUT:
		if (blz_parse_duration_ms(arg, &ms) < 0 || ms < 10)
			return blz_misuse(cmd, "invalid --fetch-timeout '%s' (e.g. 30s, 500ms)", arg);
		o->timeout_ms = ms;
		break;
	case BLZ_FETCH_OPT_RETRIES:
		if (blz_parse_size(arg, &v) < 0 || v > 100 || strpbrk(arg, "kKmMgGtTpPeEbB"))
			return blz_misuse(cmd, "invalid --fetch-retries '%s' (0 to 100)", arg);
		o->retries = (unsigned)v;
		break;
	case BLZ_FETCH_OPT_INJECT: {
		struct blz_fetch_inject inj;
		char why[256];
		if (blz_fetch_inject_parse(arg, &inj, why, sizeof(why)) < 0)
			return blz_misuse(cmd, "invalid --inject '%s': %s", arg, why);
		o->inject = arg;
		break;
	}
	case BLZ_FETCH_OPT_CA:
		o->ca_file = absolute(f, arg);
		break;
	case BLZ_FETCH_OPT_AUTH:
		o->auth_file = absolute(f, arg);
		break;
	case BLZ_FETCH_OPT_PREFETCH:
		f->prefetch = absolute(f, arg);
		break;
	case BLZ_FETCH_OPT_RATE: {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", arg);
		char *slash = strstr(buf, "/s");
		if (slash && slash[2] == '\0')
			*slash = '\0';
		if (blz_parse_size(buf, &v) < 0 || v < 1024)
			return blz_misuse(cmd, "invalid --prefetch-rate '%s' (bytes/s, e.g. 4M)", arg);
		o->prefetch_rate = v;
		break;
	}
	case BLZ_FETCH_OPT_AHEAD:
		if (blz_parse_size(arg, &v) < 0 || v > BLZ_FETCH_AHEAD_MAX || strpbrk(arg, "kKmMgGtTpPeEbB"))
			return blz_misuse(cmd, "invalid --fetch-ahead '%s' (0 to %d)", arg,
					  BLZ_FETCH_AHEAD_MAX);
		o->ahead = (unsigned)v;
		f->ahead_set = true;
		return 0; /* tunes the engine when there is one; asks for none */
	default:
		return -1;
	}
	f->engine = true;
	return 0;
}

int blz_cmd_fetch_finish(const struct blz_cmd *cmd, struct blz_cmd_fetch *f)
{
	f->o.stores = f->stores;
	f->o.n_stores = f->n_stores;
	if (!f->ahead_set)
		f->o.ahead = BLZ_FETCH_AHEAD_DEFAULT;
	for (size_t i = 0; i < f->n_stores; i++)
		if (is_remote(f->stores[i]))
			f->engine = true;
	if (f->n_stores > 1)
		f->engine = true;
	if (f->engine && f->n_stores == 0)
		return blz_misuse(cmd, "the fetch options need --store");
	/* The plain path: the one directory is the seed set's store (created if missing, as
	 * ever). With the engine, directories given are sources (never created). */
	if (!f->engine && f->n_stores == 1)
		f->store_dir = f->stores[0];
	return 0;
}

const struct blz_fetch_opts *blz_cmd_fetch_opts(const struct blz_cmd_fetch *f)
{
	return f->engine ? &f->o : NULL;
}

void blz_cmd_fetch_release(struct blz_cmd_fetch *f)
{
	for (size_t i = 0; i < f->n_owned; i++)
		free(f->owned[i]);
	f->n_owned = 0;
}
