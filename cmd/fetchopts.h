/* --store and the fetch engine's options, shared by serve and mount. */
#ifndef BLZ_CMD_FETCHOPTS_H
#define BLZ_CMD_FETCHOPTS_H

#include <getopt.h>
#include <stdbool.h>

#include "cmd.h"
#include "fetch/fetch.h"

/*
 * --store SPEC (repeatable) and the fetch engine's options (fetch/fetch.h), for serve and
 * mount: add BLZ_FETCH_LONGOPTS to a getopt_long table and pass each option to
 * blz_cmd_fetch_option (-1: not one of them; 0 taken; 2 misuse, reported), then call
 * blz_cmd_fetch_finish. One local --store and nothing else keeps the plain store path
 * (store_dir set, blz_cmd_fetch_opts NULL); anything more uses the engine. Paths are made
 * absolute. Initialise with { 0 } and .o.retries = ~0u.
 */
enum {
	BLZ_FETCH_OPT_STORE = 0x200, BLZ_FETCH_OPT_CACHE_DIR, BLZ_FETCH_OPT_CACHE_SIZE,
	BLZ_FETCH_OPT_TIMEOUT, BLZ_FETCH_OPT_RETRIES, BLZ_FETCH_OPT_INJECT, BLZ_FETCH_OPT_CA,
	BLZ_FETCH_OPT_AUTH, BLZ_FETCH_OPT_PREFETCH, BLZ_FETCH_OPT_RATE, BLZ_FETCH_OPT_AHEAD,
};
#define BLZ_FETCH_LONGOPTS \
	{ "store", required_argument, NULL, BLZ_FETCH_OPT_STORE }, \
	{ "cache-dir", required_argument, NULL, BLZ_FETCH_OPT_CACHE_DIR }, \
	{ "cache-size", required_argument, NULL, BLZ_FETCH_OPT_CACHE_SIZE }, \
	{ "fetch-timeout", required_argument, NULL, BLZ_FETCH_OPT_TIMEOUT }, \
	{ "fetch-retries", required_argument, NULL, BLZ_FETCH_OPT_RETRIES }, \
	{ "inject", required_argument, NULL, BLZ_FETCH_OPT_INJECT }, \
	{ "ca", required_argument, NULL, BLZ_FETCH_OPT_CA }, \
	{ "auth-file", required_argument, NULL, BLZ_FETCH_OPT_AUTH }, \
	{ "prefetch", required_argument, NULL, BLZ_FETCH_OPT_PREFETCH }, \
	{ "prefetch-rate", required_argument, NULL, BLZ_FETCH_OPT_RATE }, \
	{ "fetch-ahead", required_argument, NULL, BLZ_FETCH_OPT_AHEAD }
struct blz_cmd_fetch {
	struct blz_fetch_opts o;
	const char *stores[BLZ_FETCH_MAX_STORES];
	size_t n_stores;
	const char *store_dir; /* the one --store DIR of the plain path, else NULL */
	const char *prefetch;
	bool engine;
	bool ahead_set; /* --fetch-ahead given, else BLZ_FETCH_AHEAD_DEFAULT */
	char *owned[BLZ_FETCH_MAX_STORES + 8];
	size_t n_owned;
};
int blz_cmd_fetch_option(const struct blz_cmd *cmd, struct blz_cmd_fetch *f, int opt,
			 const char *arg);
int blz_cmd_fetch_finish(const struct blz_cmd *cmd, struct blz_cmd_fetch *f);
const struct blz_fetch_opts *blz_cmd_fetch_opts(const struct blz_cmd_fetch *f);
void blz_cmd_fetch_release(struct blz_cmd_fetch *f);

#endif
