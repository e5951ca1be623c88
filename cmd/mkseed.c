/* blazy mkseed: write a btrfs seed image from a directory, tars and an OCI image: the options,
 * the progress line and the summary; the pipeline is blz_mkseed() (lib/mkseed/mkseed.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "btrfs/format.h"
#include "cmd.h"
#include "mkseed/mkseed.h"
#include "util/size.h"
#include "util/strbuf.h"

#define DEFAULT_VIRTUAL_SIZE "1P"
#define MAX_VIRTUAL_SIZE (4ull << 60)

enum { OPT_ROOTDIR = 256, OPT_TAR, OPT_VSIZE, OPT_LABEL, OPT_UUID, OPT_TS, OPT_JSON, OPT_VCHUNK,
       OPT_LAZY, OPT_STORE, OPT_MAP, OPT_LOCAL, OPT_LOCAL_LIST, OPT_INLINE_MAX, OPT_OCI,
       OPT_PLATFORM };

static void on_signal(int sig)
{
	blz_mkseed_signal_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

struct progress {
	bool tty;
	struct timespec start, last;
};

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void show_progress(void *ctx, uint64_t files, uint64_t bytes)
{
	struct progress *p = ctx;
	if (!p->tty)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (since(&p->last, &now) < 0.2)
		return;
	p->last = now;
	double secs = since(&p->start, &now);
	char b[32], rate[32];
	blz_format_size(secs > 0 ? (uint64_t)((double)bytes / secs) : 0, rate, sizeof(rate));
	fprintf(stderr, "\rmkseed: %llu files, %s of data, %s/s, %.0f s\033[K",
		(unsigned long long)files, blz_format_size(bytes, b, sizeof(b)), rate, secs);
}

static int parse_timestamp(const char *s, struct timespec *ts)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -EINVAL;
	ts->tv_sec = v;
	ts->tv_nsec = 0;
	return 0;
}

/* What the options say, beyond the pipeline's own options. */
struct args {
	struct blz_mkseed_opts o;
	struct blz_mkseed_source sources[64]; /* --tar and --oci in order */
	const char *vsize_text, *ts_text, *oci, *platform;
	bool quiet, json;
	const char *local_globs[256], *local_lists[64];
};

/* One option; returns 0, or the misuse exit status with the message printed. */
static int parse_one(const struct blz_cmd *cmd, struct args *a, int c, const char *arg)
{
	struct blz_seed_opts *so = &a->o.seed;
	uint64_t v;
	switch (c) {
	case OPT_ROOTDIR:
		if (a->o.rootdir)
			return blz_misuse(cmd, "--rootdir given twice");
		a->o.rootdir = arg;
		return 0;
	case OPT_OCI:
		if (a->oci)
			return blz_misuse(cmd, "--oci given twice (one image at a time)");
		a->oci = arg;
		/* fall through */
	case OPT_TAR:
		if (a->o.nsources == 64)
			return blz_misuse(cmd, "too many --tar options (at most 64)");
		a->sources[a->o.nsources++] = (struct blz_mkseed_source){
			c == OPT_OCI ? BLZ_MKSEED_OCI : BLZ_MKSEED_TAR, arg, NULL };
		return 0;
	case OPT_PLATFORM: a->platform = arg; return 0;
	case OPT_VSIZE: a->vsize_text = arg; return 0;
	case OPT_VCHUNK:
		if (blz_parse_size(arg, &so->virtual_chunk) < 0 || !so->virtual_chunk ||
		    so->virtual_chunk % 4096 || so->virtual_chunk > (1ull << 47))
			return blz_misuse(cmd, "invalid --virtual-chunk '%s'", arg);
		return 0;
	case OPT_LABEL:
		so->label = arg;
		return strlen(arg) > 255 ? blz_misuse(cmd, "the label is longer than 255 bytes") : 0;
	case OPT_UUID:
		so->fsid_set = true;
		return uuid_parse(arg, so->fsid) < 0 ? blz_misuse(cmd, "invalid UUID '%s'", arg) : 0;
	case OPT_TS: a->ts_text = arg; return 0;
	case 'f': a->o.force = true; return 0;
	case 'q': a->quiet = true; return 0;
	case OPT_JSON: a->json = true; return 0;
	case OPT_LAZY: a->o.lazy = true; return 0;
	case OPT_STORE: a->o.store = arg; return 0;
	case OPT_MAP: a->o.map = arg; return 0;
	case OPT_LOCAL:
		if (!*arg)
			return blz_misuse(cmd, "--local wants a pattern");
		if (a->o.nlocal_globs == 256)
			return blz_misuse(cmd, "too many --local options (at most 256)");
		a->local_globs[a->o.nlocal_globs++] = arg;
		return 0;
	case OPT_INLINE_MAX:
		if (blz_parse_size(arg, &v) < 0 || v > BLZ_MAX_INLINE)
			return blz_misuse(cmd, "invalid --inline-max '%s' (0 to %u bytes)", arg,
					  BLZ_MAX_INLINE);
		so->inline_max = (uint32_t)v;
		so->inline_max_set = true;
		return 0;
	case OPT_LOCAL_LIST:
		if (a->o.nlocal_lists == 64)
			return blz_misuse(cmd, "too many --local-list options (at most 64)");
		a->local_lists[a->o.nlocal_lists++] = arg;
		return 0;
	}
	return -1;
}

