/* blazy mkseed: write a btrfs seed image (lib/btrfs/writer.h) from a directory, tars and an
 * OCI image. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "btrfs/format.h"
#include "btrfs/writer.h"
#include "cmd.h"
#include "ingest/ingest.h"
#include "ingest/pathset.h"
#include "lazy/importer.h"
#include "oci/oci.h"
#include "util/size.h"

#define DEFAULT_VIRTUAL_SIZE "1P"
#define MAX_VIRTUAL_SIZE (4ull << 60)
#define LAZY_INLINE_MAX 512

static char tmp_path[4096];

static void on_signal(int sig)
{
	if (tmp_path[0])
		unlink(tmp_path);
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

/* A store directory this run created, empty after a failure (its chunk directories only). */
static void remove_empty_store(const char *dir)
{
	char sub[4200];
	for (unsigned b = 0; b < 256; b++) {
		snprintf(sub, sizeof(sub), "%s/%02x", dir, b);
		rmdir(sub);
	}
	rmdir(dir);
}

static bool keep_local(void *ctx, const char *path)
{
	return blz_pathset_match(ctx, path);
}

/*
 * Applies the image's layers in order, each verified against its digest and diff_id.
 * Returns 0, or 1 with the message printed.
 */
static int ingest_oci(struct blz_seed *s, struct blz_oci_image *img, const struct progress *p)
{
	char err[2048];

	for (size_t i = 0; i < blz_oci_layer_count(img); i++) {
		struct blz_oci_layer *l;
		int r = blz_oci_layer_open(img, i, &l, err, sizeof(err));
		if (r < 0)
			return blz_die("%s", err);
		struct blz_tar_layer tl = {
			.fd = blz_oci_layer_fd(l),
			.name = blz_oci_layer_name(l),
			.obs = { blz_oci_observe_raw, blz_oci_observe_decoded, l },
		};
		r = blz_ingest_tar_layer(s, &tl);
		/* a blob that is not what its digest says explains any error reading it */
		int v = blz_oci_layer_verify(l, r == 0, err, sizeof(err));
		blz_oci_layer_close(l);
		if ((v < 0 || r < 0) && p->tty)
			fputs("\r\033[K", stderr);
		if (v < 0)
			return blz_die("%s", err);
		if (r < 0)
			return blz_die("%s", blz_seed_error(s));
	}
	return 0;
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

int cmd_mkseed(const struct blz_cmd *cmd, int argc, char **argv)
{
	enum { OPT_ROOTDIR = 256, OPT_TAR, OPT_VSIZE, OPT_LABEL, OPT_UUID, OPT_TS, OPT_JSON,
	       OPT_VCHUNK, OPT_LAZY, OPT_STORE, OPT_MAP, OPT_LOCAL, OPT_LOCAL_LIST, OPT_INLINE_MAX,
	       OPT_OCI, OPT_PLATFORM };
	static const struct option opts[] = {
		{ "rootdir", required_argument, NULL, OPT_ROOTDIR },
		{ "tar", required_argument, NULL, OPT_TAR },
		{ "oci", required_argument, NULL, OPT_OCI },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "virtual-size", required_argument, NULL, OPT_VSIZE },
		{ "virtual-chunk", required_argument, NULL, OPT_VCHUNK }, /* for tests */
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "uuid", required_argument, NULL, OPT_UUID },
		{ "timestamp", required_argument, NULL, OPT_TS },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "lazy", no_argument, NULL, OPT_LAZY },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "map", required_argument, NULL, OPT_MAP },
		{ "local", required_argument, NULL, OPT_LOCAL },
		{ "local-list", required_argument, NULL, OPT_LOCAL_LIST },
		{ "inline-max", required_argument, NULL, OPT_INLINE_MAX },
		{ NULL, 0, NULL, 0 },
	};
	const char *rootdir = NULL, *vsize_text = DEFAULT_VIRTUAL_SIZE;
	const char *tars[64]; /* in order; NULL stands for the --oci image */
	int ntars = 0;
	const char *oci = NULL, *platform = NULL;
	struct blz_oci_image *img = NULL;
	bool force = false, quiet = false, json = false, lazy = false, store_is_new = false;
	const char *store_opt = NULL, *map_opt = NULL;
	const char *local_lists[64];
	int nlocal_lists = 0;
	/* Released on every return (the usage and error exits too). */
	struct blz_pathset local __attribute__((cleanup(blz_pathset_release)));
	blz_pathset_init(&local);
	struct blz_seed_opts so = { 0 };
	const char *ts_text = getenv("SOURCE_DATE_EPOCH");
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+fq", opts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOTDIR:
			if (rootdir)
				return blz_misuse(cmd, "--rootdir given twice");
			rootdir = optarg;
			break;
		case OPT_TAR:
			if (ntars == 64)
				return blz_misuse(cmd, "too many --tar options (at most 64)");
			tars[ntars++] = optarg;
			break;
		case OPT_OCI:
			if (oci)
				return blz_misuse(cmd, "--oci given twice (one image at a time)");
			if (ntars == 64)
				return blz_misuse(cmd, "too many --tar options (at most 64)");
			oci = optarg;
			tars[ntars++] = NULL;
			break;
		case OPT_PLATFORM:
			platform = optarg;
			break;
		case OPT_VSIZE:
			vsize_text = optarg;
			break;
		case OPT_VCHUNK: {
			int r = blz_parse_size(optarg, &so.virtual_chunk);
			if (r < 0 || !so.virtual_chunk || so.virtual_chunk % 4096 ||
			    so.virtual_chunk > (1ull << 47))
				return blz_misuse(cmd, "invalid --virtual-chunk '%s'", optarg);
			break;
		}
		case OPT_LABEL:
			if (strlen(optarg) > 255)
				return blz_misuse(cmd, "the label is longer than 255 bytes");
			so.label = optarg;
			break;
		case OPT_UUID:
			if (uuid_parse(optarg, so.fsid) < 0)
				return blz_misuse(cmd, "invalid UUID '%s'", optarg);
			so.fsid_set = true;
			break;
		case OPT_TS:
			ts_text = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'q':
			quiet = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_LAZY:
			lazy = true;
			break;
		case OPT_STORE:
			store_opt = optarg;
			break;
		case OPT_MAP:
			map_opt = optarg;
			break;
		case OPT_LOCAL:
			if (!*optarg)
				return blz_misuse(cmd, "--local wants a pattern");
			blz_pathset_add_glob(&local, optarg);
			break;
		case OPT_INLINE_MAX: {
			uint64_t v;
			if (blz_parse_size(optarg, &v) < 0 || v > BLZ_MAX_INLINE)
				return blz_misuse(cmd, "invalid --inline-max '%s' (0 to %u bytes)", optarg,
						  BLZ_MAX_INLINE);
			so.inline_max = (uint32_t)v;
			so.inline_max_set = true;
			break;
		}
		case OPT_LOCAL_LIST:
			if (nlocal_lists == 64)
				return blz_misuse(cmd, "too many --local-list options (at most 64)");
			local_lists[nlocal_lists++] = optarg;
			break;
		default:
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	const char *output = argv[optind];
	if (!rootdir && !ntars)
		return blz_misuse(cmd, "nothing to put in the seed: give --rootdir, --tar or --oci");
	if (platform && !oci)
		return blz_misuse(cmd, "--platform goes with --oci");
	int stdin_tars = 0;
	for (int i = 0; i < ntars; i++)
		stdin_tars += tars[i] && strcmp(tars[i], "-") == 0;
	if (stdin_tars > 1)
		return blz_misuse(cmd, "standard input can be read only once");

	r = blz_parse_size(vsize_text, &so.virtual_size);
	if (r < 0)
		return blz_misuse(cmd, "invalid size '%s' (use e.g. 1T, 1P, 4E)", vsize_text);
	if (so.virtual_size % 4096)
		return blz_misuse(cmd, "the virtual size must be a multiple of 4 KiB");
	if (so.virtual_size > MAX_VIRTUAL_SIZE)
		return blz_misuse(cmd, "the virtual size is larger than 4E");
	if (ts_text) {
		if (parse_timestamp(ts_text, &so.timestamp) < 0)
			return blz_misuse(cmd, "invalid timestamp '%s' (seconds since 1970)", ts_text);
	} else {
		clock_gettime(CLOCK_REALTIME, &so.timestamp);
	}

	if (!lazy && (store_opt || map_opt || nlocal_lists || !blz_pathset_empty(&local)))
		return blz_misuse(cmd, "--store, --map, --local and --local-list go with --lazy");
	for (int i = 0; i < nlocal_lists; i++) {
		size_t bad = 0;
		int n = blz_pathset_read_list(&local, local_lists[i], &bad);
		if (n == -EINVAL)
			return blz_die("%s: line %zu is not a path (a NUL byte, or over 4095 bytes)",
				       local_lists[i], bad);
		if (n < 0)
			return blz_die("cannot read the list '%s': %s", local_lists[i], strerror(-n));
	}
	/* Lazy seeds keep metadata only: a file goes inline when its bytes cost no more than
	 * referencing them lazily would (extent items, checksums, a map record, ~250 bytes). */
	if (lazy && !so.inline_max_set) {
		so.inline_max = LAZY_INLINE_MAX;
		so.inline_max_set = true;
	}
	blz_pathset_seal(&local);
	so.keep_local = keep_local;
	so.keep_local_ctx = &local;
	char map_path[4096], map_tmp[4200], store_path[4096];
	snprintf(map_path, sizeof(map_path), "%s%s", map_opt ? map_opt : output, map_opt ? "" : ".map");
	snprintf(store_path, sizeof(store_path), "%s%s", store_opt ? store_opt : output,
		 store_opt ? "" : ".store");
	snprintf(map_tmp, sizeof(map_tmp), "%s.tmp-%d", map_path, (int)getpid());

	struct stat st;
	if (!force && lstat(output, &st) == 0)
		return blz_die("'%s' exists (use --force to replace it)", output);
	if (lazy && !force && lstat(map_path, &st) == 0)
		return blz_die("'%s' exists (use --force to replace it)", map_path);
	if (lstat(output, &st) == 0 && !S_ISREG(st.st_mode))
		return blz_die("'%s' is not a regular file", output);
	if (oci) {
		/* the image's index, manifest and config are read and checked before any output */
		char err[2048];
		r = blz_oci_open(&img, oci, platform, err, sizeof(err));
		if (r < 0)
			return blz_die("%s", err);
	}

	/* Write to a temporary name beside OUTPUT; rename only when complete. */
	const char *slash = strrchr(output, '/');
	int dirlen = slash ? (int)(slash - output + 1) : 0;
	snprintf(tmp_path, sizeof(tmp_path), "%.*s.%s.tmp-XXXXXX", dirlen, output,
		 slash ? slash + 1 : output);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	int fd = mkostemp(tmp_path, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		tmp_path[0] = 0;
		blz_oci_close(img);
		return blz_die("cannot create '%s': %s", output, strerror(e));
	}
	fchmod(fd, 0644);

	struct progress prog = { .tty = !quiet && isatty(2) };
	clock_gettime(CLOCK_MONOTONIC, &prog.start);
	so.progress = show_progress;
	so.progress_ctx = &prog;
	struct blz_seed *s = NULL;
	struct blz_seed_layout lay;
	struct blz_importer *im = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (lazy) {
		char err[512];
		store_is_new = lstat(store_path, &st) < 0 && errno == ENOENT;
		r = blz_importer_open(store_path, &im, err, sizeof(err));
		if (r < 0) {
			blz_die("%s", err);
			goto fail;
		}
		so.lazy_put = blz_importer_put;
		so.lazy_ctx = im;
	}
	r = blz_seed_new(&s, fd, &so);
	if (r < 0) {
		blz_die("cannot start the seed: %s", strerror(-r));
		goto fail;
	}
	if (rootdir) {
		r = blz_ingest_dir(s, rootdir);
		if (r < 0)
			goto fail_msg;
	}
	for (int i = 0; i < ntars; i++) {
		if (!tars[i]) {
			if (ingest_oci(s, img, &prog))
				goto fail;
			continue;
		}
		int tfd = strcmp(tars[i], "-") ? open(tars[i], O_RDONLY | O_CLOEXEC) : 0;
		if (tfd < 0) {
			blz_die("cannot open '%s': %s", tars[i], strerror(errno));
			goto fail;
		}
		char lname[4200];
		const char *src = strcmp(tars[i], "-") ? tars[i] : "standard input";
		if (ntars > 1)
			snprintf(lname, sizeof(lname), "layer %d/%d (%s)", i + 1, ntars, src);
		else
			snprintf(lname, sizeof(lname), "%s", src);
		r = blz_ingest_tar(s, tfd, lname);
		if (tfd > 0)
			close(tfd);
		if (r < 0)
			goto fail_msg;
	}
	if (rootdir) {
		r = blz_ingest_dir_data(s);
		if (r < 0)
			goto fail_msg;
	}
	r = blz_seed_finish(s, &lay);
	if (r < 0)
		goto fail_msg;
	if (im) {
		/* The map first: a map without its seed is harmless, a seed without its map is not. */
		char err[512];
		r = blz_importer_write_map(im, map_tmp, lay.fsid, lay.import_off, lay.import_size, err,
					   sizeof(err));
		if (r < 0) {
			blz_die("%s", err);
			goto fail;
		}
		if (rename(map_tmp, map_path) < 0) {
			blz_die("cannot rename the map to '%s': %s", map_path, strerror(errno));
			unlink(map_tmp);
			goto fail;
		}
	}
	if (rename(tmp_path, output) < 0) {
		blz_die("cannot rename the image to '%s': %s", output, strerror(errno));
		goto fail;
	}
	tmp_path[0] = 0;
	struct stat ist_st;
	uint64_t seed_disk = fstat(fd, &ist_st) == 0 ? (uint64_t)ist_st.st_blocks * 512 : 0;
	close(fd);
	blz_seed_free(s);
	blz_pathset_release(&local);
	blz_oci_close(img);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = since(&t0, &t1);
	struct blz_import_stats ist = { 0 };
	uint64_t store_chunks = 0, store_bytes = 0;
	if (im) {
		blz_importer_stats(im, &ist);
		if (blz_importer_store_usage(im, &store_chunks, &store_bytes) < 0)
			blz_warn("cannot measure the store '%s'", store_path);
		blz_importer_close(im);
	}
	if (prog.tty)
		fputs("\r\033[K", stderr);

	char fsid[37], b1[32], b2[32], b3[32], b4[32];
	blz_format_uuid(lay.fsid, fsid);
	if (json) {
		printf("{\"output\":");
		blz_json_str(stdout, output);
		printf(",\"fsid\":\"%s\",\"device_size\":%llu,\"local_end\":%llu,\"inodes\":%llu,"
		       "\"files\":%llu,\"data_bytes\":%llu,\"seed_disk_bytes\":%llu,"
		       "\"metadata_bytes\":%llu,\"local_data_bytes\":%llu,"
		       "\"virtual\":{\"offset\":%llu,\"size\":%llu,\"chunks\":%llu},"
		       "\"import\":{\"offset\":%llu,\"size\":%llu,\"chunks\":%llu,\"stored_bytes\":%llu,"
		       "\"dedup_bytes\":%llu,\"store_chunks\":%llu,\"store_disk_bytes\":%llu},"
		       "\"seconds\":%.3f}\n",
		       fsid, (unsigned long long)lay.device_size, (unsigned long long)lay.local_end,
		       (unsigned long long)lay.inodes, (unsigned long long)lay.files_written,
		       (unsigned long long)lay.data_bytes, (unsigned long long)seed_disk,
		       (unsigned long long)lay.metadata_bytes,
		       (unsigned long long)lay.local_data_bytes, (unsigned long long)lay.virtual_off,
		       (unsigned long long)lay.virtual_size, (unsigned long long)lay.virtual_chunks,
		       (unsigned long long)lay.import_off, (unsigned long long)lay.import_size,
		       (unsigned long long)lay.import_chunks,
		       (unsigned long long)(ist.bytes - ist.dedup_bytes),
		       (unsigned long long)ist.dedup_bytes, (unsigned long long)store_chunks,
		       (unsigned long long)store_bytes, secs);
	} else if (!quiet) {
		printf("wrote %s: %llu inodes, %llu files with %s of data, %s of metadata; fsid %s\n",
		       output, (unsigned long long)lay.inodes, (unsigned long long)lay.files_written,
		       blz_format_size(lay.data_bytes, b1, 32), blz_format_size(lay.metadata_bytes, b2, 32),
		       fsid);
		char pct[48] = "";
		if (lay.data_bytes >= (1u << 20)) /* a share of tiny data says nothing */
			snprintf(pct, sizeof(pct), " (%.2f%% of the data)",
				 100.0 * (double)seed_disk / (double)lay.data_bytes);
		printf("seed image: %s on disk%s, %s of file data in it\n",
		       blz_format_size(seed_disk, b1, 32), pct,
		       blz_format_size(lay.local_data_bytes, b2, 32));
		if (im)
			printf("lazy data: %s stored, %s deduplicated, in %llu runs; store %s now holds "
			       "%llu chunks, %s on disk; map %s (import area %s at offset %llu)\n",
			       blz_format_size(ist.bytes - ist.dedup_bytes, b1, 32),
			       blz_format_size(ist.dedup_bytes, b2, 32), (unsigned long long)ist.chunks,
			       store_path, (unsigned long long)store_chunks,
			       blz_format_size(store_bytes, b3, 32), map_path,
			       blz_format_size(lay.import_size, b4, 32), (unsigned long long)lay.import_off);
		if (lay.virtual_size)
			printf("virtual area: %s at offset %llu in %llu chunk(s); device size %s\n",
			       blz_format_size(lay.virtual_size, b3, 32),
			       (unsigned long long)lay.virtual_off, (unsigned long long)lay.virtual_chunks,
			       blz_format_size(lay.device_size, b4, 32));
		printf("time: %.2f s (%s/s)\n", secs,
		       blz_format_size(secs > 0 ? (uint64_t)((double)lay.data_bytes / secs) : 0, b1, 32));
	}
	return 0;

fail_msg:
	if (prog.tty)
		fputs("\r\033[K", stderr);
	blz_die("%s", blz_seed_error(s));
fail:
	blz_seed_free(s);
	blz_oci_close(img);
	blz_importer_close(im); /* drops the chunks not yet synced */
	if (store_is_new)
		remove_empty_store(store_path);
	unlink(map_tmp);
	close(fd);
	unlink(tmp_path);
	tmp_path[0] = 0;
	blz_pathset_release(&local);
	return 1;
}