static int parse(const struct blz_cmd *cmd, struct args *a, int argc, char **argv)
{
#define REQ(name, val) { name, required_argument, NULL, val }
	static const struct option opts[] = {
		REQ("rootdir", OPT_ROOTDIR), REQ("tar", OPT_TAR), REQ("oci", OPT_OCI),
		REQ("platform", OPT_PLATFORM), REQ("virtual-size", OPT_VSIZE),
		REQ("virtual-chunk", OPT_VCHUNK) /* for tests */, REQ("label", OPT_LABEL),
		REQ("uuid", OPT_UUID), REQ("timestamp", OPT_TS), REQ("store", OPT_STORE),
		REQ("map", OPT_MAP), REQ("local", OPT_LOCAL), REQ("local-list", OPT_LOCAL_LIST),
		REQ("inline-max", OPT_INLINE_MAX), { "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' }, { "json", no_argument, NULL, OPT_JSON },
		{ "lazy", no_argument, NULL, OPT_LAZY }, { NULL, 0, NULL, 0 },
	};
#undef REQ
	int c, r;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fq", opts, NULL)) != -1) {
		r = parse_one(cmd, a, c, optarg);
		if (r < 0)
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		if (r)
			return r;
	}
	if ((r = blz_check_args(cmd, argc - optind)))
		return r;
	a->o.output = argv[optind];
	if (!a->o.rootdir && !a->o.nsources)
		return blz_misuse(cmd, "nothing to put in the seed: give --rootdir, --tar or --oci");
	if (a->platform && !a->oci)
		return blz_misuse(cmd, "--platform goes with --oci");
	int stdin_tars = 0;
	for (size_t i = 0; i < a->o.nsources; i++) {
		stdin_tars += a->sources[i].kind == BLZ_MKSEED_TAR && !strcmp(a->sources[i].path, "-");
		if (a->sources[i].kind == BLZ_MKSEED_OCI)
			a->sources[i].platform = a->platform;
	}
	if (stdin_tars > 1)
		return blz_misuse(cmd, "standard input can be read only once");
	struct blz_seed_opts *so = &a->o.seed;
	if (blz_parse_size(a->vsize_text, &so->virtual_size) < 0)
		return blz_misuse(cmd, "invalid size '%s' (use e.g. 1T, 1P, 4E)", a->vsize_text);
	if (so->virtual_size % 4096)
		return blz_misuse(cmd, "the virtual size must be a multiple of 4 KiB");
	if (so->virtual_size > MAX_VIRTUAL_SIZE)
		return blz_misuse(cmd, "the virtual size is larger than 4E");
	if (!a->ts_text)
		clock_gettime(CLOCK_REALTIME, &so->timestamp);
	else if (parse_timestamp(a->ts_text, &so->timestamp) < 0)
		return blz_misuse(cmd, "invalid timestamp '%s' (seconds since 1970)", a->ts_text);
	if (!a->o.lazy && (a->o.store || a->o.map || a->o.nlocal_lists || a->o.nlocal_globs))
		return blz_misuse(cmd, "--store, --map, --local and --local-list go with --lazy");
	return 0;
}

static int run(struct args *a)
{
	struct blz_seed_opts *so = &a->o.seed;
	struct progress prog = { .tty = !a->quiet && isatty(2) };
	clock_gettime(CLOCK_MONOTONIC, &prog.start);
	so->progress = show_progress;
	so->progress_ctx = &prog;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	struct blz_mkseed_result res;
	char err[4096];
	struct timespec t1;
	int r = blz_mkseed(&a->o, &res, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (prog.tty)
		fputs("\r\033[K", stderr);
	if (r < 0)
		return blz_die("%s", err);
	if (a->o.lazy && res.store_usage_failed)
		blz_warn("cannot measure the store '%s'", res.store_path);
	if (a->json || !a->quiet) {
		struct blz_buf out = { 0 };
		(a->json ? blz_mkseed_summary_json : blz_mkseed_summary_text)(&a->o, &res,
			since(&prog.start, &t1), &out);
		fwrite(out.data, 1, out.len, stdout);
		blz_buf_release(&out);
	}
	return 0;
}

int cmd_mkseed(const struct blz_cmd *cmd, int argc, char **argv)
{
	struct args a = { .vsize_text = DEFAULT_VIRTUAL_SIZE, .ts_text = getenv("SOURCE_DATE_EPOCH") };
	a.o.sources = a.sources;
	a.o.local_globs = a.local_globs;
	a.o.local_lists = a.local_lists;
	int r = parse(cmd, &a, argc, argv);
	return r ? r : run(&a);
}
